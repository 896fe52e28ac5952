//! ZeroMQ: a PUB socket (`zmq.bind`, default `tcp://127.0.0.1:5555`) on which every event the
//! dispatcher handles is published as two frames, `[topic, JSON]` — the topic is
//! [`Event::topic`] (`chat.message`, `follow`, `obs.scene_changed`, ...) and the JSON is the
//! event as the console's live log shows it (`{"kind": ..., "data": {...}}`). Scripts and the
//! console publish their own topics with the call `publish {topic, data}`.
//!
//! The dispatcher's side ([`Integration::observe`]) only hands an `Arc<Event>` to a bounded
//! queue; serialising and sending happen in this module's task. When the queue is full the event
//! is dropped and counted, and the task warns about the count every few seconds: a slow or absent
//! subscriber never slows chat down. Until the first subscriber connects nothing is queued at
//! all (ZeroMQ would drop it anyway), so the default — on, with nobody listening — costs one
//! atomic load per event.
//!
//! This module owns the socket; it must not touch the dispatcher's state or other integrations.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use zeromq::{Socket, SocketEvent, SocketSend, ZmqMessage};

use super::{Call, CallError, Integration, StartContext, Started};
use crate::action::ZmqCall;
use crate::event::{ConnectionState, Event, Service};
use crate::subsystems::Subsystem;

/// How often dropped events are reported.
const DROP_REPORT_EVERY: Duration = Duration::from_secs(10);

/// One message for the socket.
enum Outgoing {
    Event(Arc<Event>),
    Custom { topic: String, data: Value },
}

/// The running publisher, as the hub sees it.
struct Publisher {
    tx: mpsc::Sender<Outgoing>,
    /// Messages dropped because the queue was full, since the last report.
    dropped: Arc<AtomicU64>,
    /// Whether a subscriber has ever connected; before that, messages are not even queued.
    subscribed: Arc<AtomicBool>,
}

/// Stands in when the socket could not be bound: the health panel shows why, calls say so.
struct Unbound {
    reason: String,
}

pub use crate::action::calls::check_topic;

impl Integration for Publisher {
    fn subsystem(&self) -> Subsystem {
        Subsystem::Zmq
    }

    fn call(&self, call: Call) -> Result<(), CallError> {
        let Call::Zmq(ZmqCall::Publish { topic, data }) = call else {
            return Err(call.not_for(Subsystem::Zmq));
        };
        if !self.subscribed.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.tx
            .try_send(Outgoing::Custom { topic, data })
            .map_err(|_| CallError::Busy("ZeroMQ".into()))
    }

    fn wants_events(&self) -> bool {
        true
    }

    fn observe(&self, event: &Arc<Event>) {
        if !self.subscribed.load(Ordering::Relaxed) {
            return;
        }
        if self.tx.try_send(Outgoing::Event(event.clone())).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Integration for Unbound {
    fn subsystem(&self) -> Subsystem {
        Subsystem::Zmq
    }

    fn call(&self, _call: Call) -> Result<(), CallError> {
        Err(CallError::Unavailable(format!("ZeroMQ ({})", self.reason)))
    }
}

/// Whether `endpoint`'s host is this machine only.
fn is_loopback(endpoint: &str) -> bool {
    let host = endpoint
        .strip_prefix("tcp://")
        .and_then(|rest| rest.rsplit_once(':'))
        .map(|(host, _)| host.trim_start_matches('[').trim_end_matches(']'))
        .unwrap_or_default();
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Binds the PUB socket and starts the publishing task.
///
/// A socket that cannot be bound (port in use, bad endpoint) is one warning naming `zmq.bind`,
/// health Down, and an integration that refuses calls; the bot runs on.
pub async fn start(ctx: &StartContext) -> Option<Started> {
    let config = &ctx.config.bot.zmq;
    let mut socket = zeromq::PubSocket::new();
    let monitor = socket.monitor();
    let endpoint = match socket.bind(&config.bind).await {
        Ok(endpoint) => endpoint,
        Err(e) => {
            let reason = format!("cannot listen on {}: {e}", config.bind);
            warn!(
                "ZeroMQ is off: {reason}. Is another program (or another twitch-bot) using it? \
                 Change zmq.bind in configs/bot.yaml, or start with --nozmq."
            );
            ctx.report(
                Service::Zmq,
                ConnectionState::Down {
                    reason: format!("{reason} (zmq.bind in configs/bot.yaml)"),
                },
            );
            return Some(Started {
                integration: Arc::new(Unbound { reason }),
                task: None,
            });
        }
    };
    if !is_loopback(&config.bind) {
        warn!(
            "ZeroMQ listens on {endpoint}, not on 127.0.0.1: anyone who can reach it reads every \
             event (ZeroMQ has no password here). Set zmq.bind in configs/bot.yaml to \
             tcp://127.0.0.1:5555 unless that is what you want."
        );
    }
    info!("ZeroMQ: publishing events on {endpoint}");
    ctx.report(Service::Zmq, ConnectionState::Connected);
    let (tx, rx) = mpsc::channel(config.queue.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    let subscribed = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(run(
        socket,
        rx,
        monitor,
        dropped.clone(),
        subscribed.clone(),
        config.queue,
        ctx.shutdown.clone(),
    ));
    Some(Started {
        integration: Arc::new(Publisher {
            tx,
            dropped,
            subscribed,
        }),
        task: Some(task),
    })
}

/// Serialises and sends until shutdown, then sends what is already queued. The socket's
/// `monitor` events open the gate at the first subscriber.
async fn run(
    mut socket: zeromq::PubSocket,
    mut rx: mpsc::Receiver<Outgoing>,
    mut monitor: impl futures_util::Stream<Item = SocketEvent> + Unpin,
    dropped: Arc<AtomicU64>,
    subscribed: Arc<AtomicBool>,
    capacity: usize,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut watching = true;
    let mut report = tokio::time::interval(DROP_REPORT_EVERY);
    report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(256);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            n = rx.recv_many(&mut batch, 256) => {
                if n == 0 {
                    return;
                }
                for out in batch.drain(..) {
                    publish(&mut socket, out).await;
                }
            }
            _ = report.tick() => warn_dropped(&dropped, capacity),
            event = monitor.next(), if watching => match event {
                Some(SocketEvent::Accepted(..)) => {
                    debug!("ZeroMQ: the first subscriber connected");
                    subscribed.store(true, Ordering::Relaxed);
                    watching = false;
                }
                Some(_) => {}
                None => {
                    // No more news from the socket: publish to be safe.
                    subscribed.store(true, Ordering::Relaxed);
                    watching = false;
                }
            },
        }
    }
    while let Ok(out) = rx.try_recv() {
        publish(&mut socket, out).await;
    }
    warn_dropped(&dropped, capacity);
}

fn warn_dropped(dropped: &AtomicU64, capacity: usize) {
    let n = dropped.swap(0, Ordering::Relaxed);
    if n > 0 {
        warn!(
            "ZeroMQ dropped {n} events: more arrived than could be published (the queue holds \
             {capacity}; zmq.queue in configs/bot.yaml)"
        );
    }
}

/// Sends one `[topic, JSON]` message. Subscribers that are too slow miss it (ZeroMQ's PUB rule).
async fn publish(socket: &mut zeromq::PubSocket, out: Outgoing) {
    let (topic, json) = match &out {
        Outgoing::Event(event) => (event.topic(), serde_json::to_vec(event.as_ref())),
        Outgoing::Custom { topic, data } => (topic.as_str(), serde_json::to_vec(data)),
    };
    let json = match json {
        Ok(json) => json,
        Err(e) => {
            warn!("ZeroMQ: cannot write {topic:?} as JSON: {e}");
            return;
        }
    };
    let mut message = ZmqMessage::from(topic);
    message.push_back(json.into());
    if let Err(e) = socket.send(message).await {
        debug!("ZeroMQ: send failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_checked() {
        assert!(check_topic("overlay.confetti").is_ok());
        assert!(check_topic("").is_err());
        assert!(check_topic("a\nb").is_err());
        assert!(check_topic(&"x".repeat(crate::action::calls::ZMQ_MAX_TOPIC + 1)).is_err());
    }

    #[test]
    fn loopback_endpoints_are_recognised() {
        assert!(is_loopback("tcp://127.0.0.1:5555"));
        assert!(is_loopback("tcp://localhost:5555"));
        assert!(is_loopback("tcp://[::1]:5555"));
        assert!(!is_loopback("tcp://0.0.0.0:5555"));
        assert!(!is_loopback("tcp://192.168.1.2:5555"));
    }
}
