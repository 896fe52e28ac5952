//! The script host driven directly: chat messages and channel events in, actions out.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use twitch_bot::subsystems::{Subsystem, Subsystems};

use tokio::sync::mpsc;
use twitch_bot::action::{Action, ObsCall};
use twitch_bot::event::{
    ChannelEvent, ChannelEventKind, ChatMessage, Chatter, EventSource, Permission,
};
use twitch_bot::scripting::stores::{MemoryCache, MemoryStore, Points, UserRef};
use twitch_bot::scripting::{
    HostConfig, Outcome, Refusal, ScriptHost, ScriptKind, Services, check_dir, roles_of,
};

const PING: &str = r#"fn run(ctx) { ctx.reply("pong"); }"#;

struct Bot {
    host: Arc<ScriptHost>,
    rx: mpsc::Receiver<Action>,
    dir: tempfile::TempDir,
    store: Arc<MemoryStore>,
    next_id: u32,
}

fn write(dir: &Path, rel: &str, src: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // Write then rename, as editors do, so a watcher never sees half a file.
    let tmp = dir.join(format!(".tmp-{}", rel.replace('/', "-")));
    std::fs::write(&tmp, src).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

fn bot_with(files: &[(&str, &str)], tweak: impl FnOnce(&mut HostConfig, &mut Services)) -> Bot {
    let dir = tempfile::tempdir().unwrap();
    for (rel, src) in files {
        write(dir.path(), rel, src);
    }
    let store = Arc::new(MemoryStore::new());
    let mut services = Services {
        points: store.clone(),
        users: store.clone(),
        store: store.clone(),
        cache: Arc::new(MemoryCache::new()),
        twitch: None,
        http: None,
        integrations: Subsystems::NONE,
        currency: "points".into(),
    };
    let mut config = HostConfig::new(dir.path(), "chan");
    // One script thread: `assert_silent` relies on jobs running in the order they came.
    config.workers = 1;
    tweak(&mut config, &mut services);
    let (tx, rx) = mpsc::channel(64);
    let (host, _report) = ScriptHost::start(config, services, Arc::new(tx));
    Bot {
        host,
        rx,
        dir,
        store,
        next_id: 0,
    }
}

fn bot(files: &[(&str, &str)]) -> Bot {
    bot_with(files, |_, _| {})
}

fn viewer(login: &str, roles: &[&str]) -> Chatter {
    Chatter::test(login).roles(roles_of(roles))
}

/// A chat message in `#chan`.
fn message(id: &str, sender: Chatter, text: &str) -> ChatMessage {
    ChatMessage::test("", text).id(id).sender(sender)
}

impl Bot {
    fn chat_as(&mut self, login: &str, roles: &[&str], text: &str) -> Outcome {
        self.next_id += 1;
        let msg = message(&format!("m{}", self.next_id), viewer(login, roles), text);
        self.host.handle_chat(&msg)
    }

    fn chat(&mut self, text: &str) -> Outcome {
        self.chat_as("viewer", &[], text)
    }

    /// The next action's text, waiting up to 5 s.
    fn next_text(&mut self) -> String {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            match self.rx.try_recv() {
                Ok(a) => return text_of(&a),
                Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => {
                    let errors: Vec<String> = self
                        .host
                        .scripts()
                        .iter()
                        .filter_map(|s| s.last_error.as_ref().map(ToString::to_string))
                        .collect();
                    panic!("no action arrived ({e:?}); script errors: {errors:#?}")
                }
            }
        }
    }

    /// Proves nothing was sent for earlier input: a `!ping` sent now must be answered first
    /// (one script thread runs jobs in order).
    fn assert_silent(&mut self) {
        assert!(
            matches!(self.chat("!ping"), Outcome::Queued(_)),
            "ping must be installed"
        );
        assert_eq!(self.next_text(), "pong");
    }

    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }
}

fn text_of(a: &Action) -> String {
    match a {
        Action::Say { text, .. } | Action::Reply { text, .. } | Action::Announce { text, .. } => {
            text.clone()
        }
        other => format!("{other:?}"),
    }
}

/// Waits (real time) until `f` holds, for the file watcher.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn a_command_and_its_alias_answer_with_a_threaded_reply() {
    let mut b = bot(&[(
        "commands/dice.rhai",
        r#"
        const ALIASES = ["roll", "r"];
        fn run(ctx) { ctx.reply(`${ctx.user.name} used !${ctx.command} with ${ctx.args.len()} args: ${ctx.args}`); }
        "#,
    )]);
    assert!(matches!(b.chat("!dice"), Outcome::Queued(k) if &*k == "commands/dice"));
    assert_eq!(b.next_text(), "VIEWER used !dice with 0 args: []");
    assert!(matches!(b.chat("!ROLL 2d6 +1"), Outcome::Queued(_)));
    assert_eq!(
        b.next_text(),
        r#"VIEWER used !roll with 2 args: ["2d6", "+1"]"#
    );
    // Threaded: the reply points at the message.
    b.chat("!r");
    match b.rx.blocking_recv() {
        Some(Action::Reply {
            parent_id, channel, ..
        }) => {
            assert_eq!(parent_id, "m3");
            assert_eq!(channel, "chan");
        }
        other => panic!("expected a reply, got {other:?}"),
    }
    assert_eq!(b.chat("!unknown"), Outcome::Ignored);
    assert_eq!(b.chat("just chatting"), Outcome::Ignored);
}

#[test]
fn settings_are_read_once_and_constants_are_visible_in_run() {
    let mut b = bot(&[(
        "commands/greet.rhai",
        r#"
        const GREETING = "hello";
        print("settings evaluated");
        fn run(ctx) { ctx.say(`${GREETING} ${ctx.user}`); }
        "#,
    )]);
    b.chat("!greet");
    assert_eq!(b.next_text(), "hello VIEWER");
}

#[test]
fn permission_refusal_is_silent_and_a_moderator_passes() {
    let mut b = bot(&[
        ("commands/ping.rhai", PING),
        (
            "commands/clear.rhai",
            r#"const PERMISSION = "moderator"; fn run(ctx) { ctx.say("cleared"); }"#,
        ),
    ]);
    assert_eq!(
        b.chat_as("sub", &["subscriber"], "!clear"),
        Outcome::Refused(
            "commands/clear".into(),
            Refusal::Permission {
                needed: Permission::Moderator
            }
        )
    );
    b.assert_silent();
    assert!(matches!(
        b.chat_as("mod", &["moderator"], "!clear"),
        Outcome::Queued(_)
    ));
    assert_eq!(b.next_text(), "cleared");
    assert!(matches!(
        b.chat_as("boss", &["broadcaster"], "!clear"),
        Outcome::Queued(_)
    ));
    assert_eq!(b.next_text(), "cleared");
}

#[test]
fn cooldowns_refuse_silently_channel_wide_then_per_user() {
    let mut b = bot(&[
        ("commands/ping.rhai", PING),
        (
            "commands/hug.rhai",
            r#"const USER_COOLDOWN = 60; fn run(ctx) { ctx.say("hug"); }"#,
        ),
        (
            "commands/hype.rhai",
            r#"const COOLDOWN = 60; fn run(ctx) { ctx.say("hype"); }"#,
        ),
    ]);
    b.chat_as("alice", &[], "!hug");
    assert_eq!(b.next_text(), "hug");
    assert!(matches!(
        b.chat_as("alice", &[], "!hug"),
        Outcome::Refused(_, Refusal::Cooldown { remaining_secs }) if (59..=60).contains(&remaining_secs)
    ));
    b.assert_silent();
    // Another viewer is not affected by alice's cooldown.
    assert!(matches!(b.chat_as("bob", &[], "!hug"), Outcome::Queued(_)));
    assert_eq!(b.next_text(), "hug");

    b.chat_as("alice", &[], "!hype");
    assert_eq!(b.next_text(), "hype");
    assert!(matches!(
        b.chat_as("bob", &[], "!hype"),
        Outcome::Refused(_, Refusal::Cooldown { .. })
    ));
    b.assert_silent();
}

#[test]
fn reply_on_cooldown_answers_with_the_seconds_left() {
    let mut b = bot_with(
        &[(
            "commands/hype.rhai",
            r#"const COOLDOWN = 30; fn run(ctx) { ctx.say("hype"); }"#,
        )],
        |c, _| c.reply_on_cooldown = true,
    );
    b.chat("!hype");
    assert_eq!(b.next_text(), "hype");
    b.chat("!hype");
    assert_eq!(b.next_text(), "@VIEWER, !hype is on cooldown (30 s left).");
}

#[test]
fn responses_match_contains_exact_and_regex_without_running_others() {
    let mut b = bot(&[
        ("commands/ping.rhai", PING),
        (
            "responses/greeting.rhai",
            r#"const CONTAINS = ["hello there", "good morning"]; fn run(ctx) { ctx.reply(`hi ${ctx.user.name} (${ctx.matched})`); }"#,
        ),
        (
            "responses/gn.rhai",
            r#"const EXACT = "gn"; fn run(ctx) { ctx.say("good night!"); }"#,
        ),
        (
            "responses/discord.rhai",
            r#"const REGEX = "(?i)\\bdiscord (link|server)\\b"; fn run(ctx) { ctx.say(`join us (${ctx.captures[0]})`); }"#,
        ),
    ]);
    assert!(
        matches!(b.chat("@streamer HELLO   There friend"), Outcome::Queued(k) if &*k == "responses/greeting")
    );
    assert_eq!(b.next_text(), "hi VIEWER (hello there)");
    assert!(matches!(b.chat("@bot GN"), Outcome::Queued(k) if &*k == "responses/gn"));
    assert_eq!(b.next_text(), "good night!");
    // EXACT is the whole message only.
    assert_eq!(b.chat("gn everyone"), Outcome::Ignored);
    assert!(
        matches!(b.chat("any Discord server?"), Outcome::Queued(k) if &*k == "responses/discord")
    );
    assert_eq!(b.next_text(), "join us (server)");
    // A phrase inside another word does not fire, and plain chat costs no run.
    assert_eq!(b.chat("othello there"), Outcome::Ignored);
    assert_eq!(b.chat("nothing to see"), Outcome::Ignored);
    b.assert_silent();
}

#[tokio::test(start_paused = true)]
async fn a_timer_waits_for_its_interval_and_chat_lines() {
    let mut b = bot(&[
        ("commands/ping.rhai", PING),
        (
            "timers/hydrate.rhai",
            r#"const INTERVAL = 600; const MIN_CHAT_LINES = 3; fn run(ctx) { ctx.say("drink water"); }"#,
        ),
        (
            "timers/live.rhai",
            r#"const INTERVAL = 60; const LIVE_ONLY = true; fn run(ctx) { ctx.say("live!"); }"#,
        ),
    ]);
    let cancel = tokio_util::sync::CancellationToken::new();
    let task = b.host.spawn_timers(cancel.clone());
    let settle = || async {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    };
    settle().await;
    // 20 minutes without chat: the interval passed but not the lines; offline: no live timer.
    tokio::time::advance(Duration::from_secs(1_200)).await;
    settle().await;
    b.chat("one");
    b.chat("two");
    tokio::time::advance(Duration::from_secs(5)).await;
    settle().await;
    b.assert_silent(); // (the !ping counts as the third line)
    tokio::time::advance(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(b.next_text(), "drink water");
    // It ran: the next run needs another interval and three more lines.
    b.chat("a");
    b.chat("b");
    b.chat("c");
    tokio::time::advance(Duration::from_secs(300)).await;
    settle().await;
    b.assert_silent();
    tokio::time::advance(Duration::from_secs(301)).await;
    settle().await;
    assert_eq!(b.next_text(), "drink water");
    // Live-only timers start once the stream is live.
    b.host.set_live(true);
    tokio::time::advance(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(b.next_text(), "live!");
    cancel.cancel();
    task.await.unwrap();
}

#[test]
fn a_reward_takes_its_cost_and_refunds_it_when_the_run_fails() {
    let mut b = bot(&[
        ("commands/ping.rhai", PING),
        (
            "rewards/hat.rhai",
            r#"const COST = 100; fn run(ctx) { ctx.reply(`${ctx.user.name} got a hat, ${ctx.user.points} left`); }"#,
        ),
        (
            "rewards/broken.rhai",
            r#"const COST = 50; fn run(ctx) { throw "out of stock"; }"#,
        ),
    ]);
    let alice = UserRef {
        id: "id-alice".into(),
        login: "alice".into(),
        display_name: "ALICE".into(),
    };
    b.store.add(&alice, 120, "test").unwrap();

    assert!(
        matches!(b.chat_as("alice", &[], "!redeem hat"), Outcome::Queued(k) if &*k == "rewards/hat")
    );
    assert_eq!(b.next_text(), "ALICE got a hat, 20 left");
    assert_eq!(b.store.balance("id-alice").unwrap(), 20);

    // Not enough points: silent, nothing taken.
    b.chat_as("alice", &[], "!redeem hat");
    b.assert_silent();
    assert_eq!(b.store.balance("id-alice").unwrap(), 20);

    // A failed run gives the points back and records the error with its location.
    b.store.add(&alice, 100, "test").unwrap();
    b.chat_as("alice", &[], "!redeem broken");
    b.assert_silent();
    assert_eq!(b.store.balance("id-alice").unwrap(), 120);
    let info = b
        .host
        .scripts()
        .into_iter()
        .find(|s| s.name == "broken")
        .unwrap();
    let err = info
        .last_error
        .expect("the failure is recorded")
        .to_string();
    assert!(
        err.ends_with("rewards/broken.rhai:1:32: Runtime error: out of stock"),
        "{err}"
    );

    assert_eq!(
        b.chat("!redeem nothing"),
        Outcome::Refused("rewards/nothing".into(), Refusal::UnknownReward)
    );
    b.chat("!redeem");
    assert_eq!(b.next_text(), "Rewards: broken (50), hat (100)");
}

#[test]
fn a_channel_point_redemption_and_event_scripts_run_with_the_event_fields() {
    let mut b = bot(&[
        (
            "rewards/sound.rhai",
            r#"const CHANNEL_POINTS_TITLE = "Play a Sound"; fn run(ctx) { ctx.say(`sound: ${ctx.message}`); }"#,
        ),
        (
            "events/cheer.rhai",
            r#"fn run(ctx) { ctx.say(`${ctx.user.name} cheered ${ctx.event.bits}!`); }"#,
        ),
    ]);
    let ev = |kind| ChannelEvent {
        id: "e1".into(),
        source: EventSource::Simulated,
        user: Some(viewer("carol", &[])),
        kind,
    };
    let out = b
        .host
        .handle_channel_event(&ev(ChannelEventKind::Redemption {
            reward_id: "r".into(),
            reward_title: "play a sound".into(),
            cost: 500,
            user_input: "airhorn".into(),
            redemption_id: "x".into(),
        }));
    assert_eq!(out, vec![Outcome::Queued("rewards/sound".into())]);
    assert_eq!(b.next_text(), "sound: airhorn");
    b.host.handle_channel_event(&ev(ChannelEventKind::Cheer {
        bits: 250,
        message: "gg".into(),
        anonymous: false,
    }));
    assert_eq!(b.next_text(), "CAROL cheered 250!");
    assert!(
        b.host
            .handle_channel_event(&ev(ChannelEventKind::Follow))
            .is_empty()
    );
}

#[test]
fn moderator_changes_run_their_event_scripts_with_the_user() {
    let mut b = bot(&[
        (
            "events/moderator_add.rhai",
            r#"fn run(ctx) { ctx.say(`welcome to the team, ${ctx.user.name}`); }"#,
        ),
        (
            "events/moderator_remove.rhai",
            r#"fn run(ctx) { ctx.say(`thanks for modding, ${ctx.user.name}`); }"#,
        ),
    ]);
    let ev = |kind| ChannelEvent {
        id: "m1".into(),
        source: EventSource::Simulated,
        user: Some(viewer("dave", &[])),
        kind,
    };
    b.host
        .handle_channel_event(&ev(ChannelEventKind::ModeratorAdd));
    assert_eq!(b.next_text(), "welcome to the team, DAVE");
    b.host
        .handle_channel_event(&ev(ChannelEventKind::ModeratorRemove));
    assert_eq!(b.next_text(), "thanks for modding, DAVE");
}

#[test]
fn hot_reload_replaces_registers_and_unregisters_scripts() {
    let mut b = bot(&[
        ("commands/ping.rhai", PING),
        ("commands/hello.rhai", r#"fn run(ctx) { ctx.say("v1"); }"#),
    ]);
    b.host.watch().unwrap();
    b.chat("!hello");
    assert_eq!(b.next_text(), "v1");

    // A new version goes live.
    write(
        b.dir.path(),
        "commands/hello.rhai",
        r#"fn run(ctx) { ctx.say("v2"); }"#,
    );
    assert!(eventually(|| {
        b.host
            .scripts()
            .iter()
            .any(|s| s.settings.is_some() && s.name == "hello")
            && {
                b.chat("!hello");
                b.next_text() == "v2"
            }
    }));

    // A new file registers.
    write(
        b.dir.path(),
        "commands/newcmd.rhai",
        r#"fn run(ctx) { ctx.say("new"); }"#,
    );
    assert!(eventually(|| matches!(
        b.chat("!newcmd"),
        Outcome::Queued(_)
    )));
    assert_eq!(b.next_text(), "new");

    // A syntax error keeps the old version and says where.
    write(
        b.dir.path(),
        "commands/hello.rhai",
        "fn run(ctx) {\n    ctx.say(\"v3\"\n}\n",
    );
    assert!(eventually(|| {
        b.host
            .scripts()
            .iter()
            .any(|s| s.name == "hello" && s.last_error.is_some())
    }));
    let info = b
        .host
        .scripts()
        .into_iter()
        .find(|s| s.name == "hello")
        .unwrap();
    let err = info.last_error.unwrap();
    assert_eq!((err.line, err.col), (3, 1), "{err}");
    assert!(
        err.to_string().starts_with(&format!(
            "{}:3:1: ",
            b.path("commands/hello.rhai").display()
        )),
        "{err}"
    );
    b.chat("!hello");
    assert_eq!(b.next_text(), "v2");

    // A deleted file stops answering.
    std::fs::remove_file(b.path("commands/hello.rhai")).unwrap();
    assert!(eventually(|| !b
        .host
        .scripts()
        .iter()
        .any(|s| s.name == "hello")));
    assert_eq!(b.chat("!hello"), Outcome::Ignored);
    b.assert_silent();
}

#[test]
fn reload_all_counts_and_reports() {
    let mut b = bot(&[("commands/ping.rhai", PING)]);
    assert_eq!(b.host.reload_stats().0, 0);
    write(
        b.dir.path(),
        "commands/bad.rhai",
        "fn run(ctx) { let x = ; }",
    );
    write(
        b.dir.path(),
        "commands/two.rhai",
        r#"fn run(ctx) { ctx.say("two"); }"#,
    );
    let report = b.host.reload_all();
    assert_eq!(
        (report.loaded, report.failed, report.reload_count),
        (2, 1, 1)
    );
    assert_eq!(report.errors[0].line, 1);
    b.chat("!two");
    assert_eq!(b.next_text(), "two");
    // !reload is the broadcaster's.
    assert!(matches!(
        b.chat("!reload"),
        Outcome::Refused(_, Refusal::Permission { .. })
    ));
    assert_eq!(
        b.chat_as("boss", &["broadcaster"], "!reload"),
        Outcome::Builtin
    );
    let answer = b.next_text();
    assert!(
        answer.starts_with("Reloaded 2 scripts (1 failed, 0 removed). First error: "),
        "{answer}"
    );
    assert_eq!(b.host.reload_stats().0, 2);
}

#[test]
fn an_endless_loop_is_stopped_and_the_next_command_answers() {
    let mut b = bot_with(
        &[
            ("commands/ping.rhai", PING),
            (
                "commands/spin.rhai",
                "fn run(ctx) {\n  let n = 0;\n  loop { n = 1; }\n}",
            ),
        ],
        // Only the operations limit stops it (a debug build may be slow enough for the clock).
        |c, _| c.limits.max_run_time = Duration::from_secs(60),
    );
    b.chat("!spin");
    b.assert_silent();
    let err = b
        .host
        .scripts()
        .into_iter()
        .find(|s| s.name == "spin")
        .unwrap()
        .last_error
        .unwrap();
    assert!((1..=3).contains(&err.line), "{err}");
    assert_eq!(err.kind, ErrorKind::Operations, "{err}");
}

#[test]
fn a_slow_script_is_stopped_by_the_wall_clock() {
    let mut b = bot_with(
        &[
            ("commands/ping.rhai", PING),
            (
                "commands/slow.rhai",
                "fn run(ctx) { let n = 0; loop { n += 1; } }",
            ),
        ],
        |c, _| {
            c.limits.max_operations = 0; // unlimited: only the clock can stop it
            c.limits.max_run_time = Duration::from_millis(100);
        },
    );
    b.chat("!slow");
    b.assert_silent();
    let err = b
        .host
        .scripts()
        .into_iter()
        .find(|s| s.name == "slow")
        .unwrap()
        .last_error
        .unwrap();
    assert_eq!(err.kind, ErrorKind::TimeLimit, "{err}");
}

#[test]
fn a_script_exceeding_the_string_limit_is_stopped() {
    let mut b = bot(&[
        ("commands/ping.rhai", PING),
        (
            "commands/big.rhai",
            r#"fn run(ctx) { let s = "xxxxxxxx"; loop { s += s; } ctx.say(s); }"#,
        ),
    ]);
    b.chat("!big");
    b.assert_silent();
    let err = b
        .host
        .scripts()
        .into_iter()
        .find(|s| s.name == "big")
        .unwrap()
        .last_error
        .unwrap();
    assert_eq!(err.kind, ErrorKind::DataSize, "{err}");
}

#[test]
fn a_script_exceeding_the_array_limit_is_stopped() {
    let mut b = bot(&[
        ("commands/ping.rhai", PING),
        (
            "commands/many.rhai",
            "fn run(ctx) { let a = [1]; loop { a += a; } ctx.say(`${a.len()}`); }",
        ),
    ]);
    b.chat("!many");
    b.assert_silent();
    let err = b
        .host
        .scripts()
        .into_iter()
        .find(|s| s.name == "many")
        .unwrap()
        .last_error
        .unwrap();
    assert_eq!(err.kind, ErrorKind::DataSize, "{err}");
}

#[test]
fn endless_recursion_is_stopped_at_the_call_depth() {
    let mut b = bot(&[
        ("commands/ping.rhai", PING),
        (
            "commands/deep.rhai",
            "fn down(n) { down(n + 1) }\nfn run(ctx) { ctx.say(`${down(0)}`); }",
        ),
    ]);
    b.chat("!deep");
    b.assert_silent();
    let err = b
        .host
        .scripts()
        .into_iter()
        .find(|s| s.name == "deep")
        .unwrap()
        .last_error
        .unwrap();
    assert_eq!(err.kind, ErrorKind::CallDepth, "{err}");
}

#[test]
fn scripts_cannot_import_or_eval() {
    let b = bot(&[
        ("commands/imp.rhai", r#"import "os" as os; fn run(ctx) { }"#),
        ("commands/ev.rhai", r#"fn run(ctx) { eval("1"); }"#),
    ]);
    let infos = b.host.scripts();
    let imp = infos.iter().find(|s| s.name == "imp").unwrap();
    let ev = infos.iter().find(|s| s.name == "ev").unwrap();
    assert!(!imp.loaded || imp.last_error.is_some());
    assert!(!ev.loaded, "eval is disabled: {:?}", ev.last_error);
}

#[test]
fn integrations_that_are_off_give_a_clear_error_and_on_they_queue_a_call() {
    let src = r#"fn run(ctx) { ctx.obs.set_scene("BRB"); ctx.say("switched"); }"#;
    let mut b = bot(&[("commands/ping.rhai", PING), ("commands/brb.rhai", src)]);
    b.chat("!brb");
    b.assert_silent();
    let err = b
        .host
        .scripts()
        .into_iter()
        .find(|s| s.name == "brb")
        .unwrap()
        .last_error
        .unwrap();
    assert!(
        err.message
            .contains("OBS is not available (switched off or not configured)"),
        "{err}"
    );

    let mut b = bot_with(&[("commands/brb.rhai", src)], |_, s| {
        s.integrations.set(Subsystem::Obs, true)
    });
    b.chat("!brb");
    match b.rx.blocking_recv() {
        Some(Action::Obs(ObsCall::SetScene { scene })) => assert_eq!(scene, "BRB"),
        other => panic!("expected an OBS call, got {other:?}"),
    }
    assert_eq!(b.next_text(), "switched");
}

#[test]
fn the_store_keeps_values_per_script_between_runs() {
    let mut b = bot(&[
        (
            "commands/count.rhai",
            r#"fn run(ctx) { let n = ctx.store.get("n", 0) + 1; ctx.store.set("n", n); ctx.say(`${n}`); }"#,
        ),
        (
            "commands/other.rhai",
            r#"fn run(ctx) { ctx.say(`other sees ${ctx.store.get("n", "nothing")}`); }"#,
        ),
    ]);
    for want in ["1", "2", "3"] {
        b.chat("!count");
        assert_eq!(b.next_text(), want);
    }
    b.chat("!other");
    assert_eq!(b.next_text(), "other sees nothing");
}

#[test]
fn check_fails_on_a_broken_script_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "commands/ok.rhai", PING);
    write(
        dir.path(),
        "commands/broken.rhai",
        "fn run(ctx) {\n  ctx.say(\"x\") +\n}\n",
    );
    write(
        dir.path(),
        "commands/badperm.rhai",
        "const PERMISSION = \"king\";\nfn run(ctx) {}",
    );
    write(dir.path(), "timers/nointerval.rhai", "fn run(ctx) {}");
    write(dir.path(), "events/folow.rhai", "fn run(ctx) {}");
    let errors = check_dir(dir.path());
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 4, "{shown:#?}");
    let find = |name: &str| {
        errors
            .iter()
            .find(|e| e.file.ends_with(name))
            .unwrap_or_else(|| panic!("{name}: {shown:#?}"))
    };
    let broken = find("broken.rhai");
    assert_eq!((broken.line, broken.col), (3, 1));
    let perm = find("badperm.rhai");
    assert_eq!((perm.line, perm.col), (1, 1));
    assert!(perm.message.contains("king"));
    assert!(find("nointerval.rhai").message.contains("INTERVAL"));
    assert!(find("folow.rhai").message.contains("unknown event"));
}

#[test]
fn every_example_script_compiles_and_its_settings_validate() {
    let dir =
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
            .join("scripts");
    let errors = check_dir(&dir);
    assert!(
        errors.is_empty(),
        "{:#?}",
        errors.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    // And they load into a host: one of each kind at least.
    let (tx, _rx) = mpsc::channel(8);
    let (host, report) = ScriptHost::start(
        HostConfig::new(&dir, "chan"),
        Services::in_memory(),
        Arc::new(tx),
    );
    assert_eq!(report.failed, 0);
    for kind in [
        ScriptKind::Command,
        ScriptKind::Timer,
        ScriptKind::Response,
        ScriptKind::Reward,
        ScriptKind::Event,
    ] {
        assert!(
            host.scripts().iter().any(|s| s.kind == kind),
            "no example {kind}"
        );
    }
}

#[test]
fn the_example_scripts_answer_in_chat() {
    let dir =
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
            .join("scripts");
    let (tx, rx) = mpsc::channel(64);
    let store = Arc::new(MemoryStore::new());
    let services = Services {
        points: store.clone(),
        users: store.clone(),
        store: store.clone(),
        cache: Arc::new(MemoryCache::new()),
        twitch: None,
        http: None,
        integrations: Subsystems::NONE,
        currency: "points".into(),
    };
    let mut config = HostConfig::new(&dir, "chan");
    // One script thread: `assert_silent` relies on jobs running in the order they came.
    config.workers = 1;
    let (host, _) = ScriptHost::start(config, services, Arc::new(tx));
    let mut b = Bot {
        host,
        rx,
        dir: tempfile::tempdir().unwrap(),
        store,
        next_id: 0,
    };
    let me = UserRef {
        id: "id-boss".into(),
        login: "boss".into(),
        display_name: "BOSS".into(),
    };
    b.store.add(&me, 1_000, "test").unwrap();
    let mut ask = |login: &str, text: &str, want: &str| {
        let out = b.chat_as(login, &["broadcaster"], text);
        assert!(matches!(out, Outcome::Queued(_)), "{text}: {out:?}");
        let got = b.next_text();
        assert!(got.contains(want), "{text}: wanted {want:?} in {got:?}");
    };
    ask("boss", "!ping", "pong");
    ask("boss", "!8ball will it work?", "🎱");
    ask("boss", "!dice 2d6+1", "BOSS rolled 2d6+1: ");
    ask("u1", "!roll 3d1", "Use dice notation");
    ask("u2", "!dice x", "Use dice notation");
    ask("boss", "!rps rock", "I picked ");
    ask("u1", "!rps lizard", "Pick one");
    ask("boss", "!slots", "|");
    ask("boss", "!trivia", "Trivia! ");
    ask("boss", "!trivia no idea", "Nope");
    ask("u1", "!quote", "No quotes yet");
    ask(
        "boss",
        "!quote add streamer said a thing",
        "Added quote #1.",
    );
    ask("u2", "!quote 1", "#1: \"streamer said a thing\"");
    ask("u3", "!quote edit 1 better words", "Quote #1 edited.");
    ask("u4", "!quote", "#1: \"better words\"");
    ask("u5", "!quote remove 1", "Quote #1 removed.");
    ask("boss", "!queue join", "You joined the queue at #1.");
    ask("boss", "!q list", "Queue (1): boss");
    ask("boss", "!queue next", "@boss, you're up!");
    ask("boss", "!raffle", "No raffle is open");
    ask("boss", "!raffle open", "A raffle is open!");
    ask("boss", "!raffle", "You're in! (1 entries)");
    ask("boss", "!raffle draw", "The winner out of 1 is @boss!");
    ask("boss", "!lurk", "is now lurking");
    ask("boss", "!unlurk", "You lurked for ");
    ask("boss", "!so @friend", "https://twitch.tv/friend!");
    ask("boss", "!uptime", "can't tell right now");
    ask("boss", "!followage", "can't tell right now");
    ask("boss", "!accountage", "can't tell right now");
    ask("boss", "!watchtime", "has watched for 0s");
    // !slots may have paid out: the balance is 1000 or more.
    ask("boss", "!points top", "1. BOSS (1");
    ask("boss", "!gamble 10", "You ");
    ask("u1", "!gamble 99999999", "You only have 0");
    ask("u2", "!points", "U2 has 0 points.");
    // Sound is off: the reward fails, its cost is refunded, and the failure is recorded.
    let before = b.store.balance("id-boss").unwrap();
    assert!(matches!(
        b.chat_as("boss", &[], "!redeem sound airhorn"),
        Outcome::Queued(_)
    ));
    b.assert_silent();
    assert_eq!(b.store.balance("id-boss").unwrap(), before);
    let err = b
        .host
        .scripts()
        .into_iter()
        .find(|s| s.name == "sound")
        .unwrap()
        .last_error
        .unwrap();
    assert!(err.message.contains("Sound is not available"), "{err}");
    // Responses and events.
    assert!(matches!(
        b.chat_as("u9", &[], "Hello chat"),
        Outcome::Queued(_)
    ));
    assert_eq!(b.next_text(), "Welcome, U9! 👋");
    let ev = ChannelEvent {
        id: "e".into(),
        source: EventSource::Simulated,
        user: Some(viewer("raider", &[])),
        kind: ChannelEventKind::Raid { viewers: 42 },
    };
    b.host.handle_channel_event(&ev);
    assert_eq!(
        b.next_text(),
        "RAIDER is raiding with 42 viewers! Welcome, raiders! 🚀"
    );
    assert_eq!(
        b.next_text(),
        "Go check out RAIDER at https://twitch.tv/raider"
    );
}

// ---- scripts cannot hold up other scripts, and a panic stops one run only ----

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use twitch_bot::scripting::stores::{ScriptStore, StoreError, StreamInfo, TwitchApi};
use twitch_bot::scripting::{ErrorKind, FnSink, ScriptError};

impl Bot {
    /// The script's newest error, waiting up to `secs` for it.
    fn error_within(&self, name: &str, secs: u64) -> ScriptError {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            let err = self
                .host
                .scripts()
                .into_iter()
                .find(|s| s.name == name)
                .and_then(|s| s.last_error);
            match err {
                Some(e) => return e,
                None if Instant::now() < until => std::thread::sleep(Duration::from_millis(5)),
                None => panic!("{name} recorded no error within {secs} s"),
            }
        }
    }

    /// `!ping` is answered, and within `limit`.
    fn ping_within(&mut self, limit: Duration) {
        let asked = Instant::now();
        assert!(matches!(self.chat("!ping"), Outcome::Queued(_)));
        assert_eq!(self.next_text(), "pong");
        let took = asked.elapsed();
        assert!(took < limit, "!ping took {took:?}");
    }
}

#[test]
fn sleep_is_refused_at_once_and_does_not_hold_up_other_commands() {
    let mut b = bot(&[
        ("commands/ping.rhai", PING),
        (
            "commands/nap.rhai",
            "fn run(ctx) {\n  sleep(30);\n  ctx.reply(\"woke\");\n}",
        ),
        (
            "commands/coma.rhai",
            "fn run(ctx) {\n  try { sleep(1e300); } catch { ctx.reply(\"caught\"); }\n}",
        ),
    ]);
    b.chat("!nap");
    b.ping_within(Duration::from_secs(1));
    let err = b.error_within("nap", 1);
    assert_eq!(err.kind, ErrorKind::Forbidden, "{err}");
    assert_eq!((err.line, err.col), (2, 3), "{err}");
    assert!(err.file.ends_with("nap.rhai"), "{err}");
    // A huge sleep is the same stop; `try` cannot swallow it, and the thread lives on.
    b.chat("!coma");
    b.ping_within(Duration::from_secs(1));
    assert_eq!(b.error_within("coma", 1).kind, ErrorKind::Forbidden);
    b.ping_within(Duration::from_secs(1));
    assert!(b.rx.try_recv().is_err(), "nap and coma sent nothing");
}

/// A script store whose backend panics on the key `boom` (a bug reached through a script).
struct PanickyStore(Arc<MemoryStore>);

impl ScriptStore for PanickyStore {
    fn get(&self, script: &str, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        assert_ne!(key, "boom", "the storage backend broke");
        self.0.get(script, key)
    }
    fn set(&self, script: &str, key: &str, value: serde_json::Value) -> Result<(), StoreError> {
        self.0.set(script, key, value)
    }
    fn remove(&self, script: &str, key: &str) -> Result<bool, StoreError> {
        self.0.remove(script, key)
    }
    fn keys(&self, script: &str) -> Result<Vec<String>, StoreError> {
        self.0.keys(script)
    }
}

#[test]
fn a_panic_in_a_run_is_reported_refunded_and_the_bot_goes_on() {
    let mut b = bot_with(
        &[
            ("commands/ping.rhai", PING),
            (
                "commands/boom.rhai",
                "const COST = 10;\nfn run(ctx) {\n  ctx.reply(\"before\");\n  ctx.store.get(\"boom\");\n}",
            ),
        ],
        |_, s| {
            let inner = Arc::new(MemoryStore::new());
            s.store = Arc::new(PanickyStore(inner));
        },
    );
    let alice = UserRef {
        id: "id-alice".into(),
        login: "alice".into(),
        display_name: "ALICE".into(),
    };
    b.store.add(&alice, 100, "test").unwrap();
    for _ in 0..2 {
        b.chat_as("alice", &[], "!boom");
        // (The test harness prints the panic with a backtrace first, which takes a while.)
        b.ping_within(Duration::from_secs(5));
        let err = b.error_within("boom", 1);
        assert_eq!(err.kind, ErrorKind::Internal, "{err}");
        assert!(err.file.ends_with("boom.rhai"), "{err}");
    }
    assert_eq!(
        b.store.balance("id-alice").unwrap(),
        100,
        "both costs refunded"
    );
    assert!(
        b.rx.try_recv().is_err(),
        "a failed run's reply is discarded"
    );
}

#[test]
fn a_script_thread_that_dies_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "commands/ping.rhai", PING);
    write(
        dir.path(),
        "commands/crash.rhai",
        r#"fn run(ctx) { ctx.reply("crash"); }"#,
    );
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let tx = Mutex::new(tx);
    // The outgoing side panics on one message: outside any run, so the thread itself dies.
    let sink = FnSink(move |a: Action| {
        let text = text_of(&a);
        assert_ne!(text, "crash", "the outgoing queue broke");
        let _ = tx.lock().unwrap_or_else(|p| p.into_inner()).send(text);
    });
    let mut config = HostConfig::new(dir.path(), "chan");
    config.workers = 1;
    let (host, _) = ScriptHost::start(config, Services::in_memory(), Arc::new(sink));
    let mut b = Bot {
        host,
        rx: mpsc::channel(1).1,
        dir,
        store: Arc::new(MemoryStore::new()),
        next_id: 0,
    };
    b.chat("!crash");
    std::thread::sleep(Duration::from_millis(100));
    assert!(matches!(b.chat("!ping"), Outcome::Queued(_)));
    assert_eq!(rx.recv_timeout(Duration::from_secs(2)).unwrap(), "pong");
}

#[test]
fn a_busy_script_does_not_delay_another_command() {
    let mut b = bot_with(
        &[
            ("commands/ping.rhai", PING),
            ("commands/busy.rhai", "fn run(ctx) { loop { } }"),
        ],
        |c, _| {
            // As many script threads as the bot has by default.
            c.workers = HostConfig::new("scripts", "chan").workers;
            c.limits.max_operations = 0; // only the clock stops it, after 500 ms
        },
    );
    b.chat("!busy");
    std::thread::sleep(Duration::from_millis(20));
    b.ping_within(Duration::from_millis(300));
    assert_eq!(b.error_within("busy", 2).kind, ErrorKind::TimeLimit);
}

#[test]
fn runs_of_one_script_never_overlap_and_keep_their_order() {
    const COUNT: &str = r#"
fn run(ctx) {
    let n = ctx.store.get("n", 0);
    let i = 0;
    while i < 2000 { i += 1; }
    ctx.store.set("n", n + 1);
    ctx.reply(`${n + 1}`);
}"#;
    let mut b = bot_with(&[("commands/count.rhai", COUNT)], |c, _| c.workers = 4);
    let host = b.host.clone();
    let threads: Vec<_> = (0..5)
        .map(|t| {
            let host = host.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let msg = message(
                        &format!("t{t}-{i}"),
                        viewer(&format!("v{t}"), &[]),
                        "!count",
                    );
                    assert!(matches!(host.handle_chat(&msg), Outcome::Queued(_)));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let replies: Vec<String> = (0..50).map(|_| b.next_text()).collect();
    let expected: Vec<String> = (1..=50).map(|n| n.to_string()).collect();
    assert_eq!(replies, expected);
    assert_eq!(
        b.store.get("commands/count", "n").unwrap(),
        Some(serde_json::json!(50))
    );
}

/// Helix standing in for Twitch: every call takes `delay`.
struct SlowTwitch {
    delay: Duration,
    calls: AtomicUsize,
}

impl SlowTwitch {
    fn wait(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.delay);
    }
}

impl TwitchApi for SlowTwitch {
    fn stream(&self) -> Result<Option<StreamInfo>, String> {
        self.wait();
        Ok(Some(StreamInfo {
            started_at: 0,
            title: "t".into(),
            game: "g".into(),
            viewers: 1,
        }))
    }
    fn followed_at(&self, _: &str) -> Result<Option<i64>, String> {
        self.wait();
        Ok(Some(1))
    }
    fn created_at(&self, _: &str) -> Result<Option<i64>, String> {
        self.wait();
        Ok(Some(1))
    }
    fn last_game(&self, _: &str) -> Result<Option<String>, String> {
        self.wait();
        Ok(None)
    }
}

fn twitch_bot(delay: Duration, files: &[(&str, &str)]) -> (Bot, Arc<SlowTwitch>) {
    let api = Arc::new(SlowTwitch {
        delay,
        calls: AtomicUsize::new(0),
    });
    let given = api.clone();
    let b = bot_with(files, move |c, s| {
        c.workers = 1;
        s.twitch = Some(given);
    });
    (b, api)
}

#[test]
fn network_waits_pause_the_run_time_and_lend_a_thread_to_other_scripts() {
    let (mut b, api) = twitch_bot(
        Duration::from_millis(400),
        &[
            ("commands/ping.rhai", PING),
            (
                "commands/up.rhai",
                "fn run(ctx) { ctx.twitch.stream(); ctx.twitch.created_at(\"alice\"); ctx.reply(\"up\"); }",
            ),
        ],
    );
    b.chat("!up");
    std::thread::sleep(Duration::from_millis(50));
    // One script thread, busy waiting on Helix: another takes the ping.
    b.ping_within(Duration::from_millis(300));
    // 800 ms of waiting is more than the run's 500 ms, but waits do not count.
    assert_eq!(b.next_text(), "up");
    assert_eq!(api.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_run_stops_at_its_network_time() {
    let (mut b, _api) = twitch_bot(
        Duration::from_secs(8),
        &[
            ("commands/ping.rhai", PING),
            (
                "commands/hang.rhai",
                "fn run(ctx) {\n  try { ctx.twitch.stream(); } catch { ctx.reply(\"caught\"); }\n  ctx.reply(\"after\");\n}",
            ),
        ],
    );
    let asked = Instant::now();
    b.chat("!hang");
    b.ping_within(Duration::from_secs(1));
    let err = b.error_within("hang", 7);
    let took = asked.elapsed();
    assert_eq!(err.kind, ErrorKind::NetworkTime, "{err}");
    assert!(
        took >= Duration::from_millis(4_900) && took < Duration::from_millis(6_500),
        "stopped after {took:?}, not at the 5 s network time"
    );
    assert!(err.file.ends_with("hang.rhai") && err.line == 2, "{err}");
    b.ping_within(Duration::from_secs(1));
    assert!(b.rx.try_recv().is_err(), "the stopped run sent nothing");
}

#[test]
fn a_run_stops_at_its_network_call_limit() {
    let (mut b, api) = twitch_bot(
        Duration::ZERO,
        &[
            ("commands/ping.rhai", PING),
            (
                "commands/poll.rhai",
                "fn run(ctx) {\n  for i in 0..100 { try { ctx.twitch.followed_at(\"alice\"); } catch {} }\n  ctx.reply(\"polled\");\n}",
            ),
        ],
    );
    b.chat("!poll");
    let err = b.error_within("poll", 2);
    assert_eq!(err.kind, ErrorKind::NetworkCalls, "{err}");
    assert_eq!(api.calls.load(Ordering::SeqCst), 10);
    b.ping_within(Duration::from_secs(1));
    assert!(b.rx.try_recv().is_err());
}

#[test]
fn a_full_queue_drops_runs_at_once_instead_of_holding_up_chat() {
    let mut b = bot_with(
        &[
            ("commands/ping.rhai", PING),
            ("commands/busy.rhai", "fn run(ctx) { loop { } }"),
        ],
        |c, _| {
            c.queue_capacity = 3;
            c.limits.max_operations = 0;
            c.limits.max_run_time = Duration::from_millis(300);
        },
    );
    let mut dropped = 0;
    for i in 0..10 {
        if i == 1 {
            std::thread::sleep(Duration::from_millis(50)); // the first one is running
        }
        let asked = Instant::now();
        if matches!(b.chat("!busy"), Outcome::Dropped(_)) {
            dropped += 1;
        }
        assert!(asked.elapsed() < Duration::from_millis(50), "chat waited");
    }
    // One runs, three wait, the other six are dropped.
    assert_eq!(dropped, 6);
    std::thread::sleep(Duration::from_millis(1_400));
    b.ping_within(Duration::from_secs(1));
}
