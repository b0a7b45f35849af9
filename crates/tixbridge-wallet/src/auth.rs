//! Organizer authentication: the API key arrives as the HTTP Basic password (the user
//! name is the admin login, recorded by the real wallet, not checked) or in
//! `X-Api-Key`. A request carrying both must carry the same key in both: two different
//! credentials are refused (`401`), whichever of them is valid (the contract). Only
//! the key's SHA-256 is ever stored, compared or kept in memory; the key itself is
//! never logged.
//!
//! Every request's key is checked against the store (one lookup by the unique index
//! on the key's hash), never against a copy kept in memory: `wallet organizer
//! rotate-key` runs in another process, and the old key must stop working at once on
//! every running service sharing the database.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use base64::Engine;
use sha2::{Digest, Sha256};

use tixbridge_store::Organizer;

use crate::AppState;
use crate::error::ApiError;

/// Hex SHA-256 of an API key: what the store keeps instead of the key.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The key of `X-Api-Key`, if the header is there and not blank.
fn header_key(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("x-api-key")?.to_str().ok()?.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// What `Authorization` says: absent, or the Basic password (None when the header is
/// there but is not Basic with a non-empty password).
fn basic_key(headers: &HeaderMap) -> Option<Option<String>> {
    let auth = headers.get(axum::http::header::AUTHORIZATION)?;
    Some((|| {
        let (scheme, value) = auth.to_str().ok()?.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (_login, key) = decoded.split_once(':')?;
        (!key.is_empty()).then(|| key.to_owned())
    })())
}

/// The API key of a request: from `X-Api-Key` or the Basic password; both present
/// must agree. `Unauthorized` when none is usable, `CredentialsConflict` when they
/// differ (or one is unreadable while the other is given).
fn api_key(headers: &HeaderMap) -> Result<String, ApiError> {
    match (header_key(headers), basic_key(headers)) {
        (Some(k), None) => Ok(k),
        (Some(k), Some(Some(b))) if k == b => Ok(k),
        (Some(_), Some(_)) => Err(ApiError::CredentialsConflict),
        (None, Some(Some(b))) => Ok(b),
        (None, _) => Err(ApiError::Unauthorized),
    }
}

/// The authenticated organizer of an organizer API call; rejects with `401`.
pub struct Authed(pub Organizer);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = api_key(&parts.headers)?;
        state
            .store
            .organizer_by_key(&hash_api_key(&key))
            .await?
            .map(Authed)
            .ok_or(ApiError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn basic(login_and_key: &str) -> HeaderValue {
        let b64 = base64::engine::general_purpose::STANDARD.encode(login_and_key);
        HeaderValue::from_str(&format!("Basic {b64}")).unwrap()
    }

    fn key(h: &HeaderMap) -> Option<String> {
        api_key(h).ok()
    }

    #[test]
    fn keys_come_from_basic_or_header() {
        let mut h = HeaderMap::new();
        assert!(matches!(api_key(&h), Err(ApiError::Unauthorized)));
        h.insert("authorization", basic("admin@x.org:tnk_123"));
        assert_eq!(key(&h).as_deref(), Some("tnk_123"));
        h.insert("x-api-key", HeaderValue::from_static("tnk_123"));
        assert_eq!(key(&h).as_deref(), Some("tnk_123"));
        h.remove("authorization");
        assert_eq!(key(&h).as_deref(), Some("tnk_123"));

        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer tnk_123"));
        assert!(matches!(api_key(&h), Err(ApiError::Unauthorized)));
        h.insert("authorization", basic("admin:"));
        assert!(matches!(api_key(&h), Err(ApiError::Unauthorized)));
        h.insert("authorization", HeaderValue::from_static("Basic !!!"));
        assert!(matches!(api_key(&h), Err(ApiError::Unauthorized)));
    }

    /// Two credentials that disagree are refused, whichever one is valid.
    #[test]
    fn conflicting_credentials_are_refused() {
        for auth in [
            basic("admin:tnk_other"),
            HeaderValue::from_static("Bearer tnk_123"),
            HeaderValue::from_static("Basic !!!"),
            basic("admin:"),
        ] {
            let mut h = HeaderMap::new();
            h.insert("x-api-key", HeaderValue::from_static("tnk_123"));
            h.insert("authorization", auth.clone());
            assert!(
                matches!(api_key(&h), Err(ApiError::CredentialsConflict)),
                "{auth:?}"
            );
        }
    }

    #[test]
    fn key_hash_is_hex_sha256() {
        assert_eq!(
            hash_api_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
