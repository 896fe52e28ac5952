//! The stateful moderation fuzz entry: one input becomes a sequence of chat lines from a handful
//! of viewers with varied badges, emotes and timing, checked in order by one [`Moderator`] (so
//! the flood, repetition and ladder state carries from line to line), with `!permit` and
//! `!modcheck` mixed in.
//!
//! Compiling a `Moderator` costs far more than checking a few lines, so one is kept per thread
//! and each input starts where nothing of the previous inputs can reach it: its viewers get
//! user ids no earlier input used (flood, repetition and ladder state is kept by user id), and
//! its clock starts later than every window, permit and ladder decay of the previous inputs
//! (permits are kept by login). Old state is thus dead, and the moderator's own sweep drops it;
//! the moderator is rebuilt every [`REBUILD_EVERY`] inputs all the same, so a ladder that never
//! forgets cannot grow without bound.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use compact_str::CompactString;
use tokio::time::Instant;

use crate::config::moderation::{ModerationConfig, Pattern};
use crate::event::{Badge, ChatMessage, Chatter, EmoteRange, Permission, Roles};
use crate::moderation::{Moderator, Verdict};

/// The committed moderation defaults, with banned words and patterns and a regular added so
/// every filter has something to match.
fn config() -> &'static ModerationConfig {
    static CONFIG: OnceLock<ModerationConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let text = include_str!("../../configs/moderation.yaml");
        let path = std::path::Path::new("configs/moderation.yaml");
        let mut c: ModerationConfig =
            crate::config::parse_str(path, text, false).unwrap_or_default();
        c.banned.terms = ["bad", "idiot", "free views", "ass"]
            .map(String::from)
            .to_vec();
        c.banned.substrings = vec!["badword".into(), "ü".into()];
        c.banned.regexes = [r"fr[e3]{2}\s*f[o0]ll[o0]wers", r"(?i)^b+u+y+\b"]
            .iter()
            .filter_map(|p| Pattern::new(p).ok())
            .collect();
        c.regulars = vec!["viewer3".into()];
        c
    })
}

const ROLES: [Roles; 8] = [
    Roles::empty(),
    Roles::SUBSCRIBER,
    Roles::VIP,
    Roles::FOUNDER,
    Roles::TURBO,
    Roles::MODERATOR,
    Roles::BROADCASTER,
    Roles::empty(),
];

/// Input layout: lines separated by `\n`. Each line's first byte picks the viewer (low 3 bits),
/// their badge (next 3) and an operation (top 2: chat, chat, `!permit`, `!modcheck`); the
/// second byte is the time since the previous line (in units of 250 ms); the third the number of
/// emote ranges, read from the following bytes (start, length); the rest is the text.
pub fn moderation_pipeline(data: &[u8]) {
    MODERATOR.with_borrow_mut(|kept| {
        if kept.as_ref().is_none_or(|k| k.inputs >= REBUILD_EVERY) {
            *kept = fresh();
        }
        let Some(kept) = kept.as_mut() else {
            return;
        };
        kept.inputs += 1;
        // Past every window, permit and decay of the inputs before.
        let start = kept.clock + gap();
        let first_id = kept.next_id;
        kept.next_id += 8;
        kept.clock = check_lines(&mut kept.moderator, data, start, first_id);
    });
}

/// A moderator kept between inputs, and where the next input starts.
struct Kept {
    moderator: Moderator,
    inputs: u32,
    /// The latest time an input used.
    clock: Instant,
    /// The user id of the next input's first viewer.
    next_id: u64,
}

/// Inputs one moderator serves before a fresh one is compiled.
const REBUILD_EVERY: u32 = 4096;

thread_local! {
    static MODERATOR: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

fn fresh() -> Option<Kept> {
    let mut moderator = Moderator::new(config()).ok()?;
    let emote_words = |w: &str| matches!(w, "KEKW" | "OMEGALUL" | "catJAM");
    moderator.set_emotes(Arc::new(emote_words));
    Some(Kept {
        moderator,
        inputs: 0,
        clock: Instant::now(),
        next_id: 100,
    })
}

/// Longer than the longest permit, every flood and repetition window and every ladder's decay.
fn gap() -> Duration {
    static GAP: OnceLock<Duration> = OnceLock::new();
    *GAP.get_or_init(|| {
        let c = config();
        let decay_hours = c
            .ladders
            .values()
            .map(|l| u64::from(l.decay_hours))
            .max()
            .unwrap_or(0);
        Duration::from_secs(decay_hours.saturating_mul(3600)).max(crate::moderation::MAX_PERMIT)
            + Duration::from_secs(86_400)
    })
}

/// Checks the lines of `data` from `start` with viewers `first_id..first_id + 8`; returns the
/// time of the last line.
fn check_lines(moderator: &mut Moderator, data: &[u8], start: Instant, first_id: u64) -> Instant {
    let mut now = start;
    for (n, line) in data.split(|&b| b == b'\n').enumerate() {
        let [head, step, emote_count, rest @ ..] = line else {
            continue;
        };
        now += Duration::from_millis(u64::from(*step) * 250);
        let user = head & 7;
        let role = ROLES[usize::from((head >> 3) & 7)];
        let login = format!("viewer{user}");
        let ranges = usize::from(*emote_count % 8).min(rest.len() / 2);
        let (emote_bytes, text) = rest.split_at(ranges * 2);
        let text = String::from_utf8_lossy(text).into_owned();
        match head >> 6 {
            2 => {
                let secs = u64::from(*step) * 30;
                let granted = moderator.permit_at(&text, Some(Duration::from_secs(secs)), now);
                assert!(granted <= crate::moderation::MAX_PERMIT);
                continue;
            }
            3 => {
                std::hint::black_box(moderator.explain(&text).map(|e| e.to_string()));
                continue;
            }
            _ => {}
        }
        let emotes = emote_bytes
            .chunks_exact(2)
            .map(|c| EmoteRange {
                id: "25".into(),
                start: u32::from(c[0]),
                end: u32::from(c[0]).saturating_add(u32::from(c[1])),
            })
            .collect();
        let msg = ChatMessage {
            id: CompactString::from(format!("m{n}")),
            channel: "streamer".into(),
            room_id: "1".into(),
            sender: Chatter {
                id: CompactString::from(format!("{}", first_id + u64::from(user))),
                login: login.as_str().into(),
                display_name: login.to_uppercase().into(),
                roles: role,
                badges: role
                    .names()
                    .into_iter()
                    .map(|name| Badge {
                        name: name.into(),
                        version: "1".into(),
                    })
                    .collect(),
                color: None,
            },
            text,
            action: head & 0x40 != 0 && step & 1 == 1,
            emotes,
            bits: u32::from(*step),
            first_msg: n == 0,
            returning_chatter: false,
            sub_months: u32::from(step & 0x0f),
            reply_parent: None,
            source_room_id: None,
            source_id: None,
            sent_ms: 0,
        };
        if let Verdict::Caught(decision) = moderator.check(&msg, now) {
            assert!(
                role.level() < Permission::Moderator,
                "a moderator or the broadcaster was moderated: {decision:?}"
            );
            let entry = decision.log_entry(&msg, 0);
            std::hint::black_box(serde_json::to_string(&entry).ok());
        }
    }
    now
}
