//! Organizer authentication: the API key arrives as the HTTP Basic password (the user
//! name is the admin login, recorded by the real wallet, not checked) or in
//! `X-Api-Key`. Only the key's SHA-256 is ever stored, compared or kept in memory; the
//! key itself is never logged.

use std::collections::HashMap;
use std::sync::RwLock;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use base64::Engine;
use sha2::{Digest, Sha256};

use tixbridge_store::{Organizer, WalletStore};

use crate::AppState;
use crate::error::ApiError;

/// Hex SHA-256 of an API key: what the store keeps instead of the key.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Known keys (by hash) → organizer, so that the hot path authenticates without a
/// database round trip. Organizers are few and never change identity, so entries
/// are never evicted; unknown keys are not cached, so wrong keys cannot fill it.
#[derive(Default)]
pub(crate) struct KeyCache {
    map: RwLock<HashMap<String, Organizer>>,
}

impl KeyCache {
    pub(crate) async fn organizer(
        &self,
        store: &dyn WalletStore,
        key_sha256: &str,
    ) -> Result<Option<Organizer>, ApiError> {
        if let Some(o) = self
            .map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key_sha256)
        {
            return Ok(Some(o.clone()));
        }
        let found = store.organizer_by_key(key_sha256).await?;
        if let Some(o) = &found {
            self.map
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key_sha256.to_owned(), o.clone());
        }
        Ok(found)
    }
}

/// The API key of a request, if it carries one.
fn api_key(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if !v.is_empty() {
            return Some(v.to_owned());
        }
    }
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, value) = auth.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (_login, key) = decoded.split_once(':')?;
    (!key.is_empty()).then(|| key.to_owned())
}

/// The authenticated organizer of an organizer API call; rejects with `401`.
pub struct Authed(pub Organizer);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = api_key(&parts.headers).ok_or(ApiError::Unauthorized)?;
        state
            .keys
            .organizer(state.store.as_ref(), &hash_api_key(&key))
            .await?
            .map(Authed)
            .ok_or(ApiError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn keys_come_from_basic_or_header() {
        let mut h = HeaderMap::new();
        assert_eq!(api_key(&h), None);
        let basic = base64::engine::general_purpose::STANDARD.encode("admin@x.org:tnk_123");
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Basic {basic}")).unwrap(),
        );
        assert_eq!(api_key(&h).as_deref(), Some("tnk_123"));
        h.insert("x-api-key", HeaderValue::from_static("tnk_456"));
        assert_eq!(api_key(&h).as_deref(), Some("tnk_456"));

        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer tnk_123"));
        assert_eq!(api_key(&h), None);
        let empty = base64::engine::general_purpose::STANDARD.encode("admin:");
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Basic {empty}")).unwrap(),
        );
        assert_eq!(api_key(&h), None);
        h.insert("authorization", HeaderValue::from_static("Basic !!!"));
        assert_eq!(api_key(&h), None);
    }

    #[test]
    fn key_hash_is_hex_sha256() {
        assert_eq!(
            hash_api_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
