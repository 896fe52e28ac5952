//! Soak with injected faults: the bot in live mode (a real secrets.yaml, token refresh and all)
//! against the simulated Twitch for a long time, while the simulator misbehaves the way Twitch
//! and networks do. Reports, every few minutes and at the end, whether the bot still answers,
//! whether every channel event it was sent was paid exactly once, and whether secrets.yaml still
//! holds every value it held at start (apart from the rotated tokens).
//!
//! ```text
//! cargo run --release --example soak -- --minutes 120
//! cargo run --release --example soak -- --minutes 10 --report-every 1   # a quick look
//! ```
//!
//! Faults, each on its own period (`--speed 2` halves every period):
//! - Helix answers 503 to the next 20 requests (every 3 min) and 429 with `Ratelimit-Reset` to
//!   the next 10 (every 4 min);
//! - the chat socket is dropped (every 5 min) and the EventSub socket too (every 6 min);
//! - every access token expires (every 10 min), so Helix and EventSub must refresh;
//! - a script that sleeps for 30 s and one that asks to sleep for 1e300 s run (every 2 min).
//!
//! Meanwhile a regular viewer types `!ping` every second, 20 other lines a second come in, and
//! every 7 s a follow, a cheer or a gift arrives over EventSub (some sent twice with the same
//! message id, as Twitch may). The exit code is 0 only when every check holds.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use twitch_bot::subsystems::Subsystem;

use argh::FromArgs;
use twitch_bot::app::{Bot, Settings};
use twitch_bot::config::Config;
use twitch_bot::sim::{SimEvent, SimTwitch, Viewer};

/// Runs the bot for a long time against a simulated Twitch that keeps failing.
#[derive(FromArgs)]
struct Args {
    /// how long to run, in minutes (default 120)
    #[argh(option, default = "120.0")]
    minutes: f64,
    /// minutes between progress reports (default 5)
    #[argh(option, default = "5.0")]
    report_every: f64,
    /// divide every fault period by this (default 1)
    #[argh(option, default = "1.0")]
    speed: f64,
}

const CHANNEL: &str = "soakchan";
const BOT: &str = "soakbot";

#[derive(Default)]
struct Tally {
    pings: u64,
    pongs: u64,
    latencies: Vec<Duration>,
    /// Points each event viewer should hold: what was delivered, paid once.
    expected: HashMap<String, u64>,
    events_sent: u64,
    events_undelivered: u64,
    duplicates_sent: u64,
    faults: HashMap<&'static str, u64>,
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Args = argh::from_env();
    // The bot's own log on stderr (RUST_LOG=info, debug, ...), quiet unless asked.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let dir = tempfile::tempdir()?;
    let configs = dir.path().join("configs");
    std::fs::create_dir_all(&configs)?;

    let mut config = Config::default();
    config.bot.username = BOT.into();
    config.bot.owner = CHANNEL.into();
    // A bot is a moderator in the channel it serves: 100 lines per 30 s.
    config.bot.chat.rate_limit = twitch_bot::config::bot::RateLimit::Moderator;
    let sim = SimTwitch::start(&mut config, CHANNEL).await?;
    // A streamer's secrets.yaml: every section set, most of it never touched by the bot.
    config.secrets.client_secret = Some("soak-app-secret".into());
    config.secrets.console_token = "soak-console-token-0123456789abcdef0123".into();
    config.secrets.obs_password = "soak-obs-password".into();
    config.secrets.discord.webhooks.insert(
        "alerts".into(),
        "https://discord.com/api/webhooks/42/soak-webhook-token".into(),
    );
    config.secrets.discord.bot_token = "soak-discord-bot-token".into();
    let secrets_path = configs.join("secrets.yaml");
    twitch_bot::config::secrets::save(&secrets_path, &config.secrets)?;
    let at_start = config.secrets.clone();

    let scripts = dir.path().join("scripts");
    copy_dir(&std::path::PathBuf::from("scripts"), &scripts)?;
    std::fs::write(
        scripts.join("commands/sleepy.rhai"),
        "fn run(ctx) { sleep(30); ctx.reply(\"awake\"); }\n",
    )?;
    std::fs::write(
        scripts.join("commands/boom.rhai"),
        "fn run(ctx) { sleep(1e300); }\n",
    )?;

    let mut settings = Settings {
        offline: false,
        channel: Some(CHANNEL.into()),
        config_dir: configs.clone(),
        scripts_dir: scripts,
        data_dir: dir.path().join("data"),
        ..Settings::default()
    };
    settings.enabled.set(Subsystem::Timers, false);
    settings.enabled.set(Subsystem::Console, false);
    settings.enabled = settings.enabled.without_integrations();
    let bot = Bot::start(settings, config).await?;

    // What the bot sends, stamped when it arrives (the driver's loop only looks every 50 ms).
    let mut lines = sim.chat.subscribe();
    let (heard_tx, mut heard) = tokio::sync::mpsc::unbounded_channel::<(Instant, String)>();
    let mut listener = sim.chat.subscribe();
    tokio::spawn(async move {
        loop {
            match listener.recv().await {
                Ok(line) => {
                    if let Some(m) = line.privmsg()
                        && m.text.contains("pong")
                        && let Some(parent) = m.reply_to
                        && heard_tx.send((Instant::now(), parent)).is_err()
                    {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    });
    // The one who checks on the bot is a moderator, so the repetition filter lets the same
    // `!ping` through every second; the chatters say different things, as people do.
    let regular = Viewer::new("regular_viewer").with(twitch_bot::event::Roles::MODERATOR);
    const WORDS: &[&str] = &[
        "hello", "gg", "nice", "what", "game", "is", "this", "lol", "wow", "clutch", "play",
        "again", "music", "stream", "today", "chat", "hype", "boss", "fight", "when",
    ];
    let chatters: Vec<Viewer> = (0..50)
        .map(|i| Viewer::new(&format!("chatter{i}")))
        .collect();
    let mut tally = Tally::default();
    let mut pending: HashMap<String, Instant> = HashMap::new();

    let started = Instant::now();
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let period = |minutes: f64| Duration::from_secs_f64(minutes * 60.0 / args.speed.max(0.01));
    let mut next_report = Duration::from_secs_f64(args.report_every * 60.0);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut ticks: u64 = 0;
    let mut last_fault: HashMap<&'static str, Duration> = HashMap::new();
    let mut due = |name: &'static str, every: Duration, now: Duration| -> bool {
        let last = last_fault.entry(name).or_insert(Duration::ZERO);
        if now.saturating_sub(*last) >= every {
            *last = now;
            true
        } else {
            false
        }
    };
    let mut event_n: u64 = 0;

    while started.elapsed() < total {
        tick.tick().await;
        ticks += 1;
        let now = started.elapsed();
        // Answers that arrived.
        while let Ok((at, parent)) = heard.try_recv() {
            if let Some(sent) = pending.remove(&parent) {
                tally.pongs += 1;
                tally.latencies.push(at.saturating_duration_since(sent));
            }
        }
        // One line from a chatter every 50 ms, a !ping every second.
        let who = &chatters[(ticks % chatters.len() as u64) as usize];
        // Four words picked by a hash of the tick: no line comes back for a long time, so the
        // repetition filter sees chat, not a copy-paste raid.
        let mut x = ticks.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (ticks >> 7);
        let line: Vec<&str> = (0..4)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                WORDS[((x >> 33) % WORDS.len() as u64) as usize]
            })
            .collect();
        sim.chat_as(who, &line.join(" ")).await;
        if ticks.is_multiple_of(20) {
            let id = sim.chat_as(&regular, "!ping").await;
            pending.insert(id, Instant::now());
            tally.pings += 1;
        }
        if ticks.is_multiple_of(140) {
            event_n += 1;
            let viewer = Viewer::new(&format!("eventer{event_n}"));
            let (event, points) = match event_n % 3 {
                0 => (SimEvent::Follow, 50),
                1 => (
                    SimEvent::Cheer {
                        bits: 100,
                        message: "Cheer100".into(),
                    },
                    100,
                ),
                _ => (SimEvent::Gift { tier: 1, count: 5 }, 1_250),
            };
            let (id, reached) = sim.fire_counted(&viewer, &event).await;
            tally.events_sent += 1;
            if reached > 0 {
                tally.expected.insert(viewer.id.clone(), points);
                if event_n.is_multiple_of(4) {
                    // Twitch delivers at least once: the same message id again.
                    let payload = twitch_bot::sim::eventsub::sample_event(
                        "channel.follow",
                        &viewer.id,
                        &viewer.login,
                    );
                    if matches!(event, SimEvent::Follow) {
                        sim.api.fire_with_id("channel.follow", &id, payload).await;
                        tally.duplicates_sent += 1;
                    }
                }
            } else {
                tally.expected.insert(viewer.id.clone(), 0);
                tally.events_undelivered += 1;
            }
        }
        // Faults.
        if due("helix 503 x20", period(3.0), now) {
            sim.api.fail_next(20);
            *tally.faults.entry("helix 503 x20").or_default() += 1;
        }
        if due("helix 429 x10", period(4.0), now) {
            sim.api.throttle_next(10, 2);
            *tally.faults.entry("helix 429 x10").or_default() += 1;
        }
        if due("chat socket dropped", period(5.0), now) {
            sim.chat.drop_all().await;
            *tally.faults.entry("chat socket dropped").or_default() += 1;
        }
        if due("eventsub socket dropped", period(6.0), now) {
            sim.api.drop_eventsub_sockets().await;
            *tally.faults.entry("eventsub socket dropped").or_default() += 1;
        }
        if due("tokens expired", period(10.0), now) {
            sim.api.expire_access_tokens();
            *tally.faults.entry("tokens expired").or_default() += 1;
        }
        if due("sleeping and panicking scripts", period(2.0), now) {
            sim.chat_as(&chatters[0], "!sleepy").await;
            sim.chat_as(&chatters[1], "!boom").await;
            *tally
                .faults
                .entry("sleeping and panicking scripts")
                .or_default() += 1;
        }
        if now >= next_report {
            next_report += Duration::from_secs_f64(args.report_every * 60.0);
            report(&tally, now, false);
            let requests = sim.api.requests();
            let mut by_path: HashMap<String, usize> = HashMap::new();
            for r in &requests {
                *by_path
                    .entry(format!("{} {}", r.method, r.path))
                    .or_default() += 1;
            }
            println!(
                "         Helix requests the simulator saw: {} {by_path:?}",
                requests.len()
            );
        }
    }
    // Let the last events settle, then check.
    tokio::time::sleep(Duration::from_secs(10)).await;
    while let Ok((at, parent)) = heard.try_recv() {
        if let Some(sent) = pending.remove(&parent) {
            tally.pongs += 1;
            tally.latencies.push(at.saturating_duration_since(sent));
        }
    }
    while lines.try_recv().is_ok() {}
    report(&tally, started.elapsed(), true);
    let ok = final_checks(&bot, &tally, &secrets_path, &at_start, &sim, &mut lines).await;
    bot.shutdown().await;
    if ok {
        println!("soak: every check held");
        Ok(())
    } else {
        anyhow::bail!("soak: a check failed (see above)")
    }
}

fn report(t: &Tally, at: Duration, last: bool) {
    let mut sorted = t.latencies.clone();
    sorted.sort();
    println!(
        "{}{:>6.1} min: !ping {}/{} answered, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; events \
         sent {} ({} not delivered while reconnecting, {} sent twice); RSS {:.1} MB; faults {:?}",
        if last { "final " } else { "" },
        at.as_secs_f64() / 60.0,
        t.pongs,
        t.pings,
        percentile(&sorted, 0.5).as_secs_f64() * 1e3,
        percentile(&sorted, 0.99).as_secs_f64() * 1e3,
        sorted.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        t.events_sent,
        t.events_undelivered,
        t.duplicates_sent,
        rss_mb(),
        t.faults,
    );
}

async fn final_checks(
    bot: &Bot,
    t: &Tally,
    secrets_path: &std::path::Path,
    at_start: &twitch_bot::config::Secrets,
    sim: &SimTwitch,
    lines: &mut tokio::sync::broadcast::Receiver<twitch_bot::sim::ClientLine>,
) -> bool {
    let mut ok = true;
    // Still answering, after everything.
    let id = sim.chat_as(&Viewer::new("last_viewer"), "!ping").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut answered = false;
    while Instant::now() < deadline && !answered {
        if let Ok(Ok(line)) = tokio::time::timeout(Duration::from_millis(200), lines.recv()).await
            && line
                .privmsg()
                .is_some_and(|m| m.text.contains("pong") && m.reply_to.as_deref() == Some(&id))
        {
            answered = true;
        }
    }
    println!("check: the bot answers !ping at the end: {answered}");
    ok &= answered;
    // Every delivered event paid exactly once, every undelivered one not at all.
    let Some(storage) = bot.storage() else {
        println!("check: no storage");
        return false;
    };
    let mut wrong = Vec::new();
    for (user, want) in &t.expected {
        let have = storage.get(user).unwrap_or(u64::MAX);
        if have != *want {
            wrong.push(format!("{user}: {have} (expected {want})"));
        }
    }
    println!(
        "check: {} event viewers paid exactly what was delivered: {}",
        t.expected.len(),
        if wrong.is_empty() {
            "yes".to_string()
        } else {
            format!(
                "no, {} wrong: {:?}",
                wrong.len(),
                &wrong[..wrong.len().min(10)]
            )
        }
    );
    ok &= wrong.is_empty();
    // secrets.yaml: every value intact but the rotated tokens.
    match twitch_bot::config::secrets::load(secrets_path) {
        Ok(now) => {
            let mut expected = at_start.clone();
            expected.bot = now.bot.clone();
            expected.broadcaster = now.broadcaster.clone();
            let intact = now == expected;
            let rotated = now.bot.refresh_token != at_start.bot.refresh_token;
            println!(
                "check: secrets.yaml keeps every other value: {intact}; the bot's tokens were \
                 rotated and saved: {rotated}"
            );
            ok &= intact && rotated;
        }
        Err(e) => {
            println!("check: secrets.yaml does not load: {e:?}");
            ok = false;
        }
    }
    ok
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()))?;
        } else {
            std::fs::copy(&path, to.join(entry.file_name()))?;
        }
    }
    Ok(())
}
