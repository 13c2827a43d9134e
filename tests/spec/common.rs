//! Small builders shared by tests/spec_client_v311.rs and
//! tests/spec_client_v5.rs (the per-statement tests of SPEC-NOTES.md).
#![allow(dead_code)]

use bytes::Bytes;
use std::num::NonZeroU16;
use tern_mqtt::codec::{Packet, ProtocolVersion, Publish, PublishAck, PublishProperties, QoS};
use tern_mqtt::session::{Event, PublishCommand};
use tern_mqtt::topic::TopicName;

pub const BOTH: [ProtocolVersion; 2] = [ProtocolVersion::V311, ProtocolVersion::V5];

/// Packet identifier `n`.
pub fn id(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap()
}

/// An application message to `spec/out` at `qos`.
pub fn out(qos: QoS) -> PublishCommand {
    PublishCommand::new(TopicName::new("spec/out").unwrap(), Bytes::new(), qos)
}

/// A PUBLISH from the server to `spec/in` with packet id `n` (unused at QoS 0).
pub fn inbound(qos: QoS, n: u16, dup: bool, properties: PublishProperties) -> Packet {
    let packet_id = (qos != QoS::AtMostOnce).then(|| id(n));
    let topic = Some(TopicName::new("spec/in").unwrap());
    let payload = Bytes::from_static(b"in");
    Packet::Publish(Publish {
        dup,
        qos,
        retain: false,
        topic,
        packet_id,
        properties: properties.into(),
        payload,
    })
}

/// `inbound` without properties.
pub fn plain(qos: QoS, n: u16, dup: bool) -> Packet {
    inbound(qos, n, dup, PublishProperties::default())
}

/// An ack packet body (PUBACK, PUBREC, PUBREL, PUBCOMP) for id `n`.
pub fn ack(n: NonZeroU16) -> PublishAck {
    PublishAck::new(n)
}

/// (packet id, QoS, DUP) of every PUBLISH in `sent`.
pub fn publish_heads(sent: &[Packet]) -> Vec<(Option<NonZeroU16>, QoS, bool)> {
    sent.iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some((p.packet_id, p.qos, p.dup)),
            _ => None,
        })
        .collect()
}

/// How many messages `events` delivered to the application.
pub fn deliveries(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Message(_)))
        .count()
}

/// The ids of the publish completions in `events`, with success or not.
pub fn completed(events: &[Event]) -> Vec<(u64, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PublishDone { id, result } => Some((id.0, result.is_ok())),
            _ => None,
        })
        .collect()
}

/// The manual-ack tokens of the messages in `events`.
pub fn ack_tokens(events: &[Event]) -> Vec<tern_mqtt::session::AckToken> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => m.ack,
            _ => None,
        })
        .collect()
}
