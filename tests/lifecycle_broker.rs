//! The connection lifecycle against a real mosquitto, under default
//! options except what each test is about: dropping every handle, idle
//! subscribers across a broker restart, a slow subscription, two clients
//! fighting over one client id, and a publish made while the broker is
//! down. Each test starts its own broker on free loopback ports and uses
//! client ids of its own.
//!
//! Waits are bounded: on connection events, on the broker log, on
//! messages. A wait that proves something does not happen is at most
//! [`ABSENCE`].

#[path = "support/mosquitto.rs"]
mod mosquitto;

use bytes::Bytes;
use mosquitto::{connections_in, count_in, disconnects_in, Broker, BrokerOptions};
use std::time::Duration;
use tern_mqtt::client::{ConnectionEvent, ConnectionStatus, Events, Message, Subscription};
use tern_mqtt::codec::{QoS, ReasonCode, Will, WillProperties};
use tern_mqtt::session::PublishCommand;
use tern_mqtt::topic::TopicName;
use tern_mqtt::{Client, ConnectOptions};

/// A bound on every wait for something that must happen.
const WAIT: Duration = Duration::from_secs(10);
/// How long a test watches for something that must not happen.
const ABSENCE: Duration = Duration::from_secs(2);

/// Default options (MQTT 5.0, clean start, keep alive 60 s, reconnect on)
/// to the broker's plain listener.
fn opts(broker: &Broker, id: &str) -> ConnectOptions {
    ConnectOptions::new(&format!("mqtt://127.0.0.1:{}", broker.plain_port()))
        .unwrap()
        .client_id(id)
}

async fn connect(broker: &Broker, id: &str) -> Client {
    Client::connect(opts(broker, id))
        .await
        .unwrap_or_else(|e| panic!("{id} connects: {e}"))
}

async fn next(sub: &mut Subscription) -> Message {
    tokio::time::timeout(WAIT, sub.recv())
        .await
        .expect("a message within the wait")
        .expect("the subscription is open")
}

/// The next event matching `pred`, within [`WAIT`].
async fn wait_for(
    events: &mut Events,
    what: &str,
    pred: impl Fn(&ConnectionEvent) -> bool,
) -> ConnectionEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Some(e) if pred(&e) => return e,
                Some(e) => eprintln!("event while waiting for {what}: {e}"),
                None => panic!("the event stream ended before {what}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} within {WAIT:?}"))
}

/// Runs a blocking broker operation (stop, restart) without stalling the
/// clients' tasks: the tests run on a multi-thread runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Publishes at QoS 1 and asserts the broker's PUBACK reports success
/// (in v5 not 0x10 No matching subscribers: somebody got it).
async fn publish_delivered(client: &Client, topic: &str, payload: impl Into<Bytes>) {
    let outcome = tokio::time::timeout(
        WAIT,
        client.publish(topic, payload, QoS::AtLeastOnce, false),
    )
    .await
    .expect("PUBACK within the wait")
    .expect("published");
    assert_eq!(
        outcome.reason_code,
        ReasonCode::SUCCESS,
        "the broker had a subscriber for {topic}"
    );
}

// ----- dropping every handle -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_client_sends_disconnect_without_the_will_and_never_reconnects() {
    const ID: &str = "lb-drop-dying";
    const WILL_TOPIC: &str = "lb/drop/will";
    let broker = Broker::start(BrokerOptions::plain());
    let log = broker.log_watch();
    let watcher = connect(&broker, "lb-drop-watcher").await;
    let mut wills = watcher
        .subscribe(WILL_TOPIC, QoS::AtLeastOnce)
        .await
        .unwrap();
    let will = Will {
        topic: TopicName::new(WILL_TOPIC).unwrap(),
        payload: Bytes::from_static(b"died"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: WillProperties::default(),
    };
    let dying = Client::connect(opts(&broker, ID).will(will)).await.unwrap();
    let clone = dying.clone();
    let mut own = dying
        .subscribe("lb/drop/own", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(broker.wills_from(ID), 1, "the connection declared a will");

    drop(dying);
    drop(clone);

    assert!(
        log.until(WAIT, |l| disconnects_in(l, ID) == 1).await,
        "mosquitto received a DISCONNECT from {ID}"
    );
    assert!(
        tokio::time::timeout(WAIT, own.recv())
            .await
            .expect("the subscription ends within the wait")
            .is_none(),
        "the dropped client's subscription ends"
    );
    // Neither a will nor a new connection follows.
    let (will_seen, reconnected) = tokio::join!(
        tokio::time::timeout(ABSENCE, wills.recv()),
        log.until(ABSENCE, |l| connections_in(l, ID) > 1)
    );
    if let Ok(m) = will_seen {
        panic!("no will after a normal DISCONNECT, got {m:?}");
    }
    assert!(!reconnected, "no new connection from {ID}");
    assert_eq!(broker.connections_from(ID), 1);
    // The watcher's subscription works: its silence meant something.
    publish_delivered(&watcher, WILL_TOPIC, "marker").await;
    assert_eq!(
        next(&mut wills).await.payload,
        Bytes::from_static(b"marker")
    );
    watcher.disconnect().await.unwrap();
}

// ----- an idle subscriber across a broker restart -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_subscriber_receives_again_after_a_broker_restart_that_lost_its_session() {
    // Persistence off: the restarted broker has no session for anyone.
    let mut broker = Broker::start(BrokerOptions::plain());
    for keep_alive in [60, 0] {
        let topic = format!("lb/idle/k{keep_alive}");
        let id = format!("lb-idle-sub-k{keep_alive}");
        let subscriber =
            Client::connect(opts(&broker, &id).keep_alive(Duration::from_secs(keep_alive)))
                .await
                .unwrap();
        let mut events = subscriber.events();
        let mut sub = subscriber
            .subscribe(&topic, QoS::AtLeastOnce)
            .await
            .unwrap();

        blocking(|| broker.restart());

        // From here on the test asks nothing of the subscriber.
        wait_for(&mut events, "Reconnected without a session", |e| {
            *e == ConnectionEvent::Reconnected {
                session_present: false,
            }
        })
        .await;
        let resubscribed = wait_for(&mut events, "Resubscribed", |e| {
            matches!(e, ConnectionEvent::Resubscribed { .. })
        })
        .await;
        let at = tokio::time::Instant::now();
        assert_eq!(
            resubscribed,
            ConnectionEvent::Resubscribed {
                filters: 1,
                refused: Vec::new(),
            },
            "keep alive {keep_alive}"
        );
        let publisher = connect(&broker, &format!("lb-idle-pub-k{keep_alive}")).await;
        tokio::time::sleep_until(at + Duration::from_millis(300)).await;
        publish_delivered(&publisher, &topic, "after the restart").await;
        let m = next(&mut sub).await;
        assert_eq!(m.topic.as_str(), topic);
        assert_eq!(m.payload, Bytes::from_static(b"after the restart"));
        assert_eq!(
            broker.connections_from(&id),
            2,
            "keep alive {keep_alive}: one reconnection"
        );
        publisher.disconnect().await.unwrap();
        subscriber.disconnect().await.unwrap();
    }
}

// ----- a slow subscription -----

/// At the default budget (1 MiB) 400 small messages to a subscription
/// nobody reads all fit: every one is acknowledged, and the client's other
/// subscription and its own publishes go on as if nothing happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_subscription_at_the_default_budget_stalls_nothing() {
    unread_subscription("lb-unread-default", None).await;
}

/// With a small budget the acknowledgements of what does not fit are held
/// back: the broker's window (mosquitto's 20 in-flight messages, per
/// connection) then throttles this connection's QoS 1/2 deliveries, while
/// our own publishes complete. Nothing is lost once the reader catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_subscription_holds_acks_and_loses_nothing() {
    unread_subscription("lb-unread-small", Some(16 * 1024)).await;
}

async fn unread_subscription(id: &str, budget: Option<usize>) {
    const N: usize = 400;
    let broker = Broker::start(BrokerOptions::plain());
    let log = broker.log_watch();
    let pubacks = format!("Received PUBACK from {id} (");
    let mut options = opts(&broker, id);
    if let Some(b) = budget {
        options = options.subscription_buffer_bytes(b);
    }
    let limit = budget.unwrap_or(1024 * 1024);
    let consumer = Client::connect(options).await.unwrap();
    let mut events = consumer.events();
    let mut slow = consumer
        .subscribe("lb/slow/unread", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut other = consumer
        .subscribe("lb/slow/other", QoS::AtLeastOnce)
        .await
        .unwrap();
    let producer = connect(&broker, &format!("{id}-producer")).await;
    let payload = |i: usize| Bytes::from(format!("{i:04} {}", "x".repeat(60)));
    for i in 0..N {
        publish_delivered(&producer, "lb/slow/unread", payload(i)).await;
    }
    if budget.is_some() {
        let slow_id = slow.id();
        wait_for(&mut events, "SubscriptionFull", |e| {
            *e == ConnectionEvent::SubscriptionFull {
                subscription: slow_id,
            }
        })
        .await;
    } else {
        let all = pubacks.clone();
        assert!(
            log.until(WAIT, move |l| count_in(l, &all) == N).await,
            "at the default budget every message is acknowledged unread"
        );
    }
    // Our own QoS 1 publish completes whatever the buffer holds.
    publish_delivered(&consumer, "lb/slow/other", "our own").await;
    publish_delivered(&producer, "lb/slow/other", "from the producer").await;
    assert!(
        slow.buffered_bytes() <= limit,
        "{} buffered over a budget of {limit}",
        slow.buffered_bytes()
    );
    let acked = count_in(&log.log(), &pubacks);
    if budget.is_none() {
        // Not held up by the unread one: both arrive now.
        assert_eq!(next(&mut other).await.payload, "our own");
        assert_eq!(next(&mut other).await.payload, "from the producer");
    } else {
        assert!(acked < N, "acks held back: {acked} of {N} acked");
    }
    assert!(consumer.is_connected());
    for i in 0..N {
        let m = next(&mut slow).await;
        assert_eq!(m.payload, payload(i), "message {i} in order, none lost");
    }
    assert_eq!(slow.dropped(), 0);
    if budget.is_some() {
        assert_eq!(next(&mut other).await.payload, "our own");
        assert_eq!(next(&mut other).await.payload, "from the producer");
    }
    assert!(
        log.until(WAIT, move |l| count_in(l, &pubacks) == N + 2)
            .await,
        "every message is acknowledged once read"
    );
    producer.disconnect().await.unwrap();
    consumer.disconnect().await.unwrap();
}

// ----- two clients with one client id -----

/// mosquitto 2.0.11 closes the displaced connection without the v5
/// DISCONNECT 0x8E Session taken over (checked on the wire), so the client
/// cannot tell a takeover from a broker that drops it, and must not give
/// up on the latter. What it can do is not storm: each connection the
/// other one kicks counts as a failure, the backoff grows, and the two
/// settle to a few connections per minute. (With a broker that sends 0x8E
/// the displaced client stops at once: see tests/hostile_broker.rs and
/// tests/lifecycle.rs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_with_one_client_id_do_not_storm_mosquitto() {
    const ID: &str = "lb-same-id";
    const WINDOW: Duration = Duration::from_secs(5);
    let broker = Broker::start(BrokerOptions::plain());
    let log = broker.log_watch();
    let first = connect(&broker, ID).await;
    let mut first_events = first.events();
    let second = connect(&broker, ID).await;
    wait_for(&mut first_events, "ConnectionLost", |e| {
        matches!(e, ConnectionEvent::ConnectionLost { .. })
    })
    .await;
    // Each kick is a failure for the kicked one, so the pace halves with
    // every round: a handful of connections in the first seconds, then at
    // most a few more in the next five.
    let stormed = log.until(WINDOW, |l| connections_in(l, ID) > 12).await;
    let early = broker.connections_from(ID);
    assert!(!stormed, "{early} connections from {ID} within {WINDOW:?}");
    assert!(early >= 3, "they do retry: {early}");
    let later = log
        .until(WINDOW, move |l| connections_in(l, ID) > early + 6)
        .await;
    assert!(
        !later,
        "{} connections from {ID} in the next {WINDOW:?} after {early}",
        broker.connections_from(ID) - early
    );
    drop(first);
    drop(second);
}

// ----- a publish made while the broker is down -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_made_while_the_broker_is_down_goes_out_once_it_is_back() {
    const TOPIC: &str = "lb/offline/t";
    // The receiver's session (and so its subscription) survives the stop:
    // delivery then depends on the publisher alone.
    let mut broker = Broker::start(BrokerOptions::plain().persistence(true));
    let receiver = Client::connect(
        opts(&broker, "lb-offline-receiver")
            .clean_start(false)
            .session_expiry(600),
    )
    .await
    .unwrap();
    let mut sub = receiver.subscribe(TOPIC, QoS::AtLeastOnce).await.unwrap();
    let publisher = connect(&broker, "lb-offline-publisher").await;
    let mut events = publisher.events();

    blocking(|| broker.stop());
    wait_for(&mut events, "Reconnecting", |e| {
        matches!(e, ConnectionEvent::Reconnecting { .. })
    })
    .await;
    assert!(!publisher.is_connected());
    // Handed to the connection task now, while it is offline.
    let publishing = publisher
        .try_publish(PublishCommand::new(
            TopicName::new(TOPIC).unwrap(),
            Bytes::from_static(b"made offline"),
            QoS::AtLeastOnce,
        ))
        .expect("queued offline");

    blocking(|| broker.restart());

    // Nothing more is asked of the publisher.
    let outcome = tokio::time::timeout(WAIT, publishing)
        .await
        .expect("the offline publish completes after the restart")
        .expect("published");
    assert_eq!(outcome.reason_code, ReasonCode::SUCCESS);
    let m = next(&mut sub).await;
    assert_eq!(m.payload, Bytes::from_static(b"made offline"));
    assert!(matches!(
        publisher.status(),
        ConnectionStatus::Connected {
            session_present: false,
            ..
        }
    ));
    publisher.disconnect().await.unwrap();
    receiver.disconnect().await.unwrap();
}
