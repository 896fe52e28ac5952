//! Simulated viewers and the tagged chat lines Twitch would send for them.

use std::fmt::Write as _;

use crate::event::Roles;

/// A simulated chatter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// Login (lower case).
    pub login: String,
    /// Twitch user id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Roles, which decide the badges sent.
    pub roles: Roles,
    /// Name colour (`#RRGGBB`).
    pub color: String,
    /// Months subscribed, used for `badge-info` when the viewer is a subscriber.
    pub sub_months: u32,
}

impl Viewer {
    /// A viewer with no roles; the user id is derived from the login so it is stable.
    pub fn new(login: &str) -> Viewer {
        let login = login.trim().trim_start_matches('@').to_ascii_lowercase();
        let display_name = {
            let mut c = login.chars();
            match c.next() {
                Some(first) => first.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        };
        Viewer {
            id: stable_id(&login).to_string(),
            color: format!("#{:06X}", stable_id(&login) & 0xFF_FFFF),
            login,
            display_name,
            roles: Roles::empty(),
            sub_months: 0,
        }
    }

    /// The same viewer with `role` added.
    pub fn with(mut self, role: Roles) -> Viewer {
        self.roles.insert(role);
        if role == Roles::SUBSCRIBER && self.sub_months == 0 {
            self.sub_months = 3;
        }
        self
    }

    /// Parses a role word as typed in the terminal or the console (`mod`, `sub`, `vip`, ...).
    pub fn role_from_word(word: &str) -> Option<Roles> {
        Some(match word.to_ascii_lowercase().as_str() {
            "mod" | "moderator" => Roles::MODERATOR,
            "sub" | "subscriber" => Roles::SUBSCRIBER,
            "vip" => Roles::VIP,
            "broadcaster" | "owner" | "streamer" => Roles::BROADCASTER,
            "turbo" => Roles::TURBO,
            _ => return None,
        })
    }

    pub(crate) fn badges(&self) -> (String, String) {
        let mut badges = String::new();
        let mut info = String::new();
        let mut add = |b: &str| {
            if !badges.is_empty() {
                badges.push(',');
            }
            badges.push_str(b);
        };
        if self.roles.contains(Roles::BROADCASTER) {
            add("broadcaster/1");
        }
        if self.roles.contains(Roles::MODERATOR) {
            add("moderator/1");
        }
        if self.roles.contains(Roles::VIP) {
            add("vip/1");
        }
        if self.roles.contains(Roles::SUBSCRIBER) {
            add(&format!("subscriber/{}", self.sub_months.max(1)));
            info = format!("subscriber/{}", self.sub_months.max(1));
        }
        if self.roles.contains(Roles::TURBO) {
            add("turbo/1");
        }
        (badges, info)
    }
}

/// A stable pseudo user id for a login (FNV-1a), so the same name is the same user every run.
pub fn stable_id(login: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in login.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    100_000_000 + h % 900_000_000
}

/// Escapes a tag value the IRCv3 way.
pub fn escape_tag(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
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

/// A PRIVMSG line exactly as Twitch sends it (tags, prefix, channel, text).
pub fn privmsg_line(
    channel: &str,
    room_id: &str,
    viewer: &Viewer,
    text: &str,
    msg_id: &str,
    sent_ms: u64,
) -> String {
    let (badges, badge_info) = viewer.badges();
    let mut line = String::with_capacity(300 + text.len());
    let _ = write!(
        line,
        "@badge-info={badge_info};badges={badges};client-nonce=;color={color};display-name={display};emotes=;\
         first-msg=0;flags=;id={msg_id};mod={is_mod};returning-chatter=0;room-id={room_id};\
         subscriber={is_sub};tmi-sent-ts={sent_ms};turbo={turbo};user-id={user_id};user-type={user_type};vip={vip}",
        color = viewer.color,
        display = escape_tag(&viewer.display_name),
        is_mod = u8::from(viewer.roles.contains(Roles::MODERATOR)),
        is_sub = u8::from(viewer.roles.contains(Roles::SUBSCRIBER)),
        turbo = u8::from(viewer.roles.contains(Roles::TURBO)),
        user_id = viewer.id,
        user_type = if viewer.roles.contains(Roles::MODERATOR) {
            "mod"
        } else {
            ""
        },
        vip = u8::from(viewer.roles.contains(Roles::VIP)),
    );
    let _ = write!(
        line,
        " :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #{channel} :{text}",
        login = viewer.login,
        text = text.replace(['\r', '\n'], " "),
    );
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_names_capitalised() {
        let a = Viewer::new("Alice");
        assert_eq!(a.login, "alice");
        assert_eq!(a.display_name, "Alice");
        assert_eq!(a.id, Viewer::new("alice").id);
        assert_ne!(a.id, Viewer::new("bob").id);
    }

    #[test]
    fn lines_carry_badges_and_role_tags() {
        let v = Viewer::new("modguy")
            .with(Roles::MODERATOR)
            .with(Roles::SUBSCRIBER);
        let line = privmsg_line("chan", "42", &v, "hello", "m1", 7);
        assert!(
            line.starts_with("@badge-info=subscriber/3;badges=moderator/1,subscriber/3;"),
            "{line}"
        );
        assert!(line.contains(";mod=1;"));
        assert!(line.contains(";subscriber=1;"));
        assert!(line.ends_with(" :modguy!modguy@modguy.tmi.twitch.tv PRIVMSG #chan :hello"));
    }

    #[test]
    fn tag_escaping_covers_every_special_character() {
        assert_eq!(escape_tag("a b;c\\d\r\n"), "a\\sb\\:c\\\\d\\r\\n");
    }
}
