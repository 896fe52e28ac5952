//! EventSub's socket refuses an oversized message instead of buffering it: a peer on
//! 127.0.0.1 sends a 2 MiB message where the `session_welcome` belongs, and the client reports
//! the link broken (and reconnects) rather than holding it in memory.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use twitch_bot::config::Secrets;
use twitch_bot::event::{ConnectionState, Event, Service};
use twitch_bot::queue;
use twitch_bot::sim::helix::{BOT_ID, BROADCASTER_ID};
use twitch_bot::sim::{FakeApiOptions, FakeTwitchApi};
use twitch_bot::twitch::auth::{AuthClient, Tokens};
use twitch_bot::twitch::eventsub::{self, EventSubConfig, EventSubSettings, MemoryDedup};
use twitch_bot::twitch::helix::{ChannelIds, Helix, RetryPolicy};

#[tokio::test]
async fn a_two_mebibyte_message_breaks_the_eventsub_link() {
    // The peer: every connection gets one 2 MiB text message, then silence.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let ws_url = format!("ws://{}/ws", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                let padding = "x".repeat(2 * 1024 * 1024);
                let huge = format!(
                    r#"{{"metadata":{{"message_id":"1","message_type":"session_welcome","message_timestamp":"2026-01-01T00:00:00Z"}},"payload":{{"session":{{"id":"s","status":"connected","keepalive_timeout_seconds":10,"padding":"{padding}"}}}}}}"#
                );
                let _ = ws.send(Message::text(huge)).await;
                while ws.next().await.is_some() {}
            });
        }
    });

    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake starts");
    let (bot_access, bot_refresh) = api.issue_tokens(BOT_ID);
    let (b_access, b_refresh) = api.issue_tokens(BROADCASTER_ID);
    let mut secrets = Secrets {
        client_id: "fakeclient".into(),
        ..Secrets::default()
    };
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
    let settings = EventSubSettings {
        ws_url,
        subscriptions_url: format!("{}/eventsub/subscriptions", api.helix_url()),
        broadcaster_id: BROADCASTER_ID.into(),
        config: EventSubConfig {
            max_backoff_secs: 1,
            ..EventSubConfig::default()
        },
    };
    let (tx, mut rx) = queue::channel(256);
    let stop = CancellationToken::new();
    let (handle, _task) = eventsub::spawn(
        settings,
        helix,
        tx,
        Arc::new(MemoryDedup::new(100)),
        stop.clone(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    let mut reason = None;
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        if let Event::Connection(c) = ev
            && c.service == Service::EventSub
        {
            match c.state {
                ConnectionState::Reconnecting { reason: r, .. }
                | ConnectionState::Down { reason: r } => {
                    reason = Some(r);
                    break;
                }
                ConnectionState::Connected => panic!("the oversized welcome was accepted"),
            }
        }
    }
    stop.cancel();
    let reason = reason.expect("the link is reported broken");
    assert!(reason.contains("too long"), "{reason}");
    assert_eq!(handle.status().session_id, None);
}
