//! The session engine: topic aliases, outgoing and incoming, across connections.
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
use tern_mqtt::codec::{ConnAck, ConnAckProperties, Packet, QoS, ReasonCode};
use tern_mqtt::session::ProtocolError;

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
