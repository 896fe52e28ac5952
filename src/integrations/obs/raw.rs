//! Any obs-websocket v5 request by name. obws 0.15 has a typed method per request but no way to
//! send one by name with free JSON data, so `ctx.obs.request(name, data)` speaks the protocol
//! itself: one short-lived connection per request (Hello → Identify with no event
//! subscriptions → Request → RequestResponse), next to obws's own. Scripts send such requests
//! rarely, and a private connection keeps obws's connection and its event stream untouched.
//!
//! Protocol facts (obs-websocket 5.x protocol.md): op 0 Hello carries `authentication
//! {challenge, salt}` when a password is set; the answer is
//! `base64(sha256(base64(sha256(password + salt)) + challenge))`; op 1 Identify, op 2
//! Identified, op 6 Request, op 7 RequestResponse; close code 4009 means the password was wrong.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::Message;

/// Why a request by name did not get a successful answer.
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error("cannot reach obs-websocket at {0}")]
    Connect(String),
    #[error(
        "OBS refused the password: set obs_password in configs/secrets.yaml to the one in OBS → \
         Tools → WebSocket Server Settings"
    )]
    Auth,
    #[error("OBS closed the connection ({0})")]
    Closed(String),
    #[error("OBS refused it (code {code}): {comment}")]
    Refused { code: i64, comment: String },
    #[error("no answer from OBS within {0} s")]
    Timeout(u64),
    #[error("unexpected message from obs-websocket: {0}")]
    Protocol(String),
}

/// obs-websocket's authentication string for `password`.
pub fn auth_response(password: &str, salt: &str, challenge: &str) -> String {
    let secret = BASE64.encode(Sha256::digest(format!("{password}{salt}")));
    BASE64.encode(Sha256::digest(format!("{secret}{challenge}")))
}

/// Sends `name` with `data` to OBS at `host:port` and returns its `responseData` (`{}` when
/// the request answers nothing).
///
/// # Errors
/// A [`RawError`] when OBS cannot be reached, refuses the password or the request, or does not
/// answer within `timeout`.
pub async fn request(
    host: &str,
    port: u16,
    password: &str,
    name: &str,
    data: &Value,
    timeout: Duration,
) -> Result<Value, RawError> {
    tokio::time::timeout(timeout, exchange(host, port, password, name, data))
        .await
        .unwrap_or(Err(RawError::Timeout(timeout.as_secs())))
}

async fn exchange(
    host: &str,
    port: u16,
    password: &str,
    name: &str,
    data: &Value,
) -> Result<Value, RawError> {
    let url = format!("ws://{host}:{port}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .map_err(|e| RawError::Connect(format!("{host}:{port}: {e}")))?;

    let hello = next_json(&mut ws).await?;
    if hello["op"] != 0 {
        return Err(RawError::Protocol(format!("expected Hello, got {hello}")));
    }
    let mut identify = json!({ "rpcVersion": 1, "eventSubscriptions": 0 });
    if let Some(auth) = hello["d"].get("authentication") {
        let (Some(challenge), Some(salt)) = (auth["challenge"].as_str(), auth["salt"].as_str())
        else {
            return Err(RawError::Protocol(format!(
                "Hello without challenge: {hello}"
            )));
        };
        identify["authentication"] = auth_response(password, salt, challenge).into();
    }
    send_json(&mut ws, json!({ "op": 1, "d": identify })).await?;
    let identified = next_json(&mut ws).await?;
    if identified["op"] != 2 {
        return Err(RawError::Protocol(format!(
            "expected Identified, got {identified}"
        )));
    }

    let id = "twitch-bot-1";
    send_json(
        &mut ws,
        json!({ "op": 6, "d": { "requestType": name, "requestId": id, "requestData": data } }),
    )
    .await?;
    loop {
        let msg = next_json(&mut ws).await?;
        if msg["op"] != 7 || msg["d"]["requestId"] != id {
            continue; // nothing else is expected with no event subscriptions, but be lenient
        }
        let _ = ws.close(None).await;
        let status = &msg["d"]["requestStatus"];
        if status["result"] == true {
            return Ok(msg["d"]
                .get("responseData")
                .cloned()
                .unwrap_or_else(|| json!({})));
        }
        return Err(RawError::Refused {
            code: status["code"].as_i64().unwrap_or(0),
            comment: status["comment"]
                .as_str()
                .unwrap_or("no comment")
                .to_string(),
        });
    }
}

/// What an answer holds, for the log: its field names and never their values (an answer may
/// hold a secret: `GetStreamServiceSettings` holds the stream key).
pub fn shape(answer: &Value) -> String {
    match answer {
        Value::Object(map) if map.is_empty() => "no fields".into(),
        Value::Object(map) => {
            let names: Vec<&str> = map.keys().map(String::as_str).collect();
            format!("fields {}", names.join(", "))
        }
        Value::Array(items) => format!("a list of {} items", items.len()),
        Value::Null => "nothing".into(),
        Value::Bool(_) => "a true/false".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a text".into(),
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send_json(ws: &mut Socket, value: Value) -> Result<(), RawError> {
    ws.send(Message::text(value.to_string()))
        .await
        .map_err(|e| RawError::Closed(e.to_string()))
}

/// The next JSON text message; a close frame becomes the matching error.
async fn next_json(ws: &mut Socket) -> Result<Value, RawError> {
    loop {
        let msg = match ws.next().await {
            Some(Ok(msg)) => msg,
            Some(Err(e)) => return Err(RawError::Closed(e.to_string())),
            None => return Err(RawError::Closed("no reason given".into())),
        };
        match msg {
            Message::Text(text) => {
                return serde_json::from_str(text.as_str())
                    .map_err(|e| RawError::Protocol(format!("{e} ({} bytes)", text.len())));
            }
            Message::Close(Some(frame)) if u16::from(frame.code) == 4009 => {
                return Err(RawError::Auth);
            }
            Message::Close(frame) => {
                return Err(RawError::Closed(frame.map_or_else(
                    || "no reason given".into(),
                    |f| format!("code {}: {}", u16::from(f.code), f.reason),
                )));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::shape;

    #[test]
    fn the_shape_of_an_answer_names_its_fields_and_hides_their_values() {
        let answer = json!({
            "streamServiceType": "rtmp_common",
            "streamServiceSettings": {"server": "auto", "key": "live_123_secretkey"}
        });
        let logged = shape(&answer);
        assert_eq!(logged, "fields streamServiceSettings, streamServiceType");
        assert!(!logged.contains("live_123_secretkey"));
        assert!(!logged.contains("rtmp_common"));
        assert_eq!(shape(&json!({})), "no fields");
        assert_eq!(shape(&json!("live_123_secretkey")), "a text");
        assert_eq!(shape(&json!([1, 2])), "a list of 2 items");
    }
}
