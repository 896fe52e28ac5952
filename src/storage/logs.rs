//! Append-only logs (moderation actions, stream statistics). Records are JSON so later issues
//! can shape them without a schema change.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde_json::Value;

use super::schema::{MODLOG, STREAM_OPEN, STREAM_STATS};
use super::{Result, Storage, StorageError};

impl Storage {
    /// Appends a moderation log entry; returns its sequence number.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn append_modlog(&self, entry: &Value) -> Result<u64> {
        self.append(MODLOG, std::slice::from_ref(entry))
    }

    /// Appends moderation log entries in one transaction (a spam wave is one commit, not one
    /// per message); returns the last sequence number.
    ///
    /// # Errors
    /// On a redb failure; then none of them is written.
    pub fn append_modlog_batch(&self, entries: &[Value]) -> Result<u64> {
        self.append(MODLOG, entries)
    }

    /// Prunes the moderation log, oldest first: entries whose `at_ms` is before `cutoff_ms`
    /// (an entry without a readable one counts as old), then the oldest past
    /// `max_rows`. Works in transactions of at most `chunk` removals so a large prune never
    /// holds the writer long. Returns how many entries went.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn prune_modlog(&self, cutoff_ms: u64, max_rows: u64, chunk: usize) -> Result<u64> {
        let chunk = chunk.max(1);
        let mut removed = 0u64;
        loop {
            let txn = self.db().begin_write()?;
            let done = {
                let mut t = txn.open_table(MODLOG)?;
                let len = t.len()?;
                let surplus = usize::try_from(len.saturating_sub(max_rows)).unwrap_or(usize::MAX);
                let mut doomed: Vec<u64> = Vec::new();
                for row in t.iter()? {
                    if doomed.len() >= chunk {
                        break;
                    }
                    let (k, v) = row?;
                    let old = serde_json::from_slice::<Value>(v.value())
                        .ok()
                        .and_then(|v| v.get("at_ms").and_then(Value::as_u64))
                        .is_none_or(|at| at < cutoff_ms);
                    if !old && doomed.len() >= surplus {
                        break;
                    }
                    doomed.push(k.value());
                }
                for k in &doomed {
                    t.remove(k)?;
                }
                removed += doomed.len() as u64;
                doomed.len() < chunk
            };
            txn.commit()?;
            if done {
                return Ok(removed);
            }
        }
    }

    /// How many entries the moderation log holds.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn modlog_len(&self) -> Result<u64> {
        let txn = self.db().begin_read()?;
        match txn.open_table(MODLOG) {
            Ok(t) => Ok(t.len()?),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// The newest `n` moderation log entries, newest first.
    ///
    /// # Errors
    /// On a redb failure or a corrupt row.
    pub fn recent_modlog(&self, n: usize) -> Result<Vec<(u64, Value)>> {
        self.recent(MODLOG, "modlog", n)
    }

    /// Appends a stream statistics record; returns its sequence number.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn append_stream_stats(&self, record: &Value) -> Result<u64> {
        self.append(STREAM_STATS, std::slice::from_ref(record))
    }

    /// The newest `n` stream statistics records, newest first.
    ///
    /// # Errors
    /// On a redb failure or a corrupt row.
    pub fn recent_stream_stats(&self, n: usize) -> Result<Vec<(u64, Value)>> {
        self.recent(STREAM_STATS, "stream_stats", n)
    }

    /// Saves the stream being counted (replacing its previous save).
    ///
    /// # Errors
    /// On a redb failure.
    pub fn save_open_stream(&self, stream_id: &str, record: &Value) -> Result<()> {
        let bytes = serde_json::to_vec(record).unwrap_or_default();
        let txn = self.db().begin_write()?;
        txn.open_table(STREAM_OPEN)?
            .insert(stream_id, bytes.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// The streams being counted when the bot last saved them (normally one at most), with
    /// their ids. Rows that no longer parse are reported as [`StorageError::Corrupt`].
    ///
    /// # Errors
    /// On a redb failure or a corrupt row.
    pub fn open_streams(&self) -> Result<Vec<(String, Value)>> {
        let txn = self.db().begin_read()?;
        let t = match txn.open_table(STREAM_OPEN) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            let value = serde_json::from_slice(v.value()).map_err(|e| StorageError::Corrupt {
                table: "stream_open",
                key: k.value().to_owned(),
                reason: e.to_string(),
            })?;
            out.push((k.value().to_owned(), value));
        }
        Ok(out)
    }

    /// Stores a finished stream's record (whose `stream_id` field is `stream_id`) and forgets its
    /// open copy, in one transaction, so a crash in between can neither lose the stream nor
    /// store it twice. Returns `false` (and stores nothing new) when that stream's record is
    /// already there.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn settle_stream(&self, stream_id: &str, record: &Value) -> Result<bool> {
        let bytes = serde_json::to_vec(record).unwrap_or_default();
        let txn = self.db().begin_write()?;
        let stored = {
            let mut t = txn.open_table(STREAM_STATS)?;
            let mut exists = false;
            for row in t.iter()?.rev() {
                let (_, v) = row?;
                if serde_json::from_slice::<Value>(v.value())
                    .is_ok_and(|v| v["stream_id"].as_str() == Some(stream_id))
                {
                    exists = true;
                    break;
                }
            }
            if !exists {
                let seq = t.last()?.map(|(k, _)| k.value() + 1).unwrap_or(1);
                t.insert(seq, bytes.as_slice())?;
            }
            !exists
        };
        txn.open_table(STREAM_OPEN)?.remove(stream_id)?;
        txn.commit()?;
        Ok(stored)
    }

    fn append(&self, table: TableDefinition<u64, &[u8]>, values: &[Value]) -> Result<u64> {
        let txn = self.db().begin_write()?;
        let seq = {
            let mut t = txn.open_table(table)?;
            let mut seq = t.last()?.map_or(0, |(k, _)| k.value());
            for value in values {
                seq += 1;
                let bytes = serde_json::to_vec(value).unwrap_or_default();
                t.insert(seq, bytes.as_slice())?;
            }
            seq
        };
        txn.commit()?;
        Ok(seq)
    }

    fn recent(
        &self,
        table: TableDefinition<u64, &[u8]>,
        name: &'static str,
        n: usize,
    ) -> Result<Vec<(u64, Value)>> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(table)?;
        let mut out = Vec::new();
        for row in t.iter()?.rev().take(n) {
            let (k, v) = row?;
            let value = serde_json::from_slice(v.value()).map_err(|e| StorageError::Corrupt {
                table: name,
                key: k.value().to_string(),
                reason: e.to_string(),
            })?;
            out.push((k.value(), value));
        }
        Ok(out)
    }
}
