//! The stateless checks: banned terms and regexes, caps, symbols, repeated characters, length
//! and emote counts. Each returns what fired and why, or nothing.
//!
//! Owns matching only; who is exempt, counting over time and punishing are the moderator's.

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::{RegexSet, RegexSetBuilder};

use super::normalize::{Normalized, normalize};
use super::{EmoteLookup, ModerationError};
use crate::config::moderation::BannedFilter;
use crate::event::EmoteRange;

/// A rule that fired: which one, and why, for the log and `!modcheck`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The rule that fired, e.g. `term "bad"`.
    pub rule: String,
    /// Why, in words, for moderators.
    pub why: String,
}

/// Banned terms (whole words), substrings and regexes, compiled once per config.
#[derive(Debug)]
pub struct Banned {
    /// Normalised terms then substrings; `n_terms` splits them.
    patterns: Vec<String>,
    n_terms: usize,
    automaton: Option<AhoCorasick>,
    regexes: Option<RegexSet>,
    sources: Vec<String>,
}

/// Bounds the compiled regex set like the config bounds one pattern.
const REGEX_SET_LIMIT: usize = 32 << 20;

impl Banned {
    /// Compiles the filter's lists.
    ///
    /// # Errors
    /// When the automaton or the regex set cannot be built (too large).
    pub fn new(cfg: &BannedFilter) -> Result<Banned, ModerationError> {
        let norm = |t: &String| normalize(t).text;
        let mut patterns: Vec<String> = cfg.terms.iter().map(norm).collect();
        let n_terms = patterns.len();
        patterns.extend(cfg.substrings.iter().map(norm));
        patterns.retain(|p| !p.is_empty());
        let n_terms = n_terms.min(patterns.len());
        let automaton = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(&patterns)
                    .or_else(|_| {
                        // A DFA can be too big for very long lists; the NFA is slower but fits.
                        AhoCorasick::builder()
                            .ascii_case_insensitive(true)
                            .build(&patterns)
                    })
                    .map_err(|e| ModerationError::Terms(e.to_string()))?,
            )
        };
        let sources: Vec<String> = cfg.regexes.iter().map(|p| p.as_str().to_owned()).collect();
        let regexes = if sources.is_empty() {
            None
        } else {
            Some(
                RegexSetBuilder::new(&sources)
                    // Fast-path text keeps its case; the patterns are written for lower case.
                    .case_insensitive(true)
                    .size_limit(REGEX_SET_LIMIT)
                    .build()
                    .map_err(|e| ModerationError::Regexes(e.to_string()))?,
            )
        };
        Ok(Banned {
            patterns,
            n_terms,
            automaton,
            regexes,
            sources,
        })
    }

    /// Checks `text` (either borrowed plain ASCII or normalised); `glued` are the ranges whose
    /// inner positions count as word boundaries.
    pub fn check(&self, text: &str, glued: &[Range<usize>]) -> Option<Hit> {
        if let Some(ac) = &self.automaton {
            for m in ac.find_overlapping_iter(text) {
                let idx = m.pattern().as_usize();
                let Some(pat) = self.patterns.get(idx) else {
                    continue;
                };
                if idx >= self.n_terms {
                    return Some(Hit {
                        rule: format!("substring \"{pat}\""),
                        why: format!("\"{pat}\" appears in the text"),
                    });
                }
                if is_boundary(text, m.start(), glued) && is_boundary(text, m.end(), glued) {
                    return Some(Hit {
                        rule: format!("term \"{pat}\""),
                        why: format!("the word \"{pat}\" appears"),
                    });
                }
            }
        }
        if let Some(set) = &self.regexes
            && set.is_match(text)
        {
            let i = set.matches(text).into_iter().next().unwrap_or(0);
            let src = self.sources.get(i).map_or("", String::as_str);
            return Some(Hit {
                rule: format!("regex /{src}/"),
                why: format!("the pattern /{src}/ matches"),
            });
        }
        None
    }

    /// Checks a normalised message, both readings of a leet `1`.
    pub fn check_normalized(&self, n: &Normalized) -> Option<Hit> {
        self.check(&n.text, &n.glued)
            .or_else(|| n.alt.as_deref().and_then(|alt| self.check(alt, &n.glued)))
    }
}

/// Whether byte offset `at` of `text` sits between words.
fn is_boundary(text: &str, at: usize, glued: &[Range<usize>]) -> bool {
    let before = text.get(..at).and_then(|s| s.chars().next_back());
    let after = text.get(at..).and_then(|s| s.chars().next());
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    if !word(before) || !word(after) {
        return true;
    }
    glued.iter().any(|r| r.start <= at && at <= r.end)
}

/// Whether char index `i` lies in one of the Twitch emote ranges.
fn in_emote(i: usize, emotes: &[EmoteRange]) -> bool {
    emotes.iter().any(|e| {
        usize::try_from(e.start).is_ok_and(|s| s <= i)
            && usize::try_from(e.end).is_ok_and(|e| i <= e)
    })
}

/// Counts over the text outside emotes: (letters, capitals, chars, symbols).
pub fn census(text: &str, emotes: &[EmoteRange], third: Option<&dyn EmoteLookup>) -> Census {
    let Some(third) = third else {
        if text.is_ascii() {
            return census_ascii(text.as_bytes(), 0, emotes, Census::default());
        }
        return census_chars(text, 0, emotes, Census::default());
    };
    let mut c = Census::default();
    // Char index of the current word's start.
    let mut idx = 0usize;
    for (wi, word) in text.split(' ').enumerate() {
        if wi > 0 {
            // The space before this word.
            c.chars += 1;
        }
        let ascii = word.is_ascii();
        let n = if ascii {
            word.len()
        } else {
            word.chars().count()
        };
        if !word.is_empty() && third.is_emote(word) {
            if !in_emote(idx, emotes) {
                c.third_party_emotes += 1;
            }
        } else if ascii {
            c = census_ascii(word.as_bytes(), idx, emotes, c);
        } else {
            c = census_chars(word, idx, emotes, c);
        }
        idx += n + 1;
    }
    c
}

/// Adds the characters of `text`, starting at char index `from`, to `c`.
fn census_chars(text: &str, from: usize, emotes: &[EmoteRange], mut c: Census) -> Census {
    for (k, ch) in text.chars().enumerate() {
        if !emotes.is_empty() && in_emote(from + k, emotes) {
            continue;
        }
        c.chars += 1;
        if ch.is_alphabetic() {
            c.letters += 1;
            c.capitals += u32::from(ch.is_uppercase());
        } else if !ch.is_numeric() && !ch.is_whitespace() {
            c.symbols += 1;
        }
    }
    c
}

/// [`census_chars`] for ASCII: one pass over the bytes, where a byte is a character.
fn census_ascii(b: &[u8], from: usize, emotes: &[EmoteRange], mut c: Census) -> Census {
    for (i, &ch) in b.iter().enumerate() {
        if !emotes.is_empty() && in_emote(from + i, emotes) {
            continue;
        }
        c.chars += 1;
        if ch.is_ascii_alphabetic() {
            c.letters += 1;
            c.capitals += u32::from(ch.is_ascii_uppercase());
        } else if !ch.is_ascii_digit() && !ch.is_ascii_whitespace() {
            c.symbols += 1;
        }
    }
    c
}

/// Character counts for the caps and symbols filters.
#[derive(Debug, Default, Clone, Copy)]
pub struct Census {
    /// Letters, emotes left out.
    pub letters: u32,
    /// Capital letters among them.
    pub capitals: u32,
    /// Characters that are not spaces, emotes left out.
    pub chars: u32,
    /// Symbols among them (neither letters nor digits).
    pub symbols: u32,
    /// Third-party emotes seen (outside Twitch's emote ranges).
    pub third_party_emotes: u32,
}

/// Caps: too many capitals among at least `min_length` letters.
pub fn caps(c: &Census, max_percent: u8, min_length: u32) -> Option<Hit> {
    if c.letters < min_length.max(1) {
        return None;
    }
    let pct = u64::from(c.capitals) * 100 / u64::from(c.letters);
    (pct > u64::from(max_percent)).then(|| Hit {
        rule: format!("caps over {max_percent}%"),
        why: format!("{pct}% of {} letters are capitals", c.letters),
    })
}

/// Symbols: too many symbols among at least `min_length` characters.
pub fn symbols(c: &Census, max_percent: u8, min_length: u32) -> Option<Hit> {
    if c.chars < min_length.max(1) {
        return None;
    }
    let pct = u64::from(c.symbols) * 100 / u64::from(c.chars);
    (pct > u64::from(max_percent)).then(|| Hit {
        rule: format!("symbols over {max_percent}%"),
        why: format!("{pct}% of {} characters are symbols", c.chars),
    })
}

/// Length in characters over `max`.
pub fn length(text: &str, max: u32) -> Option<Hit> {
    // A byte count is an upper bound on the character count; most messages stop here.
    if text.len() <= usize::try_from(max).unwrap_or(usize::MAX) {
        return None;
    }
    let n = text.chars().count();
    (n > usize::try_from(max).unwrap_or(usize::MAX)).then(|| Hit {
        rule: format!("longer than {max} characters"),
        why: format!("the message has {n} characters"),
    })
}

/// One character repeated more than `max` times in a row.
pub fn char_run(text: &str, max: u32) -> Option<Hit> {
    if text.len() <= usize::try_from(max).unwrap_or(usize::MAX) {
        return None;
    }
    if text.is_ascii() {
        let mut prev = 0u8;
        let mut run = 0u32;
        let mut found = None;
        for &c in text.as_bytes() {
            run = if c == prev { run + 1 } else { 1 };
            prev = c;
            if run > max && c != b' ' {
                found = Some(char::from(c));
                break;
            }
        }
        return found.map(|c| run_hit(c, max));
    }
    let mut prev = None;
    let mut run = 0u32;
    for c in text.chars() {
        if Some(c) == prev {
            run += 1;
        } else {
            prev = Some(c);
            run = 1;
        }
        if run > max && !c.is_whitespace() {
            return Some(run_hit(c, max));
        }
    }
    None
}

fn run_hit(c: char, max: u32) -> Hit {
    Hit {
        rule: format!("character repeated over {max} times"),
        why: format!("\"{c}\" is repeated more than {max} times in a row"),
    }
}

/// Twitch emotes plus the third-party ones the census found.
pub fn emote_count(emotes: &[EmoteRange], c: &Census) -> u32 {
    u32::try_from(emotes.len())
        .unwrap_or(u32::MAX)
        .saturating_add(c.third_party_emotes)
}

/// Emotes over `max`.
pub fn emotes(count: u32, max: u32) -> Option<Hit> {
    (count > max).then(|| Hit {
        rule: format!("more than {max} emotes"),
        why: format!("the message has {count} emotes"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_word_bounded_but_substrings_are_not() {
        let b = Banned::new(&BannedFilter {
            terms: vec!["ass".into()],
            substrings: vec!["badword".into()],
            ..BannedFilter::default()
        })
        .unwrap();
        assert!(b.check("you ASS", &[]).is_some());
        assert!(b.check("first class", &[]).is_none());
        assert!(b.check("xxbadwordxx", &[]).is_some());
    }
}
