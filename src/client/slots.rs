//! The publish queue's slots on the connection task's side.
//!
//! A handle takes a publish's slots from the queue's semaphore and, once
//! the command is on the channel, forgets them: the command carries no
//! permit. The task takes them over as a [`QueueSlots`] guard, which gives
//! them back when dropped. A permit in every command would make each one
//! 16 bytes larger, and the channel's first block (32 commands) sits on
//! every connection, idle or not; boxing the message instead, as before,
//! cost a heap allocation per publish, made on one thread and freed on
//! another.

use std::sync::Arc;
use tokio::sync::Semaphore;

/// Slots of the publish queue that a queued publish (or batch) holds,
/// given back to the queue when this is dropped.
pub(crate) struct QueueSlots {
    queue: Arc<Semaphore>,
    count: usize,
}

impl QueueSlots {
    /// Takes over `count` slots that a handle took from `queue` and
    /// forgot once its command was sent.
    pub(crate) fn taken_over(queue: &Arc<Semaphore>, count: usize) -> Self {
        QueueSlots {
            queue: Arc::clone(queue),
            count,
        }
    }
}

impl Drop for QueueSlots {
    fn drop(&mut self) {
        self.queue.add_permits(self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_guard_gives_the_forgotten_slots_back() {
        let queue = Arc::new(Semaphore::new(5));
        queue.try_acquire_many(3).unwrap().forget();
        assert_eq!(queue.available_permits(), 2);
        let held = QueueSlots::taken_over(&queue, 3);
        assert_eq!(queue.available_permits(), 2);
        drop(held);
        assert_eq!(queue.available_permits(), 5);
    }
}
