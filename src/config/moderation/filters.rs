//! The eight filters' sections in `moderation.yaml` (`banned`, `links`, `caps`, `symbols`,
//! `emotes`, `repetition`, `length`, `flood`) and [`Pattern`], a banned regex compiled when the
//! file is read.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ladder::{DEFAULT_LADDER, Exempt};

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
    /// Whether this filter runs.
    pub enabled: bool,
    /// Roles this filter spares (the broadcaster and moderators always are).
    pub exempt: Vec<Exempt>,
    /// Posted by the `warn` step; `{user}` is replaced by the viewer's display name.
    pub message: String,
    /// The punishment ladder offences climb.
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
    /// Whether this filter runs.
    pub enabled: bool,
    /// Roles this filter spares (the broadcaster and moderators always are).
    pub exempt: Vec<Exempt>,
    /// The `warn` step's message; `{user}` is the offender's name.
    pub message: String,
    /// The punishment ladder offences climb.
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
    /// Whether this filter runs.
    pub enabled: bool,
    /// Roles this filter spares (the broadcaster and moderators always are).
    pub exempt: Vec<Exempt>,
    /// The `warn` step's message; `{user}` is the offender's name.
    pub message: String,
    /// The punishment ladder offences climb.
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
    /// Whether this filter runs.
    pub enabled: bool,
    /// Roles this filter spares (the broadcaster and moderators always are).
    pub exempt: Vec<Exempt>,
    /// The `warn` step's message; `{user}` is the offender's name.
    pub message: String,
    /// The punishment ladder offences climb.
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
    /// Whether this filter runs.
    pub enabled: bool,
    /// Roles this filter spares (the broadcaster and moderators always are).
    pub exempt: Vec<Exempt>,
    /// The `warn` step's message; `{user}` is the offender's name.
    pub message: String,
    /// The punishment ladder offences climb.
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
    /// Whether this filter runs.
    pub enabled: bool,
    /// Roles this filter spares (the broadcaster and moderators always are).
    pub exempt: Vec<Exempt>,
    /// The `warn` step's message; `{user}` is the offender's name.
    pub message: String,
    /// The punishment ladder offences climb.
    pub ladder: String,
    /// How many times a user may send the same message within `window_secs`.
    pub max_same: u32,
    /// The window repeated messages are counted in, in seconds.
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
    /// Whether this filter runs.
    pub enabled: bool,
    /// Roles this filter spares (the broadcaster and moderators always are).
    pub exempt: Vec<Exempt>,
    /// The `warn` step's message; `{user}` is the offender's name.
    pub message: String,
    /// The punishment ladder offences climb.
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
    /// Whether this filter runs.
    pub enabled: bool,
    /// Roles this filter spares (the broadcaster and moderators always are).
    pub exempt: Vec<Exempt>,
    /// The `warn` step's message; `{user}` is the offender's name.
    pub message: String,
    /// The punishment ladder offences climb.
    pub ladder: String,
    /// Messages a user may send within `per_secs`.
    pub max_messages: u32,
    /// The window messages are counted in, in seconds.
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
