//! Everything that speaks to Twitch: the IRC wire format ([`irc`]) and the chat connection
//! ([`chat`]). Helix, OAuth and EventSub join here.

pub mod chat;
pub mod irc;
