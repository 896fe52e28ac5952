//! `ctx.http` from real scripts against a server on 127.0.0.1: an IP literal on the allow-list
//! answers with status, body and JSON; everything else is refused before a byte leaves — a
//! host not on the list, `localhost` even when listed (a host name never unlocks a loopback
//! address), a redirect off the list, plain http:// to a host listed for https — and the body
//! cap, the timeout and the per-script rate limit hold.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use twitch_bot::action::Action;
use twitch_bot::config::scripts::ScriptsConfig;
use twitch_bot::event::{ChatMessage, Chatter};
use twitch_bot::integrations::web::WebForScripts;
use twitch_bot::scripting::{HostConfig, ScriptHost, Services, roles_of};

const GET: &str = r#"
fn run(ctx) {
    try {
        let r = ctx.http.get(ctx.args[0]);
        let j = r.json;
        let shown = if type_of(j) == "()" { "none" } else if type_of(j) == "map" { j.joke } else { "other" };
        ctx.reply(`status=${r.status} json=${shown} body=${r.body.len()}:${r.body.sub_string(0, 40)}`);
    } catch (e) {
        ctx.reply(`refused: ${e}`);
    }
}
"#;

const POST: &str = r#"
fn run(ctx) {
    try {
        let r = ctx.http.post(ctx.args[0], #{ n: 42, word: "hi" });
        ctx.reply(`status=${r.status} got=${r.json.got.word}${r.json.got.n} type=${r.json.type}`);
    } catch (e) {
        ctx.reply(`refused: ${e}`);
    }
}
"#;

/// The loopback server: what it answers and every path it was asked for.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    runtime: tokio::runtime::Runtime,
}

impl Server {
    fn start() -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let app = axum::Router::new().fallback(move |req: Request| {
            let log = log.clone();
            async move { answer(port, &log, req).await }
        });
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server {
            port,
            seen,
            runtime,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("seen").clone()
    }
}

async fn answer(port: u16, log: &Mutex<Vec<String>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    log.lock().expect("seen").push(path.clone());
    match path.as_str() {
        "/json" => axum::Json(serde_json::json!({"joke": "knock knock", "n": 2})).into_response(),
        "/text" => "just text".into_response(),
        "/teapot" => (StatusCode::IM_A_TEAPOT, "short and stout").into_response(),
        "/big" => "x".repeat(10_000).into_response(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(4)).await;
            "late".into_response()
        }
        "/pause" => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            "after a pause".into_response()
        }
        "/redirect-out" => (
            StatusCode::FOUND,
            [(header::LOCATION, format!("http://localhost:{port}/json"))],
        )
            .into_response(),
        p if p.starts_with("/hop/") => {
            // /hop/N redirects to /hop/N-1, and /hop/0 to /json.
            let n: u32 = p.trim_start_matches("/hop/").parse().unwrap_or(0);
            let next = if n == 0 {
                "/json".to_string()
            } else {
                format!("/hop/{}", n - 1)
            };
            (StatusCode::FOUND, [(header::LOCATION, next)]).into_response()
        }
        "/redirect-in" => {
            (StatusCode::FOUND, [(header::LOCATION, "/json".to_string())]).into_response()
        }
        "/echo" => {
            let kind = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            let got: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            axum::Json(serde_json::json!({"got": got, "type": kind})).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

struct Bot {
    host: Arc<ScriptHost>,
    rx: mpsc::Receiver<Action>,
    _dir: tempfile::TempDir,
    next_id: u32,
}

fn bot(server: &Server, tweak: impl FnOnce(&mut ScriptsConfig)) -> Bot {
    bot_running(server, &[("get", GET), ("post", POST)], tweak)
}

fn bot_running(
    server: &Server,
    commands: &[(&str, &str)],
    tweak: impl FnOnce(&mut ScriptsConfig),
) -> Bot {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, src) in commands {
        let path = dir.path().join(format!("commands/{name}.rhai"));
        std::fs::create_dir_all(path.parent().expect("folder")).expect("mkdir");
        std::fs::write(path, src).expect("script");
    }
    let mut scripts = ScriptsConfig::default();
    tweak(&mut scripts);
    let web = WebForScripts::new(&scripts, server.runtime.handle().clone()).expect("client");
    let services = Services {
        http: Some(Arc::new(web)),
        ..Services::in_memory()
    };
    let mut config = HostConfig::new(dir.path(), "chan");
    config.workers = 1;
    let (tx, rx) = mpsc::channel(64);
    let (host, report) = ScriptHost::start(config, services, Arc::new(tx));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    Bot {
        host,
        rx,
        _dir: dir,
        next_id: 0,
    }
}

impl Bot {
    /// Runs `!command args` and returns the script's reply.
    fn ask(&mut self, text: &str) -> String {
        self.send(text);
        self.reply(text)
    }

    /// Sends `text` in chat without waiting.
    fn send(&mut self, text: &str) {
        self.next_id += 1;
        let msg = ChatMessage::test("viewer", text)
            .id(format!("m{}", self.next_id))
            .sender(
                Chatter::test("viewer")
                    .user_id("7")
                    .display_name("Viewer")
                    .roles(roles_of(&[])),
            );
        let _ = self.host.handle_chat(&msg);
    }

    /// The next reply, waiting up to 15 s (`text` names what it answers, for the failure).
    fn reply(&mut self, text: &str) -> String {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            match self.rx.try_recv() {
                Ok(Action::Reply { text, .. } | Action::Say { text, .. }) => return text,
                Ok(_) => {}
                Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    let errors: Vec<String> = self
                        .host
                        .scripts()
                        .iter()
                        .filter_map(|s| s.last_error.as_ref().map(ToString::to_string))
                        .collect();
                    panic!("no reply to {text:?} ({e:?}); script errors: {errors:#?}")
                }
            }
        }
    }
}

fn allow(entries: &[&str]) -> impl FnOnce(&mut ScriptsConfig) {
    let entries: Vec<String> = entries.iter().map(|s| (*s).to_string()).collect();
    move |c| c.http_allow = entries
}

#[test]
fn an_ip_literal_on_the_list_answers_with_status_body_and_json() {
    let server = Server::start();
    let mut bot = bot(&server, allow(&["http://127.0.0.1"]));
    assert_eq!(
        bot.ask(&format!("!get {}", server.url("/json"))),
        "status=200 json=knock knock body=28:{\"joke\":\"knock knock\",\"n\":2}"
    );
    assert_eq!(
        bot.ask(&format!("!get {}", server.url("/text"))),
        "status=200 json=none body=9:just text",
        "a body that is not JSON has json ()"
    );
    assert_eq!(
        bot.ask(&format!("!get {}", server.url("/teapot"))),
        "status=418 json=none body=15:short and stout",
        "an error status is an answer, not a failure"
    );
    assert_eq!(
        bot.ask(&format!("!post {}", server.url("/echo"))),
        "status=200 got=hi42 type=application/json",
        "a map is posted as JSON"
    );
    assert_eq!(
        bot.ask(&format!("!get {}", server.url("/redirect-in"))),
        "status=200 json=knock knock body=28:{\"joke\":\"knock knock\",\"n\":2}",
        "a redirect that stays on the list is followed"
    );
}

#[test]
fn a_host_not_on_the_list_is_refused_before_any_connection() {
    let server = Server::start();
    let mut bot = bot(&server, allow(&["http://127.0.0.2", "api.example.com"]));
    let said = bot.ask(&format!("!get {}", server.url("/json")));
    assert!(
        said.starts_with("refused:") && said.contains("127.0.0.1 is not on the allow-list"),
        "{said}"
    );
    let said = bot.ask("!get https://other.example.com/");
    assert!(
        said.contains("other.example.com is not on the allow-list"),
        "{said}"
    );
    assert!(server.seen().is_empty(), "nothing reached the server");
}

#[test]
fn localhost_is_refused_even_when_listed_because_a_host_name_never_unlocks_loopback() {
    let server = Server::start();
    let mut bot = bot(&server, allow(&["http://localhost"]));
    let said = bot.ask(&format!("!get http://localhost:{}/json", server.port));
    assert!(said.starts_with("refused:"), "{said}");
    assert!(
        said.contains("localhost resolves to") && said.contains("127.0.0.1"),
        "the refusal names the resolved address: {said}"
    );
    assert!(server.seen().is_empty(), "nothing reached the server");
}

#[test]
fn a_redirect_to_a_host_not_on_the_list_is_refused() {
    let server = Server::start();
    let mut bot = bot(&server, allow(&["http://127.0.0.1"]));
    let said = bot.ask(&format!("!get {}", server.url("/redirect-out")));
    assert!(said.starts_with("refused:"), "{said}");
    assert!(
        said.contains("redirect") && said.contains("localhost is not on the allow-list"),
        "{said}"
    );
    assert_eq!(
        server.seen(),
        ["/redirect-out"],
        "the redirect was not followed"
    );
}

#[test]
fn plain_http_needs_an_entry_written_with_http() {
    let server = Server::start();
    let mut bot = bot(&server, allow(&["127.0.0.1"]));
    let said = bot.ask(&format!("!get {}", server.url("/json")));
    assert!(
        said.contains("plain http:// to 127.0.0.1 is refused"),
        "{said}"
    );
    assert!(server.seen().is_empty(), "nothing reached the server");
}

#[test]
fn a_body_past_the_cap_is_refused() {
    let server = Server::start();
    let mut bot = bot(&server, |c| {
        c.http_allow = vec!["http://127.0.0.1".into()];
        c.http_max_bytes = 4096;
    });
    let said = bot.ask(&format!("!get {}", server.url("/big")));
    assert!(said.contains("larger than 4096 bytes"), "{said}");
    let said = bot.ask(&format!("!get {}", server.url("/text")));
    assert!(
        said.starts_with("status=200"),
        "a small body still comes: {said}"
    );
}

#[test]
fn a_slow_server_times_out() {
    let server = Server::start();
    let mut bot = bot(&server, |c| {
        c.http_allow = vec!["http://127.0.0.1".into()];
        c.http_timeout_secs = 1;
    });
    let started = Instant::now();
    let said = bot.ask(&format!("!get {}", server.url("/slow")));
    assert!(said.contains("no answer in time"), "{said}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "gave up after the timeout: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_script_past_its_rate_limit_is_refused() {
    let server = Server::start();
    let mut bot = bot(&server, |c| {
        c.http_allow = vec!["http://127.0.0.1".into()];
        c.http_per_minute = 3;
    });
    for _ in 0..3 {
        let said = bot.ask(&format!("!get {}", server.url("/text")));
        assert!(said.starts_with("status=200"), "{said}");
    }
    let said = bot.ask(&format!("!get {}", server.url("/text")));
    assert!(said.contains("3 requests in the last minute"), "{said}");
    assert_eq!(server.seen().len(), 3, "the fourth never left");
    let said = bot.ask(&format!("!post {}", server.url("/echo")));
    assert!(
        said.starts_with("status=200"),
        "another script has its own limit: {said}"
    );
}

#[test]
fn the_web_examples_say_in_chat_how_to_switch_them_on() {
    let server = Server::start();
    let examples = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/commands");
    let read = |name: &str| {
        std::fs::read_to_string(examples.join(format!("{name}.rhai"))).expect("example script")
    };
    let (dadjoke, quiz) = (read("dadjoke"), read("quiz"));
    let mut bot = bot_running(
        &server,
        &[("dadjoke", dadjoke.as_str()), ("quiz", quiz.as_str())],
        allow(&["http://127.0.0.1"]),
    );
    assert_eq!(
        bot.ask("!dadjoke"),
        "Dad jokes are off: the streamer can allow icanhazdadjoke.com in scripts.http_allow \
         (configs/bot.yaml)."
    );
    assert_eq!(
        bot.ask("!quiz"),
        "The quiz is off: the streamer can allow opentdb.com in scripts.http_allow \
         (configs/bot.yaml)."
    );
    assert!(server.seen().is_empty());
}

#[test]
fn a_request_waits_outside_the_runs_500_ms_while_another_thread_serves_chat() {
    let server = Server::start();
    let mut bot = bot_running(
        &server,
        &[("get", GET), ("hi", r#"fn run(ctx) { ctx.reply("hi"); }"#)],
        allow(&["http://127.0.0.1"]),
    );
    let started = Instant::now();
    bot.send(&format!("!get {}", server.url("/pause")));
    std::thread::sleep(Duration::from_millis(200));
    bot.send("!hi");
    assert_eq!(
        bot.reply("!hi"),
        "hi",
        "with one script thread, !hi is answered while !get waits on the network"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        bot.reply("!get"),
        "status=200 json=none body=13:after a pause",
        "a 1.5 s wait does not count against the run's 500 ms"
    );
}
