//! How the engine connects: everything that goes into CONNECT, plus the
//! engine's own policies and limits.

use super::auth::Authenticator;
use crate::codec::{MqttString, ProtocolVersion, UserProperty, Will};
use bytes::Bytes;
use std::fmt;
use std::time::Duration;

/// What to do with QoS 1/2 publishes in flight when the server did not keep
/// our session.
///
/// Under either policy, a QoS 2 publish whose PUBREC (success) had arrived
/// is not sent again: the server had received it. It completes with
/// `Ok(PublishAcked { pubcomp_lost: true, .. })` (see
/// [`PublishAcked`](super::PublishAcked)) when a CONNACK says Session
/// Present 0, or, under `Fail`, when a connection ends with a session that
/// is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionLostPolicy {
    /// Send them again as new messages (DUP=0) on the new session, in their
    /// order, before anything queued later. QoS 1 stays at-least-once; a
    /// QoS 2 message whose PUBREC had not arrived may be delivered twice if
    /// the old session had received it, which the server can no longer
    /// prevent once it has lost the session.
    #[default]
    Resend,
    /// Fail them with [`CommandError::SessionLost`](super::CommandError::SessionLost)
    /// or [`CommandError::SessionExpired`](super::CommandError::SessionExpired).
    Fail,
}

/// The engine's configuration.
pub struct SessionConfig {
    /// Protocol version: MQTT 5.0 by default, or 3.1.1. In 3.1.1 the CONNECT
    /// carries no properties, so the v5-only fields below are not sent.
    pub version: ProtocolVersion,
    /// Client Identifier; empty asks the server to assign one.
    pub client_id: MqttString,
    /// Clean Start (v5) / Clean Session (3.1.1) for the first connection.
    /// Later connections resume the session whenever it is kept.
    pub clean_start: bool,
    /// Keep Alive in seconds; 0 turns it off.
    pub keep_alive: u16,
    /// How long to wait for any packet after a PINGREQ; `None` means the
    /// keep-alive interval itself.
    pub ping_timeout: Option<Duration>,
    /// How long to wait for CONNACK after the CONNECT is sent.
    pub connect_timeout: Duration,
    /// Session Expiry Interval in seconds (v5). In 3.1.1 a session is kept
    /// exactly when `clean_start` is false.
    pub session_expiry_interval: u32,
    /// The Will Message.
    pub will: Option<Will>,
    /// User Name sent in the CONNECT; `None` (the default) sends none.
    pub username: Option<MqttString>,
    /// Password sent in the CONNECT; `None` (the default) sends none. In
    /// 3.1.1 a password needs a user name [MQTT-3.1.2-22], or the CONNECT
    /// cannot be encoded.
    pub password: Option<Bytes>,
    /// How many QoS 1/2 publishes we accept unacknowledged from the server.
    pub receive_maximum: u16,
    /// Largest packet we accept.
    pub maximum_packet_size: u32,
    /// Highest topic alias we accept from the server (0: none).
    pub topic_alias_maximum: u16,
    /// Whether to use topic aliases on what we publish, when the server allows them.
    pub outgoing_topic_aliases: bool,
    /// Ask the server for Response Information.
    pub request_response_information: bool,
    /// Allow reason strings and user properties on failures.
    pub request_problem_information: bool,
    /// User Properties of the CONNECT.
    pub user_properties: Vec<UserProperty>,
    /// Enhanced authentication (v5, section 4.12); `None` (the default) uses
    /// none. With one, the CONNECT carries its Authentication Method and
    /// initial data, and each AUTH challenge of the server goes to it.
    pub authenticator: Option<Box<dyn Authenticator>>,
    /// Whether the application acknowledges each QoS 1/2 message itself.
    pub manual_acks: bool,
    /// What to do with in-flight publishes when the server lost the session.
    pub session_lost_policy: SessionLostPolicy,
    /// Whether the session subscribes again by itself, when a CONNACK says
    /// the server holds no session for us (Session Present 0) while we had
    /// subscriptions. Default `true`: the SUBSCRIBEs go out first on the new
    /// connection, before anything queued, each filter with the options it
    /// was first asked with (without its subscription identifier if the
    /// server no longer supports them), and
    /// [`Event::SubscriptionsRestored`](super::Event::SubscriptionsRestored)
    /// reports the outcome. `false`: the session forgets them and reports
    /// [`Event::SubscriptionsLost`](super::Event::SubscriptionsLost), for the
    /// application to subscribe again.
    pub restore_subscriptions: bool,
    /// After how many connections in a row the server closed (closing the
    /// transport, or sending DISCONNECT) right after the same QoS 1/2
    /// PUBLISH was the first one sent since the server's last packet, that
    /// publish fails with
    /// [`CommandError::RejectedByServer`](super::CommandError::RejectedByServer)
    /// instead of being sent yet again. A 3.1.1 server can refuse a message
    /// (too large, not authorised) only by closing, and would otherwise be
    /// sent it after every reconnect, forever. Default 10: a network that
    /// cuts connections right after they open (the first packet after
    /// CONNECT is the oldest message in flight) hits one message a few
    /// times in a row by chance, and must not make it fail; ten in a row
    /// is a server's decision. The reconnect backoff keeps those attempts
    /// apart (about a minute for ten). 0 turns it off.
    pub max_publish_strikes: u32,
}

impl SessionConfig {
    /// A configuration with the defaults: MQTT 5.0, clean start, keep alive
    /// 60 s, connect timeout 30 s, no session expiry, receive maximum 65,535,
    /// maximum packet size 1 MiB, topic alias maximum 16 both ways,
    /// subscriptions restored by the session, a publish given up after 10
    /// connections in a row the server closed on it.
    pub fn new(client_id: MqttString) -> Self {
        SessionConfig {
            version: ProtocolVersion::V5,
            client_id,
            clean_start: true,
            keep_alive: 60,
            ping_timeout: None,
            connect_timeout: Duration::from_secs(30),
            session_expiry_interval: 0,
            will: None,
            username: None,
            password: None,
            receive_maximum: u16::MAX,
            maximum_packet_size: 1024 * 1024,
            topic_alias_maximum: 16,
            outgoing_topic_aliases: true,
            request_response_information: false,
            request_problem_information: true,
            user_properties: Vec::new(),
            authenticator: None,
            manual_acks: false,
            session_lost_policy: SessionLostPolicy::Resend,
            restore_subscriptions: true,
            max_publish_strikes: 10,
        }
    }

    /// Whether the server keeps the session after the connection closes.
    pub(crate) fn session_kept(&self) -> bool {
        match self.version {
            ProtocolVersion::V311 => !self.clean_start,
            ProtocolVersion::V5 => self.session_expiry_interval > 0,
        }
    }
}

impl SessionConfig {
    /// A copy of every setting but the authenticator, which cannot be
    /// copied (the client shares one between clones of its options).
    pub(crate) fn clone_without_authenticator(&self) -> SessionConfig {
        SessionConfig {
            version: self.version,
            client_id: self.client_id.clone(),
            clean_start: self.clean_start,
            keep_alive: self.keep_alive,
            ping_timeout: self.ping_timeout,
            connect_timeout: self.connect_timeout,
            session_expiry_interval: self.session_expiry_interval,
            will: self.will.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            receive_maximum: self.receive_maximum,
            maximum_packet_size: self.maximum_packet_size,
            topic_alias_maximum: self.topic_alias_maximum,
            outgoing_topic_aliases: self.outgoing_topic_aliases,
            request_response_information: self.request_response_information,
            request_problem_information: self.request_problem_information,
            user_properties: self.user_properties.clone(),
            authenticator: None,
            manual_acks: self.manual_acks,
            session_lost_policy: self.session_lost_policy,
            restore_subscriptions: self.restore_subscriptions,
            max_publish_strikes: self.max_publish_strikes,
        }
    }
}

impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("version", &self.version)
            .field("client_id", &self.client_id)
            .field("clean_start", &self.clean_start)
            .field("keep_alive", &self.keep_alive)
            .field("session_expiry_interval", &self.session_expiry_interval)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("receive_maximum", &self.receive_maximum)
            .field("maximum_packet_size", &self.maximum_packet_size)
            .field("topic_alias_maximum", &self.topic_alias_maximum)
            .field(
                "authenticator",
                &self.authenticator.as_ref().map(|a| a.method().to_owned()),
            )
            .field("manual_acks", &self.manual_acks)
            .finish_non_exhaustive()
    }
}
