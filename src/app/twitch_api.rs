//! Starts the Twitch API side: tokens (validated hourly), the Helix client, and — once the
//! channel's ids are known — EventSub, the stream-state watcher and the emote sets. Nothing here
//! blocks start-up: when the API is unreachable, chat still runs and this side keeps retrying.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::event::{ConnectionChange, ConnectionState, Event, Service};
use crate::queue::EventSender;
use crate::storage::Storage;
use crate::twitch::auth::{self, AuthClient, Tokens};
use crate::twitch::emotes::{self, Emotes};
use crate::twitch::eventsub::{self, Dedup, EventSubSettings, MemoryDedup};
use crate::twitch::helix::{Helix, RetryPolicy, with_backoff};
use crate::twitch::stream::{self, StreamHandle};

/// What the rest of the app can use once the API side is up.
#[derive(Clone, Default)]
pub struct ApiHandles {
    /// The Helix client (moderation actions, announcements, ...).
    pub helix: Option<Helix>,
    /// Live/offline and viewer samples, once the channel id is known.
    pub stream: Arc<OnceLock<StreamHandle>>,
    /// Twitch and third-party emotes, once loaded.
    pub emotes: Arc<OnceLock<Emotes>>,
}

/// EventSub deduplication backed by the database, so a notification is processed at most
/// once even across restarts; falls back to memory if the database refuses.
struct StoredDedup {
    storage: Storage,
    memory: MemoryDedup,
}

impl Dedup for StoredDedup {
    fn first_time(&self, id: &str) -> bool {
        match self.storage.mark_processed(&format!("eventsub:{id}")) {
            Ok(fresh) => fresh && self.memory.first_time(id),
            Err(e) => {
                warn!("cannot record EventSub message {id} in the database: {e}");
                self.memory.first_time(id)
            }
        }
    }
}

/// Starts the API side, or explains why it cannot run.
#[allow(clippy::too_many_arguments)]
pub fn start(
    config: &Config,
    secrets_path: Option<&Path>,
    channel: &str,
    eventsub_enabled: bool,
    storage: Option<Storage>,
    events: EventSender,
    shutdown: &CancellationToken,
    exit: &crate::exit::Exit,
    tasks: &mut Vec<(&'static str, JoinHandle<()>)>,
) -> ApiHandles {
    let secrets = &config.secrets;
    if secrets.client_id.trim().is_empty() || secrets.bot.access_token.trim().is_empty() {
        warn!(
            "the Twitch API is off: {} has no client_id or bot token. Run `twitch-bot auth` to \
             enable moderation actions, announcements and EventSub events.",
            secrets_path.map_or_else(|| "secrets.yaml".into(), |p| p.display().to_string())
        );
        return ApiHandles::default();
    }
    let http = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("twitch-bot/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            warn!("the Twitch API is off: cannot build an HTTP client: {e}");
            return ApiHandles::default();
        }
    };
    let twitch = &config.bot.twitch;
    let auth_client = AuthClient::new(
        http.clone(),
        &twitch.auth_url,
        &secrets.client_id,
        secrets.client_secret.as_deref(),
    );
    // Rotated tokens are saved back only to a real secrets file (never in offline mode).
    let save_to = secrets_path.filter(|p| p.exists()).map(Path::to_path_buf);
    let tokens = Tokens::new(auth_client, secrets.clone(), save_to);
    let helix = Helix::new(
        http.clone(),
        &twitch.helix_url,
        tokens.clone(),
        RetryPolicy::default(),
    );
    let validate_every = Duration::from_secs(config.bot.auth.validate_minutes.clamp(1, 60) * 60);
    tasks.push((
        "token validator",
        auth::spawn_validator(tokens, validate_every, events.clone(), exit.clone()),
    ));

    let handles = ApiHandles {
        helix: Some(helix.clone()),
        ..ApiHandles::default()
    };
    let out = handles.clone();
    let bot_login = config.bot.username.clone();
    let channel = channel.to_string();
    let bot = config.bot.clone();
    let has_broadcaster = !secrets.broadcaster.access_token.trim().is_empty();
    let shutdown = shutdown.clone();
    let task = tokio::spawn(async move {
        let ids = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = with_backoff("channel ids", Duration::from_secs(300), || helix.resolve_ids(&bot_login, &channel)) => r,
        };
        let ids = match ids {
            Ok(ids) => ids,
            Err(e) => {
                warn!("the Twitch API side stops: cannot look up #{channel} and {bot_login}: {e}");
                let reason = format!("cannot look up #{channel} and {bot_login}: {e}");
                let _ = events
                    .send(Event::Connection(ConnectionChange {
                        service: Service::Helix,
                        state: ConnectionState::Down { reason },
                    }))
                    .await;
                return;
            }
        };
        info!(broadcaster_id = %ids.broadcaster_id, "Twitch API ready");
        let _ = events
            .send(Event::Connection(ConnectionChange {
                service: Service::Helix,
                state: ConnectionState::Connected,
            }))
            .await;
        helix.set_ids(ids.clone());
        let mut children = Vec::new();
        if eventsub_enabled && has_broadcaster {
            let dedup: Arc<dyn Dedup> = match storage {
                Some(storage) => Arc::new(StoredDedup {
                    storage,
                    memory: MemoryDedup::new(bot.eventsub.dedup_capacity),
                }),
                None => Arc::new(MemoryDedup::new(bot.eventsub.dedup_capacity)),
            };
            let settings = EventSubSettings {
                ws_url: bot.twitch.eventsub_url.clone(),
                subscriptions_url: eventsub::subscriptions_url(&bot.twitch),
                broadcaster_id: ids.broadcaster_id.clone(),
                config: bot.eventsub.clone(),
            };
            let (_handle, task) =
                eventsub::spawn(settings, helix.clone(), events, dedup, shutdown.clone());
            children.push(task);
        } else if eventsub_enabled {
            warn!("EventSub is off: secrets.yaml has no broadcaster token (run `twitch-bot auth`)");
        }
        let (stream, task) = stream::spawn(
            helix.clone(),
            ids.broadcaster_id.clone(),
            bot.stream.clone(),
            shutdown.clone(),
        );
        let _ = out.stream.set(stream);
        children.push(task);
        let (emotes, task) = emotes::spawn(
            Some(helix.clone()),
            http,
            bot.emotes.clone(),
            ids.broadcaster_id,
            shutdown.clone(),
        );
        let _ = out.emotes.set(emotes);
        children.push(task);
        for child in children {
            let _ = child.await;
        }
    });
    tasks.push(("twitch api", task));
    handles
}
