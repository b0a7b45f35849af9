//! The ticketing store's trait and the records it exchanges.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use tixbridge_core::api::Person;
use tixbridge_core::cause::Cause;
use tixbridge_core::local_time::Tz;
use tixbridge_core::model::{
    ComfortVariables, Contact, Counts, FunctionKind, Holder, InjectionFilters, InterfaceKind,
    MobileProjection, Organization, Outcome, Performance, Product, ProductKind, Season, Site,
    TicketDetail, TicketError, TicketRow,
};
use tixbridge_core::selection::TicketRefs;
use tixbridge_core::status::TicketingStatus;
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

/// How injection selects: either the force list (only those tickets, processed or not,
/// status `NOT_PRINTED` or `PRINTED`, filters ignored), or the filters over
/// `NOT_PRINTED` tickets not yet processed by the injection function. Always: the
/// wallet shipment mode, ticket products (not cards), ordered by ticket id, ids
/// strictly greater than `after_id`.
#[derive(Debug, Clone, Default)]
pub struct InjectionQuery {
    pub filters: InjectionFilters,
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
#[derive(Debug, Clone, PartialEq)]
pub struct ImportContact {
    pub number: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub gender: Option<String>,
    pub title: Option<String>,
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
    /// Makes every added row visible at once; returns how many tickets were imported.
    async fn commit(self: Box<Self>) -> Result<u64>;
}

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
    /// Whether the function has marked the ticket processed, and when.
    async fn processed_at(
        &self,
        ticket_id: i64,
        function: FunctionKind,
    ) -> Result<Option<DateTime<Utc>>>;

    async fn projection(&self, ticket_id: i64) -> Result<Option<MobileProjection>>;
    /// Creates or replaces a ticket's mobile projection.
    async fn put_projection(&self, projection: MobileProjection) -> Result<()>;

    /// Database reachable.
    async fn ping(&self) -> Result<()>;
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
