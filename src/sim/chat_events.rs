//! The simulated Twitch's chat over EventSub: every line the fake chat server sends a channel
//! (a viewer's message, a sub or raid notice, a deleted message, a cleared chat, new chat
//! settings) also reaches the EventSub sessions subscribed to the matching `channel.chat.*`
//! type, as Twitch's own chat service feeds both, in Twitch's payload shape. Also Twitch's rules
//! for creating those subscriptions: the token's user must be the condition's `user_id` and
//! hold `user:read:chat`, a WebSocket session serves one user only, and a user has at most
//! [`MAX_SESSIONS_PER_USER`] sessions; `channel.moderator.add` / `.remove` take the
//! broadcaster's own token with `moderation:read` or `channel:manage:moderators`.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::helix::{ApiState, FakeTwitchApi};
use crate::twitch::irc::IrcLine;

/// Sessions with subscriptions one user may hold at once (Twitch: 3 per user and client id).
pub const MAX_SESSIONS_PER_USER: usize = 3;

/// The chat subscription types and the scope they need (`channel.chat_settings.update` is
/// the one outside `channel.chat.`).
pub(crate) fn is_chat_type(kind: &str) -> bool {
    kind.starts_with("channel.chat.") || kind == "channel.chat_settings.update"
}

/// Twitch's checks before a subscription is created, as `user` holding `scopes`: `None` when
/// it may go ahead (the session is then bound to `user`), else the refusal.
pub(crate) fn check_subscription(
    st: &ApiState,
    body: &Value,
    user: &str,
    scopes: &[String],
) -> Option<Response> {
    let kind = body["type"].as_str().unwrap_or_default();
    let session = body["transport"]["session_id"].as_str().unwrap_or_default();
    if is_chat_type(kind) {
        if body["condition"]["user_id"].as_str() != Some(user) {
            return Some(super::eventsub::refusal(
                StatusCode::FORBIDDEN,
                "subscription missing proper authorization: condition.user_id must be the token's user",
            ));
        }
        if !scopes
            .iter()
            .any(|s| s == crate::twitch::eventsub::chat::READ_SCOPE)
        {
            return Some(super::eventsub::refusal(
                StatusCode::FORBIDDEN,
                "subscription missing proper authorization: the token lacks user:read:chat",
            ));
        }
    }
    if crate::twitch::eventsub::MODERATOR_TYPES.contains(&kind) {
        if body["condition"]["broadcaster_user_id"].as_str() != Some(user) {
            return Some(super::eventsub::refusal(
                StatusCode::FORBIDDEN,
                "subscription missing proper authorization: condition.broadcaster_user_id must be the token's user",
            ));
        }
        let may = |s: &String| {
            s == crate::twitch::scopes::MODERATION_READ
                || s == crate::twitch::scopes::MANAGE_MODERATORS
        };
        if !scopes.iter().any(may) {
            return Some(super::eventsub::refusal(
                StatusCode::FORBIDDEN,
                "subscription missing proper authorization: the token lacks moderation:read",
            ));
        }
    }
    st.eventsub.bind_session(session, user)
}

/// Builds the EventSub notification (type, `payload.event`, `message_timestamp`) that Twitch
/// sends a bot's chat session for an IRC line of the same happening; `None` for lines with no
/// EventSub twin (JOIN, PING, USERSTATE, ...).
pub fn eventsub_for_irc(raw: &str) -> Option<(&'static str, Value, String)> {
    let line = IrcLine::parse(raw).ok()?;
    let tag = |k: &str| {
        line.tag(k)
            .map(|v| v.unescaped().into_owned())
            .unwrap_or_default()
    };
    let channel = line.param(0)?.strip_prefix('#')?.to_string();
    let room = tag("room-id");
    let mut ev = json!({
        "broadcaster_user_id": room,
        "broadcaster_user_login": channel,
        "broadcaster_user_name": channel,
    });
    let sent_ms = tag("tmi-sent-ts").parse::<i64>().unwrap_or(0);
    let timestamp = jiff::Timestamp::from_millisecond(sent_ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string();
    let chatter = |login: &str| {
        let name = tag("display-name");
        json!({
            "chatter_user_id": tag("user-id"),
            "chatter_user_login": login,
            "chatter_user_name": if name.is_empty() { login.to_string() } else { name },
            "color": tag("color"),
            "badges": badges(&tag("badges"), &tag("badge-info")),
        })
    };
    let kind = match line.command() {
        "PRIVMSG" => {
            let text = line.trailing().unwrap_or_default();
            let login = line.nick().unwrap_or_default();
            merge(&mut ev, chatter(login));
            let bits: u64 = tag("bits").parse().unwrap_or(0);
            let parent = tag("reply-parent-msg-id");
            merge(
                &mut ev,
                json!({
                    "message_id": tag("id"),
                    "message": {"text": text, "fragments": fragments(text, &tag("emotes"), bits > 0)},
                    "message_type": if tag("first-msg") == "1" { "user_intro" } else { "text" },
                    "cheer": if bits > 0 { json!({"bits": bits}) } else { Value::Null },
                    "reply": if parent.is_empty() { Value::Null } else { json!({
                        "parent_message_id": parent,
                        "parent_message_body": tag("reply-parent-msg-body"),
                        "parent_user_id": tag("reply-parent-user-id"),
                        "parent_user_login": tag("reply-parent-user-login"),
                        "parent_user_name": tag("reply-parent-display-name"),
                        "thread_message_id": parent,
                    })},
                    "channel_points_custom_reward_id": null,
                    "source_broadcaster_user_id": nonempty(tag("source-room-id")),
                    "source_message_id": nonempty(tag("source-id")),
                }),
            );
            "channel.chat.message"
        }
        "USERNOTICE" => {
            merge(&mut ev, chatter(&tag("login")));
            merge(&mut ev, notice(&line, &tag));
            "channel.chat.notification"
        }
        "CLEARMSG" => {
            let login = tag("login");
            merge(
                &mut ev,
                json!({"target_user_id": super::viewer::stable_id(&login).to_string(),
                    "target_user_login": login, "target_user_name": login,
                    "message_id": tag("target-msg-id")}),
            );
            "channel.chat.message_delete"
        }
        "CLEARCHAT" => match line.param(1) {
            Some(login) if !login.is_empty() => {
                merge(
                    &mut ev,
                    json!({"target_user_id": tag("target-user-id"), "target_user_login": login,
                        "target_user_name": login}),
                );
                "channel.chat.clear_user_messages"
            }
            _ => "channel.chat.clear",
        },
        "ROOMSTATE" => {
            let num = |k: &str| tag(k).parse::<i64>().ok();
            let followers = num("followers-only");
            let slow = num("slow");
            merge(
                &mut ev,
                json!({
                    "emote_mode": tag("emote-only") == "1",
                    "follower_mode": followers.is_some_and(|f| f >= 0),
                    "follower_mode_duration_minutes": followers.filter(|f| *f >= 0),
                    "slow_mode": slow.is_some_and(|s| s > 0),
                    "slow_mode_wait_time_seconds": slow.filter(|s| *s > 0),
                    "subscriber_mode": tag("subs-only") == "1",
                    "unique_chat_mode": tag("r9k") == "1",
                }),
            );
            "channel.chat_settings.update"
        }
        _ => return None,
    };
    Some((kind, ev, timestamp))
}

fn nonempty(v: String) -> Value {
    if v.is_empty() { Value::Null } else { json!(v) }
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

/// `badges=subscriber/12,vip/1` with `badge-info=subscriber/14` into EventSub's badge list.
fn badges(badges: &str, info: &str) -> Value {
    let info: Map<String, Value> = info
        .split(',')
        .filter_map(|b| b.split_once('/'))
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    badges
        .split(',')
        .filter_map(|b| b.split_once('/'))
        .map(|(set, id)| json!({"set_id": set, "id": id, "info": info.get(set).cloned().unwrap_or(json!(""))}))
        .collect()
}

/// The text cut into fragments at the IRC emote ranges (`25:0-4,6-10/1902:12-16`, positions in
/// Unicode scalar values); with `cheer`, words like `cheer100` become cheermotes.
fn fragments(text: &str, emotes: &str, cheer: bool) -> Value {
    let chars: Vec<char> = text.chars().collect();
    let mut ranges: Vec<(usize, usize, &str)> = emotes
        .split('/')
        .filter_map(|g| g.split_once(':'))
        .flat_map(|(id, rs)| {
            rs.split(',').filter_map(move |r| {
                let (a, b) = r.split_once('-')?;
                Some((a.parse().ok()?, b.parse().ok()?, id))
            })
        })
        .filter(|(a, b, _)| a <= b && *b < chars.len())
        .collect();
    ranges.sort_unstable();
    let mut out = Vec::new();
    let mut pos = 0;
    let plain = |from: usize, to: usize, out: &mut Vec<Value>| {
        if from >= to {
            return;
        }
        let piece: String = chars[from..to].iter().collect();
        if !cheer {
            out.push(json!({"type": "text", "text": piece}));
            return;
        }
        for (i, word) in piece.split(' ').enumerate() {
            if i > 0 {
                out.push(json!({"type": "text", "text": " "}));
            }
            let digits = word.trim_start_matches(|c: char| c.is_ascii_alphabetic());
            let prefix = &word[..word.len() - digits.len()];
            match digits.parse::<u64>() {
                Ok(bits) if !prefix.is_empty() && !digits.is_empty() => {
                    out.push(json!({
                    "type": "cheermote", "text": word,
                    "cheermote": {"prefix": prefix.to_ascii_lowercase(), "bits": bits, "tier": 1}}))
                }
                _ if !word.is_empty() => out.push(json!({"type": "text", "text": word})),
                _ => {}
            }
        }
    };
    for (a, b, id) in ranges {
        if a < pos {
            continue;
        }
        plain(pos, a, &mut out);
        let piece: String = chars[a..=b].iter().collect();
        out.push(json!({"type": "emote", "text": piece,
            "emote": {"id": id, "emote_set_id": "0", "owner_id": "0", "format": ["static"]}}));
        pos = b + 1;
    }
    plain(pos, chars.len(), &mut out);
    Value::Array(out)
}

/// A USERNOTICE's `msg-id` and `msg-param-*` tags as a notification's `notice_type`, its
/// object and the user's message.
fn notice(line: &IrcLine<'_>, tag: &dyn Fn(&str) -> String) -> Value {
    let num = |k: &str| tag(k).parse::<u64>().unwrap_or(0);
    let plan = tag("msg-param-sub-plan");
    let tier = if plan.is_empty() || plan == "Prime" {
        "1000".to_string()
    } else {
        plan.clone()
    };
    let prime = plan == "Prime";
    let msg_id = tag("msg-id");
    let (notice_type, part) = match msg_id.as_str() {
        "sub" => (
            "sub",
            json!({"sub_tier": tier, "is_prime": prime, "duration_months": 1,
                "cumulative_months": num("msg-param-cumulative-months").max(1)}),
        ),
        "resub" => (
            "resub",
            json!({"sub_tier": tier, "is_prime": prime, "duration_months": 1,
                "cumulative_months": num("msg-param-cumulative-months"),
                "streak_months": num("msg-param-streak-months"), "is_gift": false}),
        ),
        "subgift" | "anonsubgift" => (
            "sub_gift",
            json!({"sub_tier": tier, "duration_months": num("msg-param-gift-months").max(1),
                "recipient_user_id": tag("msg-param-recipient-id"),
                "recipient_user_login": tag("msg-param-recipient-user-name"),
                "recipient_user_name": tag("msg-param-recipient-display-name")}),
        ),
        "submysterygift" | "anonsubmysterygift" => (
            "community_sub_gift",
            json!({"id": tag("id"), "sub_tier": tier,
                "total": num("msg-param-mass-gift-count").max(1)}),
        ),
        "giftpaidupgrade" => (
            "gift_paid_upgrade",
            json!({"gifter_is_anonymous": false,
                "gifter_user_login": tag("msg-param-sender-login"),
                "gifter_user_name": tag("msg-param-sender-name")}),
        ),
        "anongiftpaidupgrade" => ("gift_paid_upgrade", json!({"gifter_is_anonymous": true})),
        "primepaidupgrade" => ("prime_paid_upgrade", json!({"sub_tier": tier})),
        "raid" => (
            "raid",
            json!({"user_id": tag("user-id"), "user_login": tag("login"),
                "user_name": tag("msg-param-displayName"),
                "viewer_count": num("msg-param-viewerCount")}),
        ),
        "unraid" => ("unraid", json!({})),
        "announcement" => (
            "announcement",
            json!({"color": tag("msg-param-color").to_ascii_lowercase()}),
        ),
        "bitsbadgetier" => (
            "bits_badge_tier",
            json!({"tier": num("msg-param-threshold")}),
        ),
        _ => ("", Value::Null),
    };
    let notice_type = if notice_type.is_empty() {
        msg_id.as_str()
    } else {
        notice_type
    };
    let text = line.params().nth(1).unwrap_or_default();
    let anonymous = matches!(msg_id.as_str(), "anonsubgift" | "anonsubmysterygift")
        || tag("login") == "ananonymousgifter";
    let mut v = json!({
        "message_id": tag("id"),
        "notice_type": notice_type,
        "system_message": tag("system-msg"),
        "chatter_is_anonymous": anonymous,
        "message": {"text": text, "fragments": [{"type": "text", "text": text}]},
        "source_broadcaster_user_id": nonempty(tag("source-room-id")),
    });
    if let Some(o) = v.as_object_mut() {
        o.insert(notice_type.to_string(), part);
    }
    v
}

impl FakeTwitchApi {
    /// The intake the fake chat server copies every channel line into (see
    /// [`super::FakeChat::mirror_to`]): each becomes the `channel.chat.*` notification Twitch
    /// sends subscribed EventSub sessions, in order, with the line's own message id.
    pub fn chat_mirror(&self) -> mpsc::Sender<String> {
        let (tx, mut rx) = mpsc::channel::<String>(4_096);
        let st: Arc<ApiState> = self.state.clone();
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                let Some((kind, event, timestamp)) = eventsub_for_irc(&line) else {
                    continue;
                };
                let id = st.eventsub.next_id("msg");
                super::eventsub::notify_with(
                    &st,
                    kind,
                    &id,
                    json!({"message_timestamp": timestamp}),
                    event,
                )
                .await;
            }
        });
        tx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emotes_and_cheers_become_fragments() {
        let f = fragments("Kappa cheer100 hé Kappa", "25:0-4,18-22", true);
        let kinds: Vec<&str> = f
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| x["type"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            kinds,
            [
                "emote",
                "text",
                "cheermote",
                "text",
                "text",
                "text",
                "emote"
            ]
        );
    }

    #[test]
    fn lines_without_a_twin_give_nothing() {
        assert!(eventsub_for_irc(":tmi.twitch.tv PING :x").is_none());
        assert!(eventsub_for_irc("garbage \u{0}").is_none());
        let (kind, _, _) =
            eventsub_for_irc("@room-id=1 :tmi.twitch.tv CLEARCHAT #chan").expect("a clear");
        assert_eq!(kind, "channel.chat.clear");
    }
}
