//! Starts stream statistics: resumes a stream saved before a restart, and runs the writer and
//! the stream watcher under the supervisor's watch.

use std::time::Duration;

use tracing::info;

use super::twitch_api::ApiHandles;
use super::{Launch, Settings};
use crate::config::Config;
use crate::stats::{Recorder, StatsSettings, recorder::StatsContext};
use crate::storage::Storage;

/// Starts stream statistics (unless `stream.stats` is off): resumes a stream saved before a
/// restart, and starts the writer and the stream watcher.
pub(super) fn start(
    launch: &mut Launch,
    config: &Config,
    settings: &Settings,
    storage: &Storage,
    integrations: &crate::integrations::Hub,
    api: &ApiHandles,
) -> Option<Recorder> {
    let c = &config.bot.stream;
    if !c.stats {
        info!("stream statistics are off (stream.stats: false in bot.yaml)");
        return None;
    }
    let (open, ended) = Recorder::resume_from(storage);
    let (recorder, finisher) = Recorder::new(open);
    recorder.settle_ended(ended);
    let stats_from = launch.tasks.len();
    launch.tasks.extend(crate::stats::recorder::spawn(
        &recorder,
        finisher,
        StatsContext {
            storage: storage.clone(),
            settings: StatsSettings {
                dir: settings.data_dir.join(crate::stats::STATS_DIR),
                save_every: Duration::from_secs(c.stats_save_secs.max(1)),
                discord_summary: c.discord_summary,
            },
            integrations: integrations.clone(),
            helix: api.helix.clone(),
            stream: api.stream.clone(),
            shutdown: launch.shutdown.clone(),
        },
    ));
    // The writer holds the stream's finishing step, which cannot be handed to a new run.
    launch.watch_new(stats_from);
    Some(recorder)
}
