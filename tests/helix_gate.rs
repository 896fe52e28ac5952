//! The Helix gate against a fake Helix on 127.0.0.1 that keeps Twitch's bucket per token
//! (`Ratelimit-Limit`, `-Remaining`, `-Reset` in epoch seconds; 429 when empty): urgent calls
//! go first when the bucket refills, tokens do not share a bucket, and a 429 is waited out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use twitch_bot::config::Secrets;
use twitch_bot::twitch::auth::{AuthClient, Tokens};
use twitch_bot::twitch::helix::{ChannelIds, Helix, HelixError, Priority, RetryPolicy, TokenKind};

const BOT_TOKEN: &str = "bot-token";
const BROADCASTER_TOKEN: &str = "broadcaster-token";

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    token: String,
    at_ms: u64,
    status: u16,
}

#[derive(Debug, Default)]
struct Bucket {
    points: u64,
    /// Epoch seconds when the bucket is full again.
    reset: u64,
}

#[derive(Debug, Default)]
struct Fake {
    /// Points per bucket.
    limit: u64,
    /// Seconds from the first spend to the refill.
    window: u64,
    buckets: HashMap<String, Bucket>,
    /// Answer the next N requests with 429 (reset `window` ahead) whatever the bucket holds.
    force_429: u32,
    seen: Vec<Seen>,
}

type Shared = Arc<Mutex<Fake>>;

async fn helix(State(fake): State<Shared>, uri: Uri, headers: HeaderMap) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let now = epoch_ms() / 1000;
    let mut f = fake.lock().unwrap();
    let (limit, window) = (f.limit, f.window);
    let forced = f.force_429 > 0;
    if forced {
        f.force_429 -= 1;
    }
    let b = f.buckets.entry(token.clone()).or_insert(Bucket {
        points: limit,
        reset: 0,
    });
    if now >= b.reset {
        b.points = limit;
    }
    let status = if forced || b.points == 0 {
        if forced {
            b.points = 0;
            b.reset = now + window;
        }
        StatusCode::TOO_MANY_REQUESTS
    } else {
        if b.points == limit {
            b.reset = now + window;
        }
        b.points -= 1;
        StatusCode::OK
    };
    let (points, reset) = (b.points, b.reset);
    f.seen.push(Seen {
        path: uri.path().trim_start_matches("/helix").to_string(),
        token,
        at_ms: epoch_ms(),
        status: status.as_u16(),
    });
    let body = if status == StatusCode::OK {
        r#"{"data":[],"total":0,"pagination":{}}"#
    } else {
        r#"{"error":"Too Many Requests","status":429,"message":"Too Many Requests"}"#
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("ratelimit-limit", HeaderValue::from(limit));
    h.insert("ratelimit-remaining", HeaderValue::from(points));
    h.insert("ratelimit-reset", HeaderValue::from(reset));
    resp
}

async fn start(limit: u64, window: u64) -> (Shared, String) {
    let fake: Shared = Arc::new(Mutex::new(Fake {
        limit,
        window,
        ..Fake::default()
    }));
    let app = Router::new()
        .route("/helix/{*rest}", any(helix))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (fake, format!("http://{addr}/helix"))
}

fn client(base: &str, max_retries: u32) -> Helix {
    let mut secrets = Secrets {
        client_id: "fakeclient".into(),
        ..Secrets::default()
    };
    secrets.bot.access_token = BOT_TOKEN.into();
    secrets.broadcaster.access_token = BROADCASTER_TOKEN.into();
    let http = reqwest::Client::new();
    let auth = AuthClient::new(
        http.clone(),
        "http://127.0.0.1:9/oauth2",
        "fakeclient",
        None,
    );
    let tokens = Tokens::new(auth, secrets, None);
    let retry = RetryPolicy {
        max_retries,
        backoff: Duration::from_millis(50),
        max_reset_wait: Duration::from_secs(10),
    };
    let helix = Helix::new(http, base, tokens, retry);
    helix.set_ids(ChannelIds {
        broadcaster_id: "2000".into(),
        bot_id: "1000".into(),
    });
    helix
}

async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !ok() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_queued_moderation_call_goes_before_a_queued_background_call_when_the_bucket_refills() {
    // A one-point bucket: each call empties it until the reset.
    let (fake, base) = start(1, 2).await;
    let helix = client(&base, 4);
    helix
        .users(&["first"])
        .await
        .expect("the first call spends the point");
    assert_eq!(helix.gate().remaining(TokenKind::Bot), 0);

    let background = {
        let h = helix.at(Priority::Background);
        tokio::spawn(async move { h.stream("2000").await })
    };
    until("the background call queues", || {
        helix.gate().waiting(TokenKind::Bot) == 1
    })
    .await;
    let moderation = {
        let h = helix.at(Priority::Moderation);
        tokio::spawn(async move { h.ban("3000", Some(60), "spam").await })
    };
    until("the moderation call queues", || {
        helix.gate().waiting(TokenKind::Bot) == 2
    })
    .await;
    assert_eq!(
        fake.lock().unwrap().seen.len(),
        1,
        "both wait for the reset"
    );

    moderation.await.unwrap().expect("the ban goes through");
    background
        .await
        .unwrap()
        .expect("the stream poll goes through");
    let seen = fake.lock().unwrap().seen.clone();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["/users", "/moderation/bans", "/streams"]);
    assert!(
        seen.iter().all(|s| s.status == 200),
        "nothing was sent into an empty bucket: {seen:?}"
    );
}

#[tokio::test]
async fn the_broadcasters_empty_bucket_does_not_hold_the_bots_calls() {
    let (fake, base) = start(1, 3).await;
    let helix = client(&base, 4);
    helix
        .followers(1)
        .await
        .expect("the broadcaster spends its point");
    assert_eq!(helix.gate().remaining(TokenKind::Broadcaster), 0);
    let waiting = {
        let h = helix.clone();
        tokio::spawn(async move { h.followers(1).await })
    };
    until("the broadcaster's second call queues", || {
        helix.gate().waiting(TokenKind::Broadcaster) == 1
    })
    .await;

    let started = std::time::Instant::now();
    helix
        .users(&["someone"])
        .await
        .expect("the bot's call goes");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the bot's call took {:?}",
        started.elapsed()
    );
    assert!(
        !waiting.is_finished(),
        "the broadcaster's call still waits for its own reset"
    );
    waiting.await.unwrap().expect("and goes after it");
    let seen = fake.lock().unwrap().seen.clone();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.status == 200), "{seen:?}");
    assert_eq!(seen[1].token, BOT_TOKEN);
}

#[tokio::test]
async fn a_429_is_waited_out_until_its_reset_then_retried_once() {
    let (fake, base) = start(800, 2).await;
    let helix = client(&base, 4);
    fake.lock().unwrap().force_429 = 1;
    helix
        .at(Priority::Moderation)
        .delete_message("m1")
        .await
        .expect("the retry after the reset succeeds");
    let f = fake.lock().unwrap();
    assert_eq!(f.seen.len(), 2, "one 429, one retry: {:?}", f.seen);
    assert_eq!(f.seen[0].status, 429);
    let first = &f.seen[0];
    let second = &f.seen[1];
    // The 429 said the bucket refills at the start of second `reset` (2 s ahead, floored).
    let said_reset_ms = (first.at_ms / 1000 + 2) * 1000;
    assert!(
        second.at_ms >= said_reset_ms,
        "retried at {} ms, before the reset at {said_reset_ms} ms",
        second.at_ms
    );
    assert_eq!(second.status, 200);
}

#[tokio::test]
async fn endless_429s_are_retried_a_bounded_number_of_times_each_after_its_reset() {
    let (fake, base) = start(800, 1).await;
    let helix = client(&base, 2);
    fake.lock().unwrap().force_429 = 1_000;
    let err = helix
        .users(&["x"])
        .await
        .expect_err("Twitch never lets it through");
    assert!(
        matches!(err, HelixError::Status { status: 429, .. }),
        "{err}"
    );
    let seen = fake.lock().unwrap().seen.clone();
    assert_eq!(seen.len(), 3, "one try and two retries, no storm: {seen:?}");
    for pair in seen.windows(2) {
        assert!(
            pair[1].at_ms / 1000 > pair[0].at_ms / 1000,
            "each retry waits for the next reset second: {seen:?}"
        );
    }
}

#[tokio::test]
async fn a_raid_burst_larger_than_the_bucket_gets_no_429_and_moderation_finishes_first() {
    // A 40-point bucket refilled every second: 240 calls need six refills.
    let (fake, base) = start(40, 1).await;
    let helix = client(&base, 4);
    helix.users(&["first"]).await.expect("learns the bucket");
    let started = std::time::Instant::now();
    let started_ms = epoch_ms();
    let mut calls = Vec::new();
    for i in 0..80 {
        let h = helix.at(Priority::Background);
        calls.push(tokio::spawn(async move {
            h.stream(&format!("{i}")).await.map(drop)
        }));
    }
    for i in 0..160 {
        let h = helix.at(Priority::Moderation);
        calls.push(tokio::spawn(async move {
            h.ban(&format!("raider{i}"), None, "spam").await
        }));
    }
    for c in calls {
        c.await.unwrap().expect("every call goes through");
    }
    let elapsed = started.elapsed();
    let seen = fake.lock().unwrap().seen.clone();
    let throttled = seen.iter().filter(|s| s.status == 429).count();
    let second = |s: &Seen| s.at_ms / 1000;
    let last_ban = seen
        .iter()
        .filter(|s| s.path == "/moderation/bans")
        .map(second)
        .max()
        .unwrap_or(0);
    // Polls sent at once while the bucket was full arrive within a moment; those that waited
    // must not have gone while bans were still waiting for a later refill.
    let waited: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path == "/streams" && s.at_ms > started_ms + 500)
        .collect();
    let early = waited.iter().filter(|s| second(s) < last_ban).count();
    eprintln!(
        "240 calls through a 40-point/1 s bucket: {throttled} x 429, {elapsed:?}, {} polls waited, {early} of them before the last ban's refill",
        waited.len()
    );
    assert_eq!(throttled, 0, "the gate never sends into an empty bucket");
    assert!(
        !waited.is_empty(),
        "the low bucket held background calls back"
    );
    assert_eq!(early, 0, "a background call overtook waiting bans");
}

#[tokio::test]
async fn the_simulator_keeps_a_bucket_per_user_and_the_gate_stays_within_it() {
    use twitch_bot::sim::helix::{BOT_ID, BROADCASTER_ID};
    use twitch_bot::sim::{FakeApiOptions, FakeTwitchApi};
    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake starts");
    api.set_rate_limit(5, 1);
    let (bot, _) = api.issue_tokens(BOT_ID);
    let (broadcaster, _) = api.issue_tokens(BROADCASTER_ID);
    // Raw requests: the sixth within the window is refused, the other user's bucket is full.
    let http = reqwest::Client::new();
    let get = |token: &str| {
        http.get(format!("{}/users", api.helix_url()))
            .bearer_auth(token)
            .header("Client-Id", "fakeclient")
            .send()
    };
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(get(&bot).await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    let other = get(&broadcaster).await.unwrap();
    assert_eq!(other.status(), 200);
    assert_eq!(other.headers()["ratelimit-remaining"], "4");
    assert_eq!(api.rate_limited(), 1);

    // Through the client and its gate: 15 calls on one token, no 429.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut secrets = Secrets {
        client_id: "fakeclient".into(),
        ..Secrets::default()
    };
    secrets.bot.access_token = bot;
    secrets.broadcaster.access_token = broadcaster;
    let http = reqwest::Client::new();
    let auth = AuthClient::new(http.clone(), &api.auth_url(), "fakeclient", None);
    let helix = Helix::new(
        http,
        &api.helix_url(),
        Tokens::new(auth, secrets, None),
        RetryPolicy::default(),
    );
    helix.users(&["mybot"]).await.expect("learns the bucket");
    let calls: Vec<_> = (0..14)
        .map(|_| {
            let h = helix.at(Priority::Moderation);
            tokio::spawn(async move { h.users(&["viewer_one"]).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().expect("goes through");
    }
    assert_eq!(
        api.rate_limited(),
        1,
        "the gate sent nothing into an empty bucket"
    );
}
