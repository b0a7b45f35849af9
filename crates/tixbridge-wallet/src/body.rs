//! What every request's input goes through before a handler sees it (issue 7, items 5
//! and 10), in one place:
//!
//! - [`check_uri`], a middleware on every route: a path segment or query parameter
//!   carrying a control character (percent-encoded, `%00`) is answered `400`
//!   (`INVALID_CHARACTER`) naming it, so it never reaches a store.
//! - [`JsonBody<T>`], the extractor of every JSON body, and [`ItemsBody<T>`], the one
//!   of the write calls that carry items (`tickets`, `privileges`). Both refuse an
//!   array where the contract wants an object or a single value (serde's derives
//!   would read `["ARR1","CANCELLED",false]` as a struct), and a control character in
//!   any string: a single body answers `400` naming the field; an item of an
//!   [`ItemsBody`] is refused alone (`KO INVALID_CHARACTER` naming the field, in
//!   [`ItemRefusals`]) and the others proceed.
//!
//! The hot path stays one pass: a byte scan of the body (array placement, and whether
//! any string holds an escape or a DEL byte) before plain `serde_json`. Only a body
//! with an escape is parsed a second time, as a `serde_json::Value`, to find which
//! field holds a control character; only a body that fails to parse is parsed again
//! with the path tracker, so the error still names the field
//! (`tickets[3].event.name: invalid type …`). The character rule itself is
//! [`tixbridge_core::text::check_plain_text`].

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use tixbridge_core::api::{FieldError, SeenIds};
use tixbridge_core::text::{INVALID_CHARACTER, check_plain_text};

use crate::error::ApiError;

/// Keys whose value the contract makes an array; an array anywhere else is refused.
pub(crate) const ARRAY_FIELDS: &[&[u8]] = &[
    b"tickets",
    b"privileges",
    b"linkedTicketIds",
    b"main",
    b"extra",
    b"hidden",
];

/// A JSON body of one request (not a list of items): any problem is the call's `400`.
pub struct JsonBody<T>(pub T);

/// A JSON body carrying a list of items (`tickets` or `privileges`), with the items
/// refused for a control character.
pub struct ItemsBody<T>(pub T, pub ItemRefusals);

/// A body type with items refused one by one.
pub(crate) trait HasItems {
    /// The key of the items' array.
    const ITEMS: &'static str;
}

impl HasItems for tixbridge_core::api::InjectRequest {
    const ITEMS: &'static str = "tickets";
}
impl HasItems for tixbridge_core::privilege::InjectPrivilegesRequest {
    const ITEMS: &'static str = "privileges";
}
impl HasItems for tixbridge_core::privilege::DeletePrivilegesRequest {
    const ITEMS: &'static str = "privileges";
}

/// Per item (by position in the array), its first field with a control character.
#[derive(Debug, Default)]
pub struct ItemRefusals(Vec<Option<FieldError>>);

impl ItemRefusals {
    /// The refusal of the item at `index`, if any (taken: asked once per item).
    pub fn take(&mut self, index: usize) -> Option<FieldError> {
        self.0.get_mut(index).and_then(Option::take)
    }
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(req, state).await?;
        let escapes = scan(&bytes)?;
        let body = parse::<T>(&bytes)?;
        if escapes {
            let value: Value = serde_json::from_slice(&bytes).map_err(not_json)?;
            if let Some(e) = first_control(&value, &mut String::new()) {
                return Err(ApiError::bad_request(INVALID_CHARACTER, e.message));
            }
        }
        Ok(JsonBody(body))
    }
}

impl<S, T> FromRequest<S> for ItemsBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned + HasItems,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(req, state).await?;
        let escapes = scan(&bytes)?;
        let body = parse::<T>(&bytes)?;
        let mut refusals = ItemRefusals::default();
        if escapes {
            let mut value: Value = serde_json::from_slice(&bytes).map_err(not_json)?;
            if let Some(Value::Array(items)) = value.get_mut(T::ITEMS).map(Value::take) {
                refusals.0 = items
                    .iter()
                    .map(|item| first_control(item, &mut String::new()))
                    .collect();
            }
            // What is left outside the items is the call's own.
            if let Some(e) = first_control(&value, &mut String::new()) {
                return Err(ApiError::bad_request(INVALID_CHARACTER, e.message));
            }
        }
        Ok(ItemsBody(body, refusals))
    }
}

/// One item's checks in order: a control character found in the body's text, an id
/// already given earlier in the call (issue 7, items 5 and 6), then `validate`. `field` names the id (`ticketId`, `privilegeId`).
pub(crate) fn checked(
    refused: Option<FieldError>,
    seen: &mut SeenIds,
    field: &str,
    id: &str,
    position: usize,
    validate: impl FnOnce() -> Result<(), FieldError>,
) -> Result<(), FieldError> {
    refused.map_or(Ok(()), Err)?;
    seen.check(field, id, position)?;
    validate()
}

/// The body's bytes, once its media type is JSON and its size within the limit.
async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim();
            m.eq_ignore_ascii_case("application/json") || m.ends_with("+json")
        })
        .unwrap_or(false);
    if !is_json {
        return Err(ApiError::UnsupportedMediaType(
            "send the body as JSON with Content-Type: application/json".into(),
        ));
    }
    Bytes::from_request(req, state).await.map_err(|r| {
        if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "the request body is larger than {} bytes",
                crate::MAX_BODY_BYTES
            ))
        } else {
            ApiError::bad_request("INVALID_BODY", r.body_text())
        }
    })
}

/// Plain serde_json; on failure, a second parse with the path tracker names the field.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|_| {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let msg = match serde_path_to_error::deserialize::<_, T>(de) {
            Err(e) if e.path().to_string() != "." => format!("{}: {}", e.path(), e.inner()),
            Err(e) => e.inner().to_string(),
            Ok(_) => "the body is not valid JSON".to_owned(),
        };
        not_json(msg)
    })
}

fn not_json(msg: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        "INVALID_JSON",
        format!("the body could not be read as JSON: {msg}"),
    )
}

/// One pass over the raw body: refuses an array outside [`ARRAY_FIELDS`] (or an
/// array of arrays, or a body that is an array), and answers whether any string
/// holds an escape or a DEL byte — the only ways a control character gets into a
/// parsed string (JSON forbids them raw). Malformed JSON is left to the parser.
fn scan(bytes: &[u8]) -> Result<bool, ApiError> {
    let mut suspicious = false;
    let mut in_string = false;
    let mut escaped = false;
    let mut string_start = 0;
    // The last string closed (a key, when a ':' follows it).
    let mut last_string: &[u8] = b"";
    // The last significant byte outside strings.
    let mut prev = 0u8;
    // Per open container: whether it is an array.
    let mut arrays: Vec<bool> = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => {
                    escaped = true;
                    suspicious = true;
                }
                b'"' => {
                    in_string = false;
                    last_string = &bytes[string_start..i];
                    prev = b'"';
                }
                0x7f => suspicious = true,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                string_start = i + 1;
            }
            b'[' => {
                let allowed = prev == b':' && ARRAY_FIELDS.contains(&last_string);
                if !allowed {
                    return Err(array_refused(
                        prev,
                        last_string,
                        arrays.last() == Some(&true),
                    ));
                }
                arrays.push(true);
                prev = b;
            }
            b'{' => {
                arrays.push(false);
                prev = b;
            }
            b']' | b'}' => {
                arrays.pop();
                prev = b;
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => prev = b,
        }
    }
    Ok(suspicious)
}

fn array_refused(prev: u8, key: &[u8], in_array: bool) -> ApiError {
    let message = if prev == b':' {
        format!(
            "the value of {:?} is an array; the contract wants an object or a single value there",
            String::from_utf8_lossy(key)
        )
    } else if in_array {
        "an item of a list is an array; each item must be an object or a single value".into()
    } else {
        "the body is an array; it must be a JSON object".into()
    };
    ApiError::bad_request("INVALID_JSON", message)
}

/// The first string (value or key) of `v` holding a control character, as the error
/// of [`check_plain_text`] naming its path from `v` (`event.name`, `main[0].value`).
/// Detail values (`…ticketDetails|details.<list>[i].value`) are multi-line.
fn first_control(v: &Value, path: &mut String) -> Option<FieldError> {
    match v {
        Value::String(s) => check_plain_text(path_name(path), s, is_multiline(path)).err(),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = first_control(item, path);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k);
            let found = check_plain_text(&format!("the key of {path}"), k, false)
                .err()
                .or_else(|| first_control(item, path));
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

fn path_name(path: &str) -> &str {
    if path.is_empty() { "the body" } else { path }
}

/// A ticket detail's or a privilege detail's value, in any language.
fn is_multiline(path: &str) -> bool {
    let in_details = path.contains("ticketDetails.") || path.starts_with("details.");
    in_details && (path.ends_with(".value") || path.rsplit_once(".value.").is_some())
}

/// Middleware of every route: refuses a path segment or a query parameter that holds
/// a control character once percent-decoded, with `400 INVALID_CHARACTER` naming it.
pub(crate) async fn check_uri(req: Request, next: Next) -> Response {
    let uri = req.uri();
    let checked = check_path(uri.path()).and_then(|()| check_query(uri.query().unwrap_or("")));
    match checked {
        Ok(()) => next.run(req).await,
        Err(e) => ApiError::bad_request(e.code, e.message).into_response(),
    }
}

fn check_path(path: &str) -> Result<(), FieldError> {
    if !path.contains('%') {
        return Ok(());
    }
    path.split('/').try_for_each(|seg| {
        let decoded = percent_decode(seg, false);
        check_plain_text(&format!("the path segment {seg:?}"), &decoded, false)
    })
}

fn check_query(query: &str) -> Result<(), FieldError> {
    if !query.contains('%') {
        return Ok(());
    }
    query.split('&').try_for_each(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name, true);
        check_plain_text("a query parameter's name", &name, false)?;
        check_plain_text(
            &format!("the query parameter {name}"),
            &percent_decode(value, true),
            false,
        )
    })
}

/// `%XX` → the byte; `+` → space in a query. Invalid UTF-8 is replaced (the extractors
/// refuse it later with their own message).
fn percent_decode(s: &str, query: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if query => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_only_where_the_contract_has_lists() {
        assert!(scan(br#"{"tickets":[{"ticketId":"A","ticketDetails":{"main":[]}}]}"#).is_ok());
        for bad in [
            r#"{"tickets":[["ARR1","CANCELLED",false]]}"#,
            r#"[{"ticketId":"A"}]"#,
            r#"{"tickets":[{"event":["E1"]}]}"#,
            r#"{"to":["a@example.org"]}"#,
        ] {
            assert!(scan(bad.as_bytes()).is_err(), "{bad}");
        }
        // Brackets inside strings are text.
        assert_eq!(scan(br#"{"reason":"[x]"}"#).ok(), Some(false));
        assert_eq!(scan(br#"{"reason":"a\u0000"}"#).ok(), Some(true));
    }

    #[test]
    fn control_characters_are_found_with_their_path() {
        let v: Value = serde_json::from_str(
            r#"{"ticketId":"T1","ticketDetails":{"main":[{"key":"Gate","value":"A\nB"}]},"event":{"name":{"fr":"x\u0000"}}}"#,
        )
        .unwrap();
        let e = first_control(&v, &mut String::new()).unwrap();
        assert!(
            e.message.starts_with("event.name.fr contains"),
            "{}",
            e.message
        );
    }

    #[test]
    fn uris_are_decoded_before_the_check() {
        assert!(check_path("/organizer/tickets/T%001").is_err());
        assert!(check_path("/organizer/tickets/T%201").is_ok());
        assert!(check_query("q=a%7F").is_err());
        assert!(check_query("q=a%2Bb&limit=5").is_ok());
        assert!(check_query("q%00=1").is_err());
    }
}
