//! Hotkeys: scripts press key combinations named in `configs/hotkeys.yaml` (`brb: ctrl+shift+F1`)
//! by name. Only scripts reach them: no chat command or console button presses a key unless a
//! script the streamer wrote does.
//!
//! enigo's connection to the display is not `Send` on every platform, so one dedicated thread
//! owns it; a call only checks the name and hands the combination to that thread. No display (no
//! `DISPLAY` on Linux, no permission on macOS) is one warning and a `Down` state: the bot goes on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use enigo::{Direction, Enigo, Keyboard, Settings};
use tracing::{debug, info, warn};

use super::{Call, CallError, Integration, StartContext, Started};
use crate::action::HotkeyCall;
use crate::config::hotkeys::{Key, KeyCombo, Modifier};
use crate::event::{ConnectionState, Service};
use crate::subsystems::Subsystem;

/// Presses waiting at most.
const BACKLOG: usize = 16;

/// How often the thread looks at the shutdown token while idle.
const IDLE_TICK: Duration = Duration::from_millis(200);

/// The running hotkeys integration.
pub struct Hotkeys {
    keys: BTreeMap<String, KeyCombo>,
    presses: SyncSender<(String, KeyCombo)>,
    /// Set once the display could not be reached (the one warning was given).
    down: Arc<AtomicBool>,
}

/// Starts the key thread; `None` only when it cannot be spawned.
pub fn start(ctx: &StartContext) -> Option<Started> {
    let config = &ctx.config.hotkeys;
    let (tx, rx) = sync_channel(BACKLOG);
    let down = Arc::new(AtomicBool::new(false));
    let hold = Duration::from_millis(u64::from(config.hold_ms));
    let (thread_ctx, thread_down) = (ctx.clone(), down.clone());
    if let Err(e) = std::thread::Builder::new()
        .name("hotkeys".into())
        .spawn(move || run(&thread_ctx, hold, &thread_down, &rx))
    {
        ctx.report(
            Service::Hotkeys,
            ConnectionState::Down {
                reason: format!("cannot start the hotkeys thread: {e}"),
            },
        );
        return None;
    }
    Some(Started {
        integration: Arc::new(Hotkeys {
            keys: config.keys.clone(),
            presses: tx,
            down,
        }),
        task: None,
    })
}

fn run(
    ctx: &StartContext,
    hold: Duration,
    down: &AtomicBool,
    presses: &Receiver<(String, KeyCombo)>,
) {
    let connected = crate::panics::catch(|| Enigo::new(&Settings::default()));
    let mut enigo = match connected {
        Ok(Ok(enigo)) => enigo,
        Ok(Err(e)) => return off(ctx, down, e.to_string()),
        Err(panic) => return off(ctx, down, format!("the input library failed: {panic}")),
    };
    info!("hotkeys: pressing keys on the desktop");
    ctx.report(Service::Hotkeys, ConnectionState::Connected);
    loop {
        match presses.recv_timeout(IDLE_TICK) {
            Ok((name, combo)) => {
                if let Err(e) = press(&mut enigo, &combo, hold) {
                    warn!("hotkey `{name}` ({combo}) was not pressed: {e}");
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if ctx.shutdown.is_cancelled() {
            return;
        }
    }
}

fn off(ctx: &StartContext, down: &AtomicBool, reason: String) {
    down.store(true, Ordering::Relaxed);
    // The dispatcher logs the `Down` state as the one warning.
    ctx.report(
        Service::Hotkeys,
        ConnectionState::Down {
            reason: format!(
                "no desktop to press keys on ({reason}); the bot goes on without hotkeys (--nohotkeys switches them off)"
            ),
        },
    );
}

/// Holds the modifiers, taps the key for `hold`, and releases everything in reverse order —
/// also when a step fails, so no modifier stays stuck down.
fn press(enigo: &mut Enigo, combo: &KeyCombo, hold: Duration) -> Result<(), String> {
    let key = enigo_key(combo.key)?;
    let mut held = Vec::with_capacity(combo.modifiers.len() + 1);
    let mut result = Ok(());
    for m in combo
        .modifiers
        .iter()
        .map(|m| modifier_key(*m))
        .chain([key])
    {
        match enigo.key(m, Direction::Press) {
            Ok(()) => held.push(m),
            Err(e) => {
                result = Err(e.to_string());
                break;
            }
        }
    }
    if result.is_ok() {
        std::thread::sleep(hold);
    }
    for k in held.into_iter().rev() {
        if let Err(e) = enigo.key(k, Direction::Release) {
            result = result.and(Err(e.to_string()));
        }
    }
    result
}

fn modifier_key(m: Modifier) -> enigo::Key {
    match m {
        Modifier::Ctrl => enigo::Key::Control,
        Modifier::Shift => enigo::Key::Shift,
        Modifier::Alt => enigo::Key::Alt,
        Modifier::Meta => enigo::Key::Meta,
    }
}

fn enigo_key(key: Key) -> Result<enigo::Key, String> {
    use enigo::Key as E;
    Ok(match key {
        Key::Char(c) => E::Unicode(c),
        Key::F(n) => function_key(n)?,
        Key::Space => E::Space,
        Key::Enter => E::Return,
        Key::Tab => E::Tab,
        Key::Escape => E::Escape,
        Key::Backspace => E::Backspace,
        Key::Delete => E::Delete,
        Key::Insert => insert_key()?,
        Key::Home => E::Home,
        Key::End => E::End,
        Key::PageUp => E::PageUp,
        Key::PageDown => E::PageDown,
        Key::Up => E::UpArrow,
        Key::Down => E::DownArrow,
        Key::Left => E::LeftArrow,
        Key::Right => E::RightArrow,
    })
}

#[cfg(not(target_os = "macos"))]
fn insert_key() -> Result<enigo::Key, String> {
    Ok(enigo::Key::Insert)
}

#[cfg(target_os = "macos")]
fn insert_key() -> Result<enigo::Key, String> {
    Err("macOS keyboards have no Insert key".into())
}

fn function_key(n: u8) -> Result<enigo::Key, String> {
    use enigo::Key as E;
    Ok(match n {
        1 => E::F1,
        2 => E::F2,
        3 => E::F3,
        4 => E::F4,
        5 => E::F5,
        6 => E::F6,
        7 => E::F7,
        8 => E::F8,
        9 => E::F9,
        10 => E::F10,
        11 => E::F11,
        12 => E::F12,
        13 => E::F13,
        14 => E::F14,
        15 => E::F15,
        16 => E::F16,
        17 => E::F17,
        18 => E::F18,
        19 => E::F19,
        20 => E::F20,
        #[cfg(not(target_os = "macos"))]
        21 => E::F21,
        #[cfg(not(target_os = "macos"))]
        22 => E::F22,
        #[cfg(not(target_os = "macos"))]
        23 => E::F23,
        #[cfg(not(target_os = "macos"))]
        24 => E::F24,
        n => return Err(format!("F{n} cannot be pressed on this system")),
    })
}

impl Integration for Hotkeys {
    fn subsystem(&self) -> Subsystem {
        Subsystem::Hotkeys
    }

    fn call(&self, call: Call) -> Result<(), CallError> {
        let Call::Hotkeys(HotkeyCall::Press { name }) = call else {
            return Err(call.not_for(Subsystem::Hotkeys));
        };
        let name = name.as_str();
        let combo = self
            .keys
            .get(name)
            .ok_or_else(|| unknown(name, &self.keys))?;
        if self.down.load(Ordering::Relaxed) {
            debug!("no desktop: hotkey `{name}` not pressed");
            return Ok(());
        }
        match self.presses.try_send((name.to_string(), combo.clone())) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(CallError::Busy("hotkeys".into())),
            Err(TrySendError::Disconnected(_)) => Ok(()),
        }
    }
}

fn unknown(name: &str, keys: &BTreeMap<String, KeyCombo>) -> CallError {
    let known = if keys.is_empty() {
        "none are defined yet".to_string()
    } else {
        let names: Vec<&str> = keys.keys().map(String::as_str).collect();
        format!("the names are: {}", names.join(", "))
    };
    CallError::BadData(format!(
        "there is no hotkey `{name}` in configs/hotkeys.yaml (add it under `keys:`; {known})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_the_config_accepts_maps_to_a_key() {
        for c in ('a'..='z').chain('0'..='9') {
            assert_eq!(enigo_key(Key::Char(c)).unwrap(), enigo::Key::Unicode(c));
        }
        #[cfg(not(target_os = "macos"))]
        for n in 1..=24 {
            assert!(enigo_key(Key::F(n)).is_ok(), "F{n}");
        }
        assert_eq!(enigo_key(Key::PageUp).unwrap(), enigo::Key::PageUp);
        assert_eq!(modifier_key(Modifier::Meta), enigo::Key::Meta);
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let mut keys = BTreeMap::new();
        keys.insert("brb".to_string(), "ctrl+shift+F1".parse().unwrap());
        keys.insert("mute".to_string(), "ctrl+m".parse().unwrap());
        let e = unknown("bbr", &keys).to_string();
        assert!(e.contains("no hotkey `bbr` in configs/hotkeys.yaml"), "{e}");
        assert!(e.contains("brb, mute"), "{e}");
        assert!(
            unknown("x", &BTreeMap::new())
                .to_string()
                .contains("none are defined")
        );
    }
}
