//! The integrations' sections of `configs/bot.yaml`: `obs`, `discord`, `zmq`, `sound` and
//! `notifications`. Their secrets (OBS password, Discord token and webhook URLs) live in
//! `secrets.yaml`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Checker;

/// When the bot connects to OBS.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ObsConnect {
    /// At start, retrying quietly while OBS is closed.
    #[default]
    Start,
    /// Only once the stream goes online.
    Live,
}

/// `obs:` — obs-websocket v5 (OBS 30.2+, Tools → WebSocket Server Settings).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ObsConfig {
    /// The host OBS runs on (`127.0.0.1` when on this PC).
    pub host: String,
    /// obs-websocket's port (4455 by default in OBS).
    pub port: u16,
    /// When to connect: at start, or only once the stream goes online.
    pub connect: ObsConnect,
    /// Longest wait between connection attempts, in seconds.
    pub max_backoff_secs: u64,
}

impl Default for ObsConfig {
    fn default() -> Self {
        ObsConfig {
            host: "127.0.0.1".into(),
            port: 4455,
            connect: ObsConnect::Start,
            max_backoff_secs: 30,
        }
    }
}

/// `discord:` — named webhooks (the default) or a bot token with channel ids.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// Discord's API base URL (a stub in tests).
    pub api_url: String,
    /// Bot-token mode: names for channel ids, used like webhook names.
    pub channels: BTreeMap<String, String>,
    /// Where messages without a target go: a webhook name or a channel name.
    pub default_target: String,
    /// The go-live announcement.
    pub go_live: GoLiveConfig,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            api_url: "https://discord.com/api/v10".into(),
            channels: BTreeMap::new(),
            default_target: String::new(),
            go_live: GoLiveConfig::default(),
        }
    }
}

/// `discord.go_live:` — the message posted when the stream goes online.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GoLiveConfig {
    /// Whether the bot announces the stream going live.
    pub enabled: bool,
    /// A webhook or channel name; empty: `default_target`.
    pub target: String,
    /// `{channel}`, `{title}`, `{game}` and `{url}` are filled in.
    pub message: String,
    /// Who may be pinged: `none`, `everyone`, or role ids.
    pub mention: Vec<String>,
}

impl Default for GoLiveConfig {
    fn default() -> Self {
        GoLiveConfig {
            enabled: true,
            target: String::new(),
            message: "{channel} is live: {title} ({game}) {url}".into(),
            mention: Vec::new(),
        }
    }
}

/// `zmq:` — the PUB socket every event is published on.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ZmqConfig {
    /// Where the PUB socket listens (`tcp://127.0.0.1:5555`).
    pub bind: String,
    /// Events waiting to be published at most; more are dropped (and counted in a warning).
    pub queue: usize,
}

impl Default for ZmqConfig {
    fn default() -> Self {
        ZmqConfig {
            bind: "tcp://127.0.0.1:5555".into(),
            queue: 10_000,
        }
    }
}

/// `sound:` — files played from the sounds folder.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SoundConfig {
    /// The folder scripts' sound names are looked up in.
    pub folder: String,
    /// 0.0 (silent) to 1.0 (as recorded); scripts may pass their own.
    pub volume: f32,
    /// Sounds waiting at most; more are dropped with a warning.
    pub queue: usize,
}

impl Default for SoundConfig {
    fn default() -> Self {
        SoundConfig {
            folder: "sounds".into(),
            volume: 0.8,
            queue: 16,
        }
    }
}

/// `notifications:` — desktop notifications.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// Notify when the bot crashes (with the crash log's path).
    pub on_crash: bool,
    /// Event topics that notify, such as `follow`, `raid`, `subscribe`.
    pub events: Vec<String>,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        NotificationsConfig {
            on_crash: true,
            events: Vec::new(),
        }
    }
}

/// Checks the integrations' sections.
pub fn validate(
    obs: &ObsConfig,
    zmq: &ZmqConfig,
    discord: &DiscordConfig,
    check: &mut Checker<'_>,
) {
    if obs.host.trim().is_empty() {
        check.error("obs.host", "is empty; OBS on this PC is 127.0.0.1");
    }
    if !zmq.bind.starts_with("tcp://") || zmq.bind.rsplit_once(':').is_none() {
        check.error(
            "zmq.bind",
            format!(
                "`{}` is not a ZeroMQ TCP endpoint; use tcp://127.0.0.1:5555",
                zmq.bind
            ),
        );
    }
    for (name, id) in &discord.channels {
        if id.trim().parse::<u64>().map_or(true, |n| n == 0) {
            check.error(
                &format!("discord.channels.{name}"),
                format!(
                    "`{id}` is not a channel id; turn on Developer Mode in Discord, right-click \
                     the channel and Copy Channel ID"
                ),
            );
        }
    }
    for m in &discord.go_live.mention {
        let m = m.trim();
        let role = m.trim_start_matches("<@&").trim_end_matches('>');
        let known = matches!(
            m.to_ascii_lowercase().as_str(),
            "none" | "everyone" | "here"
        );
        if !known && role.parse::<u64>().map_or(true, |n| n == 0) {
            check.error(
                "discord.go_live.mention",
                format!(
                    "`{m}` is not `none`, `everyone`, `here` or a role id (Server Settings → \
                     Roles → right-click the role → Copy Role ID)"
                ),
            );
        }
    }
    if !discord.api_url.starts_with("http://") && !discord.api_url.starts_with("https://") {
        check.error(
            "discord.api_url",
            "must be an http(s) URL; Discord's is https://discord.com/api/v10",
        );
    }
}
