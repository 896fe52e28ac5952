//! Starts the dispatcher: the one task that takes events off the queue (moderation, built-ins,
//! scripts, points, stats), under the supervisor, which hands the queue to a new dispatcher
//! after a crash.

use std::sync::Arc;

use tokio::sync::watch;
use tracing::warn;

use super::moderation::{Moderation, moderator_for};
use super::scripts::Scripts;
use super::twitch_api::ApiHandles;
use super::{Launch, Settings};
use crate::config::Config;
use crate::dispatch::{Dispatcher, Parts};
use crate::loyalty::Loyalty;
use crate::outputs::Outputs;
use crate::queue::EventReceiver;
use crate::storage::Storage;
use crate::subsystems::Subsystem;

/// What the dispatcher works with, from the subsystems started before it.
pub(super) struct Inputs<'a> {
    /// Where actions leave the bot.
    pub(super) outputs: Outputs,
    /// The script host, text commands and regulars.
    pub(super) scripts: &'a Scripts,
    /// The database.
    pub(super) storage: &'a Storage,
    /// Watch-time and event points.
    pub(super) loyalty: Arc<Loyalty>,
    /// Helix, the stream watcher and emotes.
    pub(super) api: &'a ApiHandles,
    /// The config in force, replaced on reload.
    pub(super) config: watch::Receiver<Arc<Config>>,
    /// Stream statistics, when on.
    pub(super) stats: Option<crate::stats::Recorder>,
    /// The storage writer.
    pub(super) writer: crate::storage::writer::Writer,
    /// Raid mode.
    pub(super) raid: crate::moderation::raid::RaidMode,
    /// The moderator, the moderation log, follow waves and blocks.
    pub(super) moderation: &'a Moderation,
}

/// Starts the dispatcher on `queue`, taking the moderator out of `inputs.moderation`.
pub(super) fn start(
    launch: &mut Launch,
    settings: &Settings,
    config: &Config,
    queue: EventReceiver,
    inputs: Inputs<'_>,
    moderator: Option<crate::moderation::Moderator>,
) {
    let parts = Parts {
        channel: launch.channel.as_str().into(),
        outputs: inputs.outputs,
        health: launch.health.clone(),
        scripts: Some(inputs.scripts.host.clone()),
        storage: Some(inputs.storage.clone()),
        loyalty: Some(inputs.loyalty),
        stream: inputs.api.stream.clone(),
        eventsub_enabled: settings.enabled.contains(Subsystem::EventSub),
        log: Some(launch.log.clone()),
        config: Some(inputs.config),
        prefix: config.bot.chat.command_prefix.clone(),
        modlog: Some(inputs.moderation.log.clone()),
        stats: inputs.stats,
        writer: Some(inputs.writer),
        waves: Some(inputs.moderation.waves.clone()),
        blocks: inputs.moderation.blocks.clone(),
        raid: Some(inputs.raid),
        text_commands: inputs.scripts.text_commands.clone(),
        regulars: Some(inputs.scripts.regulars.clone()),
    };
    // The queue outlives a dispatcher that fails: the next one takes it over, with the
    // moderation rules in force (its in-memory permits and spam windows start afresh).
    let rx = Arc::new(tokio::sync::Mutex::new(queue));
    let mut first = Some(Dispatcher::new(parts.clone(), moderator));
    let (emotes, dispatch_shutdown) = (inputs.api.emotes.clone(), launch.shutdown.clone());
    launch.supervise("dispatcher", move || {
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
    });
}
