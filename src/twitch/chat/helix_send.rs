//! Sending chat over Helix (`POST /chat/messages`): drains an [`OutgoingQueue`] with the same
//! rate classes and 500-character splitting as IRC, through the one Helix [`Gate`] at
//! [`Priority::Chat`], one message at a time so the order holds.
//!
//! - Twitch's answer `is_sent: false` with a `drop_reason` (AutoMod held it, emote-only, slow
//!   mode, a blocked term, ...) is logged once with Twitch's reason, reported as a chat
//!   [`Notice`] (as the IRC NOTICE for the same refusal would be), and never retried.
//! - 429 waits in the gate for the bucket's reset; 5xx and network failures are retried with
//!   backoff, the message kept at the front of the queue meanwhile.
//! - A 403 or 404 (or a grant without `user:write:chat`) before any message went through ends
//!   the sender with [`SendEnd::Refused`], handing the queue back with every unsent message,
//!   so the caller can fall back to IRC.
//! - The token: an app access token (client credentials, see [`AppToken`]) when a client
//!   secret is configured and the grants allow it, which shows the Chat Bot badge; the bot's
//!   user token otherwise. Which one, and why, is logged once.
//!
//! [`Gate`]: crate::twitch::gate::Gate

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::outgoing::{Outgoing, OutgoingQueue, Ready};
use crate::event::{Event, Notice};
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
    let mut sender = match Sender::new(settings, helix, events).await {
        Ok(sender) => sender,
        Err(reason) => return SendEnd::Refused { queue, reason },
    };
    // Until Twitch has answered one message, a refusal means "this path does not work here".
    let mut answered = false;
    loop {
        let ready = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            ready = queue.ready(true) => ready,
        };
        if ready == Ready::Closed {
            return SendEnd::Stopped { queue };
        }
        let Some(line) = queue.take(Instant::now(), 1).pop() else {
            continue;
        };
        let step = {
            let post = sender.post(&line);
            tokio::pin!(post);
            let mut intake_open = true;
            loop {
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break None,
                    outcome = &mut post => break Some(outcome),
                    // While Twitch answers, replies keep being taken in: a burst waits in the
                    // queue (bounded, oldest dropped) instead of overflowing the handles' intake.
                    ready = queue.ready(false), if intake_open => {
                        intake_open = ready != Ready::Closed;
                    }
                }
            }
        };
        let Some(outcome) = step else {
            queue.put_back(line);
            break;
        };
        match outcome {
            Outcome::Refused { status, message } if !answered => {
                queue.put_back(line);
                return SendEnd::Refused {
                    queue,
                    reason: format!(
                        "Twitch answered {status} to the first chat message sent over Helix: \
                         {message}"
                    ),
                };
            }
            other => {
                answered |= matches!(other, Outcome::Sent { .. } | Outcome::Dropped { .. });
                sender.report(&line, other).await;
            }
        }
    }
    // Shutdown: send what the rate class allows right now, briefly; the rest stays queued.
    let deadline = Instant::now() + SHUTDOWN_FLUSH;
    while let Some(line) = queue.take(Instant::now(), 1).pop() {
        match timeout_at(deadline, sender.post(&line)).await {
            Ok(outcome) => sender.report(&line, outcome).await,
            Err(_) => {
                queue.put_back(line);
                break;
            }
        }
    }
    SendEnd::Stopped { queue }
}

/// What Twitch made of one message.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// In chat, with this id.
    Sent { message_id: String },
    /// Answered, not sent (`is_sent: false`): Twitch's code and words.
    Dropped { code: String, message: String },
    /// 401 (a grant without the scope, or no longer valid), 403 or 404: the bot may not send
    /// there this way.
    Refused { status: u16, message: String },
    /// Any other refusal of this one message (400, 422, ...).
    Rejected { status: u16, message: String },
}

/// Twitch's answer to `POST /chat/messages`.
#[derive(Debug, Deserialize)]
struct Answer {
    data: Vec<Sent>,
}

#[derive(Debug, Deserialize)]
struct Sent {
    #[serde(default)]
    message_id: String,
    is_sent: bool,
    #[serde(default)]
    drop_reason: Option<DropReason>,
}

#[derive(Debug, Deserialize)]
struct DropReason {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
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

    /// Sends one message, retrying 429 (through the gate), 5xx and network failures until
    /// Twitch answers it; a 401 is answered by one new token.
    async fn post(&mut self, line: &Outgoing) -> Outcome {
        let mut body = json!({
            "broadcaster_id": self.settings.broadcaster_id,
            "sender_id": self.settings.sender_id,
            "message": line.text,
        });
        if let (Some(parent), Some(o)) = (&line.reply_to, body.as_object_mut()) {
            o.insert("reply_parent_message_id".into(), json!(parent.as_str()));
        }
        let mut failures = 0u32;
        let mut renewed = false;
        loop {
            let (token, kind) = match self.token().await {
                Ok(t) => t,
                Err(message) => {
                    return Outcome::Refused {
                        status: 401,
                        message,
                    };
                }
            };
            let gate = self.helix.gate();
            let permit = gate.acquire(kind, Priority::Chat).await;
            let sent = self
                .http
                .post(&self.url)
                .bearer_auth(&token)
                .header("Client-Id", self.helix.tokens().client_id())
                .json(&body)
                .send()
                .await;
            let resp = match sent {
                Ok(resp) => resp,
                Err(e) => {
                    drop(permit);
                    self.wait_after_failure(&mut failures, &format!("cannot reach Twitch ({e})"))
                        .await;
                    continue;
                }
            };
            let status = resp.status();
            let (limit, remaining, reset) = rate_headers(resp.headers());
            gate.note(kind, limit, remaining, reset);
            drop(permit);
            let text = resp.text().await.unwrap_or_default();
            if status.is_success() {
                return read_answer(&text);
            }
            let message = error_message(&text);
            match status {
                StatusCode::TOO_MANY_REQUESTS => {
                    // The bucket is empty until its reset: the gate holds this call (and every
                    // other on the token) until then.
                    let at_least =
                        crate::backoff::delay(failures, FIRST_RETRY_WAIT, MAX_RETRY_WAIT);
                    failures = failures.saturating_add(1);
                    gate.throttled(kind, reset, at_least);
                    warn!("chat: Helix rate limit hit; the message waits for the reset");
                }
                s if s.is_server_error() => {
                    self.wait_after_failure(&mut failures, &format!("Twitch answered {s}"))
                        .await;
                }
                StatusCode::UNAUTHORIZED => {
                    let missing = message.strip_prefix("Missing scope: ").map(str::trim);
                    if self.app.is_some() && (missing.is_some() || renewed) {
                        self.use_user_token(&format!(
                            "Twitch refused the app access token ({message})"
                        ));
                        renewed = false;
                        continue;
                    }
                    if let Some(scope) = missing {
                        return Outcome::Refused {
                            status: 401,
                            message: format!(
                                "the bot account's grant lacks `{scope}`: run `twitch-bot auth`"
                            ),
                        };
                    }
                    if renewed {
                        return Outcome::Refused {
                            status: 401,
                            message,
                        };
                    }
                    renewed = true;
                    if let Some(app) = &self.app {
                        app.forget(&token).await;
                    } else if let Err(e) = self.helix.tokens().refresh(Account::Bot, &token).await {
                        return Outcome::Refused {
                            status: 401,
                            message: e.to_string(),
                        };
                    }
                }
                StatusCode::FORBIDDEN if self.app.is_some() => {
                    self.use_user_token(&format!(
                        "Twitch refused the app access token ({message})"
                    ));
                    renewed = false;
                }
                StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                    return Outcome::Refused {
                        status: status.as_u16(),
                        message,
                    };
                }
                _ => {
                    return Outcome::Rejected {
                        status: status.as_u16(),
                        message,
                    };
                }
            }
        }
    }

    /// Waits before the next attempt after a failure, longer each time; says so the first time.
    async fn wait_after_failure(&self, failures: &mut u32, what: &str) {
        let wait = crate::backoff::delay(*failures, FIRST_RETRY_WAIT, MAX_RETRY_WAIT);
        if *failures == 0 {
            warn!(
                "chat: {what}; the message waits and is tried again (next in {:.1} s)",
                wait.as_secs_f64()
            );
        } else {
            debug!("chat: {what}; trying again in {:.1} s", wait.as_secs_f64());
        }
        *failures = failures.saturating_add(1);
        tokio::time::sleep(wait).await;
    }

    /// Logs what became of a message (once), and reports a message Twitch did not send as a
    /// chat notice.
    async fn report(&self, line: &Outgoing, outcome: Outcome) {
        match outcome {
            Outcome::Sent { message_id } => {
                debug!("chat -> #{} ({message_id}): {}", line.channel, line.text);
            }
            Outcome::Dropped { code, message } => {
                warn!(
                    code = %code,
                    "chat: Twitch did not send the bot's message ({message}); not retried: {:?}",
                    line.text
                );
                let notice = Event::Notice(Notice {
                    channel: Some(self.settings.channel.as_str().into()),
                    msg_id: Some(code.as_str().into()),
                    text: message,
                });
                if self.events.try_send(notice).is_err() {
                    debug!("event queue full: the dropped-message notice is only logged");
                }
            }
            Outcome::Refused { status, message } | Outcome::Rejected { status, message } => {
                error!(
                    "chat: Twitch refused the bot's message ({status}: {message}); not sent: {:?}",
                    line.text
                );
            }
        }
    }
}

/// Reads a 2xx answer: sent, or dropped with Twitch's reason.
fn read_answer(text: &str) -> Outcome {
    let sent = serde_json::from_str::<Answer>(text)
        .ok()
        .and_then(|a| a.data.into_iter().next());
    match sent {
        Some(Sent {
            is_sent: true,
            message_id,
            ..
        }) => Outcome::Sent { message_id },
        Some(Sent { drop_reason, .. }) => {
            let (code, message) = drop_reason.map_or_else(
                || ("unknown".to_string(), "no reason given".to_string()),
                |d| (d.code, d.message),
            );
            Outcome::Dropped { code, message }
        }
        None => Outcome::Rejected {
            status: 200,
            message: format!("an answer that is not Twitch's: {}", truncate(text, 200)),
        },
    }
}

/// The `message` of a Helix error body, or the body itself.
fn error_message(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| truncate(text, 200))
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn rate_headers(headers: &reqwest::header::HeaderMap) -> (Option<u64>, Option<u64>, Option<u64>) {
    let num = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    (
        num("ratelimit-limit"),
        num("ratelimit-remaining"),
        num("ratelimit-reset"),
    )
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

    #[test]
    fn answers_are_read_as_twitch_words_them() {
        assert_eq!(
            read_answer(r#"{"data":[{"message_id":"abc","is_sent":true,"drop_reason":null}]}"#),
            Outcome::Sent {
                message_id: "abc".into()
            }
        );
        assert_eq!(
            read_answer(
                r#"{"data":[{"message_id":"","is_sent":false,"drop_reason":{"code":"msg_rejected","message":"held by AutoMod"}}]}"#
            ),
            Outcome::Dropped {
                code: "msg_rejected".into(),
                message: "held by AutoMod".into()
            }
        );
        assert!(matches!(read_answer("<html>"), Outcome::Rejected { .. }));
    }
}
