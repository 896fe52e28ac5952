//! The `scripts:` section of `configs/bot.yaml`: how many script threads run, how long and
//! how often one run may wait on the network, and how much each script's store may hold; and
//! the `cache:` section, the budget of the cache scripts share.

use serde::{Deserialize, Serialize};

use super::Checker;

/// `scripts:` — the script threads and the per-run network budget.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScriptsConfig {
    /// Script threads. Runs of one script never overlap (they keep their order); runs of
    /// different scripts share the threads, so one slow script does not hold up the others.
    pub workers: usize,
    /// Seconds one run may wait on the network (`ctx.twitch.*`), all its calls together. The
    /// wait does not count against the run's 500 ms.
    pub network_secs: u64,
    /// Network calls one run may make.
    pub network_calls: u32,
    /// Keys one script's store (`ctx.store`) may hold.
    pub store_max_keys: u64,
    /// Bytes one script's store may hold: its keys plus its values as JSON text.
    pub store_max_bytes: u64,
    /// Hosts `ctx.http` may reach: host names (https only), `http://host` to allow plain HTTP,
    /// `host:port`, IP addresses and CIDR ranges. Empty: scripts reach no host.
    pub http_allow: Vec<String>,
    /// Seconds one `ctx.http` request may take (1 to 5).
    pub http_timeout_secs: u64,
    /// The largest answer body `ctx.http` reads, in bytes.
    pub http_max_bytes: u64,
    /// `ctx.http` requests one script may make per minute.
    pub http_per_minute: u32,
}

/// `cache:` — the cache all scripts share (`ctx.cache`), kept in memory.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Entries held; past it the soonest to expire (then the oldest) is dropped.
    pub max_entries: usize,
    /// Bytes held, keys plus values as JSON text; past it entries are dropped the same way.
    pub max_bytes: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 100_000,
            max_bytes: crate::cache::DEFAULT_MAX_BYTES,
        }
    }
}

/// The most script threads `scripts.workers` may ask for.
pub const MAX_WORKERS: usize = 16;
/// The longest `scripts.network_secs`.
pub const MAX_NETWORK_SECS: u64 = 60;
/// The most `scripts.network_calls`.
pub const MAX_NETWORK_CALLS: u32 = 100;
/// The most `scripts.store_max_keys`.
pub const MAX_STORE_KEYS: u64 = 10_000_000;
/// The most `scripts.store_max_bytes`: 1 GiB.
pub const MAX_STORE_BYTES: u64 = 1 << 30;
/// The most `scripts.http_max_bytes`: 16 MiB.
pub const MAX_HTTP_BYTES: u64 = 16 << 20;
/// The most `scripts.http_per_minute`.
pub const MAX_HTTP_PER_MINUTE: u32 = 600;
/// The most `cache.max_entries`.
pub const MAX_CACHE_ENTRIES: usize = 10_000_000;
/// The most `cache.max_bytes`: 2 GiB.
pub const MAX_CACHE_BYTES: usize = 2 << 30;

impl Default for ScriptsConfig {
    fn default() -> Self {
        ScriptsConfig {
            workers: 2,
            network_secs: 5,
            network_calls: 10,
            store_max_keys: 10_000,
            store_max_bytes: 1024 * 1024,
            http_allow: Vec::new(),
            http_timeout_secs: 5,
            http_max_bytes: 256 * 1024,
            http_per_minute: 10,
        }
    }
}

/// Checks the ranges of `scripts:`.
pub fn validate(c: &ScriptsConfig, check: &mut Checker<'_>) {
    check.within("scripts.workers", c.workers, 1, MAX_WORKERS, "threads");
    check.within(
        "scripts.network_secs",
        c.network_secs,
        1,
        MAX_NETWORK_SECS,
        "seconds",
    );
    check.within(
        "scripts.network_calls",
        c.network_calls,
        1,
        MAX_NETWORK_CALLS,
        "calls",
    );
    check.within(
        "scripts.store_max_keys",
        c.store_max_keys,
        1,
        MAX_STORE_KEYS,
        "keys",
    );
    check.within(
        "scripts.store_max_bytes",
        c.store_max_bytes,
        1024,
        MAX_STORE_BYTES,
        "bytes",
    );
    check.within(
        "scripts.http_timeout_secs",
        c.http_timeout_secs,
        1,
        super::http_allow::MAX_TIMEOUT_SECS,
        "seconds",
    );
    check.within(
        "scripts.http_max_bytes",
        c.http_max_bytes,
        1024,
        MAX_HTTP_BYTES,
        "bytes",
    );
    check.within(
        "scripts.http_per_minute",
        c.http_per_minute,
        1,
        MAX_HTTP_PER_MINUTE,
        "requests",
    );
    if let Err(errors) = super::http_allow::AllowList::parse(&c.http_allow) {
        for error in errors {
            check.error("scripts.http_allow", error);
        }
    }
}

/// Checks the ranges of `cache:`.
pub fn validate_cache(c: &CacheConfig, check: &mut Checker<'_>) {
    check.within(
        "cache.max_entries",
        c.max_entries,
        1,
        MAX_CACHE_ENTRIES,
        "entries",
    );
    check.within(
        "cache.max_bytes",
        c.max_bytes,
        1024,
        MAX_CACHE_BYTES,
        "bytes",
    );
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::bot::BotConfig;
    use crate::config::parse_str;

    #[test]
    fn out_of_range_values_name_their_key_and_line() {
        let text = "scripts:\n  workers: 0\n  network_secs: 600\n  network_calls: 0\n";
        let errors = parse_str::<BotConfig>(Path::new("bot.yaml"), text, false).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:#?}");
        assert!(text[0].starts_with("bot.yaml:2:") && text[0].contains("scripts.workers"));
        assert!(text[1].starts_with("bot.yaml:3:") && text[1].contains("scripts.network_secs"));
        assert!(text[2].starts_with("bot.yaml:4:") && text[2].contains("scripts.network_calls"));
        let ok = parse_str::<BotConfig>(Path::new("bot.yaml"), "scripts:\n  workers: 4\n", false);
        assert_eq!(ok.unwrap().scripts.workers, 4);
    }

    #[test]
    fn store_and_cache_budgets_are_read_and_checked() {
        let text =
            "scripts:\n  store_max_keys: 0\n  store_max_bytes: 10\ncache:\n  max_bytes: 100\n";
        let errors = parse_str::<BotConfig>(Path::new("bot.yaml"), text, false).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:#?}");
        assert!(text[0].starts_with("bot.yaml:2:") && text[0].contains("scripts.store_max_keys"));
        assert!(text[1].starts_with("bot.yaml:3:") && text[1].contains("scripts.store_max_bytes"));
        assert!(text[2].starts_with("bot.yaml:5:") && text[2].contains("cache.max_bytes"));
        let text = "scripts:\n  store_max_keys: 5\ncache:\n  max_entries: 7\n  max_bytes: 4096\n";
        let ok = parse_str::<BotConfig>(Path::new("bot.yaml"), text, false).unwrap();
        assert_eq!(ok.scripts.store_max_keys, 5);
        assert_eq!(ok.scripts.store_max_bytes, 1024 * 1024);
        assert_eq!((ok.cache.max_entries, ok.cache.max_bytes), (7, 4096));
    }
}
