//! The dispatcher: the one consumer of the event queue. For each event it keeps the bot's view of
//! the world current (connection health, live or not), counts chat for loyalty, runs moderation
//! (Rust, before any script), hands channel events to the storage writer (which pays their
//! points and then runs their scripts), hands commands and responses to the script host, and
//! publishes every event to the live log. The chat built-ins it answers itself, and the order
//! of every gate a chat line passes, are in `builtins`; what it sends goes out through
//! [`crate::outputs::Outputs`].
//!
//! It never waits on the network, the disk or a script: scripts run on their own threads,
//! network calls in their own tasks and commits on the storage writer's, so one slow thing
//! cannot stall chat. Owns no socket.

use std::sync::{Arc, OnceLock};

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::event::LiveEvent;
use crate::event::{
    ChannelEvent, ChannelEventKind, ChatMessage, ConnectionState, Event, EventSource, Service,
    UserNotice,
};
use crate::health::Health;
use crate::loyalty::Loyalty;
use crate::moderation::raid::{Offender, Verdict as RaidVerdict};
use crate::moderation::waves::FollowWaves;
use crate::moderation::{Moderator, Verdict};
use crate::outputs::Outputs;
use crate::queue::EventReceiver;
use crate::scripting::ScriptHost;
use crate::storage::Storage;
use crate::storage::writer::{self, Written};
use crate::twitch::eventsub::{channel_event_from_chat, channel_event_from_usernotice};
use crate::twitch::stream::StreamHandle;

mod builtins;
mod follow_waves;
use follow_waves::{end_asked, sleep_until_some};

/// Everything the dispatcher works with; `None` means switched off or not available.
#[derive(Clone, Default)]
pub struct Parts {
    /// The channel the bot is in (login, no `#`).
    pub channel: compact_str::CompactString,
    /// Where replies, punishments and other actions leave the bot.
    pub outputs: Outputs,
    /// Connection health, kept current from the events.
    pub health: Health,
    /// The script host: commands, responses, rewards and event scripts.
    pub scripts: Option<Arc<ScriptHost>>,
    /// The database (points, stores, logs).
    pub storage: Option<Storage>,
    /// Watch-time and event points.
    pub loyalty: Option<Arc<Loyalty>>,
    /// The stream-state watcher, once it runs (live or not).
    pub stream: Arc<OnceLock<StreamHandle>>,
    /// EventSub runs (not `--noeventsub`): it is then the one source for channel events.
    pub eventsub_enabled: bool,
    /// Every event, for the console's live log and ZeroMQ.
    pub log: Option<broadcast::Sender<LiveEvent>>,
    /// The config in force; a new value (console "Reload configs", a saved file) is applied
    /// between two batches of events.
    pub config: Option<watch::Receiver<Arc<Config>>>,
    /// The command prefix (`!`), for the moderators' built-in `!permit` and `!modcheck`.
    pub prefix: String,
    /// Moderation-log entries, written to storage by
    /// [`crate::moderation::log::spawn_modlog_writer`] off this task.
    pub modlog: Option<crate::moderation::log::ModlogSender>,
    /// Stream statistics: fed where points and event scripts run, so each event counts once.
    pub stats: Option<crate::stats::Recorder>,
    /// The storage writer: channel events' points are committed there, in batches, and their
    /// scripts run after the commit. Without it they are paid here, blocking.
    pub writer: Option<writer::Writer>,
    /// Follow-bot wave detection (shared with the console, and with the next dispatcher after
    /// a crash, so held points survive it).
    pub waves: Option<FollowWaves>,
    /// Accounts to block in a follow wave (`follow_waves.block`), sent by their own task.
    pub blocks: Option<tokio::sync::mpsc::Sender<compact_str::CompactString>>,
    /// Raid mode: counts offending accounts, switches Twitch's defences, shown in the console.
    pub raid: Option<crate::moderation::raid::RaidMode>,
    /// Text commands (`!cmd add …`), answered after the built-ins and the `.rhai` commands.
    pub text_commands: Option<Arc<crate::commands::TextCommands>>,
    /// The regulars list: a regular's messages carry [`crate::event::Roles::REGULAR`].
    pub regulars: Option<Arc<crate::commands::Regulars>>,
}

/// The dispatcher.
pub struct Dispatcher {
    parts: Parts,
    /// Chat moderation; `None` when `moderation.enabled` is false.
    moderator: Option<Moderator>,
    /// Where text commands' answers go: made once, since every chat line is offered to them.
    text_sender: crate::commands::Sender,
}

impl Dispatcher {
    /// A dispatcher over `parts`, moderating chat with `moderator`.
    pub fn new(parts: Parts, moderator: Option<Moderator>) -> Dispatcher {
        let outputs = parts.outputs.clone();
        let text_sender: crate::commands::Sender = Arc::new(move |action| outputs.perform(action));
        Dispatcher {
            parts,
            moderator,
            text_sender,
        }
    }

    /// Consumes events until the queue closes or `shutdown` fires.
    pub async fn run(self, mut rx: EventReceiver, shutdown: CancellationToken) {
        self.run_on(&mut rx, shutdown).await;
    }

    /// [`Dispatcher::run`] on a queue shared with the dispatcher's next run: if this one
    /// fails, a new dispatcher picks up the queue where it stopped.
    pub async fn run_shared(
        self,
        rx: Arc<tokio::sync::Mutex<EventReceiver>>,
        shutdown: CancellationToken,
    ) {
        let mut rx = rx.lock().await;
        self.run_on(&mut rx, shutdown).await;
    }

    async fn run_on(mut self, rx: &mut EventReceiver, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(256);
        loop {
            // The next follow-wave timer: a wave's quiet end, or a follow's hold running out.
            let wave_timer =
                self.parts
                    .waves
                    .as_ref()
                    .and_then(|w| match (w.ends_at(), w.next_release()) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    });
            tokio::select! {
                biased;
                n = rx.recv_many(&mut batch, 256) => {
                    if n == 0 {
                        break;
                    }
                    self.apply_new_config();
                    self.account(&mut batch);
                    for event in batch.drain(..) {
                        self.handle_accounted(event);
                    }
                    // A busy queue keeps this branch ready: the timers are looked at here then.
                    if wave_timer.is_some_and(|at| tokio::time::Instant::now() >= at) {
                        self.wave_timers();
                    }
                }
                _ = shutdown.cancelled() => break,
                _ = sleep_until_some(wave_timer) => self.wave_timers(),
                _ = end_asked(self.parts.waves.clone()) => self.end_wave_if_quiet(),
            }
        }
        // A wave still going at shutdown ends here, so what it holds is paid (or dropped) now
        // rather than lost; follows waiting out their hold are thanked and paid.
        if let Some(ended) = self.parts.waves.as_ref().and_then(FollowWaves::end_now) {
            self.end_wave(ended);
        }
        self.release_follows(true);
    }

    /// Applies a config reloaded since the last batch (moderation rules, loyalty rules).
    fn apply_new_config(&mut self) {
        let Some(rx) = &mut self.parts.config else {
            return;
        };
        if !rx.has_changed().unwrap_or(false) {
            return;
        }
        let config = rx.borrow_and_update().clone();
        if let Some(loyalty) = &self.parts.loyalty {
            loyalty.set_rules(crate::loyalty::LoyaltyRules::from(&config.loyalty));
        }
        if let Some(waves) = &self.parts.waves {
            waves.set_config(config.moderation.follow_waves.clone());
        }
        if let Some(raid) = &self.parts.raid {
            raid.reconfigure(&config.moderation.raid_mode);
        }
        if let Some(regulars) = &self.parts.regulars {
            regulars.set_config(&config.moderation.regulars);
        }
        match (&mut self.moderator, config.moderation.enabled) {
            (Some(m), true) => {
                if let Err(e) = m.reconfigure(&config.moderation) {
                    warn!("moderation keeps its previous rules: {e}");
                }
            }
            (Some(_), false) => self.moderator = None,
            (None, true) => match Moderator::new(&config.moderation) {
                Ok(m) => self.moderator = Some(m),
                Err(e) => warn!("moderation stays off: {e}"),
            },
            (None, false) => {}
        }
        info!("configs reloaded");
    }

    /// Whether EventSub is the source of truth for channel events now: it runs and has not
    /// gone down for good. Otherwise IRC USERNOTICEs (and cheers in chat) take over.
    fn eventsub_owns_channel_events(&self) -> bool {
        self.parts.eventsub_enabled
            && !matches!(
                self.parts.health.get(Service::EventSub),
                Some(ConnectionState::Down { .. })
            )
    }

    /// Handles one event.
    pub fn handle(&mut self, mut event: Event) {
        self.account(std::slice::from_mut(&mut event));
        self.handle_accounted(event);
    }

    /// What every chat line of a batch gets whatever happens to it next, done for the whole
    /// batch (a read's worth of chat) under one lock each: a regular's lines are marked, and
    /// the lines from this channel are counted for the viewers' records, watch time and the
    /// stream's statistics.
    fn account(&mut self, events: &mut [Event]) {
        for event in events.iter_mut() {
            if let Event::Chat(msg) = event {
                self.mark_regular(msg);
            }
        }
        let own = || {
            events.iter().filter_map(|e| match e {
                Event::Chat(msg) if !msg.is_from_other_channel() => Some(&**msg),
                _ => None,
            })
        };
        if own().next().is_none() {
            return;
        }
        if let Some(storage) = &self.parts.storage {
            storage.record_chats(own().map(|m| {
                let s = &m.sender;
                (s.id.as_str(), s.login.as_str(), s.display_name.as_str())
            }));
        }
        if let Some(loyalty) = &self.parts.loyalty {
            loyalty.note_chats(own().map(|m| &m.sender));
        }
        if let Some(stats) = &self.parts.stats {
            stats.chats(own());
        }
    }

    /// Handles one event whose chat line [`Dispatcher::account`] has seen.
    fn handle_accounted(&mut self, event: Event) {
        // A follow in a follow wave: no alert or publication either (the live log keeps it).
        let mut quiet = false;
        match &event {
            Event::Chat(msg) => self.on_chat(msg),
            Event::UserNotice(notice) => self.on_usernotice(notice),
            Event::Channel(ev) => quiet = !self.on_channel_event(ev),
            Event::Connection(change) => {
                match &change.state {
                    ConnectionState::Connected => info!("{:?}: connected", change.service),
                    ConnectionState::Reconnecting { reason, .. } => {
                        debug!("{:?}: reconnecting ({reason})", change.service);
                    }
                    ConnectionState::Down { reason } => {
                        warn!("{:?}: down ({reason})", change.service)
                    }
                }
                self.parts.health.set(change.service, change.state.clone());
            }
            Event::Notice(n) => debug!("notice {:?}: {}", n.msg_id, n.text),
            Event::Obs(ev) => {
                if let Some(scripts) = &self.parts.scripts {
                    scripts.handle_obs_event(ev);
                }
            }
            other => debug!(topic = other.topic(), "event"),
        }
        if let Some(stats) = &self.parts.stats {
            stats.observe(&event); // moderators' timeouts, bans and deletions
        }
        let integrations = &self.parts.outputs.integrations;
        let to_log = self
            .parts
            .log
            .as_ref()
            .filter(|log| log.receiver_count() > 0);
        let to_integrations = !quiet && integrations.wants_events();
        if to_log.is_some() || to_integrations {
            let event = Arc::new(event);
            if to_integrations {
                integrations.observe(&event);
            }
            if let Some(log) = to_log {
                let _ = log.send(LiveEvent::event(event));
            }
        }
    }

    fn on_chat(&mut self, msg: &ChatMessage) {
        if msg.is_from_other_channel() {
            // Shared Chat: shown in the log, never acted on (no command, moderation or points).
            debug!(
                "shared chat from room {}: {}: {}",
                msg.source_room_id.as_deref().unwrap_or_default(),
                msg.sender.login,
                msg.text
            );
            return;
        }
        let stats = self.parts.stats.clone();
        if self.answer_before_moderation(msg) {
            if let Some(stats) = &stats {
                stats.command();
            }
            return;
        }
        if self.moderate(msg) {
            if let Some(stats) = &stats {
                stats.punished(&msg.sender.login);
            }
            return;
        }
        if msg.first_msg {
            let ev = ChannelEvent {
                id: format!("first:{}", msg.id).into(),
                source: EventSource::Irc,
                user: Some(msg.sender.clone()),
                kind: ChannelEventKind::FirstMessage {
                    text: msg.text.clone(),
                },
            };
            self.run_channel_event(&ev);
        }
        if msg.bits > 0
            && !self.eventsub_owns_channel_events()
            && let Some(ev) = channel_event_from_chat(msg)
        {
            self.on_channel_event(&ev);
        }
        let mut script_outcome = None;
        if let Some(scripts) = &self.parts.scripts {
            let outcome = scripts.handle_chat(msg);
            let ran = match &outcome {
                crate::scripting::Outcome::Queued(key) => key.starts_with("commands/"),
                crate::scripting::Outcome::Builtin => true,
                _ => false,
            };
            if ran && let Some(stats) = &stats {
                stats.command();
            }
            script_outcome = Some(outcome);
        }
        if self.answer_text_command(msg, script_outcome.as_ref())
            && let Some(stats) = &stats
        {
            stats.command();
        }
    }

    /// Runs moderation; `true` when the message was punished (it then runs nothing else).
    fn moderate(&mut self, msg: &ChatMessage) -> bool {
        let Some(moderator) = &mut self.moderator else {
            return false;
        };
        let now = tokio::time::Instant::now();
        let Verdict::Caught(mut decision) = moderator.check(msg, now) else {
            return false;
        };
        // Raid mode: one timeout or ban per account, no deletes or warnings; an account's later
        // lines are only counted (the moderation log has its first, and raid mode's count).
        let mut raid_on = false;
        let mut repeat = false;
        let mut late = Vec::new();
        if !decision.dry_run
            && let Some(raid) = &self.parts.raid
        {
            let step = moderator.raid_step(&decision.ladder, raid.action());
            let offender = Offender {
                channel: msg.channel.clone(),
                user_id: msg.sender.id.clone(),
                login: msg.sender.login.clone(),
                step,
            };
            let reason = format!("raid mode: {}: {}", decision.filter, decision.rule);
            match raid.offence(offender, now) {
                RaidVerdict::Off => {}
                RaidVerdict::On { first } => {
                    raid_on = true;
                    repeat = !first;
                }
                RaidVerdict::Began(others) => {
                    raid_on = true;
                    late = others
                        .iter()
                        .filter_map(|o| {
                            crate::moderation::raid_punishment(o, reason.clone())
                                .map(|a| (a, o.user_id.clone()))
                        })
                        .collect();
                }
            }
            if raid_on {
                decision.step = step;
                decision.warning = None;
                decision.actions = crate::moderation::raid_actions(msg, step, reason);
            }
        }
        let verb = if decision.dry_run {
            "would have"
        } else {
            "did"
        };
        // An account already punished (or being punished) in this raid: the action queue
        // finds it covered; nothing more to say.
        if raid_on && !repeat {
            debug!(
                "raid mode: {} {} ({} filter)",
                decision.step,
                msg.sender.login,
                decision.filter.as_str()
            );
        } else if !raid_on {
            info!(
                "moderation {verb} {:?} {} ({} filter, {}): {}",
                decision.step,
                msg.sender.login,
                decision.filter.as_str(),
                decision.rule,
                decision.why
            );
        }
        for (action, user_id) in late {
            self.parts.outputs.moderate(action, &user_id);
        }
        if let Some(modlog) = &self.parts.modlog
            && !repeat
            && let Ok(value) = serde_json::to_value(decision.log_entry(msg, crate::clock::now_ms()))
        {
            // Never waits; an entry it cannot keep is counted, warned about now and then, and
            // the count is written to the log.
            let _ = modlog.try_send(value);
        }
        self.parts.outputs.punish(&decision, msg);
        !decision.dry_run
    }

    fn on_usernotice(&mut self, notice: &UserNotice) {
        info!("{}", notice.system_msg);
        let from_elsewhere = notice
            .source_room_id
            .as_ref()
            .is_some_and(|src| !src.is_empty() && *src != notice.room_id);
        if from_elsewhere || self.eventsub_owns_channel_events() {
            return; // the log only: EventSub reports the same event with its own id
        }
        if let Some(ev) = channel_event_from_usernotice(notice) {
            self.on_channel_event(&ev);
        }
    }

    /// Handles a channel event; `false` when it gets no reaction of its own (a follow in a
    /// follow wave).
    fn on_channel_event(&mut self, ev: &ChannelEvent) -> bool {
        if ev.source == EventSource::Irc && self.eventsub_owns_channel_events() {
            return true;
        }
        if let Some(stream) = self.parts.stream.get() {
            stream.observe(ev);
        }
        if let Some(stats) = &self.parts.stats {
            stats.channel_event(ev);
        }
        match ev.kind {
            ChannelEventKind::StreamOnline { .. } => self.set_live(true),
            ChannelEventKind::StreamOffline => self.set_live(false),
            ChannelEventKind::Follow if !self.follow_is_ordinary(ev) => return false,
            _ => {}
        }
        self.react(ev);
        true
    }

    /// A channel event's reaction: its points paid, then its scripts run.
    fn react(&mut self, ev: &ChannelEvent) {
        // Points are committed before any script can announce them: off this task, by the
        // storage writer, which runs the event's scripts after the commit. Every channel event
        // goes that way (paid or not), so their scripts run in the order the events came.
        if let (Some(loyalty), Some(writer)) = (&self.parts.loyalty, &self.parts.writer) {
            let scripts = self.parts.scripts.clone();
            let event = ev.clone();
            let then: writer::Then = Box::new(move |written| {
                if after_payment(&event, &written)
                    && let Some(scripts) = &scripts
                {
                    scripts.handle_channel_event(&event);
                }
            });
            match writer.submit(loyalty.award_job(ev, then)) {
                Ok(()) => return,
                // The writer is gone (shutting down): pay here instead.
                Err(_) => debug!("the storage writer has stopped; paying inline"),
            }
        }
        if let (Some(loyalty), Some(storage)) = (&self.parts.loyalty, &self.parts.storage) {
            let written = match loyalty.apply_event(storage, ev) {
                Ok(Some((_, crate::storage::Applied::Done(receipt)))) => Written::Done(receipt),
                Ok(Some((_, crate::storage::Applied::Duplicate))) => Written::Duplicate,
                Ok(None) => Written::Nothing,
                Err(e) => Written::Failed(e.to_string()),
            };
            if !after_payment(ev, &written) {
                return;
            }
        }
        self.run_channel_event(ev);
    }

    fn run_channel_event(&self, ev: &ChannelEvent) {
        if let Some(scripts) = &self.parts.scripts {
            scripts.handle_channel_event(ev);
        }
    }

    fn set_live(&self, live: bool) {
        if let Some(scripts) = &self.parts.scripts {
            scripts.set_live(live);
        }
        if let Some(loyalty) = &self.parts.loyalty {
            loyalty.set_live(live);
        }
    }
}

/// Logs what paying for `ev` did; `false` when its scripts must not run: the event was paid
/// before (a redelivery, also after a restart), so it was announced then.
fn after_payment(ev: &ChannelEvent, written: &Written) -> bool {
    match written {
        Written::Done(receipt) => {
            debug!("{} paid: balance {}", ev.kind.topic(), receipt.balance);
            true
        }
        Written::Duplicate => {
            debug!(
                "{} {} was paid before: not run again",
                ev.kind.topic(),
                ev.id
            );
            false
        }
        Written::Nothing => true,
        Written::Failed(e) => {
            warn!("cannot pay points for {}: {e}", ev.kind.topic());
            true
        }
    }
}
