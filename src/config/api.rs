//! The Twitch API side of `configs/bot.yaml`: `auth:`, `eventsub:`, `stream:` and `emotes:`.
//! Shapes and defaults only; the clients in `crate::twitch` read them.

use serde::{Deserialize, Serialize};

/// The default subscriptions (the list).
pub const DEFAULT_SUBSCRIPTIONS: &[&str] = &[
    "stream.online",
    "stream.offline",
    "channel.update",
    "channel.follow",
    "channel.subscribe",
    "channel.subscription.gift",
    "channel.subscription.message",
    "channel.cheer",
    "channel.raid",
    "channel.channel_points_custom_reward_redemption.add",
    "channel.ad_break.begin",
    "channel.poll.begin",
    "channel.poll.end",
    "channel.prediction.begin",
    "channel.prediction.end",
    "channel.hype_train.begin",
    "channel.hype_train.end",
    "channel.moderator.add",
    "channel.moderator.remove",
];

/// `eventsub:` in bot.yaml.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EventSubConfig {
    /// Subscription types to create; versions and conditions are chosen by the bot.
    pub subscriptions: Vec<String>,
    /// Seconds added to the server's keepalive timeout before the link counts as dead.
    pub keepalive_margin_secs: u64,
    /// Notification ids remembered for deduplication.
    pub dedup_capacity: usize,
    /// Longest wait between reconnect attempts, in seconds.
    pub max_backoff_secs: u64,
}

impl Default for EventSubConfig {
    fn default() -> Self {
        EventSubConfig {
            subscriptions: DEFAULT_SUBSCRIPTIONS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            keepalive_margin_secs: 5,
            dedup_capacity: 10_000,
            max_backoff_secs: 60,
        }
    }
}

/// `auth:` in bot.yaml.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Redirect URI registered for the app, used only by `twitch-bot auth --code`.
    pub redirect_uri: String,
    /// Minutes between token validations (Twitch requires at most 60).
    pub validate_minutes: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            redirect_uri: "http://localhost:3000".into(),
            validate_minutes: 60,
        }
    }
}

/// `stream:` in bot.yaml.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Minutes between viewer-count samples while live.
    pub viewer_sample_minutes: u64,
    /// Count stream statistics and write a report when a stream ends.
    pub stats: bool,
    /// Seconds between saves of the live stream's counts (what a crash can lose at most).
    pub stats_save_secs: u64,
    /// Post a short summary to Discord when a stream ends (when Discord is configured).
    pub discord_summary: bool,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            viewer_sample_minutes: 5,
            stats: true,
            stats_save_secs: 60,
            discord_summary: true,
        }
    }
}

/// `emotes:` in bot.yaml.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmotesConfig {
    /// Load the channel's and the global Twitch emotes (Helix).
    pub twitch: bool,
    /// Load BetterTTV emotes.
    pub bttv: bool,
    /// Load FrankerFaceZ emotes.
    pub ffz: bool,
    /// Load 7TV emotes.
    pub seventv: bool,
    /// BetterTTV's API base URL.
    pub bttv_url: String,
    /// FrankerFaceZ's API base URL.
    pub ffz_url: String,
    /// 7TV's API base URL.
    pub seventv_url: String,
    /// Minutes between reloads.
    pub refresh_minutes: u64,
}

impl Default for EmotesConfig {
    fn default() -> Self {
        EmotesConfig {
            twitch: true,
            bttv: true,
            ffz: true,
            seventv: true,
            bttv_url: "https://api.betterttv.net/3".into(),
            ffz_url: "https://api.frankerfacez.com/v1".into(),
            seventv_url: "https://7tv.io/v3".into(),
            refresh_minutes: 60,
        }
    }
}
