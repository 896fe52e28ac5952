//! Sends the requests twilight-http builds (typed, validated, with Discord's paths) over our own
//! HTTP client, so the base URL is `discord.api_url` as written and every 429 is seen here and
//! honoured exactly (`Retry-After`, else the body's `retry_after`). twilight-http's own sender
//! retries a 429 at once unless the answer carries its bucket headers; we never hammer.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use twilight_http::request::Request;

/// Longest wait a 429 can ask for that we honour as is.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Why a request did not go through.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// Discord refused it; sending it again will not help.
    Refused { status: u16, message: String },
    /// 429: wait this long, then send it again.
    RateLimited(Duration),
    /// Unreachable, timed out or a server error: try again later.
    Transient(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Refused { status, message } => {
                write!(f, "Discord refused it ({status}: {message})")
            }
            SendError::RateLimited(wait) => write!(f, "rate limited for {wait:?}"),
            SendError::Transient(e) => f.write_str(e),
        }
    }
}

/// Discord's HTTP API at one base URL.
pub struct Transport {
    http: reqwest::Client,
    /// `discord.api_url` without a trailing slash (`https://discord.com/api/v10`).
    base: String,
    /// `Bot <token>`, in bot-token mode.
    authorization: Option<String>,
}

impl Transport {
    /// A transport for `base`, with `bot_token` for bot-token requests (empty: webhooks only).
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS support).
    pub fn new(base: &str, bot_token: &str) -> Result<Transport, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(20))
            // Discord asks bots to name themselves this way.
            .user_agent(concat!(
                "DiscordBot (https://github.com/twitch-bot, ",
                env!("CARGO_PKG_VERSION"),
                ")"
            ))
            .build()?;
        let token = bot_token.trim();
        let authorization = (!token.is_empty()).then(|| {
            if token.starts_with("Bot ") {
                token.to_string()
            } else {
                format!("Bot {token}")
            }
        });
        Ok(Transport {
            http,
            base: base.trim_end_matches('/').to_string(),
            authorization,
        })
    }

    /// Sends `request` once. On success, returns how long the route must rest before the next
    /// request (Discord said `X-RateLimit-Remaining: 0`), if at all.
    ///
    /// # Errors
    /// See [`SendError`].
    pub async fn send(&self, request: &Request) -> Result<Option<Duration>, SendError> {
        let method = reqwest::Method::from_bytes(request.method().name().as_bytes())
            .map_err(|e| SendError::Transient(e.to_string()))?;
        let url = format!("{}/{}", self.base, request.path());
        let mut req = self.http.request(method, url);
        if let Some(headers) = request.headers() {
            req = req.headers(headers.clone());
        }
        if request.use_authorization_token() {
            let Some(auth) = &self.authorization else {
                return Err(SendError::Refused {
                    status: 401,
                    message: "this needs a bot token (discord.bot_token in configs/secrets.yaml)"
                        .into(),
                });
            };
            req = req.header(reqwest::header::AUTHORIZATION, auth);
        }
        if let Some(body) = request.body() {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        // The URL of a webhook holds its token: errors are shown without it.
        let resp = req.send().await.map_err(|e| {
            SendError::Transient(format!("cannot reach Discord: {}", e.without_url()))
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let seconds = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
        };
        if status.is_success() {
            let exhausted = headers
                .get("x-ratelimit-remaining")
                .is_some_and(|v| v.as_bytes() == b"0");
            return Ok(exhausted
                .then(|| seconds("x-ratelimit-reset-after"))
                .flatten()
                .map(secs));
        }
        let body = resp.bytes().await.unwrap_or_default();
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = seconds("retry-after")
                .or_else(|| json["retry_after"].as_f64())
                .map_or(Duration::from_secs(1), secs);
            return Err(SendError::RateLimited(wait.min(MAX_RETRY_AFTER)));
        }
        if status.is_server_error() {
            return Err(SendError::Transient(format!("Discord answered {status}")));
        }
        let mut message = json["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
        if let Some(code) = json["code"].as_u64() {
            message = format!("{message} (code {code})");
        }
        Err(SendError::Refused {
            status: status.as_u16(),
            message,
        })
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(MAX_RETRY_AFTER)
}
