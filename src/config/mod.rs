//! Configuration: the YAML files in `configs/`, read into typed structs with errors that name
//! file, line, column and key.
//!
//! Owns parsing and validation only; who reloads configs and when is the app's business.

pub mod bot;
pub mod secrets;

use std::path::{Path, PathBuf};

pub use bot::BotConfig;
pub use secrets::Secrets;

/// A config error a user can act on: `file:line:col: key: what is wrong`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}:{line}:{col}: {key}: {message}")]
    Invalid {
        file: PathBuf,
        line: u64,
        col: u64,
        key: String,
        message: String,
    },
    #[error("{file}: {message}")]
    File { file: PathBuf, message: String },
}

/// Every config file, loaded.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub bot: BotConfig,
    pub secrets: Secrets,
}

/// Reads one YAML file into `T`; a missing file yields `T::default()`.
pub fn load_file<T>(path: &Path) -> Result<T, ConfigError>
where
    T: serde::de::DeserializeOwned + Default,
{
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
        Err(e) => {
            return Err(ConfigError::File {
                file: path.into(),
                message: e.to_string(),
            });
        }
    };
    serde_saphyr::from_str(&text).map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        ConfigError::Invalid {
            file: path.into(),
            line,
            col,
            key: String::new(),
            message: e.to_string(),
        }
    })
}

impl Config {
    /// Loads every config file from `dir`.
    pub fn load(dir: &Path) -> Result<Config, ConfigError> {
        Ok(Config {
            bot: load_file(&dir.join("bot.yaml"))?,
            secrets: load_file(&dir.join("secrets.yaml"))?,
        })
    }
}
