//! OAuth against `twitch.auth_url`: the Device Code Grant and the authorization-code flow used by
//! `twitch-bot auth`, token refresh (rotating refresh tokens merged into secrets.yaml under its
//! cross-process lock), and the validation Twitch requires at start and every hour. Tokens
//! never reach a log line.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use crate::config::api::AuthConfig;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::config::BotConfig;
use crate::config::secrets::{Grant, Secrets};
use crate::event::{ConnectionChange, ConnectionState, Event, Service};
use crate::exit::{self, Exit};
use crate::queue::EventSender;
use crate::twitch::scopes;

/// The message every unrecoverable grant problem ends in.
pub const RUN_AUTH: &str = "run `twitch-bot auth` to sign in again";

/// What can go wrong talking to the OAuth server.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The auth server could not be reached or answered garbage.
    #[error("cannot reach the Twitch auth server: {0}")]
    Http(#[from] reqwest::Error),
    /// The grant is gone (revoked, expired refresh token, password change).
    #[error("the {0} account's Twitch grant is invalid or revoked: {RUN_AUTH}")]
    Invalid(Account),
    /// The device code ran out before the user approved it.
    #[error("the sign-in code expired before it was approved; run `twitch-bot auth` again")]
    Expired,
    /// The user said no in the browser.
    #[error("the sign-in was refused in the browser")]
    Denied,
    /// secrets.yaml holds no token (or no refresh token) for the account.
    #[error("the {0} account has no token: {RUN_AUTH}")]
    Missing(Account),
    /// Any other refusal, with Twitch's status and message.
    #[error("Twitch auth answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// Twitch's `message`, or the body.
        message: String,
    },
    /// secrets.yaml could not be written.
    #[error("cannot save secrets to {path}: {message}")]
    Save {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Which grant a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Account {
    /// The bot account: chat, moderation, announcements.
    Bot,
    /// The channel's owner: EventSub events and the broadcaster's tools.
    Broadcaster,
}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Account::Bot => "bot",
            Account::Broadcaster => "broadcaster",
        })
    }
}

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
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(60);
/// The longest a device code is waited for, whatever the server says: 30 minutes.
const MAX_DEVICE_LIFETIME: Duration = Duration::from_secs(30 * 60);

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
fn slower(interval: Duration) -> Duration {
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
    fn into_grant(self, previous: &Grant) -> Grant {
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

/// The live tokens of both accounts, shared by Helix, EventSub and the validator. A refresh
/// replaces the pair and saves secrets.yaml atomically.
#[derive(Clone)]
pub struct Tokens {
    inner: Arc<TokensInner>,
}

struct TokensInner {
    auth: AuthClient,
    secrets: Mutex<Secrets>,
    path: Option<PathBuf>,
    /// Accounts whose refreshed grant could not be written yet.
    unsaved: Mutex<Vec<Account>>,
    /// One refresh at a time: two requests failing with 401 together must not spend the
    /// rotating refresh token twice.
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens { .. }")
    }
}

impl Tokens {
    /// Tokens from `secrets`; refreshed pairs are written to `path` when given.
    pub fn new(auth: AuthClient, secrets: Secrets, path: Option<PathBuf>) -> Tokens {
        Tokens {
            inner: Arc::new(TokensInner {
                auth,
                secrets: Mutex::new(secrets),
                path,
                unsaved: Mutex::new(Vec::new()),
                refreshing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The OAuth client.
    pub fn auth(&self) -> &AuthClient {
        &self.inner.auth
    }

    /// The app's client id (the `Client-Id` header).
    pub fn client_id(&self) -> String {
        self.lock().client_id.clone()
    }

    /// The current access token of `account` (empty when none).
    pub fn access(&self, account: Account) -> String {
        grant(&self.lock(), account).access_token.clone()
    }

    /// A copy of the secrets as they are now (with refreshed tokens).
    pub fn secrets(&self) -> Secrets {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Secrets> {
        self.inner
            .secrets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Refreshes `account`'s token after `stale` was refused; if another task already did,
    /// returns the newer token without spending the refresh token again. The new pair is
    /// merged into secrets.yaml (only this grant changes there). When Twitch refuses the
    /// refresh token, secrets.yaml is read again first: if another process (`twitch-bot auth`)
    /// saved a newer grant meanwhile, that grant is taken instead of declaring this one revoked.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] when the grant is gone and no newer one was saved; network
    /// failures. A failed save is logged, not returned: the new token works in memory, and the
    /// save is tried again at the next validation.
    pub async fn refresh(&self, account: Account, stale: &str) -> Result<String, AuthError> {
        let _one = self.inner.refreshing.lock().await;
        let held = grant(&self.lock(), account).clone();
        if held.access_token != stale && !held.access_token.is_empty() {
            return Ok(held.access_token);
        }
        let fresh = match self.inner.auth.refresh(account, &held.refresh_token).await {
            Ok(fresh) => fresh.into_grant(&held),
            Err(e @ (AuthError::Invalid(_) | AuthError::Missing(_))) => {
                return match self.newer_on_disk(account, &held).await {
                    Some(newer) => {
                        info!("{account} token: taking the newer grant saved in secrets.yaml");
                        let token = newer.access_token.clone();
                        *grant_mut(&mut self.lock(), account) = newer;
                        Ok(token)
                    }
                    None => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        let token = fresh.access_token.clone();
        *grant_mut(&mut self.lock(), account) = fresh;
        info!("{account} token refreshed");
        self.save_grant(account).await;
        Ok(token)
    }

    /// The grant secrets.yaml holds for `account` when it differs from `held` (another process
    /// signed in again since this one read it).
    async fn newer_on_disk(&self, account: Account, held: &Grant) -> Option<Grant> {
        let path = self.inner.path.clone()?;
        let on_disk = tokio::task::spawn_blocking(move || crate::config::secrets::load(&path))
            .await
            .ok()?
            .ok()?;
        let g = grant(&on_disk, account);
        (g.is_complete() && g.refresh_token != held.refresh_token).then(|| g.clone())
    }

    /// Merges `account`'s grant as held now into secrets.yaml. On failure the grant stays
    /// marked unsaved and the next validation tries again.
    async fn save_grant(&self, account: Account) {
        let Some(path) = self.inner.path.clone() else {
            return;
        };
        let held = grant(&self.lock(), account).clone();
        let to_write = held.clone();
        let target = path.clone();
        let written = tokio::task::spawn_blocking(move || {
            crate::config::secrets::update(&target, |s| *grant_mut(s, account) = to_write)
        })
        .await;
        let failure = match written {
            Ok(Ok(_)) => None,
            Ok(Err(errors)) => Some(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Err(e) => Some(e.to_string()),
        };
        let mut unsaved = self
            .inner
            .unsaved
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        unsaved.retain(|a| *a != account);
        if let Some(message) = failure {
            error!(
                "cannot save the {account} account's refreshed token to {}: {message}. It works \
                 for this run; fix the file and it is saved at the next hourly validation, or \
                 the next start needs `twitch-bot auth`",
                path.display()
            );
            unsaved.push(account);
        }
    }

    /// Saves the grants whose last save failed.
    async fn retry_unsaved(&self) {
        let pending: Vec<Account> = self
            .inner
            .unsaved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for account in pending {
            self.save_grant(account).await;
        }
    }

    /// Validates `account`'s token, refreshing it once when Twitch says it is invalid.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] when even a refresh cannot help.
    pub async fn validate(&self, account: Account) -> Result<Validation, AuthError> {
        self.retry_unsaved().await;
        let token = self.access(account);
        if token.is_empty() {
            return Err(AuthError::Missing(account));
        }
        if let Some(v) = self.inner.auth.validate(&token).await? {
            return Ok(v);
        }
        let token = self.refresh(account, &token).await?;
        self.inner
            .auth
            .validate(&token)
            .await?
            .ok_or(AuthError::Invalid(account))
    }
}

fn grant(s: &Secrets, account: Account) -> &Grant {
    match account {
        Account::Bot => &s.bot,
        Account::Broadcaster => &s.broadcaster,
    }
}

fn grant_mut(s: &mut Secrets, account: Account) -> &mut Grant {
    match account {
        Account::Bot => &mut s.bot,
        Account::Broadcaster => &mut s.broadcaster,
    }
}

/// Validates both grants now and then every `every`, refreshing as needed; network failures
/// are retried at the next tick. A grant that is gone (after [`Tokens::refresh`] looked for a
/// newer one in secrets.yaml) is handled by whose it is:
/// - the bot account's: chat and every Helix call depend on it and no restart can bring it
///   back, so the process is asked to end with [`exit::CONFIG`] and a message naming
///   `twitch-bot auth` (a service manager then does not restart it into the same error);
/// - the broadcaster's: chat goes on; the features that need that grant (from
///   [`scopes::FEATURES`]) are named once as off, with a `Helix` health event, and that account
///   is no longer checked.
pub fn spawn_validator(
    tokens: Tokens,
    every: Duration,
    events: EventSender,
    exit: Exit,
) -> JoinHandle<()> {
    let shutdown = exit.shutdown_token();
    tokio::spawn(async move {
        let mut dead: Vec<Account> = Vec::new();
        let mut unreachable_said = false;
        let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            for account in [Account::Bot, Account::Broadcaster] {
                if dead.contains(&account) || tokens.access(account).is_empty() {
                    continue;
                }
                match tokens.validate(account).await {
                    Ok(v) => {
                        unreachable_said = false;
                        tracing::debug!(%account, login = %v.login, expires_in = v.expires_in, "token valid");
                    }
                    Err(
                        e
                        @ (AuthError::Http(_) | AuthError::Status { .. } | AuthError::Save { .. }),
                    ) => {
                        // Network down, or a server without /validate (the Twitch CLI mock):
                        // not the user's grant's fault, so say it once and try next time.
                        if !unreachable_said {
                            warn!("cannot validate Twitch tokens ({e}); retrying later");
                            unreachable_said = true;
                        }
                    }
                    Err(e) => {
                        dead.push(account);
                        if account == Account::Bot {
                            exit.request(
                                exit::CONFIG,
                                format!("{e}; chat and the Twitch API cannot run without it"),
                            );
                            return;
                        }
                        let off: Vec<&str> = scopes::features_of(account).map(|f| f.name).collect();
                        error!("{e}. Chat goes on; off until then: {}", off.join(", "));
                        let _ = events
                            .send(Event::Connection(ConnectionChange {
                                service: Service::Helix,
                                state: ConnectionState::Down {
                                    reason: e.to_string(),
                                },
                            }))
                            .await;
                    }
                }
            }
        }
    })
}

/// `twitch-bot auth`: signs in the bot account, then the broadcaster account, and writes
/// `config_dir/secrets.yaml` (0600). `code_flow` uses the authorization-code flow with a one-shot
/// listener at `auth.redirect_uri` instead of device codes.
///
/// # Errors
/// A missing client id, refusals, expiry, network failures, write failures.
pub async fn run_auth(
    config_dir: &Path,
    bot: &BotConfig,
    secrets: &Secrets,
    code_flow: bool,
) -> anyhow::Result<()> {
    run_auth_with(config_dir, bot, &AuthConfig::default(), secrets, code_flow).await
}

/// [`run_auth`] with an explicit `auth:` section.
///
/// # Errors
/// As [`run_auth`].
pub async fn run_auth_with(
    config_dir: &Path,
    bot: &BotConfig,
    auth_config: &AuthConfig,
    secrets: &Secrets,
    code_flow: bool,
) -> anyhow::Result<()> {
    if secrets.client_id.is_empty() {
        anyhow::bail!(
            "secrets.yaml has no client_id: register an application at https://dev.twitch.tv/console/apps \
             (category Chat Bot, client type Public) and put its Client ID in {}",
            config_dir.join("secrets.yaml").display()
        );
    }
    let client = AuthClient::new(
        reqwest::Client::new(),
        &bot.twitch.auth_url,
        &secrets.client_id,
        secrets.client_secret.as_deref(),
    );
    println!("{}\n", chat_bot_badge_note(client.has_secret()));
    for (account, who) in [
        (Account::Bot, bot.username.as_str()),
        (Account::Broadcaster, bot.owner.as_str()),
    ] {
        // Exactly the union of the account's rows in the feature table.
        let scopes = &scopes::for_account(account);
        println!("Sign in as the {account} account ({who}).");
        let token = if code_flow {
            authorization_code_grant(&client, &auth_config.redirect_uri, scopes, &mut |url| {
                println!("  Open {url}");
            })
            .await?
        } else {
            let code = client.device_start(scopes).await?;
            println!(
                "  Open {} and enter the code {}  (valid {} minutes)",
                code.verification_uri,
                code.user_code,
                code.expires_in / 60
            );
            client.device_poll(&code).await?
        };
        let granted = token.into_grant(&Grant::default());
        if account == Account::Broadcaster {
            println!(
                "  (The broadcaster's grant includes `channel:bot`: it lets the bot wear the Chat \
                 Bot badge in this channel.)"
            );
        }
        // Twitch may grant less than was asked (an older application, a scope refused).
        if !granted.scopes.is_empty() {
            for line in scopes::missing_report(account, &granted.scopes) {
                println!("  Not granted, so off: {line}");
            }
        }
        let path = config_dir.join("secrets.yaml");
        let target = path.clone();
        // The grant belongs to the application it was made with: keep the two together.
        let (client_id, client_secret) = (secrets.client_id.clone(), secrets.client_secret.clone());
        tokio::task::spawn_blocking(move || {
            crate::config::secrets::update(&target, |s| {
                *grant_mut(s, account) = granted;
                s.client_id = client_id;
                if client_secret.is_some() {
                    s.client_secret = client_secret;
                }
            })
        })
        .await?
        .map_err(|errors| {
            anyhow::anyhow!(
                "{}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })?;
        println!("  {account} account signed in; saved to {}", path.display());
    }
    Ok(())
}

/// The paragraph `twitch-bot auth` starts with: how chat goes, and what the Chat Bot badge
/// needs. `has_secret`: a client secret is configured.
pub fn chat_bot_badge_note(has_secret: bool) -> String {
    let now = if has_secret {
        "secrets.yaml has a client secret, so the bot will send with an app token and show the \
         badge (sign in with `twitch-bot auth --code-flow` if device codes are refused)."
    } else {
        "secrets.yaml has no client secret, so the bot sends with its own token, without the badge."
    };
    format!(
        "Chat: the bot is asked for user:read:chat, user:write:chat and user:bot (chat over \
         EventSub and Helix) besides chat:read and chat:edit (IRC). The Chat Bot badge needs an \
         app access token, which needs a client secret: a Confidential application on \
         dev.twitch.tv. Device-code sign-in, the default here, uses a Public application, which \
         has no secret. {now}"
    )
}

/// The authorization-code flow: listens once on 127.0.0.1 at the redirect URI's port, hands the
/// URL to open to `show`, accepts one redirect, checks `state` and exchanges the code.
///
/// # Errors
/// Bind failures, a redirect without a code or with the wrong state, refusals.
pub async fn authorization_code_grant(
    client: &AuthClient,
    redirect_uri: &str,
    scopes: &[&str],
    show: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<TokenResponse> {
    let url = reqwest::Url::parse(redirect_uri)?;
    let port = url.port_or_known_default().unwrap_or(80);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let state = format!("{:016x}", rand::random::<u64>());
    show(&client.authorize_url(redirect_uri, scopes, &state));
    let (mut sock, _) = listener.accept().await?;
    let mut buf = vec![0u8; 8192];
    let n = sock.read(&mut buf).await?;
    let head = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let parsed = reqwest::Url::parse(&format!("http://localhost{target}"))?;
    let get = |k: &str| {
        parsed
            .query_pairs()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.into_owned())
    };
    let ok = get("state").as_deref() == Some(state.as_str()) && get("code").is_some();
    let body = if ok {
        "Signed in. You can close this tab."
    } else {
        "Sign-in failed. Run twitch-bot auth again."
    };
    let _ = sock
        .write_all(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await;
    match (ok, get("code")) {
        (true, Some(code)) => Ok(client.exchange_code(&code, redirect_uri).await?),
        _ => anyhow::bail!(
            "the redirect did not carry a valid code ({})",
            get("error_description").unwrap_or_else(|| "state mismatch".into())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_code_with_huge_timings_polls_within_bounds() {
        // `Instant::now() + u64::MAX seconds` used to panic the sign-in.
        let code: DeviceCode = serde_json::from_str(
            r#"{"device_code":"d","user_code":"U","verification_uri":"http://127.0.0.1:1/a",
                "expires_in":18446744073709551615,"interval":18446744073709551615}"#,
        )
        .unwrap();
        assert_eq!(code.timing(), (MAX_POLL_INTERVAL, MAX_DEVICE_LIFETIME));
        assert_eq!(slower(Duration::MAX), MAX_POLL_INTERVAL);
        let zero = DeviceCode {
            expires_in: 0,
            interval: 0,
            ..code
        };
        assert_eq!(
            zero.timing(),
            (Duration::from_secs(1), Duration::from_secs(1))
        );
    }

    #[test]
    fn auth_explains_what_the_chat_bot_badge_needs() {
        let public = chat_bot_badge_note(false);
        for words in [
            "client secret",
            "Confidential",
            "Public",
            "without the badge",
        ] {
            assert!(public.contains(words), "{public}");
        }
        assert!(chat_bot_badge_note(true).contains("app token"));
    }

    #[test]
    fn the_client_secret_is_not_in_debug_output() {
        let c = AuthClient::new(
            reqwest::Client::new(),
            "http://127.0.0.1:1",
            "cid",
            Some("secret-value"),
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret-value"), "{shown}");
        assert!(shown.contains("client_secret_set: true"), "{shown}");
    }

    #[test]
    fn token_answers_never_print_their_tokens() {
        let t = TokenResponse {
            access_token: "secret-access".into(),
            refresh_token: "secret-refresh".into(),
            expires_in: 10,
            scope: vec!["chat:read".into()],
        };
        let shown = format!("{t:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
