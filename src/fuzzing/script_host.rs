//! The script-host fuzz entry: the input is not run as source; it picks calls from a table of
//! every `ctx` function (and the helpers scripts share) with extreme arguments — the largest and
//! smallest integers, 1e300, NaN, infinities, strings at and past the size limit, wrong types —
//! and runs the resulting script under the real engine and its limits.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use rhai::{CallFnOptions, Dynamic, Engine, Scope};

use crate::scripting::api::{Integrations, Services};
use crate::scripting::engine::{self, Limits, RunGuard};
use crate::scripting::loader::{self, ScriptId, ScriptKind};
use crate::scripting::stores::{MemoryStore, StreamInfo, TwitchApi, UserInfo};
use crate::scripting::{Ctx, CtxData, UserData};

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

/// Builds the script: the first byte shapes the run's context, then each pair of bytes is one
/// call (which function, then which argument from which pool), each inside `try`.
fn source(data: &[u8], guarded: bool, max_calls: usize) -> String {
    let mut src = String::from(
        "fn run(ctx) {\n    let big = \"x\";\n    while big.len() < 32768 { big += big; }\n    \
         let deep = [];\n    for i in 0..40 { deep = [deep]; }\n",
    );
    let mut bytes = data.iter().copied();
    let mut calls = 0;
    while let (Some(pick), Some(mut argb)) = (bytes.next(), bytes.next()) {
        calls += 1;
        if calls > max_calls {
            break;
        }
        let (recv, name, args) = CALLS[usize::from(pick) % CALLS.len()];
        let mut call = if recv.is_empty() {
            name.to_string()
        } else {
            format!("{recv}.{name}")
        };
        if let Some(kinds) = args {
            call.push('(');
            for (i, kind) in kinds.iter().enumerate() {
                if i > 0 {
                    call.push_str(", ");
                    argb = bytes.next().unwrap_or(argb.rotate_left(3));
                }
                // A high bit sends an argument from any pool: wrong types must fail cleanly.
                let kind = if argb & 0x80 != 0 {
                    [Int, Float, Text, Who, List, Any][usize::from(argb >> 4) % 6]
                } else {
                    *kind
                };
                let pool = match kind {
                    Int => INTS,
                    Float => FLOATS,
                    Text => TEXTS,
                    Who => WHOS,
                    List => LISTS,
                    Any => ANYS,
                };
                call.push_str(pool[usize::from(argb & 0x7f) % pool.len()]);
            }
            call.push(')');
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

/// One generated script, loaded as a command and run once with every integration up.
pub fn script_host(data: &[u8]) {
    let Some((&flags, calls)) = data.split_first() else {
        return;
    };
    drop(run(flags, &source(calls, true, MAX_CALLS)));
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
    run(0x11, &source(&[pick, arg, arg, arg], false, 1))
}

fn run(flags: u8, src: &str) -> Result<(), String> {
    with_engine(|engine, limits| {
        let id = ScriptId {
            kind: ScriptKind::Command,
            name: "fuzz".into(),
        };
        let path = Path::new("scripts/commands/fuzz.rhai");
        let script = match loader::load_source(engine, &id, path, src, limits.max_run_time) {
            Ok(s) => s,
            Err(e) => panic!("a generated script does not load: {e}\n{src}"),
        };
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
            integrations: Integrations {
                obs: flags & 0x10 != 0,
                discord: true,
                sound: true,
                hotkeys: flags & 0x20 != 0,
                zmq: true,
            },
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
        let result = engine.call_fn_with_options::<Dynamic>(
            options,
            &mut Scope::new(),
            &script.ast,
            "run",
            (ctx.clone(),),
        );
        for action in ctx.take_actions() {
            std::hint::black_box(format!("{action:?}"));
        }
        result.map(drop).map_err(|err| {
            // Every stop must be located and explained as a script error, not a bot failure.
            let shown = loader::runtime_error(&script.file, &err, script.run_pos);
            assert!(
                shown.kind != crate::scripting::ErrorKind::Internal,
                "{shown}\n{src}"
            );
            shown.to_string()
        })
    })
}
