//! The running bot as the web console sees it: [`ConsoleBackend`] over the app's parts, and
//! the console's start. This file answers status and sending (health, raid mode, follow waves,
//! chat, integrations); the rest goes to one file per area the console calls into: `scripts`
//! (the editor and the scripts' stores), `commands` (text commands and regulars), `stats`
//! (viewers, leaderboard, statistics), `sim` (the simulator, offline) and `settings` (configs
//! and the console's own token and settings).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::sync::{broadcast, watch};
use tracing::warn;

use crate::action::Action;
use crate::config::Config;
use crate::console::{
    BotInfo, BoxFuture, ConfigReport, ConsoleBackend, ConsoleError, ConsoleSettings,
    LeaderboardEntry, LiveEvent, ReloadReport, ScriptsReport, ServiceHealth, SimChat,
};
use crate::event::{ChannelEvent, Service};
use crate::health::Health;
use crate::outputs::Outputs;
use crate::scripting::ScriptHost;
use crate::scripting::files::{SaveOutcome, ScriptFiles, ScriptText};
use crate::sim::SimTwitch;
use crate::storage::Storage;
use crate::subsystems::{Subsystem, Subsystems};

mod commands;
mod scripts;
mod settings;
mod sim;
mod stats;

pub use settings::console_token;

/// The app's side of the console.
pub struct AppConsole {
    pub info: BotInfo,
    pub health: Health,
    pub enabled: Subsystems,
    pub log: broadcast::Sender<LiveEvent>,
    pub scripts: Arc<ScriptHost>,
    pub storage: Storage,
    pub outputs: Outputs,
    pub sim: Option<Arc<SimTwitch>>,
    pub config_dir: PathBuf,
    pub config: watch::Sender<Arc<Config>>,
    pub config_reloads: AtomicU64,
    /// The stream being counted, when stats are on.
    pub stats: Option<crate::stats::Recorder>,
    /// The bot's task supervisor: a restarted chat task shows in chat's health.
    pub supervisor: crate::supervisor::Supervisor,
    /// Follow-bot wave detection, shown in the health card.
    pub waves: crate::moderation::waves::FollowWaves,
    /// Raid mode, shown on the page with a button to end it.
    pub raid: crate::moderation::raid::RaidMode,
    /// Text commands (`None`: their table could not be read at start).
    pub text_commands: Option<Arc<crate::commands::TextCommands>>,
    pub regulars: Arc<crate::commands::Regulars>,
}

/// The running parts the console shows and acts on, from the subsystems started before it.
pub(super) struct Parts<'a> {
    /// Raid mode, with the button to end it.
    pub(super) raid: crate::moderation::raid::RaidMode,
    /// Where the console's sends and button presses leave the bot.
    pub(super) outputs: Outputs,
    /// The simulated Twitch, offline.
    pub(super) sim: Option<Arc<SimTwitch>>,
    /// The database.
    pub(super) storage: Storage,
    /// The script host, text commands and regulars.
    pub(super) scripts: &'a super::scripts::Scripts,
    /// Stream statistics, when on.
    pub(super) stats: Option<crate::stats::Recorder>,
    /// Follow-bot wave detection.
    pub(super) waves: crate::moderation::waves::FollowWaves,
    /// The config in force; the console's "Reload configs" replaces it.
    pub(super) config: watch::Sender<Arc<Config>>,
}

/// Starts the web console (unless `--noconsole`) on `bot.console.bind`, under the supervisor.
/// A console that cannot bind is logged and left off: the bot runs without it.
pub(super) async fn start(
    launch: &mut super::Launch,
    settings: &super::Settings,
    config: &Config,
    token: String,
    parts: Parts<'_>,
) -> Option<crate::console::Console> {
    if !settings.enabled.contains(Subsystem::Console) {
        return None;
    }
    let backend = Arc::new(AppConsole {
        raid: parts.raid,
        info: BotInfo {
            bot: launch.login.clone(),
            channel: launch.channel.clone(),
            offline: settings.offline,
        },
        health: launch.health.clone(),
        enabled: settings.enabled,
        log: launch.log.clone(),
        scripts: parts.scripts.host.clone(),
        storage: parts.storage,
        outputs: parts.outputs,
        sim: parts.sim,
        config_dir: settings.config_dir.clone(),
        config: parts.config,
        config_reloads: Default::default(),
        stats: parts.stats,
        supervisor: launch.supervisor.clone(),
        waves: parts.waves,
        text_commands: parts.scripts.text_commands.clone(),
        regulars: parts.scripts.regulars.clone(),
    });
    let listener = match crate::console::bind(&config.bot.console.bind).await {
        Ok(listener) => listener,
        Err(e) => {
            warn!("the web console is off: {e}");
            return None;
        }
    };
    match crate::console::serve_supervised(
        listener,
        token,
        backend,
        launch.shutdown.clone(),
        &launch.supervisor,
    )
    .await
    {
        Ok(console) => {
            launch.health.set(
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

fn internal(e: impl std::fmt::Display) -> ConsoleError {
    ConsoleError::Internal(e.to_string())
}

impl AppConsole {
    /// A console button's call to an integration.
    fn integration(
        &self,
        target: &str,
        call: &str,
        data: serde_json::Value,
    ) -> Result<(), ConsoleError> {
        use crate::integrations::CallError;
        self.outputs
            .call_integration(target, call, data)
            .map_err(|e| match e {
                CallError::Unavailable(_) => ConsoleError::Unavailable(e.to_string()),
                CallError::Busy(_) => ConsoleError::Unavailable(e.to_string()),
                CallError::UnknownCall { .. } | CallError::BadData(_) => {
                    ConsoleError::BadRequest(e.to_string())
                }
            })
    }
}

impl ConsoleBackend for AppConsole {
    fn info(&self) -> BotInfo {
        self.info.clone()
    }

    fn raid_mode(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self.raid.status()).ok()
    }

    fn end_raid_mode(&self) -> Result<bool, ConsoleError> {
        Ok(self.raid.end("console"))
    }

    fn health(&self) -> Vec<ServiceHealth> {
        let restarts = self.supervisor.restarts();
        let on = |service: Service, enabled: bool| {
            if enabled {
                let task = match service {
                    Service::Chat => "chat",
                    Service::EventSub => "eventsub",
                    Service::Console => "console",
                    _ => "",
                };
                let restarted = restarts.get(task).filter(|r| r.restarts > 0).map(|r| {
                    format!(
                        "the {task} task was restarted {} time(s); last: {}",
                        r.restarts,
                        r.last_failure.as_deref().unwrap_or("unknown")
                    )
                });
                let mut shown = ServiceHealth::from_state(
                    service,
                    self.health.get(service).as_ref(),
                    restarted,
                );
                shown.note = self.health.note(service);
                shown
            } else {
                ServiceHealth::off(service)
            }
        };
        // What runs: the core parts the flags allow and the integrations that started.
        let hub = &self.outputs.integrations;
        let running: Subsystems = self
            .enabled
            .without_integrations()
            .iter()
            .chain(hub.running().iter())
            .collect();
        let mut all = Vec::new();
        for subsystem in Subsystem::ALL {
            let Some(service) = subsystem.service() else {
                continue;
            };
            // This answer comes from the console's server: it is up, maybe after restarts.
            let up = subsystem == Subsystem::Console || running.contains(subsystem);
            all.push(on(service, up));
            if subsystem == Subsystem::EventSub {
                all.push(on(Service::Helix, self.outputs.helix.is_some()));
            }
        }
        all
    }

    fn follow_waves(&self) -> Option<crate::moderation::waves::WaveStatus> {
        Some(self.waves.status())
    }

    fn end_follow_wave(&self) -> bool {
        self.waves.ask_end()
    }

    fn subscribe_events(&self) -> broadcast::Receiver<LiveEvent> {
        self.log.subscribe()
    }

    fn scripts(&self) -> BoxFuture<'_, Result<ScriptsReport, ConsoleError>> {
        scripts::scripts(self)
    }

    fn reload_scripts(&self) -> BoxFuture<'_, Result<ReloadReport, ConsoleError>> {
        scripts::reload_scripts(self)
    }

    fn script_files(&self) -> BoxFuture<'_, Option<ScriptFiles>> {
        scripts::script_files(self)
    }

    fn script_source(&self, path: String) -> BoxFuture<'_, Result<ScriptText, ConsoleError>> {
        scripts::script_source(self, path)
    }

    fn save_script(
        &self,
        path: String,
        source: String,
        modified: String,
    ) -> BoxFuture<'_, Result<SaveOutcome, ConsoleError>> {
        scripts::save_script(self, path, source, modified)
    }

    fn new_script(
        &self,
        kind: String,
        name: String,
        template: String,
    ) -> BoxFuture<'_, Result<SaveOutcome, ConsoleError>> {
        scripts::new_script(self, kind, name, template)
    }

    fn reload_configs(&self) -> BoxFuture<'_, Result<ConfigReport, ConsoleError>> {
        settings::reload_configs(self)
    }

    fn say(&self, text: String) -> BoxFuture<'_, Result<(), ConsoleError>> {
        Box::pin(async move {
            if self.outputs.chat.is_none() {
                return Err(ConsoleError::Unavailable(
                    "chat is switched off (--nochat)".into(),
                ));
            }
            self.outputs.perform(Action::Say {
                channel: self.info.channel.as_str().into(),
                text,
            });
            Ok(())
        })
    }

    fn discord(
        &self,
        text: String,
        target: Option<String>,
    ) -> BoxFuture<'_, Result<(), ConsoleError>> {
        let data = match target {
            Some(target) => serde_json::json!({ "text": text, "target": target }),
            None => serde_json::json!({ "text": text }),
        };
        Box::pin(async move { self.integration("discord", "send", data) })
    }

    fn zmq(
        &self,
        topic: String,
        data: serde_json::Value,
    ) -> BoxFuture<'_, Result<(), ConsoleError>> {
        Box::pin(async move {
            self.integration(
                "zmq",
                "publish",
                serde_json::json!({ "topic": topic, "data": data }),
            )
        })
    }

    fn obs_connect(&self) -> BoxFuture<'_, Result<(), ConsoleError>> {
        Box::pin(async move { self.integration("obs", "connect", serde_json::Value::Null) })
    }

    fn obs_disconnect(&self) -> BoxFuture<'_, Result<(), ConsoleError>> {
        Box::pin(async move { self.integration("obs", "disconnect", serde_json::Value::Null) })
    }

    fn user(
        &self,
        login: String,
    ) -> BoxFuture<'_, Result<Option<serde_json::Value>, ConsoleError>> {
        stats::user(self, login)
    }

    fn leaderboard(&self, n: usize) -> BoxFuture<'_, Result<Vec<LeaderboardEntry>, ConsoleError>> {
        stats::leaderboard(self, n)
    }

    fn stats(&self) -> BoxFuture<'_, Result<serde_json::Value, ConsoleError>> {
        stats::stats(self)
    }

    fn stats_chart(&self, stream: String) -> BoxFuture<'_, Result<String, ConsoleError>> {
        stats::stats_chart(self, stream)
    }

    fn sim_chat(&self, chat: SimChat) -> BoxFuture<'_, Result<(), ConsoleError>> {
        sim::sim_chat(self, chat)
    }

    fn sim_event(&self, event: ChannelEvent) -> BoxFuture<'_, Result<(), ConsoleError>> {
        sim::sim_event(self, event)
    }

    fn sim_raid(&self, raid: crate::sim::SpamRaid) -> Result<(), ConsoleError> {
        sim::sim_raid(self, raid)
    }

    fn console_settings(&self) -> ConsoleSettings {
        settings::console_settings(self)
    }

    fn save_console_token(&self, token: String) -> BoxFuture<'_, Result<(), ConsoleError>> {
        settings::save_console_token(self, token)
    }

    fn text_commands(
        &self,
    ) -> BoxFuture<'_, Result<Vec<crate::commands::TextCommand>, ConsoleError>> {
        commands::text_commands(self)
    }

    fn save_text_command(
        &self,
        name: String,
        update: crate::commands::Update,
    ) -> BoxFuture<'_, Result<crate::commands::TextCommand, ConsoleError>> {
        commands::save_text_command(self, name, update)
    }

    fn delete_text_command(&self, name: String) -> BoxFuture<'_, Result<(), ConsoleError>> {
        commands::delete_text_command(self, name)
    }

    fn regulars(
        &self,
    ) -> BoxFuture<'_, Result<Vec<crate::commands::regulars::Regular>, ConsoleError>> {
        commands::regulars(self)
    }

    fn set_regular(&self, login: String, add: bool) -> BoxFuture<'_, Result<(), ConsoleError>> {
        commands::set_regular(self, login, add)
    }

    fn script_store(
        &self,
        script: String,
    ) -> BoxFuture<'_, Result<Vec<(String, serde_json::Value)>, ConsoleError>> {
        scripts::script_store(self, script)
    }

    fn set_script_store(
        &self,
        script: String,
        key: String,
        value: Option<serde_json::Value>,
    ) -> BoxFuture<'_, Result<(), ConsoleError>> {
        scripts::set_script_store(self, script, key, value)
    }
}
