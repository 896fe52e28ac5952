//! Helix's channel endpoints: the channel's information and its update, stream markers, and
//! channel-points redemptions.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Helix, HelixError, Page};
use crate::twitch::auth::Account;

/// A channel's information from `GET /channels`, live or not.
#[derive(Debug, Clone, Deserialize)]
pub struct ChannelInfo {
    /// The stream title.
    #[serde(default)]
    pub title: String,
    /// The category's name (empty when none is set).
    #[serde(default)]
    pub game_name: String,
}

/// `PATCH /channels` fields; `None` leaves a field alone.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChannelPatch {
    /// The new stream title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The new category's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub game_id: Option<String>,
}

impl Helix {
    /// `GET /channels`: the channel's title and category, live or not (`None` when Twitch does
    /// not know the channel).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn channel_info(&self) -> Result<Option<ChannelInfo>, HelixError> {
        let ids = self.need_ids()?;
        let q = [("broadcaster_id", ids.broadcaster_id)];
        let page: Page<ChannelInfo> = self.get_page(Account::Bot, "/channels", &q).await?;
        Ok(page.data.into_iter().next())
    }

    /// `PATCH /channels` (title, game) with the broadcaster's token.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn patch_channel(&self, patch: &ChannelPatch) -> Result<(), HelixError> {
        let ids = self.need_ids()?;
        let q = [("broadcaster_id", ids.broadcaster_id)];
        let body = serde_json::to_value(patch).unwrap_or(Value::Null);
        self.call(
            Account::Broadcaster,
            Method::PATCH,
            "/channels",
            &q,
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// `POST /streams/markers`.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn create_marker(&self, description: &str) -> Result<(), HelixError> {
        let ids = self.need_ids()?;
        let body = json!({"user_id": ids.broadcaster_id, "description": description});
        self.call(
            Account::Broadcaster,
            Method::POST,
            "/streams/markers",
            &[],
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// `PATCH /channel_points/custom_rewards/redemptions`: `FULFILLED` or `CANCELED`.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn update_redemption(
        &self,
        reward_id: &str,
        redemption_id: &str,
        fulfilled: bool,
    ) -> Result<(), HelixError> {
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("reward_id", reward_id.to_string()),
            ("id", redemption_id.to_string()),
        ];
        let status = if fulfilled { "FULFILLED" } else { "CANCELED" };
        self.call(
            Account::Broadcaster,
            Method::PATCH,
            "/channel_points/custom_rewards/redemptions",
            &q,
            Some(&json!({"status": status})),
        )
        .await
        .map(drop)
    }
}
