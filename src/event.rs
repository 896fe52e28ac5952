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
    SceneChanged {
        /// The new program scene's name.
        scene: String,
    },
    /// Streaming started or stopped.
    StreamState {
        /// Whether OBS is streaming now.
        active: bool,
        /// obs-websocket's output state (`OBS_WEBSOCKET_OUTPUT_STARTED`, ...).
        state: String,
    },
    /// Recording started or stopped.
    RecordState {
        /// Whether OBS is recording now.
        active: bool,
        /// obs-websocket's output state.
        state: String,
    },
    /// An input was created, removed, renamed, muted, or its volume or settings changed.
    Input {
        /// The input's name.
        input: String,
        /// What changed: `created`, `removed`, `renamed`, `settings`, `active`, `showing`, `muted` or
        /// `volume`.
        change: String,
        /// The change's details as obs-websocket sent them.
        data: serde_json::Value,
    },
}

impl ObsEvent {
    /// The ZeroMQ topic and live-log name of this OBS event (`obs.<what>`).
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
    /// The channel's owner (`broadcaster` badge).
    pub const BROADCASTER: Roles = Roles(1);
    /// A channel moderator (`moderator` badge or `mod=1`).
    pub const MODERATOR: Roles = Roles(1 << 1);
    /// A VIP of the channel (`vip` badge or `vip` tag).
    pub const VIP: Roles = Roles(1 << 2);
    /// A subscriber (`subscriber` badge or `subscriber=1`).
    pub const SUBSCRIBER: Roles = Roles(1 << 3);
    /// A Turbo user (`turbo` badge).
    pub const TURBO: Roles = Roles(1 << 4);
    /// Twitch staff (`staff` badge).
    pub const STAFF: Roles = Roles(1 << 5);
    /// A channel artist (`artist-badge` badge).
    pub const ARTIST: Roles = Roles(1 << 6);
    /// A founder: one of the channel's first subscribers (`founder` badge).
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
    /// Anyone in chat.
    Everyone,
    /// On the channel's list of regulars (`!regular add`, `regulars:` in moderation.yaml).
    Regular,
    /// Subscribers (and founders) of the channel.
    Subscriber,
    /// The channel's VIPs.
    Vip,
    /// The channel's moderators.
    Moderator,
    /// The broadcaster alone.
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
    /// The badge set's name (`subscriber`, `moderator`, `bits`, ...).
    pub name: CompactString,
    /// The badge's version within its set (months, bits tier, or `1`).
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
    /// The emote's Twitch id.
    pub id: CompactString,
    /// Index of the emote's first character.
    pub start: u32,
    /// Inclusive end index.
    pub end: u32,
}

/// The message a threaded reply answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplyParent {
    /// The id of the message answered (`reply-parent-msg-id`).
    pub msg_id: CompactString,
    /// The login of the message's author (`reply-parent-user-login`).
    pub user_login: CompactString,
    /// The author's display name (`reply-parent-display-name`).
    pub display_name: CompactString,
    /// The text answered (`reply-parent-msg-body`).
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
    /// Who wrote the message.
    pub sender: Chatter,
    /// The text, with a `/me` action's `\x01ACTION` wrapper removed.
    pub text: String,
    /// Whether the message was a `/me` action.
    pub action: bool,
    /// Twitch emotes in the text (`emotes` tag), by position.
    pub emotes: Vec<EmoteRange>,
    /// Bits cheered with this message.
    pub bits: u32,
    /// The chatter's first message in this channel ever.
    pub first_msg: bool,
    /// A viewer returning after a long absence (`returning-chatter` tag).
    pub returning_chatter: bool,
    /// Months subscribed (from `badge-info`), 0 when not a subscriber.
    pub sub_months: u32,
    /// The message this one answers, when it is a threaded reply.
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
    /// A first subscription.
    Sub {
        /// The plan subscribed to.
        tier: SubTier,
        /// Months subscribed in all (`msg-param-cumulative-months`).
        months: u32,
    },
    /// A renewed subscription, announced by the subscriber.
    Resub {
        /// The plan subscribed to.
        tier: SubTier,
        /// Months subscribed in all.
        months: u32,
        /// Months in a row, when the subscriber shares it; 0 otherwise.
        streak: u32,
    },
    /// A subscription gifted to one viewer.
    SubGift {
        /// The plan gifted.
        tier: SubTier,
        /// The recipient's user id.
        recipient_id: CompactString,
        /// The recipient's login.
        recipient_login: CompactString,
        /// The recipient's display name.
        recipient_display_name: CompactString,
        /// Months the gift covers (`msg-param-gift-months`).
        months: u32,
    },
    /// A batch of gifts to random viewers ("mystery gift"), announced before the single gifts.
    SubMysteryGift {
        /// The plan gifted.
        tier: SubTier,
        /// How many subscriptions were gifted in the batch.
        count: u32,
    },
    /// A viewer keeps a gifted subscription by paying for it.
    GiftPaidUpgrade {
        /// The login of who gifted it first.
        gifter_login: CompactString,
    },
    /// A viewer keeps a subscription an anonymous gifter gave, by paying for it.
    AnonGiftPaidUpgrade,
    /// A Prime subscription turned into a paid one.
    PrimePaidUpgrade {
        /// The paid plan.
        tier: SubTier,
    },
    /// Another channel raids this one.
    Raid {
        /// How many viewers came with the raid.
        viewers: u32,
        /// The raiding broadcaster's display name.
        from_display_name: CompactString,
    },
    /// A raid was cancelled.
    Unraid,
    /// A moderator's `/announce` message (its text is in [`UserNotice::text`]).
    Announcement {
        /// The highlight colour (`PRIMARY`, `BLUE`, ...).
        color: CompactString,
    },
    /// A viewer reached a new bits badge tier.
    BitsBadgeTier {
        /// The bits the new tier starts at.
        threshold: u32,
    },
    /// A ritual, such as a new chatter's first greeting.
    Ritual {
        /// The ritual's name (`new_chatter`).
        name: CompactString,
    },
    /// A kind this bot does not know yet; kept with its `msg-id` so nothing is lost.
    Other {
        /// The notice's `msg-id` as sent.
        msg_id: CompactString,
    },
}

/// A subscription tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SubTier {
    /// Twitch Prime (a free subscription with Prime Gaming).
    Prime,
    #[default]
    /// Tier 1 (plan `1000`), also when the plan is missing or unknown.
    Tier1,
    /// Tier 2 (plan `2000`).
    Tier2,
    /// Tier 3 (plan `3000`).
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
    /// The message id (`id` tag).
    pub id: CompactString,
    /// Channel login, without `#`.
    pub channel: CompactString,
    /// The channel's user id (`room-id`).
    pub room_id: CompactString,
    /// The user the notice is about (subscriber, gifter, raider).
    pub sender: Chatter,
    /// What happened.
    pub kind: UserNoticeKind,
    /// The server's text (`system-msg`).
    pub system_msg: String,
    /// The user's own message, if they wrote one (resub message, announcement text).
    pub text: Option<String>,
    /// Shared Chat: the channel the notice came from, when that is another channel.
    pub source_room_id: Option<CompactString>,
    /// Server time in milliseconds since the epoch (`tmi-sent-ts`).
    pub sent_ms: u64,
}

/// CLEARCHAT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClearChat {
    /// Channel login, without `#`.
    pub channel: CompactString,
    /// The user removed; `None` means the whole chat was cleared.
    pub target_login: Option<CompactString>,
    /// The removed user's id, when a user was removed.
    pub target_user_id: Option<CompactString>,
    /// Timeout length; `None` with a target means a permanent ban.
    pub duration_secs: Option<u32>,
}

/// CLEARMSG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClearMsg {
    /// Channel login, without `#`.
    pub channel: CompactString,
    /// The login of the deleted message's author.
    pub login: CompactString,
    /// The id of the deleted message.
    pub target_msg_id: CompactString,
    /// The deleted message's text.
    pub text: String,
}

/// ROOMSTATE: only the settings present in the line are `Some`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RoomState {
    /// Channel login, without `#`.
    pub channel: CompactString,
    /// The channel's user id, when sent.
    pub room_id: Option<CompactString>,
    /// Emote-only mode on or off.
    pub emote_only: Option<bool>,
    /// Followers-only minimum age in minutes; -1 means off.
    pub followers_only: Option<i32>,
    /// Unique-chat mode (R9K: no repeated messages) on or off.
    pub r9k: Option<bool>,
    /// Slow mode: seconds between a viewer's messages; 0 means off.
    pub slow_secs: Option<u32>,
    /// Subscribers-only mode on or off.
    pub subs_only: Option<bool>,
}

/// USERSTATE (in a channel) or GLOBALUSERSTATE (`channel` is `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserState {
    /// The channel, or `None` for GLOBALUSERSTATE.
    pub channel: Option<CompactString>,
    /// The bot's user id, when sent.
    pub user_id: Option<CompactString>,
    /// The bot's display name.
    pub display_name: CompactString,
    /// The bot's roles in the channel (moderator, VIP, broadcaster decide its rate class).
    pub roles: Roles,
    /// The bot's badges as sent.
    pub badges: Vec<Badge>,
}

/// NOTICE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// The channel, or `None` for a server-wide notice.
    pub channel: Option<CompactString>,
    /// The `msg-id` tag, if present (`msg_banned`, `msg_ratelimit`, ...).
    pub msg_id: Option<CompactString>,
    /// The notice's text as Twitch wrote it.
    pub text: String,
}

/// JOIN or PART of a chatter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    /// Channel login, without `#`.
    pub channel: CompactString,
    /// The chatter's login.
    pub login: CompactString,
    /// `true` for JOIN, `false` for PART.
    pub joined: bool,
}

/// The connections whose health the bot tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// The chat connection (IRC or WebSocket).
    Chat,
    /// The EventSub WebSocket.
    EventSub,
    /// The Twitch API (Helix).
    Helix,
    /// OBS through obs-websocket.
    Obs,
    /// Discord webhooks and bot.
    Discord,
    /// The ZeroMQ publisher.
    Zmq,
    /// Sound playback.
    Audio,
    /// Global hotkeys.
    Hotkeys,
    /// Desktop notifications.
    Notify,
    /// The web console's server itself (restarted under the supervisor when it fails).
    Console,
}

/// A connection's new state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionChange {
    /// Which connection changed.
    pub service: Service,
    /// What it changed to.
    pub state: ConnectionState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
/// A connection's state, as the health table and the console show it.
pub enum ConnectionState {
    /// Up and working.
    Connected,
    /// Lost; retrying after `retry_in_ms`.
    Reconnecting {
        /// Why it was lost.
        reason: String,
        /// Milliseconds until the next attempt.
        retry_in_ms: u64,
    },
    /// Stopped for good (switched off, or an error only the user can fix).
    Down {
        /// Why it stopped, with what to do when the user can fix it.
        reason: String,
    },
}

/// Where a channel event came from; decides which copy counts when both sources report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    /// EventSub (the authoritative source when it is on).
    EventSub,
    /// Chat (IRC tags and USERNOTICEs), when EventSub is off.
    Irc,
    /// The offline simulator or the console's simulator panel (treated like EventSub).
    Simulated,
}

/// A channel event: the vocabulary of `scripts/events/<kind>.rhai`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelEvent {
    /// The id used for at-most-once processing (EventSub message id, or the IRC message id).
    pub id: CompactString,
    /// Which source reported it.
    pub source: EventSource,
    /// The viewer the event is about: follower, subscriber, gifter, cheerer, raiding broadcaster.
    pub user: Option<Chatter>,
    /// What happened, with its own fields.
    pub kind: ChannelEventKind,
}

/// The channel event kinds with their own fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChannelEventKind {
    /// A new follower.
    Follow,
    /// A new subscription (gifted or not).
    Subscribe {
        /// The plan.
        tier: SubTier,
        /// Whether the subscription was a gift.
        is_gift: bool,
    },
    /// A resubscription announced with a message.
    Resub {
        /// The plan.
        tier: SubTier,
        /// Months subscribed in all.
        months: u32,
        /// Months in a row, when shared; 0 otherwise.
        streak: u32,
        /// The subscriber's message (may be empty).
        message: String,
    },
    /// Gifted subscriptions, one batch.
    Gift {
        /// The plan gifted.
        tier: SubTier,
        /// How many subscriptions were gifted.
        count: u32,
        /// Whether the gifter stayed anonymous.
        anonymous: bool,
    },
    /// Bits cheered.
    Cheer {
        /// How many bits.
        bits: u32,
        /// The message the bits came with.
        message: String,
        /// Whether the cheerer stayed anonymous.
        anonymous: bool,
    },
    /// Another channel raids this one (the raider is [`ChannelEvent::user`]).
    Raid {
        /// How many viewers came with the raid.
        viewers: u32,
    },
    /// A channel-point reward was redeemed.
    Redemption {
        /// The reward's id.
        reward_id: CompactString,
        /// The reward's title, which `scripts/rewards/` match on.
        reward_title: String,
        /// The reward's cost in channel points.
        cost: u32,
        /// What the viewer typed, for rewards that ask for text.
        user_input: String,
        /// The redemption's id, to fulfil or refund it.
        redemption_id: CompactString,
    },
    /// The stream went live.
    StreamOnline {
        /// The id of the stream that started.
        stream_id: CompactString,
    },
    /// The stream ended.
    StreamOffline,
    /// The stream's title or category changed.
    ChannelUpdate {
        /// The new title.
        title: String,
        /// The new category (game) name.
        category: String,
    },
    /// A viewer's first message in the channel ever.
    FirstMessage {
        /// The message.
        text: String,
    },
    /// A poll started.
    PollBegin {
        /// The poll's question.
        title: String,
        /// The choices, in order.
        choices: Vec<String>,
    },
    /// A poll ended.
    PollEnd {
        /// The poll's question.
        title: String,
        /// The choice with the most votes; `None` when no one voted or it was cancelled.
        winner: Option<String>,
    },
    /// A prediction started.
    PredictionBegin {
        /// The prediction's question.
        title: String,
        /// The outcomes, in order.
        outcomes: Vec<String>,
    },
    /// A prediction was resolved or cancelled.
    PredictionEnd {
        /// The prediction's question.
        title: String,
        /// The winning outcome; `None` when it was cancelled.
        winner: Option<String>,
    },
    /// A hype train started.
    HypeTrainBegin {
        /// The level it started at.
        level: u32,
    },
    /// A hype train ended.
    HypeTrainEnd {
        /// The level it reached.
        level: u32,
    },
    /// An ad break started.
    AdBreak {
        /// How long the ads run, in seconds.
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
        /// The event's topic (as in ZeroMQ and `scripts/events/`).
        topic: &'static str,
        #[serde(serialize_with = "serialize_arc")]
        /// The event itself.
        event: Arc<Event>,
    },
    /// Something the bot sent: `via` is `chat`, `discord` or `zmq`.
    Sent {
        /// How it left: `chat`, `discord` or `zmq`.
        via: &'static str,
        /// Chat channel, Discord channel or ZeroMQ topic.
        target: String,
        /// What was sent.
        text: String,
    },
    /// A line of the bot's own news: reloads, warnings, errors.
    Notice {
        /// How much it matters: `info` or `warn`.
        level: &'static str,
        /// The news itself.
        text: String,
    },
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
