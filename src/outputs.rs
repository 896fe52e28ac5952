//! Where actions leave the bot: [`Outputs`] carries out every [`Action`] (chat lines, replies,
//! Twitch API calls, moderation through its action queue, integration calls) for the
//! dispatcher, the script host, text commands and the console alike, and shows what it sends in
//! the live log. [`ChatLink`] is chat's sending side, kept valid across chat restarts.

use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::broadcast;
use tracing::{debug, warn};

use crate::action::{Action, Call, CallError, DiscordCall, HelixCall, ZmqCall};
use crate::event::{ChatMessage, LiveEvent};
use crate::moderation::enforce::{self, Enforcer};
use crate::twitch::chat::{ChatHandle, Outgoing, SendError, Warning};
use crate::twitch::helix::{Helix, Priority};

/// Chat as the rest of the bot sends to it: the running chat connection's handle, swapped for
/// the new connection's when chat is restarted, so every clone keeps working.
#[derive(Clone)]
pub struct ChatLink(Arc<RwLock<ChatHandle>>);

impl ChatLink {
    /// A link to the running connection's `handle`.
    pub fn new(handle: ChatHandle) -> ChatLink {
        ChatLink(Arc::new(RwLock::new(handle)))
    }

    /// From now on, sends go to `handle` (a restarted connection).
    pub fn replace(&self, handle: ChatHandle) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = handle;
    }

    /// Says whether the bot is moderator (or broadcaster) now, for the running connection's
    /// send rate class (see [`ChatHandle::set_moderator`]).
    pub fn set_moderator(&self, moderator: bool) {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .set_moderator(moderator);
    }

    /// Queues a message without waiting.
    ///
    /// # Errors
    /// [`SendError::Full`] when the intake is full, [`SendError::Closed`] after shutdown.
    pub fn send(&self, msg: Outgoing) -> Result<(), SendError> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .send(msg)
    }

    /// Waits until the running connection's intake has room for a message.
    pub async fn room(&self) {
        let handle = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        handle.room().await;
    }

    /// Queues a moderation warning in the running connection's low-priority lane.
    pub fn warn(&self, warning: Warning) {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .warn(warning);
    }
}

/// Where actions go: the connections the app started. A missing one means switched off.
#[derive(Clone, Default)]
pub struct Outputs {
    /// Chat's sending side; `None` with `--nochat`.
    pub chat: Option<ChatLink>,
    /// The Twitch API; `None` without a client id and bot token.
    pub helix: Option<Helix>,
    /// The live log: what the bot sends is shown there too.
    pub log: Option<broadcast::Sender<LiveEvent>>,
    /// OBS, Discord, ZeroMQ, sound, hotkeys and notifications: those that run.
    pub integrations: crate::integrations::Hub,
    /// Moderation's bounded action queue to Twitch (bans, timeouts, deletes).
    pub enforcer: Option<Enforcer>,
}

impl Outputs {
    /// Carries out one action, or logs why it cannot. Never waits: network calls run in tasks.
    pub fn perform(&self, action: Action) {
        match action {
            Action::Say { channel, text } => self.chat(Outgoing {
                channel,
                text,
                reply_to: None,
            }),
            Action::Reply {
                channel,
                parent_id,
                text,
            } => {
                self.chat(Outgoing {
                    channel,
                    text,
                    reply_to: Some(parent_id),
                });
            }
            Action::Helix(call) => self.helix_call(call),
            Action::Obs(call) => self.integration(Call::Obs(call)),
            Action::Discord(call) => self.integration(Call::Discord(call)),
            Action::Sound(call) => self.integration(Call::Sound(call)),
            Action::Hotkeys(call) => self.integration(Call::Hotkeys(call)),
            Action::Zmq(call) => self.integration(Call::Zmq(call)),
            action @ (Action::Ban { .. } | Action::Timeout { .. } | Action::Delete { .. })
                if self.enforcer.is_some() =>
            {
                self.moderate(action, "");
            }
            helix_action => {
                let Some(helix) = self.helix.clone() else {
                    static SAID: std::sync::Once = std::sync::Once::new();
                    SAID.call_once(|| warn!("moderation and announcements need the Twitch API, which is off (run `twitch-bot auth`)"));
                    debug!("cannot carry out {helix_action:?}: the Twitch API is off");
                    return;
                };
                let priority = match helix_action {
                    Action::Announce { .. } => Priority::Chat,
                    _ => Priority::Moderation,
                };
                let helix = helix.at(priority);
                tokio::spawn(async move {
                    if let Err(e) = helix.perform(&helix_action).await {
                        warn!("Twitch refused {helix_action:?}: {e}");
                    }
                });
            }
        }
    }

    /// Hands a ban, timeout or delete to moderation's action queue; `sender_id` is the account
    /// a deleted message is from. Without the queue (no Twitch API) it is performed as usual.
    pub fn moderate(&self, action: Action, sender_id: &str) {
        enforce::moderate(self.enforcer.as_ref(), action, sender_id, &|a| {
            self.perform(a)
        });
    }

    /// A script's integration call: a refusal is logged, naming the integration and the call.
    fn integration(&self, call: Call) {
        let (target, name) = (call.subsystem(), call.name());
        if let Err(e) = self.call(call) {
            warn!("{target}.{name}: {e}");
        }
    }

    /// Calls an integration (for scripts and the console alike). A Discord message or a ZeroMQ
    /// publication it accepted is shown in the live log as sent, like chat.
    ///
    /// # Errors
    /// The integration's refusal (off, busy, a name it does not know).
    pub fn call(&self, call: Call) -> Result<(), CallError> {
        let echo = self
            .log
            .as_ref()
            .filter(|log| log.receiver_count() > 0)
            .and_then(|log| sent_echo(&call).map(|e| (log, e)));
        self.integrations.call(call)?;
        if let Some((log, sent)) = echo {
            let _ = log.send(sent);
        }
        Ok(())
    }

    /// Calls an integration by name, with the call's data as JSON: the console's way, as its
    /// routes name what they call. The data gets the checks a script's call gets.
    ///
    /// # Errors
    /// The call's refusal by [`Call::parse`] (unknown call, bad data) or the integration's.
    pub fn call_integration(
        &self,
        target: &str,
        call: &str,
        data: serde_json::Value,
    ) -> Result<(), CallError> {
        self.call(Call::parse(target, call, data)?)
    }

    /// Twitch API calls scripts ask for (`ctx.twitch.shoutout(user)`).
    fn helix_call(&self, call: HelixCall) {
        let Some(helix) = self.helix.clone() else {
            warn!("cannot shoutout: the Twitch API is off (run `twitch-bot auth`)");
            return;
        };
        // A script's shout-out is sent to chat: it waits at chat's priority.
        let helix = helix.at(Priority::Chat);
        tokio::spawn(async move {
            let HelixCall::Shoutout { login } = call;
            let result = match helix.users(&[login.as_str()]).await {
                Ok(users) => match users.first() {
                    Some(user) => helix.shoutout(&user.id).await,
                    None => {
                        warn!("cannot shout out {login}: no such Twitch user");
                        return;
                    }
                },
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                warn!("Twitch refused the shoutout: {e}");
            }
        });
    }

    /// Carries out moderation's decision about `msg`: bans, timeouts and deletes to the
    /// action queue, the `warn` step's message as a native warning or in chat's warning lane.
    pub fn punish(&self, decision: &crate::moderation::Decision, msg: &ChatMessage) {
        enforce::punish(
            self.enforcer.as_ref(),
            decision,
            msg,
            &|w| self.warn(w),
            &|a| self.perform(a),
        );
    }

    /// The ladder's `warn` step for the account `user_id`: Twitch's native warning when it is
    /// on (through moderation's action queue, which falls back to the chat line if Twitch
    /// refuses), else the chat line in chat's low-priority lane.
    pub fn warn_user(&self, warning: Warning, user_id: &str) {
        enforce::warn_user(self.enforcer.as_ref(), warning, user_id, &|w| self.warn(w));
    }

    /// Queues a moderation warning in chat's low-priority lane (dropped, counted, when full).
    pub fn warn(&self, warning: Warning) {
        if let Some(chat) = &self.chat {
            chat.warn(warning);
        }
    }

    fn chat(&self, msg: Outgoing) {
        let Some(chat) = &self.chat else {
            warn!(
                "chat is switched off (--nochat): not sending {:?}",
                msg.text
            );
            return;
        };
        if let Some(log) = &self.log
            && log.receiver_count() > 0
        {
            let _ = log.send(LiveEvent::Sent {
                via: "chat",
                target: msg.channel.to_string(),
                text: msg.text.clone(),
            });
        }
        match chat.send(msg) {
            Ok(()) => {}
            Err(SendError::Full) => warn!("chat's outgoing queue is full: a message was dropped"),
            Err(SendError::Closed) => debug!("chat is shut down: message dropped"),
        }
    }
}

/// The live log's line for a message an integration sends: Discord's text to its target (the
/// default webhook or channel when none is named), ZeroMQ's data (as JSON) under its topic.
fn sent_echo(call: &Call) -> Option<LiveEvent> {
    match call {
        Call::Discord(DiscordCall::Send { target, text }) => Some(LiveEvent::Sent {
            via: "discord",
            target: if target.is_empty() {
                "default".to_string()
            } else {
                target.clone()
            },
            text: text.clone(),
        }),
        Call::Zmq(ZmqCall::Publish { topic, data }) => Some(LiveEvent::Sent {
            via: "zmq",
            target: topic.clone(),
            text: data.to_string(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{ObsCall, SoundCall};
    use crate::integrations::{Hub, Integration};
    use crate::subsystems::Subsystem;
    use serde_json::json;
    use std::sync::Mutex;

    /// Takes every call for its subsystem and keeps it; refuses a Discord target named `nope`.
    struct Keeping(Subsystem, Mutex<Vec<Call>>);

    impl Integration for Keeping {
        fn subsystem(&self) -> Subsystem {
            self.0
        }
        fn call(&self, call: Call) -> Result<(), CallError> {
            if let Call::Discord(DiscordCall::Send { target, .. }) = &call
                && target == "nope"
            {
                return Err(CallError::BadData("no webhook `nope`".into()));
            }
            self.1
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(call);
            Ok(())
        }
    }

    fn keeping(s: Subsystem) -> Arc<Keeping> {
        Arc::new(Keeping(s, Mutex::new(Vec::new())))
    }

    #[test]
    fn discord_and_zeromq_sends_show_in_the_live_log_as_sent() {
        let (log, mut rx) = broadcast::channel(8);
        let outputs = Outputs {
            log: Some(log),
            integrations: Hub::new([
                keeping(Subsystem::Discord) as Arc<dyn Integration>,
                keeping(Subsystem::Zmq),
                keeping(Subsystem::Obs),
            ]),
            ..Outputs::default()
        };
        let sent = |e: LiveEvent| match e {
            LiveEvent::Sent { via, target, text } => (via, target, text),
            other => panic!("not a sent line: {other:?}"),
        };
        outputs
            .call_integration("discord", "send", json!({"text": " gg "}))
            .unwrap();
        assert_eq!(
            sent(rx.try_recv().unwrap()),
            ("discord", "default".into(), "gg".into())
        );
        outputs
            .call_integration(
                "discord",
                "send",
                json!({"text": "clip!", "webhook": "clips"}),
            )
            .unwrap();
        assert_eq!(
            sent(rx.try_recv().unwrap()),
            ("discord", "clips".into(), "clip!".into())
        );
        outputs
            .call_integration(
                "zmq",
                "publish",
                json!({"topic": "alerts", "data": {"n": 1}}),
            )
            .unwrap();
        assert_eq!(
            sent(rx.try_recv().unwrap()),
            ("zmq", "alerts".into(), r#"{"n":1}"#.into())
        );
        // Other integrations' calls and refused calls are not messages sent.
        outputs
            .call_integration("obs", "set_scene", json!({"scene": "x"}))
            .unwrap();
        assert!(
            outputs
                .call_integration("discord", "nope", json!({"text": "x"}))
                .is_err()
        );
        assert!(
            outputs
                .call_integration("discord", "send", json!({"text": "x", "target": "nope"}))
                .is_err()
        );
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn the_consoles_calls_by_name_reach_the_integration_typed() {
        let obs = keeping(Subsystem::Obs);
        let outputs = Outputs {
            integrations: Hub::new([obs.clone() as Arc<dyn Integration>]),
            ..Outputs::default()
        };
        outputs
            .call_integration("obs", "set_scene", json!({"scene": "BRB"}))
            .unwrap();
        outputs
            .call_integration("obs", "connect", serde_json::Value::Null)
            .unwrap();
        assert_eq!(
            *obs.1.lock().unwrap(),
            [
                Call::Obs(ObsCall::SetScene {
                    scene: "BRB".into()
                }),
                Call::ObsLink(crate::action::ObsLink::Connect)
            ]
        );
        // Bad data is refused before the integration sees it, naming the call and the field.
        let Err(CallError::BadData(e)) =
            outputs.call_integration("obs", "set_scene", json!({"scene": " "}))
        else {
            panic!("an empty scene is refused");
        };
        assert!(e.contains("obs.set_scene") && e.contains("`scene`"), "{e}");
        assert_eq!(
            outputs.call_integration("obs", "explode", json!({})),
            Err(CallError::UnknownCall {
                integration: "obs".into(),
                call: "explode".into()
            })
        );
        // An integration that does not run says so.
        assert_eq!(
            outputs.call_integration("sound", "skip", json!({})),
            Err(CallError::Unavailable("sound".into()))
        );
        assert_eq!(obs.1.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_scripts_typed_action_goes_to_its_integration() {
        let sound = keeping(Subsystem::Sound);
        let outputs = Outputs {
            integrations: Hub::new([sound.clone() as Arc<dyn Integration>]),
            ..Outputs::default()
        };
        outputs.perform(Action::Sound(SoundCall::Skip));
        // Not running: logged, not sent anywhere.
        outputs.perform(Action::Obs(ObsCall::StartRecording));
        assert_eq!(*sound.1.lock().unwrap(), [Call::Sound(SoundCall::Skip)]);
    }
}
