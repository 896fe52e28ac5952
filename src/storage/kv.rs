//! The per-script key-value stores (`ctx.store`): one redb table keyed by (script, key), values
//! as JSON text, and a quota on each script's keys and bytes that a write checks before it
//! commits.

use std::fmt;

use redb::{ReadableDatabase, ReadableTable, Table};

use super::schema::SCRIPT_KV;
use super::{Result, Storage, StorageError};

/// The most one script's store may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvQuota {
    /// Keys at most.
    pub max_keys: u64,
    /// Keys plus values (their JSON text), in bytes.
    pub max_bytes: u64,
}

impl Default for KvQuota {
    fn default() -> Self {
        KvQuota {
            max_keys: 10_000,
            max_bytes: 1024 * 1024,
        }
    }
}

/// Which limit of a [`KvQuota`] a write ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvLimit {
    /// Too many keys.
    Keys,
    /// Too many bytes.
    Bytes,
}

impl fmt::Display for KvLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KvLimit::Keys => "keys",
            KvLimit::Bytes => "bytes",
        })
    }
}

/// What one script's store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KvUsage {
    /// Keys stored.
    pub keys: u64,
    /// Keys plus values, in bytes.
    pub bytes: u64,
}

/// The bytes one entry counts for.
fn entry_bytes(key: &str, value: &str) -> u64 {
    u64::try_from(key.len().saturating_add(value.len())).unwrap_or(u64::MAX)
}

/// Counts a script's entries as the file holds them.
fn count<T: ReadableTable<(&'static str, &'static str), &'static str>>(
    table: &T,
    script: &str,
) -> Result<KvUsage> {
    let mut usage = KvUsage::default();
    for row in table.range((script, "")..)? {
        let (k, v) = row?;
        let (s, key) = k.value();
        if s != script {
            break;
        }
        usage.keys += 1;
        usage.bytes = usage.bytes.saturating_add(entry_bytes(key, v.value()));
    }
    Ok(usage)
}

impl Storage {
    /// A script's stored value.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn kv_get(&self, script: &str, key: &str) -> Result<Option<String>> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(SCRIPT_KV)?;
        Ok(t.get((script, key))?.map(|v| v.value().to_owned()))
    }

    /// Stores a script's value (durable when it returns), unless the store would then pass
    /// `quota`. A write that shrinks a store already over a lowered quota is let through, so a
    /// script can always clean up.
    ///
    /// # Errors
    /// [`StorageError::StoreFull`] (nothing written, the store as it was), or a redb failure.
    pub fn kv_set(&self, script: &str, key: &str, value: &str, quota: KvQuota) -> Result<()> {
        let mut usage = self.kv_usage();
        let txn = self.db().begin_write()?;
        let after = {
            let mut t = txn.open_table(SCRIPT_KV)?;
            let before = known_usage(&mut usage, &t, script)?;
            let old = t.get((script, key))?.map(|v| entry_bytes(key, v.value()));
            let after = KvUsage {
                keys: before.keys + u64::from(old.is_none()),
                bytes: before
                    .bytes
                    .saturating_sub(old.unwrap_or(0))
                    .saturating_add(entry_bytes(key, value)),
            };
            let checks = [
                (KvLimit::Keys, quota.max_keys, before.keys, after.keys),
                (KvLimit::Bytes, quota.max_bytes, before.bytes, after.bytes),
            ];
            for (limit, max, before, would_be) in checks {
                if would_be > max && would_be > before {
                    // Returning drops the transaction uncommitted: nothing is written.
                    return Err(StorageError::StoreFull {
                        script: script.to_owned(),
                        limit,
                        max,
                        would_be,
                    });
                }
            }
            t.insert((script, key), value)?;
            after
        };
        txn.commit()?;
        usage.insert(script.to_owned(), after);
        Ok(())
    }

    /// Removes a script's value; returns whether it existed.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn kv_remove(&self, script: &str, key: &str) -> Result<bool> {
        let mut usage = self.kv_usage();
        let txn = self.db().begin_write()?;
        let freed = txn
            .open_table(SCRIPT_KV)?
            .remove((script, key))?
            .map(|v| entry_bytes(key, v.value()));
        txn.commit()?;
        if let (Some(freed), Some(u)) = (freed, usage.get_mut(script)) {
            u.keys = u.keys.saturating_sub(1);
            u.bytes = u.bytes.saturating_sub(freed);
        }
        Ok(freed.is_some())
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

    /// How many keys and bytes a script's store holds, counted from the file.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn kv_usage_of(&self, script: &str) -> Result<KvUsage> {
        let txn = self.db().begin_read()?;
        count(&txn.open_table(SCRIPT_KV)?, script)
    }

    fn kv_usage(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, KvUsage>> {
        // The map is only written after a commit, so a panic elsewhere cannot leave it wrong.
        self.inner
            .kv_usage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The script's usage: from memory, or counted from the table on its first write since open.
fn known_usage(
    usage: &mut std::collections::HashMap<String, KvUsage>,
    table: &Table<'_, (&'static str, &'static str), &'static str>,
    script: &str,
) -> Result<KvUsage> {
    if let Some(known) = usage.get(script) {
        return Ok(*known);
    }
    let counted = count(table, script)?;
    usage.insert(script.to_owned(), counted);
    Ok(counted)
}
