//! Finding, compiling and validating script files: the folder gives the kind, the file name the
//! unit's name, and the top level (the `const` settings) is evaluated once here, never per run;
//! what the settings mean is `settings`' job.
//!
//! Owns [`Script`] and [`ScriptError`]; it never runs `fn run`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{AST, Engine, Position, Scope};
use serde::Serialize;

use super::engine::{RunGuard, Stop};
use super::settings::SettingsReader;
pub use super::settings::{
    ChannelPointsReward, CommandSettings, MAX_SETTING_SECS, NOT_REFUNDABLE, REFUNDED,
    ResponseSettings, RewardSettings, Settings, TimerSettings,
};

/// The event names `scripts/events/<name>.rhai` may use (see `ChannelEventKind::topic`; the
/// `obs_*` ones are `ObsEvent::topic` with `_` for `.`).
pub const EVENT_NAMES: [&str; 26] = [
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
    "moderator_add",
    "moderator_remove",
];

/// What a script is, from the folder it lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptKind {
    /// `scripts/commands/`: answers `!name`.
    Command,
    /// `scripts/timers/`: runs every `INTERVAL`.
    Timer,
    /// `scripts/responses/`: answers phrases in chat.
    Response,
    /// `scripts/rewards/`: runs on `!redeem` or a channel-point redemption.
    Reward,
    /// `scripts/events/`: runs on a channel, OBS or bot event.
    Event,
}

impl ScriptKind {
    /// Every kind, in the order the console lists them.
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
    /// The script's path as shown to people.
    pub file: String,
    /// 1-based line; 0 when unknown.
    pub line: usize,
    /// 1-based column; 0 when unknown.
    pub col: usize,
    /// What went wrong, in words.
    pub message: String,
    /// What kind of problem it is.
    #[serde(skip)]
    pub kind: ErrorKind,
}

impl ScriptError {
    /// A load problem at Rhai's `pos` in `file`.
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
/// A compiled, validated script, ready to run.
#[derive(Debug)]
pub struct Script {
    /// The unit's name: the file name without `.rhai`, lower case.
    pub name: String,
    /// Its kind, from its folder.
    pub kind: ScriptKind,
    /// Where the file is.
    pub path: PathBuf,
    /// The path as shown in errors.
    pub file: String,
    /// The compiled functions (the top level is not kept: it ran once at load).
    pub ast: AST,
    /// Its settings, read at load.
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
    /// The kind, from the folder.
    pub kind: ScriptKind,
    /// The file name without `.rhai`, lower case.
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

    /// The key the script is known by: `commands/ping`.
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
