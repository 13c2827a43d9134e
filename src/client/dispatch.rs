//! What the driver does with each event of the engine: replies to the
//! handles, connection events, and messages into their subscriptions'
//! buffers under flow control.

use super::driver::{now, Driver, PendingPublish};
use super::inbox::Pushed;
use super::metrics::Dropped;
use super::router::Held;
use super::{AckHandle, ConnectionEvent, ConnectionStatus, Message, PublishOutcome};
use crate::codec::{QoS, ReasonCode};
use crate::session::{
    AckToken, CommandError, DisconnectInfo, Event, Initiator, PublishAcked, RequestId,
    SubscribeResult,
};
use crate::Error;

impl Driver {
    /// Handles every event the engine holds.
    pub(super) fn dispatch_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Connected {
                    session_present, ..
                } => self.connected(session_present),
                Event::SubscriptionsLost { subscriptions } => {
                    self.emit(ConnectionEvent::SubscriptionsLost {
                        filters: subscriptions.len(),
                    })
                }
                Event::SubscriptionsRestored { filters, refused } => {
                    let gone: Vec<_> = refused.iter().map(|(f, _)| f.clone()).collect();
                    self.router.forget_filters(&gone);
                    self.emit(ConnectionEvent::Resubscribed {
                        filters,
                        refused: refused
                            .into_iter()
                            .map(|(f, code)| (f.to_string(), code))
                            .collect(),
                    })
                }
                Event::MessageDiscarded { topic, size, .. } => {
                    self.metrics.dropped(Dropped::TooLarge, 1);
                    self.emit(ConnectionEvent::MessageTooLarge {
                        topic: topic.to_string(),
                        size,
                    })
                }
                Event::Message(m) => self.route(m),
                Event::PublishDone { id, result } => self.publish_done(id, result),
                Event::SubscribeDone { id, result } => self.subscribe_done(id, result),
                Event::UnsubscribeDone { id, result } => {
                    if let Some(reply) = self.pending.unsubscribes.remove(&id) {
                        let _ = reply.send(result.map_err(Error::Command));
                    }
                }
                Event::ReauthDone { id, result } => {
                    if let Some(reply) = self.pending.reauths.remove(&id) {
                        let _ = reply.send(result.map_err(Error::Command));
                    }
                }
                Event::Disconnected(info) => self.disconnected(info),
            }
        }
    }

    fn connected(&mut self, session_present: bool) {
        self.facts.accepted_at = Some(now());
        self.servers.accepted();
        self.set_status(ConnectionStatus::Connected {
            session_present,
            server: self.server.clone(),
        });
        if self.connected_once {
            self.emit(ConnectionEvent::Reconnected { session_present });
            return;
        }
        self.connected_once = true;
        if let Some(r) = self.ready.take() {
            let _ = r.send(Ok(session_present));
        }
        self.emit(ConnectionEvent::Connected { session_present });
    }

    fn publish_done(&mut self, id: RequestId, result: Result<PublishAcked, CommandError>) {
        if let Some(publish) = self.pending.publishes.remove(id) {
            self.publish_completed(publish, result);
        }
    }

    /// The engine completed `publish`: a QoS 0 publish then waits for the
    /// transport to take its bytes; any other outcome goes to the caller.
    pub(super) fn publish_completed(
        &mut self,
        publish: PendingPublish,
        result: Result<PublishAcked, CommandError>,
    ) {
        // A QoS 0 publish is done once the transport took its bytes.
        if publish.qos == QoS::AtMostOnce && result.is_ok() {
            self.awaiting_write.push(publish);
            return;
        }
        let outcome = result.map(|acked| PublishOutcome {
            reason_code: acked.reason_code,
            properties: acked.properties,
            pubcomp_lost: acked.pubcomp_lost,
        });
        self.finish_publish(publish, outcome.map_err(Error::Command));
    }

    /// Counts a publish's outcome and hands it to whoever waits for it.
    pub(super) fn finish_publish(
        &self,
        publish: PendingPublish,
        outcome: Result<PublishOutcome, Error>,
    ) {
        let took = now().saturating_duration_since(publish.started);
        self.metrics.completed(publish.qos, outcome.is_ok(), took);
        tracing::debug!(qos = ?publish.qos, ok = outcome.is_ok(), ?took, "publish completed");
        publish.reply.send(outcome, publish.permit);
    }

    fn subscribe_done(
        &mut self,
        id: RequestId,
        result: Result<Vec<SubscribeResult>, CommandError>,
    ) {
        let Some((route, reply)) = self.pending.subscribes.remove(&id) else {
            return;
        };
        let outcome = match result {
            Ok(results) if results.iter().any(Result::is_ok) => {
                self.router.confirm(route, &results);
                match self.router.get_mut(route) {
                    Some(r) => Ok((route, results, std::sync::Arc::clone(&r.inbox))),
                    None => Err(Error::Closed),
                }
            }
            Ok(results) => {
                let reason_code = results
                    .iter()
                    .find_map(|r| r.err())
                    .unwrap_or(ReasonCode::UNSPECIFIED_ERROR);
                Err(Error::Command(CommandError::Refused {
                    reason_code,
                    properties: Default::default(),
                }))
            }
            Err(e) => Err(Error::Command(e)),
        };
        let failed = outcome.is_err();
        // A subscribe whose caller gave up waiting leaves a subscription
        // nobody reads: undo it rather than let its buffer fill.
        if reply.send(outcome).is_err() || failed {
            self.drop_route(route);
        }
    }

    fn disconnected(&mut self, info: DisconnectInfo) {
        let reason_string = info
            .properties
            .reason_string
            .as_ref()
            .map(|s| s.to_string());
        let server_reference = info
            .properties
            .server_reference
            .as_ref()
            .map(|s| s.to_string());
        if let (Initiator::Remote, Some(code)) = (info.initiator, info.reason_code) {
            self.facts.server_reason = Some(code);
            if matches!(
                code,
                ReasonCode::USE_ANOTHER_SERVER | ReasonCode::SERVER_MOVED
            ) {
                self.facts.server_reference = server_reference.clone();
            }
        }
        let accepted = self.facts.accepted_at.is_some();
        match (info.initiator, info.reason_code) {
            (Initiator::Remote, Some(reason_code)) if !accepted => {
                self.metrics.refused(reason_code);
                self.last_error = Some(Error::ConnectionRefused {
                    reason_code,
                    reason_string: reason_string.clone(),
                });
                self.emit(ConnectionEvent::Refused {
                    reason_code,
                    reason_string,
                    server_reference,
                });
            }
            (Initiator::Remote, Some(reason_code)) => {
                self.emit(ConnectionEvent::DisconnectedByServer {
                    reason_code,
                    reason_string,
                    server_reference,
                })
            }
            (Initiator::Local, _) => {}
            _ => {
                let reason = match (&info.error, &self.last_error) {
                    (Some(e), _) => e.to_string(),
                    (None, Some(e)) => e.to_string(),
                    (None, None) => "transport closed".to_owned(),
                };
                if let Some(e) = info.error.clone() {
                    self.last_error = Some(Error::Protocol(e));
                }
                // Only once connected: a first connect reports its failure
                // to `connect` instead.
                if self.connected_once {
                    self.emit(ConnectionEvent::ConnectionLost { reason });
                }
            }
        }
    }

    /// Hands a message to every route it matches. A QoS 1/2 message is
    /// acknowledged once every one of them has it in its buffer; a full
    /// buffer holds the ack back, which (through the broker's window)
    /// throttles what the broker sends without ever stopping our reads.
    fn route(&mut self, m: crate::session::Delivery) {
        let targets = self
            .router
            .targets(&m.topic, m.properties.subscription_identifiers.as_slice());
        let manual = self.settings.manual_acks;
        self.metrics.received(m.qos);
        tracing::debug!(topic = %m.topic, qos = ?m.qos, size = m.payload.len(), retain = m.retain, "message received");
        let token = m.ack;
        let msg = Message {
            topic: m.topic,
            payload: m.payload,
            qos: m.qos,
            retain: m.retain,
            dup: m.dup,
            properties: m.properties,
            ack: token.filter(|_| manual).map(|token| AckHandle {
                token,
                tx: self.commands.clone(),
            }),
        };
        let auto_ack = token.filter(|_| !manual);
        let last = targets.len().saturating_sub(1);
        let mut msg = Some(msg);
        let mut waiting = 0;
        for (i, &route) in targets.iter().enumerate() {
            let item = if i == last { msg.take() } else { msg.clone() };
            if let Some(item) = item {
                if !self.store(route, item, auto_ack) {
                    waiting += 1;
                }
            }
        }
        self.router.recycle(targets);
        if let Some(token) = auto_ack {
            if waiting == 0 {
                self.session.ack(now(), token);
            } else if waiting > 1 {
                self.ack_waits.insert(token, waiting);
            }
        }
    }

    /// Stores a message in a route's buffer. False when the buffer was
    /// full and the route holds the message (and its ack) back.
    fn store(&mut self, route_id: u64, message: Message, ack: Option<AckToken>) -> bool {
        let Some(route) = self.router.get_mut(route_id) else {
            return true;
        };
        if !route.held.is_empty() {
            // Behind held messages: keep the order.
            if message.qos == QoS::AtMostOnce {
                route.inbox.note_dropped(1);
                self.metrics.dropped(Dropped::Qos0Overflow, 1);
                return true;
            }
            route.held.push_back(Held { message, ack });
            return false;
        }
        match route.inbox.push(message) {
            Pushed::Stored | Pushed::Closed => true,
            Pushed::StoredDropping(n) => {
                self.metrics.dropped(Dropped::Qos0Overflow, n);
                self.report_full(route_id, n);
                true
            }
            Pushed::Full(message) if message.qos == QoS::AtMostOnce => {
                route.inbox.note_dropped(1);
                self.metrics.dropped(Dropped::Qos0Overflow, 1);
                self.report_full(route_id, 1);
                true
            }
            Pushed::Full(message) => {
                route.held.push_back(Held {
                    message: *message,
                    ack,
                });
                self.report_full(route_id, 0);
                false
            }
        }
    }

    /// Reports a full buffer, once per episode (until it has room again).
    fn report_full(&mut self, route_id: u64, dropped: u64) {
        let Some(route) = self.router.get_mut(route_id) else {
            return;
        };
        if route.full_reported {
            return;
        }
        route.full_reported = true;
        tracing::warn!(
            subscription = route_id,
            dropped,
            "a subscription buffer is full: acknowledgements are held back and QoS 0 messages dropped until the application reads"
        );
        self.emit(ConnectionEvent::SubscriptionFull {
            subscription: route_id,
        });
    }

    /// A buffer has room: move held messages into it, and send the acks
    /// they owed.
    pub(super) fn refill(&mut self, route_id: u64) {
        let Some(route) = self.router.get_mut(route_id) else {
            return;
        };
        let mut released = Vec::new();
        while let Some(held) = route.held.pop_front() {
            match route.inbox.push(held.message) {
                Pushed::Stored | Pushed::StoredDropping(_) | Pushed::Closed => {
                    released.extend(held.ack)
                }
                Pushed::Full(message) => {
                    route.held.push_front(Held {
                        message: *message,
                        ack: held.ack,
                    });
                    break;
                }
            }
        }
        if route.held.is_empty() {
            route.full_reported = false;
        }
        for token in released {
            self.release_ack(token);
        }
    }

    /// One route no longer holds a message back: ack it once none does.
    pub(super) fn release_ack(&mut self, token: AckToken) {
        if let Some(n) = self.ack_waits.get_mut(&token) {
            *n -= 1;
            if *n > 0 {
                return;
            }
            self.ack_waits.remove(&token);
        }
        self.session.ack(now(), token);
    }
}
