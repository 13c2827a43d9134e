//! What the durable store costs a publisher: throughput and client CPU per
//! message with the session in memory, on disk with group commit (a few
//! settings) and on disk with one sync per message, through a private
//! mosquitto.
//!
//! ```text
//! cargo run --release --example store_bench -- [--rounds R] [--q1 N] [--q2 N] [--window W] [--dir PATH]
//! ```
//!
//! Each run connects one fresh publisher (v5; with a disk store, a fresh
//! store directory under `--dir`, default the system temp dir, so pick
//! the file system you care about) and publishes N messages of 64 bytes
//! (QoS 1: 50,000, QoS 2: 20,000 by default; a twentieth of that with a
//! sync per message, whose rate is far lower) with at most `--window`
//! (default 1000) publishes outstanding, through `try_publish` futures.
//! Throughput = completed publishes (PUBACK / PUBCOMP) per second from
//! the first publish to the last completion; CPU = user + system time of
//! this whole process (runtime, driver and the store's thread; the broker
//! is another process) over the same interval, from `/proc/self/task/*/schedstat`.
//!
//! The runs are interleaved: each round runs every configuration once per
//! QoS, in an order rotated every round, and each disk configuration's
//! throughput and CPU are divided by the in-memory run of the same round.
//! The table shows the medians over the rounds (of the per-round ratios,
//! not the ratio of medians), so a slow stretch of a shared machine moves
//! numerator and denominator together.

#[path = "../tests/support/cpu.rs"]
mod cpu;
#[path = "../tests/support/mosquitto.rs"]
mod mosquitto;

use bytes::Bytes;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tern_mqtt::codec::QoS;
use tern_mqtt::prelude::{PublishCommand, WritePolicy};
use tern_mqtt::topic::TopicName;
use tern_mqtt::{Client, ConnectOptions};

const PAYLOAD: usize = 64;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the publisher keeps its session.
#[derive(Clone, Copy, Debug)]
enum Storage {
    Memory,
    Disk(WritePolicy),
}

impl Storage {
    fn name(self) -> String {
        match self {
            Storage::Memory => "in memory".into(),
            Storage::Disk(WritePolicy::EveryMessage) => "disk, every message".into(),
            Storage::Disk(WritePolicy::GroupCommit {
                max_delay,
                max_messages,
            }) => format!("disk, group {} ms / {max_messages}", max_delay.as_millis()),
        }
    }
}

/// A sync per message runs this many times fewer messages (its rate is
/// two orders of magnitude lower; the table compares per-message rates).
const EVERY_MESSAGE_SHARE: u64 = 20;

impl Storage {
    /// How many of the round's `n` messages this configuration publishes.
    fn messages(self, n: u64) -> u64 {
        match self {
            Storage::Disk(WritePolicy::EveryMessage) => (n / EVERY_MESSAGE_SHARE).max(100),
            _ => n,
        }
    }
}

/// The configurations, in-memory first (the baseline of each round).
fn storages() -> Vec<Storage> {
    let group = |ms: u64, n: usize| {
        Storage::Disk(WritePolicy::GroupCommit {
            max_delay: Duration::from_millis(ms),
            max_messages: n,
        })
    };
    vec![
        Storage::Memory,
        group(1, 32),
        // The default policy.
        group(5, 64),
        group(10, 512),
        Storage::Disk(WritePolicy::EveryMessage),
    ]
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    completed: u64,
    secs: f64,
    cpu: f64,
}

impl Sample {
    fn rate(&self) -> f64 {
        self.completed as f64 / self.secs
    }

    fn cpu_us_per_msg(&self) -> f64 {
        self.cpu / self.completed.max(1) as f64 * 1e6
    }
}

struct Config {
    url: String,
    window: usize,
    dir: PathBuf,
}

/// One publisher run: `n` messages at `qos` with `storage`.
async fn run(
    cfg: &Config,
    storage: Storage,
    qos: QoS,
    n: u64,
    tag: &str,
) -> Result<Sample, BoxError> {
    let mut options = ConnectOptions::new(&cfg.url)?
        .client_id(tag)
        .publish_queue(cfg.window + 64)
        .receive_maximum(u16::try_from(cfg.window).unwrap_or(u16::MAX));
    let store_dir = tempfile::Builder::new()
        .prefix("store-bench-")
        .tempdir_in(&cfg.dir)?;
    if let Storage::Disk(policy) = storage {
        options = options.persist_to(store_dir.path()).write_policy(policy);
    }
    let client = Client::connect(options).await?;
    let topic = TopicName::new(&format!("bench/{tag}"))?;
    let payload = Bytes::from(vec![0x5a; PAYLOAD]);
    let cpu0 = cpu::cpu_seconds();
    let t0 = Instant::now();
    let mut outstanding = VecDeque::with_capacity(cfg.window);
    for _ in 0..n {
        if outstanding.len() >= cfg.window {
            if let Some(f) = outstanding.pop_front() {
                f.await?;
            }
        }
        let cmd = PublishCommand::new(topic.clone(), payload.clone(), qos);
        outstanding.push_back(client.try_publish(cmd)?);
    }
    while let Some(f) = outstanding.pop_front() {
        f.await?;
    }
    let sample = Sample {
        completed: n,
        secs: t0.elapsed().as_secs_f64(),
        cpu: cpu::cpu_seconds() - cpu0,
    };
    client.disconnect().await?;
    Ok(sample)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

struct Args {
    rounds: usize,
    q1: u64,
    q2: u64,
    window: usize,
    dir: PathBuf,
}

fn parse_args() -> Result<Args, BoxError> {
    let mut a = Args {
        rounds: 5,
        q1: 50_000,
        q2: 20_000,
        window: 1000,
        dir: std::env::temp_dir(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--rounds" => a.rounds = value.parse()?,
            "--q1" => a.q1 = value.parse()?,
            "--q2" => a.q2 = value.parse()?,
            "--window" => a.window = value.parse()?,
            "--dir" => a.dir = PathBuf::from(value),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(a)
}

/// Samples per (QoS index, storage index), one per round.
type Samples = Vec<Vec<Vec<Sample>>>;

fn measure(cfg: &Config, args: &Args, storages: &[Storage]) -> Result<Samples, BoxError> {
    let qos_runs = [(QoS::AtLeastOnce, args.q1), (QoS::ExactlyOnce, args.q2)];
    let mut samples: Samples = vec![vec![Vec::new(); storages.len()]; qos_runs.len()];
    for round in 0..args.rounds {
        for (qi, &(qos, n)) in qos_runs.iter().enumerate() {
            for k in 0..storages.len() {
                let si = (k + round) % storages.len();
                let n = storages[si].messages(n);
                let tag = format!("bench-r{round}-q{}-s{si}", qi + 1);
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()?;
                let s = rt.block_on(run(cfg, storages[si], qos, n, &tag))?;
                rt.shutdown_timeout(Duration::from_secs(1));
                eprintln!(
                    "  round {} QoS {} {:<24} {n} msgs in {:.3} s = {:>8.0} msg/s, {:.1} µs CPU/msg",
                    round + 1,
                    qi + 1,
                    storages[si].name(),
                    s.secs,
                    s.rate(),
                    s.cpu_us_per_msg()
                );
                samples[qi][si].push(s);
            }
        }
    }
    Ok(samples)
}

fn print_table(samples: &Samples, storages: &[Storage]) {
    println!("| QoS | store | msg/s | throughput vs memory | CPU µs/msg | CPU vs memory |");
    println!("|-----|-------|------:|---------------------:|-----------:|--------------:|");
    for (qi, per_storage) in samples.iter().enumerate() {
        let base = &per_storage[0];
        for (si, runs) in per_storage.iter().enumerate() {
            let ratio = |f: fn(&Sample) -> f64| {
                median(runs.iter().zip(base).map(|(s, b)| f(s) / f(b)).collect())
            };
            println!(
                "| {} | {} | {:.0} | {:.2} | {:.1} | {:.2} |",
                qi + 1,
                storages[si].name(),
                median(runs.iter().map(Sample::rate).collect()),
                ratio(Sample::rate),
                median(runs.iter().map(Sample::cpu_us_per_msg).collect()),
                ratio(Sample::cpu_us_per_msg)
            );
        }
    }
}

fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let broker = mosquitto::Broker::start(
        mosquitto::BrokerOptions::plain()
            .global("max_inflight_messages 1000")
            // `log_type none` resets the harness's `log_type all`.
            .global("log_type none")
            .global("log_type error")
            .global("log_type warning")
            // The harness waits for the "running" notice.
            .global("log_type notice")
            .global("log_type information"),
    );
    let cfg = Config {
        url: format!(
            "mqtt://127.0.0.1:{}",
            broker.addr(mosquitto::Listener::Plain).port()
        ),
        window: args.window,
        dir: args.dir.clone(),
    };
    let storages = storages();
    println!(
        "store_bench: {} round(s), QoS 1 {} msgs, QoS 2 {} msgs, {PAYLOAD} B, window {}, stores under {} ({}), CPU from schedstat (ns)",
        args.rounds,
        args.q1,
        args.q2,
        args.window,
        args.dir.display(),
        filesystem(&args.dir),
    );
    let samples = measure(&cfg, &args, &storages)?;
    println!();
    print_table(&samples, &storages);
    drop(broker);
    Ok(())
}

/// The file system type of `dir` (from /proc/mounts: the longest mount
/// point that is a prefix of it), for the report.
fn filesystem(dir: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, point, kind) = (f.next()?, f.next()?, f.next()?);
            dir.starts_with(point)
                .then(|| (point.len(), kind.to_string()))
        })
        .max()
        .map(|(_, kind)| kind)
        .unwrap_or_else(|| "unknown".into())
}
