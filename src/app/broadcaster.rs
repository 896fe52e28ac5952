//! The broadcaster's tools for scripts over the real Helix client ([`BroadcasterApi`] for
//! [`HelixForScripts`]); the clip watch, a task that asks Get Clips until Twitch has made a
//! new clip (or 15 s have passed, Twitch's word for "it failed") and then runs
//! `events/clip_ready.rhai`; and the channel-point rewards the bot owns: created and kept as
//! their reward scripts declare them ([`keep_rewards`]), their redemptions fulfilled after a
//! run and refunded after a failed one.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use serde_json::{Value, json};

use super::services::HelixForScripts;
use crate::scripting::ScriptHost;
use crate::scripting::broadcaster::{BroadcasterApi, PredictionStop};
use crate::scripting::loader::ChannelPointsReward;
use crate::twitch::broadcaster::{Poll, Prediction, PredictionEnd, RewardSpec};
use crate::twitch::helix::{Helix, HelixError, Priority};

/// The channel-point rewards the bot created, and the redemptions scripts settled themselves.
#[derive(Clone, Default)]
pub struct OwnedRewards {
    inner: Arc<Mutex<Owned>>,
}

#[derive(Default)]
struct Owned {
    ids: HashSet<String>,
    /// Redemptions a script fulfilled or refunded during its run.
    settled: HashSet<String>,
    /// Rewards not ours already said so in the log.
    told: HashSet<String>,
}

impl OwnedRewards {
    fn lock(&self) -> std::sync::MutexGuard<'_, Owned> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the bot created `reward_id`.
    pub fn owns(&self, reward_id: &str) -> bool {
        self.lock().ids.contains(reward_id)
    }

    /// The ids of the rewards the bot created.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().ids.iter().cloned().collect();
        ids.sort();
        ids
    }
}

/// What a reward script declares, as Twitch's create and update calls take it.
fn spec_of(r: &ChannelPointsReward) -> RewardSpec {
    RewardSpec {
        title: r.title.clone(),
        cost: r.cost,
        prompt: r.prompt.clone(),
        is_user_input_required: r.input_required,
        is_global_cooldown_enabled: r.cooldown > 0,
        global_cooldown_seconds: r.cooldown,
        should_redemptions_skip_request_queue: false,
    }
}

/// Creates each declared reward the bot has not created yet and updates the ones Twitch holds
/// differently; `owned` then holds their ids. Returns the failures, one line per reward.
///
/// # Errors
/// The list of the bot's rewards could not be read (then nothing changed).
pub async fn sync_rewards(
    helix: &Helix,
    declared: &[ChannelPointsReward],
    owned: &OwnedRewards,
) -> Result<Vec<String>, HelixError> {
    let ours = helix.own_rewards().await?;
    let mut ids: HashSet<String> = ours.iter().map(|r| r.id.clone()).collect();
    let mut failed = Vec::new();
    for want in declared {
        let spec = spec_of(want);
        let have = ours
            .iter()
            .find(|r| r.title.eq_ignore_ascii_case(&want.title));
        let result = match have {
            Some(r) if r.matches(&spec) => continue,
            Some(r) => helix.put_reward(Some(&r.id), &spec).await,
            None => helix.put_reward(None, &spec).await,
        };
        match result {
            Ok(r) => {
                tracing::info!(reward = %r.title, cost = r.cost, "channel-point reward {} on Twitch", if have.is_some() { "updated" } else { "created" });
                ids.insert(r.id);
            }
            Err(e) => failed.push(format!("channel-point reward \"{}\": {e}", want.title)),
        }
    }
    owned.lock().ids = ids;
    Ok(failed)
}

/// Keeps the rewards that reward scripts declare on Twitch: at start (once the channel's ids are
/// known) and after every change to the declarations, until `stop`.
pub async fn keep_rewards(
    helix: Helix,
    scripts: Arc<ScriptHost>,
    owned: OwnedRewards,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut synced: Option<Vec<ChannelPointsReward>> = None;
    let mut said = String::new();
    loop {
        let declared = scripts.declared_rewards();
        let mut wait = Duration::from_secs(5);
        if synced.as_ref() != Some(&declared) && !helix.ids().broadcaster_id.is_empty() {
            let result = if declared.is_empty() {
                Ok(Vec::new())
            } else {
                sync_rewards(&helix, &declared, &owned).await
            };
            match result {
                Ok(failed) => {
                    for f in &failed {
                        tracing::warn!("{f}");
                    }
                    synced = Some(declared);
                }
                Err(e) => {
                    let text = format!(
                        "the channel-point rewards the scripts declare cannot be kept on Twitch: {e}"
                    );
                    if text != said {
                        tracing::warn!("{text}");
                        said = text;
                    }
                    wait = Duration::from_secs(60);
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Where a finished clip is told, and how long Twitch gets to make it.
#[derive(Clone)]
pub struct ClipWatch {
    host: Arc<OnceLock<Weak<ScriptHost>>>,
    /// How long Get Clips is asked before the clip counts as failed (Twitch: 15 s).
    pub wait: Duration,
    /// The pause between two asks.
    pub every: Duration,
}

impl Default for ClipWatch {
    fn default() -> Self {
        ClipWatch {
            host: Arc::default(),
            wait: Duration::from_secs(15),
            every: Duration::from_secs(1),
        }
    }
}

impl ClipWatch {
    /// A watch asking every `every` for at most `wait`.
    pub fn new(wait: Duration, every: Duration) -> ClipWatch {
        ClipWatch {
            wait,
            every,
            ..ClipWatch::default()
        }
    }

    /// Sends finished clips to `host`'s `events/clip_ready.rhai` (set once, after the host
    /// starts: the host holds the services that hold this watch).
    pub fn attach(&self, host: &Arc<ScriptHost>) {
        let _ = self.host.set(Arc::downgrade(host));
    }

    fn tell(&self, event: Value) {
        if let Some(host) = self.host.get().and_then(Weak::upgrade) {
            host.handle_clip_ready(event);
        }
    }

    /// Asks Get Clips every `every` until the clip exists or `wait` has passed.
    async fn watch(self, helix: Helix, id: String, edit_url: String, by: String) {
        let started = tokio::time::Instant::now();
        let mut last_error = String::new();
        loop {
            tokio::time::sleep(self.every).await;
            match helix.clip(&id).await {
                Ok(Some(clip)) => {
                    self.tell(json!({"state": "ready", "id": clip.id, "url": clip.url,
                        "edit_url": edit_url, "title": clip.title, "by": by}));
                    return;
                }
                Ok(None) => {}
                Err(e) => last_error = e.to_string(),
            }
            if started.elapsed() >= self.wait {
                let reason = if last_error.is_empty() {
                    format!(
                        "Twitch did not make the clip within {} s",
                        self.wait.as_secs()
                    )
                } else {
                    last_error
                };
                tracing::warn!(clip = %id, "clip failed: {reason}");
                self.tell(
                    json!({"state": "failed", "id": id, "url": "", "edit_url": edit_url,
                    "title": "", "by": by, "reason": reason}),
                );
                return;
            }
        }
    }
}

fn poll_json(p: &Poll) -> Value {
    let total: u64 = p.choices.iter().map(|c| c.votes).sum();
    let winner = p
        .choices
        .iter()
        .filter(|c| c.votes > 0)
        .max_by_key(|c| c.votes)
        .map_or(String::new(), |c| c.title.clone());
    json!({"id": p.id, "title": p.title, "status": p.status, "duration": p.duration,
        "choices": p.choices, "total_votes": total, "winner": winner})
}

fn prediction_json(p: &Prediction) -> Value {
    let outcomes: Vec<Value> = p
        .outcomes
        .iter()
        .map(
            |o| json!({"id": o.id, "title": o.title, "users": o.users, "points": o.channel_points}),
        )
        .collect();
    let winner = p
        .winning_outcome_id
        .as_ref()
        .and_then(|w| p.outcomes.iter().find(|o| &o.id == w))
        .map_or(String::new(), |o| o.title.clone());
    json!({"id": p.id, "title": p.title, "status": p.status, "window": p.prediction_window,
        "outcomes": outcomes, "winner": winner})
}

fn unix(rfc3339: &str) -> i64 {
    humantime::parse_rfc3339_weak(rfc3339)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

impl HelixForScripts {
    fn running_poll(&self) -> Result<Option<Poll>, String> {
        Ok(self
            .wait(self.helix.latest_poll())?
            .filter(|p| p.status == "ACTIVE"))
    }

    fn open_prediction(&self) -> Result<Option<Prediction>, String> {
        Ok(self
            .wait(self.helix.latest_prediction())?
            .filter(|p| p.status == "ACTIVE" || p.status == "LOCKED"))
    }
}

impl BroadcasterApi for HelixForScripts {
    fn owns_reward(&self, reward_id: &str) -> bool {
        self.rewards.owns(reward_id)
    }

    fn settle_redemption(
        &self,
        reward_id: &str,
        redemption_id: &str,
        fulfil: bool,
    ) -> Result<(), String> {
        self.wait(
            self.helix
                .settle_redemption(reward_id, redemption_id, fulfil),
        )?;
        self.rewards
            .lock()
            .settled
            .insert(redemption_id.to_string());
        Ok(())
    }

    fn redemption_run_ended(&self, reward_id: &str, redemption_id: &str, ok: bool) {
        if !self.rewards.owns(reward_id) {
            if self.rewards.lock().told.insert(reward_id.to_string()) {
                tracing::info!(reward = %reward_id, "this channel-point reward was made on Twitch, not by the bot: its redemptions cannot be refunded by the bot (declare CHANNEL_POINTS_COST in its script to let the bot create it)");
            }
            return;
        }
        if self.rewards.lock().settled.remove(redemption_id) {
            return;
        }
        let helix = self.helix.at(Priority::Background);
        let (reward, redemption) = (reward_id.to_string(), redemption_id.to_string());
        self.runtime.spawn(async move {
            let what = if ok { "fulfil" } else { "refund" };
            match helix.settle_redemption(&reward, &redemption, ok).await {
                Ok(()) => tracing::info!(reward = %reward, redemption = %redemption, "redemption {what}ed"),
                Err(e) => tracing::warn!(reward = %reward, redemption = %redemption, "cannot {what} the redemption: {e}"),
            }
        });
    }

    fn set_title(&self, title: &str) -> Result<(), String> {
        self.wait(self.helix.set_title(title))
    }

    fn set_category(&self, name: &str) -> Result<String, String> {
        match self.wait(self.helix.set_category(name))? {
            Some(c) => Ok(c.name),
            None => Err(format!("Twitch knows no category called `{name}`")),
        }
    }

    fn create_marker(&self, description: &str) -> Result<Value, String> {
        let m = self.wait(self.helix.add_marker(description))?;
        Ok(json!({"id": m.id, "description": m.description, "position": m.position_seconds}))
    }

    fn create_clip(&self, by: &str) -> Result<Value, String> {
        let created = self.wait(self.helix.create_clip())?;
        let url = format!("https://clips.twitch.tv/{}", created.id);
        let watch = self.clips.clone();
        self.runtime.spawn(watch.watch(
            self.helix.at(Priority::Background),
            created.id.clone(),
            created.edit_url.clone(),
            by.to_string(),
        ));
        Ok(json!({"id": created.id, "edit_url": created.edit_url, "url": url}))
    }

    fn schedule(&self, n: u32) -> Result<Value, String> {
        let segments = self.wait(self.helix.schedule(n))?;
        Ok(Value::Array(
            segments
                .into_iter()
                .map(|s| {
                    json!({"title": s.title, "start_time": s.start_time, "start": unix(&s.start_time),
                    "category": s.category.map(|c| c.name).unwrap_or_default(),
                    "canceled": s.canceled_until.is_some()})
                })
                .collect(),
        ))
    }

    fn followers_count(&self) -> Result<u64, String> {
        self.wait(self.helix.followers_count())
    }

    fn subscribers_count(&self) -> Result<u64, String> {
        self.wait(self.helix.subscribers_count())
    }

    fn chatters(&self) -> Result<Vec<String>, String> {
        self.wait(self.helix.chatter_logins())
    }

    fn whisper(&self, login: &str, text: &str) -> Result<(), String> {
        self.wait(self.helix.whisper_login(login, text))
    }

    fn raid(&self, login: &str) -> Result<(), String> {
        self.wait(self.helix.start_raid(login))
    }

    fn cancel_raid(&self) -> Result<(), String> {
        self.wait(self.helix.cancel_raid())
    }

    fn create_poll(&self, title: &str, choices: &[String], secs: u64) -> Result<Value, String> {
        let p = self.wait(self.helix.create_poll(title, choices, secs))?;
        Ok(poll_json(&p))
    }

    fn poll(&self) -> Result<Option<Value>, String> {
        Ok(self.running_poll()?.as_ref().map(poll_json))
    }

    fn end_poll(&self, archive: bool) -> Result<Value, String> {
        let Some(running) = self.running_poll()? else {
            return Err("no poll is running".into());
        };
        let p = self.wait(self.helix.end_poll(&running.id, archive))?;
        Ok(poll_json(&p))
    }

    fn create_prediction(
        &self,
        title: &str,
        outcomes: &[String],
        secs: u64,
    ) -> Result<Value, String> {
        let p = self.wait(self.helix.create_prediction(title, outcomes, secs))?;
        Ok(prediction_json(&p))
    }

    fn prediction(&self) -> Result<Option<Value>, String> {
        Ok(self.open_prediction()?.as_ref().map(prediction_json))
    }

    fn end_prediction(&self, how: PredictionStop) -> Result<Value, String> {
        let Some(open) = self.open_prediction()? else {
            return Err("no prediction is running".into());
        };
        let how = match how {
            PredictionStop::Lock => PredictionEnd::Lock,
            PredictionStop::Cancel => PredictionEnd::Cancel,
            PredictionStop::Resolve(outcome) => {
                let Some(o) = open
                    .outcomes
                    .iter()
                    .find(|o| o.id == outcome || o.title.eq_ignore_ascii_case(&outcome))
                else {
                    let names: Vec<&str> = open.outcomes.iter().map(|o| o.title.as_str()).collect();
                    return Err(format!(
                        "the prediction has no outcome `{outcome}`; its outcomes are {}",
                        names.join(", ")
                    ));
                };
                PredictionEnd::Resolve(o.id.clone())
            }
        };
        let p = self.wait(self.helix.end_prediction(&open.id, &how))?;
        Ok(prediction_json(&p))
    }
}
