//! QoS 1/2 publishes we send: the queue waiting for quota, and the
//! exchanges in flight, kept in the order they were first sent.

use super::event::RequestId;
use crate::codec::{PacketId, Publish};
use std::collections::{HashMap, VecDeque};
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
    /// In flight, in the order they were first sent, so a resend keeps
    /// the original order [MQTT-4.6.0-1]: slot `k` holds sequence number
    /// `base + k`, and an exchange that ended leaves its slot empty until
    /// the ones before it end too (acks mostly come in order, so the front
    /// empties as the back fills). A PUBLISH (hundreds of bytes) is moved
    /// once in and once out, never shifted inside a map on every insert
    /// and remove.
    slots: VecDeque<Option<Inflight>>,
    /// The sequence number of `slots[0]`.
    base: u64,
    /// How many slots are full.
    live: usize,
    /// Sequence number by packet id.
    by_id: HashMap<u16, u64, foldhash::fast::RandomState>,
}

impl Outgoing {
    /// How many QoS 1/2 exchanges are unacknowledged: what counts against
    /// the server's Receive Maximum.
    pub fn inflight_len(&self) -> usize {
        self.live
    }

    pub fn insert(&mut self, id: PacketId, inflight: Inflight) {
        let seq = self.base + self.slots.len() as u64;
        self.slots.push_back(Some(inflight));
        self.live += 1;
        // An id is in use until its exchange ends, so it is never in the
        // map here; if it were, the old exchange must not stay behind. (One
        // hash operation per insert: the map says whether it was there.)
        if let Some(old) = self.by_id.insert(id.get(), seq) {
            let old_slot = self.index_of(old).and_then(|k| self.slots.get_mut(k));
            if old_slot.and_then(Option::take).is_some() {
                self.live -= 1;
            }
            self.trim();
        }
    }

    fn slot(&self, id: PacketId) -> Option<usize> {
        // Acks mostly come in the order the PUBLISHes went out: the oldest
        // exchange first, without a lookup (the front slot is never empty).
        if let Some(Some(front)) = self.slots.front() {
            if front.publish.packet_id == Some(id) {
                return Some(0);
            }
        }
        self.index_of(*self.by_id.get(&id.get())?)
    }

    /// The slot of sequence number `seq`, if it is still kept.
    fn index_of(&self, seq: u64) -> Option<usize> {
        usize::try_from(seq.checked_sub(self.base)?).ok()
    }

    pub fn get_mut(&mut self, id: PacketId) -> Option<&mut Inflight> {
        let k = self.slot(id)?;
        self.slots.get_mut(k)?.as_mut()
    }

    pub fn remove(&mut self, id: PacketId) -> Option<Inflight> {
        let seq = self.by_id.remove(&id.get())?;
        let k = self.index_of(seq)?;
        let entry = self.slots.get_mut(k)?.take()?;
        self.live -= 1;
        self.trim();
        Some(entry)
    }

    /// Drops the empty slots at the front; renumbers when empty slots
    /// behind a long-unacknowledged exchange outnumber the full ones, so
    /// the slots never grow past about twice what is in flight.
    fn trim(&mut self) {
        while matches!(self.slots.front(), Some(None)) {
            self.slots.pop_front();
            self.base += 1;
        }
        if self.slots.len() <= 2 * self.live + 64 {
            return;
        }
        self.slots.retain(Option::is_some);
        for (k, e) in self.slots.iter().flatten().enumerate() {
            if let Some(id) = e.publish.packet_id {
                self.by_id.insert(id.get(), self.base + k as u64);
            }
        }
    }

    /// The exchanges in flight, in the order they were first sent.
    pub fn iter(&self) -> impl Iterator<Item = &Inflight> {
        self.slots.iter().flatten()
    }

    /// Takes every exchange in flight, in order.
    pub fn take_all(&mut self) -> Vec<Inflight> {
        self.by_id.clear();
        self.base += self.slots.len() as u64;
        self.live = 0;
        std::mem::take(&mut self.slots)
            .into_iter()
            .flatten()
            .collect()
    }

    /// Takes the QoS 2 exchanges whose PUBREC arrived (PUBCOMP awaited), in order.
    pub fn take_awaiting_pubcomp(&mut self) -> Vec<Inflight> {
        self.take_where(|e| e.stage == Stage::AwaitPubComp)
    }

    /// Takes the exchanges in flight that `pick` picks, in order.
    fn take_where(&mut self, pick: impl Fn(&Inflight) -> bool) -> Vec<Inflight> {
        let ids: Vec<PacketId> = self
            .iter()
            .filter(|e| pick(e))
            .filter_map(|e| e.publish.packet_id)
            .collect();
        ids.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Takes the exchange of request `req`, whether in flight or queued.
    pub fn take_request(&mut self, req: RequestId) -> Option<Publish> {
        if let Some(k) = self.queue.iter().position(|q| q.req == req) {
            return self.queue.remove(k).map(|q| q.publish);
        }
        self.take_where(|e| e.req == req).pop().map(|e| e.publish)
    }

    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.live == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, Packet, ProtocolVersion};

    /// A QoS 1 exchange on topic `t` under packet id `id`, its PUBLISH as
    /// decoded from the wire.
    fn exchange(id: u16) -> (PacketId, Inflight) {
        let [hi, lo] = id.to_be_bytes();
        let mut wire = bytes::BytesMut::from(&[0x32, 5, 0, 1, b't', hi, lo][..]);
        let Ok(Some(Packet::Publish(publish))) = decode(&mut wire, ProtocolVersion::V311, 1024)
        else {
            panic!("a PUBLISH");
        };
        let inflight = Inflight {
            req: RequestId(u64::from(id)),
            publish,
            stage: Stage::AwaitPubAck,
        };
        (PacketId::new(id).expect("non-zero"), inflight)
    }

    #[test]
    fn a_stuck_exchange_keeps_its_place_and_the_slots_stay_bounded() {
        let mut out = Outgoing::default();
        let (stuck, first) = exchange(1);
        out.insert(stuck, first);
        for id in 2..3000 {
            let (id, e) = exchange(id);
            out.insert(id, e);
            assert!(out.remove(id).is_some());
            assert!(out.slots.len() <= 2 * out.live + 64, "slots renumbered");
        }
        let (late, e) = exchange(3000);
        out.insert(late, e);
        assert_eq!(out.inflight_len(), 2);
        let order: Vec<u64> = out.iter().map(|e| e.req.0).collect();
        assert_eq!(order, [1, 3000], "first-send order [MQTT-4.6.0-1]");
        assert!(out.get_mut(stuck).is_some());
        assert_eq!(out.remove(stuck).map(|e| e.req.0), Some(1));
        assert_eq!(out.take_all().len(), 1);
        assert!(out.is_idle());
    }

    #[test]
    fn an_id_inserted_again_replaces_its_old_exchange() {
        let mut out = Outgoing::default();
        for id in [1, 2, 1] {
            let (id, mut e) = exchange(id);
            e.req = RequestId(u64::from(id.get()) + 10 * out.slots.len() as u64);
            out.insert(id, e);
        }
        assert_eq!(out.inflight_len(), 2);
        let order: Vec<u64> = out.iter().map(|e| e.req.0).collect();
        assert_eq!(order, [12, 21], "the old exchange of id 1 is gone");
        let one = PacketId::new(1).expect("non-zero");
        assert_eq!(out.remove(one).map(|e| e.req.0), Some(21));
        assert!(out.remove(one).is_none());
    }
}
