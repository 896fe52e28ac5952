//! A fake bot behind the console, shared by the HTTP and browser tests: it records every call,
//! answers `!ping` with `pong` like the real dispatcher, and has one script with a compile error.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;
use twitch_bot::clock::now_ms;
use twitch_bot::console::{
    BotInfo, BoxFuture, ConfigReport, ConsoleBackend, ConsoleError, ConsoleSettings,
    LeaderboardEntry, LiveEvent, ReloadReport, ScriptError, ScriptInfo, ScriptsReport,
    ServiceHealth, SimChat,
};
use twitch_bot::event::{ChannelEvent, ChatMessage, Chatter, ConnectionState, Event, Service};

pub struct FakeBackend {
    pub offline: bool,
    pub events: broadcast::Sender<LiveEvent>,
    pub script_reloads: AtomicU64,
    pub config_reloads: AtomicU64,
    pub last_reload_ms: AtomicU64,
    /// Every call that changed something, as `name arg`.
    pub calls: Mutex<Vec<String>>,
    /// How the console is served.
    pub settings: ConsoleSettings,
    /// Console tokens saved by "sign out everywhere".
    pub saved_tokens: Mutex<Vec<String>>,
}

impl FakeBackend {
    pub fn new(offline: bool) -> Arc<FakeBackend> {
        FakeBackend::with_settings(offline, ConsoleSettings::default())
    }

    pub fn with_settings(offline: bool, settings: ConsoleSettings) -> Arc<FakeBackend> {
        Arc::new(FakeBackend {
            settings,
            saved_tokens: Mutex::new(Vec::new()),
            offline,
            events: broadcast::channel(256).0,
            script_reloads: AtomicU64::new(0),
            config_reloads: AtomicU64::new(0),
            last_reload_ms: AtomicU64::new(0),
            calls: Mutex::new(Vec::new()),
        })
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn record(&self, call: String) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(call);
    }

    fn emit(&self, item: LiveEvent) {
        // No subscriber is fine: nobody is watching the log.
        let _ = self.events.send(item);
    }

    fn script_list(&self) -> Vec<ScriptInfo> {
        let mut ping = BTreeMap::new();
        ping.insert("permission".to_owned(), "everyone".into());
        ping.insert("cooldown_secs".to_owned(), 5.into());
        vec![
            ScriptInfo {
                name: "ping".into(),
                kind: "command".into(),
                settings: ping,
                error: None,
            },
            ScriptInfo {
                name: "broken".into(),
                kind: "command".into(),
                settings: BTreeMap::new(),
                error: Some(broken_error()),
            },
        ]
    }
}

pub fn broken_error() -> ScriptError {
    ScriptError {
        file: "commands/broken.rhai".into(),
        line: 3,
        col: 7,
        message: "Syntax error: expecting ';' to terminate this statement".into(),
    }
}

/// The one past stream the fake knows: 65 minutes, 42 chat messages from 7 chatters.
pub fn past_stream() -> twitch_bot::stats::StreamStats {
    use twitch_bot::stats::{StreamStats, ViewerPoint};
    let start = 1_764_115_200;
    StreamStats {
        stream_id: "40000000001".into(),
        started_at: start,
        ended_at: Some(start + 65 * 60),
        title: "Chill Sunday speedruns".into(),
        chat_messages: 42,
        unique_chatters: 7,
        commands: 5,
        follows: 3,
        viewer_samples: (0..14)
            .map(|i| ViewerPoint {
                at: start + i * 300,
                viewers: [12, 15, 19, 24, 31, 29, 35, 41, 38, 44, 40, 37, 33, 26][i as usize],
            })
            .collect(),
        chat_per_minute: (0..65).map(|m| [0, 1, 0, 2, 1, 0, 0, 3][m % 8]).collect(),
        ..StreamStats::default()
    }
}

fn done<'a, T: Send + 'a>(v: Result<T, ConsoleError>) -> BoxFuture<'a, Result<T, ConsoleError>> {
    Box::pin(async move { v })
}

impl ConsoleBackend for FakeBackend {
    fn info(&self) -> BotInfo {
        BotInfo {
            bot: "testbot".into(),
            channel: "streamer".into(),
            offline: self.offline,
        }
    }

    fn health(&self) -> Vec<ServiceHealth> {
        vec![
            ServiceHealth::from_state(Service::Chat, Some(&ConnectionState::Connected), None),
            ServiceHealth::from_state(Service::EventSub, None, None),
            ServiceHealth::from_state(
                Service::Obs,
                Some(&ConnectionState::Reconnecting {
                    reason: "connection refused (127.0.0.1:4455)".into(),
                    retry_in_ms: 5000,
                }),
                None,
            ),
            ServiceHealth::off(Service::Discord),
            ServiceHealth::from_state(Service::Zmq, Some(&ConnectionState::Connected), None),
        ]
    }

    fn subscribe_events(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    fn scripts(&self) -> BoxFuture<'_, Result<ScriptsReport, ConsoleError>> {
        let last = self.last_reload_ms.load(Ordering::SeqCst);
        done(Ok(ScriptsReport {
            reloads: self.script_reloads.load(Ordering::SeqCst),
            last_reload_ms: (last > 0).then_some(last),
            scripts: self.script_list(),
        }))
    }

    fn reload_scripts(&self) -> BoxFuture<'_, Result<ReloadReport, ConsoleError>> {
        let reloads = self.script_reloads.fetch_add(1, Ordering::SeqCst) + 1;
        let at_ms = now_ms();
        self.last_reload_ms.store(at_ms, Ordering::SeqCst);
        self.record("reload_scripts".into());
        done(Ok(ReloadReport {
            reloads,
            at_ms,
            loaded: 1,
            errors: vec![broken_error()],
        }))
    }

    fn reload_configs(&self) -> BoxFuture<'_, Result<ConfigReport, ConsoleError>> {
        let reloads = self.config_reloads.fetch_add(1, Ordering::SeqCst) + 1;
        self.record("reload_configs".into());
        done(Ok(ConfigReport {
            reloads,
            at_ms: now_ms(),
            errors: vec![],
        }))
    }

    fn say(&self, text: String) -> BoxFuture<'_, Result<(), ConsoleError>> {
        self.record(format!("say {text}"));
        self.emit(LiveEvent::Sent {
            via: "chat",
            target: "streamer".into(),
            text,
        });
        done(Ok(()))
    }

    fn discord(
        &self,
        _text: String,
        _target: Option<String>,
    ) -> BoxFuture<'_, Result<(), ConsoleError>> {
        done(Err(ConsoleError::Unavailable(
            "Discord is off: set a webhook in configs/bot.yaml".into(),
        )))
    }

    fn zmq(
        &self,
        topic: String,
        data: serde_json::Value,
    ) -> BoxFuture<'_, Result<(), ConsoleError>> {
        self.record(format!("zmq {topic} {data}"));
        done(Ok(()))
    }

    fn obs_connect(&self) -> BoxFuture<'_, Result<(), ConsoleError>> {
        self.record("obs_connect".into());
        done(Ok(()))
    }

    fn obs_disconnect(&self) -> BoxFuture<'_, Result<(), ConsoleError>> {
        self.record("obs_disconnect".into());
        done(Ok(()))
    }

    fn user(
        &self,
        login: String,
    ) -> BoxFuture<'_, Result<Option<serde_json::Value>, ConsoleError>> {
        let found = (login == "alice")
            .then(|| serde_json::json!({ "login": "alice", "points": 1200, "watch_minutes": 340 }));
        done(Ok(found))
    }

    fn leaderboard(&self, n: usize) -> BoxFuture<'_, Result<Vec<LeaderboardEntry>, ConsoleError>> {
        let all = [("alice", 1200), ("bob", 800), ("carol", 450)];
        done(Ok(all
            .iter()
            .take(n)
            .map(|(login, points)| LeaderboardEntry {
                login: (*login).into(),
                points: *points,
            })
            .collect()))
    }

    fn stats(&self) -> BoxFuture<'_, Result<serde_json::Value, ConsoleError>> {
        let stream = past_stream();
        let mut v = twitch_bot::stats::report::to_json(&stream);
        v["chart"] = format!("/api/stats/{}/chart.svg", stream.file_stem()).into();
        done(Ok(serde_json::json!({
            "enabled": true, "viewers_known": 7, "live": null, "streams": [v],
        })))
    }

    fn stats_chart(&self, stream: String) -> BoxFuture<'_, Result<String, ConsoleError>> {
        let past = past_stream();
        if stream != past.file_stem() && stream != past.stream_id {
            return done(Err(ConsoleError::NotFound(format!("no stream `{stream}`"))));
        }
        done(
            twitch_bot::stats::chart::render_svg(&past)
                .map_err(|e| ConsoleError::Internal(e.to_string())),
        )
    }

    fn sim_chat(&self, chat: SimChat) -> BoxFuture<'_, Result<(), ConsoleError>> {
        self.record(format!(
            "sim_chat {} {:?} {}",
            chat.login,
            chat.roles.names(),
            chat.text
        ));
        let msg = ChatMessage::test(&chat.login, &chat.text)
            .id("sim-1")
            .in_channel("streamer", "1")
            .sender(
                Chatter::test(&chat.login)
                    .user_id("")
                    .display_name(&chat.login)
                    .roles(chat.roles),
            )
            .sent_ms(now_ms());
        self.emit(LiveEvent::event(Arc::new(Event::Chat(Box::new(msg)))));
        if chat.text.trim() == "!ping" {
            self.emit(LiveEvent::Sent {
                via: "chat",
                target: "streamer".into(),
                text: "pong".into(),
            });
        }
        done(Ok(()))
    }

    fn sim_event(&self, event: ChannelEvent) -> BoxFuture<'_, Result<(), ConsoleError>> {
        self.record(format!("sim_event {}", event.kind.topic()));
        self.emit(LiveEvent::event(Arc::new(Event::Channel(Box::new(event)))));
        done(Ok(()))
    }

    fn console_settings(&self) -> ConsoleSettings {
        self.settings.clone()
    }

    fn save_console_token(&self, token: String) -> BoxFuture<'_, Result<(), ConsoleError>> {
        self.saved_tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(token);
        done(Ok(()))
    }
}
