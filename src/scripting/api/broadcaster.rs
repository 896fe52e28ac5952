//! The broadcaster's tools on `ctx.twitch`: title and category, markers, clips, the schedule,
//! counts, chatters, whispers, raids, polls and predictions. Each call waits on Twitch through
//! [`network_call`] (the run's time pauses; the call counts against its network budget), and
//! Twitch's refusal (a limit, a missing scope) comes back as a catchable script error.

use std::sync::Arc;

use rhai::plugin::*;
use rhai::{Array, Engine, INT};

use super::integrations::Twitch;
use crate::scripting::broadcaster::BroadcasterApi;
use crate::scripting::engine::network_call;
use crate::scripting::stores::TwitchApi;

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Redemption>("Redemption");
    engine.register_global_module(exported_module!(broadcaster_api).into());
}

/// `ctx.redemption`: the channel-point redemption a reward script's run is about.
#[derive(Clone)]
pub struct Redemption {
    ctx: super::Ctx,
    reward_id: String,
    id: String,
}

/// What a script is told when it settles a redemption of a reward the bot did not create.
const NOT_OURS: &str = "this reward was made on Twitch, not by the bot, so Twitch lets the bot neither fulfil nor refund it; declare it with CHANNEL_POINTS_COST in the reward script to let the bot create it";

fn settle(cx: &NativeCallContext, r: &Redemption, fulfil: bool) -> Result<(), Box<EvalAltResult>> {
    let what = if fulfil {
        "ctx.redemption.fulfil"
    } else {
        "ctx.redemption.refund"
    };
    let (reward, id) = (r.reward_id.clone(), r.id.clone());
    tool(cx, &Twitch(r.ctx.clone()), what, move |b| {
        if !b.owns_reward(&reward) {
            return Err(NOT_OURS.into());
        }
        b.settle_redemption(&reward, &id, fulfil)
    })
}

/// The most chatters `ctx.twitch.chatters()` gives: a script's array holds 10,000 at most.
const MAX_CHATTERS: usize = 10_000;

/// The seconds a poll runs when the script does not say.
const POLL_SECS: u64 = 60;
/// The seconds a prediction takes predictions when the script does not say.
const PREDICTION_SECS: u64 = 120;

/// Runs `f` on the broadcaster's tools as one network call of the run.
fn tool<T, F>(
    cx: &NativeCallContext,
    t: &Twitch,
    what: &'static str,
    f: F,
) -> Result<T, Box<EvalAltResult>>
where
    T: Send + 'static,
    F: FnOnce(&dyn BroadcasterApi) -> Result<T, String> + Send + 'static,
{
    let api: Arc<dyn TwitchApi> = t.0.services().twitch.clone().ok_or_else(|| {
        format!("{what}: the Twitch API is not available yet (Helix is not connected)")
    })?;
    if api.broadcaster().is_none() {
        return Err(format!(
            "{what}: the broadcaster's tools are not available (sign the broadcaster in with `twitch-bot auth`)"
        )
        .into());
    }
    network_call(cx.call_position(), what, move || match api.broadcaster() {
        Some(b) => f(b),
        None => Err("the broadcaster's tools are not available".into()),
    })
}

/// Seconds from a script number.
fn secs(what: &str, n: INT) -> Result<u64, Box<EvalAltResult>> {
    u64::try_from(n)
        .map_err(|_| format!("{what}: seconds must be a positive number, not {n}").into())
}

/// The titles of a poll's choices or a prediction's outcomes.
fn titles(what: &str, items: &Array) -> Result<Vec<String>, Box<EvalAltResult>> {
    items
        .iter()
        .map(|d| {
            if d.is_string() {
                Ok(d.to_string().trim().to_string())
            } else {
                Err(format!("{what}: each choice must be text, not {}", d.type_name()).into())
            }
        })
        .collect()
}

fn dynamic(v: &serde_json::Value) -> Dynamic {
    crate::scripting::api::from_json(v)
}

fn login(who: &Dynamic) -> Result<String, Box<EvalAltResult>> {
    super::integrations::login_of(who)
}

#[export_module]
// The plugin expands each function into code that unwraps arguments Rhai has already checked.
#[allow(clippy::unwrap_used)]
mod broadcaster_api {
    use super::{
        POLL_SECS, PREDICTION_SECS, Redemption, dynamic, login, secs, settle, titles, tool,
    };
    use crate::scripting::api::Ctx;
    use crate::scripting::api::integrations::Twitch;
    use crate::scripting::broadcaster::{PredictionStop, redemption_of};
    use rhai::{Array, INT};

    /// The channel-point redemption this run is about, `()` in any other run.
    #[rhai_fn(get = "redemption", pure)]
    pub fn redemption(ctx: &mut Ctx) -> Dynamic {
        match redemption_of(ctx.data().event.as_ref()) {
            Some((reward_id, id)) => Dynamic::from(Redemption {
                ctx: ctx.clone(),
                reward_id,
                id,
            }),
            None => Dynamic::UNIT,
        }
    }
    #[rhai_fn(get = "id", pure)]
    pub fn redemption_id(r: &mut Redemption) -> String {
        r.id.clone()
    }
    #[rhai_fn(get = "reward_id", pure)]
    pub fn redemption_reward_id(r: &mut Redemption) -> String {
        r.reward_id.clone()
    }
    /// Marks the redemption done on Twitch (rewards the bot created only).
    #[rhai_fn(pure, return_raw)]
    pub fn fulfil(cx: NativeCallContext, r: &mut Redemption) -> Result<(), Box<EvalAltResult>> {
        settle(&cx, r, true)
    }
    /// Gives the viewer their channel points back (rewards the bot created only).
    #[rhai_fn(pure, return_raw)]
    pub fn refund(cx: NativeCallContext, r: &mut Redemption) -> Result<(), Box<EvalAltResult>> {
        settle(&cx, r, false)
    }

    /// Sets the stream title (1 to 140 characters).
    #[rhai_fn(pure, return_raw)]
    pub fn set_title(
        cx: NativeCallContext,
        t: &mut Twitch,
        title: &str,
    ) -> Result<(), Box<EvalAltResult>> {
        let title = title.trim().to_owned();
        tool(&cx, t, "ctx.twitch.set_title", move |b| b.set_title(&title))
    }

    /// Sets the category best matching `name`; returns its name as Twitch spells it.
    #[rhai_fn(pure, return_raw)]
    pub fn set_category(
        cx: NativeCallContext,
        t: &mut Twitch,
        name: &str,
    ) -> Result<String, Box<EvalAltResult>> {
        let name = name.trim().to_owned();
        if name.is_empty() {
            return Err("ctx.twitch.set_category: name a category".into());
        }
        tool(&cx, t, "ctx.twitch.set_category", move |b| {
            b.set_category(&name)
        })
    }

    /// Marks this moment of the live stream (description up to 140 characters).
    #[rhai_fn(name = "create_marker", pure, return_raw)]
    pub fn create_marker(
        cx: NativeCallContext,
        t: &mut Twitch,
        description: &str,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let description = description.trim().to_owned();
        tool(&cx, t, "ctx.twitch.create_marker", move |b| {
            b.create_marker(&description)
        })
        .map(|v| dynamic(&v))
    }
    #[rhai_fn(name = "create_marker", pure, return_raw)]
    pub fn create_marker_plain(
        cx: NativeCallContext,
        t: &mut Twitch,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        create_marker(cx, t, "")
    }

    /// Starts a clip; returns `#{ id, edit_url, url }` at once. `events/clip_ready.rhai` runs
    /// when Twitch has made it (or gave up).
    #[rhai_fn(pure, return_raw)]
    pub fn create_clip(
        cx: NativeCallContext,
        t: &mut Twitch,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let by =
            t.0.data()
                .user
                .as_ref()
                .map(|u| u.login.to_string())
                .unwrap_or_default();
        tool(&cx, t, "ctx.twitch.create_clip", move |b| {
            b.create_clip(&by)
        })
        .map(|v| dynamic(&v))
    }

    /// The next `n` scheduled streams (1 to 25).
    #[rhai_fn(pure, return_raw)]
    pub fn schedule(
        cx: NativeCallContext,
        t: &mut Twitch,
        n: INT,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        if !(1..=25).contains(&n) {
            return Err(format!("ctx.twitch.schedule: ask for 1 to 25 streams, not {n}").into());
        }
        let n = n as u32;
        tool(&cx, t, "ctx.twitch.schedule", move |b| b.schedule(n)).map(|v| dynamic(&v))
    }

    #[rhai_fn(pure, return_raw)]
    pub fn followers_count(
        cx: NativeCallContext,
        t: &mut Twitch,
    ) -> Result<INT, Box<EvalAltResult>> {
        tool(&cx, t, "ctx.twitch.followers_count", |b| {
            b.followers_count()
        })
        .map(|n| n.min(INT::MAX as u64) as INT)
    }

    #[rhai_fn(pure, return_raw)]
    pub fn subscribers_count(
        cx: NativeCallContext,
        t: &mut Twitch,
    ) -> Result<INT, Box<EvalAltResult>> {
        tool(&cx, t, "ctx.twitch.subscribers_count", |b| {
            b.subscribers_count()
        })
        .map(|n| n.min(INT::MAX as u64) as INT)
    }

    /// The logins in chat now (the first 10,000 in a bigger room).
    #[rhai_fn(pure, return_raw)]
    pub fn chatters(cx: NativeCallContext, t: &mut Twitch) -> Result<Array, Box<EvalAltResult>> {
        tool(&cx, t, "ctx.twitch.chatters", |b| b.chatters()).map(|list| {
            list.into_iter()
                .take(super::MAX_CHATTERS)
                .map(Dynamic::from)
                .collect()
        })
    }

    /// Whispers `text` from the bot to a viewer (a user or a login).
    #[rhai_fn(pure, return_raw)]
    pub fn whisper(
        cx: NativeCallContext,
        t: &mut Twitch,
        who: Dynamic,
        text: &str,
    ) -> Result<(), Box<EvalAltResult>> {
        let to = login(&who)?;
        let text = text.trim().to_owned();
        tool(&cx, t, "ctx.twitch.whisper", move |b| b.whisper(&to, &text))
    }

    /// Raids another channel (Twitch counts down, then sends the viewers).
    #[rhai_fn(pure, return_raw)]
    pub fn raid(
        cx: NativeCallContext,
        t: &mut Twitch,
        channel: Dynamic,
    ) -> Result<(), Box<EvalAltResult>> {
        let to = login(&channel)?;
        tool(&cx, t, "ctx.twitch.raid", move |b| b.raid(&to))
    }

    #[rhai_fn(pure, return_raw)]
    pub fn cancel_raid(cx: NativeCallContext, t: &mut Twitch) -> Result<(), Box<EvalAltResult>> {
        tool(&cx, t, "ctx.twitch.cancel_raid", |b| b.cancel_raid())
    }

    /// Starts a poll of 2 to 5 choices for `secs` seconds (15 to 1800).
    #[rhai_fn(name = "create_poll", pure, return_raw)]
    pub fn create_poll(
        cx: NativeCallContext,
        t: &mut Twitch,
        title: &str,
        choices: Array,
        seconds: INT,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let what = "ctx.twitch.create_poll";
        let choices = titles(what, &choices)?;
        let s = secs(what, seconds)?;
        let title = title.trim().to_owned();
        tool(&cx, t, what, move |b| b.create_poll(&title, &choices, s)).map(|v| dynamic(&v))
    }
    /// A poll of 60 seconds.
    #[rhai_fn(name = "create_poll", pure, return_raw)]
    pub fn create_poll_minute(
        cx: NativeCallContext,
        t: &mut Twitch,
        title: &str,
        choices: Array,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        create_poll(cx, t, title, choices, POLL_SECS as INT)
    }

    /// The running poll, `()` when none runs.
    #[rhai_fn(pure, return_raw)]
    pub fn poll(cx: NativeCallContext, t: &mut Twitch) -> Result<Dynamic, Box<EvalAltResult>> {
        tool(&cx, t, "ctx.twitch.poll", |b| b.poll())
            .map(|p| p.as_ref().map_or(Dynamic::UNIT, dynamic))
    }

    /// Ends the running poll now, results shown; returns it with its votes.
    #[rhai_fn(pure, return_raw)]
    pub fn end_poll(cx: NativeCallContext, t: &mut Twitch) -> Result<Dynamic, Box<EvalAltResult>> {
        tool(&cx, t, "ctx.twitch.end_poll", |b| b.end_poll(false)).map(|v| dynamic(&v))
    }

    /// Ends the running poll now and hides it.
    #[rhai_fn(pure, return_raw)]
    pub fn archive_poll(
        cx: NativeCallContext,
        t: &mut Twitch,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        tool(&cx, t, "ctx.twitch.archive_poll", |b| b.end_poll(true)).map(|v| dynamic(&v))
    }

    /// Starts a prediction of 2 to 10 outcomes, open for `secs` seconds (30 to 1800).
    #[rhai_fn(name = "create_prediction", pure, return_raw)]
    pub fn create_prediction(
        cx: NativeCallContext,
        t: &mut Twitch,
        title: &str,
        outcomes: Array,
        seconds: INT,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let what = "ctx.twitch.create_prediction";
        let outcomes = titles(what, &outcomes)?;
        let s = secs(what, seconds)?;
        let title = title.trim().to_owned();
        tool(&cx, t, what, move |b| {
            b.create_prediction(&title, &outcomes, s)
        })
        .map(|v| dynamic(&v))
    }
    /// A prediction open for two minutes.
    #[rhai_fn(name = "create_prediction", pure, return_raw)]
    pub fn create_prediction_default(
        cx: NativeCallContext,
        t: &mut Twitch,
        title: &str,
        outcomes: Array,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        create_prediction(cx, t, title, outcomes, PREDICTION_SECS as INT)
    }

    /// The prediction running or locked, `()` when there is none.
    #[rhai_fn(pure, return_raw)]
    pub fn prediction(
        cx: NativeCallContext,
        t: &mut Twitch,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        tool(&cx, t, "ctx.twitch.prediction", |b| b.prediction())
            .map(|p| p.as_ref().map_or(Dynamic::UNIT, dynamic))
    }

    /// Closes the prediction to new predictions.
    #[rhai_fn(pure, return_raw)]
    pub fn lock_prediction(
        cx: NativeCallContext,
        t: &mut Twitch,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        tool(&cx, t, "ctx.twitch.lock_prediction", |b| {
            b.end_prediction(PredictionStop::Lock)
        })
        .map(|v| dynamic(&v))
    }

    /// Cancels the prediction: everyone gets their points back.
    #[rhai_fn(pure, return_raw)]
    pub fn cancel_prediction(
        cx: NativeCallContext,
        t: &mut Twitch,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        tool(&cx, t, "ctx.twitch.cancel_prediction", |b| {
            b.end_prediction(PredictionStop::Cancel)
        })
        .map(|v| dynamic(&v))
    }

    /// Pays the prediction out to `outcome` (its title, any case, or its id).
    #[rhai_fn(pure, return_raw)]
    pub fn resolve_prediction(
        cx: NativeCallContext,
        t: &mut Twitch,
        outcome: &str,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let outcome = outcome.trim().to_owned();
        tool(&cx, t, "ctx.twitch.resolve_prediction", move |b| {
            b.end_prediction(PredictionStop::Resolve(outcome))
        })
        .map(|v| dynamic(&v))
    }
}
