//! One test per `client` statement of MQTT 5.0 in SPEC-NOTES.md that no
//! other test asserts exactly (statements 5.0 shares with 3.1.1 are in
//! tests/spec_client_v311.rs). Each asserts its statement against the
//! session engine through the scripted broker double.

#[path = "spec/common.rs"]
mod common;
#[path = "support/session_double.rs"]
mod double;

use bytes::Bytes;
use common::{ack, ack_tokens, completed, deliveries, id, inbound, out, plain, publish_heads};
use double::{config, connack, Double};
use std::num::{NonZeroU16, NonZeroU32};
use std::time::Duration;
use tern_mqtt::codec::{
    AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Packet, ProtocolVersion,
    PublishAck, PublishProperties, QoS, ReasonCode, SubAck, SubscriptionOptions,
};
use tern_mqtt::session::{Authenticator, Event, SessionConfig};
use tern_mqtt::topic::TopicFilter;

const V5: ProtocolVersion = ProtocolVersion::V5;

/// Answers every challenge with itself; refuses the challenge `no`.
struct Echo;

impl Authenticator for Echo {
    fn respond(&mut self, challenge: Option<&Bytes>) -> Result<Option<Bytes>, String> {
        match challenge {
            Some(c) if &c[..] == b"no" => Err("no".to_owned()),
            c => Ok(c.cloned()),
        }
    }
    fn method(&self) -> &str {
        "ECHO"
    }
    fn initial_data(&mut self) -> Option<Bytes> {
        None
    }
}

fn echo_auth(reason_code: ReasonCode, data: &'static [u8]) -> Packet {
    let authentication_method = Some("ECHO".try_into().unwrap());
    let authentication_data = (!data.is_empty()).then(|| Bytes::from_static(data));
    Packet::Auth(Auth {
        reason_code,
        properties: AuthProperties {
            authentication_method,
            authentication_data,
            ..Default::default()
        },
    })
}

fn with_echo() -> SessionConfig {
    let mut c = config(V5);
    c.authenticator = Some(Box::new(Echo));
    c
}

fn connack_props(properties: ConnAckProperties) -> ConnAck {
    ConnAck {
        properties,
        ..connack(false)
    }
}

fn q1() -> SubscriptionOptions {
    SubscriptionOptions::qos(QoS::AtLeastOnce)
}

fn failing(n: NonZeroU16) -> PublishAck {
    let mut a = ack(n);
    a.reason_code = ReasonCode::NOT_AUTHORIZED;
    a
}

#[test]
fn mqtt_3_1_2_30_only_auth_goes_out_before_connack() {
    let mut d = Double::new(with_echo());
    d.publish(out(QoS::AtLeastOnce)).unwrap();
    let f = TopicFilter::new("s/+").unwrap();
    d.subscribe(vec![(f, q1())], Default::default()).unwrap();
    d.open();
    d.server(echo_auth(ReasonCode::CONTINUE_AUTHENTICATION, b"one"));
    d.advance(Duration::from_secs(3));
    d.server(echo_auth(ReasonCode::CONTINUE_AUTHENTICATION, b"two"));
    // [MQTT-3.1.2-30]: only the two AUTH answers, not the queued work
    assert_eq!(
        d.sent(),
        vec![
            echo_auth(ReasonCode::CONTINUE_AUTHENTICATION, b"one"),
            echo_auth(ReasonCode::CONTINUE_AUTHENTICATION, b"two"),
        ]
    );
    let method = Some("ECHO".try_into().unwrap());
    d.server(Packet::ConnAck(Box::new(connack_props(
        ConnAckProperties {
            authentication_method: method,
            ..Default::default()
        },
    ))));
    assert_eq!(d.sent().len(), 2, "the queued work follows the CONNACK");
}

#[test]
fn mqtt_3_2_2_5_session_present_0_discards_the_session_state() {
    let mut c = config(V5);
    c.session_expiry_interval = 600;
    let mut d = Double::new(c);
    d.connect();
    d.publish(out(QoS::ExactlyOnce)).unwrap();
    d.publish(out(QoS::AtLeastOnce)).unwrap();
    let heads = publish_heads(&d.sent());
    d.server(Packet::PubRec(ack(heads[0].0.unwrap())));
    d.server(plain(QoS::ExactlyOnce, 7, false));
    d.sent();
    assert_eq!(deliveries(&d.events()), 1);
    d.drop_transport();
    assert!(!d.open().clean_start);
    d.server(Packet::ConnAck(Box::new(connack(false))));
    let sent = d.sent();
    // [MQTT-3.2.2-5]: no PUBREL and no DUP resend of the lost session
    assert!(
        !sent.iter().any(|p| matches!(p, Packet::PubRel(_))),
        "{sent:?}"
    );
    assert!(publish_heads(&sent).iter().all(|h| !h.2), "{sent:?}");
    // [MQTT-3.2.2-5]: the PUBREC we sent is forgotten: id 7 is a new message
    d.server(plain(QoS::ExactlyOnce, 7, false));
    assert_eq!(deliveries(&d.events()), 1);
}

#[test]
fn mqtt_3_3_2_10_every_alias_up_to_our_maximum_is_accepted() {
    let mut c = config(V5);
    c.topic_alias_maximum = 3;
    let mut d = Double::new(c);
    assert_eq!(d.open().properties.topic_alias_maximum, Some(3));
    d.server(Packet::ConnAck(Box::new(connack(false))));
    for topic_given in [true, false] {
        for a in 1..=3 {
            let props = PublishProperties {
                topic_alias: NonZeroU16::new(a),
                ..Default::default()
            };
            let mut p = inbound(QoS::AtMostOnce, 0, false, props);
            if let (Packet::Publish(p), false) = (&mut p, topic_given) {
                p.topic = None;
            }
            d.server(p);
        }
    }
    // [MQTT-3.3.2-10]: six deliveries, no DISCONNECT
    assert_eq!(deliveries(&d.events()), 6);
    assert_eq!(d.sent(), vec![]);
}

#[test]
fn mqtt_3_3_4_8_non_publish_packets_go_out_at_receive_maximum() {
    let mut c = config(V5);
    c.keep_alive = 10;
    let mut d = Double::new(c);
    d.connect_with(connack_props(ConnAckProperties {
        receive_maximum: NonZeroU16::new(1),
        ..Default::default()
    }));
    d.publish(out(QoS::AtLeastOnce)).unwrap();
    d.publish(out(QoS::AtLeastOnce)).unwrap();
    assert_eq!(publish_heads(&d.sent()).len(), 1);
    assert_eq!(d.session.queued(), 1, "Receive Maximum reached");
    let f = TopicFilter::new("s/+").unwrap();
    d.subscribe(vec![(f.clone(), q1())], Default::default())
        .unwrap();
    d.unsubscribe(vec![f], Default::default()).unwrap();
    d.server(plain(QoS::AtLeastOnce, 1, false));
    d.server(plain(QoS::ExactlyOnce, 2, false));
    d.advance(Duration::from_secs(10));
    let kinds: Vec<_> = d
        .sent()
        .iter()
        .map(|p| match p {
            Packet::Subscribe(_) => "SUBSCRIBE",
            Packet::Unsubscribe(_) => "UNSUBSCRIBE",
            Packet::PubAck(_) => "PUBACK",
            Packet::PubRec(_) => "PUBREC",
            Packet::PingReq(_) => "PINGREQ",
            other => panic!("{other:?}"),
        })
        .collect();
    // [MQTT-3.3.4-8]
    assert_eq!(
        kinds,
        ["SUBSCRIBE", "UNSUBSCRIBE", "PUBACK", "PUBREC", "PINGREQ"]
    );
}

#[test]
fn mqtt_4_9_0_3_other_packets_are_processed_at_zero_send_quota() {
    let mut d = Double::new(config(V5));
    d.connect_with(connack_props(ConnAckProperties {
        receive_maximum: NonZeroU16::new(1),
        ..Default::default()
    }));
    d.publish(out(QoS::AtLeastOnce)).unwrap();
    d.publish(out(QoS::AtLeastOnce)).unwrap();
    let f = TopicFilter::new("s/+").unwrap();
    let sub = d.subscribe(vec![(f, q1())], Default::default()).unwrap();
    let sent = d.sent();
    let Some(Packet::Subscribe(s)) = sent.last() else {
        panic!("{sent:?}")
    };
    assert_eq!(d.session.queued(), 1, "send quota is zero");
    d.server(Packet::SubAck(SubAck {
        packet_id: s.packet_id,
        properties: AckProperties::default(),
        reason_codes: vec![ReasonCode::GRANTED_QOS_1],
    }));
    d.server(plain(QoS::ExactlyOnce, 3, false));
    d.server(Packet::PubRel(ack(id(3))));
    let events = d.events();
    // [MQTT-4.9.0-3]: the SUBACK completes, the PUBLISH is delivered and
    // answered, the PUBREL is answered
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::SubscribeDone { id, result: Ok(_) } if *id == sub)));
    assert_eq!(deliveries(&events), 1);
    assert_eq!(
        d.sent(),
        vec![Packet::PubRec(ack(id(3))), Packet::PubComp(ack(id(3)))]
    );
}

/// The PUBACK, PUBREC, PUBREL, PUBCOMP and AUTH the client sends to a server
/// whose Maximum Packet Size (24) leaves no room for a Reason String or User
/// Properties, each in the form most likely to carry them (failure reasons,
/// re-authentication).
fn sent_under_a_tiny_maximum() -> Vec<Packet> {
    let mut c = with_echo();
    c.manual_acks = true;
    let mut d = Double::new(c);
    d.open();
    d.server(Packet::ConnAck(Box::new(connack_props(
        ConnAckProperties {
            maximum_packet_size: NonZeroU32::new(24),
            authentication_method: Some("ECHO".try_into().unwrap()),
            ..Default::default()
        },
    ))));
    d.server(plain(QoS::AtLeastOnce, 1, false));
    d.server(plain(QoS::ExactlyOnce, 2, false));
    for e in d.events() {
        if let Event::Message(m) = e {
            d.session
                .ack_with(d.now, m.ack.unwrap(), ReasonCode::NOT_AUTHORIZED);
        }
    }
    d.server(Packet::PubRel(ack(id(2))));
    d.publish(out(QoS::ExactlyOnce)).unwrap();
    let mut sent = d.sent();
    d.server(Packet::PubRec(ack(publish_heads(&sent)[0].0.unwrap())));
    d.reauthenticate().unwrap();
    d.server(echo_auth(ReasonCode::CONTINUE_AUTHENTICATION, b"x"));
    sent.extend(d.sent());
    sent
}

/// The properties of the one ack of `kind` in `sent`.
fn ack_props(sent: &[Packet], kind: &str) -> AckProperties {
    let found: Vec<_> = sent
        .iter()
        .filter_map(|p| match (p, kind) {
            (Packet::PubAck(a), "PUBACK")
            | (Packet::PubRec(a), "PUBREC")
            | (Packet::PubRel(a), "PUBREL")
            | (Packet::PubComp(a), "PUBCOMP") => Some(a.properties.clone()),
            _ => None,
        })
        .collect();
    assert!(!found.is_empty(), "no {kind} in {sent:?}");
    found[0].clone()
}

fn auth_props(sent: &[Packet]) -> Vec<AuthProperties> {
    let auths: Vec<_> = sent
        .iter()
        .filter_map(|p| match p {
            Packet::Auth(a) => Some(a.properties.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        auths.len(),
        2,
        "re-authentication start and answer: {sent:?}"
    );
    auths
}

#[test]
fn mqtt_3_4_2_2_puback_carries_no_reason_string_beyond_the_maximum() {
    let sent = sent_under_a_tiny_maximum();
    // [MQTT-3.4.2-2]
    assert_eq!(ack_props(&sent, "PUBACK").reason_string, None);
}

#[test]
fn mqtt_3_4_2_3_puback_carries_no_user_properties_beyond_the_maximum() {
    let sent = sent_under_a_tiny_maximum();
    // [MQTT-3.4.2-3]
    assert!(ack_props(&sent, "PUBACK").user_properties.is_empty());
}

#[test]
fn mqtt_3_5_2_2_pubrec_carries_no_reason_string_beyond_the_maximum() {
    let sent = sent_under_a_tiny_maximum();
    // [MQTT-3.5.2-2]
    assert_eq!(ack_props(&sent, "PUBREC").reason_string, None);
}

#[test]
fn mqtt_3_5_2_3_pubrec_carries_no_user_properties_beyond_the_maximum() {
    let sent = sent_under_a_tiny_maximum();
    // [MQTT-3.5.2-3]
    assert!(ack_props(&sent, "PUBREC").user_properties.is_empty());
}

#[test]
fn mqtt_3_6_2_2_pubrel_carries_no_reason_string_beyond_the_maximum() {
    let sent = sent_under_a_tiny_maximum();
    // [MQTT-3.6.2-2]
    assert_eq!(ack_props(&sent, "PUBREL").reason_string, None);
}

#[test]
fn mqtt_3_6_2_3_pubrel_carries_no_user_properties_beyond_the_maximum() {
    let sent = sent_under_a_tiny_maximum();
    // [MQTT-3.6.2-3]
    assert!(ack_props(&sent, "PUBREL").user_properties.is_empty());
}

#[test]
fn mqtt_3_7_2_2_pubcomp_carries_no_reason_string_beyond_the_maximum() {
    let sent = sent_under_a_tiny_maximum();
    // [MQTT-3.7.2-2]
    assert_eq!(ack_props(&sent, "PUBCOMP").reason_string, None);
}

#[test]
fn mqtt_3_7_2_3_pubcomp_carries_no_user_properties_beyond_the_maximum() {
    let sent = sent_under_a_tiny_maximum();
    // [MQTT-3.7.2-3]
    assert!(ack_props(&sent, "PUBCOMP").user_properties.is_empty());
}

#[test]
fn mqtt_3_15_2_2_auth_carries_no_reason_string_beyond_the_maximum() {
    let sent = sent_under_a_tiny_maximum();
    // [MQTT-3.15.2-2]
    assert!(auth_props(&sent).iter().all(|p| p.reason_string.is_none()));
}

#[test]
fn mqtt_3_15_2_3_auth_carries_no_user_properties_beyond_the_maximum() {
    let sent = sent_under_a_tiny_maximum();
    // [MQTT-3.15.2-3]
    assert!(auth_props(&sent)
        .iter()
        .all(|p| p.user_properties.is_empty()));
}

#[test]
fn mqtt_4_3_3_7_qos2_expiry_no_longer_applies_once_sent() {
    let mut c = config(V5);
    c.session_expiry_interval = 3600;
    let mut d = Double::new(c);
    d.connect();
    let req = d.publish(out(QoS::ExactlyOnce).message_expiry(5)).unwrap();
    let pid = publish_heads(&d.sent())[0].0.unwrap();
    d.drop_transport();
    d.advance(Duration::from_secs(600));
    d.open();
    d.server(Packet::ConnAck(Box::new(connack(true))));
    // [MQTT-4.3.3-7]: 600 s after a 5 s expiry, the PUBLISH is still re-sent
    assert_eq!(
        publish_heads(&d.sent()),
        vec![(Some(pid), QoS::ExactlyOnce, true)]
    );
    d.server(Packet::PubRec(ack(pid)));
    assert_eq!(d.sent(), vec![Packet::PubRel(ack(pid))]);
    d.server(Packet::PubComp(ack(pid)));
    assert_eq!(completed(&d.events()), vec![(req.0, true)]);
}

#[test]
fn mqtt_4_3_3_9_after_a_failing_pubrec_the_id_is_a_new_message() {
    let mut c = config(V5);
    c.manual_acks = true;
    let mut d = Double::new(c);
    d.connect();
    for round in 0..2 {
        d.server(plain(QoS::ExactlyOnce, 6, false));
        let tokens = ack_tokens(&d.events());
        // [MQTT-4.3.3-9]: the second PUBLISH with id 6 is delivered as new
        assert_eq!(tokens.len(), 1, "round {round}");
        d.session
            .ack_with(d.now, tokens[0], ReasonCode::NOT_AUTHORIZED);
        assert_eq!(d.sent(), vec![Packet::PubRec(failing(id(6)))]);
    }
}

#[test]
fn mqtt_4_3_3_13_an_expired_qos2_message_still_completes_its_exchange() {
    let mut d = Double::new(config(V5));
    d.connect();
    let props = PublishProperties {
        message_expiry_interval: Some(1),
        ..Default::default()
    };
    d.server(inbound(QoS::ExactlyOnce, 8, false, props));
    assert_eq!(d.sent(), vec![Packet::PubRec(ack(id(8)))]);
    d.advance(Duration::from_secs(30));
    d.server(Packet::PubRel(ack(id(8))));
    // [MQTT-4.3.3-13]
    assert_eq!(d.sent(), vec![Packet::PubComp(ack(id(8)))]);
}

#[test]
fn mqtt_4_4_0_2_a_refused_publish_is_never_sent_again() {
    let mut c = config(V5);
    c.session_expiry_interval = 600;
    let mut d = Double::new(c);
    d.connect();
    let a = d.publish(out(QoS::AtLeastOnce)).unwrap();
    let b = d.publish(out(QoS::ExactlyOnce)).unwrap();
    let heads = publish_heads(&d.sent());
    d.server(Packet::PubAck(failing(heads[0].0.unwrap())));
    d.server(Packet::PubRec(failing(heads[1].0.unwrap())));
    assert_eq!(completed(&d.events()), vec![(a.0, false), (b.0, false)]);
    d.drop_transport();
    d.open();
    d.server(Packet::ConnAck(Box::new(connack(true))));
    // [MQTT-4.4.0-2]: nothing is re-sent, on this connection or the next
    assert_eq!(d.sent(), vec![]);
}

#[test]
fn mqtt_4_12_1_2_failed_reauthentication_closes_the_connection() {
    let mut d = Double::new(with_echo());
    d.open();
    d.server(Packet::ConnAck(Box::new(connack_props(
        ConnAckProperties {
            authentication_method: Some("ECHO".try_into().unwrap()),
            ..Default::default()
        },
    ))));
    d.events();
    d.reauthenticate().unwrap();
    assert!(
        matches!(&d.sent()[..], [Packet::Auth(a)] if a.reason_code == ReasonCode::REAUTHENTICATE)
    );
    d.server(echo_auth(ReasonCode::CONTINUE_AUTHENTICATION, b"no"));
    let sent = d.sent();
    // [MQTT-4.12.1-2]: DISCONNECT, then the connection is closed
    assert!(
        matches!(&sent[..], [Packet::Disconnect(x)] if x.reason_code == ReasonCode::NOT_AUTHORIZED),
        "{sent:?}"
    );
    assert!(d.session.wants_close());
}
