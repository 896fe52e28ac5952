//! The one table of bot features and the OAuth scopes each needs, per account. `twitch-bot auth`
//! asks each account for exactly the union of its rows, `twitch-bot check --live` reports each
//! row against the scopes a grant holds, and a revoked grant names the rows it switches off.
//!
//! Scopes as listed in Twitch's API and EventSub references (see `twitch-facts.md`).

use std::collections::BTreeSet;

use crate::twitch::auth::Account;

/// How much a feature matters to a running bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Chat: without it the bot cannot read or answer chat. Chat over IRC and chat over
    /// EventSub are alternatives: one of the two complete is enough.
    Chat,
    /// Any other feature: without it that feature is off and the rest goes on.
    Optional,
}

/// One feature and the scopes its account must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// What a user calls it.
    pub name: &'static str,
    /// The account whose grant the calls use.
    pub account: Account,
    /// Every scope it needs.
    pub scopes: &'static [&'static str],
    /// Whether chat depends on it.
    pub need: Need,
}

const fn row(
    name: &'static str,
    account: Account,
    scopes: &'static [&'static str],
    need: Need,
) -> Feature {
    Feature {
        name,
        account,
        scopes,
        need,
    }
}

use Account::{Bot, Broadcaster};

/// The broadcaster's scope for `channel.moderator.add` / `.remove`: without it the bot's
/// moderator status (and so its send rate class) comes from its own chat badges only.
pub const MODERATION_READ: &str = "moderation:read";

/// The other scope Twitch accepts for `channel.moderator.add` / `.remove` (it also lets the
/// grant add and remove moderators, more than the bot asks for).
pub const MANAGE_MODERATORS: &str = "channel:manage:moderators";
use Need::{Chat, Optional};

/// Every feature that needs a scope, the bot account's first.
pub const FEATURES: &[Feature] = &[
    row("chat over IRC", Bot, &["chat:read", "chat:edit"], Chat),
    row(
        "chat over EventSub",
        Bot,
        &["user:read:chat", "user:write:chat"],
        Chat,
    ),
    row(
        "Chat Bot badge (the bot's part; also needs a client secret)",
        Bot,
        &["user:bot"],
        Optional,
    ),
    row(
        "moderation (timeouts, bans, deleted messages)",
        Bot,
        &[
            "moderator:manage:banned_users",
            "moderator:manage:chat_messages",
        ],
        Optional,
    ),
    row("warnings", Bot, &["moderator:manage:warnings"], Optional),
    row(
        "raid defence: Shield Mode",
        Bot,
        &["moderator:manage:shield_mode"],
        Optional,
    ),
    row(
        "raid defence: chat settings",
        Bot,
        &["moderator:manage:chat_settings"],
        Optional,
    ),
    row(
        "announcements",
        Bot,
        &["moderator:manage:announcements"],
        Optional,
    ),
    row("shoutouts", Bot, &["moderator:manage:shoutouts"], Optional),
    row(
        "watch time (chatters list)",
        Bot,
        &["moderator:read:chatters"],
        Optional,
    ),
    row("whispers", Bot, &["user:manage:whispers"], Optional),
    row(
        "Chat Bot badge (the broadcaster's part; not needed while the bot is a moderator)",
        Broadcaster,
        &["channel:bot"],
        Optional,
    ),
    row(
        "blocks",
        Broadcaster,
        &["user:manage:blocked_users"],
        Optional,
    ),
    row(
        "EventSub: follows",
        Broadcaster,
        &["moderator:read:followers"],
        Optional,
    ),
    row(
        "EventSub: subs, resubs and gifts",
        Broadcaster,
        &["channel:read:subscriptions"],
        Optional,
    ),
    row("EventSub: cheers", Broadcaster, &["bits:read"], Optional),
    row(
        "EventSub: channel-point redemptions",
        Broadcaster,
        &["channel:read:redemptions"],
        Optional,
    ),
    row(
        "EventSub: polls",
        Broadcaster,
        &["channel:read:polls"],
        Optional,
    ),
    row(
        "EventSub: predictions",
        Broadcaster,
        &["channel:read:predictions"],
        Optional,
    ),
    row(
        "EventSub: hype train",
        Broadcaster,
        &["channel:read:hype_train"],
        Optional,
    ),
    row(
        "EventSub: the bot's moderator status (its send rate follows it at once)",
        Broadcaster,
        &[MODERATION_READ],
        Optional,
    ),
    row(
        "EventSub: ad breaks",
        Broadcaster,
        &["channel:read:ads"],
        Optional,
    ),
    row(
        "title, category and stream markers",
        Broadcaster,
        &["channel:manage:broadcast"],
        Optional,
    ),
    row("clips", Broadcaster, &["clips:edit"], Optional),
    row(
        "polls (start, end)",
        Broadcaster,
        &["channel:manage:polls"],
        Optional,
    ),
    row(
        "predictions (start, resolve)",
        Broadcaster,
        &["channel:manage:predictions"],
        Optional,
    ),
    row(
        "raids (start, cancel)",
        Broadcaster,
        &["channel:manage:raids"],
        Optional,
    ),
    row(
        "channel-point rewards (create, fulfil, refund)",
        Broadcaster,
        &["channel:manage:redemptions"],
        Optional,
    ),
    row(
        "follower and subscriber counts",
        Broadcaster,
        &["moderator:read:followers", "channel:read:subscriptions"],
        Optional,
    ),
];

/// The broadcaster tools scripts call (`ctx.twitch.*`): each call's grant and the scope Twitch
/// asks of it. Every pair is in [`FEATURES`] (a test checks), so `twitch-bot auth` asks for it
/// and `check --live` reports it; the Helix client refuses a call whose grant lacks its scope.
pub const TOOL_CALLS: &[(&str, Account, &str)] = &[
    ("set_title", Broadcaster, "channel:manage:broadcast"),
    ("set_category", Broadcaster, "channel:manage:broadcast"),
    ("create_marker", Broadcaster, "channel:manage:broadcast"),
    ("create_clip", Broadcaster, "clips:edit"),
    ("followers_count", Broadcaster, "moderator:read:followers"),
    (
        "subscribers_count",
        Broadcaster,
        "channel:read:subscriptions",
    ),
    ("chatters", Bot, "moderator:read:chatters"),
    ("whisper", Bot, "user:manage:whispers"),
    ("raid", Broadcaster, "channel:manage:raids"),
    ("cancel_raid", Broadcaster, "channel:manage:raids"),
    ("create_poll", Broadcaster, "channel:manage:polls"),
    ("poll", Broadcaster, "channel:manage:polls"),
    ("end_poll", Broadcaster, "channel:manage:polls"),
    (
        "create_prediction",
        Broadcaster,
        "channel:manage:predictions",
    ),
    ("prediction", Broadcaster, "channel:manage:predictions"),
    ("end_prediction", Broadcaster, "channel:manage:predictions"),
    ("create_reward", Broadcaster, "channel:manage:redemptions"),
    (
        "update_redemption",
        Broadcaster,
        "channel:manage:redemptions",
    ),
];

/// The grant and scope of the broadcaster-tool call `name` (see [`TOOL_CALLS`]).
pub fn tool_scope(name: &str) -> Option<(Account, &'static str)> {
    TOOL_CALLS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, account, scope)| (*account, *scope))
}

/// The scopes `account` is asked for: the union of its rows, in table order, each once.
pub fn for_account(account: Account) -> Vec<&'static str> {
    let mut seen = BTreeSet::new();
    FEATURES
        .iter()
        .filter(|f| f.account == account)
        .flat_map(|f| f.scopes.iter().copied())
        .filter(|s| seen.insert(*s))
        .collect()
}

/// The features of `account`, by name.
pub fn features_of(account: Account) -> impl Iterator<Item = &'static Feature> {
    FEATURES.iter().filter(move |f| f.account == account)
}

impl Feature {
    /// The scopes of this row that `held` lacks (empty: the feature can work).
    pub fn missing(&self, held: &[String]) -> Vec<&'static str> {
        self.scopes
            .iter()
            .copied()
            .filter(|s| !held.iter().any(|h| h == s))
            .collect()
    }
}

/// What a grant holding `held` misses of what `account` is asked for, in words: one line per
/// feature that is off (`warnings: lacks moderator:manage:warnings`), empty when complete.
pub fn missing_report(account: Account, held: &[String]) -> Vec<String> {
    features_of(account)
        .filter_map(|f| {
            let missing = f.missing(held);
            (!missing.is_empty()).then(|| format!("{}: lacks {}", f.name, missing.join(", ")))
        })
        .collect()
}

/// Whether chat can work with these grants: the IRC row or the EventSub chat row complete.
pub fn chat_possible(bot_scopes: &[String]) -> bool {
    FEATURES
        .iter()
        .filter(|f| f.need == Need::Chat)
        .any(|f| f.missing(bot_scopes).is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_account_is_asked_for_the_union_of_its_rows_once() {
        let bot = for_account(Bot);
        assert_eq!(&bot[..2], ["chat:read", "chat:edit"]);
        assert!(bot.contains(&"moderator:manage:shield_mode"));
        assert!(!bot.contains(&"channel:bot"));
        let broadcaster = for_account(Broadcaster);
        let once: BTreeSet<_> = broadcaster.iter().collect();
        assert_eq!(once.len(), broadcaster.len(), "no scope asked twice");
        assert!(broadcaster.contains(&"channel:manage:raids"));
        // The moderator events are read with the broadcaster's grant, never the bot's.
        assert!(broadcaster.contains(&MODERATION_READ));
        assert!(!bot.contains(&MODERATION_READ));
        let held: Vec<String> = broadcaster
            .iter()
            .filter(|s| **s != MODERATION_READ)
            .map(|s| (*s).to_string())
            .collect();
        let report = missing_report(Broadcaster, &held);
        assert_eq!(report.len(), 1, "{report:?}");
        assert!(report[0].contains("moderator status") && report[0].ends_with("moderation:read"));
        assert!(!broadcaster.contains(&"chat:read"));
    }

    #[test]
    fn every_tool_call_scope_is_asked_for() {
        for (name, account, scope) in TOOL_CALLS {
            assert!(
                for_account(*account).contains(scope),
                "{name}: `{scope}` is not asked of the {account} account"
            );
        }
        assert_eq!(
            tool_scope("create_poll"),
            Some((Broadcaster, "channel:manage:polls"))
        );
    }

    #[test]
    fn chat_needs_one_complete_pair() {
        let held = |s: &[&str]| s.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        assert!(chat_possible(&held(&["chat:read", "chat:edit"])));
        assert!(chat_possible(&held(&["user:read:chat", "user:write:chat"])));
        assert!(!chat_possible(&held(&["chat:read", "user:write:chat"])));
    }

    #[test]
    fn a_missing_scope_is_named_with_its_feature() {
        let mut held: Vec<String> = for_account(Bot).iter().map(|s| (*s).to_string()).collect();
        assert!(missing_report(Bot, &held).is_empty());
        held.retain(|s| s != "user:bot" && s != "user:write:chat");
        let report = missing_report(Bot, &held);
        assert_eq!(report.len(), 2, "{report:?}");
        assert!(report[0].starts_with("chat over EventSub: lacks user:write:chat"));
        assert!(report[1].contains("Chat Bot badge") && report[1].ends_with("lacks user:bot"));
        // The bot asks for the chat scopes, the broadcaster for channel:bot.
        assert!(
            ["user:read:chat", "user:write:chat", "user:bot"]
                .iter()
                .all(|s| for_account(Bot).contains(s))
        );
        assert!(for_account(Broadcaster).contains(&"channel:bot"));
    }
}
