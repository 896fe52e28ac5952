//! The simulated Send Chat Message API (`POST /helix/chat/messages`), as Twitch documents it:
//!
//! - a user token must belong to `sender_id` and hold `user:write:chat` (401 otherwise); an app
//!   access token needs the sender's grant of `user:write:chat` and `user:bot` (401) and the
//!   broadcaster's `channel:bot` unless the sender is a moderator or the broadcaster (403);
//! - `broadcaster_id`, `sender_id` and `message` are required, and a message is at most 500
//!   characters (422, "The message is too large");
//! - a sender the channel does not let chat gets 403;
//! - a message the channel's rules withhold is answered `is_sent: false` with Twitch's
//!   `drop_reason`: a blocked term (`msg_rejected_mandatory`) or a term AutoMod holds
//!   (`msg_rejected`) from a non-moderator, and the rules viewers' lines meet in
//!   [`super::shield::Defences::delivers_line`] (emote-only, slow mode, followers-only and
//!   Shield Mode);
//! - a message sent appears in the room ([`super::chat::ChatRoom`]) exactly like the sender's
//!   IRC PRIVMSG, in the reply thread of `reply_parent_message_id` when given, in the order
//!   the posts arrive ([`ChatSendState::sent`] records that order);
//! - a test may make Twitch take its time to answer ([`super::FakeTwitchApi::delay_chat_answers`]):
//!   the message is in chat at once, the answer comes later, and several posts may be waiting
//!   for theirs at the same time ([`ChatSendState::most_waiting`] counts how many at most).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::{APP_USER, AuthState};
use super::chat::ChatRoom;
use super::helix::{ApiState, HelixData};
use super::viewer::Viewer;
use crate::event::Roles;

/// Twitch's limit per chat message, in characters.
const MAX_MESSAGE: usize = 500;

/// What the fake Send Chat Message knows besides the tokens.
#[derive(Debug, Default)]
pub struct ChatSendState {
    /// Where sent messages appear (the fake chat's room); without one they are only recorded.
    pub room: Option<ChatRoom>,
    /// Terms blocked in the channel: a non-moderator's message with one is dropped.
    pub blocked_terms: Vec<String>,
    /// Terms AutoMod holds for review: a non-moderator's message with one is dropped.
    pub automod_terms: Vec<String>,
    /// Senders the channel does not let chat (banned there): answered 403.
    pub forbidden: Vec<String>,
    /// Every message sent, in order.
    pub sent: Vec<HelixChatMessage>,
    /// Every message answered `is_sent: false`: (text, drop reason code).
    pub dropped: Vec<(String, String)>,
    /// How long each answer to a post takes after the post was handled (zero: at once).
    pub answer_delay: Duration,
    /// Posts handled whose answer is still being delayed.
    pub waiting: usize,
    /// The most posts ever waiting for their answer at the same time.
    pub most_waiting: usize,
}

/// A message the fake Send Chat Message accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelixChatMessage {
    /// The message id Twitch gave it.
    pub id: String,
    /// Who sent it (`sender_id`).
    pub sender_id: String,
    /// The text as sent.
    pub text: String,
    /// The message it replies to, if any.
    pub reply_to: Option<String>,
    /// Whether it was sent with an app access token (the Chat Bot badge).
    pub app_token: bool,
}

impl super::FakeTwitchApi {
    /// From now on, messages sent with Send Chat Message appear in `room` (the fake chat's
    /// [`super::FakeChat::room`]).
    pub fn post_chat_to(&self, room: ChatRoom) {
        self.state.auth().chat.room = Some(room);
    }

    /// Blocks `term` in the channel: a non-moderator's message containing it is not sent.
    pub fn block_term(&self, term: &str) {
        self.state
            .auth()
            .chat
            .blocked_terms
            .push(term.to_lowercase());
    }

    /// AutoMod holds a non-moderator's message containing `term` for review (not sent).
    pub fn automod_holds(&self, term: &str) {
        self.state
            .auth()
            .chat
            .automod_terms
            .push(term.to_lowercase());
    }

    /// The channel does not let `user_id` chat: Send Chat Message answers 403.
    pub fn forbid_chat_sender(&self, user_id: &str, forbidden: bool) {
        let mut a = self.state.auth();
        a.chat.forbidden.retain(|u| u != user_id);
        if forbidden {
            a.chat.forbidden.push(user_id.to_string());
        }
    }

    /// From now on, each answer to Send Chat Message comes `delay` after the post was handled
    /// (its message is in chat at once), as Twitch's own time to answer would.
    pub fn delay_chat_answers(&self, delay: Duration) {
        self.state.auth().chat.answer_delay = delay;
    }

    /// The most Send Chat Message posts that were ever waiting for their answers at once.
    pub fn most_chat_posts_waiting(&self) -> usize {
        self.state.auth().chat.most_waiting
    }

    /// Messages Send Chat Message accepted so far.
    pub fn helix_chat_sent(&self) -> Vec<HelixChatMessage> {
        self.state.auth().chat.sent.clone()
    }

    /// Messages Send Chat Message answered `is_sent: false`: (text, drop reason code).
    pub fn helix_chat_dropped(&self) -> Vec<(String, String)> {
        self.state.auth().chat.dropped.clone()
    }
}

/// How long the answer to a request for `path` is held back: the delay a test set for Send
/// Chat Message, zero for anything else.
pub(crate) fn answer_delay(st: &ApiState, path: &str) -> Duration {
    if path != "/chat/messages" {
        return Duration::ZERO;
    }
    st.auth().chat.answer_delay
}

/// A post waiting for its delayed answer, counted in [`ChatSendState::waiting`] while it lives.
pub(crate) struct AnswerDelayed<'a>(&'a ApiState);

impl<'a> AnswerDelayed<'a> {
    pub(crate) fn new(st: &'a ApiState) -> AnswerDelayed<'a> {
        let mut a = st.auth();
        a.chat.waiting += 1;
        a.chat.most_waiting = a.chat.most_waiting.max(a.chat.waiting);
        AnswerDelayed(st)
    }
}

impl Drop for AnswerDelayed<'_> {
    fn drop(&mut self) {
        let mut a = self.0.auth();
        a.chat.waiting = a.chat.waiting.saturating_sub(1);
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    (
        status,
        Json(json!({"error": reason, "status": status.as_u16(), "message": message})),
    )
        .into_response()
}

/// Answers `POST /chat/messages`; `None` for any other request. `h` is the fake Helix's data
/// (locked by the caller), `token` the request's bearer token.
pub(crate) fn route(
    st: &ApiState,
    h: &mut HelixData,
    method: &Method,
    path: &str,
    body: &Value,
    token: &str,
) -> Option<Response> {
    if (method.as_str(), path) != ("POST", "/chat/messages") {
        return None;
    }
    let mut auth = st.auth();
    Some(send(&mut auth, h, st, body, token))
}

fn send(a: &mut AuthState, h: &HelixData, st: &ApiState, body: &Value, token: &str) -> Response {
    let app = a.app_tokens.contains_key(token);
    if app && !a.app_token_valid(token) {
        return error(StatusCode::UNAUTHORIZED, "Invalid OAuth token");
    }
    let field = |k: &str| body[k].as_str().filter(|v| !v.is_empty());
    for required in ["broadcaster_id", "sender_id", "message"] {
        if field(required).is_none() {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Missing required parameter \"{required}\""),
            );
        }
    }
    let (broadcaster, sender, text) = (
        field("broadcaster_id").unwrap_or_default(),
        field("sender_id").unwrap_or_default(),
        field("message").unwrap_or_default(),
    );
    if text.chars().count() > MAX_MESSAGE {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "The message is too large");
    }
    let login_of = |id: &str| {
        h.users
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, l)| l.clone())
    };
    let Some(channel) = login_of(broadcaster) else {
        return error(
            StatusCode::BAD_REQUEST,
            "The ID in broadcaster_id is not valid",
        );
    };
    let Some(sender_login) = login_of(sender) else {
        return error(StatusCode::BAD_REQUEST, "The ID in sender_id is not valid");
    };
    let moderator = sender == broadcaster || h.moderators.iter().any(|m| m == sender);
    let granted = a.granted(sender);
    let holds = |scope: &str| granted.iter().any(|s| s == scope);
    if app {
        for scope in ["user:write:chat", "user:bot"] {
            if !holds(scope) {
                return error(StatusCode::UNAUTHORIZED, &format!("Missing scope: {scope}"));
            }
        }
        let channel_bot = a.granted(broadcaster).iter().any(|s| s == "channel:bot");
        if !(channel_bot || moderator) {
            return error(
                StatusCode::FORBIDDEN,
                "The sender is not permitted to send chat messages to the broadcaster's chat \
                 room: the broadcaster has not granted channel:bot and the sender is not a \
                 moderator",
            );
        }
    } else {
        if a.access
            .get(token)
            .is_none_or(|user| user != sender || user == APP_USER)
        {
            return error(
                StatusCode::UNAUTHORIZED,
                "The ID in sender_id must match the user ID in the access token",
            );
        }
        if !a.scopes_of(token).iter().any(|s| s == "user:write:chat") {
            return error(StatusCode::UNAUTHORIZED, "Missing scope: user:write:chat");
        }
    }
    if a.chat.forbidden.iter().any(|f| f == sender) {
        return error(
            StatusCode::FORBIDDEN,
            "The sender is not permitted to send chat messages to the broadcaster's chat room",
        );
    }
    let mut viewer = Viewer::new(&sender_login);
    viewer.id = sender.to_string();
    if sender == broadcaster {
        viewer = viewer.with(Roles::BROADCASTER);
    } else if moderator {
        viewer = viewer.with(Roles::MODERATOR);
    }
    if let Some((code, message)) = withheld(a, h, st, &viewer, text, moderator) {
        a.chat.dropped.push((text.to_string(), code.to_string()));
        return Json(json!({"data": [{"message_id": "", "is_sent": false,
            "drop_reason": {"code": code, "message": message}}]}))
        .into_response();
    }
    let reply_to = field("reply_parent_message_id");
    let id = match &a.chat.room {
        Some(room) => room.post(&channel, &viewer, text, reply_to),
        None => format!("helix-{}", a.chat.sent.len() + 1),
    };
    a.chat.sent.push(HelixChatMessage {
        id: id.clone(),
        sender_id: sender.to_string(),
        text: text.to_string(),
        reply_to: reply_to.map(str::to_string),
        app_token: app,
    });
    Json(json!({"data": [{"message_id": id, "is_sent": true, "drop_reason": null}]}))
        .into_response()
}

/// Why the channel's rules keep `text` from chat, as Twitch's `drop_reason` code and words.
fn withheld(
    a: &AuthState,
    h: &HelixData,
    st: &ApiState,
    sender: &Viewer,
    text: &str,
    moderator: bool,
) -> Option<(&'static str, &'static str)> {
    let lower = text.to_lowercase();
    let has = |terms: &[String]| terms.iter().any(|t| lower.contains(t.as_str()));
    if !moderator && has(&a.chat.blocked_terms) {
        return Some((
            "msg_rejected_mandatory",
            "Your message wasn't posted due to conflicts with the channel's moderation settings.",
        ));
    }
    if !moderator && has(&a.chat.automod_terms) {
        return Some((
            "msg_rejected",
            "Your message is being checked by mods and has not been sent.",
        ));
    }
    let emotes: HashMap<&str, ()> = h
        .global_emotes
        .iter()
        .chain(h.channel_emotes.iter())
        .map(|e| (e.as_str(), ()))
        .collect();
    let is_emote = |w: &str| emotes.contains_key(w);
    let mut d = st.defences();
    if d.delivers_line(sender, text, Instant::now(), &is_emote) {
        return None;
    }
    Some(if d.emote_mode {
        ("msg_emoteonly", "This room is in emote-only mode.")
    } else if d.slow_mode {
        (
            "msg_slowmode",
            "This room is in slow mode and you are sending messages too quickly.",
        )
    } else {
        (
            "msg_followersonly",
            "This room is in followers-only mode. Follow the channel to join the conversation!",
        )
    })
}
