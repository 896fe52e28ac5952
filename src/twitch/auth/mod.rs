//! OAuth against `twitch.auth_url`: the Device Code Grant and the authorization-code flow used by
//! `twitch-bot auth`, token refresh (rotating refresh tokens merged into secrets.yaml under its
//! cross-process lock), and the validation Twitch requires at start and every hour. Tokens
//! never reach a log line. `client` speaks to the OAuth server, `tokens` keeps both accounts'
//! tokens fresh, `signin` is `twitch-bot auth`.

use std::path::PathBuf;

pub use crate::config::api::AuthConfig;

/// The message every unrecoverable grant problem ends in.
pub const RUN_AUTH: &str = "run `twitch-bot auth` to sign in again";

/// What can go wrong talking to the OAuth server.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The auth server could not be reached or answered garbage.
    #[error("cannot reach the Twitch auth server: {0}")]
    Http(#[from] reqwest::Error),
    /// The grant is gone (revoked, expired refresh token, password change).
    #[error("the {0} account's Twitch grant is invalid or revoked: {RUN_AUTH}")]
    Invalid(Account),
    /// The device code ran out before the user approved it.
    #[error("the sign-in code expired before it was approved; run `twitch-bot auth` again")]
    Expired,
    /// The user said no in the browser.
    #[error("the sign-in was refused in the browser")]
    Denied,
    /// secrets.yaml holds no token (or no refresh token) for the account.
    #[error("the {0} account has no token: {RUN_AUTH}")]
    Missing(Account),
    /// Any other refusal, with Twitch's status and message.
    #[error("Twitch auth answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// Twitch's `message`, or the body.
        message: String,
    },
    /// secrets.yaml could not be written.
    #[error("cannot save secrets to {path}: {message}")]
    Save {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Which grant a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Account {
    /// The bot account: chat, moderation, announcements.
    Bot,
    /// The channel's owner: EventSub events and the broadcaster's tools.
    Broadcaster,
}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Account::Bot => "bot",
            Account::Broadcaster => "broadcaster",
        })
    }
}

mod client;
mod signin;
mod tokens;

pub use client::*;
pub use signin::*;
pub use tokens::*;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::client::{MAX_DEVICE_LIFETIME, MAX_POLL_INTERVAL, slower};
    use super::*;

    #[test]
    fn a_device_code_with_huge_timings_polls_within_bounds() {
        // `Instant::now() + u64::MAX seconds` used to panic the sign-in.
        let code: DeviceCode = serde_json::from_str(
            r#"{"device_code":"d","user_code":"U","verification_uri":"http://127.0.0.1:1/a",
                "expires_in":18446744073709551615,"interval":18446744073709551615}"#,
        )
        .unwrap();
        assert_eq!(code.timing(), (MAX_POLL_INTERVAL, MAX_DEVICE_LIFETIME));
        assert_eq!(slower(Duration::MAX), MAX_POLL_INTERVAL);
        let zero = DeviceCode {
            expires_in: 0,
            interval: 0,
            ..code
        };
        assert_eq!(
            zero.timing(),
            (Duration::from_secs(1), Duration::from_secs(1))
        );
    }

    #[test]
    fn auth_explains_what_the_chat_bot_badge_needs() {
        let public = chat_bot_badge_note(false);
        for words in [
            "client secret",
            "Confidential",
            "Public",
            "without the badge",
        ] {
            assert!(public.contains(words), "{public}");
        }
        assert!(chat_bot_badge_note(true).contains("app token"));
    }

    #[test]
    fn the_client_secret_is_not_in_debug_output() {
        let c = AuthClient::new(
            reqwest::Client::new(),
            "http://127.0.0.1:1",
            "cid",
            Some("secret-value"),
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret-value"), "{shown}");
        assert!(shown.contains("client_secret_set: true"), "{shown}");
    }

    #[test]
    fn token_answers_never_print_their_tokens() {
        let t = TokenResponse {
            access_token: "secret-access".into(),
            refresh_token: "secret-refresh".into(),
            expires_in: 10,
            scope: vec!["chat:read".into()],
        };
        let shown = format!("{t:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
