//! Starts every subsystem the flags allow, wires each to the one queue and the dispatcher, keeps
//! each long-lived task running under the [`Supervisor`] (restarted after a crash, or the
//! process ends with [`crate::exit::SOFTWARE`]), and shuts them all down (Ctrl-C / SIGTERM)
//! within two seconds without losing queued work.
//!
//! [`Bot::start`] reads top to bottom as the order things start in; each subsystem's start is
//! one `start` function in its own file here (`chat`, `scripts`, `moderation`, `console`,
//! `dispatcher`, …). A chat line goes socket → `chat` (the connection) → the queue →
//! `dispatcher` → scripts → `Outputs` → chat; a console click goes `console` (the backend the
//! web console calls) → `Outputs` or the part it asks about.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

pub mod broadcaster;
mod chat;
pub mod chat_transport;
mod config_watch;
mod console;
mod database;
mod dispatcher;
mod moderation;
mod raid_mode;
mod run;
mod scripts;
pub mod services;
mod stats;
mod twitch_api;

pub use run::{run, shutdown_signal};

use crate::cli::Cli;
use crate::config::Config;
use crate::console::LiveEvent;
use crate::health::Health;
use crate::loyalty::{Loyalty, LoyaltyRules};
use crate::outputs::{ChatLink, Outputs};
use crate::queue::{self, EventReceiver, EventSender};
use crate::scripting::ScriptHost;
use crate::sim::SimTwitch;
use crate::storage::Storage;
use crate::subsystems::{Subsystem, Subsystems};
use crate::supervisor::{Policy, Supervisor};

/// What the streamer asked for on the command line, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Run against the built-in simulated Twitch.
    pub offline: bool,
    /// The channel to join instead of `owner` from bot.yaml.
    pub channel: Option<String>,
    /// Where the configs are (`--config`, default `configs`).
    pub config_dir: PathBuf,
    /// Where the scripts are (`--scripts`, default `scripts`).
    pub scripts_dir: PathBuf,
    /// Where the database, backups and statistics go (`--data`, default `data`).
    pub data_dir: PathBuf,
    /// Which subsystems start (the `--no…` flags).
    pub enabled: Subsystems,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            offline: false,
            channel: None,
            config_dir: PathBuf::from("configs"),
            scripts_dir: PathBuf::from("scripts"),
            data_dir: PathBuf::from("data"),
            enabled: Subsystems::all(),
        }
    }
}

impl Settings {
    /// Resolves the command line.
    pub fn from_cli(cli: &Cli) -> Settings {
        let defaults = Settings::default();
        Settings {
            offline: cli.offline,
            channel: cli
                .channel
                .as_ref()
                .map(|c| c.trim_start_matches('#').to_ascii_lowercase()),
            config_dir: cli.config.clone().unwrap_or(defaults.config_dir),
            scripts_dir: cli.scripts.clone().unwrap_or(defaults.scripts_dir),
            data_dir: cli.data.clone().unwrap_or(defaults.data_dir),
            enabled: cli.subsystems(),
        }
    }
}

/// A running bot.
pub struct Bot {
    shutdown: CancellationToken,
    /// How a task asks the whole process to end with an exit code.
    exit: crate::exit::Exit,
    /// Restarts the long-lived tasks (or ends the process when it cannot).
    supervisor: Supervisor,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    /// The last known state of every connection.
    pub health: Health,
    /// The simulated Twitch, in offline mode.
    sim: Option<Arc<SimTwitch>>,
    /// The web console, when it runs.
    console: Option<crate::console::Console>,
    chat: Option<ChatLink>,
    channel: String,
    scripts: Option<Arc<ScriptHost>>,
    storage: Option<Storage>,
    text_commands: Option<Arc<crate::commands::TextCommands>>,
    log: broadcast::Sender<LiveEvent>,
    stats: Option<crate::stats::Recorder>,
    raid: crate::moderation::raid::RaidMode,
}

impl Bot {
    /// Starts every enabled subsystem.
    ///
    /// # Errors
    /// What the bot cannot run without, worded for the user: no token for live chat, a bad chat
    /// URL, a database that cannot be opened.
    pub async fn start(settings: Settings, mut config: Config) -> anyhow::Result<Bot> {
        // One TLS provider for the whole process, whichever crate asks first.
        let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
        let (mut launch, queue) = Launch::new(&settings, &config);

        // Before the simulator swaps in its fake tokens: the real file keeps the console token.
        let console_token = if settings.enabled.contains(Subsystem::Console) {
            console::console_token(&settings.config_dir, &config.secrets.console_token)
        } else {
            String::new()
        };
        let original_config = Arc::new(config.clone());
        let sim = start_sim(&settings, &mut config, &launch.channel).await?;

        let database = database::start(&mut launch, &settings, &config)?;
        let loyalty = Arc::new(Loyalty::new(LoyaltyRules::from(&config.loyalty)));
        let api = start_twitch_api(&mut launch, &settings, &config, &database.storage);
        start_loyalty(&mut launch, &config, &loyalty, &database.storage, &api);
        let integrations = start_integrations(&mut launch, &settings, &config, &api).await;
        let stats = stats::start(
            &mut launch,
            &config,
            &settings,
            &database.storage,
            &integrations,
            &api,
        );

        // The one place actions leave the bot: chat, Helix, moderation's enforcer, integrations.
        let mut outputs = Outputs {
            chat: None,
            helix: api.helix.clone(),
            log: Some(launch.log.clone()),
            integrations: integrations.clone(),
            enforcer: moderation::start_enforcer(&launch, &config, &api),
        };
        outputs.chat = chat::start(&mut launch, &settings, &config, sim.as_deref(), &api)?;
        let chat = outputs.chat.clone();
        moderation::choose_warnings(&outputs, &api);

        let actions = scripts::start_actions(&mut launch, &outputs);
        let scripts = scripts::start(
            &mut launch,
            &settings,
            &config,
            &database,
            &api,
            &integrations,
            actions,
        );
        scripts::start_live_state(&mut launch, &api, &scripts.host, &loyalty);

        let mut moderation = moderation::start(&mut launch, &config, &database.storage, &api)?;
        let (writer, writer_task) = database::start_writer(&launch, &database.storage);
        let (config_tx, config_rx) = watch::channel(original_config);
        config_watch::start(&mut launch, &settings.config_dir, &config_tx);
        let raid = raid_mode::start(
            &launch,
            &config,
            &api,
            &outputs,
            &moderation.log,
            &scripts.host,
        );
        let console = console::start(
            &mut launch,
            &settings,
            &config,
            console_token,
            console::Parts {
                raid: raid.clone(),
                outputs: outputs.clone(),
                sim: sim.clone(),
                storage: database.storage.clone(),
                scripts: &scripts,
                stats: stats.clone(),
                waves: moderation.waves.clone(),
                config: config_tx,
            },
        )
        .await;
        let moderator = moderation.moderator.take();
        dispatcher::start(
            &mut launch,
            &settings,
            &config,
            queue,
            dispatcher::Inputs {
                outputs,
                scripts: &scripts,
                storage: &database.storage,
                loyalty,
                api: &api,
                config: config_rx,
                stats: stats.clone(),
                writer,
                raid: raid.clone(),
                moderation: &moderation,
            },
            moderator,
        );
        // After the dispatcher: they end once the dispatcher's senders are gone, all written.
        launch.tasks.push(("storage writer", writer_task));
        launch.tasks.push(("moderation log", moderation.log_task));

        let Launch {
            channel,
            events,
            health,
            log,
            shutdown,
            exit,
            supervisor,
            tasks,
            ..
        } = launch;
        drop(events);
        Ok(Bot {
            shutdown,
            exit,
            supervisor,
            tasks,
            health,
            sim,
            console,
            chat,
            channel,
            scripts: Some(scripts.host),
            storage: Some(database.storage),
            text_commands: scripts.text_commands,
            log,
            stats,
            raid,
        })
    }

    /// Raid mode: its status, and ending it.
    pub fn raid_mode(&self) -> &crate::moderation::raid::RaidMode {
        &self.raid
    }

    /// The simulated Twitch, when running `--offline`.
    pub fn sim(&self) -> Option<&SimTwitch> {
        self.sim.as_deref()
    }

    /// The address the web console listens on, when it runs.
    pub fn console_addr(&self) -> Option<std::net::SocketAddr> {
        self.console.as_ref().map(|c| c.addr)
    }

    /// A one-time URL that signs a browser in to the console (each call makes a new one).
    pub fn console_login_url(&self) -> Option<String> {
        self.console.as_ref().map(|c| c.login_url())
    }

    /// The channel the bot joined.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// A handle to send chat as the bot, if chat runs.
    pub fn chat(&self) -> Option<&ChatLink> {
        self.chat.as_ref()
    }

    /// The script host.
    pub fn scripts(&self) -> Option<&Arc<ScriptHost>> {
        self.scripts.as_ref()
    }

    /// The database.
    pub fn storage(&self) -> Option<&Storage> {
        self.storage.as_ref()
    }

    /// The text commands (`None` when their table could not be read at start).
    pub fn text_commands(&self) -> Option<&Arc<crate::commands::TextCommands>> {
        self.text_commands.as_ref()
    }

    /// The stream statistics being counted, when `stream.stats` is on.
    pub fn stats(&self) -> Option<&crate::stats::Recorder> {
        self.stats.as_ref()
    }

    /// Every event the dispatcher handles, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.log.subscribe()
    }

    /// A token that fires when the bot shuts down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The supervisor of the bot's long-lived tasks: how often each was restarted, and why.
    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    /// Makes the supervised task `name` panic (tests only): `false` when no such task runs.
    #[cfg(feature = "test-support")]
    pub fn inject_panic(&self, name: &str) -> bool {
        self.supervisor.inject_panic(name)
    }

    /// The handle tasks use to end the process with an exit code.
    pub fn exit(&self) -> crate::exit::Exit {
        self.exit.clone()
    }

    /// Stops every subsystem and commits pending writes, waiting at most two seconds in all.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(1_500);
        for (name, task) in self.tasks {
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                warn!("{name} did not stop in time");
            }
        }
        // The text commands hold the database and the scripts' services: gone before it closes.
        drop(self.text_commands);
        drop(self.scripts);
        if let Some(storage) = self.storage {
            let closed = tokio::task::spawn_blocking(move || storage.close());
            match tokio::time::timeout(Duration::from_millis(500), closed).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => warn!("the database did not close cleanly: {e}"),
                _ => warn!("the database did not close in time"),
            }
        }
    }
}

/// What every subsystem's start shares: who the bot is, the one queue's sender, the shutdown
/// token, the supervisor and the tasks [`Bot::shutdown`] waits for (in the order pushed).
struct Launch {
    /// The channel the bot joins (login, no `#`).
    channel: String,
    /// The bot account's login.
    login: String,
    /// Where connections put the events they read.
    events: EventSender,
    health: Health,
    /// Every event the dispatcher handles, for the console's live log.
    log: broadcast::Sender<LiveEvent>,
    shutdown: CancellationToken,
    exit: crate::exit::Exit,
    supervisor: Supervisor,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Launch {
    /// The shared parts, and the queue's receiving end (the dispatcher's).
    fn new(settings: &Settings, config: &Config) -> (Launch, EventReceiver) {
        let shutdown = CancellationToken::new();
        let exit = crate::exit::Exit::new(shutdown.clone());
        let channel = settings
            .channel
            .clone()
            .unwrap_or_else(|| config.bot.owner.to_ascii_lowercase());
        let login = config.bot.username.to_ascii_lowercase();
        let (events, rx) = queue::channel(config.bot.queue.capacity);
        let (log, _) = broadcast::channel::<LiveEvent>(1_024);
        let supervisor = Supervisor::new(exit.clone(), Some(log.clone()), Policy::default());
        let launch = Launch {
            channel,
            login,
            events,
            health: Health::default(),
            log,
            shutdown,
            exit,
            supervisor,
            tasks: Vec::new(),
        };
        (launch, rx)
    }

    /// Runs the task `make` spawns under the supervisor, which makes it anew after a crash, and
    /// has shutdown wait for it.
    fn supervise<F>(&mut self, name: &'static str, make: F)
    where
        F: FnMut() -> JoinHandle<()> + Send + 'static,
    {
        let task = self.supervisor.restart(name, make);
        self.tasks.push((name, task));
    }

    /// Puts the tasks pushed since `from` under the supervisor's watch: they cannot be made anew
    /// from here, so a panic among them ends the process (see [`Supervisor::watch`]).
    fn watch_new(&mut self, from: usize) {
        let new: Vec<_> = self.tasks.drain(from.min(self.tasks.len())..).collect();
        for (name, task) in new {
            self.tasks.push((name, self.supervisor.watch(name, task)));
        }
    }
}

/// Starts the simulated Twitch in offline mode (and points `config` at it); `None` when live.
async fn start_sim(
    settings: &Settings,
    config: &mut Config,
    channel: &str,
) -> anyhow::Result<Option<Arc<SimTwitch>>> {
    if !settings.offline {
        return Ok(None);
    }
    let sim = SimTwitch::start(config, channel)
        .await
        .context("starting the simulated Twitch")?;
    Ok(Some(Arc::new(sim)))
}

/// Starts the Twitch API side (see [`twitch_api::start`]): its parts (token validator,
/// EventSub, stream watcher, emotes) run under the supervisor already.
fn start_twitch_api(
    launch: &mut Launch,
    settings: &Settings,
    config: &Config,
    storage: &Storage,
) -> twitch_api::ApiHandles {
    let secrets_path = (!settings.offline).then(|| settings.config_dir.join("secrets.yaml"));
    twitch_api::start(
        config,
        secrets_path.as_deref(),
        &launch.channel,
        settings.enabled.contains(Subsystem::EventSub),
        Some(storage.clone()),
        launch.events.clone(),
        &launch.shutdown,
        &launch.exit,
        &launch.supervisor,
        &mut launch.tasks,
    )
}

/// Starts the loyalty ticker (watch-time points), when loyalty is on.
fn start_loyalty(
    launch: &mut Launch,
    config: &Config,
    loyalty: &Arc<Loyalty>,
    storage: &Storage,
    api: &twitch_api::ApiHandles,
) {
    if !config.loyalty.enabled {
        return;
    }
    let (loyalty, storage, helix, shutdown) = (
        loyalty.clone(),
        storage.clone(),
        api.helix.clone(),
        launch.shutdown.clone(),
    );
    launch.supervise("loyalty", move || {
        loyalty
            .clone()
            .spawn_ticker(storage.clone(), helix.clone(), shutdown.clone())
    });
}

/// Starts the integrations the flags allow (OBS, Discord, ZeroMQ, sound, hotkeys,
/// notifications), each watched by the supervisor.
async fn start_integrations(
    launch: &mut Launch,
    settings: &Settings,
    config: &Config,
    api: &twitch_api::ApiHandles,
) -> crate::integrations::Hub {
    let (integrations, integration_tasks) = crate::integrations::start(
        &crate::integrations::StartContext {
            config: Arc::new(config.clone()),
            data_dir: settings.data_dir.clone(),
            events: launch.events.clone(),
            health: launch.health.clone(),
            shutdown: launch.shutdown.clone(),
            channel: launch.channel.clone(),
            helix: api.helix.clone(),
        },
        settings.enabled,
    )
    .await;
    let integrations_from = launch.tasks.len();
    launch.tasks.extend(integration_tasks);
    launch.watch_new(integrations_from);
    integrations
}
