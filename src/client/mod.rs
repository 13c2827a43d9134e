//! The async client on tokio: the public handle, one driver task per
//! connection, per-subscription streams, automatic reconnect.
//!
//! ```no_run
//! use tern_mqtt::{Client, ConnectOptions, QoS};
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
//!
//! # Lifecycle
//!
//! [`Client`] is a cheap handle; every clone talks to one connection task.
//! When the last `Client` is dropped, the task sends DISCONNECT (Normal
//! disconnection, so the broker discards the will) once in-flight
//! exchanges finish or the disconnect timeout passes, ends, and never
//! reconnects. A live [`Subscription`] does not keep the connection up:
//! it yields what its buffer still holds, then `None`.
//!
//! # Flow control
//!
//! The connection never stops reading because the application is slow.
//! Each subscription (and the unmatched stream) buffers messages up to a
//! budget in bytes of decoded size
//! ([`ConnectOptions::subscription_buffer_bytes`], 1 MiB by default). A
//! QoS 1/2 message is acknowledged when it enters its buffer (with manual
//! acks, when the application acks it). When a buffer is full, further
//! QoS 1/2 messages for it are kept by the connection unacknowledged (so
//! later acknowledgements wait too, in the order the spec requires) until
//! the application reads; the broker's window (Receive Maximum in v5, its
//! in-flight limit in 3.1.1; per connection, so once held messages fill it
//! the broker holds back QoS 1/2 messages for every subscription) then
//! throttles delivery, while our own publishes, their acknowledgements and
//! pings keep flowing. The default budget takes a burst of thousands of
//! small messages to one idle subscription without holding anything back. A QoS 0
//! message that finds its buffer full makes room by dropping the oldest
//! QoS 0 messages in it, or is dropped itself when the buffer holds only
//! QoS 1/2 messages; [`Subscription::dropped`] counts them. A full buffer
//! is reported once per episode as [`ConnectionEvent::SubscriptionFull`].
//! No QoS 1/2 message is ever acknowledged and then dropped, except when
//! the application drops the [`Subscription`] it was buffered for.
//!
//! # Batches
//!
//! Every message handed over on its own costs a command to the connection
//! task, a reply and a slot of the publish queue. A publisher of bursts
//! (the readings of one scan) can pass them as one batch with
//! [`Client::publish_batch`] or [`Client::try_publish_batch`]: one command,
//! one claim of a slot per message and one reply with each message's
//! outcome, every message still completing as the protocol says. A reader
//! that stores in batches takes many messages per hand-over with
//! [`Subscription::recv_many`]. In the client-bound benchmark (README,
//! Benchmarks) the two together cost 19 to 37% less CPU per message
//! than `try_publish` and `recv`.
//!
//! # Reconnect and events
//!
//! A lost connection is made again under [`ReconnectOptions`] (on by
//! default): exponential backoff with jitter, stopping for good on refusals
//! that retrying cannot fix. Before each attempt the async reconnect hook
//! ([`ReconnectOptions::hook`]) may hand out fresh [`Credentials`]; after
//! a credentials refusal (0x86, 0x87, 0x8C) the client tries again only
//! when it does. Publishes made while offline wait in the offline queue
//! ([`OfflinePolicy`]). Subscriptions survive: the broker's session keeps
//! them, or the client subscribes again when the broker lost it.
//! [`Client::events`] reports every step ([`ConnectionEvent`]: lost,
//! reconnecting, reconnected, refused, resubscribed, full buffers, closed),
//! and [`Client::watch_status`] the current [`ConnectionStatus`].
//!
//! ```no_run
//! use tern_mqtt::prelude::*;
//!
//! # async fn run() -> Result<(), Error> {
//! let reconnect = ReconnectOptions::default().hook(|attempt| async move {
//!     println!("reconnect attempt {} (refused: {:?})", attempt.attempt, attempt.refused);
//!     None // keep the credentials in force
//! });
//! let options = ConnectOptions::new("mqtt://localhost")?.reconnect(reconnect);
//! let client = Client::connect(options).await?;
//! let mut events = client.events();
//! while let Some(event) = events.recv().await {
//!     println!("{event}");
//! }
//! # Ok(()) }
//! ```
//!
//! # Manual acks
//!
//! By default a QoS 1/2 message is acknowledged once its buffer holds it.
//! With [`ConnectOptions::manual_acks`] the application acknowledges each
//! one with [`Message::ack`] (or refuses it on v5 with
//! [`Message::reject`]) once it has processed it, for example after a
//! database commit; the broker sends it again after a reconnect until then.
//! Acks go out in the order the spec requires, whatever order the
//! application acks in. A message that reached several streams (a
//! subscription and [`Client::messages`]) carries one ack: the first ack of
//! any copy counts.
//!
//! ```no_run
//! use tern_mqtt::prelude::*;
//!
//! # async fn store(_: &Message) {}
//! # async fn run() -> Result<(), Error> {
//! let client = Client::connect(ConnectOptions::new("mqtt://localhost")?.manual_acks(true)).await?;
//! let mut orders = client.subscribe("orders/#", QoS::ExactlyOnce).await?;
//! while let Some(msg) = orders.recv().await {
//!     store(&msg).await;
//!     msg.ack(); // PUBREC goes out only now
//! }
//! # Ok(()) }
//! ```
//!
//! # Will
//!
//! A will ([`Will::new`](crate::Will::new), set with
//! [`ConnectOptions::will`]) is published by the broker when the
//! connection ends without a DISCONNECT: a crash, a cut network, a keep
//! alive that ran out, or [`Client::abort`]. [`Client::disconnect`] and
//! dropping the last `Client` discard it;
//! [`Client::disconnect_with`]`(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE)`
//! asks for it (v5). On v5 it may wait ([`Will::delay_interval`](crate::Will::delay_interval)).
//!
//! ```no_run
//! use tern_mqtt::prelude::*;
//!
//! # async fn run() -> Result<(), Error> {
//! let will = Will::new("gateways/7/status", "offline", QoS::AtLeastOnce, true)?.delay_interval(10);
//! let client = Client::connect(ConnectOptions::new("mqtt://localhost")?.will(will)).await?;
//! client.publish("gateways/7/status", "online", QoS::AtLeastOnce, true).await?;
//! # Ok(()) }
//! ```
//!
//! # Cancellation
//!
//! Every async method of [`Client`] is cancel-safe: dropping its future
//! (for example through `tokio::time::timeout` or `select!`) leaves the
//! client consistent, and each method says what becomes of its request.

mod batch;
mod cluster;
mod commands;
mod dispatch;
mod driver;
mod durable;
mod inbox;
mod io;
mod metrics;
mod options;
mod pending;
mod publisher;
mod reattach;
mod reconnect;
mod retry;
mod router;
mod slots;
mod status;
mod subscription;
mod written;

pub use batch::BatchOutcomes;
pub use options::{
    ConnectOptions, Credentials, OfflinePolicy, ReconnectAttempt, ReconnectHook, ReconnectOptions,
};
pub use publisher::{PublishCompletions, Publisher};
pub use status::{ConnectionEvent, ConnectionStatus, Events};
pub use subscription::Subscription;

use crate::codec::{
    AckProperties, BoxedPublishProperties, QoS, ReasonCode, SubscribeProperties,
    SubscriptionOptions,
};
use crate::session::{AckToken, PublishCommand};
use crate::topic::{TopicFilter, TopicName};
use crate::Error;
use bytes::Bytes;
use driver::Command;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Semaphore, SemaphorePermit, TryAcquireError};

/// The outcome of a completed publish: the reason code of its final
/// acknowledgement (Success for QoS 0) and the broker's properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOutcome {
    /// PUBACK / PUBCOMP reason code (v5); Success in 3.1.1.
    pub reason_code: ReasonCode,
    /// Reason string and user properties (v5).
    pub properties: AckProperties,
    /// True for a QoS 2 message whose PUBREC arrived but whose PUBCOMP
    /// never will, because the broker lost the session in between: the
    /// broker had received the message, so it is not sent again (sending
    /// it again could deliver it twice). Tell it apart from a plain
    /// success when exactly-once bookkeeping matters.
    pub pubcomp_lost: bool,
}

impl PublishOutcome {
    /// Success with no properties: a QoS 0 publish once written.
    pub(crate) fn success() -> Self {
        PublishOutcome {
            reason_code: ReasonCode::SUCCESS,
            properties: AckProperties::default(),
            pubcomp_lost: false,
        }
    }
}

/// A message from the broker.
#[derive(Debug, Clone)]
pub struct Message {
    /// The topic it was published to (a v5 topic alias already resolved).
    pub topic: TopicName,
    /// The application payload, as the publisher sent it (a cheap
    /// reference-counted slice of the received bytes).
    pub payload: Bytes,
    /// QoS it was delivered at.
    pub qos: QoS,
    /// True when the broker sent it as a retained message (on subscribe,
    /// or kept with Retain As Published).
    pub retain: bool,
    /// True when the broker marked it as a possible redelivery (DUP); a
    /// QoS 1 message may then arrive twice, a QoS 2 message never does.
    pub dup: bool,
    /// v5 properties, subscription identifiers included, out of line:
    /// nothing is allocated when there are none.
    pub properties: BoxedPublishProperties,
    ack: Option<AckHandle>,
}

impl Message {
    /// With manual acks, acknowledges the message (PUBACK or PUBREC goes out
    /// in the order the spec requires). Does nothing otherwise, or once the
    /// client is gone.
    pub fn ack(&self) {
        self.reject(ReasonCode::SUCCESS)
    }

    /// With manual acks on v5, refuses the message with a reason code of
    /// 0x80 or above (3.1.1 has no refusal: it acks).
    pub fn reject(&self, reason_code: ReasonCode) {
        if let Some(tx) = self.ack.as_ref().and_then(|h| h.tx.upgrade()) {
            if let Some(h) = &self.ack {
                let _ = tx.send(Command::Ack {
                    token: h.token,
                    reason_code,
                });
            }
        }
    }

    /// Whether the message awaits a manual ack.
    pub fn needs_ack(&self) -> bool {
        self.ack.is_some()
    }
}

/// The topic, QoS, size and flags; never the payload, which may hold
/// anything: `sensors/1/t (QoS 1, 4 bytes, retained)`.
impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, {} bytes",
            self.topic,
            self.qos,
            self.payload.len()
        )?;
        if self.retain {
            f.write_str(", retained")?;
        }
        if self.dup {
            f.write_str(", duplicate")?;
        }
        f.write_str(")")
    }
}

/// The reason code of the final acknowledgement: `Success (0x00)`, or
/// `No matching subscribers (0x10)`, with `(PUBCOMP lost)` when it was.
impl std::fmt::Display for PublishOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.reason_code)?;
        if self.pubcomp_lost {
            f.write_str(" (PUBCOMP lost)")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct AckHandle {
    token: AckToken,
    tx: mpsc::WeakUnboundedSender<Command>,
}

/// What every clone of one [`Client`] shares. Dropping the last one drops
/// the command sender, which tells the connection task to leave.
#[derive(Debug)]
struct Shared {
    tx: mpsc::UnboundedSender<Command>,
    publish_slots: Arc<Semaphore>,
    publish_queue: usize,
    /// A receiver kept only to make new ones from (the handles hold no
    /// sender, so the stream ends when the connection task does).
    events: Mutex<broadcast::Receiver<ConnectionEvent>>,
    /// The receiver made before the task started, for the first
    /// [`Client::events`] call: it has every event from the start.
    first_events: Mutex<Option<broadcast::Receiver<ConnectionEvent>>>,
    status: watch::Receiver<ConnectionStatus>,
    session_present: bool,
    /// Whether a session store makes publishes wait for durability.
    pub(crate) durable: bool,
    offline_policy: OfflinePolicy,
    client_id: String,
    broker: String,
    subscription_budget: usize,
    /// `tern_buffered_bytes`, for the buffers the handles make themselves.
    buffered: ::metrics::Gauge,
    /// The next id of a [`Client::messages`] stream (apart from the
    /// connection task's subscription ids, which count up from 1).
    next_tap: std::sync::atomic::AtomicU64,
}

/// The first id of a [`Client::messages`] stream.
const FIRST_TAP: u64 = 1 << 63;

/// A handle to one MQTT connection. Cheap to clone; every clone talks to
/// the same connection task, which ends when the last clone is dropped.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("broker", &self.shared.broker)
            .field("client_id", &self.shared.client_id)
            .field("status", &*self.shared.status.borrow())
            .finish()
    }
}

fn closed<T>(_: T) -> Error {
    Error::Closed
}

/// No free slot in the publish queue: [`Error::QueueFull`], or
/// [`Error::Closed`] once the connection task is gone.
fn no_slot(e: TryAcquireError) -> Error {
    match e {
        TryAcquireError::NoPermits => Error::QueueFull,
        TryAcquireError::Closed => Error::Closed,
    }
}

/// Events kept for a receiver that lags; one that falls further behind
/// gets [`ConnectionEvent::Missed`] instead of the oldest. The channel
/// allocates every slot up front (80 bytes each) for every connection, so
/// this is kept to a few reconnects' worth of events.
const EVENT_CAPACITY: usize = 32;

impl Client {
    /// Connects and returns once the broker has accepted the connection
    /// (CONNACK with success), or fails with the reason: the transport's
    /// error, [`Error::ConnectTimeout`], or [`Error::ConnectionRefused`]
    /// with the broker's reason code. With
    /// [`ReconnectOptions::retry_first_connect`] the first connection is
    /// retried under the reconnect policy instead. Invalid options fail
    /// with [`Error::InvalidOption`] before any I/O.
    ///
    /// Cancel-safe: dropping the future before it resolves ends the
    /// connection task (it finds no handle and leaves).
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// assert!(client.is_connected());
    /// # Ok(()) }
    /// ```
    pub async fn connect(options: ConnectOptions) -> Result<Client, Error> {
        options.validate()?;
        let store = match options.persist_dir.clone() {
            Some(dir) => Some(
                durable::open_store(
                    dir,
                    options.session.version,
                    options.store_recovery,
                    options.write_policy,
                )
                .await?,
            ),
            None => None,
        };
        let (events, first) = broadcast::channel(EVENT_CAPACITY);
        let template = first.resubscribe();
        let (status_tx, status) = watch::channel(ConnectionStatus::Connecting);
        let publish_queue = options.publish_queue;
        let publish_slots = Arc::new(Semaphore::new(publish_queue));
        let offline_policy = options.offline_policy;
        let client_id = match store.as_ref().and_then(|(_, s)| s.identity.as_ref()) {
            Some(identity) => identity.client_id.to_string(),
            None => options.session.client_id.to_string(),
        };
        let buffered = metrics::buffered_gauge(&client_id);
        let broker = options.describe_broker();
        let subscription_budget = options.subscription_budget;
        let durable = store.is_some();
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let driver = driver::Driver::new(
            options,
            rx,
            Arc::clone(&publish_slots),
            tx.downgrade(),
            events,
            status_tx,
            store,
        );
        tokio::spawn(driver.run(ready_tx));
        let session_present = ready_rx.await.map_err(closed)??;
        Ok(Client {
            shared: Arc::new(Shared {
                tx,
                publish_slots,
                publish_queue,
                events: Mutex::new(template),
                first_events: Mutex::new(Some(first)),
                status,
                session_present,
                durable,
                offline_policy,
                client_id,
                broker,
                subscription_budget,
                buffered,
                next_tap: std::sync::atomic::AtomicU64::new(FIRST_TAP),
            }),
        })
    }

    fn send(&self, cmd: Command) -> Result<(), Error> {
        self.shared.tx.send(cmd).map_err(closed)
    }

    /// Connection events: lost, reconnecting, reconnected, refused, full
    /// buffers. The first call sees every event since `connect` began
    /// (`Connected` included); later calls see events from then on. Each
    /// event is also logged through `tracing`. `Events::recv` is
    /// cancel-safe: dropping its future loses no event.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// let mut events = client.events();
    /// tokio::spawn(async move {
    ///     while let Some(event) = events.recv().await {
    ///         println!("mqtt: {event}");
    ///     }
    /// });
    /// # Ok(()) }
    /// ```
    pub fn events(&self) -> Events {
        let first = self
            .shared
            .first_events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        Events::new(first.unwrap_or_else(|| {
            self.shared
                .events
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .resubscribe()
        }))
    }

    /// Where the connection stands now.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// println!("status: {}", client.status());
    /// # Ok(()) }
    /// ```
    pub fn status(&self) -> ConnectionStatus {
        self.shared.status.borrow().clone()
    }

    /// A watch of the connection status, to await changes
    /// (`changed().await`) or read the latest.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// let mut status = client.watch_status();
    /// while status.changed().await.is_ok() {
    ///     println!("now {}", *status.borrow());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn watch_status(&self) -> watch::Receiver<ConnectionStatus> {
        self.shared.status.clone()
    }

    /// True while a connection is up and accepted by the broker.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// assert!(client.is_connected());
    /// # Ok(()) }
    /// ```
    pub fn is_connected(&self) -> bool {
        matches!(
            *self.shared.status.borrow(),
            ConnectionStatus::Connected { .. }
        )
    }

    /// Whether the broker resumed a session on the first connection
    /// (later connections report it in [`ConnectionEvent::Reconnected`]).
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// if !client.session_present() {
    ///     println!("a fresh session: subscribe");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn session_present(&self) -> bool {
        self.shared.session_present
    }

    /// Publishes and waits until the QoS is done: QoS 0 once the transport
    /// took its bytes (it fails with [`Error::ConnectionClosed`] if the
    /// connection ends first), QoS 1 on PUBACK, QoS 2 on PUBCOMP. Dropping the returned
    /// future after the message was handed to the connection task neither
    /// cancels nor corrupts the publish.
    ///
    /// While disconnected, with [`OfflinePolicy::Fail`] (the default), the
    /// message waits in the offline queue, or fails at once with
    /// [`Error::OfflineQueueFull`] when that queue is at its bound.
    ///
    /// Cancel-safe: dropped while waiting for a slot in the publish queue,
    /// nothing is sent; dropped later, the publish goes on and only its
    /// outcome is lost.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// let outcome = client.publish("plant/line1/temp", "21.5", QoS::AtLeastOnce, false).await?;
    /// println!("{outcome}"); // Success (0x00)
    /// # Ok(()) }
    /// ```
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

    /// Publishes a message built with every v5 property; resolves and is
    /// cancel-safe as [`publish`](Self::publish) is.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// let cmd = PublishCommand::to("plant/line1/temp", "21.5", QoS::AtLeastOnce)?
    ///     .message_expiry(60)
    ///     .user_property("unit", "celsius")?;
    /// client.publish_command(cmd).await?;
    /// # Ok(()) }
    /// ```
    pub async fn publish_command(&self, cmd: PublishCommand) -> Result<PublishOutcome, Error> {
        let permit = self.publish_slots(1).await?;
        self.send_publish(cmd, permit)?.await
    }

    /// `n` publish slots: waited for while connected (or with
    /// [`OfflinePolicy::Wait`]); offline they must be free at once.
    pub(super) async fn publish_slots(&self, n: u32) -> Result<SemaphorePermit<'_>, Error> {
        let slots = &self.shared.publish_slots;
        if self.shared.offline_policy == OfflinePolicy::Fail && !self.is_connected() {
            return slots.try_acquire_many(n).map_err(|e| match e {
                TryAcquireError::Closed => Error::Closed,
                TryAcquireError::NoPermits => {
                    let available = slots.available_permits();
                    Error::OfflineQueueFull(self.shared.publish_queue.saturating_sub(available))
                }
            });
        }
        slots.acquire_many(n).await.map_err(closed)
    }

    /// Queues a publish without waiting for room: fails with
    /// [`Error::QueueFull`] when the publish queue is at its bound. The
    /// returned future resolves as [`publish`](Self::publish) does; the
    /// message is queued whether or not that future is awaited or dropped.
    ///
    /// With a disk store ([`ConnectOptions::persist_to`]) `Ok` is not yet
    /// durability: it returns before the store's next commit, so a crash
    /// just after it may lose the message. What says "durable" is the
    /// returned future resolving (nothing is sent before its commit) or a
    /// [`Publisher`]'s `flush`.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// match client.try_publish(PublishCommand::to("a/b", "x", QoS::AtMostOnce)?) {
    ///     Ok(done) => drop(done), // sent anyway; nobody waits for the outcome
    ///     Err(Error::QueueFull) => println!("shed load"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn try_publish(
        &self,
        cmd: PublishCommand,
    ) -> Result<
        impl std::future::Future<Output = Result<PublishOutcome, Error>> + Send + 'static,
        Error,
    > {
        let permit = self.shared.publish_slots.try_acquire().map_err(no_slot)?;
        self.send_publish(cmd, permit)
    }

    fn send_publish(
        &self,
        cmd: PublishCommand,
        permit: SemaphorePermit<'_>,
    ) -> Result<
        impl std::future::Future<Output = Result<PublishOutcome, Error>> + Send + 'static,
        Error,
    > {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Publish {
            cmd,
            reply: publisher::PublishReply::Caller(reply),
        })?;
        // The connection task holds the slot now (see `slots::QueueSlots`).
        permit.forget();
        Ok(async move { rx.await.map_err(closed)? })
    }

    /// A [`Publisher`]: publishing through a `futures` `Sink`, with each
    /// publish's outcome on its [`completions`](Publisher::completions)
    /// stream. See [`Publisher`] for backpressure and cancel safety.
    ///
    /// ```no_run
    /// use futures_util::SinkExt;
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// let mut publisher = client.publisher();
    /// let mut done = publisher.completions();
    /// publisher.send(PublishCommand::to("a/b", "bytes", QoS::AtLeastOnce)?).await?;
    /// let (sequence, outcome) = done.recv().await.expect("one outcome");
    /// assert_eq!(sequence, 0);
    /// println!("{}", outcome?);
    /// # Ok(()) }
    /// ```
    pub fn publisher(&self) -> Publisher {
        Publisher::new(self.clone())
    }

    /// Subscribes to one filter; resolves on SUBACK with the
    /// [`Subscription`] that streams its messages.
    ///
    /// Cancel-safe: dropping the future before the SUBACK undoes the
    /// subscription once the broker grants it (it unsubscribes), so
    /// nothing buffers for nobody.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// let mut temps = client.subscribe("plant/+/temp", QoS::AtLeastOnce).await?;
    /// while let Some(msg) = temps.recv().await {
    ///     println!("{msg}: {:?}", msg.payload);
    /// }
    /// # Ok(()) }
    /// ```
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
    /// It fails when the broker refused every filter, and with
    /// [`Error::AlreadySubscribed`] when a live subscription of this client
    /// has one of the filters already (a second SUBSCRIBE would replace
    /// the first one's options at the broker). Cancel-safe as
    /// [`subscribe`](Self::subscribe) is.
    ///
    /// With a session store ([`ConnectOptions::persist_to`]), a
    /// subscription restored from the store is re-attached when the
    /// application subscribes again with exactly its filters (one call per
    /// earlier `subscribe`): the returned [`Subscription`] has the
    /// messages that arrived for it since the start, and no SUBSCRIBE is
    /// sent unless the options or properties differ. A call that names
    /// only some of a restored subscription's filters fails with
    /// [`Error::AlreadySubscribed`].
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// use tern_mqtt::codec::{SubscribeProperties, SubscriptionOptions};
    /// use tern_mqtt::topic::TopicFilter;
    ///
    /// let filters = vec![
    ///     (TopicFilter::new("plant/+/temp")?, SubscriptionOptions::qos(QoS::AtLeastOnce)),
    ///     (TopicFilter::new("plant/+/alarm")?, SubscriptionOptions::qos(QoS::ExactlyOnce)),
    /// ];
    /// let props = SubscribeProperties::default().user_property("team", "edge")?;
    /// let sub = client.subscribe_many(filters, props).await?;
    /// println!("granted: {:?}", sub.results());
    /// # Ok(()) }
    /// ```
    pub async fn subscribe_many(
        &self,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: SubscribeProperties,
    ) -> Result<Subscription, Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Subscribe {
            filters: filters.clone(),
            properties,
            reply,
        })?;
        let (id, results, inbox) = rx.await.map_err(closed)??;
        Ok(Subscription::new(
            id,
            filters,
            results,
            inbox,
            self.shared.tx.downgrade(),
        ))
    }

    /// Subscribes to several filters at one QoS in one SUBSCRIBE; one
    /// [`Subscription`] receives the messages of all of them. Resolves and
    /// is cancel-safe as [`subscribe_many`](Self::subscribe_many) is.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// let mut plant = client.subscribe_all(&["plant/+/temp", "plant/+/alarm"], QoS::AtLeastOnce).await?;
    /// let first = plant.recv().await;
    /// # Ok(()) }
    /// ```
    pub async fn subscribe_all(&self, filters: &[&str], qos: QoS) -> Result<Subscription, Error> {
        let filters = filters
            .iter()
            .map(|f| Ok((TopicFilter::new(f)?, SubscriptionOptions::qos(qos))))
            .collect::<Result<Vec<_>, Error>>()?;
        self.subscribe_many(filters, SubscribeProperties::default())
            .await
    }

    /// The stream of messages that match no subscription (for example
    /// ones the broker sends for a session resumed from before this
    /// process). It exists from the start and buffers under the same
    /// budget and flow control as a subscription, so nothing is
    /// acknowledged and then dropped when nobody reads it: its QoS 1/2
    /// messages wait unacknowledged once it is full. Every call returns a
    /// reader of the same stream. Cancel-safe: dropping the future loses
    /// nothing (the stream goes on for the next call).
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// let mut strays = client.unmatched().await?;
    /// while let Some(msg) = strays.recv().await {
    ///     println!("no subscription for {msg}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn unmatched(&self) -> Result<Subscription, Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Unmatched { reply })?;
        let inbox = rx.await.map_err(closed)?;
        Ok(Subscription::new(
            router::UNMATCHED,
            Vec::new(),
            Vec::new(),
            inbox,
            self.shared.tx.downgrade(),
        ))
    }

    /// A stream of every message this client receives, whatever
    /// subscription it matched and those that match none, each once (a
    /// message matching two overlapping subscriptions is one PUBLISH, and
    /// one item here), in the order they arrived. MQTTnet users know it as
    /// `ApplicationMessageReceived`.
    ///
    /// It works beside the subscriptions: a message goes to this stream
    /// **and** to each [`Subscription`] it matched. While a `messages()`
    /// stream is live, a message that matches no subscription goes to it
    /// and not to the [`unmatched`](Self::unmatched) stream, unless the
    /// application has asked for that one too. Each call returns a new,
    /// independent stream that sees messages from then on; dropping it
    /// stops its deliveries.
    ///
    /// It is bounded in bytes like a subscription
    /// ([`ConnectOptions::subscription_buffer_bytes`]) under the same flow
    /// control: a QoS 1/2 message is acknowledged only once every buffer
    /// that is to hold it (this stream's and its subscriptions') holds it,
    /// so a slow reader here holds acknowledgements back instead of losing
    /// messages. Read it, or drop it. With manual acks, every copy carries
    /// the same ack: acking one acks the message, a second ack does nothing.
    ///
    /// A v5 broker that sends one copy per matching subscription, each
    /// with its subscription identifier (mosquitto does), still shows here
    /// once: only the copy of the first matching subscription is taken.
    /// Without subscription identifiers (3.1.1, or a broker without them)
    /// such copies cannot be told apart and show as that many items.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// let mut all = client.messages();
    /// let _plant = client.subscribe("plant/#", QoS::AtLeastOnce).await?;
    /// let _alarms = client.subscribe("plant/+/alarm", QoS::AtLeastOnce).await?;
    /// while let Some(msg) = all.recv().await {
    ///     println!("{msg}"); // each message once, whichever filters it matched
    /// }
    /// # Ok(()) }
    /// ```
    pub fn messages(&self) -> Subscription {
        let id = self
            .shared
            .next_tap
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let commands = self.shared.tx.downgrade();
        let inbox = inbox::Inbox::new(
            id,
            self.shared.subscription_budget,
            commands.clone(),
            self.shared.buffered.clone(),
        );
        // If the task is gone the stream ends at once: its inbox is closed.
        if self
            .send(Command::Tap {
                id,
                inbox: Arc::clone(&inbox),
            })
            .is_err()
        {
            inbox.close();
        }
        Subscription::new(id, Vec::new(), Vec::new(), inbox, commands)
    }

    /// Unsubscribes from filters directly (subscriptions also unsubscribe
    /// when dropped). Resolves on UNSUBACK with a reason code per filter.
    /// Cancel-safe: once the future was first polled, dropping it does not
    /// stop the UNSUBSCRIBE, only the wait for its answer.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// let codes = client.unsubscribe(&["plant/+/temp"]).await?;
    /// println!("{codes:?}");
    /// # Ok(()) }
    /// ```
    pub async fn unsubscribe(&self, filters: &[&str]) -> Result<Vec<ReasonCode>, Error> {
        let filters = filters
            .iter()
            .map(|f| TopicFilter::new(f))
            .collect::<Result<Vec<_>, _>>()?;
        let (reply, rx) = oneshot::channel();
        self.send(Command::Unsubscribe { filters, reply })?;
        rx.await.map_err(closed)?
    }

    /// Re-authenticates (v5 enhanced authentication, with
    /// [`ConnectOptions::authenticator`]); resolves on the broker's AUTH
    /// Success. Cancel-safe: dropping the future does not stop the
    /// exchange, only the wait for its end.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// client.reauthenticate().await?;
    /// # Ok(()) }
    /// ```
    pub async fn reauthenticate(&self) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Reauth { reply })?;
        rx.await.map_err(closed)?
    }

    /// Disconnects: waits (up to the disconnect timeout) for in-flight QoS
    /// 1/2 publishes, then sends DISCONNECT with Normal disconnection (the
    /// broker discards the will). Cancel-safe: once the future was first
    /// polled, dropping it does not stop the disconnect.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// client.publish("a/b", "last words", QoS::AtLeastOnce, false).await?;
    /// client.disconnect().await?;
    /// # Ok(()) }
    /// ```
    pub async fn disconnect(&self) -> Result<(), Error> {
        self.disconnect_with(ReasonCode::NORMAL_DISCONNECTION).await
    }

    /// Disconnects with a v5 reason code; 0x04 asks the broker to publish
    /// the will. Waits and is cancel-safe as [`disconnect`](Self::disconnect) is.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// client.disconnect_with(ReasonCode::DISCONNECT_WITH_WILL).await?;
    /// # Ok(()) }
    /// ```
    pub async fn disconnect_with(&self, reason_code: ReasonCode) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Disconnect { reason_code, reply })?;
        rx.await.map_err(closed)?
    }

    /// Drops the connection without DISCONNECT, as a crash would (the broker
    /// publishes the will). For tests and failover drills. Cancel-safe:
    /// once the future was first polled, the connection is dropped
    /// whether or not it is awaited.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// client.abort().await?;
    /// # Ok(()) }
    /// ```
    pub async fn abort(&self) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Abort { reply })?;
        rx.await.map_err(closed)
    }
}
