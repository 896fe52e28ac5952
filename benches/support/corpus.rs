//! A moderation config and chat corpus for the benchmark and the allocation test: 1,000 banned
//! terms, 20 regexes, every filter on, and clean messages like real chat.

use compact_str::CompactString;
use twitch_bot::config::moderation::{ModerationConfig, Pattern};
use twitch_bot::event::{ChatMessage, Chatter, Roles};

/// A word-like string from `seed`, made of letters that rarely form English words.
fn nonsense(seed: u64, len: usize) -> String {
    const LETTERS: &[u8] = b"bcdfghjkmnpqrstvwxz";
    let mut x = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (0..len)
        .map(|_| {
            x ^= x >> 29;
            x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            let i = usize::try_from(x >> 59).unwrap_or(0) % LETTERS.len();
            char::from(LETTERS[i])
        })
        .collect()
}

/// Every filter on, with 1,000 banned terms (800 words, 200 substrings) and 20 regexes.
pub fn config() -> ModerationConfig {
    let mut c = ModerationConfig::default();
    c.banned.terms = (0..800)
        .map(|i| nonsense(i, 5 + (i as usize % 5)))
        .collect();
    c.banned.substrings = (800..1000).map(|i| nonsense(i, 7)).collect();
    c.banned.regexes = (0..20)
        .map(|i| {
            let a = nonsense(5000 + i, 4);
            let b = nonsense(6000 + i, 4);
            Pattern::new(&format!(r"\b{a}\s*[0-9]+\s*{b}\b")).expect("bench regex")
        })
        .collect();
    c.links.allow = vec!["twitch.tv".into(), "youtube.com".into()];
    c
}

/// Clean chat: ASCII, a few links to allowed sites, numbers and times.
pub const CLEAN: &[&str] = &[
    "hello chat how is everyone doing today",
    "that was a great play",
    "lol",
    "what game is this?",
    "GG",
    "the boss has 12.5% hp left, we can do it",
    "stream starts at 3.30 tomorrow right?",
    "Kappa Kappa",
    "watch twitch.tv/somebody later",
    "I have been following for two years now, love the content",
    "can you play the new map next",
    "no way that worked",
    "version 1.2.3 fixed the crash",
    "Pog",
    "good morning from Germany",
    "what keyboard do you use?",
];

/// `n` clean messages from `users` different chatters.
pub fn messages(n: usize, users: usize) -> Vec<ChatMessage> {
    (0..n)
        .map(|i| {
            let u = i % users.max(1);
            let login = format!("user{u}");
            ChatMessage {
                id: CompactString::from(format!("m{i}")),
                channel: "streamer".into(),
                room_id: "1".into(),
                sender: Chatter {
                    id: CompactString::from(format!("{}", 1000 + u)),
                    login: login.as_str().into(),
                    display_name: login.as_str().into(),
                    roles: Roles::empty(),
                    badges: Vec::new(),
                    color: None,
                },
                text: CLEAN[i % CLEAN.len()].to_owned(),
                action: false,
                emotes: Vec::new(),
                bits: 0,
                first_msg: false,
                returning_chatter: false,
                sub_months: 0,
                reply_parent: None,
                source_room_id: None,
                source_id: None,
                sent_ms: 0,
            }
        })
        .collect()
}
