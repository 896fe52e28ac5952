//! Sending a Helix request: the gate's permit for the token's bucket, the answer's rate-limit
//! headers noted, 429 and 5xx retried within the [`RetryPolicy`](super::RetryPolicy), one token refresh on a 401,
//! and lists followed page by page.

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::warn;

use super::decode::{error_message, page, path_of, rate_headers, read_answer};
use super::{Helix, HelixError, Page, TokenKind};
use crate::twitch::auth::{Account, AuthError};

impl Helix {
    /// The bucket `account`'s calls count against: Twitch keeps one per user, so when the bot
    /// account is the broadcaster both tokens share one.
    pub(super) fn bucket_of(&self, account: Account) -> TokenKind {
        let ids = self.ids();
        if account == Account::Broadcaster
            && !ids.bot_id.is_empty()
            && ids.bot_id == ids.broadcaster_id
        {
            return TokenKind::Bot;
        }
        account.into()
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

    pub(in crate::twitch) async fn call(
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

    pub(super) async fn get_page<T: DeserializeOwned>(
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
}
