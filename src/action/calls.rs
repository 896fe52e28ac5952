//! The calls scripts and the console make on Discord, sound, hotkeys, ZeroMQ and the Twitch API:
//! typed, checked where they are made (what can be checked without the running integration:
//! empty fields, sizes, file names), and read from a call by name and its JSON data for the
//! console. What needs the running integration (a webhook's name, a hotkey's name) is checked
//! when it carries the call out.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::CallError;

/// Longest Discord message, in characters (Discord's own limit).
pub const DISCORD_MAX_CONTENT: usize = 2000;

/// The sound file kinds the bot plays, in the order a name without an extension is looked for.
pub const SOUND_EXTENSIONS: &[&str] = &["wav", "ogg", "mp3", "flac"];

/// Longest custom ZeroMQ topic, in bytes.
pub const ZMQ_MAX_TOPIC: usize = 256;

/// A message for Discord.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum DiscordCall {
    /// Post `text` to a named webhook or channel.
    Send {
        /// The webhook's or channel's name; empty or `default` is the default target.
        target: String,
        /// The message, trimmed, 1 to [`DISCORD_MAX_CONTENT`] characters.
        text: String,
    },
}

impl DiscordCall {
    /// Reads a call by name: `send` with `{text, target?}` (`webhook` is the same as `target`).
    ///
    /// # Errors
    /// [`CallError::UnknownCall`] for another name, [`CallError::BadData`] for a missing or
    /// too long text.
    pub fn parse(call: &str, data: Value) -> Result<DiscordCall, CallError> {
        if call != "send" {
            return Err(CallError::UnknownCall {
                integration: "discord".into(),
                call: call.into(),
            });
        }
        let text = data["text"].as_str().unwrap_or_default();
        // Scripts say `webhook`, the console and programs may say `target`.
        let target = data["target"]
            .as_str()
            .or_else(|| data["webhook"].as_str())
            .unwrap_or_default();
        DiscordCall::send(target, text)
    }

    /// A message for `target` (empty: the default), checked.
    ///
    /// # Errors
    /// [`CallError::BadData`] when the text is empty or longer than Discord takes.
    pub fn send(target: &str, text: &str) -> Result<DiscordCall, CallError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CallError::BadData("send needs a `text`".into()));
        }
        let chars = text.chars().count();
        if chars > DISCORD_MAX_CONTENT {
            return Err(CallError::BadData(format!(
                "the Discord message has {chars} characters; Discord takes at most {DISCORD_MAX_CONTENT}"
            )));
        }
        Ok(DiscordCall::Send {
            target: target.to_owned(),
            text: text.to_owned(),
        })
    }
}

/// A sound to play or skip.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum SoundCall {
    /// Queue a file from the sounds folder.
    Play {
        /// A bare file name (no folders), with or without one of [`SOUND_EXTENSIONS`].
        file: String,
        /// From 0.0 to 1.0, times `sound.volume`.
        volume: f32,
    },
    /// Skip the sound playing now.
    Skip,
}

impl SoundCall {
    /// Reads a call by name: `play` with `{file, volume?}`, or `skip`.
    ///
    /// # Errors
    /// [`CallError::UnknownCall`] for another name, [`CallError::BadData`] naming the field.
    pub fn parse(call: &str, data: Value) -> Result<SoundCall, CallError> {
        match call {
            "play" => {
                let file = data.get("file").and_then(Value::as_str).ok_or_else(|| {
                    CallError::BadData("sound.play needs `file`, a file name".into())
                })?;
                let volume = match data.get("volume") {
                    None | Some(Value::Null) => 1.0,
                    Some(v) => v
                        .as_f64()
                        .filter(|v| (0.0..=1.0).contains(v))
                        .ok_or_else(|| bad_volume(v))? as f32,
                };
                SoundCall::play(file, volume)
            }
            "skip" => Ok(SoundCall::Skip),
            _ => Err(CallError::UnknownCall {
                integration: "sound".into(),
                call: call.into(),
            }),
        }
    }

    /// Playing `file` at `volume` (0.0 to 1.0), checked.
    ///
    /// # Errors
    /// [`CallError::BadData`] for a name that is not a bare sound file's, or a volume out of
    /// range.
    pub fn play(file: &str, volume: f32) -> Result<SoundCall, CallError> {
        check_sound_file(file)?;
        if !(0.0..=1.0).contains(&volume) {
            return Err(bad_volume(volume));
        }
        Ok(SoundCall::Play {
            file: file.to_owned(),
            volume,
        })
    }
}

fn bad_volume(v: impl std::fmt::Display) -> CallError {
    CallError::BadData(format!(
        "sound.play: volume {v} is not a number from 0.0 to 1.0"
    ))
}

/// Checks a sound's file name: bare (no folders, no leading dot), and of a kind the bot plays
/// when it has an extension.
fn check_sound_file(file: &str) -> Result<(), CallError> {
    if file.is_empty() || file.starts_with('.') || file.contains(['/', '\\', '\0']) {
        return Err(CallError::BadData(format!(
            "sound.play: `{file}` is not a file name in the sounds folder (no folders, no leading dot)"
        )));
    }
    match sound_extension(file) {
        None => Ok(()),
        Some(ext) if SOUND_EXTENSIONS.contains(&ext.as_str()) => Ok(()),
        Some(_) => Err(CallError::BadData(format!(
            "sound.play: `{file}` is not a sound file the bot plays ({}); a name without an extension finds any of them",
            SOUND_EXTENSIONS.join(", ")
        ))),
    }
}

/// A file name's extension, lower-cased.
pub fn sound_extension(file: &str) -> Option<String> {
    Path::new(file)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// A key combination to press.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum HotkeyCall {
    /// Press the combination named in configs/hotkeys.yaml.
    Press {
        /// Its name under `keys:`.
        name: String,
    },
}

impl HotkeyCall {
    /// Reads a call by name: `press` with `{name}`.
    ///
    /// # Errors
    /// [`CallError::UnknownCall`] for another name, [`CallError::BadData`] without a name.
    pub fn parse(call: &str, data: Value) -> Result<HotkeyCall, CallError> {
        if call != "press" {
            return Err(CallError::UnknownCall {
                integration: "hotkeys".into(),
                call: call.into(),
            });
        }
        let name = data
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| CallError::BadData("hotkeys.press needs `name`".into()))?;
        Ok(HotkeyCall::Press {
            name: name.to_owned(),
        })
    }
}

/// A message to publish on ZeroMQ.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum ZmqCall {
    /// Publish `data` (as JSON) under `topic`.
    Publish {
        /// The topic, checked by [`check_topic`].
        topic: String,
        /// Any JSON.
        data: Value,
    },
}

impl ZmqCall {
    /// Reads a call by name: `publish` with `{topic, data?}`.
    ///
    /// # Errors
    /// [`CallError::UnknownCall`] for another name, [`CallError::BadData`] for data that is
    /// not a map or a topic that is missing or not fit.
    pub fn parse(call: &str, data: Value) -> Result<ZmqCall, CallError> {
        if call != "publish" {
            return Err(CallError::UnknownCall {
                integration: "zmq".into(),
                call: call.into(),
            });
        }
        let Value::Object(mut fields) = data else {
            return Err(CallError::BadData(
                "publish takes {\"topic\": \"...\", \"data\": ...}".into(),
            ));
        };
        let topic = match fields.remove("topic") {
            Some(Value::String(topic)) => topic,
            _ => return Err(CallError::BadData("publish needs a `topic` string".into())),
        };
        ZmqCall::publish(topic, fields.remove("data").unwrap_or(Value::Null))
    }

    /// Publishing `data` under `topic`, checked.
    ///
    /// # Errors
    /// [`CallError::BadData`] saying what is wrong with the topic.
    pub fn publish(topic: String, data: Value) -> Result<ZmqCall, CallError> {
        check_topic(&topic).map_err(CallError::BadData)?;
        Ok(ZmqCall::Publish { topic, data })
    }
}

/// Checks a custom ZeroMQ topic: not empty, at most [`ZMQ_MAX_TOPIC`] bytes, no control
/// characters.
///
/// # Errors
/// What is wrong with it, worded for a script author.
pub fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("the ZeroMQ topic is empty".into());
    }
    if topic.len() > ZMQ_MAX_TOPIC {
        return Err(format!(
            "the ZeroMQ topic is {} bytes long; at most {ZMQ_MAX_TOPIC}",
            topic.len()
        ));
    }
    if topic.chars().any(char::is_control) {
        return Err("the ZeroMQ topic contains control characters".into());
    }
    Ok(())
}

/// A Twitch API call a script asks for (`ctx.twitch.shoutout(user)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum HelixCall {
    /// Twitch's own shout-out for another channel.
    Shoutout {
        /// The channel's login (checked by the script API: letters, digits, `_`).
        login: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn play_takes_a_bare_sound_file_and_an_optional_volume() {
        assert_eq!(
            SoundCall::parse("play", json!({"file": "Horn.MP3"})),
            Ok(SoundCall::Play {
                file: "Horn.MP3".into(),
                volume: 1.0
            })
        );
        assert_eq!(
            SoundCall::parse("play", json!({"file": "a.ogg", "volume": 0.25})),
            Ok(SoundCall::Play {
                file: "a.ogg".into(),
                volume: 0.25
            })
        );
        assert_eq!(
            SoundCall::parse("play", json!({"file": "airhorn"})),
            Ok(SoundCall::Play {
                file: "airhorn".into(),
                volume: 1.0
            })
        );
    }

    #[test]
    fn bad_play_data_says_what_is_wrong() {
        let err = |v: Value| SoundCall::parse("play", v).unwrap_err().to_string();
        assert!(err(json!({})).contains("needs `file`"));
        assert!(err(json!({"file": "../secrets.yaml"})).contains("not a file name"));
        assert!(err(json!({"file": ".hidden.wav"})).contains("not a file name"));
        assert!(err(json!({"file": "notes.txt"})).contains("wav, ogg, mp3, flac"));
        assert!(err(json!({"file": "a.wav", "volume": 3})).contains("0.0 to 1.0"));
        assert!(err(json!({"file": "a.wav", "volume": "loud"})).contains("0.0 to 1.0"));
        assert!(
            SoundCall::play("a.wav", f32::NAN)
                .unwrap_err()
                .to_string()
                .contains("0.0 to 1.0")
        );
    }

    #[test]
    fn discord_messages_are_trimmed_and_bounded() {
        assert_eq!(
            DiscordCall::parse("send", json!({"text": " gg ", "webhook": "clips"})),
            Ok(DiscordCall::Send {
                target: "clips".into(),
                text: "gg".into()
            })
        );
        assert_eq!(
            DiscordCall::parse("send", json!({"text": "  "})),
            Err(CallError::BadData("send needs a `text`".into()))
        );
        let long = "é".repeat(DISCORD_MAX_CONTENT + 1);
        assert!(
            DiscordCall::send("", &long)
                .unwrap_err()
                .to_string()
                .contains("at most 2000")
        );
        assert!(matches!(
            DiscordCall::parse("edit", json!({})),
            Err(CallError::UnknownCall { .. })
        ));
    }

    #[test]
    fn zeromq_topics_are_checked() {
        assert!(check_topic("overlay.confetti").is_ok());
        assert!(check_topic("").is_err());
        assert!(check_topic("a\nb").is_err());
        assert!(check_topic(&"x".repeat(ZMQ_MAX_TOPIC + 1)).is_err());
        assert_eq!(
            ZmqCall::parse("publish", json!(["t"])),
            Err(CallError::BadData(
                "publish takes {\"topic\": \"...\", \"data\": ...}".into()
            ))
        );
        assert_eq!(
            ZmqCall::parse("publish", json!({"data": 1})),
            Err(CallError::BadData("publish needs a `topic` string".into()))
        );
        assert_eq!(
            ZmqCall::parse("publish", json!({"topic": "t"})),
            Ok(ZmqCall::Publish {
                topic: "t".into(),
                data: Value::Null
            })
        );
    }

    #[test]
    fn a_hotkey_press_needs_a_name() {
        assert_eq!(
            HotkeyCall::parse("press", json!({})),
            Err(CallError::BadData("hotkeys.press needs `name`".into()))
        );
    }
}
