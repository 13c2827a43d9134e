//! What the client tells an operator: the metrics it records through the
//! `metrics` facade, read back with `metrics-util`'s debugging recorder (the
//! counters must equal the messages a scripted broker saw and sent), and
//! its `tracing` events at every level (never a payload or a password).

#[path = "support/scripted_broker.rs"]
mod scripted_broker;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use scripted_broker::{connack_props, publish, Conn, ScriptedBroker};
use std::num::NonZeroU16;
use tern_mqtt::codec::{Packet, ProtocolVersion, PublishAck, QoS};
use tern_mqtt::{Client, ConnectOptions};

/// The value of one metric with these labels (besides `client_id`).
fn value(
    snapshot: &[(metrics_util::CompositeKey, DebugValue)],
    name: &str,
    labels: &[(&str, &str)],
) -> Option<DebugValue> {
    snapshot.iter().find_map(|(key, v)| {
        let k = key.key();
        let matches = k.name() == name
            && labels
                .iter()
                .all(|(n, val)| k.labels().any(|l| l.key() == *n && l.value() == *val));
        matches.then(|| match v {
            DebugValue::Counter(n) => DebugValue::Counter(*n),
            DebugValue::Gauge(g) => DebugValue::Gauge(*g),
            DebugValue::Histogram(h) => DebugValue::Histogram(h.clone()),
        })
    })
}

fn counter(
    snapshot: &[(metrics_util::CompositeKey, DebugValue)],
    name: &str,
    labels: &[(&str, &str)],
) -> u64 {
    match value(snapshot, name, labels) {
        Some(DebugValue::Counter(n)) => n,
        other => panic!("{name} {labels:?}: {other:?}"),
    }
}

/// Held by each test for its whole run: `tracing` caches each callsite's
/// interest when the callsite is first hit, and a callsite first hit by the
/// untraced test's threads while the traced test's scoped subscriber lives
/// on another thread can be cached as "never" (tokio-rs/tracing#3611),
/// losing every event of the traced test (seen once under a loaded CI
/// run). One test at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn counters_equal_the_messages_sent_and_received() {
    let _alone = one_at_a_time();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(exchange())
    });
    let snapshot: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(k, _, _, v)| (k, v))
        .collect();
    assert_eq!(
        counter(&snapshot, "tern_messages_sent_total", &[("qos", "1")]),
        10
    );
    assert_eq!(
        counter(&snapshot, "tern_messages_received_total", &[("qos", "1")]),
        7
    );
    assert_eq!(
        counter(&snapshot, "tern_messages_received_total", &[("qos", "0")]),
        3
    );
    assert!(counter(&snapshot, "tern_bytes_received_total", &[]) > 0);
    assert!(counter(&snapshot, "tern_bytes_sent_total", &[]) > 0);
    assert_eq!(
        counter(&snapshot, "tern_reconnects_total", &[("cause", "lost")]),
        0
    );
    match value(&snapshot, "tern_publish_duration_seconds", &[("qos", "1")]) {
        Some(DebugValue::Histogram(samples)) => assert_eq!(samples.len(), 10),
        other => panic!("histogram: {other:?}"),
    }
    assert!(snapshot.iter().all(|(k, _)| k.kind() != MetricKind::Counter
        || k.key()
            .labels()
            .any(|l| l.key() == "client_id" && l.value() == "metered")));
}

/// A client connected in memory with `tweak`ed options, and the broker's end.
async fn connected(
    tweak: impl FnOnce(ConnectOptions) -> ConnectOptions,
) -> (Client, Conn, ScriptedBroker) {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = tweak(
        ConnectOptions::new("mqtt://memory")
            .unwrap()
            .connector(connector),
    );
    let (client, conn) = tokio::join!(
        Client::connect(opts),
        broker.accept_with(ProtocolVersion::V5, connack_props())
    );
    (client.unwrap(), conn, broker)
}

async fn exchange() {
    let (client, mut conn, _broker) = connected(|o| o.client_id("metered")).await;
    let c = client.clone();
    let subscribing = tokio::spawn(async move { c.subscribe("m/#", QoS::AtLeastOnce).await });
    conn.expect_subscribe_and_grant().await;
    let mut sub = subscribing.await.unwrap().unwrap();
    let c = client.clone();
    let publishing = tokio::spawn(async move {
        for i in 0..10 {
            c.publish("out", format!("{i}"), QoS::AtLeastOnce, false)
                .await
                .unwrap();
        }
    });
    for _ in 0..10 {
        match conn.recv().await {
            Some(Packet::Publish(p)) => {
                conn.send(&Packet::PubAck(PublishAck::new(p.packet_id.unwrap())))
                    .await
            }
            other => panic!("PUBLISH expected, got {other:?}"),
        }
    }
    publishing.await.unwrap();
    for i in 1..=7u16 {
        conn.send(&publish("m/t", b"in", QoS::AtLeastOnce, NonZeroU16::new(i)))
            .await;
    }
    for _ in 0..3 {
        conn.send(&publish("m/t", b"in0", QoS::AtMostOnce, None))
            .await;
    }
    for _ in 0..10 {
        sub.recv().await.unwrap();
    }
}

/// A `tracing` writer that keeps everything written, for the test to read.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn trace_events_name_packets_and_topics_but_never_payloads_or_passwords() {
    let _alone = one_at_a_time();
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        // Interest worked out again with this thread's subscriber in place
        // (tokio-rs/tracing#3611: it may have been cached from a thread
        // without one).
        tracing::callsite::rebuild_interest_cache();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(async {
                let (client, mut conn, _broker) =
                    connected(|o| o.client_id("traced").credentials("user", "PASSWORD-MARKER"))
                        .await;
                let c = client.clone();
                let p = tokio::spawn(async move {
                    c.publish("traced/topic", "PAYLOAD-MARKER", QoS::AtLeastOnce, false)
                        .await
                });
                match conn.recv().await {
                    Some(Packet::Publish(p)) => {
                        conn.send(&Packet::PubAck(PublishAck::new(p.packet_id.unwrap())))
                            .await
                    }
                    other => panic!("PUBLISH expected, got {other:?}"),
                }
                p.await.unwrap().unwrap();
            })
    });
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("PUBLISH") && text.contains("traced/topic"),
        "{text}"
    );
    assert!(text.contains("packet_id=1"), "{text}");
    assert!(
        !text.contains("PAYLOAD-MARKER"),
        "a payload reached the logs"
    );
    assert!(
        !text.contains("PASSWORD-MARKER"),
        "a password reached the logs"
    );
}
