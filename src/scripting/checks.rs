//! Cooldowns, channel-wide and per viewer. A use is reserved when the checks pass and rolled back
//! if the run is refused later (not enough points), so a refused viewer is not also put on
//! cooldown. State is keyed by script key and survives reloads.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use compact_str::CompactString;
use tokio::time::Instant;

/// Per-viewer entries kept before stale ones are swept.
const SWEEP_AT: usize = 4_096;

#[derive(Default)]
struct Cooldown {
    last: Option<Instant>,
    users: HashMap<CompactString, Instant>,
}

/// A use taken by [`Cooldowns::try_use`], to undo if the run is refused later.
#[derive(Debug, Clone)]
pub struct Reservation {
    key: String,
    user_id: CompactString,
    at: Instant,
    prev_channel: Option<Instant>,
    prev_user: Option<Instant>,
}

/// Every script's channel and per-viewer cooldowns, reserved before a run is queued.
#[derive(Default)]
pub struct Cooldowns {
    map: Mutex<HashMap<String, Cooldown>>,
}

impl Cooldowns {
    /// Checks the channel-wide cooldown, then the viewer's, and takes a use if both pass.
    ///
    /// # Errors
    /// The seconds left (rounded up) on the cooldown that refused.
    pub fn try_use(
        &self,
        key: &str,
        channel_secs: u64,
        user_secs: u64,
        user_id: &str,
    ) -> Result<Option<Reservation>, u64> {
        if channel_secs == 0 && user_secs == 0 {
            return Ok(None);
        }
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(key) {
            map.insert(key.to_owned(), Cooldown::default());
        }
        let Some(cd) = map.get_mut(key) else {
            return Ok(None);
        };
        let left = |since: Instant, secs: u64| -> Option<u64> {
            // Settings are capped at load; a time past what the clock can hold never ends.
            let Some(end) = since.checked_add(Duration::from_secs(secs)) else {
                return Some(secs);
            };
            (end > now).then(|| {
                let ms = (end - now).as_millis().div_ceil(1_000);
                u64::try_from(ms).unwrap_or(u64::MAX)
            })
        };
        let channel_left = if channel_secs > 0 {
            cd.last.and_then(|t| left(t, channel_secs))
        } else {
            None
        };
        if let Some(rest) = channel_left {
            return Err(rest);
        }
        let user_last = if user_secs > 0 {
            cd.users.get(user_id).copied()
        } else {
            None
        };
        if let Some(rest) = user_last.and_then(|t| left(t, user_secs)) {
            return Err(rest);
        }
        let reservation = Reservation {
            key: key.to_owned(),
            user_id: user_id.into(),
            at: now,
            prev_channel: cd.last,
            prev_user: user_last,
        };
        if channel_secs > 0 {
            cd.last = Some(now);
        }
        if user_secs > 0 {
            if cd.users.len() >= SWEEP_AT {
                let keep = Duration::from_secs(user_secs);
                cd.users.retain(|_, t| now.duration_since(*t) < keep);
            }
            cd.users.insert(user_id.into(), now);
        }
        Ok(Some(reservation))
    }

    /// Gives a reserved use back, unless a later use replaced it.
    pub fn rollback(&self, r: Reservation) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let Some(cd) = map.get_mut(&r.key) else {
            return;
        };
        if cd.last == Some(r.at) {
            cd.last = r.prev_channel;
        }
        if cd.users.get(&r.user_id) == Some(&r.at) {
            match r.prev_user {
                Some(t) => {
                    cd.users.insert(r.user_id, t);
                }
                None => {
                    cd.users.remove(&r.user_id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cooldown_past_what_the_clock_holds_refuses_without_a_panic() {
        let cd = Cooldowns::default();
        assert!(cd.try_use("commands/x", u64::MAX, u64::MAX, "u").is_ok());
        assert_eq!(
            cd.try_use("commands/x", u64::MAX, 0, "u").err(),
            Some(u64::MAX)
        );
        assert!(cd.try_use("commands/y", 0, u64::MAX, "u").is_ok());
        assert!(cd.try_use("commands/y", 0, u64::MAX, "u").is_err());
    }
}
