//! End-to-end throughput and client CPU: tern beside rumqttc, against the
//! same broker, in the same run.
//!
//! ```text
//! scripts/e2e-bench.sh [--broker mosquitto|mini] [--runs R] [--scale F] [--window W] [--batch B] [--v5] [--only tern|tern-batch|rumqttc] [--qos 0,1,2]
//! ```
//!
//! The broker is a private mosquitto (the default: the real-broker figure,
//! where mosquitto is the bottleneck) or, with `--broker mini`,
//! `examples/mini_broker.rs` (single-threaded, big buffered writes, never
//! the bottleneck: the client-bound figure). Either runs as a separate
//! process, so the CPU counted here is the clients' alone.
//!
//! For each QoS (0, 1, 2: 200,000 / 50,000 / 20,000 messages of 64 bytes
//! against mosquitto, 1,000,000 / 500,000 / 300,000 against the minimal
//! broker, times `--scale`), each client in turn opens one subscriber and
//! one publisher connection (MQTT 3.1.1) on a fresh 2-worker multi-thread
//! tokio runtime, subscribes, and then publishes every message as fast as
//! its API allows with at most `--window` (default 1000) publishes
//! outstanding:
//!
//! * tern: one task keeps a window of `try_publish` futures and awaits the
//!   oldest when the window is full (QoS 0 completes once written); the
//!   reader takes one message per `Subscription::recv`; the subscription
//!   buffer holds [`SUBSCRIBER_BUFFER`] bytes.
//! * tern-batch: the same with the batch API: `try_publish_batch` of
//!   `--batch` messages (default 100), at most `--window` messages
//!   outstanding, and the reader takes up to 1,024 per
//!   `Subscription::recv_many`.
//! * rumqttc: `AsyncClient::publish_bytes` in a loop into a 10,000-deep
//!   request channel, `inflight` = window, each `EventLoop` polled in its
//!   own task.
//!
//! Throughput = messages received by the subscriber / time from the first
//! publish to the last message received. Client CPU = the time every
//! thread of this process spent on a CPU over the same interval (both
//! connections, the runtime and the benchmark's own publishing and reading
//! tasks), summed from `/proc/self/task/*/schedstat` in nanoseconds;
//! divided by the messages received. The broker's busy share comes from
//! its own process's counters.
//!
//! mosquitto runs with `max_inflight_messages 1000` and
//! `max_queued_messages 0` so that neither client is throttled by its
//! per-subscriber defaults (20 in flight, 1,000 queued, then dropped), and
//! with debug logging off. Each QoS runs `--runs` rounds (default 3); a
//! round runs each client once, back to back, alternating which goes
//! first. The tables show per client the medians of the runs, and the
//! medians of the per-round ratios of each tern client to rumqttc.

#[path = "../../tests/support/cpu.rs"]
mod cpu;
#[path = "../../tests/support/mosquitto.rs"]
mod mosquitto;
mod rumqttc_client;
mod tern_client;

use std::time::{Duration, Instant};

const PAYLOAD: usize = 64;
/// Request channel capacity of rumqttc.
const RUMQTTC_CAP: usize = 10_000;
/// tern's subscription buffer in bytes of decoded messages (about 200,000
/// of these): a reader descheduled for a few milliseconds on a shared
/// machine must not make it drop QoS 0 messages, which arrive without flow
/// control. rumqttc's reader is its event loop, which leaves unread bytes
/// in the socket (and the broker) instead.
const SUBSCRIBER_BUFFER: usize = 64 << 20;
/// The subscriber gives up when no message came for this long.
const IDLE: Duration = Duration::from_secs(5);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Ends a subscriber's wait when no message came for [`IDLE`], with one
/// timer for the whole run: a `timeout` around every receive would
/// register and cancel a timer per message, which costs more than some
/// clients spend on the message itself.
struct IdleGuard {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    deadline: Instant,
}

impl IdleGuard {
    fn new() -> Self {
        let deadline = Instant::now() + IDLE;
        IdleGuard {
            sleep: Box::pin(tokio::time::sleep_until(deadline.into())),
            deadline,
        }
    }

    /// Moves the deadline (only once half of it has passed: rarely).
    fn saw_message(&mut self, now: Instant) {
        if self.deadline.saturating_duration_since(now) < IDLE / 2 {
            self.deadline = now + IDLE;
            self.sleep.as_mut().reset(self.deadline.into());
        }
    }

    async fn expired(&mut self) {
        self.sleep.as_mut().await
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Tern,
    TernBatch,
    Rumqttc,
}

impl Which {
    const ALL: [Which; 3] = [Which::Tern, Which::TernBatch, Which::Rumqttc];

    fn name(self) -> &'static str {
        match self {
            Which::Tern => "tern",
            Which::TernBatch => "tern-batch",
            Which::Rumqttc => "rumqttc",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    sent: u64,
    received: u64,
    secs: f64,
    cpu: f64,
    broker_cpu: f64,
}

impl Sample {
    fn rate(&self) -> f64 {
        self.received as f64 / self.secs
    }
    /// Client CPU per message received, in microseconds.
    fn cpu_per_msg_us(&self) -> f64 {
        self.cpu / self.received.max(1) as f64 * 1e6
    }
}

/// Where a run's measurement starts: the clock, this process's CPU and
/// the broker's.
struct Start {
    at: Instant,
    cpu: f64,
    broker_cpu: f64,
}

impl Start {
    fn now(cfg: &Config) -> Self {
        Start {
            broker_cpu: cpu::proc_cpu_seconds(&cfg.broker_pid),
            cpu: cpu::cpu_seconds(),
            at: Instant::now(),
        }
    }

    /// The broker's CPU seconds since the start.
    fn broker_cpu(&self, cfg: &Config) -> f64 {
        cpu::proc_cpu_seconds(&cfg.broker_pid) - self.broker_cpu
    }

    /// A run that sent `sent` messages, whose reader had `received` by
    /// `last`, with this process at `cpu` CPU seconds then.
    fn sample(&self, sent: u64, received: u64, last: Instant, cpu: f64, broker_cpu: f64) -> Sample {
        Sample {
            sent,
            received,
            secs: last.duration_since(self.at).as_secs_f64(),
            cpu: cpu - self.cpu,
            broker_cpu,
        }
    }
}

struct Config {
    port: u16,
    broker_pid: String,
    window: usize,
    batch: usize,
    v5: bool,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The broker under the clients: the real one, or the minimal one that is
/// never the limit. Either is a separate process, so that its CPU is not
/// counted as the clients'.
enum BrokerProcess {
    // Held so that the broker runs until the end; dropping it stops it.
    Mosquitto(#[allow(dead_code)] Box<mosquitto::Broker>),
    Mini(std::process::Child),
}

impl BrokerProcess {
    fn name(&self) -> &'static str {
        match self {
            BrokerProcess::Mosquitto(_) => "mosquitto",
            BrokerProcess::Mini(_) => "mini_broker",
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if let BrokerProcess::Mini(child) = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts mosquitto (through the test harness), or `mini_broker` from the
/// directory this example was built into; returns it with its port and pid.
fn start_broker(mini: bool, window: usize) -> Result<(BrokerProcess, u16, String), BoxError> {
    if !mini {
        let broker = mosquitto::Broker::start(
            mosquitto::BrokerOptions::plain()
                .global("max_inflight_messages 1000")
                .global("max_queued_messages 0")
                // `log_type none` resets the harness's `log_type all`.
                .global("log_type none")
                .global("log_type error")
                .global("log_type warning")
                .global("log_type notice")
                .global("log_type information"),
        );
        let port = broker.addr(mosquitto::Listener::Plain).port();
        let pid = broker.pid().map(|p| p.to_string()).unwrap_or_default();
        return Ok((BrokerProcess::Mosquitto(Box::new(broker)), port, pid));
    }
    use std::io::BufRead;
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name("mini_broker");
    let mut child = std::process::Command::new(&bin)
        .args(["--window", &window.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "{}: {e} (build it: cargo build --release --example mini_broker)",
                bin.display()
            )
        })?;
    let pid = child.id().to_string();
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        std::io::BufReader::new(out).read_line(&mut line)?;
    }
    let port = line
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("mini_broker said {line:?}"))?;
    Ok((BrokerProcess::Mini(child), port, pid))
}

struct Args {
    runs: usize,
    scale: f64,
    window: usize,
    batch: usize,
    v5: bool,
    mini: bool,
    only: Option<Which>,
    qos_list: Vec<u8>,
}

fn parse_args() -> Result<Args, BoxError> {
    let mut a = Args {
        runs: 3,
        scale: 1.0,
        window: 1000,
        batch: 100,
        v5: false,
        mini: false,
        only: None,
        qos_list: vec![0, 1, 2],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--runs" => a.runs = value().parse().unwrap_or(a.runs).max(1),
            "--scale" => a.scale = value().parse().unwrap_or(a.scale),
            "--window" => a.window = value().parse().unwrap_or(a.window),
            "--batch" => a.batch = value().parse().unwrap_or(a.batch).max(1),
            "--v5" => a.v5 = true,
            "--broker" => match value().as_str() {
                "mini" => a.mini = true,
                "mosquitto" => a.mini = false,
                other => return Err(format!("unknown broker {other}").into()),
            },
            "--only" => {
                let name = value();
                a.only = Which::ALL.into_iter().find(|w| w.name() == name);
            }
            "--qos" => {
                a.qos_list = value()
                    .split(',')
                    .filter_map(|s| s.parse().ok())
                    .filter(|q| *q <= 2)
                    .collect()
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(a)
}

/// Messages per run at `qos`: enough for about a second of the faster
/// client against mosquitto or the minimal broker.
fn messages(qos: u8, mini: bool, scale: f64) -> u64 {
    let base = match (qos, mini) {
        (0, false) => 200_000.0,
        (1, false) => 50_000.0,
        (_, false) => 20_000.0,
        (0, true) => 1_000_000.0,
        (1, true) => 500_000.0,
        (_, true) => 300_000.0,
    };
    (base * scale).round().max(1.0) as u64
}

/// One run of one client.
fn run_once(cfg: &Config, which: Which, qos: u8, n: u64, tag: &str) -> Result<Sample, BoxError> {
    let rt = runtime();
    let s = rt.block_on(async {
        match which {
            Which::Tern => tern_client::run_tern(cfg, qos, n, tag, None).await,
            Which::TernBatch => tern_client::run_tern(cfg, qos, n, tag, Some(cfg.batch)).await,
            Which::Rumqttc => rumqttc_client::run_rumqttc(cfg, qos, n, tag).await,
        }
    })?;
    rt.shutdown_timeout(Duration::from_secs(1));
    eprintln!(
        "  {:<10} qos {qos}: {}/{} msgs in {:.3} s = {:>9.0} msg/s, client cpu {:.3} s = {:.3} us/msg, broker busy {:.0}%",
        which.name(),
        s.received,
        s.sent,
        s.secs,
        s.rate(),
        s.cpu,
        s.cpu_per_msg_us(),
        s.broker_cpu / s.secs * 100.0
    );
    Ok(s)
}

/// The medians of one QoS level: per client, and of the per-round ratios.
struct Row {
    qos: u8,
    n: u64,
    /// (client, median msg/s, median us of client CPU per message, median
    /// broker busy share).
    clients: Vec<(Which, f64, f64, f64)>,
    /// Per tern client, medians of its per-round ratios to rumqttc:
    /// throughput, CPU per message.
    ratios: Vec<(Which, f64, f64)>,
}

/// `runs` rounds at one QoS: each round runs every client once, back to
/// back, alternating which goes first.
fn rounds(
    cfg: &Config,
    args: &Args,
    clients: &[Which],
    qos: u8,
    seq: &mut u32,
) -> Result<Row, BoxError> {
    let n = messages(qos, args.mini, args.scale);
    let mut per_round: Vec<Vec<(Which, Sample)>> = Vec::new();
    for r in 0..args.runs {
        let mut order = clients.to_vec();
        if r % 2 == 1 {
            order.reverse();
        }
        let mut round = Vec::new();
        for which in order {
            *seq += 1;
            let tag = format!("{}-q{qos}-{seq}", which.name());
            round.push((which, run_once(cfg, which, qos, n, &tag)?));
        }
        per_round.push(round);
    }
    let of = |w: Which, f: &dyn Fn(&Sample) -> f64| -> Vec<f64> {
        per_round
            .iter()
            .flat_map(|r| r.iter().filter(|(x, _)| *x == w).map(|(_, s)| f(s)))
            .collect()
    };
    let stats = clients
        .iter()
        .map(|&w| {
            let busy = |s: &Sample| s.broker_cpu / s.secs;
            (
                w,
                median(of(w, &Sample::rate)),
                median(of(w, &Sample::cpu_per_msg_us)),
                median(of(w, &busy)),
            )
        })
        .collect();
    Ok(Row {
        qos,
        n,
        clients: stats,
        ratios: ratios_to_rumqttc(&per_round),
    })
}

/// Per tern client, the medians of its per-round ratios to rumqttc
/// (throughput, CPU per message); none without rumqttc in the rounds.
fn ratios_to_rumqttc(per_round: &[Vec<(Which, Sample)>]) -> Vec<(Which, f64, f64)> {
    let ratio = |of: Which, f: &dyn Fn(&Sample) -> f64| {
        let per: Vec<f64> = per_round
            .iter()
            .filter_map(|r| {
                let t = r.iter().find(|(w, _)| *w == of)?;
                let q = r.iter().find(|(w, _)| *w == Which::Rumqttc)?;
                Some(f(&t.1) / f(&q.1))
            })
            .collect();
        (!per.is_empty()).then(|| median(per))
    };
    [Which::Tern, Which::TernBatch]
        .into_iter()
        .filter_map(|w| {
            let (rate, cpu) = ratio(w, &Sample::rate).zip(ratio(w, &Sample::cpu_per_msg_us))?;
            Some((w, rate, cpu))
        })
        .collect()
}

fn print_tables(rows: &[Row], broker: &str) {
    println!();
    println!("| QoS | messages | client | msg/s | client CPU us/msg | {broker} busy |");
    println!("| --- | ---: | --- | ---: | ---: | ---: |");
    for row in rows {
        for (w, rate, cpu, busy) in &row.clients {
            println!(
                "| {} | {} | {} | {rate:.0} | {cpu:.3} | {:.0}% |",
                row.qos,
                row.n,
                w.name(),
                busy * 100.0
            );
        }
    }
    if rows.iter().any(|r| !r.ratios.is_empty()) {
        println!();
        println!("| QoS | client | throughput / rumqttc | CPU per msg / rumqttc |");
        println!("| --- | --- | ---: | ---: |");
        for row in rows {
            for (w, rate, cpu) in &row.ratios {
                println!("| {} | {} | {rate:.2} | {cpu:.2} |", row.qos, w.name());
            }
        }
    }
}

fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    if args.v5 && !matches!(args.only, Some(Which::Tern | Which::TernBatch)) {
        eprintln!("note: --v5 applies to tern only; rumqttc runs MQTT 3.1.1");
    }
    let (broker, port, broker_pid) = start_broker(args.mini, args.window)?;
    let cfg = Config {
        port,
        broker_pid,
        window: args.window,
        batch: args.batch,
        v5: args.v5,
    };
    println!(
        "e2e_bench: {} on port {port}, protocol {}, window {}, {} round(s), payload {PAYLOAD} B; medians of runs and of per-round ratios",
        broker.name(),
        if args.v5 { "tern 5.0 / rumqttc 3.1.1" } else { "3.1.1" },
        args.window,
        args.runs,
    );
    let clients: Vec<Which> = match args.only {
        Some(w) => vec![w],
        None => Which::ALL.to_vec(),
    };
    let mut rows = Vec::new();
    let mut seq = 0u32;
    for &qos in &args.qos_list {
        rows.push(rounds(&cfg, &args, &clients, qos, &mut seq)?);
    }
    print_tables(&rows, broker.name());
    drop(broker);
    Ok(())
}
