//! The sandboxed Rhai engine: every limit set, no module resolver (no `import` at all), no `eval`,
//! no `sleep`, `print`/`debug` routed to tracing under the running script's name, a wall-clock
//! stop through `on_progress`, and the per-run network budget ([`network_call`]).
//!
//! Rhai itself has no file, process or network functions; this module registers none, and the
//! ctx API (see `api`) only queues [`crate::action::Action`]s or waits through [`network_call`].

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, EvalAltResult, NativeCallContext, OptimizationLevel, Position};

/// Resource limits for every script run (and for evaluating settings at load).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Rhai operations per run.
    pub max_operations: u64,
    /// Nested function calls.
    pub max_call_levels: usize,
    /// Expression nesting at the top level.
    pub max_expr_depth: usize,
    /// Expression nesting inside functions.
    pub max_fn_expr_depth: usize,
    /// Bytes in one string.
    pub max_string_size: usize,
    /// Items in one array.
    pub max_array_size: usize,
    /// Entries in one object map.
    pub max_map_size: usize,
    /// Variables in scope at once.
    pub max_variables: usize,
    /// Wall-clock time per run, not counting network waits.
    pub max_run_time: Duration,
    /// Time one run may spend waiting on the network (`ctx.twitch.*`), all calls together.
    pub max_network_time: Duration,
    /// Network calls one run may make.
    pub max_network_calls: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 2_000_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_fn_expr_depth: 32,
            max_string_size: 64 * 1024,
            max_array_size: 10_000,
            max_map_size: 10_000,
            max_variables: 1_000,
            max_run_time: Duration::from_millis(500),
            max_network_time: Duration::from_secs(5),
            max_network_calls: 10,
        }
    }
}

/// How many operations pass between two clock reads: reading the clock on every operation would
/// cost more than the operations themselves.
const CLOCK_EVERY_OPS: u64 = 1_024;

/// A script's top-level constants (its settings), by name.
pub type Constants = Arc<[(String, Dynamic)]>;

/// Why the engine stopped a run: the value inside Rhai's `ErrorTerminated`, which `try`/`catch`
/// cannot catch. [`super::loader::runtime_error`] turns it into an [`super::ErrorKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The run's wall-clock time (`Limits::max_run_time`) is used up.
    Time,
    /// The run's network time (`Limits::max_network_time`) is used up.
    NetworkTime,
    /// The run made more network calls than `Limits::max_network_calls`.
    NetworkCalls,
    /// The script called a function scripts may not use (`sleep`).
    Forbidden(&'static str),
}

impl Stop {
    /// The uncatchable error stopping the run at `pos` (the call that hit the limit). Rhai
    /// moves a stop's own position to the outermost call, so the place travels in the value.
    pub fn error(self, pos: Position) -> Box<EvalAltResult> {
        EvalAltResult::ErrorTerminated(Dynamic::from((self, pos)), pos).into()
    }
}

/// Told when a run starts and ends a network wait, so the script threads can lend another
/// thread to the scripts queued behind it.
pub trait WaitHook: Send + Sync {
    /// `true` when the wait starts, `false` when it ends.
    fn waiting(&self, started: bool);
}

/// The network part of a run's budget.
struct Network {
    time_left: Duration,
    calls_left: u32,
    hook: Option<Arc<dyn WaitHook>>,
}

struct Running {
    script: Arc<str>,
    deadline: Instant,
    constants: Option<Constants>,
    network: Network,
}

thread_local! {
    static RUNNING: RefCell<Option<Running>> = const { RefCell::new(None) };
}

/// Marks the current thread as running `script` until dropped: names `print` output and arms the
/// wall-clock limit.
pub struct RunGuard(());

impl RunGuard {
    /// `constants` are the script's top-level constants, made visible inside its functions.
    pub fn enter(
        script: Arc<str>,
        max_run_time: Duration,
        constants: Option<Constants>,
    ) -> RunGuard {
        let deadline = far_deadline(Instant::now(), max_run_time);
        RUNNING.with(|r| {
            *r.borrow_mut() = Some(Running {
                script,
                deadline,
                constants,
                network: Network {
                    time_left: Duration::ZERO,
                    calls_left: 0,
                    hook: None,
                },
            });
        });
        RunGuard(())
    }

    /// Allows the run `calls` network calls waiting `time` in all; `hook` hears of each wait.
    pub fn with_network(self, time: Duration, calls: u32, hook: Option<Arc<dyn WaitHook>>) -> Self {
        RUNNING.with(|r| {
            if let Some(run) = r.borrow_mut().as_mut() {
                run.network = Network {
                    time_left: time,
                    calls_left: calls,
                    hook,
                };
            }
        });
        self
    }
}

/// `now + d`, or a point a year on when that is not representable.
fn far_deadline(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 86_400)))
        .unwrap_or(now)
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        RUNNING.with(|r| *r.borrow_mut() = None);
    }
}

/// The name of the script running on this thread (for log tags).
pub fn current_script() -> Arc<str> {
    RUNNING.with(|r| {
        r.borrow()
            .as_ref()
            .map_or_else(|| Arc::from("?"), |run| run.script.clone())
    })
}

fn past_deadline() -> bool {
    RUNNING.with(|r| {
        r.borrow()
            .as_ref()
            .is_some_and(|run| Instant::now() >= run.deadline)
    })
}

/// Runs `call` (a blocking wait on the network) for the running script: one of its network calls,
/// its wall-clock budget paused while it waits, the wait counted against its network time. The
/// call runs on a helper thread so a peer that never answers stops the run when the network time
/// is used up (the helper ends on its own when the call returns).
///
/// # Errors
/// The run has no calls or network time left ([`Stop::NetworkCalls`], [`Stop::NetworkTime`],
/// both uncatchable), or the call itself failed (its message, catchable).
pub fn network_call<T, F>(pos: Position, what: &str, call: F) -> Result<T, Box<EvalAltResult>>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, String> + Send + 'static,
{
    let budget = RUNNING.with(|r| {
        let mut r = r.borrow_mut();
        let run = r.as_mut()?;
        if run.network.calls_left == 0 {
            return Some(Err(Stop::NetworkCalls));
        }
        if run.network.time_left.is_zero() {
            return Some(Err(Stop::NetworkTime));
        }
        run.network.calls_left -= 1;
        Some(Ok((run.network.time_left, run.network.hook.clone())))
    });
    // Outside a run (settings at load time) there is no budget at all.
    let (time_left, hook) = budget
        .unwrap_or(Err(Stop::NetworkCalls))
        .map_err(|stop| stop.error(pos))?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("script-net".into())
        .spawn(move || {
            let result = crate::panics::catch(call)
                .unwrap_or_else(|panic| Err(format!("the call failed inside the bot: {panic}")));
            // The run may have stopped waiting; then nobody needs the answer.
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        return Err(format!("{what}: cannot start the call: {e}").into());
    }
    if let Some(h) = &hook {
        h.waiting(true);
    }
    let started = Instant::now();
    let answer = rx.recv_timeout(time_left);
    let waited = started.elapsed();
    if let Some(h) = &hook {
        h.waiting(false);
    }
    RUNNING.with(|r| {
        if let Some(run) = r.borrow_mut().as_mut() {
            run.network.time_left = run.network.time_left.saturating_sub(waited);
            // The wait does not count against the run's own time.
            run.deadline = run.deadline.checked_add(waited).unwrap_or(run.deadline);
        }
    });
    match answer {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}").into()),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(Stop::NetworkTime.error(pos)),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            Err(format!("{what}: the call ended without an answer").into())
        }
    }
}

/// Builds the engine every script shares, with `limits` and the ctx API registered.
pub fn build(limits: &Limits) -> Engine {
    let mut engine = Engine::new();
    engine.set_optimization_level(OptimizationLevel::Simple);
    // No `import`: scripts are single files; nothing outside them can be loaded.
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("eval");

    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(limits.max_call_levels);
    engine.set_max_expr_depths(limits.max_expr_depth, limits.max_fn_expr_depth);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_array_size);
    engine.set_max_map_size(limits.max_map_size);
    engine.set_max_variables(limits.max_variables);
    engine.set_max_modules(0);

    engine.on_progress(|ops| {
        if ops % CLOCK_EVERY_OPS == 0 && past_deadline() {
            Some(Dynamic::from((Stop::Time, Position::NONE)))
        } else {
            None
        }
    });
    // Rhai functions cannot see top-level variables. Settings are folded into function bodies at
    // compile time where the optimiser can; this resolver covers the rest (maps used with `in`,
    // for instance). `index > 0` is a local variable the compiler already placed: not ours.
    // `on_var` is marked volatile (not deprecated) upstream (checked against rhai 1.27).
    #[allow(deprecated)]
    engine.on_var(|name, index, _context| {
        if index > 0 {
            return Ok(None);
        }
        Ok(RUNNING.with(|r| {
            r.borrow().as_ref().and_then(|run| {
                run.constants
                    .as_ref()?
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            })
        }))
    });
    engine.on_print(|text| {
        tracing::info!(script = %current_script(), "{text}");
    });
    engine.on_debug(|text, _source, pos| {
        tracing::debug!(script = %current_script(), %pos, "{text}");
    });

    super::api::register(&mut engine);
    // Rhai's standard `sleep` blocks the script thread (and with it every script queued behind
    // it) and panics on huge numbers. These shadow it with an uncatchable stop.
    engine.register_fn(
        "sleep",
        |cx: NativeCallContext, _: rhai::INT| -> Result<(), Box<EvalAltResult>> {
            Err(Stop::Forbidden("sleep").error(cx.call_position()))
        },
    );
    engine.register_fn(
        "sleep",
        |cx: NativeCallContext, _: rhai::FLOAT| -> Result<(), Box<EvalAltResult>> {
            Err(Stop::Forbidden("sleep").error(cx.call_position()))
        },
    );
    engine
}
