//! The pipeline: [`Moderator::check`] runs one chat message past the compiled rules (banned
//! terms, links, flood, repetition, then the stateless filters), climbs the punishment ladder
//! for the filter that fired and returns the [`Decision`]. It also keeps what must outlive a
//! message (per-chatter history, permits, ladders) and answers `!permit` and `!modcheck`.
//! Turning a decision into Twitch calls is [`super::enforce`]'s job.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use compact_str::CompactString;
use tokio::time::Instant;

use crate::config::moderation::{ModerationConfig, Step};
use crate::event::{ChatMessage, Permission, Roles};

use super::filters::{self, Hit};
use super::fnv::{BuildFnv, fnv};
use super::ladder::Ladders;
use super::links;
use super::normalize::{Normalized, is_plain, normalize};
use super::rules::{Gate, Rules};
use super::{Decision, EmoteLookup, Explanation, Filter, ModerationError, Verdict, enforce};

/// What the flood and repetition filters remember about one chatter.
#[derive(Debug, Default)]
struct Recent {
    /// Times of recent messages, oldest first.
    times: VecDeque<Instant>,
    /// Hashes of recent messages' normalised text, with their times.
    texts: VecDeque<(u64, Instant)>,
}

/// The longest `!permit` window: a moderator's typo (`!permit alice 99999999999`) gets a day.
pub const MAX_PERMIT: Duration = Duration::from_secs(86_400);

/// The moderator: compiled rules plus the state that must survive config reloads.
pub struct Moderator {
    rules: Rules,
    ladders: Ladders,
    recent: HashMap<CompactString, Recent, BuildFnv>,
    /// Login → when the permit runs out.
    permits: HashMap<CompactString, Instant>,
    emotes: Option<Arc<dyn EmoteLookup>>,
    next_sweep: Option<Instant>,
    /// Chatters forgotten early because the map was full ([`MAX_CHATTERS`]).
    shed: u64,
}

impl fmt::Debug for Moderator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Moderator")
            .field("chatters", &self.recent.len())
            .field("permits", &self.permits.len())
            .finish_non_exhaustive()
    }
}

/// How often idle chatters' state is dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Most chatters the flood and repetition filters remember; past it the idle ones are swept
/// at once and, if that is not enough, the quarter least recently seen is forgotten (counted
/// and logged). A flood from more accounts than this within the filters' window only lets
/// some of them start their count again.
pub const MAX_CHATTERS: usize = 20_000;

/// Where a fired filter leads.
struct Fired<'a> {
    filter: Filter,
    gate: &'a Gate,
    hit: Hit,
}

impl Moderator {
    /// Compiles `config`.
    ///
    /// # Errors
    /// When the banned lists are too large to compile together.
    pub fn new(config: &ModerationConfig) -> Result<Moderator, ModerationError> {
        Ok(Moderator {
            rules: Rules::new(config)?,
            ladders: Ladders::new(&config.ladders, None),
            recent: HashMap::default(),
            permits: HashMap::new(),
            emotes: None,
            next_sweep: None,
            shed: 0,
        })
    }

    /// Swaps in a reloaded config, keeping offences (on ladders that keep their names),
    /// permits and recent-message history. Switching dry run on or off forgets offences, so
    /// nobody is punished for what was only logged.
    ///
    /// # Errors
    /// As [`Moderator::new`]; the old rules stay in force.
    pub fn reconfigure(&mut self, config: &ModerationConfig) -> Result<(), ModerationError> {
        let rules = Rules::new(config)?;
        let toggled = rules.dry_run != self.rules.dry_run;
        self.ladders = Ladders::new(&config.ladders, Some(std::mem::take(&mut self.ladders)));
        if toggled {
            self.ladders.clear();
        }
        self.rules = rules;
        Ok(())
    }

    /// Sets the channel's third-party emotes (BTTV, FFZ, 7TV).
    pub fn set_emotes(&mut self, emotes: Arc<dyn EmoteLookup>) {
        self.emotes = Some(emotes);
    }

    /// `!permit <login> [seconds]`: lets `login` post one link within `duration` (the config's
    /// `permit_secs` when `None`), at most [`MAX_PERMIT`]. Returns the window granted.
    pub fn permit(&mut self, login: &str, duration: Option<Duration>) -> Duration {
        self.permit_at(login, duration, Instant::now())
    }

    /// [`Moderator::permit`] at a given time.
    pub fn permit_at(&mut self, login: &str, duration: Option<Duration>, now: Instant) -> Duration {
        let d = duration
            .unwrap_or(Duration::from_secs(u64::from(self.rules.permit_secs)))
            .min(MAX_PERMIT);
        let login = login.trim_start_matches('@').to_lowercase();
        let until = now.checked_add(d).unwrap_or(now);
        self.permits.insert(CompactString::from(login), until);
        d
    }

    /// Chatters the flood and repetition filters remember now (at most [`MAX_CHATTERS`]).
    pub fn chatters_remembered(&self) -> usize {
        self.recent.len()
    }

    /// Chatters forgotten early because more than [`MAX_CHATTERS`] spoke within the filters'
    /// windows.
    pub fn chatters_forgotten(&self) -> u64 {
        self.shed
    }

    /// Checks one chat message at `now`.
    pub fn check(&mut self, msg: &ChatMessage, now: Instant) -> Verdict {
        if !self.rules.enabled || msg.sender.roles.level() >= Permission::Moderator {
            return Verdict::Pass;
        }
        self.sweep(now);
        let r = &self.rules;
        let roles = msg.sender.roles;
        let regular = roles.contains(Roles::REGULAR) || r.is_regular(&msg.sender.login);
        let on = |g: &Gate| g.applies(roles, regular);
        let text = msg.text.as_str();
        let plain = is_plain(text);
        let norm: Option<Normalized> = (!plain).then(|| normalize(text));

        // Counting filters record every message, caught or not, so the windows are true.
        let key = if msg.sender.id.is_empty() {
            &msg.sender.login
        } else {
            &msg.sender.id
        };
        let (flooded, same) = if on(&r.flood) || on(&r.repetition) {
            if self.recent.len() >= MAX_CHATTERS && !self.recent.contains_key(key.as_str()) {
                shed_chatters(&mut self.recent, &mut self.shed, r, now);
            }
            let recent = match self.recent.get_mut(key.as_str()) {
                Some(rec) => rec,
                None => self.recent.entry(key.clone()).or_default(),
            };
            let flooded = on(&r.flood).then(|| {
                while recent
                    .times
                    .front()
                    .is_some_and(|t| now.saturating_duration_since(*t) >= r.flood_window)
                {
                    recent.times.pop_front();
                }
                recent.times.push_back(now);
                let cap = usize::try_from(r.flood_max).unwrap_or(usize::MAX);
                while recent.times.len() > cap.saturating_add(1) {
                    recent.times.pop_front();
                }
                recent.times.len()
            });
            let same = on(&r.repetition).then(|| {
                let h = match &norm {
                    Some(n) => fnv(n.text.bytes()),
                    None => fnv(text.trim().bytes().map(|b| b.to_ascii_lowercase())),
                };
                while recent
                    .texts
                    .front()
                    .is_some_and(|(_, t)| now.saturating_duration_since(*t) >= r.same_window)
                {
                    recent.texts.pop_front();
                }
                recent.texts.push_back((h, now));
                let cap = usize::try_from(r.max_same).unwrap_or(usize::MAX);
                while recent.texts.len() > cap.saturating_add(8) {
                    recent.texts.pop_front();
                }
                recent.texts.iter().filter(|(x, _)| *x == h).count()
            });
            (flooded, same)
        } else {
            (None, None)
        };

        let third = if r.third_party {
            self.emotes.as_deref()
        } else {
            None
        };
        let mut fired = None;
        if on(&r.banned_gate) {
            let hit = match &norm {
                Some(n) => r.banned.check_normalized(n),
                None => r.banned.check(text, &[]),
            };
            fired = hit.map(|hit| Fired {
                filter: Filter::Banned,
                gate: &r.banned_gate,
                hit,
            });
        }
        if fired.is_none() && on(&r.links) {
            let hay = norm.as_ref().map_or(text, |n| n.plain.as_str());
            if let Some(link) = links::find_link(hay, &r.allow) {
                let login = msg.sender.login.as_str();
                let permitted = self.permits.get(login).is_some_and(|until| now < *until);
                if permitted {
                    // One link per permit.
                    self.permits.remove(login);
                } else {
                    fired = Some(Fired {
                        filter: Filter::Links,
                        gate: &r.links,
                        hit: Hit {
                            rule: format!("{} {}", link.kind, link.host),
                            why: format!("\"{}\" is a link and not on the allow-list", link.host),
                        },
                    });
                }
            }
        }
        if fired.is_none()
            && let Some(n) = flooded.filter(|n| *n > r.flood_max as usize)
        {
            fired = Some(Fired {
                filter: Filter::Flood,
                gate: &r.flood,
                hit: Hit {
                    rule: format!(
                        "more than {} messages in {} s",
                        r.flood_max,
                        r.flood_window.as_secs()
                    ),
                    why: format!("{n} messages within {} seconds", r.flood_window.as_secs()),
                },
            });
        }
        if fired.is_none()
            && let Some(n) = same.filter(|n| *n > r.max_same as usize)
        {
            fired = Some(Fired {
                filter: Filter::Repetition,
                gate: &r.repetition,
                hit: Hit {
                    rule: format!(
                        "same message more than {} times in {} s",
                        r.max_same,
                        r.same_window.as_secs()
                    ),
                    why: format!(
                        "the same message {n} times within {} seconds",
                        r.same_window.as_secs()
                    ),
                },
            });
        }
        if fired.is_none() {
            fired = stateless(r, text, &msg.emotes, third, &on);
        }
        let Some(f) = fired else {
            return Verdict::Pass;
        };
        let normalized = match norm {
            Some(n) => n.text,
            None => text.to_ascii_lowercase(),
        };
        self.decide(msg, f.filter, f.gate.clone(), f.hit, normalized, now)
    }

    /// Climbs the ladder and turns its step into actions.
    fn decide(
        &mut self,
        msg: &ChatMessage,
        filter: Filter,
        gate: Gate,
        hit: Hit,
        normalized: String,
        now: Instant,
    ) -> Verdict {
        let user = if msg.sender.id.is_empty() {
            msg.sender.login.as_str()
        } else {
            msg.sender.id.as_str()
        };
        let rung = self.ladders.offend(&gate.ladder, user, now);
        let name = if msg.sender.display_name.is_empty() {
            &msg.sender.login
        } else {
            &msg.sender.display_name
        };
        let warning = (rung.step == Step::Warn).then(|| gate.message.replace("{user}", name));
        let dry_run = self.rules.dry_run;
        let reason = format!("{filter}: {}", hit.rule);
        let actions = if dry_run {
            tracing::info!(
                filter = filter.as_str(),
                rule = %hit.rule,
                user = %msg.sender.login,
                step = %rung.step,
                "moderation dry run: would have punished"
            );
            Vec::new()
        } else {
            enforce::step_actions(msg, rung.step, warning.as_deref(), reason)
        };
        Verdict::Caught(Box::new(Decision {
            filter,
            rule: hit.rule,
            why: hit.why,
            normalized,
            ladder: gate.ladder,
            offence: rung.offence,
            step: rung.step,
            warning,
            actions,
            dry_run,
        }))
    }

    /// The step raid mode gives an account that tripped a filter climbing `ladder`: the
    /// configured action, or the ladder's strongest step (a warning becomes a delete).
    pub fn raid_step(&self, ladder: &str, action: crate::config::moderation::RaidAction) -> Step {
        let step = match action {
            crate::config::moderation::RaidAction::Step(s) => s,
            crate::config::moderation::RaidAction::Strongest => self.ladders.strongest(ladder),
        };
        if step == Step::Warn {
            Step::Delete
        } else {
            step
        }
    }

    /// `!modcheck <text>`: which filter and rule would fire on `text` from an ordinary viewer,
    /// and why. Flood and repeated-message limits depend on history and are not judged here.
    pub fn explain(&self, text: &str) -> Option<Explanation> {
        let r = &self.rules;
        let n = normalize(text);
        let on = |g: &Gate| g.enabled;
        let third = if r.third_party {
            self.emotes.as_deref()
        } else {
            None
        };
        let (filter, hit) = if let Some(hit) = on(&r.banned_gate)
            .then(|| r.banned.check_normalized(&n))
            .flatten()
        {
            (Filter::Banned, hit)
        } else if let Some(link) = on(&r.links)
            .then(|| links::find_link(&n.plain, &r.allow))
            .flatten()
        {
            (
                Filter::Links,
                Hit {
                    rule: format!("{} {}", link.kind, link.host),
                    why: format!("\"{}\" is a link and not on the allow-list", link.host),
                },
            )
        } else {
            let f = stateless(r, text, &[], third, &on)?;
            (f.filter, f.hit)
        };
        Some(Explanation {
            filter,
            rule: hit.rule,
            why: hit.why,
            normalized: n.text,
        })
    }

    fn sweep(&mut self, now: Instant) {
        match self.next_sweep {
            Some(t) if now < t => return,
            Some(_) => {}
            None => {
                self.next_sweep = Some(now + SWEEP_EVERY);
                return;
            }
        }
        self.next_sweep = Some(now + SWEEP_EVERY);
        let keep = self.rules.flood_window.max(self.rules.same_window);
        self.recent.retain(|_, rec| {
            let last = rec
                .times
                .back()
                .copied()
                .max(rec.texts.back().map(|(_, t)| *t));
            last.is_some_and(|t| now.saturating_duration_since(t) < keep)
        });
        self.permits.retain(|_, until| now < *until);
        self.ladders.sweep(now);
    }
}

/// Makes room in a full chatter map: drops chatters idle past the filters' windows, and if
/// that frees less than a quarter, the quarter seen least recently too (counted in `shed`).
fn shed_chatters(
    recent: &mut HashMap<CompactString, Recent, BuildFnv>,
    shed: &mut u64,
    r: &Rules,
    now: Instant,
) {
    let last = |rec: &Recent| {
        rec.times
            .back()
            .copied()
            .max(rec.texts.back().map(|(_, t)| *t))
    };
    let keep = r.flood_window.max(r.same_window);
    recent.retain(|_, rec| last(rec).is_some_and(|t| now.saturating_duration_since(t) < keep));
    let target = MAX_CHATTERS - MAX_CHATTERS / 4;
    if recent.len() <= target {
        return;
    }
    let mut seen: Vec<Instant> = recent.values().filter_map(last).collect();
    let cut = recent.len() - target;
    if cut == 0 || cut > seen.len() {
        recent.clear();
        return;
    }
    let (_, pivot, _) = seen.select_nth_unstable(cut - 1);
    let pivot = *pivot;
    let before = recent.len();
    recent.retain(|_, rec| last(rec).is_some_and(|t| t > pivot));
    let gone = (before - recent.len()) as u64;
    *shed = shed.saturating_add(gone);
    tracing::warn!(
        "moderation: more than {MAX_CHATTERS} chatters within the flood and repetition \
         windows: the {gone} seen least recently were forgotten ({shed} so far)"
    );
}

/// Length, repeated characters, caps, symbols and emotes, in that order.
fn stateless<'a>(
    r: &'a Rules,
    text: &str,
    emotes: &[crate::event::EmoteRange],
    third: Option<&dyn EmoteLookup>,
    on: &dyn Fn(&Gate) -> bool,
) -> Option<Fired<'a>> {
    let fired = |filter, gate, hit: Option<Hit>| hit.map(|hit| Fired { filter, gate, hit });
    if on(&r.length)
        && let Some(f) = fired(
            Filter::Length,
            &r.length,
            filters::length(text, r.max_chars),
        )
    {
        return Some(f);
    }
    if on(&r.repetition) {
        let hit = filters::char_run(text, r.max_char_run);
        if let Some(f) = fired(Filter::Repetition, &r.repetition, hit) {
            return Some(f);
        }
    }
    if on(&r.caps) || on(&r.symbols) || on(&r.emotes) {
        // Counting without the third-party lookups first is cheap, and it bounds the real
        // counts: leaving emote words out only lowers capitals and symbols, and there cannot
        // be more third-party emotes than words. Only a message that could still trip a
        // filter pays for a lookup per word.
        let rough = filters::census(text, emotes, None);
        let could_fire = |g: &Gate, count: u32, max_percent: u8, min: u32| {
            on(g) && u64::from(count) * 100 > u64::from(max_percent) * u64::from(min.max(1))
        };
        let words = u32::try_from(memchr::memchr_iter(b' ', text.as_bytes()).count() + 1)
            .unwrap_or(u32::MAX);
        let c = match third {
            Some(_)
                if could_fire(&r.caps, rough.capitals, r.caps_max, r.caps_min)
                    || could_fire(&r.symbols, rough.symbols, r.symbols_max, r.symbols_min)
                    || (on(&r.emotes)
                        && filters::emote_count(emotes, &rough).saturating_add(words)
                            > r.emotes_max) =>
            {
                filters::census(text, emotes, third)
            }
            _ => rough,
        };
        if on(&r.caps) {
            let hit = filters::caps(&c, r.caps_max, r.caps_min);
            if let Some(f) = fired(Filter::Caps, &r.caps, hit) {
                return Some(f);
            }
        }
        if on(&r.symbols) {
            let hit = filters::symbols(&c, r.symbols_max, r.symbols_min);
            if let Some(f) = fired(Filter::Symbols, &r.symbols, hit) {
                return Some(f);
            }
        }
        if on(&r.emotes) {
            let n = filters::emote_count(emotes, &c);
            if let Some(f) = fired(Filter::Emotes, &r.emotes, filters::emotes(n, r.emotes_max)) {
                return Some(f);
            }
        }
    }
    None
}
