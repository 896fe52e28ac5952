//! Counting one stream: a pure, clock-free tally fed by the dispatcher's decisions. Callers pass
//! the time (unix seconds), so tests replay a stream without waiting.

use std::collections::{HashMap, HashSet};

use compact_str::CompactString;

use serde::{Deserialize, Serialize};

use crate::event::{ChannelEvent, ChannelEventKind, SubTier};

/// Chat-per-minute buckets kept at most (a week): a wrong clock cannot grow the record forever.
const MAX_MINUTES: u64 = 7 * 24 * 60;
/// A human moderator's CLEARCHAT/CLEARMSG for a viewer the bot punished this recently is the
/// echo of the bot's own action, not a second one.
const ECHO_SECS: u64 = 10;
/// Viewer samples closer than this replace each other (the start-up check and the sampler may
/// both report the same moment).
const SAMPLE_MERGE_SECS: u64 = 20;

/// New subscriptions and resubscriptions, by tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubTiers {
    /// Prime subscriptions.
    pub prime: u64,
    /// Tier 1 subscriptions.
    pub tier1: u64,
    /// Tier 2 subscriptions.
    pub tier2: u64,
    /// Tier 3 subscriptions.
    pub tier3: u64,
}

impl SubTiers {
    /// All tiers together.
    pub fn total(&self) -> u64 {
        self.prime + self.tier1 + self.tier2 + self.tier3
    }

    fn add(&mut self, tier: SubTier) {
        match tier {
            SubTier::Prime => self.prime += 1,
            SubTier::Tier1 => self.tier1 += 1,
            SubTier::Tier2 => self.tier2 += 1,
            SubTier::Tier3 => self.tier3 += 1,
        }
    }
}

/// One viewer-count sample (Helix Get Streams).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerPoint {
    /// Unix seconds.
    pub at: u64,
    /// Viewers watching then.
    pub viewers: u64,
}

/// One stream's statistics: what is stored in redb, written to `data/stats/` and shown in the
/// console. Every field has a default, so records written by older builds still read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamStats {
    /// Twitch's stream id (or the simulator's).
    pub stream_id: String,
    /// Unix seconds when the stream went live.
    pub started_at: u64,
    /// Unix seconds when it ended; `None` while live.
    pub ended_at: Option<u64>,
    /// The stream title, when known (Get Streams, channel.update).
    pub title: String,
    /// The category (game) name.
    pub category: String,
    /// Chat lines in the channel (Shared Chat from other channels not counted).
    pub chat_messages: u64,
    /// Distinct chatters.
    pub unique_chatters: u64,
    /// Chat commands run (scripts and built-ins).
    pub commands: u64,
    /// New followers.
    pub follows: u64,
    /// New subscriptions and resubscriptions by tier (gifted ones are in `gifted_subs`).
    pub subs: SubTiers,
    /// How many of `subs` were resubscriptions.
    pub resubs: u64,
    /// Subscriptions given as gifts.
    pub gifted_subs: u64,
    /// Bits cheered.
    pub bits: u64,
    /// Raids into the channel.
    pub raids: u64,
    /// Viewers the raids brought.
    pub raid_viewers: u64,
    /// Channel-point redemptions.
    pub redemptions: u64,
    /// Timeouts, bans and deletions: the bot's own and the human moderators'.
    pub moderation_actions: u64,
    /// Viewer counts over time.
    pub viewer_samples: Vec<ViewerPoint>,
    /// Chat lines per minute since the start (index 0 is the first minute).
    pub chat_per_minute: Vec<u64>,
    /// The stream ended while the bot was not running; `ended_at` is the last time the bot saw
    /// it live.
    pub ended_while_down: bool,
}

impl StreamStats {
    /// Length in seconds (up to now for a live stream's `ended_at: None`, given `now`).
    pub fn duration_secs(&self, now: u64) -> u64 {
        self.ended_at.unwrap_or(now).saturating_sub(self.started_at)
    }

    /// The highest sampled viewer count.
    pub fn peak_viewers(&self) -> u64 {
        self.viewer_samples
            .iter()
            .map(|s| s.viewers)
            .max()
            .unwrap_or(0)
    }

    /// The mean of the viewer samples, rounded.
    pub fn average_viewers(&self) -> u64 {
        let n = self.viewer_samples.len() as u64;
        if n == 0 {
            return 0;
        }
        let sum: u64 = self.viewer_samples.iter().map(|s| s.viewers).sum();
        (sum + n / 2) / n
    }

    /// Hours watched: the average viewer count over the stream's length.
    pub fn hours_watched(&self, now: u64) -> f64 {
        self.average_viewers() as f64 * self.duration_secs(now) as f64 / 3600.0
    }

    /// The UTC date the stream started, `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(self.started_at);
        let mut s = humantime::format_rfc3339_seconds(t).to_string();
        s.truncate(10);
        s
    }

    /// The file name stem of this stream's report: `<date>-<stream id>`, with anything but
    /// letters, digits, `-` and `_` in the id replaced, so an id can never leave the folder.
    pub fn file_stem(&self) -> String {
        let id: String = self
            .stream_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{}-{}", self.date(), id)
    }
}

/// A stream being counted, with what is needed to count it (who chatted) besides the figures.
/// Serialised as a whole to survive a restart mid-stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tally {
    /// The figures counted so far.
    pub stats: StreamStats,
    /// User ids (logins when Twitch sent no id) of everyone who chatted. Inline strings in a
    /// hash set take under half the memory per chatter of a B-tree of heap strings. Saved as a
    /// JSON array, as before, so a tally saved by an older build loads.
    pub chatters: HashSet<CompactString>,
    /// Unix seconds of the last thing counted or saved: the best guess of the end time when the
    /// stream ended while the bot was down.
    pub last_seen: u64,
    /// Viewers the bot punished, with when: their CLEARCHAT echo is not counted again.
    #[serde(skip)]
    recent_punished: HashMap<String, u64>,
}

impl Tally {
    /// Starts counting a stream that went live at `started_at`.
    pub fn new(stream_id: &str, started_at: u64) -> Tally {
        Tally {
            stats: StreamStats {
                stream_id: stream_id.to_owned(),
                started_at,
                ..StreamStats::default()
            },
            last_seen: started_at,
            ..Tally::default()
        }
    }

    /// The bot saw the stream live at `now`.
    pub fn touch(&mut self, now: u64) {
        self.last_seen = self.last_seen.max(now);
    }

    /// A chat line from `user` (id, or login when there is no id) at `now`.
    pub fn chat(&mut self, user: &str, now: u64) {
        self.touch(now);
        self.stats.chat_messages += 1;
        if !user.is_empty() && !self.chatters.contains(user) {
            self.chatters.insert(user.into());
        }
        self.stats.unique_chatters = self.chatters.len() as u64;
        let minute = now.saturating_sub(self.stats.started_at) / 60;
        if minute < MAX_MINUTES {
            let minute = minute as usize;
            if self.stats.chat_per_minute.len() <= minute {
                self.stats.chat_per_minute.resize(minute + 1, 0);
            }
            self.stats.chat_per_minute[minute] += 1;
        }
    }

    /// A chat command ran.
    pub fn command(&mut self, now: u64) {
        self.touch(now);
        self.stats.commands += 1;
    }

    /// The bot's moderation punished `login`.
    pub fn punished(&mut self, login: &str, now: u64) {
        self.touch(now);
        self.stats.moderation_actions += 1;
        self.recent_punished
            .retain(|_, at| now.saturating_sub(*at) <= ECHO_SECS);
        self.recent_punished.insert(login.to_ascii_lowercase(), now);
    }

    /// Twitch reports a timeout, ban or deletion of `login`'s message: a moderator's action,
    /// unless it is the echo of the bot's own.
    pub fn cleared(&mut self, login: &str, now: u64) {
        self.touch(now);
        let echo = self
            .recent_punished
            .get(&login.to_ascii_lowercase())
            .is_some_and(|at| now.saturating_sub(*at) <= ECHO_SECS);
        if !echo {
            self.stats.moderation_actions += 1;
        }
    }

    /// A viewer-count sample.
    pub fn sample(&mut self, at: u64, viewers: u64) {
        self.touch(at);
        let samples = &mut self.stats.viewer_samples;
        match samples.last_mut() {
            Some(last) if at.abs_diff(last.at) < SAMPLE_MERGE_SECS => {
                *last = ViewerPoint { at, viewers };
            }
            _ => samples.push(ViewerPoint { at, viewers }),
        }
    }

    /// A channel event the dispatcher accepted (one source of truth already decided).
    pub fn channel_event(&mut self, ev: &ChannelEvent, now: u64) {
        self.touch(now);
        let s = &mut self.stats;
        match &ev.kind {
            ChannelEventKind::Follow => s.follows += 1,
            // A gift recipient's own notification: the gift is counted from the gifter's.
            ChannelEventKind::Subscribe { is_gift: true, .. } => {}
            ChannelEventKind::Subscribe { tier, .. } => s.subs.add(*tier),
            ChannelEventKind::Resub { tier, .. } => {
                s.subs.add(*tier);
                s.resubs += 1;
            }
            ChannelEventKind::Gift { count, .. } => s.gifted_subs += u64::from(*count),
            ChannelEventKind::Cheer { bits, .. } => s.bits += u64::from(*bits),
            ChannelEventKind::Raid { viewers } => {
                s.raids += 1;
                s.raid_viewers += u64::from(*viewers);
            }
            ChannelEventKind::Redemption { .. } => s.redemptions += 1,
            ChannelEventKind::ChannelUpdate { title, category } => {
                s.title.clone_from(title);
                s.category.clone_from(category);
            }
            _ => {}
        }
    }

    /// The finished record: the stream ended at `ended_at`.
    pub fn finish(mut self, ended_at: u64, while_down: bool) -> StreamStats {
        self.stats.unique_chatters = self.chatters.len() as u64;
        self.stats.ended_at = Some(ended_at.max(self.stats.started_at));
        self.stats.ended_while_down = while_down;
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Chatter, EventSource};

    fn ev(kind: ChannelEventKind) -> ChannelEvent {
        ChannelEvent {
            id: "x".into(),
            source: EventSource::EventSub,
            user: Some(Chatter::default()),
            kind,
        }
    }

    #[test]
    fn a_tally_saved_with_chatters_as_an_array_loads() {
        let saved = serde_json::json!({
            "stats": {"stream_id": "s1", "started_at": 100, "unique_chatters": 2},
            "chatters": ["1001", "1002"],
            "last_seen": 160
        });
        let t: Tally = serde_json::from_value(saved).expect("an older tally loads");
        assert_eq!(t.chatters.len(), 2);
        assert!(t.chatters.contains("1002"));
        let again: Tally =
            serde_json::from_value(serde_json::to_value(&t).expect("saves")).expect("loads");
        assert_eq!(again, t);
    }

    #[test]
    fn chat_is_bucketed_per_minute_and_chatters_counted_once() {
        let mut t = Tally::new("s1", 1_000);
        t.chat("a", 1_000);
        t.chat("a", 1_059);
        t.chat("b", 1_060);
        t.chat("c", 1_000 + 3 * 60 + 5);
        let s = t.finish(1_300, false);
        assert_eq!(s.chat_messages, 4);
        assert_eq!(s.unique_chatters, 3);
        assert_eq!(s.chat_per_minute, vec![2, 1, 0, 1]);
        assert_eq!(s.ended_at, Some(1_300));
    }

    #[test]
    fn gifts_count_once_and_subs_by_tier() {
        let mut t = Tally::new("s1", 0);
        t.channel_event(
            &ev(ChannelEventKind::Gift {
                tier: SubTier::Tier1,
                count: 3,
                anonymous: false,
            }),
            1,
        );
        for _ in 0..3 {
            t.channel_event(
                &ev(ChannelEventKind::Subscribe {
                    tier: SubTier::Tier1,
                    is_gift: true,
                }),
                1,
            );
        }
        t.channel_event(
            &ev(ChannelEventKind::Subscribe {
                tier: SubTier::Tier3,
                is_gift: false,
            }),
            2,
        );
        t.channel_event(
            &ev(ChannelEventKind::Resub {
                tier: SubTier::Prime,
                months: 4,
                streak: 1,
                message: String::new(),
            }),
            2,
        );
        let s = t.finish(10, false);
        assert_eq!(s.gifted_subs, 3);
        assert_eq!(
            s.subs,
            SubTiers {
                prime: 1,
                tier3: 1,
                ..SubTiers::default()
            }
        );
        assert_eq!(s.resubs, 1);
    }

    #[test]
    fn the_echo_of_the_bots_own_timeout_is_not_a_second_action() {
        let mut t = Tally::new("s1", 0);
        t.punished("Spammer", 100);
        t.cleared("spammer", 101);
        t.cleared("someone_else", 101);
        t.cleared("spammer", 200);
        assert_eq!(t.stats.moderation_actions, 3);
    }

    #[test]
    fn close_samples_merge_and_averages_round() {
        let mut t = Tally::new("s1", 0);
        t.sample(0, 10);
        t.sample(5, 11);
        t.sample(300, 20);
        assert_eq!(t.stats.viewer_samples.len(), 2);
        assert_eq!(t.stats.peak_viewers(), 20);
        assert_eq!(t.stats.average_viewers(), 16);
        let s = t.finish(3_600, false);
        assert!((s.hours_watched(0) - 16.0).abs() < 1e-9);
    }

    #[test]
    fn file_names_stay_inside_the_folder() {
        let s = StreamStats {
            stream_id: "../../etc/x".into(),
            started_at: 1_764_115_200, // 2025-11-26
            ..StreamStats::default()
        };
        assert_eq!(s.file_stem(), "2025-11-26-______etc_x");
    }
}
