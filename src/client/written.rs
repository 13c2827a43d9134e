//! QoS 0 publishes complete once the transport has taken their bytes, not
//! when they are encoded: the caller learns the message left the process,
//! and a QoS 0 publisher cannot pile up more unsent bytes than its slots
//! in the publish queue allow (a slot is held until the write).

use super::driver::PendingPublish;
use std::collections::VecDeque;

/// QoS 0 completions waiting for the write of their bytes, on one
/// connection, in the order the engine produced them.
#[derive(Default)]
pub(crate) struct AwaitingWrite {
    /// Each with the count of bytes produced on the connection up to and
    /// including its PUBLISH ([`UNMARKED`] until those bytes are
    /// collected from the engine).
    queue: VecDeque<(u64, PendingPublish)>,
    /// Entries at the back still [`UNMARKED`].
    unmarked: usize,
    /// Bytes collected from the engine on this connection.
    produced: u64,
    /// Bytes the transport took on this connection.
    taken: u64,
}

/// The mark of a completion whose bytes are still in the engine.
const UNMARKED: u64 = u64::MAX;

impl AwaitingWrite {
    /// A QoS 0 publish whose PUBLISH the engine just produced (its bytes
    /// are still in the engine's transmit buffer).
    pub fn push(&mut self, publish: PendingPublish) {
        self.queue.push_back((UNMARKED, publish));
        self.unmarked += 1;
    }

    /// `bytes` more were collected from the engine: every unmarked
    /// completion's PUBLISH is among them.
    pub fn collected(&mut self, bytes: usize) {
        self.produced = self
            .produced
            .saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
        let produced = self.produced;
        for (mark, _) in self.queue.iter_mut().rev().take(self.unmarked) {
            *mark = produced;
        }
        self.unmarked = 0;
    }

    /// The transport took `bytes` more.
    pub fn written(&mut self, bytes: usize) {
        self.taken = self
            .taken
            .saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
    }

    /// The next publish whose bytes are all written, if any.
    pub fn pop_written(&mut self) -> Option<PendingPublish> {
        match self.queue.front() {
            Some((mark, _)) if *mark <= self.taken => self.queue.pop_front().map(|(_, p)| p),
            _ => None,
        }
    }

    /// The connection ended: hands back what was not written, and starts
    /// the counts again for the next connection.
    pub fn take_unwritten(&mut self) -> impl Iterator<Item = PendingPublish> {
        std::mem::take(self).queue.into_iter().map(|(_, p)| p)
    }
}
