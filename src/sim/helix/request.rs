//! The way every request to the fake Helix takes, in Twitch's order: the token and the client
//! id are checked, the token's rate-limit bucket is charged, injected throttles and outages
//! answer before any endpoint, the request is logged and tallied, and the answer carries the
//! bucket's `Ratelimit-*` headers. What passes goes to [`super::routes::dispatch`].

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::Value;

use super::routes::{Caller, dispatch, error};
use super::{ApiState, HelixRequest, REQUEST_LOG, lock};

fn epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Seconds since the epoch, rounded up.
fn epoch_ceil() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
        .unwrap_or(0)
}

pub(super) async fn helix_any(
    State(st): State<Arc<ApiState>>,
    method: Method,
    uri: Uri,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (resp, delay) = answer(Arc::clone(&st), method, uri, query, headers, body);
    // Twitch's time to answer a chat post, when a test sets one (the post is already in chat).
    if !delay.is_zero() {
        let _waiting = crate::sim::chat_send::AnswerDelayed::new(&st);
        tokio::time::sleep(delay).await;
    }
    resp
}

/// The answer to one request, and how long it is held back.
fn answer(
    st: Arc<ApiState>,
    method: Method,
    uri: Uri,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> (Response, std::time::Duration) {
    let path = uri.path().trim_start_matches("/helix").to_string();
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (user, scopes) = {
        let auth = st.auth();
        (auth.access.get(&token).cloned(), auth.scopes_of(&token))
    };
    let mut h = st.helix();
    // The log tests read is bounded, so a simulator left running for hours (a soak, a long
    // offline session) does not grow without end: the oldest tenth goes once it is full.
    if h.requests.len() >= REQUEST_LOG {
        h.requests.drain(..REQUEST_LOG / 10);
    }
    h.requests.push(HelixRequest {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        body: body.clone(),
        token: token.clone(),
    });
    let now = epoch();
    let reset = now + h.reset_in_secs.max(1);
    let outage = match h.fail_until {
        Some((until, status)) if tokio::time::Instant::now() < until => Some(status),
        Some(_) => {
            h.fail_until = None;
            None
        }
        None => None,
    };
    let charge = user.as_deref().map(|u| charge_bucket(&st, &headers, u));
    let injected_throttle = h.throttle_next > 0;
    let mut resp = if headers.get("client-id").is_none() {
        error(StatusCode::UNAUTHORIZED, "Client ID is missing")
    } else if user.is_none() {
        error(StatusCode::UNAUTHORIZED, "Invalid OAuth token")
    } else if injected_throttle {
        h.throttle_next -= 1;
        h.remaining = 0;
        error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
    } else if charge.is_some_and(|c| !c.allowed) {
        error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
    } else if let Some(status) = outage {
        error(status, status.canonical_reason().unwrap_or("Error"))
    } else if h.fail_next > 0 {
        h.fail_next -= 1;
        let status = h.fail_status;
        error(status, status.canonical_reason().unwrap_or("Error"))
    } else {
        let user = user.unwrap_or_default();
        let client = headers.get("client-id").and_then(|v| v.to_str().ok());
        let caller = Caller {
            user: &user,
            scopes: &scopes,
            token: &token,
            client: client.unwrap_or_default(),
        };
        dispatch(&st, &mut h, &method, &path, &query, &body, &caller)
    };
    let kind = call_kind(&method, &path, &body);
    *h.tally.entry((kind, resp.status().as_u16())).or_insert(0) += 1;
    // An injected throttle keeps its own reset; otherwise the token's bucket speaks.
    let (remaining, reset) = match charge {
        // Rounded up from the current fraction of a second, so a client that waits until the
        // reset finds the bucket full, as Twitch promises.
        Some(c) if !injected_throttle => (c.remaining, epoch_ceil() + c.full_in_secs),
        _ => (h.remaining, reset),
    };
    let hd = resp.headers_mut();
    hd.insert(
        "ratelimit-limit",
        HeaderValue::from(lock(&st.buckets).limit()),
    );
    hd.insert("ratelimit-remaining", HeaderValue::from(remaining));
    hd.insert("ratelimit-reset", HeaderValue::from(reset));
    drop(h);
    (resp, crate::sim::chat_send::answer_delay(&st, &path))
}

/// Charges one point to the bucket of the token's user and client id.
fn charge_bucket(st: &ApiState, headers: &HeaderMap, user: &str) -> crate::sim::bucket::Charge {
    let client = headers
        .get("client-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    lock(&st.buckets).charge(&format!("{client}:{user}"), std::time::Instant::now())
}

/// A request's kind for [`FakeTwitchApi::tally`](crate::sim::FakeTwitchApi::tally): `METHOD /path`, with `POST /moderation/bans`
/// split into `(ban)` and `(timeout)` by its body.
pub fn call_kind(method: &Method, path: &str, body: &Value) -> String {
    if method == Method::POST && path == "/moderation/bans" {
        let what = if body["data"]["duration"].is_null() {
            "ban"
        } else {
            "timeout"
        };
        return format!("POST /moderation/bans ({what})");
    }
    format!("{method} {path}")
}
