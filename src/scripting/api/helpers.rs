//! Helpers: random numbers, the clock, and duration and date formatting.

use std::time::{SystemTime, UNIX_EPOCH};

use rhai::Engine;
use rhai::plugin::*;

pub fn register(engine: &mut Engine) {
    engine.register_global_module(exported_module!(helpers_api).into());
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `3725` → `1h 2m 5s`; the two largest units only, so chat lines stay short.
pub fn format_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let units = [
        (365 * 86_400, "y"),
        (30 * 86_400, "mo"),
        (86_400, "d"),
        (3_600, "h"),
        (60, "m"),
        (1, "s"),
    ];
    let mut parts = Vec::with_capacity(2);
    let mut rest = secs;
    for (size, name) in units {
        if rest >= size {
            parts.push(format!("{}{name}", rest / size));
            rest %= size;
            if parts.len() == 2 {
                break;
            }
        } else if !parts.is_empty() {
            break;
        }
    }
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

/// Days since the epoch → (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD` (UTC).
pub fn format_date(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM UTC`.
pub fn format_datetime(unix: i64) -> String {
    let secs = unix.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02} UTC",
        format_date(unix),
        secs / 3_600,
        secs % 3_600 / 60
    )
}

#[export_module]
// The plugin expands each function into code that unwraps arguments Rhai has already checked.
#[allow(clippy::unwrap_used)]
mod helpers_api {
    use rand::Rng;
    use rand::seq::SliceRandom;
    use rhai::Array;
    use rhai::{FLOAT, INT};

    /// A whole number from `a` to `b`, both included.
    pub fn rand(a: INT, b: INT) -> INT {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        ::rand::rng().random_range(lo..=hi)
    }
    /// A number from 0.0 (included) to 1.0 (excluded).
    pub fn rand_float() -> FLOAT {
        ::rand::rng().random::<FLOAT>()
    }
    /// A random element, `()` for an empty array.
    #[rhai_fn(pure)]
    pub fn pick(items: &mut Array) -> Dynamic {
        if items.is_empty() {
            return Dynamic::UNIT;
        }
        let i = ::rand::rng().random_range(0..items.len());
        items.get(i).cloned().unwrap_or(Dynamic::UNIT)
    }
    /// The array in random order.
    #[rhai_fn(pure)]
    pub fn shuffled(items: &mut Array) -> Array {
        let mut out = items.clone();
        out.shuffle(&mut ::rand::rng());
        out
    }
    /// The elements as text, separated by `sep`: `["a", 1].join(", ")` is `"a, 1"`.
    #[rhai_fn(pure)]
    pub fn join(items: &mut Array, sep: &str) -> String {
        let mut out = String::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(sep);
            }
            out.push_str(&item.to_string());
        }
        out
    }
    /// Seconds since 1970-01-01 UTC.
    pub fn now() -> INT {
        super::unix_now()
    }
    #[rhai_fn(name = "format_duration")]
    pub fn format_duration(secs: INT) -> String {
        super::format_duration(secs)
    }
    #[rhai_fn(name = "format_date")]
    pub fn format_date(unix: INT) -> String {
        super::format_date(unix)
    }
    #[rhai_fn(name = "format_datetime")]
    pub fn format_datetime(unix: INT) -> String {
        super::format_datetime(unix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_dates_read_naturally() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(45), "45s");
        assert_eq!(format_duration(3_725), "1h 2m");
        assert_eq!(format_duration(90_000), "1d 1h");
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_datetime(1_700_000_000), "2023-11-14 22:13 UTC");
    }
}
