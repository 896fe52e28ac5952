//! OBS (not built yet: the integration starts nothing).

use super::{StartContext, Started};

/// Starts OBS; `None` while it is not built.
pub fn start(_ctx: &StartContext) -> Option<Started> {
    tracing::debug!("OBS is not built yet");
    None
}
