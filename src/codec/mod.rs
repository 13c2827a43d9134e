//! The packet codec: every control packet of MQTT 3.1.1 and MQTT 5.0, in one
//! tree for both versions.
//!
//! [`decode`] and [`encode`] are pure functions over bytes. Decoding is
//! written with nom over one whole packet at a time: the fixed header is read
//! first, the size is judged before the body is buffered, and the body is
//! then parsed inside exactly its remaining length, so no field can read
//! past its packet and no byte may be left over. Strings, binary data and
//! payloads are [`Bytes`] slices of the receive buffer, not copies.
//! [`decode_ref`] reads the same bytes with the same checks into a
//! [`PacketRef`] that borrows the buffer instead: a PUBLISH as a
//! [`PublishRef`] whose properties are read on demand, with no allocation
//! and no reference count touched. [`encode`] counts each packet first,
//! with the writer that then writes it, so the output buffer grows once and
//! every length prefix is written in place.
//!
//! ```
//! use bytes::BytesMut;
//! use tern_mqtt::codec::{decode, encode, Packet, ProtocolVersion, PingReq};
//!
//! let mut wire = BytesMut::new();
//! encode(&Packet::PingReq(PingReq), ProtocolVersion::V5, &mut wire).unwrap();
//! assert_eq!(&wire[..], &[0xC0, 0x00]);
//! let packet = decode(&mut wire, ProtocolVersion::V5, 1024).unwrap();
//! assert_eq!(packet, Some(Packet::PingReq(PingReq)));
//! assert!(wire.is_empty());
//! ```

mod connect;
mod control;
mod error;
mod header;
mod primitives;
mod properties;
mod pubacks;
mod publish;
mod reason;
mod string;
mod subscribe;
mod summary;

pub use connect::{ConnAck, Connect, Will};
pub use control::{Auth, Disconnect, PingReq, PingResp};
pub use error::{DecodeError, EncodeError};
pub use primitives::VBI_MAX;
pub use properties::{
    id as property_id, user_property, AckProperties, AuthProperties, BoxedPublishProperties,
    ConnAckProperties, ConnectProperties, DisconnectProperties, PublishProperties,
    PublishPropertiesRef, SubscribeProperties, UnsubscribeProperties, UserProperty, WillProperties,
};
pub use pubacks::{PubAck, PubComp, PubRec, PubRel, PublishAck};
pub use publish::{Publish, PublishRef};
pub use reason::{AckKind, ReasonCode};
pub(crate) use string::{check_mqtt_str, scan_str};
pub use string::{MqttString, StringError};
pub use subscribe::{
    RetainHandling, SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe,
};
pub use summary::{PacketSummary, PACKET_TARGET};

use crate::topic::TopicName;
use bytes::{Buf, Bytes, BytesMut};
pub use header::{is_publish, peek_fixed_header, FixedHeaderInfo};
use header::{read_fixed_header, PacketType};
use primitives::{vbi_len, write_frame, Counter, Frame, Sink};
use std::num::NonZeroU16;

/// A packet identifier: never zero ([MQTT-2.2.1-3], 3.1.1 [MQTT-2.3.1-1]).
pub type PacketId = NonZeroU16;

/// The protocol version spoken on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolVersion {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.0 (protocol level 5).
    V5,
}

impl ProtocolVersion {
    /// The Protocol Level byte of CONNECT.
    pub fn level(self) -> u8 {
        match self {
            ProtocolVersion::V311 => 4,
            ProtocolVersion::V5 => 5,
        }
    }
}

/// Quality of service of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum QoS {
    /// At most once (0).
    #[default]
    AtMostOnce = 0,
    /// At least once (1).
    AtLeastOnce = 1,
    /// Exactly once (2).
    ExactlyOnce = 2,
}

/// `QoS 0`, `QoS 1` or `QoS 2`.
impl std::fmt::Display for QoS {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QoS {}", *self as u8)
    }
}

impl QoS {
    /// The QoS for a two-bit value, or `None` for 3.
    pub fn from_u8(v: u8) -> Option<QoS> {
        match v {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// One MQTT control packet, of either protocol version.
///
/// CONNECT and CONNACK are boxed: they are by far the largest packets (a
/// [`Connect`] is over 400 bytes, a [`ConnAck`] over 250) and each crosses
/// a connection once, while every `Packet` is as large as its largest
/// variant. Inline, they would make every PUBLISH and ack that is decoded,
/// returned and queued move that many bytes; boxed, a `Packet` is the size
/// of a [`Publish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (boxed: see above).
    Connect(Box<Connect>),
    /// CONNACK (boxed: see above).
    ConnAck(Box<ConnAck>),
    /// PUBLISH (3.3): an application message, in either direction.
    Publish(Publish),
    /// PUBACK (3.4): the answer to a QoS 1 PUBLISH.
    PubAck(PubAck),
    /// PUBREC (3.5): the first answer to a QoS 2 PUBLISH.
    PubRec(PubRec),
    /// PUBREL (3.6): the publisher's answer to PUBREC, releasing the message.
    PubRel(PubRel),
    /// PUBCOMP (3.7): the answer to PUBREL, ending a QoS 2 exchange.
    PubComp(PubComp),
    /// SUBSCRIBE (3.8): client to server, one or more topic filters.
    Subscribe(Subscribe),
    /// SUBACK (3.9): server to client, one reason code per filter.
    SubAck(SubAck),
    /// UNSUBSCRIBE (3.10): client to server, one or more topic filters.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK (3.11): server to client; one reason code per filter in v5,
    /// none in 3.1.1.
    UnsubAck(UnsubAck),
    /// PINGREQ (3.12): the client's keep-alive probe; it has no body.
    PingReq(PingReq),
    /// PINGRESP (3.13): the server's answer to PINGREQ; it has no body.
    PingResp(PingResp),
    /// DISCONNECT (3.14): client to server in 3.1.1; either direction, with a
    /// reason code, in v5.
    Disconnect(Disconnect),
    /// AUTH (MQTT 5.0 only).
    Auth(Auth),
}

impl Packet {
    fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq(_) => PacketType::PingReq,
            Packet::PingResp(_) => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }

    /// The packet's name as the spec writes it, e.g. `"PUBLISH"`.
    pub fn name(&self) -> &'static str {
        match self {
            Packet::Connect(_) => "CONNECT",
            Packet::ConnAck(_) => "CONNACK",
            Packet::Publish(_) => "PUBLISH",
            Packet::PubAck(_) => "PUBACK",
            Packet::PubRec(_) => "PUBREC",
            Packet::PubRel(_) => "PUBREL",
            Packet::PubComp(_) => "PUBCOMP",
            Packet::Subscribe(_) => "SUBSCRIBE",
            Packet::SubAck(_) => "SUBACK",
            Packet::Unsubscribe(_) => "UNSUBSCRIBE",
            Packet::UnsubAck(_) => "UNSUBACK",
            Packet::PingReq(_) => "PINGREQ",
            Packet::PingResp(_) => "PINGRESP",
            Packet::Disconnect(_) => "DISCONNECT",
            Packet::Auth(_) => "AUTH",
        }
    }

    /// The packet identifier, for packets that carry one (for logs).
    pub fn packet_id(&self) -> Option<u16> {
        match self {
            Packet::Publish(p) => p.packet_id.map(PacketId::get),
            Packet::PubAck(p) | Packet::PubRec(p) | Packet::PubRel(p) | Packet::PubComp(p) => {
                Some(p.packet_id.get())
            }
            Packet::Subscribe(p) => Some(p.packet_id.get()),
            Packet::SubAck(p) => Some(p.packet_id.get()),
            Packet::Unsubscribe(p) => Some(p.packet_id.get()),
            Packet::UnsubAck(p) => Some(p.packet_id.get()),
            _ => None,
        }
    }

    /// A PUBLISH's topic, when it carries one (an aliased PUBLISH may not),
    /// for logs.
    pub fn topic(&self) -> Option<&str> {
        match self {
            Packet::Publish(p) => p.topic.as_deref(),
            _ => None,
        }
    }

    /// Writes the variable header and payload, to the buffer or to a
    /// [`Counter`] for the size.
    #[inline]
    fn write_body<S: Sink>(&self, s: &mut S, v: ProtocolVersion) -> Result<(), EncodeError> {
        match self {
            Packet::Connect(p) => p.write(s),
            Packet::ConnAck(p) => p.write(s, v),
            Packet::Publish(p) => p.write(s, v),
            Packet::PubAck(p) => p.write(s, v, AckKind::PubAck),
            Packet::PubRec(p) => p.write(s, v, AckKind::PubRec),
            Packet::PubRel(p) => p.write(s, v, AckKind::PubRel),
            Packet::PubComp(p) => p.write(s, v, AckKind::PubComp),
            Packet::Subscribe(p) => p.write(s, v),
            Packet::SubAck(p) => p.write(s, v),
            Packet::Unsubscribe(p) => p.write(s, v),
            Packet::UnsubAck(p) => p.write(s, v),
            Packet::PingReq(_) | Packet::PingResp(_) => Ok(()),
            Packet::Disconnect(p) => p.write(s, v),
            Packet::Auth(p) => p.write(s, v),
        }
    }

    /// The size of this packet on the wire, fixed header included.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        let mut c = Counter::default();
        self.write_body(&mut c, version)?;
        check_remaining(c.0)?;
        Ok(frame_len(c.0))
    }
}

fn check_remaining(len: usize) -> Result<(), EncodeError> {
    if len > primitives::VBI_MAX as usize {
        return Err(EncodeError::PacketTooLarge(len));
    }
    Ok(())
}

/// Decodes one packet from the front of `buf`.
///
/// - `Ok(None)`: `buf` holds less than one whole packet; it is left untouched.
/// - `Ok(Some(packet))`: exactly that packet's bytes were consumed.
/// - `Err(_)`: malformed input, a protocol error, or a packet larger than
///   `max_packet_size`. The size is judged from the fixed header alone, so a
///   peer cannot make us buffer an oversized body.
///
/// A CONNECT is decoded by its own protocol level, whatever `version` says.
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    max_packet_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    let Some(header) = read_fixed_header(buf, version)? else {
        return Ok(None);
    };
    let size = header.packet_len();
    if size > usize::try_from(max_packet_size).unwrap_or(usize::MAX) {
        return Err(DecodeError::PacketTooLarge {
            size,
            max: max_packet_size,
        });
    }
    if buf.len() < size {
        return Ok(None);
    }
    // Split the packet off the receive buffer: the Bytes handed out for
    // payloads and strings share this allocation instead of copying it.
    let frame_bytes = buf.split_to(size).freeze();
    decode_frame(frame_bytes, header, version)
}

/// Decodes the PUBLISH in `bytes`, the hot path of [`decode`].
///
/// The [`Publish`] is built once, in the returned value, from the small
/// borrowed head [`publish::read_head`] reads: a `Packet` is a few hundred
/// bytes, and each tuple or `Result` it passed through on its way out would
/// copy it. The payload is the tail of the packet's own buffer, which saves
/// a reference count round trip over slicing it.
#[inline(always)]
fn decode_publish(
    mut bytes: Bytes,
    header: header::FixedHeader,
    version: ProtocolVersion,
) -> Result<Option<Packet>, DecodeError> {
    let body = bytes.get(header.header_len..).unwrap_or_default();
    let (rest, head) = parsed(publish::read_head(body, header.flags, version))?;
    // The topic is shared from the packet's buffer, and the payload is that
    // buffer advanced to it; each arm builds the packet in its return value.
    let topic = head
        .topic
        .map(|t| TopicName::from_checked_publish_topic(bytes.slice_ref(t)));
    let head = head.without_topic();
    match version {
        ProtocolVersion::V311 => {
            bytes.advance(bytes.len() - rest.len());
            Ok(Some(Packet::Publish(head.into_publish(
                topic,
                PublishProperties::default(),
                bytes,
            ))))
        }
        ProtocolVersion::V5 => {
            let frame = Frame {
                bytes: Some(&bytes),
                version,
            };
            let (payload, properties) = parsed(PublishProperties::read(&frame, rest))?;
            if topic.is_none() && properties.topic_alias.is_none() {
                return Err(publish::empty_topic());
            }
            bytes.advance(bytes.len() - payload.len());
            Ok(Some(Packet::Publish(
                head.into_publish(topic, properties, bytes),
            )))
        }
    }
}

/// A packet decoded by [`decode_ref`]: a PUBLISH borrowed from the buffer,
/// any other packet owned.
///
/// It stays small (a [`PublishRef`] is a few words), so handing it out
/// copies little: the rare large packets are boxed in [`PacketRef::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketRef<'a> {
    /// A PUBLISH, borrowed: nothing copied, no reference count touched.
    Publish(PublishRef<'a>),
    /// PUBACK. Acks without properties cost no allocation; a Reason String
    /// or User Properties are copied out of the buffer.
    PubAck(PubAck),
    /// PUBREC, as PUBACK.
    PubRec(PubRec),
    /// PUBREL, as PUBACK.
    PubRel(PubRel),
    /// PUBCOMP, as PUBACK.
    PubComp(PubComp),
    /// PINGRESP.
    PingResp(PingResp),
    /// Any other packet (CONNACK, SUBACK, UNSUBACK, DISCONNECT, AUTH, and
    /// the client-to-server ones), owned and boxed; its strings and binary
    /// data are copied out of the buffer.
    Other(Box<Packet>),
}

impl PacketRef<'_> {
    /// The owned [`Packet`], the borrowed PUBLISH copied, the others moved.
    pub fn into_packet(self) -> Packet {
        match self {
            PacketRef::Publish(p) => Packet::Publish(p.to_publish()),
            PacketRef::PubAck(a) => Packet::PubAck(a),
            PacketRef::PubRec(a) => Packet::PubRec(a),
            PacketRef::PubRel(a) => Packet::PubRel(a),
            PacketRef::PubComp(a) => Packet::PubComp(a),
            PacketRef::PingResp(p) => Packet::PingResp(p),
            PacketRef::Other(p) => *p,
        }
    }

    /// The owned [`Packet`], the borrowed PUBLISH copied.
    pub fn to_packet(&self) -> Packet {
        self.clone().into_packet()
    }
}

/// Decodes one packet from the front of `buf` without consuming it, a
/// PUBLISH as a view that borrows `buf`: `Ok(Some((packet, len)))` where
/// `len` is the packet's size, for the caller to advance its buffer by.
///
/// The checks and errors are those of [`decode`], for the same bytes;
/// `Ok(None)` while `buf` holds less than one whole packet. Decoding a
/// PUBLISH allocates nothing, whatever its properties.
///
/// ```
/// use bytes::{Buf, BytesMut};
/// use tern_mqtt::codec::{decode_ref, encode, PacketRef, ProtocolVersion};
/// # use tern_mqtt::codec::{Packet, Publish, QoS};
/// # use tern_mqtt::topic::TopicName;
/// # let publish = Packet::Publish(Publish { dup: false, qos: QoS::AtMostOnce, retain: false,
/// #     topic: Some(TopicName::new("sensors/1").unwrap()), packet_id: None,
/// #     properties: Default::default(), payload: "21.5".into() });
/// let mut buf = BytesMut::new();
/// encode(&publish, ProtocolVersion::V5, &mut buf).unwrap();
/// let Some((PacketRef::Publish(p), len)) = decode_ref(&buf, ProtocolVersion::V5, 1024).unwrap()
/// else { panic!("a PUBLISH") };
/// assert_eq!((p.topic, p.payload), (Some("sensors/1"), &b"21.5"[..]));
/// buf.advance(len);
/// assert!(buf.is_empty());
/// ```
#[inline]
pub fn decode_ref(
    buf: &[u8],
    version: ProtocolVersion,
    max_packet_size: u32,
) -> Result<Option<(PacketRef<'_>, usize)>, DecodeError> {
    let Some(header) = read_fixed_header(buf, version)? else {
        return Ok(None);
    };
    let size = header.packet_len();
    if size > usize::try_from(max_packet_size).unwrap_or(usize::MAX) {
        return Err(DecodeError::PacketTooLarge {
            size,
            max: max_packet_size,
        });
    }
    let Some(packet) = buf.get(..size) else {
        return Ok(None);
    };
    let body = packet.get(header.header_len..).unwrap_or_default();
    if header.packet_type == PacketType::Publish {
        let publish = publish::read_publish_ref(body, header.flags, version)?;
        return Ok(Some((PacketRef::Publish(publish), size)));
    }
    let frame = Frame {
        bytes: None,
        version,
    };
    // Acks and PINGRESP are read straight into the view; the others pass
    // through the owned decoder (as large as a `Packet`, and rare).
    let ack = |kind| whole(PublishAck::read(&frame, body, version, kind));
    let packet = match header.packet_type {
        PacketType::PubAck => PacketRef::PubAck(ack(AckKind::PubAck)?),
        PacketType::PubRec => PacketRef::PubRec(ack(AckKind::PubRec)?),
        PacketType::PubRel => PacketRef::PubRel(ack(AckKind::PubRel)?),
        PacketType::PubComp => PacketRef::PubComp(ack(AckKind::PubComp)?),
        PacketType::PingResp => PacketRef::PingResp(whole(Ok((body, PingResp)))?),
        _ => PacketRef::Other(Box::new(decode_body(&frame, body, header)?)),
    };
    Ok(Some((packet, size)))
}

fn decode_frame(
    bytes: Bytes,
    header: header::FixedHeader,
    version: ProtocolVersion,
) -> Result<Option<Packet>, DecodeError> {
    if header.packet_type == PacketType::Publish {
        return decode_publish(bytes, header, version);
    }
    let frame = Frame {
        bytes: Some(&bytes),
        version,
    };
    let body = bytes.get(header.header_len..).unwrap_or_default();
    decode_body(&frame, body, header).map(Some)
}

/// Decodes the body of any packet but PUBLISH; each arm builds its packet
/// in place.
fn decode_body(
    frame: &Frame<'_>,
    body: &[u8],
    header: header::FixedHeader,
) -> Result<Packet, DecodeError> {
    let version = frame.version;
    let ack = |kind| whole(PublishAck::read(frame, body, version, kind));
    Ok(match header.packet_type {
        PacketType::Publish => {
            let publish = publish::read_publish_ref(body, header.flags, version)?;
            Packet::Publish(publish.to_publish())
        }
        PacketType::Connect => {
            Packet::Connect(Box::new(whole(connect::read_connect(frame, body))?))
        }
        PacketType::ConnAck => {
            Packet::ConnAck(Box::new(whole(ConnAck::read(frame, body, version))?))
        }
        PacketType::PubAck => Packet::PubAck(ack(AckKind::PubAck)?),
        PacketType::PubRec => Packet::PubRec(ack(AckKind::PubRec)?),
        PacketType::PubRel => Packet::PubRel(ack(AckKind::PubRel)?),
        PacketType::PubComp => Packet::PubComp(ack(AckKind::PubComp)?),
        PacketType::Subscribe => Packet::Subscribe(whole(Subscribe::read(frame, body, version))?),
        PacketType::SubAck => Packet::SubAck(whole(SubAck::read(frame, body, version))?),
        PacketType::Unsubscribe => {
            Packet::Unsubscribe(whole(Unsubscribe::read(frame, body, version))?)
        }
        PacketType::UnsubAck => Packet::UnsubAck(whole(UnsubAck::read(frame, body, version))?),
        PacketType::PingReq => Packet::PingReq(whole(Ok((body, PingReq)))?),
        PacketType::PingResp => Packet::PingResp(whole(Ok((body, PingResp)))?),
        PacketType::Disconnect => {
            Packet::Disconnect(whole(Disconnect::read(frame, body, version))?)
        }
        PacketType::Auth => Packet::Auth(whole(Auth::read(frame, body))?),
    })
}

/// A parser's result, with what it left unread.
#[inline]
fn parsed<T>(r: primitives::PResult<'_, T>) -> Result<(&[u8], T), DecodeError> {
    match r {
        Ok(v) => Ok(v),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e),
        // Not reached: every parser here is one of nom's `complete` ones,
        // which report running out of input as an error, never as
        // `Incomplete`. Should one ever slip in, running out of input inside
        // a whole packet is still a field past its end: malformed (1.5).
        Err(nom::Err::Incomplete(_)) => Err(DecodeError::malformed(
            "MQTT-1.5",
            "a field runs past the end of the packet",
        )),
    }
}

/// A parser's result, which must have used the whole packet.
#[inline]
fn whole<T>(r: primitives::PResult<'_, T>) -> Result<T, DecodeError> {
    match parsed(r)? {
        ([], t) => Ok(t),
        // Every field sits inside the Remaining Length; bytes left over
        // after the last field mean the packet is malformed (1.5, 2.1.4).
        _ => Err(DecodeError::malformed(
            "MQTT-2.1.4",
            "bytes left over after the last field of the packet",
        )),
    }
}

/// Encodes `packet` for `version` and appends it to `out`.
///
/// Fails, leaving `out` as it was, on anything that cannot go on the wire: a
/// string over 65,535 bytes, a remaining length over 268,435,455, a packet or
/// field that does not exist in 3.1.1, a value out of range.
///
/// A [`Connect`] is encoded at its own `protocol_version`, as [`decode`]
/// reads it.
#[inline]
pub fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    match packet {
        // The hot path, counted before it is written (see `encode_into`).
        Packet::Publish(p) => p.encode_into(version, out),
        // The acknowledgements, as frequent as PUBLISH on a busy
        // connection: written without dispatching on `Packet` twice.
        Packet::PubAck(a) => encode_ack(a, AckKind::PubAck, PacketType::PubAck, version, out),
        Packet::PubRec(a) => encode_ack(a, AckKind::PubRec, PacketType::PubRec, version, out),
        Packet::PubRel(a) => encode_ack(a, AckKind::PubRel, PacketType::PubRel, version, out),
        Packet::PubComp(a) => encode_ack(a, AckKind::PubComp, PacketType::PubComp, version, out),
        _ => encode_body(packet, version, out),
    }
}

/// Encodes a PUBACK, PUBREC, PUBREL or PUBCOMP (`kind`, of packet type
/// `packet_type`), counted first as in [`encode_body`].
#[inline(always)]
fn encode_ack(
    ack: &PublishAck,
    kind: AckKind,
    packet_type: PacketType,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let mut c = Counter::default();
    ack.write(&mut c, version, kind)?;
    write_frame(out, packet_type.first_byte(0), c.0, &[], |s| {
        ack.write(s, version, kind)
    })
}

/// Encodes a PUBLISH without wrapping it in a [`Packet`], for senders that
/// keep their publishes by reference.
#[inline]
pub fn encode_publish(
    publish: &Publish,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    publish.encode_into(version, out)
}

/// Total packet size for a remaining length.
fn frame_len(remaining: usize) -> usize {
    1 + vbi_len(remaining) + remaining
}

/// Writes the packet counted first: the body is counted by
/// [`Packet::write_body`] against a [`Counter`], then written by it into
/// exactly the room counted. On an error nothing is left in `out`.
fn encode_body(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let mut c = Counter::default();
    packet.write_body(&mut c, version)?;
    let publish_flags = match packet {
        Packet::Publish(p) => p.flags(),
        _ => 0,
    };
    let first_byte = packet.packet_type().first_byte(publish_flags);
    write_frame(out, first_byte, c.0, &[], |s| packet.write_body(s, version))
}
