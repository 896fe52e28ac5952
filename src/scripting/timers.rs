//! The timer task: every second (tokio time, so tests can pause it) it runs each timer whose
//! `INTERVAL` has passed, once `MIN_CHAT_LINES` chat lines were seen since its last run, and only
//! while live if `LIVE_ONLY`. [`Timers`] remembers when each timer last ran; the host tells it
//! the registry, the chat line count and whether the stream is live.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::ScriptHost;
use super::loader::Settings;
use super::registry::Registry;

/// When a timer last ran, and the chat line count then.
#[derive(Debug, Clone, Copy)]
struct TimerState {
    last_run: Instant,
    lines_then: u64,
}

/// Every timer's last run, by name.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    states: Mutex<HashMap<String, TimerState>>,
}

impl Timers {
    /// The timers in `reg` due at `now` (marked as run), given the chat line count `lines` and
    /// whether the stream is `live`. Timers whose file is gone forget their state.
    pub(super) fn due(&self, reg: &Registry, lines: u64, live: bool, now: Instant) -> Vec<String> {
        let mut due = Vec::new();
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
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
            let waited =
                now.saturating_duration_since(state.last_run) >= Duration::from_secs(t.interval);
            let chatty = lines.saturating_sub(state.lines_then) >= t.min_chat_lines;
            if waited && chatty && (live || !t.live_only) {
                *state = TimerState {
                    last_run: now,
                    lines_then: lines,
                };
                due.push(script.name.clone());
            }
        }
        due
    }
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
}
