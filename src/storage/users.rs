//! Viewers: the batched per-message counters, look-ups by id and login, and the opt-out flag.

use std::collections::HashMap;

use compact_str::CompactString;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table};

use super::schema::{LOGINS, PENDING_PREFIX, USERS, UserRecord};
use super::{Result, Storage, StorageError, now_secs};

/// Chat activity of one viewer not yet committed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingChat {
    pub login: CompactString,
    pub display_name: CompactString,
    pub messages: u64,
}

impl Storage {
    /// Counts one chat message of a viewer and refreshes their login and display name.
    /// Memory only (a short mutex and a hash-map update); committed within `flush_every`.
    pub fn record_chat(&self, user_id: &str, login: &str, display_name: &str) {
        if user_id.is_empty() {
            return;
        }
        let Ok(mut pending) = self.inner.pending.lock() else {
            return;
        };
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

    /// Commits the batched chat counters now.
    ///
    /// # Errors
    /// When the commit fails; the batch is then kept for the next try.
    pub fn flush(&self) -> Result<()> {
        let batch = match self.inner.pending.lock() {
            Ok(mut p) if !p.is_empty() => std::mem::take(&mut *p),
            _ => return Ok(()),
        };
        if let Err(e) = commit_batch(self.db(), batch.clone()) {
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
        let users = txn.open_table(USERS)?;
        match users.get(user_id)? {
            Some(v) => Ok(Some(decode_user(user_id, v.value())?)),
            None => Ok(None),
        }
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
            let mut users = txn.open_table(USERS)?;
            let mut rec = match users.get(user_id)? {
                Some(v) => decode_user(user_id, v.value())?,
                None => return Err(StorageError::UnknownUser(user_id.to_owned())),
            };
            rec.opted_out = opted_out;
            users.insert(user_id, encode_user(&rec).as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }
}

/// Lower case, without a leading `@`.
pub(crate) fn normalize_login(login: &str) -> String {
    login.trim().trim_start_matches('@').to_ascii_lowercase()
}

/// Tag of the binary user record (schema 2). JSON records (schema 1, starting with `{`) are
/// still read, so a half-migrated or hand-edited row is never lost.
const USER_FORMAT: u8 = 2;

/// Decodes a user record; the id is the table key and is not stored in the value.
pub(crate) fn decode_user(id: &str, bytes: &[u8]) -> Result<UserRecord> {
    let corrupt = |reason: &str| StorageError::Corrupt {
        table: "users",
        key: id.to_owned(),
        reason: reason.to_owned(),
    };
    match bytes.first() {
        Some(b'{') => {
            let mut rec: UserRecord =
                serde_json::from_slice(bytes).map_err(|e| corrupt(&e.to_string()))?;
            rec.id = id.to_owned();
            Ok(rec)
        }
        Some(&USER_FORMAT) => {
            let mut r = Reader { bytes, pos: 1 };
            let too_short = || corrupt("record is cut short");
            let first_seen = r.u64().ok_or_else(too_short)?;
            let last_seen = r.u64().ok_or_else(too_short)?;
            let messages = r.u64().ok_or_else(too_short)?;
            let watch_secs = r.u64().ok_or_else(too_short)?;
            let points = r.u64().ok_or_else(too_short)?;
            let flags = r.u8().ok_or_else(too_short)?;
            let login = r.str().ok_or_else(too_short)?;
            let display_name = r.str().ok_or_else(too_short)?;
            Ok(UserRecord {
                id: id.to_owned(),
                login,
                display_name,
                first_seen,
                last_seen,
                messages,
                watch_secs,
                points,
                opted_out: flags & 1 != 0,
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

/// The balance of an encoded record without decoding its strings (leaderboard scans).
pub(crate) fn peek_points(bytes: &[u8]) -> Option<u64> {
    match bytes.first() {
        // format byte, then first_seen, last_seen, messages, watch_secs, points.
        Some(&USER_FORMAT) => Some(u64::from_le_bytes(
            bytes.get(AT_POINTS..AT_FLAGS)?.try_into().ok()?,
        )),
        _ => None,
    }
}

/// What [`credit_in_place`] did to an encoded record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreditInPlace {
    /// The viewer opted out; the bytes are unchanged.
    OptedOut,
    /// Points and watch time added, `last_seen` set; the new balance.
    Credited { points: u64 },
}

// Byte offsets of the counters in the binary layout (see [`encode_user`]).
const AT_LAST_SEEN: usize = 9;
const AT_WATCH_SECS: usize = 25;
const AT_POINTS: usize = 33;
const AT_FLAGS: usize = 41;

/// Adds a watch-time credit to an encoded record without decoding it: the layout has fixed
/// offsets for the counters, so the record keeps its length. `None` when the record is not in
/// the binary layout or lacks a login or display name (the caller decodes and fills them in).
pub(crate) fn credit_in_place(
    bytes: &mut [u8],
    points: u64,
    secs: u64,
    now: u64,
) -> Option<CreditInPlace> {
    if bytes.first() != Some(&USER_FORMAT) {
        return None;
    }
    let login_len = usize::from(*bytes.get(AT_FLAGS + 1)?);
    let display_len = usize::from(*bytes.get(AT_FLAGS + 2 + login_len)?);
    if login_len == 0 || display_len == 0 || bytes.len() != AT_FLAGS + 3 + login_len + display_len {
        return None;
    }
    if bytes[AT_FLAGS] & 1 != 0 {
        return Some(CreditInPlace::OptedOut);
    }
    let mut field = |at: usize, f: &dyn Fn(u64) -> u64| -> Option<u64> {
        let slot = bytes.get_mut(at..at + 8)?;
        let v = f(u64::from_le_bytes(slot.try_into().ok()?));
        slot.copy_from_slice(&v.to_le_bytes());
        Some(v)
    };
    field(AT_LAST_SEEN, &|_| now)?;
    field(AT_WATCH_SECS, &|w| w.saturating_add(secs))?;
    let points = field(AT_POINTS, &|p| p.saturating_add(points))?;
    Some(CreditInPlace::Credited { points })
}

/// Encodes a user record: a format byte, five little-endian u64 counters, a flags byte, then
/// login and display name each with a one-byte length (Twitch caps both far below 255 bytes;
/// longer text is cut at a character boundary).
pub(crate) fn encode_user(rec: &UserRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(44 + rec.login.len() + rec.display_name.len());
    out.push(USER_FORMAT);
    for n in [
        rec.first_seen,
        rec.last_seen,
        rec.messages,
        rec.watch_secs,
        rec.points,
    ] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.push(u8::from(rec.opted_out));
    for s in [&rec.login, &rec.display_name] {
        let mut end = s.len().min(255);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let cut = s.get(..end).unwrap_or("");
        out.push(u8::try_from(cut.len()).unwrap_or(0));
        out.extend_from_slice(cut.as_bytes());
    }
    out
}

/// Commits one batch of chat counters in one transaction.
pub(crate) fn commit_batch(
    db: &Database,
    batch: HashMap<CompactString, PendingChat>,
) -> Result<()> {
    let now = now_secs();
    let txn = db.begin_write()?;
    {
        let mut users = txn.open_table(USERS)?;
        let mut logins = txn.open_table(LOGINS)?;
        for (id, b) in batch {
            let login = normalize_login(&b.login);
            let existing = match users.get(id.as_str())? {
                Some(v) => Some(decode_user(&id, v.value())?),
                None => None,
            };
            let mut rec =
                match existing {
                    Some(r) => r,
                    None => adopt_placeholder(&mut users, &mut logins, &id, &login)?
                        .unwrap_or_else(|| UserRecord {
                            id: id.to_string(),
                            first_seen: now,
                            ..UserRecord::default()
                        }),
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
            users.insert(id.as_str(), encode_user(&rec).as_slice())?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// When a login was imported before its owner was ever seen, its record lives under a
/// placeholder id; the first real sighting moves it (points and all) to the real id.
fn adopt_placeholder(
    users: &mut Table<&str, &[u8]>,
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
    let mut rec = decode_user(&owner, &bytes)?;
    logins.insert(login, id)?;
    rec.id = id.to_owned();
    Ok(Some(rec))
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
        let bytes = encode_user(&rec);
        assert_eq!(decode_user("123", &bytes).unwrap(), rec);
        for cut in 0..bytes.len() {
            assert!(decode_user("123", &bytes[..cut]).is_err());
        }
        let json = br#"{"id":"x","login":"old","points":7}"#;
        assert_eq!(decode_user("123", json).unwrap().points, 7);
    }

    #[test]
    fn a_credit_in_place_matches_decode_change_encode() {
        let rec = UserRecord {
            id: "9".into(),
            login: "lurker".into(),
            display_name: "Lurker".into(),
            first_seen: 10,
            last_seen: 20,
            messages: 3,
            watch_secs: 600,
            points: 40,
            opted_out: false,
        };
        let mut bytes = encode_user(&rec);
        assert_eq!(
            credit_in_place(&mut bytes, 20, 600, 99),
            Some(CreditInPlace::Credited { points: 60 })
        );
        let want = UserRecord {
            last_seen: 99,
            watch_secs: 1200,
            points: 60,
            ..rec.clone()
        };
        assert_eq!(decode_user("9", &bytes).unwrap(), want);

        let mut out = encode_user(&UserRecord {
            opted_out: true,
            ..rec.clone()
        });
        let before = out.clone();
        assert_eq!(
            credit_in_place(&mut out, 20, 600, 99),
            Some(CreditInPlace::OptedOut)
        );
        assert_eq!(out, before);

        // Without a display name, or in the old JSON layout, the caller takes the slow path.
        let mut nameless = encode_user(&UserRecord {
            display_name: String::new(),
            ..rec
        });
        assert_eq!(credit_in_place(&mut nameless, 20, 600, 99), None);
        let mut json = br#"{"points":7}"#.to_vec();
        assert_eq!(credit_in_place(&mut json, 20, 600, 99), None);
        for cut in 0..bytes.len() {
            assert_eq!(
                credit_in_place(&mut bytes.clone()[..cut].to_vec(), 1, 1, 1),
                None
            );
        }
    }
}
