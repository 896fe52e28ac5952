//! The raid scenario: A accounts post a link or a banned phrase, L lines each over S seconds,
//! while a regular viewer types `!ping` every second. The fake chat applies Twitch's delivery
//! rule (a banned or timed-out account's later lines reach nobody) and shows the bot as a
//! moderator, so the committed `rate_limit: normal` allows 100 lines per 30 s; the fake Helix
//! keeps an 800-point bucket per token and answers 429 when it is empty.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::RecvError;
use twitch_bot::event::Roles;
use twitch_bot::sim::flood::percentile;
use twitch_bot::sim::{FakeApiOptions, FakeChat, FakeChatOptions, FakeTwitchApi, Viewer};

use super::bot::{self, BotProcess, Changes};

/// The channel and bot of the committed bot.yaml.
const CHANNEL: &str = "mychannel";
const BOT: &str = "mybot";
/// The phrase the raid posts, added to `banned.terms` (the committed list is empty).
pub const PHRASE: &str = "raidword";

/// What the raid looks like.
pub struct RaidOptions {
    pub accounts: usize,
    pub lines: usize,
    pub seconds: f64,
    pub bot_cpu: usize,
    pub keep: bool,
}

/// Runs the raid against the release binary and prints the report.
pub async fn run(binary: &std::path::Path, o: &RaidOptions) -> anyhow::Result<()> {
    let api = FakeTwitchApi::start(FakeApiOptions {
        bot_login: BOT.into(),
        channel: CHANNEL.into(),
        pending_polls: 0,
        ..FakeApiOptions::default()
    })
    .await?;
    let secrets = bot::fake_secrets(&api);
    let chat = FakeChat::start(FakeChatOptions {
        accepted_token: Some(secrets.bot.access_token.clone()),
        bot_badges: "moderator/1".into(),
    })
    .await?;
    chat.apply_punishments(api.punishments());
    let changes = Changes {
        banned_term: Some(PHRASE.into()),
        ..Changes::default()
    };
    let mut bot = bot::launch(binary, o.bot_cpu, &api, &chat.ws_url(), &changes, &secrets)?;
    let joined_by = Instant::now() + Duration::from_secs(60);
    while chat.joined(CHANNEL) == 0 {
        if !bot.alive() || Instant::now() > joined_by {
            anyhow::bail!(
                "the bot did not join #{CHANNEL}; its log ends with:\n{}",
                bot.log_tail(30)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let start-up settle (EventSub subscriptions, emotes, the first Helix reads).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_before_kb = bot::status_kb(bot.pid, "VmRSS:");

    // What the bot says in chat, stamped on arrival.
    let (said_tx, mut said_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut from_bot = chat.subscribe();
    let listener = tokio::spawn(async move {
        loop {
            match from_bot.recv().await {
                Ok(line) => {
                    if let Some(m) = line.privmsg()
                        && said_tx.send((Instant::now(), m.reply_to)).is_err()
                    {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    });

    let chat = std::sync::Arc::new(chat);
    let raiders: Vec<Viewer> = (0..o.accounts)
        .map(|a| Viewer::new(&format!("raider_{a:05}")))
        .collect();
    let total = o.accounts * o.lines;
    let spread = Duration::from_secs_f64(o.seconds.max(0.0));
    let lead = Duration::from_secs(3);
    let tail = Duration::from_secs(15);
    let begin = Instant::now();
    let raid_start = begin + lead;

    // The regular viewer: a VIP (so the repetition filter lets the same `!ping` through), from
    // 3 s before the raid to 15 s after its last line.
    let regular_chat = chat.clone();
    let regular = tokio::spawn(async move {
        let viewer = Viewer::new("regular_viewer").with(Roles::VIP);
        let mut sent: Vec<(String, Instant)> = Vec::new();
        let mut withheld = 0usize;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let end = raid_start + spread + tail;
        while Instant::now() < end {
            tick.tick().await;
            if regular_chat.delivers(&viewer) {
                let at = Instant::now();
                let id = regular_chat.chat(CHANNEL, &viewer, "!ping").await;
                sent.push((id, at));
            } else {
                withheld += 1;
            }
        }
        (sent, withheld)
    });

    // The raid: line k is account k % A's (k / A)-th line, due at S × k / (A × L).
    let mut delivered = 0usize;
    let mut withheld = 0usize;
    let mut last_delivered = None::<Instant>;
    let mut first_line = None::<Instant>;
    let mut worst_lag = Duration::ZERO;
    for k in 0..total {
        let due = raid_start + spread.mul_f64(k as f64 / total.max(1) as f64);
        tokio::time::sleep_until(due.into()).await;
        let a = k % o.accounts.max(1);
        let viewer = &raiders[a];
        let text = if a.is_multiple_of(2) {
            format!("free followers and viewers at https://cheap-viewers.com/r{a}")
        } else {
            format!("{PHRASE} {PHRASE} this channel is dead")
        };
        let now = Instant::now();
        first_line.get_or_insert(now);
        worst_lag = worst_lag.max(now.saturating_duration_since(due));
        // Twitch's delivery rules: a punished account's lines reach nobody, nor a
        // non-follower's while Shield Mode or followers-only is on, nor what emote-only or
        // slow mode withholds.
        if chat.delivers(viewer) && api.delivers_line(viewer, &text) {
            chat.chat(CHANNEL, viewer, &text).await;
            delivered += 1;
            last_delivered = Some(Instant::now());
        } else {
            withheld += 1;
        }
    }
    let (pings, regular_withheld) = regular.await?;
    // Then until Helix has been quiet for 65 s (longer than a wait for a drained bucket to
    // refill; at most 4 minutes), so late punishments count.
    let calls = |api: &FakeTwitchApi| api.tally().values().sum::<u64>();
    let give_up = Instant::now() + Duration::from_secs(240);
    let mut last = (calls(&api), Instant::now());
    while Instant::now() < give_up && last.1.elapsed() < Duration::from_secs(65) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = calls(&api);
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
    let observed = first_line.map_or(Duration::ZERO, |f| f.elapsed());
    let peak_rss_kb = bot::status_kb(bot.pid, "VmHWM:");
    let cpu = bot::cpu_secs(bot.pid);
    let alive = bot.alive();
    listener.abort();

    // Replies to the regular, and everything else the bot said.
    let mut heard: Vec<(Instant, Option<String>)> = Vec::new();
    while let Ok(x) = said_rx.try_recv() {
        heard.push(x);
    }
    let first_reply: HashMap<&str, Instant> = heard
        .iter()
        .rev()
        .filter_map(|(at, to)| to.as_deref().map(|t| (t, *at)))
        .collect();
    let mut latencies: Vec<Duration> = pings
        .iter()
        .filter_map(|(id, at)| {
            first_reply
                .get(id.as_str())
                .map(|r| r.saturating_duration_since(*at))
        })
        .collect();
    latencies.sort_unstable();
    let unthreaded = heard.iter().filter(|(_, to)| to.is_none()).count();

    // When each raider was first punished.
    let start = first_line.unwrap_or(raid_start);
    let punished = api.punishments();
    let mut after_raid = Vec::new();
    let mut after_own = Vec::new();
    for (a, v) in raiders.iter().enumerate() {
        if let Some(p) = punished.get(&v.id) {
            let own_first = raid_start + spread.mul_f64(a as f64 / total.max(1) as f64);
            after_raid.push(p.first_at.saturating_duration_since(start));
            after_own.push(p.first_at.saturating_duration_since(own_first));
        }
    }
    after_raid.sort_unstable();
    after_own.sort_unstable();

    let secs =
        |d: Option<Duration>| d.map_or("—".to_string(), |d| format!("{:.2} s", d.as_secs_f64()));
    let ms = |d: Option<Duration>| {
        d.map_or("—".to_string(), |d| {
            format!("{:.1} ms", d.as_secs_f64() * 1e3)
        })
    };
    println!(
        "raid: {} accounts × {} lines over {} s (links and the banned phrase `{PHRASE}`), committed configs ({})",
        o.accounts,
        o.lines,
        o.seconds,
        changes.describe()
    );
    println!(
        "  raid lines: {total} sent, {delivered} delivered, {withheld} withheld by Twitch's rule; \
         the last delivered {} after the raid's first line (driver at most {:.0} ms late)",
        secs(last_delivered.map(|l| l.saturating_duration_since(start))),
        worst_lag.as_secs_f64() * 1e3
    );
    println!(
        "  raiders punished within {:.0} s of the raid's first line: {} of {} ({} never); first punishment after the raid's first line p50 {}, p99 {}, max {}; \
         after the raider's own first line p50 {}, p99 {}, max {}",
        observed.as_secs_f64(),
        after_raid.len(),
        o.accounts,
        o.accounts - after_raid.len(),
        secs(percentile(&after_raid, 50.0)),
        secs(percentile(&after_raid, 99.0)),
        secs(after_raid.last().copied()),
        secs(percentile(&after_own, 50.0)),
        secs(percentile(&after_own, 99.0)),
        secs(after_own.last().copied()),
    );
    bot::print_helix(&api);
    println!(
        "  regular's !ping: {} sent ({} withheld), {} answered; latency p50 {}, p99 {}, max {}",
        pings.len(),
        regular_withheld,
        latencies.len(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied()),
    );
    println!(
        "  bot: {} chat lines sent ({} unthreaded: warnings and other), peak RSS {:.1} MB (RSS before the raid {:.1} MB), CPU {:.2} s in all{}",
        heard.len(),
        unthreaded,
        peak_rss_kb as f64 / 1024.0,
        rss_before_kb as f64 / 1024.0,
        cpu,
        if alive { "" } else { ", EXITED during the run" }
    );
    print_log_and_stop(&mut bot);
    if o.keep {
        bot.keep();
    }
    Ok(())
}

fn print_log_and_stop(bot: &mut BotProcess) {
    bot.stop();
    bot::print_log(bot);
}
