//! Chat's part of the vocabulary: who wrote (roles, badges, permission levels), the message
//! itself (emotes, reply parent, Shared Chat source), and the room's other news (USERNOTICEs,
//! clears, room and user state, notices, joins and parts) — the same whichever transport read it.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

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
