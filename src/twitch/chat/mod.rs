//! The chat connection over IRC: logs in (TCP, TLS or WebSocket), joins the channel, turns every
//! line into an [`Event`] on the queue, answers PINGs, detects dead links with its own PING,
//! reconnects with exponential backoff and jitter, and writes the bot's messages as its
//! [`OutgoingQueue`] lets them go (the outgoing path itself, rate classes, splitting and the
//! warning lane, is [`outgoing`]; sending over Helix instead is [`helix_send`]).
//!
//! Owns the socket; knows nothing of commands, scripts or storage.

pub mod helix_send;
pub mod outgoing;
pub mod ratelimit;
pub mod split;
pub mod transport;

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
pub use outgoing::{
    ChatHandle, Outgoing, OutgoingQueue, Ready, SendError, WARN_GATHER, WARN_INTERVAL, Warning,
};
pub use transport::{BadChatUrl, ChatUrl};
use transport::{LineReader, Transport};

/// Everything the chat connection needs to know.
#[derive(Clone)]
pub struct ChatSettings {
    /// Where to connect (`chat_url`).
    pub url: ChatUrl,
    /// The bot account's login.
    pub login: String,
    /// The bot account's user access token (with or without the `oauth:` prefix). Never logged.
    pub token: String,
    /// The channel to join, without `#`.
    pub channel: String,
    /// The floor of the send rate class (for the queue [`start`] makes).
    pub rate_limit: RateLimit,
    /// Silence after which we send our own PING.
    pub ping_interval: Duration,
    /// How long we wait for any answer to that PING before reconnecting.
    pub ping_timeout: Duration,
    /// Outgoing messages kept while disconnected or rate limited (for the queue [`start`]
    /// makes).
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

/// Starts chat over IRC with a new outgoing queue: the handle the bot sends with, and the
/// connection's task, which runs until `shutdown` is cancelled.
pub fn start(
    settings: ChatSettings,
    events: EventSender,
    shutdown: CancellationToken,
) -> (ChatHandle, JoinHandle<()>) {
    let (handle, queue) = outgoing::channel(settings.outgoing_capacity, settings.rate_limit);
    (handle, spawn(settings, queue, events, shutdown))
}

/// Starts the IRC connection task draining `queue`. It runs until `shutdown` is cancelled or
/// every handle of the queue is gone.
pub fn spawn(
    settings: ChatSettings,
    queue: OutgoingQueue,
    events: EventSender,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(run(settings, events, queue, shutdown))
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

async fn run(
    settings: ChatSettings,
    events: EventSender,
    mut queue: OutgoingQueue,
    shutdown: CancellationToken,
) {
    let mut failures: u32 = 0;
    let mut auth_reported = false;
    loop {
        let end = session(&settings, &events, &mut queue, &shutdown, &mut failures).await;
        queue.requeue_in_flight();
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
        let closed = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = sleep_until(wake) => false,
            ready = queue.ready(false) => ready == Ready::Closed,
        };
        if closed {
            return;
        }
    }
    queue.report_dropped_warnings();
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

/// One connection: logs in, then writes (replies first, warnings when none wait) while a task
/// of its own reads. Reading can wait for the event queue; writing never waits for reading.
async fn session(
    settings: &ChatSettings,
    events: &EventSender,
    queue: &mut OutgoingQueue,
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
                Some(FromReader::Elevated(elevated)) => queue.set_moderator(elevated),
                Some(FromReader::Ack(channel)) => queue.acknowledged(&channel),
                // The reader is done: its task says why.
                None => break match (&mut read_task).await {
                    Ok(end) => end,
                    Err(e) => SessionEnd::Lost(format!("chat reader failed: {e}")),
                },
            },
            // Replies first, warnings when none wait, as the rate class allows.
            ready = queue.ready(joined) => {
                if ready == Ready::Closed {
                    break SessionEnd::Shutdown;
                }
                let now = Instant::now();
                let lines = queue.take(now, 64);
                let mut batch = Vec::with_capacity(lines.len());
                for line in lines {
                    debug!("chat -> #{}: {}", line.channel, line.text);
                    batch.push(format_privmsg(&line.channel, &line.text, line.reply_to.as_deref()));
                    queue.sent(now, line);
                }
                if let Err(e) = timeout(io_timeout, writer.write_lines(&batch)).await.unwrap_or_else(timed_out) {
                    break SessionEnd::Lost(format!("write failed: {e}"));
                }
            }
        }
    };
    read_task.abort();
    // What the reader learnt before it stopped still counts (an acknowledgement read just
    // before a RECONNECT must not send its message twice).
    while let Ok(told) = from_reader.try_recv() {
        match told {
            FromReader::Elevated(elevated) => queue.set_moderator(elevated),
            FromReader::Ack(channel) => queue.acknowledged(&channel),
            FromReader::Joined => joined = true,
            FromReader::Write(_) => {}
        }
    }
    if matches!(end, SessionEnd::Shutdown) {
        // Best effort: send what is allowed right now before leaving.
        let batch: Vec<String> = if joined {
            queue
                .take(Instant::now(), usize::MAX)
                .iter()
                .map(|l| format_privmsg(&l.channel, &l.text, l.reply_to.as_deref()))
                .collect()
        } else {
            Vec::new()
        };
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
