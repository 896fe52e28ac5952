//! Stream statistics end to end: a simulated stream with a scripted sequence of chat and events
//! gives exactly the expected counts and a report in `data/stats/`; the chart is real SVG with one
//! point per sample and per minute; a stream that ended while the bot was down is settled on the
//! next start and listed by the console.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;
use twitch_bot::subsystems::Subsystem;

use common::binary::{BotCommand, Running};
use common::{eventually, example_scripts, offline_settings};
use serde_json::Value;
use tokio::sync::broadcast;
use twitch_bot::app::{Bot, Settings};
use twitch_bot::config::Config;
use twitch_bot::console::LiveEvent;
use twitch_bot::event::{ConnectionState, Service};
use twitch_bot::sim::viewer::escape_tag;
use twitch_bot::sim::{SimEvent, Viewer};
use twitch_bot::stats::{StreamStats, ViewerPoint, chart};

const CONSOLE_TOKEN: &str = "stats-test-token";

fn settings(dir: &Path, console: bool) -> Settings {
    let mut settings = offline_settings(dir, example_scripts());
    settings.enabled.set(Subsystem::Console, console);
    settings
}

async fn start(dir: &Path, console: bool) -> Bot {
    let mut config = Config::default();
    config.bot.console.bind = "127.0.0.1:0".into();
    config.bot.console.open_on_start = false;
    config.secrets.console_token = CONSOLE_TOKEN.into();
    let bot = Bot::start(settings(dir, console), config)
        .await
        .expect("the offline bot starts");
    let wanted = twitch_bot::config::api::DEFAULT_SUBSCRIPTIONS.len();
    let ready = eventually(10, || {
        bot.health.get(Service::Chat) == Some(ConnectionState::Connected)
            && bot.health.get(Service::EventSub) == Some(ConnectionState::Connected)
            && bot
                .sim()
                .is_some_and(|s| s.api.subscriptions().len() >= wanted)
    })
    .await;
    assert!(ready, "chat and EventSub come up");
    bot
}

/// Waits until the dispatcher has handled `n` more events of `topic`.
async fn handled(rx: &mut broadcast::Receiver<LiveEvent>, topic: &str, n: usize) {
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while seen < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(LiveEvent::Event { topic: t, .. })) if t == topic => seen += 1,
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(_)) | Err(_) => panic!("only {seen} of {n} `{topic}` events were handled"),
        }
    }
}

/// The report files in `<data>/stats/` with the given extension.
fn reports(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir.join("data").join("stats"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

async fn wait_for_report(dir: &Path, n: usize) -> Vec<PathBuf> {
    assert!(
        eventually(10, || reports(dir, "html").len() >= n).await,
        "{n} report(s) written in data/stats/"
    );
    reports(dir, "json")
}

#[tokio::test]
async fn a_simulated_stream_yields_exactly_the_expected_counts_and_a_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(dir.path(), false).await;
    let sim = bot.sim().expect("offline");
    let mut log = bot.subscribe();
    let channel = bot.channel().to_string();

    sim.fire(&Viewer::new(&channel), &SimEvent::StreamOnline)
        .await;
    handled(&mut log, "stream_online", 1).await;
    let recorder = bot.stats().expect("stats are on by default");
    assert!(
        eventually(5, || recorder
            .snapshot()
            .is_some_and(|t| !t.stats.viewer_samples.is_empty()))
        .await,
        "going live is sampled at once"
    );

    // Chat: 5 lines from 4 viewers, 2 of them commands; one line is a link the bot deletes.
    let (alice, bob, carol, troll) = (
        Viewer::new("alice"),
        Viewer::new("bob"),
        Viewer::new("carol"),
        Viewer::new("troll"),
    );
    sim.chat_as(&alice, "hello everyone").await;
    sim.chat_as(&bob, "!ping").await;
    sim.chat_as(&alice, "!dice").await;
    sim.chat_as(&carol, "what a play").await;
    sim.chat_as(&troll, "cheap followers at followbot.example.com")
        .await;
    handled(&mut log, "chat.message", 5).await;
    // Twitch echoes the bot's deletion (not a second action) and reports a moderator's ban.
    let room = twitch_bot::sim::chat::room_id(&channel);
    sim.chat
        .send_to_channel(
            &channel,
            format!("@login=troll;room-id={room};target-msg-id=x :tmi.twitch.tv CLEARMSG #{channel} :cheap"),
        )
        .await;
    sim.chat
        .send_to_channel(
            &channel,
            format!(
                "@room-id={room};target-user-id=666 :tmi.twitch.tv CLEARCHAT #{channel} :vandal"
            ),
        )
        .await;
    handled(&mut log, "chat.clear", 1).await;

    // The same sub arrives as an IRC USERNOTICE and over EventSub: EventSub alone counts.
    let dave = Viewer::new("dave");
    let usernotice = format!(
        "@badge-info=subscriber/1;badges=subscriber/0;color=;display-name=Dave;emotes=;flags=;id=u-9;login=dave;mod=0;\
         msg-id=sub;msg-param-cumulative-months=1;msg-param-sub-plan=1000;msg-param-sub-plan-name={};room-id={room};\
         subscriber=1;system-msg={};tmi-sent-ts=1;user-id={};user-type= :tmi.twitch.tv USERNOTICE #{channel}",
        escape_tag("Channel Subscription"),
        escape_tag("Dave subscribed at Tier 1."),
        dave.id
    );
    sim.chat.send_to_channel(&channel, usernotice).await;
    handled(&mut log, "chat.usernotice", 1).await;
    sim.fire(&dave, &SimEvent::Subscribe { tier: 1 }).await;
    sim.fire(&Viewer::new("frank"), &SimEvent::Subscribe { tier: 3 })
        .await;
    sim.fire(
        &Viewer::new("grace"),
        &SimEvent::Resub {
            tier: 1,
            months: 7,
            message: "still here".into(),
        },
    )
    .await;
    sim.fire(&Viewer::new("erin"), &SimEvent::Follow).await;
    sim.fire(&Viewer::new("heidi"), &SimEvent::Gift { tier: 1, count: 5 })
        .await;
    for bits in [100, 50] {
        sim.fire(
            &Viewer::new("ivan"),
            &SimEvent::Cheer {
                bits,
                message: "cheer".into(),
            },
        )
        .await;
    }
    sim.fire(&Viewer::new("judy"), &SimEvent::Raid { viewers: 40 })
        .await;
    for title in ["Hydrate", "Stretch"] {
        sim.fire(
            &alice,
            &SimEvent::Redemption {
                title: title.into(),
                cost: 100,
                input: String::new(),
            },
        )
        .await;
    }
    handled(&mut log, "redemption", 2).await;
    sim.fire(&Viewer::new(&channel), &SimEvent::StreamOffline)
        .await;

    let json = wait_for_report(dir.path(), 1).await;
    assert_eq!(json.len(), 1);
    let r: Value = serde_json::from_slice(&std::fs::read(&json[0]).expect("json")).expect("parses");
    let counts = [
        // The 5 lines above and the two cheers' own chat lines (ivan's); the bits count once.
        ("chat_messages", 7),
        ("unique_chatters", 5),
        ("commands", 2),
        ("follows", 1),
        ("resubs", 1),
        ("gifted_subs", 5),
        ("bits", 150),
        ("raids", 1),
        ("raid_viewers", 40),
        ("redemptions", 2),
        ("moderation_actions", 2),
    ];
    for (field, want) in counts {
        assert_eq!(r[field], want, "{field} in {r:#}");
    }
    assert_eq!(
        r["subs"],
        serde_json::json!({"prime": 0, "tier1": 2, "tier2": 0, "tier3": 1}),
        "dave and grace at tier 1 (dave once), frank at tier 3"
    );
    assert_eq!(r["chat_per_minute"], serde_json::json!([7]));
    assert_eq!(r["ended_while_down"], false);
    let peak = r["peak_viewers"].as_u64().unwrap_or(0);
    assert!(peak >= 3, "the simulated stream had viewers: {r:#}");

    // The HTML page references the chart written next to it.
    let stem = r["report"].as_str().expect("report name").to_string();
    let html = std::fs::read_to_string(json[0].with_extension("html")).expect("html");
    assert!(html.contains(&format!("href=\"{stem}.svg\"")), "{html}");
    assert!(json[0].with_extension("svg").exists());
    // And the record is in the database.
    let stored = twitch_bot::stats::stored_streams(bot.storage().expect("storage")).expect("read");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].chat_messages, 7);
    bot.shutdown().await;
}

fn polylines_of<'a>(doc: &'a roxmltree::Document, color: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .filter(|n| {
            n.attribute("stroke")
                .is_some_and(|s| s.eq_ignore_ascii_case(color))
        })
        .collect()
}

fn point_count(node: &roxmltree::Node) -> usize {
    node.attribute("points")
        .unwrap_or_default()
        .split_whitespace()
        .count()
}

fn hex(c: plotters::style::RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

#[test]
fn the_chart_is_svg_with_one_point_per_sample_and_per_minute() {
    let start = 1_764_115_200;
    let stats = StreamStats {
        stream_id: "314159".into(),
        started_at: start,
        ended_at: Some(start + 3 * 3600),
        title: "Three hours of speedruns".into(),
        viewer_samples: (0..37)
            .map(|i| ViewerPoint {
                at: start + i * 300,
                viewers: 40 + (i * 7) % 23,
            })
            .collect(),
        chat_per_minute: (0..180).map(|m| (m * 13) % 29).collect(),
        ..StreamStats::default()
    };
    let svg = chart::render_svg(&stats).expect("drawn");
    if let Some(out) = std::env::var_os("STATS_CHART_OUT") {
        std::fs::write(out, &svg).expect("write the sample chart");
    }
    let doc = roxmltree::Document::parse(&svg).expect("the chart is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("width"), Some("960"));

    // Each series is one polyline (plus its short legend line of two points).
    let viewers = polylines_of(&doc, &hex(chart::VIEWERS_COLOR));
    let mut sizes: Vec<usize> = viewers.iter().map(point_count).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![2, 37], "viewer line and its legend");
    let chat = polylines_of(&doc, &hex(chart::CHAT_COLOR));
    let mut sizes: Vec<usize> = chat.iter().map(point_count).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![2, 180], "chat line and its legend");
    let dots = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle"))
        .count();
    assert_eq!(dots, 37, "a dot per viewer sample");

    let text: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for wanted in [
        "2025-11-26 · Three hours of speedruns",
        "minutes since going live",
        "viewers",
        "chat lines per minute",
    ] {
        assert!(text.contains(&wanted), "`{wanted}` in {text:?}");
    }
}

#[tokio::test]
async fn a_stream_that_ended_while_the_bot_was_down_is_settled_on_the_next_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(dir.path(), false).await;
    let sim = bot.sim().expect("offline");
    let mut log = bot.subscribe();
    let channel = bot.channel().to_string();
    sim.fire(&Viewer::new(&channel), &SimEvent::StreamOnline)
        .await;
    handled(&mut log, "stream_online", 1).await;
    sim.chat_as(&Viewer::new("alice"), "first!").await;
    sim.chat_as(&Viewer::new("bob"), "hi").await;
    handled(&mut log, "chat.message", 2).await;
    // The bot stops mid-stream; the stream ends while it is down.
    bot.shutdown().await;
    assert!(
        reports(dir.path(), "json").is_empty(),
        "nothing settled yet"
    );

    // The next start. (This process cannot open the same file twice, as script threads of the
    // first bot may still hold it, so the next bot gets a copy of the data folder as the first
    // left it.) Get Streams says offline: the stream is settled with what was counted.
    let next = tempfile::tempdir().expect("temp dir");
    copy_data(dir.path(), next.path());
    let dir = next;
    let bot = start(dir.path(), true).await;
    let json = wait_for_report(dir.path(), 1).await;
    let r: Value = serde_json::from_slice(&std::fs::read(&json[0]).expect("json")).expect("parses");
    assert_eq!(r["chat_messages"], 2, "{r:#}");
    assert_eq!(r["unique_chatters"], 2);
    assert_eq!(r["ended_while_down"], true);

    // The console lists it, with a chart it serves.
    let base = format!("http://{}", bot.console_addr().expect("console runs"));
    let http = reqwest::Client::new();
    let stats: Value = http
        .get(format!("{base}/api/stats"))
        .bearer_auth(CONSOLE_TOKEN)
        .send()
        .await
        .expect("GET /api/stats")
        .json()
        .await
        .expect("json");
    let streams = stats["streams"].as_array().expect("a list of streams");
    assert_eq!(streams.len(), 1, "{stats:#}");
    assert_eq!(streams[0]["stream_id"], r["stream_id"]);
    assert_eq!(streams[0]["chat_messages"], 2);
    assert_eq!(stats["live"], Value::Null);
    let chart_url = streams[0]["chart"].as_str().expect("chart url");
    let resp = http
        .get(format!("{base}{chart_url}"))
        .bearer_auth(CONSOLE_TOKEN)
        .send()
        .await
        .expect("GET chart");
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    assert!(
        resp.headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().is_ok_and(|v| v.starts_with("image/svg+xml")))
    );
    let svg = resp.text().await.expect("body");
    assert!(roxmltree::Document::parse(&svg).is_ok());
    let missing = http
        .get(format!("{base}/api/stats/nope/chart.svg"))
        .bearer_auth(CONSOLE_TOKEN)
        .send()
        .await
        .expect("GET missing chart");
    assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);
    bot.shutdown().await;

    // A third start settles nothing twice.
    let third = tempfile::tempdir().expect("temp dir");
    copy_data(dir.path(), third.path());
    let bot = start(third.path(), false).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stored = twitch_bot::stats::stored_streams(bot.storage().expect("storage")).expect("read");
    assert_eq!(stored.len(), 1);
    bot.shutdown().await;
}

/// Copies the database of `from` into a new data folder under `to`.
fn copy_data(from: &Path, to: &Path) {
    let data = to.join("data");
    std::fs::create_dir_all(data.join("stats")).expect("mkdir");
    std::fs::copy(
        from.join("data").join(twitch_bot::storage::DB_FILE),
        data.join(twitch_bot::storage::DB_FILE),
    )
    .expect("copy the database");
    for f in reports(from, "json") {
        let name = f.file_name().expect("name");
        std::fs::copy(&f, data.join("stats").join(name)).expect("copy report");
    }
}

/// The real binary in `--offline` mode, killed on drop if the test fails first.
fn start_binary(dir: &Path) -> Running {
    BotCommand::in_dir(dir)
        .args(["--offline", "--noconsole"])
        .args(common::binary::NO_PEERS)
        .arg("--notimers")
        .example_scripts()
        .spawn()
}

/// Types `line` until the terminal prints a line ending in `answer` (at most 10 s).
fn type_until(bot: &mut Running, line: &str, answer: &str) {
    if !bot.type_until(line, |out| out.ends_with(answer)) {
        panic!("`{line}` never got `{answer}`");
    }
}

#[test]
fn counts_saved_every_second_survive_a_kill_9_mid_stream() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("configs")).expect("configs");
    std::fs::write(
        dir.path().join("configs").join("bot.yaml"),
        "chat:\n  transport: irc\nstream:\n  stats_save_secs: 1\n",
    )
    .expect("bot.yaml");

    let mut bot = start_binary(dir.path());
    type_until(&mut bot, "!ping", ": pong"); // joined and answering (not live: not counted)
    bot.type_line("/online").expect("typing works");
    std::thread::sleep(Duration::from_millis(500));
    bot.type_line("/as alice hello").expect("typing works");
    bot.type_line("/as bob hi").expect("typing works");
    // One line, one command, once live (from carol: `viewer`'s repeated pings above would
    // now trip the repetition filter).
    bot.skip_read();
    bot.type_line("/as carol !ping").expect("typing works");
    let answered = (0..50).any(|_| {
        bot.next_line(Duration::from_millis(100))
            .is_some_and(|l| l.ends_with(": pong"))
    });
    assert!(answered, "carol's !ping is answered");
    // Two save periods pass, then the process dies without a chance to save anything.
    std::thread::sleep(Duration::from_millis(2_500));
    bot.kill();
    drop(bot);
    assert!(reports(dir.path(), "json").is_empty());

    // The next start settles the stream (Get Streams: offline) with what was counted.
    let _bot = start_binary(dir.path());
    assert!(
        (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            !reports(dir.path(), "html").is_empty()
        }),
        "the stream is settled on the next start"
    );
    let json = reports(dir.path(), "json");
    let r: Value = serde_json::from_slice(&std::fs::read(&json[0]).expect("json")).expect("parses");
    assert_eq!(r["chat_messages"], 3, "{r:#}");
    assert_eq!(r["unique_chatters"], 3);
    assert_eq!(r["commands"], 1);
    assert_eq!(r["moderation_actions"], 0);
    assert_eq!(r["ended_while_down"], true);
}
