//! The organizer API (WALLET-API.md, "Organizer API"): injection and reads.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use tixbridge_core::api::{
    EventStatistics, EventSummary, InjectRequest, ItemResult, MAX_TICKETS_PER_CALL,
    ResultsResponse, TicketList, TicketRecord, validate_ticket,
};
use tixbridge_core::status::WalletStatus;
use tixbridge_store::{Actor, TicketQuery};

use crate::AppState;
use crate::auth::Authed;
use crate::body::JsonBody;
use crate::error::ApiError;

/// Tickets per page of `GET /organizer/tickets` when `limit` is not given.
pub const DEFAULT_LIST_LIMIT: usize = 100;
/// Largest page of `GET /organizer/tickets`; a larger `limit` is lowered to it.
pub const MAX_LIST_LIMIT: usize = 1_000;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/organizer/tickets", get(list_tickets).post(inject))
        .route("/organizer/tickets/{ticket_id}", get(ticket))
        .route("/organizer/events", get(events))
        .route("/organizer/events/{event_id}/statistics", get(statistics))
}

/// `POST /organizer/tickets`: validates each ticket (a `KO` names the field), stores
/// the valid ones in one store call, answers one result per ticket in request order.
async fn inject(
    State(state): State<AppState>,
    Authed(org): Authed,
    JsonBody(req): JsonBody<InjectRequest>,
) -> Result<Json<ResultsResponse>, ApiError> {
    let n = req.tickets.len();
    if n > MAX_TICKETS_PER_CALL {
        return Err(ApiError::TooManyItems { sent: n });
    }
    if n == 0 {
        return Err(ApiError::bad_request(
            "NO_TICKETS",
            format!("the call carries no ticket; send 1 to {MAX_TICKETS_PER_CALL}"),
        ));
    }

    let mut results: Vec<Option<ItemResult>> = Vec::with_capacity(n);
    let mut valid = Vec::with_capacity(n);
    for t in req.tickets {
        match validate_ticket(&t) {
            Ok(()) => {
                results.push(None);
                valid.push(t);
            }
            Err(e) => results.push(Some(ItemResult::ko(
                t.ticket_id.unwrap_or_default(),
                e.code,
                e.message,
            ))),
        }
    }
    let mut stored = if valid.is_empty() {
        Vec::new()
    } else {
        let expected = valid.len();
        let stored = state
            .store
            .inject(org.id, valid, Actor::OrganizerApi, chrono::Utc::now())
            .await?;
        if stored.len() != expected {
            return Err(ApiError::Internal(format!(
                "the store answered {} results for {expected} tickets",
                stored.len()
            )));
        }
        stored
    }
    .into_iter();
    // Valid tickets' results fill the gaps left by the refused ones, in order.
    let results = results
        .into_iter()
        .map(|r| r.or_else(|| stored.next()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ApiError::Internal("a ticket got no result".into()))?;
    Ok(Json(ResultsResponse { results }))
}

async fn ticket(
    State(state): State<AppState>,
    Authed(org): Authed,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<TicketRecord>, ApiError> {
    let Path(id) = id?;
    // Another organizer's ticket answers exactly like an unknown one.
    state
        .store
        .ticket(org.id, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("TICKET_NOT_FOUND", format!("no ticket {id}")))
}

/// Query of `GET /organizer/tickets`. Every value is text so that an empty one
/// (`?eventId=&status=`) means "no filter" rather than a parse error.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListParams {
    event_id: Option<String>,
    status: Option<String>,
    q: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

fn number(name: &str, v: Option<String>, default: usize) -> Result<usize, ApiError> {
    match non_empty(v) {
        None => Ok(default),
        Some(s) => s.trim().parse().map_err(|_| {
            ApiError::bad_request(
                "INVALID_QUERY",
                format!("{name} must be a non-negative integer, not {s:?}"),
            )
        }),
    }
}

impl ListParams {
    fn into_query(self) -> Result<TicketQuery, ApiError> {
        let status = match non_empty(self.status) {
            None => None,
            Some(s) => Some(s.parse::<WalletStatus>().map_err(|_| {
                ApiError::bad_request(
                    "INVALID_QUERY",
                    format!("status {s:?} is not a wallet status (e.g. INJECTED, DOWNLOADED)"),
                )
            })?),
        };
        Ok(TicketQuery {
            event_id: non_empty(self.event_id),
            status,
            q: non_empty(self.q).map(|s| s.trim().to_owned()),
            limit: number("limit", self.limit, DEFAULT_LIST_LIMIT)?.min(MAX_LIST_LIMIT),
            offset: number("offset", self.offset, 0)?,
        })
    }
}

/// `GET /organizer/tickets`: states without history, ordered by ticket id.
async fn list_tickets(
    State(state): State<AppState>,
    Authed(org): Authed,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<TicketList>, ApiError> {
    let Query(params) = params?;
    let query = params.into_query()?;
    Ok(Json(state.store.tickets(org.id, &query).await?))
}

/// `{"events": [...]}`: an object, so fields can be added compatibly.
#[derive(Debug, Serialize, Deserialize)]
pub struct EventList {
    pub events: Vec<EventSummary>,
}

async fn events(
    State(state): State<AppState>,
    Authed(org): Authed,
) -> Result<Json<EventList>, ApiError> {
    Ok(Json(EventList {
        events: state.store.events(org.id).await?,
    }))
}

async fn statistics(
    State(state): State<AppState>,
    Authed(org): Authed,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<EventStatistics>, ApiError> {
    let Path(id) = id?;
    state
        .store
        .event_statistics(org.id, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("EVENT_NOT_FOUND", format!("no event {id}")))
}
