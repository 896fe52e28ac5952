//! `configs/secrets.yaml`: tokens and the console token. Never logged; refused when others can
//! read the file (Unix).

use serde::Deserialize;

/// A user's OAuth grant.
#[derive(Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Grant {
    pub access_token: String,
    pub refresh_token: String,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Grant { .. }")
    }
}

/// The whole of `configs/secrets.yaml`.
#[derive(Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Secrets {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub bot: Grant,
    pub broadcaster: Grant,
    pub console_token: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}
