//! One test per `client` statement of MQTT 3.1.1 in SPEC-NOTES.md that no
//! other test asserts exactly. Each asserts its statement, run against the
//! session engine through the scripted broker double; where MQTT 5.0 states
//! the same rule, the test runs both versions and the 5.0 row names it too.

#[path = "spec/common.rs"]
mod common;
#[path = "support/session_double.rs"]
mod double;

use common::{ack, ack_tokens, completed, deliveries, id, out, plain, publish_heads, BOTH};
use double::{config, connack, Double};
use std::time::Duration;
use tern_mqtt::codec::{Packet, PingReq, ProtocolVersion, QoS, ReasonCode, SubscriptionOptions};
use tern_mqtt::session::{CommandError, SessionConfig};
use tern_mqtt::topic::TopicFilter;

/// A configuration whose session outlives the connection (Clean Session 0
/// in 3.1.1, Session Expiry Interval > 0 in 5.0).
fn persistent(v: ProtocolVersion) -> SessionConfig {
    let mut c = config(v);
    c.clean_start = v == ProtocolVersion::V5;
    c.session_expiry_interval = 600;
    c
}

/// The transport breaks and a new connection is accepted with
/// `session_present`; returns what the engine sent after the CONNACK.
fn reconnect(d: &mut Double, session_present: bool) -> Vec<Packet> {
    d.drop_transport();
    d.open();
    d.server(Packet::ConnAck(Box::new(connack(session_present))));
    d.sent()
}

#[test]
fn mqtt_3_1_0_1_connect_is_the_first_packet_on_every_connection() {
    for v in BOTH {
        let mut d = Double::new(persistent(v));
        // Work queued before the connection exists.
        d.publish(out(QoS::AtLeastOnce)).unwrap();
        let f = TopicFilter::new("s/+").unwrap();
        let q1 = SubscriptionOptions::qos(QoS::AtLeastOnce);
        d.subscribe(vec![(f, q1)], Default::default()).unwrap();
        for _ in 0..2 {
            d.session.handle_transport_open(d.now).unwrap();
            let sent = d.sent();
            // [MQTT-3.1.0-1]
            assert!(matches!(&sent[..], [Packet::Connect(_)]), "{sent:?}");
            d.server(Packet::ConnAck(Box::new(connack(false))));
            assert!(!d.sent().is_empty(), "the queued work follows the CONNACK");
            d.drop_transport();
        }
    }
}

#[test]
fn mqtt_2_3_1_3_a_resend_keeps_its_packet_id_until_the_final_ack() {
    for v in BOTH {
        let mut d = Double::new(persistent(v));
        d.connect();
        d.publish(out(QoS::AtLeastOnce)).unwrap();
        let [(Some(first), ..)] = publish_heads(&d.sent())[..] else {
            panic!()
        };
        for _ in 0..2 {
            let resent = publish_heads(&reconnect(&mut d, true));
            // [MQTT-2.3.1-3]
            assert_eq!(resent, vec![(Some(first), QoS::AtLeastOnce, true)]);
            assert!(d.session.is_packet_id_in_use(first));
        }
        d.server(Packet::PubAck(ack(first)));
        // [MQTT-2.3.1-3] freed once the PUBACK is processed
        assert!(!d.session.is_packet_id_in_use(first));
    }
}

#[test]
fn mqtt_2_3_1_6_acks_carry_the_packet_id_of_their_publish() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        d.server(plain(QoS::AtLeastOnce, 11, false));
        d.server(plain(QoS::ExactlyOnce, 12, false));
        d.publish(out(QoS::ExactlyOnce)).unwrap();
        let sent = d.sent();
        let [(Some(mine), ..)] = publish_heads(&sent)[..] else {
            panic!("{sent:?}")
        };
        d.server(Packet::PubRec(ack(mine)));
        let acks = [&sent[..2], &d.sent()[..]].concat();
        // [MQTT-2.3.1-6] PUBACK, PUBREC and PUBREL carry their PUBLISH's id
        assert_eq!(
            acks,
            vec![
                Packet::PubAck(ack(id(11))),
                Packet::PubRec(ack(id(12))),
                Packet::PubRel(ack(mine)),
            ]
        );
    }
}

#[test]
fn mqtt_3_1_2_4_clean_session_0_keeps_the_session_after_disconnect() {
    let mut d = Double::new(persistent(ProtocolVersion::V311));
    assert!(!d.open().clean_start);
    d.server(Packet::ConnAck(Box::new(connack(false))));
    d.publish(out(QoS::AtLeastOnce)).unwrap();
    let first = publish_heads(&d.sent())[0].0;
    d.drop_transport();
    // [MQTT-3.1.2-4] the next CONNECT resumes and the state was kept
    assert!(!d.open().clean_start);
    d.server(Packet::ConnAck(Box::new(connack(true))));
    assert_eq!(
        publish_heads(&d.sent()),
        vec![(first, QoS::AtLeastOnce, true)]
    );
}

#[test]
fn mqtt_3_1_2_6_clean_session_1_never_reuses_the_old_session() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        d.publish(out(QoS::ExactlyOnce)).unwrap();
        let [(Some(old), ..)] = publish_heads(&d.sent())[..] else {
            panic!()
        };
        d.server(Packet::PubRec(ack(old)));
        assert_eq!(d.sent(), vec![Packet::PubRel(ack(old))]);
        d.drop_transport();
        assert!(d.open().clean_start);
        d.server(Packet::ConnAck(Box::new(connack(false))));
        // [MQTT-3.1.2-6] (5.0 [MQTT-3.1.2-4]): no PUBREL nor DUP resend of
        // the old session's exchanges on the new one
        assert_eq!(d.sent(), vec![]);
        assert!(!d.session.is_packet_id_in_use(old));
        assert_eq!(d.session.inflight(), 0);
    }
}

#[test]
fn mqtt_3_1_2_23_the_gap_between_sent_packets_never_exceeds_keep_alive() {
    let mut c = config(ProtocolVersion::V311);
    c.keep_alive = 10;
    let mut d = Double::new(c);
    d.connect();
    let mut last = d.now;
    for _ in 0..40 {
        d.advance(Duration::from_secs(1));
        if !d.sent().is_empty() {
            // [MQTT-3.1.2-23]
            assert!(d.now - last <= Duration::from_secs(10));
            last = d.now;
        }
        d.server(Packet::PingResp(tern_mqtt::codec::PingResp));
    }
    d.advance(Duration::from_secs(10));
    assert_eq!(d.sent(), vec![Packet::PingReq(PingReq)], "idle: a PINGREQ");
}

#[test]
fn mqtt_3_1_3_2_the_client_id_names_the_session_on_every_connect() {
    let mut c = persistent(ProtocolVersion::V311);
    c.client_id = "spec-client".try_into().unwrap();
    let mut d = Double::new(c);
    for present in [false, true, true] {
        let connect = d.open();
        // [MQTT-3.1.3-2]
        assert_eq!(&*connect.client_id, "spec-client");
        d.server(Packet::ConnAck(Box::new(connack(present))));
        d.drop_transport();
    }
}

#[test]
fn mqtt_3_3_4_1_the_receiver_answers_per_the_publish_qos() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        d.server(plain(QoS::AtMostOnce, 0, false));
        // [MQTT-3.3.4-1] QoS 0: no response
        assert_eq!(d.sent(), vec![]);
        d.server(plain(QoS::AtLeastOnce, 1, false));
        // [MQTT-3.3.4-1] QoS 1: PUBACK
        assert_eq!(d.sent(), vec![Packet::PubAck(ack(id(1)))]);
        d.server(plain(QoS::ExactlyOnce, 2, false));
        // [MQTT-3.3.4-1] QoS 2: PUBREC
        assert_eq!(d.sent(), vec![Packet::PubRec(ack(id(2)))]);
    }
}

#[test]
fn mqtt_3_14_4_1_the_connection_is_closed_after_disconnect() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        d.session
            .disconnect(d.now, ReasonCode::SUCCESS, Default::default())
            .unwrap();
        assert!(matches!(&d.sent()[..], [Packet::Disconnect(_)]));
        // [MQTT-3.14.4-1] (5.0 [MQTT-3.14.4-2])
        assert!(d.session.wants_close());
    }
}

#[test]
fn mqtt_3_14_4_2_nothing_is_sent_after_disconnect() {
    for v in BOTH {
        let mut c = config(v);
        c.keep_alive = 5;
        let mut d = Double::new(c);
        d.connect();
        d.session
            .disconnect(d.now, ReasonCode::SUCCESS, Default::default())
            .unwrap();
        assert!(matches!(&d.sent()[..], [Packet::Disconnect(_)]));
        let refused = d.session.publish(d.now, out(QoS::AtLeastOnce));
        d.server(plain(QoS::AtLeastOnce, 3, false));
        d.advance(Duration::from_secs(60));
        // [MQTT-3.14.4-2] (5.0 [MQTT-3.14.4-1]): no PUBLISH, PUBACK nor PINGREQ
        assert_eq!(d.sent(), vec![]);
        assert_eq!(refused, Err(CommandError::Closed));
    }
}

#[test]
fn mqtt_4_3_1_1_qos0_is_sent_with_qos_0_and_dup_0() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        d.publish(out(QoS::AtMostOnce)).unwrap();
        // [MQTT-4.3.1-1]
        assert_eq!(
            publish_heads(&d.sent()),
            vec![(None, QoS::AtMostOnce, false)]
        );
    }
}

#[test]
fn mqtt_4_3_2_1_qos1_sender_new_id_qos_1_dup_0_unacknowledged_until_puback() {
    for v in BOTH {
        let mut d = Double::new(persistent(v));
        d.connect();
        let held = d.publish(out(QoS::AtLeastOnce)).unwrap();
        d.publish(out(QoS::AtLeastOnce)).unwrap();
        let heads = publish_heads(&d.sent());
        // [MQTT-4.3.2-1] (5.0 [MQTT-4.3.2-1], [MQTT-4.3.2-2]): fresh ids, QoS 1, DUP 0
        assert!(
            matches!(heads[..], [(Some(a), QoS::AtLeastOnce, false), (Some(b), QoS::AtLeastOnce, false)] if a != b)
        );
        let first = heads[0].0.unwrap();
        d.server(Packet::PubAck(ack(heads[1].0.unwrap())));
        d.events();
        // [MQTT-4.3.2-1] (5.0 [MQTT-4.3.2-3]): unacknowledged until its PUBACK
        assert_eq!(
            publish_heads(&reconnect(&mut d, true)),
            vec![(Some(first), QoS::AtLeastOnce, true)]
        );
        d.server(Packet::PubAck(ack(first)));
        assert_eq!(completed(&d.events()), vec![(held.0, true)]);
    }
}

#[test]
fn mqtt_4_3_2_2_puback_then_the_same_id_is_a_new_message() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        for _ in 0..2 {
            d.server(plain(QoS::AtLeastOnce, 9, false));
            // [MQTT-4.3.2-2] (5.0 [MQTT-4.3.2-4], [MQTT-4.3.2-5]): PUBACK with the
            // PUBLISH's id, and the id's next PUBLISH is delivered as new
            assert_eq!(d.sent(), vec![Packet::PubAck(ack(id(9)))]);
            assert_eq!(deliveries(&d.events()), 1);
        }
    }
}

#[test]
fn mqtt_4_3_3_1_qos2_sender_publish_until_pubrec_then_pubrel_until_pubcomp() {
    for v in BOTH {
        let mut d = Double::new(persistent(v));
        d.connect();
        let req = d.publish(out(QoS::ExactlyOnce)).unwrap();
        let heads = publish_heads(&d.sent());
        // [MQTT-4.3.3-1] (5.0 [MQTT-4.3.3-2]): new id, QoS 2, DUP 0
        let [(Some(pid), QoS::ExactlyOnce, false)] = heads[..] else {
            panic!("{heads:?}")
        };
        // [MQTT-4.3.3-1] (5.0 [MQTT-4.3.3-3]): the PUBLISH is held until PUBREC
        assert_eq!(
            publish_heads(&reconnect(&mut d, true)),
            vec![(Some(pid), QoS::ExactlyOnce, true)]
        );
        d.server(Packet::PubRec(ack(pid)));
        assert_eq!(d.sent(), vec![Packet::PubRel(ack(pid))]);
        // [MQTT-4.3.3-1] (5.0 [MQTT-4.3.3-5], [MQTT-4.3.3-6]): then only the
        // PUBREL is held and re-sent, never the PUBLISH again
        for _ in 0..2 {
            assert_eq!(reconnect(&mut d, true), vec![Packet::PubRel(ack(pid))]);
        }
        d.server(Packet::PubComp(ack(pid)));
        assert_eq!(completed(&d.events()), vec![(req.0, true)]);
    }
}

#[test]
fn mqtt_4_4_0_1_reconnect_resends_publish_and_pubrel_with_original_ids() {
    let mut d = Double::new(persistent(ProtocolVersion::V311));
    d.connect();
    d.publish(out(QoS::AtLeastOnce)).unwrap();
    d.publish(out(QoS::ExactlyOnce)).unwrap();
    let heads = publish_heads(&d.sent());
    let (one, two) = (heads[0].0.unwrap(), heads[1].0.unwrap());
    d.server(Packet::PubRec(ack(two)));
    d.sent();
    let resent = reconnect(&mut d, true);
    // [MQTT-4.4.0-1]
    assert!(
        matches!(&resent[..], [Packet::Publish(p), Packet::PubRel(r)]
        if p.dup && p.packet_id == Some(one) && r.packet_id == two)
    );
}

#[test]
fn mqtt_4_5_0_2_every_publish_is_acknowledged_without_the_application() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        d.server(plain(QoS::AtLeastOnce, 4, false));
        d.server(plain(QoS::ExactlyOnce, 5, false));
        d.server(Packet::PubRel(ack(id(5))));
        // [MQTT-4.5.0-2]: acknowledged before the application read any event
        assert_eq!(
            d.sent(),
            vec![
                Packet::PubAck(ack(id(4))),
                Packet::PubRec(ack(id(5))),
                Packet::PubComp(ack(id(5))),
            ]
        );
    }
}

#[test]
fn mqtt_4_6_0_1_resends_go_out_in_the_original_order() {
    for v in BOTH {
        let mut d = Double::new(persistent(v));
        d.connect();
        for qos in [QoS::ExactlyOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            d.publish(out(qos)).unwrap();
        }
        let first: Vec<_> = publish_heads(&d.sent()).iter().map(|h| h.0).collect();
        let again: Vec<_> = publish_heads(&reconnect(&mut d, true))
            .iter()
            .map(|h| h.0)
            .collect();
        // [MQTT-4.6.0-1]
        assert_eq!(again, first);
    }
}

/// Manual acks given last to first for three PUBLISHes at `qos`; returns
/// the acks sent, in wire order, with the ids in arrival order.
fn acks_given_in_reverse(v: ProtocolVersion, qos: QoS) -> (Vec<Packet>, [u16; 3]) {
    let mut c = config(v);
    c.manual_acks = true;
    let mut d = Double::new(c);
    d.connect();
    let arrival = [21, 22, 23];
    for n in arrival {
        d.server(plain(qos, n, false));
    }
    for t in ack_tokens(&d.events()).into_iter().rev() {
        d.session.ack(d.now, t);
    }
    (d.sent(), arrival)
}

#[test]
fn mqtt_4_6_0_2_pubacks_go_out_in_arrival_order() {
    for v in BOTH {
        let (sent, arrival) = acks_given_in_reverse(v, QoS::AtLeastOnce);
        // [MQTT-4.6.0-2]
        assert_eq!(sent, arrival.map(|n| Packet::PubAck(ack(id(n)))));
    }
}

#[test]
fn mqtt_4_6_0_3_pubrecs_go_out_in_arrival_order() {
    for v in BOTH {
        let (sent, arrival) = acks_given_in_reverse(v, QoS::ExactlyOnce);
        // [MQTT-4.6.0-3]
        assert_eq!(sent, arrival.map(|n| Packet::PubRec(ack(id(n)))));
    }
}

#[test]
fn mqtt_4_6_0_4_pubrels_go_out_in_pubrec_order() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        for _ in 0..3 {
            d.publish(out(QoS::ExactlyOnce)).unwrap();
        }
        let ids: Vec<_> = publish_heads(&d.sent())
            .iter()
            .map(|h| h.0.unwrap())
            .collect();
        let order = [ids[2], ids[0], ids[1]];
        for pid in order {
            d.server(Packet::PubRec(ack(pid)));
        }
        // [MQTT-4.6.0-4]
        assert_eq!(d.sent(), order.map(|pid| Packet::PubRel(ack(pid))));
    }
}

#[test]
fn mqtt_4_1_0_1_session_state_lives_across_connections() {
    let mut d = Double::new(persistent(ProtocolVersion::V311));
    d.connect();
    let req = d.publish(out(QoS::ExactlyOnce)).unwrap();
    let pid = publish_heads(&d.sent())[0].0.unwrap();
    d.server(Packet::PubRec(ack(pid)));
    d.sent();
    d.server(plain(QoS::ExactlyOnce, 31, false));
    d.sent();
    assert_eq!(deliveries(&d.events()), 1);
    for _ in 0..3 {
        d.advance(Duration::from_secs(3600));
        // [MQTT-4.1.0-1]: the PUBREL to send and the PUBREC sent are kept
        assert_eq!(reconnect(&mut d, true), vec![Packet::PubRel(ack(pid))]);
        d.server(plain(QoS::ExactlyOnce, 31, true));
        assert_eq!(d.sent(), vec![Packet::PubRec(ack(id(31)))]);
        assert_eq!(deliveries(&d.events()), 0, "not delivered twice");
    }
    d.server(Packet::PubComp(ack(pid)));
    assert_eq!(completed(&d.events()), vec![(req.0, true)]);
}

#[test]
fn mqtt_4_1_0_2_session_state_is_kept_while_the_connection_is_open() {
    for v in BOTH {
        let mut c = config(v);
        c.keep_alive = 30;
        let mut d = Double::new(c);
        d.connect();
        d.publish(out(QoS::AtLeastOnce)).unwrap();
        let pid = publish_heads(&d.sent())[0].0.unwrap();
        d.server(plain(QoS::ExactlyOnce, 41, false));
        for _ in 0..20 {
            d.advance(Duration::from_secs(30));
            d.server(Packet::PingResp(tern_mqtt::codec::PingResp));
        }
        // [MQTT-4.1.0-2] (5.0 [MQTT-4.1.0-1]): ten minutes later, still held
        assert!(d.session.is_packet_id_in_use(pid));
        d.server(Packet::PubRel(ack(id(41))));
        assert_eq!(d.sent().last(), Some(&Packet::PubComp(ack(id(41)))));
        d.server(Packet::PubAck(ack(pid)));
        assert!(!d.session.is_packet_id_in_use(pid));
    }
}
