//! The loaded scripts and the indexes built from them (command names and aliases, reward names
//! and titles, event topics, timers, the response matcher). Reloading replaces one file or all
//! of them; a file that does not compile keeps its old version and records the error.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use rhai::Engine;
use serde::Serialize;

use super::loader::{self, Script, ScriptError, ScriptId, ScriptKind, Settings};
use super::matcher::{ResponseMatcher, Triggers};

/// Command names the host answers itself; a script by that name is shadowed.
pub const BUILTIN_COMMANDS: [&str; 2] = ["reload", "redeem"];

/// The indexes one message is matched against; replaced whole on every change.
#[derive(Default)]
pub struct Registry {
    /// Commands by name and alias (lower case, no prefix).
    pub commands: HashMap<String, Arc<Script>>,
    /// Every timer.
    pub timers: Vec<Arc<Script>>,
    /// Every response, in the order `matcher` indexes them.
    pub responses: Vec<Arc<Script>>,
    /// The responses' phrases, matched in one pass.
    pub matcher: ResponseMatcher,
    /// Rewards by name (for `!redeem`).
    pub rewards: HashMap<String, Arc<Script>>,
    /// Rewards by their channel-point title, lower case.
    pub reward_titles: HashMap<String, Arc<Script>>,
    /// Event scripts by event name.
    pub events: HashMap<String, Arc<Script>>,
}

impl Registry {
    /// The indexes for `scripts` (by key).
    pub fn build(scripts: &BTreeMap<String, Arc<Script>>) -> Registry {
        let mut reg = Registry::default();
        for script in scripts.values() {
            match &script.settings {
                Settings::Command(c) => {
                    let names = std::iter::once(&script.name).chain(&c.aliases);
                    for name in names {
                        let name = name.trim().trim_start_matches('!').to_lowercase();
                        if BUILTIN_COMMANDS.contains(&name.as_str()) {
                            tracing::warn!(file = %script.file, "!{name} is built in; this script's `{name}` is ignored");
                            continue;
                        }
                        if let Some(other) = reg.commands.get(&name) {
                            tracing::warn!(file = %script.file, "!{name} is already taken by {}", other.file);
                            continue;
                        }
                        reg.commands.insert(name, script.clone());
                    }
                }
                Settings::Timer(_) => reg.timers.push(script.clone()),
                Settings::Response(_) => reg.responses.push(script.clone()),
                Settings::Reward(r) => {
                    reg.rewards.insert(script.name.clone(), script.clone());
                    if let Some(title) = &r.channel_points_title {
                        reg.reward_titles
                            .insert(title.trim().to_lowercase(), script.clone());
                    }
                }
                Settings::Event {} => {
                    reg.events.insert(script.name.clone(), script.clone());
                }
            }
        }
        let triggers = reg
            .responses
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match &s.settings {
                Settings::Response(r) => Some((
                    i,
                    Triggers {
                        exact: &r.exact,
                        contains: &r.contains,
                        regex: &r.regex,
                    },
                )),
                _ => None,
            });
        reg.matcher = match ResponseMatcher::build(triggers) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!("responses are off until this is fixed: {e}");
                ResponseMatcher::default()
            }
        };
        reg
    }
}

/// What is loaded, and what failed to load, by script key (`commands/ping`).
#[derive(Default)]
pub struct LoadState {
    /// The live version of each script.
    pub scripts: BTreeMap<String, Arc<Script>>,
    /// Why the current file of a script does not load (its old version may still be live).
    pub compile_errors: BTreeMap<String, ScriptError>,
    /// The hash of the source last applied for each key (loaded or failed), so a file event
    /// for a file already in effect (a console save, a touch) reloads nothing.
    pub applied: BTreeMap<String, u64>,
}

/// A hash of a script's bytes, to tell whether a file changed since it was applied.
pub fn source_hash(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    // DefaultHasher::new() uses fixed keys: the same bytes hash the same within a run.
    let mut h = std::hash::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// Whether `path` holds exactly the source last applied for its script: a console save already
/// loaded it, or an editor rewrote it unchanged.
pub fn unchanged(state: &LoadState, path: &Path) -> bool {
    let Some(id) = ScriptId::from_path(path) else {
        return false;
    };
    let Some(&applied) = state.applied.get(&id.key()) else {
        return false;
    };
    path.is_file() && std::fs::read(path).is_ok_and(|bytes| source_hash(&bytes) == applied)
}

/// The outcome of a reload, for logs, `!reload` and the console.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    /// Scripts live after the reload.
    pub loaded: usize,
    /// Files that failed to compile or validate (their old version, if any, still runs).
    pub failed: usize,
    /// Scripts unregistered because their file is gone.
    pub removed: usize,
    /// Every load problem, located.
    pub errors: Vec<ScriptError>,
    /// How many times "reload all" ran since start (the file watcher does not count).
    pub reload_count: u64,
    /// When it ran.
    pub at: SystemTime,
}

/// One script, for the console.
#[derive(Debug, Clone, Serialize)]
pub struct ScriptInfo {
    /// The unit's name (file name without `.rhai`).
    pub name: String,
    /// Its kind, from its folder.
    pub kind: ScriptKind,
    /// Its path as shown to people.
    pub file: String,
    /// Whether a version of it is live (false when it never compiled).
    pub loaded: bool,
    /// The live version's settings.
    pub settings: Option<Settings>,
    /// The newest problem: the compile error of the current file, or the last run's failure.
    pub last_error: Option<ScriptError>,
}

/// What a reload of one path did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    Loaded,
    Removed,
    /// The file did not compile; the old version (if any) keeps running.
    Failed(ScriptError),
    /// Not a script path.
    Ignored,
}

/// Loads or unloads `path` into `state`.
pub fn apply_path(
    engine: &Engine,
    state: &mut LoadState,
    path: &Path,
    max_run_time: std::time::Duration,
) -> FileChange {
    let Some(id) = ScriptId::from_path(path) else {
        return FileChange::Ignored;
    };
    let key = id.key();
    if !path.is_file() {
        state.compile_errors.remove(&key);
        state.applied.remove(&key);
        return match state.scripts.remove(&key) {
            Some(_) => FileChange::Removed,
            None => FileChange::Ignored,
        };
    }
    let loaded = match std::fs::read_to_string(path) {
        Ok(source) => {
            state
                .applied
                .insert(key.clone(), source_hash(source.as_bytes()));
            loader::load_source(engine, &id, path, &source, max_run_time)
        }
        Err(e) => {
            state.applied.remove(&key);
            Err(ScriptError::load(
                &path.display().to_string(),
                0,
                0,
                format!("cannot read the file: {e}"),
            ))
        }
    };
    match loaded {
        Ok(script) => {
            state.compile_errors.remove(&key);
            state.scripts.insert(key, Arc::new(script));
            FileChange::Loaded
        }
        Err(e) => {
            state.compile_errors.insert(key, e.clone());
            FileChange::Failed(e)
        }
    }
}

/// Reloads every file under `dir` into `state`; returns (failed errors, removed count).
pub fn apply_dir(
    engine: &Engine,
    state: &mut LoadState,
    dir: &Path,
    max_run_time: std::time::Duration,
) -> (Vec<ScriptError>, usize) {
    let found = loader::discover(dir);
    let keys: std::collections::HashSet<String> = found.iter().map(|(id, _)| id.key()).collect();
    let before = state.scripts.len();
    state.scripts.retain(|k, _| keys.contains(k));
    state.compile_errors.retain(|k, _| keys.contains(k));
    state.applied.retain(|k, _| keys.contains(k));
    let removed = before - state.scripts.len();
    let mut errors = Vec::new();
    for (_, path) in found {
        if let FileChange::Failed(e) = apply_path(engine, state, &path, max_run_time) {
            errors.push(e);
        }
    }
    (errors, removed)
}
