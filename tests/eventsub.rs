//! The EventSub WebSocket client against the simulated Twitch: subscriptions on welcome,
//! keepalive loss, `session_reconnect`, deduplication, revocations, refusals, and the mapping
//! of every event type (and of IRC USERNOTICEs) to channel events.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use twitch_bot::config::Secrets;
use twitch_bot::event::{
    ChannelEventKind, ChatMessage, Chatter, ConnectionState, Event, EventSource, Service, SubTier,
    UserNotice, UserNoticeKind,
};
use twitch_bot::queue::{self, EventReceiver};
use twitch_bot::sim::helix::{BOT_ID, BROADCASTER_ID};
use twitch_bot::sim::{FakeApiOptions, FakeTwitchApi};
use twitch_bot::twitch::auth::{AuthClient, Tokens};
use twitch_bot::twitch::eventsub::{
    self, DEFAULT_SUBSCRIPTIONS, EventSubConfig, EventSubHandle, EventSubSettings, MemoryDedup,
};
use twitch_bot::twitch::helix::{ChannelIds, Helix, RetryPolicy};

struct Setup {
    api: FakeTwitchApi,
    handle: EventSubHandle,
    rx: EventReceiver,
    broadcaster_token: String,
    stop: CancellationToken,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn setup_with(keepalive_secs: u64, prepare: impl FnOnce(&FakeTwitchApi)) -> Setup {
    let config = EventSubConfig {
        keepalive_margin_secs: 1,
        max_backoff_secs: 1,
        ..EventSubConfig::default()
    };
    setup_config(keepalive_secs, config, prepare).await
}

async fn setup_config(
    keepalive_secs: u64,
    config: EventSubConfig,
    prepare: impl FnOnce(&FakeTwitchApi),
) -> Setup {
    let api = FakeTwitchApi::start(FakeApiOptions {
        keepalive_secs,
        ..FakeApiOptions::default()
    })
    .await
    .expect("fake starts");
    prepare(&api);
    let (bot_access, bot_refresh) = api.issue_tokens(BOT_ID);
    let (b_access, b_refresh) = api.issue_tokens(BROADCASTER_ID);
    let mut secrets = Secrets {
        client_id: "fakeclient".into(),
        ..Secrets::default()
    };
    secrets.bot.access_token = bot_access;
    secrets.bot.refresh_token = bot_refresh;
    secrets.broadcaster.access_token = b_access.clone();
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
    let settings = EventSubSettings {
        ws_url: api.eventsub_url(),
        subscriptions_url: format!("{}/eventsub/subscriptions", api.helix_url()),
        broadcaster_id: BROADCASTER_ID.into(),
        config,
    };
    let (tx, rx) = queue::channel(256);
    let stop = CancellationToken::new();
    let (handle, _task) = eventsub::spawn(
        settings,
        helix,
        tx,
        Arc::new(MemoryDedup::new(1000)),
        stop.clone(),
    );
    Setup {
        api,
        handle,
        rx,
        broadcaster_token: b_access,
        stop,
    }
}

async fn setup() -> Setup {
    setup_with(10, |_| {}).await
}

async fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

/// The next channel event, skipping health events.
async fn next_channel(
    rx: &mut EventReceiver,
    secs: u64,
) -> Option<twitch_bot::event::ChannelEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv()).await.ok()??;
        if let Event::Channel(c) = ev {
            return Some(*c);
        }
    }
}

/// The reason of the next EventSub "down" health event, within `secs`.
async fn eventsub_down(rx: &mut EventReceiver, secs: u64) -> Option<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        if let Event::Connection(c) = ev
            && c.service == Service::EventSub
            && let ConnectionState::Down { reason } = c.state
        {
            return Some(reason);
        }
    }
    None
}

async fn subscribed(s: &Setup) {
    let n = DEFAULT_SUBSCRIPTIONS.len();
    assert!(
        eventually(10, || s.api.subscriptions().len() == n).await,
        "all {n} subscriptions created within 10 s, got {}",
        s.api.subscriptions().len()
    );
}

#[tokio::test]
async fn welcome_creates_every_default_subscription_with_versions_conditions_and_the_broadcaster_token()
 {
    let s = setup().await;
    subscribed(&s).await;
    let subs = s.api.subscriptions();
    let session = s.handle.status().session_id.expect("connected");
    let mut kinds: Vec<_> = subs.iter().map(|x| x.kind.as_str()).collect();
    kinds.sort_unstable();
    let mut want = DEFAULT_SUBSCRIPTIONS.to_vec();
    want.sort_unstable();
    assert_eq!(kinds, want);
    for sub in &subs {
        assert_eq!(sub.session_id, session, "{} on our session", sub.kind);
        let want_version = match sub.kind.as_str() {
            "channel.follow"
            | "channel.update"
            | "channel.hype_train.begin"
            | "channel.hype_train.end" => "2",
            _ => "1",
        };
        assert_eq!(sub.version, want_version, "{}", sub.kind);
        let cond = &sub.condition;
        match sub.kind.as_str() {
            "channel.follow" => {
                assert_eq!(cond["broadcaster_user_id"], BROADCASTER_ID);
                assert_eq!(cond["moderator_user_id"], BROADCASTER_ID);
            }
            "channel.raid" => assert_eq!(cond["to_broadcaster_user_id"], BROADCASTER_ID),
            _ => assert_eq!(cond["broadcaster_user_id"], BROADCASTER_ID, "{}", sub.kind),
        }
    }
    let posts: Vec<_> = s
        .api
        .requests()
        .into_iter()
        .filter(|r| r.path == "/eventsub/subscriptions" && r.method == "POST")
        .collect();
    assert!(
        posts.iter().all(|r| r.token == s.broadcaster_token),
        "broadcaster token for every subscription"
    );
}

#[tokio::test]
async fn every_event_type_becomes_its_channel_event() {
    let mut s = setup().await;
    subscribed(&s).await;
    let want = [
        ("channel.follow", "follow"),
        ("channel.subscribe", "subscribe"),
        ("channel.subscription.message", "resub"),
        ("channel.subscription.gift", "gift"),
        ("channel.cheer", "cheer"),
        ("channel.raid", "raid"),
        (
            "channel.channel_points_custom_reward_redemption.add",
            "redemption",
        ),
        ("stream.online", "stream_online"),
        ("stream.offline", "stream_offline"),
        ("channel.update", "channel_update"),
        ("channel.poll.begin", "poll_begin"),
        ("channel.poll.end", "poll_end"),
        ("channel.prediction.begin", "prediction_begin"),
        ("channel.prediction.end", "prediction_end"),
        ("channel.hype_train.begin", "hype_train_begin"),
        ("channel.hype_train.end", "hype_train_end"),
        ("channel.ad_break.begin", "ad_break"),
    ];
    for (kind, topic) in want {
        let id = s.api.fire_sample(kind).await;
        let ev = next_channel(&mut s.rx, 5)
            .await
            .unwrap_or_else(|| panic!("{kind} arrives"));
        assert_eq!(ev.kind.topic(), topic);
        assert_eq!(ev.id, id.as_str());
        assert_eq!(ev.source, EventSource::EventSub);
        match &ev.kind {
            ChannelEventKind::Resub {
                months,
                streak,
                message,
                ..
            } => {
                assert_eq!((*months, *streak), (15, 3));
                assert_eq!(message, "Love the stream!");
            }
            ChannelEventKind::Gift { count, .. } => assert_eq!(*count, 5),
            ChannelEventKind::Cheer { bits, .. } => assert_eq!(*bits, 100),
            ChannelEventKind::Raid { viewers } => {
                assert_eq!(*viewers, 42);
                assert_eq!(
                    ev.user.as_ref().map(|u| u.login.as_str()),
                    Some("viewer_one")
                );
            }
            ChannelEventKind::Redemption {
                reward_title,
                cost,
                user_input,
                ..
            } => {
                assert_eq!(
                    (reward_title.as_str(), *cost, user_input.as_str()),
                    ("Hydrate", 100, "hello")
                );
            }
            ChannelEventKind::PollEnd { winner, .. } => {
                assert_eq!(winner.as_deref(), Some("Tacos"))
            }
            ChannelEventKind::PredictionEnd { winner, .. } => {
                assert_eq!(winner.as_deref(), Some("Yes"))
            }
            ChannelEventKind::Follow => {
                assert_eq!(ev.user.as_ref().map(|u| u.id.as_str()), Some("3000"));
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn the_same_notification_twice_is_processed_once() {
    let mut s = setup().await;
    subscribed(&s).await;
    let event = twitch_bot::sim::eventsub::sample_event("channel.follow", "3000", "viewer_one");
    assert_eq!(
        s.api
            .fire_with_id("channel.follow", "dup-1", event.clone())
            .await,
        1
    );
    assert_eq!(
        s.api.fire_with_id("channel.follow", "dup-1", event).await,
        1
    );
    let second = s.api.fire_sample("channel.cheer").await;
    let first = next_channel(&mut s.rx, 5).await.expect("the follow");
    assert_eq!(first.id, "dup-1");
    let next = next_channel(&mut s.rx, 5).await.expect("the cheer");
    assert_eq!(next.id, second.as_str(), "the duplicate follow was dropped");
}

#[tokio::test]
async fn keepalive_loss_reconnects_and_subscribes_again() {
    let mut s = setup_with(1, |_| {}).await;
    subscribed(&s).await;
    let first = s.handle.status().session_id.expect("session");
    s.api.pause_keepalives(true);
    // Watchdog: 1 s keepalive + 1 s margin; then a new socket and a new session.
    assert!(
        eventually(10, || s
            .handle
            .status()
            .session_id
            .as_ref()
            .is_some_and(|id| *id != first))
        .await,
        "a new session after the keepalives stopped"
    );
    s.api.pause_keepalives(false);
    let second = s.handle.status().session_id.expect("session");
    assert!(
        eventually(10, || {
            let subs = s.api.subscriptions();
            subs.len() == DEFAULT_SUBSCRIPTIONS.len() && subs.iter().all(|x| x.session_id == second)
        })
        .await,
        "subscribed again on the new session"
    );
    s.api.fire_sample("channel.raid").await;
    let ev = next_channel(&mut s.rx, 5).await.expect("events flow again");
    assert_eq!(ev.kind.topic(), "raid");
}

#[tokio::test]
async fn session_reconnect_keeps_subscriptions_and_loses_no_notification() {
    let mut s = setup().await;
    subscribed(&s).await;
    let first = s.handle.status().session_id.expect("session");
    let posts_before = s
        .api
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    s.api.send_reconnect().await;
    // Fired while the client moves: whichever socket it lands on, it must arrive.
    let during = s.api.fire_sample("channel.subscribe").await;
    assert!(
        eventually(10, || s
            .handle
            .status()
            .session_id
            .as_ref()
            .is_some_and(|id| *id != first))
        .await,
        "moved to the new session"
    );
    let after = s.api.fire_sample("channel.cheer").await;
    let a = next_channel(&mut s.rx, 5)
        .await
        .expect("the notification sent during the move");
    let b = next_channel(&mut s.rx, 5)
        .await
        .expect("the notification after the move");
    assert_eq!(
        (a.id.as_str(), b.id.as_str()),
        (during.as_str(), after.as_str())
    );
    let posts_after = s
        .api
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts_before, posts_after, "no subscription re-created");
    let subs = s.api.subscriptions();
    assert_eq!(subs.len(), DEFAULT_SUBSCRIPTIONS.len(), "no duplicates");
    assert!(
        eventually(5, || s.api.eventsub_sessions().len() == 1).await,
        "the old socket was closed"
    );
}

#[tokio::test]
async fn a_revocation_is_surfaced() {
    let mut s = setup().await;
    subscribed(&s).await;
    s.api
        .revoke("channel.follow", "authorization_revoked")
        .await;
    let reason = eventsub_down(&mut s.rx, 5).await;
    let reason = reason.expect("a health event");
    assert!(
        reason.contains("channel.follow") && reason.contains("authorization_revoked"),
        "{reason}"
    );
    assert!(reason.contains("twitch-bot auth"), "{reason}");
    assert_eq!(
        s.handle.status().revoked,
        vec![(
            "channel.follow".to_string(),
            "authorization_revoked".to_string()
        )]
    );
}

#[tokio::test]
async fn a_refused_subscription_is_reported_once_naming_the_scope_and_not_retried() {
    let s = setup_with(10, |api| {
        api.refuse_subscription("channel.cheer", "subscription missing proper authorization");
    })
    .await;
    assert!(
        eventually(10, || s.handle.status().created
            == DEFAULT_SUBSCRIPTIONS.len() as u64 - 1)
        .await
    );
    let status = s.handle.status();
    assert_eq!(status.refused.len(), 1);
    assert_eq!(status.refused[0].0, "channel.cheer");
    assert!(
        status.refused[0].1.contains("bits:read"),
        "{}",
        status.refused[0].1
    );
    // A new session (socket dropped) must not ask for it again.
    let first = status.session_id.expect("session");
    s.api.drop_eventsub_sockets().await;
    assert!(
        eventually(10, || s.handle.status().created
            == 2 * (DEFAULT_SUBSCRIPTIONS.len() as u64 - 1))
        .await
    );
    assert_ne!(s.handle.status().session_id, Some(first));
    let cheer_posts = s
        .api
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.body["type"] == "channel.cheer")
        .count();
    assert_eq!(cheer_posts, 1);
    assert_eq!(s.handle.status().refused.len(), 1, "reported once");
}

#[tokio::test]
async fn a_welcome_that_never_comes_is_given_up_after_ten_seconds() {
    // The default margin: a client that only had its keepalive watchdog would wait 10 + 5 s.
    let config = EventSubConfig {
        max_backoff_secs: 1,
        ..EventSubConfig::default()
    };
    let s = setup_config(10, config, |api| api.stall_welcomes(1)).await;
    assert!(
        eventually(15, || s.api.eventsub_connections().len() >= 2).await,
        "a second connection after the stalled one"
    );
    let conns = s.api.eventsub_connections();
    let gap = conns[1].0 - conns[0].0;
    assert!(
        gap >= Duration::from_millis(9_900) && gap <= Duration::from_secs(12),
        "the stalled handshake was given up after 10 s (plus under 1 s of back-off): {gap:?}"
    );
    subscribed(&s).await;
}

#[tokio::test]
async fn a_session_reconnect_to_another_host_is_refused_for_the_configured_url() {
    let mut s = setup().await;
    subscribed(&s).await;
    let old = s.handle.status().session_id.expect("connected");
    let configured = s.api.eventsub_url();
    let port = configured
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .expect("port");
    // The same fake under another host name: a client following it would carry its session.
    s.api
        .send_reconnect_to(&format!("ws://localhost:{port}/ws?reconnect={old}"))
        .await;
    assert!(
        eventually(10, || s
            .handle
            .status()
            .session_id
            .is_some_and(|id| id != old))
        .await,
        "a new session on the configured URL"
    );
    let new = s.handle.status().session_id.expect("connected");
    let n = DEFAULT_SUBSCRIPTIONS.len();
    assert!(
        eventually(10, || {
            let subs = s.api.subscriptions();
            subs.iter().filter(|x| x.session_id == new).count() == n
        })
        .await,
        "every subscription created again on the new session"
    );
    let hosts: Vec<String> = s
        .api
        .eventsub_connections()
        .into_iter()
        .map(|(_, host)| host)
        .collect();
    assert!(
        hosts.iter().all(|h| h.starts_with("127.0.0.1:")),
        "never connected to the other host: {hosts:?}"
    );
    s.api.fire_sample("channel.follow").await;
    let ev = next_channel(&mut s.rx, 5).await.expect("follow arrives");
    assert_eq!(ev.kind, ChannelEventKind::Follow);
}

#[test]
fn reconnect_urls_must_stay_on_the_configured_domain_and_keep_tls() {
    let twitch = "wss://eventsub.wss.twitch.tv/ws";
    assert!(eventsub::reconnect_allowed(
        twitch,
        "wss://eventsub.wss.twitch.tv/ws?challenge=abc"
    ));
    assert!(eventsub::reconnect_allowed(
        twitch,
        "wss://eventsub-backup.twitch.tv/ws"
    ));
    assert!(eventsub::reconnect_allowed(twitch, "wss://twitch.tv/ws"));
    assert!(!eventsub::reconnect_allowed(
        twitch,
        "ws://eventsub.wss.twitch.tv/ws"
    ));
    assert!(!eventsub::reconnect_allowed(
        twitch,
        "wss://eviltwitch.tv/ws"
    ));
    assert!(!eventsub::reconnect_allowed(
        twitch,
        "wss://twitch.tv.example.com/ws"
    ));
    assert!(!eventsub::reconnect_allowed(twitch, "https://twitch.tv/ws"));
    assert!(!eventsub::reconnect_allowed(twitch, "not a url"));
    let local = "ws://127.0.0.1:8080/ws";
    assert!(eventsub::reconnect_allowed(
        local,
        "ws://127.0.0.1:9090/ws?reconnect=x"
    ));
    assert!(eventsub::reconnect_allowed(
        local,
        "wss://127.0.0.1:8080/ws"
    ));
    assert!(!eventsub::reconnect_allowed(
        local,
        "ws://localhost:8080/ws"
    ));
    assert!(!eventsub::reconnect_allowed(
        local,
        "ws://127.0.0.2:8080/ws"
    ));
}

#[tokio::test]
async fn a_lost_grant_stops_the_subscription_round_with_one_clear_report() {
    let mut s = setup().await;
    subscribed(&s).await;
    s.api.revoke_all();
    let posts = |api: &FakeTwitchApi| {
        api.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/eventsub/subscriptions")
            .count()
    };
    let before = posts(&s.api);
    s.api.drop_eventsub_sockets().await;
    let reason = eventsub_down(&mut s.rx, 5).await;
    let reason = reason.expect("the lost grant is reported");
    assert!(reason.contains("twitch-bot auth"), "{reason}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        posts(&s.api) - before,
        1,
        "one refused creation, not one per type nor a retry loop"
    );
}

#[tokio::test]
async fn subscriptions_helix_failed_to_create_are_created_once_it_answers() {
    // The first subscription's call and its four retries get 500, the next call's first try too.
    let s = setup_with(10, |api| api.fail_next_with(6, 500)).await;
    let n = DEFAULT_SUBSCRIPTIONS.len();
    assert!(
        eventually(15, || s.api.subscriptions().len() == n).await,
        "all {n} subscriptions exist, got {}",
        s.api.subscriptions().len()
    );
}

fn notice(kind: UserNoticeKind, text: Option<&str>) -> UserNotice {
    UserNotice {
        id: "irc-1".into(),
        channel: "mychannel".into(),
        room_id: BROADCASTER_ID.into(),
        sender: Chatter {
            id: "3000".into(),
            login: "viewer_one".into(),
            display_name: "Viewer_One".into(),
            ..Chatter::default()
        },
        kind,
        system_msg: String::new(),
        text: text.map(str::to_string),
        source_room_id: None,
        sent_ms: 0,
    }
}

#[test]
fn usernotices_map_to_the_same_channel_events_when_eventsub_is_off() {
    use eventsub::channel_event_from_usernotice as map;
    let sub = map(&notice(
        UserNoticeKind::Sub {
            tier: SubTier::Tier2,
            months: 1,
        },
        None,
    ))
    .expect("sub");
    assert_eq!(
        sub.kind,
        ChannelEventKind::Subscribe {
            tier: SubTier::Tier2,
            is_gift: false
        }
    );
    assert_eq!(sub.source, EventSource::Irc);
    assert_eq!(sub.id, "irc-1");

    let resub = map(&notice(
        UserNoticeKind::Resub {
            tier: SubTier::Tier1,
            months: 7,
            streak: 2,
        },
        Some("hi"),
    ))
    .expect("resub");
    assert_eq!(
        resub.kind,
        ChannelEventKind::Resub {
            tier: SubTier::Tier1,
            months: 7,
            streak: 2,
            message: "hi".into()
        }
    );

    let mystery = map(&notice(
        UserNoticeKind::SubMysteryGift {
            tier: SubTier::Tier1,
            count: 5,
        },
        None,
    ))
    .expect("gift");
    assert_eq!(
        mystery.kind,
        ChannelEventKind::Gift {
            tier: SubTier::Tier1,
            count: 5,
            anonymous: false
        }
    );
    assert_eq!(
        mystery.user.as_ref().map(|u| u.login.as_str()),
        Some("viewer_one")
    );

    let gift = map(&notice(
        UserNoticeKind::SubGift {
            tier: SubTier::Tier1,
            recipient_id: "4000".into(),
            recipient_login: "lucky".into(),
            recipient_display_name: "Lucky".into(),
            months: 1,
        },
        None,
    ))
    .expect("subgift");
    assert_eq!(
        gift.kind,
        ChannelEventKind::Subscribe {
            tier: SubTier::Tier1,
            is_gift: true
        }
    );
    assert_eq!(gift.user.as_ref().map(|u| u.login.as_str()), Some("lucky"));

    let raid = map(&notice(
        UserNoticeKind::Raid {
            viewers: 42,
            from_display_name: "Viewer_One".into(),
        },
        None,
    ))
    .expect("raid");
    assert_eq!(raid.kind, ChannelEventKind::Raid { viewers: 42 });

    assert!(
        map(&notice(
            UserNoticeKind::Announcement {
                color: "PRIMARY".into()
            },
            Some("x")
        ))
        .is_none()
    );
}

#[test]
fn a_cheer_in_chat_maps_to_a_cheer_event() {
    let msg = ChatMessage::test("", "cheer100 nice")
        .id("m1")
        .in_channel("mychannel", BROADCASTER_ID)
        .sender(Chatter::default())
        .bits(100);
    let ev = eventsub::channel_event_from_chat(&msg).expect("cheer");
    assert_eq!(
        ev.kind,
        ChannelEventKind::Cheer {
            bits: 100,
            message: "cheer100 nice".into(),
            anonymous: false
        }
    );
    let plain = msg.bits(0);
    assert!(eventsub::channel_event_from_chat(&plain).is_none());
}
