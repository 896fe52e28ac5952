//! Writing a finished stream's report to `data/stats/`: `<date>-<id>.json` (the figures),
//! `.svg` (the chart) and `.html` (a page with the totals that embeds the chart and links the
//! file), plus the short summary used by the CLI and Discord.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::StreamStats;
use super::chart::{self, ChartError};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The chart could not be drawn.
    #[error(transparent)]
    Chart(#[from] ChartError),
    /// A report file could not be written.
    #[error("cannot write {}: {source}. Check that the folder exists and is writable.", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

/// The three files of one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// The figures as JSON.
    pub json: PathBuf,
    /// The viewers-and-chat chart.
    pub svg: PathBuf,
    /// The page showing both.
    pub html: PathBuf,
}

/// The record with its derived figures (duration, peak and average viewers, hours watched), as
/// the JSON file and the console show it.
pub fn to_json(stats: &StreamStats) -> Value {
    let mut v = serde_json::to_value(stats).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        // A live stream's figures run up to now.
        let end = stats.ended_at.unwrap_or_else(crate::storage::now_secs);
        o.insert("date".into(), json!(stats.date()));
        o.insert("duration_secs".into(), json!(stats.duration_secs(end)));
        o.insert("peak_viewers".into(), json!(stats.peak_viewers()));
        o.insert("average_viewers".into(), json!(stats.average_viewers()));
        let hours = (stats.hours_watched(end) * 10.0).round() / 10.0;
        o.insert("hours_watched".into(), json!(hours));
        o.insert("subs_total".into(), json!(stats.subs.total()));
        o.insert("report".into(), json!(stats.file_stem()));
    }
    v
}

/// `1 h 05 min`, `12 min`.
pub fn duration_text(secs: u64) -> String {
    let (h, m) = (secs / 3600, secs / 60 % 60);
    if h > 0 {
        format!("{h} h {m:02} min")
    } else {
        format!("{m} min")
    }
}

/// The totals as (label, value) rows, in the order a streamer reads them.
pub fn totals(stats: &StreamStats) -> Vec<(&'static str, String)> {
    let end = stats.ended_at.unwrap_or(stats.started_at);
    let s = &stats.subs;
    vec![
        ("Duration", duration_text(stats.duration_secs(end))),
        ("Peak viewers", stats.peak_viewers().to_string()),
        ("Average viewers", stats.average_viewers().to_string()),
        ("Hours watched", format!("{:.1}", stats.hours_watched(end))),
        ("Chat messages", stats.chat_messages.to_string()),
        ("Unique chatters", stats.unique_chatters.to_string()),
        ("Commands run", stats.commands.to_string()),
        ("New followers", stats.follows.to_string()),
        (
            "Subscriptions",
            format!(
                "{} (tier 1: {}, tier 2: {}, tier 3: {}, Prime: {}; {} resubs)",
                s.total(),
                s.tier1,
                s.tier2,
                s.tier3,
                s.prime,
                stats.resubs
            ),
        ),
        ("Gifted subs", stats.gifted_subs.to_string()),
        ("Bits", stats.bits.to_string()),
        (
            "Raids",
            format!("{} ({} viewers)", stats.raids, stats.raid_viewers),
        ),
        ("Channel-point redemptions", stats.redemptions.to_string()),
        ("Moderation actions", stats.moderation_actions.to_string()),
    ]
}

/// A few lines for Discord and the terminal.
pub fn summary(stats: &StreamStats) -> String {
    let end = stats.ended_at.unwrap_or(stats.started_at);
    let mut text = format!(
        "Stream ended after {}: peak {} viewers (average {}), {} chat messages from {} chatters, \
         {} new followers, {} subs, {} gifted subs, {} bits, {} raids.",
        duration_text(stats.duration_secs(end)),
        stats.peak_viewers(),
        stats.average_viewers(),
        stats.chat_messages,
        stats.unique_chatters,
        stats.follows,
        stats.subs.total(),
        stats.gifted_subs,
        stats.bits,
        stats.raids,
    );
    if !stats.title.trim().is_empty() {
        text = format!("**{}**\n{text}", stats.title.trim());
    }
    text
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML page: title, totals and the chart (inline, so the page works on its own, and
/// linked as `svg_name` next to it).
pub fn html(stats: &StreamStats, svg: &str, svg_name: &str) -> String {
    let rows: String = totals(stats)
        .iter()
        .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>\n", escape(k), escape(v)))
        .collect();
    let late = if stats.ended_while_down {
        "<p class=\"note\">The stream ended while the bot was not running: the end time is the last \
         moment the bot saw it live.</p>"
    } else {
        ""
    };
    // The SVG is inline: strip its XML prolog if plotters ever writes one.
    let inline = svg.trim_start_matches(|c| c != '<');
    let inline = match inline.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(inline, |(_, r)| r),
        None => inline,
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f1d26; background: #f3f2f7; margin: 0; padding: 1.5rem; }}
main {{ max-width: 1000px; margin: 0 auto; background: #fff; border-radius: 10px; padding: 1.2rem 1.5rem; box-shadow: 0 1px 3px #0001; }}
h1 {{ font-size: 1.35rem; margin: 0 0 .2rem; }}
.sub {{ color: #6d6a7a; margin: 0 0 1rem; }}
figure {{ margin: 0 0 1rem; }}
figure svg {{ width: 100%; height: auto; }}
table {{ border-collapse: collapse; }}
th {{ text-align: left; font-weight: 500; color: #6d6a7a; padding: .25rem 1.5rem .25rem 0; }}
td {{ font-variant-numeric: tabular-nums; font-weight: 600; }}
.note {{ color: #8a4b00; }}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p class="sub">Stream {id} · {category}started {start} UTC</p>
{late}
<figure>
{inline}
<figcaption><a href="{svg_name}">Open the chart ({svg_name})</a></figcaption>
</figure>
<table>
{rows}</table>
</main>
</body>
</html>
"#,
        title = escape(&chart::title(stats)),
        id = escape(&stats.stream_id),
        category = if stats.category.trim().is_empty() {
            String::new()
        } else {
            format!("{} · ", escape(stats.category.trim()))
        },
        start = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(stats.started_at)
        )
        .to_string()
        .replace('T', " ")
        .trim_end_matches('Z'),
        svg_name = escape(svg_name),
    )
}

fn write(path: &Path, contents: &[u8]) -> Result<(), ReportError> {
    let io = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Written beside and renamed, so a reader (or a crash) never sees half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Writes the report's three files into `dir` (created if missing); returns their paths.
///
/// # Errors
/// When the chart cannot be drawn or a file cannot be written (the error names it).
pub fn write_report(dir: &Path, stats: &StreamStats) -> Result<ReportFiles, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let stem = stats.file_stem();
    let files = ReportFiles {
        json: dir.join(format!("{stem}.json")),
        svg: dir.join(format!("{stem}.svg")),
        html: dir.join(format!("{stem}.html")),
    };
    let svg = chart::render_svg(stats)?;
    let json = serde_json::to_vec_pretty(&to_json(stats)).unwrap_or_default();
    write(&files.json, &json)?;
    write(&files.svg, svg.as_bytes())?;
    write(
        &files.html,
        html(stats, &svg, &format!("{stem}.svg")).as_bytes(),
    )?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_files_are_written_and_the_page_links_the_chart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stats = StreamStats {
            stream_id: "42".into(),
            started_at: 1_764_115_200,
            ended_at: Some(1_764_115_200 + 3_900),
            title: "Speedruns & <chat>".into(),
            chat_messages: 7,
            ..StreamStats::default()
        };
        let files = write_report(dir.path(), &stats).expect("written");
        assert_eq!(
            files.html.file_name().and_then(|n| n.to_str()),
            Some("2025-11-26-42.html")
        );
        let page = std::fs::read_to_string(&files.html).expect("html");
        assert!(page.contains("href=\"2025-11-26-42.svg\""));
        assert!(page.contains("<svg"));
        assert!(page.contains("Speedruns &amp; &lt;chat&gt;"));
        assert!(page.contains("1 h 05 min"));
        let json: Value =
            serde_json::from_slice(&std::fs::read(&files.json).expect("json")).expect("parses");
        assert_eq!(json["chat_messages"], 7);
        assert_eq!(json["duration_secs"], 3_900);
        assert!(!dir.path().join("2025-11-26-42.tmp").exists());
    }
}
