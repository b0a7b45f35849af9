//! PostgreSQL: ticketing operations (cancel, invalidate) with their history, and the
//! organization's causes. The rules both backends share are in `crate::ticketing`
//! ([`plan_operation`], [`with_default_causes`]).

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool};

use tixbridge_core::cause::Cause;
use tixbridge_core::operation::TicketRef;

use super::{Cur, organization_exists};
use crate::ticketing::{FoundTicket, check_request_cause, plan_operation, with_default_causes};
use crate::{OperationRecord, OperationRequest, Result};

const RECORD_COLUMNS: &str =
    "id, ticket_id, operation, at, operator, from_status, to_status, cause";

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
        "SELECT id, status FROM tickets
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
    let to = req.operation.target();
    let mut records = Vec::new();
    for t in plan_operation(req.operation, &found)? {
        sqlx::query("UPDATE tickets SET status = $2, cause = $3 WHERE id = $1")
            .bind(t.ticket_id)
            .bind(to.as_str())
            .bind(req.cause.as_str())
            .execute(&mut *tx)
            .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO ticket_operations
                 (ticket_id, operation, at, operator, from_status, to_status, cause)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(t.ticket_id)
        .bind(req.operation.as_str())
        .bind(req.at)
        .bind(&req.operator)
        .bind(t.status.as_str())
        .bind(to.as_str())
        .bind(req.cause.as_str())
        .fetch_one(&mut *tx)
        .await?;
        records.push(OperationRecord::applied(id, req, t));
    }
    tx.commit().await?;
    Ok(records)
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
