//! Where the connection stands ([`ConnectionStatus`], watchable) and what
//! happens to it ([`ConnectionEvent`], through [`Events`]).

use crate::codec::ReasonCode;
use std::fmt;
use std::time::Duration;
use tokio::sync::broadcast;

/// Where the connection stands, from [`Client::status`](super::Client::status)
/// or [`Client::watch_status`](super::Client::watch_status).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionStatus {
    /// The first connection is being made.
    Connecting,
    /// Connected, and accepted by the broker.
    Connected {
        /// Whether the broker resumed a session on this connection.
        session_present: bool,
        /// The server of this connection (`host:port`, or what the
        /// connector describes).
        server: String,
    },
    /// The connection was lost; the next attempt comes after a delay.
    Reconnecting {
        /// Failures since the last stable connection, from 1.
        attempt: u32,
        /// The server the next attempt goes to.
        server: String,
    },
    /// The client is closed for good: disconnected, dropped, refused for
    /// good, or out of reconnect attempts.
    Closed,
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionStatus::Connecting => f.write_str("connecting"),
            ConnectionStatus::Connected {
                session_present: true,
                server,
            } => write!(f, "connected to {server} (session resumed)"),
            ConnectionStatus::Connected { server, .. } => write!(f, "connected to {server}"),
            ConnectionStatus::Reconnecting { attempt, server } => {
                write!(f, "reconnecting to {server} (attempt {attempt})")
            }
            ConnectionStatus::Closed => f.write_str("closed"),
        }
    }
}

/// What happens to the connection, from [`Client::events`](super::Client::events).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// Connected (the first time).
    Connected {
        /// Whether the broker resumed a session.
        session_present: bool,
    },
    /// The connection was lost.
    ConnectionLost {
        /// Why, in words.
        reason: String,
    },
    /// The broker ended the connection with a DISCONNECT.
    DisconnectedByServer {
        /// Its v5 reason code.
        reason_code: ReasonCode,
        /// Its reason string.
        reason_string: Option<String>,
        /// Another server to use (0x9C Use another server, 0x9D Server
        /// moved); following it is not built yet.
        server_reference: Option<String>,
    },
    /// The broker refused a connection attempt (CONNACK 0x80 or above).
    Refused {
        /// The CONNACK reason code (3.1.1 return codes mapped to v5 ones).
        reason_code: ReasonCode,
        /// Its reason string.
        reason_string: Option<String>,
        /// Another server to use.
        server_reference: Option<String>,
    },
    /// A reconnect attempt is scheduled.
    Reconnecting {
        /// Failures since the last stable connection, from 1.
        attempt: u32,
        /// Delay before it.
        delay: Duration,
        /// The server it goes to: the next of the cluster's list, or the
        /// one a followed Server Reference named.
        server: String,
    },
    /// Connected again after a loss (under the reconnect policy).
    Reconnected {
        /// Whether the broker resumed the session.
        session_present: bool,
    },
    /// The broker had lost our session and granted our subscriptions
    /// again (reported on its SUBACKs).
    Resubscribed {
        /// How many filters were granted.
        filters: usize,
        /// Filters the broker refused this time, with its reason codes.
        refused: Vec<(String, ReasonCode)>,
    },
    /// The broker lost our session and restoring subscriptions is off.
    SubscriptionsLost {
        /// How many filters were lost.
        filters: usize,
    },
    /// Another connection with our client id took the session over (v5
    /// DISCONNECT 0x8E): this client stops instead of fighting for it.
    SessionTakenOver,
    /// A subscription's buffer is full: its QoS 1/2 messages wait
    /// unacknowledged and its QoS 0 messages are dropped until the
    /// application reads. Reported once until it has room again.
    SubscriptionFull {
        /// The subscription ([`Subscription::id`](super::Subscription::id);
        /// 0 is the unmatched stream).
        subscription: u64,
    },
    /// An incoming message over our maximum packet size was skipped
    /// unread (and acknowledged, so the broker does not send it again).
    MessageTooLarge {
        /// The topic of the skipped message.
        topic: String,
        /// Its size in bytes.
        size: usize,
    },
    /// This receiver fell behind and missed events.
    Missed {
        /// How many events this receiver missed.
        count: u64,
    },
    /// Reconnecting stopped after the maximum number of attempts (or a
    /// refusal that retrying cannot fix).
    GaveUp {
        /// Failures in a row counted when it stopped.
        attempts: u32,
    },
    /// The client is closed for good.
    Closed,
}

impl fmt::Display for ConnectionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ConnectionEvent as E;
        match self {
            E::Connected { session_present } => {
                write!(f, "connected (session present: {session_present})")
            }
            E::ConnectionLost { reason } => write!(f, "connection lost: {reason}"),
            E::DisconnectedByServer {
                reason_code,
                reason_string,
                server_reference,
            } => {
                write!(f, "disconnected by the broker: {reason_code}")?;
                why(f, reason_string.as_deref(), server_reference.as_deref())
            }
            E::Refused {
                reason_code,
                reason_string,
                server_reference,
            } => {
                write!(f, "connection refused: {reason_code}")?;
                why(f, reason_string.as_deref(), server_reference.as_deref())
            }
            E::Reconnecting {
                attempt,
                delay,
                server,
            } => write!(
                f,
                "reconnecting to {server} in {delay:?} (attempt {attempt})"
            ),
            E::Reconnected { session_present } => {
                write!(f, "reconnected (session present: {session_present})")
            }
            E::Resubscribed { filters, refused } => write!(
                f,
                "resubscribed to {filters} filters ({} refused)",
                refused.len()
            ),
            E::SubscriptionsLost { filters } => {
                write!(f, "the broker lost {filters} subscriptions")
            }
            E::SessionTakenOver => {
                f.write_str("session taken over by another connection with this client id")
            }
            E::SubscriptionFull { subscription } => {
                write!(f, "subscription {subscription} is full")
            }
            E::MessageTooLarge { topic, size } => write!(
                f,
                "skipped a message of {size} bytes on {topic}: over the maximum packet size"
            ),
            E::Missed { count } => write!(f, "missed {count} events"),
            E::GaveUp { attempts } => write!(f, "gave up reconnecting after {attempts} attempts"),
            E::Closed => f.write_str("closed"),
        }
    }
}

/// The broker's reason string and server reference, when it sent them.
fn why(
    f: &mut fmt::Formatter<'_>,
    reason_string: Option<&str>,
    server_reference: Option<&str>,
) -> fmt::Result {
    if let Some(s) = reason_string {
        write!(f, " ({s})")?;
    }
    if let Some(s) = server_reference {
        write!(f, ", use server {s}")?;
    }
    Ok(())
}

/// A receiver of [`ConnectionEvent`]s. It never ends early because it lags:
/// a receiver that falls more than 32 events behind gets
/// [`ConnectionEvent::Missed`] and carries on.
#[derive(Debug)]
pub struct Events {
    rx: broadcast::Receiver<ConnectionEvent>,
}

impl Events {
    pub(crate) fn new(rx: broadcast::Receiver<ConnectionEvent>) -> Self {
        Events { rx }
    }

    /// The next event; `None` once the client is closed and every event
    /// was read.
    pub async fn recv(&mut self) -> Option<ConnectionEvent> {
        match self.rx.recv().await {
            Ok(e) => Some(e),
            Err(broadcast::error::RecvError::Lagged(count)) => {
                Some(ConnectionEvent::Missed { count })
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<ConnectionEvent> {
        match self.rx.try_recv() {
            Ok(e) => Some(e),
            Err(broadcast::error::TryRecvError::Lagged(count)) => {
                Some(ConnectionEvent::Missed { count })
            }
            Err(_) => None,
        }
    }
}
