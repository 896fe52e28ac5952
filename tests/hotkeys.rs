//! Hotkeys on a real X server (Xvfb), watched by a raw XI2 key observer on the root window
//! (`xinput test-xi2 --root`): what arrives is what any application on that desktop would see.
//!
//! The bot runs as a child process with its own DISPLAY.

mod common;
mod desktop_support;
mod peers;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use desktop_support::{Bot, BotDir, Lines, Peer, have};

/// `!hk <name>` presses the hotkey `name`.
const HK: &str = r#"
fn run(ctx) {
    ctx.hotkey.press(ctx.args[0]);
    ctx.reply("pressed " + ctx.args[0]);
}
"#;

const HOTKEYS: &str = "hold_ms: 30\nkeys:\n  scene: ctrl+shift+k\n  plain: F5\n";

// Keycodes of Xvfb's default (evdev) keymap.
const CONTROL_L: u32 = 37;
const SHIFT_L: u32 = 50;
const K: u32 = 45;
const F5: u32 = 71;
const F12: u32 = 96;

/// An X server of our own on a display number nobody uses.
struct Display {
    xvfb: Peer,
    name: String,
}

impl Display {
    fn start() -> Display {
        for n in 0..50 {
            let number = 200 + (std::process::id() + n) % 500;
            if Path::new(&format!("/tmp/.X{number}-lock")).exists() {
                continue;
            }
            let mut xvfb = Peer::spawn(
                "Xvfb",
                Command::new("Xvfb")
                    .arg(format!(":{number}"))
                    .args(["-screen", "0", "640x480x24", "-nolisten", "tcp"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            );
            let socket = format!("/tmp/.X11-unix/X{number}");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if Path::new(&socket).exists() {
                    return Display {
                        xvfb,
                        name: format!(":{number}"),
                    };
                }
                if let Ok(Some(_)) = xvfb.child.try_wait() {
                    break; // taken meanwhile: try the next number
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("no display number free for Xvfb");
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        // SIGTERM lets Xvfb remove its lock file and socket.
        self.xvfb.stop("-TERM");
    }
}

/// A raw key event seen on the root window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Raw {
    Press(u32),
    Release(u32),
}

/// `xinput test-xi2 --root`: every raw key event of the display.
struct Observer {
    _xinput: Peer,
    out: Lines,
}

impl Observer {
    fn start(display: &Display) -> Observer {
        let mut xinput = Peer::spawn(
            "xinput",
            Command::new("xinput")
                .args(["test-xi2", "--root"])
                .env("DISPLAY", &display.name)
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let out = Lines::default();
        out.follow(xinput.child.stdout.take().expect("stdout"));
        let observer = Observer {
            _xinput: xinput,
            out,
        };
        // Listening once a key pressed with xdotool shows up.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let _ = Command::new("xdotool")
                .args(["key", "F12"])
                .env("DISPLAY", &display.name)
                .status();
            std::thread::sleep(Duration::from_millis(100));
            if observer.events().contains(&Raw::Press(F12)) {
                break;
            }
            assert!(Instant::now() < deadline, "xinput sees no key events");
        }
        observer
    }

    /// Every raw key event so far, in order.
    fn events(&self) -> Vec<Raw> {
        let lines = self.out.all();
        let mut events = Vec::new();
        let mut kind: Option<bool> = None;
        for line in lines {
            if line.starts_with("EVENT type") {
                kind = if line.contains("(RawKeyPress)") {
                    Some(true)
                } else if line.contains("(RawKeyRelease)") {
                    Some(false)
                } else {
                    None
                };
            } else if let (Some(press), Some(code)) = (kind, line.trim().strip_prefix("detail: ")) {
                if let Ok(code) = code.trim().parse() {
                    events.push(if press {
                        Raw::Press(code)
                    } else {
                        Raw::Release(code)
                    });
                }
                kind = None;
            }
        }
        events
    }

    /// Waits up to `secs` for `want` events after the first `from`.
    fn wait(&self, from: usize, want: usize, secs: u64) -> Vec<Raw> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let events: Vec<Raw> = self.events().into_iter().skip(from).collect();
            if events.len() >= want || Instant::now() >= deadline {
                return events;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn bot_dir() -> BotDir {
    let dir = BotDir::new();
    dir.write("configs/hotkeys.yaml", HOTKEYS);
    dir.write("scripts/commands/hk.rhai", HK);
    dir
}

#[test]
fn a_script_presses_the_configured_combination() {
    if !have(&["Xvfb", "xinput", "xdotool"], "hotkeys under Xvfb") {
        return;
    }
    let display = Display::start();
    let observer = Observer::start(&display);
    let dir = bot_dir();
    let mut bot = Bot::start(
        &dir,
        &["--noaudio", "--nonotify"],
        &[("DISPLAY", display.name.clone())],
    );
    bot.stderr
        .wait(30, |l| l.contains("Hotkeys: connected"))
        .expect("hotkeys come up");

    // Modifiers go down first and come up last.
    let from = observer.events().len();
    bot.ask("!hk scene", "pressed scene", 5)
        .expect("the bot answers");
    assert_eq!(
        observer.wait(from, 6, 20),
        vec![
            Raw::Press(CONTROL_L),
            Raw::Press(SHIFT_L),
            Raw::Press(K),
            Raw::Release(K),
            Raw::Release(SHIFT_L),
            Raw::Release(CONTROL_L),
        ]
    );

    let from = observer.events().len();
    bot.ask("!hk plain", "pressed plain", 5)
        .expect("the bot answers");
    assert_eq!(
        observer.wait(from, 2, 20),
        vec![Raw::Press(F5), Raw::Release(F5)]
    );

    // A name that is not in hotkeys.yaml presses nothing and says which names there are.
    let from = observer.events().len();
    bot.ask("!hk nope", "pressed nope", 5)
        .expect("the bot answers");
    let warning = bot
        .stderr
        .wait(20, |l| l.contains("WARN") && l.contains("`nope`"))
        .expect("a warning about the unknown name");
    assert!(
        warning.contains("configs/hotkeys.yaml") && warning.contains("plain, scene"),
        "{warning}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(observer.wait(from, 1, 0), vec![], "no key was pressed");
    assert!(bot.alive(5));
    bot.stop();
}

#[test]
fn no_display_is_one_warning_and_the_bot_goes_on() {
    let dir = bot_dir();
    let mut bot = Bot::start(&dir, &["--noaudio", "--nonotify"], &[]);
    let down = bot
        .stderr
        .wait(30, |l| l.contains("WARN") && l.contains("Hotkeys: down"))
        .expect("one warning that hotkeys are off");
    assert!(
        down.contains("--nohotkeys"),
        "says how to switch them off: {down}"
    );
    for _ in 0..3 {
        bot.ask("!hk scene", "pressed scene", 5)
            .expect("the bot answers");
    }
    assert!(bot.alive(5));
    let said: Vec<_> = bot
        .warnings()
        .into_iter()
        .filter(|l| l.to_lowercase().contains("hotkey"))
        .collect();
    assert_eq!(said.len(), 1, "{said:#?}");
    bot.stop();
}
