//! The outgoing chat path: what the bot asks to say, kept until a transport has sent it.
//!
//! [`channel`] makes the two ends. The [`ChatHandle`] is what the rest of the bot holds: it
//! queues replies and script output in one lane and moderation warnings in a low-priority lane
//! of their own. The [`OutgoingQueue`] is the receiving side: it splits text into 500-character
//! messages, keeps them (bounded, oldest dropped first) until a transport takes them within the
//! bot's rate class, gathers a burst of warnings into one summary line, and remembers what was
//! written but not yet acknowledged. It is a value a transport owns while it drains it and
//! hands back when it stops, so a message not yet sent is never lost when chat changes
//! transport or reconnects. Knows nothing of sockets or HTTP.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use compact_str::CompactString;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};
use tracing::{debug, info, warn};

use super::ratelimit::RateLimiter;
use super::split::{MAX_CHARS, split_message};
use crate::config::bot::RateLimit;

/// A message for chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Channel login, without `#`.
    pub channel: CompactString,
    /// The text; longer than [`MAX_CHARS`] it is split before it is sent.
    pub text: String,
    /// Reply in the thread of this message id.
    pub reply_to: Option<CompactString>,
}

/// The chat connection is gone (shutdown) or its intake is full.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Every receiving side is gone: the bot is shutting down.
    #[error("chat is shut down")]
    Closed,
    /// The intake is full; the message was not queued.
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
/// Room in the warning lane's intake.
const WARN_INTAKE: usize = 256;

/// Makes the two ends of the outgoing chat path: the handle the bot sends with, and the queue a
/// transport drains. `capacity` bounds the messages kept while no transport can send (at least
/// 1; the intake holds between 16 and 4,096); `rate_limit` is the floor of the send rate class.
pub fn channel(capacity: usize, rate_limit: RateLimit) -> (ChatHandle, OutgoingQueue) {
    let (tx, replies) = mpsc::channel(capacity.clamp(16, 4_096));
    let (warn_tx, warnings) = mpsc::channel(WARN_INTAKE);
    let (moderator_tx, moderator) = watch::channel(false);
    let warnings_dropped = Arc::new(AtomicU64::new(0));
    let handle = ChatHandle {
        tx,
        warn_tx,
        warnings_dropped: Arc::clone(&warnings_dropped),
        moderator: Arc::new(moderator_tx),
    };
    let queue = OutgoingQueue {
        replies,
        warnings,
        warnings_dropped,
        moderator,
        moderator_open: true,
        pending: Pending {
            lines: VecDeque::new(),
            in_flight: VecDeque::new(),
            server_acks: true,
            capacity: capacity.max(1),
            dropped: 0,
        },
        lane: Warnings::default(),
        limiter: RateLimiter::new(rate_limit),
    };
    (handle, queue)
}

/// A cheap, cloneable handle for sending chat messages. It stays valid whichever transport
/// drains its [`OutgoingQueue`], and across a change of transport.
#[derive(Debug, Clone)]
pub struct ChatHandle {
    tx: mpsc::Sender<Outgoing>,
    warn_tx: mpsc::Sender<Warning>,
    warnings_dropped: Arc<AtomicU64>,
    moderator: Arc<watch::Sender<bool>>,
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

    /// Waits until the intake has room for a message (at once when it has), without taking it.
    pub async fn room(&self) {
        // A permit is a reserved slot; dropping it hands the slot back.
        let _ = self.tx.reserve().await;
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

    /// Says whether the bot is moderator (or broadcaster) in the channel, which raises its send
    /// rate class. For a transport without USERSTATE (EventSub: the bot's badges in its own
    /// messages, `channel.moderator.add` / `.remove`); IRC sets it from USERSTATE itself.
    pub fn set_moderator(&self, moderator: bool) {
        self.moderator.send_replace(moderator);
    }
}

/// What [`OutgoingQueue::ready`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// A line may be sent now: call [`OutgoingQueue::take`].
    Send,
    /// Every [`ChatHandle`] is gone: the bot is shutting down.
    Closed,
}

/// The receiving side of the outgoing chat path (see the module header). Owned by one
/// transport at a time; moving it to another keeps every message not yet sent.
#[derive(Debug)]
pub struct OutgoingQueue {
    replies: mpsc::Receiver<Outgoing>,
    warnings: mpsc::Receiver<Warning>,
    warnings_dropped: Arc<AtomicU64>,
    moderator: watch::Receiver<bool>,
    /// Whether a [`ChatHandle`] can still change the moderator flag.
    moderator_open: bool,
    pending: Pending,
    lane: Warnings,
    limiter: RateLimiter,
}

impl OutgoingQueue {
    /// Takes what the handles send until a line may go out: at once when a reply waits and the
    /// rate class allows, when held warnings are due otherwise. With `may_send` false (not
    /// joined, reconnecting) it only takes messages in, until the handles are gone.
    ///
    /// Cancel-safe: a message taken in is kept when the future is dropped, so a transport can
    /// wait on this beside its own work in a `select!`.
    pub async fn ready(&mut self, may_send: bool) -> Ready {
        loop {
            let send_at = if may_send {
                self.next_send(Instant::now())
            } else {
                None
            };
            tokio::select! {
                biased;
                // Ready at once when the slot is open: a fresh timer is never ready on its
                // first poll, and would lose every round to a burst on the intake.
                () = async {
                    if let Some(at) = send_at.filter(|at| *at > Instant::now()) {
                        sleep_until(at).await;
                    }
                }, if send_at.is_some() => return Ready::Send,
                // Taken after sending, so a burst of replies is written as it comes rather
                // than piling up (and overflowing) while there is room to send.
                msg = self.replies.recv() => match msg {
                    Some(msg) => self.push(msg),
                    None => return Ready::Closed,
                },
                Some(w) = self.warnings.recv() => self.lane.push(Instant::now(), w),
                changed = self.moderator.changed(), if self.moderator_open => match changed {
                    Ok(()) => {
                        let moderator = *self.moderator.borrow_and_update();
                        self.limiter.set_elevated(moderator);
                    }
                    Err(_) => self.moderator_open = false,
                },
            }
        }
    }

    /// Queues `msg` directly (split at [`MAX_CHARS`]), as a handle would.
    pub fn push(&mut self, msg: Outgoing) {
        self.pending.push(msg);
    }

    /// When the next line may go out: as soon as the rate class allows when a reply waits,
    /// when the held warnings are due (and the rate class allows) otherwise. `None`: nothing
    /// to send.
    pub fn next_send(&mut self, now: Instant) -> Option<Instant> {
        let due = if self.pending.lines.is_empty() {
            self.lane.due()?
        } else {
            now
        };
        Some(
            self.limiter
                .next_slot(now)
                .map_or(due, |slot| slot.max(due)),
        )
    }

    /// Up to `max` lines the rate class allows at `now`, oldest first, each counted as sent
    /// in the rate window (held warnings join as one line when due and no reply waits).
    pub fn take(&mut self, now: Instant, max: usize) -> Vec<Outgoing> {
        if self.pending.lines.is_empty() && self.lane.due().is_some_and(|due| due <= now) {
            let lines = self.lane.take(now);
            self.pending.lines.extend(lines);
        }
        let mut batch = Vec::new();
        while batch.len() < max && self.limiter.next_slot(now).is_none() {
            let Some(line) = self.pending.lines.pop_front() else {
                break;
            };
            self.limiter.record(now);
            batch.push(line);
        }
        batch
    }

    /// Puts a line taken with [`OutgoingQueue::take`] back at the front: it was not sent.
    pub fn put_back(&mut self, line: Outgoing) {
        self.pending.lines.push_front(line);
    }

    /// Records a line written to a transport that acknowledges each message (IRC answers every
    /// PRIVMSG with USERSTATE or a NOTICE): it stays in flight until
    /// [`OutgoingQueue::acknowledged`], and goes out again after
    /// [`OutgoingQueue::requeue_in_flight`]. A server that never acknowledges (seen after
    /// [`ACK_WAIT`]) switches this off, so nothing is sent twice there.
    pub fn sent(&mut self, now: Instant, line: Outgoing) {
        self.pending.sent(now, line);
    }

    /// The server answered the oldest message in flight to `channel`.
    pub fn acknowledged(&mut self, channel: &str) {
        self.pending.acknowledged(channel);
    }

    /// The session ended: what was not acknowledged goes out again first.
    pub fn requeue_in_flight(&mut self) {
        self.pending.requeue_in_flight();
    }

    /// Sets whether the bot is moderator or broadcaster in the channel (IRC: from USERSTATE).
    pub fn set_moderator(&mut self, moderator: bool) {
        self.limiter.set_elevated(moderator);
    }

    /// The send rate class in force now.
    pub fn rate_class(&self) -> RateLimit {
        self.limiter.class()
    }

    /// Lines waiting to be sent (not counting held warnings or lines in flight).
    pub fn waiting(&self) -> usize {
        self.pending.lines.len()
    }

    /// The lines waiting to be sent, oldest first.
    pub fn waiting_lines(&self) -> impl Iterator<Item = &Outgoing> {
        self.pending.lines.iter()
    }

    /// Logs, once at the end, how many moderation warnings bursts cost.
    pub fn report_dropped_warnings(&self) {
        let lane = self.warnings_dropped.load(Ordering::Relaxed);
        let dropped = lane.saturating_add(self.lane.dropped);
        if dropped > 0 {
            info!("chat: {dropped} moderation warnings were dropped during bursts");
        }
    }
}

/// How long a sent message waits for the server's acknowledgement before we conclude the server
/// does not acknowledge messages at all.
pub const ACK_WAIT: Duration = Duration::from_secs(10);

/// Messages waiting to be sent, bounded: the oldest goes when it is full.
///
/// Twitch answers every PRIVMSG with a USERSTATE (or a NOTICE when it refuses the message). A
/// message written just before the link dies is lost in the kernel's buffers, so sent messages
/// stay "in flight" until that answer arrives, and go back to the front of the queue when the
/// session ends first.
#[derive(Debug)]
struct Pending {
    lines: VecDeque<Outgoing>,
    in_flight: VecDeque<(Instant, Outgoing)>,
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
            self.lines.push_back(Outgoing {
                channel: msg.channel.clone(),
                text: piece,
                reply_to: msg.reply_to.clone(),
            });
        }
    }

    fn sent(&mut self, now: Instant, line: Outgoing) {
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

    fn acknowledged(&mut self, channel: &str) {
        if self
            .in_flight
            .front()
            .is_some_and(|(_, l)| l.channel.eq_ignore_ascii_case(channel))
        {
            self.in_flight.pop_front();
        }
    }

    fn requeue_in_flight(&mut self) {
        while let Some((_, line)) = self.in_flight.pop_back() {
            self.lines.push_front(line);
        }
    }
}

/// The warning lane: warnings held until no reply waits, then sent one line per channel at most
/// every [`WARN_INTERVAL`]: the warning itself when it is alone, a summary when there are more.
#[derive(Debug, Default)]
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
    fn take(&mut self, now: Instant) -> Vec<Outgoing> {
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
                Some(Outgoing {
                    channel: channel.clone(),
                    text,
                    reply_to: None,
                })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn warning(user: &str, reason: &str) -> Warning {
        Warning {
            channel: "chan".into(),
            text: format!("{user}, no {reason} please."),
            reason: reason.into(),
            user: user.into(),
        }
    }

    fn say(text: &str) -> Outgoing {
        Outgoing {
            channel: "chan".into(),
            text: text.into(),
            reply_to: None,
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
        assert_eq!(lines, vec![say("ann, no links please.")]);

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
        assert_eq!(
            lines[0].text,
            "13 chatters warned: 12 for links, 1 for caps"
        );
        assert_eq!(lane.due(), None, "the lane is empty afterwards");
    }

    #[test]
    fn one_reason_reads_plainly() {
        let a = warning("a", "links");
        let b = warning("b", "links");
        assert_eq!(summary(&[&a, &b]), "2 chatters warned for links");
    }

    #[tokio::test(start_paused = true)]
    async fn the_queue_splits_limits_and_keeps_what_was_not_sent() {
        let (handle, mut queue) = channel(100, RateLimit::Normal);
        let long = "word ".repeat(150);
        handle.send(say(&long)).unwrap();
        for i in 0..25 {
            handle.send(say(&format!("line {i}"))).unwrap();
        }
        // Not allowed to send yet (a transport not joined): the queue only takes messages in.
        let _ = tokio::time::timeout(Duration::from_millis(1), queue.ready(false)).await;
        assert_eq!(queue.waiting(), 27);
        assert_eq!(queue.ready(true).await, Ready::Send);
        // The long text became two messages of at most 500 characters.
        let now = Instant::now();
        let first = queue.take(now, 2);
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|l| l.text.chars().count() <= MAX_CHARS));
        assert_eq!(
            first[0].text.len() + first[1].text.len() + 1,
            long.trim().len()
        );
        // Twenty per 30 s in the normal class: eighteen more now, the rest a window later.
        assert_eq!(queue.take(now, 64).len(), 18);
        assert_eq!(
            queue.next_send(now),
            Some(now + crate::twitch::chat::ratelimit::WINDOW)
        );
        assert_eq!(queue.waiting(), 7, "the rest waits for the window");
        let next: Vec<&str> = queue.waiting_lines().map(|l| l.text.as_str()).collect();
        assert_eq!(next[0], "line 18");
        // A moderator's class lets the rest go at once.
        handle.set_moderator(true);
        let _ = tokio::time::timeout(Duration::from_millis(1), queue.ready(false)).await;
        assert_eq!(queue.rate_class(), RateLimit::Moderator);
        assert_eq!(queue.take(Instant::now(), 64).len(), 7);
        drop(handle);
        assert_eq!(queue.ready(true).await, Ready::Closed);
    }
}
