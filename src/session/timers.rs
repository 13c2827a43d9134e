//! One deadline per timer kind (the quinn-proto pattern): the engine arms
//! and clears them; the driver only asks for the earliest.

use std::time::{Duration, Instant};

/// The engine's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The CONNACK must arrive by then.
    ConnAck = 0,
    /// Some packet must arrive by then, after a PINGREQ.
    PingResp = 1,
    /// A graceful disconnect stops waiting for the session to go idle then.
    Disconnect = 2,
}

// The keep-alive deadline is not stored: it is derived from the time the
// last packet was sent, which changes with every send.
const COUNT: usize = 3;
const ALL: [Timer; COUNT] = [Timer::ConnAck, Timer::PingResp, Timer::Disconnect];

/// How far "never" is: a deadline that does not fit in an [`Instant`] is
/// put this far away instead (about 100 years).
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `now + after`, saturating: a duration too long for the platform's
/// [`Instant`] (such as [`Duration::MAX`]) gives a deadline about 100 years
/// away, or failing that a year, a day or an hour away, so no configured
/// duration can make the engine panic. Only an `Instant` within an hour of
/// the platform's end would give `now` itself.
pub(crate) fn deadline(now: Instant, after: Duration) -> Instant {
    const FALLBACKS: [Duration; 4] = [
        FAR_FUTURE,
        Duration::from_secs(365 * 24 * 60 * 60),
        Duration::from_secs(24 * 60 * 60),
        Duration::from_secs(60 * 60),
    ];
    now.checked_add(after)
        .or_else(|| {
            FALLBACKS
                .iter()
                .find_map(|d| now.checked_add((*d).min(after)))
        })
        .unwrap_or(now)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_saturates_instead_of_overflowing() {
        let now = Instant::now();
        assert_eq!(
            deadline(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        let far = deadline(now, Duration::MAX);
        assert!(far > now + Duration::from_secs(365 * 24 * 60 * 60));
    }
}
