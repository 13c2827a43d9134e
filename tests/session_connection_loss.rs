//! The session engine: connection loss: what happens to requests in flight under the session-lost policies, and what is sent again.
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
use std::num::NonZeroU16;
use tern_mqtt::codec::{AckProperties, Packet, QoS, ReasonCode, SubscriptionOptions, UnsubAck};
use tern_mqtt::session::{CommandError, Event, Initiator, SessionLostPolicy};

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
            d.server(puback(id));
            assert_publish_done(&mut d, vec![(req, Ok(ReasonCode::SUCCESS))]);
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
