//! ZeroMQ (not built yet: the integration starts nothing).

use super::{StartContext, Started};

/// Starts the ZeroMQ publisher; `None` while it is not built.
pub async fn start(_ctx: &StartContext) -> Option<Started> {
    tracing::debug!("ZeroMQ is not built yet");
    None
}
