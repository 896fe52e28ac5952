//! The channel's one list of regulars, keyed by Twitch user id: the logins under `regulars:` in
//! moderation.yaml (the file keeps logins; each is resolved to its id from the viewers the bot
//! has seen, or at the login's first message) plus those added with `!regular add` or in the
//! console (stored in redb). A regular passes filters that exempt `regular` and reaches the
//! `regular` permission level, between everyone and subscriber.

use std::collections::{HashMap, HashSet};
use std::sync::{PoisonError, RwLock};

use serde::Serialize;

use crate::storage::Storage;

/// One regular, for chat and the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Regular {
    /// The regular's login.
    pub login: String,
    /// `None` for a login from moderation.yaml the bot has not seen yet.
    pub user_id: Option<String>,
    /// `config` (moderation.yaml: edit the file to remove) or `chat` (added in chat or console).
    pub source: &'static str,
}

#[derive(Debug, Default)]
struct State {
    /// Added in chat or the console: id → login.
    added: HashMap<String, String>,
    /// moderation.yaml's logins (lower case) → their id once known.
    config: HashMap<String, Option<String>>,
    /// The ids of `config`, for the per-message check.
    config_ids: HashSet<String>,
}

/// The regulars list; share it through an `Arc`.
#[derive(Debug, Default)]
pub struct Regulars {
    storage: Option<Storage>,
    state: RwLock<State>,
}

impl Regulars {
    /// The list from storage plus moderation.yaml's `logins`. A storage failure leaves the
    /// stored part empty (and is logged): chat goes on.
    pub fn load(storage: Option<Storage>, logins: &[String]) -> Regulars {
        let mut state = State::default();
        if let Some(storage) = &storage {
            match storage.regulars() {
                Ok(rows) => state.added = rows.into_iter().collect(),
                Err(e) => tracing::warn!("cannot read the regulars from the database: {e}"),
            }
        }
        let regulars = Regulars {
            storage,
            state: RwLock::new(state),
        };
        regulars.set_config(logins);
        regulars
    }

    /// moderation.yaml's `regulars:` after a reload: each login resolved to its id when the
    /// bot has seen it.
    pub fn set_config(&self, logins: &[String]) {
        let config: HashMap<String, Option<String>> = logins
            .iter()
            .map(|l| l.trim().trim_start_matches('@').to_ascii_lowercase())
            .filter(|l| !l.is_empty())
            .map(|l| {
                let id = self
                    .storage
                    .as_ref()
                    .and_then(|s| s.user_id_by_login(&l).ok().flatten())
                    .filter(|id| !id.starts_with(crate::storage::schema::PENDING_PREFIX));
                (l, id)
            })
            .collect();
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        state.config_ids = config.values().flatten().cloned().collect();
        state.config = config;
    }

    /// Whether the viewer `id` (now called `login`) is a regular. A moderation.yaml login
    /// seen for the first time is tied to its id here, so a later rename keeps the standing.
    pub fn contains(&self, id: &str, login: &str) -> bool {
        let learn = {
            let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
            if state.added.contains_key(id) || state.config_ids.contains(id) {
                return true;
            }
            match state.config.get(login) {
                Some(None) if !id.is_empty() => true,
                _ => return false,
            }
        };
        if learn {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            state.config.insert(login.to_owned(), Some(id.to_owned()));
            state.config_ids.insert(id.to_owned());
        }
        learn
    }

    /// Adds the viewer `id` (`login`); `false` when already on the list. Durable on return.
    ///
    /// # Errors
    /// The database write failed (nothing changed).
    pub fn add(&self, id: &str, login: &str) -> Result<bool, String> {
        if let Some(storage) = &self.storage {
            storage
                .set_regular(id, Some(login))
                .map_err(|e| e.to_string())?;
        }
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        Ok(state
            .added
            .insert(id.to_owned(), login.to_owned())
            .is_none())
    }

    /// Removes the regular called `login` (added in chat or the console).
    ///
    /// # Errors
    /// The login is listed in moderation.yaml (only the file can drop it), or the database
    /// write failed.
    pub fn remove(&self, login: &str) -> Result<bool, String> {
        let login = login.trim_start_matches('@').to_ascii_lowercase();
        let (id, in_config) = {
            let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
            let id = state
                .added
                .iter()
                .find(|(_, l)| **l == login)
                .map(|(id, _)| id.clone());
            (id, state.config.contains_key(&login))
        };
        let Some(id) = id else {
            if in_config {
                return Err(format!(
                    "{login} is listed under regulars: in configs/moderation.yaml; remove the \
                     line there"
                ));
            }
            return Ok(false);
        };
        if let Some(storage) = &self.storage {
            storage.set_regular(&id, None).map_err(|e| e.to_string())?;
        }
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        state.added.remove(&id);
        Ok(true)
    }

    /// Every regular, by login.
    pub fn list(&self) -> Vec<Regular> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<Regular> = state
            .added
            .iter()
            .map(|(id, login)| Regular {
                login: login.clone(),
                user_id: Some(id.clone()),
                source: "chat",
            })
            .collect();
        for (login, id) in &state.config {
            if !state.added.values().any(|l| l == login) {
                out.push(Regular {
                    login: login.clone(),
                    user_id: id.clone(),
                    source: "config",
                });
            }
        }
        out.sort_by(|a, b| a.login.cmp(&b.login));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_login_is_tied_to_its_id_at_first_sight_and_survives_a_rename() {
        let r = Regulars::load(None, &["Alice".into()]);
        assert!(!r.contains("2", "bob"));
        assert!(r.contains("1", "alice"));
        assert!(r.contains("1", "alice_renamed"), "keyed by id once seen");
        assert!(r.add("2", "bob").unwrap());
        assert!(r.contains("2", "bob"));
        assert!(
            r.remove("alice").is_err(),
            "only the file drops a config regular"
        );
        assert!(r.remove("@Bob").unwrap());
        assert!(!r.contains("2", "bob"));
        assert_eq!(r.list().len(), 1);
    }
}
