//! The text commands as records in redb: what one holds ([`TextCommand`]), the change log
//! ([`Change`]) written in the same transaction as each change, and undo, which restores the
//! newest change's "before" and marks it undone.

use serde::{Deserialize, Serialize};

use crate::event::Permission;
use crate::storage::{Storage, TextCommandChange};

/// One text command, as stored, exported and shown in the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextCommand {
    /// Lower case, without `!`.
    pub name: String,
    /// The answer, with its variables.
    pub text: String,
    /// Other names the command answers to.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The lowest level that may use it.
    #[serde(default)]
    pub level: Permission,
    /// Seconds between two uses in the channel.
    #[serde(default)]
    pub cooldown_secs: u64,
    /// Seconds between two uses by one viewer.
    #[serde(default)]
    pub user_cooldown_secs: u64,
    /// The counter (`{count}`).
    #[serde(default)]
    pub count: i64,
    /// A counter command: moderators change it with `!<name> +1`, `-1` or `=5`.
    #[serde(default)]
    pub counter: bool,
}

impl TextCommand {
    /// A new command everyone may use, without cooldowns.
    pub fn new(name: &str, text: &str) -> TextCommand {
        TextCommand {
            name: name.to_owned(),
            text: text.trim().to_owned(),
            aliases: Vec::new(),
            level: Permission::Everyone,
            cooldown_secs: 0,
            user_cooldown_secs: 0,
            count: 0,
            counter: false,
        }
    }
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Unix seconds.
    pub at: u64,
    /// Who made it: a chat login, `console` or `import`.
    pub by: String,
    /// `add`, `edit`, `delete`, `alias`, `cooldown`, `level`, `count`, `counter`, `import`.
    pub action: String,
    /// The command changed.
    pub name: String,
    /// The command before the change (`None` for a new one).
    pub before: Option<TextCommand>,
    /// The command after it (`None` when deleted).
    pub after: Option<TextCommand>,
    /// Undone by `!cmd undo`.
    #[serde(default)]
    pub undone: bool,
}

/// How many log entries undo looks back through for one not yet undone.
const UNDO_DEPTH: usize = 200;

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Every stored command; a row that no longer parses is skipped and logged.
///
/// # Errors
/// The database read failed.
pub fn load(storage: &Storage) -> Result<Vec<TextCommand>, String> {
    let rows = storage.text_commands().map_err(|e| e.to_string())?;
    Ok(rows
        .into_iter()
        .filter_map(|(name, bytes)| match serde_json::from_slice(&bytes) {
            Ok(cmd) => Some(cmd),
            Err(e) => {
                tracing::warn!(
                    "text command `{name}` in the database no longer reads ({e}); skipped"
                );
                None
            }
        })
        .collect())
}

/// Writes `after` (or removes `name` when `None`) with its log entry, durably.
///
/// # Errors
/// The database write failed (nothing changed).
pub fn write(
    storage: &Storage,
    by: &str,
    action: &str,
    name: &str,
    before: Option<TextCommand>,
    after: Option<TextCommand>,
) -> Result<(), String> {
    let change = Change {
        at: crate::storage::now_secs(),
        by: by.to_owned(),
        action: action.to_owned(),
        name: name.to_owned(),
        before,
        after: after.clone(),
        undone: false,
    };
    storage
        .write_text_commands(&TextCommandChange {
            rows: vec![(name.to_owned(), after.as_ref().map(json))],
            log: Some(json(&change)),
            relog: None,
        })
        .map_err(|e| e.to_string())?;
    tracing::info!(target: "text_commands", "{by}: {action} !{name}");
    Ok(())
}

/// Undoes the newest change not yet undone: returns it (its `before` is now in force).
///
/// # Errors
/// Nothing to undo, or the database failed.
pub fn undo(
    storage: &Storage,
    by: &str,
    count_now: impl Fn(&str) -> Option<i64>,
) -> Result<Change, String> {
    let log = storage
        .text_command_log(UNDO_DEPTH)
        .map_err(|e| e.to_string())?;
    let found = log.into_iter().find_map(|(seq, bytes)| {
        let change: Change = serde_json::from_slice(&bytes).ok()?;
        (!change.undone && change.action != "undo").then_some((seq, change))
    });
    let Some((seq, mut change)) = found else {
        return Err("there is nothing to undo".into());
    };
    change.undone = true;
    // The counter moved on since (uses, `!deaths +1`): undoing a text or level change keeps it.
    let mut restored = change.before.clone();
    if change.action != "count"
        && let (Some(cmd), Some(now)) = (restored.as_mut(), count_now(&change.name))
    {
        cmd.count = now;
    }
    let entry = Change {
        at: crate::storage::now_secs(),
        by: by.to_owned(),
        action: "undo".into(),
        name: change.name.clone(),
        before: change.after.clone(),
        after: restored.clone(),
        undone: false,
    };
    storage
        .write_text_commands(&TextCommandChange {
            rows: vec![(change.name.clone(), restored.as_ref().map(json))],
            log: Some(json(&entry)),
            relog: Some((seq, json(&change))),
        })
        .map_err(|e| e.to_string())?;
    tracing::info!(target: "text_commands", "{by}: undid {} of !{} by {}", change.action, change.name, change.by);
    Ok(change)
}

/// Changes `name`'s counter with `f` in one transaction; the command after, `None` when no
/// such command exists.
///
/// # Errors
/// The database failed.
pub fn count(
    storage: &Storage,
    name: &str,
    f: impl FnOnce(i64) -> i64,
) -> Result<Option<TextCommand>, String> {
    let written = storage
        .update_text_command(name, |now| {
            let mut cmd: TextCommand = serde_json::from_slice(now?).ok()?;
            cmd.count = f(cmd.count);
            Some(json(&cmd))
        })
        .map_err(|e| e.to_string())?;
    Ok(written.and_then(|b| serde_json::from_slice(&b).ok()))
}
