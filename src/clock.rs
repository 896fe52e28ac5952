//! The wall clock as the bot reports it: milliseconds since the Unix epoch, for the times in
//! logs, reports and the console.

/// Milliseconds since the Unix epoch, for report times (0 if the system clock is before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
