//! Chat over EventSub against IRC: the bot's own EventSub chat session gives the same events
//! as IRC for the same lines, Twitch's rules for its subscriptions hold, `auto` falls back to
//! IRC without the chat scopes, and a `!ping` reply goes round on each transport.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio_util::sync::CancellationToken;
use twitch_bot::config::Secrets;
use twitch_bot::config::bot::ChatTransport;
use twitch_bot::event::{ConnectionState, Event, Service};
use twitch_bot::queue::{self, EventReceiver};
use twitch_bot::sim::helix::{BOT_ID, BROADCASTER_ID};
use twitch_bot::sim::{FakeApiOptions, FakeChat, FakeChatOptions, FakeTwitchApi, Viewer};
use twitch_bot::twitch::auth::{AuthClient, Tokens};
use twitch_bot::twitch::eventsub::{self, ChatReadSettings, EventSubConfig, MemoryDedup};
use twitch_bot::twitch::helix::{ChannelIds, Helix, RetryPolicy};
use twitch_bot::twitch::irc::{Incoming, IrcLine, interpret};

/// A Helix client for the fake API with the bot's token holding `bot_scopes`.
fn helix_for(api: &FakeTwitchApi, bot_scopes: Option<&[&str]>) -> Helix {
    let (bot_access, bot_refresh) = match bot_scopes {
        Some(scopes) => api.issue_tokens_with_scopes(BOT_ID, scopes),
        None => api.issue_tokens(BOT_ID),
    };
    let (b_access, b_refresh) = api.issue_tokens(BROADCASTER_ID);
    let mut secrets = Secrets {
        client_id: "fakeclient".into(),
        ..Secrets::default()
    };
    secrets.bot.scopes = api.scopes_of(&bot_access);
    secrets.bot.access_token = bot_access;
    secrets.bot.refresh_token = bot_refresh;
    secrets.broadcaster.access_token = b_access;
    secrets.broadcaster.refresh_token = b_refresh;
    let http = reqwest::Client::new();
    let tokens = Tokens::new(
        AuthClient::new(http.clone(), &api.auth_url(), "fakeclient", None),
        secrets,
        None,
    );
    let helix = Helix::new(http, &api.helix_url(), tokens, RetryPolicy::default());
    helix.set_ids(ChannelIds {
        broadcaster_id: BROADCASTER_ID.into(),
        bot_id: BOT_ID.into(),
    });
    helix
}

/// A fake chat server mirrored into a fake API, and the bot's chat session reading it.
struct Reader {
    chat: FakeChat,
    api: FakeTwitchApi,
    handle: eventsub::EventSubHandle,
    rx: EventReceiver,
    stop: CancellationToken,
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn reader(bot_scopes: Option<&[&str]>) -> Reader {
    let chat = FakeChat::start(FakeChatOptions::default())
        .await
        .expect("fake chat");
    let api = FakeTwitchApi::start(FakeApiOptions {
        channel: CHANNEL.into(),
        ..FakeApiOptions::default()
    })
    .await
    .expect("fake api");
    chat.mirror_to(api.chat_mirror());
    let helix = helix_for(&api, bot_scopes);
    let (tx, rx) = queue::channel(256);
    let stop = CancellationToken::new();
    let (handle, _task) = eventsub::spawn_chat(
        ChatReadSettings {
            ws_url: api.eventsub_url(),
            subscriptions_url: format!("{}/eventsub/subscriptions", api.helix_url()),
            broadcaster_id: BROADCASTER_ID.into(),
            bot_id: BOT_ID.into(),
            config: EventSubConfig {
                keepalive_margin_secs: 1,
                max_backoff_secs: 1,
                ..EventSubConfig::default()
            },
            on_bot_roles: None,
        },
        helix,
        tx,
        Arc::new(MemoryDedup::new(1000)),
        stop.clone(),
    );
    Reader {
        chat,
        api,
        handle,
        rx,
        stop,
    }
}

/// The next event that is not a connection change.
async fn next_event(rx: &mut EventReceiver) -> Option<Event> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Event::Connection(_))) => {}
            Ok(Some(ev)) => return Some(ev),
            _ => return None,
        }
    }
}

fn irc_event(line: &str) -> Event {
    match interpret(&IrcLine::parse(line).expect("a line")) {
        Incoming::Event(ev) => ev,
        other => panic!("not an event: {other:?}"),
    }
}

/// What EventSub cannot say and IRC does: blanked on both sides before comparing.
fn comparable(ev: Event) -> Event {
    match ev {
        Event::ClearMsg(mut m) => {
            m.text.clear();
            Event::ClearMsg(m)
        }
        Event::ClearChat(mut c) => {
            c.duration_secs = None;
            Event::ClearChat(c)
        }
        other => other,
    }
}

#[tokio::test]
async fn eventsub_chat_gives_the_same_events_as_irc_for_the_same_lines() {
    let mut r = reader(None).await;
    assert!(
        eventually(5, || r.handle.status().created == 6).await,
        "the six chat subscriptions are created: {:?}",
        r.handle.status()
    );
    let room = twitch_bot::sim::chat::room_id(CHANNEL);
    let lines = [
        // Everything a PRIVMSG carries: badges and months, emotes with positions (after a
        // two-byte character), bits, first message, a reply, Shared Chat source.
        format!(
            "@badge-info=subscriber/14;badges=subscriber/12,vip/1;bits=100;color=#1E90FF;\
             display-name=Alice;emotes=25:3-7;first-msg=1;id=m-1;mod=0;\
             reply-parent-display-name=Bob;reply-parent-msg-body=hi\\sthere;reply-parent-msg-id=p-1;\
             reply-parent-user-id=3001;reply-parent-user-login=bob;returning-chatter=0;room-id={room};\
             source-id=s-1;source-room-id=999;subscriber=1;tmi-sent-ts=1765069200123;turbo=0;\
             user-id=3000;user-type=;vip=1 :alice!alice@alice.tmi.twitch.tv PRIVMSG #{CHANNEL} \
             :hé Kappa cheer100 nice"
        ),
        // A moderator's plain line.
        format!(
            "@badge-info=;badges=moderator/1;color=;display-name=Mod;emotes=;first-msg=0;id=m-2;\
             mod=1;returning-chatter=0;room-id={room};subscriber=0;tmi-sent-ts=1765069200200;\
             turbo=0;user-id=3002;user-type=mod :mod!mod@mod.tmi.twitch.tv PRIVMSG #{CHANNEL} :!ping"
        ),
        format!(
            "@badge-info=subscriber/6;badges=subscriber/6;color=;display-name=Ronni;emotes=;\
             id=n-1;login=ronni;mod=0;msg-id=resub;msg-param-cumulative-months=6;\
             msg-param-streak-months=2;msg-param-sub-plan=1000;room-id={room};subscriber=1;\
             system-msg=ronni\\shas\\ssubscribed\\sfor\\s6\\smonths!;tmi-sent-ts=1765069200300;\
             user-id=3003;user-type= :tmi.twitch.tv USERNOTICE #{CHANNEL} :Great stream"
        ),
        format!(
            "@badges=;color=;display-name=Gifter;emotes=;id=n-2;login=gifter;mod=0;\
             msg-id=submysterygift;msg-param-mass-gift-count=5;msg-param-sub-plan=2000;\
             room-id={room};subscriber=0;system-msg=Gifter\\sis\\sgifting\\s5;\
             tmi-sent-ts=1765069200400;user-id=3004;user-type= :tmi.twitch.tv USERNOTICE #{CHANNEL}"
        ),
        format!(
            "@badges=;color=;display-name=Raider;emotes=;id=n-3;login=raider;mod=0;\
             msg-id=raid;msg-param-displayName=Raider;msg-param-login=raider;\
             msg-param-viewerCount=42;room-id={room};subscriber=0;system-msg=42\\sraiders;\
             tmi-sent-ts=1765069200500;user-id=3005;user-type= :tmi.twitch.tv USERNOTICE #{CHANNEL}"
        ),
        format!(
            "@badges=broadcaster/1;color=;display-name={CHANNEL};emotes=;id=n-4;login={CHANNEL};\
             mod=0;msg-id=announcement;msg-param-color=BLUE;room-id={room};subscriber=0;\
             system-msg=;tmi-sent-ts=1765069200600;user-id={room};user-type= \
             :tmi.twitch.tv USERNOTICE #{CHANNEL} :Stream starts soon"
        ),
        format!(
            "@login=alice;room-id=;target-msg-id=m-1;tmi-sent-ts=1765069200700 \
             :tmi.twitch.tv CLEARMSG #{CHANNEL} :hé Kappa cheer100 nice"
        ),
        format!(
            "@ban-duration=600;room-id={room};target-user-id=3000;tmi-sent-ts=1765069200800 \
             :tmi.twitch.tv CLEARCHAT #{CHANNEL} :alice"
        ),
        format!("@room-id={room};tmi-sent-ts=1765069200900 :tmi.twitch.tv CLEARCHAT #{CHANNEL}"),
    ];
    for line in &lines {
        r.chat.send_to_channel(CHANNEL, line.clone()).await;
        let over_eventsub = next_event(&mut r.rx)
            .await
            .unwrap_or_else(|| panic!("no EventSub event for {line}"));
        let over_irc = irc_event(line);
        assert_eq!(
            comparable(over_eventsub),
            comparable(over_irc),
            "same event for {line}"
        );
    }
    let _ = &r.api;
}

#[tokio::test]
async fn chat_subscriptions_follow_twitchs_rules() {
    // Without user:read:chat Twitch refuses every chat type.
    let r = reader(Some(&["chat:read", "chat:edit"])).await;
    assert!(
        eventually(5, || r.handle.status().refused.len() == 6).await,
        "refused: {:?}",
        r.handle.status()
    );
    assert!(
        r.handle.status().refused[0].1.contains("authorization"),
        "Twitch's reason is kept: {:?}",
        r.handle.status().refused
    );
    assert_eq!(r.api.subscriptions().len(), 0);
}

#[tokio::test]
async fn auto_falls_back_to_irc_when_the_bots_grant_lacks_the_chat_scopes() {
    let (chat, api, mut config) = chat_twitch(ChatTransport::Auto).await;
    let (token, refresh) = api.issue_tokens_with_scopes(BOT_ID, &["chat:read", "chat:edit"]);
    config.secrets.bot.scopes = api.scopes_of(&token);
    config.secrets.bot.access_token = token;
    config.secrets.bot.refresh_token = refresh;
    config.bot.chat.transport = ChatTransport::Auto;
    let mut lines = chat.subscribe();
    // Not `start`: it pins `auto` to IRC.
    let (settings, _data) = settings();
    let bot = twitch_bot::app::Bot::start(settings, config)
        .await
        .expect("bot starts");
    assert!(
        eventually(10, || chat.joined(CHANNEL) == 1).await,
        "the bot reads over IRC"
    );
    let note = bot.health.note(Service::Chat).unwrap_or_default();
    assert!(
        note.starts_with("transport: irc") && note.contains("user:read:chat"),
        "the choice and its reason are shown: {note}"
    );
    assert!(
        api.subscriptions()
            .iter()
            .all(|s| !s.kind.starts_with("channel.chat")),
        "no chat subscription was made"
    );
    let id = chat.chat(CHANNEL, &Viewer::new("alice"), "!ping").await;
    let reply = next_privmsg(&mut lines, 5).await.expect("pong over IRC");
    assert_eq!(reply.text, "pong");
    assert_eq!(reply.reply_to.as_deref(), Some(id.as_str()));
    assert_eq!(
        bot.health.get(Service::Chat),
        Some(ConnectionState::Connected)
    );
    bot.shutdown().await;
}

/// Milliseconds from a viewer's `!ping` leaving the fake chat server to the bot's `pong`
/// arriving back, `n` times on `transport`; sorted.
async fn ping_latencies(transport: ChatTransport, n: usize) -> Vec<f64> {
    let (fake, api, config) = chat_twitch(transport).await;
    let mut lines = fake.subscribe();
    let bot = start(config).await;
    assert!(
        reading(&bot, &fake, &api, transport).await,
        "{transport:?}: the bot reads chat"
    );
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // Distinct viewers: the command's per-user cooldown must not hold a reply back.
        let viewer = Viewer::new(&format!("pinger{i}"));
        let t0 = std::time::Instant::now();
        let id = fake.chat(CHANNEL, &viewer, "!ping").await;
        let reply = next_privmsg(&mut lines, 5)
            .await
            .unwrap_or_else(|| panic!("{transport:?}: ping {i} answered"));
        out.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(reply.text, "pong");
        assert_eq!(reply.reply_to.as_deref(), Some(id.as_str()));
        // Stay under the normal rate class (20 per 30 s) for the whole run.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if transport == ChatTransport::Eventsub {
        assert_eq!(
            api.helix_chat_sent().len(),
            n,
            "every reply went out with POST /chat/messages"
        );
        assert!(
            bot.health
                .note(Service::Chat)
                .is_some_and(|n| n.starts_with("transport: eventsub")),
            "still on EventSub: {:?}",
            bot.health.note(Service::Chat)
        );
    }
    bot.shutdown().await;
    out.sort_by(f64::total_cmp);
    out
}

/// A `!ping` reply round trip on each transport, with its latency printed (run with
/// `--nocapture` to read the numbers).
#[tokio::test]
async fn ping_reply_round_trip_on_each_transport() {
    for transport in TRANSPORTS {
        let ms = ping_latencies(transport, 15).await;
        let pick = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        println!(
            "!ping round trip on {:?}: median {:.2} ms, p90 {:.2} ms, max {:.2} ms ({} pings)",
            transport,
            pick(0.5),
            pick(0.9),
            pick(1.0),
            ms.len()
        );
        assert!(
            pick(0.5) < 1_000.0,
            "{transport:?}: a reply within a second"
        );
    }
}

/// `--offline` on each transport: the simulated Twitch serves chat over IRC and over the
/// bot's EventSub chat session alike, and `!ping` is answered either way.
#[tokio::test]
async fn the_offline_bot_chats_on_both_transports() {
    for transport in TRANSPORTS {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = offline_settings(dir.path(), example_scripts());
        let mut config = twitch_bot::config::Config::default();
        config.bot.chat.transport = transport;
        let bot = start_ready(settings, config).await;
        let want = match transport {
            ChatTransport::Eventsub => "transport: eventsub",
            _ => "transport: irc",
        };
        assert!(
            eventually(10, || bot
                .health
                .note(Service::Chat)
                .is_some_and(|n| n.starts_with(want)))
            .await,
            "{transport:?}: {:?}",
            bot.health.note(Service::Chat)
        );
        let sim = bot.sim().expect("offline");
        let chat_subs = sim
            .api
            .subscriptions()
            .iter()
            .filter(|s| s.kind.starts_with("channel.chat"))
            .count();
        assert_eq!(
            chat_subs,
            if transport == ChatTransport::Eventsub {
                6
            } else {
                0
            },
            "{transport:?}"
        );
        let mut lines = sim.chat.subscribe();
        let id = sim.chat_as(&Viewer::new("alice"), "!ping").await;
        let reply = next_privmsg(&mut lines, 5)
            .await
            .unwrap_or_else(|| panic!("{transport:?}: pong"));
        assert_eq!(reply.text, "pong");
        assert_eq!(reply.reply_to.as_deref(), Some(id.as_str()));
        bot.shutdown().await;
    }
}

/// `eventsub` with a grant that may read but not send: the chat subscriptions are made, the
/// first Helix send is refused, and IRC takes over with the same queue — the reply that was
/// waiting arrives once, over IRC, and the note says why.
#[tokio::test]
async fn a_refused_first_helix_send_hands_the_queue_to_irc() {
    let (chat, api, mut config) = chat_twitch(ChatTransport::Eventsub).await;
    let (token, refresh) =
        api.issue_tokens_with_scopes(BOT_ID, &["chat:read", "chat:edit", "user:read:chat"]);
    config.secrets.bot.scopes = api.scopes_of(&token);
    config.secrets.bot.access_token = token;
    config.secrets.bot.refresh_token = refresh;
    let mut lines = chat.subscribe();
    let bot = start(config).await;
    assert!(
        eventually(10, || api.requests().iter().any(|r| r.method == "POST"
            && r.path == "/eventsub/subscriptions"
            && r.body["type"] == "channel.chat.message"))
        .await,
        "EventSub chat is tried first"
    );
    assert!(
        eventually(10, || chat.joined(CHANNEL) == 1).await,
        "IRC takes over"
    );
    let id = chat.chat(CHANNEL, &Viewer::new("alice"), "!ping").await;
    let reply = next_privmsg(&mut lines, 10)
        .await
        .expect("the reply goes out over IRC");
    assert_eq!(reply.text, "pong");
    assert_eq!(reply.reply_to.as_deref(), Some(id.as_str()));
    assert!(
        next_privmsg(&mut lines, 1).await.is_none(),
        "exactly one reply"
    );
    let note = bot.health.note(Service::Chat).unwrap_or_default();
    assert!(
        note.starts_with("transport: irc") && note.contains("Helix"),
        "{note}"
    );
    assert!(
        eventually(5, || api
            .subscriptions()
            .iter()
            .all(|s| !s.kind.starts_with("channel.chat")))
        .await,
        "the EventSub chat session is closed"
    );
    bot.shutdown().await;
}
