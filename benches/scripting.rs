//! Script host figures: a trivial command through checks, the script thread and `run` to an
//! Action; response matching over 500 phrases; and file saved → new version live.
//!
//! Run: `taskset -c 0 cargo bench --bench scripting` (one core for everything).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use twitch_bot::action::Action;
use twitch_bot::event::{ChatMessage, Chatter};
use twitch_bot::scripting::matcher::{ResponseMatcher, Triggers};
use twitch_bot::scripting::{FnSink, HostConfig, Outcome, ScriptHost, Services, roles_of};

fn msg(text: &str, i: u64) -> ChatMessage {
    ChatMessage {
        id: format!("m{i}").into(),
        channel: "chan".into(),
        room_id: "1".into(),
        sender: Chatter {
            id: format!("{}", 1000 + i % 500).into(),
            login: "viewer".into(),
            display_name: "Viewer".into(),
            roles: roles_of(&["subscriber"]),
            badges: vec![],
            color: None,
        },
        text: text.into(),
        action: false,
        emotes: vec![],
        bits: 0,
        first_msg: false,
        returning_chatter: false,
        sub_months: 0,
        reply_parent: None,
        source_room_id: None,
        source_id: None,
        sent_ms: 0,
    }
}

fn commands() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("commands")).unwrap();
    std::fs::write(
        dir.path().join("commands/ping.rhai"),
        r#"fn run(ctx) { ctx.reply("pong"); }"#,
    )
    .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let counter = done.clone();
    let sink = FnSink(move |a: Action| {
        black_box(a);
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let mut config = HostConfig::new(dir.path(), "chan");
    config.queue_capacity = 4_096;
    let (host, _) = ScriptHost::start(config, Services::in_memory(), Arc::new(sink));
    let messages: Vec<ChatMessage> = (0..1_000).map(|i| msg("!ping", i)).collect();
    for round in 0..2 {
        let n: u64 = 200_000;
        done.store(0, Ordering::Relaxed);
        let start = Instant::now();
        let mut sent = 0u64;
        while sent < n {
            let m = &messages[(sent % 1_000) as usize];
            match host.handle_chat(m) {
                Outcome::Queued(_) => sent += 1,
                // The queue is full: the script thread is behind; let it run.
                Outcome::Dropped(_) => std::thread::yield_now(),
                other => panic!("{other:?}"),
            }
        }
        while done.load(Ordering::Relaxed) < n {
            std::thread::yield_now();
        }
        let secs = start.elapsed().as_secs_f64();
        if round == 1 {
            println!(
                "command → checks → run → Action: {n} runs in {secs:.3} s = {:.0} runs/s",
                n as f64 / secs
            );
        }
    }
}

fn responses() {
    responses_with(20);
    responses_with(0);
}

fn responses_with(n_regex: usize) {
    let words = [
        "pog", "gg", "wp", "lol", "hype", "clip", "that", "nice", "shot", "play", "boss", "fight",
        "again", "chat", "stream", "music", "song", "name", "what", "game", "rank", "build", "map",
        "team",
    ];
    let mut contains = Vec::new();
    let mut exact = Vec::new();
    let mut regex = Vec::new();
    for i in 0..(420 - n_regex) {
        contains.push(format!(
            "{} {} {}",
            words[i % words.len()],
            words[(i / 3) % words.len()],
            i
        ));
    }
    for i in 0..80 {
        exact.push(format!("exact phrase number {i}"));
    }
    for i in 0..n_regex {
        regex.push(format!(r"(?i)\bcode{i}\s+\d{{4}}\b"));
    }
    let m = ResponseMatcher::build([(
        0,
        Triggers {
            exact: &exact,
            contains: &contains,
            regex: &regex,
        },
    )])
    .unwrap();
    let corpus = [
        "LUL that was so close, gg wp",
        "@streamer what's the song name?",
        "PogChamp PogChamp PogChamp",
        "hello chat how is everyone doing today",
        "can we get some hype in the chat KEKW",
        "I think the boss fight needs a different build tbh",
        "first time here, love the stream!",
        "what rank are you in this season?",
        "Kappa",
        "lmao",
    ];
    let n = 2_000_000;
    let start = Instant::now();
    let mut hits = 0u64;
    for i in 0..n {
        if m.find(black_box(corpus[i % corpus.len()])).is_some() {
            hits += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "response matching, 500 phrases ({} contains, 80 exact, {n_regex} regex): {n} msgs in {secs:.3} s = {:.0} msgs/s ({hits} hits)",
        contains.len(),
        n as f64 / secs
    );
}

fn reload_latency() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = dir.path().join("commands");
    std::fs::create_dir_all(&cmd).unwrap();
    std::fs::write(cmd.join("hello.rhai"), r#"fn run(ctx) { ctx.say("v0"); }"#).unwrap();
    let (host, _) = ScriptHost::start(
        HostConfig::new(dir.path(), "chan"),
        Services::in_memory(),
        Arc::new(FnSink(|_| {})),
    );
    host.watch().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut samples = Vec::new();
    for v in 1..=20 {
        let start = Instant::now();
        let tmp = cmd.join(".hello.tmp");
        std::fs::write(
            &tmp,
            format!("fn run(ctx) {{ ctx.say(\"v{v}\"); }}\nconst DESCRIPTION = \"v{v}\";"),
        )
        .unwrap();
        std::fs::rename(&tmp, cmd.join("hello.rhai")).unwrap();
        let want = format!("v{v}");
        loop {
            let live = host.scripts().iter().any(|s| {
                s.settings
                    .as_ref()
                    .and_then(|st| serde_json::to_value(st).ok())
                    .is_some_and(|j| j["description"] == want.as_str())
            });
            if live {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "reload never happened"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        samples.push(start.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    samples.sort();
    println!(
        "file saved → new version live: median {:?}, max {:?} over {} saves",
        samples[samples.len() / 2],
        samples[samples.len() - 1],
        samples.len()
    );
}

fn main() {
    commands();
    responses();
    reload_latency();
}
