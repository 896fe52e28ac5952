//! The EventSub wire format: one WebSocket text frame into an [`EventSubMessage`], and a
//! notification's `payload.event` into a [`ChannelEvent`]. Pure functions; never panic.

use compact_str::CompactString;
use serde::Deserialize;
use serde_json::Value;

use crate::event::{ChannelEvent, ChannelEventKind, Chatter, Event, EventSource, SubTier};

#[derive(Deserialize)]
struct Envelope {
    metadata: Metadata,
    #[serde(default)]
    payload: Value,
}

#[derive(Deserialize)]
struct Metadata {
    message_id: String,
    message_type: String,
    #[serde(default)]
    subscription_type: Option<String>,
    #[serde(default)]
    message_timestamp: Option<String>,
}

/// One EventSub WebSocket message, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum EventSubMessage {
    /// `session_welcome`: the session is open.
    Welcome {
        /// The id subscriptions are created for.
        session_id: String,
        /// Seconds within which some message will come.
        keepalive_secs: Option<u64>,
    },
    /// `session_keepalive`: the link is alive.
    Keepalive,
    /// Twitch asks us to move to `url` (keeping the old socket until the new one welcomes us).
    Reconnect {
        /// Where to connect.
        url: String,
    },
    /// A notification; `event` is `None` for types the bot does not react to.
    Notification {
        /// The envelope's id, for deduplication.
        message_id: String,
        /// The subscription type.
        kind: String,
        /// The channel event it stands for.
        event: Option<Box<ChannelEvent>>,
    },
    /// A chat notification (a `channel.chat.*` type) with the chat events it stands for.
    Chat {
        /// The envelope's id, for deduplication.
        message_id: String,
        /// The subscription type.
        kind: String,
        /// The chat events it stands for (IRC's vocabulary).
        events: Vec<Event>,
    },
    /// `revocation`: Twitch ended a subscription.
    Revocation {
        /// The subscription type.
        kind: String,
        /// Twitch's status (`authorization_revoked`, `user_removed`, ...).
        reason: String,
    },
    /// A message type the client does not act on.
    Other {
        /// Its `message_type`.
        message_type: String,
    },
}

/// Decodes one text frame from the EventSub socket. Never panics, whatever the text.
///
/// # Errors
/// The JSON error when the text is not an EventSub envelope.
pub fn decode(text: &str) -> Result<EventSubMessage, serde_json::Error> {
    let env: Envelope = serde_json::from_str(text)?;
    let session = &env.payload["session"];
    Ok(match env.metadata.message_type.as_str() {
        "session_welcome" => EventSubMessage::Welcome {
            session_id: session["id"].as_str().unwrap_or_default().to_string(),
            keepalive_secs: session["keepalive_timeout_seconds"].as_u64(),
        },
        "session_keepalive" => EventSubMessage::Keepalive,
        "session_reconnect" => match session["reconnect_url"].as_str() {
            Some(url) => EventSubMessage::Reconnect {
                url: url.to_string(),
            },
            None => EventSubMessage::Other {
                message_type: "session_reconnect without a reconnect_url".into(),
            },
        },
        "notification" => {
            let kind = env
                .metadata
                .subscription_type
                .clone()
                .or_else(|| {
                    env.payload["subscription"]["type"]
                        .as_str()
                        .map(str::to_string)
                })
                .unwrap_or_default();
            if super::chat::is_chat_type(&kind) {
                let events = super::chat::chat_events(
                    &kind,
                    &env.metadata.message_id,
                    env.metadata
                        .message_timestamp
                        .as_deref()
                        .unwrap_or_default(),
                    &env.payload,
                );
                return Ok(EventSubMessage::Chat {
                    message_id: env.metadata.message_id,
                    kind,
                    events,
                });
            }
            let event = channel_event_from_notification(
                &kind,
                &env.metadata.message_id,
                &env.payload["event"],
            )
            .map(Box::new);
            EventSubMessage::Notification {
                message_id: env.metadata.message_id,
                kind,
                event,
            }
        }
        "revocation" => {
            let sub = &env.payload["subscription"];
            EventSubMessage::Revocation {
                kind: sub["type"].as_str().unwrap_or_default().to_string(),
                reason: sub["status"].as_str().unwrap_or_default().to_string(),
            }
        }
        other => EventSubMessage::Other {
            message_type: other.to_string(),
        },
    })
}

fn s(v: &Value, key: &str) -> CompactString {
    CompactString::from(v[key].as_str().unwrap_or_default())
}

fn n(v: &Value, key: &str) -> u32 {
    v[key]
        .as_u64()
        .map(|x| x.min(u64::from(u32::MAX)) as u32)
        .unwrap_or(0)
}

fn user(ev: &Value, prefix: &str) -> Option<Chatter> {
    let id = ev[format!("{prefix}_id")].as_str()?;
    let login = s(ev, &format!("{prefix}_login"));
    let name = s(ev, &format!("{prefix}_name"));
    Some(Chatter {
        id: id.into(),
        display_name: if name.is_empty() { login.clone() } else { name },
        login,
        ..Chatter::default()
    })
}

fn titles(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["title"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Maps an EventSub notification (`type`, message id, `payload.event`) to a channel event.
/// `None` for types the bot does not react to.
pub fn channel_event_from_notification(
    kind: &str,
    message_id: &str,
    ev: &Value,
) -> Option<ChannelEvent> {
    let mut who = user(ev, "user");
    let text = |v: &Value| v["text"].as_str().unwrap_or_default().to_string();
    let kind = match kind {
        "channel.follow" => ChannelEventKind::Follow,
        "channel.subscribe" => ChannelEventKind::Subscribe {
            tier: SubTier::parse(ev["tier"].as_str().unwrap_or_default()),
            is_gift: ev["is_gift"].as_bool().unwrap_or(false),
        },
        "channel.subscription.message" => ChannelEventKind::Resub {
            tier: SubTier::parse(ev["tier"].as_str().unwrap_or_default()),
            months: n(ev, "cumulative_months"),
            streak: n(ev, "streak_months"),
            message: text(&ev["message"]),
        },
        "channel.subscription.gift" => ChannelEventKind::Gift {
            tier: SubTier::parse(ev["tier"].as_str().unwrap_or_default()),
            count: n(ev, "total"),
            anonymous: ev["is_anonymous"].as_bool().unwrap_or(false),
        },
        "channel.cheer" => ChannelEventKind::Cheer {
            bits: n(ev, "bits"),
            message: ev["message"].as_str().unwrap_or_default().to_string(),
            anonymous: ev["is_anonymous"].as_bool().unwrap_or(false),
        },
        "channel.raid" => {
            who = user(ev, "from_broadcaster_user");
            ChannelEventKind::Raid {
                viewers: n(ev, "viewers"),
            }
        }
        "channel.channel_points_custom_reward_redemption.add" => ChannelEventKind::Redemption {
            reward_id: s(&ev["reward"], "id"),
            reward_title: ev["reward"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            cost: n(&ev["reward"], "cost"),
            user_input: ev["user_input"].as_str().unwrap_or_default().to_string(),
            redemption_id: s(ev, "id"),
        },
        "stream.online" => {
            who = None;
            ChannelEventKind::StreamOnline {
                stream_id: s(ev, "id"),
            }
        }
        "stream.offline" => {
            who = None;
            ChannelEventKind::StreamOffline
        }
        "channel.update" => {
            who = None;
            ChannelEventKind::ChannelUpdate {
                title: ev["title"].as_str().unwrap_or_default().to_string(),
                category: ev["category_name"].as_str().unwrap_or_default().to_string(),
            }
        }
        "channel.poll.begin" => {
            who = None;
            ChannelEventKind::PollBegin {
                title: ev["title"].as_str().unwrap_or_default().to_string(),
                choices: titles(&ev["choices"]),
            }
        }
        "channel.poll.end" => {
            who = None;
            let winner = ev["choices"].as_array().and_then(|a| {
                a.iter()
                    .max_by_key(|c| c["votes"].as_u64().unwrap_or(0))
                    .and_then(|c| c["title"].as_str().map(str::to_string))
            });
            ChannelEventKind::PollEnd {
                title: ev["title"].as_str().unwrap_or_default().to_string(),
                winner,
            }
        }
        "channel.prediction.begin" => {
            who = None;
            ChannelEventKind::PredictionBegin {
                title: ev["title"].as_str().unwrap_or_default().to_string(),
                outcomes: titles(&ev["outcomes"]),
            }
        }
        "channel.prediction.end" => {
            who = None;
            let win = ev["winning_outcome_id"].as_str();
            let winner = ev["outcomes"].as_array().and_then(|a| {
                a.iter()
                    .find(|o| o["id"].as_str() == win && win.is_some())
                    .and_then(|o| o["title"].as_str().map(str::to_string))
            });
            ChannelEventKind::PredictionEnd {
                title: ev["title"].as_str().unwrap_or_default().to_string(),
                winner,
            }
        }
        "channel.hype_train.begin" => {
            who = None;
            ChannelEventKind::HypeTrainBegin {
                level: n(ev, "level").max(1),
            }
        }
        "channel.hype_train.end" => {
            who = None;
            ChannelEventKind::HypeTrainEnd {
                level: n(ev, "level"),
            }
        }
        "channel.ad_break.begin" => {
            who = user(ev, "requester_user");
            ChannelEventKind::AdBreak {
                duration_secs: n(ev, "duration_seconds"),
            }
        }
        "channel.moderator.add" => ChannelEventKind::ModeratorAdd,
        "channel.moderator.remove" => ChannelEventKind::ModeratorRemove,
        _ => return None,
    };
    Some(ChannelEvent {
        id: message_id.into(),
        source: EventSource::EventSub,
        user: who,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moderator_changes_name_the_user_they_are_about() {
        let frame = serde_json::json!({
            "metadata": {"message_id": "m-1", "message_type": "notification",
                "message_timestamp": "2026-12-07T05:00:00.000000000Z",
                "subscription_type": "channel.moderator.add", "subscription_version": "1"},
            "payload": {"subscription": {"type": "channel.moderator.add"},
                "event": {"broadcaster_user_id": "2000", "broadcaster_user_login": "mychannel",
                    "broadcaster_user_name": "MyChannel", "user_id": "1000",
                    "user_login": "mybot", "user_name": "MyBot"}}
        });
        let Ok(EventSubMessage::Notification {
            event: Some(ev), ..
        }) = decode(&frame.to_string())
        else {
            panic!("a moderator notification decodes");
        };
        assert_eq!(ev.kind, ChannelEventKind::ModeratorAdd);
        assert_eq!(ev.kind.topic(), "moderator_add");
        let user = ev.user.expect("the moderator");
        assert_eq!((user.id.as_str(), user.login.as_str()), ("1000", "mybot"));
        let removed = channel_event_from_notification(
            "channel.moderator.remove",
            "m-2",
            &serde_json::json!({"user_id": "3000", "user_login": "viewer_one"}),
        )
        .expect("mapped");
        assert_eq!(removed.kind.topic(), "moderator_remove");
        assert_eq!(
            removed.user.map(|u| u.display_name),
            Some("viewer_one".into())
        );
    }
}
