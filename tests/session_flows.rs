//! The session engine's core flows, driven through its public inputs and
//! outputs against a scripted broker double, on virtual time.

#[path = "support/session_double.rs"]
mod double;

use bytes::Bytes;
use double::packets::{pid, publish_full, topic};
use double::{config, connack, disconnect_reason, messages, msg, Double, BOTH};
use std::num::NonZeroU16;
use std::time::Duration;
use tern_mqtt::codec::{
    AckProperties, ConnAckProperties, Packet, ProtocolVersion, Publish, PublishAck,
    PublishProperties, QoS, ReasonCode, SubAck, SubscribeProperties, SubscriptionOptions,
};
use tern_mqtt::session::{CommandError, Event, Initiator, ProtocolError, PublishCommand};
use tern_mqtt::topic::TopicFilter;

fn done(events: &[Event]) -> Vec<(u64, Result<ReasonCode, CommandError>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PublishDone { id, result } => {
                Some((id.0, result.clone().map(|a| a.reason_code)))
            }
            _ => None,
        })
        .collect()
}

fn incoming_publish(id: u16, qos: QoS, dup: bool) -> Packet {
    let payload = Bytes::from_static(b"x");
    publish_full(
        Some("in/1"),
        payload,
        qos,
        id,
        dup,
        PublishProperties::default(),
    )
}

#[test]
fn qos1_completes_on_puback_not_before() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        let req = d.session.publish(d.now, msg(QoS::AtLeastOnce)).unwrap();
        let sent = d.sent();
        let Packet::Publish(p) = &sent[0] else {
            panic!("{sent:?}")
        };
        let id = p.packet_id.unwrap();
        assert!(!p.dup);
        assert!(done(&d.events()).is_empty(), "no completion before PUBACK");
        d.server(Packet::PubAck(PublishAck::new(id)));
        assert_eq!(done(&d.events()), vec![(req.0, Ok(ReasonCode::SUCCESS))]);
        assert!(
            !d.session.is_packet_id_in_use(id),
            "id freed when the exchange ends"
        );
    }
}

#[test]
fn qos2_runs_publish_pubrec_pubrel_pubcomp() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        let req = d.session.publish(d.now, msg(QoS::ExactlyOnce)).unwrap();
        let Packet::Publish(p) = d.sent().remove(0) else {
            panic!()
        };
        let id = p.packet_id.unwrap();
        d.server(Packet::PubRec(PublishAck::new(id)));
        assert_eq!(d.sent(), vec![Packet::PubRel(PublishAck::new(id))]);
        assert!(done(&d.events()).is_empty());
        d.server(Packet::PubComp(PublishAck::new(id)));
        assert_eq!(done(&d.events()), vec![(req.0, Ok(ReasonCode::SUCCESS))]);
        assert_eq!(d.session.inflight(), 0);
    }
}

#[test]
fn failing_pubrec_ends_the_exchange_with_its_reason() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    d.connect();
    let req = d.session.publish(d.now, msg(QoS::ExactlyOnce)).unwrap();
    let Packet::Publish(p) = d.sent().remove(0) else {
        panic!()
    };
    let mut rec = PublishAck::new(p.packet_id.unwrap());
    rec.reason_code = ReasonCode::NOT_AUTHORIZED;
    d.server(Packet::PubRec(rec));
    assert!(
        d.sent().is_empty(),
        "no PUBREL after a failing PUBREC [MQTT-4.4.0-2]"
    );
    let events = d.events();
    assert!(matches!(
        &events[..],
        [Event::PublishDone { id, result: Err(CommandError::Refused { reason_code: ReasonCode::NOT_AUTHORIZED, .. }) }] if *id == req
    ));
}

#[test]
fn receive_maximum_limits_inflight_and_the_rest_wait_in_order() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    let mut ack = connack(false);
    ack.properties.receive_maximum = NonZeroU16::new(2);
    d.connect_with(ack);
    let reqs: Vec<_> = (0..5)
        .map(|_| d.session.publish(d.now, msg(QoS::AtLeastOnce)).unwrap())
        .collect();
    let first = d.sent();
    assert_eq!(first.len(), 2, "only Receive Maximum publishes go out");
    assert_eq!(d.session.queued(), 3);
    let Packet::Publish(p) = &first[0] else {
        panic!()
    };
    d.server(Packet::PubAck(PublishAck::new(p.packet_id.unwrap())));
    assert_eq!(d.sent().len(), 1, "one ack frees one slot");
    assert_eq!(
        done(&d.events()),
        vec![(reqs[0].0, Ok(ReasonCode::SUCCESS))]
    );
    assert_eq!(d.session.inflight(), 2);
}

#[test]
fn qos0_completes_when_encoded() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    d.connect();
    let req = d.session.publish(d.now, msg(QoS::AtMostOnce)).unwrap();
    assert_eq!(done(&d.events()), vec![(req.0, Ok(ReasonCode::SUCCESS))]);
    assert!(matches!(&d.sent()[..], [Packet::Publish(p)] if p.packet_id.is_none()));
}

/// `take_publish_done` hands over the completion of a QoS 0 publish sent
/// at once, exactly once, and nothing for one still to come: that one
/// completes through `poll_event` as usual.
#[test]
fn take_publish_done_takes_only_a_completion_already_made() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    let queued = d.session.publish(d.now, msg(QoS::AtMostOnce)).unwrap();
    assert_eq!(d.session.take_publish_done(queued), None, "not sent yet");
    assert_eq!(
        done(&d.connect()),
        vec![(queued.0, Ok(ReasonCode::SUCCESS))],
        "the queued one completes as an event"
    );
    let now = d.session.publish(d.now, msg(QoS::AtMostOnce)).unwrap();
    let qos1 = d.session.publish(d.now, msg(QoS::AtLeastOnce)).unwrap();
    assert_eq!(d.session.take_publish_done(qos1), None, "awaits its PUBACK");
    let sent_now = d.session.publish(d.now, msg(QoS::AtMostOnce)).unwrap();
    assert_eq!(
        d.session.take_publish_done(now),
        None,
        "only the latest event is taken"
    );
    let taken = d.session.take_publish_done(sent_now);
    assert_eq!(
        taken.map(|r| r.map(|a| a.reason_code)),
        Some(Ok(ReasonCode::SUCCESS))
    );
    assert_eq!(d.session.take_publish_done(sent_now), None, "taken once");
    assert_eq!(
        done(&d.events()),
        vec![(now.0, Ok(ReasonCode::SUCCESS))],
        "the one not taken is still an event; the taken one is not"
    );
}

#[test]
fn publishes_wait_while_disconnected_then_go_out_after_connack() {
    let mut d = Double::new(config(ProtocolVersion::V311));
    let req = d.session.publish(d.now, msg(QoS::AtLeastOnce)).unwrap();
    d.open();
    assert!(d.sent().is_empty(), "nothing before CONNACK");
    d.server(Packet::ConnAck(Box::new(connack(false))));
    let sent = d.sent();
    assert_eq!(sent.len(), 1);
    let Packet::Publish(p) = &sent[0] else {
        panic!()
    };
    d.server(Packet::PubAck(PublishAck::new(p.packet_id.unwrap())));
    assert_eq!(done(&d.events()), vec![(req.0, Ok(ReasonCode::SUCCESS))]);
}

#[test]
fn incoming_qos2_is_delivered_once_despite_dup_resend() {
    for v in BOTH {
        let mut d = Double::new(config(v));
        d.connect();
        d.server(incoming_publish(7, QoS::ExactlyOnce, false));
        assert_eq!(d.sent(), vec![Packet::PubRec(PublishAck::new(pid(7)))]);
        d.server(incoming_publish(7, QoS::ExactlyOnce, true));
        assert_eq!(
            d.sent(),
            vec![Packet::PubRec(PublishAck::new(pid(7)))],
            "PUBREC again [MQTT-4.3.3-10]"
        );
        let messages = d
            .events()
            .into_iter()
            .filter(|e| matches!(e, Event::Message(_)))
            .count();
        assert_eq!(messages, 1, "delivered exactly once");
        d.server(Packet::PubRel(PublishAck::new(pid(7))));
        assert_eq!(d.sent(), vec![Packet::PubComp(PublishAck::new(pid(7)))]);
        // After PUBCOMP the id names a new message [MQTT-4.3.3-12].
        d.server(incoming_publish(7, QoS::ExactlyOnce, false));
        assert_eq!(d.events().len(), 1);
    }
}

#[test]
fn pubrel_for_unknown_id_gets_pubcomp_0x92() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    d.connect();
    d.server(Packet::PubRel(PublishAck::new(pid(99))));
    let mut comp = PublishAck::new(pid(99));
    comp.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
    assert_eq!(d.sent(), vec![Packet::PubComp(comp)]);
    assert!(d.events().is_empty(), "not an error");
}

#[test]
fn server_exceeding_our_receive_maximum_is_disconnected_with_0x93() {
    let mut c = config(ProtocolVersion::V5);
    c.receive_maximum = 2;
    c.manual_acks = true;
    let mut d = Double::new(c);
    d.connect();
    d.server(incoming_publish(1, QoS::AtLeastOnce, false));
    d.server(incoming_publish(2, QoS::AtLeastOnce, false));
    d.server(incoming_publish(3, QoS::AtLeastOnce, false));
    let sent = d.sent();
    assert!(
        matches!(&sent[..], [Packet::Disconnect(x)] if x.reason_code == ReasonCode::RECEIVE_MAXIMUM_EXCEEDED)
    );
    assert!(d.session.wants_close());
    let events = d.events();
    assert!(
        matches!(events.last(), Some(Event::Disconnected(info)) if info.initiator == Initiator::Protocol
        && info.reason_code == Some(ReasonCode::RECEIVE_MAXIMUM_EXCEEDED))
    );
}

#[test]
fn after_one_0x93_a_server_exceeding_receive_maximum_is_tolerated_not_reconnected_forever() {
    let mut c = config(ProtocolVersion::V5);
    c.receive_maximum = 2;
    c.manual_acks = true;
    let mut d = Double::new(c);
    d.connect();
    for id in 1..=3 {
        d.server(incoming_publish(id, QoS::AtLeastOnce, false));
    }
    assert_eq!(
        disconnect_reason(&d.sent()),
        ReasonCode::RECEIVE_MAXIMUM_EXCEEDED
    );
    d.drop_transport();
    d.events();
    // The next connection: the same excess (a broker resending its backlog
    // after the CONNACK) is delivered, not disconnected again.
    d.connect();
    for id in 4..=8 {
        d.server(incoming_publish(id, QoS::AtLeastOnce, false));
    }
    assert!(d.sent().is_empty(), "no DISCONNECT this time");
    assert!(!d.session.wants_close());
    assert_eq!(messages(&d.events()).len(), 5);
}

#[test]
fn manual_acks_go_out_in_arrival_order() {
    let mut c = config(ProtocolVersion::V5);
    c.manual_acks = true;
    let mut d = Double::new(c);
    d.connect();
    d.server(incoming_publish(1, QoS::AtLeastOnce, false));
    d.server(incoming_publish(2, QoS::ExactlyOnce, false));
    let tokens: Vec<_> = d
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => m.ack,
            _ => None,
        })
        .collect();
    assert_eq!(tokens.len(), 2);
    d.session.ack(d.now, tokens[1]);
    assert!(
        d.sent().is_empty(),
        "PUBREC waits for the earlier PUBACK [MQTT-4.6.0-2]"
    );
    d.session.ack(d.now, tokens[0]);
    assert_eq!(
        d.sent(),
        vec![
            Packet::PubAck(PublishAck::new(pid(1))),
            Packet::PubRec(PublishAck::new(pid(2)))
        ]
    );
}

#[test]
fn session_present_resends_publish_with_dup_and_pubrel_in_order() {
    let mut c = config(ProtocolVersion::V5);
    c.session_expiry_interval = 3600;
    let mut d = Double::new(c);
    d.connect();
    let _a = d.session.publish(d.now, msg(QoS::AtLeastOnce)).unwrap();
    let _b = d.session.publish(d.now, msg(QoS::ExactlyOnce)).unwrap();
    let sent = d.sent();
    let ids: Vec<_> = sent
        .iter()
        .map(|p| match p {
            Packet::Publish(p) => p.packet_id.unwrap(),
            _ => panic!(),
        })
        .collect();
    d.server(Packet::PubRec(PublishAck::new(ids[1])));
    d.sent();
    let events = d.drop_transport();
    assert!(
        matches!(&events[..], [Event::Disconnected(i)] if i.initiator == Initiator::Transport && i.session_kept)
    );
    let connect = d.open();
    assert!(!connect.clean_start, "resume the session");
    let _c = d.session.publish(d.now, msg(QoS::AtLeastOnce)).unwrap();
    d.server(Packet::ConnAck(Box::new(connack(true))));
    let resent = d.sent();
    assert!(matches!(&resent[0], Packet::Publish(p) if p.dup && p.packet_id == Some(ids[0])));
    assert_eq!(resent[1], Packet::PubRel(PublishAck::new(ids[1])));
    assert!(
        matches!(&resent[2], Packet::Publish(p) if !p.dup),
        "new publishes after the resends"
    );
}

#[test]
fn session_not_present_reports_lost_subscriptions_and_resends_as_new() {
    let mut c = config(ProtocolVersion::V5);
    c.session_expiry_interval = 3600;
    // The session restores subscriptions itself by default
    // (tests/session_lifecycle.rs); this is the opt-out.
    c.restore_subscriptions = false;
    let mut d = Double::new(c);
    d.connect();
    let f = TopicFilter::new("a/+").unwrap();
    let sub = d
        .session
        .subscribe(
            d.now,
            vec![(f.clone(), SubscriptionOptions::qos(QoS::AtLeastOnce))],
            SubscribeProperties::default(),
        )
        .unwrap();
    let Packet::Subscribe(s) = d.sent().remove(0) else {
        panic!()
    };
    d.server(Packet::SubAck(SubAck {
        packet_id: s.packet_id,
        properties: AckProperties::default(),
        reason_codes: vec![ReasonCode::GRANTED_QOS_1],
    }));
    assert!(
        matches!(&d.events()[..], [Event::SubscribeDone { id, result: Ok(r) }] if *id == sub && r == &vec![Ok(QoS::AtLeastOnce)])
    );
    d.session.publish(d.now, msg(QoS::AtLeastOnce)).unwrap();
    d.drop_transport();
    d.open();
    d.server(Packet::ConnAck(Box::new(connack(false))));
    let events = d.events();
    assert!(events.iter().any(|e| matches!(e, Event::SubscriptionsLost { subscriptions } if subscriptions.len() == 1 && subscriptions[0].0 == f)));
    assert!(matches!(&d.sent()[..], [Packet::Publish(p)] if !p.dup));
    assert!(d.session.subscriptions().is_empty());
}

#[test]
fn keep_alive_pings_only_when_idle_and_times_out_without_answer() {
    let mut c = config(ProtocolVersion::V5);
    c.keep_alive = 10;
    let mut d = Double::new(c);
    d.connect();
    d.advance(Duration::from_secs(6));
    d.session.publish(d.now, msg(QoS::AtMostOnce)).unwrap();
    d.sent();
    d.advance(Duration::from_secs(6));
    assert!(
        d.sent().is_empty(),
        "something was sent 6 s ago: no PINGREQ yet"
    );
    d.advance(Duration::from_secs(4));
    assert_eq!(d.sent(), vec![Packet::PingReq(tern_mqtt::codec::PingReq)]);
    d.server(Packet::PingResp(tern_mqtt::codec::PingResp));
    d.advance(Duration::from_secs(10));
    assert_eq!(d.sent(), vec![Packet::PingReq(tern_mqtt::codec::PingReq)]);
    d.events();
    d.advance(Duration::from_secs(10));
    assert!(d.session.wants_close());
    let events = d.events();
    assert!(
        matches!(&events[..], [Event::Disconnected(i)] if i.error == Some(ProtocolError::KeepAliveTimeout))
    );
}

#[test]
fn server_keep_alive_replaces_ours_and_zero_turns_it_off() {
    let mut c = config(ProtocolVersion::V5);
    c.keep_alive = 10;
    let mut d = Double::new(c);
    let mut ack = connack(false);
    ack.properties = ConnAckProperties {
        server_keep_alive: Some(0),
        ..Default::default()
    };
    d.connect_with(ack);
    assert_eq!(
        d.session.poll_timeout(),
        None,
        "keep alive 0: no timer at all"
    );
}

#[test]
fn missing_connack_times_out() {
    let mut c = config(ProtocolVersion::V311);
    c.connect_timeout = Duration::from_secs(5);
    let mut d = Double::new(c);
    d.open();
    d.advance(Duration::from_secs(4));
    assert!(d.events().is_empty());
    d.advance(Duration::from_secs(1));
    let events = d.events();
    assert!(
        matches!(&events[..], [Event::Disconnected(i)] if i.error == Some(ProtocolError::ConnAckTimeout))
    );
}

#[test]
fn incoming_topic_alias_resolves_and_unknown_alias_is_0x94() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    d.connect();
    let mut p = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: Some(topic("long/topic/name")),
        packet_id: None,
        properties: PublishProperties {
            topic_alias: NonZeroU16::new(3),
            ..Default::default()
        }
        .into(),
        payload: Bytes::from_static(b"1"),
    };
    d.server(Packet::Publish(p.clone()));
    p.topic = None;
    d.server(Packet::Publish(p.clone()));
    let topics: Vec<_> = d
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.topic.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(topics, vec!["long/topic/name", "long/topic/name"]);
    p.properties.topic_alias = NonZeroU16::new(4);
    d.server(Packet::Publish(p));
    assert!(
        matches!(&d.sent()[..], [Packet::Disconnect(x)] if x.reason_code == ReasonCode::TOPIC_ALIAS_INVALID)
    );
}

#[test]
fn outgoing_topic_alias_set_then_reused() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    let mut ack = connack(false);
    ack.properties.topic_alias_maximum = Some(4);
    d.connect_with(ack);
    d.session.publish(d.now, msg(QoS::AtMostOnce)).unwrap();
    d.session.publish(d.now, msg(QoS::AtMostOnce)).unwrap();
    let sent = d.sent();
    assert!(
        matches!(&sent[0], Packet::Publish(p) if p.topic.is_some() && p.properties.topic_alias == NonZeroU16::new(1))
    );
    assert!(
        matches!(&sent[1], Packet::Publish(p) if p.topic.is_none() && p.properties.topic_alias == NonZeroU16::new(1))
    );
}

#[test]
fn publish_larger_than_server_maximum_fails_early() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    let mut ack = connack(false);
    ack.properties.maximum_packet_size = std::num::NonZeroU32::new(64);
    d.connect_with(ack);
    let big = PublishCommand::new(topic("t"), vec![0u8; 100], QoS::AtLeastOnce);
    assert!(matches!(
        d.session.publish(d.now, big),
        Err(CommandError::PacketTooLarge { max: 64, .. })
    ));
    assert!(d.sent().is_empty());
}

#[test]
fn refused_connack_reports_the_reason() {
    for (v, code, expect) in [
        (
            ProtocolVersion::V5,
            ReasonCode::BAD_USER_NAME_OR_PASSWORD,
            ReasonCode::BAD_USER_NAME_OR_PASSWORD,
        ),
        (
            ProtocolVersion::V311,
            ReasonCode(4),
            ReasonCode::BAD_USER_NAME_OR_PASSWORD,
        ),
    ] {
        let mut d = Double::new(config(v));
        let mut ack = connack(false);
        ack.reason_code = code;
        let events = d.connect_with(ack);
        assert!(
            matches!(&events[..], [Event::Disconnected(i)] if i.initiator == Initiator::Remote && i.reason_code == Some(expect)),
            "{events:?}"
        );
        assert!(d.session.wants_close());
    }
}

#[test]
fn second_connack_is_a_protocol_error() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    d.connect();
    d.server(Packet::ConnAck(Box::new(connack(false))));
    assert!(
        matches!(&d.sent()[..], [Packet::Disconnect(x)] if x.reason_code == ReasonCode::PROTOCOL_ERROR)
    );
}

#[test]
fn disconnect_sends_reason_and_fails_pending() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    d.connect();
    let req = d.session.publish(d.now, msg(QoS::AtLeastOnce)).unwrap();
    d.sent();
    d.session
        .disconnect(d.now, ReasonCode::DISCONNECT_WITH_WILL, Default::default())
        .unwrap();
    assert!(
        matches!(&d.sent()[..], [Packet::Disconnect(x)] if x.reason_code == ReasonCode::DISCONNECT_WITH_WILL)
    );
    let events = d.events();
    assert!(events.iter().any(
        |e| matches!(e, Event::PublishDone { id, result: Err(CommandError::Closed) } if *id == req)
    ));
    assert!(matches!(
        d.session.publish(d.now, msg(QoS::AtMostOnce)),
        Err(CommandError::Closed)
    ));
}

#[test]
fn client_publish_cannot_carry_subscription_identifiers() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    d.connect();
    let mut cmd = msg(QoS::AtLeastOnce);
    cmd.properties.subscription_identifiers = vec![std::num::NonZeroU32::new(1).unwrap()];
    // [MQTT-3.3.4-6]
    assert!(matches!(
        d.session.publish(d.now, cmd),
        Err(CommandError::Invalid(_))
    ));
    assert!(d.sent().is_empty());
}

#[test]
fn message_expiry_applies_only_before_the_first_send() {
    let mut c = config(ProtocolVersion::V5);
    c.session_expiry_interval = 3600;
    let mut d = Double::new(c);
    let stale = d
        .session
        .publish(d.now, msg(QoS::AtLeastOnce).message_expiry(5))
        .unwrap();
    let fresh = d
        .session
        .publish(d.now, msg(QoS::AtLeastOnce).message_expiry(60))
        .unwrap();
    d.advance(Duration::from_secs(10));
    let events = d.connect();
    let sent = d.sent();
    assert!(
        matches!(&sent[..], [Packet::Publish(p)] if p.properties.message_expiry_interval == Some(50)),
        "{sent:?}"
    );
    assert!(done(&events).contains(&(stale.0, Err(CommandError::MessageExpired))));
    // Once sent, expiry no longer applies [MQTT-4.3.3-7]: the resend after a
    // long outage still goes out.
    let Packet::Publish(p) = &sent[0] else {
        panic!()
    };
    let id = p.packet_id.unwrap();
    d.drop_transport();
    d.advance(Duration::from_secs(600));
    d.open();
    d.server(Packet::ConnAck(Box::new(connack(true))));
    let resent = d.sent();
    assert!(
        matches!(&resent[..], [Packet::Publish(p)] if p.dup && p.packet_id == Some(id)),
        "{resent:?}"
    );
    d.server(Packet::PubAck(PublishAck::new(id)));
    assert_eq!(done(&d.events()), vec![(fresh.0, Ok(ReasonCode::SUCCESS))]);
}

#[test]
fn server_disconnect_with_session_expiry_is_a_protocol_error() {
    let mut d = Double::new(config(ProtocolVersion::V5));
    d.connect();
    let mut disc = tern_mqtt::codec::Disconnect::default();
    disc.properties.session_expiry_interval = Some(10);
    d.server(Packet::Disconnect(disc));
    // [MQTT-3.14.2-2]
    assert!(
        matches!(&d.sent()[..], [Packet::Disconnect(x)] if x.reason_code == ReasonCode::PROTOCOL_ERROR)
    );
}

#[test]
fn v311_empty_client_id_needs_clean_session() {
    let mut c = config(ProtocolVersion::V311);
    c.client_id = tern_mqtt::codec::MqttString::default();
    c.clean_start = false;
    let mut d = Double::new(c);
    d.session.handle_transport_open(d.now).unwrap();
    // [MQTT-3.1.3-7]: the CONNECT cannot be built; the connection ends at once.
    assert!(d.sent().is_empty());
    let events = d.events();
    assert!(
        matches!(&events[..], [Event::Disconnected(i)] if matches!(i.error, Some(ProtocolError::ConnectEncode(_)))),
        "{events:?}"
    );
}

#[test]
fn ping_timeout_waits_while_the_driver_has_paused_reading() {
    let mut c = config(ProtocolVersion::V5);
    c.keep_alive = 10;
    c.ping_timeout = Some(Duration::from_secs(5));
    let mut d = Double::new(c);
    d.connect();
    d.advance(Duration::from_secs(10));
    assert_eq!(d.sent(), vec![Packet::PingReq(tern_mqtt::codec::PingReq)]);
    // The application is slow: the driver stops reading for a minute.
    d.session.set_reading_paused(d.now, true);
    d.advance(Duration::from_secs(60));
    assert!(
        !d.session.wants_close(),
        "an unread PINGRESP is not a dead connection"
    );
    d.session.set_reading_paused(d.now, false);
    d.advance(Duration::from_secs(4));
    assert!(
        !d.session.wants_close(),
        "a full ping timeout again after resuming"
    );
    d.advance(Duration::from_secs(1));
    assert!(d.session.wants_close(), "then nothing arrived: dead");
}
