//! What can go wrong with a Helix call, which failures no retry can help, and the patient retry
//! start-up calls use.

use std::time::Duration;

use tracing::{debug, warn};

use crate::twitch::auth::{Account, AuthError};

/// What can go wrong with a Helix call.
#[derive(Debug, thiserror::Error)]
pub enum HelixError {
    /// The request did not reach Twitch or its answer could not be read off the wire.
    #[error("cannot reach Twitch's API: {0}")]
    Http(#[from] reqwest::Error),
    /// The token is missing, revoked or could not be refreshed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Twitch answered with an error status (or a 2xx body that cannot be read).
    #[error("Twitch answered {status} to {path}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The request's path, without its query.
        path: String,
        /// Twitch's `message`, or the body as it came.
        message: String,
    },
    /// Refused locally: a shoutout now would break Twitch's limits.
    #[error("shoutout refused by Twitch's limits: wait {wait_secs} s")]
    ShoutoutTooSoon {
        /// Seconds until a shoutout is allowed again.
        wait_secs: u64,
    },
    /// A call that needs the channel's ids came before they were resolved.
    #[error("the channel's and the bot's user ids are not known yet")]
    NoIds,
    #[error(
        "the {account} account's grant lacks the scope `{scope}`: run `twitch-bot auth` again to grant it"
    )]
    /// The grant lacks a scope the call needs; only a new sign-in helps.
    MissingScope {
        /// The scope the grant lacks.
        scope: String,
        /// Whose grant lacks it.
        account: Account,
    },
}

impl HelixError {
    /// The HTTP status Twitch answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            HelixError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Whether `e` means a grant itself is gone (revoked, expired or missing token): no retry can
/// help until the user runs `twitch-bot auth`, so loops report it once and stop.
pub fn is_grant_error(e: &HelixError) -> bool {
    matches!(
        e,
        HelixError::Auth(
            AuthError::Invalid(_) | AuthError::Missing(_) | AuthError::Expired | AuthError::Denied
        )
    )
}

/// Retries `f` until it succeeds, for start-up calls made while the API may be down: any failure
/// but a lost grant ([`is_grant_error`], returned at once) is retried forever with jittered
/// back-off, said once as a warning. The waits start at 1 s and, since nothing has worked yet,
/// stay under [`crate::backoff::START_CAP`] (or `max`, if smaller): the call succeeds within a
/// few seconds of Twitch answering again.
///
/// # Errors
/// Only a lost grant.
pub async fn with_backoff<T, F, Fut>(what: &str, max: Duration, mut f: F) -> Result<T, HelixError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, HelixError>>,
{
    let mut backoff = crate::backoff::Backoff::new(Duration::from_secs(1), max);
    loop {
        match f().await {
            Err(e) if !is_grant_error(&e) => {
                let wait = backoff.next_delay();
                if backoff.failures() == 1 {
                    warn!("{what}: Twitch's API failed ({e}); retrying in the background");
                } else {
                    debug!("{what}: still failing ({e}); next try in {wait:?}");
                }
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn status(code: u16) -> HelixError {
        HelixError::Status {
            status: code,
            path: "/users".into(),
            message: "nope".into(),
        }
    }

    #[test]
    fn only_a_lost_grant_is_a_grant_error() {
        for e in [
            HelixError::Auth(AuthError::Invalid(Account::Bot)),
            HelixError::Auth(AuthError::Missing(Account::Broadcaster)),
            HelixError::Auth(AuthError::Expired),
            HelixError::Auth(AuthError::Denied),
        ] {
            assert!(is_grant_error(&e), "{e}");
        }
        for e in [status(401), status(500), HelixError::NoIds] {
            assert!(!is_grant_error(&e), "{e}");
        }
    }

    #[test]
    fn the_status_is_known_only_when_twitch_answered() {
        assert_eq!(status(429).status(), Some(429));
        assert_eq!(HelixError::NoIds.status(), None);
    }

    #[test]
    fn a_missing_scope_says_which_and_what_to_run() {
        let e = HelixError::MissingScope {
            scope: "moderator:manage:warnings".into(),
            account: Account::Bot,
        };
        let text = e.to_string();
        assert!(text.contains("bot account"), "{text}");
        assert!(text.contains("moderator:manage:warnings"), "{text}");
        assert!(text.contains("twitch-bot auth"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_retries_until_twitch_answers() {
        let calls = AtomicU32::new(0);
        let got = with_backoff("test", Duration::from_secs(30), || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(status(503))
            } else {
                Ok(42)
            }
        })
        .await;
        assert_eq!(got.ok(), Some(42));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_gives_up_at_once_on_a_lost_grant() {
        let calls = AtomicU32::new(0);
        let got: Result<(), _> = with_backoff("test", Duration::from_secs(30), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(HelixError::Auth(AuthError::Invalid(Account::Bot)))
        })
        .await;
        assert!(got.is_err_and(|e| is_grant_error(&e)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
