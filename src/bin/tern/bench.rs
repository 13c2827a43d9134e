//! `tern bench`: N publishers and M subscribers against a broker; reports
//! throughput, publish-to-receive latency, lost and duplicated messages.
//!
//! Each payload starts with the publisher's sequence number and the send
//! time (both u64 big-endian; the time in nanoseconds since the start of
//! the run, from one monotonic clock shared by every connection of this
//! process). Each publisher has its own topic `PREFIX/RUN/INDEX`; every
//! subscriber subscribes to `PREFIX/RUN/+` and tracks, per publisher, which
//! sequence numbers it has seen.

use crate::common::{connect, describe, failed, parse_qos, usage, CliError};
use crate::conn::ConnArgs;
use crate::pipeline::Pipeline;
use crate::props::Properties;
use bytes::{BufMut, BytesMut};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tern_mqtt::client::Subscription;
use tern_mqtt::codec::QoS;
use tern_mqtt::session::PublishCommand;
use tern_mqtt::topic::{TopicFilter, TopicName};
use tern_mqtt::{Client, Error};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Bytes at the start of each payload: sequence number and send time.
const HEADER: usize = 16;
/// Messages per publisher when neither --count nor --duration is given.
const DEFAULT_COUNT: u64 = 1000;

/// Arguments of `tern bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Publisher connections, each on its own topic (1 to 10,000).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub publishers: u32,
    /// Subscriber connections, each receiving every publisher (0 to 10,000).
    #[arg(long, value_name = "M", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub subscribers: u32,
    /// Quality of service of publishes and subscriptions: 0, 1 or 2.
    #[arg(short = 'q', long, value_parser = parse_qos, default_value = "0")]
    pub qos: QoS,
    /// Payload size in bytes (at least 16: sequence number and timestamp).
    #[arg(long, value_name = "BYTES", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(16..=100_000_000))]
    pub payload_size: u32,
    /// Messages per publisher [default: 1000 unless --duration is given].
    #[arg(long, value_name = "N", conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Publish for this many seconds instead of a fixed count.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub duration: Option<u64>,
    /// Messages per second per publisher (0 = as fast as possible).
    #[arg(long, value_name = "MSGS_PER_SEC", default_value_t = 0)]
    pub rate: u64,
    /// Topic prefix; the run uses `PREFIX/<run id>/<publisher>`.
    #[arg(
        short = 't',
        long = "topic",
        value_name = "PREFIX",
        default_value = "tern/bench"
    )]
    pub topic: String,
    /// Seconds to wait for missing messages after the last publish completed.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub drain_timeout: u64,
    /// Publishes in flight per publisher.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65_535))]
    pub window: u64,
}

/// Live counters shared with the progress line.
#[derive(Default)]
struct Counters {
    sent: Arc<AtomicU64>,
    received: AtomicU64,
    unique: AtomicU64,
}

/// What one subscriber saw.
#[derive(Default)]
struct SubStats {
    unique: u64,
    duplicates: u64,
    foreign: u64,
    latencies_ns: Vec<u64>,
    last_receive: Option<Instant>,
}

/// Which sequence numbers of one publisher a subscriber has seen.
#[derive(Default, Clone)]
struct SeenSet(Vec<u64>);

impl SeenSet {
    /// Marks `seq`; false if it was seen before.
    fn insert(&mut self, seq: u64) -> bool {
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

fn run_id() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{:08x}", h.finish() as u32)
}

fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Runs `tern bench`.
pub async fn run(args: BenchArgs) -> Result<(), CliError> {
    let prefix = format!("{}/{}", args.topic.trim_end_matches('/'), run_id());
    let filter = format!("{prefix}/+");
    TopicFilter::new(&filter).map_err(|e| usage(format!("topic prefix {:?}: {e}", args.topic)))?;
    let pubs = args.publishers as usize;
    let subs_n = args.subscribers as usize;
    let count = match (args.count, args.duration) {
        (Some(n), _) => Some(n),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_COUNT),
    };
    let epoch = Instant::now();
    let version = args.conn.version_or(tern_mqtt::codec::ProtocolVersion::V5);
    let props = Properties::parse(&args.conn.properties, version, &["connect", "will"])?;

    // Subscribers connect and subscribe before any publisher starts.
    let mut set = JoinSet::new();
    for i in 0..subs_n {
        let opts = args
            .conn
            .options(version, &props, false, &format!("-sub-{i}"))?
            .subscription_buffer_bytes(16 * 1024 * 1024);
        let (filter, qos) = (filter.clone(), args.qos);
        set.spawn(async move {
            let client = connect(opts).await?;
            let sub = client.subscribe(&filter, qos).await.map_err(|e| {
                failed(format!(
                    "subscriber {i}: subscribe to {filter} failed: {}",
                    describe(&e)
                ))
            })?;
            Ok::<_, CliError>((i, client, sub))
        });
    }
    let mut subscribers: Vec<(usize, Client, Subscription)> = join_all(&mut set).await?;
    subscribers.sort_by_key(|(i, _, _)| *i);

    let mut set = JoinSet::new();
    for i in 0..pubs {
        let opts = args
            .conn
            .options(version, &props, false, &format!("-pub-{i}"))?;
        let topic = TopicName::new(&format!("{prefix}/{i}"))
            .map_err(|e| usage(format!("topic prefix: {e}")))?;
        set.spawn(async move { Ok::<_, CliError>((i, connect(opts).await?, topic)) });
    }
    let mut publishers: Vec<(usize, Client, TopicName)> = join_all(&mut set).await?;
    publishers.sort_by_key(|(i, _, _)| *i);

    let counters = Arc::new(Counters::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sub_tasks = Vec::with_capacity(subs_n);
    let mut clients: Vec<Client> = Vec::with_capacity(subs_n + pubs);
    for (_, client, sub) in subscribers {
        clients.push(client);
        sub_tasks.push(tokio::spawn(subscriber(
            sub,
            pubs,
            epoch,
            counters.clone(),
            stop_rx.clone(),
        )));
    }

    let progress = Progress::start(
        counters.clone(),
        count.map(|n| n.saturating_mul(pubs as u64)),
    );
    let start = Instant::now();
    let plan = Plan {
        count,
        end: args.duration.map(|s| start + Duration::from_secs(s)),
        rate: args.rate,
        qos: args.qos,
        size: args.payload_size as usize,
        window: usize::try_from(args.window).unwrap_or(256),
    };
    let mut pub_tasks = Vec::with_capacity(pubs);
    for (i, client, topic) in publishers {
        clients.push(client.clone());
        let sent = counters.sent.clone();
        pub_tasks.push((
            i,
            tokio::spawn(publisher(client, topic, plan.clone(), epoch, start, sent)),
        ));
    }
    let mut total_sent: u64 = 0;
    let mut failure = None;
    for (i, task) in pub_tasks {
        match task.await {
            Ok(Ok(n)) => total_sent += n,
            Ok(Err(e)) => {
                failure.get_or_insert_with(|| {
                    failed(format!("publisher {i}: publish failed: {}", describe(&e)))
                });
            }
            Err(_) => {
                failure.get_or_insert_with(|| failed(format!("publisher {i}: task failed")));
            }
        }
    }
    let publish_elapsed = start.elapsed();
    if let Some(e) = failure {
        progress.finish();
        return Err(e);
    }

    // Wait until every subscriber has every message, or nothing arrives
    // for the drain timeout.
    let expected = total_sent.saturating_mul(subs_n as u64);
    let drain = Duration::from_secs(args.drain_timeout);
    let mut last_unique = counters.unique.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    while last_unique < expected {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let u = counters.unique.load(Ordering::Relaxed);
        if u != last_unique {
            last_unique = u;
            last_change = Instant::now();
        } else if last_change.elapsed() >= drain {
            break;
        }
    }
    let _ = stop_tx.send(true);
    let mut stats = Vec::with_capacity(subs_n);
    for task in sub_tasks {
        stats.push(task.await.unwrap_or_default());
    }
    progress.finish();
    let mut closing = JoinSet::new();
    for client in clients {
        closing.spawn(async move { client.disconnect().await });
    }
    while closing.join_next().await.is_some() {}

    report(
        &args,
        &prefix,
        total_sent,
        publish_elapsed,
        expected,
        start,
        stats,
    );
    Ok(())
}

/// Joins a set of fallible tasks; the first error wins.
async fn join_all<T: Send + 'static>(
    set: &mut JoinSet<Result<T, CliError>>,
) -> Result<Vec<T>, CliError> {
    let mut out = Vec::with_capacity(set.len());
    while let Some(res) = set.join_next().await {
        match res {
            Ok(Ok(v)) => out.push(v),
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(failed(format!("a connection task failed: {e}"))),
        }
    }
    Ok(out)
}

/// What each publisher does.
#[derive(Clone)]
struct Plan {
    count: Option<u64>,
    end: Option<Instant>,
    rate: u64,
    qos: QoS,
    size: usize,
    window: usize,
}

async fn publisher(
    client: Client,
    topic: TopicName,
    plan: Plan,
    epoch: Instant,
    start: Instant,
    sent: Arc<AtomicU64>,
) -> Result<u64, Error> {
    let filler: Vec<u8> = (0..plan.size.saturating_sub(HEADER))
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let mut pipeline = Pipeline::new(client, plan.window, sent);
    let mut seq: u64 = 0;
    loop {
        if plan.count.is_some_and(|n| seq >= n) || plan.end.is_some_and(|end| Instant::now() >= end)
        {
            break;
        }
        if plan.rate > 0 {
            let offset = u128::from(seq) * 1_000_000_000 / u128::from(plan.rate);
            let target = start + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX));
            if plan.end.is_some_and(|end| target >= end) {
                break;
            }
            tokio::time::sleep_until(target.into()).await;
        }
        pipeline.ready().await?;
        let mut payload = BytesMut::with_capacity(plan.size.max(HEADER));
        payload.put_u64(seq);
        payload.put_u64(nanos_since(epoch));
        payload.put_slice(&filler);
        pipeline
            .send(PublishCommand::new(
                topic.clone(),
                payload.freeze(),
                plan.qos,
            ))
            .await?;
        seq += 1;
    }
    pipeline.finish().await?;
    Ok(seq)
}

async fn subscriber(
    mut sub: Subscription,
    publishers: usize,
    epoch: Instant,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) -> SubStats {
    let mut seen = vec![SeenSet::default(); publishers];
    let mut stats = SubStats::default();
    loop {
        let msg = tokio::select! {
            biased;
            msg = sub.recv() => msg,
            _ = stop.changed() => None,
        };
        let Some(msg) = msg else { break };
        let now = nanos_since(epoch);
        counters.received.fetch_add(1, Ordering::Relaxed);
        let index = msg
            .topic
            .as_str()
            .rsplit('/')
            .next()
            .and_then(|s| s.parse::<usize>().ok());
        let header = msg.payload.get(..HEADER).and_then(|h| {
            let seq = u64::from_be_bytes(h.get(..8)?.try_into().ok()?);
            let ts = u64::from_be_bytes(h.get(8..)?.try_into().ok()?);
            Some((seq, ts))
        });
        let (Some(set), Some((seq, ts))) = (index.and_then(|i| seen.get_mut(i)), header) else {
            stats.foreign += 1;
            continue;
        };
        if set.insert(seq) {
            stats.unique += 1;
            counters.unique.fetch_add(1, Ordering::Relaxed);
            stats.latencies_ns.push(now.saturating_sub(ts));
        } else {
            stats.duplicates += 1;
        }
        stats.last_receive = Some(Instant::now());
    }
    stats
}

/// The live progress line on stderr (hidden when stderr is not a terminal).
struct Progress {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn start(counters: Arc<Counters>, total: Option<u64>) -> Progress {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        let line = bar.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            let (mut last_sent, mut last_recv, mut last_at) = (0u64, 0u64, Instant::now());
            loop {
                tick.tick().await;
                let sent = counters.sent.load(Ordering::Relaxed);
                let recv = counters.received.load(Ordering::Relaxed);
                let secs = last_at.elapsed().as_secs_f64().max(1e-9);
                let of = total.map(|t| format!("/{t}")).unwrap_or_default();
                line.set_message(format!(
                    "sent {sent}{of} ({:.0} msg/s)  received {recv} ({:.0} msg/s)",
                    (sent - last_sent.min(sent)) as f64 / secs,
                    (recv - last_recv.min(recv)) as f64 / secs,
                ));
                (last_sent, last_recv, last_at) = (sent, recv, Instant::now());
            }
        });
        Progress { bar, task }
    }

    fn finish(self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .copied()
        .unwrap_or(0)
}

fn rate(n: u64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}

fn report(
    args: &BenchArgs,
    prefix: &str,
    sent: u64,
    publish_elapsed: Duration,
    expected: u64,
    start: Instant,
    stats: Vec<SubStats>,
) {
    let unique: u64 = stats.iter().map(|s| s.unique).sum();
    let duplicates: u64 = stats.iter().map(|s| s.duplicates).sum();
    let foreign: u64 = stats.iter().map(|s| s.foreign).sum();
    let received = unique + duplicates;
    let receive_elapsed = stats
        .iter()
        .filter_map(|s| s.last_receive)
        .max()
        .map(|t| t.duration_since(start))
        .unwrap_or_default();
    let mut latencies: Vec<u64> = stats.into_iter().flat_map(|s| s.latencies_ns).collect();
    latencies.sort_unstable();
    let ms = |ns: u64| ns as f64 / 1e6;

    println!(
        "tern bench: {} publishers, {} subscribers, QoS {}, {}-byte payloads, topics {prefix}/+",
        args.publishers, args.subscribers, args.qos as u8, args.payload_size
    );
    println!(
        "sent:      {sent} messages in {:.3} s, {:.0} msg/s",
        publish_elapsed.as_secs_f64(),
        rate(sent, publish_elapsed)
    );
    println!(
        "received:  {received} messages in {:.3} s, {:.0} msg/s",
        receive_elapsed.as_secs_f64(),
        rate(received, receive_elapsed)
    );
    if latencies.is_empty() {
        println!("latency:   n/a (nothing received)");
    } else {
        println!(
            "latency:   p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 90.0)),
            ms(percentile(&latencies, 99.0)),
            ms(latencies.last().copied().unwrap_or(0)),
        );
    }
    println!(
        "delivery:  expected {expected}, lost {}, duplicated {duplicates}",
        expected.saturating_sub(unique)
    );
    if foreign > 0 {
        println!("ignored:   {foreign} messages that were not from this run");
    }
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
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 90.0), 90);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
