//! How the process ends: the exit codes a service manager sees, and [`Exit`], the one way any
//! task asks the whole bot to stop with one of them. Nothing else ends the process early.
//!
//! The codes follow BSD's `sysexits.h`, which systemd's `RestartPreventExitStatus` and most
//! service managers understand.

use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

/// Success, after Ctrl-C, SIGTERM or the terminal's `/quit`.
pub const OK: u8 = 0;
/// A start-up failure a restart may fix (a port in use, a database another process holds).
pub const FAILURE: u8 = 1;
/// Something inside the bot broke in a way it could not repair by restarting the part (a
/// long-lived task that keeps dying): a restart of the process may help. `EX_SOFTWARE`.
pub const SOFTWARE: u8 = 70;
/// A restart cannot help until the user acts: a config file that does not load, or the bot
/// account's grant revoked with no newer token in secrets.yaml. `EX_CONFIG`; the systemd unit
/// names it in `RestartPreventExitStatus`, so a broken config is not a restart loop.
pub const CONFIG: u8 = 78;

/// A shared request to end the process with a code. The first request wins; later ones are
/// logged and ignored. Requesting cancels the bot's shutdown token, so every task winds down
/// the normal way (pending writes committed) before the process exits.
#[derive(Clone, Debug, Default)]
pub struct Exit {
    shutdown: CancellationToken,
    requested: Arc<Mutex<Option<(u8, String)>>>,
}

impl Exit {
    /// An exit handle that cancels `shutdown` when asked to end the process.
    pub fn new(shutdown: CancellationToken) -> Exit {
        Exit {
            shutdown,
            requested: Arc::default(),
        }
    }

    /// Asks the process to end with `code`; `reason` is logged as an error, worded for the user
    /// (what broke and what to do).
    pub fn request(&self, code: u8, reason: impl Into<String>) {
        let reason = reason.into();
        let mut requested = self
            .requested
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if requested.is_none() {
            tracing::error!("stopping the bot (exit code {code}): {reason}");
            *requested = Some((code, reason));
        } else {
            tracing::debug!("already stopping; also asked to stop with {code}: {reason}");
        }
        drop(requested);
        self.shutdown.cancel();
    }

    /// The code and reason asked for, if any task asked.
    pub fn requested(&self) -> Option<(u8, String)> {
        self.requested
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The token that requesting cancels.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_request_wins_and_cancels_the_shutdown_token() {
        let token = CancellationToken::new();
        let exit = Exit::new(token.clone());
        assert_eq!(exit.requested(), None);
        exit.request(CONFIG, "bot.yaml does not load");
        exit.request(SOFTWARE, "later");
        assert!(token.is_cancelled());
        assert_eq!(
            exit.requested(),
            Some((CONFIG, "bot.yaml does not load".into()))
        );
    }
}
