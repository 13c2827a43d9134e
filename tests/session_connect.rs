//! The session engine: the handshake: what CONNECT carries, CONNACK limits and how they apply, clean start and resuming, an assigned client id.
//!
//! Driven only through the engine's public inputs and outputs against the
//! scripted broker double (`support/session_double.rs`), on virtual time;
//! every test ends with `Double::assert_completions`: each command that
//! returned `Ok(id)` got exactly one completion event.

#[path = "support/session_double.rs"]
mod double;

use bytes::Bytes;
#[allow(unused_imports)]
use double::packets::*;
#[allow(unused_imports)]
use double::*;
use std::num::{NonZeroU16, NonZeroU32};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tern_mqtt::codec::{
    ConnAckProperties, Packet, QoS, ReasonCode, SubscribeProperties, SubscriptionOptions, Will,
    WillProperties,
};
use tern_mqtt::session::{CommandError, Event, ProtocolError, PublishCommand};

#[test]
fn v5_connect_carries_every_option() {
    let mut c = config(V5);
    c.clean_start = true;
    c.keep_alive = 42;
    c.session_expiry_interval = 3600;
    c.username = Some(s("user"));
    c.password = Some(Bytes::from_static(b"secret"));
    c.receive_maximum = 10;
    c.maximum_packet_size = 4096;
    c.topic_alias_maximum = 5;
    c.request_response_information = true;
    c.request_problem_information = false;
    c.user_properties = vec![(s("k"), s("v")), (s("k"), s("w"))];
    let will = Will {
        topic: topic("will/t"),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: WillProperties {
            will_delay_interval: Some(30),
            payload_format_indicator: Some(true),
            message_expiry_interval: Some(120),
            content_type: Some(s("text/plain")),
            response_topic: Some(topic("will/reply")),
            correlation_data: Some(Bytes::from_static(b"corr")),
            user_properties: vec![(s("wk"), s("wv"))],
        },
    };
    c.will = Some(will.clone());
    let seen = Arc::new(Mutex::new(Vec::new()));
    c.authenticator = Some(Box::new(Reverse { seen }));
    let mut d = Double::new(c);
    let connect = d.open();
    assert_eq!(connect.protocol_version, V5);
    assert_eq!(&*connect.client_id, "tern-test");
    assert!(connect.clean_start);
    assert_eq!(connect.keep_alive, 42);
    assert_eq!(connect.will, Some(will));
    assert_eq!(connect.username, Some(s("user")));
    assert_eq!(connect.password, Some(Bytes::from_static(b"secret")));
    let p = &connect.properties;
    assert_eq!(p.session_expiry_interval, Some(3600));
    assert_eq!(p.receive_maximum, NonZeroU16::new(10));
    assert_eq!(p.maximum_packet_size, NonZeroU32::new(4096));
    assert_eq!(p.topic_alias_maximum, Some(5));
    assert_eq!(p.request_response_information, Some(true));
    assert_eq!(p.request_problem_information, Some(false));
    assert_eq!(p.user_properties, vec![(s("k"), s("v")), (s("k"), s("w"))]);
    assert_eq!(p.authentication_method, Some(s("REVERSE")));
    assert_eq!(p.authentication_data, Some(Bytes::from_static(b"hello")));
    d.assert_completions();
}

#[test]
fn v5_connect_leaves_defaults_out() {
    let mut d = Double::new(config(V5));
    let connect = d.open();
    let p = &connect.properties;
    assert_eq!(p.session_expiry_interval, None, "0 is the default");
    assert_eq!(p.receive_maximum, None, "65,535 is the default");
    assert_eq!(p.request_response_information, None);
    assert_eq!(p.request_problem_information, None, "true is the default");
    assert_eq!(p.authentication_method, None);
    assert!(connect.will.is_none() && connect.username.is_none() && connect.password.is_none());
    d.assert_completions();
}

#[test]
fn v311_connect_carries_will_credentials_and_clean_session() {
    let mut c = config(V311);
    c.clean_start = false;
    c.keep_alive = 15;
    c.username = Some(s("user"));
    c.password = Some(Bytes::from_static(b"pw"));
    let will = Will {
        topic: topic("will/t"),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::ExactlyOnce,
        retain: false,
        properties: WillProperties::default(),
    };
    c.will = Some(will.clone());
    let mut d = Double::new(c);
    let connect = d.open();
    assert_eq!(connect.protocol_version, V311);
    assert!(!connect.clean_start);
    assert_eq!(connect.keep_alive, 15);
    assert_eq!(connect.will, Some(will));
    assert_eq!(connect.username, Some(s("user")));
    assert_eq!(connect.password, Some(Bytes::from_static(b"pw")));
    assert_eq!(
        connect.properties,
        Default::default(),
        "no v5 properties in 3.1.1"
    );
    d.assert_completions();
}

#[test]
fn assigned_client_id_is_adopted_and_used_to_resume() {
    let mut c = config(V5);
    c.client_id = s("");
    c.session_expiry_interval = 600;
    let mut d = Double::new(c);
    let connect = d.open();
    assert_eq!(
        &*connect.client_id, "",
        "empty asks the server to assign one"
    );
    d.server(Packet::ConnAck(Box::new(connack_with(ConnAckProperties {
        assigned_client_identifier: Some(s("srv-42")),
        ..Default::default()
    }))));
    let events = d.events();
    assert!(
        matches!(&events[..], [Event::Connected { client_id, session_present: false, .. }] if client_id == "srv-42"),
        "{events:?}"
    );
    assert_eq!(d.session.client_id(), "srv-42");
    d.drop_transport();
    let again = d.open();
    assert_eq!(
        &*again.client_id, "srv-42",
        "the session lives under the assigned id"
    );
    assert!(!again.clean_start);
    d.assert_completions();
}

#[test]
fn connack_limits_are_applied_and_commands_beyond_them_fail_early() {
    let mut c = config(V5);
    c.keep_alive = 60;
    let mut d = Double::new(c);
    let events = d.connect_with(connack_with(ConnAckProperties {
        receive_maximum: NonZeroU16::new(3),
        maximum_qos: Some(QoS::AtLeastOnce),
        retain_available: Some(false),
        maximum_packet_size: NonZeroU32::new(200),
        topic_alias_maximum: Some(2),
        server_keep_alive: Some(5),
        wildcard_subscription_available: Some(false),
        subscription_identifiers_available: Some(false),
        shared_subscription_available: Some(false),
        ..Default::default()
    }));
    let limits = d.session.limits().clone();
    assert!(matches!(&events[..], [Event::Connected { limits: l, .. }] if *l == limits));
    assert_eq!(limits.receive_maximum, 3);
    assert_eq!(limits.maximum_qos, QoS::AtLeastOnce);
    assert!(!limits.retain_available);
    assert_eq!(limits.maximum_packet_size, 200);
    assert_eq!(limits.topic_alias_maximum, 2);
    assert_eq!(limits.keep_alive, 5);
    assert!(!limits.wildcard_subscription_available);
    assert!(!limits.subscription_identifiers_available);
    assert!(!limits.shared_subscription_available);

    // Maximum QoS [MQTT-3.2.2-11], Retain Available [MQTT-3.2.2-14],
    // Maximum Packet Size [MQTT-3.2.2-15].
    assert_eq!(
        d.publish(msg(QoS::ExactlyOnce)),
        Err(CommandError::QoSNotSupported {
            requested: QoS::ExactlyOnce,
            maximum: QoS::AtLeastOnce
        })
    );
    assert_eq!(
        d.publish(msg(QoS::AtMostOnce).retain(true)),
        Err(CommandError::RetainNotSupported)
    );
    let big = PublishCommand::new(topic("t"), vec![0u8; 300], QoS::AtMostOnce);
    assert!(matches!(
        d.publish(big),
        Err(CommandError::PacketTooLarge { max: 200, .. })
    ));
    // Subscription features.
    let q1 = SubscriptionOptions::qos(QoS::AtLeastOnce);
    assert_eq!(
        d.subscribe(vec![(filter("a/+"), q1)], Default::default()),
        Err(CommandError::WildcardsNotSupported)
    );
    assert_eq!(
        d.subscribe(vec![(filter("a/#"), q1)], Default::default()),
        Err(CommandError::WildcardsNotSupported)
    );
    assert_eq!(
        d.subscribe(vec![(filter("$share/g/a"), q1)], Default::default()),
        Err(CommandError::SharedNotSupported)
    );
    let with_id = SubscribeProperties {
        subscription_identifier: NonZeroU32::new(7),
        ..Default::default()
    };
    assert_eq!(
        d.subscribe(vec![(filter("a/b"), q1)], with_id),
        Err(CommandError::SubscriptionIdsNotSupported)
    );
    assert!(d.sent().is_empty(), "nothing refused goes out");
    assert!(
        d.events().is_empty(),
        "a refused command gets no completion"
    );

    // Receive Maximum 3.
    for _ in 0..4 {
        d.publish(msg(QoS::AtLeastOnce)).unwrap();
    }
    assert_eq!(publishes(&d.sent()).len(), 3);
    assert_eq!(d.session.queued(), 1);
    // Server Keep Alive 5 replaces our 60 [MQTT-3.2.2-21].
    assert_eq!(
        d.session.poll_timeout(),
        Some(d.now + Duration::from_secs(5))
    );
    d.advance(Duration::from_secs(5));
    assert_eq!(d.sent(), vec![Packet::PingReq(tern_mqtt::codec::PingReq)]);
    d.assert_completions();
}

#[test]
fn publish_queued_before_connack_fails_when_the_server_limits_forbid_it() {
    let mut d = Double::new(config(V5));
    let q2 = d.publish(msg(QoS::ExactlyOnce)).unwrap();
    let retained = d.publish(msg(QoS::AtMostOnce).retain(true)).unwrap();
    let fine = d.publish(msg(QoS::AtLeastOnce)).unwrap();
    d.open();
    d.server(Packet::ConnAck(Box::new(connack_with(ConnAckProperties {
        maximum_qos: Some(QoS::AtLeastOnce),
        retain_available: Some(false),
        ..Default::default()
    }))));
    let done = publish_done(&d.events());
    assert_eq!(
        done,
        vec![
            (
                q2,
                Err(CommandError::QoSNotSupported {
                    requested: QoS::ExactlyOnce,
                    maximum: QoS::AtLeastOnce
                })
            ),
            (retained, Err(CommandError::RetainNotSupported)),
        ]
    );
    let id = only_publish_id(&d.sent());
    d.server(puback(id));
    assert_publish_done(&mut d, vec![(fine, Ok(ReasonCode::SUCCESS))]);
    d.assert_completions();
}

#[test]
fn clean_start_first_then_resume_only_when_the_session_is_kept() {
    // v5, session expiry > 0: resume on later connections.
    let mut c = config(V5);
    c.session_expiry_interval = 60;
    let mut d = Double::new(c);
    assert!(d.open().clean_start, "first connection starts clean");
    d.server(Packet::ConnAck(Box::new(connack(false))));
    d.drop_transport();
    assert!(!d.open().clean_start, "later ones resume");
    d.server(Packet::ConnAck(Box::new(connack(true))));
    assert!(matches!(
        &d.events()[..],
        [Event::Connected {
            session_present: true,
            ..
        }]
    ));
    d.assert_completions();

    // v5, session expiry 0: nothing to resume.
    let mut d = Double::new(config(V5));
    d.connect();
    d.drop_transport();
    assert!(d.open().clean_start);
    d.assert_completions();

    // 3.1.1, Clean Session 0: every connection resumes.
    let mut c = config(V311);
    c.clean_start = false;
    let mut d = Double::new(c);
    assert!(!d.open().clean_start);
    d.server(Packet::ConnAck(Box::new(connack(false))));
    d.drop_transport();
    assert!(!d.open().clean_start);
    d.assert_completions();
}

#[test]
fn session_present_after_a_clean_start_is_a_protocol_error() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.open();
        d.server(Packet::ConnAck(Box::new(connack(true))));
        let error = assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
        assert!(
            matches!(
                error,
                ProtocolError::Violation {
                    spec: "MQTT-3.2.2-4",
                    ..
                }
            ),
            "{error:?}"
        );
        d.assert_completions();
    }
}
