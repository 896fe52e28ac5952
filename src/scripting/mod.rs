//! The Rhai script host: commands, timers, responses, rewards and event reactions, each one
//! `.rhai` file under `scripts/<kind>/`, sandboxed, run off the async runtime and reloaded live.
//!
//! The dispatcher calls [`ScriptHost::handle_chat`], [`ScriptHost::handle_channel_event`] and
//! [`ScriptHost::handle_timer`]; they match and check in the caller (cheap, never blocking) and
//! queue the run for the script threads, whose [`Action`]s go to the [`ActionSink`] given at
//! start. Points, stores, the cache and the Twitch API come in through [`Services`].
//!
//! This module owns `src/scripting/` only: it knows nothing of sockets or storage engines.

pub mod api;
pub mod broadcaster;
mod checks;
pub mod engine;
pub mod files;
pub mod loader;
pub mod matcher;
mod registry;
mod runner;
pub mod stores;
mod timers;
mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use compact_str::CompactString;
use rhai::Engine;

use crate::action::Action;
use crate::config::bot::BotConfig;
use crate::event::{
    ChannelEvent, ChannelEventKind, ChatMessage, Chatter, ObsEvent, Permission, Roles,
};

pub use api::{Ctx, CtxData, Services, UserData};
pub use engine::Limits;
pub use loader::{ErrorKind, ScriptError, ScriptKind, Settings};
pub use registry::{ReloadReport, ScriptInfo};
pub use runner::{ActionSink, FnSink};

use registry::{FileChange, LoadState, Registry};
use runner::{Charge, Job, Queue, RunJob};

/// How the host is set up.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub scripts_dir: PathBuf,
    /// The channel timers and event reactions speak in (login, no `#`).
    pub channel: CompactString,
    /// `chat.command_prefix`.
    pub command_prefix: String,
    /// `chat.reply_on_cooldown`: answer refusals (cooldown, not enough points) instead of
    /// staying silent.
    pub reply_on_cooldown: bool,
    pub limits: Limits,
    /// Runs waiting for a script thread before new ones are dropped.
    pub queue_capacity: usize,
    /// Script threads (`scripts.workers`). Runs of one script never overlap and keep their
    /// order; more threads keep one slow script from delaying the others. While runs wait on the
    /// network, up to this many extra threads are lent to the scripts queued behind them.
    pub workers: usize,
}

impl HostConfig {
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
    Permission { needed: Permission },
    /// A cooldown is running; seconds left.
    Cooldown { remaining_secs: u64 },
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
    Refused(Arc<str>, Refusal),
    /// The queue was full; the run was dropped (and logged).
    Dropped(Arc<str>),
    /// A built-in command (`!reload`, `!redeem` without a name) was handled.
    Builtin,
}

/// State shared by the host, its script threads, the timer task and the watcher.
pub(crate) struct Shared {
    config: HostConfig,
    engine: Engine,
    services: Arc<Services>,
    sink: Arc<dyn ActionSink>,
    registry: RwLock<Arc<Registry>>,
    state: Mutex<LoadState>,
    run_errors: Mutex<HashMap<String, ScriptError>>,
    cooldowns: checks::Cooldowns,
    chat_lines: AtomicU64,
    live: AtomicBool,
    reloads: AtomicU64,
    /// Single files loaded (or refused) by the file watcher or a console save.
    file_reloads: AtomicU64,
    last_reload: Mutex<Option<SystemTime>>,
    timers: Mutex<HashMap<String, timers::TimerState>>,
}

impl Shared {
    fn registry(&self) -> Arc<Registry> {
        self.registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn publish(&self, state: &LoadState) {
        let reg = Arc::new(Registry::build(&state.scripts));
        *self.registry.write().unwrap_or_else(|p| p.into_inner()) = reg;
    }

    /// Reloads every file; counts as a "reload all" when `counted`.
    fn reload_dir(&self, counted: bool) -> ReloadReport {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (errors, removed) = registry::apply_dir(
            &self.engine,
            &mut state,
            &self.config.scripts_dir,
            self.config.limits.max_run_time,
        );
        self.publish(&state);
        for e in &errors {
            tracing::warn!("script not loaded: {e}");
        }
        let at = SystemTime::now();
        let reload_count = if counted {
            *self.last_reload.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
            self.reloads.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.reloads.load(Ordering::Relaxed)
        };
        ReloadReport {
            loaded: state.scripts.len(),
            failed: errors.len(),
            removed,
            errors,
            reload_count,
            at,
        }
    }

    fn reload_all(&self) -> ReloadReport {
        let report = self.reload_dir(true);
        tracing::info!(
            "scripts reloaded: {} live, {} failed, {} removed",
            report.loaded,
            report.failed,
            report.removed
        );
        report
    }

    /// Reloads the files that changed (file watcher). A file whose content is already in effect
    /// (the console saved and loaded it) is skipped: one save, one reload, one log line.
    fn reload_paths(&self, paths: &[PathBuf]) -> Vec<FileChange> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let changes: Vec<FileChange> = paths
            .iter()
            .map(|p| {
                if registry::unchanged(&state, p) {
                    tracing::debug!("script unchanged, not reloaded: {}", p.display());
                    return FileChange::Ignored;
                }
                let change = registry::apply_path(
                    &self.engine,
                    &mut state,
                    p,
                    self.config.limits.max_run_time,
                );
                if matches!(change, FileChange::Loaded | FileChange::Failed(_)) {
                    self.file_reloads.fetch_add(1, Ordering::Relaxed);
                }
                match &change {
                    FileChange::Loaded => tracing::info!("script loaded: {}", p.display()),
                    FileChange::Removed => tracing::info!("script removed: {}", p.display()),
                    FileChange::Failed(e) => {
                        tracing::warn!("script not reloaded (the old version keeps running): {e}");
                    }
                    FileChange::Ignored => {}
                }
                change
            })
            .collect();
        if changes.iter().any(|c| *c != FileChange::Ignored) {
            self.publish(&state);
        }
        changes
    }

    fn record_run_error(&self, script: &loader::Script, err: ScriptError) {
        let mut errs = self.run_errors.lock().unwrap_or_else(|p| p.into_inner());
        errs.insert(script.key(), err);
    }

    fn clear_run_error(&self, script: &loader::Script) {
        let mut errs = self.run_errors.lock().unwrap_or_else(|p| p.into_inner());
        if !errs.is_empty() {
            errs.remove(&script.key());
        }
    }
}

/// The script host; share it through an `Arc`.
pub struct ScriptHost {
    shared: Arc<Shared>,
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
        let (capacity, workers) = (config.queue_capacity, config.workers);
        let shared = Arc::new(Shared {
            config,
            engine,
            services: Arc::new(services),
            sink,
            registry: RwLock::new(Arc::new(Registry::default())),
            state: Mutex::new(LoadState::default()),
            run_errors: Mutex::new(HashMap::new()),
            cooldowns: checks::Cooldowns::default(),
            chat_lines: AtomicU64::new(0),
            live: AtomicBool::new(false),
            reloads: AtomicU64::new(0),
            file_reloads: AtomicU64::new(0),
            last_reload: Mutex::new(None),
            timers: Mutex::new(HashMap::new()),
        });
        let report = shared.reload_dir(false);
        tracing::info!(
            "scripts loaded from {}: {} live, {} failed",
            shared.config.scripts_dir.display(),
            report.loaded,
            report.failed
        );
        // The threads end when the queue (held by the host) is dropped.
        let queue = runner::start(shared.clone(), capacity, workers);
        let host = Arc::new(ScriptHost {
            shared,
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
        let guard = watch::start(self.shared.clone())?;
        *self.watcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(guard);
        Ok(())
    }

    /// Reloads every script ("Reload scripts" in the console, `!reload` in chat).
    pub fn reload_all(&self) -> ReloadReport {
        self.shared.reload_all()
    }

    /// How many times [`ScriptHost::reload_all`] ran, and when it last did.
    pub fn reload_stats(&self) -> (u64, Option<SystemTime>) {
        (
            self.shared.reloads.load(Ordering::Relaxed),
            *self
                .shared
                .last_reload
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }

    /// Whether the stream is live (timers with `LIVE_ONLY` wait for it).
    pub fn set_live(&self, live: bool) {
        self.shared.live.store(live, Ordering::Relaxed);
    }

    /// Compiles and validates every script under `dir` without running any `fn run`.
    pub fn check(dir: &Path) -> Vec<ScriptError> {
        check_dir(dir)
    }

    /// Every script with its kind, settings and newest error, for the console.
    pub fn scripts(&self) -> Vec<ScriptInfo> {
        let state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        let run_errors = self
            .shared
            .run_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut keys: Vec<&String> = state
            .scripts
            .keys()
            .chain(state.compile_errors.keys())
            .collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .map(|key| {
                let script = state.scripts.get(key);
                let compile = state.compile_errors.get(key);
                let (kind, name) = key.split_once('/').unwrap_or(("", key));
                ScriptInfo {
                    name: name.to_owned(),
                    kind: ScriptKind::from_folder(kind).unwrap_or(ScriptKind::Command),
                    file: script.map_or_else(
                        || compile.map(|e| e.file.clone()).unwrap_or_default(),
                        |s| s.file.clone(),
                    ),
                    loaded: script.is_some(),
                    settings: script.map(|s| s.settings.clone()),
                    last_error: compile.or_else(|| run_errors.get(key)).cloned(),
                }
            })
            .collect()
    }

    /// The file of the `.rhai` command answering `!name` (by name or alias), if any.
    pub fn command_file(&self, name: &str) -> Option<String> {
        let name = name.trim_start_matches('!').to_lowercase();
        if registry::BUILTIN_COMMANDS.contains(&name.as_str()) {
            return Some("the script host (built in)".into());
        }
        self.shared
            .registry()
            .commands
            .get(&name)
            .map(|s| s.file.clone())
    }

    /// A chat message: a command, `!redeem`, `!reload`, or a response phrase.
    pub fn handle_chat(&self, msg: &ChatMessage) -> Outcome {
        if msg.is_from_other_channel() {
            return Outcome::Ignored;
        }
        self.shared.chat_lines.fetch_add(1, Ordering::Relaxed);
        let reg = self.shared.registry();
        let prefix = self.shared.config.command_prefix.as_str();
        let text = msg.text.trim();
        if let Some(rest) = text.strip_prefix(prefix).filter(|_| !prefix.is_empty()) {
            let (word, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            if !word.is_empty() {
                let mut name = CompactString::from(word);
                name.make_ascii_lowercase();
                match name.as_str() {
                    "reload" => return self.builtin_reload(msg),
                    "redeem" => return self.redeem(&reg, msg, tail),
                    _ => {}
                }
                if let Some(script) = reg.commands.get(name.as_str()) {
                    return self.command(script, msg, word, tail);
                }
            }
        }
        if reg.matcher.is_empty() {
            return Outcome::Ignored;
        }
        let Some(hit) = reg.matcher.find(&msg.text) else {
            return Outcome::Ignored;
        };
        let Some(script) = reg.responses.get(hit.script) else {
            return Outcome::Ignored;
        };
        let cooldown = match &script.settings {
            Settings::Response(r) => r.cooldown,
            _ => 0,
        };
        let key = script.tag.clone();
        let reservation = match self.shared.cooldowns.try_use(&key, cooldown, 0, "") {
            Ok(r) => r,
            Err(left) => {
                tracing::debug!(script = %key, "response on cooldown ({left} s left)");
                return Outcome::Refused(
                    key,
                    Refusal::Cooldown {
                        remaining_secs: left,
                    },
                );
            }
        };
        let mut data = chat_data(script, msg, "", text);
        data.args = text.split_whitespace().map(str::to_owned).collect();
        data.matched = hit.matched;
        data.captures = hit.captures;
        self.enqueue(script.clone(), data, None, reservation)
    }

    /// A channel event: `scripts/events/<topic>.rhai`, and for a channel-point redemption the
    /// reward whose `CHANNEL_POINTS_TITLE` matches. Returns the runs queued.
    pub fn handle_channel_event(&self, ev: &ChannelEvent) -> Vec<Outcome> {
        let reg = self.shared.registry();
        let mut out = Vec::new();
        let event_json = serde_json::to_value(&ev.kind).ok();
        let base = CtxData {
            channel: self.shared.config.channel.clone(),
            user: ev.user.as_ref().map(user_data),
            event: event_json,
            ..CtxData::default()
        };
        if let ChannelEventKind::Redemption {
            reward_title,
            user_input,
            ..
        } = &ev.kind
            && let Some(script) = reg.reward_titles.get(&reward_title.trim().to_lowercase())
        {
            let data = CtxData {
                script: script.tag.clone(),
                message: user_input.clone(),
                command: script.name.clone(),
                args: user_input.split_whitespace().map(str::to_owned).collect(),
                ..base.clone()
            };
            out.push(self.enqueue(script.clone(), data, None, None));
        }
        if let Some(script) = reg.events.get(ev.kind.topic()) {
            let message = match &ev.kind {
                ChannelEventKind::Resub { message, .. }
                | ChannelEventKind::Cheer { message, .. } => message.clone(),
                ChannelEventKind::FirstMessage { text } => text.clone(),
                ChannelEventKind::Redemption { user_input, .. } => user_input.clone(),
                _ => String::new(),
            };
            let data = CtxData {
                script: script.tag.clone(),
                command: script.name.clone(),
                args: message.split_whitespace().map(str::to_owned).collect(),
                message,
                ..base
            };
            out.push(self.enqueue(script.clone(), data, None, None));
        }
        out
    }

    /// An OBS event: `scripts/events/obs_<kind>.rhai` (`obs_scene_changed`, ...), with the
    /// event's fields in `ctx.event`.
    pub fn handle_obs_event(&self, ev: &ObsEvent) -> Outcome {
        let reg = self.shared.registry();
        let name = ev.topic().replace('.', "_");
        let Some(script) = reg.events.get(name.as_str()) else {
            return Outcome::Ignored;
        };
        let data = CtxData {
            script: script.tag.clone(),
            channel: self.shared.config.channel.clone(),
            command: script.name.clone(),
            event: serde_json::to_value(ev).ok(),
            ..CtxData::default()
        };
        self.enqueue(script.clone(), data, None, None)
    }

    /// Raid mode began or ended: `scripts/events/raid_mode.rhai`, with `ctx.event` holding
    /// `state` (`begin` or `end`), `accounts` and, at the end, `reason` and `secs`.
    pub fn handle_raid_mode(&self, event: serde_json::Value) -> Outcome {
        let reg = self.shared.registry();
        let Some(script) = reg.events.get("raid_mode") else {
            return Outcome::Ignored;
        };
        let data = CtxData {
            script: script.tag.clone(),
            channel: self.shared.config.channel.clone(),
            command: script.name.clone(),
            event: Some(event),
            ..CtxData::default()
        };
        self.enqueue(script.clone(), data, None, None)
    }

    /// A clip a script started is made (`state` `ready`, with its `url`) or failed (`state`
    /// `failed`, with a `reason`): `scripts/events/clip_ready.rhai`, the clip in `ctx.event`.
    pub fn handle_clip_ready(&self, event: serde_json::Value) -> Outcome {
        let reg = self.shared.registry();
        let Some(script) = reg.events.get("clip_ready") else {
            return Outcome::Ignored;
        };
        let data = CtxData {
            script: script.tag.clone(),
            channel: self.shared.config.channel.clone(),
            command: script.name.clone(),
            event: Some(event),
            ..CtxData::default()
        };
        self.enqueue(script.clone(), data, None, None)
    }

    /// The channel-point rewards reward scripts declare (`CHANNEL_POINTS_COST`), for the bot
    /// to create and keep up to date on Twitch.
    pub fn declared_rewards(&self) -> Vec<loader::ChannelPointsReward> {
        let reg = self.shared.registry();
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

    /// Runs the timer `name` now (the timer task calls this when it is due).
    pub fn handle_timer(&self, name: &str) -> Outcome {
        let reg = self.shared.registry();
        let Some(script) = reg.timers.iter().find(|s| s.name == name) else {
            return Outcome::Ignored;
        };
        let data = CtxData {
            script: script.tag.clone(),
            channel: self.shared.config.channel.clone(),
            command: script.name.clone(),
            ..CtxData::default()
        };
        self.enqueue(script.clone(), data, None, None)
    }

    fn command(
        &self,
        script: &Arc<loader::Script>,
        msg: &ChatMessage,
        word: &str,
        tail: &str,
    ) -> Outcome {
        let Settings::Command(c) = &script.settings else {
            return Outcome::Ignored;
        };
        let data = chat_data(script, msg, word, tail);
        self.checked(
            script,
            msg,
            data,
            c.permission,
            c.cooldown,
            c.user_cooldown,
            c.cost,
        )
    }

    /// Permission, then the channel cooldown, then the viewer's; cost is charged by the script
    /// thread just before the run.
    #[allow(clippy::too_many_arguments)]
    fn checked(
        &self,
        script: &Arc<loader::Script>,
        msg: &ChatMessage,
        data: CtxData,
        permission: Permission,
        cooldown: u64,
        user_cooldown: u64,
        cost: i64,
    ) -> Outcome {
        let key = script.tag.clone();
        if msg.sender.roles.level() < permission {
            tracing::info!(script = %key, user = %msg.sender.login, "refused: needs {permission:?}");
            return Outcome::Refused(key, Refusal::Permission { needed: permission });
        }
        let reservation = match self.shared.cooldowns.try_use(
            &key,
            cooldown,
            user_cooldown,
            &msg.sender.id,
        ) {
            Ok(r) => r,
            Err(left) => {
                tracing::info!(script = %key, user = %msg.sender.login, "refused: cooldown, {left} s left");
                if self.shared.config.reply_on_cooldown {
                    let text = format!(
                        "@{}, {}{} is on cooldown ({left} s left).",
                        msg.sender.display_name, self.shared.config.command_prefix, data.command
                    );
                    self.queue.offer(
                        Job::Send(key.clone(), vec![runner::reply_action(&data, text)]),
                        "a cooldown answer",
                    );
                }
                return Outcome::Refused(
                    key,
                    Refusal::Cooldown {
                        remaining_secs: left,
                    },
                );
            }
        };
        let charge = (cost > 0).then(|| Charge {
            user: user_data(&msg.sender).to_ref(),
            amount: cost,
        });
        self.enqueue(script.clone(), data, charge, reservation)
    }

    fn redeem(&self, reg: &Registry, msg: &ChatMessage, tail: &str) -> Outcome {
        let (name, input) = tail
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((tail.trim(), ""));
        let name = name.to_lowercase();
        let redeemable = |s: &loader::Script| match &s.settings {
            Settings::Reward(r) => r.cost > 0 || r.channel_points_title.is_none(),
            _ => false,
        };
        if name.is_empty() {
            let mut list: Vec<String> = reg
                .rewards
                .values()
                .filter(|s| redeemable(s))
                .map(|s| match &s.settings {
                    Settings::Reward(r) => format!("{} ({})", s.name, r.cost),
                    _ => s.name.clone(),
                })
                .collect();
            list.sort();
            let text = if list.is_empty() {
                "There are no rewards yet.".to_owned()
            } else {
                format!("Rewards: {}", list.join(", "))
            };
            let data = chat_data(&dummy_tag(), msg, "redeem", "");
            self.queue.offer(
                Job::Send(
                    Arc::from("builtin/redeem"),
                    vec![runner::reply_action(&data, text)],
                ),
                "the reward list",
            );
            return Outcome::Builtin;
        }
        let Some(script) = reg.rewards.get(&name).filter(|s| redeemable(s)) else {
            tracing::info!(user = %msg.sender.login, "!redeem: no reward named `{name}`");
            return Outcome::Refused(Arc::from(format!("rewards/{name}")), Refusal::UnknownReward);
        };
        let Settings::Reward(r) = &script.settings else {
            return Outcome::Ignored;
        };
        let data = chat_data(script, msg, &script.name, input);
        self.checked(
            script,
            msg,
            data,
            r.permission,
            r.cooldown,
            r.user_cooldown,
            r.cost,
        )
    }

    fn builtin_reload(&self, msg: &ChatMessage) -> Outcome {
        if msg.sender.roles.level() < Permission::Broadcaster {
            tracing::info!(user = %msg.sender.login, "refused: !reload is for the broadcaster");
            return Outcome::Refused(
                "reload".into(),
                Refusal::Permission {
                    needed: Permission::Broadcaster,
                },
            );
        }
        let job = Job::Reload {
            channel: msg.channel.clone(),
            reply_to: msg.id.clone(),
        };
        if self.queue.offer(job, "!reload") {
            Outcome::Builtin
        } else {
            Outcome::Dropped("reload".into())
        }
    }

    fn enqueue(
        &self,
        script: Arc<loader::Script>,
        data: CtxData,
        charge: Option<Charge>,
        reservation: Option<checks::Reservation>,
    ) -> Outcome {
        let key = script.tag.clone();
        let job = Job::Run(Box::new(RunJob {
            script,
            data,
            charge,
            reservation,
        }));
        if self.queue.offer(job, &key) {
            Outcome::Queued(key)
        } else {
            Outcome::Dropped(key)
        }
    }
}

fn dummy_tag() -> Arc<loader::Script> {
    // `chat_data` needs a script only for its tag; the reward list is no script's run.
    Arc::new(loader::Script {
        name: "redeem".into(),
        kind: ScriptKind::Reward,
        path: PathBuf::new(),
        file: String::new(),
        ast: rhai::AST::empty(),
        settings: Settings::Event {},
        tag: Arc::from("builtin/redeem"),
        constants: Arc::from(Vec::new()),
        run_pos: rhai::Position::NONE,
    })
}

fn user_data(c: &Chatter) -> UserData {
    UserData {
        id: c.id.clone(),
        login: c.login.clone(),
        name: if c.display_name.is_empty() {
            c.login.clone()
        } else {
            c.display_name.clone()
        },
        roles: c.roles,
    }
}

fn chat_data(script: &loader::Script, msg: &ChatMessage, command: &str, args: &str) -> CtxData {
    CtxData {
        script: script.tag.clone(),
        channel: msg.channel.clone(),
        message_id: Some(msg.id.clone()),
        message: msg.text.clone(),
        command: command.to_lowercase(),
        args: args.split_whitespace().map(str::to_owned).collect(),
        user: Some(user_data(&msg.sender)),
        event: None,
        matched: String::new(),
        captures: Vec::new(),
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
