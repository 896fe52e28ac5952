//! The bot's moderator status over EventSub: `channel.moderator.add` / `.remove` about the bot
//! change its chat send rate class at once, before any echo or USERSTATE could tell, on either
//! chat transport; a broadcaster grant without `moderation:read` says so once and asks Twitch
//! for neither type. Real bot, simulated Twitch on 127.0.0.1.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use twitch_bot::config::bot::ChatTransport;
use twitch_bot::config::bot::RateLimit;
use twitch_bot::sim::helix::{BOT_ID, BROADCASTER_ID};
use twitch_bot::twitch::auth::Account;
use twitch_bot::twitch::chat::Outgoing;
use twitch_bot::twitch::eventsub::{DEFAULT_SUBSCRIPTIONS, MODERATOR_TYPES};
use twitch_bot::twitch::scopes;

/// Twitch's normal class: 20 messages per 30 s.
const NORMAL: usize = 20;

fn say(text: String) -> Outgoing {
    Outgoing {
        channel: CHANNEL.into(),
        text,
        reply_to: None,
    }
}

fn moderator_subscriptions(api: &twitch_bot::sim::FakeTwitchApi) -> usize {
    api.subscriptions()
        .iter()
        .filter(|s| MODERATOR_TYPES.contains(&s.kind.as_str()))
        .count()
}

/// Fills the normal class's window while the bot is a plain chatter, then makes it a
/// moderator through the simulated Twitch without anything sent in between: the next lines go
/// at once (moderator class) instead of waiting half a minute. Taken away again, the bot falls
/// back to the normal class at once, though its last USERSTATE or echo still said moderator.
async fn made_a_moderator_the_bot_sends_at_once_and_unmade_it_waits(transport: ChatTransport) {
    let (chat, api, mut config) = chat_twitch(transport).await;
    config.bot.chat.rate_limit = RateLimit::Normal;
    // A plain chatter to begin with: its echoes and USERSTATE carry no moderator badge.
    api.set_moderator(BOT_ID, false);
    let mut lines = chat.subscribe();
    let bot = start(config).await;
    assert!(
        reading(&bot, &chat, &api, transport).await,
        "{transport:?}: the bot reads chat"
    );
    assert!(
        eventually(10, || moderator_subscriptions(&api)
            == MODERATOR_TYPES.len())
        .await,
        "{transport:?}: the broadcaster's session subscribes to both moderator types"
    );
    let link = bot.chat().expect("chat runs").clone();
    for i in 0..NORMAL {
        link.send(say(format!("fill {i}"))).expect("queued");
    }
    for i in 0..NORMAL {
        next_privmsg(&mut lines, 5)
            .await
            .unwrap_or_else(|| panic!("{transport:?}: line {i} of the normal window goes out"));
    }
    // Every echo and USERSTATE of those (no moderator badge) has arrived.
    tokio::time::sleep(Duration::from_millis(500)).await;
    link.send(say("held".into())).expect("queued");
    assert!(
        next_privmsg(&mut lines, 1).await.is_none(),
        "{transport:?}: the 21st line waits for the normal window"
    );
    api.set_moderator(BOT_ID, true);
    let mut sent = vec![
        next_privmsg(&mut lines, 3)
            .await
            .unwrap_or_else(|| panic!("{transport:?}: made a moderator, the held line goes"))
            .text,
    ];
    for i in 0..9 {
        link.send(say(format!("fast {i}"))).expect("queued");
    }
    for i in 0..9 {
        let line = next_privmsg(&mut lines, 3)
            .await
            .unwrap_or_else(|| panic!("{transport:?}: moderator line {i} goes out at once"));
        sent.push(line.text);
    }
    assert_eq!(sent[0], "held");
    assert_eq!(sent.len(), 10);
    // The echoes and USERSTATEs of those carried the moderator badge; let them all arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    api.set_moderator(BOT_ID, false);
    tokio::time::sleep(Duration::from_millis(500)).await;
    link.send(say("after".into())).expect("queued");
    assert!(
        next_privmsg(&mut lines, 2).await.is_none(),
        "{transport:?}: unmade, 30 lines in the last 30 s hold the next one back"
    );
    bot.shutdown().await;
}

on_both_transports!(made_a_moderator_the_bot_sends_at_once_and_unmade_it_waits);

#[tokio::test]
async fn without_moderation_read_the_bot_says_so_once_and_does_not_subscribe() {
    let (logs, _guard) = common::logs::capture();

    let (chat, api, mut config) = chat_twitch(ChatTransport::Irc).await;
    let held: Vec<&str> = scopes::for_account(Account::Broadcaster)
        .into_iter()
        .filter(|s| *s != scopes::MODERATION_READ)
        .collect();
    let (token, refresh) = api.issue_tokens_with_scopes(BROADCASTER_ID, &held);
    config.secrets.broadcaster.scopes = api.scopes_of(&token);
    config.secrets.broadcaster.access_token = token;
    config.secrets.broadcaster.refresh_token = refresh;
    let bot = start(config).await;
    assert!(reading(&bot, &chat, &api, ChatTransport::Irc).await);
    let others = DEFAULT_SUBSCRIPTIONS.len() - MODERATOR_TYPES.len();
    assert!(
        eventually(10, || api.subscriptions().len() == others).await,
        "every other subscription is made: {} of {others}",
        api.subscriptions().len()
    );
    // Anything late would have had time to be asked for.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path == "/eventsub/subscriptions" && r.method == "POST")
        .filter(|r| {
            r.body["type"]
                .as_str()
                .is_some_and(|k| MODERATOR_TYPES.contains(&k))
        })
        .collect();
    assert!(asked.is_empty(), "no attempt: {asked:?}");
    assert_eq!(moderator_subscriptions(&api), 0);
    let text = logs.text();
    let notes = text
        .lines()
        .filter(|l| l.contains("lacks moderation:read") && l.contains("chat badges only"))
        .count();
    assert_eq!(notes, 1, "said once:\n{text}");
    bot.shutdown().await;
}

/// Twitch's rules for the two types, as the simulator keeps them: the broadcaster's own token
/// with `moderation:read`, for its own channel; and a change is sent only to sessions
/// subscribed for that channel.
#[tokio::test]
async fn the_simulator_keeps_twitchs_rules_for_moderator_subscriptions() {
    let (_chat, api, config) = chat_twitch(ChatTransport::Irc).await;
    let http = reqwest::Client::new();
    let url = format!("{}/eventsub/subscriptions", api.helix_url());
    let session = {
        // A session to subscribe on: one socket, its welcome names the id.
        use futures_util::StreamExt;
        let (mut ws, _) = tokio_tungstenite::connect_async(api.eventsub_url())
            .await
            .expect("EventSub socket");
        let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(welcome))) = ws.next().await
        else {
            panic!("a welcome");
        };
        let v: serde_json::Value = serde_json::from_str(welcome.as_str()).unwrap();
        let id = v["payload"]["session"]["id"].as_str().unwrap().to_string();
        (ws, id)
    };
    let create = |token: String, broadcaster: &'static str| {
        let (http, url, session) = (http.clone(), url.clone(), session.1.clone());
        async move {
            http.post(url)
                .bearer_auth(token)
                .header("Client-Id", "fakeclient")
                .json(&serde_json::json!({
                    "type": "channel.moderator.add", "version": "1",
                    "condition": {"broadcaster_user_id": broadcaster},
                    "transport": {"method": "websocket", "session_id": session},
                }))
                .send()
                .await
                .expect("answered")
                .status()
                .as_u16()
        }
    };
    let (without, _) = api.issue_tokens_with_scopes(BROADCASTER_ID, &["bits:read"]);
    assert_eq!(
        create(without, BROADCASTER_ID).await,
        403,
        "lacks the scope"
    );
    let (bots, _) = api.issue_tokens_with_scopes(BOT_ID, &[scopes::MODERATION_READ]);
    assert_eq!(
        create(bots, BROADCASTER_ID).await,
        403,
        "another user's channel"
    );
    let (with, _) = api.issue_tokens_with_scopes(BROADCASTER_ID, &[scopes::MODERATION_READ]);
    assert_eq!(create(with, BROADCASTER_ID).await, 202);
    drop(config);
}

/// Offline, the terminal's `/mod` and the console's `moderator_add` go through the simulated
/// Twitch: the bot hears `channel.moderator.add` about itself over EventSub, as an event.
#[tokio::test]
async fn the_offline_simulator_makes_the_bot_a_moderator_over_eventsub() {
    use twitch_bot::event::{Event, EventSource, LiveEvent};
    use twitch_bot::sim::{SimEvent, Viewer};
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = offline_settings(dir.path(), example_scripts());
    let config = twitch_bot::config::Config::default();
    let login = config.bot.username.to_ascii_lowercase();
    let bot = start_ready(settings, config).await;
    let sim = bot.sim().expect("offline");
    assert!(
        eventually(10, || moderator_subscriptions(&sim.api)
            == MODERATOR_TYPES.len())
        .await,
        "the offline bot subscribes to both moderator types"
    );
    let mut log = bot.subscribe();
    for added in [false, true] {
        let (_, reached) = sim
            .fire_counted(&Viewer::new(&login), &SimEvent::Moderator { added })
            .await;
        assert_eq!(reached, 1, "one session told (added: {added})");
    }
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while seen.len() < 2 {
        match tokio::time::timeout_at(deadline, log.recv()).await {
            Ok(Ok(LiveEvent::Event { event, .. })) => {
                if let Event::Channel(c) = event.as_ref()
                    && c.kind.topic().starts_with("moderator_")
                {
                    assert_eq!(c.source, EventSource::EventSub);
                    let who = c.user.as_ref().map(|u| u.login.to_string());
                    seen.push((c.kind.topic(), who));
                }
            }
            Ok(Ok(_)) | Ok(Err(_)) => {}
            Err(_) => break,
        }
    }
    assert_eq!(
        seen,
        vec![
            ("moderator_remove", Some(login.clone())),
            ("moderator_add", Some(login.clone()))
        ]
    );
    bot.shutdown().await;
}
