//! The calls scripts and the console make on OBS, checked when they are made (so a script hears
//! about bad data at once) and carried out later by the task that owns the connection.

use serde::Deserialize;
use serde_json::Value;

use crate::integrations::CallError;

/// One request for OBS, with its data checked.
#[derive(Debug, Clone, PartialEq)]
pub enum ObsCall {
    SetScene {
        scene: String,
    },
    SetSourceVisible {
        scene: String,
        source: String,
        visible: bool,
    },
    SetText {
        source: String,
        text: String,
    },
    StartRecording,
    StopRecording,
    StartStreaming,
    StopStreaming,
    /// Any obs-websocket v5 request by its name (`GetSceneList`, `SetInputMute`, ...), with its
    /// `requestData` object.
    Request {
        name: String,
        data: Value,
    },
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
        fn fields<T: serde::de::DeserializeOwned>(
            call: &str,
            shape: &str,
            data: Value,
        ) -> Result<T, CallError> {
            serde_json::from_value(data)
                .map_err(|e| CallError::BadData(format!("obs.{call} takes {shape}: {e}")))
        }
        fn named(call: &str, field: &str, value: String) -> Result<String, CallError> {
            if value.trim().is_empty() {
                return Err(CallError::BadData(format!(
                    "obs.{call}: `{field}` is empty; give the name as OBS shows it"
                )));
            }
            Ok(value)
        }
        let parsed = match call {
            "set_scene" => {
                let d: SetSceneData = fields(call, "{scene}", data)?;
                ObsCall::SetScene {
                    scene: named(call, "scene", d.scene)?,
                }
            }
            "set_source_visible" => {
                let d: SourceVisibleData = fields(call, "{scene, source, visible}", data)?;
                ObsCall::SetSourceVisible {
                    scene: named(call, "scene", d.scene)?,
                    source: named(call, "source", d.source)?,
                    visible: d.visible,
                }
            }
            "set_text" => {
                let d: SetTextData = fields(call, "{source, text}", data)?;
                ObsCall::SetText {
                    source: named(call, "source", d.source)?,
                    text: d.text,
                }
            }
            "start_recording" => ObsCall::StartRecording,
            "stop_recording" => ObsCall::StopRecording,
            "start_streaming" => ObsCall::StartStreaming,
            "stop_streaming" => ObsCall::StopStreaming,
            "request" => {
                let d: RequestData = fields(call, "{request, data}", data)?;
                let name = named(call, "request", d.request)?;
                let data = match d.data {
                    Value::Null => Value::Object(Default::default()),
                    obj @ Value::Object(_) => obj,
                    other => {
                        return Err(CallError::BadData(format!(
                            "obs.request `{name}`: the data must be a map (#{{...}}), not {other}"
                        )));
                    }
                };
                ObsCall::Request { name, data }
            }
            _ => {
                return Err(CallError::UnknownCall {
                    integration: "obs".into(),
                    call: call.into(),
                });
            }
        };
        Ok(parsed)
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
