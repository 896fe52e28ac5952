//! twitch-bot: a self-hosted, asynchronous Twitch bot with a sandboxed Rhai scripting host.
//!
//! How the pieces fit, in the order an event travels:
//!
//! - [`cli`] and [`config`]: what the streamer asked for (flags, `configs/*.yaml`);
//!   [`subsystems`]: the one list of the parts a flag switches off.
//! - Sources turn the outside world into [`event::Event`]s: [`twitch::chat`] (IRC over TCP, TLS or
//!   WebSocket, parsed by [`twitch::irc`]) and, in `--offline` mode, the simulated Twitch in
//!   [`sim`].
//! - [`queue`]: the one bounded queue every source feeds.
//! - [`dispatch`]: the one consumer; moderation first, then commands and scripts; the chat
//!   built-ins and their order in `dispatch/builtins.rs`; [`commands`]: the text commands
//!   moderators manage from chat and the console, and the regulars list.
//! - [`outputs`]: the one place [`action::Action`]s leave the bot (chat, the Twitch API,
//!   moderation's action queue, integrations), for the dispatcher, scripts and the console.
//! - [`storage`] (the redb file: viewers, points, event ids), [`loyalty`] (who earns what),
//!   [`cache`] (in-memory values with a lifespan) and [`import`] (other bots' exports).
//! - [`integrations`]: OBS, Discord, ZeroMQ, sound, hotkeys and desktop notifications.
//! - [`stats`]: stream statistics, their chart and report.
//! - [`console`]: the web console and JSON HTTP API, talking to the bot through a trait.
//! - [`app`]: starts and stops all of it; [`supervisor`] restarts its tasks; [`exit`]: the codes
//!   the process ends with; [`service`]: the systemd unit that keeps it running; [`check`]:
//!   `check --live`.
//! - Small helpers every layer may use: [`event`] (the vocabulary), [`clock`] (report
//!   times) and [`panics`] (foreign calls that panic instead of failing).
//!
//! The modules above import each other without cycles and none imports [`app`]
//! (`tests/architecture.rs` checks it).
//!
//! This is the code's map. What the bot does for its users is documented beside the code: the
//! `README.md` (start here), `docs/configuration.md` (every config key), `docs/console-api.md`
//! (the HTTP API, checked against [`console::server::ROUTES`] by `tests/docs.rs`),
//! `docs/security.md`, `docs/integrations.md`, `docs/moderation.md`, `docs/loyalty.md`,
//! `docs/stats.md`, `docs/commands.md`, `docs/offline.md`, `docs/performance.md`, and `scripts/README.md` for script
//! authors.

// No panics on bad input: errors are returned and reported, never unwrapped (tests may).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod action;
pub mod app;
pub mod backoff;
pub mod cache;
pub mod check;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod console;
pub mod dispatch;
pub mod event;
pub mod exit;
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod import;
pub mod integrations;
pub mod loyalty;
pub mod moderation;
pub mod outputs;
pub mod panics;
pub mod queue;
pub mod scripting;
pub mod service;
pub mod sim;
pub mod stats;
pub mod storage;
pub mod subsystems;
pub mod supervisor;
pub mod twitch;
