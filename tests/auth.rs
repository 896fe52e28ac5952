//! OAuth against the simulated Twitch: `twitch-bot auth` (device flow with
//! `authorization_pending`), secrets written 0600, the hourly validation, and a revoked grant
//! reported once; a revoked bot grant ends the bot with exit code 78, a revoked broadcaster
//! grant leaves chat running; `auth` asks for the feature table's scopes.

mod common;

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use twitch_bot::config::{BotConfig, Secrets};
use twitch_bot::event::{ConnectionState, Event, Service};
use twitch_bot::exit::Exit;
use twitch_bot::queue;
use twitch_bot::sim::helix::{BOT_ID, BROADCASTER_ID};
use twitch_bot::sim::{FakeApiOptions, FakeChat, FakeChatOptions, FakeTwitchApi, Viewer};
use twitch_bot::twitch::auth::{self, Account, AuthClient, Tokens};
use twitch_bot::twitch::scopes;

#[tokio::test]
async fn device_flow_waits_through_pending_and_writes_both_grants_0600() {
    let api = FakeTwitchApi::start(FakeApiOptions {
        pending_polls: 2,
        ..FakeApiOptions::default()
    })
    .await
    .expect("fake");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bot = BotConfig::default();
    bot.twitch.auth_url = api.auth_url();
    let secrets = Secrets {
        client_id: "fakeclient".into(),
        console_token: "keep-me-console-token-0123456789abcdef".into(),
        ..Secrets::default()
    };
    // Saved while `auth` waits for the user: kept, like every key `auth` does not own.
    let path = dir.path().join("secrets.yaml");
    let mut on_disk = secrets.clone();
    on_disk.obs_password = "saved-meanwhile".into();
    twitch_bot::config::secrets::save(&path, &on_disk).expect("saved");
    auth::run_auth(dir.path(), &bot, &secrets, false)
        .await
        .expect("auth completes");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("written")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    let saved: Secrets = twitch_bot::config::load_file(&path).expect("valid secrets.yaml");
    assert_eq!(saved.client_id, "fakeclient");
    assert_eq!(
        saved.console_token, "keep-me-console-token-0123456789abcdef",
        "other keys are kept"
    );
    assert_eq!(saved.obs_password, "saved-meanwhile");
    let client = AuthClient::new(reqwest::Client::new(), &api.auth_url(), "fakeclient", None);
    let bot_v = client
        .validate(&saved.bot.access_token)
        .await
        .expect("up")
        .expect("valid");
    let b_v = client
        .validate(&saved.broadcaster.access_token)
        .await
        .expect("up")
        .expect("valid");
    assert_eq!(bot_v.user_id, BOT_ID, "the first code signs in the bot");
    assert_eq!(b_v.user_id, BROADCASTER_ID, "the second the broadcaster");
    assert!(!saved.bot.refresh_token.is_empty());
    assert_eq!(
        api.device_polls(),
        6,
        "two pending answers, then success, per account"
    );

    // Each account is asked for exactly the union of its rows in the feature table, and the
    // scopes Twitch grants are saved with the tokens.
    let asked = api.asked_scopes();
    let words = |s: &[&str]| s.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[0], words(&scopes::for_account(Account::Bot)));
    assert_eq!(asked[1], words(&scopes::for_account(Account::Broadcaster)));
    for scope in [
        "chat:read",
        "moderator:manage:shield_mode",
        "moderator:manage:warnings",
    ] {
        assert!(asked[0].iter().any(|s| s == scope), "bot asked for {scope}");
    }
    for scope in [
        "channel:manage:raids",
        "clips:edit",
        "channel:read:redemptions",
    ] {
        assert!(
            asked[1].iter().any(|s| s == scope),
            "broadcaster asked for {scope}"
        );
    }
    assert_eq!(saved.bot.scopes, asked[0]);
    assert_eq!(saved.broadcaster.scopes, asked[1]);
}

#[tokio::test]
async fn a_missing_client_id_says_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = auth::run_auth(
        dir.path(),
        &BotConfig::default(),
        &Secrets::default(),
        false,
    )
    .await
    .expect_err("no client id");
    assert!(err.to_string().contains("client_id"), "{err}");
    assert!(!dir.path().join("secrets.yaml").exists());
}

async fn tokens_for(api: &FakeTwitchApi) -> Tokens {
    let (a, r) = api.issue_tokens(BOT_ID);
    let (ba, br) = api.issue_tokens(BROADCASTER_ID);
    let mut s = Secrets {
        client_id: "fakeclient".into(),
        ..Secrets::default()
    };
    s.bot.access_token = a;
    s.bot.refresh_token = r;
    s.broadcaster.access_token = ba;
    s.broadcaster.refresh_token = br;
    Tokens::new(
        AuthClient::new(reqwest::Client::new(), &api.auth_url(), "fakeclient", None),
        s,
        None,
    )
}

#[tokio::test(start_paused = true)]
async fn tokens_are_validated_at_start_and_then_every_hour() {
    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake");
    let tokens = tokens_for(&api).await;
    let (tx, _rx) = queue::channel(16);
    let stop = CancellationToken::new();
    let started = tokio::time::Instant::now();
    let _task = auth::spawn_validator(
        tokens,
        Duration::from_secs(3600),
        tx,
        Exit::new(stop.clone()),
    );

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let calls = api.validate_calls();
        if calls >= 2 * (seen.len() as u64 + 1) {
            seen.push(started.elapsed());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            started.elapsed() < Duration::from_secs(4 * 3600),
            "validations stalled"
        );
    }
    assert!(
        seen[0] < Duration::from_secs(60),
        "validated at start: {:?}",
        seen[0]
    );
    assert!(
        seen[1] >= Duration::from_secs(3600),
        "second round an hour later: {:?}",
        seen[1]
    );
    assert!(
        seen[2] >= Duration::from_secs(7200),
        "and again: {:?}",
        seen[2]
    );
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_revoked_bot_grant_asks_the_process_to_end_with_78_and_names_auth() {
    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake");
    let tokens = tokens_for(&api).await;
    api.revoke_all();
    let (tx, _rx) = queue::channel(16);
    let stop = CancellationToken::new();
    let exit = Exit::new(stop.clone());
    let task = auth::spawn_validator(tokens, Duration::from_secs(3600), tx, exit.clone());
    tokio::time::timeout(Duration::from_secs(3 * 3600), task)
        .await
        .expect("the validator ends")
        .expect("no panic");
    let (code, reason) = exit.requested().expect("an exit was asked for");
    assert_eq!(code, twitch_bot::exit::CONFIG);
    assert!(reason.contains("twitch-bot auth"), "{reason}");
    assert!(stop.is_cancelled(), "the whole bot winds down");
    assert_eq!(api.refresh_calls(), 1, "one refresh attempt, no loop");
}

#[tokio::test(start_paused = true)]
async fn a_revoked_broadcaster_grant_is_reported_once_and_not_retried_in_a_loop() {
    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake");
    let tokens = tokens_for(&api).await;
    api.revoke_user(BROADCASTER_ID);
    let (tx, mut rx) = queue::channel(16);
    let stop = CancellationToken::new();
    let exit = Exit::new(stop.clone());
    let _task = auth::spawn_validator(tokens, Duration::from_secs(3600), tx, exit.clone());
    // Three hours of virtual time.
    let mut downs = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3 * 3600);
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        if let Event::Connection(c) = ev
            && c.service == Service::Helix
            && let ConnectionState::Down { reason } = c.state
        {
            downs.push(reason);
        }
    }
    assert_eq!(downs.len(), 1, "one message: {downs:?}");
    assert!(downs[0].contains("broadcaster"), "{downs:?}");
    assert!(downs[0].contains("twitch-bot auth"), "{downs:?}");
    assert_eq!(exit.requested(), None, "the bot goes on");
    assert!(!stop.is_cancelled());
    assert_eq!(api.refresh_calls(), 1, "one refresh attempt, no loop");
    stop.cancel();
}

/// A live bot against the fake chat and API with valid grants for both accounts.
async fn live_bot_parts() -> (FakeChat, FakeTwitchApi, twitch_bot::config::Config) {
    let chat = FakeChat::start(FakeChatOptions::default())
        .await
        .expect("fake chat");
    let api = FakeTwitchApi::start(FakeApiOptions {
        bot_login: common::BOT.into(),
        channel: common::CHANNEL.into(),
        ..FakeApiOptions::default()
    })
    .await
    .expect("fake api");
    let mut config = common::config(&chat.ws_url());
    api.configure(&mut config.bot, &mut config.secrets);
    (chat, api, config)
}

#[tokio::test]
async fn the_bot_ends_with_78_when_its_own_grant_is_revoked() {
    let (_chat, api, config) = live_bot_parts().await;
    api.revoke_user(BOT_ID);
    let bot = common::start(config).await;
    let exit = bot.exit();
    assert!(
        common::eventually(10, || exit.requested().is_some()).await,
        "the bot asks to stop"
    );
    let (code, reason) = exit.requested().expect("asked");
    assert_eq!(code, 78);
    assert!(reason.contains("twitch-bot auth"), "{reason}");
    assert!(bot.shutdown_token().is_cancelled());
    bot.shutdown().await;
}

#[tokio::test]
async fn chat_goes_on_when_the_broadcaster_grant_is_revoked() {
    let (chat, api, config) = live_bot_parts().await;
    api.revoke_user(BROADCASTER_ID);
    let mut lines = chat.subscribe();
    let bot = common::start(config).await;
    assert!(
        common::eventually(10, || api.refresh_calls() >= 1
            && chat.joined(common::CHANNEL) == 1)
        .await,
        "the validator found the revoked grant and the bot joined"
    );
    chat.chat(common::CHANNEL, &Viewer::new("alice"), "!ping")
        .await;
    let reply = common::next_privmsg(&mut lines, 10)
        .await
        .expect("!ping is still answered");
    assert_eq!(reply.text, "pong");
    assert_eq!(bot.exit().requested(), None);
    bot.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_auth_server_is_not_fatal() {
    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake");
    let mut s = tokens_for(&api).await.secrets();
    s.client_id = "fakeclient".into();
    // Port 9 (discard) on loopback: connection refused, like a network that is down.
    let tokens = Tokens::new(
        AuthClient::new(
            reqwest::Client::new(),
            "http://127.0.0.1:9/oauth2",
            "fakeclient",
            None,
        ),
        s,
        None,
    );
    let (tx, mut rx) = queue::channel(16);
    let stop = CancellationToken::new();
    let task = auth::spawn_validator(
        tokens,
        Duration::from_secs(3600),
        tx,
        Exit::new(stop.clone()),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3 * 3600);
    let mut events = 0;
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        events += 1;
    }
    assert_eq!(
        events, 0,
        "no 'grant invalid' report while the network is down"
    );
    assert!(!task.is_finished(), "the validator keeps trying");
    stop.cancel();
}

#[tokio::test]
async fn the_authorization_code_flow_takes_one_redirect_and_checks_its_state() {
    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake");
    let client = AuthClient::new(
        reqwest::Client::new(),
        &api.auth_url(),
        "fakeclient",
        Some("shh"),
    );
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let redirect = format!("http://localhost:{port}");
    let mut shown = String::new();
    let browser = {
        let redirect = redirect.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<String>();
        let task = tokio::spawn(async move {
            let url = rx.await.expect("url shown");
            let parsed = reqwest::Url::parse(&url).expect("valid url");
            let state = parsed
                .query_pairs()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v.into_owned())
                .expect("state");
            // What the browser does after the user approves.
            reqwest::get(format!(
                "{redirect}/?code=code-123&scope=chat%3Aread&state={state}"
            ))
            .await
            .expect("listener answers")
            .text()
            .await
            .expect("body")
        });
        (tx, task)
    };
    let (tx, task) = browser;
    let mut tx = Some(tx);
    let token = auth::authorization_code_grant(&client, &redirect, &["chat:read"], &mut |url| {
        shown = url.to_string();
        if let Some(tx) = tx.take() {
            let _ = tx.send(url.to_string());
        }
    })
    .await
    .expect("signed in");
    assert!(
        shown.starts_with(&format!("{}/authorize?response_type=code", api.auth_url())),
        "{shown}"
    );
    assert!(shown.contains("scope=chat%3Aread"), "{shown}");
    let page = task.await.expect("browser");
    assert!(page.contains("Signed in"), "{page}");
    let v = client
        .validate(&token.access_token)
        .await
        .expect("up")
        .expect("valid");
    assert_eq!(v.user_id, BOT_ID);

    // A redirect with the wrong state is refused.
    let port2 = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let redirect2 = format!("http://localhost:{port2}");
    let r2 = redirect2.clone();
    let forged = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = reqwest::get(format!("{r2}/?code=evil&state=forged")).await;
    });
    let err = auth::authorization_code_grant(&client, &redirect2, &["chat:read"], &mut |_| {})
        .await
        .expect_err("forged state");
    assert!(err.to_string().contains("state"), "{err}");
    forged.await.expect("forger");
}

/// secrets.yaml with a non-default value in every section, as a streamer's would look after a
/// few weeks: both grants, an app secret, the console token, OBS and Discord.
fn every_section_set(api: &FakeTwitchApi) -> Secrets {
    let mut s = Secrets {
        client_id: "fakeclient".into(),
        client_secret: Some("app-secret-kept".into()),
        console_token: "console-token-kept-0123456789abcdef".into(),
        obs_password: "obs-password-kept".into(),
        ..Secrets::default()
    };
    // Grants holding what secrets.yaml says they hold (a refresh answers the grant's scopes).
    let (a, r) = api.issue_tokens_with_scopes(BOT_ID, &["chat:read", "chat:edit"]);
    s.bot.access_token = a;
    s.bot.refresh_token = r;
    s.bot.scopes = vec!["chat:read".into(), "chat:edit".into()];
    let (a, r) = api.issue_tokens_with_scopes(BROADCASTER_ID, &["bits:read"]);
    s.broadcaster.access_token = a;
    s.broadcaster.refresh_token = r;
    s.broadcaster.scopes = vec!["bits:read".into()];
    s.discord.webhooks.insert(
        "alerts".into(),
        "https://discord.com/api/webhooks/123/webhook-token-kept".into(),
    );
    s.discord.bot_token = "discord-bot-token-kept".into();
    s
}

#[tokio::test]
async fn a_token_refresh_keeps_every_other_value_in_secrets_yaml() {
    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("secrets.yaml");
    let at_start = every_section_set(&api);
    twitch_bot::config::secrets::save(&path, &at_start).expect("saved");
    let tokens = Tokens::new(
        AuthClient::new(
            reqwest::Client::new(),
            &api.auth_url(),
            "fakeclient",
            Some("app-secret-kept"),
        ),
        at_start.clone(),
        Some(path.clone()),
    );
    // The streamer adds a webhook while the bot runs; the bot never read it.
    let mut edited = at_start.clone();
    edited.discord.webhooks.insert(
        "mods".into(),
        "https://discord.com/api/webhooks/456/added-while-running".into(),
    );
    twitch_bot::config::secrets::save(&path, &edited).expect("edited");

    api.expire_access_tokens();
    let fresh = tokens
        .refresh(Account::Bot, &at_start.bot.access_token)
        .await
        .expect("refreshed");
    assert_ne!(fresh, at_start.bot.access_token);

    let on_disk = twitch_bot::config::secrets::load(&path).expect("valid");
    let mut expected = edited.clone();
    expected.bot.access_token = fresh.clone();
    expected.bot.refresh_token = on_disk.bot.refresh_token.clone();
    assert_ne!(
        on_disk.bot.refresh_token, at_start.bot.refresh_token,
        "the rotated refresh token is saved"
    );
    assert!(api.refresh_token_valid(&on_disk.bot.refresh_token));
    assert_eq!(on_disk, expected, "only the bot's grant changed");
}

#[tokio::test]
async fn a_refused_refresh_takes_the_newer_grant_another_process_saved() {
    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("secrets.yaml");
    let at_start = every_section_set(&api);
    twitch_bot::config::secrets::save(&path, &at_start).expect("saved");
    let client = AuthClient::new(reqwest::Client::new(), &api.auth_url(), "fakeclient", None);
    let tokens = Tokens::new(client.clone(), at_start.clone(), Some(path.clone()));

    // `twitch-bot auth` in another terminal: spends the same grant's refresh token and saves
    // the new pair (the old refresh token stops working).
    let newer = client
        .refresh(Account::Bot, &at_start.bot.refresh_token)
        .await
        .expect("other process refreshed");
    twitch_bot::config::secrets::update(&path, |s| {
        s.bot.access_token = newer.access_token.clone();
        s.bot.refresh_token = newer.refresh_token.clone();
    })
    .expect("other process saved");

    let token = tokens
        .refresh(Account::Bot, &at_start.bot.access_token)
        .await
        .expect("the newer grant is taken, not reported revoked");
    assert_eq!(token, newer.access_token);
    assert!(
        client.validate(&token).await.expect("up").is_some(),
        "and it works"
    );
    assert_eq!(tokens.access(Account::Bot), newer.access_token);
}

#[tokio::test]
async fn the_process_exits_with_78_naming_auth_when_the_bot_grant_is_revoked() {
    let (chat, api, config) = live_bot_parts().await;
    let root = tempfile::tempdir().expect("tempdir");
    let configs = root.path().join("configs");
    std::fs::create_dir_all(&configs).expect("mkdir");
    let t = &config.bot.twitch;
    std::fs::write(
        configs.join("bot.yaml"),
        format!(
            "username: {}\nowner: {}\nchat:\n  transport: irc\ntwitch:\n  chat_url: {}\n  helix_url: {}\n  eventsub_url: {}\n  auth_url: {}\n",
            common::BOT,
            common::CHANNEL,
            chat.ws_url(),
            t.helix_url,
            t.eventsub_url,
            t.auth_url
        ),
    )
    .expect("bot.yaml");
    twitch_bot::config::secrets::save(&configs.join("secrets.yaml"), &config.secrets)
        .expect("secrets.yaml");
    api.revoke_user(BOT_ID);

    let out = common::binary::BotCommand::new()
        .folders(&configs, &root.path().join("data"))
        .example_scripts()
        .arg("--noconsole")
        .args(common::binary::NO_PEERS)
        .args(["--nodiscord", "--notimers"])
        .output_within(30)
        .await
        .expect("the bot stops by itself");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("twitch-bot auth"), "{stderr}");
}
