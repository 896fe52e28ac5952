//! Changing the text commands: one typed operation per change, shared by chat (`!cmd …`), the
//! console and the YAML import, each checked (name free, text valid) under one lock and written
//! with its log entry; and the chat answers built from their results.

use std::sync::PoisonError;

use super::parse::Request;
use super::store::{self, TextCommand};
use super::vars::{self, Template};
use super::{Loaded, TextCommands};
use crate::event::Permission;

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManageError {
    /// The name (or alias) belongs to a higher command or another text command.
    #[error("!{name} is taken by {by}")]
    Taken {
        /// The name asked for.
        name: String,
        /// What already has it.
        by: String,
    },
    /// The text or a value is wrong.
    #[error("{0}")]
    Invalid(String),
    /// No text command has that name.
    #[error("there is no text command !{0}")]
    NotFound(String),
    /// The database failed; nothing changed.
    #[error("not saved: {0}")]
    Storage(String),
}

/// Fields a console save or an import may set (`None`: keep, or the default for a new one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    /// What the command answers.
    pub text: Option<String>,
    /// The lowest permission level allowed.
    pub level: Option<Permission>,
    /// Seconds between two uses by anyone.
    pub cooldown_secs: Option<u64>,
    /// Seconds between two uses by the same viewer.
    pub user_cooldown_secs: Option<u64>,
    /// The other names it answers to (the whole list).
    pub aliases: Option<Vec<String>>,
    /// A counter's count.
    pub count: Option<i64>,
    /// Whether it is a counter.
    pub counter: Option<bool>,
}

/// Longest cooldown: a day.
const MAX_COOLDOWN: u64 = 86_400;

impl TextCommands {
    /// Who owns `name` besides text command `except`: a higher command, or another text
    /// command (by name or alias).
    fn taken(&self, loaded: &Loaded, name: &str, except: Option<&str>) -> Option<String> {
        if let Some(by) = (self.owners)(name) {
            return Some(by);
        }
        match loaded.index.get(name) {
            Some(owner) if Some(owner.as_str()) != except => Some(if owner == name {
                format!("the text command !{owner}")
            } else {
                format!("an alias of the text command !{owner}")
            }),
            _ => None,
        }
    }

    /// Creates `name` (`create`) or changes it: the one write path.
    ///
    /// # Errors
    /// See [`ManageError`].
    pub fn save(
        &self,
        name: &str,
        update: Update,
        create: Create,
        by: &str,
        action: &str,
    ) -> Result<TextCommand, ManageError> {
        let _guard = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let loaded = self.loaded();
        let name = super::parse::name(name).ok_or_else(|| {
            ManageError::Invalid(format!(
                "`{name}` is not a command name (1 to 32 letters, digits, _ or -)"
            ))
        })?;
        let existing = loaded.get(&name).map(|e| e.cmd.clone());
        let before = match (&existing, create) {
            (Some(_), Create::Only) => {
                return Err(ManageError::Taken {
                    by: self.taken(&loaded, &name, None).unwrap_or_default(),
                    name,
                });
            }
            (None, Create::Never) => return Err(ManageError::NotFound(name)),
            (before, _) => before.clone(),
        };
        let mut cmd = before
            .clone()
            .unwrap_or_else(|| TextCommand::new(&name, ""));
        if before.is_none()
            && let Some(by) = self.taken(&loaded, &name, None)
        {
            return Err(ManageError::Taken { name, by });
        }
        if let Some(text) = update.text {
            Template::parse(&text).map_err(|e| ManageError::Invalid(e.to_string()))?;
            cmd.text = text.trim().to_owned();
        }
        if cmd.text.is_empty() {
            return Err(ManageError::Invalid("the text must not be empty".into()));
        }
        if let Some(level) = update.level {
            cmd.level = level;
        }
        for (value, field) in [
            (update.cooldown_secs, &mut cmd.cooldown_secs),
            (update.user_cooldown_secs, &mut cmd.user_cooldown_secs),
        ] {
            if let Some(secs) = value {
                if secs > MAX_COOLDOWN {
                    return Err(ManageError::Invalid(format!(
                        "a cooldown of {secs} s is over the limit of {MAX_COOLDOWN} s (a day)"
                    )));
                }
                *field = secs;
            }
        }
        if let Some(aliases) = update.aliases {
            let mut clean = Vec::new();
            for alias in aliases {
                let alias = super::parse::name(&alias).ok_or_else(|| {
                    ManageError::Invalid(format!("`{alias}` is not a command name"))
                })?;
                if alias == cmd.name || clean.contains(&alias) {
                    continue;
                }
                if let Some(by) = self.taken(&loaded, &alias, Some(&cmd.name)) {
                    return Err(ManageError::Taken { name: alias, by });
                }
                clean.push(alias);
            }
            cmd.aliases = clean;
        }
        if let Some(count) = update.count {
            cmd.count = count;
        }
        if let Some(counter) = update.counter {
            cmd.counter = counter;
        }
        let action = if before.is_none() && action == "edit" {
            "add"
        } else {
            action
        };
        store::write(
            &self.storage,
            by,
            action,
            &cmd.name,
            before,
            Some(cmd.clone()),
        )
        .map_err(ManageError::Storage)?;
        self.refresh();
        Ok(cmd)
    }

    /// Deletes `name` (or the command `name` is an alias of).
    ///
    /// # Errors
    /// No such command, or the database failed.
    pub fn delete(&self, name: &str, by: &str) -> Result<TextCommand, ManageError> {
        let _guard = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let name = name.trim_start_matches('!').to_lowercase();
        let before = self
            .loaded()
            .get(&name)
            .map(|e| e.cmd.clone())
            .ok_or_else(|| ManageError::NotFound(name.clone()))?;
        store::write(
            &self.storage,
            by,
            "delete",
            &before.name,
            Some(before.clone()),
            None,
        )
        .map_err(ManageError::Storage)?;
        self.refresh();
        Ok(before)
    }

    /// Undoes the newest change; says what it undid.
    ///
    /// # Errors
    /// Nothing to undo, or the database failed.
    pub fn undo(&self, by: &str) -> Result<String, ManageError> {
        let _guard = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let loaded = self.loaded();
        let count_now = |name: &str| loaded.all.get(name).map(|e| e.cmd.count);
        let change = store::undo(&self.storage, by, count_now).map_err(ManageError::Invalid)?;
        self.refresh();
        Ok(format!(
            "Undid {} of !{} by {}.",
            change.action, change.name, change.by
        ))
    }

    /// Replaces every command named in `cmds` (the rest stay); how many were written.
    ///
    /// # Errors
    /// The first command refused (those before it are written).
    pub fn import(&self, cmds: Vec<TextCommand>, by: &str) -> Result<usize, ManageError> {
        let mut n = 0;
        for cmd in cmds {
            let update = Update {
                text: Some(cmd.text),
                level: Some(cmd.level),
                cooldown_secs: Some(cmd.cooldown_secs),
                user_cooldown_secs: Some(cmd.user_cooldown_secs),
                aliases: Some(cmd.aliases),
                count: Some(cmd.count),
                counter: Some(cmd.counter),
            };
            let name = cmd.name.clone();
            self.save(&name, update, Create::Either, by, "import")
                .map_err(|e| ManageError::Invalid(format!("!{name} not imported: {e}")))?;
            n += 1;
        }
        Ok(n)
    }

    /// Carries out a chat request; the answer for chat.
    pub(super) fn manage(&self, request: Request, by: &str) -> String {
        let edit =
            |name: &str, update: Update, action: &str, done: &dyn Fn(&TextCommand) -> String| {
                match self.save(name, update, Create::Never, by, action) {
                    Ok(cmd) => done(&cmd),
                    Err(e) => format!("!{name} not changed: {e}"),
                }
            };
        match request {
            Request::Add { name, text } => {
                match self.save(
                    &name,
                    Update {
                        text: Some(text),
                        ..Update::default()
                    },
                    Create::Only,
                    by,
                    "add",
                ) {
                    Ok(cmd) => format!("Added !{}.", cmd.name),
                    Err(e @ ManageError::Taken { .. }) => format!("Not added: {e}."),
                    Err(e) => format!("!{name} not added: {e}"),
                }
            }
            Request::Edit { name, text } => edit(
                &name,
                Update {
                    text: Some(text),
                    ..Update::default()
                },
                "edit",
                &|c| format!("Edited !{}.", c.name),
            ),
            Request::Delete { name } => match self.delete(&name, by) {
                Ok(cmd) => format!("Deleted !{} (!cmd undo brings it back).", cmd.name),
                Err(e) => format!("Not deleted: {e}"),
            },
            Request::Alias { name, alias } => {
                let mut aliases = self.get(&name).map(|c| c.aliases).unwrap_or_default();
                aliases.push(alias.clone());
                edit(
                    &name,
                    Update {
                        aliases: Some(aliases),
                        ..Update::default()
                    },
                    "alias",
                    &|c| format!("!{alias} now answers like !{}.", c.name),
                )
            }
            Request::Cooldown {
                name,
                secs,
                user_secs,
            } => edit(
                &name,
                Update {
                    cooldown_secs: Some(secs),
                    user_cooldown_secs: user_secs,
                    ..Update::default()
                },
                "cooldown",
                &|c| {
                    format!(
                        "!{}: cooldown {} s, {} s per viewer.",
                        c.name, c.cooldown_secs, c.user_cooldown_secs
                    )
                },
            ),
            Request::Level { name, level } => edit(
                &name,
                Update {
                    level: Some(level),
                    ..Update::default()
                },
                "level",
                &|c| format!("!{} is now for {} and up.", c.name, c.level.as_str()),
            ),
            Request::Count { name, count } => edit(
                &name,
                Update {
                    count: Some(count),
                    ..Update::default()
                },
                "count",
                &|c| format!("!{} count is {}.", c.name, c.count),
            ),
            Request::Counter { name } => {
                let text = format!("{name}: {{count}}");
                let update = Update {
                    counter: Some(true),
                    ..Update::default()
                };
                let result = if self.get(&name).is_some() {
                    self.save(&name, update, Create::Never, by, "counter")
                } else {
                    self.save(
                        &name,
                        Update {
                            text: Some(text),
                            ..update
                        },
                        Create::Only,
                        by,
                        "counter",
                    )
                };
                match result {
                    Ok(c) => format!("!{0} counts: moderators type !{0} +1, -1 or =5.", c.name),
                    Err(e) => format!("No counter: {e}"),
                }
            }
            Request::Show { name } => match self.get(&name.to_lowercase()) {
                Some(c) => {
                    let aliases = if c.aliases.is_empty() {
                        String::new()
                    } else {
                        format!(", aliases !{}", c.aliases.join(" !"))
                    };
                    format!(
                        "!{} ({}, cooldown {} s / {} s per viewer, count {}{aliases}): {}",
                        c.name,
                        c.level.as_str(),
                        c.cooldown_secs,
                        c.user_cooldown_secs,
                        c.count,
                        c.text
                    )
                }
                None => format!("There is no text command !{name}."),
            },
            Request::List => {
                let names: Vec<String> = self
                    .list()
                    .into_iter()
                    .map(|c| format!("!{}", c.name))
                    .collect();
                if names.is_empty() {
                    "No text commands yet: !cmd add <name> <text>".into()
                } else {
                    format!("Text commands: {}", names.join(" "))
                }
            }
            Request::Undo => self
                .undo(by)
                .unwrap_or_else(|e| format!("Nothing undone: {e}.")),
            Request::RegularAdd { login } => match self.resolve(&login) {
                Some(id) => match self.regulars.add(&id, &login) {
                    Ok(true) => format!("{login} is a regular now."),
                    Ok(false) => format!("{login} already is a regular."),
                    Err(e) => format!("Not saved: {e}"),
                },
                None => format!(
                    "No Twitch account {login} is known (they must have chatted, or the Twitch API must be on)."
                ),
            },
            Request::RegularRemove { login } => match self.regulars.remove(&login) {
                Ok(true) => format!("{login} is no longer a regular."),
                Ok(false) => format!("{login} is not a regular."),
                Err(e) => e,
            },
            Request::RegularList => {
                let list: Vec<String> = self.regulars.list().into_iter().map(|r| r.login).collect();
                if list.is_empty() {
                    "No regulars yet: !regular add <user>".into()
                } else {
                    vars::cut(
                        format!("Regulars: {}", list.join(", ")),
                        vars::MAX_OUTPUT_CHARS,
                    )
                }
            }
        }
    }

    /// The user id of `login`: from the viewers the bot has seen, else from Twitch.
    pub fn resolve(&self, login: &str) -> Option<String> {
        if let Ok(Some(id)) = self.storage.user_id_by_login(login)
            && !id.starts_with(crate::storage::schema::PENDING_PREFIX)
        {
            return Some(id);
        }
        self.facts.user_id(login)
    }
}

/// Whether a save may create the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// `!cmd add`: only a new one.
    Only,
    /// `!cmd edit`: only an existing one.
    Never,
    /// The console and the import: either.
    Either,
}
