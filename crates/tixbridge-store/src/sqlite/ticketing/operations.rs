//! SQLite: ticketing operations (cancel, invalidate) with their history, and the
//! organization's causes. The rules both backends share are in `crate::ticketing`
//! ([`plan_operation`], [`with_default_causes`]).

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use tixbridge_core::cause::Cause;
use tixbridge_core::operation::TicketRef;

use super::{Cur, ts};
use crate::ticketing::{FoundTicket, check_request_cause, plan_operation, with_default_causes};
use crate::{OperationRecord, OperationRequest, Result};

const RECORD_COLUMNS: &str =
    "id, ticket_id, operation, at, operator, from_status, to_status, cause";

fn read_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<OperationRecord> {
    let mut c = Cur::new(r);
    Ok(OperationRecord {
        id: c.get()?,
        ticket_id: c.get()?,
        operation: c.parsed()?,
        at: c.time()?,
        operator: c.get()?,
        from_status: c.parsed()?,
        to_status: c.parsed()?,
        cause: c.cause()?,
    })
}

/// The organization's causes (defaults first).
pub(super) fn causes(conn: &Connection, organization_id: i64) -> Result<Vec<Cause>> {
    let mut st =
        conn.prepare_cached("SELECT code FROM causes WHERE organization_id = ?1 ORDER BY code")?;
    let added = st
        .query_map([organization_id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(with_default_causes(
        added.iter().filter_map(|c| Cause::parse(c)).collect(),
    ))
}

/// Adds a cause; `false` when the organization has it already.
pub(super) fn add_cause(tx: &Transaction<'_>, organization_id: i64, cause: &Cause) -> Result<bool> {
    if causes(tx, organization_id)?.contains(cause) {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO causes (organization_id, code) VALUES (?1, ?2)",
        params![organization_id, cause.as_str()],
    )?;
    Ok(true)
}

/// The ticket a reference names in the organization: by id, else by tax number, else
/// by barcode.
pub(super) fn find(
    tx: &Connection,
    organization_id: i64,
    r: &TicketRef,
) -> Result<Option<FoundTicket>> {
    let row = |r: &rusqlite::Row<'_>| {
        let mut c = Cur::new(r);
        Ok(FoundTicket {
            ticket_id: c.get()?,
            status: c.parsed()?,
        })
    };
    let by = |column: &str, value: &dyn rusqlite::ToSql| -> Result<Option<FoundTicket>> {
        Ok(tx
            .prepare_cached(&format!(
                "SELECT id, status FROM tickets WHERE organization_id = ?1 AND {column} = ?2
                 ORDER BY id LIMIT 1"
            ))?
            .query_row(params![organization_id, value], row)
            .optional()?)
    };
    match r {
        TicketRef::Id(id) => by("id", id),
        TicketRef::Number(n) => match by("tax_number", n)? {
            Some(t) => Ok(Some(t)),
            None => by("barcode", n),
        },
    }
}

/// Applies the operation in the caller's transaction (see
/// `TicketingStore::apply_operation`).
pub(super) fn apply(tx: &Transaction<'_>, req: &OperationRequest) -> Result<Vec<OperationRecord>> {
    check_request_cause(req, &causes(tx, req.organization_id)?)?;
    let found = req
        .tickets
        .iter()
        .map(|r| Ok((r.clone(), find(tx, req.organization_id, r)?)))
        .collect::<Result<Vec<_>>>()?;
    let to = req.operation.target();
    let mut records = Vec::new();
    for t in plan_operation(req.operation, &found)? {
        tx.prepare_cached("UPDATE tickets SET status = ?2, cause = ?3 WHERE id = ?1")?
            .execute(params![t.ticket_id, to.as_str(), req.cause.as_str()])?;
        let id: i64 = tx
            .prepare_cached(
                "INSERT INTO ticket_operations
                     (ticket_id, operation, at, operator, from_status, to_status, cause)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            )?
            .query_row(
                params![
                    t.ticket_id,
                    req.operation.as_str(),
                    ts(req.at),
                    req.operator,
                    t.status.as_str(),
                    to.as_str(),
                    req.cause.as_str()
                ],
                |r| r.get(0),
            )?;
        records.push(OperationRecord::applied(id, req, t));
    }
    Ok(records)
}

/// A ticket's history, oldest first.
pub(super) fn history(conn: &Connection, ticket_id: i64) -> Result<Vec<OperationRecord>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {RECORD_COLUMNS} FROM ticket_operations WHERE ticket_id = ?1 ORDER BY id"
    ))?;
    let rows = st.query_map([ticket_id], read_record)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}
