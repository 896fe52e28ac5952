//! A flood server for the end-to-end benchmark: a Twitch-IRC-speaking TCP server on 127.0.0.1
//! that logs one client in, lets it join, then sends it N realistic tagged PRIVMSG lines (as
//! fast as the socket takes them, or paced) with a fraction of commands, and times each reply.
//!
//! It works against any bot that speaks Twitch IRC over plain TCP: it only needs PASS/NICK
//! (CAP REQ optional) and a JOIN. Replies are matched to commands by `reply-parent-msg-id` when
//! the bot threads its replies, otherwise in order. Blocking std threads rather than tokio, so
//! the timestamps are not delayed by a runtime's scheduling.
//!
//! This file holds what a run is asked and what it reports; `corpus` builds the lines sent, and
//! `server` speaks IRC to the bot, sends them and times the replies.

use std::time::Duration;

use super::punished::Punishments;

mod corpus;
mod server;

pub use corpus::{Corpus, corpus};
pub use server::FloodServer;

/// What to flood.
#[derive(Debug, Clone)]
pub struct FloodOptions {
    /// Chat lines to send (the last one is always a command, the end marker).
    pub messages: usize,
    /// Fraction of lines that are the command (0.0..=1.0).
    pub command_fraction: f64,
    /// The command text, e.g. `!ping`.
    pub command: String,
    /// Lines per second; `None` sends as fast as the socket takes them.
    pub rate: Option<f64>,
    /// Fraction of lines that are channel events instead of chat: resubs, gifted subs, raids
    /// (USERNOTICE) and cheers (PRIVMSG with `bits`), as Twitch sends them over IRC.
    pub event_fraction: f64,
    /// Seed for the corpus, so every run sends the same lines.
    pub seed: u64,
    /// How long to wait for the end marker's reply after the last line is written.
    pub reply_timeout: Duration,
    /// How many different chatters send the lines.
    pub chatters: usize,
    /// A regular viewer (a VIP, so chat filters let them repeat themselves) who types the
    /// command this often from the first line until the end marker is answered; measured
    /// apart from the corpus' commands ([`FloodReport::regular`]). The end marker is then
    /// theirs too: a flooding chatter's command may rightly go unanswered (moderation caught
    /// it), the regular's must not.
    pub regular_every: Option<Duration>,
    /// Twitch's delivery rule: a line from an account banned or timed out here is withheld
    /// (the end marker is always delivered, so the flood can end).
    pub punished: Option<Punishments>,
}

impl Default for FloodOptions {
    fn default() -> Self {
        FloodOptions {
            messages: 200_000,
            command_fraction: 0.01,
            command: "!ping".into(),
            rate: None,
            event_fraction: 0.0,
            seed: 0x5eed,
            reply_timeout: Duration::from_secs(60),
            chatters: 600,
            regular_every: None,
            punished: None,
        }
    }
}

/// Why a flood did not complete.
#[derive(Debug, thiserror::Error)]
pub enum FloodError {
    /// The server's socket failed.
    #[error("flood server I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The client went away before it joined a channel, so nothing was sent.
    #[error("the client closed the connection before joining a channel")]
    NoJoin,
    /// What was measured up to the deadline is in the report (`elapsed` ends there).
    #[error("no reply to the final command within {0:?} ({1} of {2} commands answered)")]
    NoFinalReply(Duration, usize, usize, Box<FloodReport>),
}

/// What a flood measured.
#[derive(Debug, Clone)]
pub struct FloodReport {
    /// The login the client gave with NICK.
    pub login: String,
    /// The channel it joined.
    pub channel: String,
    /// Lines sent in the flood.
    pub messages: usize,
    /// Commands among them, each waiting for a reply.
    pub commands: usize,
    /// Replies matched to a command.
    pub replies: usize,
    /// From the first line written to the final command's reply (the client consumed all).
    pub elapsed: Duration,
    /// From the first line written to the last line written.
    pub send_time: Duration,
    /// Reply latencies, sorted: reply arrival minus the time the command's write began.
    pub latencies: Vec<Duration>,
    /// Lines withheld by the delivery rule (a banned or timed-out sender's).
    pub withheld: usize,
    /// Commands among the withheld lines, which no reply can answer.
    pub commands_withheld: usize,
    /// How many commands the regular viewer typed.
    pub regular_sent: usize,
    /// How many of the regular viewer's commands were withheld.
    pub regular_withheld: usize,
    /// The regular viewer's reply latencies, sorted (reply arrival minus the moment the
    /// command was due).
    pub regular: Vec<Duration>,
}

impl FloodReport {
    /// Lines the client consumed per second.
    pub fn msgs_per_sec(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `p`-th percentile (0..=100) of the reply latencies.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        percentile(&self.latencies, p)
    }
}

/// The `p`-th percentile (0..=100) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted.get(rank.min(sorted.len() - 1)).copied()
}
