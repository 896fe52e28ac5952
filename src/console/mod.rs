//! The web console: a token-protected page and JSON HTTP API to watch and drive the bot.
//!
//! The console knows the rest of the bot only through [`ConsoleBackend`], so it can be served
//! (and tested) without chat, scripts or storage running. It owns: the HTTP server
//! ([`server`]), the API handlers and request checks ([`api`]), login and request authorisation
//! ([`auth`]) and the embedded page (`static/`). It must not reach into other modules' state.
//!
//! Security in one paragraph: every request, the page included, needs either
//! `Authorization: Bearer <console_token>` (for programs) or the session cookie that a one-time
//! login link or the pasted token sets (for browsers). The `Host` header must name the console
//! itself (DNS rebinding gets 421), actions need a JSON body, a browser's action must carry the
//! console's own `Origin`, failed token checks are throttled per address, and there are no CORS
//! headers, so other web sites can neither read nor drive it.

pub mod api;
pub mod auth;
pub mod commands_api;
pub mod link;
pub mod scripts;
pub mod server;
pub mod terminal;
mod tls;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::event::{ChannelEvent, ConnectionState, Service};
use crate::scripting::files::{SaveOutcome, ScriptFiles, ScriptText};

pub use crate::event::LiveEvent;
pub use crate::sim::requests::SimChat;
pub use auth::generate_token;
pub use link::request_login_link;
pub use server::{Console, ServeError, bind, open_in_browser, serve, serve_supervised};

/// A boxed future, so [`ConsoleBackend`] stays usable as `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the console may ask of the running bot. The app implements it; tests use fakes.
///
/// Every method answers with a typed result; [`ConsoleError`] becomes a JSON error with the
/// matching HTTP status.
pub trait ConsoleBackend: Send + Sync + 'static {
    /// The channel, the bot's login and whether this is an `--offline` run.
    fn info(&self) -> BotInfo;

    /// The state of every connection the bot tracks, with its last error.
    fn health(&self) -> Vec<ServiceHealth>;

    /// The follow-bot wave lasting now, or the last one (`None`: no detection here).
    fn follow_waves(&self) -> Option<crate::moderation::waves::WaveStatus> {
        None
    }

    /// Ends the follow-bot wave lasting now (its held points are then paid or dropped as
    /// configured); `false` when none lasts.
    fn end_follow_wave(&self) -> bool {
        false
    }

    /// A live feed of everything the bot sees and does, for the event log.
    fn subscribe_events(&self) -> broadcast::Receiver<LiveEvent>;

    /// The loaded scripts and the reload counter.
    fn scripts(&self) -> BoxFuture<'_, Result<ScriptsReport, ConsoleError>>;

    /// Reloads every script now and says what happened.
    fn reload_scripts(&self) -> BoxFuture<'_, Result<ReloadReport, ConsoleError>>;

    /// The `.rhai` files under the scripts folder with their load status; `None` when this
    /// backend edits no scripts.
    fn script_files(&self) -> BoxFuture<'_, Option<ScriptFiles>> {
        Box::pin(async { None })
    }

    /// One script's source and stamp (`path` is relative to the scripts folder).
    fn script_source(&self, path: String) -> BoxFuture<'_, Result<ScriptText, ConsoleError>> {
        let _ = path;
        Box::pin(async { Err(scripts::no_editor()) })
    }

    /// Saves a script once it compiles and its file still has the stamp `modified`.
    fn save_script(
        &self,
        path: String,
        source: String,
        modified: String,
    ) -> BoxFuture<'_, Result<SaveOutcome, ConsoleError>> {
        let _ = (path, source, modified);
        Box::pin(async { Err(scripts::no_editor()) })
    }

    /// Creates `<kind>/<name>.rhai` from a bundled example; never replaces a file.
    fn new_script(
        &self,
        kind: String,
        name: String,
        template: String,
    ) -> BoxFuture<'_, Result<SaveOutcome, ConsoleError>> {
        let _ = (kind, name, template);
        Box::pin(async { Err(scripts::no_editor()) })
    }

    /// Re-reads `configs/*.yaml`; a broken file keeps the previous config running.
    fn reload_configs(&self) -> BoxFuture<'_, Result<ConfigReport, ConsoleError>>;

    /// Sends a chat message as the bot.
    fn say(&self, text: String) -> BoxFuture<'_, Result<(), ConsoleError>>;

    /// Sends a message to a configured Discord webhook or channel (`None`: the default one).
    fn discord(
        &self,
        text: String,
        target: Option<String>,
    ) -> BoxFuture<'_, Result<(), ConsoleError>>;

    /// Publishes a message on the ZeroMQ socket.
    fn zmq(
        &self,
        topic: String,
        data: serde_json::Value,
    ) -> BoxFuture<'_, Result<(), ConsoleError>>;

    /// Connects to OBS now.
    fn obs_connect(&self) -> BoxFuture<'_, Result<(), ConsoleError>>;

    /// Disconnects from OBS (and stops retrying until connected again).
    fn obs_disconnect(&self) -> BoxFuture<'_, Result<(), ConsoleError>>;

    /// A viewer's stored record (points, watch time, ...); `None` when unknown.
    fn user(&self, login: String)
    -> BoxFuture<'_, Result<Option<serde_json::Value>, ConsoleError>>;

    /// The `n` viewers with the most points, highest first.
    fn leaderboard(&self, n: usize) -> BoxFuture<'_, Result<Vec<LeaderboardEntry>, ConsoleError>>;

    /// Stream statistics: past streams with their totals and chart addresses, and the live one.
    fn stats(&self) -> BoxFuture<'_, Result<serde_json::Value, ConsoleError>>;

    /// One stream's chart as an SVG document; `stream` is its id, its report name
    /// (`<date>-<id>`) or `live`. A backend without stats answers 404.
    fn stats_chart(&self, stream: String) -> BoxFuture<'_, Result<String, ConsoleError>> {
        Box::pin(async move {
            Err(ConsoleError::NotFound(format!(
                "no chart for stream `{stream}`"
            )))
        })
    }

    /// Offline mode only (the server checks [`BotInfo::offline`] first): a viewer says `text`.
    fn sim_chat(&self, chat: SimChat) -> BoxFuture<'_, Result<(), ConsoleError>>;

    /// Offline mode only: a channel event, as EventSub would deliver it.
    fn sim_event(&self, event: ChannelEvent) -> BoxFuture<'_, Result<(), ConsoleError>>;

    /// Offline mode only: starts a spam raid (it runs on after the answer).
    fn sim_raid(&self, raid: crate::sim::SpamRaid) -> Result<(), ConsoleError> {
        let _ = raid;
        Err(ConsoleError::Conflict(
            "the simulator works only in --offline mode".into(),
        ))
    }

    /// Raid mode's state (`moderation::raid::Status` as JSON); `None` when the backend has
    /// no raid mode.
    fn raid_mode(&self) -> Option<serde_json::Value> {
        None
    }

    /// Ends raid mode now, restoring the chat settings and Shield Mode; `false` when it was
    /// not on.
    fn end_raid_mode(&self) -> Result<bool, ConsoleError> {
        Err(ConsoleError::Unavailable(
            "this console has no raid mode".into(),
        ))
    }

    /// How the console is served (TLS, proxy, host name, session lifetime), read once at start.
    fn console_settings(&self) -> ConsoleSettings {
        ConsoleSettings::default()
    }

    /// Stores a new console token ("sign out everywhere"); the old one stops working only once
    /// this succeeded. A backend that cannot store it answers 503.
    fn save_console_token(&self, token: String) -> BoxFuture<'_, Result<(), ConsoleError>> {
        let _ = token;
        Box::pin(async {
            Err(ConsoleError::Unavailable(
                "this console cannot store a new token".into(),
            ))
        })
    }

    // Text commands, regulars and the scripts' stores. A backend without them answers 503.

    /// Every text command, by name.
    fn text_commands(&self) -> BoxFuture<'_, Result<Vec<TextCommand>, ConsoleError>> {
        Box::pin(async { Err(no_data("text commands")) })
    }

    /// Creates or changes the text command `name` (400: bad text, 409: name taken).
    fn save_text_command(
        &self,
        name: String,
        update: crate::commands::Update,
    ) -> BoxFuture<'_, Result<TextCommand, ConsoleError>> {
        let _ = (name, update);
        Box::pin(async { Err(no_data("text commands")) })
    }

    /// Deletes the text command `name` (404 when there is none).
    fn delete_text_command(&self, name: String) -> BoxFuture<'_, Result<(), ConsoleError>> {
        let _ = name;
        Box::pin(async { Err(no_data("text commands")) })
    }

    /// The regulars, by login.
    fn regulars(
        &self,
    ) -> BoxFuture<'_, Result<Vec<crate::commands::regulars::Regular>, ConsoleError>> {
        Box::pin(async { Err(no_data("regulars")) })
    }

    /// Adds (`add`) or removes the regular `login`.
    fn set_regular(&self, login: String, add: bool) -> BoxFuture<'_, Result<(), ConsoleError>> {
        let _ = (login, add);
        Box::pin(async { Err(no_data("regulars")) })
    }

    /// One script's store (`script`: its name, such as `quote`, or its key `commands/quote`):
    /// (key, value) in key order.
    fn script_store(
        &self,
        script: String,
    ) -> BoxFuture<'_, Result<Vec<(String, serde_json::Value)>, ConsoleError>> {
        let _ = script;
        Box::pin(async { Err(no_data("script stores")) })
    }

    /// Sets (`Some`) or removes (`None`) one key of a script's store, within its quota (409
    /// when full).
    fn set_script_store(
        &self,
        script: String,
        key: String,
        value: Option<serde_json::Value>,
    ) -> BoxFuture<'_, Result<(), ConsoleError>> {
        let _ = (script, key, value);
        Box::pin(async { Err(no_data("script stores")) })
    }
}

/// A text command as the console shows it.
pub type TextCommand = crate::commands::TextCommand;

fn no_data(what: &str) -> ConsoleError {
    ConsoleError::Unavailable(format!("this console has no {what}"))
}

/// How the console is served: `console.*` in configs/bot.yaml, with paths resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// PEM certificate chain and private key: serve HTTPS.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// A reverse proxy serves HTTPS in front: cookies are `Secure` though the console speaks HTTP.
    pub behind_proxy: bool,
    /// The host name browsers use from elsewhere, accepted in `Host` besides loopback.
    pub public_name: Option<String>,
    /// How long a browser session lasts without use.
    pub session_hours: u32,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            tls: None,
            behind_proxy: false,
            public_name: None,
            session_hours: 12,
        }
    }
}

/// Who and where the bot is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BotInfo {
    /// The bot account's login.
    pub bot: String,
    /// The channel joined, without `#`.
    pub channel: String,
    /// `--offline`: the simulated Twitch is in use and the simulator panel is on.
    pub offline: bool,
}

/// One connection's health as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceHealth {
    /// Which connection.
    pub service: Service,
    /// `connected`, `reconnecting`, `down`, `off` (switched off) or `unknown` (no news yet).
    pub state: &'static str,
    /// The last error seen, kept after the connection recovers.
    pub last_error: Option<String>,
    /// One line of detail (chat: the transport taken and why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ServiceHealth {
    /// Maps the dispatcher's view of a connection (`None`: no news yet) to the console's.
    pub fn from_state(
        service: Service,
        state: Option<&ConnectionState>,
        last_error: Option<String>,
    ) -> ServiceHealth {
        let (state, reason) = match state {
            None => ("unknown", None),
            Some(ConnectionState::Connected) => ("connected", None),
            Some(ConnectionState::Reconnecting { reason, .. }) => ("reconnecting", Some(reason)),
            Some(ConnectionState::Down { reason }) => ("down", Some(reason)),
        };
        ServiceHealth {
            service,
            state,
            last_error: last_error.or_else(|| reason.cloned()),
            note: None,
        }
    }

    /// A subsystem switched off by flag or config.
    pub fn off(service: Service) -> ServiceHealth {
        ServiceHealth {
            service,
            state: "off",
            last_error: None,
            note: None,
        }
    }
}

/// A script's compile or run-time error, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptError {
    /// The script's path, relative to the scripts folder (`commands/dice.rhai`).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// One loaded script.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScriptInfo {
    /// The file name without `.rhai`: the command, timer or event name.
    pub name: String,
    /// `command`, `timer`, `event`, `module`, ...: the folder it lives in.
    pub kind: String,
    /// The script's settings (permission, cooldown, interval, ...) as the script declared them.
    pub settings: BTreeMap<String, serde_json::Value>,
    /// The last compile or run-time error; `None` when it last loaded and ran cleanly.
    pub error: Option<ScriptError>,
}

/// The scripts and how often they were reloaded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScriptsReport {
    /// Reloads since start, by the file watcher or the console.
    pub reloads: u64,
    /// When the last reload happened, in milliseconds since the Unix epoch.
    pub last_reload_ms: Option<u64>,
    /// Every script with its state and last error.
    pub scripts: Vec<ScriptInfo>,
}

/// What one reload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    /// The reload counter after this reload.
    pub reloads: u64,
    /// When it happened, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Scripts now loaded.
    pub loaded: usize,
    /// Scripts that failed to compile (the previous version of each keeps running).
    pub errors: Vec<ScriptError>,
}

/// What a config reload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigReport {
    /// Config reloads since start.
    pub reloads: u64,
    /// When it happened, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `file:line:col: key: what is wrong` for each problem; empty when the new config is in use.
    pub errors: Vec<String>,
}

/// A row of the points leaderboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaderboardEntry {
    /// The viewer's login.
    pub login: String,
    /// Their balance.
    pub points: i64,
}

/// Why a console request failed; each maps to an HTTP status and `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsoleError {
    /// The request itself is wrong (missing field, bad value): 400.
    #[error("{0}")]
    BadRequest(String),
    /// No token or session: 401.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but refused (foreign origin): 403.
    #[error("{0}")]
    Forbidden(String),
    /// The request body is over the size limit: 413.
    #[error("{0}")]
    TooLarge(String),
    /// No such thing (user, route): 404.
    #[error("{0}")]
    NotFound(String),
    /// Not possible in this mode (the simulator outside `--offline`): 409.
    #[error("{0}")]
    Conflict(String),
    /// The body is not JSON (`Content-Type` other than `application/json`): 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The `Host` header names another site (DNS rebinding): 421.
    #[error("{0}")]
    Misdirected(String),
    /// Too many failed sign-ins from this address: 429, retry after this many seconds.
    #[error("too many failed sign-in attempts from this address: try again in {0} s")]
    Throttled(u64),
    /// The subsystem is switched off or its peer is unreachable: 503.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else: 500.
    #[error("{0}")]
    Internal(String),
}

impl From<crate::sim::requests::BadRequest> for ConsoleError {
    fn from(e: crate::sim::requests::BadRequest) -> Self {
        ConsoleError::BadRequest(e.0)
    }
}

impl ConsoleError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ConsoleError::Forbidden(_) => StatusCode::FORBIDDEN,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ConsoleError::Conflict(_) => StatusCode::CONFLICT,
            ConsoleError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ConsoleError::Misdirected(_) => StatusCode::MISDIRECTED_REQUEST,
            ConsoleError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            ConsoleError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = axum::Json(serde_json::json!({ "error": self.to_string() }));
        if let ConsoleError::Throttled(secs) = self {
            return (
                status,
                [(axum::http::header::RETRY_AFTER, secs.to_string())],
                body,
            )
                .into_response();
        }
        if status == StatusCode::UNAUTHORIZED {
            return (
                status,
                [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
                body,
            )
                .into_response();
        }
        (status, body).into_response()
    }
}
