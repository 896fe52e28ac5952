//! The simulated Twitch OAuth server (`/oauth2`): device codes with a configurable number of
//! `authorization_pending` answers, tokens, rotating refresh tokens, the client-credentials
//! grant (app access tokens, only with the application's client secret, expiring and never
//! refreshed), validate and revoke. Like
//! Twitch, a grant holds the scopes asked at `/device`; token answers carry them as `scope` and
//! `/validate` as `scopes`. Tokens issued directly (offline mode) hold every scope in
//! [`crate::twitch::scopes::FEATURES`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::json;

use super::helix::ApiState;

/// Token bookkeeping shared by the fake auth server and the fake Helix.
#[derive(Debug)]
pub struct AuthState {
    /// Valid access tokens and the user id each belongs to.
    pub access: HashMap<String, String>,
    /// Valid refresh tokens and the user id each belongs to.
    pub refresh: HashMap<String, String>,
    /// Polls left to answer `authorization_pending` for each device code.
    pub pending: HashMap<String, u32>,
    /// The user id the next approved device code signs in (bot first, then broadcaster).
    pub device_users: Vec<String>,
    /// `authorization_pending` answers before a device code is approved.
    pub pending_polls: u32,
    /// Numbers the codes and tokens issued, so each is unique.
    pub counter: u64,
    /// `/validate` requests received.
    pub validate_calls: u64,
    /// Refresh-token grants received.
    pub refresh_calls: u64,
    /// Device-code polls of `/token`, answered or pending.
    pub device_polls: u64,
    /// The scopes each access or refresh token's grant holds.
    pub scopes: HashMap<String, Vec<String>>,
    /// The scopes asked for by each device code still pending.
    pub device_scopes: HashMap<String, Vec<String>>,
    /// The scopes asked at each `/device` request, in order.
    pub asked: Vec<Vec<String>>,
    /// The application's client secret; `None`: a Public application, which has none and so
    /// gets no app access token.
    pub client_secret: Option<String>,
    /// App access tokens and when each expires.
    pub app_tokens: HashMap<String, std::time::Instant>,
    /// How long a new app access token lasts (Twitch: about 60 days).
    pub app_token_lifetime: std::time::Duration,
    /// Client-credentials grants answered with a token.
    pub app_token_grants: u64,
    /// Send Chat Message's rules and the room its messages appear in.
    pub chat: super::chat_send::ChatSendState,
}

/// The user id the fake keeps app access tokens under in [`AuthState::access`]: they belong to
/// the application, not to a user (each has its own rate-limit bucket).
pub const APP_USER: &str = "app";

/// What Twitch's app access tokens last, about 60 days.
const APP_TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(60 * 24 * 3600);

impl Default for AuthState {
    fn default() -> Self {
        AuthState {
            access: HashMap::new(),
            refresh: HashMap::new(),
            pending: HashMap::new(),
            device_users: Vec::new(),
            pending_polls: 0,
            counter: 0,
            validate_calls: 0,
            refresh_calls: 0,
            device_polls: 0,
            scopes: HashMap::new(),
            device_scopes: HashMap::new(),
            asked: Vec::new(),
            client_secret: None,
            app_tokens: HashMap::new(),
            app_token_lifetime: APP_TOKEN_LIFETIME,
            app_token_grants: 0,
            chat: super::chat_send::ChatSendState::default(),
        }
    }
}

impl AuthState {
    /// Whether `token` is an app access token that has not expired.
    pub fn app_token_valid(&self, token: &str) -> bool {
        self.app_tokens
            .get(token)
            .is_some_and(|expires| std::time::Instant::now() < *expires)
    }

    /// Every scope `user_id` has granted this application (in any of its grants).
    pub fn granted(&self, user_id: &str) -> Vec<String> {
        let mut all: Vec<String> = self
            .access
            .iter()
            .chain(self.refresh.iter())
            .filter(|(_, u)| *u == user_id)
            .flat_map(|(t, _)| self.scopes_of(t))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Issues a new access/refresh pair for `user_id` holding every scope the bot's features
    /// use for that account.
    pub fn issue(&mut self, user_id: &str) -> (String, String) {
        let account = if user_id == super::helix::BROADCASTER_ID {
            crate::twitch::auth::Account::Broadcaster
        } else {
            crate::twitch::auth::Account::Bot
        };
        let scopes = crate::twitch::scopes::for_account(account)
            .into_iter()
            .map(str::to_string)
            .collect();
        self.issue_scoped(user_id, scopes)
    }

    /// Issues a new access/refresh pair for `user_id` holding `scopes`.
    pub fn issue_scoped(&mut self, user_id: &str, scopes: Vec<String>) -> (String, String) {
        self.counter += 1;
        let access = format!("access-{}-{user_id}", self.counter);
        let refresh = format!("refresh-{}-{user_id}", self.counter);
        self.access.insert(access.clone(), user_id.to_string());
        self.refresh.insert(refresh.clone(), user_id.to_string());
        self.scopes.insert(access.clone(), scopes.clone());
        self.scopes.insert(refresh.clone(), scopes);
        (access, refresh)
    }

    pub(crate) fn scopes_of(&self, token: &str) -> Vec<String> {
        self.scopes.get(token).cloned().unwrap_or_default()
    }
}

impl super::FakeTwitchApi {
    /// Issues a valid token pair for `user_id` holding only `scopes`.
    pub fn issue_tokens_with_scopes(&self, user_id: &str, scopes: &[&str]) -> (String, String) {
        let scopes = scopes.iter().map(|s| (*s).to_string()).collect();
        self.state.auth().issue_scoped(user_id, scopes)
    }

    /// Takes `refresh` (and `access`, when given) as a grant `twitch-bot auth` saved earlier for
    /// `user_id`, holding every scope the bot's features use: tests choose the values, so they
    /// can look for them in the bot's output. Without `access` the saved access token has
    /// expired, and the bot's first use of it gets a 401 and refreshes.
    pub fn adopt_tokens(&self, user_id: &str, access: Option<&str>, refresh: &str) {
        let mut a = self.state.auth();
        let (issued_access, issued_refresh) = a.issue(user_id);
        let scopes = a.scopes_of(&issued_access);
        a.access.remove(&issued_access);
        a.refresh.remove(&issued_refresh);
        a.scopes.remove(&issued_access);
        a.scopes.remove(&issued_refresh);
        if let Some(access) = access {
            a.access.insert(access.to_string(), user_id.to_string());
            a.scopes.insert(access.to_string(), scopes.clone());
        }
        a.refresh.insert(refresh.to_string(), user_id.to_string());
        a.scopes.insert(refresh.to_string(), scopes);
    }

    /// Revokes one user's grant (as when they disconnect the app in Twitch's settings): their
    /// access and refresh tokens stop working, everyone else's go on.
    pub fn revoke_user(&self, user_id: &str) {
        let mut a = self.state.auth();
        a.access.retain(|_, u| u != user_id);
        a.refresh.retain(|_, u| u != user_id);
    }

    /// The scopes asked at each `/device` request so far, in order.
    pub fn asked_scopes(&self) -> Vec<Vec<String>> {
        self.state.auth().asked.clone()
    }

    /// Makes the fake application a Confidential one with `secret` (the client-credentials
    /// grant then answers to it), or a Public one without a secret.
    pub fn set_client_secret(&self, secret: Option<&str>) {
        self.state.auth().client_secret = secret.map(str::to_string);
    }

    /// How long app access tokens issued from now on last.
    pub fn set_app_token_lifetime(&self, lifetime: std::time::Duration) {
        self.state.auth().app_token_lifetime = lifetime;
    }

    /// Client-credentials grants answered with a token so far.
    pub fn app_token_grants(&self) -> u64 {
        self.state.auth().app_token_grants
    }
}

fn oauth_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"status": status.as_u16(), "message": message})),
    )
        .into_response()
}

pub(crate) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/oauth2/device", post(device))
        .route("/oauth2/token", post(token))
        .route("/oauth2/validate", get(validate))
        .route("/oauth2/revoke", post(revoke))
}

async fn device(
    State(st): State<Arc<ApiState>>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut a = st.auth();
    a.counter += 1;
    let code = format!("device-{}", a.counter);
    let polls = a.pending_polls;
    a.pending.insert(code.clone(), polls);
    // Twitch takes the scopes space-separated.
    let asked: Vec<String> = f
        .get("scopes")
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    a.asked.push(asked.clone());
    a.device_scopes.insert(code.clone(), asked);
    Json(json!({
        "device_code": code,
        "expires_in": 1800,
        "interval": 1,
        "user_code": format!("ABCD{:04}", a.counter),
        "verification_uri": format!("{}/activate?device-code=ABCD{:04}", st.base_url(), a.counter),
    }))
    .into_response()
}

async fn token(
    State(st): State<Arc<ApiState>>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut a = st.auth();
    let grant = f.get("grant_type").map(String::as_str).unwrap_or_default();
    match grant {
        "urn:ietf:params:oauth:grant-type:device_code" => {
            a.device_polls += 1;
            let code = f.get("device_code").cloned().unwrap_or_default();
            let Some(left) = a.pending.get_mut(&code) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid device code");
            };
            if *left > 0 {
                *left -= 1;
                return oauth_error(StatusCode::BAD_REQUEST, "authorization_pending");
            }
            a.pending.remove(&code);
            let scopes = a.device_scopes.remove(&code).unwrap_or_default();
            let user = if a.device_users.is_empty() {
                "1000".to_string()
            } else {
                a.device_users.remove(0)
            };
            let (access, refresh) = a.issue_scoped(&user, scopes.clone());
            Json(
                json!({"access_token": access, "refresh_token": refresh, "expires_in": 14400,
                "scope": scopes, "token_type": "bearer"}),
            )
            .into_response()
        }
        "refresh_token" => {
            a.refresh_calls += 1;
            let old = f.get("refresh_token").cloned().unwrap_or_default();
            // Public clients: the refresh token rotates, the old one stops working.
            let Some(user) = a.refresh.remove(&old) else {
                return oauth_error(StatusCode::BAD_REQUEST, "Invalid refresh token");
            };
            a.access.retain(|_, u| *u != user);
            // A refresh keeps the grant's scopes.
            let scopes = a.scopes_of(&old);
            let (access, refresh) = a.issue_scoped(&user, scopes.clone());
            Json(
                json!({"access_token": access, "refresh_token": refresh, "expires_in": 14400,
                "scope": scopes, "token_type": "bearer"}),
            )
            .into_response()
        }
        "authorization_code" => {
            let (access, refresh) = a.issue("1000");
            let scopes = a.scopes_of(&access);
            Json(
                json!({"access_token": access, "refresh_token": refresh, "expires_in": 14400,
                "scope": scopes, "token_type": "bearer"}),
            )
            .into_response()
        }
        "client_credentials" => client_credentials(&mut a, &f),
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported grant type"),
    }
}

/// The client-credentials grant: an app access token for the application's client id and
/// secret, with no refresh token and no scopes.
fn client_credentials(a: &mut AuthState, f: &HashMap<String, String>) -> Response {
    if f.get("client_id").is_none_or(String::is_empty) {
        return oauth_error(StatusCode::BAD_REQUEST, "missing client id");
    }
    let Some(given) = f.get("client_secret").filter(|s| !s.is_empty()) else {
        return oauth_error(StatusCode::BAD_REQUEST, "missing client secret");
    };
    if a.client_secret.as_deref() != Some(given.as_str()) {
        return oauth_error(StatusCode::FORBIDDEN, "invalid client secret");
    }
    a.counter += 1;
    a.app_token_grants += 1;
    let token = format!("app-{}", a.counter);
    let lifetime = a.app_token_lifetime;
    a.app_tokens
        .insert(token.clone(), std::time::Instant::now() + lifetime);
    a.access.insert(token.clone(), APP_USER.to_string());
    Json(json!({"access_token": token, "expires_in": lifetime.as_secs(), "token_type": "bearer"}))
        .into_response()
}

async fn validate(State(st): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    let mut a = st.auth();
    a.validate_calls += 1;
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("OAuth ")
                .or_else(|| v.strip_prefix("Bearer "))
        })
        .unwrap_or_default();
    if let Some(expires) = a.app_tokens.get(token).copied() {
        // An app token belongs to no user: Twitch answers without login and user id.
        let left = expires.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid access token");
        }
        return Json(
            json!({"client_id": "fakeclient", "scopes": [], "expires_in": left.as_secs()}),
        )
        .into_response();
    }
    match a.access.get(token).cloned() {
        Some(user) => {
            let scopes = a.scopes_of(token);
            drop(a);
            Json(
                json!({"client_id": "fakeclient", "login": st.login_of(&user),
                "user_id": user, "scopes": scopes, "expires_in": 14000}),
            )
            .into_response()
        }
        None => oauth_error(StatusCode::UNAUTHORIZED, "invalid access token"),
    }
}

async fn revoke(
    State(st): State<Arc<ApiState>>,
    Form(f): Form<HashMap<String, String>>,
) -> StatusCode {
    let token = f.get("token").cloned().unwrap_or_default();
    st.auth().access.remove(&token);
    StatusCode::OK
}
