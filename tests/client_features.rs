//! Client features beyond the core cases: backpressure, manual acks,
//! dropping subscriptions, offline queue bounds, reconnect policy, clean
//! disconnect, TLS failure kinds. Each test starts its own mosquitto.

#[path = "support/mosquitto.rs"]
mod mosquitto;

use bytes::Bytes;
use mosquitto::{Broker, BrokerOptions, Listener, ServerCert};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tern_mqtt::client::{ConnectionEvent, ReconnectAttempt, ReconnectOptions, Subscription};
use tern_mqtt::codec::{ProtocolVersion, QoS};
use tern_mqtt::session::PublishCommand;
use tern_mqtt::topic::TopicName;
use tern_mqtt::transport::TlsError;
use tern_mqtt::{Client, ConnectOptions, Error};

const WAIT: Duration = Duration::from_secs(10);

fn opts(broker: &Broker, v: ProtocolVersion, id: &str) -> ConnectOptions {
    ConnectOptions::new(&format!("mqtt://127.0.0.1:{}", broker.plain_port()))
        .unwrap()
        .version(v)
        .client_id(id)
}

async fn next(sub: &mut Subscription) -> tern_mqtt::client::Message {
    tokio::time::timeout(WAIT, sub.recv())
        .await
        .expect("a message within the wait")
        .expect("stream open")
}

async fn wait_for(
    events: &mut tern_mqtt::client::Events,
    pred: impl Fn(&ConnectionEvent) -> bool,
) -> ConnectionEvent {
    tokio::time::timeout(WAIT * 3, async {
        loop {
            match events.recv().await {
                Some(e) if pred(&e) => return e,
                Some(_) => {}
                None => panic!("event stream ended"),
            }
        }
    })
    .await
    .expect("the event within the wait")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_loses_nothing_and_order_is_kept() {
    let broker = Broker::start(BrokerOptions::plain());
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let consumer = Client::connect(
            // A buffer of about two messages: acknowledgements are held
            // back, and mosquitto's in-flight window (20) throttles it. (No
            // small Receive Maximum: mosquitto 2.0.11 exceeds one after the
            // first window, and the client then disconnects with 0x93 as
            // the spec says.)
            opts(&broker, v, "slow").subscription_buffer_bytes(512),
        )
        .await
        .unwrap();
        let mut sub = consumer.subscribe("bp/t", QoS::AtLeastOnce).await.unwrap();
        let producer = Client::connect(opts(&broker, v, "fast")).await.unwrap();
        const N: usize = 500;
        let p = producer.clone();
        let sending = tokio::spawn(async move {
            for i in 0..N {
                p.publish("bp/t", i.to_string(), QoS::AtLeastOnce, false)
                    .await
                    .unwrap();
            }
        });
        for i in 0..N {
            let m = next(&mut sub).await;
            assert_eq!(
                m.payload,
                Bytes::from(i.to_string()),
                "{v:?}: in order, none lost"
            );
            if i % 50 == 0 {
                // Consume slowly now and then: the buffer fills and reading pauses.
                tokio::task::yield_now().await;
            }
        }
        sending.await.unwrap();
        producer.disconnect().await.unwrap();
        consumer.disconnect().await.unwrap();
    }
}

#[tokio::test]
async fn manual_acks_hold_back_redelivery_until_acked() {
    let broker = Broker::start(BrokerOptions::plain());
    let consumer = Client::connect(opts(&broker, ProtocolVersion::V5, "manual").manual_acks(true))
        .await
        .unwrap();
    let mut sub = consumer.subscribe("ack/t", QoS::ExactlyOnce).await.unwrap();
    let producer = Client::connect(opts(&broker, ProtocolVersion::V5, "manual-pub"))
        .await
        .unwrap();
    for i in 0..3 {
        producer
            .publish("ack/t", format!("m{i}"), QoS::ExactlyOnce, false)
            .await
            .unwrap();
    }
    let msgs = [
        next(&mut sub).await,
        next(&mut sub).await,
        next(&mut sub).await,
    ];
    assert!(msgs.iter().all(|m| m.needs_ack()));
    // Ack out of order; the client still sends PUBRECs in arrival order.
    msgs[2].ack();
    msgs[0].ack();
    msgs[1].ack();
    producer
        .publish("ack/t", "after", QoS::ExactlyOnce, false)
        .await
        .unwrap();
    let m = next(&mut sub).await;
    assert_eq!(
        m.payload,
        Bytes::from_static(b"after"),
        "no redelivery of acked messages"
    );
    m.ack();
    consumer.disconnect().await.unwrap();
    producer.disconnect().await.unwrap();
}

#[tokio::test]
async fn dropping_a_subscription_unsubscribes_and_unmatched_goes_to_catch_all() {
    let broker = Broker::start(BrokerOptions::plain());
    let client = Client::connect(opts(&broker, ProtocolVersion::V5, "dropper"))
        .await
        .unwrap();
    let mut keep = client.subscribe("d/keep", QoS::AtLeastOnce).await.unwrap();
    let gone = client.subscribe("d/gone", QoS::AtLeastOnce).await.unwrap();
    drop(gone);
    // The UNSUBSCRIBE is ordered before this publish on the same connection.
    client
        .publish("d/gone", "x", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    client
        .publish("d/keep", "y", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(next(&mut keep).await.payload, Bytes::from_static(b"y"));
    // Explicit unsubscribe answers per filter.
    let codes = client.unsubscribe(&["d/keep"]).await.unwrap();
    assert_eq!(codes.len(), 1);
    assert!(codes[0].is_success());
    client.disconnect().await.unwrap();
}

#[tokio::test]
async fn offline_queue_is_bounded_and_try_publish_reports_a_full_queue() {
    let mut broker = Broker::start(BrokerOptions::plain());
    let client = Client::connect(
        opts(&broker, ProtocolVersion::V5, "offline")
            .offline_queue(3)
            .publish_queue(4)
            .reconnect(ReconnectOptions {
                base_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(50),
                ..Default::default()
            }),
    )
    .await
    .unwrap();
    let mut events = client.events();
    broker.stop();
    wait_for(&mut events, |e| {
        matches!(e, ConnectionEvent::ConnectionLost { .. })
    })
    .await;
    let cmd = |i: usize| {
        PublishCommand::new(
            TopicName::new("o/t").unwrap(),
            Bytes::from(i.to_string()),
            QoS::AtLeastOnce,
        )
    };
    // try_publish hands each over in order without waiting.
    let queued: Vec<_> = (0..3)
        .map(|i| client.try_publish(cmd(i)).unwrap())
        .collect();
    let fourth = client.try_publish(cmd(3)).unwrap();
    assert!(
        matches!(fourth.await, Err(Error::OfflineQueueFull(3))),
        "the offline queue holds three"
    );
    // Three publishes hold three of the four slots of the publish queue.
    let fifth = client.try_publish(cmd(4)).unwrap();
    assert!(
        matches!(client.try_publish(cmd(5)), Err(Error::QueueFull)),
        "the publish queue is full"
    );
    assert!(matches!(fifth.await, Err(Error::OfflineQueueFull(3))));
    broker.restart();
    for q in queued {
        tokio::time::timeout(WAIT * 3, q).await.unwrap().unwrap();
    }
    client.disconnect().await.unwrap();
}

#[tokio::test]
async fn reconnect_gives_up_after_max_attempts_calling_the_hook_each_time() {
    let mut broker = Broker::start(BrokerOptions::plain());
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let client = Client::connect(
        opts(&broker, ProtocolVersion::V5, "giveup").reconnect(
            ReconnectOptions {
                enabled: true,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(40),
                max_attempts: 3,
                ..ReconnectOptions::default()
            }
            .hook(move |a: ReconnectAttempt| {
                seen.fetch_add(1, Ordering::SeqCst);
                assert!(a.attempt >= 1);
                async { None }
            }),
        ),
    )
    .await
    .unwrap();
    let mut events = client.events();
    broker.stop();
    let e = wait_for(&mut events, |e| matches!(e, ConnectionEvent::GaveUp { .. })).await;
    assert_eq!(e, ConnectionEvent::GaveUp { attempts: 3 });
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the hook ran before each attempt"
    );
    assert!(matches!(
        client.publish("x", "y", QoS::AtMostOnce, false).await,
        Err(Error::Closed) | Err(Error::Command(_))
    ));
}

#[tokio::test]
async fn disconnect_waits_for_inflight_publishes() {
    let broker = Broker::start(BrokerOptions::plain());
    let watcher = Client::connect(opts(&broker, ProtocolVersion::V5, "watch"))
        .await
        .unwrap();
    let mut sub = watcher
        .subscribe("inflight/t", QoS::ExactlyOnce)
        .await
        .unwrap();
    let client = Client::connect(opts(&broker, ProtocolVersion::V5, "inflight"))
        .await
        .unwrap();
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move {
                c.publish("inflight/t", format!("{i}"), QoS::ExactlyOnce, false)
                    .await
            })
        })
        .collect();
    // Let every publish reach the connection task before disconnecting.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    client.disconnect().await.unwrap();
    let mut ok = 0;
    for h in handles {
        if h.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    for _ in 0..ok {
        next(&mut sub).await;
    }
    assert!(ok > 0, "publishes handed over before disconnect completed");
    watcher.disconnect().await.unwrap();
}

#[tokio::test]
async fn tls_errors_say_what_failed() {
    let expired =
        Broker::start(BrokerOptions::listeners(&[Listener::Tls]).server_cert(ServerCert::Expired));
    let url = format!("mqtts://127.0.0.1:{}", expired.tls_port());
    let r = Client::connect(
        ConnectOptions::new(&url)
            .unwrap()
            .ca_file(expired.ca_path()),
    )
    .await;
    assert!(matches!(r, Err(Error::Tls(TlsError::Expired))), "{r:?}");
    let future = Broker::start(
        BrokerOptions::listeners(&[Listener::Tls]).server_cert(ServerCert::NotYetValid),
    );
    let url = format!("mqtts://127.0.0.1:{}", future.tls_port());
    let r = Client::connect(ConnectOptions::new(&url).unwrap().ca_file(future.ca_path())).await;
    assert!(matches!(r, Err(Error::Tls(TlsError::NotYetValid))), "{r:?}");
    // A client certificate from another CA is refused by the broker.
    let mtls = Broker::start(BrokerOptions::listeners(&[Listener::MutualTls]));
    let url = format!("mqtts://127.0.0.1:{}", mtls.mtls_port());
    let r = Client::connect(
        ConnectOptions::new(&url)
            .unwrap()
            .ca_file(mtls.ca_path())
            .client_cert_files(mtls.other_client_cert_path(), mtls.other_client_key_path()),
    )
    .await;
    assert!(
        matches!(r, Err(Error::Tls(TlsError::ClientCertRefused(_)))),
        "{r:?}"
    );
    // And so is none at all.
    let r = Client::connect(ConnectOptions::new(&url).unwrap().ca_file(mtls.ca_path())).await;
    assert!(
        matches!(r, Err(Error::Tls(TlsError::ClientCertRefused(_)))),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_resumed_sessions_backlog_reaches_the_unmatched_stream() {
    let broker = Broker::start(BrokerOptions::plain());
    let resumable = |b: &Broker| {
        opts(b, ProtocolVersion::V5, "backlog")
            .clean_start(false)
            .session_expiry(600)
    };
    // A first process subscribes on a persistent session, then goes away.
    let first = Client::connect(resumable(&broker)).await.unwrap();
    let sub = first
        .subscribe("backlog/t", QoS::AtLeastOnce)
        .await
        .unwrap();
    // The process dies: the broker keeps the session and its subscription
    // (the handle is dropped only after, so no UNSUBSCRIBE goes out).
    first.abort().await.unwrap();
    drop(sub);
    let producer = Client::connect(opts(&broker, ProtocolVersion::V5, "backlog-pub"))
        .await
        .unwrap();
    for i in 0..3 {
        producer
            .publish("backlog/t", format!("queued {i}"), QoS::AtLeastOnce, false)
            .await
            .unwrap();
    }
    // A new process resumes the session: the broker sends the backlog at
    // once, before this process has any subscription of its own.
    let second = Client::connect(resumable(&broker)).await.unwrap();
    let mut unmatched = second.unmatched().await.unwrap();
    for i in 0..3 {
        assert_eq!(
            next(&mut unmatched).await.payload,
            Bytes::from(format!("queued {i}"))
        );
    }
    second.disconnect().await.unwrap();
    producer.disconnect().await.unwrap();
}

#[tokio::test]
async fn dropping_a_publish_future_neither_cancels_nor_corrupts_it() {
    let broker = Broker::start(BrokerOptions::plain());
    let client = Client::connect(opts(&broker, ProtocolVersion::V5, "dropped-future"))
        .await
        .unwrap();
    let mut sub = client.subscribe("drop/t", QoS::ExactlyOnce).await.unwrap();
    for i in 0..5 {
        let fut = client.publish("drop/t", format!("{i}"), QoS::ExactlyOnce, false);
        // Poll it once, so it is handed to the connection task, then drop it.
        tokio::select! {
            biased;
            _ = fut => {}
            _ = std::future::ready(()) => {}
        }
    }
    for i in 0..5 {
        assert_eq!(
            next(&mut sub).await.payload,
            Bytes::from(i.to_string()),
            "every dropped publish still arrives, once, in order"
        );
    }
    client
        .publish("drop/t", "last", QoS::ExactlyOnce, false)
        .await
        .unwrap();
    assert_eq!(
        next(&mut sub).await.payload,
        Bytes::from_static(b"last"),
        "and nothing else in between"
    );
    client.disconnect().await.unwrap();
}

#[test]
fn client_and_subscription_are_send_and_the_client_is_sync() {
    fn send_sync<T: Send + Sync + Clone>() {}
    fn send<T: Send>() {}
    send_sync::<Client>();
    send::<Subscription>();
    send::<tern_mqtt::client::Message>();
}

#[tokio::test]
async fn a_self_signed_server_certificate_is_named_as_such() {
    let broker = Broker::start(
        BrokerOptions::listeners(&[Listener::Tls]).server_cert(ServerCert::SelfSigned),
    );
    let url = format!("mqtts://127.0.0.1:{}", broker.tls_port());
    let r = Client::connect(ConnectOptions::new(&url).unwrap().ca_file(broker.ca_path())).await;
    assert!(matches!(r, Err(Error::Tls(TlsError::SelfSigned))), "{r:?}");
    // Distinct from a certificate signed by a CA we do not trust.
    let valid = Broker::start(BrokerOptions::listeners(&[Listener::Tls]));
    let url = format!("mqtts://127.0.0.1:{}", valid.tls_port());
    let r = Client::connect(
        ConnectOptions::new(&url)
            .unwrap()
            .ca_file(valid.other_ca_path()),
    )
    .await;
    assert!(matches!(r, Err(Error::Tls(TlsError::UnknownCa))), "{r:?}");
    let messages = [
        TlsError::SelfSigned.to_string(),
        TlsError::UnknownCa.to_string(),
        TlsError::Expired.to_string(),
        TlsError::NotYetValid.to_string(),
        TlsError::NameMismatch("h".into()).to_string(),
    ];
    let distinct: std::collections::HashSet<_> = messages.iter().collect();
    assert_eq!(
        distinct.len(),
        messages.len(),
        "every TLS failure has its own message"
    );
}
