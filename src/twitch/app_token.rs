//! The app access token: fetched with the client-credentials grant (which needs the client
//! secret of a Confidential application), kept in memory only, and fetched again before it
//! expires (there is no refresh token for it). Sending chat with it, where the grants allow,
//! shows the Chat Bot badge. Never logged.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, info};

use super::auth::{AuthClient, AuthError};

/// Never renew more than this long before the token expires.
const MAX_MARGIN: Duration = Duration::from_secs(3600);
/// A token answer without `expires_in` is taken as lasting this long.
const UNKNOWN_LIFETIME: Duration = Duration::from_secs(3600);

/// A shared app access token. Cheap to clone; one fetch at a time.
#[derive(Clone)]
pub struct AppToken {
    auth: AuthClient,
    held: Arc<Mutex<Option<Held>>>,
}

struct Held {
    token: String,
    /// When to fetch a new one: a quarter of its lifetime (at most an hour) before it expires.
    renew_at: Instant,
    expires_at: Instant,
}

impl std::fmt::Debug for AppToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppToken { .. }")
    }
}

impl AppToken {
    /// App tokens for `auth`'s client id and secret.
    pub fn new(auth: AuthClient) -> AppToken {
        AppToken {
            auth,
            held: Arc::new(Mutex::new(None)),
        }
    }

    /// Whether an app token can be fetched at all (a client secret is configured).
    pub fn possible(&self) -> bool {
        self.auth.has_secret()
    }

    /// The token to send with now: the one held while it is not due for renewal, else a new
    /// one from the client-credentials grant.
    ///
    /// # Errors
    /// What the grant answers: no secret, a refused client id or secret, network failures.
    pub async fn get(&self) -> Result<String, AuthError> {
        let mut held = self.held.lock().await;
        let now = Instant::now();
        if let Some(h) = held.as_ref()
            && now < h.renew_at
        {
            return Ok(h.token.clone());
        }
        let renewing = held.is_some();
        let answer = self.auth.client_credentials().await?;
        let lifetime = if answer.expires_in == 0 {
            UNKNOWN_LIFETIME
        } else {
            Duration::from_secs(answer.expires_in)
        };
        let margin = (lifetime / 4).min(MAX_MARGIN);
        let fresh = Held {
            token: answer.access_token,
            renew_at: now + (lifetime - margin),
            expires_at: now + lifetime,
        };
        if renewing {
            debug!(
                expires_in_secs = lifetime.as_secs(),
                "app access token renewed before it expired"
            );
        } else {
            info!(
                expires_in_secs = lifetime.as_secs(),
                "app access token fetched (client credentials)"
            );
        }
        let token = fresh.token.clone();
        *held = Some(fresh);
        Ok(token)
    }

    /// Forgets `stale` after Twitch refused it, so the next [`AppToken::get`] fetches a new one
    /// (a token fetched meanwhile by someone else is kept).
    pub async fn forget(&self, stale: &str) {
        let mut held = self.held.lock().await;
        if held.as_ref().is_some_and(|h| h.token == stale) {
            *held = None;
        }
    }

    /// When the token held now expires, if one is held.
    pub async fn expires_at(&self) -> Option<Instant> {
        self.held.lock().await.as_ref().map(|h| h.expires_at)
    }
}
