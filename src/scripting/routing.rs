//! Routing: which script (if any) an input starts, and the gates before it is queued. Chat goes
//! to the script host's built-ins, then `.rhai` commands (by name or alias), then response
//! phrases; channel, OBS, raid-mode and clip events to their `scripts/events/` script and a
//! redemption to its reward; timers by name. Permission, then the channel and viewer
//! cooldowns are checked here, in the caller; cost is charged on the script thread.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use compact_str::CompactString;
use tokio::time::Instant;

use crate::event::{ChannelEvent, ChannelEventKind, ChatMessage, Chatter, ObsEvent, Permission};

use super::api::{CtxData, UserData};
use super::checks;
use super::loader::{self, Settings};
use super::runner::{self, Charge, Job, RunJob};
use super::{Outcome, Refusal, ScriptHost};

impl ScriptHost {
    /// A chat message: a command, `!redeem`, `!reload`, or a response phrase.
    pub fn handle_chat(&self, msg: &ChatMessage) -> Outcome {
        if msg.is_from_other_channel() {
            return Outcome::Ignored;
        }
        self.chat_lines.fetch_add(1, Ordering::Relaxed);
        let reg = self.library.registry();
        let prefix = self.config.command_prefix.as_str();
        let text = msg.text.trim();
        if let Some(rest) = text.strip_prefix(prefix).filter(|_| !prefix.is_empty()) {
            let (word, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            if !word.is_empty() {
                let mut name = CompactString::from(word);
                name.make_ascii_lowercase();
                match name.as_str() {
                    "reload" => return self.builtin_reload(msg),
                    "redeem" => return self.redeem(&reg, msg, tail),
                    _ => {}
                }
                if let Some(script) = reg.commands.get(name.as_str()) {
                    return self.command(script, msg, word, tail);
                }
            }
        }
        if reg.matcher.is_empty() {
            return Outcome::Ignored;
        }
        let Some(hit) = reg.matcher.find(&msg.text) else {
            return Outcome::Ignored;
        };
        let Some(script) = reg.responses.get(hit.script) else {
            return Outcome::Ignored;
        };
        let cooldown = match &script.settings {
            Settings::Response(r) => r.cooldown,
            _ => 0,
        };
        let key = script.tag.clone();
        let reservation = match self.cooldowns.try_use(&key, cooldown, 0, "") {
            Ok(r) => r,
            Err(left) => {
                tracing::debug!(script = %key, "response on cooldown ({left} s left)");
                return Outcome::Refused(
                    key,
                    Refusal::Cooldown {
                        remaining_secs: left,
                    },
                );
            }
        };
        let mut data = chat_data(script, msg, "", text);
        data.args = text.split_whitespace().map(str::to_owned).collect();
        data.matched = hit.matched;
        data.captures = hit.captures;
        self.enqueue(script.clone(), data, None, reservation)
    }

    /// A channel event: `scripts/events/<topic>.rhai`, and for a channel-point redemption the
    /// reward whose `CHANNEL_POINTS_TITLE` matches. Returns the runs queued.
    pub fn handle_channel_event(&self, ev: &ChannelEvent) -> Vec<Outcome> {
        let reg = self.library.registry();
        let mut out = Vec::new();
        let event_json = serde_json::to_value(&ev.kind).ok();
        let base = CtxData {
            channel: self.config.channel.clone(),
            user: ev.user.as_ref().map(user_data),
            event: event_json,
            ..CtxData::default()
        };
        if let ChannelEventKind::Redemption {
            reward_title,
            user_input,
            ..
        } = &ev.kind
            && let Some(script) = reg.reward_titles.get(&reward_title.trim().to_lowercase())
        {
            let data = CtxData {
                script: script.tag.clone(),
                message: user_input.clone(),
                command: script.name.clone(),
                args: user_input.split_whitespace().map(str::to_owned).collect(),
                ..base.clone()
            };
            out.push(self.enqueue(script.clone(), data, None, None));
        }
        if let Some(script) = reg.events.get(ev.kind.topic()) {
            let message = match &ev.kind {
                ChannelEventKind::Resub { message, .. }
                | ChannelEventKind::Cheer { message, .. } => message.clone(),
                ChannelEventKind::FirstMessage { text } => text.clone(),
                ChannelEventKind::Redemption { user_input, .. } => user_input.clone(),
                _ => String::new(),
            };
            let data = CtxData {
                script: script.tag.clone(),
                command: script.name.clone(),
                args: message.split_whitespace().map(str::to_owned).collect(),
                message,
                ..base
            };
            out.push(self.enqueue(script.clone(), data, None, None));
        }
        out
    }

    /// An OBS event: `scripts/events/obs_<kind>.rhai` (`obs_scene_changed`, ...), with the
    /// event's fields in `ctx.event`.
    pub fn handle_obs_event(&self, ev: &ObsEvent) -> Outcome {
        let reg = self.library.registry();
        let name = ev.topic().replace('.', "_");
        let Some(script) = reg.events.get(name.as_str()) else {
            return Outcome::Ignored;
        };
        let data = CtxData {
            script: script.tag.clone(),
            channel: self.config.channel.clone(),
            command: script.name.clone(),
            event: serde_json::to_value(ev).ok(),
            ..CtxData::default()
        };
        self.enqueue(script.clone(), data, None, None)
    }

    /// Raid mode began or ended: `scripts/events/raid_mode.rhai`, with `ctx.event` holding
    /// `state` (`begin` or `end`), `accounts` and, at the end, `reason` and `secs`.
    pub fn handle_raid_mode(&self, event: serde_json::Value) -> Outcome {
        self.run_event_script("raid_mode", event)
    }

    /// A clip a script started is made (`state` `ready`, with its `url`) or failed (`state`
    /// `failed`, with a `reason`): `scripts/events/clip_ready.rhai`, the clip in `ctx.event`.
    pub fn handle_clip_ready(&self, event: serde_json::Value) -> Outcome {
        self.run_event_script("clip_ready", event)
    }

    /// Runs `scripts/events/<name>.rhai`, if there is one, with `event` as `ctx.event`.
    fn run_event_script(&self, name: &str, event: serde_json::Value) -> Outcome {
        let reg = self.library.registry();
        let Some(script) = reg.events.get(name) else {
            return Outcome::Ignored;
        };
        let data = CtxData {
            script: script.tag.clone(),
            channel: self.config.channel.clone(),
            command: script.name.clone(),
            event: Some(event),
            ..CtxData::default()
        };
        self.enqueue(script.clone(), data, None, None)
    }

    /// Runs the timer `name` now (the timer task calls this when it is due).
    pub fn handle_timer(&self, name: &str) -> Outcome {
        let reg = self.library.registry();
        let Some(script) = reg.timers.iter().find(|s| s.name == name) else {
            return Outcome::Ignored;
        };
        let data = CtxData {
            script: script.tag.clone(),
            channel: self.config.channel.clone(),
            command: script.name.clone(),
            ..CtxData::default()
        };
        self.enqueue(script.clone(), data, None, None)
    }

    /// Runs every timer due at `now`; returns the outcomes (for logs and tests).
    pub fn run_due_timers(&self, now: Instant) -> Vec<Outcome> {
        let reg = self.library.registry();
        let lines = self.chat_lines.load(Ordering::Relaxed);
        let live = self.live.load(Ordering::Relaxed);
        let due = self.timers.due(&reg, lines, live, now);
        due.iter().map(|name| self.handle_timer(name)).collect()
    }

    fn command(
        &self,
        script: &Arc<loader::Script>,
        msg: &ChatMessage,
        word: &str,
        tail: &str,
    ) -> Outcome {
        let Settings::Command(c) = &script.settings else {
            return Outcome::Ignored;
        };
        let data = chat_data(script, msg, word, tail);
        self.checked(
            script,
            msg,
            data,
            c.permission,
            c.cooldown,
            c.user_cooldown,
            c.cost,
        )
    }

    /// Permission, then the channel cooldown, then the viewer's; cost is charged by the script
    /// thread just before the run.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn checked(
        &self,
        script: &Arc<loader::Script>,
        msg: &ChatMessage,
        data: CtxData,
        permission: Permission,
        cooldown: u64,
        user_cooldown: u64,
        cost: i64,
    ) -> Outcome {
        let key = script.tag.clone();
        if msg.sender.roles.level() < permission {
            tracing::info!(script = %key, user = %msg.sender.login, "refused: needs {permission:?}");
            return Outcome::Refused(key, Refusal::Permission { needed: permission });
        }
        let reservation = match self.cooldowns.try_use(
            &key,
            cooldown,
            user_cooldown,
            &msg.sender.id,
        ) {
            Ok(r) => r,
            Err(left) => {
                tracing::info!(script = %key, user = %msg.sender.login, "refused: cooldown, {left} s left");
                if self.config.reply_on_cooldown {
                    let text = format!(
                        "@{}, {}{} is on cooldown ({left} s left).",
                        msg.sender.display_name, self.config.command_prefix, data.command
                    );
                    self.queue.offer(
                        Job::Send(key.clone(), vec![runner::reply_action(&data, text)]),
                        "a cooldown answer",
                    );
                }
                return Outcome::Refused(
                    key,
                    Refusal::Cooldown {
                        remaining_secs: left,
                    },
                );
            }
        };
        let charge = (cost > 0).then(|| Charge {
            user: user_data(&msg.sender).to_ref(),
            amount: cost,
        });
        self.enqueue(script.clone(), data, charge, reservation)
    }

    pub(super) fn enqueue(
        &self,
        script: Arc<loader::Script>,
        data: CtxData,
        charge: Option<Charge>,
        reservation: Option<checks::Reservation>,
    ) -> Outcome {
        let key = script.tag.clone();
        let job = Job::Run(Box::new(RunJob {
            script,
            data,
            charge,
            reservation,
        }));
        if self.queue.offer(job, &key) {
            Outcome::Queued(key)
        } else {
            Outcome::Dropped(key)
        }
    }
}

/// The script-facing view of a chatter (`ctx.user`).
pub(super) fn user_data(c: &Chatter) -> UserData {
    UserData {
        id: c.id.clone(),
        login: c.login.clone(),
        name: if c.display_name.is_empty() {
            c.login.clone()
        } else {
            c.display_name.clone()
        },
        roles: c.roles,
    }
}

/// The run data for `script` answering `msg`, as `command` with `args`.
pub(super) fn chat_data(
    script: &loader::Script,
    msg: &ChatMessage,
    command: &str,
    args: &str,
) -> CtxData {
    CtxData {
        script: script.tag.clone(),
        channel: msg.channel.clone(),
        message_id: Some(msg.id.clone()),
        message: msg.text.clone(),
        command: command.to_lowercase(),
        args: args.split_whitespace().map(str::to_owned).collect(),
        user: Some(user_data(&msg.sender)),
        event: None,
        matched: String::new(),
        captures: Vec::new(),
    }
}
