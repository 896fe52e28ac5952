//! Raid mode in the whole offline bot against the simulated Twitch: a spam raid switches on
//! Shield Mode and the chosen chat settings at Twitch, which stops the raid's lines; each raider
//! is punished once; regulars are still answered; the quiet period (or the console's button)
//! ends it and puts the settings back; `events/raid_mode.rhai` runs on both switches.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{copy_scripts, eventually, offline_settings, start_ready};
use twitch_bot::app::Bot;
use twitch_bot::config::Config;
use twitch_bot::sim::{ClientLine, SpamRaid, Viewer};

const SCRIPT: &str = "fn run(ctx) { ctx.say(`script saw raid mode ${ctx.event.state} (${ctx.event.accounts} accounts)`); }\n";

async fn start(dir: &std::path::Path, console: bool, tweak: impl FnOnce(&mut Config)) -> Bot {
    let scripts = copy_scripts(dir, &[("events/raid_mode.rhai", SCRIPT)]);
    let mut settings = offline_settings(dir, scripts);
    let mut config = Config::default();
    if console {
        settings.enabled.console = true;
        config.bot.console.bind = "127.0.0.1:0".into();
        config.secrets.console_token = "raid-test-token".into();
    }
    tweak(&mut config);
    start_ready(settings, config).await
}

/// Chat lines the bot sent so far, from `rx`.
fn drain(
    rx: &mut tokio::sync::broadcast::Receiver<ClientLine>,
    into: &mut Vec<(String, Option<String>)>,
) {
    while let Ok(line) = rx.try_recv() {
        if let Some(m) = line.privmsg() {
            into.push((m.text, m.reply_to));
        }
    }
}

/// Moderation calls per user id: bans and timeouts (`POST /moderation/bans`).
fn bans_by_user(bot: &Bot) -> HashMap<String, usize> {
    let mut by = HashMap::new();
    for r in bot.sim().expect("offline").api.requests() {
        if r.method == "POST" && r.path == "/moderation/bans" {
            let id = r.body["data"]["user_id"].as_str().unwrap_or("").to_string();
            *by.entry(id).or_default() += 1;
        }
    }
    by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spam_raid_is_stopped_at_twitch_punished_once_each_and_undone_after_the_quiet() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(dir.path(), false, |c| {
        c.moderation.raid_mode.quiet_secs = 6;
        c.moderation.raid_mode.followers_only_minutes = Some(10);
    })
    .await;
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    // The streamer already runs slow mode; raid mode must leave it as it found it.
    {
        let mut d = sim.api.defences();
        d.slow_mode = true;
        d.slow_mode_wait_time = Some(60);
    }
    let regular = Viewer::new("old_regular");
    sim.api
        .add_follower(&regular, Duration::from_secs(86_400 * 30));

    let raid = SpamRaid {
        accounts: 30,
        lines: 5,
        text: "free followers at spam-views.example.com".into(),
        over: Duration::from_secs(4),
    };
    // Spaced so the regular trips neither the flood nor the repetition filter.
    let pings = async {
        let mut ids = Vec::new();
        for _ in 0..3 {
            if let Some(id) = sim.try_chat_as(&regular, "!ping").await {
                ids.push(id);
            }
            tokio::time::sleep(Duration::from_millis(1_500)).await;
        }
        ids
    };
    let (report, ping_ids) = tokio::join!(sim.spam_raid(&raid), pings);

    // Shield Mode went on at Twitch and stopped the raid's later lines.
    assert_eq!(
        ping_ids.len(),
        3,
        "the regular follows: every !ping is delivered"
    );
    assert!(
        report.per_line.iter().skip(1).all(|n| *n == 0),
        "after the first round no raid line reaches chat: {:?}",
        report.per_line
    );
    assert!(report.delivered > 0 && report.delivered <= 30, "{report:?}");
    assert!(sim.api.defences().withheld >= 120);
    assert!(bot.raid_mode().is_active());
    {
        let d = sim.api.defences();
        assert!(d.shield_mode, "Shield Mode is on");
        assert!(d.follower_mode, "followers-only is on");
        assert_eq!(d.follower_mode_duration, Some(10));
    }

    // One ban per raider who got a line through, none for anyone else.
    let reached = report.reached.clone();
    assert!(
        eventually(10, || bans_by_user(&bot).len() >= reached.len()).await,
        "every raider is punished: {:?} of {}",
        bans_by_user(&bot).len(),
        reached.len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bans = bans_by_user(&bot);
    let mut banned: Vec<&String> = bans.keys().collect();
    banned.sort();
    assert_eq!(banned, reached.iter().collect::<Vec<_>>());
    assert!(
        bans.values().all(|n| *n == 1),
        "one Helix call per raider: {bans:?}"
    );

    // After 6 s without an offence raid mode ends and Twitch's settings are as before.
    assert!(
        eventually(15, || {
            let d = sim.api.defences();
            !d.shield_mode && !d.follower_mode
        })
        .await,
        "Shield Mode and followers-only are off again"
    );
    assert!(!bot.raid_mode().is_active());
    {
        let d = sim.api.defences();
        assert!(d.slow_mode, "slow mode is left as it was");
        assert_eq!(d.slow_mode_wait_time, Some(60));
    }

    // What chat saw: every !ping answered, the moderators told once, the script on both ends.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut sent = Vec::new();
    drain(&mut lines, &mut sent);
    for id in &ping_ids {
        assert!(
            sent.iter()
                .any(|(t, r)| t == "pong" && r.as_deref() == Some(id.as_str())),
            "the regular's !ping {id} is answered: {sent:?}"
        );
    }
    let told: Vec<_> = sent
        .iter()
        .filter(|(t, _)| t.starts_with("Raid mode on:"))
        .collect();
    assert_eq!(told.len(), 1, "the moderators are told once: {sent:?}");
    assert!(
        sent.iter()
            .any(|(t, _)| t.starts_with("script saw raid mode begin (")),
        "{sent:?}"
    );
    assert!(
        sent.iter()
            .any(|(t, _)| t.starts_with("script saw raid mode end (")),
        "{sent:?}"
    );
    assert!(
        !sent
            .iter()
            .any(|(t, _)| t.contains("ask a moderator before posting links")),
        "no warnings in chat during the raid: {sent:?}"
    );

    // Every switch is in the moderation log.
    let storage = bot.storage().expect("storage");
    let switched = |what: &str| {
        storage.recent_modlog(1_000).is_ok_and(|log| {
            log.iter()
                .any(|(_, e)| e["raid_mode"] == what || e["switch"] == what)
        })
    };
    assert!(eventually(5, || switched("begin") && switched("end")).await);
    assert!(switched("Shield Mode on") && switched("Shield Mode off"));
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_raid_mode_and_its_button_ends_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(dir.path(), true, |c| {
        c.moderation.raid_mode.accounts = 5;
        c.moderation.raid_mode.quiet_secs = 600;
    })
    .await;
    let sim = bot.sim().expect("offline");
    let base = format!("http://{}", bot.console_addr().expect("the console runs"));
    let http = reqwest::Client::new();
    let health = || async {
        http.get(format!("{base}/api/health"))
            .bearer_auth("raid-test-token")
            .send()
            .await
            .expect("health")
            .json::<serde_json::Value>()
            .await
            .expect("json")
    };
    assert_eq!(health().await["raid_mode"]["active"], false);
    let report = sim
        .spam_raid(&SpamRaid {
            accounts: 8,
            lines: 1,
            text: "buy followers at spam-views.example.com".into(),
            over: Duration::from_millis(10),
        })
        .await;
    assert_eq!(report.delivered, 8);
    assert!(eventually(5, || sim.api.defences().shield_mode).await);
    let h = health().await;
    assert_eq!(h["raid_mode"]["active"], true, "{h}");
    assert!(h["raid_mode"]["accounts"].as_u64() >= Some(5), "{h}");

    let ended: serde_json::Value = http
        .post(format!("{base}/api/moderation/raid-mode/end"))
        .bearer_auth("raid-test-token")
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("end")
        .json()
        .await
        .expect("json");
    assert_eq!(ended["ended"], true, "{ended}");
    assert!(
        eventually(5, || !sim.api.defences().shield_mode).await,
        "the button switched Shield Mode off again"
    );
    assert_eq!(health().await["raid_mode"]["active"], false);
    // Pressed again, it says there was nothing to end.
    let again: serde_json::Value = http
        .post(format!("{base}/api/moderation/raid-mode/end"))
        .bearer_auth("raid-test-token")
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("end")
        .json()
        .await
        .expect("json");
    assert_eq!(again["ended"], false);
    bot.shutdown().await;
}
