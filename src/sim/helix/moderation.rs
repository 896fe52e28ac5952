//! The fake's moderation endpoints, with Twitch's checks: bans and timeouts (the account's
//! later lines are not delivered), lifting them, native warnings, and adding and removing the
//! channel's moderators (which EventSub's `channel.moderator.add` / `.remove` report).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::routes::{error, q};
use super::{ApiState, BROADCASTER_ID, HelixData};

/// `POST /moderation/bans` as Twitch applies it: the account's later lines are not delivered
/// (until a timeout ends); no user, or a user banned already, is a 400.
pub(super) fn punish(st: &ApiState, query: &[(String, String)], body: &Value) -> Response {
    use crate::sim::punished::Refused;
    let d = &body["data"];
    let user = d["user_id"].as_str().unwrap_or_default();
    let duration = d["duration"].as_u64().map(std::time::Duration::from_secs);
    match st.punished.punish(user, duration, std::time::Instant::now()) {
        Err(Refused::NoUser) => error(StatusCode::BAD_REQUEST, "Missing required parameter \"data.user_id\""),
        Err(Refused::AlreadyBanned) => error(
            StatusCode::BAD_REQUEST,
            "The user specified in the user_id field is already banned.",
        ),
        Ok(()) => Json(json!({"data": [{"broadcaster_id": q(query, "broadcaster_id"), "moderator_id": q(query, "moderator_id"),
            "user_id": user, "created_at": "2026-01-01T00:00:00Z",
            "end_time": if d["duration"].is_null() { Value::Null } else { json!("2026-01-01T00:10:00Z") }}]})).into_response(),
    }
}

/// `POST /moderation/warnings` with Twitch's checks: the scope, the moderator is the token's
/// user and one of the channel's moderators, the user exists, a reason of at most 500
/// characters.
pub(super) fn warn_chat_user(
    h: &mut HelixData,
    query: &[(String, String)],
    body: &Value,
    user: &str,
    scopes: &[String],
) -> Response {
    if !scopes.iter().any(|s| s == "moderator:manage:warnings") {
        return error(
            StatusCode::UNAUTHORIZED,
            "Missing scope: moderator:manage:warnings",
        );
    }
    let (Some(broadcaster), Some(moderator)) =
        (q(query, "broadcaster_id"), q(query, "moderator_id"))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "Missing required parameter broadcaster_id or moderator_id",
        );
    };
    if moderator != user {
        return error(
            StatusCode::UNAUTHORIZED,
            "The ID in moderator_id must match the user ID found in the request's OAuth token.",
        );
    }
    if broadcaster != BROADCASTER_ID {
        return error(StatusCode::BAD_REQUEST, "Invalid broadcaster_id");
    }
    if moderator != broadcaster && !h.moderators.iter().any(|m| m == moderator) {
        return error(
            StatusCode::FORBIDDEN,
            "The user in moderator_id is not one of the broadcaster's moderators.",
        );
    }
    let data = &body["data"];
    let (Some(user_id), Some(reason)) = (data["user_id"].as_str(), data["reason"].as_str()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Missing required field data.user_id or data.reason",
        );
    };
    if reason.chars().count() > 500 {
        return error(
            StatusCode::BAD_REQUEST,
            "The reason may be at most 500 characters",
        );
    }
    if !h.users.iter().any(|(id, _)| id == user_id) {
        return error(
            StatusCode::BAD_REQUEST,
            "The user in user_id does not exist",
        );
    }
    h.warnings.push((user_id.to_owned(), reason.to_owned()));
    Json(
        json!({"data": [{"broadcaster_id": broadcaster, "user_id": user_id,
        "moderator_id": moderator, "reason": reason}]}),
    )
    .into_response()
}

/// `DELETE /moderation/bans`: lifts a ban or timeout; 204.
pub(super) fn lift(st: &ApiState, query: &[(String, String)]) -> Response {
    st.punished.lift(q(query, "user_id").unwrap_or_default());
    StatusCode::NO_CONTENT.into_response()
}

/// `POST` (`add`) or `DELETE /moderation/moderators?broadcaster_id=&user_id=` with Twitch's
/// checks: the broadcaster's own token holding `channel:manage:moderators`, both ids given, the
/// user known, not a moderator already (add) or a moderator (remove). 204 on success, after
/// which the change is applied as [`super::FakeTwitchApi::set_moderator`] applies it.
pub(super) fn manage_moderator(
    st: &ApiState,
    h: &mut HelixData,
    query: &[(String, String)],
    caller: &super::routes::Caller<'_>,
    add: bool,
) -> Response {
    if let Some(refused) = super::routes::missing_scope(caller, "channel:manage:moderators") {
        return refused;
    }
    let (Some(broadcaster), Some(user)) = (q(query, "broadcaster_id"), q(query, "user_id")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Missing required parameter broadcaster_id or user_id",
        );
    };
    if broadcaster != caller.user {
        return error(
            StatusCode::UNAUTHORIZED,
            "The ID in broadcaster_id must match the user ID found in the request's OAuth token.",
        );
    }
    if !h.users.iter().any(|(id, _)| id == user) {
        return error(StatusCode::BAD_REQUEST, "The ID in user_id was not found.");
    }
    let is_mod = h.moderators.iter().any(|m| m == user);
    match (add, is_mod) {
        (true, true) => error(
            StatusCode::BAD_REQUEST,
            "The user in the user_id query parameter is already a moderator.",
        ),
        (false, false) => error(
            StatusCode::BAD_REQUEST,
            "The user in the user_id query parameter is not a moderator in the broadcaster's chat room.",
        ),
        _ => {
            super::apply_moderator(st, h, user, add);
            StatusCode::NO_CONTENT.into_response()
        }
    }
}
