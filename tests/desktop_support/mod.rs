//! Helpers for the desktop integrations' tests (sound, hotkeys, notifications): the real
//! `twitch-bot` binary in `--offline` mode as a child process with an environment of our choosing
//! (the sound card, display and session bus are found through process-wide environment
//! variables), and peer processes stopped by PID when the test ends.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::common::binary::{BotCommand, Running};

pub use super::common::binary::Lines;

/// A child process killed (by its PID) and reaped when dropped.
pub struct Peer {
    pub child: Child,
    pub name: &'static str,
}

impl Peer {
    /// Starts `cmd` with its output discarded unless the command set it up otherwise.
    pub fn spawn(name: &'static str, cmd: &mut Command) -> Peer {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Peer { child, name }
    }

    /// Asks the process to stop with SIGINT/SIGTERM first (so it can flush), then kills it.
    pub fn stop(&mut self, signal: &str) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args([signal, &pid])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Whether `program` is on the PATH; prints `skipped: <reason>` when it is not.
pub fn have(programs: &[&str], test: &str) -> bool {
    for p in programs {
        let found = std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|d| d.join(p).is_file()))
            .unwrap_or(false);
        if !found {
            super::peers::skipped(&format!("{test}: `{p}` is not installed (see .ci/peers/)"));
            return false;
        }
    }
    true
}

/// The folders of one offline bot: `configs/`, `scripts/`, `data/` under a temp dir.
pub struct BotDir {
    pub tmp: tempfile::TempDir,
}

impl BotDir {
    pub fn new() -> BotDir {
        let tmp = tempfile::tempdir().expect("temp dir");
        for d in ["configs", "scripts/commands", "data", "home"] {
            std::fs::create_dir_all(tmp.path().join(d)).expect("mkdir");
        }
        // The offline bot answers `!ping`: the test's "is it alive" check.
        let dir = BotDir { tmp };
        // Tests chat fast as one viewer: the flood filter would delete that.
        dir.write("configs/moderation.yaml", "enabled: false\n");
        // The suite pins chat's transport; a test writing its own bot.yaml pins it there.
        dir.write("configs/bot.yaml", "chat:\n  transport: irc\n");
        dir.write(
            "scripts/commands/ping.rhai",
            "fn run(ctx) { ctx.reply(\"pong\"); }\n",
        );
        dir
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Writes `text` to `rel` under the folder.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.tmp.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }

    /// A fresh HOME for the child processes.
    pub fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }
}

/// The bot binary running `--offline` with chat typed on its stdin.
pub struct Bot {
    process: Running,
    pub stdout: Lines,
    pub stderr: Lines,
}

impl Bot {
    /// Starts the bot in `dir` with the other integrations off, the environment cleared but for
    /// PATH, HOME (`dir/home`) and `env`, plus `flags`.
    pub fn start(dir: &BotDir, flags: &[&str], env: &[(&str, String)]) -> Bot {
        let p = dir.path();
        let mut cmd = BotCommand::in_dir(p)
            .args([
                "--offline",
                "--noconsole",
                "--nozmq",
                "--noobs",
                "--nodiscord",
            ])
            .arg("--notimers")
            .scripts(&p.join("scripts"))
            .args(flags)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.home())
            .env("RUST_LOG", "info")
            .current_dir(p);
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        let process = cmd.spawn();
        let (stdout, stderr) = (process.stdout.clone(), process.stderr.clone());
        let mut bot = Bot {
            process,
            stdout,
            stderr,
        };
        assert!(
            bot.alive(20),
            "the offline bot answers !ping\nstdout: {:#?}\nstderr: {:#?}",
            bot.stdout.all(),
            bot.stderr.all()
        );
        bot
    }

    /// Types `line` into the offline chat.
    pub fn say(&mut self, line: &str) {
        self.process
            .type_line(line)
            .expect("the bot reads its stdin");
    }

    /// Types `line` and waits up to `secs` for the bot's chat answer containing `answer`.
    pub fn ask(&mut self, line: &str, answer: &str, secs: u64) -> Option<String> {
        let from = self.stdout.len();
        self.say(line);
        self.stdout
            .wait_after(from, secs, |l| l.starts_with("[#") && l.contains(answer))
    }

    /// Whether the bot answers `!ping` within `secs` (asking again while it joins).
    pub fn alive(&mut self, secs: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if self.ask("!ping", "pong", 1).is_some() {
                return true;
            }
            if let Some(status) = self.process.try_wait() {
                eprintln!("the bot exited: {status}");
                return false;
            }
        }
        false
    }

    /// Warning lines on stderr so far.
    pub fn warnings(&self) -> Vec<String> {
        self.stderr
            .all()
            .into_iter()
            .filter(|l| l.contains(" WARN "))
            .collect()
    }

    /// Stops the bot as Ctrl-C would.
    pub fn stop(mut self) {
        self.process.stop("-INT");
    }
}
