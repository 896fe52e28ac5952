//! The one vocabulary: every source (chat, EventSub, integrations) turns what it sees into an
//! [`Event`], and the dispatcher, scripts, console and ZeroMQ consume nothing else. Timers and
//! the console are not sources: the timer task calls the script host directly, and the console
//! acts through the bot's outputs and the script host (its "Reload scripts" on a blocking
//! thread).
//! [`LiveEvent`] is a line of the live log (the console's, and the supervisor's restart notices):
//! an event received, something sent, or a notice.
//!
//! This module owns only data types; it must not know about sockets, storage or scripts.

use std::sync::Arc;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// Everything the bot reacts to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// A chat line (IRC PRIVMSG) in a channel the bot joined.
    Chat(Box<ChatMessage>),
    /// A USERNOTICE: subs, resubs, gifts, raids, announcements and kinds Twitch adds later.
    UserNotice(Box<UserNotice>),
    /// CLEARCHAT: a user was timed out or banned, or the whole chat was cleared.
    ClearChat(ClearChat),
    /// CLEARMSG: one message was deleted.
    ClearMsg(ClearMsg),
    /// ROOMSTATE: the channel's chat settings.
    RoomState(RoomState),
    /// USERSTATE / GLOBALUSERSTATE: the bot's own badges (they decide its rate class).
    UserState(UserState),
    /// NOTICE from the server (msg-id says what happened).
    Notice(Notice),
    /// JOIN / PART of a chatter (only with the membership capability, small rooms only).
    Membership(Membership),
    /// A connection came up, went down or is retrying.
    Connection(ConnectionChange),
    /// A channel event (follow, sub, cheer, raid, ...) from EventSub, or from IRC when EventSub
    /// is off. The dispatcher decides which source counts (one source of truth per event).
    Channel(Box<ChannelEvent>),
    /// Something that happened in OBS.
    Obs(ObsEvent),
}

/// What OBS reports (obs-websocket v5 events the bot listens to).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ObsEvent {
    /// The program scene changed.
    SceneChanged { scene: String },
    /// Streaming started or stopped (`state` is obs-websocket's output state).
    StreamState { active: bool, state: String },
    /// Recording started or stopped.
    RecordState { active: bool, state: String },
    /// An input was created, removed, renamed, muted, or its volume or settings changed.
    Input {
        input: String,
        change: String,
        data: serde_json::Value,
    },
}

impl ObsEvent {
    pub fn topic(&self) -> &'static str {
        match self {
            ObsEvent::SceneChanged { .. } => "obs.scene_changed",
            ObsEvent::StreamState { .. } => "obs.stream_state",
            ObsEvent::RecordState { .. } => "obs.record_state",
            ObsEvent::Input { .. } => "obs.input",
        }
    }
}

impl Event {
    /// The event's topic: a short dotted name used for logs, ZeroMQ topics and the console.
    pub fn topic(&self) -> &'static str {
        match self {
            Event::Chat(_) => "chat.message",
            Event::UserNotice(_) => "chat.usernotice",
            Event::ClearChat(_) => "chat.clear",
            Event::ClearMsg(_) => "chat.delete",
            Event::RoomState(_) => "chat.roomstate",
            Event::UserState(_) => "chat.userstate",
            Event::Notice(_) => "chat.notice",
            Event::Membership(_) => "chat.membership",
            Event::Connection(_) => "connection",
            Event::Channel(ev) => ev.kind.topic(),
            Event::Obs(ev) => ev.topic(),
        }
    }
}

/// The roles a chatter holds in a channel, as a small bit set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Roles(u16);

impl Roles {
    pub const BROADCASTER: Roles = Roles(1);
    pub const MODERATOR: Roles = Roles(1 << 1);
    pub const VIP: Roles = Roles(1 << 2);
    pub const SUBSCRIBER: Roles = Roles(1 << 3);
    pub const TURBO: Roles = Roles(1 << 4);
    pub const STAFF: Roles = Roles(1 << 5);
    pub const ARTIST: Roles = Roles(1 << 6);
    pub const FOUNDER: Roles = Roles(1 << 7);
    /// On the channel's list of regulars (not a Twitch badge: the bot's own list, by user id).
    pub const REGULAR: Roles = Roles(1 << 8);

    /// No role at all.
    pub const fn empty() -> Roles {
        Roles(0)
    }

    /// Whether every role in `other` is held.
    pub const fn contains(self, other: Roles) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// Adds the roles in `other`.
    pub fn insert(&mut self, other: Roles) {
        self.0 |= other.0;
    }

    /// The highest permission level these roles reach.
    pub fn level(self) -> Permission {
        if self.contains(Roles::BROADCASTER) {
            Permission::Broadcaster
        } else if self.contains(Roles::MODERATOR) || self.contains(Roles::STAFF) {
            Permission::Moderator
        } else if self.contains(Roles::VIP) {
            Permission::Vip
        } else if self.contains(Roles::SUBSCRIBER) || self.contains(Roles::FOUNDER) {
            Permission::Subscriber
        } else if self.contains(Roles::REGULAR) {
            Permission::Regular
        } else {
            Permission::Everyone
        }
    }

    /// Maps a badge name (`moderator`, `vip`, ...) to its role, if it grants one.
    pub fn from_badge(name: &str) -> Roles {
        match name {
            "broadcaster" => Roles::BROADCASTER,
            "moderator" => Roles::MODERATOR,
            "vip" => Roles::VIP,
            "subscriber" => Roles::SUBSCRIBER,
            "founder" => Roles::FOUNDER,
            "turbo" => Roles::TURBO,
            "staff" | "admin" | "global_mod" => Roles::STAFF,
            "artist-badge" => Roles::ARTIST,
            _ => Roles::empty(),
        }
    }

    /// The names of the roles held, for logs, scripts and JSON.
    pub fn names(self) -> Vec<&'static str> {
        const ALL: [(Roles, &str); 9] = [
            (Roles::BROADCASTER, "broadcaster"),
            (Roles::MODERATOR, "moderator"),
            (Roles::VIP, "vip"),
            (Roles::SUBSCRIBER, "subscriber"),
            (Roles::TURBO, "turbo"),
            (Roles::STAFF, "staff"),
            (Roles::ARTIST, "artist"),
            (Roles::FOUNDER, "founder"),
            (Roles::REGULAR, "regular"),
        ];
        ALL.iter()
            .filter(|(r, _)| self.contains(*r))
            .map(|(_, n)| *n)
            .collect()
    }
}

impl Serialize for Roles {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

/// Permission levels, lowest first; a command's `PERMISSION` is the lowest level allowed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    #[default]
    Everyone,
    /// On the channel's list of regulars (`!regular add`, `regulars:` in moderation.yaml).
    Regular,
    Subscriber,
    Vip,
    Moderator,
    Broadcaster,
}

impl Permission {
    /// The level's name as scripts, configs and chat write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Everyone => "everyone",
            Permission::Regular => "regular",
            Permission::Subscriber => "subscriber",
            Permission::Vip => "vip",
            Permission::Moderator => "moderator",
            Permission::Broadcaster => "broadcaster",
        }
    }

    /// Parses the names used in scripts and configs.
    pub fn parse(s: &str) -> Option<Permission> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "everyone" | "all" | "viewer" => Permission::Everyone,
            "regular" | "reg" => Permission::Regular,
            "subscriber" | "sub" => Permission::Subscriber,
            "vip" => Permission::Vip,
            "moderator" | "mod" => Permission::Moderator,
            "broadcaster" | "owner" | "streamer" => Permission::Broadcaster,
            _ => return None,
        })
    }
}

/// One badge as Twitch sends it: `name/version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Badge {
    pub name: CompactString,
    pub version: CompactString,
}

/// The chatter who wrote a message or caused a notice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Chatter {
    /// Twitch user id (`user-id` tag); empty if the server did not send one.
    pub id: CompactString,
    /// Login name (lower case).
    pub login: CompactString,
    /// Display name (`display-name` tag), falling back to the login.
    pub display_name: CompactString,
    /// Roles derived from badges and the `mod`/`vip`/`subscriber` tags.
    pub roles: Roles,
    /// Badges as sent.
    pub badges: Vec<Badge>,
    /// Name colour (`#RRGGBB`), if set.
    pub color: Option<CompactString>,
}

/// An emote's position in a message, in Unicode scalar values (as Twitch counts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmoteRange {
    pub id: CompactString,
    pub start: u32,
    /// Inclusive end index.
    pub end: u32,
}

/// The message a threaded reply answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplyParent {
    pub msg_id: CompactString,
    pub user_login: CompactString,
    pub display_name: CompactString,
    pub body: String,
}

/// A chat message (PRIVMSG).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// The message id (`id` tag), used for replies and deletion.
    pub id: CompactString,
    /// Channel login, without `#`.
    pub channel: CompactString,
    /// The channel's user id (`room-id`).
    pub room_id: CompactString,
    pub sender: Chatter,
    /// The text, with a `/me` action's `\x01ACTION` wrapper removed.
    pub text: String,
    /// Whether the message was a `/me` action.
    pub action: bool,
    pub emotes: Vec<EmoteRange>,
    /// Bits cheered with this message.
    pub bits: u32,
    /// The chatter's first message in this channel ever.
    pub first_msg: bool,
    pub returning_chatter: bool,
    /// Months subscribed (from `badge-info`), 0 when not a subscriber.
    pub sub_months: u32,
    pub reply_parent: Option<ReplyParent>,
    /// Shared Chat: the channel the message was written in, when that is another channel.
    pub source_room_id: Option<CompactString>,
    /// Shared Chat: the message's id in its source channel.
    pub source_id: Option<CompactString>,
    /// Server time in milliseconds since the epoch (`tmi-sent-ts`).
    pub sent_ms: u64,
}

impl ChatMessage {
    /// A Shared Chat message that was written in another channel: logged, never acted on.
    pub fn is_from_other_channel(&self) -> bool {
        self.source_room_id
            .as_ref()
            .is_some_and(|src| !src.is_empty() && *src != self.room_id)
    }
}

/// Builders for tests, benches and fuzz targets (the `test-support` feature; a release build has
/// none): a chatter or a chat line with everything a test does not care about left plain.
#[cfg(any(test, feature = "test-support"))]
impl Chatter {
    /// A viewer with no roles or badges: user id `id-<login>`, display name `login` in capitals.
    pub fn test(login: &str) -> Chatter {
        Chatter {
            id: format!("id-{login}").into(),
            login: login.into(),
            display_name: login.to_uppercase().into(),
            ..Chatter::default()
        }
    }

    /// The same chatter with Twitch user id `id`.
    #[must_use]
    pub fn user_id(mut self, id: &str) -> Chatter {
        self.id = id.into();
        self
    }

    /// The same chatter shown as `name`.
    #[must_use]
    pub fn display_name(mut self, name: &str) -> Chatter {
        self.display_name = name.into();
        self
    }

    /// The same chatter holding `roles`.
    #[must_use]
    pub fn roles(mut self, roles: Roles) -> Chatter {
        self.roles = roles;
        self
    }
}

#[cfg(any(test, feature = "test-support"))]
impl ChatMessage {
    /// A plain line `text` from [`Chatter::test`]`(login)` in `#chan` (room id `1`), message id
    /// `m1`, no emotes, bits, reply or Shared Chat source, sent at time 0.
    pub fn test(login: &str, text: &str) -> ChatMessage {
        ChatMessage {
            id: "m1".into(),
            channel: "chan".into(),
            room_id: "1".into(),
            sender: Chatter::test(login),
            text: text.into(),
            action: false,
            emotes: Vec::new(),
            bits: 0,
            first_msg: false,
            returning_chatter: false,
            sub_months: 0,
            reply_parent: None,
            source_room_id: None,
            source_id: None,
            sent_ms: 0,
        }
    }

    /// The same line with message id `id`.
    #[must_use]
    pub fn id(mut self, id: impl Into<CompactString>) -> ChatMessage {
        self.id = id.into();
        self
    }

    /// The same line in channel `channel` (login, without `#`) whose user id is `room_id`.
    #[must_use]
    pub fn in_channel(mut self, channel: &str, room_id: &str) -> ChatMessage {
        self.channel = channel.into();
        self.room_id = room_id.into();
        self
    }

    /// The same line written by `sender`.
    #[must_use]
    pub fn sender(mut self, sender: Chatter) -> ChatMessage {
        self.sender = sender;
        self
    }

    /// The same line with `bits` cheered.
    #[must_use]
    pub fn bits(mut self, bits: u32) -> ChatMessage {
        self.bits = bits;
        self
    }

    /// The same line with Twitch's emote ranges `emotes`.
    #[must_use]
    pub fn emotes(mut self, emotes: Vec<EmoteRange>) -> ChatMessage {
        self.emotes = emotes;
        self
    }

    /// The same line sent at `ms` milliseconds since the epoch.
    #[must_use]
    pub fn sent_ms(mut self, ms: u64) -> ChatMessage {
        self.sent_ms = ms;
        self
    }
}

/// What a USERNOTICE says happened (`msg-id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UserNoticeKind {
    Sub {
        tier: SubTier,
        months: u32,
    },
    Resub {
        tier: SubTier,
        months: u32,
        streak: u32,
    },
    SubGift {
        tier: SubTier,
        recipient_id: CompactString,
        recipient_login: CompactString,
        recipient_display_name: CompactString,
        months: u32,
    },
    SubMysteryGift {
        tier: SubTier,
        count: u32,
    },
    GiftPaidUpgrade {
        gifter_login: CompactString,
    },
    AnonGiftPaidUpgrade,
    PrimePaidUpgrade {
        tier: SubTier,
    },
    Raid {
        viewers: u32,
        from_display_name: CompactString,
    },
    Unraid,
    Announcement {
        color: CompactString,
    },
    BitsBadgeTier {
        threshold: u32,
    },
    Ritual {
        name: CompactString,
    },
    /// A kind this bot does not know yet; kept with its `msg-id` so nothing is lost.
    Other {
        msg_id: CompactString,
    },
}

/// A subscription tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SubTier {
    Prime,
    #[default]
    Tier1,
    Tier2,
    Tier3,
}

impl SubTier {
    /// Parses Twitch's plan names: `Prime`, `1000`, `2000`, `3000`.
    pub fn parse(s: &str) -> SubTier {
        match s {
            "Prime" | "prime" => SubTier::Prime,
            "2000" => SubTier::Tier2,
            "3000" => SubTier::Tier3,
            _ => SubTier::Tier1,
        }
    }
}

/// A USERNOTICE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserNotice {
    pub id: CompactString,
    pub channel: CompactString,
    pub room_id: CompactString,
    /// The user the notice is about (subscriber, gifter, raider).
    pub sender: Chatter,
    pub kind: UserNoticeKind,
    /// The server's text (`system-msg`).
    pub system_msg: String,
    /// The user's own message, if they wrote one (resub message, announcement text).
    pub text: Option<String>,
    pub source_room_id: Option<CompactString>,
    pub sent_ms: u64,
}

/// CLEARCHAT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClearChat {
    pub channel: CompactString,
    /// The user removed; `None` means the whole chat was cleared.
    pub target_login: Option<CompactString>,
    pub target_user_id: Option<CompactString>,
    /// Timeout length; `None` with a target means a permanent ban.
    pub duration_secs: Option<u32>,
}

/// CLEARMSG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClearMsg {
    pub channel: CompactString,
    pub login: CompactString,
    pub target_msg_id: CompactString,
    pub text: String,
}

/// ROOMSTATE: only the settings present in the line are `Some`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RoomState {
    pub channel: CompactString,
    pub room_id: Option<CompactString>,
    pub emote_only: Option<bool>,
    /// Followers-only minimum age in minutes; -1 means off.
    pub followers_only: Option<i32>,
    pub r9k: Option<bool>,
    pub slow_secs: Option<u32>,
    pub subs_only: Option<bool>,
}

/// USERSTATE (in a channel) or GLOBALUSERSTATE (`channel` is `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserState {
    pub channel: Option<CompactString>,
    pub user_id: Option<CompactString>,
    pub display_name: CompactString,
    pub roles: Roles,
    pub badges: Vec<Badge>,
}

/// NOTICE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub channel: Option<CompactString>,
    /// The `msg-id` tag, if present (`msg_banned`, `msg_ratelimit`, ...).
    pub msg_id: Option<CompactString>,
    pub text: String,
}

/// JOIN or PART of a chatter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub channel: CompactString,
    pub login: CompactString,
    pub joined: bool,
}

/// The connections whose health the bot tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    Chat,
    EventSub,
    Helix,
    Obs,
    Discord,
    Zmq,
    Audio,
    Hotkeys,
    Notify,
    /// The web console's server itself (restarted under the supervisor when it fails).
    Console,
}

/// A connection's new state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionChange {
    pub service: Service,
    pub state: ConnectionState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionState {
    Connected,
    /// Lost; retrying after `retry_in_ms`.
    Reconnecting {
        reason: String,
        retry_in_ms: u64,
    },
    /// Stopped for good (switched off, or an error only the user can fix).
    Down {
        reason: String,
    },
}

/// Where a channel event came from; decides which copy counts when both sources report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    EventSub,
    Irc,
    /// The offline simulator or the console's simulator panel (treated like EventSub).
    Simulated,
}

/// A channel event: the vocabulary of `scripts/events/<kind>.rhai`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelEvent {
    /// The id used for at-most-once processing (EventSub message id, or the IRC message id).
    pub id: CompactString,
    pub source: EventSource,
    /// The viewer the event is about: follower, subscriber, gifter, cheerer, raiding broadcaster.
    pub user: Option<Chatter>,
    pub kind: ChannelEventKind,
}

/// The channel event kinds with their own fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChannelEventKind {
    Follow,
    Subscribe {
        tier: SubTier,
        is_gift: bool,
    },
    Resub {
        tier: SubTier,
        months: u32,
        streak: u32,
        message: String,
    },
    Gift {
        tier: SubTier,
        count: u32,
        anonymous: bool,
    },
    Cheer {
        bits: u32,
        message: String,
        anonymous: bool,
    },
    Raid {
        viewers: u32,
    },
    Redemption {
        reward_id: CompactString,
        reward_title: String,
        cost: u32,
        user_input: String,
        redemption_id: CompactString,
    },
    StreamOnline {
        stream_id: CompactString,
    },
    StreamOffline,
    ChannelUpdate {
        title: String,
        category: String,
    },
    FirstMessage {
        text: String,
    },
    PollBegin {
        title: String,
        choices: Vec<String>,
    },
    PollEnd {
        title: String,
        winner: Option<String>,
    },
    PredictionBegin {
        title: String,
        outcomes: Vec<String>,
    },
    PredictionEnd {
        title: String,
        winner: Option<String>,
    },
    HypeTrainBegin {
        level: u32,
    },
    HypeTrainEnd {
        level: u32,
    },
    AdBreak {
        duration_secs: u32,
    },
}

impl ChannelEventKind {
    /// The event's name as used for `scripts/events/<name>.rhai` and ZeroMQ topics.
    pub fn topic(&self) -> &'static str {
        match self {
            ChannelEventKind::Follow => "follow",
            ChannelEventKind::Subscribe { .. } => "subscribe",
            ChannelEventKind::Resub { .. } => "resub",
            ChannelEventKind::Gift { .. } => "gift",
            ChannelEventKind::Cheer { .. } => "cheer",
            ChannelEventKind::Raid { .. } => "raid",
            ChannelEventKind::Redemption { .. } => "redemption",
            ChannelEventKind::StreamOnline { .. } => "stream_online",
            ChannelEventKind::StreamOffline => "stream_offline",
            ChannelEventKind::ChannelUpdate { .. } => "channel_update",
            ChannelEventKind::FirstMessage { .. } => "first_message",
            ChannelEventKind::PollBegin { .. } => "poll_begin",
            ChannelEventKind::PollEnd { .. } => "poll_end",
            ChannelEventKind::PredictionBegin { .. } => "prediction_begin",
            ChannelEventKind::PredictionEnd { .. } => "prediction_end",
            ChannelEventKind::HypeTrainBegin { .. } => "hype_train_begin",
            ChannelEventKind::HypeTrainEnd { .. } => "hype_train_end",
            ChannelEventKind::AdBreak { .. } => "ad_break",
        }
    }
}

/// An item of the live event log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// Something the bot received.
    Event {
        topic: &'static str,
        #[serde(serialize_with = "serialize_arc")]
        event: Arc<Event>,
    },
    /// Something the bot sent: `via` is `chat`, `discord` or `zmq`.
    Sent {
        via: &'static str,
        /// Chat channel, Discord channel or ZeroMQ topic.
        target: String,
        text: String,
    },
    /// A line of the bot's own news: reloads, warnings, errors.
    Notice { level: &'static str, text: String },
}

impl LiveEvent {
    /// Wraps a received event.
    pub fn event(event: Arc<Event>) -> LiveEvent {
        LiveEvent::Event {
            topic: event.topic(),
            event,
        }
    }
}

// serde's `rc` feature is off in this package; one shared event is written the same as an owned one.
fn serialize_arc<S: serde::Serializer>(event: &Arc<Event>, s: S) -> Result<S::Ok, S::Error> {
    event.as_ref().serialize(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_map_to_the_highest_level() {
        let mut r = Roles::empty();
        assert_eq!(r.level(), Permission::Everyone);
        r.insert(Roles::SUBSCRIBER);
        assert_eq!(r.level(), Permission::Subscriber);
        r.insert(Roles::MODERATOR);
        assert_eq!(r.level(), Permission::Moderator);
        assert_eq!(r.names(), vec!["moderator", "subscriber"]);
    }

    #[test]
    fn shared_chat_from_another_room_is_flagged() {
        let mut m = ChatMessage {
            id: "a".into(),
            channel: "c".into(),
            room_id: "1".into(),
            sender: Chatter::default(),
            text: "hi".into(),
            action: false,
            emotes: vec![],
            bits: 0,
            first_msg: false,
            returning_chatter: false,
            sub_months: 0,
            reply_parent: None,
            source_room_id: Some("1".into()),
            source_id: None,
            sent_ms: 0,
        };
        assert!(!m.is_from_other_channel());
        m.source_room_id = Some("2".into());
        assert!(m.is_from_other_channel());
    }
}
