//! The `twitch-bot` binary: parse the command line, set up logs, run the app.

use std::process::ExitCode;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use twitch_bot::app::{self, Settings};
use twitch_bot::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli: Cli = argh::from_env();
    let default_level = if cli.verbose {
        "info,twitch_bot=debug"
    } else {
        "info"
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();

    if cli.nopubsub {
        tracing::info!(
            "--nopubsub: nothing to switch off. Twitch shut PubSub down in April 2025; EventSub covers all of it."
        );
    }
    let settings = Settings::from_cli(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match &cli.command {
        None => runtime.block_on(app::run(settings)),
        Some(Command::Check(_)) => runtime.block_on(check(settings)),
        Some(Command::Auth(_)) => not_yet("auth"),
        Some(Command::Import(_)) => not_yet("import"),
        Some(Command::Stats(_)) => not_yet("stats"),
    };
    // Stdin is read on a blocking thread that cannot be interrupted: don't wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn not_yet(name: &str) -> anyhow::Result<()> {
    println!("`twitch-bot {name}` is not available yet.");
    Ok(())
}

async fn check(settings: Settings) -> anyhow::Result<()> {
    let errors = twitch_bot::config::check(&settings.config_dir);
    for e in &errors {
        eprintln!("{e}");
    }
    if !errors.is_empty() {
        anyhow::bail!("{} problem(s) found", errors.len());
    }
    println!("configs in {} are valid", settings.config_dir.display());
    Ok(())
}
