//! Runs the bot as a process: loads the configs, starts the [`Bot`], talks to the terminal
//! (the simulator's prompt offline, console sign-in links live) until Ctrl-C, SIGTERM or a task
//! asks to end, then shuts down and picks the exit code.

use tracing::info;

use super::{Bot, Settings};
use crate::config::Config;

/// Runs the bot until Ctrl-C, SIGTERM or a task asks the process to end, and returns the exit
/// code (see [`crate::exit`]): a config that does not load is [`crate::exit::CONFIG`], so a
/// service manager does not restart into the same error.
///
/// # Errors
/// A start-up error, already worded for the user.
pub async fn run(settings: Settings) -> anyhow::Result<u8> {
    let config = match Config::load(&settings.config_dir) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(crate::exit::CONFIG);
        }
    };
    let config_open_on_start = config.bot.console.open_on_start;
    let bot = Bot::start(settings.clone(), config).await?;
    let shutdown = bot.shutdown_token();
    if let Some(url) = bot.console_login_url() {
        println!("Web console: {url}  (this link signs your browser in once)");
        if config_open_on_start {
            crate::console::open_in_browser(&url);
        }
    }
    match bot.sim() {
        Some(sim) => {
            println!(
                "Offline mode: a simulated Twitch runs on 127.0.0.1 and the bot has joined #{}.\n{}",
                bot.channel(),
                crate::sim::terminal::HELP
            );
            tokio::select! {
                _ = crate::sim::terminal::run(sim, shutdown.clone(), || {
                    crate::console::terminal::link_line(bot.console_login_url())
                }) => {}
                _ = shutdown_signal() => {}
                _ = shutdown.cancelled() => {}
            }
        }
        None => {
            if bot.console_addr().is_some() {
                println!("Type /console here for a new web console sign-in link.");
            }
            let stdin = tokio::io::BufReader::new(tokio::io::stdin());
            tokio::select! {
                _ = crate::console::terminal::live(stdin, std::io::stdout(), || bot.console_login_url()) => {}
                _ = shutdown_signal() => {}
                _ = shutdown.cancelled() => {}
            }
        }
    }
    info!("shutting down");
    let exit = bot.exit();
    bot.shutdown().await;
    Ok(exit.requested().map_or(crate::exit::OK, |(code, _)| code))
}

/// Resolves on Ctrl-C or (Unix) SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
