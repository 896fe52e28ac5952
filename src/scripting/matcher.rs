//! Response matching in one pass: every EXACT phrase in a hash map, every CONTAINS phrase in one
//! Aho-Corasick automaton and every REGEX in one `RegexSet`, all built at load or reload. A chat
//! line that matches nothing costs no script call.
//!
//! EXACT and CONTAINS compare normalised text: lower case, `@mentions` removed, runs of spaces
//! collapsed; CONTAINS phrases must sit on word boundaries ("hi" does not fire on "this").
//! REGEX sees the message as written (use `(?i)` for case-insensitivity).

use std::cell::RefCell;
use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::RegexSet;

/// Why the matcher could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MatcherError {
    /// The EXACT/CONTAINS phrases do not build into one automaton.
    #[error("response phrases: {0}")]
    Phrases(#[from] aho_corasick::BuildError),
    /// A REGEX does not compile (or they are too large together).
    #[error("response regexes: {0}")]
    Regex(#[from] regex::Error),
}

/// The phrases of one response script, by the script's index in the caller's list.
#[derive(Debug, Clone, Default)]
pub struct Triggers<'a> {
    /// Whole messages (`EXACT`).
    pub exact: &'a [String],
    /// Phrases anywhere (`CONTAINS`).
    pub contains: &'a [String],
    /// Regular expressions (`REGEX`).
    pub regex: &'a [String],
}

/// A message matched a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The index of the response script.
    pub script: usize,
    /// The phrase as written in the script, or the text the regex matched.
    pub matched: String,
    /// Regex capture groups (empty for phrases).
    pub captures: Vec<String>,
}

/// All response triggers, ready to match.
#[derive(Debug, Default)]
pub struct ResponseMatcher {
    exact: HashMap<String, (usize, String)>,
    /// Lengths of the EXACT phrases: most messages skip hashing on length alone.
    exact_lens: std::collections::HashSet<usize>,
    contains: Option<AhoCorasick>,
    /// Per automaton pattern: the script index and the phrase as written.
    contains_of: Vec<(usize, String)>,
    regex: Option<RegexSet>,
    regex_each: Vec<(usize, regex::Regex)>,
}

impl ResponseMatcher {
    /// Builds the matcher; earlier scripts win when several match.
    ///
    /// # Errors
    /// A regex that does not compile, or an automaton too large to build.
    pub fn build<'a>(
        scripts: impl IntoIterator<Item = (usize, Triggers<'a>)>,
    ) -> Result<ResponseMatcher, MatcherError> {
        let mut m = ResponseMatcher::default();
        let mut phrases = Vec::new();
        let mut regexes = Vec::new();
        for (idx, t) in scripts {
            for p in t.exact {
                let norm = normalize_owned(p);
                m.exact_lens.insert(norm.len());
                m.exact.entry(norm).or_insert((idx, p.clone()));
            }
            for p in t.contains {
                let norm = normalize_owned(p);
                if !norm.is_empty() {
                    phrases.push(norm);
                    m.contains_of.push((idx, p.clone()));
                }
            }
            for r in t.regex {
                regexes.push(r.clone());
                m.regex_each.push((idx, regex::Regex::new(r)?));
            }
        }
        if !phrases.is_empty() {
            m.contains = Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .ascii_case_insensitive(true)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(&phrases)?,
            );
        }
        if !regexes.is_empty() {
            m.regex = Some(RegexSet::new(&regexes)?);
        }
        Ok(m)
    }

    /// Whether any trigger exists at all.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.contains.is_none() && self.regex.is_none()
    }

    /// The first response `text` triggers: EXACT, then CONTAINS, then REGEX.
    pub fn find(&self, text: &str) -> Option<Hit> {
        if self.is_empty() {
            return None;
        }
        let found = NORM.with(|buf| {
            let mut buf = buf.borrow_mut();
            // Most chat is already normal but for its case; the automaton ignores ASCII case,
            // so only EXACT phrases of the same length need the lower-cased copy.
            let as_written = is_normal_but_case(text);
            if !as_written {
                normalize_into(text, &mut buf);
            }
            let len = if as_written { text.len() } else { buf.len() };
            let exact = if self.exact_lens.contains(&len) {
                if as_written {
                    normalize_into(text, &mut buf);
                }
                self.exact.get(buf.as_str())
            } else {
                None
            };
            if let Some((idx, phrase)) = exact {
                return Some(Hit {
                    script: *idx,
                    matched: phrase.clone(),
                    captures: Vec::new(),
                });
            }
            let ac = self.contains.as_ref()?;
            let hay = if as_written {
                text.as_bytes()
            } else {
                buf.as_bytes()
            };
            let mut best: Option<usize> = None;
            for mat in ac.find_overlapping_iter(hay) {
                if word_edge(hay, mat.start()) && word_edge_after(hay, mat.end()) {
                    let p = mat.pattern().as_usize();
                    // The earliest script wins, whatever order the matches come in.
                    let better = best.is_none_or(|b| {
                        self.contains_of.get(p).map(|x| x.0) < self.contains_of.get(b).map(|x| x.0)
                    });
                    if better {
                        best = Some(p);
                    }
                }
            }
            let (idx, phrase) = self.contains_of.get(best?)?;
            Some(Hit {
                script: *idx,
                matched: phrase.clone(),
                captures: Vec::new(),
            })
        });
        if found.is_some() {
            return found;
        }
        let set = self.regex.as_ref()?;
        // `is_match` stops at the first match; `matches` (all of them) only when one exists.
        if !set.is_match(text) {
            return None;
        }
        let first = set.matches(text).into_iter().next()?;
        let (idx, re) = self.regex_each.get(first)?;
        let caps = re.captures(text)?;
        Some(Hit {
            script: *idx,
            matched: caps
                .get(0)
                .map_or_else(String::new, |m| m.as_str().to_owned()),
            captures: caps
                .iter()
                .skip(1)
                .map(|c| c.map_or_else(String::new, |m| m.as_str().to_owned()))
                .collect(),
        })
    }
}

thread_local! {
    static NORM: RefCell<String> = const { RefCell::new(String::new()) };
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

fn word_edge(hay: &[u8], start: usize) -> bool {
    start == 0
        || hay.get(start - 1).is_none_or(|b| !is_word_byte(*b))
        || hay.get(start).is_none_or(|b| !is_word_byte(*b))
}

fn word_edge_after(hay: &[u8], end: usize) -> bool {
    end >= hay.len()
        || hay.get(end).is_none_or(|b| !is_word_byte(*b))
        || end == 0
        || hay.get(end - 1).is_none_or(|b| !is_word_byte(*b))
}

/// Whether [`normalize_into`] would only lower-case `text`: ASCII, no mention, single spaces
/// between words and none at the ends.
fn is_normal_but_case(text: &str) -> bool {
    let b = text.as_bytes();
    if b.first() == Some(&b' ') || b.last() == Some(&b' ') {
        return false;
    }
    let mut prev_space = false;
    for &c in b {
        match c {
            b' ' if prev_space => return false,
            b' ' => prev_space = true,
            b'@' | 0x80.. => return false,
            c if c.is_ascii_whitespace() || c == 0x0b => return false,
            _ => prev_space = false,
        }
    }
    true
}

/// Lower case, `@mentions` dropped, words joined by single spaces.
pub fn normalize_into(text: &str, out: &mut String) {
    out.clear();
    for word in text.split_whitespace() {
        if word.starts_with('@') {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        if word.is_ascii() {
            let start = out.len();
            out.push_str(word);
            // Only the bytes just pushed: all ASCII, so lower-casing keeps the string valid.
            if let Some(tail) = out.get_mut(start..) {
                tail.make_ascii_lowercase();
            }
        } else {
            out.extend(word.chars().flat_map(char::to_lowercase));
        }
    }
}

/// [`normalize_into`] into a new string.
pub fn normalize_owned(text: &str) -> String {
    let mut s = String::new();
    normalize_into(text, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn phrases_match_on_words_ignoring_case_and_mentions() {
        let exact = v(&["good night"]);
        let contains = v(&["hello there", "hi"]);
        let regex = v(&[r"(?i)^!?discord(\s|$)"]);
        let m = ResponseMatcher::build([
            (
                0,
                Triggers {
                    exact: &exact,
                    ..Triggers::default()
                },
            ),
            (
                1,
                Triggers {
                    contains: &contains,
                    ..Triggers::default()
                },
            ),
            (
                2,
                Triggers {
                    regex: &regex,
                    ..Triggers::default()
                },
            ),
        ])
        .unwrap();
        assert_eq!(m.find("@bot  Good   NIGHT").map(|h| h.script), Some(0));
        assert_eq!(m.find("good night everyone").map(|h| h.script), None);
        assert_eq!(
            m.find("well HELLO @someone there!").map(|h| h.script),
            Some(1)
        );
        assert_eq!(m.find("this is it").map(|h| h.script), None);
        assert_eq!(m.find("hi!").map(|h| h.script), Some(1));
        assert_eq!(m.find("Discord link?").map(|h| h.script), Some(2));
        assert_eq!(m.find("nothing here"), None);
        // Already normal text is searched as written: case still does not matter.
        assert_eq!(m.find("Good Night").map(|h| h.script), Some(0));
        assert_eq!(m.find("oh HELLO THERE chat").map(|h| h.script), Some(1));
        assert_eq!(m.find("HIGH five").map(|h| h.script), None);
    }

    #[test]
    fn text_searched_as_written_is_what_normalising_gives_but_for_case() {
        for s in [
            "hello chat",
            "GG WP",
            "a",
            "",
            " lead",
            "trail ",
            "two  spaces",
            "tab\there",
            "vt\u{b}here",
            "@mention hi",
            "caf\u{e9}",
            "line\nbreak",
        ] {
            if is_normal_but_case(s) {
                assert_eq!(normalize_owned(s), s.to_ascii_lowercase(), "{s:?}");
            }
        }
        for s in ["hello chat", "GG WP", "a", ""] {
            assert!(is_normal_but_case(s), "{s:?}");
        }
    }
}
