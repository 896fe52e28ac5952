//! Text normalisation before matching: undoes lookalikes, leetspeak, zalgo, zero-width
//! characters and letter-by-letter spacing, so one banned term catches its disguises.
//!
//! Owns only text transforms; which rules fire is `filters`' job. The cheap [`is_plain`] test
//! lets ordinary messages (ASCII, perhaps with emoji) skip all of this and be matched on their
//! borrowed text.

use std::ops::Range;

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// A message after normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// Lower case, lookalikes and leetspeak undone, spaced-out letters glued, one space between
    /// words. Banned terms and regexes match here. A leet `1` is read as `i`.
    pub text: String,
    /// `text` with a leet `1` read as `l` instead, when the message had one ("1oser").
    pub alt: Option<String>,
    /// Lower case with lookalikes, marks and invisible characters undone but no leetspeak and no
    /// gluing: links are found here, so "12.5" stays a number.
    pub plain: String,
    /// Byte ranges of `text` glued from spaced-out letters ("b a d" → "bad"); every position
    /// inside one counts as a word boundary, since the writer separated those letters.
    pub glued: Vec<Range<usize>>,
}

/// Characters that may separate spaced-out letters ("b.a.d", "b_a_d", "b a d").
fn is_letter_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '.' | '_' | '-' | '*' | ',' | '/' | '|' | '+' | '~' | '·' | '\'' | ':' | ';'
    )
}

/// What a leetspeak character stands for inside a word.
fn leet(c: char) -> Option<char> {
    Some(match c {
        '0' => 'o',
        '1' => 'i',
        '3' => 'e',
        '4' => 'a',
        '5' => 's',
        '7' => 't',
        '@' => 'a',
        '$' => 's',
        _ => return None,
    })
}

/// Characters that belong to a word for leetspeak and gluing.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '@' || c == '$'
}

/// Byte classes for [`is_plain_ascii`]; 0 means "not printable ASCII".
const PRINTABLE: u8 = 1;
const WORD: u8 = 2;
const LETTER: u8 = 4;
const LEET: u8 = 8;
const SEP: u8 = 16;

static CLASS: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut c = 0x20;
    while c < 0x7f {
        let b = c as u8;
        let mut k = PRINTABLE;
        if b.is_ascii_alphanumeric() || b == b'@' || b == b'$' {
            k |= WORD;
        }
        if b.is_ascii_alphabetic() {
            k |= LETTER;
        }
        if matches!(b, b'0' | b'1' | b'3' | b'4' | b'5' | b'7' | b'$') {
            k |= LEET;
        }
        if matches!(
            b,
            b' ' | b'.'
                | b'_'
                | b'-'
                | b'*'
                | b','
                | b'/'
                | b'|'
                | b'+'
                | b'~'
                | b'\''
                | b':'
                | b';'
        ) {
            k |= SEP;
        }
        t[c] = k;
        c += 1;
    }
    t
};

/// The emoji blocks (pictographs, emoticons, transport, supplemental symbols) hold no letters,
/// marks, decompositions or lookalikes of Latin letters, so normalisation leaves them as they
/// are (a unit test checks every one). Left out: ornamental dingbats (U+1F650..) and alchemical
/// symbols (U+1F700..), some of which read as "&", "o" or "t".
fn is_inert_pictograph(c: char) -> bool {
    matches!(c, '\u{1F300}'..='\u{1F64F}' | '\u{1F680}'..='\u{1F6FF}' | '\u{1F780}'..='\u{1FAFF}')
}

/// Whether `text` reads the same before and after normalisation, apart from ASCII case and
/// spaces at either end: then matching may run case-insensitively on the borrowed text and
/// nothing need be allocated.
///
/// True for printable ASCII (and emoji) with single spaces, no leetspeak inside a word
/// ("sh1t", "a$$") and no letters spaced out one by one ("b a d").
pub fn is_plain(text: &str) -> bool {
    if !text.is_ascii() {
        // Emoji are common in chat; anything else outside ASCII needs the full treatment.
        // An emoji is neither a letter nor a separator, so spelling checks see it as a break.
        if !text.chars().all(|c| c.is_ascii() || is_inert_pictograph(c)) {
            return false;
        }
        return text
            .split(is_inert_pictograph)
            .all(|part| is_plain_ascii_bytes(part.as_bytes()));
    }
    is_plain_ascii_bytes(text.as_bytes())
}

/// [`is_plain`] for ASCII text.
fn is_plain_ascii_bytes(b: &[u8]) -> bool {
    let mut prev_space = false;
    // The current word run: its length, whether it has a letter, whether it has a leet char.
    let mut run_len = 0usize;
    let mut run_letter = false;
    let mut run_leet = false;
    // Length of the previous word run and how many separator bytes followed it.
    let mut last_run_len = 0usize;
    let mut last_run_letter = false;
    let mut seps_since_run = 0usize;
    for &c in b {
        let class = CLASS.get(usize::from(c)).copied().unwrap_or(0);
        if class == 0 {
            return false;
        }
        if c == b' ' {
            if prev_space {
                return false;
            }
            prev_space = true;
        } else {
            prev_space = false;
        }
        if class & WORD != 0 {
            run_len += 1;
            run_letter |= class & LETTER != 0;
            // A leading '@' is a mention, not leet.
            run_leet |= class & LEET != 0 || (c == b'@' && run_len > 1);
        } else {
            if run_len > 0 {
                if run_letter && run_leet {
                    return false;
                }
                if spaced_letters(
                    run_len,
                    run_letter,
                    last_run_len,
                    last_run_letter,
                    seps_since_run,
                ) {
                    return false;
                }
                last_run_len = run_len;
                last_run_letter = run_letter;
                seps_since_run = 0;
                run_len = 0;
                run_letter = false;
                run_leet = false;
            }
            // Only listed separators glue letters; others make the count too high to glue.
            seps_since_run += if class & SEP != 0 { 1 } else { 2 };
        }
    }
    if run_len > 0 {
        if run_letter && run_leet {
            return false;
        }
        if spaced_letters(
            run_len,
            run_letter,
            last_run_len,
            last_run_letter,
            seps_since_run,
        ) {
            return false;
        }
    }
    true
}

/// Two one-character words, one a letter, with one separator between: "b a", "s.h", "h 1".
/// Digits alone ("1.2.3") are numbers, not spelling.
fn spaced_letters(
    len: usize,
    letter: bool,
    last_len: usize,
    last_letter: bool,
    seps: usize,
) -> bool {
    len == 1 && last_len == 1 && seps == 1 && (letter || last_letter)
}

/// Pushes `c`'s lower-case, lookalike-free form onto `out`: ASCII as is, anything else through
/// the Unicode confusable skeleton (UTS #39) when that lands on ASCII, else lower-cased.
fn push_unconfused(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    if is_combining_mark(c) {
        return;
    }
    if c.is_whitespace() {
        out.push(' ');
        return;
    }
    let mut buf = [0u8; 4];
    // Try the character as written, then its lower case: Greek capitals have Latin prototypes
    // ("Α" → "A") while some small letters only resemble Latin ones in lower case.
    let candidates = std::iter::once(c).chain(c.to_lowercase());
    let mut any = false;
    for cand in candidates {
        let s = cand.encode_utf8(&mut buf);
        // Prototypes are a few characters at most; collect them on the stack.
        let mut proto = ['\0'; 8];
        let mut n = 0;
        let mut fits = true;
        for p in unicode_security::skeleton(s).filter(|p| !is_combining_mark(*p)) {
            match proto.get_mut(n) {
                Some(slot) => *slot = p,
                None => fits = false,
            }
            n += 1;
        }
        // An empty skeleton is a default-ignorable character (zero-width space, joiners).
        if n == 0 {
            return;
        }
        let proto = proto.get(..n).unwrap_or_default();
        if fits && proto.iter().all(char::is_ascii) {
            for p in proto {
                out.push(p.to_ascii_lowercase());
            }
            return;
        }
        any = true;
    }
    if any {
        for l in c.to_lowercase() {
            out.push(l);
        }
    }
}

/// Normalises `text` (see [`Normalized`]).
pub fn normalize(text: &str) -> Normalized {
    // 1. Compatibility decomposition (fullwidth and mathematical letters become plain ones,
    //    accents split off), marks and invisible characters dropped, lookalikes undone.
    // Decomposing one character at a time gives what decomposing the whole text gives, except
    // for the order of combining marks, which are all dropped (a unit test checks that every
    // character with a combining class is a mark).
    let mut plain = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            plain.push(c.to_ascii_lowercase());
        } else {
            decompose_compatible(c, |d| push_unconfused(d, &mut plain));
        }
    }
    // One space between words, none at the ends.
    let plain = if has_extra_space(&plain) {
        collapse_spaces(&plain)
    } else {
        plain
    };

    let (text, glued, had_one) = leet_and_glue(&plain, 'i');
    let alt = had_one.then(|| leet_and_glue(&plain, 'l').0);
    Normalized {
        text,
        alt,
        plain,
        glued,
    }
}

/// Undoes leetspeak inside words that have a letter (a leet `1` read as `one_as`) and glues
/// chains of single characters separated by one separator character. Returns the text, the
/// glued ranges and whether a leet `1` was seen.
fn leet_and_glue(plain: &str, one_as: char) -> (String, Vec<Range<usize>>, bool) {
    // Word runs and the separators between them.
    let mut pieces: Vec<(bool, &str)> = Vec::new();
    let mut start = 0;
    let mut in_word: Option<bool> = None;
    for (i, c) in plain.char_indices() {
        let w = is_word_char(c);
        if in_word.is_some_and(|prev| prev != w) {
            pieces.push((!w, &plain[start..i]));
            start = i;
        }
        in_word = Some(w);
    }
    if let Some(w) = in_word {
        pieces.push((w, &plain[start..]));
    }

    let mut out = String::with_capacity(plain.len());
    let mut glued = Vec::new();
    let mut had_one = false;
    let mut i = 0;
    while let Some(&(is_word, piece)) = pieces.get(i) {
        if !is_word {
            out.push_str(piece);
            i += 1;
            continue;
        }
        // How far does a chain of single characters reach?
        let mut j = i;
        while single_char(pieces.get(j))
            && pieces
                .get(j + 1)
                .is_some_and(|(w, s)| !*w && is_single_separator(s))
            && single_char(pieces.get(j + 2))
        {
            j += 2;
        }
        let chain_has_letter = (i..=j).step_by(2).any(|k| {
            pieces
                .get(k)
                .is_some_and(|(_, s)| s.chars().any(char::is_alphabetic))
        });
        if j > i && chain_has_letter {
            let from = out.len();
            for k in (i..=j).step_by(2) {
                if let Some((_, s)) = pieces.get(k) {
                    had_one |= push_word(s, true, one_as, &mut out);
                }
            }
            glued.push(from..out.len());
            i = j + 1;
        } else {
            had_one |= push_word(piece, false, one_as, &mut out);
            i += 1;
        }
    }
    (out, glued, had_one)
}

fn single_char(p: Option<&(bool, &str)>) -> bool {
    p.is_some_and(|(w, s)| *w && s.chars().nth(1).is_none())
}

fn is_single_separator(s: &str) -> bool {
    let mut cs = s.chars();
    matches!((cs.next(), cs.next()), (Some(c), None) if is_letter_separator(c))
}

/// Pushes one word with leetspeak undone if it has a letter, or if it is one character of a
/// glued chain ("4 s s"); returns whether a `1` was read as a letter.
fn push_word(word: &str, in_chain: bool, one_as: char, out: &mut String) -> bool {
    let has_letter = in_chain || word.chars().any(char::is_alphabetic);
    let mut one = false;
    for (k, c) in word.chars().enumerate() {
        // A leading '@' is a mention, not an "a".
        let mapped = if has_letter && !(c == '@' && k == 0 && !in_chain) {
            leet(c)
        } else {
            None
        };
        match mapped {
            Some(_) if c == '1' => {
                one = true;
                out.push(one_as);
            }
            Some(m) => out.push(m),
            None => out.push(c),
        }
    }
    one
}

/// Whether `s` has whitespace other than single spaces between words.
fn has_extra_space(s: &str) -> bool {
    let b = s.as_bytes();
    b.first() == Some(&b' ')
        || b.last() == Some(&b' ')
        || b.windows(2).any(|w| w == b"  ")
        || s.chars().any(|c| c.is_whitespace() && c != ' ')
}

fn collapse_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undoes_disguises_and_keeps_numbers_and_mentions() {
        let t = |s: &str| normalize(s).text;
        assert_eq!(t("b.a.d"), "bad");
        assert_eq!(t("  Many   SPACES "), "many spaces");
        assert_eq!(t("version 1.2.3 at 3.30"), "version 1.2.3 at 3.30");
        assert_eq!(t("@user hi"), "@user hi");
        assert_eq!(t("caf\u{e9}"), "cafe");
        assert_eq!(t("\u{1d407}\u{ff45}llo"), "hello");
        assert_eq!(t("sh1t"), "shit");
        assert_eq!(normalize("1oser").alt.as_deref(), Some("loser"));
        assert_eq!(normalize("no ones here").alt, None);
        // Lookalikes are undone for links too, but leetspeak is not.
        assert_eq!(
            normalize("ex\u{430}mple.com 12.5").plain,
            "example.com 12.5"
        );
    }

    #[test]
    fn pictographs_are_untouched_and_every_combining_class_is_a_mark() {
        use unicode_normalization::char::canonical_combining_class;
        for c in ('\u{1F300}'..='\u{1FAFF}').filter(|c| is_inert_pictograph(*c)) {
            let s = c.to_string();
            let mut out = String::new();
            decompose_compatible(c, |d| push_unconfused(d, &mut out));
            assert_eq!(out, s, "U+{:04X}", u32::from(c));
            assert!(!is_word_char(c) && !c.is_whitespace() && !is_letter_separator(c));
            assert_eq!(normalize(&format!("a{s}b")).text, format!("a{s}b"));
        }
        // Decomposing char by char skips the canonical reordering of marks; fine as long as
        // everything that reordering moves is dropped.
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            if canonical_combining_class(c) != 0 {
                assert!(is_combining_mark(c), "U+{:04X}", u32::from(c));
            }
        }
    }

    #[test]
    fn plain_is_only_text_that_needs_no_work() {
        for s in [
            "hello chat",
            "GG",
            "the boss has 12.5% hp",
            "@user hi",
            "version 1.2.3",
            "LUL \u{1F602}\u{1F602} that was \u{1F389} insane",
        ] {
            assert!(is_plain(s), "{s}");
            assert_eq!(normalize(s).text, s.to_ascii_lowercase(), "{s}");
        }
        for s in [
            "sh1t",
            "b a d",
            "b.a.d",
            "two  spaces",
            "tab\there",
            "caf\u{e9}",
            "a$$",
            "b \u{1F602} a d",
            "\u{1F602}  two",
            "sh\u{1F602}1t",
            "thumbs \u{1F44D}\u{FE0F}",
        ] {
            assert!(!is_plain(s), "{s}");
        }
    }
}
