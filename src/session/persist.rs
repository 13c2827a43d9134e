//! The engine's side of durable sessions: the [`StoreOp`]s it reports for
//! every change of durable state, and resuming from a [`StoredSession`].
//! See [`crate::store`] for the contract.

use super::event::RequestId;
use super::outgoing::{Inflight, Queued, Stage};
use super::Session;
use crate::codec::{PacketId, Publish, QoS};
use crate::store::{MessageStage, StoreOp, StoredIdentity, StoredMessage, StoredSession};
use std::time::{Instant, SystemTime};

impl Session {
    /// Makes the session report its durable state as [`StoreOp`]s (see
    /// [`crate::store`]); until then it reports none. The first op is the
    /// session's identity.
    pub fn set_persistent(&mut self) {
        self.persistent = true;
        self.record_identity();
    }

    /// The next change of durable state, in the order they were made.
    ///
    /// A driver drains this after every input or command, **before**
    /// [`poll_transmit`](Self::poll_transmit), and writes the bytes of that
    /// step only once the store has made these ops durable: every byte on
    /// the wire then describes state that survives a crash.
    pub fn poll_store_op(&mut self) -> Option<StoreOp> {
        self.store_ops.pop_front()
    }

    /// Whether changes are reported as [`StoreOp`]s.
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    pub(crate) fn record(&mut self, op: impl FnOnce() -> StoreOp) {
        if self.persistent {
            self.store_ops.push_back(op());
        }
    }

    pub(crate) fn record_identity(&mut self) {
        let identity = StoredIdentity {
            version: self.config.version,
            client_id: self.client_id.clone(),
            session_expiry: self.config.session_expiry_interval,
            resumable: self.has_session_state,
        };
        self.record(|| StoreOp::PutIdentity(identity));
    }

    /// A QoS 1/2 message was accepted.
    pub(crate) fn record_accepted(&mut self, req: RequestId, publish: &Publish, now: Instant) {
        if publish.qos != QoS::AtMostOnce {
            self.record(|| StoreOp::PutMessage {
                key: req.0,
                publish: Box::new(publish.clone()),
                queued_at: now,
            });
        }
    }

    /// A QoS 1/2 message is done for good.
    pub(crate) fn record_done(&mut self, req: RequestId, qos: QoS) {
        if qos != QoS::AtMostOnce {
            self.record(|| StoreOp::RemoveMessage { key: req.0 });
        }
    }

    pub(crate) fn record_stage(&mut self, req: RequestId, stage: Stage, id: PacketId) {
        let stage = match stage {
            Stage::AwaitPubAck => MessageStage::AwaitPubAck(id),
            Stage::AwaitPubRec => MessageStage::AwaitPubRec(id),
            Stage::AwaitPubComp => MessageStage::AwaitPubComp(id),
        };
        self.record(|| StoreOp::SetStage { key: req.0, stage });
    }

    /// Resumes from what a store kept: the identity (the stored client id
    /// and session expiry replace the configured ones, and a session the
    /// broker had accepted is resumed with Clean Start 0), the messages in
    /// their order and stages, the incoming QoS 2 ids, the subscriptions.
    ///
    /// `wall` is the wall-clock time at `now` (the engine reads neither):
    /// a message whose Message Expiry deadline has passed is dropped
    /// (reported as [`StoreOp::RemoveMessage`]) unless its PUBREL is owed;
    /// the others carry the interval left. New packet ids continue past
    /// the highest id still in use, and request ids past the highest key.
    /// Restored messages have no completion event of their own unless the
    /// engine fails them for good (their request id is their key).
    pub fn restore(&mut self, stored: StoredSession, now: Instant, wall: SystemTime) {
        let now = self.tick(now);
        if let Some(identity) = stored.identity {
            self.client_id = identity.client_id.clone();
            self.config.client_id = identity.client_id;
            self.config.session_expiry_interval = identity.session_expiry;
            if identity.resumable {
                self.has_session_state = true;
                self.config.clean_start = false;
            }
        }
        for message in stored.messages {
            self.next_request = self.next_request.max(message.key);
            self.restore_message(message, now, wall);
        }
        for id in stored.incoming.into_iter().filter_map(PacketId::new) {
            self.incoming.restore_awaiting_pubrel(id);
        }
        for (filter, subscription) in stored.subscriptions {
            self.subs.active.insert(filter, subscription);
        }
        self.record_identity();
    }

    fn restore_message(&mut self, m: StoredMessage, now: Instant, wall: SystemTime) {
        let req = RequestId(m.key);
        let mut publish = m.publish;
        let owes_pubrel = matches!(m.stage, MessageStage::AwaitPubComp(_));
        if let Some(at) = m.expires_at {
            match at.duration_since(wall) {
                Ok(left) if !left.is_zero() => {
                    // The interval left, rounded up to whole seconds.
                    let secs = left
                        .as_secs()
                        .saturating_add(u64::from(left.subsec_nanos() > 0));
                    publish.properties.message_expiry_interval =
                        Some(u32::try_from(secs).unwrap_or(u32::MAX));
                }
                _ if !owes_pubrel => {
                    tracing::debug!(
                        key = m.key,
                        "a stored message expired while the process was down"
                    );
                    self.record_done(req, publish.qos);
                    return;
                }
                _ => {}
            }
        }
        let inflight = |stage| Inflight {
            req,
            publish: Publish {
                packet_id: m.stage.packet_id(),
                ..publish.clone()
            },
            stage,
        };
        let restored = match m.stage {
            MessageStage::AwaitPubAck(id) => Some((id, inflight(Stage::AwaitPubAck))),
            MessageStage::AwaitPubRec(id) => Some((id, inflight(Stage::AwaitPubRec))),
            MessageStage::AwaitPubComp(id) => Some((id, inflight(Stage::AwaitPubComp))),
            MessageStage::Queued => None,
        };
        match restored {
            Some((id, entry)) if self.ids.restore(id) => self.outgoing.insert(id, entry),
            // Queued, or a second message under one id (a damaged store):
            // sent as a new message.
            _ => self.outgoing.queue.push_back(Queued {
                req,
                publish,
                queued_at: now,
            }),
        }
    }
}
