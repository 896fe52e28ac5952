//! ALSA's playback API, opened at run time from `libasound.so.2`: the one place in the crate
//! that calls C. It owns loading the library, opening the default PCM for 16-bit interleaved
//! playback, writing with recovery, and keeping ALSA's own error printing off stderr. Nothing
//! here decodes or mixes (rodio does that) and nothing else in the crate may use `unsafe`.
//!
//! Opening the library at run time is what lets the bot build with the Rust toolchain and a C
//! compiler only (no ALSA headers, no pkg-config); a machine without the library gets a
//! [`LoadError`] and the bot goes on without sound.

#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_int, c_long, c_uint, c_ulong, c_void};
use std::fmt;
use std::ptr::NonNull;
use std::sync::OnceLock;

use libloading::Library;

/// The library's file name: the ABI ALSA has kept since 2002 (`.so.2`), not the `-dev` symlink.
pub const LIBRARY: &str = "libasound.so.2";

/// `SND_PCM_STREAM_PLAYBACK` (pcm.h).
const STREAM_PLAYBACK: c_int = 0;
/// `SND_PCM_FORMAT_S16_LE` / `SND_PCM_FORMAT_S16_BE` (pcm.h): native-endian 16-bit samples.
const FORMAT_S16: c_int = if cfg!(target_endian = "little") { 2 } else { 3 };
/// `SND_PCM_ACCESS_RW_INTERLEAVED` (pcm.h): `snd_pcm_writei`.
const ACCESS_RW_INTERLEAVED: c_int = 3;
/// How often a write may fail and be recovered in a row before the device counts as gone.
const MAX_RECOVERIES: u32 = 8;

/// `snd_local_error_handler_t` (error.h): `(file, line, func, err, fmt, va_list)`.
///
/// The last parameter is C's `va_list`. Rust cannot name that type on stable, and the handler
/// never reads it, so it is declared as a pointer-sized `*mut c_void`; that matches the C ABI
/// of every Linux target where Rust builds the bot: on x86-64 `va_list` is an array, which a
/// parameter receives as a pointer; on AArch64 it is a 32-byte struct, which the procedure call
/// standard passes as a pointer to a copy; on 32-bit x86 and ARM it is a pointer or a one-word
/// struct passed in one register or stack slot.
type LocalErrorHandler =
    unsafe extern "C" fn(*const c_char, c_int, *const c_char, c_int, *const c_char, *mut c_void);

/// Why ALSA could not be used at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// `dlopen` failed: no (usable) `libasound.so.2` on this machine.
    NotFound(String),
    /// The library lacks a function the bot calls (older than alsa-lib 1.0.16, 2008).
    MissingSymbol(&'static str, String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotFound(e) => write!(
                f,
                "{LIBRARY} not found ({e}); install ALSA's library (libasound2 on Debian and Ubuntu) for sound"
            ),
            LoadError::MissingSymbol(name, e) => write!(
                f,
                "{LIBRARY} has no `{name}` ({e}); it is too old to play sound"
            ),
        }
    }
}

/// The functions the bot calls, taken from the loaded library.
struct Api {
    /// Keeps the library mapped while the pointers below are in use: it lives in a static,
    /// so it is never unloaded (ALSA's plugins and configuration cache stay valid too).
    _library: Library,
    open: unsafe extern "C" fn(*mut *mut c_void, *const c_char, c_int, c_int) -> c_int,
    set_params:
        unsafe extern "C" fn(*mut c_void, c_int, c_int, c_uint, c_uint, c_int, c_uint) -> c_int,
    get_params: unsafe extern "C" fn(*mut c_void, *mut c_ulong, *mut c_ulong) -> c_int,
    writei: unsafe extern "C" fn(*mut c_void, *const c_void, c_ulong) -> c_long,
    recover: unsafe extern "C" fn(*mut c_void, c_int, c_int) -> c_int,
    prepare: unsafe extern "C" fn(*mut c_void) -> c_int,
    drain: unsafe extern "C" fn(*mut c_void) -> c_int,
    close: unsafe extern "C" fn(*mut c_void) -> c_int,
    strerror: unsafe extern "C" fn(c_int) -> *const c_char,
    /// Present since alsa-lib 1.1 (2015); deprecated but kept in 1.2.15+, where it still
    /// receives every error-priority message.
    error_set_local:
        Option<unsafe extern "C" fn(Option<LocalErrorHandler>) -> Option<LocalErrorHandler>>,
}

static API: OnceLock<Result<Api, LoadError>> = OnceLock::new();

/// Loads `libasound.so.2` once per process.
fn api() -> Result<&'static Api, LoadError> {
    API.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Api, LoadError> {
    // SAFETY: loading runs the library's initialisers. libasound's only set up its own
    // globals (no thread starts, no signal handlers); loading it is what every ALSA program
    // does at start. The library is never unloaded (it lives in `API`, a static).
    let library = unsafe { Library::new(LIBRARY) }.map_err(|e| LoadError::NotFound(causes(&e)))?;
    macro_rules! function {
        ($name:literal) => {
            // SAFETY: the type each field is declared with is the function's prototype in
            // alsa-lib's `pcm.h` / `error.h` (C `int` = `c_int`, `unsigned int` = `c_uint`,
            // `snd_pcm_uframes_t` = `unsigned long`, `snd_pcm_sframes_t` = `long`, enums =
            // `int`, pointers to opaque types = `*mut c_void`); the pointer is copied out
            // and only used while `library`, moved into `Api` next to it, stays loaded.
            *unsafe { library.get($name) }.map_err(|e| {
                LoadError::MissingSymbol(
                    std::str::from_utf8($name)
                        .unwrap_or("?")
                        .trim_end_matches('\0'),
                    e.to_string(),
                )
            })?
        };
    }
    let open = function!(b"snd_pcm_open\0");
    let set_params = function!(b"snd_pcm_set_params\0");
    let get_params = function!(b"snd_pcm_get_params\0");
    let writei = function!(b"snd_pcm_writei\0");
    let recover = function!(b"snd_pcm_recover\0");
    let prepare = function!(b"snd_pcm_prepare\0");
    let drain = function!(b"snd_pcm_drain\0");
    let close = function!(b"snd_pcm_close\0");
    let strerror = function!(b"snd_strerror\0");
    // SAFETY: as above; `snd_local_error_handler_t snd_lib_error_set_local(snd_local_error_
    // handler_t)` takes and returns a nullable function pointer, which `Option<fn>` is.
    let error_set_local = unsafe { library.get(b"snd_lib_error_set_local\0") }
        .ok()
        .map(|f| *f);
    Ok(Api {
        _library: library,
        open,
        set_params,
        get_params,
        writei,
        recover,
        prepare,
        drain,
        close,
        strerror,
        error_set_local,
    })
}

/// An error and its causes, `: `-separated (libloading's own text is only "dlopen failed";
/// the loader's reason, such as "cannot open shared object file", is its source).
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

impl Api {
    /// ALSA's text for a negative error code.
    fn error_text(&self, err: c_int) -> String {
        // SAFETY: `snd_strerror` accepts any int and returns a pointer to a static,
        // NUL-terminated string (its own table or `strerror`'s), never NULL in practice;
        // the NULL case is still checked.
        let text = unsafe { (self.strerror)(err) };
        if text.is_null() {
            return format!("error {err}");
        }
        // SAFETY: non-null, NUL-terminated and static (see above); copied out at once.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    }
}

/// What ALSA would have printed to stderr: the message's place and format string, at debug
/// level (the arguments are in the `va_list`, which stable Rust cannot read).
///
/// # Safety
/// Called by alsa-lib with NUL-terminated strings or NULL in the pointer arguments.
unsafe extern "C" fn quiet(
    file: *const c_char,
    line: c_int,
    function: *const c_char,
    err: c_int,
    fmt: *const c_char,
    _args: *mut c_void,
) {
    let text = |p: *const c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: alsa-lib passes `__FILE__`, `__func__` and literal format strings:
            // static and NUL-terminated; copied out before returning.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    tracing::debug!(
        "ALSA {}:{line} ({}): {} (error {err})",
        text(file),
        text(function),
        text(fmt)
    );
}

/// Sends ALSA's error messages on this thread to [`quiet`] instead of stderr.
fn silence_errors_on_this_thread(api: &Api) {
    if let Some(set_local) = api.error_set_local {
        // SAFETY: `snd_lib_error_set_local` stores the pointer in a thread-local of alsa-lib
        // and has no other effect. Why this handler and not `snd_lib_error_set_handler`: the
        // global handler's type is C-variadic (`...`), which stable Rust cannot define, and it
        // would affect every thread; the local one takes a `va_list` (see
        // [`LocalErrorHandler`] for why its ABI matches) and only applies to this thread, the
        // sound thread, where every ALSA call of the bot is made ([`Pcm`] is not `Send`).
        // `quiet` never unwinds (an `extern "C"` fn aborts rather than unwind) and is a
        // `'static` function, valid for as long as alsa-lib may call it.
        unsafe { set_local(Some(quiet)) };
    }
}

/// The default playback device, opened for 16-bit interleaved samples.
pub struct Pcm {
    api: &'static Api,
    handle: NonNull<c_void>,
    channels: usize,
    /// The device's buffer in frames, as ALSA set it up.
    buffer_frames: usize,
}

impl Pcm {
    /// Loads ALSA (once), silences its error printing on this thread and opens the `default`
    /// PCM at `rate` Hz with `channels` channels and about `latency_us` of buffer.
    ///
    /// # Errors
    /// [`OpenError::Load`] without a usable library, [`OpenError::Device`] when ALSA has no
    /// default device or refuses the format.
    pub fn open_default(rate: u32, channels: u16, latency_us: u32) -> Result<Pcm, OpenError> {
        let api = api().map_err(OpenError::Load)?;
        silence_errors_on_this_thread(api);
        let mut handle: *mut c_void = std::ptr::null_mut();
        // SAFETY: `handle` is a valid out-pointer; the name is a NUL-terminated literal;
        // stream and mode are valid enum/flag values (playback, blocking).
        let err = unsafe { (api.open)(&mut handle, c"default".as_ptr(), STREAM_PLAYBACK, 0) };
        if err < 0 {
            return Err(OpenError::Device(format!(
                "ALSA cannot open its \"default\" device: {}",
                api.error_text(err)
            )));
        }
        let Some(handle) = NonNull::new(handle) else {
            return Err(OpenError::Device(
                "ALSA opened \"default\" but gave no handle".into(),
            ));
        };
        // From here on, `Drop` closes the handle on every path.
        let mut pcm = Pcm {
            api,
            handle,
            channels: usize::from(channels),
            buffer_frames: 0,
        };
        // SAFETY: `handle` is an open PCM; the other arguments are plain values (format and
        // access from pcm.h, soft resampling on).
        let err = unsafe {
            (api.set_params)(
                pcm.handle.as_ptr(),
                FORMAT_S16,
                ACCESS_RW_INTERLEAVED,
                c_uint::from(channels),
                rate,
                1,
                latency_us,
            )
        };
        if err < 0 {
            return Err(OpenError::Device(format!(
                "ALSA's \"default\" device refuses 16-bit {channels}-channel {rate} Hz: {}",
                api.error_text(err)
            )));
        }
        let (mut buffer, mut period): (c_ulong, c_ulong) = (0, 0);
        // SAFETY: an open, configured PCM and two valid out-pointers.
        let err = unsafe { (api.get_params)(pcm.handle.as_ptr(), &mut buffer, &mut period) };
        pcm.buffer_frames = if err < 0 {
            // Not knowing only costs accuracy of the tail of silence: assume the latency asked.
            usize::try_from(u64::from(rate) * u64::from(latency_us) / 1_000_000).unwrap_or(0)
        } else {
            usize::try_from(buffer).unwrap_or(usize::MAX)
        };
        Ok(pcm)
    }

    /// The device's buffer, in frames.
    pub fn buffer_frames(&self) -> usize {
        self.buffer_frames
    }

    /// Writes interleaved samples (a whole number of frames), waiting while the device's
    /// buffer is full, recovering from underruns and suspends.
    ///
    /// # Errors
    /// ALSA's text when the device failed and cannot be recovered.
    pub fn write(&mut self, samples: &[i16]) -> Result<(), String> {
        let channels = self.channels.max(1);
        let mut done = 0;
        let mut recoveries = 0;
        while done < samples.len() {
            let rest = samples.get(done..).unwrap_or_default();
            let frames = c_ulong::try_from(rest.len() / channels).unwrap_or(c_ulong::MAX);
            if frames == 0 {
                return Ok(());
            }
            // SAFETY: `rest` holds at least `frames * channels` initialised i16 samples, the
            // layout S16 interleaved with `channels` channels that `open_default` set up;
            // ALSA only reads them during the call.
            let n =
                unsafe { (self.api.writei)(self.handle.as_ptr(), rest.as_ptr().cast(), frames) };
            if n >= 0 {
                let n = usize::try_from(n).unwrap_or(0);
                done = done.saturating_add(n.saturating_mul(channels));
                recoveries = 0;
                continue;
            }
            let err = c_int::try_from(n).unwrap_or(c_int::MIN);
            recoveries += 1;
            // SAFETY: an open PCM; `err` is the code `snd_pcm_writei` returned; silent = 1
            // (no message of its own on stderr).
            let recovered = unsafe { (self.api.recover)(self.handle.as_ptr(), err, 1) };
            if recovered < 0 || recoveries > MAX_RECOVERIES {
                return Err(self.api.error_text(err));
            }
        }
        Ok(())
    }

    /// Plays what was written to the end, then stops the device (it waits at most one buffer).
    pub fn drain(&mut self) {
        // SAFETY: an open PCM. A failure leaves it in a state `prepare` resets.
        let err = unsafe { (self.api.drain)(self.handle.as_ptr()) };
        if err < 0 {
            tracing::debug!("ALSA drain: {}", self.api.error_text(err));
        }
    }

    /// Makes a drained device ready to be written to again.
    ///
    /// # Errors
    /// ALSA's text when the device cannot be prepared.
    pub fn prepare(&mut self) -> Result<(), String> {
        // SAFETY: an open PCM.
        let err = unsafe { (self.api.prepare)(self.handle.as_ptr()) };
        if err < 0 {
            return Err(self.api.error_text(err));
        }
        Ok(())
    }
}

impl Drop for Pcm {
    /// Closes the device: what has not played yet is dropped, so shutdown never waits on it.
    fn drop(&mut self) {
        // SAFETY: the handle is open (only `Drop` closes it) and is not used after this.
        unsafe { (self.api.close)(self.handle.as_ptr()) };
    }
}

/// Why the default device could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// No usable ALSA library.
    Load(LoadError),
    /// The library is there; the device is not (or refuses the format).
    Device(String),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Load(e) => e.fmt(f),
            OpenError::Device(e) => write!(f, "no audio output device ({e})"),
        }
    }
}
