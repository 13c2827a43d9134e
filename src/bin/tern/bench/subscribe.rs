//! A bench subscriber: reads the payload header of each message, counts
//! unique, duplicate and foreign messages, and records latencies.

use super::publish::SocketMeter;
use super::HEADER;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tern_mqtt::client::Subscription;
use tokio::sync::watch;

/// The highest publisher index and sequence number tracked: larger ones
/// (not from a tern bench) count as foreign, so a hostile header cannot
/// make the seen-sets allocate without bound (8 MiB per publisher at most).
const MAX_PUBLISHER: u64 = 10_000;
const MAX_SEQUENCE: u64 = 1 << 26;

/// Live counters shared with the progress lines.
#[derive(Default)]
pub struct Counters {
    /// Publishes completed (see `publish`).
    pub sent: Arc<AtomicU64>,
    /// Messages received, duplicates included.
    pub received: AtomicU64,
    /// Messages received once.
    pub unique: AtomicU64,
    /// QoS 0 publishes written, per publisher, when sockets are counted.
    meters: Mutex<Vec<SocketMeter>>,
}

impl Counters {
    /// Counts a publisher's QoS 0 publishes at its socket.
    pub fn add_meter(&self, meter: SocketMeter) {
        self.meters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(meter);
    }

    /// Publishes sent so far: written to the sockets when they are
    /// counted (QoS 0), else completed.
    pub fn sent_now(&self) -> u64 {
        let meters = self.meters.lock().unwrap_or_else(|p| p.into_inner());
        if meters.is_empty() {
            self.sent.load(Ordering::Relaxed)
        } else {
            meters.iter().map(SocketMeter::written).sum()
        }
    }

    /// Whether QoS 0 publishes are counted at the sockets.
    pub fn at_socket(&self) -> bool {
        !self
            .meters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }
}

/// What one subscriber saw.
#[derive(Default)]
pub struct SubStats {
    /// Messages seen once.
    pub unique: u64,
    /// Messages seen again.
    pub duplicates: u64,
    /// Messages without a bench header.
    pub foreign: u64,
    /// Publish-to-receive times.
    pub latencies_ns: Vec<u64>,
    /// When the last message came.
    pub last_receive: Option<Instant>,
    /// Per publisher: how many sequence numbers a gapless stream up to the
    /// highest one seen would hold.
    pub span: HashMap<u64, u64>,
}

/// Which sequence numbers of one publisher a subscriber has seen.
#[derive(Default, Clone)]
pub struct SeenSet(Vec<u64>);

impl SeenSet {
    /// Marks `seq`; false if it was seen before.
    pub fn insert(&mut self, seq: u64) -> bool {
        let Ok(word) = usize::try_from(seq / 64) else {
            return true;
        };
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        let bit = 1u64 << (seq % 64);
        match self.0.get_mut(word) {
            Some(w) if *w & bit != 0 => false,
            Some(w) => {
                *w |= bit;
                true
            }
            None => true,
        }
    }
}

/// The header of a bench payload: sequence, send time, publisher.
fn header(payload: &[u8]) -> Option<(u64, u64, u64)> {
    let h = payload.get(..HEADER)?;
    let word = |i: usize| Some(u64::from_be_bytes(h.get(i..i + 8)?.try_into().ok()?));
    let (seq, ts, publisher) = (word(0)?, word(8)?, word(16)?);
    (seq < MAX_SEQUENCE && publisher < MAX_PUBLISHER).then_some((seq, ts, publisher))
}

/// Receives until `stop` turns true or the subscription ends.
pub async fn subscriber(
    mut sub: Subscription,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) -> SubStats {
    let mut seen: HashMap<u64, SeenSet> = HashMap::new();
    let mut stats = SubStats::default();
    loop {
        let msg = tokio::select! {
            biased;
            msg = sub.recv() => msg,
            _ = stop.changed() => None,
        };
        let Some(msg) = msg else { break };
        let now = super::publish::wall_nanos();
        counters.received.fetch_add(1, Ordering::Relaxed);
        stats.last_receive = Some(Instant::now());
        let Some((seq, ts, publisher)) = header(&msg.payload) else {
            stats.foreign += 1;
            continue;
        };
        let span = stats.span.entry(publisher).or_default();
        *span = (*span).max(seq + 1);
        if seen.entry(publisher).or_default().insert(seq) {
            stats.unique += 1;
            counters.unique.fetch_add(1, Ordering::Relaxed);
            stats.latencies_ns.push(now.saturating_sub(ts));
        } else {
            stats.duplicates += 1;
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_set_counts_duplicates() {
        let mut s = SeenSet::default();
        assert!(s.insert(0));
        assert!(s.insert(130));
        assert!(!s.insert(130));
        assert!(!s.insert(0));
        assert!(s.insert(63));
    }

    #[test]
    fn headers_beyond_the_bounds_are_foreign() {
        let mut p = Vec::new();
        for w in [5u64, 7, 2] {
            p.extend_from_slice(&w.to_be_bytes());
        }
        assert_eq!(header(&p), Some((5, 7, 2)));
        p[0] = 0xFF;
        assert_eq!(header(&p), None);
        assert_eq!(header(&p[..10]), None);
    }
}
