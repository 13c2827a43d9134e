//! End-to-end throughput and client CPU: tern beside rumqttc, against the
//! same private mosquitto, in the same run.
//!
//! ```text
//! cargo run --release --example e2e_bench -- [--runs R] [--scale F] [--window W] [--v5] [--only tern|rumqttc] [--qos 0,1,2]
//! ```
//!
//! For each QoS (0, 1, 2: 200,000 / 50,000 / 20,000 messages of 64 bytes,
//! times `--scale`), each client in turn opens one subscriber and one
//! publisher connection on a fresh 2-worker multi-thread tokio runtime,
//! subscribes, and then publishes every message as fast as its API allows
//! with at most `--window` (default 1000) publishes outstanding:
//!
//! * tern: one task keeps a window of `try_publish` futures and awaits the
//!   oldest when the window is full (QoS 0 completes once written).
//! * rumqttc: `AsyncClient::publish_bytes` in a loop into a 10,000-deep
//!   request channel, `inflight` = window, each `EventLoop` polled in its
//!   own task.
//!
//! Throughput = messages received by the subscriber / time from the first
//! publish to the last message received. CPU = user + system time of this
//! process (both connections and the runtime; the broker is another
//! process), read from `/proc/self/stat` in clock ticks of 1/100 s
//! (`getconf CLK_TCK` = 100 on Linux), over the same interval.
//!
//! The broker runs with `max_inflight_messages 1000` and
//! `max_queued_messages 0` so that neither client is throttled by the
//! broker's per-subscriber defaults (20 in flight, 1,000 queued, then
//! dropped), and with debug logging off (the test harness logs every
//! packet otherwise). Each (client, QoS) pair runs `--runs` times
//! (default 3), alternating which client goes first; the table shows the
//! median by throughput.

#[path = "../tests/support/cpu.rs"]
mod cpu;
#[path = "../tests/support/mosquitto.rs"]
mod mosquitto;

use bytes::Bytes;
use cpu::{cpu_seconds, proc_cpu_seconds, CLK_TCK};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tern_mqtt::codec::{ProtocolVersion, QoS};
use tern_mqtt::session::PublishCommand;
use tern_mqtt::topic::TopicName;
use tern_mqtt::{Client, ConnectOptions};

const PAYLOAD: usize = 64;
/// Request channel capacity of rumqttc.
const RUMQTTC_CAP: usize = 10_000;
/// The subscriber gives up when no message came for this long.
const IDLE: Duration = Duration::from_secs(5);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Tern,
    Rumqttc,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Tern => "tern",
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
    fn cpu_per_100k(&self) -> f64 {
        self.cpu / self.received.max(1) as f64 * 100_000.0
    }
}

struct Config {
    port: u16,
    broker_pid: String,
    window: usize,
    v5: bool,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn tern_qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

async fn run_tern(cfg: &Config, qos: u8, n: u64, tag: &str) -> Result<Sample, BoxError> {
    let url = format!("mqtt://127.0.0.1:{}", cfg.port);
    let version = if cfg.v5 {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    };
    let topic = format!("bench/{tag}");
    let sub_client = Client::connect(
        ConnectOptions::new(&url)?
            .client_id(&format!("{tag}-sub"))
            .version(version)
            .subscription_buffer_bytes(cfg.window.saturating_mul(1024))
            .receive_maximum(u16::try_from(cfg.window).unwrap_or(u16::MAX)),
    )
    .await?;
    let pub_client = Client::connect(
        ConnectOptions::new(&url)?
            .client_id(&format!("{tag}-pub"))
            .version(version)
            .publish_queue(cfg.window + 64)
            .receive_maximum(u16::try_from(cfg.window).unwrap_or(u16::MAX)),
    )
    .await?;
    let mut sub = sub_client.subscribe(&topic, tern_qos(qos)).await?;

    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let receiver = tokio::spawn(async move {
        let mut got = 0u64;
        let mut last = Instant::now();
        while got < n {
            match tokio::time::timeout(IDLE, sub.recv()).await {
                Ok(Some(_msg)) => {
                    got += 1;
                    last = Instant::now();
                }
                Ok(None) | Err(_) => break,
            }
        }
        let cpu = cpu_seconds();
        let _ = done_tx.send((got, last, cpu));
        sub
    });

    let name = TopicName::new(&topic)?;
    let payload = Bytes::from(vec![0x5a; PAYLOAD]);
    let window = cfg.window;
    let broker0 = proc_cpu_seconds(&cfg.broker_pid);
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let publisher = {
        let client = pub_client.clone();
        tokio::spawn(async move {
            let mut outstanding = VecDeque::with_capacity(window);
            for _ in 0..n {
                if outstanding.len() >= window {
                    if let Some(f) = outstanding.pop_front() {
                        f.await?;
                    }
                }
                let mut cmd = PublishCommand::new(name.clone(), payload.clone(), tern_qos(qos));
                loop {
                    match client.try_publish(cmd) {
                        Ok(f) => {
                            outstanding.push_back(f);
                            break;
                        }
                        // A permit is released just after its reply: rare.
                        Err(tern_mqtt::Error::QueueFull) => {
                            cmd = PublishCommand::new(name.clone(), payload.clone(), tern_qos(qos));
                            match outstanding.pop_front() {
                                Some(f) => {
                                    f.await?;
                                }
                                None => tokio::task::yield_now().await,
                            }
                        }
                        Err(e) => return Err::<u64, tern_mqtt::Error>(e),
                    }
                }
            }
            while let Some(f) = outstanding.pop_front() {
                f.await?;
            }
            Ok(n)
        })
    };
    let (got, last, cpu1) = done_rx.await?;
    let broker_cpu = proc_cpu_seconds(&cfg.broker_pid) - broker0;
    let sent = publisher.await??;
    let _sub = receiver.await?;
    let _ = pub_client.disconnect().await;
    let _ = sub_client.disconnect().await;
    Ok(Sample {
        sent,
        received: got,
        secs: last.duration_since(t0).as_secs_f64(),
        cpu: cpu1 - cpu0,
        broker_cpu,
    })
}

fn rumq_qos(q: u8) -> rumqttc::QoS {
    match q {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

async fn run_rumqttc(cfg: &Config, qos: u8, n: u64, tag: &str) -> Result<Sample, BoxError> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
    let topic = format!("bench/{tag}");
    let opts = |id: String| {
        let mut o = MqttOptions::new(id, "127.0.0.1", cfg.port);
        o.set_keep_alive(Duration::from_secs(60));
        o.set_inflight(u16::try_from(cfg.window).unwrap_or(u16::MAX));
        o
    };
    let (sub_client, mut sub_loop) = AsyncClient::new(opts(format!("{tag}-sub")), RUMQTTC_CAP);
    let (pub_client, mut pub_loop) = AsyncClient::new(opts(format!("{tag}-pub")), RUMQTTC_CAP);
    sub_client.subscribe(&topic, rumq_qos(qos)).await?;

    let (subacked_tx, subacked_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let receiver = tokio::spawn(async move {
        let mut subacked = Some(subacked_tx);
        let mut got = 0u64;
        let mut last = Instant::now();
        while got < n {
            match tokio::time::timeout(IDLE, sub_loop.poll()).await {
                Ok(Ok(Event::Incoming(Packet::Publish(_)))) => {
                    got += 1;
                    last = Instant::now();
                }
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                    if let Some(tx) = subacked.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    eprintln!("rumqttc subscriber: {e}");
                    break;
                }
                Err(_) => break,
            }
        }
        let cpu = cpu_seconds();
        let _ = done_tx.send((got, last, cpu));
        // Keep acknowledging until told to stop (the runtime drops us).
        loop {
            if sub_loop.poll().await.is_err() {
                break;
            }
        }
    });
    // The publisher's event loop: connect first, then drive it.
    let (connected_tx, connected_rx) = tokio::sync::oneshot::channel::<()>();
    let pub_driver = tokio::spawn(async move {
        let mut connected = Some(connected_tx);
        loop {
            match pub_loop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Some(tx) = connected.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("rumqttc publisher: {e}");
                    break;
                }
            }
        }
    });
    subacked_rx.await?;
    connected_rx.await?;

    let payload = Bytes::from(vec![0x5a; PAYLOAD]);
    let broker0 = proc_cpu_seconds(&cfg.broker_pid);
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let publisher = {
        let client = pub_client.clone();
        let topic = topic.clone();
        tokio::spawn(async move {
            for _ in 0..n {
                client
                    .publish_bytes(topic.as_str(), rumq_qos(qos), false, payload.clone())
                    .await?;
            }
            Ok::<u64, rumqttc::ClientError>(n)
        })
    };
    let (got, last, cpu1) = done_rx.await?;
    let broker_cpu = proc_cpu_seconds(&cfg.broker_pid) - broker0;
    let sent = publisher.await??;
    let _ = pub_client.disconnect().await;
    let _ = sub_client.disconnect().await;
    pub_driver.abort();
    receiver.abort();
    Ok(Sample {
        sent,
        received: got,
        secs: last.duration_since(t0).as_secs_f64(),
        cpu: cpu1 - cpu0,
        broker_cpu,
    })
}

fn median(mut v: Vec<Sample>) -> Sample {
    v.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    v[v.len() / 2]
}

fn main() -> Result<(), BoxError> {
    let mut runs = 3usize;
    let mut scale = 1.0f64;
    let mut window = 1000usize;
    let mut v5 = false;
    let mut only: Option<Which> = None;
    let mut qos_list = vec![0u8, 1, 2];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|s| s.parse().ok()).unwrap_or(runs),
            "--scale" => scale = args.next().and_then(|s| s.parse().ok()).unwrap_or(scale),
            "--window" => window = args.next().and_then(|s| s.parse().ok()).unwrap_or(window),
            "--v5" => v5 = true,
            "--only" => {
                only = match args.next().as_deref() {
                    Some("tern") => Some(Which::Tern),
                    Some("rumqttc") => Some(Which::Rumqttc),
                    _ => None,
                }
            }
            "--qos" => {
                qos_list = args
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|s| s.parse().ok())
                    .filter(|q| *q <= 2)
                    .collect()
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if v5 && only != Some(Which::Tern) {
        eprintln!("note: --v5 applies to tern only; rumqttc runs MQTT 3.1.1");
    }
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
    let cfg = Config {
        port: broker.addr(mosquitto::Listener::Plain).port(),
        broker_pid: broker.pid().map(|p| p.to_string()).unwrap_or_default(),
        window,
        v5,
    };
    println!(
        "e2e_bench: mosquitto on port {}, protocol {}, window {window}, {runs} run(s) each, payload {PAYLOAD} B, CLK_TCK {CLK_TCK}",
        cfg.port,
        if v5 { "tern 5.0 / rumqttc 3.1.1" } else { "3.1.1" }
    );
    let clients: Vec<Which> = match only {
        Some(w) => vec![w],
        None => vec![Which::Tern, Which::Rumqttc],
    };
    let mut rows = Vec::new();
    let mut seq = 0u32;
    for &qos in &qos_list {
        let base = match qos {
            0 => 200_000.0,
            1 => 50_000.0,
            _ => 20_000.0,
        };
        let n = (base * scale).round().max(1.0) as u64;
        let mut samples: Vec<(Which, Vec<Sample>)> =
            clients.iter().map(|w| (*w, Vec::new())).collect();
        for r in 0..runs {
            let mut order = clients.clone();
            if r % 2 == 1 {
                order.reverse();
            }
            for which in order {
                seq += 1;
                let tag = format!("{}-q{qos}-{seq}", which.name());
                let rt = runtime();
                let s = rt.block_on(async {
                    match which {
                        Which::Tern => run_tern(&cfg, qos, n, &tag).await,
                        Which::Rumqttc => run_rumqttc(&cfg, qos, n, &tag).await,
                    }
                })?;
                rt.shutdown_timeout(Duration::from_secs(1));
                eprintln!(
                    "  {:<8} qos {qos} run {}: {}/{} msgs in {:.3} s = {:>9.0} msg/s, cpu {:.2} s ({:.3} s per 100k), broker busy {:.0}%",
                    which.name(),
                    r + 1,
                    s.received,
                    s.sent,
                    s.secs,
                    s.rate(),
                    s.cpu,
                    s.cpu_per_100k(),
                    s.broker_cpu / s.secs * 100.0
                );
                if let Some((_, v)) = samples.iter_mut().find(|(w, _)| *w == which) {
                    v.push(s);
                }
            }
        }
        for (w, v) in samples {
            rows.push((qos, n, w, median(v)));
        }
    }
    println!();
    println!(
        "| QoS | messages | client  | received | msg/s     | CPU s per 100k msgs | broker busy |"
    );
    println!(
        "|-----|----------|---------|----------|-----------|---------------------|-------------|"
    );
    for (qos, n, w, s) in &rows {
        println!(
            "| {qos}   | {n:>8} | {:<7} | {:>8} | {:>9.0} | {:>19.3} | {:>10.0}% |",
            w.name(),
            s.received,
            s.rate(),
            s.cpu_per_100k(),
            s.broker_cpu / s.secs * 100.0
        );
    }
    if clients.len() == 2 {
        println!();
        println!("| QoS | throughput tern/rumqttc | CPU per msg tern/rumqttc |");
        println!("|-----|-------------------------|--------------------------|");
        for qos in &qos_list {
            let get = |w: Which| {
                rows.iter()
                    .find(|(q, _, ww, _)| q == qos && *ww == w)
                    .map(|r| r.3)
            };
            if let (Some(t), Some(r)) = (get(Which::Tern), get(Which::Rumqttc)) {
                println!(
                    "| {qos}   | {:>23.2} | {:>24.2} |",
                    t.rate() / r.rate(),
                    t.cpu_per_100k() / r.cpu_per_100k()
                );
            }
        }
    }
    drop(broker);
    Ok(())
}
