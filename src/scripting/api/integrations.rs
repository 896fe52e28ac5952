//! Integration calls: `ctx.obs`, `ctx.discord`, `ctx.sound`, `ctx.hotkey`, `ctx.zmq` and the
//! Twitch API (`ctx.twitch`). Each call becomes its typed [`Action`] (`ctx.obs.set_scene("BRB")`
//! is [`Action::Obs`]), checked here so bad data is a script error naming the call and the field;
//! an integration that is switched off or did not start answers with a script error too.

use rhai::Engine;
use rhai::plugin::*;

use crate::action::{Action, CallError, ObsCall};
use crate::subsystems::Subsystem;

use super::Ctx;

/// `ctx.obs`.
#[derive(Clone)]
pub struct Obs(pub Ctx);
/// `ctx.discord`.
#[derive(Clone)]
pub struct Discord(pub Ctx);
/// `ctx.sound`.
#[derive(Clone)]
pub struct Sound(pub Ctx);
/// `ctx.hotkey`.
#[derive(Clone)]
pub struct Hotkey(pub Ctx);
/// `ctx.zmq`.
#[derive(Clone)]
pub struct Zmq(pub Ctx);
/// `ctx.twitch`.
#[derive(Clone)]
pub struct Twitch(pub Ctx);

/// Registers the integration types and their calls on `engine`.
pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Obs>("Obs");
    engine.register_type_with_name::<Discord>("Discord");
    engine.register_type_with_name::<Sound>("Sound");
    engine.register_type_with_name::<Hotkey>("Hotkey");
    engine.register_type_with_name::<Zmq>("Zmq");
    engine.register_type_with_name::<Twitch>("Twitch");
    engine.register_global_module(exported_module!(integrations_api).into());
}

/// Queues the action `make` builds if `integration` runs; `make`'s refusal of the data (named
/// call and field) becomes the script's error.
fn call(
    ctx: &Ctx,
    integration: Subsystem,
    make: impl FnOnce() -> Result<Action, CallError>,
) -> Result<(), Box<EvalAltResult>> {
    if !ctx.services().integrations.contains(integration) {
        return Err(format!(
            "{} is not available (switched off or not configured)",
            integration.label()
        )
        .into());
    }
    ctx.push(make().map_err(|e| e.to_string())?)
}

/// Queues `call` for OBS, checked.
fn obs_call(o: &Obs, call: ObsCall) -> Result<(), Box<EvalAltResult>> {
    self::call(&o.0, Subsystem::Obs, || call.checked().map(Action::Obs))
}

fn twitch_api(
    ctx: &Ctx,
) -> Result<std::sync::Arc<dyn crate::scripting::stores::TwitchApi>, Box<EvalAltResult>> {
    ctx.services()
        .twitch
        .clone()
        .ok_or_else(|| "the Twitch API is not available yet (Helix is not connected)".into())
}

pub(super) fn login_of(who: &Dynamic) -> Result<String, Box<EvalAltResult>> {
    if let Some(u) = who.clone().try_cast::<super::ScriptUser>() {
        return Ok(u.data.login.to_string());
    }
    if who.is_string() {
        let s = who.to_string();
        let login = s.trim().trim_start_matches('@').to_ascii_lowercase();
        if !login.is_empty()
            && login
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Ok(login);
        }
        return Err(format!("`{s}` is not a Twitch login").into());
    }
    Err(format!("expected a user or a login, not {}", who.type_name()).into())
}

#[export_module]
// The plugin expands each function into code that unwraps arguments Rhai has already checked.
#[allow(clippy::unwrap_used)]
mod integrations_api {
    use super::{Discord, Hotkey, Obs, Sound, Twitch, Zmq, call, login_of, obs_call, twitch_api};
    use crate::action::{Action, DiscordCall, HelixCall, HotkeyCall, ObsCall, SoundCall, ZmqCall};
    use crate::scripting::api::{Ctx, to_json};
    use crate::scripting::engine::network_call;
    use crate::subsystems::Subsystem;
    use rhai::{FLOAT, INT};

    #[rhai_fn(get = "obs", pure)]
    pub fn obs(ctx: &mut Ctx) -> Obs {
        Obs(ctx.clone())
    }
    #[rhai_fn(get = "discord", pure)]
    pub fn discord(ctx: &mut Ctx) -> Discord {
        Discord(ctx.clone())
    }
    #[rhai_fn(get = "sound", pure)]
    pub fn sound(ctx: &mut Ctx) -> Sound {
        Sound(ctx.clone())
    }
    #[rhai_fn(get = "hotkey", pure)]
    pub fn hotkey(ctx: &mut Ctx) -> Hotkey {
        Hotkey(ctx.clone())
    }
    #[rhai_fn(get = "zmq", pure)]
    pub fn zmq(ctx: &mut Ctx) -> Zmq {
        Zmq(ctx.clone())
    }
    #[rhai_fn(get = "twitch", pure)]
    pub fn twitch(ctx: &mut Ctx) -> Twitch {
        Twitch(ctx.clone())
    }

    // ---- OBS ----

    #[rhai_fn(pure, return_raw)]
    pub fn set_scene(o: &mut Obs, scene: &str) -> Result<(), Box<EvalAltResult>> {
        obs_call(
            o,
            ObsCall::SetScene {
                scene: scene.into(),
            },
        )
    }
    #[rhai_fn(pure, return_raw)]
    pub fn show_source(o: &mut Obs, scene: &str, source: &str) -> Result<(), Box<EvalAltResult>> {
        obs_call(
            o,
            ObsCall::SetSourceVisible {
                scene: scene.into(),
                source: source.into(),
                visible: true,
            },
        )
    }
    #[rhai_fn(pure, return_raw)]
    pub fn hide_source(o: &mut Obs, scene: &str, source: &str) -> Result<(), Box<EvalAltResult>> {
        obs_call(
            o,
            ObsCall::SetSourceVisible {
                scene: scene.into(),
                source: source.into(),
                visible: false,
            },
        )
    }
    #[rhai_fn(pure, return_raw)]
    pub fn set_text(o: &mut Obs, source: &str, text: &str) -> Result<(), Box<EvalAltResult>> {
        obs_call(
            o,
            ObsCall::SetText {
                source: source.into(),
                text: text.into(),
            },
        )
    }
    #[rhai_fn(pure, return_raw)]
    pub fn start_recording(o: &mut Obs) -> Result<(), Box<EvalAltResult>> {
        obs_call(o, ObsCall::StartRecording)
    }
    #[rhai_fn(pure, return_raw)]
    pub fn stop_recording(o: &mut Obs) -> Result<(), Box<EvalAltResult>> {
        obs_call(o, ObsCall::StopRecording)
    }
    #[rhai_fn(pure, return_raw)]
    pub fn start_streaming(o: &mut Obs) -> Result<(), Box<EvalAltResult>> {
        obs_call(o, ObsCall::StartStreaming)
    }
    #[rhai_fn(pure, return_raw)]
    pub fn stop_streaming(o: &mut Obs) -> Result<(), Box<EvalAltResult>> {
        obs_call(o, ObsCall::StopStreaming)
    }
    /// Any obs-websocket request by name, with its data as a map.
    #[rhai_fn(pure, return_raw)]
    pub fn request(o: &mut Obs, name: &str, data: Dynamic) -> Result<(), Box<EvalAltResult>> {
        let data = to_json(&data)?;
        obs_call(
            o,
            ObsCall::Request {
                name: name.into(),
                data,
            },
        )
    }

    // ---- Discord ----

    /// Posts to the default webhook.
    #[rhai_fn(name = "send", pure, return_raw)]
    pub fn discord_send(d: &mut Discord, text: &str) -> Result<(), Box<EvalAltResult>> {
        discord_send_to(d, "default", text)
    }
    /// Posts to a named webhook.
    #[rhai_fn(name = "send", pure, return_raw)]
    pub fn discord_send_to(
        d: &mut Discord,
        webhook: &str,
        text: &str,
    ) -> Result<(), Box<EvalAltResult>> {
        call(&d.0, Subsystem::Discord, || {
            DiscordCall::send(webhook, text).map(Action::Discord)
        })
    }

    // ---- sound ----

    /// Plays a file from the sounds folder (a bare file name: no folders).
    #[rhai_fn(name = "play", pure, return_raw)]
    pub fn sound_play(s: &mut Sound, file: &str) -> Result<(), Box<EvalAltResult>> {
        sound_play_volume(s, file, 1.0)
    }
    /// Plays a file at a volume from 0.0 to 1.0.
    #[rhai_fn(name = "play", pure, return_raw)]
    pub fn sound_play_volume(
        s: &mut Sound,
        file: &str,
        volume: FLOAT,
    ) -> Result<(), Box<EvalAltResult>> {
        if file.is_empty() || file.starts_with('.') || file.contains(['/', '\\']) {
            return Err(format!("`{file}` is not a file name in the sounds folder").into());
        }
        if volume.is_nan() {
            return Err("a volume must be a number from 0.0 to 1.0, not NaN".into());
        }
        let volume = volume.clamp(0.0, 1.0) as f32;
        call(&s.0, Subsystem::Sound, || {
            SoundCall::play(file, volume).map(Action::Sound)
        })
    }
    /// Plays a file at a whole-number volume (0 or 1; anything else is clamped).
    #[rhai_fn(name = "play", pure, return_raw)]
    pub fn sound_play_int_volume(
        s: &mut Sound,
        file: &str,
        volume: INT,
    ) -> Result<(), Box<EvalAltResult>> {
        sound_play_volume(s, file, volume.clamp(0, 1) as FLOAT)
    }
    /// Skips the sound playing now.
    #[rhai_fn(name = "skip", pure, return_raw)]
    pub fn sound_skip(s: &mut Sound) -> Result<(), Box<EvalAltResult>> {
        call(&s.0, Subsystem::Sound, || {
            Ok(Action::Sound(SoundCall::Skip))
        })
    }

    // ---- hotkeys ----

    /// Presses a key combination named in configs/hotkeys.yaml.
    #[rhai_fn(name = "press", pure, return_raw)]
    pub fn hotkey_press(h: &mut Hotkey, name: &str) -> Result<(), Box<EvalAltResult>> {
        call(&h.0, Subsystem::Hotkeys, || {
            Ok(Action::Hotkeys(HotkeyCall::Press { name: name.into() }))
        })
    }

    // ---- ZeroMQ ----

    #[rhai_fn(name = "publish", pure, return_raw)]
    pub fn zmq_publish(z: &mut Zmq, topic: &str, data: Dynamic) -> Result<(), Box<EvalAltResult>> {
        let data = to_json(&data)?;
        call(&z.0, Subsystem::Zmq, || {
            ZmqCall::publish(topic.into(), data).map(Action::Zmq)
        })
    }

    // ---- the Twitch API ----

    /// The live stream as `#{ started_at, uptime, title, game, viewers }`, `()` when offline.
    #[rhai_fn(name = "stream", pure, return_raw)]
    pub fn twitch_stream(
        cx: NativeCallContext,
        t: &mut Twitch,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let api = twitch_api(&t.0)?;
        let Some(s) = network_call(cx.call_position(), "ctx.twitch.stream", move || {
            api.stream()
        })?
        else {
            return Ok(Dynamic::UNIT);
        };
        let now = crate::scripting::api::helpers::unix_now();
        let mut m = rhai::Map::new();
        m.insert("started_at".into(), Dynamic::from_int(s.started_at));
        m.insert(
            "uptime".into(),
            Dynamic::from_int(now.saturating_sub(s.started_at).max(0)),
        );
        m.insert("title".into(), Dynamic::from(s.title));
        m.insert("game".into(), Dynamic::from(s.game));
        m.insert(
            "viewers".into(),
            Dynamic::from_int(s.viewers.min(INT::MAX as u64) as INT),
        );
        Ok(Dynamic::from_map(m))
    }
    /// When the viewer followed (unix seconds), `()` if they do not follow.
    #[rhai_fn(name = "followed_at", pure, return_raw)]
    pub fn twitch_followed_at(
        cx: NativeCallContext,
        t: &mut Twitch,
        who: Dynamic,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let login = login_of(&who)?;
        let api = twitch_api(&t.0)?;
        Ok(
            network_call(cx.call_position(), "ctx.twitch.followed_at", move || {
                api.followed_at(&login)
            })?
            .map_or(Dynamic::UNIT, Dynamic::from_int),
        )
    }
    /// When the account was created (unix seconds), `()` if it does not exist.
    #[rhai_fn(name = "created_at", pure, return_raw)]
    pub fn twitch_created_at(
        cx: NativeCallContext,
        t: &mut Twitch,
        who: Dynamic,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let login = login_of(&who)?;
        let api = twitch_api(&t.0)?;
        Ok(
            network_call(cx.call_position(), "ctx.twitch.created_at", move || {
                api.created_at(&login)
            })?
            .map_or(Dynamic::UNIT, Dynamic::from_int),
        )
    }
    /// The category the channel last streamed, `()` if unknown.
    #[rhai_fn(name = "last_game", pure, return_raw)]
    pub fn twitch_last_game(
        cx: NativeCallContext,
        t: &mut Twitch,
        who: Dynamic,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let login = login_of(&who)?;
        let api = twitch_api(&t.0)?;
        Ok(
            network_call(cx.call_position(), "ctx.twitch.last_game", move || {
                api.last_game(&login)
            })?
            .map_or(Dynamic::UNIT, Dynamic::from),
        )
    }
    /// Twitch's own /shoutout for another channel.
    #[rhai_fn(name = "shoutout", pure, return_raw)]
    pub fn twitch_shoutout(t: &mut Twitch, who: Dynamic) -> Result<(), Box<EvalAltResult>> {
        let login = login_of(&who)?;
        if t.0.services().twitch.is_none() {
            return Err("The Twitch API is not available (switched off or not configured)".into());
        }
        t.0.push(Action::Helix(HelixCall::Shoutout { login }))
    }
}

#[cfg(all(test, feature = "test-support"))]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use rhai::Scope;

    use crate::action::{Action, DiscordCall, HotkeyCall, ObsCall, SoundCall, ZmqCall};
    use crate::scripting::api::{Ctx, CtxData, Services};
    use crate::scripting::engine::{self, Limits, RunGuard};
    use crate::subsystems::{Subsystem, Subsystems};

    /// Runs `code` with `ctx` for a run whose running integrations are `up`: the actions it
    /// queued, or its error.
    fn run(up: Subsystems, code: &str) -> Result<Vec<Action>, String> {
        let services = Services {
            integrations: up,
            ..Services::in_memory()
        };
        let ctx = Ctx::new(
            CtxData {
                script: Arc::from("commands/t"),
                channel: "chan".into(),
                ..CtxData::default()
            },
            Arc::new(services),
        );
        let engine = engine::build(&Limits::default());
        let mut scope = Scope::new();
        scope.push("ctx", ctx.clone());
        let _run = RunGuard::enter(Arc::from("commands/t"), Duration::from_secs(2), None);
        engine
            .run_with_scope(&mut scope, code)
            .map_err(|e| e.to_string())?;
        Ok(ctx.take_actions())
    }

    #[test]
    fn script_calls_become_typed_actions() {
        let actions = run(
            Subsystems::all(),
            r#"
                ctx.obs.set_scene("x");
                ctx.obs.hide_source("Main", "Cam");
                ctx.obs.request("GetVersion", ());
                ctx.discord.send("clips", " new clip ");
                ctx.sound.play("horn", 0.5);
                ctx.hotkey.press("brb");
                ctx.zmq.publish("overlay.alert", #{ n: 1 });
            "#,
        )
        .unwrap();
        assert_eq!(
            actions,
            [
                Action::Obs(ObsCall::SetScene { scene: "x".into() }),
                Action::Obs(ObsCall::SetSourceVisible {
                    scene: "Main".into(),
                    source: "Cam".into(),
                    visible: false
                }),
                Action::Obs(ObsCall::Request {
                    name: "GetVersion".into(),
                    data: serde_json::json!({})
                }),
                Action::Discord(DiscordCall::Send {
                    target: "clips".into(),
                    text: "new clip".into()
                }),
                Action::Sound(SoundCall::Play {
                    file: "horn".into(),
                    volume: 0.5
                }),
                Action::Hotkeys(HotkeyCall::Press { name: "brb".into() }),
                Action::Zmq(ZmqCall::Publish {
                    topic: "overlay.alert".into(),
                    data: serde_json::json!({"n": 1})
                }),
            ]
        );
    }

    #[test]
    fn bad_data_is_a_script_error_naming_the_call_and_the_field() {
        let err = |code: &str| run(Subsystems::all(), code).unwrap_err();
        let e = err(r#"ctx.obs.set_scene(" ");"#);
        assert!(e.contains("obs.set_scene: `scene` is empty"), "{e}");
        let e = err(r#"ctx.obs.request("SetInputMute", [1]);"#);
        assert!(
            e.contains("obs.request `SetInputMute`: the data must be a map"),
            "{e}"
        );
        let e = err(r#"ctx.discord.send("  ");"#);
        assert!(e.contains("send needs a `text`"), "{e}");
        let e = err(r#"ctx.sound.play("notes.txt");"#);
        assert!(
            e.contains("sound.play: `notes.txt` is not a sound file"),
            "{e}"
        );
        let e = err(r#"ctx.sound.play("../x.wav");"#);
        assert!(
            e.contains("`../x.wav` is not a file name in the sounds folder"),
            "{e}"
        );
        let e = err(r#"ctx.zmq.publish("", 1);"#);
        assert!(e.contains("the ZeroMQ topic is empty"), "{e}");
    }

    #[test]
    fn an_integration_that_does_not_run_is_a_script_error_naming_it() {
        let up = Subsystems::all().without(Subsystem::Sound);
        let e = run(up, r#"ctx.sound.skip();"#).unwrap_err();
        assert!(
            e.contains("Sound is not available (switched off or not configured)"),
            "{e}"
        );
        assert!(run(up, r#"ctx.obs.start_recording();"#).is_ok());
        let e = run(Subsystems::NONE, r#"ctx.zmq.publish("t", 1);"#).unwrap_err();
        assert!(e.contains("ZeroMQ is not available"), "{e}");
    }
}
