//! Twitch's raid defences as raid mode switches them: Shield Mode and the chat settings, read
//! before they are changed so that switching back restores exactly what raid mode changed (a
//! Shield Mode a moderator had already switched on stays on).

use tracing::warn;

use super::raid::Change;
use crate::config::moderation::RaidModeConfig;
use crate::twitch::helix::{ChatSettings, ChatSettingsPatch, Helix};

/// What raid mode changed at Twitch, to put back.
#[derive(Debug, Default)]
pub(crate) struct Restore {
    /// Shield Mode was off and raid mode switched it on.
    pub shield: bool,
    /// The chat settings before, and the change made.
    pub settings: Option<(ChatSettings, ChatSettingsPatch)>,
}

/// Switches on Shield Mode and the chat settings `config` asks for, skipping what a scope
/// known to be missing from `held` would make Twitch refuse. Returns what to put back and the
/// changes to report.
pub(crate) async fn switch_on(
    helix: &Helix,
    config: &RaidModeConfig,
    held: Option<&[String]>,
) -> (Restore, Vec<Change>) {
    let lacks = |scope: &str| held.is_some_and(|h| !h.iter().any(|s| s == scope));
    let shield = async {
        if !config.shield_mode {
            return None;
        }
        if lacks("moderator:manage:shield_mode") {
            return Some((
                false,
                Err("the bot account lacks moderator:manage:shield_mode".to_owned()),
            ));
        }
        // Already on (a moderator was quicker): leave it on when raid mode ends.
        if helix.shield_mode().await.unwrap_or(false) {
            return Some((false, Ok(())));
        }
        Some(match helix.set_shield_mode(true).await {
            Ok(true) => (true, Ok(())),
            Ok(false) => (false, Err("Twitch kept Shield Mode off".to_owned())),
            Err(e) => (false, Err(e.to_string())),
        })
    };
    let settings = async {
        if !config.changes_chat_settings() {
            return None;
        }
        if lacks("moderator:manage:chat_settings") {
            return Some(Err(
                "the bot account lacks moderator:manage:chat_settings".to_owned()
            ));
        }
        let before = match helix.chat_settings().await {
            Ok(s) => s,
            Err(e) => return Some(Err(format!("cannot read the chat settings: {e}"))),
        };
        let patch = raid_patch(config, &before);
        if patch.is_empty() {
            return Some(Ok(None));
        }
        Some(match helix.update_chat_settings(&patch).await {
            Ok(_) => Ok(Some((before, patch))),
            Err(e) => Err(e.to_string()),
        })
    };
    let (shield, settings) = tokio::join!(shield, settings);
    let mut restore = Restore::default();
    let mut changes = Vec::new();
    if let Some((turned_on, result)) = shield {
        restore.shield = turned_on;
        if let Err(e) = &result {
            warn!("raid mode cannot switch on Shield Mode: {e}");
        }
        let what = if turned_on || result.is_err() {
            "Shield Mode on"
        } else {
            "Shield Mode was already on"
        };
        changes.push(Change::Twitch {
            what: what.into(),
            result,
        });
    }
    match settings {
        Some(Ok(Some((before, patch)))) => {
            changes.push(Change::Twitch {
                what: format!("chat settings: {}", describe(&patch)),
                result: Ok(()),
            });
            restore.settings = Some((before, patch));
        }
        Some(Err(e)) => {
            warn!("raid mode cannot change the chat settings: {e}");
            changes.push(Change::Twitch {
                what: "chat settings".into(),
                result: Err(e),
            });
        }
        Some(Ok(None)) | None => {}
    }
    (restore, changes)
}

/// Puts back what [`switch_on`] changed; returns the changes to report.
pub(crate) async fn switch_off(helix: &Helix, restore: Restore) -> Vec<Change> {
    let mut changes = Vec::new();
    if restore.shield {
        let result = match helix.set_shield_mode(false).await {
            Ok(false) => Ok(()),
            Ok(true) => Err("Twitch kept Shield Mode on".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = &result {
            warn!("raid mode cannot switch Shield Mode off again: {e}");
        }
        changes.push(Change::Twitch {
            what: "Shield Mode off".into(),
            result,
        });
    }
    if let Some((before, patch)) = restore.settings {
        let back = restore_patch(&before, &patch);
        let result = helix
            .update_chat_settings(&back)
            .await
            .map(drop)
            .map_err(|e| e.to_string());
        if let Err(e) = &result {
            warn!("raid mode cannot put the chat settings back: {e}");
        }
        changes.push(Change::Twitch {
            what: format!("chat settings restored: {}", describe(&back)),
            result,
        });
    }
    changes
}

/// The change raid mode makes to `before`: only settings not already as wanted.
fn raid_patch(config: &RaidModeConfig, before: &ChatSettings) -> ChatSettingsPatch {
    let mut patch = ChatSettingsPatch::default();
    if let Some(minutes) = config.followers_only_minutes
        && !(before.follower_mode && before.follower_mode_duration.unwrap_or(0) >= minutes)
    {
        patch.follower_mode = Some(true);
        patch.follower_mode_duration = Some(minutes);
    }
    if config.emote_only && !before.emote_mode {
        patch.emote_mode = Some(true);
    }
    let slow = config.slow_mode_secs;
    if slow > 0 && !(before.slow_mode && before.slow_mode_wait_time.unwrap_or(0) >= slow) {
        patch.slow_mode = Some(true);
        patch.slow_mode_wait_time = Some(slow);
    }
    patch
}

/// The change that puts back, from `before`, each setting `patch` changed.
fn restore_patch(before: &ChatSettings, patch: &ChatSettingsPatch) -> ChatSettingsPatch {
    let mut back = ChatSettingsPatch::default();
    if patch.follower_mode.is_some() {
        back.follower_mode = Some(before.follower_mode);
        back.follower_mode_duration = before
            .follower_mode
            .then_some(before.follower_mode_duration)
            .flatten();
    }
    if patch.emote_mode.is_some() {
        back.emote_mode = Some(before.emote_mode);
    }
    if patch.slow_mode.is_some() {
        back.slow_mode = Some(before.slow_mode);
        back.slow_mode_wait_time = before
            .slow_mode
            .then_some(before.slow_mode_wait_time)
            .flatten();
    }
    back
}

/// A patch in words, for the log.
fn describe(p: &ChatSettingsPatch) -> String {
    let mut parts = Vec::new();
    match (p.follower_mode, p.follower_mode_duration) {
        (Some(true), Some(m)) => parts.push(format!("followers-only ({m} min)")),
        (Some(true), None) => parts.push("followers-only".to_owned()),
        (Some(false), _) => parts.push("followers-only off".to_owned()),
        _ => {}
    }
    match p.emote_mode {
        Some(true) => parts.push("emote-only".to_owned()),
        Some(false) => parts.push("emote-only off".to_owned()),
        None => {}
    }
    match (p.slow_mode, p.slow_mode_wait_time) {
        (Some(true), Some(s)) => parts.push(format!("slow mode ({s} s)")),
        (Some(true), None) => parts.push("slow mode".to_owned()),
        (Some(false), _) => parts.push("slow mode off".to_owned()),
        _ => {}
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restoring_puts_back_only_what_was_changed() {
        let config = RaidModeConfig {
            followers_only_minutes: Some(10),
            slow_mode_secs: 30,
            ..RaidModeConfig::default()
        };
        let before = ChatSettings {
            slow_mode: true,
            slow_mode_wait_time: Some(60),
            ..ChatSettings::default()
        };
        let patch = raid_patch(&config, &before);
        assert_eq!(
            patch,
            ChatSettingsPatch {
                follower_mode: Some(true),
                follower_mode_duration: Some(10),
                ..ChatSettingsPatch::default()
            },
            "slow mode was already slower"
        );
        assert_eq!(
            restore_patch(&before, &patch),
            ChatSettingsPatch {
                follower_mode: Some(false),
                ..ChatSettingsPatch::default()
            }
        );
    }
}
