//! Sound (not built yet: the integration starts nothing).

use super::{StartContext, Started};

/// Starts Sound; `None` while it is not built.
pub fn start(_ctx: &StartContext) -> Option<Started> {
    tracing::debug!("Sound is not built yet");
    None
}
