//! Reason codes: an open newtype over the wire byte, with the spec's names as constants.

use std::fmt;

/// A reason code, as carried on the wire.
///
/// MQTT 5.0 gives every acknowledgement a one-byte reason code (Table 2-6);
/// values below 0x80 mean success, 0x80 and above mean failure. The type is
/// open: a value without a named constant survives decoding so that the
/// packet-level check ([`ReasonCode::is_valid_for`]) can judge it.
///
/// MQTT 3.1.1 CONNACK return codes (0..=5) and SUBACK return codes (0, 1, 2,
/// 0x80) are stored in the same type: they share their byte values with the
/// v5 codes where the meanings overlap.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReasonCode(pub u8);

macro_rules! reason_codes {
    ($( $(#[$doc:meta])* $name:ident = $value:expr, $text:expr; )*) => {
        impl ReasonCode {
            $( $(#[$doc])* pub const $name: ReasonCode = ReasonCode($value); )*

            /// The spec's name for this code, when it has one.
            ///
            /// Several codes share a value (0x00 is Success, Normal
            /// disconnection and Granted QoS 0); the first name is returned.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some($text), )*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }
    };
}

reason_codes! {
    /// 0x00 Success (also Normal disconnection and Granted QoS 0).
    SUCCESS = 0x00, "Success";
    /// 0x01 Granted QoS 1.
    GRANTED_QOS_1 = 0x01, "Granted QoS 1";
    /// 0x02 Granted QoS 2.
    GRANTED_QOS_2 = 0x02, "Granted QoS 2";
    /// 0x04 Disconnect with Will Message.
    DISCONNECT_WITH_WILL = 0x04, "Disconnect with Will Message";
    /// 0x10 No matching subscribers.
    NO_MATCHING_SUBSCRIBERS = 0x10, "No matching subscribers";
    /// 0x11 No subscription existed.
    NO_SUBSCRIPTION_EXISTED = 0x11, "No subscription existed";
    /// 0x18 Continue authentication.
    CONTINUE_AUTHENTICATION = 0x18, "Continue authentication";
    /// 0x19 Re-authenticate: in AUTH only, sent by the client to start a new
    /// authentication on an open connection.
    REAUTHENTICATE = 0x19, "Re-authenticate";
    /// 0x80 Unspecified error.
    UNSPECIFIED_ERROR = 0x80, "Unspecified error";
    /// 0x81 Malformed Packet.
    MALFORMED_PACKET = 0x81, "Malformed Packet";
    /// 0x82 Protocol Error.
    PROTOCOL_ERROR = 0x82, "Protocol Error";
    /// 0x83 Implementation specific error.
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83, "Implementation specific error";
    /// 0x84 Unsupported Protocol Version.
    UNSUPPORTED_PROTOCOL_VERSION = 0x84, "Unsupported Protocol Version";
    /// 0x85 Client Identifier not valid.
    CLIENT_IDENTIFIER_NOT_VALID = 0x85, "Client Identifier not valid";
    /// 0x86 Bad User Name or Password.
    BAD_USER_NAME_OR_PASSWORD = 0x86, "Bad User Name or Password";
    /// 0x87 Not authorized.
    NOT_AUTHORIZED = 0x87, "Not authorized";
    /// 0x88 Server unavailable.
    SERVER_UNAVAILABLE = 0x88, "Server unavailable";
    /// 0x89 Server busy.
    SERVER_BUSY = 0x89, "Server busy";
    /// 0x8A Banned: in CONNACK only; the client has been banned by
    /// administrative action.
    BANNED = 0x8A, "Banned";
    /// 0x8B Server shutting down.
    SERVER_SHUTTING_DOWN = 0x8B, "Server shutting down";
    /// 0x8C Bad authentication method.
    BAD_AUTHENTICATION_METHOD = 0x8C, "Bad authentication method";
    /// 0x8D Keep Alive timeout.
    KEEP_ALIVE_TIMEOUT = 0x8D, "Keep Alive timeout";
    /// 0x8E Session taken over.
    SESSION_TAKEN_OVER = 0x8E, "Session taken over";
    /// 0x8F Topic Filter invalid.
    TOPIC_FILTER_INVALID = 0x8F, "Topic Filter invalid";
    /// 0x90 Topic Name invalid.
    TOPIC_NAME_INVALID = 0x90, "Topic Name invalid";
    /// 0x91 Packet Identifier in use.
    PACKET_IDENTIFIER_IN_USE = 0x91, "Packet Identifier in use";
    /// 0x92 Packet Identifier not found.
    PACKET_IDENTIFIER_NOT_FOUND = 0x92, "Packet Identifier not found";
    /// 0x93 Receive Maximum exceeded.
    RECEIVE_MAXIMUM_EXCEEDED = 0x93, "Receive Maximum exceeded";
    /// 0x94 Topic Alias invalid.
    TOPIC_ALIAS_INVALID = 0x94, "Topic Alias invalid";
    /// 0x95 Packet too large.
    PACKET_TOO_LARGE = 0x95, "Packet too large";
    /// 0x96 Message rate too high.
    MESSAGE_RATE_TOO_HIGH = 0x96, "Message rate too high";
    /// 0x97 Quota exceeded.
    QUOTA_EXCEEDED = 0x97, "Quota exceeded";
    /// 0x98 Administrative action.
    ADMINISTRATIVE_ACTION = 0x98, "Administrative action";
    /// 0x99 Payload format invalid.
    PAYLOAD_FORMAT_INVALID = 0x99, "Payload format invalid";
    /// 0x9A Retain not supported.
    RETAIN_NOT_SUPPORTED = 0x9A, "Retain not supported";
    /// 0x9B QoS not supported.
    QOS_NOT_SUPPORTED = 0x9B, "QoS not supported";
    /// 0x9C Use another server.
    USE_ANOTHER_SERVER = 0x9C, "Use another server";
    /// 0x9D Server moved.
    SERVER_MOVED = 0x9D, "Server moved";
    /// 0x9E Shared Subscriptions not supported.
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E, "Shared Subscriptions not supported";
    /// 0x9F Connection rate exceeded.
    CONNECTION_RATE_EXCEEDED = 0x9F, "Connection rate exceeded";
    /// 0xA0 Maximum connect time.
    MAXIMUM_CONNECT_TIME = 0xA0, "Maximum connect time";
    /// 0xA1 Subscription Identifiers not supported.
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1, "Subscription Identifiers not supported";
    /// 0xA2 Wildcard Subscriptions not supported.
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2, "Wildcard Subscriptions not supported";
}

impl ReasonCode {
    /// Alias of [`ReasonCode::SUCCESS`] for DISCONNECT.
    pub const NORMAL_DISCONNECTION: ReasonCode = ReasonCode(0x00);
    /// Alias of [`ReasonCode::SUCCESS`] for SUBACK.
    pub const GRANTED_QOS_0: ReasonCode = ReasonCode(0x00);
    /// The 3.1.1 SUBACK failure return code (0x80).
    pub const V311_SUBACK_FAILURE: ReasonCode = ReasonCode(0x80);

    /// The v5 reason code that means what a 3.1.1 CONNACK return code means
    /// (3.1.1 Table 3.1), so that both versions report refusals alike.
    pub fn from_v311_connack(return_code: u8) -> ReasonCode {
        match return_code {
            0 => ReasonCode::SUCCESS,
            1 => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
            2 => ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
            3 => ReasonCode::SERVER_UNAVAILABLE,
            4 => ReasonCode::BAD_USER_NAME_OR_PASSWORD,
            5 => ReasonCode::NOT_AUTHORIZED,
            _ => ReasonCode::UNSPECIFIED_ERROR,
        }
    }

    /// True for values below 0x80, which the spec calls success.
    pub fn is_success(self) -> bool {
        self.0 < 0x80
    }

    /// Whether MQTT 5.0 Table 2-6 lists this code for `packet`.
    pub fn is_valid_for(self, packet: AckKind) -> bool {
        use AckKind::*;
        let ok: &[u8] = match packet {
            ConnAck => &[
                0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90,
                0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
            ],
            PubAck | PubRec => &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
            PubRel | PubComp => &[0x00, 0x92],
            SubAck => &[
                0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
            ],
            UnsubAck => &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91],
            Disconnect => &[
                0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F, 0x90,
                0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0,
                0xA1, 0xA2,
            ],
            Auth => &[0x00, 0x18, 0x19],
        };
        ok.contains(&self.0)
    }
}

/// The packets that carry reason codes, for [`ReasonCode::is_valid_for`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckKind {
    /// CONNACK: Connect Reason Codes (3.2.2.2).
    ConnAck,
    /// PUBACK: PUBACK Reason Codes (3.4.2.1).
    PubAck,
    /// PUBREC: PUBREC Reason Codes (3.5.2.1), the same set as PUBACK's.
    PubRec,
    /// PUBREL: 0x00 Success or 0x92 Packet Identifier not found (3.6.2.1).
    PubRel,
    /// PUBCOMP: 0x00 Success or 0x92 Packet Identifier not found (3.7.2.1).
    PubComp,
    /// SUBACK: a granted QoS (0x00 to 0x02) or a failure (3.9.3).
    SubAck,
    /// UNSUBACK: Unsubscribe Reason Codes (3.11.3).
    UnsubAck,
    /// DISCONNECT: Disconnect Reason Codes (3.14.2.1).
    Disconnect,
    /// AUTH: 0x00 Success, 0x18 Continue authentication or 0x19
    /// Re-authenticate (3.15.2.1).
    Auth,
}

impl fmt::Debug for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "ReasonCode(0x{:02X} {name})", self.0),
            None => write!(f, "ReasonCode(0x{:02X})", self.0),
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:02X})", self.0),
            None => write!(f, "reason code 0x{:02X}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_2_6_code_is_valid_for_its_packets() {
        assert!(ReasonCode::PACKET_IDENTIFIER_NOT_FOUND.is_valid_for(AckKind::PubRel));
        assert!(!ReasonCode::PACKET_IDENTIFIER_NOT_FOUND.is_valid_for(AckKind::PubAck));
        assert!(ReasonCode::RECEIVE_MAXIMUM_EXCEEDED.is_valid_for(AckKind::Disconnect));
        assert!(!ReasonCode(0x03).is_valid_for(AckKind::SubAck));
        assert!(ReasonCode::REAUTHENTICATE.is_valid_for(AckKind::Auth));
    }

    #[test]
    fn names_and_success() {
        assert_eq!(ReasonCode(0x87).name(), Some("Not authorized"));
        assert_eq!(ReasonCode(0x03).name(), None);
        assert!(ReasonCode(0x10).is_success());
        assert!(!ReasonCode(0x80).is_success());
        assert_eq!(ReasonCode(0x95).to_string(), "Packet too large (0x95)");
    }
}
