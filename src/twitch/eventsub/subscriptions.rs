//! Which version, scope and condition each EventSub subscription type takes, and where
//! subscriptions are created.

use serde_json::{Value, json};

use crate::twitch::scopes::{MANAGE_MODERATORS, MODERATION_READ};

/// The types that tell the bot it was made or unmade a moderator (condition
/// `broadcaster_user_id`, the broadcaster's `moderation:read` or `channel:manage:moderators`).
pub const MODERATOR_TYPES: [&str; 2] = ["channel.moderator.add", "channel.moderator.remove"];

/// Whether a broadcaster grant holding `scopes` may subscribe to [`MODERATOR_TYPES`]. An empty
/// list means the scopes were not saved with the grant: unknown, so the subscription is tried
/// and Twitch decides.
pub fn may_read_moderators(scopes: &[String]) -> bool {
    scopes.is_empty()
        || scopes
            .iter()
            .any(|s| s == MODERATION_READ || s == MANAGE_MODERATORS)
}

/// The version Twitch currently serves for `kind` and the scope it needs.
pub fn version_and_scope(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "channel.update" => ("2", "(none)"),
        "channel.follow" => ("2", "moderator:read:followers"),
        "channel.subscribe" | "channel.subscription.gift" | "channel.subscription.message" => {
            ("1", "channel:read:subscriptions")
        }
        "channel.cheer" => ("1", "bits:read"),
        "channel.channel_points_custom_reward_redemption.add"
        | "channel.channel_points_custom_reward_redemption.update" => {
            ("1", "channel:read:redemptions")
        }
        "channel.ad_break.begin" => ("1", "channel:read:ads"),
        "channel.moderator.add" | "channel.moderator.remove" => ("1", MODERATION_READ),
        k if k.starts_with("channel.poll.") => ("1", "channel:read:polls"),
        k if k.starts_with("channel.prediction.") => ("1", "channel:read:predictions"),
        k if k.starts_with("channel.hype_train.") => ("2", "channel:read:hype_train"),
        "channel.chat.message"
        | "channel.chat.notification"
        | "channel.chat.message_delete"
        | "channel.chat.clear"
        | "channel.chat.clear_user_messages"
        | "channel.chat_settings.update" => ("1", "user:read:chat"),
        _ => ("1", "(see the EventSub reference)"),
    }
}

/// The condition for `kind` on the broadcaster's channel (the broadcaster is their own
/// moderator, so follow v2 works with the broadcaster's token).
pub fn condition(kind: &str, broadcaster_id: &str) -> Value {
    match kind {
        "channel.follow" => {
            json!({"broadcaster_user_id": broadcaster_id, "moderator_user_id": broadcaster_id})
        }
        "channel.raid" => json!({"to_broadcaster_user_id": broadcaster_id}),
        "channel.chat.message" => {
            json!({"broadcaster_user_id": broadcaster_id, "user_id": broadcaster_id})
        }
        _ => json!({"broadcaster_user_id": broadcaster_id}),
    }
}

/// Where subscriptions are created: `twitch.eventsub_subscriptions_url`, or `helix_url` +
/// `/eventsub/subscriptions` (the Twitch CLI's EventSub mock takes them on its own port).
pub fn subscriptions_url(twitch: &crate::config::bot::TwitchConfig) -> String {
    twitch
        .eventsub_subscriptions_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| {
            format!(
                "{}/eventsub/subscriptions",
                twitch.helix_url.trim_end_matches('/')
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_condition_names_the_broadcaster_as_moderator() {
        assert_eq!(
            condition("channel.follow", "42"),
            json!({"broadcaster_user_id": "42", "moderator_user_id": "42"})
        );
        assert_eq!(version_and_scope("channel.follow").0, "2");
        assert_eq!(version_and_scope("channel.hype_train.begin").0, "2");
        assert_eq!(
            condition("channel.raid", "42"),
            json!({"to_broadcaster_user_id": "42"})
        );
    }

    #[test]
    fn moderator_events_take_the_broadcasters_moderation_read() {
        for kind in MODERATOR_TYPES {
            assert_eq!(version_and_scope(kind), ("1", "moderation:read"));
            assert_eq!(condition(kind, "42"), json!({"broadcaster_user_id": "42"}));
        }
        let held = |s: &[&str]| s.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        assert!(may_read_moderators(&held(&[
            "bits:read",
            "moderation:read"
        ])));
        assert!(may_read_moderators(&held(&["channel:manage:moderators"])));
        assert!(!may_read_moderators(&held(&["bits:read"])));
        assert!(may_read_moderators(&[]), "unknown scopes: Twitch decides");
    }
}
