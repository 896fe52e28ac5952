//! Live reload: watches the scripts folder with notify and, after a short quiet period (editors
//! write a file in several steps), reloads the files that changed. A file that fails to compile
//! keeps its old version running; see `registry::apply_path`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};

use super::library::Library;
use super::loader::ScriptKind;

/// Quiet time after the last change before reloading.
const QUIET: Duration = Duration::from_millis(50);
/// Longest wait for quiet: a file rewritten non-stop still reloads.
const MAX_WAIT: Duration = Duration::from_millis(300);

/// Keeps the watch alive; dropping it stops the watcher and its thread.
pub struct WatchGuard {
    _watcher: notify::RecommendedWatcher,
}

/// Watches `library`'s folder on a thread of its own, reloading into `library`.
pub(super) fn start(library: Arc<Library>) -> Result<WatchGuard, notify::Error> {
    let dir = library.dir().to_path_buf();
    let (tx, rx) = mpsc::channel::<notify::Event>();
    let mut watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(ev) => {
                let _ = tx.send(ev);
            }
            Err(e) => tracing::warn!("script watcher: {e}"),
        })?;
    watcher.watch(&dir, RecursiveMode::Recursive)?;
    std::thread::Builder::new()
        .name("scripts-watch".into())
        .spawn(move || run(&library, &rx))
        .map_err(|e| notify::Error::generic(&format!("cannot start the watcher thread: {e}")))?;
    tracing::info!("watching {} for changes", dir.display());
    Ok(WatchGuard { _watcher: watcher })
}

fn run(library: &Library, rx: &mpsc::Receiver<notify::Event>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let started = Instant::now();
        loop {
            let left = MAX_WAIT.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(QUIET.min(left)) {
                Ok(ev) => batch.push(ev),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        let mut files = BTreeSet::<PathBuf>::new();
        let mut rescan = false;
        for ev in batch {
            if matches!(ev.kind, EventKind::Access(_)) {
                continue;
            }
            for path in ev.paths {
                if path.extension().is_some_and(|e| e == "rhai") {
                    files.insert(path);
                } else if is_kind_folder(&path) || path == library.dir() {
                    // A whole folder appeared, vanished or was renamed.
                    rescan = true;
                }
            }
        }
        if rescan {
            library.reload_dir(false);
        } else if !files.is_empty() {
            let files: Vec<PathBuf> = files.into_iter().collect();
            library.reload_paths(&files);
        }
    }
}

fn is_kind_folder(path: &std::path::Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| ScriptKind::from_folder(n).is_some())
}
