//! The Twitch IRC wire format: one line parsed without copying ([`IrcLine`]), and what a line
//! means ([`interpret`]): a control message for the connection or an [`Event`] for the bot.
//!
//! Pure functions over text; no I/O. Never panics on any input: a line that parses but lacks
//! what its command needs (a PRIVMSG without a channel, a CLEARMSG without a message id) is
//! [`Incoming::Ignored`]. Files: [`line`] (the parser), `decode` (tags into event types),
//! `channel_events` (USERNOTICEs and cheers as the channel events EventSub also reports),
//! `privmsg`, `usernotice` and `room` (one per family of commands).

mod channel_events;
mod decode;
mod line;
mod privmsg;
mod room;
mod usernotice;

pub use channel_events::{channel_event_from_chat, channel_event_from_usernotice};
pub use line::{IrcLine, ParseError, TagValue, Tags};

use crate::event::Event;

/// What a line from the server means to the connection and to the rest of the bot.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// `PING :token`: answer `PONG :token`.
    Ping(String),
    /// The answer to our own PING.
    Pong,
    /// `RECONNECT`: the server is going away; reconnect and rejoin.
    Reconnect,
    /// `001`: the login was accepted.
    Welcome,
    /// A NOTICE saying the login failed (bad or expired token).
    LoginFailed(String),
    /// `CAP * ACK :caps`: the server granted the capabilities listed.
    CapAck(String),
    /// The server refused the capabilities listed.
    CapNak(String),
    /// Something for the bot: chat, notices, room state, membership, ...
    Event(Event),
    /// Numerics and commands with no meaning for the bot (002-004, 353, 366, 372, 375, 376, ...),
    /// and lines missing what their command needs.
    Ignored,
}

/// Interprets a parsed line.
pub fn interpret(line: &IrcLine<'_>) -> Incoming {
    let event = match line.command() {
        "PRIVMSG" => privmsg::chat_message(line).map(|m| Event::Chat(Box::new(m))),
        "USERNOTICE" => usernotice::user_notice(line).map(|n| Event::UserNotice(Box::new(n))),
        "CLEARCHAT" => room::clear_chat(line).map(Event::ClearChat),
        "CLEARMSG" => room::clear_msg(line).map(Event::ClearMsg),
        "ROOMSTATE" => room::room_state(line).map(Event::RoomState),
        "USERSTATE" => room::user_state(line, false).map(Event::UserState),
        "GLOBALUSERSTATE" => room::user_state(line, true).map(Event::UserState),
        "JOIN" => room::membership(line, true).map(Event::Membership),
        "PART" => room::membership(line, false).map(Event::Membership),
        "NOTICE" => return room::notice(line),
        "PING" => {
            return Incoming::Ping(line.trailing().unwrap_or("tmi.twitch.tv").to_string());
        }
        "PONG" => return Incoming::Pong,
        "RECONNECT" => return Incoming::Reconnect,
        "001" => return Incoming::Welcome,
        "CAP" => return cap(line),
        _ => None,
    };
    event.map_or(Incoming::Ignored, Incoming::Event)
}

/// `CAP * ACK :twitch.tv/tags ...`; other CAP subcommands (LS, LIST) mean nothing to us.
fn cap(line: &IrcLine<'_>) -> Incoming {
    let mut params = line.params();
    let _target = params.next();
    let sub = params.next();
    let caps = params.next().unwrap_or_default().to_string();
    match sub {
        Some("ACK") => Incoming::CapAck(caps),
        Some("NAK") => Incoming::CapNak(caps),
        _ => Incoming::Ignored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn incoming(raw: &str) -> Incoming {
        interpret(&IrcLine::parse(raw).unwrap())
    }

    #[test]
    fn ping_echoes_its_token() {
        assert_eq!(
            incoming("PING :tmi.twitch.tv\r\n"),
            Incoming::Ping("tmi.twitch.tv".into())
        );
        assert_eq!(incoming("PING :abc 123"), Incoming::Ping("abc 123".into()));
        assert_eq!(incoming("PING"), Incoming::Ping("tmi.twitch.tv".into()));
    }

    #[test]
    fn connection_control_lines() {
        assert_eq!(
            incoming(":tmi.twitch.tv PONG tmi.twitch.tv :tmi.twitch.tv"),
            Incoming::Pong
        );
        assert_eq!(incoming(":tmi.twitch.tv RECONNECT"), Incoming::Reconnect);
        assert_eq!(
            incoming(":tmi.twitch.tv 001 mybot :Welcome, GLHF!"),
            Incoming::Welcome
        );
        assert_eq!(
            incoming(":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands"),
            Incoming::CapAck("twitch.tv/tags twitch.tv/commands".into())
        );
        assert_eq!(
            incoming(":tmi.twitch.tv CAP * NAK :twitch.tv/foo"),
            Incoming::CapNak("twitch.tv/foo".into())
        );
        assert_eq!(incoming(":tmi.twitch.tv CAP * LS :x"), Incoming::Ignored);
    }

    #[test]
    fn welcome_numerics_and_unknown_commands_are_ignored() {
        for raw in [
            ":tmi.twitch.tv 002 mybot :Your host is tmi.twitch.tv",
            ":tmi.twitch.tv 003 mybot :This server is rather new",
            ":tmi.twitch.tv 004 mybot :-",
            ":tmi.twitch.tv 375 mybot :-",
            ":tmi.twitch.tv 372 mybot :You are in a maze of twisty passages, all alike.",
            ":tmi.twitch.tv 376 mybot :>",
            ":mybot.tmi.twitch.tv 353 mybot = #dallas :mybot",
            ":mybot.tmi.twitch.tv 366 mybot #dallas :End of /NAMES list",
            ":tmi.twitch.tv 421 mybot WHO :Unknown command",
            "@badges= :u!u@u WHISPER mybot :psst",
            ":tmi.twitch.tv HOSTTARGET #abc :- 0",
            "SOMETHINGNEW a b c",
        ] {
            assert_eq!(incoming(raw), Incoming::Ignored, "{raw:?}");
        }
    }

    /// Realistic lines of every kind, used as seeds for the mutation properties.
    const SEEDS: &[&str] = &[
        "@badge-info=subscriber/25;badges=moderator/1,subscriber/24;color=#1E90FF;display-name=Ronni\\sX;emotes=25:0-4,12-16/1902:6-10;first-msg=0;id=b34ccfc7-4977-403a-8a94-33c6bac34fb8;mod=1;reply-parent-msg-id=6b13;reply-parent-msg-body=hi\\:\\sthere;room-id=1337;source-room-id=99;subscriber=1;tmi-sent-ts=1507246572675;user-id=1337420 :ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #dallas :Kappa Keepo Kappa",
        ":d!d@d PRIVMSG #c :\u{1}ACTION dances é\u{1}",
        "@badges=;login=ronni;msg-id=resub;msg-param-cumulative-months=6;msg-param-streak-months=2;msg-param-sub-plan=Prime;room-id=1;system-msg=ronni\\shas\\ssubscribed;tmi-sent-ts=1 :tmi.twitch.tv USERNOTICE #dallas :Great stream",
        "@login=p;msg-id=sharedchatnotice;source-msg-id=raid;msg-param-viewerCount=9;source-room-id=2 :tmi.twitch.tv USERNOTICE #c",
        "@ban-duration=350;room-id=1;target-user-id=2 :tmi.twitch.tv CLEARCHAT #dallas :ronni",
        "@login=ronni;target-msg-id=abc :tmi.twitch.tv CLEARMSG #dallas :HeyGuys",
        "@emote-only=0;followers-only=-1;r9k=0;room-id=1;slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #bar",
        "@badges=moderator/1;mod=1 :tmi.twitch.tv USERSTATE #dallas",
        "@badges=staff/1;user-id=1 :tmi.twitch.tv GLOBALUSERSTATE",
        "@msg-id=msg_banned :tmi.twitch.tv NOTICE #bar :You are banned.",
        ":tmi.twitch.tv NOTICE * :Login authentication failed",
        ":ronni!ronni@ronni.tmi.twitch.tv JOIN #dallas",
        "PING :tmi.twitch.tv",
        ":tmi.twitch.tv CAP * ACK :twitch.tv/tags",
    ];

    /// Exercises everything a consumer would read from the result.
    fn consume(raw: &str) {
        if let Ok(line) = IrcLine::parse(raw) {
            let incoming = interpret(&line);
            let _ = format!("{incoming:?}");
        }
    }

    #[test]
    fn every_seed_means_something() {
        for seed in SEEDS {
            assert_ne!(incoming(seed), Incoming::Ignored, "{seed:?}");
        }
    }

    #[test]
    fn truncated_lines_never_panic() {
        for seed in SEEDS {
            for (at, _) in seed.char_indices() {
                consume(&seed[..at]);
                consume(&seed[at..]);
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            consume(&s);
        }

        #[test]
        fn irc_shaped_noise_never_panics(
            s in "(@[a-z-]{0,8}(=[a-z0-9\\\\:/,;#-]{0,12})?(;[a-z-]{1,8}=[a-z0-9\\\\/,:-]{0,8}){0,6} )?(:[a-z!@.]{0,10} )?(PRIVMSG|USERNOTICE|CLEARCHAT|CLEARMSG|ROOMSTATE|USERSTATE|GLOBALUSERSTATE|NOTICE|JOIN|PART|PING|CAP|001)( [#*a-z]{0,6})?( :.{0,20})?"
        ) {
            consume(&s);
        }

        #[test]
        fn mutated_real_lines_never_panic(
            seed in proptest::sample::select(SEEDS),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<char>(), 0u8..3), 1..6),
        ) {
            let mut chars: Vec<char> = seed.chars().collect();
            for (at, c, op) in edits {
                if chars.is_empty() {
                    chars.push(c);
                    continue;
                }
                let i = at.index(chars.len());
                match op {
                    0 => chars[i] = c,
                    1 => chars.insert(i, c),
                    _ => { chars.remove(i); }
                }
            }
            let mutated: String = chars.into_iter().collect();
            consume(&mutated);
        }

        #[test]
        fn truncated_real_lines_never_panic(
            seed in proptest::sample::select(SEEDS),
            at in any::<prop::sample::Index>(),
        ) {
            let cuts: Vec<usize> = seed.char_indices().map(|(i, _)| i).collect();
            let cut = cuts[at.index(cuts.len())];
            consume(&seed[..cut]);
        }
    }
}
