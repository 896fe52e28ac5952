//! Processed event ids: EventSub delivers at least once, so each id is remembered (with the time
//! it was applied) and pruned only after the retention period.

use std::time::Duration;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::schema::EVENTS;
use super::{Result, Storage, now_secs};

impl Storage {
    /// Marks an event id processed; `true` the first time, `false` for a repeat (also after a
    /// restart). Durable when it returns. Use [`Storage::apply_event_once`] when the event also
    /// moves points, so both land in one transaction.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn mark_processed(&self, event_id: &str) -> Result<bool> {
        let txn = self.db().begin_write()?;
        let fresh = {
            let mut events = txn.open_table(EVENTS)?;
            if events.get(event_id)?.is_some() {
                false
            } else {
                events.insert(event_id, now_secs())?;
                true
            }
        };
        txn.commit()?;
        Ok(fresh)
    }

    /// Whether an event id was processed.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn is_processed(&self, event_id: &str) -> Result<bool> {
        let txn = self.db().begin_read()?;
        Ok(txn.open_table(EVENTS)?.get(event_id)?.is_some())
    }

    /// Forgets event ids processed longer ago than `older_than`; returns how many.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn prune_events(&self, older_than: Duration) -> Result<u64> {
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
