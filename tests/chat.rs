//! The chat connection against a fake Twitch chat on 127.0.0.1, over TCP and WebSocket.
//! What a viewer sees (commands answered, long text split, Shared Chat, replies during a flood,
//! warnings summed up) runs on both chat transports; the IRC connection itself (login, CAP,
//! RECONNECT, refused login, malformed lines, a dropped socket, USERSTATE's rate class) is
//! IRC-only, as EventSub chat has none of it.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use twitch_bot::config::bot::ChatTransport;
use twitch_bot::event::{ConnectionState, Roles, Service};
use twitch_bot::sim::{FakeChat, FakeChatOptions, Viewer};
use twitch_bot::twitch::chat::Outgoing;

async fn fake() -> FakeChat {
    FakeChat::start(FakeChatOptions::default())
        .await
        .expect("fake chat starts")
}

#[tokio::test]
async fn logs_in_requests_capabilities_and_joins() {
    let fake = fake().await;
    let mut lines = fake.subscribe();
    let bot = start(config(&fake.irc_url())).await;
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.starts_with("JOIN")) {
        let line = wait_line(&mut lines, 5, |_| true)
            .await
            .expect("login lines arrive");
        seen.push(line.line);
    }
    assert_eq!(
        seen,
        vec![
            format!("PASS oauth:{TOKEN}"),
            format!("NICK {BOT}"),
            "CAP REQ :twitch.tv/tags twitch.tv/commands twitch.tv/membership".to_string(),
            format!("JOIN #{CHANNEL}"),
        ]
    );
    assert!(
        eventually(5, || bot.health.get(Service::Chat)
            == Some(ConnectionState::Connected))
        .await
    );
    bot.shutdown().await;
}

async fn ping_round_trip(url: String, fake: &FakeChat) {
    let mut lines = fake.subscribe();
    let bot = start(config(&url)).await;
    assert!(
        eventually(5, || fake.joined(CHANNEL) == 1).await,
        "bot joins"
    );
    let id = fake.chat(CHANNEL, &Viewer::new("alice"), "!ping").await;
    let reply = next_privmsg(&mut lines, 5).await.expect("the bot answers");
    assert_eq!(reply.channel, CHANNEL);
    assert_eq!(reply.text, "pong");
    assert_eq!(
        reply.reply_to.as_deref(),
        Some(id.as_str()),
        "answer is threaded on the command"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn command_round_trip_over_tcp() {
    let fake = fake().await;
    ping_round_trip(fake.irc_url(), &fake).await;
}

#[tokio::test]
async fn command_round_trip_over_websocket() {
    let fake = fake().await;
    ping_round_trip(fake.ws_url(), &fake).await;
}

/// `!ping` answered, threaded on the command, on `transport`.
async fn command_round_trip_on(transport: ChatTransport) {
    let (fake, api, config) = chat_twitch(transport).await;
    let mut lines = fake.subscribe();
    let bot = start(config).await;
    assert!(
        reading(&bot, &fake, &api, transport).await,
        "{transport:?}: the bot reads chat"
    );
    let id = fake.chat(CHANNEL, &Viewer::new("alice"), "!ping").await;
    let reply = next_privmsg(&mut lines, 5).await.expect("the bot answers");
    assert_eq!(reply.text, "pong", "{transport:?}");
    assert_eq!(
        reply.reply_to.as_deref(),
        Some(id.as_str()),
        "{transport:?}"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn command_round_trip_on_both_transports() {
    for transport in TRANSPORTS {
        command_round_trip_on(transport).await;
    }
}

#[tokio::test]
async fn reconnect_request_is_obeyed_and_the_bot_rejoins() {
    let fake = fake().await;
    let mut lines = fake.subscribe();
    let bot = start(config(&fake.ws_url())).await;
    assert!(eventually(5, || fake.joined(CHANNEL) == 1).await);
    fake.reconnect_all().await;
    assert!(
        eventually(5, || fake.logins() == 2 && fake.joined(CHANNEL) == 1).await,
        "logged in again"
    );
    fake.chat(CHANNEL, &Viewer::new("bob"), "!ping").await;
    assert_eq!(
        next_privmsg(&mut lines, 5).await.map(|m| m.text).as_deref(),
        Some("pong")
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn a_message_asked_for_during_an_outage_arrives_after_reconnect() {
    let fake = fake().await;
    let mut lines = fake.subscribe();
    let bot = start(config(&fake.irc_url())).await;
    assert!(eventually(5, || fake.joined(CHANNEL) == 1).await);
    fake.drop_all().await;
    // Asked for while the link is down.
    bot.chat()
        .expect("chat runs")
        .send(Outgoing {
            channel: CHANNEL.into(),
            text: "still here".into(),
            reply_to: None,
        })
        .expect("queued");
    let msg = next_privmsg(&mut lines, 10)
        .await
        .expect("delivered after reconnect");
    assert_eq!(msg.text, "still here");
    assert_eq!(fake.logins(), 2, "it was sent on the new connection");
    bot.shutdown().await;
}

#[tokio::test]
async fn long_text_is_split_into_500_character_messages() {
    for transport in TRANSPORTS {
        long_text_is_split_on(transport).await;
    }
}

async fn long_text_is_split_on(transport: ChatTransport) {
    let (fake, api, config) = chat_twitch(transport).await;
    let mut lines = fake.subscribe();
    let bot = start(config).await;
    assert!(reading(&bot, &fake, &api, transport).await, "{transport:?}");
    let words: Vec<String> = (0..250).map(|i| format!("w{i:03}")).collect();
    let text = words.join(" ");
    bot.chat()
        .expect("chat runs")
        .send(Outgoing {
            channel: CHANNEL.into(),
            text: text.clone(),
            reply_to: None,
        })
        .expect("queued");
    let mut parts = Vec::new();
    while parts.join(" ").len() < text.len() {
        let msg = next_privmsg(&mut lines, 5)
            .await
            .expect("every part arrives");
        assert!(
            msg.text.chars().count() <= 500,
            "{} chars",
            msg.text.chars().count()
        );
        parts.push(msg.text);
    }
    assert_eq!(parts.len(), 3);
    assert_eq!(parts.join(" "), text);
    bot.shutdown().await;
}

#[tokio::test]
async fn malformed_and_truncated_lines_do_not_hurt() {
    let fake = fake().await;
    let mut lines = fake.subscribe();
    let bot = start(config(&fake.irc_url())).await;
    assert!(eventually(5, || fake.joined(CHANNEL) == 1).await);
    for garbage in [
        "@",
        ":",
        "@badges=;color ",
        ":tmi.twitch.tv",
        "@a=b;c=d :x!x@x PRIVMSG",
        "@id=1 :x!x@x PRIVMSG #testchan",
        "PRIVMSG #testchan",
        "@emotes=25:0-4,5-;id=x :a!a@a PRIVMSG #testchan :Kappa",
        ":tmi.twitch.tv USERNOTICE #testchan",
        ":tmi.twitch.tv CLEARCHAT",
        "\u{1}\u{0}\u{7f}ÿ",
    ] {
        fake.send_to_channel(CHANNEL, garbage.to_string()).await;
    }
    fake.chat(CHANNEL, &Viewer::new("carol"), "!ping").await;
    assert_eq!(
        next_privmsg(&mut lines, 5).await.map(|m| m.text).as_deref(),
        Some("pong")
    );
    assert_eq!(fake.logins(), 1, "no reconnect was needed");
    bot.shutdown().await;
}

#[tokio::test]
async fn shared_chat_from_another_channel_runs_no_command() {
    for transport in TRANSPORTS {
        shared_chat_on(transport).await;
    }
}

async fn shared_chat_on(transport: ChatTransport) {
    let (fake, api, config) = chat_twitch(transport).await;
    let mut lines = fake.subscribe();
    let bot = start(config).await;
    assert!(reading(&bot, &fake, &api, transport).await, "{transport:?}");
    let line = twitch_bot::sim::viewer::privmsg_line(
        CHANNEL,
        "1",
        &Viewer::new("guest"),
        "!ping",
        "s1",
        0,
    )
    .replacen("@", "@source-room-id=999;source-id=s0;", 1);
    fake.send_to_channel(CHANNEL, line).await;
    fake.chat(CHANNEL, &Viewer::new("dave").with(Roles::VIP), "!ping")
        .await;
    let reply = next_privmsg(&mut lines, 5)
        .await
        .expect("the local command is answered");
    assert_ne!(
        reply.reply_to.as_deref(),
        Some("s1"),
        "the shared-chat command was ignored"
    );
    assert!(
        next_privmsg(&mut lines, 1).await.is_none(),
        "exactly one answer"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn a_refused_login_says_to_run_auth() {
    let fake = FakeChat::start(FakeChatOptions {
        accepted_token: Some("right".into()),
        ..Default::default()
    })
    .await
    .expect("fake starts");
    let bot = start(config(&fake.irc_url())).await;
    assert!(
        eventually(5, || matches!(
            bot.health.get(Service::Chat),
            Some(ConnectionState::Down { reason }) if reason.contains("twitch-bot auth")
        ))
        .await,
        "health says what to do: {:?}",
        bot.health.get(Service::Chat)
    );
    assert_eq!(fake.joined(CHANNEL), 0);
    bot.shutdown().await;
}

/// Sends 45 messages with time paused and returns their arrival times at the fake.
async fn arrival_times(options: FakeChatOptions) -> Vec<tokio::time::Instant> {
    let fake = FakeChat::start(options).await.expect("fake starts");
    let mut lines = fake.subscribe();
    let mut cfg = config(&fake.irc_url());
    cfg.bot.chat.ping_interval_secs = 3_600;
    cfg.bot.chat.ping_timeout_secs = 3_600;
    let bot = start(cfg).await;
    assert!(eventually(5, || fake.joined(CHANNEL) == 1).await);
    // The USERSTATE after JOIN has been applied once a first message went out.
    let chat = bot.chat().expect("chat runs").clone();
    chat.send(Outgoing {
        channel: CHANNEL.into(),
        text: "warm-up".into(),
        reply_to: None,
    })
    .unwrap();
    assert!(next_privmsg(&mut lines, 5).await.is_some());
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(31)).await; // the warm-up leaves the window
    for i in 0..45 {
        chat.send(Outgoing {
            channel: CHANNEL.into(),
            text: format!("message {i}"),
            reply_to: None,
        })
        .unwrap();
    }
    let mut times = Vec::new();
    while times.len() < 45 {
        let msg = next_privmsg(&mut lines, 600)
            .await
            .expect("every message is sent eventually");
        assert_eq!(
            msg.text,
            format!("message {}", times.len()),
            "order is kept"
        );
        times.push(tokio::time::Instant::now());
    }
    bot.shutdown().await;
    times
}

#[tokio::test]
async fn normal_rate_never_sends_more_than_20_in_30_seconds() {
    let times = arrival_times(FakeChatOptions::default()).await;
    for w in times.windows(21) {
        assert!(
            w[20] - w[0] >= Duration::from_secs(30),
            "21 messages within {:?}",
            w[20] - w[0]
        );
    }
    assert!(
        times[44] - times[0] >= Duration::from_secs(60),
        "45 messages need three windows"
    );
}

#[tokio::test]
async fn a_moderator_badge_lifts_the_rate_to_100() {
    let times = arrival_times(FakeChatOptions {
        bot_badges: "moderator/1".into(),
        ..Default::default()
    })
    .await;
    assert!(
        times[44] - times[0] < Duration::from_secs(30),
        "all 45 fit in one window"
    );
}

/// A flood the dispatcher cannot keep up with (an event queue of 2) holds reading up; the
/// replies the bot decides to send must still go out. Before the writer had its own task, the
/// read side waited on the full event queue while nobody drained the outgoing queue, and most
/// `!ping`s went unanswered with "chat's outgoing queue is full". Over EventSub each reply is a
/// `POST /chat/messages`; with several posts in flight they keep up with the 16-message queue.
/// Run on two worker threads, as the bot runs.
async fn replies_go_out_while_a_flood_holds_reading_up(transport: ChatTransport) {
    use twitch_bot::config::bot::RateLimit;
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn,twitch_bot::twitch::chat=debug")
        .with_test_writer()
        .try_init();
    let (fake, api, mut cfg) = chat_twitch(transport).await;
    let mut lines = fake.subscribe();
    cfg.bot.chat.rate_limit = RateLimit::Unlimited;
    cfg.bot.chat.outgoing_queue = 16;
    cfg.bot.queue.capacity = 2;
    cfg.moderation.enabled = false;
    let bot = start(cfg).await;
    assert!(
        reading(&bot, &fake, &api, transport).await,
        "{transport:?}: the bot reads chat"
    );

    const LINES: usize = 6_000;
    const EVERY: usize = 30;
    let pings = LINES / EVERY;
    for i in 0..LINES {
        let viewer = Viewer::new(&format!("viewer{}", i % 500));
        let text = if i % EVERY == 0 {
            "!ping".to_string()
        } else {
            format!("chatting along, line {i}")
        };
        fake.chat(CHANNEL, &viewer, &text).await;
    }
    let mut answered = 0;
    while answered < pings {
        match next_privmsg(&mut lines, 60).await {
            Some(msg) if msg.text == "pong" => answered += 1,
            Some(_) => {}
            None => break,
        }
    }
    println!("{transport:?}: {answered} of {pings} !pings answered");
    assert_eq!(
        answered, pings,
        "every !ping in the flood is answered (none dropped as 'outgoing queue is full')"
    );
    bot.shutdown().await;
}

/// A raid: 50 chatters post links and are warned, then a viewer asks `!ping`. The answer goes
/// out first, and the warnings arrive summed up in one line, not 50.
async fn a_reply_goes_before_a_burst_of_warnings_which_arrive_summed_up(transport: ChatTransport) {
    use twitch_bot::config::moderation::{Ladder, Step};
    use twitch_bot::twitch::auth::Account;
    let (fake, api, mut cfg) = chat_twitch(transport).await;
    let mut lines = fake.subscribe();
    // Warnings as chat lines: a grant without Twitch's native warnings.
    let scopes: Vec<&str> = twitch_bot::twitch::scopes::for_account(Account::Bot)
        .into_iter()
        .filter(|s| *s != twitch_bot::twitch::helix::WARNINGS_SCOPE)
        .collect();
    (cfg.secrets.bot.access_token, cfg.secrets.bot.refresh_token) =
        api.issue_tokens_with_scopes(twitch_bot::sim::helix::BOT_ID, &scopes);
    cfg.secrets.bot.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    cfg.moderation.ladders.insert(
        "default".into(),
        Ladder {
            decay_hours: 24,
            steps: vec![Step::Warn],
        },
    );
    // The warning lane itself: raid mode would skip the warnings.
    cfg.moderation.raid_mode.enabled = false;
    let bot = start(cfg).await;
    assert!(
        reading(&bot, &fake, &api, transport).await,
        "{transport:?}: the bot reads chat"
    );

    for i in 0..50 {
        let raider = Viewer::new(&format!("raider{i}"));
        fake.chat(
            CHANNEL,
            &raider,
            &format!("free followers at https://spam{i}.example.com"),
        )
        .await;
    }
    let id = fake.chat(CHANNEL, &Viewer::new("alice"), "!ping").await;

    let first = next_privmsg(&mut lines, 10)
        .await
        .expect("the bot says something");
    assert_eq!(first.text, "pong", "the reply goes out before any warning");
    assert_eq!(first.reply_to.as_deref(), Some(id.as_str()));

    let mut warnings = Vec::new();
    while let Some(msg) = next_privmsg(&mut lines, 15).await {
        warnings.push(msg.text);
    }
    assert!(
        (1..=2).contains(&warnings.len()),
        "the warnings are summed up in one or two lines: {warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("50 chatters warned for links")),
        "the summary says how many and why: {warnings:?}"
    );
    bot.shutdown().await;
}

/// A line in another channel's chat does not reach the bot: IRC delivers only joined channels,
/// and EventSub only to sessions subscribed to that broadcaster's chat.
async fn another_channel_s_chat_does_not_reach_the_bot(transport: ChatTransport) {
    use twitch_bot::event::{Event, LiveEvent};
    let (fake, api, config) = chat_twitch(transport).await;
    let mut lines = fake.subscribe();
    let bot = start(config).await;
    let mut events = bot.subscribe();
    assert!(reading(&bot, &fake, &api, transport).await, "{transport:?}");
    fake.chat("otherchan", &Viewer::new("stranger"), "hello elsewhere")
        .await;
    fake.chat(CHANNEL, &Viewer::new("alice"), "!ping").await;
    let reply = next_privmsg(&mut lines, 5).await.expect("the bot answers");
    assert_eq!(reply.text, "pong", "{transport:?}");
    let mut seen = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if let LiveEvent::Event { event, .. } = ev
            && let Event::Chat(msg) = event.as_ref()
        {
            seen.push(msg.text.clone());
        }
    }
    assert!(
        seen.iter().any(|t| t == "!ping"),
        "{transport:?}: own channel's line seen: {seen:?}"
    );
    assert!(
        !seen.iter().any(|t| t == "hello elsewhere"),
        "{transport:?}: another channel's line reached the bot: {seen:?}"
    );
    bot.shutdown().await;
}

on_both_transports!(another_channel_s_chat_does_not_reach_the_bot);
on_both_transports!(a_reply_goes_before_a_burst_of_warnings_which_arrive_summed_up);
on_both_transports!(multi_thread: replies_go_out_while_a_flood_holds_reading_up);
