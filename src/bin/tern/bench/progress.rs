//! Progress while the bench runs: a live bar on stderr when stdout is a
//! terminal, else one line per second on stdout (a JSON object with
//! --json), for logs and pipes.

use super::subscribe::Counters;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The counters one progress step reads.
struct Sources {
    counters: Arc<Counters>,
    connected: Arc<AtomicU64>,
}

/// Totals at one moment.
#[derive(Clone, Copy, Default)]
struct Totals {
    sent: u64,
    received: u64,
    connected: u64,
}

impl Sources {
    fn read(&self) -> Totals {
        Totals {
            sent: self.counters.sent_now(),
            received: self.counters.received.load(Ordering::Relaxed),
            connected: self.connected.load(Ordering::Relaxed),
        }
    }
}

/// The running progress display.
pub struct Progress {
    bar: Option<ProgressBar>,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts the bar or the per-second lines.
    pub fn start(counters: Arc<Counters>, connected: Arc<AtomicU64>, json: bool) -> Progress {
        let sources = Sources {
            counters,
            connected,
        };
        if std::io::stdout().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            let task = tokio::spawn(ticks(
                sources,
                Duration::from_millis(250),
                Line::Bar(bar.clone()),
            ));
            Progress {
                bar: Some(bar),
                task,
            }
        } else {
            let line = if json { Line::Json } else { Line::Text };
            let task = tokio::spawn(ticks(sources, Duration::from_secs(1), line));
            Progress { bar: None, task }
        }
    }

    /// Stops and clears the display.
    pub fn finish(self) {
        self.task.abort();
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Where a progress step goes.
enum Line {
    Bar(ProgressBar),
    Text,
    Json,
}

async fn ticks(sources: Sources, period: Duration, line: Line) {
    let start = Instant::now();
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    let (mut last, mut last_at) = (Totals::default(), Instant::now());
    loop {
        tick.tick().await;
        let now = sources.read();
        let secs = last_at.elapsed().as_secs_f64().max(1e-9);
        let per_s = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
        let (sent_s, recv_s) = (
            per_s(now.sent, last.sent),
            per_s(now.received, last.received),
        );
        let t = start.elapsed().as_secs();
        match &line {
            Line::Bar(bar) => bar.set_message(format!(
                "conns {}  sent {} ({sent_s:.0} msg/s)  received {} ({recv_s:.0} msg/s)",
                now.connected, now.sent, now.received
            )),
            Line::Text => println!(
                "t={t}s conns={} sent={} sent/s={sent_s:.0} received={} received/s={recv_s:.0}",
                now.connected, now.sent, now.received
            ),
            Line::Json => println!(
                "{}",
                json!({"t": t, "connections": now.connected, "sent": now.sent, "sent_per_s": sent_s.round(),
                       "received": now.received, "received_per_s": recv_s.round()})
            ),
        }
        (last, last_at) = (now, Instant::now());
    }
}
