//! Durable sessions: what the session engine asks to keep across a process
//! restart, and the stores that keep it.
//!
//! # The contract
//!
//! The engine ([`Session`](crate::session::Session)) stays sans-IO: once
//! made persistent ([`Session::set_persistent`](crate::session::Session::set_persistent))
//! it reports every change of durable state as a [`StoreOp`] through
//! [`Session::poll_store_op`](crate::session::Session::poll_store_op). A
//! driver drains those ops after every input or command, **before** it
//! writes the bytes [`poll_transmit`](crate::session::Session::poll_transmit)
//! produced in the same step, hands them to a [`Store`], and writes those
//! bytes only once the store has made the ops durable. (The tokio driver
//! lets bytes pass a step whose ops only remove finished messages: if a
//! crash loses those removals, the next process sends a QoS 1 message
//! again, a duplicate QoS 1 allows, or a PUBREL the broker answers as
//! unknown; an incoming id's removal is never let pass, as a stale one
//! would swallow the broker's next message under that id.) What is kept:
//!
//! - every outgoing QoS 1/2 message from the moment it is accepted (the
//!   offline queue included), with its stage (queued, PUBLISH sent under a
//!   packet id, PUBREC received so PUBREL sent) and its Message Expiry as a
//!   wall-clock deadline;
//! - incoming QoS 2 packet ids whose PUBREC went out and whose PUBREL has
//!   not arrived;
//! - the granted subscriptions, with their options and identifiers;
//! - the client identifier (the broker's, once it assigned one), the
//!   session expiry interval, and whether the broker accepted a session.
//!
//! Packet ids in use are the ids of the messages in flight; a restored
//! session allocates new ids past the highest of them.
//!
//! [`Store::load`] gives the [`StoredSession`] a new engine resumes from
//! ([`Session::restore`](crate::session::Session::restore)).
//!
//! # The stores
//!
//! - [`MemoryStore`]: keeps the records in memory; the tokio client uses no
//!   store at all without [`ConnectOptions::persist_to`](crate::ConnectOptions::persist_to)
//!   (the engine's own state is the in-memory session).
//! - [`DiskStore`]: one [redb](https://docs.rs/redb) database file,
//!   `session.redb`, in a directory. Every commit is an ACID transaction
//!   synced to disk (`Durability::Immediate`); redb checksums its pages
//!   and rolls back to the last commit after a crash.
//!
//! # The durability rule
//!
//! With a disk store, a QoS 1/2 message is **accepted** only once its
//! record is committed and synced: [`Publisher`](crate::Publisher)'s
//! `flush` (and so `send`) completes then, and
//! [`Client::publish`](crate::Client::publish) resolves later still (on
//! the broker's PUBACK or PUBCOMP, which answer bytes written only after
//! the commit). `Client::try_publish` returns once the message is handed
//! to the connection task, before it is durable; its future resolves
//! as `publish` does. A message the application was told
//! is accepted survives `kill -9` and power loss, and a restarted client on
//! the same directory sends it. [`WritePolicy`] only decides how many
//! messages share one sync.

mod disk;
mod error;
mod memory;
mod record;

pub use disk::DiskStore;
pub use error::{StoreError, StoreErrorKind};
pub use memory::MemoryStore;

use crate::codec::{MqttString, ProtocolVersion, Publish};
use crate::session::ActiveSubscription;
use crate::topic::TopicFilter;
use std::time::{Duration, Instant, SystemTime};

/// The version of the record format this build writes, kept under the
/// store's format key. A store written by a later version is refused with
/// [`StoreErrorKind::FutureVersion`].
pub const FORMAT_VERSION: u32 = 1;

/// How a disk store syncs (see [`ConnectOptions::write_policy`](crate::ConnectOptions::write_policy)).
///
/// Under both policies a message is reported accepted only once it is
/// durable, so no accepted message is lost by a crash: what a crash loses
/// is exactly the messages whose enqueue had not completed (their
/// `publish` had not returned, their `Publisher::flush` had not finished).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePolicy {
    /// One synced transaction per message: the lowest latency for a
    /// single message, the highest cost per message (one `fsync` each).
    EveryMessage,
    /// Messages that arrive close together share one synced transaction:
    /// a commit is made once `max_messages` new messages wait, or
    /// `max_delay` after the first waiting one, whichever comes first. A
    /// message waits up to `max_delay` (plus the sync) before it is
    /// accepted; acknowledgements, stage changes and subscriptions ride
    /// along with the next commit.
    GroupCommit {
        /// How long the first waiting message may wait for others.
        max_delay: Duration,
        /// How many new messages make a commit at once.
        max_messages: usize,
    },
}

impl Default for WritePolicy {
    /// `GroupCommit { max_delay: 5 ms, max_messages: 64 }`: a burst of
    /// publishes shares syncs, and a lone message waits at most 5 ms more.
    fn default() -> Self {
        WritePolicy::GroupCommit {
            max_delay: Duration::from_millis(5),
            max_messages: 64,
        }
    }
}

/// What to do when a store cannot be read back whole (see
/// [`ConnectOptions::store_recovery`](crate::ConnectOptions::store_recovery)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreRecovery {
    /// Refuse to start: `Client::connect` fails with
    /// [`Error::Store`](crate::Error::Store), naming the file and what is
    /// wrong (an empty file included). The default: nothing is dropped
    /// without the application deciding so.
    #[default]
    Fail,
    /// Keep every record that decodes and delete the ones that do not
    /// (each is logged with its key); go on with what redb's repair kept
    /// after a failed page checksum; start afresh on an empty file. redb
    /// itself either opens a file (rolling back to its last good commit)
    /// or refuses it: a file it refuses (a truncated or overwritten
    /// header, a failed repair), a missing format key and a store from a
    /// future format version still fail, as there is no valid part to
    /// keep.
    KeepValidPrefix,
}

/// Where an outgoing QoS 1/2 message stands, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStage {
    /// Accepted, not sent yet (the offline queue, or waiting for quota).
    Queued,
    /// QoS 1 PUBLISH sent under this packet id; PUBACK awaited.
    AwaitPubAck(crate::codec::PacketId),
    /// QoS 2 PUBLISH sent under this packet id; PUBREC awaited.
    AwaitPubRec(crate::codec::PacketId),
    /// PUBREC received and PUBREL sent for this packet id; PUBCOMP awaited.
    AwaitPubComp(crate::codec::PacketId),
}

impl MessageStage {
    /// The packet id the message holds, once sent.
    pub fn packet_id(&self) -> Option<crate::codec::PacketId> {
        match self {
            MessageStage::Queued => None,
            MessageStage::AwaitPubAck(id)
            | MessageStage::AwaitPubRec(id)
            | MessageStage::AwaitPubComp(id) => Some(*id),
        }
    }
}

/// The session identity a store keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIdentity {
    /// The protocol version the session was made with.
    pub version: ProtocolVersion,
    /// The client identifier in force (the broker's, once it assigned one).
    pub client_id: MqttString,
    /// The Session Expiry Interval the CONNECT carries (v5).
    pub session_expiry: u32,
    /// Whether a broker accepted a connection that keeps this session: a
    /// restarted client then connects with Clean Start 0.
    pub resumable: bool,
}

/// One change of durable state, in the order the engine made it.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp {
    /// The client identity (on the first step, and when the broker assigns
    /// an id or accepts a session).
    PutIdentity(StoredIdentity),
    /// A QoS 1/2 message was accepted. `key` orders messages (it is the
    /// engine's request id); `queued_at` is the engine's time of
    /// acceptance, which the driver turns into a wall-clock expiry
    /// deadline with the message's Message Expiry Interval.
    PutMessage {
        /// The message's key.
        key: u64,
        /// The PUBLISH as accepted (no packet id, no topic alias).
        publish: Box<Publish>,
        /// When it was accepted, on the engine's clock.
        queued_at: Instant,
    },
    /// A message moved to another stage.
    SetStage {
        /// The message's key.
        key: u64,
        /// Its new stage.
        stage: MessageStage,
    },
    /// A message is done (acknowledged, refused, expired, given up): it is
    /// never sent again.
    RemoveMessage {
        /// The message's key.
        key: u64,
    },
    /// An incoming QoS 2 PUBREC went out: a resend of this id is a
    /// duplicate until its PUBREL.
    PutIncoming {
        /// The packet id.
        packet_id: u16,
    },
    /// The PUBREL of an incoming QoS 2 id arrived.
    RemoveIncoming {
        /// The packet id.
        packet_id: u16,
    },
    /// The broker holds no session: no incoming id is pending.
    ClearIncoming,
    /// A subscription was granted (or granted again).
    PutSubscription {
        /// Its filter.
        filter: TopicFilter,
        /// What was granted.
        subscription: ActiveSubscription,
    },
    /// A subscription ended (unsubscribed, or refused on restoration).
    RemoveSubscription {
        /// Its filter.
        filter: TopicFilter,
    },
    /// Every subscription is gone (the session was lost and not restored).
    ClearSubscriptions,
}

/// An outgoing message read back from a store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    /// Its key (the order messages were accepted in).
    pub key: u64,
    /// The PUBLISH as accepted (no packet id).
    pub publish: Publish,
    /// Where it stood.
    pub stage: MessageStage,
    /// When its Message Expiry Interval runs out, on the wall clock.
    pub expires_at: Option<SystemTime>,
}

/// Everything a store holds, read back to resume a session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredSession {
    /// The identity, once one was written.
    pub identity: Option<StoredIdentity>,
    /// Outgoing messages, by key.
    pub messages: Vec<StoredMessage>,
    /// Incoming QoS 2 ids awaiting PUBREL.
    pub incoming: Vec<u16>,
    /// Granted subscriptions.
    pub subscriptions: Vec<(TopicFilter, ActiveSubscription)>,
}

impl StoredSession {
    /// True when there is nothing to resume.
    pub fn is_empty(&self) -> bool {
        self.identity.is_none()
            && self.messages.is_empty()
            && self.incoming.is_empty()
            && self.subscriptions.is_empty()
    }
}

/// The engine's clock and the wall clock at one moment, to turn the
/// engine's instants into wall-clock deadlines.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// The engine's time.
    pub now: Instant,
    /// The wall-clock time at `now`.
    pub wall: SystemTime,
}

impl Clock {
    /// The wall-clock time of the engine's instant `at`.
    pub fn wall_of(&self, at: Instant) -> SystemTime {
        let ago = self.now.saturating_duration_since(at);
        self.wall.checked_sub(ago).unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// A place durable session state is written to and read back from.
pub trait Store: Send {
    /// Reads everything back, in key order. Under
    /// [`StoreRecovery::KeepValidPrefix`] a store drops records that do not
    /// decode (and says so in the log) instead of failing.
    fn load(&mut self) -> Result<StoredSession, StoreError>;

    /// Applies `ops` in order, as one transaction, and returns once it is
    /// durable (for a disk store: committed and synced).
    fn apply(&mut self, ops: &[StoreOp], clock: &Clock) -> Result<(), StoreError>;
}

/// The wall-clock deadline of a message accepted at `queued_at`: its
/// Message Expiry Interval after that moment (`None` without one).
pub(crate) fn expiry_deadline(
    publish: &Publish,
    queued_at: Instant,
    clock: &Clock,
) -> Option<SystemTime> {
    let interval = publish.properties.message_expiry_interval?;
    let accepted = clock.wall_of(queued_at);
    Some(
        accepted
            .checked_add(Duration::from_secs(u64::from(interval)))
            .unwrap_or(accepted),
    )
}
