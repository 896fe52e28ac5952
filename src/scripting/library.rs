//! The script host's reload state: the compiled scripts, the registry the router reads, each
//! script's newest error and the reload counters. Loads the whole folder or single files (the
//! watcher, `!reload`, the console's saves) and publishes a new registry after each change;
//! knows nothing of chat, queues or threads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use rhai::Engine;

use super::loader::{Script, ScriptError, ScriptKind};
use super::registry::{self, FileChange, LoadState, Registry};
use super::{ReloadReport, ScriptInfo};

/// What is loaded from the scripts folder, and how it got there.
pub(crate) struct Library {
    dir: PathBuf,
    /// The run-time limit scripts are compiled against (`Limits::max_run_time`).
    max_run_time: Duration,
    engine: Engine,
    /// What the router reads: swapped whole after every change.
    registry: RwLock<Arc<Registry>>,
    /// Loaded scripts and compile errors; held while loading, so loads never interleave.
    state: Mutex<LoadState>,
    run_errors: Mutex<HashMap<String, ScriptError>>,
    reloads: AtomicU64,
    /// Single files loaded (or refused) by the file watcher or a console save.
    file_reloads: AtomicU64,
    last_reload: Mutex<Option<SystemTime>>,
}

impl Library {
    /// An empty library for the scripts in `dir`, compiled with `engine`.
    pub(super) fn new(dir: PathBuf, engine: Engine, max_run_time: Duration) -> Library {
        Library {
            dir,
            max_run_time,
            engine,
            registry: RwLock::new(Arc::new(Registry::default())),
            state: Mutex::new(LoadState::default()),
            run_errors: Mutex::new(HashMap::new()),
            reloads: AtomicU64::new(0),
            file_reloads: AtomicU64::new(0),
            last_reload: Mutex::new(None),
        }
    }

    /// The scripts folder.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The engine scripts are compiled and run with.
    pub(super) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The run-time limit scripts are compiled against.
    pub(super) fn max_run_time(&self) -> Duration {
        self.max_run_time
    }

    /// The registry in force now.
    pub(super) fn registry(&self) -> Arc<Registry> {
        self.registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The loaded scripts, locked: no reload runs until the guard is dropped.
    pub(super) fn lock(&self) -> MutexGuard<'_, LoadState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Builds the registry from `state` and puts it in force.
    pub(super) fn publish(&self, state: &LoadState) {
        let reg = Arc::new(Registry::build(&state.scripts));
        *self.registry.write().unwrap_or_else(|p| p.into_inner()) = reg;
    }

    /// Reloads every file; counts as a "reload all" when `counted`.
    pub(super) fn reload_dir(&self, counted: bool) -> ReloadReport {
        let mut state = self.lock();
        let (errors, removed) =
            registry::apply_dir(&self.engine, &mut state, &self.dir, self.max_run_time);
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

    /// Reloads every file, counted and logged ("Reload scripts", `!reload`).
    pub(super) fn reload_all(&self) -> ReloadReport {
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
    pub(super) fn reload_paths(&self, paths: &[PathBuf]) -> Vec<FileChange> {
        let mut state = self.lock();
        let changes: Vec<FileChange> = paths
            .iter()
            .map(|p| {
                if registry::unchanged(&state, p) {
                    tracing::debug!("script unchanged, not reloaded: {}", p.display());
                    return FileChange::Ignored;
                }
                let change = registry::apply_path(&self.engine, &mut state, p, self.max_run_time);
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

    /// A file the console just wrote and loaded (`key` is its script's): its old run error is
    /// forgotten and it counts as a single-file load.
    pub(super) fn installed(&self, key: &str) {
        self.run_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        self.file_reloads.fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps `err` as `script`'s newest run error.
    pub(super) fn record_run_error(&self, script: &Script, err: ScriptError) {
        let mut errs = self.run_errors.lock().unwrap_or_else(|p| p.into_inner());
        errs.insert(script.key(), err);
    }

    /// `script` ran fine: its old run error is forgotten.
    pub(super) fn clear_run_error(&self, script: &Script) {
        let mut errs = self.run_errors.lock().unwrap_or_else(|p| p.into_inner());
        if !errs.is_empty() {
            errs.remove(&script.key());
        }
    }

    /// How many times everything was reloaded on request, and when it last was.
    pub(super) fn reload_stats(&self) -> (u64, Option<SystemTime>) {
        (
            self.reloads.load(Ordering::Relaxed),
            *self.last_reload.lock().unwrap_or_else(|p| p.into_inner()),
        )
    }

    /// Single-file loads so far (file watcher and console saves).
    pub(super) fn file_reloads(&self) -> u64 {
        self.file_reloads.load(Ordering::Relaxed)
    }

    /// Every script with its kind, settings and newest error, for the console.
    pub(super) fn scripts(&self) -> Vec<ScriptInfo> {
        let state = self.lock();
        let run_errors = self.run_errors.lock().unwrap_or_else(|p| p.into_inner());
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
}
