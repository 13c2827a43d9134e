//! The async client against a scripted, hostile broker: after a proper
//! CONNACK the broker misbehaves in one way per test, and each test checks
//!
//! - (a) what the spec prescribes, read back off the socket: the client
//!   ignores it, answers it (PUBCOMP 0x92), or sends DISCONNECT with the
//!   named v5 reason code and closes;
//! - (b) the typed event: `ConnectionLost` naming the error, or for ignored
//!   misbehaviour no event and a working connection (a publish/subscribe
//!   round trip on it);
//! - (c) no panic anywhere (a panic hook counts them) and memory bounded by
//!   our maximum packet size (oversized packets fail on their header alone);
//! - (d) sane reconnection afterwards: the client reconnects with its
//!   backoff, `Reconnected` is seen, and a round trip works.

#[path = "support/process.rs"]
mod process;
#[path = "support/scripted_broker.rs"]
mod scripted_broker;

use bytes::Bytes;
use scripted_broker::packets::pid as id;
use scripted_broker::{connack_props, publish, raw_packet, vbi, Conn, ScriptedBroker, WAIT};
use std::cell::Cell;
use std::sync::Once;
use std::time::Duration;
use tern_mqtt::client::{ConnectionEvent, ConnectionStatus, ReconnectOptions};
use tern_mqtt::codec::{
    AckProperties, ConnAck, ConnAckProperties, Connect, ConnectProperties, Disconnect,
    DisconnectProperties, MqttString, Packet, ProtocolVersion, PublishAck, QoS, ReasonCode, SubAck,
    Subscribe, SubscribeProperties, SubscriptionOptions,
};
use tern_mqtt::topic::TopicFilter;
use tern_mqtt::transport::BoxedTransport;
use tern_mqtt::{Client, ConnectOptions, Error};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V311;
/// Our Maximum Packet Size in every test.
const MAX_PACKET: u32 = 64 * 1024;

// ----- panic and memory accounting -----

thread_local! {
    /// Panics on this thread. Each `#[tokio::test]` runs a current-thread
    /// runtime, so the client's driver task panics on its test's thread.
    static PANICS: Cell<usize> = const { Cell::new(0) };
}

/// Counts every panic per thread (driver tasks included), then lets the
/// default hook report it.
fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|p| p.set(p.get() + 1));
            previous(info);
        }));
    });
}

fn panics() -> usize {
    PANICS.with(Cell::get)
}

/// What several concurrent tests may add to the RSS meanwhile; far below
/// what buffering an announced 256 MB packet would cost.
const RSS_SLACK: usize = 8 * 1024 * 1024;

// ----- the harness -----

struct Case {
    broker: ScriptedBroker,
    client: Client,
    events: tern_mqtt::client::Events,
    version: ProtocolVersion,
}

fn options(broker: &ScriptedBroker, version: ProtocolVersion) -> ConnectOptions {
    ConnectOptions::new(&broker.url())
        .unwrap()
        .version(version)
        .client_id("hostile")
        .maximum_packet_size(MAX_PACKET)
        .connect_timeout(WAIT)
        .disconnect_timeout(Duration::from_millis(500))
        .reconnect(ReconnectOptions {
            enabled: true,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            ..ReconnectOptions::default()
        })
}

/// Connects a client to a fresh scripted broker; returns the case and the
/// broker's side of the connection.
async fn start(
    version: ProtocolVersion,
    tweak: impl FnOnce(ConnectOptions) -> ConnectOptions,
) -> (Case, Conn) {
    start_with(version, connack_props(), tweak).await
}

/// As [`start`], with the first CONNACK's properties.
async fn start_with(
    version: ProtocolVersion,
    props: ConnAckProperties,
    tweak: impl FnOnce(ConnectOptions) -> ConnectOptions,
) -> (Case, Conn) {
    count_panics();
    let broker = ScriptedBroker::bind().await;
    let opts = tweak(options(&broker, version));
    let (client, conn) = tokio::join!(Client::connect(opts), broker.accept_with(version, props));
    let client = client.unwrap();
    let mut events = client.events();
    // The first receiver has every event since the start: skip `Connected`.
    while events.try_recv().is_some() {}
    let case = Case {
        broker,
        client,
        events,
        version,
    };
    (case, conn)
}

async fn wait_for(
    events: &mut tern_mqtt::client::Events,
    pred: impl Fn(&ConnectionEvent) -> bool,
) -> ConnectionEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Some(e) if pred(&e) => return e,
                Some(_) => {}
                None => panic!("event stream ended (driver gone?)"),
            }
        }
    })
    .await
    .expect("the event within the wait")
}

/// Subscribes on a fresh filter, publishes to it at QoS 1 and receives the
/// broker's echo: the connection works. The broker side must be served.
async fn round_trip(client: &Client, tag: &str) {
    let topic = format!("rt/{tag}");
    let mut sub = tokio::time::timeout(WAIT, client.subscribe(&topic, QoS::AtLeastOnce))
        .await
        .expect("SUBACK within the wait")
        .expect("subscribed");
    let outcome = tokio::time::timeout(
        WAIT,
        client.publish(&topic, tag.to_owned(), QoS::AtLeastOnce, false),
    )
    .await
    .expect("PUBACK within the wait")
    .expect("published");
    assert_eq!(outcome.reason_code, ReasonCode::SUCCESS);
    let msg = tokio::time::timeout(WAIT, sub.recv())
        .await
        .expect("the echo within the wait")
        .expect("subscription open");
    assert_eq!(msg.topic.as_str(), topic);
    assert_eq!(msg.payload, Bytes::from(tag.to_owned()));
}

impl Case {
    /// (a) + (b): the client sends DISCONNECT `code` (v5; nothing in 3.1.1)
    /// and closes, and reports `ConnectionLost` naming the error. Returns
    /// the reason text.
    async fn expect_failure(
        &mut self,
        conn: &mut Conn,
        code: ReasonCode,
        names: &[&str],
    ) -> String {
        conn.expect_disconnect(code).await;
        self.expect_lost(names).await
    }

    /// (b): `ConnectionLost` whose reason names each of `names`.
    async fn expect_lost(&mut self, names: &[&str]) -> String {
        let event = wait_for(&mut self.events, |e| {
            matches!(e, ConnectionEvent::ConnectionLost { .. })
        })
        .await;
        let ConnectionEvent::ConnectionLost { reason } = event else {
            unreachable!()
        };
        eprintln!("ConnectionLost: {reason}");
        for n in names {
            assert!(
                reason.to_lowercase().contains(&n.to_lowercase()),
                "ConnectionLost reason {reason:?} names {n:?}"
            );
        }
        reason
    }

    /// (d): the client reconnects, `Reconnected` is seen, a round trip works
    /// on the new connection, and it disconnects cleanly. (c): no panic.
    async fn expect_sane_reconnect(self) {
        let mut conn = self.broker.accept_with(self.version, connack_props()).await;
        let connect = conn.connect.take().unwrap();
        assert_eq!(connect.client_id.as_str(), "hostile");
        let served = conn.serve();
        self.expect_reconnected_round_trip(served).await;
    }

    /// `Reconnected`, a round trip, a clean disconnect.
    async fn expect_reconnected_round_trip(mut self, served: tokio::task::JoinHandle<Vec<Packet>>) {
        wait_for(&mut self.events, |e| {
            matches!(e, ConnectionEvent::Reconnected { .. })
        })
        .await;
        round_trip(&self.client, "after-reconnect").await;
        self.finish(served).await;
    }

    /// (b) for ignored misbehaviour: no event, and a round trip works on the
    /// same connection; then (d) the broker drops it and the client comes
    /// back.
    async fn expect_ignored_then_reconnect(mut self, conn: Conn) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let served = conn.serve_until(rx);
        round_trip(&self.client, "same-connection").await;
        if let Some(e) = self.events.try_recv() {
            panic!("no connection event expected, got {e:?}");
        }
        let _ = tx.send(());
        let seen = served.await.unwrap();
        assert!(
            !seen.iter().any(|p| matches!(p, Packet::Disconnect(_))),
            "the client did not disconnect: {seen:?}"
        );
        self.expect_lost(&[]).await;
        self.expect_sane_reconnect().await;
    }

    async fn finish(self, served: tokio::task::JoinHandle<Vec<Packet>>) {
        tokio::time::timeout(WAIT, self.client.disconnect())
            .await
            .expect("disconnect within the wait")
            .unwrap();
        let seen = tokio::time::timeout(WAIT, served)
            .await
            .expect("the served connection ends")
            .unwrap();
        match seen.last() {
            Some(Packet::Disconnect(d)) => assert_eq!(d.reason_code, ReasonCode::SUCCESS),
            other => panic!("a clean DISCONNECT last, got {other:?}"),
        }
        assert_eq!(panics(), 0, "nothing panicked");
    }
}

/// The client subscribes to `filter` while the broker grants it.
async fn subscribe_granted(
    case: &Case,
    conn: &mut Conn,
    filter: &str,
    qos: QoS,
) -> tern_mqtt::client::Subscription {
    let (sub, _) = tokio::join!(
        case.client.subscribe(filter, qos),
        conn.expect_subscribe_and_grant()
    );
    sub.unwrap()
}

/// A PUBLISH body: topic, optional packet id, v5 properties (raw), payload.
fn publish_body(
    topic: &[u8],
    packet_id: Option<u16>,
    props: Option<&[u8]>,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    b.extend_from_slice(topic);
    if let Some(id) = packet_id {
        b.extend_from_slice(&id.to_be_bytes());
    }
    if let Some(p) = props {
        b.extend(vbi(p.len()));
        b.extend_from_slice(p);
    }
    b.extend_from_slice(payload);
    b
}

// ----- oversized and truncated packets -----

#[tokio::test]
async fn remaining_length_of_256_mb_fails_on_the_header_without_buffering() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    let before = process::rss_bytes();
    // PUBLISH announcing 268,435,455 bytes: only the fixed header is sent.
    conn.send_raw(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F]).await;
    // The DISCONNECT arrives although no byte of the body was sent.
    case.expect_failure(
        &mut conn,
        ReasonCode::PACKET_TOO_LARGE,
        &["exceeds the maximum packet size"],
    )
    .await;
    let grown = process::rss_bytes().saturating_sub(before);
    assert!(grown < RSS_SLACK, "RSS grew by {grown} bytes");
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn packet_over_our_maximum_size_fails_before_its_body() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    let before = process::rss_bytes();
    let body = publish_body(b"big", None, Some(&[]), &vec![b'x'; MAX_PACKET as usize]);
    let packet = raw_packet(0x30, &body);
    // Header and the first kilobyte only; the rest would never be needed.
    conn.send_raw(&packet[..1024]).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::PACKET_TOO_LARGE,
        &["exceeds the maximum packet size of 65536"],
    )
    .await;
    let grown = process::rss_bytes().saturating_sub(before);
    assert!(grown < RSS_SLACK, "RSS grew by {grown} bytes");
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn packet_exactly_at_our_maximum_size_is_delivered() {
    let (case, mut conn) = start(V5, |o| o).await;
    let mut sub = subscribe_granted(&case, &mut conn, "big", QoS::AtMostOnce).await;
    // Fill to exactly 65,536 bytes: 1 + 3 (remaining length) + body.
    let overhead = publish_body(b"big", None, Some(&[]), &[]).len() + 1 + 3;
    let payload = vec![b'y'; MAX_PACKET as usize - overhead];
    let packet = raw_packet(0x30, &publish_body(b"big", None, Some(&[]), &payload));
    assert_eq!(packet.len(), MAX_PACKET as usize);
    conn.send_raw(&packet).await;
    let msg = tokio::time::timeout(WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.payload.len(), payload.len());
    case.expect_ignored_then_reconnect(conn).await;
}

#[tokio::test]
async fn truncated_packet_then_silence_times_out_on_keep_alive() {
    let (mut case, mut conn) = start(V5, |mut o| {
        o.session_config_mut().ping_timeout = Some(Duration::from_millis(300));
        o.keep_alive(Duration::from_secs(1))
    })
    .await;
    // A PUBLISH announcing 100 bytes, of which 10 come; then nothing.
    let body = publish_body(b"t", None, Some(&[]), &[b'z'; 96]);
    let packet = raw_packet(0x30, &body);
    conn.send_raw(&packet[..10]).await;
    // The client pings after 1 s of its own silence; the broker never
    // answers; after the ping timeout: DISCONNECT 0x8D.
    match conn.recv().await {
        Some(Packet::PingReq(_)) => {}
        other => panic!("PINGREQ expected, got {other:?}"),
    }
    case.expect_failure(
        &mut conn,
        ReasonCode::KEEP_ALIVE_TIMEOUT,
        &["PINGREQ", "ping timeout"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn never_answering_pingreq_times_out() {
    let (mut case, mut conn) = start(V5, |mut o| {
        o.session_config_mut().ping_timeout = Some(Duration::from_millis(200));
        o.keep_alive(Duration::from_secs(1))
    })
    .await;
    match conn.recv().await {
        Some(Packet::PingReq(_)) => {}
        other => panic!("PINGREQ expected, got {other:?}"),
    }
    case.expect_failure(
        &mut conn,
        ReasonCode::KEEP_ALIVE_TIMEOUT,
        &["no answer to PINGREQ"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn bytes_dripped_one_at_a_time_make_a_valid_packet() {
    let (case, mut conn) = start(V5, |o| o).await;
    let mut sub = subscribe_granted(&case, &mut conn, "drip/#", QoS::AtLeastOnce).await;
    let p = conn.encoded(&publish("drip/x", b"slowly", QoS::AtLeastOnce, Some(id(9))));
    conn.drip(&p, Duration::from_millis(2)).await;
    let msg = tokio::time::timeout(WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&msg.payload[..], b"slowly");
    match conn.recv().await {
        Some(Packet::PubAck(a)) => assert_eq!(a.packet_id, id(9)),
        other => panic!("PUBACK 9 expected, got {other:?}"),
    }
    case.expect_ignored_then_reconnect(conn).await;
}

// ----- malformed PUBLISH -----

#[tokio::test]
async fn topic_with_invalid_utf8_is_malformed() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    let body = publish_body(&[b'a', 0xC3, 0x28], None, Some(&[]), b"p");
    conn.send_raw(&raw_packet(0x30, &body)).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::MALFORMED_PACKET,
        &["malformed packet", "UTF-8"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn topic_with_wildcards_is_a_protocol_error() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    let body = publish_body(b"a/+/b", None, Some(&[]), b"p");
    conn.send_raw(&raw_packet(0x30, &body)).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::PROTOCOL_ERROR,
        &["wildcard", "MQTT-3.3.2-2"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn publish_with_qos_3_is_malformed() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    let body = publish_body(b"q3", Some(1), Some(&[]), b"p");
    conn.send_raw(&raw_packet(0x36, &body)).await;
    case.expect_failure(&mut conn, ReasonCode::MALFORMED_PACKET, &["MQTT-3.3.1-4"])
        .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn qos1_publish_with_packet_id_0_is_refused() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    let body = publish_body(b"id0", Some(0), Some(&[]), b"p");
    conn.send_raw(&raw_packet(0x32, &body)).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::PROTOCOL_ERROR,
        &["packet identifier 0", "MQTT-2.2.1-3"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn dup_on_qos0_is_malformed() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    let body = publish_body(b"dup", None, Some(&[]), b"p");
    conn.send_raw(&raw_packet(0x38, &body)).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::MALFORMED_PACKET,
        &["MQTT-3.3.1-2", "DUP"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn duplicated_property_is_a_protocol_error() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    // Message Expiry Interval twice.
    let props = [0x02, 0, 0, 0, 10, 0x02, 0, 0, 0, 20];
    let body = publish_body(b"dupprop", None, Some(&props), b"p");
    conn.send_raw(&raw_packet(0x30, &body)).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::PROTOCOL_ERROR,
        &["protocol error", "more than once"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn topic_alias_0_is_invalid() {
    let (mut case, mut conn) = start(V5, |o| o.topic_alias_maximum(4)).await;
    let body = publish_body(b"ta0", None, Some(&[0x23, 0, 0]), b"p");
    conn.send_raw(&raw_packet(0x30, &body)).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::TOPIC_ALIAS_INVALID,
        &["topic alias 0"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn topic_alias_above_our_maximum_is_invalid() {
    let (mut case, mut conn) = start(V5, |o| o.topic_alias_maximum(4)).await;
    let connect = conn.connect.take().unwrap();
    assert_eq!(connect.properties.topic_alias_maximum, Some(4));
    let body = publish_body(b"ta5", None, Some(&[0x23, 0, 5]), b"p");
    conn.send_raw(&raw_packet(0x30, &body)).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::TOPIC_ALIAS_INVALID,
        &["topic alias invalid"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn topic_alias_never_set_is_invalid() {
    let (mut case, mut conn) = start(V5, |o| o.topic_alias_maximum(4)).await;
    // Empty topic, alias 2, which no earlier PUBLISH mapped.
    let body = publish_body(b"", None, Some(&[0x23, 0, 2]), b"p");
    conn.send_raw(&raw_packet(0x30, &body)).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::TOPIC_ALIAS_INVALID,
        &["topic alias invalid"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn flood_beyond_our_receive_maximum_is_refused() {
    let (mut case, mut conn) = start(V5, |o| o.receive_maximum(2).manual_acks(true)).await;
    let connect = conn.connect.take().unwrap();
    assert_eq!(connect.properties.receive_maximum, Some(id(2)));
    let mut sub = subscribe_granted(&case, &mut conn, "flood/#", QoS::AtLeastOnce).await;
    let before = process::rss_bytes();
    for n in 1..=3u16 {
        conn.send(&publish("flood/x", b"f", QoS::AtLeastOnce, Some(id(n))))
            .await;
    }
    case.expect_failure(
        &mut conn,
        ReasonCode::RECEIVE_MAXIMUM_EXCEEDED,
        &["receive maximum exceeded"],
    )
    .await;
    let grown = process::rss_bytes().saturating_sub(before);
    assert!(grown < RSS_SLACK, "RSS grew by {grown} bytes");
    // The two within the maximum were delivered, unacknowledged.
    for _ in 0..2 {
        let m = tokio::time::timeout(WAIT, sub.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(m.needs_ack());
    }
    case.expect_sane_reconnect().await;
}

// ----- fixed header and packet types -----

#[tokio::test]
async fn packet_type_0_is_malformed() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    conn.send_raw(&[0x00, 0x00]).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::MALFORMED_PACKET,
        &["malformed packet"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn packet_type_15_in_v311_closes_without_disconnect() {
    let (mut case, mut conn) = start(V311, |o| o).await;
    conn.send_raw(&[0xF0, 0x00]).await;
    // 3.1.1 has no DISCONNECT from the client on errors: the client closes.
    case.expect_failure(
        &mut conn,
        ReasonCode::MALFORMED_PACKET,
        &["invalid packet from the server"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn reserved_flags_on_puback_are_malformed() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    conn.send_raw(&[0x41, 0x02, 0x00, 0x01]).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::MALFORMED_PACKET,
        &["reserved fixed header flags"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn non_minimal_remaining_length_is_malformed() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    // PINGRESP with remaining length 0 written in two bytes.
    conn.send_raw(&[0xD0, 0x80, 0x00]).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::MALFORMED_PACKET,
        &["shortest form", "MQTT-1.5.5-1"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn remaining_length_of_five_bytes_is_malformed() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    conn.send_raw(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::MALFORMED_PACKET,
        &["longer than four bytes"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn server_sending_subscribe_is_a_protocol_error() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    conn.send(&Packet::Subscribe(Subscribe {
        packet_id: id(1),
        properties: SubscribeProperties::default(),
        filters: vec![(
            TopicFilter::new("x/#").unwrap(),
            SubscriptionOptions::qos(QoS::AtMostOnce),
        )],
    }))
    .await;
    case.expect_failure(
        &mut conn,
        ReasonCode::PROTOCOL_ERROR,
        &["client-to-server packet"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn server_sending_pingreq_is_a_protocol_error() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    conn.send_raw(&[0xC0, 0x00]).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::PROTOCOL_ERROR,
        &["client-to-server packet"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn server_sending_connect_is_a_protocol_error() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    conn.send(&Packet::Connect(Box::new(Connect {
        protocol_version: V5,
        clean_start: true,
        keep_alive: 0,
        properties: ConnectProperties::default(),
        client_id: MqttString::try_from("evil").unwrap(),
        will: None,
        username: None,
        password: None,
    })))
    .await;
    case.expect_failure(
        &mut conn,
        ReasonCode::PROTOCOL_ERROR,
        &["client-to-server packet"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

// ----- acknowledgements -----

#[tokio::test]
async fn property_not_allowed_in_suback_is_malformed() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    let client = case.client.clone();
    let subscribing = tokio::spawn(async move { client.subscribe("ta/#", QoS::AtLeastOnce).await });
    let Some(Packet::Subscribe(s)) = conn.recv().await else {
        panic!("SUBSCRIBE expected")
    };
    // SUBACK carrying a Topic Alias (0x23), which only PUBLISH may carry.
    let mut body = s.packet_id.get().to_be_bytes().to_vec();
    body.extend([3, 0x23, 0x00, 0x01, 0x01]);
    conn.send_raw(&raw_packet(0x90, &body)).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::MALFORMED_PACKET,
        &["malformed packet"],
    )
    .await;
    // The SUBSCRIBE is sent again on the new connection and completes there.
    let mut conn = case.broker.accept_with(V5, connack_props()).await;
    conn.expect_subscribe_and_grant().await;
    let sub = tokio::time::timeout(WAIT, subscribing)
        .await
        .unwrap()
        .unwrap();
    assert!(sub.is_ok(), "{sub:?}");
    let served = conn.serve();
    case.expect_reconnected_round_trip(served).await;
}

#[tokio::test]
async fn suback_with_the_wrong_number_of_reason_codes_is_a_protocol_error() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    let client = case.client.clone();
    let subscribing =
        tokio::spawn(async move { client.subscribe("two/#", QoS::AtLeastOnce).await });
    let Some(Packet::Subscribe(s)) = conn.recv().await else {
        panic!("SUBSCRIBE expected")
    };
    conn.send(&Packet::SubAck(SubAck {
        packet_id: s.packet_id,
        properties: AckProperties::default(),
        reason_codes: vec![ReasonCode(1), ReasonCode(1)],
    }))
    .await;
    case.expect_failure(
        &mut conn,
        ReasonCode::PROTOCOL_ERROR,
        &["wrong number of reason codes"],
    )
    .await;
    let result = tokio::time::timeout(WAIT, subscribing)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(result, Err(Error::Command(_))),
        "the subscribe fails: {result:?}"
    );
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn puback_for_an_id_never_used_is_ignored() {
    let (case, mut conn) = start(V5, |o| o).await;
    conn.send(&Packet::PubAck(PublishAck::new(id(4242)))).await;
    case.expect_ignored_then_reconnect(conn).await;
}

#[tokio::test]
async fn pubrel_for_an_unknown_id_is_answered_with_pubcomp_0x92() {
    let (case, mut conn) = start(V5, |o| o).await;
    conn.send(&Packet::PubRel(PublishAck::new(id(77)))).await;
    match conn.recv().await {
        Some(Packet::PubComp(c)) => {
            assert_eq!(c.packet_id, id(77));
            assert_eq!(c.reason_code, ReasonCode::PACKET_IDENTIFIER_NOT_FOUND);
        }
        other => panic!("PUBCOMP 0x92 expected, got {other:?}"),
    }
    case.expect_ignored_then_reconnect(conn).await;
}

#[tokio::test]
async fn pubrel_for_an_unknown_id_in_v311_is_answered_with_pubcomp() {
    let (case, mut conn) = start(V311, |o| o).await;
    conn.send(&Packet::PubRel(PublishAck::new(id(78)))).await;
    match conn.recv().await {
        Some(Packet::PubComp(c)) => assert_eq!(c.packet_id, id(78)),
        other => panic!("PUBCOMP expected, got {other:?}"),
    }
    case.expect_ignored_then_reconnect(conn).await;
}

#[tokio::test]
async fn invalid_reason_code_in_puback_is_a_protocol_error() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    let client = case.client.clone();
    let publishing = tokio::spawn(async move {
        client
            .publish("rc/x", "payload", QoS::AtLeastOnce, false)
            .await
    });
    let Some(Packet::Publish(p)) = conn.recv().await else {
        panic!("PUBLISH expected")
    };
    let pid = p.packet_id.unwrap().get().to_be_bytes();
    // Reason code 0x05 is not one PUBACK may carry.
    conn.send_raw(&[0x40, 0x03, pid[0], pid[1], 0x05]).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::PROTOCOL_ERROR,
        &["reason code not valid", "MQTT-3.4.2-1"],
    )
    .await;
    // The session was not kept: the publish is sent again, as a new
    // message, on the next connection, and completes there.
    let mut conn = case.broker.accept_with(V5, connack_props()).await;
    let served = {
        match conn.recv().await {
            Some(Packet::Publish(again)) => {
                assert_eq!(&again.payload[..], b"payload");
                assert!(!again.dup);
                conn.send(&Packet::PubAck(PublishAck::new(again.packet_id.unwrap())))
                    .await;
            }
            other => panic!("the PUBLISH again, got {other:?}"),
        }
        conn.serve()
    };
    let outcome = tokio::time::timeout(WAIT, publishing)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.unwrap().reason_code, ReasonCode::SUCCESS);
    case.expect_reconnected_round_trip(served).await;
}

// ----- CONNACK and AUTH -----

#[tokio::test]
async fn second_connack_is_a_protocol_error() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    conn.connack(false, connack_props()).await;
    case.expect_failure(&mut conn, ReasonCode::PROTOCOL_ERROR, &["second CONNACK"])
        .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn session_present_after_clean_start_is_a_protocol_error() {
    let (mut case, conn) = start(V5, |o| o).await;
    // The broker drops the first connection; the client reconnects with
    // Clean Start (no session expiry) and is told a session is present.
    drop(conn);
    case.expect_lost(&["closed"]).await;
    let mut conn = case.broker.accept(V5).await;
    assert!(conn.connect.as_ref().unwrap().clean_start);
    conn.connack(true, connack_props()).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::PROTOCOL_ERROR,
        &["session present after a clean start"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn session_present_on_the_first_connack_fails_connect() {
    count_panics();
    let broker = ScriptedBroker::bind().await;
    let opts = options(&broker, V5);
    let (result, ()) = tokio::join!(Client::connect(opts), async {
        let mut conn = broker.accept(V5).await;
        conn.connack(true, connack_props()).await;
        conn.expect_disconnect(ReasonCode::PROTOCOL_ERROR).await;
    });
    match result {
        Err(e @ Error::Protocol(_)) => {
            assert!(
                e.to_string()
                    .contains("session present after a clean start"),
                "{e}"
            )
        }
        other => panic!("connect fails with the protocol error, got {other:?}"),
    }
    assert_eq!(panics(), 0, "nothing panicked");
}

#[tokio::test]
async fn auth_without_an_authentication_method_is_a_protocol_error() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    conn.send_raw(&[0xF0, 0x00]).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::PROTOCOL_ERROR,
        &["AUTH without an authentication method"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

// ----- more state violations -----

/// The broker answers a publish with the wrong acknowledgement: the client
/// closes with a protocol error, then re-sends the publish on the next
/// connection, where it completes.
async fn wrong_ack_for_a_publish(qos: QoS, wrong_ack: fn(PublishAck) -> Packet, expected: &str) {
    let (mut case, mut conn) = start(V5, |o| o).await;
    let client = case.client.clone();
    let publishing = tokio::spawn(async move { client.publish("q/x", "m", qos, false).await });
    let Some(Packet::Publish(p)) = conn.recv().await else {
        panic!("PUBLISH expected")
    };
    conn.send(&wrong_ack(PublishAck::new(p.packet_id.unwrap())))
        .await;
    case.expect_failure(&mut conn, ReasonCode::PROTOCOL_ERROR, &[expected])
        .await;
    // Resent on the new connection (the serving broker acknowledges it).
    let served = case.broker.accept_with(V5, connack_props()).await.serve();
    let outcome = tokio::time::timeout(WAIT, publishing)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.unwrap().reason_code, ReasonCode::SUCCESS);
    case.expect_reconnected_round_trip(served).await;
}

#[tokio::test]
async fn pubrec_for_a_qos1_exchange_is_a_protocol_error() {
    wrong_ack_for_a_publish(QoS::AtLeastOnce, Packet::PubRec, "PUBREC for a QoS 1").await;
}

#[tokio::test]
async fn pubcomp_before_pubrel_is_a_protocol_error() {
    // PUBCOMP while the client still awaits PUBREC.
    wrong_ack_for_a_publish(QoS::ExactlyOnce, Packet::PubComp, "PUBCOMP before PUBREL").await;
}

#[tokio::test]
async fn unsuback_for_a_subscribe_is_a_protocol_error() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    let client = case.client.clone();
    let subscribing = tokio::spawn(async move { client.subscribe("u/#", QoS::AtMostOnce).await });
    let Some(Packet::Subscribe(s)) = conn.recv().await else {
        panic!("SUBSCRIBE expected")
    };
    conn.send(&Packet::UnsubAck(tern_mqtt::codec::UnsubAck {
        packet_id: s.packet_id,
        properties: AckProperties::default(),
        reason_codes: vec![ReasonCode::SUCCESS],
    }))
    .await;
    case.expect_failure(
        &mut conn,
        ReasonCode::PROTOCOL_ERROR,
        &["UNSUBACK for a SUBSCRIBE"],
    )
    .await;
    // The SUBSCRIBE goes out again and completes on the new connection.
    let served = case.broker.accept_with(V5, connack_props()).await.serve();
    let sub = tokio::time::timeout(WAIT, subscribing)
        .await
        .unwrap()
        .unwrap();
    assert!(sub.is_ok(), "{sub:?}");
    case.expect_reconnected_round_trip(served).await;
}

#[tokio::test]
async fn qos2_flood_without_pubrel_exceeds_receive_maximum_with_automatic_acks() {
    let (mut case, mut conn) = start(V5, |o| o.receive_maximum(2)).await;
    let mut sub = subscribe_granted(&case, &mut conn, "q2flood/#", QoS::ExactlyOnce).await;
    for n in 1..=2u16 {
        conn.send(&publish("q2flood/x", b"f", QoS::ExactlyOnce, Some(id(n))))
            .await;
        match conn.recv().await {
            Some(Packet::PubRec(r)) => assert_eq!(r.packet_id, id(n)),
            other => panic!("PUBREC {n} expected, got {other:?}"),
        }
    }
    // Without PUBREL the two still count against our Receive Maximum.
    conn.send(&publish("q2flood/x", b"f", QoS::ExactlyOnce, Some(id(3))))
        .await;
    case.expect_failure(
        &mut conn,
        ReasonCode::RECEIVE_MAXIMUM_EXCEEDED,
        &["receive maximum exceeded"],
    )
    .await;
    for _ in 0..2 {
        tokio::time::timeout(WAIT, sub.recv())
            .await
            .unwrap()
            .unwrap();
    }
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn qos2_publish_sent_again_before_pubrel_is_not_delivered_twice() {
    let (case, mut conn) = start(V5, |o| o).await;
    let mut sub = subscribe_granted(&case, &mut conn, "once/#", QoS::ExactlyOnce).await;
    let first = publish("once/x", b"only once", QoS::ExactlyOnce, Some(id(5)));
    conn.send(&first).await;
    let Packet::Publish(mut again) = first else {
        unreachable!()
    };
    again.dup = true;
    conn.send(&Packet::Publish(again)).await;
    for _ in 0..2 {
        match conn.recv().await {
            Some(Packet::PubRec(r)) => assert_eq!(r.packet_id, id(5)),
            other => panic!("PUBREC 5 expected, got {other:?}"),
        }
    }
    conn.send(&Packet::PubRel(PublishAck::new(id(5)))).await;
    match conn.recv().await {
        Some(Packet::PubComp(c)) => assert_eq!(c.reason_code, ReasonCode::SUCCESS),
        other => panic!("PUBCOMP expected, got {other:?}"),
    }
    let m = tokio::time::timeout(WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&m.payload[..], b"only once");
    // The round trip goes to another filter, so anything else queued here
    // would be the duplicate.
    case.expect_ignored_then_reconnect(conn).await;
    let rest = tokio::time::timeout(WAIT, sub.recv()).await.unwrap();
    assert!(rest.is_none(), "the duplicate was not delivered: {rest:?}");
}

#[tokio::test]
async fn subscription_identifier_0_in_publish_is_refused() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    let body = publish_body(b"sid0", None, Some(&[0x0B, 0x00]), b"p");
    conn.send_raw(&raw_packet(0x30, &body)).await;
    case.expect_failure(
        &mut conn,
        ReasonCode::PROTOCOL_ERROR,
        &["subscription identifier"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn packet_before_connack_is_a_protocol_error() {
    let (mut case, conn) = start(V5, |o| o).await;
    drop(conn);
    case.expect_lost(&["closed"]).await;
    let mut conn = case.broker.accept(V5).await;
    conn.send(&publish("early", b"p", QoS::AtMostOnce, None))
        .await;
    case.expect_failure(&mut conn, ReasonCode::PROTOCOL_ERROR, &["before CONNACK"])
        .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn connack_with_receive_maximum_0_is_a_protocol_error() {
    let (mut case, conn) = start(V5, |o| o).await;
    drop(conn);
    case.expect_lost(&["closed"]).await;
    let mut conn = case.broker.accept(V5).await;
    // CONNACK: flags 0, reason 0, properties: Receive Maximum (0x21) = 0.
    conn.send_raw(&[0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x00])
        .await;
    case.expect_failure(&mut conn, ReasonCode::PROTOCOL_ERROR, &["receive maximum"])
        .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn server_keep_alive_in_connack_replaces_ours() {
    count_panics();
    let broker = ScriptedBroker::bind().await;
    let mut opts = options(&broker, V5).keep_alive(Duration::from_secs(60));
    opts.session_config_mut().ping_timeout = Some(Duration::from_millis(200));
    let props = tern_mqtt::codec::ConnAckProperties {
        server_keep_alive: Some(1),
        ..connack_props()
    };
    let (client, conn) = tokio::join!(Client::connect(opts), broker.accept_with(V5, props));
    let mut case = Case {
        events: client.as_ref().unwrap().events(),
        client: client.unwrap(),
        broker,
        version: V5,
    };
    let mut conn = conn;
    assert_eq!(conn.connect.as_ref().unwrap().keep_alive, 60);
    // The client pings after the server's 1 s, not its own 60 s.
    match conn.recv().await {
        Some(Packet::PingReq(_)) => {}
        other => panic!("PINGREQ expected, got {other:?}"),
    }
    case.expect_failure(
        &mut conn,
        ReasonCode::KEEP_ALIVE_TIMEOUT,
        &["no answer to PINGREQ"],
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn broker_that_stops_reading_is_detected_by_keep_alive() {
    let (mut case, mut conn) = start(V5, |mut o| {
        o.session_config_mut().ping_timeout = Some(Duration::from_millis(300));
        o.keep_alive(Duration::from_secs(1))
    })
    .await;
    // The broker stops reading; the client writes until the socket buffers
    // are full and its writes block.
    let client = case.client.clone();
    let flooding = tokio::spawn(async move {
        let payload = Bytes::from(vec![b'w'; 60 * 1024]);
        for _ in 0..1000 {
            if client
                .publish("fill", payload.clone(), QoS::AtMostOnce, false)
                .await
                .is_err()
            {
                break;
            }
        }
    });
    // Keep alive still works while writes are blocked: no PINGRESP (nor any
    // packet) arrives, so the client gives up on the connection.
    case.expect_lost(&["no answer to PINGREQ"]).await;
    // The client gave up with a write half done: what it had written, then
    // EOF (a DISCONNECT cannot get through a socket nobody reads).
    let flooded = conn.drain_to_eof().await;
    assert!(
        flooded > 64 * 1024,
        "the client had written {flooded} bytes"
    );
    flooding.abort();
    case.expect_sane_reconnect().await;
}

// ----- the broker's reason codes, and brokers without subscription identifiers -----

/// Sends the broker's DISCONNECT.
async fn server_disconnect(
    conn: &mut Conn,
    reason_code: ReasonCode,
    properties: DisconnectProperties,
) {
    conn.send(&Packet::Disconnect(Disconnect {
        reason_code,
        properties,
    }))
    .await;
}

/// Refuses the connection with a CONNACK carrying `reason_code`.
async fn refuse(conn: &mut Conn, reason_code: ReasonCode, properties: ConnAckProperties) {
    conn.send(&Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        reason_code,
        properties,
    })))
    .await;
}

/// Drops the first connection and accepts the client's next one, before
/// answering its CONNECT.
async fn next_connection(case: &mut Case, first: Conn) -> Conn {
    drop(first);
    case.expect_lost(&["closed"]).await;
    case.broker.accept(case.version).await
}

/// The next connection within `within` (less than the broker's own
/// [`WAIT`]), or None.
async fn accept_within(broker: &ScriptedBroker, within: Duration) -> Option<BoxedTransport> {
    tokio::time::timeout(within, broker.accept_stream())
        .await
        .ok()
}

/// The next event of `expected`'s kind, which must be `expected`.
async fn expect_event(events: &mut tern_mqtt::client::Events, expected: ConnectionEvent) {
    let kind = std::mem::discriminant(&expected);
    let got = wait_for(events, |e| std::mem::discriminant(e) == kind).await;
    assert_eq!(got, expected);
}

fn server_reference(s: &str) -> Option<MqttString> {
    Some(MqttString::try_from(s).unwrap())
}

#[tokio::test]
async fn disconnect_0x8e_session_taken_over_is_reported_and_never_fought() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    server_disconnect(
        &mut conn,
        ReasonCode::SESSION_TAKEN_OVER,
        Default::default(),
    )
    .await;
    // The client closes without a word.
    conn.expect_eof().await;
    wait_for(&mut case.events, |e| {
        *e == ConnectionEvent::SessionTakenOver
    })
    .await;
    wait_for(&mut case.events, |e| *e == ConnectionEvent::Closed).await;
    assert_eq!(case.client.status(), ConnectionStatus::Closed);
    // Reconnect delays are 10 to 50 ms here: a second without a connection
    // means none comes.
    assert!(
        accept_within(&case.broker, Duration::from_secs(1))
            .await
            .is_none(),
        "the taken-over client connected again"
    );
    let after = case
        .client
        .publish("after", "x", QoS::AtLeastOnce, false)
        .await;
    assert!(
        matches!(after, Err(Error::SessionTakenOver | Error::Closed)),
        "{after:?}"
    );
    assert_eq!(panics(), 0, "nothing panicked");
}

#[tokio::test]
async fn disconnect_0x9c_use_another_server_carries_the_reference_and_the_client_retries() {
    let (mut case, mut conn) = start(V5, |o| o).await;
    let properties = DisconnectProperties {
        server_reference: server_reference("other.example:1883"),
        ..Default::default()
    };
    server_disconnect(&mut conn, ReasonCode::USE_ANOTHER_SERVER, properties).await;
    conn.expect_eof().await;
    expect_event(
        &mut case.events,
        ConnectionEvent::DisconnectedByServer {
            reason_code: ReasonCode::USE_ANOTHER_SERVER,
            reason_string: None,
            server_reference: Some("other.example:1883".to_owned()),
        },
    )
    .await;
    wait_for(&mut case.events, |e| {
        matches!(e, ConnectionEvent::Reconnecting { .. })
    })
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn connack_0x9d_server_moved_carries_the_reference_and_the_client_retries() {
    let (mut case, conn) = start(V5, |o| o).await;
    let mut conn = next_connection(&mut case, conn).await;
    let properties = ConnAckProperties {
        server_reference: server_reference("moved.example"),
        ..Default::default()
    };
    refuse(&mut conn, ReasonCode::SERVER_MOVED, properties).await;
    expect_event(
        &mut case.events,
        ConnectionEvent::Refused {
            reason_code: ReasonCode::SERVER_MOVED,
            reason_string: None,
            server_reference: Some("moved.example".to_owned()),
        },
    )
    .await;
    case.expect_sane_reconnect().await;
}

#[tokio::test]
async fn connack_0x89_server_busy_on_reconnect_waits_half_the_busy_delay_at_least() {
    // Default reconnect options: busy delay 5 s, so 2.5 s at least.
    let (mut case, conn) = start(V5, |o| o.reconnect(ReconnectOptions::default())).await;
    let mut conn = next_connection(&mut case, conn).await;
    refuse(&mut conn, ReasonCode::SERVER_BUSY, Default::default()).await;
    let refused_at = tokio::time::Instant::now();
    wait_for(&mut case.events, |e| {
        matches!(e, ConnectionEvent::Refused { reason_code, .. } if *reason_code == ReasonCode::SERVER_BUSY)
    })
    .await;
    let e = wait_for(&mut case.events, |e| {
        matches!(e, ConnectionEvent::Reconnecting { .. })
    })
    .await;
    let ConnectionEvent::Reconnecting { delay, .. } = e else {
        unreachable!()
    };
    let busy = ReconnectOptions::default().busy_delay;
    assert!(
        delay >= busy / 2 && delay <= busy,
        "the delay after 0x89: {delay:?}"
    );
    // The next attempt waits that long.
    let stream = loop {
        if let Some(s) = accept_within(&case.broker, Duration::from_secs(2)).await {
            break s;
        }
        assert!(
            refused_at.elapsed() < busy + WAIT,
            "no attempt after the busy delay"
        );
    };
    let waited = refused_at.elapsed();
    assert!(
        waited >= busy / 2 && waited >= delay,
        "the next attempt came {waited:?} after 0x89 (delay {delay:?})"
    );
    let mut conn = Conn::new(stream, V5);
    match conn.recv().await {
        Some(Packet::Connect(_)) => {}
        other => panic!("CONNECT expected, got {other:?}"),
    }
    conn.connack(false, connack_props()).await;
    let served = conn.serve();
    case.expect_reconnected_round_trip(served).await;
}

/// Subscribes to `filter`, checks that the SUBSCRIBE carries no
/// Subscription Identifier, and grants it.
async fn subscribe_without_identifier(
    case: &Case,
    conn: &mut Conn,
    filter: &str,
) -> tern_mqtt::client::Subscription {
    let granting = async {
        match conn.recv_skipping_pings().await {
            Some(Packet::Subscribe(s)) => {
                assert_eq!(
                    s.properties.subscription_identifier, None,
                    "SUBSCRIBE {filter} carries no identifier"
                );
                conn.send(&Packet::SubAck(SubAck {
                    packet_id: s.packet_id,
                    properties: AckProperties::default(),
                    reason_codes: vec![ReasonCode::GRANTED_QOS_1],
                }))
                .await;
            }
            other => panic!("SUBSCRIBE expected, got {other:?}"),
        }
    };
    let (sub, ()) = tokio::join!(case.client.subscribe(filter, QoS::AtLeastOnce), granting);
    sub.unwrap()
}

/// Sends a QoS 1 PUBLISH and expects its one PUBACK next.
async fn publish_acked(conn: &mut Conn, topic: &str, payload: &'static [u8], n: u16) {
    conn.send(&publish(topic, payload, QoS::AtLeastOnce, Some(id(n))))
        .await;
    match conn.recv_skipping_pings().await {
        Some(Packet::PubAck(a)) => assert_eq!(a.packet_id, id(n), "the PUBACK of {topic}"),
        other => panic!("PUBACK {n} expected, got {other:?}"),
    }
}

async fn payloads(sub: &mut tern_mqtt::client::Subscription, n: usize) -> Vec<Bytes> {
    let mut got = Vec::new();
    for _ in 0..n {
        let m = tokio::time::timeout(WAIT, sub.recv())
            .await
            .expect("a message within the wait")
            .expect("subscription open");
        got.push(m.payload);
    }
    got
}

#[tokio::test]
async fn without_subscription_identifiers_available_overlapping_subscriptions_route_by_filter() {
    let props = ConnAckProperties {
        subscription_identifiers_available: Some(false),
        ..connack_props()
    };
    let (case, mut conn) = start_with(V5, props, |o| o).await;
    let mut plus = subscribe_without_identifier(&case, &mut conn, "ids/+").await;
    let mut hash = subscribe_without_identifier(&case, &mut conn, "ids/#").await;
    // One copy for both subscriptions (a broker may send one per matching
    // subscription, but need not): each gets it, and it is acked once.
    publish_acked(&mut conn, "ids/x", b"both", 1).await;
    // Only ids/# matches.
    publish_acked(&mut conn, "ids/a/b", b"deep", 2).await;
    publish_acked(&mut conn, "ids/y", b"both again", 3).await;
    assert_eq!(payloads(&mut plus, 2).await, ["both", "both again"]);
    assert_eq!(payloads(&mut hash, 3).await, ["both", "deep", "both again"]);
    let served = conn.serve();
    case.finish(served).await;
}
