//! Runs of the bot with every secret set: not one of their values appears in anything the bot
//! writes (log on stderr, terminal on stdout), at the most verbose log level. One run is the
//! offline mode (the simulator); the other is a live run against the fake Twitch (chat, Helix,
//! OAuth, EventSub) on 127.0.0.1 where both saved access tokens have expired and are refreshed,
//! one is refused again later (401) and refreshed again, a real OBS hands a script its stream key
//! (`GetStreamServiceSettings`), and Discord (webhook and bot token), ZeroMQ, the console and
//! the emote sites are all in use.

mod common;
#[path = "peers/obs.rs"]
mod obs_peer;
mod peers;

use std::time::{Duration, Instant};

use common::binary::{BotCommand, Lines};

/// Values no default or generated value can look like, so a hit is a leak.
const SECRETS: [&str; 9] = [
    "clientsecretLEAKCHECK0001",
    "botaccessLEAKCHECK0002",
    "botrefreshLEAKCHECK0003",
    "bcastaccessLEAKCHECK0004",
    "bcastrefreshLEAKCHECK0005",
    "consoletokenLEAKCHECK0006xxxxxxxxxxxx",
    "obspasswordLEAKCHECK0007",
    "webhooktokenLEAKCHECK0008",
    "discordbotLEAKCHECK0009",
];

use obs_peer::free_port;

/// The forms a secret may take in a log line: as written, hex-encoded (a wire-level frame dump),
/// percent-encoded (a URL or a form body) and base64-encoded.
fn forms(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    let percent: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let b64 = b64.trim_end_matches('=');
    // A base64 text's tail depends on what follows it; its first 16 characters do not.
    let b64 = b64[..b64.len().min(16)].to_string();
    vec![secret.to_string(), hex, percent, b64]
}

/// Fails naming every line that holds any form of any of `secrets`.
fn assert_no_secret(output: &str, secrets: &[String]) {
    let mut found = Vec::new();
    for secret in secrets {
        for form in forms(secret) {
            for line in output.lines().filter(|l| l.contains(&form)) {
                found.push(format!("{secret} (as {form}) in: {line}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "secrets were written out:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_secret_value_appears_in_the_output_of_an_offline_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let configs = dir.path().join("configs");
    std::fs::create_dir_all(&configs).expect("configs dir");
    let [
        client_secret,
        bot_access,
        bot_refresh,
        bc_access,
        bc_refresh,
        console,
        obs,
        hook,
        discord,
    ] = SECRETS;
    let secrets = format!(
        "client_id: leakcheckclientid\n\
         client_secret: {client_secret}\n\
         bot:\n  access_token: {bot_access}\n  refresh_token: {bot_refresh}\n\
         broadcaster:\n  access_token: {bc_access}\n  refresh_token: {bc_refresh}\n\
         console_token: {console}\n\
         obs_password: {obs}\n\
         discord:\n  webhooks:\n    announcements: http://127.0.0.1:{}/api/webhooks/1/{hook}\n  \
         bot_token: {discord}\n",
        free_port()
    );
    let path = configs.join("secrets.yaml");
    std::fs::write(&path, secrets).expect("write secrets.yaml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    // OBS on a port nobody listens on: the bot keeps retrying, with the password in hand.
    let bot = format!(
        "chat:\n  transport: irc\nconsole:\n  bind: 127.0.0.1:{}\nobs:\n  port: {}\n",
        free_port(),
        free_port()
    );
    std::fs::write(configs.join("bot.yaml"), bot).expect("write bot.yaml");

    let mut bot = BotCommand::new()
        .args([
            "--offline",
            "--nozmq",
            "--noaudio",
            "--nohotkeys",
            "--nonotify",
        ])
        .folders(&configs, &dir.path().join("data"))
        .example_scripts()
        .env("RUST_LOG", "trace,enigo=off")
        .spawn();
    for _ in 0..20 {
        let _ = bot.type_line("!ping");
        std::thread::sleep(Duration::from_millis(150));
    }
    #[cfg(unix)]
    {
        bot.signal("-TERM");
    }
    let (stdout, stderr) = bot.finish();
    let output = format!("{stdout}\n{stderr}");
    assert!(
        output.contains("pong"),
        "the run got far enough to answer chat:\n{output}"
    );
    assert!(
        output.lines().count() > 20,
        "the run logged something to scan:\n{output}"
    );
    assert_no_secret(&output, &SECRETS.map(String::from));
}

/// Secrets of the live run, as `twitch-bot auth` and the streamer saved them.
const LIVE: [&str; 9] = [
    "clientsecretLIVECHECK0101",
    "botaccessLIVECHECK0102",
    "botrefreshLIVECHECK0103",
    "bcastaccessLIVECHECK0104",
    "bcastrefreshLIVECHECK0105",
    "consoletokenLIVECHECK0106xxxxxxxxxxxx",
    "obspasswordLIVECHECK0107",
    "webhooktokenLIVECHECK0108",
    "discordbotLIVECHECK0109",
];
/// The stream key OBS holds (in its stream service settings), which a script asks OBS for.
const STREAM_KEY: &str = "live_123456_streamkeyLIVECHECK0110";

/// A stand-in for Discord's API and the emote sites on 127.0.0.1: Discord's message routes
/// answer as Discord does, everything else 404 (an emote site that does not know the channel).
async fn stub() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::extract::Request;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |req: Request| {
        let log = log.clone();
        async move {
            let path = req.uri().path().to_string();
            log.lock()
                .expect("stub log")
                .push(format!("{} {path}", req.method()));
            if req.method() == "POST" && path.contains("/webhooks/") {
                StatusCode::NO_CONTENT.into_response()
            } else if req.method() == "POST" && path.contains("/channels/") {
                axum::Json(serde_json::json!({"id": "1", "channel_id": "42"})).into_response()
            } else {
                (StatusCode::NOT_FOUND, "{\"message\":\"Unknown\"}").into_response()
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("stub binds");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, seen)
}

/// Everything the bot process writes, line by line, as it comes.
#[derive(Clone, Default)]
struct Output(Lines);

impl Output {
    fn text(&self) -> String {
        self.0.text()
    }
    async fn wait_for(&self, secs: u64, what: &str) -> bool {
        common::eventually(secs, || self.0.all().iter().any(|l| l.contains(what))).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_value_appears_in_the_output_of_a_live_run_with_token_refreshes_and_obs() {
    use twitch_bot::sim::helix::{BOT_ID, BROADCASTER_ID};
    use twitch_bot::sim::{FakeApiOptions, FakeChat, FakeChatOptions, FakeTwitchApi, Viewer};
    let _turn = obs_peer::TURN.lock().await;
    let [
        client_secret,
        bot_access,
        bot_refresh,
        bc_access,
        bc_refresh,
        console,
        obs_password,
        hook,
        discord,
    ] = LIVE;

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
    // Both saved access tokens have expired; their refresh tokens are good.
    api.adopt_tokens(BOT_ID, None, bot_refresh);
    api.adopt_tokens(BROADCASTER_ID, None, bc_refresh);
    let (stub_port, stub_seen) = stub().await;

    // A real OBS holding a stream key, when this machine has one (CI does).
    let obs_port = free_port();
    let obs = match obs_peer::obs_root() {
        Some(root) => {
            let obs = obs_peer::ObsPeer::start(&root, obs_port, obs_password).await;
            // OBS answers "not ready" for a moment after its port opens.
            let settings =
                serde_json::json!({"server": "rtmp://127.0.0.1:1935/live", "key": STREAM_KEY});
            let mut last = None;
            for _ in 0..100 {
                let set =
                    match obws::Client::connect("127.0.0.1", obs_port, Some(obs_password)).await {
                        Ok(client) => client
                            .config()
                            .set_stream_service_settings("rtmp_custom", &settings)
                            .await
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                match set {
                    Ok(()) => {
                        last = None;
                        break;
                    }
                    Err(e) => last = Some(e),
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert!(
                last.is_none(),
                "OBS takes the stream key: {last:?}\n{}",
                obs.log()
            );
            Some(obs)
        }
        None => None, // obs_root said why (skipped), or failed under TB_REQUIRE_PEERS=1
    };

    let dir = tempfile::tempdir().expect("temp dir");
    let configs = dir.path().join("configs");
    std::fs::create_dir_all(&configs).expect("configs dir");
    let secrets_path = configs.join("secrets.yaml");
    std::fs::write(
        &secrets_path,
        format!(
            "client_id: fakeclient\n\
             client_secret: {client_secret}\n\
             bot:\n  access_token: {bot_access}\n  refresh_token: {bot_refresh}\n\
             broadcaster:\n  access_token: {bc_access}\n  refresh_token: {bc_refresh}\n\
             console_token: {console}\n\
             obs_password: {obs_password}\n\
             discord:\n  webhooks:\n    announcements: http://127.0.0.1:{stub_port}/api/webhooks/1/{hook}\n  \
             bot_token: {discord}\n"
        ),
    )
    .expect("write secrets.yaml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secrets_path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }
    let stub_url = format!("http://127.0.0.1:{stub_port}");
    std::fs::write(
        configs.join("bot.yaml"),
        format!(
            "username: {bot}\nowner: {channel}\nchat:\n  transport: irc\n\
             twitch:\n  chat_url: {chat_url}\n  helix_url: {helix}\n  eventsub_url: {eventsub}\n  \
             auth_url: {auth}\n\
             console:\n  bind: 127.0.0.1:{console_port}\n\
             emotes:\n  bttv_url: {stub_url}/bttv\n  ffz_url: {stub_url}/ffz\n  \
             seventv_url: {stub_url}/7tv\n\
             obs:\n  host: 127.0.0.1\n  port: {obs_port}\n  max_backoff_secs: 1\n\
             discord:\n  api_url: {stub_url}/api/v10\n  channels:\n    mods: \"424242\"\n\
             zmq:\n  bind: tcp://127.0.0.1:{zmq_port}\n",
            bot = common::BOT,
            channel = common::CHANNEL,
            chat_url = chat.ws_url(),
            helix = api.helix_url(),
            eventsub = api.eventsub_url(),
            auth = api.auth_url(),
            console_port = free_port(),
            zmq_port = free_port(),
        ),
    )
    .expect("write bot.yaml");
    let scripts = common::copy_scripts(
        dir.path(),
        &[
            (
                "commands/streamkey.rhai",
                "fn run(ctx) { ctx.obs.request(\"GetStreamServiceSettings\", #{}); \
                 ctx.reply(\"asked OBS\"); }\n",
            ),
            (
                "commands/tell.rhai",
                "fn run(ctx) { ctx.discord.send(\"announcements\", \"from chat\"); \
                 ctx.discord.send(\"mods\", \"a note\"); ctx.zmq.publish(\"tell\", #{ n: 1 }); \
                 ctx.reply(\"told\"); }\n",
            ),
        ],
    );

    let bot = BotCommand::new()
        .args(["--noaudio", "--nohotkeys", "--nonotify"])
        .folders(&configs, &dir.path().join("data"))
        .scripts(&scripts)
        .env("RUST_LOG", "trace,enigo=off")
        .no_stdin()
        .spawn();
    let output = Output(bot.both.clone());

    // At start the validator finds both access tokens expired and refreshes them.
    let refreshed = common::eventually(20, || {
        api.refresh_calls() >= 2 && chat.joined(common::CHANNEL) == 1
    })
    .await;
    assert!(
        refreshed,
        "both expired tokens refreshed ({} refreshes) and the bot joined:\n{}",
        api.refresh_calls(),
        output.text()
    );
    let saved = || twitch_bot::config::secrets::load(&secrets_path).expect("secrets.yaml reads");
    // Twitch answering the refresh comes before the bot writes secrets.yaml: wait for the file.
    common::eventually(10, || {
        twitch_bot::config::secrets::load(&secrets_path).is_ok_and(|s| {
            s.bot.access_token != bot_access && s.broadcaster.refresh_token != bc_refresh
        })
    })
    .await;
    let after_start = saved();
    assert_ne!(
        after_start.bot.access_token, bot_access,
        "new bot tokens saved"
    );
    assert_ne!(
        after_start.broadcaster.refresh_token, bc_refresh,
        "new broadcaster tokens saved"
    );
    let mut lines = chat.subscribe();
    let says = |lines: &mut tokio::sync::broadcast::Receiver<twitch_bot::sim::ClientLine>,
                text: &'static str| {
        let mut lines = lines.resubscribe();
        async move {
            common::wait_line(&mut lines, 10, |l| {
                l.privmsg().is_some_and(|m| m.text.contains(text))
            })
            .await
            .is_some()
        }
    };
    let streamer = Viewer::new(common::CHANNEL);
    let reply = says(&mut lines, "pong");
    chat.chat(common::CHANNEL, &streamer, "!ping").await;
    assert!(reply.await, "the bot answers chat:\n{}", output.text());

    // Later a Helix call is refused (401): one more refresh, saved.
    api.expire_access_tokens();
    let before = api.refresh_calls();
    chat.chat(common::CHANNEL, &streamer, "!uptime").await;
    let again = common::eventually(10, || api.refresh_calls() > before).await;
    assert!(again, "a 401 from Helix refreshes:\n{}", output.text());
    let after_401 = common::eventually(5, || {
        saved().bot.access_token != after_start.bot.access_token
    })
    .await;
    assert!(after_401, "the token refreshed after the 401 is saved");

    // Discord (a webhook and a channel by bot token) and ZeroMQ from a script.
    let told = says(&mut lines, "told");
    chat.chat(common::CHANNEL, &streamer, "!tell").await;
    assert!(told.await, "!tell ran:\n{}", output.text());
    let posted = common::eventually(10, || {
        let seen = stub_seen.lock().expect("stub");
        seen.iter().any(|r| r.contains("/webhooks/"))
            && seen.iter().any(|r| r.contains("/channels/"))
    })
    .await;
    assert!(
        posted,
        "Discord got both messages: {:?}",
        stub_seen.lock().expect("stub")
    );

    // OBS hands a script its stream settings, stream key included.
    if obs.is_some() {
        assert!(
            output.wait_for(15, "OBS: connected").await,
            "the bot connected to OBS:\n{}",
            output.text()
        );
        chat.chat(common::CHANNEL, &streamer, "!streamkey").await;
        assert!(
            output
                .wait_for(10, "GetStreamServiceSettings answered")
                .await,
            "OBS answered the script's request:\n{}",
            output.text()
        );
    }

    #[cfg(unix)]
    {
        bot.signal("-TERM");
    }
    let mut bot = bot;
    let deadline = Instant::now() + Duration::from_secs(10);
    while bot.try_wait().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bot.finish();
    drop(obs);
    let at_end = saved();
    let text = output.text();
    assert!(
        text.lines().count() > 50,
        "the run logged something to scan:\n{text}"
    );
    let mut secrets: Vec<String> = LIVE.iter().map(|s| (*s).to_string()).collect();
    secrets.push(STREAM_KEY.into());
    for grant in [
        &after_start.bot,
        &after_start.broadcaster,
        &at_end.bot,
        &at_end.broadcaster,
    ] {
        secrets.push(grant.access_token.clone());
        secrets.push(grant.refresh_token.clone());
    }
    secrets.sort();
    secrets.dedup();
    assert_no_secret(&text, &secrets);
}
