//! `ctx`: what the run is about (user, message, args, command, channel, event) and the chat
//! actions (reply, say, announce, timeout, ban, delete).

use rhai::plugin::*;
use rhai::{Array, Engine};

use super::Ctx;

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Ctx>("Ctx");
    engine.register_global_module(exported_module!(ctx_api).into());
}

/// Longest chat text an action takes; the chat client splits at 500, this stops runaway text.
const MAX_TEXT: usize = 2_000;

fn text_ok(text: &str) -> Result<String, Box<EvalAltResult>> {
    let t = text.trim();
    if t.is_empty() {
        return Err("cannot send an empty message".into());
    }
    if t.len() > MAX_TEXT {
        return Err(format!("message too long ({} bytes, at most {MAX_TEXT})", t.len()).into());
    }
    Ok(t.to_owned())
}

#[export_module]
// The plugin expands each function into code that unwraps arguments Rhai has already checked.
#[allow(clippy::unwrap_used)]
mod ctx_api {
    use crate::action::Action;
    use crate::scripting::api::{Ctx, ScriptUser, from_json, resolve_user};
    use rhai::INT;

    #[rhai_fn(get = "user", pure)]
    pub fn user(ctx: &mut Ctx) -> Dynamic {
        match &ctx.data().user {
            Some(u) => Dynamic::from(ScriptUser {
                data: u.clone(),
                services: ctx.services().clone(),
            }),
            None => Dynamic::UNIT,
        }
    }

    #[rhai_fn(get = "message", pure)]
    pub fn message(ctx: &mut Ctx) -> String {
        ctx.data().message.clone()
    }

    #[rhai_fn(get = "args", pure)]
    pub fn ctx_args(ctx: &mut Ctx) -> Array {
        ctx.data()
            .args
            .iter()
            .map(|a| Dynamic::from(a.clone()))
            .collect()
    }

    #[rhai_fn(get = "command", pure)]
    pub fn command(ctx: &mut Ctx) -> String {
        ctx.data().command.clone()
    }

    #[rhai_fn(get = "channel", pure)]
    pub fn channel(ctx: &mut Ctx) -> String {
        ctx.data().channel.to_string()
    }

    #[rhai_fn(get = "script", pure)]
    pub fn script(ctx: &mut Ctx) -> String {
        ctx.data().script.to_string()
    }

    #[rhai_fn(get = "event", pure)]
    pub fn event(ctx: &mut Ctx) -> Dynamic {
        ctx.data().event.as_ref().map_or(Dynamic::UNIT, from_json)
    }

    #[rhai_fn(get = "matched", pure)]
    pub fn matched(ctx: &mut Ctx) -> String {
        ctx.data().matched.clone()
    }

    #[rhai_fn(get = "captures", pure)]
    pub fn captures(ctx: &mut Ctx) -> Array {
        ctx.data()
            .captures
            .iter()
            .map(|a| Dynamic::from(a.clone()))
            .collect()
    }

    /// Looks a viewer up by login; `()` when the bot has never seen them.
    #[rhai_fn(pure)]
    pub fn find_user(ctx: &mut Ctx, login: &str) -> Dynamic {
        match resolve_user(ctx.services(), &Dynamic::from(login.to_owned())) {
            Ok(data) => Dynamic::from(ScriptUser {
                data,
                services: ctx.services().clone(),
            }),
            Err(_) => Dynamic::UNIT,
        }
    }

    #[rhai_fn(pure, return_raw)]
    pub fn reply(ctx: &mut Ctx, text: &str) -> Result<(), Box<EvalAltResult>> {
        let text = super::text_ok(text)?;
        let action = match &ctx.data().message_id {
            Some(id) if !id.is_empty() => Action::Reply {
                channel: ctx.channel(),
                parent_id: id.clone(),
                text,
            },
            _ => Action::Say {
                channel: ctx.channel(),
                text,
            },
        };
        ctx.push(action)
    }

    #[rhai_fn(pure, return_raw)]
    pub fn say(ctx: &mut Ctx, text: &str) -> Result<(), Box<EvalAltResult>> {
        let text = super::text_ok(text)?;
        ctx.push(Action::Say {
            channel: ctx.channel(),
            text,
        })
    }

    #[rhai_fn(pure, return_raw)]
    pub fn announce(ctx: &mut Ctx, text: &str) -> Result<(), Box<EvalAltResult>> {
        let text = super::text_ok(text)?;
        ctx.push(Action::Announce {
            channel: ctx.channel(),
            text,
            color: None,
        })
    }

    #[rhai_fn(name = "announce", pure, return_raw)]
    pub fn announce_color(
        ctx: &mut Ctx,
        text: &str,
        color: &str,
    ) -> Result<(), Box<EvalAltResult>> {
        let text = super::text_ok(text)?;
        let color = color.trim().to_ascii_lowercase();
        if !matches!(
            color.as_str(),
            "blue" | "green" | "orange" | "purple" | "primary"
        ) {
            return Err(format!(
                "announcement colour `{color}` is not one of blue, green, orange, purple, primary"
            )
            .into());
        }
        ctx.push(Action::Announce {
            channel: ctx.channel(),
            text,
            color: Some(color.into()),
        })
    }

    #[rhai_fn(pure, return_raw)]
    pub fn timeout(ctx: &mut Ctx, who: Dynamic, seconds: INT) -> Result<(), Box<EvalAltResult>> {
        timeout_reason(ctx, who, seconds, "")
    }

    #[rhai_fn(name = "timeout", pure, return_raw)]
    pub fn timeout_reason(
        ctx: &mut Ctx,
        who: Dynamic,
        seconds: INT,
        reason: &str,
    ) -> Result<(), Box<EvalAltResult>> {
        if !(1..=1_209_600).contains(&seconds) {
            return Err(format!("timeout must be 1 to 1209600 seconds, not {seconds}").into());
        }
        let user = resolve_user(ctx.services(), &who)?;
        ctx.push(Action::Timeout {
            channel: ctx.channel(),
            user_id: user.id,
            seconds: seconds as u32,
            reason: reason.to_owned(),
        })
    }

    #[rhai_fn(pure, return_raw)]
    pub fn ban(ctx: &mut Ctx, who: Dynamic, reason: &str) -> Result<(), Box<EvalAltResult>> {
        let user = resolve_user(ctx.services(), &who)?;
        ctx.push(Action::Ban {
            channel: ctx.channel(),
            user_id: user.id,
            reason: reason.to_owned(),
        })
    }

    /// Deletes the message that started the run.
    #[rhai_fn(pure, return_raw)]
    pub fn delete(ctx: &mut Ctx) -> Result<(), Box<EvalAltResult>> {
        let Some(id) = ctx.data().message_id.clone().filter(|id| !id.is_empty()) else {
            return Err("there is no message to delete in this run".into());
        };
        ctx.push(Action::Delete {
            channel: ctx.channel(),
            message_id: id,
        })
    }
}
