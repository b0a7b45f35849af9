//! SQLite backend of the ticketing store (rusqlite).
//!
//! Every call is one hop onto a blocking thread: writes go through [`Db::write`] (one
//! immediate transaction), reads through [`Db::read`]. Hot statements use
//! `prepare_cached`, so a 50-ticket `mark_injected` costs one hand-off and no parsing.
//!
//! An import holds one transaction across its `add` calls: a dedicated thread owns the
//! writer connection for the whole import (through [`Db::with_writer_blocking`]) and
//! takes commands from a channel. Dropping the session closes the channel; the thread
//! then drops the transaction, which rolls it back. Reads go on during an import; other
//! writes wait for its end, so a task holding a session must not write through the
//! store itself (it would wait for itself).
//!
//! Times are stored as RFC 3339 text in UTC with microseconds (`2026-06-01T18:00:00.000000Z`):
//! readable with the `sqlite3` shell, ordered like the times, and of the same precision
//! as PostgreSQL's `timestamptz`. Multilingual texts are JSON objects keyed by language.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{FromSql, Type};
use rusqlite::{Connection, OptionalExtension, params};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

use tixbridge_core::cause::Cause;
use tixbridge_core::local_time::{Tz, parse_zone};
use tixbridge_core::model::{
    ComfortVariables, Contact, Counts, FunctionKind, Holder, InterfaceKind, MobileProjection,
    Organization, Outcome, Performance, Product, ProductKind, Season, Site, TicketError, TicketRow,
};
use tixbridge_core::operation::TicketRef;
use tixbridge_core::status::{TicketingStatus, WalletStatus};
use tixbridge_core::text::{LocalizedText, is_language_code};

use super::Db;
use crate::{
    AppliedPage, Catalog, ContactTicket, Distribution, DistributionsOf, Execution, ExecutionStart,
    FeedbackPage, GateScan, ImportSession, InjectedMark, InjectionCandidate, InjectionQuery,
    InterfaceConfig, InterfaceUpdate, LaunchMode, MarkedBy, MobileHistoryEntry, NewInterface,
    NewSchedule, OperationRecord, OperationRequest, PushCancelledCandidate,
    PushControlledCandidate, PushQuery, PushedCancelled, PushedDefinition, ReconcileTicket,
    ReprintRequest, Reprinted, Result, ScanResult, Schedule, StoreError, StoredTicketError,
    TicketingStore,
};

mod feedback;
mod import;
mod injection;
mod operations;
mod push;
mod runs;
mod views;

use crate::ticketing::ImportMode as Mode;
use import::SqliteImport;

/// Append-only: never edit a migration that has landed; add a new one. Versions carry a
/// `ticketing_` prefix so they never collide with the wallet store's in a shared file.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "ticketing_0001_init",
        include_str!("../../migrations/sqlite/ticketing_0001_init.sql"),
    ),
    (
        "ticketing_0002_import",
        include_str!("../../migrations/sqlite/ticketing_0002_import.sql"),
    ),
    (
        "ticketing_0003_executions",
        include_str!("../../migrations/sqlite/ticketing_0003_executions.sql"),
    ),
    (
        "ticketing_0004_corrections",
        include_str!("../../migrations/sqlite/ticketing_0004_corrections.sql"),
    ),
    (
        "ticketing_0005_operations",
        include_str!("../../migrations/sqlite/ticketing_0005_operations.sql"),
    ),
    (
        "ticketing_0006_privileges",
        include_str!("../../migrations/sqlite/ticketing_0006_privileges.sql"),
    ),
    (
        "ticketing_0007_feedback",
        include_str!("../../migrations/sqlite/ticketing_0007_feedback.sql"),
    ),
    (
        "ticketing_0008_distribution",
        include_str!("../../migrations/sqlite/ticketing_0008_distribution.sql"),
    ),
];

/// Opens the ticketing store.
pub async fn open_ticketing(path: &Path) -> Result<Arc<dyn TicketingStore>> {
    open_ticketing_with(path, super::Durability::Normal).await
}

/// Opens the ticketing store with the given commit durability.
pub async fn open_ticketing_with(
    path: &Path,
    durability: super::Durability,
) -> Result<Arc<dyn TicketingStore>> {
    let db = Db::open(path, MIGRATIONS, durability).await?;
    Ok(Arc::new(SqliteTicketing { db }))
}

struct SqliteTicketing {
    db: Db,
}

// ---- conversions ---------------------------------------------------------------------

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn opt_ts(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(ts)
}

fn text_json(t: &LocalizedText) -> String {
    // Serialising a map of strings cannot fail.
    serde_json::to_string(&t.values).unwrap_or_else(|_| "{}".into())
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("cannot encode JSON: {e}")))
}

fn conv_err(idx: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, msg.into())
}

/// Reads the columns of a row in the order of the SELECT list, so the readers below do
/// not repeat column numbers.
struct Cur<'a, 'b> {
    row: &'a rusqlite::Row<'b>,
    i: usize,
}

impl<'a, 'b> Cur<'a, 'b> {
    fn new(row: &'a rusqlite::Row<'b>) -> Self {
        Cur { row, i: 0 }
    }

    fn get<T: FromSql>(&mut self) -> rusqlite::Result<T> {
        let v = self.row.get(self.i);
        self.i += 1;
        v
    }

    fn parsed<T: FromStr<Err = String>>(&mut self) -> rusqlite::Result<T> {
        let i = self.i;
        let s: String = self.get()?;
        s.parse().map_err(|e: String| conv_err(i, e))
    }

    fn time(&mut self) -> rusqlite::Result<DateTime<Utc>> {
        let i = self.i;
        let s: String = self.get()?;
        parse_ts(&s).map_err(|e| conv_err(i, e))
    }

    fn opt_time(&mut self) -> rusqlite::Result<Option<DateTime<Utc>>> {
        let i = self.i;
        let s: Option<String> = self.get()?;
        s.map(|s| parse_ts(&s))
            .transpose()
            .map_err(|e| conv_err(i, e))
    }

    fn json<T: DeserializeOwned>(&mut self) -> rusqlite::Result<T> {
        let i = self.i;
        let s: String = self.get()?;
        serde_json::from_str(&s).map_err(|e| conv_err(i, format!("bad JSON: {e}")))
    }

    fn opt_json<T: DeserializeOwned>(&mut self) -> rusqlite::Result<Option<T>> {
        let i = self.i;
        let s: Option<String> = self.get()?;
        s.map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| conv_err(i, format!("bad JSON: {e}")))
    }

    fn text(&mut self) -> rusqlite::Result<LocalizedText> {
        let values: BTreeMap<String, String> = self.json()?;
        Ok(LocalizedText { values })
    }

    fn cause(&mut self) -> rusqlite::Result<Option<Cause>> {
        let s: Option<String> = self.get()?;
        Ok(s.as_deref().and_then(Cause::parse))
    }

    fn zone(&mut self) -> rusqlite::Result<Tz> {
        let i = self.i;
        let s: String = self.get()?;
        parse_zone(&s).map_err(|e| conv_err(i, e))
    }

    fn opt_zone(&mut self) -> rusqlite::Result<Option<Tz>> {
        let i = self.i;
        let s: Option<String> = self.get()?;
        s.map(|s| parse_zone(&s))
            .transpose()
            .map_err(|e| conv_err(i, e))
    }
}

fn parse_ts(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("bad time {s:?}: {e}"))
}

const TICKET_COLUMNS: &str = "t.id, t.organization_id, t.tax_number, t.barcode, t.file_id, \
    t.status, t.cause, t.replaces_ticket_id, t.shipment_mode, t.sales_channel, t.season_code, \
    t.product_id, t.performance_id, t.tariff, t.category, t.price_cents, t.currency, \
    t.purchase_date, t.validity_start, t.validity_end, t.details, t.contact_id, \
    t.holder_first_name, t.holder_last_name, t.holder_birth_date, t.holder_id_number, \
    t.holder_country_code, t.holder_birth_region, t.holder_birth_place, t.main_applicant, \
    t.printed_by, t.printed_at, t.linked_ticket_ids";

fn read_ticket(c: &mut Cur<'_, '_>) -> rusqlite::Result<TicketRow> {
    Ok(TicketRow {
        id: c.get()?,
        organization_id: c.get()?,
        tax_number: c.get()?,
        barcode: c.get()?,
        file_id: c.get()?,
        status: c.parsed()?,
        cause: c.cause()?,
        replaces_ticket_id: c.get()?,
        shipment_mode: c.get()?,
        sales_channel: c.get()?,
        season_code: c.get()?,
        product_id: c.get()?,
        performance_id: c.get()?,
        tariff: c.get()?,
        category: c.get()?,
        price_cents: c.get()?,
        currency: c.get()?,
        purchase_date: c.opt_time()?,
        validity_start: c.opt_time()?,
        validity_end: c.opt_time()?,
        details: c.json()?,
        contact_id: c.get()?,
        holder: Holder {
            first_name: c.get()?,
            last_name: c.get()?,
            birth_date: c.get()?,
            id_number: c.get()?,
            country_code: c.get()?,
            birth_region: c.get()?,
            birth_place: c.get()?,
        },
        main_applicant: c.get()?,
        printed_by: c.get()?,
        printed_at: c.opt_time()?,
        linked_ticket_ids: crate::ticketing::parse_linked_ids(c.get()?),
    })
}

const CONTACT_COLUMNS: &str = "c.id, c.number, c.email, c.first_name, c.last_name, c.gender, \
     c.title, c.temporary, c.internet_account, c.kind";

fn read_contact(c: &mut Cur<'_, '_>) -> rusqlite::Result<Contact> {
    Ok(Contact {
        id: c.get()?,
        number: c.get()?,
        email: c.get()?,
        first_name: c.get()?,
        last_name: c.get()?,
        gender: c.get()?,
        title: c.get()?,
        temporary: c.get()?,
        internet_account: c.get()?,
        kind: c.get()?,
    })
}

fn read_org(r: &rusqlite::Row<'_>) -> rusqlite::Result<Organization> {
    let mut c = Cur::new(r);
    Ok(Organization {
        id: c.get()?,
        code: c.get()?,
        name: c.get()?,
        default_language: c.get()?,
        time_zone: c.zone()?,
    })
}

const INTERFACE_COLUMNS: &str =
    "id, organization_id, name, kind, url, login, api_key, notification_emails, custom_params";

fn read_interface(r: &rusqlite::Row<'_>) -> rusqlite::Result<InterfaceConfig> {
    let mut c = Cur::new(r);
    let id = c.get()?;
    let organization_id = c.get()?;
    let name = c.get()?;
    let kind: InterfaceKind = c.parsed()?;
    let url = c.get()?;
    let login = c.get()?;
    let api_key: String = c.get()?;
    let notification_emails: Vec<String> = c.json()?;
    let custom_params = c.get()?;
    Ok(InterfaceConfig {
        id,
        organization_id,
        name,
        kind,
        url,
        login,
        api_key: SecretString::from(api_key),
        notification_emails,
        custom_params,
    })
}

fn launch_mode_str(m: LaunchMode) -> &'static str {
    match m {
        LaunchMode::Manual => "MANUAL",
        LaunchMode::Automatic => "AUTOMATIC",
    }
}

fn parse_launch_mode(s: &str) -> std::result::Result<LaunchMode, String> {
    match s {
        "MANUAL" => Ok(LaunchMode::Manual),
        "AUTOMATIC" => Ok(LaunchMode::Automatic),
        _ => Err(format!("unknown launch mode {s:?}")),
    }
}

const SCHEDULE_COLUMNS: &str = "id, interface_id, name, function, launch_mode, frequency_secs, \
    starts_at, ends_at, batch_size, params";

fn read_schedule(r: &rusqlite::Row<'_>) -> rusqlite::Result<Schedule> {
    let mut c = Cur::new(r);
    Ok(Schedule {
        id: c.get()?,
        interface_id: c.get()?,
        name: c.get()?,
        function: c.parsed()?,
        launch_mode: {
            let i = c.i;
            let s: String = c.get()?;
            parse_launch_mode(&s).map_err(|e| conv_err(i, e))?
        },
        frequency_secs: c.get()?,
        starts_at: c.opt_time()?,
        ends_at: c.opt_time()?,
        batch_size: c.get()?,
        params: c.json()?,
    })
}

const EXECUTION_COLUMNS: &str = "id, schedule_id, started_at, ended_at, outcome, selected, sent, \
    succeeded, failed, skipped, unsent, message, lease_owner, lease_expires_at";

fn read_execution(r: &rusqlite::Row<'_>) -> rusqlite::Result<Execution> {
    let mut c = Cur::new(r);
    Ok(Execution {
        id: c.get()?,
        schedule_id: c.get()?,
        started_at: c.time()?,
        ended_at: c.opt_time()?,
        outcome: {
            let i = c.i;
            let s: Option<String> = c.get()?;
            s.map(|s| s.parse::<Outcome>())
                .transpose()
                .map_err(|e| conv_err(i, e))?
        },
        counts: Counts {
            selected: c.get::<i64>()? as u64,
            sent: c.get::<i64>()? as u64,
            succeeded: c.get::<i64>()? as u64,
            failed: c.get::<i64>()? as u64,
            skipped: c.get::<i64>()? as u64,
            unsent: c.get::<i64>()? as u64,
        },
        message: c.get()?,
        lease_owner: c.get()?,
        lease_expires_at: c.opt_time()?,
    })
}

fn read_projection(r: &rusqlite::Row<'_>) -> rusqlite::Result<MobileProjection> {
    let mut c = Cur::new(r);
    Ok(MobileProjection {
        ticket_id: c.get()?,
        wallet_status: c.parsed::<WalletStatus>()?,
        owner: c.opt_json()?,
        holder: c.opt_json()?,
        transfer_level: c.get()?,
        updated_at: c.time()?,
        status_changed_at: c.opt_time()?,
        initial_owner: c.opt_json()?,
        previous_owner: c.opt_json()?,
        deletion: c.opt_json()?,
    })
}

/// The extended result code of a failed statement, to tell constraint kinds apart.
fn constraint_code(e: &rusqlite::Error) -> Option<i32> {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Some(f.extended_code)
        }
        _ => None,
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        constraint_code(e),
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    )
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ---- the store ------------------------------------------------------------------------

/// `NotFound` unless the schedule exists.
fn schedule_exists(conn: &Connection, schedule_id: i64) -> Result<()> {
    let found: bool = conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM schedules WHERE id = ?1)")?
        .query_row([schedule_id], |r| r.get(0))?;
    if found {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!(
            "schedule {schedule_id} does not exist"
        )))
    }
}

fn organization_exists(conn: &Connection, id: i64) -> Result<()> {
    let found: bool = conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM organizations WHERE id = ?1)")?
        .query_row([id], |r| r.get(0))?;
    if found {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!(
            "organization {id} does not exist"
        )))
    }
}

impl SqliteTicketing {
    /// Marks tickets injected, or (with the definitions they carried) cards injected
    /// as privileges, in one transaction.
    async fn mark_printed(
        &self,
        by: MarkedBy,
        point_of_sales: &str,
        at: DateTime<Utc>,
        marks: Vec<InjectedMark>,
        definitions: Option<Vec<PushedDefinition>>,
    ) -> Result<()> {
        if marks.is_empty() && definitions.as_ref().is_none_or(Vec::is_empty) {
            return Ok(());
        }
        let pos = point_of_sales.to_owned();
        // Encode the owners before the hop, so the writer's time is spent writing.
        let owners = marks
            .iter()
            .map(|m| to_json(&m.recipient))
            .collect::<Result<Vec<_>>>()?;
        self.db
            .write(move |tx| {
                let cards = definitions.is_some();
                injection::mark(tx, by, cards, &pos, at, &marks, &owners)?;
                match &definitions {
                    Some(d) => injection::record_definitions(tx, at, d),
                    None => Ok(()),
                }
            })
            .await
    }
}

#[async_trait]
impl TicketingStore for SqliteTicketing {
    async fn ensure_organization(
        &self,
        code: &str,
        name: &str,
        default_language: &str,
    ) -> Result<Organization> {
        let code = code.trim().to_owned();
        let name = name.trim().to_owned();
        let lang = default_language.trim().to_owned();
        if code.is_empty() {
            return Err(StoreError::Invalid("the organization code is empty".into()));
        }
        if !is_language_code(&lang) {
            return Err(StoreError::Invalid(format!(
                "default language {lang:?} must be a two-letter lower-case code such as en"
            )));
        }
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO organizations (code, name, default_language) VALUES (?1, ?2, ?3)
                     ON CONFLICT (code) DO NOTHING",
                    params![code, name, lang],
                )?;
                Ok(tx.query_row(
                    concat!(
                        "SELECT ",
                        organization_columns!(),
                        " FROM organizations WHERE code = ?1"
                    ),
                    [&code],
                    read_org,
                )?)
            })
            .await
    }

    async fn organization_by_code(&self, code: &str) -> Result<Option<Organization>> {
        let code = code.trim().to_owned();
        self.db
            .read(move |c| {
                Ok(c.query_row(
                    concat!(
                        "SELECT ",
                        organization_columns!(),
                        " FROM organizations WHERE code = ?1"
                    ),
                    [&code],
                    read_org,
                )
                .optional()?)
            })
            .await
    }

    async fn organizations(&self) -> Result<Vec<Organization>> {
        self.db
            .read(move |c| {
                let mut st = c.prepare_cached(concat!(
                    "SELECT ",
                    organization_columns!(),
                    " FROM organizations ORDER BY code"
                ))?;
                let orgs = st
                    .query_map([], read_org)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(orgs)
            })
            .await
    }

    async fn organization(&self, id: i64) -> Result<Organization> {
        self.db
            .read(move |c| {
                c.query_row(
                    concat!(
                        "SELECT ",
                        organization_columns!(),
                        " FROM organizations WHERE id = ?1"
                    ),
                    [id],
                    read_org,
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("organization {id} does not exist")))
            })
            .await
    }

    async fn set_organization_time_zone(&self, id: i64, zone: Tz) -> Result<Organization> {
        self.db
            .write(move |tx| {
                tx.execute(
                    "UPDATE organizations SET time_zone = ?2 WHERE id = ?1",
                    params![id, zone.name()],
                )?;
                tx.query_row(
                    concat!(
                        "SELECT ",
                        organization_columns!(),
                        " FROM organizations WHERE id = ?1"
                    ),
                    [id],
                    read_org,
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("organization {id} does not exist")))
            })
            .await
    }

    async fn begin_import(&self, organization_id: i64) -> Result<Box<dyn ImportSession>> {
        SqliteImport::start(self.db.clone(), organization_id, Mode::Import).await
    }

    async fn begin_correction(
        &self,
        organization_id: i64,
        at: DateTime<Utc>,
    ) -> Result<Box<dyn ImportSession>> {
        SqliteImport::start(self.db.clone(), organization_id, Mode::Correct { at }).await
    }

    async fn catalog(&self, organization_id: i64) -> Result<Catalog> {
        self.db
            .read(move |c| {
                let mut cat = Catalog::default();
                let mut st = c.prepare_cached(
                    "SELECT id, code, name, city, zip, country_code, line1, line2, time_zone
                     FROM sites WHERE organization_id = ?1 ORDER BY code",
                )?;
                for r in st.query_map([organization_id], |r| {
                    let mut c = Cur::new(r);
                    Ok(Site {
                        id: c.get()?,
                        code: c.get()?,
                        name: c.text()?,
                        city: c.text()?,
                        zip: c.get()?,
                        country_code: c.get()?,
                        line1: c.text()?,
                        line2: c.text()?,
                        time_zone: c.opt_zone()?,
                    })
                })? {
                    cat.sites.push(r?);
                }
                let mut st = c.prepare_cached(
                    "SELECT id, code, kind, family, name, season_code, site_id,
                            tix_start, tix_exp, tix_act, tix_rgrp
                     FROM products WHERE organization_id = ?1 ORDER BY code",
                )?;
                for r in st.query_map([organization_id], |r| {
                    let mut c = Cur::new(r);
                    Ok(Product {
                        id: c.get()?,
                        code: c.get()?,
                        kind: c.parsed::<ProductKind>()?,
                        family: c.get()?,
                        name: c.text()?,
                        season_code: c.get()?,
                        site_id: c.get()?,
                        comfort: ComfortVariables {
                            tix_start: c.get()?,
                            tix_exp: c.get()?,
                            tix_act: c.get()?,
                            tix_rgrp: c.get()?,
                        },
                    })
                })? {
                    cat.products.push(r?);
                }
                let mut st = c.prepare_cached(
                    "SELECT id, code, product_id, site_id, name, group_name, starts_at, ends_at
                     FROM performances WHERE organization_id = ?1 ORDER BY code",
                )?;
                for r in st.query_map([organization_id], |r| {
                    let mut c = Cur::new(r);
                    Ok(Performance {
                        id: c.get()?,
                        code: c.get()?,
                        product_id: c.get()?,
                        site_id: c.get()?,
                        name: c.text()?,
                        group_name: c.text()?,
                        start: c.time()?,
                        end: c.opt_time()?,
                    })
                })? {
                    cat.performances.push(r?);
                }
                let mut st = c.prepare_cached(
                    "SELECT code, name, starts_at, ends_at
                     FROM seasons WHERE organization_id = ?1 ORDER BY code",
                )?;
                for r in st.query_map([organization_id], |r| {
                    let mut c = Cur::new(r);
                    Ok(Season {
                        code: c.get()?,
                        name: c.get()?,
                        start: c.time()?,
                        end: c.time()?,
                    })
                })? {
                    cat.seasons.push(r?);
                }
                Ok(cat)
            })
            .await
    }

    async fn ticket(&self, ticket_id: i64) -> Result<Option<TicketRow>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.id = ?1"
                ))?
                .query_row([ticket_id], |r| read_ticket(&mut Cur::new(r)))
                .optional()?)
            })
            .await
    }

    async fn contact(&self, contact_id: i64) -> Result<Option<Contact>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {CONTACT_COLUMNS} FROM contacts c WHERE c.id = ?1"
                ))?
                .query_row([contact_id], |r| read_contact(&mut Cur::new(r)))
                .optional()?)
            })
            .await
    }

    async fn count_by_status(&self, organization_id: i64) -> Result<Vec<(TicketingStatus, u64)>> {
        self.db
            .read(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT status, COUNT(*) FROM tickets WHERE organization_id = ?1
                     GROUP BY status",
                )?;
                let mut out = Vec::new();
                for r in st.query_map([organization_id], |r| {
                    let mut c = Cur::new(r);
                    Ok((c.parsed::<TicketingStatus>()?, c.get::<i64>()? as u64))
                })? {
                    out.push(r?);
                }
                // A stable order whatever the database returns: the order of the statuses.
                out.sort_by_key(|(s, _)| TicketingStatus::ALL.iter().position(|x| x == s));
                Ok(out)
            })
            .await
    }

    async fn create_interface(&self, new: NewInterface) -> Result<InterfaceConfig> {
        tixbridge_core::model::validate_interface_url(&new.url).map_err(StoreError::Invalid)?;
        if new.name.trim().is_empty() {
            return Err(StoreError::Invalid("the interface name is empty".into()));
        }
        self.db
            .write(move |tx| {
                organization_exists(tx, new.organization_id)?;
                if let Some(name) = tx
                    .query_row(
                        "SELECT name FROM interfaces WHERE organization_id = ?1",
                        [new.organization_id],
                        |r| r.get::<_, String>(0),
                    )
                    .optional()?
                {
                    return Err(StoreError::Conflict(format!(
                        "organization {} already has an interface ({name}); an organization \
                         may have only one interface, or the Push functions would run twice",
                        new.organization_id
                    )));
                }
                let emails = to_json(&new.notification_emails)?;
                let r = tx.execute(
                    "INSERT INTO interfaces (organization_id, name, kind, url, login, api_key,
                                             notification_emails, custom_params)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        new.organization_id,
                        new.name,
                        new.kind.as_str(),
                        new.url,
                        new.login,
                        new.api_key.expose_secret(),
                        emails,
                        new.custom_params
                    ],
                );
                match r {
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::Conflict(format!(
                            "an interface named {:?} already exists",
                            new.name
                        )));
                    }
                    r => r?,
                };
                let id = tx.last_insert_rowid();
                Ok(tx.query_row(
                    &format!("SELECT {INTERFACE_COLUMNS} FROM interfaces WHERE id = ?1"),
                    [id],
                    read_interface,
                )?)
            })
            .await
    }

    async fn interface(&self, id: i64) -> Result<InterfaceConfig> {
        self.db
            .read(move |c| {
                c.query_row(
                    &format!("SELECT {INTERFACE_COLUMNS} FROM interfaces WHERE id = ?1"),
                    [id],
                    read_interface,
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("interface {id} does not exist")))
            })
            .await
    }

    async fn interface_by_name(&self, name: &str) -> Result<Option<InterfaceConfig>> {
        let name = name.to_owned();
        self.db
            .read(move |c| {
                Ok(c.query_row(
                    &format!("SELECT {INTERFACE_COLUMNS} FROM interfaces WHERE name = ?1"),
                    [&name],
                    read_interface,
                )
                .optional()?)
            })
            .await
    }

    async fn interfaces(&self) -> Result<Vec<InterfaceConfig>> {
        self.db
            .read(move |c| {
                let mut st = c.prepare(&format!(
                    "SELECT {INTERFACE_COLUMNS} FROM interfaces ORDER BY id"
                ))?;
                let rows = st.query_map([], read_interface)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn create_schedule(&self, new: NewSchedule) -> Result<Schedule> {
        crate::ticketing::check_new_schedule(&new)?;
        self.db
            .write(move |tx| {
                let found: bool = tx.query_row(
                    "SELECT EXISTS(SELECT 1 FROM interfaces WHERE id = ?1)",
                    [new.interface_id],
                    |r| r.get(0),
                )?;
                if !found {
                    return Err(StoreError::NotFound(format!(
                        "interface {} does not exist",
                        new.interface_id
                    )));
                }
                let params_json = to_json(&new.params)?;
                let r = tx.execute(
                    "INSERT INTO schedules (interface_id, name, function, launch_mode,
                         frequency_secs, starts_at, ends_at, batch_size, params)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        new.interface_id,
                        new.name,
                        new.function.as_str(),
                        launch_mode_str(new.launch_mode),
                        new.frequency_secs,
                        opt_ts(new.starts_at),
                        opt_ts(new.ends_at),
                        new.batch_size,
                        params_json
                    ],
                );
                match r {
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::Conflict(format!(
                            "a schedule named {:?} already exists; schedule names are unique",
                            new.name
                        )));
                    }
                    r => r?,
                };
                let id = tx.last_insert_rowid();
                Ok(tx.query_row(
                    &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = ?1"),
                    [id],
                    read_schedule,
                )?)
            })
            .await
    }

    async fn schedule_by_name(&self, name: &str) -> Result<Option<Schedule>> {
        let name = name.to_owned();
        self.db
            .read(move |c| {
                Ok(c.query_row(
                    &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE name = ?1"),
                    [&name],
                    read_schedule,
                )
                .optional()?)
            })
            .await
    }

    async fn schedules(&self, interface_id: i64) -> Result<Vec<Schedule>> {
        self.db
            .read(move |c| {
                let mut st = c.prepare_cached(&format!(
                    "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE interface_id = ?1 ORDER BY id"
                ))?;
                let rows = st.query_map([interface_id], read_schedule)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn update_interface(&self, id: i64, update: InterfaceUpdate) -> Result<InterfaceConfig> {
        if let Some(url) = &update.url {
            tixbridge_core::model::validate_interface_url(url).map_err(StoreError::Invalid)?;
        }
        self.db
            .write(move |tx| runs::update_interface(tx, id, &update))
            .await
    }

    async fn schedule(&self, id: i64) -> Result<Option<Schedule>> {
        self.db
            .read(move |c| {
                Ok(c.query_row(
                    &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = ?1"),
                    [id],
                    read_schedule,
                )
                .optional()?)
            })
            .await
    }

    async fn update_schedule(&self, id: i64, new: NewSchedule) -> Result<Schedule> {
        crate::ticketing::check_new_schedule(&new)?;
        self.db
            .write(move |tx| runs::update_schedule(tx, id, &new))
            .await
    }

    async fn delete_schedule(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.db
            .write(move |tx| runs::delete_schedule(tx, id, at))
            .await
    }

    async fn start_execution(&self, start: ExecutionStart) -> Result<Execution> {
        self.db
            .write(move |tx| runs::start_execution(tx, &start))
            .await
    }

    async fn renew_lease(
        &self,
        execution_id: i64,
        owner: &str,
        until: DateTime<Utc>,
        counts: Counts,
    ) -> Result<()> {
        let owner = owner.to_owned();
        self.db
            .write(move |tx| runs::renew_lease(tx, execution_id, &owner, until, counts))
            .await
    }

    async fn finish_execution(
        &self,
        execution_id: i64,
        at: DateTime<Utc>,
        outcome: Outcome,
        counts: Counts,
        message: Option<String>,
    ) -> Result<()> {
        self.db
            .write(move |tx| {
                runs::finish_execution(tx, execution_id, at, outcome.as_str(), counts, message)
            })
            .await
    }

    async fn execution_errors_page(
        &self,
        execution_id: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredTicketError>> {
        self.db
            .read(move |c| runs::errors_page(c, execution_id, after, limit))
            .await
    }

    async fn add_execution_errors(
        &self,
        execution_id: i64,
        errors: Vec<TicketError>,
    ) -> Result<()> {
        if errors.is_empty() {
            return Ok(());
        }
        self.db
            .write(move |tx| {
                let found: bool = tx.query_row(
                    "SELECT EXISTS(SELECT 1 FROM executions WHERE id = ?1)",
                    [execution_id],
                    |r| r.get(0),
                )?;
                if !found {
                    return Err(StoreError::NotFound(format!(
                        "execution {execution_id} does not exist"
                    )));
                }
                let mut st = tx.prepare_cached(
                    "INSERT INTO execution_errors (execution_id, ticket_id, tax_number, code, message)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for e in &errors {
                    st.execute(params![execution_id, e.ticket_id, e.tax_number, e.code, e.message])?;
                }
                Ok(())
            })
            .await
    }

    async fn execution(&self, id: i64) -> Result<Option<Execution>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = ?1"
                ))?
                .query_row([id], read_execution)
                .optional()?)
            })
            .await
    }

    async fn execution_errors(&self, execution_id: i64) -> Result<Vec<TicketError>> {
        self.db
            .read(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT ticket_id, tax_number, code, message FROM execution_errors
                     WHERE execution_id = ?1 ORDER BY id",
                )?;
                let rows = st.query_map([execution_id], |r| {
                    let mut c = Cur::new(r);
                    Ok(TicketError {
                        ticket_id: c.get()?,
                        tax_number: c.get()?,
                        code: c.get()?,
                        message: c.get()?,
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn executions(&self, schedule_id: i64, limit: usize) -> Result<Vec<Execution>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .read(move |c| {
                let mut st = c.prepare_cached(&format!(
                    "SELECT {EXECUTION_COLUMNS} FROM executions WHERE schedule_id = ?1
                     ORDER BY id DESC LIMIT ?2"
                ))?;
                let rows = st.query_map(params![schedule_id, limit], read_execution)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn injection_candidates(
        &self,
        organization_id: i64,
        query: &InjectionQuery,
    ) -> Result<Vec<InjectionCandidate>> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let q = query.clone();
        self.db
            .read(move |c| injection::candidates(c, organization_id, &q))
            .await
    }

    async fn mark_injected(
        &self,
        by: MarkedBy,
        point_of_sales: &str,
        at: DateTime<Utc>,
        marks: Vec<InjectedMark>,
    ) -> Result<()> {
        self.mark_printed(by, point_of_sales, at, marks, None).await
    }

    async fn mark_privileges_injected(
        &self,
        by: MarkedBy,
        point_of_sales: &str,
        at: DateTime<Utc>,
        marks: Vec<InjectedMark>,
        definitions: Vec<PushedDefinition>,
    ) -> Result<()> {
        self.mark_printed(by, point_of_sales, at, marks, Some(definitions))
            .await
    }

    async fn pushed_definitions(&self, organization_id: i64) -> Result<Vec<PushedDefinition>> {
        self.db
            .read(move |c| injection::pushed_definitions(c, organization_id))
            .await
    }

    async fn definition_carriers(
        &self,
        organization_id: i64,
        product_ids: Vec<i64>,
    ) -> Result<Vec<InjectionCandidate>> {
        self.db
            .read(move |c| injection::definition_carriers(c, organization_id, &product_ids))
            .await
    }

    async fn processed_at(
        &self,
        ticket_id: i64,
        function: FunctionKind,
    ) -> Result<Option<DateTime<Utc>>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT processed_at FROM processed_markers
                     WHERE ticket_id = ?1 AND function = ?2",
                )?
                .query_row(params![ticket_id, function.as_str()], |r| {
                    Cur::new(r).time()
                })
                .optional()?)
            })
            .await
    }

    async fn projection(&self, ticket_id: i64) -> Result<Option<MobileProjection>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT ticket_id, wallet_status, owner, holder, transfer_level, updated_at,
                            status_changed_at, initial_owner, previous_owner, deletion
                     FROM mobile_projections WHERE ticket_id = ?1",
                )?
                .query_row([ticket_id], read_projection)
                .optional()?)
            })
            .await
    }

    async fn put_projection(&self, p: MobileProjection) -> Result<()> {
        self.db
            .write(move |tx| {
                let found: bool = tx
                    .prepare_cached("SELECT EXISTS(SELECT 1 FROM tickets WHERE id = ?1)")?
                    .query_row([p.ticket_id], |r| r.get(0))?;
                if !found {
                    return Err(StoreError::NotFound(format!(
                        "ticket {} does not exist",
                        p.ticket_id
                    )));
                }
                feedback::upsert_projection(tx, &p)
            })
            .await
    }

    async fn feedback_key(&self, interface_id: i64) -> Result<Option<String>> {
        self.db.read(move |c| feedback::key(c, interface_id)).await
    }

    async fn apply_feedback_page(&self, page: FeedbackPage) -> Result<AppliedPage> {
        self.db.write(move |tx| feedback::apply(tx, &page)).await
    }

    async fn mobile_history(&self, ticket_id: i64) -> Result<Vec<MobileHistoryEntry>> {
        self.db.read(move |c| feedback::history(c, ticket_id)).await
    }

    async fn reconcile_tickets(
        &self,
        organization_id: i64,
        batch: usize,
        sink: tokio::sync::mpsc::Sender<Vec<ReconcileTicket>>,
    ) -> Result<u64> {
        let batch = batch.max(1);
        self.db
            .read(move |c| views::reconcile_tickets(c, organization_id, batch, &sink))
            .await
    }

    async fn distributions(&self, of: DistributionsOf) -> Result<Vec<Distribution>> {
        self.db.read(move |c| views::distributions(c, of)).await
    }

    async fn status_pairs(
        &self,
        organization_id: i64,
    ) -> Result<Vec<(TicketingStatus, Option<String>, u64)>> {
        self.db
            .read(move |c| views::status_pairs(c, organization_id))
            .await
    }

    async fn distribution_counts(&self, organization_id: i64) -> Result<Vec<(String, u64)>> {
        self.db
            .read(move |c| views::distribution_counts(c, organization_id))
            .await
    }

    async fn find_contacts(&self, organization_id: i64, text: &str) -> Result<Vec<Contact>> {
        let text = text.to_owned();
        self.db
            .read(move |c| views::find_contacts(c, organization_id, &text))
            .await
    }

    async fn contact_tickets(&self, contact_id: i64) -> Result<Vec<ContactTicket>> {
        self.db
            .read(move |c| views::contact_tickets(c, contact_id))
            .await
    }

    async fn push_cancelled_candidates(
        &self,
        organization_id: i64,
        query: &PushQuery,
    ) -> Result<Vec<PushCancelledCandidate>> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let q = query.clone();
        self.db
            .read(move |c| push::candidates(c, organization_id, &q))
            .await
    }

    async fn mark_pushed_cancelled(
        &self,
        by: MarkedBy,
        at: DateTime<Utc>,
        marks: Vec<PushedCancelled>,
    ) -> Result<()> {
        if marks.is_empty() {
            return Ok(());
        }
        self.db
            .write(move |tx| {
                schedule_exists(tx, by.schedule_id)?;
                push::mark(tx, by, at, &marks)
            })
            .await
    }

    async fn push_controlled_candidates(
        &self,
        organization_id: i64,
        query: &PushQuery,
    ) -> Result<Vec<PushControlledCandidate>> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let q = query.clone();
        self.db
            .read(move |c| push::controlled_candidates(c, organization_id, &q))
            .await
    }

    async fn mark_pushed_controlled(
        &self,
        by: MarkedBy,
        at: DateTime<Utc>,
        ticket_ids: Vec<i64>,
    ) -> Result<()> {
        if ticket_ids.is_empty() {
            return Ok(());
        }
        self.db
            .write(move |tx| {
                schedule_exists(tx, by.schedule_id)?;
                push::mark_controlled(tx, by, at, &ticket_ids)
            })
            .await
    }

    async fn causes(&self, organization_id: i64) -> Result<Vec<Cause>> {
        self.db
            .read(move |c| {
                organization_exists(c, organization_id)?;
                operations::causes(c, organization_id)
            })
            .await
    }

    async fn add_cause(&self, organization_id: i64, cause: Cause) -> Result<bool> {
        self.db
            .write(move |tx| {
                organization_exists(tx, organization_id)?;
                operations::add_cause(tx, organization_id, &cause)
            })
            .await
    }

    async fn apply_operation(&self, request: OperationRequest) -> Result<Vec<OperationRecord>> {
        self.db
            .write(move |tx| {
                organization_exists(tx, request.organization_id)?;
                operations::apply(tx, &request)
            })
            .await
    }

    async fn find_ticket(&self, organization_id: i64, ticket: &TicketRef) -> Result<Option<i64>> {
        let r = ticket.clone();
        self.db
            .read(move |c| Ok(operations::find(c, organization_id, &r)?.map(|t| t.ticket_id)))
            .await
    }

    async fn reprint(&self, request: ReprintRequest) -> Result<Reprinted> {
        self.db
            .write(move |tx| {
                organization_exists(tx, request.organization_id)?;
                operations::reprint(tx, &request)
            })
            .await
    }

    async fn record_scans(
        &self,
        organization_id: i64,
        scans: Vec<GateScan>,
        live: bool,
        operator: &str,
    ) -> Result<Vec<ScanResult>> {
        let operator = operator.to_owned();
        self.db
            .write(move |tx| {
                organization_exists(tx, organization_id)?;
                operations::record_scans(tx, organization_id, &scans, live, &operator)
            })
            .await
    }

    async fn ticket_operations(&self, ticket_id: i64) -> Result<Vec<OperationRecord>> {
        self.db
            .read(move |c| operations::history(c, ticket_id))
            .await
    }

    async fn ping(&self) -> Result<()> {
        self.db
            .read(|c| {
                c.query_row("SELECT 1", [], |_| Ok(()))?;
                Ok(())
            })
            .await
    }
}
