//! Reads the moderators' management commands: `!cmd add|edit|delete|alias|cooldown|level|show|
//! list|count|counter|undo`, the habitual `!addcom`/`!editcom`/`!delcom`, and `!regular
//! add|remove|list`. Parsing only: what they do lives in the module above.

use crate::event::Permission;

/// Longest command name, in characters.
pub const MAX_NAME: usize = 32;

/// One management request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `!cmd add <name> <text>` (or `!addcom`): a new text command.
    Add {
        /// The command's name, without `!`.
        name: String,
        /// What the command answers (may hold variables such as `{user}`).
        text: String,
    },
    /// `!cmd edit <name> <text>` (or `!editcom`): new text for a command.
    Edit {
        /// The command's name, without `!`.
        name: String,
        /// The new answer.
        text: String,
    },
    /// `!cmd delete <name>` (or `!delcom`).
    Delete {
        /// The command's name, without `!`.
        name: String,
    },
    /// `!cmd alias <name> <alias>`: a second name for a command.
    Alias {
        /// The command's name, without `!`.
        name: String,
        /// The other name it answers to.
        alias: String,
    },
    /// `!cmd cooldown <name> <secs> [user secs]`.
    Cooldown {
        /// The command's name, without `!`.
        name: String,
        /// Seconds between two uses by anyone.
        secs: u64,
        /// Seconds between two uses by the same viewer, if given.
        user_secs: Option<u64>,
    },
    /// `!cmd level <name> <level>`: who may use the command.
    Level {
        /// The command's name, without `!`.
        name: String,
        /// The lowest permission level allowed.
        level: Permission,
    },
    /// `!cmd show <name>`: the command's text and settings.
    Show {
        /// The command's name, without `!`.
        name: String,
    },
    /// `!cmd list`: every text command's name.
    List,
    /// `!cmd count <name> <n>`: sets a counter command's count.
    Count {
        /// The counter's name, without `!`.
        name: String,
        /// The new count.
        count: i64,
    },
    /// `!cmd counter <name>`: a new counter command (`!name`, `!name +1`, ...).
    Counter {
        /// The counter's name, without `!`.
        name: String,
    },
    /// `!cmd undo`: takes back the last change.
    Undo,
    /// `!regular add <login>`.
    RegularAdd {
        /// The viewer to add to the regulars.
        login: String,
    },
    /// `!regular remove <login>`.
    RegularRemove {
        /// The viewer to remove from the regulars.
        login: String,
    },
    /// `!regular list`: every regular's login.
    RegularList,
}

/// The built-in names this module answers (besides `!permit` and `!modcheck`, which moderation
/// answers).
pub const MANAGEMENT: [&str; 5] = ["cmd", "addcom", "editcom", "delcom", "regular"];

/// A command name as stored: lower case, without `!`; `None` unless 1 to [`MAX_NAME`] letters,
/// digits, `_` or `-`.
pub fn name(word: &str) -> Option<String> {
    let n = word.trim().trim_start_matches('!').to_lowercase();
    let ok = !n.is_empty()
        && n.chars().count() <= MAX_NAME
        && n.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    ok.then_some(n)
}

/// What is wrong with a request, as the answer in chat.
pub type Usage = String;

/// Parses `!<command> <rest>` when `command` is one of [`MANAGEMENT`]: `None` for other
/// commands, `Some(Err(usage))` for a malformed request.
pub fn parse(command: &str, rest: &str) -> Option<Result<Request, Usage>> {
    let command = command.to_ascii_lowercase();
    let rest = rest.trim();
    Some(match command.as_str() {
        "addcom" => with_text(rest, "!addcom <name> <text>", |name, text| Request::Add {
            name,
            text,
        }),
        "editcom" => with_text(rest, "!editcom <name> <text>", |name, text| Request::Edit {
            name,
            text,
        }),
        "delcom" => one_name(rest, "!delcom <name>", |name| Request::Delete { name }),
        "cmd" => cmd(rest),
        "regular" => regular(rest),
        _ => return None,
    })
}

const CMD_USAGE: &str =
    "usage: !cmd add|edit|delete|alias|cooldown|level|show|list|count|counter|undo";

fn cmd(rest: &str) -> Result<Request, Usage> {
    let (sub, tail) = split(rest);
    match sub.to_ascii_lowercase().as_str() {
        "add" => with_text(tail, "!cmd add <name> <text>", |name, text| Request::Add {
            name,
            text,
        }),
        "edit" => with_text(tail, "!cmd edit <name> <text>", |name, text| {
            Request::Edit { name, text }
        }),
        "delete" | "del" | "remove" => {
            one_name(tail, "!cmd delete <name>", |name| Request::Delete { name })
        }
        "show" => one_name(tail, "!cmd show <name>", |name| Request::Show { name }),
        "counter" => one_name(tail, "!cmd counter <name>", |name| Request::Counter {
            name,
        }),
        "list" => Ok(Request::List),
        "undo" => Ok(Request::Undo),
        "alias" => {
            let usage = "usage: !cmd alias <name> <alias>";
            let mut words = tail.split_whitespace();
            match (
                words.next().and_then(name),
                words.next().and_then(name),
                words.next(),
            ) {
                (Some(name), Some(alias), None) => Ok(Request::Alias { name, alias }),
                _ => Err(usage.into()),
            }
        }
        "cooldown" => {
            let usage = "usage: !cmd cooldown <name> <seconds> [seconds per viewer]";
            let mut words = tail.split_whitespace();
            let name = words.next().and_then(name).ok_or(usage)?;
            let secs = words.next().and_then(secs).ok_or(usage)?;
            let user_secs = match words.next() {
                Some(w) => Some(secs_of(w).ok_or(usage)?),
                None => None,
            };
            Ok(Request::Cooldown {
                name,
                secs,
                user_secs,
            })
        }
        "level" => {
            let usage =
                "usage: !cmd level <name> everyone|regular|subscriber|vip|moderator|broadcaster";
            let mut words = tail.split_whitespace();
            let name = words.next().and_then(name).ok_or(usage)?;
            let level = words.next().and_then(Permission::parse).ok_or(usage)?;
            Ok(Request::Level { name, level })
        }
        "count" => {
            let usage = "usage: !cmd count <name> <number>";
            let mut words = tail.split_whitespace();
            let name = words.next().and_then(name).ok_or(usage)?;
            let count = words
                .next()
                .and_then(|w| w.parse::<i64>().ok())
                .ok_or(usage)?;
            Ok(Request::Count { name, count })
        }
        _ => Err(CMD_USAGE.into()),
    }
}

fn regular(rest: &str) -> Result<Request, Usage> {
    let usage = "usage: !regular add|remove <user> or !regular list";
    let (sub, tail) = split(rest);
    let login = || login(tail).ok_or_else(|| usage.to_owned());
    match sub.to_ascii_lowercase().as_str() {
        "add" => Ok(Request::RegularAdd { login: login()? }),
        "remove" | "delete" | "del" => Ok(Request::RegularRemove { login: login()? }),
        "list" => Ok(Request::RegularList),
        _ => Err(usage.into()),
    }
}

/// A Twitch login (`@` dropped, lower case): 1 to 25 letters, digits or `_`.
pub fn login(word: &str) -> Option<String> {
    let l = word.trim().trim_start_matches('@').to_ascii_lowercase();
    let ok =
        (1..=25).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ok.then_some(l)
}

fn split(s: &str) -> (&str, &str) {
    let s = s.trim();
    s.split_once(char::is_whitespace)
        .map_or((s, ""), |(a, b)| (a, b.trim()))
}

fn secs(w: &str) -> Option<u64> {
    secs_of(w)
}

/// Seconds: a whole number up to a day.
fn secs_of(w: &str) -> Option<u64> {
    w.trim_end_matches('s')
        .parse::<u64>()
        .ok()
        .filter(|s| *s <= 86_400)
}

fn with_text(
    rest: &str,
    usage: &str,
    make: impl FnOnce(String, String) -> Request,
) -> Result<Request, Usage> {
    let (word, text) = split(rest);
    match name(word) {
        Some(n) if !text.is_empty() => Ok(make(n, text.to_owned())),
        _ => Err(format!("usage: {usage}")),
    }
}

fn one_name(
    rest: &str,
    usage: &str,
    make: impl FnOnce(String) -> Request,
) -> Result<Request, Usage> {
    let mut words = rest.split_whitespace();
    match (words.next().and_then(name), words.next()) {
        (Some(n), None) => Ok(make(n)),
        _ => Err(format!("usage: {usage}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(cmd: &str, rest: &str) -> Request {
        parse(cmd, rest).unwrap().unwrap()
    }

    #[test]
    fn moderators_habits_and_the_cmd_forms_read_the_same() {
        let add = Request::Add {
            name: "discord".into(),
            text: "Join us at {touser}!".into(),
        };
        assert_eq!(ok("cmd", "add !Discord Join us at {touser}!"), add);
        assert_eq!(ok("addcom", "!discord   Join us at {touser}!"), add);
        assert_eq!(
            ok("editcom", "discord x"),
            Request::Edit {
                name: "discord".into(),
                text: "x".into()
            }
        );
        assert_eq!(
            ok("delcom", "!discord"),
            Request::Delete {
                name: "discord".into()
            }
        );
        assert_eq!(
            ok("CMD", "alias discord dc"),
            Request::Alias {
                name: "discord".into(),
                alias: "dc".into()
            }
        );
        assert_eq!(
            ok("cmd", "cooldown discord 30 120"),
            Request::Cooldown {
                name: "discord".into(),
                secs: 30,
                user_secs: Some(120)
            }
        );
        assert_eq!(
            ok("cmd", "level discord regular"),
            Request::Level {
                name: "discord".into(),
                level: Permission::Regular
            }
        );
        assert_eq!(
            ok("cmd", "level discord broadcaster"),
            Request::Level {
                name: "discord".into(),
                level: Permission::Broadcaster
            }
        );
        assert_eq!(
            ok("cmd", "count deaths -3"),
            Request::Count {
                name: "deaths".into(),
                count: -3
            }
        );
        assert_eq!(
            ok("cmd", "counter deaths"),
            Request::Counter {
                name: "deaths".into()
            }
        );
        assert_eq!(ok("cmd", "undo"), Request::Undo);
        assert_eq!(
            ok("regular", "add @Bob"),
            Request::RegularAdd {
                login: "bob".into()
            }
        );
        assert_eq!(parse("permit", "bob"), None);
    }

    #[test]
    fn malformed_requests_answer_their_usage() {
        for (cmd, rest) in [
            ("cmd", ""),
            ("cmd", "add discord"),
            ("cmd", "add bad/name text"),
            ("cmd", "cooldown discord soon"),
            ("cmd", "cooldown discord 999999"),
            ("cmd", "level discord king"),
            ("cmd", "count deaths 99999999999999999999"),
            ("addcom", ""),
            ("regular", "add not-a-login!"),
        ] {
            let usage = parse(cmd, rest).unwrap().unwrap_err();
            assert!(usage.starts_with("usage:"), "{cmd} {rest}: {usage}");
        }
        assert!(name(&"x".repeat(33)).is_none());
    }
}
