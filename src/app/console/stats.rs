//! The console's viewers and statistics: a viewer's record, the points leaderboard, the live
//! and stored streams' statistics and their charts.

use super::{AppConsole, internal};
use crate::console::{BoxFuture, ConsoleError, LeaderboardEntry};

/// Past streams listed by `/api/stats`, newest first.
const STREAMS_SHOWN: usize = 50;

pub(super) fn user(
    console: &AppConsole,
    login: String,
) -> BoxFuture<'_, Result<Option<serde_json::Value>, ConsoleError>> {
    Box::pin(async move {
        let storage = console.storage.clone();
        tokio::task::spawn_blocking(move || {
            let Some(id) = storage.user_id_by_login(&login).map_err(internal)? else {
                return Ok(None);
            };
            let record = storage.user(&id).map_err(internal)?;
            Ok(record.and_then(|r| serde_json::to_value(r).ok()))
        })
        .await
        .map_err(internal)?
    })
}

pub(super) fn leaderboard(
    console: &AppConsole,
    n: usize,
) -> BoxFuture<'_, Result<Vec<LeaderboardEntry>, ConsoleError>> {
    Box::pin(async move {
        let storage = console.storage.clone();
        let rows = tokio::task::spawn_blocking(move || storage.leaderboard(n))
            .await
            .map_err(internal)?;
        Ok(rows
            .map_err(internal)?
            .into_iter()
            .map(|r| LeaderboardEntry {
                login: r.login,
                points: i64::try_from(r.points).unwrap_or(i64::MAX),
            })
            .collect())
    })
}

pub(super) fn stats(
    console: &AppConsole,
) -> BoxFuture<'_, Result<serde_json::Value, ConsoleError>> {
    Box::pin(async move {
        let storage = console.storage.clone();
        let (users, streams) = tokio::task::spawn_blocking(move || {
            Ok::<_, crate::storage::StorageError>((
                storage.user_count()?,
                crate::stats::stored_streams(&storage)?,
            ))
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        let with_chart = |stats: &crate::stats::StreamStats, name: &str| {
            let mut v = crate::stats::report::to_json(stats);
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "chart".into(),
                    format!("/api/stats/{name}/chart.svg").into(),
                );
            }
            v
        };
        let live = console
            .stats
            .as_ref()
            .and_then(|r| r.snapshot())
            .map(|t| with_chart(&t.stats, "live"));
        let streams: Vec<serde_json::Value> = streams
            .iter()
            .take(STREAMS_SHOWN)
            .map(|s| with_chart(s, &s.file_stem()))
            .collect();
        Ok(serde_json::json!({
            "enabled": console.stats.is_some(),
            "viewers_known": users,
            "live": live,
            "streams": streams,
        }))
    })
}

pub(super) fn stats_chart(
    console: &AppConsole,
    stream: String,
) -> BoxFuture<'_, Result<String, ConsoleError>> {
    Box::pin(async move {
        let stats = if stream == "live" {
            console
                .stats
                .as_ref()
                .and_then(|r| r.snapshot())
                .map(|t| t.stats)
        } else {
            let storage = console.storage.clone();
            let all = tokio::task::spawn_blocking(move || crate::stats::stored_streams(&storage))
                .await
                .map_err(internal)?
                .map_err(internal)?;
            all.into_iter()
                .find(|s| s.stream_id == stream || s.file_stem() == stream)
        };
        let Some(stats) = stats else {
            return Err(ConsoleError::NotFound(format!(
                "no stream `{stream}` is stored"
            )));
        };
        crate::stats::chart::render_svg(&stats).map_err(internal)
    })
}
