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
    /// In flight, keyed by the order they were first sent, so a resend keeps
    /// the original order [MQTT-4.6.0-1].
    inflight: BTreeMap<u64, Inflight>,
    by_id: HashMap<u16, u64>,
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
        self.by_id.insert(id.get(), self.seq);
        self.inflight.insert(self.seq, inflight);
    }

    pub fn get_mut(&mut self, id: PacketId) -> Option<&mut Inflight> {
        let seq = self.by_id.get(&id.get())?;
        self.inflight.get_mut(seq)
    }

    pub fn remove(&mut self, id: PacketId) -> Option<Inflight> {
        let seq = self.by_id.remove(&id.get())?;
        self.inflight.remove(&seq)
    }

    /// The exchanges in flight, in the order they were first sent.
    pub fn iter(&self) -> impl Iterator<Item = &Inflight> {
        self.inflight.values()
    }

    /// Takes every exchange in flight, in order.
    pub fn take_all(&mut self) -> Vec<Inflight> {
        self.by_id.clear();
        std::mem::take(&mut self.inflight).into_values().collect()
    }

    /// Takes the QoS 2 exchanges whose PUBREC arrived (PUBCOMP awaited), in order.
    pub fn take_awaiting_pubcomp(&mut self) -> Vec<Inflight> {
        let seqs: Vec<u64> = self
            .inflight
            .iter()
            .filter(|(_, e)| e.stage == Stage::AwaitPubComp)
            .map(|(seq, _)| *seq)
            .collect();
        let taken: Vec<Inflight> = seqs
            .iter()
            .filter_map(|seq| self.inflight.remove(seq))
            .collect();
        for e in &taken {
            if let Some(id) = e.publish.packet_id {
                self.by_id.remove(&id.get());
            }
        }
        taken
    }

    /// Takes the exchange of request `req`, whether in flight or queued.
    pub fn take_request(&mut self, req: RequestId) -> Option<Publish> {
        if let Some(k) = self.queue.iter().position(|q| q.req == req) {
            return self.queue.remove(k).map(|q| q.publish);
        }
        let seq = self
            .inflight
            .iter()
            .find(|(_, e)| e.req == req)
            .map(|(seq, _)| *seq)?;
        let entry = self.inflight.remove(&seq)?;
        if let Some(id) = entry.publish.packet_id {
            self.by_id.remove(&id.get());
        }
        Some(entry.publish)
    }

    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.inflight.is_empty()
    }
}
