//! The console's own settings and the configs: reloading configs, the console's TLS and
//! session settings, and its token (made on first start, replaced by "sign out everywhere").

use std::path::Path;
use std::sync::atomic::Ordering;

use tracing::warn;

use super::{AppConsole, internal};
use crate::clock::now_ms;
use crate::config::secrets;
use crate::console::{BoxFuture, ConfigReport, ConsoleError, ConsoleSettings, LiveEvent};

pub(super) fn reload_configs(
    console: &AppConsole,
) -> BoxFuture<'_, Result<ConfigReport, ConsoleError>> {
    Box::pin(async move {
        let (dir, tx) = (console.config_dir.clone(), console.config.clone());
        let errors =
            tokio::task::spawn_blocking(move || super::super::config_watch::reload(&dir, &tx))
                .await
                .map_err(internal)?;
        let reloads = console.config_reloads.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(ConfigReport {
            reloads,
            at_ms: now_ms(),
            errors,
        })
    })
}

pub(super) fn console_settings(console: &AppConsole) -> ConsoleSettings {
    let config = console.config.borrow().clone();
    let c = &config.bot.console;
    ConsoleSettings {
        tls: c
            .tls_cert
            .as_ref()
            .zip(c.tls_key.as_ref())
            .map(|(cert, key)| (console.config_dir.join(cert), console.config_dir.join(key))),
        behind_proxy: c.behind_proxy,
        public_name: c.public_name.clone(),
        session_hours: c.session_hours,
    }
}

pub(super) fn save_console_token(
    console: &AppConsole,
    token: String,
) -> BoxFuture<'_, Result<(), ConsoleError>> {
    Box::pin(async move {
        let path = console.config_dir.join("secrets.yaml");
        let saved = tokio::task::spawn_blocking(move || {
            secrets::update(&path, |s| s.console_token = token)
        })
        .await
        .map_err(internal)?;
        match saved {
            Ok(_) => {
                let _ = console.log.send(LiveEvent::Notice {
                    level: "warn",
                    text: "console: signed out everywhere; a new console token is in \
                           configs/secrets.yaml"
                        .into(),
                });
                Ok(())
            }
            Err(errors) => Err(ConsoleError::Internal(format!(
                "the new console token could not be saved, so the old one still works: {}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ))),
        }
    })
}

/// The console token: the one in secrets.yaml, or a new one merged into it (mode 0600). If
/// another process saved one meanwhile, that one is used.
pub fn console_token(config_dir: &Path, current: &str) -> String {
    if !current.trim().is_empty() {
        return current.to_string();
    }
    let token = crate::console::generate_token();
    let path = config_dir.join("secrets.yaml");
    let written = secrets::update(&path, |s| {
        if s.console_token.trim().is_empty() {
            s.console_token = token.clone();
        }
    });
    match written {
        Ok(saved) => saved.console_token,
        Err(errors) => {
            for e in errors {
                warn!("{e}");
            }
            warn!(
                "cannot save the console token in {}; it is kept for this run only",
                path.display()
            );
            token
        }
    }
}
