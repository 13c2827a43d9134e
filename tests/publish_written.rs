//! A QoS 0 publish completes once the transport has taken its bytes, not
//! when it is encoded: in memory, on paused time, with default options,
//! against a scripted broker that stops reading. Before this rule a QoS 0
//! publisher facing a stalled broker saw every publish succeed at once and
//! piled its bytes up in the client without bound.

#[path = "support/scripted_broker.rs"]
mod scripted_broker;

use scripted_broker::{connect_with, memory_options, ScriptedBroker, MEMORY_BUFFER};
use std::time::Duration;
use tern_mqtt::codec::{Packet, ProtocolVersion, QoS, ReasonCode};
use tern_mqtt::session::PublishCommand;
use tern_mqtt::topic::TopicName;
use tern_mqtt::Error;

const V311: ProtocolVersion = ProtocolVersion::V311;

fn qos0(payload: usize) -> PublishCommand {
    let topic = TopicName::new("written/t").expect("a valid topic");
    PublishCommand::new(topic, vec![7u8; payload], QoS::AtMostOnce)
}

#[tokio::test(start_paused = true)]
async fn a_qos0_publish_completes_only_once_the_broker_side_can_read_it() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = memory_options(&connector, V311, "written");
    let (client, mut conn) = connect_with(&broker, V311, opts).await;
    // Larger than the pipe: the transport cannot take it while the broker
    // does not read.
    let big = 3 * MEMORY_BUFFER;
    let done = client.try_publish(qos0(big)).expect("a free slot");
    let mut done = Box::pin(done);
    let early = tokio::time::timeout(Duration::from_secs(5), &mut done).await;
    assert!(
        early.is_err(),
        "completed before its bytes were written: {early:?}"
    );
    // The broker reads: the PUBLISH arrives whole, and the publish is done.
    match conn.recv().await {
        Some(Packet::Publish(p)) => assert_eq!(p.payload.len(), big),
        other => panic!("expected the PUBLISH, got {other:?}"),
    }
    let outcome = tokio::time::timeout(Duration::from_secs(5), done)
        .await
        .expect("completed once written")
        .expect("a success");
    assert_eq!(outcome.reason_code, ReasonCode::SUCCESS);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_broker_bounds_unwritten_qos0_publishes_by_the_publish_queue() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let slots = 4;
    let opts = memory_options(&connector, V311, "bounded").publish_queue(slots);
    let (client, _conn) = connect_with(&broker, V311, opts).await;
    let size = MEMORY_BUFFER / 4;
    let mut accepted = 0;
    let mut outcomes = Vec::new();
    for _ in 0..1000 {
        match client.try_publish(qos0(size)) {
            Ok(f) => {
                accepted += 1;
                outcomes.push(tokio::spawn(f));
            }
            Err(Error::QueueFull) => break,
            Err(e) => panic!("unexpected {e}"),
        }
        // Lets the driver encode and write what it was given.
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
    }
    // What the pipe holds completed; beyond it only `slots` wait.
    let fits = MEMORY_BUFFER / size + 1;
    assert!(
        accepted <= fits + slots,
        "{accepted} QoS 0 publishes accepted while the broker reads nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn unwritten_qos0_publishes_fail_when_the_connection_drops() {
    let (connector, broker) = ScriptedBroker::in_memory();
    let opts = memory_options(&connector, V311, "dropped");
    let (client, conn) = connect_with(&broker, V311, opts).await;
    let done = client
        .try_publish(qos0(3 * MEMORY_BUFFER))
        .expect("a free slot");
    let mut done = Box::pin(done);
    assert!(tokio::time::timeout(Duration::from_secs(1), &mut done)
        .await
        .is_err());
    drop(conn);
    let outcome = tokio::time::timeout(Duration::from_secs(5), done)
        .await
        .expect("the outcome comes when the connection ends");
    assert!(
        matches!(outcome, Err(Error::ConnectionClosed { reason_code: None })),
        "{outcome:?}"
    );
}
