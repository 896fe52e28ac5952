//! Twitch's delivery rule for punished accounts: once a ban or a timeout takes effect, the
//! account's later chat lines reach nobody (until the timeout ends). The fake Helix records each
//! punishment it accepts here; the fake chat servers ask before they deliver a viewer's line.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// One account's punishment as Twitch holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Punishment {
    /// When the first ban or timeout for the account took effect.
    pub first_at: Instant,
    /// When the current timeout ends; `None` for a ban.
    pub until: Option<Instant>,
}

impl Punishment {
    /// Whether the account may not chat at `now`.
    pub fn mutes_at(&self, now: Instant) -> bool {
        self.until.is_none_or(|end| now < end)
    }
}

/// Why Helix refused a punishment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `user_id` empty or missing: Twitch answers 400.
    NoUser,
    /// The account is banned already: Twitch answers 400 to a ban or a timeout.
    AlreadyBanned,
}

/// Punished accounts by user id, shared by the fake Helix (which writes) and the fake chats
/// (which read). Cloning shares the same record.
#[derive(Debug, Clone, Default)]
pub struct Punishments {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_user: Mutex<HashMap<String, Punishment>>,
    /// Counts every change, so a fast reader can cache its view and refresh it only on change.
    generation: AtomicU64,
}

impl Punishments {
    fn map(&self) -> MutexGuard<'_, HashMap<String, Punishment>> {
        self.inner
            .by_user
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `POST /moderation/bans` at `now`: a timeout of `duration` when set, else a ban.
    /// A new timeout replaces the running one, as on Twitch.
    ///
    /// # Errors
    /// What Twitch refuses with 400: no user id, or the account banned already.
    pub fn punish(
        &self,
        user_id: &str,
        duration: Option<Duration>,
        now: Instant,
    ) -> Result<(), Refused> {
        if user_id.is_empty() {
            return Err(Refused::NoUser);
        }
        let mut map = self.map();
        let until = duration.map(|d| now + d);
        match map.get_mut(user_id) {
            Some(p) if p.until.is_none() => return Err(Refused::AlreadyBanned),
            Some(p) => p.until = until,
            None => {
                map.insert(
                    user_id.to_string(),
                    Punishment {
                        first_at: now,
                        until,
                    },
                );
            }
        }
        self.inner.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Lifts a ban or timeout (`DELETE /moderation/bans`). The time of the first punishment is
    /// forgotten too.
    pub fn lift(&self, user_id: &str) {
        if self.map().remove(user_id).is_some() {
            self.inner.generation.fetch_add(1, Ordering::Release);
        }
    }

    /// Whether Twitch would withhold a line `user_id` sends at `now`.
    pub fn is_muted(&self, user_id: &str, now: Instant) -> bool {
        self.map().get(user_id).is_some_and(|p| p.mutes_at(now))
    }

    /// The account's punishment, if it has one.
    pub fn get(&self, user_id: &str) -> Option<Punishment> {
        self.map().get(user_id).copied()
    }

    /// Every punished account.
    pub fn all(&self) -> Vec<(String, Punishment)> {
        self.map().iter().map(|(id, p)| (id.clone(), *p)).collect()
    }

    /// Changes so far (bans, timeouts, lifts).
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_mutes_until_it_ends_and_a_ban_for_good() {
        let p = Punishments::default();
        let t0 = Instant::now();
        assert!(!p.is_muted("42", t0));
        p.punish("42", Some(Duration::from_secs(60)), t0)
            .expect("timeout");
        assert!(p.is_muted("42", t0 + Duration::from_secs(59)));
        assert!(!p.is_muted("42", t0 + Duration::from_secs(61)));
        assert!(!p.is_muted("43", t0), "only that account");
        p.punish("42", None, t0 + Duration::from_secs(70))
            .expect("ban");
        assert!(p.is_muted("42", t0 + Duration::from_secs(100_000)));
        assert_eq!(p.get("42").map(|p| p.first_at), Some(t0));
    }

    #[test]
    fn twitch_refuses_to_punish_a_banned_account_again_or_nobody() {
        let p = Punishments::default();
        let t0 = Instant::now();
        p.punish("7", None, t0).expect("ban");
        let before = p.generation();
        assert_eq!(
            p.punish("7", Some(Duration::from_secs(600)), t0),
            Err(Refused::AlreadyBanned)
        );
        assert_eq!(p.punish("7", None, t0), Err(Refused::AlreadyBanned));
        assert_eq!(p.punish("", None, t0), Err(Refused::NoUser));
        assert_eq!(p.generation(), before);
        p.lift("7");
        assert!(!p.is_muted("7", t0));
    }
}
