//! The built `twitch-bot` binary as a child process, the one way every test starts it: folders
//! and flags on a [`BotCommand`], then either [`BotCommand::output`] (run to the end, like
//! `Command::output`) or [`BotCommand::spawn`], a [`Running`] bot whose stdout and stderr are
//! read line by line on threads of their own, that takes typed lines on its stdin, and that is
//! killed and reaped when dropped, so a failing test leaves no bot behind.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binary cargo built for this test run.
pub const PATH: &str = env!("CARGO_BIN_EXE_twitch-bot");

/// Lines a child wrote, shared with the thread reading them.
#[derive(Clone, Default)]
pub struct Lines(Arc<(Mutex<Vec<String>>, Condvar)>);

impl Lines {
    /// Collects the lines `from` writes, on a thread of its own.
    pub fn follow(&self, from: impl Read + Send + 'static) -> JoinHandle<()> {
        self.follow_into(from, None)
    }

    /// As [`Lines::follow`], also copying every line to `also`.
    fn follow_into(&self, from: impl Read + Send + 'static, also: Option<Lines>) -> JoinHandle<()> {
        let lines = self.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(from).lines() {
                let Ok(line) = line else { break };
                if let Some(also) = &also {
                    also.push(line.clone());
                }
                lines.push(line);
            }
        })
    }

    fn push(&self, line: String) {
        let (all, changed) = &*self.0;
        all.lock().expect("lines").push(line);
        changed.notify_all();
    }

    /// Everything so far.
    pub fn all(&self) -> Vec<String> {
        self.0.0.lock().expect("lines").clone()
    }

    /// Everything so far, one line after another.
    pub fn text(&self) -> String {
        self.all().join("\n")
    }

    /// How many lines so far.
    pub fn len(&self) -> usize {
        self.0.0.lock().expect("lines").len()
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits up to `secs` for a line after the first `skip` that satisfies `pred`.
    pub fn wait_after(
        &self,
        skip: usize,
        secs: u64,
        pred: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let (all, changed) = &*self.0;
        let mut guard = all.lock().expect("lines");
        loop {
            if let Some(l) = guard.iter().skip(skip).find(|l| pred(l)) {
                return Some(l.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            guard = changed
                .wait_timeout(guard, deadline - now)
                .expect("lines")
                .0;
        }
    }

    /// Waits up to `secs` for any line that satisfies `pred`.
    pub fn wait(&self, secs: u64, pred: impl Fn(&str) -> bool) -> Option<String> {
        self.wait_after(0, secs, pred)
    }

    /// The line at `*at`, waiting up to `timeout` for it to be written; moves `at` past it.
    pub fn next(&self, at: &mut usize, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let (all, changed) = &*self.0;
        let mut guard = all.lock().expect("lines");
        loop {
            if let Some(line) = guard.get(*at) {
                *at += 1;
                return Some(line.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            guard = changed
                .wait_timeout(guard, deadline - now)
                .expect("lines")
                .0;
        }
    }
}

/// The flags that switch off every integration with a peer next to the streamer's PC (ZeroMQ,
/// OBS, sound, hotkeys, desktop notifications).
pub const NO_PEERS: [&str; 5] = [
    "--nozmq",
    "--noobs",
    "--noaudio",
    "--nohotkeys",
    "--nonotify",
];

/// How to start the binary: its arguments, environment and stdin.
pub struct BotCommand {
    cmd: Command,
    stdin: bool,
}

impl Default for BotCommand {
    fn default() -> Self {
        BotCommand::new()
    }
}

impl BotCommand {
    /// The binary with no arguments yet.
    pub fn new() -> BotCommand {
        BotCommand {
            cmd: Command::new(PATH),
            stdin: true,
        }
    }

    /// The binary confined to one CPU with `taskset -c 0`, as a streamer pins it next to OBS:
    /// the bot then runs tokio's current-thread scheduler.
    #[allow(dead_code)]
    pub fn on_one_cpu() -> BotCommand {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "0", PATH]);
        BotCommand { cmd, stdin: true }
    }

    /// `--config <dir>/configs --data <dir>/data`.
    pub fn in_dir(dir: &Path) -> BotCommand {
        BotCommand::new().folders(&dir.join("configs"), &dir.join("data"))
    }

    /// `--config <configs> --data <data>`.
    pub fn folders(self, configs: &Path, data: &Path) -> BotCommand {
        self.arg("--config").arg(configs).arg("--data").arg(data)
    }

    /// `--scripts <dir>`.
    pub fn scripts(self, dir: &Path) -> BotCommand {
        self.arg("--scripts").arg(dir)
    }

    /// `--scripts` with the project's example scripts.
    pub fn example_scripts(self) -> BotCommand {
        self.scripts(&super::example_scripts())
    }

    /// One more argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> BotCommand {
        self.cmd.arg(arg);
        self
    }

    /// More arguments.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> BotCommand {
        self.cmd.args(args);
        self
    }

    /// An environment variable for the child.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> BotCommand {
        self.cmd.env(key, value);
        self
    }

    /// No environment variables but those set afterwards.
    pub fn env_clear(mut self) -> BotCommand {
        self.cmd.env_clear();
        self
    }

    /// The child's working folder.
    pub fn current_dir(mut self, dir: &Path) -> BotCommand {
        self.cmd.current_dir(dir);
        self
    }

    /// Stdin closed from the start, as when run with `< /dev/null`.
    pub fn no_stdin(mut self) -> BotCommand {
        self.stdin = false;
        self
    }

    /// Runs the binary to its end with stdin closed; its exit status and everything it printed.
    pub fn output(mut self) -> Output {
        self.cmd.output().expect("the binary runs")
    }

    /// As [`BotCommand::output`], on a blocking thread so an async test's fakes keep serving;
    /// `None` when it had not ended after `secs` (it is killed then).
    pub async fn output_within(self, secs: u64) -> Option<Output> {
        tokio::task::spawn_blocking(move || {
            let mut bot = self.no_stdin().spawn();
            bot.wait_exit(secs)?;
            Some(bot.finish_output())
        })
        .await
        .expect("the waiting thread ends")
    }

    /// Starts the binary with stdout and stderr read line by line.
    pub fn spawn(mut self) -> Running {
        let stdin = if self.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let mut child = self
            .cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let (stdout, stderr, both) = (Lines::default(), Lines::default(), Lines::default());
        let readers = vec![
            stdout.follow_into(child.stdout.take().expect("stdout"), Some(both.clone())),
            stderr.follow_into(child.stderr.take().expect("stderr"), Some(both.clone())),
        ];
        Running {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            both,
            readers,
            read_stdout: 0,
            read_both: 0,
        }
    }
}

/// The binary running; killed and reaped when dropped.
pub struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    /// What it printed on stdout so far.
    pub stdout: Lines,
    /// What it printed on stderr (its log) so far.
    pub stderr: Lines,
    /// Stdout and stderr in the order the lines were read.
    pub both: Lines,
    readers: Vec<JoinHandle<()>>,
    read_stdout: usize,
    read_both: usize,
}

impl Running {
    /// Types `line` into its terminal (an error once it stopped reading).
    pub fn type_line(&mut self, line: &str) -> std::io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("stdin is closed"))?;
        writeln!(stdin, "{line}")?;
        stdin.flush()
    }

    /// Closes its stdin, as Ctrl-D would.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next stdout line not returned before, waiting up to `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        self.stdout.next(&mut self.read_stdout, timeout)
    }

    /// The next line of stdout or stderr not returned before, waiting up to `timeout`.
    pub fn next_output_line(&mut self, timeout: Duration) -> Option<String> {
        self.both.next(&mut self.read_both, timeout)
    }

    /// Marks every line printed so far as read by [`Running::next_line`] and
    /// [`Running::next_output_line`].
    pub fn skip_read(&mut self) {
        self.read_stdout = self.stdout.len();
        self.read_both = self.both.len();
    }

    /// Types `line` (again every 200 ms, at most 50 times: the first lines may race the bot's
    /// join) until it prints a stdout line that satisfies `pred`. Only for lines that may repeat.
    pub fn type_until(&mut self, line: &str, pred: impl Fn(&str) -> bool) -> bool {
        for _ in 0..50 {
            self.type_line(line).expect("typing works");
            let deadline = Instant::now() + Duration::from_millis(200);
            while let Some(out) = self.next_line(deadline.saturating_duration_since(Instant::now()))
            {
                if pred(&out) {
                    return true;
                }
            }
        }
        false
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends it `signal` (`-TERM`, `-INT`) through `kill`; whether `kill` succeeded.
    pub fn signal(&self, signal: &str) -> bool {
        Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Its exit status if it has ended.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("wait")
    }

    /// Waits up to `secs` for it to end.
    pub fn wait_exit(&mut self, secs: u64) -> Option<ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(exit) = self.try_wait() {
                return Some(exit);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it (SIGKILL: no shutdown, no flush) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks it to stop with `signal` (so it can flush), and kills it after 3 s.
    pub fn stop(&mut self, signal: &str) {
        self.signal(signal);
        if self.wait_exit(3).is_none() {
            self.kill();
        }
    }

    /// Waits for it to end (killing it after 10 s) and for its output to be read; what it
    /// printed on stdout and on stderr.
    pub fn finish(mut self) -> (String, String) {
        if self.wait_exit(10).is_none() {
            self.kill();
        }
        self.close_stdin();
        for reader in std::mem::take(&mut self.readers) {
            let _ = reader.join();
        }
        (self.stdout.text(), self.stderr.text())
    }

    /// As [`Running::finish`], as a `std::process::Output`.
    fn finish_output(mut self) -> Output {
        let status = self.wait_exit(10).unwrap_or_else(|| {
            self.kill();
            self.child.wait().expect("wait")
        });
        let (stdout, stderr) = self.finish();
        Output {
            status,
            stdout: with_newlines(stdout),
            stderr: with_newlines(stderr),
        }
    }
}

/// `text` (lines joined by `\n`) as the bytes a program printed, each line ended.
fn with_newlines(text: String) -> Vec<u8> {
    if text.is_empty() {
        Vec::new()
    } else {
        format!("{text}\n").into_bytes()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
