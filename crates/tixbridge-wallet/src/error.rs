//! The service's one error type and its mapping to HTTP: every error answer is
//! `{"error": {"code", "message"}}` (WALLET-API.md). Internal failures are logged with
//! their cause and answered with a generic sentence, so nothing of the database or the
//! code leaks to callers.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use tixbridge_core::api::{ErrorBody, MAX_TICKETS_PER_CALL};
use tixbridge_store::StoreError;

/// Seconds a client should wait before retrying after a `503`.
pub const RETRY_AFTER_SECS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or wrong API key")]
    Unauthorized,
    /// `X-Api-Key` and `Authorization` both given, and not the same key.
    #[error("two different credentials")]
    CredentialsConflict,
    #[error("missing or expired app session")]
    SessionRequired,
    #[error("{sent} items in one call")]
    TooManyItems { sent: usize },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request target is longer than [`crate::connection::MAX_URI_BYTES`] (`414`).
    #[error("the URI is too long")]
    UriTooLong { length: usize },
    /// The request head has too many header fields or too many bytes (`431`).
    #[error("{0}")]
    HeadersTooLarge(String),
    /// The request head cannot be read as HTTP/1.1 (`400`): answered by the
    /// connection gate before any route sees it.
    #[error("{0}")]
    MalformedRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// A well-formed request the current state forbids, with its own code (`409`).
    #[error("{message}")]
    StateConflict { code: &'static str, message: String },
    #[error("{0}")]
    Unavailable(String),
    /// A lifecycle action refused by the state machine or a transfer rule.
    #[error("{}", .0.message)]
    Refused(tixbridge_core::lifecycle::Refusal),
    /// The cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::StateConflict {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound {
            code,
            message: message.into(),
        }
    }

    /// Status, code and the sentence the caller sees.
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "missing or wrong API key: send it as the Basic auth password or in X-Api-Key"
                    .into(),
            ),
            Self::CredentialsConflict => (
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "the request carries two different credentials (X-Api-Key and Authorization): \
                 send the API key once, or the same key in both"
                    .into(),
            ),
            Self::SessionRequired => (
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "missing or expired app session: open one with POST /app/session and send Authorization: Bearer <token>"
                    .into(),
            ),
            Self::TooManyItems { sent } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "TOO_MANY_TICKETS",
                format!(
                    "{sent} items in one call; at most {MAX_TICKETS_PER_CALL} are accepted: split the call"
                ),
            ),
            Self::PayloadTooLarge(m) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                m.clone(),
            ),
            Self::BadRequest { code, message } => (StatusCode::BAD_REQUEST, code, message.clone()),
            Self::UnsupportedMediaType(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                m.clone(),
            ),
            Self::NotFound { code, message } => (StatusCode::NOT_FOUND, code, message.clone()),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "this method is not allowed on this path".into(),
            ),
            Self::UriTooLong { length } => (
                StatusCode::URI_TOO_LONG,
                "URI_TOO_LONG",
                format!(
                    "the request target is {length} bytes long; at most {} are accepted",
                    crate::connection::MAX_URI_BYTES
                ),
            ),
            Self::HeadersTooLarge(m) => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "HEADERS_TOO_LARGE",
                m.clone(),
            ),
            Self::MalformedRequest(m) => (StatusCode::BAD_REQUEST, "MALFORMED_REQUEST", m.clone()),
            Self::Conflict(m) => (StatusCode::CONFLICT, "CONFLICT", m.clone()),
            Self::StateConflict { code, message } => (StatusCode::CONFLICT, code, message.clone()),
            Self::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", m.clone()),
            Self::Refused(r) => {
                use tixbridge_core::lifecycle as l;
                let status = match r.code {
                    l::TRANSFER_NOT_ALLOWED => StatusCode::FORBIDDEN,
                    l::TICKET_NOT_FOUND => StatusCode::NOT_FOUND,
                    l::INVALID_ACTION => StatusCode::BAD_REQUEST,
                    _ => StatusCode::CONFLICT,
                };
                (status, r.code, r.message.clone())
            }
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "an internal error occurred; it has been logged, retry later".into(),
            ),
        }
    }
}

impl ApiError {
    /// The whole HTTP/1.1 answer as bytes, for the connection gate, which answers
    /// before hyper and axum have a request: the same status and JSON body as
    /// [`IntoResponse`], and `Connection: close` (the connection is not read further).
    pub(crate) fn to_http1_bytes(&self) -> Vec<u8> {
        let (status, code, message) = self.parts();
        let body = serde_json::to_vec(&ErrorBody::new(code, message))
            .unwrap_or_else(|_| br#"{"error":{"code":"INTERNAL_ERROR","message":""}}"#.to_vec());
        let mut out = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\ndate: {}\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len(),
            chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT"),
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let (status, code, message) = self.parts();
        let session = matches!(self, Self::SessionRequired);
        let mut resp = (status, Json(ErrorBody::new(code, message))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        if session {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tixbridge app\""),
            );
        } else if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tixbridge wallet\""),
            );
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::NotFound(m) => Self::not_found("NOT_FOUND", m),
            StoreError::Invalid(m) => Self::bad_request("INVALID_REQUEST", m),
            StoreError::Backend(m) => Self::Internal(m),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        // axum answers 400 for bad syntax and 422 for wrong types; the contract has
        // one answer for both.
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge(format!(
                "the request body is larger than {} bytes",
                crate::MAX_BODY_BYTES
            )),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".into(),
            ),
            s if s.is_client_error() => Self::bad_request("INVALID_JSON", r.body_text()),
            _ => Self::Internal(r.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::bad_request("INVALID_QUERY", r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::bad_request("INVALID_PATH", r.body_text())
    }
}
