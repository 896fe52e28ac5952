//! Who may use the console: the long-lived console token (sent as `Authorization: Bearer`),
//! one-time login codes that turn into browser sessions, and the same-origin rule for POSTs.
//!
//! Owns the secrets' checks only; the token itself is stored by the app in secrets.yaml.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;

use super::ConsoleError;

/// The session cookie's name.
pub const COOKIE: &str = "twitch_bot_console";

/// A fresh random secret: 32 bytes as 64 hex digits. Used for the console token, login codes
/// and sessions. `rand`'s thread generator is a CSPRNG seeded from the operating system.
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::random();
    let mut s = String::with_capacity(64);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Compares secrets in time that depends only on their lengths, so timing reveals no prefix.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The console's credentials: the token, the unused login codes and the open sessions.
pub struct Auth {
    token: String,
    // A std Mutex: held only for a few comparisons, never across an await.
    login_codes: Mutex<HashSet<String>>,
    sessions: Mutex<HashSet<String>>,
}

/// Every field is a credential: `Debug` shows only how many there are.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = |set: &Mutex<HashSet<String>>| {
            set.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .len()
        };
        f.debug_struct("Auth")
            .field("token_set", &!self.token.is_empty())
            .field("login_codes", &count(&self.login_codes))
            .field("sessions", &count(&self.sessions))
            .finish()
    }
}

impl Auth {
    /// Credentials checking against `token`. An empty token admits no Bearer requests.
    pub fn new(token: String) -> Auth {
        Auth {
            token,
            login_codes: Mutex::new(HashSet::new()),
            sessions: Mutex::new(HashSet::new()),
        }
    }

    /// A new one-time login code (for the URL printed in the terminal).
    pub fn new_login_code(&self) -> String {
        let code = generate_token();
        self.login_codes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(code.clone());
        code
    }

    /// Uses up `code` and opens a session for it; `None` if it is unknown or already used.
    pub fn redeem(&self, code: &str) -> Option<String> {
        let mut codes = self
            .login_codes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let found = codes.iter().find(|c| same_secret(c, code)).cloned()?;
        codes.remove(&found);
        drop(codes);
        let session = generate_token();
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(session.clone());
        Some(session)
    }

    /// Whether the request carries the token or a live session cookie.
    pub fn is_authorised(&self, headers: &HeaderMap) -> bool {
        if let Some(bearer) = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("Bearer "))
        {
            return !self.token.is_empty() && same_secret(bearer.trim(), &self.token);
        }
        let Some(session) = session_cookie(headers) else {
            return false;
        };
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|s| same_secret(s, session))
    }
}

/// The session cookie's value, if the request has one.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Whether a state-changing request comes from the console's own page (or from a program,
/// which sends no `Origin`). Browsers always send `Origin` on cross-site POSTs.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site == "cross-site")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    // `Origin: null` (sandboxed frames, file pages) and other schemes fall through to false.
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

/// Refuses requests without credentials (401) and foreign-origin state changes (403).
pub async fn require_auth(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/login" {
        return next.run(req).await;
    }
    if !auth.is_authorised(req.headers()) {
        if path.starts_with("/api/") || path == "/api" {
            return ConsoleError::Unauthorized(
                "the console token is required: send `Authorization: Bearer <console_token>` \
                 (console_token in configs/secrets.yaml) or open the login URL the bot printed"
                    .into(),
            )
            .into_response();
        }
        return login_page(
            "Open the console URL printed in the terminal where the bot runs. \
             It signs this browser in.",
        );
    }
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state && !same_origin(req.headers()) {
        return ConsoleError::Forbidden(
            "cross-site request refused: the console accepts changes only from its own page".into(),
        )
        .into_response();
    }
    next.run(req).await
}

/// The query of `/login`.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    token: Option<String>,
}

/// `GET /login?token=CODE`: trades a one-time code for a session cookie and goes to the page.
pub async fn login(
    State(auth): State<Arc<Auth>>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    if let Some(session) = query.token.as_deref().and_then(|code| auth.redeem(code)) {
        let cookie = format!("{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict");
        return (
            [
                (header::SET_COOKIE, cookie),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            Redirect::to("/"),
        )
            .into_response();
    }
    if auth.is_authorised(&headers) {
        // Already signed in (a reopened tab or a reused link): no need to complain.
        return Redirect::to("/").into_response();
    }
    login_page(
        "This login link was already used or is not valid. Each link works once: use the newest \
         console URL printed in the terminal where the bot runs (restarting the bot prints a new one).",
    )
}

/// The small page shown to a browser that is not signed in.
fn login_page(message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>twitch-bot console: sign in</title>\
         <style>body{{font:16px system-ui,sans-serif;background:#f4f3f8;color:#222;display:grid;\
         place-items:center;min-height:90vh;margin:0}}main{{background:#fff;border-radius:12px;\
         padding:2rem 2.5rem;max-width:34rem;box-shadow:0 2px 12px #0002}}h1{{font-size:1.3rem;\
         color:#6441a5;margin-top:0}}code{{background:#eee;padding:.1rem .3rem;border-radius:4px}}</style>\
         </head><body><main><h1>twitch-bot console</h1><p>{}</p><p>It looks like \
         <code>http://127.0.0.1:PORT/login?token=…</code>.</p></main></body></html>",
        html_escape(message)
    );
    (
        StatusCode::UNAUTHORIZED,
        [(header::CACHE_CONTROL, "no-store")],
        Html(body),
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn debug_output_holds_no_credential() {
        let auth = Auth::new("console-token-value".into());
        let code = auth.new_login_code();
        let session = auth.redeem(&code).expect("a fresh code signs in");
        let shown = format!("{auth:?}");
        for secret in ["console-token-value", code.as_str(), session.as_str()] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("sessions: 1"), "{shown}");
    }

    #[test]
    fn tokens_are_64_hex_digits_and_differ() {
        let a = generate_token();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, generate_token());
    }

    #[test]
    fn a_login_code_works_once() {
        let auth = Auth::new("t".into());
        let code = auth.new_login_code();
        let session = auth.redeem(&code);
        assert!(session.is_some());
        assert!(auth.redeem(&code).is_none());
        let mut h = HeaderMap::new();
        let cookie = format!("a=b; {COOKIE}={}", session.unwrap_or_default());
        h.insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
        assert!(auth.is_authorised(&h));
    }

    #[test]
    fn origin_must_match_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8081"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8081"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }

    #[test]
    fn an_empty_token_admits_nobody() {
        let auth = Auth::new(String::new());
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert!(!auth.is_authorised(&h));
    }
}
