//! Builders for tests, benches and fuzz targets (the `test-support` feature; a release build
//! has none).

use compact_str::CompactString;

use super::{ChatMessage, Chatter, EmoteRange, Roles};

/// Builders for tests, benches and fuzz targets (the `test-support` feature; a release build has
/// none): a chatter or a chat line with everything a test does not care about left plain.
#[cfg(any(test, feature = "test-support"))]
impl Chatter {
    /// A viewer with no roles or badges: user id `id-<login>`, display name `login` in capitals.
    pub fn test(login: &str) -> Chatter {
        Chatter {
            id: format!("id-{login}").into(),
            login: login.into(),
            display_name: login.to_uppercase().into(),
            ..Chatter::default()
        }
    }

    /// The same chatter with Twitch user id `id`.
    #[must_use]
    pub fn user_id(mut self, id: &str) -> Chatter {
        self.id = id.into();
        self
    }

    /// The same chatter shown as `name`.
    #[must_use]
    pub fn display_name(mut self, name: &str) -> Chatter {
        self.display_name = name.into();
        self
    }

    /// The same chatter holding `roles`.
    #[must_use]
    pub fn roles(mut self, roles: Roles) -> Chatter {
        self.roles = roles;
        self
    }
}

#[cfg(any(test, feature = "test-support"))]
impl ChatMessage {
    /// A plain line `text` from [`Chatter::test`]`(login)` in `#chan` (room id `1`), message id
    /// `m1`, no emotes, bits, reply or Shared Chat source, sent at time 0.
    pub fn test(login: &str, text: &str) -> ChatMessage {
        ChatMessage {
            id: "m1".into(),
            channel: "chan".into(),
            room_id: "1".into(),
            sender: Chatter::test(login),
            text: text.into(),
            action: false,
            emotes: Vec::new(),
            bits: 0,
            first_msg: false,
            returning_chatter: false,
            sub_months: 0,
            reply_parent: None,
            source_room_id: None,
            source_id: None,
            sent_ms: 0,
        }
    }

    /// The same line with message id `id`.
    #[must_use]
    pub fn id(mut self, id: impl Into<CompactString>) -> ChatMessage {
        self.id = id.into();
        self
    }

    /// The same line in channel `channel` (login, without `#`) whose user id is `room_id`.
    #[must_use]
    pub fn in_channel(mut self, channel: &str, room_id: &str) -> ChatMessage {
        self.channel = channel.into();
        self.room_id = room_id.into();
        self
    }

    /// The same line written by `sender`.
    #[must_use]
    pub fn sender(mut self, sender: Chatter) -> ChatMessage {
        self.sender = sender;
        self
    }

    /// The same line with `bits` cheered.
    #[must_use]
    pub fn bits(mut self, bits: u32) -> ChatMessage {
        self.bits = bits;
        self
    }

    /// The same line with Twitch's emote ranges `emotes`.
    #[must_use]
    pub fn emotes(mut self, emotes: Vec<EmoteRange>) -> ChatMessage {
        self.emotes = emotes;
        self
    }

    /// The same line sent at `ms` milliseconds since the epoch.
    #[must_use]
    pub fn sent_ms(mut self, ms: u64) -> ChatMessage {
        self.sent_ms = ms;
        self
    }
}
