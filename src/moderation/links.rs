//! Finding links in chat text: URLs with a scheme, `www.` hosts, bare domains whose top-level
//! domain is real (checked against the public suffix list), and disguised dots ("example dot
//! com", "example(.)com", "example [.] com").
//!
//! Owns only recognition and the allow-list test; permits and punishment live in the
//! moderator. Works on lower- or mixed-case ASCII text without allocating until it finds a link.

/// A link found in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkHit {
    /// The host, lower case, with disguised dots turned into real ones.
    pub host: String,
    /// How it was written: "url", "bare domain" or "disguised domain".
    pub kind: &'static str,
}

/// Longest host name DNS allows.
const MAX_HOST: usize = 253;

/// A host assembled on the stack while scanning.
struct HostBuf {
    bytes: [u8; MAX_HOST],
    len: usize,
    /// Start of the last label, for the top-level domain test.
    last_label: usize,
}

impl HostBuf {
    fn new() -> HostBuf {
        HostBuf {
            bytes: [0; MAX_HOST],
            len: 0,
            last_label: 0,
        }
    }

    /// Appends lower-cased bytes; false when the host would be too long.
    fn push(&mut self, part: &[u8]) -> bool {
        let Some(dst) = self.bytes.get_mut(self.len..self.len + part.len()) else {
            return false;
        };
        for (d, s) in dst.iter_mut().zip(part) {
            *d = s.to_ascii_lowercase();
        }
        self.len += part.len();
        true
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    fn tld(&self) -> &[u8] {
        self.bytes
            .get(self.last_label..self.len)
            .unwrap_or_default()
    }
}

fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// Whether `host` is `domain` or one of its subdomains.
pub fn is_allowed(host: &str, allow: &[String]) -> bool {
    allow.iter().any(|d| {
        host == d
            || host
                .strip_suffix(d.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    })
}

/// The first link in `text` whose host is not allowed, if any.
pub fn find_link(text: &str, allow: &[String]) -> Option<LinkHit> {
    let b = text.as_bytes();
    // Every link form has a dot, a bracket, a scheme's colon or the word "dot" right after a
    // label: look only around those, then read the host from the start of that label.
    let mut scanned_to = 0;
    for (p, &c) in b.iter().enumerate() {
        let marker = match c {
            b'.' | b':' | b'(' | b'[' | b'{' | b'<' => true,
            b'd' | b'D' => {
                p > 0
                    && b.get(p - 1) == Some(&b' ')
                    && b.get(p..p + 4)
                        .is_some_and(|w| w.eq_ignore_ascii_case(b"dot "))
            }
            _ => false,
        };
        if !marker || p < scanned_to {
            continue;
        }
        // Back over the spaces a disguised dot may have before it, then over the label.
        let mut k = p;
        if c != b':' {
            while k > 0 && b.get(k - 1) == Some(&b' ') {
                k -= 1;
            }
        }
        let label_end = k;
        while k > 0 && b.get(k - 1).copied().is_some_and(is_label_byte) {
            k -= 1;
        }
        if k == label_end || k < scanned_to {
            continue;
        }
        let (end, hit) = scan_host(b, k, allow);
        if hit.is_some() {
            return hit;
        }
        scanned_to = end.max(p + 1);
    }
    None
}

/// Reads a host (labels joined by real or disguised dots) starting at `i`; returns where it
/// stopped and the link, when it is one and not allowed.
fn scan_host(b: &[u8], i: usize, allow: &[String]) -> (usize, Option<LinkHit>) {
    // A scheme ("https://") makes whatever follows a link, real top-level domain or not.
    let mut j = i;
    while b.get(j).is_some_and(u8::is_ascii_alphabetic) {
        j += 1;
    }
    let scheme = j > i && b.get(j..j + 3) == Some(b"://".as_slice());
    let start = if scheme { j + 3 } else { i };

    // Most words are not followed by a dot: decide that before building anything.
    let mut first_end = start;
    while b.get(first_end).copied().is_some_and(is_label_byte) {
        first_end += 1;
    }
    let dotted = dot_marker(b, first_end)
        .is_some_and(|(next, _)| b.get(next).copied().is_some_and(is_label_byte));
    if first_end == start || (!scheme && !dotted) {
        return (first_end.max(j), None);
    }

    let mut host = HostBuf::new();
    let mut labels = 0;
    let mut disguised = false;
    let mut j = start;
    loop {
        let from = j;
        while b.get(j).copied().is_some_and(is_label_byte) {
            j += 1;
        }
        if j == from {
            break;
        }
        host.last_label = host.len;
        if !host.push(b.get(from..j).unwrap_or_default()) {
            return (j, None);
        }
        labels += 1;
        match dot_marker(b, j) {
            Some((next, was_disguised)) if b.get(next).copied().is_some_and(is_label_byte) => {
                if !host.push(b".") {
                    return (j, None);
                }
                disguised |= was_disguised;
                j = next;
            }
            _ => break,
        }
    }
    let end = j;
    if labels == 0 {
        return (end, None);
    }
    let name = std::str::from_utf8(host.as_bytes()).unwrap_or_default();
    if is_allowed(name, allow) {
        return (end, None);
    }
    let kind = if scheme {
        "url"
    } else if labels < 2 || !real_tld(&host) {
        return (end, None);
    } else if disguised {
        "disguised domain"
    } else {
        "bare domain"
    };
    (
        end,
        Some(LinkHit {
            host: name.to_owned(),
            kind,
        }),
    )
}

/// A top-level domain of letters (or punycode) that the public suffix list knows: "com" and
/// "tv" but not "g" in "e.g", "5" in "12.5" or "30" in "3.30".
fn real_tld(host: &HostBuf) -> bool {
    let tld = host.tld();
    let letters = tld.iter().all(u8::is_ascii_alphabetic) || tld.starts_with(b"xn--");
    if tld.len() < 2 || !letters {
        return false;
    }
    psl::suffix(host.as_bytes()).is_some_and(|s| s.is_known())
}

/// If a dot (plain or disguised) starts at `j`, where the next label starts and whether the dot
/// was disguised.
fn dot_marker(b: &[u8], j: usize) -> Option<(usize, bool)> {
    let skip_spaces = |mut k: usize| {
        while b.get(k) == Some(&b' ') {
            k += 1;
        }
        k
    };
    // A plain dot joins labels only when written tight ("example.com"); "end. Next" is prose.
    if b.get(j) == Some(&b'.') {
        return Some((j + 1, false));
    }
    let k = skip_spaces(j);
    let spaced = k > j;
    let rest = b.get(k..)?;
    // " . " with spaces on both sides is a deliberate disguise.
    if spaced && rest.starts_with(b". ") {
        return Some((skip_spaces(k + 1), true));
    }
    for marker in [
        b"(.)".as_slice(),
        b"[.]",
        b"{.}",
        b"<.>",
        b"(dot)",
        b"[dot]",
        b"{dot}",
        b"<dot>",
    ] {
        if rest.len() >= marker.len()
            && rest
                .get(..marker.len())
                .is_some_and(|m| m.eq_ignore_ascii_case(marker))
        {
            return Some((skip_spaces(k + marker.len()), true));
        }
    }
    // The word "dot" on its own between spaces.
    if spaced
        && rest
            .get(..4)
            .is_some_and(|m| m.eq_ignore_ascii_case(b"dot "))
    {
        return Some((skip_spaces(k + 4), true));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(s: &str) -> Option<String> {
        find_link(s, &["twitch.tv".to_owned()]).map(|h| h.host)
    }

    #[test]
    fn finds_plain_disguised_and_schemed_links() {
        assert_eq!(link("see example.com now").as_deref(), Some("example.com"));
        assert_eq!(link("example dot com").as_deref(), Some("example.com"));
        assert_eq!(link("example(.)com").as_deref(), Some("example.com"));
        assert_eq!(link("example [.] com").as_deref(), Some("example.com"));
        assert_eq!(link("Example.COM").as_deref(), Some("example.com"));
        assert_eq!(link("http://localhost/x").as_deref(), Some("localhost"));
        assert_eq!(
            link("go to www.foo.co.uk/a").as_deref(),
            Some("www.foo.co.uk")
        );
    }

    #[test]
    fn leaves_numbers_times_and_abbreviations_alone() {
        for s in [
            "12.5",
            "at 3.30",
            "v1.2.3",
            "e.g. this",
            "i.e. that",
            "ok. com",
            "a.k.a",
        ] {
            assert_eq!(link(s), None, "{s}");
        }
        assert_eq!(link("clips.twitch.tv/abc"), None);
        assert_eq!(link("eviltwitch.tv"), Some("eviltwitch.tv".into()));
    }
}
