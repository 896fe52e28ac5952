//! PRIVMSG: a chat line into [`ChatMessage`], every field filled from the tags.

use compact_str::CompactString;

use super::decode::{self, KnownTags, flag, nonempty, number, unescape};
use super::line::IrcLine;
use crate::event::{ChatMessage, ReplyParent};

/// `PRIVMSG #channel :text`; `None` when the line has no channel or no text.
pub(crate) fn chat_message(line: &IrcLine<'_>) -> Option<ChatMessage> {
    let mut params = line.params();
    let channel = decode::channel(params.next())?;
    let raw_text = params.next()?;
    let login = line.nick().unwrap_or_default();
    let tags = KnownTags::of(line);

    // `/me` arrives as a CTCP ACTION; the wrapper is not part of what the user wrote.
    let (text, action) = match raw_text
        .strip_prefix("\u{1}ACTION ")
        .and_then(|t| t.strip_suffix('\u{1}'))
    {
        Some(inner) => (inner, true),
        None => (raw_text, false),
    };

    let reply_parent = nonempty(tags.reply_parent_msg_id).map(|msg_id| ReplyParent {
        msg_id: unescape(msg_id),
        user_login: tags
            .reply_parent_user_login
            .map(unescape)
            .unwrap_or_default(),
        display_name: tags
            .reply_parent_display_name
            .map(unescape)
            .unwrap_or_default(),
        body: tags
            .reply_parent_msg_body
            .map(decode::unescape_string)
            .unwrap_or_default(),
    });

    Some(ChatMessage {
        id: tags.id.map(unescape).unwrap_or_default(),
        channel,
        room_id: tags.room_id.map(unescape).unwrap_or_default(),
        sender: tags.chatter(login),
        text: text.to_string(),
        action,
        emotes: decode::emotes(tags.emotes),
        bits: number(tags.bits).unwrap_or(0),
        first_msg: flag(tags.first_msg),
        returning_chatter: flag(tags.returning_chatter),
        sub_months: decode::sub_months(tags.badge_info),
        reply_parent,
        source_room_id: nonempty(tags.source_room_id).map(CompactString::new),
        source_id: nonempty(tags.source_id).map(unescape),
        sent_ms: number(tags.tmi_sent_ts).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Badge, Chatter, EmoteRange, Event, Roles};
    use crate::twitch::irc::{Incoming, interpret};

    fn chat(raw: &str) -> ChatMessage {
        match interpret(&IrcLine::parse(raw).unwrap()) {
            Incoming::Event(Event::Chat(m)) => *m,
            other => panic!("not a chat message: {other:?}"),
        }
    }

    fn badge(name: &str, version: &str) -> Badge {
        Badge {
            name: name.into(),
            version: version.into(),
        }
    }

    fn roles(list: &[Roles]) -> Roles {
        let mut r = Roles::empty();
        for x in list {
            r.insert(*x);
        }
        r
    }

    /// The example from Twitch's tags documentation: the broadcaster says HeyGuys.
    #[test]
    fn broadcaster_message_from_the_docs() {
        let m = chat(
            "@badge-info=;badges=broadcaster/1;client-nonce=997dcf443c31e258c1d32a8da47b6936;\
             color=#0000FF;display-name=abc;emotes=;first-msg=0;flags=0-6:S.7;\
             id=eb24e920-8065-492a-8aea-266a00fc5126;mod=0;room-id=713936733;subscriber=0;\
             tmi-sent-ts=1642786203573;turbo=0;user-id=713936733;user-type= \
             :abc!abc@abc.tmi.twitch.tv PRIVMSG #xyz :HeyGuys\r\n",
        );
        assert_eq!(
            m,
            ChatMessage {
                id: "eb24e920-8065-492a-8aea-266a00fc5126".into(),
                channel: "xyz".into(),
                room_id: "713936733".into(),
                sender: Chatter {
                    id: "713936733".into(),
                    login: "abc".into(),
                    display_name: "abc".into(),
                    roles: Roles::BROADCASTER,
                    badges: vec![badge("broadcaster", "1")],
                    color: Some("#0000FF".into()),
                },
                text: "HeyGuys".into(),
                action: false,
                emotes: vec![],
                bits: 0,
                first_msg: false,
                returning_chatter: false,
                sub_months: 0,
                reply_parent: None,
                source_room_id: None,
                source_id: None,
                sent_ms: 1642786203573,
            }
        );
    }

    #[test]
    fn subscriber_moderator_with_emotes_and_escaped_display_name() {
        let m = chat(
            "@badge-info=subscriber/25;badges=moderator/1,subscriber/24,glhf-pledge/1;\
             color=#1E90FF;display-name=Ronni\\sTheMod;emotes=25:0-4,12-16/1902:6-10;\
             first-msg=0;flags=;id=b34ccfc7-4977-403a-8a94-33c6bac34fb8;mod=1;\
             returning-chatter=1;room-id=1337;subscriber=1;tmi-sent-ts=1507246572675;turbo=0;\
             user-id=1337420;user-type=mod \
             :ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #dallas :Kappa Keepo Kappa",
        );
        assert_eq!(
            m,
            ChatMessage {
                id: "b34ccfc7-4977-403a-8a94-33c6bac34fb8".into(),
                channel: "dallas".into(),
                room_id: "1337".into(),
                sender: Chatter {
                    id: "1337420".into(),
                    login: "ronni".into(),
                    display_name: "Ronni TheMod".into(),
                    roles: roles(&[Roles::MODERATOR, Roles::SUBSCRIBER]),
                    badges: vec![
                        badge("moderator", "1"),
                        badge("subscriber", "24"),
                        badge("glhf-pledge", "1")
                    ],
                    color: Some("#1E90FF".into()),
                },
                text: "Kappa Keepo Kappa".into(),
                action: false,
                emotes: vec![
                    EmoteRange {
                        id: "25".into(),
                        start: 0,
                        end: 4
                    },
                    EmoteRange {
                        id: "1902".into(),
                        start: 6,
                        end: 10
                    },
                    EmoteRange {
                        id: "25".into(),
                        start: 12,
                        end: 16
                    },
                ],
                bits: 0,
                first_msg: false,
                returning_chatter: true,
                sub_months: 25,
                reply_parent: None,
                source_room_id: None,
                source_id: None,
                sent_ms: 1507246572675,
            }
        );
        assert_eq!(m.sender.roles.level(), crate::event::Permission::Moderator);
    }

    #[test]
    fn roles_come_from_tags_even_without_badges() {
        // A VIP who hides the badge still has vip=1; turbo=1 grants turbo.
        let m = chat(
            "@badges=;color=;display-name=;mod=0;vip=1;subscriber=1;turbo=1;user-id=5;\
             room-id=9;id=x :someone!someone@someone.tmi.twitch.tv PRIVMSG #chan :hi",
        );
        assert_eq!(
            m.sender.roles,
            roles(&[Roles::VIP, Roles::SUBSCRIBER, Roles::TURBO])
        );
        assert_eq!(m.sender.color, None);
        assert_eq!(m.sender.display_name, "someone", "falls back to the login");
        assert_eq!(m.sender.badges, vec![]);
    }

    #[test]
    fn founder_badge_gives_sub_months_and_subscriber_level() {
        let m = chat(
            "@badge-info=founder/14;badges=founder/0;display-name=Early;id=1;room-id=2;\
             subscriber=0;user-id=3 :early!early@early.tmi.twitch.tv PRIVMSG #c :first!",
        );
        assert_eq!(m.sub_months, 14);
        assert_eq!(m.sender.roles, Roles::FOUNDER);
        assert_eq!(m.sender.roles.level(), crate::event::Permission::Subscriber);
    }

    #[test]
    fn a_cheer_and_a_first_message() {
        let m = chat(
            "@badge-info=;badges=bits/100;bits=100;color=;display-name=Cheery;emotes=;\
             first-msg=1;id=c0ffee00-0000-4000-8000-000000000001;mod=0;room-id=22484632;\
             subscriber=0;tmi-sent-ts=1700000000000;turbo=0;user-id=98765;user-type= \
             :cheery!cheery@cheery.tmi.twitch.tv PRIVMSG #forsen :cheer100 hello there",
        );
        assert_eq!(m.bits, 100);
        assert!(m.first_msg);
        assert_eq!(m.text, "cheer100 hello there");
        assert_eq!(m.sender.badges, vec![badge("bits", "100")]);
        assert_eq!(m.sender.roles, Roles::empty());
    }

    #[test]
    fn a_me_action_loses_its_ctcp_wrapper() {
        let m = chat(
            "@badge-info=;badges=;color=#FF0000;display-name=Dancer;emotes=;id=a1;mod=0;\
             room-id=1;subscriber=0;tmi-sent-ts=1;user-id=2 \
             :dancer!dancer@dancer.tmi.twitch.tv PRIVMSG #c :\u{1}ACTION dances wildly\u{1}",
        );
        assert!(m.action);
        assert_eq!(m.text, "dances wildly");
        // Not a complete wrapper: kept as typed.
        let m = chat(":d!d@d PRIVMSG #c :\u{1}ACTION half");
        assert!(!m.action);
        assert_eq!(m.text, "\u{1}ACTION half");
    }

    #[test]
    fn a_threaded_reply_names_its_parent() {
        let m = chat(
            "@badge-info=;badges=;client-nonce=cd56193132f934ac71b4d5ac488d4bd6;color=;\
             display-name=LeftSwing;emotes=;first-msg=0;flags=;\
             id=5b4f63a9-776f-4fce-bf3c-d9707f52e32d;mod=0;\
             reply-parent-display-name=Pat__Mon;\
             reply-parent-msg-body=well\\sI\\sguess\\s@LeftSwing,\\sSeemsGood\\:\\sright?;\
             reply-parent-msg-id=6b13e51b-7ecb-43b5-ba5b-2bb5288df696;\
             reply-parent-user-id=687207983;reply-parent-user-login=pat__mon;\
             reply-thread-parent-msg-id=6b13e51b-7ecb-43b5-ba5b-2bb5288df696;\
             reply-thread-parent-user-login=pat__mon;returning-chatter=0;room-id=123456;\
             subscriber=0;tmi-sent-ts=1642786203573;turbo=0;user-id=987654;user-type= \
             :leftswing!leftswing@leftswing.tmi.twitch.tv PRIVMSG #streamer :@Pat__Mon yes",
        );
        assert_eq!(
            m.reply_parent,
            Some(ReplyParent {
                msg_id: "6b13e51b-7ecb-43b5-ba5b-2bb5288df696".into(),
                user_login: "pat__mon".into(),
                display_name: "Pat__Mon".into(),
                body: "well I guess @LeftSwing, SeemsGood; right?".into(),
            })
        );
        // Twitch puts the mention in the text itself; it is kept as sent.
        assert_eq!(m.text, "@Pat__Mon yes");
        assert_eq!(m.sender.display_name, "LeftSwing");
    }

    /// A Shared Chat message written in another channel of the session (captured shape).
    #[test]
    fn shared_chat_message_from_another_channel() {
        let m = chat(
            "@badge-info=;badges=arcane-season-2-premiere/1;color=#1E90FF;display-name=iGeevs;\
             emotes=;flags=;id=47f11900-9b4d-40bd-94fe-0846323efe79;mod=0;room-id=26301881;\
             source-badge-info=subscriber/25;source-badges=subscriber/24,arcane-season-2-premiere/1;\
             source-id=b1dc27ed-2ba8-4f92-bcfa-8d027ea0851d;source-room-id=97245742;\
             subscriber=0;tmi-sent-ts=1734723183744;turbo=0;user-id=58605027;user-type= \
             :igeevs!igeevs@igeevs.tmi.twitch.tv PRIVMSG #sodapoppin :Fishinge bait successful",
        );
        assert_eq!(
            m,
            ChatMessage {
                id: "47f11900-9b4d-40bd-94fe-0846323efe79".into(),
                channel: "sodapoppin".into(),
                room_id: "26301881".into(),
                sender: Chatter {
                    id: "58605027".into(),
                    login: "igeevs".into(),
                    display_name: "iGeevs".into(),
                    roles: Roles::empty(),
                    badges: vec![badge("arcane-season-2-premiere", "1")],
                    color: Some("#1E90FF".into()),
                },
                text: "Fishinge bait successful".into(),
                action: false,
                emotes: vec![],
                bits: 0,
                first_msg: false,
                returning_chatter: false,
                sub_months: 0,
                reply_parent: None,
                source_room_id: Some("97245742".into()),
                source_id: Some("b1dc27ed-2ba8-4f92-bcfa-8d027ea0851d".into()),
                sent_ms: 1734723183744,
            }
        );
        assert!(m.is_from_other_channel());
    }

    #[test]
    fn shared_chat_message_from_this_channel_is_ours() {
        let m = chat(
            "@badge-info=;badges=;display-name=A;id=i1;room-id=111;source-id=i1;\
             source-room-id=111;user-id=4 :a!a@a PRIVMSG #mine :!ping",
        );
        assert_eq!(m.source_room_id.as_deref(), Some("111"));
        assert!(!m.is_from_other_channel());
    }

    #[test]
    fn text_keeps_colons_and_spaces_and_unicode() {
        let m = chat(":v!v@v PRIVMSG #c :  héllo :: wörld 🎉 ");
        assert_eq!(m.text, "  héllo :: wörld 🎉 ");
        assert_eq!(m.sender.login, "v");
        assert_eq!(m.id, "");
        assert_eq!(m.sent_ms, 0);
        let empty = chat(":v!v@v PRIVMSG #c :");
        assert_eq!(empty.text, "");
    }

    #[test]
    fn garbage_numbers_fall_back_to_zero() {
        let m = chat("@bits=lots;tmi-sent-ts=-5;badge-info=subscriber/ :v!v@v PRIVMSG #c :x");
        assert_eq!((m.bits, m.sent_ms, m.sub_months), (0, 0, 0));
    }

    #[test]
    fn privmsg_missing_what_it_needs_is_ignored() {
        for raw in [
            ":v!v@v PRIVMSG",
            ":v!v@v PRIVMSG #c",
            ":v!v@v PRIVMSG c :not a channel",
            ":v!v@v PRIVMSG # :empty channel",
            "@id=1 PRIVMSG",
        ] {
            assert_eq!(
                interpret(&IrcLine::parse(raw).unwrap()),
                Incoming::Ignored,
                "{raw:?}"
            );
        }
    }
}
