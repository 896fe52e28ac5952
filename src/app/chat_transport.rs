//! Which way chat goes, and starting it: `chat.transport` (`auto`, `eventsub` or `irc`) decides
//! between reading over the bot's own EventSub session and sending with Helix
//! `POST /chat/messages`, or IRC for both. `auto` takes EventSub when the bot's grant holds
//! `user:read:chat` and `user:write:chat`; either setting falls back to IRC, with the same
//! outgoing queue, when Twitch refuses the chat subscriptions or the first Helix send. The
//! choice and its reason are logged once and kept in [`Health`] as chat's note for the console.
//!
//! Scripts, moderation and stats do not know which way was taken: both readers give the same
//! events, and the bot sends through the same [`ChatHandle`].

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::api::EventSubConfig;
use crate::config::bot::ChatTransport;
use crate::event::Service;
use crate::health::Health;
use crate::queue::EventSender;
use crate::twitch::auth::Account;
use crate::twitch::chat::helix_send::{self, HelixSendSettings, SEND_SCOPE, SendEnd};
use crate::twitch::chat::{self, ChatHandle, ChatSettings, OutgoingQueue, outgoing};
use crate::twitch::eventsub::chat::READ_SCOPE;
use crate::twitch::eventsub::{self, ChatReadSettings, Dedup, MemoryDedup};
use crate::twitch::helix::Helix;

/// How long the chat subscriptions may take to be accepted before `auto`/`eventsub` gives up
/// on EventSub and reads over IRC.
pub const SUBSCRIBE_WAIT: Duration = Duration::from_secs(20);

/// Everything chat needs to start on either transport.
#[derive(Clone)]
pub struct TransportSettings {
    /// `chat.transport`.
    pub mode: ChatTransport,
    /// The IRC connection's settings (also the queue's capacity and rate-class floor).
    pub irc: ChatSettings,
    /// The Helix client; without one only IRC is possible.
    pub helix: Option<Helix>,
    /// `twitch.eventsub_url`.
    pub eventsub_url: String,
    /// Where subscriptions are created.
    pub subscriptions_url: String,
    /// Keepalive margin, dedup window and back-off for the chat session.
    pub eventsub: EventSubConfig,
    /// Where the choice is shown (chat's note).
    pub health: Health,
}

impl std::fmt::Debug for TransportSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportSettings")
            .field("mode", &self.mode)
            .field("irc", &self.irc)
            .finish_non_exhaustive()
    }
}

/// The transport taken, with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// EventSub for reading, Helix for sending.
    EventSub(String),
    /// IRC for both.
    Irc(String),
}

impl Choice {
    /// One line for the log and the console: `eventsub (…)` or `irc (…)`.
    pub fn describe(&self) -> String {
        match self {
            Choice::EventSub(why) => format!("eventsub ({why})"),
            Choice::Irc(why) => format!("irc ({why})"),
        }
    }
}

/// What the grant allows before asking Twitch: `Some(reason)` when IRC must be used.
pub fn precheck(mode: ChatTransport, helix: Option<&Helix>) -> Option<String> {
    match mode {
        ChatTransport::Irc => Some("chat.transport is irc".into()),
        _ if helix.is_none() => Some("no Twitch API client (no token or client id)".into()),
        ChatTransport::Auto => {
            let helix = helix?;
            let missing: Vec<&str> = [READ_SCOPE, SEND_SCOPE]
                .into_iter()
                .filter(|s| !helix.has_scope(Account::Bot, s))
                .collect();
            (!missing.is_empty()).then(|| {
                format!(
                    "chat.transport is auto and the bot's grant lacks {} (run `twitch-bot auth` \
                     to add it)",
                    missing.join(" and ")
                )
            })
        }
        ChatTransport::Eventsub => None,
    }
}

/// Starts chat on the transport `settings.mode` leads to: the handle the bot sends with, and
/// the task (which runs until `shutdown`).
pub fn start(
    settings: TransportSettings,
    events: EventSender,
    shutdown: CancellationToken,
) -> (ChatHandle, JoinHandle<()>) {
    let (handle, queue) =
        outgoing::channel(settings.irc.outgoing_capacity, settings.irc.rate_limit);
    let task = tokio::spawn(run(settings, handle.clone(), queue, events, shutdown));
    (handle, task)
}

async fn run(
    settings: TransportSettings,
    handle: ChatHandle,
    queue: OutgoingQueue,
    events: EventSender,
    shutdown: CancellationToken,
) {
    let queue = match precheck(settings.mode, settings.helix.as_ref()) {
        Some(why) => queue_for_irc(&settings, Choice::Irc(why), queue),
        None => match eventsub(&settings, &handle, queue, &events, &shutdown).await {
            None => return,
            Some((why, queue)) => queue_for_irc(&settings, Choice::Irc(why), queue),
        },
    };
    let _ = chat::spawn(settings.irc.clone(), queue, events, shutdown).await;
}

/// Logs the choice once and records it as chat's note.
fn announce(settings: &TransportSettings, choice: &Choice) {
    let line = choice.describe();
    match choice {
        Choice::EventSub(_) => info!("chat transport: {line}"),
        Choice::Irc(_) if settings.mode == ChatTransport::Irc => info!("chat transport: {line}"),
        Choice::Irc(_) => warn!("chat transport: {line}"),
    }
    settings
        .health
        .set_note(Service::Chat, format!("transport: {line}"));
}

fn queue_for_irc(
    settings: &TransportSettings,
    choice: Choice,
    queue: OutgoingQueue,
) -> OutgoingQueue {
    announce(settings, &choice);
    queue
}

/// Runs chat over EventSub and Helix. `None` when it ran until shutdown; otherwise why it
/// cannot, with the queue (and every message not sent) for IRC.
async fn eventsub(
    settings: &TransportSettings,
    handle: &ChatHandle,
    queue: OutgoingQueue,
    events: &EventSender,
    shutdown: &CancellationToken,
) -> Option<(String, OutgoingQueue)> {
    let Some(helix) = settings.helix.clone() else {
        return Some(("no Twitch API client".into(), queue));
    };
    // The ids come from Helix once the API side is up.
    let ids = loop {
        let ids = helix.ids();
        if !ids.bot_id.is_empty() && !ids.broadcaster_id.is_empty() {
            break ids;
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    };
    let reader_stop = shutdown.child_token();
    let roles = handle.clone();
    let dedup: Arc<dyn Dedup> = Arc::new(MemoryDedup::new(settings.eventsub.dedup_capacity));
    let (status, reader) = eventsub::spawn_chat(
        ChatReadSettings {
            ws_url: settings.eventsub_url.clone(),
            subscriptions_url: settings.subscriptions_url.clone(),
            broadcaster_id: ids.broadcaster_id.clone(),
            bot_id: ids.bot_id.clone(),
            config: settings.eventsub.clone(),
            on_bot_roles: Some(Arc::new(move |moderator| roles.set_moderator(moderator))),
        },
        helix.clone(),
        events.clone(),
        dedup,
        reader_stop.clone(),
    );
    // Subscribed, or refused, or too slow.
    let mut watch = status.watch();
    let first = CHAT_MESSAGE;
    let verdict = tokio::time::timeout(SUBSCRIBE_WAIT, async {
        loop {
            {
                let s = watch.borrow_and_update();
                if let Some((_, why)) = s.refused.iter().find(|(k, _)| k == first) {
                    return Err(format!("Twitch refused {first}: {why}"));
                }
                if s.created > 0 {
                    return Ok(());
                }
            }
            if watch.changed().await.is_err() {
                return Err("the EventSub chat session stopped".to_string());
            }
        }
    });
    let verdict = tokio::select! {
        () = shutdown.cancelled() => return None,
        v = verdict => v,
    };
    if let Err(why) = verdict.unwrap_or_else(|_| {
        Err(format!(
            "the chat subscriptions were not accepted within {} s",
            SUBSCRIBE_WAIT.as_secs()
        ))
    }) {
        reader_stop.cancel();
        let _ = reader.await;
        return Some((why, queue));
    }
    announce(
        settings,
        &Choice::EventSub(format!(
            "the bot's grant has {READ_SCOPE} and {SEND_SCOPE}, and Twitch accepted the chat \
             subscriptions"
        )),
    );
    let end = send(settings, queue, helix, &ids, events, shutdown).await;
    reader_stop.cancel();
    let _ = reader.await;
    end.map(|(why, queue)| (format!("Twitch refused the first Helix send: {why}"), queue))
}

/// Sends the queue over Helix while chat is read over EventSub, until shutdown (`None`) or
/// until Twitch refuses the first message (the reason, and the queue with what was not sent).
async fn send(
    settings: &TransportSettings,
    queue: OutgoingQueue,
    helix: Helix,
    ids: &crate::twitch::helix::ChannelIds,
    events: &EventSender,
    shutdown: &CancellationToken,
) -> Option<(String, OutgoingQueue)> {
    let sender = helix_send::spawn(
        HelixSendSettings {
            channel: settings.irc.channel.clone(),
            broadcaster_id: ids.broadcaster_id.clone(),
            sender_id: ids.bot_id.clone(),
        },
        queue,
        helix,
        events.clone(),
        shutdown.clone(),
    );
    match sender.await {
        Ok(SendEnd::Stopped { .. }) => None,
        Ok(SendEnd::Refused { queue, reason }) => Some((reason, queue)),
        Err(e) => {
            // The supervisor starts chat again, with a new queue.
            warn!("chat: the Helix sender failed ({e})");
            None
        }
    }
}

/// The subscription whose acceptance decides the transport.
const CHAT_MESSAGE: &str = "channel.chat.message";
