//! Starts every subsystem the flags allow, wires each to the one queue and the dispatcher, keeps
//! each long-lived task running under the [`Supervisor`] (restarted after a crash, or the
//! process ends with [`crate::exit::SOFTWARE`]), and shuts them all down (Ctrl-C / SIGTERM)
//! within two seconds without losing queued work.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub mod broadcaster;
pub mod chat_transport;
mod config_watch;
mod console;
mod raid_mode;
pub mod services;

mod twitch_api;

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, watch};

use crate::action::Action;
use crate::cache::Cache;
use crate::cli::Cli;
use crate::config::Config;
use crate::console::{BotInfo, LiveEvent};
use crate::dispatch::{Dispatcher, Parts};
use crate::health::Health;
use crate::loyalty::{Loyalty, LoyaltyRules};
use crate::moderation::Moderator;
use crate::moderation::enforce::{Enforcer, Limits};
use crate::outputs::{ChatLink, Outputs};
use crate::queue;
use crate::scripting::api::Services;
use crate::scripting::{HostConfig, ScriptHost};
use crate::sim::SimTwitch;
use crate::storage::{Storage, StorageOptions};
use crate::supervisor::{Policy, Supervisor};
use crate::twitch::chat::{ChatSettings, ChatUrl};
use services::{CacheService, ScriptStores, StorageServices};

/// Which subsystems run. A switched-off subsystem is never started, so it costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subsystems {
    pub chat: bool,
    pub eventsub: bool,
    pub timers: bool,
    pub obs: bool,
    pub discord: bool,
    pub zmq: bool,
    pub audio: bool,
    pub hotkeys: bool,
    pub console: bool,
    pub notify: bool,
}

impl Default for Subsystems {
    fn default() -> Self {
        Subsystems {
            chat: true,
            eventsub: true,
            timers: true,
            obs: true,
            discord: true,
            zmq: true,
            audio: true,
            hotkeys: true,
            console: true,
            notify: true,
        }
    }
}

impl Subsystems {
    /// The same, with every integration (OBS, Discord, ZeroMQ, sound, hotkeys, notifications)
    /// off: the core alone, as tests and benchmarks of the core want it.
    pub fn without_integrations(self) -> Subsystems {
        Subsystems {
            obs: false,
            discord: false,
            zmq: false,
            audio: false,
            hotkeys: false,
            notify: false,
            ..self
        }
    }
}

/// What the streamer asked for on the command line, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Run against the built-in simulated Twitch.
    pub offline: bool,
    /// The channel to join instead of `owner` from bot.yaml.
    pub channel: Option<String>,
    pub config_dir: PathBuf,
    pub scripts_dir: PathBuf,
    pub data_dir: PathBuf,
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
            enabled: Subsystems::default(),
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
            enabled: Subsystems {
                chat: !cli.nochat,
                eventsub: !cli.noeventsub,
                timers: !cli.notimers,
                obs: !cli.noobs,
                discord: !cli.nodiscord,
                zmq: !cli.nozmq,
                audio: !cli.noaudio,
                hotkeys: !cli.nohotkeys,
                console: !cli.noconsole,
                notify: !cli.nonotify,
            },
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
        let shutdown = CancellationToken::new();
        let exit = crate::exit::Exit::new(shutdown.clone());
        let channel = settings
            .channel
            .clone()
            .unwrap_or_else(|| config.bot.owner.to_ascii_lowercase());
        let login = config.bot.username.to_ascii_lowercase();
        let (events, rx) = queue::channel(config.bot.queue.capacity);
        let health = Health::default();
        let mut tasks = Vec::new();
        let (log, _) = broadcast::channel::<LiveEvent>(1_024);
        let supervisor = Supervisor::new(exit.clone(), Some(log.clone()), Policy::default());

        // Before the simulator swaps in its fake tokens: the real file keeps the console token.
        let console_token = if settings.enabled.console {
            console::console_token(&settings.config_dir, &config.secrets.console_token)
        } else {
            String::new()
        };
        let original_config = Arc::new(config.clone());
        let sim = if settings.offline {
            Some(Arc::new(
                SimTwitch::start(&mut config, &channel)
                    .await
                    .context("starting the simulated Twitch")?,
            ))
        } else {
            None
        };

        let storage = Storage::open(StorageOptions {
            keep_backups: config.loyalty.backups.keep as usize,
            backup_on_open: config.loyalty.backups.enabled,
            ..StorageOptions::new(&settings.data_dir)
        })
        .with_context(|| format!("opening the database in {}", settings.data_dir.display()))?;
        let cache = Arc::new(Cache::with_budget(
            config.bot.cache.max_entries,
            config.bot.cache.max_bytes,
        ));
        {
            let (cache, shutdown) = (cache.clone(), shutdown.clone());
            tasks.push((
                "cache sweeper",
                supervisor.restart("cache sweeper", move || {
                    cache.spawn_sweeper(Duration::from_secs(30), shutdown.clone())
                }),
            ));
        }
        let loyalty = Arc::new(Loyalty::new(LoyaltyRules::from(&config.loyalty)));

        let secrets_path = (!settings.offline).then(|| settings.config_dir.join("secrets.yaml"));
        let api = twitch_api::start(
            &config,
            secrets_path.as_deref(),
            &channel,
            settings.enabled.eventsub,
            Some(storage.clone()),
            events.clone(),
            &shutdown,
            &exit,
            &supervisor,
            &mut tasks,
        );
        // Its parts (token validator, EventSub, stream watcher, emotes) run under the
        // supervisor already (see `twitch_api::start`).

        if config.loyalty.enabled {
            let (loyalty, storage, helix, shutdown) = (
                loyalty.clone(),
                storage.clone(),
                api.helix.clone(),
                shutdown.clone(),
            );
            tasks.push((
                "loyalty",
                supervisor.restart("loyalty", move || {
                    loyalty
                        .clone()
                        .spawn_ticker(storage.clone(), helix.clone(), shutdown.clone())
                }),
            ));
        }
        let (integrations, integration_tasks) = crate::integrations::start(
            &crate::integrations::StartContext {
                config: Arc::new(config.clone()),
                data_dir: settings.data_dir.clone(),
                events: events.clone(),
                health: health.clone(),
                shutdown: shutdown.clone(),
                channel: channel.clone(),
                helix: api.helix.clone(),
            },
            crate::integrations::Enabled {
                obs: settings.enabled.obs,
                discord: settings.enabled.discord,
                zmq: settings.enabled.zmq,
                audio: settings.enabled.audio,
                hotkeys: settings.enabled.hotkeys,
                notify: settings.enabled.notify,
            },
        )
        .await;
        let integrations_from = tasks.len();
        tasks.extend(integration_tasks);
        watch_new(&supervisor, &mut tasks, integrations_from);
        let stats_from = tasks.len();
        let stats = start_stats(
            &config,
            &settings,
            &storage,
            &integrations,
            &api,
            &shutdown,
            &mut tasks,
        );
        // The writer holds the stream's finishing step, which cannot be handed to a new run.
        watch_new(&supervisor, &mut tasks, stats_from);
        let mut outputs = Outputs {
            chat: None,
            helix: api.helix.clone(),
            log: Some(log.clone()),
            integrations: integrations.clone(),
            enforcer: api.helix.clone().map(|helix| {
                Enforcer::start(
                    helix.at(crate::twitch::helix::Priority::Moderation),
                    Limits::from_config(&config.moderation),
                    shutdown.clone(),
                )
            }),
        };
        if settings.enabled.chat {
            let (url, token) = match &sim {
                Some(offline) => (
                    ChatUrl::parse(&offline.chat.ws_url())?,
                    "offline".to_string(),
                ),
                None => {
                    let token = config.secrets.bot.access_token.clone();
                    if token.is_empty() {
                        bail!(
                            "{}: bot.access_token is missing: run `twitch-bot auth` to authorize the bot account \
                             (or start with --offline to try the bot without an account)",
                            settings.config_dir.join("secrets.yaml").display()
                        );
                    }
                    (ChatUrl::parse(&config.bot.twitch.chat_url)?, token)
                }
            };
            let chat_settings = ChatSettings {
                url,
                login: login.clone(),
                token,
                channel: channel.clone(),
                rate_limit: config.bot.chat.rate_limit,
                ping_interval: Duration::from_secs(config.bot.chat.ping_interval_secs.max(1)),
                ping_timeout: Duration::from_secs(config.bot.chat.ping_timeout_secs.max(1)),
                outgoing_capacity: config.bot.chat.outgoing_queue,
                max_backoff: Duration::from_secs(config.bot.chat.max_backoff_secs.max(1)),
            };
            let chat_settings = chat_transport::TransportSettings {
                mode: config.bot.chat.transport,
                irc: chat_settings,
                helix: api.helix.clone(),
                eventsub_url: config.bot.twitch.eventsub_url.clone(),
                subscriptions_url: crate::twitch::eventsub::subscriptions_url(&config.bot.twitch),
                eventsub: config.bot.eventsub.clone(),
                health: health.clone(),
            };
            let (handle, task) =
                chat_transport::start(chat_settings.clone(), events.clone(), shutdown.clone());
            let link = ChatLink::new(handle);
            outputs.chat = Some(link.clone());
            // A restarted connection gets a new handle; the link sends everyone's messages
            // there. What the failed run still had queued is lost.
            let (events, shutdown) = (events.clone(), shutdown.clone());
            let mut first = Some(task);
            tasks.push((
                "chat",
                supervisor.restart("chat", move || {
                    first.take().unwrap_or_else(|| {
                        let (handle, task) = chat_transport::start(
                            chat_settings.clone(),
                            events.clone(),
                            shutdown.clone(),
                        );
                        link.replace(handle);
                        task
                    })
                }),
            ));
        } else {
            info!("chat is switched off (--nochat)");
        }
        let chat = outputs.chat.clone();
        if let (Some(enforcer), Some(helix)) = (&outputs.enforcer, &api.helix) {
            if helix.has_scope(
                crate::twitch::auth::Account::Bot,
                crate::twitch::helix::WARNINGS_SCOPE,
            ) {
                let chat = chat.clone();
                enforcer.use_native_warnings(move |w| {
                    if let Some(chat) = &chat {
                        chat.warn(w);
                    }
                });
                info!("moderation: the warn step uses Twitch's native warnings");
            } else {
                info!(
                    "moderation: the warn step posts in chat (the bot's grant lacks {}; run \
                     `twitch-bot auth` to use Twitch's native warnings)",
                    crate::twitch::helix::WARNINGS_SCOPE
                );
            }
        }

        // Scripts send their actions here; one task hands them to the connections.
        let (action_tx, action_rx) = mpsc::channel::<Action>(1_024);
        let action_rx = Arc::new(tokio::sync::Mutex::new(action_rx));
        {
            let (outputs, shutdown) = (outputs.clone(), shutdown.clone());
            tasks.push((
                "actions",
                supervisor.restart("actions", move || {
                    tokio::spawn(perform_actions(
                        action_rx.clone(),
                        outputs.clone(),
                        shutdown.clone(),
                    ))
                }),
            ));
        }
        let clip_watch = broadcaster::ClipWatch::default();
        let owned_rewards = broadcaster::OwnedRewards::default();
        let script_services = Services {
            points: Arc::new(StorageServices {
                storage: storage.clone(),
            }),
            users: Arc::new(StorageServices {
                storage: storage.clone(),
            }),
            store: Arc::new(ScriptStores::new(storage.clone(), &config.bot.scripts)),
            cache: Arc::new(CacheService(cache.clone())),
            twitch: api.helix.clone().map(|helix| {
                // A script's lookup answers a command: it waits at chat's priority.
                Arc::new(services::HelixForScripts {
                    helix: helix.at(crate::twitch::helix::Priority::Chat),
                    runtime: tokio::runtime::Handle::current(),
                    clips: clip_watch.clone(),
                    rewards: owned_rewards.clone(),
                }) as Arc<dyn crate::scripting::stores::TwitchApi>
            }),
            http: crate::integrations::web::for_scripts(
                &config.bot.scripts,
                tokio::runtime::Handle::current(),
            ),
            integrations: integrations.for_scripts(),
            currency: config.loyalty.currency.clone(),
        };
        let facts = crate::commands::facts::ServiceFacts(script_services.clone());
        let (scripts, report) = ScriptHost::start(
            HostConfig::from_bot(&config.bot, &settings.scripts_dir, &channel),
            script_services,
            Arc::new(action_tx),
        );
        let regulars = Arc::new(crate::commands::Regulars::load(
            Some(storage.clone()),
            &config.moderation.regulars,
        ));
        let text_commands = crate::commands::TextCommands::open(
            storage.clone(),
            crate::commands::owners(Some(scripts.clone())),
            Arc::new(facts),
            regulars.clone(),
            &config.bot.chat.command_prefix,
        )
        .map(Arc::new)
        .map_err(|e| warn!("text commands are off: cannot read them from the database: {e}"))
        .ok();
        clip_watch.attach(&scripts);
        if let Some(helix) = api.helix.clone() {
            tokio::spawn(broadcaster::keep_rewards(
                helix,
                scripts.clone(),
                owned_rewards.clone(),
                shutdown.clone(),
            ));
        }
        for error in &report.errors {
            warn!("{error}");
        }
        if settings.scripts_dir.is_dir()
            && let Err(e) = scripts.watch()
        {
            warn!(
                "scripts will not reload when saved: cannot watch {}: {e}",
                settings.scripts_dir.display()
            );
        }
        if settings.enabled.timers {
            let (scripts, shutdown) = (scripts.clone(), shutdown.clone());
            tasks.push((
                "timers",
                supervisor.restart("timers", move || scripts.spawn_timers(shutdown.clone())),
            ));
        }
        // The stream's live state, once known, switches LIVE_ONLY timers and watch-time points.
        {
            let stream = api.stream.clone();
            let (scripts, loyalty, shutdown) = (scripts.clone(), loyalty.clone(), shutdown.clone());
            tasks.push((
                "live state",
                supervisor.restart("live state", move || {
                    tokio::spawn(follow_live_state(
                        stream.clone(),
                        scripts.clone(),
                        loyalty.clone(),
                        shutdown.clone(),
                    ))
                }),
            ));
        }

        let moderator = if config.moderation.enabled {
            Some(moderator_for(&config.moderation, &api.emotes).context("moderation.yaml")?)
        } else {
            None
        };
        let (modlog_tx, modlog_queue) = crate::moderation::log::modlog_channel();
        let modlog_task = {
            let storage = storage.clone();
            let retention = config.moderation.log;
            let shutdown = shutdown.clone();
            supervisor.restart("moderation log", move || {
                crate::moderation::log::spawn_modlog_writer(
                    storage.clone(),
                    modlog_queue.clone(),
                    retention,
                    shutdown.clone(),
                )
            })
        };
        let waves =
            crate::moderation::waves::FollowWaves::new(config.moderation.follow_waves.clone());
        // Blocks go out one at a time as the broadcaster, off the dispatcher.
        let blocks = api.helix.clone().map(|helix| {
            let (tx, queue) = crate::moderation::waves::block_channel();
            let shutdown = shutdown.clone();
            tasks.push((
                "follow-wave blocks",
                supervisor.restart("follow-wave blocks", move || {
                    crate::moderation::waves::spawn_blocker(
                        helix.clone(),
                        queue.clone(),
                        shutdown.clone(),
                    )
                }),
            ));
            tx
        });
        let (writer, writer_queue) = crate::storage::writer::channel();
        let writer_task = {
            let storage = storage.clone();
            supervisor.restart("storage writer", move || {
                crate::storage::writer::spawn(storage.clone(), writer_queue.clone())
            })
        };
        let (config_tx, config_rx) = watch::channel(original_config);
        if settings.config_dir.is_dir()
            && let Some(task) = config_watch::spawn(
                settings.config_dir.clone(),
                config_tx.clone(),
                shutdown.clone(),
            )
        {
            let (dir, tx, shutdown) = (
                settings.config_dir.clone(),
                config_tx.clone(),
                shutdown.clone(),
            );
            let mut first = Some(task);
            tasks.push((
                "config watcher",
                supervisor.restart("config watcher", move || {
                    first
                        .take()
                        .or_else(|| config_watch::spawn(dir.clone(), tx.clone(), shutdown.clone()))
                        // Could not watch again (warned): wait for shutdown like a watcher.
                        .unwrap_or_else(|| {
                            let shutdown = shutdown.clone();
                            tokio::spawn(async move { shutdown.cancelled().await })
                        })
                }),
            ));
        }
        let raid = crate::moderation::raid::RaidMode::new(
            &config.moderation.raid_mode,
            api.helix.clone(),
            api.bot_scopes.clone(),
            shutdown.clone(),
        );
        raid.set_hook(raid_mode::hook(
            outputs.clone(),
            modlog_tx.clone(),
            scripts.clone(),
            channel.as_str().into(),
        ));
        let console = if settings.enabled.console {
            let backend = Arc::new(console::AppConsole {
                raid: raid.clone(),
                info: BotInfo {
                    bot: login.clone(),
                    channel: channel.clone(),
                    offline: settings.offline,
                },
                health: health.clone(),
                enabled: settings.enabled,
                log: log.clone(),
                scripts: scripts.clone(),
                storage: storage.clone(),
                outputs: outputs.clone(),
                sim: sim.clone(),
                config_dir: settings.config_dir.clone(),
                config: config_tx,
                config_reloads: Default::default(),
                stats: stats.clone(),
                supervisor: supervisor.clone(),
                waves: waves.clone(),
                text_commands: text_commands.clone(),
                regulars: regulars.clone(),
            });
            match crate::console::bind(&config.bot.console.bind).await {
                Ok(listener) => {
                    match crate::console::serve_supervised(
                        listener,
                        console_token,
                        backend,
                        shutdown.clone(),
                        &supervisor,
                    )
                    .await
                    {
                        Ok(console) => {
                            health.set(
                                crate::event::Service::Console,
                                crate::event::ConnectionState::Connected,
                            );
                            Some(console)
                        }
                        Err(e) => {
                            warn!("the web console is off: {e}");
                            None
                        }
                    }
                }
                Err(e) => {
                    warn!("the web console is off: {e}");
                    None
                }
            }
        } else {
            None
        };
        let parts = Parts {
            channel: channel.as_str().into(),
            outputs,
            health: health.clone(),
            scripts: Some(scripts.clone()),
            storage: Some(storage.clone()),
            loyalty: Some(loyalty),
            stream: api.stream.clone(),
            eventsub_enabled: settings.enabled.eventsub,
            log: Some(log.clone()),
            config: Some(config_rx),
            prefix: config.bot.chat.command_prefix.clone(),
            modlog: Some(modlog_tx),
            stats: stats.clone(),
            writer: Some(writer),
            waves: Some(waves),
            blocks,
            raid: Some(raid.clone()),
            text_commands: text_commands.clone(),
            regulars: Some(regulars),
        };
        let text_commands_handle = text_commands;
        // The queue outlives a dispatcher that fails: the next one takes it over, with the
        // moderation rules in force (its in-memory permits and spam windows start afresh).
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let mut first = Some(Dispatcher::new(parts.clone(), moderator));
        let (emotes, dispatch_shutdown) = (api.emotes.clone(), shutdown.clone());
        tasks.push((
            "dispatcher",
            supervisor.restart("dispatcher", move || {
                let dispatcher = first.take().unwrap_or_else(|| {
                    let moderation = parts
                        .config
                        .as_ref()
                        .map(|c| c.borrow().moderation.clone())
                        .filter(|m| m.enabled);
                    let moderator = moderation.and_then(|m| match moderator_for(&m, &emotes) {
                        Ok(m) => Some(m),
                        Err(e) => {
                            warn!("moderation stays off after the dispatcher's restart: {e}");
                            None
                        }
                    });
                    Dispatcher::new(parts.clone(), moderator)
                });
                tokio::spawn(dispatcher.run_shared(rx.clone(), dispatch_shutdown.clone()))
            }),
        ));
        // After the dispatcher: they end once the dispatcher's senders are gone, all written.
        tasks.push(("storage writer", writer_task));
        tasks.push(("moderation log", modlog_task));
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
            scripts: Some(scripts),
            storage: Some(storage),
            text_commands: text_commands_handle,
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

/// Puts the tasks pushed since `from` under the supervisor's watch: they cannot be made anew from
/// here, so a panic among them ends the process (see [`Supervisor::watch`]).
fn watch_new(
    supervisor: &Supervisor,
    tasks: &mut Vec<(&'static str, JoinHandle<()>)>,
    from: usize,
) {
    let new: Vec<_> = tasks.drain(from.min(tasks.len())..).collect();
    for (name, task) in new {
        tasks.push((name, supervisor.watch(name, task)));
    }
}

/// The moderator for `config`, with the channel's emotes (once loaded) exempt.
fn moderator_for(
    config: &crate::config::moderation::ModerationConfig,
    emotes: &Arc<std::sync::OnceLock<crate::twitch::emotes::Emotes>>,
) -> anyhow::Result<Moderator> {
    let mut moderator = Moderator::new(config)?;
    let emotes = emotes.clone();
    moderator.set_emotes(Arc::new(move |word: &str| {
        emotes.get().is_some_and(|e| e.contains(word))
    }));
    Ok(moderator)
}

/// Hands the actions scripts produce to the connections until shutdown, then hands over what
/// scripts already produced (chat sends what it can before closing).
async fn perform_actions(
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Action>>>,
    outputs: Outputs,
    shutdown: CancellationToken,
) {
    let mut rx = rx.lock().await;
    loop {
        tokio::select! {
            action = rx.recv() => match action {
                Some(action) => outputs.perform(action),
                None => return,
            },
            _ = shutdown.cancelled() => break,
        }
    }
    while let Ok(action) = rx.try_recv() {
        outputs.perform(action);
    }
}

/// Once the stream's live state is known, switches LIVE_ONLY timers and watch-time points with
/// it until shutdown.
async fn follow_live_state(
    stream: Arc<std::sync::OnceLock<crate::twitch::stream::StreamHandle>>,
    scripts: Arc<ScriptHost>,
    loyalty: Arc<Loyalty>,
    shutdown: CancellationToken,
) {
    let mut live = loop {
        if let Some(s) = stream.get() {
            break s.watch_live();
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    };
    loop {
        let now = *live.borrow_and_update();
        scripts.set_live(now);
        loyalty.set_live(now);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            // The stream watcher is gone (its own supervisor decides): nothing more to follow.
            r = live.changed() => if r.is_err() { shutdown.cancelled().await; return },
        }
    }
}

/// Starts stream statistics (unless `stream.stats` is off): resumes a stream saved before a
/// restart, and starts the writer and the stream watcher.
fn start_stats(
    config: &Config,
    settings: &Settings,
    storage: &Storage,
    integrations: &crate::integrations::Hub,
    api: &twitch_api::ApiHandles,
    shutdown: &CancellationToken,
    tasks: &mut Vec<(&'static str, JoinHandle<()>)>,
) -> Option<crate::stats::Recorder> {
    use crate::stats::{Recorder, StatsSettings, recorder::StatsContext};
    let c = &config.bot.stream;
    if !c.stats {
        info!("stream statistics are off (stream.stats: false in bot.yaml)");
        return None;
    }
    let (open, ended) = Recorder::resume_from(storage);
    let (recorder, finisher) = Recorder::new(open);
    recorder.settle_ended(ended);
    tasks.extend(crate::stats::recorder::spawn(
        &recorder,
        finisher,
        StatsContext {
            storage: storage.clone(),
            settings: StatsSettings {
                dir: settings.data_dir.join(crate::stats::STATS_DIR),
                save_every: Duration::from_secs(c.stats_save_secs.max(1)),
                discord_summary: c.discord_summary,
            },
            integrations: integrations.clone(),
            helix: api.helix.clone(),
            stream: api.stream.clone(),
            shutdown: shutdown.clone(),
        },
    ));
    Some(recorder)
}

/// Runs the bot until Ctrl-C, SIGTERM or a task asks the process to end, and returns the exit
/// code (see [`crate::exit`]): a config that does not load is [`crate::exit::CONFIG`], so a
/// service manager does not restart into the same error.
///
/// # Errors
/// A start-up error, already worded for the user.
pub async fn run(settings: Settings) -> anyhow::Result<u8> {
    let config = match Config::load(&settings.config_dir) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(crate::exit::CONFIG);
        }
    };
    let config_open_on_start = config.bot.console.open_on_start;
    let bot = Bot::start(settings.clone(), config).await?;
    let shutdown = bot.shutdown_token();
    if let Some(url) = bot.console_login_url() {
        println!("Web console: {url}  (this link signs your browser in once)");
        if config_open_on_start {
            crate::console::open_in_browser(&url);
        }
    }
    match bot.sim() {
        Some(sim) => {
            println!(
                "Offline mode: a simulated Twitch runs on 127.0.0.1 and the bot has joined #{}.\n{}",
                bot.channel(),
                crate::sim::terminal::HELP
            );
            tokio::select! {
                _ = crate::sim::terminal::run(sim, shutdown.clone(), || {
                    crate::console::terminal::link_line(bot.console_login_url())
                }) => {}
                _ = shutdown_signal() => {}
                _ = shutdown.cancelled() => {}
            }
        }
        None => {
            if bot.console_addr().is_some() {
                println!("Type /console here for a new web console sign-in link.");
            }
            let stdin = tokio::io::BufReader::new(tokio::io::stdin());
            tokio::select! {
                _ = crate::console::terminal::live(stdin, std::io::stdout(), || bot.console_login_url()) => {}
                _ = shutdown_signal() => {}
                _ = shutdown.cancelled() => {}
            }
        }
    }
    info!("shutting down");
    let exit = bot.exit();
    bot.shutdown().await;
    Ok(exit.requested().map_or(crate::exit::OK, |(code, _)| code))
}

/// Resolves on Ctrl-C or (Unix) SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
