//! Helpers shared by the integration tests: start the bot against a fake Twitch on 127.0.0.1
//! and wait for what it sends.
#![allow(dead_code)]

pub mod binary;
#[allow(dead_code)]
pub mod logs;

use std::time::Duration;
use twitch_bot::subsystems::Subsystem;

use tokio::sync::broadcast;
use twitch_bot::app::{Bot, Settings};
use twitch_bot::config::Config;
use twitch_bot::config::bot::ChatTransport;
use twitch_bot::sim::{
    ClientLine, FakeApiOptions, FakeChat, FakeChatOptions, FakeTwitchApi, SentMessage,
};

pub const CHANNEL: &str = "testchan";
pub const BOT: &str = "testbot";
pub const TOKEN: &str = "test-token-123";

/// A config pointing chat at `chat_url`, with a bot token, on IRC.
pub fn config(chat_url: &str) -> Config {
    let mut config = Config::default();
    config.bot.username = BOT.into();
    config.bot.owner = CHANNEL.into();
    config.bot.twitch.chat_url = chat_url.into();
    config.bot.chat.transport = ChatTransport::Irc;
    config.secrets.bot.access_token = TOKEN.into();
    config
}

/// The transports the chat tests run on.
pub const TRANSPORTS: [ChatTransport; 2] = [ChatTransport::Irc, ChatTransport::Eventsub];

/// Runs each `async fn name(transport: ChatTransport)` as two tests, `name::irc` and
/// `name::eventsub`, so a chat test is written once and fails by the transport's name.
/// `multi_thread:` before the names runs them on two worker threads.
#[allow(unused_macros)]
macro_rules! on_both_transports {
    (@one [$($attr:tt)*] $name:ident) => {
        mod $name {
            #[$($attr)*]
            async fn irc() {
                super::$name(twitch_bot::config::bot::ChatTransport::Irc).await
            }
            #[$($attr)*]
            async fn eventsub() {
                super::$name(twitch_bot::config::bot::ChatTransport::Eventsub).await
            }
        }
    };
    (multi_thread: $($name:ident),+ $(,)?) => {
        $(on_both_transports!(@one [tokio::test(flavor = "multi_thread", worker_threads = 2)] $name);)+
    };
    ($($name:ident),+ $(,)?) => {
        $(on_both_transports!(@one [tokio::test] $name);)+
    };
}

/// The suite runs on IRC unless a test chose a transport: `auto` (the product's default) is
/// pinned to IRC here, so the default's choice never moves a test from one transport to the
/// other. A test of `auto` itself starts the bot with `Bot::start`.
pub fn pin_transport(config: &mut Config) {
    if config.bot.chat.transport == ChatTransport::Auto {
        config.bot.chat.transport = ChatTransport::Irc;
    }
}

/// A fake Twitch for a chat test on `transport`: the chat server, the API (whose EventSub
/// carries the chat server's lines to chat sessions), and a config for the bot pointed at both
/// with `chat.transport` set to `transport`.
pub async fn chat_twitch(transport: ChatTransport) -> (FakeChat, FakeTwitchApi, Config) {
    let chat = FakeChat::start(FakeChatOptions::default())
        .await
        .expect("fake chat starts");
    let api = FakeTwitchApi::start(FakeApiOptions {
        bot_login: BOT.into(),
        channel: CHANNEL.into(),
        ..FakeApiOptions::default()
    })
    .await
    .expect("fake API starts");
    chat.mirror_to(api.chat_mirror());
    api.post_chat_to(chat.room());
    let mut config = config(&chat.irc_url());
    api.configure(&mut config.bot, &mut config.secrets);
    config.bot.chat.transport = transport;
    (chat, api, config)
}

/// Waits until the bot reads chat on `transport`: joined over IRC, or its EventSub chat
/// session subscribed (and the choice shown as chat's note).
pub async fn reading(
    bot: &Bot,
    chat: &FakeChat,
    api: &FakeTwitchApi,
    transport: ChatTransport,
) -> bool {
    use twitch_bot::event::Service;
    match transport {
        ChatTransport::Eventsub => {
            eventually(10, || {
                bot.health
                    .note(Service::Chat)
                    .is_some_and(|n| n.starts_with("transport: eventsub"))
                    && api
                        .subscriptions()
                        .iter()
                        .any(|s| s.kind == "channel.chat.message")
            })
            .await
        }
        _ => eventually(10, || chat.joined(CHANNEL) == 1).await,
    }
}

/// The project's example scripts.
pub fn example_scripts() -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
        .join("scripts")
}

/// A copy of the example scripts in `dir/scripts`, so a test may change them, with `extra`
/// scripts (path under `scripts/`, code) added.
pub fn copy_scripts(dir: &std::path::Path, extra: &[(&str, &str)]) -> std::path::PathBuf {
    fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read scripts").flatten() {
            let path = entry.path();
            if path.is_dir() {
                copy_dir(&path, &to.join(entry.file_name()));
            } else {
                std::fs::copy(&path, to.join(entry.file_name())).expect("copy");
            }
        }
    }
    let scripts = dir.join("scripts");
    copy_dir(&example_scripts(), &scripts);
    for (file, code) in extra {
        let path = scripts.join(file);
        std::fs::create_dir_all(path.parent().expect("folder")).expect("mkdir");
        std::fs::write(path, code).expect("write script");
    }
    scripts
}

/// Settings for the offline bot (simulated Twitch) keeping its files in `dir`, running
/// `scripts`: no timers, no console, no integrations — a test switches on what it checks.
pub fn offline_settings(dir: &std::path::Path, scripts: std::path::PathBuf) -> Settings {
    std::fs::create_dir_all(dir.join("configs")).expect("configs dir");
    let mut settings = Settings {
        offline: true,
        data_dir: dir.join("data"),
        config_dir: dir.join("configs"),
        scripts_dir: scripts,
        ..Settings::default()
    };
    settings.enabled.set(Subsystem::Timers, false);
    settings.enabled.set(Subsystem::Console, false);
    settings.enabled = settings.enabled.without_integrations();
    settings
}

/// Settings for a test: the project's example scripts, a fresh data folder (kept alive by the
/// returned guard), no timers.
pub fn settings() -> (Settings, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings {
        data_dir: data.path().to_path_buf(),
        config_dir: data.path().join("configs"),
        scripts_dir: example_scripts(),
        ..Settings::default()
    };
    settings.enabled.set(Subsystem::Timers, false);
    settings.enabled.set(Subsystem::Console, false);
    // The integrations' peers (OBS, a sound card, a display, a session bus) are the business
    // of their own tests; here they would only bind ports and print warnings.
    settings.enabled = settings.enabled.without_integrations();
    (settings, data)
}

/// A running bot and the data folder it uses.
pub struct TestBot {
    pub bot: Bot,
    pub data: tempfile::TempDir,
}

impl std::ops::Deref for TestBot {
    type Target = Bot;
    fn deref(&self) -> &Bot {
        &self.bot
    }
}

impl TestBot {
    pub async fn shutdown(self) {
        self.bot.shutdown().await;
    }
}

/// Starts the bot with `config` (live mode, against the given URL) and test settings.
pub async fn start(mut config: Config) -> TestBot {
    pin_transport(&mut config);
    let (settings, data) = settings();
    let bot = Bot::start(settings, config).await.expect("bot starts");
    TestBot { bot, data }
}

/// Waits up to `secs` for a line from a client that satisfies `pred`.
pub async fn wait_line(
    rx: &mut broadcast::Receiver<ClientLine>,
    secs: u64,
    mut pred: impl FnMut(&ClientLine) -> bool,
) -> Option<ClientLine> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(line)) if pred(&line) => return Some(line),
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(_)) | Err(_) => return None,
        }
    }
}

/// Waits for the bot's next chat message.
pub async fn next_privmsg(
    rx: &mut broadcast::Receiver<ClientLine>,
    secs: u64,
) -> Option<SentMessage> {
    wait_line(rx, secs, |l| l.privmsg().is_some())
        .await
        .and_then(|l| l.privmsg())
}

/// Waits until `cond` holds, checking every 10 ms, for at most `secs`.
pub async fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

/// Starts the bot on the built-in simulated Twitch and waits until chat and EventSub are up.
pub async fn start_ready(settings: Settings, mut config: Config) -> Bot {
    use twitch_bot::event::{ConnectionState, Service};
    pin_transport(&mut config);
    let transport = config.bot.chat.transport;
    let bot = Bot::start(settings, config)
        .await
        .expect("the offline bot starts");
    let ready = eventually(10, || {
        bot.health.get(Service::Chat) == Some(ConnectionState::Connected)
            && bot.health.get(Service::EventSub) == Some(ConnectionState::Connected)
            && bot.sim().is_some_and(|s| {
                let subs = s.api.subscriptions();
                !subs.is_empty()
                    && (transport != ChatTransport::Eventsub
                        || subs.iter().any(|s| s.kind == "channel.chat.message"))
            })
    })
    .await;
    assert!(
        ready,
        "chat and EventSub come up: {:?} {:?}",
        bot.health.get(Service::Chat),
        bot.health.get(Service::EventSub)
    );
    bot
}
