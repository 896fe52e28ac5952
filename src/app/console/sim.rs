//! The console's simulator controls (offline only): chatting as a viewer, firing a channel
//! event, and a spam raid.

use crate::console::{BoxFuture, ConsoleError, SimChat};
use crate::event::{ChannelEvent, ChannelEventKind, SubTier};
use crate::sim::{SimEvent, SimTwitch, Viewer};

use super::AppConsole;

impl AppConsole {
    pub(super) fn sim(&self) -> Result<&SimTwitch, ConsoleError> {
        self.sim
            .as_deref()
            .ok_or_else(|| ConsoleError::Conflict("the simulator runs only with --offline".into()))
    }
}

pub(super) fn sim_chat(
    console: &AppConsole,
    chat: SimChat,
) -> BoxFuture<'_, Result<(), ConsoleError>> {
    Box::pin(async move {
        let sim = console.sim()?;
        let mut viewer = Viewer::new(&chat.login);
        viewer.roles = chat.roles;
        sim.chat_as(&viewer, &chat.text).await;
        Ok(())
    })
}

pub(super) fn sim_event(
    console: &AppConsole,
    event: ChannelEvent,
) -> BoxFuture<'_, Result<(), ConsoleError>> {
    Box::pin(async move {
        let sim = console.sim()?;
        let viewer = event
            .user
            .as_ref()
            .map_or_else(|| Viewer::new("viewer"), |u| Viewer::new(&u.login));
        sim.fire(&viewer, &to_sim_event(&event.kind)).await;
        Ok(())
    })
}

pub(super) fn sim_raid(
    console: &AppConsole,
    raid: crate::sim::SpamRaid,
) -> Result<(), ConsoleError> {
    let sim = console
        .sim
        .clone()
        .ok_or_else(|| ConsoleError::Conflict("the simulator runs only with --offline".into()))?;
    tokio::spawn(async move {
        let report = sim.spam_raid(&raid).await;
        tracing::info!(
            "simulated spam raid over: {} of {} lines reached chat",
            report.delivered,
            report.sent
        );
    });
    Ok(())
}

fn tier_number(tier: SubTier) -> u8 {
    match tier {
        SubTier::Prime | SubTier::Tier1 => 1,
        SubTier::Tier2 => 2,
        SubTier::Tier3 => 3,
    }
}

/// The simulated EventSub notification for a console-built event.
fn to_sim_event(kind: &ChannelEventKind) -> SimEvent {
    match kind {
        ChannelEventKind::Follow => SimEvent::Follow,
        ChannelEventKind::Subscribe { tier, .. } => SimEvent::Subscribe {
            tier: tier_number(*tier),
        },
        ChannelEventKind::Resub {
            tier,
            months,
            message,
            ..
        } => SimEvent::Resub {
            tier: tier_number(*tier),
            months: *months,
            message: message.clone(),
        },
        ChannelEventKind::Gift { tier, count, .. } => SimEvent::Gift {
            tier: tier_number(*tier),
            count: *count,
        },
        ChannelEventKind::Cheer { bits, message, .. } => SimEvent::Cheer {
            bits: *bits,
            message: message.clone(),
        },
        ChannelEventKind::Raid { viewers } => SimEvent::Raid { viewers: *viewers },
        ChannelEventKind::Redemption {
            reward_title,
            cost,
            user_input,
            ..
        } => SimEvent::Redemption {
            title: reward_title.clone(),
            cost: *cost,
            input: user_input.clone(),
        },
        ChannelEventKind::StreamOnline { .. } => SimEvent::StreamOnline,
        ChannelEventKind::StreamOffline => SimEvent::StreamOffline,
        ChannelEventKind::ModeratorAdd => SimEvent::Moderator { added: true },
        ChannelEventKind::ModeratorRemove => SimEvent::Moderator { added: false },
        other => SimEvent::Sample {
            kind: match other {
                ChannelEventKind::ChannelUpdate { .. } => "channel.update",
                ChannelEventKind::PollBegin { .. } => "channel.poll.begin",
                ChannelEventKind::PollEnd { .. } => "channel.poll.end",
                ChannelEventKind::PredictionBegin { .. } => "channel.prediction.begin",
                ChannelEventKind::PredictionEnd { .. } => "channel.prediction.end",
                ChannelEventKind::HypeTrainBegin { .. } => "channel.hype_train.begin",
                ChannelEventKind::HypeTrainEnd { .. } => "channel.hype_train.end",
                ChannelEventKind::AdBreak { .. } => "channel.ad_break.begin",
                _ => "channel.follow",
            }
            .to_string(),
        },
    }
}
