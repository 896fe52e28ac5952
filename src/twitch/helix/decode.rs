//! Reading Helix's answers: a body as JSON, one page of a list with its cursor, the first item
//! of `data`, a failed answer's message, and the `Ratelimit-*` headers.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::HelixError;

/// One page of a Helix list.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    /// The items of this page.
    pub data: Vec<T>,
    /// Where the next page starts, if there is one.
    #[serde(default)]
    pub pagination: Option<Pagination>,
    /// How many items the whole list has, for the endpoints that say.
    #[serde(default)]
    pub total: Option<u64>,
}

/// A list's `pagination` object.
#[derive(Debug, Deserialize, Default)]
pub struct Pagination {
    /// The `after` cursor of the next page; `None` on the last page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// The first item of an answer's `data`.
pub(in crate::twitch) fn first_of<T: DeserializeOwned>(
    v: Value,
    path: &str,
) -> Result<T, HelixError> {
    let first = v
        .get("data")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .cloned()
        .ok_or_else(|| HelixError::Status {
            status: 200,
            path: path.to_string(),
            message: "the answer has no data".into(),
        })?;
    serde_json::from_value(first).map_err(|e| decode(path, e))
}

/// A successful answer's body as JSON (`Value::Null` when empty).
pub(crate) fn read_answer(url: &str, status: u16, bytes: &[u8]) -> Result<Value, HelixError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|e| HelixError::Status {
        status,
        path: path_of(url),
        message: format!("unreadable answer: {e}"),
    })
}

/// What a failed answer says: its JSON `message`, or the body as it came.
pub(crate) fn error_message(text: String) -> String {
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or(text)
}

/// One page of a list, read from an answer's JSON.
pub(crate) fn page<T: DeserializeOwned>(path: &str, v: Value) -> Result<Page<T>, HelixError> {
    serde_json::from_value(v).map_err(|e| decode(path, e))
}

pub(super) fn decode(path: &str, e: serde_json::Error) -> HelixError {
    HelixError::Status {
        status: 200,
        path: path_of(path),
        message: format!("unreadable answer: {e}"),
    }
}

/// An answer's `Ratelimit-Limit`, `-Remaining` and `-Reset` (epoch seconds).
pub(super) fn rate_headers(
    headers: &reqwest::header::HeaderMap,
) -> (Option<u64>, Option<u64>, Option<u64>) {
    let num = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    (
        num("ratelimit-limit"),
        num("ratelimit-remaining"),
        num("ratelimit-reset"),
    )
}

/// The path of a URL without its query, for logs (never carries a token).
pub(super) fn path_of(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue};
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Item {
        id: String,
    }

    #[test]
    fn an_empty_body_reads_as_null_and_json_as_itself() {
        assert_eq!(
            read_answer("https://x/users", 200, b"").ok(),
            Some(Value::Null)
        );
        assert_eq!(
            read_answer("https://x/users", 200, br#"{"data":[]}"#).ok(),
            Some(json!({"data": []}))
        );
    }

    #[test]
    fn an_unreadable_body_names_the_path_without_its_query() {
        let Err(HelixError::Status {
            status,
            path,
            message,
        }) = read_answer("https://x/users?login=secret", 200, b"<html>")
        else {
            panic!("garbage must be refused");
        };
        assert_eq!((status, path.as_str()), (200, "https://x/users"));
        assert!(message.starts_with("unreadable answer"), "{message}");
    }

    #[test]
    fn a_failed_answer_says_its_json_message_or_its_body() {
        let body = r#"{"error":"Unauthorized","status":401,"message":"Missing scope: x"}"#;
        assert_eq!(error_message(body.into()), "Missing scope: x");
        assert_eq!(error_message("bad gateway".into()), "bad gateway");
        assert_eq!(
            error_message(r#"{"status":500}"#.into()),
            r#"{"status":500}"#
        );
    }

    #[test]
    fn a_page_carries_its_items_cursor_and_total() {
        let v = json!({"data": [{"id": "1"}, {"id": "2"}], "pagination": {"cursor": "abc"}, "total": 7});
        let Ok(p) = page::<Item>("/channels/followers", v) else {
            panic!("a well-formed page must read");
        };
        assert_eq!(p.data.len(), 2);
        assert_eq!(p.pagination.and_then(|p| p.cursor).as_deref(), Some("abc"));
        assert_eq!(p.total, Some(7));
    }

    #[test]
    fn the_last_page_has_no_cursor() {
        for v in [json!({"data": [], "pagination": {}}), json!({"data": []})] {
            let Ok(p) = page::<Item>("/chat/chatters", v) else {
                panic!("a last page must read");
            };
            assert!(p.pagination.and_then(|p| p.cursor).is_none());
        }
    }

    #[test]
    fn a_page_of_the_wrong_shape_is_an_error_naming_the_path() {
        let e = page::<Item>("/users?login=a", json!({"data": [{"login": "a"}]}));
        assert!(
            matches!(&e, Err(HelixError::Status { status: 200, path, .. }) if path == "/users"),
            "{e:?}"
        );
    }

    #[test]
    fn first_of_takes_the_first_item_or_says_there_is_none() {
        let v = json!({"data": [{"id": "a"}, {"id": "b"}]});
        assert_eq!(
            first_of::<Item>(v, "/polls").ok(),
            Some(Item { id: "a".into() })
        );
        let Err(HelixError::Status { message, path, .. }) =
            first_of::<Item>(json!({"data": []}), "/polls")
        else {
            panic!("no data must be an error");
        };
        assert_eq!(
            (path.as_str(), message.as_str()),
            ("/polls", "the answer has no data")
        );
    }

    #[test]
    fn rate_limit_headers_read_as_numbers_and_garbage_as_unknown() {
        let mut h = HeaderMap::new();
        h.insert("Ratelimit-Limit", HeaderValue::from_static("800"));
        h.insert("Ratelimit-Remaining", HeaderValue::from_static(" 799 "));
        h.insert("Ratelimit-Reset", HeaderValue::from_static("1700000000"));
        assert_eq!(
            rate_headers(&h),
            (Some(800), Some(799), Some(1_700_000_000))
        );
        let mut bad = HeaderMap::new();
        bad.insert("Ratelimit-Remaining", HeaderValue::from_static("-1"));
        assert_eq!(rate_headers(&bad), (None, None, None));
    }
}
