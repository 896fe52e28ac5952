//! Text commands: the everyday layer moderators manage from chat (`!cmd add !discord Join us at
//! …`) and the console, on top of the script host. Owns the commands (stored in redb with a
//! change log and undo), their answers with variables, counters (`!deaths +1`), and the
//! regulars list; the dispatcher hands it chat after the built-ins and the `.rhai` commands.
//!
//! Precedence, aliases included: built-in chat commands, then `.rhai` commands, then text
//! commands; saving refuses a name a higher one has and says which. Everything that touches
//! the disk or Twitch runs on the blocking pool, never on the dispatcher.

pub mod facts;
mod manage;
pub mod parse;
pub mod regulars;
pub mod store;
pub mod transfer;
pub mod vars;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::action::Action;
use crate::event::{ChatMessage, Permission};
use crate::storage::Storage;

pub use manage::{Create, ManageError, Update};
pub use regulars::Regulars;
pub use store::TextCommand;
use vars::{Facts, Input, Template};

/// Says which higher command owns a name (`"the script commands/so.rhai"`), if any.
pub type Owners = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Chat commands the bot answers itself, ahead of every script and text command.
pub const BUILTINS: [&str; 9] = [
    "permit", "modcheck", "cmd", "addcom", "editcom", "delcom", "regular", "reload", "redeem",
];

/// The built-in commands and, through `scripts`, the `.rhai` commands: who owns a name. Holds
/// the script host weakly, so shutting it down is not held up by the text commands.
pub fn owners(scripts: Option<Arc<crate::scripting::ScriptHost>>) -> Owners {
    let scripts = scripts.as_ref().map(Arc::downgrade);
    Arc::new(move |name: &str| {
        if BUILTINS.contains(&name) {
            return Some(format!("the built-in command !{name}"));
        }
        scripts
            .as_ref()
            .and_then(std::sync::Weak::upgrade)
            .and_then(|s| s.command_file(name))
            .map(|file| format!("the script {file}"))
    })
}

/// A command ready to answer: the record and its parsed text.
#[derive(Debug, Clone)]
struct Entry {
    cmd: TextCommand,
    template: Template,
}

/// The commands in memory, replaced whole on every change.
#[derive(Debug, Default)]
struct Loaded {
    /// By name.
    all: BTreeMap<String, Arc<Entry>>,
    /// Names and aliases → name.
    index: HashMap<String, String>,
}

impl Loaded {
    fn build(cmds: Vec<TextCommand>) -> Loaded {
        let mut loaded = Loaded::default();
        for cmd in cmds {
            let template = match Template::parse(&cmd.text) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!("text command !{} is off: {e}", cmd.name);
                    continue;
                }
            };
            loaded.index.insert(cmd.name.clone(), cmd.name.clone());
            for alias in &cmd.aliases {
                loaded
                    .index
                    .entry(alias.clone())
                    .or_insert_with(|| cmd.name.clone());
            }
            loaded
                .all
                .insert(cmd.name.clone(), Arc::new(Entry { cmd, template }));
        }
        loaded
    }

    fn get(&self, name_or_alias: &str) -> Option<&Arc<Entry>> {
        self.all.get(self.index.get(name_or_alias)?)
    }
}

/// The text commands; share it through an `Arc`.
pub struct TextCommands {
    storage: Storage,
    owners: Owners,
    facts: Arc<dyn Facts + Send + Sync>,
    regulars: Arc<Regulars>,
    prefix: String,
    loaded: RwLock<Arc<Loaded>>,
    /// Orders management changes, so a check and its write see the same commands.
    writing: Mutex<()>,
    /// When each command, and each (command, viewer), may answer again.
    cooldowns: Mutex<HashMap<(String, String), Instant>>,
}

impl std::fmt::Debug for TextCommands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextCommands").finish_non_exhaustive()
    }
}

impl TextCommands {
    /// The commands stored in `storage`, answering after `prefix`.
    ///
    /// # Errors
    /// The database could not be read.
    pub fn open(
        storage: Storage,
        owners: Owners,
        facts: Arc<dyn Facts + Send + Sync>,
        regulars: Arc<Regulars>,
        prefix: &str,
    ) -> Result<TextCommands, String> {
        let loaded = Loaded::build(store::load(&storage)?);
        Ok(TextCommands {
            storage,
            owners,
            facts,
            regulars,
            prefix: prefix.to_owned(),
            loaded: RwLock::new(Arc::new(loaded)),
            writing: Mutex::new(()),
            cooldowns: Mutex::new(HashMap::new()),
        })
    }

    /// The regulars list this uses.
    pub fn regulars(&self) -> &Arc<Regulars> {
        &self.regulars
    }

    fn loaded(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the commands from storage again (after every change).
    fn refresh(&self) {
        match store::load(&self.storage) {
            Ok(cmds) => {
                *self.loaded.write().unwrap_or_else(PoisonError::into_inner) =
                    Arc::new(Loaded::build(cmds));
            }
            Err(e) => tracing::warn!("text commands not refreshed: {e}"),
        }
    }

    /// Puts `cmd` in place of its older copy (a counter's new value) without reading the
    /// others again.
    fn replace(&self, cmd: TextCommand) {
        let mut slot = self.loaded.write().unwrap_or_else(PoisonError::into_inner);
        let Some(old) = slot.all.get(&cmd.name) else {
            return;
        };
        // Only the count moved; a text changed meanwhile is left to that change's refresh.
        if old.cmd.text != cmd.text {
            return;
        }
        let cmd = TextCommand {
            count: cmd.count,
            ..old.cmd.clone()
        };
        let entry = Arc::new(Entry {
            template: old.template.clone(),
            cmd,
        });
        let mut all = slot.all.clone();
        all.insert(entry.cmd.name.clone(), entry);
        *slot = Arc::new(Loaded {
            all,
            index: slot.index.clone(),
        });
    }

    /// Every command, by name.
    pub fn list(&self) -> Vec<TextCommand> {
        self.loaded().all.values().map(|e| e.cmd.clone()).collect()
    }

    /// The command `name` (or the one `name` is an alias of).
    pub fn get(&self, name: &str) -> Option<TextCommand> {
        self.loaded().get(name).map(|e| e.cmd.clone())
    }

    fn split<'a>(&self, text: &'a str) -> Option<(&'a str, &'a str)> {
        let rest = text.trim().strip_prefix(self.prefix.as_str())?;
        if self.prefix.is_empty() {
            return None;
        }
        let (word, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        (!word.is_empty()).then_some((word, tail.trim()))
    }

    /// A moderator's `!cmd …`, `!addcom …` or `!regular …`: answered (on the blocking pool)
    /// and `true`; `false` for anything else, or when the sender is not a moderator.
    pub fn handle_management(self: &Arc<Self>, msg: &ChatMessage, send: Sender) -> bool {
        let Some((word, tail)) = self.split(&msg.text) else {
            return false;
        };
        let Some(request) = parse::parse(word, tail) else {
            return false;
        };
        if msg.sender.roles.level() < Permission::Moderator {
            tracing::info!(user = %msg.sender.login, "refused: !{word} is for moderators");
            return false;
        }
        let this = self.clone();
        let (msg, by) = (msg.clone(), msg.sender.login.to_string());
        tokio::task::spawn_blocking(move || {
            let answer = match request {
                Ok(request) => this.manage(request, &by),
                Err(usage) => usage,
            };
            send(Action::Reply {
                channel: msg.channel.clone(),
                parent_id: msg.id.clone(),
                text: vars::cut(answer, vars::MAX_OUTPUT_CHARS),
            });
        });
        true
    }

    /// A viewer's `!<text command> …`: checked here (level, cooldown), answered now or on the
    /// blocking pool when it counts or looks something up. `false` when `msg` names no text
    /// command.
    pub fn handle_use(self: &Arc<Self>, msg: &ChatMessage, send: Sender) -> bool {
        let Some((word, tail)) = self.split(&msg.text) else {
            return false;
        };
        let loaded = self.loaded();
        let Some(entry) = loaded.get(&word.to_lowercase()).cloned() else {
            return false;
        };
        let level = msg.sender.roles.level();
        if level < entry.cmd.level {
            tracing::info!(user = %msg.sender.login, "refused: !{} needs {}", entry.cmd.name, entry.cmd.level.as_str());
            return true;
        }
        let change = if entry.cmd.counter && level >= Permission::Moderator {
            counter_change(tail)
        } else {
            None
        };
        if change.is_none() && !self.cooldown_over(&entry.cmd, &msg.sender.id) {
            return true;
        }
        let args: Vec<String> = tail.split_whitespace().map(str::to_owned).collect();
        let counts = change.is_some() || (!entry.cmd.counter && entry.template.uses_count());
        if !counts && !entry.template.looks_up() {
            let text = self.answer(&entry, msg, &args, entry.cmd.count);
            send(say(msg, text));
            return true;
        }
        let (this, msg) = (self.clone(), msg.clone());
        tokio::task::spawn_blocking(move || {
            let mut count = entry.cmd.count;
            if counts {
                let by = msg.sender.login.clone();
                let result = store::count(&this.storage, &entry.cmd.name, |n| match change {
                    Some(Counter::Add(d)) => n.saturating_add(d),
                    Some(Counter::Set(v)) => v,
                    None => n.saturating_add(1),
                });
                match result {
                    Ok(Some(after)) => {
                        count = after.count;
                        if change.is_some() {
                            tracing::info!(target: "text_commands", "{by}: !{} counter set to {count}", entry.cmd.name);
                        }
                        this.replace(after);
                    }
                    Ok(None) => return,
                    Err(e) => tracing::warn!("!{}: the counter was not saved: {e}", entry.cmd.name),
                }
            }
            let text = this.answer(&entry, &msg, &args, count);
            send(say(&msg, text));
        });
        true
    }

    fn answer(&self, entry: &Entry, msg: &ChatMessage, args: &[String], count: i64) -> String {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let user = if msg.sender.display_name.is_empty() {
            msg.sender.login.as_str()
        } else {
            msg.sender.display_name.as_str()
        };
        entry.template.expand(
            &Input {
                user,
                user_id: &msg.sender.id,
                args: &args,
                channel: &msg.channel,
                count,
            },
            self.facts.as_ref(),
        )
    }

    /// Whether the command may answer now (and if so, starts its cooldowns).
    fn cooldown_over(&self, cmd: &TextCommand, user_id: &str) -> bool {
        if cmd.cooldown_secs == 0 && cmd.user_cooldown_secs == 0 {
            return true;
        }
        let now = Instant::now();
        let mut map = self
            .cooldowns
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let channel_key = (cmd.name.clone(), String::new());
        let user_key = (cmd.name.clone(), user_id.to_owned());
        let busy = |k: &(String, String)| map.get(k).is_some_and(|until| *until > now);
        if busy(&channel_key) || (!user_id.is_empty() && busy(&user_key)) {
            return false;
        }
        if map.len() > 10_000 {
            map.retain(|_, until| *until > now);
        }
        let after = |secs: u64| now.checked_add(Duration::from_secs(secs)).unwrap_or(now);
        if cmd.cooldown_secs > 0 {
            map.insert(channel_key, after(cmd.cooldown_secs));
        }
        if cmd.user_cooldown_secs > 0 && !user_id.is_empty() {
            map.insert(user_key, after(cmd.user_cooldown_secs));
        }
        true
    }
}

/// Where answers go (the dispatcher's outputs).
pub type Sender = Arc<dyn Fn(Action) + Send + Sync>;

fn say(msg: &ChatMessage, text: String) -> Action {
    Action::Say {
        channel: msg.channel.clone(),
        text,
    }
}

/// A moderator's change to a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counter {
    Add(i64),
    Set(i64),
}

/// `+1`, `-3`, `=5` (anything else shows the counter).
fn counter_change(tail: &str) -> Option<Counter> {
    let word = tail.split_whitespace().next()?;
    let number = |s: &str| {
        s.parse::<i64>()
            .ok()
            .filter(|n| n.unsigned_abs() <= 1_000_000_000)
    };
    if let Some(n) = word.strip_prefix('=') {
        return number(n).map(Counter::Set);
    }
    if let Some(n) = word.strip_prefix('+') {
        return number(n).map(Counter::Add);
    }
    if word.starts_with('-') {
        return number(word).map(Counter::Add);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_changes_are_plus_minus_or_equals() {
        assert_eq!(counter_change("+1"), Some(Counter::Add(1)));
        assert_eq!(counter_change("-2 oops"), Some(Counter::Add(-2)));
        assert_eq!(counter_change("=5"), Some(Counter::Set(5)));
        assert_eq!(counter_change("5"), None);
        assert_eq!(counter_change("+99999999999999999999"), None);
        assert_eq!(counter_change(""), None);
    }
}
