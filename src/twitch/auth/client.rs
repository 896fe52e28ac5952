//! The OAuth server's endpoints (`twitch.auth_url`): device codes, token exchange and refresh,
//! validation, the client-credentials grant, and how a refusal reads.

use std::time::Duration;

use serde::Deserialize;

use super::*;
use crate::config::secrets::Grant;

/// The answer to `POST /device`.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceCode {
    /// What the bot polls `/token` with.
    pub device_code: String,
    /// What the user types at `verification_uri`.
    pub user_code: String,
    /// Where the user approves the sign-in.
    pub verification_uri: String,
    /// Seconds the code lives.
    pub expires_in: u64,
    /// Seconds between polls.
    pub interval: u64,
}

/// The longest wait between two polls for a device code, whatever the server asks.
pub(super) const MAX_POLL_INTERVAL: Duration = Duration::from_secs(60);
/// The longest a device code is waited for, whatever the server says: 30 minutes.
pub(super) const MAX_DEVICE_LIFETIME: Duration = Duration::from_secs(30 * 60);

impl DeviceCode {
    /// The poll interval and how long the code lives, both at least a second and bounded
    /// (an answer with a huge `interval` or `expires_in` must not hang the sign-in forever).
    pub fn timing(&self) -> (Duration, Duration) {
        (
            Duration::from_secs(self.interval.max(1)).min(MAX_POLL_INTERVAL),
            Duration::from_secs(self.expires_in.max(1)).min(MAX_DEVICE_LIFETIME),
        )
    }
}

/// The interval after a `slow_down` answer: five seconds longer, bounded.
pub(super) fn slower(interval: Duration) -> Duration {
    interval
        .saturating_add(Duration::from_secs(5))
        .min(MAX_POLL_INTERVAL)
}

/// A token answer (`POST /token`).
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    /// The token requests are sent with.
    pub access_token: String,
    /// Trades for a new access token (none for an app access token).
    #[serde(default)]
    pub refresh_token: String,
    /// Seconds the access token lives.
    #[serde(default)]
    pub expires_in: u64,
    /// The scopes the grant holds (Twitch sends them with every token answer).
    #[serde(default)]
    pub scope: Vec<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TokenResponse {{ expires_in: {}, scope: {:?} }}",
            self.expires_in, self.scope
        )
    }
}

impl TokenResponse {
    /// The grant this answer gives; `previous` fills what the answer leaves out (a refresh may
    /// keep the refresh token, and a server may omit the scopes).
    pub(super) fn into_grant(self, previous: &Grant) -> Grant {
        Grant {
            access_token: self.access_token,
            refresh_token: if self.refresh_token.is_empty() {
                previous.refresh_token.clone()
            } else {
                self.refresh_token
            },
            scopes: if self.scope.is_empty() {
                previous.scopes.clone()
            } else {
                self.scope
            },
        }
    }
}

/// The answer to `GET /validate`.
#[derive(Debug, Clone, Deserialize)]
pub struct Validation {
    /// The application the token was issued to.
    #[serde(default)]
    pub client_id: String,
    /// The token's user (empty for an app access token).
    #[serde(default)]
    pub login: String,
    /// The token's user id (empty for an app access token).
    #[serde(default)]
    pub user_id: String,
    /// The scopes the grant holds.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Seconds the token still lives.
    #[serde(default)]
    pub expires_in: u64,
}

#[derive(Deserialize)]
struct OAuthError {
    #[serde(default)]
    message: String,
}

/// A client for the OAuth server at `twitch.auth_url`.
#[derive(Clone)]
pub struct AuthClient {
    http: reqwest::Client,
    base: String,
    client_id: String,
    client_secret: Option<String>,
}

/// The client secret never reaches a log line: `Debug` says only whether there is one.
impl std::fmt::Debug for AuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthClient")
            .field("base", &self.base)
            .field("client_id", &self.client_id)
            .field("client_secret_set", &self.client_secret.is_some())
            .finish()
    }
}

impl AuthClient {
    /// A client for `base` (`https://id.twitch.tv/oauth2`).
    pub fn new(http: reqwest::Client, base: &str, client_id: &str, secret: Option<&str>) -> Self {
        AuthClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            client_id: client_id.to_string(),
            client_secret: secret.filter(|s| !s.is_empty()).map(str::to_string),
        }
    }

    /// Starts a Device Code Grant for `scopes`.
    ///
    /// # Errors
    /// Network failures and refusals.
    pub async fn device_start(&self, scopes: &[&str]) -> Result<DeviceCode, AuthError> {
        let resp = self
            .http
            .post(format!("{}/device", self.base))
            .form(&[
                ("client_id", self.client_id.as_str()),
                ("scopes", &scopes.join(" ")),
            ])
            .send()
            .await?;
        parse(resp).await
    }

    /// Polls `/token` until the user approves `code`, waiting `interval` between polls
    /// (longer after `slow_down`), until it expires.
    ///
    /// # Errors
    /// [`AuthError::Expired`], [`AuthError::Denied`], network failures.
    pub async fn device_poll(&self, code: &DeviceCode) -> Result<TokenResponse, AuthError> {
        let (mut interval, lifetime) = code.timing();
        let start = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(interval).await;
            if start.elapsed() > lifetime {
                return Err(AuthError::Expired);
            }
            let resp = self
                .http
                .post(format!("{}/token", self.base))
                .form(&[
                    ("client_id", self.client_id.as_str()),
                    ("device_code", &code.device_code),
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ])
                .send()
                .await?;
            match parse::<TokenResponse>(resp).await {
                Ok(t) => return Ok(t),
                Err(AuthError::Status { message, .. }) => match message.as_str() {
                    "authorization_pending" => {}
                    "slow_down" => interval = slower(interval),
                    "expired_token" | "invalid device code" => return Err(AuthError::Expired),
                    "access_denied" => return Err(AuthError::Denied),
                    other => {
                        return Err(AuthError::Status {
                            status: 400,
                            message: other.to_string(),
                        });
                    }
                },
                Err(e) => return Err(e),
            }
        }
    }

    /// Exchanges an authorization code (needs the client secret).
    ///
    /// # Errors
    /// Network failures and refusals.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenResponse, AuthError> {
        let secret = self.client_secret.clone().unwrap_or_default();
        let resp = self
            .http
            .post(format!("{}/token", self.base))
            .form(&[
                ("client_id", self.client_id.as_str()),
                ("client_secret", &secret),
                ("code", code),
                ("grant_type", "authorization_code"),
                ("redirect_uri", redirect_uri),
            ])
            .send()
            .await?;
        parse(resp).await
    }

    /// Trades a refresh token for a new pair (public clients get a new refresh token each time).
    ///
    /// # Errors
    /// [`AuthError::Invalid`] when Twitch refuses the refresh token.
    pub async fn refresh(
        &self,
        account: Account,
        refresh_token: &str,
    ) -> Result<TokenResponse, AuthError> {
        if refresh_token.is_empty() {
            return Err(AuthError::Missing(account));
        }
        let mut form = vec![
            ("client_id", self.client_id.clone()),
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", refresh_token.to_string()),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.clone()));
        }
        let resp = self
            .http
            .post(format!("{}/token", self.base))
            .form(&form)
            .send()
            .await?;
        match parse(resp).await {
            Err(AuthError::Status {
                status: 400 | 401, ..
            }) => Err(AuthError::Invalid(account)),
            other => other,
        }
    }

    /// Whether a client secret is configured (a Confidential application): what the
    /// client-credentials grant, and so an app access token, needs.
    pub fn has_secret(&self) -> bool {
        self.client_secret.is_some()
    }

    /// The client-credentials grant (`POST /token grant_type=client_credentials`): an app
    /// access token, with no refresh token (fetch a new one before `expires_in` runs out).
    ///
    /// # Errors
    /// [`AuthError::Status`] without a client secret or when Twitch refuses the pair; network
    /// failures.
    pub async fn client_credentials(&self) -> Result<TokenResponse, AuthError> {
        let Some(secret) = &self.client_secret else {
            return Err(AuthError::Status {
                status: 400,
                message: "no client_secret configured: an app access token needs a Confidential \
                          application's secret"
                    .into(),
            });
        };
        let resp = self
            .http
            .post(format!("{}/token", self.base))
            .form(&[
                ("client_id", self.client_id.as_str()),
                ("client_secret", secret.as_str()),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await?;
        parse(resp).await
    }

    /// `GET /validate`: `Ok(None)` when the token is no longer valid (401).
    ///
    /// # Errors
    /// Network failures.
    pub async fn validate(&self, access_token: &str) -> Result<Option<Validation>, AuthError> {
        let resp = self
            .http
            .get(format!("{}/validate", self.base))
            .header("Authorization", format!("OAuth {access_token}"))
            .send()
            .await?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Ok(None);
        }
        parse(resp).await.map(Some)
    }

    /// The URL a user opens for the authorization-code flow.
    pub fn authorize_url(&self, redirect_uri: &str, scopes: &[&str], state: &str) -> String {
        let mut url = match reqwest::Url::parse(&format!("{}/authorize", self.base)) {
            Ok(u) => u,
            Err(_) => return format!("{}/authorize", self.base),
        };
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", state);
        url.to_string()
    }
}

async fn parse<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, AuthError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp.json().await?);
    }
    let body = resp.text().await.unwrap_or_default();
    Err(refusal(status.as_u16(), body))
}

/// A refused request as an error: the OAuth `message` when the body has one, else the body.
pub(crate) fn refusal(status: u16, body: String) -> AuthError {
    let message = serde_json::from_str::<OAuthError>(&body)
        .map(|e| e.message)
        .unwrap_or(body);
    AuthError::Status { status, message }
}
