//! What the engine tells its driver: application events, command results
//! and errors.

use crate::codec::{
    AckProperties, BoxedPublishProperties, ConnAck, DecodeError, DisconnectProperties, EncodeError,
    QoS, ReasonCode,
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
        /// What happened, in a few words, such as `"unexpected AUTH"`.
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
    /// The server closed the connection (closed the transport, or sent
    /// DISCONNECT) right after this QoS 1/2 message was sent, `attempts`
    /// times in a row (see
    /// [`SessionConfig::max_publish_strikes`](super::SessionConfig::max_publish_strikes)):
    /// a server that cannot take it (too large, not authorised) and says so
    /// only by closing, as 3.1.1 servers do. It is not sent again.
    #[error("the server closed the connection each time this message was sent ({attempts} times)")]
    RejectedByServer {
        /// How many connections ended right after it was sent.
        attempts: u32,
    },
}

/// How a QoS 1/2 publish was acknowledged: the `Ok` value of
/// [`Event::PublishDone`]. A QoS 0 publish completes with `SUCCESS`, no
/// properties and `pubcomp_lost: false` once encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishAcked {
    /// The reason code of the final acknowledgement (PUBACK, or PUBCOMP for
    /// QoS 2), below 0x80. Always `SUCCESS` in 3.1.1, and when
    /// `pubcomp_lost` is true.
    pub reason_code: ReasonCode,
    /// The reason string and user properties of that acknowledgement (v5;
    /// empty when `pubcomp_lost` is true).
    pub properties: AckProperties,
    /// True for a QoS 2 message whose PUBREC (success) arrived, but whose
    /// PUBCOMP never will because the server lost our session (CONNACK
    /// with Session Present 0, or a connection ended with a session that is
    /// not kept under [`SessionLostPolicy::Fail`](super::SessionLostPolicy::Fail)).
    /// The server had received the message, so it counts as delivered and
    /// is never sent again, under either policy.
    pub pubcomp_lost: bool,
}

impl PublishAcked {
    /// A plain success: what QoS 0 completes with.
    pub(crate) fn success() -> Self {
        PublishAcked {
            reason_code: ReasonCode::SUCCESS,
            properties: AckProperties::default(),
            pubcomp_lost: false,
        }
    }

    /// A QoS 2 exchange whose PUBCOMP the lost session will never send.
    pub(crate) fn settled_without_pubcomp() -> Self {
        PublishAcked {
            pubcomp_lost: true,
            ..PublishAcked::success()
        }
    }
}

/// What the server granted for one filter of a SUBSCRIBE.
pub type SubscribeResult = Result<QoS, ReasonCode>;

/// A message received from the server, as the engine hands it over (the
/// async client turns each one into a [`crate::Message`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The topic, with any topic alias already resolved.
    pub topic: TopicName,
    /// The payload, as the server sent it, possibly empty; it shares the
    /// receive buffer instead of being copied.
    pub payload: Bytes,
    /// The QoS it was delivered at.
    pub qos: QoS,
    /// Whether it is a retained message.
    pub retain: bool,
    /// Whether the server marked it as a possible duplicate.
    pub dup: bool,
    /// v5 properties (topic alias removed; subscription identifiers kept),
    /// out of line: nothing is allocated when there are none.
    pub properties: BoxedPublishProperties,
    /// With manual acknowledgement, the token to pass to
    /// [`Session::ack`](super::Session::ack). `None` for QoS 0 or automatic acks.
    pub ack: Option<AckToken>,
}

impl Delivery {
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
        /// The whole CONNACK, for every other property; boxed, so that the
        /// rare connect does not size every event.
        connack: Box<ConnAck>,
    },
    /// The server resumed no session although we had subscriptions, and
    /// [`SessionConfig::restore_subscriptions`](super::SessionConfig::restore_subscriptions)
    /// is false: they are gone on the server and forgotten by the session;
    /// the application may subscribe again.
    SubscriptionsLost {
        /// The subscriptions we had.
        subscriptions: Vec<(TopicFilter, crate::codec::SubscriptionOptions)>,
    },
    /// The subscriptions the session restored by itself after the server
    /// resumed no session (with
    /// [`SessionConfig::restore_subscriptions`](super::SessionConfig::restore_subscriptions))
    /// are all answered: the granted ones are back in
    /// [`Session::subscriptions`](super::Session::subscriptions). Emitted
    /// once per restoration, however many connections it took.
    SubscriptionsRestored {
        /// How many filters were re-subscribed.
        filters: usize,
        /// The filters the server refused this time (or that could no longer
        /// be sent, with the reason code of the limit that stopped them);
        /// they are no longer subscribed.
        refused: Vec<(TopicFilter, ReasonCode)>,
    },
    /// A PUBLISH larger than our
    /// [`maximum_packet_size`](super::SessionConfig::maximum_packet_size)
    /// was skipped as it arrived (never buffered whole) and acknowledged,
    /// so the server does not send it again; the connection goes on.
    MessageDiscarded {
        /// The topic name of the discarded message.
        topic: TopicName,
        /// The QoS it arrived at; at QoS 1 and 2 it was acknowledged all the same.
        qos: QoS,
        /// Its size in bytes, fixed header included.
        size: usize,
    },
    /// A message arrived.
    Message(Delivery),
    /// A publish finished: QoS 0 when encoded for the transport, QoS 1 on
    /// PUBACK, QoS 2 on PUBCOMP (or a failing PUBREC). A QoS 2 message whose
    /// PUBREC arrived completes `Ok` with
    /// [`pubcomp_lost`](PublishAcked::pubcomp_lost) set when the server loses
    /// the session before its PUBCOMP: it is not sent again.
    PublishDone {
        /// The id [`Session::publish`](super::Session::publish) returned.
        id: RequestId,
        /// How the final acknowledgement went, or why the publish failed.
        result: Result<PublishAcked, CommandError>,
    },
    /// A SUBSCRIBE finished.
    SubscribeDone {
        /// The id [`Session::subscribe`](super::Session::subscribe) returned.
        id: RequestId,
        /// One result per filter, in order, or why the whole command failed.
        result: Result<Vec<SubscribeResult>, CommandError>,
    },
    /// An UNSUBSCRIBE finished.
    UnsubscribeDone {
        /// The id [`Session::unsubscribe`](super::Session::unsubscribe) returned.
        id: RequestId,
        /// One reason code per filter (v5; all Success in 3.1.1), or why it failed.
        result: Result<Vec<ReasonCode>, CommandError>,
    },
    /// A re-authentication finished.
    ReauthDone {
        /// The id [`Session::reauthenticate`](super::Session::reauthenticate)
        /// returned.
        id: RequestId,
        /// Success, or why it failed.
        result: Result<(), CommandError>,
    },
    /// The connection ended; the driver closes the transport.
    Disconnected(DisconnectInfo),
}
