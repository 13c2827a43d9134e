//! What the driver does with each command from a handle: it maps it onto
//! the engine and keeps the reply for the engine's completion event.

use super::driver::{now, Command, Driver};
use super::inbox::Inbox;
use super::options::OfflinePolicy;
use super::publisher::PublishReply;
use super::router::Route;
use super::slots::QueueSlots;
use crate::codec::{
    ProtocolVersion, QoS, ReasonCode, SubscribeProperties, SubscriptionOptions,
    UnsubscribeProperties,
};
use crate::session::{ConnectionState, PublishCommand};
use crate::topic::TopicFilter;
use crate::Error;
use std::num::NonZeroU32;
use tokio::sync::oneshot;

impl Driver {
    pub(super) fn handle_command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish { cmd, mut reply } => {
                // Told once the message is accepted: durable with a store
                // (or failed at once); at once without one.
                let accepted = reply.take_accepted();
                let slot = QueueSlots::taken_over(&self.publish_slots, 1);
                self.publish(cmd, reply, Some(slot));
                self.accept_when_durable(accepted);
            }
            Command::PublishBatch { messages, reply } => {
                let slots = QueueSlots::taken_over(&self.publish_slots, messages.len());
                self.publish_batch(messages, reply, slots)
            }
            Command::Subscribe {
                filters,
                properties,
                reply,
            } => self.subscribe(filters, properties, reply),
            Command::Unsubscribe { filters, reply } => {
                self.router.forget_filters(&filters);
                match self
                    .session
                    .unsubscribe(now(), filters, UnsubscribeProperties::default())
                {
                    Ok(id) => {
                        self.pending.unsubscribes.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(Error::Command(e)));
                    }
                }
            }
            Command::DropSubscription { id } => self.drop_route(id),
            Command::Unmatched { reply } => {
                self.router.claim_unmatched();
                let _ = reply.send(self.router.unmatched_inbox());
            }
            Command::Tap { id, inbox } => self.router.add_tap(Route::new(id, Vec::new(), inbox)),
            Command::Ack { token, reason_code } => self.session.ack_with(now(), token, reason_code),
            Command::Room { route } => self.refill(route),
            Command::Reauth { reply } => match self.session.reauthenticate(now()) {
                Ok(id) => {
                    self.pending.reauths.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(Error::Command(e)));
                }
            },
            Command::Disconnect { reason_code, reply } => self.disconnect(reason_code, reply),
            Command::Abort { reply } => self.pending.abort = Some(reply),
        }
    }

    fn publish(&mut self, cmd: PublishCommand, reply: PublishReply, permit: Option<QueueSlots>) {
        let connected = self.session.state() == ConnectionState::Connected;
        let queued = self.session.queued();
        if !connected
            && self.settings.offline_policy == OfflinePolicy::Fail
            && queued >= self.settings.offline_queue
        {
            reply.send(Err(Error::OfflineQueueFull(queued)), permit);
            return;
        }
        let qos = cmd.qos;
        match self.session.publish(now(), cmd) {
            Ok(id) => {
                let pending = super::driver::PendingPublish {
                    reply,
                    permit,
                    qos,
                    started: now(),
                };
                // A QoS 0 publish sent at once is already done in the
                // engine: it goes straight to waiting for its write,
                // without a trip through the replies kept by request id.
                let sent_now = match qos {
                    QoS::AtMostOnce => self.session.take_publish_done(id),
                    _ => None,
                };
                match sent_now {
                    Some(result) => self.publish_completed(pending, result),
                    None => self.pending.publishes.insert(id, pending),
                }
            }
            Err(e) => reply.send(Err(Error::Command(e)), permit),
        }
    }

    /// Each message of a batch, in order, replying through the batch.
    fn publish_batch(
        &mut self,
        messages: Vec<PublishCommand>,
        reply: oneshot::Sender<super::batch::BatchOutcomes>,
        permit: QueueSlots,
    ) {
        let shares = super::batch::Batch::shares(messages.len(), permit, reply);
        for (cmd, share) in messages.into_iter().zip(shares) {
            self.publish(cmd, PublishReply::Batch(share), None);
        }
    }

    fn subscribe(
        &mut self,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        mut properties: SubscribeProperties,
        reply: oneshot::Sender<Result<super::driver::SubscribeReply, Error>>,
    ) {
        if let Some(route) = self.router.dormant_for(&filters) {
            return self.reattach(route, filters, properties, reply);
        }
        if let Some(taken) = self.router.taken_filter(&filters) {
            let _ = reply.send(Err(Error::AlreadySubscribed {
                filter: taken.to_string(),
            }));
            return;
        }
        self.next_route += 1;
        let route_id = self.next_route;
        // Tag the subscription with an identifier of our own, so that
        // messages route exactly even when filters overlap; unless the
        // broker has no identifiers or the application turned them off
        // (routing then matches filters).
        if self.session.version() == ProtocolVersion::V5
            && self.settings.subscription_identifiers
            && self.session.limits().subscription_identifiers_available
            && properties.subscription_identifier.is_none()
        {
            properties.subscription_identifier =
                u32::try_from(route_id).ok().and_then(NonZeroU32::new);
        }
        let subscription_id = properties.subscription_identifier;
        match self.session.subscribe(now(), filters.clone(), properties) {
            Ok(id) => {
                let inbox = Inbox::new(
                    route_id,
                    self.settings.subscription_budget,
                    self.commands.clone(),
                    self.metrics.buffered.clone(),
                );
                let mut route = Route::new(route_id, filters, inbox);
                route.subscription_id = subscription_id;
                self.router.add(route);
                self.pending.subscribes.insert(id, (route_id, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(Error::Command(e)));
            }
        }
    }

    /// A `Subscription` was dropped (or its subscribe was abandoned):
    /// unsubscribe from the filters nobody else uses, and release the acks
    /// its held messages owed so they do not block later ones.
    pub(super) fn drop_route(&mut self, id: u64) {
        let (unused, acks, dropped) = self.router.remove(id);
        if dropped > 0 {
            self.metrics
                .dropped(super::metrics::Dropped::WithSubscription, dropped);
        }
        for token in acks {
            self.release_ack(token);
        }
        if !unused.is_empty() && !self.session.is_closed() {
            // Its completion has no reply waiting: nobody asked.
            let _ = self
                .session
                .unsubscribe(now(), unused, UnsubscribeProperties::default());
        }
    }

    fn disconnect(&mut self, reason_code: ReasonCode, reply: oneshot::Sender<Result<(), Error>>) {
        if self.session.is_closed() {
            let _ = reply.send(Ok(()));
            return;
        }
        self.pending.disconnects.push(reply);
        self.begin_disconnect(reason_code);
    }

    /// Starts a graceful disconnect: the engine lets in-flight exchanges
    /// finish for up to the disconnect timeout, then sends DISCONNECT.
    pub(super) fn begin_disconnect(&mut self, reason_code: ReasonCode) {
        if self.session.is_closed() {
            return;
        }
        let timeout = self.settings.disconnect_timeout;
        let _ = self
            .session
            .disconnect_when_idle(now(), reason_code, timeout);
    }

    /// Every `Client` is gone: leave politely (no will), and never come back.
    pub(super) fn all_handles_gone(&mut self) {
        tracing::info!("every client handle was dropped: disconnecting");
        self.begin_disconnect(ReasonCode::NORMAL_DISCONNECTION);
    }
}
