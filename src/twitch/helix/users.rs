//! Helix's user and audience endpoints: users by login (and the channel's ids), the live
//! stream, chatters, followers and subscribers.

use serde::Deserialize;

use super::{ChannelIds, Helix, HelixError, Page};
use crate::twitch::auth::Account;

/// `GET /users`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct User {
    /// The user id.
    pub id: String,
    /// The login (lower case).
    pub login: String,
    /// The name as shown in chat.
    pub display_name: String,
    /// When the account was made (RFC 3339); empty if the server did not say.
    #[serde(default)]
    pub created_at: String,
}

/// `GET /streams`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Stream {
    /// The stream's id.
    pub id: String,
    /// The broadcaster's user id.
    pub user_id: String,
    /// The category's name.
    #[serde(default)]
    pub game_name: String,
    /// The stream title.
    #[serde(default)]
    pub title: String,
    /// Viewers now.
    pub viewer_count: u64,
    /// When the stream went live (RFC 3339).
    pub started_at: String,
}

/// `GET /chat/chatters`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Chatter {
    /// The chatter's user id.
    pub user_id: String,
    /// The chatter's login.
    pub user_login: String,
    /// The chatter's display name.
    pub user_name: String,
}

/// `GET /channels/followers`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Follower {
    /// The follower's user id.
    pub user_id: String,
    /// The follower's login.
    pub user_login: String,
    /// The follower's display name.
    pub user_name: String,
    /// When they followed (RFC 3339).
    pub followed_at: String,
}

/// `GET /subscriptions`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Subscription {
    /// The subscriber's user id.
    pub user_id: String,
    /// The subscriber's login.
    pub user_login: String,
    /// `1000`, `2000` or `3000` (tier 1, 2 or 3; Prime counts as 1000).
    pub tier: String,
    /// Whether someone else gifted it.
    #[serde(default)]
    pub is_gift: bool,
}

pub(super) fn unknown(login: &str) -> HelixError {
    HelixError::Status {
        status: 404,
        path: "/users".into(),
        message: format!("Twitch knows no user `{login}`"),
    }
}

impl Helix {
    /// Looks up the bot's and the channel's user ids by login and remembers them.
    ///
    /// # Errors
    /// Network and API errors; a login Twitch does not know.
    pub async fn resolve_ids(
        &self,
        bot_login: &str,
        channel: &str,
    ) -> Result<ChannelIds, HelixError> {
        let users = self.users(&[bot_login, channel]).await?;
        let find = |login: &str| {
            users
                .iter()
                .find(|u| u.login.eq_ignore_ascii_case(login))
                .map(|u| u.id.clone())
        };
        let ids = ChannelIds {
            broadcaster_id: find(channel).ok_or_else(|| unknown(channel))?,
            bot_id: find(bot_login).ok_or_else(|| unknown(bot_login))?,
        };
        self.set_ids(ids.clone());
        Ok(ids)
    }

    /// `GET /users?login=...` (bot token).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn users(&self, logins: &[&str]) -> Result<Vec<User>, HelixError> {
        let q: Vec<_> = logins.iter().map(|l| ("login", l.to_string())).collect();
        Ok(self.get_page(Account::Bot, "/users", &q).await?.data)
    }

    /// `GET /streams?user_id=`: `None` while offline.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn stream(&self, user_id: &str) -> Result<Option<Stream>, HelixError> {
        let q = [("user_id", user_id.to_string())];
        let page: Page<Stream> = self.get_page(Account::Bot, "/streams", &q).await?;
        Ok(page.data.into_iter().next())
    }

    /// `GET /chat/chatters`, every page (the bot as moderator).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn chatters(&self) -> Result<Vec<Chatter>, HelixError> {
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("moderator_id", ids.bot_id),
        ];
        self.get_all(Account::Bot, "/chat/chatters", &q, 100_000)
            .await
    }

    /// `GET /channels/followers`: the total and the newest `first` followers.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn followers(&self, first: u32) -> Result<(u64, Vec<Follower>), HelixError> {
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("first", first.clamp(1, 100).to_string()),
        ];
        let page: Page<Follower> = self
            .get_page(Account::Broadcaster, "/channels/followers", &q)
            .await?;
        Ok((page.total.unwrap_or(0), page.data))
    }

    /// When `user_id` followed the channel (RFC 3339), `None` if they do not follow.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn followed_at(&self, user_id: &str) -> Result<Option<String>, HelixError> {
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("user_id", user_id.to_string()),
        ];
        let page: Page<Follower> = self
            .get_page(Account::Broadcaster, "/channels/followers", &q)
            .await?;
        Ok(page
            .data
            .into_iter()
            .find(|f| f.user_id == user_id)
            .map(|f| f.followed_at))
    }

    /// `GET /subscriptions`, every page (broadcaster token).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn subscriptions(&self) -> Result<Vec<Subscription>, HelixError> {
        let ids = self.need_ids()?;
        let q = [("broadcaster_id", ids.broadcaster_id)];
        self.get_all(Account::Broadcaster, "/subscriptions", &q, 100_000)
            .await
    }
}
