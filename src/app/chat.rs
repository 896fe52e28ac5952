//! Starts the chat connection (EventSub + Helix or IRC, to Twitch or to the simulator, as
//! `chat.transport` and the bot's grant decide) under the supervisor, and hands back the link
//! everyone sends chat through.

use std::time::Duration;

use anyhow::bail;
use tracing::info;

use super::chat_transport::{self, TransportSettings};
use super::twitch_api::ApiHandles;
use super::{Launch, Settings};
use crate::config::Config;
use crate::outputs::ChatLink;
use crate::sim::SimTwitch;
use crate::subsystems::Subsystem;
use crate::twitch::chat::{ChatSettings, ChatUrl};

/// Connects to chat, unless `--nochat` (then `None`).
///
/// # Errors
/// No bot token for live chat, or a chat URL that does not parse.
pub(super) fn start(
    launch: &mut Launch,
    settings: &Settings,
    config: &Config,
    sim: Option<&SimTwitch>,
    api: &ApiHandles,
) -> anyhow::Result<Option<ChatLink>> {
    if !settings.enabled.contains(Subsystem::Chat) {
        info!("chat is switched off (--nochat)");
        return Ok(None);
    }
    let (url, token) = match sim {
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
        login: launch.login.clone(),
        token,
        channel: launch.channel.clone(),
        rate_limit: config.bot.chat.rate_limit,
        ping_interval: Duration::from_secs(config.bot.chat.ping_interval_secs.max(1)),
        ping_timeout: Duration::from_secs(config.bot.chat.ping_timeout_secs.max(1)),
        outgoing_capacity: config.bot.chat.outgoing_queue,
        max_backoff: Duration::from_secs(config.bot.chat.max_backoff_secs.max(1)),
    };
    // EventSub + Helix or IRC: `chat_transport` chooses, says why once, and falls back.
    let chat_settings = TransportSettings {
        mode: config.bot.chat.transport,
        irc: chat_settings,
        helix: api.helix.clone(),
        eventsub_url: config.bot.twitch.eventsub_url.clone(),
        subscriptions_url: crate::twitch::eventsub::subscriptions_url(&config.bot.twitch),
        eventsub: config.bot.eventsub.clone(),
        health: launch.health.clone(),
    };
    let (handle, task) = chat_transport::start(
        chat_settings.clone(),
        launch.events.clone(),
        launch.shutdown.clone(),
    );
    let link = ChatLink::new(handle);
    // EventSub's word that the bot was made or unmade a moderator goes to whichever
    // connection runs then.
    let told = link.clone();
    let _ = api.bot_moderator.set(std::sync::Arc::new(move |moderator| {
        told.set_moderator(moderator)
    }));
    // A restarted connection gets a new handle; the link sends everyone's messages
    // there. What the failed run still had queued is lost.
    let (events, shutdown) = (launch.events.clone(), launch.shutdown.clone());
    let mut first = Some(task);
    let relink = link.clone();
    launch.supervise("chat", move || {
        first.take().unwrap_or_else(|| {
            let (handle, task) =
                chat_transport::start(chat_settings.clone(), events.clone(), shutdown.clone());
            relink.replace(handle);
            task
        })
    });
    Ok(Some(link))
}
