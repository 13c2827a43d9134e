//! The session engine: outgoing publishes: how PUBACK and PUBREC from the server complete them, unknown ids and duplicates.
//!
//! Driven only through the engine's public inputs and outputs against the
//! scripted broker double (`support/session_double.rs`), on virtual time;
//! every test ends with `Double::assert_completions`: each command that
//! returned `Ok(id)` got exactly one completion event.

#[path = "support/session_double.rs"]
mod double;

#[allow(unused_imports)]
use double::packets::*;
#[allow(unused_imports)]
use double::*;
use tern_mqtt::codec::{AckProperties, Packet, PublishAck, QoS, ReasonCode};
use tern_mqtt::session::{CommandError, Event};

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
    assert_publish_done(&mut d, vec![(req, Ok(ReasonCode::NO_MATCHING_SUBSCRIBERS))]);
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
        d.server(puback(other));
        assert!(d.events().is_empty());
        assert!(d.sent().is_empty());
        assert_eq!(d.session.inflight(), 1);
        assert!(!d.session.wants_close());
        d.server(puback(id));
        assert_publish_done(&mut d, vec![(req, Ok(ReasonCode::SUCCESS))]);
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
        d.server(pubrec(id));
        assert_eq!(d.sent(), vec![pubrel(id)]);
        d.server(pubrec(id));
        assert_eq!(d.sent(), vec![pubrel(id)]);
        assert!(d.events().is_empty());
        d.server(pubcomp(id));
        assert_publish_done(&mut d, vec![(req, Ok(ReasonCode::SUCCESS))]);
        d.assert_completions();
    }
}

#[test]
fn pubrec_for_an_unknown_id_gets_pubrel_0x92() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        d.server(pubrec(pid(77)));
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
