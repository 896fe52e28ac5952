//! Running scripts off the async runtime: worker threads fed by one bounded queue. The caller
//! (the dispatcher) only matches and checks, then enqueues; a full queue drops the run with a
//! warning rather than ever blocking chat. Cost is charged here, before `run`, and refunded if
//! `run` fails; a failed run's actions are discarded.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use rhai::{CallFnOptions, Dynamic, Scope};

use crate::action::Action;

use super::Shared;
use super::api::{Ctx, CtxData};
use super::checks::Reservation;
use super::engine::RunGuard;
use super::loader::{Script, runtime_error};
use super::stores::{StoreError, UserRef};

/// Points charged before a run.
#[derive(Debug, Clone)]
pub(crate) struct Charge {
    pub user: UserRef,
    pub amount: i64,
}

/// One run of one script.
pub(crate) struct RunJob {
    pub script: Arc<Script>,
    pub data: CtxData,
    pub charge: Option<Charge>,
    pub reservation: Option<Reservation>,
}

/// Work for the script threads.
pub(crate) enum Job {
    Run(Box<RunJob>),
    /// Actions decided by the caller (refusal answers), sent in queue order.
    Send(Vec<Action>),
    /// `!reload`: reload everything and answer in chat.
    Reload {
        channel: compact_str::CompactString,
        reply_to: compact_str::CompactString,
    },
}

/// Where actions go.
pub trait ActionSink: Send + Sync {
    fn send(&self, action: Action);
}

/// Sends into the outgoing channel, waiting for room (the script thread may wait; chat not).
impl ActionSink for tokio::sync::mpsc::Sender<Action> {
    fn send(&self, action: Action) {
        if self.blocking_send(action).is_err() {
            tracing::debug!("action dropped: the outgoing channel is closed (shutting down)");
        }
    }
}

/// An [`ActionSink`] from a closure.
pub struct FnSink<F>(pub F);

impl<F: Fn(Action) + Send + Sync> ActionSink for FnSink<F> {
    fn send(&self, action: Action) {
        (self.0)(action);
    }
}

/// The queue's sending side.
pub(crate) struct Queue {
    tx: SyncSender<Job>,
}

impl Queue {
    /// Enqueues without waiting; `false` (and a warning) when the queue is full or closed.
    pub fn offer(&self, job: Job, what: &str) -> bool {
        match self.tx.try_send(job) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::warn!("script queue full: dropped {what}");
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::warn!("script threads stopped: dropped {what}");
                false
            }
        }
    }
}

/// Starts `workers` script threads on a queue of `capacity` jobs.
pub(crate) fn start(
    shared: Arc<Shared>,
    capacity: usize,
    workers: usize,
) -> (Queue, Vec<std::thread::JoinHandle<()>>) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(capacity.max(1));
    let rx = Arc::new(Mutex::new(rx));
    let handles = (0..workers.max(1))
        .filter_map(|i| {
            let shared = shared.clone();
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("scripts-{i}"))
                .spawn(move || worker(&shared, &rx))
                .map_err(|e| tracing::error!("cannot start a script thread: {e}"))
                .ok()
        })
        .collect();
    (Queue { tx }, handles)
}

fn worker(shared: &Shared, rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv()
        };
        let Ok(job) = job else {
            return;
        };
        match job {
            Job::Run(run) => run_job(shared, *run),
            Job::Send(actions) => actions.into_iter().for_each(|a| shared.sink.send(a)),
            Job::Reload { channel, reply_to } => {
                let report = shared.reload_all();
                let mut text = format!(
                    "Reloaded {} scripts ({} failed, {} removed).",
                    report.loaded, report.failed, report.removed
                );
                if let Some(e) = report.errors.first() {
                    text.push_str(&format!(" First error: {e}"));
                }
                shared.sink.send(Action::Reply {
                    channel,
                    parent_id: reply_to,
                    text,
                });
            }
        }
    }
}

fn run_job(shared: &Shared, job: RunJob) {
    let RunJob {
        script,
        data,
        charge,
        reservation,
    } = job;
    let reason = || format!("{} {}", script.kind, script.name);
    if let Some(c) = &charge
        && let Err(e) = shared.services.points.take(&c.user, c.amount, &reason())
    {
        if let Some(r) = reservation {
            shared.cooldowns.rollback(r);
        }
        tracing::info!(script = %script.tag, user = %c.user.login, "refused: {e}");
        if let (StoreError::NotEnoughPoints { have, need }, true) =
            (&e, shared.config.reply_on_cooldown)
        {
            let text = format!(
                "@{}, {} costs {need} {} (you have {have}).",
                c.user.display_name, data.command, shared.services.currency
            );
            shared.sink.send(reply_action(&data, text));
        }
        return;
    }
    let ctx = Ctx::new(data, shared.services.clone());
    let result = {
        let _running = RunGuard::enter(
            script.tag.clone(),
            shared.config.limits.max_run_time,
            Some(script.constants.clone()),
        );
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        shared.engine.call_fn_with_options::<Dynamic>(
            options,
            &mut Scope::new(),
            &script.ast,
            "run",
            (ctx.clone(),),
        )
    };
    match result {
        Ok(_) => {
            shared.clear_run_error(&script);
            for action in ctx.take_actions() {
                shared.sink.send(action);
            }
        }
        Err(err) => {
            let err = runtime_error(&script.file, &err, script.run_pos);
            tracing::warn!(script = %script.tag, "run failed: {err}");
            shared.record_run_error(&script, err);
            if let Some(c) = charge
                && let Err(e) = shared.services.points.add(
                    &c.user,
                    c.amount,
                    &format!("refund: {} failed", reason()),
                )
            {
                tracing::error!(script = %script.tag, user = %c.user.login, "refund of {} failed: {e}", c.amount);
            }
        }
    }
}

/// A threaded reply to the run's message, or a plain message when there is none.
pub fn reply_action(data: &CtxData, text: String) -> Action {
    match &data.message_id {
        Some(id) if !id.is_empty() => Action::Reply {
            channel: data.channel.clone(),
            parent_id: id.clone(),
            text,
        },
        _ => Action::Say {
            channel: data.channel.clone(),
            text,
        },
    }
}
