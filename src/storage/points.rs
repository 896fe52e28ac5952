//! Points: every change is one durable write transaction that also appends an audit row;
//! event-driven changes also mark the event id in the same transaction, so a crash can never
//! pay an event twice or mark one without paying it.

use redb::{ReadableDatabase, ReadableTable, Table, WriteTransaction};

use super::schema::{
    AUDIT, AuditBatch, AuditEntry, AuditTime, BALANCES, EVENTS, LOGINS, USERS, UserRecord,
};
use super::users::{BalancesTable, OPTED_OUT, UsersTable, balance_of, read_user, write_user};
use super::{Result, Storage, StorageError, now_secs};

/// What an at-most-once operation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied<T> {
    /// First time this id was seen: applied and committed.
    Done(T),
    /// The id was applied before (maybe in an earlier run): nothing changed.
    Duplicate,
}

/// The outcome of a points change: the new balance and the audit row that records it (pass its
/// id to [`Storage::refund`] to undo a purchase).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The balance after the change.
    pub balance: u64,
    /// The audit row's id.
    pub audit_id: u64,
}

/// One viewer credited by a watch-time tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchCredit {
    /// Twitch user id.
    pub user_id: String,
    /// Login.
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// Points for this tick (after the role multiplier).
    pub points: u64,
    /// Watch time to add.
    pub secs: u64,
}

/// What a watch-time tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchSummary {
    /// Viewers who earned points.
    pub credited: usize,
    /// Viewers skipped because they opted out.
    pub opted_out: usize,
}

/// The tables of one write transaction, for points changes inside
/// [`Storage::apply_event_once`] and friends.
pub struct PointsTxn<'t> {
    users: UsersTable<'t>,
    balances: BalancesTable<'t>,
    logins: Table<'t, &'static str, &'static str>,
    audit: Table<'t, u64, &'static [u8]>,
    next_audit: u64,
    now: u64,
}

impl<'t> PointsTxn<'t> {
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Self> {
        let audit = txn.open_table(AUDIT)?;
        let next_audit = audit.last()?.map(|(k, _)| k.value() + 1).unwrap_or(1);
        Ok(PointsTxn {
            users: txn.open_table(USERS)?,
            balances: txn.open_table(BALANCES)?,
            logins: txn.open_table(LOGINS)?,
            audit,
            next_audit,
            now: now_secs(),
        })
    }

    /// A viewer's record, if known.
    ///
    /// # Errors
    /// On a redb failure or a corrupt record.
    pub fn user(&self, user_id: &str) -> Result<Option<UserRecord>> {
        read_user(&self.users, &self.balances, user_id)
    }

    /// A viewer's balance (0 when unknown).
    ///
    /// # Errors
    /// On a redb failure.
    pub fn balance(&self, user_id: &str) -> Result<u64> {
        Ok(self.user(user_id)?.map(|u| u.points).unwrap_or(0))
    }

    /// Adds (or with a negative delta takes) points. A change that would go below zero fails
    /// with [`StorageError::InsufficientPoints`] and changes nothing.
    ///
    /// # Errors
    /// Insufficient points; redb failures.
    pub fn change(&mut self, user_id: &str, delta: i64, reason: &str) -> Result<Receipt> {
        let known = self.user(user_id)?;
        let new = known.is_none();
        let mut rec = known.unwrap_or_else(|| UserRecord {
            id: user_id.to_owned(),
            first_seen: self.now,
            ..UserRecord::default()
        });
        let balance = if delta >= 0 {
            rec.points.saturating_add(delta.unsigned_abs())
        } else {
            rec.points.checked_sub(delta.unsigned_abs()).ok_or(
                StorageError::InsufficientPoints {
                    balance: rec.points,
                    needed: delta.unsigned_abs(),
                },
            )?
        };
        rec.points = balance;
        if new {
            self.save(&rec)?;
        } else {
            // The profile is unchanged: only the small balance row is rewritten.
            self.balances.insert(user_id, balance_of(&rec))?;
        }
        let audit_id = self.audit(user_id, delta, reason, balance)?;
        Ok(Receipt { balance, audit_id })
    }

    /// Makes sure a record exists with this login and display name (for awards to viewers who
    /// have not chatted yet).
    ///
    /// # Errors
    /// On a redb failure.
    pub fn touch(&mut self, user_id: &str, login: &str, display_name: &str) -> Result<UserRecord> {
        let mut rec = self.user(user_id)?.unwrap_or_else(|| UserRecord {
            id: user_id.to_owned(),
            first_seen: self.now,
            ..UserRecord::default()
        });
        let login = super::users::normalize_login(login);
        if !login.is_empty() && rec.login != login {
            rec.login = login;
            self.logins.insert(rec.login.as_str(), user_id)?;
        }
        if !display_name.is_empty() {
            rec.display_name = display_name.to_owned();
        }
        self.save(&rec)?;
        Ok(rec)
    }

    /// Writes a record.
    pub(crate) fn save(&mut self, rec: &UserRecord) -> Result<()> {
        write_user(&mut self.users, &mut self.balances, rec)
    }

    fn audit(&mut self, user: &str, delta: i64, reason: &str, balance: u64) -> Result<u64> {
        let id = self.next_audit;
        self.next_audit += 1;
        let entry = AuditEntry {
            at: self.now,
            user: user.to_owned(),
            delta,
            reason: reason.to_owned(),
            balance,
        };
        let bytes = serde_json::to_vec(&entry).unwrap_or_default();
        self.audit.insert(id, bytes.as_slice())?;
        Ok(id)
    }

    /// Reads one audit row.
    ///
    /// # Errors
    /// On a redb failure or a corrupt row.
    pub fn audit_entry(&self, audit_id: u64) -> Result<Option<AuditEntry>> {
        match self.audit.get(audit_id)? {
            Some(v) => {
                serde_json::from_slice(v.value())
                    .map(Some)
                    .map_err(|e| StorageError::Corrupt {
                        table: "audit",
                        key: audit_id.to_string(),
                        reason: e.to_string(),
                    })
            }
            None => Ok(None),
        }
    }
}

fn as_delta(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Storage {
    /// Runs `f` on the points tables in one durable write transaction.
    ///
    /// # Errors
    /// Whatever `f` returns (the transaction is then rolled back) or a commit failure.
    pub fn with_points<T>(&self, f: impl FnOnce(&mut PointsTxn<'_>) -> Result<T>) -> Result<T> {
        let txn = self.db().begin_write()?;
        let out = {
            let mut p = PointsTxn::open(&txn)?;
            f(&mut p)?
        };
        txn.commit()?;
        Ok(out)
    }

    /// Applies `f` at most once per `event_id`, across restarts: the id is marked in the same
    /// transaction as `f`'s changes, so either both are on disk or neither is.
    ///
    /// # Errors
    /// Whatever `f` returns (nothing is marked then, so a retry can apply it) or a redb failure.
    pub fn apply_event_once<T>(
        &self,
        event_id: &str,
        f: impl FnOnce(&mut PointsTxn<'_>) -> Result<T>,
    ) -> Result<Applied<T>> {
        let txn = self.db().begin_write()?;
        let out = {
            let mut events = txn.open_table(EVENTS)?;
            if events.get(event_id)?.is_some() {
                return Ok(Applied::Duplicate);
            }
            events.insert(event_id, now_secs())?;
            let mut p = PointsTxn::open(&txn)?;
            f(&mut p)?
        };
        txn.commit()?;
        Ok(Applied::Done(out))
    }

    /// Awards `n` points for an event at most once. A viewer who opted out gets nothing (the
    /// event still counts as applied); the receipt then shows their unchanged balance.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn award_for_event(
        &self,
        event_id: &str,
        user_id: &str,
        n: u64,
        reason: &str,
    ) -> Result<Applied<Receipt>> {
        self.apply_event_once(event_id, |p| {
            if let Some(u) = p.user(user_id)?
                && u.opted_out
            {
                return Ok(Receipt {
                    balance: u.points,
                    audit_id: 0,
                });
            }
            p.change(user_id, as_delta(n), reason)
        })
    }

    /// Adds points (committed when this returns).
    ///
    /// # Errors
    /// On a redb failure.
    pub fn add(&self, user_id: &str, n: u64, reason: &str) -> Result<u64> {
        self.with_points(|p| p.change(user_id, as_delta(n), reason))
            .map(|r| r.balance)
    }

    /// Takes points; fails with [`StorageError::InsufficientPoints`] and changes nothing when the
    /// balance is too small. Returns the new balance.
    ///
    /// # Errors
    /// Insufficient points; redb failures.
    pub fn take(&self, user_id: &str, n: u64, reason: &str) -> Result<u64> {
        self.take_with_receipt(user_id, n, reason)
            .map(|r| r.balance)
    }

    /// [`Storage::take`], returning the audit id a later [`Storage::refund`] needs.
    ///
    /// # Errors
    /// Insufficient points; redb failures.
    pub fn take_with_receipt(&self, user_id: &str, n: u64, reason: &str) -> Result<Receipt> {
        self.with_points(|p| p.change(user_id, -as_delta(n), reason))
    }

    /// Moves points between viewers in one transaction; nothing moves if `from` is short.
    /// Returns both new balances.
    ///
    /// # Errors
    /// Insufficient points; redb failures.
    pub fn transfer(&self, from: &str, to: &str, n: u64, reason: &str) -> Result<(u64, u64)> {
        self.with_points(|p| {
            let a = p.change(from, -as_delta(n), reason)?;
            let b = p.change(to, as_delta(n), reason)?;
            Ok((a.balance, b.balance))
        })
    }

    /// Gives back what one earlier take removed, at most once per audit id.
    ///
    /// # Errors
    /// [`StorageError::UnknownUser`] when the audit id names no take; redb failures.
    pub fn refund(&self, audit_id: u64, reason: &str) -> Result<Applied<u64>> {
        self.apply_event_once(&format!("refund:{audit_id}"), |p| {
            let entry = p
                .audit_entry(audit_id)?
                .filter(|e| e.delta < 0)
                .ok_or_else(|| StorageError::UnknownUser(format!("audit #{audit_id}")))?;
            p.change(&entry.user, entry.delta.saturating_neg(), reason)
                .map(|r| r.balance)
        })
    }

    /// A viewer's balance (0 when unknown).
    ///
    /// # Errors
    /// On a redb failure.
    pub fn get(&self, user_id: &str) -> Result<u64> {
        let txn = self.db().begin_read()?;
        let balances = txn.open_table(BALANCES)?;
        Ok(balances.get(user_id)?.map_or(0, |b| b.value().0))
    }

    /// The `n` highest balances, highest first, without opted-out viewers.
    ///
    /// A scan of the fixed-width balances table (about 100,000 rows in a few milliseconds):
    /// cheaper overall than keeping a sorted index, which every watch tick would have to
    /// rewrite at random places.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn leaderboard(&self, n: usize) -> Result<Vec<UserRecord>> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        if n == 0 {
            return Ok(Vec::new());
        }
        let txn = self.db().begin_read()?;
        let users = txn.open_table(USERS)?;
        let balances = txn.open_table(BALANCES)?;
        // Min-heap of the best n so far: (points, Reverse(id)) so ties list lower ids first.
        let mut best: BinaryHeap<Reverse<(u64, Reverse<String>)>> = BinaryHeap::new();
        for row in balances.iter()? {
            let (k, v) = row?;
            let (points, _, _, flags) = v.value();
            if points == 0 || flags & OPTED_OUT != 0 {
                continue;
            }
            if best.len() < n {
                best.push(Reverse((points, Reverse(k.value().to_owned()))));
            } else if best.peek().is_some_and(|Reverse((p, _))| points > *p) {
                best.pop();
                best.push(Reverse((points, Reverse(k.value().to_owned()))));
            }
        }
        let mut ids: Vec<(u64, Reverse<String>)> = best.into_iter().map(|Reverse(e)| e).collect();
        ids.sort_by(|a, b| b.cmp(a));
        let mut out = Vec::with_capacity(ids.len());
        for (_, Reverse(id)) in ids {
            if let Some(rec) = read_user(&users, &balances, &id)? {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// Audit rows of one viewer, oldest first (a linear scan: for the console and support).
    ///
    /// # Errors
    /// On a redb failure.
    pub fn audit_for(&self, user_id: &str) -> Result<Vec<(u64, AuditEntry)>> {
        let txn = self.db().begin_read()?;
        let audit = txn.open_table(AUDIT)?;
        let mut out = Vec::new();
        for row in audit.iter()? {
            let (k, v) = row?;
            if let Ok(e) = serde_json::from_slice::<AuditEntry>(v.value()) {
                if e.user == user_id {
                    out.push((k.value(), e));
                }
            } else if let Ok(b) = serde_json::from_slice::<AuditBatch>(v.value()) {
                for (user, delta, balance) in b.changes {
                    if user == user_id {
                        out.push((
                            k.value(),
                            AuditEntry {
                                at: b.at,
                                user,
                                delta,
                                reason: b.reason.clone(),
                                balance,
                            },
                        ));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Removes audit rows older than `older_than` (rows are in time order, so this stops at the
    /// first younger one); returns how many.
    ///
    /// # Errors
    /// On a redb failure.
    pub fn prune_audit(&self, older_than: std::time::Duration) -> Result<u64> {
        let cutoff = now_secs().saturating_sub(older_than.as_secs());
        let txn = self.db().begin_write()?;
        let mut removed = 0;
        {
            let mut audit = txn.open_table(AUDIT)?;
            loop {
                let old = match audit.first()? {
                    Some((k, v)) => serde_json::from_slice::<AuditTime>(v.value())
                        .map(|e| e.at < cutoff)
                        .unwrap_or(false)
                        .then(|| k.value()),
                    None => None,
                };
                let Some(key) = old else { break };
                audit.remove(key)?;
                removed += 1;
            }
        }
        txn.commit()?;
        Ok(removed)
    }

    /// A watch-time tick: credits every present viewer in one transaction (skipping opted-out
    /// viewers), adding their points, watch time and an audit row each.
    ///
    /// # Errors
    /// On a redb failure (nothing is credited then).
    pub fn credit_watch(&self, credits: &[WatchCredit], reason: &str) -> Result<WatchSummary> {
        // Visiting users in key order keeps consecutive lookups on the same B-tree pages.
        let mut ordered: Vec<&WatchCredit> = credits.iter().collect();
        ordered.sort_unstable_by(|a, b| a.user_id.cmp(&b.user_id));
        self.with_points(|p| {
            let mut summary = WatchSummary::default();
            let mut batch = AuditBatch {
                at: p.now,
                reason: reason.to_owned(),
                changes: Vec::new(),
            };
            for c in ordered {
                // Most present viewers have earned before: only their fixed-width balance row
                // is rewritten (one tree walk, no decoding, no allocation).
                if let Some(mut row) = p.balances.get_mut(c.user_id.as_str())? {
                    let (points, watch_secs, _, flags) = row.value();
                    if flags & OPTED_OUT != 0 {
                        summary.opted_out += 1;
                        continue;
                    }
                    let points = points.saturating_add(c.points);
                    row.insert((points, watch_secs.saturating_add(c.secs), p.now, flags))?;
                    if c.points > 0 {
                        batch
                            .changes
                            .push((c.user_id.clone(), as_delta(c.points), points));
                    }
                    summary.credited += 1;
                    continue;
                }
                let mut rec = p.user(&c.user_id)?.unwrap_or_else(|| UserRecord {
                    id: c.user_id.clone(),
                    first_seen: p.now,
                    ..UserRecord::default()
                });
                if rec.opted_out {
                    summary.opted_out += 1;
                    continue;
                }
                if rec.login.is_empty() && !c.login.is_empty() {
                    rec.login = super::users::normalize_login(&c.login);
                    p.logins.insert(rec.login.as_str(), c.user_id.as_str())?;
                }
                if rec.display_name.is_empty() {
                    rec.display_name.clone_from(&c.display_name);
                }
                rec.points = rec.points.saturating_add(c.points);
                rec.watch_secs = rec.watch_secs.saturating_add(c.secs);
                rec.last_seen = p.now;
                p.save(&rec)?;
                if c.points > 0 {
                    batch
                        .changes
                        .push((c.user_id.clone(), as_delta(c.points), rec.points));
                }
                summary.credited += 1;
            }
            if !batch.changes.is_empty() {
                let bytes = serde_json::to_vec(&batch).unwrap_or_default();
                let id = p.next_audit;
                p.next_audit += 1;
                p.audit.insert(id, bytes.as_slice())?;
            }
            Ok(summary)
        })
    }
}
