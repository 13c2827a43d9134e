//! Backoff between reconnect attempts: exponential, with full jitter.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// A small xorshift generator, seeded from the OS through std's
/// `RandomState`: jitter needs spread, not cryptographic strength.
#[derive(Debug)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub fn new() -> Self {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(0x9E37_79B9_7F4A_7C15);
        Jitter(h.finish() | 1)
    }

    #[cfg(test)]
    pub fn seeded(seed: u64) -> Self {
        Jitter(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// The delay before attempt `attempt` (from 1): uniform in
    /// `0..=min(max, base * 2^(attempt-1))` ("full jitter").
    pub fn delay(&mut self, attempt: u32, base: Duration, max: Duration) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let ceiling = base.saturating_mul(1u32 << exp).min(max);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        if ceiling_ms == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(self.next() % (ceiling_ms + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_the_growing_ceiling_and_spread() {
        let mut j = Jitter::seeded(42);
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        for attempt in 1..20u32 {
            let ceiling = (base * 2u32.pow(attempt.min(20) - 1)).min(max);
            for _ in 0..50 {
                assert!(j.delay(attempt, base, max) <= ceiling);
            }
        }
        let samples: std::collections::HashSet<_> =
            (0..100).map(|_| j.delay(10, base, max)).collect();
        assert!(samples.len() > 50, "jitter spreads the delays");
    }
}
