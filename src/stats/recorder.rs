//! The running side of stream statistics.
//!
//! [`Recorder`] is what the dispatcher holds: a cheap-to-clone handle whose calls only update
//! counters under a std mutex (held for a few field updates, never across an await or a disk
//! write), so counting never slows chat down. Two tasks do the slow parts:
//! - the writer ([`spawn`]) saves the open stream every `save_every` (and at once when a stream
//!   starts, and at shutdown), and settles each finished stream: one redb transaction stores it
//!   and forgets the open copy, then the report files are written and Discord gets a summary;
//! - the stream watcher waits for the Twitch API, asks Get Streams once: an open stream that is
//!   no longer live ended while the bot was down and is settled; a live stream the bot did not
//!   know is counted from now. Then it feeds the viewer samples into the open stream.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::report;
use super::tally::{StreamStats, Tally};
use crate::action::DiscordCall;
use crate::event::{ChannelEvent, ChannelEventKind, ChatMessage};
use crate::integrations::{Call, Hub};
use crate::storage::Storage;
use crate::subsystems::Subsystem;
use crate::twitch::helix::Helix;
use crate::twitch::stream::StreamHandle;

/// How statistics are kept, from `stream:` in bot.yaml and the data folder.
#[derive(Debug, Clone)]
pub struct StatsSettings {
    /// Where the report files go (`<data>/stats`).
    pub dir: PathBuf,
    /// How often the open stream is saved.
    pub save_every: Duration,
    /// Post a summary to Discord when a stream ends (if Discord runs).
    pub discord_summary: bool,
}

fn now() -> u64 {
    crate::storage::now_secs()
}

/// A finished stream on its way to the writer.
#[derive(Debug)]
struct Finished {
    stats: StreamStats,
}

struct Shared {
    /// The stream being counted.
    open: Mutex<Option<Tally>>,
    /// Something was counted since the last save.
    dirty: AtomicBool,
    /// Wakes the writer to save now (a stream just started).
    save_now: Notify,
    finished: mpsc::Sender<Finished>,
}

/// The dispatcher's handle on the stream being counted. Every call returns at once.
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

/// The writer's end of a [`Recorder`].
pub struct Finisher {
    rx: mpsc::Receiver<Finished>,
}

impl Recorder {
    /// A recorder, resuming `open` (the stream saved before a restart) if any.
    pub fn new(open: Option<Tally>) -> (Recorder, Finisher) {
        let (tx, rx) = mpsc::channel(16);
        let recorder = Recorder {
            shared: Arc::new(Shared {
                open: Mutex::new(open),
                dirty: AtomicBool::new(false),
                save_now: Notify::new(),
                finished: tx,
            }),
        };
        (recorder, Finisher { rx })
    }

    /// Loads the streams saved before a restart (a blocking redb read): the newest is resumed,
    /// any older one (the bot died between two streams) ended while the bot was down.
    pub fn resume_from(storage: &Storage) -> (Option<Tally>, Vec<Tally>) {
        let rows = match storage.open_streams() {
            Ok(rows) => rows,
            Err(e) => {
                error!("cannot read the open stream's stats: {e}");
                return (None, Vec::new());
            }
        };
        let mut open: Vec<Tally> = rows
            .into_iter()
            .filter_map(|(id, v)| match serde_json::from_value::<Tally>(v) {
                Ok(t) => Some(t),
                Err(e) => {
                    error!(
                        "the saved stats of stream {id} (table stream_open) are unreadable: {e}"
                    );
                    None
                }
            })
            .collect();
        open.sort_by_key(|t| t.stats.started_at);
        let newest = open.pop();
        if let Some(t) = &newest {
            info!(stream = %t.stats.stream_id, "resuming the stream stats saved before the restart");
        }
        (newest, open)
    }

    /// Settles streams that ended while the bot was down (see [`Recorder::resume_from`]).
    pub fn settle_ended(&self, ended: Vec<Tally>) {
        for t in ended {
            let end = t.last_seen;
            self.finish(t.finish(end, true));
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Tally>> {
        self.shared
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts into the open stream, if one is open.
    fn with_open(&self, f: impl FnOnce(&mut Tally)) {
        if let Some(t) = self.lock().as_mut() {
            f(t);
            self.shared.dirty.store(true, Ordering::Relaxed);
        }
    }

    /// A chat line in the channel (Shared Chat from elsewhere is not counted).
    pub fn chat(&self, msg: &ChatMessage) {
        self.chats([msg]);
    }

    /// [`Recorder::chat`] for several lines, under one lock and one reading of the clock.
    pub fn chats<'a>(&self, msgs: impl IntoIterator<Item = &'a ChatMessage>) {
        let at = now();
        self.with_open(|t| {
            for msg in msgs {
                if msg.is_from_other_channel() {
                    continue;
                }
                let user = if msg.sender.id.is_empty() {
                    msg.sender.login.as_str()
                } else {
                    msg.sender.id.as_str()
                };
                t.chat(user, at);
            }
        });
    }

    /// A chat command ran.
    pub fn command(&self) {
        self.with_open(|t| t.command(now()));
    }

    /// The bot's moderation punished `login`.
    pub fn punished(&self, login: &str) {
        self.with_open(|t| t.punished(login, now()));
    }

    /// Twitch reported a timeout, ban or message deletion (CLEARCHAT / CLEARMSG).
    pub fn observe(&self, event: &crate::event::Event) {
        use crate::event::Event;
        let login = match event {
            Event::ClearChat(c) => c.target_login.as_deref(),
            Event::ClearMsg(m) => Some(m.login.as_str()),
            _ => None,
        };
        if let Some(login) = login {
            self.with_open(|t| t.cleared(login, now()));
        }
    }

    /// A channel event the dispatcher accepted (after choosing EventSub or IRC).
    pub fn channel_event(&self, ev: &ChannelEvent) {
        match &ev.kind {
            ChannelEventKind::StreamOnline { stream_id } => self.online(stream_id, now()),
            ChannelEventKind::StreamOffline => self.offline(now()),
            _ => self.with_open(|t| t.channel_event(ev, now())),
        }
    }

    /// A viewer-count sample.
    pub fn sample(&self, at: u64, viewers: u64) {
        self.with_open(|t| t.sample(at, viewers));
    }

    /// The stream `stream_id` is live since `started_at`. The same stream again (a redelivery,
    /// or the start-up check after a restart) changes nothing; another one ends the open one.
    pub fn online(&self, stream_id: &str, started_at: u64) {
        let previous = {
            let mut open = self.lock();
            if open
                .as_ref()
                .is_some_and(|t| t.stats.stream_id == stream_id)
            {
                return;
            }
            info!(stream = stream_id, "stream live: counting its stats");
            open.replace(Tally::new(stream_id, started_at))
        };
        if let Some(old) = previous {
            // Its offline never reached the bot; it ended at the latest when this one began.
            let end = old.last_seen.min(started_at.max(old.stats.started_at));
            self.finish(old.finish(end, true));
        }
        self.shared.dirty.store(true, Ordering::Relaxed);
        self.shared.save_now.notify_one();
    }

    /// The stream ended now.
    pub fn offline(&self, at: u64) {
        let Some(t) = self.lock().take() else {
            debug!("stream offline, but no stream was being counted");
            return;
        };
        self.finish(t.finish(at, false));
    }

    /// Ends `stream_id` if it is the open stream: it ended while the bot was down, at the last
    /// time the bot saw it.
    pub fn ended_while_down(&self, stream_id: &str) {
        let t = {
            let mut open = self.lock();
            if open.as_ref().is_none_or(|t| t.stats.stream_id != stream_id) {
                return;
            }
            open.take()
        };
        if let Some(t) = t {
            let end = t.last_seen;
            info!(
                stream = stream_id,
                "the stream ended while the bot was down: settling it"
            );
            self.finish(t.finish(end, true));
        }
    }

    /// Sets the title and category from Get Streams when nothing else has.
    pub fn describe(&self, title: &str, category: &str) {
        self.with_open(|t| {
            if t.stats.title.is_empty() {
                t.stats.title = title.to_owned();
            }
            if t.stats.category.is_empty() {
                t.stats.category = category.to_owned();
            }
        });
    }

    /// The open stream's id.
    pub fn open_id(&self) -> Option<String> {
        self.lock().as_ref().map(|t| t.stats.stream_id.clone())
    }

    /// A copy of the open stream (for saving and for the console).
    pub fn snapshot(&self) -> Option<Tally> {
        self.lock().clone()
    }

    fn finish(&self, stats: StreamStats) {
        if let Err(e) = self.shared.finished.try_send(Finished { stats }) {
            // The open copy stays in storage until it is settled, so the next start settles it.
            error!("stream stats could not be settled now (the writer is behind): {e}");
        }
    }
}

/// What the stats tasks need from the app.
pub struct StatsContext {
    /// Where streams are kept.
    pub storage: Storage,
    /// Where reports go and how often the open stream is saved.
    pub settings: StatsSettings,
    /// For the Discord summary.
    pub integrations: Hub,
    /// For Get Streams and viewer samples; `None` without the Twitch API.
    pub helix: Option<Helix>,
    /// The stream-state watcher, once it runs.
    pub stream: Arc<OnceLock<StreamHandle>>,
    /// Stops both tasks.
    pub shutdown: CancellationToken,
}

/// Starts the writer and the stream watcher; returns their tasks.
pub fn spawn(
    recorder: &Recorder,
    finisher: Finisher,
    ctx: StatsContext,
) -> Vec<(&'static str, JoinHandle<()>)> {
    let ctx = Arc::new(ctx);
    let writer = tokio::spawn(writer(recorder.clone(), finisher, ctx.clone()));
    let watcher = tokio::spawn(watch_stream(recorder.clone(), ctx));
    vec![("stats writer", writer), ("stats stream watcher", watcher)]
}

async fn save(recorder: &Recorder, storage: &Storage) {
    recorder.shared.dirty.store(false, Ordering::Relaxed);
    let Some(tally) = recorder.snapshot() else {
        return;
    };
    let value = match serde_json::to_value(&tally) {
        Ok(v) => v,
        Err(e) => {
            error!("cannot save the stream stats: {e}");
            return;
        }
    };
    let storage = storage.clone();
    let id = tally.stats.stream_id.clone();
    match tokio::task::spawn_blocking(move || storage.save_open_stream(&id, &value)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            recorder.shared.dirty.store(true, Ordering::Relaxed);
            error!("cannot save the stream stats (retrying): {e}");
        }
        Err(e) => error!("saving the stream stats failed: {e}"),
    }
}

/// Stores a finished stream, writes its report and posts the Discord summary.
async fn settle(stats: StreamStats, ctx: &StatsContext) {
    let storage = ctx.storage.clone();
    let dir = ctx.settings.dir.clone();
    let record = report::to_json(&stats);
    let id = stats.stream_id.clone();
    let for_files = stats.clone();
    let done = tokio::task::spawn_blocking(move || {
        let fresh = storage.settle_stream(&id, &record)?;
        if !fresh {
            return Ok(None);
        }
        report::write_report(&dir, &for_files)
            .map(Some)
            .map_err(super::StatsError::from)
    })
    .await;
    match done {
        Ok(Ok(Some(files))) => info!(
            "stream {} settled: report in {}",
            stats.stream_id,
            files.html.display()
        ),
        Ok(Ok(None)) => {
            debug!(stream = %stats.stream_id, "already settled");
            return;
        }
        Ok(Err(e)) => {
            error!("stream {}: {e}", stats.stream_id);
            return;
        }
        Err(e) => {
            error!("settling stream {} failed: {e}", stats.stream_id);
            return;
        }
    }
    let hub = &ctx.integrations;
    if ctx.settings.discord_summary && hub.has(Subsystem::Discord) {
        let text = report::summary(&stats);
        let sent = DiscordCall::send("", &text).and_then(|call| hub.call(Call::Discord(call)));
        if let Err(e) = sent {
            warn!("the stream summary was not posted to Discord: {e}");
        }
    }
}

async fn writer(recorder: Recorder, mut finisher: Finisher, ctx: Arc<StatsContext>) {
    let every = ctx.settings.save_every.max(Duration::from_secs(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            finished = finisher.rx.recv() => match finished {
                Some(f) => settle(f.stats, &ctx).await,
                None => break,
            },
            _ = ctx.shutdown.cancelled() => break,
            _ = recorder.shared.save_now.notified() => save(&recorder, &ctx.storage).await,
            _ = tick.tick() => {
                // Saved even when quiet: the time saved is the stream's end if the bot dies.
                recorder.with_open(|t| t.touch(now()));
                if recorder.shared.dirty.load(Ordering::Relaxed) {
                    save(&recorder, &ctx.storage).await;
                }
            }
        }
    }
    // Shutdown: what ended is settled, what is live is saved (the next start resumes it).
    while let Ok(f) = finisher.rx.try_recv() {
        settle(f.stats, &ctx).await;
    }
    save(&recorder, &ctx.storage).await;
}

fn unix(rfc3339: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(rfc3339).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs())
}

async fn watch_stream(recorder: Recorder, ctx: Arc<StatsContext>) {
    let handle = loop {
        if let Some(h) = ctx.stream.get() {
            break h.clone();
        }
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    };
    // Subscribed before asking Get Streams, so no sample taken meanwhile is missed.
    let mut samples = handle.samples();
    if let Some(helix) = &ctx.helix {
        let id = helix.ids().broadcaster_id;
        let answer = tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            r = crate::twitch::helix::with_backoff("stream stats", Duration::from_secs(300), || helix.stream(&id)) => r,
        };
        match answer {
            Ok(live) => {
                let open = recorder.open_id();
                match (&open, &live) {
                    (Some(open), Some(s)) if *open == s.id => {}
                    (Some(open), _) => recorder.ended_while_down(open),
                    _ => {}
                }
                if let Some(s) = live {
                    recorder.online(&s.id, unix(&s.started_at).unwrap_or_else(now));
                    recorder.describe(&s.title, &s.game_name);
                    recorder.sample(now(), s.viewer_count);
                }
            }
            Err(e) => warn!(
                "cannot check whether the stream is live; an open stream's stats stay open: {e}"
            ),
        }
    }
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            s = samples.recv() => match s {
                Ok(s) => recorder.sample(s.at, s.viewers),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Chatter, EventSource};
    use crate::integrations::{CallError, Integration};
    use crate::storage::StorageOptions;

    /// A Discord that keeps what it was asked to send.
    #[derive(Default)]
    struct FakeDiscord(Mutex<Vec<(String, serde_json::Value)>>);

    impl Integration for FakeDiscord {
        fn subsystem(&self) -> Subsystem {
            Subsystem::Discord
        }
        fn call(&self, call: Call) -> Result<(), CallError> {
            let Call::Discord(DiscordCall::Send { text, .. }) = call else {
                return Err(call.not_for(Subsystem::Discord));
            };
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(("send".to_owned(), serde_json::json!({ "text": text })));
            Ok(())
        }
    }

    fn chat(login: &str) -> ChatMessage {
        ChatMessage {
            id: "m".into(),
            channel: "c".into(),
            room_id: "1".into(),
            sender: Chatter {
                id: format!("id-{login}").into(),
                login: login.into(),
                ..Chatter::default()
            },
            text: "hi".into(),
            action: false,
            emotes: vec![],
            bits: 0,
            first_msg: false,
            returning_chatter: false,
            sub_months: 0,
            reply_parent: None,
            source_room_id: None,
            source_id: None,
            sent_ms: 0,
        }
    }

    fn event(kind: ChannelEventKind) -> ChannelEvent {
        ChannelEvent {
            id: "e".into(),
            source: EventSource::EventSub,
            user: None,
            kind,
        }
    }

    async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
        for _ in 0..500 {
            if cond() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cond()
    }

    #[tokio::test]
    async fn a_finished_stream_is_stored_once_written_and_summarised_on_discord() {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = Storage::open(StorageOptions {
            backup_on_open: false,
            ..StorageOptions::new(dir.path())
        })
        .expect("storage");
        let discord = Arc::new(FakeDiscord::default());
        let hub = Hub::new([discord.clone() as Arc<dyn Integration>]);
        let shutdown = CancellationToken::new();
        let (recorder, finisher) = Recorder::new(None);
        let tasks = spawn(
            &recorder,
            finisher,
            StatsContext {
                storage: storage.clone(),
                settings: StatsSettings {
                    dir: dir.path().join("stats"),
                    save_every: Duration::from_secs(60),
                    discord_summary: true,
                },
                integrations: hub,
                helix: None,
                stream: Arc::new(OnceLock::new()),
                shutdown: shutdown.clone(),
            },
        );
        recorder.chat(&chat("early")); // before the stream: not counted
        recorder.channel_event(&event(ChannelEventKind::StreamOnline {
            stream_id: "77".into(),
        }));
        // Going live is saved at once, so a crash right after loses nothing.
        assert!(eventually(|| storage.open_streams().is_ok_and(|o| o.len() == 1)).await);
        recorder.chat(&chat("alice"));
        recorder.chat(&chat("bob"));
        recorder.chat(&chat("alice"));
        recorder.channel_event(&event(ChannelEventKind::Follow));
        // The same stream announced again (a redelivery) changes nothing.
        recorder.channel_event(&event(ChannelEventKind::StreamOnline {
            stream_id: "77".into(),
        }));
        recorder.channel_event(&event(ChannelEventKind::StreamOffline));
        let sent = || {
            discord
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        };
        assert!(
            eventually(|| !sent().is_empty()).await,
            "Discord got a summary"
        );
        let (call, data) = sent()[0].clone();
        assert_eq!(call, "send");
        let text = data["text"].as_str().unwrap_or_default().to_owned();
        assert!(
            text.contains("3 chat messages from 2 chatters") && text.contains("1 new followers"),
            "{text}"
        );
        let stored = crate::stats::stored_streams(&storage).expect("read");
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].chat_messages, 3);
        assert_eq!(storage.open_streams().map(|o| o.len()).ok(), Some(0));
        let html = dir
            .path()
            .join("stats")
            .join(format!("{}.html", stored[0].file_stem()));
        assert!(html.exists());
        // Settling the same stream again stores nothing new and posts nothing.
        recorder.online("77", stored[0].started_at);
        recorder.offline(stored[0].started_at + 5);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            crate::stats::stored_streams(&storage).map(|s| s.len()).ok(),
            Some(1)
        );
        assert_eq!(sent().len(), 1);

        // A stream live at shutdown is saved and resumed by the next recorder.
        recorder.online("78", crate::storage::now_secs());
        recorder.chat(&chat("carol"));
        shutdown.cancel();
        for (_, task) in tasks {
            let _ = task.await;
        }
        let (open, ended) = Recorder::resume_from(&storage);
        assert!(ended.is_empty());
        let open = open.expect("the live stream was saved");
        assert_eq!(open.stats.stream_id, "78");
        assert_eq!(open.stats.chat_messages, 1);
    }
}
