//! Points, users, script stores and the cache in memory: the test doubles of the traits in
//! [`super`], for the test suite, benches and fuzz targets (the `test-support` feature).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use compact_str::CompactString;
use serde_json::Value;

use super::{Cache, Points, ScriptStore, StoreError, UserInfo, UserRef, Users};

/// Points, users and script stores in memory, for tests.
#[derive(Debug, Default)]
pub struct MemoryStore {
    points: Mutex<HashMap<CompactString, (UserRef, i64)>>,
    users: Mutex<HashMap<CompactString, UserInfo>>,
    stores: Mutex<HashMap<String, HashMap<String, Value>>>,
}

impl MemoryStore {
    /// An empty ledger and no stores.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Records a viewer (tests use this to make logins resolvable).
    pub fn upsert_user(&self, info: UserInfo) {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users.insert(info.id.clone(), info);
    }

    fn remember(&self, user: &UserRef) {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users.entry(user.id.clone()).or_insert_with(|| UserInfo {
            id: user.id.clone(),
            login: user.login.clone(),
            display_name: user.display_name.clone(),
            ..UserInfo::default()
        });
    }
}

impl Points for MemoryStore {
    fn balance(&self, user_id: &str) -> Result<i64, StoreError> {
        let points = self.points.lock().unwrap_or_else(|p| p.into_inner());
        Ok(points.get(user_id).map_or(0, |(_, n)| *n))
    }

    fn add(&self, user: &UserRef, amount: i64, _reason: &str) -> Result<i64, StoreError> {
        if amount <= 0 {
            return Err(StoreError::BadAmount(amount));
        }
        self.remember(user);
        let mut points = self.points.lock().unwrap_or_else(|p| p.into_inner());
        let entry = points
            .entry(user.id.clone())
            .or_insert_with(|| (user.clone(), 0));
        entry.1 = entry.1.saturating_add(amount);
        Ok(entry.1)
    }

    fn take(&self, user: &UserRef, amount: i64, _reason: &str) -> Result<i64, StoreError> {
        if amount <= 0 {
            return Err(StoreError::BadAmount(amount));
        }
        let mut points = self.points.lock().unwrap_or_else(|p| p.into_inner());
        let have = points.get(&user.id).map_or(0, |(_, n)| *n);
        if have < amount {
            return Err(StoreError::NotEnoughPoints { have, need: amount });
        }
        let entry = points
            .entry(user.id.clone())
            .or_insert_with(|| (user.clone(), 0));
        entry.1 = have - amount;
        Ok(entry.1)
    }

    fn leaderboard(&self, n: usize) -> Result<Vec<(UserRef, i64)>, StoreError> {
        let points = self.points.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<(UserRef, i64)> = points.values().cloned().collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.login.cmp(&b.0.login)));
        all.truncate(n);
        Ok(all)
    }
}

impl Users for MemoryStore {
    fn by_id(&self, user_id: &str) -> Option<UserInfo> {
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users.get(user_id).cloned()
    }

    fn by_login(&self, login: &str) -> Option<UserInfo> {
        let login = login.trim_start_matches('@');
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users
            .values()
            .find(|u| u.login.eq_ignore_ascii_case(login))
            .cloned()
    }
}

impl ScriptStore for MemoryStore {
    fn get(&self, script: &str, key: &str) -> Result<Option<Value>, StoreError> {
        let stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        Ok(stores.get(script).and_then(|s| s.get(key)).cloned())
    }

    fn set(&self, script: &str, key: &str, value: Value) -> Result<(), StoreError> {
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        stores
            .entry(script.to_owned())
            .or_default()
            .insert(key.to_owned(), value);
        Ok(())
    }

    fn remove(&self, script: &str, key: &str) -> Result<bool, StoreError> {
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        Ok(stores
            .get_mut(script)
            .is_some_and(|s| s.remove(key).is_some()))
    }

    fn keys(&self, script: &str) -> Result<Vec<String>, StoreError> {
        let stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        let mut keys: Vec<String> = stores
            .get(script)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        Ok(keys)
    }
}

/// Entries kept by [`MemoryCache`] before expired ones are swept on insert.
const CACHE_SWEEP_AT: usize = 10_000;

/// The cache in memory, with a lifespan per entry.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, (Value, Option<Instant>)>>,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> MemoryCache {
        MemoryCache::default()
    }
}

impl Cache for MemoryCache {
    fn get(&self, key: &str) -> Option<Value> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(key) {
            Some((_, Some(until))) if *until <= Instant::now() => {
                entries.remove(key);
                None
            }
            Some((v, _)) => Some(v.clone()),
            None => None,
        }
    }

    fn set(&self, key: &str, value: Value, ttl: Option<Duration>) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CACHE_SWEEP_AT {
            entries.retain(|_, (_, until)| until.is_none_or(|u| u > now));
        }
        // A lifespan past what the clock can hold is as good as none.
        entries.insert(
            key.to_owned(),
            (value, ttl.and_then(|t| now.checked_add(t))),
        );
    }

    fn remove(&self, key: &str) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(key).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_lifespan_past_what_the_clock_holds_keeps_the_entry() {
        let cache = MemoryCache::new();
        cache.set("k", Value::from(1), Some(Duration::MAX));
        assert_eq!(cache.get("k"), Some(Value::from(1)));
    }
}
