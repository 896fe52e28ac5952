//! The send rate limiter: at most N messages in any 30-second window, N following the bot's
//! rate class (configured floor, raised while the bot holds a moderator or broadcaster badge).

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::bot::RateLimit;

/// The window Twitch counts messages in.
pub const WINDOW: Duration = Duration::from_secs(30);

/// A sliding-window limiter over send times.
#[derive(Debug)]
pub struct RateLimiter {
    floor: RateLimit,
    elevated: bool,
    sent: VecDeque<Instant>,
}

impl RateLimiter {
    /// A limiter whose class never drops below `floor`.
    pub fn new(floor: RateLimit) -> RateLimiter {
        RateLimiter {
            floor,
            elevated: false,
            sent: VecDeque::new(),
        }
    }

    /// Records whether the bot is moderator or broadcaster in the channel (from USERSTATE).
    pub fn set_elevated(&mut self, elevated: bool) {
        self.elevated = elevated;
    }

    /// The class in force now.
    pub fn class(&self) -> RateLimit {
        match self.floor {
            RateLimit::Normal if self.elevated => RateLimit::Moderator,
            other => other,
        }
    }

    /// When the next message may be sent: `None` means now.
    pub fn next_slot(&mut self, now: Instant) -> Option<Instant> {
        let limit = self.class().per_30s()? as usize;
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            self.sent.pop_front();
        }
        if self.sent.len() < limit {
            return None;
        }
        // The window is full: the next slot opens when the oldest send leaves it. After a class
        // drop (badge removed) more than `limit` sends may be in the window; count from the one
        // that must leave for the count to fall below the limit.
        let excess = self.sent.len() - limit;
        self.sent.get(excess).map(|t| *t + WINDOW)
    }

    /// Records a send at `now`.
    pub fn record(&mut self, now: Instant) {
        if self.class().per_30s().is_some() {
            self.sent.push_back(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn normal_class_allows_twenty_per_window() {
        let mut rl = RateLimiter::new(RateLimit::Normal);
        let start = Instant::now();
        for _ in 0..20 {
            assert_eq!(rl.next_slot(start), None);
            rl.record(start);
        }
        assert_eq!(rl.next_slot(start), Some(start + WINDOW));
        assert_eq!(rl.next_slot(start + WINDOW), None);
    }

    #[tokio::test(start_paused = true)]
    async fn moderator_badge_raises_and_its_loss_lowers_the_limit() {
        let mut rl = RateLimiter::new(RateLimit::Normal);
        rl.set_elevated(true);
        assert_eq!(rl.class(), RateLimit::Moderator);
        let t = Instant::now();
        for _ in 0..100 {
            assert_eq!(rl.next_slot(t), None);
            rl.record(t);
        }
        assert!(rl.next_slot(t).is_some());
        rl.set_elevated(false);
        assert_eq!(rl.class(), RateLimit::Normal);
        assert_eq!(rl.next_slot(t), Some(t + WINDOW));
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_never_waits() {
        let mut rl = RateLimiter::new(RateLimit::Unlimited);
        let t = Instant::now();
        for _ in 0..10_000 {
            assert_eq!(rl.next_slot(t), None);
            rl.record(t);
        }
    }
}
