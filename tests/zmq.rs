//! ZeroMQ against a real libzmq subscriber (pyzmq in a Python subprocess): the offline bot
//! publishes chat lines, follows and scripts' own topics as `[topic, JSON]`; a port already in
//! use is a warning and a Down in the health panel, and the bot runs on.
//!
//! Needs Python 3 with pyzmq (`.ci/peers/zmq.sh` installs Debian's python3-zmq); without it the
//! tests print `skipped:` and pass, or fail under `TB_REQUIRE_PEERS=1` (as in CI).

mod common;
mod peers;

use std::process::Stdio;
use std::time::Duration;
use twitch_bot::subsystems::Subsystem;

use common::{copy_scripts, offline_settings, start_ready};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use twitch_bot::app::Bot;
use twitch_bot::config::Config;
use twitch_bot::event::{ConnectionState, Service};
use twitch_bot::sim::{SimEvent, Viewer};

/// A SUB socket in Python: connects, subscribes to the given prefixes, prints every message as
/// one JSON line `{"frames": n, "topic": "...", "data": <the JSON frame>}`.
const SUBSCRIBER: &str = r#"
import json, sys, zmq
sub = zmq.Context().socket(zmq.SUB)
sub.connect(sys.argv[1])
for prefix in sys.argv[2:]:
    sub.setsockopt(zmq.SUBSCRIBE, prefix.encode())
while True:
    frames = sub.recv_multipart()
    data = json.loads(frames[1]) if len(frames) > 1 else None
    print(json.dumps({"frames": len(frames), "topic": frames[0].decode(), "data": data}), flush=True)
"#;

/// A Python that can `import zmq`, if any.
fn python_with_zmq() -> Option<&'static str> {
    ["python3", "/usr/bin/python3", "python"]
        .into_iter()
        .find(|py| {
            std::process::Command::new(py)
                .args(["-c", "import zmq"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

/// The subscriber process; killed when dropped.
struct Subscriber {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Subscriber {
    fn start(python: &str, endpoint: &str, prefixes: &[&str]) -> Subscriber {
        let mut child = Command::new(python)
            .arg("-c")
            .arg(SUBSCRIBER)
            .arg(endpoint)
            .args(prefixes)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the Python subscriber starts");
        let stdout = child.stdout.take().expect("piped stdout");
        Subscriber {
            _child: child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// The next message whose topic is `topic` and that `pred` accepts, within `wait`.
    async fn next(
        &mut self,
        topic: &str,
        wait: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let line = match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Ok(Ok(Some(line))) => line,
                _ => return None,
            };
            let msg: Value = serde_json::from_str(&line).expect("the subscriber prints JSON");
            if msg["topic"] == topic && pred(&msg) {
                return Some(msg);
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The offline bot (simulated Twitch) with ZeroMQ on at `bind` and `extra` scripts added.
async fn start_offline(bind: &str, extra: &[(&str, &str)]) -> (Bot, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = copy_scripts(dir.path(), extra);
    let mut settings = offline_settings(dir.path(), scripts);
    settings.enabled.set(Subsystem::Zmq, true);
    let mut config = Config::default();
    config.bot.zmq.bind = bind.to_string();
    let bot = start_ready(settings, config).await;
    (bot, dir)
}

const CONFETTI: &str = r#"
const DESCRIPTION = "Confetti on the overlay.";
fn run(ctx) {
    ctx.zmq.publish("overlay.confetti", #{ user: ctx.user.login, pieces: 3 });
}
"#;

#[tokio::test]
async fn chat_follows_and_script_topics_reach_a_libzmq_subscriber() {
    let Some(python) = python_with_zmq() else {
        peers::skipped("no Python with pyzmq (run .ci/peers/zmq.sh)");
        return;
    };
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let (bot, _dir) = start_offline(&endpoint, &[("commands/confetti.rhai", CONFETTI)]).await;
    assert_eq!(
        bot.health.get(Service::Zmq),
        Some(ConnectionState::Connected)
    );
    let sim = bot.sim().expect("offline");
    let mut sub = Subscriber::start(python, &endpoint, &["chat.message", "follow", "overlay."]);

    // Slow joiner: what is published before the subscription reaches the bot is lost, so chat
    // probes until one arrives.
    let prober = Viewer::new("prober");
    let mut joined = false;
    for n in 0..100 {
        sim.chat_as(&prober, &format!("probe {n}")).await;
        if sub
            .next("chat.message", Duration::from_millis(100), |_| true)
            .await
            .is_some()
        {
            joined = true;
            break;
        }
    }
    assert!(joined, "the subscriber receives chat within 10 s");

    let alice = Viewer::new("alice");
    sim.chat_as(&alice, "hello from alice").await;
    let chat = sub
        .next("chat.message", Duration::from_secs(5), |m| {
            m["data"]["data"]["text"] == "hello from alice"
        })
        .await
        .expect("alice's line is published");
    assert_eq!(chat["frames"], 2, "two frames: topic and JSON");
    assert_eq!(chat["data"]["kind"], "chat");
    assert_eq!(chat["data"]["data"]["sender"]["login"], "alice");
    assert_eq!(chat["data"]["data"]["channel"], bot.channel());

    let bob = Viewer::new("bob");
    sim.fire(&bob, &SimEvent::Follow).await;
    // Published once the follow's hold (follow_waves.hold_secs) is over.
    let follow = sub
        .next("follow", Duration::from_secs(10), |_| true)
        .await
        .expect("the follow is published");
    assert_eq!(follow["frames"], 2);
    assert_eq!(follow["data"]["kind"], "channel");
    assert_eq!(follow["data"]["data"]["kind"]["type"], "follow");
    assert_eq!(follow["data"]["data"]["user"]["login"], "bob");

    sim.chat_as(&alice, "!confetti").await;
    let confetti = sub
        .next("overlay.confetti", Duration::from_secs(5), |_| true)
        .await
        .expect("the script's own topic is published");
    assert_eq!(confetti["frames"], 2);
    assert_eq!(
        confetti["data"],
        serde_json::json!({ "user": "alice", "pieces": 3 })
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn a_port_in_use_is_a_warning_and_the_bot_runs_on() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let endpoint = format!("tcp://{}", taken.local_addr().expect("addr"));
    let (bot, _dir) = start_offline(&endpoint, &[("commands/confetti.rhai", CONFETTI)]).await;
    match bot.health.get(Service::Zmq) {
        Some(ConnectionState::Down { reason }) => {
            assert!(reason.contains("zmq.bind"), "names the setting: {reason}");
            assert!(reason.contains(&endpoint), "names the address: {reason}");
        }
        other => panic!("ZeroMQ is down in the health panel, not {other:?}"),
    }
    // The bot still answers in chat, including a command that tries to publish.
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let alice = Viewer::new("alice");
    sim.chat_as(&alice, "!confetti").await;
    sim.chat_as(&alice, "!ping").await;
    let pong = common::wait_line(&mut lines, 5, |l| {
        l.privmsg().is_some_and(|m| m.text.contains("pong"))
    })
    .await;
    assert!(
        pong.is_some(),
        "the bot answers !ping after a failed publish"
    );
    bot.shutdown().await;
}
