//! The script editor's endpoints: list the `.rhai` files, read one, save one (compiled first,
//! with its last-modified stamp as a precondition) and create one from a bundled example.
//!
//! Owns the request shapes and the answers' status codes (422 for a script that does not
//! compile, 409 for a file changed on disk meanwhile); the files themselves are the script
//! host's business, reached through [`ConsoleBackend`](super::ConsoleBackend).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::ConsoleError;
use super::api::{ApiState, RawBody, json_body};
use crate::scripting::files::{self, EditError, SaveOutcome};

type ApiResult = Result<Response, ConsoleError>;

/// Largest body of a save: a script at the size cap, with room for JSON's escapes.
pub const SAVE_BODY_LIMIT: usize = 4 * files::MAX_SCRIPT_BYTES;

/// A backend without a script host.
pub(crate) fn no_editor() -> ConsoleError {
    ConsoleError::Unavailable("this console does not edit scripts".into())
}

impl From<EditError> for ConsoleError {
    fn from(e: EditError) -> ConsoleError {
        match e {
            EditError::Invalid(m) => ConsoleError::BadRequest(m),
            EditError::Outside(m) => ConsoleError::Forbidden(m),
            EditError::NotFound(m) => ConsoleError::NotFound(m),
            EditError::TooLarge(m) => ConsoleError::TooLarge(m),
            EditError::Exists(m) => ConsoleError::Conflict(m),
            EditError::Io(m) => ConsoleError::Internal(m),
        }
    }
}

/// `GET /api/scripts/file?path=commands/ping.rhai`: `{path, source, modified, modified_ms}`.
pub async fn file(
    State(st): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let Some(path) = query.get("path") else {
        return Err(ConsoleError::BadRequest(
            "say which script: ?path=commands/ping.rhai".into(),
        ));
    };
    Ok(Json(st.backend.script_source(path.clone()).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaveBody {
    path: String,
    source: String,
    /// The stamp the editor read the file with.
    modified: String,
}

/// `PUT /api/scripts/file` `{path, source, modified}`.
pub async fn save(State(st): State<ApiState>, body: RawBody) -> ApiResult {
    let req: SaveBody = json_body(&body.0)?;
    let outcome = st
        .backend
        .save_script(req.path, req.source, req.modified)
        .await?;
    Ok(answer(outcome, StatusCode::OK))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBody {
    kind: String,
    name: String,
    template: String,
}

/// `POST /api/scripts/new` `{kind, name, template}`.
pub async fn create(State(st): State<ApiState>, body: RawBody) -> ApiResult {
    let req: NewBody = json_body(&body.0)?;
    let outcome = st
        .backend
        .new_script(req.kind, req.name, req.template)
        .await?;
    Ok(answer(outcome, StatusCode::CREATED))
}

/// `GET /api/scripts/templates`: the bundled examples.
pub async fn templates() -> ApiResult {
    Ok(Json(json!({ "templates": files::templates() })).into_response())
}

/// A save's or a creation's answer: `saved` with the new stamp, 422 with the compile error's
/// line and column, or 409 with what is on disk now.
fn answer(outcome: SaveOutcome, saved: StatusCode) -> Response {
    match outcome {
        SaveOutcome::Saved(text) => (
            saved,
            Json(json!({
                "ok": true,
                "live": true,
                "path": text.path,
                "modified": text.modified,
                "modified_ms": text.modified_ms,
            })),
        )
            .into_response(),
        SaveOutcome::Broken(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "error": format!(
                    "{e}: not saved; the running version stays until this compiles"
                ),
                "message": e.message,
                "path": e.file,
                "line": e.line,
                "column": e.col,
            })),
        )
            .into_response(),
        SaveOutcome::Stale(current) => {
            let error = if current.is_some() {
                "the file changed on disk since it was opened (another editor saved it): not \
                 saved; compare both versions, then save again"
            } else {
                "the file was deleted or moved since it was opened: not saved"
            };
            (
                StatusCode::CONFLICT,
                Json(json!({ "error": error, "current": current })),
            )
                .into_response()
        }
    }
}
