//! The running bot as the web console sees it: [`ConsoleBackend`] over the app's parts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{broadcast, watch};
use tracing::warn;

use super::Subsystems;
use crate::action::Action;
use crate::clock::now_ms;
use crate::config::{Config, secrets};
use crate::console::{
    BotInfo, BoxFuture, ConfigReport, ConsoleBackend, ConsoleError, ConsoleSettings,
    LeaderboardEntry, LiveEvent, ReloadReport, ScriptError, ScriptInfo, ScriptsReport,
    ServiceHealth, SimChat,
};
use crate::event::{ChannelEvent, ChannelEventKind, Service, SubTier};
use crate::health::Health;
use crate::outputs::Outputs;
use crate::scripting::files::{SaveOutcome, ScriptFiles, ScriptText};
use crate::scripting::{self, ScriptHost};
use crate::sim::{SimEvent, SimTwitch, Viewer};
use crate::storage::Storage;

/// Past streams listed by `/api/stats`, newest first.
const STREAMS_SHOWN: usize = 50;

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

fn internal(e: impl std::fmt::Display) -> ConsoleError {
    ConsoleError::Internal(e.to_string())
}

fn script_error(e: &scripting::ScriptError) -> ScriptError {
    ScriptError {
        file: e.file.clone(),
        line: u32::try_from(e.line).unwrap_or(u32::MAX),
        col: u32::try_from(e.col).unwrap_or(u32::MAX),
        message: e.message.clone(),
    }
}

fn ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn manage_error(e: crate::commands::ManageError) -> ConsoleError {
    use crate::commands::ManageError;
    match e {
        ManageError::Taken { .. } => ConsoleError::Conflict(e.to_string()),
        ManageError::Invalid(_) => ConsoleError::BadRequest(e.to_string()),
        ManageError::NotFound(_) => ConsoleError::NotFound(e.to_string()),
        ManageError::Storage(_) => ConsoleError::Internal(e.to_string()),
    }
}

impl AppConsole {
    fn text(&self) -> Result<Arc<crate::commands::TextCommands>, ConsoleError> {
        self.text_commands.clone().ok_or_else(|| {
            ConsoleError::Unavailable(
                "text commands are off: their table could not be read at start (see the log)"
                    .into(),
            )
        })
    }

    /// The scripts' stores with the quota in force.
    fn stores(&self) -> crate::app::services::ScriptStores {
        let config = self.config.borrow().clone();
        crate::app::services::ScriptStores::new(self.storage.clone(), &config.bot.scripts)
    }

    /// A store's key from the console's name for it: `commands/quote` as is, `quote` for the
    /// loaded script of that name.
    fn store_key(&self, script: &str) -> Result<String, ConsoleError> {
        if let Some((kind, name)) = script.split_once('/') {
            if crate::scripting::ScriptKind::from_folder(kind).is_some() && !name.is_empty() {
                return Ok(script.to_owned());
            }
        } else if let Some(info) = self
            .scripts
            .scripts()
            .into_iter()
            .find(|s| s.name == script)
        {
            return Ok(format!("{}/{}", info.kind.folder(), info.name));
        }
        Err(ConsoleError::NotFound(format!(
            "no script `{script}`: name a loaded script (such as `quote`) or its key \
             (`commands/quote`)"
        )))
    }

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

    /// The live log's line for a script saved or created in the console (a refused one is
    /// only the editor's business).
    fn editor_notice(&self, outcome: &SaveOutcome, what: &str) {
        if let SaveOutcome::Saved(text) = outcome {
            let _ = self.log.send(LiveEvent::Notice {
                level: "info",
                text: format!("script {what} from the console, live: {}", text.path),
            });
        }
    }

    fn sim(&self) -> Result<&SimTwitch, ConsoleError> {
        self.sim
            .as_deref()
            .ok_or_else(|| ConsoleError::Conflict("the simulator runs only with --offline".into()))
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
        let mut all = vec![
            on(Service::Chat, self.enabled.chat),
            on(Service::EventSub, self.enabled.eventsub),
            on(Service::Helix, self.outputs.helix.is_some()),
            // This answer comes from the console's server: it is up, maybe after restarts.
            on(Service::Console, true),
        ];
        let hub = &self.outputs.integrations;
        for (service, name) in [
            (Service::Obs, "obs"),
            (Service::Discord, "discord"),
            (Service::Zmq, "zmq"),
            (Service::Audio, "sound"),
            (Service::Hotkeys, "hotkeys"),
            (Service::Notify, "notify"),
        ] {
            all.push(on(service, hub.has(name)));
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
        Box::pin(async move {
            let (reloads, last) = self.scripts.reload_stats();
            let scripts = self
                .scripts
                .scripts()
                .into_iter()
                .map(|s| {
                    let settings: BTreeMap<String, serde_json::Value> = s
                        .settings
                        .as_ref()
                        .and_then(|set| serde_json::to_value(set).ok())
                        .and_then(|v| v.as_object().cloned())
                        .map(|o| o.into_iter().collect())
                        .unwrap_or_default();
                    ScriptInfo {
                        name: s.name,
                        kind: s.kind.folder().trim_end_matches('s').to_string(),
                        settings,
                        error: s.last_error.as_ref().map(script_error),
                    }
                })
                .collect();
            Ok(ScriptsReport {
                reloads,
                last_reload_ms: last.map(ms),
                scripts,
            })
        })
    }

    fn reload_scripts(&self) -> BoxFuture<'_, Result<ReloadReport, ConsoleError>> {
        Box::pin(async move {
            let host = self.scripts.clone();
            let report = tokio::task::spawn_blocking(move || host.reload_all())
                .await
                .map_err(internal)?;
            let _ = self.log.send(LiveEvent::Notice {
                level: if report.failed > 0 { "warn" } else { "info" },
                text: format!(
                    "scripts reloaded: {} live, {} failed",
                    report.loaded, report.failed
                ),
            });
            Ok(ReloadReport {
                reloads: report.reload_count,
                at_ms: ms(report.at),
                loaded: report.loaded,
                errors: report.errors.iter().map(script_error).collect(),
            })
        })
    }

    fn script_files(&self) -> BoxFuture<'_, Option<ScriptFiles>> {
        Box::pin(async move {
            let host = self.scripts.clone();
            tokio::task::spawn_blocking(move || ScriptFiles {
                files: host.script_files(),
                file_reloads: host.file_reloads(),
            })
            .await
            .ok()
        })
    }

    fn script_source(&self, path: String) -> BoxFuture<'_, Result<ScriptText, ConsoleError>> {
        Box::pin(async move {
            let host = self.scripts.clone();
            tokio::task::spawn_blocking(move || host.read_script(&path))
                .await
                .map_err(internal)?
                .map_err(ConsoleError::from)
        })
    }

    fn save_script(
        &self,
        path: String,
        source: String,
        modified: String,
    ) -> BoxFuture<'_, Result<SaveOutcome, ConsoleError>> {
        Box::pin(async move {
            let host = self.scripts.clone();
            let outcome =
                tokio::task::spawn_blocking(move || host.save_script(&path, &source, &modified))
                    .await
                    .map_err(internal)??;
            self.editor_notice(&outcome, "saved");
            Ok(outcome)
        })
    }

    fn new_script(
        &self,
        kind: String,
        name: String,
        template: String,
    ) -> BoxFuture<'_, Result<SaveOutcome, ConsoleError>> {
        Box::pin(async move {
            let host = self.scripts.clone();
            let outcome =
                tokio::task::spawn_blocking(move || host.new_script(&kind, &name, &template))
                    .await
                    .map_err(internal)??;
            self.editor_notice(&outcome, "created");
            Ok(outcome)
        })
    }

    fn reload_configs(&self) -> BoxFuture<'_, Result<ConfigReport, ConsoleError>> {
        Box::pin(async move {
            let (dir, tx) = (self.config_dir.clone(), self.config.clone());
            let errors =
                tokio::task::spawn_blocking(move || super::config_watch::reload(&dir, &tx))
                    .await
                    .map_err(internal)?;
            let reloads = self.config_reloads.fetch_add(1, Ordering::Relaxed) + 1;
            Ok(ConfigReport {
                reloads,
                at_ms: now_ms(),
                errors,
            })
        })
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
        Box::pin(async move {
            let storage = self.storage.clone();
            tokio::task::spawn_blocking(move || {
                let Some(id) = storage.user_id_by_login(&login).map_err(internal)? else {
                    return Ok(None);
                };
                let record = storage.user(&id).map_err(internal)?;
                Ok(record.and_then(|r| serde_json::to_value(r).ok()))
            })
            .await
            .map_err(internal)?
        })
    }

    fn leaderboard(&self, n: usize) -> BoxFuture<'_, Result<Vec<LeaderboardEntry>, ConsoleError>> {
        Box::pin(async move {
            let storage = self.storage.clone();
            let rows = tokio::task::spawn_blocking(move || storage.leaderboard(n))
                .await
                .map_err(internal)?;
            Ok(rows
                .map_err(internal)?
                .into_iter()
                .map(|r| LeaderboardEntry {
                    login: r.login,
                    points: i64::try_from(r.points).unwrap_or(i64::MAX),
                })
                .collect())
        })
    }

    fn stats(&self) -> BoxFuture<'_, Result<serde_json::Value, ConsoleError>> {
        Box::pin(async move {
            let storage = self.storage.clone();
            let (users, streams) = tokio::task::spawn_blocking(move || {
                Ok::<_, crate::storage::StorageError>((
                    storage.user_count()?,
                    crate::stats::stored_streams(&storage)?,
                ))
            })
            .await
            .map_err(internal)?
            .map_err(internal)?;
            let with_chart = |stats: &crate::stats::StreamStats, name: &str| {
                let mut v = crate::stats::report::to_json(stats);
                if let Some(o) = v.as_object_mut() {
                    o.insert(
                        "chart".into(),
                        format!("/api/stats/{name}/chart.svg").into(),
                    );
                }
                v
            };
            let live = self
                .stats
                .as_ref()
                .and_then(|r| r.snapshot())
                .map(|t| with_chart(&t.stats, "live"));
            let streams: Vec<serde_json::Value> = streams
                .iter()
                .take(STREAMS_SHOWN)
                .map(|s| with_chart(s, &s.file_stem()))
                .collect();
            Ok(serde_json::json!({
                "enabled": self.stats.is_some(),
                "viewers_known": users,
                "live": live,
                "streams": streams,
            }))
        })
    }

    fn stats_chart(&self, stream: String) -> BoxFuture<'_, Result<String, ConsoleError>> {
        Box::pin(async move {
            let stats = if stream == "live" {
                self.stats
                    .as_ref()
                    .and_then(|r| r.snapshot())
                    .map(|t| t.stats)
            } else {
                let storage = self.storage.clone();
                let all =
                    tokio::task::spawn_blocking(move || crate::stats::stored_streams(&storage))
                        .await
                        .map_err(internal)?
                        .map_err(internal)?;
                all.into_iter()
                    .find(|s| s.stream_id == stream || s.file_stem() == stream)
            };
            let Some(stats) = stats else {
                return Err(ConsoleError::NotFound(format!(
                    "no stream `{stream}` is stored"
                )));
            };
            crate::stats::chart::render_svg(&stats).map_err(internal)
        })
    }

    fn sim_chat(&self, chat: SimChat) -> BoxFuture<'_, Result<(), ConsoleError>> {
        Box::pin(async move {
            let sim = self.sim()?;
            let mut viewer = Viewer::new(&chat.login);
            viewer.roles = chat.roles;
            sim.chat_as(&viewer, &chat.text).await;
            Ok(())
        })
    }

    fn sim_event(&self, event: ChannelEvent) -> BoxFuture<'_, Result<(), ConsoleError>> {
        Box::pin(async move {
            let sim = self.sim()?;
            let viewer = event
                .user
                .as_ref()
                .map_or_else(|| Viewer::new("viewer"), |u| Viewer::new(&u.login));
            sim.fire(&viewer, &sim_event(&event.kind)).await;
            Ok(())
        })
    }

    fn sim_raid(&self, raid: crate::sim::SpamRaid) -> Result<(), ConsoleError> {
        let sim = self.sim.clone().ok_or_else(|| {
            ConsoleError::Conflict("the simulator runs only with --offline".into())
        })?;
        tokio::spawn(async move {
            let report = sim.spam_raid(&raid).await;
            tracing::info!(
                "simulated spam raid over: {} of {} lines reached chat",
                report.delivered,
                report.sent
            );
        });
        Ok(())
    }

    fn console_settings(&self) -> ConsoleSettings {
        let config = self.config.borrow().clone();
        let c = &config.bot.console;
        ConsoleSettings {
            tls: c
                .tls_cert
                .as_ref()
                .zip(c.tls_key.as_ref())
                .map(|(cert, key)| (self.config_dir.join(cert), self.config_dir.join(key))),
            behind_proxy: c.behind_proxy,
            public_name: c.public_name.clone(),
            session_hours: c.session_hours,
        }
    }

    fn save_console_token(&self, token: String) -> BoxFuture<'_, Result<(), ConsoleError>> {
        Box::pin(async move {
            let path = self.config_dir.join("secrets.yaml");
            let saved = tokio::task::spawn_blocking(move || {
                secrets::update(&path, |s| s.console_token = token)
            })
            .await
            .map_err(internal)?;
            match saved {
                Ok(_) => {
                    let _ = self.log.send(LiveEvent::Notice {
                        level: "warn",
                        text: "console: signed out everywhere; a new console token is in \
                               configs/secrets.yaml"
                            .into(),
                    });
                    Ok(())
                }
                Err(errors) => Err(ConsoleError::Internal(format!(
                    "the new console token could not be saved, so the old one still works: {}",
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ))),
            }
        })
    }

    fn text_commands(
        &self,
    ) -> BoxFuture<'_, Result<Vec<crate::commands::TextCommand>, ConsoleError>> {
        Box::pin(async move { Ok(self.text()?.list()) })
    }

    fn save_text_command(
        &self,
        name: String,
        update: crate::commands::Update,
    ) -> BoxFuture<'_, Result<crate::commands::TextCommand, ConsoleError>> {
        Box::pin(async move {
            let text = self.text()?;
            tokio::task::spawn_blocking(move || {
                text.save(
                    &name,
                    update,
                    crate::commands::Create::Either,
                    "console",
                    "edit",
                )
            })
            .await
            .map_err(internal)?
            .map_err(manage_error)
        })
    }

    fn delete_text_command(&self, name: String) -> BoxFuture<'_, Result<(), ConsoleError>> {
        Box::pin(async move {
            let text = self.text()?;
            tokio::task::spawn_blocking(move || text.delete(&name, "console"))
                .await
                .map_err(internal)?
                .map(drop)
                .map_err(manage_error)
        })
    }

    fn regulars(
        &self,
    ) -> BoxFuture<'_, Result<Vec<crate::commands::regulars::Regular>, ConsoleError>> {
        Box::pin(async move { Ok(self.regulars.list()) })
    }

    fn set_regular(&self, login: String, add: bool) -> BoxFuture<'_, Result<(), ConsoleError>> {
        Box::pin(async move {
            let (text, regulars) = (self.text()?, self.regulars.clone());
            tokio::task::spawn_blocking(move || {
                let login = login.trim_start_matches('@').to_ascii_lowercase();
                if add {
                    let id = text.resolve(&login).ok_or_else(|| {
                        ConsoleError::NotFound(format!(
                            "no Twitch account `{login}` is known (they must have chatted, or \
                             the Twitch API must be on)"
                        ))
                    })?;
                    regulars.add(&id, &login).map(drop).map_err(internal)
                } else {
                    match regulars.remove(&login) {
                        Ok(true) => Ok(()),
                        Ok(false) => Err(ConsoleError::NotFound(format!(
                            "`{login}` is not a regular"
                        ))),
                        Err(e) => Err(ConsoleError::Conflict(e)),
                    }
                }
            })
            .await
            .map_err(internal)?
        })
    }

    fn script_store(
        &self,
        script: String,
    ) -> BoxFuture<'_, Result<Vec<(String, serde_json::Value)>, ConsoleError>> {
        Box::pin(async move {
            let key = self.store_key(&script)?;
            let stores = self.stores();
            tokio::task::spawn_blocking(move || {
                use crate::scripting::stores::ScriptStore;
                let mut out = Vec::new();
                for k in stores.keys(&key).map_err(internal)? {
                    if let Some(v) = stores.get(&key, &k).map_err(internal)? {
                        out.push((k, v));
                    }
                }
                Ok(out)
            })
            .await
            .map_err(internal)?
        })
    }

    fn set_script_store(
        &self,
        script: String,
        key: String,
        value: Option<serde_json::Value>,
    ) -> BoxFuture<'_, Result<(), ConsoleError>> {
        Box::pin(async move {
            let script = self.store_key(&script)?;
            let stores = self.stores();
            tokio::task::spawn_blocking(move || {
                use crate::scripting::stores::{ScriptStore, StoreError};
                match value {
                    Some(v) => stores.set(&script, &key, v).map_err(|e| match e {
                        full @ StoreError::Full { .. } => ConsoleError::Conflict(full.to_string()),
                        other => internal(other),
                    }),
                    None => match stores.remove(&script, &key).map_err(internal)? {
                        true => Ok(()),
                        false => Err(ConsoleError::NotFound(format!(
                            "the store of {script} has no key `{key}`"
                        ))),
                    },
                }
            })
            .await
            .map_err(internal)?
        })
    }
}

fn tier_number(tier: SubTier) -> u8 {
    match tier {
        SubTier::Prime | SubTier::Tier1 => 1,
        SubTier::Tier2 => 2,
        SubTier::Tier3 => 3,
    }
}

/// The simulated EventSub notification for a console-built event.
fn sim_event(kind: &ChannelEventKind) -> SimEvent {
    match kind {
        ChannelEventKind::Follow => SimEvent::Follow,
        ChannelEventKind::Subscribe { tier, .. } => SimEvent::Subscribe {
            tier: tier_number(*tier),
        },
        ChannelEventKind::Resub {
            tier,
            months,
            message,
            ..
        } => SimEvent::Resub {
            tier: tier_number(*tier),
            months: *months,
            message: message.clone(),
        },
        ChannelEventKind::Gift { tier, count, .. } => SimEvent::Gift {
            tier: tier_number(*tier),
            count: *count,
        },
        ChannelEventKind::Cheer { bits, message, .. } => SimEvent::Cheer {
            bits: *bits,
            message: message.clone(),
        },
        ChannelEventKind::Raid { viewers } => SimEvent::Raid { viewers: *viewers },
        ChannelEventKind::Redemption {
            reward_title,
            cost,
            user_input,
            ..
        } => SimEvent::Redemption {
            title: reward_title.clone(),
            cost: *cost,
            input: user_input.clone(),
        },
        ChannelEventKind::StreamOnline { .. } => SimEvent::StreamOnline,
        ChannelEventKind::StreamOffline => SimEvent::StreamOffline,
        other => SimEvent::Sample {
            kind: match other {
                ChannelEventKind::ChannelUpdate { .. } => "channel.update",
                ChannelEventKind::PollBegin { .. } => "channel.poll.begin",
                ChannelEventKind::PollEnd { .. } => "channel.poll.end",
                ChannelEventKind::PredictionBegin { .. } => "channel.prediction.begin",
                ChannelEventKind::PredictionEnd { .. } => "channel.prediction.end",
                ChannelEventKind::HypeTrainBegin { .. } => "channel.hype_train.begin",
                ChannelEventKind::HypeTrainEnd { .. } => "channel.hype_train.end",
                ChannelEventKind::AdBreak { .. } => "channel.ad_break.begin",
                _ => "channel.follow",
            }
            .to_string(),
        },
    }
}

/// The console token: the one in secrets.yaml, or a new one merged into it (mode 0600). If
/// another process saved one meanwhile, that one is used.
pub fn console_token(config_dir: &Path, current: &str) -> String {
    if !current.trim().is_empty() {
        return current.to_string();
    }
    let token = crate::console::generate_token();
    let path = config_dir.join("secrets.yaml");
    let written = secrets::update(&path, |s| {
        if s.console_token.trim().is_empty() {
            s.console_token = token.clone();
        }
    });
    match written {
        Ok(saved) => saved.console_token,
        Err(errors) => {
            for e in errors {
                warn!("{e}");
            }
            warn!(
                "cannot save the console token in {}; it is kept for this run only",
                path.display()
            );
            token
        }
    }
}
