//! # tern-mqtt
//!
//! An MQTT 3.1.1 and 5.0 client library: one code path for both versions,
//! every operation async and completed when the protocol says it is done.
//!
//! ```no_run
//! use tern_mqtt::{Client, ConnectOptions, QoS};
//!
//! # async fn run() -> Result<(), tern_mqtt::Error> {
//! let client = Client::connect(ConnectOptions::new("mqtt://localhost:1883")?).await?;
//! let mut readings = client.subscribe("sensors/+/temperature", QoS::AtLeastOnce).await?;
//! // Resolves on PUBACK, with the broker's reason code.
//! client.publish("sensors/kitchen/temperature", "21.5", QoS::AtLeastOnce, false).await?;
//! while let Some(msg) = readings.recv().await {
//!     println!("{}: {:?}", msg.topic, msg.payload);
//! }
//! # Ok(()) }
//! ```
//!
//! The crate is layered, and dependencies point one way:
//!
//! - [`codec`]: every control packet of both versions, decoded with nom and
//!   encoded through one writer; pure functions over bytes.
//! - [`session`]: the sans-IO protocol engine: QoS flows, packet ids, flow
//!   control, keep alive, the graceful disconnect deadline, topic aliases,
//!   session resumption and restoring subscriptions, enhanced
//!   authentication. It takes bytes, commands and `now`; it gives bytes,
//!   events and its next deadline. It never reads the clock or does I/O.
//! - [`store`]: durable sessions: what the engine asks to keep across a
//!   process restart, and the stores (in memory, and redb on disk) that
//!   keep it.
//! - [`topic`]: validated topic names and filters, and wildcard matching.
//! - [`client`] and [`transport`]: the only async code: one tokio task per
//!   connection drives the engine over any byte stream a
//!   [`transport::Connector`] opens (TCP, rustls TLS, WebSocket, a Unix
//!   socket, through an HTTP CONNECT proxy, or the application's own), with
//!   the reconnect policy, cluster failover, byte-budgeted subscription
//!   streams and metrics.
#![deny(missing_docs)]
// The library has no unsafe code, and never will (the crate-wide lint is
// `deny` only so that a test may count allocations with a GlobalAlloc).
#![forbid(unsafe_code)]
// Network input reaches the library: no unwrap, expect, panic, indexing or
// truncating casts in it. Its own unit tests may use them.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::cast_possible_truncation
    )
)]

pub mod client;
pub mod codec;
mod error;
pub mod session;
pub mod store;
pub mod topic;
pub mod transport;

pub use client::{
    Client, ConnectOptions, ConnectionEvent, ConnectionStatus, Credentials, Message,
    PublishCompletions, PublishOutcome, Publisher, ReconnectOptions, Subscription,
};
pub use codec::{QoS, ReasonCode, Will};
pub use error::Error;
pub use session::PublishCommand;
pub use store::{StoreRecovery, WritePolicy};

/// Everything an application needs, in one import:
/// `use tern_mqtt::prelude::*;`. The same types are at the crate root.
///
/// ```no_run
/// use tern_mqtt::prelude::*;
///
/// # async fn run() -> Result<(), Error> {
/// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
/// client.publish("gateways/7/hello", "hi", QoS::AtLeastOnce, false).await?;
/// # Ok(()) }
/// ```
pub mod prelude {
    pub use crate::{
        Client, ConnectOptions, ConnectionEvent, ConnectionStatus, Credentials, Error, Message,
        PublishCommand, PublishCompletions, PublishOutcome, Publisher, QoS, ReasonCode,
        ReconnectOptions, StoreRecovery, Subscription, Will, WritePolicy,
    };
}
