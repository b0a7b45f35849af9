//! Digital privileges (WALLET-API.md "Digital privileges"): injection, deletion and
//! reads of membership and season cards. Rules live in
//! [`tixbridge_core::privilege`]; storage in [`tixbridge_store::PrivilegeStore`]. A
//! privilege's changes are entries of the organizer's one track record, and its
//! pending deletion is confirmed by the service's sweeper
//! ([`tixbridge_store::PrivilegeStore::confirm_due_privileges`]).

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};

use tixbridge_core::api::{ErrorBody, ItemResult, MAX_TICKETS_PER_CALL, ResultsResponse, SeenIds};
use tixbridge_core::privilege::{
    DeletePrivilegesRequest, InjectPrivilegesRequest, PRIVILEGE_NOT_FOUND, PrivilegeRecord,
    validate_deletion, validate_privilege,
};
use tixbridge_store::StoreError;

use crate::AppState;
use crate::auth::Authed;
use crate::body::{ItemsBody, checked};
use crate::error::ApiError;

/// The privilege routes, in the form [`crate::operations`] lists them (the router is
/// built from that list).
pub(crate) fn operations() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (Method::POST, "/organizer/privileges", post(inject)),
        (Method::POST, "/organizer/privileges/delete", post(delete)),
        (
            Method::GET,
            "/organizer/privileges/{privilege_id}",
            get(privilege),
        ),
    ]
}

/// A failed privilege call: any [`ApiError`], or a call carrying more privileges than
/// allowed, whose `413` names privileges (`TOO_MANY_PRIVILEGES`) where
/// [`ApiError::TooManyItems`] names tickets.
#[derive(Debug)]
enum PrivilegeError {
    Api(ApiError),
    TooMany { sent: usize },
}

impl From<ApiError> for PrivilegeError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<StoreError> for PrivilegeError {
    fn from(e: StoreError) -> Self {
        Self::Api(e.into())
    }
}

impl IntoResponse for PrivilegeError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(e) => e.into_response(),
            Self::TooMany { sent } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(ErrorBody::new(
                    "TOO_MANY_PRIVILEGES",
                    format!(
                        "{sent} privileges in one call; at most {MAX_TICKETS_PER_CALL} are accepted: split the call"
                    ),
                )),
            )
                .into_response(),
        }
    }
}

/// 1 to [`MAX_TICKETS_PER_CALL`] items per call.
fn check_call_size(n: usize) -> Result<(), PrivilegeError> {
    if n > MAX_TICKETS_PER_CALL {
        return Err(PrivilegeError::TooMany { sent: n });
    }
    if n == 0 {
        return Err(ApiError::bad_request(
            "NO_PRIVILEGES",
            format!("the call carries no privilege; send 1 to {MAX_TICKETS_PER_CALL}"),
        )
        .into());
    }
    Ok(())
}

/// Fills the `None` slots (the items that passed validation, in order) with the
/// store's results for them.
fn merge(
    slots: Vec<Option<ItemResult>>,
    stored: Vec<ItemResult>,
    expected: usize,
) -> Result<Vec<ItemResult>, PrivilegeError> {
    if stored.len() != expected {
        return Err(ApiError::Internal(format!(
            "the store answered {} results for {expected} privileges",
            stored.len()
        ))
        .into());
    }
    let mut stored = stored.into_iter();
    slots
        .into_iter()
        .map(|r| r.or_else(|| stored.next()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ApiError::Internal("a privilege got no result".into()).into())
}

/// `POST /organizer/privileges`: validates each privilege (a `KO` names the field),
/// stores the valid ones in one store call, answers one result per privilege in
/// request order (`ticketId` holds the privilege id, as for every write call).
async fn inject(
    State(state): State<AppState>,
    Authed(org): Authed,
    ItemsBody(req, mut refusals): ItemsBody<InjectPrivilegesRequest>,
) -> Result<Json<ResultsResponse>, PrivilegeError> {
    check_call_size(req.privileges.len())?;
    let mut slots = Vec::with_capacity(req.privileges.len());
    let mut valid = Vec::with_capacity(req.privileges.len());
    let mut seen = SeenIds::new(|i| format!("privileges[{i}]"));
    for (i, p) in req.privileges.into_iter().enumerate() {
        let id = p.privilege_id.as_deref().unwrap_or("");
        match checked(refusals.take(i), &mut seen, "privilegeId", id, i, || {
            validate_privilege(&p)
        }) {
            Ok(()) => {
                slots.push(None);
                valid.push(p);
            }
            Err(e) => slots.push(Some(ItemResult::ko(
                p.privilege_id.unwrap_or_default(),
                e.code,
                e.message,
            ))),
        }
    }
    let expected = valid.len();
    let stored = if valid.is_empty() {
        Vec::new()
    } else {
        state
            .store
            .inject_privileges(org.id, valid, chrono::Utc::now())
            .await?
    };
    Ok(Json(ResultsResponse {
        results: merge(slots, stored, expected)?,
    }))
}

/// `POST /organizer/privileges/delete`: `DELETION_PENDING` at once (the sweeper
/// confirms `DELETED` after the service's deletion delay); a repeat is `OK`; a new
/// reason is recorded.
async fn delete(
    State(state): State<AppState>,
    Authed(org): Authed,
    ItemsBody(req, mut refusals): ItemsBody<DeletePrivilegesRequest>,
) -> Result<Json<ResultsResponse>, PrivilegeError> {
    check_call_size(req.privileges.len())?;
    let mut slots = Vec::with_capacity(req.privileges.len());
    let mut valid = Vec::with_capacity(req.privileges.len());
    let mut seen = SeenIds::new(|i| format!("privileges[{i}]"));
    for (i, d) in req.privileges.into_iter().enumerate() {
        let id = d.privilege_id.as_deref().unwrap_or("");
        match checked(refusals.take(i), &mut seen, "privilegeId", id, i, || {
            validate_deletion(&d)
        }) {
            Ok(()) => {
                slots.push(None);
                valid.push(d);
            }
            Err(e) => slots.push(Some(ItemResult::ko(
                d.privilege_id.unwrap_or_default(),
                e.code,
                e.message,
            ))),
        }
    }
    let expected = valid.len();
    let stored = if valid.is_empty() {
        Vec::new()
    } else {
        state
            .store
            .delete_privileges(org.id, valid, chrono::Utc::now(), state.settings)
            .await?
    };
    Ok(Json(ResultsResponse {
        results: merge(slots, stored, expected)?,
    }))
}

/// `GET /organizer/privileges/{privilegeId}`: another organizer's privilege answers
/// exactly like an unknown one.
async fn privilege(
    State(state): State<AppState>,
    Authed(org): Authed,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<PrivilegeRecord>, ApiError> {
    let Path(id) = id?;
    state
        .store
        .privilege(org.id, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(PRIVILEGE_NOT_FOUND, format!("no privilege {id}")))
}
