//! The async client on tokio: the public handle, one driver task per
//! connection, per-subscription streams, automatic reconnect.
//!
//! ```no_run
//! use tern_mqtt::client::{Client, ConnectOptions};
//! use tern_mqtt::codec::QoS;
//!
//! # async fn run() -> Result<(), tern_mqtt::Error> {
//! let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
//! let mut sub = client.subscribe("sensors/+/temperature", QoS::AtLeastOnce).await?;
//! client.publish("sensors/kitchen/temperature", "21.5", QoS::AtLeastOnce, false).await?;
//! if let Some(msg) = sub.recv().await {
//!     println!("{} = {:?}", msg.topic, msg.payload);
//! }
//! client.disconnect().await?;
//! # Ok(()) }
//! ```

mod driver;
mod options;
mod reconnect;
mod router;
mod subscription;

pub use options::{ConnectOptions, Credentials, ReconnectHook, ReconnectOptions};
pub use subscription::Subscription;

use crate::codec::{
    AckProperties, PublishProperties, QoS, ReasonCode, SubscribeProperties, SubscriptionOptions,
};
use crate::session::{AckToken, PublishCommand, SubscribeResult};
use crate::topic::{TopicFilter, TopicName};
use crate::Error;
use bytes::Bytes;
use driver::Command;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

/// The outcome of a completed publish: the reason code of its final
/// acknowledgement (Success for QoS 0) and the broker's properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOutcome {
    /// PUBACK / PUBCOMP reason code (v5); Success in 3.1.1.
    pub reason_code: ReasonCode,
    /// Reason string and user properties (v5).
    pub properties: AckProperties,
}

/// A message from the broker.
#[derive(Debug, Clone)]
pub struct Message {
    /// Topic.
    pub topic: TopicName,
    /// Payload.
    pub payload: Bytes,
    /// QoS it was delivered at.
    pub qos: QoS,
    /// Retained message.
    pub retain: bool,
    /// Possible duplicate.
    pub dup: bool,
    /// v5 properties, subscription identifiers included.
    pub properties: PublishProperties,
    ack: Option<AckHandle>,
}

impl Message {
    /// With manual acks, acknowledges the message (PUBACK or PUBREC goes out
    /// in the order the spec requires). Does nothing otherwise.
    pub fn ack(&self) {
        if let Some(h) = &self.ack {
            let _ = h.tx.send(Command::Ack {
                token: h.token,
                reason_code: ReasonCode::SUCCESS,
            });
        }
    }

    /// With manual acks on v5, refuses the message with a reason code of
    /// 0x80 or above.
    pub fn reject(&self, reason_code: ReasonCode) {
        if let Some(h) = &self.ack {
            let _ = h.tx.send(Command::Ack {
                token: h.token,
                reason_code,
            });
        }
    }

    /// Whether the message awaits a manual ack.
    pub fn needs_ack(&self) -> bool {
        self.ack.is_some()
    }
}

#[derive(Debug, Clone)]
struct AckHandle {
    token: AckToken,
    tx: mpsc::UnboundedSender<Command>,
}

/// What happens to the connection, for [`Client::events`].
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
        /// Another server to use.
        server_reference: Option<String>,
    },
    /// A reconnect attempt is scheduled.
    Reconnecting {
        /// Attempt number, from 1.
        attempt: u32,
        /// Delay before it.
        delay: std::time::Duration,
    },
    /// Connected again.
    Reconnected {
        /// Whether the broker resumed the session.
        session_present: bool,
    },
    /// Subscriptions were sent again because the broker lost the session.
    Resubscribed {
        /// How many filters.
        filters: usize,
    },
    /// Reconnecting stopped after the maximum number of attempts.
    GaveUp {
        /// Attempts made.
        attempts: u32,
    },
    /// The client disconnected for good.
    Closed,
}

/// A handle to one MQTT connection. Cheap to clone; every clone talks to
/// the same connection task.
#[derive(Debug, Clone)]
pub struct Client {
    tx: mpsc::UnboundedSender<Command>,
    publish_slots: Arc<Semaphore>,
    events: broadcast::Sender<ConnectionEvent>,
    buffer: usize,
}

fn closed<T>(_: T) -> Error {
    Error::Closed
}

impl Client {
    /// Connects and returns once the broker has accepted the connection
    /// (CONNACK with success), or fails with the reason.
    pub async fn connect(options: ConnectOptions) -> Result<Client, Error> {
        let (events, _) = broadcast::channel(64);
        let publish_slots = Arc::new(Semaphore::new(options.publish_queue));
        let buffer = options.subscription_buffer;
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let driver = driver::Driver::new(options, rx, tx.clone(), events.clone());
        tokio::spawn(driver.run(ready_tx));
        ready_rx.await.map_err(closed)??;
        Ok(Client {
            tx,
            publish_slots,
            events,
            buffer,
        })
    }

    /// Connection events: lost, reconnecting, reconnected, disconnected by
    /// the server. Each is also logged through `tracing`.
    pub fn events(&self) -> broadcast::Receiver<ConnectionEvent> {
        self.events.subscribe()
    }

    /// Publishes and waits until the QoS is done: QoS 0 once written for the
    /// transport, QoS 1 on PUBACK, QoS 2 on PUBCOMP. Dropping the returned
    /// future after the message was handed to the connection task neither
    /// cancels nor corrupts the publish.
    pub async fn publish(
        &self,
        topic: &str,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> Result<PublishOutcome, Error> {
        let cmd = PublishCommand::new(TopicName::new(topic)?, payload, qos).retain(retain);
        self.publish_command(cmd).await
    }

    /// Publishes a message built with every v5 property.
    pub async fn publish_command(&self, cmd: PublishCommand) -> Result<PublishOutcome, Error> {
        let permit = self
            .publish_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(closed)?;
        self.send_publish(cmd, permit)?.await
    }

    /// Queues a publish without waiting for room: fails with
    /// [`Error::QueueFull`] when the publish queue is at its bound. The
    /// returned future resolves as [`publish`](Self::publish) does.
    pub fn try_publish(
        &self,
        cmd: PublishCommand,
    ) -> Result<
        impl std::future::Future<Output = Result<PublishOutcome, Error>> + Send + 'static,
        Error,
    > {
        let permit = self
            .publish_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::QueueFull)?;
        self.send_publish(cmd, permit)
    }

    fn send_publish(
        &self,
        cmd: PublishCommand,
        permit: OwnedSemaphorePermit,
    ) -> Result<
        impl std::future::Future<Output = Result<PublishOutcome, Error>> + Send + 'static,
        Error,
    > {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Publish { cmd, reply, permit })
            .map_err(closed)?;
        Ok(async move { rx.await.map_err(closed)? })
    }

    /// Subscribes to one filter.
    pub async fn subscribe(&self, filter: &str, qos: QoS) -> Result<Subscription, Error> {
        self.subscribe_many(
            vec![(TopicFilter::new(filter)?, SubscriptionOptions::qos(qos))],
            SubscribeProperties::default(),
        )
        .await
    }

    /// Subscribes to several filters with full options; resolves on SUBACK.
    /// The [`Subscription`] receives every message matching any of its
    /// filters; [`Subscription::results`] has the broker's answer per filter.
    /// It fails when the broker refused every filter.
    pub async fn subscribe_many(
        &self,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: SubscribeProperties,
    ) -> Result<Subscription, Error> {
        let (msg_tx, msg_rx) = mpsc::channel(self.buffer);
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Subscribe {
                filters: filters.clone(),
                properties,
                messages: msg_tx,
                reply,
            })
            .map_err(closed)?;
        let (id, results): (u64, Vec<SubscribeResult>) = rx.await.map_err(closed)??;
        Ok(Subscription::new(
            id,
            filters,
            results,
            msg_rx,
            self.tx.clone(),
        ))
    }

    /// A stream of the messages that match no subscription (for example
    /// ones the broker sends for a session resumed from before this
    /// process). Messages that arrive before this call are kept for it (up
    /// to the subscription buffer;
    /// beyond it, and when no such stream is open, such messages are
    /// acknowledged and dropped with a `tracing` warning: reading from the
    /// broker never waits for this stream). Only the latest call's stream
    /// receives them.
    pub async fn unmatched(&self) -> Result<Subscription, Error> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::CatchAll { reply }).map_err(closed)?;
        let messages = rx.await.map_err(closed)?;
        Ok(Subscription::new(
            0,
            Vec::new(),
            Vec::new(),
            messages,
            self.tx.clone(),
        ))
    }

    /// Unsubscribes from filters directly (subscriptions also unsubscribe
    /// when dropped). Resolves on UNSUBACK with a reason code per filter.
    pub async fn unsubscribe(&self, filters: &[&str]) -> Result<Vec<ReasonCode>, Error> {
        let filters = filters
            .iter()
            .map(|f| TopicFilter::new(f))
            .collect::<Result<Vec<_>, _>>()?;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Unsubscribe { filters, reply })
            .map_err(closed)?;
        rx.await.map_err(closed)?
    }

    /// Re-authenticates (v5 enhanced authentication).
    pub async fn reauthenticate(&self) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Reauth { reply }).map_err(closed)?;
        rx.await.map_err(closed)?
    }

    /// Disconnects: waits (up to the disconnect timeout) for in-flight QoS
    /// 1/2 publishes, then sends DISCONNECT with Normal disconnection.
    pub async fn disconnect(&self) -> Result<(), Error> {
        self.disconnect_with(ReasonCode::NORMAL_DISCONNECTION).await
    }

    /// Disconnects with a v5 reason code; 0x04 asks the broker to publish the will.
    pub async fn disconnect_with(&self, reason_code: ReasonCode) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Disconnect { reason_code, reply })
            .map_err(closed)?;
        rx.await.map_err(closed)?
    }

    /// Drops the connection without DISCONNECT, as a crash would (the broker
    /// publishes the will). For tests and failover drills.
    pub async fn abort(&self) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Abort { reply }).map_err(closed)?;
        rx.await.map_err(closed)
    }
}
