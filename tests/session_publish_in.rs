//! The session engine: incoming publishes: acknowledgements, manual acks and QoS 2 duplicates.
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
use tern_mqtt::codec::{Packet, QoS, ReasonCode};

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
        assert_eq!(d.sent(), vec![puback(pid(5))]);
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
        vec![pubrec(pid(9)), pubrec(pid(9))],
        "one PUBREC per PUBLISH received, the resend's too [MQTT-4.3.3-10]"
    );
    d.server(dup);
    assert!(d.events().is_empty());
    assert_eq!(d.sent(), vec![pubrec(pid(9))], "now PUBREC again");
    d.server(pubrel(pid(9)));
    assert_eq!(d.sent(), vec![pubcomp(pid(9))]);
    d.assert_completions();
}
