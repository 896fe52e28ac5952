//! The JSON API of the data moderators edit: text commands (`/api/text-commands`), the regulars
//! (`/api/regulars`) and the scripts' stores (`/api/script-stores`), each body checked before
//! the backend sees it. Authorisation happens before these run ([`super::auth`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ConsoleError;
use super::api::{ApiState, RawBody, json_body, ok};
use crate::commands::Update;
use crate::event::Permission;

type ApiResult = Result<Response, ConsoleError>;

/// `PUT /api/text-commands/{name}`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SaveBody {
    text: String,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    cooldown_secs: Option<u64>,
    #[serde(default)]
    user_cooldown_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountBody {
    count: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    login: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValueBody {
    value: Value,
}

/// `GET /api/text-commands`
pub async fn list(State(st): State<ApiState>) -> ApiResult {
    let commands = st.backend.text_commands().await?;
    Ok(Json(json!({ "commands": commands })).into_response())
}

/// `PUT /api/text-commands/{name}`
pub async fn save(
    State(st): State<ApiState>,
    Path(name): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult {
    let body: SaveBody = json_body(&body)?;
    let level = match &body.level {
        None => None,
        Some(l) => Some(Permission::parse(l).ok_or_else(|| {
            ConsoleError::BadRequest(format!(
                "`level` `{l}` is not one of everyone, regular, subscriber, vip, moderator, \
                 broadcaster"
            ))
        })?),
    };
    let update = Update {
        text: Some(body.text),
        level,
        cooldown_secs: body.cooldown_secs,
        user_cooldown_secs: body.user_cooldown_secs,
        ..Update::default()
    };
    let cmd = st.backend.save_text_command(name, update).await?;
    Ok(Json(json!({ "command": cmd })).into_response())
}

/// `DELETE /api/text-commands/{name}`
pub async fn delete(State(st): State<ApiState>, Path(name): Path<String>) -> ApiResult {
    st.backend.delete_text_command(name).await?;
    Ok(ok())
}

/// `POST /api/text-commands/{name}/count`
pub async fn count(
    State(st): State<ApiState>,
    Path(name): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult {
    let body: CountBody = json_body(&body)?;
    let update = Update {
        count: Some(body.count),
        ..Update::default()
    };
    let cmd = st.backend.save_text_command(name, update).await?;
    Ok(Json(json!({ "command": cmd })).into_response())
}

/// `GET /api/regulars`
pub async fn regulars(State(st): State<ApiState>) -> ApiResult {
    let regulars = st.backend.regulars().await?;
    Ok(Json(json!({ "regulars": regulars })).into_response())
}

/// `POST /api/regulars`
pub async fn add_regular(State(st): State<ApiState>, RawBody(body): RawBody) -> ApiResult {
    let body: LoginBody = json_body(&body)?;
    let login = crate::commands::parse::login(&body.login).ok_or_else(|| {
        ConsoleError::BadRequest(format!(
            "`{}` is not a Twitch login (1 to 25 letters, digits or _)",
            body.login
        ))
    })?;
    st.backend.set_regular(login, true).await?;
    Ok(ok())
}

/// `DELETE /api/regulars/{login}`
pub async fn remove_regular(State(st): State<ApiState>, Path(login): Path<String>) -> ApiResult {
    st.backend.set_regular(login, false).await?;
    Ok(ok())
}

/// `GET /api/script-stores/{script}`
pub async fn store(State(st): State<ApiState>, Path(script): Path<String>) -> ApiResult {
    let entries: Vec<Value> = st
        .backend
        .script_store(script)
        .await?
        .into_iter()
        .map(|(key, value)| json!({ "key": key, "value": value }))
        .collect();
    Ok(Json(json!({ "entries": entries })).into_response())
}

/// `PUT /api/script-stores/{script}/{key}`
pub async fn set_store(
    State(st): State<ApiState>,
    Path((script, key)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> ApiResult {
    let body: ValueBody = json_body(&body)?;
    st.backend
        .set_script_store(script, key, Some(body.value))
        .await?;
    Ok(ok())
}

/// `DELETE /api/script-stores/{script}/{key}`
pub async fn delete_store(
    State(st): State<ApiState>,
    Path((script, key)): Path<(String, String)>,
) -> ApiResult {
    st.backend.set_script_store(script, key, None).await?;
    Ok(ok())
}
