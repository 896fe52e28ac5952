//! The in-memory cache scripts share: keyed values with a lifespan each, a bound on entries
//! and on bytes (key plus the value's JSON text), and a
//! sweeper task that drops expired entries. Nothing is persisted; it is gone at exit.
//!
//! Time is `tokio::time::Instant`, so tests drive expiry with `tokio::time::pause()`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The longest lifespan an entry gets: 30 days.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 86_400);

/// The byte budget of [`Cache::new`]: 64 MiB of keys and values (as JSON text).
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

/// A cheap-to-clone handle to one cache.
#[derive(Clone, Debug)]
pub struct Cache {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    max_entries: usize,
    max_bytes: usize,
    /// Bytes held: the sum of the entries' `size`.
    bytes: usize,
    entries: HashMap<String, Entry>,
    /// Eviction order: soonest expiry first (entries without a lifespan last), then oldest.
    order: BTreeSet<(EvictKey, u64, String)>,
    next_seq: u64,
}

/// `None` sorts after every deadline, so entries without a lifespan are evicted last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum EvictKey {
    At(Instant),
    Never,
}

#[derive(Debug)]
struct Entry {
    value: Value,
    key: EvictKey,
    seq: u64,
    /// The key's length plus the value's JSON text length.
    size: usize,
}

impl Cache {
    /// A cache holding at most `max_entries` values (at least one) and
    /// [`DEFAULT_MAX_BYTES`].
    pub fn new(max_entries: usize) -> Cache {
        Cache::with_budget(max_entries, DEFAULT_MAX_BYTES)
    }

    /// A cache holding at most `max_entries` values (at least one) and `max_bytes` of keys and
    /// values (their JSON text).
    pub fn with_budget(max_entries: usize, max_bytes: usize) -> Cache {
        Cache {
            inner: Arc::new(Mutex::new(Inner {
                max_entries: max_entries.max(1),
                max_bytes,
                bytes: 0,
                entries: HashMap::new(),
                order: BTreeSet::new(),
                next_seq: 0,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters for a cache, so a poisoned lock is simply taken over.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a value for `ttl` (`None`: until evicted or exit; longer than [`MAX_TTL`]: for
    /// [`MAX_TTL`]). When full (entries or bytes), the entries expiring soonest (then the
    /// oldest) make room. A value larger than the whole byte budget is not stored, and the old
    /// value under `key` is gone.
    pub fn set(&self, key: &str, value: Value, ttl: Option<Duration>) {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.remove(key);
        inner.remove_expired(now);
        let size = key.len().saturating_add(json_len(&value));
        if size > inner.max_bytes {
            tracing::warn!(
                "cache: `{key}` was not stored: {size} bytes is more than the cache's whole \
                 budget of {} bytes",
                inner.max_bytes
            );
            return;
        }
        while inner.entries.len() >= inner.max_entries
            || inner.bytes.saturating_add(size) > inner.max_bytes
        {
            let Some(first) = inner.order.pop_first() else {
                break;
            };
            if let Some(gone) = inner.entries.remove(&first.2) {
                inner.bytes = inner.bytes.saturating_sub(gone.size);
            }
        }
        inner.bytes = inner.bytes.saturating_add(size);
        // A lifespan past what the clock can hold is as good as none.
        let ekey = match ttl.and_then(|t| now.checked_add(t.min(MAX_TTL))) {
            Some(at) => EvictKey::At(at),
            None => EvictKey::Never,
        };
        let seq = inner.next_seq;
        inner.next_seq = inner.next_seq.wrapping_add(1);
        inner.order.insert((ekey, seq, key.to_owned()));
        inner.entries.insert(
            key.to_owned(),
            Entry {
                value,
                key: ekey,
                seq,
                size,
            },
        );
    }

    /// Stores a string.
    pub fn set_str(&self, key: &str, value: &str, ttl: Option<Duration>) {
        self.set(key, Value::String(value.to_owned()), ttl);
    }

    /// The value, unless missing or expired.
    pub fn get(&self, key: &str) -> Option<Value> {
        let now = Instant::now();
        let inner = self.lock();
        let e = inner.entries.get(key)?;
        match e.key {
            EvictKey::At(at) if at <= now => None,
            _ => Some(e.value.clone()),
        }
    }

    /// The value as a string (`None` if missing, expired or not a string).
    pub fn get_str(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The remaining lifespan (`None` if missing/expired; `Some(None)` for no lifespan).
    pub fn ttl(&self, key: &str) -> Option<Option<Duration>> {
        let now = Instant::now();
        let inner = self.lock();
        match inner.entries.get(key)?.key {
            EvictKey::At(at) if at <= now => None,
            EvictKey::At(at) => Some(Some(at - now)),
            EvictKey::Never => Some(None),
        }
    }

    /// Removes a value; returns whether a live one was there.
    pub fn remove(&self, key: &str) -> bool {
        let now = Instant::now();
        match self.lock().remove(key) {
            Some(EvictKey::At(at)) => at > now,
            Some(EvictKey::Never) => true,
            None => false,
        }
    }

    /// Entries held (expired ones count until swept).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops expired entries now; returns how many.
    pub fn sweep(&self) -> usize {
        self.lock().remove_expired(Instant::now())
    }

    /// Starts a task that sweeps every `period` until `cancel` fires or every handle is gone.
    pub fn spawn_sweeper(
        &self,
        period: Duration,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Mutex<Inner>> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let Some(inner) = weak.upgrade() else { return };
                Cache { inner }.sweep();
            }
        })
    }
}

impl Inner {
    fn remove(&mut self, key: &str) -> Option<EvictKey> {
        let e = self.entries.remove(key)?;
        self.bytes = self.bytes.saturating_sub(e.size);
        self.order.remove(&(e.key, e.seq, key.to_owned()));
        Some(e.key)
    }

    fn remove_expired(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while let Some((EvictKey::At(at), _, _)) = self.order.first() {
            if *at > now {
                break;
            }
            if let Some((_, _, key)) = self.order.pop_first() {
                if let Some(gone) = self.entries.remove(&key) {
                    self.bytes = self.bytes.saturating_sub(gone.size);
                }
                n += 1;
            }
        }
        n
    }
}

/// The length of a value's JSON text, counted without building it.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a `Value` into a counter cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_byte_budget_evicts_the_oldest_and_refuses_a_value_bigger_than_it() {
        // Room for many entries, but 100 bytes: three 30-byte entries fit, a fourth evicts.
        let cache = Cache::with_budget(1000, 100);
        let value = "x".repeat(26); // "k1" + `"xxx…"` (28) = 30 bytes
        for key in ["k1", "k2", "k3"] {
            cache.set_str(key, &value, None);
        }
        assert_eq!(cache.len(), 3);
        cache.set_str("k4", &value, None);
        assert_eq!(cache.len(), 3, "one entry made room");
        assert_eq!(cache.get_str("k1"), None, "the oldest went");
        assert_eq!(cache.get_str("k4").as_deref(), Some(value.as_str()));
        // Replacing a value frees its old bytes first: no eviction.
        cache.set_str("k2", &value, None);
        assert!(cache.get_str("k3").is_some());

        cache.set_str("huge", &"y".repeat(200), None);
        assert_eq!(
            cache.get_str("huge"),
            None,
            "bigger than the budget: not stored"
        );
        assert_eq!(cache.len(), 3, "and nothing evicted for it");
    }

    #[tokio::test]
    async fn a_lifespan_too_long_for_the_clock_is_capped_not_a_panic() {
        let cache = Cache::new(4);
        cache.set_str("k", "v", Some(Duration::MAX));
        let left = cache.ttl("k").flatten().unwrap();
        assert!(left <= MAX_TTL && left > MAX_TTL - Duration::from_secs(5));
        cache.set_str("k", "w", Some(Duration::from_secs(u64::MAX / 2)));
        assert_eq!(cache.get_str("k").as_deref(), Some("w"));
    }
}
