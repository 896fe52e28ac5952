//! The simulated Twitch's raid defences: Shield Mode (`/moderation/shield_mode`) and the chat
//! settings (`/chat/settings`) with Twitch's shapes, scope, moderator and value checks, who
//! follows the channel, and the delivery rules they make: while Shield Mode or followers-only
//! is on, a line from a viewer who does not follow (long enough) never reaches chat; in
//! emote-only mode a non-moderator's line that is not only emotes is dropped; in slow mode a
//! non-moderator's (and non-VIP's) next line within the wait is dropped.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use axum::Json;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::helix::{ApiState, BOT_ID, BROADCASTER_ID};
use super::viewer::Viewer;
use crate::event::Roles;

/// Shield Mode, chat settings and followers, as the fake Twitch keeps them.
#[derive(Debug)]
pub struct Defences {
    /// Whether Shield Mode is on.
    pub shield_mode: bool,
    /// The moderator who last switched Shield Mode on.
    pub shield_by: String,
    /// When Shield Mode was last switched on (RFC 3339).
    pub shield_at: String,
    /// Slow mode on or off.
    pub slow_mode: bool,
    /// Slow mode's seconds between a viewer's messages.
    pub slow_mode_wait_time: Option<u64>,
    /// Followers-only mode on or off.
    pub follower_mode: bool,
    /// Followers-only mode's minimum follow age, in minutes.
    pub follower_mode_duration: Option<u64>,
    /// Subscribers-only mode on or off.
    pub subscriber_mode: bool,
    /// Emote-only mode on or off.
    pub emote_mode: bool,
    /// Unique-chat mode on or off.
    pub unique_chat_mode: bool,
    /// Whether non-moderators' messages are held back before they show.
    pub non_moderator_chat_delay: bool,
    /// How long they are held back, in seconds.
    pub non_moderator_chat_delay_duration: Option<u64>,
    /// User id → when they followed.
    pub followers: HashMap<String, SystemTime>,
    /// The channel's moderators (user ids); the broadcaster counts as one.
    pub moderators: HashSet<String>,
    /// Chat lines Twitch refused to deliver because of these settings.
    pub withheld: u64,
    /// User id → when their last line was delivered, for slow mode.
    last_line: HashMap<String, Instant>,
}

/// Slow mode's longest wait (Twitch's range is 3 to 120 s): older entries are forgotten.
const SLOW_MODE_MAX_WAIT: Duration = Duration::from_secs(120);
/// Viewers slow mode remembers before it forgets those whose wait is over.
const SLOW_MODE_REMEMBERED: usize = 10_000;

impl Default for Defences {
    fn default() -> Self {
        Defences {
            shield_mode: false,
            shield_by: String::new(),
            shield_at: String::new(),
            slow_mode: false,
            slow_mode_wait_time: None,
            follower_mode: false,
            follower_mode_duration: None,
            subscriber_mode: false,
            emote_mode: false,
            unique_chat_mode: false,
            non_moderator_chat_delay: false,
            non_moderator_chat_delay_duration: None,
            followers: HashMap::new(),
            moderators: HashSet::from([BOT_ID.to_owned(), BROADCASTER_ID.to_owned()]),
            withheld: 0,
            last_line: HashMap::new(),
        }
    }
}

impl Defences {
    /// Whether Twitch delivers a line from `viewer` now under Shield Mode and followers-only
    /// (the rules that do not depend on the text); counts the ones it withholds.
    pub fn delivers(&mut self, viewer: &Viewer) -> bool {
        let delivered = self.followers_rule(viewer);
        if !delivered {
            self.withheld += 1;
        }
        delivered
    }

    /// Whether Twitch delivers `text` from `viewer` at `now`: Shield Mode and followers-only,
    /// then emote-only (every word an emote `is_emote` accepts for this viewer), then slow mode
    /// (the viewer's last delivered line at least the wait ago). The broadcaster and
    /// moderators are exempt from all of them; VIPs from all but emote-only. Counts the lines
    /// it withholds, and remembers a delivered line's time for slow mode.
    pub fn delivers_line(
        &mut self,
        viewer: &Viewer,
        text: &str,
        now: Instant,
        is_emote: &dyn Fn(&str) -> bool,
    ) -> bool {
        let moderator = [Roles::BROADCASTER, Roles::MODERATOR]
            .iter()
            .any(|r| viewer.roles.contains(*r));
        if moderator {
            return true;
        }
        let vip = viewer.roles.contains(Roles::VIP);
        let only_emotes = || {
            let mut words = text.split_whitespace().peekable();
            words.peek().is_some() && words.all(is_emote)
        };
        let slowed = || {
            let wait = Duration::from_secs(self.slow_mode_wait_time.unwrap_or(30));
            self.slow_mode
                && !vip
                && self
                    .last_line
                    .get(&viewer.id)
                    .is_some_and(|at| now.saturating_duration_since(*at) < wait)
        };
        let delivered =
            self.followers_rule(viewer) && (!self.emote_mode || only_emotes()) && !slowed();
        if !delivered {
            self.withheld += 1;
            return false;
        }
        if self.slow_mode && !vip {
            if self.last_line.len() >= SLOW_MODE_REMEMBERED {
                self.last_line
                    .retain(|_, at| now.saturating_duration_since(*at) < SLOW_MODE_MAX_WAIT);
            }
            self.last_line.insert(viewer.id.clone(), now);
        }
        true
    }

    /// Shield Mode and followers-only: a viewer who does not follow (long enough) is not
    /// delivered; the broadcaster, moderators and VIPs are exempt.
    fn followers_rule(&self, viewer: &Viewer) -> bool {
        let exempt = [Roles::BROADCASTER, Roles::MODERATOR, Roles::VIP]
            .iter()
            .any(|r| viewer.roles.contains(*r));
        if exempt || !(self.shield_mode || self.follower_mode) {
            return true;
        }
        let minutes = if self.follower_mode {
            self.follower_mode_duration.unwrap_or(0)
        } else {
            0
        };
        self.followers.get(&viewer.id).is_some_and(|at| {
            SystemTime::now()
                .duration_since(*at)
                .is_ok_and(|d| d >= Duration::from_secs(minutes.saturating_mul(60)))
        })
    }

    fn settings_json(&self, with_moderator: Option<&str>) -> Value {
        let mut v = json!({
            "broadcaster_id": BROADCASTER_ID,
            "slow_mode": self.slow_mode,
            "slow_mode_wait_time": self.slow_mode_wait_time,
            "follower_mode": self.follower_mode,
            "follower_mode_duration": self.follower_mode_duration,
            "subscriber_mode": self.subscriber_mode,
            "emote_mode": self.emote_mode,
            "unique_chat_mode": self.unique_chat_mode,
        });
        if let (Some(id), Some(o)) = (with_moderator, v.as_object_mut()) {
            o.insert("moderator_id".into(), json!(id));
            o.insert(
                "non_moderator_chat_delay".into(),
                json!(self.non_moderator_chat_delay),
            );
            o.insert(
                "non_moderator_chat_delay_duration".into(),
                json!(self.non_moderator_chat_delay_duration),
            );
        }
        v
    }
}

impl super::FakeTwitchApi {
    /// Shield Mode, chat settings and followers (read or change them in a test).
    pub fn defences(&self) -> std::sync::MutexGuard<'_, Defences> {
        self.state.defences()
    }

    /// Whether Twitch delivers `text` from `viewer` now (see [`Defences::delivers_line`]): the
    /// emotes are the fake's global emotes for everyone and its channel emotes for
    /// subscribers (they are subscriber emotes).
    pub fn delivers_line(&self, viewer: &Viewer, text: &str) -> bool {
        let (global, channel) = {
            let h = self.state.helix();
            (h.global_emotes.clone(), h.channel_emotes.clone())
        };
        let sub = viewer.roles.contains(Roles::SUBSCRIBER);
        let is_emote =
            |w: &str| global.iter().any(|e| e == w) || (sub && channel.iter().any(|e| e == w));
        self.defences()
            .delivers_line(viewer, text, Instant::now(), &is_emote)
    }

    /// `viewer` follows the channel since `ago`.
    pub fn add_follower(&self, viewer: &Viewer, ago: Duration) {
        let at = SystemTime::now()
            .checked_sub(ago)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.defences().followers.insert(viewer.id.clone(), at);
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

fn q<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Answers the Shield Mode and chat-settings endpoints; `None` for any other request.
pub(crate) fn route(
    st: &ApiState,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    body: &Value,
    user: &str,
    token: &str,
) -> Option<Response> {
    let read_shield = ["moderator:read:shield_mode", "moderator:manage:shield_mode"];
    let resp = match (method.as_str(), path) {
        ("GET", "/moderation/shield_mode") => moderator_call(st, query, user, token, &read_shield)
            .unwrap_or_else(|| {
                let d = st.defences();
                shield_json(&d)
            }),
        ("PUT", "/moderation/shield_mode") => {
            moderator_call(st, query, user, token, &["moderator:manage:shield_mode"])
                .unwrap_or_else(|| {
                    let Some(on) = body.get("is_active").and_then(Value::as_bool) else {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "The value in the is_active field is not valid.",
                        );
                    };
                    let mut d = st.defences();
                    if on && !d.shield_mode {
                        d.shield_by = user.to_owned();
                        d.shield_at =
                            humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
                    }
                    d.shield_mode = on;
                    shield_json(&d)
                })
        }
        ("GET", "/chat/settings") => {
            if q(query, "broadcaster_id").is_none_or(str::is_empty) {
                return Some(error(
                    StatusCode::BAD_REQUEST,
                    "Missing required parameter \"broadcaster_id\"",
                ));
            }
            let moderator = q(query, "moderator_id");
            if moderator.is_some_and(|m| m != user) {
                return Some(error(
                    StatusCode::UNAUTHORIZED,
                    "The ID in moderator_id must match the user ID in the user access token.",
                ));
            }
            let d = st.defences();
            Json(json!({"data": [d.settings_json(moderator)]})).into_response()
        }
        ("PATCH", "/chat/settings") => {
            moderator_call(st, query, user, token, &["moderator:manage:chat_settings"])
                .unwrap_or_else(|| patch_settings(st, body, user))
        }
        _ => return None,
    };
    Some(resp)
}

/// The checks every moderator call shares: ids given, the moderator is the token's user and
/// one of the channel's moderators, and the token holds one of `scopes`. `None` when all pass.
fn moderator_call(
    st: &ApiState,
    query: &[(String, String)],
    user: &str,
    token: &str,
    scopes: &[&str],
) -> Option<Response> {
    let (Some(broadcaster), Some(moderator)) =
        (q(query, "broadcaster_id"), q(query, "moderator_id"))
    else {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "Missing required parameter \"broadcaster_id\" or \"moderator_id\"",
        ));
    };
    let held = st.auth().scopes.get(token).cloned().unwrap_or_default();
    if !scopes.iter().any(|s| held.iter().any(|h| h == s)) {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            &format!("Missing scope: {}", scopes.join(" or ")),
        ));
    }
    if moderator != user {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "The ID in moderator_id must match the user ID in the user access token.",
        ));
    }
    if broadcaster != BROADCASTER_ID {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "The ID in broadcaster_id is not valid.",
        ));
    }
    if !st.defences().moderators.contains(moderator) {
        return Some(error(
            StatusCode::FORBIDDEN,
            "The user in moderator_id is not one of the broadcaster's moderators.",
        ));
    }
    None
}

fn shield_json(d: &Defences) -> Response {
    Json(json!({"data": [{
        "is_active": d.shield_mode,
        "moderator_id": d.shield_by,
        "moderator_login": "",
        "moderator_name": "",
        "last_activated_at": d.shield_at,
    }]}))
    .into_response()
}

/// `PATCH /chat/settings`: Twitch's ranges, each duration only with its mode.
fn patch_settings(st: &ApiState, body: &Value, user: &str) -> Response {
    let Some(fields) = body.as_object() else {
        return error(StatusCode::BAD_REQUEST, "The request body is not valid.");
    };
    let flag = |k: &str| fields.get(k).map(Value::as_bool);
    let number = |k: &str| {
        fields.get(k).map(|v| {
            if v.is_null() {
                Some(None)
            } else {
                v.as_u64().map(Some)
            }
        })
    };
    let mut d = st.defences();
    for (mode, duration, range) in [
        ("slow_mode", "slow_mode_wait_time", 3..=120u64),
        ("follower_mode", "follower_mode_duration", 0..=129_600),
        (
            "non_moderator_chat_delay",
            "non_moderator_chat_delay_duration",
            2..=6,
        ),
    ] {
        match (flag(mode), number(duration)) {
            (Some(None), _) | (_, Some(None)) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("The value in {mode} or {duration} is not valid."),
                );
            }
            (None, Some(_)) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("To change {duration}, the request must also specify {mode}."),
                );
            }
            (_, Some(Some(Some(n)))) if !range.contains(&n) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "The value in {duration} is not valid: use {} to {}.",
                        range.start(),
                        range.end()
                    ),
                );
            }
            _ => {}
        }
    }
    for k in ["emote_mode", "subscriber_mode", "unique_chat_mode"] {
        if flag(k) == Some(None) {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("The value in {k} is not valid."),
            );
        }
    }
    if let Some(Some(on)) = flag("slow_mode") {
        d.slow_mode = on;
        d.slow_mode_wait_time = on.then(|| {
            number("slow_mode_wait_time")
                .flatten()
                .flatten()
                .unwrap_or(30)
        });
    }
    if let Some(Some(on)) = flag("follower_mode") {
        d.follower_mode = on;
        d.follower_mode_duration = on.then(|| {
            number("follower_mode_duration")
                .flatten()
                .flatten()
                .unwrap_or(0)
        });
    }
    if let Some(Some(on)) = flag("non_moderator_chat_delay") {
        d.non_moderator_chat_delay = on;
        d.non_moderator_chat_delay_duration = on.then(|| {
            number("non_moderator_chat_delay_duration")
                .flatten()
                .flatten()
                .unwrap_or(4)
        });
    }
    if let Some(Some(on)) = flag("emote_mode") {
        d.emote_mode = on;
    }
    if let Some(Some(on)) = flag("subscriber_mode") {
        d.subscriber_mode = on;
    }
    if let Some(Some(on)) = flag("unique_chat_mode") {
        d.unique_chat_mode = on;
    }
    Json(json!({"data": [d.settings_json(Some(user))]})).into_response()
}
