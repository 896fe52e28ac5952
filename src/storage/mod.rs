//! Persistent state in one redb file, `<data>/bot.redb`: viewers, points and their audit trail,
//! processed event ids, per-script stores, the moderation log, stream statistics, the text
//! commands with their change log, and the regulars.
//!
//! [`Storage`] is a cheap-to-clone handle. Its calls are **blocking** (redb writes `fsync`):
//! scripts and the import run on their own threads and call it directly; async code calls it
//! through `tokio::task::spawn_blocking`, except [`Storage::record_chat`], which only touches
//! memory and is safe on the chat path.
//!
//! Write path: chat counters and processed EventSub message ids are batched in memory and
//! committed by a flusher thread at least once a second and on [`Storage::close`] (or when the
//! last handle drops); everything that moves points commits (durably) before the call returns,
//! or, through the [`writer`] task, before the job's continuation runs, so a caller announces
//! only what is on disk.
//!
//! This module must not know about chat, scripts or configs: callers pass plain values.

mod backup;
mod events;
mod imports;
mod kv;
mod logs;
mod migrate;
mod points;
pub mod schema;
mod text_commands;
mod users;
pub mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use compact_str::CompactString;
use redb::{Database, ReadableDatabase};

pub use backup::{BackupError, backup_file_name};
pub use imports::{ImportBalance, ImportTotals};
pub use kv::{KvLimit, KvQuota, KvUsage};
pub use points::{Applied, PointsTxn, Receipt, WatchCredit, WatchSummary};
pub use schema::{AuditBatch, AuditEntry, SCHEMA_VERSION, UserRecord};
pub use text_commands::TextCommandChange;
pub use users::PendingChat;

/// File name of the database inside the data folder.
pub const DB_FILE: &str = "bot.redb";

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The file exists but redb cannot open it (corrupted, wrong format, locked).
    #[error("cannot open the database {}: {source}. {hint}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What redb said.
        source: redb::DatabaseError,
        /// What to do: names the newest backup when there is one.
        hint: String,
    },
    /// The file was written by a newer build; it is never downgraded.
    #[error(
        "the database {} has schema version {found}, but this build knows only up to {known}: \
         run a newer twitch-bot, or restore a backup from {}",
        path.display(),
        path.with_file_name("backups").display()
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The schema version in the file.
        found: u64,
        /// The newest schema version this build knows.
        known: u64,
    },
    /// A redb operation failed.
    #[error("database error: {0}")]
    Db(#[from] redb::Error),
    /// A stored record no longer parses.
    #[error("corrupt record in table `{table}` at key `{key}`: {reason}")]
    Corrupt {
        /// The table holding the record.
        table: &'static str,
        /// The record's key.
        key: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A file operation (data folder, backups) failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done (`cannot create`, `cannot read`, ...).
        what: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A take or transfer would drive the balance below zero; nothing was changed.
    #[error("not enough points: the balance is {balance}, {needed} needed")]
    InsufficientPoints {
        /// The balance.
        balance: u64,
        /// What the call needed.
        needed: u64,
    },
    /// The user id is not in the database.
    #[error("unknown user `{0}`")]
    UnknownUser(String),
    /// A migration step found data it cannot carry forward; the file is left as it was.
    #[error("migration from schema {from} failed: {reason}")]
    Migration {
        /// The schema version the file had.
        from: u64,
        /// What could not be carried forward.
        reason: String,
    },
    /// Taking or rotating a backup failed.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// A script's store write would pass its quota; nothing was written.
    #[error(
        "the store of script `{script}` is full: this write would make it {would_be} {limit}, \
         over its limit of {max}; nothing was written"
    )]
    StoreFull {
        /// The script whose store is full.
        script: String,
        /// Which limit (keys or bytes) the write would pass.
        limit: kv::KvLimit,
        /// The limit.
        max: u64,
        /// What the store would hold after the write.
        would_be: u64,
    },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(e: $t) -> Self {
                StorageError::Db(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Result of storage calls.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// How the database is opened and looked after.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// The data folder (`--data`, default `data/`).
    pub data_dir: PathBuf,
    /// redb page cache in bytes. redb's default is 1 GiB, which would break the memory budget.
    /// 8 MiB holds the pages a watch-time tick for 10,000 of 100,000 viewers dirties (with
    /// 4 MiB, redb writes them out mid-transaction and reads them back: a third slower), and
    /// keeps 100,000 viewers near 16 MB of RSS.
    pub cache_bytes: usize,
    /// How many backups to keep in `<data>/backups/`.
    pub keep_backups: usize,
    /// Take a backup at open (before anything writes).
    pub backup_on_open: bool,
    /// Interval of the periodic backup while running (`None`: never).
    pub backup_every: Option<Duration>,
    /// Processed event ids older than this are pruned (EventSub retries within minutes).
    pub event_retention: Duration,
    /// Audit rows older than this are pruned (`None`: kept forever). A watch tick writes one
    /// row per present viewer, so a busy channel's trail grows by tens of thousands a day.
    pub audit_retention: Option<Duration>,
    /// How often batched chat counters are committed.
    pub flush_every: Duration,
}

impl StorageOptions {
    /// Defaults for the given data folder.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StorageOptions {
            data_dir: data_dir.into(),
            cache_bytes: 8 * 1024 * 1024,
            keep_backups: 7,
            backup_on_open: true,
            backup_every: Some(Duration::from_secs(24 * 3600)),
            event_retention: Duration::from_secs(7 * 24 * 3600),
            audit_retention: Some(Duration::from_secs(180 * 24 * 3600)),
            flush_every: Duration::from_millis(500),
        }
    }
}

/// A handle to the open database; clones share it.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    path: PathBuf,
    opts: StorageOptions,
    /// Chat counters not yet committed. A std mutex: it is held for a hash-map update only and
    /// never across an await or a disk write (the flusher swaps the map out first).
    pending: Mutex<HashMap<CompactString, PendingChat>>,
    /// Processed event ids not yet committed (see [`Storage::mark_processed`]), with the time
    /// they were seen.
    pending_marks: Mutex<HashMap<String, u64>>,
    /// Keys and bytes of each script's store, counted from the file at its first write since
    /// open and kept in step by every write after. The lock also orders store writes, so the
    /// count and the file cannot drift apart.
    kv_usage: Mutex<HashMap<String, kv::KvUsage>>,
    control: Arc<Control>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

/// Wakes and stops the flusher thread.
struct Control {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// Unix seconds now.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Storage {
    /// Opens (or creates) `<data>/bot.redb`: migrates an older schema after copying the file
    /// beside itself, takes the start-up backup, and starts the flusher thread.
    ///
    /// # Errors
    /// [`StorageError::Open`] names the newest backup when the file cannot be opened;
    /// [`StorageError::TooNew`] for a file from a newer build; I/O errors name the path.
    pub fn open(opts: StorageOptions) -> Result<Storage> {
        std::fs::create_dir_all(&opts.data_dir).map_err(|source| StorageError::Io {
            what: "cannot create the data folder",
            path: opts.data_dir.clone(),
            source,
        })?;
        let path = opts.data_dir.join(DB_FILE);
        let existed = path.exists();
        let db = redb::Builder::new()
            .set_cache_size(opts.cache_bytes)
            .create(&path)
            .map_err(|source| StorageError::Open {
                hint: match source {
                    redb::DatabaseError::DatabaseAlreadyOpen => {
                        "Another twitch-bot (or `twitch-bot import`) is using it; stop that \
                         one first."
                            .to_owned()
                    }
                    _ => backup::newest_backup_hint(&opts.data_dir, &path),
                },
                path: path.clone(),
                source,
            })?;
        migrate::bring_up_to_date(&db, &path)?;
        if existed && opts.backup_on_open {
            // A missing start-up copy is no reason to keep the bot from running: the older
            // copies are still there, and the daily one is taken while it runs.
            match backup::take(&db, &path, &opts.data_dir, "start", opts.keep_backups) {
                Ok(p) => tracing::debug!("start-up backup written to {}", p.display()),
                Err(e) => tracing::warn!(
                    "the start-up backup was not taken ({e}); the bot runs on with the older                      copies in {}: check that the folder is writable and has room",
                    opts.data_dir.join(backup::BACKUP_DIR).display()
                ),
            }
        }
        let control = Arc::new(Control {
            stopped: Mutex::new(false),
            wake: Condvar::new(),
        });
        let storage = Storage {
            inner: Arc::new(Inner {
                db,
                path,
                opts,
                pending: Mutex::new(HashMap::new()),
                pending_marks: Mutex::new(HashMap::new()),
                kv_usage: Mutex::new(HashMap::new()),
                control: Arc::clone(&control),
                flusher: Mutex::new(None),
            }),
        };
        let handle = spawn_flusher(Arc::downgrade(&storage.inner), control)?;
        if let Ok(mut slot) = storage.inner.flusher.lock() {
            *slot = Some(handle);
        }
        Ok(storage)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The schema version stored in the file.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn schema_version(&self) -> Result<u64> {
        let txn = self.inner.db.begin_read()?;
        migrate::read_version(&txn)
    }

    /// Takes a backup now (in `<data>/backups/`, rotated to the configured count).
    ///
    /// # Errors
    /// When the copy cannot be written.
    pub fn backup_now(&self, label: &str) -> Result<PathBuf> {
        let i = &self.inner;
        Ok(backup::take(
            &i.db,
            &i.path,
            &i.opts.data_dir,
            label,
            i.opts.keep_backups,
        )?)
    }

    /// Stops the flusher and commits every batched counter. Later calls still work (they just
    /// are no longer flushed in the background), so a late event during shutdown is not lost
    /// if the caller flushes again.
    ///
    /// # Errors
    /// When the final commit fails.
    pub fn close(&self) -> Result<()> {
        if let Ok(mut stopped) = self.inner.control.stopped.lock() {
            *stopped = true;
        }
        self.inner.control.wake.notify_all();
        let handle = self.inner.flusher.lock().ok().and_then(|mut h| h.take());
        if let Some(handle) = handle {
            // A panicking flusher has already lost its batch; the final flush below still runs.
            let _ = handle.join();
        }
        self.flush()
    }

    /// Bytes redb's page cache holds now (bounded by `StorageOptions::cache_bytes`); `None`
    /// unless built with the `cache-metrics` feature (redb only counts then).
    pub fn cache_bytes_used(&self) -> Option<usize> {
        cfg!(feature = "cache-metrics").then(|| self.db().cache_stats().used_bytes())
    }

    fn db(&self) -> &Database {
        &self.inner.db
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut stopped) = self.control.stopped.lock() {
            *stopped = true;
        }
        self.control.wake.notify_all();
        // Last handle gone without close(): still commit the batch.
        let batch = self
            .pending
            .get_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        if !batch.is_empty()
            && let Err(e) = users::commit_batch(&self.db, &batch)
        {
            tracing::error!("could not commit chat counters at shutdown: {e}");
        }
        let marks = self
            .pending_marks
            .get_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        if let Err(e) = events::commit_marks(&self.db, &marks) {
            tracing::error!("could not commit processed event ids at shutdown: {e}");
        }
    }
}

fn spawn_flusher(inner: Weak<Inner>, control: Arc<Control>) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("storage-flusher".into())
        .spawn(move || flusher_loop(inner, control))
        .map_err(|source| StorageError::Io {
            what: "cannot start the storage flusher thread for",
            path: PathBuf::from(DB_FILE),
            source,
        })
}

/// Commits batched counters every `flush_every`, prunes old event ids hourly and takes the
/// periodic backup. Holds only a weak reference so dropping every handle ends it.
fn flusher_loop(inner: Weak<Inner>, control: Arc<Control>) {
    let started = std::time::Instant::now();
    let mut last_prune: Option<std::time::Instant> = None;
    let mut last_backup = started;
    loop {
        let every = match inner.upgrade() {
            Some(i) => i.opts.flush_every,
            None => return,
        };
        {
            let Ok(stopped) = control.stopped.lock() else {
                return;
            };
            if *stopped {
                return;
            }
            let Ok((stopped, _)) = control.wake.wait_timeout(stopped, every) else {
                return;
            };
            if *stopped {
                return;
            }
        }
        let Some(i) = inner.upgrade() else { return };
        let storage = Storage { inner: i };
        if let Err(e) = storage.flush() {
            tracing::error!("could not commit chat counters (kept for the next try): {e}");
        }
        if last_prune.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
            last_prune = Some(std::time::Instant::now());
            if let Err(e) = storage.prune_events(storage.inner.opts.event_retention) {
                tracing::warn!("could not prune processed event ids: {e}");
            }
            if let Some(keep) = storage.inner.opts.audit_retention
                && let Err(e) = storage.prune_audit(keep)
            {
                tracing::warn!("could not prune the points audit trail: {e}");
            }
        }
        if let Some(period) = storage.inner.opts.backup_every
            && last_backup.elapsed() >= period
        {
            last_backup = std::time::Instant::now();
            match storage.backup_now("daily") {
                Ok(p) => tracing::info!("backup written to {}", p.display()),
                Err(e) => tracing::error!("periodic backup failed: {e}"),
            }
        }
        // Dropping `storage` here may drop the last handle; Inner::drop does not join us.
        drop(storage);
    }
}
