//! EventSub over WebSocket: one socket at `twitch.eventsub_url` that must say welcome within
//! [`HANDSHAKE_TIMEOUT`], subscriptions created with the broadcaster's token on every new session
//! (retried while Helix fails), a keepalive watchdog, jittered reconnects that never give up,
//! `session_reconnect` without losing a notification (only to the configured host's domain),
//! deduplication by message id, and notifications turned into [`ChannelEvent`]s. The channel
//! session also watches `channel.moderator.add` / `.remove` (with the broadcaster's
//! `moderation:read`) and tells the bot's chat at once when the bot itself is made or unmade a
//! moderator, whichever chat transport runs.
//!
//! Files: `client` (the socket, its sessions and reconnects), `moderators` (the bot's own
//! moderator status), `subscriptions` (which version, scope and condition each type takes),
//! `decode` (the wire format into events) and [`chat`] (the bot's own chat session's
//! notifications into the events IRC produces). The IRC USERNOTICE side of the same events
//! lives in `crate::twitch::irc::channel_events`.

pub mod chat;
mod client;
mod decode;
mod moderators;
mod subscriptions;

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

pub use crate::config::api::{DEFAULT_SUBSCRIPTIONS, EventSubConfig};
pub use crate::twitch::irc::{channel_event_from_chat, channel_event_from_usernotice};
pub use client::{
    BotRoles, ChatReadSettings, HANDSHAKE_TIMEOUT, reconnect_allowed, spawn, spawn_chat,
};
pub use decode::{EventSubMessage, channel_event_from_notification, decode};
pub use moderators::{ModeratorWatch, spawn_watching_moderators};
pub use subscriptions::{
    MODERATOR_TYPES, condition, may_read_moderators, subscriptions_url, version_and_scope,
};

use compact_str::CompactString;
use tokio::sync::watch;

#[cfg(doc)]
use crate::event::ChannelEvent;

/// Decides whether a notification id is new. The default is in memory; the integrator can back
/// it with the persistent store so a restart does not replay an event.
pub trait Dedup: Send + Sync {
    /// `true` the first time `id` is seen, `false` afterwards.
    fn first_time(&self, id: &str) -> bool;
}

/// A bounded in-memory [`Dedup`]: remembers the newest `capacity` ids.
#[derive(Debug)]
pub struct MemoryDedup {
    inner: Mutex<(HashSet<CompactString>, VecDeque<CompactString>)>,
    capacity: usize,
}

impl MemoryDedup {
    /// A window remembering the newest `capacity` ids (at least one).
    pub fn new(capacity: usize) -> MemoryDedup {
        MemoryDedup {
            inner: Mutex::default(),
            capacity: capacity.max(1),
        }
    }
}

impl Dedup for MemoryDedup {
    fn first_time(&self, id: &str) -> bool {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (set, order) = &mut *guard;
        if set.contains(id) {
            return false;
        }
        let id = CompactString::from(id);
        set.insert(id.clone());
        order.push_back(id);
        while order.len() > self.capacity {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        true
    }
}

/// Where and for whom to subscribe.
#[derive(Debug, Clone)]
pub struct EventSubSettings {
    /// `twitch.eventsub_url`.
    pub ws_url: String,
    /// `twitch.eventsub_subscriptions_url`, or `helix_url` + `/eventsub/subscriptions`.
    pub subscriptions_url: String,
    /// The channel whose events are subscribed to.
    pub broadcaster_id: String,
    /// `eventsub:` from bot.yaml.
    pub config: EventSubConfig,
}

/// What the running client reports, for the console and tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventSubStatus {
    /// The live session id, `None` while disconnected.
    pub session_id: Option<String>,
    /// Subscriptions created in this process, counting every session.
    pub created: u64,
    /// Types Twitch refused, with the reason (shown once; not retried).
    pub refused: Vec<(String, String)>,
    /// Revoked types with Twitch's reason.
    pub revoked: Vec<(String, String)>,
}

/// A handle on the running client.
#[derive(Debug, Clone)]
pub struct EventSubHandle {
    status: watch::Receiver<EventSubStatus>,
}

impl EventSubHandle {
    /// The status now.
    pub fn status(&self) -> EventSubStatus {
        self.status.borrow().clone()
    }

    /// A receiver that wakes on every status change.
    pub fn watch(&self) -> watch::Receiver<EventSubStatus> {
        self.status.clone()
    }
}

/// Why a socket ended.
#[derive(Debug, thiserror::Error)]
pub enum EventSubError {
    #[error("cannot connect: {0}")]
    /// The WebSocket could not be opened or failed.
    Connect(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("no message within the keepalive timeout")]
    /// Nothing arrived within the keepalive timeout.
    KeepaliveLost,
    #[error("the server closed the socket ({0})")]
    /// The server closed the socket (code and reason).
    Closed(String),
    #[error("the reconnect URL did not welcome us: {0}")]
    /// The `session_reconnect` URL did not welcome us.
    BadReconnect(String),
    #[error("no session_welcome within {} s of connecting", HANDSHAKE_TIMEOUT.as_secs())]
    /// No welcome within the handshake timeout.
    Handshake,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_remembers_a_bounded_window() {
        let d = MemoryDedup::new(2);
        assert!(d.first_time("a"));
        assert!(!d.first_time("a"));
        assert!(d.first_time("b"));
        assert!(d.first_time("c"));
        // "a" fell out of the window of 2.
        assert!(d.first_time("a"));
    }
}
