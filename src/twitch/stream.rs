//! Stream state: live or offline (from EventSub, checked with Get Streams at start) and the
//! viewer count sampled every few minutes while live, for stats.

use std::time::Duration;

pub use crate::config::api::StreamConfig;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::helix::{Helix, with_backoff};
use crate::event::{ChannelEvent, ChannelEventKind};

/// One viewer-count sample.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewerSample {
    /// Unix seconds when sampled.
    pub at: u64,
    /// Viewers watching then.
    pub viewers: u64,
}

/// A handle on the stream state.
#[derive(Debug, Clone)]
pub struct StreamHandle {
    live: watch::Sender<bool>,
    samples: broadcast::Sender<ViewerSample>,
}

impl StreamHandle {
    /// Whether the channel is live now.
    pub fn is_live(&self) -> bool {
        *self.live.borrow()
    }

    /// Wakes on every live/offline change.
    pub fn watch_live(&self) -> watch::Receiver<bool> {
        self.live.subscribe()
    }

    /// Viewer samples as they are taken (for stats).
    pub fn samples(&self) -> broadcast::Receiver<ViewerSample> {
        self.samples.subscribe()
    }

    /// Feeds a channel event (call it from the dispatcher for every `Event::Channel`).
    pub fn observe(&self, ev: &ChannelEvent) {
        match ev.kind {
            ChannelEventKind::StreamOnline { .. } => {
                self.live.send_replace(true);
            }
            ChannelEventKind::StreamOffline => {
                self.live.send_replace(false);
            }
            _ => {}
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl StreamHandle {
    /// A handle on a stream not known to be live yet, with nothing watching it.
    pub fn new() -> StreamHandle {
        let (live, _) = watch::channel(false);
        let (samples, _) = broadcast::channel(64);
        StreamHandle { live, samples }
    }
}

impl Default for StreamHandle {
    fn default() -> Self {
        StreamHandle::new()
    }
}

/// Checks Get Streams at start (retrying while the API is unreachable), then samples the viewer
/// count every `viewer_sample_minutes` while live.
pub fn spawn(
    helix: Helix,
    broadcaster_id: String,
    config: StreamConfig,
    shutdown: CancellationToken,
) -> (StreamHandle, JoinHandle<()>) {
    let handle = StreamHandle::new();
    let task = watch_stream(handle.clone(), helix, broadcaster_id, config, shutdown);
    (handle, task)
}

/// [`spawn`] on an existing handle: what a restarted watcher runs, so everyone holding the
/// handle keeps following the same live state. It checks Get Streams again first.
pub fn watch_stream(
    h: StreamHandle,
    helix: Helix,
    broadcaster_id: String,
    config: StreamConfig,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let every = Duration::from_secs(config.viewer_sample_minutes.max(1) * 60);
    tokio::spawn(async move {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = with_backoff("stream state", Duration::from_secs(300), || helix.stream(&broadcaster_id)) => r,
        };
        match first {
            Ok(Some(s)) => {
                info!(viewers = s.viewer_count, "the channel is live");
                h.live.send_replace(true);
                let _ = h.samples.send(ViewerSample {
                    at: now(),
                    viewers: s.viewer_count,
                });
            }
            Ok(None) => info!("the channel is offline"),
            Err(e) => warn!("cannot read the stream state: {e}"),
        }
        let mut live_rx = h.live.subscribe();
        // Going live is sampled at once (the stats chart then starts at the start), then every
        // `every` while live.
        let mut next = tokio::time::Instant::now() + every;
        loop {
            if !*live_rx.borrow_and_update() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = live_rx.changed() => if r.is_err() { return },
                }
                next = tokio::time::Instant::now();
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = live_rx.changed() => continue,
                _ = tokio::time::sleep_until(next) => {}
            }
            next = tokio::time::Instant::now() + every;
            match helix.stream(&broadcaster_id).await {
                Ok(Some(s)) => {
                    let _ = h.samples.send(ViewerSample {
                        at: now(),
                        viewers: s.viewer_count,
                    });
                }
                Ok(None) => {}
                Err(e) => warn!("viewer count not sampled: {e}"),
            }
        }
    })
}
