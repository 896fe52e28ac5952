//! The stream chart: viewers over time and chat lines per minute on one time axis, drawn as SVG
//! with plotters (no font library: the browser renders the text).

use plotters::prelude::*;

use super::StreamStats;

/// Chart width in pixels: wide enough for a few hours at a glance, small enough for the
/// console.
pub const WIDTH: u32 = 960;
/// Chart height in pixels.
pub const HEIGHT: u32 = 460;

/// The viewers line's colour (the console's accent).
pub const VIEWERS_COLOR: RGBColor = RGBColor(124, 77, 255);
/// The chat line's colour.
pub const CHAT_COLOR: RGBColor = RGBColor(230, 126, 34);

/// Why a chart could not be drawn (plotters' message).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the stream chart: {0}")]
pub struct ChartError(String);

fn err(e: impl std::fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

/// The chart's title: the date and the stream's title (or its id).
pub fn title(stats: &StreamStats) -> String {
    let name = if stats.title.trim().is_empty() {
        format!("stream {}", stats.stream_id)
    } else {
        stats.title.trim().to_owned()
    };
    format!("{} · {name}", stats.date())
}

/// An x-axis label: whole minutes as `12`, the halves a short stream gets as `0.5`.
fn minutes_label(m: &f64) -> String {
    if (m - m.round()).abs() < 1e-6 {
        format!("{m:.0}")
    } else {
        format!("{m:.1}")
    }
}

/// A "nice" upper bound for an axis: at least `min`, with some headroom above `max`.
fn headroom(max: u64, min: u64) -> u64 {
    (max + max / 5 + 1).max(min)
}

/// Draws `stats` as an SVG document: viewers (left axis) and chat lines per minute (right axis)
/// against minutes since going live, with a legend. One polyline point per viewer sample and per
/// minute of chat; each viewer sample also gets a dot, so a single sample still shows.
///
/// # Errors
/// When plotters cannot lay the chart out (it reports why).
pub fn render_svg(stats: &StreamStats) -> Result<String, ChartError> {
    let start = stats.started_at;
    let minutes_of = |at: u64| at.saturating_sub(start) as f64 / 60.0;
    let viewers: Vec<(f64, u64)> = stats
        .viewer_samples
        .iter()
        .map(|s| (minutes_of(s.at), s.viewers))
        .collect();
    let chat: Vec<(f64, u64)> = stats
        .chat_per_minute
        .iter()
        .enumerate()
        .map(|(i, n)| (i as f64 + 0.5, *n))
        .collect();
    let last_sample = viewers.last().map_or(0.0, |p| p.0);
    let span = (stats
        .ended_at
        .map_or(0.0, minutes_of)
        .max(last_sample)
        .max(stats.chat_per_minute.len() as f64))
    .max(1.0);
    let y_viewers = headroom(stats.peak_viewers(), 5);
    let y_chat = headroom(stats.chat_per_minute.iter().copied().max().unwrap_or(0), 5);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title(stats), ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .right_y_label_area_size(60)
            .build_cartesian_2d(0f64..span, 0u64..y_viewers)
            .map_err(err)?
            .set_secondary_coord(0f64..span, 0u64..y_chat);
        chart
            .configure_mesh()
            .light_line_style(RGBColor(246, 245, 250))
            .bold_line_style(RGBColor(220, 217, 230))
            .x_desc("minutes since going live")
            .y_desc("viewers")
            .x_labels(10)
            .y_labels(6)
            .x_label_formatter(&minutes_label)
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        chart
            .configure_secondary_axes()
            .y_desc("chat lines per minute")
            .y_labels(6)
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        // Chat first, so the viewers line is drawn on top of it.
        chart
            .draw_secondary_series(LineSeries::new(
                chat.iter().copied(),
                CHAT_COLOR.stroke_width(2),
            ))
            .map_err(err)?
            .label("chat lines per minute")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], CHAT_COLOR.stroke_width(2))
            });
        chart
            .draw_series(LineSeries::new(
                viewers.iter().copied(),
                VIEWERS_COLOR.stroke_width(3),
            ))
            .map_err(err)?
            .label("viewers")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], VIEWERS_COLOR.stroke_width(3))
            });
        chart
            .draw_series(
                viewers
                    .iter()
                    .map(|p| Circle::new(*p, 4, VIEWERS_COLOR.filled())),
            )
            .map_err(err)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(200, 196, 214))
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ViewerPoint;

    #[test]
    fn an_empty_stream_still_draws_axes_and_a_legend() {
        let stats = StreamStats {
            stream_id: "1".into(),
            started_at: 0,
            ended_at: Some(0),
            ..StreamStats::default()
        };
        let svg = render_svg(&stats).expect("drawn");
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("viewers") && svg.contains("chat lines per minute"));
    }

    #[test]
    fn short_streams_get_distinct_minute_labels() {
        assert_eq!(minutes_label(&2.0), "2");
        assert_eq!(minutes_label(&0.5), "0.5");
        assert_eq!(minutes_label(&1.5), "1.5");
    }

    #[test]
    fn titles_are_escaped() {
        let stats = StreamStats {
            stream_id: "1".into(),
            title: "<b>cats & dogs</b>".into(),
            viewer_samples: vec![ViewerPoint { at: 0, viewers: 3 }],
            ..StreamStats::default()
        };
        let svg = render_svg(&stats).expect("drawn");
        assert!(svg.contains("&lt;b&gt;cats &amp; dogs"));
        assert!(!svg.contains("<b>"));
    }
}
