//! The console against a hostile network, over real sockets: a forged `Host` (DNS rebinding),
//! a browser's action without its own `Origin`, actions that are not JSON, signing in with the
//! pasted console token and the throttle on wrong ones, cookie lifetimes and `Secure`,
//! "sign out everywhere", and `twitch-bot console-link` against the real running binary.

mod common;
mod console_support;
mod peers;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use twitch_bot::subsystems::Subsystem;

use common::binary::BotCommand;
use console_support::FakeBackend;
use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use twitch_bot::console::{self, Console, ConsoleSettings};

const TOKEN: &str = "guard-test-console-token-0123456789abcdef";

/// A credential for [`Running::health`].
enum Auth<'a> {
    Bearer(&'a str),
    Cookie(&'a str),
}

struct Running {
    console: Console,
    backend: Arc<FakeBackend>,
    base: String,
    _shutdown: CancellationToken,
    http: Client,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /api/health` with `auth` (`Bearer` token or `Cookie`); the status.
    async fn health(&self, auth: Auth<'_>) -> StatusCode {
        let req = self.http.get(self.url("/api/health"));
        let req = match auth {
            Auth::Bearer(token) => req.bearer_auth(token),
            Auth::Cookie(cookie) => req.header(header::COOKIE, cookie),
        };
        req.send().await.expect("get").status()
    }

    /// Signs in with the pasted token; the `Set-Cookie` value.
    async fn sign_in(&self) -> String {
        let resp = self
            .http
            .post(self.url("/api/login"))
            .header(header::ORIGIN, self.base.clone())
            .json(&json!({ "token": TOKEN }))
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status(), StatusCode::OK);
        resp.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap_or_default()
            .to_owned()
    }
}

async fn start_with(settings: ConsoleSettings) -> Running {
    let backend = FakeBackend::with_settings(true, settings);
    let shutdown = CancellationToken::new();
    let listener = console::bind("127.0.0.1:0").await.expect("bind");
    let console = console::serve(listener, TOKEN.into(), backend.clone(), shutdown.clone())
        .await
        .expect("serve");
    Running {
        base: format!("http://{}", console.addr),
        console,
        backend,
        _shutdown: shutdown,
        http: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
    }
}

async fn start() -> Running {
    start_with(ConsoleSettings::default()).await
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_forged_host_gets_nothing_even_with_the_token() {
    let c = start().await;
    let port = c.console.addr.port();
    for host in [
        format!("evil.example:{port}"),
        "127.0.0.1:1".to_owned(),
        format!("rebind.attacker.test:{port}"),
    ] {
        for path in ["/", "/api/health", "/login"] {
            let resp = c
                .http
                .get(c.url(path))
                .bearer_auth(TOKEN)
                .header(header::HOST, &host)
                .send()
                .await
                .expect("get");
            assert_eq!(
                resp.status(),
                StatusCode::MISDIRECTED_REQUEST,
                "GET {path} with Host {host}"
            );
        }
    }
    // The console's own names work.
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let resp = c
            .http
            .get(c.url("/api/health"))
            .bearer_auth(TOKEN)
            .header(header::HOST, &host)
            .send()
            .await
            .expect("get");
        assert_eq!(resp.status(), StatusCode::OK, "Host {host}");
    }
}

#[tokio::test]
async fn a_browser_action_needs_the_consoles_own_origin() {
    let c = start().await;
    let cookie = cookie_pair(&c.sign_in().await);
    let post = |origin: Option<String>, fetch_site: Option<&'static str>| {
        let mut req = c
            .http
            .post(c.url("/api/scripts/reload"))
            .header(header::COOKIE, &cookie)
            .json(&json!({}));
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        if let Some(s) = fetch_site {
            req = req.header("sec-fetch-site", s);
        }
        req.send()
    };
    // No Origin at all: refused, not waved through.
    let resp = post(None, None).await.expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = post(Some("http://evil.example".into()), None)
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = post(None, Some("cross-site")).await.expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(c.backend.calls().is_empty(), "{:?}", c.backend.calls());
    // The console's own page: its Origin, or a same-origin fetch.
    let resp = post(Some(c.base.clone()), None).await.expect("post");
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = post(None, Some("same-origin")).await.expect("post");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(c.backend.calls(), vec!["reload_scripts", "reload_scripts"]);
}

#[tokio::test]
async fn actions_that_are_not_json_are_refused() {
    let c = start().await;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut req = c
            .http
            .post(c.url("/api/chat"))
            .bearer_auth(TOKEN)
            .body(r#"{"text": "hello"}"#);
        if let Some(t) = content_type {
            req = req.header(header::CONTENT_TYPE, t);
        }
        let resp = req.send().await.expect("post");
        assert_eq!(
            resp.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
    }
    // A form post to the sign-in endpoint too.
    let resp = c
        .http
        .post(c.url("/api/login"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}"))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(c.backend.calls().is_empty(), "{:?}", c.backend.calls());
    let resp = c
        .http
        .post(c.url("/api/chat"))
        .bearer_auth(TOKEN)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(r#"{"text": "hello"}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_pasted_token_signs_in_and_wrong_ones_are_throttled() {
    let c = start().await;
    // The sign-in page is there without a link, with a field for the token.
    let page = c.http.get(c.url("/login")).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap_or_default();
    assert!(
        html.contains("id=\"token\"") && html.contains("/login.js"),
        "{html}"
    );

    let set_cookie = c.sign_in().await;
    assert!(
        set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Strict")
            && set_cookie.contains("Max-Age=43200"),
        "{set_cookie}"
    );
    assert!(
        !set_cookie.contains("Secure"),
        "plain HTTP on loopback: {set_cookie}"
    );
    assert!(
        !set_cookie.contains(TOKEN),
        "the cookie is a session, not the token"
    );
    let resp = c
        .http
        .get(c.url("/api/health"))
        .header(header::COOKIE, cookie_pair(&set_cookie))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    // Used, the session is renewed: the answer sets the cookie's lifetime again.
    let renewed = resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap_or_default();
    assert!(renewed.contains("Max-Age=43200"), "{renewed}");

    let try_token = |token: &'static str| {
        c.http
            .post(c.url("/api/login"))
            .json(&json!({ "token": token }))
            .send()
    };
    for i in 0..5 {
        let resp = try_token("wrong-token").await.expect("post");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "try {i}");
        assert!(resp.headers().get(header::SET_COOKIE).is_none());
    }
    let resp = try_token("wrong-token").await.expect("post");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap_or_default()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    // While throttled, even the right token waits, and so do Bearer guesses.
    let resp = try_token(TOKEN).await.expect("post");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        c.health(Auth::Bearer("another-guess")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn behind_a_proxy_cookies_are_secure_and_last_as_configured() {
    let c = start_with(ConsoleSettings {
        behind_proxy: true,
        session_hours: 2,
        public_name: Some("bot.example.org".into()),
        ..ConsoleSettings::default()
    })
    .await;
    let set_cookie = c.sign_in().await;
    assert!(
        set_cookie.contains("Secure") && set_cookie.contains("Max-Age=7200"),
        "{set_cookie}"
    );
    // The public name is the console's own; the one-time link names it.
    let resp = c
        .http
        .get(c.url("/api/health"))
        .bearer_auth(TOKEN)
        .header(header::HOST, "bot.example.org")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        c.console
            .login_url()
            .starts_with("https://bot.example.org/login?token="),
        "{}",
        c.console.login_url()
    );
    let login = c
        .http
        .get(c.url(&format!(
            "/login?{}",
            c.console.login_url().split_once('?').map(|(_, q)| q).unwrap_or_default()
        )))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let set_cookie = login.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap_or_default();
    assert!(set_cookie.contains("Secure"), "{set_cookie}");
}

#[tokio::test]
async fn signing_out_everywhere_rotates_the_token_and_ends_sessions() {
    let c = start().await;
    let cookie = cookie_pair(&c.sign_in().await);
    let link = c.console.login_url();
    let resp = c
        .http
        .post(c.url("/api/logout-all"))
        .bearer_auth(TOKEN)
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let saved = c
        .backend
        .saved_tokens
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert_eq!(saved.len(), 1);
    assert!(saved[0].len() >= 32);
    assert!(
        !body.to_string().contains(&saved[0]),
        "the new token is not shown"
    );
    assert_eq!(
        c.health(Auth::Bearer(TOKEN)).await,
        StatusCode::UNAUTHORIZED,
        "old token"
    );
    assert_eq!(
        c.health(Auth::Cookie(&cookie)).await,
        StatusCode::UNAUTHORIZED,
        "old session"
    );
    let resp = c.http.get(&link).send().await.expect("old link");
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "unused links end too"
    );
    assert_eq!(
        c.health(Auth::Bearer(&saved[0])).await,
        StatusCode::OK,
        "the new token works"
    );
}

/// Runs `twitch-bot --config CONFIGS console-link`.
fn console_link(configs: &Path) -> std::process::Output {
    BotCommand::new()
        .arg("--config")
        .arg(configs)
        .arg("console-link")
        .output()
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    l.local_addr().expect("addr").port()
}

/// The real binary running with piped stdin and stdout; killed when the test ends, pass or fail.
struct Bot(common::binary::Running);

impl Bot {
    /// Starts `twitch-bot FLAGS --config CONFIGS --data DATA`, with no integrations.
    fn spawn(flags: &[&str], configs: &Path, data: &Path) -> Bot {
        Bot(BotCommand::new()
            .args(flags)
            .args(common::binary::NO_PEERS)
            .folders(configs, data)
            .spawn())
    }

    /// The next `Web console: URL …` line it prints, within `secs`.
    fn next_link(&mut self, secs: u64) -> String {
        loop {
            match self.0.next_line(Duration::from_secs(secs)) {
                Some(line) if line.starts_with("Web console: ") => return line,
                Some(_) => {}
                None => panic!("the bot printed no console link: timed out"),
            }
        }
    }

    /// Types `line` into its terminal.
    fn type_line(&mut self, line: &str) {
        self.0.type_line(line).expect("type");
    }
}

/// The path (`/login?token=…`) of the link in `text`, which must be on `127.0.0.1:port`.
fn link_path(text: &str, port: u16) -> String {
    let url = text
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a link");
    let path = url
        .strip_prefix(&format!("http://127.0.0.1:{port}"))
        .unwrap_or_else(|| panic!("{url} is not on 127.0.0.1:{port}"));
    assert!(path.starts_with("/login?token="), "{url}");
    path.to_owned()
}

#[test]
fn console_link_asks_the_running_bot_for_a_working_link() {
    let dir = tempfile::tempdir().expect("temp dir");
    let configs = dir.path().join("configs");
    std::fs::create_dir_all(&configs).expect("configs");
    let port = free_port();
    std::fs::write(
        configs.join("bot.yaml"),
        format!("console:\n  bind: 127.0.0.1:{port}\n"),
    )
    .expect("bot.yaml");
    let secrets = configs.join("secrets.yaml");
    std::fs::write(&secrets, format!("console_token: {TOKEN}\n")).expect("secrets");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let mut bot = Bot::spawn(&["--offline"], &configs, &dir.path().join("data"));
    let started = bot.next_link(60);
    assert!(!started.contains(TOKEN), "{started}");

    let out = console_link(&configs);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !printed.contains(TOKEN),
        "the token is never printed: {printed}"
    );
    let path = link_path(&printed, port);
    assert!(
        !started.contains(&path),
        "a fresh link, not the one printed at start"
    );
    assert_eq!(
        raw_get_status(port, &path),
        303,
        "the link signs a browser in"
    );
    assert_eq!(raw_get_status(port, &path), 401, "once");

    // With the wrong token `console-link` says why and fails.
    std::fs::write(
        &secrets,
        "console_token: some-other-token-0123456789abcdefghij\n",
    )
    .expect("secrets");
    let out = console_link(&configs);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains("some-other-token"), "{err}");

    // Typing /console in the offline terminal prints a fresh link too.
    bot.type_line("/console");
    let path = link_path(&bot.next_link(20), port);
    assert_eq!(raw_get_status(port, &path), 303);
}

/// `GET path` over a plain socket; the status code.
fn raw_get_status(port: u16, path: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A self-signed certificate for `bot.lan` and 127.0.0.1, made by the `openssl` command; `None`
/// (with a printed reason) where it is not installed.
fn self_signed(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=bot.lan"])
        .args(["-addext", "subjectAltName=DNS:bot.lan,IP:127.0.0.1"])
        // A server certificate, not a CA: rustls refuses a CA certificate as the server's own.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if made.map(|s| s.success()).unwrap_or(false) {
        Some((cert, key))
    } else {
        peers::skipped("the TLS test needs the openssl command to make a certificate");
        None
    }
}

#[tokio::test]
async fn with_a_certificate_the_console_speaks_only_https_with_secure_cookies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some((cert, key)) = self_signed(dir.path()) else {
        return;
    };
    let backend = FakeBackend::with_settings(
        false,
        ConsoleSettings {
            tls: Some((cert.clone(), key)),
            public_name: Some("bot.lan".into()),
            ..ConsoleSettings::default()
        },
    );
    let shutdown = CancellationToken::new();
    let listener = console::bind("127.0.0.1:0").await.expect("bind");
    let server = console::serve(listener, TOKEN.into(), backend, shutdown.clone())
        .await
        .expect("serve over TLS");
    let addr = server.addr;
    assert!(
        server
            .login_url()
            .starts_with(&format!("https://127.0.0.1:{}/login?token=", addr.port())),
        "{}",
        server.login_url()
    );
    let pem = std::fs::read(&cert).expect("cert");
    let http = Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem).expect("pem"))
        .resolve("bot.lan", addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let base = format!("https://bot.lan:{}", addr.port());
    let resp = http
        .post(format!("{base}/api/login"))
        .header(header::ORIGIN, base.clone())
        .json(&json!({ "token": TOKEN }))
        .send()
        .await
        .expect("sign in over TLS");
    assert_eq!(resp.status(), StatusCode::OK);
    let set_cookie = resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap_or_default();
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    // Plain HTTP on the same port gets no answer.
    let plain = Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
        .get(format!("http://{addr}/login"))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");
    shutdown.cancel();
    server.stopped().await;
}

#[tokio::test]
async fn signing_out_everywhere_on_the_real_bot_saves_the_new_token_in_secrets_yaml() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = common::offline_settings(dir.path(), common::example_scripts());
    settings.enabled.set(Subsystem::Console, true);
    let secrets = settings.config_dir.join("secrets.yaml");
    std::fs::write(&secrets, "obs_password: kept-by-the-rotation\n").expect("secrets");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let mut config = twitch_bot::config::Config::default();
    config.bot.console.bind = "127.0.0.1:0".into();
    config.secrets.console_token = TOKEN.into();
    config.bot.chat.transport = twitch_bot::config::bot::ChatTransport::Irc;
    let bot = twitch_bot::app::Bot::start(settings, config)
        .await
        .expect("the offline bot starts");
    let base = format!("http://{}", bot.console_addr().expect("the console runs"));
    let http = Client::new();
    let resp = http
        .post(format!("{base}/api/logout-all"))
        .bearer_auth(TOKEN)
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::OK);
    let saved = twitch_bot::config::secrets::load(&secrets).expect("secrets.yaml loads");
    assert_eq!(saved.console_token.len(), 64, "a generated token is saved");
    assert_ne!(saved.console_token, TOKEN);
    assert_eq!(
        saved.obs_password, "kept-by-the-rotation",
        "other keys are kept"
    );
    for (token, status) in [
        (TOKEN, StatusCode::UNAUTHORIZED),
        (saved.console_token.as_str(), StatusCode::OK),
    ] {
        let resp = http
            .get(format!("{base}/api/health"))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        assert_eq!(resp.status(), status);
    }
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_typed_in_the_live_terminal_prints_a_fresh_link() {
    use twitch_bot::sim::{FakeChat, FakeChatOptions};
    // A live run against Twitch's fakes on 127.0.0.1 (chat, API, EventSub), as the real binary.
    let chat = FakeChat::start(FakeChatOptions::default())
        .await
        .expect("fake chat");
    let api = twitch_bot::sim::FakeTwitchApi::start(twitch_bot::sim::FakeApiOptions {
        bot_login: "mybot".into(),
        channel: "mychannel".into(),
        pending_polls: 0,
        ..twitch_bot::sim::FakeApiOptions::default()
    })
    .await
    .expect("fake api");
    let mut config = twitch_bot::config::Config::default();
    api.configure(&mut config.bot, &mut config.secrets);
    config.bot.twitch.chat_url = chat.ws_url();
    config.bot.chat.transport = twitch_bot::config::bot::ChatTransport::Irc;
    config.bot.emotes.bttv = false;
    config.bot.emotes.ffz = false;
    config.bot.emotes.seventv = false;
    let port = free_port();
    config.bot.console.bind = format!("127.0.0.1:{port}");
    config.secrets.console_token = TOKEN.into();
    let dir = tempfile::tempdir().expect("temp dir");
    let configs = dir.path().join("configs");
    std::fs::create_dir_all(&configs).expect("configs");
    std::fs::write(
        configs.join("bot.yaml"),
        serde_saphyr::to_string(&config.bot).expect("bot.yaml"),
    )
    .expect("write bot.yaml");
    twitch_bot::config::secrets::save(&configs.join("secrets.yaml"), &config.secrets)
        .expect("secrets.yaml");

    let mut bot = Bot::spawn(&["--notimers"], &configs, &dir.path().join("data"));
    // The fakes run on this test's runtime: wait for the bot's lines off its worker threads.
    let started = tokio::task::block_in_place(|| bot.next_link(60));
    bot.type_line("/console");
    let typed = tokio::task::block_in_place(|| bot.next_link(60));
    assert_ne!(typed, started, "a fresh link");
    assert!(!typed.contains(TOKEN), "{typed}");
    let path = link_path(&typed, port);
    let status = tokio::task::spawn_blocking(move || raw_get_status(port, &path))
        .await
        .expect("joined");
    assert_eq!(status, 303, "the typed link signs a browser in");
}
