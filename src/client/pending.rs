//! The replies owed to publishes, by request id, in a queue rather than a
//! hash map: the engine numbers requests in increasing order, acks mostly
//! come in the order the publishes went out, and a QoS 0 publish completes
//! in the step that sent it, so the entry sought is nearly always at the
//! front or the back. A map paid a hash and a probe into a table of a
//! thousand entries on every insert and every remove.

use super::driver::PendingPublish;
use crate::session::RequestId;
use std::collections::VecDeque;

/// Pending publishes by increasing request id. A completed one leaves its
/// slot empty until the ones before it complete too; when empty slots
/// (behind a long-unacknowledged publish) outnumber the full ones they are
/// dropped, so the queue never grows past about twice what is pending.
#[derive(Default)]
pub(crate) struct PendingPublishes {
    slots: VecDeque<(RequestId, Option<PendingPublish>)>,
    live: usize,
}

impl PendingPublishes {
    /// Keeps the reply owed to request `id` (replacing one already kept
    /// for it, which the engine's unique ids never cause).
    pub fn insert(&mut self, id: RequestId, publish: PendingPublish) {
        match self.slots.back() {
            Some((last, _)) if *last >= id => {
                let at = self.slots.partition_point(|(k, _)| *k < id);
                match self.slots.get_mut(at) {
                    Some((k, slot)) if *k == id => {
                        if slot.replace(publish).is_none() {
                            self.live += 1;
                        }
                        return;
                    }
                    _ => self.slots.insert(at, (id, Some(publish))),
                }
            }
            _ => self.slots.push_back((id, Some(publish))),
        }
        self.live += 1;
    }

    /// Takes the reply owed to request `id`, if one is kept.
    pub fn remove(&mut self, id: RequestId) -> Option<PendingPublish> {
        let at = self.position(id)?;
        let taken = self.slots.get_mut(at)?.1.take()?;
        self.live -= 1;
        self.trim();
        Some(taken)
    }

    /// Takes every reply still owed, in request order.
    pub fn drain(&mut self) -> impl Iterator<Item = PendingPublish> + '_ {
        self.live = 0;
        self.slots.drain(..).filter_map(|(_, p)| p)
    }

    /// How many replies are owed.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.live
    }

    fn position(&self, id: RequestId) -> Option<usize> {
        let last = self.slots.len().checked_sub(1)?;
        if self.slots.front().is_some_and(|(k, _)| *k == id) {
            return Some(0);
        }
        if self.slots.back().is_some_and(|(k, _)| *k == id) {
            return Some(last);
        }
        self.slots.binary_search_by_key(&id, |(k, _)| *k).ok()
    }

    fn trim(&mut self) {
        while matches!(self.slots.front(), Some((_, None))) {
            self.slots.pop_front();
        }
        while matches!(self.slots.back(), Some((_, None))) {
            self.slots.pop_back();
        }
        if self.slots.len() > 2 * self.live + 64 {
            self.slots.retain(|(_, p)| p.is_some());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::publisher::PublishReply;
    use crate::client::slots::QueueSlots;
    use crate::codec::QoS;
    use std::sync::Arc;
    use std::time::Instant;

    fn pending(slots: &Arc<tokio::sync::Semaphore>) -> PendingPublish {
        PendingPublish {
            reply: PublishReply::Nobody(None),
            permit: Some({
                slots.try_acquire().unwrap().forget();
                QueueSlots::taken_over(slots, 1)
            }),
            qos: QoS::AtLeastOnce,
            started: Instant::now(),
        }
    }

    #[test]
    fn finds_each_id_whatever_the_order_of_completion() {
        let slots = Arc::new(tokio::sync::Semaphore::new(100));
        let mut p = PendingPublishes::default();
        for id in [1, 2, 3, 5, 8, 4] {
            p.insert(RequestId(id), pending(&slots));
        }
        assert_eq!(p.len(), 6);
        for id in [3, 1, 8, 4, 5, 2] {
            assert!(p.remove(RequestId(id)).is_some(), "id {id}");
            assert!(p.remove(RequestId(id)).is_none(), "id {id} twice");
        }
        assert_eq!(p.len(), 0);
        assert!(p.slots.is_empty());
        assert!(p.remove(RequestId(9)).is_none());
    }

    #[test]
    fn one_stuck_publish_does_not_let_the_queue_grow() {
        let slots = Arc::new(tokio::sync::Semaphore::new(20_000));
        let mut p = PendingPublishes::default();
        p.insert(RequestId(1), pending(&slots));
        for id in 2..10_000 {
            p.insert(RequestId(id), pending(&slots));
            if id % 2 == 0 {
                p.insert(RequestId(id + 10_000), pending(&slots));
            }
            assert!(p.remove(RequestId(id)).is_some());
            assert!(p.slots.len() <= 2 * p.len() + 65, "{} slots", p.slots.len());
        }
        assert!(p.remove(RequestId(1)).is_some());
        let rest: Vec<_> = p.drain().collect();
        assert_eq!(rest.len(), 4_999);
        assert_eq!(p.len(), 0);
    }
}
