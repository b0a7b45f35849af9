//! The ticketing store's trait and the records it exchanges.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use tixbridge_core::api::{Person, TicketState};
use tixbridge_core::cause::Cause;
use tixbridge_core::local_time::Tz;
use tixbridge_core::model::{
    ComfortVariables, Contact, Counts, FunctionKind, Holder, InjectionFilters, InterfaceKind,
    MobileProjection, Organization, Outcome, Performance, Product, ProductKind, Season, Site,
    TicketDetail, TicketError, TicketRow,
};
use tixbridge_core::operation::{DEFAULT_CAUSES, Operation, ScanOutcome, TicketRef, check_cause};
use tixbridge_core::selection::TicketRefs;
use tixbridge_core::status::{TicketingStatus, WalletStatus};
use tixbridge_core::text::LocalizedText;

use crate::Result;

/// The interface record (DOMAIN.md §6). The API key is a secret: it is stored, handed to
/// the wallet client, and never printed, logged or returned by any listing.
#[derive(Debug, Clone)]
pub struct InterfaceConfig {
    pub id: i64,
    pub organization_id: i64,
    pub name: String,
    pub kind: InterfaceKind,
    /// Ends with `organizer/tickets` (checked before storing).
    pub url: String,
    pub login: String,
    pub api_key: SecretString,
    pub notification_emails: Vec<String>,
    /// The custom parameters as entered (`key=value` lines), already validated.
    pub custom_params: String,
}

/// A new interface; the store refuses a second one for the same organization with
/// [`crate::StoreError::Conflict`].
#[derive(Debug, Clone)]
pub struct NewInterface {
    pub organization_id: i64,
    pub name: String,
    pub kind: InterfaceKind,
    pub url: String,
    pub login: String,
    pub api_key: SecretString,
    pub notification_emails: Vec<String>,
    pub custom_params: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LaunchMode {
    Manual,
    Automatic,
}

/// A schedule: one configured instance of a function under an interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: i64,
    pub interface_id: i64,
    pub name: String,
    pub function: FunctionKind,
    pub launch_mode: LaunchMode,
    /// Seconds between automatic runs.
    pub frequency_secs: Option<i64>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub batch_size: i64,
    /// The function's own parameters as JSON (for injection:
    /// [`tixbridge_core::model::InjectionParams`]).
    pub params: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSchedule {
    pub interface_id: i64,
    pub name: String,
    pub function: FunctionKind,
    pub launch_mode: LaunchMode,
    pub frequency_secs: Option<i64>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub batch_size: i64,
    pub params: serde_json::Value,
}

/// One run of a schedule. While it runs it holds a lease (`lease_owner`,
/// `lease_expires_at`) that its process renews; an execution whose lease lapsed is
/// recovered as `ERROR` "interrupted" by the next start of its schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub id: i64,
    pub schedule_id: i64,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// `None` while running.
    pub outcome: Option<Outcome>,
    /// While running: the counts of the last lease renewal; once ended, the final ones.
    pub counts: Counts,
    pub message: Option<String>,
    /// Who runs it (`host:pid:random`); `None` once ended.
    pub lease_owner: Option<String>,
    /// When the lease lapses unless renewed; `None` once ended.
    pub lease_expires_at: Option<DateTime<Utc>>,
}

/// Starting an execution of a schedule: see [`TicketingStore::start_execution`].
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionStart {
    pub schedule_id: i64,
    /// The start time, also the "now" against which other leases are judged lapsed.
    pub at: DateTime<Utc>,
    /// The lease holder's identity (`host:pid:random`).
    pub owner: String,
    /// The lease lapses at `at + lease` unless renewed.
    pub lease: chrono::Duration,
}

/// A stored per-ticket error with its key, for paging (`after` = the last key read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTicketError {
    /// The pagination key: increasing within an execution.
    pub key: i64,
    #[serde(flatten)]
    pub error: TicketError,
}

/// What `interface update` changes; `None` keeps the stored value. Checked by the
/// caller exactly as a new interface (see `tixbridge_interface::setup`).
#[derive(Debug, Clone, Default)]
pub struct InterfaceUpdate {
    pub url: Option<String>,
    pub login: Option<String>,
    pub api_key: Option<SecretString>,
    pub notification_emails: Option<Vec<String>>,
    pub custom_params: Option<String>,
}

/// The products, performances, sites and seasons of one organization: small enough to
/// hold in memory for an execution.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub products: Vec<Product>,
    pub performances: Vec<Performance>,
    pub sites: Vec<Site>,
    pub seasons: Vec<Season>,
}

/// What injection needs to know about the ticket a reprint replaces.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplacedTicket {
    pub ticket_id: i64,
    pub cause: Option<Cause>,
    /// The last wallet owner, from the mobile projection (filled by Feedback).
    pub last_owner: Option<Person>,
}

/// One ticket selected for injection, with its cultural contact and, for a reprint,
/// what it replaces.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectionCandidate {
    pub ticket: TicketRow,
    pub contact: Contact,
    pub replaced: Option<ReplacedTicket>,
}

/// How injection (or, with `cards`, Privileges injection) selects: either the force list (only those tickets, processed or not,
/// status `NOT_PRINTED` or `PRINTED`, filters ignored), or the filters over
/// `NOT_PRINTED` tickets not yet processed by the injection function and `PRINTED`
/// tickets corrected since their injection ([`TicketingStore::begin_correction`]). Always: the
/// wallet shipment mode, ticket products (not cards), ordered by ticket id, ids
/// strictly greater than `after_id`.
///
/// With `cards` (Privileges injection, DOMAIN.md §5.5): membership and season cards
/// instead of ticket products, not yet processed by Privileges injection; corrected
/// cards are not sent again.
#[derive(Debug, Clone, Default)]
pub struct InjectionQuery {
    pub filters: InjectionFilters,
    pub cards: bool,
    pub force: TicketRefs,
    pub after_id: i64,
    pub limit: usize,
}

/// Which execution marks tickets: its processed markers carry both ids, so that an
/// interrupted execution's counts can be read from its markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkedBy {
    pub schedule_id: i64,
    /// `None` only for marks made outside an execution (tools, tests).
    pub execution_id: Option<i64>,
}

impl MarkedBy {
    /// Marks made by an execution of the schedule.
    pub fn execution(schedule_id: i64, execution_id: i64) -> Self {
        Self {
            schedule_id,
            execution_id: Some(execution_id),
        }
    }

    /// Marks made for the schedule outside any execution.
    pub fn schedule(schedule_id: i64) -> Self {
        Self {
            schedule_id,
            execution_id: None,
        }
    }
}

/// A ticket injected successfully, to mark in one transaction: status `PRINTED`
/// printed by the point of sales, processed marker of the function and schedule,
/// mobile projection `INJECTED` owned by the recipient — unless the projection already
/// shows the ticket beyond `INJECTED` (a forced resend of a downloaded ticket: the
/// wallet keeps its owner, and so does the projection).
#[derive(Debug, Clone, PartialEq)]
pub struct InjectedMark {
    pub ticket_id: i64,
    pub recipient: Person,
}

/// The privilege definition of a card product as last sent to the wallet: the hash of
/// its JSON (`tixbridge_core::card::definition_hash`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedDefinition {
    pub product_id: i64,
    pub definition_hash: String,
}

// ---- feedback ------------------------------------------------------------------------

/// One page of the wallet's change feed to apply (DOMAIN.md §5.2; the contract's
/// `GET …/diff`), in one transaction with the key that follows it. See
/// [`TicketingStore::apply_feedback_page`].
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackPage {
    pub organization_id: i64,
    pub interface_id: i64,
    /// The key the page was read after (`""`: from the start of the feed).
    pub after_key: String,
    /// The page's `nextPageKey`.
    pub next_key: String,
    /// The tickets of the page, skip list already applied.
    pub states: Vec<TicketState>,
    /// `doContinueInCaseOfSyncError=false`: a ticket unknown to ticketing blocks the
    /// page (nothing written, the key not advanced) instead of being skipped.
    pub block_on_unknown: bool,
    /// `enableTicketDistributionToCulturalContact=true` (DOMAIN.md §6): the page's new
    /// transfer entries open and close distribution rows, and an accepted transfer
    /// makes its recipient the ticket's cultural contact.
    pub distribute: bool,
    pub at: DateTime<Utc>,
}

/// What applying a page did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppliedPage {
    /// Tickets whose projection was written.
    pub applied: u64,
    /// Status-log entries appended (an entry already there is not appended again).
    pub entries_added: u64,
    /// Ticket ids of the page that ticketing does not know, in page order.
    pub unknown: Vec<String>,
    /// True when an unknown ticket blocked the page: nothing was written.
    pub blocked: bool,
    /// Distribution rows opened, confirmed or cancelled (only with `distribute`).
    pub distribution_changes: u64,
}

/// One ticket of ticketing as a reconciliation compares it with the wallet
/// ([`TicketingStore::reconcile_tickets`]; issue 9).
#[derive(Debug, Clone, PartialEq)]
pub struct ReconcileTicket {
    pub id: i64,
    pub status: TicketingStatus,
    /// Delivered by the wallet (shipment mode `BLOCKCHAIN`): only those are expected
    /// there.
    pub wallet_shipment: bool,
    pub tax_number: String,
    /// The barcode as ticketing holds it (injection adds the schedule's prefix and
    /// suffix).
    pub barcode: String,
    /// The wallet event id injection sends: the performance code, else the product
    /// code.
    pub event_id: String,
    /// The mobile projection: what ticketing believes the wallet holds; `None` when
    /// the ticket was never injected.
    pub projection: Option<ReconcileProjection>,
}

/// The part of a mobile projection a reconciliation compares.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconcileProjection {
    pub wallet_status: String,
    pub owner: Option<Person>,
    pub holder: Option<Person>,
}

impl ReconcileProjection {
    /// The projection part of a reconciliation row from its stored columns (persons as
    /// JSON text); `None` when the ticket has no projection. A person that does not
    /// decode is [`crate::StoreError::Backend`] naming the ticket.
    pub(crate) fn from_columns(
        ticket_id: i64,
        wallet_status: Option<String>,
        owner: Option<String>,
        holder: Option<String>,
    ) -> Result<Option<ReconcileProjection>> {
        let person = |name: &str, v: Option<String>| {
            tixbridge_core::ledger::json_column::<Person>(name, v).map_err(|e| {
                crate::StoreError::Backend(format!("the projection of ticket {ticket_id}: {e}"))
            })
        };
        let Some(wallet_status) = wallet_status else {
            return Ok(None);
        };
        Ok(Some(ReconcileProjection {
            wallet_status,
            owner: person("owner", owner)?,
            holder: person("holder", holder)?,
        }))
    }
}

/// Which distribution rows to read ([`TicketingStore::distributions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistributionsOf {
    Ticket(i64),
    Contact(i64),
}

/// One cultural-contact distribution row (DOMAIN.md §6): a transfer the wallet
/// reported, from the ticket's cultural contact at the time to the recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distribution {
    pub ticket_id: i64,
    /// The wallet status-log entry (its seq) that opened the row.
    pub seq: i64,
    pub sender_contact_id: Option<i64>,
    pub recipient_contact_id: i64,
    /// `PENDING`, `CANCELLED` or `CONFIRMED`.
    pub status: String,
    /// When the wallet recorded the transfer (UTC).
    pub created_at: DateTime<Utc>,
    /// The entry that closed the row and when (UTC); `None` while `PENDING`.
    pub closed_seq: Option<i64>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// A ticket a contact holds in ticketing ([`TicketingStore::contact_tickets`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactTicket {
    pub ticket_id: i64,
    pub tax_number: String,
    pub status: TicketingStatus,
    pub cause: Option<String>,
    /// The wallet status as Feedback last brought it back; `None` before injection.
    pub wallet_status: Option<String>,
}

/// What a new entry of a ticket's wallet status log does to its cultural-contact
/// distribution (DOMAIN.md §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DistributionStep {
    /// A transfer was requested: a `PENDING` row from the cultural contact to the
    /// recipient (a temporary contact when no contact has that email).
    Open { recipient: String },
    /// The transfer was accepted: its row `CONFIRMED`, and the recipient becomes the
    /// ticket's cultural contact.
    Confirm { recipient: String },
    /// The transfer ended otherwise (rejected, cancelled, timed out, or the ticket was
    /// deleted or controlled while it was pending): its row `CANCELLED`.
    Cancel,
}

/// The distribution step of a status-log entry, if any (DOMAIN.md §6). The recipient
/// comes from the entry's detail `to=EMAIL`; the entry's previous status tells when a
/// deletion or a control ended a pending transfer.
pub(crate) fn distribution_step(e: &MobileHistoryEntry) -> Option<DistributionStep> {
    let recipient = || {
        e.detail
            .as_deref()
            .and_then(|d| d.strip_prefix("to="))
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
    };
    match e.action.as_str() {
        "TRANSFER" => recipient().map(|recipient| DistributionStep::Open { recipient }),
        "ACCEPT_TRANSFER" => recipient().map(|recipient| DistributionStep::Confirm { recipient }),
        "REJECT_TRANSFER" | "CANCEL_TRANSFER" | "TRANSFER_TIMEOUT" | "DELETE" => {
            Some(DistributionStep::Cancel)
        }
        _ if e.from_status.as_deref() == Some("PENDING_TRANSFER") => Some(DistributionStep::Cancel),
        _ => None,
    }
}

/// The names a temporary contact is completed with: the wallet owner's, when the owner
/// has an email and a name (DOMAIN.md §6: "completed when more data arrives").
pub(crate) fn owner_with_name(s: &TicketState) -> Option<(String, &Person)> {
    let o = s.owner.as_ref()?;
    let named = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    if !named(&o.first_name) && !named(&o.last_name) {
        return None;
    }
    Some((tixbridge_core::lifecycle::email_key(o.email.as_deref()?), o))
}

/// One entry of a ticket's wallet status log, as Feedback brought it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MobileHistoryEntry {
    /// The entry's seq in the wallet's track record.
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor: String,
    pub detail: Option<String>,
}

/// A wallet time (RFC 3339, any offset) in UTC; the error names the field and ticket.
fn wallet_time(field: &str, ticket: &str, v: &str) -> Result<DateTime<Utc>> {
    tixbridge_core::api::parse_time(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            crate::StoreError::Invalid(format!("ticket {ticket}: {field} {v:?} is not a time: {e}"))
        })
}

/// The projection a feed state sets for ticket `ticket_id`, written at `at`.
pub(crate) fn projection_of(
    ticket_id: i64,
    s: &TicketState,
    at: DateTime<Utc>,
) -> Result<MobileProjection> {
    let wallet_status = s.status.parse::<WalletStatus>().map_err(|e| {
        crate::StoreError::Invalid(format!(
            "ticket {}: status {:?}: {e}",
            s.ticket_id, s.status
        ))
    })?;
    Ok(MobileProjection {
        ticket_id,
        wallet_status,
        owner: s.owner.clone(),
        holder: s.holder.clone(),
        transfer_level: s.transfer_level,
        updated_at: at,
        status_changed_at: Some(wallet_time(
            "statusChangedAt",
            &s.ticket_id,
            &s.status_changed_at,
        )?),
        initial_owner: s.initial_owner.clone(),
        previous_owner: s.previous_owner.clone(),
        deletion: s.deletion.clone(),
    })
}

/// The history entries of a feed state.
pub(crate) fn history_of(s: &TicketState) -> Result<Vec<MobileHistoryEntry>> {
    s.history
        .iter()
        .map(|e| {
            Ok(MobileHistoryEntry {
                seq: e.seq,
                at: wallet_time("history.at", &s.ticket_id, &e.at)?,
                action: e.action.clone(),
                from_status: e.from_status.clone(),
                to_status: e.to_status.clone(),
                actor: e.actor.clone(),
                detail: e.detail.clone(),
            })
        })
        .collect()
}

/// The ticketing id of a feed ticket: the wallet's ticket id is ticketing's, written
/// out; `None` for one that is not a ticketing id.
pub(crate) fn feed_ticket_id(s: &TicketState) -> Option<i64> {
    // Only the canonical writing ("7", never "007" or "+7"): the one ticketing sends,
    // and the one a reconciliation compares.
    s.ticket_id
        .parse()
        .ok()
        .filter(|id: &i64| *id > 0 && id.to_string() == s.ticket_id)
}

/// The refusal of a page read after a key that is no longer the stored one: another
/// execution applied it (or later pages) meanwhile.
pub(crate) fn key_moved(interface_id: i64, stored: &str, expected: &str) -> crate::StoreError {
    crate::StoreError::Conflict(format!(
        "the feedback key of interface {interface_id} is {stored:?}, not {expected:?}: \
         another feedback execution applied this page meanwhile; nothing was written"
    ))
}

// ---- CSV import --------------------------------------------------------------------

/// One ticket row of an import, parsed and checked (see the README for the columns).
/// Catalog entries it names are created or updated by code.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    pub ticket_id: i64,
    pub tax_number: String,
    pub barcode: String,
    pub file_id: Option<String>,
    pub status: TicketingStatus,
    pub cause: Option<Cause>,
    pub replaces_ticket_id: Option<i64>,
    pub shipment_mode: String,
    pub sales_channel: Option<String>,
    pub season: Option<ImportSeason>,
    pub product: ImportProduct,
    pub performance: Option<ImportPerformance>,
    pub site: Option<ImportSite>,
    pub tariff: Option<String>,
    pub category: Option<String>,
    pub price_cents: Option<i64>,
    pub currency: Option<String>,
    pub purchase_date: Option<DateTime<Utc>>,
    pub validity_start: Option<DateTime<Utc>>,
    pub validity_end: Option<DateTime<Utc>>,
    pub details: Vec<TicketDetail>,
    pub contact: ImportContact,
    pub holder: Holder,
    pub main_applicant: bool,
    /// For a membership or season card: the tickets it is linked to, by ticket id
    /// (column `linked_ticket_ids`). Empty for tickets.
    pub linked_ticket_ids: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportSeason {
    pub code: String,
    pub name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportProduct {
    pub code: String,
    pub kind: ProductKind,
    pub family: Option<String>,
    pub name: LocalizedText,
    pub comfort: ComfortVariables,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportPerformance {
    pub code: String,
    pub name: LocalizedText,
    pub group_name: LocalizedText,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportSite {
    pub code: String,
    pub name: LocalizedText,
    pub city: LocalizedText,
    pub zip: String,
    pub country_code: String,
    pub line1: LocalizedText,
    pub line2: LocalizedText,
    /// The venue's IANA zone; `None` keeps the stored one (the organization's when the
    /// site has none).
    pub time_zone: Option<Tz>,
}

/// The cultural contact, keyed by its ticketing contact number.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportContact {
    pub number: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub gender: Option<String>,
    pub title: Option<String>,
    /// Whether the contact has an internet account; `None` (no value in the file) is
    /// `false`. Like every contact field, the file's value replaces the stored one.
    pub internet_account: Option<bool>,
    /// One of [`tixbridge_core::model::CONTACT_KINDS`]; `None` is `INDIVIDUAL`.
    pub kind: Option<String>,
}

/// The key a contact's email is looked up by (DOMAIN.md §6: without regard to case or
/// surrounding spaces); the same key as the wallet's (`lifecycle::email_key`).
pub(crate) fn contact_email_key(email: Option<&str>) -> Option<String> {
    email.map(tixbridge_core::lifecycle::email_key)
}

/// A card's linked ticket ids as SQLite stores them: separated by spaces, `None` when
/// there are none.
pub(crate) fn linked_ids_text(ids: &[i64]) -> Option<String> {
    (!ids.is_empty()).then(|| ids.iter().map(i64::to_string).collect::<Vec<_>>().join(" "))
}

/// The linked ticket ids SQLite stored (see [`linked_ids_text`]); a word that is not an
/// id is ignored (none is ever written).
pub(crate) fn parse_linked_ids(text: Option<String>) -> Vec<i64> {
    text.map(|t| {
        t.split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect()
    })
    .unwrap_or_default()
}

/// The conflict text of a barcode already held by ticket `other` of the organization;
/// the import reads the ticket id back from it to name the other ticket.
pub fn barcode_taken(barcode: &str, other: i64) -> String {
    format!("barcode {barcode:?} is already held by ticket {other}")
}

/// An import in progress: rows go in by chunks inside one transaction; nothing is
/// visible until `commit`, and dropping the session without committing leaves the store
/// as it was.
#[async_trait]
pub trait ImportSession: Send {
    /// Adds rows. A ticket id, tax number or barcode already in the store (or earlier
    /// in the same import) is refused with [`crate::StoreError::Conflict`] naming it
    /// (a barcode: with [`barcode_taken`]'s text, naming the ticket that holds it). A
    /// barcode is never reused within an organization, whatever the status of the
    /// ticket holding it (issue 7 item 9).
    async fn add(&mut self, rows: Vec<ImportRow>) -> Result<()>;
    /// Makes every added row visible at once; returns how many tickets were imported
    /// (for a correction: how many rows were read).
    async fn commit(self: Box<Self>) -> Result<u64>;
    /// A correction's counts so far (zero for an import of new tickets).
    fn corrections(&self) -> CorrectionCounts {
        CorrectionCounts::default()
    }
}

/// What a correction (`import tickets --update`) changed, counted over the rows added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CorrectionCounts {
    /// Tickets whose stored content differed from the row and was replaced.
    pub changed: u64,
    /// Changed tickets already in the wallet (`PRINTED`, injected): the next injection
    /// sends them again (DOMAIN.md §5.1, the wallet's update path keeps their owner).
    pub resend: u64,
}

/// A ticket's identity and what only a ticketing operation changes: what a correction
/// may not touch. Read from the store for each corrected row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TicketIdentity {
    pub tax_number: String,
    pub barcode: String,
    pub file_id: Option<String>,
    pub status: TicketingStatus,
    pub cause: Option<String>,
    pub replaces_ticket_id: Option<i64>,
    pub shipment_mode: String,
    pub product_code: String,
    pub performance_code: Option<String>,
}

/// What an import session does with its rows: see [`TicketingStore::begin_import`] and
/// [`TicketingStore::begin_correction`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum ImportMode {
    /// Inserts new tickets.
    Import,
    /// Corrects existing tickets; changed injected ones are marked corrected at `at`.
    Correct { at: DateTime<Utc> },
}

/// An import session's cached catalog ids, by code: a file names the same few
/// products, performances and sites on every row, so each is written once per import.
/// Contacts are cached too, but bounded ([`CONTACT_CACHE_MAX`]), because a file may
/// name a million of them.
#[derive(Debug, Default)]
pub(crate) struct CatalogIds {
    pub seasons: std::collections::HashSet<String>,
    pub sites: std::collections::HashMap<String, i64>,
    pub products: std::collections::HashMap<String, i64>,
    pub performances: std::collections::HashMap<String, i64>,
    pub contacts: std::collections::HashMap<String, i64>,
    /// Whether the organization has temporary contacts without a number (created by
    /// Feedback, DOMAIN.md §6) that an imported contact of the same email adopts;
    /// `None` until asked, once per session.
    pub temporary_contacts: Option<bool>,
}

/// The most contact ids an import session keeps cached.
pub(crate) const CONTACT_CACHE_MAX: usize = 50_000;

/// The ticket ids a correction has seen, across its chunks: a second row for one
/// ticket would silently undo the first.
#[derive(Debug, Default)]
pub(crate) struct CorrectedIds(std::collections::HashSet<i64>);

impl CorrectedIds {
    /// Records `id`; a [`crate::StoreError::Conflict`] when it was already seen.
    pub fn first(&mut self, id: i64) -> Result<()> {
        if self.0.insert(id) {
            Ok(())
        } else {
            Err(crate::StoreError::Conflict(correction_refused(
                id,
                "ticket_id",
                "the ticket is corrected twice in this file",
            )))
        }
    }
}

/// The text of a refused correction: `ticket id N: column C: why`. The import reads
/// the column back with [`refused_correction_column`] to name the cell.
pub fn correction_refused(ticket_id: i64, column: &str, why: &str) -> String {
    format!("ticket id {ticket_id}: column {column}: {why}")
}

/// The column and the reason of a [`correction_refused`] text about `ticket_id`.
pub fn refused_correction_column(message: &str, ticket_id: i64) -> Option<(&str, &str)> {
    let rest = message.strip_prefix(&format!("ticket id {ticket_id}: column "))?;
    rest.split_once(": ")
}

/// Checks that a correction changes nothing a correction may not change (issue 7
/// item 20): the ticket exists in the organization; its tax number, barcode, file,
/// status, cause and replaced ticket stay (a row saying `NOT_PRINTED` for a ticket
/// printed since — by injection — is the same status: the file predates the printing,
/// and the ticket stays `PRINTED`); a ticket already printed keeps its shipment
/// mode, product and performance (moving it is an exchange: a new ticket). Every
/// refusal is a [`crate::StoreError::Conflict`] with [`correction_refused`]'s text.
pub(crate) fn check_correction(stored: Option<&TicketIdentity>, row: &ImportRow) -> Result<()> {
    let id = row.ticket_id;
    let refuse = |column: &str, why: String| {
        Err(crate::StoreError::Conflict(correction_refused(
            id, column, &why,
        )))
    };
    let Some(s) = stored else {
        return refuse(
            "ticket_id",
            "no such ticket in this organization: a correction (--update) changes existing \
             tickets only; import new tickets without --update"
                .into(),
        );
    };
    let differs = |column: &str, stored: String, file: String, why: &str| {
        if stored == file {
            Ok(())
        } else {
            refuse(
                column,
                format!("is {stored} in the store and {file} in the file: {why}"),
            )
        }
    };
    let shown = |v: Option<&str>| v.map_or_else(|| "empty".to_owned(), |v| format!("{v:?}"));
    let operation = "a status or cause changes by a ticketing operation (cancel, \
                     invalidate, reprint, control), not by a correction";
    let reprint = "a new tax number or barcode is a new ticket (a reprint), not a correction";
    // A file written before injection printed the ticket still says NOT_PRINTED.
    let printed_since =
        s.status == TicketingStatus::Printed && row.status == TicketingStatus::NotPrinted;
    if !printed_since {
        differs(
            "status",
            s.status.to_string(),
            row.status.to_string(),
            operation,
        )?;
    }
    differs(
        "cause",
        shown(s.cause.as_deref()),
        shown(row.cause.as_ref().map(Cause::as_str)),
        operation,
    )?;
    differs(
        "tax_number",
        shown(Some(&s.tax_number)),
        shown(Some(&row.tax_number)),
        reprint,
    )?;
    differs(
        "barcode",
        shown(Some(&s.barcode)),
        shown(Some(&row.barcode)),
        reprint,
    )?;
    differs(
        "file_id",
        shown(s.file_id.as_deref()),
        shown(row.file_id.as_deref()),
        "a ticket stays in the file (order) it was sold in",
    )?;
    differs(
        "replaces_ticket_id",
        shown(s.replaces_ticket_id.map(|v| v.to_string()).as_deref()),
        shown(row.replaces_ticket_id.map(|v| v.to_string()).as_deref()),
        "the ticket a reprint replaces is part of its history",
    )?;
    if s.status == TicketingStatus::NotPrinted {
        return Ok(());
    }
    let exchange = "the ticket is printed: moving it elsewhere is an exchange (a new \
                    ticket), not a correction";
    differs(
        "shipment_mode",
        shown(Some(&s.shipment_mode)),
        shown(Some(&row.shipment_mode)),
        exchange,
    )?;
    differs(
        "product_code",
        shown(Some(&s.product_code)),
        shown(Some(&row.product.code)),
        exchange,
    )?;
    differs(
        "performance_code",
        shown(s.performance_code.as_deref()),
        shown(row.performance.as_ref().map(|p| p.code.as_str())),
        exchange,
    )
}

// ---- push cancelled ---------------------------------------------------------------------

/// A push function's selection. Push Cancelled (DOMAIN.md §5.3): `CANCELLED` and
/// `INVALIDATED` tickets (and cards) of the wallet shipment mode that were injected (as
/// tickets, or as privileges) and not pushed
/// yet, or pushed with another cause (a change from one resale cause to another only
/// when `exclude_ticket_resale`), or pushed at or after `date_from`. Push Controlled
/// (§5.4): `CONTROLLED` tickets injected and not pushed yet, or pushed at or after
/// `date_from`. With a force list, only those tickets (still of the function's
/// statuses, and injected). In ticket id order, ids greater than `after_id`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushQuery {
    pub force: TicketRefs,
    pub date_from: Option<DateTime<Utc>>,
    pub exclude_ticket_resale: bool,
    pub after_id: i64,
    pub limit: usize,
}

/// A ticket to delete from the wallet.
#[derive(Debug, Clone, PartialEq)]
pub struct PushCancelledCandidate {
    pub ticket_id: i64,
    pub tax_number: String,
    pub status: TicketingStatus,
    /// The ticket's cause now.
    pub cause: Option<Cause>,
    /// The cause last pushed, if it was.
    pub pushed_cause: Option<Cause>,
    /// A membership or season card injected as a privilege: deleted through the
    /// privileges endpoint.
    pub privilege: bool,
}

/// A deletion the wallet accepted: marked processed by Push Cancelled with the cause
/// pushed; the mobile projection becomes `DELETION_PENDING`.
#[derive(Debug, Clone, PartialEq)]
pub struct PushedCancelled {
    pub ticket_id: i64,
    pub cause: Option<Cause>,
}

/// A controlled ticket to push to the wallet.
#[derive(Debug, Clone, PartialEq)]
pub struct PushControlledCandidate {
    pub ticket_id: i64,
    pub tax_number: String,
    /// The gate scan's time; `None` for a ticket imported as controlled.
    pub controlled_at: Option<DateTime<Utc>>,
}

// ---- ticketing operations ------------------------------------------------------------

/// An operation on tickets of an organization, as one command (issue 8): every ticket
/// changes, with a history row each, or none does. See
/// [`TicketingStore::apply_operation`].
#[derive(Debug, Clone, PartialEq)]
pub struct OperationRequest {
    pub organization_id: i64,
    pub operation: Operation,
    /// The tickets, as the operator named them; a ticket named twice is changed once.
    pub tickets: Vec<TicketRef>,
    /// Normalised; must be one of the organization's causes.
    pub cause: Cause,
    /// Who did it (a login, `cli:<user>`), for the history.
    pub operator: String,
    pub at: DateTime<Utc>,
}

/// A row of a ticket's ticketing history: one operation on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRecord {
    pub id: i64,
    pub ticket_id: i64,
    pub operation: Operation,
    pub at: DateTime<Utc>,
    pub operator: String,
    pub from_status: TicketingStatus,
    pub to_status: TicketingStatus,
    pub cause: Option<Cause>,
    /// A reprint: the new ticket that replaces this one.
    pub related_ticket_id: Option<i64>,
}

impl OperationRecord {
    /// The history row `id` of `operation` applied to ticket `t`.
    pub(crate) fn applied(
        id: i64,
        operation: Operation,
        at: DateTime<Utc>,
        operator: &str,
        cause: &Cause,
        t: FoundTicket,
    ) -> Self {
        OperationRecord {
            id,
            ticket_id: t.ticket_id,
            operation,
            at,
            operator: operator.to_owned(),
            from_status: t.status,
            to_status: operation.target(),
            cause: Some(cause.clone()),
            related_ticket_id: None,
        }
    }
}

/// A reprint (issue 8; DOMAIN.md §2): see [`TicketingStore::reprint`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReprintRequest {
    pub organization_id: i64,
    /// [`Operation::Reprint`], or a resale step that issues a new ticket
    /// ([`Operation::ResaleSold`] to the buyer, [`Operation::ResaleWithdraw`] back to
    /// the seller), whose old ticket must be posted for resale.
    pub operation: Operation,
    /// The ticket to reprint.
    pub ticket: TicketRef,
    /// For [`Operation::ResaleSold`] only: the buyer's contact number; the new ticket's
    /// cultural contact, without the seller's holder data.
    pub buyer: Option<String>,
    /// The old ticket's cause; `REPRINT` unless the operator gives another.
    pub cause: Cause,
    pub operator: String,
    pub at: DateTime<Utc>,
    /// The new ticket's id; default: one above the highest ticket id.
    pub new_ticket_id: Option<i64>,
    /// The new ticket's tax number; default: its ticket id, written out.
    pub new_tax_number: Option<String>,
    /// The new ticket's barcode; default: 16 random digits no ticket of the
    /// organization ever held.
    pub new_barcode: Option<String>,
}

/// What a reprint did: the old ticket's history row (naming the new ticket) and the
/// new ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct Reprinted {
    pub record: OperationRecord,
    pub new_ticket: TicketRow,
}

/// The columns a reprint copies from the old ticket to the new one: the seat, the
/// contact, the catalog entries, the holder.
pub(crate) const REPRINT_COPIED: &str = "file_id, shipment_mode, sales_channel, season_code,
    product_id, performance_id, tariff, category, price_cents, currency, purchase_date,
    validity_start, validity_end, details, contact_id, holder_first_name,
    holder_last_name, holder_birth_date, holder_id_number, holder_country_code,
    holder_birth_region, holder_birth_place, main_applicant, linked_ticket_ids";

/// A barcode candidate for a reprint: 16 random digits (the caller checks no ticket of
/// the organization ever held it).
pub(crate) fn random_barcode() -> String {
    rand::random_range(1_000_000_000_000_000u64..10_000_000_000_000_000).to_string()
}

/// The refusals of a reprint's new identifiers.
pub(crate) fn reprint_taken(what: &str, value: &str, option: &str) -> crate::StoreError {
    crate::StoreError::Conflict(format!(
        "the new ticket's {what} {value} is already taken; give another with {option}"
    ))
}

/// The refusal of a second reprint of one ticket.
pub(crate) fn already_replaced(old: i64, by: i64) -> crate::StoreError {
    crate::StoreError::Conflict(format!(
        "ticket {old} is already replaced by ticket {by}: a ticket is reprinted once"
    ))
}

/// One gate scan (issue 8): a barcode scanned at a time, at a gate of a performance
/// when the access-control system says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateScan {
    pub barcode: String,
    pub scanned_at: DateTime<Utc>,
    /// The gate's performance code.
    pub performance: Option<String>,
}

/// The answer to one scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanResult {
    /// The ticket the barcode names, when one does.
    pub ticket_id: Option<i64>,
    pub outcome: ScanOutcome,
}

/// What a backend does for a judged scan: the ticket's new status and scan time, if
/// they change, and whether a history row (operation `CONTROL`, at the scan time) is
/// appended.
pub(crate) struct ScanEffect {
    pub set: Option<(TicketingStatus, DateTime<Utc>)>,
    pub history: bool,
}

/// The effect of a scan's outcome on the ticket (see
/// [`tixbridge_core::operation::judge_scan`]).
pub(crate) fn scan_effect(outcome: &ScanOutcome, at: DateTime<Utc>) -> ScanEffect {
    match outcome {
        ScanOutcome::Controlled | ScanOutcome::EarlierScan { .. } => ScanEffect {
            set: Some((TicketingStatus::Controlled, at)),
            history: true,
        },
        ScanOutcome::AdmittedWhileCancelled { .. } => ScanEffect {
            set: None,
            history: true,
        },
        ScanOutcome::AlreadyControlled { .. } | ScanOutcome::Refused { .. } => ScanEffect {
            set: None,
            history: false,
        },
    }
}

/// A ticket a reference found: its id, status and cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoundTicket {
    pub ticket_id: i64,
    pub status: TicketingStatus,
    pub cause: Option<Cause>,
}

/// Every backend's plan of an operation: each reference found (else
/// [`crate::StoreError::NotFound`] naming every unknown one), each ticket's status and
/// cause allowing it with `cause` ([`Operation::allows`]; else [`crate::StoreError::Conflict`] naming every refused ticket and
/// its status), tickets named twice kept once. The tickets to change, in order, with
/// their current status.
pub(crate) fn plan_operation(
    op: Operation,
    cause: &Cause,
    found: &[(TicketRef, Option<FoundTicket>)],
) -> Result<Vec<FoundTicket>> {
    let mut unknown = Vec::new();
    let mut refused = Vec::new();
    let mut plan: Vec<FoundTicket> = Vec::new();
    for (r, f) in found {
        match f {
            None => unknown.push(r.to_string()),
            Some(t) => match op.allows(t.status, t.cause.as_ref(), cause) {
                Err(why) => refused.push(format!("ticket {r} ({}): {why}", t.ticket_id)),
                Ok(()) if plan.iter().any(|p| p.ticket_id == t.ticket_id) => {}
                Ok(()) => plan.push(t.clone()),
            },
        }
    }
    if !refused.is_empty() {
        return Err(crate::StoreError::Conflict(format!(
            "{} refused, nothing changed: {}",
            op,
            refused.join("; ")
        )));
    }
    if !unknown.is_empty() {
        return Err(crate::StoreError::NotFound(format!(
            "no ticket {} in this organization (by ticket id, tax number or barcode); nothing changed",
            unknown.join(", ")
        )));
    }
    Ok(plan)
}

/// The organization's causes: the defaults, then the added ones.
pub(crate) fn with_default_causes(added: Vec<Cause>) -> Vec<Cause> {
    let mut all: Vec<Cause> = DEFAULT_CAUSES
        .iter()
        .filter_map(|c| Cause::parse(c))
        .collect();
    for c in added {
        if !all.contains(&c) {
            all.push(c);
        }
    }
    all
}

/// Checks the request's cause against `known`: [`crate::StoreError::Invalid`] listing
/// them when unknown.
pub(crate) fn check_request_cause(req: &OperationRequest, known: &[Cause]) -> Result<()> {
    if req.operation.issues_new_ticket() {
        return Err(crate::StoreError::Invalid(format!(
            "{} issues a new ticket: it is made by `reprint`, one ticket at a time",
            req.operation
        )));
    }
    check_step_cause(req.operation, &req.cause)?;
    check_cause(&req.cause, known).map_err(crate::StoreError::Invalid)
}

/// A resale step's cause is the step's own (DOMAIN.md §2).
fn check_step_cause(op: Operation, cause: &Cause) -> Result<()> {
    match op.resale_cause() {
        Some(c) if cause.as_str() != c => Err(crate::StoreError::Invalid(format!(
            "{op} gives the cause {c}, not {cause}"
        ))),
        _ => Ok(()),
    }
}

/// The checks of a reprint request before anything is read: the operation issues a new
/// ticket, a resale step has its own cause, a sale names its buyer and only a sale does.
pub(crate) fn check_reprint_request(req: &ReprintRequest) -> Result<()> {
    let op = req.operation;
    if !op.issues_new_ticket() {
        return Err(crate::StoreError::Invalid(format!(
            "{op} does not issue a new ticket"
        )));
    }
    check_step_cause(op, &req.cause)?;
    match (op, &req.buyer) {
        (Operation::ResaleSold, None) => Err(crate::StoreError::Invalid(
            "a resale sold names its buyer: the contact number of the new ticket's cultural \
             contact"
                .into(),
        )),
        (Operation::ResaleSold, Some(_)) | (_, None) => Ok(()),
        (_, Some(_)) => Err(crate::StoreError::Invalid(format!(
            "only a resale sold names a buyer, not {op}"
        ))),
    }
}

/// A ticket a row of an import replaces (`replaces_ticket_id`): the new ticket, the old
/// one and its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ImportedReprint {
    pub new_id: i64,
    pub old_id: i64,
    pub old_status: TicketingStatus,
}

/// What an import does to a ticket a row replaces (issue 8): a live one is invalidated
/// with cause `REPRINT` (a history row by `import` names the new ticket); one already
/// cancelled or invalidated stays as it is; a controlled one refuses the import.
/// Returns the reprints to apply.
pub(crate) fn plan_imported_reprints(found: Vec<ImportedReprint>) -> Result<Vec<ImportedReprint>> {
    let mut live = Vec::new();
    for r in found {
        match r.old_status {
            TicketingStatus::NotPrinted | TicketingStatus::Printed => live.push(r),
            TicketingStatus::Controlled => {
                return Err(crate::StoreError::Conflict(format!(
                    "ticket id {} replaces ticket {}, which is CONTROLLED: a controlled \
                     ticket cannot be reprinted",
                    r.new_id, r.old_id
                )));
            }
            TicketingStatus::Cancelled | TicketingStatus::Invalidated => {}
        }
    }
    Ok(live)
}

/// The refusal of a second ticket replacing the same ticket.
pub(crate) fn replaced_twice(new_id: i64, old_id: Option<i64>) -> crate::StoreError {
    let old = old_id.map(|o| format!(" {o}")).unwrap_or_default();
    crate::StoreError::Conflict(format!(
        "ticket id {new_id} replaces ticket{old}, which another ticket already replaces: a \
         ticket is replaced once"
    ))
}

/// The operator of the history rows an import writes.
pub(crate) const IMPORT_OPERATOR: &str = "import";

/// The refusal of a buyer who is not a contact of the organization.
pub(crate) fn unknown_buyer(number: &str) -> crate::StoreError {
    crate::StoreError::NotFound(format!(
        "no contact numbered {number} in this organization; nothing changed"
    ))
}

/// The holder columns a reprint to a buyer clears: the named-ticket data belonged to
/// the seller's ticket.
pub(crate) const HOLDER_CLEARED: &str = "holder_first_name = NULL, holder_last_name = NULL,
    holder_birth_date = NULL, holder_id_number = NULL, holder_country_code = NULL,
    holder_birth_region = NULL, holder_birth_place = NULL";

/// The ticketing side's storage. Every method is one round trip (one blocking hop on
/// SQLite, one transaction on PostgreSQL) so batches cost per batch, not per row.
#[async_trait]
pub trait TicketingStore: Send + Sync {
    /// Creates the organization, or returns the existing one with that code.
    async fn ensure_organization(
        &self,
        code: &str,
        name: &str,
        default_language: &str,
    ) -> Result<Organization>;
    async fn organization_by_code(&self, code: &str) -> Result<Option<Organization>>;
    async fn organization(&self, id: i64) -> Result<Organization>;
    /// Every organization of the store, ordered by code (the CLI's `--org` may be left
    /// out when there is exactly one).
    async fn organizations(&self) -> Result<Vec<Organization>>;

    /// Sets the organization's IANA time zone: the zone of its sites that name none
    /// (`tixbridge_core::local_time`).
    async fn set_organization_time_zone(&self, id: i64, zone: Tz) -> Result<Organization>;

    /// Starts an all-or-nothing import for the organization.
    async fn begin_import(&self, organization_id: i64) -> Result<Box<dyn ImportSession>>;
    /// Starts a correction of existing tickets (`import tickets --update`, issue 7 item
    /// 20): the same session, but each row replaces the stored content of its ticket
    /// (holder, seat details, contact, prices, texts, catalog fields) after
    /// [`check_correction`]'s rules; catalog entries and contacts are created or updated
    /// as by an import. A changed ticket already injected (`PRINTED`, with an injection
    /// marker) is marked corrected at `at`, so the next injection sends it again; an
    /// unchanged row changes nothing. A ticket id twice in one correction is a conflict.
    async fn begin_correction(
        &self,
        organization_id: i64,
        at: DateTime<Utc>,
    ) -> Result<Box<dyn ImportSession>>;

    async fn catalog(&self, organization_id: i64) -> Result<Catalog>;
    async fn ticket(&self, ticket_id: i64) -> Result<Option<TicketRow>>;
    async fn contact(&self, contact_id: i64) -> Result<Option<Contact>>;
    /// Number of tickets per ticketing status.
    async fn count_by_status(&self, organization_id: i64) -> Result<Vec<(TicketingStatus, u64)>>;

    async fn create_interface(&self, new: NewInterface) -> Result<InterfaceConfig>;
    async fn interface(&self, id: i64) -> Result<InterfaceConfig>;
    async fn interface_by_name(&self, name: &str) -> Result<Option<InterfaceConfig>>;
    async fn interfaces(&self) -> Result<Vec<InterfaceConfig>>;

    /// Schedule names are unique across the store.
    async fn create_schedule(&self, new: NewSchedule) -> Result<Schedule>;
    async fn schedule_by_name(&self, name: &str) -> Result<Option<Schedule>>;
    async fn schedules(&self, interface_id: i64) -> Result<Vec<Schedule>>;

    /// Changes an interface (see [`InterfaceUpdate`]); the API key is stored, never
    /// returned by a listing. `NotFound` for an unknown id.
    async fn update_interface(&self, id: i64, update: InterfaceUpdate) -> Result<InterfaceConfig>;

    async fn schedule(&self, id: i64) -> Result<Option<Schedule>>;
    /// Replaces a schedule's settings (its name and interface stay). `NotFound` for an
    /// unknown id.
    async fn update_schedule(&self, id: i64, new: NewSchedule) -> Result<Schedule>;
    /// Deletes a schedule with its executions and their errors, in one transaction.
    /// Refused with `Conflict` naming the execution while one runs (its lease is
    /// live at `at`); a lapsed one is recovered first. Processed markers stay.
    async fn delete_schedule(&self, id: i64, at: DateTime<Utc>) -> Result<()>;

    /// Starts an execution holding a lease, in one transaction that first recovers
    /// the schedule's executions whose lease lapsed before `start.at` (recorded
    /// `ERROR` "interrupted", counts from their markers: succeeded = tickets marked
    /// with their id, failed = their per-ticket errors) and then refuses with
    /// `Conflict` naming the running one if an execution of the schedule is still live.
    /// Guaranteed across processes by a row lock on the schedule and a unique index on
    /// the running executions of a schedule, not by a check alone.
    async fn start_execution(&self, start: ExecutionStart) -> Result<Execution>;
    /// Renews the lease until `until` and stores the counts so far. `Conflict` when
    /// the execution is no longer this owner's (ended, or recovered as interrupted).
    async fn renew_lease(
        &self,
        execution_id: i64,
        owner: &str,
        until: DateTime<Utc>,
        counts: Counts,
    ) -> Result<()>;
    /// Records the end (outcome, counts, message) and releases the lease.
    async fn finish_execution(
        &self,
        execution_id: i64,
        at: DateTime<Utc>,
        outcome: Outcome,
        counts: Counts,
        message: Option<String>,
    ) -> Result<()>;
    async fn add_execution_errors(&self, execution_id: i64, errors: Vec<TicketError>)
    -> Result<()>;
    async fn execution(&self, id: i64) -> Result<Option<Execution>>;
    async fn execution_errors(&self, execution_id: i64) -> Result<Vec<TicketError>>;
    /// One page of an execution's errors in the order stored, keys after `after`
    /// (0 for the first page), at most `limit`.
    async fn execution_errors_page(
        &self,
        execution_id: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredTicketError>>;
    /// Most recent first.
    async fn executions(&self, schedule_id: i64, limit: usize) -> Result<Vec<Execution>>;

    /// Up to `query.limit` candidates for injection (see [`InjectionQuery`]).
    async fn injection_candidates(
        &self,
        organization_id: i64,
        query: &InjectionQuery,
    ) -> Result<Vec<InjectionCandidate>>;
    /// Marks injected tickets in one transaction (see [`InjectedMark`]). A ticket whose
    /// status is no longer `NOT_PRINTED` or `PRINTED` is left alone.
    async fn mark_injected(
        &self,
        by: MarkedBy,
        point_of_sales: &str,
        at: DateTime<Utc>,
        marks: Vec<InjectedMark>,
    ) -> Result<()>;
    /// Marks cards the wallet accepted as privileges, in one transaction: as
    /// [`TicketingStore::mark_injected`] with the processed marker of Privileges
    /// injection, and the definitions sent with them recorded as pushed.
    /// [`crate::StoreError::NotFound`] for an unknown schedule.
    async fn mark_privileges_injected(
        &self,
        by: MarkedBy,
        point_of_sales: &str,
        at: DateTime<Utc>,
        marks: Vec<InjectedMark>,
        definitions: Vec<PushedDefinition>,
    ) -> Result<()>;
    /// The privilege definitions last sent for the organization's card products.
    async fn pushed_definitions(&self, organization_id: i64) -> Result<Vec<PushedDefinition>>;
    /// For each product given, the card that carries its changed definition to the
    /// wallet: its lowest-id `PRINTED` card injected by Privileges injection (none
    /// for a product without one). In ticket id order.
    async fn definition_carriers(
        &self,
        organization_id: i64,
        product_ids: Vec<i64>,
    ) -> Result<Vec<InjectionCandidate>>;
    /// Whether the function has marked the ticket processed, and when.
    async fn processed_at(
        &self,
        ticket_id: i64,
        function: FunctionKind,
    ) -> Result<Option<DateTime<Utc>>>;

    async fn projection(&self, ticket_id: i64) -> Result<Option<MobileProjection>>;
    /// Creates or replaces a ticket's mobile projection.
    async fn put_projection(&self, projection: MobileProjection) -> Result<()>;

    /// A page of Push Cancelled's candidates (see [`PushQuery`]).
    async fn push_cancelled_candidates(
        &self,
        organization_id: i64,
        query: &PushQuery,
    ) -> Result<Vec<PushCancelledCandidate>>;
    /// Marks deletions the wallet accepted, in one transaction: processed marker
    /// `PUSH_CANCELLED` with the cause pushed (replacing an earlier one), projection
    /// `DELETION_PENDING`. [`crate::StoreError::NotFound`] for an unknown schedule.
    async fn mark_pushed_cancelled(
        &self,
        by: MarkedBy,
        at: DateTime<Utc>,
        marks: Vec<PushedCancelled>,
    ) -> Result<()>;

    /// A page of Push Controlled's candidates (see [`PushQuery`]).
    async fn push_controlled_candidates(
        &self,
        organization_id: i64,
        query: &PushQuery,
    ) -> Result<Vec<PushControlledCandidate>>;
    /// Marks controls the wallet accepted (or answered with a final refusal), in one
    /// transaction: processed marker `PUSH_CONTROLLED`, projection `CONTROLLED` unless
    /// the wallet deleted the ticket. [`crate::StoreError::NotFound`] for an unknown
    /// schedule.
    async fn mark_pushed_controlled(
        &self,
        by: MarkedBy,
        at: DateTime<Utc>,
        ticket_ids: Vec<i64>,
    ) -> Result<()>;

    /// The organization's invalidation and cancellation causes: the defaults
    /// (DOMAIN.md §2), then those added, normalised.
    async fn causes(&self, organization_id: i64) -> Result<Vec<Cause>>;
    /// Adds a cause to the organization's list; `false` when it was there already.
    async fn add_cause(&self, organization_id: i64, cause: Cause) -> Result<bool>;
    /// Applies an operation to tickets in one transaction: each ticket's status and
    /// cause change and a history row is appended, or nothing changes. Refusals name
    /// every ticket: an unknown cause is [`crate::StoreError::Invalid`] listing the
    /// known ones; an unknown ticket [`crate::StoreError::NotFound`]; a status that
    /// forbids the operation [`crate::StoreError::Conflict`] naming it.
    async fn apply_operation(&self, request: OperationRequest) -> Result<Vec<OperationRecord>>;
    /// Reprints a ticket in one transaction (DOMAIN.md §2): the old ticket becomes
    /// `INVALIDATED` with the cause and a history row naming the new ticket; the new
    /// ticket is `NOT_PRINTED`, with the old one's seat, contact, catalog entries and
    /// holder, `replaces_ticket_id` set, and new identifiers ([`ReprintRequest`]).
    /// Refusals, nothing changed: an unknown cause ([`crate::StoreError::Invalid`]),
    /// an unknown ticket ([`crate::StoreError::NotFound`]), a status that forbids it, a
    /// ticket already replaced, or a new identifier already taken
    /// ([`crate::StoreError::Conflict`]).
    async fn reprint(&self, request: ReprintRequest) -> Result<Reprinted>;
    /// Records gate scans in one transaction, in the order given (a file's scans are
    /// sorted by time first, so the earliest wins), each judged by
    /// [`tixbridge_core::operation::judge_scan`] (`live`: a gate scanning now, else an
    /// uploaded file); a scan that controls a ticket, or reports one admitted while
    /// cancelled, appends a `CONTROL` history row at the scan time.
    async fn record_scans(
        &self,
        organization_id: i64,
        scans: Vec<GateScan>,
        live: bool,
        operator: &str,
    ) -> Result<Vec<ScanResult>>;
    /// A ticket's ticketing history, oldest first.
    async fn ticket_operations(&self, ticket_id: i64) -> Result<Vec<OperationRecord>>;
    /// The id of the ticket of the organization a reference names: by id, else by tax
    /// number, else by barcode.
    async fn find_ticket(&self, organization_id: i64, ticket: &TicketRef) -> Result<Option<i64>>;

    /// The key the interface's feedback has read the wallet's change feed up to;
    /// `None` before its first page.
    async fn feedback_key(&self, interface_id: i64) -> Result<Option<String>>;
    /// Applies one page of the change feed in one transaction (DOMAIN.md §5.2): for
    /// each ticket of the organization, its mobile projection becomes the page's state
    /// and its status-log entries are appended (an entry already there, by its seq, is
    /// not appended again); then the key becomes `next_key`. No ticketing status
    /// changes. A ticket unknown to ticketing is reported, and skipped — or, with
    /// `block_on_unknown`, nothing is written. The stored key must be `after_key`, else
    /// [`crate::StoreError::Conflict`] (another execution applied the page) and nothing
    /// is written; a state that cannot be read is [`crate::StoreError::Invalid`] naming
    /// the ticket and field.
    async fn apply_feedback_page(&self, page: FeedbackPage) -> Result<AppliedPage>;
    /// A ticket's wallet status log as Feedback brought it back, by seq.
    async fn mobile_history(&self, ticket_id: i64) -> Result<Vec<MobileHistoryEntry>>;
    /// Every ticket of the organization (cards aside) as a reconciliation compares it,
    /// sent to `sink` in batches of at most `batch`, in the order of the ticket id
    /// written out in decimal and compared byte by byte — the wallet's order of its
    /// ticket ids — from one consistent snapshot. Memory stays flat whatever the
    /// number of tickets: the database sorts (spilling to disk), and `sink` is
    /// bounded. Returns the number of tickets sent; stops early, without error, when
    /// the receiver is gone.
    async fn reconcile_tickets(
        &self,
        organization_id: i64,
        batch: usize,
        sink: tokio::sync::mpsc::Sender<Vec<ReconcileTicket>>,
    ) -> Result<u64>;
    /// Distribution rows (DOMAIN.md §6), oldest first: of one ticket, or those where
    /// a contact is sender or recipient.
    async fn distributions(&self, of: DistributionsOf) -> Result<Vec<Distribution>>;
    /// The organization's tickets (cards aside) counted per ticketing status and
    /// wallet status of their mobile projection (`None`: never injected), both sides
    /// side by side as DOMAIN.md §4 maps them; sorted by both.
    async fn status_pairs(
        &self,
        organization_id: i64,
    ) -> Result<Vec<(TicketingStatus, Option<String>, u64)>>;
    /// The organization's distribution rows counted per status, by status name.
    async fn distribution_counts(&self, organization_id: i64) -> Result<Vec<(String, u64)>>;
    /// The contacts of the organization a text names: the contact number, else the
    /// email without regard to case or surrounding spaces (several contacts may share
    /// one), in the order Feedback prefers them (DOMAIN.md §6).
    async fn find_contacts(&self, organization_id: i64, text: &str) -> Result<Vec<Contact>>;
    /// The tickets whose cultural contact is the contact, by ticket id, with their
    /// wallet status as Feedback last brought it back.
    async fn contact_tickets(&self, contact_id: i64) -> Result<Vec<ContactTicket>>;

    /// Database reachable.
    async fn ping(&self) -> Result<()>;
}

/// Merges two lists of injection candidates, each in ticket id order and disjoint (the
/// backlog and the corrected printed tickets), keeping the first `limit` ids.
pub fn merge_by_id(
    a: Vec<InjectionCandidate>,
    b: Vec<InjectionCandidate>,
    limit: usize,
) -> Vec<InjectionCandidate> {
    if b.is_empty() {
        return a;
    }
    let mut out = Vec::with_capacity((a.len() + b.len()).min(limit));
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    while out.len() < limit {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.ticket.id <= y.ticket.id,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        out.extend(if take_a { a.next() } else { b.next() });
    }
    out
}

/// The refusal of a second running execution of a schedule, naming the running one.
pub(crate) fn running_conflict(schedule: &str, running: &Execution) -> crate::StoreError {
    let owner = running.lease_owner.as_deref().unwrap_or("unknown");
    let until = running
        .lease_expires_at
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    crate::StoreError::Conflict(format!(
        "schedule {schedule}: execution #{} is running (started {}, by {owner}, lease until \
         {until}); two executions of a schedule never overlap",
        running.id,
        running
            .started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    ))
}

/// The answer to a lease renewal for an execution this process no longer holds.
pub(crate) fn lease_lost(execution_id: i64) -> crate::StoreError {
    crate::StoreError::Conflict(format!(
        "execution {execution_id} is no longer held by this process: it ended, or its \
         lease lapsed and it was recorded as interrupted"
    ))
}

/// The checks every backend makes on a schedule before storing it.
pub(crate) fn check_new_schedule(new: &NewSchedule) -> Result<()> {
    if new.name.trim().is_empty() {
        return Err(crate::StoreError::Invalid(
            "the schedule name is empty".into(),
        ));
    }
    if new.batch_size < 1 {
        return Err(crate::StoreError::Invalid(format!(
            "schedule {:?}: batch size {} must be at least 1",
            new.name, new.batch_size
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        action: &str,
        from: Option<&str>,
        to: &str,
        detail: Option<&str>,
    ) -> MobileHistoryEntry {
        MobileHistoryEntry {
            seq: 1,
            at: Utc::now(),
            action: action.into(),
            from_status: from.map(str::to_owned),
            to_status: to.into(),
            actor: "APP".into(),
            detail: detail.map(str::to_owned),
        }
    }

    #[test]
    fn only_the_canonical_writing_of_an_id_is_a_ticketing_id() {
        let state = |id: &str| TicketState {
            ticket_id: id.into(),
            taxation_number: None,
            barcode: None,
            event_id: "E".into(),
            status: "INJECTED".into(),
            status_changed_at: "2026-01-01T00:00:00Z".into(),
            owner: None,
            initial_owner: None,
            previous_owner: None,
            holder: None,
            transfer_level: 0,
            deletion: None,
            transfer: None,
            history: vec![],
        };
        assert_eq!(feed_ticket_id(&state("7")), Some(7));
        for other in ["007", "+7", " 7", "0", "-7", "X7"] {
            assert_eq!(feed_ticket_id(&state(other)), None, "{other:?}");
        }
    }

    #[test]
    fn each_transfer_entry_takes_its_distribution_step() {
        use DistributionStep::*;
        let open = entry(
            "TRANSFER",
            Some("DOWNLOADED"),
            "PENDING_TRANSFER",
            Some("to= B@x.org "),
        );
        assert_eq!(
            distribution_step(&open),
            Some(Open {
                recipient: "B@x.org".into()
            })
        );
        let accept = entry(
            "ACCEPT_TRANSFER",
            Some("PENDING_TRANSFER"),
            "TRANSFERRED",
            Some("to=b@x.org"),
        );
        assert_eq!(
            distribution_step(&accept),
            Some(Confirm {
                recipient: "b@x.org".into()
            })
        );
        for (action, from, to) in [
            ("REJECT_TRANSFER", "PENDING_TRANSFER", "FAILURE_TRANSFER"),
            ("TRANSFER_TIMEOUT", "PENDING_TRANSFER", "FAILURE"),
            ("CANCEL_TRANSFER", "PENDING_TRANSFER", "FAILURE_TRANSFER"),
            ("CONTROL", "PENDING_TRANSFER", "CONTROLLED"),
            ("DELETE", "CONTROLLED", "DELETION_PENDING"),
        ] {
            assert_eq!(
                distribution_step(&entry(action, Some(from), to, None)),
                Some(Cancel),
                "{action}"
            );
        }
        for (action, from, to) in [
            ("DOWNLOAD", "INJECTED", "DOWNLOADED"),
            ("CONTROL", "DOWNLOADED", "CONTROLLED"),
            ("ACTIVATE", "DOWNLOADED", "ONLINE_ACTIVATED"),
        ] {
            assert_eq!(
                distribution_step(&entry(action, Some(from), to, None)),
                None,
                "{action}"
            );
        }
        // A transfer without a recipient names no one: nothing to open.
        assert_eq!(
            distribution_step(&entry("TRANSFER", None, "PENDING_TRANSFER", None)),
            None
        );
    }
}
