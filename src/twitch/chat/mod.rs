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
use transport::Transport;
pub use transport::{BadChatUrl, ChatUrl};

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

/// A cheap, cloneable handle for sending chat messages.
#[derive(Debug, Clone)]
pub struct ChatHandle {
    tx: mpsc::Sender<Outgoing>,
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
}

/// Starts the chat connection task. It runs until `shutdown` is cancelled.
pub fn spawn(
    settings: ChatSettings,
    events: EventSender,
    shutdown: CancellationToken,
) -> (ChatHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(settings.outgoing_capacity.clamp(16, 4_096));
    let task = tokio::spawn(run(settings, events, rx, shutdown));
    (ChatHandle { tx }, task)
}

/// Why a session ended.
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

async fn run(
    settings: ChatSettings,
    events: EventSender,
    mut out_rx: mpsc::Receiver<Outgoing>,
    shutdown: CancellationToken,
) {
    let mut pending = Pending {
        lines: VecDeque::new(),
        in_flight: VecDeque::new(),
        server_acks: true,
        capacity: settings.outgoing_capacity.max(1),
        dropped: 0,
    };
    let mut limiter = RateLimiter::new(settings.rate_limit);
    let mut failures: u32 = 0;
    let mut auth_reported = false;
    loop {
        let end = session(
            &settings,
            &events,
            &mut out_rx,
            &mut pending,
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
                msg = out_rx.recv() => match msg {
                    Some(msg) => pending.push(msg),
                    None => return,
                },
            }
        }
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

async fn session(
    settings: &ChatSettings,
    events: &EventSender,
    out_rx: &mut mpsc::Receiver<Outgoing>,
    pending: &mut Pending,
    limiter: &mut RateLimiter,
    shutdown: &CancellationToken,
    failures: &mut u32,
) -> SessionEnd {
    let io_timeout = settings.ping_timeout.max(Duration::from_secs(1));
    let connect = tokio::select! {
        _ = shutdown.cancelled() => return SessionEnd::Shutdown,
        r = timeout(Duration::from_secs(10), Transport::connect(&settings.url)) => r,
    };
    let mut conn = match connect {
        Ok(Ok(conn)) => conn,
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
    if let Err(e) = timeout(io_timeout, conn.write_lines(&login_lines))
        .await
        .unwrap_or_else(timed_out)
    {
        return SessionEnd::Lost(format!("login write failed: {e}"));
    }
    debug!(login = %settings.login, "chat: login sent");

    let mut joined = false;
    let mut last_rx = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    let mut incoming: Vec<Incoming> = Vec::with_capacity(256);

    let end = loop {
        let ping_at = match ping_sent {
            Some(sent) => sent + settings.ping_timeout,
            None => last_rx + settings.ping_interval,
        };
        let send_at = if joined && !pending.lines.is_empty() {
            limiter.next_slot(Instant::now())
        } else {
            None
        };
        let can_send = joined && !pending.lines.is_empty();

        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break SessionEnd::Shutdown,
            read = conn.read_lines(|line| match IrcLine::parse(line) {
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
                    Ok(false) => break SessionEnd::Lost("server closed the connection".into()),
                    Err(e) => break SessionEnd::Lost(format!("read failed: {e}")),
                }
                last_rx = Instant::now();
                ping_sent = None;
                for msg in incoming.drain(..) {
                    match msg {
                        Incoming::Ping(token) => {
                            let pong = [format!("PONG :{token}")];
                            if let Err(e) = timeout(io_timeout, conn.write_lines(&pong)).await.unwrap_or_else(timed_out) {
                                return SessionEnd::Lost(format!("write failed: {e}"));
                            }
                        }
                        Incoming::Pong | Incoming::Ignored => {}
                        Incoming::Reconnect => return SessionEnd::Reconnect,
                        Incoming::LoginFailed(text) => return SessionEnd::AuthFailed(text),
                        Incoming::Welcome => {
                            let join = [format!("JOIN #{}", settings.channel)];
                            if let Err(e) = timeout(io_timeout, conn.write_lines(&join)).await.unwrap_or_else(timed_out) {
                                return SessionEnd::Lost(format!("write failed: {e}"));
                            }
                        }
                        Incoming::CapAck(caps) => debug!("chat: capabilities acknowledged: {caps}"),
                        Incoming::CapNak(caps) => warn!("chat: the server refused capabilities: {caps}"),
                        Incoming::Event(event) => {
                            match &event {
                                Event::Membership(m) if m.joined && m.login.eq_ignore_ascii_case(&settings.login)
                                    && m.channel.eq_ignore_ascii_case(&settings.channel) && !joined => {
                                    joined = true;
                                    *failures = 0;
                                    info!("chat: joined #{}", settings.channel);
                                    if events.send(connection(ConnectionState::Connected)).await.is_err() {
                                        return SessionEnd::Shutdown;
                                    }
                                }
                                Event::UserState(us) if us.channel.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(&settings.channel)) => {
                                    limiter.set_elevated(us.roles.level() >= Permission::Moderator);
                                    pending.acknowledged(&settings.channel);
                                }
                                Event::Notice(n) => {
                                    info!("chat notice: {}", n.text);
                                    if let Some(channel) = &n.channel {
                                        pending.acknowledged(channel);
                                    }
                                }
                                _ => {}
                            }
                            if events.send(event).await.is_err() {
                                return SessionEnd::Shutdown;
                            }
                        }
                    }
                }
            }
            msg = out_rx.recv() => match msg {
                Some(msg) => pending.push(msg),
                None => break SessionEnd::Shutdown,
            },
            _ = async { if let Some(at) = send_at { sleep_until(at).await } }, if can_send => {
                let mut batch = Vec::new();
                let now = Instant::now();
                while batch.len() < 64 && limiter.next_slot(now).is_none() {
                    let Some(line) = pending.lines.pop_front() else { break };
                    debug!("chat -> #{}: {}", line.0, line.1);
                    batch.push(format_privmsg(&line.0, &line.1, line.2.as_deref()));
                    pending.sent(now, line);
                    limiter.record(now);
                }
                if let Err(e) = timeout(io_timeout, conn.write_lines(&batch)).await.unwrap_or_else(timed_out) {
                    return SessionEnd::Lost(format!("write failed: {e}"));
                }
            }
            _ = sleep_until(ping_at) => {
                if ping_sent.is_some() {
                    break SessionEnd::Lost(format!("no answer to PING within {} s", settings.ping_timeout.as_secs()));
                }
                if let Err(e) = timeout(io_timeout, conn.write_lines(&["PING :tmi.twitch.tv"])).await.unwrap_or_else(timed_out) {
                    return SessionEnd::Lost(format!("write failed: {e}"));
                }
                ping_sent = Some(Instant::now());
            }
        }
    };
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
        let _ = timeout(Duration::from_millis(500), conn.write_lines(&batch)).await;
        let _ = timeout(Duration::from_millis(200), conn.close()).await;
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
