//! The moderation log's writer: decisions queue up here and are written to storage in batches
//! on a blocking thread, so a spam wave never makes the dispatcher wait on disk.

use std::sync::Arc;

use tracing::warn;

use crate::storage::Storage;

/// Shortest time between two moderation-log commits.
const MODLOG_COMMIT_GAP: std::time::Duration = std::time::Duration::from_millis(200);
/// Most entries written in one commit.
const MODLOG_BATCH: usize = 1_024;

/// The moderation log's queue; one writer task at a time drains it, so a restarted writer
/// continues where the previous one stopped.
pub type ModlogQueue = Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<serde_json::Value>>>;

/// The sending side of the moderation log (for [`Parts::modlog`](crate::dispatch::Parts::modlog)) and its queue.
pub fn modlog_channel() -> (tokio::sync::mpsc::Sender<serde_json::Value>, ModlogQueue) {
    let (tx, rx) = tokio::sync::mpsc::channel::<serde_json::Value>(4_096);
    (tx, Arc::new(tokio::sync::Mutex::new(rx)))
}

/// Writes moderation-log entries from `queue` to storage on a blocking thread, so a spam wave
/// (one decision per message) never makes the dispatcher wait on disk. Ends once every sender
/// is gone and the queue is written.
pub fn spawn_modlog_writer(storage: Storage, queue: ModlogQueue) -> tokio::task::JoinHandle<()> {
    // A task that hands each batch to a blocking thread, rather than one long-lived blocking
    // thread: idle, it is just a waiting receiver.
    tokio::spawn(async move {
        let mut rx = queue.lock().await;
        let mut batch = Vec::new();
        let mut last_commit: Option<tokio::time::Instant> = None;
        while rx.recv_many(&mut batch, MODLOG_BATCH).await > 0 {
            // Each commit waits for the disk; during a spam wave, gather what arrives for a
            // moment instead (at most a few commits a second). A lone entry is written at once.
            if let Some(at) = last_commit {
                tokio::time::sleep_until(at + MODLOG_COMMIT_GAP).await;
                while batch.len() < MODLOG_BATCH
                    && let Ok(entry) = rx.try_recv()
                {
                    batch.push(entry);
                }
            }
            last_commit = Some(tokio::time::Instant::now());
            let storage = storage.clone();
            let entries = std::mem::take(&mut batch);
            let written = tokio::task::spawn_blocking(move || {
                if let Err(e) = storage.append_modlog_batch(&entries) {
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
        }
    })
}
