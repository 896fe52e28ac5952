//! The simulated Twitch used by `--offline` and by tests: a chat server speaking Twitch's IRC
//! dialect on 127.0.0.1 ([`chat`]), simulated viewers ([`viewer`]) and the terminal driver
//! ([`terminal`]). The bot's real client code talks to it exactly as it would to Twitch.

pub mod chat;
pub mod terminal;
pub mod viewer;

pub use chat::{ClientLine, FakeChat, FakeChatOptions, SentMessage};
pub use viewer::Viewer;
