//! The web console in a real browser (headless Chromium through chromedriver), against a fake
//! bot: sign in with the one-time link (or by pasting the console token), press Reload scripts, read a script's compile error,
//! chat as a viewer and see the bot's answer, fire a follow. Saves a screenshot for a person to
//! look at in `target-screenshots/console.png`.
//!
//! Skipped, with a printed reason, when chromium or chromedriver is not installed (CI installs
//! both: `apt-get install chromium chromium-driver`).

mod common;
mod console_support;
mod peers;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use twitch_bot::subsystems::Subsystem;

use console_support::FakeBackend;
use fantoccini::{Client, ClientBuilder, Locator};
use tokio_util::sync::CancellationToken;
use twitch_bot::console;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver ignores SIGTERM, so it is killed (SIGKILL) by PID when the test ends, even on a
/// failed assertion.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tool(env: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
    path.exists().then_some(path)
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    l.local_addr().expect("addr").port()
}

/// Starts chromedriver on a free port. `None` when it exited instead of listening: the port was
/// taken between choosing it and the driver binding it (tests run in parallel).
async fn start_driver(driver: &Path) -> Option<(Driver, u16)> {
    let port = free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let mut guard = Driver(child);
    for _ in 0..100 {
        if let Ok(Some(_)) = guard.0.try_wait() {
            return None;
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some((guard, port));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on {port} within 10 s");
}

/// Waits until `css`'s text satisfies `ok`, returning the text (or failing with what was there).
async fn wait_text(c: &Client, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(el) = c.find(Locator::Css(css)).await
            && let Ok(text) = el.text().await
        {
            if ok(&text) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: `{css}` still shows {last:?}");
}

/// A headless Chromium session on a fresh profile; `None` (with a printed reason) when the
/// browser is not installed.
async fn browser() -> Option<(Driver, Client, tempfile::TempDir)> {
    let (Some(chromium), Some(driver)) = (
        tool("CHROMIUM", CHROMIUM),
        tool("CHROMEDRIVER", CHROMEDRIVER),
    ) else {
        peers::skipped(&format!(
            "console_browser: needs {CHROMIUM} and {CHROMEDRIVER} \
             (apt-get install -y --no-install-recommends chromium chromium-driver)"
        ));
        return None;
    };
    // A port taken by a parallel test between choosing and binding it makes the driver exit or
    // the session fail: try again on another port.
    let mut last_error = String::new();
    for _ in 0..3 {
        let Some((guard, port)) = start_driver(&driver).await else {
            last_error = "chromedriver exited at start".into();
            continue;
        };
        let profile = tempfile::tempdir().expect("profile dir");
        match ClientBuilder::rustls()
            .expect("tls")
            .capabilities(capabilities(&chromium, profile.path()))
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return Some((guard, client, profile)),
            Err(e) => last_error = e.to_string(),
        }
    }
    panic!("no chromium session after 3 tries: {last_error}");
}

/// Headless Chromium on a fresh profile in `profile`.
fn capabilities(chromium: &Path, profile: &Path) -> serde_json::Map<String, serde_json::Value> {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1366,768",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    caps
}

async fn start_console(offline: bool) -> (Arc<FakeBackend>, console::Console, CancellationToken) {
    let backend = FakeBackend::new(offline);
    let shutdown = CancellationToken::new();
    let listener = console::bind("127.0.0.1:0").await.expect("bind");
    let server = console::serve(
        listener,
        "browser-token".into(),
        backend.clone(),
        shutdown.clone(),
    )
    .await
    .expect("serve");
    (backend, server, shutdown)
}

#[tokio::test]
async fn a_streamer_drives_the_bot_from_the_console() {
    let Some((_driver, c, _profile)) = browser().await else {
        return;
    };
    let (backend, server, shutdown) = start_console(true).await;
    let result = drive(&c, &server.login_url(), &backend).await;
    // Screenshot whatever the page shows, pass or fail, for a person to look at: the dashboard,
    // then the lower half (scripts, leaderboard, stats).
    screenshot(&c, "console.png").await;
    let _ = c
        .execute("window.scrollTo(0, document.body.scrollHeight)", vec![])
        .await;
    screenshot(&c, "console-lower.png").await;
    let _ = c.close().await;
    shutdown.cancel();
    server.stopped().await;
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[tokio::test]
async fn outside_offline_mode_the_simulator_says_how_to_get_it() {
    let Some((_driver, c, _profile)) = browser().await else {
        return;
    };
    let (backend, server, shutdown) = start_console(false).await;
    c.goto(&server.login_url())
        .await
        .expect("open the login link");
    wait_text(&c, "#who", "the page shows the channel", |t| {
        t.contains("#streamer")
    })
    .await;
    let note = wait_text(&c, "#sim-off", "the simulator note", |t| {
        t.contains("--offline")
    })
    .await;
    assert!(note.contains("Start the bot with --offline"), "{note}");
    let sim = c.find(Locator::Id("sim-card")).await.expect("sim card");
    assert!(
        !sim.is_displayed().await.unwrap_or(true),
        "no simulator outside --offline"
    );
    let badge = c.find(Locator::Id("mode")).await.expect("mode badge");
    assert!(
        !badge.is_displayed().await.unwrap_or(true),
        "no offline badge on a live run"
    );
    screenshot(&c, "console-live.png").await;
    let _ = c.close().await;
    shutdown.cancel();
    server.stopped().await;
    assert!(backend.calls().is_empty());
}

/// Types `token` into the sign-in page's field (emptied first) and presses Sign in.
async fn paste_token(c: &Client, token: &str) {
    let field = c.find(Locator::Id("token")).await.expect("token field");
    field.clear().await.expect("clear");
    field.send_keys(token).await.expect("type");
    c.find(Locator::Id("sign-in"))
        .await
        .expect("Sign in button")
        .click()
        .await
        .expect("press Sign in");
}

#[tokio::test]
async fn a_streamer_signs_in_by_pasting_the_console_token() {
    let Some((_driver, c, _profile)) = browser().await else {
        return;
    };
    let (backend, server, shutdown) = start_console(true).await;
    let base = format!("http://{}", server.addr);
    // The console page, without a session, is the sign-in page.
    c.goto(&base).await.expect("open the console");
    wait_text(&c, "main", "the sign-in page", |t| {
        t.contains("Paste the console token")
    })
    .await;
    // A wrong token is refused, and the page says so.
    paste_token(&c, "not-the-token").await;
    wait_text(&c, "#login-error", "the refusal", |t| {
        t.contains("not the console token")
    })
    .await;
    screenshot(&c, "console-sign-in.png").await;
    assert!(backend.calls().is_empty());
    // The right one signs in and lands on the console.
    paste_token(&c, "browser-token").await;
    wait_text(&c, "#who", "the console after signing in", |t| {
        t.contains("#streamer")
    })
    .await;
    let url = c.current_url().await.expect("url");
    assert_eq!(url.path(), "/");
    assert!(
        !url.as_str().contains("browser-token"),
        "the token stays out of the address bar: {url}"
    );
    // The session drives the bot: the page's own POST passes the Origin and JSON checks.
    c.find(Locator::Id("reload-scripts"))
        .await
        .expect("Reload scripts button")
        .click()
        .await
        .expect("press Reload scripts");
    wait_text(&c, "#reload-count", "the reload went through", |t| t == "1").await;
    assert_eq!(backend.calls(), vec!["reload_scripts"]);
    screenshot(&c, "console-signed-in-by-token.png").await;

    // Sign out everywhere: confirmed, the token is replaced and this browser is back at sign-in.
    c.find(Locator::Id("logout-all"))
        .await
        .expect("Sign out everywhere button")
        .click()
        .await
        .expect("press Sign out everywhere");
    c.accept_alert().await.expect("confirm");
    wait_text(&c, "main", "the sign-in page after signing out", |t| {
        t.contains("Paste the console token")
    })
    .await;
    let saved = backend
        .saved_tokens
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert_eq!(saved.len(), 1, "one new token saved");
    c.goto(&base).await.expect("open the console again");
    wait_text(&c, "main", "still signed out", |t| {
        t.contains("Paste the console token")
    })
    .await;
    let _ = c.close().await;
    shutdown.cancel();
    server.stopped().await;
}

async fn screenshot(c: &Client, name: &str) {
    let Ok(png) = c.screenshot().await else {
        return;
    };
    let dir =
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
            .join("target-screenshots");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(name);
    if std::fs::write(&path, png).is_ok() {
        println!("screenshot: {}", path.display());
    }
}

async fn drive(c: &Client, login_url: &str, backend: &FakeBackend) -> Result<(), String> {
    let err = |what: &str| {
        let what = what.to_owned();
        move |e: fantoccini::error::CmdError| format!("{what}: {e}")
    };
    c.goto(login_url)
        .await
        .map_err(err("open the login link"))?;
    let url = c.current_url().await.map_err(err("url"))?;
    assert_eq!(url.path(), "/", "the login link leads to the console page");
    assert_eq!(
        url.query(),
        None,
        "the one-time code does not stay in the address bar"
    );
    wait_text(c, "#who", "the page shows the channel", |t| {
        t.contains("#streamer")
    })
    .await;
    wait_text(c, "#health", "connection health is shown", |t| {
        t.contains("OBS") && t.contains("connection refused (127.0.0.1:4455)")
    })
    .await;

    // Reload scripts: the press itself reloads (the fake has no file watcher).
    wait_text(c, "#reload-count", "no reload yet", |t| t == "0").await;
    assert_eq!(backend.script_reloads.load(Ordering::SeqCst), 0);
    c.find(Locator::Id("reload-scripts"))
        .await
        .map_err(err("Reload scripts button"))?
        .click()
        .await
        .map_err(err("press Reload scripts"))?;
    wait_text(
        c,
        "#reload-count",
        "the page shows the new reload count",
        |t| t == "1",
    )
    .await;
    assert_eq!(backend.script_reloads.load(Ordering::SeqCst), 1);
    assert_eq!(backend.calls(), vec!["reload_scripts"]);
    wait_text(c, "#reload-time", "the page shows when", |t| {
        t.contains("last")
    })
    .await;

    // A script's compile error, with its location.
    let loc = wait_text(c, "#scripts .loc", "the broken script's location", |t| {
        !t.is_empty()
    })
    .await;
    assert_eq!(loc, "commands/broken.rhai:3:7");
    wait_text(c, "#scripts tr.failed", "the error message", |t| {
        t.contains("expecting ';'")
    })
    .await;

    // Chat as a viewer with a role; the bot's answer shows in the live log.
    let login = c
        .find(Locator::Id("sim-login"))
        .await
        .map_err(err("viewer field"))?;
    login.clear().await.map_err(err("clear viewer"))?;
    login
        .send_keys("viewer42")
        .await
        .map_err(err("type viewer"))?;
    c.find(Locator::Css("#sim-roles input[value=subscriber]"))
        .await
        .map_err(err("subscriber box"))?
        .click()
        .await
        .map_err(err("tick subscriber"))?;
    c.find(Locator::Id("sim-text"))
        .await
        .map_err(err("chat field"))?
        .send_keys("!ping")
        .await
        .map_err(err("type chat"))?;
    c.find(Locator::Id("sim-send"))
        .await
        .map_err(err("Chat button"))?
        .click()
        .await
        .map_err(err("press Chat"))?;
    wait_text(c, "#log", "the viewer's line and the bot's answer", |t| {
        t.contains("viewer42: !ping") && t.contains("bot → pong")
    })
    .await;
    assert!(
        backend
            .calls()
            .contains(&"sim_chat viewer42 [\"subscriber\"] !ping".to_owned())
    );

    // Fire a follow from the viewer just typed.
    c.find(Locator::Css("#event-buttons button[data-kind=follow]"))
        .await
        .map_err(err("Follow button"))?
        .click()
        .await
        .map_err(err("press Follow"))?;
    c.find(Locator::Id("event-fire"))
        .await
        .map_err(err("Fire button"))?
        .click()
        .await
        .map_err(err("press Fire"))?;
    wait_text(c, "#log", "the follow in the log", |t| {
        t.contains("follow: viewer42 followed")
    })
    .await;
    assert!(backend.calls().contains(&"sim_event follow".to_owned()));

    // The stats panel lists the past stream with its totals and chart.
    wait_text(c, "#stats", "the past stream's totals", |t| {
        t.contains("Chill Sunday speedruns") && t.contains("1 h 05 min") && t.contains("42")
    })
    .await;
    let mut drawn = false;
    for _ in 0..50 {
        let w = c
            .execute(
                "const i = document.querySelector('#stats img.chart'); return i && i.complete ? i.naturalWidth : 0;",
                vec![],
            )
            .await
            .map_err(err("chart size"))?;
        if w.as_u64().unwrap_or(0) > 0 {
            drawn = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(drawn, "the stream's chart loads in the panel");

    // Scroll back to the top so the screenshot shows the whole dashboard.
    c.execute("window.scrollTo(0, 0)", vec![])
        .await
        .map_err(err("scroll"))?;
    Ok(())
}

// ---- the script editor, against the whole offline bot ----------------------------------------

/// The editor's text as the page holds it.
async fn editor_source(c: &Client) -> String {
    c.execute(
        "return document.getElementById('script-source').value;",
        vec![],
    )
    .await
    .ok()
    .and_then(|v| v.as_str().map(str::to_owned))
    .unwrap_or_default()
}

/// Empties the editor and types `text` into it, as a person would.
async fn type_source(c: &Client, text: &str) -> Result<(), String> {
    let ta = c
        .find(Locator::Id("script-source"))
        .await
        .map_err(|e| format!("the editor: {e}"))?;
    ta.clear()
        .await
        .map_err(|e| format!("clear the editor: {e}"))?;
    ta.send_keys(text)
        .await
        .map_err(|e| format!("type into the editor: {e}"))?;
    Ok(())
}

/// Clicks `css` after scrolling it to the middle of the window (the header stays on top).
async fn click(c: &Client, css: &str) -> Result<(), String> {
    c.execute(
        "const e = document.querySelector(arguments[0]); if (e) e.scrollIntoView({block: 'center'});",
        vec![serde_json::json!(css)],
    )
    .await
    .map_err(|e| format!("scroll to {css}: {e}"))?;
    c.find(Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e}"))?
        .click()
        .await
        .map_err(|e| format!("click {css}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamer_edits_a_script_in_the_browser_and_sees_it_live_or_its_error() {
    let Some((_driver, c, _profile)) = browser().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = common::copy_scripts(dir.path(), &[]);
    let mut settings = common::offline_settings(dir.path(), scripts.clone());
    settings.enabled.set(Subsystem::Console, true);
    let mut config = twitch_bot::config::Config::default();
    config.bot.console.bind = "127.0.0.1:0".into();
    config.secrets.console_token = "editor-browser-token".into();
    let bot = common::start_ready(settings, config).await;
    let login = bot.console_login_url().expect("the console runs");
    let result = edit_scripts(&c, &login, &scripts).await;
    screenshot(&c, "console-editor.png").await;
    let _ = c.close().await;
    bot.shutdown().await;
    if let Err(e) = result {
        panic!("{e}");
    }
}

async fn edit_scripts(c: &Client, login: &str, scripts: &Path) -> Result<(), String> {
    c.goto(login)
        .await
        .map_err(|e| format!("open the login link: {e}"))?;
    wait_text(c, "#script-files", "the script files are listed", |t| {
        t.contains("commands/ping.rhai") && t.contains("events/follow.rhai")
    })
    .await;
    c.execute(
        "document.getElementById('editor-card').scrollIntoView()",
        vec![],
    )
    .await
    .map_err(|e| format!("scroll: {e}"))?;

    // Open ping.rhai: its source, highlighted.
    click(c, "#script-files button[data-path='commands/ping.rhai']").await?;
    wait_text(c, "#script-name", "the open file", |t| {
        t == "commands/ping.rhai"
    })
    .await;
    let on_disk = std::fs::read_to_string(scripts.join("commands/ping.rhai")).expect("ping");
    assert_eq!(editor_source(c).await, on_disk);
    wait_text(
        c,
        "#script-hl .tok-keyword",
        "keywords are highlighted",
        |t| t == "const" || t == "fn",
    )
    .await;
    wait_text(
        c,
        "#script-hl .tok-string",
        "strings are highlighted",
        |t| t.starts_with('"'),
    )
    .await;
    wait_text(
        c,
        "#script-hl .tok-comment",
        "comments are highlighted",
        |t| t.starts_with("//"),
    )
    .await;

    // Edit and save: live at once, as the simulator's chat shows.
    let edited = "fn run(ctx) {\n    ctx.reply(\"pong, edited in the browser\");\n}\n";
    type_source(c, edited).await?;
    click(c, "#script-save").await?;
    wait_text(c, "#script-status", "the save is live", |t| {
        t.starts_with("saved, live")
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(scripts.join("commands/ping.rhai")).expect("ping"),
        edited
    );
    let text = c
        .find(Locator::Id("sim-text"))
        .await
        .map_err(|e| format!("chat field: {e}"))?;
    text.send_keys("!ping")
        .await
        .map_err(|e| format!("type chat: {e}"))?;
    click(c, "#sim-send").await?;
    wait_text(c, "#log", "the edited answer", |t| {
        t.contains("pong, edited in the browser")
    })
    .await;

    // A broken edit: the error's line:col, the line marked, the draft kept, the disk untouched.
    let broken = "fn run(ctx) {\n    ctx.reply(\"x\" + );\n}\n";
    type_source(c, broken).await?;
    click(c, "#script-save").await?;
    let status = wait_text(c, "#script-status", "the compile error", |t| {
        t.contains("compile error")
    })
    .await;
    assert!(status.contains("line 2:21"), "{status}");
    wait_text(
        c,
        "#script-hl .error-line",
        "the broken line is marked",
        |t| t.contains("ctx.reply(\"x\" + );"),
    )
    .await;
    assert_eq!(editor_source(c).await, broken, "the draft stays");
    assert_eq!(
        std::fs::read_to_string(scripts.join("commands/ping.rhai")).expect("ping"),
        edited,
        "a broken script is not written"
    );
    screenshot(c, "console-editor-error.png").await;

    // The streamer's own editor saves meanwhile: both versions show, the draft stays.
    let theirs = "fn run(ctx) {\n    ctx.reply(\"pong from my own editor\");\n}\n";
    std::fs::write(scripts.join("commands/ping.rhai"), theirs).expect("their save");
    click(c, "#script-save").await?;
    wait_text(c, "#conflict-disk", "the version on disk", |t| {
        t.contains("pong from my own editor")
    })
    .await;
    wait_text(c, "#conflict-draft", "the draft beside it", |t| {
        t.contains("ctx.reply(\"x\" + );")
    })
    .await;
    assert_eq!(editor_source(c).await, broken, "the draft stays");
    click(c, "#conflict-disk-take").await?;
    assert_eq!(editor_source(c).await, theirs);

    // A new command from a template, opened in the editor.
    click(c, "#new-toggle").await?;
    click(c, "#template-select option[value='commands/ping']").await?;
    c.find(Locator::Id("new-name"))
        .await
        .map_err(|e| format!("name field: {e}"))?
        .send_keys("hello")
        .await
        .map_err(|e| format!("type the name: {e}"))?;
    click(c, "#new-create").await?;
    wait_text(c, "#new-result", "the new script", |t| {
        t.contains("created commands/hello.rhai")
    })
    .await;
    wait_text(c, "#script-name", "the new script is open", |t| {
        t == "commands/hello.rhai"
    })
    .await;
    assert!(scripts.join("commands/hello.rhai").is_file());

    // Markup in a script shows as text: the highlighter builds no element from it.
    type_source(
        c,
        "// <img src=x onerror=\"window.pwned = 1\">\nfn run(ctx) { ctx.reply(\"<b>hi</b>\"); }\n",
    )
    .await?;
    wait_text(c, "#script-hl .tok-comment", "the markup as text", |t| {
        t.contains("<img src=x")
    })
    .await;
    wait_text(c, "#script-hl .tok-string", "the markup as text", |t| {
        t == "\"<b>hi</b>\""
    })
    .await;
    let injected = c
        .execute(
            "return document.querySelectorAll('#script-hl img, #script-hl b').length + (window.pwned ? 100 : 0);",
            vec![],
        )
        .await
        .map_err(|e| format!("look for injected elements: {e}"))?;
    assert_eq!(
        injected,
        serde_json::json!(0),
        "no element came from the script"
    );
    Ok(())
}

// Text commands in the console, against the whole bot in `--offline` mode (real console, real
// redb file, real scripts): add one in the page, see it listed, and hear it answer in chat.

/// The offline bot with its console on 127.0.0.1 and the example scripts; its files in `dir`.
async fn start_offline_bot(dir: &Path) -> twitch_bot::app::Bot {
    let mut settings = twitch_bot::app::Settings {
        offline: true,
        data_dir: dir.join("data"),
        config_dir: dir.join("configs"),
        scripts_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts"),
        ..twitch_bot::app::Settings::default()
    };
    std::fs::create_dir_all(&settings.config_dir).expect("configs dir");
    settings.enabled.set(Subsystem::Timers, false);
    settings.enabled = settings.enabled.without_integrations();
    settings.enabled.set(Subsystem::Console, true);
    let mut config = twitch_bot::config::Config::default();
    config.bot.console.bind = "127.0.0.1:0".into();
    config.bot.chat.transport = twitch_bot::config::bot::ChatTransport::Irc;
    twitch_bot::app::Bot::start(settings, config)
        .await
        .expect("the offline bot starts")
}

async fn type_into(c: &Client, id: &str, text: &str) -> Result<(), String> {
    let field = c
        .find(Locator::Id(id))
        .await
        .map_err(|e| format!("#{id}: {e}"))?;
    field
        .clear()
        .await
        .map_err(|e| format!("clear #{id}: {e}"))?;
    field
        .send_keys(text)
        .await
        .map_err(|e| format!("type into #{id}: {e}"))
}

async fn add_text_command(c: &Client, login_url: &str) -> Result<(), String> {
    c.goto(login_url)
        .await
        .map_err(|e| format!("open the login link: {e}"))?;
    wait_text(c, "#tc-table", "the text commands load", |t| {
        t.contains("none yet")
    })
    .await;
    // A mistake first: the page shows the bot's reason and saves nothing.
    type_into(c, "tc-name", "discord").await?;
    type_into(c, "tc-text", "Join us, {usr}").await?;
    let save = c
        .find(Locator::Id("tc-save"))
        .await
        .map_err(|e| format!("Save button: {e}"))?;
    save.click().await.map_err(|e| format!("press Save: {e}"))?;
    wait_text(c, "#tc-result", "an unknown variable is refused", |t| {
        t.contains("unknown variable {usr}")
    })
    .await;
    type_into(c, "tc-text", "Join us, {user}: discord.gg/example").await?;
    save.click().await.map_err(|e| format!("press Save: {e}"))?;
    wait_text(c, "#tc-result", "the command is saved", |t| {
        t == "!discord saved"
    })
    .await;
    wait_text(c, "#tc-table", "the new command is listed", |t| {
        t.contains("!discord") && t.contains("Join us, {user}: discord.gg/example")
    })
    .await;
    Ok(())
}

#[tokio::test]
async fn a_streamer_adds_a_text_command_in_the_console_and_chat_gets_it() {
    let Some((_driver, c, _profile)) = browser().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start_offline_bot(dir.path()).await;
    let login = bot.console_login_url().expect("the console runs");
    let result = add_text_command(&c, &login).await;
    screenshot(&c, "console-text-commands.png").await;
    let _ = c.close().await;
    result.expect("the console adds a text command");

    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let viewer = twitch_bot::sim::Viewer::new("vic");
    let mut answer = None;
    // Chat may still be joining: say it until the bot answers.
    for _ in 0..50 {
        sim.chat_as(&viewer, "!discord").await;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
        while let Ok(Ok(line)) = tokio::time::timeout_at(deadline, lines.recv()).await {
            if let Some(m) = line.privmsg().filter(|m| m.text.starts_with("Join us")) {
                answer = Some(m.text);
                break;
            }
        }
        if answer.is_some() {
            break;
        }
    }
    assert_eq!(
        answer,
        Some(format!(
            "Join us, {}: discord.gg/example",
            viewer.display_name
        ))
    );
    bot.shutdown().await;
}
