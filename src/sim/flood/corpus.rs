//! The lines a flood sends, made ahead of time from a seed: viewers with a mix of roles, chat
//! words, commands, links and channel events (USERNOTICE), each with a message id that carries
//! its index so a reply can be matched to its command.

use std::fmt::Write as _;

use super::FloodOptions;
use crate::event::Roles;
use crate::sim::viewer::{Viewer, privmsg_line, stable_id};

/// The lines of one flood, built before it starts so building costs nothing during it.
pub struct Corpus {
    /// Every line with its `\r\n`.
    pub bytes: Vec<u8>,
    /// End offset of each line in `bytes`.
    pub ends: Vec<usize>,
    /// For each line, its command ordinal when it is a command.
    pub command_of: Vec<Option<u32>>,
    /// How many lines are commands.
    pub commands: usize,
    /// For each line, the index of its sender in `sender_ids`.
    pub sender: Vec<u32>,
    /// The chatters' user ids.
    pub sender_ids: Vec<String>,
}

/// A tiny deterministic generator (xorshift64*): the same corpus on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const WORDS: &[&str] = &[
    "lol",
    "that",
    "was",
    "insane",
    "gg",
    "what",
    "is",
    "this",
    "song",
    "chat",
    "pog",
    "no",
    "way",
    "he",
    "did",
    "it",
    "again",
    "first",
    "time",
    "here",
    "love",
    "the",
    "stream",
    "today",
    "why",
    "would",
    "you",
    "do",
    "é",
    "naïve",
    "🎉",
    "LETSGO",
    "bruh",
    "clip",
    "Kappa",
    "PogChamp",
    "LUL",
    "KEKW",
    "monkaS",
    "catJAM",
    "OMEGALUL",
    "5Head",
    "ez",
    "W",
    "L",
    "@streamer",
    "hype",
    "😂",
];

/// A message id that carries the line's index, so a threaded reply finds its command directly.
/// A channel event as Twitch's IRC sends it: a resub, a gifted sub or a raid (USERNOTICE), or a
/// cheer (a PRIVMSG with `bits`).
fn event_line(
    channel: &str,
    room: &str,
    viewer: &Viewer,
    rng: &mut Rng,
    id: &str,
    sent_ms: u64,
) -> String {
    let login = &viewer.login;
    let head = format!(
        "@badge-info=;badges=;color=;display-name={login};emotes=;flags=;id={id};login={login};mod=0;\
         room-id={room};subscriber=1;tmi-sent-ts={sent_ms};user-id={};user-type=",
        viewer.id
    );
    match rng.below(4) {
        0 => format!(
            "{head};msg-id=resub;msg-param-cumulative-months={};msg-param-streak-months=0;\
             msg-param-should-share-streak=0;msg-param-sub-plan=1000;msg-param-sub-plan-name=Sub;\
             system-msg={login}\\ssubscribed :tmi.twitch.tv USERNOTICE #{channel} :still here PogChamp",
            2 + rng.below(40)
        ),
        1 => format!(
            "{head};msg-id=subgift;msg-param-months=1;msg-param-recipient-display-name=Lucky{n};\
             msg-param-recipient-id={};msg-param-recipient-user-name=lucky{n};msg-param-sub-plan=1000;\
             msg-param-sub-plan-name=Sub;system-msg={login}\\sgifted\\sa\\ssub :tmi.twitch.tv USERNOTICE #{channel}",
            900_000 + rng.below(10_000),
            n = rng.below(10_000)
        ),
        2 => format!(
            "{head};msg-id=raid;msg-param-displayName={login};msg-param-login={login};\
             msg-param-viewerCount={};system-msg=raiders :tmi.twitch.tv USERNOTICE #{channel}",
            1 + rng.below(200)
        ),
        _ => format!(
            "{head};bits={} :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #{channel} :Cheer100 hype",
            100
        ),
    }
}

pub(super) fn msg_id(index: usize) -> String {
    format!(
        "{:08x}-f10d-4000-8000-{index:012x}",
        stable_id(&index.to_string()) as u32
    )
}

/// The line index a [`msg_id`] carries.
pub(super) fn index_of(id: &str) -> Option<usize> {
    let (_, tail) = id.rsplit_once('-')?;
    usize::from_str_radix(tail, 16).ok()
}

/// `n` chatters with Twitch's mix of roles: mostly plain, many subscribers, a few VIPs and mods.
fn viewers(n: usize) -> Vec<Viewer> {
    (0..n.max(1))
        .map(|u| {
            let suffix = ["", "tv", "_x", "gaming", "123"][u % 5];
            let mut v = Viewer::new(&format!("viewer_{u}{suffix}"));
            if u % 3 == 0 {
                v = v.with(Roles::SUBSCRIBER);
                v.sub_months = (u as u32 % 40) + 1;
            }
            if u % 29 == 0 {
                v = v.with(Roles::VIP);
            }
            if u % 53 == 0 {
                v = v.with(Roles::MODERATOR);
            }
            if u % 41 == 0 {
                v = v.with(Roles::TURBO);
            }
            v
        })
        .collect()
}

/// The regular viewer: a VIP, whom the repetition filter lets repeat the same command.
pub(super) fn regular_viewer() -> Viewer {
    Viewer::new("regular_viewer").with(Roles::VIP)
}

/// Builds the flood for `channel`: varied chatters and texts (1 to 30 words, some Unicode and
/// emote names), commands spread at random with the last line always a command.
pub fn corpus(options: &FloodOptions, channel: &str) -> Corpus {
    let mut rng = Rng(options.seed | 1);
    let mut viewers = viewers(options.chatters);
    let chatters = viewers.len();
    // With a regular viewer, the end marker is theirs (after the chatters in `sender_ids`).
    if options.regular_every.is_some() {
        viewers.push(regular_viewer());
    }
    let mut sender = Vec::with_capacity(options.messages.max(1));
    let room = stable_id(channel).to_string();
    let n = options.messages.max(1);
    let mut bytes = Vec::with_capacity(n * 380);
    let mut ends = Vec::with_capacity(n);
    let mut command_of = Vec::with_capacity(n);
    let mut commands = 0u32;
    let mut text = String::new();
    let base_ms = 1_700_000_000_000u64;
    for i in 0..n {
        let mut who = rng.below(chatters);
        if i + 1 == n && options.regular_every.is_some() {
            who = chatters;
        }
        sender.push(who as u32);
        let viewer = &viewers[who];
        let is_command = i + 1 == n || rng.unit() < options.command_fraction;
        text.clear();
        // Only a flood with events draws for them, so the plain corpus stays the same as ever.
        if !is_command && options.event_fraction > 0.0 && rng.unit() < options.event_fraction {
            let line = event_line(
                channel,
                &room,
                viewer,
                &mut rng,
                &msg_id(i),
                base_ms + i as u64,
            );
            bytes.extend_from_slice(line.as_bytes());
            bytes.extend_from_slice(b"\r\n");
            ends.push(bytes.len());
            command_of.push(None);
            continue;
        }
        if is_command {
            text.push_str(&options.command);
        } else {
            let longest = if rng.below(10) == 0 { 30 } else { 8 };
            let words = 1 + rng.below(longest);
            for w in 0..words {
                if w > 0 {
                    text.push(' ');
                }
                text.push_str(WORDS[rng.below(WORDS.len())]);
            }
            if rng.below(50) == 0 {
                let _ = write!(text, " https://clips.twitch.tv/Clip{}", rng.below(1 << 20));
            }
        }
        let line = privmsg_line(
            channel,
            &room,
            viewer,
            &text,
            &msg_id(i),
            base_ms + i as u64,
        );
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        ends.push(bytes.len());
        command_of.push(is_command.then(|| {
            commands += 1;
            commands - 1
        }));
    }
    Corpus {
        bytes,
        ends,
        command_of,
        commands: commands as usize,
        sender,
        sender_ids: viewers.into_iter().map(|v| v.id).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twitch::irc::IrcLine;

    #[test]
    fn corpus_ends_with_a_command_and_has_about_the_asked_fraction() {
        let options = FloodOptions {
            messages: 20_000,
            command_fraction: 0.1,
            ..FloodOptions::default()
        };
        let c = corpus(&options, "chan");
        assert_eq!(c.ends.len(), 20_000);
        assert!(
            (1_800..2_200).contains(&c.commands),
            "{} commands",
            c.commands
        );
        assert_eq!(
            c.command_of.last().copied().flatten(),
            Some(c.commands as u32 - 1)
        );
        let text = String::from_utf8(c.bytes).expect("utf-8");
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 20_000);
        for l in &lines[..200] {
            let parsed = IrcLine::parse(l).expect("parses");
            assert_eq!(parsed.command(), "PRIVMSG");
            assert_eq!(parsed.param(0), Some("#chan"));
        }
        assert!(lines.last().is_some_and(|l| l.ends_with(":!ping")));
    }

    #[test]
    fn events_in_the_flood_read_as_twitch_channel_events() {
        let options = FloodOptions {
            messages: 2_000,
            event_fraction: 0.2,
            ..FloodOptions::default()
        };
        let c = corpus(&options, "chan");
        let mut kinds = std::collections::BTreeSet::new();
        let mut start = 0;
        for &end in &c.ends {
            let raw = std::str::from_utf8(&c.bytes[start..end]).expect("utf-8");
            start = end;
            let line = IrcLine::parse(raw.trim_end()).expect("parses");
            if let Some(ev) = match crate::twitch::irc::interpret(&line) {
                crate::twitch::irc::Incoming::Event(crate::event::Event::UserNotice(n)) => {
                    crate::twitch::eventsub::channel_event_from_usernotice(&n)
                }
                crate::twitch::irc::Incoming::Event(crate::event::Event::Chat(m)) => {
                    crate::twitch::eventsub::channel_event_from_chat(&m)
                }
                _ => None,
            } {
                kinds.insert(ev.kind.topic());
            }
        }
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            vec!["cheer", "raid", "resub", "subscribe"]
        );
    }

    #[test]
    fn message_ids_carry_their_index() {
        assert_eq!(index_of(&msg_id(0)), Some(0));
        assert_eq!(index_of(&msg_id(199_999)), Some(199_999));
    }
}
