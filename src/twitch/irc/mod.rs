//! The Twitch IRC wire format: one line parsed without copying ([`IrcLine`]), and what a line
//! means ([`interpret`]): a control message for the connection or an [`Event`] for the bot.
//!
//! Pure functions over text; no I/O. Never panics on any input.

mod line;

pub use line::{IrcLine, ParseError, TagValue};

use crate::event::Event;

/// What a line from the server means to the connection and to the rest of the bot.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// `PING :token`: answer `PONG :token`.
    Ping(String),
    /// The answer to our own PING.
    Pong,
    /// `RECONNECT`: the server is going away; reconnect and rejoin.
    Reconnect,
    /// `001`: the login was accepted.
    Welcome,
    /// A NOTICE saying the login failed (bad or expired token).
    LoginFailed(String),
    /// `CAP * ACK :caps` / `CAP * NAK :caps`.
    CapAck(String),
    CapNak(String),
    /// Something for the bot: chat, notices, room state, membership, ...
    Event(Event),
    /// Numerics and commands with no meaning for the bot (002-004, 353, 366, 372, 375, 376, ...).
    Ignored,
}

/// Interprets a parsed line.
pub fn interpret(line: &IrcLine<'_>) -> Incoming {
    match line.command() {
        "PING" => Incoming::Ping(line.trailing().unwrap_or("tmi.twitch.tv").to_string()),
        "PONG" => Incoming::Pong,
        "RECONNECT" => Incoming::Reconnect,
        "001" => Incoming::Welcome,
        _ => Incoming::Ignored,
    }
}
