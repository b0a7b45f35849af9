//! The spectator app API (WALLET-API.md, "App API"; our decision): what a phone does
//! with its tickets. Sessions are sandbox-only: `POST /app/session` hands a token to
//! any email, standing in for the identity provider of a real deployment, and is
//! answered 404 unless the service runs with sandbox mode on.
//!
//! A session belongs to one organizer (ticket ids are unique per organizer) and one
//! email. A spectator sees and acts on the tickets they own, and accepts or rejects
//! the transfers sent to them; any other ticket answers 404 like an unknown one.
//! Sessions live in memory: a restart of the service logs every phone out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::routing::{MethodRouter, get, post};
use serde::{Deserialize, Serialize};

use tixbridge_core::api::{AppTickets, Person, TicketState, looks_like_email};
use tixbridge_core::lifecycle::{Action, ActivationMethod, Caller, Op};

use crate::AppState;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::organizer::apply_one;

/// A session ends this long after it was opened.
const SESSION_TTL: Duration = Duration::from_secs(24 * 3600);
/// Sessions kept at most; beyond, the expired ones are dropped, then the oldest.
const MAX_SESSIONS: usize = 200_000;

#[derive(Debug, Clone)]
struct Session {
    organizer_id: i64,
    email: String,
    opened: Instant,
}

/// Open app sessions by token.
#[derive(Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn open(&self, organizer_id: i64, email: String) -> String {
        let token = format!("tns_{}", hex::encode(rand::random::<[u8; 32]>()));
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.opened.elapsed() < SESSION_TTL);
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, s)| s.opened)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            token.clone(),
            Session {
                organizer_id,
                email,
                opened: Instant::now(),
            },
        );
        token
    }

    fn get(&self, token: &str) -> Option<Session> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(token)
            .filter(|s| s.opened.elapsed() < SESSION_TTL)
            .cloned()
    }
}

/// The caller's app session, from `Authorization: Bearer <token>`.
struct AppSession(Session);

impl FromRequestParts<AppState> for AppSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or(ApiError::SessionRequired)?;
        state
            .sessions
            .get(token)
            .map(AppSession)
            .ok_or(ApiError::SessionRequired)
    }
}

pub(crate) fn operations() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (Method::POST, "/app/session", post(open_session)),
        (Method::GET, "/app/tickets", get(my_tickets)),
        (
            Method::POST,
            "/app/tickets/{ticket_id}/download",
            post(download),
        ),
        (
            Method::POST,
            "/app/tickets/{ticket_id}/assign",
            post(assign),
        ),
        (
            Method::POST,
            "/app/tickets/{ticket_id}/transfer",
            post(transfer),
        ),
        (
            Method::POST,
            "/app/tickets/{ticket_id}/accept",
            post(accept),
        ),
        (
            Method::POST,
            "/app/tickets/{ticket_id}/reject",
            post(reject),
        ),
        (
            Method::POST,
            "/app/tickets/{ticket_id}/cancel-transfer",
            post(cancel_transfer),
        ),
        (
            Method::POST,
            "/app/tickets/{ticket_id}/activate",
            post(activate),
        ),
        (
            Method::POST,
            "/app/tickets/{ticket_id}/deactivate",
            post(deactivate),
        ),
    ]
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionRequest {
    email: Option<String>,
    /// Absent when the service holds one organizer; `null` is refused (the contract
    /// says integer).
    #[serde(default, deserialize_with = "integer_if_present")]
    organizer_id: Option<i64>,
}

/// A field that may be left out but, when present, must be an integer: `null` is a
/// `400` naming the field, not "left out".
/// An integral number written with a fraction (`3.0`) is the integer.
fn integer_if_present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    tixbridge_core::api::json_integer(d).map(Some)
}

/// Answer of `POST /app/session`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAnswer {
    pub token: String,
    pub email: String,
    pub organizer_id: i64,
}

/// `POST /app/session {"email", "organizerId"?}`: sandbox only. `organizerId` may be
/// left out when the service holds exactly one organizer.
async fn open_session(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<SessionRequest>,
) -> Result<Json<SessionAnswer>, ApiError> {
    if !state.sandbox {
        return Err(ApiError::not_found(
            "SANDBOX_DISABLED",
            "app sessions are handed out only in sandbox mode (wallet serve --sandbox)",
        ));
    }
    // Kept as typed: every comparison goes through `lifecycle::email_key`.
    let email = req
        .email
        .map(|e| e.trim().to_owned())
        .filter(|e| looks_like_email(e))
        .ok_or_else(|| {
            ApiError::bad_request("INVALID_FIELD", "email must be a valid email address")
        })?;
    let organizers = state.store.organizers().await?;
    let organizer_id = match req.organizer_id {
        Some(id) => organizers
            .iter()
            .find(|o| o.id == id)
            .map(|o| o.id)
            .ok_or_else(|| {
                ApiError::not_found("ORGANIZER_NOT_FOUND", format!("no organizer {id}"))
            })?,
        None => match organizers.as_slice() {
            [only] => only.id,
            [] => {
                return Err(ApiError::not_found(
                    "ORGANIZER_NOT_FOUND",
                    "the service has no organizer yet",
                ));
            }
            _ => {
                return Err(ApiError::bad_request(
                    "MISSING_FIELD",
                    "organizerId is required: the service holds several organizers",
                ));
            }
        },
    };
    let token = state.sessions.open(organizer_id, email.clone());
    Ok(Json(SessionAnswer {
        token,
        email,
        organizer_id,
    }))
}

/// `GET /app/tickets`: owned, deleted-but-visible, and incoming transfers.
async fn my_tickets(
    State(state): State<AppState>,
    AppSession(s): AppSession,
) -> Result<Json<AppTickets>, ApiError> {
    Ok(Json(
        state.store.app_tickets(s.organizer_id, &s.email).await?,
    ))
}

async fn act(
    state: &AppState,
    s: Session,
    id: Result<Path<String>, PathRejection>,
    action: Action,
) -> Result<Json<TicketState>, ApiError> {
    let Path(ticket_id) = id?;
    apply_one(
        state,
        s.organizer_id,
        Op {
            ticket_id,
            caller: Caller::Spectator(s.email),
            action,
        },
    )
    .await
}

async fn download(
    State(state): State<AppState>,
    AppSession(s): AppSession,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<TicketState>, ApiError> {
    act(&state, s, id, Action::Download).await
}

#[derive(Debug, Deserialize)]
struct AssignRequest {
    holder: Option<Person>,
}

async fn assign(
    State(state): State<AppState>,
    AppSession(s): AppSession,
    id: Result<Path<String>, PathRejection>,
    JsonBody(req): JsonBody<AssignRequest>,
) -> Result<Json<TicketState>, ApiError> {
    let holder = req.holder.ok_or_else(|| {
        ApiError::bad_request("MISSING_FIELD", "holder (firstName, lastName) is required")
    })?;
    act(&state, s, id, Action::Assign { holder }).await
}

#[derive(Debug, Deserialize)]
struct TransferRequest {
    to: Option<String>,
}

async fn transfer(
    State(state): State<AppState>,
    AppSession(s): AppSession,
    id: Result<Path<String>, PathRejection>,
    JsonBody(req): JsonBody<TransferRequest>,
) -> Result<Json<TicketState>, ApiError> {
    let to = req.to.map(|e| e.trim().to_owned()).unwrap_or_default();
    if to.is_empty() {
        return Err(ApiError::bad_request(
            "MISSING_FIELD",
            "to (the recipient's email) is required",
        ));
    }
    let to = Person {
        email: Some(to),
        ..Default::default()
    };
    act(&state, s, id, Action::Transfer { to }).await
}

async fn accept(
    State(state): State<AppState>,
    AppSession(s): AppSession,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<TicketState>, ApiError> {
    act(&state, s, id, Action::Accept).await
}

async fn reject(
    State(state): State<AppState>,
    AppSession(s): AppSession,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<TicketState>, ApiError> {
    act(&state, s, id, Action::Reject).await
}

async fn cancel_transfer(
    State(state): State<AppState>,
    AppSession(s): AppSession,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<TicketState>, ApiError> {
    act(&state, s, id, Action::CancelTransfer).await
}

#[derive(Debug, Deserialize)]
struct ActivateRequest {
    method: Option<String>,
    code: Option<String>,
}

async fn activate(
    State(state): State<AppState>,
    AppSession(s): AppSession,
    id: Result<Path<String>, PathRejection>,
    JsonBody(req): JsonBody<ActivateRequest>,
) -> Result<Json<TicketState>, ApiError> {
    let method = ActivationMethod::parse(req.method.as_deref().unwrap_or(""))
        .map_err(|m| ApiError::bad_request("INVALID_FIELD", m))?;
    act(
        &state,
        s,
        id,
        Action::Activate {
            method,
            code: req.code,
        },
    )
    .await
}

async fn deactivate(
    State(state): State<AppState>,
    AppSession(s): AppSession,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<TicketState>, ApiError> {
    act(&state, s, id, Action::Deactivate).await
}
