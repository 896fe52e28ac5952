//! The simulated Twitch enforces Twitch's rules the way Twitch does, over its real wire formats:
//! a banned account's later lines reach nobody, Helix's 800-point bucket per token answers
//! 429 with `Ratelimit-Reset` once it is spent, and emote-only and slow mode (set with `PATCH
//! /chat/settings`) withhold a viewer's line as Twitch does. The benchmarks and `--offline`
//! rely on them.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use twitch_bot::config::Config;
use twitch_bot::event::Roles;
use twitch_bot::sim::helix::{BOT_ID, BROADCASTER_ID};
use twitch_bot::sim::{
    FakeApiOptions, FakeChat, FakeChatOptions, FakeTwitchApi, SimTwitch, Viewer,
};

async fn api() -> FakeTwitchApi {
    FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake API starts")
}

/// A Helix request with `token`; returns status, `Ratelimit-Remaining` and `Ratelimit-Reset`.
async fn helix(
    http: &reqwest::Client,
    api: &FakeTwitchApi,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, u64, u64) {
    let mut req = http
        .request(method, format!("{}{path}", api.helix_url()))
        .header("Client-Id", "fakeclient")
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("fake answers");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    (
        resp.status().as_u16(),
        header("ratelimit-remaining"),
        header("ratelimit-reset"),
    )
}

#[tokio::test]
async fn a_banned_viewers_later_lines_reach_nobody() {
    let api = api().await;
    let chat = FakeChat::start(FakeChatOptions::default())
        .await
        .expect("fake chat starts");
    chat.apply_punishments(api.punishments());
    let (token, _) = api.issue_tokens(BOT_ID);

    // A client in the channel, reading what Twitch delivers.
    let stream = TcpStream::connect(chat.irc_url().trim_start_matches("irc://"))
        .await
        .expect("connects");
    let (read, mut write) = stream.into_split();
    write
        .write_all(b"PASS oauth:x\r\nNICK watcher\r\nJOIN #mychannel\r\n")
        .await
        .expect("logs in");
    let mut lines = BufReader::new(read).lines();
    let mut next_privmsg = async || loop {
        let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
            .await
            .expect("a line within 5 s")
            .expect("reads")
            .expect("open");
        if line.contains(" PRIVMSG ") {
            return line;
        }
    };
    while chat.joined("mychannel") == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let spammer = Viewer::new("spammer");
    let bystander = Viewer::new("bystander");
    chat.chat("mychannel", &spammer, "buy followers").await;
    assert!(next_privmsg().await.ends_with(":buy followers"));

    let http = reqwest::Client::new();
    let ban = |user: &str| json!({"data": {"user_id": user, "reason": "spam"}});
    let path = format!("/moderation/bans?broadcaster_id={BROADCASTER_ID}&moderator_id={BOT_ID}");
    let (status, _, _) = helix(
        &http,
        &api,
        &token,
        reqwest::Method::POST,
        &path,
        Some(ban(&spammer.id)),
    )
    .await;
    assert_eq!(status, 200, "the ban is accepted");
    assert!(!chat.delivers(&spammer));
    assert!(chat.delivers(&bystander));

    // The banned account's line is not delivered; the next viewer's line is the next one seen.
    chat.chat("mychannel", &spammer, "buy followers again")
        .await;
    chat.chat("mychannel", &bystander, "hello").await;
    let seen = next_privmsg().await;
    assert!(seen.ends_with(":hello"), "saw {seen}");

    // Twitch refuses to ban the account again, or nobody.
    let (again, _, _) = helix(
        &http,
        &api,
        &token,
        reqwest::Method::POST,
        &path,
        Some(ban(&spammer.id)),
    )
    .await;
    assert_eq!(again, 400);
    let (nobody, _, _) = helix(
        &http,
        &api,
        &token,
        reqwest::Method::POST,
        &path,
        Some(ban("")),
    )
    .await;
    assert_eq!(nobody, 400);
    let tally = api.tally();
    assert_eq!(
        tally.get(&("POST /moderation/bans (ban)".to_string(), 200)),
        Some(&1)
    );
    assert_eq!(
        tally.get(&("POST /moderation/bans (ban)".to_string(), 400)),
        Some(&2)
    );
}

#[tokio::test]
async fn a_token_that_spent_its_800_points_gets_429_with_the_reset_time() {
    let api = api().await;
    let (bot, _) = api.issue_tokens(BOT_ID);
    let (broadcaster, _) = api.issue_tokens(BROADCASTER_ID);
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut accepted = 0u64;
    let refused = loop {
        let (status, remaining, reset) =
            helix(&http, &api, &bot, reqwest::Method::GET, "/users", None).await;
        if status == 429 {
            break (remaining, reset);
        }
        assert_eq!(status, 200);
        accepted += 1;
        assert!(accepted <= 2_000, "no 429 after {accepted} requests");
    };
    let elapsed = started.elapsed().as_secs_f64();
    // 800 points, plus what refilled meanwhile at 800 a minute.
    let refilled = (elapsed * 800.0 / 60.0).ceil() as u64;
    assert!(
        (800..=800 + refilled + 1).contains(&accepted),
        "{accepted} accepted in {elapsed:.1} s"
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert_eq!(refused.0, 0, "Ratelimit-Remaining on the 429");
    assert!(
        refused.1 > now && refused.1 <= now + 61,
        "Ratelimit-Reset {} is when the bucket is full again (now {now})",
        refused.1
    );
    // Another token's user has a bucket of its own.
    let (status, remaining, _) = helix(
        &http,
        &api,
        &broadcaster,
        reqwest::Method::GET,
        "/users",
        None,
    )
    .await;
    assert_eq!((status, remaining), (200, 799));
    assert!(api.tally().contains_key(&("GET /users".to_string(), 429)));
}

/// A client logged in to the simulated chat and in `#mychannel`, reading what Twitch delivers.
struct Watcher {
    lines: tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    _write: tokio::net::tcp::OwnedWriteHalf,
}

impl Watcher {
    async fn join(sim: &SimTwitch) -> Watcher {
        let stream = TcpStream::connect(sim.chat.irc_url().trim_start_matches("irc://"))
            .await
            .expect("connects");
        let (read, mut write) = stream.into_split();
        write
            .write_all(b"PASS oauth:x\r\nNICK watcher\r\nJOIN #mychannel\r\n")
            .await
            .expect("logs in");
        while sim.chat.joined("mychannel") == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Watcher {
            lines: BufReader::new(read).lines(),
            _write: write,
        }
    }

    /// The text of the next chat line delivered, or `None` when none comes within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<String> {
        loop {
            let line = tokio::time::timeout(wait, self.lines.next_line())
                .await
                .ok()?
                .expect("reads")
                .expect("open");
            if let Some((_, text)) = line.split_once(" PRIVMSG #mychannel :") {
                return Some(text.to_owned());
            }
        }
    }
}

/// `PATCH /chat/settings` as the bot (a moderator), as raid mode sends it.
async fn chat_settings(sim: &SimTwitch, body: serde_json::Value) {
    let (token, _) = sim.api.issue_tokens(BOT_ID);
    let path = format!("/chat/settings?broadcaster_id={BROADCASTER_ID}&moderator_id={BOT_ID}");
    let (status, _, _) = helix(
        &reqwest::Client::new(),
        &sim.api,
        &token,
        reqwest::Method::PATCH,
        &path,
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "Twitch takes the settings");
}

#[tokio::test]
async fn in_emote_only_mode_a_line_that_is_not_only_emotes_reaches_nobody() {
    let sim = SimTwitch::start(&mut Config::default(), "mychannel")
        .await
        .expect("simulator starts");
    let mut chat = Watcher::join(&sim).await;
    let viewer = Viewer::new("viewer");
    let subscriber = Viewer::new("subscriber").with(Roles::SUBSCRIBER);
    let moderator = Viewer::new("moderator").with(Roles::MODERATOR);
    let vip = Viewer::new("vip").with(Roles::VIP);
    let quick = Duration::from_millis(300);

    sim.chat_as(&viewer, "hello chat").await;
    assert_eq!(
        chat.next(quick).await.as_deref(),
        Some("hello chat"),
        "off: delivered"
    );

    chat_settings(&sim, json!({"emote_mode": true})).await;
    assert!(sim.try_chat_as(&viewer, "hello chat").await.is_none());
    assert!(
        sim.try_chat_as(&vip, "Kappa hi").await.is_none(),
        "VIPs are not exempt"
    );
    // The channel's emote is a subscriber emote: not an emote a plain viewer can use.
    assert!(sim.try_chat_as(&viewer, "mychanHype").await.is_none());
    assert!(sim.try_chat_as(&viewer, "").await.is_none());
    assert_eq!(
        chat.next(quick).await,
        None,
        "nothing but emotes reaches chat"
    );

    for (who, text) in [
        (&viewer, "Kappa LUL Kappa"),
        (&subscriber, "mychanHype Kappa"),
        (&moderator, "mods may still talk"),
    ] {
        assert!(sim.try_chat_as(who, text).await.is_some(), "{text}");
        assert_eq!(chat.next(quick).await.as_deref(), Some(text));
    }

    chat_settings(&sim, json!({"emote_mode": false})).await;
    sim.chat_as(&viewer, "words again").await;
    assert_eq!(chat.next(quick).await.as_deref(), Some("words again"));
}

#[tokio::test]
async fn in_slow_mode_a_second_line_within_the_wait_reaches_nobody() {
    let sim = SimTwitch::start(&mut Config::default(), "mychannel")
        .await
        .expect("simulator starts");
    let mut chat = Watcher::join(&sim).await;
    let viewer = Viewer::new("viewer");
    let other = Viewer::new("other");
    let moderator = Viewer::new("moderator").with(Roles::MODERATOR);
    let vip = Viewer::new("vip").with(Roles::VIP);
    let quick = Duration::from_millis(300);

    chat_settings(&sim, json!({"slow_mode": true, "slow_mode_wait_time": 3})).await;
    let first = Instant::now();
    assert!(sim.try_chat_as(&viewer, "one").await.is_some());
    assert_eq!(chat.next(quick).await.as_deref(), Some("one"));
    assert!(
        sim.try_chat_as(&viewer, "two").await.is_none(),
        "within the wait"
    );
    assert_eq!(chat.next(quick).await, None);
    // Others, moderators and VIPs are not held by this viewer's wait.
    for (who, text) in [
        (&other, "mine"),
        (&moderator, "m1"),
        (&moderator, "m2"),
        (&vip, "v1"),
        (&vip, "v2"),
    ] {
        assert!(sim.try_chat_as(who, text).await.is_some(), "{text}");
        assert_eq!(chat.next(quick).await.as_deref(), Some(text));
    }
    // Once the wait is over the viewer's next line goes through (a withheld line does not
    // start the wait again).
    tokio::time::sleep_until((first + Duration::from_millis(3_100)).into()).await;
    assert!(sim.try_chat_as(&viewer, "three").await.is_some());
    assert_eq!(chat.next(quick).await.as_deref(), Some("three"));

    chat_settings(&sim, json!({"slow_mode": false})).await;
    sim.chat_as(&viewer, "four").await;
    assert_eq!(chat.next(quick).await.as_deref(), Some("four"));
}
