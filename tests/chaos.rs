//! Chaos: QoS 1 and QoS 2 through a fault-injecting proxy and broker
//! restarts, against a real mosquitto with persistence.
//!
//! A publisher sends numbered QoS 1 and QoS 2 messages with many publishes
//! in flight; a subscriber on a persistent session counts what arrives.
//! Both go through their own [`proxy::Proxy`], which cuts every connection
//! at a random byte offset in a random direction (and now and then all at
//! once), while the proxies switch between plain, 1-byte-chunk and delayed
//! forwarding; mosquitto is restarted (SIGTERM, so its persistence is
//! saved) twice during the run. It passes when every publish future
//! resolves with a success code, every QoS 1 message arrives at least
//! once, every QoS 2 message exactly once, and the process's memory is back
//! near its idle level.
//!
//! * Short version (default, for CI): 2,000 + 2,000 messages, at least 50
//!   cuts, 2 restarts.
//! * Full version: `CHAOS_FULL=1 cargo test --release --test chaos -- --nocapture`
//!   (20,000 + 20,000 messages; see `scripts/chaos-full.sh`).
//! * The seed is printed; `CHAOS_SEED=<seed>` replays the same fault plan.
//!   `RUST_LOG=tern_mqtt=debug` turns on the client's tracing.
//!
//! The file also holds the proxy's own tests and a reconnect-backoff test.

#[path = "support/delivery.rs"]
mod delivery;
#[path = "support/mosquitto.rs"]
mod mosquitto;
#[path = "support/process.rs"]
mod process;
#[path = "support/proxy.rs"]
mod proxy;

use delivery::{parse_payload, payload, persistent_session as client_options, BrokerAudit};
use mosquitto::{Broker, BrokerOptions, Listener};
use proxy::{Cut, Delay, Direction, Proxy, ProxyHandle, XorShift};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tern_mqtt::client::{ConnectionEvent, ReconnectOptions, Subscription};
use tern_mqtt::codec::QoS;
use tern_mqtt::{Client, ConnectOptions, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// A bound on every single wait in the small tests.
const WAIT: Duration = Duration::from_secs(10);

const TOPIC_Q1: &str = "chaos/q1";
/// QoS 2 messages go to `chaos/q2/<seq>`, so the broker log (which shows
/// topics, not payloads) tells which message each packet id carried.
const FILTER_Q2: &str = "chaos/q2/#";

/// Size of the chaos run.
#[derive(Debug, Clone)]
struct Plan {
    q1: u32,
    q2: u32,
    min_cuts: u64,
    restarts: u32,
    /// Publishes in flight at once.
    window: usize,
    /// Largest random cut offset.
    max_offset: u64,
    /// Bound on the whole run (a hang fails instead of blocking CI).
    deadline: Duration,
    /// Allowed RSS growth between idle-after-connect and idle-after-run.
    rss_slack_kib: u64,
}

impl Plan {
    fn from_env() -> Plan {
        let full = std::env::var("CHAOS_FULL").is_ok_and(|v| v == "1");
        if full {
            Plan {
                q1: 20_000,
                q2: 20_000,
                min_cuts: 50,
                restarts: 2,
                window: 100,
                max_offset: 256 * 1024,
                deadline: Duration::from_secs(1200),
                rss_slack_kib: 8 * 1024,
            }
        } else {
            Plan {
                q1: 2_000,
                q2: 2_000,
                min_cuts: 50,
                restarts: 2,
                window: 100,
                max_offset: 32 * 1024,
                deadline: Duration::from_secs(180),
                rss_slack_kib: 8 * 1024,
            }
        }
    }

    fn total(&self) -> u64 {
        u64::from(self.q1) + u64::from(self.q2)
    }
}

fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// What the subscriber saw on one topic.
#[derive(Debug, Default, Clone)]
struct Tally {
    /// Arrivals per sequence number.
    counts: Vec<u32>,
    /// Sequence numbers seen at least once.
    distinct: u64,
    /// Arrivals beyond the first.
    duplicates: u64,
    /// Arrivals flagged DUP by the broker.
    dup_flagged: u64,
    /// Payloads that did not parse or were out of range.
    corrupt: u64,
}

/// Reads a subscription until it ends, counting per sequence number, and
/// publishes the number of distinct messages seen.
fn collect(
    mut sub: Subscription,
    qos: u8,
    n: u32,
    tally: Arc<Mutex<Tally>>,
    progress: watch::Sender<u64>,
) -> tokio::task::JoinHandle<()> {
    tally.lock().unwrap().counts = vec![0; n as usize];
    tokio::spawn(async move {
        while let Some(m) = sub.recv().await {
            let mut t = tally.lock().unwrap();
            if m.dup {
                t.dup_flagged += 1;
            }
            match parse_payload(qos, &m.payload) {
                Some(seq) if seq < n => {
                    let c = &mut t.counts[seq as usize];
                    *c += 1;
                    if *c == 1 {
                        t.distinct += 1;
                        let d = t.distinct;
                        drop(t);
                        progress.send_replace(d);
                    } else {
                        t.duplicates += 1;
                    }
                }
                _ => t.corrupt += 1,
            }
        }
    })
}

/// Counts connection events of one client.
#[derive(Debug, Default, Clone)]
struct EventCounts {
    lost: u64,
    reconnected: u64,
    session_lost: u64,
    gave_up: u64,
}

fn count_events(client: &Client) -> (Arc<Mutex<EventCounts>>, tokio::task::JoinHandle<()>) {
    let counts = Arc::new(Mutex::new(EventCounts::default()));
    let mut events = client.events();
    let c = Arc::clone(&counts);
    let task = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Some(e) => {
                    let mut c = c.lock().unwrap();
                    match e {
                        ConnectionEvent::ConnectionLost { .. }
                        | ConnectionEvent::DisconnectedByServer { .. } => c.lost += 1,
                        ConnectionEvent::Reconnected { session_present } => {
                            c.reconnected += 1;
                            if !session_present {
                                c.session_lost += 1;
                            }
                        }
                        ConnectionEvent::GaveUp { .. } => c.gave_up += 1,
                        ConnectionEvent::Closed => return,
                        _ => {}
                    }
                }
                None => return,
            }
        }
    });
    (counts, task)
}

/// Switches the proxies between forwarding styles and adds cuts, driven by
/// publish progress (never by wall-clock time): every `step` completions
/// it may change the style and cut a proxy; if the cut count falls behind
/// the plan's pace it cuts; at each restart mark it restarts mosquitto.
struct Chaos {
    rng: XorShift,
    proxies: [ProxyHandle; 2],
    broker: Option<Broker>,
    restarts_done: u32,
    forced_cuts: u64,
}

impl Chaos {
    fn total_cuts(&self) -> u64 {
        self.proxies.iter().map(|p| p.cuts()).sum()
    }

    fn shuffle_style(&mut self) {
        for p in &self.proxies {
            match self.rng.below(6) {
                0 => {
                    p.set_one_byte_chunks(true);
                    p.set_delay(Delay::None);
                }
                1 => {
                    p.set_one_byte_chunks(false);
                    p.set_delay(Delay::Random {
                        max: Duration::from_micros(1500),
                    });
                }
                2 => {
                    p.set_one_byte_chunks(false);
                    p.set_delay(Delay::Fixed(Duration::from_micros(300)));
                }
                _ => {
                    p.set_one_byte_chunks(false);
                    p.set_delay(Delay::None);
                }
            }
        }
    }

    async fn run(
        mut self,
        plan: Plan,
        mut done: watch::Receiver<u64>,
        step: u64,
    ) -> (Broker, u32, u64) {
        let total = plan.total();
        let restart_marks: Vec<u64> = (1..=u64::from(plan.restarts))
            .map(|k| total * k / (u64::from(plan.restarts) + 1))
            .collect();
        let mut next_step = step;
        loop {
            let finished = done.changed().await.is_err();
            let d = *done.borrow_and_update();
            while d >= next_step {
                next_step += step;
                self.shuffle_style();
                if self.rng.chance(1, 3) {
                    let i = self.rng.below(2) as usize;
                    self.proxies[i].cut_all();
                }
                // Keep the cut count on pace for at least `min_cuts`
                // (random cuts usually are well ahead).
                let due = plan.min_cuts * 2 * d.min(total) / total.max(1);
                if self.total_cuts() < due {
                    self.forced_cuts += 1;
                    for p in &self.proxies {
                        p.cut_all();
                    }
                }
            }
            if self.restarts_done < plan.restarts && d >= restart_marks[self.restarts_done as usize]
            {
                let mut broker = self.broker.take().expect("broker present");
                let t = Instant::now();
                let broker = tokio::task::spawn_blocking(move || {
                    broker.restart();
                    broker
                })
                .await
                .expect("restart task");
                self.restarts_done += 1;
                println!(
                    "chaos: mosquitto restart {} at {d} completed publishes took {:?}",
                    self.restarts_done,
                    t.elapsed()
                );
                self.broker = Some(broker);
            }
            if finished || d >= total {
                for p in &self.proxies {
                    p.set_one_byte_chunks(false);
                    p.set_delay(Delay::None);
                }
                let broker = self.broker.take().expect("broker present");
                return (broker, self.restarts_done, self.forced_cuts);
            }
        }
    }
}

/// Waits (bounded) until `rx` reaches `target`.
async fn wait_until(rx: &mut watch::Receiver<u64>, target: u64, within: Duration) -> bool {
    tokio::time::timeout(within, rx.wait_for(|v| *v >= target))
        .await
        .is_ok_and(|r| r.is_ok())
}

#[test]
fn broker_audit_finds_publish_resent_after_pubrec() {
    let log = "\
1: Sending PUBLISH to S (d0, q2, r0, m7, 'chaos/q2/41', ... (27 bytes))
1: Received PUBREC from S (Mid: 7)
1: Sending PUBREL to S (m7)
1: Sending PUBLISH to S (d1, q2, r0, m7, 'chaos/q2/41', ... (27 bytes))
1: Sending PUBLISH to S (d0, q2, r0, m8, 'chaos/q2/42', ... (27 bytes))
1: Sending PUBLISH to S (d1, q2, r0, m8, 'chaos/q2/42', ... (27 bytes))
1: Received PUBREC from S (Mid: 8)
1: Received PUBCOMP from S (Mid: 8, RC:0)
1: Received PUBLISH from P (d0, q2, r0, m3, 'chaos/q2/41', ... (27 bytes))
1: Received PUBREL from P (Mid: 3)
1: Received PUBLISH from P (d1, q2, r0, m3, 'chaos/q2/41', ... (27 bytes))
1: Received PUBLISH from P (d0, q2, r0, m3, 'chaos/q2/43', ... (27 bytes))
1: Received PUBLISH from P (d1, q2, r0, m3, 'chaos/q2/43', ... (27 bytes))
";
    let a = BrokerAudit::from_log(log, "P", "S", "chaos/q2/");
    assert_eq!(a.resent_after_pubrec.get(&41), Some(&1));
    assert_eq!(
        a.resent_after_pubrec.get(&42),
        None,
        "re-sent before PUBREC: fine"
    );
    assert_eq!(a.publisher_resent_after_pubrel, vec![41]);
    assert_eq!(a.sub_flows_seen, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos1_at_least_once_qos2_exactly_once_through_cuts_and_restarts() {
    init_tracing();
    let plan = Plan::from_env();
    let seed = proxy::seed_from_env("CHAOS_SEED");
    println!(
        "chaos: seed {seed} (replay: CHAOS_SEED={seed}); {} QoS 1 + {} QoS 2, >= {} cuts, {} restarts",
        plan.q1, plan.q2, plan.min_cuts, plan.restarts
    );
    let deadline = plan.deadline;
    tokio::time::timeout(deadline, chaos_run(plan, seed))
        .await
        .unwrap_or_else(|_| panic!("chaos run (seed {seed}) did not finish within {deadline:?}"));
}

async fn chaos_run(plan: Plan, seed: u64) {
    let started = Instant::now();
    let mut rng = XorShift::new(seed);
    // Persistence on, and no limit on the messages queued for the
    // subscriber while it is cut off (the default 1000 drops the rest).
    let broker = Broker::start(
        BrokerOptions::plain()
            .persistence(true)
            .global("max_queued_messages 0"),
    );
    let upstream = broker.addr(Listener::Plain);
    let pub_proxy = Proxy::start(upstream, rng.next_u64()).await;
    let sub_proxy = Proxy::start(upstream, rng.next_u64()).await;

    // Connect without faults (a first connection that fails is an error,
    // not a reconnect), then turn the random cuts on.
    let subscriber = Client::connect(client_options(
        &sub_proxy.url(),
        &format!("chaos-sub-{seed:x}"),
    ))
    .await
    .expect("subscriber connects");
    let publisher = Client::connect(client_options(
        &pub_proxy.url(),
        &format!("chaos-pub-{seed:x}"),
    ))
    .await
    .expect("publisher connects");
    let (sub_events, sub_events_task) = count_events(&subscriber);
    let (pub_events, pub_events_task) = count_events(&publisher);
    let sub_q1 = subscriber
        .subscribe(TOPIC_Q1, QoS::AtLeastOnce)
        .await
        .expect("subscribe q1");
    let sub_q2 = subscriber
        .subscribe(FILTER_Q2, QoS::ExactlyOnce)
        .await
        .expect("subscribe q2");
    assert_eq!(sub_q1.results(), &[Ok(QoS::AtLeastOnce)]);
    assert_eq!(sub_q2.results(), &[Ok(QoS::ExactlyOnce)]);
    let tally_q1 = Arc::new(Mutex::new(Tally::default()));
    let tally_q2 = Arc::new(Mutex::new(Tally::default()));
    let (seen_q1_tx, mut seen_q1) = watch::channel(0u64);
    let (seen_q2_tx, mut seen_q2) = watch::channel(0u64);
    let collect_q1 = collect(sub_q1, 1, plan.q1, Arc::clone(&tally_q1), seen_q1_tx);
    let collect_q2 = collect(sub_q2, 2, plan.q2, Arc::clone(&tally_q2), seen_q2_tx);

    let rss_idle = process::rss_kib();
    println!("chaos: connected; RSS {rss_idle} KiB");

    for p in [&pub_proxy, &sub_proxy] {
        p.set_cut(Cut::Random {
            direction: None,
            max_offset: plan.max_offset,
        });
        p.cut_all();
    }

    let (done_tx, done_rx) = watch::channel(0u64);
    let chaos = Chaos {
        rng: XorShift::new(rng.next_u64()),
        proxies: [pub_proxy.handle(), sub_proxy.handle()],
        broker: Some(broker),
        restarts_done: 0,
        forced_cuts: 0,
    };
    let chaos_task = tokio::spawn(chaos.run(plan.clone(), done_rx, 100));

    // Publish: QoS 1 and QoS 2 interleaved, `window` futures in flight.
    let mut in_flight = JoinSet::new();
    let mut failures: Vec<String> = Vec::new();
    let mut non_success_codes = 0u64;
    let mut completed = 0u64;
    let order: Vec<(u8, u32)> = {
        let mut v = Vec::with_capacity(plan.total() as usize);
        let (mut a, mut b) = (0, 0);
        while a < plan.q1 || b < plan.q2 {
            if a < plan.q1 {
                v.push((1u8, a));
                a += 1;
            }
            if b < plan.q2 {
                v.push((2u8, b));
                b += 1;
            }
        }
        v
    };
    let mut reap = |r: Result<(u8, u32, Result<tern_mqtt::client::PublishOutcome, Error>), _>,
                    failures: &mut Vec<String>| {
        completed += 1;
        match r {
            Ok((_, _, Ok(outcome))) if outcome.reason_code.is_success() => {
                // 0x10 "no matching subscribers" would mean the
                // subscriber's session was lost.
                if outcome.reason_code.0 != 0 {
                    non_success_codes += 1;
                }
            }
            Ok((qos, seq, Ok(outcome))) => {
                failures.push(format!("QoS {qos} #{seq}: refused {}", outcome.reason_code))
            }
            Ok((qos, seq, Err(e))) => failures.push(format!("QoS {qos} #{seq}: {e}")),
            Err(e) => failures.push(format!("publish task: {e}")),
        }
        done_tx.send_replace(completed);
    };
    for (qos, seq) in order {
        while in_flight.len() >= plan.window {
            let r = in_flight.join_next().await.expect("a task in flight");
            reap(r, &mut failures);
        }
        let c = publisher.clone();
        in_flight.spawn(async move {
            let (topic, q) = if qos == 1 {
                (TOPIC_Q1.to_string(), QoS::AtLeastOnce)
            } else {
                (format!("chaos/q2/{seq}"), QoS::ExactlyOnce)
            };
            (
                qos,
                seq,
                c.publish(&topic, payload(qos, seq), q, false).await,
            )
        });
    }
    while let Some(r) = in_flight.join_next().await {
        reap(r, &mut failures);
    }
    let published_in = started.elapsed();
    let (mut broker, restarts, forced_cuts) = chaos_task.await.expect("chaos task");

    // Everything published: the subscriber must get the rest (the random
    // cuts stay on while it catches up).
    let drain = Duration::from_secs(60);
    let got_q1 = wait_until(&mut seen_q1, u64::from(plan.q1), drain).await;
    let got_q2 = wait_until(&mut seen_q2, u64::from(plan.q2), drain).await;

    // Calm down: no more cuts. A marker sent after everything else on each
    // topic flushes out late redeliveries before the counts are read.
    for p in [&pub_proxy, &sub_proxy] {
        p.set_cut(Cut::Never);
        p.cut_all();
    }
    let mut marker_sub = subscriber
        .subscribe("chaos/marker", QoS::ExactlyOnce)
        .await
        .expect("subscribe marker");
    publisher
        .publish("chaos/marker", "end", QoS::ExactlyOnce, false)
        .await
        .expect("marker published");
    let marker = tokio::time::timeout(Duration::from_secs(30), marker_sub.recv())
        .await
        .expect("marker within 30 s")
        .expect("marker stream open");
    assert_eq!(&marker.payload[..], b"end");
    let elapsed = started.elapsed();
    let rss_after = process::rss_kib();

    let cuts_c2b =
        pub_proxy.cuts_in(Direction::ClientToBroker) + sub_proxy.cuts_in(Direction::ClientToBroker);
    let cuts_b2c =
        pub_proxy.cuts_in(Direction::BrokerToClient) + sub_proxy.cuts_in(Direction::BrokerToClient);
    let cut_all = pub_proxy.killed() + sub_proxy.killed();
    let cuts = cuts_c2b + cuts_b2c + cut_all;
    // Snapshots: the collectors keep running until the clients close.
    let t1 = tally_q1.lock().unwrap().clone();
    let t2 = tally_q2.lock().unwrap().clone();
    let pe = pub_events.lock().unwrap().clone();
    let se = sub_events.lock().unwrap().clone();
    println!(
        "chaos: seed {seed}: published {} in {published_in:?}, all done in {elapsed:?}",
        plan.total()
    );
    println!(
        "chaos: cuts {cuts} (at offset client->broker {cuts_c2b}, broker->client {cuts_b2c}; \
         cut_all {cut_all}, of them {forced_cuts} forced by pace); restarts {restarts} \
         (broker starts {})",
        broker.starts()
    );
    println!("chaos: publisher proxy: {}", pub_proxy.summary());
    println!("chaos: subscriber proxy: {}", sub_proxy.summary());
    println!("chaos: publisher events {pe:?}; subscriber events {se:?}");
    println!(
        "chaos: QoS 1: {} distinct of {}, {} duplicates ({} flagged DUP), {} corrupt",
        t1.distinct, plan.q1, t1.duplicates, t1.dup_flagged, t1.corrupt
    );
    println!(
        "chaos: QoS 2: {} distinct of {}, {} duplicates ({} flagged DUP), {} corrupt",
        t2.distinct, plan.q2, t2.duplicates, t2.dup_flagged, t2.corrupt
    );
    println!(
        "chaos: publish outcomes: {} failures, {non_success_codes} with a non-zero success code",
        failures.len()
    );
    println!(
        "chaos: RSS idle after connect {rss_idle} KiB, after the run {rss_after} KiB \
         (growth {} KiB)",
        rss_after as i64 - rss_idle as i64
    );

    let missing = |t: &Tally| -> Vec<usize> {
        t.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == 0)
            .map(|(i, _)| i)
            .take(20)
            .collect()
    };
    // A QoS 2 message may arrive twice only where mosquitto re-sent its
    // PUBLISH after it had received the subscriber's PUBREC (a broker bug,
    // see `BrokerAudit`); the client must then treat it as new
    // [MQTT-4.3.3-12]. Anything beyond that is the client's fault.
    let audit = BrokerAudit::from_log(
        &broker.log(),
        &format!("chaos-pub-{seed:x}"),
        &format!("chaos-sub-{seed:x}"),
        "chaos/q2/",
    );
    let strict = std::env::var("CHAOS_STRICT_QOS2").is_ok_and(|v| v == "1");
    let mut explained = 0u64;
    let twice: Vec<(usize, u32, u32)> = t2
        .counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 1)
        .map(|(i, c)| {
            let broker_resends = if strict {
                0
            } else {
                audit
                    .resent_after_pubrec
                    .get(&(i as u32))
                    .copied()
                    .unwrap_or(0)
            };
            (i, *c, broker_resends)
        })
        .filter(|(_, c, broker_resends)| {
            let ok = *c <= 1 + broker_resends;
            if ok {
                explained += u64::from(*c - 1);
            }
            !ok
        })
        .take(20)
        .collect();
    println!(
        "chaos: broker audit: {} QoS 2 PUBLISH re-sent by mosquitto to the subscriber after \
         its PUBREC (MQTT-4.3.3-6 broken by the broker) on {} messages; {explained} QoS 2 \
         duplicates are explained by them{}; publisher re-sent a PUBLISH after its PUBREL: {} \
         (must be 0)",
        audit.resent_after_pubrec.values().sum::<u32>(),
        audit.resent_after_pubrec.len(),
        if strict {
            " (CHAOS_STRICT_QOS2=1: not excused)"
        } else {
            ""
        },
        audit.publisher_resent_after_pubrel.len()
    );
    let ok = failures.is_empty()
        && t1.corrupt + t2.corrupt == 0
        && t1.distinct == u64::from(plan.q1)
        && t2.distinct == u64::from(plan.q2)
        && twice.is_empty();
    if !ok || std::env::var_os("CHAOS_KEEP_LOG").is_some() {
        // The whole broker log, for the diagnosis (the harness prints only
        // its tail).
        let path = std::env::temp_dir().join(format!("chaos-{seed}-mosquitto.log"));
        std::fs::write(&path, broker.log()).expect("write the broker log copy");
        println!("chaos: broker log copied to {}", path.display());
    }
    assert!(
        failures.is_empty(),
        "seed {seed}: {} publish futures failed, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert_eq!(t1.corrupt + t2.corrupt, 0, "seed {seed}: corrupt payloads");
    assert!(
        got_q1 && t1.distinct == u64::from(plan.q1),
        "seed {seed}: QoS 1 lost messages, e.g. {:?}",
        missing(&t1)
    );
    assert!(
        got_q2 && t2.distinct == u64::from(plan.q2),
        "seed {seed}: QoS 2 lost messages, e.g. {:?}",
        missing(&t2)
    );
    assert!(
        twice.is_empty(),
        "seed {seed}: QoS 2 messages delivered more than once beyond the broker's re-sends \
         (seq, times delivered, broker re-sends after PUBREC): {twice:?}"
    );
    assert!(
        audit.publisher_resent_after_pubrel.is_empty(),
        "seed {seed}: the publisher re-sent QoS 2 PUBLISH packets after their PUBREL \
         [MQTT-4.3.3-6], seqs {:?}",
        &audit.publisher_resent_after_pubrel[..audit.publisher_resent_after_pubrel.len().min(20)]
    );
    assert!(
        audit.sub_flows_seen >= u64::from(plan.q2),
        "the broker log shows the subscriber's QoS 2 flows (log_type all): {}",
        audit.sub_flows_seen
    );
    assert_eq!(restarts, plan.restarts, "seed {seed}: restarts");
    assert_eq!(broker.starts(), plan.restarts + 1);
    assert!(
        cuts >= plan.min_cuts,
        "seed {seed}: only {cuts} cuts, want >= {}",
        plan.min_cuts
    );
    assert!(
        cuts_c2b > 0 && cuts_b2c > 0,
        "seed {seed}: cuts in both directions (c2b {cuts_c2b}, b2c {cuts_b2c})"
    );
    assert!(
        rss_after <= rss_idle + plan.rss_slack_kib,
        "seed {seed}: RSS grew from {rss_idle} KiB to {rss_after} KiB (slack {} KiB)",
        plan.rss_slack_kib
    );

    // Idle clients leave cleanly: disconnect waits for in-flight publishes,
    // and every publish already resolved, so it is immediate.
    let t = Instant::now();
    tokio::time::timeout(WAIT, publisher.disconnect())
        .await
        .expect("publisher disconnects in time")
        .expect("publisher disconnect");
    tokio::time::timeout(WAIT, subscriber.disconnect())
        .await
        .expect("subscriber disconnects in time")
        .expect("subscriber disconnect");
    println!("chaos: both clients disconnected in {:?}", t.elapsed());
    for task in [collect_q1, collect_q2, sub_events_task, pub_events_task] {
        tokio::time::timeout(WAIT, task)
            .await
            .expect("collector ends once the client closed")
            .expect("collector task");
    }
    assert_eq!(pe.gave_up + se.gave_up, 0);
    broker.stop();
}

/// The reconnect attempt count restarts only after a connection stayed up
/// for `stable_after`: with `max_attempts: 2` and every accepted connection
/// counting as stable (`stable_after: 0`), a client cut five times must not
/// give up; with the default stable period, three quick cuts in a row are
/// three failures and it gives up.
#[tokio::test]
async fn reconnect_attempts_restart_only_after_a_stable_connection() {
    let broker = Broker::start(BrokerOptions::plain());
    for (stable_after, rounds_survived) in [(Duration::ZERO, 5), (Duration::from_secs(3600), 2)] {
        let proxy = Proxy::start(broker.addr(Listener::Plain), 1).await;
        let client = Client::connect(
            ConnectOptions::new(&proxy.url())
                .unwrap()
                .client_id("attempts")
                .reconnect(ReconnectOptions {
                    base_delay: Duration::from_millis(5),
                    max_delay: Duration::from_millis(20),
                    max_attempts: 2,
                    stable_after,
                    ..Default::default()
                }),
        )
        .await
        .unwrap();
        let mut events = client.events();
        for round in 0..5 {
            proxy.cut_all();
            let e = tokio::time::timeout(WAIT, async {
                loop {
                    match events.recv().await {
                        Some(e @ ConnectionEvent::Reconnected { .. })
                        | Some(e @ ConnectionEvent::GaveUp { .. })
                        | Some(e @ ConnectionEvent::Closed) => return e,
                        Some(_) => {}
                        None => panic!("event stream ended"),
                    }
                }
            })
            .await
            .expect("an event within the wait");
            if round < rounds_survived {
                assert!(
                    matches!(e, ConnectionEvent::Reconnected { .. }),
                    "stable after {stable_after:?}, round {round}: {e:?}"
                );
            } else {
                assert_eq!(
                    e,
                    ConnectionEvent::GaveUp { attempts: 2 },
                    "stable after {stable_after:?}, round {round}"
                );
                break;
            }
        }
        if rounds_survived == 5 {
            assert_eq!(proxy.killed(), 5);
            client
                .publish("t", "still here", QoS::AtLeastOnce, false)
                .await
                .unwrap();
            client.disconnect().await.unwrap();
        }
    }
}

// ---- the proxy's own tests ----

/// An upstream that echoes everything back.
async fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut r = XorShift::new(seed);
    (0..n).map(|_| r.next_u64() as u8).collect()
}

/// Sends `data` through `stream` while reading back as many bytes.
async fn round_trip(stream: TcpStream, data: &[u8]) -> Vec<u8> {
    let (mut r, mut w) = stream.into_split();
    let to_send = data.to_vec();
    let writer = tokio::spawn(async move { w.write_all(&to_send).await.map(|_| w) });
    let mut back = vec![0u8; data.len()];
    tokio::time::timeout(WAIT, r.read_exact(&mut back))
        .await
        .expect("echo within the wait")
        .expect("echo read");
    let _ = writer.await.unwrap().unwrap();
    back
}

#[test]
fn xorshift_is_reproducible_and_spreads() {
    let a: Vec<u64> = {
        let mut r = XorShift::new(7);
        (0..100).map(|_| r.next_u64()).collect()
    };
    let b: Vec<u64> = {
        let mut r = XorShift::new(7);
        (0..100).map(|_| r.next_u64()).collect()
    };
    assert_eq!(a, b, "same seed, same sequence");
    let mut r = XorShift::new(0);
    assert_ne!(r.next_u64(), r.next_u64(), "seed 0 works");
    let offsets: Vec<u64> = (0..2000).map(|_| r.log_uniform(65_536)).collect();
    assert!(offsets.iter().all(|o| *o <= 65_536));
    assert!(
        offsets.iter().filter(|o| **o < 64).count() > 100,
        "small offsets"
    );
    assert!(
        offsets.iter().filter(|o| **o > 16_384).count() > 20,
        "large offsets"
    );
}

#[tokio::test]
async fn proxy_forwards_byte_for_byte_in_one_byte_chunks() {
    let proxy = Proxy::start(echo_server().await, 3).await;
    proxy.set_one_byte_chunks(true);
    let data = random_bytes(11, 20_000);
    let s = TcpStream::connect(proxy.addr()).await.unwrap();
    let back = round_trip(s, &data).await;
    assert_eq!(back, data, "every byte, in order");
    assert_eq!(proxy.bytes(Direction::ClientToBroker), 20_000);
    assert_eq!(proxy.bytes(Direction::BrokerToClient), 20_000);
    assert_eq!(proxy.writes(), 40_000, "one write per byte");
    assert_eq!(proxy.cuts(), 0);
    // And with chunking off, whole chunks again.
    proxy.set_one_byte_chunks(false);
    let s = TcpStream::connect(proxy.addr()).await.unwrap();
    let back = round_trip(s, &data).await;
    assert_eq!(back, data);
    assert!(proxy.writes() < 40_000 + 2 * 20_000 / 2);
}

#[tokio::test]
async fn proxy_cut_client_to_broker_delivers_exactly_n_bytes() {
    let data = random_bytes(5, 10_000);
    for n in [0u64, 1, 777, 4096, 9_999] {
        // The upstream keeps what reaches it until EOF.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = l.local_addr().unwrap();
        let sink = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got).await;
            got
        });
        let proxy = Proxy::start(upstream, 5).await;
        proxy.set_cut(Cut::At {
            direction: Direction::ClientToBroker,
            offset: n,
        });
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        // The proxy may reset the connection while we write: ignore that.
        let _ = s.write_all(&data).await;
        let got = tokio::time::timeout(WAIT, sink)
            .await
            .expect("upstream sees EOF")
            .unwrap();
        assert_eq!(got.len() as u64, n, "cut at {n}");
        assert_eq!(&got[..], &data[..n as usize]);
        // The client side is closed too.
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut rest))
            .await
            .expect("client sees the close");
        assert!(rest.is_empty());
        assert_eq!(proxy.cuts_in(Direction::ClientToBroker), 1);
        assert_eq!(proxy.cuts_in(Direction::BrokerToClient), 0);
    }
}

#[tokio::test]
async fn proxy_cut_broker_to_client_delivers_exactly_n_bytes() {
    let data = random_bytes(6, 10_000);
    for n in [0u64, 1, 555, 8192] {
        // The upstream sends `data` and then waits for the proxy to close.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = l.local_addr().unwrap();
        let to_send = data.clone();
        let source = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let _ = s.write_all(&to_send).await;
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink).await;
        });
        let proxy = Proxy::start(upstream, 6).await;
        proxy.set_cut(Cut::At {
            direction: Direction::BrokerToClient,
            offset: n,
        });
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(WAIT, s.read_to_end(&mut got))
            .await
            .expect("client sees EOF")
            .expect("a clean EOF: the client sent nothing");
        assert_eq!(got.len() as u64, n, "cut at {n}");
        assert_eq!(&got[..], &data[..n as usize]);
        tokio::time::timeout(WAIT, source)
            .await
            .expect("upstream sees the close")
            .unwrap();
        assert_eq!(proxy.cuts_in(Direction::BrokerToClient), 1);
    }
}

#[tokio::test]
async fn proxy_random_cuts_follow_the_seed() {
    // Each connection sends 4,000 bytes towards a counting upstream; the
    // proxy cuts each at a seeded random offset <= 3,000 (or not at all
    // when the offset is not reached, which only happens above 4,000).
    async fn offsets(seed: u64) -> Vec<u64> {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = l.local_addr().unwrap();
        let proxy = Proxy::start(upstream, seed).await;
        proxy.set_cut(Cut::Random {
            direction: Some(Direction::ClientToBroker),
            max_offset: 3_000,
        });
        let data = random_bytes(seed, 4_000);
        let mut out = Vec::new();
        for _ in 0..12 {
            let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
            let (mut up, _) = l.accept().await.unwrap();
            let _ = s.write_all(&data).await;
            let mut got = Vec::new();
            let _ = tokio::time::timeout(WAIT, up.read_to_end(&mut got))
                .await
                .expect("cut within the wait");
            out.push(got.len() as u64);
        }
        assert_eq!(proxy.cuts_in(Direction::ClientToBroker), 12);
        out
    }
    let a = offsets(99).await;
    assert!(a.iter().all(|o| *o <= 3_000), "{a:?}");
    assert_eq!(a, offsets(99).await, "same seed, same cut plan");
    let distinct: std::collections::HashSet<_> = a.iter().collect();
    assert!(distinct.len() > 3, "offsets vary: {a:?}");
}

#[tokio::test]
async fn proxy_delay_holds_back_each_chunk() {
    let proxy = Proxy::start(echo_server().await, 4).await;
    let s = TcpStream::connect(proxy.addr()).await.unwrap();
    // Warm up the connection (the upstream connect happens on accept).
    assert_eq!(round_trip(s, b"x").await, b"x");
    proxy.set_delay(Delay::Fixed(Duration::from_millis(30)));
    let s = TcpStream::connect(proxy.addr()).await.unwrap();
    let t = Instant::now();
    assert_eq!(round_trip(s, b"ping").await, b"ping");
    assert!(
        t.elapsed() >= Duration::from_millis(60),
        "30 ms each way: {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn proxy_cut_all_closes_every_live_connection() {
    let proxy = Proxy::start(echo_server().await, 8).await;
    let mut streams = Vec::new();
    for i in 0..3u8 {
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        s.write_all(&[i]).await.unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(b[0], i);
        streams.push(s);
    }
    assert_eq!(proxy.active(), 3);
    assert_eq!(proxy.connections(), 3);
    proxy.cut_all();
    for s in &mut streams {
        let mut rest = Vec::new();
        let r = tokio::time::timeout(WAIT, s.read_to_end(&mut rest))
            .await
            .expect("closed within the wait");
        assert!(r.is_err() || rest.is_empty());
    }
    assert_eq!(proxy.killed(), 3);
    assert_eq!(proxy.active(), 0);
    // New connections work again.
    let s = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(s, b"again").await, b"again");
}

#[tokio::test]
async fn proxy_closes_the_client_when_the_upstream_is_down() {
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let proxy = Proxy::start(dead, 9).await;
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut rest))
        .await
        .expect("closed within the wait");
    assert!(rest.is_empty());
    assert_eq!(proxy.upstream_failures(), 1);
}
