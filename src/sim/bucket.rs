//! Helix's rate limit as the fake applies it: one points bucket per token's user and client id
//! (Twitch keeps one per client and user), 800 points, refilled at 800 points a minute, one point
//! per request; a request finding it empty gets 429. Gives the `Ratelimit-*` header values. Tests
//! may shrink the bucket to see a client wait for it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Points a full bucket holds (`Ratelimit-Limit`).
pub const LIMIT: u64 = 800;
/// How long an empty bucket takes to fill again.
pub const REFILL: Duration = Duration::from_secs(60);

/// The outcome of charging one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    /// False: answer 429.
    pub allowed: bool,
    /// Whole points left after this request (`Ratelimit-Remaining`).
    pub remaining: u64,
    /// Seconds from now until the bucket is full again (`Ratelimit-Reset` is now plus this,
    /// as epoch seconds).
    pub full_in_secs: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    points: f64,
    at: Instant,
}

/// Every bucket, by key (the token's user and client id).
#[derive(Debug)]
pub struct Buckets {
    by_key: HashMap<String, Bucket>,
    /// Points a full bucket holds.
    limit: u64,
    /// How long an empty bucket takes to fill again.
    refill: Duration,
    /// Requests refused because their bucket was empty.
    refused: u64,
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            by_key: HashMap::new(),
            limit: LIMIT,
            refill: REFILL,
            refused: 0,
        }
    }
}

impl Buckets {
    /// Every bucket holds `points` (at least 1) and fills again in `refill_secs` (at least 1);
    /// the buckets start full.
    pub fn set_limit(&mut self, points: u64, refill_secs: u64) {
        self.limit = points.max(1);
        self.refill = Duration::from_secs(refill_secs.max(1));
        self.by_key.clear();
    }

    /// Points a full bucket holds (`Ratelimit-Limit`).
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Requests refused so far because their bucket was empty.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Charges one point to `key`'s bucket at `now`.
    pub fn charge(&mut self, key: &str, now: Instant) -> Charge {
        let limit = self.limit as f64;
        let per_sec = limit / self.refill.as_secs_f64();
        let bucket = self.by_key.entry(key.to_string()).or_insert(Bucket {
            points: limit,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.points = (bucket.points + elapsed * per_sec).min(limit);
        bucket.at = now;
        let allowed = bucket.points >= 1.0;
        if allowed {
            bucket.points -= 1.0;
        } else {
            self.refused = self.refused.saturating_add(1);
        }
        Charge {
            allowed,
            remaining: bucket.points.floor() as u64,
            full_in_secs: ((limit - bucket.points) / per_sec).ceil() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_801st_point_within_a_minute_is_refused_until_the_bucket_refills() {
        let mut b = Buckets::default();
        let t0 = Instant::now();
        for i in 0..LIMIT {
            let c = b.charge("bot", t0);
            assert!(c.allowed, "request {} refused", i + 1);
            assert_eq!(c.remaining, LIMIT - i - 1);
        }
        let refused = b.charge("bot", t0);
        assert!(!refused.allowed, "the 801st point in the same instant");
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.full_in_secs, 60, "Ratelimit-Reset a minute ahead");
        // Another token's user has a bucket of its own.
        assert!(b.charge("broadcaster", t0).allowed);
        // 800 points a minute: one point back after 75 ms, all back after a minute.
        assert!(!b.charge("bot", t0 + Duration::from_millis(50)).allowed);
        assert!(b.charge("bot", t0 + Duration::from_millis(200)).allowed);
        let later = b.charge("bot", t0 + Duration::from_secs(61));
        assert!(later.allowed);
        assert_eq!(later.remaining, LIMIT - 1);
    }
}
