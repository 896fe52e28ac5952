//! Channel events — follows, subs, gifts, cheers, raids, rewards, polls, the stream going
//! live, moderators added and removed — and which source they came from, whichever source (EventSub, chat, the simulator) saw them.

use compact_str::CompactString;
use serde::Serialize;

use super::chat::{Chatter, SubTier};

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
    /// The broadcaster made someone a moderator (who is [`ChannelEvent::user`]; when it is
    /// the bot, its send rate class rises at once).
    ModeratorAdd,
    /// The broadcaster took someone's moderator role away (who is [`ChannelEvent::user`]).
    ModeratorRemove,
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
            ChannelEventKind::ModeratorAdd => "moderator_add",
            ChannelEventKind::ModeratorRemove => "moderator_remove",
        }
    }
}
