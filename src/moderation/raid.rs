//! Raid mode: notices when many accounts trip the filters at once, switches on Shield Mode and
//! the chat settings the streamer chose (after reading the ones in force, to put them back), and
//! ends after a quiet period or on request, restoring what it changed.
//!
//! Owns the detection window, the on/off state and its timers; the Helix calls that switch
//! Twitch's defences are [`super::defences`]. What each offending account gets is the
//! dispatcher's job (it asks [`RaidMode::offence`]); telling chat, the moderation log and
//! scripts is the hook's.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use compact_str::CompactString;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::defences::{self, Restore};
use crate::config::moderation::{RaidModeConfig, Step};
use crate::twitch::helix::Helix;

/// The scopes raid mode uses, each with what it is for.
pub const SCOPES: [(&str, &str); 3] = [
    ("moderator:manage:shield_mode", "switch on Shield Mode"),
    (
        "moderator:manage:chat_settings",
        "switch on followers-only, emote-only or slow mode",
    ),
    (
        "moderator:manage:warnings",
        "warn viewers with Twitch's own warnings",
    ),
];

/// Most offences remembered in the detection window.
const MAX_RECENT: usize = 10_000;
/// Most offending accounts counted during one raid (the count stops growing past it).
const MAX_ACCOUNTS: usize = 100_000;

/// An account that tripped a filter, and what raid mode would give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offender {
    /// The channel the offence was in.
    pub channel: CompactString,
    /// The Twitch user id (empty when the line had none).
    pub user_id: CompactString,
    /// The account's login, for logs and the console.
    pub login: CompactString,
    /// The step raid mode punishes this account with.
    pub step: Step,
}

impl Offender {
    fn key(&self) -> &str {
        if self.user_id.is_empty() {
            &self.login
        } else {
            &self.user_id
        }
    }
}

/// What [`RaidMode::offence`] says about an offence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Raid mode is off: the ladder decides.
    Off,
    /// Raid mode is on: one punishment per account, no deletes or warnings. `first`: this is
    /// the account's first offence since raid mode began (later ones are only counted).
    On {
        /// The account's first offence since raid mode began.
        first: bool,
    },
    /// This offence began raid mode; the others in the window (not this one) are to be
    /// punished too.
    Began(Vec<Offender>),
}

/// A switch, for the hook (chat, moderation log, scripts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Raid mode began: `accounts` tripped the filters within `window_secs`. `say` is the one
    /// line for the moderators in chat, when configured.
    Began {
        /// Accounts that tripped the filters.
        accounts: usize,
        /// The window they did it in.
        window_secs: u32,
        /// The line for the moderators, if any.
        say: Option<String>,
    },
    /// Raid mode ended (`reason`: `quiet` or `console`) after `secs`, having seen `accounts`
    /// trip the filters in `lines` lines.
    Ended {
        /// `quiet` or `console`.
        reason: String,
        /// Accounts that tripped the filters while it lasted.
        accounts: usize,
        /// Offending lines seen while it lasted.
        lines: u64,
        /// How long it lasted.
        secs: u64,
    },
    /// A defence switched at Twitch (`Shield Mode on`, `chat settings restored`, ...), or why not.
    Twitch {
        /// What was switched, in words.
        what: String,
        /// Whether Twitch took it (or why not).
        result: Result<(), String>,
    },
}

/// What the hook gets: a change in raid mode.
pub type Hook = Arc<dyn Fn(Change) + Send + Sync>;

/// Raid mode's state, for the console and the health API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Raid mode may begin (`raid_mode.enabled`).
    pub enabled: bool,
    /// Raid mode is on now.
    pub active: bool,
    /// When it began, in milliseconds since the Unix epoch.
    pub since_ms: Option<u64>,
    /// Different accounts that tripped the filters since it began.
    pub accounts: usize,
    /// Lines that tripped the filters since it began.
    pub lines: u64,
    /// Shield Mode was switched on by raid mode (and is switched off when it ends).
    pub shield_mode: bool,
    /// Chat settings were changed by raid mode (and are put back when it ends).
    pub chat_settings: bool,
    /// Scopes raid mode uses that the bot account's grant lacks (known once checked).
    pub missing_scopes: Vec<String>,
}

struct Active {
    generation: u64,
    since: Instant,
    since_ms: u64,
    last_offence: Instant,
    accounts: HashSet<CompactString>,
    lines: u64,
    restore: Arc<tokio::sync::Mutex<Restore>>,
}

struct State {
    config: RaidModeConfig,
    recent: VecDeque<(Instant, Offender)>,
    active: Option<Active>,
    generation: u64,
}

struct Inner {
    state: Mutex<State>,
    helix: Option<Helix>,
    hook: Mutex<Option<Hook>>,
    /// The bot account's scopes, once the API side has checked its grant.
    scopes: Arc<OnceLock<Vec<String>>>,
    stop: CancellationToken,
}

/// The raid-mode handle (cheap to clone): the dispatcher reports offences, the console reads
/// the status and ends it.
#[derive(Clone)]
pub struct RaidMode(Arc<Inner>);

impl std::fmt::Debug for RaidMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaidMode")
            .field("status", &self.status())
            .finish()
    }
}

impl RaidMode {
    /// Raid mode as `config` sets it, switching Twitch's defences through `helix` (none: it
    /// only changes how offences are punished). `scopes` is filled with the bot account's
    /// scopes once known; `stop` ends its timers.
    pub fn new(
        config: &RaidModeConfig,
        helix: Option<Helix>,
        scopes: Arc<OnceLock<Vec<String>>>,
        stop: CancellationToken,
    ) -> RaidMode {
        RaidMode(Arc::new(Inner {
            state: Mutex::new(State {
                config: config.clone(),
                recent: VecDeque::new(),
                active: None,
                generation: 0,
            }),
            helix,
            hook: Mutex::new(None),
            scopes,
            stop,
        }))
    }

    /// Where changes are reported (chat, moderation log, scripts).
    pub fn set_hook(&self, hook: Hook) {
        *self.0.hook.lock().unwrap_or_else(PoisonError::into_inner) = Some(hook);
    }

    /// A reloaded config; a raid in progress goes on with the new quiet period.
    pub fn reconfigure(&self, config: &RaidModeConfig) {
        self.lock().config = config.clone();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn tell(&self, change: Change) {
        let hook = self
            .0
            .hook
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(hook) = hook {
            hook(change);
        }
    }

    /// The punishment configured for raiders.
    pub fn action(&self) -> crate::config::moderation::RaidAction {
        self.lock().config.action
    }

    /// Whether raid mode is on.
    pub fn is_active(&self) -> bool {
        self.lock().active.is_some()
    }

    /// The status shown in the console.
    pub fn status(&self) -> Status {
        let st = self.lock();
        let (shield, settings) = st
            .active
            .as_ref()
            .and_then(|a| a.restore.try_lock().ok())
            .map_or((false, false), |r| (r.shield, r.settings.is_some()));
        Status {
            enabled: st.config.enabled,
            active: st.active.is_some(),
            since_ms: st.active.as_ref().map(|a| a.since_ms),
            accounts: st.active.as_ref().map_or(0, |a| a.accounts.len()),
            lines: st.active.as_ref().map_or(0, |a| a.lines),
            shield_mode: shield,
            chat_settings: settings,
            missing_scopes: self
                .0
                .scopes
                .get()
                .map(|held| {
                    missing_scopes(held)
                        .into_iter()
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// An account tripped a filter at `now`: counts it, begins raid mode when enough accounts
    /// did within the window, and says how to punish it.
    pub fn offence(&self, offender: Offender, now: Instant) -> Verdict {
        let mut st = self.lock();
        if let Some(active) = &mut st.active {
            active.last_offence = now;
            active.lines = active.lines.saturating_add(1);
            // Past the cap an account not counted yet is taken for a first offence each time.
            let first = if active.accounts.len() < MAX_ACCOUNTS {
                active.accounts.insert(offender.key().into())
            } else {
                !active.accounts.contains(offender.key())
            };
            return Verdict::On { first };
        }
        if !st.config.enabled {
            return Verdict::Off;
        }
        let window = Duration::from_secs(u64::from(st.config.window_secs));
        while st
            .recent
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= window)
        {
            st.recent.pop_front();
        }
        if st.recent.len() >= MAX_RECENT {
            st.recent.pop_front();
        }
        st.recent.push_back((now, offender.clone()));
        let mut accounts: HashSet<&str> = HashSet::new();
        for (_, o) in &st.recent {
            accounts.insert(o.key());
        }
        let distinct = accounts.len();
        drop(accounts);
        let needed = usize::try_from(st.config.accounts).unwrap_or(usize::MAX);
        if distinct < needed {
            return Verdict::Off;
        }
        // Raid mode begins: the others in the window are raiders too, punished once each.
        let mut seen: HashSet<CompactString> = HashSet::new();
        seen.insert(offender.key().into());
        let mut others = Vec::new();
        // The offences in the window (this one among them) are the raid's first lines.
        let lines = st.recent.len() as u64;
        for (_, o) in std::mem::take(&mut st.recent) {
            if seen.insert(o.key().into()) {
                others.push(o);
            }
        }
        st.generation = st.generation.wrapping_add(1);
        let generation = st.generation;
        let restore = Arc::new(tokio::sync::Mutex::new(Restore::default()));
        st.active = Some(Active {
            generation,
            since: now,
            since_ms: crate::clock::now_ms(),
            last_offence: now,
            accounts: seen,
            lines,
            restore: restore.clone(),
        });
        let config = st.config.clone();
        let count = distinct;
        drop(st);
        info!(
            "raid mode on: {count} accounts tripped the filters within {} s",
            config.window_secs
        );
        let say = (!config.message.trim().is_empty()).then(|| {
            config
                .message
                .replace("{accounts}", &count.to_string())
                .replace("{window}", &config.window_secs.to_string())
                .replace("{quiet}", &config.quiet_secs.to_string())
        });
        self.tell(Change::Began {
            accounts: count,
            window_secs: config.window_secs,
            say,
        });
        self.spawn_defences(config, restore);
        self.spawn_quiet_watch(generation);
        Verdict::Began(others)
    }

    /// Ends raid mode now (`reason`: `console`, `quiet`), restoring what it changed at Twitch.
    /// Returns whether it was on.
    pub fn end(&self, reason: &str) -> bool {
        self.end_generation(None, reason)
    }

    fn end_generation(&self, generation: Option<u64>, reason: &str) -> bool {
        let active = {
            let mut st = self.lock();
            match &st.active {
                Some(a) if generation.is_none_or(|g| g == a.generation) => st.active.take(),
                _ => None,
            }
        };
        let Some(active) = active else {
            return false;
        };
        let secs = active.since.elapsed().as_secs();
        info!(
            "raid mode off ({reason}) after {secs} s; {} accounts tripped the filters in {} lines",
            active.accounts.len(),
            active.lines
        );
        self.tell(Change::Ended {
            reason: reason.to_owned(),
            accounts: active.accounts.len(),
            lines: active.lines,
            secs,
        });
        self.spawn_restore(active.restore);
        true
    }

    /// Switches on Twitch's defences; an early end waits for this and restores what it did.
    fn spawn_defences(&self, config: RaidModeConfig, restore: Arc<tokio::sync::Mutex<Restore>>) {
        let Some(helix) = self.0.helix.clone() else {
            return;
        };
        let me = self.clone();
        let held = self.0.scopes.get().cloned();
        tokio::spawn(async move {
            let mut slot = restore.lock().await;
            let (done, changes) = defences::switch_on(&helix, &config, held.as_deref()).await;
            *slot = done;
            drop(slot);
            for change in changes {
                me.tell(change);
            }
        });
    }

    /// Puts back what raid mode changed at Twitch.
    fn spawn_restore(&self, restore: Arc<tokio::sync::Mutex<Restore>>) {
        let Some(helix) = self.0.helix.clone() else {
            return;
        };
        let me = self.clone();
        tokio::spawn(async move {
            let restore = std::mem::take(&mut *restore.lock().await);
            for change in defences::switch_off(&helix, restore).await {
                me.tell(change);
            }
        });
    }

    /// Ends raid mode once `quiet_secs` pass without an offence.
    fn spawn_quiet_watch(&self, generation: u64) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let due = {
                    let st = me.lock();
                    match &st.active {
                        Some(a) if a.generation == generation => {
                            a.last_offence + Duration::from_secs(u64::from(st.config.quiet_secs))
                        }
                        _ => return,
                    }
                };
                if Instant::now() >= due {
                    me.end_generation(Some(generation), "quiet");
                    return;
                }
                tokio::select! {
                    () = tokio::time::sleep_until(due) => {}
                    () = me.0.stop.cancelled() => return,
                }
            }
        });
    }
}

/// The scopes raid mode uses that `held` lacks.
pub fn missing_scopes(held: &[String]) -> Vec<&'static str> {
    SCOPES
        .iter()
        .map(|(s, _)| *s)
        .filter(|s| !held.iter().any(|h| h == s))
        .collect()
}

/// The start-up warning for a grant lacking raid mode's scopes; `None` when nothing is missing.
pub fn scope_warning(held: &[String]) -> Option<String> {
    let missing: Vec<String> = SCOPES
        .iter()
        .filter(|(s, _)| !held.iter().any(|h| h == s))
        .map(|(s, what)| format!("{s} (to {what})"))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "raid mode: the bot account's grant lacks {}; in a raid the bot will only punish \
             accounts. Run `twitch-bot auth` again to grant them (the bot account must be a \
             moderator of the channel).",
            missing.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offender(n: u32) -> Offender {
        Offender {
            channel: "c".into(),
            user_id: format!("id{n}").into(),
            login: format!("raider{n}").into(),
            step: Step::Ban,
        }
    }

    fn raid(accounts: u32) -> RaidMode {
        let config = RaidModeConfig {
            accounts,
            window_secs: 10,
            quiet_secs: 30,
            ..RaidModeConfig::default()
        };
        RaidMode::new(&config, None, Arc::default(), CancellationToken::new())
    }

    #[tokio::test(start_paused = true)]
    async fn enough_accounts_in_the_window_begin_it_and_quiet_ends_it() {
        let r = raid(3);
        let changes = Arc::new(Mutex::new(Vec::new()));
        let c = changes.clone();
        r.set_hook(Arc::new(move |ch| c.lock().unwrap().push(ch)));
        let t0 = Instant::now();
        assert_eq!(r.offence(offender(1), t0), Verdict::Off);
        // The same account again does not count twice.
        assert_eq!(r.offence(offender(1), t0), Verdict::Off);
        // Outside the window the first offence no longer counts.
        tokio::time::advance(Duration::from_secs(11)).await;
        let later = Instant::now();
        assert_eq!(r.offence(offender(2), later), Verdict::Off);
        assert_eq!(r.offence(offender(3), later), Verdict::Off);
        let Verdict::Began(others) = r.offence(offender(4), later) else {
            panic!("the third account in the window begins raid mode");
        };
        assert_eq!(others, vec![offender(2), offender(3)]);
        assert!(r.is_active());
        assert_eq!(r.offence(offender(5), later), Verdict::On { first: true });
        assert_eq!(r.offence(offender(5), later), Verdict::On { first: false });
        assert_eq!(r.status().accounts, 4);
        tokio::time::sleep(Duration::from_secs(29)).await;
        assert!(r.is_active(), "not quiet long enough yet");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!r.is_active(), "30 s without an offence end it");
        let changes = changes.lock().unwrap();
        assert!(matches!(changes[0], Change::Began { accounts: 3, .. }));
        assert!(
            matches!(&changes[1], Change::Ended { reason, accounts: 4, .. } if reason == "quiet")
        );
    }

    #[test]
    fn missing_scopes_are_named_with_what_they_are_for() {
        let held = vec!["moderator:manage:warnings".to_owned()];
        let w = scope_warning(&held).expect("two are missing");
        assert!(w.contains("moderator:manage:shield_mode (to switch on Shield Mode)"));
        assert!(w.contains("moderator:manage:chat_settings"));
        assert!(!w.contains("moderator:manage:warnings"));
        let all: Vec<String> = SCOPES.iter().map(|(s, _)| (*s).to_owned()).collect();
        assert_eq!(scope_warning(&all), None);
    }
}
