//! Balances imported from other bots, applied in one transaction so a file lands whole or not
//! at all. Each (source, login) remembers the balance last imported, and a re-import applies only
//! the difference: importing the same file twice changes nothing.

use redb::ReadableTable;

use super::schema::{IMPORTS, LOGINS, PENDING_PREFIX};
use super::{Result, Storage};

/// One balance to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportBalance {
    /// Lower-case login.
    pub login: String,
    /// Twitch user id when the export has one.
    pub user_id: Option<String>,
    /// The balance to set.
    pub points: u64,
}

/// What an import changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportTotals {
    /// Rows whose viewer was not in the database yet.
    pub new_users: usize,
    /// Rows that changed a balance.
    pub changed: usize,
    /// Rows already imported with the same balance.
    pub unchanged: usize,
    /// Net points added.
    pub points_added: i64,
}

impl Storage {
    /// Applies imported balances from `source` (e.g. `streamelements`) in one transaction;
    /// `progress(done)` is called as rows are applied. Viewers never seen get a placeholder
    /// record that is merged into their real id when they first chat.
    ///
    /// # Errors
    /// On a redb failure; nothing is imported then.
    pub fn import_balances(
        &self,
        source: &str,
        rows: &[ImportBalance],
        mut progress: impl FnMut(usize),
    ) -> Result<ImportTotals> {
        let txn = self.db().begin_write()?;
        let mut totals = ImportTotals::default();
        {
            let mut imports = txn.open_table(IMPORTS)?;
            let logins = txn.open_table(LOGINS)?;
            let known: Vec<Option<String>> = rows
                .iter()
                .map(|r| {
                    Ok(match &r.user_id {
                        Some(id) => Some(id.clone()),
                        None => logins.get(r.login.as_str())?.map(|v| v.value().to_owned()),
                    })
                })
                .collect::<Result<_>>()?;
            drop(logins);
            let mut p = super::points::PointsTxn::open(&txn)?;
            let reason = format!("import {source}");
            for (i, (row, id)) in rows.iter().zip(known).enumerate() {
                let id = id.unwrap_or_else(|| format!("{PENDING_PREFIX}{}", row.login));
                let before = imports
                    .get((source, row.login.as_str()))?
                    .map(|v| v.value())
                    .unwrap_or(0);
                if p.user(&id)?.is_none() {
                    totals.new_users += 1;
                }
                p.touch(&id, &row.login, "")?;
                if row.points == before {
                    totals.unchanged += 1;
                } else {
                    let delta = if row.points > before {
                        i64::try_from(row.points - before).unwrap_or(i64::MAX)
                    } else {
                        // The export went down since last time: take back what is still there.
                        let want = before - row.points;
                        let have = p.balance(&id)?;
                        -i64::try_from(want.min(have)).unwrap_or(i64::MAX)
                    };
                    if delta != 0 {
                        p.change(&id, delta, &reason)?;
                    }
                    totals.points_added += delta;
                    totals.changed += 1;
                }
                imports.insert((source, row.login.as_str()), row.points)?;
                if i % 1000 == 999 {
                    progress(i + 1);
                }
            }
        }
        txn.commit()?;
        progress(rows.len());
        Ok(totals)
    }
}
