//! The fake's user endpoints: users by login or id, the live stream, and blocking an account.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::routes::{Caller, error, missing_scope, page, q};
use super::{ApiState, HelixData};

/// `GET /users`: by `login` or `id`, or the token's own user when neither is given.
pub(super) fn get_users(
    h: &HelixData,
    query: &[(String, String)],
    caller: &Caller<'_>,
) -> Response {
    let user = caller.user;
    let wanted: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "login" || k == "id")
        .map(|(_, v)| v.as_str())
        .collect();
    let data = h
        .users
        .iter()
        .filter(|(id, login)| {
            wanted.is_empty() && id == user
                || wanted.contains(&id.as_str())
                || wanted.contains(&login.as_str())
        })
        .map(|(id, login)| {
            json!({"id": id, "login": login, "display_name": login, "type": "",
            "broadcaster_type": "affiliate", "description": "", "profile_image_url": "",
            "offline_image_url": "", "view_count": 0, "created_at": "2020-01-01T00:00:00Z"})
        })
        .collect();
    page(data)
}

/// `GET /streams?user_id=`: the stream while live (the test sets the viewers), no data offline.
pub(super) fn get_streams(st: &ApiState, h: &HelixData, query: &[(String, String)]) -> Response {
    let id = q(query, "user_id").unwrap_or_default().to_string();
    let login = h
        .users
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, l)| l.clone())
        .unwrap_or_default();
    let (title, game_id, game) = {
        let c = st.channel();
        (c.title.clone(), c.game_id.clone(), c.game_name())
    };
    let data = h.live_viewers.map(|v| {
        json!({"id": h.stream_id, "user_id": id, "user_login": login,
        "user_name": login, "game_id": game_id, "game_name": game, "type": "live",
        "title": title, "viewer_count": v, "started_at": h.stream_started_at,
        "language": "en", "thumbnail_url": "", "tags": [], "is_mature": false})
    });
    page(data.into_iter().collect::<Vec<Value>>())
}

/// `PUT /users/blocks`: the token's user blocks `target_user_id`. As on Twitch: the scope
/// `user:manage:blocked_users`, a required `target_user_id`, and `source_context` (`chat`,
/// `whisper`) and `reason` (`harassment`, `spam`, `other`) only from their lists; 204.
pub(super) fn block_user(
    h: &mut HelixData,
    query: &[(String, String)],
    caller: &Caller<'_>,
) -> Response {
    if let Some(refused) = missing_scope(caller, "user:manage:blocked_users") {
        return refused;
    }
    let Some(target) = q(query, "target_user_id").filter(|t| !t.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Missing required parameter \"target_user_id\"",
        );
    };
    if !target.bytes().all(|b| b.is_ascii_digit()) {
        return error(
            StatusCode::BAD_REQUEST,
            "The parameter \"target_user_id\" was malformed: the value must be a numeric string",
        );
    }
    if q(query, "source_context").is_some_and(|c| !["chat", "whisper"].contains(&c)) {
        return error(
            StatusCode::BAD_REQUEST,
            "The parameter \"source_context\" must be chat or whisper",
        );
    }
    if q(query, "reason").is_some_and(|r| !["harassment", "spam", "other"].contains(&r)) {
        return error(
            StatusCode::BAD_REQUEST,
            "The parameter \"reason\" must be harassment, spam or other",
        );
    }
    let block = (caller.user.to_string(), target.to_string());
    if !h.blocks.contains(&block) {
        h.blocks.push(block);
    }
    StatusCode::NO_CONTENT.into_response()
}
