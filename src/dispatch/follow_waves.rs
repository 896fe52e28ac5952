//! The dispatcher's side of follow-bot waves: an ordinary follow waits out the hold and then
//! goes on to be thanked and paid; a follow in a wave (the ones still waiting when it began
//! included) gets the wave's one line, its account blocked or banned as configured, and its
//! points held; a wave that is over is settled (paid or dropped, then said). Detection itself
//! is [`crate::moderation::waves`].

use std::sync::Arc;

use tracing::{debug, info, warn};

use super::Dispatcher;
use crate::action::Action;
use crate::event::LiveEvent;
use crate::event::{ChannelEvent, Event};
use crate::moderation::waves::{EndedWave, FollowVerdict, FollowWaves};
use crate::storage::writer;
use crate::twitch::chat::Outgoing;

impl Dispatcher {
    /// A follow-wave timer is due: a quiet wave ends, held-back follows are thanked.
    pub(super) fn wave_timers(&mut self) {
        self.end_wave_if_quiet();
        self.release_follows(false);
    }

    pub(super) fn end_wave_if_quiet(&mut self) {
        let ended = self
            .parts
            .waves
            .as_ref()
            .and_then(|w| w.end_if_quiet(tokio::time::Instant::now()));
        if let Some(ended) = ended {
            self.end_wave(ended);
        }
    }

    /// Thanks and pays the follows whose hold is over (all of them when `everything`, at
    /// shutdown): the reaction an ordinary follow gets, its alert included.
    pub(super) fn release_follows(&mut self, everything: bool) {
        let Some(waves) = &self.parts.waves else {
            return;
        };
        for ev in waves.release_due(tokio::time::Instant::now(), everything) {
            self.react(&ev);
            let integrations = &self.parts.outputs.integrations;
            if integrations.wants_events() {
                integrations.observe(&Arc::new(Event::Channel(Box::new(ev))));
            }
        }
    }

    /// Counts a follow against follow-wave detection: `true` for an ordinary follow that is
    /// thanked and paid now (no hold); `false` for one waiting out the hold (thanked by
    /// [`Dispatcher::release_follows`] unless a wave takes it in) or in a wave, whose reaction
    /// is the wave's one line and whose points wait for the wave's end.
    pub(super) fn follow_is_ordinary(&mut self, ev: &ChannelEvent) -> bool {
        let Some(waves) = &self.parts.waves else {
            return true;
        };
        let config = waves.config();
        match waves.observe(ev, tokio::time::Instant::now()) {
            FollowVerdict::Normal => true,
            FollowVerdict::Waiting => false,
            FollowVerdict::Began {
                follows,
                secs,
                accounts,
                folded,
            } => {
                warn!(
                    "a follow wave began: {follows} follows in {secs} s ({folded} of them were \
                     still waiting to be thanked)"
                );
                let text = format!(
                    "Follow wave: {follows} follows in {secs} s. Thanks and alerts are paused \
                     until it calms down."
                );
                self.notice(text.clone());
                self.say(text);
                if let Some(summary) = waves.status().wave {
                    self.modlog(summary.log_entry(
                        &self.parts.channel,
                        "began",
                        crate::clock::now_ms(),
                        config.block,
                        config.ban,
                    ));
                }
                for id in &accounts {
                    self.punish_wave_account(id, &config);
                }
                false
            }
            FollowVerdict::Held { new_account } => {
                if new_account && let Some(user) = &ev.user {
                    self.punish_wave_account(&user.id, &config);
                }
                false
            }
        }
    }

    /// Blocks and/or bans one account of a follow wave, as configured.
    fn punish_wave_account(&self, user_id: &str, config: &crate::config::moderation::FollowWaves) {
        if user_id.is_empty() {
            return;
        }
        if config.block
            && let Some(blocks) = &self.parts.blocks
            && blocks.try_send(user_id.into()).is_err()
        {
            debug!("the block queue is full: follow-wave account {user_id} is not blocked");
        }
        if config.ban {
            self.parts.outputs.moderate(
                Action::Ban {
                    channel: self.parts.channel.clone(),
                    user_id: user_id.into(),
                    reason: "follow-bot wave".into(),
                },
                user_id,
            );
        }
    }

    /// Settles a wave that is over: pays (or drops) its held follow points, then — once they
    /// are committed — says so in chat, in the live log and in the moderation log.
    pub(super) fn end_wave(&mut self, ended: EndedWave) {
        let EndedWave { summary, to_pay } = ended;
        let paid = match summary.points {
            crate::config::moderation::WavePoints::PayAfter => "their follow points are paid",
            crate::config::moderation::WavePoints::Drop => "no follow points were paid for it",
        };
        let text = format!(
            "The follow wave is over: {} follows from {} accounts; {paid}.",
            summary.follows, summary.accounts
        );
        info!("{text}");
        let config = self
            .parts
            .waves
            .as_ref()
            .map(FollowWaves::config)
            .unwrap_or_default();
        self.modlog(summary.log_entry(
            &self.parts.channel,
            "ended",
            crate::clock::now_ms(),
            config.block,
            config.ban,
        ));
        self.notice(text.clone());
        if let (Some(loyalty), Some(writer)) = (&self.parts.loyalty, &self.parts.writer) {
            let mut inline = Vec::new();
            for ev in to_pay {
                if let Err(job) = writer.submit(loyalty.award_job(&ev, Box::new(|_| {}))) {
                    drop(job);
                    inline.push(ev);
                }
            }
            if inline.is_empty() {
                // Said after the payments before it are committed.
                let (chat, channel, line) = (
                    self.parts.outputs.chat.clone(),
                    self.parts.channel.clone(),
                    text.clone(),
                );
                let say = writer::Job::after_pending(Box::new(move |_| {
                    if let Some(chat) = chat {
                        let _ = chat.send(Outgoing {
                            channel,
                            text: line,
                            reply_to: None,
                        });
                    }
                }));
                if writer.submit(say).is_ok() {
                    return;
                }
            }
            self.pay_inline(&inline);
        } else {
            self.pay_inline(&to_pay);
        }
        self.say(text);
    }

    /// Pays held follows here, blocking (when there is no storage writer).
    fn pay_inline(&self, follows: &[ChannelEvent]) {
        if let (Some(loyalty), Some(storage)) = (&self.parts.loyalty, &self.parts.storage) {
            for ev in follows {
                if let Err(e) = loyalty.apply_event(storage, ev) {
                    warn!("cannot pay points for a follow of the wave: {e}");
                }
            }
        }
    }

    fn say(&self, text: String) {
        if let Some(chat) = &self.parts.outputs.chat {
            let _ = chat.send(Outgoing {
                channel: self.parts.channel.clone(),
                text,
                reply_to: None,
            });
        }
    }

    fn notice(&self, text: String) {
        if let Some(log) = &self.parts.log {
            let _ = log.send(LiveEvent::Notice {
                level: "warn",
                text,
            });
        }
    }

    fn modlog(&self, entry: serde_json::Value) {
        if let Some(modlog) = &self.parts.modlog
            && modlog.try_send(entry).is_err()
        {
            warn!("the moderation log is behind: an entry was dropped");
        }
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
pub(super) async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Resolves when the streamer asks for the wave to end; never without wave detection.
pub(super) async fn end_asked(waves: Option<FollowWaves>) {
    match waves {
        Some(waves) => waves.end_asked().await,
        None => std::future::pending().await,
    }
}
