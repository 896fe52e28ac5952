//! The bot's own moderator status from the broadcaster's session: whether its grant may
//! subscribe to `channel.moderator.add` / `.remove` (said once when it may not), and what such
//! a notification about the bot tells its chat (the send rate class, at once).

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::client::{BotRoles, start_channel};
use super::{Dedup, EventSubHandle, EventSubSettings, MODERATOR_TYPES, may_read_moderators};
use crate::event::{ChannelEvent, ChannelEventKind};
use crate::queue::EventSender;
use crate::twitch::auth::Account;
use crate::twitch::helix::Helix;

/// Who the bot is, and what to tell when the broadcaster makes it a moderator or takes that
/// away (`channel.moderator.add` / `.remove` about the bot's own user id).
#[derive(Clone)]
pub struct ModeratorWatch {
    /// The bot account's user id, compared with the notification's `user_id`.
    pub bot_id: String,
    /// Told `true` when the bot was made a moderator, `false` when it no longer is.
    pub on_change: BotRoles,
}

impl std::fmt::Debug for ModeratorWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModeratorWatch")
            .field("bot_id", &self.bot_id)
            .finish_non_exhaustive()
    }
}

impl ModeratorWatch {
    /// Tells `on_change` at once when `ev` makes or unmakes the bot itself a moderator.
    pub(super) fn tell(&self, ev: &ChannelEvent) {
        let moderator = match ev.kind {
            ChannelEventKind::ModeratorAdd => true,
            ChannelEventKind::ModeratorRemove => false,
            _ => return,
        };
        let about_the_bot = ev
            .user
            .as_ref()
            .is_some_and(|u| !self.bot_id.is_empty() && u.id == self.bot_id.as_str());
        if about_the_bot {
            info!(
                "EventSub: the bot {} a moderator: it sends at the {} rate from now",
                if moderator { "is now" } else { "is no longer" },
                if moderator { "moderator" } else { "normal" }
            );
            (self.on_change)(moderator);
        }
    }
}

/// [`super::spawn`], and the bot's moderator status followed from `channel.moderator.add` /
/// `.remove`: `watch.on_change` hears of the bot's own changes as soon as they arrive (the
/// events still go to the queue like any other). Without the broadcaster's `moderation:read`
/// (nor `channel:manage:moderators`) the two types are not subscribed to, and the log says once
/// that the moderator status comes from the bot's chat badges only.
pub fn spawn_watching_moderators(
    mut settings: EventSubSettings,
    watch: ModeratorWatch,
    helix: Helix,
    events: EventSender,
    dedup: Arc<dyn Dedup>,
    shutdown: CancellationToken,
) -> (EventSubHandle, JoinHandle<()>) {
    let wanted = |k: &String| MODERATOR_TYPES.contains(&k.as_str());
    if settings.config.subscriptions.iter().any(wanted)
        && !may_read_moderators(&helix.granted_scopes(Account::Broadcaster))
    {
        settings.config.subscriptions.retain(|k| !wanted(k));
        info!(
            "EventSub: the broadcaster's grant lacks {}: the bot's moderator status (and its send \
             rate) is taken from its chat badges only (run `twitch-bot auth` to grant it)",
            crate::twitch::scopes::MODERATION_READ,
        );
    }
    start_channel(settings, Some(watch), helix, events, dedup, shutdown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Chatter, EventSource};
    use std::sync::Mutex;

    #[test]
    fn only_the_bots_own_changes_are_told() {
        let told = Arc::new(Mutex::new(Vec::new()));
        let sink = told.clone();
        let watch = ModeratorWatch {
            bot_id: "1000".into(),
            on_change: Arc::new(move |m| sink.lock().unwrap().push(m)),
        };
        let event = |kind, id: &str| ChannelEvent {
            id: "m".into(),
            source: EventSource::EventSub,
            user: Some(Chatter {
                id: id.into(),
                ..Chatter::default()
            }),
            kind,
        };
        watch.tell(&event(ChannelEventKind::ModeratorAdd, "3000"));
        watch.tell(&event(ChannelEventKind::Follow, "1000"));
        watch.tell(&event(ChannelEventKind::ModeratorAdd, "1000"));
        watch.tell(&event(ChannelEventKind::ModeratorRemove, "1000"));
        assert_eq!(*told.lock().unwrap(), vec![true, false]);
    }
}
