//! Rule compilation: a moderation config turned into the filters' switches ([`Gate`]) and
//! limits ([`Rules`]) the pipeline checks each message against. Compiled once per config (and
//! again on reload); nothing here keeps state between messages.

use std::time::Duration;

use crate::config::moderation::{Exempt, ModerationConfig};
use crate::event::Roles;

use super::ModerationError;
use super::filters::Banned;

/// A filter's switches, compiled from its config section.
#[derive(Debug, Clone)]
pub(super) struct Gate {
    pub(super) enabled: bool,
    pub(super) vip: bool,
    pub(super) subscriber: bool,
    pub(super) regular: bool,
    pub(super) message: String,
    pub(super) ladder: String,
}

impl Gate {
    fn new(enabled: bool, exempt: &[Exempt], message: &str, ladder: &str) -> Gate {
        Gate {
            enabled,
            vip: exempt.contains(&Exempt::Vip),
            subscriber: exempt.contains(&Exempt::Subscriber),
            regular: exempt.contains(&Exempt::Regular),
            message: message.to_owned(),
            ladder: ladder.to_owned(),
        }
    }

    /// Whether this filter looks at a sender with `roles` (and `regular` standing).
    pub(super) fn applies(&self, roles: Roles, regular: bool) -> bool {
        self.enabled
            && !(self.vip && roles.contains(Roles::VIP))
            && !(self.subscriber
                && (roles.contains(Roles::SUBSCRIBER) || roles.contains(Roles::FOUNDER)))
            && !(self.regular && regular)
    }
}

/// Everything compiled from one config.
pub(super) struct Rules {
    pub(super) enabled: bool,
    pub(super) dry_run: bool,
    /// Sorted, lower case.
    pub(super) regulars: Vec<String>,
    pub(super) banned: Banned,
    pub(super) banned_gate: Gate,
    pub(super) links: Gate,
    pub(super) allow: Vec<String>,
    pub(super) permit_secs: u32,
    pub(super) caps: Gate,
    pub(super) caps_max: u8,
    pub(super) caps_min: u32,
    pub(super) symbols: Gate,
    pub(super) symbols_max: u8,
    pub(super) symbols_min: u32,
    pub(super) emotes: Gate,
    pub(super) emotes_max: u32,
    pub(super) third_party: bool,
    pub(super) repetition: Gate,
    pub(super) max_same: u32,
    pub(super) same_window: Duration,
    pub(super) max_char_run: u32,
    pub(super) length: Gate,
    pub(super) max_chars: u32,
    pub(super) flood: Gate,
    pub(super) flood_max: u32,
    pub(super) flood_window: Duration,
}

impl Rules {
    pub(super) fn new(c: &ModerationConfig) -> Result<Rules, ModerationError> {
        let mut regulars: Vec<String> = c.regulars.iter().map(|r| r.to_lowercase()).collect();
        regulars.sort();
        let secs = |s: u32| Duration::from_secs(u64::from(s));
        Ok(Rules {
            enabled: c.enabled,
            dry_run: c.dry_run,
            regulars,
            banned: Banned::new(&c.banned)?,
            banned_gate: gate(
                c.banned.enabled,
                &c.banned.exempt,
                &c.banned.message,
                &c.banned.ladder,
            ),
            links: gate(
                c.links.enabled,
                &c.links.exempt,
                &c.links.message,
                &c.links.ladder,
            ),
            allow: c.links.allow.iter().map(|d| d.to_lowercase()).collect(),
            permit_secs: c.links.permit_secs,
            caps: gate(
                c.caps.enabled,
                &c.caps.exempt,
                &c.caps.message,
                &c.caps.ladder,
            ),
            caps_max: c.caps.max_percent,
            caps_min: c.caps.min_length,
            symbols: gate(
                c.symbols.enabled,
                &c.symbols.exempt,
                &c.symbols.message,
                &c.symbols.ladder,
            ),
            symbols_max: c.symbols.max_percent,
            symbols_min: c.symbols.min_length,
            emotes: gate(
                c.emotes.enabled,
                &c.emotes.exempt,
                &c.emotes.message,
                &c.emotes.ladder,
            ),
            emotes_max: c.emotes.max,
            third_party: c.emotes.third_party,
            repetition: gate(
                c.repetition.enabled,
                &c.repetition.exempt,
                &c.repetition.message,
                &c.repetition.ladder,
            ),
            max_same: c.repetition.max_same,
            same_window: secs(c.repetition.window_secs),
            max_char_run: c.repetition.max_char_run,
            length: gate(
                c.length.enabled,
                &c.length.exempt,
                &c.length.message,
                &c.length.ladder,
            ),
            max_chars: c.length.max_chars,
            flood: gate(
                c.flood.enabled,
                &c.flood.exempt,
                &c.flood.message,
                &c.flood.ladder,
            ),
            flood_max: c.flood.max_messages,
            flood_window: secs(c.flood.per_secs),
        })
    }

    pub(super) fn is_regular(&self, login: &str) -> bool {
        !self.regulars.is_empty()
            && self
                .regulars
                .binary_search_by(|r| r.as_str().cmp(login))
                .is_ok()
    }
}

fn gate(enabled: bool, exempt: &[Exempt], message: &str, ladder: &str) -> Gate {
    Gate::new(enabled, exempt, message, ladder)
}
