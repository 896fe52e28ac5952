//! `twitch-bot check --live`: tokens validated without a refresh, the feature → scope table
//! against what each grant holds, OBS and Discord webhooks, one line each; only failures make
//! the command exit non-zero.

mod common;

use std::path::Path;

use common::binary::BotCommand;

use twitch_bot::check::{self, LiveOptions};
use twitch_bot::config::{Config, Secrets};
use twitch_bot::sim::helix::{BOT_ID, BROADCASTER_ID};
use twitch_bot::sim::{FakeApiOptions, FakeTwitchApi};
use twitch_bot::twitch::auth::Account;
use twitch_bot::twitch::scopes;

fn scripts() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts")
}

/// Runs the binary with `args` in a fresh folder; returns (exit ok, stdout, stderr).
async fn run_bin(args: Vec<String>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = BotCommand::new().args(&args).output();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("joined")
}

fn dirs(root: &Path) -> Vec<String> {
    vec![
        "--config".into(),
        root.join("configs").display().to_string(),
        "--scripts".into(),
        scripts().display().to_string(),
        "--data".into(),
        root.join("data").display().to_string(),
    ]
}

#[tokio::test]
async fn check_live_offline_passes_with_every_feature_ticked() {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("configs")).expect("mkdir");
    let mut args = dirs(root.path());
    args.extend(["check".into(), "--live".into(), "--offline".into()]);
    let (ok, stdout, stderr) = run_bin(args).await;
    assert!(ok, "exit 0: {stdout}\n{stderr}");
    assert!(stdout.contains("✓ bot token valid: mybot"), "{stdout}");
    assert!(
        stdout.contains("✓ broadcaster token valid: mychannel"),
        "{stdout}"
    );
    for feature in scopes::FEATURES {
        let row = format!(
            "✓ {} ({}): {}\n",
            feature.name,
            feature.account,
            feature.scopes.join(", ")
        );
        assert!(stdout.contains(&row), "{row} in {stdout}");
    }
    assert!(!stdout.contains('✗'), "{stdout}");
}

async fn api() -> FakeTwitchApi {
    FakeTwitchApi::start(FakeApiOptions {
        pending_polls: 0,
        ..FakeApiOptions::default()
    })
    .await
    .expect("fake api")
}

/// Every scope of `account`'s rows but `without`.
fn all_but(account: Account, without: &[&str]) -> Vec<&'static str> {
    scopes::for_account(account)
        .into_iter()
        .filter(|s| !without.contains(s))
        .collect()
}

fn config_for(api: &FakeTwitchApi) -> Config {
    let mut config = Config::default();
    config.bot.twitch.auth_url = api.auth_url();
    config.bot.twitch.helix_url = api.helix_url();
    config.secrets.client_id = "fakeclient".into();
    config
}

const NOTHING_ELSE: LiveOptions = LiveOptions {
    obs: false,
    discord: false,
    offline: false,
};

#[tokio::test]
async fn a_missing_optional_scope_names_the_feature_and_the_scope_and_still_exits_0() {
    let api = api().await;
    let root = tempfile::tempdir().expect("tempdir");
    let configs = root.path().join("configs");
    std::fs::create_dir_all(&configs).expect("mkdir");
    std::fs::write(
        configs.join("bot.yaml"),
        format!(
            "username: mybot\nowner: mychannel\nchat:\n  transport: irc\ntwitch:\n  auth_url: {}\n",
            api.auth_url()
        ),
    )
    .expect("bot.yaml");
    let mut secrets = Secrets {
        client_id: "fakeclient".into(),
        ..Secrets::default()
    };
    let bot_scopes = all_but(Account::Bot, &["moderator:manage:warnings"]);
    (secrets.bot.access_token, secrets.bot.refresh_token) =
        api.issue_tokens_with_scopes(BOT_ID, &bot_scopes);
    let b_scopes = all_but(Account::Broadcaster, &["channel:read:redemptions"]);
    (
        secrets.broadcaster.access_token,
        secrets.broadcaster.refresh_token,
    ) = api.issue_tokens_with_scopes(BROADCASTER_ID, &b_scopes);
    twitch_bot::config::secrets::save(&configs.join("secrets.yaml"), &secrets).expect("saved");

    let mut args = dirs(root.path());
    args.extend([
        "--noobs".into(),
        "--nodiscord".into(),
        "check".into(),
        "--live".into(),
    ]);
    let (ok, stdout, stderr) = run_bin(args).await;
    assert!(
        ok,
        "only optional features are missing: exit 0: {stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(
            "! warnings (bot): missing moderator:manage:warnings: run `twitch-bot auth` again"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "! EventSub: channel-point redemptions (broadcaster): missing channel:read:redemptions"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("✓ chat over IRC (bot)"), "{stdout}");
    assert_eq!(api.refresh_calls(), 0, "check never refreshes");
}

#[tokio::test]
async fn a_missing_chat_scope_is_a_failure() {
    let api = api().await;
    let mut config = config_for(&api);
    (
        config.secrets.bot.access_token,
        config.secrets.bot.refresh_token,
    ) = api.issue_tokens_with_scopes(BOT_ID, &["chat:read", "moderator:manage:banned_users"]);
    let report = check::live(&config, NOTHING_ELSE).await;
    let text = report.render();
    assert!(report.failures() >= 1, "{text}");
    assert!(
        text.contains("✗ chat over IRC (bot): missing chat:edit: the bot cannot chat"),
        "{text}"
    );
    // No broadcaster grant: a warning, not a failure.
    assert!(
        text.contains("! broadcaster token: secrets.yaml has none"),
        "{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with('✗') && l.contains("(broadcaster)")),
        "{text}"
    );
}

#[tokio::test]
async fn an_expired_token_reports_the_saved_scopes_without_refreshing() {
    let api = api().await;
    let mut config = config_for(&api);
    let (_, refresh) = api.issue_tokens(BOT_ID);
    config.secrets.bot.access_token = "expired-hours-ago".into();
    config.secrets.bot.refresh_token = refresh.clone();
    config.secrets.bot.scopes = vec!["chat:read".into(), "chat:edit".into()];
    let report = check::live(&config, NOTHING_ELSE).await;
    let text = report.render();
    assert!(text.contains("! bot token expired or revoked"), "{text}");
    assert!(text.contains("saved with it"), "{text}");
    assert!(
        text.contains("✓ chat over IRC (bot): chat:read, chat:edit\n"),
        "{text}"
    );
    assert!(
        text.contains("! shoutouts (bot): missing moderator:manage:shoutouts"),
        "{text}"
    );
    assert_eq!(report.failures(), 0, "{text}");
    assert_eq!(api.refresh_calls(), 0, "no call to /token");
    assert!(
        api.refresh_token_valid(&refresh),
        "the running bot's refresh token is not spent"
    );
}

#[tokio::test]
async fn obs_absent_is_a_warning_and_each_discord_webhook_is_asked_for() {
    use axum::Router;
    use axum::extract::Path as UrlPath;
    use axum::http::StatusCode;
    use axum::routing::get;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let discord = Router::new().route(
        "/api/webhooks/{id}/{token}",
        get(
            |UrlPath((id, token)): UrlPath<(String, String)>| async move {
                if id == "111" && token == "good" {
                    (StatusCode::OK, r#"{"id":"111","type":1}"#)
                } else {
                    (
                        StatusCode::NOT_FOUND,
                        r#"{"message":"Unknown Webhook","code":10015}"#,
                    )
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, discord).await });
    // A port nothing listens on: OBS is closed.
    let obs_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();

    let api = api().await;
    let mut config = config_for(&api);
    api.configure(&mut config.bot, &mut config.secrets);
    config.bot.obs.port = obs_port;
    config.bot.discord.api_url = format!("http://{addr}/api");
    config.secrets.discord.webhooks.insert(
        "live".into(),
        "https://discord.com/api/webhooks/111/good".into(),
    );
    config.secrets.discord.webhooks.insert(
        "old".into(),
        "https://discord.com/api/webhooks/222/deleted".into(),
    );
    let report = check::live(
        &config,
        LiveOptions {
            obs: true,
            discord: true,
            offline: false,
        },
    )
    .await;
    let text = report.render();
    assert!(text.contains("! OBS: cannot reach obs-websocket"), "{text}");
    assert!(text.contains("✓ Discord webhook `live` exists"), "{text}");
    assert!(
        text.contains("✗ Discord webhook `old`: Discord answers 404"),
        "{text}"
    );
    assert_eq!(report.failures(), 1, "only the deleted webhook: {text}");
}

/// The next text message of a WebSocket, as JSON.
async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
) -> serde_json::Value {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        if let Some(Ok(Message::Text(t))) = ws.next().await {
            return serde_json::from_str(t.as_str()).expect("json");
        }
    }
}

/// A stand-in obs-websocket v5 server with `password` set: Hello with a challenge, Identify
/// checked (close 4009 on a wrong answer, as OBS does), then one request answered.
async fn fake_obs(password: &'static str) -> u16 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use futures_util::SinkExt;
    use serde_json::json;
    use sha2::{Digest, Sha256};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(sock).await.expect("ws");
                let hello = json!({"op": 0, "d": {"obsWebSocketVersion": "5.5.0", "rpcVersion": 1,
                    "authentication": {"challenge": "chal", "salt": "salt"}}});
                ws.send(Message::text(hello.to_string()))
                    .await
                    .expect("hello");
                let identify = next_json(&mut ws).await;
                let secret = B64.encode(Sha256::digest(format!("{password}salt")));
                let expected = B64.encode(Sha256::digest(format!("{secret}chal")));
                if identify["d"]["authentication"] != expected.as_str() {
                    let _ = ws
                        .close(Some(CloseFrame {
                            code: 4009.into(),
                            reason: "Authentication failed.".into(),
                        }))
                        .await;
                    return;
                }
                let identified = json!({"op": 2, "d": {"negotiatedRpcVersion": 1}});
                ws.send(Message::text(identified.to_string()))
                    .await
                    .expect("identified");
                let request = next_json(&mut ws).await;
                let answer = json!({"op": 7, "d": {
                    "requestType": request["d"]["requestType"],
                    "requestId": request["d"]["requestId"],
                    "requestStatus": {"result": true, "code": 100},
                    "responseData": {"obsVersion": "31.0.0", "obsWebSocketVersion": "5.5.0"}}});
                let _ = ws.send(Message::text(answer.to_string())).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn obs_is_asked_with_the_configured_password() {
    let port = fake_obs("right-password").await;
    let obs_only = LiveOptions {
        obs: true,
        discord: false,
        offline: false,
    };
    let mut config = Config::default();
    config.bot.obs.port = port;
    config.secrets.obs_password = "right-password".into();
    let text = check::live(&config, obs_only).await.render();
    assert!(
        text.contains(&format!(
            "✓ OBS answers at 127.0.0.1:{port} (obs-websocket 5.5.0)"
        )),
        "{text}"
    );

    config.secrets.obs_password = "wrong".into();
    let report = check::live(&config, obs_only).await;
    let text = report.render();
    assert!(
        text.contains(&format!(
            "✗ OBS at 127.0.0.1:{port}: OBS refused the password"
        )),
        "{text}"
    );
}
