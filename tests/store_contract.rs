//! The engine's side of the store contract, sans-IO on virtual time: after
//! every step, the ops it reported describe exactly its durable state, and
//! a new engine restored from them carries on where it stood.

#[path = "support/session_double.rs"]
mod session_double;

use session_double::packets::{pid, puback, pubcomp, pubrec};
use session_double::{config, connack, msg, publishes, Double, V5};
use std::time::SystemTime;
use tern_mqtt::codec::{PacketId, QoS};
use tern_mqtt::session::Session;
use tern_mqtt::store::{Clock, MemoryStore, MessageStage, Store};

/// Applies what the engine reported; returns the stored stages by key.
fn persist(d: &mut Double, store: &mut MemoryStore) -> Vec<(u64, MessageStage)> {
    let mut ops = Vec::new();
    while let Some(op) = d.session.poll_store_op() {
        ops.push(op);
    }
    let clock = Clock {
        now: d.now,
        wall: SystemTime::now(),
    };
    store.apply(&ops, &clock).unwrap();
    let stored = store.load().unwrap();
    stored.messages.iter().map(|m| (m.key, m.stage)).collect()
}

fn ids(stages: &[(u64, MessageStage)]) -> Vec<Option<PacketId>> {
    stages.iter().map(|(_, s)| s.packet_id()).collect()
}

#[test]
fn the_store_follows_every_stage_of_outgoing_messages() {
    let mut store = MemoryStore::default();
    let mut cfg = config(V5);
    cfg.session_expiry_interval = 600;
    let mut d = Double::new(cfg);
    d.session.set_persistent();
    d.connect();
    for qos in [QoS::AtLeastOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        d.publish(msg(qos)).unwrap();
    }
    d.publish(msg(QoS::AtMostOnce)).unwrap();
    assert_eq!(publishes(&d.sent()).len(), 4);
    let stages = persist(&mut d, &mut store);
    assert_eq!(stages.len(), 3, "QoS 0 is not stored");
    assert_eq!(stages[2].1, MessageStage::AwaitPubRec(pid(3)));

    d.server(puback(pid(1)));
    d.server(pubrec(pid(3)));
    let stages = persist(&mut d, &mut store);
    assert_eq!(ids(&stages), [Some(pid(2)), Some(pid(3))]);
    assert_eq!(stages[1].1, MessageStage::AwaitPubComp(pid(3)));

    // A new process: PUBLISH 2 again with DUP, then PUBREL 3, in order.
    let mut e = Double::new(config(V5));
    e.session.set_persistent();
    e.session
        .restore(store.load().unwrap(), e.now, SystemTime::now());
    assert_eq!(e.session.inflight(), 2);
    assert!(e.session.is_packet_id_in_use(pid(3)));
    let connect = e.open();
    assert!(
        !connect.clean_start,
        "the session the broker kept is resumed"
    );
    e.server(tern_mqtt::codec::Packet::ConnAck(Box::new(connack(true))));
    let resent = e.sent();
    assert!(
        matches!(&resent[0], tern_mqtt::codec::Packet::Publish(p) if p.dup && p.packet_id == Some(pid(2)))
    );
    assert!(matches!(&resent[1], tern_mqtt::codec::Packet::PubRel(r) if r.packet_id == pid(3)));
    e.server(puback(pid(2)));
    e.server(pubcomp(pid(3)));
    assert!(
        persist(&mut e, &mut store).is_empty(),
        "both are done for good"
    );
}

#[test]
fn a_session_the_broker_lost_requeues_stored_messages_and_a_closed_client_keeps_them() {
    let mut store = MemoryStore::default();
    let mut d = Double::new(config(V5));
    d.session.set_persistent();
    d.connect();
    d.publish(msg(QoS::AtLeastOnce)).unwrap();
    d.sent();
    assert_eq!(ids(&persist(&mut d, &mut store)), [Some(pid(1))]);
    d.drop_transport();
    // Session Present 0: sent again as a new message, under a new stage.
    d.connect();
    let stages = persist(&mut d, &mut store);
    assert_eq!(stages.len(), 1);
    assert!(stages[0].1.packet_id().is_some(), "sent again: {stages:?}");
    // The application closes: the message fails with Closed for this
    // process but stays in the store for the next one.
    d.session
        .disconnect(d.now, Default::default(), Default::default())
        .unwrap();
    assert_eq!(persist(&mut d, &mut store).len(), 1);
    let mut next = Session::new(config(V5));
    next.set_persistent();
    next.restore(store.load().unwrap(), d.now, SystemTime::now());
    assert_eq!(next.inflight() + next.queued(), 1);
}
