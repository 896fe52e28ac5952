//! What the offline simulator's chat shows for its channel events, on both chat transports: an
//! announcement arrives as Twitch's announcement notice (USERNOTICE `msg-id=announcement` over
//! IRC, `channel.chat.notification` over EventSub chat), and a cheer posts its chat line with
//! the bits while EventSub's `channel.cheer` stays the one event the bot pays.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use twitch_bot::config::bot::ChatTransport;
use twitch_bot::event::{Event, LiveEvent, UserNoticeKind};
use twitch_bot::sim::{SimEvent, Viewer};

/// Starts the offline bot on `transport`, ready for channel events.
async fn offline_bot(transport: ChatTransport) -> (twitch_bot::app::Bot, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = offline_settings(dir.path(), example_scripts());
    let mut config = twitch_bot::config::Config::default();
    config.bot.chat.transport = transport;
    let bot = start_ready(settings, config).await;
    let sim = bot.sim().expect("offline");
    assert!(
        eventually(10, || sim
            .api
            .subscriptions()
            .iter()
            .any(|s| s.kind == "channel.cheer"))
        .await,
        "{transport:?}: channel.cheer subscribed"
    );
    (bot, dir)
}

/// Every event the bot handled within `secs`.
async fn handled(
    log: &mut tokio::sync::broadcast::Receiver<LiveEvent>,
    secs: u64,
) -> Vec<std::sync::Arc<Event>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, log.recv()).await {
            Ok(Ok(LiveEvent::Event { event, .. })) => out.push(event),
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(_)) | Err(_) => return out,
        }
    }
}

async fn an_announcement_reaches_the_bot_as_twitchs_announcement(transport: ChatTransport) {
    let (bot, _dir) = offline_bot(transport).await;
    let sim = bot.sim().expect("offline");
    let mut log = bot.subscribe();
    let moderator = Viewer::new("mod_anna").with(twitch_bot::event::Roles::MODERATOR);
    sim.fire(
        &moderator,
        &SimEvent::Announcement {
            message: "Giveaway at the top of the hour".into(),
            color: "PURPLE".into(),
        },
    )
    .await;
    let events = handled(&mut log, 2).await;
    let notices: Vec<_> = events
        .iter()
        .filter_map(|e| match e.as_ref() {
            Event::UserNotice(n) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(notices.len(), 1, "{transport:?}: one notice: {events:?}");
    let notice = notices[0];
    assert!(
        matches!(&notice.kind, UserNoticeKind::Announcement { color } if color.eq_ignore_ascii_case("purple")),
        "{transport:?}: {:?}",
        notice.kind
    );
    assert_eq!(
        notice.text.as_deref(),
        Some("Giveaway at the top of the hour")
    );
    assert_eq!(notice.sender.login.as_str(), "mod_anna");
    bot.shutdown().await;
}

async fn a_cheer_posts_its_chat_line_and_is_paid_once(transport: ChatTransport) {
    let (bot, _dir) = offline_bot(transport).await;
    let sim = bot.sim().expect("offline");
    let mut log = bot.subscribe();
    let mut lines = sim.chat.subscribe();
    sim.fire(
        &Viewer::new("cheery"),
        &SimEvent::Cheer {
            bits: 100,
            message: "great stream".into(),
        },
    )
    .await;
    let events = handled(&mut log, 3).await;
    let lines_with_bits: Vec<_> = events
        .iter()
        .filter_map(|e| match e.as_ref() {
            Event::Chat(m) if m.bits > 0 => Some((m.bits, m.text.clone(), m.sender.login.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        lines_with_bits,
        vec![(100, "Cheer100 great stream".to_string(), "cheery".into())],
        "{transport:?}: the cheer's chat line, with its bits"
    );
    let cheers: Vec<_> = events
        .iter()
        .filter_map(|e| match e.as_ref() {
            Event::Channel(c) if c.kind.topic() == "cheer" => Some(c.source),
            _ => None,
        })
        .collect();
    assert_eq!(
        cheers,
        vec![twitch_bot::event::EventSource::EventSub],
        "{transport:?}: one cheer event, from EventSub: {events:?}"
    );
    // The example cheer script thanks once.
    let mut thanks = 0;
    while let Some(m) = next_privmsg(&mut lines, 1).await {
        if m.text.contains("cheered 100 bits") {
            thanks += 1;
        }
    }
    assert_eq!(thanks, 1, "{transport:?}: thanked once");
    bot.shutdown().await;
}

on_both_transports!(
    an_announcement_reaches_the_bot_as_twitchs_announcement,
    a_cheer_posts_its_chat_line_and_is_paid_once,
);
