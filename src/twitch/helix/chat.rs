//! Helix's chat endpoints: emotes, chat settings, announcements, shoutouts (held to Twitch's
//! limits locally) and whispers.

use std::sync::PoisonError;
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::decode::first_of;
use super::{Helix, HelixError};
use crate::twitch::auth::Account;

/// `GET /chat/emotes` and `/chat/emotes/global`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Emote {
    /// Twitch's emote id.
    pub id: String,
    /// The word that shows the emote in chat.
    pub name: String,
}

/// A channel's chat settings, as Get and Update Chat Settings answer them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSettings {
    /// Only one message per viewer every `slow_mode_wait_time` seconds.
    #[serde(default)]
    pub slow_mode: bool,
    /// Seconds between a viewer's messages while `slow_mode` is on.
    #[serde(default)]
    pub slow_mode_wait_time: Option<u32>,
    /// Only followers may chat.
    #[serde(default)]
    pub follower_mode: bool,
    /// Minutes a viewer must have followed while `follower_mode` is on.
    #[serde(default)]
    pub follower_mode_duration: Option<u32>,
    /// Only subscribers may chat.
    #[serde(default)]
    pub subscriber_mode: bool,
    /// Only emotes may be sent.
    #[serde(default)]
    pub emote_mode: bool,
    /// Unique-chat (R9K) mode: no repeated messages.
    #[serde(default)]
    pub unique_chat_mode: bool,
}

/// `PATCH /chat/settings` fields; `None` leaves a setting alone. A duration is sent with its
/// mode, as Twitch asks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChatSettingsPatch {
    /// Slow mode on or off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_mode: Option<bool>,
    /// Seconds between a viewer's messages, with `slow_mode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_mode_wait_time: Option<u32>,
    /// Followers-only mode on or off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follower_mode: Option<bool>,
    /// Minutes a viewer must have followed, with `follower_mode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follower_mode_duration: Option<u32>,
    /// Emote-only mode on or off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emote_mode: Option<bool>,
}

impl ChatSettingsPatch {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == ChatSettingsPatch::default()
    }
}

#[derive(Debug, Default)]
pub(super) struct Shoutouts {
    last_any: Option<tokio::time::Instant>,
    per_target: Vec<(String, tokio::time::Instant)>,
}

const SHOUTOUT_ANY: Duration = Duration::from_secs(120);
const SHOUTOUT_SAME: Duration = Duration::from_secs(3600);

impl Helix {
    /// `GET /chat/emotes?broadcaster_id=`.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn channel_emotes(&self, broadcaster_id: &str) -> Result<Vec<Emote>, HelixError> {
        let q = [("broadcaster_id", broadcaster_id.to_string())];
        Ok(self.get_page(Account::Bot, "/chat/emotes", &q).await?.data)
    }

    /// `GET /chat/emotes/global`.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn global_emotes(&self) -> Result<Vec<Emote>, HelixError> {
        Ok(self
            .get_page(Account::Bot, "/chat/emotes/global", &[])
            .await?
            .data)
    }

    /// `GET /chat/settings` with the bot as moderator.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn chat_settings(&self) -> Result<ChatSettings, HelixError> {
        let v = self
            .as_moderator(Method::GET, "/chat/settings", None)
            .await?;
        first_of(v, "/chat/settings")
    }

    /// `PATCH /chat/settings` (`moderator:manage:chat_settings`); returns the settings now in
    /// force.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn update_chat_settings(
        &self,
        patch: &ChatSettingsPatch,
    ) -> Result<ChatSettings, HelixError> {
        let body = serde_json::to_value(patch).unwrap_or(Value::Null);
        let v = self
            .as_moderator(Method::PATCH, "/chat/settings", Some(&body))
            .await?;
        first_of(v, "/chat/settings")
    }

    /// `POST /chat/announcements` (colour: blue, green, orange, purple or primary).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn announce(&self, text: &str, color: Option<&str>) -> Result<(), HelixError> {
        let body = json!({"message": text, "color": color.unwrap_or("primary")});
        self.as_moderator(Method::POST, "/chat/announcements", Some(&body))
            .await
            .map(drop)
    }

    /// `POST /chat/shoutouts`, refused locally within Twitch's limits (one per 2 minutes, the
    /// same channel once per 60 minutes) so the bot does not burn calls on certain refusals.
    ///
    /// # Errors
    /// [`HelixError::ShoutoutTooSoon`] and see [`HelixError`].
    pub async fn shoutout(&self, to_broadcaster_id: &str) -> Result<(), HelixError> {
        let now = tokio::time::Instant::now();
        {
            let s = self
                .inner
                .shoutouts
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut wait = Duration::ZERO;
            if let Some(last) = s.last_any {
                wait = wait.max((last + SHOUTOUT_ANY).saturating_duration_since(now));
            }
            if let Some((_, at)) = s.per_target.iter().find(|(id, _)| id == to_broadcaster_id) {
                wait = wait.max((*at + SHOUTOUT_SAME).saturating_duration_since(now));
            }
            if !wait.is_zero() {
                return Err(HelixError::ShoutoutTooSoon {
                    wait_secs: wait.as_secs().max(1),
                });
            }
        }
        let ids = self.need_ids()?;
        let q = [
            ("from_broadcaster_id", ids.broadcaster_id),
            ("to_broadcaster_id", to_broadcaster_id.to_string()),
            ("moderator_id", ids.bot_id),
        ];
        self.call(Account::Bot, Method::POST, "/chat/shoutouts", &q, None)
            .await?;
        let mut s = self
            .inner
            .shoutouts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        s.last_any = Some(now);
        s.per_target
            .retain(|(_, at)| now.saturating_duration_since(*at) < SHOUTOUT_SAME);
        s.per_target.push((to_broadcaster_id.to_string(), now));
        Ok(())
    }

    /// `POST /whispers` from the bot.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn whisper(&self, to_user_id: &str, text: &str) -> Result<(), HelixError> {
        let ids = self.need_ids()?;
        let q = [
            ("from_user_id", ids.bot_id),
            ("to_user_id", to_user_id.to_string()),
        ];
        self.call(
            Account::Bot,
            Method::POST,
            "/whispers",
            &q,
            Some(&json!({"message": text})),
        )
        .await
        .map(drop)
    }
}
