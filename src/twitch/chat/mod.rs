//! The chat connection: logs in over IRC (TCP, TLS or WebSocket), joins the channel, turns every
//! line into an [`Event`] on the queue, answers PINGs, detects dead links with its own PING,
//! reconnects with exponential backoff and jitter, and sends the bot's messages through a rate
//! limiter from a queue that survives reconnects.
//!
//! Owns the socket and the outgoing queue; knows nothing of commands, scripts or storage.

pub mod ratelimit;
pub mod split;
pub mod transport;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use compact_str::CompactString;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::config::bot::RateLimit;
use crate::event::{ConnectionChange, ConnectionState, Event, Permission, Service};
use crate::queue::EventSender;
use crate::twitch::irc::{Incoming, IrcLine, interpret};
use ratelimit::RateLimiter;
use split::{MAX_CHARS, split_message};
pub use transport::{BadChatUrl, ChatUrl};
use transport::{LineReader, Transport};

/// Everything the chat connection needs to know.
#[derive(Clone)]
pub struct ChatSettings {
    pub url: ChatUrl,
    /// The bot account's login.
    pub login: String,
    /// The bot account's user access token (with or without the `oauth:` prefix). Never logged.
    pub token: String,
    /// The channel to join, without `#`.
    pub channel: String,
    /// The floor of the send rate class.
    pub rate_limit: RateLimit,
    /// Silence after which we send our own PING.
    pub ping_interval: Duration,
    /// How long we wait for any answer to that PING before reconnecting.
    pub ping_timeout: Duration,
    /// Outgoing messages kept while disconnected or rate limited.
    pub outgoing_capacity: usize,
    /// Longest wait between reconnect attempts.
    pub max_backoff: Duration,
}

impl std::fmt::Debug for ChatSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatSettings")
            .field("url", &self.url)
            .field("login", &self.login)
            .field("channel", &self.channel)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

/// A message for chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Channel login, without `#`.
    pub channel: CompactString,
    pub text: String,
    /// Reply in the thread of this message id.
    pub reply_to: Option<CompactString>,
}

/// The chat connection is gone (shutdown) or its intake is full.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("chat is shut down")]
    Closed,
    #[error("chat's outgoing queue is full; message dropped")]
    Full,
}

/// A moderation warning for chat. Warnings travel in their own lane: they go out only when no
/// reply is waiting, and during a burst they are summed up in one line per [`WARN_INTERVAL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Channel login, without `#`.
    pub channel: CompactString,
    /// The warning as the filter words it, sent as is when it is the only one.
    pub text: String,
    /// What the chatter was warned for, e.g. `links` (named in the summary line).
    pub reason: CompactString,
    /// The warned chatter's login (a summary counts chatters, not messages).
    pub user: CompactString,
}

/// A lone warning waits this long for others before going out, so a burst becomes one line.
pub const WARN_GATHER: Duration = Duration::from_secs(2);
/// At most one warning line goes to a channel in this time.
pub const WARN_INTERVAL: Duration = Duration::from_secs(10);
/// Warnings held for the next line at most; more are dropped (and counted).
const WARN_HOLD: usize = 1_000;

/// A cheap, cloneable handle for sending chat messages.
#[derive(Debug, Clone)]
pub struct ChatHandle {
    tx: mpsc::Sender<Outgoing>,
    warn_tx: mpsc::Sender<Warning>,
    warnings_dropped: Arc<AtomicU64>,
}

impl ChatHandle {
    /// Queues a message without waiting.
    ///
    /// # Errors
    /// [`SendError::Full`] when the intake is full, [`SendError::Closed`] after shutdown.
    pub fn send(&self, msg: Outgoing) -> Result<(), SendError> {
        self.tx.try_send(msg).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::Full,
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// Queues a message, waiting for room.
    ///
    /// # Errors
    /// [`SendError::Closed`] after shutdown.
    pub async fn send_wait(&self, msg: Outgoing) -> Result<(), SendError> {
        self.tx.send(msg).await.map_err(|_| SendError::Closed)
    }

    /// Queues a moderation warning in the low-priority lane without waiting. It never takes a
    /// reply's room: when the lane is full the warning is dropped, counted and logged.
    pub fn warn(&self, warning: Warning) {
        match self.warn_tx.try_send(warning) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                let dropped = self
                    .warnings_dropped
                    .fetch_add(1, Ordering::Relaxed)
                    .saturating_add(1);
                if dropped.is_power_of_two() {
                    warn!(
                        dropped,
                        "chat: too many moderation warnings at once: dropped some"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                debug!("chat is shut down: warning dropped");
            }
        }
    }

    /// Moderation warnings dropped so far because their lane was full.
    pub fn warnings_dropped(&self) -> u64 {
        self.warnings_dropped.load(Ordering::Relaxed)
    }
}

/// Starts the chat connection task. It runs until `shutdown` is cancelled.
pub fn spawn(
    settings: ChatSettings,
    events: EventSender,
    shutdown: CancellationToken,
) -> (ChatHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(settings.outgoing_capacity.clamp(16, 4_096));
    let (warn_tx, warn_rx) = mpsc::channel(256);
    let warnings_dropped = Arc::new(AtomicU64::new(0));
    let intake = Intake {
        replies: rx,
        warnings: warn_rx,
        warnings_dropped: Arc::clone(&warnings_dropped),
    };
    let task = tokio::spawn(run(settings, events, intake, shutdown));
    (
        ChatHandle {
            tx,
            warn_tx,
            warnings_dropped,
        },
        task,
    )
}

/// What the handles put in: replies and script output in one lane, warnings in the other.
struct Intake {
    replies: mpsc::Receiver<Outgoing>,
    warnings: mpsc::Receiver<Warning>,
    warnings_dropped: Arc<AtomicU64>,
}

/// Why a session ended.
#[derive(Debug)]
enum SessionEnd {
    Shutdown,
    /// The server asked us to reconnect: do it now.
    Reconnect,
    /// The link broke: reconnect after a backoff.
    Lost(String),
    /// The token was refused: only the user can fix that.
    AuthFailed(String),
}

/// One chat line: channel, text, the message it replies to.
type Line = (CompactString, String, Option<CompactString>);

/// How long a sent message waits for the server's acknowledgement before we conclude the server
/// does not acknowledge messages at all.
const ACK_WAIT: Duration = Duration::from_secs(10);

/// Messages waiting to be sent, bounded: the oldest goes when it is full.
///
/// Twitch answers every PRIVMSG with a USERSTATE (or a NOTICE when it refuses the message). A
/// message written just before the link dies is lost in the kernel's buffers, so sent messages
/// stay "in flight" until that answer arrives, and go back to the front of the queue when the
/// session ends first. A server that never acknowledges (seen after [`ACK_WAIT`]) switches this
/// off, so nothing is sent twice there.
struct Pending {
    lines: VecDeque<Line>,
    in_flight: VecDeque<(Instant, Line)>,
    server_acks: bool,
    capacity: usize,
    dropped: u64,
}

impl Pending {
    fn push(&mut self, msg: Outgoing) {
        for piece in split_message(&msg.text, MAX_CHARS) {
            if self.lines.len() >= self.capacity {
                self.lines.pop_front();
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    warn!(
                        dropped = self.dropped,
                        "chat outgoing queue full: dropped the oldest messages"
                    );
                }
            }
            self.lines
                .push_back((msg.channel.clone(), piece, msg.reply_to.clone()));
        }
    }

    /// Records a line written to the socket.
    fn sent(&mut self, now: Instant, line: Line) {
        if !self.server_acks {
            return;
        }
        if let Some((oldest, _)) = self.in_flight.front()
            && now.duration_since(*oldest) > ACK_WAIT
        {
            debug!("chat: the server does not acknowledge messages; not tracking them");
            self.server_acks = false;
            self.in_flight.clear();
            return;
        }
        self.in_flight.push_back((now, line));
    }

    /// The server answered the oldest message in flight (USERSTATE or a NOTICE in its channel).
    fn acknowledged(&mut self, channel: &str) {
        if self
            .in_flight
            .front()
            .is_some_and(|(_, l)| l.0.eq_ignore_ascii_case(channel))
        {
            self.in_flight.pop_front();
        }
    }

    /// The session ended: what was not acknowledged goes out again first.
    fn requeue_in_flight(&mut self) {
        while let Some((_, line)) = self.in_flight.pop_back() {
            self.lines.push_front(line);
        }
    }
}

/// The warning lane: warnings held until no reply waits, then sent one line per channel at most
/// every [`WARN_INTERVAL`]: the warning itself when it is alone, a summary when there are more.
#[derive(Default)]
struct Warnings {
    held: Vec<Warning>,
    /// When the oldest held warning arrived.
    first_at: Option<Instant>,
    /// When the last warning line was queued.
    last_out: Option<Instant>,
    dropped: u64,
}

impl Warnings {
    fn push(&mut self, now: Instant, warning: Warning) {
        if self.held.len() >= WARN_HOLD {
            self.dropped = self.dropped.saturating_add(1);
            if self.dropped.is_power_of_two() {
                warn!(
                    dropped = self.dropped,
                    "chat: too many moderation warnings held: dropped some"
                );
            }
            return;
        }
        self.first_at.get_or_insert(now);
        self.held.push(warning);
    }

    /// When the held warnings may go out (if no reply is waiting then).
    fn due(&self) -> Option<Instant> {
        let first = self.first_at?;
        let gathered = first + WARN_GATHER;
        Some(match self.last_out {
            Some(last) => gathered.max(last + WARN_INTERVAL),
            None => gathered,
        })
    }

    /// The held warnings as chat lines, one per channel; the lane is empty afterwards.
    fn take(&mut self, now: Instant) -> Vec<Line> {
        self.first_at = None;
        self.last_out = Some(now);
        let held = std::mem::take(&mut self.held);
        let mut channels: Vec<&CompactString> = Vec::new();
        for w in &held {
            if !channels.contains(&&w.channel) {
                channels.push(&w.channel);
            }
        }
        channels
            .into_iter()
            .filter_map(|channel| {
                let here: Vec<&Warning> = held.iter().filter(|w| w.channel == *channel).collect();
                let text = match here.as_slice() {
                    [] => return None,
                    [one] => one.text.clone(),
                    many => summary(many),
                };
                Some((channel.clone(), text, None))
            })
            .collect()
    }
}

/// One line for many warnings: `12 chatters warned for links` (with each reason counted when
/// there are several: `15 chatters warned: 12 for links, 3 for caps`).
fn summary(warnings: &[&Warning]) -> String {
    let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
    for w in warnings {
        match reasons.iter_mut().find(|(r, _)| *r == w.reason.as_str()) {
            Some((_, users)) => {
                if !users.contains(&w.user.as_str()) {
                    users.push(&w.user);
                }
            }
            None => reasons.push((&w.reason, vec![&w.user])),
        }
    }
    let mut everyone: Vec<&str> = reasons
        .iter()
        .flat_map(|(_, u)| u.iter().copied())
        .collect();
    everyone.sort_unstable();
    everyone.dedup();
    let chatters = |n: usize| if n == 1 { "chatter" } else { "chatters" };
    match reasons.as_slice() {
        [(reason, users)] => format!(
            "{} {} warned for {reason}",
            users.len(),
            chatters(users.len())
        ),
        _ => {
            let parts: Vec<String> = reasons
                .iter()
                .map(|(reason, users)| format!("{} for {reason}", users.len()))
                .collect();
            format!(
                "{} {} warned: {}",
                everyone.len(),
                chatters(everyone.len()),
                parts.join(", ")
            )
        }
    }
}

async fn run(
    settings: ChatSettings,
    events: EventSender,
    mut intake: Intake,
    shutdown: CancellationToken,
) {
    let mut pending = Pending {
        lines: VecDeque::new(),
        in_flight: VecDeque::new(),
        server_acks: true,
        capacity: settings.outgoing_capacity.max(1),
        dropped: 0,
    };
    let mut warnings = Warnings::default();
    let mut limiter = RateLimiter::new(settings.rate_limit);
    let mut failures: u32 = 0;
    let mut auth_reported = false;
    loop {
        let end = session(
            &settings,
            &events,
            &mut intake,
            &mut pending,
            &mut warnings,
            &mut limiter,
            &shutdown,
            &mut failures,
        )
        .await;
        pending.requeue_in_flight();
        let auth_failed = matches!(end, SessionEnd::AuthFailed(_));
        let (reason, delay) = match end {
            SessionEnd::Shutdown => break,
            SessionEnd::Reconnect => {
                info!("chat: server asked us to reconnect");
                failures = 0;
                ("server sent RECONNECT".to_string(), Duration::ZERO)
            }
            SessionEnd::Lost(reason) => {
                let delay = backoff(failures, settings.max_backoff);
                failures = failures.saturating_add(1);
                warn!(
                    "chat: connection lost ({reason}); reconnecting in {:.1} s",
                    delay.as_secs_f64()
                );
                (reason, delay)
            }
            SessionEnd::AuthFailed(text) => {
                if !auth_reported {
                    error!(
                        "chat: Twitch refused the bot's login ({text}). The token in configs/secrets.yaml \
                         (bot.access_token) is invalid or expired: run `twitch-bot auth` to authorize again."
                    );
                    auth_reported = true;
                }
                let _ = events
                    .send(connection(ConnectionState::Down {
                        reason: format!("login refused: {text}; run `twitch-bot auth`"),
                    }))
                    .await;
                failures = failures.saturating_add(1);
                (format!("login refused: {text}"), settings.max_backoff)
            }
        };
        if !auth_failed {
            let _ = events
                .send(connection(ConnectionState::Reconnecting {
                    reason,
                    retry_in_ms: delay.as_millis().try_into().unwrap_or(u64::MAX),
                }))
                .await;
        }
        let wake = Instant::now() + delay;
        // Keep taking messages while we wait, so nothing asked for during the outage is lost.
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = sleep_until(wake) => break,
                msg = intake.replies.recv() => match msg {
                    Some(msg) => pending.push(msg),
                    None => return,
                },
                Some(w) = intake.warnings.recv() => warnings.push(Instant::now(), w),
            }
        }
    }
    let lane = intake.warnings_dropped.load(Ordering::Relaxed);
    let dropped = lane.saturating_add(warnings.dropped);
    if dropped > 0 {
        info!("chat: {dropped} moderation warnings were dropped during bursts");
    }
}

/// Exponential backoff with full jitter: up to 0.5 s, 1 s, 2 s, ... capped at `max`.
fn backoff(failures: u32, max: Duration) -> Duration {
    let base = Duration::from_millis(500).saturating_mul(1u32 << failures.min(16));
    let cap = base.min(max).max(Duration::from_millis(100));
    let jitter: f64 = rand::random_range(0.5..=1.0);
    cap.mul_f64(jitter)
}

fn connection(state: ConnectionState) -> Event {
    Event::Connection(ConnectionChange {
        service: Service::Chat,
        state,
    })
}

fn format_privmsg(channel: &str, text: &str, reply_to: Option<&str>) -> String {
    match reply_to {
        Some(id) => {
            let id: String = id
                .chars()
                .filter(|c| !matches!(c, ';' | ' ' | '\r' | '\n' | '\\'))
                .collect();
            format!("@reply-parent-msg-id={id} PRIVMSG #{channel} :{text}")
        }
        None => format!("PRIVMSG #{channel} :{text}"),
    }
}

/// What the reading task tells the writing side.
#[derive(Debug)]
enum FromReader {
    /// A protocol line to write now: PONG, JOIN or our own PING.
    Write(String),
    /// The bot is in the channel: messages may go out.
    Joined,
    /// The bot's badges in the channel changed its rate class (USERSTATE).
    Elevated(bool),
    /// The server answered a message sent to this channel.
    Ack(CompactString),
}

/// What the reading task needs from the settings.
struct ReadSettings {
    login: String,
    channel: String,
    ping_interval: Duration,
    ping_timeout: Duration,
}

/// The reading side of one session, in its own task: reads lines, hands events to the queue
/// (waiting while the queue is full, so a flood waits in the socket, not in memory), and tells
/// the writer what to answer. It watches the link too: silence past `ping_interval` asks for a
/// PING, no answer within `ping_timeout` ends the session.
async fn read_session(
    mut reader: LineReader,
    settings: ReadSettings,
    events: EventSender,
    to_writer: mpsc::Sender<FromReader>,
) -> SessionEnd {
    let mut last_rx = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    let mut joined = false;
    let mut incoming: Vec<Incoming> = Vec::with_capacity(256);
    loop {
        let ping_at = match ping_sent {
            Some(sent) => sent + settings.ping_timeout,
            None => last_rx + settings.ping_interval,
        };
        tokio::select! {
            biased;
            read = reader.read_lines(|line| match IrcLine::parse(line) {
                Ok(parsed) => {
                    if tracing::enabled!(tracing::Level::TRACE) {
                        tracing::trace!("chat <- {line}");
                    }
                    incoming.push(interpret(&parsed));
                }
                Err(e) => warn!("chat: {e}"),
            }) => {
                match read {
                    Ok(true) => {}
                    Ok(false) => return SessionEnd::Lost("server closed the connection".into()),
                    Err(e) => return SessionEnd::Lost(format!("read failed: {e}")),
                }
            }
            _ = sleep_until(ping_at) => {
                if ping_sent.is_some() {
                    return SessionEnd::Lost(format!(
                        "no answer to PING within {} s",
                        settings.ping_timeout.as_secs()
                    ));
                }
                if to_writer.send(FromReader::Write("PING :tmi.twitch.tv".into())).await.is_err() {
                    return SessionEnd::Shutdown;
                }
                ping_sent = Some(Instant::now());
                continue;
            }
        }
        last_rx = Instant::now();
        ping_sent = None;
        for msg in incoming.drain(..) {
            let tell = match msg {
                Incoming::Ping(token) => Some(FromReader::Write(format!("PONG :{token}"))),
                Incoming::Pong | Incoming::Ignored => None,
                Incoming::Reconnect => return SessionEnd::Reconnect,
                Incoming::LoginFailed(text) => return SessionEnd::AuthFailed(text),
                Incoming::Welcome => Some(FromReader::Write(format!("JOIN #{}", settings.channel))),
                Incoming::CapAck(caps) => {
                    debug!("chat: capabilities acknowledged: {caps}");
                    None
                }
                Incoming::CapNak(caps) => {
                    warn!("chat: the server refused capabilities: {caps}");
                    None
                }
                Incoming::Event(event) => {
                    let tell = match &event {
                        Event::Membership(m)
                            if m.joined
                                && !joined
                                && m.login.eq_ignore_ascii_case(&settings.login)
                                && m.channel.eq_ignore_ascii_case(&settings.channel) =>
                        {
                            joined = true;
                            info!("chat: joined #{}", settings.channel);
                            if to_writer.send(FromReader::Joined).await.is_err()
                                || events
                                    .send(connection(ConnectionState::Connected))
                                    .await
                                    .is_err()
                            {
                                return SessionEnd::Shutdown;
                            }
                            None
                        }
                        Event::UserState(us)
                            if us
                                .channel
                                .as_deref()
                                .is_some_and(|c| c.eq_ignore_ascii_case(&settings.channel)) =>
                        {
                            let elevated = us.roles.level() >= Permission::Moderator;
                            if to_writer
                                .send(FromReader::Elevated(elevated))
                                .await
                                .is_err()
                            {
                                return SessionEnd::Shutdown;
                            }
                            Some(FromReader::Ack(settings.channel.as_str().into()))
                        }
                        Event::Notice(n) => {
                            info!("chat notice: {}", n.text);
                            n.channel.clone().map(FromReader::Ack)
                        }
                        _ => None,
                    };
                    // The writer hears of an acknowledgement before the queue can hold us up.
                    if let Some(tell) = tell
                        && to_writer.send(tell).await.is_err()
                    {
                        return SessionEnd::Shutdown;
                    }
                    if events.send(event).await.is_err() {
                        return SessionEnd::Shutdown;
                    }
                    None
                }
            };
            if let Some(tell) = tell
                && to_writer.send(tell).await.is_err()
            {
                return SessionEnd::Shutdown;
            }
        }
    }
}

/// When the writer should next try to send: as soon as the rate class allows when a reply waits,
/// when the held warnings are due (and the rate class allows) otherwise. `None`: nothing to send.
fn next_send(
    joined: bool,
    pending: &Pending,
    warnings: &Warnings,
    limiter: &mut RateLimiter,
    now: Instant,
) -> Option<Instant> {
    if !joined {
        return None;
    }
    let due = if pending.lines.is_empty() {
        warnings.due()?
    } else {
        now
    };
    Some(limiter.next_slot(now).map_or(due, |slot| slot.max(due)))
}

/// One connection: logs in, then writes (replies first, warnings when none wait) while a task
/// of its own reads. Reading can wait for the event queue; writing never waits for reading.
#[allow(clippy::too_many_arguments)]
async fn session(
    settings: &ChatSettings,
    events: &EventSender,
    intake: &mut Intake,
    pending: &mut Pending,
    warnings: &mut Warnings,
    limiter: &mut RateLimiter,
    shutdown: &CancellationToken,
    failures: &mut u32,
) -> SessionEnd {
    let io_timeout = settings.ping_timeout.max(Duration::from_secs(1));
    let connect = tokio::select! {
        _ = shutdown.cancelled() => return SessionEnd::Shutdown,
        r = timeout(Duration::from_secs(10), Transport::connect(&settings.url)) => r,
    };
    let (reader, mut writer) = match connect {
        Ok(Ok(conn)) => conn.split(),
        Ok(Err(e)) => return SessionEnd::Lost(format!("connect failed: {e}")),
        Err(_) => return SessionEnd::Lost("connect timed out".into()),
    };
    let token = settings
        .token
        .strip_prefix("oauth:")
        .unwrap_or(&settings.token);
    let login_lines = [
        format!("PASS oauth:{token}"),
        format!("NICK {}", settings.login),
        "CAP REQ :twitch.tv/tags twitch.tv/commands twitch.tv/membership".to_string(),
    ];
    if let Err(e) = timeout(io_timeout, writer.write_lines(&login_lines))
        .await
        .unwrap_or_else(timed_out)
    {
        return SessionEnd::Lost(format!("login write failed: {e}"));
    }
    debug!(login = %settings.login, "chat: login sent");

    let (to_writer, mut from_reader) = mpsc::channel(64);
    let read_settings = ReadSettings {
        login: settings.login.clone(),
        channel: settings.channel.clone(),
        ping_interval: settings.ping_interval,
        ping_timeout: settings.ping_timeout,
    };
    let mut read_task = tokio::spawn(read_session(
        reader,
        read_settings,
        events.clone(),
        to_writer,
    ));

    let mut joined = false;
    let end = loop {
        let send_at = next_send(joined, pending, warnings, limiter, Instant::now());
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break SessionEnd::Shutdown,
            told = from_reader.recv() => match told {
                Some(FromReader::Write(line)) => {
                    if let Err(e) = timeout(io_timeout, writer.write_lines(&[line])).await.unwrap_or_else(timed_out) {
                        break SessionEnd::Lost(format!("write failed: {e}"));
                    }
                }
                Some(FromReader::Joined) => {
                    joined = true;
                    *failures = 0;
                }
                Some(FromReader::Elevated(elevated)) => limiter.set_elevated(elevated),
                Some(FromReader::Ack(channel)) => pending.acknowledged(&channel),
                // The reader is done: its task says why.
                None => break match (&mut read_task).await {
                    Ok(end) => end,
                    Err(e) => SessionEnd::Lost(format!("chat reader failed: {e}")),
                },
            },
            // Ready at once when the slot is open: a fresh timer is never ready on its first
            // poll, and would lose every round to a burst on the intake.
            _ = async {
                if let Some(at) = send_at.filter(|at| *at > Instant::now()) {
                    sleep_until(at).await;
                }
            }, if send_at.is_some() => {
                let now = Instant::now();
                if pending.lines.is_empty() && warnings.due().is_some_and(|due| due <= now) {
                    pending.lines.extend(warnings.take(now));
                }
                let mut batch = Vec::new();
                while batch.len() < 64 && limiter.next_slot(now).is_none() {
                    let Some(line) = pending.lines.pop_front() else { break };
                    debug!("chat -> #{}: {}", line.0, line.1);
                    batch.push(format_privmsg(&line.0, &line.1, line.2.as_deref()));
                    pending.sent(now, line);
                    limiter.record(now);
                }
                if let Err(e) = timeout(io_timeout, writer.write_lines(&batch)).await.unwrap_or_else(timed_out) {
                    break SessionEnd::Lost(format!("write failed: {e}"));
                }
            }
            // Taken after sending, so a burst of replies is written as it comes rather than
            // piling up (and overflowing) while there is room to send.
            msg = intake.replies.recv() => match msg {
                Some(msg) => pending.push(msg),
                None => break SessionEnd::Shutdown,
            },
            Some(w) = intake.warnings.recv() => warnings.push(Instant::now(), w),
        }
    };
    read_task.abort();
    // What the reader learnt before it stopped still counts (an acknowledgement read just
    // before a RECONNECT must not send its message twice).
    while let Ok(told) = from_reader.try_recv() {
        match told {
            FromReader::Elevated(elevated) => limiter.set_elevated(elevated),
            FromReader::Ack(channel) => pending.acknowledged(&channel),
            FromReader::Joined => joined = true,
            FromReader::Write(_) => {}
        }
    }
    if matches!(end, SessionEnd::Shutdown) {
        // Best effort: send what is allowed right now before leaving.
        let now = Instant::now();
        let mut batch = Vec::new();
        while joined && limiter.next_slot(now).is_none() {
            let Some((channel, text, reply_to)) = pending.lines.pop_front() else {
                break;
            };
            batch.push(format_privmsg(&channel, &text, reply_to.as_deref()));
            limiter.record(now);
        }
        let _ = timeout(Duration::from_millis(500), writer.write_lines(&batch)).await;
        let _ = timeout(Duration::from_millis(200), writer.close()).await;
    }
    end
}

fn timed_out<T>(_: tokio::time::error::Elapsed) -> std::io::Result<T> {
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "timed out",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_carry_the_parent_tag() {
        assert_eq!(
            format_privmsg("chan", "hi", Some("abc-123")),
            "@reply-parent-msg-id=abc-123 PRIVMSG #chan :hi"
        );
        assert_eq!(format_privmsg("chan", "hi", None), "PRIVMSG #chan :hi");
        assert_eq!(
            format_privmsg("c", "x", Some("a; b")),
            "@reply-parent-msg-id=ab PRIVMSG #c :x"
        );
    }

    fn warning(user: &str, reason: &str) -> Warning {
        Warning {
            channel: "chan".into(),
            text: format!("{user}, no {reason} please."),
            reason: reason.into(),
            user: user.into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_warning_goes_out_as_is_and_a_burst_as_one_line_per_interval() {
        let mut lane = Warnings::default();
        let t = Instant::now();
        assert_eq!(lane.due(), None);
        lane.push(t, warning("ann", "links"));
        assert_eq!(lane.due(), Some(t + WARN_GATHER));
        let lines = lane.take(t + WARN_GATHER);
        assert_eq!(
            lines,
            vec![("chan".into(), "ann, no links please.".into(), None)]
        );

        // A burst right after: one line, no sooner than an interval after the last.
        let t2 = t + WARN_GATHER + Duration::from_secs(1);
        for i in 0..12 {
            lane.push(t2, warning(&format!("raider{i}"), "links"));
        }
        lane.push(t2, warning("raider0", "links"));
        lane.push(t2, warning("shouter", "caps"));
        assert_eq!(lane.due(), Some(t + WARN_GATHER + WARN_INTERVAL));
        let lines = lane.take(t2);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].1, "13 chatters warned: 12 for links, 1 for caps");
        assert_eq!(lane.due(), None, "the lane is empty afterwards");
    }

    #[test]
    fn one_reason_reads_plainly() {
        let a = warning("a", "links");
        let b = warning("b", "links");
        assert_eq!(summary(&[&a, &b]), "2 chatters warned for links");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let max = Duration::from_secs(60);
        assert!(backoff(0, max) <= Duration::from_millis(500));
        assert!(backoff(3, max) <= Duration::from_secs(4));
        assert!(backoff(3, max) >= Duration::from_secs(2));
        assert!(backoff(30, max) <= max);
        assert!(backoff(30, max) >= max / 2);
    }
}
