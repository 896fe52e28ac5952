//! Connection health: the last known state of every connection (Twitch chat, EventSub, OBS,
//! …), written by the connections themselves and read by the dispatcher and the console.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::event::{ConnectionState, Service};

/// The last known state of every connection, shared with the console.
#[derive(Debug, Clone, Default)]
pub struct Health {
    inner: Arc<Mutex<HashMap<Service, ConnectionState>>>,
    /// One line of detail per connection (chat: the transport taken and why).
    notes: Arc<Mutex<HashMap<Service, String>>>,
}

impl Health {
    /// Records a connection's new state.
    pub fn set(&self, service: Service, state: ConnectionState) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(service, state);
    }

    /// Sets a connection's one-line note (kept until replaced).
    pub fn set_note(&self, service: Service, note: String) {
        self.notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(service, note);
    }

    /// A connection's note, if it has one.
    pub fn note(&self, service: Service) -> Option<String> {
        self.notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&service)
            .cloned()
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
