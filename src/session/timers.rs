//! One deadline per timer kind (the quinn-proto pattern): the engine arms
//! and clears them; the driver only asks for the earliest.

use std::time::Instant;

/// The engine's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The CONNACK must arrive by then.
    ConnAck = 0,
    /// Some packet must arrive by then, after a PINGREQ.
    PingResp = 1,
}

// The keep-alive deadline is not stored: it is derived from the time the
// last packet was sent, which changes with every send.
const COUNT: usize = 2;
const ALL: [Timer; COUNT] = [Timer::ConnAck, Timer::PingResp];

/// Deadlines, indexed by [`Timer`].
#[derive(Debug, Default, Clone)]
pub(crate) struct Timers {
    deadlines: [Option<Instant>; COUNT],
}

impl Timers {
    pub fn set(&mut self, timer: Timer, at: Instant) {
        if let Some(slot) = self.deadlines.get_mut(timer as usize) {
            *slot = Some(at);
        }
    }

    pub fn stop(&mut self, timer: Timer) {
        if let Some(slot) = self.deadlines.get_mut(timer as usize) {
            *slot = None;
        }
    }

    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines.get(timer as usize).copied().flatten()
    }

    pub fn is_set(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    pub fn stop_all(&mut self) {
        self.deadlines = [None; COUNT];
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// The timers due at `now`, in [`Timer`] order, cleared.
    pub fn expire(&mut self, now: Instant) -> Vec<Timer> {
        let mut due = Vec::new();
        for t in ALL {
            if self.get(t).is_some_and(|at| at <= now) {
                self.stop(t);
                due.push(t);
            }
        }
        due
    }
}
