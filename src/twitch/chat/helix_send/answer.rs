//! What the Helix sender makes of Twitch's answer to one post: sent, dropped with Twitch's
//! reason (logged once, never retried), refused, or to be tried again (429, 5xx, a network
//! failure, a token to renew), and how each is logged and reported.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use tracing::{debug, error, warn};

use super::window::Reply;
use super::{FIRST_RETRY_WAIT, Flight, MAX_RETRY_WAIT, Sender};
use crate::event::{Event, Notice};
use crate::twitch::auth::Account;
use crate::twitch::chat::outgoing::Outgoing;

/// What becomes of a message after an answer.
#[derive(Debug)]
pub(super) enum Verdict {
    /// Done with it: this is what Twitch made of it.
    Final(Outcome),
    /// It goes again, after `wait` when given (the gate holds it for a 429).
    Again { wait: Option<Duration> },
}

/// What Twitch made of one message.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
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

impl Sender {
    /// Decides what becomes of `flight` after `reply`: Twitch's final word on it, or another
    /// try (429 after the reset, which the gate keeps; 5xx and network failures after a
    /// backoff; a 401 after one new token; a refused app token with the user token).
    pub(super) async fn judge(&mut self, flight: &mut Flight, reply: Reply) -> Verdict {
        let (status, text, token) = match reply {
            Reply::Unreachable(e) => {
                let wait = self.failure_wait(flight, &format!("cannot reach Twitch ({e})"));
                return Verdict::Again { wait: Some(wait) };
            }
            Reply::Answer {
                status,
                text,
                token,
            } => (status, text, token),
        };
        if status.is_success() {
            return Verdict::Final(read_answer(&text));
        }
        let message = error_message(&text);
        match status {
            StatusCode::TOO_MANY_REQUESTS => {
                if flight.failures == 0 {
                    warn!("chat: Helix rate limit hit; the message waits for the reset");
                }
                flight.failures = flight.failures.saturating_add(1);
                Verdict::Again { wait: None }
            }
            s if s.is_server_error() => {
                let wait = self.failure_wait(flight, &format!("Twitch answered {s}"));
                Verdict::Again { wait: Some(wait) }
            }
            StatusCode::UNAUTHORIZED => {
                let missing = message.strip_prefix("Missing scope: ").map(str::trim);
                if self.app.is_some() && (missing.is_some() || flight.renewed) {
                    self.use_user_token(&format!(
                        "Twitch refused the app access token ({message})"
                    ));
                    flight.renewed = false;
                    return Verdict::Again { wait: None };
                }
                if let Some(scope) = missing {
                    return Verdict::Final(Outcome::Refused {
                        status: 401,
                        message: format!(
                            "the bot account's grant lacks `{scope}`: run `twitch-bot auth`"
                        ),
                    });
                }
                if flight.renewed {
                    return Verdict::Final(Outcome::Refused {
                        status: 401,
                        message,
                    });
                }
                flight.renewed = true;
                if let Some(app) = &self.app {
                    app.forget(&token).await;
                } else if let Err(e) = self.helix.tokens().refresh(Account::Bot, &token).await {
                    return Verdict::Final(Outcome::Refused {
                        status: 401,
                        message: e.to_string(),
                    });
                }
                Verdict::Again { wait: None }
            }
            StatusCode::FORBIDDEN if self.app.is_some() => {
                self.use_user_token(&format!("Twitch refused the app access token ({message})"));
                flight.renewed = false;
                Verdict::Again { wait: None }
            }
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => Verdict::Final(Outcome::Refused {
                status: status.as_u16(),
                message,
            }),
            _ => Verdict::Final(Outcome::Rejected {
                status: status.as_u16(),
                message,
            }),
        }
    }

    /// How long to wait before the next try after a failure, longer each time; says so the
    /// first time.
    fn failure_wait(&self, flight: &mut Flight, what: &str) -> Duration {
        let wait = crate::backoff::delay(flight.failures, FIRST_RETRY_WAIT, MAX_RETRY_WAIT);
        if flight.failures == 0 {
            warn!(
                "chat: {what}; the message waits and is tried again (next in {:.1} s)",
                wait.as_secs_f64()
            );
        } else {
            debug!("chat: {what}; trying again in {:.1} s", wait.as_secs_f64());
        }
        flight.failures = flight.failures.saturating_add(1);
        wait
    }

    /// Logs what became of a message (once), and reports a message Twitch did not send as a
    /// chat notice.
    pub(super) async fn report(&self, line: &Outgoing, outcome: Outcome) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
