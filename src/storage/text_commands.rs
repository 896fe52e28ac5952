//! The text commands' rows, their change log and the regulars list: plain names and JSON
//! bytes in, so this layer knows nothing of chat or of what a command holds.

use redb::{ReadableDatabase, ReadableTable, TableError};

use super::schema::{REGULARS, TEXT_COMMAND_LOG, TEXT_COMMANDS};
use super::{Result, Storage};

/// One write to the text commands, committed with its log entry in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextCommandChange {
    /// Rows to set (`Some(json)`) or remove (`None`), by command name.
    pub rows: Vec<(String, Option<Vec<u8>>)>,
    /// The change's log entry (JSON), appended after the newest.
    pub log: Option<Vec<u8>>,
    /// A log entry to rewrite in place (an undo marks the entry it undid).
    pub relog: Option<(u64, Vec<u8>)>,
}

/// Whether `e` only says the table was never written (an older file): read as empty.
fn missing(e: &TableError) -> bool {
    matches!(e, TableError::TableDoesNotExist(_))
}

impl Storage {
    /// Every text command row (name, JSON), in name order.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn text_commands(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let txn = self.db().begin_read()?;
        let t = match txn.open_table(TEXT_COMMANDS) {
            Ok(t) => t,
            Err(e) if missing(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Commits `change` durably: its rows and its log entry together, or nothing.
    ///
    /// # Errors
    /// On a redb failure (nothing written then).
    pub fn write_text_commands(&self, change: &TextCommandChange) -> Result<()> {
        let txn = self.db().begin_write()?;
        {
            let mut t = txn.open_table(TEXT_COMMANDS)?;
            for (name, row) in &change.rows {
                match row {
                    Some(bytes) => {
                        t.insert(name.as_str(), bytes.as_slice())?;
                    }
                    None => {
                        t.remove(name.as_str())?;
                    }
                }
            }
            let mut log = txn.open_table(TEXT_COMMAND_LOG)?;
            if let Some((seq, bytes)) = &change.relog {
                log.insert(*seq, bytes.as_slice())?;
            }
            if let Some(bytes) = &change.log {
                let next = log.last()?.map_or(1, |(k, _)| k.value().saturating_add(1));
                log.insert(next, bytes.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Rewrites one command's row from what it holds now (`None`: no such row), in one
    /// transaction: `update` returns the new row, or `None` to change nothing. Returns the row
    /// written.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn update_text_command(
        &self,
        name: &str,
        update: impl FnOnce(Option<&[u8]>) -> Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>> {
        let txn = self.db().begin_write()?;
        let written = {
            let mut t = txn.open_table(TEXT_COMMANDS)?;
            let now = t.get(name)?.map(|v| v.value().to_vec());
            match update(now.as_deref()) {
                Some(bytes) => {
                    t.insert(name, bytes.as_slice())?;
                    Some(bytes)
                }
                None => None,
            }
        };
        if written.is_some() {
            txn.commit()?;
        }
        Ok(written)
    }

    /// The newest `n` change-log entries (sequence, JSON), newest first.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn text_command_log(&self, n: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        let txn = self.db().begin_read()?;
        let t = match txn.open_table(TEXT_COMMAND_LOG) {
            Ok(t) => t,
            Err(e) if missing(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for row in t.iter()?.rev().take(n) {
            let (k, v) = row?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// The regulars added from chat or the console: (user id, login), by id.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn regulars(&self) -> Result<Vec<(String, String)>> {
        let txn = self.db().begin_read()?;
        let t = match txn.open_table(REGULARS) {
            Ok(t) => t,
            Err(e) if missing(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_owned(), v.value().to_owned()));
        }
        Ok(out)
    }

    /// Adds (`Some(login)`) or removes (`None`) the regular `user_id`; returns whether the
    /// list changed.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn set_regular(&self, user_id: &str, login: Option<&str>) -> Result<bool> {
        let txn = self.db().begin_write()?;
        let changed = {
            let mut t = txn.open_table(REGULARS)?;
            match login {
                Some(login) => t
                    .insert(user_id, login)?
                    .is_none_or(|old| old.value() != login),
                None => t.remove(user_id)?.is_some(),
            }
        };
        txn.commit()?;
        Ok(changed)
    }
}
