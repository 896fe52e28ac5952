//! A follow-bot wave (hundreds of follows in seconds, through the simulated EventSub) is
//! thanked with one line, not one per follow — its first follows included, which wait out a
//! short hold and are folded into it; its follow points wait for its end and are then paid
//! once each (or not at all); ordinary follows before and after it are thanked and paid as
//! always, after the hold; it shows in the console and the moderation log; its accounts can be
//! blocked and banned (a grant lacking the scope for blocks is reported at start).

mod common;

use std::time::Duration;
use twitch_bot::subsystems::Subsystem;

use common::{copy_scripts, offline_settings, start_ready, wait_line};
use twitch_bot::app::Bot;
use twitch_bot::config::Config;
use twitch_bot::config::moderation::{FollowWaves, WavePoints};
use twitch_bot::sim::{ClientLine, SimEvent, Viewer};

/// Follow points in the default loyalty rules.
const FOLLOW_POINTS: u64 = 50;
/// Follows in the wave.
const WAVE: usize = 200;
/// More than this many follows within `WITHIN` seconds is a wave.
const FOLLOWS: u32 = 3;
const WITHIN: u64 = 2;
/// Seconds an ordinary follow waits before it is thanked.
const HOLD: u64 = 2;

async fn start(dir: &tempfile::TempDir, waves: FollowWaves, console: bool) -> Bot {
    let scripts = copy_scripts(dir.path(), &[]);
    let mut settings = offline_settings(dir.path(), scripts);
    settings.enabled.set(Subsystem::Console, console);
    let mut config = Config::default();
    config.bot.chat.rate_limit = twitch_bot::config::bot::RateLimit::Unlimited;
    config.moderation.follow_waves = waves;
    if console {
        config.bot.console.bind = "127.0.0.1:0".into();
        config.secrets.console_token = "waves-test-token".into();
    }
    start_ready(settings, config).await
}

fn waves(points: WavePoints) -> FollowWaves {
    FollowWaves {
        enabled: true,
        follows: FOLLOWS,
        within_secs: WITHIN,
        quiet_secs: 2,
        hold_secs: HOLD,
        points,
        block: false,
        ban: false,
    }
}

fn points(bot: &Bot, viewer: &Viewer) -> u64 {
    bot.storage()
        .expect("storage")
        .get(&viewer.id)
        .expect("read")
}

fn said(line: &ClientLine) -> Option<String> {
    line.privmsg().map(|m| m.text)
}

/// A single follow, outside any wave: thanked by name and paid, once its hold is over (and
/// not before).
async fn ordinary_follow(bot: &Bot, login: &str) {
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let fan = Viewer::new(login);
    let fired = std::time::Instant::now();
    sim.fire(&fan, &SimEvent::Follow).await;
    let thanked = wait_line(&mut lines, HOLD + 5, |l| {
        said(l).is_some_and(|t| t.contains("follow") && t.to_lowercase().contains(&fan.login))
    })
    .await;
    assert!(thanked.is_some(), "{login}'s follow is thanked");
    let after = fired.elapsed();
    assert!(
        after >= Duration::from_millis(HOLD * 1000 - 100),
        "{login} is thanked after the hold, not before ({after:?})"
    );
    assert!(
        after < Duration::from_secs(HOLD + 2),
        "{login} is thanked soon after the hold ({after:?})"
    );
    assert!(
        common::eventually(5, || points(bot, &fan) == FOLLOW_POINTS).await,
        "{login} is paid once"
    );
}

/// Fires a wave of `WAVE` follows; returns the followers and every chat line the bot sent up to
/// and including the one saying the wave is over.
async fn wave(bot: &Bot) -> (Vec<Viewer>, Vec<String>) {
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let bots: Vec<Viewer> = (0..WAVE)
        .map(|n| Viewer::new(&format!("followbot{n}")))
        .collect();
    for b in &bots {
        sim.fire(b, &SimEvent::Follow).await;
    }
    let mut sent = Vec::new();
    let over = wait_line(&mut lines, 20, |l| match said(l) {
        Some(text) => {
            let over = text.contains("follow wave is over");
            sent.push(text);
            over
        }
        None => false,
    })
    .await;
    assert!(over.is_some(), "the end of the wave is said: {sent:?}");
    (bots, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_wave_gets_one_line_and_its_points_are_paid_once_when_it_ends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(&dir, waves(WavePoints::PayAfter), false).await;
    ordinary_follow(&bot, "earlyfan").await;
    // Out of the window the wave is counted in.
    tokio::time::sleep(Duration::from_millis(WITHIN * 1000 + 200)).await;

    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let bots: Vec<Viewer> = (0..WAVE)
        .map(|n| Viewer::new(&format!("followbot{n}")))
        .collect();
    for b in &bots {
        sim.fire(b, &SimEvent::Follow).await;
    }
    // Held while the wave lasts: the accounts after the first few have nothing yet.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let paid_during: usize = bots[FOLLOWS as usize..]
        .iter()
        .filter(|b| points(&bot, b) > 0)
        .count();
    assert_eq!(
        paid_during, 0,
        "no follow of the wave is paid while it lasts"
    );

    let mut sent = Vec::new();
    let over = wait_line(&mut lines, 20, |l| match said(l) {
        Some(text) => {
            let over = text.contains("follow wave is over");
            sent.push(text);
            over
        }
        None => false,
    })
    .await;
    assert!(over.is_some(), "the end of the wave is said: {sent:?}");
    // Not even the follows before the spike was recognised are thanked: one line for the
    // wave and one for its end.
    assert_eq!(sent.len(), 2, "chat lines for {WAVE} follows: {sent:?}");
    assert!(
        !sent.iter().any(|t| t.to_lowercase().contains("followbot")),
        "no follow of the wave is thanked by name: {sent:?}"
    );
    assert_eq!(
        sent.iter()
            .filter(|t| t.starts_with("Follow wave:"))
            .count(),
        1,
        "{sent:?}"
    );
    // Said after the payments were committed: every account is paid, exactly once.
    for b in &bots {
        assert_eq!(points(&bot, b), FOLLOW_POINTS, "{} paid once", b.login);
    }
    // Nothing more comes for the wave's follows later.
    let late = wait_line(&mut lines, 1, |l| said(l).is_some()).await;
    assert!(late.is_none(), "nothing said after the wave: {late:?}");

    // In the moderation log: when it began and when it ended.
    let storage = bot.storage().expect("storage");
    let logged = common::eventually(5, || {
        storage.recent_modlog(10).is_ok_and(|rows| {
            rows.iter()
                .filter(|(_, e)| e["kind"] == "follow_wave")
                .count()
                == 2
        })
    })
    .await;
    assert!(logged, "{:?}", storage.recent_modlog(10));
    let rows = storage.recent_modlog(10).expect("modlog");
    let ended = rows
        .iter()
        .map(|(_, e)| e)
        .find(|e| e["event"] == "ended")
        .expect("an end entry");
    assert_eq!(ended["follows"], WAVE as u64, "{ended}");
    assert_eq!(ended["accounts"], WAVE as u64, "{ended}");

    // After the wave, a follow is an ordinary follow again.
    ordinary_follow(&bot, "latefan").await;
    assert_eq!(points(&bot, &Viewer::new("earlyfan")), FOLLOW_POINTS);
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_wave_with_dropped_points_pays_none_of_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(&dir, waves(WavePoints::Drop), false).await;
    let (bots, sent) = wave(&bot).await;
    assert!(sent.len() <= FOLLOWS as usize + 2, "{sent:?}");
    assert!(
        sent.last().is_some_and(|t| t.contains("no follow points")),
        "{sent:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let paid = bots[FOLLOWS as usize..]
        .iter()
        .filter(|b| points(&bot, b) > 0)
        .count();
    assert_eq!(paid, 0, "the wave's follows earn nothing");
    ordinary_follow(&bot, "latefan").await;
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_wave_shows_in_the_console_is_ended_there_and_its_accounts_are_blocked_and_banned()
{
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(
        &dir,
        FollowWaves {
            block: true,
            ban: true,
            // Only the console's button ends it within the test.
            quiet_secs: 600,
            ..waves(WavePoints::PayAfter)
        },
        true,
    )
    .await;
    let sim = bot.sim().expect("offline");
    let bots: Vec<Viewer> = (0..50)
        .map(|n| Viewer::new(&format!("blockbot{n}")))
        .collect();
    for b in &bots {
        sim.fire(b, &SimEvent::Follow).await;
    }
    let base = format!("http://{}", bot.console_addr().expect("the console runs"));
    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("{base}{path}"))
            .bearer_auth("waves-test-token")
            .send()
    };
    // The follows are handled in the background: wait until the console counts all of them.
    let mut status = serde_json::Value::Null;
    for _ in 0..100 {
        status = get("/api/follow-waves")
            .await
            .expect("follow-waves")
            .json()
            .await
            .expect("json");
        if status["follow_waves"]["wave"]["follows"] == 50 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let wave = &status["follow_waves"];
    assert_eq!(wave["active"], true, "{status}");
    assert_eq!(wave["wave"]["follows"], 50, "{status}");
    let health: serde_json::Value = get("/api/health")
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["follow_wave"]["active"], true, "{health}");

    // Every account in the wave — the ones that started it too — is blocked by the
    // broadcaster, once.
    let blocked = common::eventually(10, || sim.api.blocks().len() >= bots.len()).await;
    let blocks = sim.api.blocks();
    assert!(blocked, "{} of {} blocked", blocks.len(), bots.len());
    for b in &bots {
        assert!(
            blocks
                .iter()
                .any(|(by, whom)| by == twitch_bot::sim::helix::BROADCASTER_ID && *whom == b.id),
            "{} blocked by the broadcaster",
            b.login
        );
    }
    // And banned, each once, through the moderation queue.
    let banned = |id: &str| {
        sim.api
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/moderation/bans")
            .filter(|r| r.body["data"]["user_id"] == id)
            .count()
    };
    assert!(
        common::eventually(10, || bots.iter().all(|b| banned(&b.id) >= 1)).await,
        "every account of the wave is banned"
    );
    assert!(bots.iter().all(|b| banned(&b.id) == 1), "once each");

    // The streamer ends it from the console: at once, and said in chat.
    let mut lines = sim.chat.subscribe();
    let ended: serde_json::Value = client
        .post(format!("{base}/api/follow-waves/end"))
        .bearer_auth("waves-test-token")
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("end")
        .json()
        .await
        .expect("json");
    assert_eq!(ended["ended"], true, "{ended}");
    let over = wait_line(&mut lines, 5, |l| {
        said(l).is_some_and(|t| t.contains("follow wave is over"))
    })
    .await;
    assert!(over.is_some(), "the end is said at once");
    let status: serde_json::Value = get("/api/follow-waves")
        .await
        .expect("follow-waves")
        .json()
        .await
        .expect("json");
    assert_eq!(status["follow_waves"]["active"], false, "{status}");
    assert_eq!(status["follow_waves"]["wave"]["follows"], 50, "{status}");
    for b in &bots {
        assert_eq!(points(&bot, b), FOLLOW_POINTS, "{} paid once", b.login);
    }
    bot.shutdown().await;
}

#[tokio::test]
async fn the_simulated_helix_blocks_like_twitch_scope_and_parameters_checked() {
    use twitch_bot::sim::helix::{BROADCASTER_ID, FakeApiOptions, FakeTwitchApi};
    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake API");
    let (with_scope, _) = api.issue_tokens(BROADCASTER_ID);
    let (without, _) = api.issue_tokens_with_scopes(BROADCASTER_ID, &["moderator:read:followers"]);
    let client = reqwest::Client::new();
    let put = |token: &str, query: &[(&str, &str)]| {
        client
            .put(format!("{}/users/blocks", api.helix_url()))
            .header("Client-Id", "fakeclient")
            .bearer_auth(token)
            .query(query)
            .send()
    };
    let status = |r: reqwest::Result<reqwest::Response>| r.expect("answer").status().as_u16();
    assert_eq!(
        status(put(&without, &[("target_user_id", "12345")]).await),
        401,
        "without user:manage:blocked_users"
    );
    assert_eq!(status(put(&with_scope, &[]).await), 400, "no target");
    assert_eq!(
        status(
            put(
                &with_scope,
                &[("target_user_id", "12345"), ("reason", "boredom")]
            )
            .await
        ),
        400,
        "a reason off Twitch's list"
    );
    assert_eq!(
        status(
            put(
                &with_scope,
                &[
                    ("target_user_id", "12345"),
                    ("source_context", "chat"),
                    ("reason", "spam")
                ]
            )
            .await
        ),
        204
    );
    assert_eq!(
        api.blocks(),
        vec![(BROADCASTER_ID.to_string(), "12345".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wave_outlives_a_dispatcher_restart_and_still_pays_each_account_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(&dir, waves(WavePoints::PayAfter), false).await;
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let bots: Vec<Viewer> = (0..100)
        .map(|n| Viewer::new(&format!("restartbot{n}")))
        .collect();
    for (n, b) in bots.iter().enumerate() {
        if n == 50 {
            assert!(
                bot.inject_panic("dispatcher"),
                "the dispatcher is supervised"
            );
        }
        sim.fire(b, &SimEvent::Follow).await;
    }
    let over = wait_line(&mut lines, 20, |l| {
        said(l).is_some_and(|t| t.contains("follow wave is over"))
    })
    .await
    .and_then(|l| said(&l));
    let over = over.expect("the wave ends after the restart");
    assert!(over.contains("100 follows"), "{over}");
    for b in &bots {
        assert_eq!(points(&bot, b), FOLLOW_POINTS, "{} paid once", b.login);
    }
    assert_eq!(bot.supervisor().restarts()["dispatcher"].restarts, 1);
    bot.shutdown().await;
}

/// Blocking a wave's accounts needs the broadcaster's `user:manage:blocked_users`: a grant
/// without it (or no broadcaster token at all) is reported at start, checked against the
/// simulated Twitch's `/validate`, like raid mode's scopes.
#[tokio::test]
async fn a_broadcaster_grant_without_the_block_scope_is_reported_at_start() {
    use twitch_bot::moderation::waves::{BLOCK_SCOPE, block_scope_check};
    use twitch_bot::sim::helix::{BOT_ID, BROADCASTER_ID};
    use twitch_bot::sim::{FakeApiOptions, FakeTwitchApi};
    use twitch_bot::twitch::auth::{AuthClient, Tokens};

    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake starts");
    let tokens = |broadcaster: Option<(String, String)>| {
        let mut secrets = twitch_bot::config::Secrets {
            client_id: "fakeclient".into(),
            ..Default::default()
        };
        (secrets.bot.access_token, secrets.bot.refresh_token) = api.issue_tokens(BOT_ID);
        if let Some((access, refresh)) = broadcaster {
            (
                secrets.broadcaster.access_token,
                secrets.broadcaster.refresh_token,
            ) = (access, refresh);
        }
        let auth = AuthClient::new(reqwest::Client::new(), &api.auth_url(), "fakeclient", None);
        Tokens::new(auth, secrets, None)
    };

    let narrow =
        api.issue_tokens_with_scopes(BROADCASTER_ID, &["channel:bot", "moderator:read:followers"]);
    let warning = block_scope_check(&tokens(Some(narrow)))
        .await
        .expect("the missing scope is reported");
    assert!(warning.contains(BLOCK_SCOPE), "{warning}");
    assert!(
        warning.contains("twitch-bot auth"),
        "says what to do: {warning}"
    );

    let none = block_scope_check(&tokens(None))
        .await
        .expect("no broadcaster token is reported");
    assert!(none.contains("no broadcaster token"), "{none}");

    let full = api.issue_tokens(BROADCASTER_ID);
    assert_eq!(block_scope_check(&tokens(Some(full))).await, None);
}
