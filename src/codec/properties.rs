//! MQTT 5.0 properties (section 2.2.2): the wire form, which packet allows
//! which property, duplicates, and one typed struct per packet family.
//!
//! Decoding reads a Property Length, bounds the reader to it, and hands each
//! property to the packet's struct. A bitmask per packet says which property
//! identifiers it allows and another which ones may repeat, so a property in
//! the wrong packet and a duplicate are both caught in one place.

use super::error::{DecodeError, EncodeError};
use super::primitives::{binary_slice, fail, put_binary, put_str, put_vbi, string_error};
use super::primitives::{u16_, u32_, u8_, vbi, Frame, PResult, Sink, WireStr};
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

/// Writes a Property Length and then the properties, in one pass (the
/// length is patched in after them).
#[inline]
pub(crate) fn put_properties<S: Sink, P: WriteProperties>(
    s: &mut S,
    props: &P,
) -> Result<(), EncodeError> {
    s.length_prefixed(0, |s| props.write(s))
}

/// A packet's property set, written to a [`Sink`].
pub(crate) trait WriteProperties {
    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError>;
}

fn w_u8<S: Sink>(s: &mut S, pid: u8, v: Option<u8>) {
    if let Some(v) = v {
        s.put_u8(pid);
        s.put_u8(v);
    }
}
fn w_bool<S: Sink>(s: &mut S, pid: u8, v: Option<bool>) {
    w_u8(s, pid, v.map(u8::from))
}
fn w_u16<S: Sink>(s: &mut S, pid: u8, v: Option<u16>) {
    if let Some(v) = v {
        s.put_u8(pid);
        s.put_u16(v);
    }
}
fn w_u32<S: Sink>(s: &mut S, pid: u8, v: Option<u32>) {
    if let Some(v) = v {
        s.put_u8(pid);
        s.put_u32(v);
    }
}
fn w_vbi<S: Sink>(s: &mut S, pid: u8, v: u32) -> Result<(), EncodeError> {
    s.put_u8(pid);
    put_vbi(s, v as usize)
}
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

/// Properties of CONNECT (3.1.2.11).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectProperties {
    /// Session Expiry Interval in seconds; absent means 0.
    pub session_expiry_interval: Option<u32>,
    /// How many QoS 1/2 publishes we accept unacknowledged; absent means 65,535.
    pub receive_maximum: Option<NonZeroU16>,
    /// The largest packet we accept; absent means no limit beyond the protocol's.
    pub maximum_packet_size: Option<NonZeroU32>,
    /// The highest topic alias we accept from the server; absent means 0.
    pub topic_alias_maximum: Option<u16>,
    /// Ask the server for Response Information in the CONNACK.
    pub request_response_information: Option<bool>,
    /// Whether the server may send Reason Strings and User Properties on failures.
    pub request_problem_information: Option<bool>,
    /// Authentication Method for enhanced authentication.
    pub authentication_method: Option<MqttString>,
    /// Authentication Data for enhanced authentication.
    pub authentication_data: Option<Bytes>,
    /// User Properties (0x26) of the CONNECT: name/value pairs for the
    /// server, in order, a name possibly repeated; empty sends none.
    pub user_properties: Vec<UserProperty>,
}

impl ConnectProperties {
    pub(crate) const ALLOWED: u64 = bits(&[
        id::SESSION_EXPIRY_INTERVAL,
        id::RECEIVE_MAXIMUM,
        id::MAXIMUM_PACKET_SIZE,
        id::TOPIC_ALIAS_MAXIMUM,
        id::REQUEST_RESPONSE_INFORMATION,
        id::REQUEST_PROBLEM_INFORMATION,
        id::USER_PROPERTY,
        id::AUTHENTICATION_METHOD,
        id::AUTHENTICATION_DATA,
    ]);

    pub(crate) fn read<'a>(frame: &Frame<'_>, i: &'a [u8]) -> PResult<'a, Self> {
        let mut p = Self::default();
        let (i, ()) = read_properties(
            frame,
            i,
            Self::ALLOWED,
            bits(&[id::USER_PROPERTY]),
            |prop| {
                match prop {
                    Property::Four(id::SESSION_EXPIRY_INTERVAL, v) => {
                        p.session_expiry_interval = Some(v)
                    }
                    Property::Two(id::RECEIVE_MAXIMUM, v) => {
                        p.receive_maximum =
                            Some(non_zero_u16(v, "MQTT-3.1.2.11.3", "receive maximum 0")?)
                    }
                    Property::Four(id::MAXIMUM_PACKET_SIZE, v) => {
                        p.maximum_packet_size =
                            Some(non_zero_u32(v, "MQTT-3.1.2.11.4", "maximum packet size 0")?)
                    }
                    Property::Two(id::TOPIC_ALIAS_MAXIMUM, v) => p.topic_alias_maximum = Some(v),
                    Property::Byte(id::REQUEST_RESPONSE_INFORMATION, v) => {
                        p.request_response_information = Some(v == 1)
                    }
                    Property::Byte(id::REQUEST_PROBLEM_INFORMATION, v) => {
                        p.request_problem_information = Some(v == 1)
                    }
                    Property::Str(id::AUTHENTICATION_METHOD, v) => {
                        p.authentication_method = Some(v)
                    }
                    Property::Bin(id::AUTHENTICATION_DATA, v) => p.authentication_data = Some(v),
                    Property::User(k, v) => p.user_properties.push((k, v)),
                    _ => return Err(unexpected()),
                }
                Ok(())
            },
        )?;
        Ok((i, p))
    }
}

impl WriteProperties for ConnectProperties {
    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        w_u32(s, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        w_u16(
            s,
            id::RECEIVE_MAXIMUM,
            self.receive_maximum.map(NonZeroU16::get),
        );
        w_u32(
            s,
            id::MAXIMUM_PACKET_SIZE,
            self.maximum_packet_size.map(NonZeroU32::get),
        );
        w_u16(s, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        w_bool(
            s,
            id::REQUEST_RESPONSE_INFORMATION,
            self.request_response_information,
        );
        w_bool(
            s,
            id::REQUEST_PROBLEM_INFORMATION,
            self.request_problem_information,
        );
        w_str(
            s,
            id::AUTHENTICATION_METHOD,
            "authentication method",
            self.authentication_method.as_ref(),
        )?;
        w_bin(
            s,
            id::AUTHENTICATION_DATA,
            "authentication data",
            self.authentication_data.as_ref(),
        )?;
        w_user(s, &self.user_properties)
    }
}

/// Will Properties (3.1.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WillProperties {
    /// Seconds the server waits before publishing the will.
    pub will_delay_interval: Option<u32>,
    /// True when the payload is UTF-8 text.
    pub payload_format_indicator: Option<bool>,
    /// Lifetime of the will message in seconds.
    pub message_expiry_interval: Option<u32>,
    /// MIME type of the payload.
    pub content_type: Option<MqttString>,
    /// Topic for a response.
    pub response_topic: Option<TopicName>,
    /// Correlation Data for a response.
    pub correlation_data: Option<Bytes>,
    /// User Properties (0x26) of the will, in order; the server forwards them
    /// with the will message. Empty sends none.
    pub user_properties: Vec<UserProperty>,
}

impl WillProperties {
    pub(crate) const ALLOWED: u64 = bits(&[
        id::WILL_DELAY_INTERVAL,
        id::PAYLOAD_FORMAT_INDICATOR,
        id::MESSAGE_EXPIRY_INTERVAL,
        id::CONTENT_TYPE,
        id::RESPONSE_TOPIC,
        id::CORRELATION_DATA,
        id::USER_PROPERTY,
    ]);

    pub(crate) fn read<'a>(frame: &Frame<'_>, i: &'a [u8]) -> PResult<'a, Self> {
        let mut p = Self::default();
        let (i, ()) = read_properties(
            frame,
            i,
            Self::ALLOWED,
            bits(&[id::USER_PROPERTY]),
            |prop| {
                match prop {
                    Property::Four(id::WILL_DELAY_INTERVAL, v) => p.will_delay_interval = Some(v),
                    Property::Byte(id::PAYLOAD_FORMAT_INDICATOR, v) => {
                        p.payload_format_indicator = Some(v == 1)
                    }
                    Property::Four(id::MESSAGE_EXPIRY_INTERVAL, v) => {
                        p.message_expiry_interval = Some(v)
                    }
                    Property::Str(id::CONTENT_TYPE, v) => p.content_type = Some(v),
                    Property::Str(id::RESPONSE_TOPIC, v) => p.response_topic = Some(topic(v)?),
                    Property::Bin(id::CORRELATION_DATA, v) => p.correlation_data = Some(v),
                    Property::User(k, v) => p.user_properties.push((k, v)),
                    _ => return Err(unexpected()),
                }
                Ok(())
            },
        )?;
        Ok((i, p))
    }
}

impl WriteProperties for WillProperties {
    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        w_u32(s, id::WILL_DELAY_INTERVAL, self.will_delay_interval);
        w_bool(
            s,
            id::PAYLOAD_FORMAT_INDICATOR,
            self.payload_format_indicator,
        );
        w_u32(s, id::MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        w_str(
            s,
            id::CONTENT_TYPE,
            "content type",
            self.content_type.as_ref(),
        )?;
        w_str(
            s,
            id::RESPONSE_TOPIC,
            "response topic",
            self.response_topic.as_ref(),
        )?;
        w_bin(
            s,
            id::CORRELATION_DATA,
            "correlation data",
            self.correlation_data.as_ref(),
        )?;
        w_user(s, &self.user_properties)
    }
}

/// Properties of CONNACK (3.2.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnAckProperties {
    /// The session expiry the server will use, overriding ours.
    pub session_expiry_interval: Option<u32>,
    /// How many QoS 1/2 publishes the server accepts unacknowledged; absent means 65,535.
    pub receive_maximum: Option<NonZeroU16>,
    /// Highest QoS the server supports; absent means 2.
    pub maximum_qos: Option<QoS>,
    /// Whether the server supports retained messages; absent means yes.
    pub retain_available: Option<bool>,
    /// Largest packet the server accepts.
    pub maximum_packet_size: Option<NonZeroU32>,
    /// The client identifier the server assigned to us.
    pub assigned_client_identifier: Option<MqttString>,
    /// Highest topic alias the server accepts from us; absent means 0.
    pub topic_alias_maximum: Option<u16>,
    /// Reason String (0x1F): the server's human-readable diagnostics for this
    /// CONNACK, typically explaining a refusal; `None` when it sent none.
    pub reason_string: Option<MqttString>,
    /// User Properties (0x26) the server sent with the CONNACK, in order;
    /// empty when it sent none.
    pub user_properties: Vec<UserProperty>,
    /// Whether wildcard subscriptions are supported; absent means yes.
    pub wildcard_subscription_available: Option<bool>,
    /// Whether subscription identifiers are supported; absent means yes.
    pub subscription_identifiers_available: Option<bool>,
    /// Whether shared subscriptions are supported; absent means yes.
    pub shared_subscription_available: Option<bool>,
    /// Keep alive the server wants us to use, replacing ours.
    pub server_keep_alive: Option<u16>,
    /// Basis for a response topic.
    pub response_information: Option<MqttString>,
    /// Another server to use.
    pub server_reference: Option<MqttString>,
    /// Authentication Method (0x15): on a successful CONNACK, the method of
    /// the CONNECT, and absent when the CONNECT had none; the engine fails the
    /// connection on any other value [MQTT-4.12.0-5], [MQTT-4.12.0-6].
    pub authentication_method: Option<MqttString>,
    /// Authentication Data (0x16): the server's last data of an enhanced
    /// authentication, in the method's own format; `None` when it sent none.
    pub authentication_data: Option<Bytes>,
}

impl ConnAckProperties {
    pub(crate) const ALLOWED: u64 = bits(&[
        id::SESSION_EXPIRY_INTERVAL,
        id::RECEIVE_MAXIMUM,
        id::MAXIMUM_QOS,
        id::RETAIN_AVAILABLE,
        id::MAXIMUM_PACKET_SIZE,
        id::ASSIGNED_CLIENT_IDENTIFIER,
        id::TOPIC_ALIAS_MAXIMUM,
        id::REASON_STRING,
        id::USER_PROPERTY,
        id::WILDCARD_SUBSCRIPTION_AVAILABLE,
        id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
        id::SHARED_SUBSCRIPTION_AVAILABLE,
        id::SERVER_KEEP_ALIVE,
        id::RESPONSE_INFORMATION,
        id::SERVER_REFERENCE,
        id::AUTHENTICATION_METHOD,
        id::AUTHENTICATION_DATA,
    ]);

    pub(crate) fn read<'a>(frame: &Frame<'_>, i: &'a [u8]) -> PResult<'a, Self> {
        let mut p = Self::default();
        let (i, ()) = read_properties(
            frame,
            i,
            Self::ALLOWED,
            bits(&[id::USER_PROPERTY]),
            |prop| {
                match prop {
                    Property::Four(id::SESSION_EXPIRY_INTERVAL, v) => {
                        p.session_expiry_interval = Some(v)
                    }
                    Property::Two(id::RECEIVE_MAXIMUM, v) => {
                        p.receive_maximum =
                            Some(non_zero_u16(v, "MQTT-3.2.2.3.3", "receive maximum 0")?)
                    }
                    Property::Byte(id::MAXIMUM_QOS, v) => {
                        p.maximum_qos = Some(if v == 0 {
                            QoS::AtMostOnce
                        } else {
                            QoS::AtLeastOnce
                        })
                    }
                    Property::Byte(id::RETAIN_AVAILABLE, v) => p.retain_available = Some(v == 1),
                    Property::Four(id::MAXIMUM_PACKET_SIZE, v) => {
                        p.maximum_packet_size =
                            Some(non_zero_u32(v, "MQTT-3.2.2.3.6", "maximum packet size 0")?)
                    }
                    Property::Str(id::ASSIGNED_CLIENT_IDENTIFIER, v) => {
                        p.assigned_client_identifier = Some(v)
                    }
                    Property::Two(id::TOPIC_ALIAS_MAXIMUM, v) => p.topic_alias_maximum = Some(v),
                    Property::Str(id::REASON_STRING, v) => p.reason_string = Some(v),
                    Property::User(k, v) => p.user_properties.push((k, v)),
                    Property::Byte(id::WILDCARD_SUBSCRIPTION_AVAILABLE, v) => {
                        p.wildcard_subscription_available = Some(v == 1)
                    }
                    Property::Byte(id::SUBSCRIPTION_IDENTIFIER_AVAILABLE, v) => {
                        p.subscription_identifiers_available = Some(v == 1)
                    }
                    Property::Byte(id::SHARED_SUBSCRIPTION_AVAILABLE, v) => {
                        p.shared_subscription_available = Some(v == 1)
                    }
                    Property::Two(id::SERVER_KEEP_ALIVE, v) => p.server_keep_alive = Some(v),
                    Property::Str(id::RESPONSE_INFORMATION, v) => p.response_information = Some(v),
                    Property::Str(id::SERVER_REFERENCE, v) => p.server_reference = Some(v),
                    Property::Str(id::AUTHENTICATION_METHOD, v) => {
                        p.authentication_method = Some(v)
                    }
                    Property::Bin(id::AUTHENTICATION_DATA, v) => p.authentication_data = Some(v),
                    _ => return Err(unexpected()),
                }
                Ok(())
            },
        )?;
        Ok((i, p))
    }
}

impl WriteProperties for ConnAckProperties {
    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        if self.maximum_qos == Some(QoS::ExactlyOnce) {
            return Err(EncodeError::invalid(
                "MQTT-3.2.2-9",
                "maximum QoS property of 2",
            ));
        }
        w_u32(s, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        w_u16(
            s,
            id::RECEIVE_MAXIMUM,
            self.receive_maximum.map(NonZeroU16::get),
        );
        w_u8(s, id::MAXIMUM_QOS, self.maximum_qos.map(|q| q as u8));
        w_bool(s, id::RETAIN_AVAILABLE, self.retain_available);
        w_u32(
            s,
            id::MAXIMUM_PACKET_SIZE,
            self.maximum_packet_size.map(NonZeroU32::get),
        );
        w_str(
            s,
            id::ASSIGNED_CLIENT_IDENTIFIER,
            "assigned client identifier",
            self.assigned_client_identifier.as_ref(),
        )?;
        w_u16(s, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        w_str(
            s,
            id::REASON_STRING,
            "reason string",
            self.reason_string.as_ref(),
        )?;
        w_user(s, &self.user_properties)?;
        w_bool(
            s,
            id::WILDCARD_SUBSCRIPTION_AVAILABLE,
            self.wildcard_subscription_available,
        );
        w_bool(
            s,
            id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            self.subscription_identifiers_available,
        );
        w_bool(
            s,
            id::SHARED_SUBSCRIPTION_AVAILABLE,
            self.shared_subscription_available,
        );
        w_u16(s, id::SERVER_KEEP_ALIVE, self.server_keep_alive);
        w_str(
            s,
            id::RESPONSE_INFORMATION,
            "response information",
            self.response_information.as_ref(),
        )?;
        w_str(
            s,
            id::SERVER_REFERENCE,
            "server reference",
            self.server_reference.as_ref(),
        )?;
        w_str(
            s,
            id::AUTHENTICATION_METHOD,
            "authentication method",
            self.authentication_method.as_ref(),
        )?;
        w_bin(
            s,
            id::AUTHENTICATION_DATA,
            "authentication data",
            self.authentication_data.as_ref(),
        )
    }
}

/// Properties of PUBLISH (3.3.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublishProperties {
    /// True when the payload is UTF-8 text.
    pub payload_format_indicator: Option<bool>,
    /// Lifetime of the message in seconds.
    pub message_expiry_interval: Option<u32>,
    /// Topic Alias standing for the topic name.
    pub topic_alias: Option<NonZeroU16>,
    /// Topic for a response.
    pub response_topic: Option<TopicName>,
    /// Correlation Data for a response.
    pub correlation_data: Option<Bytes>,
    /// User Properties (0x26) of the message, in order, a name possibly
    /// repeated; the server forwards them unaltered and in order
    /// [MQTT-3.3.2-17], [MQTT-3.3.2-18]. Empty sends none.
    pub user_properties: Vec<UserProperty>,
    /// Identifiers of the subscriptions that matched (server to client only).
    pub subscription_identifiers: Vec<NonZeroU32>,
    /// MIME type of the payload.
    pub content_type: Option<MqttString>,
}

impl PublishProperties {
    pub(crate) const ALLOWED: u64 = bits(&[
        id::PAYLOAD_FORMAT_INDICATOR,
        id::MESSAGE_EXPIRY_INTERVAL,
        id::TOPIC_ALIAS,
        id::RESPONSE_TOPIC,
        id::CORRELATION_DATA,
        id::USER_PROPERTY,
        id::SUBSCRIPTION_IDENTIFIER,
        id::CONTENT_TYPE,
    ]);

    /// Reads the properties through the borrowed view, the one PUBLISH
    /// property parser, and makes them owned.
    pub(crate) fn read<'a>(frame: &Frame<'_>, i: &'a [u8]) -> PResult<'a, Self> {
        let (i, view) = PublishPropertiesRef::read(i, frame.version)?;
        Ok((i, view.to_properties_in(frame)))
    }
}

/// The properties of a borrowed PUBLISH ([`PublishRef`](super::PublishRef)):
/// the packet's own property bytes, checked when the PUBLISH was decoded
/// and read on demand, so that decoding allocates nothing and a view stays
/// a few words long however many properties there are. Only the Topic
/// Alias, which decides the topic, is read out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublishPropertiesRef<'a> {
    /// The whole property block, checked.
    block: &'a [u8],
    /// Topic Alias (0x23), never 0 [MQTT-3.3.2-8].
    topic_alias: Option<NonZeroU16>,
}

impl<'a> PublishPropertiesRef<'a> {
    /// The properties, in order.
    fn iter(&self) -> impl Iterator<Item = PropertyRef<'a>> + 'a {
        checked_properties(self.block)
    }

    /// The first property `pick` accepts.
    fn find<T>(&self, pick: impl FnMut(PropertyRef<'a>) -> Option<T>) -> Option<T> {
        self.iter().find_map(pick)
    }

    /// Topic Alias (0x23), never 0 [MQTT-3.3.2-8].
    pub fn topic_alias(&self) -> Option<NonZeroU16> {
        self.topic_alias
    }

    /// Payload Format Indicator (0x01): true when the payload is UTF-8 text.
    pub fn payload_format_indicator(&self) -> Option<bool> {
        self.find(|p| match p {
            PropertyRef::Byte(id::PAYLOAD_FORMAT_INDICATOR, b) => Some(b == 1),
            _ => None,
        })
    }

    /// Message Expiry Interval (0x02), in seconds.
    pub fn message_expiry_interval(&self) -> Option<u32> {
        self.find(|p| match p {
            PropertyRef::Four(id::MESSAGE_EXPIRY_INTERVAL, n) => Some(n),
            _ => None,
        })
    }

    /// Response Topic (0x08), checked as a topic name [MQTT-3.3.2-14].
    pub fn response_topic(&self) -> Option<&'a str> {
        self.find(|p| match p {
            PropertyRef::Str(id::RESPONSE_TOPIC, t) => Some(checked_str(t)),
            _ => None,
        })
    }

    /// Correlation Data (0x09).
    pub fn correlation_data(&self) -> Option<&'a [u8]> {
        self.find(|p| match p {
            PropertyRef::Bin(id::CORRELATION_DATA, d) => Some(d),
            _ => None,
        })
    }

    /// Content Type (0x03).
    pub fn content_type(&self) -> Option<&'a str> {
        self.find(|p| match p {
            PropertyRef::Str(id::CONTENT_TYPE, t) => Some(checked_str(t)),
            _ => None,
        })
    }

    /// The User Properties (0x26), in order.
    pub fn user_properties(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.iter().filter_map(|p| match p {
            PropertyRef::User(k, v) => Some((checked_str(k), checked_str(v))),
            _ => None,
        })
    }

    /// The Subscription Identifiers (0x0B), in order (server to client).
    pub fn subscription_identifiers(&self) -> impl Iterator<Item = NonZeroU32> + 'a {
        self.iter().filter_map(|p| match p {
            PropertyRef::Vbi(id::SUBSCRIPTION_IDENTIFIER, v) => NonZeroU32::new(v),
            _ => None,
        })
    }

    /// True when the PUBLISH carries no property.
    pub fn is_empty(&self) -> bool {
        self.block.is_empty()
    }

    /// The owned properties, their strings and data copied.
    pub fn to_properties(&self) -> PublishProperties {
        let frame = Frame {
            bytes: None,
            version: ProtocolVersion::V5,
        };
        self.to_properties_in(&frame)
    }

    /// The owned properties, their strings and data shared from `frame`:
    /// one pass over the checked block.
    pub(crate) fn to_properties_in(&self, frame: &Frame<'_>) -> PublishProperties {
        let mut p = PublishProperties::default();
        for prop in self.iter() {
            match prop.to_owned(frame) {
                Property::Byte(_, b) => p.payload_format_indicator = Some(b == 1),
                Property::Four(_, n) => p.message_expiry_interval = Some(n),
                Property::Two(_, n) => p.topic_alias = NonZeroU16::new(n),
                Property::Str(id::RESPONSE_TOPIC, t) => p.response_topic = topic(t).ok(),
                Property::Str(_, t) => p.content_type = Some(t),
                Property::Bin(_, d) => p.correlation_data = Some(d),
                Property::User(k, v) => p.user_properties.push((k, v)),
                Property::Vbi(_, n) => p.subscription_identifiers.extend(NonZeroU32::new(n)),
            }
        }
        p
    }

    /// Reads and checks a PUBLISH's Property Length and properties.
    #[inline]
    pub(crate) fn read(i: &'a [u8], v: ProtocolVersion) -> PResult<'a, Self> {
        let repeatable = bits(&[id::USER_PROPERTY, id::SUBSCRIPTION_IDENTIFIER]);
        let (_, block) = property_block(i)?;
        let mut topic_alias = None;
        let allowed = PublishProperties::ALLOWED;
        let (i, ()) = walk_properties(i, v, allowed, repeatable, |prop| {
            match prop {
                PropertyRef::Two(id::TOPIC_ALIAS, n) => {
                    // A Topic Alias of 0 is not permitted [MQTT-3.3.2-8].
                    topic_alias = Some(NonZeroU16::new(n).ok_or(DecodeError::TopicAliasZero)?)
                }
                PropertyRef::Str(id::RESPONSE_TOPIC, t) => {
                    response_topic(t)?;
                }
                PropertyRef::Vbi(id::SUBSCRIPTION_IDENTIFIER, n) => {
                    subscription_id(n, "MQTT-3.3.2.3.8")?;
                }
                // Each checked by `walk_properties` (the Byte's 0 or 1, the
                // strings' UTF-8) and read on demand.
                PropertyRef::Byte(id::PAYLOAD_FORMAT_INDICATOR, _)
                | PropertyRef::Four(id::MESSAGE_EXPIRY_INTERVAL, _)
                | PropertyRef::Bin(id::CORRELATION_DATA, _)
                | PropertyRef::User(..)
                | PropertyRef::Str(id::CONTENT_TYPE, _) => {}
                _ => return Err(unexpected()),
            }
            Ok(())
        })?;
        Ok((i, PublishPropertiesRef { block, topic_alias }))
    }
}

impl WriteProperties for PublishProperties {
    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        w_bool(
            s,
            id::PAYLOAD_FORMAT_INDICATOR,
            self.payload_format_indicator,
        );
        w_u32(s, id::MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        w_u16(s, id::TOPIC_ALIAS, self.topic_alias.map(NonZeroU16::get));
        w_str(
            s,
            id::RESPONSE_TOPIC,
            "response topic",
            self.response_topic.as_ref(),
        )?;
        w_bin(
            s,
            id::CORRELATION_DATA,
            "correlation data",
            self.correlation_data.as_ref(),
        )?;
        w_user(s, &self.user_properties)?;
        for sid in &self.subscription_identifiers {
            w_vbi(s, id::SUBSCRIPTION_IDENTIFIER, sid.get())?;
        }
        w_str(
            s,
            id::CONTENT_TYPE,
            "content type",
            self.content_type.as_ref(),
        )
    }
}

/// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK:
/// a Reason String and User Properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AckProperties {
    /// Reason String (0x1F): human-readable diagnostics, for example why a
    /// PUBACK refused a message; `None` when absent. The spec forbids sending it
    /// when it would push the packet past the receiver's Maximum Packet Size
    /// ([MQTT-3.4.2-2] and its PUBREC to UNSUBACK counterparts).
    pub reason_string: Option<MqttString>,
    /// User Properties (0x26), in order; empty when the packet carries none.
    /// Like the Reason String, they must be left out rather than exceed the
    /// receiver's Maximum Packet Size ([MQTT-3.4.2-3] and its counterparts).
    pub user_properties: Vec<UserProperty>,
}

impl AckProperties {
    pub(crate) const ALLOWED: u64 = bits(&[id::REASON_STRING, id::USER_PROPERTY]);

    pub(crate) fn read<'a>(frame: &Frame<'_>, i: &'a [u8]) -> PResult<'a, Self> {
        let mut p = Self::default();
        let (i, ()) = read_properties(
            frame,
            i,
            Self::ALLOWED,
            bits(&[id::USER_PROPERTY]),
            |prop| {
                match prop {
                    Property::Str(id::REASON_STRING, v) => p.reason_string = Some(v),
                    Property::User(k, v) => p.user_properties.push((k, v)),
                    _ => return Err(unexpected()),
                }
                Ok(())
            },
        )?;
        Ok((i, p))
    }
}

impl WriteProperties for AckProperties {
    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        w_str(
            s,
            id::REASON_STRING,
            "reason string",
            self.reason_string.as_ref(),
        )?;
        w_user(s, &self.user_properties)
    }
}

/// Properties of SUBSCRIBE (3.8.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscribeProperties {
    /// Identifier the server attaches to messages matching this subscription.
    pub subscription_identifier: Option<NonZeroU32>,
    /// User Properties (0x26) of the SUBSCRIBE, in order; empty sends none.
    /// MQTT 5.0 only: a 3.1.1 session refuses a SUBSCRIBE with properties.
    pub user_properties: Vec<UserProperty>,
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

    pub(crate) const ALLOWED: u64 = bits(&[id::SUBSCRIPTION_IDENTIFIER, id::USER_PROPERTY]);

    pub(crate) fn read<'a>(frame: &Frame<'_>, i: &'a [u8]) -> PResult<'a, Self> {
        let mut p = Self::default();
        let (i, ()) = read_properties(
            frame,
            i,
            Self::ALLOWED,
            bits(&[id::USER_PROPERTY]),
            |prop| {
                match prop {
                    Property::Vbi(id::SUBSCRIPTION_IDENTIFIER, v) => {
                        p.subscription_identifier = Some(subscription_id(v, "MQTT-3.8.2.1.2")?)
                    }
                    Property::User(k, v) => p.user_properties.push((k, v)),
                    _ => return Err(unexpected()),
                }
                Ok(())
            },
        )?;
        Ok((i, p))
    }
}

impl WriteProperties for SubscribeProperties {
    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        if let Some(sid) = self.subscription_identifier {
            w_vbi(s, id::SUBSCRIPTION_IDENTIFIER, sid.get())?;
        }
        w_user(s, &self.user_properties)
    }
}

/// Properties of UNSUBSCRIBE (3.10.2.1): User Properties only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnsubscribeProperties {
    /// User Properties (0x26) of the UNSUBSCRIBE, in order; empty sends none.
    /// MQTT 5.0 only: a 3.1.1 session refuses them with
    /// [`CommandError::NeedsV5`](crate::session::CommandError::NeedsV5).
    pub user_properties: Vec<UserProperty>,
}

impl UnsubscribeProperties {
    pub(crate) const ALLOWED: u64 = bits(&[id::USER_PROPERTY]);

    pub(crate) fn read<'a>(frame: &Frame<'_>, i: &'a [u8]) -> PResult<'a, Self> {
        let mut p = Self::default();
        let (i, ()) = read_properties(frame, i, Self::ALLOWED, Self::ALLOWED, |prop| {
            match prop {
                Property::User(k, v) => p.user_properties.push((k, v)),
                _ => return Err(unexpected()),
            }
            Ok(())
        })?;
        Ok((i, p))
    }
}

impl WriteProperties for UnsubscribeProperties {
    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        w_user(s, &self.user_properties)
    }
}

/// Properties of DISCONNECT (3.14.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisconnectProperties {
    /// New Session Expiry Interval (client to server only).
    pub session_expiry_interval: Option<u32>,
    /// Reason String (0x1F): human-readable diagnostics for the disconnect;
    /// `None` when absent. The engine drops it, with the User Properties, from a
    /// DISCONNECT it sends when keeping them would exceed the server's Maximum
    /// Packet Size [MQTT-3.14.2-3].
    pub reason_string: Option<MqttString>,
    /// User Properties (0x26), in order; empty when none. Dropped with the
    /// Reason String from an outgoing DISCONNECT that would otherwise exceed the
    /// server's Maximum Packet Size [MQTT-3.14.2-4].
    pub user_properties: Vec<UserProperty>,
    /// Another server to use.
    pub server_reference: Option<MqttString>,
}

impl DisconnectProperties {
    pub(crate) const ALLOWED: u64 = bits(&[
        id::SESSION_EXPIRY_INTERVAL,
        id::REASON_STRING,
        id::USER_PROPERTY,
        id::SERVER_REFERENCE,
    ]);

    pub(crate) fn read<'a>(frame: &Frame<'_>, i: &'a [u8]) -> PResult<'a, Self> {
        let mut p = Self::default();
        let (i, ()) = read_properties(
            frame,
            i,
            Self::ALLOWED,
            bits(&[id::USER_PROPERTY]),
            |prop| {
                match prop {
                    Property::Four(id::SESSION_EXPIRY_INTERVAL, v) => {
                        p.session_expiry_interval = Some(v)
                    }
                    Property::Str(id::REASON_STRING, v) => p.reason_string = Some(v),
                    Property::User(k, v) => p.user_properties.push((k, v)),
                    Property::Str(id::SERVER_REFERENCE, v) => p.server_reference = Some(v),
                    _ => return Err(unexpected()),
                }
                Ok(())
            },
        )?;
        Ok((i, p))
    }
}

impl WriteProperties for DisconnectProperties {
    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        w_u32(s, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        w_str(
            s,
            id::REASON_STRING,
            "reason string",
            self.reason_string.as_ref(),
        )?;
        w_user(s, &self.user_properties)?;
        w_str(
            s,
            id::SERVER_REFERENCE,
            "server reference",
            self.server_reference.as_ref(),
        )
    }
}

/// Properties of AUTH (3.15.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthProperties {
    /// Authentication Method (0x15): required in every AUTH but the short
    /// Success form (3.15.2.2.2), so decoding and encoding refuse an AUTH
    /// without it; it must equal the CONNECT's, or the engine fails the
    /// connection [MQTT-4.12.0-5].
    pub authentication_method: Option<MqttString>,
    /// Authentication Data (0x16): the challenge or answer of this step, in
    /// the method's own format; `None` when the step carries none. The engine
    /// hands the server's to
    /// [`Authenticator::respond`](crate::session::Authenticator::respond).
    pub authentication_data: Option<Bytes>,
    /// Reason String (0x1F): human-readable diagnostics for this step; `None`
    /// when absent.
    pub reason_string: Option<MqttString>,
    /// User Properties (0x26) of this AUTH, in order; empty when none.
    pub user_properties: Vec<UserProperty>,
}

impl AuthProperties {
    pub(crate) const ALLOWED: u64 = bits(&[
        id::AUTHENTICATION_METHOD,
        id::AUTHENTICATION_DATA,
        id::REASON_STRING,
        id::USER_PROPERTY,
    ]);

    pub(crate) fn read<'a>(frame: &Frame<'_>, i: &'a [u8]) -> PResult<'a, Self> {
        let mut p = Self::default();
        let (i, ()) = read_properties(
            frame,
            i,
            Self::ALLOWED,
            bits(&[id::USER_PROPERTY]),
            |prop| {
                match prop {
                    Property::Str(id::AUTHENTICATION_METHOD, v) => {
                        p.authentication_method = Some(v)
                    }
                    Property::Bin(id::AUTHENTICATION_DATA, v) => p.authentication_data = Some(v),
                    Property::Str(id::REASON_STRING, v) => p.reason_string = Some(v),
                    Property::User(k, v) => p.user_properties.push((k, v)),
                    _ => return Err(unexpected()),
                }
                Ok(())
            },
        )?;
        Ok((i, p))
    }
}

impl WriteProperties for AuthProperties {
    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        w_str(
            s,
            id::AUTHENTICATION_METHOD,
            "authentication method",
            self.authentication_method.as_ref(),
        )?;
        w_bin(
            s,
            id::AUTHENTICATION_DATA,
            "authentication data",
            self.authentication_data.as_ref(),
        )?;
        w_str(
            s,
            id::REASON_STRING,
            "reason string",
            self.reason_string.as_ref(),
        )?;
        w_user(s, &self.user_properties)
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

// `is_empty` names every field (a new field breaks the build here instead of
// being skipped), and tests each one directly: comparing with `default()`
// costs a memcmp per list, which is slow on empty lists.
macro_rules! is_empty_by_fields {
    ($($t:ident { $($f:ident),* $(,)? })*) => {$(
        impl $t {
            /// True when no property is set: nothing to write.
            pub fn is_empty(&self) -> bool {
                let $t { $($f),* } = self;
                true $(&& Blank::is_blank($f))*
            }
        }
    )*};
}

is_empty_by_fields! {
    ConnectProperties { session_expiry_interval, receive_maximum, maximum_packet_size, topic_alias_maximum, request_response_information, request_problem_information, authentication_method, authentication_data, user_properties }
    WillProperties { will_delay_interval, payload_format_indicator, message_expiry_interval, content_type, response_topic, correlation_data, user_properties }
    ConnAckProperties { session_expiry_interval, receive_maximum, maximum_qos, retain_available, maximum_packet_size, assigned_client_identifier, topic_alias_maximum, reason_string, user_properties, wildcard_subscription_available, subscription_identifiers_available, shared_subscription_available, server_keep_alive, response_information, server_reference, authentication_method, authentication_data }
    PublishProperties { payload_format_indicator, message_expiry_interval, topic_alias, response_topic, correlation_data, user_properties, subscription_identifiers, content_type }
    AckProperties { reason_string, user_properties }
    SubscribeProperties { subscription_identifier, user_properties }
    UnsubscribeProperties { user_properties }
    DisconnectProperties { session_expiry_interval, reason_string, user_properties, server_reference }
    AuthProperties { authentication_method, authentication_data, reason_string, user_properties }
}
