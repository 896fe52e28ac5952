//! The channel events IRC USERNOTICEs and cheering PRIVMSGs stand for, for when EventSub does
//! not report them (`--noeventsub`): the same [`ChannelEvent`]s EventSub produces, with
//! [`EventSource::Irc`] so the dispatcher can keep one source of truth.

use crate::event::{
    ChannelEvent, ChannelEventKind, ChatMessage, Chatter, EventSource, UserNotice, UserNoticeKind,
};

/// The channel event an IRC USERNOTICE stands for, for when EventSub is off (`--noeventsub`).
/// Gifts: a `submysterygift` becomes one `Gift` with its count and each `subgift` a gifted
/// `Subscribe` for the recipient, as EventSub reports them; a single direct gift therefore shows
/// as a gifted `Subscribe` only.
pub fn channel_event_from_usernotice(notice: &UserNotice) -> Option<ChannelEvent> {
    let mut user = Some(notice.sender.clone());
    let kind = match &notice.kind {
        UserNoticeKind::Sub { tier, .. } => ChannelEventKind::Subscribe {
            tier: *tier,
            is_gift: false,
        },
        UserNoticeKind::Resub {
            tier,
            months,
            streak,
        } => ChannelEventKind::Resub {
            tier: *tier,
            months: *months,
            streak: *streak,
            message: notice.text.clone().unwrap_or_default(),
        },
        UserNoticeKind::SubGift {
            tier,
            recipient_id,
            recipient_login,
            recipient_display_name,
            ..
        } => {
            user = Some(Chatter {
                id: recipient_id.clone(),
                login: recipient_login.clone(),
                display_name: recipient_display_name.clone(),
                ..Chatter::default()
            });
            ChannelEventKind::Subscribe {
                tier: *tier,
                is_gift: true,
            }
        }
        UserNoticeKind::SubMysteryGift { tier, count } => ChannelEventKind::Gift {
            tier: *tier,
            count: *count,
            anonymous: notice.sender.login.is_empty() || notice.sender.login == "ananonymousgifter",
        },
        UserNoticeKind::Raid { viewers, .. } => ChannelEventKind::Raid { viewers: *viewers },
        _ => return None,
    };
    Some(ChannelEvent {
        id: notice.id.clone(),
        source: EventSource::Irc,
        user,
        kind,
    })
}

/// A cheer seen in chat (bits on a PRIVMSG), for when EventSub is off.
pub fn channel_event_from_chat(msg: &ChatMessage) -> Option<ChannelEvent> {
    (msg.bits > 0).then(|| ChannelEvent {
        id: msg.id.clone(),
        source: EventSource::Irc,
        user: Some(msg.sender.clone()),
        kind: ChannelEventKind::Cheer {
            bits: msg.bits,
            message: msg.text.clone(),
            anonymous: false,
        },
    })
}
