//! The loyalty rules: what each role multiplies, what each channel event earns, and the pure
//! rule [`points_for`] (event → award). Built from `configs/loyalty.yaml`; keeps no state.

use std::collections::BTreeMap;
use std::time::Duration;

use compact_str::CompactString;

use crate::config::loyalty::LoyaltyConfig;
use crate::event::{ChannelEvent, ChannelEventKind, Roles, SubTier};

/// Points multipliers by role; a viewer gets the highest that applies (1.0 with no role).
#[derive(Debug, Clone, PartialEq)]
pub struct RoleMultipliers {
    /// Subscribers (and founders).
    pub subscriber: f64,
    /// VIPs.
    pub vip: f64,
    /// Moderators.
    pub moderator: f64,
    /// The broadcaster.
    pub broadcaster: f64,
    /// On the regulars list ([`Roles::REGULAR`]).
    pub regular: f64,
}

impl Default for RoleMultipliers {
    fn default() -> Self {
        RoleMultipliers {
            subscriber: 2.0,
            vip: 1.5,
            moderator: 1.5,
            broadcaster: 1.0,
            regular: 1.0,
        }
    }
}

impl RoleMultipliers {
    /// The multiplier for a viewer's roles.
    pub fn for_roles(&self, roles: Roles) -> f64 {
        let mut m: f64 = 1.0;
        let mut any = false;
        let mut consider = |held: bool, v: f64| {
            if held {
                m = if any { m.max(v) } else { v };
                any = true;
            }
        };
        consider(
            roles.contains(Roles::SUBSCRIBER) || roles.contains(Roles::FOUNDER),
            self.subscriber,
        );
        consider(roles.contains(Roles::VIP), self.vip);
        consider(
            roles.contains(Roles::MODERATOR) || roles.contains(Roles::STAFF),
            self.moderator,
        );
        consider(roles.contains(Roles::BROADCASTER), self.broadcaster);
        consider(roles.contains(Roles::REGULAR), self.regular);
        m.max(0.0)
    }
}

/// Points for a subscription, by tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierPoints {
    /// A Prime Gaming subscription.
    pub prime: u64,
    /// Tier 1.
    pub tier1: u64,
    /// Tier 2.
    pub tier2: u64,
    /// Tier 3.
    pub tier3: u64,
}

impl TierPoints {
    /// Points for one tier.
    pub fn get(&self, tier: SubTier) -> u64 {
        match tier {
            SubTier::Prime => self.prime,
            SubTier::Tier1 => self.tier1,
            SubTier::Tier2 => self.tier2,
            SubTier::Tier3 => self.tier3,
        }
    }
}

/// Everything loyalty needs to know; the integrator fills it from configs/loyalty.yaml.
#[derive(Debug, Clone, PartialEq)]
pub struct LoyaltyRules {
    /// Loyalty on at all.
    pub enabled: bool,
    /// What the points are called in chat (`points`, `gems`, ...).
    pub currency_name: String,
    /// How often present viewers are paid for watching.
    pub watch_interval: Duration,
    /// Points per interval before the role multiplier.
    pub watch_points: u64,
    /// Pay watch time only while the stream is live.
    pub only_while_live: bool,
    /// Watch-time multipliers by role.
    pub multipliers: RoleMultipliers,
    /// For a follow.
    pub follow: u64,
    /// For a new subscription, by tier.
    pub subscribe: TierPoints,
    /// For a resubscription, by tier.
    pub resub: TierPoints,
    /// To the gifter, per gifted subscription.
    pub gift_per_sub: u64,
    /// Per bit cheered (fractions are rounded down per cheer).
    pub cheer_per_bit: f64,
    /// To the raiding broadcaster, per viewer they bring.
    pub raid_per_viewer: u64,
    /// Other events by topic (`first_message`, `hype_train_begin`, ...) and channel-point
    /// redemptions by reward title.
    pub custom: BTreeMap<String, u64>,
}

/// The loyalty rules `configs/loyalty.yaml` describes.
impl From<&LoyaltyConfig> for LoyaltyRules {
    fn from(c: &LoyaltyConfig) -> Self {
        let tiers = |t: &crate::config::loyalty::Tiers| TierPoints {
            prime: t.prime,
            tier1: t.tier1,
            tier2: t.tier2,
            tier3: t.tier3,
        };
        LoyaltyRules {
            enabled: c.enabled,
            currency_name: c.currency.clone(),
            watch_interval: Duration::from_secs(u64::from(c.interval_minutes.max(1)) * 60),
            watch_points: c.points_per_interval,
            only_while_live: c.live_only,
            multipliers: RoleMultipliers {
                subscriber: c.multipliers.subscriber,
                vip: c.multipliers.vip,
                moderator: c.multipliers.moderator,
                regular: c.multipliers.regular,
                ..RoleMultipliers::default()
            },
            follow: c.events.follow,
            subscribe: tiers(&c.events.subscribe),
            resub: tiers(&c.events.resub),
            gift_per_sub: c.events.gift_per_sub.tier1,
            cheer_per_bit: c.events.cheer_per_bit,
            raid_per_viewer: c.events.raid_per_viewer.round().max(0.0) as u64,
            custom: c.events.custom.clone(),
        }
    }
}

impl Default for LoyaltyRules {
    fn default() -> Self {
        LoyaltyRules {
            enabled: true,
            currency_name: "points".into(),
            watch_interval: Duration::from_secs(600),
            watch_points: 10,
            only_while_live: true,
            multipliers: RoleMultipliers::default(),
            follow: 50,
            subscribe: TierPoints {
                prime: 500,
                tier1: 500,
                tier2: 1000,
                tier3: 2500,
            },
            resub: TierPoints {
                prime: 500,
                tier1: 500,
                tier2: 1000,
                tier3: 2500,
            },
            gift_per_sub: 250,
            cheer_per_bit: 1.0,
            raid_per_viewer: 1,
            custom: BTreeMap::new(),
        }
    }
}

/// An award decided by the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Award {
    /// Who earns it (Twitch user id).
    pub user_id: CompactString,
    /// Their login.
    pub login: CompactString,
    /// Their name as shown in chat.
    pub display_name: CompactString,
    /// Points earned.
    pub amount: u64,
    /// For the audit trail: `follow`, `subscribe tier1`, `cheer 100 bits`, ...
    pub reason: String,
}

fn tier_name(t: SubTier) -> &'static str {
    match t {
        SubTier::Prime => "prime",
        SubTier::Tier1 => "tier1",
        SubTier::Tier2 => "tier2",
        SubTier::Tier3 => "tier3",
    }
}

/// The points a channel event earns its viewer, if any. Anonymous gifts and cheers, events
/// without a user id and zero amounts earn nothing.
pub fn points_for(ev: &ChannelEvent, rules: &LoyaltyRules) -> Option<Award> {
    if !rules.enabled {
        return None;
    }
    let user = ev.user.as_ref().filter(|u| !u.id.is_empty())?;
    let (amount, reason) = match &ev.kind {
        ChannelEventKind::Follow => (rules.follow, "follow".to_owned()),
        ChannelEventKind::Subscribe { tier, .. } => (
            rules.subscribe.get(*tier),
            format!("subscribe {}", tier_name(*tier)),
        ),
        ChannelEventKind::Resub { tier, months, .. } => (
            rules.resub.get(*tier),
            format!("resub {} ({months} months)", tier_name(*tier)),
        ),
        ChannelEventKind::Gift {
            count, anonymous, ..
        } => {
            if *anonymous {
                return None;
            }
            (
                rules.gift_per_sub.saturating_mul(u64::from(*count)),
                format!("gift x{count}"),
            )
        }
        ChannelEventKind::Cheer {
            bits, anonymous, ..
        } => {
            if *anonymous {
                return None;
            }
            // f64 → u64 saturates and maps NaN to 0, which is what a bad config deserves.
            let pts = (f64::from(*bits) * rules.cheer_per_bit).floor() as u64;
            (pts, format!("cheer {bits} bits"))
        }
        ChannelEventKind::Raid { viewers } => (
            rules.raid_per_viewer.saturating_mul(u64::from(*viewers)),
            format!("raid {viewers} viewers"),
        ),
        ChannelEventKind::Redemption { reward_title, .. } => (
            rules.custom.get(reward_title.as_str()).copied()?,
            format!("redemption {reward_title}"),
        ),
        other => {
            let topic = other.topic();
            (rules.custom.get(topic).copied()?, format!("custom {topic}"))
        }
    };
    (amount > 0).then(|| Award {
        user_id: user.id.clone(),
        login: user.login.clone(),
        display_name: user.display_name.clone(),
        amount,
        reason,
    })
}
