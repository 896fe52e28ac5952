//! The bot under test: the release binary as a child process, pinned to one core, run in live
//! mode against the fakes with a copy of the committed `configs/` in which only the fakes' URLs
//! change (and what each scenario states: `rate_limit`, filters, a banned term). Also reads its
//! memory and CPU from /proc and sums up its log.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use twitch_bot::config::Config;
use twitch_bot::sim::FakeTwitchApi;

/// The committed configs and scripts this example was built from.
pub fn project_dir() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
}

/// The release binary: `--bot PATH`, else `twitch-bot` next to the folder this example's own
/// executable is in (`target/release/examples/flood` → `target/release/twitch-bot`).
pub fn find_binary(given: Option<&str>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let found = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(format!("twitch-bot{}", std::env::consts::EXE_SUFFIX)))
        .filter(|p| p.is_file());
    found.with_context(|| {
        format!(
            "no twitch-bot binary next to {}: build it with `cargo build --release --bin twitch-bot` \
             or pass --bot <path>",
            exe.display()
        )
    })
}

/// What a scenario changes in the copied configs beyond the fakes' URLs.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// `chat.rate_limit: unlimited` (the throughput flood).
    pub unlimited: bool,
    /// `flood.enabled: false` and `repetition.enabled: false` in moderation.yaml.
    pub filters_off: bool,
    /// A term added to `banned.terms` (the committed list is empty).
    pub banned_term: Option<String>,
}

impl Changes {
    /// The changes, in words, for the report.
    pub fn describe(&self) -> String {
        let mut said = vec!["the fakes' URLs, chat.transport: irc".to_string()];
        if self.unlimited {
            said.push("chat.rate_limit: unlimited".into());
        }
        if self.filters_off {
            said.push("flood and repetition filters off".into());
        }
        if let Some(t) = &self.banned_term {
            said.push(format!("banned.terms: [{t}]"));
        }
        said.join(", ")
    }
}

/// Replaces the value of `key` (in top-level `section` when given) in a YAML file's text,
/// keeping the line's indent and every comment.
///
/// # Errors
/// When the key is not there: the committed file changed shape, and the benchmark would measure
/// something else than it says.
pub fn set_key(
    text: &str,
    section: Option<&str>,
    key: &str,
    value: &str,
) -> anyhow::Result<String> {
    let mut current = None::<&str>;
    let mut done = false;
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if indent.is_empty() && !trimmed.starts_with('#') && trimmed.ends_with(':') {
            current = Some(trimmed.trim_end_matches(':'));
        }
        let in_section = section.is_none_or(|s| current == Some(s));
        if !done
            && in_section
            && trimmed
                .strip_prefix(key)
                .is_some_and(|r| r.starts_with(':'))
        {
            out.push_str(&format!("{indent}{key}: {value}\n"));
            done = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    anyhow::ensure!(
        done,
        "`{key}` not found{} in a committed config",
        section.map_or(String::new(), |s| format!(" under `{s}:`"))
    );
    Ok(out)
}

/// Copies the committed configs (never a local secrets.yaml) into `dir`, points them at the
/// fakes, applies `changes`, and writes a secrets.yaml holding tokens the fake accepts.
fn write_configs(
    dir: &Path,
    api: &FakeTwitchApi,
    chat_url: &str,
    changes: &Changes,
    secrets: &twitch_bot::config::Secrets,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let from = project_dir().join("configs");
    for entry in std::fs::read_dir(&from)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".yaml") && !name.starts_with("secrets") {
            std::fs::copy(&path, dir.join(name))?;
        }
    }
    let bot = dir.join("bot.yaml");
    let mut text = std::fs::read_to_string(&bot)?;
    let base = api.helix_url().trim_end_matches("/helix").to_string();
    for (key, value) in [
        ("chat_url", chat_url.to_string()),
        ("helix_url", api.helix_url()),
        ("eventsub_url", api.eventsub_url()),
        ("auth_url", api.auth_url()),
        // The emote sites: the fake answers 404, the bot goes on without their emotes.
        ("bttv_url", base.clone()),
        ("ffz_url", base.clone()),
        ("seventv_url", base),
    ] {
        text = set_key(&text, None, key, &value)?;
    }
    // The fake chat speaks IRC only; `auto` would pick EventSub, which the fake API offers.
    text = set_key(&text, Some("chat"), "transport", "irc")?;
    if changes.unlimited {
        text = set_key(&text, Some("chat"), "rate_limit", "unlimited")?;
    }
    std::fs::write(&bot, text)?;
    let moderation = dir.join("moderation.yaml");
    let mut text = std::fs::read_to_string(&moderation)?;
    if changes.filters_off {
        text = set_key(&text, Some("flood"), "enabled", "false")?;
        text = set_key(&text, Some("repetition"), "enabled", "false")?;
    }
    if let Some(term) = &changes.banned_term {
        text = set_key(&text, Some("banned"), "terms", &format!("[\"{term}\"]"))?;
    }
    std::fs::write(&moderation, text)?;
    twitch_bot::config::secrets::save(&dir.join("secrets.yaml"), secrets)?;
    Ok(())
}

/// Client id and tokens for the bot and the broadcaster that `api` accepts.
pub fn fake_secrets(api: &FakeTwitchApi) -> twitch_bot::config::Secrets {
    let mut config = Config::default();
    api.configure(&mut config.bot, &mut config.secrets);
    config.secrets
}

/// A running bot process.
pub struct BotProcess {
    child: Child,
    pub pid: u32,
    pub log: PathBuf,
    /// Holds the configs, data and log until the bot is measured.
    _dir: tempfile::TempDir,
}

/// The integrations a streamer's desktop has and this machine has not (OBS, sound, hotkeys,
/// notifications), the console and ZeroMQ (their fixed ports may be taken by other programs
/// here) are switched off by flag; chat, EventSub, timers, moderation, loyalty and stats run.
pub const FLAGS: &[&str] = &[
    "--noobs",
    "--noaudio",
    "--nohotkeys",
    "--nonotify",
    "--noconsole",
    "--nozmq",
];

/// Starts `binary` pinned to `cpu`, in live mode against `api` and the chat at `chat_url`.
pub fn launch(
    binary: &Path,
    cpu: usize,
    api: &FakeTwitchApi,
    chat_url: &str,
    changes: &Changes,
    secrets: &twitch_bot::config::Secrets,
) -> anyhow::Result<BotProcess> {
    let dir = tempfile::tempdir()?;
    let configs = dir.path().join("configs");
    write_configs(&configs, api, chat_url, changes, secrets)?;
    let log = dir.path().join("bot.log");
    let out = std::fs::File::create(&log)?;
    let mut cmd = if super::has_taskset() {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(cpu.to_string()).arg(binary);
        c
    } else {
        eprintln!("taskset not found: the bot is not pinned to one core");
        Command::new(binary)
    };
    cmd.arg("--config")
        .arg(&configs)
        .arg("--scripts")
        .arg(project_dir().join("scripts"))
        .arg("--data")
        .arg(dir.path().join("data"))
        .args(FLAGS)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    // taskset execs the program, so the child's pid is the bot's.
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    Ok(BotProcess {
        pid: child.id(),
        child,
        log,
        _dir: dir,
    })
}

impl BotProcess {
    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// SIGTERM (a clean shutdown, as Ctrl-C), then SIGKILL after 5 s.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Warnings and errors in its log, most frequent first: (count, level and message).
    pub fn log_summary(&self) -> (usize, Vec<(usize, String)>) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut counts: HashMap<String, usize> = HashMap::new();
        let mut lines = 0;
        for line in text.lines() {
            lines += 1;
            let Some(at) = line.find(" WARN ").or_else(|| line.find(" ERROR ")) else {
                continue;
            };
            // Numbers vary between otherwise equal messages: fold them.
            let message: String = line[at..]
                .trim()
                .chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c })
                .take(110)
                .collect();
            *counts.entry(message).or_insert(0) += 1;
        }
        let mut top: Vec<(usize, String)> = counts.into_iter().map(|(m, n)| (n, m)).collect();
        top.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        (lines, top)
    }
}

impl BotProcess {
    /// Keeps the folder with the configs, data and log after the run (`--keep`).
    pub fn keep(&mut self) {
        let dir = std::mem::replace(
            &mut self._dir,
            match tempfile::tempdir() {
                Ok(d) => d,
                Err(_) => return,
            },
        );
        let path = dir.keep();
        println!(
            "  kept the bot's configs, data and log in {}",
            path.display()
        );
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// utime + stime of `pid`, in seconds.
pub fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// A `kB` line of /proc/<pid>/status (`VmHWM:` is the peak RSS).
pub fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Helix calls by kind, as the report groups them: (kind, calls, of which 429).
pub fn helix_by_kind(api: &FakeTwitchApi) -> (Vec<(&'static str, u64, u64)>, u64) {
    let order = [
        "ban",
        "timeout",
        "delete",
        "warnings",
        "shield mode",
        "chat settings",
        "other",
    ];
    let mut rows: Vec<(&'static str, u64, u64)> = order.iter().map(|k| (*k, 0, 0)).collect();
    let mut throttled = 0;
    for ((kind, status), n) in api.tally() {
        let group = match kind.as_str() {
            "POST /moderation/bans (ban)" => "ban",
            "POST /moderation/bans (timeout)" => "timeout",
            "DELETE /moderation/chat" => "delete",
            k if k.ends_with("/moderation/warnings") => "warnings",
            k if k.ends_with("/moderation/shield_mode") => "shield mode",
            k if k.ends_with("/chat/settings") => "chat settings",
            _ => "other",
        };
        if let Some(row) = rows.iter_mut().find(|r| r.0 == group) {
            row.1 += n;
            if status == 429 {
                row.2 += n;
                throttled += n;
            }
        }
    }
    (rows, throttled)
}

/// The Helix lines of a report.
pub fn print_helix(api: &FakeTwitchApi) {
    let (rows, throttled) = helix_by_kind(api);
    let total: u64 = rows.iter().map(|r| r.1).sum();
    let parts: Vec<String> = rows
        .iter()
        .map(|(k, n, t)| {
            if *t > 0 {
                format!("{k} {n} ({t}×429)")
            } else {
                format!("{k} {n}")
            }
        })
        .collect();
    println!("  Helix: {total} calls: {}", parts.join(", "));
    let mut statuses: std::collections::BTreeMap<u16, u64> = std::collections::BTreeMap::new();
    for ((_, status), n) in api.tally() {
        *statuses.entry(status).or_insert(0) += n;
    }
    let statuses: Vec<String> = statuses.iter().map(|(s, n)| format!("{s} ×{n}")).collect();
    println!(
        "  Helix 429 answers: {throttled} (all answers: {})",
        statuses.join(", ")
    );
}

/// The log lines of a report.
pub fn print_log(bot: &BotProcess) {
    let (lines, top) = bot.log_summary();
    let warned: usize = top.iter().map(|t| t.0).sum();
    println!("  bot log: {lines} lines, {warned} warnings/errors; most frequent:");
    for (n, m) in top.iter().take(5) {
        println!("    {n:>7} × {m}");
    }
}
