//! The parts of the bot a flag can switch off, as one list: [`Subsystem`] names each part once
//! (its name, its `--no…` flag, its health-panel service) and [`Subsystems`] is a set of them.
//! The command line fills the set, the app starts what is in it, the integration hub reports
//! which integrations run, scripts check it before calling one, and the console lists it.

use crate::event::Service;

/// One part of the bot that can be switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subsystem {
    /// The chat connection (reading and sending).
    Chat,
    /// The EventSub WebSocket (follows, subs, cheers, raids, redemptions, stream state).
    EventSub,
    /// Timer scripts.
    Timers,
    /// The web console.
    Console,
    /// OBS through obs-websocket.
    Obs,
    /// Discord webhooks and channels.
    Discord,
    /// The ZeroMQ publisher.
    Zmq,
    /// Sounds from the sounds folder.
    Sound,
    /// Key combinations pressed on the desktop.
    Hotkeys,
    /// Desktop notifications.
    Notify,
}

impl Subsystem {
    /// Every subsystem, in the order the console's health panel lists them.
    pub const ALL: [Subsystem; 10] = [
        Subsystem::Chat,
        Subsystem::EventSub,
        Subsystem::Timers,
        Subsystem::Console,
        Subsystem::Obs,
        Subsystem::Discord,
        Subsystem::Zmq,
        Subsystem::Sound,
        Subsystem::Hotkeys,
        Subsystem::Notify,
    ];

    /// The integrations: the peers next to the streamer's PC, started by the integration hub.
    pub const INTEGRATIONS: [Subsystem; 6] = [
        Subsystem::Obs,
        Subsystem::Discord,
        Subsystem::Zmq,
        Subsystem::Sound,
        Subsystem::Hotkeys,
        Subsystem::Notify,
    ];

    /// The name the code, the logs and the console's integration calls use (`sound`, `obs`).
    pub fn name(self) -> &'static str {
        match self {
            Subsystem::Chat => "chat",
            Subsystem::EventSub => "eventsub",
            Subsystem::Timers => "timers",
            Subsystem::Console => "console",
            Subsystem::Obs => "obs",
            Subsystem::Discord => "discord",
            Subsystem::Zmq => "zmq",
            Subsystem::Sound => "sound",
            Subsystem::Hotkeys => "hotkeys",
            Subsystem::Notify => "notify",
        }
    }

    /// The subsystem of that [`Subsystem::name`].
    pub fn from_name(name: &str) -> Option<Subsystem> {
        Subsystem::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The command-line switch that turns it off (`--nosound`).
    pub fn flag(self) -> &'static str {
        match self {
            Subsystem::Chat => "--nochat",
            Subsystem::EventSub => "--noeventsub",
            Subsystem::Timers => "--notimers",
            Subsystem::Console => "--noconsole",
            Subsystem::Obs => "--noobs",
            Subsystem::Discord => "--nodiscord",
            Subsystem::Zmq => "--nozmq",
            Subsystem::Sound => "--nosound",
            Subsystem::Hotkeys => "--nohotkeys",
            Subsystem::Notify => "--nonotify",
        }
    }

    /// How a sentence names it for a streamer or a script author (`OBS`, `ZeroMQ`, `Sound`).
    pub fn label(self) -> &'static str {
        match self {
            Subsystem::Chat => "Chat",
            Subsystem::EventSub => "EventSub",
            Subsystem::Timers => "Timers",
            Subsystem::Console => "The console",
            Subsystem::Obs => "OBS",
            Subsystem::Discord => "Discord",
            Subsystem::Zmq => "ZeroMQ",
            Subsystem::Sound => "Sound",
            Subsystem::Hotkeys => "Hotkeys",
            Subsystem::Notify => "Notifications",
        }
    }

    /// The connection the health panel shows for it; timers have none.
    pub fn service(self) -> Option<Service> {
        Some(match self {
            Subsystem::Chat => Service::Chat,
            Subsystem::EventSub => Service::EventSub,
            Subsystem::Timers => return None,
            Subsystem::Console => Service::Console,
            Subsystem::Obs => Service::Obs,
            Subsystem::Discord => Service::Discord,
            Subsystem::Zmq => Service::Zmq,
            Subsystem::Sound => Service::Sound,
            Subsystem::Hotkeys => Service::Hotkeys,
            Subsystem::Notify => Service::Notify,
        })
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl std::fmt::Display for Subsystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of subsystems: those switched on, or those running. `Default` is the empty set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Subsystems(u16);

impl Subsystems {
    /// No subsystem.
    pub const NONE: Subsystems = Subsystems(0);

    /// Every subsystem: what runs when no flag switches one off.
    pub fn all() -> Subsystems {
        Subsystem::ALL.into_iter().collect()
    }

    /// Whether `subsystem` is in the set.
    pub fn contains(self, subsystem: Subsystem) -> bool {
        self.0 & subsystem.bit() != 0
    }

    /// Puts `subsystem` in the set (`on`) or takes it out.
    pub fn set(&mut self, subsystem: Subsystem, on: bool) {
        if on {
            self.0 |= subsystem.bit();
        } else {
            self.0 &= !subsystem.bit();
        }
    }

    /// The same set with `subsystem` in it.
    #[must_use]
    pub fn with(mut self, subsystem: Subsystem) -> Subsystems {
        self.set(subsystem, true);
        self
    }

    /// The same set without `subsystem`.
    #[must_use]
    pub fn without(mut self, subsystem: Subsystem) -> Subsystems {
        self.set(subsystem, false);
        self
    }

    /// The same, with every integration (OBS, Discord, ZeroMQ, sound, hotkeys, notifications)
    /// off: the core alone, as tests and benchmarks of the core want it.
    #[must_use]
    pub fn without_integrations(self) -> Subsystems {
        Subsystem::INTEGRATIONS
            .into_iter()
            .fold(self, Subsystems::without)
    }

    /// The subsystems in the set, in [`Subsystem::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = Subsystem> {
        Subsystem::ALL
            .into_iter()
            .filter(move |s| self.contains(*s))
    }
}

impl FromIterator<Subsystem> for Subsystems {
    fn from_iter<I: IntoIterator<Item = Subsystem>>(iter: I) -> Subsystems {
        let mut set = Subsystems::NONE;
        for s in iter {
            set.set(s, true);
        }
        set
    }
}

impl std::fmt::Debug for Subsystems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Subsystem::name))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_subsystem_has_its_own_name_flag_and_bit() {
        let names: std::collections::BTreeSet<_> =
            Subsystem::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names.len(), Subsystem::ALL.len());
        for s in Subsystem::ALL {
            assert_eq!(Subsystem::from_name(s.name()), Some(s));
            assert_eq!(s.flag(), format!("--no{}", s.name()));
            assert_eq!(Subsystems::NONE.with(s).iter().collect::<Vec<_>>(), [s]);
        }
        assert_eq!(Subsystem::from_name("audio"), None);
    }

    #[test]
    fn the_set_switches_parts_on_and_off() {
        let mut set = Subsystems::all();
        assert_eq!(set.iter().count(), Subsystem::ALL.len());
        set.set(Subsystem::Sound, false);
        assert!(!set.contains(Subsystem::Sound) && set.contains(Subsystem::Obs));
        let core = set.without_integrations();
        assert_eq!(
            core.iter().collect::<Vec<_>>(),
            [
                Subsystem::Chat,
                Subsystem::EventSub,
                Subsystem::Timers,
                Subsystem::Console
            ]
        );
        assert_eq!(
            format!("{core:?}"),
            r#"{"chat", "eventsub", "timers", "console"}"#
        );
        assert_eq!(Subsystems::default(), Subsystems::NONE);
    }
}
