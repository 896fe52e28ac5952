//! The simulated Twitch used by `--offline` and by tests: a chat server speaking Twitch's IRC
//! dialect on 127.0.0.1 ([`chat`]), simulated viewers ([`viewer`]) and the terminal driver
//! ([`terminal`]), and the Twitch API side: Helix, OAuth and EventSub WebSocket on one port
//! ([`helix`], [`auth`], [`eventsub`]). The bot's real client code talks to it exactly as it would to Twitch.

pub mod auth;
pub mod chat;
pub mod eventsub;
pub mod helix;
pub mod terminal;
pub mod viewer;

pub use chat::{ClientLine, FakeChat, FakeChatOptions, SentMessage};
pub use helix::{FakeApiOptions, FakeTwitchApi};
pub use viewer::Viewer;
