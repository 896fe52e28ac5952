//! The peers next to the streamer's PC — OBS, Discord, ZeroMQ, sound, hotkeys and desktop
//! notifications. Each is started only when its flag allows, reports its state to the health
//! panel, takes calls from scripts and the console by name, and can never take the bot down:
//! a missing or misbehaving peer is a warning and a retry.

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

use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::event::{ConnectionChange, ConnectionState, Event, Service};
use crate::health::Health;
use crate::queue::EventSender;

/// Why a call to an integration was refused at once (the peer's own answers come later, in
/// the log and the health panel).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("{0} is not available (switched off or not configured)")]
    Unavailable(String),
    #[error("{integration} has no call `{call}`")]
    UnknownCall { integration: String, call: String },
    #[error("{0}")]
    BadData(String),
    #[error("{0} is busy: the call was dropped")]
    Busy(String),
}

/// One integration, as the app sees it.
pub trait Integration: Send + Sync + 'static {
    /// The name scripts' actions use: `obs`, `discord`, `zmq`, `sound`, `hotkeys`, `notify`.
    fn name(&self) -> &'static str;

    /// Carries out a call by name (`set_scene`, `send`, `publish`, `play`, `press`, ...) with
    /// its arguments as JSON. Never waits on the peer: the work is queued.
    ///
    /// # Errors
    /// A [`CallError`] when the call is unknown, its data is wrong, or the queue is full.
    fn call(&self, call: &str, data: Value) -> Result<(), CallError>;

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
    pub config: Arc<Config>,
    /// The data folder (crash log, stats).
    pub data_dir: PathBuf,
    /// Where OBS events go.
    pub events: EventSender,
    pub health: Health,
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
    pub integration: Arc<dyn Integration>,
    pub task: Option<JoinHandle<()>>,
}

/// The running integrations, by name. Cheap to clone.
#[derive(Clone, Default)]
pub struct Hub {
    by_name: Arc<HashMap<&'static str, Arc<dyn Integration>>>,
    observers: Arc<Vec<Arc<dyn Integration>>>,
}

impl Hub {
    /// Collects started integrations.
    pub fn new(started: impl IntoIterator<Item = Arc<dyn Integration>>) -> Hub {
        let all: Vec<_> = started.into_iter().collect();
        Hub {
            observers: Arc::new(all.iter().filter(|i| i.wants_events()).cloned().collect()),
            by_name: Arc::new(all.into_iter().map(|i| (i.name(), i)).collect()),
        }
    }

    /// Whether `name` runs.
    pub fn has(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Calls `target`'s `call`.
    ///
    /// # Errors
    /// [`CallError::Unavailable`] when `target` does not run, or the integration's refusal.
    pub fn call(&self, target: &str, call: &str, data: Value) -> Result<(), CallError> {
        match self.by_name.get(target) {
            Some(integration) => integration.call(call, data),
            None => Err(CallError::Unavailable(target.to_string())),
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

    /// Which integrations scripts may call.
    pub fn for_scripts(&self) -> crate::scripting::Integrations {
        crate::scripting::Integrations {
            obs: self.has("obs"),
            discord: self.has("discord"),
            sound: self.has("sound"),
            hotkeys: self.has("hotkeys"),
            zmq: self.has("zmq"),
        }
    }
}

/// Which integrations the flags allow.
#[derive(Debug, Clone, Copy, Default)]
pub struct Enabled {
    pub obs: bool,
    pub discord: bool,
    pub zmq: bool,
    pub audio: bool,
    pub hotkeys: bool,
    pub notify: bool,
}

/// Starts every allowed integration. One that cannot start says why once and stays off.
pub async fn start(
    ctx: &StartContext,
    enabled: Enabled,
) -> (Hub, Vec<(&'static str, JoinHandle<()>)>) {
    let mut started = Vec::new();
    if enabled.zmq {
        started.push(("zmq", zmq::start(ctx).await));
    }
    if enabled.obs {
        started.push(("obs", obs::start(ctx)));
    }
    if enabled.discord {
        started.push(("discord", discord::start(ctx)));
    }
    if enabled.audio {
        started.push(("sound", sound::start(ctx)));
    }
    if enabled.hotkeys {
        started.push(("hotkeys", hotkeys::start(ctx)));
    }
    if enabled.notify {
        started.push(("notify", notify::start(ctx)));
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
