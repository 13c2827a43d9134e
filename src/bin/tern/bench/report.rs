//! The final summary of a bench run, as text or as one JSON object.

use super::connect::ConnectStats;
use super::subscribe::SubStats;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// What a run measured.
pub struct Summary {
    /// The run's header line (modes, sizes, topics).
    pub title: String,
    /// Connecting, over every connection of the run.
    pub connect: ConnectStats,
    /// Publishes completed, and how long publishing took (`None`: no pub).
    pub sent: Option<(u64, Duration)>,
    /// When a publish counts as sent: "socket" (QoS 0 bytes written),
    /// "encoded" (QoS 0 over ws:// or unix://, whose sockets are not
    /// counted) or "acknowledged" (QoS 1 and 2).
    pub counted: &'static str,
    /// What the subscribers saw (`None`: no sub).
    pub received: Option<Received>,
    /// Messages the subscribers should have had (pub and sub together).
    pub expected: Option<u64>,
}

/// The subscribers' totals.
pub struct Received {
    unique: u64,
    duplicates: u64,
    foreign: u64,
    /// Gaps below the highest sequence number seen, per publisher.
    gaps: u64,
    elapsed: Duration,
    latencies_ns: Vec<u64>,
}

impl Received {
    /// Totals of every subscriber; times from `start`.
    pub fn total(stats: Vec<SubStats>, start: Instant) -> Received {
        let elapsed = stats
            .iter()
            .filter_map(|s| s.last_receive)
            .max()
            .map(|t| t.saturating_duration_since(start))
            .unwrap_or_default();
        let mut r = Received {
            unique: 0,
            duplicates: 0,
            foreign: 0,
            gaps: 0,
            elapsed,
            latencies_ns: Vec::new(),
        };
        for s in stats {
            let span: u64 = s.span.values().sum();
            r.gaps += span.saturating_sub(s.unique);
            r.unique += s.unique;
            r.duplicates += s.duplicates;
            r.foreign += s.foreign;
            r.latencies_ns.extend(s.latencies_ns);
        }
        r.latencies_ns.sort_unstable();
        r
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len() as f64;
    let rank = ((p / 100.0) * n).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied().unwrap_or(0)
}

fn rate(n: u64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

impl Summary {
    /// Lost messages: expected minus received once, or (without the
    /// publishers in this run) the gaps in each publisher's sequence.
    fn lost(&self) -> Option<u64> {
        let r = self.received.as_ref()?;
        Some(match self.expected {
            Some(e) => e.saturating_sub(r.unique),
            None => r.gaps,
        })
    }

    /// The summary as text lines on stdout.
    pub fn print_text(&self) {
        println!("{}", self.title);
        let c = &self.connect;
        println!(
            "connect:   {} of {} connections in {:.3} s, {:.0} conn/s",
            c.connected,
            c.attempted,
            c.elapsed.as_secs_f64(),
            rate(c.connected, c.elapsed)
        );
        if let Some((sent, d)) = self.sent {
            println!(
                "sent:      {sent} messages in {:.3} s, {:.0} msg/s ({})",
                d.as_secs_f64(),
                rate(sent, d),
                self.counted
            );
        }
        let Some(r) = &self.received else { return };
        let received = r.unique + r.duplicates;
        let d = r.elapsed;
        println!(
            "received:  {received} messages in {:.3} s, {:.0} msg/s",
            d.as_secs_f64(),
            rate(received, d)
        );
        match r.latencies_ns.last() {
            None => println!("latency:   n/a (nothing received)"),
            Some(max) => println!(
                "latency:   p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                ms(percentile(&r.latencies_ns, 50.0)),
                ms(percentile(&r.latencies_ns, 90.0)),
                ms(percentile(&r.latencies_ns, 99.0)),
                ms(*max),
            ),
        }
        let expected = self
            .expected
            .map(|e| format!("expected {e}, "))
            .unwrap_or_default();
        let lost = self.lost().unwrap_or(0);
        println!(
            "delivery:  {expected}lost {lost}, duplicated {}",
            r.duplicates
        );
        if r.foreign > 0 {
            println!(
                "ignored:   {} messages that were not from a tern bench",
                r.foreign
            );
        }
    }

    /// The summary as one JSON object.
    pub fn to_json(&self) -> Value {
        let c = &self.connect;
        let sent = self.sent.map(|(n, d)| {
            json!({"messages": n, "seconds": d.as_secs_f64(), "per_second": rate(n, d).round(),
                   "counted": self.counted})
        });
        let received = self.received.as_ref().map(|r| {
            let n = r.unique + r.duplicates;
            let l = &r.latencies_ns;
            let latency = (!l.is_empty()).then(|| json!({
                "p50": ms(percentile(l, 50.0)), "p90": ms(percentile(l, 90.0)),
                "p99": ms(percentile(l, 99.0)), "max": ms(l.last().copied().unwrap_or(0)),
            }));
            json!({"messages": n, "seconds": r.elapsed.as_secs_f64(), "per_second": rate(n, r.elapsed).round(),
                   "latency_ms": latency, "duplicated": r.duplicates, "foreign": r.foreign,
                   "lost": self.lost(), "expected": self.expected})
        });
        json!({
            "summary": self.title,
            "connect": {"attempted": c.attempted, "connected": c.connected,
                        "seconds": c.elapsed.as_secs_f64(), "per_second": rate(c.connected, c.elapsed).round()},
            "sent": sent,
            "received": received,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 90.0), 90);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
