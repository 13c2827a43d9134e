//! What the engine tells its driver: application events, command results
//! and errors.

use crate::codec::{
    AckProperties, ConnAck, DecodeError, DisconnectProperties, EncodeError, PublishProperties, QoS,
    ReasonCode,
};
use crate::topic::{TopicFilter, TopicName};
use bytes::Bytes;
use std::num::NonZeroU32;

/// Names one command given to the engine, so that its completion can be
/// matched to it. Unique for the life of a [`Session`](super::Session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Who ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// The application asked for it.
    Local,
    /// The server sent DISCONNECT or refused the CONNECT.
    Remote,
    /// The engine closed it because the server broke the protocol or went silent.
    Protocol,
    /// The transport closed under us.
    Transport,
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisconnectInfo {
    /// Who ended it.
    pub initiator: Initiator,
    /// The v5 reason code sent or received, when there was one.
    pub reason_code: Option<ReasonCode>,
    /// Properties of the DISCONNECT received from the server (reason
    /// string, server reference, user properties).
    pub properties: DisconnectProperties,
    /// The protocol error that made the engine close, if any.
    pub error: Option<ProtocolError>,
    /// Whether the session state is kept for the next connection.
    pub session_kept: bool,
}

/// A protocol violation by the server, with the reason code the engine
/// sent in its DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The bytes received were not a valid packet.
    #[error("invalid packet from the server: {0}")]
    Decode(#[from] DecodeError),
    /// A packet that the protocol does not allow at this point.
    #[error("{what} [{spec}]")]
    Violation {
        /// The spec statement broken.
        spec: &'static str,
        /// What happened.
        what: &'static str,
        /// The reason code sent to the server.
        reason_code: ReasonCode,
    },
    /// No CONNACK within the connect timeout.
    #[error("no CONNACK within the connect timeout")]
    ConnAckTimeout,
    /// No packet within the ping timeout after a PINGREQ.
    #[error("no answer to PINGREQ within the ping timeout")]
    KeepAliveTimeout,
    /// Our CONNECT could not be encoded (a configured field is out of range).
    #[error("cannot encode the CONNECT: {0}")]
    ConnectEncode(EncodeError),
    /// The authenticator refused a challenge of the server.
    #[error("authentication failed: {0}")]
    Auth(String),
}

impl ProtocolError {
    /// The v5 reason code to send in DISCONNECT for this error.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            ProtocolError::Decode(e) => e.reason_code(),
            ProtocolError::Violation { reason_code, .. } => *reason_code,
            ProtocolError::ConnAckTimeout => ReasonCode::UNSPECIFIED_ERROR,
            ProtocolError::KeepAliveTimeout => ReasonCode::KEEP_ALIVE_TIMEOUT,
            ProtocolError::Auth(_) => ReasonCode::NOT_AUTHORIZED,
            ProtocolError::ConnectEncode(_) => ReasonCode::UNSPECIFIED_ERROR,
        }
    }

    pub(crate) fn violation(
        spec: &'static str,
        what: &'static str,
        reason_code: ReasonCode,
    ) -> Self {
        ProtocolError::Violation {
            spec,
            what,
            reason_code,
        }
    }
}

/// Why a command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The server answered with a failure reason code (0x80 or above).
    #[error("refused by the server: {reason_code}")]
    Refused {
        /// The server's reason code.
        reason_code: ReasonCode,
        /// The server's reason string and user properties.
        properties: AckProperties,
    },
    /// The connection was lost and the session was not kept, so the
    /// exchange cannot be finished.
    #[error("the connection was lost and the session was not kept")]
    SessionLost,
    /// The server did not resume the session, and the policy says to fail
    /// what was in flight.
    #[error("the server did not resume the session")]
    SessionExpired,
    /// The packet exceeds the server's Maximum Packet Size.
    #[error("packet of {size} bytes exceeds the server's maximum packet size of {max}")]
    PacketTooLarge {
        /// Our packet's size.
        size: usize,
        /// The server's maximum.
        max: u32,
    },
    /// The QoS exceeds the server's Maximum QoS.
    #[error("QoS {requested:?} exceeds the server's maximum QoS {maximum:?}")]
    QoSNotSupported {
        /// What was asked for.
        requested: QoS,
        /// What the server allows.
        maximum: QoS,
    },
    /// The server does not support retained messages.
    #[error("the server does not support retained messages")]
    RetainNotSupported,
    /// The server does not support wildcard subscriptions.
    #[error("the server does not support wildcard subscriptions")]
    WildcardsNotSupported,
    /// The server does not support shared subscriptions.
    #[error("the server does not support shared subscriptions")]
    SharedNotSupported,
    /// The server does not support subscription identifiers.
    #[error("the server does not support subscription identifiers")]
    SubscriptionIdsNotSupported,
    /// The packet cannot be encoded.
    #[error("cannot encode: {0}")]
    Encode(#[from] EncodeError),
    /// The session is closed for good (after [`Session::disconnect`](super::Session::disconnect)).
    #[error("the session is closed")]
    Closed,
    /// A command that needs an authentication method, without one.
    #[error("re-authentication needs an authentication method in the connect options")]
    NoAuthMethod,
    /// The Message Expiry Interval passed while the message waited to be sent.
    #[error("the message expired before it could be sent")]
    MessageExpired,
    /// A re-authentication is already under way.
    #[error("a re-authentication is already under way")]
    AuthInProgress,
    /// An argument the protocol forbids.
    #[error("invalid command: {0}")]
    Invalid(&'static str),
    /// The command needs an MQTT 5.0 feature on a 3.1.1 connection.
    #[error("{0} needs MQTT 5.0")]
    NeedsV5(&'static str),
}

/// What the server granted for one filter of a SUBSCRIBE.
pub type SubscribeResult = Result<QoS, ReasonCode>;

/// A message received from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic, with any topic alias already resolved.
    pub topic: TopicName,
    /// The payload.
    pub payload: Bytes,
    /// The QoS it was delivered at.
    pub qos: QoS,
    /// Whether it is a retained message.
    pub retain: bool,
    /// Whether the server marked it as a possible duplicate.
    pub dup: bool,
    /// v5 properties (topic alias removed; subscription identifiers kept).
    pub properties: PublishProperties,
    /// With manual acknowledgement, the token to pass to
    /// [`Session::ack`](super::Session::ack). `None` for QoS 0 or automatic acks.
    pub ack: Option<AckToken>,
}

impl Message {
    /// The subscription identifiers the server attached (v5).
    pub fn subscription_ids(&self) -> &[NonZeroU32] {
        &self.properties.subscription_identifiers
    }
}

/// Proof that a received QoS 1/2 message awaits the application's ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AckToken {
    pub(crate) seq: u64,
}

/// The server's limits and features as the CONNACK set them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// How many QoS 1/2 publishes may be unacknowledged at once.
    pub receive_maximum: u16,
    /// Highest QoS the server accepts.
    pub maximum_qos: QoS,
    /// Whether retained messages are supported.
    pub retain_available: bool,
    /// Largest packet the server accepts.
    pub maximum_packet_size: u32,
    /// Highest topic alias the server accepts.
    pub topic_alias_maximum: u16,
    /// Wildcard subscriptions supported.
    pub wildcard_subscription_available: bool,
    /// Subscription identifiers supported.
    pub subscription_identifiers_available: bool,
    /// Shared subscriptions supported.
    pub shared_subscription_available: bool,
    /// The keep alive in force, in seconds (the server's if it sent one).
    pub keep_alive: u16,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            receive_maximum: u16::MAX,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            maximum_packet_size: crate::codec::VBI_MAX + 5,
            topic_alias_maximum: 0,
            wildcard_subscription_available: true,
            subscription_identifiers_available: true,
            shared_subscription_available: true,
            keep_alive: 0,
        }
    }
}

/// An event for the application.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The server accepted the connection.
    Connected {
        /// Whether the server resumed our session.
        session_present: bool,
        /// The client identifier in force (the server's if it assigned one).
        client_id: String,
        /// The limits in force.
        limits: ServerLimits,
        /// The whole CONNACK, for every other property.
        connack: ConnAck,
    },
    /// The server resumed no session although we had one: our subscriptions
    /// are gone on the server, and the application may subscribe again.
    SubscriptionsLost {
        /// The subscriptions we had.
        subscriptions: Vec<(TopicFilter, crate::codec::SubscriptionOptions)>,
    },
    /// A message arrived.
    Message(Message),
    /// A publish finished: QoS 0 when encoded for the transport, QoS 1 on
    /// PUBACK, QoS 2 on PUBCOMP (or a failing PUBREC).
    PublishDone {
        /// The command.
        id: RequestId,
        /// The reason code and properties of the final acknowledgement, or why it failed.
        result: Result<(ReasonCode, AckProperties), CommandError>,
    },
    /// A SUBSCRIBE finished.
    SubscribeDone {
        /// The command.
        id: RequestId,
        /// One result per filter, in order, or why the whole command failed.
        result: Result<Vec<SubscribeResult>, CommandError>,
    },
    /// An UNSUBSCRIBE finished.
    UnsubscribeDone {
        /// The command.
        id: RequestId,
        /// One reason code per filter (v5; all Success in 3.1.1), or why it failed.
        result: Result<Vec<ReasonCode>, CommandError>,
    },
    /// A re-authentication finished.
    ReauthDone {
        /// The command.
        id: RequestId,
        /// Success, or why it failed.
        result: Result<(), CommandError>,
    },
    /// The connection ended; the driver closes the transport.
    Disconnected(DisconnectInfo),
}
