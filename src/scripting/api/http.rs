//! `ctx.http.get(url)` and `ctx.http.post(url, body)`: a request to a host on the allow-list,
//! answered as `#{ status, body, json }`. The wait goes through
//! [`crate::scripting::engine::network_call`] like `ctx.twitch`: it pauses the run's 500 ms,
//! counts against the run's network time and calls, and lends another thread to the scripts
//! queued meanwhile. The rules on hosts and addresses live with the client
//! ([`crate::integrations::web`]).

use rhai::Engine;
use rhai::plugin::*;

use super::Ctx;

/// A request a script makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The address asked for (checked against `scripts.http_allow`).
    pub url: String,
    /// `None` for GET; for POST, the content type and the body.
    pub body: Option<(String, Vec<u8>)>,
}

/// The answer: its status and its body as text (invalid UTF-8 replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// The HTTP status code.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

/// What `ctx.http` sends requests through.
pub trait ScriptHttp: Send + Sync {
    /// Sends `request` for `script` and waits for the answer (blocking: called on the network
    /// helper thread of a run).
    ///
    /// # Errors
    /// A refusal (not on the allow-list, a private address, the rate limit) or a failure
    /// (timeout, too large, unreachable), in words a streamer can act on.
    fn fetch(&self, script: &str, request: HttpRequest) -> Result<HttpAnswer, String>;
}

#[derive(Clone)]
pub struct Http(pub Ctx);

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Http>("Http");
    engine.register_global_module(exported_module!(http_api).into());
}

fn send(
    pos: rhai::Position,
    h: &Http,
    what: &'static str,
    request: HttpRequest,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let Some(client) = h.0.services().http.clone() else {
        return Err(format!(
            "{what}: HTTP is off for scripts (no host on scripts.http_allow in configs/bot.yaml)"
        )
        .into());
    };
    let script = h.0.data().script.clone();
    let answer =
        crate::scripting::engine::network_call(pos, what, move || client.fetch(&script, request))?;
    let json = serde_json::from_str::<serde_json::Value>(&answer.body)
        .ok()
        .map_or(Dynamic::UNIT, |v| super::from_json(&v));
    let mut m = rhai::Map::new();
    m.insert(
        "status".into(),
        Dynamic::from_int(rhai::INT::from(answer.status)),
    );
    m.insert("body".into(), Dynamic::from(answer.body));
    m.insert("json".into(), json);
    Ok(Dynamic::from_map(m))
}

#[export_module]
// The plugin expands each function into code that unwraps arguments Rhai has already checked.
#[allow(clippy::unwrap_used)]
mod http_api {
    use super::{Http, HttpRequest, send};
    use crate::scripting::api::{Ctx, to_json};

    #[rhai_fn(get = "http", pure)]
    pub fn http(ctx: &mut Ctx) -> Http {
        Http(ctx.clone())
    }

    /// GET `url`: `#{ status, body, json }` (`json` is `()` when the body is not JSON).
    #[rhai_fn(name = "get", pure, return_raw)]
    pub fn http_get(
        cx: NativeCallContext,
        h: &mut Http,
        url: &str,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let request = HttpRequest {
            url: url.to_string(),
            body: None,
        };
        send(cx.call_position(), h, "ctx.http.get", request)
    }

    /// POST `body` to `url`: a string goes as text, anything else as JSON.
    #[rhai_fn(name = "post", pure, return_raw)]
    pub fn http_post(
        cx: NativeCallContext,
        h: &mut Http,
        url: &str,
        body: Dynamic,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let body = if body.is_string() {
            (
                "text/plain; charset=utf-8".to_string(),
                body.to_string().into_bytes(),
            )
        } else {
            let value = to_json(&body)?;
            (
                "application/json".to_string(),
                serde_json::to_vec(&value).map_err(|e| format!("ctx.http.post: {e}"))?,
            )
        };
        let request = HttpRequest {
            url: url.to_string(),
            body: Some(body),
        };
        send(cx.call_position(), h, "ctx.http.post", request)
    }
}
