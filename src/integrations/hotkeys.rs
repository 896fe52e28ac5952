//! Hotkeys (not built yet: the integration starts nothing).

use super::{StartContext, Started};

/// Starts Hotkeys; `None` while it is not built.
pub fn start(_ctx: &StartContext) -> Option<Started> {
    tracing::debug!("Hotkeys is not built yet");
    None
}
