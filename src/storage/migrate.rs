//! Schema versions and forward migrations, run at open after a copy of the file is left beside
//! it. Every step runs in one write transaction: a failed step leaves the file as it was.
//! Nothing is dropped silently: a step carries every row forward or fails, and logs what it did.
//!
//! History:
//! - **v1**: `meta` (`schema_version`), `users` (id → JSON record without points) and a separate
//!   `points` table (id → u64 balance); no login index.
//! - **v2**: points live in the (binary) user record; a `logins` index; the audit, events,
//!   script store, moderation log, stream stats and import tables.
//! - **v3** (current): the user record splits in two: `users` keeps the profile (first and last
//!   seen, messages, names) and a fixed-width `balances` row holds points, watch time and the
//!   opt-out, so a watch-time tick rewrites half the pages.

use std::path::Path;

use redb::{Database, ReadTransaction, ReadableTable, TableDefinition, TableError, TableHandle};

use super::schema::{
    AUDIT, BALANCES, EVENTS, IMPORTS, LOGINS, META, META_SCHEMA, MODLOG, SCHEMA_VERSION, SCRIPT_KV,
    STREAM_STATS, USERS, UserRecord,
};
use super::users::{OPTED_OUT, USER_FORMAT_V2, decode_user, write_user};
use super::{Result, StorageError, backup};

/// v1's separate balance table.
const V1_POINTS: TableDefinition<&str, u64> = TableDefinition::new("points");

/// The stored schema version; `0` for a file without one.
pub(crate) fn read_version(txn: &ReadTransaction) -> Result<u64> {
    match txn.open_table(META) {
        Ok(t) => Ok(t.get(META_SCHEMA)?.map(|v| v.value()).unwrap_or(0)),
        Err(TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Creates a new file's tables, or migrates an older one forward.
pub(crate) fn bring_up_to_date(db: &Database, path: &Path) -> Result<()> {
    use redb::ReadableDatabase;
    let (version, has_tables) = {
        let txn = db.begin_read()?;
        (read_version(&txn)?, txn.list_tables()?.next().is_some())
    };
    if version > SCHEMA_VERSION {
        return Err(StorageError::TooNew {
            path: path.to_path_buf(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    if version == 0 && has_tables {
        return Err(StorageError::Migration {
            from: 0,
            reason: format!(
                "{} has tables but no schema version; it is not a twitch-bot database",
                path.display()
            ),
        });
    }
    if version != 0 && version < SCHEMA_VERSION {
        let copy = backup::beside(db, path, version)?;
        tracing::info!(
            "migrating {} from schema {version} to {SCHEMA_VERSION}; the old file is kept as {}",
            path.display(),
            copy.display()
        );
    }
    let mut v = version;
    while v != 0 && v < SCHEMA_VERSION {
        match v {
            1 => v1_to_v2(db)?,
            2 => v2_to_v3(db)?,
            other => {
                return Err(StorageError::Migration {
                    from: other,
                    reason: "no migration step known".into(),
                });
            }
        }
        v += 1;
    }
    // Create any table this build knows that the file lacks (new files, new empty tables).
    let txn = db.begin_write()?;
    {
        txn.open_table(USERS)?;
        txn.open_table(BALANCES)?;
        txn.open_table(LOGINS)?;
        txn.open_table(AUDIT)?;
        txn.open_table(EVENTS)?;
        txn.open_table(SCRIPT_KV)?;
        txn.open_table(MODLOG)?;
        txn.open_table(STREAM_STATS)?;
        txn.open_table(IMPORTS)?;
        txn.open_table(META)?.insert(META_SCHEMA, SCHEMA_VERSION)?;
    }
    txn.commit()?;
    Ok(())
}

/// Folds v1's `points` table into the user records and builds the login index.
fn v1_to_v2(db: &Database) -> Result<()> {
    let txn = db.begin_write()?;
    let (users_moved, balances_moved) = {
        let mut users = txn.open_table(USERS)?;
        let mut logins = txn.open_table(LOGINS)?;
        let mut balances = std::collections::BTreeMap::new();
        {
            let points = txn.open_table(V1_POINTS)?;
            for row in points.iter()? {
                let (k, v) = row?;
                balances.insert(k.value().to_owned(), v.value());
            }
        }
        let mut records = Vec::new();
        for row in users.iter()? {
            let (k, v) = row?;
            records.push(decode_user(k.value(), v.value(), None)?);
        }
        let users_moved = records.len();
        let known: std::collections::BTreeSet<String> =
            records.iter().map(|r| r.id.clone()).collect();
        // A balance without a user record is kept as a bare record, not dropped.
        for (id, _) in balances.iter().filter(|(id, _)| !known.contains(*id)) {
            records.push(UserRecord {
                id: id.clone(),
                ..UserRecord::default()
            });
        }
        let balances_moved = balances.len();
        for mut rec in records {
            rec.points = balances.get(&rec.id).copied().unwrap_or(0);
            users.insert(rec.id.as_str(), encode_v2(&rec).as_slice())?;
            if !rec.login.is_empty() {
                logins.insert(rec.login.as_str(), rec.id.as_str())?;
            }
        }
        (users_moved, balances_moved)
    };
    txn.delete_table(V1_POINTS)?;
    txn.open_table(META)?.insert(META_SCHEMA, 2)?;
    txn.commit()?;
    tracing::info!(
        "schema 1 → 2: {users_moved} users kept, {balances_moved} balances moved into them, \
         table `{}` removed",
        V1_POINTS.name()
    );
    Ok(())
}

/// The schema-2 user record (profile and balance in one row), as v1 → v2 writes it.
fn encode_v2(rec: &UserRecord) -> Vec<u8> {
    let mut out = vec![USER_FORMAT_V2];
    for n in [
        rec.first_seen,
        rec.last_seen,
        rec.messages,
        rec.watch_secs,
        rec.points,
    ] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.push(if rec.opted_out { OPTED_OUT } else { 0 });
    super::users::push_names(&mut out, rec);
    out
}

/// Splits every user record into its profile (`users`) and its balance (`balances`).
fn v2_to_v3(db: &Database) -> Result<()> {
    let txn = db.begin_write()?;
    let (moved, points) = {
        let mut users = txn.open_table(USERS)?;
        let mut balances = txn.open_table(BALANCES)?;
        let mut records = Vec::new();
        for row in users.iter()? {
            let (k, v) = row?;
            records.push(decode_user(k.value(), v.value(), None)?);
        }
        let points: u64 = records.iter().map(|r| r.points).sum();
        for rec in &records {
            write_user(&mut users, &mut balances, rec)?;
        }
        (records.len(), points)
    };
    txn.open_table(META)?.insert(META_SCHEMA, 3)?;
    txn.commit()?;
    tracing::info!(
        "schema 2 → 3: {moved} users split into profile and balance ({points} points in all \
         carried over)"
    );
    Ok(())
}
