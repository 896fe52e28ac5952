//! One IRC line with IRCv3 tags, parsed by slicing the input: no allocation per line or tag.

use std::borrow::Cow;

/// A line that is not IRC at all (empty, or a prefix or tags with nothing after them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed IRC line ({reason}): {raw:?}")]
pub struct ParseError {
    /// The offending line, kept for the log.
    pub raw: String,
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

    /// The value with IRCv3 escapes resolved (`\s` space, `\:` `;`, `\\`, `\r`, `\n`);
    /// borrows when there is nothing to unescape.
    pub fn unescaped(self) -> Cow<'a, str> {
        if !self.0.contains('\\') {
            return Cow::Borrowed(self.0);
        }
        let mut out = String::with_capacity(self.0.len());
        let mut chars = self.0.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('s') => out.push(' '),
                Some(':') => out.push(';'),
                Some('\\') => out.push('\\'),
                Some('r') => out.push('\r'),
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        }
        Cow::Owned(out)
    }
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
            let (t, r) = after
                .split_once(' ')
                .ok_or_else(|| err("tags without a command"))?;
            tags = t;
            rest = r.trim_start_matches(' ');
        }
        let mut prefix = None;
        if let Some(after) = rest.strip_prefix(':') {
            let (p, r) = after
                .split_once(' ')
                .ok_or_else(|| err("prefix without a command"))?;
            prefix = Some(p);
            rest = r.trim_start_matches(' ');
        }
        let (command, params) = match rest.split_once(' ') {
            Some((c, p)) => (c, p.trim_start_matches(' ')),
            None => (rest, ""),
        };
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
        self.prefix.map(|p| p.split_once('!').map_or(p, |(n, _)| n))
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
            match rest.split_once(' ') {
                Some((p, r)) => {
                    rest = r;
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
    pub fn tags(&self) -> impl Iterator<Item = (&'a str, TagValue<'a>)> + 'a {
        self.tags
            .split(';')
            .filter(|t| !t.is_empty())
            .map(|t| match t.split_once('=') {
                Some((k, v)) => (k, TagValue(v)),
                None => (t, TagValue("")),
            })
    }

    /// One tag's value.
    pub fn tag(&self, key: &str) -> Option<TagValue<'a>> {
        self.tags().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}
