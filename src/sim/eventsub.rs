//! The simulated EventSub WebSocket (`/ws`): `session_welcome`, keepalives, notifications in
//! Twitch's exact envelope for subscribed types, `session_reconnect` and revocations, plus
//! [`FakeTwitchApi::fire`] to raise any event type (used by `--offline` and the console), and
//! faults for tests and soaks: a welcome that never comes, a `session_reconnect` to any URL.
//! A session serves the one user whose token made its first subscription (see
//! `EventSubState::bind_session`); chat's own notifications come from `super::chat_events`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::helix::{ApiState, BROADCASTER_ID, FakeTwitchApi, sub_json};

enum Out {
    Text(String),
    Close,
}

/// Live sockets and switches.
#[derive(Debug)]
pub struct EventSubState {
    sessions: Mutex<HashMap<String, mpsc::Sender<OutMsg>>>,
    keepalive_secs: u64,
    keepalives_paused: AtomicBool,
    counter: AtomicU64,
    /// The next this many sockets are upgraded but never welcomed (nor kept alive).
    stall_welcomes: AtomicU32,
    /// Every socket upgraded: when, and the `Host` it asked for.
    connections: Mutex<Vec<(tokio::time::Instant, String)>>,
    /// The user each session serves: the one whose token created its first subscription.
    session_users: Mutex<HashMap<String, String>>,
}

/// Debug-friendly wrapper for the socket's outgoing queue.
pub struct OutMsg(Out);

impl std::fmt::Debug for OutMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutMsg")
    }
}

impl EventSubState {
    pub(crate) fn new(keepalive_secs: u64) -> EventSubState {
        EventSubState {
            sessions: Mutex::default(),
            keepalive_secs: keepalive_secs.max(1),
            keepalives_paused: AtomicBool::new(false),
            counter: AtomicU64::new(0),
            stall_welcomes: AtomicU32::new(0),
            connections: Mutex::default(),
            session_users: Mutex::default(),
        }
    }

    /// Binds `session` to `user` for a new subscription, as Twitch does: a session serves one
    /// user (another user's subscription on it is refused), and a user has at most
    /// [`super::chat_events::MAX_SESSIONS_PER_USER`] sessions. `None` when it may go ahead.
    pub(crate) fn bind_session(&self, session: &str, user: &str) -> Option<Response> {
        if !self.session_exists(session) {
            return None; // the subscription call answers that itself
        }
        let mut users = self
            .session_users
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match users.get(session) {
            Some(owner) if owner == user => None,
            Some(_) => Some(refusal(
                axum::http::StatusCode::BAD_REQUEST,
                "the websocket session already serves another user: use one session per user",
            )),
            None => {
                let held = users.values().filter(|u| *u == user).count();
                if held >= super::chat_events::MAX_SESSIONS_PER_USER {
                    return Some(refusal(
                        axum::http::StatusCode::TOO_MANY_REQUESTS,
                        "websocket transports limit exceeded",
                    ));
                }
                users.insert(session.to_string(), user.to_string());
                None
            }
        }
    }
}

/// A Helix error answer in Twitch's shape.
pub(crate) fn refusal(status: axum::http::StatusCode, message: &str) -> Response {
    use axum::response::IntoResponse;
    let reason = status.canonical_reason().unwrap_or("Error");
    (
        status,
        axum::Json(json!({"error": reason, "status": status.as_u16(), "message": message})),
    )
        .into_response()
}

impl EventSubState {
    pub(crate) fn session_exists(&self, id: &str) -> bool {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(id)
    }

    pub(crate) fn next_id(&self, prefix: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{prefix}-{n:08x}-0000-4000-8000-{n:012x}")
    }

    fn senders(&self) -> Vec<(String, mpsc::Sender<OutMsg>)> {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// RFC 3339 UTC timestamp with nanoseconds, as Twitch writes them.
fn timestamp() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_nanos()
    )
}

fn envelope(id: &str, kind: &str, extra: Value, payload: Value) -> String {
    let mut meta =
        json!({"message_id": id, "message_type": kind, "message_timestamp": timestamp()});
    if let (Some(m), Some(e)) = (meta.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            m.insert(k.clone(), v.clone());
        }
    }
    json!({"metadata": meta, "payload": payload}).to_string()
}

fn session_json(
    id: &str,
    status: &str,
    keepalive: Option<u64>,
    reconnect_url: Option<String>,
) -> Value {
    json!({"session": {"id": id, "status": status, "connected_at": timestamp(),
        "keepalive_timeout_seconds": keepalive, "reconnect_url": reconnect_url, "recovery_url": null}})
}

pub(crate) fn routes() -> Router<Arc<ApiState>> {
    Router::new().route("/ws", get(ws_handler))
}

async fn ws_handler(
    State(st): State<Arc<ApiState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    st.eventsub
        .connections
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((tokio::time::Instant::now(), host));
    let stall = st
        .eventsub
        .stall_welcomes
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok();
    if stall {
        // Upgraded, then silent: the client's handshake timeout has to notice.
        return ws.on_upgrade(|mut socket| async move {
            while let Some(Ok(m)) = socket.recv().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        });
    }
    let keepalive = q
        .get("keepalive_timeout_seconds")
        .and_then(|v| v.parse::<u64>().ok())
        .map(|v| v.clamp(10, 600))
        .unwrap_or(st.eventsub.keepalive_secs);
    let inherit = q.get("reconnect").cloned();
    ws.on_upgrade(move |socket| serve(st, socket, keepalive, inherit))
}

async fn serve(st: Arc<ApiState>, mut socket: WebSocket, keepalive: u64, inherit: Option<String>) {
    let es = &st.eventsub;
    let id = es.next_id("session");
    let (tx, mut rx) = mpsc::channel::<OutMsg>(256);
    es.sessions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id.clone(), tx);
    if let Some(old) = inherit {
        // Subscriptions move to the new session, as on Twitch.
        for s in st
            .helix()
            .subscriptions
            .iter_mut()
            .filter(|s| s.session_id == old)
        {
            s.session_id = id.clone();
        }
        let mut users = es
            .session_users
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(user) = users.remove(&old) {
            users.insert(id.clone(), user);
        }
    }
    let welcome = envelope(
        &es.next_id("msg"),
        "session_welcome",
        json!({}),
        session_json(&id, "connected", Some(keepalive), None),
    );
    if socket.send(Message::Text(welcome.into())).await.is_ok() {
        let period = Duration::from_secs(keepalive);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(OutMsg(Out::Text(t))) => if socket.send(Message::Text(t.into())).await.is_err() { break },
                    Some(OutMsg(Out::Close)) | None => { let _ = socket.send(Message::Close(None)).await; break }
                },
                _ = tick.tick() => {
                    if !es.keepalives_paused.load(Ordering::Relaxed) {
                        let ka = envelope(&es.next_id("msg"), "session_keepalive", json!({}), json!({}));
                        if socket.send(Message::Text(ka.into())).await.is_err() { break }
                    }
                }
                incoming = socket.recv() => match incoming {
                    // A client must never send; Twitch closes with 4001 — we just stop.
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => break,
                },
            }
        }
    }
    es.sessions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id);
    es.session_users
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id);
    // WebSocket subscriptions end with their session (unless they moved to a new one).
    st.helix().subscriptions.retain(|s| s.session_id != id);
}

/// A realistic `payload.event` for `kind` on the fake broadcaster's channel, from `user`.
pub fn sample_event(kind: &str, user_id: &str, user_login: &str) -> Value {
    let b = json!({"broadcaster_user_id": BROADCASTER_ID, "broadcaster_user_login": "mychannel", "broadcaster_user_name": "MyChannel"});
    let u = json!({"user_id": user_id, "user_login": user_login, "user_name": user_login});
    let mut ev = match kind {
        "channel.follow" => json!({"followed_at": timestamp()}),
        "channel.subscribe" => json!({"tier": "1000", "is_gift": false}),
        "channel.subscription.gift" => {
            json!({"total": 5, "tier": "1000", "cumulative_total": 12, "is_anonymous": false})
        }
        "channel.subscription.message" => {
            json!({"tier": "1000", "message": {"text": "Love the stream!", "emotes": []},
            "cumulative_months": 15, "streak_months": 3, "duration_months": 1})
        }
        "channel.cheer" => json!({"is_anonymous": false, "message": "cheer100 pog", "bits": 100}),
        "channel.raid" => {
            json!({"from_broadcaster_user_id": user_id, "from_broadcaster_user_login": user_login,
            "from_broadcaster_user_name": user_login, "to_broadcaster_user_id": BROADCASTER_ID,
            "to_broadcaster_user_login": "mychannel", "to_broadcaster_user_name": "MyChannel", "viewers": 42})
        }
        "channel.channel_points_custom_reward_redemption.add" => {
            json!({"id": "17fa2df1-ad76-4804-bfa5-a40ef63efe63",
            "user_input": "hello", "status": "unfulfilled", "redeemed_at": timestamp(),
            "reward": {"id": "92af127c-7326-4483-a52b-b0da0be61c01", "title": "Hydrate", "cost": 100, "prompt": "Drink water"}})
        }
        "stream.online" => json!({"id": "9001", "type": "live", "started_at": timestamp()}),
        "stream.offline" => json!({}),
        "channel.update" => {
            json!({"title": "Best stream ever", "language": "en", "category_id": "509658",
            "category_name": "Just Chatting", "content_classification_labels": []})
        }
        "channel.poll.begin" => {
            json!({"id": "poll-1", "title": "Pizza or tacos?", "choices": [{"id": "a", "title": "Pizza"}, {"id": "b", "title": "Tacos"}],
            "started_at": timestamp(), "ends_at": timestamp()})
        }
        "channel.poll.end" => {
            json!({"id": "poll-1", "title": "Pizza or tacos?", "status": "completed",
            "choices": [{"id": "a", "title": "Pizza", "votes": 3}, {"id": "b", "title": "Tacos", "votes": 7}]})
        }
        "channel.prediction.begin" => {
            json!({"id": "pred-1", "title": "Win this round?", "outcomes": [{"id": "o1", "title": "Yes", "color": "blue"}, {"id": "o2", "title": "No", "color": "pink"}]})
        }
        "channel.prediction.end" => {
            json!({"id": "pred-1", "title": "Win this round?", "winning_outcome_id": "o1", "status": "resolved",
            "outcomes": [{"id": "o1", "title": "Yes", "color": "blue"}, {"id": "o2", "title": "No", "color": "pink"}]})
        }
        "channel.hype_train.begin" => {
            json!({"id": "ht-1", "total": 137, "progress": 137, "goal": 500, "level": 1,
            "type": "regular", "is_shared_train": false, "top_contributions": []})
        }
        "channel.hype_train.end" => {
            json!({"id": "ht-1", "total": 2400, "level": 3, "type": "regular", "is_shared_train": false, "top_contributions": []})
        }
        "channel.ad_break.begin" => {
            json!({"duration_seconds": 60, "started_at": timestamp(), "is_automatic": false,
            "requester_user_id": BROADCASTER_ID, "requester_user_login": "mychannel", "requester_user_name": "MyChannel"})
        }
        _ => json!({}),
    };
    if let (Some(e), Some(bo)) = (ev.as_object_mut(), b.as_object()) {
        if kind != "channel.raid" {
            for (k, v) in bo {
                e.insert(k.clone(), v.clone());
            }
        }
        let with_user = matches!(
            kind,
            "channel.follow"
                | "channel.subscribe"
                | "channel.subscription.gift"
                | "channel.subscription.message"
                | "channel.cheer"
                | "channel.channel_points_custom_reward_redemption.add"
        );
        if with_user && let Some(uo) = u.as_object() {
            for (k, v) in uo {
                e.insert(k.clone(), v.clone());
            }
        }
    }
    ev
}

/// Sends a notification of `kind` with `event` and `message_id` to every session subscribed
/// to it (what Twitch does when something happens on the channel); returns how many got it.
pub(crate) async fn notify(st: &ApiState, kind: &str, message_id: &str, event: Value) -> usize {
    notify_with(st, kind, message_id, json!({}), event).await
}

/// [`notify`] with `metadata` fields of its own (a `message_timestamp`, say) over the usual ones.
pub(crate) async fn notify_with(
    st: &ApiState,
    kind: &str,
    message_id: &str,
    metadata: Value,
    event: Value,
) -> usize {
    let subs: Vec<_> = {
        let helix = st.helix();
        // Chat events reach only the sessions subscribed to that channel's chat, named by its
        // broadcaster's id (the fake chat's room ids are its own, so the login counts too).
        let for_channel = |condition: &Value| {
            let id = &condition["broadcaster_user_id"];
            *id == event["broadcaster_user_id"]
                || helix.users.iter().any(|(uid, login)| {
                    id.as_str() == Some(uid.as_str())
                        && event["broadcaster_user_login"].as_str() == Some(login.as_str())
                })
        };
        helix
            .subscriptions
            .iter()
            .filter(|s| s.kind == kind && s.status == "enabled")
            .filter(|s| !super::chat_events::is_chat_type(kind) || for_channel(&s.condition))
            .cloned()
            .collect()
    };
    let senders = st.eventsub.senders();
    let mut sent = 0;
    for sub in subs {
        let Some((_, tx)) = senders.iter().find(|(id, _)| *id == sub.session_id) else {
            continue;
        };
        let text = envelope(
            message_id,
            "notification",
            {
                let mut meta =
                    json!({"subscription_type": sub.kind, "subscription_version": sub.version});
                merge_meta(&mut meta, &metadata);
                meta
            },
            json!({"subscription": sub_json(&sub), "event": event}),
        );
        if tx.send(OutMsg(Out::Text(text))).await.is_ok() {
            sent += 1;
        }
    }
    sent
}

/// Sends a channel notification of `kind` at once (without waiting for a full socket) to every
/// session subscribed to it for the channel `event["broadcaster_user_id"]` names, as Twitch
/// delivers a condition-scoped event; for callers already holding the Helix data. Returns
/// how many sockets got it.
pub(crate) fn notify_channel_now(
    es: &EventSubState,
    h: &super::helix::HelixData,
    kind: &str,
    event: &Value,
) -> usize {
    let senders = es.senders();
    let mut sent = 0;
    let subs = h.subscriptions.iter().filter(|s| {
        s.kind == kind
            && s.status == "enabled"
            && s.condition["broadcaster_user_id"] == event["broadcaster_user_id"]
    });
    for sub in subs {
        let Some((_, tx)) = senders.iter().find(|(id, _)| *id == sub.session_id) else {
            continue;
        };
        let text = envelope(
            &es.next_id("msg"),
            "notification",
            json!({"subscription_type": sub.kind, "subscription_version": sub.version}),
            json!({"subscription": sub_json(sub), "event": event}),
        );
        if tx.try_send(OutMsg(Out::Text(text))).is_ok() {
            sent += 1;
        }
    }
    sent
}

fn merge_meta(into: &mut Value, extra: &Value) {
    if let (Some(a), Some(b)) = (into.as_object_mut(), extra.as_object()) {
        for (k, v) in b {
            a.insert(k.clone(), v.clone());
        }
    }
}

impl FakeTwitchApi {
    /// Sends a notification of `kind` with `event` to every session subscribed to it; returns
    /// the message id (fire it again with [`FakeTwitchApi::fire_with_id`] to test deduplication).
    pub async fn fire(&self, kind: &str, event: Value) -> String {
        let id = self.state.eventsub.next_id("msg");
        self.fire_with_id(kind, &id, event).await;
        id
    }

    /// [`FakeTwitchApi::fire`] with a given message id; returns how many sockets got it.
    pub async fn fire_with_id(&self, kind: &str, message_id: &str, event: Value) -> usize {
        notify(&self.state, kind, message_id, event).await
    }

    /// Fires `kind` with a realistic sample event from `viewer_one`.
    pub async fn fire_sample(&self, kind: &str) -> String {
        self.fire(kind, sample_event(kind, "3000", "viewer_one"))
            .await
    }

    /// Sends `session_reconnect` to every socket; the new URL carries the session over.
    pub async fn send_reconnect(&self) {
        let base = self.eventsub_url();
        self.reconnect_each(|id| format!("{base}?reconnect={id}"))
            .await;
    }

    /// Sends every socket a `session_reconnect` whose `reconnect_url` is `url_for(session id)`.
    async fn reconnect_each(&self, url_for: impl Fn(&str) -> String) {
        for (id, tx) in self.state.eventsub.senders() {
            let text = envelope(
                &self.state.eventsub.next_id("msg"),
                "session_reconnect",
                json!({}),
                session_json(&id, "reconnecting", None, Some(url_for(&id))),
            );
            let _ = tx.send(OutMsg(Out::Text(text))).await;
        }
    }

    /// Sends `session_reconnect` with `url` as the `reconnect_url` to every socket, whatever
    /// host it names (Twitch only ever names its own; a client must not follow another).
    pub async fn send_reconnect_to(&self, url: &str) {
        self.reconnect_each(|_| url.to_string()).await;
    }

    /// The next `n` EventSub sockets are upgraded but never get their `session_welcome`.
    pub fn stall_welcomes(&self, n: u32) {
        self.state
            .eventsub
            .stall_welcomes
            .store(n, Ordering::Relaxed);
    }

    /// Every EventSub socket upgraded so far: when (on tokio's clock) and the `Host` header.
    pub fn eventsub_connections(&self) -> Vec<(tokio::time::Instant, String)> {
        self.state
            .eventsub
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Revokes every subscription of `kind` with `reason` (`authorization_revoked`, ...).
    pub async fn revoke(&self, kind: &str, reason: &str) {
        let subs: Vec<_> = {
            let mut h = self.state.helix();
            let mut out = Vec::new();
            for s in h.subscriptions.iter_mut().filter(|s| s.kind == kind) {
                s.status = reason.to_string();
                out.push(s.clone());
            }
            h.subscriptions.retain(|s| s.kind != kind);
            out
        };
        let senders = self.state.eventsub.senders();
        for sub in subs {
            if let Some((_, tx)) = senders.iter().find(|(id, _)| *id == sub.session_id) {
                let text = envelope(
                    &self.state.eventsub.next_id("msg"),
                    "revocation",
                    json!({"subscription_type": sub.kind, "subscription_version": sub.version}),
                    json!({"subscription": sub_json(&sub)}),
                );
                let _ = tx.send(OutMsg(Out::Text(text))).await;
            }
        }
    }

    /// Stops (or resumes) keepalives, so a client's watchdog should fire.
    pub fn pause_keepalives(&self, paused: bool) {
        self.state
            .eventsub
            .keepalives_paused
            .store(paused, Ordering::Relaxed);
    }

    /// Closes every EventSub socket (as a network failure would).
    pub async fn drop_eventsub_sockets(&self) {
        for (_, tx) in self.state.eventsub.senders() {
            let _ = tx.send(OutMsg(Out::Close)).await;
        }
    }

    /// Live EventSub session ids.
    pub fn eventsub_sessions(&self) -> Vec<String> {
        self.state
            .eventsub
            .senders()
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }
}
