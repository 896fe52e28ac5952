//! Raid mode in the whole offline bot against the simulated Twitch: a spam raid switches on
//! Shield Mode and the chosen chat settings at Twitch, which stops the raid's lines; each raider
//! is punished once; regulars are still answered; the quiet period (or the console's button)
//! ends it and puts the settings back; `events/raid_mode.rhai` runs on both switches.

#[macro_use]
mod common;

use std::collections::HashMap;
use std::time::Duration;
use twitch_bot::subsystems::Subsystem;

use common::{copy_scripts, eventually, offline_settings, start_ready};
use twitch_bot::app::Bot;
use twitch_bot::config::Config;
use twitch_bot::config::bot::ChatTransport;
use twitch_bot::sim::{ClientLine, SpamRaid, Viewer};

const SCRIPT: &str = "fn run(ctx) { ctx.say(`script saw raid mode ${ctx.event.state} (${ctx.event.accounts} accounts)`); }\n";

async fn start(
    dir: &std::path::Path,
    transport: ChatTransport,
    console: bool,
    tweak: impl FnOnce(&mut Config),
) -> Bot {
    let scripts = copy_scripts(dir, &[("events/raid_mode.rhai", SCRIPT)]);
    let mut settings = offline_settings(dir, scripts);
    let mut config = Config::default();
    config.bot.chat.transport = transport;
    if console {
        settings.enabled.set(Subsystem::Console, true);
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

async fn a_spam_raid_is_stopped_at_twitch_punished_once_each_and_undone_after_the_quiet(
    transport: ChatTransport,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(dir.path(), transport, false, |c| {
        c.moderation.raid_mode.quiet_secs = 10;
        c.moderation.raid_mode.followers_only_minutes = Some(10);
    })
    .await;
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    // The streamer already runs slow mode (3 s, Twitch's shortest); raid mode must leave it as
    // it found it.
    {
        let mut d = sim.api.defences();
        d.slow_mode = true;
        d.slow_mode_wait_time = Some(3);
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
    // Spaced so the regular trips neither the flood nor the repetition filter, nor slow mode.
    let pings = async {
        let mut ids = Vec::new();
        for n in 0..3 {
            if n > 0 {
                tokio::time::sleep(Duration::from_millis(3_100)).await;
            }
            if let Some(id) = sim.try_chat_as(&regular, "!ping").await {
                ids.push(id);
            }
        }
        ids
    };
    // How long after the raid's first line Twitch's Shield Mode is on.
    let started = std::time::Instant::now();
    let shield_on = async {
        while !sim.api.defences().shield_mode && started.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        started.elapsed()
    };
    let (report, ping_ids, shield_after) = tokio::join!(sim.spam_raid(&raid), pings, shield_on);
    eprintln!("Shield Mode on {shield_after:?} after the raid's first line");
    assert!(
        shield_after < Duration::from_secs(2),
        "Shield Mode is on within 2 s: {shield_after:?}"
    );

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

    // After 10 s without an offence raid mode ends and Twitch's settings are as before.
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
        assert_eq!(d.slow_mode_wait_time, Some(3));
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
    assert!(
        eventually(5, || switched("Shield Mode on")
            && switched("Shield Mode off"))
        .await
    );
    // The end counts the lines that tripped the filters, and the log has one decision per
    // raider, not one per line.
    let log = storage.recent_modlog(1_000).expect("log reads");
    let end = log
        .iter()
        .map(|(_, e)| e)
        .find(|e| e["raid_mode"] == "end")
        .expect("an end entry");
    assert!(end["lines"].as_u64() >= end["accounts"].as_u64(), "{end}");
    let mut decisions: HashMap<String, usize> = HashMap::new();
    for (_, e) in &log {
        if let Some(user) = e["user_id"].as_str() {
            *decisions.entry(user.to_owned()).or_default() += 1;
        }
    }
    assert!(
        decisions.values().all(|n| *n == 1),
        "one logged decision per raider: {decisions:?}"
    );
    bot.shutdown().await;
}

async fn the_console_shows_raid_mode_and_its_button_ends_it(transport: ChatTransport) {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(dir.path(), transport, true, |c| {
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
    // The console's simulator starts the raid.
    let started = http
        .post(format!("{base}/api/sim/raid"))
        .bearer_auth("raid-test-token")
        .json(&serde_json::json!({"accounts": 8, "lines": 2, "text": "buy followers at spam-views.example.com", "secs": 1}))
        .send()
        .await
        .expect("sim raid");
    assert_eq!(started.status().as_u16(), 200);
    let refused = http
        .post(format!("{base}/api/sim/raid"))
        .bearer_auth("raid-test-token")
        .json(&serde_json::json!({"accounts": 0, "lines": 2, "text": "x"}))
        .send()
        .await
        .expect("sim raid");
    assert_eq!(refused.status().as_u16(), 400);
    assert!(eventually(5, || sim.api.defences().shield_mode).await);
    assert!(
        eventually(5, || sim.api.defences().withheld >= 1).await,
        "the raid's second lines are stopped"
    );
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

/// The bot account's grant without raid mode's scopes, against the fake Twitch (live mode):
/// the gap is reported at start, and in a raid Twitch refuses Shield Mode as it would.
async fn missing_raid_mode_scopes_are_reported_at_start_not_during_a_raid(
    transport: ChatTransport,
) {
    use twitch_bot::sim::helix::BOT_ID;
    use twitch_bot::twitch::auth::Account;

    let (chat, api, mut config) = common::chat_twitch(transport).await;
    let lacking = [
        "moderator:manage:shield_mode",
        "moderator:manage:chat_settings",
    ];
    let scopes: Vec<&str> = twitch_bot::twitch::scopes::for_account(Account::Bot)
        .into_iter()
        .filter(|s| !lacking.contains(s))
        .collect();
    (
        config.secrets.bot.access_token,
        config.secrets.bot.refresh_token,
    ) = api.issue_tokens_with_scopes(BOT_ID, &scopes);
    config.moderation.raid_mode.accounts = 5;
    config.moderation.raid_mode.followers_only_minutes = Some(5);
    let bot = common::start(config).await;
    assert!(
        eventually(10, || bot.raid_mode().status().missing_scopes == lacking).await,
        "the missing scopes are known at start: {:?}",
        bot.raid_mode().status()
    );
    assert!(
        common::reading(&bot, &chat, &api, transport).await,
        "the bot reads chat"
    );
    assert!(
        eventually(10, || api.requests().iter().any(|r| r.path == "/users")).await,
        "the API side is up"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..6 {
        let raider = Viewer::new(&format!("scopeless_raider{i}"));
        chat.chat(common::CHANNEL, &raider, "spam at spam-views.example.com")
            .await;
    }
    assert!(eventually(10, || bot.raid_mode().is_active()).await);
    // Twitch would refuse them: the bot does not try.
    let asked = |method: &str, path: &str| {
        api.requests()
            .iter()
            .any(|r| r.method == method && r.path == path)
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!asked("PUT", "/moderation/shield_mode"));
    assert!(!asked("PATCH", "/chat/settings"));
    let storage = bot.storage().expect("storage");
    assert!(
        eventually(5, || storage.recent_modlog(100).is_ok_and(|log| log
            .iter()
            .any(|(_, e)| {
                e["switch"] == "Shield Mode on"
                    && e["error"]
                        .as_str()
                        .is_some_and(|m| m.contains("moderator:manage:shield_mode"))
            })))
        .await,
        "the moderation log says why Shield Mode stayed off"
    );
    // The raiders are still punished, once each.
    let bans = || {
        api.requests()
            .iter()
            .filter(|r| r.path == "/moderation/bans")
            .count()
    };
    assert!(
        eventually(10, || bans() == 6).await,
        "{} bans: {:?}",
        bans(),
        api.requests()
            .iter()
            .map(|r| format!("{} {} {}", r.method, r.path, r.body))
            .collect::<Vec<_>>()
    );
    bot.shutdown().await;
}

/// The fake Twitch checks Shield Mode and chat-settings calls as Twitch does: the moderator
/// must be the token's user and a moderator, and values must be in range.
#[tokio::test]
async fn the_simulated_twitch_checks_moderator_and_values() {
    use twitch_bot::config::Secrets;
    use twitch_bot::sim::helix::{BOT_ID, BROADCASTER_ID};
    use twitch_bot::sim::{FakeApiOptions, FakeTwitchApi};
    use twitch_bot::twitch::auth::{AuthClient, Tokens};
    use twitch_bot::twitch::helix::{ChannelIds, ChatSettingsPatch, Helix, RetryPolicy};

    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake starts");
    let mut secrets = Secrets {
        client_id: "fakeclient".into(),
        ..Secrets::default()
    };
    (secrets.bot.access_token, secrets.bot.refresh_token) = api.issue_tokens(BOT_ID);
    let http = reqwest::Client::new();
    let auth = AuthClient::new(http.clone(), &api.auth_url(), "fakeclient", None);
    let helix = Helix::new(
        http,
        &api.helix_url(),
        Tokens::new(auth, secrets, None),
        RetryPolicy::default(),
    );
    helix.set_ids(ChannelIds {
        broadcaster_id: BROADCASTER_ID.into(),
        bot_id: BOT_ID.into(),
    });
    assert!(!helix.shield_mode().await.expect("readable"));
    assert!(helix.set_shield_mode(true).await.expect("a moderator may"));
    assert!(helix.shield_mode().await.expect("readable"));
    let before = helix.chat_settings().await.expect("readable");
    assert!(!before.follower_mode);
    let after = helix
        .update_chat_settings(&ChatSettingsPatch {
            follower_mode: Some(true),
            follower_mode_duration: Some(30),
            ..ChatSettingsPatch::default()
        })
        .await
        .expect("in range");
    assert!(after.follower_mode);
    assert_eq!(after.follower_mode_duration, Some(30));
    let too_slow = helix
        .update_chat_settings(&ChatSettingsPatch {
            slow_mode: Some(true),
            slow_mode_wait_time: Some(500),
            ..ChatSettingsPatch::default()
        })
        .await
        .expect_err("slow mode is at most 120 s");
    assert_eq!(too_slow.status(), Some(400), "{too_slow}");
    // A token without the scope is refused with Twitch's 401.
    let (scopeless, _) = api.issue_tokens_with_scopes(BOT_ID, &["moderator:manage:banned_users"]);
    let answer = reqwest::Client::new()
        .put(format!(
            "{}/moderation/shield_mode?broadcaster_id={BROADCASTER_ID}&moderator_id={BOT_ID}",
            api.helix_url()
        ))
        .bearer_auth(scopeless)
        .header("Client-Id", "fakeclient")
        .json(&serde_json::json!({"is_active": false}))
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status().as_u16(), 401);
    let body: serde_json::Value = answer.json().await.expect("json");
    assert_eq!(
        body["message"],
        "Missing scope: moderator:manage:shield_mode"
    );
    // No longer a moderator: Twitch answers 403.
    api.defences().moderators.remove(BOT_ID);
    let refused = helix
        .set_shield_mode(false)
        .await
        .expect_err("not a moderator");
    assert_eq!(refused.status(), Some(403), "{refused}");
}

on_both_transports!(
    multi_thread:
    a_spam_raid_is_stopped_at_twitch_punished_once_each_and_undone_after_the_quiet,
    the_console_shows_raid_mode_and_its_button_ends_it,
    missing_raid_mode_scopes_are_reported_at_start_not_during_a_raid,
);
