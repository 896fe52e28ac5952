//! Entry points shared by the fuzz targets (`fuzz/`), their regression tests
//! (`tests/fuzz_regressions.rs`) and the property tests: each takes arbitrary bytes and must
//! return without panicking, whatever they are.

use std::path::Path;

use crate::config::{bot::BotConfig, hotkeys::HotkeysConfig, loyalty::LoyaltyConfig};
use crate::config::{moderation::ModerationConfig, parse_str, secrets::Secrets};

/// One IRC line: parsed, then read as a Twitch message.
pub fn irc_line(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(line) = crate::twitch::irc::IrcLine::parse(text) {
        let incoming = crate::twitch::irc::interpret(&line);
        std::hint::black_box(&incoming);
    }
}

/// One EventSub WebSocket frame: the envelope and, for notifications, the channel event.
pub fn eventsub_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = std::hint::black_box(crate::twitch::eventsub::decode(text));
}

/// One YAML document read as each of the config files (the first byte picks which).
pub fn config_yaml(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let file = Path::new("configs/fuzz.yaml");
    match which % 5 {
        0 => drop(parse_str::<BotConfig>(file, text, false)),
        1 => drop(parse_str::<ModerationConfig>(file, text, false)),
        2 => drop(parse_str::<LoyaltyConfig>(file, text, false)),
        3 => drop(parse_str::<HotkeysConfig>(file, text, false)),
        _ => drop(parse_str::<Secrets>(file, text, true)),
    }
}

/// One chat text through the moderation normaliser.
pub fn moderation_normalize(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let normalized = crate::moderation::normalize::normalize(&text);
    // Text the moderator matches as written must be exactly what normalising would give.
    if crate::moderation::normalize::is_plain(&text) {
        let as_written = text.trim().to_ascii_lowercase();
        assert_eq!(normalized.text, as_written, "plain text changed: {text:?}");
        assert_eq!(normalized.plain, as_written, "plain text changed: {text:?}");
        assert!(normalized.glued.is_empty() && normalized.alt.is_none());
    }
}
