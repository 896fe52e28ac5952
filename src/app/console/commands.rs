//! The console's text commands and regulars: listing, saving and deleting commands, adding and
//! removing regulars.

use std::sync::Arc;

use super::{AppConsole, internal};
use crate::console::{BoxFuture, ConsoleError};

pub(super) fn manage_error(e: crate::commands::ManageError) -> ConsoleError {
    use crate::commands::ManageError;
    match e {
        ManageError::Taken { .. } => ConsoleError::Conflict(e.to_string()),
        ManageError::Invalid(_) => ConsoleError::BadRequest(e.to_string()),
        ManageError::NotFound(_) => ConsoleError::NotFound(e.to_string()),
        ManageError::Storage(_) => ConsoleError::Internal(e.to_string()),
    }
}

impl AppConsole {
    pub(super) fn text(&self) -> Result<Arc<crate::commands::TextCommands>, ConsoleError> {
        self.text_commands.clone().ok_or_else(|| {
            ConsoleError::Unavailable(
                "text commands are off: their table could not be read at start (see the log)"
                    .into(),
            )
        })
    }
}

pub(super) fn text_commands(
    console: &AppConsole,
) -> BoxFuture<'_, Result<Vec<crate::commands::TextCommand>, ConsoleError>> {
    Box::pin(async move { Ok(console.text()?.list()) })
}

pub(super) fn save_text_command(
    console: &AppConsole,
    name: String,
    update: crate::commands::Update,
) -> BoxFuture<'_, Result<crate::commands::TextCommand, ConsoleError>> {
    Box::pin(async move {
        let text = console.text()?;
        tokio::task::spawn_blocking(move || {
            text.save(
                &name,
                update,
                crate::commands::Create::Either,
                "console",
                "edit",
            )
        })
        .await
        .map_err(internal)?
        .map_err(manage_error)
    })
}

pub(super) fn delete_text_command(
    console: &AppConsole,
    name: String,
) -> BoxFuture<'_, Result<(), ConsoleError>> {
    Box::pin(async move {
        let text = console.text()?;
        tokio::task::spawn_blocking(move || text.delete(&name, "console"))
            .await
            .map_err(internal)?
            .map(drop)
            .map_err(manage_error)
    })
}

pub(super) fn regulars(
    console: &AppConsole,
) -> BoxFuture<'_, Result<Vec<crate::commands::regulars::Regular>, ConsoleError>> {
    Box::pin(async move { Ok(console.regulars.list()) })
}

pub(super) fn set_regular(
    console: &AppConsole,
    login: String,
    add: bool,
) -> BoxFuture<'_, Result<(), ConsoleError>> {
    Box::pin(async move {
        let (text, regulars) = (console.text()?, console.regulars.clone());
        tokio::task::spawn_blocking(move || {
            let login = login.trim_start_matches('@').to_ascii_lowercase();
            if add {
                let id = text.resolve(&login).ok_or_else(|| {
                    ConsoleError::NotFound(format!(
                        "no Twitch account `{login}` is known (they must have chatted, or \
                         the Twitch API must be on)"
                    ))
                })?;
                regulars.add(&id, &login).map(drop).map_err(internal)
            } else {
                match regulars.remove(&login) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(ConsoleError::NotFound(format!(
                        "`{login}` is not a regular"
                    ))),
                    Err(e) => Err(ConsoleError::Conflict(e)),
                }
            }
        })
        .await
        .map_err(internal)?
    })
}
