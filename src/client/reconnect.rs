//! The reconnect policy: how long to wait before the next attempt, and
//! when to stop. Pure (no clock, no I/O): the driver tells it how each
//! connection ended and how long it had been up; it answers with a
//! decision. Tested on its own, below.

use super::options::ReconnectOptions;
use crate::codec::ReasonCode;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The shortest delay between attempts, whatever the options say: a broker
/// that accepts and drops must never see a storm.
const MIN_DELAY: Duration = Duration::from_millis(10);

/// How one connection attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// No MQTT connection: the transport failed, or no CONNACK came.
    Unreachable,
    /// The broker refused the CONNECT (CONNACK 0x80 or above; 3.1.1
    /// return codes mapped to their v5 equivalents).
    Refused(ReasonCode),
    /// A connection the broker had accepted ended after `up`; with the
    /// reason code of the broker's DISCONNECT when it sent one.
    Lost {
        up: Duration,
        reason_code: Option<ReasonCode>,
    },
}

/// What the driver does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Try again after `delay`; `attempt` counts failures since the last
    /// stable connection, from 1.
    Retry { attempt: u32, delay: Duration },
    /// The broker refused the credentials: try again after `delay` only
    /// if the reconnect hook hands out new ones; else stop.
    RetryWithNewCredentials {
        attempt: u32,
        delay: Duration,
        reason_code: ReasonCode,
    },
    /// Stop reconnecting, for the reason given.
    Stop(Stop),
}

/// Why reconnecting stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Another connection with our client id took the session over
    /// (0x8E): two instances must not fight over one id.
    TakenOver,
    /// `max_attempts` failures in a row without a stable connection.
    GaveUp { attempts: u32 },
    /// A refusal that retrying cannot fix (banned, client id not valid,
    /// unsupported protocol version).
    Refused(ReasonCode),
}

/// The reconnect policy's state: failures since the last stable connection.
#[derive(Debug)]
pub(crate) struct Backoff {
    options: ReconnectOptions,
    failures: u32,
    jitter: Jitter,
}

impl Backoff {
    pub fn new(options: ReconnectOptions) -> Self {
        Backoff {
            options,
            failures: 0,
            jitter: Jitter::new(),
        }
    }

    #[cfg(test)]
    fn seeded(options: ReconnectOptions, seed: u64) -> Self {
        Backoff {
            options,
            failures: 0,
            jitter: Jitter(seed | 1),
        }
    }

    /// Failures since the last stable connection.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The decision after a connection ended as `end`.
    pub fn next(&mut self, end: End) -> Decision {
        let reason_code = match end {
            End::Unreachable => None,
            End::Refused(code) => Some(code),
            End::Lost { up, reason_code } => {
                // Only a connection that stayed up resets the count: a
                // broker that accepts and then drops at once is a failure
                // like any other.
                if up >= self.options.stable_after {
                    self.failures = 0;
                }
                reason_code
            }
        };
        if let Some(stop) = reason_code.and_then(final_refusal) {
            return Decision::Stop(stop);
        }
        self.failures = self.failures.saturating_add(1);
        let max = self.options.max_attempts;
        if max > 0 && self.failures > max {
            return Decision::Stop(Stop::GaveUp { attempts: max });
        }
        let busy = reason_code.is_some_and(is_busy);
        let delay = self.delay(busy);
        let attempt = self.failures;
        match reason_code {
            Some(code) if is_credentials(code) => Decision::RetryWithNewCredentials {
                attempt,
                delay,
                reason_code: code,
            },
            _ => Decision::Retry { attempt, delay },
        }
    }

    /// Exponential backoff with "equal jitter": uniform in
    /// `ceiling/2 ..= ceiling`, so no delay is ever near zero.
    fn delay(&mut self, busy: bool) -> Duration {
        let base = self.options.base_delay.max(MIN_DELAY);
        let max = self.options.max_delay.max(base);
        let exp = self.failures.saturating_sub(1).min(30);
        let mut ceiling = base.saturating_mul(1u32 << exp).min(max);
        if busy {
            ceiling = ceiling.max(self.options.busy_delay.min(max));
        }
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        let half = ceiling_ms / 2;
        let spread = self.jitter.next() % (ceiling_ms - half).saturating_add(1);
        Duration::from_millis(half.saturating_add(spread)).max(MIN_DELAY)
    }
}

/// Refusals after which reconnecting stops at once.
fn final_refusal(code: ReasonCode) -> Option<Stop> {
    match code {
        ReasonCode::SESSION_TAKEN_OVER => Some(Stop::TakenOver),
        ReasonCode::BANNED
        | ReasonCode::CLIENT_IDENTIFIER_NOT_VALID
        | ReasonCode::UNSUPPORTED_PROTOCOL_VERSION => Some(Stop::Refused(code)),
        _ => None,
    }
}

/// Refusals that new credentials may fix.
fn is_credentials(code: ReasonCode) -> bool {
    matches!(
        code,
        ReasonCode::BAD_USER_NAME_OR_PASSWORD
            | ReasonCode::NOT_AUTHORIZED
            | ReasonCode::BAD_AUTHENTICATION_METHOD
    )
}

/// "Come back later": server busy, quota exceeded, connection rate exceeded.
fn is_busy(code: ReasonCode) -> bool {
    matches!(
        code,
        ReasonCode::SERVER_BUSY | ReasonCode::QUOTA_EXCEEDED | ReasonCode::CONNECTION_RATE_EXCEEDED
    )
}

/// A small xorshift generator, seeded from the OS through std's
/// `RandomState`: jitter needs spread, not cryptographic strength.
#[derive(Debug)]
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(0x9E37_79B9_7F4A_7C15);
        Jitter(h.finish() | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ReconnectOptions {
        ReconnectOptions {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            ..ReconnectOptions::default()
        }
    }

    fn lost_at_once() -> End {
        End::Lost {
            up: Duration::ZERO,
            reason_code: None,
        }
    }

    fn delay_of(d: Decision) -> Duration {
        match d {
            Decision::Retry { delay, .. } | Decision::RetryWithNewCredentials { delay, .. } => {
                delay
            }
            Decision::Stop(s) => panic!("stopped: {s:?}"),
        }
    }

    #[test]
    fn every_delay_lies_between_half_the_ceiling_and_the_ceiling() {
        let mut b = Backoff::seeded(options(), 7);
        for n in 1..=12u32 {
            let ceiling =
                (Duration::from_millis(100) * 2u32.pow(n - 1)).min(Duration::from_secs(30));
            let d = delay_of(b.next(End::Unreachable));
            assert!(
                d >= ceiling / 2 && d <= ceiling,
                "attempt {n}: {d:?} vs {ceiling:?}"
            );
        }
    }

    #[test]
    fn an_accept_then_drop_broker_does_not_reset_the_count() {
        let mut b = Backoff::seeded(options(), 1);
        let total: Duration = (0..7).map(|_| delay_of(b.next(lost_at_once()))).sum();
        assert_eq!(b.failures(), 7);
        // Equal jitter: at least 50+100+...+3200 ms in all.
        assert!(total >= Duration::from_millis(6350), "{total:?}");
    }

    #[test]
    fn a_stable_connection_resets_the_count() {
        let mut b = Backoff::seeded(options(), 3);
        for _ in 0..5 {
            b.next(End::Unreachable);
        }
        let d = b.next(End::Lost {
            up: Duration::from_secs(60),
            reason_code: None,
        });
        assert_eq!(b.failures(), 1);
        assert!(delay_of(d) <= Duration::from_millis(100));
    }

    #[test]
    fn max_attempts_counts_failures_without_a_stable_connection() {
        let mut b = Backoff::seeded(
            ReconnectOptions {
                max_attempts: 3,
                ..options()
            },
            5,
        );
        for _ in 0..3 {
            assert!(matches!(b.next(lost_at_once()), Decision::Retry { .. }));
        }
        assert_eq!(
            b.next(lost_at_once()),
            Decision::Stop(Stop::GaveUp { attempts: 3 })
        );
    }

    #[test]
    fn session_taken_over_stops_at_once() {
        let mut b = Backoff::seeded(options(), 9);
        let end = End::Lost {
            up: Duration::from_secs(100),
            reason_code: Some(ReasonCode::SESSION_TAKEN_OVER),
        };
        assert_eq!(b.next(end), Decision::Stop(Stop::TakenOver));
    }

    #[test]
    fn bad_credentials_ask_for_new_ones() {
        let mut b = Backoff::seeded(options(), 11);
        for code in [
            ReasonCode::BAD_USER_NAME_OR_PASSWORD,
            ReasonCode::NOT_AUTHORIZED,
            ReasonCode::BAD_AUTHENTICATION_METHOD,
        ] {
            assert!(matches!(
                b.next(End::Refused(code)),
                Decision::RetryWithNewCredentials { reason_code, .. } if reason_code == code
            ));
        }
    }

    #[test]
    fn a_busy_server_gets_the_busy_delay_at_least() {
        for code in [
            ReasonCode::SERVER_BUSY,
            ReasonCode::QUOTA_EXCEEDED,
            ReasonCode::CONNECTION_RATE_EXCEEDED,
        ] {
            let mut b = Backoff::seeded(options(), 13);
            let d = delay_of(b.next(End::Refused(code)));
            assert!(d >= options().busy_delay / 2, "{code}: {d:?}");
        }
    }

    #[test]
    fn banned_and_invalid_client_id_stop() {
        for code in [ReasonCode::BANNED, ReasonCode::CLIENT_IDENTIFIER_NOT_VALID] {
            let mut b = Backoff::seeded(options(), 17);
            assert_eq!(
                b.next(End::Refused(code)),
                Decision::Stop(Stop::Refused(code))
            );
        }
    }

    #[test]
    fn a_zero_base_delay_still_waits() {
        let mut b = Backoff::seeded(
            ReconnectOptions {
                base_delay: Duration::ZERO,
                max_delay: Duration::ZERO,
                ..options()
            },
            19,
        );
        for _ in 0..20 {
            assert!(delay_of(b.next(End::Unreachable)) >= MIN_DELAY);
        }
    }

    #[test]
    fn huge_delays_saturate() {
        let mut b = Backoff::seeded(
            ReconnectOptions {
                base_delay: Duration::MAX,
                max_delay: Duration::MAX,
                busy_delay: Duration::MAX,
                ..options()
            },
            23,
        );
        for _ in 0..40 {
            delay_of(b.next(End::Refused(ReasonCode::SERVER_BUSY)));
        }
    }
}
