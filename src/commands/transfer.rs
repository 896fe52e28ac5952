//! `twitch-bot commands export|import <file.yaml>`: the text commands as a YAML file, so they
//! can be versioned and moved. An import checks each command as a save in chat would (name
//! free of built-ins and `.rhai` commands, variables known) and is logged as `import`.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::store::TextCommand;
use super::{Regulars, TextCommands};
use crate::storage::Storage;

/// The file: a list under `commands:`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    commands: Vec<TextCommand>,
}

/// Writes every command to `path`; says how many.
///
/// # Errors
/// The database cannot be read or the file cannot be written (named in the message).
pub fn export(storage: &Storage, path: &Path) -> Result<String, String> {
    let commands = super::store::load(storage)?;
    let n = commands.len();
    let yaml = serde_saphyr::to_string(&File { commands })
        .map_err(|e| format!("cannot write the commands as YAML: {e}"))?;
    let newline = if yaml.ends_with('\n') { "" } else { "\n" };
    let body = format!(
        "# twitch-bot text commands (`twitch-bot commands import` reads this file)\n{yaml}{newline}"
    );
    std::fs::write(path, body).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let s = if n == 1 { "" } else { "s" };
    Ok(format!("{n} text command{s} written to {}", path.display()))
}

/// Adds or replaces the commands listed in `path`, checked against the `.rhai` commands in
/// `scripts_dir`; says how many.
///
/// # Errors
/// The file cannot be read or parsed, or a command is refused (named, with the reason; those
/// before it are imported).
pub fn import(storage: &Storage, scripts_dir: &Path, path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file: File = serde_saphyr::from_str(&text)
        .map_err(|e| format!("{}: {e} (expected `commands:` with a list of {{name, text, aliases, level, cooldown_secs, user_cooldown_secs, count, counter}})", path.display()))?;
    let scripts = Arc::new(crate::scripting::command_files(scripts_dir));
    let owners: super::Owners = Arc::new(move |name: &str| {
        if super::BUILTINS.contains(&name) {
            return Some(format!("the built-in command !{name}"));
        }
        scripts.get(name).map(|f| format!("the script {f}"))
    });
    let commands = TextCommands::open(
        storage.clone(),
        owners,
        Arc::new(super::facts::NoFacts),
        Arc::new(Regulars::default()),
        "!",
    )?;
    let total = file.commands.len();
    let n = commands
        .import(file.commands, "import")
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(format!(
        "{n} of {total} text commands imported from {}",
        path.display()
    ))
}
