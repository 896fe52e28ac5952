//! Linux output: rodio's mixer is read on the sound thread and written to ALSA's default device
//! through [`super::alsa`]. The device runs only while something plays: after the last sound a
//! buffer's worth of silence pushes its tail out, then the device is drained and waits.

use std::num::NonZero;

use rodio::mixer::{Mixer, MixerSource};

use super::alsa::Pcm;

/// 48 kHz stereo: what PulseAudio, PipeWire and most sound cards run at natively.
const RATE: NonZero<u32> = NonZero::new(48_000).expect("48000 is not zero");
const CHANNELS: NonZero<u16> = NonZero::new(2).expect("2 is not zero");
/// The device's buffer: how late a skip can be heard, and how much a busy machine may stall.
const LATENCY_US: u32 = 100_000;
/// Frames mixed and written at a time (20 ms): the sound thread looks at its commands between.
const CHUNK_FRAMES: usize = 960;

/// The default device and the mixer that feeds it.
pub struct Output {
    pcm: Pcm,
    mixer: Mixer,
    source: MixerSource,
    chunk: Vec<i16>,
    /// Frames of silence still to write before the device may stop.
    tail: usize,
    /// Whether the device was started since it was last drained.
    running: bool,
}

impl Output {
    /// Opens the default device.
    ///
    /// # Errors
    /// Why there is no sound: no ALSA library, or no device.
    pub fn open() -> Result<Output, String> {
        let pcm =
            Pcm::open_default(RATE.get(), CHANNELS.get(), LATENCY_US).map_err(|e| e.to_string())?;
        let (mixer, source) = rodio::mixer::mixer(CHANNELS, RATE);
        Ok(Output {
            pcm,
            mixer,
            source,
            chunk: vec![0; CHUNK_FRAMES * usize::from(CHANNELS.get())],
            tail: 0,
            running: false,
        })
    }

    /// Where sounds are added.
    pub fn mixer(&self) -> &Mixer {
        &self.mixer
    }

    /// Plays the next chunk when `playing` (or while the last sound's tail goes out).
    /// Returns whether it wrote: when not, nothing is due and the caller may wait for work.
    ///
    /// # Errors
    /// The device failed and could not be recovered.
    pub fn pump(&mut self, playing: bool) -> Result<bool, String> {
        if playing {
            self.tail = self.pcm.buffer_frames().saturating_add(CHUNK_FRAMES);
        } else if self.tail == 0 {
            if self.running {
                self.pcm.drain();
                self.running = false;
            }
            return Ok(false);
        }
        if !self.running {
            self.pcm.prepare()?;
            self.running = true;
        }
        for sample in &mut self.chunk {
            let s = self.source.next().unwrap_or(0.0);
            // `as` saturates; the clamp keeps an over-amplified sound from wrapping.
            *sample = (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16;
        }
        self.pcm.write(&self.chunk)?;
        if !playing {
            self.tail = self.tail.saturating_sub(CHUNK_FRAMES);
        }
        Ok(true)
    }
}
