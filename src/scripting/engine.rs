//! The sandboxed Rhai engine: every limit set, no module resolver (no `import` at all), no `eval`,
//! `print`/`debug` routed to tracing under the running script's name, and a wall-clock stop
//! through `on_progress`.
//!
//! Rhai itself has no file, process or network functions; this module registers none, and the
//! ctx API (see `api`) only queues [`crate::action::Action`]s.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, OptimizationLevel};

/// Resource limits for every script run (and for evaluating settings at load).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Rhai operations per run.
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    pub max_fn_expr_depth: usize,
    /// Bytes in one string.
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    pub max_variables: usize,
    /// Wall-clock time per run.
    pub max_run_time: Duration,
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
        }
    }
}

/// How many operations pass between two clock reads: reading the clock on every operation would
/// cost more than the operations themselves.
const CLOCK_EVERY_OPS: u64 = 1_024;

/// A script's top-level constants (its settings), by name.
pub type Constants = Arc<[(String, Dynamic)]>;

struct Running {
    script: Arc<str>,
    deadline: Instant,
    constants: Option<Constants>,
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
        let deadline = Instant::now() + max_run_time;
        RUNNING.with(|r| {
            *r.borrow_mut() = Some(Running {
                script,
                deadline,
                constants,
            });
        });
        RunGuard(())
    }
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
            Some(Dynamic::from("time limit"))
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
    engine
}
