//! The timer task: every second (tokio time, so tests can pause it) it runs each timer whose
//! `INTERVAL` has passed, once `MIN_CHAT_LINES` chat lines were seen since its last run, and only
//! while live if `LIVE_ONLY`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::loader::Settings;
use super::{Outcome, ScriptHost};

/// When a timer last ran, and the chat line count then.
#[derive(Debug, Clone, Copy)]
pub struct TimerState {
    last_run: Instant,
    lines_then: u64,
}

impl ScriptHost {
    /// Starts the timer task; it stops when `cancel` fires. `--notimers` simply does not call it.
    pub fn spawn_timers(
        self: &Arc<Self>,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let host = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    _ = tick.tick() => {
                        host.run_due_timers(Instant::now());
                    }
                }
            }
        })
    }

    /// Runs every timer due at `now`; returns the outcomes (for logs and tests).
    pub fn run_due_timers(&self, now: Instant) -> Vec<Outcome> {
        let reg = self.shared.registry();
        let lines = self.shared.chat_lines.load(Ordering::Relaxed);
        let live = self.shared.live.load(Ordering::Relaxed);
        let mut due = Vec::new();
        {
            let mut states = self.shared.timers.lock().unwrap_or_else(|p| p.into_inner());
            // Timers whose file is gone forget their state.
            states.retain(|name, _| reg.timers.iter().any(|s| &s.name == name));
            for script in &reg.timers {
                let Settings::Timer(t) = &script.settings else {
                    continue;
                };
                // A new timer waits one full interval before its first run.
                let state = states.entry(script.name.clone()).or_insert(TimerState {
                    last_run: now,
                    lines_then: lines,
                });
                let waited = now.saturating_duration_since(state.last_run)
                    >= Duration::from_secs(t.interval);
                let chatty = lines.saturating_sub(state.lines_then) >= t.min_chat_lines;
                if waited && chatty && (live || !t.live_only) {
                    *state = TimerState {
                        last_run: now,
                        lines_then: lines,
                    };
                    due.push(script.name.clone());
                }
            }
        }
        due.iter().map(|name| self.handle_timer(name)).collect()
    }
}
