//! EventSub over WebSocket: one socket at `twitch.eventsub_url` that must say welcome within
//! [`HANDSHAKE_TIMEOUT`], subscriptions created with the broadcaster's token on every new session
//! (retried while Helix fails), a keepalive watchdog, jittered reconnects that never give up,
//! `session_reconnect` without losing a notification (only to the configured host's domain),
//! deduplication by message id, and notifications turned into [`ChannelEvent`]s. Also maps IRC
//! USERNOTICEs to the same events for when EventSub is off.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use crate::config::api::{DEFAULT_SUBSCRIPTIONS, EventSubConfig};

use compact_str::CompactString;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::helix::{Helix, HelixError, is_grant_error};
use crate::backoff::Backoff;
use crate::event::{
    ChannelEvent, ChannelEventKind, ChatMessage, Chatter, ConnectionChange, ConnectionState, Event,
    EventSource, Service, SubTier, UserNotice, UserNoticeKind,
};
use crate::queue::EventSender;

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

/// The version Twitch currently serves for `kind` and the scope it needs.
pub fn version_and_scope(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "channel.update" => ("2", "(none)"),
        "channel.follow" => ("2", "moderator:read:followers"),
        "channel.subscribe" | "channel.subscription.gift" | "channel.subscription.message" => {
            ("1", "channel:read:subscriptions")
        }
        "channel.cheer" => ("1", "bits:read"),
        "channel.channel_points_custom_reward_redemption.add"
        | "channel.channel_points_custom_reward_redemption.update" => {
            ("1", "channel:read:redemptions")
        }
        "channel.ad_break.begin" => ("1", "channel:read:ads"),
        k if k.starts_with("channel.poll.") => ("1", "channel:read:polls"),
        k if k.starts_with("channel.prediction.") => ("1", "channel:read:predictions"),
        k if k.starts_with("channel.hype_train.") => ("2", "channel:read:hype_train"),
        "channel.chat.message" => ("1", "user:read:chat"),
        _ => ("1", "(see the EventSub reference)"),
    }
}

/// The condition for `kind` on the broadcaster's channel (the broadcaster is their own
/// moderator, so follow v2 works with the broadcaster's token).
pub fn condition(kind: &str, broadcaster_id: &str) -> Value {
    match kind {
        "channel.follow" => {
            json!({"broadcaster_user_id": broadcaster_id, "moderator_user_id": broadcaster_id})
        }
        "channel.raid" => json!({"to_broadcaster_user_id": broadcaster_id}),
        "channel.chat.message" => {
            json!({"broadcaster_user_id": broadcaster_id, "user_id": broadcaster_id})
        }
        _ => json!({"broadcaster_user_id": broadcaster_id}),
    }
}

/// Decides whether a notification id is new. The default is in memory; the integrator can back
/// it with the persistent store so a restart does not replay an event.
pub trait Dedup: Send + Sync {
    /// `true` the first time `id` is seen, `false` afterwards.
    fn first_time(&self, id: &str) -> bool;
}

/// A bounded in-memory [`Dedup`]: remembers the newest `capacity` ids.
#[derive(Debug)]
pub struct MemoryDedup {
    inner: Mutex<(HashSet<CompactString>, VecDeque<CompactString>)>,
    capacity: usize,
}

impl MemoryDedup {
    pub fn new(capacity: usize) -> MemoryDedup {
        MemoryDedup {
            inner: Mutex::default(),
            capacity: capacity.max(1),
        }
    }
}

impl Dedup for MemoryDedup {
    fn first_time(&self, id: &str) -> bool {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (set, order) = &mut *guard;
        if set.contains(id) {
            return false;
        }
        let id = CompactString::from(id);
        set.insert(id.clone());
        order.push_back(id);
        while order.len() > self.capacity {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        true
    }
}

/// Where and for whom to subscribe.
#[derive(Debug, Clone)]
pub struct EventSubSettings {
    /// `twitch.eventsub_url`.
    pub ws_url: String,
    /// `twitch.eventsub_subscriptions_url`, or `helix_url` + `/eventsub/subscriptions`.
    pub subscriptions_url: String,
    pub broadcaster_id: String,
    pub config: EventSubConfig,
}

/// Where subscriptions are created: `twitch.eventsub_subscriptions_url`, or `helix_url` +
/// `/eventsub/subscriptions` (the Twitch CLI's EventSub mock takes them on its own port).
pub fn subscriptions_url(twitch: &crate::config::bot::TwitchConfig) -> String {
    twitch
        .eventsub_subscriptions_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| {
            format!(
                "{}/eventsub/subscriptions",
                twitch.helix_url.trim_end_matches('/')
            )
        })
}

/// What the running client reports, for the console and tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventSubStatus {
    /// The live session id, `None` while disconnected.
    pub session_id: Option<String>,
    /// Subscriptions created in this process, counting every session.
    pub created: u64,
    /// Types Twitch refused, with the reason (shown once; not retried).
    pub refused: Vec<(String, String)>,
    /// Revoked types with Twitch's reason.
    pub revoked: Vec<(String, String)>,
}

/// A handle on the running client.
#[derive(Debug, Clone)]
pub struct EventSubHandle {
    status: watch::Receiver<EventSubStatus>,
}

impl EventSubHandle {
    /// The status now.
    pub fn status(&self) -> EventSubStatus {
        self.status.borrow().clone()
    }

    /// A receiver that wakes on every status change.
    pub fn watch(&self) -> watch::Receiver<EventSubStatus> {
        self.status.clone()
    }
}

/// Why a socket ended.
#[derive(Debug, thiserror::Error)]
pub enum EventSubError {
    #[error("cannot connect: {0}")]
    Connect(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("no message within the keepalive timeout")]
    KeepaliveLost,
    #[error("the server closed the socket ({0})")]
    Closed(String),
    #[error("the reconnect URL did not welcome us: {0}")]
    BadReconnect(String),
    #[error("no session_welcome within {} s of connecting", HANDSHAKE_TIMEOUT.as_secs())]
    Handshake,
}

#[derive(Deserialize)]
struct Envelope {
    metadata: Metadata,
    #[serde(default)]
    payload: Value,
}

#[derive(Deserialize)]
struct Metadata {
    message_id: String,
    message_type: String,
    #[serde(default)]
    subscription_type: Option<String>,
}

/// One EventSub WebSocket message, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum EventSubMessage {
    Welcome {
        session_id: String,
        keepalive_secs: Option<u64>,
    },
    Keepalive,
    /// Twitch asks us to move to `url` (keeping the old socket until the new one welcomes us).
    Reconnect {
        url: String,
    },
    /// A notification; `event` is `None` for types the bot does not react to.
    Notification {
        message_id: String,
        kind: String,
        event: Option<Box<ChannelEvent>>,
    },
    Revocation {
        kind: String,
        reason: String,
    },
    Other {
        message_type: String,
    },
}

/// Decodes one text frame from the EventSub socket. Never panics, whatever the text.
///
/// # Errors
/// The JSON error when the text is not an EventSub envelope.
pub fn decode(text: &str) -> Result<EventSubMessage, serde_json::Error> {
    let env: Envelope = serde_json::from_str(text)?;
    let session = &env.payload["session"];
    Ok(match env.metadata.message_type.as_str() {
        "session_welcome" => EventSubMessage::Welcome {
            session_id: session["id"].as_str().unwrap_or_default().to_string(),
            keepalive_secs: session["keepalive_timeout_seconds"].as_u64(),
        },
        "session_keepalive" => EventSubMessage::Keepalive,
        "session_reconnect" => match session["reconnect_url"].as_str() {
            Some(url) => EventSubMessage::Reconnect {
                url: url.to_string(),
            },
            None => EventSubMessage::Other {
                message_type: "session_reconnect without a reconnect_url".into(),
            },
        },
        "notification" => {
            let kind = env
                .metadata
                .subscription_type
                .clone()
                .or_else(|| {
                    env.payload["subscription"]["type"]
                        .as_str()
                        .map(str::to_string)
                })
                .unwrap_or_default();
            let event = channel_event_from_notification(
                &kind,
                &env.metadata.message_id,
                &env.payload["event"],
            )
            .map(Box::new);
            EventSubMessage::Notification {
                message_id: env.metadata.message_id,
                kind,
                event,
            }
        }
        "revocation" => {
            let sub = &env.payload["subscription"];
            EventSubMessage::Revocation {
                kind: sub["type"].as_str().unwrap_or_default().to_string(),
                reason: sub["status"].as_str().unwrap_or_default().to_string(),
            }
        }
        other => EventSubMessage::Other {
            message_type: other.to_string(),
        },
    })
}

/// Starts the client. It runs until `shutdown`, reconnecting as needed.
pub fn spawn(
    settings: EventSubSettings,
    helix: Helix,
    events: EventSender,
    dedup: Arc<dyn Dedup>,
    shutdown: CancellationToken,
) -> (EventSubHandle, JoinHandle<()>) {
    let (tx, rx) = watch::channel(EventSubStatus::default());
    let max_backoff = Duration::from_secs(settings.config.max_backoff_secs.max(1));
    let client = Client {
        settings,
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

struct Client {
    settings: EventSubSettings,
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
                service: Service::EventSub,
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
                        let _ = self.events.send(Event::Channel(ev)).await;
                    }
                    None => debug!(%kind, "EventSub notification without a mapping"),
                }
            }
            EventSubMessage::Revocation { kind, reason } => {
                let hint = if reason == "authorization_revoked" {
                    format!("; {}", super::auth::RUN_AUTH)
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
            let cond = condition(&kind, &self.settings.broadcaster_id);
            match self
                .helix
                .create_eventsub(
                    &self.settings.subscriptions_url,
                    &kind,
                    version,
                    &cond,
                    &session_id,
                )
                .await
            {
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

fn s(v: &Value, key: &str) -> CompactString {
    CompactString::from(v[key].as_str().unwrap_or_default())
}

fn n(v: &Value, key: &str) -> u32 {
    v[key]
        .as_u64()
        .map(|x| x.min(u64::from(u32::MAX)) as u32)
        .unwrap_or(0)
}

fn user(ev: &Value, prefix: &str) -> Option<Chatter> {
    let id = ev[format!("{prefix}_id")].as_str()?;
    let login = s(ev, &format!("{prefix}_login"));
    let name = s(ev, &format!("{prefix}_name"));
    Some(Chatter {
        id: id.into(),
        display_name: if name.is_empty() { login.clone() } else { name },
        login,
        ..Chatter::default()
    })
}

fn titles(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["title"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Maps an EventSub notification (`type`, message id, `payload.event`) to a channel event.
/// `None` for types the bot does not react to.
pub fn channel_event_from_notification(
    kind: &str,
    message_id: &str,
    ev: &Value,
) -> Option<ChannelEvent> {
    let mut who = user(ev, "user");
    let text = |v: &Value| v["text"].as_str().unwrap_or_default().to_string();
    let kind = match kind {
        "channel.follow" => ChannelEventKind::Follow,
        "channel.subscribe" => ChannelEventKind::Subscribe {
            tier: SubTier::parse(ev["tier"].as_str().unwrap_or_default()),
            is_gift: ev["is_gift"].as_bool().unwrap_or(false),
        },
        "channel.subscription.message" => ChannelEventKind::Resub {
            tier: SubTier::parse(ev["tier"].as_str().unwrap_or_default()),
            months: n(ev, "cumulative_months"),
            streak: n(ev, "streak_months"),
            message: text(&ev["message"]),
        },
        "channel.subscription.gift" => ChannelEventKind::Gift {
            tier: SubTier::parse(ev["tier"].as_str().unwrap_or_default()),
            count: n(ev, "total"),
            anonymous: ev["is_anonymous"].as_bool().unwrap_or(false),
        },
        "channel.cheer" => ChannelEventKind::Cheer {
            bits: n(ev, "bits"),
            message: ev["message"].as_str().unwrap_or_default().to_string(),
            anonymous: ev["is_anonymous"].as_bool().unwrap_or(false),
        },
        "channel.raid" => {
            who = user(ev, "from_broadcaster_user");
            ChannelEventKind::Raid {
                viewers: n(ev, "viewers"),
            }
        }
        "channel.channel_points_custom_reward_redemption.add" => ChannelEventKind::Redemption {
            reward_id: s(&ev["reward"], "id"),
            reward_title: ev["reward"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            cost: n(&ev["reward"], "cost"),
            user_input: ev["user_input"].as_str().unwrap_or_default().to_string(),
            redemption_id: s(ev, "id"),
        },
        "stream.online" => {
            who = None;
            ChannelEventKind::StreamOnline {
                stream_id: s(ev, "id"),
            }
        }
        "stream.offline" => {
            who = None;
            ChannelEventKind::StreamOffline
        }
        "channel.update" => {
            who = None;
            ChannelEventKind::ChannelUpdate {
                title: ev["title"].as_str().unwrap_or_default().to_string(),
                category: ev["category_name"].as_str().unwrap_or_default().to_string(),
            }
        }
        "channel.poll.begin" => {
            who = None;
            ChannelEventKind::PollBegin {
                title: ev["title"].as_str().unwrap_or_default().to_string(),
                choices: titles(&ev["choices"]),
            }
        }
        "channel.poll.end" => {
            who = None;
            let winner = ev["choices"].as_array().and_then(|a| {
                a.iter()
                    .max_by_key(|c| c["votes"].as_u64().unwrap_or(0))
                    .and_then(|c| c["title"].as_str().map(str::to_string))
            });
            ChannelEventKind::PollEnd {
                title: ev["title"].as_str().unwrap_or_default().to_string(),
                winner,
            }
        }
        "channel.prediction.begin" => {
            who = None;
            ChannelEventKind::PredictionBegin {
                title: ev["title"].as_str().unwrap_or_default().to_string(),
                outcomes: titles(&ev["outcomes"]),
            }
        }
        "channel.prediction.end" => {
            who = None;
            let win = ev["winning_outcome_id"].as_str();
            let winner = ev["outcomes"].as_array().and_then(|a| {
                a.iter()
                    .find(|o| o["id"].as_str() == win && win.is_some())
                    .and_then(|o| o["title"].as_str().map(str::to_string))
            });
            ChannelEventKind::PredictionEnd {
                title: ev["title"].as_str().unwrap_or_default().to_string(),
                winner,
            }
        }
        "channel.hype_train.begin" => {
            who = None;
            ChannelEventKind::HypeTrainBegin {
                level: n(ev, "level").max(1),
            }
        }
        "channel.hype_train.end" => {
            who = None;
            ChannelEventKind::HypeTrainEnd {
                level: n(ev, "level"),
            }
        }
        "channel.ad_break.begin" => {
            who = user(ev, "requester_user");
            ChannelEventKind::AdBreak {
                duration_secs: n(ev, "duration_seconds"),
            }
        }
        _ => return None,
    };
    Some(ChannelEvent {
        id: message_id.into(),
        source: EventSource::EventSub,
        user: who,
        kind,
    })
}

/// The channel event an IRC USERNOTICE stands for, for when EventSub is off (`--noeventsub`).
/// Gifts: a `submysterygift` becomes one `Gift` with its count and each `subgift` a gifted
/// `Subscribe` for the recipient, as EventSub reports them; a single direct gift therefore shows
/// as a gifted `Subscribe` only.
pub fn channel_event_from_usernotice(notice: &UserNotice) -> Option<ChannelEvent> {
    let mut user = Some(notice.sender.clone());
    let kind = match &notice.kind {
        UserNoticeKind::Sub { tier, .. } => ChannelEventKind::Subscribe {
            tier: *tier,
            is_gift: false,
        },
        UserNoticeKind::Resub {
            tier,
            months,
            streak,
        } => ChannelEventKind::Resub {
            tier: *tier,
            months: *months,
            streak: *streak,
            message: notice.text.clone().unwrap_or_default(),
        },
        UserNoticeKind::SubGift {
            tier,
            recipient_id,
            recipient_login,
            recipient_display_name,
            ..
        } => {
            user = Some(Chatter {
                id: recipient_id.clone(),
                login: recipient_login.clone(),
                display_name: recipient_display_name.clone(),
                ..Chatter::default()
            });
            ChannelEventKind::Subscribe {
                tier: *tier,
                is_gift: true,
            }
        }
        UserNoticeKind::SubMysteryGift { tier, count } => ChannelEventKind::Gift {
            tier: *tier,
            count: *count,
            anonymous: notice.sender.login.is_empty() || notice.sender.login == "ananonymousgifter",
        },
        UserNoticeKind::Raid { viewers, .. } => ChannelEventKind::Raid { viewers: *viewers },
        _ => return None,
    };
    Some(ChannelEvent {
        id: notice.id.clone(),
        source: EventSource::Irc,
        user,
        kind,
    })
}

/// A cheer seen in chat (bits on a PRIVMSG), for when EventSub is off.
pub fn channel_event_from_chat(msg: &ChatMessage) -> Option<ChannelEvent> {
    (msg.bits > 0).then(|| ChannelEvent {
        id: msg.id.clone(),
        source: EventSource::Irc,
        user: Some(msg.sender.clone()),
        kind: ChannelEventKind::Cheer {
            bits: msg.bits,
            message: msg.text.clone(),
            anonymous: false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_remembers_a_bounded_window() {
        let d = MemoryDedup::new(2);
        assert!(d.first_time("a"));
        assert!(!d.first_time("a"));
        assert!(d.first_time("b"));
        assert!(d.first_time("c"));
        // "a" fell out of the window of 2.
        assert!(d.first_time("a"));
    }

    #[test]
    fn follow_condition_names_the_broadcaster_as_moderator() {
        assert_eq!(
            condition("channel.follow", "42"),
            json!({"broadcaster_user_id": "42", "moderator_user_id": "42"})
        );
        assert_eq!(version_and_scope("channel.follow").0, "2");
        assert_eq!(version_and_scope("channel.hype_train.begin").0, "2");
        assert_eq!(
            condition("channel.raid", "42"),
            json!({"to_broadcaster_user_id": "42"})
        );
    }
}
