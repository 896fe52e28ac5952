//! Starts the script host and what hangs off it: the services scripts call (points, stores,
//! cache, Helix, web), the task that hands scripts' actions to [`Outputs`], text commands and
//! regulars, the channel-points rewards scripts own, the file watcher, timers, and the task that
//! switches LIVE_ONLY timers and watch-time points with the stream's live state.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::database::Database;
use super::services::{self, CacheService, ScriptStores, StorageServices};
use super::twitch_api::ApiHandles;
use super::{Launch, Settings, broadcaster};
use crate::action::Action;
use crate::config::Config;
use crate::loyalty::Loyalty;
use crate::outputs::Outputs;
use crate::scripting::api::Services;
use crate::scripting::{HostConfig, ScriptHost};
use crate::subsystems::Subsystem;

/// The script host and the chat commands that live beside it.
pub(super) struct Scripts {
    /// The running scripts.
    pub(super) host: Arc<ScriptHost>,
    /// Text commands (`None` when their table could not be read at start).
    pub(super) text_commands: Option<Arc<crate::commands::TextCommands>>,
    /// The regulars list.
    pub(super) regulars: Arc<crate::commands::Regulars>,
}

/// Starts the task that hands the actions scripts produce to `outputs`; scripts send them to
/// the returned sender.
pub(super) fn start_actions(launch: &mut Launch, outputs: &Outputs) -> mpsc::Sender<Action> {
    let (action_tx, action_rx) = mpsc::channel::<Action>(1_024);
    let action_rx = Arc::new(tokio::sync::Mutex::new(action_rx));
    let (outputs, shutdown) = (outputs.clone(), launch.shutdown.clone());
    launch.supervise("actions", move || {
        tokio::spawn(perform_actions(
            action_rx.clone(),
            outputs.clone(),
            shutdown.clone(),
        ))
    });
    action_tx
}

/// Starts the script host with its services, the text commands and regulars, the rewards
/// keeper, the scripts folder's watcher and (unless `--notimers`) the timers. Scripts that do
/// not compile are logged, not fatal.
pub(super) fn start(
    launch: &mut Launch,
    settings: &Settings,
    config: &Config,
    database: &Database,
    api: &ApiHandles,
    integrations: &crate::integrations::Hub,
    actions: mpsc::Sender<Action>,
) -> Scripts {
    let storage = &database.storage;
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
        cache: Arc::new(CacheService(database.cache.clone())),
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
        integrations: integrations.running(),
        currency: config.loyalty.currency.clone(),
    };
    let facts = crate::commands::facts::ServiceFacts(script_services.clone());
    let (scripts, report) = ScriptHost::start(
        HostConfig::from_bot(&config.bot, &settings.scripts_dir, &launch.channel),
        script_services,
        Arc::new(actions),
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
            launch.shutdown.clone(),
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
    if settings.enabled.contains(Subsystem::Timers) {
        let (scripts, shutdown) = (scripts.clone(), launch.shutdown.clone());
        launch.supervise("timers", move || scripts.spawn_timers(shutdown.clone()));
    }
    Scripts {
        host: scripts,
        text_commands,
        regulars,
    }
}

/// Starts the task that, once the stream's live state is known, switches LIVE_ONLY timers and
/// watch-time points with it.
pub(super) fn start_live_state(
    launch: &mut Launch,
    api: &ApiHandles,
    scripts: &Arc<ScriptHost>,
    loyalty: &Arc<Loyalty>,
) {
    let stream = api.stream.clone();
    let (scripts, loyalty, shutdown) = (scripts.clone(), loyalty.clone(), launch.shutdown.clone());
    launch.supervise("live state", move || {
        tokio::spawn(follow_live_state(
            stream.clone(),
            scripts.clone(),
            loyalty.clone(),
            shutdown.clone(),
        ))
    });
}

/// How long a script's chat line waits for room in chat's intake before it is dropped.
const CHAT_ROOM_WAIT: Duration = Duration::from_secs(2);

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
                Some(action) => {
                    // A burst of script replies waits (briefly) for chat's writer to make room
                    // rather than overflowing its intake while the writer is not scheduled.
                    if matches!(action, Action::Say { .. } | Action::Reply { .. })
                        && let Some(chat) = &outputs.chat
                    {
                        let _ = tokio::time::timeout(CHAT_ROOM_WAIT, chat.room()).await;
                    }
                    outputs.perform(action);
                }
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
