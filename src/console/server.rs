//! The console's HTTP server: binds, routes `/`, `/login` and `/api/*`, serves the embedded page
//! and stops when the shutdown token fires (live event streams end with it, so shutdown never
//! waits on an open browser tab).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::api::{self, ApiState};
use super::auth::{self, Auth};
use super::{ConsoleBackend, ConsoleError};

const INDEX_HTML: &str = include_str!("static/index.html");
const APP_JS: &str = include_str!("static/app.js");
const STYLE_CSS: &str = include_str!("static/style.css");

/// Largest request body: the biggest legitimate one is a 2000-character Discord message.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// Why the console could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("console: cannot listen on {addr}: {source} (change console.bind in configs/bot.yaml)")]
    Bind { addr: String, source: io::Error },
    #[error("console: the listener has no local address: {0}")]
    Addr(io::Error),
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
        let host = if self.addr.ip().is_unspecified() {
            // Bound to every interface: the local browser still reaches it on loopback.
            SocketAddr::new([127, 0, 0, 1].into(), self.addr.port()).to_string()
        } else {
            self.addr.to_string()
        };
        format!("http://{host}/login?token={}", self.auth.new_login_code())
    }

    /// Waits until the server has stopped (after the shutdown token fired).
    pub async fn stopped(self) {
        if let Err(e) = self.task.await {
            warn!("console: server task ended abnormally: {e}");
        }
    }
}

/// Binds the console's address (`console.bind`), warning when it is reachable from other machines.
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
            "console: listening on {local}, reachable from other machines; anyone there who gets \
             the console token can drive the bot. Use console.bind: 127.0.0.1:{} unless you need this",
            local.port()
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

/// The console's routes, for `serve` and for tests that drive the router in-process.
pub fn router(auth: Arc<Auth>, state: ApiState) -> Router {
    let api = Router::new()
        .route("/api/health", get(api::health))
        .route("/api/events", get(api::events))
        .route("/api/scripts", get(api::scripts))
        .route("/api/scripts/reload", post(api::reload_scripts))
        .route("/api/configs/reload", post(api::reload_configs))
        .route("/api/chat", post(api::chat))
        .route("/api/discord", post(api::discord))
        .route("/api/zmq", post(api::zmq))
        .route("/api/obs/connect", post(api::obs_connect))
        .route("/api/obs/disconnect", post(api::obs_disconnect))
        .route("/api/users/{login}", get(api::user))
        .route("/api/leaderboard", get(api::leaderboard))
        .route("/api/stats", get(api::stats))
        .route("/api/stats/{stream}/chart.svg", get(api::stats_chart))
        .route("/api/sim/chat", post(api::sim_chat))
        .route("/api/sim/event", post(api::sim_event))
        .with_state(state);
    let login = Router::new()
        .route("/login", get(auth::login))
        .with_state(auth.clone());
    Router::new()
        .route("/", get(|| page(INDEX_HTML, "text/html; charset=utf-8")))
        .route(
            "/app.js",
            get(|| page(APP_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/style.css",
            get(|| page(STYLE_CSS, "text/css; charset=utf-8")),
        )
        .merge(api)
        .merge(login)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            auth,
            auth::require_auth,
        ))
}

/// Starts serving on `listener` with `token` as the console token; returns once it listens.
///
/// # Errors
/// The listener has no local address.
pub async fn serve(
    listener: TcpListener,
    token: String,
    backend: Arc<dyn ConsoleBackend>,
    shutdown: CancellationToken,
) -> Result<Console, ServeError> {
    let addr = listener.local_addr().map_err(ServeError::Addr)?;
    let auth = Arc::new(Auth::new(token));
    let state = ApiState {
        backend,
        shutdown: shutdown.clone(),
    };
    let app = router(auth.clone(), state);
    let task = tokio::spawn(async move {
        let stop = shutdown.clone();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        match served {
            Ok(()) => info!("console: stopped"),
            Err(e) => warn!("console: server failed: {e}"),
        }
    });
    info!("console: listening on http://{addr}");
    Ok(Console { addr, auth, task })
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
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
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
            "error": "wrong method for this endpoint: reads are GET, actions are POST"
        })),
    )
        .into_response()
}
