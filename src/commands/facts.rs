//! The variables' look-ups on the parts scripts already use: points from the scripts' ledger,
//! the rest from their Twitch API helper (which waits at most the scripts' network time).

use rand::seq::IndexedRandom;

use super::vars::{Facts, Live};
use crate::scripting::Services;

/// [`Services`] as the variables' facts.
pub struct ServiceFacts(pub Services);

fn twitch(s: &Services) -> Result<&dyn crate::scripting::stores::TwitchApi, String> {
    s.twitch
        .as_deref()
        .ok_or_else(|| "the Twitch API is off (run `twitch-bot auth`)".to_owned())
}

impl Facts for ServiceFacts {
    fn points(&self, user_id: &str) -> Result<i64, String> {
        self.0.points.balance(user_id).map_err(|e| e.to_string())
    }

    fn stream(&self) -> Result<Option<Live>, String> {
        Ok(twitch(&self.0)?.stream()?.map(|s| Live {
            started_at: s.started_at,
            title: s.title,
            game: s.game,
        }))
    }

    fn followed_at(&self, login: &str) -> Result<Option<i64>, String> {
        twitch(&self.0)?.followed_at(login)
    }

    fn created_at(&self, login: &str) -> Result<Option<i64>, String> {
        twitch(&self.0)?.created_at(login)
    }

    fn followers(&self) -> Result<u64, String> {
        twitch(&self.0)?.followers()
    }

    fn subscribers(&self) -> Result<u64, String> {
        twitch(&self.0)?.subscribers()
    }

    fn random_chatter(&self) -> Result<Option<String>, String> {
        let chatters = twitch(&self.0)?.chatters()?;
        Ok(chatters.choose(&mut rand::rng()).cloned())
    }

    fn now(&self) -> i64 {
        unix_now()
    }

    fn channel(&self) -> Result<Option<(String, String)>, String> {
        twitch(&self.0)?.channel()
    }

    fn user_id(&self, login: &str) -> Option<String> {
        twitch(&self.0).ok()?.user_id(login).ok().flatten()
    }
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// No look-ups at all (a bot without storage or Twitch): every such variable is unavailable.
pub struct NoFacts;

impl Facts for NoFacts {
    fn points(&self, _: &str) -> Result<i64, String> {
        Err("no points here".into())
    }
    fn stream(&self) -> Result<Option<Live>, String> {
        Err("the Twitch API is off".into())
    }
    fn followed_at(&self, _: &str) -> Result<Option<i64>, String> {
        Err("the Twitch API is off".into())
    }
    fn created_at(&self, _: &str) -> Result<Option<i64>, String> {
        Err("the Twitch API is off".into())
    }
    fn followers(&self) -> Result<u64, String> {
        Err("the Twitch API is off".into())
    }
    fn subscribers(&self) -> Result<u64, String> {
        Err("the Twitch API is off".into())
    }
    fn random_chatter(&self) -> Result<Option<String>, String> {
        Err("the Twitch API is off".into())
    }
    fn now(&self) -> i64 {
        unix_now()
    }
}
