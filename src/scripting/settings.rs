//! What a script's `const` settings are (per kind: command, timer, response, reward) and how
//! they are read and checked from its evaluated top level, with errors that point at the
//! `const` line. The loader calls [`SettingsReader::read`] once per load.

use rhai::{Dynamic, Scope};
use serde::Serialize;

use crate::event::Permission;

use super::api::MAX_AMOUNT;
use super::loader::{ScriptError, ScriptKind};

/// The longest `COOLDOWN`, `USER_COOLDOWN` or `INTERVAL`: 30 days.
pub const MAX_SETTING_SECS: u64 = 30 * 86_400;

/// Command settings.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct CommandSettings {
    /// Other names the command answers to (`ALIASES`).
    pub aliases: Vec<String>,
    /// Seconds between two runs by anyone (`COOLDOWN`).
    pub cooldown: u64,
    /// Seconds between two runs by one viewer (`USER_COOLDOWN`).
    pub user_cooldown: u64,
    /// Who may run it (`PERMISSION`).
    pub permission: Permission,
    /// Points charged per run (`COST`), refunded when the run fails.
    pub cost: i64,
    /// What it does, for the console and `!commands` (`DESCRIPTION`).
    pub description: String,
}

/// Timer settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimerSettings {
    /// Seconds between two runs (`INTERVAL`).
    pub interval: u64,
    /// Chat lines that must have been seen since the last run (`MIN_CHAT_LINES`).
    pub min_chat_lines: u64,
    /// Runs only while the stream is live (`LIVE_ONLY`).
    pub live_only: bool,
}

/// Response settings: the phrases the core matches for this script.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ResponseSettings {
    /// Whole messages that trigger it (`EXACT`), case-insensitive.
    pub exact: Vec<String>,
    /// Phrases that trigger it anywhere in a message (`CONTAINS`).
    pub contains: Vec<String>,
    /// Regular expressions that trigger it (`REGEX`).
    pub regex: Vec<String>,
    /// Seconds between two answers (`COOLDOWN`).
    pub cooldown: u64,
}

/// Reward settings.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RewardSettings {
    /// Bot points charged by `!redeem` (`COST`); 0: channel points only.
    pub cost: i64,
    /// Seconds between two redemptions by anyone (`COOLDOWN`).
    pub cooldown: u64,
    /// Seconds between two redemptions by one viewer (`USER_COOLDOWN`).
    pub user_cooldown: u64,
    /// Who may redeem it in chat (`PERMISSION`).
    pub permission: Permission,
    /// The Twitch channel-point reward that runs it (`CHANNEL_POINTS_TITLE`).
    pub channel_points_title: Option<String>,
    /// What it does, for the console (`DESCRIPTION`).
    pub description: String,
    /// The channel-point reward the bot creates and keeps up to date (`CHANNEL_POINTS_COST`
    /// and the other `CHANNEL_POINTS_*`); `None` for one made on Twitch.
    pub channel_points: Option<ChannelPointsReward>,
    /// In words, for the console: what a failed run does with the viewer's channel points.
    pub channel_points_refund: &'static str,
}

/// A channel-point reward as a reward script declares it. Twitch's limits: a title of 1–45
/// characters, a prompt of at most 200, a cost of at least 1, a cooldown of up to 7 days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ChannelPointsReward {
    /// The reward's title on Twitch.
    pub title: String,
    /// Its price in channel points.
    pub cost: u64,
    /// The text viewers see when redeeming it.
    pub prompt: String,
    /// Whether viewers must type something to redeem it.
    pub input_required: bool,
    /// Seconds between two redemptions by anyone; 0: none.
    pub cooldown: u64,
}

/// The console's words for a reward the bot created: Twitch lets it give the points back.
pub const REFUNDED: &str =
    "created by the bot: a failed run gives the viewer their channel points back";
/// The console's words for a reward made on Twitch: only its creator may refund it.
pub const NOT_REFUNDABLE: &str = "made on Twitch, not by the bot: it cannot be refunded (Twitch lets only the app that created a reward refund it); declare CHANNEL_POINTS_COST to let the bot create it";

/// A script's settings, by kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Settings {
    /// A chat command's.
    Command(CommandSettings),
    /// A timer's.
    Timer(TimerSettings),
    /// A response's.
    Response(ResponseSettings),
    /// A reward's.
    Reward(RewardSettings),
    /// An event script has none.
    Event {},
}

/// Reads a script's `const` settings from its evaluated top level.
pub(super) struct SettingsReader<'a> {
    /// The top level's variables after one evaluation.
    pub(super) scope: &'a Scope<'a>,
    /// The path as shown in errors.
    pub(super) file: &'a str,
    /// The source, to locate a bad setting's `const`.
    pub(super) source: &'a str,
}

impl SettingsReader<'_> {
    /// The settings a script of `kind` declares, checked.
    pub(super) fn read(&self, kind: ScriptKind) -> Result<Settings, ScriptError> {
        Ok(match kind {
            ScriptKind::Command => Settings::Command(CommandSettings {
                aliases: self.strings("ALIASES")?,
                cooldown: self.secs("COOLDOWN")?,
                user_cooldown: self.secs("USER_COOLDOWN")?,
                permission: self.permission()?,
                cost: self.cost()?,
                description: self.string("DESCRIPTION")?.unwrap_or_default(),
            }),
            ScriptKind::Timer => {
                let interval = self.secs("INTERVAL")?;
                if interval == 0 {
                    return Err(self.error(
                        "INTERVAL",
                        "a timer needs `const INTERVAL = <seconds>;` (at least 1)",
                    ));
                }
                Settings::Timer(TimerSettings {
                    interval,
                    min_chat_lines: self.count("MIN_CHAT_LINES", u64::from(u32::MAX), "")?,
                    live_only: self.bool("LIVE_ONLY")?,
                })
            }
            ScriptKind::Response => {
                let s = ResponseSettings {
                    exact: self.strings("EXACT")?,
                    contains: self.strings("CONTAINS")?,
                    regex: self.strings("REGEX")?,
                    cooldown: self.secs("COOLDOWN")?,
                };
                if s.exact.is_empty() && s.contains.is_empty() && s.regex.is_empty() {
                    return Err(self.error(
                        "EXACT",
                        "a response needs at least one of EXACT, CONTAINS or REGEX",
                    ));
                }
                for re in &s.regex {
                    if let Err(e) = regex::Regex::new(re) {
                        return Err(self.error("REGEX", format!("REGEX: {e}")));
                    }
                }
                if s.exact
                    .iter()
                    .chain(&s.contains)
                    .any(|p| super::matcher::normalize_owned(p).is_empty())
                {
                    return Err(self.error("CONTAINS", "an empty phrase would match every message"));
                }
                Settings::Response(s)
            }
            ScriptKind::Reward => {
                let channel_points_title = self.string("CHANNEL_POINTS_TITLE")?;
                let channel_points = self.channel_points(channel_points_title.as_deref())?;
                let channel_points_refund = match (&channel_points_title, &channel_points) {
                    (None, _) => "",
                    (Some(_), Some(_)) => REFUNDED,
                    (Some(_), None) => NOT_REFUNDABLE,
                };
                Settings::Reward(RewardSettings {
                    cost: self.cost()?,
                    cooldown: self.secs("COOLDOWN")?,
                    user_cooldown: self.secs("USER_COOLDOWN")?,
                    permission: self.permission()?,
                    channel_points_title,
                    description: self.string("DESCRIPTION")?.unwrap_or_default(),
                    channel_points,
                    channel_points_refund,
                })
            }
            ScriptKind::Event => Settings::Event {},
        })
    }

    /// The reward the bot creates, when `CHANNEL_POINTS_COST` says so (with Twitch's limits).
    fn channel_points(
        &self,
        title: Option<&str>,
    ) -> Result<Option<ChannelPointsReward>, ScriptError> {
        const MORE: [&str; 3] = [
            "CHANNEL_POINTS_PROMPT",
            "CHANNEL_POINTS_INPUT",
            "CHANNEL_POINTS_COOLDOWN",
        ];
        if self.value("CHANNEL_POINTS_COST").is_none() {
            if let Some(name) = MORE.iter().find(|n| self.value(n).is_some()) {
                return Err(self.error(name, format!("{name} needs CHANNEL_POINTS_COST: the bot creates the reward only when it knows its cost")));
            }
            return Ok(None);
        }
        let Some(title) = title else {
            return Err(self.error(
                "CHANNEL_POINTS_COST",
                "CHANNEL_POINTS_COST needs CHANNEL_POINTS_TITLE, the reward's title on Twitch",
            ));
        };
        let n = title.trim().chars().count();
        if !(1..=45).contains(&n) {
            return Err(self.error(
                "CHANNEL_POINTS_TITLE",
                format!("a channel-point reward's title must be 1 to 45 characters, not {n}"),
            ));
        }
        let cost = self.count("CHANNEL_POINTS_COST", u64::from(u32::MAX), " points")?;
        if cost == 0 {
            return Err(self.error(
                "CHANNEL_POINTS_COST",
                "CHANNEL_POINTS_COST must be at least 1",
            ));
        }
        let prompt = self.string("CHANNEL_POINTS_PROMPT")?.unwrap_or_default();
        if prompt.chars().count() > 200 {
            return Err(self.error(
                "CHANNEL_POINTS_PROMPT",
                "CHANNEL_POINTS_PROMPT may be at most 200 characters",
            ));
        }
        Ok(Some(ChannelPointsReward {
            title: title.trim().to_owned(),
            cost,
            prompt,
            input_required: self.bool("CHANNEL_POINTS_INPUT")?,
            cooldown: self.count("CHANNEL_POINTS_COOLDOWN", 604_800, " seconds (7 days)")?,
        }))
    }

    fn error(&self, name: &str, message: impl Into<String>) -> ScriptError {
        let needle = format!("const {name}");
        let (line, col) = self
            .source
            .lines()
            .enumerate()
            .find_map(|(i, l)| l.find(&needle).map(|c| (i + 1, c + 1)))
            .unwrap_or((1, 1));
        ScriptError::load(self.file, line, col, message)
    }

    fn value(&self, name: &str) -> Option<Dynamic> {
        self.scope.get_value::<Dynamic>(name)
    }

    /// A whole number from 0 to `max`.
    fn count(&self, name: &str, max: u64, unit: &str) -> Result<u64, ScriptError> {
        let Some(v) = self.value(name) else {
            return Ok(0);
        };
        match v.as_int().ok().and_then(|n| u64::try_from(n).ok()) {
            Some(n) if n <= max => Ok(n),
            _ => Err(self.error(
                name,
                format!("{name} must be a whole number from 0 to {max}{unit}, not {v}"),
            )),
        }
    }

    /// Seconds, at most [`MAX_SETTING_SECS`].
    fn secs(&self, name: &str) -> Result<u64, ScriptError> {
        self.count(name, MAX_SETTING_SECS, " seconds (30 days)")
    }

    fn cost(&self) -> Result<i64, ScriptError> {
        self.count("COST", MAX_AMOUNT as u64, "")
            .map(|n| i64::try_from(n).unwrap_or(MAX_AMOUNT))
    }

    fn bool(&self, name: &str) -> Result<bool, ScriptError> {
        match self.value(name) {
            None => Ok(false),
            Some(v) => v
                .as_bool()
                .map_err(|_| self.error(name, format!("{name} must be true or false, not {v}"))),
        }
    }

    fn string(&self, name: &str) -> Result<Option<String>, ScriptError> {
        match self.value(name) {
            None => Ok(None),
            Some(v) if v.is_string() => Ok(Some(v.to_string())),
            Some(v) => Err(self.error(name, format!("{name} must be a string, not {v}"))),
        }
    }

    /// A string or an array of strings.
    fn strings(&self, name: &str) -> Result<Vec<String>, ScriptError> {
        let Some(v) = self.value(name) else {
            return Ok(Vec::new());
        };
        if v.is_string() {
            return Ok(vec![v.to_string()]);
        }
        let bad = || {
            self.error(
                name,
                format!("{name} must be a string or an array of strings"),
            )
        };
        let arr = v.into_array().map_err(|_| bad())?;
        arr.into_iter()
            .map(|item| {
                if item.is_string() {
                    Ok(item.to_string())
                } else {
                    Err(bad())
                }
            })
            .collect()
    }

    fn permission(&self) -> Result<Permission, ScriptError> {
        match self.string("PERMISSION")? {
            None => Ok(Permission::Everyone),
            Some(s) => Permission::parse(&s).ok_or_else(|| {
                self.error(
                    "PERMISSION",
                    format!("PERMISSION `{s}` is not one of everyone, regular, subscriber, vip, moderator, broadcaster"),
                )
            }),
        }
    }
}
