//! Windows and macOS output: rodio's own device stream (cpal), which plays from its own thread.
//! Untested here (the project is built and tested on Linux only).

use rodio::mixer::Mixer;
use rodio::{DeviceSinkBuilder, MixerDeviceSink};

/// The default device, playing its mixer on cpal's thread.
pub struct Output {
    sink: MixerDeviceSink,
}

impl Output {
    /// Opens the default device. cpal can panic on some machines without sound hardware: that
    /// counts as "no device", not as a crash.
    ///
    /// # Errors
    /// Why there is no sound.
    pub fn open() -> Result<Output, String> {
        match crate::panics::catch(DeviceSinkBuilder::open_default_sink) {
            Ok(Ok(mut sink)) => {
                sink.log_on_drop(false);
                Ok(Output { sink })
            }
            Ok(Err(e)) => Err(format!("no audio output device ({e})")),
            Err(panic) => Err(format!(
                "no audio output device (the audio layer failed: {panic})"
            )),
        }
    }

    /// Where sounds are added.
    pub fn mixer(&self) -> &Mixer {
        self.sink.mixer()
    }

    /// cpal pulls the samples itself: nothing to do here, ever.
    ///
    /// # Errors
    /// Never.
    pub fn pump(&mut self, _playing: bool) -> Result<bool, String> {
        Ok(false)
    }
}
