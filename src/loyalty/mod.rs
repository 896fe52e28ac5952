//! Loyalty: who earns how many points for watching and for channel events.
//!
//! [`rules`] holds the pure rule ([`points_for`], event → award) and the rules themselves
//! ([`LoyaltyRules`], from configs/loyalty.yaml); this file's [`Loyalty`] keeps who is present,
//! runs the watch-time tick and pays event awards (through the storage writer, or
//! [`Storage::apply_event_once`]), each event id at most once, also across restarts. This
//! module does not read files.

pub mod rules;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use compact_str::CompactString;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::event::{ChannelEvent, Chatter, Roles};
use crate::storage::writer;
use crate::storage::{
    Applied, PointsTxn, Receipt, Storage, StorageError, WatchCredit, WatchSummary,
};

pub use rules::{Award, LoyaltyRules, RoleMultipliers, TierPoints, points_for};

/// Pays `award` in a points transaction; a viewer who opted out gets nothing (the event still
/// counts as applied) and the receipt shows their unchanged balance.
fn pay_in(p: &mut PointsTxn<'_>, award: &Award) -> Result<Receipt, StorageError> {
    let rec = p.touch(&award.user_id, &award.login, &award.display_name)?;
    if rec.opted_out {
        return Ok(Receipt {
            balance: rec.points,
            audit_id: 0,
        });
    }
    p.change(
        &award.user_id,
        i64::try_from(award.amount).unwrap_or(i64::MAX),
        &award.reason,
    )
}

/// A viewer seen during the current watch interval.
#[derive(Debug, Clone)]
struct Presence {
    login: CompactString,
    display_name: CompactString,
    roles: Roles,
}

/// What one watch-time tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickOutcome {
    /// Loyalty is off, or the stream is offline and watch time is paid only while live.
    Skipped,
    /// Present viewers were paid; what was paid.
    Paid(WatchSummary),
}

/// The running loyalty state: the rules, who is present and whether the stream is live.
#[derive(Debug)]
pub struct Loyalty {
    rules: Mutex<Arc<LoyaltyRules>>,
    present: Mutex<HashMap<CompactString, Presence>>,
    /// Whether the stream is live; the ticker watches it to pay the part-interval at stream end.
    live: watch::Sender<bool>,
}

/// What woke the watch-time ticker.
enum Wake {
    Interval,
    Live(bool),
    Shutdown,
}

impl Loyalty {
    /// Loyalty under `rules`, nobody present, the stream offline.
    pub fn new(rules: LoyaltyRules) -> Loyalty {
        Loyalty {
            rules: Mutex::new(Arc::new(rules)),
            present: Mutex::new(HashMap::new()),
            live: watch::Sender::new(false),
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<LoyaltyRules> {
        self.rules
            .lock()
            .map(|r| Arc::clone(&r))
            .unwrap_or_else(|p| Arc::clone(&p.into_inner()))
    }

    /// Swaps in new rules (config reload); the next tick and event use them.
    pub fn set_rules(&self, rules: LoyaltyRules) {
        if let Ok(mut r) = self.rules.lock() {
            *r = Arc::new(rules);
        }
    }

    /// The stream went live or offline.
    pub fn set_live(&self, live: bool) {
        self.live
            .send_if_modified(|l| std::mem::replace(l, live) != live);
    }

    /// Whether the stream is live.
    pub fn is_live(&self) -> bool {
        *self.live.borrow()
    }

    /// A viewer chatted: they count as present for the current interval.
    pub fn note_chat(&self, chatter: &Chatter) {
        self.note_present(
            &chatter.id,
            &chatter.login,
            &chatter.display_name,
            chatter.roles,
        );
    }

    /// [`Loyalty::note_chat`] for several chatters, under one lock.
    pub fn note_chats<'a>(&self, chatters: impl IntoIterator<Item = &'a Chatter>) {
        if let Ok(mut p) = self.present.lock() {
            for c in chatters {
                note(&mut p, &c.id, &c.login, &c.display_name, c.roles);
            }
        }
    }

    /// A viewer is present for the current interval.
    pub fn note_present(&self, user_id: &str, login: &str, display_name: &str, roles: Roles) {
        if let Ok(mut p) = self.present.lock() {
            note(&mut p, user_id, login, display_name, roles);
        }
    }

    /// A viewer in Twitch's chatter list (Helix Get Chatters), who may never write: present
    /// for the interval, keeping the roles their chat showed if they did chat.
    pub fn note_lurker(&self, chatter: &Chatter) {
        if chatter.id.is_empty() {
            return;
        }
        if let Ok(mut p) = self.present.lock() {
            p.entry(chatter.id.clone()).or_insert_with(|| Presence {
                login: chatter.login.clone(),
                display_name: chatter.display_name.clone(),
                roles: chatter.roles,
            });
        }
    }

    /// Viewers present in the current interval.
    pub fn present_count(&self) -> usize {
        self.present.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// Pays a full interval's watch time to everyone present (one transaction) and starts a new
    /// interval, if the stream counts now. Blocking: call from `spawn_blocking` in async code.
    ///
    /// # Errors
    /// When the commit fails (nothing is paid then, and the viewers stay present).
    pub fn tick(&self, storage: &Storage) -> Result<TickOutcome, StorageError> {
        let rules = self.rules();
        let counts = !rules.only_while_live || self.is_live();
        self.pay(storage, rules.watch_interval, counts)
    }

    /// Pays `watched` of watch time to everyone present, points pro rata of the interval (a
    /// stream that ends five minutes into a ten-minute interval pays half), and starts a new
    /// interval. `counts` is false when the time was offline and only live time pays.
    ///
    /// # Errors
    /// When the commit fails (nothing is paid then, and the viewers stay present).
    pub fn pay(
        &self,
        storage: &Storage,
        watched: Duration,
        counts: bool,
    ) -> Result<TickOutcome, StorageError> {
        let rules = self.rules();
        let present = match self.present.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => return Ok(TickOutcome::Skipped),
        };
        if !rules.enabled || !counts {
            return Ok(TickOutcome::Skipped);
        }
        let share = watched.as_secs_f64() / rules.watch_interval.as_secs_f64().max(1.0);
        let secs = watched.as_secs_f64().round() as u64;
        let credits: Vec<WatchCredit> = present
            .iter()
            .map(|(id, p)| {
                let points = rules.watch_points as f64 * rules.multipliers.for_roles(p.roles);
                WatchCredit {
                    user_id: id.to_string(),
                    login: p.login.to_string(),
                    display_name: p.display_name.to_string(),
                    // The epsilon keeps a full interval measured a hair short from losing a point.
                    points: (points * share + 1e-6).floor() as u64,
                    secs,
                }
            })
            .collect();
        match storage.credit_watch(&credits, "watch") {
            Ok(summary) => Ok(TickOutcome::Paid(summary)),
            Err(e) => {
                // Keep them present so the next tick pays this interval too.
                if let Ok(mut p) = self.present.lock() {
                    for (id, pr) in present {
                        p.entry(id).or_insert(pr);
                    }
                }
                Err(e)
            }
        }
    }

    /// Pays what the rules give for a channel event, at most once per event id (the id is
    /// stored as `points:<id>`, so a dispatcher that marks raw ids for its own deduplication
    /// does not block the award). `Ok(None)` when the event earns nothing. Blocking: the
    /// dispatcher hands the same work to the storage writer through [`Loyalty::award_job`].
    ///
    /// # Errors
    /// On a storage failure (nothing is paid or marked then; a retry can pay it).
    pub fn apply_event(
        &self,
        storage: &Storage,
        ev: &ChannelEvent,
    ) -> Result<Option<(Award, Applied<Receipt>)>, StorageError> {
        let Some((award, key)) = self.award_for(ev) else {
            return Ok(None);
        };
        let applied = storage.apply_event_once(&key, |p| pay_in(p, &award))?;
        Ok(Some((award, applied)))
    }

    /// The award a channel event earns and the key that pays it at most once; `None` when it
    /// earns nothing (or has no id, so a redelivery could not be recognised).
    pub fn award_for(&self, ev: &ChannelEvent) -> Option<(Award, String)> {
        let award = points_for(ev, &self.rules())?;
        if ev.id.is_empty() {
            // Without an id a redelivery cannot be recognised; paying it could pay twice.
            tracing::warn!(
                "channel event without an id earns nothing: {}",
                award.reason
            );
            return None;
        }
        let key = format!("points:{}", ev.id);
        Some((award, key))
    }

    /// The storage writer's job for a channel event: pays its award (if any) at most once,
    /// then runs `then` with what was written, after the commit.
    pub fn award_job(&self, ev: &ChannelEvent, then: writer::Then) -> writer::Job {
        match self.award_for(ev) {
            Some((award, key)) => {
                writer::Job::once(key, Box::new(move |p| pay_in(p, &award)), then)
            }
            None => writer::Job::after_pending(then),
        }
    }

    /// Runs the watch-time tick every `watch_interval` until `cancel` fires. When the stream
    /// ends (or the bot stops while it is live) the part-interval since the last tick is paid
    /// pro rata; when it goes live, chat from before the stream no longer counts.
    pub fn spawn_ticker(
        self: Arc<Self>,
        storage: Storage,
        helix: Option<crate::twitch::helix::Helix>,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut chatters_refused = false;
            let mut live_rx = self.live.subscribe();
            let mut was_live = *live_rx.borrow_and_update();
            let mut since = Instant::now();
            loop {
                let period = self.rules().watch_interval.max(Duration::from_secs(1));
                let wake = tokio::select! {
                    _ = cancel.cancelled() => Wake::Shutdown,
                    _ = tokio::time::sleep_until(since + period) => Wake::Interval,
                    changed = live_rx.changed() => match changed {
                        Ok(()) => Wake::Live(*live_rx.borrow_and_update()),
                        Err(_) => Wake::Shutdown,
                    },
                };
                let only_live = self.rules().only_while_live;
                let counts = !only_live || was_live;
                match wake {
                    Wake::Live(live) if live == was_live => continue,
                    Wake::Live(true) => {
                        was_live = true;
                        if only_live {
                            // The first interval starts with the stream.
                            since = Instant::now();
                            if let Ok(mut p) = self.present.lock() {
                                p.clear();
                            }
                        }
                        continue;
                    }
                    Wake::Live(false) => {
                        was_live = false;
                        if !only_live {
                            continue;
                        }
                    }
                    Wake::Interval | Wake::Shutdown => {}
                }
                let shutdown = matches!(wake, Wake::Shutdown);
                // Lurkers count too: Twitch's chatter list, when the API is up and the stream
                // counts. Without it (or refused), chat activity alone says who was there.
                if let Some(helix) = &helix
                    && counts
                    && !shutdown
                    && self.rules().enabled
                {
                    match helix.chatters().await {
                        Ok(list) => {
                            chatters_refused = false;
                            for c in &list {
                                self.note_lurker(&Chatter {
                                    id: c.user_id.as_str().into(),
                                    login: c.user_login.as_str().into(),
                                    display_name: c.user_name.as_str().into(),
                                    ..Chatter::default()
                                });
                            }
                        }
                        Err(e) if !chatters_refused => {
                            chatters_refused = true;
                            tracing::warn!(
                                "watch time counts only viewers who chat: Twitch's chatter list \
                                 is unavailable ({e}); the bot account needs to be a moderator \
                                 with the moderator:read:chatters scope (run `twitch-bot auth`)"
                            );
                        }
                        Err(e) => tracing::debug!("chatter list unavailable: {e}"),
                    }
                }
                let now = Instant::now();
                let watched = now - since;
                since = now;
                // A stop right after a tick has nothing worth a commit.
                let counts = counts && watched >= Duration::from_secs(1);
                let me = Arc::clone(&self);
                let st = storage.clone();
                let paid = tokio::task::spawn_blocking(move || me.pay(&st, watched, counts)).await;
                match paid {
                    Ok(Ok(TickOutcome::Paid(s))) => tracing::debug!(
                        "{}s of watch time paid to {} viewers",
                        watched.as_secs(),
                        s.credited
                    ),
                    Ok(Ok(TickOutcome::Skipped)) => {}
                    Ok(Err(e)) => tracing::error!("watch-time tick failed: {e}"),
                    Err(e) => tracing::error!("watch-time tick panicked: {e}"),
                }
                if shutdown {
                    return;
                }
            }
        })
    }
}

/// `user_id` is present, with the roles they showed last.
fn note(
    present: &mut HashMap<CompactString, Presence>,
    user_id: &str,
    login: &str,
    display_name: &str,
    roles: Roles,
) {
    if user_id.is_empty() {
        return;
    }
    match present.get_mut(user_id) {
        Some(e) => e.roles = roles,
        None => {
            present.insert(
                user_id.into(),
                Presence {
                    login: login.into(),
                    display_name: display_name.into(),
                    roles,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventSource;
    use crate::event::{ChannelEventKind, SubTier};

    fn chatter(id: &str) -> Chatter {
        Chatter {
            id: id.into(),
            login: format!("user{id}").into(),
            display_name: format!("User{id}").into(),
            ..Chatter::default()
        }
    }

    fn ev(kind: ChannelEventKind) -> ChannelEvent {
        ChannelEvent {
            id: "e1".into(),
            source: EventSource::EventSub,
            user: Some(chatter("7")),
            kind,
        }
    }

    #[test]
    fn event_awards_follow_the_rules() {
        let r = LoyaltyRules::default();
        let amt = |k| points_for(&ev(k), &r).map(|a| a.amount);
        assert_eq!(amt(ChannelEventKind::Follow), Some(50));
        assert_eq!(
            amt(ChannelEventKind::Subscribe {
                tier: SubTier::Tier3,
                is_gift: false
            }),
            Some(2500)
        );
        assert_eq!(
            amt(ChannelEventKind::Gift {
                tier: SubTier::Tier1,
                count: 5,
                anonymous: false
            }),
            Some(1250)
        );
        assert_eq!(
            amt(ChannelEventKind::Gift {
                tier: SubTier::Tier1,
                count: 5,
                anonymous: true
            }),
            None
        );
        assert_eq!(
            amt(ChannelEventKind::Cheer {
                bits: 150,
                message: String::new(),
                anonymous: false
            }),
            Some(150)
        );
        assert_eq!(amt(ChannelEventKind::Raid { viewers: 42 }), Some(42));
        assert_eq!(amt(ChannelEventKind::StreamOffline), None);
        let mut custom = r.clone();
        custom.custom.insert("first_message".into(), 5);
        assert_eq!(
            points_for(
                &ev(ChannelEventKind::FirstMessage { text: "hi".into() }),
                &custom
            )
            .map(|a| a.amount),
            Some(5)
        );
    }

    #[test]
    fn the_highest_role_multiplier_wins() {
        let m = RoleMultipliers::default();
        assert_eq!(m.for_roles(Roles::empty()), 1.0);
        let mut r = Roles::SUBSCRIBER;
        r.insert(Roles::VIP);
        assert_eq!(m.for_roles(r), 2.0);
        assert_eq!(m.for_roles(Roles::VIP), 1.5);
        let m = RoleMultipliers {
            regular: 1.25,
            ..RoleMultipliers::default()
        };
        assert_eq!(m.for_roles(Roles::REGULAR), 1.25);
        let mut r = Roles::REGULAR;
        r.insert(Roles::SUBSCRIBER);
        assert_eq!(m.for_roles(r), 2.0);
    }
}
