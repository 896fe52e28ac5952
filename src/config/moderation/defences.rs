//! `raid_mode:` and `follow_waves:` in `moderation.yaml`: the defences against many accounts at
//! once (filters tripped by many, a spike of follows).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ladder::Step;

/// What becomes of the follow points of the accounts in a follow wave.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WavePoints {
    /// Held while the wave lasts, paid once it is over.
    PayAfter,
    /// Never paid.
    Drop,
}

/// A spike of follows (more than `follows` within `within_secs`) is a follow wave: its follows
/// run no event script and no alert, one chat line says so, and their points wait for its end.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FollowWaves {
    /// Whether this defence is on.
    pub enabled: bool,
    /// More follows than this within `within_secs` start a wave.
    pub follows: u32,
    /// The window follows are counted in, in seconds.
    pub within_secs: u64,
    /// The wave ends once follows have come at a normal rate for this long.
    pub quiet_secs: u64,
    /// Seconds a follow waits before it is thanked and paid, so the first follows of a wave
    /// (before the threshold is crossed) are folded into it; 0 reacts at once.
    pub hold_secs: u64,
    /// `pay_after` or `drop`.
    pub points: WavePoints,
    /// Block every account in the wave (the broadcaster's `user:manage:blocked_users`).
    pub block: bool,
    /// Ban every account in the wave (the bot's `moderator:manage:banned_users`).
    pub ban: bool,
}

impl Default for FollowWaves {
    fn default() -> Self {
        FollowWaves {
            enabled: true,
            follows: 20,
            within_secs: 10,
            quiet_secs: 60,
            hold_secs: 3,
            points: WavePoints::PayAfter,
            block: false,
            ban: false,
        }
    }
}

/// Raid mode: when `accounts` different accounts trip the filters within `window_secs`, the bot
/// switches on Shield Mode and the chat settings chosen here, punishes each offending account
/// once with `action` (no deletes, no warnings), and puts everything back after `quiet_secs`
/// without an offence.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RaidModeConfig {
    /// Whether this defence is on.
    pub enabled: bool,
    /// Different accounts that must trip a filter within `window_secs` to begin raid mode.
    pub accounts: u32,
    /// The window offending accounts are counted in, in seconds.
    pub window_secs: u32,
    /// Seconds without an offence after which raid mode ends by itself.
    pub quiet_secs: u32,
    /// Switch on Twitch's Shield Mode (`moderator:manage:shield_mode`).
    pub shield_mode: bool,
    /// Followers-only chat with this minimum follow age in minutes (0: any follower); `null`
    /// leaves followers-only as it is (`moderator:manage:chat_settings`).
    pub followers_only_minutes: Option<u32>,
    /// Emote-only chat.
    pub emote_only: bool,
    /// Slow mode with this many seconds between a viewer's messages (3 to 120); 0 leaves slow
    /// mode as it is.
    pub slow_mode_secs: u32,
    /// What each offending account gets: `strongest` (the strongest step of the filter's
    /// ladder), or `timeout N` / `ban`.
    pub action: RaidAction,
    /// One line to the moderators when raid mode begins; `{accounts}`, `{window}` and
    /// `{quiet}` are filled in. Empty: say nothing in chat.
    pub message: String,
}

impl Default for RaidModeConfig {
    fn default() -> Self {
        RaidModeConfig {
            enabled: true,
            accounts: 10,
            window_secs: 10,
            quiet_secs: 120,
            shield_mode: true,
            followers_only_minutes: None,
            emote_only: false,
            slow_mode_secs: 0,
            action: RaidAction::Strongest,
            message: "Raid mode on: {accounts} accounts tripped the filters within {window} s. \
                      It ends after {quiet} s without offences, or from the console."
                .into(),
        }
    }
}

impl RaidModeConfig {
    /// Whether any chat setting is to be changed (`PATCH /chat/settings`).
    pub fn changes_chat_settings(&self) -> bool {
        self.followers_only_minutes.is_some() || self.emote_only || self.slow_mode_secs > 0
    }
}

/// The punishment raid mode gives each offending account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaidAction {
    /// The strongest step of the ladder the tripped filter climbs.
    Strongest,
    /// This step (a timeout or a ban).
    Step(Step),
}

impl fmt::Display for RaidAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RaidAction::Strongest => f.write_str("strongest"),
            RaidAction::Step(s) => s.fmt(f),
        }
    }
}

impl Serialize for RaidAction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RaidAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RaidAction, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim() == "strongest" {
            return Ok(RaidAction::Strongest);
        }
        match s.parse::<Step>().map_err(serde::de::Error::custom)? {
            step @ (Step::Timeout(_) | Step::Ban) => Ok(RaidAction::Step(step)),
            other => Err(serde::de::Error::custom(format!(
                "`{other}` is not a raid-mode action: raid mode skips deletes and warnings; use \
                 strongest, timeout <seconds> or ban"
            ))),
        }
    }
}
