//! The script-host fuzz entry: the input is not run as source; it picks calls from a table of
//! every `ctx` function (and the helpers scripts share) with extreme arguments — the largest and
//! smallest integers, 1e300, NaN, infinities, strings at and past the size limit, wrong types —
//! and runs the resulting script under the real engine and its limits.
//!
//! Compiling a script per input would cost more than running it, so the fuzz entry compiles one
//! dispatcher per thread: a script whose `fuzz(ctx, calls)` runs, for each picked call, that
//! call with its arguments evaluated from the same pools, inside `try` as before; an input only
//! becomes the list of picks. Each input still gets a fresh context and fresh stores. The
//! table check ([`script_host_call`]) writes each call out as source text, unguarded.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use rhai::{CallFnOptions, Dynamic, Engine, Scope};

use crate::scripting::api::Services;
use crate::scripting::engine::{self, Limits, RunGuard};
use crate::scripting::loader::{self, Script, ScriptId, ScriptKind};
use crate::scripting::stores::{MemoryStore, StreamInfo, TwitchApi, UserInfo};
use crate::scripting::{Ctx, CtxData, UserData};
use crate::subsystems::{Subsystem, Subsystems};

/// Calls in one generated script.
const MAX_CALLS: usize = 24;

/// What an argument should be.
#[derive(Clone, Copy)]
enum Arg {
    Int,
    Float,
    Text,
    Who,
    List,
    Any,
}

use Arg::{Any, Float, Int, List, Text, Who};

/// `(receiver, name, arguments)`; `None` arguments is a property read.
type Call = (&'static str, &'static str, Option<&'static [Arg]>);

/// Every function a script can reach through `ctx`, and the shared helpers.
const CALLS: &[Call] = &[
    ("ctx", "user", None),
    ("ctx", "message", None),
    ("ctx", "args", None),
    ("ctx", "command", None),
    ("ctx", "channel", None),
    ("ctx", "script", None),
    ("ctx", "event", None),
    ("ctx", "matched", None),
    ("ctx", "captures", None),
    ("ctx", "find_user", Some(&[Text])),
    ("ctx", "reply", Some(&[Text])),
    ("ctx", "say", Some(&[Text])),
    ("ctx", "announce", Some(&[Text])),
    ("ctx", "announce", Some(&[Text, Text])),
    ("ctx", "timeout", Some(&[Who, Int])),
    ("ctx", "timeout", Some(&[Who, Int, Text])),
    ("ctx", "ban", Some(&[Who, Text])),
    ("ctx", "delete", Some(&[])),
    ("ctx.user", "id", None),
    ("ctx.user", "login", None),
    ("ctx.user", "name", None),
    ("ctx.user", "roles", None),
    ("ctx.user", "level", None),
    ("ctx.user", "is_broadcaster", None),
    ("ctx.user", "is_mod", None),
    ("ctx.user", "is_vip", None),
    ("ctx.user", "is_sub", None),
    ("ctx.user", "points", None),
    ("ctx.user", "watch_time", None),
    ("ctx.user", "messages", None),
    ("ctx.user", "to_string", Some(&[])),
    ("ctx.points", "currency", None),
    ("ctx.points", "get", Some(&[Who])),
    ("ctx.points", "add", Some(&[Who, Int])),
    ("ctx.points", "take", Some(&[Who, Int])),
    ("ctx.points", "refund_last", Some(&[Who])),
    ("ctx.points", "leaderboard", Some(&[Int])),
    ("ctx.store", "get", Some(&[Text])),
    ("ctx.store", "get", Some(&[Text, Any])),
    ("ctx.store", "set", Some(&[Text, Any])),
    ("ctx.store", "remove", Some(&[Text])),
    ("ctx.store", "keys", Some(&[])),
    ("ctx.cache", "get", Some(&[Text])),
    ("ctx.cache", "set", Some(&[Text, Any])),
    ("ctx.cache", "set", Some(&[Text, Any, Int])),
    ("ctx.cache", "set", Some(&[Text, Any, Float])),
    ("ctx.cache", "remove", Some(&[Text])),
    ("ctx.obs", "set_scene", Some(&[Text])),
    ("ctx.obs", "show_source", Some(&[Text, Text])),
    ("ctx.obs", "hide_source", Some(&[Text, Text])),
    ("ctx.obs", "set_text", Some(&[Text, Text])),
    ("ctx.obs", "start_recording", Some(&[])),
    ("ctx.obs", "stop_recording", Some(&[])),
    ("ctx.obs", "start_streaming", Some(&[])),
    ("ctx.obs", "stop_streaming", Some(&[])),
    ("ctx.obs", "request", Some(&[Text, Any])),
    ("ctx.discord", "send", Some(&[Text])),
    ("ctx.discord", "send", Some(&[Text, Text])),
    ("ctx.sound", "play", Some(&[Text])),
    ("ctx.sound", "play", Some(&[Text, Float])),
    ("ctx.sound", "play", Some(&[Text, Int])),
    ("ctx.sound", "skip", Some(&[])),
    ("ctx.hotkey", "press", Some(&[Text])),
    ("ctx.zmq", "publish", Some(&[Text, Any])),
    ("ctx.twitch", "stream", Some(&[])),
    ("ctx.twitch", "followed_at", Some(&[Who])),
    ("ctx.twitch", "created_at", Some(&[Who])),
    ("ctx.twitch", "last_game", Some(&[Who])),
    ("ctx.twitch", "shoutout", Some(&[Who])),
    ("ctx.http", "get", Some(&[Text])),
    ("ctx.http", "post", Some(&[Text, Any])),
    ("", "rand", Some(&[Int, Int])),
    ("", "rand_float", Some(&[])),
    ("", "pick", Some(&[List])),
    ("", "shuffled", Some(&[List])),
    ("", "join", Some(&[List, Text])),
    ("", "now", Some(&[])),
    ("", "format_duration", Some(&[Int])),
    ("", "format_date", Some(&[Int])),
    ("", "format_datetime", Some(&[Int])),
    ("", "sleep", Some(&[Int])),
    ("", "sleep", Some(&[Float])),
    ("", "print", Some(&[Any])),
];

const INTS: &[&str] = &[
    "0",
    "1",
    "-1",
    "9223372036854775807",
    "(-9223372036854775807 - 1)",
    "4294967296",
    "1000000000000",
    "1000000000001",
    "2592001",
    "100",
];
const FLOATS: &[&str] = &[
    "0.0",
    "-0.0",
    "1e300",
    "-1e300",
    "(0.0 / 0.0)",
    "(1e300 * 1e300)",
    "(-1e300 * 1e300)",
    "1e-300",
    "0.5",
    "18446744073709551615.0",
];
const TEXTS: &[&str] = &[
    "\"\"",
    "\"viewer\"",
    "\"@Viewer\"",
    "\"/ban viewer\"",
    "\".me hi\"",
    "\"\\x00\"",
    "\"ÿ̈🎉\u{202e}\"",
    "big",
    "(big + big)",
    "\"../../etc/passwd\"",
    "\"#ff0000\"",
    "\"blue\"",
    "\"  \"",
];
const WHOS: &[&str] = &[
    "\"viewer\"",
    "ctx.user",
    "\"@VIEWER\"",
    "\"nobody\"",
    "()",
    "42",
];
const LISTS: &[&str] = &[
    "[]",
    "[1, 2.5, \"x\", (), #{}]",
    "deep",
    "[big, big]",
    "[ctx.user, ctx]",
];
const ANYS: &[&str] = &[
    "()",
    "[]",
    "#{}",
    "[1, 2.5, \"x\", ()]",
    "#{a: 1e300, b: [#{}], c: (0.0 / 0.0)}",
    "ctx.user",
    "ctx",
    "big",
    "deep",
    "true",
    "'c'",
    "(1e300 * 1e300)",
    "9223372036854775807",
];

/// The engine every input runs on, built once per thread with the bot's default limits.
fn with_engine<R>(f: impl FnOnce(&Engine, &Limits) -> R) -> R {
    thread_local! {
        static ENGINE: (Engine, Limits) = {
            let limits = Limits::default();
            (engine::build(&limits), limits)
        };
    }
    ENGINE.with(|(e, l)| f(e, l))
}

/// A Twitch API answering at once with values at the edges of their types.
struct EdgeTwitch(u8);

impl TwitchApi for EdgeTwitch {
    fn stream(&self) -> Result<Option<StreamInfo>, String> {
        Ok((self.0 & 1 == 1).then(|| StreamInfo {
            started_at: if self.0 & 2 == 0 { i64::MIN } else { i64::MAX },
            title: "t".repeat(usize::from(self.0)),
            game: String::new(),
            viewers: u64::MAX,
        }))
    }
    fn followed_at(&self, _login: &str) -> Result<Option<i64>, String> {
        Ok((self.0 & 4 == 0).then_some(i64::MIN))
    }
    fn created_at(&self, _login: &str) -> Result<Option<i64>, String> {
        if self.0 & 8 == 0 {
            Err("Twitch answered 503".into())
        } else {
            Ok(Some(i64::MAX))
        }
    }
    fn last_game(&self, _login: &str) -> Result<Option<String>, String> {
        Ok(Some(String::new()))
    }
}

/// One picked call: its index in [`CALLS`] and, per argument, its pool and the value's index.
type Pick = (usize, Vec<(Arg, usize)>);

/// Reads the input's calls: each pair of bytes is one call (which function, then which argument
/// from which pool; a further byte per further argument), at most `max_calls`.
fn plan(data: &[u8], max_calls: usize) -> Vec<Pick> {
    let mut picks = Vec::new();
    let mut bytes = data.iter().copied();
    while let (Some(pick), Some(mut argb)) = (bytes.next(), bytes.next()) {
        if picks.len() >= max_calls {
            break;
        }
        let n = usize::from(pick) % CALLS.len();
        let mut args = Vec::new();
        if let Some(kinds) = CALLS[n].2 {
            for (i, kind) in kinds.iter().enumerate() {
                if i > 0 {
                    argb = bytes.next().unwrap_or(argb.rotate_left(3));
                }
                // A high bit sends an argument from any pool: wrong types must fail cleanly.
                let kind = if argb & 0x80 != 0 {
                    [Int, Float, Text, Who, List, Any][usize::from(argb >> 4) % 6]
                } else {
                    *kind
                };
                args.push((kind, usize::from(argb & 0x7f) % pool(kind).len()));
            }
        }
        picks.push((n, args));
    }
    picks
}

fn pool(kind: Arg) -> &'static [&'static str] {
    match kind {
        Int => INTS,
        Float => FLOATS,
        Text => TEXTS,
        Who => WHOS,
        List => LISTS,
        Any => ANYS,
    }
}

/// Where [`Arg`] sits in the dispatcher's `arg` function.
fn pool_no(kind: Arg) -> usize {
    match kind {
        Int => 0,
        Float => 1,
        Text => 2,
        Who => 3,
        List => 4,
        Any => 5,
    }
}

const PRELUDE: &str = "    let big = \"x\";\n    while big.len() < 32768 { big += big; }\n    \
                       let deep = [];\n    for i in 0..40 { deep = [deep]; }\n";

/// `recv.name` or `name`.
fn callee(n: usize) -> String {
    let (recv, name, _) = CALLS[n];
    if recv.is_empty() {
        name.to_string()
    } else {
        format!("{recv}.{name}")
    }
}

/// The picks as one script's source, each call written out (`guarded`: inside `try`).
fn source(picks: &[Pick], guarded: bool) -> String {
    let mut src = format!("fn run(ctx) {{\n{PRELUDE}");
    for (n, args) in picks {
        let mut call = callee(*n);
        if CALLS[*n].2.is_some() {
            let args: Vec<&str> = args.iter().map(|(k, i)| pool(*k)[*i]).collect();
            let _ = write!(call, "({})", args.join(", "));
        }
        if guarded {
            let _ = writeln!(
                src,
                "    try {{ let r = {call}; r.to_string(); }} catch (e) {{ }}"
            );
        } else {
            let _ = writeln!(src, "    let r = {call}; r.to_string();");
        }
    }
    src.push_str("}\n");
    src
}

/// The dispatcher: `fuzz(ctx, calls)` runs each `[call, pool, index, pool, index, …]` of
/// `calls` inside `try`, its arguments evaluated by `arg` from the same pools as [`source`]
/// writes out.
fn dispatcher() -> String {
    let mut src = String::from("fn arg(ctx, big, deep, p, i) {\n    switch p {\n");
    for kind in [Int, Float, Text, Who, List, Any] {
        let _ = writeln!(src, "        {} => switch i {{", pool_no(kind));
        for (i, value) in pool(kind).iter().enumerate() {
            let _ = writeln!(src, "            {i} => {value},");
        }
        src.push_str("            _ => ()\n        },\n");
    }
    src.push_str("        _ => ()\n    }\n}\n");
    let _ = write!(
        src,
        "fn fuzz(ctx, calls) {{\n{PRELUDE}    for c in calls {{\n"
    );
    src.push_str("        try {\n            switch c[0] {\n");
    for (n, (_, _, args)) in CALLS.iter().enumerate() {
        let mut call = callee(n);
        if let Some(kinds) = args {
            let args: Vec<String> = (0..kinds.len())
                .map(|a| format!("arg(ctx, big, deep, c[{}], c[{}])", 1 + 2 * a, 2 + 2 * a))
                .collect();
            let _ = write!(call, "({})", args.join(", "));
        }
        let _ = writeln!(
            src,
            "                {n} => {{ let r = {call}; r.to_string(); }}"
        );
    }
    src.push_str("            }\n        } catch (e) { }\n    }\n}\nfn run(ctx) { }\n");
    src
}

/// One generated script, loaded as a command and run once with every integration up.
pub fn script_host(data: &[u8]) {
    drop(dispatch(data));
}

/// Runs `data`'s picks through the dispatcher: the actions the run queued (debug-formatted),
/// or its error.
fn dispatch(data: &[u8]) -> Result<Vec<String>, String> {
    let Some((&flags, calls)) = data.split_first() else {
        return Ok(Vec::new());
    };
    let picks: rhai::Array = plan(calls, MAX_CALLS)
        .into_iter()
        .map(|(n, args)| {
            let mut call = vec![Dynamic::from_int(n as rhai::INT)];
            for (kind, i) in args {
                call.push(Dynamic::from_int(pool_no(kind) as rhai::INT));
                call.push(Dynamic::from_int(i as rhai::INT));
            }
            Dynamic::from_array(call)
        })
        .collect();
    with_engine(|engine, limits| {
        thread_local! {
            static DISPATCHER: Option<Script> = with_engine(|engine, limits| {
                let src = dispatcher();
                match load(engine, limits, &src) {
                    Ok(script) => Some(script),
                    Err(e) => panic!("the dispatcher does not load: {e}\n{src}"),
                }
            });
        }
        DISPATCHER.with(|script| match script {
            Some(script) => run_script(
                engine,
                limits,
                script,
                flags,
                "fuzz",
                Dynamic::from_array(picks),
            ),
            None => Ok(Vec::new()),
        })
    })
}

/// How many calls the generator knows.
pub fn script_host_calls() -> usize {
    CALLS.len()
}

/// Runs call `n` of the table alone, with arguments of its declared kinds picked by `arg`, and
/// without `try`: its error, if any, as the script would see it. Checks the table itself.
///
/// # Errors
/// The script's error message.
pub fn script_host_call(n: usize, arg: u8) -> Result<(), String> {
    let pick = u8::try_from(n % CALLS.len()).unwrap_or(0);
    let arg = arg & 0x7f;
    let src = source(&plan(&[pick, arg, arg, arg], 1), false);
    with_engine(|engine, limits| {
        let script = match load(engine, limits, &src) {
            Ok(s) => s,
            Err(e) => panic!("a generated script does not load: {e}\n{src}"),
        };
        run_script(engine, limits, &script, 0x11, "run", Dynamic::UNIT).map(drop)
    })
}

/// Loads `src` as the command `fuzz`.
fn load(engine: &Engine, limits: &Limits, src: &str) -> Result<Script, String> {
    let id = ScriptId {
        kind: ScriptKind::Command,
        name: "fuzz".into(),
    };
    let path = Path::new("scripts/commands/fuzz.rhai");
    loader::load_source(engine, &id, path, src, limits.max_run_time).map_err(|e| e.to_string())
}

/// Runs `function` of `script` (`run(ctx)`, or `fuzz(ctx, picks)` when `picks` is not `()`)
/// with a fresh context and fresh stores shaped by `flags`; its error as the script would see
/// it.
fn run_script(
    engine: &Engine,
    limits: &Limits,
    script: &Script,
    flags: u8,
    function: &str,
    picks: Dynamic,
) -> Result<Vec<String>, String> {
    {
        let store = Arc::new(MemoryStore::new());
        store.upsert_user(UserInfo {
            id: "100".into(),
            login: "viewer".into(),
            display_name: "Viewer".into(),
            watch_time_secs: u64::MAX,
            messages: u64::MAX,
        });
        let services = Services {
            points: store.clone(),
            users: store.clone(),
            store,
            twitch: Some(Arc::new(EdgeTwitch(flags))),
            integrations: [
                (Subsystem::Obs, flags & 0x10 != 0),
                (Subsystem::Discord, true),
                (Subsystem::Sound, true),
                (Subsystem::Hotkeys, flags & 0x20 != 0),
                (Subsystem::Zmq, true),
            ]
            .into_iter()
            .filter_map(|(s, on)| on.then_some(s))
            .collect::<Subsystems>(),
            ..Services::in_memory()
        };
        let data = CtxData {
            script: script.tag.clone(),
            channel: "streamer".into(),
            message_id: (flags & 0x40 != 0).then(|| "m1".into()),
            message: "!fuzz a b".into(),
            command: "!fuzz".into(),
            args: vec!["a".into(), String::new()],
            user: (flags & 0x80 == 0).then(|| UserData {
                id: "100".into(),
                login: "viewer".into(),
                name: "Viewer".into(),
                roles: crate::event::Roles::empty(),
            }),
            event: Some(serde_json::json!({ "bits": u64::MAX, "n": -1e300 })),
            matched: String::new(),
            captures: Vec::new(),
        };
        let ctx = Ctx::new(data, Arc::new(services));
        let _running = RunGuard::enter(
            script.tag.clone(),
            limits.max_run_time,
            Some(script.constants.clone()),
        )
        .with_network(limits.max_network_time, limits.max_network_calls, None);
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        let result = if picks.is_unit() {
            engine.call_fn_with_options::<Dynamic>(
                options,
                &mut Scope::new(),
                &script.ast,
                function,
                (ctx.clone(),),
            )
        } else {
            engine.call_fn_with_options::<Dynamic>(
                options,
                &mut Scope::new(),
                &script.ast,
                function,
                (ctx.clone(), picks.clone()),
            )
        };
        let actions: Vec<String> = ctx
            .take_actions()
            .iter()
            .map(|action| format!("{action:?}"))
            .collect();
        result.map(|_| actions).map_err(|err| {
            // Every stop must be located and explained as a script error, not a bot failure.
            let shown = loader::runtime_error(&script.file, &err, script.run_pos);
            assert!(
                shown.kind != crate::scripting::ErrorKind::Internal,
                "{shown}\n{picks:?}"
            );
            shown.to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatcher runs what the written-out script runs: same actions, same outcome.
    #[test]
    fn the_dispatcher_runs_what_the_written_script_runs() {
        let mut state: u32 = 0x2545_f491;
        let mut ran = 0;
        for len in 0..300usize {
            let data: Vec<u8> = (0..len % 60)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state.to_le_bytes()[0]
                })
                .collect();
            let Some((&flags, calls)) = data.split_first() else {
                continue;
            };
            let src = source(&plan(calls, MAX_CALLS), true);
            let written = with_engine(|engine, limits| {
                let script = load(engine, limits, &src).expect("loads");
                run_script(engine, limits, &script, flags, "run", Dynamic::UNIT)
            });
            let dispatched = dispatch(&data);
            assert_eq!(
                written.as_ref().map_err(|_| ()),
                dispatched.as_ref().map_err(|_| ()),
                "{src}"
            );
            ran += written.map_or(0, |a| a.len());
        }
        assert!(ran > 50, "the inputs queued actions: {ran}");
    }
}
