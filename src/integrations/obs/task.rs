//! The one task that owns the OBS connection: connects (now, or once the stream goes online),
//! retries with a capped backoff while OBS is closed, carries out queued calls, and turns OBS's
//! events into [`Event::Obs`]. It never exits on a peer error — only on shutdown.

use std::time::Duration;

use futures_util::StreamExt;
use obws::events::Event as ObwsEvent;
use obws::requests::inputs::{InputId, SetSettings};
use obws::requests::scene_items::{Id as SceneItemQuery, SetEnabled};
use obws::requests::scenes::SceneId;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::ObsCall;
use super::events::from_obws;
use super::raw;
use crate::event::{ConnectionState, Event, Service};
use crate::integrations::StartContext;

/// What the integration hands to the task.
#[derive(Debug)]
pub enum Command {
    Call(ObsCall),
    /// The console's Connect button: connect now (and keep reconnecting).
    Connect,
    /// The console's Disconnect button: close and stay closed until Connect.
    Disconnect,
    /// The stream went online (`obs.connect: live`).
    StreamOnline,
}

/// How long a connection attempt may take before OBS counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call may wait for OBS's answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The health panel's reason after the console's Disconnect.
const CONSOLE_DISCONNECTED: &str = "disconnected from the console; press Connect to reconnect";
/// A connection that lasted this long resets the backoff when it drops.
const STABLE: Duration = Duration::from_secs(10);
/// The first wait after a failed attempt; it doubles up to `obs.max_backoff_secs`.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// What the task was started with.
pub struct Setup {
    pub host: String,
    pub port: u16,
    pub password: String,
    /// `obs.connect: start`; otherwise wait for [`Command::StreamOnline`] or Connect.
    pub connect_at_start: bool,
    pub max_backoff: Duration,
    pub ctx: StartContext,
}

/// Why an attempt failed, in the words the streamer should read.
#[derive(Debug, Clone, PartialEq)]
enum Failure {
    /// OBS is closed, or its WebSocket server is off: retried quietly.
    Unreachable,
    /// Only the user can fix it (password, OBS version): retried slowly, reported as Down.
    NeedsUser(String),
    /// Anything else: retried with backoff.
    Other(String),
}

/// How a connected session ended.
enum End {
    Lost,
    Disconnected,
    Shutdown,
}

/// Why calls are dropped while not connected.
enum Idle {
    /// Never connected in this mode yet, or disconnected from the console.
    Waiting(&'static str),
    Retrying,
}

struct Task {
    setup: Setup,
    rx: mpsc::Receiver<Command>,
    /// The last state shown in the health panel (to report changes only, not every retry).
    shown: Option<ConnectionState>,
    /// Whether the current outage has been warned about (one warning, then debug logs).
    warned: bool,
}

/// Runs until shutdown.
pub async fn run(setup: Setup, rx: mpsc::Receiver<Command>) {
    let want = setup.connect_at_start;
    let mut task = Task {
        setup,
        rx,
        shown: None,
        warned: false,
    };
    task.main(want).await;
}

impl Task {
    fn addr(&self) -> String {
        format!("{}:{}", self.setup.host, self.setup.port)
    }

    async fn main(&mut self, mut want: bool) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            if !want {
                let why = if self.setup.connect_at_start {
                    "disconnected from the console"
                } else {
                    "waiting for the stream to go online (obs.connect: live)"
                };
                match self.idle(why).await {
                    Some(()) => {
                        want = true;
                        backoff = FIRST_BACKOFF;
                    }
                    None => return,
                }
            }
            // An attempt at a host that does not answer may take seconds: shutdown wins.
            let shutdown = self.setup.ctx.shutdown.clone();
            let attempt = tokio::select! {
                attempt = self.connect() => attempt,
                () = shutdown.cancelled() => return,
            };
            match attempt {
                Ok(client) => {
                    self.warned = false;
                    info!("OBS: connected to {}", self.addr());
                    self.show(ConnectionState::Connected);
                    let since = tokio::time::Instant::now();
                    match self.session(client).await {
                        End::Shutdown => return,
                        End::Disconnected => {
                            info!("OBS: disconnected from the console");
                            self.show(ConnectionState::Down {
                                reason: CONSOLE_DISCONNECTED.into(),
                            });
                            want = false;
                        }
                        End::Lost => {
                            // A connection that held for a while starts the backoff afresh;
                            // one OBS drops at once keeps growing it, so a server that
                            // accepts and then kicks the bot is not hammered.
                            if since.elapsed() >= STABLE {
                                backoff = FIRST_BACKOFF;
                            }
                            let delay = backoff;
                            backoff = (backoff * 2).min(self.setup.max_backoff);
                            // The warning comes with the first failed attempt, if any.
                            info!("OBS closed the connection; reconnecting");
                            self.warned = false;
                            self.show(ConnectionState::Reconnecting {
                                reason: "OBS closed the connection".into(),
                                retry_in_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                            });
                            match self.pause(delay).await {
                                Pause::Elapsed => {}
                                Pause::ConnectNow => backoff = FIRST_BACKOFF,
                                Pause::Disconnect => {
                                    self.show(ConnectionState::Down {
                                        reason: CONSOLE_DISCONNECTED.into(),
                                    });
                                    want = false;
                                }
                                Pause::Shutdown => return,
                            }
                        }
                    }
                }
                Err(failure) => {
                    let delay = match &failure {
                        Failure::NeedsUser(_) => self.setup.max_backoff,
                        _ => backoff,
                    };
                    self.failed(&failure, delay);
                    backoff = (backoff * 2).min(self.setup.max_backoff);
                    match self.pause(delay).await {
                        Pause::Elapsed => {}
                        Pause::ConnectNow => backoff = FIRST_BACKOFF,
                        Pause::Disconnect => {
                            self.show(ConnectionState::Down {
                                reason: CONSOLE_DISCONNECTED.into(),
                            });
                            want = false;
                        }
                        Pause::Shutdown => return,
                    }
                }
            }
        }
    }

    /// Reports a state to the health panel when it differs from the last one shown (a new
    /// `retry_in_ms` alone is not a change).
    fn show(&mut self, state: ConnectionState) {
        let same = match (&self.shown, &state) {
            (
                Some(ConnectionState::Reconnecting { reason: a, .. }),
                ConnectionState::Reconnecting { reason: b, .. },
            ) => a == b,
            (Some(old), new) => old == new,
            (None, _) => false,
        };
        if !same {
            self.setup.ctx.report(Service::Obs, state.clone());
            self.shown = Some(state);
        }
    }

    fn failed(&mut self, failure: &Failure, delay: Duration) {
        let retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        match failure {
            Failure::Unreachable => {
                let reason = format!("OBS is not reachable at {}", self.addr());
                if self.warned {
                    debug!("{reason}; next try in {} ms", retry_in_ms);
                } else {
                    warn!("{reason} — will keep trying");
                    self.warned = true;
                }
                self.show(ConnectionState::Reconnecting {
                    reason,
                    retry_in_ms,
                });
            }
            Failure::NeedsUser(reason) => {
                // The health panel's Down is warned by the dispatcher once per change.
                debug!("OBS: {reason}; next try in {} ms", retry_in_ms);
                self.show(ConnectionState::Down {
                    reason: reason.clone(),
                });
            }
            Failure::Other(reason) => {
                if self.warned {
                    debug!("OBS: {reason}; next try in {} ms", retry_in_ms);
                } else {
                    warn!("OBS: {reason} — will keep trying");
                    self.warned = true;
                }
                self.show(ConnectionState::Reconnecting {
                    reason: reason.clone(),
                    retry_in_ms,
                });
            }
        }
    }

    async fn connect(&self) -> Result<obws::Client, Failure> {
        let setup = &self.setup;
        let password = (!setup.password.is_empty()).then_some(setup.password.as_str());
        let config = obws::client::ConnectConfig {
            host: setup.host.as_str(),
            port: setup.port,
            password,
            event_subscriptions: None,
            broadcast_capacity: 256,
            connect_timeout: CONNECT_TIMEOUT,
            dangerous: None,
        };
        // The timeout also covers the handshake and the version check after the socket opens.
        match tokio::time::timeout(
            CONNECT_TIMEOUT * 2,
            obws::Client::connect_with_config(config),
        )
        .await
        {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(classify(e, setup.password.is_empty())),
            Err(_) => Err(Failure::Other(
                "OBS accepted the connection but did not finish the handshake".into(),
            )),
        }
    }

    /// Waits for Connect (or the stream going online). `None` on shutdown.
    async fn idle(&mut self, why: &'static str) -> Option<()> {
        loop {
            let cmd = tokio::select! {
                _ = self.setup.ctx.shutdown.cancelled() => return None,
                cmd = self.rx.recv() => cmd?,
            };
            match cmd {
                Command::Connect | Command::StreamOnline => return Some(()),
                Command::Disconnect => {}
                Command::Call(call) => dropped(&call, Idle::Waiting(why)),
            }
        }
    }

    /// Waits `delay` before the next attempt, still answering commands.
    async fn pause(&mut self, delay: Duration) -> Pause {
        let until = tokio::time::Instant::now() + delay;
        loop {
            let cmd = tokio::select! {
                _ = self.setup.ctx.shutdown.cancelled() => return Pause::Shutdown,
                _ = tokio::time::sleep_until(until) => return Pause::Elapsed,
                cmd = self.rx.recv() => match cmd {
                    Some(cmd) => cmd,
                    None => return Pause::Shutdown,
                },
            };
            match cmd {
                Command::Connect => return Pause::ConnectNow,
                Command::Disconnect => return Pause::Disconnect,
                Command::StreamOnline => {}
                Command::Call(call) => dropped(&call, Idle::Retrying),
            }
        }
    }

    async fn session(&mut self, mut client: obws::Client) -> End {
        let Ok(mut events) = client.events() else {
            return End::Lost;
        };
        loop {
            tokio::select! {
                _ = self.setup.ctx.shutdown.cancelled() => {
                    client.disconnect().await;
                    return End::Shutdown;
                }
                cmd = self.rx.recv() => match cmd {
                    None => {
                        client.disconnect().await;
                        return End::Shutdown;
                    }
                    Some(Command::Call(call)) => {
                        // A hung OBS must not hold up the bot's shutdown.
                        let shutdown = self.setup.ctx.shutdown.clone();
                        tokio::select! {
                            () = self.perform(&client, call) => {}
                            () = shutdown.cancelled() => {
                                client.disconnect().await;
                                return End::Shutdown;
                            }
                        }
                    }
                    Some(Command::Disconnect) => {
                        client.disconnect().await;
                        return End::Disconnected;
                    }
                    Some(Command::Connect | Command::StreamOnline) => {}
                },
                event = events.next() => match event {
                    Some(ObwsEvent::ServerStopped) => return End::Lost,
                    Some(event) => {
                        if let Some(ours) = from_obws(&event) {
                            debug!(topic = ours.topic(), "OBS event");
                            if self.setup.ctx.events.send(Event::Obs(ours)).await.is_err() {
                                return End::Shutdown; // the dispatcher has stopped
                            }
                        }
                    }
                    // obws ends its stream when this listener fell behind (events were lost)
                    // or when the connection is gone; a new listener tells which.
                    None => match client.events() {
                        Ok(fresh) => {
                            warn!("OBS: some OBS events were missed (the bot was busy)");
                            events = fresh;
                        }
                        Err(_) => return End::Lost,
                    },
                },
            }
        }
    }

    async fn perform(&self, client: &obws::Client, call: ObsCall) {
        let what = call.describe();
        match tokio::time::timeout(CALL_TIMEOUT, self.carry_out(client, call)).await {
            Ok(Ok(None)) => debug!("OBS: {what} done"),
            // Only the field names: an answer may hold a secret (GetStreamServiceSettings holds
            // the stream key), and the log is shown in the console and kept in files.
            Ok(Ok(Some(answer))) => info!("OBS: {what} answered {}", raw::shape(&answer)),
            Ok(Err(e)) => warn!("OBS refused {what}: {e}"),
            Err(_) => warn!(
                "OBS did not answer {what} within {} s",
                CALL_TIMEOUT.as_secs()
            ),
        }
    }

    /// Sends one call; `Some(answer)` for requests by name.
    async fn carry_out(
        &self,
        client: &obws::Client,
        call: ObsCall,
    ) -> Result<Option<Value>, String> {
        match call {
            ObsCall::SetScene { scene } => client
                .scenes()
                .set_current_program_scene(SceneId::Name(&scene))
                .await
                .map_err(api_error)?,
            ObsCall::SetSourceVisible {
                scene,
                source,
                visible,
            } => {
                let item_id = client
                    .scene_items()
                    .id(SceneItemQuery {
                        scene: SceneId::Name(&scene),
                        source: &source,
                        search_offset: None,
                    })
                    .await
                    .map_err(api_error)?;
                client
                    .scene_items()
                    .set_enabled(SetEnabled {
                        scene: SceneId::Name(&scene),
                        item_id,
                        enabled: visible,
                    })
                    .await
                    .map_err(api_error)?;
            }
            ObsCall::SetText { source, text } => client
                .inputs()
                .set_settings(SetSettings {
                    input: InputId::Name(&source),
                    settings: &json!({ "text": text }),
                    overlay: Some(true),
                })
                .await
                .map_err(api_error)?,
            ObsCall::StartRecording => client.recording().start().await.map_err(api_error)?,
            ObsCall::StopRecording => {
                let path = client.recording().stop().await.map_err(api_error)?;
                info!("OBS: the recording was saved to {path}");
            }
            ObsCall::StartStreaming => client.streaming().start().await.map_err(api_error)?,
            ObsCall::StopStreaming => client.streaming().stop().await.map_err(api_error)?,
            ObsCall::Request { name, data } => {
                let setup = &self.setup;
                let answer = raw::request(
                    &setup.host,
                    setup.port,
                    &setup.password,
                    &name,
                    &data,
                    CALL_TIMEOUT,
                )
                .await
                .map_err(|e| e.to_string())?;
                return Ok(Some(answer));
            }
        }
        Ok(None)
    }
}

enum Pause {
    Elapsed,
    ConnectNow,
    Disconnect,
    Shutdown,
}

fn dropped(call: &ObsCall, why: Idle) {
    let why = match why {
        Idle::Waiting(why) => why,
        Idle::Retrying => "OBS is not reachable yet",
    };
    warn!(
        "OBS is not connected ({why}): {} was dropped",
        call.describe()
    );
}

/// OBS's own words for a refused request.
fn api_error(e: obws::error::Error) -> String {
    match e {
        obws::error::Error::Api { code, message } => match message {
            Some(message) => format!("{message} ({code:?})"),
            None => format!("{code:?}"),
        },
        other => with_sources(&other),
    }
}

/// An error and its causes on one line.
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn classify(e: obws::error::Error, no_password: bool) -> Failure {
    use obws::client::HandshakeError;
    use obws::error::Error;
    match &e {
        Error::Connect(_) | Error::Timeout => Failure::Unreachable,
        Error::Handshake(HandshakeError::ConnectionClosed(Some(details)))
            if u16::from(details.code) == 4009 =>
        {
            Failure::NeedsUser(if no_password {
                "OBS asks for a password: set obs_password in configs/secrets.yaml to the one \
                 in OBS → Tools → WebSocket Server Settings"
                    .into()
            } else {
                "OBS refused the password: obs_password in configs/secrets.yaml does not match \
                 OBS → Tools → WebSocket Server Settings"
                    .into()
            })
        }
        Error::ObsStudioVersion(version, _) => Failure::NeedsUser(format!(
            "OBS {version} is too old: the bot needs OBS 30.2 or newer (obs-websocket 5.5)"
        )),
        Error::ObsWebsocketVersion(version, _) => Failure::NeedsUser(format!(
            "obs-websocket {version} does not fit: the bot needs obs-websocket 5.5 or newer \
             5.x (OBS 30.2+)"
        )),
        _ => Failure::Other(with_sources(&e)),
    }
}
