//! Configs reload live: a saved file under `configs/` (or the console's "Reload configs") is
//! validated and, when every file is good, becomes the config in force. A bad edit keeps the old
//! config running and is reported with `file:line:col: key: what is wrong`. The watcher runs
//! under the supervisor.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;

/// Validates and loads every config in `dir`; on success it replaces the config in `tx`.
/// Returns the problems found (empty when the new config is in use).
pub fn reload(dir: &Path, tx: &watch::Sender<Arc<Config>>) -> Vec<String> {
    let mut errors: Vec<String> = crate::config::check(dir)
        .iter()
        .map(ToString::to_string)
        .collect();
    if errors.is_empty() {
        match Config::load(dir) {
            Ok(mut config) => {
                // Tokens rotate at run time and the simulator swaps in its own: keep them.
                config.secrets = tx.borrow().secrets.clone();
                config.bot.twitch = tx.borrow().bot.twitch.clone();
                tx.send_replace(Arc::new(config));
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    for e in &errors {
        warn!("config not reloaded: {e}");
    }
    errors
}

/// Starts watching the config folder (when it exists) under the supervisor: a watcher that
/// cannot be made anew waits for shutdown instead.
pub(super) fn start(launch: &mut super::Launch, dir: &Path, tx: &watch::Sender<Arc<Config>>) {
    if !dir.is_dir() {
        return;
    }
    let Some(task) = spawn(dir.to_path_buf(), tx.clone(), launch.shutdown.clone()) else {
        return;
    };
    let (dir, tx, shutdown) = (dir.to_path_buf(), tx.clone(), launch.shutdown.clone());
    let mut first = Some(task);
    launch.supervise("config watcher", move || {
        first
            .take()
            .or_else(|| spawn(dir.clone(), tx.clone(), shutdown.clone()))
            // Could not watch again (warned): wait for shutdown like a watcher.
            .unwrap_or_else(|| {
                let shutdown = shutdown.clone();
                tokio::spawn(async move { shutdown.cancelled().await })
            })
    });
}

/// Watches `dir` and reloads after each burst of saves (100 ms quiet).
pub fn spawn(
    dir: PathBuf,
    tx: watch::Sender<Arc<Config>>,
    shutdown: CancellationToken,
) -> Option<JoinHandle<()>> {
    let (changed_tx, mut changed_rx) = mpsc::channel::<()>(16);
    let mut watcher =
        match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res
                && ev
                    .paths
                    .iter()
                    .any(|p| p.extension().is_some_and(|e| e == "yaml"))
                && !ev.kind.is_access()
            {
                let _ = changed_tx.try_send(());
            }
        }) {
            Ok(w) => w,
            Err(e) => {
                warn!("configs will not reload when saved: {e}");
                return None;
            }
        };
    if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
        warn!(
            "configs will not reload when saved: cannot watch {}: {e}",
            dir.display()
        );
        return None;
    }
    Some(tokio::spawn(async move {
        let _watcher = watcher; // dropping it stops the watching
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                got = changed_rx.recv() => if got.is_none() { return },
            }
            // Let the burst of events one save makes settle.
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => break,
                    _ = changed_rx.recv() => {}
                }
            }
            let (d, tx2) = (dir.clone(), tx.clone());
            if let Ok(errors) = tokio::task::spawn_blocking(move || reload(&d, &tx2)).await
                && errors.is_empty()
            {
                info!("configs reloaded from {}", dir.display());
            }
        }
    }))
}
