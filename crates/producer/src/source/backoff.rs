//! Exponential backoff with jitter, for reconnects and retried requests.
//!
//! Jitter matters because many producer replicas lose the same provider at the same moment;
//! without it they all come back in lock-step and trip the provider's rate limit together. The
//! "equal jitter" variant used here keeps half of each delay fixed, so a retry is never
//! immediate and a failing provider can never turn a source into a tight loop.

use std::time::Duration;

pub use stockfeed_spec::source::backoff::BackoffConfig;

/// The delays of one run of consecutive failures; [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    attempt: u32,
}

impl Backoff {
    pub fn new(config: BackoffConfig) -> Self {
        Self { config, attempt: 0 }
    }

    /// The delay before the next attempt: `initial * 2^n`, capped at `max`, of which a random
    /// part of up to one half is taken off.
    pub fn next_delay(&mut self) -> Duration {
        let cap = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let half = cap / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if jitter_nanos == 0 {
            0
        } else {
            rand::random_range(0..=jitter_nanos)
        };
        half + Duration::from_nanos(jitter)
    }

    /// Forgets past failures; the next delay is back to `initial`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    fn ceiling(&self) -> Duration {
        let initial = self.config.initial.max(Duration::from_millis(1));
        let factor = 1_u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        initial
            .checked_mul(factor)
            .unwrap_or(self.config.max)
            .min(self.config.max.max(initial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut b = Backoff::new(BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        });
        let first = b.next_delay();
        assert!(
            first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
            "{first:?}"
        );
        for _ in 0..10 {
            let d = b.next_delay();
            assert!(
                d >= Duration::from_millis(50) && d <= Duration::from_secs(1),
                "{d:?}"
            );
        }
        let late = b.next_delay();
        assert!(
            late >= Duration::from_millis(500),
            "capped delay keeps its floor: {late:?}"
        );
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
