//! The typed API scripts see: `ctx` (a handle, Arc inside, so methods act on the one context of
//! the run), the viewer, points, stores, cache, integrations and helpers. Each area registers its
//! own Rhai module; calls only read through [`Services`] or queue [`Action`]s — never a socket.
//!
//! A call that waits on the network (`ctx.twitch.*`, `ctx.http.*`) goes through
//! [`super::engine::network_call`]: it pauses the run's time, counts against the run's network
//! time and calls, and lets another thread take the scripts queued meanwhile.

mod broadcaster;
mod ctx;
mod data;
mod helpers;
mod http;
mod integrations;
mod value;

use std::sync::{Arc, Mutex};

use compact_str::CompactString;
use rhai::{Dynamic, Engine, EvalAltResult};

use crate::action::Action;
use crate::event::Roles;
use crate::subsystems::Subsystems;

use super::stores::{Cache, Points, ScriptStore, TwitchApi, UserRef, Users};

pub use http::{HttpAnswer, HttpRequest, ScriptHttp};
pub use value::{from_json, to_json};

/// Most actions one run may queue: a script cannot flood chat from a loop.
pub const MAX_ACTIONS_PER_RUN: usize = 20;

/// The most points one call moves, and the largest `COST`: a trillion.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// The longest lifespan of a cache entry, in seconds: 30 days.
pub const MAX_CACHE_SECS: u64 = 30 * 86_400;

/// A points amount from a script: 1 to [`MAX_AMOUNT`].
pub(crate) fn amount_ok(amount: rhai::INT) -> Result<i64, Box<EvalAltResult>> {
    if (1..=MAX_AMOUNT).contains(&amount) {
        Ok(amount)
    } else {
        Err(format!("an amount of points must be 1 to {MAX_AMOUNT}, not {amount}").into())
    }
}

/// Everything scripts reach besides chat.
#[derive(Clone)]
pub struct Services {
    /// Viewers' points (`ctx.points`).
    pub points: Arc<dyn Points>,
    /// Viewers the bot has seen (`ctx.find_user`).
    pub users: Arc<dyn Users>,
    /// Each script's persistent store (`ctx.store`).
    pub store: Arc<dyn ScriptStore>,
    /// Values with a lifespan, shared by scripts (`ctx.cache`).
    pub cache: Arc<dyn Cache>,
    /// `None` when the bot has no Twitch API (no client id or bot token in secrets.yaml).
    pub twitch: Option<Arc<dyn TwitchApi>>,
    /// `ctx.http`; `None` when no host is allowed (`scripts.http_allow` is empty).
    pub http: Option<Arc<dyn ScriptHttp>>,
    /// The integrations that run; a call to one that does not answers with a script error.
    pub integrations: Subsystems,
    /// The points' name in chat ("points", "cookies", ...).
    pub currency: String,
}

impl Services {
    /// Memory-backed services (points and stores vanish at exit), for tests.
    #[cfg(feature = "test-support")]
    pub fn in_memory() -> Services {
        use super::stores::{MemoryCache, MemoryStore};
        let store = Arc::new(MemoryStore::new());
        Services {
            points: store.clone(),
            users: store.clone(),
            store,
            cache: Arc::new(MemoryCache::new()),
            twitch: None,
            http: None,
            integrations: Subsystems::NONE,
            currency: "points".into(),
        }
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("twitch", &self.twitch.is_some())
            .field("integrations", &self.integrations)
            .field("currency", &self.currency)
            .finish_non_exhaustive()
    }
}

/// The viewer a run is about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserData {
    /// The account's id.
    pub id: CompactString,
    /// The login (lower case).
    pub login: CompactString,
    /// The display name.
    pub name: CompactString,
    /// Their badges in the channel.
    pub roles: Roles,
}

impl UserData {
    /// The viewer as the stores name one.
    pub fn to_ref(&self) -> UserRef {
        UserRef {
            id: self.id.clone(),
            login: self.login.clone(),
            display_name: self.name.clone(),
        }
    }
}

/// What a run is about; becomes `ctx`.
#[derive(Debug, Clone, Default)]
pub struct CtxData {
    /// The script's key (`commands/ping`): names its store and its log lines.
    pub script: Arc<str>,
    /// The channel's login, without `#`.
    pub channel: CompactString,
    /// The message to reply to or delete, if the run came from chat.
    pub message_id: Option<CompactString>,
    /// The chat message's text (empty for an event).
    pub message: String,
    /// The command or reward name as typed (an alias stays an alias).
    pub command: String,
    /// The words after the command.
    pub args: Vec<String>,
    /// The viewer the run is about, if any.
    pub user: Option<UserData>,
    /// The channel event's own fields (`ctx.event`).
    pub event: Option<serde_json::Value>,
    /// The phrase or regex text that triggered a response.
    pub matched: String,
    /// A regex response's capture groups.
    pub captures: Vec<String>,
}

struct CtxInner {
    data: CtxData,
    services: Arc<Services>,
    actions: Mutex<Vec<Action>>,
}

/// The `ctx` handle given to `fn run(ctx)`.
#[derive(Clone)]
pub struct Ctx(Arc<CtxInner>);

impl Ctx {
    /// The context of one run.
    pub fn new(data: CtxData, services: Arc<Services>) -> Ctx {
        Ctx(Arc::new(CtxInner {
            data,
            services,
            actions: Mutex::new(Vec::new()),
        }))
    }

    /// What the run is about.
    pub fn data(&self) -> &CtxData {
        &self.0.data
    }

    /// What the run may reach.
    pub fn services(&self) -> &Arc<Services> {
        &self.0.services
    }

    /// The actions the run queued, in order.
    pub fn take_actions(&self) -> Vec<Action> {
        let mut actions = self.0.actions.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *actions)
    }

    pub(crate) fn push(&self, action: Action) -> Result<(), Box<EvalAltResult>> {
        let mut actions = self.0.actions.lock().unwrap_or_else(|p| p.into_inner());
        if actions.len() >= MAX_ACTIONS_PER_RUN {
            return Err(
                format!("too many actions in one run (at most {MAX_ACTIONS_PER_RUN})").into(),
            );
        }
        actions.push(action);
        Ok(())
    }

    fn channel(&self) -> CompactString {
        self.0.data.channel.clone()
    }
}

/// A viewer as scripts see it (`ctx.user`, `ctx.find_user(login)`).
#[derive(Clone)]
pub struct ScriptUser {
    /// Who the viewer is.
    pub data: UserData,
    services: Arc<Services>,
}

/// Resolves a script argument naming a viewer: a user object or a login (with or without `@`).
pub(crate) fn resolve_user(
    services: &Services,
    who: &Dynamic,
) -> Result<UserData, Box<EvalAltResult>> {
    if let Some(u) = who.clone().try_cast::<ScriptUser>() {
        return Ok(u.data);
    }
    if who.is_string() {
        let login = who.to_string();
        let login = login.trim().trim_start_matches('@');
        return services
            .users
            .by_login(login)
            .map(|info| UserData {
                id: info.id,
                login: info.login,
                name: info.display_name,
                roles: Roles::empty(),
            })
            .ok_or_else(|| format!("unknown viewer `{login}` (not seen by the bot yet)").into());
    }
    Err(format!("expected a user or a login, not {}", who.type_name()).into())
}

/// Registers every API module on `engine`.
pub fn register(engine: &mut Engine) {
    ctx::register(engine);
    data::register(engine);
    integrations::register(engine);
    broadcaster::register(engine);
    http::register(engine);
    helpers::register(engine);
}
