//! The Rhai script host: commands, timers, responses, rewards and event reactions, each one
//! `.rhai` file under `scripts/<kind>/`, sandboxed, run off the async runtime and reloaded live.
//!
//! The dispatcher calls [`ScriptHost::handle_chat`], [`ScriptHost::handle_channel_event`] and
//! the other `handle_*` methods; they match and check in the caller (cheap, never blocking) and
//! queue the run for the script threads, whose [`Action`]s go to the [`ActionSink`] given at
//! start. Points, stores, the cache and the Twitch API come in through [`Services`].
//!
//! Inside: `library` holds what is loaded and reloads it (the watcher and the console's saves
//! go through it), `routing` picks the script an input starts and checks its gates,
//! `builtins` answers `!redeem` and `!reload`, `runner` runs the queue on script threads,
//! `timers` decides when timers are due. Each gets what it needs handed over, not the host.
//!
//! This module owns `src/scripting/` only: it knows nothing of sockets or storage engines.

pub mod api;
pub mod broadcaster;
mod builtins;
mod checks;
pub mod engine;
pub mod files;
mod library;
pub mod loader;
pub mod matcher;
mod registry;
mod routing;
mod runner;
mod settings;
pub mod stores;
mod timers;
mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use compact_str::CompactString;

use crate::action::Action;
use crate::config::bot::BotConfig;
use crate::event::{Permission, Roles};

pub use api::{Ctx, CtxData, Services, UserData};
pub use engine::Limits;
pub use loader::{ErrorKind, ScriptError, ScriptKind, Settings};
pub use registry::{ReloadReport, ScriptInfo};
pub use runner::{ActionSink, FnSink};

use library::Library;
use registry::{LoadState, Registry};
use runner::{Queue, Runtime};

/// How the host is set up.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The scripts folder (`scripts/`, with a folder per kind).
    pub scripts_dir: PathBuf,
    /// The channel timers and event reactions speak in (login, no `#`).
    pub channel: CompactString,
    /// `chat.command_prefix`.
    pub command_prefix: String,
    /// `chat.reply_on_cooldown`: answer refusals (cooldown, not enough points) instead of
    /// staying silent.
    pub reply_on_cooldown: bool,
    /// Resource limits for every run.
    pub limits: Limits,
    /// Runs waiting for a script thread before new ones are dropped.
    pub queue_capacity: usize,
    /// Script threads (`scripts.workers`). Runs of one script never overlap and keep their
    /// order; more threads keep one slow script from delaying the others. While runs wait on the
    /// network, up to this many extra threads are lent to the scripts queued behind them.
    pub workers: usize,
}

impl HostConfig {
    /// Defaults for the scripts in `scripts_dir`, speaking in `channel` (a leading `#` and
    /// capitals are dropped).
    pub fn new(scripts_dir: impl Into<PathBuf>, channel: &str) -> HostConfig {
        let defaults = crate::config::scripts::ScriptsConfig::default();
        HostConfig {
            scripts_dir: scripts_dir.into(),
            channel: channel.trim_start_matches('#').to_lowercase().into(),
            command_prefix: "!".into(),
            reply_on_cooldown: false,
            limits: Limits::default(),
            queue_capacity: 1_024,
            workers: defaults.workers,
        }
    }

    /// Settings from `configs/bot.yaml`.
    pub fn from_bot(bot: &BotConfig, scripts_dir: impl Into<PathBuf>, channel: &str) -> HostConfig {
        let s = &bot.scripts;
        HostConfig {
            command_prefix: bot.chat.command_prefix.clone(),
            reply_on_cooldown: bot.chat.reply_on_cooldown,
            workers: s.workers,
            limits: Limits {
                max_network_time: std::time::Duration::from_secs(s.network_secs),
                max_network_calls: s.network_calls,
                ..Limits::default()
            },
            ..HostConfig::new(scripts_dir, channel)
        }
    }
}

/// Why a chat message started no run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The viewer's roles are below the script's `PERMISSION`.
    Permission {
        /// The level the script asks for.
        needed: Permission,
    },
    /// A cooldown is running; seconds left.
    Cooldown {
        /// Seconds until it may run again.
        remaining_secs: u64,
    },
    /// No reward by that name (`!redeem`).
    UnknownReward,
}

/// What the host did with an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not for scripts: no command, no response matched.
    Ignored,
    /// A run of this script (its key, `commands/ping`) was queued.
    Queued(Arc<str>),
    /// The script (its key) was not run, for the reason given.
    Refused(Arc<str>, Refusal),
    /// The queue was full; the run was dropped (and logged).
    Dropped(Arc<str>),
    /// A built-in command (`!reload`, `!redeem` without a name) was handled.
    Builtin,
}

/// The script host; share it through an `Arc`.
pub struct ScriptHost {
    config: HostConfig,
    /// What is loaded, and its reloads.
    library: Arc<Library>,
    /// Channel and viewer cooldowns, reserved here and given back by the script thread when a
    /// run is refused for points.
    cooldowns: Arc<checks::Cooldowns>,
    /// Chat lines seen, for timers' `MIN_CHAT_LINES`.
    chat_lines: AtomicU64,
    /// Whether the stream is live, for timers' `LIVE_ONLY`.
    live: AtomicBool,
    timers: timers::Timers,
    queue: Queue,
    watcher: Mutex<Option<watch::WatchGuard>>,
}

impl ScriptHost {
    /// Builds the engine, loads every script under `config.scripts_dir` and starts the script
    /// threads. Scripts that fail to load are in the report (and logged); the rest run.
    pub fn start(
        config: HostConfig,
        services: Services,
        sink: Arc<dyn ActionSink>,
    ) -> (Arc<ScriptHost>, ReloadReport) {
        if !config.scripts_dir.is_dir() {
            tracing::warn!(
                "the scripts folder {} does not exist; no scripts loaded",
                config.scripts_dir.display()
            );
        }
        let engine = engine::build(&config.limits);
        let library = Arc::new(Library::new(
            config.scripts_dir.clone(),
            engine,
            config.limits.max_run_time,
        ));
        let report = library.reload_dir(false);
        tracing::info!(
            "scripts loaded from {}: {} live, {} failed",
            config.scripts_dir.display(),
            report.loaded,
            report.failed
        );
        let cooldowns = Arc::new(checks::Cooldowns::default());
        // The threads end when the queue (held by the host) is dropped.
        let queue = runner::start(
            Runtime {
                library: library.clone(),
                services: Arc::new(services),
                sink,
                cooldowns: cooldowns.clone(),
                limits: config.limits.clone(),
                reply_on_cooldown: config.reply_on_cooldown,
            },
            config.queue_capacity,
            config.workers,
        );
        let host = Arc::new(ScriptHost {
            config,
            library,
            cooldowns,
            chat_lines: AtomicU64::new(0),
            live: AtomicBool::new(false),
            timers: timers::Timers::default(),
            queue,
            watcher: Mutex::new(None),
        });
        (host, report)
    }

    /// Starts watching the scripts folder: saved files replace their running version, deleted
    /// files unregister, new files register.
    ///
    /// # Errors
    /// The watcher could not be set up (the folder is missing or the OS refused).
    pub fn watch(&self) -> Result<(), notify::Error> {
        let guard = watch::start(self.library.clone())?;
        *self.watcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(guard);
        Ok(())
    }

    /// Reloads every script ("Reload scripts" in the console, `!reload` in chat).
    pub fn reload_all(&self) -> ReloadReport {
        self.library.reload_all()
    }

    /// How many times [`ScriptHost::reload_all`] ran, and when it last did.
    pub fn reload_stats(&self) -> (u64, Option<SystemTime>) {
        self.library.reload_stats()
    }

    /// Whether the stream is live (timers with `LIVE_ONLY` wait for it).
    pub fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::Relaxed);
    }

    /// Compiles and validates every script under `dir` without running any `fn run`.
    pub fn check(dir: &Path) -> Vec<ScriptError> {
        check_dir(dir)
    }

    /// Every script with its kind, settings and newest error, for the console.
    pub fn scripts(&self) -> Vec<ScriptInfo> {
        self.library.scripts()
    }

    /// The file of the `.rhai` command answering `!name` (by name or alias), if any.
    pub fn command_file(&self, name: &str) -> Option<String> {
        let name = name.trim_start_matches('!').to_lowercase();
        if registry::BUILTIN_COMMANDS.contains(&name.as_str()) {
            return Some("the script host (built in)".into());
        }
        self.library
            .registry()
            .commands
            .get(&name)
            .map(|s| s.file.clone())
    }

    /// The channel-point rewards reward scripts declare (`CHANNEL_POINTS_COST`), for the bot
    /// to create and keep up to date on Twitch.
    pub fn declared_rewards(&self) -> Vec<loader::ChannelPointsReward> {
        let reg = self.library.registry();
        let mut out: Vec<_> = reg
            .rewards
            .values()
            .filter_map(|s| match &s.settings {
                Settings::Reward(r) => r.channel_points.clone(),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| a.title.cmp(&b.title));
        out
    }
}

/// `twitch-bot check`: every problem in every script under `dir`, located `file:line:col`.
pub fn check_dir(dir: &Path) -> Vec<ScriptError> {
    if !dir.is_dir() {
        return vec![ScriptError::load(
            &dir.display().to_string(),
            0,
            0,
            "the scripts folder does not exist",
        )];
    }
    let limits = Limits::default();
    let engine = engine::build(&limits);
    let mut state = LoadState::default();
    let (mut errors, _) = registry::apply_dir(&engine, &mut state, dir, limits.max_run_time);
    // Two scripts claiming one command name: only one can answer.
    let mut names: HashMap<String, String> = HashMap::new();
    for script in state.scripts.values() {
        if let Settings::Command(c) = &script.settings {
            for name in std::iter::once(&script.name).chain(&c.aliases) {
                let name = name.trim().trim_start_matches('!').to_lowercase();
                if let Some(other) = names.insert(name.clone(), script.file.clone()) {
                    errors.push(ScriptError::load(
                        &script.file,
                        1,
                        1,
                        format!("!{name} is also claimed by {other}"),
                    ));
                }
            }
        }
    }
    errors.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
    errors
}

/// The `.rhai` commands under `dir` (names and aliases → file), as `twitch-bot commands
/// import` checks them without a running bot.
pub fn command_files(dir: &Path) -> HashMap<String, String> {
    let limits = Limits::default();
    let engine = engine::build(&limits);
    let mut state = LoadState::default();
    let _ = registry::apply_dir(&engine, &mut state, dir, limits.max_run_time);
    let reg = Registry::build(&state.scripts);
    reg.commands
        .into_iter()
        .map(|(name, s)| (name, s.file.clone()))
        .collect()
}

/// `Roles` of a chatter holding `names` (test and simulator helper).
pub fn roles_of(names: &[&str]) -> Roles {
    let mut r = Roles::empty();
    for n in names {
        r.insert(Roles::from_badge(n));
    }
    r
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<ScriptHost>();
    is::<Action>();
}
