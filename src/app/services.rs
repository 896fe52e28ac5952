//! What scripts reach besides chat, backed by the real parts: points, viewers and per-script
//! stores (with their quota from `configs/bot.yaml`) on the redb [`Storage`], the in-memory
//! [`Cache`], and the loyalty rules from `configs/loyalty.yaml`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::cache::Cache;
use crate::scripting::stores::{self, StoreError, UserInfo, UserRef};
use crate::storage::{KvLimit, KvQuota, Storage, StorageError};

/// Storage as the scripts' points ledger, viewer lookup and key-value store.
#[derive(Clone)]
pub struct StorageServices {
    /// The database the points and users live in.
    pub storage: Storage,
}

fn backend(e: StorageError) -> StoreError {
    match e {
        StorageError::InsufficientPoints { balance, needed } => StoreError::NotEnoughPoints {
            have: i64::try_from(balance).unwrap_or(i64::MAX),
            need: i64::try_from(needed).unwrap_or(i64::MAX),
        },
        full @ StorageError::StoreFull { limit, .. } => StoreError::Full {
            message: full.to_string(),
            config_key: match limit {
                KvLimit::Keys => "scripts.store_max_keys",
                KvLimit::Bytes => "scripts.store_max_bytes",
            },
        },
        other => StoreError::Backend(other.to_string()),
    }
}

fn positive(amount: i64) -> Result<u64, StoreError> {
    u64::try_from(amount)
        .ok()
        .filter(|n| *n > 0)
        .ok_or(StoreError::BadAmount(amount))
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl StorageServices {
    /// Makes sure the viewer's row exists with their current login and name.
    fn touch(&self, user: &UserRef) -> Result<(), StoreError> {
        self.storage
            .with_points(|p| p.touch(&user.id, &user.login, &user.display_name).map(drop))
            .map_err(backend)
    }
}

impl stores::Points for StorageServices {
    fn balance(&self, user_id: &str) -> Result<i64, StoreError> {
        self.storage.get(user_id).map(signed).map_err(backend)
    }

    fn add(&self, user: &UserRef, amount: i64, reason: &str) -> Result<i64, StoreError> {
        let n = positive(amount)?;
        self.storage
            .with_points(|p| {
                p.touch(&user.id, &user.login, &user.display_name)?;
                p.change(&user.id, signed(n), reason)
            })
            .map(|r| signed(r.balance))
            .map_err(backend)
    }

    fn take(&self, user: &UserRef, amount: i64, reason: &str) -> Result<i64, StoreError> {
        let n = positive(amount)?;
        self.touch(user)?;
        self.storage
            .take(&user.id, n, reason)
            .map(signed)
            .map_err(backend)
    }

    fn refund_last(&self, user: &UserRef, reason: &str) -> Result<Option<(i64, i64)>, StoreError> {
        let trail = self.storage.audit_for(&user.id).map_err(backend)?;
        for (audit_id, entry) in trail.iter().rev().filter(|(_, e)| e.delta < 0) {
            match self.storage.refund(*audit_id, reason).map_err(backend)? {
                crate::storage::Applied::Done(balance) => {
                    return Ok(Some((entry.delta.saturating_neg(), signed(balance))));
                }
                crate::storage::Applied::Duplicate => {}
            }
        }
        Ok(None)
    }

    fn leaderboard(&self, n: usize) -> Result<Vec<(UserRef, i64)>, StoreError> {
        let rows = self.storage.leaderboard(n).map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let points = signed(r.points);
                (
                    UserRef {
                        id: r.id.into(),
                        login: r.login.into(),
                        display_name: r.display_name.into(),
                    },
                    points,
                )
            })
            .collect())
    }
}

impl stores::Users for StorageServices {
    fn by_id(&self, user_id: &str) -> Option<UserInfo> {
        let r = self.storage.user(user_id).ok()??;
        Some(UserInfo {
            id: r.id.into(),
            login: r.login.into(),
            display_name: r.display_name.into(),
            watch_time_secs: r.watch_secs,
            messages: r.messages,
        })
    }

    fn by_login(&self, login: &str) -> Option<UserInfo> {
        let login = login.trim().trim_start_matches('@').to_ascii_lowercase();
        let id = self.storage.user_id_by_login(&login).ok()??;
        self.by_id(&id)
    }
}

/// Storage as the scripts' own stores, each held to `quota`.
#[derive(Clone)]
pub struct ScriptStores {
    /// The database the stores live in.
    pub storage: Storage,
    /// How much each script may keep.
    pub quota: KvQuota,
}

impl ScriptStores {
    /// The stores with the quota `scripts:` in bot.yaml sets.
    pub fn new(storage: Storage, config: &crate::config::scripts::ScriptsConfig) -> ScriptStores {
        ScriptStores {
            storage,
            quota: KvQuota {
                max_keys: config.store_max_keys,
                max_bytes: config.store_max_bytes,
            },
        }
    }
}

impl stores::ScriptStore for ScriptStores {
    fn get(&self, script: &str, key: &str) -> Result<Option<Value>, StoreError> {
        let raw = self.storage.kv_get(script, key).map_err(backend)?;
        Ok(raw.map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    fn set(&self, script: &str, key: &str, value: Value) -> Result<(), StoreError> {
        self.storage
            .kv_set(script, key, &value.to_string(), self.quota)
            .map_err(backend)
    }

    fn remove(&self, script: &str, key: &str) -> Result<bool, StoreError> {
        self.storage.kv_remove(script, key).map_err(backend)
    }

    fn keys(&self, script: &str) -> Result<Vec<String>, StoreError> {
        self.storage.kv_keys(script).map_err(backend)
    }
}

/// The shared cache as the scripts' cache.
pub struct CacheService(pub Arc<Cache>);

impl stores::Cache for CacheService {
    fn get(&self, key: &str) -> Option<Value> {
        self.0.get(key)
    }

    fn set(&self, key: &str, value: Value, ttl: Option<Duration>) {
        self.0.set(key, value, ttl);
    }

    fn remove(&self, key: &str) -> bool {
        self.0.remove(key)
    }
}

/// The Twitch API for scripts. Scripts run on their own threads, so each call waits for Helix
/// (at most two seconds) on the runtime that owns the client.
pub struct HelixForScripts {
    /// The Helix client, at the priority scripts' lookups wait at.
    pub helix: crate::twitch::helix::Helix,
    /// The runtime the blocking script calls hand their Helix calls to.
    pub runtime: tokio::runtime::Handle,
    /// Where the clips scripts start are watched until Twitch has made them.
    pub clips: super::broadcaster::ClipWatch,
    /// The channel-point rewards the bot created.
    pub rewards: super::broadcaster::OwnedRewards,
}

fn unix(rfc3339: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(rfc3339).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

impl HelixForScripts {
    pub(super) fn wait<T, F>(&self, f: F) -> Result<T, String>
    where
        F: std::future::Future<Output = Result<T, crate::twitch::helix::HelixError>>,
    {
        self.runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(2), f).await })
            .map_err(|_| "the Twitch API did not answer in time".to_string())?
            .map_err(|e| e.to_string())
    }

    fn user_id(&self, login: &str) -> Result<Option<String>, String> {
        let login = login.trim().trim_start_matches('@').to_ascii_lowercase();
        let users = self.wait(self.helix.users(&[login.as_str()]))?;
        Ok(users.into_iter().next().map(|u| u.id))
    }
}

impl stores::TwitchApi for HelixForScripts {
    fn stream(&self) -> Result<Option<stores::StreamInfo>, String> {
        let id = self.helix.ids().broadcaster_id;
        let stream = self.wait(self.helix.stream(&id))?;
        Ok(stream.map(|s| stores::StreamInfo {
            started_at: unix(&s.started_at).unwrap_or(0),
            title: s.title,
            game: s.game_name,
            viewers: s.viewer_count,
        }))
    }

    fn followed_at(&self, login: &str) -> Result<Option<i64>, String> {
        let Some(id) = HelixForScripts::user_id(self, login)? else {
            return Ok(None);
        };
        Ok(self
            .wait(self.helix.followed_at(&id))?
            .and_then(|t| unix(&t)))
    }

    fn created_at(&self, login: &str) -> Result<Option<i64>, String> {
        let login = login.trim().trim_start_matches('@').to_ascii_lowercase();
        let users = self.wait(self.helix.users(&[login.as_str()]))?;
        Ok(users.into_iter().next().and_then(|u| unix(&u.created_at)))
    }

    fn user_id(&self, login: &str) -> Result<Option<String>, String> {
        HelixForScripts::user_id(self, login)
    }

    fn followers(&self) -> Result<u64, String> {
        self.wait(self.helix.followers_count())
    }

    fn subscribers(&self) -> Result<u64, String> {
        self.wait(self.helix.subscribers_count())
    }

    fn chatters(&self) -> Result<Vec<String>, String> {
        self.wait(self.helix.chatter_logins())
    }

    fn channel(&self) -> Result<Option<(String, String)>, String> {
        self.wait(self.helix.channel_info())
            .map(|c| c.map(|c| (c.title, c.game_name)))
    }

    fn last_game(&self, login: &str) -> Result<Option<String>, String> {
        let Some(id) = HelixForScripts::user_id(self, login)? else {
            return Ok(None);
        };
        Ok(self
            .wait(self.helix.stream(&id))?
            .map(|s| s.game_name)
            .filter(|g| !g.is_empty()))
    }

    fn broadcaster(&self) -> Option<&dyn crate::scripting::broadcaster::BroadcasterApi> {
        Some(self)
    }
}
