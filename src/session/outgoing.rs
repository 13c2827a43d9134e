//! QoS 1/2 publishes we send: the queue waiting for quota, and the
//! exchanges in flight, kept in the order they were first sent.

use super::event::RequestId;
use crate::codec::{PacketId, Publish};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

/// A publish not yet sent: waiting for a connection, send quota or an id.
#[derive(Debug)]
pub(crate) struct Queued {
    pub req: RequestId,
    pub publish: Publish,
    pub queued_at: Instant,
}

/// Where an outgoing QoS 1/2 exchange stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // named after the packet each stage awaits
pub(crate) enum Stage {
    /// QoS 1 PUBLISH sent; PUBACK awaited.
    AwaitPubAck,
    /// QoS 2 PUBLISH sent; PUBREC awaited.
    AwaitPubRec,
    /// PUBREL sent; PUBCOMP awaited.
    AwaitPubComp,
}

/// One exchange in flight.
#[derive(Debug)]
pub(crate) struct Inflight {
    pub req: RequestId,
    /// The PUBLISH as first sent (its packet id set; no topic alias).
    pub publish: Publish,
    pub stage: Stage,
}

/// Outgoing publishes.
#[derive(Debug, Default)]
pub(crate) struct Outgoing {
    pub queue: VecDeque<Queued>,
    /// In flight, by packet id, with the sequence number of their first
    /// send. Kept apart from the order, so that a PUBLISH (hundreds of
    /// bytes) is moved once in and once out, never shifted inside a tree
    /// node on every insert and remove.
    inflight: HashMap<u16, (u64, Inflight)>,
    /// Packet ids by the order they were first sent, so a resend keeps the
    /// original order [MQTT-4.6.0-1].
    order: BTreeMap<u64, u16>,
    seq: u64,
}

impl Outgoing {
    /// How many QoS 1/2 exchanges are unacknowledged: what counts against
    /// the server's Receive Maximum.
    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    pub fn insert(&mut self, id: PacketId, inflight: Inflight) {
        self.seq += 1;
        if let Some((seq, _)) = self.inflight.insert(id.get(), (self.seq, inflight)) {
            // Never happens (an id is in use until its exchange ends), but
            // the order must not keep a stale entry if it did.
            self.order.remove(&seq);
        }
        self.order.insert(self.seq, id.get());
    }

    pub fn get_mut(&mut self, id: PacketId) -> Option<&mut Inflight> {
        self.inflight.get_mut(&id.get()).map(|(_, e)| e)
    }

    pub fn remove(&mut self, id: PacketId) -> Option<Inflight> {
        let (seq, entry) = self.inflight.remove(&id.get())?;
        self.order.remove(&seq);
        Some(entry)
    }

    /// The exchanges in flight, in the order they were first sent.
    pub fn iter(&self) -> impl Iterator<Item = &Inflight> {
        self.order
            .values()
            .filter_map(|id| self.inflight.get(id).map(|(_, e)| e))
    }

    /// Takes every exchange in flight, in order.
    pub fn take_all(&mut self) -> Vec<Inflight> {
        let order = std::mem::take(&mut self.order);
        let taken = order
            .into_values()
            .filter_map(|id| self.inflight.remove(&id).map(|(_, e)| e))
            .collect();
        self.inflight = HashMap::new();
        taken
    }

    /// Takes the QoS 2 exchanges whose PUBREC arrived (PUBCOMP awaited), in order.
    pub fn take_awaiting_pubcomp(&mut self) -> Vec<Inflight> {
        let ids: Vec<u16> = self
            .order
            .values()
            .copied()
            .filter(|id| {
                self.inflight
                    .get(id)
                    .is_some_and(|(_, e)| e.stage == Stage::AwaitPubComp)
            })
            .collect();
        ids.into_iter()
            .filter_map(|id| self.remove(PacketId::new(id)?))
            .collect()
    }

    /// Takes the exchange of request `req`, whether in flight or queued.
    pub fn take_request(&mut self, req: RequestId) -> Option<Publish> {
        if let Some(k) = self.queue.iter().position(|q| q.req == req) {
            return self.queue.remove(k).map(|q| q.publish);
        }
        let id = self
            .inflight
            .iter()
            .find(|(_, (_, e))| e.req == req)
            .map(|(id, _)| *id)?;
        self.remove(PacketId::new(id)?).map(|e| e.publish)
    }

    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.inflight.is_empty()
    }
}
