//! Chat over EventSub: the `channel.chat.*` notifications a bot's own session receives, turned
//! into the same [`Event`]s the IRC reader produces for the same happening — a chat line into
//! [`Event::Chat`], a sub, gift, raid or announcement into [`Event::UserNotice`], a deleted
//! message into [`Event::ClearMsg`], a cleared chat or user into [`Event::ClearChat`] and new
//! chat settings into [`Event::RoomState`]. The bot's own message (its echo) becomes the
//! [`Event::UserState`] IRC sends after each message, which carries its badges.
//!
//! Pure functions over the payload; never panic. What IRC has and EventSub does not say is left
//! at its "unknown" value: `returning_chatter` (always `false`), `action` (EventSub does not mark
//! `/me`), a deleted message's text, and a timeout's length on `clear_user_messages`.

use compact_str::CompactString;
use serde_json::Value;

use crate::event::{
    Badge, ChatMessage, Chatter, ClearChat, ClearMsg, EmoteRange, Event, ReplyParent, Roles,
    RoomState, SubTier, UserNotice, UserNoticeKind, UserState,
};

/// The subscription types a bot's chat session creates, in the order they are created (the
/// message type first: whether it is accepted decides the transport).
pub const CHAT_SUBSCRIPTIONS: &[&str] = &[
    "channel.chat.message",
    "channel.chat.notification",
    "channel.chat.message_delete",
    "channel.chat.clear",
    "channel.chat.clear_user_messages",
    "channel.chat_settings.update",
];

/// The scope every chat subscription needs on the bot's token.
pub const READ_SCOPE: &str = "user:read:chat";

/// Whether `kind` is one of the chat types decoded here.
pub fn is_chat_type(kind: &str) -> bool {
    CHAT_SUBSCRIPTIONS.contains(&kind)
}

/// The events one chat notification stands for. `kind` is the subscription type, `message_id`
/// the envelope's id (used when the payload has none), `timestamp` the envelope's
/// `message_timestamp` (RFC 3339), `payload` the notification's whole `payload` (its
/// `subscription.condition.user_id` names the bot, whose own lines are echoes).
pub fn chat_events(kind: &str, message_id: &str, timestamp: &str, payload: &Value) -> Vec<Event> {
    let ev = &payload["event"];
    let bot_id = payload["subscription"]["condition"]["user_id"]
        .as_str()
        .unwrap_or_default();
    let sent_ms = jiff_ms(timestamp);
    let channel = s(ev, "broadcaster_user_login");
    let room_id = s(ev, "broadcaster_user_id");
    match kind {
        "channel.chat.message" => {
            let msg = chat_message(ev, sent_ms);
            if !bot_id.is_empty() && msg.sender.id == bot_id {
                return vec![Event::UserState(UserState {
                    channel: Some(msg.channel),
                    user_id: Some(msg.sender.id),
                    display_name: msg.sender.display_name,
                    roles: msg.sender.roles,
                    badges: msg.sender.badges,
                })];
            }
            vec![Event::Chat(Box::new(msg))]
        }
        "channel.chat.notification" => {
            vec![Event::UserNotice(Box::new(user_notice(
                ev, message_id, sent_ms,
            )))]
        }
        "channel.chat.message_delete" => vec![Event::ClearMsg(ClearMsg {
            channel,
            login: s(ev, "target_user_login"),
            target_msg_id: s(ev, "message_id"),
            text: String::new(),
        })],
        "channel.chat.clear" => vec![Event::ClearChat(ClearChat {
            channel,
            target_login: None,
            target_user_id: None,
            duration_secs: None,
        })],
        "channel.chat.clear_user_messages" => vec![Event::ClearChat(ClearChat {
            channel,
            target_login: Some(s(ev, "target_user_login")),
            target_user_id: Some(s(ev, "target_user_id")),
            duration_secs: None,
        })],
        "channel.chat_settings.update" => {
            let on = |k: &str| ev[k].as_bool();
            vec![Event::RoomState(RoomState {
                channel,
                room_id: Some(room_id),
                emote_only: on("emote_mode"),
                followers_only: match on("follower_mode") {
                    Some(true) => Some(
                        ev["follower_mode_duration_minutes"]
                            .as_i64()
                            .map_or(0, |m| m.clamp(0, i64::from(i32::MAX)) as i32),
                    ),
                    Some(false) => Some(-1),
                    None => None,
                },
                r9k: on("unique_chat_mode"),
                slow_secs: match on("slow_mode") {
                    Some(true) => Some(n(ev, "slow_mode_wait_time_seconds")),
                    Some(false) => Some(0),
                    None => None,
                },
                subs_only: on("subscriber_mode"),
            })]
        }
        _ => Vec::new(),
    }
}

/// Milliseconds since the epoch of an RFC 3339 timestamp; 0 when it does not parse.
fn jiff_ms(timestamp: &str) -> u64 {
    timestamp
        .parse::<jiff::Timestamp>()
        .map(|t| u64::try_from(t.as_millisecond()).unwrap_or(0))
        .unwrap_or(0)
}

fn s(v: &Value, key: &str) -> CompactString {
    CompactString::from(v[key].as_str().unwrap_or_default())
}

fn n(v: &Value, key: &str) -> u32 {
    v[key]
        .as_u64()
        .map(|x| u32::try_from(x).unwrap_or(u32::MAX))
        .or_else(|| v[key].as_str().and_then(|t| t.parse().ok()))
        .unwrap_or(0)
}

/// `[{set_id, id, info}]` into badges, roles and the months subscribed (`info` of the
/// subscriber or founder badge).
fn badges(list: &Value) -> (Vec<Badge>, Roles, u32) {
    let mut badges = Vec::new();
    let mut roles = Roles::empty();
    let mut months = 0;
    for b in list.as_array().map(Vec::as_slice).unwrap_or_default() {
        let name = s(b, "set_id");
        if name.is_empty() {
            continue;
        }
        roles.insert(Roles::from_badge(&name));
        if matches!(name.as_str(), "subscriber" | "founder") && months == 0 {
            months = b["info"].as_str().and_then(|i| i.parse().ok()).unwrap_or(0);
        }
        badges.push(Badge {
            name,
            version: s(b, "id"),
        });
    }
    (badges, roles, months)
}

/// The chatter of a chat payload (`chatter_user_*`, `badges`, `color`); the broadcaster is the
/// user whose id is the channel's, as on IRC.
fn chatter(ev: &Value) -> (Chatter, u32) {
    let (badges, mut roles, months) = badges(&ev["badges"]);
    let id = s(ev, "chatter_user_id");
    if !id.is_empty() && id == ev["broadcaster_user_id"].as_str().unwrap_or_default() {
        roles.insert(Roles::BROADCASTER);
    }
    let login = s(ev, "chatter_user_login");
    let name = s(ev, "chatter_user_name");
    let color = s(ev, "color");
    (
        Chatter {
            id,
            display_name: if name.is_empty() { login.clone() } else { name },
            login,
            roles,
            badges,
            color: (!color.is_empty()).then_some(color),
        },
        months,
    )
}

/// Emote ranges (in Unicode scalar values, inclusive ends, as IRC counts them) and the bits of
/// the cheermotes, from `message.fragments`.
fn fragments(message: &Value) -> (Vec<EmoteRange>, u32) {
    let mut emotes = Vec::new();
    let mut bits: u32 = 0;
    let mut pos: u32 = 0;
    for f in message["fragments"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let len = u32::try_from(f["text"].as_str().unwrap_or_default().chars().count())
            .unwrap_or(u32::MAX);
        match f["type"].as_str() {
            Some("emote") if len > 0 => emotes.push(EmoteRange {
                id: s(&f["emote"], "id"),
                start: pos,
                end: pos.saturating_add(len - 1),
            }),
            Some("cheermote") => bits = bits.saturating_add(n(&f["cheermote"], "bits")),
            _ => {}
        }
        pos = pos.saturating_add(len);
    }
    (emotes, bits)
}

fn nonempty(ev: &Value, key: &str) -> Option<CompactString> {
    ev[key]
        .as_str()
        .filter(|v| !v.is_empty())
        .map(CompactString::from)
}

/// A `channel.chat.message` event into the message IRC's PRIVMSG gives.
fn chat_message(ev: &Value, sent_ms: u64) -> ChatMessage {
    let (sender, sub_months) = chatter(ev);
    let (emotes, cheered) = fragments(&ev["message"]);
    let reply = &ev["reply"];
    let reply_parent = nonempty(reply, "parent_message_id").map(|msg_id| ReplyParent {
        msg_id,
        user_login: s(reply, "parent_user_login"),
        display_name: s(reply, "parent_user_name"),
        body: reply["parent_message_body"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    });
    let bits = match ev["cheer"]["bits"].as_u64() {
        Some(b) => u32::try_from(b).unwrap_or(u32::MAX),
        None => cheered,
    };
    ChatMessage {
        id: s(ev, "message_id"),
        channel: s(ev, "broadcaster_user_login"),
        room_id: s(ev, "broadcaster_user_id"),
        sender,
        text: ev["message"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        action: false,
        emotes,
        bits,
        first_msg: ev["message_type"].as_str() == Some("user_intro"),
        returning_chatter: false,
        sub_months,
        reply_parent,
        source_room_id: nonempty(ev, "source_broadcaster_user_id"),
        source_id: nonempty(ev, "source_message_id"),
        sent_ms,
    }
}

/// A `channel.chat.notification` event into the USERNOTICE IRC gives for it. `notice_type`
/// picks the kind; Shared Chat's `shared_chat_*` types read as the kind they wrap, with the
/// source channel set (the dispatcher logs those only, as for IRC).
fn user_notice(ev: &Value, message_id: &str, sent_ms: u64) -> UserNotice {
    let (mut sender, _) = chatter(ev);
    if ev["chatter_is_anonymous"].as_bool() == Some(true) {
        sender.login = "ananonymousgifter".into();
        sender.display_name = "AnAnonymousGifter".into();
    }
    let notice_type = ev["notice_type"].as_str().unwrap_or_default();
    let base = notice_type
        .strip_prefix("shared_chat_")
        .unwrap_or(notice_type);
    let part = &ev[notice_type];
    let part = if part.is_object() { part } else { &ev[base] };
    let tier = |v: &Value| {
        if v["is_prime"].as_bool() == Some(true) {
            SubTier::Prime
        } else {
            SubTier::parse(v["sub_tier"].as_str().unwrap_or_default())
        }
    };
    let kind = match base {
        "sub" => UserNoticeKind::Sub {
            tier: tier(part),
            months: n(part, "cumulative_months").max(1),
        },
        "resub" => UserNoticeKind::Resub {
            tier: tier(part),
            months: n(part, "cumulative_months"),
            streak: n(part, "streak_months"),
        },
        "sub_gift" => UserNoticeKind::SubGift {
            tier: tier(part),
            recipient_id: s(part, "recipient_user_id"),
            recipient_login: s(part, "recipient_user_login"),
            recipient_display_name: s(part, "recipient_user_name"),
            months: n(part, "duration_months").max(1),
        },
        "community_sub_gift" => UserNoticeKind::SubMysteryGift {
            tier: tier(part),
            count: n(part, "total").max(1),
        },
        "gift_paid_upgrade" if part["gifter_is_anonymous"].as_bool() == Some(true) => {
            UserNoticeKind::AnonGiftPaidUpgrade
        }
        "gift_paid_upgrade" => UserNoticeKind::GiftPaidUpgrade {
            gifter_login: s(part, "gifter_user_login"),
        },
        "prime_paid_upgrade" => UserNoticeKind::PrimePaidUpgrade { tier: tier(part) },
        "raid" => UserNoticeKind::Raid {
            viewers: n(part, "viewer_count"),
            from_display_name: match nonempty(part, "user_name") {
                Some(name) => name,
                None => sender.display_name.clone(),
            },
        },
        "unraid" => UserNoticeKind::Unraid,
        "announcement" => UserNoticeKind::Announcement {
            color: nonempty(part, "color")
                .map(|c| c.to_ascii_uppercase())
                .unwrap_or_else(|| CompactString::const_new("PRIMARY")),
        },
        "bits_badge_tier" => UserNoticeKind::BitsBadgeTier {
            threshold: n(part, "tier"),
        },
        other => UserNoticeKind::Other {
            msg_id: CompactString::from(other),
        },
    };
    let text = ev["message"]["text"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    UserNotice {
        id: nonempty(ev, "message_id").unwrap_or_else(|| CompactString::from(message_id)),
        channel: s(ev, "broadcaster_user_login"),
        room_id: s(ev, "broadcaster_user_id"),
        sender,
        kind,
        system_msg: ev["system_message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        text,
        source_room_id: nonempty(ev, "source_broadcaster_user_id"),
        sent_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(kind: &str, event: Value) -> Value {
        json!({"subscription": {"type": kind, "condition": {"broadcaster_user_id": "2000", "user_id": "1000"}}, "event": event})
    }

    #[test]
    fn a_message_keeps_ids_badges_emotes_bits_and_reply() {
        let ev = json!({
            "broadcaster_user_id": "2000", "broadcaster_user_login": "chan", "broadcaster_user_name": "Chan",
            "chatter_user_id": "3000", "chatter_user_login": "alice", "chatter_user_name": "Alice",
            "message_id": "m-1", "color": "#FF0000", "message_type": "user_intro",
            "badges": [{"set_id": "subscriber", "id": "12", "info": "14"}, {"set_id": "vip", "id": "1", "info": ""}],
            "message": {"text": "hé Kappa cheer5 hi", "fragments": [
                {"type": "text", "text": "hé "},
                {"type": "emote", "text": "Kappa", "emote": {"id": "25"}},
                {"type": "text", "text": " "},
                {"type": "cheermote", "text": "cheer5", "cheermote": {"prefix": "cheer", "bits": 5, "tier": 1}},
                {"type": "text", "text": " hi"}]},
            "cheer": {"bits": 5},
            "reply": {"parent_message_id": "p-1", "parent_user_login": "bob", "parent_user_name": "Bob", "parent_message_body": "yo"},
            "source_broadcaster_user_id": null, "source_message_id": null
        });
        let out = chat_events(
            "channel.chat.message",
            "env-1",
            "2026-12-07T01:00:00.5Z",
            &payload("channel.chat.message", ev),
        );
        let [Event::Chat(m)] = out.as_slice() else {
            panic!("one chat message: {out:?}")
        };
        assert_eq!(m.id, "m-1");
        assert_eq!(m.sender.display_name, "Alice");
        assert!(m.sender.roles.contains(Roles::SUBSCRIBER) && m.sender.roles.contains(Roles::VIP));
        assert_eq!(m.sub_months, 14);
        assert_eq!(
            m.emotes,
            vec![EmoteRange {
                id: "25".into(),
                start: 3,
                end: 7
            }]
        );
        assert_eq!(m.bits, 5);
        assert!(m.first_msg);
        assert_eq!(
            m.reply_parent.as_ref().map(|r| r.msg_id.as_str()),
            Some("p-1")
        );
        assert_eq!(m.sent_ms, 1_796_605_200_500);
    }

    #[test]
    fn the_bots_own_echo_is_its_user_state() {
        let ev = json!({"broadcaster_user_id": "2000", "broadcaster_user_login": "chan",
            "chatter_user_id": "1000", "chatter_user_login": "bot", "chatter_user_name": "Bot",
            "message_id": "m-2", "badges": [{"set_id": "moderator", "id": "1", "info": ""}],
            "message": {"text": "pong", "fragments": []}});
        let out = chat_events(
            "channel.chat.message",
            "e",
            "",
            &payload("channel.chat.message", ev),
        );
        let [Event::UserState(u)] = out.as_slice() else {
            panic!("the echo is a user state: {out:?}")
        };
        assert!(u.roles.contains(Roles::MODERATOR));
        assert_eq!(u.channel.as_deref(), Some("chan"));
    }

    #[test]
    fn notifications_become_the_usernotice_kinds() {
        let ev = json!({"broadcaster_user_id": "2000", "broadcaster_user_login": "chan",
            "chatter_user_id": "3000", "chatter_user_login": "raider", "chatter_user_name": "Raider",
            "message_id": "n-1", "notice_type": "raid", "system_message": "12 raiders",
            "raid": {"user_id": "3000", "user_login": "raider", "user_name": "Raider", "viewer_count": 12},
            "message": {"text": "", "fragments": []}});
        let out = chat_events(
            "channel.chat.notification",
            "e",
            "",
            &payload("channel.chat.notification", ev),
        );
        let [Event::UserNotice(n)] = out.as_slice() else {
            panic!("one notice: {out:?}")
        };
        assert_eq!(
            n.kind,
            UserNoticeKind::Raid {
                viewers: 12,
                from_display_name: "Raider".into()
            }
        );
        assert_eq!(n.text, None);
    }

    #[test]
    fn unknown_and_malformed_payloads_do_not_panic() {
        for kind in CHAT_SUBSCRIPTIONS {
            let _ = chat_events(kind, "e", "garbage", &json!(null));
            let _ = chat_events(
                kind,
                "e",
                "",
                &json!({"event": {"badges": 5, "message": {"fragments": [{"type": "emote"}]}}}),
            );
        }
        assert!(chat_events("channel.chat.nope", "e", "", &json!({})).is_empty());
    }
}
