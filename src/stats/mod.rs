//! Stream statistics: what happened during each stream, counted while live and settled when it
//! ends, stored in redb, written to `data/stats/` as JSON, an SVG chart and an HTML page, shown in
//! the console and summarised on Discord.
//!
//! - [`tally`]: the counting itself (pure; callers pass the time).
//! - [`recorder`]: the running side: the dispatcher feeds a [`Recorder`] (never waits), one task
//!   saves the open stream every minute and settles finished ones; another checks Get Streams at
//!   start, so a stream that ended while the bot was down is settled, and forwards viewer samples.
//! - [`chart`] and [`report`]: the SVG chart (plotters) and the report files.
//! - [`command`]: `twitch-bot stats [stream]`.
//!
//! One source of truth: the dispatcher calls the recorder only where points and event scripts
//! run, after it has picked EventSub or IRC, so an event is counted once. This module must not
//! decide that itself, and must not touch chat, scripts or loyalty.

pub mod chart;
pub mod recorder;
pub mod report;
pub mod tally;

pub use recorder::{Recorder, StatsSettings};
pub use tally::{StreamStats, SubTiers, Tally, ViewerPoint};

use std::path::Path;

use crate::storage::{Storage, StorageError};

/// The folder of the report files inside the data folder.
pub const STATS_DIR: &str = "stats";

/// Errors of `twitch-bot stats` and of reading stored records.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// Reading the stored records failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The report could not be written.
    #[error(transparent)]
    Report(#[from] report::ReportError),
    #[error(
        "no stored stream matches `{0}`: give a stream id, a date (YYYY-MM-DD) or `latest`; \
         `twitch-bot stats` lists them"
    )]
    /// No stored stream matches what was asked.
    NotFound(String),
}

/// Every finished stream's record, newest first. Rows that no longer parse are skipped with a
/// warning (the rest still show).
///
/// # Errors
/// On a storage failure.
pub fn stored_streams(storage: &Storage) -> Result<Vec<StreamStats>, StorageError> {
    let rows = storage.recent_stream_stats(usize::MAX)?;
    Ok(rows
        .into_iter()
        .filter_map(|(seq, v)| match serde_json::from_value::<StreamStats>(v) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("stream_stats row {seq} is unreadable and skipped: {e}");
                None
            }
        })
        .collect())
}

/// Whether `query` names this stream: its id, its report name, its date, or `latest`.
fn matches(stats: &StreamStats, query: &str) -> bool {
    stats.stream_id == query || stats.file_stem() == query || stats.date() == query
}

/// `twitch-bot stats [stream]`: without a stream, lists the stored streams; with one (id, date,
/// report name or `latest`), rewrites its report files in `<data>/stats/` and returns what to
/// print.
///
/// # Errors
/// When the database cannot be read, nothing matches, or a file cannot be written.
pub fn command(
    storage: &Storage,
    data_dir: &Path,
    query: Option<&str>,
) -> Result<String, StatsError> {
    let streams = stored_streams(storage)?;
    let open = storage
        .open_streams()?
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_value::<Tally>(v).ok())
        .max_by_key(|t| t.stats.started_at);
    let Some(query) = query.map(str::trim).filter(|q| !q.is_empty()) else {
        let mut out = String::new();
        if let Some(t) = &open {
            out.push_str(&format!(
                "live now (not settled yet): {} {}, {} chat messages so far\n",
                t.stats.date(),
                t.stats.stream_id,
                t.stats.chat_messages
            ));
        }
        if streams.is_empty() {
            out.push_str(
                "No stream has been recorded yet. Stats are taken while the channel is live \
                 (try `twitch-bot --offline` and type /online, some chat, then /offline).",
            );
            return Ok(out);
        }
        out.push_str("date        stream id             duration   peak  messages  report\n");
        for s in &streams {
            let end = s.ended_at.unwrap_or(s.started_at);
            out.push_str(&format!(
                "{}  {:<20}  {:>9}  {:>4}  {:>8}  {}\n",
                s.date(),
                s.stream_id,
                report::duration_text(s.duration_secs(end)),
                s.peak_viewers(),
                s.chat_messages,
                data_dir
                    .join(STATS_DIR)
                    .join(format!("{}.html", s.file_stem()))
                    .display()
            ));
        }
        return Ok(out);
    };
    let chosen: Vec<&StreamStats> = if query == "latest" || query == "last" {
        streams.first().into_iter().collect()
    } else {
        streams.iter().filter(|s| matches(s, query)).collect()
    };
    if chosen.is_empty() {
        if let Some(t) = open.filter(|t| matches(&t.stats, query)) {
            return Ok(format!(
                "{} is still being counted (the bot has not seen it end yet): {} chat messages, \
                 {} chatters so far. Its report is written when it ends.",
                t.stats.stream_id,
                t.stats.chat_messages,
                t.chatters.len()
            ));
        }
        return Err(StatsError::NotFound(query.to_owned()));
    }
    let dir = data_dir.join(STATS_DIR);
    let mut out = String::new();
    for s in chosen {
        let files = report::write_report(&dir, s)?;
        out.push_str(&format!(
            "{} {}\n{}\n",
            s.date(),
            s.stream_id,
            report::summary(s)
        ));
        for (k, v) in report::totals(s) {
            out.push_str(&format!("  {k:<27} {v}\n"));
        }
        out.push_str(&format!(
            "  report: {}\n  chart:  {}\n  data:   {}\n\n",
            files.html.display(),
            files.svg.display(),
            files.json.display()
        ));
    }
    Ok(out.trim_end().to_owned())
}
