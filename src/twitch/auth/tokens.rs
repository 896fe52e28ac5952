//! The live tokens of both accounts: refreshed when they expire (rotating refresh tokens merged
//! into secrets.yaml under its cross-process lock) and validated at start and every hour.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::*;
use crate::config::secrets::{Grant, Secrets};
use crate::event::{ConnectionChange, ConnectionState, Event, Service};
use crate::exit::{self, Exit};
use crate::queue::EventSender;
use crate::twitch::scopes;

/// The live tokens of both accounts, shared by Helix, EventSub and the validator. A refresh
/// replaces the pair and saves secrets.yaml atomically.
#[derive(Clone)]
pub struct Tokens {
    inner: Arc<TokensInner>,
}

struct TokensInner {
    auth: AuthClient,
    secrets: Mutex<Secrets>,
    path: Option<PathBuf>,
    /// Accounts whose refreshed grant could not be written yet.
    unsaved: Mutex<Vec<Account>>,
    /// One refresh at a time: two requests failing with 401 together must not spend the
    /// rotating refresh token twice.
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens { .. }")
    }
}

impl Tokens {
    /// Tokens from `secrets`; refreshed pairs are written to `path` when given.
    pub fn new(auth: AuthClient, secrets: Secrets, path: Option<PathBuf>) -> Tokens {
        Tokens {
            inner: Arc::new(TokensInner {
                auth,
                secrets: Mutex::new(secrets),
                path,
                unsaved: Mutex::new(Vec::new()),
                refreshing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The OAuth client.
    pub fn auth(&self) -> &AuthClient {
        &self.inner.auth
    }

    /// The app's client id (the `Client-Id` header).
    pub fn client_id(&self) -> String {
        self.lock().client_id.clone()
    }

    /// The current access token of `account` (empty when none).
    pub fn access(&self, account: Account) -> String {
        grant(&self.lock(), account).access_token.clone()
    }

    /// A copy of the secrets as they are now (with refreshed tokens).
    pub fn secrets(&self) -> Secrets {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Secrets> {
        self.inner
            .secrets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Refreshes `account`'s token after `stale` was refused; if another task already did,
    /// returns the newer token without spending the refresh token again. The new pair is
    /// merged into secrets.yaml (only this grant changes there). When Twitch refuses the
    /// refresh token, secrets.yaml is read again first: if another process (`twitch-bot auth`)
    /// saved a newer grant meanwhile, that grant is taken instead of declaring this one revoked.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] when the grant is gone and no newer one was saved; network
    /// failures. A failed save is logged, not returned: the new token works in memory, and the
    /// save is tried again at the next validation.
    pub async fn refresh(&self, account: Account, stale: &str) -> Result<String, AuthError> {
        let _one = self.inner.refreshing.lock().await;
        let held = grant(&self.lock(), account).clone();
        if held.access_token != stale && !held.access_token.is_empty() {
            return Ok(held.access_token);
        }
        let fresh = match self.inner.auth.refresh(account, &held.refresh_token).await {
            Ok(fresh) => fresh.into_grant(&held),
            Err(e @ (AuthError::Invalid(_) | AuthError::Missing(_))) => {
                return match self.newer_on_disk(account, &held).await {
                    Some(newer) => {
                        info!("{account} token: taking the newer grant saved in secrets.yaml");
                        let token = newer.access_token.clone();
                        *grant_mut(&mut self.lock(), account) = newer;
                        Ok(token)
                    }
                    None => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        let token = fresh.access_token.clone();
        *grant_mut(&mut self.lock(), account) = fresh;
        info!("{account} token refreshed");
        self.save_grant(account).await;
        Ok(token)
    }

    /// The grant secrets.yaml holds for `account` when it differs from `held` (another process
    /// signed in again since this one read it).
    async fn newer_on_disk(&self, account: Account, held: &Grant) -> Option<Grant> {
        let path = self.inner.path.clone()?;
        let on_disk = tokio::task::spawn_blocking(move || crate::config::secrets::load(&path))
            .await
            .ok()?
            .ok()?;
        let g = grant(&on_disk, account);
        (g.is_complete() && g.refresh_token != held.refresh_token).then(|| g.clone())
    }

    /// Merges `account`'s grant as held now into secrets.yaml. On failure the grant stays
    /// marked unsaved and the next validation tries again.
    async fn save_grant(&self, account: Account) {
        let Some(path) = self.inner.path.clone() else {
            return;
        };
        let held = grant(&self.lock(), account).clone();
        let to_write = held.clone();
        let target = path.clone();
        let written = tokio::task::spawn_blocking(move || {
            crate::config::secrets::update(&target, |s| *grant_mut(s, account) = to_write)
        })
        .await;
        let failure = match written {
            Ok(Ok(_)) => None,
            Ok(Err(errors)) => Some(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Err(e) => Some(e.to_string()),
        };
        let mut unsaved = self
            .inner
            .unsaved
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        unsaved.retain(|a| *a != account);
        if let Some(message) = failure {
            error!(
                "cannot save the {account} account's refreshed token to {}: {message}. It works \
                 for this run; fix the file and it is saved at the next hourly validation, or \
                 the next start needs `twitch-bot auth`",
                path.display()
            );
            unsaved.push(account);
        }
    }

    /// Saves the grants whose last save failed.
    async fn retry_unsaved(&self) {
        let pending: Vec<Account> = self
            .inner
            .unsaved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for account in pending {
            self.save_grant(account).await;
        }
    }

    /// Validates `account`'s token, refreshing it once when Twitch says it is invalid.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] when even a refresh cannot help.
    pub async fn validate(&self, account: Account) -> Result<Validation, AuthError> {
        self.retry_unsaved().await;
        let token = self.access(account);
        if token.is_empty() {
            return Err(AuthError::Missing(account));
        }
        if let Some(v) = self.inner.auth.validate(&token).await? {
            return Ok(v);
        }
        let token = self.refresh(account, &token).await?;
        self.inner
            .auth
            .validate(&token)
            .await?
            .ok_or(AuthError::Invalid(account))
    }
}

pub(super) fn grant(s: &Secrets, account: Account) -> &Grant {
    match account {
        Account::Bot => &s.bot,
        Account::Broadcaster => &s.broadcaster,
    }
}

pub(super) fn grant_mut(s: &mut Secrets, account: Account) -> &mut Grant {
    match account {
        Account::Bot => &mut s.bot,
        Account::Broadcaster => &mut s.broadcaster,
    }
}

/// Validates both grants now and then every `every`, refreshing as needed; network failures
/// are retried at the next tick. A grant that is gone (after [`Tokens::refresh`] looked for a
/// newer one in secrets.yaml) is handled by whose it is:
/// - the bot account's: chat and every Helix call depend on it and no restart can bring it
///   back, so the process is asked to end with [`exit::CONFIG`] and a message naming
///   `twitch-bot auth` (a service manager then does not restart it into the same error);
/// - the broadcaster's: chat goes on; the features that need that grant (from
///   [`scopes::FEATURES`]) are named once as off, with a `Helix` health event, and that account
///   is no longer checked.
pub fn spawn_validator(
    tokens: Tokens,
    every: Duration,
    events: EventSender,
    exit: Exit,
) -> JoinHandle<()> {
    let shutdown = exit.shutdown_token();
    tokio::spawn(async move {
        let mut dead: Vec<Account> = Vec::new();
        let mut unreachable_said = false;
        let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            for account in [Account::Bot, Account::Broadcaster] {
                if dead.contains(&account) || tokens.access(account).is_empty() {
                    continue;
                }
                match tokens.validate(account).await {
                    Ok(v) => {
                        unreachable_said = false;
                        tracing::debug!(%account, login = %v.login, expires_in = v.expires_in, "token valid");
                    }
                    Err(
                        e
                        @ (AuthError::Http(_) | AuthError::Status { .. } | AuthError::Save { .. }),
                    ) => {
                        // Network down, or a server without /validate (the Twitch CLI mock):
                        // not the user's grant's fault, so say it once and try next time.
                        if !unreachable_said {
                            warn!("cannot validate Twitch tokens ({e}); retrying later");
                            unreachable_said = true;
                        }
                    }
                    Err(e) => {
                        dead.push(account);
                        if account == Account::Bot {
                            exit.request(
                                exit::CONFIG,
                                format!("{e}; chat and the Twitch API cannot run without it"),
                            );
                            return;
                        }
                        let off: Vec<&str> = scopes::features_of(account).map(|f| f.name).collect();
                        error!("{e}. Chat goes on; off until then: {}", off.join(", "));
                        let _ = events
                            .send(Event::Connection(ConnectionChange {
                                service: Service::Helix,
                                state: ConnectionState::Down {
                                    reason: e.to_string(),
                                },
                            }))
                            .await;
                    }
                }
            }
        }
    })
}
