//! The simulated Twitch's polls and predictions (`/polls`, `/predictions`): Twitch's shapes,
//! scopes and limits (a poll's title of 1–60 characters, 2–5 choices of 1–25, 15–1800 s; a
//! prediction's title of 1–45, 2–10 outcomes, a 30–1800 s window; one of each at a time), the
//! statuses Twitch moves them through on its own (a poll completes when its time is up, a
//! prediction locks when its window closes), and the EventSub notifications they cause.

use std::time::{Duration, Instant};

use axum::response::Response;
use serde_json::{Value, json};

use super::broadcaster::{Caller, Channel, bad, chars, data, now_rfc3339, q};
use super::helix::{ApiState, BROADCASTER_ID};

/// The longest poll title.
pub const MAX_POLL_TITLE: usize = 60;
/// The longest choice or outcome title.
pub const MAX_CHOICE_TITLE: usize = 25;
/// The longest prediction title.
pub const MAX_PREDICTION_TITLE: usize = 45;

/// A poll as the fake keeps it.
#[derive(Debug, Clone)]
pub struct FakePoll {
    /// The poll's id.
    pub id: String,
    /// The question.
    pub title: String,
    /// (id, title, votes)
    pub choices: Vec<(String, String, u64)>,
    /// `ACTIVE` until it ends, then `COMPLETED` or `TERMINATED` (and later `ARCHIVED`).
    pub status: String,
    /// How long it runs, in seconds.
    pub duration: u64,
    /// When it started, for ending it on time.
    pub started: Instant,
    /// When it started (RFC 3339), as Helix reports it.
    pub started_at: String,
    /// Whether `channel.poll.end` went out for it.
    pub told_end: bool,
}

/// A prediction as the fake keeps it.
#[derive(Debug, Clone)]
pub struct FakePrediction {
    /// The prediction's id.
    pub id: String,
    /// The question.
    pub title: String,
    /// (id, title)
    pub outcomes: Vec<(String, String)>,
    /// How long viewers may predict, in seconds.
    pub window: u64,
    /// `ACTIVE`, `LOCKED`, `RESOLVED` or `CANCELED`.
    pub status: String,
    /// The outcome that won, once resolved.
    pub winning_outcome_id: Option<String>,
    /// When it started, for locking it on time.
    pub created: Instant,
    /// When it started (RFC 3339), as Helix reports it.
    pub created_at: String,
}

impl Channel {
    /// Polls whose time is up are completed and predictions whose window has passed are
    /// locked, as Twitch does on its own.
    pub(super) fn settle(&mut self, now: Instant) {
        for p in &mut self.polls {
            if p.status == "ACTIVE" && now >= p.started + Duration::from_secs(p.duration) {
                p.status = "COMPLETED".into();
            }
        }
        for p in &mut self.predictions {
            if p.status == "ACTIVE" && now >= p.created + Duration::from_secs(p.window) {
                p.status = "LOCKED".into();
                self.outbox.push(prediction_event(p));
            }
        }
    }

    /// `channel.poll.end` for each poll that ended since the last call.
    pub(super) fn poll_end_events(&mut self) -> Vec<(&'static str, Value)> {
        let mut out = Vec::new();
        for p in &mut self.polls {
            if p.status != "ACTIVE" && !p.told_end {
                p.told_end = true;
                out.push(("channel.poll.end", poll_event(p)));
            }
        }
        out
    }
}

fn broadcaster_fields(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.insert("broadcaster_user_id".into(), json!(BROADCASTER_ID));
        o.insert("broadcaster_user_login".into(), json!("mychannel"));
        o.insert("broadcaster_user_name".into(), json!("MyChannel"));
    }
    v
}

/// `channel.poll.begin` (while active) or `channel.poll.end` as Twitch sends them.
fn poll_event(p: &FakePoll) -> Value {
    let choices: Vec<Value> = p
        .choices
        .iter()
        .map(|(id, title, votes)| {
            json!({"id": id, "title": title, "votes": votes, "channel_points_votes": 0, "bits_votes": 0})
        })
        .collect();
    let mut v = json!({"id": p.id, "title": p.title, "choices": choices,
        "bits_voting": {"is_enabled": false, "amount_per_vote": 0},
        "channel_points_voting": {"is_enabled": false, "amount_per_vote": 0},
        "started_at": p.started_at});
    if p.status == "ACTIVE" {
        v["ends_at"] = json!(now_rfc3339());
    } else {
        v["status"] = json!(p.status.to_lowercase());
        v["ended_at"] = json!(now_rfc3339());
    }
    broadcaster_fields(v)
}

/// `channel.prediction.begin`, `.lock` or `.end` as Twitch sends them.
fn prediction_event(p: &FakePrediction) -> (&'static str, Value) {
    let outcomes: Vec<Value> = p
        .outcomes
        .iter()
        .enumerate()
        .map(|(i, (id, title))| {
            json!({"id": id, "title": title, "color": if i == 0 { "blue" } else { "pink" },
            "users": 0, "channel_points": 0, "top_predictors": []})
        })
        .collect();
    let mut v =
        json!({"id": p.id, "title": p.title, "outcomes": outcomes, "started_at": p.created_at});
    let kind = match p.status.as_str() {
        "ACTIVE" => {
            v["locks_at"] = json!(now_rfc3339());
            "channel.prediction.begin"
        }
        "LOCKED" => {
            v["locked_at"] = json!(now_rfc3339());
            "channel.prediction.lock"
        }
        _ => {
            v["winning_outcome_id"] = json!(p.winning_outcome_id);
            v["status"] = json!(p.status.to_lowercase());
            v["ended_at"] = json!(now_rfc3339());
            "channel.prediction.end"
        }
    };
    (kind, broadcaster_fields(v))
}

fn poll_json(p: &FakePoll) -> Value {
    let choices: Vec<Value> = p
        .choices
        .iter()
        .map(|(id, title, votes)| {
            json!({"id": id, "title": title, "votes": votes,
            "channel_points_votes": 0, "bits_votes": 0})
        })
        .collect();
    let ended = (p.status != "ACTIVE").then(now_rfc3339);
    json!({"id": p.id, "broadcaster_id": BROADCASTER_ID, "broadcaster_name": "", "broadcaster_login": "",
        "title": p.title, "choices": choices, "bits_voting_enabled": false, "bits_per_vote": 0,
        "channel_points_voting_enabled": false, "channel_points_per_vote": 0, "status": p.status,
        "duration": p.duration, "started_at": p.started_at, "ended_at": ended})
}

/// Titles of 1 to `max` characters, `min..=most` of them, from `items[*].title`.
fn titles(items: &Value, field: &str, min: usize, most: usize) -> Result<Vec<String>, String> {
    let Some(list) = items.as_array() else {
        return Err(format!("Missing required field \"{field}\""));
    };
    if !(min..=most).contains(&list.len()) {
        return Err(format!(
            "The {field} field must contain from {min} through {most} items, not {}.",
            list.len()
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        match chars(&item["title"]) {
            Some((t, n)) if !t.trim().is_empty() && n <= MAX_CHOICE_TITLE => out.push(t),
            _ => {
                return Err(format!(
                    "Each title in {field} must be 1 through {MAX_CHOICE_TITLE} characters."
                ));
            }
        }
    }
    Ok(out)
}

fn title_of(body: &Value, most: usize) -> Result<String, String> {
    match chars(&body["title"]) {
        Some((t, n)) if !t.trim().is_empty() && n <= most => Ok(t),
        _ => Err(format!(
            "The title field must be 1 through {most} characters."
        )),
    }
}

/// A whole number of seconds in `range`, from `body[field]`.
fn seconds(body: &Value, field: &str, range: std::ops::RangeInclusive<u64>) -> Result<u64, String> {
    match body[field].as_u64() {
        Some(s) if range.contains(&s) => Ok(s),
        _ => Err(format!(
            "The {field} field must be from {} through {} seconds.",
            range.start(),
            range.end()
        )),
    }
}

/// `POST /polls`: a title of 1–60 characters, 2–5 choices of 1–25, 15–1800 s, one at a time.
pub(super) fn create_poll(st: &ApiState, body: &Value, caller: &Caller<'_>) -> Response {
    if let Some(refused) = caller.owner(
        &["channel:manage:polls"],
        "broadcaster_id",
        body["broadcaster_id"].as_str(),
    ) {
        return refused;
    }
    let checked = title_of(body, MAX_POLL_TITLE).and_then(|title| {
        let choices = titles(&body["choices"], "choices", 2, 5)?;
        let duration = seconds(body, "duration", 15..=1800)?;
        Ok((title, choices, duration))
    });
    let (title, choices, duration) = match checked {
        Ok(ok) => ok,
        Err(message) => return bad(&message),
    };
    let mut ch = st.channel();
    ch.settle(Instant::now());
    if ch.polls.iter().any(|p| p.status == "ACTIVE") {
        return bad(
            "The broadcaster already has a poll that's running; you may not create another poll until the current poll completes.",
        );
    }
    let id = ch.next_id("poll");
    let choices = choices
        .into_iter()
        .map(|t| (ch.next_id("choice"), t, 0))
        .collect();
    let poll = FakePoll {
        id,
        title,
        choices,
        status: "ACTIVE".into(),
        duration,
        started: Instant::now(),
        started_at: now_rfc3339(),
        told_end: false,
    };
    let v = poll_json(&poll);
    ch.outbox.push(("channel.poll.begin", poll_event(&poll)));
    ch.timers.push(Duration::from_secs(duration));
    ch.polls.push(poll);
    data(vec![v])
}

/// `GET /polls`: newest first, or the ones named by `id`.
pub(super) fn get_polls(
    st: &ApiState,
    query: &[(String, String)],
    caller: &Caller<'_>,
) -> Response {
    if let Some(refused) = caller.owner(
        &["channel:read:polls", "channel:manage:polls"],
        "broadcaster_id",
        q(query, "broadcaster_id"),
    ) {
        return refused;
    }
    let first = q(query, "first")
        .and_then(|f| f.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 20);
    let ids: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut ch = st.channel();
    ch.settle(Instant::now());
    data(
        ch.polls
            .iter()
            .rev()
            .filter(|p| ids.is_empty() || ids.contains(&p.id.as_str()))
            .take(first)
            .map(poll_json)
            .collect(),
    )
}

/// `PATCH /polls`: an active poll ends `TERMINATED` (results shown) or `ARCHIVED`.
pub(super) fn end_poll(st: &ApiState, body: &Value, caller: &Caller<'_>) -> Response {
    if let Some(refused) = caller.owner(
        &["channel:manage:polls"],
        "broadcaster_id",
        body["broadcaster_id"].as_str(),
    ) {
        return refused;
    }
    let status = body["status"].as_str().unwrap_or_default();
    if !["TERMINATED", "ARCHIVED"].contains(&status) {
        return bad("The status field must be TERMINATED or ARCHIVED.");
    }
    let id = body["id"].as_str().unwrap_or_default();
    let mut ch = st.channel();
    ch.settle(Instant::now());
    let Some(poll) = ch.polls.iter_mut().find(|p| p.id == id) else {
        return bad("The poll in the id field was not found.");
    };
    if poll.status != "ACTIVE" {
        return bad("The poll in the id field is not active.");
    }
    poll.status = status.to_string();
    data(vec![poll_json(poll)])
}

fn prediction_json(p: &FakePrediction) -> Value {
    let outcomes: Vec<Value> = p
        .outcomes
        .iter()
        .enumerate()
        .map(|(i, (id, title))| {
            json!({"id": id, "title": title, "users": 0, "channel_points": 0,
            "top_predictors": Value::Null, "color": if i == 0 { "BLUE" } else { "PINK" }})
        })
        .collect();
    let ended = ["RESOLVED", "CANCELED"]
        .contains(&p.status.as_str())
        .then(now_rfc3339);
    json!({"id": p.id, "broadcaster_id": BROADCASTER_ID, "broadcaster_name": "", "broadcaster_login": "",
        "title": p.title, "winning_outcome_id": p.winning_outcome_id, "outcomes": outcomes,
        "prediction_window": p.window, "status": p.status, "created_at": p.created_at,
        "ended_at": ended, "locked_at": Value::Null})
}

/// `POST /predictions`: a title of 1–45 characters, 2–10 outcomes of 1–25, a 30–1800 s window,
/// one at a time (active or locked).
pub(super) fn create_prediction(st: &ApiState, body: &Value, caller: &Caller<'_>) -> Response {
    if let Some(refused) = caller.owner(
        &["channel:manage:predictions"],
        "broadcaster_id",
        body["broadcaster_id"].as_str(),
    ) {
        return refused;
    }
    let checked = title_of(body, MAX_PREDICTION_TITLE).and_then(|title| {
        let outcomes = titles(&body["outcomes"], "outcomes", 2, 10)?;
        let window = seconds(body, "prediction_window", 30..=1800)?;
        Ok((title, outcomes, window))
    });
    let (title, outcomes, window) = match checked {
        Ok(ok) => ok,
        Err(message) => return bad(&message),
    };
    let mut ch = st.channel();
    ch.settle(Instant::now());
    if ch
        .predictions
        .iter()
        .any(|p| p.status == "ACTIVE" || p.status == "LOCKED")
    {
        return bad(
            "The broadcaster already has a prediction that's running; you may not create another until it is resolved or canceled.",
        );
    }
    let id = ch.next_id("prediction");
    let outcomes = outcomes
        .into_iter()
        .map(|t| (ch.next_id("outcome"), t))
        .collect();
    let p = FakePrediction {
        id,
        title,
        outcomes,
        window,
        status: "ACTIVE".into(),
        winning_outcome_id: None,
        created: Instant::now(),
        created_at: now_rfc3339(),
    };
    let v = prediction_json(&p);
    ch.outbox.push(prediction_event(&p));
    ch.timers.push(Duration::from_secs(window));
    ch.predictions.push(p);
    data(vec![v])
}

/// `GET /predictions`: newest first.
pub(super) fn get_predictions(
    st: &ApiState,
    query: &[(String, String)],
    caller: &Caller<'_>,
) -> Response {
    if let Some(refused) = caller.owner(
        &["channel:read:predictions", "channel:manage:predictions"],
        "broadcaster_id",
        q(query, "broadcaster_id"),
    ) {
        return refused;
    }
    let first = q(query, "first")
        .and_then(|f| f.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 25);
    let mut ch = st.channel();
    ch.settle(Instant::now());
    data(
        ch.predictions
            .iter()
            .rev()
            .take(first)
            .map(prediction_json)
            .collect(),
    )
}

/// `PATCH /predictions`: `LOCKED` from active; `CANCELED` from active or locked; `RESOLVED`
/// from active or locked with one of its outcomes as `winning_outcome_id`.
pub(super) fn end_prediction(st: &ApiState, body: &Value, caller: &Caller<'_>) -> Response {
    if let Some(refused) = caller.owner(
        &["channel:manage:predictions"],
        "broadcaster_id",
        body["broadcaster_id"].as_str(),
    ) {
        return refused;
    }
    let status = body["status"].as_str().unwrap_or_default();
    let id = body["id"].as_str().unwrap_or_default();
    let mut ch = st.channel();
    ch.settle(Instant::now());
    let Some(p) = ch.predictions.iter_mut().find(|p| p.id == id) else {
        return bad("The prediction in the id field was not found.");
    };
    let open = p.status == "ACTIVE" || p.status == "LOCKED";
    match status {
        "LOCKED" if p.status == "ACTIVE" => {}
        "CANCELED" if open => {}
        "RESOLVED" if open => {
            let winner = body["winning_outcome_id"].as_str().unwrap_or_default();
            if !p.outcomes.iter().any(|(o, _)| o == winner) {
                return bad(
                    "The winning_outcome_id field must name one of the prediction's outcomes.",
                );
            }
            p.winning_outcome_id = Some(winner.to_string());
        }
        "LOCKED" | "CANCELED" | "RESOLVED" => {
            return bad(&format!(
                "A {} prediction cannot be set to {status}.",
                p.status.to_lowercase()
            ));
        }
        _ => return bad("The status field must be RESOLVED, CANCELED or LOCKED."),
    }
    p.status = status.to_string();
    let (answer, event) = (prediction_json(p), prediction_event(p));
    ch.outbox.push(event);
    data(vec![answer])
}
