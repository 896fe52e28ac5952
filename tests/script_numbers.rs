//! Numbers from scripts never panic the bot: every script entry point that takes a number, fed
//! the extremes (`u64::MAX`, `i64::MIN`/`MAX`, negatives, NaN, ±inf, huge floats) and random
//! values, answers with a clean error or a clamped value; settings out of range are load errors.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use rhai::{Dynamic, FLOAT, INT, Scope};
use serde_json::Value;
use twitch_bot::scripting::engine::{self, Limits, RunGuard};
use twitch_bot::scripting::loader::{ScriptId, load_source};
use twitch_bot::scripting::stores::{Cache, MemoryStore, UserInfo};
use twitch_bot::scripting::{Ctx, CtxData, ErrorKind, ScriptKind, Services, Settings, UserData};
use twitch_bot::subsystems::Subsystems;

/// The longest cache lifespan and setting, in seconds (30 days).
const MONTH: u64 = 30 * 86_400;

/// A cache that remembers the lifespan it was last given.
#[derive(Default)]
struct RecordingCache {
    last_ttl: Mutex<Option<Option<Duration>>>,
}

impl Cache for RecordingCache {
    fn get(&self, _: &str) -> Option<Value> {
        None
    }
    fn set(&self, _: &str, _: Value, ttl: Option<Duration>) {
        *self.last_ttl.lock().unwrap() = Some(ttl);
    }
    fn remove(&self, _: &str) -> bool {
        false
    }
}

struct Fixture {
    engine: rhai::Engine,
    ctx: Ctx,
    cache: Arc<RecordingCache>,
}

fn fixture() -> Fixture {
    let store = Arc::new(MemoryStore::new());
    store.upsert_user(UserInfo {
        id: "1".into(),
        login: "alice".into(),
        display_name: "Alice".into(),
        ..UserInfo::default()
    });
    let cache = Arc::new(RecordingCache::default());
    let services = Services {
        points: store.clone(),
        users: store.clone(),
        store,
        cache: cache.clone(),
        twitch: None,
        http: None,
        integrations: Subsystems::all(),
        currency: "points".into(),
    };
    let data = CtxData {
        script: Arc::from("commands/n"),
        channel: "chan".into(),
        message_id: Some("m1".into()),
        user: Some(UserData {
            id: "1".into(),
            login: "alice".into(),
            name: "Alice".into(),
            ..UserData::default()
        }),
        ..CtxData::default()
    };
    Fixture {
        engine: engine::build(&Limits::default()),
        ctx: Ctx::new(data, Arc::new(services)),
        cache,
    }
}

impl Fixture {
    /// Evaluates `expr` with `n` in scope, as a run would (time limit armed).
    fn eval(&self, expr: &str, n: &Dynamic) -> Result<Dynamic, String> {
        let mut scope = Scope::new();
        scope.push("ctx", self.ctx.clone());
        scope.push_dynamic("n", n.clone());
        let _run = RunGuard::enter(Arc::from("commands/n"), Duration::from_millis(500), None);
        let result = self
            .engine
            .eval_with_scope::<Dynamic>(&mut scope, expr)
            .map_err(|e| e.to_string());
        // Actions pile up across calls; only whether the call panicked matters here.
        self.ctx.take_actions();
        result
    }
}

/// Every entry point that takes a number, with `n` in its number's place.
const ENTRY_POINTS: &[&str] = &[
    r#"ctx.timeout("alice", n)"#,
    r#"ctx.timeout("alice", n, "why")"#,
    r#"ctx.timeout(ctx.user, n)"#,
    r#"ctx.points.add("alice", n)"#,
    r#"ctx.points.take("alice", n)"#,
    r#"ctx.points.leaderboard(n)"#,
    r#"ctx.cache.set("k", 1, n)"#,
    r#"ctx.cache.set("k", n)"#,
    r#"ctx.store.set("k", n)"#,
    r#"ctx.sound.play("a.mp3", n)"#,
    r#"ctx.zmq.publish("t", #{ v: n })"#,
    r#"ctx.obs.request("SetInputVolume", #{ inputVolumeDb: n })"#,
    r#"rand(n, 5)"#,
    r#"rand(0, n)"#,
    r#"rand(n, n)"#,
    r#"format_duration(n)"#,
    r#"format_date(n)"#,
    r#"format_datetime(n)"#,
    r#"sleep(n)"#,
    // Rhai's own functions scripts reach for with numbers.
    r#"n.to_int()"#,
    r#"n.to_float()"#,
    r#""abcdef".sub_string(n, n)"#,
    r#"[1, 2, 3].extract(n)"#,
    r#"[1, 2, 3][n]"#,
    r#"timestamp() + n"#,
    r#"n * n"#,
    r#"n / 0"#,
    r#"n % 3"#,
    r#"-n"#,
    r#"n ** 2"#,
    r#"abs(n)"#,
];

fn extremes() -> Vec<Dynamic> {
    let ints = [
        i64::MIN,
        i64::MIN + 1,
        -1,
        0,
        1,
        1_209_600,
        1_209_601,
        i64::MAX,
    ];
    let floats = [
        u64::MAX as FLOAT,
        i64::MAX as FLOAT,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e300,
        -1e300,
        -0.0,
        0.5,
        f64::MIN_POSITIVE,
        f64::MAX,
    ];
    ints.into_iter()
        .map(Dynamic::from_int)
        .chain(floats.into_iter().map(Dynamic::from_float))
        .collect()
}

fn number() -> impl Strategy<Value = Dynamic> {
    prop_oneof![
        proptest::sample::select(extremes()),
        any::<INT>().prop_map(Dynamic::from_int),
        any::<FLOAT>().prop_map(Dynamic::from_float),
    ]
}

/// What the calls whose answer is fixed by the number must do.
fn check_answers(f: &Fixture, n: &Dynamic) {
    let int = n.as_int().ok();
    let float = n.as_float().ok();

    let timeout = f.eval(r#"ctx.timeout("alice", n)"#, n);
    let valid = int.is_some_and(|s| (1..=1_209_600).contains(&s));
    assert_eq!(timeout.is_ok(), valid, "timeout({n}): {timeout:?}");

    let add = f.eval(r#"ctx.points.add("alice", n)"#, n);
    let valid = int.is_some_and(|a| (1..=1_000_000_000_000).contains(&a));
    assert_eq!(add.is_ok(), valid, "points.add({n}): {add:?}");

    *f.cache.last_ttl.lock().unwrap() = None;
    let set = f.eval(r#"ctx.cache.set("k", 1, n)"#, n);
    let positive = int.is_some_and(|s| s > 0) || float.is_some_and(|s| s > 0.0);
    assert_eq!(set.is_ok(), positive, "cache.set(k, 1, {n}): {set:?}");
    if positive {
        let ttl = f.cache.last_ttl.lock().unwrap().flatten().unwrap();
        assert!(ttl <= Duration::from_secs(MONTH), "{n} gave {ttl:?}");
        assert!(
            !ttl.is_zero() || float.is_some_and(|s| s < 1e-9),
            "{n} gave {ttl:?}"
        );
    }

    let sleep = f.eval("sleep(n)", n);
    assert!(sleep.is_err(), "sleep({n}) must be refused");
}

#[test]
fn every_entry_point_survives_the_extremes() {
    let f = fixture();
    for n in extremes() {
        for expr in ENTRY_POINTS {
            let _ = f.eval(expr, &n);
        }
        check_answers(&f, &n);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_number_from_a_script_panics(n in number()) {
        let f = fixture();
        for expr in ENTRY_POINTS {
            let _ = f.eval(expr, &n);
        }
        check_answers(&f, &n);
    }

    #[test]
    fn settings_out_of_range_are_load_errors(n in number()) {
        let literal = match n.as_int() {
            Ok(i) => format!("parse_int(\"{i}\")"),
            Err(_) => format!("parse_float(\"{}\")", n.as_float().unwrap()),
        };
        let engine = engine::build(&Limits::default());
        let in_range = |lo: i64| n.as_int().is_ok_and(|i| (lo..=MONTH as i64).contains(&i));
        for (kind, name, lo) in [
            (ScriptKind::Command, "COOLDOWN", 0),
            (ScriptKind::Command, "USER_COOLDOWN", 0),
            (ScriptKind::Reward, "COOLDOWN", 0),
            (ScriptKind::Response, "COOLDOWN", 0),
            (ScriptKind::Timer, "INTERVAL", 1),
        ] {
            let extra = if kind == ScriptKind::Response { "const EXACT = \"hi\";\n" } else { "" };
            let source = format!("{extra}const {name} = {literal};\nfn run(ctx) {{ }}\n");
            let id = ScriptId { kind, name: "n".into() };
            let loaded = load_source(&engine, &id, Path::new("scripts/x/n.rhai"), &source, Duration::from_millis(500));
            match loaded {
                Ok(script) => {
                    prop_assert!(in_range(lo), "{name} = {n} loaded");
                    let secs = match &script.settings {
                        Settings::Command(c) => c.cooldown.max(c.user_cooldown),
                        Settings::Reward(r) => r.cooldown,
                        Settings::Response(r) => r.cooldown,
                        Settings::Timer(t) => t.interval,
                        Settings::Event {} => 0,
                    };
                    prop_assert!(secs <= MONTH);
                }
                Err(e) => {
                    prop_assert!(!in_range(lo), "{name} = {n}: {e}");
                    prop_assert_eq!(e.kind, ErrorKind::Load);
                    prop_assert_eq!(e.line, if extra.is_empty() { 1 } else { 2 }, "{}", e);
                }
            }
        }
    }
}
