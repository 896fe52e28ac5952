//! The console's HTTP API over real sockets, against a fake bot: every endpoint, the token,
//! the one-time login link, the Origin rule, the live event stream and JSON errors.

mod console_support;

use std::sync::Arc;
use std::time::Duration;

use console_support::FakeBackend;
use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use twitch_bot::console::{self, Console};

const TOKEN: &str = "test-console-token";

struct Running {
    console: Console,
    backend: Arc<FakeBackend>,
    base: String,
    shutdown: CancellationToken,
    http: Client,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        // Every action is JSON, even one without fields.
        let req = self
            .http
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .json(&body.unwrap_or_else(|| json!({})));
        let resp = req.send().await.expect("request");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

async fn start(offline: bool) -> Running {
    let backend = FakeBackend::new(offline);
    let shutdown = CancellationToken::new();
    let listener = console::bind("127.0.0.1:0").await.expect("bind");
    let console = console::serve(listener, TOKEN.into(), backend.clone(), shutdown.clone())
        .await
        .expect("serve");
    let base = format!("http://{}", console.addr);
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Running {
        console,
        backend,
        base,
        shutdown,
        http,
    }
}

const GETS: &[&str] = &[
    "/",
    "/app.js",
    "/api/health",
    "/api/events",
    "/api/scripts",
    "/api/users/alice",
    "/api/leaderboard",
    "/api/stats",
];
const POSTS: &[&str] = &[
    "/api/scripts/reload",
    "/api/configs/reload",
    "/api/chat",
    "/api/discord",
    "/api/zmq",
    "/api/obs/connect",
    "/api/obs/disconnect",
    "/api/sim/chat",
    "/api/sim/event",
];

#[tokio::test]
async fn nothing_works_without_the_token() {
    let c = start(true).await;
    for (i, path) in GETS.iter().enumerate() {
        let resp = c.http.get(c.url(path)).send().await.expect("get");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "GET {path}");
        let wrong = c
            .http
            .get(c.url(path))
            .bearer_auth("not-the-token")
            .send()
            .await
            .expect("get");
        // Wrong tokens are throttled: five a minute, then 429 until the minute is over.
        let expected = if i < console::auth::MAX_FAILURES {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(wrong.status(), expected, "GET {path} wrong token");
    }
    for path in POSTS {
        let resp = c
            .http
            .post(c.url(path))
            .json(&json!({"text": "x", "topic": "t", "login": "a", "kind": "follow"}))
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "POST {path}");
    }
    assert!(c.backend.calls().is_empty(), "{:?}", c.backend.calls());
    // The page tells a person what to do; the API tells a program.
    let page = c.http.get(c.url("/")).send().await.expect("get");
    assert!(
        page.text()
            .await
            .unwrap_or_default()
            .contains("Paste the console token")
    );
    let (_, body) = async {
        let r = c.http.get(c.url("/api/health")).send().await.expect("get");
        (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
    }
    .await;
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Bearer")
    );
}

#[tokio::test]
async fn a_foreign_origin_cannot_change_anything() {
    let c = start(true).await;
    for path in POSTS {
        let resp = c
            .http
            .post(c.url(path))
            .bearer_auth(TOKEN)
            .header(header::ORIGIN, "http://evil.example")
            .json(&json!({"text": "x"}))
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "POST {path}");
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("cross-site"))
        );
    }
    assert!(c.backend.calls().is_empty());
    assert_eq!(
        c.backend
            .script_reloads
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    // The page's own origin is fine.
    let resp = c
        .http
        .post(c.url("/api/scripts/reload"))
        .bearer_auth(TOKEN)
        .header(header::ORIGIN, c.base.clone())
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::OK);
    // No CORS: nothing invites other sites to read answers.
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn the_login_link_signs_a_browser_in_once() {
    let c = start(false).await;
    let login = c.console.login_url();
    assert!(login.starts_with(&format!("{}/login?token=", c.base)));
    assert!(
        !login.contains(TOKEN),
        "the link must not carry the console token"
    );

    let resp = c.http.get(&login).send().await.expect("login");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[header::LOCATION], "/");
    let set_cookie = resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();

    // The cookie opens the page and the API.
    for path in ["/", "/api/health"] {
        let resp = c
            .http
            .get(c.url(path))
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .expect("get");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    let page = c
        .http
        .get(c.url("/"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .expect("get");
    assert!(
        page.text()
            .await
            .unwrap_or_default()
            .contains("Reload scripts")
    );

    // The same link in another browser (no cookie) is refused.
    let again = c.http.get(&login).send().await.expect("login again");
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    assert!(again.headers().get(header::SET_COOKIE).is_none());
    // A made-up session cookie is refused.
    let forged = c
        .http
        .get(c.url("/api/health"))
        .header(header::COOKIE, "twitch_bot_console=00ff")
        .send()
        .await
        .expect("get");
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_read_endpoint_answers_json() {
    let c = start(true).await;
    let (s, health) = c.get("/api/health").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(health["channel"], "streamer");
    assert_eq!(health["offline"], true);
    let obs = health["services"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["service"] == "obs"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(obs["state"], "reconnecting");
    assert_eq!(obs["last_error"], "connection refused (127.0.0.1:4455)");

    let (s, scripts) = c.get("/api/scripts").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(scripts["reloads"], 0);
    assert_eq!(scripts["scripts"][0]["settings"]["cooldown_secs"], 5);
    assert_eq!(
        scripts["scripts"][1]["error"]["file"],
        "commands/broken.rhai"
    );
    assert_eq!(scripts["scripts"][1]["error"]["line"], 3);
    assert_eq!(scripts["scripts"][1]["error"]["col"], 7);

    let (s, user) = c.get("/api/users/Alice").await;
    assert_eq!((s, user["points"].clone()), (StatusCode::OK, json!(1200)));
    let (s, err) = c.get("/api/users/nobody").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(err["error"].as_str().is_some_and(|e| e.contains("nobody")));
    let (s, _) = c.get("/api/users/not%20a%20login").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, lb) = c.get("/api/leaderboard?n=2").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        lb,
        json!([{"login": "alice", "points": 1200}, {"login": "bob", "points": 800}])
    );
    let (s, err) = c.get("/api/leaderboard?n=0").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(err["error"].is_string());

    let (s, stats) = c.get("/api/stats").await;
    assert_eq!(
        (s, stats["streams"][0]["chat_messages"].clone()),
        (StatusCode::OK, json!(42))
    );
    let chart = c
        .http
        .get(c.url(stats["streams"][0]["chart"].as_str().unwrap_or_default()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("chart");
    assert_eq!(chart.status(), StatusCode::OK);
    assert!(chart.text().await.unwrap_or_default().starts_with("<svg"));
    let (s, err) = c.get("/api/stats/nope/chart.svg").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(err["error"].is_string());
    let (s, err) = c.get("/api/stats/..%2Fx/chart.svg").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(err["error"].is_string());

    let (s, err) = c.get("/api/nothing-here").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(err["error"].is_string());
    let (s, err) = c.get("/api/chat").await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert!(err["error"].is_string());
}

#[tokio::test]
async fn every_action_endpoint_reaches_the_bot() {
    let c = start(true).await;
    let (s, r) = c.post("/api/scripts/reload", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["reloads"], 1);
    assert_eq!(r["errors"][0]["line"], 3);
    let (_, scripts) = c.get("/api/scripts").await;
    assert_eq!(scripts["reloads"], 1);
    assert!(scripts["last_reload_ms"].as_u64().is_some_and(|t| t > 0));

    let (s, r) = c.post("/api/configs/reload", None).await;
    assert_eq!((s, r["reloads"].clone()), (StatusCode::OK, json!(1)));

    let (s, r) = c
        .post("/api/chat", Some(json!({"text": " hello chat "})))
        .await;
    assert_eq!((s, r), (StatusCode::OK, json!({"ok": true})));
    let (s, _) = c
        .post(
            "/api/zmq",
            Some(json!({"topic": "overlay.alert", "data": {"n": 1}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = c.post("/api/obs/connect", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = c.post("/api/obs/disconnect", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = c
        .post(
            "/api/sim/chat",
            Some(json!({"login": "Bob", "roles": ["vip", "subscriber"], "text": "hi"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, r) = c
        .post(
            "/api/sim/event",
            Some(json!({"kind": "cheer", "user": "bob", "bits": "300"})),
        )
        .await;
    assert_eq!((s, r["kind"].clone()), (StatusCode::OK, json!("cheer")));

    assert_eq!(
        c.backend.calls(),
        vec![
            "reload_scripts",
            "reload_configs",
            "say hello chat",
            "zmq overlay.alert {\"n\":1}",
            "obs_connect",
            "obs_disconnect",
            "sim_chat bob [\"vip\", \"subscriber\"] hi",
            "sim_event cheer",
        ]
    );
}

#[tokio::test]
async fn mistakes_answer_json_errors_with_the_right_status() {
    let c = start(false).await;
    let cases: &[(&str, Option<Value>, StatusCode, &str)] = &[
        (
            "/api/chat",
            Some(json!({"text": "   "})),
            StatusCode::BAD_REQUEST,
            "empty",
        ),
        (
            "/api/chat",
            Some(json!({"txt": "hi"})),
            StatusCode::BAD_REQUEST,
            "txt",
        ),
        ("/api/chat", None, StatusCode::BAD_REQUEST, "JSON body"),
        (
            "/api/chat",
            Some(json!({"text": "x".repeat(501)})),
            StatusCode::BAD_REQUEST,
            "500",
        ),
        (
            "/api/discord",
            Some(json!({"text": "hi"})),
            StatusCode::SERVICE_UNAVAILABLE,
            "webhook",
        ),
        (
            "/api/zmq",
            Some(json!({"data": 1})),
            StatusCode::BAD_REQUEST,
            "topic",
        ),
        // Not offline: the simulator refuses.
        (
            "/api/sim/chat",
            Some(json!({"login": "a", "text": "hi"})),
            StatusCode::CONFLICT,
            "--offline",
        ),
        (
            "/api/sim/event",
            Some(json!({"kind": "follow"})),
            StatusCode::CONFLICT,
            "--offline",
        ),
    ];
    for (path, body, status, needle) in cases {
        let (s, err) = c.post(path, body.clone()).await;
        assert_eq!(s, *status, "{path} {body:?}");
        let msg = err["error"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{path}: {msg:?} lacks {needle:?}");
    }
    // A body over the limit is refused before anything parses it.
    let huge = json!({ "text": "x".repeat(70 * 1024) });
    let (s, err) = c.post("/api/chat", Some(huge)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(err["error"].as_str().is_some_and(|e| e.contains("KiB")));
    let off = start(true).await;
    let (s, err) = off
        .post(
            "/api/sim/chat",
            Some(json!({"login": "a", "roles": ["king"], "text": "hi"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(err["error"].as_str().is_some_and(|e| e.contains("king")));
    let (s, err) = off
        .post("/api/sim/event", Some(json!({"kind": "party"})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(err["error"].as_str().is_some_and(|e| e.contains("raid")));
    assert!(c.backend.calls().is_empty() && off.backend.calls().is_empty());
}

#[tokio::test]
async fn the_event_stream_delivers_what_the_bot_sees_and_says() {
    let c = start(true).await;
    let mut resp = c
        .http
        .get(c.url("/api/events"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("events");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/event-stream")
    );
    // The stream is subscribed once the answer's headers are out; now make the bot talk.
    let (s, _) = c
        .post(
            "/api/sim/chat",
            Some(json!({"login": "alice", "text": "!ping"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    let mut text = String::new();
    let read = async {
        while !(text.contains("\"text\":\"!ping\"") && text.contains("\"text\":\"pong\"")) {
            match resp.chunk().await {
                Ok(Some(chunk)) => text.push_str(&String::from_utf8_lossy(&chunk)),
                _ => break,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("events arrive");
    let items: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    assert_eq!(items[0]["type"], "event");
    assert_eq!(items[0]["topic"], "chat.message");
    assert_eq!(items[0]["event"]["data"]["sender"]["login"], "alice");
    assert_eq!(
        items[1],
        json!({"type": "sent", "via": "chat", "target": "streamer", "text": "pong"})
    );

    // Shutdown ends the open stream, so the server can stop.
    c.shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(5), c.console.stopped()).await;
    assert!(
        stopped.is_ok(),
        "the console did not stop with a stream open"
    );
}
