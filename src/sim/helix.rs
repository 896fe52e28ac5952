//! The simulated Twitch API server on 127.0.0.1: one port serving the fake Helix (`/helix`, this
//! file), OAuth (`/oauth2`, [`super::auth`]) and EventSub WebSocket (`/ws`,
//! [`super::eventsub`]), speaking Twitch's JSON and keeping Twitch's rate-limit bucket per user
//! (800 points a minute, one per request, 429 when empty) in its `Ratelimit-*` headers. `--offline` and the
//! tests point the real clients at it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::auth::AuthState;
use super::eventsub::EventSubState;

/// How many requests [`FakeTwitchApi::requests`] keeps.
pub const REQUEST_LOG: usize = 50_000;

/// A request the fake Helix received.
#[derive(Debug, Clone, PartialEq)]
pub struct HelixRequest {
    pub method: String,
    /// Path after `/helix` (e.g. `/moderation/bans`).
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Value,
    pub token: String,
}

/// A created EventSub subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeSubscription {
    pub id: String,
    pub kind: String,
    pub version: String,
    pub condition: Value,
    pub session_id: String,
    pub status: String,
}

/// The fake's data and switches.
#[derive(Debug)]
pub struct HelixData {
    /// Users: (id, login).
    pub users: Vec<(String, String)>,
    /// Viewer count when live; `None` when offline.
    pub live_viewers: Option<u64>,
    /// The live stream's id and start time (RFC 3339), as Get Streams reports them.
    pub stream_id: String,
    pub stream_started_at: String,
    pub chatters: Vec<(String, String)>,
    pub channel_emotes: Vec<String>,
    pub global_emotes: Vec<String>,
    pub requests: Vec<HelixRequest>,
    pub subscriptions: Vec<FakeSubscription>,
    /// Subscription types refused with 403 and this message.
    pub refuse: HashMap<String, String>,
    /// Answer the next N requests with 429 (reset `reset_in_secs` ahead).
    pub throttle_next: u32,
    pub reset_in_secs: u64,
    /// Answer the next N requests with `fail_status`.
    pub fail_next: u32,
    /// The status `fail_next` answers (503 unless set).
    pub fail_status: StatusCode,
    /// Answer every request with the status until then (an outage).
    pub fail_until: Option<(tokio::time::Instant, StatusCode)>,
    pub remaining: u64,
    pub counter: u64,
    /// Blocks made with `PUT /users/blocks`: (blocking user's id, blocked user's id).
    pub blocks: Vec<(String, String)>,
    /// The channel's moderators besides the broadcaster (the bot is one unless a test says not).
    pub moderators: Vec<String>,
    /// Native warnings given: (user id, reason).
    pub warnings: Vec<(String, String)>,
    /// Requests by kind and answer status, never trimmed (see [`call_kind`]).
    pub tally: HashMap<(String, u16), u64>,
}

/// Shared state of the whole fake API.
#[derive(Debug)]
pub struct ApiState {
    addr: SocketAddr,
    auth: Mutex<AuthState>,
    helix: Mutex<HelixData>,
    pub(crate) eventsub: EventSubState,
    defences: Mutex<super::shield::Defences>,
    /// Title, category, clips, polls and predictions.
    channel: Mutex<super::broadcaster::Channel>,
    /// Accounts banned or timed out through this Helix (Twitch's delivery rule reads it).
    punished: super::punished::Punishments,
    /// Helix's points buckets, one per token's user and client id.
    buckets: Mutex<super::bucket::Buckets>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ApiState {
    pub fn auth(&self) -> MutexGuard<'_, AuthState> {
        lock(&self.auth)
    }
    pub fn helix(&self) -> MutexGuard<'_, HelixData> {
        lock(&self.helix)
    }
    /// Shield Mode, chat settings and followers.
    pub fn defences(&self) -> MutexGuard<'_, super::shield::Defences> {
        lock(&self.defences)
    }
    /// The broadcaster's channel (title, category, clips, polls, predictions).
    pub fn channel(&self) -> MutexGuard<'_, super::broadcaster::Channel> {
        lock(&self.channel)
    }
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub(crate) fn login_of(&self, id: &str) -> String {
        self.helix()
            .users
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    }
}

/// Options for [`FakeTwitchApi::start`].
#[derive(Debug, Clone)]
pub struct FakeApiOptions {
    /// The bot's and the broadcaster's logins (ids `1000` and `2000`).
    pub bot_login: String,
    pub channel: String,
    /// `authorization_pending` answers before each device code is approved.
    pub pending_polls: u32,
    /// Keepalive timeout announced in `session_welcome`, seconds.
    pub keepalive_secs: u64,
}

impl Default for FakeApiOptions {
    fn default() -> Self {
        FakeApiOptions {
            bot_login: "mybot".into(),
            channel: "mychannel".into(),
            pending_polls: 2,
            keepalive_secs: 10,
        }
    }
}

/// The user id of the fake bot account.
pub const BOT_ID: &str = "1000";
/// The user id of the fake broadcaster.
pub const BROADCASTER_ID: &str = "2000";

/// The running fake API (Helix + OAuth + EventSub). Dropping it stops the server.
#[derive(Debug)]
pub struct FakeTwitchApi {
    pub(crate) state: Arc<ApiState>,
    stop: CancellationToken,
}

impl Drop for FakeTwitchApi {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl FakeTwitchApi {
    /// Starts the server on 127.0.0.1:0.
    ///
    /// # Errors
    /// When the port cannot be bound.
    pub async fn start(options: FakeApiOptions) -> std::io::Result<FakeTwitchApi> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // Answers leave at once: without TCP_NODELAY a response written in two parts waits for
        // the client's delayed ACK (40 ms on Linux), a delay of the fake, not of Twitch.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let auth = AuthState {
            pending_polls: options.pending_polls,
            device_users: vec![BOT_ID.into(), BROADCASTER_ID.into()],
            ..AuthState::default()
        };
        let helix = HelixData {
            users: vec![
                (BOT_ID.into(), options.bot_login.to_lowercase()),
                (BROADCASTER_ID.into(), options.channel.to_lowercase()),
                ("3000".into(), "viewer_one".into()),
            ],
            live_viewers: None,
            stream_id: "40000000001".into(),
            stream_started_at: "2026-01-01T00:00:00Z".into(),
            chatters: vec![("3000".into(), "viewer_one".into())],
            channel_emotes: vec!["mychanHype".into()],
            global_emotes: vec!["Kappa".into(), "LUL".into()],
            requests: Vec::new(),
            subscriptions: Vec::new(),
            refuse: HashMap::new(),
            throttle_next: 0,
            reset_in_secs: 1,
            fail_next: 0,
            fail_status: StatusCode::SERVICE_UNAVAILABLE,
            fail_until: None,
            remaining: 800,
            counter: 0,
            blocks: Vec::new(),
            moderators: vec![BOT_ID.into()],
            warnings: Vec::new(),
            tally: HashMap::new(),
        };
        let state = Arc::new(ApiState {
            addr,
            auth: Mutex::new(auth),
            helix: Mutex::new(helix),
            eventsub: EventSubState::new(options.keepalive_secs),
            defences: Mutex::default(),
            channel: Mutex::default(),
            punished: super::punished::Punishments::default(),
            buckets: Mutex::new(super::bucket::Buckets::default()),
        });
        let app = Router::new()
            .route("/helix/{*rest}", any(helix_any))
            .merge(super::auth::routes())
            .merge(super::eventsub::routes())
            .with_state(state.clone());
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { s.cancelled().await })
                .await;
        });
        Ok(FakeTwitchApi { state, stop })
    }

    /// `http://127.0.0.1:PORT/helix`
    pub fn helix_url(&self) -> String {
        format!("{}/helix", self.state.base_url())
    }
    /// `http://127.0.0.1:PORT/oauth2`
    pub fn auth_url(&self) -> String {
        format!("{}/oauth2", self.state.base_url())
    }
    /// `ws://127.0.0.1:PORT/ws`
    pub fn eventsub_url(&self) -> String {
        format!("ws://{}/ws", self.state.addr)
    }

    /// Points `bot`'s Twitch API URLs at this fake and gives `secrets` a client id and valid
    /// tokens for both accounts: what `--offline` needs to run the real API code paths.
    pub fn configure(
        &self,
        bot: &mut crate::config::BotConfig,
        secrets: &mut crate::config::Secrets,
    ) {
        bot.twitch.helix_url = self.helix_url();
        bot.twitch.auth_url = self.auth_url();
        bot.twitch.eventsub_url = self.eventsub_url();
        bot.twitch.eventsub_subscriptions_url = None;
        secrets.client_id = "fakeclient".into();
        let (a, r) = self.issue_tokens(BOT_ID);
        secrets.bot.access_token = a;
        secrets.bot.refresh_token = r;
        secrets.bot.scopes = self.scopes_of(&secrets.bot.access_token);
        let (a, r) = self.issue_tokens(BROADCASTER_ID);
        secrets.broadcaster.access_token = a;
        secrets.broadcaster.refresh_token = r;
        secrets.broadcaster.scopes = self.scopes_of(&secrets.broadcaster.access_token);
    }

    /// Blocks made with `PUT /users/blocks`: (blocking user's id, blocked user's id).
    pub fn blocks(&self) -> Vec<(String, String)> {
        self.state.helix().blocks.clone()
    }

    /// The scopes `token`'s grant holds (what `twitch-bot auth` saves beside it).
    pub fn scopes_of(&self, token: &str) -> Vec<String> {
        self.state
            .auth()
            .scopes
            .get(token)
            .cloned()
            .unwrap_or_default()
    }

    /// Issues a valid token pair for `user_id` (what `twitch-bot auth` would have saved).
    pub fn issue_tokens(&self, user_id: &str) -> (String, String) {
        self.state.auth().issue(user_id)
    }
    /// Makes every access token invalid (as after a few hours): the next call gets 401.
    pub fn expire_access_tokens(&self) {
        self.state.auth().access.clear();
    }
    /// Revokes everything: access and refresh tokens stop working.
    pub fn revoke_all(&self) {
        let mut a = self.state.auth();
        a.access.clear();
        a.refresh.clear();
    }
    /// How many `/validate` calls arrived.
    pub fn validate_calls(&self) -> u64 {
        self.state.auth().validate_calls
    }
    /// How many device-code polls arrived.
    pub fn device_polls(&self) -> u64 {
        self.state.auth().device_polls
    }
    /// How many refreshes arrived.
    pub fn refresh_calls(&self) -> u64 {
        self.state.auth().refresh_calls
    }
    /// Whether `token` is a currently valid refresh token.
    pub fn refresh_token_valid(&self, token: &str) -> bool {
        self.state.auth().refresh.contains_key(token)
    }
    /// Answer the next `n` Helix requests with 429, reset `reset_in_secs` ahead.
    pub fn throttle_next(&self, n: u32, reset_in_secs: u64) {
        let mut h = self.state.helix();
        h.throttle_next = n;
        h.reset_in_secs = reset_in_secs;
    }
    /// Answer the next `n` Helix requests with 503.
    pub fn fail_next(&self, n: u32) {
        self.fail_next_with(n, 503);
    }
    /// Answer the next `n` Helix requests with `status` (a 5xx, as Twitch's gateway does when
    /// it is in trouble; any other status is taken as 503).
    pub fn fail_next_with(&self, n: u32, status: u16) {
        let mut h = self.state.helix();
        h.fail_next = n;
        h.fail_status = server_error(status);
    }
    /// An outage: every Helix request answers `status` (a 5xx; anything else is taken as 503)
    /// for `length` from now, then the API works again.
    pub fn fail_for(&self, length: std::time::Duration, status: u16) {
        self.state.helix().fail_until =
            Some((tokio::time::Instant::now() + length, server_error(status)));
    }
    /// Ends every injected Helix fault (failures, outage, throttling) at once.
    pub fn heal(&self) {
        let mut h = self.state.helix();
        h.fail_next = 0;
        h.fail_until = None;
        h.throttle_next = 0;
    }
    /// Sets the stream live with `viewers`, or offline with `None`.
    pub fn set_live(&self, viewers: Option<u64>) {
        self.state.helix().live_viewers = viewers;
    }
    /// Starts a stream `id` (started now) with `viewers`.
    pub fn start_stream(&self, id: &str, viewers: u64) {
        let mut h = self.state.helix();
        h.stream_id = id.to_owned();
        h.stream_started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        h.live_viewers = Some(viewers);
    }
    /// Adds `n` viewers to a live stream (a raid, a new chatter).
    pub fn add_viewers(&self, n: u64) {
        if let Some(v) = self.state.helix().live_viewers.as_mut() {
            *v += n;
        }
    }
    /// Refuses subscriptions of `kind` with 403 and `message`.
    pub fn refuse_subscription(&self, kind: &str, message: &str) {
        self.state
            .helix()
            .refuse
            .insert(kind.into(), message.into());
    }
    /// Replaces the chatter list with `n` generated viewers.
    pub fn set_chatters(&self, n: usize) {
        self.state.helix().chatters = (0..n)
            .map(|i| (format!("{}", 10_000 + i), format!("viewer{i}")))
            .collect();
    }
    /// Sets the points each user's bucket holds and how many seconds it takes to refill once
    /// spent (Twitch: 800 a minute).
    pub fn set_rate_limit(&self, points: u64, window_secs: u64) {
        lock(&self.state.buckets).set_limit(points, window_secs);
    }
    /// Requests answered 429 because their user's bucket was empty (not [`Self::throttle_next`]).
    pub fn rate_limited(&self) -> u64 {
        lock(&self.state.buckets).refused()
    }
    /// Makes `user_id` one of the channel's moderators, or takes it away.
    pub fn set_moderator(&self, user_id: &str, moderator: bool) {
        let mut h = self.state.helix();
        h.moderators.retain(|m| m != user_id);
        if moderator {
            h.moderators.push(user_id.to_owned());
        }
    }
    /// The native warnings Twitch accepted: (user id, reason).
    pub fn warnings(&self) -> Vec<(String, String)> {
        self.state.helix().warnings.clone()
    }
    /// Every Helix request so far.
    pub fn requests(&self) -> Vec<HelixRequest> {
        self.state.helix().requests.clone()
    }
    /// Accounts banned or timed out through this fake, shared: give it to a fake chat
    /// ([`super::FakeChat::apply_punishments`]) so their later lines are not delivered.
    pub fn punishments(&self) -> super::punished::Punishments {
        self.state.punished.clone()
    }
    /// Every request so far by kind ([`call_kind`]) and answer status.
    pub fn tally(&self) -> HashMap<(String, u16), u64> {
        self.state.helix().tally.clone()
    }
    /// The EventSub subscriptions that exist now.
    pub fn subscriptions(&self) -> Vec<FakeSubscription> {
        self.state.helix().subscriptions.clone()
    }
}

fn server_error(status: u16) -> StatusCode {
    StatusCode::from_u16(status)
        .ok()
        .filter(StatusCode::is_server_error)
        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
}

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

fn error(status: StatusCode, message: &str) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    (
        status,
        Json(json!({"error": reason, "status": status.as_u16(), "message": message})),
    )
        .into_response()
}

fn q<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

async fn helix_any(
    State(st): State<Arc<ApiState>>,
    method: Method,
    uri: Uri,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
        let caller = Caller {
            user: &user,
            scopes: &scopes,
        };
        if (method.as_str(), path.as_str()) == ("POST", "/moderation/warnings") {
            warn_chat_user(&mut h, &query, &body, &user, &scopes)
        } else {
            super::shield::route(&st, &method, &path, &query, &body, &user, &token)
                .or_else(|| super::chat_send::route(&st, &mut h, &method, &path, &body, &token))
                .or_else(|| {
                    let client = headers.get("client-id").and_then(|v| v.to_str().ok());
                    super::broadcaster::route(
                        &st,
                        &mut h,
                        &method,
                        &path,
                        &query,
                        &body,
                        (&user, &token, client.unwrap_or_default()),
                    )
                })
                .unwrap_or_else(|| route(&st, &mut h, &method, &path, &query, &body, &caller))
        }
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
    resp
}

/// Charges one point to the bucket of the token's user and client id.
fn charge_bucket(st: &ApiState, headers: &HeaderMap, user: &str) -> super::bucket::Charge {
    let client = headers
        .get("client-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    lock(&st.buckets).charge(&format!("{client}:{user}"), std::time::Instant::now())
}

/// A request's kind for [`FakeTwitchApi::tally`]: `METHOD /path`, with `POST /moderation/bans`
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

/// `POST /moderation/bans` as Twitch applies it: the account's later lines are not delivered
/// (until a timeout ends); no user, or a user banned already, is a 400.
fn punish(st: &ApiState, query: &[(String, String)], body: &Value) -> Response {
    use super::punished::Refused;
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

fn page(data: Vec<Value>) -> Response {
    Json(json!({"data": data, "pagination": {}})).into_response()
}

/// Who makes a request: the token's user and the scopes its grant holds.
struct Caller<'a> {
    user: &'a str,
    scopes: &'a [String],
}

/// Twitch's answer when the token lacks `scope`: 401 naming it.
fn missing_scope(caller: &Caller<'_>, scope: &str) -> Option<Response> {
    (!caller.scopes.iter().any(|s| s == scope))
        .then(|| error(StatusCode::UNAUTHORIZED, &format!("Missing scope: {scope}")))
}

/// `PUT /users/blocks`: the token's user blocks `target_user_id`. As on Twitch: the scope
/// `user:manage:blocked_users`, a required `target_user_id`, and `source_context` (`chat`,
/// `whisper`) and `reason` (`harassment`, `spam`, `other`) only from their lists; 204.
fn block_user(h: &mut HelixData, query: &[(String, String)], caller: &Caller<'_>) -> Response {
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

fn route(
    st: &ApiState,
    h: &mut HelixData,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    body: &Value,
    caller: &Caller<'_>,
) -> Response {
    let user = caller.user;
    match (method.as_str(), path) {
        ("PUT", "/users/blocks") => block_user(h, query, caller),
        ("GET", "/users") => {
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
        ("GET", "/streams") => {
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
            page(data.into_iter().collect())
        }
        ("GET", "/chat/chatters") => {
            // Real pagination: `first` per page (max 1,000), `after` is an opaque cursor.
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
            Json(json!({"data": data, "pagination": pagination, "total": h.chatters.len()}))
                .into_response()
        }
        ("GET", "/chat/emotes") | ("GET", "/chat/emotes/global") => {
            let list = if path.ends_with("global") {
                &h.global_emotes
            } else {
                &h.channel_emotes
            };
            let data: Vec<Value> = list.iter().enumerate().map(|(i, n)| json!({"id": format!("{i}"), "name": n,
                "images": {}, "format": ["static"], "scale": ["1.0"], "theme_mode": ["light", "dark"]})).collect();
            Json(json!({"data": data, "template": "https://static-cdn.jtvnw.net/emoticons/v2/{{id}}/{{format}}/{{theme_mode}}/{{scale}}"})).into_response()
        }
        ("POST", "/moderation/bans") => punish(st, query, body),
        ("DELETE", "/moderation/bans") => {
            st.punished.lift(q(query, "user_id").unwrap_or_default());
            StatusCode::NO_CONTENT.into_response()
        }
        // The broadcaster's tools (channel, markers, whispers, rewards, ...) are in
        // `super::broadcaster`.
        ("DELETE", "/moderation/chat")
        | ("POST", "/chat/announcements")
        | ("POST", "/chat/shoutouts") => StatusCode::NO_CONTENT.into_response(),
        ("POST", "/eventsub/subscriptions") => {
            super::chat_events::check_subscription(st, body, caller.user, caller.scopes)
                .unwrap_or_else(|| create_subscription(st, h, body))
        }
        ("GET", "/eventsub/subscriptions") => {
            let data = h.subscriptions.iter().map(sub_json).collect::<Vec<_>>();
            Json(json!({"data": data, "total": data.len(), "total_cost": 0, "max_total_cost": 10, "pagination": {}})).into_response()
        }
        ("DELETE", "/eventsub/subscriptions") => {
            let id = q(query, "id").unwrap_or_default();
            let before = h.subscriptions.len();
            h.subscriptions.retain(|s| s.id != id);
            if h.subscriptions.len() == before {
                error(StatusCode::NOT_FOUND, "subscription not found")
            } else {
                StatusCode::NO_CONTENT.into_response()
            }
        }
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// `POST /moderation/warnings` with Twitch's checks: the scope, the moderator is the token's
/// user and one of the channel's moderators, the user exists, a reason of at most 500
/// characters.
fn warn_chat_user(
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

pub(crate) fn sub_json(s: &FakeSubscription) -> Value {
    json!({"id": s.id, "status": s.status, "type": s.kind, "version": s.version, "condition": s.condition,
        "created_at": "2026-01-01T00:00:00Z", "cost": 0,
        "transport": {"method": "websocket", "session_id": s.session_id, "connected_at": "2026-01-01T00:00:00Z"}})
}

fn create_subscription(st: &ApiState, h: &mut HelixData, body: &Value) -> Response {
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
