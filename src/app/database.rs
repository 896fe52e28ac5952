//! Starts the bot's data: the database (with its backups), the in-memory cache and its sweeper,
//! and the storage writer that commits channel events' points in batches.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;

use super::{Launch, Settings};
use crate::cache::Cache;
use crate::config::Config;
use crate::storage::{Storage, StorageOptions};

/// The database and the cache, shared by scripts, the console and the dispatcher.
pub(super) struct Database {
    /// The redb database.
    pub(super) storage: Storage,
    /// The scripts' cache, kept within its budget by the sweeper.
    pub(super) cache: Arc<Cache>,
}

/// Opens the database and the cache, and starts the cache's sweeper.
///
/// # Errors
/// The database cannot be opened (named by its folder).
pub(super) fn start(
    launch: &mut Launch,
    settings: &Settings,
    config: &Config,
) -> anyhow::Result<Database> {
    let storage = Storage::open(StorageOptions {
        keep_backups: config.loyalty.backups.keep as usize,
        backup_on_open: config.loyalty.backups.enabled,
        ..StorageOptions::new(&settings.data_dir)
    })
    .with_context(|| format!("opening the database in {}", settings.data_dir.display()))?;
    let cache = Arc::new(Cache::with_budget(
        config.bot.cache.max_entries,
        config.bot.cache.max_bytes,
    ));
    {
        let (cache, shutdown) = (cache.clone(), launch.shutdown.clone());
        launch.supervise("cache sweeper", move || {
            cache.spawn_sweeper(Duration::from_secs(30), shutdown.clone())
        });
    }
    Ok(Database { storage, cache })
}

/// Starts the storage writer under the supervisor. Its task is handed back rather than listed:
/// it must come after the dispatcher in the shutdown order, since it ends once the dispatcher's
/// senders are gone.
pub(super) fn start_writer(
    launch: &Launch,
    storage: &Storage,
) -> (crate::storage::writer::Writer, JoinHandle<()>) {
    let (writer, writer_queue) = crate::storage::writer::channel();
    let writer_task = {
        let storage = storage.clone();
        launch.supervisor.restart("storage writer", move || {
            crate::storage::writer::spawn(storage.clone(), writer_queue.clone())
        })
    };
    (writer, writer_task)
}
