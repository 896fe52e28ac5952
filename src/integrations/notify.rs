//! Desktop notifications (not built yet: the integration starts nothing).

use super::{StartContext, Started};

/// Starts Desktop notifications; `None` while it is not built.
pub fn start(_ctx: &StartContext) -> Option<Started> {
    tracing::debug!("Desktop notifications is not built yet");
    None
}
