//! `configs/hotkeys.yaml`: named key combinations (`brb: ctrl+shift+F1`) that scripts press by
//! name. Viewers reach them only through scripts.
//!
//! Owns the file's shape and the combination syntax; pressing keys is the hotkeys integration's
//! job.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Checker, Validate};

/// The whole of `configs/hotkeys.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct HotkeysConfig {
    /// Milliseconds each combination is held down.
    pub hold_ms: u32,
    /// Name → combination.
    pub keys: BTreeMap<String, KeyCombo>,
}

impl Default for HotkeysConfig {
    fn default() -> Self {
        HotkeysConfig {
            hold_ms: 50,
            keys: BTreeMap::new(),
        }
    }
}

/// A modifier key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Modifier {
    /// Control (`ctrl`).
    Ctrl,
    /// Shift (`shift`).
    Shift,
    /// Alt, or Option on a Mac (`alt`).
    Alt,
    /// The Windows / Command / Super key.
    Meta,
}

impl Modifier {
    fn name(self) -> &'static str {
        match self {
            Modifier::Ctrl => "ctrl",
            Modifier::Shift => "shift",
            Modifier::Alt => "alt",
            Modifier::Meta => "meta",
        }
    }
}

/// A key without modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// A letter (lower-case), digit or punctuation key.
    Char(char),
    /// F1 to F24.
    F(u8),
    /// The space bar (`space`).
    Space,
    /// Enter or Return (`enter`).
    Enter,
    /// Tab (`tab`).
    Tab,
    /// Escape (`escape`).
    Escape,
    /// Backspace (`backspace`).
    Backspace,
    /// Delete (`delete`).
    Delete,
    /// Insert (`insert`).
    Insert,
    /// Home (`home`).
    Home,
    /// End (`end`).
    End,
    /// Page Up (`pageup`).
    PageUp,
    /// Page Down (`pagedown`).
    PageDown,
    /// The up arrow (`up`).
    Up,
    /// The down arrow (`down`).
    Down,
    /// The left arrow (`left`).
    Left,
    /// The right arrow (`right`).
    Right,
}

const NAMED: &[(&str, Key)] = &[
    ("space", Key::Space),
    ("enter", Key::Enter),
    ("return", Key::Enter),
    ("tab", Key::Tab),
    ("escape", Key::Escape),
    ("esc", Key::Escape),
    ("backspace", Key::Backspace),
    ("delete", Key::Delete),
    ("del", Key::Delete),
    ("insert", Key::Insert),
    ("home", Key::Home),
    ("end", Key::End),
    ("pageup", Key::PageUp),
    ("pagedown", Key::PageDown),
    ("up", Key::Up),
    ("down", Key::Down),
    ("left", Key::Left),
    ("right", Key::Right),
];

/// Punctuation keys accepted as single characters (`+` is written `plus`).
const PUNCTUATION: &str = "-=[];',./\\`";

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Char(c) => write!(f, "{c}"),
            Key::F(n) => write!(f, "F{n}"),
            named => {
                let name = NAMED
                    .iter()
                    .find(|(_, k)| k == named)
                    .map(|(n, _)| *n)
                    .unwrap_or("?");
                f.write_str(name)
            }
        }
    }
}

/// Modifiers plus one key, written `ctrl+shift+F1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyCombo {
    /// Sorted and without repeats.
    pub modifiers: Vec<Modifier>,
    /// The key pressed with them.
    pub key: Key,
}

impl fmt::Display for KeyCombo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.modifiers {
            write!(f, "{}+", m.name())?;
        }
        write!(f, "{}", self.key)
    }
}

const SYNTAX: &str = "write modifiers (ctrl, shift, alt, meta) and one key joined by `+`, like \
                      ctrl+shift+F1; keys are a-z, 0-9, F1-F24, space, enter, tab, escape, \
                      backspace, delete, insert, home, end, pageup, pagedown, up, down, left, \
                      right or one of - = [ ] ; ' , . / \\ `";

impl std::str::FromStr for KeyCombo {
    type Err = String;

    fn from_str(s: &str) -> Result<KeyCombo, String> {
        let parts: Vec<&str> = s.split('+').map(str::trim).collect();
        let Some((last, mods)) = parts.split_last() else {
            return Err(format!("`{s}` is empty; {SYNTAX}"));
        };
        let mut modifiers = Vec::new();
        for m in mods {
            let m = match m.to_ascii_lowercase().as_str() {
                "ctrl" | "control" => Modifier::Ctrl,
                "shift" => Modifier::Shift,
                "alt" | "option" => Modifier::Alt,
                "meta" | "super" | "win" | "cmd" | "command" => Modifier::Meta,
                "" => return Err(format!("`{s}` has an empty part; {SYNTAX}")),
                other => return Err(format!("`{other}` in `{s}` is not a modifier; {SYNTAX}")),
            };
            if modifiers.contains(&m) {
                return Err(format!("`{s}` names {} twice", m.name()));
            }
            modifiers.push(m);
        }
        modifiers.sort();
        let key = parse_key(last).ok_or_else(|| {
            if last.is_empty() {
                format!("`{s}` has no key after its modifiers; {SYNTAX}")
            } else {
                format!("`{last}` in `{s}` is not a key; {SYNTAX}")
            }
        })?;
        Ok(KeyCombo { modifiers, key })
    }
}

fn parse_key(k: &str) -> Option<Key> {
    let lower = k.to_ascii_lowercase();
    let mut chars = lower.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && (c.is_ascii_alphanumeric() || PUNCTUATION.contains(c))
    {
        return Some(Key::Char(c));
    }
    if let Some(n) = lower.strip_prefix('f')
        && let Ok(n) = n.parse::<u8>()
        && (1..=24).contains(&n)
    {
        return Some(Key::F(n));
    }
    NAMED.iter().find(|(n, _)| *n == lower).map(|(_, k)| *k)
}

impl Serialize for KeyCombo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeyCombo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyCombo, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Validate for HotkeysConfig {
    fn validate(&mut self, check: &mut Checker<'_>) {
        for name in self.keys.keys() {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                check.error(
                    &format!("keys.{name}"),
                    "hotkey names use letters, digits, `_` and `-` only (scripts press them by name)",
                );
            }
        }
        if self.hold_ms > 5_000 {
            check.error("hold_ms", "must be at most 5000 (five seconds)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_parse_and_print_canonically() {
        let c: KeyCombo = "Shift+CTRL+f1".parse().unwrap();
        assert_eq!(c.modifiers, vec![Modifier::Ctrl, Modifier::Shift]);
        assert_eq!(c.key, Key::F(1));
        assert_eq!(c.to_string(), "ctrl+shift+F1");
        assert_eq!("alt+pageup".parse::<KeyCombo>().unwrap().key, Key::PageUp);
        assert_eq!("m".parse::<KeyCombo>().unwrap().key, Key::Char('m'));
        assert_eq!("ctrl+/".parse::<KeyCombo>().unwrap().key, Key::Char('/'));
    }

    #[test]
    fn bad_combinations_say_what_is_wrong() {
        let err = |s: &str| s.parse::<KeyCombo>().unwrap_err();
        assert!(err("hyper+a").starts_with("`hyper` in `hyper+a` is not a modifier"));
        assert!(err("ctrl+F25").starts_with("`F25` in `ctrl+F25` is not a key"));
        assert!(err("ctrl+").starts_with("`ctrl+` has no key"));
        assert!(err("ctrl+ctrl+a").starts_with("`ctrl+ctrl+a` names ctrl twice"));
        assert!(err("ctrl+a+b").starts_with("`a` in `ctrl+a+b` is not a modifier"));
    }
}
