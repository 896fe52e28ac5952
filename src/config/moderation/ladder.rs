//! `ladders:` and `exempt:` in `moderation.yaml`: who a filter spares, the punishment steps
//! (`delete`, `warn`, `timeout 10m`, `ban`) and the ladders of steps repeat offences climb.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The ladder a filter climbs unless it names another.
pub const DEFAULT_LADDER: &str = "default";

/// A role that may be exempted from a filter (broadcaster and moderators always are).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Exempt {
    /// VIPs.
    Vip,
    /// Subscribers and founders.
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
    /// The steps, first offence first.
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
