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

/// One request body for a console JSON endpoint (the first byte picks which), parsed and checked
/// as its handler does before the backend sees it. A simulated event that passes is also
/// serialised, as the live log does.
pub fn console_body(data: &[u8]) {
    use crate::console::{api, auth};
    use crate::sim::requests;
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 7 {
        0 => drop(api::chat_request(body)),
        1 => drop(api::discord_request(body)),
        2 => drop(api::zmq_request(body)),
        3 => drop(requests::sim_chat_request(body)),
        4 => {
            if let Ok(event) = requests::sim_event_request(body) {
                // What the simulator accepted is a well-formed event the scripts can read.
                let json = serde_json::to_value(&event).ok();
                assert!(json.is_some(), "an accepted event serialises: {event:?}");
                std::hint::black_box(event.kind.topic());
            }
        }
        5 => drop(auth::pasted_token(body)),
        _ => drop(requests::sim_raid_request(body)),
    }
}

/// One answer from Twitch's API or OAuth server (the first byte picks the endpoint and whether it
/// succeeded), decoded as the clients do, then used as the bot uses it.
pub fn twitch_answer(data: &[u8]) {
    use crate::twitch::{auth, helix};
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let url = "http://127.0.0.1:1/helix/fuzz?first=100";
    match which % 12 {
        0 => helix_page::<helix::User>(url, body, |u| {
            std::hint::black_box(humantime::parse_rfc3339_weak(&u.created_at).ok());
        }),
        1 => helix_page::<helix::Stream>(url, body, |s| {
            std::hint::black_box(humantime::parse_rfc3339_weak(&s.started_at).ok());
        }),
        2 => helix_page::<helix::Chatter>(url, body, |_| {}),
        3 => helix_page::<helix::Follower>(url, body, |f| {
            std::hint::black_box(humantime::parse_rfc3339_weak(&f.followed_at).ok());
        }),
        4 => helix_page::<helix::Subscription>(url, body, |_| {}),
        5 => helix_page::<helix::Emote>(url, body, |_| {}),
        6 => helix_page::<helix::EventSubSubscription>(url, body, |_| {}),
        7 => {
            let text = String::from_utf8_lossy(body).into_owned();
            let message = helix::error_message(text);
            std::hint::black_box(message);
        }
        8 => {
            if let Ok(code) = serde_json::from_slice::<auth::DeviceCode>(body) {
                let (interval, lifetime) = code.timing();
                assert!(interval >= std::time::Duration::from_secs(1));
                assert!(lifetime <= std::time::Duration::from_secs(86_400));
            }
        }
        9 => {
            if let Ok(token) = serde_json::from_slice::<auth::TokenResponse>(body) {
                std::hint::black_box(format!("{token:?}"));
            }
        }
        10 => {
            if let Ok(v) = serde_json::from_slice::<auth::Validation>(body) {
                std::hint::black_box((v.expires_in / 3600, (v.expires_in % 3600) / 60));
            }
        }
        _ => {
            let text = String::from_utf8_lossy(body).into_owned();
            std::hint::black_box(auth::refusal(400, text).to_string());
        }
    }
}

fn helix_page<T: serde::de::DeserializeOwned>(url: &str, body: &[u8], mut each: impl FnMut(&T)) {
    let Ok(value) = crate::twitch::helix::read_answer(url, 200, body) else {
        return;
    };
    if let Ok(page) = crate::twitch::helix::page::<T>(url, value) {
        page.data.iter().for_each(&mut each);
        std::hint::black_box((page.total, page.pagination.and_then(|p| p.cursor)));
    }
}

pub use moderation_pipeline::moderation_pipeline;
#[cfg(feature = "test-support")]
pub use script_host::{script_host, script_host_call, script_host_calls};

mod moderation_pipeline;
#[cfg(feature = "test-support")]
mod script_host;
