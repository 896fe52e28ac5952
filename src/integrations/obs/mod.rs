//! OBS through obs-websocket v5 (obws 0.15; OBS 30.2 or newer).
//!
//! One task owns the connection (`task`): it connects at start or once the stream goes online
//! (`obs.connect`), retries quietly with a capped backoff while OBS is closed, and reconnects
//! after OBS closes. Scripts' and the console's calls are checked when they are made
//! ([`crate::action::ObsCall`]) and queued
//! to that task; a call made while OBS is not connected is logged and dropped, never kept for
//! later (a scene switch replayed minutes later would surprise the streamer). OBS's events
//! become [`crate::event::Event::Obs`] in the one queue (`events`). Requests by name go over a
//! short connection of their own (`raw`), as obws has no untyped request.
//!
//! An OBS event obws cannot parse (a field it does not expect, or an event type newer than
//! obws 0.15 that carries data) does not end the connection: obws's reader logs it at error
//! level ("failed handling message") and goes on with the next message. `tests.rs` checks this
//! against a stand-in server.

mod events;
pub(crate) mod raw;
mod task;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Call, CallError, Integration, StartContext, Started};
use crate::action::ObsLink;
use crate::config::integrations::ObsConnect;
use crate::event::{ChannelEventKind, Event};
use crate::subsystems::Subsystem;

pub use crate::action::ObsCall;
use task::Command;

/// Calls waiting for the OBS task before new ones are refused as busy.
const QUEUE: usize = 64;

/// The OBS integration, as the hub sees it: a handle to the task.
pub struct Obs {
    tx: mpsc::Sender<Command>,
    /// `obs.connect: live`: the stream going online connects.
    connect_when_live: bool,
}

impl Obs {
    fn queue(&self, cmd: Command) -> Result<(), CallError> {
        self.tx.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => CallError::Busy("OBS".into()),
            mpsc::error::TrySendError::Closed(_) => CallError::Unavailable("OBS".into()),
        })
    }
}

impl Integration for Obs {
    fn subsystem(&self) -> Subsystem {
        Subsystem::Obs
    }

    fn call(&self, call: Call) -> Result<(), CallError> {
        match call {
            Call::ObsLink(ObsLink::Connect) => self.queue(Command::Connect),
            Call::ObsLink(ObsLink::Disconnect) => self.queue(Command::Disconnect),
            Call::Obs(call) => self.queue(Command::Call(call)),
            other => Err(other.not_for(Subsystem::Obs)),
        }
    }

    fn wants_events(&self) -> bool {
        self.connect_when_live
    }

    fn observe(&self, event: &Arc<Event>) {
        if let Event::Channel(ev) = event.as_ref()
            && matches!(ev.kind, ChannelEventKind::StreamOnline { .. })
        {
            // A full queue means the task is busy with calls; it will see the next online.
            let _ = self.tx.try_send(Command::StreamOnline);
        }
    }
}

/// Starts the OBS task (OBS is on unless `--noobs`).
pub fn start(ctx: &StartContext) -> Option<Started> {
    let config = &ctx.config.bot.obs;
    let (tx, rx) = mpsc::channel(QUEUE);
    let setup = task::Setup {
        host: config.host.clone(),
        port: config.port,
        password: ctx.config.secrets.obs_password.clone(),
        connect_at_start: config.connect == ObsConnect::Start,
        max_backoff: Duration::from_secs(config.max_backoff_secs.max(1)),
        ctx: ctx.clone(),
    };
    let task = tokio::spawn(task::run(setup, rx));
    Some(Started {
        integration: Arc::new(Obs {
            tx,
            connect_when_live: config.connect == ObsConnect::Live,
        }),
        task: Some(task),
    })
}

#[cfg(test)]
mod tests;
