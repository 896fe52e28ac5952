//! Helix's moderation endpoints: bans and timeouts, deleting a message, warnings, blocks,
//! Shield Mode, and [`Helix::perform`], which carries out the moderation and channel actions.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::decode::first_of;
use super::{Helix, HelixError};
use crate::action::Action;
use crate::twitch::auth::Account;

/// The longest reason Twitch takes for a warning, in characters.
pub const MAX_WARNING_REASON: usize = 500;
/// The scope native warnings need (the bot account's).
pub const WARNINGS_SCOPE: &str = "moderator:manage:warnings";

/// Shield Mode's status as Get and Update Shield Mode Status answer it.
#[derive(Deserialize)]
struct ShieldStatus {
    is_active: bool,
}

impl Helix {
    /// `POST /moderation/bans`: a timeout when `duration_secs` is set, a ban otherwise.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn ban(
        &self,
        user_id: &str,
        duration_secs: Option<u32>,
        reason: &str,
    ) -> Result<(), HelixError> {
        let mut data = json!({"user_id": user_id, "reason": reason});
        if let Some(d) = duration_secs {
            data["duration"] = json!(d.clamp(1, 1_209_600));
        }
        self.as_moderator(
            Method::POST,
            "/moderation/bans",
            Some(&json!({"data": data})),
        )
        .await
        .map(drop)
    }

    /// `GET /moderation/shield_mode`: whether Shield Mode is on.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn shield_mode(&self) -> Result<bool, HelixError> {
        self.shield(Method::GET, None).await
    }

    /// `PUT /moderation/shield_mode` (`moderator:manage:shield_mode`); returns whether it is on.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn set_shield_mode(&self, on: bool) -> Result<bool, HelixError> {
        self.shield(Method::PUT, Some(&json!({"is_active": on})))
            .await
    }

    /// Get or Update Shield Mode Status; whether it is on.
    pub(super) async fn shield(
        &self,
        method: Method,
        body: Option<&Value>,
    ) -> Result<bool, HelixError> {
        let path = "/moderation/shield_mode";
        let v = self.as_moderator(method, path, body).await?;
        let status: ShieldStatus = first_of(v, path)?;
        Ok(status.is_active)
    }

    /// A call the bot makes as one of the channel's moderators (`broadcaster_id` and
    /// `moderator_id` in the query, the bot's token).
    pub(super) async fn as_moderator(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, HelixError> {
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("moderator_id", ids.bot_id),
        ];
        self.call(Account::Bot, method, path, &q, body).await
    }

    /// `DELETE /moderation/chat?message_id=`.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn delete_message(&self, message_id: &str) -> Result<(), HelixError> {
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("moderator_id", ids.bot_id),
            ("message_id", message_id.to_string()),
        ];
        self.call(Account::Bot, Method::DELETE, "/moderation/chat", &q, None)
            .await
            .map(drop)
    }

    /// `PUT /users/blocks?target_user_id=` with the broadcaster's token (scope
    /// `user:manage:blocked_users`): the broadcaster blocks the account.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn block_user(&self, user_id: &str) -> Result<(), HelixError> {
        let q = [
            ("target_user_id", user_id.to_string()),
            ("source_context", "chat".to_string()),
            ("reason", "spam".to_string()),
        ];
        self.call(Account::Broadcaster, Method::PUT, "/users/blocks", &q, None)
            .await
            .map(drop)
    }

    /// `POST /moderation/warnings`: Twitch's own warning, which the viewer must acknowledge
    /// before chatting again (no chat line of ours). `reason` is cut to Twitch's 500 characters.
    ///
    /// # Errors
    /// See [`HelixError`]; without `moderator:manage:warnings` Twitch answers 401, and 403 when
    /// the bot is not one of the channel's moderators.
    pub async fn warn_user(&self, user_id: &str, reason: &str) -> Result<(), HelixError> {
        let reason: String = reason.chars().take(MAX_WARNING_REASON).collect();
        self.as_moderator(
            Method::POST,
            "/moderation/warnings",
            Some(&json!({"data": {"user_id": user_id, "reason": reason}})),
        )
        .await
        .map(drop)
    }

    /// Carries out a Helix action (announce, timeout, ban, delete). Chat actions (`Say`,
    /// `Reply`) belong to the chat connection and are ignored here (`Ok(false)`).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn perform(&self, action: &Action) -> Result<bool, HelixError> {
        match action {
            Action::Announce { text, color, .. } => {
                self.announce(text, color.as_deref()).await?;
            }
            Action::Timeout {
                user_id,
                seconds,
                reason,
                ..
            } => self.ban(user_id, Some(*seconds), reason).await?,
            Action::Ban {
                user_id, reason, ..
            } => self.ban(user_id, None, reason).await?,
            Action::Delete { message_id, .. } => self.delete_message(message_id).await?,
            Action::Say { .. }
            | Action::Reply { .. }
            | Action::Obs(_)
            | Action::Discord(_)
            | Action::Sound(_)
            | Action::Hotkeys(_)
            | Action::Zmq(_)
            | Action::Helix(_) => {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
