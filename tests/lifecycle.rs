//! The connection lifecycle under default options, in memory on paused
//! time: the driver talks to a scripted broker through a `MemoryConnector`
//! (tokio duplex pipes), so every test is deterministic and idle paths are
//! really idle: nothing the test sends wakes the code under test.
//!
//! Each test is named after the behaviour it proves; the numbers refer to
//! the items of the lifecycle issue.

#[path = "support/scripted_broker.rs"]
mod scripted_broker;

use scripted_broker::packets::pid as id;
use scripted_broker::{
    connack_props, connect_with, memory_options, publish, Conn, MemoryConnector, ScriptedBroker,
};
use std::num::NonZeroU16;
use std::time::Duration;
use tern_mqtt::client::{ConnectionEvent, ConnectionStatus, Events, ReconnectOptions};
use tern_mqtt::codec::{
    ConnAckProperties, Disconnect, DisconnectProperties, Packet, ProtocolVersion, PublishAck, QoS,
    ReasonCode,
};
use tern_mqtt::{Client, ConnectOptions, Error};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V311;

/// Default options, through the in-memory connector.
fn options(connector: &MemoryConnector, version: ProtocolVersion) -> ConnectOptions {
    memory_options(connector, version, "lifecycle")
}

/// The next event matching `pred`, within `within` of virtual time.
async fn wait_for(
    events: &mut Events,
    within: Duration,
    pred: impl Fn(&ConnectionEvent) -> bool,
) -> ConnectionEvent {
    tokio::time::timeout(within, async {
        loop {
            match events.recv().await {
                Some(e) if pred(&e) => return e,
                Some(_) => {}
                None => panic!("the event stream ended"),
            }
        }
    })
    .await
    .expect("the event within the time")
}

/// The next packet within `within`, or None (no panic).
async fn next_within(conn: &mut Conn, within: Duration) -> Option<Packet> {
    tokio::time::timeout(within, conn.recv())
        .await
        .ok()
        .flatten()
}

/// The broker sends QoS 1 messages with these packet ids.
async fn send_qos1(
    conn: &mut Conn,
    topic: &str,
    payload: &'static [u8],
    ids: std::ops::RangeInclusive<u16>,
) {
    for i in ids {
        conn.send(&publish(topic, payload, QoS::AtLeastOnce, Some(id(i))))
            .await;
    }
}

/// Answers a SUBSCRIBE and returns the packet id of the SUBACK.
async fn grant(conn: &mut Conn) -> NonZeroU16 {
    conn.expect_subscribe_and_grant().await
}

// ----- 1. dropping every handle -----

#[tokio::test(start_paused = true)]
async fn dropping_every_client_sends_disconnect_ends_streams_and_never_reconnects() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, mut conn) = connect_with(&broker, V5, options(&connector, V5)).await;
    let subscribing = tokio::spawn({
        let client = client.clone();
        async move { client.subscribe("a/#", QoS::AtLeastOnce).await }
    });
    grant(&mut conn).await;
    let mut sub = subscribing.await.unwrap().unwrap();
    let status = client.watch_status();
    drop(client);
    // A normal DISCONNECT (0x00: the broker discards the will), then EOF.
    conn.expect_disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await;
    conn.expect_eof().await;
    assert!(
        sub.recv().await.is_none(),
        "the subscription ends with the client"
    );
    assert_eq!(*status.borrow(), ConnectionStatus::Closed);
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(
        connector.connects(),
        1,
        "no reconnect after the last handle is gone"
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_every_client_while_offline_ends_the_task() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, conn) = connect_with(&broker, V5, options(&connector, V5)).await;
    let status = client.watch_status();
    connector.set_refusing(true);
    drop(conn);
    let mut events = client.events();
    wait_for(&mut events, Duration::from_secs(5), |e| {
        matches!(e, ConnectionEvent::Reconnecting { .. })
    })
    .await;
    drop(client);
    wait_for(&mut events, Duration::from_secs(5), |e| {
        *e == ConnectionEvent::Closed
    })
    .await;
    assert_eq!(*status.borrow(), ConnectionStatus::Closed);
    let attempts = connector.connects();
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(
        connector.connects(),
        attempts,
        "no attempt after the task ended"
    );
}

// ----- 3. no reconnect storm -----

#[tokio::test(start_paused = true)]
async fn an_accept_then_drop_broker_sees_at_most_8_connections_in_5_s() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, conn) = connect_with(&broker, V5, options(&connector, V5)).await;
    drop(conn);
    let started = tokio::time::Instant::now();
    let acceptor = tokio::spawn(async move {
        loop {
            let conn = broker.accept_with(V5, connack_props()).await;
            drop(conn);
        }
    });
    tokio::time::sleep_until(started + Duration::from_secs(5)).await;
    let n = connector.connects();
    acceptor.abort();
    println!("accept-then-drop: {n} connections in 5 s");
    assert!((3..=8).contains(&n), "{n} connections in 5 s");
    drop(client);
}

#[tokio::test(start_paused = true)]
async fn session_taken_over_stops_reconnecting_with_an_event() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, mut conn) = connect_with(&broker, V5, options(&connector, V5)).await;
    let mut events = client.events();
    conn.send(&Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::SESSION_TAKEN_OVER,
        properties: DisconnectProperties::default(),
    }))
    .await;
    wait_for(&mut events, Duration::from_secs(5), |e| {
        *e == ConnectionEvent::SessionTakenOver
    })
    .await;
    wait_for(&mut events, Duration::from_secs(5), |e| {
        *e == ConnectionEvent::Closed
    })
    .await;
    assert_eq!(client.status(), ConnectionStatus::Closed);
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(
        connector.connects(),
        1,
        "the taken-over client does not fight back"
    );
    assert!(client
        .publish("t", "p", QoS::AtMostOnce, false)
        .await
        .is_err());
}

#[tokio::test(start_paused = true)]
async fn max_attempts_ends_in_reconnect_gave_up_for_pending_publishes() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = options(&connector, V5).reconnect(ReconnectOptions {
        max_attempts: 3,
        ..ReconnectOptions::default()
    });
    let (client, conn) = connect_with(&broker, V5, opts).await;
    connector.set_refusing(true);
    drop(conn);
    let mut events = client.events();
    // Queued while offline; fails with the give-up.
    let pending = client.try_publish(tern_mqtt::session::PublishCommand::new(
        tern_mqtt::topic::TopicName::new("q").unwrap(),
        "p",
        QoS::AtLeastOnce,
    ));
    let e = wait_for(&mut events, Duration::from_secs(60), |e| {
        matches!(e, ConnectionEvent::GaveUp { .. })
    })
    .await;
    assert_eq!(e, ConnectionEvent::GaveUp { attempts: 3 });
    match pending.unwrap().await {
        Err(Error::ReconnectGaveUp { attempts: 3 }) => {}
        other => panic!("ReconnectGaveUp expected, got {other:?}"),
    }
    assert_eq!(
        connector.connects(),
        4,
        "the first connection and 3 attempts"
    );
}

/// A client whose connection is cut and whose next CONNECT the broker
/// refuses with `code`; its connector, and its events from the start.
async fn refused_on_reconnect(code: ReasonCode) -> (MemoryConnector, Client, Events) {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, conn) = connect_with(&broker, V5, options(&connector, V5)).await;
    drop(conn);
    let events = client.events();
    let mut again = broker.accept(V5).await;
    again
        .send(&scripted_broker::packets::connack_packet(
            scripted_broker::packets::connack_refused(code),
        ))
        .await;
    (connector, client, events)
}

#[tokio::test(start_paused = true)]
async fn bad_credentials_without_a_hook_stop_with_the_refusal() {
    let (connector, _client, mut events) = refused_on_reconnect(ReasonCode::NOT_AUTHORIZED).await;
    wait_for(&mut events, Duration::from_secs(5), |e| {
        matches!(e, ConnectionEvent::Refused { reason_code, .. } if *reason_code == ReasonCode::NOT_AUTHORIZED)
    })
    .await;
    wait_for(&mut events, Duration::from_secs(5), |e| {
        *e == ConnectionEvent::Closed
    })
    .await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(connector.connects(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_busy_server_is_retried_after_the_busy_delay_at_least() {
    let (_connector, _client, mut events) = refused_on_reconnect(ReasonCode::SERVER_BUSY).await;
    let e = wait_for(&mut events, Duration::from_secs(5), |e| {
        matches!(e, ConnectionEvent::Reconnecting { attempt: 2, .. })
    })
    .await;
    let ConnectionEvent::Reconnecting { delay, .. } = e else {
        unreachable!()
    };
    assert!(delay >= Duration::from_millis(2500), "busy: {delay:?}");
}

#[tokio::test(start_paused = true)]
async fn the_first_connect_retries_when_asked() {
    let (connector, broker) = ScriptedBroker::in_memory();
    connector.refuse_next(3);
    let opts = options(&connector, V5).reconnect(ReconnectOptions {
        retry_first_connect: true,
        ..ReconnectOptions::default()
    });
    let (client, _conn) = connect_with(&broker, V5, opts).await;
    assert!(client.is_connected());
    assert_eq!(connector.connects(), 4);
}

#[tokio::test(start_paused = true)]
async fn the_first_connect_fails_at_once_by_default() {
    let (connector, _broker) = ScriptedBroker::in_memory();
    connector.refuse_next(1);
    let err = Client::connect(options(&connector, V5)).await.unwrap_err();
    assert!(
        matches!(err, Error::Io(ref e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{err}"
    );
    assert_eq!(connector.connects(), 1);
}

// ----- 4. a slow subscription does not freeze the client -----

#[tokio::test(start_paused = true)]
async fn one_unread_subscription_does_not_freeze_the_others_or_our_publishes() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let budget = 8 * 1024;
    let opts = options(&connector, V5).subscription_buffer_bytes(budget);
    let (client, mut conn) = connect_with(&broker, V5, opts).await;
    let (slow, fast) = {
        let c = client.clone();
        let s = tokio::spawn(async move { c.subscribe("slow/#", QoS::AtLeastOnce).await });
        grant(&mut conn).await;
        let c = client.clone();
        let f = tokio::spawn(async move { c.subscribe("fast/#", QoS::AtLeastOnce).await });
        grant(&mut conn).await;
        (s.await.unwrap().unwrap(), f.await.unwrap().unwrap())
    };
    let mut slow = slow;
    let mut fast = fast;
    const N: u16 = 400;
    send_qos1(&mut conn, "slow/t", b"reading", 1..=N).await;
    conn.send(&publish(
        "fast/t",
        b"still here",
        QoS::AtLeastOnce,
        Some(id(N + 1)),
    ))
    .await;
    // The other subscription receives while the slow one is full.
    let m = tokio::time::timeout(Duration::from_secs(5), fast.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&m.payload[..], b"still here");
    // Our own QoS 1 publish still completes: its PUBACK is read.
    let publishing = tokio::spawn({
        let c = client.clone();
        async move { c.publish("out", "x", QoS::AtLeastOnce, false).await }
    });
    let mut acked = 0;
    loop {
        match next_within(&mut conn, Duration::from_secs(2)).await {
            Some(Packet::PubAck(_)) => acked += 1,
            Some(Packet::Publish(p)) => {
                conn.send(&Packet::PubAck(PublishAck::new(p.packet_id.unwrap())))
                    .await;
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
    }
    publishing.await.unwrap().unwrap();
    assert!(acked < usize::from(N), "acks are held back: {acked} of {N}");
    assert!(
        slow.buffered_bytes() <= budget,
        "{} > {budget}",
        slow.buffered_bytes()
    );
    // Nothing is lost once the slow one reads; the acks follow.
    let reader = tokio::spawn(async move {
        for _ in 0..N {
            let m = slow.recv().await.unwrap();
            assert_eq!(&m.payload[..], b"reading");
        }
        slow
    });
    while acked < usize::from(N) + 1 {
        match next_within(&mut conn, Duration::from_secs(5)).await {
            Some(Packet::PubAck(_)) => acked += 1,
            other => panic!("PUBACK expected, got {other:?}"),
        }
    }
    let slow = reader.await.unwrap();
    assert_eq!(slow.dropped(), 0);
}

// ----- 5. unmatched messages: never acknowledged and then dropped -----

#[tokio::test(start_paused = true)]
async fn unmatched_messages_nobody_reads_are_held_not_acknowledged_and_dropped() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = options(&connector, V5).subscription_buffer_bytes(4 * 1024);
    let (client, mut conn) = connect_with(&broker, V5, opts).await;
    const N: u16 = 300;
    send_qos1(&mut conn, "nobody/t", b"stray", 1..=N).await;
    let mut acked = 0;
    while let Some(p) = next_within(&mut conn, Duration::from_secs(2)).await {
        assert!(matches!(p, Packet::PubAck(_)), "{p:?}");
        acked += 1;
    }
    assert!(
        acked < usize::from(N),
        "beyond the budget nothing is acked: {acked}"
    );
    let mut unmatched = client.unmatched().await.unwrap();
    for _ in 0..N {
        let m = tokio::time::timeout(Duration::from_secs(5), unmatched.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&m.payload[..], b"stray");
    }
    while acked < usize::from(N) {
        match next_within(&mut conn, Duration::from_secs(5)).await {
            Some(Packet::PubAck(_)) => acked += 1,
            other => panic!("PUBACK expected, got {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn qos0_overflow_drops_the_oldest_and_counts_it() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = options(&connector, V5).subscription_buffer_bytes(2 * 1024);
    let (client, mut conn) = connect_with(&broker, V5, opts).await;
    let c = client.clone();
    let s = tokio::spawn(async move { c.subscribe("q0/#", QoS::AtMostOnce).await });
    grant(&mut conn).await;
    let mut sub = s.await.unwrap().unwrap();
    let mut events = client.events();
    for _ in 0..100 {
        conn.send(&publish("q0/t", b"old", QoS::AtMostOnce, None))
            .await;
    }
    conn.send(&publish("q0/t", b"newest", QoS::AtMostOnce, None))
        .await;
    wait_for(&mut events, Duration::from_secs(5), |e| {
        matches!(e, ConnectionEvent::SubscriptionFull { subscription } if *subscription == sub.id())
    })
    .await;
    let mut last = None;
    let mut got = 0u64;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), sub.recv()).await {
        got += 1;
        last = Some(m.payload);
    }
    assert_eq!(last.as_deref(), Some(&b"newest"[..]), "the newest survives");
    assert!(sub.dropped() > 0);
    assert_eq!(
        got + sub.dropped(),
        101,
        "every message delivered or counted"
    );
}

// ----- 8. offline queue -----

#[tokio::test(start_paused = true)]
async fn publishes_while_offline_fail_at_once_beyond_the_offline_bound() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = options(&connector, V5).offline_queue(5);
    let (client, conn) = connect_with(&broker, V5, opts).await;
    connector.set_refusing(true);
    drop(conn);
    let mut status = client.watch_status();
    status
        .wait_for(|s| matches!(s, ConnectionStatus::Reconnecting { .. }))
        .await
        .unwrap();
    let mut queued = Vec::new();
    for i in 0..5 {
        let c = client.clone();
        queued.push(tokio::spawn(async move {
            c.publish("off", format!("{i}"), QoS::AtLeastOnce, false)
                .await
        }));
        tokio::task::yield_now().await;
    }
    // Give the driver the five, then the sixth fails without waiting.
    tokio::time::sleep(Duration::from_millis(1)).await;
    let sixth = tokio::time::timeout(
        Duration::from_millis(1),
        client.publish("off", "6", QoS::AtLeastOnce, false),
    )
    .await
    .expect("fails at once");
    assert!(
        matches!(sixth, Err(Error::OfflineQueueFull(5))),
        "{sixth:?}"
    );
    for q in &queued {
        assert!(!q.is_finished(), "the first five wait for the broker");
    }
}

// ----- 9. durations saturate -----

#[tokio::test(start_paused = true)]
async fn duration_max_everywhere_does_not_panic() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = options(&connector, V5)
        .keep_alive(Duration::MAX)
        .connect_timeout(Duration::MAX)
        .disconnect_timeout(Duration::MAX)
        .reconnect(ReconnectOptions {
            base_delay: Duration::MAX,
            max_delay: Duration::MAX,
            busy_delay: Duration::MAX,
            stable_after: Duration::MAX,
            ..ReconnectOptions::default()
        });
    let (client, mut conn) = connect_with(&broker, V5, opts).await;
    assert_eq!(conn.connect.as_ref().unwrap().keep_alive, u16::MAX);
    let c = client.clone();
    let d = tokio::spawn(async move { c.disconnect().await });
    conn.expect_disconnect(ReasonCode::NORMAL_DISCONNECTION)
        .await;
    drop(conn);
    d.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_sub_second_keep_alive_rounds_up_never_to_zero() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = options(&connector, V5).keep_alive(Duration::from_millis(500));
    let (_client, conn) = connect_with(&broker, V5, opts).await;
    assert_eq!(conn.connect.as_ref().unwrap().keep_alive, 1);
}

// ----- 10. observable state -----

#[tokio::test(start_paused = true)]
async fn state_is_observable_and_no_event_is_missed_after_connect() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, conn) = connect_with(&broker, V5, options(&connector, V5)).await;
    assert!(client.is_connected());
    assert!(!client.session_present());
    let mut events = client.events();
    assert_eq!(
        events.try_recv(),
        Some(ConnectionEvent::Connected {
            session_present: false
        }),
        "the first events() sees Connected although it came before"
    );
    drop(conn);
    let mut status = client.watch_status();
    status
        .wait_for(|s| matches!(s, ConnectionStatus::Reconnecting { .. }))
        .await
        .unwrap();
    assert!(!client.is_connected());
    let _again = broker.accept_with(V5, connack_props()).await;
    status
        .wait_for(|s| matches!(s, ConnectionStatus::Connected { .. }))
        .await
        .unwrap();
    wait_for(&mut events, Duration::from_secs(1), |e| {
        matches!(e, ConnectionEvent::Reconnected { .. })
    })
    .await;
}

// ----- 11. subscriptions -----

#[tokio::test(start_paused = true)]
async fn subscribing_twice_to_one_filter_fails_instead_of_stealing() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, mut conn) = connect_with(&broker, V5, options(&connector, V5)).await;
    let c = client.clone();
    let s = tokio::spawn(async move { c.subscribe("dup/#", QoS::AtLeastOnce).await });
    grant(&mut conn).await;
    let first = s.await.unwrap().unwrap();
    match client.subscribe("dup/#", QoS::AtMostOnce).await {
        Err(Error::AlreadySubscribed { filter }) => assert_eq!(filter, "dup/#"),
        other => panic!("AlreadySubscribed expected, got {other:?}"),
    }
    drop(first);
    // Once the first is gone the filter is free again.
    let c = client.clone();
    let s = tokio::spawn(async move { c.subscribe("dup/#", QoS::AtMostOnce).await });
    match conn.recv().await {
        Some(Packet::Unsubscribe(u)) => {
            conn.send(&Packet::UnsubAck(tern_mqtt::codec::UnsubAck {
                packet_id: u.packet_id,
                properties: Default::default(),
                reason_codes: vec![ReasonCode::SUCCESS],
            }))
            .await
        }
        other => panic!("UNSUBSCRIBE expected, got {other:?}"),
    }
    grant(&mut conn).await;
    s.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn without_subscription_identifiers_messages_route_by_filter() {
    for (label, broker_has_ids, option_on) in [
        ("broker has none", false, true),
        ("turned off", true, false),
    ] {
        let (connector, broker) = ScriptedBroker::in_memory();
        let props = ConnAckProperties {
            subscription_identifiers_available: Some(broker_has_ids),
            ..connack_props()
        };
        let opts = options(&connector, V5).subscription_identifiers(option_on);
        let (client, conn) = tokio::join!(Client::connect(opts), broker.accept_with(V5, props));
        let (client, mut conn) = (client.unwrap(), conn);
        let c = client.clone();
        let s = tokio::spawn(async move { c.subscribe("ids/+", QoS::AtLeastOnce).await });
        match conn.recv().await {
            Some(Packet::Subscribe(sub)) => {
                assert_eq!(sub.properties.subscription_identifier, None, "{label}");
                conn.send(&Packet::SubAck(tern_mqtt::codec::SubAck {
                    packet_id: sub.packet_id,
                    properties: Default::default(),
                    reason_codes: vec![ReasonCode::GRANTED_QOS_1],
                }))
                .await;
            }
            other => panic!("SUBSCRIBE expected, got {other:?}"),
        }
        let mut sub = s.await.unwrap().unwrap();
        conn.send(&publish("ids/x", b"routed", QoS::AtLeastOnce, Some(id(1))))
            .await;
        let m = tokio::time::timeout(Duration::from_secs(1), sub.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&m.payload[..], b"routed", "{label}");
    }
}

// ----- v5 to a 3.1.1-only broker -----

#[tokio::test(start_paused = true)]
async fn the_first_connect_to_a_v311_broker_at_v311_works() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, _conn) = connect_with(&broker, V311, options(&connector, V311)).await;
    assert!(client.is_connected());
}

// ----- 2. resubscribe on the idle path -----

/// Subscribes to `filter` at QoS 1 with the broker granting it.
async fn subscribed(
    client: &Client,
    conn: &mut Conn,
    filter: &'static str,
) -> tern_mqtt::client::Subscription {
    let c = client.clone();
    let s = tokio::spawn(async move { c.subscribe(filter, QoS::AtLeastOnce).await });
    grant(conn).await;
    s.await.unwrap().unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_idle_subscriber_is_resubscribed_after_a_cut_with_no_further_command() {
    for keep_alive in [60, 0] {
        let (connector, broker) = ScriptedBroker::in_memory();
        let opts = options(&connector, V5).keep_alive(Duration::from_secs(keep_alive));
        let (client, mut conn) = connect_with(&broker, V5, opts).await;
        let mut sub = subscribed(&client, &mut conn, "idle/#").await;
        let mut events = client.events();
        drop(conn);
        // The new connection: the broker lost the session. Nothing else is
        // asked of the client; the SUBSCRIBE must still go out at once.
        let mut conn = broker.accept_with(V5, connack_props()).await;
        match next_within(&mut conn, Duration::from_millis(100)).await {
            Some(Packet::Subscribe(s)) => {
                assert_eq!(s.filters[0].0.as_str(), "idle/#", "keep alive {keep_alive}");
                conn.send(&Packet::SubAck(tern_mqtt::codec::SubAck {
                    packet_id: s.packet_id,
                    properties: Default::default(),
                    reason_codes: vec![ReasonCode::GRANTED_QOS_1],
                }))
                .await;
            }
            other => panic!("keep alive {keep_alive}: SUBSCRIBE expected at once, got {other:?}"),
        }
        let e = wait_for(&mut events, Duration::from_secs(1), |e| {
            matches!(e, ConnectionEvent::Resubscribed { .. })
        })
        .await;
        assert_eq!(
            e,
            ConnectionEvent::Resubscribed {
                filters: 1,
                refused: vec![]
            }
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        conn.send(&publish("idle/t", b"after", QoS::AtLeastOnce, Some(id(9))))
            .await;
        let m = tokio::time::timeout(Duration::from_secs(1), sub.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&m.payload[..], b"after");
    }
}

#[tokio::test(start_paused = true)]
async fn publishes_queued_offline_go_out_after_the_resubscribe() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, mut conn) = connect_with(&broker, V5, options(&connector, V5)).await;
    let _sub = subscribed(&client, &mut conn, "order/#").await;
    drop(conn);
    let mut status = client.watch_status();
    status
        .wait_for(|s| matches!(s, ConnectionStatus::Reconnecting { .. }))
        .await
        .unwrap();
    let c = client.clone();
    let queued =
        tokio::spawn(async move { c.publish("order/t", "q", QoS::AtLeastOnce, false).await });
    let mut conn = broker.accept_with(V5, connack_props()).await;
    assert!(
        matches!(conn.recv().await, Some(Packet::Subscribe(_))),
        "SUBSCRIBE first"
    );
    match conn.recv().await {
        Some(Packet::Publish(p)) => {
            conn.send(&Packet::PubAck(PublishAck::new(p.packet_id.unwrap())))
                .await
        }
        other => panic!("then the PUBLISH, got {other:?}"),
    }
    queued.await.unwrap().unwrap();
}

// ----- 6. QoS 2 after PUBREC with the session lost -----

#[tokio::test(start_paused = true)]
async fn a_qos2_message_whose_pubrec_arrived_is_not_resent_when_the_session_is_lost() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, mut conn) = connect_with(&broker, V5, options(&connector, V5)).await;
    let c = client.clone();
    let publishing =
        tokio::spawn(async move { c.publish("x2", "once", QoS::ExactlyOnce, false).await });
    let Some(Packet::Publish(p)) = conn.recv().await else {
        panic!("PUBLISH expected")
    };
    let pid = p.packet_id.unwrap();
    conn.send(&Packet::PubRec(PublishAck::new(pid))).await;
    assert!(matches!(conn.recv().await, Some(Packet::PubRel(_))));
    drop(conn);
    let mut conn = broker.accept_with(V5, connack_props()).await;
    let outcome = tokio::time::timeout(Duration::from_secs(1), publishing)
        .await
        .expect("resolves")
        .unwrap()
        .unwrap();
    assert!(outcome.pubcomp_lost, "told apart from a plain success");
    conn.expect_silence(Duration::from_secs(5)).await;
}

// ----- 7. no poison loops -----

#[tokio::test(start_paused = true)]
async fn a_v311_publish_the_broker_closes_on_ten_times_in_a_row_fails_instead_of_looping() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, mut conn) = connect_with(&broker, V311, options(&connector, V311)).await;
    let c = client.clone();
    let publishing =
        tokio::spawn(async move { c.publish("big", "poison", QoS::AtLeastOnce, false).await });
    let started = tokio::time::Instant::now();
    for round in 1..=10 {
        match conn.recv().await {
            Some(Packet::Publish(p)) => assert_eq!(&p.payload[..], b"poison", "round {round}"),
            other => panic!("round {round}: PUBLISH expected, got {other:?}"),
        }
        drop(conn);
        conn = broker.accept_within(V311, Duration::from_secs(120)).await;
        conn.connack(false, connack_props()).await;
    }
    match tokio::time::timeout(Duration::from_secs(1), publishing).await {
        Ok(Ok(Err(Error::Command(tern_mqtt::session::CommandError::RejectedByServer {
            attempts: 10,
        })))) => {}
        other => panic!("RejectedByServer expected, got {other:?}"),
    }
    // Never a storm on the way: the backoff kept the attempts apart.
    assert!(
        started.elapsed() >= Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    conn.expect_silence(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn an_oversized_incoming_message_is_skipped_acked_and_reported_v311() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = options(&connector, V311).maximum_packet_size(1024);
    let (client, mut conn) = connect_with(&broker, V311, opts).await;
    let mut sub = subscribed(&client, &mut conn, "big/#").await;
    let mut events = client.events();
    static BIG: [u8; 8192] = [7; 8192];
    conn.send(&publish("big/t", &BIG, QoS::AtLeastOnce, Some(id(3))))
        .await;
    conn.send(&publish("big/t", b"small", QoS::AtLeastOnce, Some(id(4))))
        .await;
    for want in [3, 4] {
        match conn.recv().await {
            Some(Packet::PubAck(a)) => assert_eq!(a.packet_id, id(want)),
            other => panic!("PUBACK {want} expected, got {other:?}"),
        }
    }
    let e = wait_for(&mut events, Duration::from_secs(1), |e| {
        matches!(e, ConnectionEvent::MessageTooLarge { .. })
    })
    .await;
    assert!(
        matches!(e, ConnectionEvent::MessageTooLarge { ref topic, size } if topic == "big/t" && size > 8192)
    );
    let m = sub.recv().await.unwrap();
    assert_eq!(&m.payload[..], b"small", "the connection goes on");
    assert_eq!(connector.connects(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_oversized_v5_message_disconnects_once_then_is_skipped() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = options(&connector, V5).maximum_packet_size(1024);
    let (client, mut conn) = connect_with(&broker, V5, opts).await;
    let _sub = subscribed(&client, &mut conn, "big/#").await;
    static BIG: [u8; 8192] = [7; 8192];
    conn.send(&publish("big/t", &BIG, QoS::AtLeastOnce, Some(id(3))))
        .await;
    conn.expect_disconnect(ReasonCode::PACKET_TOO_LARGE).await;
    let mut conn = broker.accept_with(V5, connack_props()).await;
    // The broker sends it again: skipped and acked this time, no loop.
    let mut saw_ack = false;
    conn.send(&publish("big/t", &BIG, QoS::AtLeastOnce, Some(id(3))))
        .await;
    while let Some(p) = next_within(&mut conn, Duration::from_secs(1)).await {
        match p {
            Packet::PubAck(a) => {
                assert_eq!(a.packet_id, id(3));
                saw_ack = true;
            }
            Packet::Subscribe(s) => {
                conn.send(&Packet::SubAck(tern_mqtt::codec::SubAck {
                    packet_id: s.packet_id,
                    properties: Default::default(),
                    reason_codes: vec![ReasonCode::GRANTED_QOS_1],
                }))
                .await
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(saw_ack);
    assert_eq!(connector.connects(), 2);
}

// ----- 12. protocol edges -----

#[tokio::test(start_paused = true)]
async fn receive_maximum_is_not_enforced_on_a_v311_broker() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = options(&connector, V311)
        .receive_maximum(2)
        .subscription_buffer_bytes(1);
    let (client, mut conn) = connect_with(&broker, V311, opts).await;
    let mut sub = subscribed(&client, &mut conn, "rm/#").await;
    for i in 1..=5 {
        conn.send(&publish("rm/t", b"m", QoS::AtLeastOnce, Some(id(i))))
            .await;
    }
    for _ in 0..5 {
        tokio::time::timeout(Duration::from_secs(1), sub.recv())
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(connector.connects(), 1, "no disconnect for exceeding it");
}

#[tokio::test(start_paused = true)]
async fn a_v5_connect_refused_by_a_v311_broker_is_unsupported_protocol_version() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, conn) = tokio::join!(Client::connect(options(&connector, V5)), async {
        let mut conn = broker.accept(V5).await;
        conn.send_raw(&[0x20, 0x02, 0x00, 0x01]).await;
        conn
    });
    drop(conn);
    match client {
        Err(Error::ConnectionRefused { reason_code, .. }) => {
            assert_eq!(reason_code, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION)
        }
        other => panic!("0x84 expected, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn version_fallback_reconnects_at_v311() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = options(&connector, V5).version_fallback(true);
    let (client, _conn) = tokio::join!(Client::connect(opts), async {
        let mut first = broker.accept(V5).await;
        first.send_raw(&[0x20, 0x02, 0x00, 0x01]).await;
        drop(first);
        broker.accept_with(V311, connack_props()).await
    });
    assert!(client.unwrap().is_connected());
}
