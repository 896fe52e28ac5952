//! Keeps the bot's long-lived tasks running: a task that ends or panics while the bot is not
//! shutting down is restarted with backoff, or — when it cannot be restarted safely, or keeps
//! dying — the whole process is asked to end with [`crate::exit::SOFTWARE`] so the service
//! manager restarts it. The process never stays up with a dead part inside.
//!
//! # Restart policy
//! - A task started with [`Supervisor::restart`] is made anew by its factory after it ends
//!   (returns or panics) while the shutdown token is not cancelled. Each restart is logged as a
//!   warning and shown in the console's live log; [`Supervisor::restarts`] counts them.
//! - Backoff: the first restart waits [`Policy::first_backoff`]; each further crash in a row
//!   doubles the wait, capped at [`Policy::max_backoff`]. A task that has run for
//!   [`Policy::window`] since its last start counts as healthy again (backoff resets).
//! - Crash loop: more than [`Policy::max_restarts`] crashes of one task within
//!   [`Policy::window`] is not something a restart of the part fixes: the process is asked to
//!   end with [`crate::exit::SOFTWARE`], naming the task and its last failure.
//! - A task started with [`Supervisor::watch`] cannot be made anew from here (its factory lives
//!   in another part of the bot): if it panics, the process is asked to end the same way; if it
//!   returns, that is its own decision (logged).
//! - Once shutdown is cancelled nothing is restarted; the supervisor waits for the current run
//!   to wind down, so pending writes are committed.
//!
//! With the `test-support` feature (tests only; a release build has no such hook) a test can
//! make any supervised task panic through `Supervisor::inject_panic`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::event::LiveEvent;
use crate::exit::{Exit, SOFTWARE};

/// How restarts are paced and when a crash loop ends the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Wait before the first restart after a crash.
    pub first_backoff: Duration,
    /// Longest wait between two restarts.
    pub max_backoff: Duration,
    /// Crashes of one task within [`Policy::window`] beyond which the process ends.
    pub max_restarts: u32,
    /// The span crashes are counted in; a run this long resets the backoff.
    pub window: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            max_restarts: 5,
            window: Duration::from_secs(60),
        }
    }
}

impl Policy {
    /// The wait before restart number `streak` (1 for the first crash in a row).
    pub fn backoff(&self, streak: u32) -> Duration {
        let doublings = streak.saturating_sub(1).min(16);
        self.first_backoff
            .saturating_mul(1_u32 << doublings)
            .min(self.max_backoff)
    }
}

/// What one supervised task has been through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskRecord {
    /// Restarts since the bot started.
    pub restarts: u32,
    /// Why it last ended, worded for the log (`panicked: …`, `stopped on its own`).
    pub last_failure: Option<String>,
}

/// Starts and watches the bot's long-lived tasks. Cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    shutdown: CancellationToken,
    exit: Exit,
    log: Option<broadcast::Sender<LiveEvent>>,
    policy: Policy,
    records: Arc<Mutex<HashMap<&'static str, TaskRecord>>>,
    #[cfg(feature = "test-support")]
    hooks: hooks::Hooks,
}

/// How one run of a task ended.
enum Ended {
    Returned,
    Panicked(String),
    Cancelled,
}

impl Ended {
    fn of(result: Result<(), tokio::task::JoinError>) -> Ended {
        match result {
            Ok(()) => Ended::Returned,
            Err(e) if e.is_panic() => Ended::Panicked(panic_message(e.into_panic())),
            Err(_) => Ended::Cancelled,
        }
    }

    fn describe(&self) -> String {
        match self {
            Ended::Returned => "stopped on its own".into(),
            Ended::Panicked(msg) => format!("panicked: {msg}"),
            Ended::Cancelled => "was cancelled".into(),
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

impl Supervisor {
    /// A supervisor that stops restarting when `exit`'s shutdown token is cancelled and asks
    /// `exit` to end the process when a task cannot be kept running. Restarts are announced on
    /// `log` (the console's live log) when given.
    pub fn new(exit: Exit, log: Option<broadcast::Sender<LiveEvent>>, policy: Policy) -> Self {
        Supervisor {
            shutdown: exit.shutdown_token(),
            exit,
            log,
            policy,
            records: Arc::default(),
            #[cfg(feature = "test-support")]
            hooks: hooks::Hooks::default(),
        }
    }

    /// What each task has been through, by name.
    pub fn restarts(&self) -> HashMap<&'static str, TaskRecord> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs the task `make` starts, and starts it again (after a backoff) whenever it ends
    /// while the bot is not shutting down. `make` is called once at once and once per restart;
    /// it must hand the new run everything the old one had (shared receivers behind a mutex,
    /// shared state behind an `Arc`). The returned handle ends after shutdown, once the
    /// current run has ended.
    pub fn restart<F>(&self, name: &'static str, mut make: F) -> JoinHandle<()>
    where
        F: FnMut() -> JoinHandle<()> + Send + 'static,
    {
        let me = self.clone();
        tokio::spawn(async move {
            let mut crashes: Vec<Instant> = Vec::new();
            let mut streak = 0_u32;
            loop {
                let started = Instant::now();
                let ended = Ended::of(me.run_once(name, make()).await);
                if me.shutdown.is_cancelled() {
                    return;
                }
                let now = Instant::now();
                if now.duration_since(started) >= me.policy.window {
                    streak = 0;
                }
                crashes.retain(|t| now.duration_since(*t) < me.policy.window);
                crashes.push(now);
                streak = streak.saturating_add(1);
                let why = ended.describe();
                if crashes.len() > me.policy.max_restarts as usize {
                    me.exit.request(
                        SOFTWARE,
                        format!(
                            "the bot's {name} task stopped {} times within {} s (last: {why}); \
                             restarting the whole process",
                            crashes.len(),
                            me.policy.window.as_secs()
                        ),
                    );
                    return;
                }
                let wait = me.policy.backoff(streak);
                me.note(name, &why, true);
                tracing::warn!(
                    "the bot's {name} task {why}; restarting it in {} ms",
                    wait.as_millis()
                );
                me.announce(format!(
                    "{name} {why}; restarted (in {} ms)",
                    wait.as_millis()
                ));
                tokio::select! {
                    _ = me.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        })
    }

    /// Watches a task that cannot be made anew from here: a panic (or an abort) while the bot
    /// is not shutting down asks the process to end with [`SOFTWARE`], so the service manager
    /// starts a whole new bot; a task that returns on its own is only logged.
    pub fn watch(&self, name: &'static str, task: JoinHandle<()>) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let ended = Ended::of(me.run_once(name, task).await);
            if me.shutdown.is_cancelled() {
                return;
            }
            let why = ended.describe();
            me.note(name, &why, false);
            match ended {
                Ended::Returned => tracing::info!("the bot's {name} task {why}"),
                Ended::Panicked(_) | Ended::Cancelled => me.exit.request(
                    SOFTWARE,
                    format!(
                        "the bot's {name} task {why} and cannot be restarted inside the \
                         process; restarting the whole process"
                    ),
                ),
            }
        })
    }

    /// One run: the task under a wrapper that aborts it if the wrapper is dropped, carries its
    /// panic over, and (with `test-support`) panics on request.
    async fn run_once(
        &self,
        name: &'static str,
        task: JoinHandle<()>,
    ) -> Result<(), tokio::task::JoinError> {
        let inner = AbortOnDropHandle::new(task);
        #[cfg(feature = "test-support")]
        let trigger = self.hooks.trigger(name);
        let _ = name;
        tokio::spawn(async move {
            #[cfg(feature = "test-support")]
            let result = tokio::select! {
                r = inner => r,
                _ = trigger.notified() => panic!("panic injected into the {name} task by a test"),
            };
            #[cfg(not(feature = "test-support"))]
            let result = inner.await;
            match result {
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                _ => {}
            }
        })
        .await
    }

    fn note(&self, name: &'static str, why: &str, restarted: bool) {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let record = records.entry(name).or_default();
        if restarted {
            record.restarts = record.restarts.saturating_add(1);
        }
        record.last_failure = Some(why.to_string());
    }

    fn announce(&self, text: String) {
        if let Some(log) = &self.log {
            let _ = log.send(LiveEvent::Notice {
                level: "warn",
                text,
            });
        }
    }

    /// Makes the task `name` panic now (its next run is started as after any crash). `false`
    /// when no task of that name is supervised.
    #[cfg(feature = "test-support")]
    pub fn inject_panic(&self, name: &str) -> bool {
        self.hooks.fire(name)
    }
}

#[cfg(feature = "test-support")]
mod hooks {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, PoisonError};

    use tokio::sync::Notify;

    /// One trigger per supervised task name.
    #[derive(Clone, Default)]
    pub(super) struct Hooks(Arc<Mutex<HashMap<&'static str, Arc<Notify>>>>);

    impl Hooks {
        pub(super) fn trigger(&self, name: &'static str) -> Arc<Notify> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(name)
                .or_default()
                .clone()
        }

        pub(super) fn fire(&self, name: &str) -> bool {
            let hooks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            match hooks.get(name) {
                Some(n) => {
                    n.notify_one();
                    true
                }
                None => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> Policy {
        Policy {
            first_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(8),
            max_restarts: 3,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = Policy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(4), Duration::from_millis(800));
        assert_eq!(p.backoff(12), Duration::from_secs(30));
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(30));
    }

    #[tokio::test]
    async fn a_panicking_task_is_restarted_until_it_runs() {
        let exit = Exit::new(CancellationToken::new());
        let sup = Supervisor::new(exit.clone(), None, fast());
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        let task = sup.restart("worker", move || {
            let n = r.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                assert!(n >= 2, "failing run {n}");
                std::future::pending::<()>().await;
            })
        });
        // A panic's backtrace may take a while to print: wait for the third run.
        for _ in 0..500 {
            if runs.load(Ordering::SeqCst) >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!task.is_finished());
        assert_eq!(runs.load(Ordering::SeqCst), 3, "the third run lives on");
        let record = sup.restarts()["worker"].clone();
        assert_eq!(record.restarts, 2);
        assert!(
            record
                .last_failure
                .is_some_and(|f| f.contains("failing run 1"))
        );
        assert_eq!(exit.requested(), None);
    }

    #[tokio::test]
    async fn a_crash_loop_ends_the_process_with_software() {
        let exit = Exit::new(CancellationToken::new());
        let sup = Supervisor::new(exit.clone(), None, fast());
        let task = sup.restart("doomed", || tokio::spawn(async { panic!("always") }));
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        let (code, reason) = exit.requested().unwrap();
        assert_eq!(code, SOFTWARE);
        assert!(
            reason.contains("doomed") && reason.contains("always"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn a_watched_task_that_panics_ends_the_process_and_nothing_restarts_after_shutdown() {
        let exit = Exit::new(CancellationToken::new());
        let sup = Supervisor::new(exit.clone(), None, fast());
        sup.watch("api", tokio::spawn(async { panic!("boom") }))
            .await
            .unwrap();
        assert_eq!(exit.requested().map(|(c, _)| c), Some(SOFTWARE));

        let token = CancellationToken::new();
        let exit = Exit::new(token.clone());
        let sup = Supervisor::new(exit.clone(), None, fast());
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        let t = token.clone();
        let task = sup.restart("ends at shutdown", move || {
            r.fetch_add(1, Ordering::SeqCst);
            let t = t.clone();
            tokio::spawn(async move { t.cancelled().await })
        });
        token.cancel();
        task.await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(exit.requested(), None);
    }
}
