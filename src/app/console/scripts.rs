//! The console's script editor and scripts' stores: the scripts and their errors, reloading
//! them, reading, saving and creating script files, and a script's stored keys.

use std::collections::BTreeMap;

use super::{AppConsole, internal};
use crate::console::{
    BoxFuture, ConsoleError, LiveEvent, ReloadReport, ScriptError, ScriptInfo, ScriptsReport,
};
use crate::scripting;
use crate::scripting::files::{SaveOutcome, ScriptFiles, ScriptText};

pub(super) fn script_error(e: &scripting::ScriptError) -> ScriptError {
    ScriptError {
        file: e.file.clone(),
        line: u32::try_from(e.line).unwrap_or(u32::MAX),
        col: u32::try_from(e.col).unwrap_or(u32::MAX),
        message: e.message.clone(),
    }
}

pub(super) fn ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl AppConsole {
    /// The scripts' stores with the quota in force.
    pub(super) fn stores(&self) -> crate::app::services::ScriptStores {
        let config = self.config.borrow().clone();
        crate::app::services::ScriptStores::new(self.storage.clone(), &config.bot.scripts)
    }

    /// A store's key from the console's name for it: `commands/quote` as is, `quote` for the
    /// loaded script of that name.
    pub(super) fn store_key(&self, script: &str) -> Result<String, ConsoleError> {
        if let Some((kind, name)) = script.split_once('/') {
            if crate::scripting::ScriptKind::from_folder(kind).is_some() && !name.is_empty() {
                return Ok(script.to_owned());
            }
        } else if let Some(info) = self
            .scripts
            .scripts()
            .into_iter()
            .find(|s| s.name == script)
        {
            return Ok(format!("{}/{}", info.kind.folder(), info.name));
        }
        Err(ConsoleError::NotFound(format!(
            "no script `{script}`: name a loaded script (such as `quote`) or its key \
             (`commands/quote`)"
        )))
    }

    /// The live log's line for a script saved or created in the console (a refused one is
    /// only the editor's business).
    pub(super) fn editor_notice(&self, outcome: &SaveOutcome, what: &str) {
        if let SaveOutcome::Saved(text) = outcome {
            let _ = self.log.send(LiveEvent::Notice {
                level: "info",
                text: format!("script {what} from the console, live: {}", text.path),
            });
        }
    }
}

pub(super) fn scripts(console: &AppConsole) -> BoxFuture<'_, Result<ScriptsReport, ConsoleError>> {
    Box::pin(async move {
        let (reloads, last) = console.scripts.reload_stats();
        let scripts = console
            .scripts
            .scripts()
            .into_iter()
            .map(|s| {
                let settings: BTreeMap<String, serde_json::Value> = s
                    .settings
                    .as_ref()
                    .and_then(|set| serde_json::to_value(set).ok())
                    .and_then(|v| v.as_object().cloned())
                    .map(|o| o.into_iter().collect())
                    .unwrap_or_default();
                ScriptInfo {
                    name: s.name,
                    kind: s.kind.folder().trim_end_matches('s').to_string(),
                    settings,
                    error: s.last_error.as_ref().map(script_error),
                }
            })
            .collect();
        Ok(ScriptsReport {
            reloads,
            last_reload_ms: last.map(ms),
            scripts,
        })
    })
}

pub(super) fn reload_scripts(
    console: &AppConsole,
) -> BoxFuture<'_, Result<ReloadReport, ConsoleError>> {
    Box::pin(async move {
        let host = console.scripts.clone();
        let report = tokio::task::spawn_blocking(move || host.reload_all())
            .await
            .map_err(internal)?;
        let _ = console.log.send(LiveEvent::Notice {
            level: if report.failed > 0 { "warn" } else { "info" },
            text: format!(
                "scripts reloaded: {} live, {} failed",
                report.loaded, report.failed
            ),
        });
        Ok(ReloadReport {
            reloads: report.reload_count,
            at_ms: ms(report.at),
            loaded: report.loaded,
            errors: report.errors.iter().map(script_error).collect(),
        })
    })
}

pub(super) fn script_files(console: &AppConsole) -> BoxFuture<'_, Option<ScriptFiles>> {
    Box::pin(async move {
        let host = console.scripts.clone();
        tokio::task::spawn_blocking(move || ScriptFiles {
            files: host.script_files(),
            file_reloads: host.file_reloads(),
        })
        .await
        .ok()
    })
}

pub(super) fn script_source(
    console: &AppConsole,
    path: String,
) -> BoxFuture<'_, Result<ScriptText, ConsoleError>> {
    Box::pin(async move {
        let host = console.scripts.clone();
        tokio::task::spawn_blocking(move || host.read_script(&path))
            .await
            .map_err(internal)?
            .map_err(ConsoleError::from)
    })
}

pub(super) fn save_script(
    console: &AppConsole,
    path: String,
    source: String,
    modified: String,
) -> BoxFuture<'_, Result<SaveOutcome, ConsoleError>> {
    Box::pin(async move {
        let host = console.scripts.clone();
        let outcome =
            tokio::task::spawn_blocking(move || host.save_script(&path, &source, &modified))
                .await
                .map_err(internal)??;
        console.editor_notice(&outcome, "saved");
        Ok(outcome)
    })
}

pub(super) fn new_script(
    console: &AppConsole,
    kind: String,
    name: String,
    template: String,
) -> BoxFuture<'_, Result<SaveOutcome, ConsoleError>> {
    Box::pin(async move {
        let host = console.scripts.clone();
        let outcome = tokio::task::spawn_blocking(move || host.new_script(&kind, &name, &template))
            .await
            .map_err(internal)??;
        console.editor_notice(&outcome, "created");
        Ok(outcome)
    })
}

pub(super) fn script_store(
    console: &AppConsole,
    script: String,
) -> BoxFuture<'_, Result<Vec<(String, serde_json::Value)>, ConsoleError>> {
    Box::pin(async move {
        let key = console.store_key(&script)?;
        let stores = console.stores();
        tokio::task::spawn_blocking(move || {
            use crate::scripting::stores::ScriptStore;
            let mut out = Vec::new();
            for k in stores.keys(&key).map_err(internal)? {
                if let Some(v) = stores.get(&key, &k).map_err(internal)? {
                    out.push((k, v));
                }
            }
            Ok(out)
        })
        .await
        .map_err(internal)?
    })
}

pub(super) fn set_script_store(
    console: &AppConsole,
    script: String,
    key: String,
    value: Option<serde_json::Value>,
) -> BoxFuture<'_, Result<(), ConsoleError>> {
    Box::pin(async move {
        let script = console.store_key(&script)?;
        let stores = console.stores();
        tokio::task::spawn_blocking(move || {
            use crate::scripting::stores::{ScriptStore, StoreError};
            match value {
                Some(v) => stores.set(&script, &key, v).map_err(|e| match e {
                    full @ StoreError::Full { .. } => ConsoleError::Conflict(full.to_string()),
                    other => internal(other),
                }),
                None => match stores.remove(&script, &key).map_err(internal)? {
                    true => Ok(()),
                    false => Err(ConsoleError::NotFound(format!(
                        "the store of {script} has no key `{key}`"
                    ))),
                },
            }
        })
        .await
        .map_err(internal)?
    })
}
