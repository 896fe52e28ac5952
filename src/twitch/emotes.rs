//! Emote names known in the channel: Twitch's channel and global emotes (Helix) plus BTTV, FFZ
//! and 7TV, each switchable, loaded at start and refreshed hourly, behind a cheap lookup for
//! scripts and the emote-spam filter. A failing site only warns.

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

pub use crate::config::api::EmotesConfig;

use compact_str::CompactString;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::helix::Helix;

/// A set of emote names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmoteSet {
    names: HashSet<CompactString>,
}

impl EmoteSet {
    /// Whether `word` is an emote (case-sensitive, as chat renders them).
    pub fn contains(&self, word: &str) -> bool {
        self.names.contains(word)
    }

    /// How many emote names the set holds.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the set holds no emote at all.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Adds names.
    pub fn extend<I: IntoIterator<Item = S>, S: Into<CompactString>>(&mut self, names: I) {
        self.names.extend(names.into_iter().map(Into::into));
    }
}

/// The shared, swappable emote set.
#[derive(Debug, Clone, Default)]
pub struct Emotes {
    current: Arc<RwLock<Arc<EmoteSet>>>,
}

impl Emotes {
    /// The set as loaded last; cheap (one `Arc` clone).
    pub fn snapshot(&self) -> Arc<EmoteSet> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether `word` is a known emote.
    pub fn contains(&self, word: &str) -> bool {
        self.snapshot().contains(word)
    }

    fn replace(&self, set: EmoteSet) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<Option<Value>, reqwest::Error> {
    let resp = http.get(url).send().await?;
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    Ok(Some(resp.error_for_status()?.json().await?))
}

fn names_at<'a>(list: &'a Value, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(move |e| e[key].as_str())
}

/// Loads every switched-on source once. Failures are logged as warnings and skipped.
pub async fn load(
    helix: Option<&Helix>,
    http: &reqwest::Client,
    config: &EmotesConfig,
    broadcaster_id: &str,
) -> EmoteSet {
    load_checked(helix, http, config, broadcaster_id).await.0
}

/// [`load`], also saying whether Twitch's own emotes loaded (`true` when they are off).
async fn load_checked(
    helix: Option<&Helix>,
    http: &reqwest::Client,
    config: &EmotesConfig,
    broadcaster_id: &str,
) -> (EmoteSet, bool) {
    let mut set = EmoteSet::default();
    let mut twitch_ok = true;
    if let (true, Some(h)) = (config.twitch, helix) {
        match h.channel_emotes(broadcaster_id).await {
            Ok(e) => set.extend(e.into_iter().map(|e| e.name)),
            Err(e) => {
                twitch_ok = false;
                warn!("Twitch channel emotes not loaded: {e}");
            }
        }
        match h.global_emotes().await {
            Ok(e) => set.extend(e.into_iter().map(|e| e.name)),
            Err(e) => {
                twitch_ok = false;
                warn!("Twitch global emotes not loaded: {e}");
            }
        }
    }
    if config.bttv {
        let base = config.bttv_url.trim_end_matches('/');
        for url in [
            format!("{base}/cached/users/twitch/{broadcaster_id}"),
            format!("{base}/cached/emotes/global"),
        ] {
            match get_json(http, &url).await {
                Ok(Some(v)) if v.is_array() => set.extend(names_at(&v, "code")),
                Ok(Some(v)) => {
                    set.extend(names_at(&v["channelEmotes"], "code"));
                    set.extend(names_at(&v["sharedEmotes"], "code"));
                }
                Ok(None) => {}
                Err(e) => warn!("BTTV emotes not loaded: {e}"),
            }
        }
    }
    if config.ffz {
        let base = config.ffz_url.trim_end_matches('/');
        for url in [
            format!("{base}/room/id/{broadcaster_id}"),
            format!("{base}/set/global"),
        ] {
            match get_json(http, &url).await {
                Ok(Some(v)) => {
                    // The global answer also lists sets only some users see: keep
                    // `default_sets` when present.
                    let defaults: Option<Vec<String>> = v["default_sets"].as_array().map(|a| {
                        a.iter()
                            .map(|x| x.to_string().trim_matches('"').to_string())
                            .collect()
                    });
                    if let Some(sets) = v["sets"].as_object() {
                        for (id, s) in sets {
                            if defaults.as_ref().is_none_or(|d| d.contains(id)) {
                                set.extend(names_at(&s["emoticons"], "name"));
                            }
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => warn!("FFZ emotes not loaded: {e}"),
            }
        }
    }
    if config.seventv {
        let base = config.seventv_url.trim_end_matches('/');
        match get_json(http, &format!("{base}/users/twitch/{broadcaster_id}")).await {
            Ok(Some(v)) => set.extend(names_at(&v["emote_set"]["emotes"], "name")),
            Ok(None) => {}
            Err(e) => warn!("7TV channel emotes not loaded: {e}"),
        }
        match get_json(http, &format!("{base}/emote-sets/global")).await {
            Ok(Some(v)) => set.extend(names_at(&v["emotes"], "name")),
            Ok(None) => {}
            Err(e) => warn!("7TV global emotes not loaded: {e}"),
        }
    }
    (set, twitch_ok)
}

/// Loads now and every `refresh_minutes`, swapping the shared set. When Twitch's own emotes
/// fail to load (the API is down), the next load comes sooner: after a jittered back-off from
/// 2 s, growing to 5 minutes (or `refresh_minutes`, if shorter).
pub fn spawn(
    helix: Option<Helix>,
    http: reqwest::Client,
    config: EmotesConfig,
    broadcaster_id: String,
    shutdown: CancellationToken,
) -> (Emotes, JoinHandle<()>) {
    let emotes = Emotes::default();
    let task = load_into(
        emotes.clone(),
        helix,
        http,
        config,
        broadcaster_id,
        shutdown,
    );
    (emotes, task)
}

/// [`spawn`] into an existing set: what a restarted loader runs, so everyone holding the set
/// sees the new load. It loads at once, then every `refresh_minutes`.
pub fn load_into(
    emotes: Emotes,
    helix: Option<Helix>,
    http: reqwest::Client,
    config: EmotesConfig,
    broadcaster_id: String,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let every = Duration::from_secs(config.refresh_minutes.max(1) * 60);
    tokio::spawn(async move {
        let mut failures = 0u32;
        let mut next = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(next) => {}
            }
            let (set, twitch_ok) =
                load_checked(helix.as_ref(), &http, &config, &broadcaster_id).await;
            info!(count = set.len(), "emotes loaded");
            emotes.replace(set);
            let wait = if twitch_ok {
                failures = 0;
                every
            } else {
                failures = failures.saturating_add(1);
                crate::backoff::delay(
                    failures - 1,
                    Duration::from_secs(2),
                    every.min(Duration::from_secs(300)),
                )
            };
            next = tokio::time::Instant::now() + wait;
        }
    })
}
