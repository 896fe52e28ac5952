//! Panics that are not crashes: [`catch`] runs a call that may panic instead of returning an
//! error (cpal without a sound card, a display-less hotkey backend, a script's network call or
//! reload) and turns its panic into an error; while it runs, the crash report stays quiet.

use std::any::Any;
use std::cell::Cell;
use std::panic::AssertUnwindSafe;

thread_local! {
    /// Set while [`catch`] runs a call whose panic is expected and handled.
    static EXPECTED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, turning a panic into `Err(message)` without a crash report.
///
/// # Errors
/// The panic's message when `f` panicked.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    let before = EXPECTED.with(|e| e.replace(true));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    EXPECTED.with(|e| e.set(before));
    result.map_err(|payload| payload_text(payload.as_ref()).to_string())
}

/// Whether the current thread is inside [`catch`], so a panic hook must stay quiet.
pub fn expected() -> bool {
    EXPECTED.with(Cell::get)
}

/// A panic's message, whether it was raised with a literal or a formatted string.
pub fn payload_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(a panic without a message)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expected_panic_becomes_an_error() {
        let r: Result<(), String> = catch(|| panic!("no card"));
        assert_eq!(r.unwrap_err(), "no card");
        assert_eq!(catch(|| 7).unwrap(), 7);
        assert!(!expected(), "the thread is watched again");
    }
}
