//! CONNECT (3.1), its Will, and CONNACK (3.2).

use super::error::{DecodeError, EncodeError};
use super::primitives::{
    binary_slice, fail, id, put_binary, put_str, topic_error, u16_, u8_, Frame, PResult, Sink,
};
use super::properties::{put_properties, ConnAckProperties, ConnectProperties, WillProperties};
use super::reason::{AckKind, ReasonCode};
use super::string::{MqttString, StringError};
use super::{ProtocolVersion, QoS};
use crate::topic::TopicName;
use bytes::Bytes;

/// CONNECT: the client's request to open a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The protocol level this CONNECT is written in; [`encode`](super::encode)
    /// and [`decode`](super::decode) both follow it.
    pub protocol_version: ProtocolVersion,
    /// Clean Start (v5) or Clean Session (3.1.1).
    pub clean_start: bool,
    /// Keep Alive in seconds; 0 turns it off.
    pub keep_alive: u16,
    /// CONNECT properties (v5 only; empty in 3.1.1).
    pub properties: ConnectProperties,
    /// Client Identifier; may be empty.
    pub client_id: MqttString,
    /// The Will Message, if any.
    pub will: Option<Will>,
    /// User Name (3.1.3.5): a UTF-8 string the server may use for
    /// authentication; `None` leaves it out and clears the User Name Flag.
    pub username: Option<MqttString>,
    /// Password (3.1.3.6): binary data, at most 65,535 bytes; `None` leaves it
    /// out. MQTT 3.1.1 allows a password only with a user name, so encoding
    /// refuses one alone there [MQTT-3.1.2-22]; MQTT 5.0 allows it.
    pub password: Option<Bytes>,
}

/// A Will Message, published by the server when the connection ends badly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Will Topic (3.1.3.3): the topic name the server publishes the will to;
    /// as a topic name it holds no wildcards.
    pub topic: TopicName,
    /// Will Payload (3.1.3.4): the message body, any bytes, possibly empty,
    /// at most 65,535 (it is written with a two-byte length).
    pub payload: Bytes,
    /// Will QoS: the quality of service the server publishes the will at.
    pub qos: QoS,
    /// Will Retain: whether the server publishes the will as a retained
    /// message.
    pub retain: bool,
    /// Will Properties (v5 only).
    pub properties: WillProperties,
}

impl Will {
    /// A will with no properties: `topic` is checked as a topic name
    /// (no wildcards, not empty, no NUL, at most 65,535 bytes).
    ///
    /// The broker publishes the will when the connection ends without a
    /// DISCONNECT (or with the v5 reason 0x04 Disconnect with Will
    /// Message); a normal disconnect, and dropping the last `Client`,
    /// discard it. The v5 properties below are sent only on MQTT 5.0.
    ///
    /// ```
    /// use tern_mqtt::{QoS, Will};
    ///
    /// let will = Will::new("gateways/7/status", "offline", QoS::AtLeastOnce, true)
    ///     .unwrap()
    ///     .delay_interval(5)
    ///     .message_expiry(3600)
    ///     .content_type("text/plain").unwrap()
    ///     .user_property("site", "north").unwrap();
    /// assert_eq!(will.properties.will_delay_interval, Some(5));
    /// assert!(Will::new("gateways/+/status", "x", QoS::AtMostOnce, false).is_err());
    /// ```
    pub fn new(
        topic: &str,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> Result<Will, crate::topic::TopicError> {
        Ok(Will {
            topic: TopicName::new(topic)?,
            payload: payload.into(),
            qos,
            retain,
            properties: WillProperties::default(),
        })
    }

    /// Sets the Will Delay Interval (v5): seconds the broker waits after
    /// the connection ends before publishing the will. Default: none (0).
    pub fn delay_interval(mut self, seconds: u32) -> Self {
        self.properties.will_delay_interval = Some(seconds);
        self
    }

    /// Sets the Message Expiry Interval of the will message, in seconds
    /// (v5). Default: none (it never expires).
    pub fn message_expiry(mut self, seconds: u32) -> Self {
        self.properties.message_expiry_interval = Some(seconds);
        self
    }

    /// Sets the Payload Format Indicator (v5): true when the payload is
    /// UTF-8 text. Default: none.
    pub fn payload_format_utf8(mut self, utf8: bool) -> Self {
        self.properties.payload_format_indicator = Some(utf8);
        self
    }

    /// Sets the Content Type (v5), a MIME type for example; refused when it
    /// is not a valid MQTT string. Default: none.
    pub fn content_type(mut self, content_type: &str) -> Result<Self, StringError> {
        self.properties.content_type = Some(MqttString::try_from(content_type)?);
        Ok(self)
    }

    /// Sets the Response Topic (v5); refused when it is not a valid topic
    /// name. Default: none.
    pub fn response_topic(mut self, topic: &str) -> Result<Self, crate::topic::TopicError> {
        self.properties.response_topic = Some(TopicName::new(topic)?);
        Ok(self)
    }

    /// Sets the Correlation Data (v5). Default: none.
    pub fn correlation_data(mut self, data: impl Into<Bytes>) -> Self {
        self.properties.correlation_data = Some(data.into());
        self
    }

    /// Adds a User Property (v5); refused when the key or the value is not
    /// a valid MQTT string (a NUL character, or over 65,535 bytes).
    pub fn user_property(mut self, key: &str, value: &str) -> Result<Self, StringError> {
        self.properties
            .user_properties
            .push(super::properties::user_property(key, value)?);
        Ok(self)
    }
}

const PROTOCOL_NAME: &[u8] = b"MQTT";

mod flag {
    pub const USERNAME: u8 = 0x80;
    pub const PASSWORD: u8 = 0x40;
    pub const WILL_RETAIN: u8 = 0x20;
    pub const WILL_QOS_SHIFT: u8 = 3;
    pub const WILL: u8 = 0x04;
    pub const CLEAN_START: u8 = 0x02;
    pub const RESERVED: u8 = 0x01;
}

/// The Connect Flags byte (3.1.2.3), checked.
struct ConnectFlags {
    clean_start: bool,
    will: bool,
    will_qos: QoS,
    will_retain: bool,
    username: bool,
    password: bool,
}

pub(crate) fn read_connect<'a>(frame: &Frame<'_>, i: &'a [u8]) -> PResult<'a, Connect> {
    let (i, version) = read_protocol(i)?;
    // From here on the CONNECT is read at its own level, and errors cite
    // that version's statements.
    let frame = &Frame {
        bytes: frame.bytes,
        version,
    };
    let (i, flags) = read_flags(i, version)?;
    let (i, keep_alive) = u16_(i)?;
    let (i, properties) = match version {
        ProtocolVersion::V5 => ConnectProperties::read(frame, i)?,
        ProtocolVersion::V311 => (i, ConnectProperties::default()),
    };
    // It is a Protocol Error to include Authentication Data if there is no
    // Authentication Method (3.1.2.11.10; the statement has no ID).
    if properties.authentication_data.is_some() && properties.authentication_method.is_none() {
        return fail(DecodeError::protocol(
            "MQTT-3.1.2.11.10",
            "authentication data without an authentication method",
        ));
    }
    // These fields, if present, MUST appear in the order Client Identifier,
    // Will Properties, Will Topic, Will Payload, User Name, Password
    // [MQTT-3.1.3-1].
    let (i, client_id) = read_client_id(frame, i, &flags)?;
    let (i, will) = read_will(frame, i, &flags)?;
    let (i, username) = match flags.username {
        // If the User Name Flag is set to 1, a User Name MUST be present in
        // the Payload [MQTT-3.1.2-17].
        true => frame.string(i).map(|(i, u)| (i, Some(u)))?,
        false => (i, None),
    };
    let (i, password) = match flags.password {
        // If the Password Flag is set to 1, a Password MUST be present in the
        // Payload [MQTT-3.1.2-19].
        true => frame.binary(i).map(|(i, p)| (i, Some(p)))?,
        false => (i, None),
    };
    Ok((
        i,
        Connect {
            protocol_version: version,
            clean_start: flags.clean_start,
            keep_alive,
            properties,
            client_id,
            will,
            username,
            password,
        },
    ))
}

/// The Client Identifier, first in the payload.
fn read_client_id<'a>(
    frame: &Frame<'_>,
    i: &'a [u8],
    flags: &ConnectFlags,
) -> PResult<'a, MqttString> {
    // The ClientID MUST be present and is the first field in the CONNECT
    // packet Payload [MQTT-3.1.3-3] (the same ID in 3.1.1).
    if i.len() < 2 {
        return fail(DecodeError::malformed(
            "MQTT-3.1.3-3",
            "CONNECT without a client identifier",
        ));
    }
    let (i, client_id) = frame.string(i)?;
    let v311 = frame.version == ProtocolVersion::V311;
    if v311 && client_id.is_empty() && !flags.clean_start {
        // If the Client supplies a zero-byte ClientId, the Client MUST also
        // set CleanSession to 1 [MQTT-3.1.3-7] (3.1.1 only).
        return fail(DecodeError::protocol(
            "MQTT-3.1.3-7",
            "empty client identifier without clean session",
        ));
    }
    Ok((i, client_id))
}

/// The Protocol Name and Protocol Level: the version the rest is read at.
fn read_protocol(i: &[u8]) -> PResult<'_, ProtocolVersion> {
    let (i, name) = binary_slice(i)?;
    if name != PROTOCOL_NAME {
        // The protocol name MUST be the UTF-8 String "MQTT" [MQTT-3.1.2-1].
        return fail(DecodeError::protocol(
            "MQTT-3.1.2-1",
            "protocol name is not \"MQTT\"",
        ));
    }
    let (i, level) = u8_(i)?;
    match level {
        4 => Ok((i, ProtocolVersion::V311)),
        5 => Ok((i, ProtocolVersion::V5)),
        other => fail(DecodeError::UnsupportedProtocolLevel(other)),
    }
}

/// The Connect Flags byte and the rules among its bits.
fn read_flags(i: &[u8], version: ProtocolVersion) -> PResult<'_, ConnectFlags> {
    let (i, flags) = u8_(i)?;
    // The Server MUST validate that the reserved flag in the CONNECT packet
    // is set to 0 [MQTT-3.1.2-3].
    if flags & flag::RESERVED != 0 {
        return fail(DecodeError::malformed(
            "MQTT-3.1.2-3",
            "CONNECT reserved flag is set",
        ));
    }
    let will = flags & flag::WILL != 0;
    let will_qos_bits = (flags >> flag::WILL_QOS_SHIFT) & 0x03;
    let will_retain = flags & flag::WILL_RETAIN != 0;
    // If the Will Flag is set to 0, then the Will QoS MUST be set to 0
    // (0x00) [MQTT-3.1.2-11] (3.1.1: [MQTT-3.1.2-11] covers both fields).
    if !will && will_qos_bits != 0 {
        return fail(DecodeError::malformed(
            "MQTT-3.1.2-11",
            "will QoS set without the will flag",
        ));
    }
    // If the Will Flag is set to 0, then Will Retain MUST be set to 0
    // [MQTT-3.1.2-13] (3.1.1: [MQTT-3.1.2-15]).
    if !will && will_retain {
        return fail(DecodeError::malformed(
            id(version, "MQTT-3.1.2-13", "MQTT-3.1.2-15"),
            "will retain set without the will flag",
        ));
    }
    // If the Will Flag is set to 1, the value of Will QoS can be 0 (0x00), 1
    // (0x01), or 2 (0x02) [MQTT-3.1.2-12] (3.1.1: It MUST NOT be 3 (0x03)
    // [MQTT-3.1.2-14]).
    let Some(will_qos) = QoS::from_u8(will_qos_bits) else {
        return fail(DecodeError::malformed(
            id(version, "MQTT-3.1.2-12", "MQTT-3.1.2-14"),
            "will QoS 3",
        ));
    };
    let username = flags & flag::USERNAME != 0;
    let password = flags & flag::PASSWORD != 0;
    if version == ProtocolVersion::V311 && password && !username {
        // If the User Name Flag is set to 0, the Password Flag MUST be set to
        // 0 [MQTT-3.1.2-22] (3.1.1 only; MQTT 5.0 allows a password alone).
        return fail(DecodeError::malformed(
            "MQTT-3.1.2-22",
            "password flag set without the user name flag",
        ));
    }
    Ok((
        i,
        ConnectFlags {
            clean_start: flags & flag::CLEAN_START != 0,
            will,
            will_qos,
            will_retain,
            username,
            password,
        },
    ))
}

/// The Will Properties, Will Topic and Will Payload, when the Will Flag
/// is set.
fn read_will<'a>(
    frame: &Frame<'_>,
    i: &'a [u8],
    flags: &ConnectFlags,
) -> PResult<'a, Option<Will>> {
    if !flags.will {
        return Ok((i, None));
    }
    let version = frame.version;
    // If the Will Flag is set to 1, the Will Properties, Will Topic, and
    // Will Payload fields MUST be present in the Payload [MQTT-3.1.2-9].
    let (i, will_properties) = match version {
        ProtocolVersion::V5 => WillProperties::read(frame, i)?,
        ProtocolVersion::V311 => (i, WillProperties::default()),
    };
    // The Will Topic MUST be a UTF-8 Encoded String [MQTT-3.1.3-11]
    // (3.1.1: [MQTT-3.1.3-10]); as a Topic Name it is at least one
    // character long and holds no wildcards (4.7).
    let (i, topic) = frame.string(i)?;
    let topic = match TopicName::from_mqtt_string(topic) {
        Ok(t) => t,
        Err(e) => return fail(topic_error(e, version, DecodeError::malformed)),
    };
    let (i, payload) = frame.binary(i)?;
    let will = Will {
        topic,
        payload,
        qos: flags.will_qos,
        retain: flags.will_retain,
        properties: will_properties,
    };
    Ok((i, Some(will)))
}

impl Connect {
    /// The rules a CONNECT must follow before it is written.
    fn check(&self) -> Result<(), EncodeError> {
        let v = self.protocol_version;
        if v == ProtocolVersion::V311 {
            if self.client_id.is_empty() && !self.clean_start {
                // If the Client supplies a zero-byte ClientId, the Client MUST
                // also set CleanSession to 1 [MQTT-3.1.3-7].
                return Err(EncodeError::invalid(
                    "MQTT-3.1.3-7",
                    "a 3.1.1 CONNECT with an empty client identifier needs clean session",
                ));
            }
            if !self.properties.is_empty() {
                return Err(EncodeError::NotInV311("CONNECT properties"));
            }
            if self.will.as_ref().is_some_and(|w| !w.properties.is_empty()) {
                return Err(EncodeError::NotInV311("will properties"));
            }
            if self.password.is_some() && self.username.is_none() {
                // If the User Name Flag is set to 0, the Password Flag MUST be set to 0 [MQTT-3.1.2-22].
                return Err(EncodeError::invalid(
                    "MQTT-3.1.2-22",
                    "a 3.1.1 CONNECT cannot carry a password without a user name",
                ));
            }
        }
        let auth = &self.properties;
        if auth.authentication_data.is_some() && auth.authentication_method.is_none() {
            // It is a Protocol Error to include Authentication Data if there
            // is no Authentication Method (3.1.2.11.10).
            return Err(EncodeError::invalid(
                "MQTT-3.1.2.11.10",
                "authentication data without an authentication method",
            ));
        }
        Ok(())
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        let v = self.protocol_version;
        self.check()?;
        let mut flags = 0u8;
        if self.username.is_some() {
            flags |= flag::USERNAME;
        }
        if self.password.is_some() {
            flags |= flag::PASSWORD;
        }
        if let Some(w) = &self.will {
            flags |= flag::WILL | ((w.qos as u8) << flag::WILL_QOS_SHIFT);
            if w.retain {
                flags |= flag::WILL_RETAIN;
            }
        }
        if self.clean_start {
            flags |= flag::CLEAN_START;
        }
        put_binary(s, "protocol name", PROTOCOL_NAME)?;
        s.put_u8(v.level());
        s.put_u8(flags);
        s.put_u16(self.keep_alive);
        if v == ProtocolVersion::V5 {
            put_properties(s, &self.properties)?;
        }
        put_str(s, "client identifier", &self.client_id)?;
        if let Some(w) = &self.will {
            if v == ProtocolVersion::V5 {
                put_properties(s, &w.properties)?;
            }
            put_str(s, "will topic", &w.topic)?;
            put_binary(s, "will payload", &w.payload)?;
        }
        if let Some(u) = &self.username {
            put_str(s, "user name", u)?;
        }
        if let Some(p) = &self.password {
            put_binary(s, "password", p)?;
        }
        Ok(())
    }
}

/// CONNACK: the server's answer to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// Whether the server resumed a stored session.
    pub session_present: bool,
    /// The v5 Connect Reason Code, or the 3.1.1 Connect Return Code (0..=5).
    pub reason_code: ReasonCode,
    /// CONNACK properties (v5 only).
    pub properties: ConnAckProperties,
}

impl ConnAck {
    pub(crate) fn read<'a>(
        frame: &Frame<'_>,
        i: &'a [u8],
        v: ProtocolVersion,
    ) -> PResult<'a, Self> {
        let (i, ack_flags) = u8_(i)?;
        // Byte 1 is the "Connect Acknowledge Flags". Bits 7-1 are reserved
        // and MUST be set to 0 [MQTT-3.2.2-1] (3.1.1: section 3.2.2.1, no ID).
        if ack_flags & 0xFE != 0 {
            return fail(DecodeError::malformed(
                id(v, "MQTT-3.2.2-1", "MQTT-3.2.2.1"),
                "CONNACK reserved flags are set",
            ));
        }
        let (i, code) = u8_(i)?;
        let reason_code = ReasonCode(code);
        let (i, properties) = match v {
            ProtocolVersion::V5 => {
                // The Server sending the CONNACK packet MUST use one of the
                // Connect Reason Code values [MQTT-3.2.2-8].
                if !reason_code.is_valid_for(AckKind::ConnAck) {
                    return fail(DecodeError::protocol(
                        "MQTT-3.2.2-8",
                        "not a Connect Reason Code",
                    ));
                }
                ConnAckProperties::read(frame, i)?
            }
            ProtocolVersion::V311 => {
                // 3.1.1 Table 3.1: return codes 6-255 are reserved.
                if code > 5 {
                    return fail(DecodeError::protocol(
                        "MQTT-3.2.2.3",
                        "reserved CONNACK return code",
                    ));
                }
                (i, ConnAckProperties::default())
            }
        };
        let session_present = ack_flags & 0x01 != 0;
        // If a Server sends a CONNACK packet containing a non-zero Reason Code
        // it MUST set Session Present to 0 [MQTT-3.2.2-6] (3.1.1: [MQTT-3.2.2-4]).
        if session_present && code != 0 {
            return fail(DecodeError::protocol(
                id(v, "MQTT-3.2.2-6", "MQTT-3.2.2-4"),
                "session present set on a refused connection",
            ));
        }
        Ok((
            i,
            ConnAck {
                session_present,
                reason_code,
                properties,
            },
        ))
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S, v: ProtocolVersion) -> Result<(), EncodeError> {
        // If a Server sends a CONNACK packet containing a non-zero Reason Code
        // it MUST set Session Present to 0 [MQTT-3.2.2-6] (3.1.1: [MQTT-3.2.2-4]).
        if self.session_present && self.reason_code.0 != 0 {
            return Err(EncodeError::invalid(
                id(v, "MQTT-3.2.2-6", "MQTT-3.2.2-4"),
                "session present on a refused connection",
            ));
        }
        match v {
            ProtocolVersion::V311 => {
                if !self.properties.is_empty() {
                    return Err(EncodeError::NotInV311("CONNACK properties"));
                }
                if self.reason_code.0 > 5 {
                    return Err(EncodeError::invalid(
                        "MQTT-3.2.2.3",
                        "3.1.1 CONNACK return code above 5",
                    ));
                }
            }
            ProtocolVersion::V5 => {
                if !self.reason_code.is_valid_for(AckKind::ConnAck) {
                    return Err(EncodeError::invalid(
                        "MQTT-3.2.2-8",
                        "not a Connect Reason Code",
                    ));
                }
            }
        }
        s.put_u8(u8::from(self.session_present));
        s.put_u8(self.reason_code.0);
        if v == ProtocolVersion::V5 {
            put_properties(s, &self.properties)?;
        }
        Ok(())
    }
}
