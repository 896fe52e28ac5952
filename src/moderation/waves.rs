//! Follow-bot waves: tells a spike of follows (more than `follows` within `within_secs`) from
//! ordinary follows, and keeps what a wave owes until it is over — its follows (whose points
//! wait for the end) and the accounts in it (for blocks and bans). An ordinary follow waits
//! `hold_secs` before it is thanked and paid, so the first follows of a wave (before the
//! threshold is crossed) are folded into it. Pure bookkeeping on a clock the caller gives: the
//! dispatcher decides what to say, pay and call.
//!
//! The state lives behind an `Arc`, shared by the dispatcher (and the one that replaces it
//! after a crash, so held points survive a restart) and the console, which shows it.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use compact_str::CompactString;
use serde::Serialize;
use tokio::time::Instant;

use crate::config::moderation::{FollowWaves as WaveConfig, WavePoints};
use crate::event::ChannelEvent;

/// Most follows one wave keeps for paying later; beyond that they are counted, not paid
/// (a 100,000-account wave is not 100,000 viewers owed points).
pub const MAX_HELD: usize = 50_000;

/// Longest `within_secs` and `quiet_secs` honoured (the config's own limits), so no clock
/// arithmetic can overflow whatever the numbers.
const MAX_WITHIN_SECS: u64 = 3_600;
const MAX_QUIET_SECS: u64 = 86_400;

/// Longest `hold_secs` honoured (the config's own limit).
const MAX_HOLD_SECS: u64 = 60;

/// Most follows waiting out their hold; past it a follow is thanked at once (a burst that big
/// crosses any threshold long before).
pub const MAX_WAITING: usize = 10_000;

/// Most distinct accounts one wave remembers; beyond that a repeat follow of the same account
/// is not recognised (blocking it again is harmless) and `accounts` stops growing.
pub const MAX_TRACKED: usize = 100_000;

/// What to do with one follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowVerdict {
    /// An ordinary follow: thank it and pay it as always.
    Normal,
    /// An ordinary follow so far: it waits out the hold ([`FollowWaves::release_due`] gives it
    /// back then, to be thanked and paid), unless a wave begins first and takes it in.
    Waiting,
    /// This follow starts a wave of `follows` follows in `secs` seconds: say so once. It is held,
    /// and `accounts` (the ones that came before it within the window, and it) are in the wave.
    /// `folded` follows that were waiting out their hold joined it instead of being thanked.
    Began {
        /// Follows in the window.
        follows: u64,
        /// The window, in seconds.
        secs: u64,
        /// The accounts in the wave so far.
        accounts: Vec<CompactString>,
        /// Held follows folded into it.
        folded: usize,
    },
    /// A follow within the wave: held (or counted), no reaction. `new_account` is false when
    /// the same account followed again within the wave.
    Held {
        /// False when the account already followed within the wave.
        new_account: bool,
    },
}

/// A wave that has ended, with what it still owes.
#[derive(Debug)]
pub struct EndedWave {
    /// What the wave was, for the chat line and the console.
    pub summary: WaveSummary,
    /// The follows whose points were held (empty when the points are dropped).
    pub to_pay: Vec<ChannelEvent>,
}

/// One wave, as the console and the moderation log show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaveSummary {
    /// Unix seconds when it began.
    pub started_at: u64,
    /// Unix seconds when it ended; `None` while it lasts.
    pub ended_at: Option<u64>,
    /// Follows counted in it (the ones that started it included).
    pub follows: u64,
    /// Distinct accounts among them (counted up to [`MAX_TRACKED`]).
    pub accounts: u64,
    /// Follows whose points wait for the end.
    pub held: u64,
    /// `pay_after` or `drop`.
    pub points: WavePoints,
}

struct Wave {
    started: Instant,
    started_at: u64,
    /// The last follow that came at a spiking rate; the wave ends `quiet_secs` after it.
    last_hot: Instant,
    follows: u64,
    accounts: HashSet<CompactString>,
    held: Vec<ChannelEvent>,
}

struct State {
    config: WaveConfig,
    /// Recent follows within `within_secs`: when and who.
    recent: VecDeque<(Instant, CompactString)>,
    wave: Option<Wave>,
    last: Option<WaveSummary>,
    /// Ordinary follows waiting out the hold: when each is let go, oldest first.
    waiting: VecDeque<(Instant, ChannelEvent)>,
    /// The streamer asked for the wave to end now.
    end_asked: bool,
}

/// Follow-wave detection, shared. Cheap to clone.
#[derive(Clone)]
pub struct FollowWaves {
    inner: Arc<Mutex<State>>,
    /// Wakes the dispatcher when the streamer ends a wave by hand.
    wake: Arc<tokio::sync::Notify>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl FollowWaves {
    /// Detection with `config` (off when `config.enabled` is false).
    pub fn new(config: WaveConfig) -> FollowWaves {
        FollowWaves {
            inner: Arc::new(Mutex::new(State {
                config,
                recent: VecDeque::new(),
                wave: None,
                last: None,
                waiting: VecDeque::new(),
                end_asked: false,
            })),
            wake: Arc::default(),
        }
    }

    /// Asks for the wave lasting now to end at once (the console's button: a streamer who sees
    /// real followers caught in it). `false` when no wave lasts.
    pub fn ask_end(&self) -> bool {
        let mut st = self.state();
        if st.wave.is_none() {
            return false;
        }
        st.end_asked = true;
        self.wake.notify_one();
        true
    }

    /// Resolves when [`FollowWaves::ask_end`] was called (then [`FollowWaves::end_if_quiet`]
    /// ends the wave).
    pub async fn end_asked(&self) {
        self.wake.notified().await;
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The rules in force.
    pub fn config(&self) -> WaveConfig {
        self.state().config.clone()
    }

    /// New rules (a reloaded config). A wave that lasts goes on under them; switching
    /// detection off ends nothing by itself: the wave ends when it is quiet.
    pub fn set_config(&self, config: WaveConfig) {
        self.state().config = config;
    }

    /// Counts one follow at `now` and says what to do with it.
    pub fn observe(&self, ev: &ChannelEvent, now: Instant) -> FollowVerdict {
        let mut st = self.state();
        let user = ev.user.as_ref().map(|u| u.id.clone()).unwrap_or_default();
        let within = Duration::from_secs(st.config.within_secs.clamp(1, MAX_WITHIN_SECS));
        let limit = st.config.follows.max(1) as usize;
        if !st.config.enabled && st.wave.is_none() {
            st.recent.clear();
            return FollowVerdict::Normal;
        }
        while st
            .recent
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) >= within)
        {
            st.recent.pop_front();
        }
        st.recent.push_back((now, user.clone()));
        // Only the last `limit + 1` matter for the threshold: the window stays small.
        while st.recent.len() > limit.saturating_add(1) {
            st.recent.pop_front();
        }
        let spiking = st.recent.len() > limit;
        let points = st.config.points;
        if let Some(wave) = &mut st.wave {
            if spiking {
                wave.last_hot = now;
            }
            wave.follows = wave.follows.saturating_add(1);
            let new_account = if wave.accounts.len() < MAX_TRACKED {
                wave.accounts.insert(user)
            } else {
                !wave.accounts.contains(&user)
            };
            if new_account && points == WavePoints::PayAfter && wave.held.len() < MAX_HELD {
                wave.held.push(ev.clone());
            }
            return FollowVerdict::Held { new_account };
        }
        if !spiking {
            let hold = Duration::from_secs(st.config.hold_secs.min(MAX_HOLD_SECS));
            if hold.is_zero() || st.waiting.len() >= MAX_WAITING {
                return FollowVerdict::Normal;
            }
            st.waiting
                .push_back((now.checked_add(hold).unwrap_or(now), ev.clone()));
            return FollowVerdict::Waiting;
        }
        let first = st.recent.front().map_or(now, |(at, _)| *at);
        let accounts: Vec<CompactString> = {
            let mut seen = HashSet::new();
            st.recent
                .iter()
                .filter(|(_, id)| !id.is_empty() && seen.insert(id.clone()))
                .map(|(_, id)| id.clone())
                .collect()
        };
        let follows = st.recent.len() as u64;
        // The follows still waiting out their hold are the wave's first: held with it, each
        // account once.
        let folded: Vec<ChannelEvent> = st.waiting.drain(..).map(|(_, ev)| ev).collect();
        let held = if points == WavePoints::PayAfter {
            let mut seen = HashSet::new();
            folded
                .iter()
                .chain(std::iter::once(ev))
                .filter(|e| {
                    let id = e.user.as_ref().map(|u| u.id.clone()).unwrap_or_default();
                    id.is_empty() || seen.insert(id)
                })
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        st.wave = Some(Wave {
            started: first,
            started_at: unix_now().saturating_sub(now.saturating_duration_since(first).as_secs()),
            last_hot: now,
            follows,
            accounts: accounts.iter().cloned().collect(),
            held,
        });
        st.last = None;
        FollowVerdict::Began {
            follows,
            secs: now.saturating_duration_since(first).as_secs().max(1),
            accounts,
            folded: folded.len(),
        }
    }

    /// When the oldest follow waiting out its hold is due.
    pub fn next_release(&self) -> Option<Instant> {
        self.state().waiting.front().map(|(at, _)| *at)
    }

    /// The follows whose hold is over at `now` (all of them when `everything`, at shutdown),
    /// oldest first, to be thanked and paid.
    pub fn release_due(&self, now: Instant, everything: bool) -> Vec<ChannelEvent> {
        let mut st = self.state();
        let mut due = Vec::new();
        while let Some((at, _)) = st.waiting.front() {
            if !everything && *at > now {
                break;
            }
            if let Some((_, ev)) = st.waiting.pop_front() {
                due.push(ev);
            }
        }
        due
    }

    /// When the wave lasting now ends if no further follow comes at a spiking rate.
    pub fn ends_at(&self) -> Option<Instant> {
        let st = self.state();
        let quiet = Duration::from_secs(st.config.quiet_secs.clamp(1, MAX_QUIET_SECS));
        st.wave
            .as_ref()
            .map(|w| w.last_hot.checked_add(quiet).unwrap_or(w.last_hot))
    }

    /// Ends the wave if it has been quiet long enough at `now`, or its end was asked for.
    pub fn end_if_quiet(&self, now: Instant) -> Option<EndedWave> {
        let asked = self.state().end_asked;
        let due = asked || self.ends_at().is_some_and(|at| now >= at);
        if due { self.end_now() } else { None }
    }

    /// Ends the wave lasting now (at shutdown, or when it is quiet), with what it owes.
    pub fn end_now(&self) -> Option<EndedWave> {
        let mut st = self.state();
        st.end_asked = false;
        let wave = st.wave.take()?;
        st.recent.clear();
        let points = st.config.points;
        let summary = WaveSummary {
            started_at: wave.started_at,
            ended_at: Some(unix_now()),
            follows: wave.follows,
            accounts: wave.accounts.len() as u64,
            held: wave.held.len() as u64,
            points,
        };
        st.last = Some(summary.clone());
        let to_pay = match points {
            WavePoints::PayAfter => wave.held,
            WavePoints::Drop => Vec::new(),
        };
        Some(EndedWave { summary, to_pay })
    }

    /// The wave lasting now, if any, else the last one that ended (for the console).
    pub fn status(&self) -> WaveStatus {
        let st = self.state();
        let current = st.wave.as_ref().map(|w| WaveSummary {
            started_at: w.started_at,
            ended_at: None,
            follows: w.follows,
            accounts: w.accounts.len() as u64,
            held: w.held.len() as u64,
            points: st.config.points,
        });
        let lasted_secs = st.wave.as_ref().map(|w| {
            Instant::now()
                .saturating_duration_since(w.started)
                .as_secs()
        });
        WaveStatus {
            enabled: st.config.enabled,
            active: current.is_some(),
            lasted_secs,
            wave: current.or_else(|| st.last.clone()),
        }
    }
}

impl WaveSummary {
    /// The moderation log's entry for the wave's `event` (`began` or `ended`).
    pub fn log_entry(
        &self,
        channel: &str,
        event: &str,
        at_ms: u64,
        block: bool,
        ban: bool,
    ) -> serde_json::Value {
        serde_json::json!({
            "at_ms": at_ms,
            "channel": channel,
            "kind": "follow_wave",
            "event": event,
            "follows": self.follows,
            "accounts": self.accounts,
            "held": self.held,
            "points": self.points,
            "block": block,
            "ban": ban,
        })
    }
}

/// The broadcaster's scope blocking a wave's accounts needs.
pub const BLOCK_SCOPE: &str = "user:manage:blocked_users";

/// The start-up check for `follow_waves.block`: the broadcaster's grant must hold
/// [`BLOCK_SCOPE`], so a missing scope is reported at start, not discovered during a wave.
/// `Some(warning)` when it does not (or there is no broadcaster token); `None` when it does,
/// or when the grant cannot be checked now (the network; a later block says why it failed).
pub async fn block_scope_check(tokens: &crate::twitch::auth::Tokens) -> Option<String> {
    use crate::twitch::auth::{Account, AuthError};
    let lacks = |what: &str| {
        format!(
            "follow waves: `block: true` in moderation.yaml, but {what}: the accounts of a \
             follow wave will not be blocked. Run `twitch-bot auth` and authorize the \
             broadcaster account with {BLOCK_SCOPE}, or set follow_waves.block to false."
        )
    };
    match tokens.validate(Account::Broadcaster).await {
        Ok(v) if v.scopes.iter().any(|s| s == BLOCK_SCOPE) => None,
        Ok(_) => Some(lacks(&format!(
            "the broadcaster's grant lacks {BLOCK_SCOPE}"
        ))),
        Err(AuthError::Missing(_)) => Some(lacks("secrets.yaml has no broadcaster token")),
        Err(AuthError::Invalid(_)) => Some(lacks("the broadcaster's token is no longer valid")),
        Err(e) => {
            tracing::debug!("cannot check the broadcaster's scopes now: {e}");
            None
        }
    }
}

/// The accounts waiting to be blocked, drained by one task ([`spawn_blocker`]).
pub type BlockQueue = Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<CompactString>>>;

/// Most blocks waiting to be sent; beyond that an account is not blocked (counted, logged).
pub const BLOCK_QUEUE: usize = 10_000;

/// The sending side of the block queue and the queue.
pub fn block_channel() -> (tokio::sync::mpsc::Sender<CompactString>, BlockQueue) {
    let (tx, rx) = tokio::sync::mpsc::channel(BLOCK_QUEUE);
    (tx, Arc::new(tokio::sync::Mutex::new(rx)))
}

/// Blocks the queued accounts one at a time as the broadcaster (`PUT /users/blocks`), so a
/// wave of thousands never floods Helix (the client waits out its rate limit). Safe to start
/// again after a crash: it picks up the queue. Ends at shutdown (blocks still queued are not
/// sent) or when every sender is gone.
pub fn spawn_blocker(
    helix: crate::twitch::helix::Helix,
    queue: BlockQueue,
    shutdown: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut rx = queue.lock().await;
        let mut refused_said = false;
        loop {
            let user_id = tokio::select! {
                _ = shutdown.cancelled() => return,
                next = rx.recv() => match next {
                    Some(id) => id,
                    None => return,
                },
            };
            let blocked = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = helix.block_user(&user_id) => r,
            };
            match blocked {
                Ok(()) => tracing::debug!("blocked follow-wave account {user_id}"),
                Err(e) => {
                    if !refused_said {
                        tracing::warn!(
                            "cannot block follow-wave account {user_id}: {e} (blocking needs \
                             the broadcaster's user:manage:blocked_users; run `twitch-bot auth`)"
                        );
                        refused_said = true;
                    }
                }
            }
        }
    })
}

/// What the console shows: whether a wave lasts now, and it or the last one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaveStatus {
    /// Wave detection is on (`follow_waves.enabled`).
    pub enabled: bool,
    /// A wave lasts now.
    pub active: bool,
    /// Seconds since the wave lasting now began.
    pub lasted_secs: Option<u64>,
    /// The wave lasting now, or else the last one.
    pub wave: Option<WaveSummary>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ChannelEventKind, Chatter, EventSource};

    fn follow(n: u32) -> ChannelEvent {
        ChannelEvent {
            id: format!("msg-{n}").into(),
            source: EventSource::EventSub,
            user: Some(Chatter {
                id: format!("{}", 50_000 + n).into(),
                login: format!("bot{n}").into(),
                display_name: format!("bot{n}").into(),
                ..Chatter::default()
            }),
            kind: ChannelEventKind::Follow,
        }
    }

    fn config(points: WavePoints) -> WaveConfig {
        WaveConfig {
            follows: 3,
            within_secs: 10,
            quiet_secs: 5,
            hold_secs: 0,
            points,
            ..WaveConfig::default()
        }
    }

    #[test]
    fn follows_wait_out_the_hold_and_a_wave_takes_in_the_ones_still_waiting() {
        let waves = FollowWaves::new(WaveConfig {
            hold_secs: 3,
            ..config(WavePoints::PayAfter)
        });
        let t0 = Instant::now();
        // A lone follow waits, then is let go once its hold is over.
        assert_eq!(waves.observe(&follow(0), t0), FollowVerdict::Waiting);
        assert_eq!(waves.next_release(), Some(t0 + Duration::from_secs(3)));
        assert!(
            waves
                .release_due(t0 + Duration::from_secs(2), false)
                .is_empty()
        );
        let due = waves.release_due(t0 + Duration::from_secs(3), false);
        assert_eq!(due, vec![follow(0)]);
        assert_eq!(waves.next_release(), None);

        // The first follows of a wave wait; the one that crosses the threshold takes them in.
        let t1 = t0 + Duration::from_secs(20);
        for n in 1..4 {
            assert_eq!(waves.observe(&follow(n), t1), FollowVerdict::Waiting);
        }
        let began = waves.observe(&follow(4), t1 + Duration::from_secs(1));
        assert!(
            matches!(&began, FollowVerdict::Began { folded: 3, accounts, .. } if accounts.len() == 4),
            "{began:?}"
        );
        assert_eq!(waves.next_release(), None, "nothing left to thank");
        assert!(
            waves
                .release_due(t1 + Duration::from_secs(60), true)
                .is_empty()
        );
        let ended = waves.end_now().expect("a wave");
        assert_eq!(
            ended.to_pay.len(),
            4,
            "every follow of the wave is paid at its end"
        );
        assert_eq!(ended.summary.held, 4);
    }

    #[test]
    fn a_spike_begins_a_wave_that_holds_each_account_once_and_ends_when_quiet() {
        let waves = FollowWaves::new(config(WavePoints::PayAfter));
        let t0 = Instant::now();
        for n in 0..3 {
            assert_eq!(waves.observe(&follow(n), t0), FollowVerdict::Normal);
        }
        let began = waves.observe(&follow(3), t0 + Duration::from_secs(1));
        assert!(
            matches!(&began, FollowVerdict::Began { follows: 4, accounts, .. } if accounts.len() == 4),
            "{began:?}"
        );
        for n in 4..100 {
            assert_eq!(
                waves.observe(&follow(n), t0 + Duration::from_secs(2)),
                FollowVerdict::Held { new_account: true }
            );
        }
        assert_eq!(
            waves.observe(&follow(50), t0 + Duration::from_secs(2)),
            FollowVerdict::Held { new_account: false }
        );
        assert!(waves.end_if_quiet(t0 + Duration::from_secs(6)).is_none());
        let ended = waves
            .end_if_quiet(t0 + Duration::from_secs(7))
            .expect("quiet for 5 s");
        assert_eq!(ended.summary.follows, 101);
        assert_eq!(ended.summary.accounts, 100);
        assert_eq!(ended.to_pay.len(), 97, "the wave's follows from the 4th on");
        assert!(!waves.status().active);
        assert_eq!(waves.status().wave.map(|w| w.follows), Some(101));
        // After the wave, an ordinary follow is ordinary again.
        assert_eq!(
            waves.observe(&follow(500), t0 + Duration::from_secs(8)),
            FollowVerdict::Normal
        );
    }

    #[test]
    fn numbers_out_of_any_range_do_not_panic() {
        let waves = FollowWaves::new(WaveConfig {
            follows: u32::MAX,
            within_secs: u64::MAX,
            quiet_secs: u64::MAX,
            hold_secs: u64::MAX,
            ..WaveConfig::default()
        });
        let t0 = Instant::now();
        assert_eq!(waves.observe(&follow(1), t0), FollowVerdict::Waiting);
        assert!(waves.next_release().is_some());
        let waves = FollowWaves::new(WaveConfig {
            follows: 0,
            within_secs: 0,
            quiet_secs: u64::MAX,
            ..WaveConfig::default()
        });
        waves.observe(&follow(1), t0);
        assert!(matches!(
            waves.observe(&follow(2), t0),
            FollowVerdict::Began { .. }
        ));
        assert!(waves.ends_at().is_some());
        assert!(waves.end_if_quiet(t0).is_none());
    }

    #[test]
    fn dropped_points_hold_nothing_and_switched_off_detection_sees_no_wave() {
        let waves = FollowWaves::new(config(WavePoints::Drop));
        let t0 = Instant::now();
        for n in 0..50 {
            waves.observe(&follow(n), t0);
        }
        let ended = waves.end_now().expect("a wave");
        assert!(ended.to_pay.is_empty());
        assert_eq!(ended.summary.held, 0);

        let off = FollowWaves::new(WaveConfig {
            enabled: false,
            ..config(WavePoints::PayAfter)
        });
        for n in 0..50 {
            assert_eq!(off.observe(&follow(n), t0), FollowVerdict::Normal);
        }
    }
}
