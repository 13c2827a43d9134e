//! Packet identifiers for what we send: taken from 1..=65535, never one
//! still in use, freed exactly when its exchange ends.

use crate::codec::PacketId;
use std::collections::HashSet;

/// The allocator of outgoing packet identifiers.
#[derive(Debug, Default)]
pub(crate) struct PacketIds {
    /// foldhash: a packet id is hashed on every QoS 1/2 send and ack,
    /// and SipHash cost several percent of the client's CPU there.
    in_use: HashSet<u16, foldhash::fast::RandomState>,
    /// Where the next search starts, so ids cycle instead of reusing the
    /// one just freed (which makes stray late acks easier to tell apart).
    next: u16,
}

impl PacketIds {
    /// A currently unused identifier, now marked in use; `None` when all
    /// 65,535 are taken.
    ///
    /// Each time a Client sends a new SUBSCRIBE, UNSUBSCRIBE, or PUBLISH
    /// (where QoS > 0) MQTT Control Packet it MUST assign it a non-zero
    /// Packet Identifier that is currently unused [MQTT-2.2.1-3].
    pub fn allocate(&mut self) -> Option<PacketId> {
        if self.in_use.len() >= usize::from(u16::MAX) {
            return None;
        }
        // At most 65,535 probes; terminates because a free id exists.
        loop {
            self.next = self.next.checked_add(1).unwrap_or(1);
            if let Some(id) = PacketId::new(self.next) {
                if self.in_use.insert(id.get()) {
                    return Some(id);
                }
            }
        }
    }

    /// Marks `id` in use for an exchange restored from a store, and makes
    /// new ids continue past it. False if it was in use already.
    pub fn restore(&mut self, id: PacketId) -> bool {
        self.next = self.next.max(id.get());
        self.in_use.insert(id.get())
    }

    /// Marks `id` free again.
    pub fn release(&mut self, id: PacketId) {
        self.in_use.remove(&id.get());
    }

    /// Whether `id` is held.
    pub fn is_in_use(&self, id: PacketId) -> bool {
        self.in_use.contains(&id.get())
    }

    /// How many ids are held.
    pub fn len(&self) -> usize {
        self.in_use.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_hands_out_an_id_twice_and_exhausts_at_65535() {
        let mut ids = PacketIds::default();
        let mut seen = HashSet::new();
        for _ in 0..u16::MAX {
            let id = ids.allocate().unwrap();
            assert!(seen.insert(id));
        }
        assert_eq!(ids.allocate(), None, "all 65,535 ids are in use");
        let freed = PacketId::new(4242).unwrap();
        ids.release(freed);
        assert!(!ids.is_in_use(freed));
        assert_eq!(ids.allocate(), Some(freed));
        assert_eq!(ids.len(), usize::from(u16::MAX));
    }
}
