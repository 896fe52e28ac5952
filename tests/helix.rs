//! The Helix client against the simulated Twitch API: token refresh on 401 with the rotated
//! refresh token saved, rate-limit waits, retries, pagination, moderation actions, emotes.

use std::time::{Duration, Instant};

use twitch_bot::action::Action;
use twitch_bot::config::Secrets;
use twitch_bot::sim::helix::{BOT_ID, BROADCASTER_ID};
use twitch_bot::sim::{FakeApiOptions, FakeTwitchApi};
use twitch_bot::twitch::auth::{AuthClient, Tokens};
use twitch_bot::twitch::emotes::{self, EmotesConfig};
use twitch_bot::twitch::helix::{ChannelIds, Helix, HelixError, RetryPolicy, with_backoff};

struct Setup {
    api: FakeTwitchApi,
    helix: Helix,
    dir: tempfile::TempDir,
    bot_refresh: String,
}

async fn setup() -> Setup {
    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake starts");
    let (bot_access, bot_refresh) = api.issue_tokens(BOT_ID);
    let (b_access, b_refresh) = api.issue_tokens(BROADCASTER_ID);
    let mut secrets = Secrets {
        client_id: "fakeclient".into(),
        ..Secrets::default()
    };
    secrets.bot.access_token = bot_access;
    secrets.bot.refresh_token = bot_refresh.clone();
    secrets.broadcaster.access_token = b_access;
    secrets.broadcaster.refresh_token = b_refresh;
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    let auth = AuthClient::new(http.clone(), &api.auth_url(), "fakeclient", None);
    let tokens = Tokens::new(auth, secrets, Some(dir.path().join("secrets.yaml")));
    let retry = RetryPolicy {
        backoff: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    let helix = Helix::new(http, &api.helix_url(), tokens, retry);
    helix.set_ids(ChannelIds {
        broadcaster_id: BROADCASTER_ID.into(),
        bot_id: BOT_ID.into(),
    });
    Setup {
        api,
        helix,
        dir,
        bot_refresh,
    }
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_rotated_refresh_token_is_saved() {
    let s = setup().await;
    s.api.expire_access_tokens();

    let users = s
        .helix
        .users(&["mychannel"])
        .await
        .expect("call succeeds after refresh");
    assert_eq!(users.first().map(|u| u.id.as_str()), Some(BROADCASTER_ID));
    assert_eq!(s.api.refresh_calls(), 1, "one refresh, not a loop");

    let path = s.dir.path().join("secrets.yaml");
    let saved: Secrets = twitch_bot::config::load_file(&path).expect("saved secrets parse");
    assert_ne!(
        saved.bot.refresh_token, s.bot_refresh,
        "the rotated token was stored"
    );
    assert!(s.api.refresh_token_valid(&saved.bot.refresh_token));
    assert!(
        !s.api.refresh_token_valid(&s.bot_refresh),
        "the old one is spent"
    );
    assert_eq!(
        saved.bot.access_token,
        s.helix
            .tokens()
            .access(twitch_bot::twitch::auth::Account::Bot)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[tokio::test]
async fn a_revoked_grant_fails_with_one_clear_message_without_the_token() {
    let s = setup().await;
    let token = s
        .helix
        .tokens()
        .access(twitch_bot::twitch::auth::Account::Bot);
    s.api.revoke_all();
    let err = s.helix.users(&["mychannel"]).await.expect_err("revoked");
    let text = err.to_string();
    assert!(text.contains("twitch-bot auth"), "{text}");
    assert!(!text.contains(&token));
    assert_eq!(s.api.refresh_calls(), 1);
}

#[tokio::test]
async fn a_429_waits_until_the_reset_then_succeeds() {
    let s = setup().await;
    s.api.throttle_next(1, 2);
    let started = Instant::now();
    s.helix
        .users(&["mybot"])
        .await
        .expect("succeeds after the reset");
    let waited = started.elapsed();
    // Reset is epoch seconds 2 ahead (whole seconds), so the wait is between 1 and 2 s.
    assert!(
        waited >= Duration::from_millis(900),
        "waited only {waited:?}"
    );
    assert_eq!(s.api.requests().len(), 2, "one refused, one retried");
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_but_not_forever() {
    let s = setup().await;
    s.api.fail_next(2);
    s.helix.users(&["mybot"]).await.expect("third try works");
    assert_eq!(s.api.requests().len(), 3);

    s.api.fail_next(100);
    let err = s.helix.users(&["mybot"]).await.expect_err("gives up");
    assert_eq!(err.status(), Some(503));
    assert_eq!(s.api.requests().len(), 3 + 5, "first try plus four retries");
}

#[tokio::test]
async fn a_start_up_call_outlasts_server_errors_but_stops_at_a_lost_grant() {
    let s = setup().await;
    // More 500s than one call's retries: only the start-up loop gets through.
    s.api.fail_next_with(7, 500);
    let users = with_backoff("users", Duration::from_secs(300), || {
        s.helix.users(&["mybot"])
    })
    .await
    .expect("answered once the errors stop");
    assert_eq!(users.first().map(|u| u.id.as_str()), Some(BOT_ID));
    assert_eq!(s.api.requests().len(), 8);

    s.api.revoke_all();
    let before = s.api.requests().len();
    let err = tokio::time::timeout(
        Duration::from_secs(5),
        with_backoff("users", Duration::from_secs(300), || {
            s.helix.users(&["mybot"])
        }),
    )
    .await
    .expect("a lost grant ends the loop at once")
    .expect_err("revoked");
    assert!(err.to_string().contains("twitch-bot auth"), "{err}");
    assert_eq!(s.api.requests().len(), before + 1, "asked once");
}

#[tokio::test]
async fn chatters_follow_every_page() {
    let s = setup().await;
    s.api.set_chatters(250);
    let chatters = s.helix.chatters().await.expect("chatters");
    assert_eq!(chatters.len(), 250);
    assert_eq!(
        chatters.last().map(|c| c.user_login.as_str()),
        Some("viewer249")
    );
    let pages = s
        .api
        .requests()
        .iter()
        .filter(|r| r.path == "/chat/chatters")
        .count();
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn moderation_actions_reach_helix_with_the_right_fields() {
    let s = setup().await;
    let timeout = Action::Timeout {
        channel: "mychannel".into(),
        user_id: "3000".into(),
        seconds: 600,
        reason: "spam".into(),
    };
    let ban = Action::Ban {
        channel: "mychannel".into(),
        user_id: "3001".into(),
        reason: "bot".into(),
    };
    let delete = Action::Delete {
        channel: "mychannel".into(),
        message_id: "abc-123".into(),
    };
    let announce = Action::Announce {
        channel: "mychannel".into(),
        text: "Stream starts!".into(),
        color: Some("purple".into()),
    };
    for a in [&timeout, &ban, &delete, &announce] {
        assert!(s.helix.perform(a).await.expect("performed"));
    }
    let say = Action::Say {
        channel: "mychannel".into(),
        text: "hi".into(),
    };
    assert!(!s.helix.perform(&say).await.expect("not ours"));

    let reqs = s.api.requests();
    let q = |r: &twitch_bot::sim::helix::HelixRequest, k: &str| {
        r.query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let bans: Vec<_> = reqs
        .iter()
        .filter(|r| r.path == "/moderation/bans")
        .collect();
    assert_eq!(bans.len(), 2);
    assert_eq!(bans[0].body["data"]["duration"], 600);
    assert_eq!(bans[0].body["data"]["user_id"], "3000");
    assert!(
        bans[1].body["data"].get("duration").is_none(),
        "a ban has no duration"
    );
    assert_eq!(q(bans[0], "moderator_id").as_deref(), Some(BOT_ID));
    assert_eq!(
        q(bans[0], "broadcaster_id").as_deref(),
        Some(BROADCASTER_ID)
    );
    let del = reqs
        .iter()
        .find(|r| r.method == "DELETE")
        .expect("delete sent");
    assert_eq!(q(del, "message_id").as_deref(), Some("abc-123"));
    let ann = reqs
        .iter()
        .find(|r| r.path == "/chat/announcements")
        .expect("announce");
    assert_eq!(ann.body["color"], "purple");
    assert_eq!(ann.body["message"], "Stream starts!");
}

#[tokio::test]
async fn a_second_shoutout_within_two_minutes_is_refused_without_calling_twitch() {
    let s = setup().await;
    s.helix.shoutout("3000").await.expect("first shoutout");
    match s.helix.shoutout("3001").await {
        Err(HelixError::ShoutoutTooSoon { wait_secs }) => assert!(wait_secs > 100),
        other => panic!("expected a local refusal, got {other:?}"),
    }
    let calls = s
        .api
        .requests()
        .iter()
        .filter(|r| r.path == "/chat/shoutouts")
        .count();
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn emotes_load_from_twitch_and_a_dead_third_party_site_only_warns() {
    let s = setup().await;
    let config = EmotesConfig {
        bttv_url: "http://127.0.0.1:9/3".into(),
        ffz: false,
        seventv: false,
        ..EmotesConfig::default()
    };
    let set = emotes::load(
        Some(&s.helix),
        &reqwest::Client::new(),
        &config,
        BROADCASTER_ID,
    )
    .await;
    assert!(set.contains("Kappa"));
    assert!(set.contains("mychanHype"));
    assert!(!set.contains("kappa"), "emote names are case-sensitive");
}

#[tokio::test]
async fn stream_state_is_read_at_start_and_viewers_are_sampled_while_live() {
    use twitch_bot::event::{ChannelEvent, ChannelEventKind, EventSource};
    use twitch_bot::twitch::stream::{self, StreamConfig};
    let s = setup().await;
    s.api.set_live(Some(37));
    let stop = tokio_util::sync::CancellationToken::new();
    let (handle, _task) = stream::spawn(
        s.helix.clone(),
        BROADCASTER_ID.into(),
        StreamConfig {
            viewer_sample_minutes: 1,
            ..StreamConfig::default()
        },
        stop.clone(),
    );
    let mut samples = handle.samples();
    let first = tokio::time::timeout(Duration::from_secs(5), samples.recv())
        .await
        .expect("a sample at start")
        .expect("open");
    assert_eq!(first.viewers, 37);
    assert!(handle.is_live());
    handle.observe(&ChannelEvent {
        id: "x".into(),
        source: EventSource::EventSub,
        user: None,
        kind: ChannelEventKind::StreamOffline,
    });
    assert!(!handle.is_live(), "EventSub's offline wins");
    stop.cancel();
}

/// BTTV, FFZ and 7TV answers in their real shapes, served on 127.0.0.1.
async fn third_party_sites() -> String {
    use axum::routing::get;
    use axum::{Json, Router};
    use serde_json::json;
    let app = Router::new()
        .route(
            "/bttv/cached/users/twitch/{id}",
            get(|| async {
                Json(json!({"id": "x", "bots": [], "avatar": "", "channelEmotes": [{"id": "1", "code": "bttvChan", "imageType": "png", "animated": false, "userId": "u"}],
                    "sharedEmotes": [{"id": "2", "code": "catJAM", "imageType": "gif", "animated": true, "user": {"id": "u", "name": "n", "displayName": "N", "providerId": "1"}}]}))
            }),
        )
        .route("/bttv/cached/emotes/global", get(|| async { Json(json!([{"id": "3", "code": "FeelsBadMan", "imageType": "png", "animated": false, "userId": "u"}])) }))
        .route(
            "/ffz/room/id/{id}",
            get(|| async { Json(json!({"room": {"id": 1, "set": 7}, "sets": {"7": {"id": 7, "title": "Channel", "emoticons": [{"id": 9, "name": "ffzChan", "urls": {}}]}}})) }),
        )
        .route(
            "/ffz/set/global",
            get(|| async { Json(json!({"default_sets": [3], "sets": {"3": {"id": 3, "emoticons": [{"id": 1, "name": "ZreknarF", "urls": {}}]}, "4330": {"id": 4330, "emoticons": [{"id": 2, "name": "OnlyForSome", "urls": {}}]}}, "users": {"4330": ["someone"]}})) }),
        )
        .route("/7tv/users/twitch/{id}", get(|| async { (axum::http::StatusCode::NOT_FOUND, Json(json!({"status_code": 404, "error": "user not found"}))) }))
        .route("/7tv/emote-sets/global", get(|| async { Json(json!({"id": "g", "name": "Global Emotes", "emotes": [{"id": "a", "name": "EZ", "flags": 0, "data": {}}]})) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn bttv_ffz_and_7tv_emotes_are_read_in_their_formats_and_a_missing_profile_is_fine() {
    let base = third_party_sites().await;
    let config = EmotesConfig {
        twitch: false,
        bttv_url: format!("{base}/bttv"),
        ffz_url: format!("{base}/ffz"),
        seventv_url: format!("{base}/7tv"),
        ..EmotesConfig::default()
    };
    let set = emotes::load(None, &reqwest::Client::new(), &config, BROADCASTER_ID).await;
    for name in [
        "bttvChan",
        "catJAM",
        "FeelsBadMan",
        "ffzChan",
        "ZreknarF",
        "EZ",
    ] {
        assert!(set.contains(name), "{name} loaded");
    }
    assert!(
        !set.contains("OnlyForSome"),
        "FFZ global uses default_sets only"
    );
    assert_eq!(set.len(), 6);

    let only_ffz = EmotesConfig {
        bttv: false,
        seventv: false,
        ..config
    };
    let set = emotes::load(None, &reqwest::Client::new(), &only_ffz, BROADCASTER_ID).await;
    assert!(
        set.contains("ffzChan") && !set.contains("catJAM"),
        "switches are honoured"
    );
}
