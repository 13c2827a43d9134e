//! Decode and encode errors.
//!
//! "Need more bytes" is not an error: [`decode`](super::decode) answers
//! `Ok(None)` for it. What remains is split the way the spec splits it, so
//! that each error names the reason code a client puts in its DISCONNECT:
//! malformed packets (0x81), protocol errors (0x82), invalid topic aliases
//! (0x94) and packets over the maximum size (0x95).

use super::reason::ReasonCode;

/// Why received bytes are not an acceptable packet.
///
/// Every variant carries the statement ID of the rule that was broken (or
/// the section, where the spec gives the rule no ID) and a short text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes do not follow the packet format: a Malformed Packet.
    #[error("malformed packet: {what} [{spec}]")]
    Malformed {
        /// The spec statement (or section) that was broken.
        spec: &'static str,
        /// What was wrong.
        what: &'static str,
    },
    /// Well-formed bytes that the protocol forbids: a Protocol Error.
    #[error("protocol error: {what} [{spec}]")]
    Protocol {
        /// The spec statement (or section) that was broken.
        spec: &'static str,
        /// What was wrong.
        what: &'static str,
    },
    /// A Topic Alias of 0 (v5 reason 0x94).
    #[error("topic alias 0 is not permitted [MQTT-3.3.2-8]")]
    TopicAliasZero,
    /// The fixed header announces a packet larger than the maximum we accept
    /// (our Maximum Packet Size, which the Server MUST NOT exceed [MQTT-3.1.2-24]).
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// Total packet size announced by the fixed header.
        size: usize,
        /// Our Maximum Packet Size in bytes, as sent in the CONNECT.
        max: u32,
    },
    /// A CONNECT whose protocol level we do not speak.
    #[error("unsupported protocol level {0} [MQTT-3.1.2-2]")]
    UnsupportedProtocolLevel(u8),
}

impl DecodeError {
    /// The v5 reason code a client sends in its DISCONNECT for this error.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            DecodeError::Malformed { .. } => ReasonCode::MALFORMED_PACKET,
            DecodeError::Protocol { .. } => ReasonCode::PROTOCOL_ERROR,
            DecodeError::TopicAliasZero => ReasonCode::TOPIC_ALIAS_INVALID,
            DecodeError::PacketTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
            DecodeError::UnsupportedProtocolLevel(_) => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
        }
    }

    /// The spec statement the error is about, when it has one.
    pub fn spec_id(&self) -> Option<&'static str> {
        match self {
            DecodeError::Malformed { spec, .. } | DecodeError::Protocol { spec, .. } => Some(spec),
            DecodeError::TopicAliasZero => Some("MQTT-3.3.2-8"),
            // The Client's Maximum Packet Size (3.1.2.11.4) is what we
            // receive at most: the Server MUST NOT send packets exceeding it
            // [MQTT-3.1.2-24]. (The 5.0 ID; 3.1.1 has no Maximum Packet Size.)
            DecodeError::PacketTooLarge { .. } => Some("MQTT-3.1.2-24"),
            DecodeError::UnsupportedProtocolLevel(_) => Some("MQTT-3.1.2-2"),
        }
    }

    pub(crate) const fn malformed(spec: &'static str, what: &'static str) -> Self {
        DecodeError::Malformed { spec, what }
    }

    pub(crate) const fn protocol(spec: &'static str, what: &'static str) -> Self {
        DecodeError::Protocol { spec, what }
    }
}

// nom's own failures inside a whole packet all mean "a field ran past the
// end of the packet" (we only use the `complete` parsers), which is malformed.
impl<I> nom::error::ParseError<I> for DecodeError {
    fn from_error_kind(_input: I, _kind: nom::error::ErrorKind) -> Self {
        DecodeError::malformed("MQTT-1.5", "a field runs past the end of the packet")
    }

    fn append(_input: I, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// Why a packet cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A UTF-8 string or binary field longer than 65,535 bytes.
    #[error("{field} is {len} bytes long; the limit is 65,535")]
    FieldTooLong {
        /// The field's name, such as `"password"`, as the message prints it.
        field: &'static str,
        /// Its length in bytes, over the 65,535 its two-byte prefix can say.
        len: usize,
    },
    /// A packet whose remaining length would exceed 268,435,455 bytes.
    #[error("remaining length {0} exceeds 268,435,455 bytes")]
    PacketTooLarge(usize),
    /// A packet or field that does not exist in the chosen protocol version.
    #[error("{0} does not exist in MQTT 3.1.1")]
    NotInV311(&'static str),
    /// A value the spec does not allow in this place.
    #[error("invalid value: {what} [{spec}]")]
    InvalidValue {
        /// The spec statement (or section) that forbids it.
        spec: &'static str,
        /// What was wrong.
        what: &'static str,
    },
}

impl EncodeError {
    pub(crate) const fn invalid(spec: &'static str, what: &'static str) -> Self {
        EncodeError::InvalidValue { spec, what }
    }
}
