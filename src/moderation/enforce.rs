//! Moderation's action path, decision → Twitch: what a ladder step means in Twitch calls, and
//! one bounded queue of bans, timeouts and deletes drained by one worker, which remembers per
//! account the strongest punishment pending or applied (so an account is punished once,
//! escalated rather than punished twice), drops the least severe actions first when full, and
//! paces bans and timeouts to the channel's limit. The ladder's `warn` step goes here too when
//! Twitch's native warnings are on (`POST /moderation/warnings`); a refused one falls back to
//! the chat line.
//!
//! # The seam
//!
//! This file is the whole action path, so a different enforcement (bounded moderation, say)
//! replaces it alone, keeping these signatures:
//!
//! - Turning steps into actions: [`step_actions`] (the pipeline fills
//!   [`Decision::actions`](super::Decision::actions) with it), [`raid_actions`] and
//!   [`raid_punishment`] (the dispatcher's raid mode).
//! - Carrying them out: [`punish`] (a whole decision), [`moderate`] (one ban, timeout or
//!   delete) and [`warn_user`] (the `warn` step). [`crate::outputs::Outputs`] forwards its
//!   methods of the same names here, with what to do when there is no queue (no Twitch API).
//! - Setting up: [`Enforcer::start`] with a [`Sink`] (Twitch's API) and [`Limits`], and
//!   [`Enforcer::use_native_warnings`] (the app, when the grant allows native warnings).
//! - Counting: [`Enforcer::dropped`], [`Enforcer::covered`], [`Enforcer::sent`],
//!   [`Enforcer::queued`], [`Enforcer::native_warnings`].
//!
//! Nothing outside this file knows about the queue, the account map or the pacing.
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use compact_str::CompactString;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::action::Action;
use crate::config::moderation::{ModerationConfig, Step};
use crate::event::ChatMessage;
use crate::twitch::auth::AuthError;
use crate::twitch::chat::Warning;
use crate::twitch::helix::{Helix, HelixError, Priority};

use super::Decision;
use super::raid::Offender;

/// How long a ban is remembered (an account banned is not banned again within it).
const BAN_MEMORY: Duration = Duration::from_secs(3600);
/// Most accounts remembered; past it, accounts with nothing pending are forgotten first.
const MAX_ACCOUNTS: usize = 50_000;
/// How often the account map is swept of expired entries.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// Shortest time between two "queue is full" warnings.
const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

/// Why a native warning was not given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarnError {
    /// Twitch will not take native warnings from the bot (not a moderator, scope missing):
    /// warnings go to chat from now on.
    Refused(String),
    /// This one failed (network, bad user, busy): it goes to chat instead.
    Failed(String),
}

/// Where the worker sends actions: Twitch's API, or a fake in tests.
pub trait Sink: Send + Sync + 'static {
    /// Carries out one ban, timeout or delete.
    fn send(&self, action: &Action) -> impl Future<Output = Result<(), String>> + Send;

    /// Gives `user_id` Twitch's native warning for `reason`.
    fn warn(
        &self,
        user_id: &str,
        reason: &str,
    ) -> impl Future<Output = Result<(), WarnError>> + Send {
        let _ = (user_id, reason);
        async {
            Err(WarnError::Refused(
                "native warnings are not available".into(),
            ))
        }
    }
}

impl Sink for Helix {
    async fn send(&self, action: &Action) -> Result<(), String> {
        self.at(Priority::Moderation)
            .perform(action)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn warn(&self, user_id: &str, reason: &str) -> Result<(), WarnError> {
        match self
            .at(Priority::Moderation)
            .warn_user(user_id, reason)
            .await
        {
            Ok(()) => Ok(()),
            // 403: not a moderator. 401: the scope is missing (Twitch names it) or the grant
            // is no longer valid after one token refresh.
            Err(
                e @ (HelixError::Status {
                    status: 401 | 403, ..
                }
                | HelixError::MissingScope { .. }
                | HelixError::Auth(AuthError::Invalid(_))),
            ) => Err(WarnError::Refused(e.to_string())),
            Err(e) => Err(WarnError::Failed(e.to_string())),
        }
    }
}

/// The queue's size and the channel's ban pace.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most actions waiting.
    pub capacity: usize,
    /// Most bans and timeouts per `window`.
    pub bans: u32,
    /// The window `bans` are counted in.
    pub window: Duration,
}

impl Limits {
    /// The limits `moderation.yaml` sets.
    pub fn from_config(c: &ModerationConfig) -> Limits {
        Limits {
            capacity: c.action_queue.max(1),
            bans: c.ban_limit.max(1),
            window: Duration::from_secs(c.ban_window_secs.max(1)),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from_config(&ModerationConfig::default())
    }
}

/// How severe an action is; a stronger one covers a weaker one for the same account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Strength {
    Delete,
    Warn,
    Timeout(u32),
    Ban,
}

impl Strength {
    /// A timeout or a ban: what the account map tracks as pending and applied.
    fn punishes(self) -> bool {
        matches!(self, Strength::Timeout(_) | Strength::Ban)
    }
}

/// What [`Enforcer::submit`] did with an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Queued to be sent.
    Queued,
    /// Replaced the account's weaker pending action.
    Escalated,
    /// Not needed: the account already has as strong a punishment pending or applied.
    Covered,
    /// Dropped because the queue was full of actions at least as severe.
    Dropped,
    /// Not a moderation action it can send (no user id, no message id, or not a ban, timeout
    /// or delete).
    Refused,
}

/// What the worker sends.
enum Job {
    /// A ban, timeout or delete.
    Act(Action),
    /// A native warning, and the chat line to post if Twitch will not take it.
    Warn {
        user_id: CompactString,
        reason: String,
        fallback: Warning,
    },
}

struct Pending {
    job: Job,
    user: CompactString,
    strength: Strength,
}

#[derive(Default)]
struct Account {
    /// A timeout or ban in the queue.
    queued: Option<Strength>,
    /// A timeout or ban being sent.
    in_flight: Option<Strength>,
    /// The strongest punishment Twitch accepted, and until when it holds.
    applied: Option<(Strength, Instant)>,
}

impl Account {
    /// Whether what this account has pending or applied makes `new` unnecessary.
    fn covers(&self, new: Strength, now: Instant) -> bool {
        let pending = self.queued.max(self.in_flight);
        if !new.punishes() {
            return pending.is_some() || self.applied.is_some_and(|(_, until)| until > now);
        }
        if pending.is_some_and(|p| p >= new) {
            return true;
        }
        match (self.applied, new) {
            (Some((Strength::Ban, until)), _) => until > now,
            (Some((_, until)), Strength::Timeout(secs)) => {
                until >= now + Duration::from_secs(u64::from(secs))
            }
            _ => false,
        }
    }

    fn idle(&self, now: Instant) -> bool {
        self.queued.is_none()
            && self.in_flight.is_none()
            && self.applied.is_none_or(|(_, until)| until <= now)
    }
}

struct State {
    queue: VecDeque<Pending>,
    accounts: HashMap<CompactString, Account>,
    last_sweep: Instant,
    last_drop_log: Option<Instant>,
}

struct Shared {
    state: Mutex<State>,
    wake: Notify,
    limits: Limits,
    dropped: AtomicU64,
    covered: AtomicU64,
    sent: AtomicU64,
    /// Whether the `warn` step uses Twitch's native warnings.
    native_warnings: AtomicBool,
    /// Where a warning Twitch did not take goes (chat's warning lane).
    fallback: OnceLock<Box<dyn Fn(Warning) + Send + Sync>>,
}

/// The handle the dispatcher submits moderation actions to (cheap to clone).
#[derive(Clone)]
pub struct Enforcer(Arc<Shared>);

impl Enforcer {
    /// Starts the worker sending to `sink` until `stop` is cancelled.
    pub fn start<S: Sink>(sink: S, limits: Limits, stop: CancellationToken) -> Enforcer {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                accounts: HashMap::new(),
                last_sweep: Instant::now(),
                last_drop_log: None,
            }),
            wake: Notify::new(),
            limits,
            dropped: AtomicU64::new(0),
            covered: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            native_warnings: AtomicBool::new(false),
            fallback: OnceLock::new(),
        });
        tokio::spawn(work(Arc::clone(&shared), sink, stop));
        Enforcer(shared)
    }

    /// From now on the `warn` step uses Twitch's native warning; one Twitch refuses is handed
    /// to `fallback` (chat's warning lane), and after a refusal (not a moderator, scope
    /// missing) every warning goes there directly. Set once; later calls only switch it on.
    pub fn use_native_warnings(&self, fallback: impl Fn(Warning) + Send + Sync + 'static) {
        let _ = self.0.fallback.set(Box::new(fallback));
        self.0.native_warnings.store(true, Ordering::Relaxed);
    }

    /// Whether the `warn` step uses Twitch's native warnings now.
    pub fn native_warnings(&self) -> bool {
        self.0.native_warnings.load(Ordering::Relaxed)
    }

    /// Queues Twitch's native warning for `user_id` (the ladder's `warn` step); `fallback` is
    /// the chat line posted instead if Twitch refuses it. Not needed, and not sent, when the
    /// account already has a warning queued or a timeout or ban pending or applied. Never
    /// waits.
    pub fn warn(&self, user_id: &str, reason: &str, fallback: Warning) -> Outcome {
        if user_id.is_empty() {
            return Outcome::Refused;
        }
        let user = CompactString::from(user_id);
        let job = Job::Warn {
            user_id: user.clone(),
            reason: reason.to_owned(),
            fallback,
        };
        self.enqueue(job, user, Strength::Warn)
    }

    /// Actions dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    /// Actions not sent because the account already had as strong a punishment.
    pub fn covered(&self) -> u64 {
        self.0.covered.load(Ordering::Relaxed)
    }

    /// Actions Twitch accepted.
    pub fn sent(&self) -> u64 {
        self.0.sent.load(Ordering::Relaxed)
    }

    /// Actions waiting.
    pub fn queued(&self) -> usize {
        self.lock().queue.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a ban, timeout or delete. `sender_id` is the account a delete's message is from
    /// (a ban's or timeout's account is its own `user_id`). Never waits.
    pub fn submit(&self, action: Action, sender_id: &str) -> Outcome {
        let (user, strength) = match &action {
            Action::Delete { message_id, .. } if !message_id.is_empty() => {
                (CompactString::from(sender_id), Strength::Delete)
            }
            Action::Timeout {
                user_id, seconds, ..
            } if !user_id.is_empty() => (user_id.clone(), Strength::Timeout(*seconds)),
            Action::Ban { user_id, .. } if !user_id.is_empty() => (user_id.clone(), Strength::Ban),
            other => {
                debug!("moderation does not send {other:?}: no account or message to act on");
                return Outcome::Refused;
            }
        };
        self.enqueue(Job::Act(action), user, strength)
    }

    fn enqueue(&self, job: Job, user: CompactString, strength: Strength) -> Outcome {
        let now = Instant::now();
        let mut st = self.lock();
        if now.duration_since(st.last_sweep) >= SWEEP_EVERY || st.accounts.len() > MAX_ACCOUNTS {
            sweep(&mut st, now);
        }
        if !user.is_empty() {
            let warned = strength == Strength::Warn
                && st
                    .queue
                    .iter()
                    .any(|p| p.user == user && p.strength == Strength::Warn);
            let account = st.accounts.entry(user.clone()).or_default();
            if warned || account.covers(strength, now) {
                self.0.covered.fetch_add(1, Ordering::Relaxed);
                return Outcome::Covered;
            }
            if strength.punishes() && account.queued.is_some() {
                account.queued = Some(strength);
                if let Some(p) = st
                    .queue
                    .iter_mut()
                    .find(|p| p.user == user && p.strength.punishes())
                {
                    p.job = job;
                    p.strength = strength;
                }
                return Outcome::Escalated;
            }
            if strength.punishes() {
                // A timeout or ban clears the account's messages and makes a warning moot:
                // its deletes and warnings are not needed.
                let before = st.queue.len();
                st.queue.retain(|p| p.user != user || p.strength.punishes());
                let gone = before - st.queue.len();
                self.0.covered.fetch_add(gone as u64, Ordering::Relaxed);
            }
        }
        if st.queue.len() >= self.0.limits.capacity {
            let weakest = st
                .queue
                .iter()
                .enumerate()
                .min_by_key(|(_, p)| p.strength)
                .map(|(i, p)| (i, p.strength));
            match weakest {
                Some((i, weakest)) if weakest < strength => {
                    if let Some(gone) = st.queue.remove(i)
                        && gone.strength.punishes()
                        && let Some(a) = st.accounts.get_mut(&gone.user)
                    {
                        a.queued = None;
                    }
                    self.count_drop(&mut st, now);
                }
                _ => {
                    self.count_drop(&mut st, now);
                    return Outcome::Dropped;
                }
            }
        }
        if strength.punishes()
            && let Some(a) = st.accounts.get_mut(&user)
        {
            a.queued = Some(strength);
        }
        st.queue.push_back(Pending {
            job,
            user,
            strength,
        });
        drop(st);
        self.0.wake.notify_one();
        Outcome::Queued
    }

    fn count_drop(&self, st: &mut State, now: Instant) {
        let n = self.0.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if st
            .last_drop_log
            .is_none_or(|at| now.duration_since(at) >= DROP_LOG_EVERY)
        {
            st.last_drop_log = Some(now);
            warn!(
                "moderation's action queue is full ({} actions): {n} of the least severe dropped so far",
                self.0.limits.capacity
            );
        }
    }
}

/// Forgets accounts whose punishments have run out; past [`MAX_ACCOUNTS`], also those with
/// nothing pending (their applied punishment may then be repeated once).
fn sweep(st: &mut State, now: Instant) {
    st.last_sweep = now;
    st.accounts.retain(|_, a| !a.idle(now));
    if st.accounts.len() > MAX_ACCOUNTS {
        st.accounts
            .retain(|_, a| a.queued.is_some() || a.in_flight.is_some());
    }
}

/// The worker: sends one action at a time, pacing bans and timeouts per channel.
async fn work<S: Sink>(shared: Arc<Shared>, sink: S, stop: CancellationToken) {
    let mut windows: HashMap<CompactString, VecDeque<Instant>> = HashMap::new();
    loop {
        let next = {
            let mut st = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            let next = st.queue.pop_front();
            if let Some(p) = &next
                && p.strength.punishes()
                && let Some(a) = st.accounts.get_mut(&p.user)
            {
                a.queued = None;
                a.in_flight = Some(p.strength);
            }
            next
        };
        let Some(p) = next else {
            tokio::select! {
                () = shared.wake.notified() => continue,
                () = stop.cancelled() => return,
            }
        };
        let action = match p.job {
            Job::Act(action) => action,
            Job::Warn {
                user_id,
                reason,
                fallback,
            } => {
                tokio::select! {
                    () = give_warning(&shared, &sink, &user_id, &reason, fallback) => {}
                    () = stop.cancelled() => return,
                }
                continue;
            }
        };
        if p.strength.punishes() {
            let channel = match &action {
                Action::Ban { channel, .. } | Action::Timeout { channel, .. } => channel.clone(),
                _ => CompactString::default(),
            };
            let window = windows.entry(channel).or_default();
            while window.len() >= shared.limits.bans as usize {
                let Some(&oldest) = window.front() else { break };
                let free_at = oldest + shared.limits.window;
                if Instant::now() >= free_at {
                    window.pop_front();
                } else {
                    tokio::select! {
                        () = tokio::time::sleep_until(free_at) => {}
                        () = stop.cancelled() => return,
                    }
                }
            }
            window.push_back(Instant::now());
        }
        let result = tokio::select! {
            r = sink.send(&action) => r,
            () = stop.cancelled() => return,
        };
        let now = Instant::now();
        match &result {
            Ok(()) => {
                shared.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => warn!("Twitch refused {action:?}: {e}"),
        }
        if !p.strength.punishes() {
            continue;
        }
        let mut st = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(a) = st.accounts.get_mut(&p.user) {
            a.in_flight = None;
            if result.is_ok() {
                let until = match p.strength {
                    Strength::Timeout(secs) => now + Duration::from_secs(u64::from(secs)),
                    _ => now + BAN_MEMORY,
                };
                let stronger = match a.applied {
                    Some((s, u)) if u > now => {
                        p.strength == Strength::Ban || (s != Strength::Ban && until > u)
                    }
                    _ => true,
                };
                if stronger {
                    a.applied = Some((p.strength, until));
                }
            }
        }
    }
}

/// Gives one native warning; a refused or failed one goes to chat instead, and after a
/// refusal every later warning does too.
async fn give_warning<S: Sink>(
    shared: &Shared,
    sink: &S,
    user_id: &str,
    reason: &str,
    fallback: Warning,
) {
    let to_chat = |w: Warning| {
        if let Some(f) = shared.fallback.get() {
            f(w);
        }
    };
    if !shared.native_warnings.load(Ordering::Relaxed) {
        to_chat(fallback);
        return;
    }
    match sink.warn(user_id, reason).await {
        Ok(()) => {
            shared.sent.fetch_add(1, Ordering::Relaxed);
        }
        Err(WarnError::Refused(e)) => {
            if shared.native_warnings.swap(false, Ordering::Relaxed) {
                warn!("Twitch refused a native warning ({e}): warnings go to chat from now on");
            }
            to_chat(fallback);
        }
        Err(WarnError::Failed(e)) => {
            debug!("a native warning failed ({e}): warning in chat instead");
            to_chat(fallback);
        }
    }
}

/// What raid mode does about one offence: the account's timeout or ban (a delete only when the
/// step is one). Never a warning.
pub fn raid_actions(msg: &ChatMessage, step: Step, reason: String) -> Vec<Action> {
    let step = if step == Step::Warn {
        Step::Delete
    } else {
        step
    };
    step_actions(msg, step, None, reason)
}

/// The timeout or ban raid mode gives an account punished after the fact (it tripped a filter
/// shortly before raid mode began); nothing for a delete-only step.
pub fn raid_punishment(o: &Offender, reason: String) -> Option<Action> {
    match o.step {
        Step::Timeout(seconds) => Some(Action::Timeout {
            channel: o.channel.clone(),
            user_id: o.user_id.clone(),
            seconds,
            reason,
        }),
        Step::Ban => Some(Action::Ban {
            channel: o.channel.clone(),
            user_id: o.user_id.clone(),
            reason,
        }),
        Step::Delete | Step::Warn => None,
    }
}

/// The Helix actions (and warning) for a ladder step taken against `msg`: a delete, a delete
/// and the warning line, a timeout or a ban.
pub fn step_actions(
    msg: &ChatMessage,
    step: Step,
    warning: Option<&str>,
    reason: String,
) -> Vec<Action> {
    let delete = || Action::Delete {
        channel: msg.channel.clone(),
        message_id: msg.id.clone(),
    };
    match step {
        Step::Delete => vec![delete()],
        Step::Warn => {
            let mut v = vec![delete()];
            if let Some(w) = warning {
                // Not a threaded reply: its parent has just been deleted.
                v.push(Action::Say {
                    channel: msg.channel.clone(),
                    text: w.to_owned(),
                });
            }
            v
        }
        Step::Timeout(seconds) => vec![Action::Timeout {
            channel: msg.channel.clone(),
            user_id: msg.sender.id.clone(),
            seconds,
            reason,
        }],
        Step::Ban => vec![Action::Ban {
            channel: msg.channel.clone(),
            user_id: msg.sender.id.clone(),
            reason,
        }],
    }
}

/// Carries out moderation's decision about `msg`: bans, timeouts and deletes to the action
/// queue, the `warn` step's message as a native warning or in chat's warning lane (`to_chat`).
/// Without a queue (no Twitch API) the actions go to `unqueued`.
pub fn punish(
    queue: Option<&Enforcer>,
    decision: &Decision,
    msg: &ChatMessage,
    to_chat: &dyn Fn(Warning),
    unqueued: &dyn Fn(Action),
) {
    for action in &decision.actions {
        match action {
            // The warn step's message: low priority, behind replies, summed up in a raid.
            Action::Say { channel, text } => warn_user(
                queue,
                Warning {
                    channel: channel.clone(),
                    text: text.clone(),
                    reason: decision.filter.as_str().into(),
                    user: msg.sender.login.clone(),
                },
                &msg.sender.id,
                to_chat,
            ),
            other => moderate(queue, other.clone(), &msg.sender.id, unqueued),
        }
    }
}

/// Hands a ban, timeout or delete to the action queue; `sender_id` is the account a deleted
/// message is from. Without the queue (no Twitch API) it goes to `unqueued`.
pub fn moderate(
    queue: Option<&Enforcer>,
    action: Action,
    sender_id: &str,
    unqueued: &dyn Fn(Action),
) {
    match queue {
        Some(enforcer) => {
            enforcer.submit(action, sender_id);
        }
        None => unqueued(action),
    }
}

/// The ladder's `warn` step for the account `user_id`: Twitch's native warning when it is on
/// (through the action queue, which falls back to the chat line if Twitch refuses), else the
/// chat line through `to_chat` (chat's low-priority lane).
pub fn warn_user(
    queue: Option<&Enforcer>,
    warning: Warning,
    user_id: &str,
    to_chat: &dyn Fn(Warning),
) {
    if let Some(enforcer) = queue
        && enforcer.native_warnings()
        && !user_id.is_empty()
    {
        let reason = warning.text.clone();
        enforcer.warn(user_id, &reason, warning);
        return;
    }
    to_chat(warning);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Semaphore;

    /// Records what it is asked to send; each send waits for a permit of `gate`.
    #[derive(Clone)]
    struct Fake {
        sent: Arc<Mutex<Vec<Action>>>,
        warned: Arc<Mutex<Vec<String>>>,
        gate: Arc<Semaphore>,
    }

    impl Sink for Fake {
        async fn send(&self, action: &Action) -> Result<(), String> {
            let permit = self.gate.acquire().await.map_err(|e| e.to_string())?;
            permit.forget();
            self.sent.lock().unwrap().push(action.clone());
            Ok(())
        }

        async fn warn(&self, user_id: &str, _reason: &str) -> Result<(), WarnError> {
            let permit = self
                .gate
                .acquire()
                .await
                .map_err(|e| WarnError::Failed(e.to_string()))?;
            permit.forget();
            self.warned.lock().unwrap().push(user_id.to_owned());
            Ok(())
        }
    }

    fn fake(open: bool) -> Fake {
        Fake {
            sent: Arc::default(),
            warned: Arc::default(),
            gate: Arc::new(Semaphore::new(if open { 1_000_000 } else { 0 })),
        }
    }

    fn timeout(user: &str, seconds: u32) -> Action {
        Action::Timeout {
            channel: "c".into(),
            user_id: user.into(),
            seconds,
            reason: "spam".into(),
        }
    }
    fn ban(user: &str) -> Action {
        Action::Ban {
            channel: "c".into(),
            user_id: user.into(),
            reason: "spam".into(),
        }
    }
    fn delete(msg: &str) -> Action {
        Action::Delete {
            channel: "c".into(),
            message_id: msg.into(),
        }
    }

    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_timeout_then_a_ban_is_one_ban() {
        let f = fake(false);
        let e = Enforcer::start(f.clone(), Limits::default(), CancellationToken::new());
        // The worker holds the first action in flight; these two wait behind it.
        assert_eq!(e.submit(delete("m0"), "other"), Outcome::Queued);
        settle().await;
        assert_eq!(e.submit(timeout("u1", 600), "u1"), Outcome::Queued);
        assert_eq!(e.submit(ban("u1"), "u1"), Outcome::Escalated);
        assert_eq!(e.queued(), 1);
        f.gate.add_permits(100);
        settle().await;
        assert_eq!(*f.sent.lock().unwrap(), vec![delete("m0"), ban("u1")]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_delete_after_a_pending_timeout_is_dropped() {
        let f = fake(false);
        let e = Enforcer::start(f.clone(), Limits::default(), CancellationToken::new());
        assert_eq!(e.submit(timeout("u1", 60), "u1"), Outcome::Queued);
        assert_eq!(e.submit(delete("m1"), "u1"), Outcome::Covered);
        f.gate.add_permits(100);
        settle().await;
        assert_eq!(*f.sent.lock().unwrap(), vec![timeout("u1", 60)]);
        // Once applied, the timeout still covers deletes and equal or shorter timeouts.
        assert_eq!(e.submit(delete("m2"), "u1"), Outcome::Covered);
        assert_eq!(e.submit(timeout("u1", 30), "u1"), Outcome::Covered);
        // After it ends the account can be punished again.
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(e.submit(timeout("u1", 60), "u1"), Outcome::Queued);
    }

    fn warning(user: &str) -> Warning {
        Warning {
            channel: "c".into(),
            text: format!("{user}, no links"),
            reason: "links".into(),
            user: user.into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_warning_is_given_once_and_not_at_all_to_an_account_being_timed_out() {
        let f = fake(false);
        let e = Enforcer::start(f.clone(), Limits::default(), CancellationToken::new());
        let to_chat = Arc::new(Mutex::new(Vec::new()));
        let lines = to_chat.clone();
        e.use_native_warnings(move |w| lines.lock().unwrap().push(w));
        // The worker holds this one in flight; the rest queue behind it.
        e.submit(delete("m0"), "other");
        settle().await;
        assert_eq!(e.warn("u1", "no links", warning("u1")), Outcome::Queued);
        assert_eq!(e.warn("u1", "no links", warning("u1")), Outcome::Covered);
        assert_eq!(e.warn("u2", "no links", warning("u2")), Outcome::Queued);
        // A timeout makes u2's warning moot.
        assert_eq!(e.submit(timeout("u2", 60), "u2"), Outcome::Queued);
        assert_eq!(e.warn("u2", "no links", warning("u2")), Outcome::Covered);
        assert_eq!(e.warn("", "no links", warning("")), Outcome::Refused);
        f.gate.add_permits(100);
        settle().await;
        assert_eq!(*f.warned.lock().unwrap(), vec!["u1".to_owned()]);
        assert_eq!(
            *f.sent.lock().unwrap(),
            vec![delete("m0"), timeout("u2", 60)]
        );
        assert!(to_chat.lock().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_user_id_sends_nothing() {
        let f = fake(true);
        let e = Enforcer::start(f.clone(), Limits::default(), CancellationToken::new());
        assert_eq!(e.submit(ban(""), ""), Outcome::Refused);
        assert_eq!(e.submit(timeout("", 60), ""), Outcome::Refused);
        assert_eq!(e.submit(delete(""), ""), Outcome::Refused);
        // A delete by message id from a line without a user id is still sent.
        assert_eq!(e.submit(delete("m1"), ""), Outcome::Queued);
        settle().await;
        assert_eq!(*f.sent.lock().unwrap(), vec![delete("m1")]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_drops_deletes_before_bans_and_counts_them() {
        let f = fake(false);
        let limits = Limits {
            capacity: 3,
            ..Limits::default()
        };
        let e = Enforcer::start(f.clone(), limits, CancellationToken::new());
        e.submit(delete("in-flight"), "x");
        settle().await;
        assert_eq!(e.submit(delete("d1"), "a"), Outcome::Queued);
        assert_eq!(e.submit(delete("d2"), "b"), Outcome::Queued);
        assert_eq!(e.submit(ban("c"), "c"), Outcome::Queued);
        assert_eq!(e.submit(ban("d"), "d"), Outcome::Queued);
        assert_eq!(e.submit(ban("e"), "e"), Outcome::Queued);
        assert_eq!(e.submit(delete("d3"), "f"), Outcome::Dropped);
        assert_eq!(e.dropped(), 3);
        f.gate.add_permits(100);
        settle().await;
        assert_eq!(
            *f.sent.lock().unwrap(),
            vec![delete("in-flight"), ban("c"), ban("d"), ban("e")]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn bans_are_paced_to_the_channel_limit() {
        let f = fake(true);
        let limits = Limits {
            capacity: 100,
            bans: 2,
            window: Duration::from_secs(30),
        };
        let e = Enforcer::start(f.clone(), limits, CancellationToken::new());
        for u in ["a", "b", "c"] {
            e.submit(ban(u), u);
        }
        settle().await;
        assert_eq!(
            f.sent.lock().unwrap().len(),
            2,
            "the third waits for the window"
        );
        tokio::time::advance(Duration::from_secs(29)).await;
        settle().await;
        assert_eq!(f.sent.lock().unwrap().len(), 2);
        tokio::time::advance(Duration::from_secs(2)).await;
        settle().await;
        assert_eq!(f.sent.lock().unwrap().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_account_map_is_swept() {
        let f = fake(true);
        let e = Enforcer::start(f.clone(), Limits::default(), CancellationToken::new());
        for i in 0..100 {
            let u = format!("u{i}");
            e.submit(timeout(&u, 60), &u);
        }
        settle().await;
        assert_eq!(e.lock().accounts.len(), 100);
        tokio::time::advance(Duration::from_secs(120)).await;
        e.submit(delete("m"), "late");
        assert_eq!(e.lock().accounts.len(), 1, "expired timeouts are forgotten");
    }
}
