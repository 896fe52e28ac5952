//! The fake's EventSub subscription endpoints: create (only for a live WebSocket session, no
//! duplicates, refusals the test set), list and delete.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::routes::{error, q};
use super::{ApiState, FakeSubscription, HelixData};

pub(crate) fn sub_json(s: &FakeSubscription) -> Value {
    json!({"id": s.id, "status": s.status, "type": s.kind, "version": s.version, "condition": s.condition,
        "created_at": "2026-01-01T00:00:00Z", "cost": 0,
        "transport": {"method": "websocket", "session_id": s.session_id, "connected_at": "2026-01-01T00:00:00Z"}})
}

pub(super) fn create_subscription(st: &ApiState, h: &mut HelixData, body: &Value) -> Response {
    let kind = body["type"].as_str().unwrap_or_default().to_string();
    let session = body["transport"]["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(msg) = h.refuse.get(&kind) {
        return error(StatusCode::FORBIDDEN, msg);
    }
    if !st.eventsub.session_exists(&session) {
        return error(
            StatusCode::BAD_REQUEST,
            "websocket transport session does not exist or has already disconnected",
        );
    }
    if h.subscriptions
        .iter()
        .any(|s| s.kind == kind && s.session_id == session && s.condition == body["condition"])
    {
        return error(StatusCode::CONFLICT, "subscription already exists");
    }
    h.counter += 1;
    let sub = FakeSubscription {
        id: format!("sub-{:08}", h.counter),
        kind,
        version: body["version"].as_str().unwrap_or_default().to_string(),
        condition: body["condition"].clone(),
        session_id: session,
        status: "enabled".into(),
    };
    let v = sub_json(&sub);
    h.subscriptions.push(sub);
    (StatusCode::ACCEPTED, Json(json!({"data": [v], "total": h.subscriptions.len(), "total_cost": 0, "max_total_cost": 10}))).into_response()
}

/// `GET /eventsub/subscriptions`: every subscription, on one page.
pub(super) fn list_subscriptions(h: &HelixData) -> Response {
    let data = h.subscriptions.iter().map(sub_json).collect::<Vec<_>>();
    Json(json!({"data": data, "total": data.len(), "total_cost": 0, "max_total_cost": 10, "pagination": {}})).into_response()
}

/// `DELETE /eventsub/subscriptions?id=`: 204, or 404 for an id that does not exist.
pub(super) fn delete_subscription(h: &mut HelixData, query: &[(String, String)]) -> Response {
    let id = q(query, "id").unwrap_or_default();
    let before = h.subscriptions.len();
    h.subscriptions.retain(|s| s.id != id);
    if h.subscriptions.len() == before {
        error(StatusCode::NOT_FOUND, "subscription not found")
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}
