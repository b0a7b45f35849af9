//! Wire types of the wallet API (`shared/spec/WALLET-API.md`), shared by the wallet
//! service (server) and the interface's client, plus the per-ticket validation the
//! service applies. Field names follow the contract exactly (camelCase).

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::money;
use crate::text::{Text, char_count, check_plain_text, is_language_code};

/// Most tickets (or privileges, deletions, controls) one write call may carry.
pub const MAX_TICKETS_PER_CALL: usize = 50;
/// Largest page of the change feed.
pub const MAX_DIFF_LIMIT: usize = 10_000;
/// Default page of the change feed.
pub const DEFAULT_DIFF_LIMIT: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InjectRequest {
    pub tickets: Vec<Ticket>,
}

/// One ticket as injected. Required fields are `Option` on the wire so that a missing
/// one yields a per-ticket `KO` naming the field instead of rejecting the whole call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Event>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_details: Option<PurchaseDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spectator_details: Option<SpectatorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_parameters: Option<ActivationParameters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_details: Option<TicketDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_rules: Option<TransferRules>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorting_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<EventGroup>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line1: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line3: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventGroup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxation_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_date: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Security {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
}

/// A person as the wallet knows it: the recipient of an injection, an owner, a holder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpectatorDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_applicant: Option<bool>,
}

/// Owners and holders in ticket states use the same shape.
pub type Person = SpectatorDetails;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivationParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketDetails {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub main: Vec<DetailEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<DetailEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden: Vec<DetailEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailEntry {
    pub key: Text,
    pub value: Text,
}

/// Transfer rules sent with each ticket (DOMAIN.md §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TransferRules {
    pub allow_transfer: bool,
    /// −1 means no limit.
    #[serde(deserialize_with = "json_integer")]
    pub max_number_of_transfer_per_ticket_in_group_id: i64,
    pub allow_transfer_after_activation: bool,
    pub allow_transfer_after_control: bool,
    pub allow_transfer_main_applicant: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}

impl Default for TransferRules {
    fn default() -> Self {
        Self {
            allow_transfer: true,
            max_number_of_transfer_per_ticket_in_group_id: -1,
            allow_transfer_after_activation: true,
            allow_transfer_after_control: false,
            allow_transfer_main_applicant: true,
            group_id: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResultKind {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "KO")]
    Ko,
}

/// One result per item of a write call, in request order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemResult {
    /// The ticket id (or privilege id) as sent; empty when it was missing.
    #[serde(alias = "privilegeId")]
    pub ticket_id: String,
    pub result: ResultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ItemResult {
    pub fn ok(ticket_id: impl Into<String>, status: &str) -> Self {
        Self {
            ticket_id: ticket_id.into(),
            result: ResultKind::Ok,
            status: Some(status.to_owned()),
            error_code: None,
            message: None,
        }
    }

    pub fn ko(ticket_id: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self {
            ticket_id: ticket_id.into(),
            result: ResultKind::Ko,
            status: None,
            error_code: Some(code.to_owned()),
            message: Some(message.into()),
        }
    }

    pub fn is_ok(&self) -> bool {
        self.result == ResultKind::Ok
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsResponse {
    pub results: Vec<ItemResult>,
}

/// `{"error": {"code", "message"}}`, the body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.into(),
            },
        }
    }
}

/// Deletion data of a ticket state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deletion {
    pub reason: String,
    pub show_deleted_ticket: bool,
    pub requested_at: String,
    #[serde(default)]
    pub confirmed_at: Option<String>,
}

/// One status-log entry (the track record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub seq: i64,
    pub at: String,
    pub ticket_id: String,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub from_owner: Option<String>,
    pub to_owner: Option<String>,
    pub actor: String,
    /// What the statuses do not say: a deletion reason, a transfer's recipient, the
    /// activation code's use, the time a control was made at the gate. Hashed when
    /// present; absent from entries (and their hashes) that have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// A transfer waiting for its recipient (status `PENDING_TRANSFER`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingTransfer {
    pub to: Person,
    pub from: Option<Person>,
    pub requested_at: String,
    /// When the transfer falls back to the sender as `FAILURE` unless accepted.
    pub expires_at: String,
    /// Started by the organizer's back office rather than by the owner.
    #[serde(default)]
    pub back_office: bool,
}

/// The wallet's view of one ticket, as the change feed and reads return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketState {
    pub ticket_id: String,
    pub taxation_number: Option<String>,
    /// The barcode the ticket was injected with (`security.barcode`): tixbridge's
    /// extension, in lists and the change feed, so a reconciliation compares it
    /// without reading each ticket; absent from action answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
    pub event_id: String,
    pub status: String,
    pub status_changed_at: String,
    pub owner: Option<Person>,
    pub initial_owner: Option<Person>,
    pub previous_owner: Option<Person>,
    pub holder: Option<Person>,
    pub transfer_level: i64,
    pub deletion: Option<Deletion>,
    /// The transfer under way, while the status is `PENDING_TRANSFER` or while a
    /// `CONTROLLED` ticket is in transit (it stays controlled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<PendingTransfer>,
    #[serde(default)]
    pub history: Vec<LogEntry>,
}

/// `GET /organizer/tickets/{id}`: injected data, state and whole history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketRecord {
    pub ticket: Ticket,
    #[serde(flatten)]
    pub state: TicketState,
}

/// `GET /organizer/tickets`: one page of tickets and how many the filters match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketList {
    /// Matching tickets, all pages together; with keyset paging, counted on the first
    /// page only and `-1` (not counted) on the later ones.
    pub total: i64,
    pub tickets: Vec<TicketState>,
    /// Keyset paging (tixbridge's extension, only when the request gave
    /// `paginationKey`): the key of the next page, the last ticket id of this one
    /// (the request's key when the page is empty: the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSummary {
    pub id: String,
    pub name: Option<Text>,
    pub start_time: Option<String>,
    pub expiration_date: Option<String>,
    pub address: Option<Address>,
    pub group: Option<EventGroup>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventStatistics {
    pub total: i64,
    pub valid: i64,
    pub deleted: i64,
    pub never_downloaded: i64,
    pub downloaded: i64,
    pub pending_transfer: i64,
    pub controlled: i64,
}

/// One ticket of `POST /organizer/tickets/delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteTicket {
    pub ticket_id: String,
    /// The normalised cause (e.g. `CANCELLED`, `RESOLD`).
    pub reason: String,
    /// Keep the deleted ticket visible in the app under "Deleted tickets".
    pub show_deleted_ticket: bool,
}

/// One ticket of `POST /organizer/tickets/controlled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlledTicket {
    pub ticket_id: String,
    /// When it was used at the gate (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controlled_at: Option<String>,
}

/// `GET /app/tickets`: what a spectator's app shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppTickets {
    /// Tickets the spectator owns and that are not deleted.
    pub tickets: Vec<TicketState>,
    /// Deleted tickets the organizer asked to keep visible (`showDeletedTicket`).
    pub deleted_tickets: Vec<TicketState>,
    /// Transfers waiting for this spectator to accept or reject.
    pub incoming_transfers: Vec<TicketState>,
}

/// `GET /organizer/report/verify`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// Entries checked (up to the first broken one).
    pub entries: i64,
    pub valid: bool,
    /// The first entry found broken (altered, missing or out of place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken_seq: Option<i64>,
    /// The ticket whose row disagrees with its last entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `GET /organizer/tickets/diff`: a page of the change feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffPage {
    /// tixbridge's compatible extension: the key of the wallet's latest change (of its
    /// tickets and privileges) when the page was read, so that a reader can tell how
    /// far behind it is. Absent from wallets that do not send it. Written first, so
    /// that `nextPageKey` stays the last field of the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_key: Option<String>,
    pub tickets: Vec<TicketState>,
    /// tixbridge's compatible extension, only when the request says
    /// `privileges=include`: the privileges (membership and season cards) changed
    /// after the key, in the same sequence as the tickets, so one key follows both.
    /// Absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub privileges: Vec<PrivilegeState>,
    pub next_page_key: String,
}

impl DiffPage {
    /// True when the page holds no change: the reader is at the end of the feed.
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty() && self.privileges.is_empty()
    }
}

/// A privilege's state in the change feed (tixbridge's extension,
/// `GET /organizer/tickets/diff?privileges=include`): like a ticket's, without what a
/// privilege lacks (event, transfers, holder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivilegeState {
    pub privilege_id: String,
    pub definition_id: String,
    pub status: String,
    pub status_changed_at: String,
    pub owner: Option<Person>,
    pub deletion: Option<Deletion>,
    #[serde(default)]
    pub history: Vec<LogEntry>,
}

impl PrivilegeState {
    /// The privilege as a ticket state, which is how ticketing keeps a card: the
    /// privilege id is the card's ticket id, the definition stands for the event.
    pub fn to_ticket_state(&self) -> TicketState {
        TicketState {
            ticket_id: self.privilege_id.clone(),
            taxation_number: None,
            barcode: None,
            event_id: self.definition_id.clone(),
            status: self.status.clone(),
            status_changed_at: self.status_changed_at.clone(),
            owner: self.owner.clone(),
            initial_owner: None,
            previous_owner: None,
            holder: None,
            transfer_level: 0,
            deletion: self.deletion.clone(),
            transfer: None,
            history: self.history.clone(),
        }
    }
}

/// A refusal of one ticket: the error code and a sentence naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub(crate) fn missing(field: &str) -> Self {
        Self {
            code: "MISSING_FIELD",
            message: format!("{field} is required"),
        }
    }
    pub(crate) fn too_long(field: &str, max: usize) -> Self {
        Self {
            code: "FIELD_TOO_LONG",
            message: format!("{field} is longer than {max} characters"),
        }
    }
    pub(crate) fn invalid(field: &str, why: &str) -> Self {
        Self {
            code: "INVALID_FIELD",
            message: format!("{field} {why}"),
        }
    }
}

/// Error code of an id given again in the same call (issue 7, item 6).
pub const DUPLICATE_IN_REQUEST: &str = "DUPLICATE_IN_REQUEST";

/// The ids already met in one call (inject, delete, controlled, privileges, privilege
/// deletion; JSON or CSV): every occurrence of an id after the first is refused,
/// naming the first one's position, so one call never applies two versions of one
/// ticket.
pub struct SeenIds {
    first: std::collections::HashMap<String, usize>,
    /// How a position is named in messages (`tickets[0]`, `row 3`).
    label: fn(usize) -> String,
}

impl SeenIds {
    pub fn new(label: fn(usize) -> String) -> Self {
        Self {
            first: std::collections::HashMap::new(),
            label,
        }
    }

    /// Records `id` at `position`; `DUPLICATE_IN_REQUEST` when an earlier position
    /// holds it. A blank id is left to the field checks.
    pub fn check(&mut self, field: &str, id: &str, position: usize) -> Result<(), FieldError> {
        if id.trim().is_empty() {
            return Ok(());
        }
        match self.first.entry(id.to_owned()) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(position);
                Ok(())
            }
            std::collections::hash_map::Entry::Occupied(o) => Err(FieldError {
                code: DUPLICATE_IN_REQUEST,
                message: format!(
                    "{field} {id:?} appears more than once in this call; only its first occurrence ({}) is applied",
                    (self.label)(*o.get())
                ),
            }),
        }
    }
}

/// Checks one ticket against the contract's required fields and limits. The first
/// problem found is returned; its message names the field by its JSON path.
pub fn validate_ticket(t: &Ticket) -> Result<(), FieldError> {
    check_id("ticketId", t.ticket_id.as_deref())?;
    let ev = t
        .event
        .as_ref()
        .ok_or_else(|| FieldError::missing("event"))?;
    required_str("event.id", ev.id.as_deref(), 256)?;
    required_text("event.name", ev.name.as_ref(), 128)?;
    let start = required_time("event.startTime", ev.start_time.as_deref())?;
    let expires = required_time("event.expirationDate", ev.expiration_date.as_deref())?;
    if expires < start {
        return Err(FieldError::invalid(
            "event.expirationDate",
            "is before event.startTime; an event expires after it starts",
        ));
    }
    let addr = ev
        .address
        .as_ref()
        .ok_or_else(|| FieldError::missing("event.address"))?;
    required_text("event.address.site", addr.site.as_ref(), 256)?;
    required_text("event.address.city", addr.city.as_ref(), 256)?;
    required_str("event.address.zip", addr.zip.as_deref(), 32)?;
    let cc = required_str("event.address.countryCode", addr.country_code.as_deref(), 2)?;
    if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(FieldError::invalid(
            "event.address.countryCode",
            "must be a two-letter country code",
        ));
    }
    for (name, line) in [
        ("event.address.line1", &addr.line1),
        ("event.address.line2", &addr.line2),
        ("event.address.line3", &addr.line3),
    ] {
        optional_text(name, line.as_ref(), 256)?;
    }
    if let Some(g) = &ev.group {
        optional_text("event.group.name", g.name.as_ref(), 128)?;
    }
    for (k, v) in &ev.metadata {
        check_plain_text("event.metadata", k, false)?;
        check_plain_text(&format!("event.metadata.{k}"), v, false)?;
    }
    check_purchase_details(t.purchase_details.as_ref())?;
    check_security(t.security.as_ref())?;
    check_spectator(t.spectator_details.as_ref())?;
    if let Some(ap) = &t.activation_parameters {
        if let Some(m) = ap.method.as_deref()
            && !matches!(m, "online" | "offline")
        {
            return Err(FieldError::invalid(
                "activationParameters.method",
                "must be online or offline",
            ));
        }
        if let Some(time) = ap.time.as_deref() {
            check_time("activationParameters.time", time)?;
        }
        optional_str("activationParameters.groupId", ap.group_id.as_deref(), 50)?;
        optional_str(
            "activationParameters.instanceId",
            ap.instance_id.as_deref(),
            128,
        )?;
    }
    if let Some(td) = &t.ticket_details {
        check_detail_entries(
            "ticketDetails",
            [
                ("main", &td.main),
                ("extra", &td.extra),
                ("hidden", &td.hidden),
            ],
        )?;
    }
    if let Some(r) = &t.transfer_rules {
        optional_str("transferRules.groupId", r.group_id.as_deref(), 256)?;
    }
    optional_str("sortingKey", t.sorting_key.as_deref(), 256)?;
    optional_str("imageUrl", t.image_url.as_deref(), 256)?;
    Ok(())
}

/// A ticket or privilege id: required, at most 256 characters, of the alphabet ticket
/// ids and privilege ids share (WALLET-API.md).
pub(crate) fn check_id(field: &str, v: Option<&str>) -> Result<(), FieldError> {
    let id = required_str(field, v, 256)?;
    if !id.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(c, ' ' | '*' | '.' | '-' | '_' | '+' | '/' | '(' | ')')
    }) {
        return Err(FieldError::invalid(
            field,
            "may contain only letters, digits, space and *.-_+/()",
        ));
    }
    Ok(())
}

/// `purchaseDetails`, required, with the limits tickets and privileges share.
pub(crate) fn check_purchase_details(pd: Option<&PurchaseDetails>) -> Result<(), FieldError> {
    let pd = pd.ok_or_else(|| FieldError::missing("purchaseDetails"))?;
    required_str(
        "purchaseDetails.taxationNumber",
        pd.taxation_number.as_deref(),
        256,
    )?;
    optional_str("purchaseDetails.fileId", pd.file_id.as_deref(), 256)?;
    optional_str("purchaseDetails.currency", pd.currency.as_deref(), 20)?;
    optional_str("purchaseDetails.category", pd.category.as_deref(), 512)?;
    if let Some(price) = pd.price {
        check_price(price, pd.currency.as_deref())?;
    }
    if let Some(d) = pd.purchase_date.as_deref() {
        check_time("purchaseDetails.purchaseDate", d)?;
    }
    Ok(())
}

/// `purchaseDetails.price`, a JSON number, against its currency: the one price rule of
/// [`money`] (issue 7, item 2). An unknown currency is that field's fault.
fn check_price(price: f64, currency: Option<&str>) -> Result<(), FieldError> {
    money::check_number(price, currency)
        .map(|_| ())
        .map_err(|e| {
            let field = if e.is_currency_error() {
                "purchaseDetails.currency"
            } else {
                "purchaseDetails.price"
            };
            FieldError::invalid(field, &e.to_string())
        })
}

/// `security`, required, with its barcode.
pub(crate) fn check_security(sec: Option<&Security>) -> Result<(), FieldError> {
    let sec = sec.ok_or_else(|| FieldError::missing("security"))?;
    required_str("security.barcode", sec.barcode.as_deref(), 512)?;
    Ok(())
}

/// `spectatorDetails`, required, with an email address.
pub(crate) fn check_spectator(sp: Option<&SpectatorDetails>) -> Result<(), FieldError> {
    let sp = sp.ok_or_else(|| FieldError::missing("spectatorDetails"))?;
    let email = required_str("spectatorDetails.email", sp.email.as_deref(), 256)?;
    if !looks_like_email(email) {
        return Err(FieldError::invalid(
            "spectatorDetails.email",
            "is not an email address",
        ));
    }
    optional_str("spectatorDetails.firstName", sp.first_name.as_deref(), 50)?;
    optional_str("spectatorDetails.lastName", sp.last_name.as_deref(), 100)?;
    optional_str("spectatorDetails.title", sp.title.as_deref(), 256)?;
    if let Some(g) = sp.gender.as_deref()
        && !matches!(g, "M" | "F" | "U" | "X")
    {
        return Err(FieldError::invalid(
            "spectatorDetails.gender",
            "must be one of M, F, U, X",
        ));
    }
    Ok(())
}

/// The language keys of detail lists (`{prefix}.{list}[i].key` / `.value`).
pub(crate) fn check_detail_entries<'a>(
    prefix: &str,
    lists: impl IntoIterator<Item = (&'a str, &'a Vec<DetailEntry>)>,
) -> Result<(), FieldError> {
    for (list, entries) in lists {
        for (i, e) in entries.iter().enumerate() {
            let key = format!("{prefix}.{list}[{i}].key");
            check_text_langs(&key, &e.key)?;
            check_text_chars(&key, &e.key, false)?;
            // A detail's value is the one multi-line text of a ticket.
            let value = format!("{prefix}.{list}[{i}].value");
            check_text_langs(&value, &e.value)?;
            check_text_chars(&value, &e.value, true)?;
        }
    }
    Ok(())
}

/// Reads an integer as JSON Schema means one: a number without a fractional part,
/// however it is written (`3`, `3.0`, `3e0`). JSON has one number type, and a client
/// whose language has no integer type apart may well send `3.0`; `3.5` stays an error.
pub fn json_integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    use serde::de::{Error, Unexpected, Visitor};
    struct Integer;
    impl Visitor<'_> for Integer {
        type Value = i64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
        }
        fn visit_f64<E: Error>(self, v: f64) -> Result<i64, E> {
            // i64::MIN is exactly -2^63; 2^63 itself is out of range.
            const BOUND: f64 = 9_223_372_036_854_775_808.0;
            if v.fract() == 0.0 && (-BOUND..BOUND).contains(&v) {
                Ok(v as i64)
            } else {
                Err(E::invalid_value(Unexpected::Float(v), &self))
            }
        }
    }
    d.deserialize_any(Integer)
}

/// A deliberately loose check: something before and after one `@`, a dot in the domain,
/// no whitespace and no control character.
pub fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
                && !s.contains(char::is_control)
                && !domain.contains('@')
        }
        None => false,
    }
}

pub(crate) fn required_str<'a>(
    field: &str,
    v: Option<&'a str>,
    max: usize,
) -> Result<&'a str, FieldError> {
    match v {
        Some(s) if !s.trim().is_empty() => {
            check_plain_text(field, s, false)?;
            if char_count(s) > max {
                Err(FieldError::too_long(field, max))
            } else {
                Ok(s)
            }
        }
        _ => Err(FieldError::missing(field)),
    }
}

/// An optional one-line string of at most `max` characters (after NFC).
pub(crate) fn optional_str(field: &str, v: Option<&str>, max: usize) -> Result<(), FieldError> {
    let Some(s) = v else { return Ok(()) };
    check_plain_text(field, s, false)?;
    if char_count(s) > max {
        return Err(FieldError::too_long(field, max));
    }
    Ok(())
}

pub(crate) fn required_text(field: &str, v: Option<&Text>, max: usize) -> Result<(), FieldError> {
    match v {
        Some(t) if !t.is_blank() => optional_text(field, Some(t), max),
        _ => Err(FieldError::missing(field)),
    }
}

fn optional_text(field: &str, v: Option<&Text>, max: usize) -> Result<(), FieldError> {
    if let Some(t) = v {
        check_text_langs(field, t)?;
        check_text_chars(field, t, false)?;
        if t.values().iter().any(|s| char_count(s) > max) {
            return Err(FieldError::too_long(field, max));
        }
    }
    Ok(())
}

/// Every value of a text follows the character rule (`field` or `field.<lang>`).
fn check_text_chars(field: &str, t: &Text, multiline: bool) -> Result<(), FieldError> {
    match t {
        Text::Plain(s) => check_plain_text(field, s, multiline),
        Text::Multi(m) => m
            .iter()
            .try_for_each(|(lang, s)| check_plain_text(&format!("{field}.{lang}"), s, multiline)),
    }
}

fn check_text_langs(field: &str, t: &Text) -> Result<(), FieldError> {
    if let Text::Multi(m) = t
        && let Some(bad) = m.keys().find(|k| !is_language_code(k))
    {
        return Err(FieldError::invalid(
            field,
            &format!("has language key {bad:?}; keys must be two-letter language codes"),
        ));
    }
    Ok(())
}

fn required_time(field: &str, v: Option<&str>) -> Result<DateTime<FixedOffset>, FieldError> {
    match v {
        Some(s) if !s.is_empty() => check_time(field, s),
        _ => Err(FieldError::missing(field)),
    }
}

/// An RFC 3339 time with offset, parsed.
pub(crate) fn check_time(field: &str, s: &str) -> Result<DateTime<FixedOffset>, FieldError> {
    parse_time(s).map_err(|_| FieldError::invalid(field, "must be an RFC 3339 time with offset"))
}

pub fn parse_time(s: &str) -> Result<DateTime<FixedOffset>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s)
}

/// How far ahead of the server's clock a `controlledAt` may be: a control is made at
/// the gate, so a later time is a client's mistake (issue 7, item 12).
pub const MAX_CONTROL_AHEAD: chrono::Duration = chrono::Duration::days(1);

/// The `controlledAt` of `POST /organizer/tickets/controlled`: an RFC 3339 time at
/// most [`MAX_CONTROL_AHEAD`] after `now`, answered in UTC.
pub fn check_controlled_at(
    s: &str,
    now: DateTime<chrono::Utc>,
) -> Result<DateTime<chrono::Utc>, FieldError> {
    let at = check_time("controlledAt", s)?.with_timezone(&chrono::Utc);
    if at > now + MAX_CONTROL_AHEAD {
        return Err(FieldError::invalid(
            "controlledAt",
            &format!(
                "{s:?} is more than a day ahead of the wallet's clock; a control happens at the gate, now"
            ),
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integer_may_be_written_as_an_integral_number() {
        let rules = |n: &str| {
            serde_json::from_str::<TransferRules>(&format!(
                r#"{{"maxNumberOfTransferPerTicketInGroupId": {n}}}"#
            ))
            .map(|r| r.max_number_of_transfer_per_ticket_in_group_id)
        };
        assert_eq!(rules("3").ok(), Some(3));
        assert_eq!(rules("-1").ok(), Some(-1));
        assert_eq!(rules("4776.0").ok(), Some(4776));
        assert_eq!(rules("3e2").ok(), Some(300));
        assert!(rules("3.5").is_err());
        assert!(rules("1e30").is_err());
        assert!(rules("\"3\"").is_err());
        assert!(rules("null").is_err());
    }

    pub(crate) fn sample() -> Ticket {
        Ticket {
            ticket_id: Some("T1".into()),
            event: Some(Event {
                id: Some("E1".into()),
                name: Some("Final".into()),
                start_time: Some("2026-07-12T21:00:00+02:00".into()),
                expiration_date: Some("2026-07-13T21:00:00+02:00".into()),
                address: Some(Address {
                    site: Some("Stade".into()),
                    city: Some("Paris".into()),
                    zip: Some("75000".into()),
                    country_code: Some("FR".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            purchase_details: Some(PurchaseDetails {
                taxation_number: Some("100".into()),
                ..Default::default()
            }),
            security: Some(Security {
                barcode: Some("B1".into()),
            }),
            spectator_details: Some(SpectatorDetails {
                email: Some("a@example.org".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_complete_ticket_is_valid() {
        assert_eq!(validate_ticket(&sample()), Ok(()));
    }

    #[test]
    fn a_missing_email_is_named() {
        let mut t = sample();
        t.spectator_details.as_mut().unwrap().email = None;
        let e = validate_ticket(&t).unwrap_err();
        assert_eq!(e.code, "MISSING_FIELD");
        assert_eq!(e.message, "spectatorDetails.email is required");
    }

    #[test]
    fn limits_and_formats_are_checked() {
        let mut t = sample();
        t.ticket_id = Some("bad#id".into());
        assert_eq!(validate_ticket(&t).unwrap_err().code, "INVALID_FIELD");
        let mut t = sample();
        t.event.as_mut().unwrap().name = Some(Text::Plain("x".repeat(129)));
        assert_eq!(
            validate_ticket(&t).unwrap_err().message,
            "event.name is longer than 128 characters"
        );
        let mut t = sample();
        t.event.as_mut().unwrap().start_time = Some("tomorrow".into());
        assert!(
            validate_ticket(&t)
                .unwrap_err()
                .message
                .starts_with("event.startTime")
        );
    }

    #[test]
    fn semantics_expiry_before_start_is_refused() {
        let mut t = sample();
        t.event.as_mut().unwrap().expiration_date = Some("2026-07-12T20:59:59+02:00".into());
        let e = validate_ticket(&t).unwrap_err();
        assert!(
            e.message
                .starts_with("event.expirationDate is before event.startTime"),
            "{}",
            e.message
        );
        let now = parse_time("2026-07-12T21:00:00Z").unwrap().to_utc();
        assert!(check_controlled_at("2026-07-13T20:59:00Z", now).is_ok());
        assert!(check_controlled_at("2026-07-13T21:01:00Z", now).is_err());
        assert!(check_controlled_at("soon", now).is_err());
    }

    #[test]
    fn prices_follow_the_money_rule_and_name_the_field() {
        let with = |price: f64, cur: Option<&str>| {
            let mut t = sample();
            let pd = t.purchase_details.as_mut().unwrap();
            pd.price = Some(price);
            pd.currency = cur.map(str::to_owned);
            validate_ticket(&t)
        };
        assert_eq!(with(4.2, Some("USD")), Ok(()));
        assert!(
            with(4.205, Some("USD"))
                .unwrap_err()
                .message
                .starts_with("purchaseDetails.price \"4.205\"")
        );
        assert!(with(-4.2, Some("USD")).is_err());
        assert!(
            with(4.0, Some("EURO"))
                .unwrap_err()
                .message
                .starts_with("purchaseDetails.currency")
        );
    }

    #[test]
    fn control_characters_are_refused_in_every_string() {
        let checks: [fn(&mut Ticket); 5] = [
            |t| t.event.as_mut().unwrap().name = Some("Fi\u{0}nal".into()),
            |t| t.spectator_details.as_mut().unwrap().title = Some("Dr\u{7}".into()),
            |t| {
                t.event
                    .as_mut()
                    .unwrap()
                    .metadata
                    .insert("K".into(), "v\n".into());
            },
            |t| {
                t.ticket_details = Some(TicketDetails {
                    main: vec![DetailEntry {
                        key: "Gate\t".into(),
                        value: "A".into(),
                    }],
                    ..Default::default()
                })
            },
            |t| t.purchase_details.as_mut().unwrap().category = Some("c\u{1f}".into()),
        ];
        for f in checks {
            let mut t = sample();
            f(&mut t);
            assert_eq!(validate_ticket(&t).unwrap_err().code, "INVALID_CHARACTER");
        }
        let mut t = sample();
        t.ticket_details = Some(TicketDetails {
            main: vec![DetailEntry {
                key: "Gate".into(),
                value: "A\nleft".into(),
            }],
            ..Default::default()
        });
        assert_eq!(validate_ticket(&t), Ok(()));
    }

    #[test]
    fn lengths_are_counted_after_nfc() {
        let mut t = sample();
        t.spectator_details.as_mut().unwrap().first_name = Some("e\u{301}".repeat(30));
        assert_eq!(validate_ticket(&t), Ok(()));
        t.spectator_details.as_mut().unwrap().first_name = Some("e\u{301}".repeat(51));
        assert_eq!(validate_ticket(&t).unwrap_err().code, "FIELD_TOO_LONG");
    }

    #[test]
    fn repeated_ids_are_refused_after_the_first() {
        let mut seen = SeenIds::new(|i| format!("tickets[{i}]"));
        assert_eq!(seen.check("ticketId", "D1", 0), Ok(()));
        assert_eq!(seen.check("ticketId", "D2", 1), Ok(()));
        assert_eq!(seen.check("ticketId", "", 2), Ok(()));
        let e = seen.check("ticketId", "D1", 3).unwrap_err();
        assert_eq!(e.code, DUPLICATE_IN_REQUEST);
        assert!(e.message.contains("tickets[0]"), "{}", e.message);
        assert!(seen.check("ticketId", "D1", 4).is_err());
    }

    #[test]
    fn wire_names_are_camel_case() {
        let json = serde_json::to_value(sample()).unwrap();
        assert!(json["purchaseDetails"]["taxationNumber"].is_string());
        assert!(json["spectatorDetails"]["email"].is_string());
        assert!(json.get("transferRules").is_none());
    }
}
