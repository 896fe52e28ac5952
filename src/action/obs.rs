//! The calls scripts and the console make on OBS, checked when they are made (so a script hears
//! about bad data at once) and carried out later by the task that owns the connection
//! (`integrations/obs`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CallError, fields};

/// One request for OBS, with its data checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum ObsCall {
    /// Switch the program scene (`ctx.obs.set_scene`).
    SetScene {
        /// The scene's name as OBS shows it.
        scene: String,
    },
    /// Show or hide a source in a scene (`ctx.obs.show_source`, `ctx.obs.hide_source`).
    SetSourceVisible {
        /// The scene the source is in.
        scene: String,
        /// The source's name as OBS shows it.
        source: String,
        /// Shown (`true`) or hidden.
        visible: bool,
    },
    /// Set a text source's text (`ctx.obs.set_text`).
    SetText {
        /// The text source's name.
        source: String,
        /// The new text (may be empty).
        text: String,
    },
    /// Start recording.
    StartRecording,
    /// Stop recording.
    StopRecording,
    /// Start streaming.
    StartStreaming,
    /// Stop streaming.
    StopStreaming,
    /// Any obs-websocket v5 request by its name (`GetSceneList`, `SetInputMute`, ...), with its
    /// `requestData` object.
    Request {
        /// The request type's name.
        name: String,
        /// Its `requestData`: always a JSON object.
        data: Value,
    },
}

/// The console's buttons for the OBS connection (scripts cannot make these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObsLink {
    /// Connect now.
    Connect,
    /// Disconnect and stay disconnected until the next connect.
    Disconnect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetSceneData {
    scene: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceVisibleData {
    scene: String,
    source: String,
    visible: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetTextData {
    source: String,
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestData {
    #[serde(alias = "name")]
    request: String,
    #[serde(default)]
    data: Value,
}

impl ObsCall {
    /// Checks a call by name and its JSON data.
    ///
    /// # Errors
    /// [`CallError::UnknownCall`] for a name OBS has no call for, [`CallError::BadData`] naming
    /// the call and the field when the data does not fit.
    pub fn parse(call: &str, data: Value) -> Result<ObsCall, CallError> {
        let parsed = match call {
            "set_scene" => {
                let d: SetSceneData = fields("obs", call, "{scene}", data)?;
                ObsCall::SetScene { scene: d.scene }
            }
            "set_source_visible" => {
                let d: SourceVisibleData = fields("obs", call, "{scene, source, visible}", data)?;
                ObsCall::SetSourceVisible {
                    scene: d.scene,
                    source: d.source,
                    visible: d.visible,
                }
            }
            "set_text" => {
                let d: SetTextData = fields("obs", call, "{source, text}", data)?;
                ObsCall::SetText {
                    source: d.source,
                    text: d.text,
                }
            }
            "start_recording" => ObsCall::StartRecording,
            "stop_recording" => ObsCall::StopRecording,
            "start_streaming" => ObsCall::StartStreaming,
            "stop_streaming" => ObsCall::StopStreaming,
            "request" => {
                let d: RequestData = fields("obs", call, "{request, data}", data)?;
                ObsCall::Request {
                    name: d.request,
                    data: d.data,
                }
            }
            _ => {
                return Err(CallError::UnknownCall {
                    integration: "obs".into(),
                    call: call.into(),
                });
            }
        };
        parsed.checked()
    }

    /// The call itself when its data fits: names not empty, a request's data a map (no data
    /// at all is an empty map). What scripts' calls and [`ObsCall::parse`] both go through.
    ///
    /// # Errors
    /// [`CallError::BadData`] naming the call and the field.
    pub fn checked(self) -> Result<ObsCall, CallError> {
        fn named(call: &str, field: &str, value: &str) -> Result<(), CallError> {
            if value.trim().is_empty() {
                return Err(CallError::BadData(format!(
                    "obs.{call}: `{field}` is empty; give the name as OBS shows it"
                )));
            }
            Ok(())
        }
        let call = self.name();
        match self {
            ObsCall::SetScene { ref scene } => named(call, "scene", scene)?,
            ObsCall::SetSourceVisible {
                ref scene,
                ref source,
                ..
            } => {
                named(call, "scene", scene)?;
                named(call, "source", source)?;
            }
            ObsCall::SetText { ref source, .. } => named(call, "source", source)?,
            ObsCall::Request { name, data } => {
                named(call, "request", &name)?;
                let data = match data {
                    Value::Null => Value::Object(Default::default()),
                    obj @ Value::Object(_) => obj,
                    other => {
                        return Err(CallError::BadData(format!(
                            "obs.request `{name}`: the data must be a map (#{{...}}), not {other}"
                        )));
                    }
                };
                return Ok(ObsCall::Request { name, data });
            }
            ObsCall::StartRecording
            | ObsCall::StopRecording
            | ObsCall::StartStreaming
            | ObsCall::StopStreaming => {}
        }
        Ok(self)
    }

    /// The call's name as the console and the logs say it (`set_scene`).
    pub fn name(&self) -> &'static str {
        match self {
            ObsCall::SetScene { .. } => "set_scene",
            ObsCall::SetSourceVisible { .. } => "set_source_visible",
            ObsCall::SetText { .. } => "set_text",
            ObsCall::StartRecording => "start_recording",
            ObsCall::StopRecording => "stop_recording",
            ObsCall::StartStreaming => "start_streaming",
            ObsCall::StopStreaming => "stop_streaming",
            ObsCall::Request { .. } => "request",
        }
    }

    /// A short description for the log: `set_scene "BRB"`.
    pub fn describe(&self) -> String {
        match self {
            ObsCall::SetScene { scene } => format!("set_scene {scene:?}"),
            ObsCall::SetSourceVisible {
                scene,
                source,
                visible,
            } => format!("set_source_visible {scene:?} {source:?} {visible}"),
            ObsCall::SetText { source, .. } => format!("set_text {source:?}"),
            ObsCall::StartRecording => "start_recording".into(),
            ObsCall::StopRecording => "stop_recording".into(),
            ObsCall::StartStreaming => "start_streaming".into(),
            ObsCall::StopStreaming => "stop_streaming".into(),
            ObsCall::Request { name, .. } => format!("request {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_script_api_shapes_parse() {
        // The exact data src/scripting/api/integrations.rs sends.
        assert_eq!(
            ObsCall::parse("set_scene", json!({"scene": "BRB"})),
            Ok(ObsCall::SetScene {
                scene: "BRB".into()
            })
        );
        assert_eq!(
            ObsCall::parse(
                "set_source_visible",
                json!({"scene": "Main", "source": "Cam", "visible": false})
            ),
            Ok(ObsCall::SetSourceVisible {
                scene: "Main".into(),
                source: "Cam".into(),
                visible: false
            })
        );
        assert_eq!(
            ObsCall::parse("set_text", json!({"source": "Goal", "text": ""})),
            Ok(ObsCall::SetText {
                source: "Goal".into(),
                text: String::new()
            })
        );
        assert_eq!(
            ObsCall::parse("start_recording", json!({})),
            Ok(ObsCall::StartRecording)
        );
        assert_eq!(
            ObsCall::parse(
                "request",
                json!({"request": "SetInputMute", "data": {"inputName": "Mic", "inputMuted": true}})
            ),
            Ok(ObsCall::Request {
                name: "SetInputMute".into(),
                data: json!({"inputName": "Mic", "inputMuted": true})
            })
        );
        assert_eq!(
            ObsCall::parse("request", json!({"name": "GetVersion"})),
            Ok(ObsCall::Request {
                name: "GetVersion".into(),
                data: json!({})
            })
        );
    }

    #[test]
    fn bad_data_names_the_call_and_the_field() {
        let Err(CallError::BadData(e)) = ObsCall::parse("set_scene", json!({})) else {
            panic!("a missing scene is refused");
        };
        assert!(e.contains("obs.set_scene") && e.contains("scene"), "{e}");
        let Err(CallError::BadData(e)) = ObsCall::parse("set_scene", json!({"scene": " "})) else {
            panic!("an empty scene is refused");
        };
        assert!(e.contains("empty"), "{e}");
        let Err(CallError::BadData(e)) =
            ObsCall::parse("request", json!({"request": "GetVersion", "data": [1]}))
        else {
            panic!("data that is not a map is refused");
        };
        assert!(e.contains("must be a map"), "{e}");
        assert_eq!(
            ObsCall::parse("explode", json!({})),
            Err(CallError::UnknownCall {
                integration: "obs".into(),
                call: "explode".into()
            })
        );
    }
}
