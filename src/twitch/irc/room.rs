//! The channel's own messages: CLEARCHAT, CLEARMSG, ROOMSTATE, USERSTATE, GLOBALUSERSTATE,
//! NOTICE and JOIN/PART.

use compact_str::CompactString;

use super::Incoming;
use super::decode::{self, KnownTags, nonempty, number, unescape};
use super::line::IrcLine;
use crate::event::{ClearChat, ClearMsg, Event, Membership, Notice, RoomState, UserState};

/// `CLEARCHAT #channel [:login]`: the whole chat without a login, a timeout with
/// `ban-duration`, a ban without it.
pub(crate) fn clear_chat(line: &IrcLine<'_>) -> Option<ClearChat> {
    let mut params = line.params();
    let channel = decode::channel(params.next())?;
    let target_login = params
        .next()
        .filter(|l| !l.is_empty())
        .map(CompactString::new);
    let mut target_user_id = None;
    let mut duration_secs = None;
    for (key, value) in line.tags() {
        match key {
            "target-user-id" => target_user_id = nonempty(Some(value.raw())).map(unescape),
            "ban-duration" => duration_secs = number(Some(value.raw())),
            _ => {}
        }
    }
    // A duration or user id without a login would be a malformed line: the login decides.
    if target_login.is_none() {
        return Some(ClearChat {
            channel,
            target_login: None,
            target_user_id: None,
            duration_secs: None,
        });
    }
    Some(ClearChat {
        channel,
        target_login,
        target_user_id,
        duration_secs,
    })
}

/// `@login=..;target-msg-id=.. CLEARMSG #channel :text`; `None` without a message id.
pub(crate) fn clear_msg(line: &IrcLine<'_>) -> Option<ClearMsg> {
    let mut params = line.params();
    let channel = decode::channel(params.next())?;
    let text = params.next().unwrap_or_default().to_string();
    let mut login = CompactString::default();
    let mut target_msg_id = None;
    for (key, value) in line.tags() {
        match key {
            "login" => login = unescape(value.raw()),
            "target-msg-id" => target_msg_id = nonempty(Some(value.raw())).map(unescape),
            _ => {}
        }
    }
    Some(ClearMsg {
        channel,
        login,
        target_msg_id: target_msg_id?,
        text,
    })
}

/// ROOMSTATE: only the settings present (and readable) become `Some`.
pub(crate) fn room_state(line: &IrcLine<'_>) -> Option<RoomState> {
    let channel = decode::channel(line.param(0))?;
    let mut state = RoomState {
        channel,
        ..RoomState::default()
    };
    let on = |v: &str| match v {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    };
    for (key, value) in line.tags() {
        let v = value.raw();
        match key {
            "room-id" => state.room_id = nonempty(Some(v)).map(unescape),
            "emote-only" => state.emote_only = on(v),
            "followers-only" => state.followers_only = v.parse().ok(),
            "r9k" => state.r9k = on(v),
            "slow" => state.slow_secs = v.parse().ok(),
            "subs-only" => state.subs_only = on(v),
            _ => {}
        }
    }
    Some(state)
}

/// USERSTATE (`#channel`) or GLOBALUSERSTATE (no channel): the bot's own badges.
pub(crate) fn user_state(line: &IrcLine<'_>, global: bool) -> Option<UserState> {
    let channel = if global {
        None
    } else {
        Some(decode::channel(line.param(0))?)
    };
    let tags = KnownTags::of(line);
    // No login in these lines; the display name stays empty when the tag is.
    let chatter = tags.chatter("");
    Some(UserState {
        channel,
        user_id: nonempty(tags.user_id).map(unescape),
        display_name: chatter.display_name,
        roles: chatter.roles,
        badges: chatter.badges,
    })
}

/// NOTICE: a failed login when addressed to `*` with Twitch's login texts, otherwise an event.
pub(crate) fn notice(line: &IrcLine<'_>) -> Incoming {
    let mut params = line.params();
    let target = params.next().unwrap_or_default();
    let text = params.next().unwrap_or_default();
    let channel = decode::channel(Some(target));
    if channel.is_none()
        && (text.starts_with("Login authentication failed")
            || text.starts_with("Improperly formatted auth")
            || text.starts_with("Invalid NICK"))
    {
        return Incoming::LoginFailed(text.to_string());
    }
    let msg_id = nonempty(line.tag("msg-id").map(|v| v.raw())).map(unescape);
    Incoming::Event(Event::Notice(Notice {
        channel,
        msg_id,
        text: text.to_string(),
    }))
}

/// JOIN / PART: who (the prefix nick) and where.
pub(crate) fn membership(line: &IrcLine<'_>, joined: bool) -> Option<Membership> {
    let login = line.nick().filter(|n| !n.is_empty())?;
    let channel = decode::channel(line.param(0))?;
    Some(Membership {
        channel,
        login: CompactString::new(login),
        joined,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Badge, Roles};
    use crate::twitch::irc::interpret;

    fn incoming(raw: &str) -> Incoming {
        interpret(&IrcLine::parse(raw).unwrap())
    }

    fn event(raw: &str) -> Event {
        match incoming(raw) {
            Incoming::Event(e) => e,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn clearchat_whole_chat() {
        assert_eq!(
            event("@room-id=12345678;tmi-sent-ts=1642715695392 :tmi.twitch.tv CLEARCHAT #dallas"),
            Event::ClearChat(ClearChat {
                channel: "dallas".into(),
                target_login: None,
                target_user_id: None,
                duration_secs: None,
            })
        );
    }

    #[test]
    fn clearchat_timeout() {
        assert_eq!(
            event(
                "@ban-duration=350;room-id=12345678;target-user-id=87654321;\
                 tmi-sent-ts=1642719320727 :tmi.twitch.tv CLEARCHAT #dallas :ronni"
            ),
            Event::ClearChat(ClearChat {
                channel: "dallas".into(),
                target_login: Some("ronni".into()),
                target_user_id: Some("87654321".into()),
                duration_secs: Some(350),
            })
        );
    }

    #[test]
    fn clearchat_permanent_ban() {
        assert_eq!(
            event(
                "@room-id=12345678;target-user-id=87654321;tmi-sent-ts=1642715756806 \
                 :tmi.twitch.tv CLEARCHAT #dallas :ronni"
            ),
            Event::ClearChat(ClearChat {
                channel: "dallas".into(),
                target_login: Some("ronni".into()),
                target_user_id: Some("87654321".into()),
                duration_secs: None,
            })
        );
    }

    #[test]
    fn clearmsg_names_the_deleted_message() {
        assert_eq!(
            event(
                "@login=ronni;room-id=;target-msg-id=abc-123-def;tmi-sent-ts=1642720582342 \
                 :tmi.twitch.tv CLEARMSG #dallas :HeyGuys"
            ),
            Event::ClearMsg(ClearMsg {
                channel: "dallas".into(),
                login: "ronni".into(),
                target_msg_id: "abc-123-def".into(),
                text: "HeyGuys".into(),
            })
        );
        assert_eq!(
            incoming("@login=ronni :tmi.twitch.tv CLEARMSG #dallas :HeyGuys"),
            Incoming::Ignored,
            "no message id, nothing to delete"
        );
    }

    #[test]
    fn roomstate_on_join_has_every_setting() {
        assert_eq!(
            event(
                "@emote-only=0;followers-only=-1;r9k=0;room-id=12345678;slow=0;subs-only=0 \
                 :tmi.twitch.tv ROOMSTATE #bar"
            ),
            Event::RoomState(RoomState {
                channel: "bar".into(),
                room_id: Some("12345678".into()),
                emote_only: Some(false),
                followers_only: Some(-1),
                r9k: Some(false),
                slow_secs: Some(0),
                subs_only: Some(false),
            })
        );
    }

    #[test]
    fn roomstate_change_has_only_that_setting() {
        assert_eq!(
            event("@room-id=12345678;slow=10 :tmi.twitch.tv ROOMSTATE #bar"),
            Event::RoomState(RoomState {
                channel: "bar".into(),
                room_id: Some("12345678".into()),
                slow_secs: Some(10),
                ..RoomState::default()
            })
        );
        assert_eq!(
            event("@followers-only=30;emote-only=maybe :tmi.twitch.tv ROOMSTATE #bar"),
            Event::RoomState(RoomState {
                channel: "bar".into(),
                followers_only: Some(30),
                ..RoomState::default()
            })
        );
    }

    #[test]
    fn userstate_gives_the_bots_badges_in_the_channel() {
        assert_eq!(
            event(
                "@badge-info=;badges=moderator/1;color=#0D4200;display-name=MyBot;\
                 emote-sets=0,33,50,237;id=1e2cd2b6-dba2-4f27-b3e8-71bb9a3f1b0a;mod=1;\
                 subscriber=0;turbo=0;user-type=mod :tmi.twitch.tv USERSTATE #dallas"
            ),
            Event::UserState(UserState {
                channel: Some("dallas".into()),
                user_id: None,
                display_name: "MyBot".into(),
                roles: Roles::MODERATOR,
                badges: vec![Badge {
                    name: "moderator".into(),
                    version: "1".into()
                }],
            })
        );
    }

    #[test]
    fn globaluserstate_has_no_channel() {
        assert_eq!(
            event(
                "@badge-info=;badges=staff/1;color=#0D4200;display-name=ronni;\
                 emote-sets=0,33,50,237,793,2126,3517,4578,5569,9400,10337,12239;turbo=0;\
                 user-id=12345678;user-type=admin :tmi.twitch.tv GLOBALUSERSTATE"
            ),
            Event::UserState(UserState {
                channel: None,
                user_id: Some("12345678".into()),
                display_name: "ronni".into(),
                roles: Roles::STAFF,
                badges: vec![Badge {
                    name: "staff".into(),
                    version: "1".into()
                }],
            })
        );
        assert_eq!(
            incoming("@badges= :tmi.twitch.tv USERSTATE"),
            Incoming::Ignored,
            "USERSTATE needs its channel"
        );
    }

    #[test]
    fn notice_with_msg_id() {
        assert_eq!(
            event(
                "@msg-id=delete_message_success :tmi.twitch.tv NOTICE #bar \
                 :The message from foo is now deleted."
            ),
            Event::Notice(Notice {
                channel: Some("bar".into()),
                msg_id: Some("delete_message_success".into()),
                text: "The message from foo is now deleted.".into(),
            })
        );
        assert_eq!(
            event(":tmi.twitch.tv NOTICE * :Some global thing"),
            Event::Notice(Notice {
                channel: None,
                msg_id: None,
                text: "Some global thing".into(),
            })
        );
    }

    #[test]
    fn failed_logins_are_recognised() {
        assert_eq!(
            incoming(":tmi.twitch.tv NOTICE * :Login authentication failed\r\n"),
            Incoming::LoginFailed("Login authentication failed".into())
        );
        assert_eq!(
            incoming(":tmi.twitch.tv NOTICE * :Improperly formatted auth"),
            Incoming::LoginFailed("Improperly formatted auth".into())
        );
        // The same words in a channel notice are just a notice.
        assert!(matches!(
            incoming(":tmi.twitch.tv NOTICE #c :Login authentication failed"),
            Incoming::Event(Event::Notice(_))
        ));
    }

    #[test]
    fn join_and_part() {
        assert_eq!(
            event(":ronni!ronni@ronni.tmi.twitch.tv JOIN #dallas"),
            Event::Membership(Membership {
                channel: "dallas".into(),
                login: "ronni".into(),
                joined: true,
            })
        );
        assert_eq!(
            event(":ronni!ronni@ronni.tmi.twitch.tv PART #dallas"),
            Event::Membership(Membership {
                channel: "dallas".into(),
                login: "ronni".into(),
                joined: false,
            })
        );
        assert_eq!(
            incoming("JOIN #dallas"),
            Incoming::Ignored,
            "no prefix, no login"
        );
        assert_eq!(incoming(":ronni!ronni@x JOIN"), Incoming::Ignored);
    }
}
