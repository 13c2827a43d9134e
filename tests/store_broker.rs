//! Durable sessions against a real mosquitto with persistence: messages
//! accepted while the broker is down survive the publishing process, and
//! a new process on the same store delivers every one of them.

#[path = "support/mosquitto.rs"]
mod mosquitto;

use futures_util::SinkExt;
use mosquitto::{Broker, BrokerOptions};
use std::collections::BTreeSet;
use std::time::Duration;
use tern_mqtt::prelude::*;

/// Messages per QoS.
const PER_QOS: usize = 20;
/// The longest the subscriber waits for the next message.
const WAIT: Duration = Duration::from_secs(30);

fn options(broker: &Broker, client_id: &str) -> ConnectOptions {
    ConnectOptions::new(&format!("mqtt://127.0.0.1:{}", broker.plain_port()))
        .unwrap()
        .client_id(client_id)
        .session_expiry(3600)
}

async fn until_offline(client: &Client) {
    let mut status = client.watch_status();
    status
        .wait_for(|s| !matches!(s, ConnectionStatus::Connected { .. }))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_accepted_while_the_broker_is_down_reach_the_subscriber_after_a_restart() {
    let mut broker = Broker::start(BrokerOptions::plain().persistence(true));
    let dir = tempfile::tempdir().unwrap();
    // mosquitto 2.0 keeps across its restart the sessions of clients that
    // connected with Clean Start 0.
    let subscriber = Client::connect(options(&broker, "durable-sub").clean_start(false))
        .await
        .unwrap();
    let mut readings = subscriber
        .subscribe("durable/#", QoS::ExactlyOnce)
        .await
        .unwrap();
    let publisher = Client::connect(options(&broker, "durable-pub").persist_to(dir.path()))
        .await
        .unwrap();

    broker.stop();
    until_offline(&publisher).await;
    let mut sink = publisher.publisher();
    let mut expected = BTreeSet::new();
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        for i in 0..PER_QOS {
            let payload = format!("{qos:?} {i}");
            let cmd = PublishCommand::to("durable/readings", payload.clone(), qos).unwrap();
            // `send` completes once the message is durable.
            sink.send(cmd).await.unwrap();
            expected.insert(payload);
        }
    }
    // The process "dies" with everything still queued.
    publisher.abort().await.unwrap();
    drop((sink, publisher));

    broker.restart();
    let restarted = Client::connect(options(&broker, "durable-pub").persist_to(dir.path()))
        .await
        .unwrap();
    let mut seen = BTreeSet::new();
    while !expected.is_subset(&seen) {
        let msg = tokio::time::timeout(WAIT, readings.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} of {} messages; broker log:\n{}",
                    seen.len(),
                    expected.len(),
                    broker.log()
                )
            })
            .expect("the subscription is live");
        seen.insert(String::from_utf8(msg.payload.to_vec()).unwrap());
    }
    assert_eq!(seen, expected, "every accepted message, and nothing else");
    restarted.disconnect().await.unwrap();
    subscriber.disconnect().await.unwrap();
}
