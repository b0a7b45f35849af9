//! tixbridge-wallet: a wallet service that speaks the API of `WALLET-API.md` over any
//! [`WalletStore`].
//!
//! - [`router`] / [`serve`] / [`serve_with`]: the axum application; `serve*` take an
//!   already-bound listener and a shutdown future, so tests bind port 0 and stop it at
//!   will. `serve_with` also runs the [`sweeper`] (transfer time-outs, deletion
//!   confirmations) until shutdown.
//! - [`operations`]: every route the service answers, one `(method, path)` each; the
//!   router is built from it and a test checks it against `/openapi.json`.
//! - [`create_organizer`]: registers an organizer and hands back its new API key
//!   (shown once; only its SHA-256 is stored).
//! - `auth`: API key from Basic auth or `X-Api-Key` (both: the same key), checked
//!   against the store on every request so that a rotated key stops at once.
//! - `organizer`: the organizer API (inject, delete, control, back-office transfer,
//!   reads, the change feed, CSV injection); `report`: the track record;
//!   `app`: the spectator app API (sandbox sessions).
//! - [`error`]: the one error type; every error answer is
//!   `{"error": {"code", "message"}}`.
//! - [`connection`]: the listener's gate and a middleware that answer what hyper would
//!   refuse with a bare status (malformed head, URI or head too large) with that body.

pub mod connection;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod sweeper;

mod app;
mod auth;
mod body;
mod organizer;
mod privileges;
mod report;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::Method;
use axum::routing::{MethodRouter, get};
use axum::{Json, Router};
use serde_json::{Value, json};

use tixbridge_core::lifecycle::Settings;
use tixbridge_store::{Organizer, WalletStore};

pub use auth::hash_api_key;
pub use error::ApiError;
pub use organizer::{DEFAULT_LIST_LIMIT, EventList, MAX_CSV_BODY_BYTES, MAX_LIST_LIMIT};

/// Largest request body accepted: 50 tickets of a few KiB each fit many times over,
/// while a runaway client cannot make the service buffer megabytes.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// How the service behaves, beyond its store.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Sandbox mode: `POST /app/session` hands out app sessions to any email. Off in
    /// production, where a real identity provider stands there.
    pub sandbox: bool,
    /// Transfer time-out and deletion confirmation delay.
    pub settings: Settings,
    /// How often the sweeper looks for due work when it found none.
    pub sweep_interval: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            sandbox: false,
            settings: Settings::default(),
            sweep_interval: Duration::from_secs(1),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Arc<dyn WalletStore>,
    pub(crate) sessions: Arc<app::Sessions>,
    pub(crate) metrics: Arc<metrics::Metrics>,
    pub(crate) sandbox: bool,
    pub(crate) settings: Settings,
}

impl AppState {
    pub fn new(store: Arc<dyn WalletStore>) -> Self {
        Self::with_config(store, &ServiceConfig::default())
    }

    pub fn with_config(store: Arc<dyn WalletStore>, config: &ServiceConfig) -> Self {
        Self {
            store,
            sessions: Arc::default(),
            metrics: Arc::default(),
            sandbox: config.sandbox,
            settings: config.settings,
        }
    }

    /// The service's metrics registry.
    pub fn metrics(&self) -> Arc<metrics::Metrics> {
        self.metrics.clone()
    }
}

impl FromRef<AppState> for Arc<metrics::Metrics> {
    fn from_ref(s: &AppState) -> Self {
        s.metrics.clone()
    }
}

/// Every operation the service answers: method, path (axum syntax) and handler. The
/// router is built from this list only, so it is the truth `/openapi.json` is
/// checked against.
pub fn operations() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    let mut ops = vec![
        (Method::GET, "/health", get(health)),
        (Method::GET, "/ready", get(ready)),
        (Method::GET, "/metrics", get(metrics::handler)),
        (Method::GET, "/openapi.json", get(openapi::handler)),
    ];
    ops.extend(organizer::operations());
    ops.extend(report::operations());
    ops.extend(privileges::operations());
    ops.extend(app::operations());
    ops
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let mut r = Router::new();
    for (_, path, handler) in operations() {
        r = r.route(path, handler);
    }
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Every path segment and query parameter passes the character rule.
        .layer(axum::middleware::from_fn(body::check_uri))
        // The URI and head limits, for the requests the listener's gate does not see.
        .layer(axum::middleware::from_fn(connection::check_limits))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves the wallet API on `listener` until `shutdown` completes, then lets the
/// requests in flight finish. Default configuration: no sandbox sessions.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<dyn WalletStore>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with(listener, store, ServiceConfig::default(), shutdown).await
}

/// Serves the wallet API with `config`, and runs the sweeper beside it; both stop
/// when `shutdown` completes.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    store: Arc<dyn WalletStore>,
    config: ServiceConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let state = AppState::with_config(store.clone(), &config);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sweeper = tokio::spawn(sweeper::run(
        store,
        config.settings,
        config.sweep_interval,
        state.metrics(),
        stop_rx,
    ));
    tracing::info!(%addr, sandbox = config.sandbox, "wallet service listening");
    // Each connection's first request head is checked before hyper reads it, so that
    // what hyper would refuse bare is answered with the JSON error body.
    let listener = connection::GatedListener::new(listener)?;
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_tx.send(true);
    let _ = sweeper.await;
    served?;
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
    let key = new_api_key();
    let org = store.create_organizer(name, &hash_api_key(&key)).await?;
    Ok((org, key))
}

/// Gives the organizer a fresh random API key and answers it: the old key stops
/// working with the store's commit, on every service reading that store (keys are
/// checked against the store on each request). The new key is not kept anywhere but
/// in the answer: show it once. An unknown organizer is an error.
pub async fn rotate_organizer_key(
    store: &dyn WalletStore,
    organizer_id: i64,
) -> anyhow::Result<(Organizer, String)> {
    let key = new_api_key();
    let org = store.rotate_key(organizer_id, &hash_api_key(&key)).await?;
    Ok((org, key))
}

/// A new API key: `tnk_` + 64 hex digits, 256 bits from the thread-local CSPRNG —
/// guessing is hopeless, so no rate limit on failed authentications is needed for
/// secrecy.
fn new_api_key() -> String {
    format!("tnk_{}", hex::encode(rand::random::<[u8; 32]>()))
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
    ApiError::not_found("NOT_FOUND", "no such endpoint; see /openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
