//! The simulator's requests from the web console (`POST /api/sim/chat`, `/api/sim/event`,
//! `/api/sim/raid`): their JSON bodies read and checked, and the simulator's loose
//! `{kind, ...fields}` turned into a typed [`ChannelEvent`]. Also the field checks (a chat text,
//! a Twitch login) the console's other request bodies share. Every mistake is a [`BadRequest`]
//! naming the field, which the console answers with 400.

use compact_str::CompactString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::event::{ChannelEvent, ChannelEventKind, Chatter, EventSource, Roles, SubTier};

/// A request body that is wrong (missing field, bad value); the message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadRequest(pub String);

/// Longest chat message Twitch accepts.
pub const CHAT_MAX: usize = 500;

/// A simulated chat line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimChat {
    /// The viewer's login (lower case).
    pub login: String,
    /// The roles the viewer has.
    pub roles: Roles,
    /// What they say.
    pub text: String,
}

/// Parses a JSON body into `T`, with serde's reason (it names the field).
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BadRequest> {
    if bytes.is_empty() {
        return Err(BadRequest("the request needs a JSON body".into()));
    }
    serde_json::from_slice(bytes).map_err(|e| BadRequest(format!("invalid JSON body: {e}")))
}

/// A text field that must not be blank and must fit `max` characters.
pub fn text_field(name: &str, text: &str, max: usize) -> Result<String, BadRequest> {
    let text = text.trim();
    if text.is_empty() {
        return Err(BadRequest(format!("`{name}` must not be empty")));
    }
    let len = text.chars().count();
    if len > max {
        return Err(BadRequest(format!(
            "`{name}` is {len} characters long; the limit is {max}"
        )));
    }
    Ok(text.to_owned())
}

/// A Twitch login: 1 to 25 letters, digits or underscores; returned in lower case.
pub fn login_field(login: &str) -> Result<String, BadRequest> {
    let login = login.trim().trim_start_matches('@').to_ascii_lowercase();
    let valid = (1..=25).contains(&login.len())
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid {
        Ok(login)
    } else {
        Err(BadRequest(format!(
            "`{login}` is not a Twitch login (1 to 25 letters, digits or _)"
        )))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimChatBody {
    login: String,
    #[serde(default)]
    roles: Vec<String>,
    text: String,
}

/// The checked chat line of a `POST /api/sim/chat` body.
pub fn sim_chat_request(bytes: &[u8]) -> Result<SimChat, BadRequest> {
    let req: SimChatBody = json_body(bytes)?;
    let mut roles = Roles::empty();
    for name in &req.roles {
        let role = Roles::from_badge(name.trim());
        if role == Roles::empty() && !matches!(name.trim(), "viewer" | "") {
            return Err(BadRequest(format!(
                "unknown role `{name}`: use broadcaster, moderator, vip, subscriber, founder, turbo, staff or artist-badge"
            )));
        }
        roles.insert(role);
    }
    Ok(SimChat {
        login: login_field(&req.login)?,
        roles,
        text: text_field("text", &req.text, CHAT_MAX)?,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimRaidBody {
    accounts: u32,
    lines: u32,
    text: String,
    /// How long the raid takes; one second per line unless given.
    #[serde(default)]
    secs: Option<u32>,
}

/// The spam raid a `POST /api/sim/raid` body asks for, its numbers checked.
pub fn sim_raid_request(bytes: &[u8]) -> Result<super::SpamRaid, BadRequest> {
    use super::terminal::{MAX_RAID_ACCOUNTS, MAX_RAID_LINES};
    let req: SimRaidBody = json_body(bytes)?;
    if !(1..=MAX_RAID_ACCOUNTS).contains(&req.accounts) {
        return Err(BadRequest(format!(
            "`accounts` is {}; use 1 to {MAX_RAID_ACCOUNTS}",
            req.accounts
        )));
    }
    if !(1..=MAX_RAID_LINES).contains(&req.lines) {
        return Err(BadRequest(format!(
            "`lines` is {}; use 1 to {MAX_RAID_LINES}",
            req.lines
        )));
    }
    let secs = req.secs.unwrap_or(req.lines);
    if secs > 600 {
        return Err(BadRequest(format!("`secs` is {secs}; use 0 to 600")));
    }
    Ok(super::SpamRaid {
        accounts: req.accounts,
        lines: req.lines,
        text: text_field("text", &req.text, CHAT_MAX)?,
        over: std::time::Duration::from_secs(u64::from(secs)),
    })
}

/// The channel event of a `POST /api/sim/event` body.
pub fn sim_event_request(bytes: &[u8]) -> Result<ChannelEvent, BadRequest> {
    let fields: Map<String, Value> = json_body(bytes)?;
    channel_event_from_fields(&fields)
}

/// The channel event kinds the simulator can fire, with the fields each takes (besides `user`).
pub const SIM_EVENT_KINDS: &[(&str, &[&str])] = &[
    ("follow", &[]),
    ("subscribe", &["tier", "is_gift"]),
    ("resub", &["tier", "months", "streak", "message"]),
    ("gift", &["tier", "count", "anonymous"]),
    ("cheer", &["bits", "message", "anonymous"]),
    ("raid", &["viewers"]),
    (
        "redemption",
        &["reward_title", "cost", "user_input", "reward_id"],
    ),
    ("stream_online", &["stream_id"]),
    ("stream_offline", &[]),
    ("channel_update", &["title", "category"]),
    ("poll_begin", &["title", "choices"]),
    ("poll_end", &["title", "winner"]),
    ("prediction_begin", &["title", "outcomes"]),
    ("prediction_end", &["title", "winner"]),
    ("hype_train_begin", &["level"]),
    ("hype_train_end", &["level"]),
    ("ad_break", &["duration_secs"]),
    ("moderator_add", &[]),
    ("moderator_remove", &[]),
];

/// Reads the simulator's loose JSON (`{"kind": "cheer", "user": "bob", "bits": 100}`; numbers may
/// come as strings from form inputs) into a typed channel event. Missing fields get defaults a
/// streamer would expect; wrong ones are a 400 naming the field.
pub fn channel_event_from_fields(fields: &Map<String, Value>) -> Result<ChannelEvent, BadRequest> {
    let f = Fields(fields);
    let kind_name = f.string("kind")?.unwrap_or_default();
    let Some((_, allowed)) = SIM_EVENT_KINDS.iter().find(|(k, _)| *k == kind_name) else {
        let known: Vec<&str> = SIM_EVENT_KINDS.iter().map(|(k, _)| *k).collect();
        return Err(BadRequest(format!(
            "unknown event kind `{kind_name}`: use one of {}",
            known.join(", ")
        )));
    };
    if let Some(extra) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "kind" | "user") && !allowed.contains(&k.as_str()))
    {
        return Err(BadRequest(format!(
            "`{extra}` is not a field of `{kind_name}`: it takes user{}{}",
            if allowed.is_empty() { "" } else { ", " },
            allowed.join(", ")
        )));
    }
    let tier = || -> Result<SubTier, BadRequest> {
        Ok(match f.string("tier")?.as_deref() {
            None | Some("") | Some("1") | Some("1000") | Some("tier1") => SubTier::Tier1,
            Some("2") | Some("2000") | Some("tier2") => SubTier::Tier2,
            Some("3") | Some("3000") | Some("tier3") => SubTier::Tier3,
            Some("prime") | Some("Prime") => SubTier::Prime,
            Some(other) => {
                return Err(BadRequest(format!(
                    "`tier` must be 1000, 2000, 3000 or prime, not `{other}`"
                )));
            }
        })
    };
    let text =
        |name: &str| -> Result<String, BadRequest> { Ok(f.string(name)?.unwrap_or_default()) };
    let title = || -> Result<String, BadRequest> {
        Ok(f.string("title")?.unwrap_or_else(|| "Test".into()))
    };
    let winner = || -> Result<Option<String>, BadRequest> {
        Ok(f.string("winner")?.filter(|w| !w.is_empty()))
    };
    let kind = match kind_name.as_str() {
        "follow" => ChannelEventKind::Follow,
        "subscribe" => ChannelEventKind::Subscribe {
            tier: tier()?,
            is_gift: f.bool("is_gift")?,
        },
        "resub" => ChannelEventKind::Resub {
            tier: tier()?,
            months: f.number("months", 2)?,
            streak: f.number("streak", 1)?,
            message: text("message")?,
        },
        "gift" => ChannelEventKind::Gift {
            tier: tier()?,
            count: f.number("count", 1)?,
            anonymous: f.bool("anonymous")?,
        },
        "cheer" => ChannelEventKind::Cheer {
            bits: f.number("bits", 100)?,
            message: text("message")?,
            anonymous: f.bool("anonymous")?,
        },
        "raid" => ChannelEventKind::Raid {
            viewers: f.number("viewers", 10)?,
        },
        "redemption" => ChannelEventKind::Redemption {
            reward_id: f
                .string("reward_id")?
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "sim-reward".into())
                .into(),
            reward_title: f
                .string("reward_title")?
                .unwrap_or_else(|| "Hydrate".into()),
            cost: f.number("cost", 100)?,
            user_input: text("user_input")?,
            redemption_id: short_id().into(),
        },
        "stream_online" => ChannelEventKind::StreamOnline {
            stream_id: f
                .string("stream_id")?
                .filter(|s| !s.is_empty())
                .unwrap_or_else(short_id)
                .into(),
        },
        "stream_offline" => ChannelEventKind::StreamOffline,
        "channel_update" => ChannelEventKind::ChannelUpdate {
            title: title()?,
            category: text("category")?,
        },
        "poll_begin" => ChannelEventKind::PollBegin {
            title: title()?,
            choices: f.list("choices")?,
        },
        "poll_end" => ChannelEventKind::PollEnd {
            title: title()?,
            winner: winner()?,
        },
        "prediction_begin" => ChannelEventKind::PredictionBegin {
            title: title()?,
            outcomes: f.list("outcomes")?,
        },
        "prediction_end" => ChannelEventKind::PredictionEnd {
            title: title()?,
            winner: winner()?,
        },
        "hype_train_begin" => ChannelEventKind::HypeTrainBegin {
            level: f.number("level", 1)?,
        },
        "hype_train_end" => ChannelEventKind::HypeTrainEnd {
            level: f.number("level", 1)?,
        },
        "moderator_add" => ChannelEventKind::ModeratorAdd,
        "moderator_remove" => ChannelEventKind::ModeratorRemove,
        // The list above and this match name the same kinds; only ad_break is left.
        _ => ChannelEventKind::AdBreak {
            duration_secs: f.number("duration_secs", 60)?,
        },
    };
    let user = match f.string("user")?.filter(|u| !u.trim().is_empty()) {
        Some(login) => {
            let login = login_field(&login)?;
            Some(Chatter {
                id: CompactString::default(),
                display_name: login.as_str().into(),
                login: login.into(),
                ..Chatter::default()
            })
        }
        None => None,
    };
    Ok(ChannelEvent {
        id: format!("sim-{}", short_id()).into(),
        source: EventSource::Simulated,
        user,
        kind,
    })
}

/// A short random id for simulated events.
fn short_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Typed reads from the simulator's loose JSON.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn string(&self, name: &str) -> Result<Option<String>, BadRequest> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(BadRequest(format!("`{name}` must be text"))),
        }
    }

    fn number(&self, name: &str, default: u32) -> Result<u32, BadRequest> {
        let bad = || BadRequest(format!("`{name}` must be a whole number ≥ 0"));
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(default),
            Some(Value::String(s)) => s.trim().parse().map_err(|_| bad()),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(bad),
            Some(_) => Err(bad()),
        }
    }

    fn bool(&self, name: &str) -> Result<bool, BadRequest> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if matches!(s.as_str(), "true" | "on" | "1") => Ok(true),
            Some(Value::String(s)) if matches!(s.as_str(), "false" | "off" | "0" | "") => Ok(false),
            Some(_) => Err(BadRequest(format!("`{name}` must be true or false"))),
        }
    }

    /// A list of choices: a JSON array of text, or one text split at commas.
    fn list(&self, name: &str) -> Result<Vec<String>, BadRequest> {
        let items: Vec<String> = match self.0.get(name) {
            None | Some(Value::Null) => vec!["Yes".into(), "No".into()],
            Some(Value::String(s)) => s.split(',').map(|c| c.trim().to_owned()).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.trim().to_owned()),
                    _ => Err(BadRequest(format!("`{name}` must be a list of text"))),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(BadRequest(format!("`{name}` must be a list of text")));
            }
        };
        Ok(items.into_iter().filter(|c| !c.is_empty()).collect())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn every_listed_kind_parses_with_defaults_and_keeps_its_name() {
        for (kind, _) in SIM_EVENT_KINDS {
            let ev = channel_event_from_fields(&fields(json!({ "kind": kind, "user": "bob" })));
            let ev = ev.unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(ev.kind.topic(), *kind);
            assert_eq!(ev.source, EventSource::Simulated);
            assert_eq!(ev.user.map(|u| u.login), Some("bob".into()));
        }
    }

    #[test]
    fn form_strings_become_numbers_and_bad_fields_are_named() {
        let ev = channel_event_from_fields(&fields(json!({
            "kind": "cheer", "bits": "250", "message": "hi", "anonymous": "on"
        })));
        assert_eq!(
            ev.map(|e| e.kind),
            Ok(ChannelEventKind::Cheer {
                bits: 250,
                message: "hi".into(),
                anonymous: true
            })
        );
        let err = channel_event_from_fields(&fields(json!({ "kind": "raid", "viewers": "lots" })));
        assert!(matches!(err, Err(BadRequest(m)) if m.contains("viewers")));
        let err = channel_event_from_fields(&fields(json!({ "kind": "follow", "bits": 1 })));
        assert!(matches!(err, Err(BadRequest(m)) if m.contains("bits")));
        let err = channel_event_from_fields(&fields(json!({ "kind": "party" })));
        assert!(matches!(err, Err(BadRequest(m)) if m.contains("follow")));
    }

    #[test]
    fn logins_are_checked_and_lowered() {
        assert_eq!(login_field("@Alice_1"), Ok("alice_1".into()));
        assert!(login_field("a b").is_err());
        assert!(login_field("").is_err());
    }
}
