//! The moderation log's writer: decisions queue up here and are written to storage in batches
//! (one redb transaction each) on a blocking thread, so a spam wave never makes the dispatcher
//! wait on disk; and the log's retention (days, rows), pruned now and then.
//!
//! Memory is bounded and nothing is lost without a trace: past the queue, entries spill into a
//! byte-capped overflow the writer drains next; past that cap an entry is counted, and the
//! count is written to the log itself as one `modlog_overflow` entry.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::sync::mpsc::{self, error::TrySendError};
use tracing::{debug, warn};

use crate::config::moderation::ModLogConfig;
use crate::storage::Storage;

/// Shortest time between two moderation-log commits.
const MODLOG_COMMIT_GAP: Duration = Duration::from_millis(200);
/// Most entries written in one commit.
const MODLOG_BATCH: usize = 1_024;
/// Entries the queue holds before they spill.
const MODLOG_QUEUE: usize = 4_096;
/// Bytes of serialised entries the overflow holds (about 15,000 entries). It is read back
/// one batch at a time, so it never becomes that many decoded entries at once.
const MODLOG_SPILL_BYTES: usize = 4 << 20;
/// How often old entries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(300);
/// Entries written between two prunes at most (a long raid does not wait for the clock).
const PRUNE_AFTER_ROWS: u64 = 10_000;
/// Most entries one prune transaction removes.
const PRUNE_CHUNK: usize = 5_000;
/// Shortest time between two "entries lost" warnings.
const LOST_LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct SpillState {
    /// Serialised entries, oldest first; all newer than anything in the queue.
    entries: VecDeque<Vec<u8>>,
    bytes: usize,
    /// Entries lost since the last `modlog_overflow` entry was written.
    lost_unlogged: u64,
    last_lost_log: Option<tokio::time::Instant>,
}

#[derive(Debug)]
struct Spill {
    state: Mutex<SpillState>,
    wake: Notify,
    cap_bytes: usize,
    lost: AtomicU64,
}

impl Spill {
    fn lock(&self) -> MutexGuard<'_, SpillState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An entry that could not be kept (the log is shut down, or queue and overflow are full); it
/// is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost;

/// The sending side of the moderation log (cheap to clone). Never waits.
#[derive(Debug, Clone)]
pub struct ModlogSender {
    tx: mpsc::Sender<Value>,
    spill: Arc<Spill>,
}

impl ModlogSender {
    /// Queues one entry; when the queue is full it spills into the overflow, which the writer
    /// drains next (order is kept).
    ///
    /// # Errors
    /// [`Lost`] when the writer is gone or the overflow is full too; the entry is counted and
    /// the count written to the log later.
    pub fn try_send(&self, entry: Value) -> Result<(), Lost> {
        let mut sp = self.spill.lock();
        let entry = if sp.entries.is_empty() {
            match self.tx.try_send(entry) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(entry)) => entry,
                Err(TrySendError::Closed(_)) => {
                    self.spill.lost.fetch_add(1, Ordering::Relaxed);
                    return Err(Lost);
                }
            }
        } else {
            entry
        };
        let bytes = serde_json::to_vec(&entry).unwrap_or_default();
        if sp.bytes.saturating_add(bytes.len()) > self.spill.cap_bytes {
            sp.lost_unlogged += 1;
            let lost = self.spill.lost.fetch_add(1, Ordering::Relaxed) + 1;
            let now = tokio::time::Instant::now();
            if sp
                .last_lost_log
                .is_none_or(|at| now.duration_since(at) >= LOST_LOG_EVERY)
            {
                sp.last_lost_log = Some(now);
                warn!(
                    "the moderation log is {} MB behind: {lost} entries counted but not kept",
                    self.spill.cap_bytes >> 20
                );
            }
            return Err(Lost);
        }
        sp.bytes += bytes.len();
        sp.entries.push_back(bytes);
        drop(sp);
        self.spill.wake.notify_one();
        Ok(())
    }

    /// Entries lost since start (counted, and written to the log as a count).
    pub fn lost(&self) -> u64 {
        self.spill.lost.load(Ordering::Relaxed)
    }
}

/// The writer's side: the queue and its overflow. One writer task at a time drains it, so a
/// restarted writer continues where the previous one stopped.
#[derive(Debug, Clone)]
pub struct ModlogQueue {
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Value>>>,
    spill: Arc<Spill>,
}

/// The sending side of the moderation log (for [`Parts::modlog`](crate::dispatch::Parts::modlog)) and its queue.
pub fn modlog_channel() -> (ModlogSender, ModlogQueue) {
    channel_with(MODLOG_QUEUE, MODLOG_SPILL_BYTES)
}

fn channel_with(queue: usize, spill_bytes: usize) -> (ModlogSender, ModlogQueue) {
    let (tx, rx) = mpsc::channel::<Value>(queue.max(1));
    let spill = Arc::new(Spill {
        state: Mutex::default(),
        wake: Notify::new(),
        cap_bytes: spill_bytes,
        lost: AtomicU64::new(0),
    });
    (
        ModlogSender {
            tx,
            spill: spill.clone(),
        },
        ModlogQueue {
            rx: Arc::new(tokio::sync::Mutex::new(rx)),
            spill,
        },
    )
}

/// Takes from the overflow (only once the queue is empty, so order is kept) until `batch`
/// holds [`MODLOG_BATCH`] entries, and once it is empty, the count of lost entries as one
/// `modlog_overflow` entry. Returns whether the overflow still holds entries.
fn take_spill(spill: &Spill, batch: &mut Vec<Value>) -> bool {
    let mut sp = spill.lock();
    while batch.len() < MODLOG_BATCH
        && let Some(bytes) = sp.entries.pop_front()
    {
        sp.bytes = sp.bytes.saturating_sub(bytes.len());
        if let Ok(v) = serde_json::from_slice(&bytes) {
            batch.push(v);
        }
    }
    if !sp.entries.is_empty() {
        return true;
    }
    if sp.lost_unlogged > 0 {
        batch.push(json!({
            "kind": "modlog_overflow",
            "at_ms": crate::clock::now_ms(),
            "lost": sp.lost_unlogged,
        }));
        sp.lost_unlogged = 0;
    }
    false
}

/// Prunes what `retention` no longer keeps, on a blocking thread.
async fn prune(storage: &Storage, retention: ModLogConfig) {
    let storage = storage.clone();
    let day_ms = 86_400_000u64;
    let cutoff = crate::clock::now_ms()
        .saturating_sub(day_ms.saturating_mul(u64::from(retention.keep_days)));
    let done = tokio::task::spawn_blocking(move || {
        storage.prune_modlog(cutoff, retention.max_rows, PRUNE_CHUNK)
    })
    .await;
    match done {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => debug!("moderation log: {n} old entries pruned"),
        Ok(Err(e)) => warn!("cannot prune the moderation log: {e}"),
        Err(e) => warn!("the moderation log pruner failed: {e}"),
    }
}

/// Writes moderation-log entries from `queue` to storage on a blocking thread, so a spam wave
/// (one decision per message) never makes the dispatcher wait on disk, and prunes what
/// `retention` no longer keeps (at start, every few minutes, and after every ten thousand
/// entries). Ends once every sender is gone and the queue is written.
pub fn spawn_modlog_writer(
    storage: Storage,
    queue: ModlogQueue,
    retention: ModLogConfig,
    shutdown: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    // A task that hands each batch to a blocking thread, rather than one long-lived blocking
    // thread: idle, it is just a waiting receiver.
    tokio::spawn(async move {
        let mut rx = queue.rx.lock().await;
        let spill = queue.spill;
        let mut batch = Vec::new();
        let mut last_commit: Option<tokio::time::Instant> = None;
        let mut prune_tick = tokio::time::interval(PRUNE_EVERY);
        prune_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut since_prune = 0u64;
        let mut closed = false;
        // The overflow still holds entries: the next batch is taken without waiting.
        let mut spilled = false;
        loop {
            if closed {
                // Shutting down (or every sender is gone): write what is queued, then stop,
                // whoever still holds a sender.
                while batch.len() < MODLOG_BATCH
                    && let Ok(entry) = rx.try_recv()
                {
                    batch.push(entry);
                }
                if batch.len() < MODLOG_BATCH {
                    take_spill(&spill, &mut batch);
                }
                if batch.is_empty() {
                    return;
                }
            } else if !spilled {
                tokio::select! {
                    n = rx.recv_many(&mut batch, MODLOG_BATCH) => closed = n == 0,
                    () = shutdown.cancelled() => closed = true,
                    () = spill.wake.notified() => {}
                    _ = prune_tick.tick() => {
                        prune(&storage, retention).await;
                        since_prune = 0;
                        continue;
                    }
                }
            }
            if !closed {
                // Each commit waits for the disk; during a spam wave, gather what arrives for
                // a moment instead (at most a few commits a second). A lone entry is written at
                // once.
                if let Some(at) = last_commit {
                    tokio::time::sleep_until(at + MODLOG_COMMIT_GAP).await;
                }
                while batch.len() < MODLOG_BATCH
                    && let Ok(entry) = rx.try_recv()
                {
                    batch.push(entry);
                }
                spilled = false;
                if batch.len() < MODLOG_BATCH && rx.is_empty() {
                    spilled = take_spill(&spill, &mut batch);
                }
                if batch.is_empty() {
                    continue;
                }
            }
            last_commit = Some(tokio::time::Instant::now());
            let storage2 = storage.clone();
            let entries = std::mem::take(&mut batch);
            let n = entries.len() as u64;
            let written = tokio::task::spawn_blocking(move || {
                if let Err(e) = storage2.append_modlog_batch(&entries) {
                    warn!(
                        "cannot write the moderation log ({} entries lost): {e}",
                        entries.len()
                    );
                }
            })
            .await;
            if let Err(e) = written {
                warn!("the moderation log writer failed: {e}");
            }
            since_prune += n;
            if since_prune >= PRUNE_AFTER_ROWS {
                prune(&storage, retention).await;
                since_prune = 0;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageOptions;

    fn storage(dir: &std::path::Path) -> Storage {
        Storage::open(StorageOptions::new(dir)).expect("storage opens")
    }

    fn entry(i: u64, at_ms: u64) -> Value {
        json!({"at_ms": at_ms, "user_login": format!("raider{i}"), "n": i, "punishment": "ban"})
    }

    /// Every entry's `n`, oldest first, read back from the file.
    fn stored(storage: &Storage) -> Vec<u64> {
        let mut rows = storage.recent_modlog(usize::MAX).expect("log reads");
        rows.reverse();
        rows.iter().filter_map(|(_, v)| v["n"].as_u64()).collect()
    }

    /// A shutdown that never comes: the writer ends when its senders are gone.
    fn never() -> tokio_util::sync::CancellationToken {
        tokio_util::sync::CancellationToken::new()
    }

    #[tokio::test]
    async fn at_shutdown_the_queued_entries_are_written_while_a_sender_is_still_held() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path());
        let (tx, queue) = modlog_channel();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let writer = spawn_modlog_writer(
            storage.clone(),
            queue,
            ModLogConfig::default(),
            shutdown.clone(),
        );
        let now = crate::clock::now_ms();
        for i in 0..5_000 {
            tx.try_send(entry(i, now)).expect("kept");
        }
        shutdown.cancel();
        // `tx` stays alive, as a sender held by some other part of the bot would.
        tokio::time::timeout(Duration::from_secs(10), writer)
            .await
            .expect("the writer stops at shutdown, not when the last sender goes")
            .unwrap();
        assert_eq!(stored(&storage), (0..5_000).collect::<Vec<_>>());
        drop(tx);
    }

    #[tokio::test]
    async fn a_raid_of_five_thousand_entries_all_lands_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path());
        let (tx, queue) = modlog_channel();
        let writer = spawn_modlog_writer(storage.clone(), queue, ModLogConfig::default(), never());
        let now = crate::clock::now_ms();
        let started = std::time::Instant::now();
        // One burst, no await in between: the queue (4,096) fills and the rest spills.
        for i in 0..5_000 {
            tx.try_send(entry(i, now)).expect("kept");
        }
        let spilled = tx.spill.lock().entries.len();
        assert_eq!(tx.lost(), 0);
        drop(tx);
        writer.await.unwrap();
        eprintln!(
            "5,000 entries in one burst: {spilled} spilled past the queue, all written in {:?}",
            started.elapsed()
        );
        assert!(spilled > 0, "the burst overflowed the queue");
        assert_eq!(stored(&storage), (0..5_000).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn the_overflow_is_read_back_one_batch_at_a_time() {
        let (tx, queue) = channel_with(1, MODLOG_SPILL_BYTES);
        let now = crate::clock::now_ms();
        for i in 0..(MODLOG_BATCH as u64 * 2 + 10) {
            tx.try_send(entry(i, now)).expect("kept");
        }
        let mut batch = Vec::new();
        assert!(take_spill(&queue.spill, &mut batch), "more is left");
        assert_eq!(batch.len(), MODLOG_BATCH, "never more decoded at once");
        assert_eq!(
            batch[0]["n"], 1,
            "the first went to the queue, the rest in order"
        );
        batch.clear();
        assert!(take_spill(&queue.spill, &mut batch));
        batch.clear();
        assert!(
            !take_spill(&queue.spill, &mut batch),
            "the rest fits in one batch"
        );
        assert_eq!(batch.len(), 9);
    }

    #[tokio::test]
    async fn past_the_overflow_entries_are_counted_and_the_count_is_logged() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path());
        let (tx, queue) = channel_with(10, 1_000);
        let now = crate::clock::now_ms();
        let mut lost = 0;
        for i in 0..100 {
            if tx.try_send(entry(i, now)).is_err() {
                lost += 1;
            }
        }
        assert!(lost > 0, "a 1 kB overflow cannot hold 90 entries");
        assert_eq!(tx.lost(), lost);
        let writer = spawn_modlog_writer(storage.clone(), queue, ModLogConfig::default(), never());
        drop(tx);
        writer.await.unwrap();
        let kept = stored(&storage);
        assert_eq!(kept.len() as u64, 100 - lost);
        let rows = storage.recent_modlog(1).unwrap();
        assert_eq!(rows[0].1["kind"], "modlog_overflow");
        assert_eq!(rows[0].1["lost"], lost);
    }

    #[tokio::test]
    async fn old_and_surplus_entries_are_pruned_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path());
        let now = crate::clock::now_ms();
        let day = 86_400_000;
        let mut old: Vec<Value> = (0..50).map(|i| entry(i, now - 40 * day)).collect();
        old.extend((50..400).map(|i| entry(i, now - day)));
        storage.append_modlog_batch(&old).unwrap();
        let (tx, queue) = modlog_channel();
        let retention = ModLogConfig {
            keep_days: 30,
            max_rows: 300,
        };
        let writer = spawn_modlog_writer(storage.clone(), queue, retention, never());
        // The writer prunes when it starts.
        for _ in 0..200 {
            if storage.modlog_len().unwrap() == 300 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(stored(&storage), (100..400).collect::<Vec<_>>());
        drop(tx);
        writer.await.unwrap();
        // A small prune chunk still removes everything due.
        let removed = storage.prune_modlog(now + 1, 300, 7).unwrap();
        assert_eq!(removed, 300);
        assert_eq!(storage.modlog_len().unwrap(), 0);
    }
}
