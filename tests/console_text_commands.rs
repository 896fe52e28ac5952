//! The console's text commands, regulars and script stores over HTTP, against the whole bot in
//! `--offline` mode (real console server on 127.0.0.1, real redb file, real scripts): what a
//! program with the console token, or the page, sees and changes.

mod common;

use common::{copy_scripts, offline_settings, start_ready};
use reqwest::StatusCode;
use serde_json::{Value, json};
use twitch_bot::app::Bot;
use twitch_bot::config::Config;
use twitch_bot::event::Roles;
use twitch_bot::sim::Viewer;
use twitch_bot::subsystems::Subsystem;

const TOKEN: &str = "console-test-token-0123456789";

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            req = req.json(&body);
        } else if req
            .try_clone()
            .and_then(|r| r.build().ok())
            .is_some_and(|r| r.method() != reqwest::Method::GET)
        {
            req = req.json(&json!({}));
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

async fn start(dir: &std::path::Path) -> (Bot, Api) {
    let scripts = copy_scripts(dir, &[]);
    let mut settings = offline_settings(dir, scripts);
    settings.enabled.set(Subsystem::Console, true);
    let mut config = Config::default();
    config.bot.console.bind = "127.0.0.1:0".into();
    config.secrets.console_token = TOKEN.into();
    let bot = start_ready(settings, config).await;
    let addr = bot.console_addr().expect("the console runs");
    let api = Api {
        http: reqwest::Client::new(),
        base: format!("http://{addr}"),
    };
    (bot, api)
}

use reqwest::Method;

#[tokio::test]
async fn text_commands_are_listed_saved_counted_and_deleted_over_http() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (bot, api) = start(dir.path()).await;
    let (status, body) = api.call(Method::GET, "/api/text-commands", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"commands": []}));

    let (status, body) = api
        .call(
            Method::PUT,
            "/api/text-commands/discord",
            Some(json!({"text": "Join {user}!", "level": "regular", "cooldown_secs": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["command"],
        json!({"name": "discord", "text": "Join {user}!", "aliases": [], "level": "regular",
               "cooldown_secs": 5, "user_cooldown_secs": 0, "count": 0, "counter": false})
    );
    // Editing keeps what the body leaves out.
    let (status, body) = api
        .call(
            Method::PUT,
            "/api/text-commands/discord",
            Some(json!({"text": "Join us, {user}!"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["command"]["level"], "regular");
    assert_eq!(body["command"]["cooldown_secs"], 5);

    let (status, body) = api
        .call(
            Method::PUT,
            "/api/text-commands/bad",
            Some(json!({"text": "hi {usr}"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown variable {usr}"),
        "{body}"
    );
    let (status, body) = api
        .call(
            Method::PUT,
            "/api/text-commands/ping",
            Some(json!({"text": "not pong"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("commands/ping.rhai"),
        "{body}"
    );
    let (status, _) = api
        .call(
            Method::PUT,
            "/api/text-commands/x",
            Some(json!({"text": "x", "level": "king"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = api
        .call(
            Method::POST,
            "/api/text-commands/discord/count",
            Some(json!({"count": 7})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["command"]["count"], 7);
    let (_, body) = api.call(Method::GET, "/api/text-commands", None).await;
    assert_eq!(body["commands"][0]["count"], 7);

    let (status, _) = api
        .call(Method::DELETE, "/api/text-commands/discord", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api
        .call(Method::DELETE, "/api/text-commands/discord", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, body) = api.call(Method::GET, "/api/text-commands", None).await;
    assert_eq!(body, json!({"commands": []}));

    // Without the token nothing is read or changed.
    let resp = api
        .http
        .put(format!("{}/api/text-commands/sneaky", api.base))
        .json(&json!({"text": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Another web site cannot drive it through a browser: a foreign Origin is refused.
    let resp = api
        .http
        .delete(format!("{}/api/text-commands/discord", api.base))
        .bearer_auth(TOKEN)
        .header("Origin", "https://evil.example")
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    bot.shutdown().await;
}

#[tokio::test]
async fn regulars_and_the_quote_store_are_edited_over_http() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (bot, api) = start(dir.path()).await;
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    // A moderator adds a quote in chat; the console sees it in the quote script's store.
    let mary = Viewer::new("mod_mary").with(Roles::MODERATOR);
    sim.chat_as(&mary, "!quote add the floor is lava").await;
    common::wait_line(&mut lines, 5, |l| {
        l.privmsg().is_some_and(|m| m.text.contains("Added quote"))
    })
    .await
    .expect("the quote is added");
    let (status, body) = api
        .call(Method::GET, "/api/script-stores/quote", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["entries"][0]["key"], "quotes");
    let quote = body["entries"][0]["value"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(quote.contains("the floor is lava"), "{body}");

    let (status, _) = api
        .call(
            Method::PUT,
            "/api/script-stores/quote/quotes",
            Some(json!({"value": ["\"edited in the console\""]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    sim.chat_as(&Viewer::new("vic"), "!quote 1").await;
    let said = common::wait_line(&mut lines, 5, |l| {
        l.privmsg().is_some_and(|m| m.text.starts_with("#1"))
    })
    .await
    .and_then(|l| l.privmsg())
    .map(|m| m.text);
    assert_eq!(said.as_deref(), Some("#1: \"edited in the console\""));
    let (status, _) = api
        .call(Method::DELETE, "/api/script-stores/quote/quotes", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = api
        .call(Method::GET, "/api/script-stores/commands%2Fquote", None)
        .await;
    assert_eq!(body, json!({"entries": []}));
    let (status, _) = api
        .call(Method::GET, "/api/script-stores/nosuchscript", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Regulars: a viewer the bot has seen is added by login and removed again.
    sim.chat_as(&Viewer::new("reggie"), "hi").await;
    let added = common::eventually(5, || {
        bot.storage()
            .is_some_and(|s| s.user_id_by_login("reggie").ok().flatten().is_some())
    })
    .await;
    assert!(added);
    let (status, body) = api
        .call(
            Method::POST,
            "/api/regulars",
            Some(json!({"login": "Reggie"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = api.call(Method::GET, "/api/regulars", None).await;
    assert_eq!(body["regulars"][0]["login"], "reggie");
    assert_eq!(body["regulars"][0]["source"], "chat");
    let (status, _) = api
        .call(
            Method::POST,
            "/api/regulars",
            Some(json!({"login": "never_seen_anywhere"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.call(Method::DELETE, "/api/regulars/reggie", None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = api.call(Method::GET, "/api/regulars", None).await;
    assert_eq!(body, json!({"regulars": []}));
    bot.shutdown().await;
}
