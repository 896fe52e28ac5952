//! The dispatcher: the one consumer of the event queue. For each event it keeps the bot's view of
//! the world current (connection health), runs moderation (Rust, before any script), then the
//! commands and scripts, and hands the resulting [`Action`]s to [`Outputs`].
//!
//! It never waits on the network or on a script: those run elsewhere and report back through
//! the queue, so one slow thing cannot stall chat.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::action::Action;
use crate::event::{ChatMessage, ConnectionState, Event, Service};
use crate::queue::EventReceiver;
use crate::twitch::chat::{ChatHandle, Outgoing, SendError};

/// Where actions go: the connections the app started. A missing one means switched off.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub chat: Option<ChatHandle>,
}

impl Outputs {
    /// Carries out one action, or logs why it cannot.
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
            other => {
                warn!("cannot carry out {other:?}: the Twitch API (Helix) is not available yet")
            }
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
        match chat.send(msg) {
            Ok(()) => {}
            Err(SendError::Full) => warn!("chat's outgoing queue is full: a message was dropped"),
            Err(SendError::Closed) => debug!("chat is shut down: message dropped"),
        }
    }
}

/// The last known state of every connection, shared with the console.
#[derive(Debug, Clone, Default)]
pub struct Health {
    inner: Arc<Mutex<HashMap<Service, ConnectionState>>>,
}

impl Health {
    /// Records a connection's new state.
    pub fn set(&self, service: Service, state: ConnectionState) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(service, state);
    }

    /// A connection's last known state.
    pub fn get(&self, service: Service) -> Option<ConnectionState> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&service)
            .cloned()
    }
}

/// The dispatcher's settings and state.
pub struct Dispatcher {
    /// The command prefix (`!`).
    prefix: String,
    outputs: Outputs,
    health: Health,
}

impl Dispatcher {
    /// A dispatcher sending through `outputs`.
    pub fn new(prefix: impl Into<String>, outputs: Outputs, health: Health) -> Dispatcher {
        Dispatcher {
            prefix: prefix.into(),
            outputs,
            health,
        }
    }

    /// Consumes events until the queue closes or `shutdown` fires; events already queued at
    /// shutdown are still handled.
    pub async fn run(mut self, mut rx: EventReceiver, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(256);
        loop {
            tokio::select! {
                biased;
                n = rx.recv_many(&mut batch, 256) => {
                    if n == 0 {
                        break;
                    }
                    for event in batch.drain(..) {
                        self.handle(event);
                    }
                }
                _ = shutdown.cancelled() => break,
            }
        }
    }

    /// Handles one event.
    pub fn handle(&mut self, event: Event) {
        match event {
            Event::Chat(msg) => self.on_chat(&msg),
            Event::Connection(change) => {
                match &change.state {
                    ConnectionState::Connected => info!("{:?}: connected", change.service),
                    ConnectionState::Reconnecting { reason, .. } => {
                        debug!("{:?}: reconnecting ({reason})", change.service);
                    }
                    ConnectionState::Down { reason } => {
                        warn!("{:?}: down ({reason})", change.service)
                    }
                }
                self.health.set(change.service, change.state);
            }
            Event::Notice(n) => debug!("notice {:?}: {}", n.msg_id, n.text),
            other => debug!(topic = other.topic(), "event"),
        }
    }

    fn on_chat(&mut self, msg: &ChatMessage) {
        if msg.is_from_other_channel() {
            // Shared Chat: shown in the log, never acted on (no command, moderation or points).
            debug!(
                "shared chat from room {}: {}: {}",
                msg.source_room_id.as_deref().unwrap_or_default(),
                msg.sender.login,
                msg.text
            );
            return;
        }
        let Some(rest) = msg.text.strip_prefix(self.prefix.as_str()) else {
            return;
        };
        let name = rest.split_whitespace().next().unwrap_or_default();
        if name.eq_ignore_ascii_case("ping") {
            self.outputs.perform(Action::Reply {
                channel: msg.channel.clone(),
                parent_id: msg.id.clone(),
                text: "pong".into(),
            });
        }
    }
}
