//! Soak: QoS 1 at a steady rate for a long time through a proxy that cuts
//! the connections every so often, watching the process's memory (RSS) and
//! open file descriptors for growth.
//!
//! Ignored by default (it runs for an hour):
//!
//! ```text
//! SOAK_SECS=3600 cargo test --release --test soak -- --ignored --nocapture
//! ```
//!
//! (`scripts/soak.sh`). Settings from the environment: `SOAK_SECS`
//! (duration, default 3600), `SOAK_RATE` (messages per second, default 200),
//! `SOAK_CUT_SECS` (seconds between cuts, default 30), `SOAK_RSS_SLACK_KIB`
//! (allowed RSS growth, default 8192), `SOAK_SEED`.
//!
//! It prints a sample every minute (RSS, fds, messages published, completed,
//! received, cuts). The baseline is taken once the traffic has warmed up
//! (after a quarter of the run, at most one minute); at the end, once every
//! publish has resolved and the subscriber has caught up, RSS must be within
//! the slack of the baseline and the fd count no higher than the baseline
//! plus 2. Every publish must succeed and every message arrive.

#[path = "support/mosquitto.rs"]
mod mosquitto;
#[path = "support/process.rs"]
mod process;
#[path = "support/proxy.rs"]
mod proxy;

use mosquitto::{Broker, BrokerOptions, Listener};
use proxy::Proxy;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tern_mqtt::client::ReconnectOptions;
use tern_mqtt::codec::QoS;
use tern_mqtt::{Client, ConnectOptions};
use tokio::task::JoinSet;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|e| panic!("{name}={v:?}: {e}"))
        })
        .unwrap_or(default)
}

fn options(url: &str, id: &str) -> ConnectOptions {
    ConnectOptions::new(url)
        .unwrap()
        .client_id(id)
        .clean_start(false)
        .session_expiry(3600)
        .keep_alive(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .reconnect(ReconnectOptions {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(500),
            ..Default::default()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: SOAK_SECS=3600 cargo test --release --test soak -- --ignored --nocapture"]
async fn soak_qos1_steady_rate_with_periodic_cuts() {
    let secs = env_u64("SOAK_SECS", 3600);
    let rate = env_u64("SOAK_RATE", 200).max(1);
    let cut_every = Duration::from_secs(env_u64("SOAK_CUT_SECS", 30).max(1));
    let slack_kib = env_u64("SOAK_RSS_SLACK_KIB", 8 * 1024);
    let seed = proxy::seed_from_env("SOAK_SEED");
    let run = Duration::from_secs(secs);
    let warmup = (run / 4).min(Duration::from_secs(60));
    println!(
        "soak: {secs} s at {rate} msg/s QoS 1, a cut every {cut_every:?}, seed {seed}, \
         RSS slack {slack_kib} KiB"
    );

    let broker = Broker::start(BrokerOptions::plain().global("max_queued_messages 0"));
    let proxy = Proxy::start(broker.addr(Listener::Plain), seed).await;
    let subscriber = Client::connect(options(&proxy.url(), "soak-sub"))
        .await
        .expect("subscriber connects");
    let publisher = Client::connect(options(&proxy.url(), "soak-pub"))
        .await
        .expect("publisher connects");
    let mut sub = subscriber
        .subscribe("soak/q1", QoS::AtLeastOnce)
        .await
        .expect("subscribe");

    // Received sequence numbers, as a growable bitset (one bit each).
    let received = Arc::new(Mutex::new((Vec::<u64>::new(), 0u64, 0u64))); // (bits, distinct, duplicates)
    let (seen_tx, mut seen_rx) = tokio::sync::watch::channel(0u64);
    let r = Arc::clone(&received);
    let collector = tokio::spawn(async move {
        while let Some(m) = sub.recv().await {
            let Some(seq) = std::str::from_utf8(&m.payload)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            else {
                panic!("corrupt payload {:?}", m.payload);
            };
            let mut g = r.lock().unwrap();
            let (bits, distinct, dups) = &mut *g;
            let (word, bit) = ((seq / 64) as usize, seq % 64);
            if bits.len() <= word {
                bits.resize(word + 1024, 0);
            }
            if bits[word] & (1 << bit) == 0 {
                bits[word] |= 1 << bit;
                *distinct += 1;
                let d = *distinct;
                drop(g);
                seen_tx.send_replace(d);
            } else {
                *dups += 1;
            }
        }
    });

    let start_rss = process::rss_kib();
    let start_fds = process::open_fds();
    println!("soak: start RSS {start_rss} KiB, fds {start_fds}");

    let started = Instant::now();
    let failures = Arc::new(AtomicU64::new(0));
    let completed = Arc::new(AtomicU64::new(0));
    let mut in_flight = JoinSet::new();
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let mut next_sample = started + Duration::from_secs(60);
    let mut next_cut = started + cut_every;
    let mut baseline: Option<(u64, u64)> = None;
    let mut published = 0u64;
    let mut max_in_flight = 0usize;
    let mut samples = Vec::new();
    let sample = |published: u64, in_flight: usize, label: &str| {
        let (rss, fd) = (process::rss_kib(), process::open_fds());
        let got = received.lock().unwrap().1;
        println!(
            "soak: {label} t={:>5}s RSS {rss} KiB fds {fd} published {published} \
             completed {} in flight {in_flight} received {got} failures {} | {}",
            started.elapsed().as_secs(),
            completed.load(Ordering::SeqCst),
            failures.load(Ordering::SeqCst),
            proxy.summary()
        );
        (rss, fd)
    };
    while started.elapsed() < run {
        ticker.tick().await;
        let c = publisher.clone();
        let (f, done) = (Arc::clone(&failures), Arc::clone(&completed));
        let seq = published;
        in_flight.spawn(async move {
            match c
                .publish("soak/q1", seq.to_string(), QoS::AtLeastOnce, false)
                .await
            {
                Ok(o) if o.reason_code.is_success() => {}
                Ok(o) => {
                    eprintln!("soak: #{seq} refused: {}", o.reason_code);
                    f.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => {
                    eprintln!("soak: #{seq} failed: {e}");
                    f.fetch_add(1, Ordering::SeqCst);
                }
            }
            done.fetch_add(1, Ordering::SeqCst);
        });
        published += 1;
        while in_flight.try_join_next().is_some() {}
        max_in_flight = max_in_flight.max(in_flight.len());
        let now = Instant::now();
        if now >= next_cut {
            next_cut += cut_every;
            proxy.cut_all();
        }
        if baseline.is_none() && now >= started + warmup {
            baseline = Some(sample(published, in_flight.len(), "baseline"));
        }
        if now >= next_sample {
            next_sample += Duration::from_secs(60);
            samples.push(sample(published, in_flight.len(), "minute"));
        }
    }

    // Drain: every publish resolves, the subscriber catches up (bounded).
    let drain = tokio::time::timeout(Duration::from_secs(120), async {
        while in_flight.join_next().await.is_some() {}
    })
    .await;
    assert!(drain.is_ok(), "publishes still pending 120 s after the run");
    let caught_up = tokio::time::timeout(
        Duration::from_secs(120),
        seen_rx.wait_for(|d| *d >= published),
    )
    .await
    .is_ok();
    drop(in_flight);
    let (end_rss, end_fds) = sample(published, 0, "end");
    let (base_rss, base_fds) = baseline.unwrap_or((start_rss, start_fds));
    let (_, distinct, dups) = *received.lock().unwrap();
    println!(
        "soak: done in {:?}: published {published}, received {distinct} distinct + {dups} duplicates, \
         failures {}, max in flight {max_in_flight}, cuts {}",
        started.elapsed(),
        failures.load(Ordering::SeqCst),
        proxy.cuts()
    );
    println!(
        "soak: RSS start {start_rss} KiB, baseline {base_rss} KiB, end {end_rss} KiB \
         (growth {} KiB); fds start {start_fds}, baseline {base_fds}, end {end_fds}; \
         minute samples (RSS KiB, fds): {samples:?}",
        end_rss as i64 - base_rss as i64
    );

    assert_eq!(failures.load(Ordering::SeqCst), 0, "every publish succeeds");
    assert!(
        caught_up && distinct == published,
        "every message arrives: {distinct} of {published}"
    );
    assert!(
        proxy.cuts() >= secs / cut_every.as_secs().max(1) / 2,
        "the connections were cut: {}",
        proxy.summary()
    );
    assert!(
        end_rss <= base_rss + slack_kib,
        "RSS grew from {base_rss} KiB to {end_rss} KiB (slack {slack_kib} KiB)"
    );
    // The fd count dips while a cut connection is being replaced (15-21
    // were seen within a minute), so the baseline is the larger of the two
    // samples taken before the run settles: a dip there is not the level.
    let steady_fds = base_fds.max(start_fds);
    assert!(
        end_fds <= steady_fds + 2,
        "fds grew from {steady_fds} to {end_fds}"
    );

    publisher.disconnect().await.expect("publisher disconnect");
    subscriber
        .disconnect()
        .await
        .expect("subscriber disconnect");
    tokio::time::timeout(Duration::from_secs(10), collector)
        .await
        .expect("collector ends")
        .expect("collector task");
    drop(broker);
}
