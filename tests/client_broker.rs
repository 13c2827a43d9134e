//! The async client against a real mosquitto, for MQTT 3.1.1 and 5.0.
//! Each test starts its own broker on free loopback ports.

#[path = "support/mosquitto.rs"]
mod mosquitto;

use bytes::Bytes;
use mosquitto::{Broker, BrokerOptions, Listener};
use std::time::Duration;
use tern_mqtt::client::{ConnectionEvent, Message, Subscription};
use tern_mqtt::codec::{
    MqttString, ProtocolVersion, PublishProperties, QoS, ReasonCode, Will, WillProperties,
};
use tern_mqtt::session::{CommandError, PublishCommand};
use tern_mqtt::topic::TopicName;
use tern_mqtt::{Client, ConnectOptions, Error};

const BOTH: [ProtocolVersion; 2] = [ProtocolVersion::V311, ProtocolVersion::V5];
/// A bound on every wait, so a broken test fails instead of hanging.
const WAIT: Duration = Duration::from_secs(10);

fn opts(broker: &Broker, listener: Listener, v: ProtocolVersion, id: &str) -> ConnectOptions {
    let scheme = if listener.is_tls() { "mqtts" } else { "mqtt" };
    let url = format!("{scheme}://127.0.0.1:{}", broker.port(listener));
    let mut o = ConnectOptions::new(&url).unwrap().version(v).client_id(id);
    if listener.is_tls() {
        o = o.ca_file(broker.ca_path());
    }
    o
}

async fn next(sub: &mut Subscription) -> Message {
    tokio::time::timeout(WAIT, sub.recv())
        .await
        .expect("a message within the wait")
        .expect("stream open")
}

async fn connect(broker: &Broker, v: ProtocolVersion, id: &str) -> Client {
    Client::connect(opts(broker, Listener::Plain, v, id))
        .await
        .unwrap()
}

#[tokio::test]
async fn qos_0_1_2_publish_and_receive() {
    let broker = Broker::start(BrokerOptions::plain());
    for v in BOTH {
        let client = connect(&broker, v, &format!("qos-{v:?}")).await;
        let mut sub = client
            .subscribe("test/qos/#", QoS::ExactlyOnce)
            .await
            .unwrap();
        assert_eq!(sub.results(), &[Ok(QoS::ExactlyOnce)]);
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let topic = format!("test/qos/{}", qos as u8);
            let outcome = client
                .publish(&topic, format!("payload {qos:?}"), qos, false)
                .await
                .unwrap();
            assert!(outcome.reason_code.is_success());
            let m = next(&mut sub).await;
            assert_eq!(m.topic.as_str(), topic);
            assert_eq!(m.qos, qos);
            assert_eq!(m.payload, Bytes::from(format!("payload {qos:?}")));
        }
        client.disconnect().await.unwrap();
    }
}

#[tokio::test]
async fn retained_message_reaches_a_later_subscriber_then_is_cleared() {
    let broker = Broker::start(BrokerOptions::plain());
    for v in BOTH {
        let topic = format!("test/retained/{v:?}");
        let client = connect(&broker, v, "retain-pub").await;
        client
            .publish(&topic, "kept", QoS::AtLeastOnce, true)
            .await
            .unwrap();
        let later = connect(&broker, v, "retain-sub-1").await;
        let mut sub = later.subscribe(&topic, QoS::AtLeastOnce).await.unwrap();
        let m = next(&mut sub).await;
        assert!(m.retain);
        assert_eq!(m.payload, Bytes::from_static(b"kept"));
        // An empty retained publish clears it.
        client
            .publish(&topic, Bytes::new(), QoS::AtLeastOnce, true)
            .await
            .unwrap();
        next(&mut sub).await;
        let last = connect(&broker, v, "retain-sub-2").await;
        let mut sub2 = last.subscribe(&topic, QoS::AtLeastOnce).await.unwrap();
        client
            .publish(&topic, "marker", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        let m = next(&mut sub2).await;
        assert_eq!(
            m.payload,
            Bytes::from_static(b"marker"),
            "no retained message is left"
        );
        assert!(!m.retain);
        for c in [client, later, last] {
            c.disconnect().await.unwrap();
        }
    }
}

fn will(topic: &str) -> Will {
    Will {
        topic: TopicName::new(topic).unwrap(),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: WillProperties::default(),
    }
}

#[tokio::test]
async fn will_is_sent_when_the_client_dies_not_after_a_clean_disconnect() {
    let broker = Broker::start(BrokerOptions::plain());
    for v in BOTH {
        let topic = format!("test/will/{v:?}");
        let watcher = connect(&broker, v, "will-watcher").await;
        let mut sub = watcher.subscribe(&topic, QoS::AtLeastOnce).await.unwrap();

        let dying =
            Client::connect(opts(&broker, Listener::Plain, v, "will-dying").will(will(&topic)))
                .await
                .unwrap();
        dying.abort().await.unwrap();
        let m = next(&mut sub).await;
        assert_eq!(
            m.payload,
            Bytes::from_static(b"gone"),
            "the will arrives after an abrupt end"
        );

        let polite =
            Client::connect(opts(&broker, Listener::Plain, v, "will-polite").will(will(&topic)))
                .await
                .unwrap();
        polite.disconnect().await.unwrap();
        watcher
            .publish(&topic, "marker", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        let m = next(&mut sub).await;
        assert_eq!(
            m.payload,
            Bytes::from_static(b"marker"),
            "no will after a clean disconnect"
        );
        watcher.disconnect().await.unwrap();
    }
}

#[tokio::test]
async fn wildcards_route_to_every_matching_subscription() {
    let broker = Broker::start(BrokerOptions::plain());
    for v in BOTH {
        let client = connect(&broker, v, "router").await;
        let mut plus = client.subscribe("w/+/t", QoS::AtLeastOnce).await.unwrap();
        let mut hash = client.subscribe("w/#", QoS::AtLeastOnce).await.unwrap();
        let mut exact = client.subscribe("w/a/t", QoS::AtLeastOnce).await.unwrap();
        client
            .publish("w/a/t", "1", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        client
            .publish("w/b/t", "2", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        client
            .publish("w/x", "3", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        client
            .publish("w/end", "end", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        // Everything each stream got, up to the marker on w/end (w/# only).
        async fn drain(sub: &mut Subscription, stop: &str) -> Vec<String> {
            let mut got = Vec::new();
            loop {
                let m = next(sub).await;
                if m.topic.as_str() == stop {
                    return got;
                }
                got.push(m.topic.to_string());
            }
        }
        let hash_got = drain(&mut hash, "w/end").await;
        client
            .publish("w/a/t", "end", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        let plus_got = drain_until_payload(&mut plus, "end").await;
        let exact_got = drain_until_payload(&mut exact, "end").await;
        match v {
            // v5: our subscription identifiers route each message exactly.
            ProtocolVersion::V5 => {
                assert_eq!(hash_got, ["w/a/t", "w/b/t", "w/x"]);
                assert_eq!(plus_got, ["w/a/t", "w/b/t"]);
                assert_eq!(exact_got, ["w/a/t"]);
            }
            // 3.1.1: without subscription identifiers the client routes by
            // filter: every matching stream gets the message (mosquitto
            // sends one copy for overlapping filters; brokers that send one
            // per subscription, such as amqtt, make a stream see it twice:
            // see the interop quirk `overlap-copy-per-subscription`).
            ProtocolVersion::V311 => {
                for t in ["w/a/t", "w/b/t", "w/x"] {
                    assert!(
                        hash_got.iter().any(|h| h == t),
                        "{t} reached w/# ({hash_got:?})"
                    );
                }
                assert!(
                    plus_got.iter().all(|t| t == "w/a/t" || t == "w/b/t") && plus_got.len() >= 2
                );
                assert!(exact_got.iter().all(|t| t == "w/a/t") && !exact_got.is_empty());
            }
        }
        client.disconnect().await.unwrap();
    }
}

#[tokio::test]
async fn v5_properties_arrive_intact() {
    let broker = Broker::start(BrokerOptions::plain());
    let client = connect(&broker, ProtocolVersion::V5, "props").await;
    let mut sub = client
        .subscribe("test/props", QoS::AtLeastOnce)
        .await
        .unwrap();
    let s = |x: &str| MqttString::try_from(x).unwrap();
    let properties = PublishProperties {
        payload_format_indicator: Some(true),
        message_expiry_interval: Some(600),
        content_type: Some(s("application/json")),
        response_topic: Some(TopicName::new("test/reply").unwrap()),
        correlation_data: Some(Bytes::from_static(b"\x01\x02corr")),
        user_properties: vec![(s("b"), s("2")), (s("a"), s("1")), (s("b"), s("3"))],
        ..Default::default()
    };
    let mut cmd = PublishCommand::new(
        TopicName::new("test/props").unwrap(),
        "{}",
        QoS::AtLeastOnce,
    );
    cmd.properties = properties.clone().into();
    client.publish_command(cmd).await.unwrap();
    let m = next(&mut sub).await;
    assert_eq!(
        m.properties.user_properties, properties.user_properties,
        "order and repeats kept"
    );
    assert_eq!(m.properties.content_type, properties.content_type);
    assert_eq!(m.properties.response_topic, properties.response_topic);
    assert_eq!(m.properties.correlation_data, properties.correlation_data);
    assert_eq!(m.properties.payload_format_indicator, Some(true));
    let expiry = m.properties.message_expiry_interval.unwrap();
    assert!((590..=600).contains(&expiry), "expiry {expiry}");
    client.disconnect().await.unwrap();
}

#[tokio::test]
async fn bad_credentials_are_refused_with_the_reason_code() {
    let broker = Broker::start(BrokerOptions::listeners(&[Listener::Auth]));
    for v in BOTH {
        let good = Client::connect(
            opts(&broker, Listener::Auth, v, "auth-ok").credentials("user1", "pass1"),
        )
        .await
        .unwrap();
        good.disconnect().await.unwrap();
        let bad = Client::connect(
            opts(&broker, Listener::Auth, v, "auth-bad").credentials("user1", "nope"),
        )
        .await;
        match bad {
            // mosquitto answers 0x87 in v5 and return code 5 in 3.1.1,
            // which the client reports as its v5 equivalent 0x87.
            Err(Error::ConnectionRefused { reason_code, .. }) => {
                assert_eq!(reason_code, ReasonCode::NOT_AUTHORIZED, "{v:?}")
            }
            other => panic!("{v:?}: expected a refusal, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn acl_denied_publish_reports_its_v5_reason_code() {
    let broker = Broker::start(BrokerOptions::listeners(&[Listener::Auth]));
    let reader = Client::connect(
        opts(&broker, Listener::Auth, ProtocolVersion::V5, "acl-reader")
            .credentials("user2", "pass2"),
    )
    .await
    .unwrap();
    match reader
        .publish("test/denied", "x", QoS::AtLeastOnce, false)
        .await
    {
        Err(Error::Command(CommandError::Refused { reason_code, .. })) => {
            assert_eq!(reason_code, ReasonCode::NOT_AUTHORIZED)
        }
        other => panic!("expected a refused publish, got {other:?}"),
    }
    // In 3.1.1 mosquitto drops it silently with PUBACK 0: the publish completes.
    let old = Client::connect(
        opts(&broker, Listener::Auth, ProtocolVersion::V311, "acl-311")
            .credentials("user2", "pass2"),
    )
    .await
    .unwrap();
    assert!(old
        .publish("test/denied", "x", QoS::AtLeastOnce, false)
        .await
        .is_ok());
}

#[tokio::test]
async fn tls_with_the_generated_ca_and_clear_failures() {
    let broker = Broker::start(BrokerOptions::listeners(&[
        Listener::Tls,
        Listener::MutualTls,
    ]));
    for v in BOTH {
        let c = Client::connect(opts(&broker, Listener::Tls, v, "tls-ok"))
            .await
            .unwrap();
        let mut sub = c.subscribe("tls/t", QoS::AtLeastOnce).await.unwrap();
        c.publish("tls/t", "secret", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(next(&mut sub).await.payload, Bytes::from_static(b"secret"));
        c.disconnect().await.unwrap();
    }
    let wrong_ca = Client::connect(
        opts(&broker, Listener::Tls, ProtocolVersion::V5, "tls-ca").ca_file(broker.other_ca_path()),
    )
    .await;
    assert!(
        matches!(
            wrong_ca,
            Err(Error::Tls(tern_mqtt::transport::TlsError::UnknownCa))
        ),
        "{wrong_ca:?}"
    );
    let wrong_name = Client::connect(
        opts(&broker, Listener::Tls, ProtocolVersion::V5, "tls-name")
            .tls_server_name("wrong.example"),
    )
    .await;
    assert!(
        matches!(
            wrong_name,
            Err(Error::Tls(tern_mqtt::transport::TlsError::NameMismatch(_)))
        ),
        "{wrong_name:?}"
    );
    let mtls = Client::connect(
        opts(&broker, Listener::MutualTls, ProtocolVersion::V5, "mtls")
            .client_cert_files(broker.client_cert_path(), broker.client_key_path()),
    )
    .await
    .unwrap();
    mtls.publish("mtls/t", "ok", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    mtls.disconnect().await.unwrap();
    let no_cert = Client::connect(opts(
        &broker,
        Listener::MutualTls,
        ProtocolVersion::V5,
        "mtls-none",
    ))
    .await;
    assert!(
        no_cert.is_err(),
        "mutual TLS without a client certificate must fail"
    );
}

#[tokio::test]
async fn reconnects_after_a_broker_restart_and_delivers_what_was_queued() {
    let mut broker = Broker::start(BrokerOptions::plain().persistence(true));
    for v in BOTH {
        let topic = format!("test/reconnect/{v:?}");
        let sub_opts = opts(&broker, Listener::Plain, v, &format!("rc-sub-{v:?}"))
            .clean_start(false)
            .session_expiry(3600);
        let subscriber = Client::connect(sub_opts).await.unwrap();
        let mut sub = subscriber
            .subscribe(&topic, QoS::AtLeastOnce)
            .await
            .unwrap();
        let mut events = subscriber.events();
        let publisher = Client::connect(
            opts(&broker, Listener::Plain, v, &format!("rc-pub-{v:?}"))
                .clean_start(false)
                .session_expiry(3600),
        )
        .await
        .unwrap();
        let mut pub_events = publisher.events();

        broker.stop();
        // Publishes made while the broker is down wait, then complete.
        let pending: Vec<_> = (0..5)
            .map(|i| {
                let p = publisher.clone();
                let t = topic.clone();
                tokio::spawn(async move {
                    p.publish(&t, format!("m{i}"), QoS::AtLeastOnce, false)
                        .await
                })
            })
            .collect();
        wait_for(&mut pub_events, |e| {
            matches!(e, ConnectionEvent::Reconnecting { .. })
        })
        .await;
        broker.restart();
        wait_for(&mut events, |e| {
            matches!(e, ConnectionEvent::Reconnected { .. })
        })
        .await;
        for p in pending {
            tokio::time::timeout(WAIT, p)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        }
        let mut got = Vec::new();
        while got.len() < 5 {
            let m = next(&mut sub).await;
            let s = String::from_utf8_lossy(&m.payload).to_string();
            if !got.contains(&s) {
                got.push(s);
            }
        }
        got.sort();
        assert_eq!(got, vec!["m0", "m1", "m2", "m3", "m4"]);
        // The subscription keeps delivering.
        publisher
            .publish(&topic, "after", QoS::AtLeastOnce, false)
            .await
            .unwrap();
        assert_eq!(next(&mut sub).await.payload, Bytes::from_static(b"after"));
        publisher.disconnect().await.unwrap();
        subscriber.disconnect().await.unwrap();
    }
}

async fn drain_until_payload(sub: &mut Subscription, stop: &str) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let m = next(sub).await;
        if m.payload == stop.as_bytes() {
            return got;
        }
        got.push(m.topic.to_string());
    }
}

async fn wait_for(events: &mut tern_mqtt::client::Events, pred: impl Fn(&ConnectionEvent) -> bool) {
    tokio::time::timeout(WAIT * 2, async {
        loop {
            match events.recv().await {
                Some(e) if pred(&e) => return,
                Some(_) => {}
                None => panic!("event stream ended"),
            }
        }
    })
    .await
    .expect("the event within the wait")
}

#[tokio::test]
async fn connect_times_out_against_a_silent_server() {
    // Accepts TCP and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let started = tokio::time::Instant::now();
    let result = Client::connect(
        ConnectOptions::new(&format!("mqtt://127.0.0.1:{port}"))
            .unwrap()
            .connect_timeout(Duration::from_millis(300)),
    )
    .await;
    assert!(
        matches!(
            result,
            Err(Error::Protocol(
                tern_mqtt::session::ProtocolError::ConnAckTimeout
            )) | Err(Error::ConnectTimeout)
        ),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failed within the timeout, not after a hang"
    );
    hold.abort();
}
