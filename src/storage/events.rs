//! Processed event ids: EventSub delivers at least once, so each id is remembered (with the time
//! it was applied) and pruned only after the retention period.

use std::collections::HashMap;
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::schema::EVENTS;
use super::{Result, Storage, now_secs};

impl Storage {
    /// Marks an event id processed; `true` the first time, `false` for a repeat (also after a
    /// restart). It does not wait for the disk: the mark is committed by the flusher with the
    /// chat counters (within `flush_every`, and at [`Storage::close`]), so a burst of EventSub
    /// messages costs one commit, not one each. A crash in between forgets the last ids; points
    /// are marked with their own key in the transaction that pays them
    /// ([`Storage::apply_event_once`], [`writer`](super::writer)), so a redelivered event never
    /// pays twice.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn mark_processed(&self, event_id: &str) -> Result<bool> {
        let Ok(mut marks) = self.inner.pending_marks.lock() else {
            return Ok(!self.is_committed(event_id)?);
        };
        if marks.contains_key(event_id) || self.is_committed(event_id)? {
            return Ok(false);
        }
        marks.insert(event_id.to_owned(), now_secs());
        Ok(true)
    }

    /// Whether an event id was processed (committed or waiting for the flusher).
    ///
    /// # Errors
    /// On a redb failure.
    pub fn is_processed(&self, event_id: &str) -> Result<bool> {
        let pending = self
            .inner
            .pending_marks
            .lock()
            .is_ok_and(|m| m.contains_key(event_id));
        Ok(pending || self.is_committed(event_id)?)
    }

    fn is_committed(&self, event_id: &str) -> Result<bool> {
        let txn = self.db().begin_read()?;
        Ok(txn.open_table(EVENTS)?.get(event_id)?.is_some())
    }

    /// Commits the marks [`Storage::mark_processed`] has gathered. They stay visible as pending
    /// until committed, so a repeat arriving during the commit is still recognised.
    pub(crate) fn flush_marks(&self) -> Result<()> {
        let marks = match self.inner.pending_marks.lock() {
            Ok(m) if !m.is_empty() => m.clone(),
            _ => return Ok(()),
        };
        commit_marks(self.db(), &marks)?;
        if let Ok(mut pending) = self.inner.pending_marks.lock() {
            pending.retain(|id, _| !marks.contains_key(id));
        }
        Ok(())
    }

    /// Forgets event ids processed longer ago than `older_than`; returns how many.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn prune_events(&self, older_than: Duration) -> Result<u64> {
        self.flush_marks()?;
        let cutoff = now_secs().saturating_sub(older_than.as_secs());
        let txn = self.db().begin_write()?;
        let removed = {
            let mut events = txn.open_table(EVENTS)?;
            let before = events.len()?;
            events.retain(|_, at| at >= cutoff)?;
            before - events.len()?
        };
        txn.commit()?;
        Ok(removed)
    }
}

/// Marks `marks` (event id, time seen) processed in one transaction.
pub(crate) fn commit_marks(db: &Database, marks: &HashMap<String, u64>) -> Result<()> {
    if marks.is_empty() {
        return Ok(());
    }
    let txn = db.begin_write()?;
    {
        let mut events = txn.open_table(EVENTS)?;
        for (id, at) in marks {
            if events.get(id.as_str())?.is_none() {
                events.insert(id.as_str(), *at)?;
            }
        }
    }
    txn.commit()?;
    Ok(())
}
