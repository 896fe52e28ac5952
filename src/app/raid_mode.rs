//! Starts raid mode, with its reports: the one line to the moderators in chat, the moderation log's entry for
//! every switch, and `scripts/events/raid_mode.rhai`.

use std::sync::Arc;

use compact_str::CompactString;
use serde_json::json;
use tracing::warn;

use crate::action::Action;
use crate::moderation::raid::{Change, Hook};
use crate::outputs::Outputs;
use crate::scripting::ScriptHost;

/// Starts raid mode (it switches Twitch's defences through Helix) with its reports hooked in.
pub(super) fn start(
    launch: &super::Launch,
    config: &crate::config::Config,
    api: &super::twitch_api::ApiHandles,
    outputs: &Outputs,
    modlog: &crate::moderation::log::ModlogSender,
    scripts: &Arc<ScriptHost>,
) -> crate::moderation::raid::RaidMode {
    let raid = crate::moderation::raid::RaidMode::new(
        &config.moderation.raid_mode,
        api.helix.clone(),
        api.bot_scopes.clone(),
        launch.shutdown.clone(),
    );
    raid.set_hook(hook(
        outputs.clone(),
        modlog.clone(),
        scripts.clone(),
        launch.channel.as_str().into(),
    ));
    raid
}

/// The hook raid mode reports its changes to.
pub fn hook(
    outputs: Outputs,
    modlog: crate::moderation::log::ModlogSender,
    scripts: Arc<ScriptHost>,
    channel: CompactString,
) -> Hook {
    Arc::new(move |change: Change| {
        let at_ms = crate::clock::now_ms();
        let (entry, script) = match &change {
            Change::Began {
                accounts,
                window_secs,
                say,
            } => {
                if let Some(text) = say {
                    outputs.perform(Action::Say {
                        channel: channel.clone(),
                        text: text.clone(),
                    });
                }
                (
                    json!({"at_ms": at_ms, "channel": channel, "raid_mode": "begin",
                        "accounts": accounts, "window_secs": window_secs}),
                    Some(
                        json!({"type": "raid_mode", "state": "begin", "accounts": accounts,
                        "window_secs": window_secs}),
                    ),
                )
            }
            Change::Ended {
                reason,
                accounts,
                lines,
                secs,
            } => (
                json!({"at_ms": at_ms, "channel": channel, "raid_mode": "end", "reason": reason,
                    "accounts": accounts, "lines": lines, "secs": secs}),
                Some(
                    json!({"type": "raid_mode", "state": "end", "reason": reason,
                    "accounts": accounts, "secs": secs}),
                ),
            ),
            Change::Twitch { what, result } => (
                json!({"at_ms": at_ms, "channel": channel, "raid_mode": "twitch", "switch": what,
                    "ok": result.is_ok(), "error": result.as_ref().err()}),
                None,
            ),
        };
        if modlog.try_send(entry).is_err() {
            warn!("the moderation log is behind: a raid-mode entry was dropped");
        }
        if let Some(event) = script {
            scripts.handle_raid_mode(event);
        }
    })
}
