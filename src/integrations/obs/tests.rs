//! The connection task against a small obs-websocket v5 stand-in on 127.0.0.1, for what real
//! OBS cannot be made to do on demand: send an event obws cannot parse. (Everything else is
//! tested against real OBS in tests/obs.rs.)

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::event::{ConnectionState, Event, ObsEvent, Service};
use crate::health::Health;
use crate::integrations::StartContext;

/// Accepts one client, does the handshake and the version check obws makes, then sends
/// `events` as op 5 messages and keeps the connection open until the client leaves.
async fn fake_obs(listener: TcpListener, events: Vec<Value>) {
    let (tcp, _) = listener.accept().await.expect("the bot connects");
    let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("ws");
    let hello = json!({"op": 0, "d": {"obsWebSocketVersion": "5.5.2", "rpcVersion": 1}});
    ws.send(Message::text(hello.to_string()))
        .await
        .expect("hello");
    let mut events = Some(events);
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(text) = msg else { continue };
        let msg: Value = serde_json::from_str(text.as_str()).expect("json from obws");
        match msg["op"].as_u64() {
            Some(1) => {
                let identified = json!({"op": 2, "d": {"negotiatedRpcVersion": 1}});
                ws.send(Message::text(identified.to_string()))
                    .await
                    .expect("send");
            }
            Some(6) => {
                let d = &msg["d"];
                let data = match d["requestType"].as_str() {
                    Some("GetVersion") => json!({
                        "obsVersion": "30.2.3", "obsWebSocketVersion": "5.5.2", "rpcVersion": 1,
                        "availableRequests": [], "supportedImageFormats": [],
                        "platform": "debian", "platformDescription": "stand-in"
                    }),
                    _ => json!({}),
                };
                let answer = json!({"op": 7, "d": {
                    "requestType": d["requestType"], "requestId": d["requestId"],
                    "requestStatus": {"result": true, "code": 100}, "responseData": data
                }});
                ws.send(Message::text(answer.to_string()))
                    .await
                    .expect("send");
                for event in events.take().unwrap_or_default() {
                    let msg = json!({"op": 5, "d": event});
                    ws.send(Message::text(msg.to_string()))
                        .await
                        .expect("event");
                }
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn an_event_obws_cannot_parse_does_not_drop_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let broken = json!({"eventType": "CurrentProgramSceneChanged", "eventIntent": 4,
                        "eventData": {"sceneName": "Broken"}}); // no sceneUuid: obws fails
    let vendor = json!({"eventType": "VendorEvent", "eventIntent": 512, "eventData":
                        {"vendorName": "some-plugin", "eventType": "x", "eventData": {}}});
    // An event type newer than obws 0.15, with data: obws fails to parse it too.
    let future = json!({"eventType": "SomethingObs31Adds", "eventIntent": 1,
                        "eventData": {"x": 1}});
    let fine = json!({"eventType": "CurrentProgramSceneChanged", "eventIntent": 4,
                      "eventData": {"sceneName": "Fine",
                                    "sceneUuid": "5b8ab5c7-0f6c-4ab7-a27f-d4f3b1e07f2e"}});
    let server = tokio::spawn(fake_obs(listener, vec![broken, vendor, future, fine]));

    let mut config = Config::default();
    config.bot.obs.port = port;
    config.bot.obs.max_backoff_secs = 1;
    let (events, mut rx) = crate::queue::channel(64);
    let ctx = StartContext {
        config: Arc::new(config),
        data_dir: std::env::temp_dir(),
        events,
        health: Health::default(),
        shutdown: CancellationToken::new(),
        channel: "testchan".into(),
        helix: None,
    };
    let started = super::start(&ctx).expect("OBS starts");

    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        let last = matches!(&event, Event::Obs(ObsEvent::SceneChanged { .. }));
        seen.push(event);
        if last {
            break;
        }
    }
    let states: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::Connection(c) => Some(c.state.clone()),
            _ => None,
        })
        .collect();
    let scenes: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::Obs(ObsEvent::SceneChanged { scene }) => Some(scene.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(scenes, ["Fine"], "the event after the broken one arrives");
    assert_eq!(
        states,
        [ConnectionState::Connected],
        "one connection, never lost"
    );
    assert_eq!(
        ctx.health.get(Service::Obs),
        Some(ConnectionState::Connected)
    );

    ctx.shutdown.cancel();
    let task = started.task.expect("a task");
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("the task stops on shutdown")
        .expect("no panic");
    let _ = server.await;
}
