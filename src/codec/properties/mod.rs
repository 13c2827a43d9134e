//! MQTT 5.0 properties (section 2.2.2): the wire form, which packet allows
//! which property, duplicates, and one typed struct per packet family.
//!
//! Decoding reads a Property Length, bounds the reader to it, and hands each
//! property to the packet's struct. A bitmask per packet says which property
//! identifiers it allows and another which ones may repeat, so a property in
//! the wrong packet and a duplicate are both caught in one place.

use super::error::{DecodeError, EncodeError};
use super::primitives::{binary_slice, fail, put_binary, put_str, put_vbi, string_error};
use super::primitives::{u16_, u32_, u8_, vbi, Counter, Frame, PResult, Sink, WireStr};
use super::string::{scan_str, validate_mqtt_str, MqttString, StringError};
use super::{ProtocolVersion, QoS};
use crate::topic::TopicName;
use bytes::Bytes;
use nom::Parser;
use std::num::{NonZeroU16, NonZeroU32};

/// A User Property: a UTF-8 string pair. Order and repeats are kept.
pub type UserProperty = (MqttString, MqttString);

/// A User Property from two `&str`s, refused (never altered) when either
/// is not a valid MQTT string: a NUL character, or over 65,535 bytes.
///
/// ```
/// use tern_mqtt::codec::{user_property, StringError};
///
/// let (k, v) = user_property("unit", "celsius").unwrap();
/// assert_eq!((&*k, &*v), ("unit", "celsius"));
/// assert_eq!(user_property("a\0b", "v"), Err(StringError::NullCharacter));
/// ```
pub fn user_property(key: &str, value: &str) -> Result<UserProperty, StringError> {
    Ok((MqttString::try_from(key)?, MqttString::try_from(value)?))
}

/// Property identifiers of MQTT 5.0 Table 2-4.
pub mod id {
    /// Payload Format Indicator.
    pub const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    /// Message Expiry Interval.
    pub const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    /// Content Type (0x03): a UTF-8 string describing the payload, such as a
    /// MIME type; its meaning is left to the applications. Allowed in PUBLISH
    /// and the Will Properties, at most once; the server forwards it unaltered.
    pub const CONTENT_TYPE: u8 = 0x03;
    /// Response Topic (0x08): the topic name a responder should publish its
    /// answer to. Allowed in PUBLISH and the Will Properties, at most once; as a
    /// topic name it holds no wildcards [MQTT-3.3.2-14].
    pub const RESPONSE_TOPIC: u8 = 0x08;
    /// Correlation Data (0x09): binary data a requester uses to match a
    /// response to its request. Allowed in PUBLISH and the Will Properties, at
    /// most once; only the requester gives it meaning.
    pub const CORRELATION_DATA: u8 = 0x09;
    /// Subscription Identifier (0x0B): a Variable Byte Integer from 1 to
    /// 268,435,455; 0 is a Protocol Error. Once in SUBSCRIBE; repeated in a
    /// server's PUBLISH, one per matching subscription. A client's PUBLISH must
    /// not carry it [MQTT-3.3.4-6].
    pub const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    /// Session Expiry Interval.
    pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    /// Assigned Client Identifier.
    pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    /// Server Keep Alive.
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    /// Authentication Method (0x15): the UTF-8 name of the enhanced
    /// authentication method (section 4.12), such as `SCRAM-SHA-256`. Allowed in
    /// CONNECT, CONNACK and AUTH, at most once; every AUTH but the short Success
    /// form must carry it (3.15.2.2.2).
    pub const AUTHENTICATION_METHOD: u8 = 0x15;
    /// Authentication Data (0x16): binary data whose contents the
    /// Authentication Method defines. Allowed in CONNECT, CONNACK and AUTH, at
    /// most once.
    pub const AUTHENTICATION_DATA: u8 = 0x16;
    /// Request Problem Information.
    pub const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    /// Will Delay Interval.
    pub const WILL_DELAY_INTERVAL: u8 = 0x18;
    /// Request Response Information.
    pub const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    /// Response Information (0x1A): a UTF-8 string the server may return in
    /// CONNACK as the basis of response topics; it must not when the CONNECT
    /// did not ask with Request Response Information (0x19) [MQTT-3.1.2-28].
    pub const RESPONSE_INFORMATION: u8 = 0x1A;
    /// Server Reference (0x1C): a UTF-8 string naming another server to use,
    /// in CONNACK or DISCONNECT, usually with reason 0x9C (Use another server)
    /// or 0x9D (Server moved). At most once.
    pub const SERVER_REFERENCE: u8 = 0x1C;
    /// Reason String (0x1F): human-readable diagnostics, not meant to be
    /// parsed. Allowed once in CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK,
    /// UNSUBACK, DISCONNECT and AUTH; a sender must leave it out when it would
    /// push the packet past the receiver's Maximum Packet Size.
    pub const REASON_STRING: u8 = 0x1F;
    /// Receive Maximum (0x21): a Two Byte Integer from 1 to 65,535, the
    /// number of QoS 1 and 2 publishes the sender accepts unacknowledged; 0 is a
    /// Protocol Error and absence means 65,535. Allowed in CONNECT and CONNACK.
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    /// Topic Alias Maximum.
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    /// Topic Alias (0x23): a Two Byte Integer standing for a topic name on one
    /// connection, from 1 to the receiver's Topic Alias Maximum (0x22); 0 is a
    /// Protocol Error [MQTT-3.3.2-8]. Allowed in PUBLISH only.
    pub const TOPIC_ALIAS: u8 = 0x23;
    /// Maximum QoS (0x24): a Byte, 0 or 1, the highest QoS the server accepts
    /// in PUBLISH; absence means 2. Allowed in CONNACK only; a client must not
    /// publish above it [MQTT-3.2.2-11].
    pub const MAXIMUM_QOS: u8 = 0x24;
    /// Retain Available (0x25): a Byte, 0 or 1, saying whether the server
    /// keeps retained messages; absence means 1. Allowed in CONNACK only; after
    /// a 0 a client must not set RETAIN [MQTT-3.2.2-14].
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    /// User Property (0x26): a UTF-8 string pair of application metadata.
    /// Allowed in every packet that has properties and in the Will Properties;
    /// it may repeat, a name may appear more than once, and a server forwarding
    /// a PUBLISH keeps them unaltered and in order [MQTT-3.3.2-17],
    /// [MQTT-3.3.2-18].
    pub const USER_PROPERTY: u8 = 0x26;
    /// Maximum Packet Size.
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    /// Wildcard Subscription Available.
    pub const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    /// Subscription Identifier Available.
    pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    /// Shared Subscription Available.
    pub const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;
}

// Runs at compile time only, over the constant lists below.
#[allow(clippy::indexing_slicing)]
const fn bits(ids: &[u8]) -> u64 {
    let mut mask = 0u64;
    let mut k = 0;
    while k < ids.len() {
        mask |= 1u64 << ids[k];
        k += 1;
    }
    mask
}

/// One decoded property, before it is placed into its packet's struct.
#[derive(Debug)]
pub(crate) enum Property {
    Byte(u8, u8),
    Two(u8, u16),
    Four(u8, u32),
    Vbi(u8, u32),
    Str(u8, MqttString),
    Bin(u8, Bytes),
    User(MqttString, MqttString),
}

/// One decoded property, borrowed from the packet: strings are checked
/// against the MQTT rules (their bytes kept, so that a string nobody reads
/// costs one scan and no UTF-8 pass), nothing is copied or counted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PropertyRef<'a> {
    Byte(u8, u8),
    Two(u8, u16),
    Four(u8, u32),
    Vbi(u8, u32),
    Str(u8, &'a [u8]),
    Bin(u8, &'a [u8]),
    User(&'a [u8], &'a [u8]),
}

/// A string [`str_ref`] checked, as a `&str`. `from_utf8` cannot fail on
/// it, and gives the `&str` without `unsafe`.
fn checked_str(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

impl PropertyRef<'_> {
    /// The owned property, its strings and binary data shared from (or
    /// copied out of) `frame`.
    fn to_owned(self, frame: &Frame<'_>) -> Property {
        let string = |v: &[u8]| MqttString::from_checked(frame.share(v));
        match self {
            PropertyRef::Byte(id, v) => Property::Byte(id, v),
            PropertyRef::Two(id, v) => Property::Two(id, v),
            PropertyRef::Four(id, v) => Property::Four(id, v),
            PropertyRef::Vbi(id, v) => Property::Vbi(id, v),
            PropertyRef::Str(id, v) => Property::Str(id, string(v)),
            PropertyRef::Bin(id, v) => Property::Bin(id, frame.share(v)),
            PropertyRef::User(k, v) => Property::User(string(k), string(v)),
        }
    }
}

/// Reads a Property Length and the properties it covers, handing each to `apply`.
pub(crate) fn read_properties<'a>(
    frame: &Frame<'_>,
    i: &'a [u8],
    allowed: u64,
    repeatable: u64,
    mut apply: impl FnMut(Property) -> Result<(), DecodeError>,
) -> PResult<'a, ()> {
    let v = frame.version;
    walk_properties(i, v, allowed, repeatable, |p| apply(p.to_owned(frame)))
}

/// Reads a Property Length and the properties it covers, borrowed, handing
/// each to `apply`; what it leaves unread follows the properties.
pub(crate) fn walk_properties<'a>(
    i: &'a [u8],
    v: ProtocolVersion,
    allowed: u64,
    repeatable: u64,
    mut apply: impl FnMut(PropertyRef<'a>) -> Result<(), DecodeError>,
) -> PResult<'a, ()> {
    let (rest, mut p) = property_block(i)?;
    let mut seen = 0u64;
    while !p.is_empty() {
        let (after_id, raw_id) = vbi(p)?;
        let id = u8::try_from(raw_id).ok().filter(|id| *id < 64);
        let Some(id) = id.filter(|id| allowed & (1u64 << id) != 0) else {
            // A Control Packet which contains an Identifier which is not
            // valid for its packet type ... is a Malformed Packet (2.2.2.2).
            return fail(DecodeError::malformed(
                "MQTT-2.2.2.2",
                "property not allowed in this packet",
            ));
        };
        let bit = 1u64 << id;
        if seen & bit != 0 && repeatable & bit == 0 {
            // It is a Protocol Error to include [this property] more than once.
            return fail(DecodeError::protocol(
                "MQTT-2.2.2.2",
                "property appears more than once",
            ));
        }
        seen |= bit;
        let (after, prop) = read_value::<true>(after_id, id, v)?;
        if let Err(e) = apply(prop) {
            return fail(e);
        }
        p = after;
    }
    Ok((rest, ()))
}

/// Splits a Property Length and the bytes it covers off the front of `i`:
/// `(rest, properties)`.
pub(crate) fn property_block(i: &[u8]) -> PResult<'_, &[u8]> {
    let (i, len) = vbi(i)?;
    let Ok((rest, p)) = nom::bytes::complete::take::<u32, &[u8], DecodeError>(len).parse(i) else {
        // The property length must fit inside the packet (2.2.2.1).
        return fail(DecodeError::malformed(
            "MQTT-2.2.2.1",
            "property length runs past the end of the packet",
        ));
    };
    Ok((rest, p))
}

/// The properties of a block that [`walk_properties`] has already checked,
/// one by one; for the borrowed views' repeatable properties.
pub(crate) fn checked_properties(block: &[u8]) -> impl Iterator<Item = PropertyRef<'_>> {
    let mut p = block;
    std::iter::from_fn(move || {
        let (after_id, raw_id) = vbi(p).ok()?;
        let pid = u8::try_from(raw_id).ok()?;
        let (after, prop) = read_value::<false>(after_id, pid, ProtocolVersion::V5).ok()?;
        p = after;
        Some(prop)
    })
}

/// A UTF-8 Encoded String, borrowed; checked (one scan when it is ASCII)
/// when `CHECK` is set, which only a walk over an already checked block
/// leaves out.
#[inline(always)]
fn str_ref<const CHECK: bool>(i: &[u8], v: ProtocolVersion) -> PResult<'_, &[u8]> {
    let (rest, b) = binary_slice(i)?;
    if !CHECK {
        return Ok((rest, b));
    }
    match validate_mqtt_str(b) {
        Ok(()) => Ok((rest, b)),
        Err(e) => fail(string_error(e, v)),
    }
}

#[inline(always)]
fn read_value<const CHECK: bool>(
    i: &[u8],
    pid: u8,
    v: ProtocolVersion,
) -> PResult<'_, PropertyRef<'_>> {
    use id::*;
    Ok(match pid {
        PAYLOAD_FORMAT_INDICATOR
        | REQUEST_PROBLEM_INFORMATION
        | REQUEST_RESPONSE_INFORMATION
        | MAXIMUM_QOS
        | RETAIN_AVAILABLE
        | WILDCARD_SUBSCRIPTION_AVAILABLE
        | SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | SHARED_SUBSCRIPTION_AVAILABLE => {
            let (i, b) = u8_(i)?;
            if b > 1 {
                // Each of these Byte properties takes only 0 or 1; any other
                // value is a Protocol Error (3.1.2.11, 3.2.2.3, 3.3.2.3.2).
                return fail(DecodeError::protocol(
                    "MQTT-2.2.2.2",
                    "a boolean property is neither 0 nor 1",
                ));
            }
            (i, PropertyRef::Byte(pid, b))
        }
        SERVER_KEEP_ALIVE | RECEIVE_MAXIMUM | TOPIC_ALIAS_MAXIMUM | TOPIC_ALIAS => {
            let (i, n) = u16_(i)?;
            (i, PropertyRef::Two(pid, n))
        }
        MESSAGE_EXPIRY_INTERVAL
        | SESSION_EXPIRY_INTERVAL
        | WILL_DELAY_INTERVAL
        | MAXIMUM_PACKET_SIZE => {
            let (i, n) = u32_(i)?;
            (i, PropertyRef::Four(pid, n))
        }
        SUBSCRIPTION_IDENTIFIER => {
            let (i, n) = vbi(i)?;
            (i, PropertyRef::Vbi(pid, n))
        }
        CORRELATION_DATA | AUTHENTICATION_DATA => {
            let (i, b) = binary_slice(i)?;
            (i, PropertyRef::Bin(pid, b))
        }
        USER_PROPERTY => {
            let (i, k) = str_ref::<CHECK>(i, v)?;
            let (i, val) = str_ref::<CHECK>(i, v)?;
            (i, PropertyRef::User(k, val))
        }
        // Every other allowed identifier is a UTF-8 string.
        _ => {
            let (i, s) = str_ref::<CHECK>(i, v)?;
            (i, PropertyRef::Str(pid, s))
        }
    })
}

/// Writes a Property Length and then the properties, counted first by the
/// writer that then writes them.
#[inline]
pub(crate) fn put_properties<S: Sink, P: WriteProperties>(
    s: &mut S,
    props: &P,
) -> Result<(), EncodeError> {
    let len = counted(props)?;
    put_vbi(s, len)?;
    s.put_counted(len, props)
}

/// The size of `props` on the wire, without their Property Length.
#[inline]
pub(crate) fn counted<P: WriteProperties>(props: &P) -> Result<usize, EncodeError> {
    let mut c = Counter::default();
    props.write(&mut c)?;
    Ok(c.0)
}

/// A packet's property set, written to a [`Sink`].
pub(crate) trait WriteProperties {
    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError>;
}

#[inline]
fn w_u8<S: Sink>(s: &mut S, pid: u8, v: Option<u8>) {
    if let Some(v) = v {
        s.put_u8(pid);
        s.put_u8(v);
    }
}
#[inline]
fn w_bool<S: Sink>(s: &mut S, pid: u8, v: Option<bool>) {
    w_u8(s, pid, v.map(u8::from))
}
#[inline]
fn w_u16<S: Sink>(s: &mut S, pid: u8, v: Option<u16>) {
    if let Some(v) = v {
        s.put_u8(pid);
        s.put_u16(v);
    }
}
#[inline]
fn w_u32<S: Sink>(s: &mut S, pid: u8, v: Option<u32>) {
    if let Some(v) = v {
        s.put_u8(pid);
        s.put_u32(v);
    }
}
#[inline]
fn w_vbi<S: Sink>(s: &mut S, pid: u8, v: u32) -> Result<(), EncodeError> {
    s.put_u8(pid);
    put_vbi(s, v as usize)
}
#[inline]
fn w_str<S: Sink, T: WireStr + ?Sized>(
    s: &mut S,
    pid: u8,
    field: &'static str,
    v: Option<&T>,
) -> Result<(), EncodeError> {
    if let Some(v) = v {
        s.put_u8(pid);
        put_str(s, field, v)?;
    }
    Ok(())
}
#[inline]
fn w_bin<S: Sink>(
    s: &mut S,
    pid: u8,
    field: &'static str,
    v: Option<&Bytes>,
) -> Result<(), EncodeError> {
    if let Some(v) = v {
        s.put_u8(pid);
        put_binary(s, field, v)?;
    }
    Ok(())
}
#[inline(always)]
fn w_user<S: Sink>(s: &mut S, user: &[UserProperty]) -> Result<(), EncodeError> {
    for (k, v) in user {
        s.put_u8(id::USER_PROPERTY);
        put_str(s, "user property name", k)?;
        put_str(s, "user property value", v)?;
    }
    Ok(())
}

fn unexpected() -> DecodeError {
    DecodeError::malformed("MQTT-2.2.2.2", "property not allowed in this packet")
}

fn non_zero_u16(v: u16, spec: &'static str, what: &'static str) -> Result<NonZeroU16, DecodeError> {
    NonZeroU16::new(v).ok_or(DecodeError::protocol(spec, what))
}

fn non_zero_u32(v: u32, spec: &'static str, what: &'static str) -> Result<NonZeroU32, DecodeError> {
    NonZeroU32::new(v).ok_or(DecodeError::protocol(spec, what))
}

/// A Response Topic, checked as a topic name [MQTT-3.3.2-14].
fn response_topic(v: &[u8]) -> Result<&[u8], DecodeError> {
    // It is a Protocol Error to include wildcards in a Response Topic [MQTT-3.3.2-14].
    if v.is_empty() || scan_str(v).wildcard {
        return Err(DecodeError::protocol(
            "MQTT-3.3.2-14",
            "response topic is not a valid topic name",
        ));
    }
    Ok(v)
}

fn topic(v: MqttString) -> Result<TopicName, DecodeError> {
    // It is a Protocol Error to include wildcards in a Response Topic [MQTT-3.3.2-14].
    TopicName::from_mqtt_string(v).map_err(|_| {
        DecodeError::protocol("MQTT-3.3.2-14", "response topic is not a valid topic name")
    })
}

/// A Subscription Identifier, which `section` (3.8.2.1.2 for SUBSCRIBE,
/// 3.3.2.3.8 for PUBLISH) forbids to be 0.
fn subscription_id(v: u32, section: &'static str) -> Result<NonZeroU32, DecodeError> {
    // The Subscription Identifier can have the value of 1 to 268,435,455. It
    // is a Protocol Error if the Subscription Identifier has a value of 0
    // (3.8.2.1.2 and 3.3.2.3.8; no statement IDs).
    non_zero_u32(v, section, "subscription identifier 0")
}

/// How each kind of property field is read from a decoded [`Property`]
/// and written: one module per kind, named in the table below.
mod boxed;
mod kind;
mod publish_ref;

pub use boxed::BoxedPublishProperties;
pub use publish_ref::PublishPropertiesRef;

impl Property {
    /// The property's identifier.
    fn id(&self) -> u8 {
        match self {
            Property::Byte(id, _)
            | Property::Two(id, _)
            | Property::Four(id, _)
            | Property::Vbi(id, _)
            | Property::Str(id, _)
            | Property::Bin(id, _) => *id,
            Property::User(..) => id::USER_PROPERTY,
        }
    }
}

/// Each packet family's property struct from one table: a field's line
/// names its type, its identifier, its name in errors and its kind (a
/// module of `kind`, with the kind's arguments), and from that come the
/// struct, the identifiers it allows and which may repeat, the reader, the
/// writer (fields in table order) and `is_empty`.
macro_rules! properties {
    ($(
        $(#[$sdoc:meta])*
        $name:ident {
            $(
                $(#[$fdoc:meta])*
                $field:ident: $ty:ty = $pid:ident, $what:literal, $kind:ident $(($($arg:expr),*))?;
            )*
        }
    )*) => {$(
        $(#[$sdoc])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: $ty,)*
        }

        impl $name {
            /// The identifiers this packet allows.
            pub(crate) const ALLOWED: u64 = bits(&[$(id::$pid),*]);
            /// The identifiers that may appear more than once.
            const REPEATABLE: u64 = 0 $(| if kind::$kind::REPEATS { 1u64 << id::$pid } else { 0 })*;

            pub(crate) fn read<'a>(frame: &Frame<'_>, i: &'a [u8]) -> PResult<'a, Self> {
                let mut p = Self::default();
                let (i, ()) =
                    read_properties(frame, i, Self::ALLOWED, Self::REPEATABLE, |prop| {
                        p.apply(prop)
                    })?;
                Ok((i, p))
            }

            /// Places one decoded property into its field, checking its value.
            fn apply(&mut self, prop: Property) -> Result<(), DecodeError> {
                match prop.id() {
                    $(id::$pid => kind::$kind::set(&mut self.$field, prop $(, $($arg),*)?),)*
                    _ => Err(unexpected()),
                }
            }

            /// True when no property is set: nothing to write.
            pub fn is_empty(&self) -> bool {
                true $(&& Blank::is_blank(&self.$field))*
            }
        }

        impl WriteProperties for $name {
            #[inline]
            fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
                $(kind::$kind::put(s, id::$pid, $what, &self.$field)?;)*
                Ok(())
            }
        }
    )*};
}

properties! {
    /// Properties of CONNECT (3.1.2.11).
    ConnectProperties {
        /// Session Expiry Interval in seconds; absent means 0.
        session_expiry_interval: Option<u32> = SESSION_EXPIRY_INTERVAL, "session expiry interval", four;
        /// How many QoS 1/2 publishes we accept unacknowledged; absent means 65,535.
        receive_maximum: Option<NonZeroU16> = RECEIVE_MAXIMUM, "receive maximum", two_non_zero("MQTT-3.1.2.11.3", "receive maximum 0");
        /// The largest packet we accept; absent means no limit beyond the protocol's.
        maximum_packet_size: Option<NonZeroU32> = MAXIMUM_PACKET_SIZE, "maximum packet size", four_non_zero("MQTT-3.1.2.11.4", "maximum packet size 0");
        /// The highest topic alias we accept from the server; absent means 0.
        topic_alias_maximum: Option<u16> = TOPIC_ALIAS_MAXIMUM, "topic alias maximum", two;
        /// Ask the server for Response Information in the CONNACK.
        request_response_information: Option<bool> = REQUEST_RESPONSE_INFORMATION, "request response information", flag;
        /// Whether the server may send Reason Strings and User Properties on failures.
        request_problem_information: Option<bool> = REQUEST_PROBLEM_INFORMATION, "request problem information", flag;
        /// Authentication Method for enhanced authentication.
        authentication_method: Option<MqttString> = AUTHENTICATION_METHOD, "authentication method", string;
        /// Authentication Data for enhanced authentication.
        authentication_data: Option<Bytes> = AUTHENTICATION_DATA, "authentication data", binary;
        /// User Properties (0x26) of the CONNECT: name/value pairs for the
        /// server, in order, a name possibly repeated; empty sends none.
        user_properties: Vec<UserProperty> = USER_PROPERTY, "user properties", user;
    }
    /// Will Properties (3.1.3.2).
    WillProperties {
        /// Seconds the server waits before publishing the will.
        will_delay_interval: Option<u32> = WILL_DELAY_INTERVAL, "will delay interval", four;
        /// True when the payload is UTF-8 text.
        payload_format_indicator: Option<bool> = PAYLOAD_FORMAT_INDICATOR, "payload format indicator", flag;
        /// Lifetime of the will message in seconds.
        message_expiry_interval: Option<u32> = MESSAGE_EXPIRY_INTERVAL, "message expiry interval", four;
        /// MIME type of the payload.
        content_type: Option<MqttString> = CONTENT_TYPE, "content type", string;
        /// Topic for a response.
        response_topic: Option<TopicName> = RESPONSE_TOPIC, "response topic", topic;
        /// Correlation Data for a response.
        correlation_data: Option<Bytes> = CORRELATION_DATA, "correlation data", binary;
        /// User Properties (0x26) of the will, in order; the server forwards them
        /// with the will message. Empty sends none.
        user_properties: Vec<UserProperty> = USER_PROPERTY, "user properties", user;
    }
    /// Properties of CONNACK (3.2.2.3).
    ConnAckProperties {
        /// The session expiry the server will use, overriding ours.
        session_expiry_interval: Option<u32> = SESSION_EXPIRY_INTERVAL, "session expiry interval", four;
        /// How many QoS 1/2 publishes the server accepts unacknowledged; absent means 65,535.
        receive_maximum: Option<NonZeroU16> = RECEIVE_MAXIMUM, "receive maximum", two_non_zero("MQTT-3.2.2.3.3", "receive maximum 0");
        /// Highest QoS the server supports; absent means 2.
        maximum_qos: Option<QoS> = MAXIMUM_QOS, "maximum qos", maximum_qos;
        /// Whether the server supports retained messages; absent means yes.
        retain_available: Option<bool> = RETAIN_AVAILABLE, "retain available", flag;
        /// Largest packet the server accepts.
        maximum_packet_size: Option<NonZeroU32> = MAXIMUM_PACKET_SIZE, "maximum packet size", four_non_zero("MQTT-3.2.2.3.6", "maximum packet size 0");
        /// The client identifier the server assigned to us.
        assigned_client_identifier: Option<MqttString> = ASSIGNED_CLIENT_IDENTIFIER, "assigned client identifier", string;
        /// Highest topic alias the server accepts from us; absent means 0.
        topic_alias_maximum: Option<u16> = TOPIC_ALIAS_MAXIMUM, "topic alias maximum", two;
        /// Reason String (0x1F): the server's human-readable diagnostics for this
        /// CONNACK, typically explaining a refusal; `None` when it sent none.
        reason_string: Option<MqttString> = REASON_STRING, "reason string", string;
        /// User Properties (0x26) the server sent with the CONNACK, in order;
        /// empty when it sent none.
        user_properties: Vec<UserProperty> = USER_PROPERTY, "user properties", user;
        /// Whether wildcard subscriptions are supported; absent means yes.
        wildcard_subscription_available: Option<bool> = WILDCARD_SUBSCRIPTION_AVAILABLE, "wildcard subscription available", flag;
        /// Whether subscription identifiers are supported; absent means yes.
        subscription_identifiers_available: Option<bool> = SUBSCRIPTION_IDENTIFIER_AVAILABLE, "subscription identifiers available", flag;
        /// Whether shared subscriptions are supported; absent means yes.
        shared_subscription_available: Option<bool> = SHARED_SUBSCRIPTION_AVAILABLE, "shared subscription available", flag;
        /// Keep alive the server wants us to use, replacing ours.
        server_keep_alive: Option<u16> = SERVER_KEEP_ALIVE, "server keep alive", two;
        /// Basis for a response topic.
        response_information: Option<MqttString> = RESPONSE_INFORMATION, "response information", string;
        /// Another server to use.
        server_reference: Option<MqttString> = SERVER_REFERENCE, "server reference", string;
        /// Authentication Method (0x15): on a successful CONNACK, the method of
        /// the CONNECT, and absent when the CONNECT had none; the engine fails the
        /// connection on any other value [MQTT-4.12.0-5], [MQTT-4.12.0-6].
        authentication_method: Option<MqttString> = AUTHENTICATION_METHOD, "authentication method", string;
        /// Authentication Data (0x16): the server's last data of an enhanced
        /// authentication, in the method's own format; `None` when it sent none.
        authentication_data: Option<Bytes> = AUTHENTICATION_DATA, "authentication data", binary;
    }
    /// Properties of PUBLISH (3.3.2.3).
    PublishProperties {
        /// True when the payload is UTF-8 text.
        payload_format_indicator: Option<bool> = PAYLOAD_FORMAT_INDICATOR, "payload format indicator", flag;
        /// Lifetime of the message in seconds.
        message_expiry_interval: Option<u32> = MESSAGE_EXPIRY_INTERVAL, "message expiry interval", four;
        /// Topic Alias standing for the topic name.
        topic_alias: Option<NonZeroU16> = TOPIC_ALIAS, "topic alias", topic_alias;
        /// Topic for a response.
        response_topic: Option<TopicName> = RESPONSE_TOPIC, "response topic", topic;
        /// Correlation Data for a response.
        correlation_data: Option<Bytes> = CORRELATION_DATA, "correlation data", binary;
        /// User Properties (0x26) of the message, in order, a name possibly
        /// repeated; the server forwards them unaltered and in order
        /// [MQTT-3.3.2-17], [MQTT-3.3.2-18]. Empty sends none.
        user_properties: Vec<UserProperty> = USER_PROPERTY, "user properties", user;
        /// Identifiers of the subscriptions that matched (server to client only).
        subscription_identifiers: Vec<NonZeroU32> = SUBSCRIPTION_IDENTIFIER, "subscription identifiers", subscription_ids("MQTT-3.3.2.3.8");
        /// MIME type of the payload.
        content_type: Option<MqttString> = CONTENT_TYPE, "content type", string;
    }
    /// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK:
    /// a Reason String and User Properties.
    AckProperties {
        /// Reason String (0x1F): human-readable diagnostics, for example why a
        /// PUBACK refused a message; `None` when absent. The spec forbids sending it
        /// when it would push the packet past the receiver's Maximum Packet Size
        /// ([MQTT-3.4.2-2] and its PUBREC to UNSUBACK counterparts).
        reason_string: Option<MqttString> = REASON_STRING, "reason string", string;
        /// User Properties (0x26), in order; empty when the packet carries none.
        /// Like the Reason String, they must be left out rather than exceed the
        /// receiver's Maximum Packet Size ([MQTT-3.4.2-3] and its counterparts).
        user_properties: Vec<UserProperty> = USER_PROPERTY, "user properties", user;
    }
    /// Properties of SUBSCRIBE (3.8.2.1).
    SubscribeProperties {
        /// Identifier the server attaches to messages matching this subscription.
        subscription_identifier: Option<NonZeroU32> = SUBSCRIPTION_IDENTIFIER, "subscription identifier", subscription_id("MQTT-3.8.2.1.2");
        /// User Properties (0x26) of the SUBSCRIBE, in order; empty sends none.
        /// MQTT 5.0 only: a 3.1.1 session refuses a SUBSCRIBE with properties.
        user_properties: Vec<UserProperty> = USER_PROPERTY, "user properties", user;
    }
    /// Properties of UNSUBSCRIBE (3.10.2.1): User Properties only.
    UnsubscribeProperties {
        /// User Properties (0x26) of the UNSUBSCRIBE, in order; empty sends none.
        /// MQTT 5.0 only: a 3.1.1 session refuses them with
        /// [`CommandError::NeedsV5`](crate::session::CommandError::NeedsV5).
        user_properties: Vec<UserProperty> = USER_PROPERTY, "user properties", user;
    }
    /// Properties of DISCONNECT (3.14.2.2).
    DisconnectProperties {
        /// New Session Expiry Interval (client to server only).
        session_expiry_interval: Option<u32> = SESSION_EXPIRY_INTERVAL, "session expiry interval", four;
        /// Reason String (0x1F): human-readable diagnostics for the disconnect;
        /// `None` when absent. The engine drops it, with the User Properties, from a
        /// DISCONNECT it sends when keeping them would exceed the server's Maximum
        /// Packet Size [MQTT-3.14.2-3].
        reason_string: Option<MqttString> = REASON_STRING, "reason string", string;
        /// User Properties (0x26), in order; empty when none. Dropped with the
        /// Reason String from an outgoing DISCONNECT that would otherwise exceed the
        /// server's Maximum Packet Size [MQTT-3.14.2-4].
        user_properties: Vec<UserProperty> = USER_PROPERTY, "user properties", user;
        /// Another server to use.
        server_reference: Option<MqttString> = SERVER_REFERENCE, "server reference", string;
    }
    /// Properties of AUTH (3.15.2.2).
    AuthProperties {
        /// Authentication Method (0x15): required in every AUTH but the short
        /// Success form (3.15.2.2.2), so decoding and encoding refuse an AUTH
        /// without it; it must equal the CONNECT's, or the engine fails the
        /// connection [MQTT-4.12.0-5].
        authentication_method: Option<MqttString> = AUTHENTICATION_METHOD, "authentication method", string;
        /// Authentication Data (0x16): the challenge or answer of this step, in
        /// the method's own format; `None` when the step carries none. The engine
        /// hands the server's to
        /// [`Authenticator::respond`](crate::session::Authenticator::respond).
        authentication_data: Option<Bytes> = AUTHENTICATION_DATA, "authentication data", binary;
        /// Reason String (0x1F): human-readable diagnostics for this step; `None`
        /// when absent.
        reason_string: Option<MqttString> = REASON_STRING, "reason string", string;
        /// User Properties (0x26) of this AUTH, in order; empty when none.
        user_properties: Vec<UserProperty> = USER_PROPERTY, "user properties", user;
    }
}

impl SubscribeProperties {
    /// Adds a User Property from two `&str`s; refused when either is not a
    /// valid MQTT string (a NUL character, or over 65,535 bytes).
    ///
    /// ```
    /// use tern_mqtt::codec::SubscribeProperties;
    ///
    /// let props = SubscribeProperties::default().user_property("team", "edge").unwrap();
    /// assert_eq!(props.user_properties.len(), 1);
    /// ```
    pub fn user_property(mut self, key: &str, value: &str) -> Result<Self, StringError> {
        self.user_properties.push(user_property(key, value)?);
        Ok(self)
    }
}

/// Whether a property field is unset: `None` or an empty list.
trait Blank {
    fn is_blank(&self) -> bool;
}

impl<T> Blank for Option<T> {
    fn is_blank(&self) -> bool {
        self.is_none()
    }
}

impl<T> Blank for Vec<T> {
    fn is_blank(&self) -> bool {
        self.is_empty()
    }
}
