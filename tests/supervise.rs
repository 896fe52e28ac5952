//! A task of the bot that panics is restarted and the bot keeps answering; one that keeps
//! panicking, or cannot be restarted inside the process, ends the process with EX_SOFTWARE so
//! the service manager starts a new one. Panics are injected through the `test-support` hooks.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use twitch_bot::subsystems::Subsystem;

use common::{copy_scripts, eventually, offline_settings, start_ready};
use twitch_bot::app::Bot;
use twitch_bot::config::Config;
use twitch_bot::console::LiveEvent;
use twitch_bot::sim::{SimEvent, Viewer};

async fn start(dir: &tempfile::TempDir) -> Bot {
    let scripts = copy_scripts(dir.path(), &[]);
    let mut settings = offline_settings(dir.path(), scripts);
    settings.enabled.set(Subsystem::Timers, true);
    let mut config = Config::default();
    config.bot.chat.rate_limit = twitch_bot::config::bot::RateLimit::Unlimited;
    start_ready(settings, config).await
}

/// Asks `!ping` (as a new viewer each time: moderation would take repeats for spam) until the
/// bot answers, for at most `secs`.
async fn answers_ping(bot: &Bot, secs: u64) -> bool {
    static ASKED: AtomicU32 = AtomicU32::new(0);
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        let n = ASKED.fetch_add(1, Ordering::Relaxed);
        sim.chat_as(&Viewer::new(&format!("asker{n}")), "!ping")
            .await;
        if common::wait_line(&mut lines, 1, |l| {
            l.privmsg().is_some_and(|m| m.text == "pong")
        })
        .await
        .is_some()
        {
            return true;
        }
    }
    false
}

/// Waits for a warning in the live log that names `task` and says it was restarted.
async fn restart_notice(log: &mut tokio::sync::broadcast::Receiver<LiveEvent>, task: &str) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, log.recv()).await {
            Ok(Ok(LiveEvent::Notice { level, text })) => {
                if level == "warn" && text.starts_with(task) && text.contains("restarted") {
                    return true;
                }
            }
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            _ => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_core_task_that_panics_is_restarted_and_the_bot_still_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(&dir).await;
    assert!(
        answers_ping(&bot, 5).await,
        "the bot answers before any panic"
    );
    let tasks = [
        "chat",
        "dispatcher",
        "actions",
        "storage writer",
        "moderation log",
        "loyalty",
        "timers",
        "live state",
        "config watcher",
        "cache sweeper",
        "follow-wave blocks",
    ];
    for task in tasks {
        let mut log = bot.subscribe();
        assert!(bot.inject_panic(task), "{task} runs under the supervisor");
        assert!(
            restart_notice(&mut log, task).await,
            "the live log says {task} was restarted"
        );
        assert!(
            answers_ping(&bot, 10).await,
            "the bot answers !ping again after {task} panicked"
        );
        let record = bot.supervisor().restarts()[task].clone();
        assert_eq!(record.restarts, 1, "{task}: {record:?}");
        assert!(
            record
                .last_failure
                .as_deref()
                .is_some_and(|f| f.contains("panicked")),
            "{task}: {record:?}"
        );
    }
    // Paid events still go through the restarted dispatcher and storage writer, paid once.
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let fan = Viewer::new("fan");
    sim.fire(&fan, &SimEvent::Follow).await;
    // Thanked once the follow's hold (follow_waves.hold_secs) is over.
    let thanks = common::wait_line(&mut lines, 10, |l| {
        l.privmsg().is_some_and(|m| m.text.contains("follow"))
    })
    .await;
    assert!(thanks.is_some(), "the follow is thanked");
    assert_eq!(
        bot.storage().expect("storage").get(&fan.id).expect("read"),
        50,
        "paid before it was thanked"
    );
    assert_eq!(
        bot.exit().requested(),
        None,
        "no task asked the process to end"
    );
    bot.shutdown().await;
}

/// An offline bot with its console on a free loopback port (console token `supervise-test-token`).
async fn start_with_console(dir: &std::path::Path) -> Bot {
    let scripts = copy_scripts(dir, &[]);
    let mut settings = offline_settings(dir, scripts);
    settings.enabled.set(Subsystem::Console, true);
    let mut config = Config::default();
    config.bot.console.bind = "127.0.0.1:0".into();
    config.secrets.console_token = "supervise-test-token".into();
    start_ready(settings, config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_chat_shows_in_the_console_health_and_the_bot_stays_connected() {
    use twitch_bot::event::{ConnectionState, Service};
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start_with_console(dir.path()).await;
    assert!(bot.inject_panic("chat"));
    assert!(
        eventually(10, || bot
            .supervisor()
            .restarts()
            .get("chat")
            .is_some_and(|r| r.restarts == 1))
        .await
    );
    assert!(
        eventually(10, || bot.health.get(Service::Chat)
            == Some(ConnectionState::Connected))
        .await
    );
    assert!(answers_ping(&bot, 10).await);
    let base = format!("http://{}", bot.console_addr().expect("the console runs"));
    let health: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/api/health"))
        .bearer_auth("supervise-test-token")
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    let chat = health["services"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["service"] == "chat").cloned())
        .unwrap_or_default();
    assert!(
        chat["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("restarted 1 time")),
        "{health}"
    );
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_that_keeps_panicking_ends_the_process_with_ex_software() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(&dir).await;
    let shutdown = bot.shutdown_token();
    for _ in 0..6 {
        let before = bot
            .supervisor()
            .restarts()
            .get("dispatcher")
            .map_or(0, |r| r.restarts);
        assert!(bot.inject_panic("dispatcher"));
        // The next run is up once the restart is counted (or the process is ending).
        eventually(10, || {
            shutdown.is_cancelled()
                || bot
                    .supervisor()
                    .restarts()
                    .get("dispatcher")
                    .is_some_and(|r| r.restarts > before)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        eventually(10, || shutdown.is_cancelled()).await,
        "a crash loop stops the bot"
    );
    let (code, reason) = bot.exit().requested().expect("an exit was asked for");
    assert_eq!(code, twitch_bot::exit::SOFTWARE);
    assert!(reason.contains("dispatcher"), "{reason}");
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_task_that_cannot_be_restarted_here_ends_the_process_with_ex_software() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(&dir).await;
    assert!(bot.inject_panic("twitch api"));
    assert!(eventually(5, || bot.shutdown_token().is_cancelled()).await);
    let (code, reason) = bot.exit().requested().expect("an exit was asked for");
    assert_eq!(code, twitch_bot::exit::SOFTWARE);
    assert!(reason.contains("twitch api"), "{reason}");
    bot.shutdown().await;
}

/// A GET of the console's sign-in page on a new connection (an old kept-alive one could outlive
/// the server that accepted it): the HTTP status, or `None` when nothing answers.
async fn login_page(addr: std::net::SocketAddr) -> Option<u16> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let resp = client
        .get(format!("http://{addr}/login"))
        .send()
        .await
        .ok()?;
    Some(resp.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_server_that_panics_is_restarted_on_the_same_address() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start_with_console(dir.path()).await;
    let addr = bot.console_addr().expect("the console runs");
    assert_eq!(login_page(addr).await, Some(200), "the console answers");

    let mut log = bot.subscribe();
    assert!(
        bot.inject_panic("console"),
        "the console runs under the supervisor"
    );
    assert!(
        restart_notice(&mut log, "console").await,
        "the live log says the console was restarted"
    );
    let mut answered = None;
    for _ in 0..50 {
        answered = login_page(addr).await;
        if answered.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answered, Some(200), "the console answers again on {addr}");
    let record = bot.supervisor().restarts()["console"].clone();
    assert_eq!(record.restarts, 1, "{record:?}");
    // The console's own row in its health table says it was restarted.
    let health: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{addr}/api/health"))
        .bearer_auth("supervise-test-token")
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    let console = health["services"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["service"] == "console").cloned())
        .unwrap_or_default();
    assert_eq!(console["state"], "connected", "{health}");
    assert!(
        console["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("restarted 1 time")),
        "{health}"
    );
    assert!(answers_ping(&bot, 5).await, "the bot still answers");
    assert_eq!(bot.exit().requested(), None, "the process goes on");
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eventsub_client_that_panics_is_restarted_and_events_arrive_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(&dir).await;
    let sim = bot.sim().expect("offline");
    // EventSub starts once the Twitch API side knows the channel's id.
    let mut log = bot.subscribe();
    assert!(
        eventually(10, || bot.inject_panic("eventsub")).await,
        "EventSub runs under the supervisor"
    );
    assert!(
        restart_notice(&mut log, "eventsub").await,
        "the live log says EventSub was restarted"
    );

    // A follow sent after the panic reaches the new client (once it has subscribed again),
    // is thanked in chat and paid.
    let mut lines = sim.chat.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
    let mut thanked = None;
    let mut n = 0;
    while thanked.is_none() && tokio::time::Instant::now() < deadline {
        n += 1;
        let fan = Viewer::new(&format!("newfan{n}"));
        let (_, reached) = sim.fire_counted(&fan, &SimEvent::Follow).await;
        if reached == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        // A follow is thanked once its hold (follow_waves.hold_secs) is over.
        if common::wait_line(&mut lines, 6, |l| {
            l.privmsg().is_some_and(|m| {
                m.text.contains("follow") && m.text.to_lowercase().contains(&fan.login)
            })
        })
        .await
        .is_some()
        {
            thanked = Some(fan);
        }
    }
    let fan = thanked.expect("a follow after the panic is thanked");
    assert_eq!(
        bot.storage().expect("storage").get(&fan.id).expect("read"),
        50,
        "and paid"
    );
    let record = bot.supervisor().restarts()["eventsub"].clone();
    assert_eq!(record.restarts, 1, "{record:?}");
    assert_eq!(bot.exit().requested(), None, "the process goes on");
    bot.shutdown().await;
}

/// How many times the simulated Helix was asked `method path`.
fn helix_calls(bot: &Bot, method: &str, path: &str) -> usize {
    let sim = bot.sim().expect("offline");
    sim.api
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}

/// Injects a panic into `task` (once the Twitch API side has started it) and waits for the live
/// log to say it was restarted.
async fn panic_api_task(bot: &Bot, task: &str) {
    let mut log = bot.subscribe();
    assert!(
        eventually(10, || bot.inject_panic(task)).await,
        "{task} runs under the supervisor"
    );
    assert!(
        restart_notice(&mut log, task).await,
        "the live log says {task} was restarted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_watcher_that_panics_is_restarted_and_a_stream_going_live_is_still_sampled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(&dir).await;
    let sim = bot.sim().expect("offline");
    let at_start = helix_calls(&bot, "GET", "/streams");
    panic_api_task(&bot, "stream watcher").await;
    // The new watcher reads the stream's state again.
    assert!(
        eventually(10, || helix_calls(&bot, "GET", "/streams") > at_start).await,
        "the restarted watcher asks Get Streams"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before_live = helix_calls(&bot, "GET", "/streams");
    sim.fire(&Viewer::new("someone"), &SimEvent::StreamOnline)
        .await;
    assert!(
        eventually(10, || helix_calls(&bot, "GET", "/streams") > before_live).await,
        "going live after the panic is noticed: the viewers are sampled at once"
    );
    assert_eq!(bot.supervisor().restarts()["stream watcher"].restarts, 1);
    assert!(answers_ping(&bot, 5).await, "the bot still answers");
    assert_eq!(bot.exit().requested(), None, "the process goes on");
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emote_loader_that_panics_is_restarted_and_loads_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(&dir).await;
    assert!(
        eventually(10, || helix_calls(&bot, "GET", "/chat/emotes") > 0).await,
        "the emotes load at start"
    );
    let before = helix_calls(&bot, "GET", "/chat/emotes");
    panic_api_task(&bot, "emotes").await;
    assert!(
        eventually(10, || helix_calls(&bot, "GET", "/chat/emotes") > before).await,
        "the restarted loader loads the channel's emotes again"
    );
    assert_eq!(bot.supervisor().restarts()["emotes"].restarts, 1);
    assert!(answers_ping(&bot, 5).await, "the bot still answers");
    assert_eq!(bot.exit().requested(), None, "the process goes on");
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_validator_that_panics_is_restarted_and_validates_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(&dir).await;
    let sim = bot.sim().expect("offline");
    // The validator validates both tokens at once, then every `validate_minutes`.
    assert!(
        eventually(10, || sim.api.validate_calls() >= 2).await,
        "the tokens are validated at start"
    );
    let before = sim.api.validate_calls();
    panic_api_task(&bot, "token validator").await;
    assert!(
        eventually(10, || sim.api.validate_calls() > before).await,
        "the next validation happens after the panic"
    );
    assert_eq!(bot.supervisor().restarts()["token validator"].restarts, 1);
    assert!(answers_ping(&bot, 5).await, "the bot still answers");
    assert_eq!(bot.exit().requested(), None, "the process goes on");
    bot.shutdown().await;
}
