//! The one vocabulary: every source (chat, EventSub, integrations) turns what it sees into an
//! [`Event`], and the dispatcher, scripts, console and ZeroMQ consume nothing else. Timers and
//! the console are not sources: the timer task calls the script host directly, and the console
//! acts through the bot's outputs and the script host (its "Reload scripts" on a blocking
//! thread).
//! [`LiveEvent`] is a line of the live log (the console's, and the supervisor's restart notices):
//! an event received, something sent, or a notice.
//!
//! This module owns only data types; it must not know about sockets, storage or scripts. `chat`
//! holds chat's part (messages, chatters and roles, the room's news), `channel` the channel
//! events (follows, subs, raids, rewards, …), `testing` the builders tests use.

use std::sync::Arc;

use serde::Serialize;

mod channel;
mod chat;
#[cfg(any(test, feature = "test-support"))]
mod testing;

pub use channel::*;
pub use chat::*;

/// Everything the bot reacts to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// A chat line (IRC PRIVMSG) in a channel the bot joined.
    Chat(Box<ChatMessage>),
    /// A USERNOTICE: subs, resubs, gifts, raids, announcements and kinds Twitch adds later.
    UserNotice(Box<UserNotice>),
    /// CLEARCHAT: a user was timed out or banned, or the whole chat was cleared.
    ClearChat(ClearChat),
    /// CLEARMSG: one message was deleted.
    ClearMsg(ClearMsg),
    /// ROOMSTATE: the channel's chat settings.
    RoomState(RoomState),
    /// USERSTATE / GLOBALUSERSTATE: the bot's own badges (they decide its rate class).
    UserState(UserState),
    /// NOTICE from the server (msg-id says what happened).
    Notice(Notice),
    /// JOIN / PART of a chatter (only with the membership capability, small rooms only).
    Membership(Membership),
    /// A connection came up, went down or is retrying.
    Connection(ConnectionChange),
    /// A channel event (follow, sub, cheer, raid, ...) from EventSub, or from IRC when EventSub
    /// is off. The dispatcher decides which source counts (one source of truth per event).
    Channel(Box<ChannelEvent>),
    /// Something that happened in OBS.
    Obs(ObsEvent),
}

/// What OBS reports (obs-websocket v5 events the bot listens to).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ObsEvent {
    /// The program scene changed.
    SceneChanged {
        /// The new program scene's name.
        scene: String,
    },
    /// Streaming started or stopped.
    StreamState {
        /// Whether OBS is streaming now.
        active: bool,
        /// obs-websocket's output state (`OBS_WEBSOCKET_OUTPUT_STARTED`, ...).
        state: String,
    },
    /// Recording started or stopped.
    RecordState {
        /// Whether OBS is recording now.
        active: bool,
        /// obs-websocket's output state.
        state: String,
    },
    /// An input was created, removed, renamed, muted, or its volume or settings changed.
    Input {
        /// The input's name.
        input: String,
        /// What changed: `created`, `removed`, `renamed`, `settings`, `active`, `showing`, `muted` or
        /// `volume`.
        change: String,
        /// The change's details as obs-websocket sent them.
        data: serde_json::Value,
    },
}

impl ObsEvent {
    /// The ZeroMQ topic and live-log name of this OBS event (`obs.<what>`).
    pub fn topic(&self) -> &'static str {
        match self {
            ObsEvent::SceneChanged { .. } => "obs.scene_changed",
            ObsEvent::StreamState { .. } => "obs.stream_state",
            ObsEvent::RecordState { .. } => "obs.record_state",
            ObsEvent::Input { .. } => "obs.input",
        }
    }
}

impl Event {
    /// The event's topic: a short dotted name used for logs, ZeroMQ topics and the console.
    pub fn topic(&self) -> &'static str {
        match self {
            Event::Chat(_) => "chat.message",
            Event::UserNotice(_) => "chat.usernotice",
            Event::ClearChat(_) => "chat.clear",
            Event::ClearMsg(_) => "chat.delete",
            Event::RoomState(_) => "chat.roomstate",
            Event::UserState(_) => "chat.userstate",
            Event::Notice(_) => "chat.notice",
            Event::Membership(_) => "chat.membership",
            Event::Connection(_) => "connection",
            Event::Channel(ev) => ev.kind.topic(),
            Event::Obs(ev) => ev.topic(),
        }
    }
}

/// The connections whose health the bot tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// The chat connection (IRC or WebSocket).
    Chat,
    /// The EventSub WebSocket.
    EventSub,
    /// The Twitch API (Helix).
    Helix,
    /// OBS through obs-websocket.
    Obs,
    /// Discord webhooks and bot.
    Discord,
    /// The ZeroMQ publisher.
    Zmq,
    /// Sound playback.
    Sound,
    /// Global hotkeys.
    Hotkeys,
    /// Desktop notifications.
    Notify,
    /// The web console's server itself (restarted under the supervisor when it fails).
    Console,
}

/// A connection's new state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionChange {
    /// Which connection changed.
    pub service: Service,
    /// What it changed to.
    pub state: ConnectionState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
/// A connection's state, as the health table and the console show it.
pub enum ConnectionState {
    /// Up and working.
    Connected,
    /// Lost; retrying after `retry_in_ms`.
    Reconnecting {
        /// Why it was lost.
        reason: String,
        /// Milliseconds until the next attempt.
        retry_in_ms: u64,
    },
    /// Stopped for good (switched off, or an error only the user can fix).
    Down {
        /// Why it stopped, with what to do when the user can fix it.
        reason: String,
    },
}

/// An item of the live event log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// Something the bot received.
    Event {
        /// The event's topic (as in ZeroMQ and `scripts/events/`).
        topic: &'static str,
        #[serde(serialize_with = "serialize_arc")]
        /// The event itself.
        event: Arc<Event>,
    },
    /// Something the bot sent: `via` is `chat`, `discord` or `zmq`.
    Sent {
        /// How it left: `chat`, `discord` or `zmq`.
        via: &'static str,
        /// Chat channel, Discord channel or ZeroMQ topic.
        target: String,
        /// What was sent.
        text: String,
    },
    /// A line of the bot's own news: reloads, warnings, errors.
    Notice {
        /// How much it matters: `info` or `warn`.
        level: &'static str,
        /// The news itself.
        text: String,
    },
}

impl LiveEvent {
    /// Wraps a received event.
    pub fn event(event: Arc<Event>) -> LiveEvent {
        LiveEvent::Event {
            topic: event.topic(),
            event,
        }
    }
}

// serde's `rc` feature is off in this package; one shared event is written the same as an owned one.
fn serialize_arc<S: serde::Serializer>(event: &Arc<Event>, s: S) -> Result<S::Ok, S::Error> {
    event.as_ref().serialize(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_map_to_the_highest_level() {
        let mut r = Roles::empty();
        assert_eq!(r.level(), Permission::Everyone);
        r.insert(Roles::SUBSCRIBER);
        assert_eq!(r.level(), Permission::Subscriber);
        r.insert(Roles::MODERATOR);
        assert_eq!(r.level(), Permission::Moderator);
        assert_eq!(r.names(), vec!["moderator", "subscriber"]);
    }

    #[test]
    fn shared_chat_from_another_room_is_flagged() {
        let mut m = ChatMessage {
            id: "a".into(),
            channel: "c".into(),
            room_id: "1".into(),
            sender: Chatter::default(),
            text: "hi".into(),
            action: false,
            emotes: vec![],
            bits: 0,
            first_msg: false,
            returning_chatter: false,
            sub_months: 0,
            reply_parent: None,
            source_room_id: Some("1".into()),
            source_id: None,
            sent_ms: 0,
        };
        assert!(!m.is_from_other_channel());
        m.source_room_id = Some("2".into());
        assert!(m.is_from_other_channel());
    }
}
