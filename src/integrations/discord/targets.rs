//! Where Discord messages go and what they say: named webhooks (from `secrets.yaml`) and named
//! channels (bot-token mode, from `bot.yaml`), the go-live text and who it may ping.

use std::collections::BTreeMap;

use twilight_model::channel::message::{AllowedMentions, MentionType};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, RoleMarker, WebhookMarker};

use crate::config::Config;

/// Discord's longest message, in characters.
pub const MAX_CONTENT: usize = crate::action::calls::DISCORD_MAX_CONTENT;

/// One place messages can be posted to.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// A webhook: its id and secret token (from its URL).
    Webhook {
        /// The webhook's id.
        id: Id<WebhookMarker>,
        /// Its secret token: never logged.
        token: String,
    },
    /// A channel the bot account posts in.
    Channel {
        /// The channel's id.
        id: Id<ChannelMarker>,
    },
}

impl std::fmt::Debug for Target {
    // The webhook token is a secret: never in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Webhook { id, .. } => write!(f, "webhook {id}"),
            Target::Channel { id } => write!(f, "channel {id}"),
        }
    }
}

impl Target {
    /// Where its name is configured, for messages that tell the user what to fix.
    pub fn setting(&self, name: &str) -> String {
        match self {
            Target::Webhook { .. } => format!("discord.webhooks.{name} in configs/secrets.yaml"),
            Target::Channel { .. } => format!("discord.channels.{name} in configs/bot.yaml"),
        }
    }
}

/// Reads the id and token out of a webhook URL
/// (`https://discord.com/api/webhooks/<id>/<token>`, as Discord's "Copy Webhook URL" gives it);
/// the parsing itself lives with the secrets it checks, in [`crate::config::secrets`].
///
/// # Errors
/// What is wrong, without repeating the URL (it holds a secret).
pub fn parse_webhook_url(url: &str) -> Result<(Id<WebhookMarker>, String), String> {
    let (id, token) = crate::config::secrets::parse_webhook_url(url)?;
    Ok((Id::from(id), token))
}

/// Every named target, and which name messages without one go to.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// Every webhook and channel, by the name scripts and the console use.
    pub by_name: BTreeMap<String, Target>,
    /// The target for messages that name none (`discord.default_target`, else the first).
    pub default: Option<String>,
    /// The go-live message's target (`discord.go_live.target`, else the default).
    pub go_live: Option<String>,
}

impl Targets {
    /// Collects the targets from the config; each problem is one line for the log.
    pub fn from_config(config: &Config) -> (Targets, Vec<String>) {
        let secrets = &config.secrets.discord;
        let discord = &config.bot.discord;
        let mut problems = Vec::new();
        let mut by_name = BTreeMap::new();
        for (name, url) in &secrets.webhooks {
            match parse_webhook_url(url) {
                Ok((id, token)) => {
                    by_name.insert(name.clone(), Target::Webhook { id, token });
                }
                Err(e) => problems.push(format!(
                    "configs/secrets.yaml: discord.webhooks.{name} {e}; this webhook is skipped"
                )),
            }
        }
        let mut first_channel = None;
        if secrets.bot_token.trim().is_empty() {
            if !discord.channels.is_empty() {
                problems.push(
                    "configs/bot.yaml: discord.channels needs a bot token in configs/secrets.yaml \
                     (discord.bot_token); the channels are skipped"
                        .into(),
                );
            }
        } else {
            if discord.channels.is_empty() {
                problems.push(
                    "configs/secrets.yaml: discord.bot_token is set but configs/bot.yaml names no \
                     channel in discord.channels; the token is not used"
                        .into(),
                );
            }
            for (name, id) in &discord.channels {
                let Some(id) = id.trim().parse::<u64>().ok().and_then(Id::new_checked) else {
                    problems.push(format!(
                        "configs/bot.yaml: discord.channels.{name} is not a channel id (Developer \
                         Mode → right-click the channel → Copy Channel ID); skipped"
                    ));
                    continue;
                };
                if by_name.contains_key(name) {
                    problems.push(format!(
                        "discord: `{name}` names both a webhook and a channel; the webhook is used"
                    ));
                    continue;
                }
                first_channel.get_or_insert_with(|| name.clone());
                by_name.insert(name.clone(), Target::Channel { id });
            }
        }
        let first = by_name
            .iter()
            .find(|(_, t)| matches!(t, Target::Webhook { .. }))
            .map(|(n, _)| n.clone())
            .or(first_channel);
        let known = |key: &str, name: &str, problems: &mut Vec<String>| -> Option<String> {
            if name.is_empty() {
                return None;
            }
            if by_name.contains_key(name) {
                Some(name.to_string())
            } else {
                problems.push(format!(
                    "configs/bot.yaml: {key} `{name}` is neither a webhook nor a channel name \
                     (known: {}); the first one is used",
                    names(&by_name)
                ));
                None
            }
        };
        let default = known(
            "discord.default_target",
            &discord.default_target,
            &mut problems,
        )
        .or(first);
        let go_live = known(
            "discord.go_live.target",
            &discord.go_live.target,
            &mut problems,
        )
        .or_else(|| default.clone());
        (
            Targets {
                by_name,
                default,
                go_live,
            },
            problems,
        )
    }

    /// The target called `name` (`""` or `default`: the default one).
    ///
    /// # Errors
    /// A message naming the known targets.
    pub fn resolve(&self, name: &str) -> Result<(&str, &Target), String> {
        let name = match name.trim() {
            "" | "default" => self.default.as_deref().unwrap_or_default(),
            name => name,
        };
        self.by_name
            .get_key_value(name)
            .map(|(n, t)| (n.as_str(), t))
            .ok_or_else(|| {
                format!(
                    "no Discord webhook or channel is called `{name}` (known: {})",
                    names(&self.by_name)
                )
            })
    }
}

fn names(by_name: &BTreeMap<String, Target>) -> String {
    if by_name.is_empty() {
        return "none".into();
    }
    by_name
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Who the go-live message may ping, and the mentions to put in front of its text.
///
/// `mention` lists `everyone`, `here` or role ids; anything else (`none`, an empty list) pings
/// nobody. Discord pings only what the text mentions *and* `allowed_mentions` allows, so both
/// are set together.
pub fn go_live_mentions(mention: &[String]) -> (AllowedMentions, Vec<String>) {
    let mut allowed = AllowedMentions::default();
    let mut prefix = Vec::new();
    for m in mention {
        let m = m.trim();
        match m.to_ascii_lowercase().as_str() {
            "everyone" | "here" => {
                if !allowed.parse.contains(&MentionType::Everyone) {
                    allowed.parse.push(MentionType::Everyone);
                }
                prefix.push(format!("@{}", m.to_ascii_lowercase()));
            }
            _ => {
                let role = m
                    .trim_start_matches("<@&")
                    .trim_end_matches('>')
                    .parse::<u64>()
                    .ok()
                    .and_then(Id::<RoleMarker>::new_checked);
                if let Some(role) = role
                    && !allowed.roles.contains(&role)
                {
                    allowed.roles.push(role);
                    prefix.push(format!("<@&{role}>"));
                }
            }
        }
    }
    (allowed, prefix)
}

/// Fills `{channel}`, `{title}`, `{game}` and `{url}` in one pass (a title that contains
/// `{game}` stays as written).
pub fn render(template: &str, fields: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let value = after.find('}').and_then(|end| {
            let key = &after[..end];
            fields
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v, end))
        });
        match value {
            Some((v, end)) => {
                out.push_str(v);
                rest = &after[end + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Cuts `text` to Discord's limit, on a character boundary.
pub fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_CONTENT) {
        Some((at, _)) => {
            let mut s = text[..at].to_string();
            s.pop();
            s.push('…');
            s
        }
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_as_discord_copies_them() {
        let (id, token) =
            parse_webhook_url("https://discord.com/api/webhooks/123456789012345678/abc-DEF_ghi")
                .expect("valid");
        assert_eq!(id.get(), 123456789012345678);
        assert_eq!(token, "abc-DEF_ghi");
        let (id, _) =
            parse_webhook_url("https://canary.discordapp.com/api/v10/webhooks/42/tok?wait=true")
                .expect("valid with a version and a query");
        assert_eq!(id.get(), 42);
    }

    #[test]
    fn bad_webhook_urls_are_explained_without_the_secret() {
        for bad in [
            "",
            "discord.com/api/webhooks/1/s3cr3t",
            "https://discord.com/api/channels/1/s3cr3t",
            "https://discord.com/api/webhooks/abc/s3cr3t",
            "https://discord.com/api/webhooks/0/s3cr3t",
            "https://discord.com/api/webhooks/1/",
            "https://discord.com/api/webhooks/1/s3 cr3t",
            "https://discord.com/api/webhooks/1/s3cr3t/extra",
        ] {
            let e = parse_webhook_url(bad).expect_err(bad);
            assert!(
                e.contains("expected https://discord.com/api/webhooks/"),
                "{e}"
            );
            assert!(!e.contains("s3cr3t"), "the token is not repeated: {e}");
        }
    }

    fn config(webhooks: &[(&str, &str)], token: &str, channels: &[(&str, &str)]) -> Config {
        let mut c = Config::default();
        for (n, u) in webhooks {
            c.secrets
                .discord
                .webhooks
                .insert(n.to_string(), u.to_string());
        }
        c.secrets.discord.bot_token = token.into();
        for (n, id) in channels {
            c.bot.discord.channels.insert(n.to_string(), id.to_string());
        }
        c
    }

    #[test]
    fn the_first_webhook_is_the_default_and_names_resolve() {
        let c = config(
            &[
                ("clips", "https://discord.com/api/webhooks/2/b"),
                ("alerts", "https://discord.com/api/webhooks/1/a"),
            ],
            "",
            &[],
        );
        let (t, problems) = Targets::from_config(&c);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(t.default.as_deref(), Some("alerts"));
        assert_eq!(t.go_live.as_deref(), Some("alerts"));
        assert_eq!(t.resolve("default").expect("default").0, "alerts");
        assert_eq!(t.resolve("clips").expect("clips").0, "clips");
        let e = t.resolve("nope").expect_err("unknown");
        assert!(e.contains("alerts, clips"), "{e}");
    }

    #[test]
    fn channels_need_the_bot_token() {
        let c = config(&[], "", &[("general", "123")]);
        let (t, problems) = Targets::from_config(&c);
        assert!(t.by_name.is_empty());
        assert!(problems[0].contains("discord.bot_token"), "{problems:?}");
        let c = config(&[], "secret", &[("general", "123"), ("bad", "x")]);
        let (t, problems) = Targets::from_config(&c);
        assert_eq!(t.default.as_deref(), Some("general"));
        assert!(problems[0].contains("discord.channels.bad"), "{problems:?}");
    }

    #[test]
    fn an_unknown_go_live_target_is_reported() {
        let mut c = config(
            &[("alerts", "https://discord.com/api/webhooks/1/a")],
            "",
            &[],
        );
        c.bot.discord.go_live.target = "live".into();
        let (t, problems) = Targets::from_config(&c);
        assert_eq!(t.go_live.as_deref(), Some("alerts"));
        assert!(
            problems[0].contains("discord.go_live.target `live`"),
            "{problems:?}"
        );
    }

    #[test]
    fn mentions_are_none_unless_configured() {
        let (a, p) = go_live_mentions(&[]);
        assert!(a.parse.is_empty() && a.roles.is_empty() && p.is_empty());
        let (a, p) = go_live_mentions(&["none".into()]);
        assert!(a.parse.is_empty() && a.roles.is_empty() && p.is_empty());
        let (a, p) = go_live_mentions(&["everyone".into(), "555".into(), "<@&777>".into()]);
        assert_eq!(a.parse, vec![MentionType::Everyone]);
        assert_eq!(
            a.roles.iter().map(|r| r.get()).collect::<Vec<_>>(),
            [555, 777]
        );
        assert_eq!(p, ["@everyone", "<@&555>", "<@&777>"]);
    }

    #[test]
    fn templates_fill_each_field_once() {
        let text = render(
            "{channel} is live: {title} ({game}) {url} {unknown}",
            &[
                ("channel", "me"),
                ("title", "about {game}"),
                ("game", "Chess"),
                ("url", "https://twitch.tv/me"),
            ],
        );
        assert_eq!(
            text,
            "me is live: about {game} (Chess) https://twitch.tv/me {unknown}"
        );
    }

    #[test]
    fn long_text_is_clipped_to_discords_limit() {
        let long = "é".repeat(MAX_CONTENT + 5);
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), MAX_CONTENT);
        assert!(clipped.ends_with('…'));
        assert_eq!(clip("short"), "short");
    }
}
