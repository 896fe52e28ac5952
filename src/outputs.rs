//! Where actions leave the bot: [`Outputs`] carries out every [`Action`] (chat lines, replies,
//! Twitch API calls, moderation through its action queue, integration calls) for the
//! dispatcher, the script host, text commands and the console alike, and shows what it sends in
//! the live log. [`ChatLink`] is chat's sending side, kept valid across chat restarts.

use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::broadcast;
use tracing::{debug, warn};

use crate::action::Action;
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
    pub chat: Option<ChatLink>,
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
            Action::Integration { target, call, data } if target == "helix" => {
                self.helix_call(&call, data)
            }
            Action::Integration { target, call, data } => {
                if let Err(e) = self.call_integration(&target, &call, data) {
                    warn!("{target}.{call}: {e}");
                }
            }
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

    /// Calls an integration (for scripts and the console alike). A Discord message or a ZeroMQ
    /// publication it accepted is shown in the live log as sent, like chat.
    ///
    /// # Errors
    /// The integration's refusal (off, busy, unknown call, bad data).
    pub fn call_integration(
        &self,
        target: &str,
        call: &str,
        data: serde_json::Value,
    ) -> Result<(), crate::integrations::CallError> {
        let echo = self
            .log
            .as_ref()
            .filter(|log| log.receiver_count() > 0)
            .and_then(|log| sent_echo(target, call, &data).map(|e| (log, e)));
        self.integrations.call(target, call, data)?;
        if let Some((log, sent)) = echo {
            let _ = log.send(sent);
        }
        Ok(())
    }

    /// Twitch API calls scripts ask for by name (`ctx.twitch.shoutout(user)`).
    fn helix_call(&self, call: &str, data: serde_json::Value) {
        let Some(helix) = self.helix.clone() else {
            warn!("cannot {call}: the Twitch API is off (run `twitch-bot auth`)");
            return;
        };
        // A script's shout-out is sent to chat: it waits at chat's priority.
        let helix = helix.at(Priority::Chat);
        let call = call.to_string();
        tokio::spawn(async move {
            let result = match call.as_str() {
                "shoutout" => {
                    let login = data["login"].as_str().unwrap_or_default().to_string();
                    match helix.users(&[login.as_str()]).await {
                        Ok(users) => match users.first() {
                            Some(user) => helix.shoutout(&user.id).await,
                            None => {
                                warn!("cannot shout out {login}: no such Twitch user");
                                return;
                            }
                        },
                        Err(e) => Err(e),
                    }
                }
                other => {
                    warn!("the Twitch API has no script call `{other}`");
                    return;
                }
            };
            if let Err(e) = result {
                warn!("Twitch refused the {call}: {e}");
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
fn sent_echo(target: &str, call: &str, data: &serde_json::Value) -> Option<LiveEvent> {
    let field = |k: &str| data.get(k).and_then(serde_json::Value::as_str);
    match (target, call) {
        ("discord", "send") => Some(LiveEvent::Sent {
            via: "discord",
            target: field("target")
                .or_else(|| field("webhook"))
                .filter(|t| !t.is_empty())
                .unwrap_or("default")
                .to_string(),
            text: field("text")?.trim().to_string(),
        }),
        ("zmq", "publish") => Some(LiveEvent::Sent {
            via: "zmq",
            target: field("topic")?.to_string(),
            text: data.get("data").map_or_else(String::new, |d| d.to_string()),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::{CallError, Hub, Integration};
    use serde_json::{Value, json};

    /// Accepts `send` and `publish`, refuses anything else, under the name it was given.
    struct Accepting(&'static str);

    impl Integration for Accepting {
        fn name(&self) -> &'static str {
            self.0
        }
        fn call(&self, call: &str, _data: Value) -> Result<(), CallError> {
            match call {
                "send" | "publish" => Ok(()),
                _ => Err(CallError::BadData("no".into())),
            }
        }
    }

    #[test]
    fn discord_and_zeromq_sends_show_in_the_live_log_as_sent() {
        let (log, mut rx) = broadcast::channel(8);
        let outputs = Outputs {
            log: Some(log),
            integrations: Hub::new([
                Arc::new(Accepting("discord")) as Arc<dyn Integration>,
                Arc::new(Accepting("zmq")),
                Arc::new(Accepting("obs")),
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
            .call_integration("obs", "send", json!({"text": "x"}))
            .unwrap();
        assert!(
            outputs
                .call_integration("discord", "nope", json!({"text": "x"}))
                .is_err()
        );
        assert!(rx.try_recv().is_err());
    }
}
