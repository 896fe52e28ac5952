//! Capped exponential back-off with jitter, for every loop that retries a connection or a
//! call: each wait doubles from a first value up to a cap, and is drawn at random from the upper
//! half of that value, so many clients that lost the same server do not come back in step.

use std::time::Duration;

/// The cap while nothing has worked yet (start-up, or a call that never succeeded): after an
/// outage the bot is up within this long of the server answering again.
pub const START_CAP: Duration = Duration::from_secs(4);

/// The wait before retry number `failures + 1`: `first` doubled `failures` times, capped at
/// `max` (and at least 50 ms), then scaled by a random factor in `[0.5, 1.0]`.
pub fn delay(failures: u32, first: Duration, max: Duration) -> Duration {
    let grown = first.saturating_mul(1u32 << failures.min(20));
    let cap = grown.min(max).max(Duration::from_millis(50));
    cap.mul_f64(rand::random_range(0.5..=1.0))
}

/// Back-off state for one retry loop: how many failures in a row, and the caps that apply.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    failures: u32,
    /// Something worked at least once, so `max` applies instead of [`START_CAP`].
    up_once: bool,
}

impl Backoff {
    /// A loop whose waits start at `first` and grow to `max` once it has worked at least
    /// once; until then they stay under [`START_CAP`] (or `max`, if smaller).
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            failures: 0,
            up_once: false,
        }
    }

    /// The wait before the next try, counting one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let cap = if self.up_once {
            self.max
        } else {
            self.max.min(START_CAP)
        };
        let wait = delay(self.failures, self.first, cap);
        self.failures = self.failures.saturating_add(1);
        wait
    }

    /// The connection worked: the next outage starts again from `first`, and may grow to `max`.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.up_once = true;
    }

    /// Failures in a row since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_are_capped_and_jittered() {
        let first = Duration::from_millis(500);
        let max = Duration::from_secs(60);
        assert!(delay(0, first, max) <= first && delay(0, first, max) >= first / 2);
        for failures in [10, 20, 31, u32::MAX] {
            let d = delay(failures, first, max);
            assert!(d <= max && d >= max / 2, "{failures}: {d:?}");
        }
        let draws: Vec<Duration> = (0..20).map(|_| delay(6, first, max)).collect();
        assert!(
            draws.iter().any(|d| *d != draws[0]),
            "twenty waits are not all equal: {draws:?}"
        );
    }

    #[test]
    fn nothing_working_yet_keeps_waits_short_and_a_later_outage_may_wait_longer() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..30 {
            assert!(b.next_delay() <= START_CAP);
        }
        assert_eq!(b.failures(), 30);
        b.succeeded();
        assert_eq!(b.failures(), 0);
        assert!(b.next_delay() <= Duration::from_secs(1));
        let later: Vec<Duration> = (0..30).map(|_| b.next_delay()).collect();
        assert!(later.iter().all(|d| *d <= Duration::from_secs(60)));
        assert!(later.iter().any(|d| *d > START_CAP), "{later:?}");
    }
}
