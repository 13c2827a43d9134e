//! The session engine's remaining behaviours (handshake options, server
//! limits, packet ids, acknowledgements, connection loss, keep alive, topic
//! aliases, packet sizes, protocol errors, enhanced authentication,
//! subscriptions), driven only through its public inputs and outputs
//! against the scripted broker double, on virtual time.
//!
//! Every test ends with [`Double::assert_completions`]: each command that
//! returned `Ok(id)` got exactly one completion event.

#[path = "support/session_double.rs"]
mod double;

use bytes::Bytes;
use double::{config, connack, Double};
use std::collections::HashSet;
use std::num::{NonZeroU16, NonZeroU32};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tern_mqtt::codec::{
    AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, DecodeError, Disconnect,
    DisconnectProperties, MqttString, Packet, PacketId, ProtocolVersion, Publish, PublishAck,
    PublishProperties, QoS, ReasonCode, RetainHandling, SubAck, Subscribe, SubscribeProperties,
    SubscriptionOptions, UnsubAck, UnsubscribeProperties, Will, WillProperties,
};
use tern_mqtt::session::{
    ActiveSubscription, Authenticator, CommandError, DisconnectInfo, Event, Initiator,
    ProtocolError, PublishCommand, RequestId, SessionLostPolicy,
};
use tern_mqtt::topic::{TopicFilter, TopicName};

const BOTH: [ProtocolVersion; 2] = [ProtocolVersion::V311, ProtocolVersion::V5];
const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V311;

// ----- helpers -----

fn s(v: &str) -> MqttString {
    MqttString::try_from(v).unwrap()
}

fn topic(v: &str) -> TopicName {
    TopicName::new(v).unwrap()
}

fn filter(v: &str) -> TopicFilter {
    TopicFilter::new(v).unwrap()
}

fn pid(n: u16) -> PacketId {
    NonZeroU16::new(n).unwrap()
}

fn msg(qos: QoS) -> PublishCommand {
    PublishCommand::new(topic("t/1"), Bytes::from_static(b"hello"), qos)
}

fn msg_to(t: &str) -> PublishCommand {
    PublishCommand::new(topic(t), Bytes::from_static(b"x"), QoS::AtMostOnce)
}

fn connack_with(properties: ConnAckProperties) -> ConnAck {
    ConnAck {
        properties,
        ..connack(false)
    }
}

/// The PUBLISH packets among `sent`.
fn publishes(sent: &[Packet]) -> Vec<Publish> {
    sent.iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// The packet id of the single PUBLISH in `sent`.
fn only_publish_id(sent: &[Packet]) -> PacketId {
    match sent {
        [Packet::Publish(p)] => p.packet_id.unwrap(),
        other => panic!("expected one PUBLISH, got {other:?}"),
    }
}

/// The publish completions among `events`.
fn publish_done(events: &[Event]) -> Vec<(RequestId, Result<ReasonCode, CommandError>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PublishDone { id, result } => Some((*id, result.clone().map(|a| a.reason_code))),
            _ => None,
        })
        .collect()
}

/// The only `Disconnected` event, which must be the last one.
fn disconnected(events: &[Event]) -> DisconnectInfo {
    let infos: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Disconnected(i) => Some(i.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(infos.len(), 1, "one Disconnected event: {events:?}");
    assert!(
        matches!(events.last(), Some(Event::Disconnected(_))),
        "{events:?}"
    );
    infos[0].clone()
}

/// The reason code of the single DISCONNECT in `sent`.
fn disconnect_reason(sent: &[Packet]) -> ReasonCode {
    match sent {
        [Packet::Disconnect(d)] => d.reason_code,
        other => panic!("expected one DISCONNECT, got {other:?}"),
    }
}

fn messages(events: &[Event]) -> Vec<tern_mqtt::session::Delivery> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn incoming(t: Option<&str>, qos: QoS, id: u16, properties: PublishProperties) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: t.map(topic),
        packet_id: if qos == QoS::AtMostOnce {
            None
        } else {
            Some(pid(id))
        },
        properties,
        payload: Bytes::from_static(b"payload"),
    })
}

fn alias(n: u16) -> PublishProperties {
    PublishProperties {
        topic_alias: NonZeroU16::new(n),
        ..Default::default()
    }
}

fn suback(id: PacketId, codes: Vec<ReasonCode>) -> Packet {
    Packet::SubAck(SubAck {
        packet_id: id,
        properties: AckProperties::default(),
        reason_codes: codes,
    })
}

fn ack_with(id: PacketId, reason_code: ReasonCode) -> PublishAck {
    let mut a = PublishAck::new(id);
    a.reason_code = reason_code;
    a
}

/// Checks that the engine closed on a protocol error with `reason`:
/// DISCONNECT with it (v5 only), a typed `Disconnected` event, and
/// `wants_close`.
fn assert_protocol_close(d: &mut Double, reason: ReasonCode) -> ProtocolError {
    let sent = d.sent();
    match d.version {
        ProtocolVersion::V5 => assert_eq!(disconnect_reason(&sent), reason),
        ProtocolVersion::V311 => assert!(sent.is_empty(), "no DISCONNECT in 3.1.1: {sent:?}"),
    }
    assert!(d.session.wants_close());
    let info = disconnected(&d.events());
    assert_eq!(info.initiator, Initiator::Protocol);
    assert_eq!(info.reason_code, Some(reason));
    let error = info.error.expect("a typed protocol error");
    assert_eq!(error.reason_code(), reason);
    error
}

/// A scripted authenticator: answers each challenge `c` with `c` reversed,
/// or refuses when the challenge is `b"refuse"`. Records the challenges.
struct Reverse {
    seen: Seen,
}

/// The challenges an authenticator was given.
type Seen = Arc<Mutex<Vec<Option<Bytes>>>>;

impl Authenticator for Reverse {
    fn method(&self) -> &str {
        "REVERSE"
    }

    fn initial_data(&mut self) -> Option<Bytes> {
        Some(Bytes::from_static(b"hello"))
    }

    fn respond(&mut self, challenge: Option<&Bytes>) -> Result<Option<Bytes>, String> {
        self.seen.lock().unwrap().push(challenge.cloned());
        let c = challenge.ok_or("no challenge")?;
        if &c[..] == b"refuse" {
            return Err("refused".to_owned());
        }
        let mut v = c.to_vec();
        v.reverse();
        Ok(Some(Bytes::from(v)))
    }
}

fn auth_config() -> (tern_mqtt::session::SessionConfig, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut c = config(V5);
    c.authenticator = Some(Box::new(Reverse { seen: seen.clone() }));
    (c, seen)
}

fn server_auth(reason_code: ReasonCode, method: &str, data: Option<&'static [u8]>) -> Packet {
    Packet::Auth(Auth {
        reason_code,
        properties: AuthProperties {
            authentication_method: Some(s(method)),
            authentication_data: data.map(Bytes::from_static),
            ..Default::default()
        },
    })
}

fn client_auth(reason_code: ReasonCode, data: Option<&'static [u8]>) -> Packet {
    server_auth(reason_code, "REVERSE", data)
}

// ----- 1. handshake -----

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
    d.server(Packet::PubAck(PublishAck::new(id)));
    assert_eq!(
        publish_done(&d.events()),
        vec![(fine, Ok(ReasonCode::SUCCESS))]
    );
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

// ----- 2. packet ids -----

#[test]
fn all_65535_packet_ids_then_the_next_publish_waits_for_a_free_one() {
    let mut d = Double::new(config(V5));
    d.connect();
    assert_eq!(d.session.limits().receive_maximum, u16::MAX);
    let mut reqs = Vec::with_capacity(65536);
    for _ in 0..u16::MAX {
        reqs.push(d.publish(msg(QoS::AtLeastOnce)).unwrap());
    }
    let sent = publishes(&d.sent());
    assert_eq!(sent.len(), usize::from(u16::MAX));
    let ids: HashSet<u16> = sent.iter().map(|p| p.packet_id.unwrap().get()).collect();
    assert_eq!(ids.len(), usize::from(u16::MAX), "every id distinct");
    assert_eq!(d.session.packet_ids_in_use(), usize::from(u16::MAX));

    // The 65,536th waits.
    let last = d.publish(msg(QoS::AtLeastOnce)).unwrap();
    assert!(d.sent().is_empty());
    assert_eq!(d.session.queued(), 1);
    let freed = sent[100].packet_id.unwrap();
    d.server(Packet::PubAck(PublishAck::new(freed)));
    assert_eq!(
        publish_done(&d.events()),
        vec![(reqs[100], Ok(ReasonCode::SUCCESS))]
    );
    assert_eq!(only_publish_id(&d.sent()), freed, "the only free id");
    assert_eq!(d.session.queued(), 0);

    // A SUBSCRIBE needs an id too: it waits, then takes the next one freed,
    // and the publish behind it waits for the one after.
    let sub = d
        .subscribe(
            vec![(filter("a"), SubscriptionOptions::qos(QoS::AtLeastOnce))],
            Default::default(),
        )
        .unwrap();
    let after = d.publish(msg(QoS::AtLeastOnce)).unwrap();
    assert!(d.sent().is_empty());
    let freed = sent[200].packet_id.unwrap();
    d.server(Packet::PubAck(PublishAck::new(freed)));
    let out = d.sent();
    assert!(
        matches!(&out[..], [Packet::Subscribe(s)] if s.packet_id == freed),
        "{out:?}"
    );
    d.server(suback(freed, vec![ReasonCode::GRANTED_QOS_1]));
    assert_eq!(only_publish_id(&d.sent()), freed);
    let events = d.events();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::SubscribeDone { id, result: Ok(_) } if *id == sub)));
    assert_eq!(
        publish_done(&events),
        vec![(reqs[200], Ok(ReasonCode::SUCCESS))]
    );
    assert!(!reqs.contains(&last) && !reqs.contains(&after));
    d.assert_completions();
}

#[test]
fn subscribe_and_unsubscribe_ids_never_collide_with_publishes_in_flight() {
    let mut d = Double::new(config(V5));
    d.connect();
    let q1 = SubscriptionOptions::qos(QoS::AtLeastOnce);
    let mut ids = Vec::new();
    for i in 0..20 {
        match i % 3 {
            0 => {
                d.subscribe(vec![(filter("a/b"), q1)], Default::default())
                    .unwrap();
            }
            1 => {
                d.unsubscribe(vec![filter("a/b")], Default::default())
                    .unwrap();
            }
            _ => {
                d.publish(msg(QoS::ExactlyOnce)).unwrap();
            }
        }
        for p in d.sent() {
            ids.push(match p {
                Packet::Publish(p) => p.packet_id.unwrap(),
                Packet::Subscribe(s) => s.packet_id,
                Packet::Unsubscribe(u) => u.packet_id,
                other => panic!("{other:?}"),
            });
        }
    }
    assert_eq!(ids.len(), 20);
    let distinct: HashSet<_> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        20,
        "all in use at once, all distinct: {ids:?}"
    );
    assert!(ids.iter().all(|id| d.session.is_packet_id_in_use(*id)));
    assert_eq!(d.session.packet_ids_in_use(), 20);
    d.assert_completions();
}

// ----- 3. outgoing acknowledgements -----

#[test]
fn puback_failure_reason_completes_as_refused_with_reason_string() {
    let mut d = Double::new(config(V5));
    d.connect();
    let req = d.publish(msg(QoS::AtLeastOnce)).unwrap();
    let id = only_publish_id(&d.sent());
    let properties = AckProperties {
        reason_string: Some(s("quota gone")),
        user_properties: vec![(s("k"), s("v"))],
    };
    let mut ack = ack_with(id, ReasonCode::QUOTA_EXCEEDED);
    ack.properties = properties.clone();
    d.server(Packet::PubAck(ack));
    let events = d.events();
    assert_eq!(
        events,
        vec![Event::PublishDone {
            id: req,
            result: Err(CommandError::Refused {
                reason_code: ReasonCode::QUOTA_EXCEEDED,
                properties
            })
        }]
    );
    assert!(d.sent().is_empty(), "not retransmitted [MQTT-4.4.0-2]");
    assert!(!d.session.is_packet_id_in_use(id));
    d.assert_completions();
}

#[test]
fn puback_no_matching_subscribers_is_a_success_with_that_code() {
    let mut d = Double::new(config(V5));
    d.connect();
    let req = d.publish(msg(QoS::AtLeastOnce)).unwrap();
    let id = only_publish_id(&d.sent());
    d.server(Packet::PubAck(ack_with(
        id,
        ReasonCode::NO_MATCHING_SUBSCRIBERS,
    )));
    assert_eq!(
        publish_done(&d.events()),
        vec![(req, Ok(ReasonCode::NO_MATCHING_SUBSCRIBERS))]
    );
    d.assert_completions();
}

#[test]
fn puback_for_an_unknown_id_is_ignored() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        let req = d.publish(msg(QoS::AtLeastOnce)).unwrap();
        let id = only_publish_id(&d.sent());
        let other = pid(if id.get() == 1 { 2 } else { 1 });
        d.server(Packet::PubAck(PublishAck::new(other)));
        assert!(d.events().is_empty());
        assert!(d.sent().is_empty());
        assert_eq!(d.session.inflight(), 1);
        assert!(!d.session.wants_close());
        d.server(Packet::PubAck(PublishAck::new(id)));
        assert_eq!(
            publish_done(&d.events()),
            vec![(req, Ok(ReasonCode::SUCCESS))]
        );
        d.assert_completions();
    }
}

#[test]
fn duplicate_pubrec_is_answered_with_pubrel_again() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        let req = d.publish(msg(QoS::ExactlyOnce)).unwrap();
        let id = only_publish_id(&d.sent());
        d.server(Packet::PubRec(PublishAck::new(id)));
        assert_eq!(d.sent(), vec![Packet::PubRel(PublishAck::new(id))]);
        d.server(Packet::PubRec(PublishAck::new(id)));
        assert_eq!(d.sent(), vec![Packet::PubRel(PublishAck::new(id))]);
        assert!(d.events().is_empty());
        d.server(Packet::PubComp(PublishAck::new(id)));
        assert_eq!(
            publish_done(&d.events()),
            vec![(req, Ok(ReasonCode::SUCCESS))]
        );
        d.assert_completions();
    }
}

#[test]
fn pubrec_for_an_unknown_id_gets_pubrel_0x92() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        d.server(Packet::PubRec(PublishAck::new(pid(77))));
        let expected = match v {
            V5 => ack_with(pid(77), ReasonCode::PACKET_IDENTIFIER_NOT_FOUND),
            V311 => PublishAck::new(pid(77)),
        };
        assert_eq!(d.sent(), vec![Packet::PubRel(expected)]);
        assert!(d.events().is_empty());
        assert!(!d.session.wants_close());
        d.assert_completions();
    }
}

// ----- 4. incoming -----

#[test]
fn incoming_qos1_is_delivered_and_acknowledged_with_puback() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        d.server(incoming(
            Some("in/1"),
            QoS::AtLeastOnce,
            5,
            Default::default(),
        ));
        assert_eq!(d.sent(), vec![Packet::PubAck(PublishAck::new(pid(5)))]);
        let m = messages(&d.events());
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].topic, topic("in/1"));
        assert_eq!(m[0].qos, QoS::AtLeastOnce);
        assert_eq!(m[0].ack, None, "automatic ack");
        assert_eq!(d.session.incoming_unacknowledged(), 0);
        d.assert_completions();
    }
}

#[test]
fn manual_ack_with_a_failure_reason_sends_that_reason_in_v5_only() {
    for v in BOTH {
        let mut c = config(v);
        c.manual_acks = true;
        let mut d = Double::new(c);
        d.connect();
        d.server(incoming(
            Some("in/1"),
            QoS::AtLeastOnce,
            1,
            Default::default(),
        ));
        d.server(incoming(
            Some("in/2"),
            QoS::ExactlyOnce,
            2,
            Default::default(),
        ));
        let m = messages(&d.events());
        assert!(d.sent().is_empty(), "nothing before the application acks");
        d.session
            .ack_with(d.now, m[0].ack.unwrap(), ReasonCode::NOT_AUTHORIZED);
        d.session
            .ack_with(d.now, m[1].ack.unwrap(), ReasonCode::QUOTA_EXCEEDED);
        let (r1, r2) = match v {
            V5 => (ReasonCode::NOT_AUTHORIZED, ReasonCode::QUOTA_EXCEEDED),
            V311 => (ReasonCode::SUCCESS, ReasonCode::SUCCESS),
        };
        assert_eq!(
            d.sent(),
            vec![
                Packet::PubAck(ack_with(pid(1), r1)),
                Packet::PubRec(ack_with(pid(2), r2))
            ]
        );
        if v == V5 {
            // After a failing PUBREC the id names a new message [MQTT-4.3.3-9].
            d.server(incoming(
                Some("in/2"),
                QoS::ExactlyOnce,
                2,
                Default::default(),
            ));
            assert_eq!(messages(&d.events()).len(), 1);
        }
        assert!(!d.session.wants_close());
        d.assert_completions();
    }
}

#[test]
fn qos2_dup_before_the_manual_ack_is_not_delivered_again_nor_acknowledged() {
    let mut c = config(V5);
    c.manual_acks = true;
    let mut d = Double::new(c);
    d.connect();
    d.server(incoming(
        Some("in/1"),
        QoS::ExactlyOnce,
        9,
        Default::default(),
    ));
    let first = messages(&d.events());
    assert_eq!(first.len(), 1);
    let mut dup = incoming(Some("in/1"), QoS::ExactlyOnce, 9, Default::default());
    if let Packet::Publish(p) = &mut dup {
        p.dup = true;
    }
    d.server(dup.clone());
    assert!(d.events().is_empty(), "not delivered again [MQTT-4.3.3-10]");
    assert!(
        d.sent().is_empty(),
        "no PUBREC before the application's ack"
    );
    d.session.ack(d.now, first[0].ack.unwrap());
    assert_eq!(
        d.sent(),
        vec![
            Packet::PubRec(PublishAck::new(pid(9))),
            Packet::PubRec(PublishAck::new(pid(9)))
        ],
        "one PUBREC per PUBLISH received, the resend's too [MQTT-4.3.3-10]"
    );
    d.server(dup);
    assert!(d.events().is_empty());
    assert_eq!(
        d.sent(),
        vec![Packet::PubRec(PublishAck::new(pid(9)))],
        "now PUBREC again"
    );
    d.server(Packet::PubRel(PublishAck::new(pid(9))));
    assert_eq!(d.sent(), vec![Packet::PubComp(PublishAck::new(pid(9)))]);
    d.assert_completions();
}

// ----- 5. connection loss -----

#[test]
fn session_not_kept_with_fail_policy_fails_inflight_and_keeps_the_queue() {
    for v in BOTH {
        let mut c = config(v);
        c.session_lost_policy = SessionLostPolicy::Fail;
        let mut d = Double::new(c);
        let mut ack = connack(false);
        if v == V5 {
            ack.properties.receive_maximum = NonZeroU16::new(1);
        }
        d.connect_with(ack.clone());
        let first = d.publish(msg(QoS::AtLeastOnce)).unwrap();
        let id = only_publish_id(&d.sent());
        let queued: Vec<_> = if v == V5 {
            (0..2)
                .map(|_| d.publish(msg(QoS::AtLeastOnce)).unwrap())
                .collect()
        } else {
            Vec::new()
        };
        assert!(d.sent().is_empty());
        let events = d.drop_transport();
        assert_eq!(
            publish_done(&events),
            vec![(first, Err(CommandError::SessionLost))]
        );
        let info = disconnected(&events);
        assert_eq!(info.initiator, Initiator::Transport);
        assert!(!info.session_kept);
        assert!(!d.session.is_packet_id_in_use(id), "its id is free again");
        assert_eq!(d.session.queued(), queued.len(), "queued publishes survive");
        d.open();
        d.server(Packet::ConnAck(Box::new(ack)));
        for req in queued {
            let id = only_publish_id(&d.sent());
            d.server(Packet::PubAck(PublishAck::new(id)));
            assert_eq!(
                publish_done(&d.events()),
                vec![(req, Ok(ReasonCode::SUCCESS))]
            );
        }
        d.assert_completions();
    }
}

#[test]
fn session_kept_but_not_resumed_with_fail_policy_fails_inflight_as_expired() {
    let mut c = config(V5);
    c.session_expiry_interval = 300;
    c.session_lost_policy = SessionLostPolicy::Fail;
    let mut d = Double::new(c);
    d.connect();
    let a = d.publish(msg(QoS::AtLeastOnce)).unwrap();
    let b = d.publish(msg(QoS::ExactlyOnce)).unwrap();
    assert_eq!(publishes(&d.sent()).len(), 2);
    let events = d.drop_transport();
    assert!(
        publish_done(&events).is_empty(),
        "the session is kept: nothing fails yet"
    );
    assert!(disconnected(&events).session_kept);
    let connect = d.open();
    assert!(!connect.clean_start);
    let queued_now = d.publish(msg(QoS::AtMostOnce)).unwrap();
    d.server(Packet::ConnAck(Box::new(connack(false))));
    let events = d.events();
    assert_eq!(
        publish_done(&events),
        vec![
            (a, Err(CommandError::SessionExpired)),
            (b, Err(CommandError::SessionExpired)),
            (queued_now, Ok(ReasonCode::SUCCESS)),
        ]
    );
    let sent = publishes(&d.sent());
    assert_eq!(sent.len(), 1, "only the new QoS 0 message: {sent:?}");
    assert_eq!(d.session.inflight(), 0);
    assert_eq!(d.session.packet_ids_in_use(), 0);
    d.assert_completions();
}

#[test]
fn inflight_subscribe_is_sent_again_after_reconnect_and_completes_once() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        let f = filter("a/b");
        let sub = d
            .subscribe(
                vec![(f.clone(), SubscriptionOptions::qos(QoS::AtLeastOnce))],
                Default::default(),
            )
            .unwrap();
        let unsub = d
            .unsubscribe(vec![filter("x")], Default::default())
            .unwrap();
        assert_eq!(d.sent().len(), 2);
        let events = d.drop_transport();
        assert!(
            events.iter().all(|e| matches!(e, Event::Disconnected(_))),
            "no completion on the lost connection: {events:?}"
        );
        assert_eq!(d.session.packet_ids_in_use(), 0);
        d.open();
        d.server(Packet::ConnAck(Box::new(connack(false))));
        let sent = d.sent();
        let (Packet::Subscribe(s), Packet::Unsubscribe(u)) = (&sent[0], &sent[1]) else {
            panic!("{sent:?}")
        };
        assert_eq!(s.filters[0].0, f);
        d.server(suback(s.packet_id, vec![ReasonCode::GRANTED_QOS_1]));
        // A stray second SUBACK for the same id changes nothing.
        d.server(suback(s.packet_id, vec![ReasonCode::GRANTED_QOS_1]));
        d.server(Packet::UnsubAck(UnsubAck {
            packet_id: u.packet_id,
            properties: AckProperties::default(),
            reason_codes: if v == V5 {
                vec![ReasonCode::SUCCESS]
            } else {
                Vec::new()
            },
        }));
        let events = d.events();
        let subs = events
            .iter()
            .filter(|e| matches!(e, Event::SubscribeDone { id, result: Ok(_) } if *id == sub))
            .count();
        let unsubs = events
            .iter()
            .filter(|e| matches!(e, Event::UnsubscribeDone { id, result: Ok(_) } if *id == unsub))
            .count();
        assert_eq!((subs, unsubs), (1, 1), "{events:?}");
        assert!(d.session.subscriptions().contains_key(&f));
        d.assert_completions();
    }
}

// ----- 6. keep alive -----

#[test]
fn ping_timeout_shorter_than_keep_alive_is_honoured() {
    for v in BOTH {
        let mut c = config(v);
        c.keep_alive = 30;
        c.ping_timeout = Some(Duration::from_secs(5));
        let mut d = Double::new(c);
        d.connect();
        d.advance(Duration::from_secs(30));
        assert_eq!(d.sent(), vec![Packet::PingReq(tern_mqtt::codec::PingReq)]);
        assert_eq!(
            d.session.poll_timeout(),
            Some(d.now + Duration::from_secs(5))
        );
        d.advance(Duration::from_secs(4));
        assert!(d.events().is_empty());
        d.advance(Duration::from_secs(1));
        let error = assert_protocol_close(&mut d, ReasonCode::KEEP_ALIVE_TIMEOUT);
        assert_eq!(error, ProtocolError::KeepAliveTimeout);
        d.assert_completions();
    }
}

// ----- 7. topic aliases -----

#[test]
fn outgoing_aliases_start_afresh_on_a_new_connection() {
    let mut c = config(V5);
    c.session_expiry_interval = 60;
    let mut d = Double::new(c);
    let ack = connack_with(ConnAckProperties {
        topic_alias_maximum: Some(3),
        ..Default::default()
    });
    d.connect_with(ack.clone());
    d.publish(msg_to("a/long/topic")).unwrap();
    d.publish(msg_to("a/long/topic")).unwrap();
    let sent = publishes(&d.sent());
    assert_eq!(sent[1].topic, None, "alias reused on the first connection");
    d.drop_transport();
    d.open();
    d.server(Packet::ConnAck(Box::new(ConnAck {
        session_present: true,
        ..ack
    })));
    d.publish(msg_to("a/long/topic")).unwrap();
    let sent = publishes(&d.sent());
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].topic,
        Some(topic("a/long/topic")),
        "topic sent again [MQTT-3.3.2-7]"
    );
    assert_eq!(sent[0].properties.topic_alias, NonZeroU16::new(1));
    d.assert_completions();
}

#[test]
fn outgoing_alias_maximum_1_replaces_the_least_recently_used() {
    let mut d = Double::new(config(V5));
    d.connect_with(connack_with(ConnAckProperties {
        topic_alias_maximum: Some(1),
        ..Default::default()
    }));
    for t in ["a", "b", "b", "a"] {
        d.publish(msg_to(t)).unwrap();
    }
    let sent = publishes(&d.sent());
    let seen: Vec<_> = sent
        .iter()
        .map(|p| {
            (
                p.topic.as_ref().map(|t| t.to_string()),
                p.properties.topic_alias.map(|a| a.get()),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (Some("a".to_owned()), Some(1)),
            (Some("b".to_owned()), Some(1)),
            (None, Some(1)),
            (Some("a".to_owned()), Some(1)),
        ]
    );
    d.assert_completions();
}

#[test]
fn no_outgoing_aliases_without_a_server_maximum() {
    let mut d = Double::new(config(V5));
    d.connect();
    d.publish(msg_to("a")).unwrap();
    d.publish(msg_to("a")).unwrap();
    let sent = publishes(&d.sent());
    assert!(sent
        .iter()
        .all(|p| p.topic.is_some() && p.properties.topic_alias.is_none()));
    d.assert_completions();
}

#[test]
fn incoming_alias_above_our_maximum_is_0x94() {
    let mut c = config(V5);
    c.topic_alias_maximum = 2;
    let mut d = Double::new(c);
    d.connect();
    d.server(incoming(Some("in/1"), QoS::AtMostOnce, 0, alias(2)));
    assert_eq!(messages(&d.events()).len(), 1, "2 is within our maximum");
    d.server(incoming(Some("in/1"), QoS::AtMostOnce, 0, alias(3)));
    let error = assert_protocol_close(&mut d, ReasonCode::TOPIC_ALIAS_INVALID);
    assert!(matches!(error, ProtocolError::Violation { .. }));
    d.assert_completions();
}

#[test]
fn incoming_aliases_do_not_survive_a_reconnect() {
    let mut c = config(V5);
    c.session_expiry_interval = 60;
    let mut d = Double::new(c);
    d.connect();
    d.server(incoming(Some("in/1"), QoS::AtMostOnce, 0, alias(1)));
    d.server(incoming(None, QoS::AtMostOnce, 0, alias(1)));
    assert_eq!(messages(&d.events()).len(), 2);
    d.drop_transport();
    d.open();
    d.server(Packet::ConnAck(Box::new(connack(true))));
    d.events();
    d.server(incoming(None, QoS::AtMostOnce, 0, alias(1)));
    assert_protocol_close(&mut d, ReasonCode::TOPIC_ALIAS_INVALID);
    d.assert_completions();
}

// ----- 8. maximum packet size -----

#[test]
fn incoming_packet_above_our_maximum_is_0x95() {
    let mut c = config(V5);
    c.maximum_packet_size = 64;
    let mut d = Double::new(c);
    assert_eq!(d.open().properties.maximum_packet_size, NonZeroU32::new(64));
    d.server(Packet::ConnAck(Box::new(connack(false))));
    d.events();
    let mut p = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: Some(topic("in/1")),
        packet_id: None,
        properties: Default::default(),
        payload: Bytes::from(vec![7u8; 100]),
    };
    d.server(Packet::Publish(p.clone()));
    let error = assert_protocol_close(&mut d, ReasonCode::PACKET_TOO_LARGE);
    assert!(
        matches!(
            error,
            ProtocolError::Decode(DecodeError::PacketTooLarge { max: 64, .. })
        ),
        "{error:?}"
    );
    // One that fits is fine on a new connection.
    d.drop_transport();
    d.connect();
    p.payload = Bytes::from_static(b"small");
    d.server(Packet::Publish(p));
    assert_eq!(messages(&d.events()).len(), 1);
    d.assert_completions();
}

#[test]
fn disconnect_drops_reason_string_and_user_properties_beyond_the_server_maximum() {
    let long = DisconnectProperties {
        reason_string: Some(s(&"r".repeat(100))),
        user_properties: vec![(s("key"), s(&"v".repeat(100)))],
        ..Default::default()
    };
    let short = DisconnectProperties {
        reason_string: Some(s("bye")),
        ..Default::default()
    };
    for (props, kept) in [(long, false), (short, true)] {
        let mut d = Double::new(config(V5));
        d.connect_with(connack_with(ConnAckProperties {
            maximum_packet_size: NonZeroU32::new(64),
            ..Default::default()
        }));
        d.session
            .disconnect(d.now, ReasonCode::SUCCESS, props.clone())
            .unwrap();
        let sent = d.sent();
        let [Packet::Disconnect(x)] = &sent[..] else {
            panic!("{sent:?}")
        };
        assert_eq!(x.reason_code, ReasonCode::SUCCESS);
        if kept {
            assert_eq!(x.properties, props);
        } else {
            assert_eq!(x.properties.reason_string, None, "[MQTT-3.14.2-3]");
            assert!(x.properties.user_properties.is_empty(), "[MQTT-3.14.2-4]");
        }
        let info = disconnected(&d.events());
        assert_eq!(info.initiator, Initiator::Local);
        d.assert_completions();
    }
}

// ----- 9. disconnects and protocol errors -----

#[test]
fn server_disconnect_with_server_reference_is_reported() {
    let mut d = Double::new(config(V5));
    d.connect();
    let properties = DisconnectProperties {
        reason_string: Some(s("go elsewhere")),
        server_reference: Some(s("other.example:1883")),
        ..Default::default()
    };
    d.server(Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::USE_ANOTHER_SERVER,
        properties: properties.clone(),
    }));
    assert!(d.sent().is_empty(), "no answer to a DISCONNECT");
    assert!(d.session.wants_close());
    let info = disconnected(&d.events());
    assert_eq!(info.initiator, Initiator::Remote);
    assert_eq!(info.reason_code, Some(ReasonCode::USE_ANOTHER_SERVER));
    assert_eq!(
        info.properties.server_reference,
        Some(s("other.example:1883"))
    );
    assert_eq!(info.properties, properties);
    assert_eq!(info.error, None);
    d.assert_completions();
}

#[test]
fn malformed_bytes_close_with_0x81() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        d.publish(msg(QoS::AtLeastOnce)).unwrap();
        d.sent();
        // PUBACK with a Remaining Length of 1: too short for a packet id.
        d.server_bytes(&[0x40, 0x01, 0x00]);
        let error = assert_protocol_close(&mut d, ReasonCode::MALFORMED_PACKET);
        assert!(
            matches!(error, ProtocolError::Decode(DecodeError::Malformed { .. })),
            "{error:?}"
        );
        // Bytes after the end are dropped; nothing else happens.
        d.server_bytes(&[0x40, 0x02, 0x00, 0x01]);
        assert!(d.events().is_empty() && d.sent().is_empty());
        // The publish is still pending (Resend policy) and completes on disconnect.
        assert_eq!(d.session.inflight(), 1);
        d.assert_completions();
    }
}

#[test]
fn client_to_server_packets_from_the_server_close_with_0x82() {
    let from_server = [
        Packet::Subscribe(Subscribe {
            packet_id: pid(1),
            properties: Default::default(),
            filters: vec![(filter("a"), SubscriptionOptions::qos(QoS::AtMostOnce))],
        }),
        Packet::PingReq(tern_mqtt::codec::PingReq),
    ];
    for v in BOTH {
        for packet in from_server.clone() {
            let mut d = Double::new(config(v));
            d.connect();
            d.server(packet);
            let error = assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
            assert!(matches!(error, ProtocolError::Violation { .. }));
            d.assert_completions();
        }
    }
}

#[test]
fn puback_for_a_qos2_exchange_is_a_protocol_error() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        d.publish(msg(QoS::ExactlyOnce)).unwrap();
        let id = only_publish_id(&d.sent());
        d.server(Packet::PubAck(PublishAck::new(id)));
        assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
        d.assert_completions();
    }
}

#[test]
fn a_packet_before_connack_is_a_protocol_error() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.open();
        d.server(incoming(
            Some("in/1"),
            QoS::AtMostOnce,
            0,
            Default::default(),
        ));
        assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
        d.assert_completions();
    }
}

// ----- 10. enhanced authentication -----

#[test]
fn enhanced_auth_challenge_response_then_connack() {
    let (c, seen) = auth_config();
    let mut d = Double::new(c);
    let connect = d.open();
    assert_eq!(connect.properties.authentication_method, Some(s("REVERSE")));
    assert_eq!(
        connect.properties.authentication_data,
        Some(Bytes::from_static(b"hello"))
    );
    d.server(server_auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        "REVERSE",
        Some(b"abc"),
    ));
    assert_eq!(
        d.sent(),
        vec![client_auth(
            ReasonCode::CONTINUE_AUTHENTICATION,
            Some(b"cba")
        )]
    );
    d.server(server_auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        "REVERSE",
        Some(b"xy"),
    ));
    assert_eq!(
        d.sent(),
        vec![client_auth(
            ReasonCode::CONTINUE_AUTHENTICATION,
            Some(b"yx")
        )]
    );
    assert!(d.events().is_empty());
    d.server(Packet::ConnAck(Box::new(connack_with(ConnAckProperties {
        authentication_method: Some(s("REVERSE")),
        ..Default::default()
    }))));
    assert!(matches!(&d.events()[..], [Event::Connected { .. }]));
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            Some(Bytes::from_static(b"abc")),
            Some(Bytes::from_static(b"xy"))
        ]
    );
    d.assert_completions();
}

#[test]
fn auth_with_another_method_is_a_protocol_error() {
    let (c, _) = auth_config();
    let mut d = Double::new(c);
    d.open();
    d.server(server_auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        "OTHER",
        Some(b"abc"),
    ));
    let error = assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
    assert!(
        matches!(
            error,
            ProtocolError::Violation {
                spec: "MQTT-4.12.0-5",
                ..
            }
        ),
        "{error:?}"
    );
    d.assert_completions();
}

#[test]
fn connack_with_another_auth_method_is_a_protocol_error() {
    let (c, _) = auth_config();
    let mut d = Double::new(c);
    d.open();
    d.server(Packet::ConnAck(Box::new(connack_with(ConnAckProperties {
        authentication_method: Some(s("OTHER")),
        ..Default::default()
    }))));
    assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
    d.assert_completions();
}

#[test]
fn authenticator_refusal_closes_with_0x87() {
    let (c, _) = auth_config();
    let mut d = Double::new(c);
    d.open();
    d.server(server_auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        "REVERSE",
        Some(b"refuse"),
    ));
    let error = assert_protocol_close(&mut d, ReasonCode::NOT_AUTHORIZED);
    assert_eq!(error, ProtocolError::Auth("refused".to_owned()));
    d.assert_completions();
}

#[test]
fn reauthentication_round_trip() {
    let (c, seen) = auth_config();
    let mut d = Double::new(c);
    d.open();
    d.server(Packet::ConnAck(Box::new(connack_with(ConnAckProperties {
        authentication_method: Some(s("REVERSE")),
        ..Default::default()
    }))));
    d.events();
    let req = d.reauthenticate().unwrap();
    assert_eq!(
        d.sent(),
        vec![client_auth(ReasonCode::REAUTHENTICATE, Some(b"hello"))]
    );
    assert_eq!(d.reauthenticate(), Err(CommandError::AuthInProgress));
    assert!(!d.session.is_idle());
    d.server(server_auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        "REVERSE",
        Some(b"123"),
    ));
    assert_eq!(
        d.sent(),
        vec![client_auth(
            ReasonCode::CONTINUE_AUTHENTICATION,
            Some(b"321")
        )]
    );
    assert!(d.events().is_empty());
    d.server(server_auth(ReasonCode::SUCCESS, "REVERSE", None));
    assert_eq!(
        d.events(),
        vec![Event::ReauthDone {
            id: req,
            result: Ok(())
        }]
    );
    assert!(d.sent().is_empty());
    assert!(d.session.is_idle());
    assert_eq!(seen.lock().unwrap().len(), 1);
    // A second one after the first finished is fine; a lost connection ends it.
    let again = d.reauthenticate().unwrap();
    d.sent();
    let events = d.drop_transport();
    assert_eq!(
        events[0],
        Event::ReauthDone {
            id: again,
            result: Err(CommandError::SessionLost)
        }
    );
    d.assert_completions();
}

#[test]
fn reauthentication_needs_v5_an_authenticator_and_a_connection() {
    let mut d = Double::new(config(V5));
    d.connect();
    assert_eq!(d.reauthenticate(), Err(CommandError::NoAuthMethod));
    d.assert_completions();
    let mut d = Double::new(config(V311));
    d.connect();
    assert!(matches!(d.reauthenticate(), Err(CommandError::NeedsV5(_))));
    d.assert_completions();
    let (c, _) = auth_config();
    let mut d = Double::new(c);
    assert!(matches!(d.reauthenticate(), Err(CommandError::Invalid(_))));
    assert!(d.sent().is_empty() && d.events().is_empty());
    d.assert_completions();
}

#[test]
fn auth_without_a_configured_method_is_a_protocol_error() {
    // While connecting and once connected.
    for connected in [false, true] {
        let mut d = Double::new(config(V5));
        if connected {
            d.connect();
        } else {
            d.open();
        }
        d.server(server_auth(
            ReasonCode::CONTINUE_AUTHENTICATION,
            "ANY",
            Some(b"x"),
        ));
        let error = assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
        assert!(
            matches!(
                error,
                ProtocolError::Violation {
                    spec: "MQTT-4.12.0-6",
                    ..
                }
            ),
            "{error:?}"
        );
        d.assert_completions();
    }
}

#[test]
fn unsolicited_auth_success_is_a_protocol_error() {
    let (c, _) = auth_config();
    let mut d = Double::new(c);
    d.open();
    d.server(Packet::ConnAck(Box::new(connack_with(ConnAckProperties {
        authentication_method: Some(s("REVERSE")),
        ..Default::default()
    }))));
    d.events();
    d.server(server_auth(ReasonCode::SUCCESS, "REVERSE", None));
    assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
    d.assert_completions();
}

#[test]
fn connack_without_the_connect_auth_method_is_a_protocol_error() {
    let (c, _) = auth_config();
    let mut d = Double::new(c);
    d.open();
    // [MQTT-4.12.0-5]: a successful CONNACK repeats the CONNECT's method.
    d.server(Packet::ConnAck(Box::new(connack(false))));
    assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
    d.assert_completions();
}

#[test]
fn an_auth_answer_larger_than_the_server_maximum_is_not_sent() {
    let (c, _) = auth_config();
    let mut d = Double::new(c);
    d.open();
    d.server(Packet::ConnAck(Box::new(connack_with(ConnAckProperties {
        authentication_method: Some(s("REVERSE")),
        maximum_packet_size: std::num::NonZeroU32::new(20),
        ..Default::default()
    }))));
    d.events();
    let _ = d.session.reauthenticate(d.now);
    // [MQTT-3.2.2-15]: the AUTH (method + data, 22 bytes) exceeds 20.
    let sent = d.sent();
    assert!(
        !sent.iter().any(|p| matches!(p, Packet::Auth(_))),
        "{sent:?}"
    );
    assert!(d.session.wants_close());
}

// ----- 11. subscriptions -----

#[test]
fn suback_gives_per_filter_results_and_remembers_what_was_granted() {
    let mut d = Double::new(config(V5));
    d.connect();
    let opts = SubscriptionOptions {
        qos: QoS::ExactlyOnce,
        no_local: true,
        retain_as_published: true,
        retain_handling: RetainHandling::SendAtSubscribeIfNew,
    };
    let properties = SubscribeProperties {
        subscription_identifier: NonZeroU32::new(42),
        user_properties: vec![(s("k"), s("v"))],
    };
    let req = d
        .subscribe(
            vec![
                (filter("a/+"), opts),
                (filter("b/#"), SubscriptionOptions::qos(QoS::AtLeastOnce)),
                (filter("c"), SubscriptionOptions::qos(QoS::AtMostOnce)),
            ],
            properties.clone(),
        )
        .unwrap();
    let sent = d.sent();
    let [Packet::Subscribe(sub)] = &sent[..] else {
        panic!("{sent:?}")
    };
    assert_eq!(sub.properties, properties);
    assert_eq!(sub.filters[0].1, opts);
    d.server(suback(
        sub.packet_id,
        vec![
            ReasonCode::GRANTED_QOS_1,
            ReasonCode::NOT_AUTHORIZED,
            ReasonCode::GRANTED_QOS_0,
        ],
    ));
    assert_eq!(
        d.events(),
        vec![Event::SubscribeDone {
            id: req,
            result: Ok(vec![
                Ok(QoS::AtLeastOnce),
                Err(ReasonCode::NOT_AUTHORIZED),
                Ok(QoS::AtMostOnce)
            ])
        }]
    );
    let active = d.session.subscriptions();
    assert_eq!(active.len(), 2, "the refused filter is not active");
    assert_eq!(
        active.get(&filter("a/+")),
        Some(&ActiveSubscription {
            options: SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                ..opts
            },
            subscription_id: NonZeroU32::new(42),
            requested_qos: opts.qos,
        }),
        "options kept, QoS capped to the granted one"
    );
    assert_eq!(
        active.get(&filter("c")).map(|a| a.options.qos),
        Some(QoS::AtMostOnce)
    );
    assert!(!active.contains_key(&filter("b/#")));
    assert!(!d.session.is_packet_id_in_use(sub.packet_id));
    d.assert_completions();
}

#[test]
fn subscription_identifiers_on_incoming_publish_are_attached_to_the_message() {
    let mut d = Double::new(config(V5));
    d.connect();
    let ids = vec![NonZeroU32::new(3).unwrap(), NonZeroU32::new(70000).unwrap()];
    d.server(incoming(
        Some("in/1"),
        QoS::AtLeastOnce,
        1,
        PublishProperties {
            subscription_identifiers: ids.clone(),
            ..Default::default()
        },
    ));
    let m = messages(&d.events());
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].subscription_ids(), &ids[..]);
    d.assert_completions();
}

#[test]
fn unsuback_gives_per_filter_results_and_removes_what_was_unsubscribed() {
    let mut d = Double::new(config(V5));
    d.connect();
    let q1 = SubscriptionOptions::qos(QoS::AtLeastOnce);
    d.subscribe(
        vec![(filter("a"), q1), (filter("b"), q1), (filter("c"), q1)],
        Default::default(),
    )
    .unwrap();
    let sent = d.sent();
    let [Packet::Subscribe(sub)] = &sent[..] else {
        panic!()
    };
    d.server(suback(sub.packet_id, vec![ReasonCode::GRANTED_QOS_1; 3]));
    d.events();
    let req = d
        .unsubscribe(
            vec![filter("a"), filter("b"), filter("zzz")],
            UnsubscribeProperties::default(),
        )
        .unwrap();
    let sent = d.sent();
    let [Packet::Unsubscribe(u)] = &sent[..] else {
        panic!("{sent:?}")
    };
    let codes = vec![
        ReasonCode::SUCCESS,
        ReasonCode::NOT_AUTHORIZED,
        ReasonCode::NO_SUBSCRIPTION_EXISTED,
    ];
    d.server(Packet::UnsubAck(UnsubAck {
        packet_id: u.packet_id,
        properties: AckProperties::default(),
        reason_codes: codes.clone(),
    }));
    assert_eq!(
        d.events(),
        vec![Event::UnsubscribeDone {
            id: req,
            result: Ok(codes)
        }]
    );
    let active: Vec<_> = d
        .session
        .subscriptions()
        .keys()
        .map(|f| f.to_string())
        .collect();
    assert_eq!(active, vec!["b", "c"], "a removed; b refused so kept");
    d.assert_completions();
}

#[test]
fn v311_unsuback_gives_success_per_filter() {
    let mut d = Double::new(config(V311));
    d.connect();
    let q0 = SubscriptionOptions::qos(QoS::AtMostOnce);
    d.subscribe(
        vec![(filter("a"), q0), (filter("b"), q0)],
        Default::default(),
    )
    .unwrap();
    let sent = d.sent();
    let [Packet::Subscribe(sub)] = &sent[..] else {
        panic!()
    };
    d.server(suback(
        sub.packet_id,
        vec![ReasonCode::GRANTED_QOS_0, ReasonCode::V311_SUBACK_FAILURE],
    ));
    assert!(
        matches!(&d.events()[..], [Event::SubscribeDone { result: Ok(r), .. }] if r == &vec![Ok(QoS::AtMostOnce), Err(ReasonCode::V311_SUBACK_FAILURE)])
    );
    let req = d
        .unsubscribe(vec![filter("a"), filter("b")], Default::default())
        .unwrap();
    let sent = d.sent();
    let [Packet::Unsubscribe(u)] = &sent[..] else {
        panic!()
    };
    d.server(Packet::UnsubAck(UnsubAck {
        packet_id: u.packet_id,
        properties: AckProperties::default(),
        reason_codes: Vec::new(),
    }));
    assert_eq!(
        d.events(),
        vec![Event::UnsubscribeDone {
            id: req,
            result: Ok(vec![ReasonCode::SUCCESS, ReasonCode::SUCCESS])
        }]
    );
    assert!(d.session.subscriptions().is_empty());
    d.assert_completions();
}

#[test]
fn suback_with_the_wrong_number_of_codes_is_a_protocol_error() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        let q1 = SubscriptionOptions::qos(QoS::AtLeastOnce);
        let req = d
            .subscribe(
                vec![(filter("a"), q1), (filter("b"), q1)],
                Default::default(),
            )
            .unwrap();
        let sent = d.sent();
        let [Packet::Subscribe(sub)] = &sent[..] else {
            panic!()
        };
        d.server(suback(sub.packet_id, vec![ReasonCode::GRANTED_QOS_1]));
        let events = d.events();
        assert!(
            matches!(&events[0], Event::SubscribeDone { id, result: Err(CommandError::Invalid(_)) } if *id == req),
            "{events:?}"
        );
        // Put the events back through the checks of a protocol close.
        let info = disconnected(&events);
        assert_eq!(info.reason_code, Some(ReasonCode::PROTOCOL_ERROR));
        assert!(matches!(
            info.error,
            Some(ProtocolError::Violation {
                spec: "MQTT-3.8.4-6",
                ..
            })
        ));
        match v {
            V5 => assert_eq!(disconnect_reason(&d.sent()), ReasonCode::PROTOCOL_ERROR),
            V311 => assert!(d.sent().is_empty()),
        }
        assert!(d.session.subscriptions().is_empty());
        d.assert_completions();
    }
}

#[test]
fn suback_for_an_unsubscribe_is_a_protocol_error_and_the_unsubscribe_still_completes() {
    let mut d = Double::new(config(V5));
    d.connect();
    let req = d
        .unsubscribe(vec![filter("a")], Default::default())
        .unwrap();
    let sent = d.sent();
    let [Packet::Unsubscribe(u)] = &sent[..] else {
        panic!()
    };
    d.server(suback(u.packet_id, vec![ReasonCode::GRANTED_QOS_0]));
    assert_protocol_close(&mut d, ReasonCode::PROTOCOL_ERROR);
    d.session.handle_transport_closed(d.now);
    d.open();
    d.server(Packet::ConnAck(Box::new(connack(false))));
    let sent = d.sent();
    let [Packet::Unsubscribe(again)] = &sent[..] else {
        panic!("sent again: {sent:?}")
    };
    d.server(Packet::UnsubAck(UnsubAck {
        packet_id: again.packet_id,
        properties: AckProperties::default(),
        reason_codes: vec![ReasonCode::SUCCESS],
    }));
    let events = d.events();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::UnsubscribeDone { id, result: Ok(_) } if *id == req)));
    d.assert_completions();
}

#[test]
fn time_never_runs_backwards() {
    let mut c = config(V5);
    c.keep_alive = 10;
    let mut d = Double::new(c);
    d.connect();
    let deadline = d.session.poll_timeout().unwrap();
    // An earlier `now` counts as the latest seen: nothing fires early.
    d.session.handle_timeout(d.now - Duration::from_secs(5));
    assert!(d.sent().is_empty());
    assert_eq!(d.session.poll_timeout(), Some(deadline));
    d.assert_completions();
}
