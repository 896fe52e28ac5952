//! Desktop notifications on a private D-Bus session bus with a small notification server (Python
//! and jeepney) that owns `org.freedesktop.Notifications` and writes down every `Notify` call:
//! a crash leaves `crash.log` and a notification, configured events notify, and no bus (or a
//! server that never answers) does not take the bot down.

mod common;
mod desktop_support;
mod peers;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use desktop_support::{Bot, BotDir, Lines, Peer, have};

/// A session bus with nothing to auto-start: only our server answers.
const BUS_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=SOCKET</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#;

/// The notification server: `server.py <bus address> <record file> [silent]`. A silent server
/// takes Notify calls (and records them) but never answers them.
const SERVER: &str = r#"
import json, sys
from jeepney import MessageType, HeaderFields, new_method_return, new_error
from jeepney.io.blocking import open_dbus_connection
from jeepney.bus_messages import message_bus

address, record = sys.argv[1], sys.argv[2]
silent = len(sys.argv) > 3 and sys.argv[3] == "silent"
conn = open_dbus_connection(bus=address)
reply = conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.Notifications", 4))
if reply.body[0] != 1:
    sys.exit("cannot own org.freedesktop.Notifications")
print("ready", flush=True)
last = 0
while True:
    try:
        msg = conn.receive()
    except (ConnectionError, OSError):
        sys.exit(0)  # the bus has gone: the test is over
    if msg.header.message_type != MessageType.method_call:
        continue
    member = msg.header.fields.get(HeaderFields.member)
    if member == "Notify":
        app, _replaces, _icon, summary, body = msg.body[:5]
        with open(record, "a") as f:
            f.write(json.dumps({"app": app, "summary": summary, "body": body}) + "\n")
        if not silent:
            last += 1
            conn.send(new_method_return(msg, "u", (last,)))
    elif member == "GetServerInformation":
        conn.send(new_method_return(msg, "ssss", ("test-notifyd", "twitch-bot tests", "1.0", "1.2")))
    elif member == "GetCapabilities":
        conn.send(new_method_return(msg, "as", (["body"],)))
    else:
        conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s", (str(member),)))
"#;

/// A Python with jeepney (Debian's python3-jeepney lives in the system Python).
fn python() -> Option<String> {
    ["/usr/bin/python3", "python3"].into_iter().find_map(|p| {
        Command::new(p)
            .args(["-c", "import jeepney"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()
            .filter(|s| s.success())
            .map(|_| p.to_string())
    })
}

fn peers_here(test: &str) -> Option<String> {
    if !have(&["dbus-daemon"], test) {
        return None;
    }
    let python = python();
    if python.is_none() {
        peers::skipped(&format!(
            "{test}: no Python with jeepney (see .ci/peers/dbus.sh)"
        ));
    }
    python
}

/// A private session bus and the notification server on it.
struct Desktop {
    _bus: Peer,
    server: Peer,
    address: String,
    record: PathBuf,
    _dir: tempfile::TempDir,
}

impl Desktop {
    fn start(python: &str, silent: bool) -> Desktop {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            BUS_CONFIG.replace("SOCKET", &socket.display().to_string()),
        )
        .expect("bus config");
        let bus = Peer::spawn(
            "dbus-daemon",
            Command::new("dbus-daemon")
                .arg(format!("--config-file={}", config.display()))
                .args(["--nofork", "--nopidfile"])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "dbus-daemon made no socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        let address = format!("unix:path={}", socket.display());
        let script = dir.path().join("server.py");
        std::fs::write(&script, SERVER).expect("server script");
        let record = dir.path().join("notifications.jsonl");
        let mut cmd = Command::new(python);
        cmd.arg(&script).arg(&address).arg(&record);
        if silent {
            cmd.arg("silent");
        }
        let mut server = Peer::spawn(
            "notification server",
            cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()),
        );
        let ready = Lines::default();
        ready.follow(server.child.stdout.take().expect("stdout"));
        ready
            .wait(30, |l| l == "ready")
            .expect("the notification server owns its name");
        Desktop {
            _bus: bus,
            server,
            address,
            record,
            _dir: dir,
        }
    }

    /// Every Notify call so far, as (summary, body).
    fn notifications(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&self.record).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| {
                assert_eq!(v["app"], "twitch-bot", "the app name shows: {v}");
                (
                    v["summary"].as_str().unwrap_or_default().to_string(),
                    v["body"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Waits up to `secs` for at least `n` notifications.
    fn wait_for(&self, n: usize, secs: u64) -> Vec<(String, String)> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let all = self.notifications();
            if all.len() >= n || Instant::now() >= deadline {
                return all;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Run by [`a_crash_leaves_a_log_and_a_notification`] as a child process: installs the crash
/// hook as `main` does and panics.
#[test]
#[ignore = "a child process of a_crash_leaves_a_log_and_a_notification"]
fn crash_child() {
    let Some(data) = std::env::var_os("TB_CRASH_DATA") else {
        return;
    };
    let notify = std::env::var("TB_CRASH_NOTIFY").as_deref() == Ok("1");
    twitch_bot::integrations::notify::crash::install(Path::new(&data), notify);
    panic!("forced crash for the test");
}

fn crash(data: &Path, bus: &str, notify: bool) -> std::process::Output {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", "crash_child", "--ignored", "--nocapture"])
        .env("TB_CRASH_DATA", data)
        .env("TB_CRASH_NOTIFY", if notify { "1" } else { "0" })
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .output()
        .expect("the test binary runs")
}

#[test]
fn a_crash_leaves_a_log_and_a_notification() {
    let Some(python) = peers_here("crash notification on D-Bus") else {
        return;
    };
    let desktop = Desktop::start(&python, false);
    let data = tempfile::tempdir().expect("temp dir");
    let log = data.path().join("crash.log");

    let out = crash(data.path(), &desktop.address, true);
    assert!(!out.status.success(), "the child crashed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("crashed: thread") && stderr.contains("forced crash for the test"),
        "the panic is printed: {stderr}"
    );
    assert!(
        stderr.contains("stack backtrace:") && stderr.contains("crash_child"),
        "with its backtrace: {stderr}"
    );
    let report = std::fs::read_to_string(&log).expect("crash.log is written");
    assert!(report.starts_with("=== 20"), "with the time: {report}");
    assert!(
        report.contains(&format!("twitch-bot {}", env!("CARGO_PKG_VERSION"))),
        "with the version: {report}"
    );
    assert!(report.contains("forced crash for the test") && report.contains("crash_child"));
    let notes = desktop.wait_for(1, 20);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].0, "twitch-bot crashed");
    assert!(
        notes[0].1.contains("forced crash for the test")
            && notes[0].1.contains(&log.display().to_string()),
        "the notification says what and where the report is: {:?}",
        notes[0].1
    );

    // With notifications off (--nonotify) the report is appended, and nothing pops up.
    let out = crash(data.path(), &desktop.address, false);
    assert!(!out.status.success());
    let report = std::fs::read_to_string(&log).expect("crash.log");
    assert_eq!(
        report.matches("forced crash for the test").count(),
        2,
        "appended"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(desktop.notifications().len(), 1, "no second notification");
}

#[test]
fn a_crash_without_a_session_bus_still_writes_the_log() {
    let data = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let out = crash(data.path(), "unix:path=/nonexistent/bus", true);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("crash notification could not be sent"),
        "says the notification failed: {stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let report = std::fs::read_to_string(data.path().join("crash.log")).expect("crash.log");
    assert!(report.contains("forced crash for the test"));
}

fn events_dir() -> BotDir {
    let dir = BotDir::new();
    dir.write(
        "configs/bot.yaml",
        "chat:\n  transport: irc\nnotifications:\n  on_crash: true\n  events: [follow]\n",
    );
    dir
}

#[test]
fn listed_events_notify_and_others_do_not() {
    let Some(python) = peers_here("event notifications on D-Bus") else {
        return;
    };
    let desktop = Desktop::start(&python, false);
    let dir = events_dir();
    let mut bot = Bot::start(
        &dir,
        &["--noaudio", "--nohotkeys"],
        &[("DBUS_SESSION_BUS_ADDRESS", desktop.address.clone())],
    );
    bot.stderr
        .wait(30, |l| l.contains("Notify: connected"))
        .expect("notifications come up");
    // The simulator delivers a /follow only once EventSub has subscribed.
    bot.stderr
        .wait(30, |l| l.contains("EventSub: connected"))
        .expect("EventSub is up");
    bot.say("/follow alice");
    let notes = desktop.wait_for(1, 20);
    assert_eq!(
        notes,
        vec![(
            "twitch-bot: follow".to_string(),
            "Alice followed".to_string()
        )]
    );
    // A raid is not listed; the follow after it is, and arrives alone after alice's.
    bot.say("/raid bob 5");
    std::thread::sleep(Duration::from_millis(500));
    bot.say("/follow carol");
    let notes = desktop.wait_for(2, 20);
    assert_eq!(
        notes.iter().map(|n| n.1.as_str()).collect::<Vec<_>>(),
        vec!["Alice followed", "Carol followed"]
    );
    assert!(bot.alive(5));
    bot.stop();
}

#[test]
fn a_server_that_never_answers_does_not_hold_up_the_bot() {
    let Some(python) = peers_here("a silent notification server") else {
        return;
    };
    let desktop = Desktop::start(&python, true);
    let dir = events_dir();
    // Fifty follows in a row are a follow-bot wave, which alerts nothing: here they stand for
    // fifty ordinary notifications.
    dir.write(
        "configs/moderation.yaml",
        "follow_waves:\n  enabled: false\n",
    );
    let mut bot = Bot::start(
        &dir,
        &["--noaudio", "--nohotkeys"],
        &[("DBUS_SESSION_BUS_ADDRESS", desktop.address.clone())],
    );
    // The simulator delivers a /follow only once EventSub has subscribed.
    bot.stderr
        .wait(30, |l| l.contains("EventSub: connected"))
        .expect("EventSub is up");
    for i in 0..50 {
        bot.say(&format!("/follow viewer{i}"));
    }
    assert!(
        desktop.wait_for(1, 20).len() == 1,
        "the first Notify reached the server"
    );
    assert!(bot.alive(20), "chat is answered while the server hangs");
    drop(desktop.server);
    bot.stop();
}

#[test]
fn no_session_bus_is_one_warning_and_the_bot_goes_on() {
    let dir = events_dir();
    let home = dir.home().display().to_string();
    let mut bot = Bot::start(
        &dir,
        &["--noaudio", "--nohotkeys"],
        &[
            (
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent/bus".into(),
            ),
            ("XDG_RUNTIME_DIR", home),
        ],
    );
    let down = bot
        .stderr
        .wait(30, |l| l.contains("WARN") && l.contains("Notify: down"))
        .expect("one warning that notifications are off");
    assert!(
        down.contains("--nonotify"),
        "says how to switch them off: {down}"
    );
    // The simulator delivers a /follow only once EventSub has subscribed.
    bot.stderr
        .wait(30, |l| l.contains("EventSub: connected"))
        .expect("EventSub is up");
    for who in ["a", "b", "c"] {
        bot.say(&format!("/follow {who}"));
    }
    assert!(bot.alive(5));
    let said: Vec<_> = bot
        .warnings()
        .into_iter()
        .filter(|l| l.contains("Notify") || l.contains("notification"))
        .collect();
    assert_eq!(said.len(), 1, "{said:#?}");
    bot.stop();
}
