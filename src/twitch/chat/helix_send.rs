//! Sending chat over Helix (`POST /chat/messages`): drains an [`OutgoingQueue`] with the same
//! rate classes and 500-character splitting as IRC, through the one Helix [`Gate`] at
//! [`Priority::Chat`]. Up to eight posts (`WINDOW`) are in flight at once, each started only
//! after the one before it has been written to its connection (see its `window` module).
//!
//! The order: posts on separate connections can still reach Twitch in either order (a burst
//! on a loaded machine swaps neighbours at the simulated Twitch), so only replies in different
//! threads are in flight together; each shows under its own message, and their order is not
//! something a viewer reads. A line outside any thread, each part of a split message and a
//! second reply in the same thread goes alone, after everything queued before it was
//! answered: those arrive exactly in the order they were queued. Until Twitch has answered a
//! first message, one post at a time.
//!
//! - Twitch's answer `is_sent: false` with a `drop_reason` (AutoMod held it, emote-only, slow
//!   mode, a blocked term, ...) is logged once with Twitch's reason, reported as a chat
//!   [`Notice`](crate::event::Notice) (as the IRC NOTICE for the same refusal would be), and never retried.
//! - 429 waits in the gate for the bucket's reset; 5xx and network failures are retried with
//!   backoff. A message that must go again is tried before anything new, and no new post
//!   starts until the ones already in flight are answered; those (at most seven) may still
//!   reach chat before it, since they had left already.
//! - A 403 or 404 (or a grant without `user:write:chat`) before any message went through ends
//!   the sender with [`SendEnd::Refused`], handing the queue back with every unsent message
//!   in its order (none sent twice, none lost), so the caller can fall back to IRC.
//! - The token: an app access token (client credentials, see [`AppToken`]) when a client
//!   secret is configured and the grants allow it, which shows the Chat Bot badge; the bot's
//!   user token otherwise. Which one, and why, is logged once.
//!
//! [`Gate`]: crate::twitch::gate::Gate

mod answer;
mod window;

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::answer::{Outcome, Verdict};
use self::window::{Post, Stop, WINDOW, Window, Woke};
use super::outgoing::{Outgoing, OutgoingQueue};
use crate::queue::EventSender;
use crate::twitch::app_token::AppToken;
use crate::twitch::auth::Account;
use crate::twitch::gate::{Priority, TokenKind};
use crate::twitch::helix::Helix;

/// The scope the bot's grant needs to send chat over Helix at all.
pub const SEND_SCOPE: &str = "user:write:chat";
/// The scope the bot's grant needs for sending with an app access token (the Chat Bot badge).
pub const BOT_BADGE_SCOPE: &str = "user:bot";
/// The scope the broadcaster's grant needs for the app-token path, unless the bot is a
/// moderator there.
pub const CHANNEL_BADGE_SCOPE: &str = "channel:bot";

/// Longest wait between two attempts at a message while Twitch's API fails.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);
/// First wait after a failure; doubles with each.
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(500);
/// How long sending goes on at shutdown for what the rate class allows.
const SHUTDOWN_FLUSH: Duration = Duration::from_millis(500);

/// Where the Helix sender posts.
#[derive(Debug, Clone)]
pub struct HelixSendSettings {
    /// The channel's login, without `#`: every message goes to this channel's room (the bot
    /// chats in one channel).
    pub channel: String,
    /// The channel's user id (`broadcaster_id`), e.g. from [`Helix::ids`].
    pub broadcaster_id: String,
    /// The bot account's user id (`sender_id`), e.g. from [`Helix::ids`].
    pub sender_id: String,
}

/// Why the Helix sender stopped; both hand the queue back with what was not sent.
#[derive(Debug)]
pub enum SendEnd {
    /// Shutdown (or the caller's stop) or every handle gone.
    Stopped {
        /// The queue, with every message not yet sent.
        queue: OutgoingQueue,
    },
    /// Twitch refused the first message (403 or 404) or the grant cannot send over Helix:
    /// send over IRC instead.
    Refused {
        /// The queue, with the refused message back at its front.
        queue: OutgoingQueue,
        /// What Twitch said, for the log and the console.
        reason: String,
    },
}

/// The token messages are sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendToken {
    /// An app access token from the client-credentials grant: the Chat Bot badge shows.
    App,
    /// The bot account's user token.
    User,
}

/// Decides which token to send with, and says why in words for the log. `bot_scopes` and
/// `broadcaster_scopes` are what the grants hold; `bot_is_broadcaster` waives `channel:bot`.
/// When the broadcaster has not granted `channel:bot`, the app token is still tried (Twitch
/// accepts it when the bot is a moderator), and the sender goes back to the user token if
/// Twitch refuses it.
pub fn choose_token(
    has_secret: bool,
    bot_scopes: &[String],
    broadcaster_scopes: &[String],
    bot_is_broadcaster: bool,
) -> (SendToken, String) {
    let holds = |scopes: &[String], s: &str| scopes.iter().any(|h| h == s);
    if !has_secret {
        return (
            SendToken::User,
            "secrets.yaml has no client_secret, so no app access token (the Chat Bot badge \
             needs a Confidential application's secret)"
                .into(),
        );
    }
    if !holds(bot_scopes, BOT_BADGE_SCOPE) {
        return (
            SendToken::User,
            format!(
                "the bot account's grant lacks `{BOT_BADGE_SCOPE}` (run `twitch-bot auth` for \
                 the Chat Bot badge)"
            ),
        );
    }
    if bot_is_broadcaster || holds(broadcaster_scopes, CHANNEL_BADGE_SCOPE) {
        return (
            SendToken::App,
            format!(
                "a client secret is configured, the bot's grant has `{BOT_BADGE_SCOPE}` and the \
                 broadcaster's `{CHANNEL_BADGE_SCOPE}`: the Chat Bot badge shows"
            ),
        );
    }
    (
        SendToken::App,
        format!(
            "a client secret is configured and the bot's grant has `{BOT_BADGE_SCOPE}`; the \
             broadcaster's lacks `{CHANNEL_BADGE_SCOPE}`, which Twitch waives while the bot is \
             a moderator (if Twitch refuses, the bot's user token takes over)"
        ),
    )
}

/// Starts sending `queue` over Helix. The task ends when `shutdown` is cancelled or every
/// handle is gone ([`SendEnd::Stopped`]), or when Twitch refuses the first message
/// ([`SendEnd::Refused`]); either way the queue comes back with what was not sent.
pub fn spawn(
    settings: HelixSendSettings,
    queue: OutgoingQueue,
    helix: Helix,
    events: EventSender,
    shutdown: CancellationToken,
) -> JoinHandle<SendEnd> {
    tokio::spawn(run(settings, queue, helix, events, shutdown))
}

async fn run(
    settings: HelixSendSettings,
    mut queue: OutgoingQueue,
    helix: Helix,
    events: EventSender,
    shutdown: CancellationToken,
) -> SendEnd {
    let mut sender = match Sender::new(settings, helix.clone(), events).await {
        Ok(sender) => sender,
        Err(reason) => return SendEnd::Refused { queue, reason },
    };
    let mut window = Window::new();
    let mut state = State::default();
    let mut stop = Stop::Shutdown(&shutdown);
    let mut flushing = false;
    loop {
        let now = Instant::now();
        if state.hold && state.flying.is_empty() {
            state.hold = false;
        }
        if state.resume_at.is_some_and(|at| at <= now) {
            state.resume_at = None;
        }
        if state.refused.is_some() && state.flying.is_empty() {
            break;
        }
        if state.may_start() {
            // A message going again (or waiting for its turn) before anything new; while
            // flushing at shutdown, only what the rate class allows right now.
            if state.again.is_empty()
                && flushing
                && let Some(line) = queue.take(now, 1).pop()
            {
                let flight = state.flight(line);
                state.go_again(flight);
            }
            if let Some(flight) = state.again.pop_front() {
                if state.may_start_now(&flight) {
                    if !launch(
                        &mut sender,
                        &helix,
                        &mut window,
                        &mut state,
                        &mut queue,
                        &stop,
                        flight,
                    )
                    .await
                    {
                        if flushing {
                            break;
                        }
                        flushing = true;
                        stop = Stop::Deadline(Instant::now() + SHUTDOWN_FLUSH);
                    }
                    continue;
                }
                state.again.push_front(flight);
            } else if flushing && state.flying.is_empty() {
                break;
            }
        }
        // A new line is taken only when it could start; one that must wait for answers waits
        // at the front of `again`.
        let may_send = !flushing && state.may_start() && state.again.is_empty();
        match window
            .wait(&mut queue, &stop, may_send, state.resume_at)
            .await
        {
            Woke::Answer(reply) => {
                let Some(mut flight) = state.flying.pop_front() else {
                    continue;
                };
                let verdict = window
                    .during(&mut queue, &stop, sender.judge(&mut flight, reply))
                    .await;
                match verdict {
                    Some(verdict) => state.apply(&sender, flight, verdict).await,
                    // Stopped while renewing the token: it goes again (or back to the queue).
                    None => state.go_again(flight),
                }
            }
            Woke::Send => {
                // It starts on the next round if it may, or waits there for its turn.
                if let Some(line) = queue.take(Instant::now(), 1).pop() {
                    let flight = state.flight(line);
                    state.go_again(flight);
                }
            }
            Woke::Resume => {}
            Woke::Stopped | Woke::Idle if flushing => break,
            Woke::Stopped | Woke::Idle => {
                // Shutdown, or every handle gone: send what the rate class allows right now,
                // briefly, and hear the answers to what is in flight; the rest stays queued.
                flushing = true;
                stop = Stop::Deadline(Instant::now() + SHUTDOWN_FLUSH);
            }
        }
    }
    // What was not sent goes back to the front of the queue in its order: messages to go
    // again, a refused one, and (at shutdown) posts still unanswered.
    let mut unsent: Vec<Flight> = state
        .again
        .drain(..)
        .chain(state.flying.drain(..))
        .collect();
    unsent.sort_by_key(|f| f.seq);
    for flight in unsent.into_iter().rev() {
        queue.put_back(flight.line);
    }
    match state.refused {
        Some(reason) => SendEnd::Refused { queue, reason },
        None => SendEnd::Stopped { queue },
    }
}

/// Starts one post: the token, the gate's leave at chat priority, then the request, returning
/// once it is written (so the next cannot overtake it). `false` when `stop` ended first; the
/// message is then kept to go again.
async fn launch<'a>(
    sender: &mut Sender,
    helix: &'a Helix,
    window: &mut Window<'a>,
    state: &mut State,
    queue: &mut OutgoingQueue,
    stop: &Stop<'_>,
    flight: Flight,
) -> bool {
    let token = match window.during(queue, stop, sender.token()).await {
        None => {
            state.go_again(flight);
            return false;
        }
        Some(Ok(token)) => token,
        Some(Err(message)) => {
            let refused = Outcome::Refused {
                status: 401,
                message,
            };
            state.apply(sender, flight, Verdict::Final(refused)).await;
            return true;
        }
    };
    let (token, kind) = token;
    let gate = helix.gate();
    let Some(permit) = window
        .during(queue, stop, gate.acquire(kind, Priority::Chat))
        .await
    else {
        state.go_again(flight);
        return false;
    };
    let request = sender
        .http
        .post(&sender.url)
        .bearer_auth(&token)
        .header("Client-Id", helix.tokens().client_id());
    let body = sender.body(&flight.line);
    let post = Post {
        request,
        permit,
        gate,
        kind,
        token,
        throttle_at_least: crate::backoff::delay(flight.failures, FIRST_RETRY_WAIT, MAX_RETRY_WAIT),
    };
    state.flying.push_back(flight);
    // Stopped before the request was written: it is in flight all the same, and its answer
    // is heard while flushing.
    window.start(post, body, queue, stop).await.is_some()
}

/// One message on its way: its place in the queue's order and what its tries have met.
#[derive(Debug)]
struct Flight {
    seq: u64,
    line: Outgoing,
    failures: u32,
    /// Whether a 401 already got one new token for it.
    renewed: bool,
}

/// The sender's bookkeeping between answers.
#[derive(Debug, Default)]
struct State {
    /// Posts in flight, oldest first (their answers come back in this order).
    flying: VecDeque<Flight>,
    /// Messages to post again (or hand back), in the queue's order.
    again: VecDeque<Flight>,
    /// Whether Twitch has answered a message: until then a refusal means "this path does not
    /// work here", and only one post is in flight.
    answered: bool,
    /// Twitch refused the first message: no more posts; the queue goes back for IRC.
    refused: Option<String>,
    /// A message must go again: nothing new starts until the window is empty, so the later
    /// messages not yet started do not overtake it.
    hold: bool,
    /// After a failure: no post starts before this.
    resume_at: Option<Instant>,
    seq: u64,
}

impl State {
    fn flight(&mut self, line: Outgoing) -> Flight {
        self.seq = self.seq.wrapping_add(1);
        Flight {
            seq: self.seq,
            line,
            failures: 0,
            renewed: false,
        }
    }

    /// Whether anything may start: not refused, nothing to go again still in flight, no
    /// backoff running, room in the window.
    fn may_start(&self) -> bool {
        let cap = if self.answered { WINDOW } else { 1 };
        self.refused.is_none() && !self.hold && self.resume_at.is_none() && self.flying.len() < cap
    }

    /// Whether `flight` may start beside the posts in flight without its order being at stake.
    /// Posts on separate connections can reach Twitch in either order (measured: a burst on
    /// a loaded machine swaps neighbours), so only replies in different threads go together:
    /// each shows under its own message, and no viewer reads one as following the other. A
    /// line outside any thread, the next part of a split message, or a second reply in the
    /// same thread waits until what was queued before it has been answered; while such a line
    /// is in flight, nothing starts beside it.
    fn may_start_now(&self, flight: &Flight) -> bool {
        if self.flying.is_empty() {
            return true;
        }
        let Some(thread) = &flight.line.reply_to else {
            return false;
        };
        self.flying.iter().all(|other| {
            other
                .line
                .reply_to
                .as_ref()
                .is_some_and(|t| t != thread && other.line.channel == flight.line.channel)
        })
    }

    /// Keeps `flight` to go again, in its place by the queue's order.
    fn go_again(&mut self, flight: Flight) {
        let at = self.again.partition_point(|f| f.seq < flight.seq);
        self.again.insert(at, flight);
    }

    async fn apply(&mut self, sender: &Sender, flight: Flight, verdict: Verdict) {
        match verdict {
            Verdict::Final(Outcome::Refused { status, message }) if !self.answered => {
                if self.refused.is_none() {
                    self.refused = Some(format!(
                        "Twitch answered {status} to the first chat message sent over Helix: \
                         {message}"
                    ));
                }
                self.go_again(flight);
            }
            Verdict::Final(outcome) => {
                self.answered |= matches!(outcome, Outcome::Sent { .. } | Outcome::Dropped { .. });
                sender.report(&flight.line, outcome).await;
            }
            Verdict::Again { wait } => {
                self.hold = true;
                if let Some(wait) = wait {
                    let at = Instant::now() + wait;
                    self.resume_at = Some(self.resume_at.map_or(at, |r| r.max(at)));
                }
                self.go_again(flight);
            }
        }
    }
}

struct Sender {
    settings: HelixSendSettings,
    helix: Helix,
    http: reqwest::Client,
    url: String,
    /// Present while messages go with the app access token.
    app: Option<AppToken>,
    events: EventSender,
}

impl Sender {
    /// Chooses the token and logs the choice once; `Err` when the bot's grant cannot send
    /// over Helix at all.
    async fn new(
        settings: HelixSendSettings,
        helix: Helix,
        events: EventSender,
    ) -> Result<Sender, String> {
        let tokens = helix.tokens().clone();
        let secrets = tokens.secrets();
        let bot_scopes = if secrets.bot.scopes.is_empty() {
            // An older secrets.yaml without the scopes: ask Twitch.
            match tokens.validate(Account::Bot).await {
                Ok(v) => v.scopes,
                Err(e) => {
                    debug!("cannot check the bot account's scopes now: {e}");
                    Vec::new()
                }
            }
        } else {
            secrets.bot.scopes.clone()
        };
        if !bot_scopes.is_empty() && !bot_scopes.iter().any(|s| s == SEND_SCOPE) {
            return Err(format!(
                "the bot account's grant lacks `{SEND_SCOPE}`, which sending chat over Helix \
                 needs: run `twitch-bot auth` to grant it"
            ));
        }
        let auth = tokens.auth().clone();
        let (choice, why) = choose_token(
            auth.has_secret(),
            &bot_scopes,
            &secrets.broadcaster.scopes,
            !settings.sender_id.is_empty() && settings.sender_id == settings.broadcaster_id,
        );
        match choice {
            SendToken::App => info!("chat: sending over Helix with an app access token: {why}"),
            SendToken::User => info!("chat: sending over Helix with the bot's user token: {why}"),
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("twitch-bot/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Ok(Sender {
            url: format!("{}/chat/messages", helix.base()),
            settings,
            helix,
            http,
            app: (choice == SendToken::App).then(|| AppToken::new(auth)),
            events,
        })
    }

    /// From now on, the bot's user token.
    fn use_user_token(&mut self, why: &str) {
        if self.app.take().is_some() {
            warn!("chat: {why}; sending with the bot's user token from now on (no Chat Bot badge)");
        }
    }

    /// The token to send with now and the bucket it counts against.
    async fn token(&mut self) -> Result<(String, TokenKind), String> {
        if let Some(app) = &self.app {
            match app.get().await {
                Ok(token) => return Ok((token, TokenKind::App)),
                Err(e) => self.use_user_token(&format!("cannot get an app access token ({e})")),
            }
        }
        let token = self.helix.tokens().access(Account::Bot);
        if token.is_empty() {
            return Err("the bot account has no token: run `twitch-bot auth`".into());
        }
        Ok((token, TokenKind::Bot))
    }

    /// The JSON body of the post for `line`.
    fn body(&self, line: &Outgoing) -> bytes::Bytes {
        let mut body = json!({
            "broadcaster_id": self.settings.broadcaster_id,
            "sender_id": self.settings.sender_id,
            "message": line.text,
        });
        if let (Some(parent), Some(o)) = (&line.reply_to, body.as_object_mut()) {
            o.insert("reply_parent_message_id".into(), json!(parent.as_str()));
        }
        bytes::Bytes::from(body.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn the_app_token_needs_a_secret_and_the_bots_grant() {
        let bot = scopes(&["user:write:chat", "user:bot"]);
        let channel = scopes(&["channel:bot"]);
        assert_eq!(
            choose_token(false, &bot, &channel, false).0,
            SendToken::User
        );
        assert_eq!(
            choose_token(true, &scopes(&["user:write:chat"]), &channel, false).0,
            SendToken::User
        );
        assert_eq!(choose_token(true, &bot, &channel, false).0, SendToken::App);
        let (token, why) = choose_token(true, &bot, &[], false);
        assert_eq!(token, SendToken::App, "tried: the bot may be a moderator");
        assert!(why.contains("channel:bot"), "{why}");
        assert!(
            choose_token(false, &bot, &channel, false)
                .1
                .contains("client_secret")
        );
    }
}
