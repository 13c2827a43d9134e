//! The application-facing API of issue 10, in memory on paused time: the
//! driver talks to a scripted broker through a `MemoryConnector`, so each
//! test is deterministic. Everything here is imported from the crate root.

#[path = "support/scripted_broker.rs"]
mod scripted_broker;

use futures_util::{SinkExt, StreamExt};
use scripted_broker::{
    connack_props, connect_with, memory_options, publish, Conn, MemoryConnector, ScriptedBroker,
};
use std::num::{NonZeroU16, NonZeroU32};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tern_mqtt::codec::{
    ConnAck, ConnAckProperties, MqttString, Packet, ProtocolVersion, PubAck, StringError,
};
use tern_mqtt::prelude::*;

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V311;
const MARKER: &str = "MARKER-PASSWORD-7f3a";

fn options(connector: &MemoryConnector, version: ProtocolVersion) -> ConnectOptions {
    memory_options(connector, version, "api")
}

/// Grants the next SUBSCRIBE; returns the subscription identifier it
/// carried (v5).
async fn grant(conn: &mut Conn) -> Option<NonZeroU32> {
    let Some(Packet::Subscribe(s)) = conn.recv_skipping_pings().await else {
        panic!("expected SUBSCRIBE");
    };
    conn.grant(&s).await;
    s.properties.subscription_identifier
}

async fn subscribe(
    client: &Client,
    conn: &mut Conn,
    filter: &str,
) -> (Subscription, Vec<NonZeroU32>) {
    let (sub, sid) = tokio::join!(client.subscribe(filter, QoS::AtLeastOnce), grant(conn));
    (sub.unwrap(), sid.into_iter().collect())
}

/// A QoS 1 PUBLISH carrying subscription identifiers `sids`.
fn publish_with_ids(topic: &str, payload: &'static [u8], id: u16, sids: &[NonZeroU32]) -> Packet {
    let mut p = publish(topic, payload, QoS::AtLeastOnce, NonZeroU16::new(id));
    if let Packet::Publish(p) = &mut p {
        p.properties.subscription_identifiers = sids.to_vec();
    }
    p
}

async fn next(stream: &mut Subscription) -> Message {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("a message within the wait")
        .expect("the stream goes on")
}

/// The PUBACK packet ids the client sends within `within`.
async fn pubacks_within(conn: &mut Conn, within: Duration) -> Vec<u16> {
    let mut ids = Vec::new();
    let _ = tokio::time::timeout(within, async {
        while let Some(p) = conn.recv_skipping_pings().await {
            if let Packet::PubAck(a) = p {
                ids.push(a.packet_id.get());
            }
        }
    })
    .await;
    ids
}

#[tokio::test(start_paused = true)]
async fn messages_sees_every_message_of_two_overlapping_subscriptions_once() {
    for version in [V5, V311] {
        let (connector, broker) = ScriptedBroker::in_memory();
        let (client, mut conn) = connect_with(&broker, version, options(&connector, version)).await;
        let mut all = client.messages();
        let (mut wide, wide_id) = subscribe(&client, &mut conn, "plant/#").await;
        let (mut narrow, narrow_id) = subscribe(&client, &mut conn, "plant/+/temp").await;
        let both: Vec<_> = wide_id.iter().chain(&narrow_id).copied().collect();
        // One PUBLISH per message, as mosquitto sends for overlapping
        // subscriptions of one client (v5: with both identifiers).
        conn.send(&publish_with_ids("plant/1/temp", b"21.5", 1, &both))
            .await;
        conn.send(&publish_with_ids("plant/1/door", b"open", 2, &wide_id))
            .await;
        conn.send(&publish_with_ids("other/x", b"stray", 3, &[]))
            .await;
        let seen: Vec<String> = [
            next(&mut all).await,
            next(&mut all).await,
            next(&mut all).await,
        ]
        .iter()
        .map(|m| m.topic.to_string())
        .collect();
        assert_eq!(
            seen,
            ["plant/1/temp", "plant/1/door", "other/x"],
            "{version:?}"
        );
        assert!(
            tokio::time::timeout(Duration::from_secs(1), all.next())
                .await
                .is_err(),
            "{version:?}: each message once"
        );
        assert_eq!(next(&mut wide).await.topic.as_str(), "plant/1/temp");
        assert_eq!(next(&mut wide).await.topic.as_str(), "plant/1/door");
        let m = next(&mut narrow).await;
        assert_eq!(m.topic.as_str(), "plant/1/temp");
        // Display: topic, QoS and size, never the payload.
        let shown = m.to_string();
        assert_eq!(shown, "plant/1/temp (QoS 1, 4 bytes)");
        assert!(!shown.contains("21.5"));
        let mut acks = pubacks_within(&mut conn, Duration::from_secs(1)).await;
        acks.sort();
        assert_eq!(acks, [1, 2, 3], "{version:?}: each message acked once");
        if version == V5 {
            // One copy per subscription, each with its own identifier (as
            // mosquitto sends them): still one item in messages().
            conn.send(&publish_with_ids("plant/2/temp", b"19", 4, &wide_id))
                .await;
            conn.send(&publish_with_ids("plant/2/temp", b"19", 5, &narrow_id))
                .await;
            assert_eq!(next(&mut all).await.topic.as_str(), "plant/2/temp");
            assert!(tokio::time::timeout(Duration::from_secs(1), all.next())
                .await
                .is_err());
            assert_eq!(next(&mut wide).await.topic.as_str(), "plant/2/temp");
            assert_eq!(next(&mut narrow).await.topic.as_str(), "plant/2/temp");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_messages_stream_holds_the_ack_until_it_is_read() {
    let (connector, broker) = ScriptedBroker::in_memory();
    // A budget of one byte: an empty buffer takes one message, no more.
    let opts = options(&connector, V5).subscription_buffer_bytes(1);
    let (client, mut conn) = connect_with(&broker, V5, opts).await;
    let mut all = client.messages();
    let (mut sub, sid) = subscribe(&client, &mut conn, "t/#").await;
    conn.send(&publish_with_ids("t/1", b"a", 1, &sid)).await;
    next(&mut sub).await;
    conn.send(&publish_with_ids("t/2", b"b", 2, &sid)).await;
    next(&mut sub).await;
    // The subscription has both; the messages() stream holds t/1 and is
    // full, so t/2 waits there and its PUBACK waits with it.
    assert_eq!(pubacks_within(&mut conn, Duration::from_secs(2)).await, [1]);
    assert_eq!(next(&mut all).await.topic.as_str(), "t/1");
    assert_eq!(pubacks_within(&mut conn, Duration::from_secs(2)).await, [2]);
    assert_eq!(next(&mut all).await.topic.as_str(), "t/2");
}

#[tokio::test(start_paused = true)]
async fn the_sink_publishes_10000_qos1_messages_with_every_outcome_reported() {
    const N: u64 = 10_000;
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = options(&connector, V5).publish_queue(64);
    let (client, mut conn) = connect_with(&broker, V5, opts).await;
    let acking = tokio::spawn(async move {
        let mut acked = 0u64;
        while acked < N {
            match conn.recv_skipping_pings().await {
                Some(Packet::Publish(p)) => {
                    conn.send(&Packet::PubAck(PubAck::new(p.packet_id.unwrap())))
                        .await;
                    acked += 1;
                }
                Some(_) => {}
                None => break,
            }
        }
        (acked, conn)
    });
    let mut publisher = client.publisher();
    let completions = publisher.completions();
    let reading = tokio::spawn(completions.collect::<Vec<_>>());
    for i in 0..N {
        let cmd = PublishCommand::to("gw/out", i.to_be_bytes().to_vec(), QoS::AtLeastOnce).unwrap();
        publisher.feed(cmd).await.unwrap();
    }
    assert_eq!(publisher.next_sequence(), N);
    publisher.close().await.unwrap();
    drop(publisher);
    let outcomes = tokio::time::timeout(Duration::from_secs(60), reading)
        .await
        .expect("every outcome within the wait")
        .unwrap();
    assert_eq!(outcomes.len() as u64, N);
    let mut sequences: Vec<u64> = outcomes.iter().map(|(s, _)| *s).collect();
    sequences.sort();
    assert!(sequences.iter().copied().eq(0..N), "each sequence once");
    for (_, outcome) in &outcomes {
        let outcome = outcome.as_ref().expect("every publish succeeded");
        assert_eq!(outcome.reason_code, ReasonCode::SUCCESS);
        assert_eq!(outcome.to_string(), "Success (0x00)");
    }
    let (acked, _conn) = acking.await.unwrap();
    assert_eq!(acked, N);
}

#[tokio::test(start_paused = true)]
async fn invalid_client_id_user_name_and_property_are_refused_before_any_io() {
    let (connector, _broker) = ScriptedBroker::in_memory();
    let long = "x".repeat(70_000);
    let cases: Vec<(ConnectOptions, &str, StringError)> = vec![
        (
            options(&connector, V5).client_id("a\0b"),
            "client_id",
            StringError::NullCharacter,
        ),
        (
            options(&connector, V5).client_id(&long),
            "client_id",
            StringError::TooLong,
        ),
        (
            options(&connector, V5).credentials("u\0", "pw"),
            "username",
            StringError::NullCharacter,
        ),
        (
            options(&connector, V5).credentials("u", long.clone()),
            "password",
            StringError::TooLong,
        ),
        (
            options(&connector, V5).user_property("k", "v\0"),
            "user_property",
            StringError::NullCharacter,
        ),
        // The first invalid value is the one reported.
        (
            options(&connector, V5)
                .client_id("a\0")
                .credentials("\0", "p"),
            "client_id",
            StringError::NullCharacter,
        ),
    ];
    for (opts, option, why) in cases {
        match Client::connect(opts).await {
            Err(Error::InvalidOption { option: o, why: w }) => {
                assert_eq!((o, w), (option, why));
            }
            other => panic!("{option}: expected InvalidOption, got {other:?}"),
        }
    }
    assert_eq!(connector.connects(), 0, "no I/O for invalid options");
    let err = Error::InvalidOption {
        option: "client_id",
        why: StringError::NullCharacter,
    };
    assert_eq!(
        err.to_string(),
        "invalid client_id: contains the null character U+0000 [MQTT-1.5.4-2]"
    );
    // Builders outside ConnectOptions refuse with Result.
    assert!(PublishCommand::to("t", "x", QoS::AtMostOnce)
        .unwrap()
        .user_property("k\0", "v")
        .is_err());
    assert!(Will::new("t", "x", QoS::AtMostOnce, false)
        .unwrap()
        .user_property("k", "\0")
        .is_err());
}

struct Scram;
impl tern_mqtt::session::Authenticator for Scram {
    fn method(&self) -> &str {
        "SCRAM-SHA-256"
    }
    fn initial_data(&mut self) -> Option<bytes::Bytes> {
        Some(bytes::Bytes::from_static(MARKER.as_bytes()))
    }
    fn respond(&mut self, _: Option<&bytes::Bytes>) -> Result<Option<bytes::Bytes>, String> {
        Ok(None)
    }
}

#[test]
fn debug_of_options_and_credentials_never_shows_a_password() {
    let opts = ConnectOptions::new("mqtt://broker:1883")
        .unwrap()
        .credentials("gateway", MARKER)
        .authenticator(Box::new(Scram))
        .will(Will::new("w", "gone", QoS::AtLeastOnce, false).unwrap())
        .reconnect(
            ReconnectOptions::default()
                .hook(|_| async { Some(Credentials::new("gateway", MARKER)) }),
        );
    for text in [
        format!("{opts:?}"),
        format!("{:?}", opts.clone()),
        format!("{:?}", Credentials::new("gateway", MARKER)),
        format!("{:#?}", Credentials::new("gateway", MARKER)),
    ] {
        assert!(!text.contains(MARKER), "{text}");
        assert!(text.contains("gateway"), "the user name is shown: {text}");
    }
    let url = format!("mqtt://gateway:{MARKER}@broker:1883");
    let err = ConnectOptions::new(&url).unwrap_err();
    assert!(!format!("{err} {err:?}").contains(MARKER));
}

#[tokio::test(start_paused = true)]
async fn the_async_hook_supplies_new_credentials_after_a_0x86_refusal() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let asked: Arc<Mutex<Vec<Option<ReasonCode>>>> = Arc::default();
    let seen = asked.clone();
    let hook = ReconnectOptions::default().hook(move |attempt| {
        seen.lock().unwrap().push(attempt.refused);
        async move {
            attempt.refused?;
            // Fetching a token takes a while; the connection task keeps
            // taking commands meanwhile.
            tokio::time::sleep(Duration::from_secs(3)).await;
            Some(Credentials::new("fresh", "token-2"))
        }
    });
    let opts = options(&connector, V5)
        .credentials("old", "token-1")
        .reconnect(hook);
    let (client, conn) = connect_with(&broker, V5, opts).await;
    let mut events = client.events();
    drop(conn);
    let mut refused = broker.accept(V5).await;
    refused
        .send(&Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            reason_code: ReasonCode::BAD_USER_NAME_OR_PASSWORD,
            properties: ConnAckProperties::default(),
        })))
        .await;
    // While the hook runs, a publish is taken (it waits in the offline queue).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let publishing = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .publish("after/refusal", "x", QoS::AtLeastOnce, false)
                .await
        }
    });
    let mut conn = broker.accept(V5).await;
    assert_eq!(
        *asked.lock().unwrap(),
        [None, Some(ReasonCode::BAD_USER_NAME_OR_PASSWORD)],
        "asked before each attempt, told of the refusal"
    );
    let connect = conn.connect.clone().expect("a CONNECT");
    assert_eq!(
        connect.username,
        Some(MqttString::try_from("fresh").unwrap())
    );
    assert_eq!(connect.password.as_deref(), Some(&b"token-2"[..]));
    conn.connack(false, connack_props()).await;
    loop {
        match events.recv().await.expect("events go on") {
            ConnectionEvent::Reconnected { .. } => break,
            e => println!("{e}"),
        }
    }
    match conn.recv_skipping_pings().await {
        Some(Packet::Publish(p)) => {
            assert_eq!(p.topic.unwrap().as_str(), "after/refusal");
            conn.send(&Packet::PubAck(PubAck::new(p.packet_id.unwrap())))
                .await;
        }
        other => panic!("expected the queued PUBLISH, got {other:?}"),
    }
    publishing
        .await
        .unwrap()
        .expect("the queued publish completes");
}

#[tokio::test(start_paused = true)]
async fn cloned_options_connect_twice() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let template = options(&connector, V5)
        .credentials("gw", "pw")
        .user_property("site", "north")
        .reconnect(ReconnectOptions::default().hook(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { None }
        }));
    let (first, conn1) = connect_with(&broker, V5, template.clone()).await;
    let (second, conn2) = connect_with(&broker, V5, template.clone().client_id("api-2")).await;
    assert!(first.is_connected() && second.is_connected());
    assert_eq!(connector.connects(), 2);
    let c1 = conn1.connect.clone().unwrap();
    let c2 = conn2.connect.clone().unwrap();
    assert_eq!(c1.client_id.as_ref(), "api");
    assert_eq!(c2.client_id.as_ref(), "api-2");
    for c in [&c1, &c2] {
        assert_eq!(c.username, Some(MqttString::try_from("gw").unwrap()));
        assert_eq!(c.properties.user_properties.len(), 1);
    }
    // The clones share the hook: both lost connections ask it.
    drop((conn1, conn2));
    let (_a, _b) = tokio::join!(broker.accept(V5), broker.accept(V5));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn display_outputs() {
    assert_eq!(QoS::AtMostOnce.to_string(), "QoS 0");
    assert_eq!(QoS::ExactlyOnce.to_string(), "QoS 2");
    assert_eq!(
        ReasonCode::NOT_AUTHORIZED.to_string(),
        "Not authorized (0x87)"
    );
    assert_eq!(
        ConnectionEvent::Reconnecting {
            attempt: 2,
            delay: Duration::from_millis(200),
            server: "node-b:1883".to_owned(),
        }
        .to_string(),
        "reconnecting to node-b:1883 in 200ms (attempt 2)"
    );
    assert_eq!(
        ConnectionStatus::Connected {
            session_present: true,
            server: "node-a:1883".to_owned(),
        }
        .to_string(),
        "connected to node-a:1883 (session resumed)"
    );
    let outcome = PublishOutcome {
        reason_code: ReasonCode::SUCCESS,
        properties: Default::default(),
        pubcomp_lost: true,
    };
    assert_eq!(outcome.to_string(), "Success (0x00) (PUBCOMP lost)");
}
