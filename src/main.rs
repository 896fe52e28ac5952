//! The `twitch-bot` binary: parse the command line, set up logs, run the app.

// No panics on bad input: errors are returned and reported, never unwrapped (tests may).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use twitch_bot::app::{self, Settings};
use twitch_bot::cli::{Cli, Command, ServiceAction};
use twitch_bot::subsystems::Subsystem;

/// Dependencies whose trace level logs message payloads, secrets included.
const WIRE_DUMPERS: [&str; 3] = ["tungstenite", "tokio_tungstenite", "obws"];

fn main() -> ExitCode {
    let cli: Cli = argh::from_env();
    if cli.version {
        println!("{}", twitch_bot::cli::version());
        return ExitCode::SUCCESS;
    }
    // enigo logs its own failure to reach a display at error level; the hotkeys integration
    // says the same once, with what to do.
    let default_level = if cli.verbose {
        "info,twitch_bot=debug,enigo=off"
    } else {
        "info,enigo=off"
    };
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    // At trace level these crates write whole WebSocket frames and messages: the chat login
    // (`PASS oauth:<token>`) and obs-websocket answers (`GetStreamServiceSettings` holds the
    // stream key). Their debug lines hold no payloads, so that is as far as they go, whatever
    // RUST_LOG asks.
    for quiet in WIRE_DUMPERS {
        if let Ok(directive) = format!("{quiet}=debug").parse() {
            filter = filter.add_directive(directive);
        }
    }
    // Logs go to stderr, so the offline terminal's chat on stdout stays readable.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    if cli.nopubsub {
        tracing::info!(
            "--nopubsub: nothing to switch off. Twitch shut PubSub down in April 2025; EventSub covers all of it."
        );
    }
    let settings = Settings::from_cli(&cli);
    // Before anything can panic: a crash leaves <data>/crash.log and, unless --nonotify, a
    // desktop notification (`notifications.on_crash` may turn that off once the config is read).
    twitch_bot::integrations::notify::crash::install(
        &settings.data_dir,
        settings.enabled.contains(Subsystem::Notify),
    );
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match &cli.command {
        None => runtime.block_on(app::run(settings)).map(ExitCode::from),
        Some(Command::Check(cmd)) => runtime
            .block_on(check(
                Settings {
                    offline: settings.offline || cmd.offline,
                    ..settings
                },
                cmd.live,
            ))
            .map(|()| ExitCode::SUCCESS),
        Some(Command::Service(cmd)) => match &cmd.action {
            ServiceAction::Install(install) => {
                twitch_bot::service::install(install.workdir.clone(), cli.run_args(), install.force)
                    .map(|said| {
                        println!("{said}");
                        ExitCode::SUCCESS
                    })
            }
        },
        Some(Command::Auth(cmd)) => runtime
            .block_on(auth(settings, cmd.code_flow))
            .map(|()| ExitCode::SUCCESS),
        Some(Command::ConsoleLink(_)) => runtime
            .block_on(twitch_bot::console::request_login_link(
                &settings.config_dir,
            ))
            .map(|url| {
                println!("Web console: {url}  (this link signs your browser in once)");
                ExitCode::SUCCESS
            })
            .map_err(anyhow::Error::msg),
        Some(Command::Import(cmd)) => import(&settings, &cmd.file).map(|()| ExitCode::SUCCESS),
        Some(Command::Commands(cmd)) => text_commands(&settings, &cmd.action),
        Some(Command::Stats(cmd)) => {
            stats(&settings, cmd.stream.as_deref()).map(|()| ExitCode::SUCCESS)
        }
    };
    // Stdin is read on a blocking thread that cannot be interrupted: don't wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `twitch-bot commands export|import <file.yaml>`.
fn text_commands(
    settings: &Settings,
    action: &twitch_bot::cli::CommandsAction,
) -> anyhow::Result<ExitCode> {
    use twitch_bot::cli::CommandsAction;
    use twitch_bot::commands::transfer;
    let storage = twitch_bot::storage::Storage::open(twitch_bot::storage::StorageOptions {
        backup_on_open: false,
        ..twitch_bot::storage::StorageOptions::new(&settings.data_dir)
    })?;
    let result = match action {
        CommandsAction::Export(cmd) => transfer::export(&storage, &cmd.file),
        CommandsAction::Import(cmd) => transfer::import(&storage, &settings.scripts_dir, &cmd.file),
    };
    storage.close()?;
    println!("{}", result.map_err(anyhow::Error::msg)?);
    Ok(ExitCode::SUCCESS)
}

fn stats(settings: &Settings, stream: Option<&str>) -> anyhow::Result<()> {
    let storage = twitch_bot::storage::Storage::open(twitch_bot::storage::StorageOptions {
        backup_on_open: false,
        ..twitch_bot::storage::StorageOptions::new(&settings.data_dir)
    })?;
    let out = twitch_bot::stats::command(&storage, &settings.data_dir, stream);
    storage.close()?;
    println!("{}", out?);
    Ok(())
}

/// `check`, and with `live` also `check --live` (see [`twitch_bot::check`]).
async fn check(settings: Settings, live: bool) -> anyhow::Result<()> {
    let mut problems = 0;
    for e in twitch_bot::config::check(&settings.config_dir) {
        eprintln!("{e}");
        problems += 1;
    }
    for e in twitch_bot::scripting::check_dir(&settings.scripts_dir) {
        eprintln!("{e}");
        problems += 1;
    }
    if problems == 0 {
        println!(
            "configs in {} and scripts in {} are valid",
            settings.config_dir.display(),
            settings.scripts_dir.display()
        );
    }
    if live {
        let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
        let options = twitch_bot::check::LiveOptions {
            obs: settings.enabled.contains(Subsystem::Obs),
            discord: settings.enabled.contains(Subsystem::Discord),
            offline: settings.offline,
        };
        let report =
            twitch_bot::check::run(&settings.config_dir, settings.channel.as_deref(), options)
                .await?;
        print!("{}", report.render());
        problems += report.failures();
    }
    if problems > 0 {
        anyhow::bail!("{problems} problem(s) found");
    }
    Ok(())
}

async fn auth(settings: Settings, code_flow: bool) -> anyhow::Result<()> {
    let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = &settings.config_dir;
    let bot = twitch_bot::config::load_file::<twitch_bot::config::BotConfig>(&dir.join("bot.yaml"))
        .map_err(first_error)?;
    let secrets =
        twitch_bot::config::secrets::load(&dir.join("secrets.yaml")).map_err(first_error)?;
    twitch_bot::twitch::auth::run_auth_with(dir, &bot, &bot.auth, &secrets, code_flow).await
}

fn import(settings: &Settings, file: &std::path::Path) -> anyhow::Result<()> {
    let storage = twitch_bot::storage::Storage::open(twitch_bot::storage::StorageOptions::new(
        &settings.data_dir,
    ))?;
    let summary = twitch_bot::import::run(&storage, file)?;
    storage.close()?;
    println!("{summary}");
    Ok(())
}

fn first_error(errors: Vec<twitch_bot::config::ConfigError>) -> anyhow::Error {
    match errors.into_iter().next() {
        Some(e) => anyhow::anyhow!("{e}"),
        None => anyhow::anyhow!("invalid config"),
    }
}

/// The async runtime, its flavour chosen by the CPUs this process may use. On one (a small
/// VPS, or the bot pinned next to OBS with `taskset`), tokio's current-thread scheduler runs
/// every task on the main thread: no work-stealing bookkeeping and no hand-over between a
/// worker and the I/O driver, which a one-worker multi-thread runtime still pays per wake-up.
/// Scripts, the storage writer and blocking calls keep their own threads either way.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut builder = if cpus == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build()
}
