//! The crash report: a panic hook (installed by `main`) that prints the panic with its
//! backtrace, appends both to `<data>/crash.log` with the time and the bot's version, and sends a
//! desktop notification when `notifications.on_crash` is on and `--nonotify` is not given.
//!
//! A panic inside [`crate::panics::catch`] is expected and handled, not a crash of the bot: the
//! hook stays quiet for it.

use std::backtrace::Backtrace;
use std::io::Write;
use std::panic::PanicHookInfo;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// How long a crashing bot waits for the notification to go out.
const NOTIFY_WAIT: Duration = Duration::from_secs(3);

/// The crash log's file name in the data folder.
pub const CRASH_LOG: &str = "crash.log";

struct Hook {
    log: PathBuf,
    /// Whether a crash sends a desktop notification (the flag, then `on_crash`).
    notify: AtomicBool,
    /// One writer at a time when two threads panic together.
    writing: Mutex<()>,
}

static HOOK: OnceLock<Hook> = OnceLock::new();

/// Installs the crash hook, writing to `<data_dir>/crash.log` and notifying when `notify` (the
/// `--nonotify` flag's opposite; `notifications.on_crash` may turn it off later). Only the first
/// call counts.
pub fn install(data_dir: &Path, notify: bool) {
    let hook = Hook {
        log: data_dir.join(CRASH_LOG),
        notify: AtomicBool::new(notify),
        writing: Mutex::new(()),
    };
    if HOOK.set(hook).is_ok() {
        std::panic::set_hook(Box::new(on_panic));
    }
}

/// Switches the crash notification off (or back on, if the flag allowed it at install).
pub fn set_notify(on: bool) {
    if let Some(hook) = HOOK.get() {
        hook.notify.store(on, Ordering::Relaxed);
    }
}

fn on_panic(info: &PanicHookInfo<'_>) {
    if crate::panics::expected() {
        return;
    }
    let Some(hook) = HOOK.get() else { return };
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("unnamed");
    let message = crate::panics::payload_text(info.payload());
    let location = info
        .location()
        .map_or_else(|| "an unknown place".to_string(), ToString::to_string);
    let backtrace = Backtrace::force_capture();
    let report = format!(
        "twitch-bot {} crashed: thread '{thread}' panicked at {location}:\n{message}\nstack backtrace:\n{backtrace}",
        env!("CARGO_PKG_VERSION")
    );
    eprintln!("{report}");

    let written = {
        let _one = hook.writing.lock().unwrap_or_else(|e| e.into_inner());
        append(&hook.log, &report)
    };
    match &written {
        Ok(()) => eprintln!("the crash report was added to {}", hook.log.display()),
        Err(e) => eprintln!(
            "the crash report could not be written to {}: {e}",
            hook.log.display()
        ),
    }
    if hook.notify.load(Ordering::Relaxed) {
        let body = match written {
            Ok(()) => format!("{message}\nThe report is in {}", hook.log.display()),
            Err(_) => message.to_string(),
        };
        notify_and_wait(body);
    }
}

fn append(log: &Path, report: &str) -> std::io::Result<()> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let when = humantime::format_rfc3339_seconds(SystemTime::now());
    writeln!(file, "=== {when} ===\n{report}")?;
    file.sync_all()
}

/// Sends the crash notification from a fresh thread (the panicking one may sit inside the async
/// runtime, where a blocking D-Bus call is not allowed) and waits a little for it.
fn notify_and_wait(body: String) {
    let (done, wait) = std::sync::mpsc::channel();
    let sent = std::thread::Builder::new()
        .name("crash-notify".into())
        .spawn(move || {
            let result = super::show("twitch-bot crashed", &body);
            let _ = done.send(result);
        });
    if sent.is_err() {
        eprintln!("the crash notification could not be sent: no thread for it");
        return;
    }
    match wait.recv_timeout(NOTIFY_WAIT) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("the crash notification could not be sent: {e}"),
        Err(_) => eprintln!("the crash notification was not answered in time"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_appended_with_the_time() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sub").join(CRASH_LOG);
        append(&log, "first").unwrap();
        append(&log, "second").unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.starts_with("=== 2"), "{text}");
        let first = text.find("first").unwrap();
        assert!(
            text[first..].contains("=== 2") && text.ends_with("second\n"),
            "{text}"
        );
    }
}
