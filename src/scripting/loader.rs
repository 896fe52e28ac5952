//! Finding, compiling and validating script files: the folder gives the kind, the file name the
//! unit's name, and the `const` settings are evaluated once here, never per run.
//!
//! Owns [`Script`], [`Settings`] and [`ScriptError`]; it never runs `fn run`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{AST, Dynamic, Engine, Position, Scope};
use serde::Serialize;

use crate::event::Permission;

use super::api::MAX_AMOUNT;
use super::engine::{RunGuard, Stop};

/// The longest `COOLDOWN`, `USER_COOLDOWN` or `INTERVAL`: 30 days.
pub const MAX_SETTING_SECS: u64 = 30 * 86_400;

/// The event names `scripts/events/<name>.rhai` may use (see `ChannelEventKind::topic`; the
/// `obs_*` ones are `ObsEvent::topic` with `_` for `.`).
pub const EVENT_NAMES: [&str; 24] = [
    "follow",
    "subscribe",
    "resub",
    "gift",
    "cheer",
    "raid",
    "redemption",
    "stream_online",
    "stream_offline",
    "channel_update",
    "first_message",
    "poll_begin",
    "poll_end",
    "prediction_begin",
    "prediction_end",
    "hype_train_begin",
    "hype_train_end",
    "raid_mode",
    "ad_break",
    "obs_scene_changed",
    "obs_stream_state",
    "obs_record_state",
    "obs_input",
    "clip_ready",
];

/// What a script is, from the folder it lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptKind {
    Command,
    Timer,
    Response,
    Reward,
    Event,
}

impl ScriptKind {
    pub const ALL: [ScriptKind; 5] = [
        ScriptKind::Command,
        ScriptKind::Timer,
        ScriptKind::Response,
        ScriptKind::Reward,
        ScriptKind::Event,
    ];

    /// The folder under `scripts/` holding this kind.
    pub fn folder(self) -> &'static str {
        match self {
            ScriptKind::Command => "commands",
            ScriptKind::Timer => "timers",
            ScriptKind::Response => "responses",
            ScriptKind::Reward => "rewards",
            ScriptKind::Event => "events",
        }
    }

    /// The kind whose folder is `name`.
    pub fn from_folder(name: &str) -> Option<ScriptKind> {
        ScriptKind::ALL.into_iter().find(|k| k.folder() == name)
    }
}

impl fmt::Display for ScriptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScriptKind::Command => "command",
            ScriptKind::Timer => "timer",
            ScriptKind::Response => "response",
            ScriptKind::Reward => "reward",
            ScriptKind::Event => "event",
        })
    }
}

/// What kind of problem a [`ScriptError`] is, for code that reacts to it (and tests); the message
/// is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The file does not load: syntax, settings, a missing `fn run`.
    #[default]
    Load,
    /// The run failed: a `throw`, a wrong call, a limit of the queued actions.
    Runtime,
    /// The run used up its wall-clock time.
    TimeLimit,
    /// The run used up its operations (an endless loop).
    Operations,
    /// The run nested function calls deeper than its call depth allows (endless recursion).
    CallDepth,
    /// The run built a string, array or map larger than its size limit allows.
    DataSize,
    /// The run defined more variables at once than its limit allows.
    Variables,
    /// The run waited on the network longer than its network time allows.
    NetworkTime,
    /// The run made more network calls than allowed.
    NetworkCalls,
    /// The script called a function scripts may not use (`sleep`).
    Forbidden,
    /// The bot itself failed (a panic) while running the script.
    Internal,
}

/// A problem in one script, located as `file:line:col` (1-based; 0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{file}:{line}:{col}: {message}")]
pub struct ScriptError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// What kind of problem it is.
    #[serde(skip)]
    pub kind: ErrorKind,
}

impl ScriptError {
    pub(crate) fn at(file: &str, pos: Position, message: impl Into<String>) -> ScriptError {
        ScriptError {
            file: file.to_owned(),
            line: pos.line().unwrap_or(0),
            col: pos.position().unwrap_or(0),
            message: message.into(),
            kind: ErrorKind::Load,
        }
    }

    /// A load problem at `line:col` of `file`.
    pub(crate) fn load(file: &str, line: usize, col: usize, message: impl Into<String>) -> Self {
        ScriptError {
            file: file.to_owned(),
            line,
            col,
            message: message.into(),
            kind: ErrorKind::Load,
        }
    }
}

/// Command settings.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct CommandSettings {
    pub aliases: Vec<String>,
    pub cooldown: u64,
    pub user_cooldown: u64,
    pub permission: Permission,
    pub cost: i64,
    pub description: String,
}

/// Timer settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimerSettings {
    pub interval: u64,
    pub min_chat_lines: u64,
    pub live_only: bool,
}

/// Response settings: the phrases the core matches for this script.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ResponseSettings {
    pub exact: Vec<String>,
    pub contains: Vec<String>,
    pub regex: Vec<String>,
    pub cooldown: u64,
}

/// Reward settings.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RewardSettings {
    pub cost: i64,
    pub cooldown: u64,
    pub user_cooldown: u64,
    pub permission: Permission,
    pub channel_points_title: Option<String>,
    pub description: String,
    /// The channel-point reward the bot creates and keeps up to date (`CHANNEL_POINTS_COST`
    /// and the other `CHANNEL_POINTS_*`); `None` for one made on Twitch.
    pub channel_points: Option<ChannelPointsReward>,
    /// In words, for the console: what a failed run does with the viewer's channel points.
    pub channel_points_refund: &'static str,
}

/// A channel-point reward as a reward script declares it. Twitch's limits: a title of 1–45
/// characters, a prompt of at most 200, a cost of at least 1, a cooldown of up to 7 days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ChannelPointsReward {
    pub title: String,
    pub cost: u64,
    pub prompt: String,
    pub input_required: bool,
    /// Seconds between two redemptions by anyone; 0: none.
    pub cooldown: u64,
}

/// The console's words for a reward the bot created: Twitch lets it give the points back.
pub const REFUNDED: &str =
    "created by the bot: a failed run gives the viewer their channel points back";
/// The console's words for a reward made on Twitch: only its creator may refund it.
pub const NOT_REFUNDABLE: &str = "made on Twitch, not by the bot: it cannot be refunded (Twitch lets only the app that created a reward refund it); declare CHANNEL_POINTS_COST to let the bot create it";

/// A script's settings, by kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Settings {
    Command(CommandSettings),
    Timer(TimerSettings),
    Response(ResponseSettings),
    Reward(RewardSettings),
    Event {},
}

/// A compiled, validated script, ready to run.
#[derive(Debug)]
pub struct Script {
    /// The unit's name: the file name without `.rhai`, lower case.
    pub name: String,
    pub kind: ScriptKind,
    pub path: PathBuf,
    /// The path as shown in errors.
    pub file: String,
    pub ast: AST,
    pub settings: Settings,
    /// Shared copy of the name for log tags and contexts (cloned per run).
    pub tag: Arc<str>,
    /// The top-level constants, visible inside `fn run` (see `engine::RunGuard`).
    pub constants: super::engine::Constants,
    /// Where `fn run` starts: the location of a failure Rhai cannot place (an empty `loop {}`).
    pub run_pos: Position,
}

impl Script {
    /// The key that identifies the unit across reloads: `commands/ping`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.kind.folder(), self.name)
    }
}

/// Where a script file sits, derived from its path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScriptId {
    pub kind: ScriptKind,
    pub name: String,
}

impl ScriptId {
    /// The kind and name of a `.rhai` file directly inside a kind folder; `None` for anything else.
    pub fn from_path(path: &Path) -> Option<ScriptId> {
        if path.extension()? != "rhai" {
            return None;
        }
        let name = path.file_stem()?.to_str()?;
        if name.is_empty() || name.starts_with('.') || name.contains(char::is_whitespace) {
            return None;
        }
        let kind = ScriptKind::from_folder(path.parent()?.file_name()?.to_str()?)?;
        Some(ScriptId {
            kind,
            name: name.to_lowercase(),
        })
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.kind.folder(), self.name)
    }
}

/// Every `.rhai` file under the kind folders of `dir`, sorted for a stable order.
pub fn discover(dir: &Path) -> Vec<(ScriptId, PathBuf)> {
    let mut out = Vec::new();
    for kind in ScriptKind::ALL {
        let Ok(entries) = std::fs::read_dir(dir.join(kind.folder())) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            if let Some(id) = ScriptId::from_path(&path) {
                out.push((id, path));
            }
        }
    }
    out.sort();
    out
}

/// Reads, compiles and validates one file.
///
/// # Errors
/// The first problem found, located in the file.
pub fn load_file(
    engine: &Engine,
    id: &ScriptId,
    path: &Path,
    max_run_time: std::time::Duration,
) -> Result<Script, ScriptError> {
    let file = path.display().to_string();
    let source = std::fs::read_to_string(path)
        .map_err(|e| ScriptError::load(&file, 0, 0, format!("cannot read the file: {e}")))?;
    load_source(engine, id, path, &source, max_run_time)
}

/// Compiles and validates `source` as the script `id` found at `path`.
///
/// # Errors
/// The first problem found, located in the file.
pub fn load_source(
    engine: &Engine,
    id: &ScriptId,
    path: &Path,
    source: &str,
    max_run_time: std::time::Duration,
) -> Result<Script, ScriptError> {
    let file = path.display().to_string();
    let mut first = engine
        .compile(source)
        .map_err(|e| ScriptError::at(&file, e.1, e.0.to_string()))?;
    first.set_source(id.key());

    let has_run = first
        .iter_functions()
        .any(|f| f.name == "run" && f.params.len() == 1);
    if !has_run {
        return Err(ScriptError::load(
            &file,
            1,
            1,
            "missing `fn run(ctx) { ... }`",
        ));
    }
    if id.kind == ScriptKind::Event && !EVENT_NAMES.contains(&id.name.as_str()) {
        return Err(ScriptError::load(
            &file,
            1,
            1,
            format!(
                "unknown event `{}`; event scripts are named after one of: {}",
                id.name,
                EVENT_NAMES.join(", ")
            ),
        ));
    }

    // The top level holds the settings: evaluate it once, under the same limits as a run.
    let tag: Arc<str> = Arc::from(id.key().as_str());
    let mut scope = Scope::new();
    {
        let _guard = RunGuard::enter(tag.clone(), max_run_time, None);
        engine
            .run_ast_with_scope(&mut scope, &first)
            .map_err(|e| runtime_error(&file, &e, Position::new(1, 1)))?;
    }
    let reader = SettingsReader {
        scope: &scope,
        file: &file,
        source,
    };
    let settings = reader.read(id.kind)?;
    let constants: super::engine::Constants = scope
        .iter()
        .filter(|(_, is_const, _)| *is_const)
        .map(|(name, _, value)| (name.to_owned(), value))
        .collect();
    // `run` is called with `eval_ast(false)`, so the top level never runs again. Rhai functions
    // cannot see top-level variables, so compile once more with the settings as constants in
    // scope: the optimiser folds them into the function bodies, and `fn run` can use them.
    let mut ast = engine
        .compile_with_scope(&scope, source)
        .map_err(|e| ScriptError::at(&file, e.1, e.0.to_string()))?
        .clone_functions_only();
    ast.set_source(id.key());
    Ok(Script {
        name: id.name.clone(),
        kind: id.kind,
        path: path.to_path_buf(),
        file,
        ast,
        settings,
        tag,
        constants,
        run_pos: find_pos(source, "fn run"),
    })
}

/// The 1-based position of the first `needle` in `source` (1:1 when absent).
fn find_pos(source: &str, needle: &str) -> Position {
    source
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)))
        .map_or(Position::new(1, 1), |(l, c)| {
            Position::new(
                l.min(u16::MAX as usize) as u16,
                c.min(u16::MAX as usize) as u16,
            )
        })
}

/// Locates a runtime error at its innermost position (inside the function that failed).
pub fn runtime_error(file: &str, err: &rhai::EvalAltResult, fallback: Position) -> ScriptError {
    let mut inner = err;
    let mut pos = err.position();
    while let rhai::EvalAltResult::ErrorInFunctionCall(_, _, e, _) = inner {
        inner = e;
        if !inner.position().is_none() {
            pos = inner.position();
        }
    }
    if pos.is_none() {
        pos = fallback;
    }
    let (kind, message) = match inner {
        rhai::EvalAltResult::ErrorTerminated(token, _) => match token
            .clone()
            .try_cast::<(Stop, Position)>()
            .map(|(stop, at)| {
                if !at.is_none() {
                    pos = at;
                }
                stop
            }) {
            Some(Stop::NetworkTime) => (
                ErrorKind::NetworkTime,
                "script stopped: it waited on the network longer than its network time \
                 (scripts.network_secs in configs/bot.yaml)"
                    .to_owned(),
            ),
            Some(Stop::NetworkCalls) => (
                ErrorKind::NetworkCalls,
                "script stopped: too many network calls in one run \
                 (scripts.network_calls in configs/bot.yaml)"
                    .to_owned(),
            ),
            Some(Stop::Forbidden(name)) => (
                ErrorKind::Forbidden,
                format!(
                    "script stopped: `{name}` is not available to scripts \
                     (it would hold up every other command); use a timer or the cache instead"
                ),
            ),
            Some(Stop::Time) | None => (
                ErrorKind::TimeLimit,
                "script stopped: it ran longer than the time limit".to_owned(),
            ),
        },
        rhai::EvalAltResult::ErrorTooManyOperations(..) => (
            ErrorKind::Operations,
            "script stopped: too many operations (an endless loop?)".to_owned(),
        ),
        other => {
            let kind = match other {
                rhai::EvalAltResult::ErrorStackOverflow(..) => ErrorKind::CallDepth,
                rhai::EvalAltResult::ErrorDataTooLarge(..) => ErrorKind::DataSize,
                rhai::EvalAltResult::ErrorTooManyVariables(..) => ErrorKind::Variables,
                _ => ErrorKind::Runtime,
            };
            let text = other.to_string();
            // Display appends " (line L, position C)"; the location goes in front instead.
            let text = match text.rfind(" (line ") {
                Some(i) if text.ends_with(')') => text[..i].to_owned(),
                _ => text,
            };
            (kind, text)
        }
    };
    ScriptError {
        kind,
        ..ScriptError::at(file, pos, message)
    }
}

struct SettingsReader<'a> {
    scope: &'a Scope<'a>,
    file: &'a str,
    source: &'a str,
}

impl SettingsReader<'_> {
    fn read(&self, kind: ScriptKind) -> Result<Settings, ScriptError> {
        Ok(match kind {
            ScriptKind::Command => Settings::Command(CommandSettings {
                aliases: self.strings("ALIASES")?,
                cooldown: self.secs("COOLDOWN")?,
                user_cooldown: self.secs("USER_COOLDOWN")?,
                permission: self.permission()?,
                cost: self.cost()?,
                description: self.string("DESCRIPTION")?.unwrap_or_default(),
            }),
            ScriptKind::Timer => {
                let interval = self.secs("INTERVAL")?;
                if interval == 0 {
                    return Err(self.error(
                        "INTERVAL",
                        "a timer needs `const INTERVAL = <seconds>;` (at least 1)",
                    ));
                }
                Settings::Timer(TimerSettings {
                    interval,
                    min_chat_lines: self.count("MIN_CHAT_LINES", u64::from(u32::MAX), "")?,
                    live_only: self.bool("LIVE_ONLY")?,
                })
            }
            ScriptKind::Response => {
                let s = ResponseSettings {
                    exact: self.strings("EXACT")?,
                    contains: self.strings("CONTAINS")?,
                    regex: self.strings("REGEX")?,
                    cooldown: self.secs("COOLDOWN")?,
                };
                if s.exact.is_empty() && s.contains.is_empty() && s.regex.is_empty() {
                    return Err(self.error(
                        "EXACT",
                        "a response needs at least one of EXACT, CONTAINS or REGEX",
                    ));
                }
                for re in &s.regex {
                    if let Err(e) = regex::Regex::new(re) {
                        return Err(self.error("REGEX", format!("REGEX: {e}")));
                    }
                }
                if s.exact
                    .iter()
                    .chain(&s.contains)
                    .any(|p| super::matcher::normalize_owned(p).is_empty())
                {
                    return Err(self.error("CONTAINS", "an empty phrase would match every message"));
                }
                Settings::Response(s)
            }
            ScriptKind::Reward => {
                let channel_points_title = self.string("CHANNEL_POINTS_TITLE")?;
                let channel_points = self.channel_points(channel_points_title.as_deref())?;
                let channel_points_refund = match (&channel_points_title, &channel_points) {
                    (None, _) => "",
                    (Some(_), Some(_)) => REFUNDED,
                    (Some(_), None) => NOT_REFUNDABLE,
                };
                Settings::Reward(RewardSettings {
                    cost: self.cost()?,
                    cooldown: self.secs("COOLDOWN")?,
                    user_cooldown: self.secs("USER_COOLDOWN")?,
                    permission: self.permission()?,
                    channel_points_title,
                    description: self.string("DESCRIPTION")?.unwrap_or_default(),
                    channel_points,
                    channel_points_refund,
                })
            }
            ScriptKind::Event => Settings::Event {},
        })
    }

    /// The reward the bot creates, when `CHANNEL_POINTS_COST` says so (with Twitch's limits).
    fn channel_points(
        &self,
        title: Option<&str>,
    ) -> Result<Option<ChannelPointsReward>, ScriptError> {
        const MORE: [&str; 3] = [
            "CHANNEL_POINTS_PROMPT",
            "CHANNEL_POINTS_INPUT",
            "CHANNEL_POINTS_COOLDOWN",
        ];
        if self.value("CHANNEL_POINTS_COST").is_none() {
            if let Some(name) = MORE.iter().find(|n| self.value(n).is_some()) {
                return Err(self.error(name, format!("{name} needs CHANNEL_POINTS_COST: the bot creates the reward only when it knows its cost")));
            }
            return Ok(None);
        }
        let Some(title) = title else {
            return Err(self.error(
                "CHANNEL_POINTS_COST",
                "CHANNEL_POINTS_COST needs CHANNEL_POINTS_TITLE, the reward's title on Twitch",
            ));
        };
        let n = title.trim().chars().count();
        if !(1..=45).contains(&n) {
            return Err(self.error(
                "CHANNEL_POINTS_TITLE",
                format!("a channel-point reward's title must be 1 to 45 characters, not {n}"),
            ));
        }
        let cost = self.count("CHANNEL_POINTS_COST", u64::from(u32::MAX), " points")?;
        if cost == 0 {
            return Err(self.error(
                "CHANNEL_POINTS_COST",
                "CHANNEL_POINTS_COST must be at least 1",
            ));
        }
        let prompt = self.string("CHANNEL_POINTS_PROMPT")?.unwrap_or_default();
        if prompt.chars().count() > 200 {
            return Err(self.error(
                "CHANNEL_POINTS_PROMPT",
                "CHANNEL_POINTS_PROMPT may be at most 200 characters",
            ));
        }
        Ok(Some(ChannelPointsReward {
            title: title.trim().to_owned(),
            cost,
            prompt,
            input_required: self.bool("CHANNEL_POINTS_INPUT")?,
            cooldown: self.count("CHANNEL_POINTS_COOLDOWN", 604_800, " seconds (7 days)")?,
        }))
    }

    fn error(&self, name: &str, message: impl Into<String>) -> ScriptError {
        let needle = format!("const {name}");
        let (line, col) = self
            .source
            .lines()
            .enumerate()
            .find_map(|(i, l)| l.find(&needle).map(|c| (i + 1, c + 1)))
            .unwrap_or((1, 1));
        ScriptError::load(self.file, line, col, message)
    }

    fn value(&self, name: &str) -> Option<Dynamic> {
        self.scope.get_value::<Dynamic>(name)
    }

    /// A whole number from 0 to `max`.
    fn count(&self, name: &str, max: u64, unit: &str) -> Result<u64, ScriptError> {
        let Some(v) = self.value(name) else {
            return Ok(0);
        };
        match v.as_int().ok().and_then(|n| u64::try_from(n).ok()) {
            Some(n) if n <= max => Ok(n),
            _ => Err(self.error(
                name,
                format!("{name} must be a whole number from 0 to {max}{unit}, not {v}"),
            )),
        }
    }

    /// Seconds, at most [`MAX_SETTING_SECS`].
    fn secs(&self, name: &str) -> Result<u64, ScriptError> {
        self.count(name, MAX_SETTING_SECS, " seconds (30 days)")
    }

    fn cost(&self) -> Result<i64, ScriptError> {
        self.count("COST", MAX_AMOUNT as u64, "")
            .map(|n| i64::try_from(n).unwrap_or(MAX_AMOUNT))
    }

    fn bool(&self, name: &str) -> Result<bool, ScriptError> {
        match self.value(name) {
            None => Ok(false),
            Some(v) => v
                .as_bool()
                .map_err(|_| self.error(name, format!("{name} must be true or false, not {v}"))),
        }
    }

    fn string(&self, name: &str) -> Result<Option<String>, ScriptError> {
        match self.value(name) {
            None => Ok(None),
            Some(v) if v.is_string() => Ok(Some(v.to_string())),
            Some(v) => Err(self.error(name, format!("{name} must be a string, not {v}"))),
        }
    }

    /// A string or an array of strings.
    fn strings(&self, name: &str) -> Result<Vec<String>, ScriptError> {
        let Some(v) = self.value(name) else {
            return Ok(Vec::new());
        };
        if v.is_string() {
            return Ok(vec![v.to_string()]);
        }
        let bad = || {
            self.error(
                name,
                format!("{name} must be a string or an array of strings"),
            )
        };
        let arr = v.into_array().map_err(|_| bad())?;
        arr.into_iter()
            .map(|item| {
                if item.is_string() {
                    Ok(item.to_string())
                } else {
                    Err(bad())
                }
            })
            .collect()
    }

    fn permission(&self) -> Result<Permission, ScriptError> {
        match self.string("PERMISSION")? {
            None => Ok(Permission::Everyone),
            Some(s) => Permission::parse(&s).ok_or_else(|| {
                self.error(
                    "PERMISSION",
                    format!("PERMISSION `{s}` is not one of everyone, regular, subscriber, vip, moderator, broadcaster"),
                )
            }),
        }
    }
}
