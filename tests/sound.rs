//! Sound through a real PulseAudio null sink (what the bot plays is recorded from the sink's
//! monitor and measured): scripts' sounds and the shipped example reward with its shipped
//! sounds; and with no audio device, or no ALSA library, at all.
//!
//! The bot runs as a child process: ALSA and PulseAudio are found through environment variables
//! and files under HOME, which are process-wide.

mod common;
mod desktop_support;
mod peers;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use desktop_support::{Bot, BotDir, Peer, have};

/// `!snd <file> [volume]` plays, `!snd` skips.
const SND: &str = r#"
fn run(ctx) {
    if ctx.args.len() == 0 {
        ctx.sound.skip();
        ctx.reply("skipped");
        return;
    }
    let file = ctx.args[0];
    if ctx.args.len() > 1 {
        ctx.sound.play(file, parse_float(ctx.args[1]));
    } else {
        ctx.sound.play(file);
    }
    ctx.reply("playing " + file);
}
"#;

const RATE: u32 = 44_100;
/// The test tone's peak (of 32767).
const AMPLITUDE: f64 = 16_000.0;

/// A mono 16-bit WAV of a 440 Hz tone.
fn write_tone(path: &Path, secs: f64) {
    let frames = (f64::from(RATE) * secs) as u32;
    let mut wav = Vec::with_capacity(44 + frames as usize * 2);
    let data_len = frames * 2;
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..frames {
        let t = f64::from(i) / f64::from(RATE);
        let s = (AMPLITUDE * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16;
        wav.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, wav).expect("write wav");
}

/// PulseAudio with a null sink, its socket under `home`.
struct Pulse {
    _daemon: Peer,
    server: String,
}

impl Pulse {
    fn start(home: &Path) -> Pulse {
        let socket = home.join("native");
        let daemon = Peer::spawn(
            "pulseaudio",
            Command::new("pulseaudio")
                .args([
                    "-n",
                    "--daemonize=no",
                    "--exit-idle-time=-1",
                    "--use-pid-file=no",
                ])
                .arg(format!(
                    "--load=module-native-protocol-unix auth-anonymous=1 socket={}",
                    socket.display()
                ))
                .arg("--load=module-null-sink sink_name=nullsink rate=48000 channels=2")
                .arg("--load=module-always-sink")
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", home)
                .env("XDG_RUNTIME_DIR", home)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "PulseAudio made no socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        // ALSA's default device is PulseAudio, through the pulse plugin.
        std::fs::write(
            home.join(".asoundrc"),
            "pcm.!default { type pulse }\nctl.!default { type pulse }\n",
        )
        .expect("asoundrc");
        Pulse {
            _daemon: daemon,
            server: format!("unix:{}", socket.display()),
        }
    }

    fn env(&self, home: &Path) -> Vec<(&'static str, String)> {
        vec![
            ("PULSE_SERVER", self.server.clone()),
            ("XDG_RUNTIME_DIR", home.display().to_string()),
        ]
    }
}

/// Records the null sink's monitor: 48 kHz stereo s16le, in real time.
struct Recorder {
    _parec: Peer,
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl Recorder {
    fn start(pulse: &Pulse, home: &Path) -> Recorder {
        let mut parec = Peer::spawn(
            "parec",
            Command::new("parec")
                .args(["-d", "nullsink.monitor", "--format=s16le", "--rate=48000"])
                .args(["--channels=2", "--latency-msec=20"])
                .env_clear()
                .env("HOME", home)
                .env("XDG_RUNTIME_DIR", home)
                .env("PULSE_SERVER", &pulse.server)
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let mut out = parec.child.stdout.take().expect("parec stdout");
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = bytes.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 8192];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let rec = Recorder {
            _parec: parec,
            bytes,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while rec.mark() < 48_000 {
            assert!(Instant::now() < deadline, "parec records nothing");
            std::thread::sleep(Duration::from_millis(20));
        }
        rec
    }

    /// How much has been recorded: a position to measure from.
    fn mark(&self) -> usize {
        self.bytes.lock().unwrap().len() & !3
    }

    /// The loudest sample between two marks.
    fn peak(&self, from: usize, to: usize) -> i32 {
        let bytes = self.bytes.lock().unwrap();
        bytes[from..to]
            .chunks_exact(2)
            .map(|s| i32::from(i16::from_le_bytes([s[0], s[1]])).abs())
            .max()
            .unwrap_or(0)
    }
    /// Waits (up to 5 s) until something was heard after `from` and the last 300 ms were
    /// silent again; returns the mark there. Robust to a slow machine, unlike fixed sleeps.
    fn after_sound(&self, from: usize) -> usize {
        const QUIET: usize = 48_000 * 4 * 3 / 10;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let now = self.mark();
            if now > from + QUIET && self.peak(from, now) > 0 && self.peak(now - QUIET, now) == 0 {
                return now;
            }
            assert!(Instant::now() < deadline, "no sound, or it does not end");
        }
    }

    /// Waits (up to 5 s) until a sample louder than `level` was heard after `from`.
    fn heard(&self, from: usize, level: i32) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.peak(from, self.mark()) > level {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

fn sleep(secs: f64) {
    std::thread::sleep(Duration::from_secs_f64(secs));
}

fn setup(dir: &BotDir, queue: usize) {
    let sounds = dir.path().join("sounds");
    std::fs::create_dir_all(&sounds).expect("mkdir");
    write_tone(&sounds.join("beep.wav"), 0.4);
    write_tone(&sounds.join("long.wav"), 8.0);
    dir.write(
        "configs/bot.yaml",
        &format!(
            "chat:\n  transport: irc\nsound:\n  folder: {}\n  volume: 0.8\n  queue: {queue}\n",
            sounds.display()
        ),
    );
    dir.write("scripts/commands/snd.rhai", SND);
}

#[test]
fn scripts_play_sounds_at_their_volume_and_skip_them() {
    if !have(&["pulseaudio", "parec"], "sound through PulseAudio") {
        return;
    }
    let dir = BotDir::new();
    setup(&dir, 2);
    let home = dir.home();
    let pulse = Pulse::start(&home);
    let rec = Recorder::start(&pulse, &home);
    let mut bot = Bot::start(&dir, &["--nohotkeys", "--nonotify"], &pulse.env(&home));

    let quiet_before = rec.mark();
    sleep(0.3);
    assert_eq!(rec.peak(quiet_before, rec.mark()), 0, "silence before");

    // At sound.volume 0.8 the tone's peak of 16000 arrives as about 12800.
    let m0 = rec.mark();
    bot.ask("!snd beep.wav", "playing beep.wav", 5)
        .expect("the bot answers");
    let m1 = rec.after_sound(m0);
    let loud = rec.peak(m0, m1);
    assert!(
        (11_500..=14_000).contains(&loud),
        "the beep is heard at 0.8 of its level: peak {loud}"
    );

    // A script's volume 0.25 on top of that: a quarter as loud.
    bot.ask("!snd beep.wav 0.25", "playing beep.wav", 5)
        .expect("the bot answers");
    let m2 = rec.after_sound(m1);
    let soft = rec.peak(m1, m2);
    assert!(
        (2_800..=3_700).contains(&soft),
        "the beep at volume 0.25 is a quarter as loud: peak {soft} (full: {loud})"
    );

    // An eight-second sound plays until it is skipped, then there is silence.
    bot.ask("!snd long.wav", "playing long.wav", 5)
        .expect("the bot answers");
    assert!(rec.heard(m2, 10_000), "the long sound plays");
    let m3 = rec.mark();
    bot.ask("!snd", "skipped", 5).expect("the bot answers");
    // Silence while the sound still had more than 5 s to go: the skip worked.
    let m4 = rec.after_sound(m3);
    sleep(1.0);
    let after_skip = rec.peak(m4, rec.mark());
    assert!(
        after_skip < 100,
        "silence after the skip (the sound had 5 s left): peak {after_skip}"
    );

    // A file that is not there: a warning naming the file and the folder, and the bot goes on.
    bot.ask("!snd nothere.wav", "playing nothere.wav", 5)
        .expect("the bot answers");
    let sounds = dir.path().join("sounds").display().to_string();
    let warning = bot
        .stderr
        .wait(20, |l| l.contains("WARN") && l.contains("nothere.wav"))
        .expect("a warning about the missing file");
    assert!(warning.contains(&sounds), "names the folder: {warning}");

    // sound.queue is 2: one playing and two waiting, the next is dropped with a warning.
    for _ in 0..4 {
        bot.ask("!snd long.wav", "playing long.wav", 5)
            .expect("the bot answers");
    }
    let full = bot
        .stderr
        .wait(20, |l| l.contains("WARN") && l.contains("queue is full"))
        .expect("a warning about the full queue");
    assert!(full.contains("long.wav"), "{full}");
    assert!(bot.alive(5), "the bot still answers chat");
    bot.stop();
}

/// Waits for the one `Sound: down` warning and returns it, after checking that scripts that
/// play sounds still run and answer, and that nothing more is said about sound.
fn sound_is_down_once(bot: &mut Bot) -> String {
    let down = bot
        .stderr
        .wait(30, |l| l.contains("WARN") && l.contains("Sound: down"))
        .expect("one warning that sound is off");
    for _ in 0..3 {
        bot.ask("!snd beep.wav", "playing beep.wav", 5)
            .expect("the bot answers");
    }
    assert!(bot.alive(5), "the bot still answers chat");
    let sound_warnings: Vec<_> = bot
        .warnings()
        .into_iter()
        .filter(|l| l.contains("Sound") || l.contains("sound"))
        .collect();
    assert_eq!(sound_warnings.len(), 1, "{sound_warnings:#?}");
    down
}

#[test]
fn no_audio_device_is_one_warning_and_the_bot_goes_on() {
    let dir = BotDir::new();
    setup(&dir, 16);
    // An ALSA configuration that defines no device at all, whatever this machine has.
    let alsa = dir.write("alsa-empty.conf", "");
    let home = dir.home().display().to_string();
    let mut bot = Bot::start(
        &dir,
        &["--nohotkeys", "--nonotify"],
        &[
            ("ALSA_CONFIG_PATH", alsa.display().to_string()),
            ("XDG_RUNTIME_DIR", home),
        ],
    );
    let down = sound_is_down_once(&mut bot);
    assert!(down.contains("no audio output device"), "{down}");
    assert!(
        down.contains("ALSA cannot open"),
        "says what ALSA said: {down}"
    );
    assert!(
        down.contains("--nosound"),
        "says how to switch it off: {down}"
    );
    // ALSA's own complaints (it prints a line per configuration lookup that fails) stay off
    // the bot's output.
    let alsa_noise: Vec<_> = bot
        .stderr
        .all()
        .into_iter()
        .filter(|l| l.contains("ALSA lib"))
        .collect();
    assert!(alsa_noise.is_empty(), "{alsa_noise:#?}");
    bot.stop();
}

#[test]
fn no_alsa_library_is_one_warning_and_the_bot_goes_on() {
    let dir = BotDir::new();
    setup(&dir, 16);
    // The dynamic loader looks in LD_LIBRARY_PATH first: an empty file there is a
    // libasound.so.2 that cannot be loaded, as on a machine without ALSA's library.
    let libs = dir.path().join("no-alsa");
    std::fs::create_dir_all(&libs).expect("mkdir");
    std::fs::write(libs.join("libasound.so.2"), b"").expect("write");
    let mut bot = Bot::start(
        &dir,
        &["--nohotkeys", "--nonotify"],
        &[("LD_LIBRARY_PATH", libs.display().to_string())],
    );
    let down = sound_is_down_once(&mut bot);
    assert!(
        down.contains("Sound: down (libasound.so.2 not found"),
        "names the library: {down}"
    );
    assert!(
        down.contains("file too short"),
        "gives the loader's reason: {down}"
    );
    assert!(down.contains("libasound2"), "says what to install: {down}");
    bot.stop();
}

#[test]
fn the_example_reward_plays_the_shipped_sounds() {
    if !have(&["pulseaudio", "parec"], "sound through PulseAudio") {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = BotDir::new();
    dir.write(
        "configs/bot.yaml",
        &format!(
            "chat:\n  transport: irc\nsound:\n  folder: {}\n  volume: 0.8\n",
            repo.join("sounds").display()
        ),
    );
    let reward = std::fs::read_to_string(repo.join("scripts/rewards/sound.rhai")).expect("read");
    dir.write("scripts/rewards/sound.rhai", &reward);
    dir.write("scripts/commands/snd.rhai", SND);
    let home = dir.home();
    let pulse = Pulse::start(&home);
    let rec = Recorder::start(&pulse, &home);
    let mut bot = Bot::start(&dir, &["--nohotkeys", "--nonotify"], &pulse.env(&home));

    // A viewer redeems the channel-point reward "Play a sound" typing `airhorn`: the script
    // plays `airhorn` by name and the shipped airhorn.wav is heard (nothing else plays).
    bot.stderr
        .wait(10, |l| l.contains("EventSub: connected"))
        .expect("EventSub is subscribed: redemptions arrive");
    let m0 = rec.mark();
    bot.say("/redeem alice Play a sound | airhorn");
    let m1 = rec.after_sound(m0);
    let horn = rec.peak(m0, m1);
    assert!(horn > 8_000, "the airhorn is heard: peak {horn}");

    // The other two shipped sounds play by their bare names too.
    for name in ["applause", "drumroll"] {
        let from = rec.mark();
        bot.ask(&format!("!snd {name}"), &format!("playing {name}"), 5)
            .expect("the bot answers");
        let to = rec.after_sound(from);
        let peak = rec.peak(from, to);
        assert!(peak > 8_000, "{name} is heard: peak {peak}");
    }
    let missing: Vec<_> = bot
        .warnings()
        .into_iter()
        .filter(|l| l.contains("sound"))
        .collect();
    assert!(missing.is_empty(), "{missing:#?}");
    bot.stop();
}

#[test]
fn noaudio_switches_sound_off_without_a_word() {
    let dir = BotDir::new();
    setup(&dir, 16);
    let alsa = dir.write("alsa-empty.conf", "");
    let mut bot = Bot::start(
        &dir,
        &["--noaudio", "--nohotkeys", "--nonotify"],
        &[("ALSA_CONFIG_PATH", alsa.display().to_string())],
    );
    // The script's call fails (sound is not available), so it does not get to its reply.
    assert!(bot.ask("!snd beep.wav", "playing", 2).is_none());
    assert!(bot.alive(5));
    let said: Vec<_> = bot
        .warnings()
        .into_iter()
        .filter(|l| l.contains("Sound: down"))
        .collect();
    assert!(said.is_empty(), "{said:#?}");
    assert!(
        bot.stderr
            .all()
            .iter()
            .any(|l| l.contains("Sound is not available")),
        "the script's error says why: {:#?}",
        bot.stderr.all()
    );
    bot.stop();
}
