//! One IRC line with IRCv3 tags, parsed by slicing the input: no allocation per line or tag.
//!
//! Every split point is an ASCII byte (space, `;`, `=`, `!`, `:`), and an ASCII byte is never
//! part of a multi-byte UTF-8 sequence, so every slice taken here falls on a char boundary: the
//! parser cannot panic, whatever the input.

use std::borrow::Cow;

use memchr::memchr;

/// A line that is not IRC at all (empty, or a prefix or tags with nothing after them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed IRC line ({reason}): {raw:?}")]
pub struct ParseError {
    /// The offending line, kept for the log.
    pub raw: String,
    /// What is missing, in a few words.
    pub reason: &'static str,
}

/// A parsed line borrowing from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IrcLine<'a> {
    raw: &'a str,
    tags: &'a str,
    prefix: Option<&'a str>,
    command: &'a str,
    params: &'a str,
}

/// A tag value as sent (still escaped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagValue<'a>(&'a str);

impl<'a> TagValue<'a> {
    /// The value exactly as on the wire.
    pub fn raw(self) -> &'a str {
        self.0
    }

    /// The value with IRCv3 escapes resolved (`\s` space, `\:` `;`, `\\`, `\r`, `\n`; a
    /// backslash before anything else is dropped, a lone trailing one too); borrows when there
    /// is nothing to unescape.
    pub fn unescaped(self) -> Cow<'a, str> {
        if memchr(b'\\', self.0.as_bytes()).is_none() {
            return Cow::Borrowed(self.0);
        }
        let mut out = String::with_capacity(self.0.len());
        unescape_with(self.0, |piece| out.push_str(piece));
        Cow::Owned(out)
    }
}

/// Resolves IRCv3 tag escapes in `raw`, handing the pieces of the result to `push` in order.
///
/// Generic over the sink so callers can build a `String` or a `CompactString` without an
/// intermediate copy.
pub(crate) fn unescape_with(raw: &str, mut push: impl FnMut(&str)) {
    let bytes = raw.as_bytes();
    let mut start = 0;
    while let Some(off) = memchr(b'\\', bytes.get(start..).unwrap_or_default()) {
        let at = start + off;
        // `at` is the position of an ASCII backslash, hence a char boundary.
        push(raw.get(start..at).unwrap_or_default());
        start = match bytes.get(at + 1) {
            Some(b's') => {
                push(" ");
                at + 2
            }
            Some(b':') => {
                push(";");
                at + 2
            }
            Some(b'\\') => {
                push("\\");
                at + 2
            }
            Some(b'r') => {
                push("\r");
                at + 2
            }
            Some(b'n') => {
                push("\n");
                at + 2
            }
            // Unknown escape: the backslash goes, the character stays (it starts right after
            // an ASCII byte, so `at + 1` is a char boundary even for a multi-byte character).
            Some(_) => at + 1,
            // A lone backslash at the very end is dropped.
            None => bytes.len(),
        };
    }
    push(raw.get(start..).unwrap_or_default());
}

/// Splits at the first space, skipping any further spaces before the rest.
fn split_word(s: &str) -> Option<(&str, &str)> {
    let at = memchr(b' ', s.as_bytes())?;
    let word = s.get(..at)?;
    let rest = s.get(at + 1..)?.trim_start_matches(' ');
    Some((word, rest))
}

impl<'a> IrcLine<'a> {
    /// Parses one line (trailing `\r\n` allowed).
    ///
    /// # Errors
    /// [`ParseError`] when no command can be found.
    pub fn parse(raw: &'a str) -> Result<IrcLine<'a>, ParseError> {
        let err = |reason| ParseError {
            raw: raw.to_string(),
            reason,
        };
        let line = raw.trim_end_matches(['\r', '\n']);
        let mut rest = line;
        let mut tags = "";
        if let Some(after) = rest.strip_prefix('@') {
            let (t, r) = split_word(after).ok_or_else(|| err("tags without a command"))?;
            tags = t;
            rest = r;
        }
        let mut prefix = None;
        if let Some(after) = rest.strip_prefix(':') {
            let (p, r) = split_word(after).ok_or_else(|| err("prefix without a command"))?;
            prefix = Some(p);
            rest = r;
        }
        let (command, params) = split_word(rest).unwrap_or((rest, ""));
        if command.is_empty() {
            return Err(err("no command"));
        }
        Ok(IrcLine {
            raw: line,
            tags,
            prefix,
            command,
            params,
        })
    }

    /// The whole line without its line ending.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The command or numeric (`PRIVMSG`, `001`, ...).
    pub fn command(&self) -> &'a str {
        self.command
    }

    /// The prefix without its `:` (`nick!user@host` or `tmi.twitch.tv`).
    pub fn prefix(&self) -> Option<&'a str> {
        self.prefix
    }

    /// The nick part of the prefix.
    pub fn nick(&self) -> Option<&'a str> {
        let p = self.prefix?;
        match memchr(b'!', p.as_bytes()) {
            Some(at) => p.get(..at),
            None => Some(p),
        }
    }

    /// The parameters in order; the trailing one (after ` :`) comes last, spaces kept.
    pub fn params(&self) -> impl Iterator<Item = &'a str> + 'a {
        let mut rest = self.params;
        std::iter::from_fn(move || {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                return None;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                rest = "";
                return Some(trailing);
            }
            match memchr(b' ', rest.as_bytes()) {
                Some(at) => {
                    let p = rest.get(..at).unwrap_or_default();
                    rest = rest.get(at + 1..).unwrap_or_default();
                    Some(p)
                }
                None => Some(std::mem::take(&mut rest)),
            }
        })
    }

    /// The `i`-th parameter.
    pub fn param(&self, i: usize) -> Option<&'a str> {
        self.params().nth(i)
    }

    /// The trailing parameter (after ` :`), or the last one.
    pub fn trailing(&self) -> Option<&'a str> {
        self.params().last()
    }

    /// All tags in order, values still escaped.
    pub fn tags(&self) -> Tags<'a> {
        Tags {
            block: self.tags,
            pos: 0,
        }
    }

    /// One tag's value.
    pub fn tag(&self, key: &str) -> Option<TagValue<'a>> {
        self.tags().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// Iterator over a line's tags: `(key, value)` pairs in wire order, empty entries skipped.
///
/// Tags are short and a PRIVMSG has twenty-odd of them, so the separators are found eight bytes
/// at a time (`find_sep`) rather than by a search call per tag. `=` and `;` are ASCII, so
/// every cut is on a char boundary.
#[derive(Debug, Clone)]
pub struct Tags<'a> {
    block: &'a str,
    /// Where the next entry starts.
    pos: usize,
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `word` equal to `byte`. Bits above the first match may be
/// false positives (borrows), but the lowest set bit is always exact, which is all we use.
#[inline(always)]
fn byte_mask(word: u64, byte: u8) -> u64 {
    let x = word ^ (LOW_BITS * u64::from(byte));
    x.wrapping_sub(LOW_BITS) & !x & HIGH_BITS
}

/// The first index at or after `from` holding `a` (or `b` when `both`), if any.
#[inline(always)]
fn find_sep(bytes: &[u8], from: usize, a: u8, b: u8) -> Option<usize> {
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let word = u64::from_le_bytes(w);
        let mask = byte_mask(word, a) | byte_mask(word, b);
        if mask != 0 {
            return Some(i + (mask.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let tail = bytes.get(i..).unwrap_or_default();
    tail.iter().position(|&c| c == a || c == b).map(|p| i + p)
}

impl<'a> Iterator for Tags<'a> {
    type Item = (&'a str, TagValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.block.as_bytes();
        loop {
            let start = self.pos;
            if start >= bytes.len() {
                return None;
            }
            let sep = find_sep(bytes, start, b'=', b';');
            let (key_end, value) = match sep {
                Some(eq) if bytes.get(eq) == Some(&b'=') => {
                    // The value runs to the next `;`; an `=` inside it is part of it.
                    let end = find_sep(bytes, eq + 1, b';', b';').unwrap_or(bytes.len());
                    self.pos = end + 1;
                    (eq, self.block.get(eq + 1..end).unwrap_or_default())
                }
                // A `;` first: a key without a value (or an empty entry).
                Some(semi) => {
                    self.pos = semi + 1;
                    (semi, "")
                }
                None => {
                    self.pos = bytes.len();
                    (bytes.len(), "")
                }
            };
            if key_end == start && value.is_empty() {
                continue;
            }
            return Some((
                self.block.get(start..key_end).unwrap_or_default(),
                TagValue(value),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The inverse of unescaping, as a server would send a value.
    fn escape(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                ';' => out.push_str("\\:"),
                ' ' => out.push_str("\\s"),
                '\\' => out.push_str("\\\\"),
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn privmsg_splits_into_tags_prefix_command_and_params() {
        let line = IrcLine::parse(
            "@badge-info=;badges=broadcaster/1;color=#0000FF;display-name=abc;mod=0 \
             :abc!abc@abc.tmi.twitch.tv PRIVMSG #xyz :HeyGuys  and more\r\n",
        )
        .unwrap();
        assert_eq!(line.command(), "PRIVMSG");
        assert_eq!(line.prefix(), Some("abc!abc@abc.tmi.twitch.tv"));
        assert_eq!(line.nick(), Some("abc"));
        assert_eq!(
            line.params().collect::<Vec<_>>(),
            vec!["#xyz", "HeyGuys  and more"]
        );
        assert_eq!(line.param(0), Some("#xyz"));
        assert_eq!(line.trailing(), Some("HeyGuys  and more"));
        assert_eq!(line.tag("badges").map(TagValue::raw), Some("broadcaster/1"));
        assert_eq!(line.tag("badge-info").map(TagValue::raw), Some(""));
        assert_eq!(line.tag("missing"), None);
        assert_eq!(line.tags().count(), 5);
        assert!(!line.raw().ends_with('\n'));
    }

    #[test]
    fn lines_without_tags_or_prefix_parse() {
        let ping = IrcLine::parse("PING :tmi.twitch.tv").unwrap();
        assert_eq!(ping.command(), "PING");
        assert_eq!(ping.prefix(), None);
        assert_eq!(ping.trailing(), Some("tmi.twitch.tv"));
        let reconnect = IrcLine::parse(":tmi.twitch.tv RECONNECT").unwrap();
        assert_eq!(reconnect.command(), "RECONNECT");
        assert_eq!(reconnect.nick(), Some("tmi.twitch.tv"));
        assert_eq!(reconnect.params().count(), 0);
        let join = IrcLine::parse(":ronni!ronni@ronni.tmi.twitch.tv JOIN #dallas").unwrap();
        assert_eq!(join.param(0), Some("#dallas"));
        assert_eq!(join.trailing(), Some("#dallas"));
    }

    #[test]
    fn tags_without_values_and_empty_entries_are_tolerated() {
        let line = IrcLine::parse("@a;;b=;c=1; :tmi.twitch.tv X").unwrap();
        let tags: Vec<_> = line.tags().map(|(k, v)| (k, v.raw())).collect();
        assert_eq!(tags, vec![("a", ""), ("b", ""), ("c", "1")]);
        let line = IrcLine::parse("@k=a=b;x;=v;last=1=2 CMD").unwrap();
        let tags: Vec<_> = line.tags().map(|(k, v)| (k, v.raw())).collect();
        assert_eq!(
            tags,
            vec![("k", "a=b"), ("x", ""), ("", "v"), ("last", "1=2")]
        );
    }

    #[test]
    fn malformed_lines_are_errors_that_keep_the_raw_line() {
        for (raw, reason) in [
            ("", "no command"),
            ("\r\n", "no command"),
            ("@", "tags without a command"),
            ("@a=b", "tags without a command"),
            (":", "prefix without a command"),
            (":tmi.twitch.tv", "prefix without a command"),
            ("@a=b :tmi.twitch.tv", "prefix without a command"),
            ("@a=b  ", "no command"),
            ("   ", "no command"),
        ] {
            let err = IrcLine::parse(raw).unwrap_err();
            assert_eq!(err.reason, reason, "{raw:?}");
            assert_eq!(err.raw, raw);
        }
    }

    #[test]
    fn escapes_are_resolved() {
        let v = TagValue("hello\\sworld\\:\\\\x\\r\\n");
        assert_eq!(v.unescaped(), "hello world;\\x\r\n");
        // Unknown escapes drop the backslash, a lone trailing backslash goes too.
        assert_eq!(TagValue("a\\bc\\").unescaped(), "abc");
        assert_eq!(TagValue("\\é").unescaped(), "é");
        assert!(matches!(
            TagValue("plain").unescaped(),
            Cow::Borrowed("plain")
        ));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            if let Ok(line) = IrcLine::parse(&s) {
                let _ = line.params().count();
                let _ = line.trailing();
                let _ = line.nick();
                for (_, v) in line.tags() {
                    let _ = v.unescaped();
                }
            }
        }

        #[test]
        fn parse_never_panics_on_irc_shaped_noise(s in "[@:;= a-z#!\\\\\r\n\u{1}é]{0,64}") {
            if let Ok(line) = IrcLine::parse(&s) {
                let _ = line.params().count();
                for (_, v) in line.tags() {
                    let _ = v.unescaped();
                }
            }
        }

        #[test]
        fn separator_search_agrees_with_a_naive_one(s in "[a-z=;é]{0,40}", from in 0usize..45) {
            let bytes = s.as_bytes();
            let naive = bytes
                .get(from..)
                .and_then(|t| t.iter().position(|&c| c == b'=' || c == b';'))
                .map(|p| p + from);
            prop_assert_eq!(find_sep(bytes, from, b'=', b';'), naive);
        }

        #[test]
        fn tag_walk_agrees_with_a_naive_split(block in "[a-z=;é\\\\]{0,70}") {
            let naive: Vec<(&str, &str)> = block
                .split(';')
                .filter(|e| !e.is_empty())
                .map(|e| e.split_once('=').unwrap_or((e, "")))
                .filter(|(k, v)| !(k.is_empty() && v.is_empty()))
                .collect();
            let fast: Vec<(&str, &str)> = Tags { block: &block, pos: 0 }.map(|(k, v)| (k, v.raw())).collect();
            prop_assert_eq!(fast, naive);
        }

        #[test]
        fn unescape_inverts_escape(s in any::<String>()) {
            let escaped = escape(&s);
            prop_assert_eq!(TagValue(&escaped).unescaped(), s.as_str());
        }

        #[test]
        fn escaped_values_survive_a_round_trip_through_a_line(s in any::<String>()) {
            let raw = format!("@k={};x=1 :tmi.twitch.tv NOTICE * :t", escape(&s));
            let line = IrcLine::parse(&raw).unwrap();
            prop_assert_eq!(line.tag("k").unwrap().unescaped(), s.as_str());
            prop_assert_eq!(line.tag("x").unwrap().raw(), "1");
        }
    }
}
