//! `Subscription`: a stream of the messages matching its filters.

use super::driver::Command;
use super::inbox::Inbox;
use super::router::UNMATCHED;
use super::Message;
use crate::codec::SubscriptionOptions;
use crate::session::SubscribeResult;
use crate::topic::TopicFilter;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// The messages matching a set of filters, as a [`futures_core::Stream`]
/// (or through [`recv`](Subscription::recv)). Dropping it unsubscribes
/// from the filters no other subscription uses (a
/// [`Client::messages`](super::Client::messages) stream just stops), and
/// drops what its buffer still holds.
///
/// Its buffer is bounded in bytes (see the flow control section of
/// [`crate::client`]): while it has room, a slow reader holds up nothing
/// else. When it is full, the connection keeps reading and holds back the
/// acknowledgements of this subscription's further QoS 1/2 messages until
/// there is room, so nothing is lost; once those fill the broker's window
/// (which is per connection) the broker holds back QoS 1/2 messages for
/// every subscription of this client, while our own publishes and pings
/// go on.
/// The stream ends (`None`) once the client is closed and the buffer is
/// read.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    filters: Vec<(TopicFilter, SubscriptionOptions)>,
    results: Vec<SubscribeResult>,
    inbox: Arc<Inbox>,
    tx: mpsc::WeakUnboundedSender<Command>,
}

impl Subscription {
    pub(crate) fn new(
        id: u64,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        results: Vec<SubscribeResult>,
        inbox: Arc<Inbox>,
        tx: mpsc::WeakUnboundedSender<Command>,
    ) -> Self {
        Subscription {
            id,
            filters,
            results,
            inbox,
            tx,
        }
    }

    /// The next message; `None` once the client has closed and the buffer
    /// is empty. Cancel-safe: dropping the future (in `select!` or on a
    /// timeout) loses no message; the next call gets it.
    pub async fn recv(&mut self) -> Option<Message> {
        std::future::poll_fn(|cx| self.inbox.poll_pop(cx)).await
    }

    /// Up to `limit` buffered messages appended to `into`, oldest first,
    /// taken under one lock of the buffer: how many. Waits while the buffer
    /// is empty; returns 0 once the client has closed and the buffer is
    /// empty (or at once when `limit` is 0). A reader that batches, such as
    /// one inserting into a database, pays one hand-over per batch instead
    /// of one per message. Cancel-safe as [`recv`](Self::recv) is.
    ///
    /// ```no_run
    /// use tern_mqtt::prelude::*;
    ///
    /// # async fn run() -> Result<(), Error> {
    /// let client = Client::connect(ConnectOptions::new("mqtt://localhost")?).await?;
    /// let mut readings = client.subscribe("plant/+/temp", QoS::AtLeastOnce).await?;
    /// let mut batch = Vec::with_capacity(512);
    /// while readings.recv_many(&mut batch, 512).await > 0 {
    ///     println!("{} readings to store", batch.len());
    ///     batch.clear();
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn recv_many(&mut self, into: &mut Vec<Message>, limit: usize) -> usize {
        std::future::poll_fn(|cx| self.inbox.poll_pop_many(cx, into, limit)).await
    }

    /// This subscription's id, as events name it (0 is the unmatched
    /// stream; [`Client::messages`](super::Client::messages) streams count
    /// from 2^63).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The filters of this subscription.
    pub fn filters(&self) -> &[(TopicFilter, SubscriptionOptions)] {
        &self.filters
    }

    /// The broker's answer for each filter: the granted QoS, or the reason
    /// code of a refusal.
    pub fn results(&self) -> &[SubscribeResult] {
        &self.results
    }

    /// Decoded bytes waiting in the buffer.
    pub fn buffered_bytes(&self) -> usize {
        self.inbox.bytes()
    }

    /// QoS 0 messages dropped because the buffer was full, all told.
    pub fn dropped(&self) -> u64 {
        self.inbox.dropped()
    }
}

impl futures_core::Stream for Subscription {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.inbox.poll_pop(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // The unmatched stream outlives its readers.
        if self.id == UNMATCHED {
            return;
        }
        self.inbox.close_reader();
        if let Some(tx) = self.tx.upgrade() {
            let _ = tx.send(Command::DropSubscription { id: self.id });
        }
    }
}
