//! What the dispatcher and scripts ask the connections to do. Scripts never touch a socket:
//! they return `Action`s, and the app routes each one to the connection that owns it.

use compact_str::CompactString;
use serde::Serialize;

/// One thing to do in the outside world.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Send a chat message to a channel.
    Say {
        channel: CompactString,
        text: String,
    },
    /// Reply in a thread to the message `parent_id`.
    Reply {
        channel: CompactString,
        parent_id: CompactString,
        text: String,
    },
    /// A highlighted announcement (Helix).
    Announce {
        channel: CompactString,
        text: String,
        color: Option<CompactString>,
    },
    /// Time a user out (Helix).
    Timeout {
        channel: CompactString,
        user_id: CompactString,
        seconds: u32,
        reason: String,
    },
    /// Ban a user (Helix).
    Ban {
        channel: CompactString,
        user_id: CompactString,
        reason: String,
    },
    /// Delete one message (Helix).
    Delete {
        channel: CompactString,
        message_id: CompactString,
    },
    /// A script's call to an integration (`obs`, `discord`, `sound`, `hotkeys`, `zmq`, `helix`):
    /// `call` names the operation and `data` carries its arguments as JSON.
    Integration {
        target: CompactString,
        call: CompactString,
        data: serde_json::Value,
    },
}
