//! `configs/bot.yaml`: accounts, Twitch endpoints, chat behaviour, the queue and the console.
//!
//! The key names here are a public contract (tools outside the project write these files):
//! rename nothing, only add.

use serde::Deserialize;

/// The whole of `configs/bot.yaml`. Every key has a default, so an empty file is valid.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BotConfig {
    /// The bot account's login.
    pub username: String,
    /// The channel to join; `-c` overrides it.
    pub owner: String,
    pub twitch: TwitchConfig,
    pub chat: ChatConfig,
    pub queue: QueueConfig,
    pub console: ConsoleConfig,
}

impl Default for BotConfig {
    fn default() -> Self {
        BotConfig {
            username: "mybot".into(),
            owner: "mychannel".into(),
            twitch: TwitchConfig::default(),
            chat: ChatConfig::default(),
            queue: QueueConfig::default(),
            console: ConsoleConfig::default(),
        }
    }
}

/// Twitch endpoints. Every one is configurable so fakes and the Twitch CLI's mocks can stand in.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TwitchConfig {
    /// `wss://host:port`, `ws://host:port`, `ircs://host:port` or `irc://host:port`.
    pub chat_url: String,
    pub helix_url: String,
    pub eventsub_url: String,
    /// Where EventSub subscriptions are created; `None` means `helix_url` + `/eventsub/subscriptions`.
    pub eventsub_subscriptions_url: Option<String>,
    pub auth_url: String,
}

impl Default for TwitchConfig {
    fn default() -> Self {
        TwitchConfig {
            chat_url: "wss://irc-ws.chat.twitch.tv:443".into(),
            helix_url: "https://api.twitch.tv/helix".into(),
            eventsub_url: "wss://eventsub.wss.twitch.tv/ws".into(),
            eventsub_subscriptions_url: None,
            auth_url: "https://id.twitch.tv/oauth2".into(),
        }
    }
}

/// The send rate class (messages per 30 s).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RateLimit {
    /// 20 per 30 s.
    #[default]
    Normal,
    /// 100 per 30 s (the bot is moderator or broadcaster in the channel).
    Moderator,
    /// 7,500 per 30 s (a verified bot).
    Verified,
    /// No limit: for tests and benchmarks against a fake, never against Twitch.
    Unlimited,
}

impl RateLimit {
    /// Messages allowed per 30-second window; `None` means unlimited.
    pub fn per_30s(self) -> Option<u32> {
        match self {
            RateLimit::Normal => Some(20),
            RateLimit::Moderator => Some(100),
            RateLimit::Verified => Some(7_500),
            RateLimit::Unlimited => None,
        }
    }
}

/// Chat behaviour.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// The floor of the send rate class; moderator/broadcaster badges raise it to `moderator`.
    pub rate_limit: RateLimit,
    /// The prefix that marks a command.
    pub command_prefix: String,
    /// Answer a refused command with the remaining cooldown instead of staying silent.
    pub reply_on_cooldown: bool,
    /// Seconds of silence after which the bot sends its own PING to check the link.
    pub ping_interval_secs: u64,
    /// Seconds to wait for the PONG before the link is treated as dead.
    pub ping_timeout_secs: u64,
    /// Outgoing messages kept while disconnected or rate limited; the oldest is dropped beyond.
    pub outgoing_queue: usize,
    /// Longest wait between reconnect attempts, in seconds.
    pub max_backoff_secs: u64,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            rate_limit: RateLimit::Normal,
            command_prefix: "!".into(),
            reply_on_cooldown: false,
            ping_interval_secs: 60,
            ping_timeout_secs: 10,
            outgoing_queue: 1_000,
            max_backoff_secs: 60,
        }
    }
}

/// The event queue between sources and the dispatcher.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Events held before producers wait (back-pressure); bounds memory under a flood.
    pub capacity: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig { capacity: 4_096 }
    }
}

/// The web console.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Address to serve on; anything but loopback gets a warning at start.
    pub bind: String,
    /// Open the console in the default browser at start.
    pub open_on_start: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            bind: "127.0.0.1:8081".into(),
            open_on_start: false,
        }
    }
}
