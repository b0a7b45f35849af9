//! The track record (WALLET-API.md, "Track record"): the status-log report, paged by
//! seq, and the verification of the organizer's hash chain.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::routing::{MethodRouter, get};
use serde::{Deserialize, Serialize};

use tixbridge_core::api::{LogEntry, Verification, parse_time};
use tixbridge_core::ledger::format_at;
use tixbridge_store::LogQuery;

use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiError;
use crate::organizer::PageParams;

pub(crate) fn operations() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (
            Method::GET,
            "/organizer/report/ticket-status-logs",
            get(status_logs),
        ),
        (Method::GET, "/organizer/report/verify", get(verify)),
    ]
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportParams {
    from: Option<String>,
    to: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

/// `{"result": [Entry…], "nextPageKey"}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportPage {
    pub result: Vec<LogEntry>,
    pub next_page_key: String,
}

/// A time bound of the report, as the log stores times (UTC millis, compared as text).
fn bound(name: &str, v: Option<String>) -> Result<Option<String>, ApiError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => parse_time(s)
            .map(|t| Some(format_at(t.with_timezone(&chrono::Utc))))
            .map_err(|_| {
                ApiError::bad_request(
                    "INVALID_QUERY",
                    format!("{name} {s:?} is not an RFC 3339 time (e.g. 2026-06-01T00:00:00Z)"),
                )
            }),
    }
}

/// Refuses a pagination key beyond the organizer's chain head: `409
/// INVALID_PAGINATION_KEY` with the head in the message. Such a key was handed out by a
/// wallet whose store was since restored from an older backup; answering empty pages
/// would hide every change made after the restore. A conflict with the wallet's state,
/// not a malformed key (that one is `400`): the same key was valid when it was given. Called when a page came back empty,
/// the only case where the key can be beyond the head, so a full page costs no read.
pub(crate) async fn refuse_key_beyond_head(
    state: &AppState,
    organizer_id: i64,
    after_seq: i64,
) -> Result<(), ApiError> {
    if after_seq == 0 {
        return Ok(());
    }
    let head = state.store.chain_head(organizer_id).await?;
    if after_seq > head.seq {
        return Err(ApiError::conflict(
            "INVALID_PAGINATION_KEY",
            format!(
                "paginationKey {after_seq} is beyond the last change this wallet holds ({}): \
                 the wallet was restored from an older state; start again with paginationKey={} \
                 (or an empty key) and reconcile what you hold",
                head.seq, head.seq
            ),
        ));
    }
    Ok(())
}

/// `GET /organizer/report/ticket-status-logs?from=&to=&paginationKey=&limit=`: entries
/// in seq order; the key is the last seq returned, kept when the page is empty. A key
/// beyond the chain's head is refused ([`refuse_key_beyond_head`]).
async fn status_logs(
    State(state): State<AppState>,
    Authed(org): Authed,
    params: Result<Query<ReportParams>, QueryRejection>,
) -> Result<Json<ReportPage>, ApiError> {
    let Query(params) = params?;
    let from = bound("from", params.from)?;
    let to = bound("to", params.to)?;
    let (after_seq, limit) = params.page.parse()?;
    let result = state
        .store
        .report(
            org.id,
            &LogQuery {
                after_seq,
                from,
                to,
                limit,
            },
        )
        .await?;
    if result.is_empty() {
        refuse_key_beyond_head(&state, org.id, after_seq).await?;
    }
    let next = result.last().map_or(after_seq, |e| e.seq);
    Ok(Json(ReportPage {
        result,
        next_page_key: next.to_string(),
    }))
}

/// `GET /organizer/report/verify`: recomputes the chain and checks every ticket row
/// against its last entry.
async fn verify(
    State(state): State<AppState>,
    Authed(org): Authed,
) -> Result<Json<Verification>, ApiError> {
    let v = state.store.verify(org.id).await?;
    if !v.valid {
        tracing::warn!(
            organizer = org.id,
            broken_seq = v.broken_seq,
            ticket = v.ticket_id.as_deref(),
            "track record verification failed"
        );
    }
    Ok(Json(v))
}
