//! Packet builders, defined once for every test, the fuzz targets and the
//! benches: what a server sends (CONNACK, PUBLISH, the four publish
//! acknowledgements, SUBACK, UNSUBACK, PINGRESP, DISCONNECT), raw bytes
//! (`vbi`, `raw_packet`), and [`Responder`], the one definition of "answer
//! like a well-behaved broker" that both the async scripted broker
//! (`scripted_broker.rs`, over streams) and the sans-IO double
//! (`session_double.rs`, over `Session` on virtual time) use.
//!
//! It depends on nothing but `tern_mqtt` and `bytes`, so any crate can
//! include it by path:
//!
//! ```ignore
//! #[path = "support/packets.rs"]            // from tests/
//! #[path = "../tests/support/packets.rs"]   // from benches/
//! #[path = "../../tests/support/packets.rs"] // from fuzz/src or fuzz/fuzz_targets
//! mod packets;
//! ```
//!
//! `scripted_broker.rs` and `session_double.rs` include it as their
//! `packets` submodule and re-export the builders their users had before.
// Each crate that includes this file uses only part of it.
#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use std::num::NonZeroU16;
use tern_mqtt::codec::{
    encode, AckProperties, ConnAck, ConnAckProperties, Disconnect, DisconnectProperties,
    MqttString, Packet, PacketId, PingResp, ProtocolVersion, Publish, PublishAck,
    PublishProperties, QoS, ReasonCode, SubAck, Subscribe, UnsubAck, Unsubscribe,
};
use tern_mqtt::topic::{TopicFilter, TopicName};

// ----- values -----

/// An MQTT string; panics if `v` is not one.
pub fn s(v: &str) -> MqttString {
    MqttString::try_from(v).unwrap()
}

/// A topic name; panics if `v` is not one.
pub fn topic(v: &str) -> TopicName {
    TopicName::new(v).unwrap()
}

/// A topic filter; panics if `v` is not one.
pub fn filter(v: &str) -> TopicFilter {
    TopicFilter::new(v).unwrap()
}

/// A packet identifier; panics on 0.
pub fn pid(n: u16) -> PacketId {
    NonZeroU16::new(n).unwrap()
}

// ----- CONNACK -----

/// A successful CONNACK without properties.
pub fn connack(session_present: bool) -> ConnAck {
    ConnAck {
        session_present,
        reason_code: ReasonCode::SUCCESS,
        properties: ConnAckProperties::default(),
    }
}

/// A successful CONNACK (no session present) with `properties`.
pub fn connack_with(properties: ConnAckProperties) -> ConnAck {
    ConnAck {
        properties,
        ..connack(false)
    }
}

/// A CONNACK refusing the connection with `reason_code`.
pub fn connack_refused(reason_code: ReasonCode) -> ConnAck {
    ConnAck {
        reason_code,
        ..connack(false)
    }
}

/// `ack` as a packet.
pub fn connack_packet(ack: ConnAck) -> Packet {
    Packet::ConnAck(Box::new(ack))
}

// ----- PUBLISH -----

/// A PUBLISH with every field given; the packet id is `id` for QoS 1 and 2
/// and none for QoS 0 (whatever `id` says).
pub fn publish_full(
    topic_name: Option<&str>,
    payload: Bytes,
    qos: QoS,
    id: u16,
    dup: bool,
    properties: PublishProperties,
) -> Packet {
    Packet::Publish(Publish {
        dup,
        qos,
        retain: false,
        topic: topic_name.map(topic),
        packet_id: (qos != QoS::AtMostOnce).then(|| pid(id)),
        properties: properties.into(),
        payload,
    })
}

/// A PUBLISH from the broker, no properties, not retained.
pub fn publish(topic_name: &str, payload: &'static [u8], qos: QoS, id: Option<PacketId>) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: Some(topic(topic_name)),
        packet_id: id,
        properties: Default::default(),
        payload: Bytes::from_static(payload),
    })
}

/// The packet id of the `i`-th message of a run: 1 to 65,535, cycling.
pub fn cycling_id(i: usize) -> PacketId {
    pid(u16::try_from(i % 65_535).unwrap() + 1)
}

/// The `i`-th PUBLISH of the codec workloads (benches/codec.rs,
/// tests/alloc_count.rs): QoS 1 to `sensors/kitchen/temperature`, packet id
/// [`cycling_id`]`(i)`; in v5 with a Message Expiry Interval and two User
/// Properties.
pub fn sensor_publish(i: usize, payload: Bytes, v: ProtocolVersion) -> Packet {
    let mut properties = PublishProperties::default();
    if v == ProtocolVersion::V5 {
        properties.message_expiry_interval = Some(3_600);
        properties.user_properties = vec![
            (s("origin"), s("bench")),
            (s("trace-id"), s("4bf92f3577b34da6")),
        ];
    }
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: Some(topic("sensors/kitchen/temperature")),
        packet_id: Some(cycling_id(i)),
        properties: properties.into(),
        payload,
    })
}

// ----- acknowledgements -----

/// A publish acknowledgement with `reason_code` (the packet kind decides
/// which: `Packet::PubAck(ack_with(..))`).
pub fn ack_with(id: PacketId, reason_code: ReasonCode) -> PublishAck {
    let mut a = PublishAck::new(id);
    a.reason_code = reason_code;
    a
}

/// A successful PUBACK.
pub fn puback(id: PacketId) -> Packet {
    Packet::PubAck(PublishAck::new(id))
}

/// A successful PUBREC.
pub fn pubrec(id: PacketId) -> Packet {
    Packet::PubRec(PublishAck::new(id))
}

/// A successful PUBREL.
pub fn pubrel(id: PacketId) -> Packet {
    Packet::PubRel(PublishAck::new(id))
}

/// A successful PUBCOMP.
pub fn pubcomp(id: PacketId) -> Packet {
    Packet::PubComp(PublishAck::new(id))
}

/// A SUBACK with one reason code per filter.
pub fn suback(id: PacketId, codes: Vec<ReasonCode>) -> Packet {
    Packet::SubAck(SubAck {
        packet_id: id,
        properties: AckProperties::default(),
        reason_codes: codes,
    })
}

/// A SUBACK granting every filter of `s` the QoS it asked for.
pub fn grant(s: &Subscribe) -> Packet {
    suback(
        s.packet_id,
        s.filters
            .iter()
            .map(|(_, o)| ReasonCode(o.qos as u8))
            .collect(),
    )
}

/// An UNSUBACK with these reason codes (none in 3.1.1).
pub fn unsuback(id: PacketId, codes: Vec<ReasonCode>) -> Packet {
    Packet::UnsubAck(UnsubAck {
        packet_id: id,
        properties: AckProperties::default(),
        reason_codes: codes,
    })
}

/// An UNSUBACK accepting every filter of `u`: Success per filter in v5,
/// no codes in 3.1.1.
pub fn unsuback_all(u: &Unsubscribe, version: ProtocolVersion) -> Packet {
    let codes = match version {
        ProtocolVersion::V5 => vec![ReasonCode::SUCCESS; u.filters.len()],
        ProtocolVersion::V311 => Vec::new(),
    };
    unsuback(u.packet_id, codes)
}

/// A PINGRESP.
pub fn pingresp() -> Packet {
    Packet::PingResp(PingResp)
}

/// A DISCONNECT with `reason_code` and no properties.
pub fn disconnect(reason_code: ReasonCode) -> Packet {
    Packet::Disconnect(Disconnect {
        reason_code,
        properties: DisconnectProperties::default(),
    })
}

// ----- bytes -----

/// `packet` encoded at `version`; panics if it does not encode.
pub fn encoded(packet: &Packet, version: ProtocolVersion) -> BytesMut {
    let mut out = BytesMut::new();
    encode(packet, version, &mut out).unwrap();
    out
}

/// A Variable Byte Integer, minimal encoding.
pub fn vbi(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return out;
        }
    }
}

/// A packet from a first byte and a body, with a minimal remaining length.
pub fn raw_packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    out.extend(vbi(body.len()));
    out.extend_from_slice(body);
    out
}

// ----- a well-behaved broker -----

/// The one definition of a well-behaved broker's answers: grants every
/// SUBSCRIBE as asked, accepts every UNSUBSCRIBE, acknowledges every
/// PUBLISH (PUBACK or PUBREC), completes every PUBREL, answers PINGREQ;
/// optionally echoes each PUBLISH back (at QoS 1 at most, with its own
/// packet ids). Anything else gets no answer.
#[derive(Debug)]
pub struct Responder {
    /// The protocol version spoken.
    pub version: ProtocolVersion,
    /// Echo every PUBLISH back to the client.
    pub echo: bool,
    next_id: u16,
}

impl Responder {
    /// A responder that does not echo.
    pub fn new(version: ProtocolVersion) -> Self {
        Responder {
            version,
            echo: false,
            next_id: 0,
        }
    }

    /// A responder that echoes every PUBLISH back.
    pub fn echoing(version: ProtocolVersion) -> Self {
        Responder {
            echo: true,
            ..Responder::new(version)
        }
    }

    /// A fresh packet identifier for what the broker sends.
    pub fn next_packet_id(&mut self) -> PacketId {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        pid(self.next_id)
    }

    /// What the broker sends in answer to `packet` from the client, in order.
    pub fn answer(&mut self, packet: &Packet) -> Vec<Packet> {
        match packet {
            Packet::Subscribe(s) => vec![grant(s)],
            Packet::Unsubscribe(u) => vec![unsuback_all(u, self.version)],
            Packet::Publish(p) => {
                let mut out = Vec::new();
                match (p.qos, p.packet_id) {
                    (QoS::AtLeastOnce, Some(id)) => out.push(puback(id)),
                    (QoS::ExactlyOnce, Some(id)) => out.push(pubrec(id)),
                    _ => {}
                }
                if self.echo {
                    let qos = p.qos.min(QoS::AtLeastOnce);
                    let packet_id = (qos != QoS::AtMostOnce).then(|| self.next_packet_id());
                    out.push(Packet::Publish(Publish {
                        dup: false,
                        qos,
                        retain: false,
                        topic: p.topic.clone(),
                        packet_id,
                        properties: Default::default(),
                        payload: p.payload.clone(),
                    }));
                }
                out
            }
            Packet::PubRel(r) => vec![pubcomp(r.packet_id)],
            Packet::PingReq(_) => vec![pingresp()],
            _ => Vec::new(),
        }
    }
}
