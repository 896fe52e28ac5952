//! OBS against real OBS 30.2.3 (obs-websocket 5.5.2) from Debian trixie, run headless under
//! Xvfb in the trixie folder `.ci/peers/obs.sh` builds (see test-peers.md). Each test starts its
//! own OBS with a fresh HOME, a free port and a password, and stops it in a Drop guard. The tests
//! take turns (one OBS at a time: `xvfb-run -a` picks displays racily, and two OBS instances
//! would only compete for the two cores).

mod common;
#[path = "peers/obs.rs"]
mod obs_peer;
mod peers;

use std::time::Duration;
use twitch_bot::subsystems::Subsystem;

use common::{eventually, offline_settings};
use obs_peer::{ObsPeer, TURN, free_port, obs_root};
use obws::requests::inputs::InputId;
use obws::requests::scene_items::Id as SceneItemQuery;
use obws::requests::scenes::SceneId;
use twitch_bot::app::{Bot, Settings};
use twitch_bot::config::Config;
use twitch_bot::config::integrations::ObsConnect;
use twitch_bot::event::{ConnectionState, Service};
use twitch_bot::sim::{ClientLine, SimEvent, Viewer};

const PASSWORD: &str = "obs-test-password-7";
const CONSOLE_TOKEN: &str = "obs-test-console-token";

/// Presses one of the console's OBS buttons through its HTTP API.
async fn console_button(bot: &Bot, which: &str) {
    let addr = bot.console_addr().expect("the console runs");
    let status = reqwest::Client::new()
        .post(format!("http://{addr}/api/obs/{which}"))
        .bearer_auth(CONSOLE_TOKEN)
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("the console answers")
        .status();
    assert!(status.is_success(), "POST /api/obs/{which}: {status}");
}

/// The offline bot with OBS switched on, pointed at `port`, and the test's own scripts.
struct TestBot {
    bot: Bot,
    _dir: tempfile::TempDir,
}

async fn start_bot(port: u16, password: &str, max_backoff_secs: u64) -> TestBot {
    start_bot_with(port, password, max_backoff_secs, |_, _| {}).await
}

async fn start_bot_with(
    port: u16,
    password: &str,
    max_backoff_secs: u64,
    tweak: impl FnOnce(&mut Settings, &mut Config),
) -> TestBot {
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = dir.path().join("scripts");
    for (file, code) in [
        (
            "commands/scene.rhai",
            "fn run(ctx) { ctx.obs.set_scene(ctx.args[0]); }\n",
        ),
        (
            "commands/newscene.rhai",
            "fn run(ctx) { ctx.obs.request(\"CreateScene\", #{ sceneName: ctx.args[0] }); }\n",
        ),
        (
            "commands/mktext.rhai",
            "fn run(ctx) { ctx.obs.request(\"CreateInput\", #{ sceneName: ctx.args[0], \
             inputName: ctx.args[1], inputKind: \"text_ft2_source_v2\", \
             inputSettings: #{ text: \"start\" } }); }\n",
        ),
        (
            "commands/text.rhai",
            "fn run(ctx) { ctx.obs.set_text(ctx.args[0], ctx.args[1]); }\n",
        ),
        (
            "commands/hide.rhai",
            "fn run(ctx) { ctx.obs.hide_source(ctx.args[0], ctx.args[1]); }\n",
        ),
        (
            "events/obs_scene_changed.rhai",
            "fn run(ctx) { ctx.say(`OBS is on ${ctx.event.scene} now`); }\n",
        ),
    ] {
        let path = scripts.join(file);
        std::fs::create_dir_all(path.parent().expect("folder")).expect("mkdir");
        std::fs::write(path, code).expect("script");
    }
    let mut settings = offline_settings(dir.path(), scripts);
    settings.enabled.set(Subsystem::Obs, true);
    let mut config = Config::default();
    config.bot.console.bind = "127.0.0.1:0".into();
    config.secrets.console_token = CONSOLE_TOKEN.into();
    config.bot.obs.host = "127.0.0.1".into();
    config.bot.obs.port = port;
    config.bot.obs.max_backoff_secs = max_backoff_secs;
    config.secrets.obs_password = password.into();
    config.bot.chat.transport = twitch_bot::config::bot::ChatTransport::Irc;
    tweak(&mut settings, &mut config);
    let bot = Bot::start(settings, config)
        .await
        .expect("the offline bot starts");
    let chat_up = eventually(10, || {
        bot.health.get(Service::Chat) == Some(ConnectionState::Connected)
    })
    .await;
    assert!(chat_up, "simulated chat comes up");
    TestBot { bot, _dir: dir }
}

fn obs_state(bot: &Bot) -> Option<ConnectionState> {
    bot.health.get(Service::Obs)
}

async fn obs_connected(bot: &Bot, secs: u64) -> bool {
    eventually(secs, || obs_state(bot) == Some(ConnectionState::Connected)).await
}

async fn said(
    rx: &mut tokio::sync::broadcast::Receiver<ClientLine>,
    secs: u64,
    pred: impl Fn(&str) -> bool,
) -> Option<String> {
    common::wait_line(rx, secs, |l| l.privmsg().is_some_and(|m| pred(&m.text)))
        .await
        .and_then(|l| l.privmsg())
        .map(|m| m.text)
}

/// Polls OBS through the test's own client until `check` holds.
async fn obs_shows<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_switch_scenes_set_text_and_hide_sources_and_hear_the_scene_change() {
    let _turn = TURN.lock().await;
    let Some(root) = obs_root() else { return };
    let port = free_port();
    let obs = ObsPeer::start(&root, port, PASSWORD).await;
    let test = start_bot(port, PASSWORD, 1).await;
    assert!(
        obs_connected(&test.bot, 10).await,
        "the bot connects to OBS: {:?}",
        obs_state(&test.bot)
    );
    let client = obs.client().await;
    let sim = test.bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let viewer = Viewer::new("alice");

    // A request by name (CreateScene), over the bot's own obs-websocket connection.
    sim.chat_as(&viewer, "!newscene BRB").await;
    let created = obs_shows(5, || async {
        client
            .scenes()
            .list()
            .await
            .is_ok_and(|l| l.scenes.iter().any(|s| s.id.name == "BRB"))
    })
    .await;
    assert!(created, "OBS lists the scene the script created");

    sim.chat_as(&viewer, "!scene BRB").await;
    let switched = obs_shows(5, || async {
        client
            .scenes()
            .current_program_scene()
            .await
            .is_ok_and(|s| s.id.name == "BRB")
    })
    .await;
    assert!(switched, "OBS's program scene is the one the script chose");

    let heard = said(&mut lines, 5, |t| t.contains("OBS is on")).await;
    assert_eq!(
        heard.as_deref(),
        Some("OBS is on BRB now"),
        "events/obs_scene_changed.rhai ran on OBS's CurrentProgramSceneChanged"
    );

    // A text source: created by name, its text set, then hidden in its scene.
    sim.chat_as(&viewer, "!mktext BRB Goal").await;
    let text_is = |want: &'static str| {
        let client = &client;
        move || async move {
            client
                .inputs()
                .settings::<serde_json::Value>(InputId::Name("Goal"))
                .await
                .is_ok_and(|s| s.settings["text"] == want)
        }
    };
    assert!(
        obs_shows(5, text_is("start")).await,
        "the text source exists"
    );
    sim.chat_as(&viewer, "!text Goal 42/100").await;
    assert!(
        obs_shows(5, text_is("42/100")).await,
        "set_text changed the source's text"
    );
    let item = client
        .scene_items()
        .id(SceneItemQuery {
            scene: SceneId::Name("BRB"),
            source: "Goal",
            search_offset: None,
        })
        .await
        .expect("the source is in the scene");
    assert!(
        client
            .scene_items()
            .enabled(SceneId::Name("BRB"), item)
            .await
            .expect("visibility"),
        "a new source is visible"
    );
    sim.chat_as(&viewer, "!hide BRB Goal").await;
    let hidden = obs_shows(5, || async {
        client
            .scene_items()
            .enabled(SceneId::Name("BRB"), item)
            .await
            .is_ok_and(|visible| !visible)
    })
    .await;
    assert!(hidden, "hide_source hid it");
    test.bot.shutdown().await;
    drop(obs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_clear_error_in_health() {
    let _turn = TURN.lock().await;
    let Some(root) = obs_root() else { return };
    let port = free_port();
    let obs = ObsPeer::start(&root, port, PASSWORD).await;
    let test = start_bot(port, "not-the-password", 30).await;
    let down = eventually(10, || {
        matches!(obs_state(&test.bot), Some(ConnectionState::Down { .. }))
    })
    .await;
    let state = obs_state(&test.bot);
    assert!(
        down,
        "a wrong password is Down, not a retry loop: {state:?}"
    );
    let Some(ConnectionState::Down { reason }) = state else {
        unreachable!()
    };
    assert!(
        reason.contains("obs_password") && reason.contains("secrets.yaml"),
        "the reason names the file and the key: {reason}"
    );
    // The bot does not hammer OBS: after the refusal it waits obs.max_backoff_secs (30 here)
    // before trying again, so OBS's log shows no new client in the next seconds (the first
    // retry of a plain backoff would come after 1 s, the next after 2 s).
    let attempts = || {
        obs.log()
            .matches("New WebSocket client has connected")
            .count()
    };
    let before = attempts();
    assert!(before >= 1, "OBS saw the bot's attempt:\n{}", obs.log());
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(attempts(), before, "no new attempt within 3.5 s");
    assert!(
        matches!(obs_state(&test.bot), Some(ConnectionState::Down { .. })),
        "still Down"
    );
    test.bot.shutdown().await;
    drop(obs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn obs_started_after_the_bot_or_restarted_is_connected_by_itself() {
    let _turn = TURN.lock().await;
    let Some(root) = obs_root() else { return };
    let port = free_port();
    let test = start_bot(port, PASSWORD, 1).await;
    let waiting = eventually(5, || {
        matches!(
            obs_state(&test.bot),
            Some(ConnectionState::Reconnecting { ref reason, .. })
                if reason.contains(&format!("not reachable at 127.0.0.1:{port}"))
        )
    })
    .await;
    assert!(
        waiting,
        "OBS closed: reconnecting, not down: {:?}",
        obs_state(&test.bot)
    );

    // A call made while OBS is closed is dropped, not replayed when OBS opens.
    let sim = test.bot.sim().expect("offline");
    sim.chat_as(&Viewer::new("alice"), "!newscene Ghost").await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut obs = ObsPeer::start(&root, port, PASSWORD).await;
    assert!(
        obs_connected(&test.bot, 10).await,
        "OBS opened after the bot: connected by itself: {:?}",
        obs_state(&test.bot)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let scenes = obs.client().await.scenes().list().await.expect("scenes");
    assert!(
        !scenes.scenes.iter().any(|s| s.id.name == "Ghost"),
        "the call made while OBS was closed was not replayed: {:?}",
        scenes.scenes
    );

    obs.stop();
    let lost = eventually(5, || {
        matches!(
            obs_state(&test.bot),
            Some(ConnectionState::Reconnecting { .. })
        )
    })
    .await;
    assert!(lost, "OBS closed: reconnecting: {:?}", obs_state(&test.bot));
    let obs = ObsPeer::start(&root, port, PASSWORD).await;
    assert!(
        obs_connected(&test.bot, 10).await,
        "OBS restarted: connected again: {:?}",
        obs_state(&test.bot)
    );
    test.bot.shutdown().await;
    drop(obs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_connect_live_the_bot_connects_when_the_stream_goes_online_and_obeys_the_console() {
    let _turn = TURN.lock().await;
    let Some(root) = obs_root() else { return };
    let port = free_port();
    let obs = ObsPeer::start(&root, port, PASSWORD).await;
    let test = start_bot_with(port, PASSWORD, 1, |s, c| {
        c.bot.obs.connect = ObsConnect::Live;
        s.enabled.set(Subsystem::Console, true);
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        obs.log()
            .matches("New WebSocket client has connected")
            .count(),
        0,
        "obs.connect: live leaves OBS alone while offline"
    );
    assert_eq!(obs_state(&test.bot), None);
    let sim = test.bot.sim().expect("offline");
    sim.fire(&Viewer::new("testchan"), &SimEvent::StreamOnline)
        .await;
    assert!(
        obs_connected(&test.bot, 10).await,
        "the stream went online: connected: {:?}",
        obs_state(&test.bot)
    );

    // The console's buttons.
    console_button(&test.bot, "disconnect").await;
    let down = eventually(5, || {
        matches!(obs_state(&test.bot),
            Some(ConnectionState::Down { ref reason }) if reason.contains("disconnected from the console"))
    })
    .await;
    assert!(down, "Disconnect: {:?}", obs_state(&test.bot));
    let closed = eventually(5, || obs.log().contains("has disconnected")).await;
    assert!(closed, "OBS saw the bot leave");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        matches!(obs_state(&test.bot), Some(ConnectionState::Down { .. })),
        "it stays disconnected: {:?}",
        obs_state(&test.bot)
    );
    console_button(&test.bot, "connect").await;
    assert!(
        obs_connected(&test.bot, 5).await,
        "Connect: {:?}",
        obs_state(&test.bot)
    );
    test.bot.shutdown().await;
    drop(obs);
}
