//! The console's HTTP server: binds, routes `/`, `/login` and `/api/*` from one table
//! ([`ROUTES`]), serves the embedded page and stops when the shutdown token fires (live event
//! streams end with it, so shutdown never waits on an open browser tab). The server runs under
//! the bot's supervisor: if it ends or panics it is started again on the same address.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::FromRef;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::api::{self, ApiState};
use super::auth::{self, Auth};
use super::commands_api;
use super::scripts;
use super::{ConsoleBackend, ConsoleError};
use crate::supervisor::Supervisor;

const INDEX_HTML: &str = include_str!("static/index.html");
const APP_JS: &str = include_str!("static/app.js");
const STYLE_CSS: &str = include_str!("static/style.css");
const LOGIN_JS: &str = include_str!("static/login.js");
const LOGIN_CSS: &str = include_str!("static/login.css");
const TEXT_COMMANDS_JS: &str = include_str!("static/text_commands.js");
const SCRIPTS_JS: &str = include_str!("static/scripts.js");
const HIGHLIGHT_JS: &str = include_str!("static/highlight.js");

/// The pages' Content-Security-Policy: scripts, styles and requests only from the console.
pub(crate) const CSP: &str = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Largest request body: the biggest legitimate one is a 2000-character Discord message.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// Why the console could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address in `console.bind` cannot be listened on (taken, or not this machine's).
    #[error("console: cannot listen on {addr}: {source} (change console.bind in configs/bot.yaml)")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why the system refused it.
        source: io::Error,
    },
    /// The bound listener cannot say its own address.
    #[error("console: the listener has no local address: {0}")]
    Addr(io::Error),
    /// The TLS certificate or key cannot be loaded (the message names the file).
    #[error("{0} (configs/bot.yaml)")]
    Tls(String),
}

/// A running console.
pub struct Console {
    /// Where it listens.
    pub addr: SocketAddr,
    auth: Arc<Auth>,
    task: JoinHandle<()>,
}

impl Console {
    /// A new one-time sign-in URL (each works once; the page's own cookie keeps the browser in).
    pub fn login_url(&self) -> String {
        self.auth.login_url()
    }

    /// Waits until the server has stopped (after the shutdown token fired).
    pub async fn stopped(self) {
        if let Err(e) = self.task.await {
            warn!("console: server task ended abnormally: {e}");
        }
    }
}

/// Binds the console's address (`console.bind`). Whether a non-loopback address is allowed is
/// decided when the config loads (`console.allow_remote`).
///
/// # Errors
/// The address is taken or not an address.
pub async fn bind(addr: &str) -> Result<TcpListener, ServeError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.to_owned(),
            source,
        })?;
    let local = listener.local_addr().map_err(ServeError::Addr)?;
    if !local.ip().is_loopback() {
        warn!(
            "console: listening on {local}, reachable from other machines (console.allow_remote); \
             anyone there who gets the console token can drive the bot"
        );
    }
    Ok(listener)
}

/// Opens `url` in the default browser (for `console.open_on_start`); a failure is only logged.
pub fn open_in_browser(url: &str) {
    if let Err(e) = webbrowser::open(url) {
        warn!("console: could not open a browser ({e}); open the URL yourself");
    }
}

/// How a request must prove who it is. The rule itself is [`auth::require_auth`]; this is
/// what `docs/console-api.md` says for each route, checked against that rule by the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone may call it (the sign-in page, the one-time login link, the token sign-in).
    Open,
    /// The console token (`Authorization: Bearer`) or the browser's session cookie; a `POST`
    /// must also come from the console's own page or from a program (no foreign `Origin`).
    Token,
}

/// The HTTP method of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMethod {
    /// A read; never changes anything.
    Get,
    /// An action.
    Post,
    /// Creates or replaces the thing the path names (same rules as `POST`).
    Put,
    /// Removes the thing the path names (same rules as `POST`).
    Delete,
}

impl RouteMethod {
    /// The method as HTTP writes it (`GET`, `POST`).
    pub fn as_str(self) -> &'static str {
        match self {
            RouteMethod::Get => "GET",
            RouteMethod::Post => "POST",
            RouteMethod::Put => "PUT",
            RouteMethod::Delete => "DELETE",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            RouteMethod::Get => MethodFilter::GET,
            RouteMethod::Post => MethodFilter::POST,
            RouteMethod::Put => MethodFilter::PUT,
            RouteMethod::Delete => MethodFilter::DELETE,
        }
    }
}

/// What every route's handler may read: the API's state and the credentials.
#[derive(Clone)]
pub struct RouterState {
    api: ApiState,
    auth: Arc<Auth>,
}

impl FromRef<RouterState> for ApiState {
    fn from_ref(state: &RouterState) -> ApiState {
        state.api.clone()
    }
}

impl FromRef<RouterState> for Arc<Auth> {
    fn from_ref(state: &RouterState) -> Arc<Auth> {
        state.auth.clone()
    }
}

/// One console endpoint. [`ROUTES`] lists them all: the router is built from it and
/// `docs/console-api.md` is checked against it.
pub struct Route {
    /// `GET` or `POST`.
    pub method: RouteMethod,
    /// The path as axum writes it (`/api/users/{login}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// What it does, in one line.
    pub summary: &'static str,
    handler: fn(MethodFilter) -> MethodRouter<RouterState>,
}

/// Every route the console serves, in the order `docs/console-api.md` lists them.
pub const ROUTES: &[Route] = &[
    Route {
        method: RouteMethod::Get,
        path: "/",
        access: Access::Token,
        summary: "the console page",
        handler: |m| on(m, || page(INDEX_HTML, "text/html; charset=utf-8")),
    },
    Route {
        method: RouteMethod::Get,
        path: "/app.js",
        access: Access::Token,
        summary: "the console page's script",
        handler: |m| on(m, || page(APP_JS, "text/javascript; charset=utf-8")),
    },
    Route {
        method: RouteMethod::Get,
        path: "/style.css",
        access: Access::Token,
        summary: "the console page's style sheet",
        handler: |m| on(m, || page(STYLE_CSS, "text/css; charset=utf-8")),
    },
    Route {
        method: RouteMethod::Get,
        path: "/login",
        access: Access::Open,
        summary: "the sign-in page, or trades a one-time login code for a session cookie",
        handler: |m| on(m, auth::login),
    },
    Route {
        method: RouteMethod::Get,
        path: "/login.js",
        access: Access::Open,
        summary: "the sign-in page's script",
        handler: |m| on(m, || page(LOGIN_JS, "text/javascript; charset=utf-8")),
    },
    Route {
        method: RouteMethod::Get,
        path: "/login.css",
        access: Access::Open,
        summary: "the sign-in page's style sheet",
        handler: |m| on(m, || page(LOGIN_CSS, "text/css; charset=utf-8")),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/login",
        access: Access::Open,
        summary: "signs a browser in with the pasted console token",
        handler: |m| on(m, auth::login_with_token),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/login-link",
        access: Access::Token,
        summary: "mints a one-time sign-in link",
        handler: |m| on(m, auth::login_link),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/logout-all",
        access: Access::Token,
        summary: "signs out everywhere: a new console token, every session ended",
        handler: |m| on(m, auth::logout_all),
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/health",
        access: Access::Token,
        summary: "the bot, the channel and each connection's state",
        handler: |m| on(m, api::health),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/moderation/raid-mode/end",
        access: Access::Token,
        summary: "ends raid mode now, restoring the chat settings and Shield Mode",
        handler: |m| on(m, api::end_raid_mode),
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/follow-waves",
        access: Access::Token,
        summary: "the follow-bot wave lasting now, or the last one",
        handler: |m| on(m, api::follow_waves),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/follow-waves/end",
        access: Access::Token,
        summary: "ends the follow-bot wave lasting now",
        handler: |m| on(m, api::end_follow_wave),
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/events",
        access: Access::Token,
        summary: "the live log as server-sent events",
        handler: |m| on(m, api::events),
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/scripts",
        access: Access::Token,
        summary: "the loaded scripts and their errors",
        handler: |m| on(m, api::scripts),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/scripts/reload",
        access: Access::Token,
        summary: "reloads every script",
        handler: |m| on(m, api::reload_scripts),
    },
    Route {
        method: RouteMethod::Get,
        path: "/scripts.js",
        access: Access::Token,
        summary: "the script editor's script",
        handler: |m| on(m, || page(SCRIPTS_JS, "text/javascript; charset=utf-8")),
    },
    Route {
        method: RouteMethod::Get,
        path: "/highlight.js",
        access: Access::Token,
        summary: "the script editor's Rhai highlighter",
        handler: |m| on(m, || page(HIGHLIGHT_JS, "text/javascript; charset=utf-8")),
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/scripts/file",
        access: Access::Token,
        summary: "one script's source and last-modified stamp",
        handler: |m| on(m, scripts::file),
    },
    Route {
        method: RouteMethod::Put,
        path: "/api/scripts/file",
        access: Access::Token,
        summary: "saves a script once it compiles, if unchanged on disk since it was read",
        handler: |m| on(m, scripts::save).layer(DefaultBodyLimit::max(scripts::SAVE_BODY_LIMIT)),
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/scripts/templates",
        access: Access::Token,
        summary: "the bundled example scripts a new script can start from",
        handler: |m| on(m, scripts::templates),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/scripts/new",
        access: Access::Token,
        summary: "creates a script from a bundled example, never replacing a file",
        handler: |m| on(m, scripts::create),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/configs/reload",
        access: Access::Token,
        summary: "reloads every config file",
        handler: |m| on(m, api::reload_configs),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/chat",
        access: Access::Token,
        summary: "sends a chat message as the bot",
        handler: |m| on(m, api::chat),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/discord",
        access: Access::Token,
        summary: "posts a message to Discord",
        handler: |m| on(m, api::discord),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/zmq",
        access: Access::Token,
        summary: "publishes a message on ZeroMQ",
        handler: |m| on(m, api::zmq),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/obs/connect",
        access: Access::Token,
        summary: "connects to OBS",
        handler: |m| on(m, api::obs_connect),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/obs/disconnect",
        access: Access::Token,
        summary: "disconnects from OBS until the next connect",
        handler: |m| on(m, api::obs_disconnect),
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/users/{login}",
        access: Access::Token,
        summary: "one viewer's record",
        handler: |m| on(m, api::user),
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/leaderboard",
        access: Access::Token,
        summary: "the viewers with the most points",
        handler: |m| on(m, api::leaderboard),
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/stats",
        access: Access::Token,
        summary: "the live stream's and past streams' statistics",
        handler: |m| on(m, api::stats),
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/stats/{stream}/chart.svg",
        access: Access::Token,
        summary: "one stream's chart",
        handler: |m| on(m, api::stats_chart),
    },
    // Text commands, regulars and the scripts' stores.
    Route {
        method: RouteMethod::Get,
        path: "/text_commands.js",
        access: Access::Token,
        summary: "the console page's text commands and script data cards",
        handler: |m| {
            on(m, || {
                page(TEXT_COMMANDS_JS, "text/javascript; charset=utf-8")
            })
        },
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/text-commands",
        access: Access::Token,
        summary: "every text command",
        handler: |m| on(m, commands_api::list),
    },
    Route {
        method: RouteMethod::Put,
        path: "/api/text-commands/{name}",
        access: Access::Token,
        summary: "creates or changes a text command",
        handler: |m| on(m, commands_api::save),
    },
    Route {
        method: RouteMethod::Delete,
        path: "/api/text-commands/{name}",
        access: Access::Token,
        summary: "deletes a text command",
        handler: |m| on(m, commands_api::delete),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/text-commands/{name}/count",
        access: Access::Token,
        summary: "sets a text command's counter",
        handler: |m| on(m, commands_api::count),
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/regulars",
        access: Access::Token,
        summary: "the regulars",
        handler: |m| on(m, commands_api::regulars),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/regulars",
        access: Access::Token,
        summary: "adds a regular",
        handler: |m| on(m, commands_api::add_regular),
    },
    Route {
        method: RouteMethod::Delete,
        path: "/api/regulars/{login}",
        access: Access::Token,
        summary: "removes a regular",
        handler: |m| on(m, commands_api::remove_regular),
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/script-stores/{script}",
        access: Access::Token,
        summary: "one script's stored keys and values",
        handler: |m| on(m, commands_api::store),
    },
    Route {
        method: RouteMethod::Put,
        path: "/api/script-stores/{script}/{key}",
        access: Access::Token,
        summary: "sets one key of a script's store",
        handler: |m| on(m, commands_api::set_store),
    },
    Route {
        method: RouteMethod::Delete,
        path: "/api/script-stores/{script}/{key}",
        access: Access::Token,
        summary: "removes one key of a script's store",
        handler: |m| on(m, commands_api::delete_store),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/sim/chat",
        access: Access::Token,
        summary: "`--offline` only: a simulated viewer chats",
        handler: |m| on(m, api::sim_chat),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/sim/event",
        access: Access::Token,
        summary: "`--offline` only: fires a simulated Twitch event",
        handler: |m| on(m, api::sim_event),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/sim/raid",
        access: Access::Token,
        summary: "`--offline` only: a spam raid (new accounts posting the same text)",
        handler: |m| on(m, api::sim_raid),
    },
];

/// The console's routes (every entry of [`ROUTES`]), for `serve` and for tests that drive the
/// router in-process.
pub fn router(auth: Arc<Auth>, state: ApiState) -> Router {
    let routes = ROUTES.iter().fold(Router::new(), |router, route| {
        router.route(route.path, (route.handler)(route.method.filter()))
    });
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            auth.clone(),
            auth::require_auth,
        ))
        .with_state(RouterState { api: state, auth })
}

/// Starts serving on `listener` with `token` as the console token, the way
/// [`ConsoleBackend::console_settings`] says (HTTPS, host name, session lifetime); returns once
/// it listens.
///
/// # Errors
/// The listener has no local address, or the TLS files cannot be used.
pub async fn serve(
    listener: TcpListener,
    token: String,
    backend: Arc<dyn ConsoleBackend>,
    shutdown: CancellationToken,
) -> Result<Console, ServeError> {
    let exit = crate::exit::Exit::new(shutdown.clone());
    let supervisor = Supervisor::new(exit, None, crate::supervisor::Policy::default());
    serve_supervised(listener, token, backend, shutdown, &supervisor).await
}

/// [`serve`], with the server run as the task `console` of `supervisor` (the bot's own, so a
/// restart shows in its log and a crash loop ends the process).
///
/// # Errors
/// The listener has no local address, or the TLS files cannot be used.
pub async fn serve_supervised(
    listener: TcpListener,
    token: String,
    backend: Arc<dyn ConsoleBackend>,
    shutdown: CancellationToken,
    supervisor: &Supervisor,
) -> Result<Console, ServeError> {
    let addr = listener.local_addr().map_err(ServeError::Addr)?;
    let settings = backend.console_settings();
    let tls = match &settings.tls {
        Some((cert, key)) => Some(super::tls::acceptor(cert, key).map_err(ServeError::Tls)?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let link_host = if addr.ip().is_unspecified() {
        // Bound to every interface: the local browser still reaches it on loopback.
        SocketAddr::new([127, 0, 0, 1].into(), addr.port()).to_string()
    } else {
        addr.to_string()
    };
    let link_base = match (&settings.public_name, settings.behind_proxy) {
        // Behind a proxy the console's own address is not where browsers find it.
        (Some(name), true) => format!("https://{name}"),
        _ => format!("{scheme}://{link_host}"),
    };
    let policy = auth::Policy {
        session_life: std::time::Duration::from_secs(u64::from(settings.session_hours) * 3600),
        secure: tls.is_some() || settings.behind_proxy,
        hosts: auth::allowed_hosts(addr, settings.public_name.as_deref()),
        link_base,
    };
    let auth = Arc::new(Auth::with_policy(token, policy));
    let state = ApiState {
        backend,
        shutdown: shutdown.clone(),
    };
    let app = router(auth.clone(), state);
    info!("console: listening on {scheme}://{addr}");
    // The server runs under the supervisor: a run that ends or panics before shutdown is
    // started again (after its backoff) on the same address, with the same sign-in state.
    let first = Arc::new(std::sync::Mutex::new(Some(listener)));
    let task = supervisor.restart("console", move || {
        let listener = first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        tokio::spawn(run(
            listener,
            addr,
            app.clone(),
            tls.clone(),
            shutdown.clone(),
        ))
    });
    Ok(Console { addr, auth, task })
}

/// One run of the server: on `listener` (the first run) or on `addr` bound anew (a restart),
/// until `shutdown`. A run that cannot bind returns, and the supervisor tries again later.
async fn run(
    listener: Option<TcpListener>,
    addr: SocketAddr,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: CancellationToken,
) {
    let listener = match listener {
        Some(listener) => listener,
        None => match TcpListener::bind(addr).await {
            Ok(listener) => {
                warn!("console: restarted, listening on {addr} again");
                listener
            }
            Err(e) => {
                warn!("console: cannot listen on {addr} again: {e}");
                return;
            }
        },
    };
    // The TLS accept loop lives in its own task: it ends with this run, however it ends.
    let run_stop = shutdown.child_token();
    let _end_accepts = run_stop.clone().drop_guard();
    let stop = shutdown;
    match tls {
        Some(acceptor) => {
            let listener = match super::tls::TlsListener::new(listener, acceptor, run_stop) {
                Ok(listener) => listener,
                Err(e) => {
                    warn!("console: the listener has no local address: {e}");
                    return;
                }
            };
            let app = app.into_make_service_with_connect_info::<super::tls::PeerAddr>();
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            stopped(served);
        }
        None => {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            stopped(served);
        }
    }
}
fn stopped(served: io::Result<()>) {
    match served {
        Ok(()) => info!("console: stopped"),
        Err(e) => warn!("console: server failed: {e}"),
    }
}

/// One embedded file, with headers that keep the page to itself.
async fn page(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp
}

async fn not_found(uri: Uri) -> ConsoleError {
    ConsoleError::NotFound(format!("no such page or API endpoint: {}", uri.path()))
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(serde_json::json!({
            "error": "wrong method for this endpoint: reads are GET, actions are POST (PUT and DELETE where docs/console-api.md says)"
        })),
    )
        .into_response()
}
