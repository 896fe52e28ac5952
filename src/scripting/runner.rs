//! Running scripts off the async runtime: a pool of script threads fed by one bounded queue, with
//! a lane per script. The caller (the dispatcher) only matches and checks, then enqueues; a full
//! queue drops the run with a warning rather than ever blocking chat.
//!
//! Runs of one script go through its lane one at a time, in order (scripts read, change and
//! write their store); runs of different scripts share the threads. A run that waits on the
//! network lends its place: while it waits and others are queued, an extra thread (at most as
//! many as the base threads) takes them. Each run is caught if it panics and reported like a
//! failed run; a thread that dies anyway is replaced.
//!
//! Cost is charged here, before `run`, and refunded if `run` fails; a failed run's actions are
//! discarded.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use rhai::{CallFnOptions, Dynamic, Scope};

use crate::action::Action;

use super::api::{Ctx, CtxData, Services};
use super::checks::{Cooldowns, Reservation};
use super::engine::{Limits, RunGuard, WaitHook};
use super::library::Library;
use super::loader::{ErrorKind, Script, ScriptError, runtime_error};
use super::stores::{StoreError, UserRef};

/// What the script threads work with, handed over by the host at start: the runner's whole
/// view of the host.
pub(crate) struct Runtime {
    /// The loaded scripts (and their engine), where run errors are kept and `!reload` reloads.
    pub library: Arc<Library>,
    /// Points, stores, the cache and the Twitch API, for `ctx`.
    pub services: Arc<Services>,
    /// Where the runs' actions go.
    pub sink: Arc<dyn ActionSink>,
    /// The cooldowns the host reserved; a run refused for points gives its reservation back.
    pub cooldowns: Arc<Cooldowns>,
    /// Run-time and network limits.
    pub limits: Limits,
    /// `chat.reply_on_cooldown`: answer a refusal for points instead of staying silent.
    pub reply_on_cooldown: bool,
}

/// Points charged before a run.
#[derive(Debug, Clone)]
pub(crate) struct Charge {
    pub user: UserRef,
    /// Points to take.
    pub amount: i64,
}

/// One run of one script.
pub(crate) struct RunJob {
    /// The script to run.
    pub script: Arc<Script>,
    /// Its `ctx`.
    pub data: CtxData,
    /// Points to take before the run (refunded if it fails).
    pub charge: Option<Charge>,
    /// The cooldown taken for it, given back if the charge is refused.
    pub reservation: Option<Reservation>,
}

/// Work for the script threads.
pub(crate) enum Job {
    Run(Box<RunJob>),
    /// Actions decided by the caller (refusal answers), sent in the order of the lane named.
    Send(Arc<str>, Vec<Action>),
    /// `!reload`: reload everything and answer in chat.
    Reload {
        channel: compact_str::CompactString,
        reply_to: compact_str::CompactString,
    },
}

impl Job {
    /// The lane the job runs in: its script's key.
    fn lane(&self) -> Arc<str> {
        match self {
            Job::Run(run) => run.script.tag.clone(),
            Job::Send(lane, _) => lane.clone(),
            Job::Reload { .. } => Arc::from("builtin/reload"),
        }
    }
}

/// Where actions go.
pub trait ActionSink: Send + Sync {
    /// Takes one action a run decided; may wait for room, never on chat.
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

/// The queue's sending side; dropping it lets the threads finish what is queued and end.
pub(crate) struct Queue {
    pool: Arc<Pool>,
}

impl Queue {
    /// Enqueues without waiting; `false` (and a warning) when the queue is full or closed.
    pub fn offer(&self, job: Job, what: &str) -> bool {
        self.pool.offer(job, what)
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.pool.lock().closed = true;
        self.pool.work.notify_all();
    }
}

/// The jobs waiting, by lane, and who is doing what.
#[derive(Default)]
struct PoolState {
    lanes: HashMap<Arc<str>, VecDeque<Job>>,
    /// Lanes with jobs waiting and no run going, oldest first.
    ready: VecDeque<Arc<str>>,
    /// Lanes with a run going.
    running: HashSet<Arc<str>>,
    queued: usize,
    /// Threads waiting for work.
    idle: usize,
    /// Runs waiting on the network.
    waiting: usize,
    /// Extra threads alive.
    extra: usize,
    next_thread: usize,
    closed: bool,
}

struct Pool {
    runtime: Runtime,
    state: Mutex<PoolState>,
    work: Condvar,
    capacity: usize,
    /// The most extra threads lent to queued scripts while runs wait on the network.
    max_extra: usize,
}

/// Starts `workers` script threads on a queue of `capacity` jobs.
pub(crate) fn start(runtime: Runtime, capacity: usize, workers: usize) -> Queue {
    let workers = workers.max(1);
    let pool = Arc::new(Pool {
        runtime,
        state: Mutex::new(PoolState::default()),
        work: Condvar::new(),
        capacity: capacity.max(1),
        max_extra: workers,
    });
    for _ in 0..workers {
        let mut st = pool.lock();
        pool.spawn(&mut st, false);
    }
    Queue { pool }
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // Every update of the state is a few field writes; a panic cannot leave it half done.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn offer(self: &Arc<Self>, job: Job, what: &str) -> bool {
        let mut st = self.lock();
        if st.closed {
            tracing::warn!("script threads stopped: dropped {what}");
            return false;
        }
        if st.queued >= self.capacity {
            drop(st);
            tracing::warn!("script queue full: dropped {what}");
            return false;
        }
        let lane = job.lane();
        let jobs = st.lanes.entry(lane.clone()).or_default();
        jobs.push_back(job);
        let first = jobs.len() == 1;
        st.queued += 1;
        if first && !st.running.contains(&lane) {
            st.ready.push_back(lane);
            self.work.notify_one();
        }
        self.lend(&mut st);
        true
    }

    /// Starts an extra thread when runs wait on the network, nobody is free and scripts queue.
    fn lend(self: &Arc<Self>, st: &mut PoolState) {
        if st.idle == 0
            && !st.ready.is_empty()
            && st.extra < st.waiting.min(self.max_extra)
            && !st.closed
        {
            st.extra += 1;
            self.spawn(st, true);
        }
    }

    /// Starts a thread (`extra`: one that ends when there is no work left).
    fn spawn(self: &Arc<Self>, st: &mut PoolState, extra: bool) {
        let n = st.next_thread;
        st.next_thread = n.wrapping_add(1);
        let pool = self.clone();
        let name = if extra {
            format!("scripts-x{n}")
        } else {
            format!("scripts-{n}")
        };
        let started = std::thread::Builder::new()
            .name(name)
            .spawn(move || worker(&pool, extra));
        if let Err(e) = started {
            tracing::error!("cannot start a script thread: {e}");
            if extra {
                st.extra = st.extra.saturating_sub(1);
            }
        }
    }

    /// The next job and its lane, marked running; `None` when the thread should end.
    fn next(&self, extra: bool) -> Option<(Arc<str>, Job)> {
        let mut st = self.lock();
        loop {
            while let Some(lane) = st.ready.pop_front() {
                let Some(job) = st.lanes.get_mut(&lane).and_then(VecDeque::pop_front) else {
                    st.lanes.remove(&lane);
                    continue;
                };
                st.queued = st.queued.saturating_sub(1);
                st.running.insert(lane.clone());
                return Some((lane, job));
            }
            if st.closed {
                return None;
            }
            if extra {
                st.extra = st.extra.saturating_sub(1);
                return None;
            }
            st.idle += 1;
            st = self.work.wait(st).unwrap_or_else(|p| p.into_inner());
            st.idle = st.idle.saturating_sub(1);
        }
    }

    /// Ends the run going in `lane`; its next job (if any) becomes ready.
    fn release(&self, lane: &Arc<str>) {
        let mut st = self.lock();
        st.running.remove(lane);
        if st.lanes.get(lane).is_some_and(|jobs| !jobs.is_empty()) {
            st.ready.push_back(lane.clone());
            self.work.notify_one();
        } else {
            st.lanes.remove(lane);
        }
    }
}

/// The hook a run gets: counts the runs waiting on the network and lends an extra thread when
/// one starts waiting while scripts queue behind it.
struct Lender(Arc<Pool>);

impl WaitHook for Lender {
    fn waiting(&self, started: bool) {
        let mut st = self.0.lock();
        if started {
            st.waiting += 1;
            self.0.lend(&mut st);
        } else {
            st.waiting = st.waiting.saturating_sub(1);
        }
    }
}

/// Releases the lane when the run ends, also when it ends in a panic.
struct LaneGuard<'a> {
    pool: &'a Pool,
    lane: Arc<str>,
}

impl Drop for LaneGuard<'_> {
    fn drop(&mut self) {
        self.pool.release(&self.lane);
    }
}

/// Replaces the thread when it dies in a panic the run's own catch did not cover.
struct ThreadGuard<'a> {
    pool: &'a Arc<Pool>,
    extra: bool,
}

impl Drop for ThreadGuard<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut st = self.pool.lock();
        if self.extra {
            st.extra = st.extra.saturating_sub(1);
            tracing::error!("an extra script thread stopped after a panic");
        } else if !st.closed {
            tracing::error!("a script thread stopped after a panic; starting a new one");
            self.pool.spawn(&mut st, false);
        }
    }
}

fn worker(pool: &Arc<Pool>, extra: bool) {
    let _guard = ThreadGuard { pool, extra };
    while let Some((lane, job)) = pool.next(extra) {
        let _lane = LaneGuard {
            pool: pool.as_ref(),
            lane,
        };
        let rt = &pool.runtime;
        match job {
            Job::Run(run) => run_job(pool, *run),
            Job::Send(_, actions) => actions.into_iter().for_each(|a| rt.sink.send(a)),
            Job::Reload { channel, reply_to } => {
                let report = match crate::panics::catch(|| rt.library.reload_all()) {
                    Ok(report) => report,
                    Err(panic) => {
                        tracing::error!("!reload failed inside the bot: {panic}");
                        continue;
                    }
                };
                let mut text = format!(
                    "Reloaded {} scripts ({} failed, {} removed).",
                    report.loaded, report.failed, report.removed
                );
                if let Some(e) = report.errors.first() {
                    text.push_str(&format!(" First error: {e}"));
                }
                rt.sink.send(Action::Reply {
                    channel,
                    parent_id: reply_to,
                    text,
                });
            }
        }
    }
}

fn run_job(pool: &Arc<Pool>, job: RunJob) {
    let rt = &pool.runtime;
    let RunJob {
        script,
        data,
        charge,
        reservation,
    } = job;
    let reason = || format!("{} {}", script.kind, script.name);
    if let Some(c) = &charge
        && let Err(e) = rt.services.points.take(&c.user, c.amount, &reason())
    {
        if let Some(r) = reservation {
            rt.cooldowns.rollback(r);
        }
        tracing::info!(script = %script.tag, user = %c.user.login, "refused: {e}");
        if let (StoreError::NotEnoughPoints { have, need }, true) = (&e, rt.reply_on_cooldown) {
            let text = format!(
                "@{}, {} costs {need} {} (you have {have}).",
                c.user.display_name, data.command, rt.services.currency
            );
            rt.sink.send(reply_action(&data, text));
        }
        return;
    }
    let ctx = Ctx::new(data, rt.services.clone());
    let limits = &rt.limits;
    // A panic inside the run (a bug in the bot, reached through a script) fails this run only.
    let result = crate::panics::catch(|| {
        let _running = RunGuard::enter(
            script.tag.clone(),
            limits.max_run_time,
            Some(script.constants.clone()),
        )
        .with_network(
            limits.max_network_time,
            limits.max_network_calls,
            Some(Arc::new(Lender(pool.clone()))),
        );
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        rt.library
            .engine()
            .call_fn_with_options::<Dynamic>(
                options,
                &mut Scope::new(),
                &script.ast,
                "run",
                (ctx.clone(),),
            )
            .map_err(|err| runtime_error(&script.file, &err, script.run_pos))
    })
    .unwrap_or_else(|panic| {
        Err(ScriptError {
            kind: ErrorKind::Internal,
            ..ScriptError::at(
                &script.file,
                script.run_pos,
                format!(
                    "the bot failed while running this script (a bug, please report it): {panic}"
                ),
            )
        })
    });
    if script.kind == super::ScriptKind::Reward {
        super::broadcaster::after_run(&rt.services, ctx.data().event.as_ref(), result.is_ok());
    }
    match result {
        Ok(_) => {
            rt.library.clear_run_error(&script);
            for action in ctx.take_actions() {
                rt.sink.send(action);
            }
        }
        Err(err) => {
            if err.kind == ErrorKind::Internal {
                tracing::error!(script = %script.tag, "run failed: {err}");
            } else {
                tracing::warn!(script = %script.tag, "run failed: {err}");
            }
            rt.library.record_run_error(&script, err);
            if let Some(c) = charge
                && let Err(e) = rt.services.points.add(
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
