//! End-to-end flood benchmark: the bot (its own process, pinned to one core, a one-thread tokio
//! runtime) against the flood server in `twitch_bot::sim::flood` (this process, the other core).
//! Reports msgs/s ingested, `!ping` reply latency p50/p99, the bot's peak RSS and CPU seconds.
//!
//! ```text
//! cargo run --release --example flood                       # both standard scenarios
//! cargo run --release --example flood -- --messages 200000 --commands 0.01
//! cargo run --release --example flood -- --rate 2000 --seconds 10 --commands 0.1
//! cargo run --release --example flood -- --serve-only 6667  # flood any bot that connects
//! cargo run --release --example flood -- --baseline         # a bare echo client instead of
//!                                           # the bot: this machine's floor for the same figures
//! cargo run --release --features cache-metrics --example flood -- --rate 500 --seconds 1800 \
//!     --commands 0.05 --events 0.01 --sample-every 60   # the soak: memory and redb cache each minute
//! ```
//!
//! See docs-benchmark.md for how to point another bot at `--serve-only`.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use argh::FromArgs;
use twitch_bot::app::{Bot, Settings, Subsystems};
use twitch_bot::config::Config;
use twitch_bot::config::bot::RateLimit;
use twitch_bot::sim::flood::{FloodOptions, FloodReport, FloodServer};

/// Floods the bot (or any bot, with --serve-only) with realistic tagged chat.
#[derive(FromArgs)]
struct Args {
    /// chat lines to send (default: run both standard scenarios)
    #[argh(option)]
    messages: Option<usize>,
    /// fraction of lines that are `!ping` (default 0.01 flooding, 0.1 paced)
    #[argh(option)]
    commands: Option<f64>,
    /// fraction of lines that are channel events over IRC: resubs, gifts, raids, cheers
    /// (default 0)
    #[argh(option)]
    events: Option<f64>,
    /// lines per second; without it, as fast as the socket takes them
    #[argh(option)]
    rate: Option<f64>,
    /// with --rate: how long to send (sets --messages to rate x seconds)
    #[argh(option)]
    seconds: Option<f64>,
    /// serve the flood on 127.0.0.1:PORT to whichever bot connects, and report
    #[argh(option)]
    serve_only: Option<u16>,
    /// the core the bot runs on (default 0)
    #[argh(option, default = "0")]
    bot_cpu: usize,
    /// the core the flood server runs on (default 1)
    #[argh(option, default = "1")]
    server_cpu: usize,
    /// print the bot's memory (RSS, split into anonymous memory and code/file pages; redb's
    /// page cache when built with --features cache-metrics) every this many seconds, for soaks
    #[argh(option)]
    sample_every: Option<u64>,
    /// run a bare line reader that answers every `!ping` at once (no tags decoded, no
    /// moderation, no scripts) in place of the bot: the floor this machine sets for the same
    /// figures
    #[argh(switch)]
    baseline: bool,
    /// internal: run the bot against this chat URL
    #[argh(option)]
    bot_child: Option<String>,
    /// internal: run the baseline echo client against this chat URL
    #[argh(option)]
    echo_child: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args: Args = argh::from_env();
    if let Some(url) = &args.bot_child {
        return bot_child(url, args.sample_every);
    }
    if let Some(url) = &args.echo_child {
        return echo_child(url);
    }
    // Pin this process (the flood server) to its core by re-running under taskset once.
    if std::env::var_os("FLOOD_PINNED").is_none() && has_taskset() {
        let status = Command::new("taskset")
            .arg("-c")
            .arg(args.server_cpu.to_string())
            .arg(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .env("FLOOD_PINNED", "1")
            .status()?;
        std::process::exit(status.code().unwrap_or(1));
    }
    if let Some(port) = args.serve_only {
        return serve_only(port, &args);
    }
    let mut runs = Vec::new();
    if args.messages.is_none() && args.rate.is_none() {
        runs.push((
            "(a) flood 200,000, 1% !ping",
            FloodOptions {
                messages: 200_000,
                command_fraction: args.commands.unwrap_or(0.01),
                ..FloodOptions::default()
            },
        ));
        runs.push((
            "(b) paced 2,000/s for 10 s, 10% !ping",
            FloodOptions {
                messages: 20_000,
                command_fraction: args.commands.unwrap_or(0.1),
                rate: Some(2_000.0),
                ..FloodOptions::default()
            },
        ));
    } else {
        runs.push(("custom", options_from(&args)));
    }
    for (name, options) in runs {
        let row = run_scenario(&options, args.bot_cpu, args.sample_every, args.baseline)?;
        print_row(name, &row);
    }
    Ok(())
}

fn options_from(args: &Args) -> FloodOptions {
    let messages = match (args.rate, args.seconds, args.messages) {
        (_, _, Some(n)) => n,
        (Some(rate), Some(secs), None) => (rate * secs).round() as usize,
        (Some(rate), None, None) => (rate * 10.0).round() as usize,
        _ => 200_000,
    };
    FloodOptions {
        messages,
        command_fraction: args
            .commands
            .unwrap_or(if args.rate.is_some() { 0.1 } else { 0.01 }),
        rate: args.rate,
        event_fraction: args.events.unwrap_or(0.0),
        ..FloodOptions::default()
    }
}

fn has_taskset() -> bool {
    Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One measured run of the bot.
struct Row {
    report: FloodReport,
    rss_at_join_kb: u64,
    peak_rss_kb: u64,
    cpu_flood: f64,
    cpu_total: f64,
}

fn run_scenario(
    options: &FloodOptions,
    bot_cpu: usize,
    sample_every: Option<u64>,
    baseline: bool,
) -> anyhow::Result<Row> {
    let server = FloodServer::bind("127.0.0.1:0")?;
    let url = server.irc_url()?;
    let exe = std::env::current_exe()?;
    let mut cmd = if has_taskset() {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(bot_cpu.to_string()).arg(exe);
        c
    } else {
        eprintln!("taskset not found: the bot is not pinned to one core");
        Command::new(exe)
    };
    // taskset execs the program, so the child's pid is the bot's.
    cmd.args([
        if baseline {
            "--echo-child"
        } else {
            "--bot-child"
        },
        &url,
    ]);
    if let Some(secs) = sample_every {
        cmd.args(["--sample-every", &secs.to_string()]);
    }
    let mut child = cmd.stdin(Stdio::piped()).spawn()?;
    let pid = child.id();
    // A bot that dies before the flood ends would leave the server waiting forever.
    let served = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watching = served.clone();
    std::thread::spawn(move || {
        while !watching.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, rest)| rest.trim_start().to_string())
                });
            let gone = state.is_none_or(|s| s.starts_with('Z') || s.starts_with('X'));
            if gone && !watching.load(std::sync::atomic::Ordering::Relaxed) {
                eprintln!(
                    "the bot (pid {pid}) exited before the flood ended: see its output above"
                );
                std::process::exit(1);
            }
        }
    });
    let mut at_join = (0.0, 0);
    let result = server.serve_one(options, |_, _| {
        at_join = (cpu_secs(pid), status_kb(pid, "VmRSS:"));
    });
    served.store(true, std::sync::atomic::Ordering::Relaxed);
    let cpu_total = cpu_secs(pid);
    let peak_rss_kb = status_kb(pid, "VmHWM:");
    drop(child.stdin.take());
    let _ = child.wait();
    let report = result?;
    Ok(Row {
        report,
        rss_at_join_kb: at_join.1,
        peak_rss_kb,
        cpu_flood: cpu_total - at_join.0,
        cpu_total,
    })
}

fn print_row(name: &str, row: &Row) {
    let r = &row.report;
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    println!("{name}");
    println!(
        "  {} lines ({} !ping, {} answered) in {:.3} s (sending took {:.3} s): {:.0} msgs/s ingested",
        r.messages,
        r.commands,
        r.replies,
        r.elapsed.as_secs_f64(),
        r.send_time.as_secs_f64(),
        r.msgs_per_sec()
    );
    println!(
        "  reply latency p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        ms(r.percentile(50.0)),
        ms(r.percentile(99.0)),
        ms(r.latencies.last().copied())
    );
    println!(
        "  bot: peak RSS {:.1} MB (RSS at join {:.1} MB), CPU {:.2} s during the flood, {:.2} s in all",
        row.peak_rss_kb as f64 / 1024.0,
        row.rss_at_join_kb as f64 / 1024.0,
        row.cpu_flood,
        row.cpu_total
    );
    let _ = std::io::stdout().flush();
}

fn serve_only(port: u16, args: &Args) -> anyhow::Result<()> {
    let server = FloodServer::bind(&format!("127.0.0.1:{port}"))?;
    let options = options_from(args);
    println!(
        "flood server on {} ({} lines, {:.1}% !ping, {}): waiting for a bot to log in and JOIN",
        server.irc_url()?,
        options.messages,
        options.command_fraction * 100.0,
        options
            .rate
            .map_or("as fast as it reads".to_string(), |r| format!("{r}/s"))
    );
    let report = server.serve_one(&options, |login, channel| {
        println!("{login} joined #{channel}: flooding");
    })?;
    print_row(
        "serve-only",
        &Row {
            report,
            rss_at_join_kb: 0,
            peak_rss_kb: 0,
            cpu_flood: f64::NAN,
            cpu_total: f64::NAN,
        },
    );
    println!(
        "  (RSS and CPU: read /proc/<pid>/status VmHWM and /proc/<pid>/stat of the bot yourself)"
    );
    Ok(())
}

/// utime + stime of `pid`, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// A `kB` line of /proc/<pid>/status.
fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The bot process: a one-thread runtime, the project's scripts, a fresh data folder, chat
/// against `url`, everything else off. Stops when stdin closes.
fn bot_child(url: &str, sample_every: Option<u64>) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let data = tempfile::tempdir()?;
        let mut settings = Settings {
            data_dir: data.path().to_path_buf(),
            config_dir: data.path().join("configs"),
            // `cargo run` says where the project is; a binary started by hand uses the path
            // it was built from.
            scripts_dir: std::path::PathBuf::from(
                std::env::var_os("CARGO_MANIFEST_DIR")
                    .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
            )
            .join("scripts"),
            ..Settings::default()
        };
        settings.enabled = Subsystems {
            chat: true,
            eventsub: false,
            timers: false,
            obs: false,
            discord: false,
            zmq: false,
            audio: false,
            hotkeys: false,
            console: false,
            notify: false,
        };
        let mut config = Config::default();
        config.bot.username = "floodbot".into();
        config.bot.owner = "floodchan".into();
        config.bot.twitch.chat_url = url.into();
        config.secrets.bot.access_token = "flood-token".into();
        config.bot.chat.rate_limit = RateLimit::Unlimited;
        config.bot.chat.outgoing_queue = 100_000;
        // Moderation runs every filter on every line; 600 simulated chatters sending 200,000 lines
        // in a second are a "flood" by the per-user limit, so raise it to keep them all innocent.
        config.moderation.flood.max_messages = u32::MAX;
        config.moderation.repetition.enabled = false;
        let bot = Bot::start(settings, config).await?;
        if let Some(secs) = sample_every {
            let storage = bot.storage().cloned();
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let pid = std::process::id();
                let mb = |kb: u64| kb as f64 / 1024.0;
                loop {
                    let cache = storage
                        .as_ref()
                        .and_then(|s| s.cache_bytes_used())
                        .map_or(String::new(), |b| {
                            format!(", redb cache {:.1} MB", b as f64 / 1_048_576.0)
                        });
                    eprintln!(
                        "sample t={:>5}s RSS {:.1} MB (anon {:.1}, code/files {:.1}){cache}",
                        started.elapsed().as_secs(),
                        mb(status_kb(pid, "VmRSS:")),
                        mb(status_kb(pid, "RssAnon:")),
                        mb(status_kb(pid, "RssFile:")),
                    );
                    tokio::time::sleep(Duration::from_secs(secs.max(1))).await;
                }
            });
        }
        // The parent closes our stdin when it has measured us.
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
        let mut line = String::new();
        let _ = tokio::io::AsyncBufReadExt::read_line(&mut stdin, &mut line).await;
        bot.shutdown().await;
        drop(data);
        Ok(())
    })
}

/// The baseline client: logs in, joins, reads lines and answers each `!ping` with a threaded
/// reply at once. Blocking std I/O, one thread: what is left is the kernel, the loopback and the
/// scheduler. Stops when the server closes the connection or stdin closes.
fn echo_child(url: &str) -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader, Write};
    let addr = url.trim_start_matches("irc://");
    let stream = std::net::TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    out.write_all(
        b"CAP REQ :twitch.tv/tags twitch.tv/commands\r\nPASS oauth:baseline\r\n\
          NICK floodbot\r\nJOIN #floodchan\r\n",
    )?;
    // The parent closes stdin when it has measured us; the socket may stay open until then.
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_line(&mut String::new());
        std::process::exit(0);
    });
    let mut reader = BufReader::with_capacity(16 * 1024, stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            // Stay until the parent has read our memory figures and closes stdin.
            loop {
                std::thread::park();
            }
        }
        if line.starts_with("PING") {
            out.write_all(b"PONG :tmi.twitch.tv\r\n")?;
        } else if let Some((head, text)) = line.split_once(" PRIVMSG #")
            && text.contains(" :!ping")
        {
            let id = head
                .split([';', '@'])
                .find_map(|t| t.strip_prefix("id="))
                .unwrap_or_default();
            let channel = text.split(' ').next().unwrap_or("floodchan");
            write!(
                out,
                "@reply-parent-msg-id={id} PRIVMSG #{channel} :pong\r\n"
            )?;
        }
    }
}
