//! Durable sessions (issue 11): a client restarted on the same store
//! resumes what the last one had accepted.
//!
//! The client tests run the real disk store (redb in a temporary
//! directory) behind the in-memory connector of the scripted broker. They
//! run on real time, not paused time: the store syncs on a thread of its
//! own, and a paused runtime would jump its clock (and fire the scripted
//! broker's bounds) while that thread writes. Every wait is still bounded
//! by the broker's `WAIT`, and none sleeps. A "restart" is `abort` (the
//! connection drops without DISCONNECT, the store closes with what was
//! committed) and a new `Client` on the same directory: since every byte
//! is written only after the state it depends on is durable, what the
//! store holds then is what it would hold after a crash at that point.
//! The engine tests feed the wall clock by hand, as the sans-IO contract
//! allows, to cross a Message Expiry without waiting for it.

#[path = "support/scripted_broker.rs"]
mod scripted_broker;

use futures_util::SinkExt;
use scripted_broker::packets::{pid, pubcomp, publish_full, pubrec, s, topic};
use scripted_broker::{connack_props, memory_options, Conn, MemoryConnector, ScriptedBroker};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
use tern_mqtt::codec::{ConnAck, Packet, ProtocolVersion, Publish, PublishProperties, QoS};
use tern_mqtt::session::{PublishCommand, Session, SessionConfig};
use tern_mqtt::store::{Clock, MemoryStore, Store};
use tern_mqtt::{Client, ConnectOptions};

const V5: ProtocolVersion = ProtocolVersion::V5;

/// The defaults users run, with a store, a fixed client id and a session
/// the broker keeps.
fn options(connector: &MemoryConnector, dir: &Path) -> ConnectOptions {
    memory_options(connector, V5, "durable-gw")
        .session_expiry(3600)
        .persist_to(dir)
}

/// Connects a client on `dir` and accepts it with `session_present`;
/// returns the client, the connection and its CONNECT's Clean Start.
async fn start(
    broker: &ScriptedBroker,
    connector: &MemoryConnector,
    dir: &Path,
    session_present: bool,
) -> (Client, Conn, bool) {
    let accept = async {
        let mut conn = broker.accept(V5).await;
        conn.connack(session_present, connack_props()).await;
        conn
    };
    let (client, conn) = tokio::join!(Client::connect(options(connector, dir)), accept);
    let clean_start = conn.connect.as_ref().expect("a CONNECT").clean_start;
    (client.expect("connected"), conn, clean_start)
}

/// The next PUBLISH the client sends.
async fn next_publish(conn: &mut Conn) -> Publish {
    match conn.recv_skipping_pings().await {
        Some(Packet::Publish(p)) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

/// Publishes through a `Publisher` and waits until the message is
/// accepted (durable); the outcome is not awaited.
async fn accepted(client: &Client, payload: &'static str, qos: QoS) {
    let mut publisher = client.publisher();
    let cmd = PublishCommand::to("gw/out", payload, qos).unwrap();
    publisher.send(cmd).await.expect("accepted");
}

#[tokio::test]
async fn a_restarted_client_sends_pubrel_first_and_uses_no_packet_id_the_broker_still_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, mut conn, clean_start) = start(&broker, &connector, dir.path(), false).await;
    assert!(clean_start, "a new store starts clean");
    accepted(&client, "exactly once", QoS::ExactlyOnce).await;
    let first = next_publish(&mut conn).await;
    assert_eq!(first.packet_id, Some(pid(1)));
    // The broker holds id 1 awaiting PUBREL: the PUBREL our client sends
    // is lost with the connection.
    conn.send(&pubrec(pid(1))).await;
    assert!(matches!(conn.recv().await, Some(Packet::PubRel(r)) if r.packet_id == pid(1)));
    client.abort().await.unwrap();
    drop(client);

    let (client, mut conn, clean_start) = start(&broker, &connector, dir.path(), true).await;
    assert!(
        !clean_start,
        "the stored session is resumed with Clean Start 0"
    );
    assert_eq!(
        conn.connect.as_ref().map(|c| c.client_id.to_string()),
        Some("durable-gw".to_string())
    );
    // Idle: no command yet, and the PUBREL goes out first [MQTT-4.4.0-1].
    assert!(matches!(conn.recv().await, Some(Packet::PubRel(r)) if r.packet_id == pid(1)));
    accepted(&client, "next", QoS::AtLeastOnce).await;
    let next = next_publish(&mut conn).await;
    assert_ne!(
        next.packet_id,
        Some(pid(1)),
        "id 1 awaits PUBCOMP [MQTT-4.3.3-10]"
    );
    conn.send(&pubcomp(pid(1))).await;
    client.abort().await.unwrap();
}

#[tokio::test]
async fn a_restarted_idle_client_resends_stored_publishes_with_dup_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, mut conn, _) = start(&broker, &connector, dir.path(), false).await;
    for payload in ["one", "two", "three"] {
        accepted(&client, payload, QoS::AtLeastOnce).await;
    }
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(next_publish(&mut conn).await.packet_id);
    }
    client.abort().await.unwrap();
    drop(client);

    let (client, mut conn, _) = start(&broker, &connector, dir.path(), true).await;
    for (payload, id) in ["one", "two", "three"].into_iter().zip(ids) {
        let p = next_publish(&mut conn).await;
        assert!(p.dup, "a resent PUBLISH has DUP set [MQTT-3.3.1-1]");
        assert_eq!((p.packet_id, &p.payload[..]), (id, payload.as_bytes()));
    }
    client.abort().await.unwrap();
}

#[tokio::test]
async fn messages_accepted_while_the_broker_was_down_are_sent_by_the_next_process() {
    let dir = tempfile::tempdir().unwrap();
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, conn, _) = start(&broker, &connector, dir.path(), false).await;
    connector.set_refusing(true);
    drop(conn);
    let mut status = client.watch_status();
    status
        .wait_for(|s| !matches!(s, tern_mqtt::ConnectionStatus::Connected { .. }))
        .await
        .unwrap();
    accepted(&client, "offline 1", QoS::AtLeastOnce).await;
    accepted(&client, "offline 2", QoS::ExactlyOnce).await;
    client.abort().await.unwrap();
    drop(client);

    connector.set_refusing(false);
    // The broker lost the session too: they go as new messages.
    let (client, mut conn, _) = start(&broker, &connector, dir.path(), false).await;
    let a = next_publish(&mut conn).await;
    let b = next_publish(&mut conn).await;
    assert_eq!(
        (&a.payload[..], a.qos, a.dup),
        (&b"offline 1"[..], QoS::AtLeastOnce, false)
    );
    assert_eq!(
        (&b.payload[..], b.qos),
        (&b"offline 2"[..], QoS::ExactlyOnce)
    );
    client.abort().await.unwrap();
}

#[tokio::test]
async fn a_restored_subscription_holds_messages_until_the_application_subscribes_again() {
    let dir = tempfile::tempdir().unwrap();
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, mut conn, _) = start(&broker, &connector, dir.path(), false).await;
    let subscribing = client.subscribe("plant/#", QoS::AtLeastOnce);
    let (sub, _) = tokio::join!(subscribing, conn.expect_subscribe_and_grant());
    let sub_id = sub.unwrap().id();
    client.abort().await.unwrap();
    drop(client);

    let (client, mut conn, _) = start(&broker, &connector, dir.path(), true).await;
    // Before the application subscribes again: tagged with the stored
    // subscription identifier.
    let properties = PublishProperties {
        subscription_identifiers: vec![std::num::NonZeroU32::new(1).unwrap()],
        ..Default::default()
    };
    let id = conn.next_packet_id();
    conn.send(&publish_full(
        Some("plant/line1"),
        "21.5".into(),
        QoS::AtLeastOnce,
        id.get(),
        false,
        properties,
    ))
    .await;
    assert!(matches!(conn.recv().await, Some(Packet::PubAck(a)) if a.packet_id == id));
    let mut sub = client.subscribe("plant/#", QoS::AtLeastOnce).await.unwrap();
    assert_eq!(sub.id(), sub_id, "the stored subscription is re-attached");
    let msg = sub.recv().await.unwrap();
    assert_eq!(&msg.payload[..], b"21.5");
    // No second SUBSCRIBE: the next packet is our marker.
    client
        .publish("marker", "m", QoS::AtMostOnce, false)
        .await
        .unwrap();
    assert_eq!(next_publish(&mut conn).await.topic, Some(topic("marker")));
    client.abort().await.unwrap();
}

#[tokio::test]
async fn an_incoming_qos2_message_is_delivered_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, mut conn, _) = start(&broker, &connector, dir.path(), false).await;
    let mut all = client.messages();
    let qos2 = |dup| {
        publish_full(
            Some("orders/1"),
            "once".into(),
            QoS::ExactlyOnce,
            7,
            dup,
            Default::default(),
        )
    };
    conn.send(&qos2(false)).await;
    assert!(matches!(conn.recv().await, Some(Packet::PubRec(r)) if r.packet_id == pid(7)));
    assert_eq!(&all.recv().await.unwrap().payload[..], b"once");
    client.abort().await.unwrap();
    drop((client, all));

    let (client, mut conn, _) = start(&broker, &connector, dir.path(), true).await;
    let mut all = client.messages();
    // The broker did not see our PUBREC: it sends the message again.
    conn.send(&qos2(true)).await;
    assert!(matches!(conn.recv().await, Some(Packet::PubRec(r)) if r.packet_id == pid(7)));
    conn.send(&scripted_broker::packets::pubrel(pid(7))).await;
    assert!(matches!(conn.recv().await, Some(Packet::PubComp(c)) if c.packet_id == pid(7)));
    // Not delivered again [MQTT-4.3.3-10]: the next message is the marker.
    conn.send(&publish_full(
        Some("orders/2"),
        "next".into(),
        QoS::AtMostOnce,
        0,
        false,
        Default::default(),
    ))
    .await;
    assert_eq!(&all.recv().await.unwrap().payload[..], b"next");
    client.abort().await.unwrap();
}

#[tokio::test]
async fn every_message_policy_keeps_what_it_accepted_too() {
    let dir = tempfile::tempdir().unwrap();
    let (connector, broker) = ScriptedBroker::in_memory();
    let every = |connector: &MemoryConnector| {
        options(connector, dir.path()).write_policy(tern_mqtt::WritePolicy::EveryMessage)
    };
    let (client, conn) = tokio::join!(Client::connect(every(&connector)), async {
        let mut conn = broker.accept(V5).await;
        conn.connack(false, connack_props()).await;
        conn
    });
    let client = client.unwrap();
    drop(conn);
    connector.set_refusing(true);
    let mut status = client.watch_status();
    status
        .wait_for(|s| !matches!(s, tern_mqtt::ConnectionStatus::Connected { .. }))
        .await
        .unwrap();
    for payload in ["a", "b", "c"] {
        accepted(&client, payload, QoS::AtLeastOnce).await;
    }
    client.abort().await.unwrap();
    drop(client);

    connector.set_refusing(false);
    let (client, mut conn) = tokio::join!(Client::connect(every(&connector)), async {
        let mut conn = broker.accept(V5).await;
        conn.connack(false, connack_props()).await;
        conn
    });
    for payload in ["a", "b", "c"] {
        assert_eq!(
            &next_publish(&mut conn).await.payload[..],
            payload.as_bytes()
        );
    }
    client.unwrap().abort().await.unwrap();
}

#[tokio::test]
async fn a_second_client_on_an_open_store_fails_with_a_store_error() {
    let dir = tempfile::tempdir().unwrap();
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, _conn, _) = start(&broker, &connector, dir.path(), false).await;
    match Client::connect(options(&connector, dir.path())).await {
        Err(tern_mqtt::Error::Store(e)) => {
            assert_eq!(e.path, dir.path().join("session.redb"), "{e}")
        }
        other => panic!("expected a store error, got {other:?}"),
    }
    assert_eq!(
        connector.connects(),
        1,
        "the second client tried no connection"
    );
    client.abort().await.unwrap();
}

// ----- the engine, sans-IO, on a memory store -----

fn persist(session: &mut Session, store: &mut MemoryStore, clock: &Clock) {
    let mut ops = Vec::new();
    while let Some(op) = session.poll_store_op() {
        ops.push(op);
    }
    store.apply(&ops, clock).unwrap();
}

fn expiring(payload: &'static str, seconds: Option<u32>) -> PublishCommand {
    let cmd = PublishCommand::new(topic("t"), payload, QoS::AtLeastOnce);
    match seconds {
        Some(s) => cmd.message_expiry(s),
        None => cmd,
    }
}

#[test]
fn messages_whose_expiry_passed_while_the_process_was_down_are_dropped() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let clock = Clock { now, wall };
    let mut store = MemoryStore::default();
    let mut first = Session::new(SessionConfig::new(s("gw")));
    first.set_persistent();
    for (payload, expiry) in [("short", Some(10)), ("long", Some(100)), ("none", None)] {
        first.publish(now, expiring(payload, expiry)).unwrap();
    }
    persist(&mut first, &mut store, &clock);

    // A minute later, in a new process.
    let later = Clock {
        now: now + Duration::from_secs(1),
        wall: wall + Duration::from_secs(60),
    };
    let mut second = Session::new(SessionConfig::new(s("other")));
    second.set_persistent();
    second.restore(store.load().unwrap(), later.now, later.wall);
    persist(&mut second, &mut store, &later);
    assert_eq!(second.client_id(), "gw", "the stored client id is used");
    assert_eq!(
        store.load().unwrap().messages.len(),
        2,
        "the expired one is gone"
    );

    second.handle_transport_open(later.now).unwrap();
    let ack = ConnAck {
        session_present: false,
        ..scripted_broker::packets::connack(false)
    };
    let mut wire = bytes::BytesMut::new();
    tern_mqtt::codec::encode(&Packet::ConnAck(Box::new(ack)), V5, &mut wire).unwrap();
    second.handle_data(later.now, &wire);
    let mut out = bytes::BytesMut::new();
    while let Some(b) = second.poll_transmit() {
        out.extend_from_slice(&b);
    }
    let mut sent = Vec::new();
    while let Some(p) = tern_mqtt::codec::decode(&mut out, V5, u32::MAX).unwrap() {
        if let Packet::Publish(p) = p {
            sent.push((p.payload, p.properties.message_expiry_interval));
        }
    }
    assert_eq!(
        sent,
        vec![("long".into(), Some(40)), ("none".into(), None)],
        "the live message carries the interval left"
    );
}

#[tokio::test]
async fn a_batch_goes_out_once_durable_and_its_unacknowledged_rest_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, mut conn, _) = start(&broker, &connector, dir.path(), false).await;
    let batch = ["b1", "b2"].map(|p| PublishCommand::to("gw/out", p, QoS::AtLeastOnce).unwrap());
    let c = client.clone();
    let done = tokio::spawn(async move { c.publish_batch(batch.to_vec()).await });
    // No further command: the store's commit alone lets both go out.
    let first = next_publish(&mut conn).await;
    let second = next_publish(&mut conn).await;
    assert_eq!(
        (&first.payload[..], &second.payload[..]),
        (&b"b1"[..], &b"b2"[..])
    );
    conn.send(&Packet::PubAck(tern_mqtt::codec::PublishAck::new(
        first.packet_id.unwrap(),
    )))
    .await;
    client.abort().await.unwrap();
    let outcomes = done.await.unwrap().expect("the batch was queued");
    assert!(outcomes[0].is_ok(), "b1 was acknowledged: {outcomes:?}");
    assert!(outcomes[1].is_err(), "b2 was cut off: {outcomes:?}");
    drop(client);

    let (client, mut conn, _) = start(&broker, &connector, dir.path(), true).await;
    let resent = next_publish(&mut conn).await;
    assert!(resent.dup, "a resent PUBLISH has DUP set [MQTT-3.3.1-1]");
    assert_eq!(
        (resent.packet_id, &resent.payload[..]),
        (second.packet_id, &b"b2"[..])
    );
    client.abort().await.unwrap();
}
