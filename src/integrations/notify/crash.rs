//! The crash report: a panic hook (installed by `main`) that prints the panic with its
//! backtrace, appends both to `<data>/crash.log` with the time and the bot's version, and sends a
//! desktop notification when `notifications.on_crash` is on and `--nonotify` is not given.
//!
//! Also [`catch`], for the few foreign calls known to panic instead of returning an error (cpal
//! without a sound card): their panic is turned into an error and the hook stays quiet, because
//! that is not a crash of the bot.

use std::any::Any;
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::io::Write;
use std::panic::{AssertUnwindSafe, PanicHookInfo};
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

thread_local! {
    /// Set while [`catch`] runs a call whose panic is expected and handled.
    static EXPECTED: Cell<bool> = const { Cell::new(false) };
}

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

/// Runs `f`, turning a panic into `Err(message)` without a crash report.
///
/// # Errors
/// The panic's message when `f` panicked.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    let before = EXPECTED.with(|e| e.replace(true));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    EXPECTED.with(|e| e.set(before));
    result.map_err(|payload| payload_text(payload.as_ref()).to_string())
}

fn payload_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(a panic without a message)"
    }
}

fn on_panic(info: &PanicHookInfo<'_>) {
    if EXPECTED.with(Cell::get) {
        return;
    }
    let Some(hook) = HOOK.get() else { return };
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("unnamed");
    let message = payload_text(info.payload());
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
    fn an_expected_panic_becomes_an_error() {
        let r: Result<(), String> = catch(|| panic!("no card"));
        assert_eq!(r.unwrap_err(), "no card");
        assert_eq!(catch(|| 7).unwrap(), 7);
        assert!(!EXPECTED.with(Cell::get), "the thread is watched again");
    }

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
