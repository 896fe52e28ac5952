//! The console's script editor against the whole offline bot over HTTP on 127.0.0.1: a saved
//! script answers at once, a broken one is refused with its line and column and never reaches
//! the disk (the old version keeps answering, also after a restart), a file changed on disk
//! meanwhile answers 409 with both versions, paths outside `scripts/` are refused, one save is
//! one reload, new scripts come from the bundled examples, and forged requests change nothing.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;
use twitch_bot::subsystems::Subsystem;

use common::{copy_scripts, offline_settings, start_ready};
use reqwest::StatusCode;
use reqwest::header;
use serde_json::{Value, json};
use twitch_bot::app::Bot;
use twitch_bot::config::Config;
use twitch_bot::sim::Viewer;

const TOKEN: &str = "editor-test-token";

/// Longer than the file watcher's longest wait for quiet (300 ms), so any reload it would do
/// has happened.
const WATCHER_SETTLES: Duration = Duration::from_millis(1200);

struct Editor {
    bot: Bot,
    _dir: tempfile::TempDir,
    scripts: PathBuf,
    base: String,
    http: reqwest::Client,
}

async fn start_in(dir: &Path, scripts: PathBuf) -> (Bot, String) {
    let mut settings = offline_settings(dir, scripts);
    settings.enabled.set(Subsystem::Console, true);
    let mut config = Config::default();
    config.bot.console.bind = "127.0.0.1:0".into();
    config.secrets.console_token = TOKEN.into();
    let bot = start_ready(settings, config).await;
    let base = format!("http://{}", bot.console_addr().expect("the console runs"));
    (bot, base)
}

async fn start() -> Editor {
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = copy_scripts(dir.path(), &[]);
    let (bot, base) = start_in(dir.path(), scripts.clone()).await;
    Editor {
        bot,
        _dir: dir,
        scripts,
        base,
        http: reqwest::Client::new(),
    }
}

async fn json_of(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

impl Editor {
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        json_of(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("get"),
        )
        .await
    }

    async fn open(&self, rel: &str) -> Value {
        let (status, body) = self.get(&format!("/api/scripts/file?path={rel}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn put(&self, body: Value) -> (StatusCode, Value) {
        json_of(
            self.http
                .put(format!("{}/api/scripts/file", self.base))
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .expect("put"),
        )
        .await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        json_of(
            self.http
                .post(format!("{}{path}", self.base))
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .expect("post"),
        )
        .await
    }

    async fn file_reloads(&self) -> u64 {
        let (status, body) = self.get("/api/scripts").await;
        assert_eq!(status, StatusCode::OK);
        body["file_reloads"].as_u64().expect("file_reloads")
    }

    fn on_disk(&self, rel: &str) -> String {
        std::fs::read_to_string(self.scripts.join(rel)).expect("read the script")
    }
}

/// What the bot answers when a viewer types `text` (the first line the bot sends that `pred`
/// accepts, within 5 s).
async fn answer(bot: &Bot, text: &str, pred: impl Fn(&str) -> bool) -> Option<String> {
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    sim.chat_as(&Viewer::new("carol"), text).await;
    common::wait_line(&mut lines, 5, |l| {
        l.privmsg().is_some_and(|m| pred(&m.text))
    })
    .await
    .and_then(|l| l.privmsg())
    .map(|m| m.text)
}

const PING_NEW: &str = "// !ping\nconst DESCRIPTION = \"Answers.\";\n\nfn run(ctx) {\n    ctx.reply(\"pong from the editor\");\n}\n";
/// Line 5 is broken: a `+` with nothing after it.
const PING_BROKEN: &str = "// !ping\nconst DESCRIPTION = \"Answers.\";\n\nfn run(ctx) {\n    ctx.reply(\"pong\" + );\n}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_script_is_live_at_once_and_a_broken_one_never_reaches_the_disk() {
    let e = start().await;
    let (status, list) = e.get("/api/scripts").await;
    assert_eq!(status, StatusCode::OK);
    let files = list["files"].as_array().expect("files");
    let ping = files
        .iter()
        .find(|f| f["path"] == "commands/ping.rhai")
        .expect("ping.rhai is listed");
    assert_eq!(ping["kind"], "commands");
    assert_eq!(ping["status"], "loaded");
    assert!(ping["modified_ms"].as_u64() > Some(0), "{ping}");
    for kind in ["commands", "timers", "responses", "rewards", "events"] {
        assert!(
            files.iter().any(|f| f["kind"] == kind),
            "a {kind} file is listed"
        );
    }

    let opened = e.open("commands/ping.rhai").await;
    assert!(opened["source"].as_str().unwrap_or("").contains("pong"));
    assert_eq!(opened["modified"], ping["modified"]);
    tokio::time::sleep(WATCHER_SETTLES).await;
    let reloads = e.file_reloads().await;

    // A good save: live when the answer comes, and the watcher does not load it again.
    let (status, saved) = e
        .put(json!({"path": "commands/ping.rhai", "source": PING_NEW, "modified": opened["modified"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["live"], true);
    assert_ne!(saved["modified"], opened["modified"], "a new stamp");
    assert_eq!(e.on_disk("commands/ping.rhai"), PING_NEW);
    assert_eq!(
        answer(&e.bot, "!ping", |t| t.starts_with("pong"))
            .await
            .as_deref(),
        Some("pong from the editor")
    );
    tokio::time::sleep(WATCHER_SETTLES).await;
    assert_eq!(e.file_reloads().await, reloads + 1, "one save, one reload");
    let leftovers: Vec<_> = std::fs::read_dir(e.scripts.join("commands"))
        .expect("commands")
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary files left: {leftovers:?}"
    );

    // A broken save: 422 at its line and column, nothing written, the old version answers.
    let (status, refused) = e
        .put(json!({"path": "commands/ping.rhai", "source": PING_BROKEN, "modified": saved["modified"]}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["line"], 5, "{refused}");
    assert_eq!(refused["column"], 24, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("commands/ping.rhai:5:24"),
        "{refused}"
    );
    assert_eq!(e.on_disk("commands/ping.rhai"), PING_NEW, "not written");
    assert_eq!(
        answer(&e.bot, "!ping", |t| t.starts_with("pong"))
            .await
            .as_deref(),
        Some("pong from the editor")
    );
    tokio::time::sleep(WATCHER_SETTLES).await;
    assert_eq!(
        e.file_reloads().await,
        reloads + 1,
        "a refused save loads nothing"
    );
    let (_, list) = e.get("/api/scripts").await;
    let ping = list["files"]
        .as_array()
        .and_then(|f| {
            f.iter()
                .find(|f| f["path"] == "commands/ping.rhai")
                .cloned()
        })
        .expect("ping.rhai");
    assert_eq!(ping["status"], "loaded", "{ping}");

    // After a restart the saved version answers: the broken one was never on disk. (A fresh
    // data folder: only the scripts folder matters here.)
    let Editor {
        bot, _dir, scripts, ..
    } = e;
    bot.shutdown().await;
    let again = tempfile::tempdir().expect("temp dir");
    let (bot, _) = start_in(again.path(), scripts).await;
    assert_eq!(
        answer(&bot, "!ping", |t| t.starts_with("pong"))
            .await
            .as_deref(),
        Some("pong from the editor")
    );
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_on_disk_meanwhile_answers_409_with_both_versions() {
    let e = start().await;
    let opened = e.open("commands/ping.rhai").await;
    // The streamer's own editor saves meanwhile.
    let theirs = opened["source"]
        .as_str()
        .expect("source")
        .replace("pong", "pong from my editor");
    std::fs::write(e.scripts.join("commands/ping.rhai"), &theirs).expect("their save");
    let (status, conflict) = e
        .put(json!({"path": "commands/ping.rhai", "source": PING_NEW, "modified": opened["modified"]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["current"]["source"], theirs.as_str());
    assert!(
        conflict["error"]
            .as_str()
            .unwrap_or("")
            .contains("changed on disk")
    );
    assert_eq!(e.on_disk("commands/ping.rhai"), theirs, "theirs is kept");
    // Saving again over the version just seen replaces it.
    let (status, saved) = e
        .put(json!({"path": "commands/ping.rhai", "source": PING_NEW, "modified": conflict["current"]["modified"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(e.on_disk("commands/ping.rhai"), PING_NEW);
    // A deleted file is a conflict too, with nothing current.
    std::fs::remove_file(e.scripts.join("commands/lurk.rhai")).expect("delete");
    let (status, gone) = e
        .put(json!({"path": "commands/lurk.rhai", "source": PING_NEW, "modified": "1-0"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{gone}");
    assert_eq!(gone["current"], Value::Null);
    assert!(!e.scripts.join("commands/lurk.rhai").exists());
    e.bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_outside_the_scripts_folder_are_refused() {
    let e = start().await;
    let root = e.scripts.parent().expect("temp dir").to_path_buf();
    std::fs::write(
        root.join("configs/secrets.yaml"),
        "console_token: keep-me\n",
    )
    .expect("secrets");
    let outside = root.join("outside.rhai");
    std::fs::write(&outside, "fn run(ctx) { ctx.reply(\"outside\"); }\n").expect("outside");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, e.scripts.join("commands/evil.rhai")).expect("symlink");
    let stamp = e.open("commands/ping.rhai").await["modified"].clone();
    let absolute = root.join("configs/secrets.yaml").display().to_string();
    #[allow(unused_mut)]
    let mut refused = vec![
        ("../configs/secrets.yaml", StatusCode::BAD_REQUEST),
        (
            "commands/../../configs/secrets.yaml",
            StatusCode::BAD_REQUEST,
        ),
        (absolute.as_str(), StatusCode::BAD_REQUEST),
        ("/etc/passwd", StatusCode::BAD_REQUEST),
        ("commands/ping.txt", StatusCode::BAD_REQUEST),
        ("commands/sub/ping.rhai", StatusCode::BAD_REQUEST),
    ];
    #[cfg(unix)]
    refused.push(("commands/evil.rhai", StatusCode::FORBIDDEN));
    for (path, expected) in refused {
        let encoded: String = url_encode(path);
        let (status, body) = e.get(&format!("/api/scripts/file?path={encoded}")).await;
        assert_eq!(status, expected, "GET {path}: {body}");
        assert!(body["error"].is_string(), "{body}");
        let (status, body) = e
            .put(json!({"path": path, "source": PING_NEW, "modified": stamp}))
            .await;
        assert_eq!(status, expected, "PUT {path}: {body}");
    }
    assert_eq!(
        std::fs::read_to_string(root.join("configs/secrets.yaml")).expect("secrets"),
        "console_token: keep-me\n"
    );
    assert_eq!(
        std::fs::read_to_string(&outside).expect("outside"),
        "fn run(ctx) { ctx.reply(\"outside\"); }\n"
    );
    // Too large: refused before anything else.
    let huge = format!("fn run(ctx) {{}}\n//{}\n", "x".repeat(300 * 1024));
    let (status, body) = e
        .put(json!({"path": "commands/ping.rhai", "source": huge, "modified": stamp}))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(e.on_disk("commands/ping.rhai").contains("pong"));
    e.bot.shutdown().await;
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_script_from_a_template_answers_at_once_and_never_overwrites() {
    let e = start().await;
    let (status, t) = e.get("/api/scripts/templates").await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = t["templates"]
        .as_array()
        .expect("templates")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"commands/ping") && ids.contains(&"events/follow"),
        "{ids:?}"
    );

    let (status, created) = e
        .post(
            "/api/scripts/new",
            json!({"kind": "commands", "name": "hello", "template": "commands/ping"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["path"], "commands/hello.rhai");
    assert_eq!(
        e.on_disk("commands/hello.rhai"),
        e.open("commands/ping.rhai").await["source"]
            .as_str()
            .unwrap_or("")
    );
    assert_eq!(
        answer(&e.bot, "!hello", |t| t == "pong").await.as_deref(),
        Some("pong")
    );
    for (name, why) in [
        ("hello", "already exists"),
        ("ping", "already exists"),
        ("roll", "commands/dice.rhai"),
        ("reload", "built into the bot"),
    ] {
        let before = std::fs::read_to_string(e.scripts.join(format!("commands/{name}.rhai"))).ok();
        let (status, body) = e
            .post(
                "/api/scripts/new",
                json!({"kind": "commands", "name": name, "template": "commands/lurk"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{name}: {body}");
        assert!(
            body["error"].as_str().unwrap_or("").contains(why),
            "{name}: {body}"
        );
        let after = std::fs::read_to_string(e.scripts.join(format!("commands/{name}.rhai"))).ok();
        assert_eq!(before, after, "{name} is untouched");
    }
    // An event script must be named after an event: the example does not load as `party`.
    let (status, body) = e
        .post(
            "/api/scripts/new",
            json!({"kind": "events", "name": "party", "template": "events/follow"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(!e.scripts.join("events/party.rhai").exists());
    // A template of another folder, or a bad name, is a 400.
    for body in [
        json!({"kind": "timers", "name": "x", "template": "commands/ping"}),
        json!({"kind": "commands", "name": "../x", "template": "commands/ping"}),
        json!({"kind": "commands", "name": "x", "template": "commands/nope"}),
    ] {
        let (status, answer) = e.post("/api/scripts/new", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    }
    e.bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_saves_change_nothing() {
    let e = start().await;
    let opened = e.open("commands/ping.rhai").await;
    let body =
        json!({"path": "commands/ping.rhai", "source": PING_NEW, "modified": opened["modified"]});
    let url = format!("{}/api/scripts/file", e.base);
    let attempts = [
        (
            "a foreign Origin",
            e.http
                .put(&url)
                .bearer_auth(TOKEN)
                .header(header::ORIGIN, "https://evil.example")
                .json(&body),
            StatusCode::FORBIDDEN,
        ),
        (
            "a cross-site fetch",
            e.http
                .put(&url)
                .bearer_auth(TOKEN)
                .header("sec-fetch-site", "cross-site")
                .json(&body),
            StatusCode::FORBIDDEN,
        ),
        (
            "a form's content type",
            e.http
                .put(&url)
                .bearer_auth(TOKEN)
                .header(header::CONTENT_TYPE, "text/plain")
                .body(body.to_string()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "no token",
            e.http.put(&url).json(&body),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "another Host",
            e.http
                .put(&url)
                .bearer_auth(TOKEN)
                .header(header::HOST, "evil.example")
                .json(&body),
            StatusCode::MISDIRECTED_REQUEST,
        ),
    ];
    for (what, req, expected) in attempts {
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status(), expected, "{what}");
    }
    let (status, _) = json_of(
        e.http
            .post(format!("{}/api/scripts/new", e.base))
            .bearer_auth(TOKEN)
            .header(header::ORIGIN, "https://evil.example")
            .json(&json!({"kind": "commands", "name": "evil", "template": "commands/ping"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        e.on_disk("commands/ping.rhai"),
        opened["source"].as_str().unwrap_or("")
    );
    assert!(!e.scripts.join("commands/evil.rhai").exists());
    e.bot.shutdown().await;
}
