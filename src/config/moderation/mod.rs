//! `configs/moderation.yaml`: which chat filters run, their thresholds and exemptions, and the
//! punishment ladders they climb.
//!
//! Owns the file's shape and its checks (regexes compile here, so a bad one is a config error
//! with its line); matching and punishing are the moderation module's job. This file holds the
//! top level and the checks; the sections are in [`filters`] (the eight filters and their
//! patterns), [`ladder`] (exemptions, punishment steps, ladders) and [`defences`] (raid mode
//! and follow waves), all re-exported here.

pub mod defences;
pub mod filters;
pub mod ladder;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Checker, Validate};

pub use defences::{FollowWaves, RaidAction, RaidModeConfig, WavePoints};
pub use filters::{
    BannedFilter, CapsFilter, EmotesFilter, FloodFilter, LengthFilter, LinkFilter, Pattern,
    RepetitionFilter, SymbolsFilter,
};
pub use ladder::{DEFAULT_LADDER, Exempt, Ladder, MAX_TIMEOUT_SECS, Step};

/// The whole of `configs/moderation.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModerationConfig {
    /// Master switch for every filter.
    pub enabled: bool,
    /// Log what would happen and do nothing (explain mode).
    pub dry_run: bool,
    /// Logins treated as regulars for the `regular` exemption.
    pub regulars: Vec<String>,
    /// Banned terms and regexes.
    pub banned: BannedFilter,
    /// Links to hosts not on the allow-list.
    pub links: LinkFilter,
    /// Too many capitals.
    pub caps: CapsFilter,
    /// Too many symbols.
    pub symbols: SymbolsFilter,
    /// Too many emotes.
    pub emotes: EmotesFilter,
    /// Repeated messages and characters.
    pub repetition: RepetitionFilter,
    /// Over-long messages.
    pub length: LengthFilter,
    /// Too many messages from one chatter.
    pub flood: FloodFilter,
    /// Named punishment ladders; each filter names the one it climbs.
    pub ladders: BTreeMap<String, Ladder>,
    /// Most Twitch moderation calls (ban, timeout, delete) waiting to be sent; when full the
    /// least severe are dropped first.
    pub action_queue: usize,
    /// Most bans and timeouts sent to Twitch per `ban_window_secs` in the channel.
    pub ban_limit: u32,
    /// The window `ban_limit` counts over, in seconds.
    pub ban_window_secs: u64,
    /// Follow-bot waves: a spike of follows is thanked once, not per follow.
    pub follow_waves: FollowWaves,
    /// What happens when many accounts trip the filters at once.
    pub raid_mode: RaidModeConfig,
    /// How long the moderation log keeps its entries.
    pub log: ModLogConfig,
}

/// `log:` in `moderation.yaml`: the moderation log's retention. Older or surplus entries are
/// pruned now and then, oldest first.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ModLogConfig {
    /// Entries older than this many days are pruned.
    pub keep_days: u32,
    /// Most entries kept; past it the oldest go.
    pub max_rows: u64,
}

impl Default for ModLogConfig {
    fn default() -> Self {
        ModLogConfig {
            keep_days: 30,
            max_rows: 100_000,
        }
    }
}

impl Default for ModerationConfig {
    fn default() -> Self {
        ModerationConfig {
            enabled: true,
            dry_run: false,
            regulars: Vec::new(),
            banned: BannedFilter::default(),
            links: LinkFilter::default(),
            caps: CapsFilter::default(),
            symbols: SymbolsFilter::default(),
            emotes: EmotesFilter::default(),
            repetition: RepetitionFilter::default(),
            length: LengthFilter::default(),
            flood: FloodFilter::default(),
            ladders: BTreeMap::from([(DEFAULT_LADDER.to_owned(), Ladder::default())]),
            action_queue: 1000,
            ban_limit: 100,
            ban_window_secs: 30,
            log: ModLogConfig::default(),
            follow_waves: FollowWaves::default(),
            raid_mode: RaidModeConfig::default(),
        }
    }
}
impl Validate for ModerationConfig {
    fn validate(&mut self, check: &mut Checker<'_>) {
        for (i, login) in self.regulars.iter_mut().enumerate() {
            match super::bot::normalize_login(login) {
                Ok(lower) => *login = lower,
                Err(why) => check.error(&format!("regulars[{i}]"), why),
            }
        }
        check.within("action_queue", self.action_queue, 1, 100_000, "actions");
        check.within("ban_limit", self.ban_limit, 1, 10_000, "bans");
        check.within("ban_window_secs", self.ban_window_secs, 1, 3600, "seconds");
        let waves = &self.follow_waves;
        check.within("follow_waves.follows", waves.follows, 1, 100_000, "follows");
        check.within(
            "follow_waves.within_secs",
            waves.within_secs,
            1,
            3600,
            "seconds",
        );
        check.within(
            "follow_waves.quiet_secs",
            waves.quiet_secs,
            1,
            86_400,
            "seconds",
        );
        check.within("follow_waves.hold_secs", waves.hold_secs, 0, 60, "seconds");
        let raid = &self.raid_mode;
        check.within("raid_mode.accounts", raid.accounts, 2, 10_000, "accounts");
        check.within(
            "raid_mode.window_secs",
            raid.window_secs,
            1,
            3600,
            "seconds",
        );
        check.within(
            "raid_mode.quiet_secs",
            raid.quiet_secs,
            2,
            86_400,
            "seconds",
        );
        if let Some(m) = raid.followers_only_minutes {
            check.within(
                "raid_mode.followers_only_minutes",
                m,
                0,
                129_600,
                "minutes (Twitch allows up to 3 months)",
            );
        }
        if raid.slow_mode_secs != 0 {
            check.within(
                "raid_mode.slow_mode_secs",
                raid.slow_mode_secs,
                3,
                120,
                "seconds (or 0 to leave slow mode alone)",
            );
        }
        check.within("log.keep_days", self.log.keep_days, 1, 3650, "days");
        check.within(
            "log.max_rows",
            self.log.max_rows,
            100,
            10_000_000,
            "entries",
        );
        let ladders: Vec<&str> = self.ladders.keys().map(String::as_str).collect();
        let ladder_ok = |filter: &str, name: &str, check: &mut Checker<'_>| {
            if !self.ladders.contains_key(name) {
                check.error(
                    &format!("{filter}.ladder"),
                    format!(
                        "no ladder named `{name}`; define it under `ladders` or use one of: {}",
                        if ladders.is_empty() {
                            "(none defined)".to_owned()
                        } else {
                            ladders.join(", ")
                        }
                    ),
                );
            }
        };
        ladder_ok("banned", &self.banned.ladder, check);
        ladder_ok("links", &self.links.ladder, check);
        ladder_ok("caps", &self.caps.ladder, check);
        ladder_ok("symbols", &self.symbols.ladder, check);
        ladder_ok("emotes", &self.emotes.ladder, check);
        ladder_ok("repetition", &self.repetition.ladder, check);
        ladder_ok("length", &self.length.ladder, check);
        ladder_ok("flood", &self.flood.ladder, check);

        for (name, ladder) in &self.ladders {
            if ladder.steps.is_empty() {
                check.error(
                    &format!("ladders.{name}.steps"),
                    "is empty; list at least one step, such as [delete]",
                );
            }
        }
        for (key, v) in [
            ("banned.terms", &mut self.banned.terms),
            ("banned.substrings", &mut self.banned.substrings),
        ] {
            for (i, t) in v.iter_mut().enumerate() {
                *t = t.trim().to_owned();
                if t.is_empty() {
                    check.error(&format!("{key}[{i}]"), "is empty; remove it");
                }
            }
        }
        for (i, d) in self.links.allow.iter_mut().enumerate() {
            let lower = d.trim().trim_start_matches("*.").to_ascii_lowercase();
            if lower.is_empty() || lower.contains(['/', ' ', ':']) || !lower.contains('.') {
                check.error(
                    &format!("links.allow[{i}]"),
                    format!("`{d}` is not a domain; write it like example.com"),
                );
            } else {
                *d = lower;
            }
        }
        for (key, pct) in [
            ("caps.max_percent", self.caps.max_percent),
            ("symbols.max_percent", self.symbols.max_percent),
        ] {
            if pct > 100 {
                check.error(key, format!("{pct} is over 100 percent"));
            }
        }
        for (key, v) in [
            ("links.permit_secs", self.links.permit_secs),
            ("emotes.max", self.emotes.max),
            ("repetition.max_same", self.repetition.max_same),
            ("repetition.window_secs", self.repetition.window_secs),
            ("repetition.max_char_run", self.repetition.max_char_run),
            ("length.max_chars", self.length.max_chars),
            ("flood.max_messages", self.flood.max_messages),
            ("flood.per_secs", self.flood.per_secs),
        ] {
            if v == 0 {
                check.error(
                    key,
                    "must be at least 1; to turn the filter off set its `enabled: false`",
                );
            }
        }
        // Windows and permits beyond a day, and a decay beyond a year, are typos.
        for (key, v) in [
            ("links.permit_secs", self.links.permit_secs),
            ("repetition.window_secs", self.repetition.window_secs),
            ("flood.per_secs", self.flood.per_secs),
        ] {
            if v > 86_400 {
                check.error(
                    key,
                    format!("{v} is out of range: use 1 to 86400 seconds (a day)"),
                );
            }
        }
        for (name, ladder) in &self.ladders {
            check.within(
                &format!("ladders.{name}.decay_hours"),
                ladder.decay_hours,
                0,
                8_760,
                "hours (0 never forgets)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_with_units_and_refuse_nonsense() {
        assert_eq!("delete".parse(), Ok(Step::Delete));
        assert_eq!("timeout 600".parse(), Ok(Step::Timeout(600)));
        assert_eq!("timeout 10m".parse(), Ok(Step::Timeout(600)));
        assert_eq!("timeout 1d".parse(), Ok(Step::Timeout(86_400)));
        assert!("timeout 0".parse::<Step>().is_err());
        assert!("timeout 15d".parse::<Step>().is_err());
        assert!("kick".parse::<Step>().is_err());
        assert!("timeout".parse::<Step>().is_err());
        assert_eq!(Step::Timeout(60).to_string(), "timeout 60");
    }

    #[test]
    fn a_bad_regex_is_explained_on_one_line() {
        let err = Pattern::new("(unclosed").unwrap_err();
        assert_eq!(err, "invalid regex `(unclosed`: unclosed group");
    }
}
