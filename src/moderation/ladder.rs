//! Punishment ladders: counts each user's offences per named ladder, forgets them after the
//! ladder's decay, and says which step the next offence takes.
//!
//! Owns only the counting; turning a step into Helix actions is the moderator's job.

use std::collections::HashMap;
use std::time::Duration;

use compact_str::CompactString;
use tokio::time::Instant;

use crate::config::moderation::{Ladder, Step};

/// One user's record on one ladder.
#[derive(Debug, Clone, Copy)]
struct Offences {
    /// Offences within the decay window.
    count: u32,
    /// When the last one happened; the window runs from here.
    last: Instant,
}

/// Most accounts one ladder remembers (a raid of more accounts is still punished: raid mode
/// punishes each once whatever its rung).
pub const MAX_OFFENDERS: usize = 50_000;

/// One named ladder and who stands where on it.
#[derive(Debug)]
struct Track {
    steps: Vec<Step>,
    /// `None` never forgets.
    decay: Option<Duration>,
    users: HashMap<CompactString, Offences>,
}

impl Track {
    fn new(ladder: &Ladder) -> Track {
        Track {
            steps: ladder.steps.clone(),
            decay: (ladder.decay_hours > 0)
                .then(|| Duration::from_secs(u64::from(ladder.decay_hours) * 3_600)),
            users: HashMap::new(),
        }
    }

    fn live(&self, o: &Offences, now: Instant) -> bool {
        self.decay
            .is_none_or(|d| now.saturating_duration_since(o.last) < d)
    }

    /// Makes room in a full ladder: forgets the offences whose decay has run out, and if that
    /// frees less than a quarter, the quarter offended least recently (logged).
    fn shed(&mut self, now: Instant) {
        let decay = self.decay;
        self.users
            .retain(|_, o| decay.is_none_or(|d| now.saturating_duration_since(o.last) < d));
        let target = MAX_OFFENDERS - MAX_OFFENDERS / 4;
        if self.users.len() <= target {
            return;
        }
        let cut = self.users.len() - target;
        let mut lasts: Vec<Instant> = self.users.values().map(|o| o.last).collect();
        let (_, pivot, _) = lasts.select_nth_unstable(cut - 1);
        let pivot = *pivot;
        let before = self.users.len();
        self.users.retain(|_, o| o.last > pivot);
        tracing::warn!(
            "moderation: more than {MAX_OFFENDERS} accounts on one ladder: the {} that offended \
             least recently were forgotten (their next offence starts the ladder again)",
            before - self.users.len()
        );
    }

    fn step_for(&self, count: u32) -> Step {
        let i = usize::try_from(count.saturating_sub(1)).unwrap_or(usize::MAX);
        self.steps
            .get(i)
            .or(self.steps.last())
            .copied()
            // An empty ladder is refused by the config check; deleting is the mildest guess.
            .unwrap_or(Step::Delete)
    }
}

/// Where an offence put the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    /// 1 for a first offence (within the decay window).
    pub offence: u32,
    /// The step this offence gets.
    pub step: Step,
}

/// All ladders of one configuration.
#[derive(Debug, Default)]
pub struct Ladders {
    tracks: HashMap<String, Track>,
}

impl Ladders {
    /// Ladders as configured, keeping the offences already counted on ladders whose name
    /// survives from `old` (so a config reload does not pardon anyone).
    pub fn new(config: &std::collections::BTreeMap<String, Ladder>, old: Option<Ladders>) -> Self {
        let mut old = old.map(|l| l.tracks).unwrap_or_default();
        let tracks = config
            .iter()
            .map(|(name, ladder)| {
                let mut track = Track::new(ladder);
                if let Some(prev) = old.remove(name) {
                    track.users = prev.users;
                }
                (name.clone(), track)
            })
            .collect();
        Ladders { tracks }
    }

    /// Records an offence by `user` on `ladder` at `now` and returns the step it takes.
    pub fn offend(&mut self, ladder: &str, user: &str, now: Instant) -> Rung {
        let Some(track) = self.tracks.get_mut(ladder) else {
            return Rung {
                offence: 1,
                step: Step::Delete,
            };
        };
        let count = match track.users.get(user) {
            Some(o) if track.live(o, now) => o.count.saturating_add(1),
            _ => 1,
        };
        if track.users.len() >= MAX_OFFENDERS && !track.users.contains_key(user) {
            track.shed(now);
        }
        track
            .users
            .insert(CompactString::from(user), Offences { count, last: now });
        Rung {
            offence: count,
            step: track.step_for(count),
        }
    }

    /// The step `user`'s next offence on `ladder` would take, without recording it.
    pub fn peek(&self, ladder: &str, user: &str, now: Instant) -> Rung {
        let count = self
            .tracks
            .get(ladder)
            .and_then(|t| t.users.get(user).filter(|o| t.live(o, now)))
            .map_or(1, |o| o.count.saturating_add(1));
        let step = self
            .tracks
            .get(ladder)
            .map_or(Step::Delete, |t| t.step_for(count));
        Rung {
            offence: count,
            step,
        }
    }

    /// The strongest step of `ladder` (a ban over any timeout, a longer timeout over a shorter
    /// one, any timeout over a warning or a delete).
    pub fn strongest(&self, ladder: &str) -> Step {
        let rank = |s: &Step| match s {
            Step::Delete => (0, 0),
            Step::Warn => (1, 0),
            Step::Timeout(secs) => (2, *secs),
            Step::Ban => (3, 0),
        };
        self.tracks
            .get(ladder)
            .and_then(|t| t.steps.iter().copied().max_by_key(rank))
            .unwrap_or(Step::Delete)
    }

    /// Forgets every offence.
    pub fn clear(&mut self) {
        for t in self.tracks.values_mut() {
            t.users.clear();
        }
    }

    /// Drops records whose decay has run out, so the maps do not grow with every chatter ever.
    pub fn sweep(&mut self, now: Instant) {
        for t in self.tracks.values_mut() {
            let decay = t.decay;
            t.users
                .retain(|_, o| decay.is_none_or(|d| now.saturating_duration_since(o.last) < d));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_ladder_past_its_cap_forgets_those_that_offended_least_recently() {
        let cfg = BTreeMap::from([(
            "l".to_owned(),
            Ladder {
                decay_hours: 0,
                steps: vec![Step::Delete, Step::Timeout(60)],
            },
        )]);
        let mut l = Ladders::new(&cfg, None);
        let t0 = Instant::now();
        l.offend("l", "first", t0);
        l.offend("l", "keeper", t0 + Duration::from_secs(10_000));
        for i in 0..MAX_OFFENDERS {
            l.offend("l", &format!("u{i}"), t0 + Duration::from_secs(1));
        }
        let users = l.tracks.get("l").map_or(0, |t| t.users.len());
        assert!(users <= MAX_OFFENDERS, "{users} remembered");
        assert_eq!(
            l.peek("l", "first", t0).offence,
            1,
            "the oldest is forgotten"
        );
        assert_eq!(
            l.peek("l", "keeper", t0 + Duration::from_secs(10_000))
                .offence,
            2,
            "the most recent is kept"
        );
    }

    #[test]
    fn climbs_repeats_the_last_step_and_forgets_after_decay() {
        let cfg = BTreeMap::from([(
            "l".to_owned(),
            Ladder {
                decay_hours: 1,
                steps: vec![Step::Delete, Step::Timeout(60)],
            },
        )]);
        let mut l = Ladders::new(&cfg, None);
        let t0 = Instant::now();
        assert_eq!(l.offend("l", "u", t0).step, Step::Delete);
        assert_eq!(l.offend("l", "u", t0).step, Step::Timeout(60));
        assert_eq!(l.offend("l", "u", t0).step, Step::Timeout(60));
        let later = t0 + Duration::from_secs(3_600);
        assert_eq!(l.peek("l", "u", later).step, Step::Delete);
        assert_eq!(l.offend("l", "u", later).offence, 1);
    }
}
