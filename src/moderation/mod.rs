//! Chat moderation in Rust, before any script: filters that lookalikes cannot dodge, a
//! punishment ladder, `!permit`, and an explain mode (`dry_run`, `!modcheck`).
//!
//! The dispatcher routes `!permit`/`!modcheck` (moderators only) and never passes Shared Chat
//! messages from other channels. A message goes: `rules` (the config compiled) →
//! [`pipeline`] ([`Moderator::check`] decides) → [`enforce`] (the decision's bans, timeouts,
//! deletes and warnings go to Twitch through one paced queue); [`ModLogEntry`]s go to
//! storage's moderation log through [`log`]. This file holds the vocabulary they share.
//!
//! Clean ASCII messages are checked on their borrowed text: the normalised `String` is only
//! built when the text has something to undo or a filter fired.

pub mod defences;
pub mod enforce;
pub mod filters;
mod fnv;
pub mod ladder;
pub mod links;
pub mod log;
pub mod normalize;
pub mod pipeline;
pub mod raid;
mod rules;
pub mod waves;

use std::fmt;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::config::moderation::Step;
use crate::event::ChatMessage;

pub use enforce::{raid_actions, raid_punishment};
pub use pipeline::{MAX_CHATTERS, MAX_PERMIT, Moderator};

/// Errors building a [`Moderator`] from a config that passed its own checks.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    /// The banned-terms list does not compile (the matcher's reason).
    #[error("banned terms: {0}")]
    Terms(String),
    /// The banned regexes are too large to compile together.
    #[error("banned regexes together: {0}; use fewer or simpler patterns")]
    Regexes(String),
}

/// Third-party emotes (BTTV, FFZ, 7TV) by name; the Helix side supplies the channel's set.
pub trait EmoteLookup: Send + Sync {
    /// Whether `word` is an emote in this channel.
    fn is_emote(&self, word: &str) -> bool;
}

impl<F: Fn(&str) -> bool + Send + Sync> EmoteLookup for F {
    fn is_emote(&self, word: &str) -> bool {
        self(word)
    }
}

/// One of the eight filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Banned terms and regexes, matched on the normalised text.
    Banned,
    /// Links to hosts not on the allow-list (one per `!permit`).
    Links,
    /// Too many capital letters.
    Caps,
    /// Too many symbols.
    Symbols,
    /// Too many emotes (Twitch's and, when on, third-party ones).
    Emotes,
    /// The same message again, or one character repeated too often.
    Repetition,
    /// Too long a message.
    Length,
    /// Too many messages from one chatter within the window.
    Flood,
}

impl Filter {
    /// The name used in `configs/moderation.yaml` and the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Filter::Banned => "banned",
            Filter::Links => "links",
            Filter::Caps => "caps",
            Filter::Symbols => "symbols",
            Filter::Emotes => "emotes",
            Filter::Repetition => "repetition",
            Filter::Length => "length",
            Filter::Flood => "flood",
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the moderator decided about one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing fired (or the sender is exempt).
    Pass,
    /// A filter fired.
    Caught(Box<Decision>),
}

/// A filter fired: what, why, and what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The filter that fired.
    pub filter: Filter,
    /// The rule that fired, e.g. `term "bad"` or `caps over 70%`.
    pub rule: String,
    /// Why, in words, for moderators.
    pub why: String,
    /// The text the rule saw after normalisation.
    pub normalized: String,
    /// The ladder climbed and the offence number on it (1 for a first offence).
    pub ladder: String,
    /// Which offence on that ladder this is (1 for a first offence).
    pub offence: u32,
    /// The punishment step taken (or that would have been, in dry run).
    pub step: Step,
    /// The filter's warning with `{user}` filled in, when the step is `warn`.
    pub warning: Option<String>,
    /// What to do: empty in dry run.
    pub actions: Vec<Action>,
    /// Nothing was done; this is what would have happened.
    pub dry_run: bool,
}

impl Decision {
    /// The moderation-log line for this decision about `msg`, at `at_ms` (ms since the epoch).
    pub fn log_entry(&self, msg: &ChatMessage, at_ms: u64) -> ModLogEntry {
        ModLogEntry {
            at_ms,
            channel: msg.channel.clone(),
            user_id: msg.sender.id.clone(),
            user_login: msg.sender.login.clone(),
            filter: self.filter,
            rule: self.rule.clone(),
            normalized: self.normalized.clone(),
            punishment: self.step,
            offence: self.offence,
            dry_run: self.dry_run,
        }
    }
}

/// One line of the moderation log (storage keeps these).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModLogEntry {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The channel the message was posted in.
    pub channel: CompactString,
    /// The sender's Twitch user id.
    pub user_id: CompactString,
    /// The sender's login.
    pub user_login: CompactString,
    /// The filter that fired.
    pub filter: Filter,
    /// The rule that fired, as in [`Decision::rule`].
    pub rule: String,
    /// The text the rule saw after normalisation.
    pub normalized: String,
    /// The ladder step taken (or that would have been, in dry run).
    pub punishment: Step,
    /// Which offence on the ladder this was.
    pub offence: u32,
    /// Logged only; nothing was done.
    pub dry_run: bool,
}

/// The answer to `!modcheck <text>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The filter that would fire.
    pub filter: Filter,
    /// The rule that would fire, e.g. `term "bad"`.
    pub rule: String,
    /// Why, in words.
    pub why: String,
    /// The text after normalisation, as the filters see it.
    pub normalized: String,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} filter, rule {}: {} (normalised text: \"{}\")",
            self.filter, self.rule, self.why, self.normalized
        )
    }
}
