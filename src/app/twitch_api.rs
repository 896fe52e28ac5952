//! Starts the Twitch API side: tokens (validated hourly), the Helix client, and — once the
//! channel's ids are known — EventSub, the stream-state watcher and the emote sets. Nothing here
//! blocks start-up: when the API is unreachable, chat still runs and this side keeps retrying.
//! The token validator, EventSub, the stream watcher and the emote loader each run under the
//! supervisor: a panic restarts that one part, with backoff.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;
use crate::config::Config;
use crate::event::{ConnectionChange, ConnectionState, Event, Service};
use crate::queue::EventSender;
use crate::storage::Storage;
use crate::twitch::auth::{self, AuthClient, Tokens};
use crate::twitch::emotes::{self, Emotes};
use crate::twitch::eventsub::{
    self, BotRoles, Dedup, EventSubSettings, MemoryDedup, ModeratorWatch,
};
use crate::twitch::helix::{ChannelIds, Helix, RetryPolicy, is_grant_error};
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
    /// The scopes the bot account's grant holds, once checked at start.
    pub bot_scopes: Arc<OnceLock<Vec<String>>>,
    /// Where EventSub's `channel.moderator.add` / `.remove` about the bot are told: chat sets
    /// it to its link once it starts, so the send rate class follows at once.
    pub bot_moderator: Arc<OnceLock<BotRoles>>,
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
    supervisor: &crate::supervisor::Supervisor,
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
    // A new validator is safe to start after a crash: it validates at once and then on its
    // schedule; a grant it had found dead is found dead again (and said again).
    {
        let (tokens, events, exit) = (tokens.clone(), events.clone(), exit.clone());
        tasks.push((
            "token validator",
            supervisor.restart("token validator", move || {
                auth::spawn_validator(tokens.clone(), validate_every, events.clone(), exit.clone())
            }),
        ));
    }
    let raid_mode = config.moderation.enabled && config.moderation.raid_mode.enabled;
    let waves_block =
        config.moderation.follow_waves.enabled && config.moderation.follow_waves.block;

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
    let watcher = supervisor.clone();
    let supervisor = supervisor.clone();
    let task = tokio::spawn(async move {
        // Raid mode's scopes are checked now, not discovered missing during a raid.
        match tokens.validate(auth::Account::Bot).await {
            Ok(v) => {
                if raid_mode
                    && let Some(warning) = crate::moderation::raid::scope_warning(&v.scopes)
                {
                    warn!("{warning}");
                }
                let _ = out.bot_scopes.set(v.scopes);
            }
            Err(e) => debug!("cannot check the bot account's scopes now: {e}"),
        }
        // So is the broadcaster's scope for blocking a follow wave's accounts.
        if waves_block
            && let Some(warning) = crate::moderation::waves::block_scope_check(&tokens).await
        {
            warn!("{warning}");
        }
        let Some(ids) = ids_forever(&helix, &bot_login, &channel, &events, &shutdown).await else {
            return;
        };
        info!(broadcaster_id = %ids.broadcaster_id, "Twitch API ready");
        helix_state(&events, ConnectionState::Connected).await;
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
            // The bot's own moderator changes reach chat's rate class at once, on either
            // transport (whatever chat link is running when they arrive).
            let slot = out.bot_moderator.clone();
            let watch = ModeratorWatch {
                bot_id: ids.bot_id.clone(),
                on_change: Arc::new(move |moderator| {
                    if let Some(tell) = slot.get() {
                        tell(moderator);
                    }
                }),
            };
            // A new client is safe to start after a crash: it opens a new session and
            // subscribes again, and the stored dedupe drops what Twitch sends twice.
            let (helix, stop) = (helix.clone(), shutdown.clone());
            children.push(supervisor.restart("eventsub", move || {
                let (_handle, task) = eventsub::spawn_watching_moderators(
                    settings.clone(),
                    watch.clone(),
                    helix.clone(),
                    events.clone(),
                    dedup.clone(),
                    stop.clone(),
                );
                task
            }));
        } else if eventsub_enabled {
            warn!("EventSub is off: secrets.yaml has no broadcaster token (run `twitch-bot auth`)");
        }
        // The watcher and the loader fill handles the rest of the bot already holds; a
        // restarted one fills the same handles (Get Streams and the emote sets are read again).
        let stream = StreamHandle::new();
        let _ = out.stream.set(stream.clone());
        {
            let (helix, id, config, stop) = (
                helix.clone(),
                ids.broadcaster_id.clone(),
                bot.stream.clone(),
                shutdown.clone(),
            );
            children.push(supervisor.restart("stream watcher", move || {
                stream::watch_stream(
                    stream.clone(),
                    helix.clone(),
                    id.clone(),
                    config.clone(),
                    stop.clone(),
                )
            }));
        }
        let emotes = Emotes::default();
        let _ = out.emotes.set(emotes.clone());
        {
            let (helix, id, config, stop) = (
                helix.clone(),
                ids.broadcaster_id.clone(),
                bot.emotes.clone(),
                shutdown.clone(),
            );
            children.push(supervisor.restart("emotes", move || {
                emotes::load_into(
                    emotes.clone(),
                    Some(helix.clone()),
                    http.clone(),
                    config.clone(),
                    id.clone(),
                    stop.clone(),
                )
            }));
        }
        // Every child runs under the supervisor (restarted after a crash, or the process ends
        // on a crash loop): this task only waits for them, so they stop with it at shutdown.
        futures_util::future::join_all(children).await;
    });
    // The ids lookup cannot be handed to a new run from here: a panic in it ends the process.
    tasks.push(("twitch api", watcher.watch("twitch api", task)));
    handles
}

async fn helix_state(events: &EventSender, state: ConnectionState) {
    let _ = events
        .send(Event::Connection(ConnectionChange {
            service: Service::Helix,
            state,
        }))
        .await;
}

/// Looks up the channel's and the bot's ids, retrying forever with jittered back-off (capped at
/// a few seconds, since nothing works before the ids exist) on any failure but a lost grant,
/// which is reported once and ends the API side. `None` on shutdown or a lost grant.
async fn ids_forever(
    helix: &Helix,
    bot_login: &str,
    channel: &str,
    events: &EventSender,
    shutdown: &CancellationToken,
) -> Option<ChannelIds> {
    let mut backoff = Backoff::new(Duration::from_secs(1), crate::backoff::START_CAP);
    loop {
        let answer = tokio::select! {
            _ = shutdown.cancelled() => return None,
            r = helix.resolve_ids(bot_login, channel) => r,
        };
        let e = match answer {
            Ok(ids) => return Some(ids),
            Err(e) => e,
        };
        let hint = if e.status() == Some(404) {
            "; check `username` and `owner` in configs/bot.yaml (or --channel)"
        } else {
            ""
        };
        let reason = format!("cannot look up #{channel} and {bot_login}: {e}{hint}");
        if is_grant_error(&e) {
            error!("the Twitch API side stops: {reason}");
            helix_state(events, ConnectionState::Down { reason }).await;
            return None;
        }
        let wait = backoff.next_delay();
        if backoff.failures() == 1 {
            warn!("{reason}; retrying in the background until Twitch answers");
        } else {
            debug!("{reason}; next try in {wait:?}");
        }
        let retry_in_ms = wait.as_millis().try_into().unwrap_or(u64::MAX);
        helix_state(
            events,
            ConnectionState::Reconnecting {
                reason,
                retry_in_ms,
            },
        )
        .await;
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
