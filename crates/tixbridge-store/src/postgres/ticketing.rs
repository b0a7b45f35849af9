//! PostgreSQL backend of the ticketing store (sqlx).
//!
//! Batches travel as arrays: `mark_injected` is one statement (`UNNEST` of the ticket
//! ids and owners feeding an `UPDATE` and two upserts chained by data-modifying CTEs),
//! and an import chunk is one multi-row `INSERT` per table. An import holds a
//! `sqlx::Transaction` for its whole life; dropping the session without commit hands
//! the connection back to the pool with a rollback queued.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::types::Json;
use sqlx::{Postgres, Row};

use tixbridge_core::api::Person;
use tixbridge_core::cause::Cause;
use tixbridge_core::local_time::{Tz, parse_zone};
use tixbridge_core::model::{
    ComfortVariables, Contact, Counts, FunctionKind, Holder, InterfaceKind, MobileProjection,
    Organization, Outcome, Performance, Product, ProductKind, Season, Site, TicketDetail,
    TicketError, TicketRow,
};
use tixbridge_core::operation::TicketRef;
use tixbridge_core::status::{TicketingStatus, WalletStatus};
use tixbridge_core::text::{LocalizedText, is_language_code};

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
use import::PgImport;

/// Append-only: never edit a migration that has landed; add a new one. Versions carry a
/// `ticketing_` prefix so they never collide with the wallet store's in a shared schema.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "ticketing_0001_init",
        include_str!("../../migrations/postgres/ticketing_0001_init.sql"),
    ),
    (
        "ticketing_0002_import",
        include_str!("../../migrations/postgres/ticketing_0002_import.sql"),
    ),
    (
        "ticketing_0003_executions",
        include_str!("../../migrations/postgres/ticketing_0003_executions.sql"),
    ),
    (
        "ticketing_0004_corrections",
        include_str!("../../migrations/postgres/ticketing_0004_corrections.sql"),
    ),
    (
        "ticketing_0005_operations",
        include_str!("../../migrations/postgres/ticketing_0005_operations.sql"),
    ),
    (
        "ticketing_0006_privileges",
        include_str!("../../migrations/postgres/ticketing_0006_privileges.sql"),
    ),
    (
        "ticketing_0007_feedback",
        include_str!("../../migrations/postgres/ticketing_0007_feedback.sql"),
    ),
    (
        "ticketing_0008_distribution",
        include_str!("../../migrations/postgres/ticketing_0008_distribution.sql"),
    ),
];

/// Opens the ticketing store.
pub async fn open_ticketing(url: &str) -> Result<Arc<dyn TicketingStore>> {
    let pool = super::connect(url, MIGRATIONS).await?;
    Ok(Arc::new(PgTicketing { pool }))
}

struct PgTicketing {
    pool: PgPool,
}

// ---- conversions ---------------------------------------------------------------------

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("cannot encode JSON: {e}")))
}

fn text_json(t: &LocalizedText) -> Json<&BTreeMap<String, String>> {
    Json(&t.values)
}

fn decode_err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("cannot read {what}: {e}"))
}

/// Reads the columns of a row in the order of the SELECT list.
struct Cur<'r> {
    row: &'r PgRow,
    i: usize,
}

impl<'r> Cur<'r> {
    fn new(row: &'r PgRow) -> Self {
        Cur { row, i: 0 }
    }

    fn get<T>(&mut self) -> Result<T>
    where
        T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
    {
        let v = self.row.try_get(self.i)?;
        self.i += 1;
        Ok(v)
    }

    fn parsed<T: std::str::FromStr<Err = String>>(&mut self) -> Result<T> {
        let s: String = self.get()?;
        s.parse().map_err(|e: String| decode_err("a column", e))
    }

    fn text(&mut self) -> Result<LocalizedText> {
        let Json(values): Json<BTreeMap<String, String>> = self.get()?;
        Ok(LocalizedText { values })
    }

    fn cause(&mut self) -> Result<Option<Cause>> {
        let s: Option<String> = self.get()?;
        Ok(s.as_deref().and_then(Cause::parse))
    }

    fn zone(&mut self) -> Result<Tz> {
        let s: String = self.get()?;
        parse_zone(&s).map_err(|e| decode_err("a time zone", e))
    }

    fn opt_zone(&mut self) -> Result<Option<Tz>> {
        let s: Option<String> = self.get()?;
        s.map(|s| parse_zone(&s).map_err(|e| decode_err("a time zone", e)))
            .transpose()
    }

    fn person(&mut self) -> Result<Option<Person>> {
        let p: Option<Json<Person>> = self.get()?;
        Ok(p.map(|Json(p)| p))
    }

    fn count(&mut self) -> Result<u64> {
        Ok(self.get::<i64>()?.max(0) as u64)
    }
}

const TICKET_COLUMNS: &str = "t.id, t.organization_id, t.tax_number, t.barcode, t.file_id, \
    t.status, t.cause, t.replaces_ticket_id, t.shipment_mode, t.sales_channel, t.season_code, \
    t.product_id, t.performance_id, t.tariff, t.category, t.price_cents, t.currency, \
    t.purchase_date, t.validity_start, t.validity_end, t.details, t.contact_id, \
    t.holder_first_name, t.holder_last_name, t.holder_birth_date, t.holder_id_number, \
    t.holder_country_code, t.holder_birth_region, t.holder_birth_place, t.main_applicant, \
    t.printed_by, t.printed_at, t.linked_ticket_ids";

fn read_ticket(c: &mut Cur<'_>) -> Result<TicketRow> {
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
        purchase_date: c.get()?,
        validity_start: c.get()?,
        validity_end: c.get()?,
        details: c.get::<Json<Vec<TicketDetail>>>()?.0,
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
        printed_at: c.get()?,
        linked_ticket_ids: c.get::<Option<Vec<i64>>>()?.unwrap_or_default(),
    })
}

const CONTACT_COLUMNS: &str = "c.id, c.number, c.email, c.first_name, c.last_name, c.gender, \
     c.title, c.temporary, c.internet_account, c.kind";

fn read_contact(c: &mut Cur<'_>) -> Result<Contact> {
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

fn read_org(r: &PgRow) -> Result<Organization> {
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

fn read_interface(r: &PgRow) -> Result<InterfaceConfig> {
    let mut c = Cur::new(r);
    Ok(InterfaceConfig {
        id: c.get()?,
        organization_id: c.get()?,
        name: c.get()?,
        kind: c.parsed::<InterfaceKind>()?,
        url: c.get()?,
        login: c.get()?,
        api_key: SecretString::from(c.get::<String>()?),
        notification_emails: c.get()?,
        custom_params: c.get()?,
    })
}

fn launch_mode_str(m: LaunchMode) -> &'static str {
    match m {
        LaunchMode::Manual => "MANUAL",
        LaunchMode::Automatic => "AUTOMATIC",
    }
}

const SCHEDULE_COLUMNS: &str = "id, interface_id, name, function, launch_mode, frequency_secs, \
    starts_at, ends_at, batch_size, params";

fn read_schedule(r: &PgRow) -> Result<Schedule> {
    let mut c = Cur::new(r);
    Ok(Schedule {
        id: c.get()?,
        interface_id: c.get()?,
        name: c.get()?,
        function: c.parsed()?,
        launch_mode: match c.get::<String>()?.as_str() {
            "MANUAL" => LaunchMode::Manual,
            "AUTOMATIC" => LaunchMode::Automatic,
            other => return Err(decode_err("a schedule", format!("launch mode {other:?}"))),
        },
        frequency_secs: c.get()?,
        starts_at: c.get()?,
        ends_at: c.get()?,
        batch_size: c.get()?,
        params: c.get()?,
    })
}

const EXECUTION_COLUMNS: &str = "id, schedule_id, started_at, ended_at, outcome, selected, sent, \
    succeeded, failed, skipped, unsent, message, lease_owner, lease_expires_at";

fn read_execution(r: &PgRow) -> Result<Execution> {
    let mut c = Cur::new(r);
    Ok(Execution {
        id: c.get()?,
        schedule_id: c.get()?,
        started_at: c.get()?,
        ended_at: c.get()?,
        outcome: c
            .get::<Option<String>>()?
            .map(|s| s.parse::<Outcome>())
            .transpose()
            .map_err(|e| decode_err("an execution", e))?,
        counts: Counts {
            selected: c.count()?,
            sent: c.count()?,
            succeeded: c.count()?,
            failed: c.count()?,
            skipped: c.count()?,
            unsent: c.count()?,
        },
        message: c.get()?,
        lease_owner: c.get()?,
        lease_expires_at: c.get()?,
    })
}

fn read_projection(r: &PgRow) -> Result<MobileProjection> {
    let mut c = Cur::new(r);
    Ok(MobileProjection {
        ticket_id: c.get()?,
        wallet_status: c.parsed::<WalletStatus>()?,
        owner: c.person()?,
        holder: c.person()?,
        transfer_level: c.get()?,
        updated_at: c.get()?,
        status_changed_at: c.get()?,
        initial_owner: c.person()?,
        previous_owner: c.person()?,
        deletion: c
            .get::<Option<Json<tixbridge_core::api::Deletion>>>()?
            .map(|Json(d)| d),
    })
}

/// The constraint a unique violation names, if the error is one.
fn unique_violation(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            Some(db.constraint().unwrap_or_default().to_owned())
        }
        _ => None,
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

async fn organization_exists(conn: &mut sqlx::PgConnection, id: i64) -> Result<()> {
    let found: bool =
        sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM organizations WHERE id = $1)")
            .bind(id)
            .fetch_one(conn)
            .await?;
    if found {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!(
            "organization {id} does not exist"
        )))
    }
}

// ---- the store ------------------------------------------------------------------------

#[async_trait]
impl TicketingStore for PgTicketing {
    async fn ensure_organization(
        &self,
        code: &str,
        name: &str,
        default_language: &str,
    ) -> Result<Organization> {
        let code = code.trim();
        let lang = default_language.trim();
        if code.is_empty() {
            return Err(StoreError::Invalid("the organization code is empty".into()));
        }
        if !is_language_code(lang) {
            return Err(StoreError::Invalid(format!(
                "default language {lang:?} must be a two-letter lower-case code such as en"
            )));
        }
        sqlx::query(
            "INSERT INTO organizations (code, name, default_language) VALUES ($1, $2, $3)
             ON CONFLICT (code) DO NOTHING",
        )
        .bind(code)
        .bind(name.trim())
        .bind(lang)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            organization_columns!(),
            " FROM organizations WHERE code = $1"
        ))
        .bind(code)
        .fetch_one(&self.pool)
        .await?;
        read_org(&row)
    }

    async fn organization_by_code(&self, code: &str) -> Result<Option<Organization>> {
        sqlx::query(concat!(
            "SELECT ",
            organization_columns!(),
            " FROM organizations WHERE code = $1"
        ))
        .bind(code.trim())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(read_org)
        .transpose()
    }

    async fn organizations(&self) -> Result<Vec<Organization>> {
        sqlx::query(concat!(
            "SELECT ",
            organization_columns!(),
            " FROM organizations ORDER BY code"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(read_org)
        .collect()
    }

    async fn organization(&self, id: i64) -> Result<Organization> {
        let row = sqlx::query(concat!(
            "SELECT ",
            organization_columns!(),
            " FROM organizations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("organization {id} does not exist")))?;
        read_org(&row)
    }

    async fn set_organization_time_zone(&self, id: i64, zone: Tz) -> Result<Organization> {
        let row = sqlx::query(concat!(
            "UPDATE organizations SET time_zone = $2 WHERE id = $1 RETURNING ",
            organization_columns!()
        ))
        .bind(id)
        .bind(zone.name())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("organization {id} does not exist")))?;
        read_org(&row)
    }

    async fn begin_import(&self, organization_id: i64) -> Result<Box<dyn ImportSession>> {
        PgImport::begin(&self.pool, organization_id, Mode::Import).await
    }

    async fn begin_correction(
        &self,
        organization_id: i64,
        at: DateTime<Utc>,
    ) -> Result<Box<dyn ImportSession>> {
        PgImport::begin(&self.pool, organization_id, Mode::Correct { at }).await
    }

    async fn catalog(&self, organization_id: i64) -> Result<Catalog> {
        let mut conn = self.pool.acquire().await?;
        let mut cat = Catalog::default();
        for r in sqlx::query(
            "SELECT id, code, name, city, zip, country_code, line1, line2, time_zone
             FROM sites WHERE organization_id = $1 ORDER BY code",
        )
        .bind(organization_id)
        .fetch_all(&mut *conn)
        .await?
        {
            let mut c = Cur::new(&r);
            cat.sites.push(Site {
                id: c.get()?,
                code: c.get()?,
                name: c.text()?,
                city: c.text()?,
                zip: c.get()?,
                country_code: c.get()?,
                line1: c.text()?,
                line2: c.text()?,
                time_zone: c.opt_zone()?,
            });
        }
        for r in sqlx::query(
            "SELECT id, code, kind, family, name, season_code, site_id,
                    tix_start, tix_exp, tix_act, tix_rgrp
             FROM products WHERE organization_id = $1 ORDER BY code",
        )
        .bind(organization_id)
        .fetch_all(&mut *conn)
        .await?
        {
            let mut c = Cur::new(&r);
            cat.products.push(Product {
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
            });
        }
        for r in sqlx::query(
            "SELECT id, code, product_id, site_id, name, group_name, starts_at, ends_at
             FROM performances WHERE organization_id = $1 ORDER BY code",
        )
        .bind(organization_id)
        .fetch_all(&mut *conn)
        .await?
        {
            let mut c = Cur::new(&r);
            cat.performances.push(Performance {
                id: c.get()?,
                code: c.get()?,
                product_id: c.get()?,
                site_id: c.get()?,
                name: c.text()?,
                group_name: c.text()?,
                start: c.get()?,
                end: c.get()?,
            });
        }
        for r in sqlx::query(
            "SELECT code, name, starts_at, ends_at
             FROM seasons WHERE organization_id = $1 ORDER BY code",
        )
        .bind(organization_id)
        .fetch_all(&mut *conn)
        .await?
        {
            let mut c = Cur::new(&r);
            cat.seasons.push(Season {
                code: c.get()?,
                name: c.get()?,
                start: c.get()?,
                end: c.get()?,
            });
        }
        Ok(cat)
    }

    async fn ticket(&self, ticket_id: i64) -> Result<Option<TicketRow>> {
        sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.id = $1"
        ))
        .bind(ticket_id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| read_ticket(&mut Cur::new(&r)))
        .transpose()
    }

    async fn contact(&self, contact_id: i64) -> Result<Option<Contact>> {
        sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts c WHERE c.id = $1"
        ))
        .bind(contact_id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| read_contact(&mut Cur::new(&r)))
        .transpose()
    }

    async fn count_by_status(&self, organization_id: i64) -> Result<Vec<(TicketingStatus, u64)>> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) FROM tickets WHERE organization_id = $1 GROUP BY status",
        )
        .bind(organization_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                let mut c = Cur::new(r);
                Ok((c.parsed::<TicketingStatus>()?, c.count()?))
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|(s, _)| TicketingStatus::ALL.iter().position(|x| x == s));
        Ok(out)
    }

    async fn create_interface(&self, new: NewInterface) -> Result<InterfaceConfig> {
        tixbridge_core::model::validate_interface_url(&new.url).map_err(StoreError::Invalid)?;
        if new.name.trim().is_empty() {
            return Err(StoreError::Invalid("the interface name is empty".into()));
        }
        let one_per_org = |existing: &str| {
            StoreError::Conflict(format!(
                "organization {} already has an interface ({existing}); an organization may \
                 have only one interface, or the Push functions would run twice",
                new.organization_id
            ))
        };
        let mut tx = self.pool.begin().await?;
        organization_exists(&mut tx, new.organization_id).await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT name FROM interfaces WHERE organization_id = $1")
                .bind(new.organization_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(name) = existing {
            return Err(one_per_org(&name));
        }
        let r = sqlx::query(&format!(
            "INSERT INTO interfaces (organization_id, name, kind, url, login, api_key,
                                     notification_emails, custom_params)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             RETURNING {INTERFACE_COLUMNS}"
        ))
        .bind(new.organization_id)
        .bind(&new.name)
        .bind(new.kind.as_str())
        .bind(&new.url)
        .bind(&new.login)
        .bind(new.api_key.expose_secret())
        .bind(&new.notification_emails)
        .bind(&new.custom_params)
        .fetch_one(&mut *tx)
        .await;
        let row = match r {
            Ok(row) => row,
            Err(e) => {
                return Err(match unique_violation(&e).as_deref() {
                    Some("interfaces_organization_id_key") => one_per_org("created meanwhile"),
                    Some(_) => StoreError::Conflict(format!(
                        "an interface named {:?} already exists",
                        new.name
                    )),
                    None => e.into(),
                });
            }
        };
        let iface = read_interface(&row)?;
        tx.commit().await?;
        Ok(iface)
    }

    async fn interface(&self, id: i64) -> Result<InterfaceConfig> {
        let row = sqlx::query(&format!(
            "SELECT {INTERFACE_COLUMNS} FROM interfaces WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("interface {id} does not exist")))?;
        read_interface(&row)
    }

    async fn interface_by_name(&self, name: &str) -> Result<Option<InterfaceConfig>> {
        sqlx::query(&format!(
            "SELECT {INTERFACE_COLUMNS} FROM interfaces WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(read_interface)
        .transpose()
    }

    async fn interfaces(&self) -> Result<Vec<InterfaceConfig>> {
        sqlx::query(&format!(
            "SELECT {INTERFACE_COLUMNS} FROM interfaces ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(read_interface)
        .collect()
    }

    async fn create_schedule(&self, new: NewSchedule) -> Result<Schedule> {
        crate::ticketing::check_new_schedule(&new)?;
        let mut tx = self.pool.begin().await?;
        let found: bool =
            sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM interfaces WHERE id = $1)")
                .bind(new.interface_id)
                .fetch_one(&mut *tx)
                .await?;
        if !found {
            return Err(StoreError::NotFound(format!(
                "interface {} does not exist",
                new.interface_id
            )));
        }
        let r = sqlx::query(&format!(
            "INSERT INTO schedules (interface_id, name, function, launch_mode, frequency_secs,
                 starts_at, ends_at, batch_size, params)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             RETURNING {SCHEDULE_COLUMNS}"
        ))
        .bind(new.interface_id)
        .bind(&new.name)
        .bind(new.function.as_str())
        .bind(launch_mode_str(new.launch_mode))
        .bind(new.frequency_secs)
        .bind(new.starts_at)
        .bind(new.ends_at)
        .bind(new.batch_size)
        .bind(&new.params)
        .fetch_one(&mut *tx)
        .await;
        let row = match r {
            Ok(row) => row,
            Err(e) if unique_violation(&e).is_some() => {
                return Err(StoreError::Conflict(format!(
                    "a schedule named {:?} already exists; schedule names are unique",
                    new.name
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let s = read_schedule(&row)?;
        tx.commit().await?;
        Ok(s)
    }

    async fn schedule_by_name(&self, name: &str) -> Result<Option<Schedule>> {
        sqlx::query(&format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(read_schedule)
        .transpose()
    }

    async fn schedules(&self, interface_id: i64) -> Result<Vec<Schedule>> {
        sqlx::query(&format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE interface_id = $1 ORDER BY id"
        ))
        .bind(interface_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(read_schedule)
        .collect()
    }

    async fn update_interface(&self, id: i64, update: InterfaceUpdate) -> Result<InterfaceConfig> {
        if let Some(url) = &update.url {
            tixbridge_core::model::validate_interface_url(url).map_err(StoreError::Invalid)?;
        }
        runs::update_interface(&self.pool, id, &update).await
    }

    async fn schedule(&self, id: i64) -> Result<Option<Schedule>> {
        sqlx::query(&format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(read_schedule)
        .transpose()
    }

    async fn update_schedule(&self, id: i64, new: NewSchedule) -> Result<Schedule> {
        crate::ticketing::check_new_schedule(&new)?;
        runs::update_schedule(&self.pool, id, &new).await
    }

    async fn delete_schedule(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        runs::delete_schedule(&self.pool, id, at).await
    }

    async fn start_execution(&self, start: ExecutionStart) -> Result<Execution> {
        runs::start_execution(&self.pool, &start).await
    }

    async fn renew_lease(
        &self,
        execution_id: i64,
        owner: &str,
        until: DateTime<Utc>,
        counts: Counts,
    ) -> Result<()> {
        runs::renew_lease(&self.pool, execution_id, owner, until, counts).await
    }

    async fn finish_execution(
        &self,
        execution_id: i64,
        at: DateTime<Utc>,
        outcome: Outcome,
        counts: Counts,
        message: Option<String>,
    ) -> Result<()> {
        runs::finish_execution(
            &self.pool,
            execution_id,
            at,
            outcome.as_str(),
            counts,
            message,
        )
        .await
    }

    async fn execution_errors_page(
        &self,
        execution_id: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredTicketError>> {
        runs::errors_page(&self.pool, execution_id, after, limit).await
    }

    async fn add_execution_errors(
        &self,
        execution_id: i64,
        errors: Vec<TicketError>,
    ) -> Result<()> {
        if errors.is_empty() {
            return Ok(());
        }
        let mut ticket_ids = Vec::with_capacity(errors.len());
        let mut taxes = Vec::with_capacity(errors.len());
        let mut codes = Vec::with_capacity(errors.len());
        let mut messages = Vec::with_capacity(errors.len());
        for e in errors {
            ticket_ids.push(e.ticket_id);
            taxes.push(e.tax_number);
            codes.push(e.code);
            messages.push(e.message);
        }
        let mut tx = self.pool.begin().await?;
        let found: bool =
            sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM executions WHERE id = $1)")
                .bind(execution_id)
                .fetch_one(&mut *tx)
                .await?;
        if !found {
            return Err(StoreError::NotFound(format!(
                "execution {execution_id} does not exist"
            )));
        }
        // WITH ORDINALITY keeps the given order in the generated ids.
        sqlx::query(
            "INSERT INTO execution_errors (execution_id, ticket_id, tax_number, code, message)
             SELECT $1, u.ticket_id, u.tax_number, u.code, u.message
             FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[])
                  WITH ORDINALITY AS u(ticket_id, tax_number, code, message, n)
             ORDER BY u.n",
        )
        .bind(execution_id)
        .bind(&ticket_ids)
        .bind(&taxes)
        .bind(&codes)
        .bind(&messages)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn execution(&self, id: i64) -> Result<Option<Execution>> {
        sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(read_execution)
        .transpose()
    }

    async fn execution_errors(&self, execution_id: i64) -> Result<Vec<TicketError>> {
        sqlx::query(
            "SELECT ticket_id, tax_number, code, message FROM execution_errors
             WHERE execution_id = $1 ORDER BY id",
        )
        .bind(execution_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let mut c = Cur::new(r);
            Ok(TicketError {
                ticket_id: c.get()?,
                tax_number: c.get()?,
                code: c.get()?,
                message: c.get()?,
            })
        })
        .collect()
    }

    async fn executions(&self, schedule_id: i64, limit: usize) -> Result<Vec<Execution>> {
        sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE schedule_id = $1
             ORDER BY id DESC LIMIT $2"
        ))
        .bind(schedule_id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(read_execution)
        .collect()
    }

    async fn injection_candidates(
        &self,
        organization_id: i64,
        q: &InjectionQuery,
    ) -> Result<Vec<InjectionCandidate>> {
        injection::candidates(&self.pool, organization_id, q).await
    }

    async fn mark_injected(
        &self,
        by: MarkedBy,
        point_of_sales: &str,
        at: DateTime<Utc>,
        marks: Vec<InjectedMark>,
    ) -> Result<()> {
        injection::mark(&self.pool, by, false, point_of_sales, at, marks).await
    }

    async fn mark_privileges_injected(
        &self,
        by: MarkedBy,
        point_of_sales: &str,
        at: DateTime<Utc>,
        marks: Vec<InjectedMark>,
        definitions: Vec<PushedDefinition>,
    ) -> Result<()> {
        injection::mark_privileges(&self.pool, by, point_of_sales, at, marks, definitions).await
    }

    async fn pushed_definitions(&self, organization_id: i64) -> Result<Vec<PushedDefinition>> {
        injection::pushed_definitions(&self.pool, organization_id).await
    }

    async fn definition_carriers(
        &self,
        organization_id: i64,
        product_ids: Vec<i64>,
    ) -> Result<Vec<InjectionCandidate>> {
        injection::definition_carriers(&self.pool, organization_id, &product_ids).await
    }

    async fn processed_at(
        &self,
        ticket_id: i64,
        function: FunctionKind,
    ) -> Result<Option<DateTime<Utc>>> {
        Ok(sqlx::query_scalar(
            "SELECT processed_at FROM processed_markers WHERE ticket_id = $1 AND function = $2",
        )
        .bind(ticket_id)
        .bind(function.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn projection(&self, ticket_id: i64) -> Result<Option<MobileProjection>> {
        sqlx::query(
            "SELECT ticket_id, wallet_status, owner, holder, transfer_level, updated_at,
                    status_changed_at, initial_owner, previous_owner, deletion
             FROM mobile_projections WHERE ticket_id = $1",
        )
        .bind(ticket_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(read_projection)
        .transpose()
    }

    async fn put_projection(&self, p: MobileProjection) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        if !feedback::upsert_projection(&mut conn, &p).await? {
            return Err(StoreError::NotFound(format!(
                "ticket {} does not exist",
                p.ticket_id
            )));
        }
        Ok(())
    }

    async fn feedback_key(&self, interface_id: i64) -> Result<Option<String>> {
        feedback::key(&self.pool, interface_id).await
    }

    async fn apply_feedback_page(&self, page: FeedbackPage) -> Result<AppliedPage> {
        feedback::apply(&self.pool, &page).await
    }

    async fn mobile_history(&self, ticket_id: i64) -> Result<Vec<MobileHistoryEntry>> {
        feedback::history(&self.pool, ticket_id).await
    }

    async fn reconcile_tickets(
        &self,
        organization_id: i64,
        batch: usize,
        sink: tokio::sync::mpsc::Sender<Vec<ReconcileTicket>>,
    ) -> Result<u64> {
        views::reconcile_tickets(&self.pool, organization_id, batch.max(1), sink).await
    }

    async fn distributions(&self, of: DistributionsOf) -> Result<Vec<Distribution>> {
        views::distributions(&self.pool, of).await
    }

    async fn status_pairs(
        &self,
        organization_id: i64,
    ) -> Result<Vec<(TicketingStatus, Option<String>, u64)>> {
        views::status_pairs(&self.pool, organization_id).await
    }

    async fn distribution_counts(&self, organization_id: i64) -> Result<Vec<(String, u64)>> {
        views::distribution_counts(&self.pool, organization_id).await
    }

    async fn find_contacts(&self, organization_id: i64, text: &str) -> Result<Vec<Contact>> {
        views::find_contacts(&self.pool, organization_id, text).await
    }

    async fn contact_tickets(&self, contact_id: i64) -> Result<Vec<ContactTicket>> {
        views::contact_tickets(&self.pool, contact_id).await
    }

    async fn push_cancelled_candidates(
        &self,
        organization_id: i64,
        query: &PushQuery,
    ) -> Result<Vec<PushCancelledCandidate>> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        push::candidates(&self.pool, organization_id, query).await
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
        push::mark(&self.pool, by, at, marks).await
    }

    async fn push_controlled_candidates(
        &self,
        organization_id: i64,
        query: &PushQuery,
    ) -> Result<Vec<PushControlledCandidate>> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        push::controlled_candidates(&self.pool, organization_id, query).await
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
        push::mark_controlled(&self.pool, by, at, ticket_ids).await
    }

    async fn causes(&self, organization_id: i64) -> Result<Vec<Cause>> {
        let mut conn = self.pool.acquire().await?;
        operations::causes(&mut conn, organization_id).await
    }

    async fn add_cause(&self, organization_id: i64, cause: Cause) -> Result<bool> {
        operations::add_cause(&self.pool, organization_id, &cause).await
    }

    async fn apply_operation(&self, request: OperationRequest) -> Result<Vec<OperationRecord>> {
        operations::apply(&self.pool, &request).await
    }

    async fn find_ticket(&self, organization_id: i64, ticket: &TicketRef) -> Result<Option<i64>> {
        let mut conn = self.pool.acquire().await?;
        Ok(operations::find(&mut conn, organization_id, ticket)
            .await?
            .map(|t| t.ticket_id))
    }

    async fn reprint(&self, request: ReprintRequest) -> Result<Reprinted> {
        operations::reprint(&self.pool, &request).await
    }

    async fn record_scans(
        &self,
        organization_id: i64,
        scans: Vec<GateScan>,
        live: bool,
        operator: &str,
    ) -> Result<Vec<ScanResult>> {
        operations::record_scans(&self.pool, organization_id, &scans, live, operator).await
    }

    async fn ticket_operations(&self, ticket_id: i64) -> Result<Vec<OperationRecord>> {
        operations::history(&self.pool, ticket_id).await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
