//! What the dispatcher, scripts and the console ask the outside world to do. Scripts never touch
//! a socket: they return [`Action`]s, and [`crate::outputs`] routes each one to the connection
//! that owns it. An integration's call is typed where it is made (`ctx.obs.set_scene("BRB")` is
//! [`Action::Obs`]`(`[`ObsCall::SetScene`]`)`) and checked there, so a script hears about bad
//! data at once; the console's by-name calls are read into the same types by [`Call::parse`].

pub mod calls;
pub mod obs;

use compact_str::CompactString;
use serde::Serialize;
use serde_json::Value;

use crate::subsystems::Subsystem;

pub use calls::{DiscordCall, HelixCall, HotkeyCall, SoundCall, ZmqCall};
pub use obs::{ObsCall, ObsLink};

/// One thing to do in the outside world.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Send a chat message to a channel.
    Say {
        /// The channel's login, without `#`.
        channel: CompactString,
        /// The message.
        text: String,
    },
    /// Reply in a thread to the message `parent_id`.
    Reply {
        /// The channel's login, without `#`.
        channel: CompactString,
        /// The id of the message replied to.
        parent_id: CompactString,
        /// The reply.
        text: String,
    },
    /// A highlighted announcement (Helix).
    Announce {
        /// The channel's login, without `#`.
        channel: CompactString,
        /// The announcement.
        text: String,
        /// Twitch's colour name (`blue`, `green`, `orange`, `purple`, `primary`); none is
        /// the channel's accent colour.
        color: Option<CompactString>,
    },
    /// Time a user out (Helix).
    Timeout {
        /// The channel's login, without `#`.
        channel: CompactString,
        /// The account timed out.
        user_id: CompactString,
        /// How long, in seconds.
        seconds: u32,
        /// Shown to the user and the moderators.
        reason: String,
    },
    /// Ban a user (Helix).
    Ban {
        /// The channel's login, without `#`.
        channel: CompactString,
        /// The account banned.
        user_id: CompactString,
        /// Shown to the user and the moderators.
        reason: String,
    },
    /// Delete one message (Helix).
    Delete {
        /// The channel's login, without `#`.
        channel: CompactString,
        /// The message deleted.
        message_id: CompactString,
    },
    /// A request for OBS (`ctx.obs`).
    Obs(ObsCall),
    /// A message for Discord (`ctx.discord`).
    Discord(DiscordCall),
    /// A sound to play or skip (`ctx.sound`).
    Sound(SoundCall),
    /// A key combination to press (`ctx.hotkey`).
    Hotkeys(HotkeyCall),
    /// A message to publish on ZeroMQ (`ctx.zmq`).
    Zmq(ZmqCall),
    /// A Twitch API call a script asked for by name (`ctx.twitch.shoutout`).
    Helix(HelixCall),
}

/// A call for one of the integrations the hub runs: what [`crate::integrations::Hub::call`]
/// routes to the integration it names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "target", rename_all = "snake_case")]
pub enum Call {
    /// A request for OBS.
    Obs(ObsCall),
    /// The console's connect and disconnect buttons for OBS.
    ObsLink(ObsLink),
    /// A message for Discord.
    Discord(DiscordCall),
    /// A sound to play or skip.
    Sound(SoundCall),
    /// A key combination to press.
    Hotkeys(HotkeyCall),
    /// A message to publish on ZeroMQ.
    Zmq(ZmqCall),
}

impl Call {
    /// Reads a call made by name — the integration (`obs`, `discord`, `sound`, `hotkeys`,
    /// `zmq`), the call (`set_scene`, `send`, …) and its data as JSON — with the checks a
    /// script's call gets. For the console and other programs, which name what they call.
    ///
    /// # Errors
    /// [`CallError::Unavailable`] for an integration that takes no calls,
    /// [`CallError::UnknownCall`] for a call it does not have, [`CallError::BadData`] naming
    /// the call and the field when the data does not fit.
    pub fn parse(target: &str, call: &str, data: Value) -> Result<Call, CallError> {
        match Subsystem::from_name(target) {
            Some(Subsystem::Obs) => match call {
                "connect" => Ok(Call::ObsLink(ObsLink::Connect)),
                "disconnect" => Ok(Call::ObsLink(ObsLink::Disconnect)),
                _ => ObsCall::parse(call, data).map(Call::Obs),
            },
            Some(Subsystem::Discord) => DiscordCall::parse(call, data).map(Call::Discord),
            Some(Subsystem::Sound) => SoundCall::parse(call, data).map(Call::Sound),
            Some(Subsystem::Hotkeys) => HotkeyCall::parse(call, data).map(Call::Hotkeys),
            Some(Subsystem::Zmq) => ZmqCall::parse(call, data).map(Call::Zmq),
            Some(Subsystem::Notify) => Err(CallError::UnknownCall {
                integration: target.into(),
                call: call.into(),
            }),
            _ => Err(CallError::Unavailable(target.into())),
        }
    }

    /// The integration that carries it out.
    pub fn subsystem(&self) -> Subsystem {
        match self {
            Call::Obs(_) | Call::ObsLink(_) => Subsystem::Obs,
            Call::Discord(_) => Subsystem::Discord,
            Call::Sound(_) => Subsystem::Sound,
            Call::Hotkeys(_) => Subsystem::Hotkeys,
            Call::Zmq(_) => Subsystem::Zmq,
        }
    }

    /// The call's name as the console and the logs say it (`set_scene`, `send`).
    pub fn name(&self) -> &'static str {
        match self {
            Call::Obs(c) => c.name(),
            Call::ObsLink(ObsLink::Connect) => "connect",
            Call::ObsLink(ObsLink::Disconnect) => "disconnect",
            Call::Discord(DiscordCall::Send { .. }) => "send",
            Call::Sound(SoundCall::Play { .. }) => "play",
            Call::Sound(SoundCall::Skip) => "skip",
            Call::Hotkeys(HotkeyCall::Press { .. }) => "press",
            Call::Zmq(ZmqCall::Publish { .. }) => "publish",
        }
    }

    /// The refusal of an integration handed a call that is not its own.
    pub fn not_for(&self, integration: Subsystem) -> CallError {
        CallError::UnknownCall {
            integration: integration.name().into(),
            call: self.name().into(),
        }
    }
}

impl Action {
    /// The integration call this action is, or the action itself when it is not one (chat,
    /// moderation, the Twitch API).
    ///
    /// # Errors
    /// The action back, unchanged, when it is not an integration call.
    pub fn into_call(self) -> Result<Call, Action> {
        match self {
            Action::Obs(c) => Ok(Call::Obs(c)),
            Action::Discord(c) => Ok(Call::Discord(c)),
            Action::Sound(c) => Ok(Call::Sound(c)),
            Action::Hotkeys(c) => Ok(Call::Hotkeys(c)),
            Action::Zmq(c) => Ok(Call::Zmq(c)),
            other => Err(other),
        }
    }
}

/// Why a call to an integration was refused at once (the peer's own answers come later, in
/// the log and the health panel).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The integration does not run (switched off, not configured, or it could not start); the
    /// text names it and, when known, why.
    #[error("{0} is not available (switched off or not configured)")]
    Unavailable(String),
    /// The integration has no call of that name.
    #[error("{integration} has no call `{call}`")]
    UnknownCall {
        /// The integration's name (`obs`).
        integration: String,
        /// The call asked for.
        call: String,
    },
    /// The call's data does not fit; the text names the call and the field.
    #[error("{0}")]
    BadData(String),
    /// The integration's queue is full: the call was dropped.
    #[error("{0} is busy: the call was dropped")]
    Busy(String),
}

/// Reads a call's JSON data into its fields, or says which call takes what.
pub(crate) fn fields<T: serde::de::DeserializeOwned>(
    integration: &str,
    call: &str,
    shape: &str,
    data: Value,
) -> Result<T, CallError> {
    serde_json::from_value(data)
        .map_err(|e| CallError::BadData(format!("{integration}.{call} takes {shape}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn calls_by_name_become_the_typed_calls_scripts_make() {
        assert_eq!(
            Call::parse("obs", "set_scene", json!({"scene": "BRB"})),
            Ok(Call::Obs(ObsCall::SetScene {
                scene: "BRB".into()
            }))
        );
        assert_eq!(
            Call::parse("obs", "disconnect", Value::Null),
            Ok(Call::ObsLink(ObsLink::Disconnect))
        );
        assert_eq!(
            Call::parse("discord", "send", json!({"text": "gg", "target": "clips"})),
            Ok(Call::Discord(DiscordCall::Send {
                target: "clips".into(),
                text: "gg".into()
            }))
        );
        assert_eq!(
            Call::parse("zmq", "publish", json!({"topic": "t", "data": {"n": 1}})),
            Ok(Call::Zmq(ZmqCall::Publish {
                topic: "t".into(),
                data: json!({"n": 1})
            }))
        );
        assert_eq!(
            Call::parse("sound", "skip", json!({})),
            Ok(Call::Sound(SoundCall::Skip))
        );
        assert_eq!(
            Call::parse("hotkeys", "press", json!({"name": "brb"})),
            Ok(Call::Hotkeys(HotkeyCall::Press { name: "brb".into() }))
        );
        assert_eq!(
            Call::parse("notify", "show", json!({})),
            Err(CallError::UnknownCall {
                integration: "notify".into(),
                call: "show".into()
            })
        );
        assert_eq!(
            Call::parse("toaster", "toast", json!({})),
            Err(CallError::Unavailable("toaster".into()))
        );
    }

    #[test]
    fn a_call_knows_its_integration_and_name() {
        let call = Call::Sound(SoundCall::Skip);
        assert_eq!((call.subsystem(), call.name()), (Subsystem::Sound, "skip"));
        assert_eq!(
            Action::Sound(SoundCall::Skip).into_call(),
            Ok(call.clone()),
            "an integration call's action is that call"
        );
        assert_eq!(
            call.not_for(Subsystem::Obs).to_string(),
            "obs has no call `skip`"
        );
        let say = Action::Say {
            channel: "c".into(),
            text: "hi".into(),
        };
        assert_eq!(say.clone().into_call(), Err(say));
    }
}
