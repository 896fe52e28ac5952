//! Discord against a stub of its HTTP API on 127.0.0.1: the go-live message (text and
//! `allowed_mentions`), a script's message at its named webhook, the console's at the default
//! one, a 429 honoured, and a deleted webhook reported without a crash.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use twitch_bot::subsystems::Subsystem;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use common::{copy_scripts, eventually, offline_settings, start_ready};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use twitch_bot::app::Bot;
use twitch_bot::config::Config;
use twitch_bot::event::{ConnectionState, Service};
use twitch_bot::health::Health;
use twitch_bot::integrations::{Call, StartContext, Started, discord};
use twitch_bot::sim::{SimEvent, Viewer};

/// One request the stub received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query, such as `/api/v10/webhooks/1/tok?wait=false`.
    uri: String,
    body: Value,
    at: Instant,
}

/// What the stub answers to the next requests that match, before its defaults.
struct Plan {
    method: &'static str,
    path_prefix: String,
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Value,
}

#[derive(Default)]
struct StubState {
    seen: Vec<Seen>,
    plans: Vec<Plan>,
}

/// A fake Discord API on 127.0.0.1.
#[derive(Clone)]
struct Stub {
    state: Arc<Mutex<StubState>>,
    port: u16,
}

impl Stub {
    async fn start() -> Stub {
        let state = Arc::new(Mutex::new(StubState::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the stub");
        let port = listener.local_addr().expect("addr").port();
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Stub { state, port }
    }

    fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v10", self.port)
    }

    fn webhook_url(&self, id: u64, token: &str) -> String {
        // As Discord's "Copy Webhook URL" gives it; only the id and token are used.
        format!("https://discord.com/api/webhooks/{id}/{token}")
    }

    /// Answers the next `method` request under `path_prefix` with this, once.
    fn plan(
        &self,
        method: &'static str,
        path_prefix: &str,
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Value,
    ) {
        self.state.lock().expect("stub").plans.push(Plan {
            method,
            path_prefix: path_prefix.to_string(),
            status,
            headers,
            body,
        });
    }

    fn posts(&self) -> Vec<Seen> {
        self.state
            .lock()
            .expect("stub")
            .seen
            .iter()
            .filter(|s| s.method == "POST")
            .cloned()
            .collect()
    }

    async fn wait_posts(&self, n: usize, secs: u64) -> Vec<Seen> {
        eventually(secs, || self.posts().len() >= n).await;
        self.posts()
    }
}

async fn answer(State(state): State<Arc<Mutex<StubState>>>, req: Request) -> Response {
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let path = req.uri().path().to_string();
    let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let mut st = state.lock().expect("stub");
    st.seen.push(Seen {
        method: method.clone(),
        uri,
        body,
        at: Instant::now(),
    });
    if let Some(i) = st
        .plans
        .iter()
        .position(|p| p.method == method && path.starts_with(&p.path_prefix))
    {
        let plan = st.plans.remove(i);
        let mut headers = HeaderMap::new();
        for (k, v) in plan.headers {
            headers.insert(k, v.parse().expect("header value"));
        }
        let status = StatusCode::from_u16(plan.status).expect("status");
        return (status, headers, axum::Json(plan.body)).into_response();
    }
    match method.as_str() {
        // Get Webhook with Token.
        "GET" if path.contains("/webhooks/") => {
            axum::Json(json!({"id": "1", "type": 1, "name": "stub", "channel_id": "9"}))
                .into_response()
        }
        // Execute Webhook without `wait`: 204.
        "POST" if path.contains("/webhooks/") => StatusCode::NO_CONTENT.into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "404: Not Found", "code": 0})),
        )
            .into_response(),
    }
}

// ---- Discord on its own, as the console and scripts call it ----

struct Running {
    started: Started,
    health: Health,
    shutdown: CancellationToken,
    _events: twitch_bot::queue::EventReceiver,
}

fn discord_config(stub: &Stub) -> Config {
    let mut config = Config::default();
    config.bot.discord.api_url = stub.api_url();
    config
        .secrets
        .discord
        .webhooks
        .insert("alerts".into(), stub.webhook_url(1001, "alerts-token"));
    config
        .secrets
        .discord
        .webhooks
        .insert("clips".into(), stub.webhook_url(1002, "clips-token"));
    config
}

/// The console's `send` by name, read as the console's route reads it.
fn console_send(data: Value) -> Call {
    Call::parse("discord", "send", data).expect("a send with a text")
}

fn start_discord(config: Config) -> Running {
    let (events, rx) = twitch_bot::queue::channel(64);
    let health = Health::default();
    let shutdown = CancellationToken::new();
    let ctx = StartContext {
        config: Arc::new(config),
        data_dir: PathBuf::from("."),
        events,
        health: health.clone(),
        shutdown: shutdown.clone(),
        channel: "mychannel".into(),
        helix: None,
    };
    let started = discord::start(&ctx).expect("Discord starts when a webhook is configured");
    Running {
        started,
        health,
        shutdown,
        _events: rx,
    }
}

#[tokio::test]
async fn the_consoles_message_goes_to_the_default_webhook_and_pings_nobody() {
    let stub = Stub::start().await;
    let run = start_discord(discord_config(&stub));
    assert!(
        eventually(5, || run.health.get(Service::Discord)
            == Some(ConnectionState::Connected))
        .await,
        "both webhooks check out: {:?}",
        run.health.get(Service::Discord)
    );
    // The console's POST /api/discord calls `send` with the text only.
    run.started
        .integration
        .call(console_send(
            json!({ "text": "hello @everyone from the console" }),
        ))
        .expect("queued");
    let posts = stub.wait_posts(1, 5).await;
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(
        posts[0]
            .uri
            .starts_with("/api/v10/webhooks/1001/alerts-token"),
        "the first webhook (alerts) is the default: {}",
        posts[0].uri
    );
    assert_eq!(posts[0].body["content"], "hello @everyone from the console");
    assert_eq!(
        posts[0].body["allowed_mentions"],
        json!({ "parse": [] }),
        "nobody is pinged, whatever the text says"
    );
    let err = run
        .started
        .integration
        .call(console_send(json!({ "text": "x", "target": "nope" })))
        .expect_err("an unknown webhook is refused at once");
    assert!(err.to_string().contains("alerts, clips"), "{err}");
    run.shutdown.cancel();
}

#[tokio::test]
async fn a_429_is_honoured_and_the_message_arrives_once_after_the_wait() {
    let stub = Stub::start().await;
    // A bare 429 (no bucket headers, as a proxy or Cloudflare sends it): only Retry-After.
    stub.plan(
        "POST",
        "/api/v10/webhooks/1002/",
        429,
        vec![("retry-after", "1".into())],
        json!({ "message": "You are being rate limited.", "retry_after": 1.0, "global": false }),
    );
    let run = start_discord(discord_config(&stub));
    run.started
        .integration
        .call(console_send(
            json!({ "webhook": "clips", "text": "new clip" }),
        ))
        .expect("queued");
    let posts = stub.wait_posts(2, 5).await;
    assert_eq!(posts.len(), 2, "one refused, one accepted: {posts:?}");
    let waited = posts[1].at - posts[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "the retry waits out Retry-After: 1 (waited {waited:?})"
    );
    assert_eq!(posts[1].body["content"], "new clip");
    // Once accepted, it is not sent again.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(stub.posts().len(), 2, "the message arrives once");
    assert_eq!(
        run.health.get(Service::Discord),
        Some(ConnectionState::Connected)
    );
    run.shutdown.cancel();
}

#[tokio::test]
async fn a_deleted_webhook_is_reported_in_health_without_a_crash() {
    let stub = Stub::start().await;
    let unknown = json!({ "message": "Unknown Webhook", "code": 10015 });
    stub.plan(
        "GET",
        "/api/v10/webhooks/1001/",
        404,
        vec![],
        unknown.clone(),
    );
    stub.plan("POST", "/api/v10/webhooks/1001/", 404, vec![], unknown);
    let run = start_discord(discord_config(&stub));
    let down = |h: &Health| match h.get(Service::Discord) {
        Some(ConnectionState::Down { reason }) => Some(reason),
        _ => None,
    };
    assert!(eventually(5, || down(&run.health).is_some()).await);
    let reason = down(&run.health).unwrap_or_default();
    assert!(
        reason.contains("discord.webhooks.alerts in configs/secrets.yaml"),
        "names the setting to fix: {reason}"
    );
    run.started
        .integration
        .call(console_send(json!({ "text": "to a deleted webhook" })))
        .expect("queued");
    run.started
        .integration
        .call(console_send(
            json!({ "target": "clips", "text": "to a good one" }),
        ))
        .expect("queued");
    let posts = stub.wait_posts(2, 5).await;
    assert_eq!(posts.len(), 2, "a 404 is not retried: {posts:?}");
    assert_eq!(posts[1].body["content"], "to a good one");
    run.shutdown.cancel();
}

// ---- the whole offline bot ----

async fn start_offline(config: Config, extra: &[(&str, &str)]) -> (Bot, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = copy_scripts(dir.path(), extra);
    let mut settings = offline_settings(dir.path(), scripts);
    settings.enabled.set(Subsystem::Discord, true);
    let bot = start_ready(settings, config).await;
    (bot, dir)
}

#[tokio::test]
async fn going_live_posts_title_game_and_link_and_pings_nobody_by_default() {
    let stub = Stub::start().await;
    let (bot, _dir) = start_offline(discord_config(&stub), &[]).await;
    let sim = bot.sim().expect("offline");
    sim.fire(&Viewer::new(bot.channel()), &SimEvent::StreamOnline)
        .await;
    let posts = stub.wait_posts(1, 10).await;
    assert_eq!(posts.len(), 1, "{posts:?}");
    let channel = bot.channel();
    assert!(
        posts[0]
            .uri
            .starts_with("/api/v10/webhooks/1001/alerts-token"),
        "{}",
        posts[0].uri
    );
    assert_eq!(
        posts[0].body["content"],
        format!(
            "{channel} is live: Offline test stream (Just Chatting) https://twitch.tv/{channel}"
        ),
        "the default message with the stream's title and category from the Twitch API"
    );
    assert_eq!(posts[0].body["allowed_mentions"], json!({ "parse": [] }));
    // The encoder drops and the stream restarts a minute later (a new stream id): Discord is
    // not told twice.
    sim.fire(&Viewer::new(bot.channel()), &SimEvent::StreamOffline)
        .await;
    sim.fire(&Viewer::new(bot.channel()), &SimEvent::StreamOnline)
        .await;
    let go_live = |posts: &[Seen]| {
        posts
            .iter()
            .filter(|p| {
                p.body["content"]
                    .as_str()
                    .unwrap_or("")
                    .contains(" is live")
            })
            .count()
    };
    eventually(3, || go_live(&stub.posts()) > 1).await;
    let posts = stub.posts();
    assert_eq!(
        go_live(&posts),
        1,
        "a restart within the cooldown: {posts:?}"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn going_live_pings_the_configured_roles_and_everyone() {
    let stub = Stub::start().await;
    let mut config = discord_config(&stub);
    config.bot.discord.go_live.target = "clips".into();
    config.bot.discord.go_live.message = "Live now: {title} — {url}".into();
    config.bot.discord.go_live.mention = vec!["everyone".into(), "555".into()];
    let (bot, _dir) = start_offline(config, &[]).await;
    let sim = bot.sim().expect("offline");
    sim.fire(&Viewer::new(bot.channel()), &SimEvent::StreamOnline)
        .await;
    let posts = stub.wait_posts(1, 10).await;
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(
        posts[0]
            .uri
            .starts_with("/api/v10/webhooks/1002/clips-token"),
        "{}",
        posts[0].uri
    );
    assert_eq!(
        posts[0].body["content"],
        format!(
            "@everyone <@&555> Live now: Offline test stream — https://twitch.tv/{}",
            bot.channel()
        )
    );
    assert_eq!(
        posts[0].body["allowed_mentions"],
        json!({ "parse": ["everyone"], "roles": ["555"] })
    );
    bot.shutdown().await;
}

const CLIP: &str = r#"
const DESCRIPTION = "Posts to the clips channel.";
fn run(ctx) {
    ctx.discord.send("clips", `${ctx.user.login} asked for a clip`);
}
"#;

#[tokio::test]
async fn a_scripts_message_arrives_at_the_named_webhook() {
    let stub = Stub::start().await;
    let (bot, _dir) = start_offline(discord_config(&stub), &[("commands/clip.rhai", CLIP)]).await;
    let sim = bot.sim().expect("offline");
    sim.chat_as(&Viewer::new("alice"), "!clip").await;
    let posts = stub.wait_posts(1, 10).await;
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(
        posts[0]
            .uri
            .starts_with("/api/v10/webhooks/1002/clips-token"),
        "{}",
        posts[0].uri
    );
    assert_eq!(posts[0].body["content"], "alice asked for a clip");
    assert_eq!(posts[0].body["allowed_mentions"], json!({ "parse": [] }));
    bot.shutdown().await;
}

#[tokio::test]
async fn the_console_posts_to_a_named_target_and_the_live_log_shows_it_sent() {
    const TOKEN: &str = "discord-test-console-token";
    let stub = Stub::start().await;
    let mut config = discord_config(&stub);
    config.bot.console.bind = "127.0.0.1:0".into();
    config.secrets.console_token = TOKEN.into();
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = copy_scripts(dir.path(), &[]);
    let mut settings = offline_settings(dir.path(), scripts);
    settings.enabled.set(Subsystem::Discord, true);
    settings.enabled.set(Subsystem::Console, true);
    let bot = start_ready(settings, config).await;
    let base = format!("http://{}", bot.console_addr().expect("the console runs"));
    let http = reqwest::Client::new();
    let mut events = http
        .get(format!("{base}/api/events"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("live log");
    let post = |body: Value| {
        http.post(format!("{base}/api/discord"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let resp = post(json!({ "text": "new clip!", "target": "clips" }))
        .await
        .expect("POST /api/discord");
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let posts = stub.wait_posts(1, 5).await;
    assert!(
        posts[0]
            .uri
            .starts_with("/api/v10/webhooks/1002/clips-token"),
        "{}",
        posts[0].uri
    );
    assert_eq!(posts[0].body["content"], "new clip!");

    let resp = post(json!({ "text": "x", "target": "nope" }))
        .await
        .expect("POST /api/discord");
    assert_eq!(resp.status(), reqwest::StatusCode::BAD_REQUEST);
    let why = resp.text().await.unwrap_or_default();
    assert!(why.contains("alerts, clips"), "{why}");

    let mut log = String::new();
    let read = async {
        while !log.contains("\"via\":\"discord\"") {
            match events.chunk().await {
                Ok(Some(chunk)) => log.push_str(&String::from_utf8_lossy(&chunk)),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    let sent: Vec<Value> = log
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|v| v["type"] == "sent")
        .collect();
    assert_eq!(
        sent,
        [json!({"type": "sent", "via": "discord", "target": "clips", "text": "new clip!"})],
        "{log}"
    );
    bot.shutdown().await;
}
