//! Sound: scripts play files from the sounds folder (`sound.folder`: wav, ogg, mp3, flac, named
//! with or without the extension) one after another on a bounded queue, at `sound.volume` times
//! the script's own volume, and may skip the one playing.
//!
//! rodio decodes and mixes on every platform. One dedicated thread owns the output and the
//! player: calls only validate their data and hand a command to that thread through a bounded
//! channel, so the dispatcher never waits on the disk or the sound card. On Linux that thread
//! also writes the mixed samples to ALSA, whose library is opened at run time (`alsa.rs`); on
//! Windows and macOS rodio's own device stream plays them. No library or no device is one
//! warning and a `Down` audio state: the bot goes on without sound.

#[cfg(target_os = "linux")]
mod alsa;
#[cfg(not(target_os = "linux"))]
#[path = "device.rs"]
mod output;
#[cfg(target_os = "linux")]
#[path = "linux.rs"]
mod output;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{
    Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError, sync_channel,
};
use std::time::Duration;

use rodio::{Decoder, Player, Source};
use tracing::{debug, info, warn};

use super::{Call, CallError, Integration, StartContext, Started};
use crate::action::SoundCall;
use crate::action::calls::sound_extension as extension;
use crate::event::{ConnectionState, Service};
use crate::subsystems::Subsystem;

/// The file kinds rodio decodes with the features we build it with, in the order a name
/// without an extension is looked for.
pub use crate::action::calls::SOUND_EXTENSIONS as EXTENSIONS;

/// How often the sound thread looks at the shutdown token while idle.
const IDLE_TICK: Duration = Duration::from_millis(200);

/// What the sound thread is asked to do.
#[derive(Debug, Clone, PartialEq)]
enum Command {
    Play { file: String, volume: f32 },
    Skip,
}

/// The running sound integration: a handle to the sound thread.
pub struct Sound {
    commands: SyncSender<Command>,
    /// Set once the device could not be opened: plays are then dropped without a word each
    /// (the one warning was given).
    down: Arc<AtomicBool>,
}

/// Starts the sound thread; `None` only when the thread cannot be spawned.
pub fn start(ctx: &StartContext) -> Option<Started> {
    let config = ctx.config.bot.sound.clone();
    let folder = PathBuf::from(&config.folder);
    // Room for the queue plus a few skips; the queue's real bound is checked against what the
    // player holds.
    let (tx, rx) = sync_channel(config.queue.saturating_add(4));
    let down = Arc::new(AtomicBool::new(false));
    let thread = SoundThread {
        folder,
        master: config.volume,
        queue: config.queue,
        down: down.clone(),
        ctx: ctx.clone(),
    };
    if let Err(e) = std::thread::Builder::new()
        .name("sound".into())
        .spawn(move || thread.run(rx))
    {
        ctx.report(
            Service::Sound,
            ConnectionState::Down {
                reason: format!("cannot start the sound thread: {e}"),
            },
        );
        return None;
    }
    Some(Started {
        integration: Arc::new(Sound { commands: tx, down }),
        task: None,
    })
}

impl Integration for Sound {
    fn subsystem(&self) -> Subsystem {
        Subsystem::Sound
    }

    fn call(&self, call: Call) -> Result<(), CallError> {
        let command = match call {
            Call::Sound(SoundCall::Play { file, volume }) => Command::Play { file, volume },
            Call::Sound(SoundCall::Skip) => Command::Skip,
            other => return Err(other.not_for(Subsystem::Sound)),
        };
        if self.down.load(Ordering::Relaxed) {
            debug!("no audio device: {command:?} dropped");
            return Ok(());
        }
        match self.commands.try_send(command) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(CallError::Busy("sound".into())),
            Err(TrySendError::Disconnected(command)) => {
                debug!("the sound thread has stopped: {command:?} dropped");
                Ok(())
            }
        }
    }
}

/// Where a script's `file` is: itself when it has an extension, else the first of
/// `file.wav`, `file.ogg`, `file.mp3` and `file.flac` in the folder (`None`: none is there).
fn locate(folder: &Path, file: &str) -> Option<PathBuf> {
    if extension(file).is_some() {
        return Some(folder.join(file));
    }
    EXTENSIONS
        .iter()
        .map(|ext| folder.join(format!("{file}.{ext}")))
        .find(|path| path.is_file())
}

/// The thread that owns the output device.
struct SoundThread {
    folder: PathBuf,
    /// `sound.volume`.
    master: f32,
    /// `sound.queue`: sounds waiting at most.
    queue: usize,
    down: Arc<AtomicBool>,
    ctx: StartContext,
}

impl SoundThread {
    fn run(self, commands: Receiver<Command>) {
        if !self.folder.is_dir() {
            warn!(
                "the sounds folder {} does not exist (sound.folder in configs/bot.yaml): scripts' sounds will not be found",
                self.folder.display()
            );
        }
        let mut output = match output::Output::open() {
            Ok(output) => output,
            Err(reason) => {
                // The dispatcher logs the `Down` state as the one warning.
                self.go_down(format!(
                    "{reason}; the bot goes on without sound (--nosound switches sound off)"
                ));
                return;
            }
        };
        info!("sound: playing through the default output device");
        self.ctx.report(Service::Sound, ConnectionState::Connected);
        let player = Player::connect_new(output.mixer());
        if let Err(reason) = self.serve(&mut output, &player, &commands) {
            self.go_down(format!(
                "the audio device failed ({reason}); the bot goes on without sound"
            ));
        }
        player.stop();
    }

    /// Plays are dropped from now on, and the health panel says why.
    fn go_down(&self, reason: String) {
        self.down.store(true, Ordering::Relaxed);
        self.ctx
            .report(Service::Sound, ConnectionState::Down { reason });
    }

    /// Feeds the output while something plays and takes commands in between; waits for
    /// commands when idle. Returns when shut down, or with the device's error.
    fn serve(
        &self,
        output: &mut output::Output,
        player: &Player,
        commands: &Receiver<Command>,
    ) -> Result<(), String> {
        loop {
            if output.pump(!player.empty())? {
                loop {
                    match commands.try_recv() {
                        Ok(command) => self.handle(player, command),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => return Ok(()),
                    }
                }
            } else {
                match commands.recv_timeout(IDLE_TICK) {
                    Ok(command) => self.handle(player, command),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                }
            }
            if self.ctx.shutdown.is_cancelled() {
                return Ok(());
            }
        }
    }

    fn handle(&self, player: &Player, command: Command) {
        match command {
            Command::Play { file, volume } => self.play(player, &file, volume),
            Command::Skip => {
                if player.empty() {
                    debug!("sound.skip: nothing is playing");
                } else {
                    player.skip_one();
                }
            }
        }
    }

    fn play(&self, player: &Player, file: &str, volume: f32) {
        // The player holds the sound playing now plus the ones waiting.
        if player.len() > self.queue {
            warn!(
                "sound queue is full ({} waiting, sound.queue in configs/bot.yaml): `{file}` dropped",
                self.queue
            );
            return;
        }
        let not_here = || {
            let tried = if extension(file).is_some() {
                String::new()
            } else {
                format!(" as {file}.{}", EXTENSIONS.join(", ."))
            };
            warn!(
                "sound `{file}` is not in the sounds folder {}{tried} (sound.folder in configs/bot.yaml): put the file there or fix the script",
                self.folder.display()
            );
        };
        let Some(path) = locate(&self.folder, file) else {
            not_here();
            return;
        };
        let opened = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                not_here();
                return;
            }
            Err(e) => {
                warn!("sound `{}` cannot be read: {e}", path.display());
                return;
            }
        };
        let decoder = match Decoder::try_from(opened) {
            Ok(d) => d,
            Err(e) => {
                warn!(
                    "sound `{}` cannot be played: {e} (is it really {}?)",
                    path.display(),
                    EXTENSIONS.join("/")
                );
                return;
            }
        };
        debug!("sound: queued {} at volume {volume}", path.display());
        player.append(decoder.amplify(self.master * volume));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_without_an_extension_finds_the_first_kind_there() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(locate(dir.path(), "horn"), None);
        std::fs::write(dir.path().join("horn.mp3"), b"").unwrap();
        assert_eq!(
            locate(dir.path(), "horn"),
            Some(dir.path().join("horn.mp3"))
        );
        std::fs::write(dir.path().join("horn.wav"), b"").unwrap();
        assert_eq!(
            locate(dir.path(), "horn"),
            Some(dir.path().join("horn.wav"))
        );
        // An explicit extension is taken as it is.
        assert_eq!(
            locate(dir.path(), "horn.mp3"),
            Some(dir.path().join("horn.mp3"))
        );
    }
}
