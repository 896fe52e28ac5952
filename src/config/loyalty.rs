//! `configs/loyalty.yaml`: the points currency, watch-time payouts, points per channel event and
//! database backups.
//!
//! Owns the file's shape and checks; paying points is the loyalty module's job.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Checker, Validate};

/// The whole of `configs/loyalty.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LoyaltyConfig {
    /// Pay points at all (watch time and events).
    pub enabled: bool,
    /// What the points are called in chat ("points", "cookies").
    pub currency: String,
    /// Minutes between watch-time payouts.
    pub interval_minutes: u32,
    /// Points each present viewer earns per payout, before multipliers.
    pub points_per_interval: u64,
    /// Pay watch time only while the stream is live.
    pub live_only: bool,
    /// Logins that never earn (other bots); the bot itself never earns.
    pub excluded: Vec<String>,
    /// How many users `!leaderboard` shows.
    pub leaderboard_size: u32,
    /// Watch-time multipliers by role.
    pub multipliers: Multipliers,
    /// Points paid for channel events.
    pub events: EventPoints,
    /// Database backups.
    pub backups: Backups,
}

impl Default for LoyaltyConfig {
    fn default() -> Self {
        LoyaltyConfig {
            enabled: true,
            currency: "points".into(),
            interval_minutes: 10,
            points_per_interval: 10,
            live_only: true,
            excluded: vec!["nightbot".into(), "streamelements".into()],
            leaderboard_size: 10,
            multipliers: Multipliers::default(),
            events: EventPoints::default(),
            backups: Backups::default(),
        }
    }
}

/// Watch-time multipliers by role; a viewer with several roles gets the highest.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Multipliers {
    /// Multiplier for subscribers.
    pub subscriber: f64,
    /// Multiplier for VIPs.
    pub vip: f64,
    /// Multiplier for moderators.
    pub moderator: f64,
    /// Viewers on the regulars list (moderation.yaml's `regulars`, `!regular add`).
    pub regular: f64,
}

impl Default for Multipliers {
    fn default() -> Self {
        Multipliers {
            subscriber: 2.0,
            vip: 1.5,
            moderator: 1.0,
            regular: 1.0,
        }
    }
}

/// Points for a subscription, by tier.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Tiers {
    /// Points for a Prime subscription.
    pub prime: u64,
    /// Points for a tier 1 subscription.
    pub tier1: u64,
    /// Points for a tier 2 subscription.
    pub tier2: u64,
    /// Points for a tier 3 subscription.
    pub tier3: u64,
}

impl Tiers {
    const fn scaled(base: u64) -> Tiers {
        Tiers {
            prime: base,
            tier1: base,
            tier2: base * 2,
            tier3: base * 5,
        }
    }
}

impl Default for Tiers {
    fn default() -> Self {
        Tiers::scaled(500)
    }
}

/// Points paid for channel events.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EventPoints {
    /// Points for a new follower.
    pub follow: u64,
    /// Points for a new subscription, by tier.
    pub subscribe: Tiers,
    /// Points for a resubscription, by tier.
    pub resub: Tiers,
    /// Paid to the gifter for each gifted subscription, by tier.
    pub gift_per_sub: Tiers,
    /// Points per bit cheered; fractions are rounded down per cheer.
    pub cheer_per_bit: f64,
    /// Paid to the raider per raiding viewer; fractions rounded down.
    pub raid_per_viewer: f64,
    /// Points for events scripts raise by name (`ctx.loyalty_event("hype")`).
    pub custom: BTreeMap<String, u64>,
}

impl Default for EventPoints {
    fn default() -> Self {
        EventPoints {
            follow: 50,
            subscribe: Tiers::scaled(500),
            resub: Tiers::scaled(250),
            gift_per_sub: Tiers::scaled(250),
            cheer_per_bit: 1.0,
            raid_per_viewer: 1.0,
            custom: BTreeMap::new(),
        }
    }
}

/// Copies of the database, taken at start and once a day while running.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Backups {
    /// Whether backups are taken at all.
    pub enabled: bool,
    /// How many copies to keep; older ones are deleted.
    pub keep: u32,
}

impl Default for Backups {
    fn default() -> Self {
        Backups {
            enabled: true,
            keep: 7,
        }
    }
}

/// Multipliers and rates beyond this are almost surely a typo (and risk overflow).
const MAX_FACTOR: f64 = 1_000.0;
/// The most points one payout may give: a typo beyond it could overflow a balance.
const MAX_POINTS: u64 = 1_000_000_000;

impl Validate for LoyaltyConfig {
    fn validate(&mut self, check: &mut Checker<'_>) {
        self.currency = self.currency.trim().to_owned();
        if self.currency.is_empty() {
            check.error("currency", "is empty; name your points, such as `points`");
        }
        check.within(
            "interval_minutes",
            self.interval_minutes,
            1,
            1_440,
            "minutes",
        );
        check.within(
            "points_per_interval",
            self.points_per_interval,
            0,
            MAX_POINTS,
            "points",
        );
        if self.leaderboard_size == 0 || self.leaderboard_size > 100 {
            check.error("leaderboard_size", "must be from 1 to 100");
        }
        for (i, login) in self.excluded.iter_mut().enumerate() {
            match super::bot::normalize_login(login) {
                Ok(lower) => *login = lower,
                Err(why) => check.error(&format!("excluded[{i}]"), why),
            }
        }
        let m = &self.multipliers;
        let e = &self.events;
        for (key, v) in [
            ("multipliers.subscriber", m.subscriber),
            ("multipliers.vip", m.vip),
            ("multipliers.moderator", m.moderator),
            ("multipliers.regular", m.regular),
            ("events.cheer_per_bit", e.cheer_per_bit),
            ("events.raid_per_viewer", e.raid_per_viewer),
        ] {
            if !v.is_finite() || !(0.0..=MAX_FACTOR).contains(&v) {
                check.error(key, format!("{v} must be a number from 0 to {MAX_FACTOR}"));
            }
        }
        let mut amounts = vec![("events.follow".to_owned(), e.follow)];
        for (group, t) in [
            ("subscribe", &e.subscribe),
            ("resub", &e.resub),
            ("gift_per_sub", &e.gift_per_sub),
        ] {
            for (tier, v) in [
                ("prime", t.prime),
                ("tier1", t.tier1),
                ("tier2", t.tier2),
                ("tier3", t.tier3),
            ] {
                amounts.push((format!("events.{group}.{tier}"), v));
            }
        }
        for (name, v) in &e.custom {
            amounts.push((format!("events.custom.{name}"), *v));
        }
        for (key, v) in amounts {
            check.within(&key, v, 0, MAX_POINTS, "points");
        }
        for name in e.custom.keys() {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                check.error(
                    &format!("events.custom.{name}"),
                    "event names use letters, digits, `_` and `-` only",
                );
            }
        }
        if self.backups.enabled && self.backups.keep == 0 {
            check.error(
                "backups.keep",
                "must be at least 1; to stop backups set `backups.enabled: false`",
            );
        }
    }
}
