//! The `scripts:` section of `configs/bot.yaml`: how many script threads run and how long and
//! how often one run may wait on the network.

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
}

/// The most script threads `scripts.workers` may ask for.
pub const MAX_WORKERS: usize = 16;
/// The longest `scripts.network_secs`.
pub const MAX_NETWORK_SECS: u64 = 60;
/// The most `scripts.network_calls`.
pub const MAX_NETWORK_CALLS: u32 = 100;

impl Default for ScriptsConfig {
    fn default() -> Self {
        ScriptsConfig {
            workers: 2,
            network_secs: 5,
            network_calls: 10,
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
}
