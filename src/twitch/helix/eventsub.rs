//! Helix's EventSub endpoints: creating, listing and deleting subscriptions (the WebSocket
//! client itself lives in `twitch::eventsub`).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::decode::{page, path_of};
use super::{Helix, HelixError, Page};
use crate::twitch::auth::Account;

/// An EventSub subscription as Helix lists it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct EventSubSubscription {
    /// The subscription's id.
    pub id: String,
    /// `enabled`, or why it is not (`websocket_disconnected`, …).
    pub status: String,
    /// The subscription type (`channel.follow`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The type's version.
    pub version: String,
    /// The condition it was created with (broadcaster id, …).
    pub condition: Value,
}

impl Helix {
    /// `POST` to the EventSub subscriptions URL (`url`: Helix's or the Twitch CLI mock's).
    ///
    /// # Errors
    /// See [`HelixError`]; Twitch's refusal (403 missing scope, 409 exists) comes back as
    /// [`HelixError::Status`].
    pub async fn create_eventsub(
        &self,
        url: &str,
        kind: &str,
        version: &str,
        condition: &Value,
        session_id: &str,
    ) -> Result<EventSubSubscription, HelixError> {
        let body = json!({
            "type": kind,
            "version": version,
            "condition": condition,
            "transport": {"method": "websocket", "session_id": session_id},
        });
        let v = self
            .request_url(Account::Broadcaster, Method::POST, url, &[], Some(&body))
            .await?;
        let page: Page<EventSubSubscription> = page(url, v)?;
        page.data
            .into_iter()
            .next()
            .ok_or_else(|| HelixError::Status {
                status: 200,
                path: path_of(url),
                message: "no subscription in the answer".into(),
            })
    }

    /// `GET` the EventSub subscriptions (every page).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn list_eventsub(&self, url: &str) -> Result<Vec<EventSubSubscription>, HelixError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let q: Vec<(&str, String)> = after.iter().map(|a| ("after", a.clone())).collect();
            let v = self
                .request_url(Account::Broadcaster, Method::GET, url, &q, None)
                .await?;
            let page: Page<EventSubSubscription> = page(url, v)?;
            let empty = page.data.is_empty();
            out.extend(page.data);
            after = page
                .pagination
                .and_then(|p| p.cursor)
                .filter(|c| !c.is_empty());
            if after.is_none() || empty {
                return Ok(out);
            }
        }
    }

    /// `DELETE` one EventSub subscription.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn delete_eventsub(&self, url: &str, id: &str) -> Result<(), HelixError> {
        self.request_url(
            Account::Broadcaster,
            Method::DELETE,
            url,
            &[("id", id.to_string())],
            None,
        )
        .await
        .map(drop)
    }
}
