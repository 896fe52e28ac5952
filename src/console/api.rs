//! The JSON API under `/api/`: one handler per endpoint, each checking its input before the
//! backend sees it, so every mistake answers 400 with a message saying what to fix.
//!
//! Owns the request shapes and their validation; the simulator's bodies are read by
//! [`crate::sim::requests`]. Authorisation happens before these run ([`super::auth`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{ConsoleBackend, ConsoleError};
use crate::sim::requests::{self, CHAT_MAX, login_field, text_field};

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    /// The bot, as the console's routes reach it.
    pub backend: Arc<dyn ConsoleBackend>,
    /// Ends the live streams when the console shuts down.
    pub shutdown: CancellationToken,
}

type ApiResult = Result<Response, ConsoleError>;

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
    Ok(requests::json_body(bytes)?)
}

pub(crate) fn ok() -> Response {
    Json(json!({ "ok": true })).into_response()
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
    Ok(text_field("text", &req.text, CHAT_MAX)?)
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

/// `POST /api/sim/chat` `{login, roles[], text}`
pub async fn sim_chat(State(st): State<ApiState>, bytes: RawBody) -> ApiResult {
    require_offline(&st)?;
    st.backend
        .sim_chat(requests::sim_chat_request(&bytes.0)?)
        .await?;
    Ok(ok())
}

/// `POST /api/sim/event` `{kind, ...fields}`
pub async fn sim_event(State(st): State<ApiState>, bytes: RawBody) -> ApiResult {
    require_offline(&st)?;
    let event = requests::sim_event_request(&bytes.0)?;
    let topic = event.kind.topic();
    st.backend.sim_event(event).await?;
    Ok(Json(json!({ "ok": true, "kind": topic })).into_response())
}

/// `POST /api/sim/raid` `{accounts, lines, text, secs?}`: new accounts spam at once.
pub async fn sim_raid(State(st): State<ApiState>, bytes: RawBody) -> ApiResult {
    require_offline(&st)?;
    let raid = requests::sim_raid_request(&bytes.0)?;
    let (accounts, lines) = (raid.accounts, raid.lines);
    st.backend.sim_raid(raid)?;
    Ok(Json(json!({ "ok": true, "accounts": accounts, "lines": lines })).into_response())
}
