//! Everything that speaks to Twitch: the IRC wire format ([`irc`]), the chat connection
//! ([`chat`]), OAuth ([`auth`]) and the scopes each feature needs ([`scopes`]), the Helix API ([`helix`], the broadcaster's tools in [`broadcaster`]) and its rate-limit gate ([`gate`]), EventSub over WebSocket
//! ([`eventsub`]), stream state ([`stream`]) and emote names ([`emotes`]).

pub mod app_token;
pub mod auth;
pub mod broadcaster;
pub mod chat;
pub mod emotes;
pub mod eventsub;
pub mod gate;
pub mod helix;
pub mod irc;
pub mod scopes;
pub mod stream;
