//! `configs/moderation.yaml`: which chat filters run, their thresholds and exemptions, and the
//! punishment ladders they climb.
//!
//! Owns the file's shape and its checks (regexes compile here, so a bad one is a config error
//! with its line); matching and punishing are the moderation module's job.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Checker, Validate};

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
    pub banned: BannedFilter,
    pub links: LinkFilter,
    pub caps: CapsFilter,
    pub symbols: SymbolsFilter,
    pub emotes: EmotesFilter,
    pub repetition: RepetitionFilter,
    pub length: LengthFilter,
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
    pub enabled: bool,
    /// More follows than this within `within_secs` start a wave.
    pub follows: u32,
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

/// Raid mode: when `accounts` different accounts trip the filters within `window_secs`, the bot
/// switches on Shield Mode and the chat settings chosen here, punishes each offending account
/// once with `action` (no deletes, no warnings), and puts everything back after `quiet_secs`
/// without an offence.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RaidModeConfig {
    pub enabled: bool,
    /// Different accounts that must trip a filter within `window_secs` to begin raid mode.
    pub accounts: u32,
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

/// The ladder a filter climbs unless it names another.
pub const DEFAULT_LADDER: &str = "default";

/// A role that may be exempted from a filter (broadcaster and moderators always are).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Exempt {
    Vip,
    Subscriber,
    /// A login listed in `regulars`.
    Regular,
}

/// A punishment step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Delete the message.
    Delete,
    /// Delete the message and post the filter's warning message.
    Warn,
    /// Time the user out for this many seconds (1 to 1,209,600, Twitch's two weeks).
    Timeout(u32),
    /// Ban the user.
    Ban,
}

/// Twitch's longest timeout.
pub const MAX_TIMEOUT_SECS: u32 = 1_209_600;

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Delete => f.write_str("delete"),
            Step::Warn => f.write_str("warn"),
            Step::Timeout(s) => write!(f, "timeout {s}"),
            Step::Ban => f.write_str("ban"),
        }
    }
}

impl std::str::FromStr for Step {
    type Err = String;

    /// `delete`, `warn`, `ban`, or `timeout N` with N in seconds or with a unit (`10m`, `1h`,
    /// `1d`).
    fn from_str(s: &str) -> Result<Step, String> {
        let s = s.trim();
        let mut words = s.split_whitespace();
        let step = match (words.next(), words.next(), words.next()) {
            (Some("delete"), None, None) => Step::Delete,
            (Some("warn"), None, None) => Step::Warn,
            (Some("ban"), None, None) => Step::Ban,
            (Some("timeout"), Some(d), None) => Step::Timeout(parse_duration_secs(d)?),
            _ => {
                return Err(format!(
                    "`{s}` is not a punishment; use delete, warn, timeout <seconds> (or 10m, 1h, \
                     1d) or ban"
                ));
            }
        };
        Ok(step)
    }
}

fn parse_duration_secs(d: &str) -> Result<u32, String> {
    let (digits, unit) = match d.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => d.split_at(i),
        None => (d, "s"),
    };
    let scale: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{d}` is not a duration; write seconds or 10m, 1h, 1d"
            ));
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{d}` is not a duration; write seconds or 10m, 1h, 1d"))?;
    let secs = n.saturating_mul(scale);
    if secs == 0 || secs > u64::from(MAX_TIMEOUT_SECS) {
        return Err(format!(
            "timeout {d} is out of range: Twitch allows 1 second to 2 weeks (1209600)"
        ));
    }
    u32::try_from(secs).map_err(|_| format!("timeout {d} is too long"))
}

impl Serialize for Step {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Step, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A punishment ladder: each repeat offence within the decay window takes the next step; the
/// last step repeats.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Ladder {
    /// Hours after which a user's offences are forgotten; 0 never forgets.
    pub decay_hours: u32,
    pub steps: Vec<Step>,
}

impl Default for Ladder {
    fn default() -> Self {
        Ladder {
            decay_hours: 24,
            steps: vec![
                Step::Delete,
                Step::Warn,
                Step::Timeout(60),
                Step::Timeout(600),
                Step::Ban,
            ],
        }
    }
}

/// A regular expression, compiled when the config loads.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    regex: regex::Regex,
}

/// Bounds the compiled size of one pattern so a config cannot eat the bot's memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl Pattern {
    /// Compiles `source`.
    ///
    /// # Errors
    /// The regex error, on one line.
    pub fn new(source: &str) -> Result<Pattern, String> {
        let regex = regex::RegexBuilder::new(source)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| match e {
                regex::Error::Syntax(text) => {
                    // regex prints the pattern and a caret over several lines; the last line
                    // holds the reason.
                    let why = text
                        .lines()
                        .rev()
                        .find_map(|l| l.trim().strip_prefix("error: "))
                        .unwrap_or("syntax error")
                        .to_owned();
                    format!("invalid regex `{source}`: {why}")
                }
                regex::Error::CompiledTooBig(_) => {
                    format!("regex `{source}` is too large; split or simplify it")
                }
                other => format!("invalid regex `{source}`: {other}"),
            })?;
        Ok(Pattern {
            source: source.to_owned(),
            regex,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The compiled pattern, as written (no flags added).
    pub fn regex(&self) -> &regex::Regex {
        &self.regex
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Pattern, D::Error> {
        let s = String::deserialize(d)?;
        Pattern::new(&s).map_err(serde::de::Error::custom)
    }
}

/// Banned words, substrings and regexes, matched after lookalike/leet normalisation.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BannedFilter {
    pub enabled: bool,
    pub exempt: Vec<Exempt>,
    /// Posted by the `warn` step; `{user}` is replaced by the viewer's display name.
    pub message: String,
    pub ladder: String,
    /// Matched as whole words ("ass" does not hit "class").
    pub terms: Vec<String>,
    /// Matched anywhere in the normalised text.
    pub substrings: Vec<String>,
    /// Regular expressions over the normalised (lower-case) text.
    pub regexes: Vec<Pattern>,
}

impl Default for BannedFilter {
    fn default() -> Self {
        BannedFilter {
            enabled: true,
            exempt: Vec::new(),
            message: "{user}, that word is not allowed here.".into(),
            ladder: DEFAULT_LADDER.into(),
            terms: Vec::new(),
            substrings: Vec::new(),
            regexes: Vec::new(),
        }
    }
}

/// Links, including disguised ones ("example dot com").
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LinkFilter {
    pub enabled: bool,
    pub exempt: Vec<Exempt>,
    pub message: String,
    pub ladder: String,
    /// Domains always allowed, with their subdomains (`twitch.tv` allows `clips.twitch.tv`).
    pub allow: Vec<String>,
    /// How long `!permit <user>` lets a user post one link, unless the command says otherwise.
    pub permit_secs: u32,
}

impl Default for LinkFilter {
    fn default() -> Self {
        LinkFilter {
            enabled: true,
            exempt: vec![Exempt::Vip, Exempt::Regular],
            message: "{user}, please ask a moderator before posting links.".into(),
            ladder: DEFAULT_LADDER.into(),
            allow: vec!["twitch.tv".into(), "clips.twitch.tv".into()],
            permit_secs: 60,
        }
    }
}

/// Too many capital letters.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CapsFilter {
    pub enabled: bool,
    pub exempt: Vec<Exempt>,
    pub message: String,
    pub ladder: String,
    /// Share of letters that may be capitals, in percent.
    pub max_percent: u8,
    /// Messages with fewer letters are never checked.
    pub min_length: u32,
}

impl Default for CapsFilter {
    fn default() -> Self {
        CapsFilter {
            enabled: true,
            exempt: vec![Exempt::Vip],
            message: "{user}, please don't shout.".into(),
            ladder: DEFAULT_LADDER.into(),
            max_percent: 70,
            min_length: 15,
        }
    }
}

/// Too many symbols (non-letters, non-digits, non-spaces).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SymbolsFilter {
    pub enabled: bool,
    pub exempt: Vec<Exempt>,
    pub message: String,
    pub ladder: String,
    /// Share of characters that may be symbols, in percent.
    pub max_percent: u8,
    /// Messages shorter than this (in characters) are never checked.
    pub min_length: u32,
}

impl Default for SymbolsFilter {
    fn default() -> Self {
        SymbolsFilter {
            enabled: true,
            exempt: vec![Exempt::Vip],
            message: "{user}, please go easy on the symbols.".into(),
            ladder: DEFAULT_LADDER.into(),
            max_percent: 50,
            min_length: 15,
        }
    }
}

/// Too many emotes in one message.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmotesFilter {
    pub enabled: bool,
    pub exempt: Vec<Exempt>,
    pub message: String,
    pub ladder: String,
    /// Most emotes allowed in one message.
    pub max: u32,
    /// Count BTTV, FFZ and 7TV emotes as well as Twitch's.
    pub third_party: bool,
}

impl Default for EmotesFilter {
    fn default() -> Self {
        EmotesFilter {
            enabled: true,
            exempt: vec![Exempt::Vip, Exempt::Subscriber],
            message: "{user}, fewer emotes please.".into(),
            ladder: DEFAULT_LADDER.into(),
            max: 15,
            third_party: true,
        }
    }
}

/// The same message again and again, or one character stretched out.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RepetitionFilter {
    pub enabled: bool,
    pub exempt: Vec<Exempt>,
    pub message: String,
    pub ladder: String,
    /// How many times a user may send the same message within `window_secs`.
    pub max_same: u32,
    pub window_secs: u32,
    /// Longest run of one repeated character ("aaaaaaaa").
    pub max_char_run: u32,
}

impl Default for RepetitionFilter {
    fn default() -> Self {
        RepetitionFilter {
            enabled: true,
            exempt: vec![Exempt::Vip],
            message: "{user}, please don't repeat yourself.".into(),
            ladder: DEFAULT_LADDER.into(),
            max_same: 3,
            window_secs: 30,
            max_char_run: 15,
        }
    }
}

/// Over-long messages.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LengthFilter {
    pub enabled: bool,
    pub exempt: Vec<Exempt>,
    pub message: String,
    pub ladder: String,
    /// Longest message allowed, in characters (Twitch's own limit is 500).
    pub max_chars: u32,
}

impl Default for LengthFilter {
    fn default() -> Self {
        LengthFilter {
            enabled: true,
            exempt: vec![Exempt::Vip],
            message: "{user}, please keep messages shorter.".into(),
            ladder: DEFAULT_LADDER.into(),
            max_chars: 400,
        }
    }
}

/// Too many messages from one user in a short time.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FloodFilter {
    pub enabled: bool,
    pub exempt: Vec<Exempt>,
    pub message: String,
    pub ladder: String,
    /// Messages a user may send within `per_secs`.
    pub max_messages: u32,
    pub per_secs: u32,
}

impl Default for FloodFilter {
    fn default() -> Self {
        FloodFilter {
            enabled: true,
            exempt: vec![Exempt::Vip],
            message: "{user}, slow down please.".into(),
            ladder: DEFAULT_LADDER.into(),
            max_messages: 6,
            per_secs: 10,
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
