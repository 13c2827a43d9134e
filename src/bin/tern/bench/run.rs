//! The order of a bench run: subscribers, idle connections, publishers
//! (each connection started at its ramp-up slot), then the drain, the
//! disconnects and the summary.

use super::connect::{all_or_first_error, Conn, ConnectStats, Dialer};
use super::progress::Progress;
use super::publish::{publisher, Plan};
use super::report::{Received, Summary};
use super::subscribe::{subscriber, Counters, SubStats};
use super::topic::Template;
use super::{BenchArgs, Mode};
use crate::common::{describe, failed, CliError};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tern_mqtt::codec::ProtocolVersion;
use tern_mqtt::Client;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Messages per publisher when neither --count nor --duration is given.
const DEFAULT_COUNT: u64 = 1000;

/// A random id for this run's topics and client ids.
fn run_id() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{:08x}", h.finish() & 0xFFFF_FFFF)
}

/// What a run holds while it goes.
struct Bench<'a> {
    args: &'a BenchArgs,
    dialer: Dialer,
    topics: Template,
    counters: Arc<Counters>,
    clients: Vec<Client>,
    connect: ConnectStats,
    version: ProtocolVersion,
}

/// Runs `tern bench`.
pub async fn run(args: BenchArgs) -> Result<(), CliError> {
    let run = run_id();
    let version = args.conn.version_or(ProtocolVersion::V5);
    let mut bench = Bench {
        args: &args,
        dialer: Dialer::new(&args, version, &run)?,
        topics: Template::new(&args.topic, &run),
        counters: Arc::new(Counters::default()),
        clients: Vec::new(),
        connect: ConnectStats::default(),
        version,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let result = bench.go(stop_rx, &stop_tx).await;
    let _ = stop_tx.send(true);
    let mut closing = JoinSet::new();
    for client in bench.clients.drain(..) {
        closing.spawn(async move { client.disconnect().await });
    }
    while closing.join_next().await.is_some() {}
    let summary = result?;
    if args.json {
        println!("{}", summary.to_json());
    } else {
        summary.print_text();
    }
    Ok(())
}

impl Bench<'_> {
    /// Everything up to the summary; connections are closed by the caller.
    async fn go(
        &mut self,
        stop_rx: watch::Receiver<bool>,
        stop_tx: &watch::Sender<bool>,
    ) -> Result<Summary, CliError> {
        let args = self.args;
        // Subscribers first, so that they see every publish.
        let subs = match args.runs(Mode::Sub) {
            true => self.start_subscribers(stop_rx).await?,
            false => Vec::new(),
        };
        if args.runs(Mode::Conn) {
            self.open_idle().await;
        }
        let progress = Progress::start(
            self.counters.clone(),
            self.dialer.connected.clone(),
            args.json,
        );
        let start = Instant::now();
        let sent = match self.publish_or_hold(start).await {
            Ok(sent) => sent,
            Err(e) => {
                progress.finish();
                return Err(e);
            }
        };
        let expected = sent
            .filter(|_| !subs.is_empty())
            .map(|(n, _)| n.saturating_mul(subs.len() as u64));
        if let Some(expected) = expected {
            self.drain(expected).await;
        }
        let _ = stop_tx.send(true);
        let mut stats: Vec<SubStats> = Vec::with_capacity(subs.len());
        for task in subs {
            stats.push(task.await.unwrap_or_default());
        }
        progress.finish();
        let received = args.runs(Mode::Sub).then(|| Received::total(stats, start));
        Ok(Summary {
            title: self.title(),
            connect: self.connect,
            sent,
            counted: self.counted(),
            received,
            expected,
        })
    }

    /// The publishers' run, or (without them) --duration or Ctrl-C.
    async fn publish_or_hold(
        &mut self,
        start: Instant,
    ) -> Result<Option<(u64, Duration)>, CliError> {
        if self.args.runs(Mode::Pub) {
            return self.publish_all(start).await.map(Some);
        }
        hold(self.args.duration).await;
        Ok(None)
    }

    /// How a publish counted as sent (see `Summary::counted`).
    fn counted(&self) -> &'static str {
        match (self.args.qos, self.counters.at_socket()) {
            (tern_mqtt::codec::QoS::AtMostOnce, true) => "socket",
            (tern_mqtt::codec::QoS::AtMostOnce, false) => "encoded",
            _ => "acknowledged",
        }
    }

    fn title(&self) -> String {
        let a = self.args;
        let modes: Vec<&str> = [(Mode::Conn, "conn"), (Mode::Pub, "pub"), (Mode::Sub, "sub")]
            .into_iter()
            .filter(|(m, _)| a.runs(*m))
            .map(|(_, name)| name)
            .collect();
        format!(
            "tern bench {}: {} publishers, {} subscribers, {} connections, QoS {}, {}-byte payloads, topic {}",
            modes.join("+"),
            if a.runs(Mode::Pub) { a.publishers } else { 0 },
            if a.runs(Mode::Sub) { a.subscribers } else { 0 },
            if a.runs(Mode::Conn) { a.connections } else { 0 },
            a.qos as u8,
            a.payload_size,
            self.topics.topic(0, "%c").map(|t| t.to_string()).unwrap_or_default()
        )
    }

    fn count(&mut self, stats: ConnectStats) {
        self.connect.attempted += stats.attempted;
        self.connect.connected += stats.connected;
        // From the first start (slot 0) to the last CONNACK so far.
        self.connect.elapsed = self.dialer.since_first_slot();
    }

    /// Connects and subscribes the subscribers; each gets a receive task.
    async fn start_subscribers(
        &mut self,
        stop: watch::Receiver<bool>,
    ) -> Result<Vec<JoinHandle<SubStats>>, CliError> {
        let n = self.args.subscribers as usize;
        let (conns, stats) = self
            .dialer
            .open("sub", n, Some(16 * 1024 * 1024), false)
            .await;
        self.count(stats);
        let conns = all_or_first_error(conns)?;
        let filters = match &self.args.sub_topic {
            Some(t) => (Template::new(t, self.topics_run()), false),
            None => (self.topics.clone(), true),
        };
        let mut tasks = Vec::with_capacity(n);
        for Conn {
            index, id, client, ..
        } in conns
        {
            self.clients.push(client.clone());
            let filter = filters.0.filter(index, &id, filters.1)?;
            let sub = client
                .subscribe(filter.as_str(), self.args.qos)
                .await
                .map_err(|e| {
                    failed(format!(
                        "subscriber {index}: subscribe to {filter} failed: {}",
                        describe(&e)
                    ))
                })?;
            tasks.push(tokio::spawn(subscriber(
                sub,
                self.counters.clone(),
                stop.clone(),
            )));
        }
        Ok(tasks)
    }

    fn topics_run(&self) -> &str {
        self.topics.run()
    }

    /// The conn mode: connections that stay; failures are counted, and
    /// the first is told on stderr.
    async fn open_idle(&mut self) {
        let (conns, stats) = self
            .dialer
            .open("conn", self.args.connections as usize, None, false)
            .await;
        self.count(stats);
        let mut told = false;
        for conn in conns {
            match conn {
                Ok(c) => self.clients.push(c.client),
                Err(e) if !told => {
                    crate::common::note(format_args!("warning: {e}"));
                    told = true;
                }
                Err(_) => {}
            }
        }
    }

    /// Connects the publishers and runs them; (completed, elapsed).
    async fn publish_all(&mut self, start: Instant) -> Result<(u64, Duration), CliError> {
        let a = self.args;
        let (conns, stats) = self
            .dialer
            .open("pub", a.publishers as usize, None, true)
            .await;
        self.count(stats);
        let conns = all_or_first_error(conns)?;
        let count = match (a.count, a.duration) {
            (Some(n), _) => Some(n),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_COUNT),
        };
        let start = start.max(Instant::now());
        let plan = Plan {
            count,
            end: a.duration.map(|s| start + Duration::from_secs(s)),
            rate: a.rate,
            qos: a.qos,
            retain: a.retain,
            size: a.payload_size as usize,
            window: usize::try_from(a.window).unwrap_or(256),
            start,
            version: self.version,
        };
        let mut tasks = Vec::with_capacity(conns.len());
        for conn in conns {
            self.clients.push(conn.client.clone());
            let topic = self.topics.topic(conn.index, &conn.id)?;
            let (plan, counters) = (plan.clone(), self.counters.clone());
            let task = publisher(conn.client, topic, conn.index, plan, counters, conn.written);
            tasks.push((conn.index, tokio::spawn(task)));
        }
        let mut total: u64 = 0;
        for (i, task) in tasks {
            match task.await {
                Ok(Ok(n)) => total += n,
                Ok(Err(e)) => {
                    return Err(failed(format!(
                        "publisher {i}: publish failed: {}",
                        describe(&e)
                    )))
                }
                Err(_) => return Err(failed(format!("publisher {i}: task failed"))),
            }
        }
        Ok((total, start.elapsed()))
    }

    /// Waits until the subscribers have every message, or nothing new
    /// arrived for the drain timeout.
    async fn drain(&self, expected: u64) {
        let drain = Duration::from_secs(self.args.drain_timeout);
        let unique = &self.counters.unique;
        let mut last = unique.load(Ordering::Relaxed);
        let mut last_change = Instant::now();
        while last < expected && last_change.elapsed() < drain {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now = unique.load(Ordering::Relaxed);
            if now != last {
                (last, last_change) = (now, Instant::now());
            }
        }
    }
}

/// The sub and conn modes without publishers: --duration, or until Ctrl-C.
async fn hold(duration: Option<u64>) {
    match duration {
        Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
