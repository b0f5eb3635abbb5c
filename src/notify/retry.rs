//! When to try again: exponential backoff with jitter, up to a limit, and
//! the clock the dispatcher reads and sleeps on (tests bring their own).

use std::time::Duration;

use super::BoxFuture;

/// The time as the dispatcher sees it. The real one is [`SystemClock`];
/// tests use a clock they move by hand, so retries take no real time.
pub trait Clock: Send + Sync {
    /// Now, in Unix seconds (the store's unit).
    fn now(&self) -> i64;
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()>;
}

/// The wall clock and tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        crate::model::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// How often and how long a notification is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay after the first failed attempt (before jitter).
    pub first_delay: Duration,
    /// No delay grows beyond this.
    pub max_delay: Duration,
    /// Attempts in all, the first included; then the target has failed.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 5 s, 10 s, 20 s, ... up to 10 min, 10 attempts: about half an hour
    /// of trying, by which time an approval has usually been seen anyway.
    fn default() -> RetryPolicy {
        RetryPolicy {
            first_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(600),
            max_attempts: 10,
        }
    }
}

impl RetryPolicy {
    /// The delay after `failed_attempts` failures (1 for the first), given
    /// `random` in [0, 1): half of the exponential delay is fixed and half
    /// random ("equal jitter"), so a burst of failures spreads out.
    pub fn delay(&self, failed_attempts: u32, random: f64) -> Duration {
        let doublings = failed_attempts.saturating_sub(1).min(31);
        let exponential = self
            .first_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay);
        let half = exponential / 2;
        half + half.mul_f64(random.clamp(0.0, 1.0))
    }

    /// When to try again after `failed_attempts` failures at `now`, in whole
    /// seconds (rounded up, at least one second later).
    pub fn next_attempt_at(&self, now: i64, failed_attempts: u32) -> i64 {
        let delay = self.delay(failed_attempts, fastrand::f64());
        now + (delay.as_secs_f64().ceil() as i64).max(1)
    }

    /// Whether a target that failed `attempts` times in all has used up its tries.
    pub fn exhausted(&self, attempts: u32) -> bool {
        attempts >= self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_half_of_each_random() {
        let policy = RetryPolicy::default();
        let secs = |failed, random| policy.delay(failed, random).as_secs_f64();
        assert_eq!(secs(1, 0.0), 2.5);
        assert_eq!(secs(1, 0.5), 3.75);
        assert_eq!(secs(2, 0.0), 5.0);
        assert_eq!(secs(3, 0.5), 15.0);
        assert_eq!(secs(7, 1.0), 320.0);
        assert_eq!(secs(8, 1.0), 600.0);
        assert_eq!(secs(8, 0.0), 300.0);
        assert_eq!(secs(1000, 1.0), 600.0);
        // A zeroth failure is treated as the first.
        assert_eq!(secs(0, 0.0), 2.5);
    }

    #[test]
    fn the_next_attempt_falls_within_the_jitter_window() {
        let policy = RetryPolicy::default();
        for failed in 1..=12 {
            for _ in 0..50 {
                let at = policy.next_attempt_at(1_000, failed);
                let low = 1_000 + policy.delay(failed, 0.0).as_secs_f64().ceil() as i64;
                let high = 1_000 + policy.delay(failed, 1.0).as_secs_f64().ceil() as i64;
                assert!(
                    (low..=high).contains(&at),
                    "{failed}: {at} not in {low}..={high}"
                );
            }
        }
    }

    #[test]
    fn an_instant_policy_still_waits_a_second() {
        let policy = RetryPolicy {
            first_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            max_attempts: 3,
        };
        assert_eq!(policy.next_attempt_at(50, 1), 51);
        assert!(!policy.exhausted(2));
        assert!(policy.exhausted(3));
    }
}
