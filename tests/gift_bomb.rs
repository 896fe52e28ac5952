//! A 100-gift bomb against `!ping`: how long a viewer's command waits while the bot pays points
//! for a burst of channel events. Prints the figures (timing is the machine's business, so it
//! is not asserted); asserts that every gift was paid, once.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::{offline_settings, start_ready};
use twitch_bot::config::Config;
use twitch_bot::config::bot::ChatTransport;
use twitch_bot::sim::{ClientLine, SimEvent, Viewer};

async fn pong_after(
    sim: &twitch_bot::sim::SimTwitch,
    lines: &mut tokio::sync::broadcast::Receiver<ClientLine>,
) -> Duration {
    // A new viewer each time: moderation would take one viewer's repeated `!ping` for spam.
    static ASKED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = ASKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let asker = Viewer::new(&format!("asker{n}"));
    let sent = Instant::now();
    sim.chat_as(&asker, "!ping").await;
    common::wait_line(lines, 10, |l| l.privmsg().is_some_and(|m| m.text == "pong"))
        .await
        .expect("the bot answers !ping");
    sent.elapsed()
}

async fn a_ping_during_a_hundred_gift_bomb(transport: ChatTransport) {
    let dir = tempfile::tempdir().expect("temp dir");
    // Only !ping: the event scripts' thank-yous would queue behind chat's rate limit and
    // measure that instead.
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(scripts.join("commands")).expect("mkdir");
    std::fs::copy(
        common::example_scripts().join("commands/ping.rhai"),
        scripts.join("commands/ping.rhai"),
    )
    .expect("copy ping");
    let settings = offline_settings(dir.path(), scripts);
    let mut config = Config::default();
    config.bot.chat.transport = transport;
    // Chat's send limit would pace the replies; the fake Twitch takes any rate.
    config.bot.chat.rate_limit = twitch_bot::config::bot::RateLimit::Unlimited;
    let bot = start_ready(settings, config).await;
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();

    let mut quiet = Vec::new();
    for _ in 0..5 {
        quiet.push(pong_after(sim, &mut lines).await);
    }
    let mut bombed = Vec::new();
    for round in 0..3 {
        let subs: Vec<Viewer> = (0..100)
            .map(|i| Viewer::new(&format!("sub{round}x{i}")))
            .collect();
        for viewer in &subs {
            sim.fire(viewer, &SimEvent::Subscribe { tier: 1 }).await;
        }
        bombed.push(pong_after(sim, &mut lines).await);
        let storage = bot.storage().expect("storage").clone();
        let paid = common::eventually(10, || {
            subs.iter()
                .all(|v| storage.get(&v.id).is_ok_and(|p| p == 500))
        })
        .await;
        assert!(paid, "every gifted sub of round {round} is paid 500 once");
    }
    let ms = |d: &[Duration]| {
        d.iter()
            .map(|d| format!("{:.1}", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("!ping reply, quiet chat (ms): {}", ms(&quiet));
    println!(
        "!ping reply, right after 100 subscriptions (ms): {}",
        ms(&bombed)
    );
    bot.shutdown().await;
}

on_both_transports!(
    multi_thread:
    a_ping_during_a_hundred_gift_bomb,
);
