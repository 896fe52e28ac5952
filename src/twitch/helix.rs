//! The Helix client: the typed subset of Twitch's API a bot uses. Every call passes the
//! [`Gate`] (one `Ratelimit-*` bucket per token, calls ordered by [`Priority`]), 429 and 5xx
//! are retried within bounds, and a 401 is answered by one token refresh. Moderation and
//! channel [`Action`]s are carried out here ([`Helix::perform`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{debug, warn};

use super::auth::{Account, AuthError, Tokens};
pub use super::gate::{Gate, Priority, TokenKind};
use crate::action::Action;

/// What can go wrong with a Helix call.
#[derive(Debug, thiserror::Error)]
pub enum HelixError {
    #[error("cannot reach Twitch's API: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("Twitch answered {status} to {path}: {message}")]
    Status {
        status: u16,
        path: String,
        message: String,
    },
    #[error("shoutout refused by Twitch's limits: wait {wait_secs} s")]
    ShoutoutTooSoon { wait_secs: u64 },
    #[error("the channel's and the bot's user ids are not known yet")]
    NoIds,
    #[error(
        "the {account} account's grant lacks the scope `{scope}`: run `twitch-bot auth` again to grant it"
    )]
    MissingScope { scope: String, account: Account },
}

impl HelixError {
    /// The HTTP status Twitch answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            HelixError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One page of a Helix list.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub pagination: Option<Pagination>,
    #[serde(default)]
    pub total: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
pub struct Pagination {
    #[serde(default)]
    pub cursor: Option<String>,
}

/// `GET /users`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct User {
    pub id: String,
    pub login: String,
    pub display_name: String,
    /// When the account was made (RFC 3339); empty if the server did not say.
    #[serde(default)]
    pub created_at: String,
}

/// A channel's information from `GET /channels`, live or not.
#[derive(Debug, Clone, Deserialize)]
pub struct ChannelInfo {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub game_name: String,
}

/// `GET /streams`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Stream {
    pub id: String,
    pub user_id: String,
    #[serde(default)]
    pub game_name: String,
    #[serde(default)]
    pub title: String,
    pub viewer_count: u64,
    pub started_at: String,
}

/// `GET /chat/chatters`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Chatter {
    pub user_id: String,
    pub user_login: String,
    pub user_name: String,
}

/// `GET /channels/followers`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Follower {
    pub user_id: String,
    pub user_login: String,
    pub user_name: String,
    pub followed_at: String,
}

/// `GET /subscriptions`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Subscription {
    pub user_id: String,
    pub user_login: String,
    pub tier: String,
    #[serde(default)]
    pub is_gift: bool,
}

/// `GET /chat/emotes` and `/chat/emotes/global`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Emote {
    pub id: String,
    pub name: String,
}

/// An EventSub subscription as Helix lists it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct EventSubSubscription {
    pub id: String,
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub version: String,
    pub condition: Value,
}

/// `PATCH /channels` fields; `None` leaves a field alone.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChannelPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub game_id: Option<String>,
}

/// A channel's chat settings, as Get and Update Chat Settings answer them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSettings {
    #[serde(default)]
    pub slow_mode: bool,
    /// Seconds between a viewer's messages while `slow_mode` is on.
    #[serde(default)]
    pub slow_mode_wait_time: Option<u32>,
    #[serde(default)]
    pub follower_mode: bool,
    /// Minutes a viewer must have followed while `follower_mode` is on.
    #[serde(default)]
    pub follower_mode_duration: Option<u32>,
    #[serde(default)]
    pub subscriber_mode: bool,
    #[serde(default)]
    pub emote_mode: bool,
    #[serde(default)]
    pub unique_chat_mode: bool,
}

/// `PATCH /chat/settings` fields; `None` leaves a setting alone. A duration is sent with its
/// mode, as Twitch asks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChatSettingsPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_mode: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_mode_wait_time: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follower_mode: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follower_mode_duration: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emote_mode: Option<bool>,
}

impl ChatSettingsPatch {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == ChatSettingsPatch::default()
    }
}

/// The user ids most calls need.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelIds {
    pub broadcaster_id: String,
    /// The bot account, the moderator in moderation calls.
    pub bot_id: String,
}

/// Retry bounds.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts after a 5xx or 429 before giving up.
    pub max_retries: u32,
    /// First 5xx back-off; doubles each time.
    pub backoff: Duration,
    /// Longest wait for a rate-limit reset.
    pub max_reset_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            backoff: Duration::from_millis(500),
            max_reset_wait: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Default)]
struct Shoutouts {
    last_any: Option<tokio::time::Instant>,
    per_target: Vec<(String, tokio::time::Instant)>,
}

/// A cheap-to-clone Helix client. Its calls go through the gate at its [`Priority`]
/// (background unless [`Helix::at`] says otherwise).
#[derive(Clone, Debug)]
pub struct Helix {
    inner: Arc<Inner>,
    priority: Priority,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: String,
    tokens: Tokens,
    retry: RetryPolicy,
    gate: Gate,
    shoutouts: Mutex<Shoutouts>,
    ids: Mutex<ChannelIds>,
}

/// The longest reason Twitch takes for a warning, in characters.
pub const MAX_WARNING_REASON: usize = 500;
/// The scope native warnings need (the bot account's).
pub const WARNINGS_SCOPE: &str = "moderator:manage:warnings";

const SHOUTOUT_ANY: Duration = Duration::from_secs(120);
const SHOUTOUT_SAME: Duration = Duration::from_secs(3600);

impl Helix {
    /// A client for `base` (`twitch.helix_url`).
    pub fn new(http: reqwest::Client, base: &str, tokens: Tokens, retry: RetryPolicy) -> Helix {
        Helix {
            inner: Arc::new(Inner {
                http,
                base: base.trim_end_matches('/').to_string(),
                tokens,
                gate: Gate::new(retry.max_reset_wait),
                retry,
                shoutouts: Mutex::default(),
                ids: Mutex::default(),
            }),
            priority: Priority::default(),
        }
    }

    /// The same client making its calls at `priority` (chat sends, moderation or background).
    #[must_use]
    pub fn at(&self, priority: Priority) -> Helix {
        Helix {
            inner: Arc::clone(&self.inner),
            priority,
        }
    }

    /// The priority this handle's calls wait at.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// The rate-limit gate every call passes.
    pub fn gate(&self) -> &Gate {
        &self.inner.gate
    }

    /// The bucket `account`'s calls count against: Twitch keeps one per user, so when the bot
    /// account is the broadcaster both tokens share one.
    fn bucket_of(&self, account: Account) -> TokenKind {
        let ids = self.ids();
        if account == Account::Broadcaster
            && !ids.bot_id.is_empty()
            && ids.bot_id == ids.broadcaster_id
        {
            return TokenKind::Bot;
        }
        account.into()
    }

    /// The token holder.
    pub fn tokens(&self) -> &Tokens {
        &self.inner.tokens
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.inner.base
    }

    /// Sets the ids used by [`Helix::perform`] and the channel calls.
    pub fn set_ids(&self, ids: ChannelIds) {
        *self
            .inner
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = ids;
    }

    /// The ids set by [`Helix::set_ids`] or [`Helix::resolve_ids`].
    pub fn ids(&self) -> ChannelIds {
        self.inner
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Looks up the bot's and the channel's user ids by login and remembers them.
    ///
    /// # Errors
    /// Network and API errors; a login Twitch does not know.
    pub async fn resolve_ids(
        &self,
        bot_login: &str,
        channel: &str,
    ) -> Result<ChannelIds, HelixError> {
        let users = self.users(&[bot_login, channel]).await?;
        let find = |login: &str| {
            users
                .iter()
                .find(|u| u.login.eq_ignore_ascii_case(login))
                .map(|u| u.id.clone())
        };
        let ids = ChannelIds {
            broadcaster_id: find(channel).ok_or_else(|| unknown(channel))?,
            bot_id: find(bot_login).ok_or_else(|| unknown(bot_login))?,
        };
        self.set_ids(ids.clone());
        Ok(ids)
    }

    /// Sends one request to a full URL with `account`'s token, applying the retry rules, and
    /// returns the body (`Value::Null` for 204).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn request_url(
        &self,
        account: Account,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, HelixError> {
        let mut refreshed = false;
        let mut attempt = 0u32;
        let mut token = self.inner.tokens.access(account);
        if token.is_empty() {
            return Err(AuthError::Missing(account).into());
        }
        let kind = self.bucket_of(account);
        loop {
            let permit = self.inner.gate.acquire(kind, self.priority).await;
            let mut req = self
                .inner
                .http
                .request(method.clone(), url)
                .bearer_auth(&token)
                .header("Client-Id", self.inner.tokens.client_id());
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(body) = body {
                req = req.json(body);
            }
            let resp = req.send().await?;
            let status = resp.status();
            let (limit, remaining, reset) = rate_headers(resp.headers());
            self.inner.gate.note(kind, limit, remaining, reset);
            drop(permit);
            if status.is_success() {
                if status == StatusCode::NO_CONTENT {
                    return Ok(Value::Null);
                }
                let bytes = resp.bytes().await?;
                return read_answer(url, status.as_u16(), &bytes);
            }
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if retryable && attempt < self.inner.retry.max_retries {
                attempt += 1;
                // A stale or missing reset must not make us hammer the API: back off with
                // jitter at least.
                let backoff = crate::backoff::delay(
                    attempt - 1,
                    self.inner.retry.backoff,
                    self.inner.retry.max_reset_wait,
                );
                if status == StatusCode::TOO_MANY_REQUESTS {
                    // The bucket is empty until `Ratelimit-Reset`: the gate holds this call
                    // (and every other on the token) until then.
                    self.inner.gate.throttled(kind, reset, backoff);
                    warn!(status = 429, path = %path_of(url), "Helix rate limit hit; waiting for the reset");
                } else {
                    warn!(status = status.as_u16(), path = %path_of(url), wait = ?backoff, "Helix retrying");
                    tokio::time::sleep(backoff).await;
                }
                continue;
            }
            let message = error_message(resp.text().await.unwrap_or_default());
            if status == StatusCode::UNAUTHORIZED {
                // A grant without the call's scope: no refresh gives it one.
                if let Some(scope) = message.strip_prefix("Missing scope: ") {
                    return Err(HelixError::MissingScope {
                        scope: scope.trim().to_string(),
                        account,
                    });
                }
                if !refreshed {
                    refreshed = true;
                    token = self.inner.tokens.refresh(account, &token).await?;
                    continue;
                }
                return Err(AuthError::Invalid(account).into());
            }
            return Err(HelixError::Status {
                status: status.as_u16(),
                path: path_of(url),
                message,
            });
        }
    }

    pub(super) async fn call(
        &self,
        account: Account,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, HelixError> {
        let url = format!("{}{}", self.inner.base, path);
        self.request_url(account, method, &url, query, body).await
    }

    async fn get_page<T: DeserializeOwned>(
        &self,
        account: Account,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Page<T>, HelixError> {
        let v = self.call(account, Method::GET, path, query, None).await?;
        page(path, v)
    }

    /// Every item of a paginated list, following `after` cursors (up to `max_items`).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn get_all<T: DeserializeOwned>(
        &self,
        account: Account,
        path: &str,
        query: &[(&str, String)],
        max_items: usize,
    ) -> Result<Vec<T>, HelixError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut q = query.to_vec();
            q.push(("first", "100".into()));
            if let Some(a) = &after {
                q.push(("after", a.clone()));
            }
            let page: Page<T> = self.get_page(account, path, &q).await?;
            let empty = page.data.is_empty();
            out.extend(page.data);
            after = page
                .pagination
                .and_then(|p| p.cursor)
                .filter(|c| !c.is_empty());
            if after.is_none() || empty || out.len() >= max_items {
                out.truncate(max_items);
                return Ok(out);
            }
        }
    }

    /// `GET /users?login=...` (bot token).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn users(&self, logins: &[&str]) -> Result<Vec<User>, HelixError> {
        let q: Vec<_> = logins.iter().map(|l| ("login", l.to_string())).collect();
        Ok(self.get_page(Account::Bot, "/users", &q).await?.data)
    }

    /// `GET /streams?user_id=`: `None` while offline.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn stream(&self, user_id: &str) -> Result<Option<Stream>, HelixError> {
        let q = [("user_id", user_id.to_string())];
        let page: Page<Stream> = self.get_page(Account::Bot, "/streams", &q).await?;
        Ok(page.data.into_iter().next())
    }

    /// `GET /chat/chatters`, every page (the bot as moderator).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn chatters(&self) -> Result<Vec<Chatter>, HelixError> {
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("moderator_id", ids.bot_id),
        ];
        self.get_all(Account::Bot, "/chat/chatters", &q, 100_000)
            .await
    }

    /// `GET /channels/followers`: the total and the newest `first` followers.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn followers(&self, first: u32) -> Result<(u64, Vec<Follower>), HelixError> {
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("first", first.clamp(1, 100).to_string()),
        ];
        let page: Page<Follower> = self
            .get_page(Account::Broadcaster, "/channels/followers", &q)
            .await?;
        Ok((page.total.unwrap_or(0), page.data))
    }

    /// When `user_id` followed the channel (RFC 3339), `None` if they do not follow.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn followed_at(&self, user_id: &str) -> Result<Option<String>, HelixError> {
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("user_id", user_id.to_string()),
        ];
        let page: Page<Follower> = self
            .get_page(Account::Broadcaster, "/channels/followers", &q)
            .await?;
        Ok(page
            .data
            .into_iter()
            .find(|f| f.user_id == user_id)
            .map(|f| f.followed_at))
    }

    /// `GET /subscriptions`, every page (broadcaster token).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn subscriptions(&self) -> Result<Vec<Subscription>, HelixError> {
        let ids = self.need_ids()?;
        let q = [("broadcaster_id", ids.broadcaster_id)];
        self.get_all(Account::Broadcaster, "/subscriptions", &q, 100_000)
            .await
    }

    /// `GET /chat/emotes?broadcaster_id=`.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn channel_emotes(&self, broadcaster_id: &str) -> Result<Vec<Emote>, HelixError> {
        let q = [("broadcaster_id", broadcaster_id.to_string())];
        Ok(self.get_page(Account::Bot, "/chat/emotes", &q).await?.data)
    }

    /// `GET /chat/emotes/global`.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn global_emotes(&self) -> Result<Vec<Emote>, HelixError> {
        Ok(self
            .get_page(Account::Bot, "/chat/emotes/global", &[])
            .await?
            .data)
    }

    /// `POST /moderation/bans`: a timeout when `duration_secs` is set, a ban otherwise.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn ban(
        &self,
        user_id: &str,
        duration_secs: Option<u32>,
        reason: &str,
    ) -> Result<(), HelixError> {
        let mut data = json!({"user_id": user_id, "reason": reason});
        if let Some(d) = duration_secs {
            data["duration"] = json!(d.clamp(1, 1_209_600));
        }
        self.as_moderator(
            Method::POST,
            "/moderation/bans",
            Some(&json!({"data": data})),
        )
        .await
        .map(drop)
    }

    /// `GET /chat/settings` with the bot as moderator.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn chat_settings(&self) -> Result<ChatSettings, HelixError> {
        let v = self
            .as_moderator(Method::GET, "/chat/settings", None)
            .await?;
        first_of(v, "/chat/settings")
    }

    /// `PATCH /chat/settings` (`moderator:manage:chat_settings`); returns the settings now in
    /// force.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn update_chat_settings(
        &self,
        patch: &ChatSettingsPatch,
    ) -> Result<ChatSettings, HelixError> {
        let body = serde_json::to_value(patch).unwrap_or(Value::Null);
        let v = self
            .as_moderator(Method::PATCH, "/chat/settings", Some(&body))
            .await?;
        first_of(v, "/chat/settings")
    }

    /// `GET /moderation/shield_mode`: whether Shield Mode is on.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn shield_mode(&self) -> Result<bool, HelixError> {
        self.shield(Method::GET, None).await
    }

    /// `PUT /moderation/shield_mode` (`moderator:manage:shield_mode`); returns whether it is on.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn set_shield_mode(&self, on: bool) -> Result<bool, HelixError> {
        self.shield(Method::PUT, Some(&json!({"is_active": on})))
            .await
    }

    /// Get or Update Shield Mode Status; whether it is on.
    async fn shield(&self, method: Method, body: Option<&Value>) -> Result<bool, HelixError> {
        let path = "/moderation/shield_mode";
        let v = self.as_moderator(method, path, body).await?;
        let status: ShieldStatus = first_of(v, path)?;
        Ok(status.is_active)
    }

    /// A call the bot makes as one of the channel's moderators (`broadcaster_id` and
    /// `moderator_id` in the query, the bot's token).
    async fn as_moderator(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, HelixError> {
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("moderator_id", ids.bot_id),
        ];
        self.call(Account::Bot, method, path, &q, body).await
    }

    /// `DELETE /moderation/chat?message_id=`.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn delete_message(&self, message_id: &str) -> Result<(), HelixError> {
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("moderator_id", ids.bot_id),
            ("message_id", message_id.to_string()),
        ];
        self.call(Account::Bot, Method::DELETE, "/moderation/chat", &q, None)
            .await
            .map(drop)
    }

    /// `PUT /users/blocks?target_user_id=` with the broadcaster's token (scope
    /// `user:manage:blocked_users`): the broadcaster blocks the account.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn block_user(&self, user_id: &str) -> Result<(), HelixError> {
        let q = [
            ("target_user_id", user_id.to_string()),
            ("source_context", "chat".to_string()),
            ("reason", "spam".to_string()),
        ];
        self.call(Account::Broadcaster, Method::PUT, "/users/blocks", &q, None)
            .await
            .map(drop)
    }

    /// `POST /moderation/warnings`: Twitch's own warning, which the viewer must acknowledge
    /// before chatting again (no chat line of ours). `reason` is cut to Twitch's 500 characters.
    ///
    /// # Errors
    /// See [`HelixError`]; without `moderator:manage:warnings` Twitch answers 401, and 403 when
    /// the bot is not one of the channel's moderators.
    pub async fn warn_user(&self, user_id: &str, reason: &str) -> Result<(), HelixError> {
        let reason: String = reason.chars().take(MAX_WARNING_REASON).collect();
        self.as_moderator(
            Method::POST,
            "/moderation/warnings",
            Some(&json!({"data": {"user_id": user_id, "reason": reason}})),
        )
        .await
        .map(drop)
    }

    /// Whether `account`'s grant holds `scope`, as saved at sign-in and at each refresh.
    pub fn has_scope(&self, account: Account, scope: &str) -> bool {
        let secrets = self.inner.tokens.secrets();
        let grant = match account {
            Account::Bot => &secrets.bot,
            Account::Broadcaster => &secrets.broadcaster,
        };
        grant.scopes.iter().any(|s| s == scope)
    }

    /// `POST /chat/announcements` (colour: blue, green, orange, purple or primary).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn announce(&self, text: &str, color: Option<&str>) -> Result<(), HelixError> {
        let body = json!({"message": text, "color": color.unwrap_or("primary")});
        self.as_moderator(Method::POST, "/chat/announcements", Some(&body))
            .await
            .map(drop)
    }

    /// `POST /chat/shoutouts`, refused locally within Twitch's limits (one per 2 minutes, the
    /// same channel once per 60 minutes) so the bot does not burn calls on certain refusals.
    ///
    /// # Errors
    /// [`HelixError::ShoutoutTooSoon`] and see [`HelixError`].
    pub async fn shoutout(&self, to_broadcaster_id: &str) -> Result<(), HelixError> {
        let now = tokio::time::Instant::now();
        {
            let s = self
                .inner
                .shoutouts
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut wait = Duration::ZERO;
            if let Some(last) = s.last_any {
                wait = wait.max((last + SHOUTOUT_ANY).saturating_duration_since(now));
            }
            if let Some((_, at)) = s.per_target.iter().find(|(id, _)| id == to_broadcaster_id) {
                wait = wait.max((*at + SHOUTOUT_SAME).saturating_duration_since(now));
            }
            if !wait.is_zero() {
                return Err(HelixError::ShoutoutTooSoon {
                    wait_secs: wait.as_secs().max(1),
                });
            }
        }
        let ids = self.need_ids()?;
        let q = [
            ("from_broadcaster_id", ids.broadcaster_id),
            ("to_broadcaster_id", to_broadcaster_id.to_string()),
            ("moderator_id", ids.bot_id),
        ];
        self.call(Account::Bot, Method::POST, "/chat/shoutouts", &q, None)
            .await?;
        let mut s = self
            .inner
            .shoutouts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        s.last_any = Some(now);
        s.per_target
            .retain(|(_, at)| now.saturating_duration_since(*at) < SHOUTOUT_SAME);
        s.per_target.push((to_broadcaster_id.to_string(), now));
        Ok(())
    }

    /// `POST /whispers` from the bot.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn whisper(&self, to_user_id: &str, text: &str) -> Result<(), HelixError> {
        let ids = self.need_ids()?;
        let q = [
            ("from_user_id", ids.bot_id),
            ("to_user_id", to_user_id.to_string()),
        ];
        self.call(
            Account::Bot,
            Method::POST,
            "/whispers",
            &q,
            Some(&json!({"message": text})),
        )
        .await
        .map(drop)
    }

    /// `GET /channels`: the channel's title and category, live or not (`None` when Twitch does
    /// not know the channel).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn channel_info(&self) -> Result<Option<ChannelInfo>, HelixError> {
        let ids = self.need_ids()?;
        let q = [("broadcaster_id", ids.broadcaster_id)];
        let page: Page<ChannelInfo> = self.get_page(Account::Bot, "/channels", &q).await?;
        Ok(page.data.into_iter().next())
    }

    /// `PATCH /channels` (title, game) with the broadcaster's token.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn patch_channel(&self, patch: &ChannelPatch) -> Result<(), HelixError> {
        let ids = self.need_ids()?;
        let q = [("broadcaster_id", ids.broadcaster_id)];
        let body = serde_json::to_value(patch).unwrap_or(Value::Null);
        self.call(
            Account::Broadcaster,
            Method::PATCH,
            "/channels",
            &q,
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// `POST /streams/markers`.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn create_marker(&self, description: &str) -> Result<(), HelixError> {
        let ids = self.need_ids()?;
        let body = json!({"user_id": ids.broadcaster_id, "description": description});
        self.call(
            Account::Broadcaster,
            Method::POST,
            "/streams/markers",
            &[],
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// `PATCH /channel_points/custom_rewards/redemptions`: `FULFILLED` or `CANCELED`.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn update_redemption(
        &self,
        reward_id: &str,
        redemption_id: &str,
        fulfilled: bool,
    ) -> Result<(), HelixError> {
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("reward_id", reward_id.to_string()),
            ("id", redemption_id.to_string()),
        ];
        let status = if fulfilled { "FULFILLED" } else { "CANCELED" };
        self.call(
            Account::Broadcaster,
            Method::PATCH,
            "/channel_points/custom_rewards/redemptions",
            &q,
            Some(&json!({"status": status})),
        )
        .await
        .map(drop)
    }

    /// `POST` to the EventSub subscriptions URL (`url`: Helix's or the Twitch CLI mock's).
    ///
    /// # Errors
    /// See [`HelixError`]; Twitch's refusal (403 missing scope, 409 exists) comes back as
    /// [`HelixError::Status`].
    pub async fn create_eventsub(
        &self,
        url: &str,
        kind: &str,
        version: &str,
        condition: &Value,
        session_id: &str,
    ) -> Result<EventSubSubscription, HelixError> {
        let body = json!({
            "type": kind,
            "version": version,
            "condition": condition,
            "transport": {"method": "websocket", "session_id": session_id},
        });
        let v = self
            .request_url(Account::Broadcaster, Method::POST, url, &[], Some(&body))
            .await?;
        let page: Page<EventSubSubscription> = page(url, v)?;
        page.data
            .into_iter()
            .next()
            .ok_or_else(|| HelixError::Status {
                status: 200,
                path: path_of(url),
                message: "no subscription in the answer".into(),
            })
    }

    /// `GET` the EventSub subscriptions (every page).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn list_eventsub(&self, url: &str) -> Result<Vec<EventSubSubscription>, HelixError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let q: Vec<(&str, String)> = after.iter().map(|a| ("after", a.clone())).collect();
            let v = self
                .request_url(Account::Broadcaster, Method::GET, url, &q, None)
                .await?;
            let page: Page<EventSubSubscription> = page(url, v)?;
            let empty = page.data.is_empty();
            out.extend(page.data);
            after = page
                .pagination
                .and_then(|p| p.cursor)
                .filter(|c| !c.is_empty());
            if after.is_none() || empty {
                return Ok(out);
            }
        }
    }

    /// `DELETE` one EventSub subscription.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn delete_eventsub(&self, url: &str, id: &str) -> Result<(), HelixError> {
        self.request_url(
            Account::Broadcaster,
            Method::DELETE,
            url,
            &[("id", id.to_string())],
            None,
        )
        .await
        .map(drop)
    }

    /// Carries out a Helix action (announce, timeout, ban, delete). Chat actions (`Say`,
    /// `Reply`) belong to the chat connection and are ignored here (`Ok(false)`).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn perform(&self, action: &Action) -> Result<bool, HelixError> {
        match action {
            Action::Announce { text, color, .. } => {
                self.announce(text, color.as_deref()).await?;
            }
            Action::Timeout {
                user_id,
                seconds,
                reason,
                ..
            } => self.ban(user_id, Some(*seconds), reason).await?,
            Action::Ban {
                user_id, reason, ..
            } => self.ban(user_id, None, reason).await?,
            Action::Delete { message_id, .. } => self.delete_message(message_id).await?,
            Action::Say { .. }
            | Action::Reply { .. }
            | Action::Obs(_)
            | Action::Discord(_)
            | Action::Sound(_)
            | Action::Hotkeys(_)
            | Action::Zmq(_)
            | Action::Helix(_) => {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub(super) fn need_ids(&self) -> Result<ChannelIds, HelixError> {
        let ids = self.ids();
        if ids.broadcaster_id.is_empty() || ids.bot_id.is_empty() {
            return Err(HelixError::NoIds);
        }
        Ok(ids)
    }
}

fn unknown(login: &str) -> HelixError {
    HelixError::Status {
        status: 404,
        path: "/users".into(),
        message: format!("Twitch knows no user `{login}`"),
    }
}

/// Shield Mode's status as Get and Update Shield Mode Status answer it.
#[derive(Deserialize)]
struct ShieldStatus {
    is_active: bool,
}

/// The first item of an answer's `data`.
pub(super) fn first_of<T: DeserializeOwned>(v: Value, path: &str) -> Result<T, HelixError> {
    let first = v
        .get("data")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .cloned()
        .ok_or_else(|| HelixError::Status {
            status: 200,
            path: path.to_string(),
            message: "the answer has no data".into(),
        })?;
    serde_json::from_value(first).map_err(|e| decode(path, e))
}

/// A successful answer's body as JSON (`Value::Null` when empty).
pub(crate) fn read_answer(url: &str, status: u16, bytes: &[u8]) -> Result<Value, HelixError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|e| HelixError::Status {
        status,
        path: path_of(url),
        message: format!("unreadable answer: {e}"),
    })
}

/// What a failed answer says: its JSON `message`, or the body as it came.
pub(crate) fn error_message(text: String) -> String {
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or(text)
}

/// One page of a list, read from an answer's JSON.
pub(crate) fn page<T: DeserializeOwned>(path: &str, v: Value) -> Result<Page<T>, HelixError> {
    serde_json::from_value(v).map_err(|e| decode(path, e))
}

fn decode(path: &str, e: serde_json::Error) -> HelixError {
    HelixError::Status {
        status: 200,
        path: path_of(path),
        message: format!("unreadable answer: {e}"),
    }
}

/// An answer's `Ratelimit-Limit`, `-Remaining` and `-Reset` (epoch seconds).
fn rate_headers(headers: &reqwest::header::HeaderMap) -> (Option<u64>, Option<u64>, Option<u64>) {
    let num = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    (
        num("ratelimit-limit"),
        num("ratelimit-remaining"),
        num("ratelimit-reset"),
    )
}

/// The path of a URL without its query, for logs (never carries a token).
fn path_of(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

/// Whether `e` means a grant itself is gone (revoked, expired or missing token): no retry can
/// help until the user runs `twitch-bot auth`, so loops report it once and stop.
pub fn is_grant_error(e: &HelixError) -> bool {
    matches!(
        e,
        HelixError::Auth(
            AuthError::Invalid(_) | AuthError::Missing(_) | AuthError::Expired | AuthError::Denied
        )
    )
}

/// Retries `f` until it succeeds, for start-up calls made while the API may be down: any failure
/// but a lost grant ([`is_grant_error`], returned at once) is retried forever with jittered
/// back-off, said once as a warning. The waits start at 1 s and, since nothing has worked yet,
/// stay under [`crate::backoff::START_CAP`] (or `max`, if smaller): the call succeeds within a
/// few seconds of Twitch answering again.
///
/// # Errors
/// Only a lost grant.
pub async fn with_backoff<T, F, Fut>(what: &str, max: Duration, mut f: F) -> Result<T, HelixError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, HelixError>>,
{
    let mut backoff = crate::backoff::Backoff::new(Duration::from_secs(1), max);
    loop {
        match f().await {
            Err(e) if !is_grant_error(&e) => {
                let wait = backoff.next_delay();
                if backoff.failures() == 1 {
                    warn!("{what}: Twitch's API failed ({e}); retrying in the background");
                } else {
                    debug!("{what}: still failing ({e}); next try in {wait:?}");
                }
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}
