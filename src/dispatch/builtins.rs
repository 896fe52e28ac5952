//! The chat built-ins the dispatcher answers itself, in their one gate order. For a chat line
//! from the bot's own channel (Shared Chat from other rooms is only logged):
//!
//! 1. A regular's message is marked [`Roles::REGULAR`] before anything reads its roles.
//! 2. A moderator's `!permit` / `!modcheck` is answered here and runs nothing else (from anyone
//!    else it is an ordinary message).
//! 3. A moderator's text-command management (`!cmd …`, `!addcom …`, `!regular …`) likewise.
//! 4. Moderation (in the dispatcher): a punished message runs nothing else.
//! 5. The script host: its own built-ins first (`!reload`, `!redeem`: a reload and reward runs,
//!    answered in `scripting::builtins`), then `.rhai` commands, then response phrases.
//! 6. Text commands, only when no script command answered: a script by the same name wins.

use crate::action::Action;
use crate::event::{ChatMessage, Roles};
use crate::scripting::Outcome;

use super::Dispatcher;

impl Dispatcher {
    /// Step 1: marks a regular's message with [`Roles::REGULAR`].
    pub(super) fn mark_regular(&self, msg: &mut ChatMessage) {
        if let Some(regulars) = &self.parts.regulars
            && regulars.contains(&msg.sender.id, &msg.sender.login)
        {
            msg.sender.roles.insert(Roles::REGULAR);
        }
    }

    /// Steps 2 and 3: `true` when a moderators' built-in answered `msg` (it then runs nothing
    /// else, moderation included).
    pub(super) fn answer_before_moderation(&mut self, msg: &ChatMessage) -> bool {
        self.moderator_command(msg) || self.text_command_management(msg)
    }

    /// Step 6: `true` when a text command answered `msg`. `script_outcome` is what the script
    /// host did with it (`None` when scripts are off).
    pub(super) fn answer_text_command(
        &self,
        msg: &ChatMessage,
        script_outcome: Option<&Outcome>,
    ) -> bool {
        if script_outcome.is_some_and(is_script_command) {
            return false;
        }
        self.parts
            .text_commands
            .as_ref()
            .is_some_and(|text| text.handle_use(msg, self.sender()))
    }

    /// A moderator's `!cmd …`, `!addcom …` or `!regular …`.
    fn text_command_management(&self, msg: &ChatMessage) -> bool {
        self.parts
            .text_commands
            .as_ref()
            .is_some_and(|text| text.handle_management(msg, self.sender()))
    }

    /// Where text commands' answers go.
    fn sender(&self) -> crate::commands::Sender {
        self.text_sender.clone()
    }

    /// The moderators' built-ins: `!permit <user> [seconds]` and `!modcheck <text>`.
    fn moderator_command(&mut self, msg: &ChatMessage) -> bool {
        let Some(rest) = msg.text.strip_prefix(self.parts.prefix.as_str()) else {
            return false;
        };
        let (name, args) = rest.split_once(' ').unwrap_or((rest, ""));
        let is_permit = name.eq_ignore_ascii_case("permit");
        if !is_permit && !name.eq_ignore_ascii_case("modcheck") {
            return false;
        }
        if msg.sender.roles.level() < crate::event::Permission::Moderator {
            return false; // moderation and scripts see it like any other message
        }
        let Some(moderator) = &mut self.moderator else {
            self.reply(msg, "moderation is off (moderation.enabled: false)".into());
            return true;
        };
        let answer = if is_permit {
            let mut words = args.split_whitespace();
            match words.next() {
                Some(login) => {
                    let secs = words.next().and_then(|w| w.parse::<u64>().ok());
                    let granted = moderator.permit(login, secs.map(std::time::Duration::from_secs));
                    let login = login.trim_start_matches('@');
                    match secs {
                        Some(s) if s > granted.as_secs() => format!(
                            "{login} may post one link in the next {} s (a permit lasts a day \
                             at most).",
                            granted.as_secs()
                        ),
                        Some(s) => format!("{login} may post one link in the next {s} s."),
                        None => format!("{login} may post one link now."),
                    }
                }
                None => "usage: !permit <user> [seconds]".into(),
            }
        } else if args.trim().is_empty() {
            "usage: !modcheck <text>".into()
        } else {
            match moderator.explain(args) {
                Some(explanation) => explanation.to_string(),
                None => "nothing would fire on that.".into(),
            }
        };
        self.reply(msg, answer);
        true
    }

    fn reply(&self, msg: &ChatMessage, text: String) {
        self.parts.outputs.perform(Action::Reply {
            channel: msg.channel.clone(),
            parent_id: msg.id.clone(),
            text,
        });
    }
}

/// Whether the script host answered (or refused, or dropped) a command or reward, so no text
/// command may answer the same message.
fn is_script_command(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Queued(key) | Outcome::Refused(key, _) | Outcome::Dropped(key) => {
            !key.starts_with("responses/")
        }
        Outcome::Builtin => true,
        Outcome::Ignored => false,
    }
}
