//! `Subscription`: a stream of the messages matching its filters.

use super::driver::Command;
use super::Message;
use crate::codec::SubscriptionOptions;
use crate::session::SubscribeResult;
use crate::topic::TopicFilter;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// The messages matching a set of filters, as a [`futures_core::Stream`]
/// (or through [`recv`](Subscription::recv)). Dropping it unsubscribes
/// from the filters no other subscription uses.
///
/// Its buffer is bounded: when it is full, the connection stops reading
/// from the broker until there is room, so a slow consumer slows the
/// broker (through TCP, and through Receive Maximum) instead of losing
/// messages.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    filters: Vec<(TopicFilter, SubscriptionOptions)>,
    results: Vec<SubscribeResult>,
    rx: mpsc::Receiver<Message>,
    tx: mpsc::UnboundedSender<Command>,
}

impl Subscription {
    pub(crate) fn new(
        id: u64,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        results: Vec<SubscribeResult>,
        rx: mpsc::Receiver<Message>,
        tx: mpsc::UnboundedSender<Command>,
    ) -> Self {
        Subscription {
            id,
            filters,
            results,
            rx,
            tx,
        }
    }

    /// The next message; `None` once the client has closed.
    pub async fn recv(&mut self) -> Option<Message> {
        self.rx.recv().await
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
}

impl futures_core::Stream for Subscription {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.get_mut().rx.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.tx.send(Command::DropSubscription { id: self.id });
    }
}
