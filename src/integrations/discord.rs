//! Discord (not built yet: the integration starts nothing).

use super::{StartContext, Started};

/// Starts Discord; `None` while it is not built.
pub fn start(_ctx: &StartContext) -> Option<Started> {
    tracing::debug!("Discord is not built yet");
    None
}
