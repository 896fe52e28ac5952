//! The whole bot started while Twitch's API is failing (503s, a 429 burst, a revoked grant),
//! against the simulated chat and API on 127.0.0.1: the API side keeps trying and is fully up —
//! ids, EventSub subscriptions, a follow thanked by its script, stream state and emotes — within
//! seconds of the API answering again; a revoked grant is reported and not hammered.

mod common;

use std::time::Duration;

use common::{BOT, CHANNEL, eventually, wait_line};
use tokio::time::Instant;
use twitch_bot::event::{ConnectionState, Service};
use twitch_bot::sim::{FakeApiOptions, FakeChat, FakeChatOptions, FakeTwitchApi};

struct Live {
    bot: common::TestBot,
    chat: FakeChat,
    api: FakeTwitchApi,
}

/// The fakes, with `fault` applied to the API before the bot starts, and the bot on them.
async fn start_during(fault: impl FnOnce(&FakeTwitchApi)) -> Live {
    let chat = FakeChat::start(FakeChatOptions::default())
        .await
        .expect("fake chat starts");
    let api = FakeTwitchApi::start(FakeApiOptions {
        bot_login: BOT.into(),
        channel: CHANNEL.into(),
        ..FakeApiOptions::default()
    })
    .await
    .expect("fake API starts");
    let mut config = common::config(&chat.ws_url());
    api.configure(&mut config.bot, &mut config.secrets);
    // The follow's thanks is the sign that everything is up: thanked at once, not after a hold.
    config.moderation.follow_waves.hold_secs = 0;
    fault(&api);
    // Only 127.0.0.1: no third-party emote site.
    config.bot.emotes.bttv = false;
    config.bot.emotes.ffz = false;
    config.bot.emotes.seventv = false;
    let bot = common::start(config).await;
    Live { bot, chat, api }
}

fn asked(api: &FakeTwitchApi, path: &str) -> usize {
    api.requests().iter().filter(|r| r.path == path).count()
}

/// Waits for every default subscription, fires a follow and waits for the follow script's
/// thanks in chat; returns when it was said.
async fn follow_is_thanked(live: &Live, secs: u64) -> Instant {
    let n = twitch_bot::twitch::eventsub::DEFAULT_SUBSCRIPTIONS.len();
    assert!(
        eventually(secs, || live.api.subscriptions().len() == n).await,
        "EventSub subscribed after the outage: {} of {n}; Helix {:?}, EventSub {:?}",
        live.api.subscriptions().len(),
        live.bot.health.get(Service::Helix),
        live.bot.health.get(Service::EventSub),
    );
    let mut lines = live.chat.subscribe();
    live.api.fire_sample("channel.follow").await;
    let thanks = wait_line(&mut lines, 5, |l| {
        l.privmsg()
            .is_some_and(|m| m.text.contains("Thanks for the follow"))
    })
    .await;
    assert!(thanks.is_some(), "the follow script thanked viewer_one");
    Instant::now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helix_outage_at_start_is_outlasted_and_everything_is_up_seconds_after_it_ends() {
    // Longer than one call's own retries (about 4 to 7.5 s), so only a loop that does not give
    // up gets the ids.
    let outage = Duration::from_secs(9);
    let started = Instant::now();
    let live = start_during(|api| api.fail_for(outage, 503)).await;
    let thanked = follow_is_thanked(&live, 20).await;
    let after_recovery = thanked.saturating_duration_since(started + outage);
    assert!(
        after_recovery <= Duration::from_secs(8),
        "up {after_recovery:?} after the API recovered"
    );
    assert_eq!(
        live.bot.health.get(Service::Helix),
        Some(ConnectionState::Connected)
    );
    // Stream state (stats' viewer samples) and emotes start once the ids exist.
    assert!(
        eventually(5, || asked(&live.api, "/streams") > 0
            && asked(&live.api, "/chat/emotes") > 0)
        .await,
        "stream state and emotes asked for after the outage"
    );
    live.bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_burst_at_start_waits_for_the_reset_and_then_everything_comes_up() {
    // Six 429s, each with `Ratelimit-Reset` a second ahead: more than one call's retries.
    let live = start_during(|api| api.throttle_next(6, 1)).await;
    follow_is_thanked(&live, 20).await;
    let users = asked(&live.api, "/users");
    assert!(
        (6..=8).contains(&users),
        "the refused lookups were retried, without hammering: {users} requests"
    );
    live.bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_at_start_is_not_retried() {
    let live = start_during(|api| api.revoke_all()).await;
    // The API side reports the lost grant (or the token validator ends the bot for it) at once.
    let reported = eventually(5, || {
        matches!(
            live.bot.health.get(Service::Helix),
            Some(ConnectionState::Down { reason }) if reason.contains("twitch-bot auth")
        ) || live.bot.shutdown_token().is_cancelled()
    })
    .await;
    assert!(
        reported,
        "the lost grant is reported: {:?}",
        live.bot.health.get(Service::Helix)
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        asked(&live.api, "/users") <= 1,
        "at most one lookup, no retry loop against a revoked grant"
    );
    assert!(live.api.eventsub_connections().is_empty());
    live.bot.shutdown().await;
}
