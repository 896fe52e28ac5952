//! OBS's events, as obws parses them, turned into the bot's [`ObsEvent`]s. Only what scripts
//! and ZeroMQ subscribers act on crosses over: the program scene, the stream and record
//! outputs, and changes to inputs. The rest (transitions, filters, UI) stays in OBS.

use obws::events::Event as ObwsEvent;
use serde_json::{Value, json};

use crate::event::ObsEvent;

/// The output state's obs-websocket name (`OBS_WEBSOCKET_OUTPUT_STARTED`, ...).
fn state_name(state: &impl serde::Serialize) -> String {
    match serde_json::to_value(state) {
        Ok(Value::String(s)) => s,
        _ => "unknown".into(),
    }
}

fn input(name: &str, change: &str, data: Value) -> Option<ObsEvent> {
    Some(ObsEvent::Input {
        input: name.to_string(),
        change: change.into(),
        data,
    })
}

/// The bot's event for an OBS event, `None` for the ones it does not pass on.
pub fn from_obws(event: &ObwsEvent) -> Option<ObsEvent> {
    match event {
        ObwsEvent::CurrentProgramSceneChanged { id } => Some(ObsEvent::SceneChanged {
            scene: id.name.clone(),
        }),
        ObwsEvent::StreamStateChanged { active, state } => Some(ObsEvent::StreamState {
            active: *active,
            state: state_name(state),
        }),
        ObwsEvent::RecordStateChanged { active, state, .. } => Some(ObsEvent::RecordState {
            active: *active,
            state: state_name(state),
        }),
        ObwsEvent::InputCreated { id, kind, .. } => {
            input(&id.name, "created", json!({ "kind": kind }))
        }
        ObwsEvent::InputRemoved { id } => input(&id.name, "removed", json!({})),
        ObwsEvent::InputNameChanged {
            old_name, new_name, ..
        } => input(new_name, "renamed", json!({ "old_name": old_name })),
        ObwsEvent::InputSettingsChanged { id, settings } => {
            input(&id.name, "settings", json!({ "settings": settings }))
        }
        ObwsEvent::InputActiveStateChanged { id, active } => {
            input(&id.name, "active", json!({ "active": active }))
        }
        ObwsEvent::InputShowStateChanged { id, showing } => {
            input(&id.name, "showing", json!({ "showing": showing }))
        }
        ObwsEvent::InputMuteStateChanged { id, muted } => {
            input(&id.name, "muted", json!({ "muted": muted }))
        }
        ObwsEvent::InputVolumeChanged { id, mul, db } => {
            input(&id.name, "volume", json!({ "mul": mul, "db": db }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses an event message the way obs-websocket 5.5 sends it (op 5's `d`).
    fn obws_event(json: Value) -> ObwsEvent {
        serde_json::from_value(json).expect("obws parses the event")
    }

    #[test]
    fn scene_stream_record_and_input_events_cross_over() {
        let scene = obws_event(json!({
            "eventType": "CurrentProgramSceneChanged",
            "eventIntent": 4,
            "eventData": {"sceneName": "BRB", "sceneUuid": "5b8ab5c7-0f6c-4ab7-a27f-d4f3b1e07f2e"}
        }));
        assert_eq!(
            from_obws(&scene),
            Some(ObsEvent::SceneChanged {
                scene: "BRB".into()
            })
        );
        let stream = obws_event(json!({
            "eventType": "StreamStateChanged",
            "eventData": {"outputActive": true, "outputState": "OBS_WEBSOCKET_OUTPUT_STARTED"}
        }));
        assert_eq!(
            from_obws(&stream),
            Some(ObsEvent::StreamState {
                active: true,
                state: "OBS_WEBSOCKET_OUTPUT_STARTED".into()
            })
        );
        let record = obws_event(json!({
            "eventType": "RecordStateChanged",
            "eventData": {"outputActive": false, "outputState": "OBS_WEBSOCKET_OUTPUT_STOPPED",
                          "outputPath": "/tmp/x.mkv"}
        }));
        assert_eq!(
            from_obws(&record),
            Some(ObsEvent::RecordState {
                active: false,
                state: "OBS_WEBSOCKET_OUTPUT_STOPPED".into()
            })
        );
        let mute = obws_event(json!({
            "eventType": "InputMuteStateChanged",
            "eventData": {"inputName": "Mic", "inputUuid": "5b8ab5c7-0f6c-4ab7-a27f-d4f3b1e07f2f",
                          "inputMuted": true}
        }));
        assert_eq!(
            from_obws(&mute),
            Some(ObsEvent::Input {
                input: "Mic".into(),
                change: "muted".into(),
                data: json!({"muted": true})
            })
        );
    }

    #[test]
    fn events_the_bot_does_not_pass_on_are_ignored() {
        let vendor = obws_event(json!({
            "eventType": "VendorEvent",
            "eventData": {"vendorName": "x", "eventType": "y", "eventData": {}}
        }));
        assert_eq!(from_obws(&vendor), None);
    }
}
