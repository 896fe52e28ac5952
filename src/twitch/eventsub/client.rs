//! The EventSub client task: connects, waits for the welcome, creates the subscriptions,
//! watches the keepalive, follows `session_reconnect`, deduplicates notifications and hands
//! them to the queue; reconnects with back-off when the link is lost.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::chat::CHAT_SUBSCRIPTIONS;
use super::moderators::ModeratorWatch;
use super::{
    Dedup, EventSubConfig, EventSubError, EventSubHandle, EventSubMessage, EventSubSettings,
    EventSubStatus, condition, decode, version_and_scope,
};
use crate::backoff::Backoff;
use crate::event::{ConnectionChange, ConnectionState, Event, Roles, Service};
use crate::queue::EventSender;
use crate::twitch::auth::Account;
use crate::twitch::helix::{EventSubSubscription, Helix, HelixError, is_grant_error};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long connecting (TCP, TLS, WebSocket upgrade) and the `session_welcome` after it may take
/// together before the attempt counts as failed.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether a `session_reconnect` URL may be followed, given the configured `twitch.eventsub_url`:
/// its host must be the configured host or, for a domain name, lie in the same registrable
/// domain (configured `eventsub.wss.twitch.tv` accepts any `*.twitch.tv`; an IP address or
/// `localhost` accepts only itself), and it must use `wss` when the configured URL does.
pub fn reconnect_allowed(configured: &str, offered: &str) -> bool {
    let (Ok(conf), Ok(offer)) = (
        reqwest::Url::parse(configured),
        reqwest::Url::parse(offered),
    ) else {
        return false;
    };
    let scheme_ok = match conf.scheme() {
        "wss" => offer.scheme() == "wss",
        _ => matches!(offer.scheme(), "ws" | "wss"),
    };
    let (Some(conf_host), Some(offer_host)) = (conf.host_str(), offer.host_str()) else {
        return false;
    };
    let conf_host = conf_host.trim_end_matches('.').to_ascii_lowercase();
    let offer_host = offer_host.trim_end_matches('.').to_ascii_lowercase();
    if !scheme_ok {
        return false;
    }
    if conf_host == offer_host {
        return true;
    }
    let is_ip = conf_host.starts_with('[') || conf_host.parse::<std::net::IpAddr>().is_ok();
    if is_ip {
        return false;
    }
    match psl::domain_str(&conf_host) {
        Some(domain) => {
            offer_host == domain
                || offer_host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.ends_with('.'))
        }
        None => false,
    }
}

/// Starts the client. It runs until `shutdown`, reconnecting as needed.
pub fn spawn(
    settings: EventSubSettings,
    helix: Helix,
    events: EventSender,
    dedup: Arc<dyn Dedup>,
    shutdown: CancellationToken,
) -> (EventSubHandle, JoinHandle<()>) {
    start_channel(settings, None, helix, events, dedup, shutdown)
}

/// [`spawn`] for the broadcaster's channel session, telling `watch` of the bot's own
/// moderator changes (see [`super::moderators`]).
pub(super) fn start_channel(
    settings: EventSubSettings,
    watch: Option<ModeratorWatch>,
    helix: Helix,
    events: EventSender,
    dedup: Arc<dyn Dedup>,
    shutdown: CancellationToken,
) -> (EventSubHandle, JoinHandle<()>) {
    start(
        settings,
        Side::Channel(watch),
        helix,
        events,
        dedup,
        shutdown,
    )
}

/// Called with whether the bot may send at the moderator rate (its own badges, seen on its
/// echoes: moderator or broadcaster).
pub type BotRoles = Arc<dyn Fn(bool) + Send + Sync>;

/// Where and as whom the bot reads chat over EventSub: a session of its own, subscriptions
/// made with the bot's token (condition `broadcaster_user_id` + `user_id` = the bot).
#[derive(Clone)]
pub struct ChatReadSettings {
    /// `twitch.eventsub_url`.
    pub ws_url: String,
    /// Where subscriptions are created (see [`super::subscriptions_url`]).
    pub subscriptions_url: String,
    /// The channel whose chat is read.
    pub broadcaster_id: String,
    /// The bot account's user id: the token's user and the condition's `user_id`.
    pub bot_id: String,
    /// Keepalive margin, dedup window and back-off (the `subscriptions` list is not used).
    pub config: EventSubConfig,
    /// Told the bot's rate class whenever its echo shows its badges.
    pub on_bot_roles: Option<BotRoles>,
}

impl std::fmt::Debug for ChatReadSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatReadSettings")
            .field("ws_url", &self.ws_url)
            .field("broadcaster_id", &self.broadcaster_id)
            .field("bot_id", &self.bot_id)
            .finish_non_exhaustive()
    }
}

/// Starts the bot's chat session: the same client (keepalive, `session_reconnect`, revocation,
/// dedupe, back-off) with the `channel.chat.*` subscriptions made as the bot; notifications
/// become the events IRC would give, and its health is reported as [`Service::Chat`].
pub fn spawn_chat(
    settings: ChatReadSettings,
    helix: Helix,
    events: EventSender,
    dedup: Arc<dyn Dedup>,
    shutdown: CancellationToken,
) -> (EventSubHandle, JoinHandle<()>) {
    let mut config = settings.config;
    config.subscriptions = CHAT_SUBSCRIPTIONS.iter().map(|k| k.to_string()).collect();
    let side = ChatSide {
        bot_id: settings.bot_id,
        on_bot_roles: settings.on_bot_roles,
    };
    let settings = EventSubSettings {
        ws_url: settings.ws_url,
        subscriptions_url: settings.subscriptions_url,
        broadcaster_id: settings.broadcaster_id,
        config,
    };
    start(settings, Side::Chat(side), helix, events, dedup, shutdown)
}

/// Which session a client runs: the broadcaster's channel events (watching the bot's moderator
/// status or not), or the bot's own chat.
enum Side {
    Channel(Option<ModeratorWatch>),
    Chat(ChatSide),
}

fn start(
    settings: EventSubSettings,
    side: Side,
    helix: Helix,
    events: EventSender,
    dedup: Arc<dyn Dedup>,
    shutdown: CancellationToken,
) -> (EventSubHandle, JoinHandle<()>) {
    let (tx, rx) = watch::channel(EventSubStatus::default());
    let max_backoff = Duration::from_secs(settings.config.max_backoff_secs.max(1));
    let (chat, moderators) = match side {
        Side::Channel(watch) => (None, watch),
        Side::Chat(chat) => (Some(chat), None),
    };
    let client = Client {
        settings,
        chat,
        moderators,
        helix,
        events,
        dedup,
        status: tx,
        refused: HashMap::new(),
        welcomed: false,
        pending: Vec::new(),
        retry_subscriptions: None,
        subscription_backoff: Backoff::new(Duration::from_secs(1), max_backoff),
    };
    let task = tokio::spawn(client.run(shutdown));
    (EventSubHandle { status: rx }, task)
}

/// What a chat session knows beyond a channel-events one.
struct ChatSide {
    bot_id: String,
    on_bot_roles: Option<BotRoles>,
}

struct Client {
    settings: EventSubSettings,
    /// Set for the bot's chat session.
    chat: Option<ChatSide>,
    /// Set for a channel session that follows the bot's moderator status.
    moderators: Option<ModeratorWatch>,
    helix: Helix,
    events: EventSender,
    dedup: Arc<dyn Dedup>,
    status: watch::Sender<EventSubStatus>,
    refused: HashMap<String, String>,
    /// A welcome arrived since the last reconnect (resets the back-off).
    welcomed: bool,
    /// Types not created yet on the live session because Helix failed; retried at
    /// `retry_subscriptions`.
    pending: Vec<String>,
    retry_subscriptions: Option<tokio::time::Instant>,
    /// Back-off between subscription rounds that left something pending.
    subscription_backoff: Backoff,
}

enum Step {
    Continue,
    Reconnect(String),
}

/// Connects to `url` and waits for its `session_welcome`, all within [`HANDSHAKE_TIMEOUT`].
/// Returns the socket and the welcome's text.
async fn open(url: &str) -> Result<(Ws, String), EventSubError> {
    let handshake = async {
        // Twitch's largest notifications are a few KiB: 256 KiB per message (and frame) keeps
        // a broken or hostile peer from making the bot buffer tungstenite's default 64 MiB.
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(
            url,
            Some(
                tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                    .max_message_size(Some(256 * 1024))
                    .max_frame_size(Some(256 * 1024)),
            ),
            false,
        )
        .await?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    if matches!(decode(t.as_str()), Ok(EventSubMessage::Welcome { .. })) {
                        return Ok((ws, t.as_str().to_string()));
                    }
                    debug!("EventSub: message before the welcome ignored");
                }
                Some(Ok(Message::Close(frame))) => return Err(closed(frame)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Err(EventSubError::Closed("end of stream".into())),
            }
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| EventSubError::Handshake)?
}

/// The error for a Close frame, with its code and reason (Twitch's 4000-4007).
fn closed(frame: Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> EventSubError {
    EventSubError::Closed(
        frame
            .map(|f| format!("{} {}", u16::from(f.code), f.reason))
            .unwrap_or_default(),
    )
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Client {
    async fn run(mut self, shutdown: CancellationToken) {
        // Until a session has worked once the waits stay at a few seconds, so EventSub is up
        // soon after Twitch answers again; a later outage may back off to `max_backoff_secs`.
        let max = Duration::from_secs(self.settings.config.max_backoff_secs.max(1));
        let mut backoff = Backoff::new(Duration::from_secs(1), max);
        loop {
            let url = self.settings.ws_url.clone();
            let result = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.session(&url, &shutdown) => r,
            };
            if shutdown.is_cancelled() {
                return;
            }
            self.status.send_modify(|s| s.session_id = None);
            if std::mem::take(&mut self.welcomed) {
                // The last socket worked: this is a new outage.
                backoff.succeeded();
            }
            let reason = match result {
                Ok(()) => return,
                Err(e) => e.to_string(),
            };
            let wait = backoff.next_delay();
            // Say it once per outage; repeated failures while Twitch is unreachable go to debug.
            if backoff.failures() == 1 {
                warn!("EventSub: {reason}; reconnecting with back-off");
            } else {
                debug!("EventSub: {reason}; next try in {wait:?}");
            }
            self.health(ConnectionState::Reconnecting {
                reason,
                retry_in_ms: wait.as_millis().try_into().unwrap_or(u64::MAX),
            })
            .await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn health(&self, state: ConnectionState) {
        let _ = self
            .events
            .send(Event::Connection(ConnectionChange {
                service: if self.chat.is_some() {
                    Service::Chat
                } else {
                    Service::EventSub
                },
                state,
            }))
            .await;
    }

    /// One connection and whatever sockets `session_reconnect` hands it to. Returns when the
    /// link is lost (an error) or on shutdown.
    async fn session(
        &mut self,
        url: &str,
        shutdown: &CancellationToken,
    ) -> Result<(), EventSubError> {
        self.pending.clear();
        self.retry_subscriptions = None;
        let (mut ws, welcome) = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            r = open(url) => r?,
        };
        let mut keepalive = Duration::from_secs(10);
        self.handle(&welcome, &mut keepalive, true).await;
        let margin = Duration::from_secs(self.settings.config.keepalive_margin_secs);
        loop {
            let retry_at = self.retry_subscriptions;
            let msg = tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = ws.close(None).await;
                    return Ok(());
                }
                _ = sleep_until_some(retry_at) => {
                    self.subscribe_pending().await;
                    continue;
                }
                m = tokio::time::timeout(keepalive + margin, ws.next()) => m,
            };
            let text = match msg {
                Err(_) => return Err(EventSubError::KeepaliveLost),
                Ok(None) => return Err(EventSubError::Closed("end of stream".into())),
                Ok(Some(Err(e))) => return Err(e.into()),
                Ok(Some(Ok(Message::Text(t)))) => t,
                Ok(Some(Ok(Message::Close(frame)))) => return Err(closed(frame)),
                Ok(Some(Ok(_))) => continue,
            };
            match self.handle(text.as_str(), &mut keepalive, true).await {
                Step::Continue => {}
                Step::Reconnect(new_url) => {
                    let configured = self.settings.ws_url.clone();
                    ws = if reconnect_allowed(&configured, &new_url) {
                        info!("EventSub: moving to a new session as Twitch asked");
                        self.switch(ws, &new_url, false, &mut keepalive).await?
                    } else {
                        warn!(
                            "EventSub: refused to reconnect to {} (not on the host of \
                             twitch.eventsub_url {configured}); reconnecting to {configured} instead",
                            url_for_log(&new_url)
                        );
                        self.switch(ws, &configured, true, &mut keepalive).await?
                    };
                }
            }
        }
    }

    /// Moves to `new_url`: connects, keeps processing the old socket until the new one says
    /// welcome, then closes the old one. After a `session_reconnect` the subscriptions carry
    /// over; with `resubscribe` (a fresh session on the configured URL) they are created again.
    async fn switch(
        &mut self,
        mut old: Ws,
        new_url: &str,
        resubscribe: bool,
        keepalive: &mut Duration,
    ) -> Result<Ws, EventSubError> {
        let connect = open(new_url);
        tokio::pin!(connect);
        let mut old_open = true;
        let (new, welcome) = loop {
            tokio::select! {
                r = &mut connect => break r.map_err(|e| EventSubError::BadReconnect(e.to_string()))?,
                m = old.next(), if old_open => {
                    match m {
                        Some(Ok(Message::Text(t))) => { self.handle(t.as_str(), keepalive, false).await; }
                        Some(Ok(_)) => {}
                        _ => old_open = false,
                    }
                }
            }
        };
        if resubscribe {
            self.pending.clear();
            self.retry_subscriptions = None;
        }
        self.handle(&welcome, keepalive, resubscribe).await;
        let _ = old.close(None).await;
        Ok(new)
    }

    async fn handle(&mut self, text: &str, keepalive: &mut Duration, subscribe: bool) -> Step {
        let message = match decode(text) {
            Ok(m) => m,
            Err(e) => {
                warn!("EventSub: unreadable message ignored ({e})");
                return Step::Continue;
            }
        };
        match message {
            EventSubMessage::Welcome {
                session_id: id,
                keepalive_secs,
            } => {
                if let Some(secs) = keepalive_secs {
                    *keepalive = Duration::from_secs(secs.max(1));
                }
                info!(session = %id, "EventSub connected");
                self.welcomed = true;
                self.status.send_modify(|s| s.session_id = Some(id.clone()));
                if subscribe {
                    self.pending = self
                        .settings
                        .config
                        .subscriptions
                        .iter()
                        .filter(|k| !self.refused.contains_key(*k))
                        .cloned()
                        .collect();
                    self.subscribe_pending().await;
                }
                self.health(ConnectionState::Connected).await;
            }
            EventSubMessage::Keepalive => {}
            EventSubMessage::Reconnect { url } => return Step::Reconnect(url),
            EventSubMessage::Notification {
                message_id,
                kind,
                event,
            } => {
                if !self.dedup.first_time(&message_id) {
                    debug!(id = %message_id, "EventSub duplicate dropped");
                    return Step::Continue;
                }
                match event {
                    Some(ev) => {
                        if let Some(watch) = &self.moderators {
                            watch.tell(&ev);
                        }
                        let _ = self.events.send(Event::Channel(ev)).await;
                    }
                    None => debug!(%kind, "EventSub notification without a mapping"),
                }
            }
            EventSubMessage::Chat {
                message_id,
                kind,
                events,
            } => {
                if !self.dedup.first_time(&message_id) {
                    debug!(id = %message_id, "EventSub chat duplicate dropped");
                    return Step::Continue;
                }
                if events.is_empty() {
                    debug!(%kind, "EventSub chat notification without a mapping");
                }
                for ev in events {
                    if let (Event::UserState(u), Some(hook)) = (
                        &ev,
                        self.chat.as_ref().and_then(|c| c.on_bot_roles.as_ref()),
                    ) {
                        hook(
                            u.roles.contains(Roles::MODERATOR)
                                || u.roles.contains(Roles::BROADCASTER),
                        );
                    }
                    let _ = self.events.send(ev).await;
                }
            }
            EventSubMessage::Revocation { kind, reason } => {
                let hint = if reason == "authorization_revoked" {
                    format!("; {}", crate::twitch::auth::RUN_AUTH)
                } else {
                    String::new()
                };
                error!("EventSub subscription {kind} revoked by Twitch ({reason}){hint}");
                self.status
                    .send_modify(|s| s.revoked.push((kind.clone(), reason.clone())));
                self.health(ConnectionState::Down {
                    reason: format!("subscription {kind} revoked: {reason}{hint}"),
                })
                .await;
            }
            EventSubMessage::Other { message_type } => {
                debug!(%message_type, "EventSub message type ignored")
            }
        }
        Step::Continue
    }

    /// Creates one subscription: with the broadcaster's token for channel events, with the
    /// bot's for its chat session (one user per socket).
    async fn create(
        &self,
        kind: &str,
        version: &str,
        cond: &serde_json::Value,
        session_id: &str,
    ) -> Result<EventSubSubscription, HelixError> {
        let url = &self.settings.subscriptions_url;
        if self.chat.is_none() {
            return self
                .helix
                .create_eventsub(url, kind, version, cond, session_id)
                .await;
        }
        let body = serde_json::json!({
            "type": kind,
            "version": version,
            "condition": cond,
            "transport": {"method": "websocket", "session_id": session_id},
        });
        let v = self
            .helix
            .request_url(Account::Bot, reqwest::Method::POST, url, &[], Some(&body))
            .await?;
        let page: crate::twitch::helix::Page<EventSubSubscription> =
            crate::twitch::helix::page(url, v)?;
        page.data
            .into_iter()
            .next()
            .ok_or_else(|| HelixError::Status {
                status: 200,
                path: url.split('?').next().unwrap_or(url).to_string(),
                message: "no subscription in the answer".into(),
            })
    }

    /// Creates the pending subscriptions on the live session. What Helix fails to create
    /// (network, 429, 5xx) stays pending and is tried again after a jittered back-off; what
    /// Twitch refuses is reported once and dropped.
    async fn subscribe_pending(&mut self) {
        self.retry_subscriptions = None;
        let Some(session_id) = self.status.borrow().session_id.clone() else {
            return;
        };
        let mut kinds = std::mem::take(&mut self.pending).into_iter();
        let mut last_error = None;
        while let Some(kind) = kinds.next() {
            let (version, scope) = version_and_scope(&kind);
            let cond = match &self.chat {
                Some(chat) => serde_json::json!({
                    "broadcaster_user_id": self.settings.broadcaster_id,
                    "user_id": chat.bot_id,
                }),
                None => condition(&kind, &self.settings.broadcaster_id),
            };
            match self.create(&kind, version, &cond, &session_id).await {
                Ok(_) => self.status.send_modify(|s| s.created += 1),
                Err(HelixError::Status { status: 409, .. }) => {}
                Err(HelixError::Status {
                    status, message, ..
                }) if status == 400 || status == 403 => {
                    let why = format!(
                        "{message} (needs scope {scope}; add it and run `twitch-bot auth`)"
                    );
                    error!("EventSub: Twitch refused {kind} v{version}: {why}");
                    self.status
                        .send_modify(|s| s.refused.push((kind.clone(), why.clone())));
                    self.refused.insert(kind, why);
                }
                Err(e @ HelixError::MissingScope { .. }) => {
                    // This type's scope only: the other types may still be created.
                    let why = e.to_string();
                    error!("EventSub: Twitch refused {kind} v{version}: {why}");
                    self.status
                        .send_modify(|s| s.refused.push((kind.clone(), why.clone())));
                    self.refused.insert(kind, why);
                }
                Err(e) if is_grant_error(&e) => {
                    // Retrying cannot help, and every other type would fail the same way.
                    error!("EventSub: no subscription can be created: {e}");
                    self.health(ConnectionState::Down {
                        reason: format!("cannot create subscriptions: {e}"),
                    })
                    .await;
                    break;
                }
                Err(e) => {
                    // Helix is failing: keep this type and the rest for the next round rather
                    // than asking for each of them now.
                    last_error = Some(e.to_string());
                    self.pending.push(kind);
                    self.pending.extend(kinds.by_ref());
                }
            }
        }
        match last_error {
            Some(e) => {
                let wait = self.subscription_backoff.next_delay();
                if self.subscription_backoff.failures() == 1 {
                    warn!(
                        "EventSub: {} subscription(s) not created yet ({e}); retrying in the \
                         background",
                        self.pending.len()
                    );
                } else {
                    debug!("EventSub: subscriptions still failing ({e}); next try in {wait:?}");
                }
                self.retry_subscriptions = Some(tokio::time::Instant::now() + wait);
            }
            None => self.subscription_backoff.succeeded(),
        }
    }
}

/// A URL without its query, for logs.
fn url_for_log(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}
