//! The simulated Twitch's broadcaster tools: channel title and category (with category search),
//! stream markers, clips (visible to Get Clips a moment after they are made), the schedule,
//! follower and subscriber totals, whispers and raids, and the routing of polls and predictions
//! ([`super::polls`]) and channel-point rewards ([`super::rewards`]) with the EventSub
//! notifications they cause. Each endpoint keeps Twitch's shapes, scopes and documented limits,
//! so a client that breaks one is refused here as it would be on Twitch.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Json;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::helix::{ApiState, BROADCASTER_ID, HelixData};

/// The longest stream title Twitch takes, in characters.
pub const MAX_TITLE: usize = 140;
/// The longest stream marker description, in characters.
pub const MAX_MARKER: usize = 140;
/// The longest whisper to someone the sender never whispered before.
pub const MAX_WHISPER: usize = 500;

/// A clip asked for with Create Clip; Get Clips finds it once `ready_at` has passed, unless
/// the fake was told clips fail.
#[derive(Debug, Clone)]
pub struct FakeClip {
    /// The clip's id, as Create Clip returned it.
    pub id: String,
    /// When Get Clips starts finding it.
    pub ready_at: Instant,
    /// Whether the clip never appears.
    pub fails: bool,
}

/// The channel's broadcaster-side state.
#[derive(Debug)]
pub struct Channel {
    /// The stream title.
    pub title: String,
    /// The category's id.
    pub game_id: String,
    /// Categories Twitch knows: (id, name).
    pub categories: Vec<(String, String)>,
    /// Markers made: (id, description).
    pub markers: Vec<(String, String)>,
    /// Clips asked for.
    pub clips: Vec<FakeClip>,
    /// How long a new clip takes to appear in Get Clips.
    pub clip_delay: Duration,
    /// New clips never appear (Twitch could not make them).
    pub clips_fail: bool,
    /// Scheduled streams: (title, start time RFC 3339, category name).
    pub schedule: Vec<(String, String, String)>,
    /// The channel's subscriber count.
    pub subscribers: u64,
    /// Whispers sent: (from id, to id, text).
    pub whispers: Vec<(String, String, String)>,
    /// The channel being raided (its id), while the raid counts down.
    pub raid: Option<String>,
    /// Polls, running and ended.
    pub polls: Vec<super::polls::FakePoll>,
    /// Predictions, running and ended.
    pub predictions: Vec<super::polls::FakePrediction>,
    /// Custom channel-point rewards and their redemptions.
    pub rewards: Vec<super::rewards::FakeReward>,
    /// Redemptions of those rewards.
    pub redemptions: Vec<super::rewards::FakeRedemption>,
    /// EventSub notifications to send once the request is answered.
    pub(super) outbox: Vec<(&'static str, Value)>,
    /// Polls and predictions started by this request: when each ends (or locks) on its own.
    pub(super) timers: Vec<Duration>,
    counter: u64,
}

impl Default for Channel {
    fn default() -> Self {
        Channel {
            title: "Offline test stream".into(),
            game_id: "509658".into(),
            categories: vec![
                ("509658".into(), "Just Chatting".into()),
                ("27471".into(), "Minecraft".into()),
                ("1938478465".into(), "Minecraft Dungeons".into()),
                ("509660".into(), "Art".into()),
                ("33214".into(), "Fortnite".into()),
            ],
            markers: Vec::new(),
            clips: Vec::new(),
            clip_delay: Duration::from_secs(2),
            clips_fail: false,
            schedule: Vec::new(),
            subscribers: 0,
            whispers: Vec::new(),
            raid: None,
            polls: Vec::new(),
            predictions: Vec::new(),
            rewards: Vec::new(),
            redemptions: Vec::new(),
            outbox: Vec::new(),
            timers: Vec::new(),
            counter: 0,
        }
    }
}

impl Channel {
    pub(super) fn next_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}-{:06}", self.counter)
    }

    /// The category name of `game_id`.
    pub fn game_name(&self) -> String {
        self.categories
            .iter()
            .find(|(id, _)| *id == self.game_id)
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    }

    /// The EventSub notifications due now.
    fn take_events(&mut self) -> Vec<(&'static str, Value)> {
        self.settle(Instant::now());
        let mut events = std::mem::take(&mut self.outbox);
        events.extend(self.poll_end_events());
        events
    }
}

/// Sends the channel's queued EventSub notifications, and arms the timers of polls just
/// started, as Twitch would (after the request's answer).
fn send_notifications(st: &Arc<ApiState>) {
    let (events, timers) = {
        let mut ch = st.channel();
        (ch.take_events(), std::mem::take(&mut ch.timers))
    };
    if !events.is_empty() {
        let st = Arc::clone(st);
        tokio::spawn(async move {
            for (kind, event) in events {
                let id = st.eventsub.next_id("msg");
                super::eventsub::notify(&st, kind, &id, event).await;
            }
        });
    }
    for after in timers {
        let st = Arc::clone(st);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let events = st.channel().take_events();
            for (kind, event) in events {
                let id = st.eventsub.next_id("msg");
                super::eventsub::notify(&st, kind, &id, event).await;
            }
        });
    }
}

impl super::FakeTwitchApi {
    /// The channel's title, category, markers, clips, polls and predictions (read or change
    /// them in a test).
    pub fn channel(&self) -> std::sync::MutexGuard<'_, Channel> {
        self.state.channel()
    }
}

pub(super) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

pub(super) fn error(status: StatusCode, message: &str) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    (
        status,
        Json(json!({"error": reason, "status": status.as_u16(), "message": message})),
    )
        .into_response()
}

pub(super) fn bad(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

pub(super) fn q<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

pub(super) fn data(items: Vec<Value>) -> Response {
    Json(json!({"data": items, "pagination": {}})).into_response()
}

/// Who asks: the token's user, the scopes its grant holds and its client id.
pub(super) struct Caller<'a> {
    pub(super) user: &'a str,
    pub(super) scopes: Vec<String>,
    /// The `Client-Id` it came with: rewards belong to the client that created them.
    pub(super) client: &'a str,
}

impl Caller<'_> {
    /// Twitch's 401 when the grant holds none of `scopes`.
    pub(super) fn lacks(&self, scopes: &[&str]) -> Option<Response> {
        (!scopes.iter().any(|s| self.scopes.iter().any(|h| h == s))).then(|| {
            error(
                StatusCode::UNAUTHORIZED,
                &format!("Missing scope: {}", scopes.join(" or ")),
            )
        })
    }

    /// The scope check, then `id` (a query or body field) must be the token's user.
    pub(super) fn owner(&self, scopes: &[&str], field: &str, id: Option<&str>) -> Option<Response> {
        if let Some(refused) = self.lacks(scopes) {
            return Some(refused);
        }
        match id {
            None | Some("") => Some(bad(&format!("Missing required parameter \"{field}\""))),
            Some(id) if id != self.user => Some(error(
                StatusCode::UNAUTHORIZED,
                &format!(
                    "The ID in {field} must match the user ID found in the request's OAuth token."
                ),
            )),
            Some(_) => None,
        }
    }
}

/// Answers the broadcaster-tool endpoints; `None` for any other path. `h` is the fake Helix's
/// data, locked by the caller.
pub(crate) fn route(
    st: &Arc<ApiState>,
    h: &mut HelixData,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    body: &Value,
    (user, token, client): (&str, &str, &str),
) -> Option<Response> {
    let caller = Caller {
        user,
        scopes: st.auth().scopes_of(token),
        client,
    };
    let resp = match (method.as_str(), path) {
        ("PATCH", "/channels") => modify_channel(st, query, body, &caller),
        ("GET", "/channels") => get_channels(st, h, query),
        ("GET", "/search/categories") => search_categories(st, query),
        ("POST", "/streams/markers") => create_marker(st, h, body, &caller),
        ("POST", "/clips") => create_clip(st, h, query, &caller),
        ("GET", "/clips") => get_clips(st, query),
        ("GET", "/schedule") => schedule(st, query),
        ("GET", "/channels/followers") => followers(st, h, query),
        ("GET", "/subscriptions") => subscriptions(st, query, &caller),
        ("POST", "/whispers") => whisper(st, h, query, body, &caller),
        ("POST", "/raids") => start_raid(st, h, query, &caller),
        ("DELETE", "/raids") => cancel_raid(st, query, &caller),
        ("POST", "/polls") => super::polls::create_poll(st, body, &caller),
        ("GET", "/polls") => super::polls::get_polls(st, query, &caller),
        ("PATCH", "/polls") => super::polls::end_poll(st, body, &caller),
        ("POST", "/predictions") => super::polls::create_prediction(st, body, &caller),
        ("GET", "/predictions") => super::polls::get_predictions(st, query, &caller),
        ("PATCH", "/predictions") => super::polls::end_prediction(st, body, &caller),
        ("GET", "/channel_points/custom_rewards") => super::rewards::list(st, query, &caller),
        ("POST", "/channel_points/custom_rewards") => {
            super::rewards::create(st, query, body, &caller)
        }
        ("PATCH", "/channel_points/custom_rewards") => {
            super::rewards::update(st, query, body, &caller)
        }
        ("PATCH", "/channel_points/custom_rewards/redemptions") => {
            super::rewards::settle(st, query, body, &caller)
        }
        _ => return None,
    };
    send_notifications(st);
    Some(resp)
}

fn login_of(h: &HelixData, id: &str) -> String {
    h.users
        .iter()
        .find(|(i, _)| i == id)
        .map(|(_, l)| l.clone())
        .unwrap_or_default()
}

pub(super) fn chars(v: &Value) -> Option<(String, usize)> {
    v.as_str().map(|s| (s.to_string(), s.chars().count()))
}

/// `PATCH /channels`: a title of 1 to 140 characters, a `game_id` Twitch knows (`""` or `"0"`
/// unsets it); 204.
fn modify_channel(
    st: &ApiState,
    query: &[(String, String)],
    body: &Value,
    caller: &Caller<'_>,
) -> Response {
    if let Some(refused) = caller.owner(
        &["channel:manage:broadcast"],
        "broadcaster_id",
        q(query, "broadcaster_id"),
    ) {
        return refused;
    }
    let title = body.get("title").map(chars);
    let game = body.get("game_id").map(|g| g.as_str().map(str::to_string));
    if title.is_none() && game.is_none() {
        return bad("The request must update at least one field.");
    }
    let mut ch = st.channel();
    if let Some(title) = &title {
        match title {
            None => return bad("The title field must be a string."),
            Some((t, _)) if t.trim().is_empty() => {
                return bad("The title field may not be set to an empty string.");
            }
            Some((_, n)) if *n > MAX_TITLE => {
                return bad(&format!("The title may be at most {MAX_TITLE} characters."));
            }
            Some(_) => {}
        }
    }
    if let Some(game) = &game {
        match game.as_deref() {
            None => return bad("The game_id field must be a string."),
            Some("" | "0") => {}
            Some(id) if !ch.categories.iter().any(|(c, _)| c == id) => {
                return bad("The ID in game_id is not valid.");
            }
            Some(_) => {}
        }
    }
    if let Some(Some((t, _))) = title {
        ch.title = t;
    }
    if let Some(Some(g)) = game {
        ch.game_id = if g == "0" { String::new() } else { g };
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /search/categories?query=`: categories whose name holds every word of the query,
/// those starting with it first.
/// `GET /channels`: the channel information of 1–100 `broadcaster_id`s, live or not; ids Twitch
/// does not know are left out. Only the simulated channel has a title and a category.
fn get_channels(st: &ApiState, h: &HelixData, query: &[(String, String)]) -> Response {
    let ids: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "broadcaster_id")
        .map(|(_, v)| v.as_str())
        .collect();
    if ids.is_empty() {
        return bad("Missing required parameter \"broadcaster_id\"");
    }
    if ids.len() > 100 {
        return bad("You may specify a maximum of 100 broadcaster_id query parameters.");
    }
    let ch = st.channel();
    let items = ids
        .iter()
        .filter(|id| h.users.iter().any(|(known, _)| known == *id))
        .map(|id| {
            let ours = *id == BROADCASTER_ID;
            let login = login_of(h, id);
            json!({"broadcaster_id": id, "broadcaster_login": login, "broadcaster_name": login,
                "broadcaster_language": "en",
                "game_id": if ours { ch.game_id.clone() } else { String::new() },
                "game_name": if ours { ch.game_name() } else { String::new() },
                "title": if ours { ch.title.clone() } else { String::new() },
                "delay": 0, "tags": [], "content_classification_labels": [],
                "is_branded_content": false})
        })
        .collect();
    data(items)
}

fn search_categories(st: &ApiState, query: &[(String, String)]) -> Response {
    let Some(text) = q(query, "query").map(str::trim).filter(|t| !t.is_empty()) else {
        return bad("Missing required parameter \"query\"");
    };
    let first = match q(query, "first").map(str::parse::<usize>) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return bad("The value in first must be from 1 through 100."),
    };
    let want = text.to_lowercase();
    let words: Vec<&str> = want.split_whitespace().collect();
    let ch = st.channel();
    let mut hits: Vec<&(String, String)> = ch
        .categories
        .iter()
        .filter(|(_, name)| {
            let name = name.to_lowercase();
            words.iter().all(|w| name.contains(w))
        })
        .collect();
    hits.sort_by_key(|(_, name)| !name.to_lowercase().starts_with(&want));
    data(
        hits.into_iter()
            .take(first)
            .map(|(id, name)| json!({"id": id, "name": name, "box_art_url": ""}))
            .collect(),
    )
}

/// `POST /streams/markers`: only while live, a description of at most 140 characters.
fn create_marker(st: &ApiState, h: &HelixData, body: &Value, caller: &Caller<'_>) -> Response {
    if let Some(refused) = caller.owner(
        &["channel:manage:broadcast"],
        "user_id",
        body["user_id"].as_str(),
    ) {
        return refused;
    }
    let description = match body.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(v) => match chars(v) {
            Some((_, n)) if n > MAX_MARKER => {
                return bad(&format!(
                    "The description may be at most {MAX_MARKER} characters."
                ));
            }
            Some((d, _)) => d,
            None => return bad("The description field must be a string."),
        },
    };
    let (live, started) = (h.live_viewers.is_some(), h.stream_started_at.clone());
    if !live {
        return error(
            StatusCode::NOT_FOUND,
            "The user in the user_id field is not streaming live.",
        );
    }
    let position = humantime::parse_rfc3339_weak(&started)
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map_or(0, |d| d.as_secs());
    let mut ch = st.channel();
    let id = ch.next_id("marker");
    ch.markers.push((id.clone(), description.clone()));
    data(vec![json!({"id": id, "created_at": now_rfc3339(),
        "description": description, "position_seconds": position})])
}

/// `POST /clips?broadcaster_id=`: only while live; 202 with the id and edit URL.
fn create_clip(
    st: &ApiState,
    h: &HelixData,
    query: &[(String, String)],
    caller: &Caller<'_>,
) -> Response {
    if let Some(refused) = caller.lacks(&["clips:edit"]) {
        return refused;
    }
    if q(query, "broadcaster_id") != Some(BROADCASTER_ID) {
        return bad("Missing or invalid parameter \"broadcaster_id\"");
    }
    if h.live_viewers.is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "The broadcaster in the broadcaster_id query parameter must be broadcasting live.",
        );
    }
    let mut ch = st.channel();
    let id = ch.next_id("Clip");
    let clip = FakeClip {
        id: id.clone(),
        ready_at: Instant::now() + ch.clip_delay,
        fails: ch.clips_fail,
    };
    ch.clips.push(clip);
    (
        StatusCode::ACCEPTED,
        Json(
            json!({"data": [{"id": id, "edit_url": format!("https://clips.twitch.tv/{id}/edit")}]}),
        ),
    )
        .into_response()
}

/// `GET /clips?id=`: the clips that exist by now.
fn get_clips(st: &ApiState, query: &[(String, String)]) -> Response {
    let ids: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| v.as_str())
        .collect();
    if ids.is_empty() && q(query, "broadcaster_id").is_none() {
        return bad("Missing required parameter: broadcaster_id, game_id or id");
    }
    let now = Instant::now();
    let ch = st.channel();
    let title = ch.title.clone();
    data(
        ch.clips
            .iter()
            .filter(|c| !c.fails && now >= c.ready_at)
            .filter(|c| ids.is_empty() || ids.contains(&c.id.as_str()))
            .map(|c| json!({"id": c.id, "url": format!("https://clips.twitch.tv/{}", c.id),
                "embed_url": "", "broadcaster_id": BROADCASTER_ID, "creator_id": BROADCASTER_ID,
                "video_id": "", "game_id": ch.game_id, "language": "en", "title": title,
                "view_count": 0, "created_at": now_rfc3339(), "thumbnail_url": "", "duration": 30.0}))
            .collect(),
    )
}

/// `GET /schedule`: 404 for a channel without a schedule; `first` 1–25.
fn schedule(st: &ApiState, query: &[(String, String)]) -> Response {
    if q(query, "broadcaster_id") != Some(BROADCASTER_ID) {
        return bad("Missing or invalid parameter \"broadcaster_id\"");
    }
    let first = match q(query, "first").map(str::parse::<usize>) {
        None => 20,
        Some(Ok(n)) if (1..=25).contains(&n) => n,
        Some(_) => return bad("The value in first must be from 1 through 25."),
    };
    let ch = st.channel();
    if ch.schedule.is_empty() {
        return error(StatusCode::NOT_FOUND, "segments were not found");
    }
    let segments: Vec<Value> = ch
        .schedule
        .iter()
        .take(first)
        .enumerate()
        .map(|(i, (title, start, game))| {
            let category = ch
                .categories
                .iter()
                .find(|(_, n)| n == game)
                .map_or(Value::Null, |(id, n)| json!({"id": id, "name": n}));
            json!({"id": format!("segment-{i}"), "start_time": start, "end_time": Value::Null,
                "title": title, "canceled_until": Value::Null, "category": category, "is_recurring": true})
        })
        .collect();
    Json(json!({"data": {"segments": segments, "broadcaster_id": BROADCASTER_ID,
        "broadcaster_name": "", "broadcaster_login": "", "vacation": Value::Null}, "pagination": {}}))
    .into_response()
}

/// `GET /channels/followers`: `total` always; the list (or one `user_id`) only with
/// `moderator:read:followers`, as on Twitch.
fn followers(st: &ApiState, h: &HelixData, query: &[(String, String)]) -> Response {
    if q(query, "broadcaster_id").is_none_or(str::is_empty) {
        return bad("Missing required parameter \"broadcaster_id\"");
    }
    let d = st.defences();
    let wanted = q(query, "user_id");
    let items: Vec<Value> = d
        .followers
        .iter()
        .filter(|(id, _)| wanted.is_some_and(|w| w == id.as_str()))
        .map(|(id, at)| {
            let login = login_of(h, id);
            json!({"user_id": id, "user_login": login, "user_name": login,
                "followed_at": humantime::format_rfc3339_seconds(*at).to_string()})
        })
        .collect();
    Json(json!({"data": items, "pagination": {}, "total": d.followers.len()})).into_response()
}

/// `GET /subscriptions`: the broadcaster's own token with `channel:read:subscriptions`.
fn subscriptions(st: &ApiState, query: &[(String, String)], caller: &Caller<'_>) -> Response {
    if let Some(refused) = caller.owner(
        &["channel:read:subscriptions"],
        "broadcaster_id",
        q(query, "broadcaster_id"),
    ) {
        return refused;
    }
    let total = st.channel().subscribers;
    Json(json!({"data": [], "pagination": {}, "total": total, "points": total})).into_response()
}

/// `POST /whispers`: `from_user_id` is the token's user, a recipient who exists and is someone
/// else, a message of 1 to 500 characters; 204.
fn whisper(
    st: &ApiState,
    h: &HelixData,
    query: &[(String, String)],
    body: &Value,
    caller: &Caller<'_>,
) -> Response {
    if let Some(refused) = caller.owner(
        &["user:manage:whispers"],
        "from_user_id",
        q(query, "from_user_id"),
    ) {
        return refused;
    }
    let to = q(query, "to_user_id").unwrap_or_default();
    if login_of(h, to).is_empty() {
        return error(StatusCode::NOT_FOUND, "The ID in to_user_id was not found.");
    }
    if to == caller.user {
        return bad("A user cannot whisper themself.");
    }
    let Some((text, n)) = chars(&body["message"]).filter(|(t, _)| !t.trim().is_empty()) else {
        return bad("The message field must not be empty.");
    };
    if n > MAX_WHISPER {
        return bad(&format!(
            "A whisper to a new recipient may be at most {MAX_WHISPER} characters."
        ));
    }
    st.channel()
        .whispers
        .push((caller.user.to_string(), to.to_string(), text));
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /raids`: one raid at a time, to a channel that exists and is not the broadcaster's.
fn start_raid(
    st: &ApiState,
    h: &HelixData,
    query: &[(String, String)],
    caller: &Caller<'_>,
) -> Response {
    if let Some(refused) = caller.owner(
        &["channel:manage:raids"],
        "from_broadcaster_id",
        q(query, "from_broadcaster_id"),
    ) {
        return refused;
    }
    let to = q(query, "to_broadcaster_id").unwrap_or_default();
    if to == caller.user {
        return bad("The broadcaster may not raid themselves.");
    }
    if login_of(h, to).is_empty() {
        return error(StatusCode::NOT_FOUND, "The targeted channel was not found.");
    }
    let mut ch = st.channel();
    if ch.raid.is_some() {
        return error(
            StatusCode::CONFLICT,
            "The broadcaster is already in the process of raiding another channel.",
        );
    }
    ch.raid = Some(to.to_string());
    data(vec![
        json!({"created_at": now_rfc3339(), "is_mature": false}),
    ])
}

/// `DELETE /raids`: 404 when no raid is counting down.
fn cancel_raid(st: &ApiState, query: &[(String, String)], caller: &Caller<'_>) -> Response {
    if let Some(refused) = caller.owner(
        &["channel:manage:raids"],
        "broadcaster_id",
        q(query, "broadcaster_id"),
    ) {
        return refused;
    }
    if st.channel().raid.take().is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "The broadcaster doesn't have a pending raid to cancel.",
        );
    }
    StatusCode::NO_CONTENT.into_response()
}
