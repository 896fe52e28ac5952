//! Viewers: the batched per-message counters, look-ups by id and login, and the opt-out flag.

use std::collections::HashMap;

use compact_str::CompactString;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table};

use super::schema::{BALANCES, Balance, LOGINS, PENDING_PREFIX, USERS, UserRecord};
use super::{Result, Storage, StorageError, now_secs};

/// Chat activity of one viewer not yet committed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingChat {
    /// The viewer's login when last seen.
    pub login: CompactString,
    /// Their display name when last seen.
    pub display_name: CompactString,
    /// Messages not yet committed.
    pub messages: u64,
}

impl Storage {
    /// Counts one chat message of a viewer and refreshes their login and display name.
    /// Memory only (a short mutex and a hash-map update); committed within `flush_every`.
    pub fn record_chat(&self, user_id: &str, login: &str, display_name: &str) {
        self.record_chats([(user_id, login, display_name)]);
    }

    /// [`Storage::record_chat`] for several messages (`(user id, login, display name)`, in
    /// order), under one lock: the dispatcher counts a read's worth of chat at once.
    pub fn record_chats<'a>(&self, lines: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) {
        let Ok(mut pending) = self.inner.pending.lock() else {
            return;
        };
        for (user_id, login, display_name) in lines {
            if !user_id.is_empty() {
                count_chat(&mut pending, user_id, login, display_name);
            }
        }
    }

    /// Commits the batched chat counters now.
    ///
    /// # Errors
    /// When the commit fails; the batch is then kept for the next try.
    pub fn flush(&self) -> Result<()> {
        let marks = self.flush_marks();
        self.flush_chat()?;
        marks
    }

    fn flush_chat(&self) -> Result<()> {
        let batch = match self.inner.pending.lock() {
            Ok(mut p) if !p.is_empty() => std::mem::take(&mut *p),
            _ => return Ok(()),
        };
        // Committed from a borrow: the batch stays here, uncopied, for a failed commit to
        // give back (a flood's 5,000 viewers are 650 KB).
        if let Err(e) = commit_batch(self.db(), &batch) {
            // Put the counts back so a passing disk error loses nothing.
            if let Ok(mut p) = self.inner.pending.lock() {
                for (id, b) in batch {
                    let e = p.entry(id).or_default();
                    e.messages += b.messages;
                    if e.login.is_empty() {
                        e.login = b.login;
                        e.display_name = b.display_name;
                    }
                }
            }
            return Err(e);
        }
        Ok(())
    }

    /// A viewer by Twitch user id (committed state plus not-yet-flushed messages).
    ///
    /// # Errors
    /// On a redb failure or a record that no longer parses.
    pub fn user(&self, user_id: &str) -> Result<Option<UserRecord>> {
        let mut rec = self.stored_user(user_id)?;
        if let Ok(p) = self.inner.pending.lock()
            && let Some(b) = p.get(user_id)
        {
            let r = rec.get_or_insert_with(|| UserRecord {
                id: user_id.to_owned(),
                ..UserRecord::default()
            });
            r.messages += b.messages;
            r.login = b.login.to_string();
            r.display_name = b.display_name.to_string();
        }
        Ok(rec)
    }

    /// A viewer as committed to disk (without counters still batched in memory).
    ///
    /// # Errors
    /// On a redb failure or a record that no longer parses.
    pub fn stored_user(&self, user_id: &str) -> Result<Option<UserRecord>> {
        let txn = self.db().begin_read()?;
        read_user(&txn.open_table(USERS)?, &txn.open_table(BALANCES)?, user_id)
    }

    /// The user id currently holding a login (case-insensitive, `@` stripped).
    ///
    /// # Errors
    /// On a redb failure.
    pub fn user_id_by_login(&self, login: &str) -> Result<Option<String>> {
        let login = normalize_login(login);
        let txn = self.db().begin_read()?;
        let logins = txn.open_table(LOGINS)?;
        if let Some(id) = logins.get(login.as_str())? {
            return Ok(Some(id.value().to_owned()));
        }
        drop(logins);
        // Seen in the last second but not flushed yet.
        if let Ok(p) = self.inner.pending.lock()
            && let Some((id, _)) = p.iter().find(|(_, b)| b.login == login)
        {
            return Ok(Some(id.to_string()));
        }
        Ok(None)
    }

    /// Number of viewers in the database.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn user_count(&self) -> Result<u64> {
        let txn = self.db().begin_read()?;
        Ok(txn.open_table(USERS)?.len()?)
    }

    /// Sets a viewer's loyalty opt-out (earns nothing, hidden from leaderboards).
    ///
    /// # Errors
    /// [`StorageError::UnknownUser`] if the id was never seen; redb failures.
    pub fn set_opt_out(&self, user_id: &str, opted_out: bool) -> Result<()> {
        self.flush()?;
        let txn = self.db().begin_write()?;
        {
            let mut balances = txn.open_table(BALANCES)?;
            let Some(mut rec) = read_user(&txn.open_table(USERS)?, &balances, user_id)? else {
                return Err(StorageError::UnknownUser(user_id.to_owned()));
            };
            rec.opted_out = opted_out;
            balances.insert(user_id, balance_of(&rec))?;
        }
        txn.commit()?;
        Ok(())
    }
}

/// Lower case, without a leading `@`.
pub(crate) fn normalize_login(login: &str) -> String {
    login.trim().trim_start_matches('@').to_ascii_lowercase()
}

/// Tag of the schema-2 user record (profile and balance in one row), still read so a
/// migration can carry it forward. JSON records (schema 1) start with `{`.
pub(crate) const USER_FORMAT_V2: u8 = 2;
/// Tag of the profile record (schema 3): the balance lives in `balances`.
const PROFILE_FORMAT: u8 = 3;
/// [`Balance`] flag: the viewer opted out of loyalty.
pub(crate) const OPTED_OUT: u8 = 1;

/// Decodes a viewer from their `users` row and `balances` row; the id is the table key and is
/// not stored in the value. A schema-3 profile takes points, watch time and the opt-out from
/// the balance (none yet: nothing earned); older layouts carry their own.
pub(crate) fn decode_user(id: &str, bytes: &[u8], balance: Option<Balance>) -> Result<UserRecord> {
    let corrupt = |reason: &str| StorageError::Corrupt {
        table: "users",
        key: id.to_owned(),
        reason: reason.to_owned(),
    };
    let too_short = || corrupt("record is cut short");
    let mut r = Reader { bytes, pos: 1 };
    match bytes.first() {
        Some(b'{') => {
            let mut rec: UserRecord =
                serde_json::from_slice(bytes).map_err(|e| corrupt(&e.to_string()))?;
            rec.id = id.to_owned();
            Ok(rec)
        }
        Some(&USER_FORMAT_V2) => {
            let first_seen = r.u64().ok_or_else(too_short)?;
            let last_seen = r.u64().ok_or_else(too_short)?;
            let messages = r.u64().ok_or_else(too_short)?;
            let watch_secs = r.u64().ok_or_else(too_short)?;
            let points = r.u64().ok_or_else(too_short)?;
            let flags = r.u8().ok_or_else(too_short)?;
            Ok(UserRecord {
                id: id.to_owned(),
                login: r.str().ok_or_else(too_short)?,
                display_name: r.str().ok_or_else(too_short)?,
                first_seen,
                last_seen,
                messages,
                watch_secs,
                points,
                opted_out: flags & OPTED_OUT != 0,
            })
        }
        Some(&PROFILE_FORMAT) => {
            let first_seen = r.u64().ok_or_else(too_short)?;
            let last_seen = r.u64().ok_or_else(too_short)?;
            let messages = r.u64().ok_or_else(too_short)?;
            let (points, watch_secs, watched_at, flags) = balance.unwrap_or_default();
            Ok(UserRecord {
                id: id.to_owned(),
                login: r.str().ok_or_else(too_short)?,
                display_name: r.str().ok_or_else(too_short)?,
                first_seen,
                last_seen: last_seen.max(watched_at),
                messages,
                watch_secs,
                points,
                opted_out: flags & OPTED_OUT != 0,
            })
        }
        _ => Err(corrupt("unknown record format")),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let n = usize::from(self.u8()?);
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

/// Encodes a viewer's profile: a format byte, first seen, last seen and messages as
/// little-endian u64, then login and display name each with a one-byte length (Twitch caps both
/// far below 255 bytes; longer text is cut at a character boundary).
pub(crate) fn encode_profile(rec: &UserRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(27 + rec.login.len() + rec.display_name.len());
    out.push(PROFILE_FORMAT);
    for n in [rec.first_seen, rec.last_seen, rec.messages] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    push_names(&mut out, rec);
    out
}

/// Appends login and display name, each with a one-byte length (cut at a character boundary
/// to 255 bytes), as every binary user layout stores them.
pub(crate) fn push_names(out: &mut Vec<u8>, rec: &UserRecord) {
    for s in [&rec.login, &rec.display_name] {
        let mut end = s.len().min(255);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let cut = s.get(..end).unwrap_or("");
        out.push(u8::try_from(cut.len()).unwrap_or(0));
        out.extend_from_slice(cut.as_bytes());
    }
}

/// A viewer's `balances` row.
pub(crate) fn balance_of(rec: &UserRecord) -> Balance {
    (
        rec.points,
        rec.watch_secs,
        rec.last_seen,
        if rec.opted_out { OPTED_OUT } else { 0 },
    )
}

/// The `users` and `balances` tables of one transaction.
pub(crate) type UsersTable<'t> = Table<'t, &'static str, &'static [u8]>;
pub(crate) type BalancesTable<'t> = Table<'t, &'static str, Balance>;

/// Reads a viewer (profile and balance); `None` when they have no profile.
pub(crate) fn read_user(
    users: &impl ReadableTable<&'static str, &'static [u8]>,
    balances: &impl ReadableTable<&'static str, Balance>,
    id: &str,
) -> Result<Option<UserRecord>> {
    let Some(profile) = users.get(id)? else {
        return Ok(None);
    };
    let balance = balances.get(id)?.map(|b| b.value());
    decode_user(id, profile.value(), balance).map(Some)
}

/// Writes both rows of a viewer.
pub(crate) fn write_user(
    users: &mut UsersTable<'_>,
    balances: &mut BalancesTable<'_>,
    rec: &UserRecord,
) -> Result<()> {
    users.insert(rec.id.as_str(), encode_profile(rec).as_slice())?;
    balances.insert(rec.id.as_str(), balance_of(rec))?;
    Ok(())
}

/// Commits one batch of chat counters in one transaction. Only profiles are written (the
/// balances stay untouched) unless an imported placeholder's points move to the real id.
pub(crate) fn commit_batch(
    db: &Database,
    batch: &HashMap<CompactString, PendingChat>,
) -> Result<()> {
    let now = now_secs();
    let txn = db.begin_write()?;
    {
        let mut users = txn.open_table(USERS)?;
        let mut balances = txn.open_table(BALANCES)?;
        let mut logins = txn.open_table(LOGINS)?;
        for (id, b) in batch {
            let login = normalize_login(&b.login);
            let existing = match users.get(id.as_str())? {
                Some(v) => Some(decode_user(id, v.value(), None)?),
                None => None,
            };
            let (mut rec, adopted) = match existing {
                Some(r) => (r, false),
                None => {
                    match adopt_placeholder(&mut users, &mut balances, &mut logins, id, &login)? {
                        Some(r) => (r, true),
                        None => (
                            UserRecord {
                                id: id.to_string(),
                                first_seen: now,
                                ..UserRecord::default()
                            },
                            false,
                        ),
                    }
                }
            };
            if rec.first_seen == 0 {
                rec.first_seen = now;
            }
            rec.messages += b.messages;
            rec.last_seen = now;
            if !b.display_name.is_empty() {
                rec.display_name = b.display_name.to_string();
            }
            if !login.is_empty() && rec.login != login {
                if !rec.login.is_empty() {
                    let old_owner = logins
                        .get(rec.login.as_str())?
                        .map(|v| v.value().to_owned());
                    if old_owner.as_deref() == Some(id.as_str()) {
                        logins.remove(rec.login.as_str())?;
                    }
                }
                rec.login = login.clone();
            }
            if !rec.login.is_empty() {
                logins.insert(rec.login.as_str(), id.as_str())?;
            }
            if adopted {
                write_user(&mut users, &mut balances, &rec)?;
            } else {
                users.insert(id.as_str(), encode_profile(&rec).as_slice())?;
            }
        }
    }
    txn.commit()?;
    Ok(())
}

/// When a login was imported before its owner was ever seen, its record lives under a
/// placeholder id; the first real sighting moves it (points and all) to the real id.
fn adopt_placeholder(
    users: &mut UsersTable<'_>,
    balances: &mut BalancesTable<'_>,
    logins: &mut Table<&str, &str>,
    id: &str,
    login: &str,
) -> Result<Option<UserRecord>> {
    if login.is_empty() {
        return Ok(None);
    }
    let owner = logins.get(login)?.map(|v| v.value().to_owned());
    let Some(owner) = owner.filter(|o| o.starts_with(PENDING_PREFIX)) else {
        return Ok(None);
    };
    let Some(bytes) = users.remove(owner.as_str())?.map(|v| v.value().to_vec()) else {
        return Ok(None);
    };
    let balance = balances.remove(owner.as_str())?.map(|v| v.value());
    let mut rec = decode_user(&owner, &bytes, balance)?;
    logins.insert(login, id)?;
    rec.id = id.to_owned();
    Ok(Some(rec))
}

/// One chat message of `user_id` in the pending counters.
fn count_chat(
    pending: &mut HashMap<CompactString, PendingChat>,
    user_id: &str,
    login: &str,
    display_name: &str,
) {
    match pending.get_mut(user_id) {
        Some(p) => {
            p.messages += 1;
            if p.login != login {
                p.login = login.into();
            }
            if p.display_name != display_name {
                p.display_name = display_name.into();
            }
        }
        None => {
            pending.insert(
                user_id.into(),
                PendingChat {
                    login: login.into(),
                    display_name: display_name.into(),
                    messages: 1,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_records_round_trip_and_bad_bytes_are_errors() {
        let rec = UserRecord {
            id: "123".into(),
            login: "viewer".into(),
            display_name: "ビューア".into(),
            first_seen: 1,
            last_seen: 2,
            messages: 3,
            watch_secs: 4,
            points: 5,
            opted_out: true,
        };
        let bytes = encode_profile(&rec);
        let balance = balance_of(&rec);
        assert_eq!(decode_user("123", &bytes, Some(balance)).unwrap(), rec);
        for cut in 0..bytes.len() {
            assert!(decode_user("123", &bytes[..cut], Some(balance)).is_err());
        }
        // No balance row yet: nothing earned, not opted out.
        let fresh = decode_user("123", &bytes, None).unwrap();
        assert_eq!(
            (fresh.points, fresh.watch_secs, fresh.opted_out),
            (0, 0, false)
        );
        assert_eq!((fresh.login.as_str(), fresh.messages), ("viewer", 3));
        // Watched more recently than chatted: last seen is the later of the two.
        let watched = decode_user("123", &bytes, Some((5, 4, 99, 0))).unwrap();
        assert_eq!(watched.last_seen, 99);
        let json = br#"{"id":"x","login":"old","points":7}"#;
        assert_eq!(decode_user("123", json, None).unwrap().points, 7);
    }

    #[test]
    fn schema_2_records_still_decode_for_the_migration() {
        let mut v2 = vec![USER_FORMAT_V2];
        for n in [10u64, 20, 3, 600, 40] {
            v2.extend_from_slice(&n.to_le_bytes());
        }
        v2.push(OPTED_OUT);
        for s in ["lurker", "Lurker"] {
            v2.push(s.len() as u8);
            v2.extend_from_slice(s.as_bytes());
        }
        let want = UserRecord {
            id: "9".into(),
            login: "lurker".into(),
            display_name: "Lurker".into(),
            first_seen: 10,
            last_seen: 20,
            messages: 3,
            watch_secs: 600,
            points: 40,
            opted_out: true,
        };
        // A schema-2 row carries its own balance; a stray balance row does not override it.
        assert_eq!(decode_user("9", &v2, Some((1, 1, 1, 0))).unwrap(), want);
        for cut in 0..v2.len() {
            assert!(decode_user("9", &v2[..cut], None).is_err());
        }
    }
}
