//! Batches both ways. `Client::publish_batch` and `try_publish_batch`: one
//! command and one reply for many messages, each of which still completes
//! as the protocol says. `Subscription::recv_many`: many messages per
//! hand-over, in order. And the publish queue's slots that publishes and
//! batches hold: back with each outcome, closed with the connection
//! task. In memory, on paused time, with default options, against a
//! scripted broker.

#[path = "support/scripted_broker.rs"]
mod scripted_broker;

use scripted_broker::packets::{pid, puback, pubcomp, publish, pubrec};
use scripted_broker::{connack_props, connect_with, memory_options, Conn, ScriptedBroker};
use std::num::NonZeroU16;
use std::time::Duration;
use tern_mqtt::client::ConnectionStatus;
use tern_mqtt::codec::{Packet, ProtocolVersion, PublishAck, QoS, ReasonCode};
use tern_mqtt::session::PublishCommand;
use tern_mqtt::Error;

const V5: ProtocolVersion = ProtocolVersion::V5;

fn message(payload: &'static str, qos: QoS) -> PublishCommand {
    PublishCommand::to("batch/t", payload, qos).expect("a valid topic")
}

/// The next PUBLISH the broker reads: its payload and packet id.
async fn next_publish(conn: &mut Conn) -> (Vec<u8>, Option<NonZeroU16>) {
    match conn.recv().await {
        Some(Packet::Publish(p)) => (p.payload.to_vec(), p.packet_id),
        other => panic!("expected a PUBLISH, got {other:?}"),
    }
}

fn id(packet_id: Option<NonZeroU16>) -> NonZeroU16 {
    packet_id.expect("QoS 1/2 has a packet id")
}

#[tokio::test(start_paused = true)]
async fn a_batch_completes_when_its_last_message_does_with_outcomes_in_order() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, mut conn) =
        connect_with(&broker, V5, memory_options(&connector, V5, "batch")).await;
    let batch = vec![
        message("a", QoS::AtLeastOnce),
        message("b", QoS::AtMostOnce),
        message("c", QoS::ExactlyOnce),
        message("d", QoS::AtLeastOnce),
    ];
    let c = client.clone();
    let mut done = tokio::spawn(async move { c.publish_batch(batch).await });
    let (a, a_id) = next_publish(&mut conn).await;
    let (b, _) = next_publish(&mut conn).await;
    let (c_payload, c_id) = next_publish(&mut conn).await;
    let (d, d_id) = next_publish(&mut conn).await;
    assert_eq!(
        [a, b, c_payload, d],
        [b"a", b"b", b"c", b"d"].map(Vec::from)
    );

    // Acknowledged backwards; the batch waits for the last one.
    conn.send(&puback(id(d_id))).await;
    conn.send(&pubrec(id(c_id))).await;
    assert!(matches!(conn.recv().await, Some(Packet::PubRel(_))));
    conn.send(&pubcomp(id(c_id))).await;
    let early = tokio::time::timeout(Duration::from_secs(5), &mut done).await;
    assert!(early.is_err(), "done before the PUBACK of a: {early:?}");
    let mut ack = PublishAck::new(id(a_id));
    ack.reason_code = ReasonCode::NO_MATCHING_SUBSCRIBERS;
    conn.send(&Packet::PubAck(ack)).await;

    let outcomes = done.await.unwrap().expect("the batch was queued");
    let codes: Vec<ReasonCode> = outcomes
        .into_iter()
        .map(|o| o.expect("each message succeeded").reason_code)
        .collect();
    assert_eq!(
        codes,
        [
            ReasonCode::NO_MATCHING_SUBSCRIBERS,
            ReasonCode::SUCCESS,
            ReasonCode::SUCCESS,
            ReasonCode::SUCCESS
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_batch_holds_one_slot_per_message_until_it_is_done() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = memory_options(&connector, V5, "slots").publish_queue(4);
    let (client, mut conn) = connect_with(&broker, V5, opts).await;
    let five = vec![message("x", QoS::AtLeastOnce); 5];
    assert!(matches!(
        client.publish_batch(five.clone()).await,
        Err(Error::BatchTooLarge {
            len: 5,
            publish_queue: 4
        })
    ));
    assert!(matches!(
        client.try_publish_batch(five),
        Err(Error::BatchTooLarge { .. })
    ));
    assert!(client.publish_batch(Vec::new()).await.unwrap().is_empty());

    let first = client
        .try_publish_batch(vec![message("1", QoS::AtLeastOnce); 2])
        .expect("two free slots");
    assert!(matches!(
        client.try_publish_batch(vec![message("2", QoS::AtLeastOnce); 3]),
        Err(Error::QueueFull)
    ));
    for _ in 0..2 {
        let (_, packet_id) = next_publish(&mut conn).await;
        conn.send(&puback(id(packet_id))).await;
    }
    assert_eq!(first.await.unwrap().len(), 2);
    // Freed with the reply: the whole queue is free again.
    let all = client
        .try_publish_batch(vec![message("3", QoS::AtMostOnce); 4])
        .expect("every slot free once the batch is done");
    assert_eq!(all.await.unwrap().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_batch_cut_mid_flight_is_resent_after_the_reconnect_with_no_further_command() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, mut conn) = connect_with(&broker, V5, memory_options(&connector, V5, "cut")).await;
    let c = client.clone();
    let done = tokio::spawn(async move {
        c.publish_batch(vec![
            message("p", QoS::AtLeastOnce),
            message("q", QoS::ExactlyOnce),
        ])
        .await
    });
    let (p, p_id) = next_publish(&mut conn).await;
    conn.send(&puback(id(p_id))).await;
    let _ = next_publish(&mut conn).await;
    drop(conn);

    // Nothing more from the application: the reconnect alone resends q.
    let mut conn = broker.accept_with(V5, connack_props()).await;
    let (q, q_id) = next_publish(&mut conn).await;
    assert_eq!((p, q), (b"p".to_vec(), b"q".to_vec()));
    conn.send(&pubrec(id(q_id))).await;
    assert!(matches!(conn.recv().await, Some(Packet::PubRel(_))));
    conn.send(&pubcomp(id(q_id))).await;
    let outcomes = tokio::time::timeout(Duration::from_secs(5), done)
        .await
        .expect("the batch completes after the resend")
        .unwrap()
        .expect("the batch was queued");
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
}

#[tokio::test(start_paused = true)]
async fn recv_many_hands_over_what_is_buffered_in_order_up_to_the_limit() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let (client, mut conn) =
        connect_with(&broker, V5, memory_options(&connector, V5, "many")).await;
    let c = client.clone();
    let subscribing = tokio::spawn(async move { c.subscribe("many/#", QoS::AtLeastOnce).await });
    conn.expect_subscribe_and_grant().await;
    let mut sub = subscribing.await.unwrap().expect("subscribed");
    let payloads: [&'static [u8]; 5] = [b"1", b"2", b"3", b"4", b"5"];
    for (i, payload) in (1u16..).zip(payloads) {
        conn.send(&publish("many/t", payload, QoS::AtLeastOnce, Some(pid(i))))
            .await;
    }
    // Each message is acknowledged once buffered, read or not.
    for _ in 0..5 {
        assert!(matches!(conn.recv().await, Some(Packet::PubAck(_))));
    }
    let mut got = Vec::new();
    assert_eq!(sub.recv_many(&mut got, 3).await, 3);
    assert_eq!(sub.recv_many(&mut got, 10).await, 2);
    let read: Vec<&[u8]> = got.iter().map(|m| &m.payload[..]).collect();
    assert_eq!(read, payloads);

    // An empty buffer waits; the end of the client ends it with 0.
    let waiting = tokio::time::timeout(Duration::from_secs(5), sub.recv_many(&mut got, 10)).await;
    assert!(waiting.is_err(), "returned with nothing buffered");
    client.disconnect().await.expect("a clean disconnect");
    assert_eq!(sub.recv_many(&mut got, 10).await, 0);
    assert_eq!(got.len(), 5);
}

#[tokio::test(start_paused = true)]
async fn offline_a_batch_fails_only_its_messages_beyond_the_offline_bound() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = memory_options(&connector, V5, "offline").offline_queue(2);
    let (client, conn) = connect_with(&broker, V5, opts).await;
    drop(conn);
    let mut status = client.watch_status();
    status
        .wait_for(|s| matches!(s, ConnectionStatus::Reconnecting { .. }))
        .await
        .expect("the status is watched");
    let c = client.clone();
    let done = tokio::spawn(async move {
        c.publish_batch(vec![message("1", QoS::AtLeastOnce); 3])
            .await
    });
    // The reconnect sends the two the offline queue took, unprompted.
    let mut conn = broker.accept_with(V5, connack_props()).await;
    for _ in 0..2 {
        let (_, packet_id) = next_publish(&mut conn).await;
        conn.send(&puback(id(packet_id))).await;
    }
    let outcomes = done.await.unwrap().expect("the batch was queued");
    assert!(outcomes[0].is_ok() && outcomes[1].is_ok(), "{outcomes:?}");
    assert!(
        matches!(outcomes[2], Err(Error::OfflineQueueFull(2))),
        "{outcomes:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_batch_dropped_while_waiting_for_slots_sends_nothing() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = memory_options(&connector, V5, "cancel").publish_queue(2);
    let (client, mut conn) = connect_with(&broker, V5, opts).await;
    let first = client
        .try_publish_batch(vec![message("first", QoS::AtLeastOnce); 2])
        .expect("two free slots");
    let waited = tokio::time::timeout(
        Duration::from_secs(1),
        client.publish_batch(vec![message("second", QoS::AtLeastOnce); 2]),
    )
    .await;
    assert!(waited.is_err(), "no slot was free: {waited:?}");
    for _ in 0..2 {
        let (payload, packet_id) = next_publish(&mut conn).await;
        assert_eq!(payload, b"first");
        conn.send(&puback(id(packet_id))).await;
    }
    assert_eq!(first.await.unwrap().len(), 2);
    conn.expect_silence(Duration::from_secs(5)).await;
}

/// One publish holds one slot of the publish queue: it is free again by
/// the time the caller sees the outcome. Publishes queued behind an abort
/// fail with `Closed`, and so does every publish after it.
#[tokio::test(start_paused = true)]
async fn publish_queue_slots_come_back_with_each_outcome_and_close_with_the_task() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = memory_options(&connector, V5, "queue").publish_queue(2);
    let (client, mut conn) = connect_with(&broker, V5, opts).await;
    let first = client
        .try_publish(message("1", QoS::AtLeastOnce))
        .expect("a free slot");
    let second = client
        .try_publish(message("2", QoS::AtLeastOnce))
        .expect("a free slot");
    assert!(matches!(
        client.try_publish(message("3", QoS::AtLeastOnce)),
        Err(Error::QueueFull)
    ));
    let (_, first_id) = next_publish(&mut conn).await;
    let (_, second_id) = next_publish(&mut conn).await;
    conn.send(&puback(id(first_id))).await;
    first.await.expect("acknowledged");
    let third = client
        .try_publish(message("3", QoS::AtLeastOnce))
        .expect("the first publish's slot, freed before its outcome");
    let (_, third_id) = next_publish(&mut conn).await;
    conn.send(&puback(id(second_id))).await;
    conn.send(&puback(id(third_id))).await;
    second.await.expect("acknowledged");
    third.await.expect("acknowledged");

    // Abort, then queue two more behind the abort, holding every slot.
    let mut aborting = Box::pin(client.abort());
    // Polled once: the abort is on the channel, not yet carried out.
    assert!(futures_util::FutureExt::now_or_never(&mut aborting).is_none());
    let behind = [
        client.try_publish(message("4", QoS::AtLeastOnce)),
        client.try_publish(message("5", QoS::AtLeastOnce)),
    ];
    aborting.await.expect("aborted");
    for queued in behind {
        let outcome = tokio::time::timeout(Duration::from_secs(5), queued.expect("a free slot"))
            .await
            .expect("an outcome, not a wait");
        assert!(matches!(outcome, Err(Error::Closed)), "{outcome:?}");
    }
    assert!(matches!(
        client.try_publish(message("6", QoS::AtMostOnce)),
        Err(Error::Closed)
    ));
    let waited = tokio::time::timeout(
        Duration::from_secs(5),
        client.publish_command(message("7", QoS::AtMostOnce)),
    )
    .await
    .expect("no wait for slots once the task is gone");
    assert!(matches!(waited, Err(Error::Closed)), "{waited:?}");
}

/// A connection task dropped with publishes still on its channel (its
/// runtime shut down) cannot give their slots back: the publish queue
/// closes with it, so a publish fails with `Closed`, neither `QueueFull`
/// nor a wait for slots that never come.
#[test]
fn a_task_dropped_with_publishes_on_its_channel_closes_the_publish_queue() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a runtime")
    };
    let first = runtime();
    let (client, conn) = first.block_on(async {
        let (connector, broker) = ScriptedBroker::in_memory();
        let opts = memory_options(&connector, V5, "dropped").publish_queue(2);
        connect_with(&broker, V5, opts).await
    });
    // Nothing runs the task now: both stay on its channel.
    let queued = [
        client.try_publish(message("1", QoS::AtLeastOnce)),
        client.try_publish(message("2", QoS::AtLeastOnce)),
    ];
    assert!(queued.iter().all(Result::is_ok));
    drop(first);
    drop(conn);
    assert!(matches!(
        client.try_publish(message("3", QoS::AtMostOnce)),
        Err(Error::Closed)
    ));
    let waited = runtime().block_on(async {
        tokio::time::timeout(
            Duration::from_secs(5),
            client.publish_command(message("4", QoS::AtMostOnce)),
        )
        .await
    });
    assert!(matches!(waited, Ok(Err(Error::Closed))), "{waited:?}");
}
