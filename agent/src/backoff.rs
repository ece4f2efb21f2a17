//! Jittered exponential backoff for reconnecting to the appliance (1 s doubling to 60 s).
//!
//! Written here rather than taken from `backon`: its jitter adds up to one more full delay on
//! top, so a 60 s cap would become 120 s, and the agent must stay within the documented bounds.
//! "Equal jitter": each delay is drawn uniformly from [base/2, base], never below the minimum,
//! so replicas of many clusters that lost the appliance at once do not return in lockstep.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The delays between attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// The agent's reconnect policy: 1 s to 60 s.
    pub fn reconnect() -> Backoff {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(60))
    }

    /// A policy from `min` doubling to `max`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// Starts over (after a connection that worked).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(31));
        self.attempt = self.attempt.saturating_add(1);
        let base = self.min.saturating_mul(factor).min(self.max);
        let half = base / 2;
        let jitter = half.mul_f64(random_unit());
        (half + jitter).clamp(self.min, self.max)
    }
}

/// A number in [0, 1]. `RandomState` is seeded from the OS per process and stepped per call,
/// which is random enough to spread reconnects and needs no extra crate.
fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_within_bounds_and_grow() {
        let mut b = Backoff::reconnect();
        let delays: Vec<Duration> = (0..40).map(|_| b.next_delay()).collect();
        for d in &delays {
            assert!(
                *d >= Duration::from_secs(1) && *d <= Duration::from_secs(60),
                "{d:?}"
            );
        }
        // The first is exactly the minimum (half of 1 s is clamped up to 1 s).
        assert_eq!(delays[0], Duration::from_secs(1));
        // After enough attempts the base is the cap: delays are in [30 s, 60 s].
        for d in &delays[10..] {
            assert!(*d >= Duration::from_secs(30), "{d:?}");
        }
        // Jitter: the capped delays are not all the same.
        let first = delays[10];
        assert!(
            delays[10..].iter().any(|d| *d != first),
            "no jitter: {delays:?}"
        );
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn growth_is_exponential_before_the_cap() {
        let mut b = Backoff::reconnect();
        let _ = b.next_delay();
        let _ = b.next_delay();
        let third = b.next_delay(); // base 4 s
        assert!(
            third >= Duration::from_secs(2) && third <= Duration::from_secs(4),
            "{third:?}"
        );
        let mut tight = Backoff::new(Duration::from_millis(100), Duration::from_millis(50));
        assert_eq!(
            tight.next_delay(),
            Duration::from_millis(100),
            "max below min is raised"
        );
    }
}
