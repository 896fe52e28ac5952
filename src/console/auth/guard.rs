//! The check every console request passes before its handler: the `Host` must be the
//! console's own, a throttled address waits, credentials (bearer token or session cookie) are
//! required except on the sign-in routes, actions must send JSON, and a browser's state change
//! must come from the console's own page.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::login::{SIGN_IN, login_page};
use super::{Auth, Credential, session_cookie};
use crate::console::ConsoleError;

/// Whether the request's `Origin` names the console itself (`None`: there is no `Origin`).
fn origin_matches(headers: &HeaderMap) -> Option<bool> {
    let origin = headers.get(header::ORIGIN)?;
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return Some(false);
    };
    let Ok(origin) = origin.to_str() else {
        return Some(false);
    };
    // `Origin: null` (sandboxed frames, file pages) and other schemes fall through to false.
    Some(
        origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|authority| authority.eq_ignore_ascii_case(host)),
    )
}

fn fetch_site(headers: &HeaderMap) -> Option<&str> {
    headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
}

/// Whether a state-changing request comes from the console's own page (or from a program,
/// which sends no `Origin`). Browsers always send `Origin` on cross-site POSTs.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if fetch_site(headers) == Some("cross-site") {
        return false;
    }
    origin_matches(headers).unwrap_or(true)
}

/// Whether a browser's (cookie-carrying) state change provably comes from the console's page:
/// its own `Origin`, or, without one, `Sec-Fetch-Site: same-origin`. A missing proof is refused.
pub fn from_own_page(headers: &HeaderMap) -> bool {
    match origin_matches(headers) {
        Some(same) => same && fetch_site(headers) != Some("cross-site"),
        None => fetch_site(headers) == Some("same-origin"),
    }
}

/// Whether the body is declared JSON (`application/json`, parameters allowed).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// The address a request came from (loopback when served without connection info).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// The routes anyone may call.
fn is_open(method: &Method, path: &str) -> bool {
    matches!(
        (method, path),
        (&Method::GET, "/login" | "/login.js" | "/login.css") | (&Method::POST, "/api/login")
    )
}

/// Every request's gate: a foreign `Host` (421), throttled addresses (429), no credentials
/// (401), actions without a JSON body (415) and foreign-origin state changes (403).
pub async fn require_auth(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let host_ok = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| auth.host_allowed(h));
    if !host_ok {
        return ConsoleError::Misdirected(
            "this console answers only to its own address (such as 127.0.0.1:PORT); the Host \
             header names another site"
                .into(),
        )
        .into_response();
    }
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .or_else(|| {
            req.extensions()
                .get::<ConnectInfo<crate::console::tls::PeerAddr>>()
                .map(|c| c.0.0.ip())
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    req.extensions_mut().insert(ClientIp(ip));
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path().to_owned();
    if is_open(req.method(), &path) {
        if changes_state {
            if !is_json(req.headers()) {
                return not_json();
            }
            if !same_origin(req.headers()) {
                return cross_site();
            }
            if let Some(secs) = auth.throttled(ip) {
                return ConsoleError::Throttled(secs).into_response();
            }
        }
        return next.run(req).await;
    }
    let credential = auth.credential(req.headers());
    if credential == Credential::WrongToken {
        if let Some(secs) = auth.throttled(ip) {
            return ConsoleError::Throttled(secs).into_response();
        }
        auth.failed(ip);
    }
    let Some(session) = (match credential {
        Credential::Bearer => Some(None),
        Credential::Session => Some(session_cookie(req.headers()).map(str::to_owned)),
        Credential::WrongToken | Credential::None => None,
    }) else {
        if path.starts_with("/api/") || path == "/api" {
            return ConsoleError::Unauthorized(
                "the console token is required: send `Authorization: Bearer <console_token>` \
                 (console_token in configs/secrets.yaml), open a login link, or sign in at /login"
                    .into(),
            )
            .into_response();
        }
        return login_page(StatusCode::UNAUTHORIZED, SIGN_IN);
    };
    if changes_state {
        if !is_json(req.headers()) {
            return not_json();
        }
        let allowed = if session.is_some() {
            from_own_page(req.headers())
        } else {
            same_origin(req.headers())
        };
        if !allowed {
            return cross_site();
        }
    }
    let mut resp = next.run(req).await;
    // A used session is renewed: the browser's cookie lifetime starts again too.
    if let Some(session) = session
        && !resp.headers().contains_key(header::SET_COOKIE)
        && let Ok(value) = HeaderValue::from_str(&auth.cookie(&session))
    {
        resp.headers_mut().insert(header::SET_COOKIE, value);
    }
    resp
}

fn not_json() -> Response {
    ConsoleError::UnsupportedMediaType(
        "actions take a JSON body: send `Content-Type: application/json`".into(),
    )
    .into_response()
}

fn cross_site() -> Response {
    ConsoleError::Forbidden(
        "cross-site request refused: the console accepts changes only from its own page".into(),
    )
    .into_response()
}
