//! Starts moderation's parts: the enforcer that carries decisions out through Helix (and how it
//! warns), the moderator the dispatcher runs, the moderation-log writer, follow-wave detection
//! and the task that blocks a wave's accounts.

use std::sync::Arc;

use anyhow::Context;
use tokio::task::JoinHandle;
use tracing::info;

use super::Launch;
use super::twitch_api::ApiHandles;
use crate::config::Config;
use crate::moderation::Moderator;
use crate::moderation::enforce::{Enforcer, Limits};
use crate::moderation::log::ModlogSender;
use crate::moderation::waves::FollowWaves;
use crate::outputs::Outputs;
use crate::storage::Storage;

/// Moderation's parts the dispatcher and the console use.
pub(super) struct Moderation {
    /// The rules in force (`None` when moderation is off).
    pub(super) moderator: Option<Moderator>,
    /// Where moderation-log entries go.
    pub(super) log: ModlogSender,
    /// The moderation-log writer: it ends once every sender is gone, so it comes last in the
    /// shutdown order.
    pub(super) log_task: JoinHandle<()>,
    /// Follow-bot wave detection.
    pub(super) waves: FollowWaves,
    /// Accounts to block in a follow wave, when Helix runs.
    pub(super) blocks: Option<tokio::sync::mpsc::Sender<compact_str::CompactString>>,
}

/// The enforcer moderation's decisions go through, when Helix runs.
pub(super) fn start_enforcer(
    launch: &Launch,
    config: &Config,
    api: &ApiHandles,
) -> Option<Enforcer> {
    api.helix.clone().map(|helix| {
        Enforcer::start(
            helix.at(crate::twitch::helix::Priority::Moderation),
            Limits::from_config(&config.moderation),
            launch.shutdown.clone(),
        )
    })
}

/// Has the enforcer's warn step use Twitch's native warnings when the bot's grant allows it;
/// otherwise it posts in chat.
pub(super) fn choose_warnings(outputs: &Outputs, api: &ApiHandles) {
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
}

/// Compiles the rules (when moderation is on) and starts the moderation-log writer and the
/// follow-wave blocker.
///
/// # Errors
/// moderation.yaml's rules do not compile.
pub(super) fn start(
    launch: &mut Launch,
    config: &Config,
    storage: &Storage,
    api: &ApiHandles,
) -> anyhow::Result<Moderation> {
    let moderator = if config.moderation.enabled {
        Some(moderator_for(&config.moderation, &api.emotes).context("moderation.yaml")?)
    } else {
        None
    };
    let (modlog_tx, modlog_queue) = crate::moderation::log::modlog_channel();
    let modlog_task = {
        let storage = storage.clone();
        let retention = config.moderation.log;
        let shutdown = launch.shutdown.clone();
        launch.supervisor.restart("moderation log", move || {
            crate::moderation::log::spawn_modlog_writer(
                storage.clone(),
                modlog_queue.clone(),
                retention,
                shutdown.clone(),
            )
        })
    };
    let waves = FollowWaves::new(config.moderation.follow_waves.clone());
    // Blocks go out one at a time as the broadcaster, off the dispatcher.
    let blocks = api.helix.clone().map(|helix| {
        let (tx, queue) = crate::moderation::waves::block_channel();
        let shutdown = launch.shutdown.clone();
        launch.supervise("follow-wave blocks", move || {
            crate::moderation::waves::spawn_blocker(helix.clone(), queue.clone(), shutdown.clone())
        });
        tx
    });
    Ok(Moderation {
        moderator,
        log: modlog_tx,
        log_task: modlog_task,
        waves,
        blocks,
    })
}

/// The moderator for `config`, with the channel's emotes (once loaded) exempt.
pub(super) fn moderator_for(
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
