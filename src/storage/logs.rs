//! Append-only logs (moderation actions, stream statistics) and the per-script key-value
//! stores. Records are JSON so later issues can shape them without a schema change.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value;

use super::schema::{MODLOG, SCRIPT_KV, STREAM_STATS};
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

    /// A script's stored value.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn kv_get(&self, script: &str, key: &str) -> Result<Option<String>> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(SCRIPT_KV)?;
        Ok(t.get((script, key))?.map(|v| v.value().to_owned()))
    }

    /// Stores a script's value (durable when it returns).
    ///
    /// # Errors
    /// On a redb failure.
    pub fn kv_set(&self, script: &str, key: &str, value: &str) -> Result<()> {
        let txn = self.db().begin_write()?;
        txn.open_table(SCRIPT_KV)?.insert((script, key), value)?;
        txn.commit()?;
        Ok(())
    }

    /// Removes a script's value; returns whether it existed.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn kv_remove(&self, script: &str, key: &str) -> Result<bool> {
        let txn = self.db().begin_write()?;
        let existed = txn.open_table(SCRIPT_KV)?.remove((script, key))?.is_some();
        txn.commit()?;
        Ok(existed)
    }

    /// Every key of one script's store, in order.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn kv_keys(&self, script: &str) -> Result<Vec<String>> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(SCRIPT_KV)?;
        let mut out = Vec::new();
        for row in t.range((script, "")..)? {
            let (k, _) = row?;
            let (s, key) = k.value();
            if s != script {
                break;
            }
            out.push(key.to_owned());
        }
        Ok(out)
    }
}
