//! PostgreSQL: ticketing operations (cancel, invalidate) with their history, and the
//! organization's causes. The rules both backends share are in `crate::ticketing`
//! ([`plan_operation`], [`with_default_causes`]).

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool};

use tixbridge_core::cause::Cause;
use tixbridge_core::operation::TicketRef;

use chrono::{DateTime, Utc};
use tixbridge_core::operation::{Operation, ScannedTicket, check_cause, judge_scan};

use super::{Cur, TICKET_COLUMNS, organization_exists, read_ticket};
use crate::ticketing::{
    FoundTicket, HOLDER_CLEARED, REPRINT_COPIED, already_replaced, check_reprint_request,
    check_request_cause, plan_operation, random_barcode, reprint_taken, scan_effect, unknown_buyer,
    with_default_causes,
};
use crate::{
    GateScan, OperationRecord, OperationRequest, ReprintRequest, Reprinted, Result, ScanResult,
    StoreError,
};

const RECORD_COLUMNS: &str =
    "id, ticket_id, operation, at, operator, from_status, to_status, cause, related_ticket_id";

fn read_record(r: &PgRow) -> Result<OperationRecord> {
    let mut c = Cur::new(r);
    Ok(OperationRecord {
        id: c.get()?,
        ticket_id: c.get()?,
        operation: c.parsed()?,
        at: c.get()?,
        operator: c.get()?,
        from_status: c.parsed()?,
        to_status: c.parsed()?,
        cause: c.cause()?,
        related_ticket_id: c.get()?,
    })
}

/// The organization's causes (defaults first).
pub(super) async fn causes(conn: &mut PgConnection, organization_id: i64) -> Result<Vec<Cause>> {
    organization_exists(conn, organization_id).await?;
    let added: Vec<String> =
        sqlx::query_scalar("SELECT code FROM causes WHERE organization_id = $1 ORDER BY code")
            .bind(organization_id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(with_default_causes(
        added.iter().filter_map(|c| Cause::parse(c)).collect(),
    ))
}

/// Adds a cause; `false` when the organization has it already.
pub(super) async fn add_cause(pool: &PgPool, organization_id: i64, cause: &Cause) -> Result<bool> {
    let mut tx = pool.begin().await?;
    if causes(&mut tx, organization_id).await?.contains(cause) {
        return Ok(false);
    }
    let added = sqlx::query(
        "INSERT INTO causes (organization_id, code) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(organization_id)
    .bind(cause.as_str())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(added == 1)
}

/// The ticket a reference names in the organization: by id, else by tax number, else
/// by barcode. Locked until the end of the transaction.
pub(super) async fn find(
    conn: &mut PgConnection,
    organization_id: i64,
    r: &TicketRef,
) -> Result<Option<FoundTicket>> {
    let (by_id, number) = match r {
        TicketRef::Id(id) => (Some(*id), None),
        TicketRef::Number(n) => (None, Some(n.as_str())),
    };
    let row = sqlx::query(
        "SELECT id, status, cause FROM tickets
         WHERE organization_id = $1
           AND (id = $2 OR tax_number = $3 OR barcode = $3)
         ORDER BY COALESCE(id = $2 OR tax_number = $3, FALSE) DESC, id
         LIMIT 1
         FOR UPDATE",
    )
    .bind(organization_id)
    .bind(by_id)
    .bind(number)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        let mut c = Cur::new(&r);
        Ok(FoundTicket {
            ticket_id: c.get()?,
            status: c.parsed()?,
            cause: c.cause()?,
        })
    })
    .transpose()
}

/// Applies the operation in one transaction (see `TicketingStore::apply_operation`).
pub(super) async fn apply(pool: &PgPool, req: &OperationRequest) -> Result<Vec<OperationRecord>> {
    let mut tx = pool.begin().await?;
    check_request_cause(req, &causes(&mut tx, req.organization_id).await?)?;
    let mut found = Vec::with_capacity(req.tickets.len());
    for r in &req.tickets {
        found.push((r.clone(), find(&mut tx, req.organization_id, r).await?));
    }
    let plan = plan_operation(req.operation, &req.cause, &found)?;
    let records = apply_planned(
        &mut tx,
        req.at,
        &req.operator,
        req.operation,
        &req.cause,
        &plan,
    )
    .await?;
    tx.commit().await?;
    Ok(records)
}

/// Changes the planned tickets' status and cause and appends their history rows.
async fn apply_planned(
    tx: &mut PgConnection,
    at: DateTime<Utc>,
    operator: &str,
    operation: Operation,
    cause: &Cause,
    plan: &[FoundTicket],
) -> Result<Vec<OperationRecord>> {
    let to = operation.target();
    let mut records = Vec::new();
    for t in plan {
        sqlx::query("UPDATE tickets SET status = $2, cause = $3 WHERE id = $1")
            .bind(t.ticket_id)
            .bind(to.as_str())
            .bind(cause.as_str())
            .execute(&mut *tx)
            .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO ticket_operations
                 (ticket_id, operation, at, operator, from_status, to_status, cause)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(t.ticket_id)
        .bind(operation.as_str())
        .bind(at)
        .bind(operator)
        .bind(t.status.as_str())
        .bind(to.as_str())
        .bind(cause.as_str())
        .fetch_one(&mut *tx)
        .await?;
        records.push(OperationRecord::applied(
            id,
            operation,
            at,
            operator,
            cause,
            t.clone(),
        ));
    }
    Ok(records)
}

/// Whether `sql` (`$1` organization, `$2` the value) finds the value taken.
async fn taken<'q, T>(tx: &mut PgConnection, sql: &'q str, org: i64, value: T) -> Result<bool>
where
    T: 'q + Send + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    Ok(sqlx::query_scalar(sql)
        .bind(org)
        .bind(value)
        .fetch_one(&mut *tx)
        .await?)
}

/// Reprints in one transaction (see `TicketingStore::reprint`).
pub(super) async fn reprint(pool: &PgPool, req: &ReprintRequest) -> Result<Reprinted> {
    let org = req.organization_id;
    check_reprint_request(req)?;
    let mut tx = pool.begin().await?;
    check_cause(&req.cause, &causes(&mut tx, org).await?).map_err(StoreError::Invalid)?;
    let found = find(&mut tx, org, &req.ticket).await?;
    let old = plan_operation(req.operation, &req.cause, &[(req.ticket.clone(), found)])?.remove(0);
    let buyer: Option<i64> = match &req.buyer {
        None => None,
        Some(number) => Some(
            sqlx::query_scalar(
                "SELECT id FROM contacts WHERE organization_id = $1 AND number = $2",
            )
            .bind(org)
            .bind(number)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| unknown_buyer(number))?,
        ),
    };
    let replacing: Option<i64> =
        sqlx::query_scalar("SELECT id FROM tickets WHERE replaces_ticket_id = $1 LIMIT 1")
            .bind(old.ticket_id)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(by) = replacing {
        return Err(already_replaced(old.ticket_id, by));
    }
    let new_id: i64 = match req.new_ticket_id {
        Some(id) => id,
        None => {
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM tickets")
                .fetch_one(&mut *tx)
                .await?
        }
    };
    let id_taken: bool = sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM tickets WHERE id = $1)")
        .bind(new_id)
        .fetch_one(&mut *tx)
        .await?;
    if id_taken {
        return Err(reprint_taken(
            "ticket id",
            &new_id.to_string(),
            "--new-ticket-id",
        ));
    }
    let tax = req
        .new_tax_number
        .clone()
        .unwrap_or_else(|| new_id.to_string());
    let tax_sql =
        "SELECT EXISTS(SELECT 1 FROM tickets WHERE organization_id = $1 AND tax_number = $2)";
    if taken(&mut tx, tax_sql, org, tax.as_str()).await? {
        return Err(reprint_taken("tax number", &tax, "--new-tax-number"));
    }
    let barcode_sql =
        "SELECT EXISTS(SELECT 1 FROM tickets WHERE organization_id = $1 AND barcode = $2)";
    let barcode = match &req.new_barcode {
        Some(b) => {
            if taken(&mut tx, barcode_sql, org, b.as_str()).await? {
                return Err(reprint_taken("barcode", b, "--new-barcode"));
            }
            b.clone()
        }
        None => loop {
            let b = random_barcode();
            if !taken(&mut tx, barcode_sql, org, b.as_str()).await? {
                break b;
            }
        },
    };
    sqlx::query(&format!(
        "INSERT INTO tickets (id, organization_id, tax_number, barcode, status, cause,
             replaces_ticket_id, {REPRINT_COPIED})
         SELECT $1, organization_id, $2, $3, 'NOT_PRINTED', NULL, id, {REPRINT_COPIED}
         FROM tickets WHERE id = $4"
    ))
    .bind(new_id)
    .bind(&tax)
    .bind(&barcode)
    .bind(old.ticket_id)
    .execute(&mut *tx)
    .await?;
    if let Some(contact) = buyer {
        sqlx::query(&format!(
            "UPDATE tickets SET contact_id = $2, {HOLDER_CLEARED} WHERE id = $1"
        ))
        .bind(new_id)
        .bind(contact)
        .execute(&mut *tx)
        .await?;
    }
    let mut records = apply_planned(
        &mut tx,
        req.at,
        &req.operator,
        req.operation,
        &req.cause,
        &[old],
    )
    .await?;
    let mut record = records.remove(0);
    sqlx::query("UPDATE ticket_operations SET related_ticket_id = $2 WHERE id = $1")
        .bind(record.id)
        .bind(new_id)
        .execute(&mut *tx)
        .await?;
    record.related_ticket_id = Some(new_id);
    let row = sqlx::query(&format!(
        "SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.id = $1"
    ))
    .bind(new_id)
    .fetch_one(&mut *tx)
    .await?;
    let new_ticket = read_ticket(&mut Cur::new(&row))?;
    tx.commit().await?;
    Ok(Reprinted { record, new_ticket })
}

/// A ticket's history, oldest first.
pub(super) async fn history(pool: &PgPool, ticket_id: i64) -> Result<Vec<OperationRecord>> {
    sqlx::query(&format!(
        "SELECT {RECORD_COLUMNS} FROM ticket_operations WHERE ticket_id = $1 ORDER BY id"
    ))
    .bind(ticket_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(read_record)
    .collect()
}

/// Records gate scans in one transaction (see `TicketingStore::record_scans`).
pub(super) async fn record_scans(
    pool: &PgPool,
    organization_id: i64,
    scans: &[GateScan],
    live: bool,
    operator: &str,
) -> Result<Vec<ScanResult>> {
    let mut tx = pool.begin().await?;
    organization_exists(&mut tx, organization_id).await?;
    let mut results = Vec::with_capacity(scans.len());
    for scan in scans {
        let row = sqlx::query(
            "SELECT t.id, t.status, t.cause, pf.code, t.controlled_at
             FROM tickets t LEFT JOIN performances pf ON pf.id = t.performance_id
             WHERE t.organization_id = $1 AND t.barcode = $2
             ORDER BY t.id DESC LIMIT 1
             FOR UPDATE OF t",
        )
        .bind(organization_id)
        .bind(&scan.barcode)
        .fetch_optional(&mut *tx)
        .await?;
        let ticket = row
            .map(|r| {
                let mut c = Cur::new(&r);
                Ok::<_, crate::StoreError>(ScannedTicket {
                    ticket_id: c.get()?,
                    status: c.parsed()?,
                    cause: c.cause()?,
                    performance: c.get()?,
                    controlled_at: c.get()?,
                })
            })
            .transpose()?;
        let at = scan.scanned_at;
        let outcome = judge_scan(
            &scan.barcode,
            at,
            scan.performance.as_deref(),
            ticket.as_ref(),
            live,
        );
        if let Some(t) = &ticket {
            let effect = scan_effect(&outcome, at);
            let to = effect.set.map_or(t.status, |(s, _)| s);
            if let Some((status, at)) = effect.set {
                sqlx::query("UPDATE tickets SET status = $2, controlled_at = $3 WHERE id = $1")
                    .bind(t.ticket_id)
                    .bind(status.as_str())
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            if effect.history {
                sqlx::query(
                    "INSERT INTO ticket_operations
                         (ticket_id, operation, at, operator, from_status, to_status, cause)
                     VALUES ($1, 'CONTROL', $2, $3, $4, $5, $6)",
                )
                .bind(t.ticket_id)
                .bind(at)
                .bind(operator)
                .bind(t.status.as_str())
                .bind(to.as_str())
                .bind(t.cause.as_ref().map(Cause::as_str))
                .execute(&mut *tx)
                .await?;
            }
        }
        results.push(ScanResult {
            ticket_id: ticket.map(|t| t.ticket_id),
            outcome,
        });
    }
    tx.commit().await?;
    Ok(results)
}
