//! The Helix gate: every Helix call waits here for its token's rate-limit bucket. Twitch keeps
//! one points bucket per client and user (`Ratelimit-Limit`, `-Remaining`, `-Reset`), so the
//! gate keeps one per token (bot, broadcaster, app). Within a bucket, calls go by [`Priority`]:
//! chat sends before moderation before background work, and when a bucket runs low the less
//! urgent calls leave a reserve to the more urgent ones and wait for the reset.
//!
//! Waiting costs no task: a waiting call is an entry in its bucket's ordered queue with a
//! one-shot wake-up. Whoever finds the bucket refilled (an answer's headers, a finished call,
//! a waiter whose reset time passed) hands the free points out, most urgent first.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::auth::Account;

/// How urgent a Helix call is. Within one bucket a more urgent call goes first; a less urgent
/// one leaves part of the bucket to the more urgent ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    /// Sending to chat (messages, announcements, shoutouts, whispers): someone waits to see it.
    Chat,
    /// Moderation: bans, timeouts, deletes, warnings, raid defence.
    Moderation,
    /// What can wait: stream polling, emotes, chatters, followers, statistics, EventSub
    /// bookkeeping.
    #[default]
    Background,
}

impl Priority {
    /// The points this priority leaves in a bucket of `limit` for more urgent calls.
    fn reserve(self, limit: u64) -> u64 {
        match self {
            Priority::Chat => 0,
            Priority::Moderation => limit / 40,
            Priority::Background => limit / 10,
        }
    }
}

/// Whose token a call uses: each has its own bucket at Twitch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// The bot account's user token.
    Bot,
    /// The broadcaster's user token.
    Broadcaster,
    /// The app access token (client credentials).
    App,
}

impl From<Account> for TokenKind {
    fn from(a: Account) -> TokenKind {
        match a {
            Account::Bot => TokenKind::Bot,
            Account::Broadcaster => TokenKind::Broadcaster,
        }
    }
}

/// Twitch's documented bucket size, assumed until a `Ratelimit-Limit` header says otherwise.
const DEFAULT_LIMIT: u64 = 800;
/// How long an empty bucket whose reset time is unknown waits before it is taken as refilled.
const UNKNOWN_RESET: Duration = Duration::from_secs(1);

/// One token's bucket as far as the bot knows it.
#[derive(Debug)]
struct Bucket {
    limit: u64,
    /// Points left, as Twitch last said, minus the calls sent since.
    remaining: u64,
    /// When the bucket is full again; `None` when nothing is known to be spent.
    reset_at: Option<Instant>,
    /// Calls sent and not yet answered.
    in_flight: u64,
    /// Waiting calls, most urgent first, then oldest first.
    waiters: BTreeMap<(Priority, u64), oneshot::Sender<()>>,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            limit: DEFAULT_LIMIT,
            remaining: DEFAULT_LIMIT,
            reset_at: None,
            in_flight: 0,
            waiters: BTreeMap::new(),
        }
    }
}

impl Bucket {
    fn may_go(&self, p: Priority) -> bool {
        self.remaining > p.reserve(self.limit)
    }

    fn take(&mut self) {
        self.remaining = self.remaining.saturating_sub(1);
        self.in_flight += 1;
    }

    /// Refills the bucket once its reset has passed, then hands free points to waiters in
    /// order. Stops at the first waiter that may not go: a less urgent one never overtakes.
    fn pump(&mut self, now: Instant) {
        let head = self.waiters.first_key_value().map(|((p, _), _)| *p);
        match self.reset_at {
            Some(at) if now >= at => {
                self.remaining = self.remaining.max(self.limit);
                self.reset_at = None;
            }
            None if self.in_flight == 0 && head.is_some_and(|p| !self.may_go(p)) => {
                // Low with no reset known and no answer to come: wait a moment, then refill.
                self.reset_at = Some(now + UNKNOWN_RESET);
            }
            _ => {}
        }
        while let Some(((p, _), _)) = self.waiters.first_key_value() {
            if !self.may_go(*p) {
                break;
            }
            if let Some((_, tx)) = self.waiters.pop_first()
                && tx.send(()).is_ok()
            {
                self.take();
            }
        }
    }
}

/// The buckets of every token. Cheap to share behind the Helix client's `Arc`.
#[derive(Debug, Default)]
pub struct Gate {
    buckets: Mutex<HashMap<TokenKind, Bucket>>,
    seq: AtomicU64,
    /// Most seconds a `Ratelimit-Reset` is believed ahead (a wrong clock must not stall calls
    /// for hours); zero means no cap.
    max_wait: Duration,
}

/// Leave to send one call; dropping it (answered or not) frees its place.
#[derive(Debug)]
pub struct Permit<'a> {
    gate: &'a Gate,
    kind: TokenKind,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut buckets = self.gate.lock();
        let b = buckets.entry(self.kind).or_default();
        b.in_flight = b.in_flight.saturating_sub(1);
        b.pump(Instant::now());
    }
}

/// A call in its bucket's queue; dropped before it is let through, it leaves the queue (and
/// gives back a place it was just granted).
struct Waiting<'a> {
    gate: &'a Gate,
    kind: TokenKind,
    key: (Priority, u64),
    rx: oneshot::Receiver<()>,
    granted: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.granted {
            return;
        }
        let mut buckets = self.gate.lock();
        let b = buckets.entry(self.kind).or_default();
        b.waiters.remove(&self.key);
        if self.rx.try_recv().is_ok() {
            b.in_flight = b.in_flight.saturating_sub(1);
            b.remaining = b.remaining.saturating_add(1);
            b.pump(Instant::now());
        }
    }
}

impl Gate {
    /// A gate believing a reset at most `max_wait` ahead.
    pub fn new(max_wait: Duration) -> Gate {
        Gate {
            max_wait,
            ..Gate::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<TokenKind, Bucket>> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until a call on `kind`'s token at `priority` may be sent.
    pub async fn acquire(&self, kind: TokenKind, priority: Priority) -> Permit<'_> {
        let mut waiting = {
            let now = Instant::now();
            let mut buckets = self.lock();
            let b = buckets.entry(kind).or_default();
            b.pump(now);
            let ahead = b
                .waiters
                .first_key_value()
                .is_some_and(|((p, _), _)| *p <= priority);
            if !ahead && b.may_go(priority) {
                b.take();
                return Permit { gate: self, kind };
            }
            let key = (priority, self.seq.fetch_add(1, Ordering::Relaxed));
            let (tx, rx) = oneshot::channel();
            b.waiters.insert(key, tx);
            Waiting {
                gate: self,
                kind,
                key,
                rx,
                granted: false,
            }
        };
        loop {
            let deadline = self
                .lock()
                .get(&kind)
                .and_then(|b| b.reset_at)
                .unwrap_or_else(|| Instant::now() + UNKNOWN_RESET);
            tokio::select! {
                got = &mut waiting.rx => {
                    if got.is_ok() {
                        waiting.granted = true;
                        return Permit { gate: self, kind };
                    }
                }
                () = tokio::time::sleep_until(deadline) => {}
            }
            let mut buckets = self.lock();
            let b = buckets.entry(kind).or_default();
            b.pump(Instant::now());
            if waiting.rx.try_recv().is_ok() {
                waiting.granted = true;
                return Permit { gate: self, kind };
            }
            if let Entry::Vacant(slot) = b.waiters.entry(waiting.key) {
                // Its wake-up was lost (cannot happen while the entry lives): queue again.
                let (tx, rx) = oneshot::channel();
                slot.insert(tx);
                waiting.rx = rx;
            }
        }
    }

    /// Takes an answer's `Ratelimit-*` headers into `kind`'s bucket (the answered call is
    /// still in flight).
    pub fn note(
        &self,
        kind: TokenKind,
        limit: Option<u64>,
        remaining: Option<u64>,
        reset_epoch: Option<u64>,
    ) {
        let now = Instant::now();
        let mut buckets = self.lock();
        let b = buckets.entry(kind).or_default();
        if let Some(l) = limit.filter(|l| *l > 0) {
            b.limit = l;
        }
        let reset_at = reset_epoch.map(|e| self.instant_of(e, now));
        if reset_at.is_some_and(|at| at <= now) {
            // Answered before a reset that has passed since: its count is stale (the bucket
            // has refilled), and taking it would make the gate refill twice.
            b.pump(now);
            return;
        }
        if let Some(r) = remaining {
            // Calls sent meanwhile may not be counted in it yet: assume they are not.
            b.remaining = r.saturating_sub(b.in_flight.saturating_sub(1));
        }
        if reset_at.is_some() {
            b.reset_at = reset_at;
        }
        if b.remaining >= b.limit {
            b.reset_at = None;
        }
        b.pump(now);
    }

    /// A 429: the bucket is empty until its reset, and never less than `at_least` from now,
    /// so a stale or missing `Ratelimit-Reset` cannot turn retries into a storm.
    pub fn throttled(&self, kind: TokenKind, reset_epoch: Option<u64>, at_least: Duration) {
        let now = Instant::now();
        let mut buckets = self.lock();
        let b = buckets.entry(kind).or_default();
        b.remaining = 0;
        let reset = reset_epoch.map_or(now, |e| self.instant_of(e, now));
        b.reset_at = Some(reset.max(now + at_least));
    }

    /// Points the gate believes `kind`'s bucket has left.
    pub fn remaining(&self, kind: TokenKind) -> u64 {
        self.lock()
            .get(&kind)
            .map_or(DEFAULT_LIMIT, |b| b.remaining)
    }

    /// Calls waiting in `kind`'s bucket.
    pub fn waiting(&self, kind: TokenKind) -> usize {
        self.lock().get(&kind).map_or(0, |b| b.waiters.len())
    }

    /// The instant of an epoch-seconds reset, capped at `max_wait` ahead.
    fn instant_of(&self, epoch: u64, now: Instant) -> Instant {
        let at = UNIX_EPOCH + Duration::from_secs(epoch);
        let ahead = at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let ahead = if self.max_wait.is_zero() {
            ahead
        } else {
            ahead.min(self.max_wait)
        };
        now + ahead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_low_bucket_keeps_its_reserve_for_urgent_calls() {
        let gate = Gate::new(Duration::from_secs(60));
        // 10 points left of 800: below background's and moderation's reserve, not chat's.
        gate.note(TokenKind::Bot, Some(800), Some(10), None);
        let chat = gate.acquire(TokenKind::Bot, Priority::Chat).await;
        drop(chat);
        let started = Instant::now();
        let bg = gate.acquire(TokenKind::Bot, Priority::Background);
        tokio::pin!(bg);
        assert!(
            tokio::time::timeout(Duration::from_millis(500), &mut bg)
                .await
                .is_err(),
            "background waits while the bucket is low"
        );
        bg.await;
        assert!(started.elapsed() >= UNKNOWN_RESET / 2);
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_let_through_most_urgent_first() {
        let gate = std::sync::Arc::new(Gate::new(Duration::from_secs(60)));
        gate.note(TokenKind::Bot, Some(1), Some(0), None);
        gate.throttled(TokenKind::Bot, None, Duration::from_secs(2));
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for p in [Priority::Background, Priority::Moderation, Priority::Chat] {
            let (gate, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let permit = gate.acquire(TokenKind::Bot, p).await;
                order.lock().unwrap().push(p);
                tokio::time::sleep(Duration::from_millis(10)).await;
                // The answer refills one point, as a one-point bucket would.
                gate.note(TokenKind::Bot, Some(1), Some(1), None);
                drop(permit);
            }));
            settle().await;
        }
        assert_eq!(gate.waiting(TokenKind::Bot), 3);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            vec![Priority::Chat, Priority::Moderation, Priority::Background]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_leaves_the_queue() {
        let gate = Gate::new(Duration::from_secs(60));
        gate.throttled(TokenKind::Bot, None, Duration::from_secs(5));
        let waiting = gate.acquire(TokenKind::Bot, Priority::Background);
        assert!(
            tokio::time::timeout(Duration::from_millis(10), waiting)
                .await
                .is_err()
        );
        assert_eq!(gate.waiting(TokenKind::Bot), 0);
    }
}
