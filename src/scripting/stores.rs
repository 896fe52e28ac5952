//! What scripts read and write besides chat: points, per-script stores, the cache, viewer facts
//! and the Twitch API. Each is a small trait, implemented by the redb storage and the Helix
//! client; in-memory implementations for tests are in `memory`, compiled only with the
//! `test-support` feature.

use std::time::Duration;

use compact_str::CompactString;
use serde_json::Value;

/// A store or points failure, shown to the script as an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The viewer has fewer points than the run costs.
    #[error("not enough points: {have} available, {need} needed")]
    NotEnoughPoints {
        /// Their balance.
        have: i64,
        /// What was asked.
        need: i64,
    },
    /// A zero or negative amount.
    #[error("amount must be positive, not {0}")]
    BadAmount(i64),
    /// The storage below failed (its words).
    #[error("storage failed: {0}")]
    Backend(String),
    /// The script's store is at its quota; nothing was written.
    #[error(
        "{message} (raise `{config_key}` in configs/bot.yaml, or remove keys the script no longer needs)"
    )]
    Full {
        /// What happened, naming the script, the store and the limit.
        message: String,
        /// The config key that sets the limit.
        config_key: &'static str,
    },
}

/// Who points belong to: the id is the key, login and name travel along for leaderboards.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserRef {
    /// The Twitch user id.
    pub id: CompactString,
    /// The login, lower case.
    pub login: CompactString,
    /// The name as shown in chat.
    pub display_name: CompactString,
}

/// The points ledger. Every call is atomic on its own.
pub trait Points: Send + Sync {
    /// The balance, 0 for an unknown user.
    fn balance(&self, user_id: &str) -> Result<i64, StoreError>;
    /// Adds `amount` (> 0) and returns the new balance.
    fn add(&self, user: &UserRef, amount: i64, reason: &str) -> Result<i64, StoreError>;
    /// Takes `amount` (> 0) if the balance covers it and returns the new balance; otherwise
    /// changes nothing and fails with [`StoreError::NotEnoughPoints`].
    fn take(&self, user: &UserRef, amount: i64, reason: &str) -> Result<i64, StoreError>;
    /// The `n` highest balances, highest first.
    fn leaderboard(&self, n: usize) -> Result<Vec<(UserRef, i64)>, StoreError>;
    /// Gives back the user's newest spend that was not refunded yet (each spend at most once,
    /// recorded in the audit trail); `(amount, new balance)`, or `None` with nothing to refund.
    fn refund_last(
        &self,
        _user: &UserRef,
        _reason: &str,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        Err(StoreError::Backend(
            "refunds need the points database (audit trail)".into(),
        ))
    }
}

/// Facts about a viewer kept by the bot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserInfo {
    /// The Twitch user id.
    pub id: CompactString,
    /// The login, lower case.
    pub login: CompactString,
    /// The name as shown in chat.
    pub display_name: CompactString,
    /// Seconds watched while the stream was live.
    pub watch_time_secs: u64,
    /// Chat messages counted.
    pub messages: u64,
}

/// Viewer lookups.
pub trait Users: Send + Sync {
    /// The viewer with this Twitch user id, if the bot knows them.
    fn by_id(&self, user_id: &str) -> Option<UserInfo>;
    /// The viewer with this login, if the bot knows them.
    fn by_login(&self, login: &str) -> Option<UserInfo>;
}

/// A persistent key-value store private to each script (`script` is the script's key).
pub trait ScriptStore: Send + Sync {
    /// The value under `key` in `script`'s store.
    fn get(&self, script: &str, key: &str) -> Result<Option<Value>, StoreError>;
    /// Puts `value` under `key` in `script`'s store (within its quota).
    fn set(&self, script: &str, key: &str, value: Value) -> Result<(), StoreError>;
    /// Removes a key; returns whether it existed.
    fn remove(&self, script: &str, key: &str) -> Result<bool, StoreError>;
    /// Every key in `script`'s store.
    fn keys(&self, script: &str) -> Result<Vec<String>, StoreError>;
}

/// The in-memory cache shared by all scripts: entries live until their lifespan ends.
pub trait Cache: Send + Sync {
    /// The live entry under `key`.
    fn get(&self, key: &str) -> Option<Value>;
    /// `ttl: None` keeps the entry until the bot stops.
    fn set(&self, key: &str, value: Value, ttl: Option<Duration>);
    /// Drops the entry; returns whether there was one.
    fn remove(&self, key: &str) -> bool;
}

/// A live stream, as Helix reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    /// Unix seconds.
    pub started_at: i64,
    /// The stream's title.
    pub title: String,
    /// The category (game) name.
    pub game: String,
    /// Viewers now.
    pub viewers: u64,
}

/// The Twitch API calls scripts may make (Helix; implemented by the API issue).
pub trait TwitchApi: Send + Sync {
    /// The channel's stream, `None` when offline.
    fn stream(&self) -> Result<Option<StreamInfo>, String>;
    /// When `login` followed the channel (unix seconds), `None` if they do not follow.
    fn followed_at(&self, login: &str) -> Result<Option<i64>, String>;
    /// When the account `login` was created (unix seconds), `None` if it does not exist.
    fn created_at(&self, login: &str) -> Result<Option<i64>, String>;
    /// The last category `login` streamed, `None` if unknown.
    fn last_game(&self, login: &str) -> Result<Option<String>, String>;
    /// The account id of `login`, `None` if there is no such account.
    fn user_id(&self, login: &str) -> Result<Option<String>, String> {
        let _ = login;
        Err("this Twitch API cannot look up accounts".into())
    }
    /// How many follow the channel.
    fn followers(&self) -> Result<u64, String> {
        Err("this Twitch API cannot count followers".into())
    }
    /// How many subscribe to the channel.
    fn subscribers(&self) -> Result<u64, String> {
        Err("this Twitch API cannot count subscribers".into())
    }
    /// The logins in chat now.
    fn chatters(&self) -> Result<Vec<String>, String> {
        Err("this Twitch API cannot list chatters".into())
    }
    /// The channel's title and category, live or not; `None` when Twitch does not know it.
    fn channel(&self) -> Result<Option<(String, String)>, String> {
        Err("this Twitch API cannot read the channel".into())
    }
    /// The broadcaster's tools (title, polls, clips, ...), `None` where they are not offered.
    fn broadcaster(&self) -> Option<&dyn super::broadcaster::BroadcasterApi> {
        None
    }
}

#[cfg(feature = "test-support")]
mod memory;
#[cfg(feature = "test-support")]
pub use memory::{MemoryCache, MemoryStore};
