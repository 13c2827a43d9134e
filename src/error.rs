//! The public error type of the async client.

use crate::codec::{ReasonCode, StringError};
use crate::session::{CommandError, ProtocolError};
use crate::topic::TopicError;
use std::io;

/// Everything the client can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The broker URL (or a proxy URL) is not one of the forms listed in
    /// [`transport`](crate::transport).
    #[error("invalid broker URL {url:?}: {why}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A connect option was given a value MQTT cannot carry (a NUL
    /// character, more than 65,535 bytes, or not UTF-8). The
    /// [`ConnectOptions`](crate::ConnectOptions) setters record the first
    /// such value, and [`Client::connect`](crate::Client::connect) fails
    /// with it before any I/O: nothing is silently replaced or dropped.
    #[error("invalid {option}: {why}")]
    InvalidOption {
        /// The option, as its setter is named: `client_id`, `username`,
        /// `password`, `user_property`.
        option: &'static str,
        /// What is wrong with the value.
        why: StringError,
    },
    /// A string given to a builder (a user property, a content type) is
    /// not a valid MQTT string.
    #[error("invalid MQTT string: {0}")]
    InvalidString(#[from] StringError),
    /// A topic name or filter is invalid.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// The network failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// TLS failed; the variant says how.
    #[cfg(feature = "tls")]
    #[error(transparent)]
    Tls(#[from] crate::transport::TlsError),
    /// An HTTP CONNECT proxy did not open the tunnel (it refused, with its
    /// status line in `why`, or it broke off).
    #[error("HTTP proxy {proxy} did not tunnel to {target}: {why}")]
    Proxy {
        /// The proxy, without credentials.
        proxy: String,
        /// The `host:port` asked for.
        target: String,
        /// What went wrong.
        why: String,
    },
    /// The WebSocket upgrade failed (a status other than 101, no `mqtt`
    /// subprotocol, a bad header).
    #[error("WebSocket connection to {url} failed: {why}")]
    WebSocket {
        /// The URL tried, without its query.
        url: String,
        /// What went wrong.
        why: String,
    },
    /// `mqtts://` without the `tls` feature.
    #[error("mqtts:// needs the `tls` feature")]
    TlsNotEnabled,
    /// The broker refused the connection.
    #[error("the broker refused the connection: {reason_code}{}", reason_string.as_ref().map(|s| format!(" ({s})")).unwrap_or_default())]
    ConnectionRefused {
        /// The CONNACK reason code (3.1.1 return codes mapped to their v5 equivalents).
        reason_code: ReasonCode,
        /// The broker's reason string, if any.
        reason_string: Option<String>,
    },
    /// The broker or the connection broke the protocol.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A command failed (refused by the broker, lost with the session, ...).
    #[error(transparent)]
    Command(#[from] CommandError),
    /// Connecting took longer than the connect timeout.
    #[error("timed out connecting to the broker")]
    ConnectTimeout,
    /// The connection ended before the operation completed.
    #[error("the connection was closed{}", reason_code.map(|r| format!(": {r}")).unwrap_or_default())]
    ConnectionClosed {
        /// The v5 reason code of the DISCONNECT, if there was one.
        reason_code: Option<ReasonCode>,
    },
    /// The client was disconnected, or its driver has stopped.
    #[error("the client is closed")]
    Closed,
    /// The publish queue is full (from `try_publish`).
    #[error("the publish queue is full")]
    QueueFull,
    /// A batch with more messages than the publish queue has slots: it
    /// could never be queued whole.
    #[error("a batch of {len} publishes does not fit the publish queue of {publish_queue} slots")]
    BatchTooLarge {
        /// Messages in the batch.
        len: usize,
        /// The publish queue's slots (`ConnectOptions::publish_queue`).
        publish_queue: usize,
    },
    /// Not connected, and the offline queue is at its bound.
    #[error("not connected, and the offline queue holds {0} messages already")]
    OfflineQueueFull(usize),
    /// A live subscription of this client has this filter already.
    #[error("already subscribed to {filter:?} (a second SUBSCRIBE would replace the first one's options)")]
    AlreadySubscribed {
        /// The topic filter already subscribed, as written.
        filter: String,
    },
    /// Another connection with our client id took the session over (v5
    /// DISCONNECT 0x8E); the client stopped instead of fighting for it.
    #[error("another connection with this client id took the session over")]
    SessionTakenOver,
    /// The session store (see [`ConnectOptions::persist_to`](crate::ConnectOptions::persist_to))
    /// could not be opened, read back or written: the error names the file
    /// and the reason (a damaged or future-version store, an I/O failure).
    /// From `Client::connect` nothing was sent; later, the client stops.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Every reconnect attempt failed.
    #[error("gave up reconnecting after {attempts} attempts")]
    ReconnectGaveUp {
        /// How many attempts were made.
        attempts: u32,
    },
}

impl Error {
    /// A copy for one more waiter (I/O errors keep their kind and text,
    /// TLS errors their variant).
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::InvalidUrl { url, why } => Error::InvalidUrl {
                url: url.clone(),
                why,
            },
            Error::InvalidOption { option, why } => Error::InvalidOption { option, why: *why },
            Error::InvalidString(e) => Error::InvalidString(*e),
            Error::Topic(e) => Error::Topic(*e),
            Error::Io(e) => Error::Io(io::Error::new(e.kind(), e.to_string())),
            #[cfg(feature = "tls")]
            Error::Tls(e) => Error::Tls(e.clone()),
            Error::TlsNotEnabled => Error::TlsNotEnabled,
            Error::Proxy { proxy, target, why } => Error::Proxy {
                proxy: proxy.clone(),
                target: target.clone(),
                why: why.clone(),
            },
            Error::WebSocket { url, why } => Error::WebSocket {
                url: url.clone(),
                why: why.clone(),
            },
            Error::ConnectionRefused {
                reason_code,
                reason_string,
            } => Error::ConnectionRefused {
                reason_code: *reason_code,
                reason_string: reason_string.clone(),
            },
            Error::Protocol(e) => Error::Protocol(e.clone()),
            Error::Command(e) => Error::Command(e.clone()),
            Error::ConnectTimeout => Error::ConnectTimeout,
            Error::ConnectionClosed { reason_code } => Error::ConnectionClosed {
                reason_code: *reason_code,
            },
            Error::Closed => Error::Closed,
            Error::QueueFull => Error::QueueFull,
            Error::BatchTooLarge { len, publish_queue } => Error::BatchTooLarge {
                len: *len,
                publish_queue: *publish_queue,
            },
            Error::OfflineQueueFull(n) => Error::OfflineQueueFull(*n),
            Error::AlreadySubscribed { filter } => Error::AlreadySubscribed {
                filter: filter.clone(),
            },
            Error::SessionTakenOver => Error::SessionTakenOver,
            Error::Store(e) => Error::Store(e.duplicate()),
            Error::ReconnectGaveUp { attempts } => Error::ReconnectGaveUp {
                attempts: *attempts,
            },
        }
    }
}
