//! `Publisher`: publishing through a [`futures_sink::Sink`], with each
//! publish's outcome reported on a stream.

use super::batch::BatchShare;
use super::driver::Command;
use super::slots::QueueSlots;
use super::{Client, PublishOutcome};
use crate::session::PublishCommand;
use crate::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, oneshot, AcquireError, OwnedSemaphorePermit};

/// Where the outcome of one publish goes.
pub(crate) enum PublishReply {
    /// The caller of `publish` awaits it.
    Caller(oneshot::Sender<Result<PublishOutcome, Error>>),
    /// A [`Publisher`]'s completion stream, under the publish's sequence
    /// number, and the publisher's "accepted" signal (boxed: every command
    /// is as large as its largest variant).
    Stream(Box<StreamReply>),
    /// Nobody waits for the outcome (a [`Publisher`] without a completion
    /// stream); only for the "accepted" signal, if any.
    Nobody(Option<oneshot::Sender<()>>),
    /// One message of a [`Client::publish_batch`]: the batch holds the
    /// slots and replies once every message has its outcome.
    Batch(BatchShare),
}

/// Where a [`Publisher`]'s outcome goes.
pub(crate) struct StreamReply {
    sequence: u64,
    to: mpsc::UnboundedSender<Completion>,
    accepted: Option<oneshot::Sender<()>>,
}

/// One outcome on its way to a [`PublishCompletions`] stream. It keeps the
/// publish's slot in the publish queue until it is read, so unread
/// outcomes hold the sink back instead of piling up.
pub(crate) struct Completion {
    sequence: u64,
    result: Result<PublishOutcome, Error>,
    _slot: Option<QueueSlots>,
}

impl PublishReply {
    /// The signal to give once the message is accepted (durable with a
    /// store), taken out so that it fires apart from the outcome.
    pub(crate) fn take_accepted(&mut self) -> Option<oneshot::Sender<()>> {
        match self {
            PublishReply::Caller(_) => None,
            PublishReply::Stream(reply) => reply.accepted.take(),
            PublishReply::Nobody(accepted) => accepted.take(),
            PublishReply::Batch(_) => None,
        }
    }

    /// Delivers the outcome; the slot is freed just before it, so that a
    /// caller woken by the outcome finds it free (or once a completion
    /// stream has read it). A batch's messages have no slot of their own:
    /// the batch frees its slots with its last outcome.
    pub(crate) fn send(self, result: Result<PublishOutcome, Error>, slot: Option<QueueSlots>) {
        match self {
            PublishReply::Caller(tx) => {
                drop(slot);
                let _ = tx.send(result);
            }
            PublishReply::Stream(reply) => {
                let _ = reply.to.send(Completion {
                    sequence: reply.sequence,
                    result,
                    _slot: slot,
                });
            }
            PublishReply::Nobody(_) => {}
            PublishReply::Batch(share) => share.send(result),
        }
    }
}

type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// Publishes through [`futures_sink::Sink<PublishCommand>`]: `send`,
/// `feed` and `send_all` from `futures::SinkExt` work on it, with
/// backpressure from the publish queue
/// ([`ConnectOptions::publish_queue`](super::ConnectOptions::publish_queue)):
/// `poll_ready` waits for a free slot, as [`Client::publish`] does under
/// [`OfflinePolicy::Wait`](super::OfflinePolicy::Wait). Made by
/// [`Client::publisher`]; it keeps the connection up like a `Client`.
///
/// Each accepted message gets a sequence number (0, 1, 2, ... in the order
/// of `start_send`), and its outcome, as [`Client::publish`] would have
/// returned it (QoS 0 once written, QoS 1 on PUBACK, QoS 2 on PUBCOMP, or
/// the error, for example [`Error::OfflineQueueFull`] while disconnected),
/// is reported on the stream [`completions`](Publisher::completions)
/// returns, in the order the outcomes come. An outcome keeps its slot in
/// the publish queue until it is read, so a publisher whose completions
/// nobody reads stops accepting after `publish_queue` messages; outcomes of
/// messages sent before `completions` was first called are not reported
/// (and hold nothing).
///
/// `poll_flush` (and so `send`) completes once every message started is
/// **accepted**: handed to the connection task, and, with a session store
/// ([`ConnectOptions::persist_to`](super::ConnectOptions::persist_to)),
/// durable (QoS 1/2), or failed at once (its outcome says why). A message
/// whose flush completed survives a crash of the process. Without a store
/// it is ready at once. The outcomes come on the completion stream. `poll_close` ends the completion stream once the outcomes of
/// the messages already sent are reported.
///
/// Cancel safety: dropping a `send` future before its message was
/// accepted (while `poll_ready` waits for a slot) drops that message and
/// nothing else; once accepted, the publish goes on and its outcome is
/// reported.
///
/// ```no_run
/// use futures_util::{SinkExt, StreamExt};
/// use tern_mqtt::prelude::*;
///
/// # async fn run() -> Result<(), Error> {
/// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
/// let mut publisher = client.publisher();
/// let mut completions = publisher.completions();
/// for i in 0..100 {
///     publisher
///         .feed(PublishCommand::to("plant/line1/temp", format!("{i}"), QoS::AtLeastOnce)?)
///         .await?;
/// }
/// publisher.close().await?;
/// while let Some((sequence, outcome)) = completions.next().await {
///     println!("message {sequence}: {}", outcome?);
/// }
/// # Ok(()) }
/// ```
pub struct Publisher {
    client: Client,
    slot: Option<OwnedSemaphorePermit>,
    acquiring: Option<Acquire>,
    next_sequence: u64,
    completions: Option<mpsc::UnboundedSender<Completion>>,
    /// Told once the last message started is accepted (messages are
    /// accepted in order, so it stands for every earlier one).
    accepted: Option<oneshot::Receiver<()>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("client", &self.client)
            .field("next_sequence", &self.next_sequence)
            .field("reporting", &self.completions.is_some())
            .finish_non_exhaustive()
    }
}

impl Publisher {
    pub(crate) fn new(client: Client) -> Self {
        Publisher {
            client,
            slot: None,
            acquiring: None,
            next_sequence: 0,
            completions: None,
            accepted: None,
        }
    }

    /// The stream of outcomes of the messages sent from now on, as
    /// `(sequence, result)`. A second call starts a new stream; the first
    /// one ends once the outcomes of the messages sent before are reported.
    /// Every stream ends once the publisher is closed or dropped and its
    /// outcomes are reported.
    pub fn completions(&mut self) -> PublishCompletions {
        let (tx, rx) = mpsc::unbounded_channel();
        self.completions = Some(tx);
        PublishCompletions { rx }
    }

    /// The sequence number the next accepted message gets.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }
}

impl futures_sink::Sink<PublishCommand> for Publisher {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.slot.is_some() {
            return Poll::Ready(Ok(()));
        }
        let slots = Arc::clone(&self.client.shared.publish_slots);
        let acquiring = self
            .acquiring
            .get_or_insert_with(|| Box::pin(slots.acquire_owned()));
        let slot = std::task::ready!(acquiring.as_mut().poll(cx));
        self.acquiring = None;
        self.slot = Some(slot.map_err(|_| Error::Closed)?);
        Poll::Ready(Ok(()))
    }

    fn start_send(mut self: Pin<&mut Self>, cmd: PublishCommand) -> Result<(), Error> {
        let slot = match self.slot.take() {
            Some(slot) => slot,
            // `poll_ready` was not called first: take a slot if one is free.
            None => Arc::clone(&self.client.shared.publish_slots)
                .try_acquire_owned()
                .map_err(super::no_slot)?,
        };
        let sequence = self.next_sequence;
        // Without a store a message is accepted once it is with the
        // connection task, as it is now: no signal needed.
        let (accepted, accepted_rx) = match self.client.shared.durable {
            true => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
            false => (None, None),
        };
        let reply = match &self.completions {
            Some(tx) => PublishReply::Stream(Box::new(StreamReply {
                sequence,
                to: tx.clone(),
                accepted,
            })),
            None => PublishReply::Nobody(accepted),
        };
        self.client.send(Command::Publish { cmd, reply })?;
        // The connection task holds the slot now (see `QueueSlots`).
        slot.forget();
        self.accepted = accepted_rx;
        self.next_sequence = sequence.wrapping_add(1);
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let Some(accepted) = self.accepted.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let result = std::task::ready!(Pin::new(accepted).poll(cx));
        self.accepted = None;
        // Dropped unanswered: the client stopped before the message was
        // durable.
        Poll::Ready(result.map_err(|_| Error::Closed))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let flushed = std::task::ready!(self.as_mut().poll_flush(cx));
        self.completions = None;
        self.slot = None;
        self.acquiring = None;
        Poll::Ready(flushed)
    }
}

/// The outcomes of a [`Publisher`]'s messages, as a
/// [`futures_core::Stream`] of `(sequence, result)` (or through
/// [`recv`](PublishCompletions::recv)).
#[derive(Debug)]
pub struct PublishCompletions {
    rx: mpsc::UnboundedReceiver<Completion>,
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("sequence", &self.sequence)
            .field("result", &self.result)
            .finish_non_exhaustive()
    }
}

impl PublishCompletions {
    /// The next outcome; `None` once the publisher is closed or dropped
    /// and every outcome was read. Cancel-safe: dropping the future loses
    /// no outcome.
    pub async fn recv(&mut self) -> Option<(u64, Result<PublishOutcome, Error>)> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(u64, Result<PublishOutcome, Error>)>> {
        self.rx
            .poll_recv(cx)
            .map(|c| c.map(|c| (c.sequence, c.result)))
    }
}

impl futures_core::Stream for PublishCompletions {
    type Item = (u64, Result<PublishOutcome, Error>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_recv(cx)
    }
}
