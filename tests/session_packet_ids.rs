//! The session engine: packet identifiers: exhausting all 65,535 and sharing them between publishes, subscribes and unsubscribes.
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
use std::collections::HashSet;
use tern_mqtt::codec::{Packet, QoS, ReasonCode, SubscriptionOptions};
use tern_mqtt::session::Event;

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
    d.server(puback(freed));
    assert_publish_done(&mut d, vec![(reqs[100], Ok(ReasonCode::SUCCESS))]);
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
    d.server(puback(freed));
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
