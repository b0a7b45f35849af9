//! tixbridge-wallet: a wallet service that speaks the organizer API of
//! `WALLET-API.md` over any [`WalletStore`].
//!
//! - [`router`] / [`serve`]: the axum application; `serve` takes an already-bound
//!   listener and a shutdown future, so tests bind port 0 and stop it at will.
//! - [`create_organizer`]: registers an organizer and hands back its new API key
//!   (shown once; only its SHA-256 is stored).
//! - `auth`: API key from Basic auth or `X-Api-Key`, with an in-memory key cache.
//! - `organizer`: the organizer endpoints (inject, ticket, list, events, statistics).
//! - [`error`]: the one error type; every error answer is
//!   `{"error": {"code", "message"}}`.

pub mod error;

mod auth;
mod body;
mod organizer;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use tixbridge_store::{Organizer, WalletStore};

pub use auth::hash_api_key;
pub use error::ApiError;
pub use organizer::{DEFAULT_LIST_LIMIT, EventList, MAX_LIST_LIMIT};

/// Largest request body accepted: 50 tickets of a few KiB each fit many times over,
/// while a runaway client cannot make the service buffer megabytes.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Arc<dyn WalletStore>,
    pub(crate) keys: Arc<auth::KeyCache>,
}

impl AppState {
    pub fn new(store: Arc<dyn WalletStore>) -> Self {
        Self {
            store,
            keys: Arc::default(),
        }
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(organizer::router())
        .route("/health", get(health))
        .route("/ready", get(ready))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves the wallet API on `listener` until `shutdown` completes, then lets the
/// requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<dyn WalletStore>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "wallet service listening");
    axum::serve(listener, router(AppState::new(store)))
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("wallet service stopped");
    Ok(())
}

/// Creates an organizer with a fresh random API key (`tnk_` + 64 hex digits) and
/// answers the organizer and the key. The key is not kept anywhere: give it to the
/// organizer now.
pub async fn create_organizer(
    store: &dyn WalletStore,
    name: &str,
) -> anyhow::Result<(Organizer, String)> {
    let name = name.trim();
    anyhow::ensure!(!name.is_empty(), "the organizer name is empty");
    // 256 bits from the thread-local CSPRNG: guessing is hopeless, so no rate limit
    // on failed authentications is needed for secrecy.
    let key = format!("tnk_{}", hex::encode(rand::random::<[u8; 32]>()));
    let org = store.create_organizer(name, &hash_api_key(&key)).await?;
    Ok((org, key))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the store answers; `503` with `Retry-After` otherwise.
async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "store not reachable");
            Err(ApiError::Unavailable(
                "the wallet store is not reachable; retry later".into(),
            ))
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("NOT_FOUND", "no such endpoint; see WALLET-API.md")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
