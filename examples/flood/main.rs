//! End-to-end benchmarks of what ships: the release binary (`twitch-bot`, its own process,
//! pinned to one core) in live mode against fakes of Twitch in this process (the other core):
//! a copy of the committed `configs/` with only the fakes' URLs changed and a secrets.yaml with
//! tokens the fake accepts. Three chat floods (the flood server in `twitch_bot::sim::flood`) and
//! a raid (the simulator's chat, Helix and EventSub, `twitch_bot::sim`).
//!
//! ```text
//! cargo build --release --example flood --bin twitch-bot
//! target/release/examples/flood                  # floods (a), (b), (c); (a) and (b) also
//!                                                # with the echo baseline, then a summary
//!                                                # against the targets
//! target/release/examples/flood --raid           # 1,000 accounts × 6 lines over 20 s
//! target/release/examples/flood --raid --accounts 500 --lines 6 --raid-seconds 20
//! target/release/examples/flood --messages 200000 --commands 0.01 --filters
//! target/release/examples/flood --baseline       # a bare echo client instead of the bot:
//!                                                # this machine's floor for (a) and (b)
//! target/release/examples/flood --serve-only 6667   # flood any bot that connects
//! target/release/examples/flood --bot path/to/twitch-bot   # another build of the bot
//! ```
//!
//! See docs/performance.md for what each scenario does and the figures.

mod bot;
mod raid;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use argh::FromArgs;
use twitch_bot::sim::flood::{FloodError, FloodOptions, FloodReport, FloodServer, percentile};
use twitch_bot::sim::{FakeApiOptions, FakeTwitchApi};

/// Floods the release bot (or any bot, with --serve-only) with realistic tagged chat, or raids it.
#[derive(FromArgs)]
struct Args {
    /// chat lines to send (default: run the standard scenarios)
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
    /// different chatters in a flood (default 5000)
    #[argh(option, default = "5000")]
    chatters: usize,
    /// with --messages or --rate: keep the committed flood and repetition filters on, and have
    /// a regular viewer type `!ping` every second (measured apart; the flood's last line, whose
    /// answer ends the run, is theirs too)
    #[argh(switch)]
    filters: bool,
    /// the raid scenario instead of the floods
    #[argh(switch)]
    raid: bool,
    /// raiding accounts (default 1000)
    #[argh(option, default = "1000")]
    accounts: usize,
    /// lines each raiding account sends (default 6)
    #[argh(option, default = "6")]
    lines: usize,
    /// seconds the raid's lines are spread over (default 20)
    #[argh(option, default = "20.0")]
    raid_seconds: f64,
    /// the bot binary (default: twitch-bot next to this example's folder)
    #[argh(option)]
    bot: Option<String>,
    /// serve the flood on 127.0.0.1:PORT to whichever bot connects, and report
    #[argh(option)]
    serve_only: Option<u16>,
    /// the core the bot runs on (default 0)
    #[argh(option, default = "0")]
    bot_cpu: usize,
    /// the core the fakes run on (default 1)
    #[argh(option, default = "1")]
    server_cpu: usize,
    /// print the bot's memory (RSS, split into anonymous memory and code/file pages) every
    /// this many seconds, for soaks
    #[argh(option)]
    sample_every: Option<u64>,
    /// run a bare line reader that answers every `!ping` at once (no tags decoded, no
    /// moderation, no scripts) in place of the bot: the floor this machine sets for the same
    /// figures
    #[argh(switch)]
    baseline: bool,
    /// keep the bot's configs, data folder and log after the run, and print where
    #[argh(switch)]
    keep: bool,
    /// internal: run the baseline echo client against this chat URL
    #[argh(option)]
    echo_child: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args: Args = argh::from_env();
    if let Some(url) = &args.echo_child {
        return echo_child(url);
    }
    // Pin this process (the fakes) to its core by re-running under taskset once.
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let binary = if args.baseline {
        None
    } else {
        let found = bot::find_binary(args.bot.as_deref())?;
        println!(
            "bot: {} (live mode against the fakes, pinned to core {}, flags {})",
            found.display(),
            args.bot_cpu,
            bot::FLAGS.join(" ")
        );
        Some(found)
    };
    if args.raid {
        let binary =
            binary.ok_or_else(|| anyhow::anyhow!("--raid measures the bot, not --baseline"))?;
        let options = raid::RaidOptions {
            accounts: args.accounts.max(1),
            lines: args.lines.max(1),
            seconds: args.raid_seconds,
            bot_cpu: args.bot_cpu,
            keep: args.keep,
        };
        return runtime.block_on(raid::run(&binary, &options));
    }
    let mut runs = Vec::new();
    let base = FloodOptions {
        chatters: args.chatters.max(1),
        ..FloodOptions::default()
    };
    if args.messages.is_none() && args.rate.is_none() {
        runs.push((
            "(a) flood 200,000 lines, 1% !ping, flood/repetition filters off",
            FloodOptions {
                messages: 200_000,
                command_fraction: args.commands.unwrap_or(0.01),
                ..base.clone()
            },
            false,
        ));
        runs.push((
            "(b) paced 2,000/s for 10 s, 10% !ping, flood/repetition filters off",
            FloodOptions {
                messages: 20_000,
                command_fraction: args.commands.unwrap_or(0.1),
                rate: Some(2_000.0),
                ..base.clone()
            },
            false,
        ));
        runs.push((
            "(c) flood 200,000 lines, 1% !ping, committed filters on, a regular's !ping every second",
            FloodOptions {
                messages: 200_000,
                command_fraction: args.commands.unwrap_or(0.01),
                regular_every: Some(Duration::from_secs(1)),
                reply_timeout: Duration::from_secs(120),
                ..base.clone()
            },
            true,
        ));
    } else {
        let mut options = options_from(&args, base);
        if args.filters {
            options.regular_every = Some(Duration::from_secs(1));
            options.reply_timeout = Duration::from_secs(120);
        }
        runs.push(("custom", options, args.filters));
    }
    // The standard scenarios measure the echo baseline in the same run, right after the bot,
    // so the summary compares figures taken minutes apart on the same machine.
    let standard = args.messages.is_none() && args.rate.is_none();
    let mut summary = Summary::default();
    for (name, options, filters) in runs {
        if args.baseline && filters {
            continue;
        }
        let mut row = run_scenario(&runtime, binary.as_deref(), &args, options.clone(), filters)?;
        print_row(name, &row);
        if args.keep
            && let Some((_, process, _)) = row.measured.as_mut()
        {
            process.keep();
        }
        let baseline = if standard && binary.is_some() && !filters {
            let row = run_scenario(&runtime, None, &args, options, filters)?;
            print_row(&format!("{name}, echo baseline"), &row);
            Some(row)
        } else {
            None
        };
        summary.add(name, row, baseline);
    }
    if standard && binary.is_some() {
        summary.print();
    }
    Ok(())
}

/// The standard scenarios' figures side by side with the echo baseline's, and the targets.
#[derive(Default)]
struct Summary {
    /// Scenario name, the bot's row, the baseline's row (none for the filters-on flood).
    rows: Vec<(String, Row, Option<Row>)>,
}

/// What the bot must do on this machine: lines per second in flood (a), peak RSS in (a), and
/// its reply p99 at 2,000 lines/s (b) against the echo baseline's in the same run.
const TARGET_LINES_PER_SEC: f64 = 350_000.0;
const TARGET_PEAK_RSS_MB: f64 = 25.0;
const TARGET_P99_RATIO: f64 = 1.2;

impl Summary {
    fn add(&mut self, name: &str, bot: Row, baseline: Option<Row>) {
        self.rows.push((name.to_string(), bot, baseline));
    }

    fn print(&self) {
        let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
        let answered = |r: &Row| {
            let due = r.report.commands.saturating_sub(r.report.commands_withheld);
            (r.report.replies, due)
        };
        println!();
        println!("summary: the release binary and the echo baseline, same run");
        println!(
            "  {:<14} {:>12} {:>16} {:>16} {:>10}",
            "scenario", "lines/s", "replies/due", "p50 / p99 ms", "peak RSS"
        );
        let mut verdicts = Vec::new();
        for (name, bot, baseline) in &self.rows {
            let short = name.split(' ').next().unwrap_or(name);
            for (who, row) in
                std::iter::once(("bot", bot)).chain(baseline.iter().map(|b| ("echo", b)))
            {
                let (replies, due) = answered(row);
                println!(
                    "  {:<14} {:>12.0} {:>16} {:>16} {:>7.1} MB",
                    format!("{short} {who}"),
                    row.report.msgs_per_sec(),
                    format!("{replies}/{due}"),
                    format!(
                        "{:.3} / {:.3}",
                        ms(row.report.percentile(50.0)),
                        ms(row.report.percentile(99.0))
                    ),
                    row.peak_rss_kb as f64 / 1024.0
                );
            }
            let (replies, due) = answered(bot);
            if short == "(a)" {
                let rate = bot.report.msgs_per_sec();
                let rss = bot.peak_rss_kb as f64 / 1024.0;
                verdicts.push(format!(
                    "(a) {rate:.0} lines/s, target >= {TARGET_LINES_PER_SEC:.0}: {}",
                    met(rate >= TARGET_LINES_PER_SEC)
                ));
                verdicts.push(format!(
                    "(a) peak RSS {rss:.1} MB, target <= {TARGET_PEAK_RSS_MB:.0} MB: {}",
                    met(rss <= TARGET_PEAK_RSS_MB)
                ));
            }
            // With the committed filters on, a time-compressed flood trips the flood filter for
            // every chatter, and a punished line runs no command: (c) measures the regular.
            if baseline.is_some() {
                verdicts.push(format!(
                    "{short} every command answered ({replies}/{due}): {}",
                    met(replies >= due && bot.unfinished.is_none())
                ));
            }
            if short == "(b)"
                && let Some(base) = baseline
            {
                let (b, e) = (
                    ms(bot.report.percentile(99.0)),
                    ms(base.report.percentile(99.0)),
                );
                let ratio = b / e;
                verdicts.push(format!(
                    "(b) reply p99 {b:.3} ms = {ratio:.2}x the echo baseline's {e:.3} ms, \
                     target <= {TARGET_P99_RATIO}x: {}",
                    met(ratio <= TARGET_P99_RATIO)
                ));
            }
        }
        println!("targets:");
        for v in verdicts {
            println!("  {v}");
        }
        let _ = std::io::stdout().flush();
    }
}

fn met(yes: bool) -> &'static str {
    if yes { "met" } else { "NOT met" }
}

fn options_from(args: &Args, base: FloodOptions) -> FloodOptions {
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
        ..base
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

/// One measured run.
struct Row {
    report: FloodReport,
    /// Why the end marker was not answered, when it was not (the report then ends at the
    /// deadline).
    unfinished: Option<String>,
    chatters: usize,
    rss_at_join_kb: u64,
    peak_rss_kb: u64,
    cpu_flood: f64,
    cpu_total: f64,
    /// The fake Helix and the bot, when it was the bot.
    measured: Option<(FakeTwitchApi, bot::BotProcess, String)>,
}

fn run_scenario(
    runtime: &tokio::runtime::Runtime,
    binary: Option<&std::path::Path>,
    args: &Args,
    mut options: FloodOptions,
    filters: bool,
) -> anyhow::Result<Row> {
    let server = FloodServer::bind("127.0.0.1:0")?;
    let url = server.irc_url()?;
    let (pid, mut echo, mut measured) = match binary {
        None => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c")
                .arg(args.bot_cpu.to_string())
                .arg(std::env::current_exe()?)
                .args(["--echo-child", &url]);
            let child = cmd.stdin(Stdio::piped()).spawn()?;
            (child.id(), Some(child), None)
        }
        Some(binary) => {
            let api = runtime.block_on(FakeTwitchApi::start(FakeApiOptions {
                bot_login: "mybot".into(),
                channel: "mychannel".into(),
                pending_polls: 0,
                ..FakeApiOptions::default()
            }))?;
            options.punished = Some(api.punishments());
            let changes = bot::Changes {
                unlimited: true,
                filters_off: !filters,
                banned_term: None,
            };
            let secrets = bot::fake_secrets(&api);
            let process = bot::launch(binary, args.bot_cpu, &api, &url, &changes, &secrets)?;
            (process.pid, None, Some((api, process, changes.describe())))
        }
    };
    // A bot that dies before the flood ends would leave the server waiting forever.
    let served = Arc::new(AtomicBool::new(false));
    let watching = served.clone();
    let sample_every = args.sample_every;
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let mut next_sample = Duration::ZERO;
        while !watching.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
            if let Some(secs) = sample_every
                && started.elapsed() >= next_sample
            {
                next_sample += Duration::from_secs(secs.max(1));
                let mb = |key| bot::status_kb(pid, key) as f64 / 1024.0;
                eprintln!(
                    "sample t={:>5}s RSS {:.1} MB (anon {:.1}, code/files {:.1})",
                    started.elapsed().as_secs(),
                    mb("VmRSS:"),
                    mb("RssAnon:"),
                    mb("RssFile:"),
                );
            }
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, rest)| rest.trim_start().to_string())
                });
            let gone = state.is_none_or(|s| s.starts_with('Z') || s.starts_with('X'));
            if gone && !watching.load(Ordering::Relaxed) {
                eprintln!("the bot (pid {pid}) exited before the flood ended: see its log");
                std::process::exit(1);
            }
        }
    });
    let mut at_join = (0.0, 0);
    let result = server.serve_one(&options, |_, _| {
        at_join = (bot::cpu_secs(pid), bot::status_kb(pid, "VmRSS:"));
    });
    served.store(true, Ordering::Relaxed);
    let cpu_total = bot::cpu_secs(pid);
    let peak_rss_kb = bot::status_kb(pid, "VmHWM:");
    if let Some(mut child) = echo.take() {
        drop(child.stdin.take());
        let _ = child.wait();
    }
    if let Some((_, process, _)) = measured.as_mut() {
        process.stop();
    }
    let (report, unfinished) = match result {
        Ok(r) => (r, None),
        Err(FloodError::NoFinalReply(wait, answered, commands, report)) => (
            *report,
            Some(format!(
                "the last !ping was not answered within {wait:?} of the last line \
                 ({answered} of {commands} of the flood's !pings answered)"
            )),
        ),
        Err(e) => {
            // What can still be said about a bot that did not finish.
            println!("  NOT FINISHED: {e}");
            println!(
                "  bot: peak RSS {:.1} MB (RSS at join {:.1} MB), CPU {:.2} s in all",
                peak_rss_kb as f64 / 1024.0,
                at_join.1 as f64 / 1024.0,
                cpu_total
            );
            if let Some((api, process, _)) = &measured {
                bot::print_helix(api);
                bot::print_log(process);
            }
            return Err(e.into());
        }
    };
    Ok(Row {
        report,
        unfinished,
        chatters: options.chatters,
        rss_at_join_kb: at_join.1,
        peak_rss_kb,
        cpu_flood: cpu_total - at_join.0,
        cpu_total,
        measured,
    })
}

fn print_row(name: &str, row: &Row) {
    let r = &row.report;
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    println!("{name}");
    if let Some((_, _, changes)) = &row.measured {
        println!("  configs: committed, changed: {changes}");
    }
    if let Some(why) = &row.unfinished {
        println!("  NOT FINISHED: {why}; figures up to then");
    }
    println!(
        "  {} lines from {} chatters ({} !ping, {} withheld by Twitch's rule; {} answered) in {:.3} s \
         (sending took {:.3} s): {:.0} msgs/s ingested",
        r.messages,
        row.chatters,
        r.commands,
        r.commands_withheld,
        r.replies,
        r.elapsed.as_secs_f64(),
        r.send_time.as_secs_f64(),
        r.msgs_per_sec()
    );
    if r.withheld > 0 {
        println!(
            "  lines withheld (banned or timed-out senders): {}",
            r.withheld
        );
    }
    println!(
        "  reply latency p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        ms(r.percentile(50.0)),
        ms(r.percentile(99.0)),
        ms(r.latencies.last().copied())
    );
    if r.regular_sent + r.regular_withheld > 0 {
        println!(
            "  regular's !ping every second: {} sent ({} withheld), {} answered; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            r.regular_sent,
            r.regular_withheld,
            r.regular.len(),
            ms(percentile(&r.regular, 50.0)),
            ms(percentile(&r.regular, 99.0)),
            ms(r.regular.last().copied())
        );
    }
    println!(
        "  bot: peak RSS {:.1} MB (RSS at join {:.1} MB), CPU {:.2} s during the flood, {:.2} s in all",
        row.peak_rss_kb as f64 / 1024.0,
        row.rss_at_join_kb as f64 / 1024.0,
        row.cpu_flood,
        row.cpu_total
    );
    if let Some((api, process, _)) = &row.measured {
        bot::print_helix(api);
        bot::print_log(process);
    }
    let _ = std::io::stdout().flush();
}

fn serve_only(port: u16, args: &Args) -> anyhow::Result<()> {
    let server = FloodServer::bind(&format!("127.0.0.1:{port}"))?;
    let options = options_from(
        args,
        FloodOptions {
            chatters: args.chatters.max(1),
            ..FloodOptions::default()
        },
    );
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
            unfinished: None,
            chatters: options.chatters,
            rss_at_join_kb: 0,
            peak_rss_kb: 0,
            cpu_flood: f64::NAN,
            cpu_total: f64::NAN,
            measured: None,
        },
    );
    println!(
        "  (RSS and CPU: read /proc/<pid>/status VmHWM and /proc/<pid>/stat of the bot yourself)"
    );
    Ok(())
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
