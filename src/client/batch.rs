//! Publishing many messages as one batch: one command to the connection,
//! one claim on the publish queue and one reply for the whole batch, so a
//! publisher of bursts (a gateway flushing the readings of its last scan)
//! pays the hand-over to the connection task once per batch instead of once
//! per message. Each message still completes as the protocol says (QoS 0
//! once written, QoS 1 on PUBACK, QoS 2 on PUBCOMP) and has its own
//! outcome.

use super::driver::Command;
use super::slots::QueueSlots;
use super::{closed, Client, PublishOutcome};
use crate::session::PublishCommand;
use crate::Error;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{oneshot, SemaphorePermit};

/// The outcome of each message of a batch, in the order given.
pub type BatchOutcomes = Vec<Result<PublishOutcome, Error>>;

/// A batch's outcomes as they arrive, and what to do with them once all
/// have: free the batch's slots in the publish queue, then reply.
pub(crate) struct Batch {
    state: Mutex<BatchState>,
}

struct BatchState {
    /// In the order given, `Err(Closed)` until each one's outcome comes:
    /// handed over as it is, without a copy into a new `Vec`.
    outcomes: BatchOutcomes,
    remaining: usize,
    permit: Option<QueueSlots>,
    reply: Option<oneshot::Sender<BatchOutcomes>>,
}

/// One message's share of a batch: where its outcome goes.
pub(crate) struct BatchShare {
    batch: Arc<Batch>,
    index: usize,
}

impl Batch {
    /// A batch of `len` messages holding `permit` (its `len` slots) until
    /// the last outcome; returns one share per message, in order.
    pub(crate) fn shares(
        len: usize,
        permit: QueueSlots,
        reply: oneshot::Sender<BatchOutcomes>,
    ) -> impl Iterator<Item = BatchShare> {
        let batch = Arc::new(Batch {
            state: Mutex::new(BatchState {
                outcomes: std::iter::repeat_with(|| Err(Error::Closed))
                    .take(len)
                    .collect(),
                remaining: len,
                permit: Some(permit),
                reply: Some(reply),
            }),
        });
        (0..len).map(move |index| BatchShare {
            batch: Arc::clone(&batch),
            index,
        })
    }

    fn lock(&self) -> MutexGuard<'_, BatchState> {
        // Every update is one slot and one count: a panic elsewhere while
        // the lock was held cannot leave them inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl BatchShare {
    /// Records this message's outcome; the last one frees the batch's slots
    /// and then replies, so a caller woken by the reply finds them free.
    pub(crate) fn send(self, result: Result<PublishOutcome, Error>) {
        let mut s = self.batch.lock();
        // A share is consumed by its one outcome: no slot is filled twice.
        let Some(slot) = s.outcomes.get_mut(self.index) else {
            return;
        };
        *slot = result;
        s.remaining = s.remaining.saturating_sub(1);
        if s.remaining > 0 {
            return;
        }
        drop(s.permit.take());
        let outcomes = std::mem::take(&mut s.outcomes);
        if let Some(reply) = s.reply.take() {
            let _ = reply.send(outcomes);
        }
    }
}

impl Client {
    /// Publishes `messages` as one batch, in order, and resolves once every
    /// one of them is done, with each message's outcome in the order given
    /// (QoS 0 once written, QoS 1 on PUBACK, QoS 2 on PUBCOMP, as
    /// [`publish`](Self::publish) does). The batch takes one slot of the
    /// publish queue per message, waiting for them as `publish` waits for
    /// one, and frees them together when the batch is done.
    ///
    /// Errors: [`Error::BatchTooLarge`] when the batch has more messages
    /// than the publish queue has slots
    /// ([`ConnectOptions::publish_queue`](super::ConnectOptions::publish_queue)),
    /// [`Error::OfflineQueueFull`] offline under
    /// [`OfflinePolicy::Fail`](super::OfflinePolicy::Fail)
    /// when the slots are not free, [`Error::Closed`] once the client is
    /// closed. A message that fails has its error in its place in the
    /// outcomes; the others go on.
    ///
    /// Cancel-safe as [`publish`](Self::publish) is: dropped while waiting
    /// for slots, nothing is sent; dropped later, the batch goes on.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// let readings = (0..100)
    ///     .map(|i| PublishCommand::to("plant/line1/temp", format!("{i}"), QoS::AtLeastOnce))
    ///     .collect::<Result<Vec<_>, _>>()?;
    /// for outcome in client.publish_batch(readings).await? {
    ///     outcome?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn publish_batch(
        &self,
        messages: Vec<PublishCommand>,
    ) -> Result<BatchOutcomes, Error> {
        let permit = self
            .publish_slots(self.batch_permits(messages.len())?)
            .await?;
        self.send_batch(messages, permit)?.await
    }

    /// Queues `messages` as one batch without waiting for room: fails with
    /// [`Error::QueueFull`] when the publish queue has fewer free slots than
    /// the batch has messages (and with [`Error::BatchTooLarge`] when it
    /// could never hold them). The returned future resolves as
    /// [`publish_batch`](Self::publish_batch) does; the batch is queued
    /// whether or not that future is awaited.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// let batch = vec![PublishCommand::to("a/b", "x", QoS::AtMostOnce)?; 10];
    /// match client.try_publish_batch(batch) {
    ///     Ok(done) => assert_eq!(done.await?.len(), 10),
    ///     Err(Error::QueueFull) => println!("shed load"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn try_publish_batch(
        &self,
        messages: Vec<PublishCommand>,
    ) -> Result<impl Future<Output = Result<BatchOutcomes, Error>> + Send + 'static, Error> {
        let n = self.batch_permits(messages.len())?;
        let permit = self
            .shared
            .publish_slots
            .try_acquire_many(n)
            .map_err(super::no_slot)?;
        self.send_batch(messages, permit)
    }

    /// The batch's count of slots, if the publish queue can ever hold it.
    fn batch_permits(&self, len: usize) -> Result<u32, Error> {
        let too_large = || Error::BatchTooLarge {
            len,
            publish_queue: self.shared.publish_queue,
        };
        if len > self.shared.publish_queue {
            return Err(too_large());
        }
        u32::try_from(len).map_err(|_| too_large())
    }

    fn send_batch(
        &self,
        messages: Vec<PublishCommand>,
        permit: SemaphorePermit<'_>,
    ) -> Result<impl Future<Output = Result<BatchOutcomes, Error>> + Send + 'static, Error> {
        let (reply, rx) = oneshot::channel();
        if messages.is_empty() {
            let _ = reply.send(Vec::new());
        } else {
            self.send(Command::PublishBatch { messages, reply })?;
            // The connection task holds the slots now (see `QueueSlots`).
            permit.forget();
        }
        Ok(async move { rx.await.map_err(closed) })
    }
}
