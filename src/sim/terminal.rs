//! The `--offline` terminal: every typed line is chat from a simulated viewer, and the bot's
//! answers are printed.
//!
//! `/as <login> [mod|sub|vip|broadcaster ...] <text>` picks the viewer and their roles.

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

use super::chat::FakeChat;
use super::viewer::Viewer;

/// The usage text printed at start.
pub const HELP: &str = "Type a chat line and press Enter to chat as `viewer`.\n  \
    /as <login> [mod|sub|vip|broadcaster ...] <text>   chat as someone else, with roles\n  \
    /help                                              this text";

/// What one typed line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    Chat { viewer: Viewer, text: String },
    Help,
    Nothing,
    Error(String),
}

/// Interprets one typed line.
pub fn parse_typed(line: &str) -> Typed {
    let line = line.trim();
    if line.is_empty() {
        return Typed::Nothing;
    }
    if line == "/help" || line == "/?" {
        return Typed::Help;
    }
    let Some(rest) = line.strip_prefix("/as ") else {
        return Typed::Chat {
            viewer: Viewer::new("viewer"),
            text: line.to_string(),
        };
    };
    let mut words = rest.split_whitespace().peekable();
    let Some(login) = words.next() else {
        return Typed::Error("usage: /as <login> [mod|sub|vip|broadcaster] <text>".into());
    };
    let mut viewer = Viewer::new(login);
    while let Some(role) = words.peek().and_then(|w| Viewer::role_from_word(w)) {
        viewer = viewer.with(role);
        words.next();
    }
    let text: Vec<&str> = words.collect();
    if text.is_empty() {
        return Typed::Error(format!(
            "nothing to say as {}: /as <login> [roles] <text>",
            viewer.login
        ));
    }
    Typed::Chat {
        viewer,
        text: text.join(" "),
    }
}

/// Reads stdin until EOF or shutdown, feeding chat into `fake` for `channel`, and prints every
/// message the bot sends. EOF stops reading but not the bot (the console may still be in use).
pub async fn run(fake: &FakeChat, channel: &str, shutdown: CancellationToken) {
    let mut sent = fake.subscribe();
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut reading = true;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            line = stdin.next_line(), if reading => match line {
                Ok(Some(line)) => match parse_typed(&line) {
                    Typed::Chat { viewer, text } => {
                        fake.chat(channel, &viewer, &text).await;
                    }
                    Typed::Help => println!("{HELP}"),
                    Typed::Error(e) => println!("{e}"),
                    Typed::Nothing => {}
                },
                _ => reading = false,
            },
            msg = sent.recv() => match msg {
                Ok(line) => {
                    if let Some(m) = line.privmsg() {
                        println!("[#{}] {}: {}", m.channel, line.login, m.text);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Roles;

    #[test]
    fn plain_lines_come_from_viewer() {
        assert_eq!(
            parse_typed("!ping"),
            Typed::Chat {
                viewer: Viewer::new("viewer"),
                text: "!ping".into()
            }
        );
    }

    #[test]
    fn as_picks_login_and_roles() {
        let Typed::Chat { viewer, text } = parse_typed("/as Alice mod sub hello there") else {
            panic!("not chat")
        };
        assert_eq!(viewer.login, "alice");
        assert!(
            viewer.roles.contains(Roles::MODERATOR) && viewer.roles.contains(Roles::SUBSCRIBER)
        );
        assert_eq!(text, "hello there");
    }

    #[test]
    fn as_without_text_is_explained() {
        assert!(matches!(parse_typed("/as bob vip"), Typed::Error(_)));
        assert_eq!(parse_typed("   "), Typed::Nothing);
    }
}
