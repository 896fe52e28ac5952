//! The JSON API under `/api/`: one handler per endpoint, each checking its input before the
//! backend sees it, so every mistake answers 400 with a message saying what to fix.
//!
//! Owns request shapes and validation, including turning the simulator's `{kind, ...fields}` into
//! a typed [`ChannelEvent`]. Authorisation happens before these run ([`super::auth`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use compact_str::CompactString;
use futures_util::Stream;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{ConsoleBackend, ConsoleError, SimChat};
use crate::event::{ChannelEvent, ChannelEventKind, Chatter, EventSource, Roles, SubTier};

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    pub backend: Arc<dyn ConsoleBackend>,
    /// Ends the live streams when the console shuts down.
    pub shutdown: CancellationToken,
}

type ApiResult = Result<Response, ConsoleError>;

/// Longest chat message Twitch accepts.
const CHAT_MAX: usize = 500;
/// Longest Discord message.
const DISCORD_MAX: usize = 2000;
/// Most leaderboard rows one request may ask for.
const LEADERBOARD_MAX: usize = 100;

/// A request body, read with the console's own errors (JSON, 413 when over the size limit)
/// instead of axum's plain-text rejections.
pub struct RawBody(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ConsoleError::TooLarge(format!(
                        "the request body is too large (the limit is {} KiB)",
                        super::server::BODY_LIMIT / 1024
                    ))
                } else {
                    ConsoleError::BadRequest(format!(
                        "cannot read the request body: {}",
                        e.body_text()
                    ))
                }
            })
    }
}

/// Parses a JSON body into `T`, answering 400 with serde's reason (it names the field).
pub(crate) fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ConsoleError> {
    if bytes.is_empty() {
        return Err(ConsoleError::BadRequest(
            "the request needs a JSON body".into(),
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ConsoleError::BadRequest(format!("invalid JSON body: {e}")))
}

pub(crate) fn ok() -> Response {
    Json(json!({ "ok": true })).into_response()
}

/// A text field that must not be blank and must fit `max` characters.
fn text_field(name: &str, text: &str, max: usize) -> Result<String, ConsoleError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ConsoleError::BadRequest(format!(
            "`{name}` must not be empty"
        )));
    }
    let len = text.chars().count();
    if len > max {
        return Err(ConsoleError::BadRequest(format!(
            "`{name}` is {len} characters long; the limit is {max}"
        )));
    }
    Ok(text.to_owned())
}

/// A Twitch login: 1 to 25 letters, digits or underscores; returned in lower case.
fn login_field(login: &str) -> Result<String, ConsoleError> {
    let login = login.trim().trim_start_matches('@').to_ascii_lowercase();
    let valid = (1..=25).contains(&login.len())
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid {
        Ok(login)
    } else {
        Err(ConsoleError::BadRequest(format!(
            "`{login}` is not a Twitch login (1 to 25 letters, digits or _)"
        )))
    }
}

/// `GET /api/health`
pub async fn health(State(st): State<ApiState>) -> ApiResult {
    let info = st.backend.info();
    let services = st.backend.health();
    Ok(Json(json!({
        "bot": info.bot,
        "channel": info.channel,
        "offline": info.offline,
        "services": services,
        "follow_wave": st.backend.follow_waves(),
        "raid_mode": st.backend.raid_mode(),
    }))
    .into_response())
}

/// `GET /api/follow-waves`
pub async fn follow_waves(State(st): State<ApiState>) -> ApiResult {
    Ok(Json(json!({ "follow_waves": st.backend.follow_waves() })).into_response())
}

/// `POST /api/follow-waves/end`
pub async fn end_follow_wave(State(st): State<ApiState>) -> ApiResult {
    Ok(Json(json!({ "ended": st.backend.end_follow_wave() })).into_response())
}

/// `POST /api/moderation/raid-mode/end`: ends raid mode now; `ended` is false when it was off.
pub async fn end_raid_mode(State(st): State<ApiState>) -> ApiResult {
    let ended = st.backend.end_raid_mode()?;
    Ok(Json(json!({ "ok": true, "ended": ended })).into_response())
}

/// `GET /api/events`: the live log as server-sent events, one JSON object per `data:`.
pub async fn events(
    State(st): State<ApiState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = st.backend.subscribe_events();
    let stream =
        futures_util::stream::unfold((rx, st.shutdown.clone()), |(mut rx, shutdown)| async move {
            let item = tokio::select! {
                _ = shutdown.cancelled() => return None,
                item = rx.recv() => item,
            };
            let sse = match item {
                Ok(live) => match serde_json::to_string(&live) {
                    Ok(data) => SseEvent::default().data(data),
                    Err(e) => SseEvent::default()
                        .event("error")
                        .data(json!({ "error": e.to_string() }).to_string()),
                },
                // A slow reader missed some: say how many instead of silently skipping.
                Err(broadcast::error::RecvError::Lagged(n)) => SseEvent::default()
                    .event("lagged")
                    .data(json!({ "missed": n }).to_string()),
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((Ok(sse), (rx, shutdown)))
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /api/scripts`: the loaded scripts, and (when the backend edits scripts) every `.rhai`
/// file with its stamp and load status.
pub async fn scripts(State(st): State<ApiState>) -> ApiResult {
    let report = st.backend.scripts().await?;
    let mut body = serde_json::to_value(report)
        .map_err(|e| ConsoleError::Internal(format!("cannot write the scripts report: {e}")))?;
    if let Some(files) = st.backend.script_files().await
        && let Value::Object(fields) = &mut body
    {
        fields.insert("files".into(), json!(files.files));
        fields.insert("file_reloads".into(), json!(files.file_reloads));
    }
    Ok(Json(body).into_response())
}

/// `POST /api/scripts/reload`
pub async fn reload_scripts(State(st): State<ApiState>) -> ApiResult {
    Ok(Json(st.backend.reload_scripts().await?).into_response())
}

/// `POST /api/configs/reload`
pub async fn reload_configs(State(st): State<ApiState>) -> ApiResult {
    Ok(Json(st.backend.reload_configs().await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextBody {
    text: String,
}

/// `POST /api/chat` `{text}`
pub async fn chat(State(st): State<ApiState>, bytes: RawBody) -> ApiResult {
    st.backend.say(chat_request(&bytes.0)?).await?;
    Ok(ok())
}

/// The checked text of a `POST /api/chat` body.
pub(crate) fn chat_request(bytes: &[u8]) -> Result<String, ConsoleError> {
    let req: TextBody = json_body(bytes)?;
    text_field("text", &req.text, CHAT_MAX)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscordBody {
    text: String,
    /// A webhook or channel name from bot.yaml; the default target when absent or empty.
    #[serde(default)]
    target: Option<String>,
}

/// `POST /api/discord` `{text, target?}`
pub async fn discord(State(st): State<ApiState>, bytes: RawBody) -> ApiResult {
    let (text, target) = discord_request(&bytes.0)?;
    st.backend.discord(text, target).await?;
    Ok(ok())
}

/// The checked text and target of a `POST /api/discord` body.
pub(crate) fn discord_request(bytes: &[u8]) -> Result<(String, Option<String>), ConsoleError> {
    let req: DiscordBody = json_body(bytes)?;
    let target = req
        .target
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    Ok((text_field("text", &req.text, DISCORD_MAX)?, target))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ZmqBody {
    topic: String,
    #[serde(default)]
    data: Value,
}

/// `POST /api/zmq` `{topic, data}`
pub async fn zmq(State(st): State<ApiState>, bytes: RawBody) -> ApiResult {
    let (topic, data) = zmq_request(&bytes.0)?;
    st.backend.zmq(topic, data).await?;
    Ok(ok())
}

/// The checked topic and data of a `POST /api/zmq` body.
pub(crate) fn zmq_request(bytes: &[u8]) -> Result<(String, Value), ConsoleError> {
    let req: ZmqBody = json_body(bytes)?;
    Ok((text_field("topic", &req.topic, 200)?, req.data))
}

/// `POST /api/obs/connect`
pub async fn obs_connect(State(st): State<ApiState>) -> ApiResult {
    st.backend.obs_connect().await?;
    Ok(ok())
}

/// `POST /api/obs/disconnect`
pub async fn obs_disconnect(State(st): State<ApiState>) -> ApiResult {
    st.backend.obs_disconnect().await?;
    Ok(ok())
}

/// `GET /api/users/{login}`
pub async fn user(State(st): State<ApiState>, Path(login): Path<String>) -> ApiResult {
    let login = login_field(&login)?;
    match st.backend.user(login.clone()).await? {
        Some(user) => Ok(Json(user).into_response()),
        None => Err(ConsoleError::NotFound(format!(
            "no viewer `{login}` is known yet"
        ))),
    }
}

/// `GET /api/leaderboard?n=10`
pub async fn leaderboard(
    State(st): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let n = match query.get("n") {
        None => 10,
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=LEADERBOARD_MAX).contains(n))
            .ok_or_else(|| {
                ConsoleError::BadRequest(format!(
                    "`n` must be a number from 1 to {LEADERBOARD_MAX}"
                ))
            })?,
    };
    Ok(Json(st.backend.leaderboard(n).await?).into_response())
}

/// `GET /api/stats`
pub async fn stats(State(st): State<ApiState>) -> ApiResult {
    Ok(Json(st.backend.stats().await?).into_response())
}

/// `GET /api/stats/{stream}/chart.svg`: the chart of a stream (its id, report name or `live`).
pub async fn stats_chart(State(st): State<ApiState>, Path(stream): Path<String>) -> ApiResult {
    let valid = (1..=100).contains(&stream.len())
        && stream
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(ConsoleError::BadRequest(format!(
            "`{stream}` is not a stream id: letters, digits, - and _ only"
        )));
    }
    let svg = st.backend.stats_chart(stream).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "image/svg+xml; charset=utf-8",
        )],
        svg,
    )
        .into_response())
}

fn require_offline(st: &ApiState) -> Result<(), ConsoleError> {
    if st.backend.info().offline {
        Ok(())
    } else {
        Err(ConsoleError::Conflict(
            "the simulator works only in --offline mode".into(),
        ))
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

/// `POST /api/sim/chat` `{login, roles[], text}`
pub async fn sim_chat(State(st): State<ApiState>, bytes: RawBody) -> ApiResult {
    require_offline(&st)?;
    st.backend.sim_chat(sim_chat_request(&bytes.0)?).await?;
    Ok(ok())
}

/// The checked chat line of a `POST /api/sim/chat` body.
pub(crate) fn sim_chat_request(bytes: &[u8]) -> Result<SimChat, ConsoleError> {
    let req: SimChatBody = json_body(bytes)?;
    let mut roles = Roles::empty();
    for name in &req.roles {
        let role = Roles::from_badge(name.trim());
        if role == Roles::empty() && !matches!(name.trim(), "viewer" | "") {
            return Err(ConsoleError::BadRequest(format!(
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

/// `POST /api/sim/event` `{kind, ...fields}`
pub async fn sim_event(State(st): State<ApiState>, bytes: RawBody) -> ApiResult {
    require_offline(&st)?;
    let event = sim_event_request(&bytes.0)?;
    let topic = event.kind.topic();
    st.backend.sim_event(event).await?;
    Ok(Json(json!({ "ok": true, "kind": topic })).into_response())
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

/// `POST /api/sim/raid` `{accounts, lines, text, secs?}`: new accounts spam at once.
pub async fn sim_raid(State(st): State<ApiState>, bytes: RawBody) -> ApiResult {
    require_offline(&st)?;
    let raid = sim_raid_request(&bytes.0)?;
    let (accounts, lines) = (raid.accounts, raid.lines);
    st.backend.sim_raid(raid)?;
    Ok(Json(json!({ "ok": true, "accounts": accounts, "lines": lines })).into_response())
}

/// The spam raid a `POST /api/sim/raid` body asks for, its numbers checked.
pub(crate) fn sim_raid_request(bytes: &[u8]) -> Result<crate::sim::SpamRaid, ConsoleError> {
    use crate::sim::terminal::{MAX_RAID_ACCOUNTS, MAX_RAID_LINES};
    let req: SimRaidBody = json_body(bytes)?;
    if !(1..=MAX_RAID_ACCOUNTS).contains(&req.accounts) {
        return Err(ConsoleError::BadRequest(format!(
            "`accounts` is {}; use 1 to {MAX_RAID_ACCOUNTS}",
            req.accounts
        )));
    }
    if !(1..=MAX_RAID_LINES).contains(&req.lines) {
        return Err(ConsoleError::BadRequest(format!(
            "`lines` is {}; use 1 to {MAX_RAID_LINES}",
            req.lines
        )));
    }
    let secs = req.secs.unwrap_or(req.lines);
    if secs > 600 {
        return Err(ConsoleError::BadRequest(format!(
            "`secs` is {secs}; use 0 to 600"
        )));
    }
    Ok(crate::sim::SpamRaid {
        accounts: req.accounts,
        lines: req.lines,
        text: text_field("text", &req.text, CHAT_MAX)?,
        over: std::time::Duration::from_secs(u64::from(secs)),
    })
}

/// The channel event of a `POST /api/sim/event` body.
pub(crate) fn sim_event_request(bytes: &[u8]) -> Result<ChannelEvent, ConsoleError> {
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
];

/// Reads the simulator's loose JSON (`{"kind": "cheer", "user": "bob", "bits": 100}`; numbers may
/// come as strings from form inputs) into a typed channel event. Missing fields get defaults a
/// streamer would expect; wrong ones are a 400 naming the field.
pub fn channel_event_from_fields(
    fields: &Map<String, Value>,
) -> Result<ChannelEvent, ConsoleError> {
    let f = Fields(fields);
    let kind_name = f.string("kind")?.unwrap_or_default();
    let Some((_, allowed)) = SIM_EVENT_KINDS.iter().find(|(k, _)| *k == kind_name) else {
        let known: Vec<&str> = SIM_EVENT_KINDS.iter().map(|(k, _)| *k).collect();
        return Err(ConsoleError::BadRequest(format!(
            "unknown event kind `{kind_name}`: use one of {}",
            known.join(", ")
        )));
    };
    if let Some(extra) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "kind" | "user") && !allowed.contains(&k.as_str()))
    {
        return Err(ConsoleError::BadRequest(format!(
            "`{extra}` is not a field of `{kind_name}`: it takes user{}{}",
            if allowed.is_empty() { "" } else { ", " },
            allowed.join(", ")
        )));
    }
    let tier = || -> Result<SubTier, ConsoleError> {
        Ok(match f.string("tier")?.as_deref() {
            None | Some("") | Some("1") | Some("1000") | Some("tier1") => SubTier::Tier1,
            Some("2") | Some("2000") | Some("tier2") => SubTier::Tier2,
            Some("3") | Some("3000") | Some("tier3") => SubTier::Tier3,
            Some("prime") | Some("Prime") => SubTier::Prime,
            Some(other) => {
                return Err(ConsoleError::BadRequest(format!(
                    "`tier` must be 1000, 2000, 3000 or prime, not `{other}`"
                )));
            }
        })
    };
    let text =
        |name: &str| -> Result<String, ConsoleError> { Ok(f.string(name)?.unwrap_or_default()) };
    let title = || -> Result<String, ConsoleError> {
        Ok(f.string("title")?.unwrap_or_else(|| "Test".into()))
    };
    let winner = || -> Result<Option<String>, ConsoleError> {
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
    let mut id = super::generate_token();
    id.truncate(16);
    id
}

/// Typed reads from the simulator's loose JSON.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn string(&self, name: &str) -> Result<Option<String>, ConsoleError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(ConsoleError::BadRequest(format!("`{name}` must be text"))),
        }
    }

    fn number(&self, name: &str, default: u32) -> Result<u32, ConsoleError> {
        let bad = || ConsoleError::BadRequest(format!("`{name}` must be a whole number ≥ 0"));
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

    fn bool(&self, name: &str) -> Result<bool, ConsoleError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if matches!(s.as_str(), "true" | "on" | "1") => Ok(true),
            Some(Value::String(s)) if matches!(s.as_str(), "false" | "off" | "0" | "") => Ok(false),
            Some(_) => Err(ConsoleError::BadRequest(format!(
                "`{name}` must be true or false"
            ))),
        }
    }

    /// A list of choices: a JSON array of text, or one text split at commas.
    fn list(&self, name: &str) -> Result<Vec<String>, ConsoleError> {
        let items: Vec<String> = match self.0.get(name) {
            None | Some(Value::Null) => vec!["Yes".into(), "No".into()],
            Some(Value::String(s)) => s.split(',').map(|c| c.trim().to_owned()).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.trim().to_owned()),
                    _ => Err(ConsoleError::BadRequest(format!(
                        "`{name}` must be a list of text"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(ConsoleError::BadRequest(format!(
                    "`{name}` must be a list of text"
                )));
            }
        };
        Ok(items.into_iter().filter(|c| !c.is_empty()).collect())
    }
}

#[cfg(test)]
mod tests {
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
        assert!(matches!(err, Err(ConsoleError::BadRequest(m)) if m.contains("viewers")));
        let err = channel_event_from_fields(&fields(json!({ "kind": "follow", "bits": 1 })));
        assert!(matches!(err, Err(ConsoleError::BadRequest(m)) if m.contains("bits")));
        let err = channel_event_from_fields(&fields(json!({ "kind": "party" })));
        assert!(matches!(err, Err(ConsoleError::BadRequest(m)) if m.contains("follow")));
    }

    #[test]
    fn logins_are_checked_and_lowered() {
        assert_eq!(login_field("@Alice_1"), Ok("alice_1".into()));
        assert!(login_field("a b").is_err());
        assert!(login_field("").is_err());
    }
}
