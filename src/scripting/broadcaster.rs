//! What scripts may ask of the broadcaster's channel (`ctx.twitch.set_title`, polls,
//! predictions, clips, raids, ...): the [`BroadcasterApi`] trait the app implements over Helix.
//! Answers are JSON values already shaped for scripts; errors are the text a script sees.

use serde_json::Value;

/// How a script ends the running prediction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PredictionStop {
    /// No more predictions; the result comes later.
    Lock,
    /// Everyone gets their points back.
    Cancel,
    /// Pays out to the outcome with this title (any case) or id.
    Resolve(String),
}

/// The broadcaster's tools. Each call blocks on the network: the ctx API calls them through
/// [`super::engine::network_call`].
pub trait BroadcasterApi: Send + Sync {
    /// Sets the stream title.
    fn set_title(&self, title: &str) -> Result<(), String>;
    /// Sets the category best matching `name`; returns its name as Twitch spells it.
    fn set_category(&self, name: &str) -> Result<String, String>;
    /// Adds a stream marker: `#{ id, description, position }` (seconds into the stream).
    fn create_marker(&self, description: &str) -> Result<Value, String>;
    /// Starts a clip: `#{ id, edit_url, url }` at once; `events/clip_ready.rhai` runs when
    /// Twitch has made it or given up. `by` is the login of who asked (`""` if nobody).
    fn create_clip(&self, by: &str) -> Result<Value, String>;
    /// The next `n` scheduled streams: `[#{ title, start, start_time, category }]`.
    fn schedule(&self, n: u32) -> Result<Value, String>;
    /// The channel's follower count.
    fn followers_count(&self) -> Result<u64, String>;
    /// The channel's subscriber count.
    fn subscribers_count(&self) -> Result<u64, String>;
    /// The logins in chat now.
    fn chatters(&self) -> Result<Vec<String>, String>;
    /// Whispers from the bot account.
    fn whisper(&self, login: &str, text: &str) -> Result<(), String>;
    /// Starts a raid on the channel `login`.
    fn raid(&self, login: &str) -> Result<(), String>;
    /// Cancels the raid about to start.
    fn cancel_raid(&self) -> Result<(), String>;
    /// Starts a poll: `#{ id, title, status, duration, choices: [#{ id, title, votes }] }`.
    fn create_poll(&self, title: &str, choices: &[String], secs: u64) -> Result<Value, String>;
    /// The running poll, `None` when none runs.
    fn poll(&self) -> Result<Option<Value>, String>;
    /// Ends the running poll, its results shown (or hidden with `archive`); returns it.
    fn end_poll(&self, archive: bool) -> Result<Value, String>;
    /// Starts a prediction: `#{ id, title, status, window, outcomes: [#{ id, title, users,
    /// points }] }`.
    fn create_prediction(
        &self,
        title: &str,
        outcomes: &[String],
        secs: u64,
    ) -> Result<Value, String>;
    /// The prediction running or locked, `None` when there is none.
    fn prediction(&self) -> Result<Option<Value>, String>;
    /// Locks, cancels or resolves the prediction running or locked; returns it.
    fn end_prediction(&self, how: PredictionStop) -> Result<Value, String>;

    /// Whether the bot created the reward `reward_id` (only then may it fulfil or refund).
    fn owns_reward(&self, reward_id: &str) -> bool;
    /// Marks a redemption of a reward the bot created fulfilled, or refunds it (`CANCELED`).
    fn settle_redemption(
        &self,
        reward_id: &str,
        redemption_id: &str,
        fulfil: bool,
    ) -> Result<(), String>;
    /// A reward script's run for a redemption ended (`ok`: it succeeded). Without waiting: a
    /// redemption the script did not settle is fulfilled, or refunded when the run failed;
    /// one of a reward the bot did not create is left alone (and said so).
    fn redemption_run_ended(&self, reward_id: &str, redemption_id: &str, ok: bool);
}

/// The redemption a run is about: `(reward_id, redemption_id)` from its channel event.
pub fn redemption_of(event: Option<&Value>) -> Option<(String, String)> {
    let e = event?;
    let reward = e.get("reward_id")?.as_str()?;
    let redemption = e.get("redemption_id")?.as_str()?;
    (!reward.is_empty() && !redemption.is_empty())
        .then(|| (reward.to_string(), redemption.to_string()))
}

/// After a reward script's run: tells the broadcaster's tools how a redemption's run ended.
pub(crate) fn after_run(services: &super::Services, event: Option<&Value>, ok: bool) {
    let Some((reward, redemption)) = redemption_of(event) else {
        return;
    };
    if let Some(api) = &services.twitch
        && let Some(tools) = api.broadcaster()
    {
        tools.redemption_run_ended(&reward, &redemption, ok);
    }
}
