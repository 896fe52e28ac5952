//! The broadcaster's tools on Helix: title and category, stream markers, clips, the schedule,
//! follower and subscriber counts, raids, polls, predictions and the channel-point rewards the
//! bot owns. Every call first checks its grant holds the scope [`scopes::TOOL_CALLS`] names, so
//! a missing scope is refused with its name before Twitch is asked.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::Account;
use super::helix::{ChannelPatch, Helix, HelixError, Page, first_of, page};
use super::scopes;

/// `GET /search/categories`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Category {
    /// The category's id, for `PATCH /channels` (`game_id`).
    pub id: String,
    /// The category's name as Twitch shows it.
    pub name: String,
}

/// `POST /streams/markers`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Marker {
    /// The marker's id.
    pub id: String,
    /// The note the marker carries (at most 140 characters).
    #[serde(default)]
    pub description: String,
    /// Where in the stream the marker sits, in seconds from its start.
    #[serde(default)]
    pub position_seconds: u64,
}

/// `POST /clips`: the clip exists a few seconds later.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct CreatedClip {
    /// The clip's id; `GET /clips` finds it once Twitch has made it.
    pub id: String,
    /// Where the broadcaster can trim the clip.
    pub edit_url: String,
}

/// `GET /clips`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Clip {
    /// The clip's id.
    pub id: String,
    /// The clip's page, to share in chat.
    pub url: String,
    /// The clip's title (the stream's title when made).
    #[serde(default)]
    pub title: String,
    /// When the clip was made (RFC 3339).
    #[serde(default)]
    pub created_at: String,
}

/// One stream of `GET /schedule`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Segment {
    /// The segment's id, to update or cancel it.
    pub id: String,
    /// When the stream starts (RFC 3339).
    pub start_time: String,
    /// When it ends, if the broadcaster set an end.
    #[serde(default)]
    pub end_time: Option<String>,
    /// The stream's planned title.
    #[serde(default)]
    pub title: String,
    /// When the segment is cancelled, until when (RFC 3339).
    #[serde(default)]
    pub canceled_until: Option<String>,
    /// The planned category.
    #[serde(default)]
    pub category: Option<Category>,
    /// Whether the segment repeats every week.
    #[serde(default)]
    pub is_recurring: bool,
}

/// A poll as `GET|POST|PATCH /polls` answer it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Poll {
    /// The poll's id, to end it.
    pub id: String,
    /// The question.
    pub title: String,
    /// The choices with their votes so far.
    pub choices: Vec<PollChoice>,
    /// `ACTIVE`, `COMPLETED`, `TERMINATED`, `ARCHIVED`, `MODERATED` or `INVALID`.
    pub status: String,
    /// How long the poll runs, in seconds.
    pub duration: u64,
    /// When it started (RFC 3339).
    #[serde(default)]
    pub started_at: String,
    /// When it ended, once it has.
    #[serde(default)]
    pub ended_at: Option<String>,
}

/// One choice of a [`Poll`].
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PollChoice {
    /// The choice's id.
    pub id: String,
    /// The choice's text.
    pub title: String,
    /// Votes for it so far (channel-point votes included).
    #[serde(default)]
    pub votes: u64,
}

/// A prediction as `GET|POST|PATCH /predictions` answer it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Prediction {
    /// The prediction's id, to lock, resolve or cancel it.
    pub id: String,
    /// The question.
    pub title: String,
    /// The outcome that won, once resolved.
    #[serde(default)]
    pub winning_outcome_id: Option<String>,
    /// The outcomes with what was bet on them.
    pub outcomes: Vec<PredictionOutcome>,
    /// How long viewers may predict, in seconds.
    pub prediction_window: u64,
    /// `ACTIVE`, `LOCKED`, `RESOLVED` or `CANCELED`.
    pub status: String,
}

/// One outcome of a [`Prediction`].
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PredictionOutcome {
    /// The outcome's id, to resolve the prediction with it.
    pub id: String,
    /// The outcome's text.
    pub title: String,
    /// How many viewers bet on it.
    #[serde(default)]
    pub users: u64,
    /// How many channel points were bet on it.
    #[serde(default)]
    pub channel_points: u64,
}

/// How a prediction ends (`PATCH /predictions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PredictionEnd {
    /// No more predictions; the outcome comes later.
    Lock,
    /// Refunds every viewer's points.
    Cancel,
    /// Pays out to the outcome with this id.
    Resolve(String),
}

/// A channel-point reward as the bot creates it. Its redemptions wait in the reward's request
/// queue (never skipped), so the bot can fulfil or refund each one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RewardSpec {
    /// The reward's title (unique in the channel), which `scripts/rewards/` match on.
    pub title: String,
    /// What it costs in channel points.
    pub cost: u64,
    /// The prompt viewers see, and answer when input is required.
    pub prompt: String,
    /// Whether the viewer must type text to redeem it.
    pub is_user_input_required: bool,
    /// Whether one redemption holds the reward back for everyone for a while.
    pub is_global_cooldown_enabled: bool,
    /// That while, in seconds.
    pub global_cooldown_seconds: u64,
    /// Always `false` for the bot's rewards: redemptions wait so they can be fulfilled or refunded.
    pub should_redemptions_skip_request_queue: bool,
}

/// `GET|POST|PATCH /channel_points/custom_rewards`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Reward {
    /// The reward's id, which redemptions carry.
    pub id: String,
    /// The reward's title.
    pub title: String,
    /// What it costs in channel points.
    pub cost: u64,
    /// The prompt viewers see.
    #[serde(default)]
    pub prompt: String,
    /// Whether the viewer must type text to redeem it.
    #[serde(default)]
    pub is_user_input_required: bool,
    /// The reward's global cooldown.
    #[serde(default)]
    pub global_cooldown_setting: CooldownSetting,
    /// Whether redemptions skip the request queue (then they cannot be refunded).
    #[serde(default)]
    pub should_redemptions_skip_request_queue: bool,
}

/// A reward's global cooldown as Helix reports it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct CooldownSetting {
    /// Whether the cooldown is on.
    #[serde(default)]
    pub is_enabled: bool,
    /// The cooldown in seconds.
    #[serde(default)]
    pub global_cooldown_seconds: u64,
}

impl Reward {
    /// Whether Twitch's copy already is what `spec` asks.
    pub fn matches(&self, spec: &RewardSpec) -> bool {
        self.title == spec.title
            && self.cost == spec.cost
            && self.prompt == spec.prompt
            && self.is_user_input_required == spec.is_user_input_required
            && self.global_cooldown_setting.is_enabled == spec.is_global_cooldown_enabled
            && (!spec.is_global_cooldown_enabled
                || self.global_cooldown_setting.global_cooldown_seconds
                    == spec.global_cooldown_seconds)
            && !self.should_redemptions_skip_request_queue
    }
}

impl Helix {
    /// Refuses the call `name` when its grant is known and lacks the scope Twitch asks of it
    /// (a grant saved without its scopes is left to Twitch's own answer).
    fn need_scope(&self, name: &str) -> Result<Account, HelixError> {
        let Some((account, scope)) = scopes::tool_scope(name) else {
            return Ok(Account::Broadcaster);
        };
        let secrets = self.tokens().secrets();
        let grant = match account {
            Account::Bot => &secrets.bot,
            Account::Broadcaster => &secrets.broadcaster,
        };
        if !grant.scopes.is_empty() && !grant.scopes.iter().any(|s| s == scope) {
            return Err(HelixError::MissingScope {
                scope: scope.to_string(),
                account,
            });
        }
        Ok(account)
    }

    fn broadcaster_query(&self) -> Result<[(&'static str, String); 1], HelixError> {
        Ok([("broadcaster_id", self.need_ids()?.broadcaster_id)])
    }

    /// `PATCH /channels` with a new title.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn set_title(&self, title: &str) -> Result<(), HelixError> {
        self.need_scope("set_title")?;
        self.patch_channel(&ChannelPatch {
            title: Some(title.to_string()),
            game_id: None,
        })
        .await
    }

    /// `GET /search/categories?query=`: Twitch's matches, best first.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn search_categories(&self, query: &str) -> Result<Vec<Category>, HelixError> {
        let q = [("query", query.to_string()), ("first", "20".to_string())];
        let v = self
            .call(Account::Bot, Method::GET, "/search/categories", &q, None)
            .await?;
        Ok(page::<Category>("/search/categories", v)?.data)
    }

    /// Finds the category best matching `name` and sets it on the channel; returns it. `None`
    /// when Twitch knows no category by that name.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn set_category(&self, name: &str) -> Result<Option<Category>, HelixError> {
        self.need_scope("set_category")?;
        let found = self.search_categories(name).await?;
        let Some(best) = best_match(name, found) else {
            return Ok(None);
        };
        self.patch_channel(&ChannelPatch {
            title: None,
            game_id: Some(best.id.clone()),
        })
        .await?;
        Ok(Some(best))
    }

    /// `POST /streams/markers` (only while live; a description of at most 140 characters).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn add_marker(&self, description: &str) -> Result<Marker, HelixError> {
        let account = self.need_scope("create_marker")?;
        let ids = self.need_ids()?;
        let body = json!({"user_id": ids.broadcaster_id, "description": description});
        let v = self
            .call(account, Method::POST, "/streams/markers", &[], Some(&body))
            .await?;
        first_of(v, "/streams/markers")
    }

    /// `POST /clips?broadcaster_id=`: the id and edit URL at once; the clip itself exists
    /// when [`Helix::clip`] finds it.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn create_clip(&self) -> Result<CreatedClip, HelixError> {
        let account = self.need_scope("create_clip")?;
        let q = self.broadcaster_query()?;
        let v = self.call(account, Method::POST, "/clips", &q, None).await?;
        first_of(v, "/clips")
    }

    /// `GET /clips?id=`: `None` while Twitch has not made it (yet).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn clip(&self, id: &str) -> Result<Option<Clip>, HelixError> {
        let q = [("id", id.to_string())];
        let v = self
            .call(Account::Bot, Method::GET, "/clips", &q, None)
            .await?;
        Ok(page::<Clip>("/clips", v)?.data.into_iter().next())
    }

    /// `GET /schedule`: the next `first` streams (none when the channel has no schedule).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn schedule(&self, first: u32) -> Result<Vec<Segment>, HelixError> {
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("first", first.clamp(1, 25).to_string()),
        ];
        match self
            .call(Account::Bot, Method::GET, "/schedule", &q, None)
            .await
        {
            Ok(v) => {
                let segments = v["data"]["segments"].clone();
                if segments.is_null() {
                    return Ok(Vec::new());
                }
                serde_json::from_value(segments).map_err(|e| HelixError::Status {
                    status: 200,
                    path: "/schedule".into(),
                    message: format!("unreadable answer: {e}"),
                })
            }
            // Twitch answers 404 for a channel without a schedule.
            Err(e) if e.status() == Some(404) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// The channel's follower count (`total` of `GET /channels/followers`).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn followers_count(&self) -> Result<u64, HelixError> {
        self.need_scope("followers_count")?;
        Ok(self.followers(1).await?.0)
    }

    /// The channel's subscriber count (`total` of `GET /subscriptions`).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn subscribers_count(&self) -> Result<u64, HelixError> {
        let account = self.need_scope("subscribers_count")?;
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("first", "1".to_string()),
        ];
        let v = self
            .call(account, Method::GET, "/subscriptions", &q, None)
            .await?;
        let page: Page<Value> = page("/subscriptions", v)?;
        Ok(page.total.unwrap_or(0))
    }

    /// Every chatter's login, with the scope checked first.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn chatter_logins(&self) -> Result<Vec<String>, HelixError> {
        self.need_scope("chatters")?;
        Ok(self
            .chatters()
            .await?
            .into_iter()
            .map(|c| c.user_login)
            .collect())
    }

    /// Whispers `text` from the bot to the account `login`.
    ///
    /// # Errors
    /// See [`HelixError`]; a login Twitch does not know is a 404.
    pub async fn whisper_login(&self, login: &str, text: &str) -> Result<(), HelixError> {
        self.need_scope("whisper")?;
        let id = self.user_id(login).await?;
        self.whisper(&id, text).await
    }

    /// `POST /raids`: starts a raid on the channel `login` (Twitch counts down, then raids).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn start_raid(&self, login: &str) -> Result<(), HelixError> {
        let account = self.need_scope("raid")?;
        let to = self.user_id(login).await?;
        let ids = self.need_ids()?;
        let q = [
            ("from_broadcaster_id", ids.broadcaster_id),
            ("to_broadcaster_id", to),
        ];
        self.call(account, Method::POST, "/raids", &q, None)
            .await
            .map(drop)
    }

    /// `DELETE /raids`: cancels the raid counting down.
    ///
    /// # Errors
    /// See [`HelixError`]; no raid pending is Twitch's 404.
    pub async fn cancel_raid(&self) -> Result<(), HelixError> {
        let account = self.need_scope("cancel_raid")?;
        let q = self.broadcaster_query()?;
        self.call(account, Method::DELETE, "/raids", &q, None)
            .await
            .map(drop)
    }

    /// `POST /polls`.
    ///
    /// # Errors
    /// See [`HelixError`]; Twitch refuses out-of-range titles, choices and durations with 400.
    pub async fn create_poll(
        &self,
        title: &str,
        choices: &[String],
        duration_secs: u64,
    ) -> Result<Poll, HelixError> {
        let account = self.need_scope("create_poll")?;
        let ids = self.need_ids()?;
        let choices: Vec<Value> = choices.iter().map(|c| json!({"title": c})).collect();
        let body = json!({"broadcaster_id": ids.broadcaster_id, "title": title,
            "choices": choices, "duration": duration_secs});
        let v = self
            .call(account, Method::POST, "/polls", &[], Some(&body))
            .await?;
        first_of(v, "/polls")
    }

    /// The channel's newest poll, whatever its status (`None`: never one).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn latest_poll(&self) -> Result<Option<Poll>, HelixError> {
        let account = self.need_scope("poll")?;
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("first", "1".into()),
        ];
        let v = self.call(account, Method::GET, "/polls", &q, None).await?;
        Ok(page::<Poll>("/polls", v)?.data.into_iter().next())
    }

    /// `PATCH /polls`: ends poll `id`, its results shown (`TERMINATED`) or hidden (`ARCHIVED`).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn end_poll(&self, id: &str, archive: bool) -> Result<Poll, HelixError> {
        let account = self.need_scope("end_poll")?;
        let ids = self.need_ids()?;
        let status = if archive { "ARCHIVED" } else { "TERMINATED" };
        let body = json!({"broadcaster_id": ids.broadcaster_id, "id": id, "status": status});
        let v = self
            .call(account, Method::PATCH, "/polls", &[], Some(&body))
            .await?;
        first_of(v, "/polls")
    }

    /// `POST /predictions`.
    ///
    /// # Errors
    /// See [`HelixError`]; Twitch refuses out-of-range outcomes and windows with 400.
    pub async fn create_prediction(
        &self,
        title: &str,
        outcomes: &[String],
        window_secs: u64,
    ) -> Result<Prediction, HelixError> {
        let account = self.need_scope("create_prediction")?;
        let ids = self.need_ids()?;
        let outcomes: Vec<Value> = outcomes.iter().map(|c| json!({"title": c})).collect();
        let body = json!({"broadcaster_id": ids.broadcaster_id, "title": title,
            "outcomes": outcomes, "prediction_window": window_secs});
        let v = self
            .call(account, Method::POST, "/predictions", &[], Some(&body))
            .await?;
        first_of(v, "/predictions")
    }

    /// The channel's newest prediction, whatever its status.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn latest_prediction(&self) -> Result<Option<Prediction>, HelixError> {
        let account = self.need_scope("prediction")?;
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("first", "1".into()),
        ];
        let v = self
            .call(account, Method::GET, "/predictions", &q, None)
            .await?;
        Ok(page::<Prediction>("/predictions", v)?
            .data
            .into_iter()
            .next())
    }

    /// `PATCH /predictions`: locks, cancels or resolves prediction `id`.
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn end_prediction(
        &self,
        id: &str,
        how: &PredictionEnd,
    ) -> Result<Prediction, HelixError> {
        let account = self.need_scope("end_prediction")?;
        let ids = self.need_ids()?;
        let mut body = json!({"broadcaster_id": ids.broadcaster_id, "id": id});
        body["status"] = json!(match how {
            PredictionEnd::Lock => "LOCKED",
            PredictionEnd::Cancel => "CANCELED",
            PredictionEnd::Resolve(_) => "RESOLVED",
        });
        if let PredictionEnd::Resolve(outcome) = how {
            body["winning_outcome_id"] = json!(outcome);
        }
        let v = self
            .call(account, Method::PATCH, "/predictions", &[], Some(&body))
            .await?;
        first_of(v, "/predictions")
    }

    /// The channel-point rewards this client id created (`only_manageable_rewards`).
    ///
    /// # Errors
    /// See [`HelixError`].
    pub async fn own_rewards(&self) -> Result<Vec<Reward>, HelixError> {
        let account = self.need_scope("create_reward")?;
        let ids = self.need_ids()?;
        let q = [
            ("broadcaster_id", ids.broadcaster_id),
            ("only_manageable_rewards", "true".to_string()),
        ];
        let path = "/channel_points/custom_rewards";
        let v = self.call(account, Method::GET, path, &q, None).await?;
        Ok(page::<Reward>(path, v)?.data)
    }

    /// `POST /channel_points/custom_rewards`, or `PATCH` of the reward `id`.
    ///
    /// # Errors
    /// See [`HelixError`]; a title another reward has is Twitch's 400.
    pub async fn put_reward(
        &self,
        id: Option<&str>,
        spec: &RewardSpec,
    ) -> Result<Reward, HelixError> {
        let account = self.need_scope("create_reward")?;
        let ids = self.need_ids()?;
        let mut q = vec![("broadcaster_id", ids.broadcaster_id)];
        let method = match id {
            Some(id) => {
                q.push(("id", id.to_string()));
                Method::PATCH
            }
            None => Method::POST,
        };
        let path = "/channel_points/custom_rewards";
        let body = serde_json::to_value(spec).unwrap_or(Value::Null);
        let v = self.call(account, method, path, &q, Some(&body)).await?;
        first_of(v, path)
    }

    /// Fulfils or refunds (`CANCELED`) a redemption, with the scope checked first.
    ///
    /// # Errors
    /// See [`HelixError`]; a reward this client id did not create is Twitch's 403.
    pub async fn settle_redemption(
        &self,
        reward_id: &str,
        redemption_id: &str,
        fulfil: bool,
    ) -> Result<(), HelixError> {
        self.need_scope("update_redemption")?;
        self.update_redemption(reward_id, redemption_id, fulfil)
            .await
    }

    /// The user id of `login`; a login Twitch does not know is a 404.
    async fn user_id(&self, login: &str) -> Result<String, HelixError> {
        let login = login.trim().trim_start_matches('@').to_ascii_lowercase();
        self.users(&[login.as_str()])
            .await?
            .into_iter()
            .next()
            .map(|u| u.id)
            .ok_or_else(|| HelixError::Status {
                status: 404,
                path: "/users".into(),
                message: format!("Twitch knows no user `{login}`"),
            })
    }
}

/// The category best matching `name`: the same name ignoring case, else one starting with it,
/// else Twitch's first answer.
pub fn best_match(name: &str, found: Vec<Category>) -> Option<Category> {
    let want = name.trim().to_lowercase();
    let exact = found.iter().position(|c| c.name.to_lowercase() == want);
    let prefix = || {
        found
            .iter()
            .position(|c| c.name.to_lowercase().starts_with(&want))
    };
    let at = exact.or_else(prefix).unwrap_or(0);
    found.into_iter().nth(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(id: &str, name: &str) -> Category {
        Category {
            id: id.into(),
            name: name.into(),
        }
    }

    #[test]
    fn the_exact_name_wins_over_twitchs_order() {
        let found = vec![cat("1", "Minecraft Dungeons"), cat("2", "Minecraft")];
        assert_eq!(
            best_match("minecraft", found).map(|c| c.id),
            Some("2".into())
        );
        let found = vec![cat("1", "Art"), cat("2", "Just Chatting")];
        assert_eq!(best_match("just", found).map(|c| c.id), Some("2".into()));
        assert_eq!(best_match("x", Vec::new()), None);
    }
}
