//! The peers next to the streamer's PC — OBS, Discord, ZeroMQ, sound, hotkeys and desktop
//! notifications. Each is started only when its flag allows, reports its state to the health
//! panel, takes typed calls ([`crate::action::Call`]) from scripts and the console, and can
//! never take the bot down: a missing or misbehaving peer is a warning and a retry.

pub mod discord;
pub mod hotkeys;
pub mod notify;
pub mod obs;
pub mod sound;
pub mod web;
pub mod zmq;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::event::{ConnectionChange, ConnectionState, Event, Service};
use crate::health::Health;
use crate::queue::EventSender;
use crate::subsystems::{Subsystem, Subsystems};

pub use crate::action::{Call, CallError};

/// One integration, as the app sees it.
pub trait Integration: Send + Sync + 'static {
    /// Which integration it is: [`Hub::call`] hands it the calls for that subsystem.
    fn subsystem(&self) -> Subsystem;

    /// Carries out a call. Never waits on the peer: the work is queued. A call for another
    /// integration is refused with [`Call::not_for`].
    ///
    /// # Errors
    /// A [`CallError`] when the call is not its own, needs what is not configured (a webhook
    /// or hotkey by a name that does not exist), or the queue is full.
    fn call(&self, call: Call) -> Result<(), CallError>;

    /// Whether [`Integration::observe`] wants every event (so the dispatcher shares it).
    fn wants_events(&self) -> bool {
        false
    }

    /// Sees every event the dispatcher handled. Must not wait: hand work to a task.
    fn observe(&self, _event: &Arc<Event>) {}
}

/// What a starting integration may use.
#[derive(Clone)]
pub struct StartContext {
    /// The configuration the bot started with.
    pub config: Arc<Config>,
    /// The data folder (crash log, stats).
    pub data_dir: PathBuf,
    /// Where OBS events go.
    pub events: EventSender,
    /// Where an integration records its connection state for the health panel.
    pub health: Health,
    /// Cancelled when the bot shuts down: tasks and threads end.
    pub shutdown: CancellationToken,
    /// The channel the bot joined (login, no `#`): Discord's go-live message links to it.
    pub channel: String,
    /// The Helix client, when the Twitch API runs: Discord's go-live message reads the
    /// stream's title and category through it.
    pub helix: Option<crate::twitch::helix::Helix>,
}

impl StartContext {
    /// Records a peer's state for the health panel and the live log.
    pub fn report(&self, service: Service, state: ConnectionState) {
        self.health.set(service, state.clone());
        let _ = self
            .events
            .try_send(Event::Connection(ConnectionChange { service, state }));
    }
}

/// A started integration and the task that runs it, if any.
pub struct Started {
    /// The handle calls and events go to.
    pub integration: Arc<dyn Integration>,
    /// The task that runs it, for the supervisor; `None` when it runs on its own thread.
    pub task: Option<JoinHandle<()>>,
}

/// The running integrations, by subsystem. Cheap to clone.
#[derive(Clone, Default)]
pub struct Hub {
    running: Arc<HashMap<Subsystem, Arc<dyn Integration>>>,
    observers: Arc<Vec<Arc<dyn Integration>>>,
}

impl Hub {
    /// Collects started integrations.
    pub fn new(started: impl IntoIterator<Item = Arc<dyn Integration>>) -> Hub {
        let all: Vec<_> = started.into_iter().collect();
        Hub {
            observers: Arc::new(all.iter().filter(|i| i.wants_events()).cloned().collect()),
            running: Arc::new(all.into_iter().map(|i| (i.subsystem(), i)).collect()),
        }
    }

    /// Whether `integration` runs.
    pub fn has(&self, integration: Subsystem) -> bool {
        self.running.contains_key(&integration)
    }

    /// The integrations that run: scripts may call these, the health panel shows them on.
    pub fn running(&self) -> Subsystems {
        self.running.keys().copied().collect()
    }

    /// Hands `call` to the integration it is for.
    ///
    /// # Errors
    /// [`CallError::Unavailable`] when that integration does not run, or its refusal.
    pub fn call(&self, call: Call) -> Result<(), CallError> {
        let target = call.subsystem();
        match self.running.get(&target) {
            Some(integration) => integration.call(call),
            None => Err(CallError::Unavailable(target.name().to_string())),
        }
    }

    /// Whether any integration wants to see events.
    pub fn wants_events(&self) -> bool {
        !self.observers.is_empty()
    }

    /// Shows `event` to every integration that wants it.
    pub fn observe(&self, event: &Arc<Event>) {
        for integration in self.observers.iter() {
            integration.observe(event);
        }
    }
}

/// Starts every integration in `enabled` (the other subsystems in it are not this module's).
/// One that cannot start says why once and stays off.
pub async fn start(
    ctx: &StartContext,
    enabled: Subsystems,
) -> (Hub, Vec<(&'static str, JoinHandle<()>)>) {
    let mut started = Vec::new();
    // ZeroMQ first: it binds its socket before anything publishes.
    let order = [
        Subsystem::Zmq,
        Subsystem::Obs,
        Subsystem::Discord,
        Subsystem::Sound,
        Subsystem::Hotkeys,
        Subsystem::Notify,
    ];
    for integration in order.into_iter().filter(|s| enabled.contains(*s)) {
        let s = match integration {
            Subsystem::Zmq => zmq::start(ctx).await,
            Subsystem::Obs => obs::start(ctx),
            Subsystem::Discord => discord::start(ctx),
            Subsystem::Sound => sound::start(ctx),
            Subsystem::Hotkeys => hotkeys::start(ctx),
            Subsystem::Notify => notify::start(ctx),
            Subsystem::Chat | Subsystem::EventSub | Subsystem::Timers | Subsystem::Console => None,
        };
        started.push((integration.name(), s));
    }
    let mut tasks = Vec::new();
    let mut running = Vec::new();
    for (name, s) in started {
        if let Some(s) = s {
            if let Some(task) = s.task {
                tasks.push((name, task));
            }
            running.push(s.integration);
        }
    }
    (Hub::new(running), tasks)
}
