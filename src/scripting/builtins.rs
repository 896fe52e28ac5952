//! The chat built-ins the script host answers itself, because they are script runs or reloads:
//! `!redeem` (the reward list, or a reward script run like a command) and `!reload` (the
//! broadcaster's). Their place among the other gates a chat line passes is listed in the
//! dispatcher's `builtins`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::event::{ChatMessage, Permission};

use super::loader::{self, ScriptKind, Settings};
use super::registry::Registry;
use super::routing::chat_data;
use super::runner::{self, Job};
use super::{Outcome, Refusal, ScriptHost};

impl ScriptHost {
    /// `!redeem [name [input]]`: without a name, the list of rewards redeemable in chat;
    /// with one, that reward run through the same gates as a command.
    pub(super) fn redeem(&self, reg: &Registry, msg: &ChatMessage, tail: &str) -> Outcome {
        let (name, input) = tail
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((tail.trim(), ""));
        let name = name.to_lowercase();
        let redeemable = |s: &loader::Script| match &s.settings {
            Settings::Reward(r) => r.cost > 0 || r.channel_points_title.is_none(),
            _ => false,
        };
        if name.is_empty() {
            let mut list: Vec<String> = reg
                .rewards
                .values()
                .filter(|s| redeemable(s))
                .map(|s| match &s.settings {
                    Settings::Reward(r) => format!("{} ({})", s.name, r.cost),
                    _ => s.name.clone(),
                })
                .collect();
            list.sort();
            let text = if list.is_empty() {
                "There are no rewards yet.".to_owned()
            } else {
                format!("Rewards: {}", list.join(", "))
            };
            let data = chat_data(&dummy_tag(), msg, "redeem", "");
            self.queue.offer(
                Job::Send(
                    Arc::from("builtin/redeem"),
                    vec![runner::reply_action(&data, text)],
                ),
                "the reward list",
            );
            return Outcome::Builtin;
        }
        let Some(script) = reg.rewards.get(&name).filter(|s| redeemable(s)) else {
            tracing::info!(user = %msg.sender.login, "!redeem: no reward named `{name}`");
            return Outcome::Refused(Arc::from(format!("rewards/{name}")), Refusal::UnknownReward);
        };
        let Settings::Reward(r) = &script.settings else {
            return Outcome::Ignored;
        };
        let data = chat_data(script, msg, &script.name, input);
        self.checked(
            script,
            msg,
            data,
            r.permission,
            r.cooldown,
            r.user_cooldown,
            r.cost,
        )
    }

    /// `!reload` (the broadcaster's): everything is reloaded on a script thread, which answers
    /// in chat with the report.
    pub(super) fn builtin_reload(&self, msg: &ChatMessage) -> Outcome {
        if msg.sender.roles.level() < Permission::Broadcaster {
            tracing::info!(user = %msg.sender.login, "refused: !reload is for the broadcaster");
            return Outcome::Refused(
                "reload".into(),
                Refusal::Permission {
                    needed: Permission::Broadcaster,
                },
            );
        }
        let job = Job::Reload {
            channel: msg.channel.clone(),
            reply_to: msg.id.clone(),
        };
        if self.queue.offer(job, "!reload") {
            Outcome::Builtin
        } else {
            Outcome::Dropped("reload".into())
        }
    }
}

/// A stand-in script for the reward list's answer, which is no script's run.
fn dummy_tag() -> Arc<loader::Script> {
    // `chat_data` needs a script only for its tag; the reward list is no script's run.
    Arc::new(loader::Script {
        name: "redeem".into(),
        kind: ScriptKind::Reward,
        path: PathBuf::new(),
        file: String::new(),
        ast: rhai::AST::empty(),
        settings: Settings::Event {},
        tag: Arc::from("builtin/redeem"),
        constants: Arc::from(Vec::new()),
        run_pos: rhai::Position::NONE,
    })
}
