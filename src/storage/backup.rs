//! Backups: copies of `bot.redb` in `<data>/backups/` (at start, and periodically while running),
//! keeping the newest N of each kind (label) on its own: start-up copies rotate among
//! themselves, so a restart loop cannot push out every good daily copy; and the copy left beside
//! the file before a migration.
//!
//! A copy is taken while holding a write transaction: redb commits are durable before
//! `commit` returns and no other writer can start, so the file is quiescent while it is copied.

use std::path::{Path, PathBuf};

use redb::Database;

use super::now_secs;

/// Folder of rotated backups inside the data folder.
pub const BACKUP_DIR: &str = "backups";

/// Errors of taking or rotating backups.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The copy could not be written.
    #[error("cannot write the backup {}: {source}", path.display())]
    Copy {
        /// The backup file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The database could not be read consistently for the copy.
    #[error("cannot lock the database for a backup: {0}")]
    Lock(#[from] redb::TransactionError),
}

/// `bot-YYYYMMDD-HHMMSS-<label>.redb` for unix seconds `at` (UTC); sorts chronologically.
pub fn backup_file_name(at: u64, label: &str) -> String {
    format!("bot-{}-{label}.redb", utc_stamp(at))
}

/// `YYYYMMDD-HHMMSS` in UTC.
pub(crate) fn utc_stamp(at: u64) -> String {
    let days = at / 86_400;
    let rem = at % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Copies the open database into `<data>/backups/` and removes all but the newest `keep` with
/// the same label.
pub(crate) fn take(
    db: &Database,
    path: &Path,
    data_dir: &Path,
    label: &str,
    keep: usize,
) -> Result<PathBuf, BackupError> {
    let dir = data_dir.join(BACKUP_DIR);
    std::fs::create_dir_all(&dir).map_err(|source| BackupError::Copy {
        path: dir.clone(),
        source,
    })?;
    let mut dest = dir.join(backup_file_name(now_secs(), label));
    // Two backups in one second (tests, a restart loop) must not overwrite each other.
    let mut n = 1;
    while dest.exists() {
        dest = dir.join(format!("bot-{}-{label}-{n}.redb", utc_stamp(now_secs())));
        n += 1;
    }
    copy_quiescent(db, path, &dest)?;
    rotate(&dir, label, keep);
    Ok(dest)
}

/// Copies the file beside itself before a migration: `bot.v<from>-<stamp>.redb.bak`.
/// Never rotated away.
pub(crate) fn beside(db: &Database, path: &Path, from: u64) -> Result<PathBuf, BackupError> {
    let dest = path.with_file_name(format!("bot.v{from}-{}.redb.bak", utc_stamp(now_secs())));
    copy_quiescent(db, path, &dest)?;
    Ok(dest)
}

fn copy_quiescent(db: &Database, path: &Path, dest: &Path) -> Result<(), BackupError> {
    let guard = db.begin_write()?;
    let tmp = dest.with_extension("partial");
    let result = std::fs::copy(path, &tmp)
        .and_then(|_| std::fs::File::open(&tmp).and_then(|f| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, dest));
    // Nothing was written; aborting releases the writer lock.
    drop(guard);
    result.map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        BackupError::Copy {
            path: dest.to_path_buf(),
            source,
        }
    })
}

/// The backups in `dir`, oldest first.
pub(crate) fn list(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("bot-") && n.ends_with(".redb"))
        })
        .collect();
    files.sort();
    files
}

/// The label of a backup's file name: `daily` for `bot-20240229-123456-daily.redb` and for
/// `bot-20240229-123456-daily-2.redb` (a second copy in the same second).
fn label_of(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("bot-")?.strip_suffix(".redb")?;
    // `YYYYMMDD-HHMMSS-` is 16 characters.
    let label = rest.get(16..)?;
    Some(match label.rsplit_once('-') {
        Some((l, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => l,
        _ => label,
    })
}

fn rotate(dir: &Path, label: &str, keep: usize) {
    let files: Vec<PathBuf> = list(dir)
        .into_iter()
        .filter(|p| label_of(p) == Some(label))
        .collect();
    let excess = files.len().saturating_sub(keep.max(1));
    for old in files.iter().take(excess) {
        if let Err(e) = std::fs::remove_file(old) {
            tracing::warn!("could not remove old backup {}: {e}", old.display());
        }
    }
}

/// The sentence that tells the streamer what to do when the database cannot be opened.
pub(crate) fn newest_backup_hint(data_dir: &Path, path: &Path) -> String {
    match list(&data_dir.join(BACKUP_DIR)).last() {
        Some(newest) => format!(
            "The newest backup is {}: stop the bot, move the damaged file away and copy the \
             backup to {}.",
            newest.display(),
            path.display()
        ),
        None => format!(
            "No backup exists in {}; move the damaged file away to start with an empty one.",
            data_dir.join(BACKUP_DIR).display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_calendar_dates() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        // 2024-02-29 12:34:56 UTC, a leap day.
        assert_eq!(utc_stamp(1_709_210_096), "20240229-123456");
        assert_eq!(
            backup_file_name(1_709_210_096, "start"),
            "bot-20240229-123456-start.redb"
        );
    }

    #[test]
    fn each_label_keeps_its_own_count() {
        let dir = tempfile::tempdir().unwrap();
        for n in 0..3 {
            std::fs::write(dir.path().join(backup_file_name(100 + n, "daily")), "").unwrap();
        }
        for n in 0..5 {
            std::fs::write(dir.path().join(backup_file_name(200 + n, "start")), "").unwrap();
        }
        std::fs::write(dir.path().join("bot-19700101-000330-start-1.redb"), "").unwrap();
        rotate(dir.path(), "start", 2);
        let left: Vec<String> = list(dir.path())
            .iter()
            .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
            .collect();
        assert_eq!(
            left,
            [
                "bot-19700101-000140-daily.redb",
                "bot-19700101-000141-daily.redb",
                "bot-19700101-000142-daily.redb",
                "bot-19700101-000324-start.redb",
                "bot-19700101-000330-start-1.redb",
            ],
            "a restart loop's start-up copies never push out a daily one"
        );
    }
}
