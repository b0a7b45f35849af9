//! `JsonBody<T>`: the request-body extractor of the write endpoints.
//!
//! axum's `Json` runs every body through `serde_path_to_error`, which wraps each step
//! of deserialisation to be able to name the failing field; on the injection hot path
//! that costs more than the parse itself. This extractor parses with plain
//! `serde_json` and only when that fails parses again with the path tracker, so an
//! error still names the field (`tickets[3].event.name: invalid type …`).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
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
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(format!(
                    "the request body is larger than {} bytes",
                    crate::MAX_BODY_BYTES
                ))
            } else {
                ApiError::bad_request("INVALID_BODY", r.body_text())
            }
        })?;
        match serde_json::from_slice(&bytes) {
            Ok(v) => Ok(JsonBody(v)),
            Err(_) => {
                let de = &mut serde_json::Deserializer::from_slice(&bytes);
                let msg = match serde_path_to_error::deserialize::<_, T>(de) {
                    Err(e) if e.path().to_string() != "." => {
                        format!("{}: {}", e.path(), e.inner())
                    }
                    Err(e) => e.inner().to_string(),
                    Ok(_) => "the body is not valid JSON".to_owned(),
                };
                Err(ApiError::bad_request(
                    "INVALID_JSON",
                    format!("the body could not be read as JSON: {msg}"),
                ))
            }
        }
    }
}
