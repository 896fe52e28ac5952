//! The one bounded event queue between every source and the dispatcher.
//!
//! Back-pressure policy: the queue holds `queue.capacity` events. A producer that finds it full
//! waits for room ([`EventSender::send`]); for chat this stops reading the socket, so the kernel's
//! TCP window pushes back on the server instead of our memory growing. The dispatcher never
//! blocks on scripts or network calls (it hands them to workers with their own bounded queues),
//! so waits are short and memory stays bounded however fast chat floods. Producers whose events
//! may be dropped under load (the console's live log, for instance) use
//! [`EventSender::try_send`] and count what they drop.

use tokio::sync::mpsc;

use crate::event::Event;

/// The sending half, cheap to clone: one per source.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::Sender<Event>,
}

/// The receiving half, owned by the dispatcher.
#[derive(Debug)]
pub struct EventReceiver {
    rx: mpsc::Receiver<Event>,
}

/// The queue was closed: the dispatcher has stopped (shutdown).
#[derive(Debug, thiserror::Error)]
#[error("the event queue is closed")]
pub struct QueueClosed;

/// Creates the queue with room for `capacity` events (at least 1).
pub fn channel(capacity: usize) -> (EventSender, EventReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (EventSender { tx }, EventReceiver { rx })
}

impl EventSender {
    /// Queues `event`, waiting while the queue is full.
    ///
    /// # Errors
    /// [`QueueClosed`] once the dispatcher has stopped.
    pub async fn send(&self, event: Event) -> Result<(), QueueClosed> {
        self.tx.send(event).await.map_err(|_| QueueClosed)
    }

    /// Queues `event` if there is room now; gives it back otherwise.
    ///
    /// # Errors
    /// The event, when the queue is full or closed.
    pub fn try_send(&self, event: Event) -> Result<(), Event> {
        self.tx.try_send(event).map_err(|e| match e {
            mpsc::error::TrySendError::Full(ev) | mpsc::error::TrySendError::Closed(ev) => ev,
        })
    }
}

impl EventReceiver {
    /// The next event; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// Takes up to `limit` ready events into `buf` without waiting beyond the first.
    pub async fn recv_many(&mut self, buf: &mut Vec<Event>, limit: usize) -> usize {
        self.rx.recv_many(buf, limit).await
    }
}
