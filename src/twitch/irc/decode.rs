//! Turning Twitch's tag values into the [`crate::event`] vocabulary: one pass over the tags
//! ([`KnownTags`]), unescaping straight into `CompactString`s, and the badge, emote and role
//! formats. Shared by every message type; knows nothing about which command it serves.

use compact_str::CompactString;

use super::line::{IrcLine, unescape_with};
use crate::event::{Badge, Chatter, EmoteRange, Roles};

/// The tags the chat messages use, collected in one pass over the line (values still escaped).
///
/// One pass with a `match` on the key is much cheaper than a lookup per field, which would walk
/// the tag list twenty times for a PRIVMSG.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct KnownTags<'a> {
    pub badges: Option<&'a str>,
    pub badge_info: Option<&'a str>,
    pub color: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub emotes: Option<&'a str>,
    pub first_msg: Option<&'a str>,
    pub id: Option<&'a str>,
    pub is_mod: Option<&'a str>,
    pub returning_chatter: Option<&'a str>,
    pub room_id: Option<&'a str>,
    pub subscriber: Option<&'a str>,
    pub tmi_sent_ts: Option<&'a str>,
    pub turbo: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub user_type: Option<&'a str>,
    pub vip: Option<&'a str>,
    pub bits: Option<&'a str>,
    pub reply_parent_msg_id: Option<&'a str>,
    pub reply_parent_user_login: Option<&'a str>,
    pub reply_parent_display_name: Option<&'a str>,
    pub reply_parent_msg_body: Option<&'a str>,
    pub source_room_id: Option<&'a str>,
    pub source_id: Option<&'a str>,
    pub login: Option<&'a str>,
    pub msg_id: Option<&'a str>,
    pub system_msg: Option<&'a str>,
}

impl<'a> KnownTags<'a> {
    /// Collects the known tags of `line`; unknown ones are skipped, a repeated one keeps its
    /// last value.
    pub fn of(line: &IrcLine<'a>) -> KnownTags<'a> {
        let mut t = KnownTags::default();
        for (key, value) in line.tags() {
            let v = Some(value.raw());
            // Dispatch on the length first: one or two string compares per tag instead of
            // walking a 26-arm chain for every one of a PRIVMSG's twenty-odd tags.
            let slot = match (key.len(), key) {
                (2, "id") => &mut t.id,
                (3, "mod") => &mut t.is_mod,
                (3, "vip") => &mut t.vip,
                (4, "bits") => &mut t.bits,
                (5, "color") => &mut t.color,
                (5, "login") => &mut t.login,
                (5, "turbo") => &mut t.turbo,
                (6, "badges") => &mut t.badges,
                (6, "emotes") => &mut t.emotes,
                (6, "msg-id") => &mut t.msg_id,
                (7, "room-id") => &mut t.room_id,
                (7, "user-id") => &mut t.user_id,
                (9, "first-msg") => &mut t.first_msg,
                (9, "user-type") => &mut t.user_type,
                (9, "source-id") => &mut t.source_id,
                (10, "badge-info") => &mut t.badge_info,
                (10, "subscriber") => &mut t.subscriber,
                (10, "system-msg") => &mut t.system_msg,
                (11, "tmi-sent-ts") => &mut t.tmi_sent_ts,
                (12, "display-name") => &mut t.display_name,
                (14, "source-room-id") => &mut t.source_room_id,
                (17, "returning-chatter") => &mut t.returning_chatter,
                (19, "reply-parent-msg-id") => &mut t.reply_parent_msg_id,
                (21, "reply-parent-msg-body") => &mut t.reply_parent_msg_body,
                (23, "reply-parent-user-login") => &mut t.reply_parent_user_login,
                (25, "reply-parent-display-name") => &mut t.reply_parent_display_name,
                _ => continue,
            };
            *slot = v;
        }
        t
    }

    /// The chatter these tags describe; `login` comes from the prefix or the `login` tag.
    pub fn chatter(&self, login: &str) -> Chatter {
        let badges = self.badges.map(badges).unwrap_or_default();
        let mut roles = Roles::empty();
        for b in &badges {
            roles.insert(Roles::from_badge(&b.name));
        }
        if flag(self.is_mod) {
            roles.insert(Roles::MODERATOR);
        }
        if flag(self.vip) {
            roles.insert(Roles::VIP);
        }
        if flag(self.subscriber) {
            roles.insert(Roles::SUBSCRIBER);
        }
        if flag(self.turbo) {
            roles.insert(Roles::TURBO);
        }
        if matches!(self.user_type, Some("staff" | "admin" | "global_mod")) {
            roles.insert(Roles::STAFF);
        }
        // The broadcaster is the user whose id is the room's id, whether or not they show the
        // badge.
        if matches!((self.user_id, self.room_id), (Some(user), Some(room)) if !user.is_empty() && user == room)
        {
            roles.insert(Roles::BROADCASTER);
        }
        let login = CompactString::new(login);
        let display_name = match self.display_name {
            Some(d) if !d.is_empty() => unescape(d),
            _ => login.clone(),
        };
        Chatter {
            id: self.user_id.map(unescape).unwrap_or_default(),
            login,
            display_name,
            roles,
            badges,
            color: nonempty(self.color).map(unescape),
        }
    }
}

/// `1` means yes; anything else (absent, `0`, garbage) means no.
pub(crate) fn flag(v: Option<&str>) -> bool {
    v == Some("1")
}

/// The value when present and not empty.
pub(crate) fn nonempty(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty())
}

/// A number, or `None` when absent or not a number.
pub(crate) fn number<T: std::str::FromStr>(v: Option<&str>) -> Option<T> {
    v.and_then(|s| s.parse().ok())
}

/// An escaped tag value as a `CompactString`, unescaped without an intermediate `String`
/// (values of 24 bytes or less stay inline: no allocation at all).
pub(crate) fn unescape(raw: &str) -> CompactString {
    if !raw.as_bytes().contains(&b'\\') {
        return CompactString::new(raw);
    }
    let mut out = CompactString::with_capacity(raw.len());
    unescape_with(raw, |piece| out.push_str(piece));
    out
}

/// An escaped tag value as a `String`.
pub(crate) fn unescape_string(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    unescape_with(raw, |piece| out.push_str(piece));
    out
}

/// Splits `s` at every `sep` byte (ASCII, so cuts fall on char boundaries).
///
/// A plain byte loop: these fields are a few dozen bytes, where `str::split`'s searcher setup
/// costs more than the search.
fn split_byte(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let cur = rest?;
        match cur.as_bytes().iter().position(|&b| b == sep) {
            Some(at) => {
                rest = cur.get(at + 1..);
                cur.get(..at)
            }
            None => {
                rest = None;
                Some(cur)
            }
        }
    })
}

/// `s` cut at its first `sep` byte.
fn split_once_byte(s: &str, sep: u8) -> Option<(&str, &str)> {
    let at = s.as_bytes().iter().position(|&b| b == sep)?;
    Some((s.get(..at)?, s.get(at + 1..)?))
}

/// A decimal `u32` of plain digits (no sign, no spaces, no overflow).
fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 {
        return None;
    }
    s.bytes().try_fold(0u32, |n, b| {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u32::from(d))
    })
}

/// `name/version,name/version,...`; entries without a name are skipped.
pub(crate) fn badges(raw: &str) -> Vec<Badge> {
    if raw.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(raw.bytes().filter(|&b| b == b',').count() + 1);
    for entry in split_byte(raw, b',') {
        let (name, version) = split_once_byte(entry, b'/').unwrap_or((entry, ""));
        if name.is_empty() {
            continue;
        }
        out.push(Badge {
            name: unescape(name),
            version: unescape(version),
        });
    }
    out
}

/// Months subscribed from `badge-info` (`subscriber/25` or `founder/12`), 0 otherwise.
pub(crate) fn sub_months(badge_info: Option<&str>) -> u32 {
    let Some(raw) = badge_info else { return 0 };
    split_byte(raw, b',')
        .find_map(|entry| {
            let (name, months) = split_once_byte(entry, b'/')?;
            matches!(name, "subscriber" | "founder").then(|| digits(months))?
        })
        .unwrap_or(0)
}

/// `id:0-4,6-10/id2:12-16` into ranges sorted by position; malformed pieces are skipped.
pub(crate) fn emotes(raw: Option<&str>) -> Vec<EmoteRange> {
    let Some(raw) = nonempty(raw) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(raw.bytes().filter(|&b| b == b'-').count());
    for group in split_byte(raw, b'/') {
        let Some((id, ranges)) = split_once_byte(group, b':') else {
            continue;
        };
        if id.is_empty() {
            continue;
        }
        let id = CompactString::new(id);
        for range in split_byte(ranges, b',') {
            let Some((start, end)) = split_once_byte(range, b'-') else {
                continue;
            };
            let (Some(start), Some(end)) = (digits(start), digits(end)) else {
                continue;
            };
            if start > end {
                continue;
            }
            out.push(EmoteRange {
                id: id.clone(),
                start,
                end,
            });
        }
    }
    // Twitch groups ranges by emote; readers want them in the order they appear in the text.
    if !out.is_sorted_by_key(|e| e.start) {
        out.sort_unstable_by_key(|e| e.start);
    }
    out
}

/// `#channel` into `channel`; anything that is not a channel gives `None`.
pub(crate) fn channel(param: Option<&str>) -> Option<CompactString> {
    let name = param?.strip_prefix('#')?;
    (!name.is_empty()).then(|| CompactString::new(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn badge(name: &str, version: &str) -> Badge {
        Badge {
            name: name.into(),
            version: version.into(),
        }
    }

    fn range(id: &str, start: u32, end: u32) -> EmoteRange {
        EmoteRange {
            id: id.into(),
            start,
            end,
        }
    }

    #[test]
    fn badges_are_split_into_name_and_version() {
        assert_eq!(
            badges("moderator/1,subscriber/3012,glhf-pledge/1"),
            vec![
                badge("moderator", "1"),
                badge("subscriber", "3012"),
                badge("glhf-pledge", "1")
            ]
        );
        assert_eq!(badges(""), vec![]);
        assert_eq!(badges(",/x,turbo"), vec![badge("turbo", "")]);
    }

    #[test]
    fn sub_months_come_from_subscriber_or_founder_badge_info() {
        assert_eq!(sub_months(Some("subscriber/25")), 25);
        assert_eq!(sub_months(Some("predictions/blue,founder/12")), 12);
        assert_eq!(sub_months(Some("subscriber/x")), 0);
        assert_eq!(sub_months(Some("")), 0);
        assert_eq!(sub_months(None), 0);
    }

    #[test]
    fn emote_ranges_are_sorted_and_malformed_ones_skipped() {
        assert_eq!(
            emotes(Some("25:0-4,12-16/1902:6-10")),
            vec![range("25", 0, 4), range("1902", 6, 10), range("25", 12, 16)]
        );
        assert_eq!(
            emotes(Some("25:0-4,x-2,9-3,7/:1-2/bad/emotesv2_abc:5-9")),
            vec![range("25", 0, 4), range("emotesv2_abc", 5, 9)]
        );
        assert_eq!(emotes(Some("")), vec![]);
        assert_eq!(emotes(None), vec![]);
    }

    #[test]
    fn digits_accepts_plain_u32_only() {
        assert_eq!(digits("0"), Some(0));
        assert_eq!(digits("4294967295"), Some(u32::MAX));
        assert_eq!(digits("4294967296"), None);
        assert_eq!(digits("99999999999"), None);
        assert_eq!(digits(""), None);
        assert_eq!(digits("+1"), None);
        assert_eq!(digits("1a"), None);
    }

    #[test]
    fn channels_need_their_hash() {
        assert_eq!(channel(Some("#dallas")), Some("dallas".into()));
        assert_eq!(channel(Some("#")), None);
        assert_eq!(channel(Some("dallas")), None);
        assert_eq!(channel(None), None);
    }

    #[test]
    fn unescape_builds_compact_strings() {
        assert_eq!(unescape("Tier\\s1\\:\\sgo"), "Tier 1; go");
        assert_eq!(unescape("plain"), "plain");
        assert_eq!(unescape_string("a\\sb"), "a b");
    }
}
