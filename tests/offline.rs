//! The real binary in `--offline` mode, driven through its terminal as a new user would.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn typing_ping_in_the_offline_terminal_prints_pong_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_twitch-bot"))
        .args([
            "--offline",
            "--noconsole",
            "--nozmq",
            "--noobs",
            "--noaudio",
            "--nohotkeys",
            "--nonotify",
        ])
        .arg("--config")
        .arg(dir.path().join("configs"))
        .arg("--data")
        .arg(dir.path().join("data"))
        .arg("--scripts")
        .arg(
            std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
                .join("scripts"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stdin = child.stdin.take().expect("stdin");
    // Type `!ping` until the bot has joined and answers (the first lines may race the join).
    let mut answered = false;
    for _ in 0..50 {
        writeln!(stdin, "!ping").expect("typing works");
        stdin.flush().expect("flush");
        let deadline = std::time::Instant::now() + Duration::from_millis(200);
        while let Ok(line) =
            rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
        {
            if line.ends_with(": pong") {
                answered = true;
                break;
            }
        }
        if answered {
            break;
        }
    }
    assert!(answered, "the bot printed pong");

    #[cfg(unix)]
    {
        let pid = child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let exit = loop {
            if let Some(exit) = child.try_wait().expect("wait") {
                break Some(exit);
            }
            if std::time::Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = child.kill();
        assert_eq!(
            exit.and_then(|e| e.code()),
            Some(0),
            "SIGTERM gives a clean exit"
        );
    }
    #[cfg(not(unix))]
    {
        let _ = child.kill();
    }
}

#[test]
fn a_config_that_does_not_load_exits_with_the_code_a_restart_cannot_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let configs = dir.path().join("configs");
    std::fs::create_dir_all(&configs).expect("configs");
    std::fs::write(configs.join("bot.yaml"), "chat:\n  rate_limit: sometimes\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_twitch-bot"))
        .args([
            "--offline",
            "--noconsole",
            "--nozmq",
            "--noobs",
            "--noaudio",
        ])
        .args(["--nohotkeys", "--nonotify"])
        .arg("--config")
        .arg(&configs)
        .arg("--data")
        .arg(dir.path().join("data"))
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(i32::from(twitch_bot::exit::CONFIG)),
        "{stderr}"
    );
    assert!(
        stderr.contains("bot.yaml:2:"),
        "names file and line: {stderr}"
    );
    assert!(stderr.contains("rate_limit"), "and the key: {stderr}");
}
