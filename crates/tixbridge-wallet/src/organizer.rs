//! The organizer API (WALLET-API.md, "Organizer API"): injection (JSON and CSV),
//! deletion, control, back-office transfer, the change feed and reads.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, Method, header};
use axum::routing::{MethodRouter, get, post};
use serde::{Deserialize, Serialize};

use tixbridge_core::api::{
    DEFAULT_DIFF_LIMIT, DiffPage, EventStatistics, EventSummary, FieldError, InjectRequest,
    ItemResult, MAX_DIFF_LIMIT, MAX_TICKETS_PER_CALL, Person, ResultsResponse, SeenIds, TicketList,
    TicketRecord, TicketState, check_controlled_at, validate_ticket,
};
use tixbridge_core::csv_tickets;
use tixbridge_core::ledger::format_at;
use tixbridge_core::lifecycle::{Action, Caller, Op, OpResult};
use tixbridge_core::status::WalletStatus;
use tixbridge_core::text::char_count;
use tixbridge_store::{Actor, TicketQuery};

use crate::AppState;
use crate::auth::Authed;
use crate::body::{HasItems, ItemsBody, JsonBody, checked};
use crate::error::ApiError;

/// Tickets per page of `GET /organizer/tickets` when `limit` is not given.
pub const DEFAULT_LIST_LIMIT: usize = 100;
/// Largest page of `GET /organizer/tickets`; a larger `limit` is lowered to it.
pub const MAX_LIST_LIMIT: usize = 1_000;
/// Largest page of `GET /organizer/tickets` with `paginationKey` (keyset paging, which
/// costs the same at any depth).
pub const MAX_KEYSET_LIMIT: usize = 10_000;

/// Largest CSV body: 20,000 rows of about a kilobyte each, with room to spare.
pub const MAX_CSV_BODY_BYTES: usize = 48 * 1024 * 1024;

/// Tickets per store call of a CSV injection: small enough that one call does not
/// hold the store's writer for long, large enough to amortise the transaction.
const CSV_CHUNK: usize = 500;

pub(crate) fn operations() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (Method::POST, "/organizer/tickets", post(inject)),
        (Method::GET, "/organizer/tickets", get(list_tickets)),
        (Method::GET, "/organizer/tickets/diff", get(diff)),
        (Method::GET, "/organizer/tickets/{ticket_id}", get(ticket)),
        (Method::POST, "/organizer/tickets/delete", post(delete)),
        (
            Method::POST,
            "/organizer/tickets/controlled",
            post(controlled),
        ),
        (
            Method::POST,
            "/organizer/tickets/csv",
            post(inject_csv).layer(DefaultBodyLimit::max(MAX_CSV_BODY_BYTES)),
        ),
        (
            Method::POST,
            "/organizer/tickets/{ticket_id}/transfer",
            post(back_office_transfer),
        ),
        (Method::GET, "/organizer/events", get(events)),
        (
            Method::GET,
            "/organizer/events/{event_id}/statistics",
            get(statistics),
        ),
    ]
}

/// `POST /organizer/tickets`: validates each ticket (a `KO` names the field), stores
/// the valid ones in one store call, answers one result per ticket in request order.
async fn inject(
    State(state): State<AppState>,
    Authed(org): Authed,
    ItemsBody(req, mut refusals): ItemsBody<InjectRequest>,
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
    let mut seen = SeenIds::new(|i| format!("tickets[{i}]"));
    for (i, t) in req.tickets.into_iter().enumerate() {
        let id = t.ticket_id.as_deref().unwrap_or("");
        match checked(refusals.take(i), &mut seen, "ticketId", id, i, || {
            validate_ticket(&t)
        }) {
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
    /// Keyset paging: present (even empty: from the start) for tickets whose id sorts
    /// after it, byte by byte; an `offset` then skips that many tickets after the key.
    pagination_key: Option<String>,
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
        let keyset = self.pagination_key.is_some();
        // With a key, an offset skips that many tickets after it.
        let offset = number("offset", self.offset, 0)?;
        let max = if keyset {
            MAX_KEYSET_LIMIT
        } else {
            MAX_LIST_LIMIT
        };
        Ok(TicketQuery {
            event_id: non_empty(self.event_id),
            status,
            q: non_empty(self.q).map(|s| s.trim().to_owned()),
            limit: number("limit", self.limit, DEFAULT_LIST_LIMIT)?.min(max),
            offset,
            // Not trimmed: a ticket id may end with a space.
            after: self.pagination_key,
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

/// Checks the number of items of a write call: 1 to 50.
pub(crate) fn check_call_size(n: usize, what: &str) -> Result<(), ApiError> {
    if n > MAX_TICKETS_PER_CALL {
        return Err(ApiError::TooManyItems { sent: n });
    }
    if n == 0 {
        return Err(ApiError::bad_request(
            "NO_TICKETS",
            format!("the call carries no {what}; send 1 to {MAX_TICKETS_PER_CALL}"),
        ));
    }
    Ok(())
}

/// Runs `ops` through the store, keeping the per-item refusals found before (`None`
/// slots are filled in order by the store's results), and answers one result each.
async fn apply_items(
    state: &AppState,
    org: i64,
    slots: Vec<(String, Option<ItemResult>)>,
    ops: Vec<Op>,
) -> Result<Json<ResultsResponse>, ApiError> {
    let expected = ops.len();
    let done: Vec<OpResult> = if ops.is_empty() {
        Vec::new()
    } else {
        state
            .store
            .apply(org, ops, chrono::Utc::now(), state.settings)
            .await?
    };
    if done.len() != expected {
        return Err(ApiError::Internal(format!(
            "the store answered {} results for {expected} actions",
            done.len()
        )));
    }
    let mut done = done.into_iter();
    let results = slots
        .into_iter()
        .map(|(id, r)| match r {
            Some(r) => Some(r),
            None => done.next().map(|d| match d {
                Ok(s) => ItemResult::ok(id, &s.status),
                Err(refusal) => ItemResult::ko(id, refusal.code, refusal.message),
            }),
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ApiError::Internal("an item got no result".into()))?;
    Ok(Json(ResultsResponse { results }))
}

/// A ticket id given in a body at position `i`: present, not blank, free of the
/// refusal found in the body's text, and not already given earlier in the call.
fn item_id(
    id: Option<String>,
    i: usize,
    refused: Option<FieldError>,
    seen: &mut SeenIds,
) -> Result<String, ItemResult> {
    // Not trimmed: a space is a legal character of a ticket id, and "T1 " is not "T1".
    let Some(id) = id.filter(|s| !s.trim().is_empty()) else {
        let code = refused.as_ref().map_or("MISSING_FIELD", |e| e.code);
        let message = refused.map_or("ticketId is required".into(), |e| e.message);
        return Err(ItemResult::ko("", code, message));
    };
    match refused
        .map_or(Ok(()), Err)
        .and_then(|()| seen.check("ticketId", &id, i))
    {
        Ok(()) => Ok(id),
        Err(e) => Err(ItemResult::ko(id, e.code, e.message)),
    }
}

#[derive(Debug, Deserialize)]
struct DeleteRequest {
    tickets: Vec<DeleteItem>,
}

impl HasItems for DeleteRequest {
    const ITEMS: &'static str = "tickets";
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteItem {
    ticket_id: Option<String>,
    reason: Option<String>,
    #[serde(default)]
    show_deleted_ticket: bool,
}

/// Longest deletion reason kept.
const MAX_REASON_CHARS: usize = 256;

/// `POST /organizer/tickets/delete`: `DELETION_PENDING` at once; the sweeper confirms
/// `DELETED` after the deletion delay. A repeat is `OK`; a new reason is recorded.
async fn delete(
    State(state): State<AppState>,
    Authed(org): Authed,
    ItemsBody(req, mut refusals): ItemsBody<DeleteRequest>,
) -> Result<Json<ResultsResponse>, ApiError> {
    check_call_size(req.tickets.len(), "ticket")?;
    let mut slots = Vec::with_capacity(req.tickets.len());
    let mut ops = Vec::with_capacity(req.tickets.len());
    let mut seen = SeenIds::new(|i| format!("tickets[{i}]"));
    for (i, item) in req.tickets.into_iter().enumerate() {
        let id = match item_id(item.ticket_id, i, refusals.take(i), &mut seen) {
            Ok(id) => id,
            Err(ko) => {
                slots.push((ko.ticket_id.clone(), Some(ko)));
                continue;
            }
        };
        let reason = item.reason.map(|r| r.trim().to_owned()).unwrap_or_default();
        if reason.is_empty() || char_count(&reason) > MAX_REASON_CHARS {
            let ko = ItemResult::ko(
                id.clone(),
                "INVALID_FIELD",
                format!("reason is required, at most {MAX_REASON_CHARS} characters"),
            );
            slots.push((id, Some(ko)));
            continue;
        }
        ops.push(Op {
            ticket_id: id.clone(),
            caller: Caller::Organizer,
            action: Action::Delete {
                reason,
                show_deleted_ticket: item.show_deleted_ticket,
            },
        });
        slots.push((id, None));
    }
    apply_items(&state, org.id, slots, ops).await
}

#[derive(Debug, Deserialize)]
struct ControlRequest {
    tickets: Vec<ControlItem>,
}

impl HasItems for ControlRequest {
    const ITEMS: &'static str = "tickets";
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ControlItem {
    ticket_id: Option<String>,
    controlled_at: Option<String>,
}

/// `POST /organizer/tickets/controlled`: `CONTROLLED`; a repeat is `OK`; a deleted
/// ticket is `KO TICKET_DELETED`.
async fn controlled(
    State(state): State<AppState>,
    Authed(org): Authed,
    ItemsBody(req, mut refusals): ItemsBody<ControlRequest>,
) -> Result<Json<ResultsResponse>, ApiError> {
    check_call_size(req.tickets.len(), "ticket")?;
    let mut slots = Vec::with_capacity(req.tickets.len());
    let mut ops = Vec::with_capacity(req.tickets.len());
    let mut seen = SeenIds::new(|i| format!("tickets[{i}]"));
    let now = chrono::Utc::now();
    for (i, item) in req.tickets.into_iter().enumerate() {
        let id = match item_id(item.ticket_id, i, refusals.take(i), &mut seen) {
            Ok(id) => id,
            Err(ko) => {
                slots.push((ko.ticket_id.clone(), Some(ko)));
                continue;
            }
        };
        let at = match item.controlled_at.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) => match check_controlled_at(t, now) {
                Ok(t) => Some(format_at(t)),
                Err(e) => {
                    let ko = ItemResult::ko(id.clone(), e.code, e.message);
                    slots.push((id, Some(ko)));
                    continue;
                }
            },
        };
        ops.push(Op {
            ticket_id: id.clone(),
            caller: Caller::Organizer,
            action: Action::Control { controlled_at: at },
        });
        slots.push((id, None));
    }
    apply_items(&state, org.id, slots, ops).await
}

#[derive(Debug, Deserialize)]
struct TransferRequest {
    to: Option<Person>,
}

/// Runs one action on one ticket and answers its new state, or the refusal.
pub(crate) async fn apply_one(
    state: &AppState,
    org: i64,
    op: Op,
) -> Result<Json<TicketState>, ApiError> {
    let mut done = state
        .store
        .apply(org, vec![op], chrono::Utc::now(), state.settings)
        .await?;
    match done.pop() {
        Some(Ok(s)) => Ok(Json(s)),
        Some(Err(r)) => Err(ApiError::Refused(r)),
        None => Err(ApiError::Internal("the store answered no result".into())),
    }
}

/// `POST /organizer/tickets/{id}/transfer`: a back-office transfer. It ignores the
/// transfer rules but never moves a controlled, deleted or expired-event ticket; the
/// recipient accepts it like any transfer.
async fn back_office_transfer(
    State(state): State<AppState>,
    Authed(org): Authed,
    id: Result<Path<String>, PathRejection>,
    JsonBody(req): JsonBody<TransferRequest>,
) -> Result<Json<TicketState>, ApiError> {
    let Path(id) = id?;
    let to = req
        .to
        .ok_or_else(|| ApiError::bad_request("MISSING_FIELD", "to (the recipient) is required"))?;
    apply_one(
        &state,
        org.id,
        Op {
            ticket_id: id,
            caller: Caller::BackOffice,
            action: Action::Transfer { to },
        },
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageParams {
    pagination_key: Option<String>,
    limit: Option<String>,
}

impl PageParams {
    /// The seq after which to read (0 for an empty key) and the page size.
    pub(crate) fn parse(self) -> Result<(i64, usize), ApiError> {
        let after = match non_empty(self.pagination_key) {
            None => 0,
            Some(k) => k
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "INVALID_PAGINATION_KEY",
                        format!(
                            "paginationKey {k:?} is not a key this service gave; start again with an empty key"
                        ),
                    )
                })?,
        };
        let limit = number("limit", self.limit, DEFAULT_DIFF_LIMIT)?;
        if limit == 0 {
            return Err(ApiError::bad_request(
                "INVALID_QUERY",
                format!("limit must be between 1 and {MAX_DIFF_LIMIT}"),
            ));
        }
        Ok((after, limit.min(MAX_DIFF_LIMIT)))
    }
}

/// The query of `GET /organizer/tickets/diff`: the page, and tixbridge's `history`
/// extension (`after`, the default: each ticket's entries after the key; `all`: its
/// whole history).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DiffParams {
    #[serde(flatten)]
    page: PageParams,
    history: Option<String>,
    /// tixbridge's extension: `include` adds the privileges changed after the key.
    privileges: Option<String>,
}

impl DiffParams {
    fn whole_history(&self) -> Result<bool, ApiError> {
        match self.history.as_deref().map(str::trim) {
            None | Some("") | Some("after") => Ok(false),
            Some("all") => Ok(true),
            Some(other) => Err(ApiError::bad_request(
                "INVALID_QUERY",
                format!("history {other:?}: expected after or all"),
            )),
        }
    }

    fn with_privileges(&self) -> Result<bool, ApiError> {
        match self.privileges.as_deref().map(str::trim) {
            None | Some("") | Some("exclude") => Ok(false),
            Some("include") => Ok(true),
            Some(other) => Err(ApiError::bad_request(
                "INVALID_QUERY",
                format!("privileges {other:?}: expected include or exclude"),
            )),
        }
    }
}

/// `GET /organizer/tickets/diff`: tickets changed after the key, oldest change first,
/// each once with its latest state and its history after the key. The key is the seq
/// of the last change returned; an empty page keeps it; a key beyond the chain's head
/// is refused (`report::refuse_key_beyond_head`).
async fn diff(
    State(state): State<AppState>,
    Authed(org): Authed,
    params: Result<Query<DiffParams>, QueryRejection>,
) -> Result<Json<DiffPage>, ApiError> {
    let Query(params) = params?;
    let whole_history = params.whole_history()?;
    let with_privileges = params.with_privileges()?;
    let (after, limit) = params.page.parse()?;
    let since = if whole_history { 0 } else { after };
    let head = state.store.chain_head(org.id).await?.seq;
    let mut tickets = state.store.diff_since(org.id, after, limit, since).await?;
    let mut privileges = Vec::new();
    if with_privileges {
        privileges = state
            .store
            .privilege_diff_since(org.id, after, limit, since)
            .await?;
        // The two reads are two snapshots: a ticket changed between them would be
        // missing from the first while a later privilege change moved the key past
        // it. Every change up to the head read before both is in both snapshots
        // (changes commit in seq order under the organizer's chain lock), so only
        // those are served; later ones come with the next page.
        let settled = |h: &[tixbridge_core::api::LogEntry]| h.last().is_some_and(|e| e.seq <= head);
        tickets.retain(|t| settled(&t.history));
        privileges.retain(|p| settled(&p.history));
        keep_earliest(&mut tickets, &mut privileges, limit);
    }
    if tickets.is_empty() && privileges.is_empty() {
        crate::report::refuse_key_beyond_head(&state, org.id, after).await?;
    }
    let last = |h: &[tixbridge_core::api::LogEntry]| h.last().map(|e| e.seq);
    let next = tickets
        .iter()
        .filter_map(|t| last(&t.history))
        .chain(privileges.iter().filter_map(|p| last(&p.history)))
        .max()
        .unwrap_or(after);
    Ok(Json(DiffPage {
        head_key: Some(head.max(next).to_string()),
        tickets,
        privileges,
        next_page_key: next.to_string(),
    }))
}

/// Keeps, of two pages each in change order, the `limit` earliest changes overall: a
/// change is an item's last status-log entry.
fn keep_earliest(
    tickets: &mut Vec<tixbridge_core::api::TicketState>,
    privileges: &mut Vec<tixbridge_core::api::PrivilegeState>,
    limit: usize,
) {
    if tickets.len() + privileges.len() <= limit {
        return;
    }
    let mut seqs: Vec<i64> = tickets
        .iter()
        .map(|t| t.history.last().map_or(0, |e| e.seq))
        .chain(
            privileges
                .iter()
                .map(|p| p.history.last().map_or(0, |e| e.seq)),
        )
        .collect();
    seqs.sort_unstable();
    let cut = seqs[limit - 1];
    tickets.retain(|t| t.history.last().map_or(0, |e| e.seq) <= cut);
    privileges.retain(|p| p.history.last().map_or(0, |e| e.seq) <= cut);
}

/// One row's result of a CSV injection.
#[derive(Debug, Serialize, Deserialize)]
pub struct CsvRowResult {
    /// 1-based data row (the header is not counted).
    pub row: usize,
    #[serde(flatten)]
    pub result: ItemResult,
}

/// Answer of `POST /organizer/tickets/csv`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CsvResults {
    pub rows: usize,
    pub accepted: usize,
    pub refused: usize,
    pub results: Vec<CsvRowResult>,
}

/// Query of `POST /organizer/tickets/csv`: `delimiter` (`comma`/`,`, `semicolon`/`;`,
/// `tab`) overrides the separator detected from the header line
/// (`tixbridge_core::csv_dialect`); empty or absent means detected.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CsvParams {
    delimiter: Option<String>,
}

/// `POST /organizer/tickets/csv`: the back office's file injection. The file as a
/// whole is refused (400, nothing injected) when it cannot be read as the documented
/// CSV; otherwise every valid row is injected and every row gets its result.
pub(crate) async fn inject_csv(
    State(state): State<AppState>,
    Authed(org): Authed,
    headers: HeaderMap,
    params: Result<Query<CsvParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CsvResults>, ApiError> {
    let Query(params) = params?;
    let delimiter = match non_empty(params.delimiter) {
        None => None,
        Some(d) => Some(
            d.parse::<csv_tickets::Delimiter>()
                .map_err(|e| ApiError::bad_request("INVALID_QUERY", format!("delimiter: {e}")))?,
        ),
    };
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !matches!(
        media.as_str(),
        "text/csv" | "application/csv" | "text/plain"
    ) {
        return Err(ApiError::UnsupportedMediaType(
            "send the file with Content-Type: text/csv".into(),
        ));
    }
    let body = body.map_err(|r| {
        if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "the file is larger than {MAX_CSV_BODY_BYTES} bytes; split it"
            ))
        } else {
            ApiError::bad_request("INVALID_BODY", r.body_text())
        }
    })?;
    let rows = csv_tickets::parse_csv_with(&body, delimiter).map_err(|e| {
        if matches!(e, csv_tickets::CsvError::TooManyRows { .. }) {
            ApiError::PayloadTooLarge(e.to_string())
        } else {
            ApiError::bad_request("INVALID_CSV", e.to_string())
        }
    })?;
    let total = rows.len();
    let mut results: Vec<CsvRowResult> = Vec::with_capacity(total);
    let mut pending: Vec<(usize, tixbridge_core::api::Ticket)> = Vec::new();
    for r in rows {
        match r.ticket {
            Ok(t) => pending.push((r.row, t)),
            Err(e) => results.push(CsvRowResult {
                row: r.row,
                result: ItemResult::ko(r.ticket_id, e.code, e.message),
            }),
        }
    }
    for chunk in pending.chunks(CSV_CHUNK) {
        let tickets: Vec<_> = chunk.iter().map(|(_, t)| t.clone()).collect();
        let stored = state
            .store
            .inject(org.id, tickets, Actor::BackOffice, chrono::Utc::now())
            .await?;
        if stored.len() != chunk.len() {
            return Err(ApiError::Internal(format!(
                "the store answered {} results for {} tickets",
                stored.len(),
                chunk.len()
            )));
        }
        for ((row, _), result) in chunk.iter().zip(stored) {
            results.push(CsvRowResult { row: *row, result });
        }
    }
    results.sort_by_key(|r| r.row);
    let accepted = results.iter().filter(|r| r.result.is_ok()).count();
    Ok(Json(CsvResults {
        rows: total,
        accepted,
        refused: total - accepted,
        results,
    }))
}
