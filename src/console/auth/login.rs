//! The console's sign-in endpoints: a one-time link's code traded for a session, the pasted
//! console token, a fresh sign-in link for `twitch-bot console-link`, "sign out everywhere",
//! and the sign-in page.

use std::sync::Arc;

use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Auth, COOKIE, ClientIp, generate_token};
use crate::console::ConsoleError;
use crate::console::api::{ApiState, RawBody};

pub(super) const SIGN_IN: &str = "Paste the console token (console_token in configs/secrets.yaml), or \
    open a sign-in link: the one the bot printed at start, one made by typing /console where it \
    runs, or one printed by `twitch-bot console-link`.";

/// The query of `/login`.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    token: Option<String>,
}

/// `GET /login?token=CODE`: trades a one-time code for a session cookie and goes to the page;
/// without a code it is the sign-in page.
pub async fn login(
    State(auth): State<Arc<Auth>>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let Some(code) = query.token.as_deref() else {
        if auth.is_authorised(&headers) {
            return Redirect::to("/").into_response();
        }
        return login_page(StatusCode::OK, SIGN_IN);
    };
    if let Some(session) = auth.redeem(code) {
        return (
            [
                (header::SET_COOKIE, auth.cookie(&session)),
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
        StatusCode::UNAUTHORIZED,
        "This login link was already used or is not valid: each link works once. Paste the \
         console token below, or type /console where the bot runs for a new link.",
    )
}

/// The body of `POST /api/login`.
#[derive(Debug, Deserialize)]
struct PastedToken {
    token: String,
}

/// The token of a `POST /api/login` body.
pub(crate) fn pasted_token(bytes: &[u8]) -> Result<String, ConsoleError> {
    crate::console::api::json_body::<PastedToken>(bytes).map(|p| p.token)
}

/// `POST /api/login` `{"token": "…"}`: the pasted console token opens a session (cookie).
pub async fn login_with_token(
    State(auth): State<Arc<Auth>>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    raw: RawBody,
) -> Response {
    let pasted = match pasted_token(&raw.0) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match auth.sign_in(&pasted) {
        Some(session) => (
            [
                (header::SET_COOKIE, auth.cookie(&session)),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            crate::console::api::ok(),
        )
            .into_response(),
        None => {
            auth.failed(ip);
            ConsoleError::Unauthorized(
                "that is not the console token: copy console_token from configs/secrets.yaml"
                    .into(),
            )
            .into_response()
        }
    }
}

/// `POST /api/login-link`: a fresh one-time sign-in link (for `twitch-bot console-link`).
pub async fn login_link(State(auth): State<Arc<Auth>>) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({ "url": auth.login_url() })),
    )
        .into_response()
}

/// `POST /api/logout-all`: a new console token (saved in secrets.yaml) and every session ended.
pub async fn logout_all(State(auth): State<Arc<Auth>>, State(st): State<ApiState>) -> Response {
    let token = generate_token();
    if let Err(e) = st.backend.save_console_token(token.clone()).await {
        return e.into_response();
    }
    auth.rotate(token);
    let secure = if auth.policy.secure { "; Secure" } else { "" };
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
        )],
        axum::Json(serde_json::json!({
            "ok": true,
            "note": "every session is signed out; the new console token is in configs/secrets.yaml"
        })),
    )
        .into_response()
}

/// The sign-in page: a message and a field for the console token (posted by `/login.js`).
pub(super) fn login_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>twitch-bot console: sign in</title>\
         <link rel=\"stylesheet\" href=\"/login.css\">\
         </head><body><main><h1>twitch-bot console</h1><p>{}</p>\
         <form id=\"login-form\"><label for=\"token\">Console token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required>\
         <button id=\"sign-in\" type=\"submit\">Sign in</button></form>\
         <p id=\"login-error\" role=\"alert\"></p>\
         <script src=\"/login.js\"></script></main></body></html>",
        html_escape(message)
    );
    let mut resp = (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::console::server::CSP),
    );
    resp.headers_mut()
        .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
