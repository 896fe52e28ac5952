//! `configs/bot.yaml`: accounts, Twitch endpoints, chat behaviour, the queue, the console and
//! the integrations.
//!
//! The key names here are a public contract (tools outside the project write these files):
//! rename nothing, only add.

use serde::{Deserialize, Serialize};

use super::api::{AuthConfig, EmotesConfig, EventSubConfig, StreamConfig};
use super::integrations::{DiscordConfig, NotificationsConfig, ObsConfig, SoundConfig, ZmqConfig};
use super::scripts::{CacheConfig, ScriptsConfig};
use super::{Checker, Validate};

/// The whole of `configs/bot.yaml`. Every key has a default, so an empty file is valid.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BotConfig {
    /// The bot account's login.
    pub username: String,
    /// The channel to join; `-c` overrides it.
    pub owner: String,
    /// `twitch:`: the endpoints the bot talks to.
    pub twitch: TwitchConfig,
    /// `chat:`: the chat connection and its transport.
    pub chat: ChatConfig,
    /// `queue:`: the event queue between sources and the dispatcher.
    pub queue: QueueConfig,
    /// `console:`: the web console.
    pub console: ConsoleConfig,
    /// `auth:`: sign-in and token validation.
    pub auth: AuthConfig,
    /// `eventsub:`: the broadcaster's EventSub session.
    pub eventsub: EventSubConfig,
    /// `stream:`: stream statistics.
    pub stream: StreamConfig,
    /// `emotes:`: which emote sets are loaded.
    pub emotes: EmotesConfig,
    /// `obs:`: the OBS connection.
    pub obs: ObsConfig,
    /// `discord:`: Discord notifications.
    pub discord: DiscordConfig,
    /// `zmq:`: the ZeroMQ event feed.
    pub zmq: ZmqConfig,
    /// `sound:`: sound playback.
    pub sound: SoundConfig,
    /// `notifications:`: desktop notifications.
    pub notifications: NotificationsConfig,
    /// `scripts:`: the script host's limits.
    pub scripts: ScriptsConfig,
    /// `cache:`: the cache scripts share.
    pub cache: CacheConfig,
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
            auth: AuthConfig::default(),
            eventsub: EventSubConfig::default(),
            stream: StreamConfig::default(),
            emotes: EmotesConfig::default(),
            obs: ObsConfig::default(),
            discord: DiscordConfig::default(),
            zmq: ZmqConfig::default(),
            sound: SoundConfig::default(),
            notifications: NotificationsConfig::default(),
            scripts: ScriptsConfig::default(),
            cache: CacheConfig::default(),
        }
    }
}

/// Twitch endpoints. Every one is configurable so fakes and the Twitch CLI's mocks can stand in.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TwitchConfig {
    /// `wss://host:port`, `ws://host:port`, `ircs://host:port` or `irc://host:port`.
    pub chat_url: String,
    /// Helix's base URL (`https://api.twitch.tv/helix`).
    pub helix_url: String,
    /// EventSub's WebSocket URL (`wss://eventsub.wss.twitch.tv/ws`).
    pub eventsub_url: String,
    /// Where EventSub subscriptions are created; `None` means `helix_url` + `/eventsub/subscriptions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eventsub_subscriptions_url: Option<String>,
    /// Twitch's OAuth base URL (`https://id.twitch.tv/oauth2`).
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

impl TwitchConfig {
    /// The chat server's scheme, host and port, for the chat client to connect with.
    ///
    /// # Errors
    /// What is wrong with `chat_url` (a loaded config has already been checked).
    pub fn chat_endpoint(&self) -> Result<Endpoint, String> {
        parse_endpoint(&self.chat_url, CHAT_SCHEMES, true)
    }

    /// Where EventSub subscriptions are created: `eventsub_subscriptions_url`, or `helix_url` +
    /// `/eventsub/subscriptions`.
    pub fn eventsub_subscriptions(&self) -> String {
        match &self.eventsub_subscriptions_url {
            Some(url) => url.clone(),
            None => format!(
                "{}/eventsub/subscriptions",
                self.helix_url.trim_end_matches('/')
            ),
        }
    }
}

/// The schemes `twitch.chat_url` accepts.
pub const CHAT_SCHEMES: &[&str] = &["wss", "ws", "ircs", "irc"];

/// The send rate class (messages per 30 s).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
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
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
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
    /// How chat is read and sent: EventSub and Helix, IRC, or chosen at start.
    pub transport: ChatTransport,
}

/// `chat.transport`: the way the bot reads and sends chat.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChatTransport {
    /// EventSub and Helix when the bot's grant allows them and Twitch accepts them, IRC
    /// otherwise.
    #[default]
    Auto,
    /// EventSub (`channel.chat.*`) for reading and Helix `POST /chat/messages` for sending;
    /// IRC still takes over when Twitch refuses them.
    Eventsub,
    /// IRC for both.
    Irc,
}

impl ChatTransport {
    /// The value as `chat.transport` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatTransport::Auto => "auto",
            ChatTransport::Eventsub => "eventsub",
            ChatTransport::Irc => "irc",
        }
    }
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
            transport: ChatTransport::Auto,
        }
    }
}

/// The event queue between sources and the dispatcher.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
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
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Address to serve on; anything but loopback needs `allow_remote` and TLS or a proxy.
    pub bind: String,
    /// Open the console in the default browser at start.
    pub open_on_start: bool,
    /// Allow a `bind` address other machines can reach (then TLS or `behind_proxy` is required).
    pub allow_remote: bool,
    /// PEM certificate chain for serving HTTPS (relative paths are under the configs folder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<String>,
    /// PEM private key matching `tls_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<String>,
    /// A reverse proxy in front terminates TLS: the console serves HTTP but marks cookies `Secure`.
    pub behind_proxy: bool,
    /// The host name browsers use to reach the console from elsewhere (`bot.example.org` or
    /// `bot.example.org:8443`); requests naming any other host are refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_name: Option<String>,
    /// Hours a browser session lasts without use; each use renews it.
    pub session_hours: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            bind: "127.0.0.1:8081".into(),
            open_on_start: false,
            allow_remote: false,
            tls_cert: None,
            tls_key: None,
            behind_proxy: false,
            public_name: None,
            session_hours: 12,
        }
    }
}

impl ConsoleConfig {
    /// Checks the console's keys: an address, and a reachable one only with TLS or a proxy.
    fn validate(&self, check: &mut Checker<'_>) {
        check.within(
            "console.session_hours",
            self.session_hours,
            1,
            24 * 30,
            "hours",
        );
        let addr = match self.bind.parse::<std::net::SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                check.error(
                    "console.bind",
                    format!(
                        "`{}` is not an address with a port; use ip:port such as 127.0.0.1:8081",
                        self.bind
                    ),
                );
                return;
            }
        };
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            check.error(
                "console.tls_key",
                "console.tls_cert and console.tls_key go together: set both PEM files or neither",
            );
        }
        if let Some(name) = &self.public_name
            && (name.is_empty() || name.contains(['/', ' ', '@', '?', '#']))
        {
            check.error(
                "console.public_name",
                format!(
                    "`{name}` is not a host name; write it as browsers send it, like bot.example.org \
                     or bot.example.org:8443"
                ),
            );
        }
        if addr.ip().is_loopback() {
            return;
        }
        if !self.allow_remote {
            check.error(
                "console.bind",
                format!(
                    "`{}` can be reached from other machines; use 127.0.0.1:{} or set \
                     console.allow_remote: true together with console.tls_cert/console.tls_key \
                     or console.behind_proxy: true",
                    self.bind,
                    addr.port()
                ),
            );
        } else if self.tls_cert.is_none() && !self.behind_proxy {
            check.error(
                "console.allow_remote",
                "a console reachable from other machines needs HTTPS: set console.tls_cert and \
                 console.tls_key (PEM files), or console.behind_proxy: true when a reverse proxy \
                 serves it over HTTPS",
            );
        }
    }
}

/// An hour, a day and a week in seconds: the caps of most waits.
const HOUR: u64 = 3_600;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;

impl BotConfig {
    /// Every number here becomes a wait, a queue size or a volume: each must lie in a range
    /// that makes sense, so none can overflow when turned into a duration.
    fn check_ranges(&self, check: &mut Checker<'_>) {
        let c = &self.chat;
        check.within(
            "chat.ping_interval_secs",
            c.ping_interval_secs,
            1,
            HOUR,
            "seconds",
        );
        check.within(
            "chat.ping_timeout_secs",
            c.ping_timeout_secs,
            1,
            600,
            "seconds",
        );
        check.within(
            "chat.outgoing_queue",
            c.outgoing_queue,
            1,
            1_000_000,
            "messages",
        );
        check.within(
            "chat.max_backoff_secs",
            c.max_backoff_secs,
            1,
            HOUR,
            "seconds",
        );
        check.within(
            "queue.capacity",
            self.queue.capacity,
            1,
            1_000_000,
            "events",
        );
        let e = &self.eventsub;
        check.within(
            "eventsub.keepalive_margin_secs",
            e.keepalive_margin_secs,
            0,
            600,
            "seconds",
        );
        check.within(
            "eventsub.dedup_capacity",
            e.dedup_capacity,
            1,
            1_000_000,
            "ids",
        );
        check.within(
            "eventsub.max_backoff_secs",
            e.max_backoff_secs,
            1,
            HOUR,
            "seconds",
        );
        check.within(
            "auth.validate_minutes",
            self.auth.validate_minutes,
            1,
            60,
            "minutes",
        );
        let s = &self.stream;
        check.within(
            "stream.viewer_sample_minutes",
            s.viewer_sample_minutes,
            1,
            1_440,
            "minutes",
        );
        check.within(
            "stream.stats_save_secs",
            s.stats_save_secs,
            1,
            DAY,
            "seconds",
        );
        let week_minutes = WEEK / 60;
        check.within(
            "emotes.refresh_minutes",
            self.emotes.refresh_minutes,
            1,
            week_minutes,
            "minutes",
        );
        check.within(
            "obs.max_backoff_secs",
            self.obs.max_backoff_secs,
            1,
            HOUR,
            "seconds",
        );
        check.within("zmq.queue", self.zmq.queue, 1, 1_000_000, "events");
        check.within("sound.queue", self.sound.queue, 1, 1_000, "sounds");
        if self.sound.volume.is_nan() {
            check.error("sound.volume", "is not a number: use 0.0 to 1.0");
        } else {
            check.within("sound.volume", self.sound.volume, 0.0, 1.0, "");
        }
    }
}

impl Validate for BotConfig {
    fn validate(&mut self, check: &mut Checker<'_>) {
        super::scripts::validate(&self.scripts, check);
        super::scripts::validate_cache(&self.cache, check);
        for (key, login) in [("username", &mut self.username), ("owner", &mut self.owner)] {
            match normalize_login(login) {
                Ok(lower) => *login = lower,
                Err(why) => check.error(key, why),
            }
        }
        let t = &self.twitch;
        if let Err(why) = t.chat_endpoint() {
            check.error(
                "twitch.chat_url",
                format!(
                    "{why}; use wss://host:port, ws://host:port, ircs://host:port or irc://host:port \
                     (Twitch: wss://irc-ws.chat.twitch.tv:443)"
                ),
            );
        }
        let http = ["https", "http"];
        for (key, url, schemes) in [
            ("twitch.helix_url", Some(&t.helix_url), &http[..]),
            (
                "twitch.eventsub_url",
                Some(&t.eventsub_url),
                &["wss", "ws"][..],
            ),
            (
                "twitch.eventsub_subscriptions_url",
                t.eventsub_subscriptions_url.as_ref(),
                &http[..],
            ),
            ("twitch.auth_url", Some(&t.auth_url), &http[..]),
        ] {
            if let Some(url) = url
                && let Err(why) = parse_endpoint(url, schemes, false)
            {
                let forms: Vec<String> = schemes
                    .iter()
                    .map(|s| format!("{s}://host[:port]/path"))
                    .collect();
                check.error(key, format!("{why}; use {}", forms.join(" or ")));
            }
        }
        let c = &self.chat;
        if c.command_prefix.is_empty() || c.command_prefix.chars().any(char::is_whitespace) {
            check.error(
                "chat.command_prefix",
                "must be one or more characters without spaces, like `!`",
            );
        }
        self.check_ranges(check);
        super::integrations::validate(&self.obs, &self.zmq, &self.discord, check);
        self.console.validate(check);
    }
}

/// Checks a Twitch login (letters, digits and underscores, at most 25) and lower-cases it,
/// since Twitch compares logins case-insensitively and sends them lower-case.
pub fn normalize_login(login: &str) -> Result<String, String> {
    let lower = login.trim().to_ascii_lowercase();
    if lower.is_empty() {
        return Err("is empty; give a Twitch login".into());
    }
    if lower.len() > 25
        || !lower
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(format!(
            "`{login}` is not a Twitch login: use up to 25 letters, digits or underscores"
        ));
    }
    Ok(lower)
}

/// The parts of an endpoint URL the connectors need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The scheme, lower-case (`wss`, `irc`, `https`, ...).
    pub scheme: String,
    /// The host name or IP address (IPv6 without brackets).
    pub host: String,
    /// The port, when written.
    pub port: Option<u16>,
    /// Everything after the authority, starting with `/`; empty when absent.
    pub path: String,
}

/// Splits `url` into scheme, host, port and path, accepting only `schemes`; `need_port` makes a
/// missing port an error (chat URLs name theirs explicitly).
///
/// # Errors
/// What is wrong with the URL, in words.
pub fn parse_endpoint(url: &str, schemes: &[&str], need_port: bool) -> Result<Endpoint, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("`{url}` has no scheme"));
    };
    let scheme = scheme.to_ascii_lowercase();
    if !schemes.contains(&scheme.as_str()) {
        return Err(format!(
            "scheme `{scheme}` is not one of {}",
            schemes.join(", ")
        ));
    }
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(format!("`{url}` must not carry a user name or password"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((host, after)) = v6.split_once(']') else {
            return Err(format!("`{url}` has an unclosed `[`"));
        };
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace()) {
        return Err(format!("`{url}` has no host"));
    }
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(format!("`{p}` in `{url}` is not a port (1 to 65535)")),
        },
        None if need_port => return Err(format!("`{url}` has no port")),
        None => None,
    };
    Ok(Endpoint {
        scheme,
        host: host.to_owned(),
        port,
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_split_into_parts() {
        let e = parse_endpoint("wss://irc-ws.chat.twitch.tv:443", &["wss"], true);
        assert_eq!(
            e,
            Ok(Endpoint {
                scheme: "wss".into(),
                host: "irc-ws.chat.twitch.tv".into(),
                port: Some(443),
                path: String::new(),
            })
        );
        let e = parse_endpoint("ws://[::1]:8080/chat", &["ws"], true);
        assert_eq!(
            e.map(|e| (e.host, e.port, e.path)),
            Ok(("::1".into(), Some(8080), "/chat".into()))
        );
        assert!(parse_endpoint("http://x:1", &["ws"], true).is_err());
        assert!(parse_endpoint("irc://host", &["irc"], true).is_err());
        assert!(parse_endpoint("irc://host:0", &["irc"], true).is_err());
        assert!(parse_endpoint("irc://:6667", &["irc"], true).is_err());
        assert!(parse_endpoint("https://api.twitch.tv/helix", &["https"], false).is_ok());
    }

    #[test]
    fn eventsub_subscriptions_default_to_helix() {
        let mut t = TwitchConfig::default();
        assert_eq!(
            t.eventsub_subscriptions(),
            "https://api.twitch.tv/helix/eventsub/subscriptions"
        );
        t.eventsub_subscriptions_url = Some("http://127.0.0.1:8080/eventsub/subscriptions".into());
        assert_eq!(
            t.eventsub_subscriptions(),
            "http://127.0.0.1:8080/eventsub/subscriptions"
        );
        assert_eq!(t.chat_endpoint().map(|e| e.port), Ok(Some(443)));
    }

    #[test]
    fn logins_are_lower_cased_and_checked() {
        assert_eq!(normalize_login("MyBot_1"), Ok("mybot_1".into()));
        assert!(normalize_login("").is_err());
        assert!(normalize_login("my bot").is_err());
        assert!(normalize_login(&"a".repeat(26)).is_err());
    }
}
