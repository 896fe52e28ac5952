//! The simulated Twitch API server on 127.0.0.1: one port serving the fake Helix (`/helix`, this
//! file), OAuth (`/oauth2`, [`super::auth`]) and EventSub WebSocket (`/ws`,
//! [`super::eventsub`]), speaking Twitch's JSON and keeping Twitch's rate-limit bucket per user
//! (800 points a minute, one per request, 429 when empty) in its `Ratelimit-*` headers. `--offline` and the
//! tests point the real clients at it.
//!
//! This file holds the server and its state, with the switches tests turn; `request` is the way
//! every Helix request takes (token, client id, rate-limit bucket, injected failures, request
//! log, `Ratelimit-*` headers), `routes` the one flat table from method and path to the
//! endpoint, and `users`, `chat`, `moderation` and `eventsub` the endpoints by area (the
//! broadcaster's tools and Shield Mode are in [`super::broadcaster`] and [`super::shield`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::any;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::auth::AuthState;
use super::eventsub::EventSubState;

mod chat;
mod eventsub;
mod moderation;
mod request;
mod routes;
mod users;

pub(crate) use eventsub::sub_json;
pub use request::call_kind;
use request::helix_any;

/// How many requests [`FakeTwitchApi::requests`] keeps.
pub const REQUEST_LOG: usize = 50_000;

/// A request the fake Helix received.
#[derive(Debug, Clone, PartialEq)]
pub struct HelixRequest {
    /// `GET`, `POST`, ….
    pub method: String,
    /// Path after `/helix` (e.g. `/moderation/bans`).
    pub path: String,
    /// The query's pairs, in order.
    pub query: Vec<(String, String)>,
    /// The JSON body (`Null` when none or unreadable).
    pub body: Value,
    /// The bearer token it came with.
    pub token: String,
}

/// A created EventSub subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeSubscription {
    /// Its id (`sub-00000001`, …).
    pub id: String,
    /// Its subscription type (`channel.follow`, …).
    pub kind: String,
    /// The type's version.
    pub version: String,
    /// The condition as the client sent it.
    pub condition: Value,
    /// The WebSocket session it delivers to.
    pub session_id: String,
    /// `enabled` while it exists.
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
    /// When the live stream started (RFC 3339).
    pub stream_started_at: String,
    /// Who is in chat: (id, login), as Get Chatters pages them.
    pub chatters: Vec<(String, String)>,
    /// The channel's emote names (Get Channel Emotes).
    pub channel_emotes: Vec<String>,
    /// The global emote names (Get Global Emotes).
    pub global_emotes: Vec<String>,
    /// The request log, bounded by [`REQUEST_LOG`].
    pub requests: Vec<HelixRequest>,
    /// The EventSub subscriptions that exist now.
    pub subscriptions: Vec<FakeSubscription>,
    /// Subscription types refused with 403 and this message.
    pub refuse: HashMap<String, String>,
    /// Answer the next N requests with 429 (reset `reset_in_secs` ahead).
    pub throttle_next: u32,
    /// Seconds ahead an injected throttle's reset lies.
    pub reset_in_secs: u64,
    /// Answer the next N requests with `fail_status`.
    pub fail_next: u32,
    /// The status `fail_next` answers (503 unless set).
    pub fail_status: StatusCode,
    /// Answer every request with the status until then (an outage).
    pub fail_until: Option<(tokio::time::Instant, StatusCode)>,
    /// The `Ratelimit-Remaining` an injected throttle reports.
    pub remaining: u64,
    /// The last subscription number handed out.
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
    /// The OAuth side's state (tokens, grants, device codes).
    pub fn auth(&self) -> MutexGuard<'_, AuthState> {
        lock(&self.auth)
    }
    /// The fake Helix's data and switches.
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
    /// `http://127.0.0.1:<port>`, the base of every URL this server answers.
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
    /// The channel's login (the broadcaster's).
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
    /// Makes `user_id` one of the channel's moderators, or takes it away, as the broadcaster
    /// would on Twitch: a change (not a repeat) is sent as `channel.moderator.add` / `.remove`
    /// to the sessions subscribed for the channel, and the fake chat linked with
    /// [`FakeTwitchApi::post_chat_to`] gives the user's USERSTATE the badge (or takes it away).
    pub fn set_moderator(&self, user_id: &str, moderator: bool) {
        let mut h = self.state.helix();
        apply_moderator(&self.state, &mut h, user_id, moderator);
    }
    /// [`FakeTwitchApi::set_moderator`] for the user `login` (a viewer the fake does not know
    /// yet joins its users with `id`); returns how many EventSub sockets were told.
    pub fn set_moderator_login(&self, login: &str, id: &str, moderator: bool) -> usize {
        let mut h = self.state.helix();
        let login = login.to_ascii_lowercase();
        let user_id = match h.users.iter().find(|(_, l)| *l == login) {
            Some((known, _)) => known.clone(),
            None => {
                h.users.push((id.to_owned(), login));
                id.to_owned()
            }
        };
        apply_moderator(&self.state, &mut h, &user_id, moderator)
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

/// Makes `user_id` a moderator of the channel or takes it away; when that changes anything,
/// tells the linked fake chat and sends `channel.moderator.add` / `.remove` (payload as Twitch's:
/// the broadcaster's and the user's id, login and name) to the sessions subscribed with the
/// channel's `broadcaster_user_id` (subscriptions Twitch only allows with the broadcaster's
/// `moderation:read` or `channel:manage:moderators`). Returns how many sockets were told.
pub(crate) fn apply_moderator(
    st: &ApiState,
    h: &mut HelixData,
    user_id: &str,
    moderator: bool,
) -> usize {
    let was = h.moderators.iter().any(|m| m == user_id);
    h.moderators.retain(|m| m != user_id);
    if moderator {
        h.moderators.push(user_id.to_owned());
    }
    if was == moderator {
        return 0;
    }
    let login_of = |id: &str| {
        h.users
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| id.to_owned())
    };
    let (login, channel) = (login_of(user_id), login_of(BROADCASTER_ID));
    if let Some(room) = st.auth().chat.room.clone() {
        room.set_moderator(&login, moderator);
    }
    let event = serde_json::json!({
        "broadcaster_user_id": BROADCASTER_ID,
        "broadcaster_user_login": channel,
        "broadcaster_user_name": channel,
        "user_id": user_id,
        "user_login": login,
        "user_name": login,
    });
    let kind = if moderator {
        "channel.moderator.add"
    } else {
        "channel.moderator.remove"
    };
    super::eventsub::notify_channel_now(&st.eventsub, h, kind, &event)
}

fn server_error(status: u16) -> StatusCode {
    StatusCode::from_u16(status)
        .ok()
        .filter(StatusCode::is_server_error)
        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
}
