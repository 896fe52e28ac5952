//! The Helix client: the typed subset of Twitch's API a bot uses. Every call passes the
//! [`Gate`] (one `Ratelimit-*` bucket per token, calls ordered by [`Priority`]), 429 and 5xx
//! are retried within bounds, and a 401 is answered by one token refresh. Moderation and
//! channel [`crate::action::Action`]s are carried out here ([`Helix::perform`]).
//!
//! This file holds the client itself; `request` sends (gate, retries, token refresh), `decode`
//! reads answers, `error` says what went wrong, and one file per area holds its endpoints:
//! `users`, `chat`, `moderation`, `channels`, `eventsub`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::auth::{Account, Tokens};
pub use super::gate::{Gate, Priority, TokenKind};

mod channels;
mod chat;
mod decode;
mod error;
mod eventsub;
mod moderation;
mod request;
mod users;

use chat::Shoutouts;

pub use channels::{ChannelInfo, ChannelPatch};
pub use chat::{ChatSettings, ChatSettingsPatch, Emote};
pub(in crate::twitch) use decode::first_of;
pub use decode::{Page, Pagination};
pub(crate) use decode::{error_message, page, read_answer};
pub use error::{HelixError, is_grant_error, with_backoff};
pub use eventsub::EventSubSubscription;
pub use moderation::{MAX_WARNING_REASON, WARNINGS_SCOPE};
pub use users::{Chatter, Follower, Stream, Subscription, User};

/// The user ids most calls need.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelIds {
    /// The channel's (broadcaster's) user id.
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

    /// Whether `account`'s grant holds `scope`, as saved at sign-in and at each refresh.
    pub fn has_scope(&self, account: Account, scope: &str) -> bool {
        let secrets = self.inner.tokens.secrets();
        let grant = match account {
            Account::Bot => &secrets.bot,
            Account::Broadcaster => &secrets.broadcaster,
        };
        grant.scopes.iter().any(|s| s == scope)
    }

    /// The scopes `account`'s grant holds, as saved at sign-in and at each refresh (empty when
    /// none were saved: unknown).
    pub fn granted_scopes(&self, account: Account) -> Vec<String> {
        let secrets = self.inner.tokens.secrets();
        match account {
            Account::Bot => secrets.bot.scopes,
            Account::Broadcaster => secrets.broadcaster.scopes,
        }
    }

    pub(in crate::twitch) fn need_ids(&self) -> Result<ChannelIds, HelixError> {
        let ids = self.ids();
        if ids.broadcaster_id.is_empty() || ids.bot_id.is_empty() {
            return Err(HelixError::NoIds);
        }
        Ok(ids)
    }
}
