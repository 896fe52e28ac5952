//! The scripts folder as the web console edits it: the `.rhai` files with their load status,
//! reading one, saving one only once it compiles (atomically, inside the folder, with the file's
//! last-modified stamp as a precondition) and new scripts from the bundled examples.
//!
//! A save loads the new version itself, so the file watcher, seeing a file whose content is
//! already in effect, reloads nothing: one save, one reload, one log line.

mod disk;

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::ScriptHost;
use super::loader::{self, ScriptError, ScriptKind};
use super::registry::{self, BUILTIN_COMMANDS, LoadState};
use disk::{Target, contained, millis, name_ok, read_text, stamp, target, write_atomic};

/// The largest script the console reads or writes.
pub const MAX_SCRIPT_BYTES: usize = 256 * 1024;
/// The longest script name (the file name without `.rhai`).
pub const MAX_NAME: usize = 64;

/// The bundled examples a new script can start from: `(folder/name, source)`.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "commands/ping",
        include_str!("../../../scripts/commands/ping.rhai"),
    ),
    (
        "commands/lurk",
        include_str!("../../../scripts/commands/lurk.rhai"),
    ),
    (
        "commands/rps",
        include_str!("../../../scripts/commands/rps.rhai"),
    ),
    (
        "timers/hydrate",
        include_str!("../../../scripts/timers/hydrate.rhai"),
    ),
    (
        "responses/greeting",
        include_str!("../../../scripts/responses/greeting.rhai"),
    ),
    (
        "rewards/sound",
        include_str!("../../../scripts/rewards/sound.rhai"),
    ),
    (
        "events/follow",
        include_str!("../../../scripts/events/follow.rhai"),
    ),
    (
        "events/raid",
        include_str!("../../../scripts/events/raid.rhai"),
    ),
    (
        "events/cheer",
        include_str!("../../../scripts/events/cheer.rhai"),
    ),
];

/// Why the console cannot read, save or create a script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The path, kind, name or template is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The path leads out of the scripts folder (a symbolic link).
    #[error("{0}")]
    Outside(String),
    /// No such file.
    #[error("{0}")]
    NotFound(String),
    /// The source is over the console's size cap.
    #[error("{0}")]
    TooLarge(String),
    /// A new script's file or command name is taken.
    #[error("{0}")]
    Exists(String),
    /// The disk refused.
    #[error("{0}")]
    Io(String),
}

/// One `.rhai` file of the scripts folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptFile {
    /// Relative to the scripts folder: `commands/ping.rhai`.
    pub path: String,
    /// The folder: `commands`, `timers`, `responses`, `rewards` or `events`.
    pub kind: &'static str,
    /// The command, timer, reward or event name.
    pub name: String,
    /// The file's stamp, to send back with a save.
    pub modified: String,
    /// When the file was last written, in milliseconds since the Unix epoch.
    pub modified_ms: u64,
    /// The file's size.
    pub bytes: u64,
    /// `loaded`, `error` (the file does not compile; `live` says whether an older version runs)
    /// or `not_loaded`.
    pub status: &'static str,
    /// A version of the script runs.
    pub live: bool,
    /// The compile error of the file as it is on disk.
    pub error: Option<ScriptError>,
}

/// The script files and how many single-file loads there were.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptFiles {
    /// Every script file, sorted.
    pub files: Vec<ScriptFile>,
    /// Single files loaded (or refused) since start, by the file watcher or a console save.
    pub file_reloads: u64,
}

/// A script's source with its stamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptText {
    /// `commands/ping.rhai`, relative to the scripts folder.
    pub path: String,
    /// The file's text.
    pub source: String,
    /// The stamp to send back with a save: it changes whenever the file does.
    pub modified: String,
    /// When the file was last written, in milliseconds since the Unix epoch.
    pub modified_ms: u64,
}

/// A bundled example to start a new script from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    /// `commands/ping`.
    pub id: &'static str,
    /// The kind's folder (`commands`).
    pub kind: &'static str,
    /// The example's first comment line.
    pub summary: String,
    /// The example's text.
    pub source: &'static str,
}

/// What a save (or a new script) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Written and live.
    Saved(ScriptText),
    /// Not written: it does not compile (the old version keeps running).
    Broken(ScriptError),
    /// Not written: the file changed on disk since it was read (`None`: it was deleted).
    Stale(Option<ScriptText>),
}

/// The bundled examples.
pub fn templates() -> Vec<Template> {
    TEMPLATES
        .iter()
        .map(|(id, source)| Template {
            id,
            kind: id.split_once('/').map_or("", |(k, _)| k),
            summary: source
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("//"))
                .map(|l| l.trim().to_owned())
                .unwrap_or_default(),
            source,
        })
        .collect()
}

impl ScriptHost {
    fn dir(&self) -> &Path {
        self.library.dir()
    }

    /// Single-file loads so far (file watcher and console saves), for the console and tests.
    pub fn file_reloads(&self) -> u64 {
        self.library.file_reloads()
    }

    /// Every script file with its stamp and load status.
    pub fn script_files(&self) -> Vec<ScriptFile> {
        let found = loader::discover(self.dir());
        // What is loaded, copied out so no file is read while the scripts are locked.
        let (live, errors) = {
            let state = self.library.lock();
            let live: std::collections::HashSet<String> = state.scripts.keys().cloned().collect();
            (live, state.compile_errors.clone())
        };
        found
            .into_iter()
            .filter_map(|(id, path)| {
                let file = path.file_name()?.to_str()?;
                let rel = format!("{}/{file}", id.kind.folder());
                let meta = fs::metadata(&path).ok()?;
                let ms = millis(&meta);
                let modified = if meta.len() <= MAX_SCRIPT_BYTES as u64 {
                    fs::read(&path).map_or_else(|_| String::new(), |b| stamp(&b, ms))
                } else {
                    String::new()
                };
                let key = id.key();
                let live = live.contains(&key);
                let error = errors.get(&key).map(|e| ScriptError {
                    file: rel.clone(),
                    ..e.clone()
                });
                let status = match (&error, live) {
                    (Some(_), _) => "error",
                    (None, true) => "loaded",
                    (None, false) => "not_loaded",
                };
                Some(ScriptFile {
                    path: rel,
                    kind: id.kind.folder(),
                    name: id.name,
                    modified,
                    modified_ms: ms,
                    bytes: meta.len(),
                    status,
                    live,
                    error,
                })
            })
            .collect()
    }

    /// One script's source and stamp.
    ///
    /// # Errors
    /// The path is not a script inside the folder, or it cannot be read.
    pub fn read_script(&self, rel: &str) -> Result<ScriptText, EditError> {
        let t = target(self.dir(), rel)?;
        if !contained(self.dir(), &t, false)? {
            return Err(EditError::NotFound(format!("there is no script {}", t.rel)));
        }
        read_text(&t)
    }

    /// Saves `source` as the script at `rel` if the file still has the stamp `modified` and the
    /// source compiles and passes the loader's checks; the new version is then live.
    ///
    /// # Errors
    /// The path is not an existing script inside the folder, the source is too large, or the
    /// disk refused the write.
    pub fn save_script(
        &self,
        rel: &str,
        source: &str,
        modified: &str,
    ) -> Result<SaveOutcome, EditError> {
        let t = target(self.dir(), rel)?;
        too_large(&t.rel, source)?;
        // One save at a time, and no watcher reload in between the check and the load.
        let mut state = self.library.lock();
        if !contained(self.dir(), &t, true)? {
            return Ok(SaveOutcome::Stale(None));
        }
        let current = match read_text(&t) {
            Ok(text) => text,
            Err(EditError::NotFound(_)) => return Ok(SaveOutcome::Stale(None)),
            Err(e) => return Err(e),
        };
        if current.modified != modified.trim() {
            return Ok(SaveOutcome::Stale(Some(current)));
        }
        let script = match self.compile(&t, source) {
            Ok(script) => script,
            Err(e) => return Ok(SaveOutcome::Broken(e)),
        };
        write_atomic(&t.path, source.as_bytes(), false)
            .map_err(|e| EditError::Io(format!("cannot write {}: {e}", t.rel)))?;
        let saved = read_text(&t)?;
        self.install(&mut state, script, source.as_bytes());
        drop(state);
        tracing::info!("script saved from the console, live: {}", t.rel);
        Ok(SaveOutcome::Saved(saved))
    }

    /// Creates `<kind>/<name>.rhai` from the bundled example `template`; never replaces a file,
    /// and a command refuses a name another command (or a built-in) answers to.
    ///
    /// # Errors
    /// A wrong kind, name or template, a name that is taken, or a refused write.
    pub fn new_script(
        &self,
        kind: &str,
        name: &str,
        template: &str,
    ) -> Result<SaveOutcome, EditError> {
        let kind = kind.trim();
        let kind = ScriptKind::ALL
            .into_iter()
            .find(|k| k.folder() == kind || k.to_string() == kind)
            .ok_or_else(|| {
                EditError::Invalid(format!(
                    "`kind` is `{kind}`: use one of commands, timers, responses, rewards, events"
                ))
            })?;
        let name = name.trim().trim_start_matches('!').to_lowercase();
        if !name_ok(&name) {
            return Err(EditError::Invalid(format!(
                "`{name}` is not a script name: 1 to {MAX_NAME} letters, digits, _ or -"
            )));
        }
        let template = template.trim();
        let template_id = if template.contains('/') {
            template.to_owned()
        } else {
            format!("{}/{template}", kind.folder())
        };
        let Some((_, source)) = TEMPLATES.iter().find(|(id, _)| *id == template_id) else {
            let same: Vec<&str> = TEMPLATES
                .iter()
                .map(|(id, _)| *id)
                .filter(|id| id.starts_with(kind.folder()))
                .collect();
            return Err(EditError::Invalid(format!(
                "there is no template `{template}` for {}: use one of {}",
                kind.folder(),
                same.join(", ")
            )));
        };
        if !template_id.starts_with(&format!("{}/", kind.folder())) {
            return Err(EditError::Invalid(format!(
                "the template `{template_id}` is not one of {}: pick one of that folder's",
                kind.folder()
            )));
        }
        let t = target(self.dir(), &format!("{}/{name}.rhai", kind.folder()))?;
        let mut state = self.library.lock();
        if contained(self.dir(), &t, true)? || fs::symlink_metadata(&t.path).is_ok() {
            return Err(EditError::Exists(format!(
                "{} already exists: open it instead, or pick another name",
                t.rel
            )));
        }
        if kind == ScriptKind::Command {
            if BUILTIN_COMMANDS.contains(&name.as_str()) {
                return Err(EditError::Exists(format!(
                    "!{name} is built into the bot: pick another name"
                )));
            }
            if let Some(other) = self.library.registry().commands.get(&name) {
                return Err(EditError::Exists(format!(
                    "!{name} is already answered by {}{}: pick another name",
                    other.kind.folder(),
                    other
                        .path
                        .file_name()
                        .map(|f| format!("/{}", f.to_string_lossy()))
                        .unwrap_or_default()
                )));
            }
        }
        let script = match self.compile(&t, source) {
            Ok(script) => script,
            Err(e) => return Ok(SaveOutcome::Broken(e)),
        };
        let folder = self.dir().join(kind.folder());
        if !folder.is_dir() {
            fs::create_dir(&folder)
                .map_err(|e| EditError::Io(format!("cannot create {}: {e}", folder.display())))?;
        }
        write_atomic(&t.path, source.as_bytes(), true).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                EditError::Exists(format!("{} already exists", t.rel))
            } else {
                EditError::Io(format!("cannot write {}: {e}", t.rel))
            }
        })?;
        let saved = read_text(&t)?;
        self.install(&mut state, script, source.as_bytes());
        drop(state);
        tracing::info!(
            "script created from the console ({template_id}), live: {}",
            t.rel
        );
        Ok(SaveOutcome::Saved(saved))
    }

    /// Compiles `source` as the script at `t` with the loader's checks; errors name `t.rel`.
    fn compile(&self, t: &Target, source: &str) -> Result<loader::Script, ScriptError> {
        loader::load_source(
            self.library.engine(),
            &t.id,
            &t.path,
            source,
            self.library.max_run_time(),
        )
        .map_err(|e| ScriptError {
            file: t.rel.clone(),
            ..e
        })
    }

    /// Puts a script just written in place of its old version and publishes the registry.
    fn install(&self, state: &mut LoadState, script: loader::Script, bytes: &[u8]) {
        let key = script.key();
        state.compile_errors.remove(&key);
        state
            .applied
            .insert(key.clone(), registry::source_hash(bytes));
        state.scripts.insert(key.clone(), Arc::new(script));
        self.library.publish(state);
        self.library.installed(&key);
    }
}

fn too_large(rel: &str, source: &str) -> Result<(), EditError> {
    if source.len() > MAX_SCRIPT_BYTES {
        return Err(EditError::TooLarge(format!(
            "{rel} would be {} KiB; scripts edited in the console are capped at {} KiB",
            source.len() / 1024,
            MAX_SCRIPT_BYTES / 1024
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripting::loader::ScriptId;
    use std::path::PathBuf;

    #[test]
    fn every_template_compiles_under_its_own_name() {
        let engine = super::super::engine::build(&super::super::Limits::default());
        for t in templates() {
            let path = PathBuf::from(format!("scripts/{}.rhai", t.id));
            let id = ScriptId::from_path(&path).expect("a script path");
            let loaded = loader::load_source(
                &engine,
                &id,
                &path,
                t.source,
                std::time::Duration::from_secs(1),
            );
            assert!(loaded.is_ok(), "{}: {:?}", t.id, loaded.err());
            assert!(!t.summary.is_empty(), "{}", t.id);
        }
    }
}
