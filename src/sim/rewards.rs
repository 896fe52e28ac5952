//! The simulated Twitch's custom channel-point rewards and their redemptions, with Twitch's
//! ownership rule: a reward belongs to the client id that created it, and only that client may
//! change it or fulfil or refund (`CANCELED`) its redemptions; anyone else gets 403.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::broadcaster::{Caller, bad, data, error, q};
use super::helix::{ApiState, BROADCASTER_ID};

/// The most custom rewards a channel may have.
pub const MAX_REWARDS: usize = 50;
/// The longest global cooldown, in seconds (7 days).
pub const MAX_COOLDOWN: u64 = 604_800;

/// A custom reward as the fake keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeReward {
    /// The reward's id.
    pub id: String,
    /// The reward's title (unique in the channel).
    pub title: String,
    /// Its cost in channel points.
    pub cost: u64,
    /// The prompt viewers see.
    pub prompt: String,
    /// Whether redeeming it needs text from the viewer.
    pub input_required: bool,
    /// Seconds; `None` when the global cooldown is off.
    pub cooldown: Option<u64>,
    /// Whether redemptions skip the request queue (then they cannot be fulfilled or refunded).
    pub skip_queue: bool,
    /// The client id that created it.
    pub client: String,
}

/// A redemption: `UNFULFILLED` until the reward's creator fulfils or refunds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeRedemption {
    /// The redemption's id.
    pub id: String,
    /// The reward redeemed.
    pub reward_id: String,
    /// The viewer who redeemed it.
    pub user_id: String,
    /// `UNFULFILLED`, `FULFILLED` or `CANCELED`.
    pub status: String,
}

impl super::FakeTwitchApi {
    /// A reward made by another app (or by hand on Twitch): the bot's client id may not
    /// change it or settle its redemptions. Returns its id.
    pub fn add_foreign_reward(&self, title: &str, cost: u64) -> String {
        let mut ch = self.state.channel();
        let id = ch.next_id("reward");
        ch.rewards.push(FakeReward {
            id: id.clone(),
            title: title.to_string(),
            cost,
            prompt: String::new(),
            input_required: false,
            cooldown: None,
            skip_queue: false,
            client: "someoneelse".into(),
        });
        id
    }

    /// A viewer redeems the reward titled `title` (any case): returns the reward's and the new
    /// redemption's ids, `None` when no reward has that title. A reward that skips the request
    /// queue is fulfilled at once, as on Twitch.
    pub fn redeem(&self, title: &str, user_id: &str) -> Option<(String, String)> {
        let mut ch = self.state.channel();
        let reward = ch
            .rewards
            .iter()
            .find(|r| r.title.eq_ignore_ascii_case(title))?
            .clone();
        let id = ch.next_id("redemption");
        let status = if reward.skip_queue {
            "FULFILLED"
        } else {
            "UNFULFILLED"
        };
        ch.redemptions.push(FakeRedemption {
            id: id.clone(),
            reward_id: reward.id.clone(),
            user_id: user_id.to_string(),
            status: status.into(),
        });
        Some((reward.id, id))
    }

    /// The status of redemption `id` (`UNFULFILLED`, `FULFILLED`, `CANCELED`).
    pub fn redemption_status(&self, id: &str) -> Option<String> {
        self.state
            .channel()
            .redemptions
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.status.clone())
    }
}

fn reward_json(r: &FakeReward) -> Value {
    json!({"broadcaster_id": BROADCASTER_ID, "broadcaster_login": "", "broadcaster_name": "",
        "id": r.id, "title": r.title, "prompt": r.prompt, "cost": r.cost, "image": Value::Null,
        "default_image": {"url_1x": "", "url_2x": "", "url_4x": ""}, "background_color": "#9147FF",
        "is_enabled": true, "is_user_input_required": r.input_required,
        "max_per_stream_setting": {"is_enabled": false, "max_per_stream": 0},
        "max_per_user_per_stream_setting": {"is_enabled": false, "max_per_user_per_stream": 0},
        "global_cooldown_setting": {"is_enabled": r.cooldown.is_some(),
            "global_cooldown_seconds": r.cooldown.unwrap_or(0)},
        "is_paused": false, "is_in_stock": true,
        "should_redemptions_skip_request_queue": r.skip_queue,
        "redemptions_redeemed_current_stream": Value::Null, "cooldown_expires_at": Value::Null})
}

const READ: [&str; 2] = ["channel:read:redemptions", "channel:manage:redemptions"];
const MANAGE: [&str; 1] = ["channel:manage:redemptions"];

/// `GET /channel_points/custom_rewards`: every reward, or with `only_manageable_rewards=true`
/// the ones the caller's client id created.
pub(super) fn list(st: &ApiState, query: &[(String, String)], caller: &Caller<'_>) -> Response {
    if let Some(refused) = caller.owner(&READ, "broadcaster_id", q(query, "broadcaster_id")) {
        return refused;
    }
    let only_ours = q(query, "only_manageable_rewards") == Some("true");
    let ch = st.channel();
    data(
        ch.rewards
            .iter()
            .filter(|r| !only_ours || r.client == caller.client)
            .map(reward_json)
            .collect(),
    )
}

/// Applies the fields of `body` to `r` with Twitch's limits.
fn apply(r: &mut FakeReward, body: &Value) -> Result<(), String> {
    if let Some(t) = body.get("title") {
        let t = t.as_str().unwrap_or_default().trim();
        let n = t.chars().count();
        if !(1..=45).contains(&n) {
            return Err("The title field must be 1 through 45 characters.".into());
        }
        r.title = t.to_string();
    }
    if let Some(c) = body.get("cost") {
        match c.as_u64() {
            Some(c) if c >= 1 => r.cost = c,
            _ => return Err("The cost field must be at least 1.".into()),
        }
    }
    if let Some(p) = body.get("prompt") {
        let p = p.as_str().unwrap_or_default();
        if p.chars().count() > 200 {
            return Err("The prompt field may be at most 200 characters.".into());
        }
        r.prompt = p.to_string();
    }
    if let Some(i) = body.get("is_user_input_required") {
        r.input_required = i.as_bool().unwrap_or(false);
    }
    if let Some(s) = body.get("should_redemptions_skip_request_queue") {
        r.skip_queue = s.as_bool().unwrap_or(false);
    }
    let enabled = body
        .get("is_global_cooldown_enabled")
        .map(|e| e.as_bool().unwrap_or(false));
    let secs = body.get("global_cooldown_seconds").and_then(Value::as_u64);
    match (enabled, secs) {
        (Some(false), _) => r.cooldown = None,
        (Some(true), Some(s)) | (None, Some(s)) if (1..=MAX_COOLDOWN).contains(&s) => {
            r.cooldown = Some(s);
        }
        (Some(true), _) | (None, Some(_)) => {
            return Err(format!(
                "The global_cooldown_seconds field must be from 1 through {MAX_COOLDOWN}."
            ));
        }
        (None, None) => {}
    }
    Ok(())
}

/// `POST /channel_points/custom_rewards`: a unique title, Twitch's limits, 50 rewards at most.
pub(super) fn create(
    st: &ApiState,
    query: &[(String, String)],
    body: &Value,
    caller: &Caller<'_>,
) -> Response {
    if let Some(refused) = caller.owner(&MANAGE, "broadcaster_id", q(query, "broadcaster_id")) {
        return refused;
    }
    if body.get("title").is_none() || body.get("cost").is_none() {
        return bad("Missing required field title or cost");
    }
    let mut ch = st.channel();
    if ch.rewards.len() >= MAX_REWARDS {
        return bad("CREATE_CUSTOM_REWARD_TOO_MANY_REWARDS");
    }
    let mut reward = FakeReward {
        id: String::new(),
        title: String::new(),
        cost: 0,
        prompt: String::new(),
        input_required: false,
        cooldown: None,
        skip_queue: false,
        client: caller.client.to_string(),
    };
    if let Err(message) = apply(&mut reward, body) {
        return bad(&message);
    }
    if ch
        .rewards
        .iter()
        .any(|r| r.title.eq_ignore_ascii_case(&reward.title))
    {
        return bad("CREATE_CUSTOM_REWARD_DUPLICATE_REWARD");
    }
    reward.id = ch.next_id("reward");
    let v = reward_json(&reward);
    ch.rewards.push(reward);
    data(vec![v])
}

/// `PATCH /channel_points/custom_rewards?id=`: only by the client that created it.
pub(super) fn update(
    st: &ApiState,
    query: &[(String, String)],
    body: &Value,
    caller: &Caller<'_>,
) -> Response {
    if let Some(refused) = caller.owner(&MANAGE, "broadcaster_id", q(query, "broadcaster_id")) {
        return refused;
    }
    let id = q(query, "id").unwrap_or_default();
    let mut ch = st.channel();
    let title_taken = |title: &str, rewards: &[FakeReward]| {
        rewards
            .iter()
            .any(|r| r.id != id && r.title.eq_ignore_ascii_case(title))
    };
    if let Some(t) = body["title"].as_str()
        && title_taken(t.trim(), &ch.rewards)
    {
        return bad("UPDATE_CUSTOM_REWARD_DUPLICATE_REWARD");
    }
    let Some(reward) = ch.rewards.iter_mut().find(|r| r.id == id) else {
        return error(StatusCode::NOT_FOUND, "The custom reward was not found.");
    };
    if reward.client != caller.client {
        return error(
            StatusCode::FORBIDDEN,
            "The ID in the Client-Id header must match the client ID used to create the custom reward.",
        );
    }
    let mut changed = reward.clone();
    if let Err(message) = apply(&mut changed, body) {
        return bad(&message);
    }
    *reward = changed;
    data(vec![reward_json(reward)])
}

/// `PATCH /channel_points/custom_rewards/redemptions`: an unfulfilled redemption of a reward
/// the caller's client created becomes `FULFILLED` or `CANCELED` (the points go back).
pub(super) fn settle(
    st: &ApiState,
    query: &[(String, String)],
    body: &Value,
    caller: &Caller<'_>,
) -> Response {
    if let Some(refused) = caller.owner(&MANAGE, "broadcaster_id", q(query, "broadcaster_id")) {
        return refused;
    }
    let status = body["status"].as_str().unwrap_or_default();
    if !["FULFILLED", "CANCELED"].contains(&status) {
        return bad("The status field must be FULFILLED or CANCELED.");
    }
    let reward_id = q(query, "reward_id").unwrap_or_default();
    let mut ch = st.channel();
    let Some(reward) = ch.rewards.iter().find(|r| r.id == reward_id) else {
        return error(StatusCode::NOT_FOUND, "The custom reward was not found.");
    };
    if reward.client != caller.client {
        return error(
            StatusCode::FORBIDDEN,
            "The ID in the Client-Id header must match the client ID used to create the custom reward.",
        );
    }
    let reward = reward.clone();
    let ids: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| v.as_str())
        .collect();
    let Some(r) = ch.redemptions.iter_mut().find(|r| {
        ids.contains(&r.id.as_str()) && r.reward_id == reward_id && r.status == "UNFULFILLED"
    }) else {
        return error(
            StatusCode::NOT_FOUND,
            "No unfulfilled redemption with that id was found for the reward.",
        );
    };
    r.status = status.to_string();
    let v = json!({"broadcaster_id": BROADCASTER_ID, "id": r.id, "user_id": r.user_id,
        "user_input": "", "status": r.status, "redeemed_at": "2026-01-01T00:00:00Z",
        "reward": {"id": reward.id, "title": reward.title, "prompt": reward.prompt, "cost": reward.cost}});
    (StatusCode::OK, axum::Json(json!({"data": [v]}))).into_response()
}
