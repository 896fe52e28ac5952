//! The fake's chat endpoints: chatters (paginated as on Twitch) and emote sets. Announcements
//! and shoutouts are answered in the router's table.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::HelixData;
use super::routes::q;

/// `GET /chat/chatters` with real pagination: `first` per page (max 1,000), `after` an opaque
/// cursor.
pub(super) fn get_chatters(h: &HelixData, query: &[(String, String)]) -> Response {
    let first = q(query, "first")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let start = q(query, "after")
        .and_then(|v| v.strip_prefix("cur-"))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let data: Vec<Value> = h
        .chatters
        .iter()
        .skip(start)
        .take(first)
        .map(|(id, l)| json!({"user_id": id, "user_login": l, "user_name": l}))
        .collect();
    let next = start + data.len();
    let pagination = if next < h.chatters.len() {
        json!({"cursor": format!("cur-{next}")})
    } else {
        json!({})
    };
    Json(json!({"data": data, "pagination": pagination, "total": h.chatters.len()})).into_response()
}

/// `GET /chat/emotes` or `/chat/emotes/global`: `list` as Twitch's emote objects.
pub(super) fn get_emotes(list: &[String]) -> Response {
    let data: Vec<Value> = list
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({"id": format!("{i}"), "name": n,
        "images": {}, "format": ["static"], "scale": ["1.0"], "theme_mode": ["light", "dark"]})
        })
        .collect();
    Json(json!({"data": data, "template": "https://static-cdn.jtvnw.net/emoticons/v2/{{id}}/{{format}}/{{theme_mode}}/{{scale}}"})).into_response()
}
