//! The storage writer: at-most-once points changes for events, committed off the caller's task
//! in batches. A burst (a 100-gift bomb) costs one redb commit per batch instead of one per
//! event, and the caller (the dispatcher) never waits on the disk.
//!
//! Each job carries its own continuation, run on the writer's task in submission order only
//! after the batch holding the job is committed: a caller that announces from the continuation
//! announces only what is on disk. The event id is marked in the same transaction as the points,
//! so a crash (even `kill -9`) between commit and announcement can lose an announcement but
//! never pays an event twice.

use std::sync::Arc;

use redb::ReadableTable;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use super::schema::EVENTS;
use super::{PointsTxn, Receipt, Result, Storage, now_secs};

/// Most jobs committed in one transaction.
const BATCH: usize = 256;

/// Changes points in a job's transaction.
pub type Apply = Box<dyn FnOnce(&mut PointsTxn<'_>) -> Result<Receipt> + Send>;

/// Runs after the job's batch is committed (or failed), with what the job did.
pub type Then = Box<dyn FnOnce(Written) + Send>;

/// What one job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// The change is committed.
    Done(Receipt),
    /// The id was applied before (maybe in an earlier run): nothing changed.
    Duplicate,
    /// The job had nothing to write; it kept its place in the order.
    Nothing,
    /// Nothing was written (the id is not marked, so a redelivery can pay it).
    Failed(String),
}

/// One unit of work: `apply` at most once per `key` (or nothing), then `then`.
pub struct Job {
    write: Option<(String, Apply)>,
    then: Then,
}

impl Job {
    /// Applies `apply` unless `key` was applied before; the key is marked in the same commit.
    pub fn once(key: String, apply: Apply, then: Then) -> Job {
        Job {
            write: Some((key, apply)),
            then,
        }
    }

    /// Writes nothing: `then` runs in order after the jobs before it.
    pub fn after_pending(then: Then) -> Job {
        Job { write: None, then }
    }
}

/// Where jobs are submitted. Unbounded: jobs come from channel events (follows, subs, cheers),
/// which arrive at human rates; a bomb of a few hundred is a few hundred small boxes.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Job>,
}

impl Writer {
    /// Queues `job`; gives it back when the writer has stopped (at shutdown).
    ///
    /// # Errors
    /// The job, when the writer is gone.
    pub fn submit(&self, job: Job) -> std::result::Result<(), Job> {
        self.tx.send(job).map_err(|e| e.0)
    }
}

/// The writer's queue; one task at a time drains it, so a restarted writer continues where the
/// previous one stopped.
pub type Queue = Arc<Mutex<mpsc::UnboundedReceiver<Job>>>;

/// A writer and the queue its task drains.
pub fn channel() -> (Writer, Queue) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Writer { tx }, Arc::new(Mutex::new(rx)))
}

/// Starts the task that commits jobs from `queue` in batches until every [`Writer`] is gone and
/// the queue is empty. Safe to start again after it failed: it picks up the queue.
pub fn spawn(storage: Storage, queue: Queue) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut rx = queue.lock().await;
        let mut batch = Vec::with_capacity(BATCH);
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            let mut writes = Vec::with_capacity(batch.len());
            let mut thens = Vec::with_capacity(batch.len());
            for job in batch.drain(..) {
                writes.push(job.write);
                thens.push(job.then);
            }
            let st = storage.clone();
            let results = match tokio::task::spawn_blocking(move || commit(&st, writes)).await {
                Ok(results) => results,
                Err(e) => {
                    let why = format!("the storage writer failed: {e}");
                    tracing::error!("{why}");
                    vec![Written::Failed(why); thens.len()]
                }
            };
            for (then, result) in thens.into_iter().zip(results) {
                then(result);
            }
        }
    })
}

/// Commits one batch in one transaction; a job whose change fails is left out (its id is not
/// marked), the others are committed.
fn commit(storage: &Storage, writes: Vec<Option<(String, Apply)>>) -> Vec<Written> {
    let n = writes.len();
    let run = || -> Result<Vec<Written>> {
        let txn = storage.db().begin_write()?;
        let mut out = Vec::with_capacity(n);
        for write in writes {
            let Some((key, apply)) = write else {
                out.push(Written::Nothing);
                continue;
            };
            if txn.open_table(EVENTS)?.get(key.as_str())?.is_some() {
                out.push(Written::Duplicate);
                continue;
            }
            // A change fails only on a record that no longer parses, before it writes.
            let applied = {
                let mut p = PointsTxn::open(&txn)?;
                apply(&mut p)
            };
            match applied {
                Ok(receipt) => {
                    txn.open_table(EVENTS)?.insert(key.as_str(), now_secs())?;
                    out.push(Written::Done(receipt));
                }
                Err(e) => out.push(Written::Failed(e.to_string())),
            }
        }
        txn.commit()?;
        Ok(out)
    };
    match run() {
        Ok(out) => out,
        Err(e) => {
            let why = e.to_string();
            tracing::error!("cannot commit {n} points changes: {why}");
            vec![Written::Failed(why); n]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageOptions;

    #[tokio::test]
    async fn a_job_s_continuation_sees_its_commit_and_a_key_pays_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = StorageOptions::new(dir.path());
        opts.backup_on_open = false;
        let storage = Storage::open(opts).unwrap();
        let (writer, queue) = channel();
        let task = spawn(storage.clone(), queue);
        let (tx, mut rx) = mpsc::unbounded_channel();
        // The same event three times, twice in one batch: paid once.
        for _ in 0..3 {
            let (st, tx) = (storage.clone(), tx.clone());
            let pay: Apply = Box::new(|p| p.change("7", 500, "subscribe tier1"));
            let then: Then = Box::new(move |written| {
                // On disk before the continuation runs.
                let _ = tx.send((written, st.get("7").unwrap()));
            });
            assert!(
                writer
                    .submit(Job::once("points:e1".into(), pay, then))
                    .is_ok()
            );
        }
        let seen: Vec<_> = [
            rx.recv().await.unwrap(),
            rx.recv().await.unwrap(),
            rx.recv().await.unwrap(),
        ]
        .into_iter()
        .map(|(w, balance)| (matches!(w, Written::Done(_)), balance))
        .collect();
        assert_eq!(seen, [(true, 500), (false, 500), (false, 500)]);
        drop(writer);
        task.await.unwrap();
        // A new run (a restart after kill -9) sees the key committed with the points.
        assert!(storage.is_processed("points:e1").unwrap());
    }
}
