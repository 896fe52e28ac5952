//! Desktop notifications: one for every event whose topic is listed in
//! `notifications.events` (`follow`, `raid`, `stream_online`, ...), and the crash report's
//! ([`crash`]).
//!
//! Sending goes through the desktop's notification service (D-Bus on Linux) with calls that
//! block, so one dedicated thread sends them; [`Integration::observe`] only hands a short text to
//! it through a bounded channel and never waits. No session bus or no notification server is one
//! warning and a `Down` state, never a crash; the thread keeps trying with the next event and
//! reports `Connected` when one gets through.

pub mod crash;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use tracing::{debug, info};

use super::{Call, CallError, Integration, StartContext, Started};
use crate::event::{ChannelEventKind, ConnectionState, Event, ObsEvent, Service};
use crate::subsystems::Subsystem;

/// Notifications waiting at most; more are dropped (a flood of follows is not worth a wall of
/// popups).
const BACKLOG: usize = 32;

/// How often the thread looks at the shutdown token while idle.
const IDLE_TICK: Duration = Duration::from_millis(200);

/// The application name the desktop shows.
const APP_NAME: &str = "twitch-bot";

/// Shows one desktop notification and waits for the desktop's answer.
///
/// # Errors
/// The desktop's refusal, or why it could not be reached, as text.
pub fn show(summary: &str, body: &str) -> Result<(), String> {
    notify_rust::Notification::new()
        .appname(APP_NAME)
        .summary(summary)
        .body(body)
        .show()
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Asks the desktop whether a notification service answers.
fn probe() -> Result<String, String> {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        notify_rust::get_server_information()
            .map(|s| format!("{} {}", s.name, s.version))
            .map_err(|e| e.to_string())
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        Ok("the system's notification centre".to_string())
    }
}

/// A notification waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Note {
    summary: String,
    body: String,
}

/// The running notifications integration.
pub struct Notify {
    topics: HashSet<String>,
    notes: SyncSender<Note>,
}

/// Starts the notification thread; `None` only when it cannot be spawned.
pub fn start(ctx: &StartContext) -> Option<Started> {
    let config = &ctx.config.bot.notifications;
    crash::set_notify(config.on_crash);
    let (tx, rx) = sync_channel(BACKLOG);
    let thread_ctx = ctx.clone();
    let on_crash = config.on_crash;
    if let Err(e) = std::thread::Builder::new()
        .name("notify".into())
        .spawn(move || run(&thread_ctx, on_crash, &rx))
    {
        ctx.report(
            Service::Notify,
            ConnectionState::Down {
                reason: format!("cannot start the notification thread: {e}"),
            },
        );
        return None;
    }
    Some(Started {
        integration: Arc::new(Notify {
            topics: config.events.iter().cloned().collect(),
            notes: tx,
        }),
        task: None,
    })
}

fn run(ctx: &StartContext, on_crash: bool, notes: &Receiver<Note>) {
    let mut up = match probe() {
        Ok(server) => {
            info!("desktop notifications go to {server}");
            ctx.report(Service::Notify, ConnectionState::Connected);
            true
        }
        Err(e) => {
            // A crash must not wait on a bus that is not there.
            crash::set_notify(false);
            // The dispatcher logs the `Down` state as the one warning.
            ctx.report(
                Service::Notify,
                ConnectionState::Down {
                    reason: format!(
                        "no desktop notification service answers ({e}); the bot goes on without notifications (--nonotify switches them off)"
                    ),
                },
            );
            false
        }
    };
    loop {
        match notes.recv_timeout(IDLE_TICK) {
            Ok(note) => match show(&note.summary, &note.body) {
                Ok(()) => {
                    if !up {
                        info!("desktop notifications work again");
                        crash::set_notify(on_crash);
                        ctx.report(Service::Notify, ConnectionState::Connected);
                        up = true;
                    }
                }
                Err(e) if up => {
                    crash::set_notify(false);
                    ctx.report(
                        Service::Notify,
                        ConnectionState::Down {
                            reason: format!("notification refused: {e}"),
                        },
                    );
                    up = false;
                }
                Err(e) => debug!("desktop notification not shown: {e}"),
            },
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if ctx.shutdown.is_cancelled() {
            return;
        }
    }
}

impl Integration for Notify {
    fn subsystem(&self) -> Subsystem {
        Subsystem::Notify
    }

    fn call(&self, call: Call) -> Result<(), CallError> {
        Err(call.not_for(Subsystem::Notify))
    }

    fn wants_events(&self) -> bool {
        !self.topics.is_empty()
    }

    fn observe(&self, event: &Arc<Event>) {
        let topic = event.topic();
        if !self.topics.contains(topic) {
            return;
        }
        let (summary, body) = describe(event);
        match self.notes.try_send(Note { summary, body }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => debug!("too many notifications waiting: {topic} dropped"),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// A notification's title and text for an event.
fn describe(event: &Event) -> (String, String) {
    match event {
        Event::Channel(ev) => {
            let who = ev
                .user
                .as_ref()
                .map_or("someone", |u| u.display_name.as_str());
            let body = match &ev.kind {
                ChannelEventKind::Follow => format!("{who} followed"),
                ChannelEventKind::Subscribe { is_gift: true, .. } => {
                    format!("{who} got a gifted subscription")
                }
                ChannelEventKind::Subscribe { .. } => format!("{who} subscribed"),
                ChannelEventKind::Resub {
                    months, message, ..
                } => with_message(format!("{who} resubscribed for {months} months"), message),
                ChannelEventKind::Gift { count, .. } => {
                    format!("{who} gifted {count} subscription(s)")
                }
                ChannelEventKind::Cheer { bits, message, .. } => {
                    with_message(format!("{who} cheered {bits} bits"), message)
                }
                ChannelEventKind::Raid { viewers } => {
                    format!("{who} raided with {viewers} viewers")
                }
                ChannelEventKind::Redemption {
                    reward_title,
                    user_input,
                    ..
                } => with_message(format!("{who} redeemed {reward_title}"), user_input),
                ChannelEventKind::StreamOnline { .. } => "The stream is live".to_string(),
                ChannelEventKind::StreamOffline => "The stream has ended".to_string(),
                ChannelEventKind::FirstMessage { text } => {
                    format!("{who} chats for the first time: {text}")
                }
                ChannelEventKind::PollBegin { title, .. }
                | ChannelEventKind::PredictionBegin { title, .. } => {
                    format!("{} started: {title}", ev.kind.topic().replace('_', " "))
                }
                ChannelEventKind::PollEnd { title, winner }
                | ChannelEventKind::PredictionEnd { title, winner } => match winner {
                    Some(w) => format!("{title}: {w} won"),
                    None => format!("{title} ended"),
                },
                ChannelEventKind::ChannelUpdate { title, category } => {
                    format!("{title} ({category})")
                }
                ChannelEventKind::HypeTrainBegin { level }
                | ChannelEventKind::HypeTrainEnd { level } => format!("level {level}"),
                ChannelEventKind::AdBreak { duration_secs } => {
                    format!("an ad break of {duration_secs} s")
                }
                ChannelEventKind::ModeratorAdd => format!("{who} is now a moderator"),
                ChannelEventKind::ModeratorRemove => format!("{who} is no longer a moderator"),
            };
            (title(event.topic()), body)
        }
        Event::Chat(m) => (
            title(event.topic()),
            format!("{}: {}", m.sender.display_name, m.text),
        ),
        Event::Obs(ObsEvent::SceneChanged { scene }) => {
            (title(event.topic()), format!("scene: {scene}"))
        }
        Event::Connection(c) => (
            title(event.topic()),
            format!("{:?}: {:?}", c.service, c.state),
        ),
        other => (
            title(other.topic()),
            serde_json::to_string(other).unwrap_or_default(),
        ),
    }
}

fn title(topic: &str) -> String {
    format!("{APP_NAME}: {}", topic.replace(['_', '.'], " "))
}

fn with_message(head: String, message: &str) -> String {
    if message.trim().is_empty() {
        head
    } else {
        format!("{head}: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ChannelEvent, Chatter, EventSource};

    fn channel(kind: ChannelEventKind) -> Event {
        Event::Channel(Box::new(ChannelEvent {
            id: "1".into(),
            source: EventSource::EventSub,
            user: Some(Chatter {
                login: "alice".into(),
                display_name: "Alice".into(),
                ..Chatter::default()
            }),
            kind,
        }))
    }

    #[test]
    fn events_read_as_a_person_would_say_them() {
        assert_eq!(
            describe(&channel(ChannelEventKind::Follow)),
            ("twitch-bot: follow".into(), "Alice followed".into())
        );
        assert_eq!(
            describe(&channel(ChannelEventKind::Raid { viewers: 12 })).1,
            "Alice raided with 12 viewers"
        );
        assert_eq!(
            describe(&channel(ChannelEventKind::Cheer {
                bits: 100,
                message: "gg".into(),
                anonymous: false
            }))
            .1,
            "Alice cheered 100 bits: gg"
        );
        assert_eq!(
            describe(&channel(ChannelEventKind::StreamOnline {
                stream_id: "9".into()
            })),
            (
                "twitch-bot: stream online".into(),
                "The stream is live".into()
            )
        );
    }
}
