//! The fake Helix's routing: Shield Mode's and the broadcaster's tools answer first (their
//! own tables, in [`super::super::shield`] and [`super::super::broadcaster`]), then one flat
//! table from method and path to the endpoint, by area. A new endpoint is one line here and a
//! function in its area's file. Also the answers every endpoint shares: Twitch's error body,
//! a page, a query parameter, a missing scope.

use std::sync::Arc;

use axum::Json;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ApiState, HelixData, chat, eventsub, moderation, users};

/// Who makes a request: the token's user and the scopes its grant holds, the token and the
/// client id it came with.
pub(super) struct Caller<'a> {
    pub(super) user: &'a str,
    pub(super) scopes: &'a [String],
    pub(super) token: &'a str,
    pub(super) client: &'a str,
}

/// Answers a request that passed the gate (see [`super::request`]).
pub(super) fn dispatch(
    st: &Arc<ApiState>,
    h: &mut HelixData,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    body: &Value,
    caller: &Caller<'_>,
) -> Response {
    let user = caller.user;
    let token = caller.token;
    super::super::shield::route(st, method, path, query, body, user, token)
        .or_else(|| super::super::chat_send::route(st, h, method, path, body, token))
        .or_else(|| {
            super::super::broadcaster::route(
                st,
                h,
                method,
                path,
                query,
                body,
                (user, token, caller.client),
            )
        })
        .unwrap_or_else(|| route(st, h, method, path, query, body, caller))
}

/// Every endpoint this file routes, one line each.
fn route(
    st: &ApiState,
    h: &mut HelixData,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    body: &Value,
    caller: &Caller<'_>,
) -> Response {
    match (method.as_str(), path) {
        ("GET", "/users") => users::get_users(h, query, caller),
        ("PUT", "/users/blocks") => users::block_user(h, query, caller),
        ("GET", "/streams") => users::get_streams(st, h, query),
        ("GET", "/chat/chatters") => chat::get_chatters(h, query),
        ("GET", "/chat/emotes") => chat::get_emotes(&h.channel_emotes),
        ("GET", "/chat/emotes/global") => chat::get_emotes(&h.global_emotes),
        ("POST", "/moderation/bans") => moderation::punish(st, query, body),
        ("DELETE", "/moderation/bans") => moderation::lift(st, query),
        ("POST", "/moderation/moderators") => {
            moderation::manage_moderator(st, h, query, caller, true)
        }
        ("DELETE", "/moderation/moderators") => {
            moderation::manage_moderator(st, h, query, caller, false)
        }
        ("POST", "/moderation/warnings") => {
            moderation::warn_chat_user(h, query, body, caller.user, caller.scopes)
        }
        // The broadcaster's tools (channel, markers, whispers, rewards, ...) are in
        // `super::super::broadcaster`.
        ("DELETE", "/moderation/chat")
        | ("POST", "/chat/announcements")
        | ("POST", "/chat/shoutouts") => StatusCode::NO_CONTENT.into_response(),
        ("POST", "/eventsub/subscriptions") => {
            super::super::chat_events::check_subscription(st, body, caller.user, caller.scopes)
                .unwrap_or_else(|| eventsub::create_subscription(st, h, body))
        }
        ("GET", "/eventsub/subscriptions") => eventsub::list_subscriptions(h),
        ("DELETE", "/eventsub/subscriptions") => eventsub::delete_subscription(h, query),
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

pub(super) fn error(status: StatusCode, message: &str) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    (
        status,
        Json(json!({"error": reason, "status": status.as_u16(), "message": message})),
    )
        .into_response()
}

pub(super) fn q<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

pub(super) fn page(data: Vec<Value>) -> Response {
    Json(json!({"data": data, "pagination": {}})).into_response()
}

/// Twitch's answer when the token lacks `scope`: 401 naming it.
pub(super) fn missing_scope(caller: &Caller<'_>, scope: &str) -> Option<Response> {
    (!caller.scopes.iter().any(|s| s == scope))
        .then(|| error(StatusCode::UNAUTHORIZED, &format!("Missing scope: {scope}")))
}
