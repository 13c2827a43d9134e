//! PUBLISH (3.3). The payload is a `Bytes` slice of the receive buffer.

use super::error::{DecodeError, EncodeError};
use super::header::PacketType;
use super::primitives::{
    binary_slice, fail, id, put_binary, put_vbi, string_error, u16_, write_frame, Counter, Frame,
    PResult, Sink,
};
use super::properties::{counted, BoxedPublishProperties, PublishProperties, PublishPropertiesRef};
use super::{PacketId, ProtocolVersion, QoS};
use crate::topic::{check_publish_topic, TopicError, TopicName};
use bytes::{Bytes, BytesMut};

/// PUBLISH: an application message, in either direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP: this is a re-delivery.
    pub dup: bool,
    /// Quality of service.
    pub qos: QoS,
    /// RETAIN (3.3.1.3): from the client, asks the server to keep the message
    /// as the topic's retained message (an empty payload deletes it); from the
    /// server, marks a retained message, sent because of a new subscription or
    /// kept by Retain As Published.
    pub retain: bool,
    /// Topic Name. `None` is the zero-length topic of a v5 PUBLISH that names
    /// its topic by a Topic Alias alone.
    pub topic: Option<TopicName>,
    /// Packet Identifier: present exactly when `qos` is 1 or 2.
    pub packet_id: Option<PacketId>,
    /// PUBLISH properties (v5 only), out of line: nothing is allocated
    /// when there are none.
    pub properties: BoxedPublishProperties,
    /// Payload (3.3.3): the application message, any bytes, possibly empty;
    /// it is the rest of the packet, so it has no length prefix. When decoded it
    /// shares the receive buffer instead of being copied.
    pub payload: Bytes,
}

impl Publish {
    /// The low four bits of the fixed header: DUP, QoS and RETAIN.
    pub(crate) fn flags(&self) -> u8 {
        (u8::from(self.dup) << 3) | ((self.qos as u8) << 1) | u8::from(self.retain)
    }
}

/// The fields of a PUBLISH before its properties, borrowed from the
/// packet, as [`read_head`] reads them.
#[derive(Clone, Copy)]
pub(crate) struct PublishHead<'a> {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    /// The Topic Name's bytes, checked; `None` when it is empty.
    pub topic: Option<&'a [u8]>,
    pub packet_id: Option<PacketId>,
}

impl PublishHead<'_> {
    /// This head without its borrowed topic, once the caller has made it
    /// owned, so that the packet's buffer is free to be advanced.
    #[inline(always)]
    pub(crate) fn without_topic(self) -> PublishHead<'static> {
        PublishHead {
            dup: self.dup,
            qos: self.qos,
            retain: self.retain,
            topic: None,
            packet_id: self.packet_id,
        }
    }

    /// The whole owned PUBLISH, with its topic (this head's, made owned by
    /// the caller), properties and payload.
    #[inline(always)]
    pub(crate) fn into_publish(
        self,
        topic: Option<TopicName>,
        properties: PublishProperties,
        payload: Bytes,
    ) -> Publish {
        Publish {
            dup: self.dup,
            qos: self.qos,
            retain: self.retain,
            topic,
            packet_id: self.packet_id,
            properties: properties.into(),
            payload,
        }
    }
}

/// A PUBLISH borrowed from the receive buffer: what
/// [`decode_ref`](super::decode_ref) gives, checked exactly as
/// [`decode`](super::decode) checks it, without copying a byte or touching
/// a reference count. A router can read the topic and properties and pick
/// the subscriber before anything is copied; [`PublishRef::to_publish`]
/// makes the owned [`Publish`] when one is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishRef<'a> {
    /// DUP: this is a re-delivery.
    pub dup: bool,
    /// Quality of service.
    pub qos: QoS,
    /// RETAIN (3.3.1.3).
    pub retain: bool,
    /// Topic Name, checked (no wildcard, valid MQTT UTF-8); `None` for the
    /// zero-length topic of a v5 PUBLISH that names it by Topic Alias alone.
    pub topic: Option<&'a str>,
    /// Packet Identifier: present exactly when `qos` is 1 or 2.
    pub packet_id: Option<PacketId>,
    /// PUBLISH properties (v5; empty in 3.1.1).
    pub properties: PublishPropertiesRef<'a>,
    /// Payload (3.3.3): the rest of the packet.
    pub payload: &'a [u8],
}

impl PublishRef<'_> {
    /// The owned [`Publish`], its topic, strings and payload copied out of
    /// the borrowed packet.
    pub fn to_publish(&self) -> Publish {
        let frame = Frame {
            bytes: None,
            version: ProtocolVersion::V5,
        };
        let head = PublishHead {
            dup: self.dup,
            qos: self.qos,
            retain: self.retain,
            topic: self.topic.map(str::as_bytes),
            packet_id: self.packet_id,
        };
        let topic = self
            .topic
            .map(|t| TopicName::from_checked_publish_topic(frame.share(t.as_bytes())));
        head.into_publish(
            topic,
            self.properties.to_properties(),
            Bytes::copy_from_slice(self.payload),
        )
    }
}

/// Checks a PUBLISH Topic Name: `Ok(None)` for the zero-length name.
#[inline(always)]
fn publish_topic(raw: &[u8], v: ProtocolVersion) -> Result<Option<&[u8]>, DecodeError> {
    // One scan checks the string rules and the wildcards.
    match check_publish_topic(raw) {
        Ok(()) => Ok(Some(raw)),
        Err(TopicError::Empty) => Ok(None),
        Err(TopicError::String(e)) => Err(string_error(e, v)),
        // The Topic Name in the PUBLISH packet MUST NOT contain wildcard
        // characters [MQTT-3.3.2-2].
        Err(_) => Err(DecodeError::protocol(
            "MQTT-3.3.2-2",
            "PUBLISH topic name holds a wildcard",
        )),
    }
}

/// Reads the fixed header flags, Topic Name and Packet Identifier of a
/// PUBLISH, borrowed; what it leaves unread is the properties (v5) and the
/// payload.
///
/// The caller reads the properties and builds the packet itself, in its
/// own return value: handing a finished `Publish` out through nom's
/// `(rest, value)` tuple and the `Result` layers above it would copy it at
/// every layer. In v5 the caller also checks that an empty topic comes with
/// a Topic Alias.
#[inline(always)]
pub(crate) fn read_head(i: &[u8], flags: u8, v: ProtocolVersion) -> PResult<'_, PublishHead<'_>> {
    let dup = flags & 0b1000 != 0;
    let retain = flags & 0b0001 != 0;
    // The fixed header check already refused QoS 3 [MQTT-3.3.1-4].
    let Some(qos) = QoS::from_u8((flags >> 1) & 0b11) else {
        return fail(DecodeError::malformed("MQTT-3.3.1-4", "PUBLISH with QoS 3"));
    };
    // The DUP flag MUST be set to 0 for all QoS 0 messages [MQTT-3.3.1-2].
    if dup && qos == QoS::AtMostOnce {
        return fail(DecodeError::malformed(
            "MQTT-3.3.1-2",
            "DUP set on a QoS 0 PUBLISH",
        ));
    }
    // The Topic Name MUST be present as the first field in the PUBLISH
    // packet Variable Header. It MUST be a UTF-8 Encoded String
    // [MQTT-3.3.2-1].
    let (i, raw) = binary_slice(i)?;
    let topic = match publish_topic(raw, v) {
        Ok(topic) => topic,
        Err(e) => return fail(e),
    };
    let (i, packet_id) = match qos {
        QoS::AtMostOnce => (i, None),
        _ => {
            let (i, packet_id) = u16_(i)?;
            // PUBLISH (where QoS > 0) MUST carry a non-zero Packet
            // Identifier [MQTT-2.2.1-3] (3.1.1: [MQTT-2.3.1-1]).
            let Some(packet_id) = PacketId::new(packet_id) else {
                return fail(DecodeError::protocol(
                    id(v, "MQTT-2.2.1-3", "MQTT-2.3.1-1"),
                    "PUBLISH packet identifier 0",
                ));
            };
            (i, Some(packet_id))
        }
    };
    if topic.is_none() && v == ProtocolVersion::V311 {
        return fail(empty_topic());
    }
    Ok((
        i,
        PublishHead {
            dup,
            qos,
            retain,
            topic,
            packet_id,
        },
    ))
}

/// The borrowed PUBLISH of `body` (a packet without its fixed header).
#[inline(always)]
pub(crate) fn read_publish_ref(
    body: &[u8],
    flags: u8,
    v: ProtocolVersion,
) -> Result<PublishRef<'_>, DecodeError> {
    let (rest, head) = super::parsed(read_head(body, flags, v))?;
    let (payload, properties) = match v {
        ProtocolVersion::V311 => (rest, PublishPropertiesRef::default()),
        ProtocolVersion::V5 => super::parsed(PublishPropertiesRef::read(rest, v))?,
    };
    if head.topic.is_none() && properties.topic_alias().is_none() {
        return Err(empty_topic());
    }
    Ok(PublishRef {
        dup: head.dup,
        qos: head.qos,
        retain: head.retain,
        // Checked by `read_head`: `from_utf8` cannot fail here, and the
        // `&str` needs it (no `unsafe`).
        topic: head
            .topic
            .map(|t| std::str::from_utf8(t).unwrap_or_default()),
        packet_id: head.packet_id,
        properties,
        payload,
    })
}

/// All Topic Names MUST be at least one character long [MQTT-4.7.3-1]; in
/// v5 a zero-length Topic Name is allowed only with a Topic Alias (3.3.2.1).
pub(crate) fn empty_topic() -> DecodeError {
    DecodeError::protocol(
        "MQTT-4.7.3-1",
        "zero-length topic name without a topic alias",
    )
}

impl Publish {
    /// The size of this PUBLISH on the wire, fixed header included. For QoS
    /// 1/2 without a packet identifier yet, the two bytes one will take are
    /// counted, so a sender can check a size limit before assigning one.
    pub fn encoded_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        let packet_id = match (self.qos, self.packet_id) {
            (QoS::AtMostOnce, p) => p,
            (_, Some(p)) => Some(p),
            (_, None) => Some(PacketId::MAX),
        };
        let parts = self.parts(v, packet_id)?;
        let remaining = self.head_len(&parts)?.saturating_add(self.payload.len());
        super::check_remaining(remaining)?;
        Ok(super::frame_len(remaining))
    }

    /// Writes the body (what follows the fixed header) through `s`.
    #[inline]
    pub(crate) fn write<S: Sink>(&self, s: &mut S, v: ProtocolVersion) -> Result<(), EncodeError> {
        let parts = self.parts(v, self.packet_id)?;
        self.write_head(s, &parts)?;
        s.put_slice(&self.payload);
        Ok(())
    }

    /// Encodes this PUBLISH at the end of `out`, the hot path of
    /// [`encode`](super::encode): the body before the payload is counted
    /// first, by [`write_head`](Self::write_head) against a [`Counter`],
    /// then written by it into exactly the room counted, the payload after
    /// it (see [`write_frame`]). On an error nothing is left in `out`.
    #[inline]
    pub(crate) fn encode_into(
        &self,
        v: ProtocolVersion,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let parts = self.parts(v, self.packet_id)?;
        let head_len = self.head_len(&parts)?;
        let first_byte = PacketType::Publish.first_byte(self.flags());
        write_frame(out, first_byte, head_len, &self.payload, |s| {
            self.write_head(s, &parts)
        })
    }

    /// The size of the body before the payload, as
    /// [`write_head`](Self::write_head) writes it, counted.
    #[inline(always)]
    fn head_len(&self, parts: &PublishParts<'_>) -> Result<usize, EncodeError> {
        let mut c = Counter::default();
        self.write_head(&mut c, parts)?;
        Ok(c.0)
    }

    /// Checks what the spec requires of an outgoing PUBLISH and gathers
    /// what its body is written from, `packet_id` standing for its own.
    #[inline(always)]
    fn parts(
        &self,
        v: ProtocolVersion,
        packet_id: Option<PacketId>,
    ) -> Result<PublishParts<'_>, EncodeError> {
        if v == ProtocolVersion::V311 && !self.properties.is_empty() {
            return Err(EncodeError::NotInV311("PUBLISH properties"));
        }
        if self.dup && self.qos == QoS::AtMostOnce {
            return Err(EncodeError::invalid(
                "MQTT-3.3.1-2",
                "DUP set on a QoS 0 PUBLISH",
            ));
        }
        let topic = match &self.topic {
            Some(t) => &t.as_mqtt_string().as_bytes()[..],
            None if self.properties.topic_alias.is_some() => &[],
            None => {
                return Err(EncodeError::invalid(
                    "MQTT-4.7.3-1",
                    "PUBLISH without a topic name needs a topic alias",
                ))
            }
        };
        match (self.qos, packet_id) {
            (QoS::AtMostOnce, None) | (QoS::AtLeastOnce | QoS::ExactlyOnce, Some(_)) => {}
            (QoS::AtMostOnce, Some(_)) => {
                // A PUBLISH packet MUST NOT contain a Packet Identifier if its
                // QoS value is set to 0 [MQTT-2.2.1-2] (3.1.1: [MQTT-2.3.1-5]).
                return Err(EncodeError::invalid(
                    id(v, "MQTT-2.2.1-2", "MQTT-2.3.1-5"),
                    "packet identifier on QoS 0",
                ));
            }
            // PUBLISH (where QoS > 0) MUST contain a non-zero Packet
            // Identifier [MQTT-2.2.1-3] (3.1.1: [MQTT-2.3.1-1]).
            (_, None) => {
                return Err(EncodeError::invalid(
                    id(v, "MQTT-2.2.1-3", "MQTT-2.3.1-1"),
                    "QoS 1/2 PUBLISH without packet identifier",
                ))
            }
        }
        let properties_len = match v {
            ProtocolVersion::V311 => None,
            // The properties counted once, by the writer that writes them.
            ProtocolVersion::V5 => Some(match self.properties.as_set() {
                None => 0,
                Some(set) => counted(set)?,
            }),
        };
        Ok(PublishParts {
            topic,
            packet_id,
            properties_len,
        })
    }

    /// Writes the body before the payload from `parts`: the one writer of
    /// both those bytes and, against a [`Counter`], their size.
    #[inline(always)]
    fn write_head<S: Sink>(&self, s: &mut S, parts: &PublishParts<'_>) -> Result<(), EncodeError> {
        put_binary(s, "topic name", parts.topic)?;
        if let Some(packet_id) = parts.packet_id {
            s.put_u16(packet_id.get());
        }
        if let Some(len) = parts.properties_len {
            put_vbi(s, len)?;
            s.put_counted(len, &*self.properties)?;
        }
        Ok(())
    }
}

/// What a PUBLISH's body is written from, checked before a byte is written.
struct PublishParts<'a> {
    /// The Topic Name's bytes, empty for a PUBLISH sent by Topic Alias alone.
    topic: &'a [u8],
    /// The Packet Identifier, present exactly for QoS 1 and 2.
    packet_id: Option<PacketId>,
    /// The size of the properties after their Property Length, in v5;
    /// `None` in 3.1.1, which has no properties.
    properties_len: Option<usize>,
}
