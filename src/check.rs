//! `twitch-bot check --live`: asks the outside world whether the bot can run as configured —
//! both Twitch tokens (`GET /validate`, never a refresh), one feature → scope table, OBS and
//! each Discord webhook — and reports one line per item. Only failures make the command exit
//! non-zero: a missing chat scope, a token the auth server cannot check, a wrong OBS password, a
//! Discord webhook that does not exist. An optional feature's missing scope and an absent OBS
//! are warnings.
//!
//! Nothing here refreshes a token: a refresh spends the rotating refresh token the running bot
//! holds and would sign it out. An expired token is reported as such, and the scopes then come
//! from those secrets.yaml saved with the grant.

use std::path::Path;
use std::time::Duration;

use crate::config::Config;
use crate::config::secrets::Grant;
use crate::twitch::auth::{Account, AuthClient, RUN_AUTH};
use crate::twitch::scopes::{self, Need};

/// How one line of the report counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Works.
    Ok,
    /// Not checked, or nothing to check.
    Info,
    /// Works partly or not at all, and the bot runs anyway.
    Warn,
    /// The bot cannot run as configured: the check exits non-zero.
    Fail,
}

impl Level {
    fn mark(self) -> &'static str {
        match self {
            Level::Ok => "✓",
            Level::Info => "·",
            Level::Warn => "!",
            Level::Fail => "✗",
        }
    }
}

/// One checked item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Whether it passed, warns or failed.
    pub level: Level,
    /// What was checked and what was found.
    pub text: String,
}

/// Everything `check --live` found, in order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The items, in the order checked.
    pub lines: Vec<Line>,
}

impl Report {
    fn push(&mut self, level: Level, text: impl Into<String>) {
        self.lines.push(Line {
            level,
            text: text.into(),
        });
    }

    /// How many lines are failures.
    pub fn failures(&self) -> usize {
        self.lines.iter().filter(|l| l.level == Level::Fail).count()
    }

    /// One line per item: `✓`, `·` (not checked), `!` (warning) or `✗` (failure), then the text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            out.push_str(line.level.mark());
            out.push(' ');
            out.push_str(&line.text);
            out.push('\n');
        }
        out
    }
}

/// Which peers `check --live` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveOptions {
    /// Ask OBS (off with `--noobs`).
    pub obs: bool,
    /// Ask Discord (off with `--nodiscord`).
    pub discord: bool,
    /// Offline: Discord is asked only when `discord.api_url` is on this machine.
    pub offline: bool,
}

/// `check --live` for the configs in `config_dir`: loads them, and with `options.offline` starts
/// the built-in simulated Twitch (joining `channel`, or `owner` from bot.yaml) and checks
/// against it.
///
/// # Errors
/// When the simulator cannot start. A config that does not load is a failure line.
pub async fn run(
    config_dir: &Path,
    channel: Option<&str>,
    options: LiveOptions,
) -> anyhow::Result<Report> {
    let mut config = match Config::load(config_dir) {
        Ok(config) => config,
        Err(e) => {
            let mut report = Report::default();
            report.push(Level::Fail, format!("{e}"));
            return Ok(report);
        }
    };
    if options.offline {
        let channel = channel.map_or_else(|| config.bot.owner.to_ascii_lowercase(), str::to_string);
        let _sim = crate::sim::SimTwitch::start(&mut config, &channel).await?;
        return Ok(live(&config, options).await);
    }
    Ok(live(&config, options).await)
}

/// Checks tokens, scopes, OBS and Discord webhooks for `config`.
pub async fn live(config: &Config, options: LiveOptions) -> Report {
    let mut report = Report::default();
    let http = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("twitch-bot/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            report.push(Level::Fail, format!("cannot build an HTTP client: {e}"));
            return report;
        }
    };
    let secrets = &config.secrets;
    let auth = AuthClient::new(
        http.clone(),
        &config.bot.twitch.auth_url,
        &secrets.client_id,
        secrets.client_secret.as_deref(),
    );
    let bot = token(
        &mut report,
        &auth,
        Account::Bot,
        &secrets.bot,
        &config.bot.username,
    )
    .await;
    let broadcaster = token(
        &mut report,
        &auth,
        Account::Broadcaster,
        &secrets.broadcaster,
        &config.bot.owner,
    )
    .await;
    features(&mut report, bot.as_deref(), broadcaster.as_deref());
    if options.obs {
        obs(&mut report, config).await;
    }
    if options.discord {
        discord(&mut report, &http, config, options.offline).await;
    }
    report
}

/// Validates one grant; returns the scopes it holds, or `None` when they are unknown.
async fn token(
    report: &mut Report,
    auth: &AuthClient,
    account: Account,
    grant: &Grant,
    expected_login: &str,
) -> Option<Vec<String>> {
    if grant.access_token.is_empty() {
        let level = match account {
            Account::Bot => Level::Fail,
            Account::Broadcaster => Level::Warn,
        };
        report.push(
            level,
            format!("{account} token: secrets.yaml has none: {RUN_AUTH}"),
        );
        return Some(Vec::new());
    }
    match auth.validate(&grant.access_token).await {
        Ok(Some(v)) => {
            let hours = v.expires_in / 3600;
            let minutes = (v.expires_in % 3600) / 60;
            report.push(
                Level::Ok,
                format!(
                    "{account} token valid: {} (expires in {hours} h {minutes:02} min)",
                    v.login
                ),
            );
            if !expected_login.is_empty() && !v.login.eq_ignore_ascii_case(expected_login) {
                let key = match account {
                    Account::Bot => "username",
                    Account::Broadcaster => "owner",
                };
                report.push(
                    Level::Warn,
                    format!(
                        "{account} token belongs to {}, but bot.yaml's `{key}` is {expected_login}: \
                         fix `{key}` or {RUN_AUTH} with the right account",
                        v.login
                    ),
                );
            }
            Some(v.scopes)
        }
        Ok(None) => {
            let saved = if grant.scopes.is_empty() {
                "secrets.yaml saved no scopes with it".to_string()
            } else {
                "the scopes below are those secrets.yaml saved with it".to_string()
            };
            report.push(
                Level::Warn,
                format!(
                    "{account} token expired or revoked (not refreshed here: that would spend the \
                     running bot's refresh token; a running bot refreshes it, otherwise {RUN_AUTH}); \
                     {saved}"
                ),
            );
            (!grant.scopes.is_empty()).then(|| grant.scopes.clone())
        }
        Err(e) => {
            report.push(
                Level::Fail,
                format!("{account} token: cannot be checked: {e}"),
            );
            (!grant.scopes.is_empty()).then(|| grant.scopes.clone())
        }
    }
}

/// One line per row of [`scopes::FEATURES`]: `✓` with the scopes it uses, or what it misses.
fn features(report: &mut Report, bot: Option<&[String]>, broadcaster: Option<&[String]>) {
    let chat_possible = bot.map(scopes::chat_possible);
    for feature in scopes::FEATURES {
        let held = match feature.account {
            Account::Bot => bot,
            Account::Broadcaster => broadcaster,
        };
        let label = format!("{} ({})", feature.name, feature.account);
        let Some(held) = held else {
            report.push(
                Level::Warn,
                format!("{label}: unknown: the token expired and secrets.yaml saved no scopes"),
            );
            continue;
        };
        let missing = feature.missing(held);
        if missing.is_empty() {
            report.push(Level::Ok, format!("{label}: {}", feature.scopes.join(", ")));
            continue;
        }
        let level = match (feature.need, chat_possible) {
            (Need::Chat, Some(false)) => Level::Fail,
            _ => Level::Warn,
        };
        let why = if level == Level::Fail {
            ": the bot cannot chat"
        } else {
            ""
        };
        report.push(
            level,
            format!(
                "{label}: missing {}{why}: run `twitch-bot auth` again",
                missing.join(", ")
            ),
        );
    }
}

/// OBS answers a request with the configured password.
async fn obs(report: &mut Report, config: &Config) {
    use crate::integrations::obs::raw::{self, RawError};
    let (host, port) = (&config.bot.obs.host, config.bot.obs.port);
    let answer = raw::request(
        host,
        port,
        &config.secrets.obs_password,
        "GetVersion",
        &serde_json::json!({}),
        Duration::from_secs(5),
    )
    .await;
    match answer {
        Ok(version) => report.push(
            Level::Ok,
            format!(
                "OBS answers at {host}:{port} (obs-websocket {})",
                version["obsWebSocketVersion"].as_str().unwrap_or("?")
            ),
        ),
        Err(e @ (RawError::Connect(_) | RawError::Timeout(_) | RawError::Closed(_))) => report
            .push(
                Level::Warn,
                format!(
                    "OBS: {e}: is OBS running with its WebSocket server on (Tools → WebSocket \
                     Server Settings)? The bot runs without it"
                ),
            ),
        Err(e) => report.push(Level::Fail, format!("OBS at {host}:{port}: {e}")),
    }
}

/// Each Discord webhook exists (`GET` answers 200).
async fn discord(report: &mut Report, http: &reqwest::Client, config: &Config, offline: bool) {
    let api = config.bot.discord.api_url.trim_end_matches('/');
    let webhooks = &config.secrets.discord.webhooks;
    if webhooks.is_empty() {
        report.push(Level::Info, "Discord: no webhooks in secrets.yaml");
        return;
    }
    if offline && !is_loopback_url(api) {
        report.push(
            Level::Info,
            format!("Discord: not asked offline ({api} is not on this machine)"),
        );
        return;
    }
    for (name, url) in webhooks {
        let key = format!("discord.webhooks.{name}");
        let (id, token) = match crate::integrations::discord::parse_webhook_url(url) {
            Ok(parts) => parts,
            Err(e) => {
                report.push(Level::Fail, format!("{key} in secrets.yaml {e}"));
                continue;
            }
        };
        match http
            .get(format!("{api}/webhooks/{id}/{token}"))
            .send()
            .await
        {
            Ok(resp) if resp.status().is_success() => {
                report.push(Level::Ok, format!("Discord webhook `{name}` exists"));
            }
            Ok(resp) => report.push(
                Level::Fail,
                format!(
                    "Discord webhook `{name}`: Discord answers {}: it was deleted or the URL is \
                     wrong; copy it again (Server Settings → Integrations → Webhooks) into {key} \
                     in secrets.yaml",
                    resp.status().as_u16()
                ),
            ),
            Err(e) => report.push(
                Level::Fail,
                format!("Discord webhook `{name}`: cannot reach {api}: {e}"),
            ),
        }
    }
}

fn is_loopback_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.trim_start_matches('[').trim_end_matches(']');
            Some(
                host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback()),
            )
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_discord_is_asked_offline() {
        assert!(is_loopback_url("http://127.0.0.1:3000/api/v10"));
        assert!(is_loopback_url("http://localhost:3000"));
        assert!(!is_loopback_url("https://discord.com/api/v10"));
    }
}
