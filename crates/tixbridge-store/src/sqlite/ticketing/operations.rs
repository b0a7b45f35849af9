//! SQLite: ticketing operations (cancel, invalidate) with their history, and the
//! organization's causes. The rules both backends share are in `crate::ticketing`
//! ([`plan_operation`], [`with_default_causes`]).

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use tixbridge_core::cause::Cause;
use tixbridge_core::operation::TicketRef;

use tixbridge_core::operation::{Operation, ScannedTicket, check_cause, judge_scan};

use super::{Cur, TICKET_COLUMNS, read_ticket, ts};
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
        related_ticket_id: c.get()?,
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
            cause: c.cause()?,
        })
    };
    let by = |column: &str, value: &dyn rusqlite::ToSql| -> Result<Option<FoundTicket>> {
        Ok(tx
            .prepare_cached(&format!(
                "SELECT id, status, cause FROM tickets WHERE organization_id = ?1 AND {column} = ?2
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
    let plan = plan_operation(req.operation, &req.cause, &found)?;
    apply_planned(tx, req.at, &req.operator, req.operation, &req.cause, &plan)
}

/// Changes the planned tickets' status and cause and appends their history rows.
fn apply_planned(
    tx: &Transaction<'_>,
    at: chrono::DateTime<chrono::Utc>,
    operator: &str,
    operation: Operation,
    cause: &Cause,
    plan: &[FoundTicket],
) -> Result<Vec<OperationRecord>> {
    let to = operation.target();
    let mut records = Vec::new();
    for t in plan {
        tx.prepare_cached("UPDATE tickets SET status = ?2, cause = ?3 WHERE id = ?1")?
            .execute(params![t.ticket_id, to.as_str(), cause.as_str()])?;
        let id: i64 = tx
            .prepare_cached(
                "INSERT INTO ticket_operations
                     (ticket_id, operation, at, operator, from_status, to_status, cause)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            )?
            .query_row(
                params![
                    t.ticket_id,
                    operation.as_str(),
                    ts(at),
                    operator,
                    t.status.as_str(),
                    to.as_str(),
                    cause.as_str()
                ],
                |r| r.get(0),
            )?;
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

/// A ticket's history, oldest first.
pub(super) fn history(conn: &Connection, ticket_id: i64) -> Result<Vec<OperationRecord>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {RECORD_COLUMNS} FROM ticket_operations WHERE ticket_id = ?1 ORDER BY id"
    ))?;
    let rows = st.query_map([ticket_id], read_record)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Reprints in the caller's transaction (see `TicketingStore::reprint`).
pub(super) fn reprint(tx: &Transaction<'_>, req: &ReprintRequest) -> Result<Reprinted> {
    let org = req.organization_id;
    check_reprint_request(req)?;
    check_cause(&req.cause, &causes(tx, org)?).map_err(StoreError::Invalid)?;
    let found = find(tx, org, &req.ticket)?;
    let old = plan_operation(req.operation, &req.cause, &[(req.ticket.clone(), found)])?.remove(0);
    let buyer: Option<i64> = match &req.buyer {
        None => None,
        Some(number) => Some(
            tx.query_row(
                "SELECT id FROM contacts WHERE organization_id = ?1 AND number = ?2",
                params![org, number],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| unknown_buyer(number))?,
        ),
    };
    let replacing: Option<i64> = tx
        .query_row(
            "SELECT id FROM tickets WHERE replaces_ticket_id = ?1 LIMIT 1",
            [old.ticket_id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(by) = replacing {
        return Err(already_replaced(old.ticket_id, by));
    }
    let new_id = match req.new_ticket_id {
        Some(id) => id,
        None => tx.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM tickets", [], |r| {
            r.get(0)
        })?,
    };
    let taken = |sql: &str, value: &dyn rusqlite::ToSql| -> Result<bool> {
        Ok(tx.query_row(sql, params![org, value], |r| r.get(0))?)
    };
    let id_taken: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM tickets WHERE id = ?1)",
        [new_id],
        |r| r.get(0),
    )?;
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
        "SELECT EXISTS(SELECT 1 FROM tickets WHERE organization_id = ?1 AND tax_number = ?2)";
    if taken(tax_sql, &tax)? {
        return Err(reprint_taken("tax number", &tax, "--new-tax-number"));
    }
    let barcode_sql =
        "SELECT EXISTS(SELECT 1 FROM tickets WHERE organization_id = ?1 AND barcode = ?2)";
    let barcode = match &req.new_barcode {
        Some(b) if taken(barcode_sql, b)? => {
            return Err(reprint_taken("barcode", b, "--new-barcode"));
        }
        Some(b) => b.clone(),
        None => loop {
            let b = random_barcode();
            if !taken(barcode_sql, &b)? {
                break b;
            }
        },
    };
    tx.execute(
        &format!(
            "INSERT INTO tickets (id, organization_id, tax_number, barcode, status, cause,
                 replaces_ticket_id, {REPRINT_COPIED})
             SELECT ?1, organization_id, ?2, ?3, 'NOT_PRINTED', NULL, id, {REPRINT_COPIED}
             FROM tickets WHERE id = ?4"
        ),
        params![new_id, tax, barcode, old.ticket_id],
    )?;
    if let Some(contact) = buyer {
        tx.execute(
            &format!("UPDATE tickets SET contact_id = ?2, {HOLDER_CLEARED} WHERE id = ?1"),
            params![new_id, contact],
        )?;
    }
    let mut records = apply_planned(tx, req.at, &req.operator, req.operation, &req.cause, &[old])?;
    let mut record = records.remove(0);
    tx.execute(
        "UPDATE ticket_operations SET related_ticket_id = ?2 WHERE id = ?1",
        params![record.id, new_id],
    )?;
    record.related_ticket_id = Some(new_id);
    let new_ticket = tx.query_row(
        &format!("SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.id = ?1"),
        [new_id],
        |r| read_ticket(&mut Cur::new(r)),
    )?;
    Ok(Reprinted { record, new_ticket })
}

/// Records gate scans in the caller's transaction (see `TicketingStore::record_scans`).
pub(super) fn record_scans(
    tx: &Transaction<'_>,
    organization_id: i64,
    scans: &[GateScan],
    live: bool,
    operator: &str,
) -> Result<Vec<ScanResult>> {
    let mut results = Vec::with_capacity(scans.len());
    for scan in scans {
        let ticket = tx
            .prepare_cached(
                "SELECT t.id, t.status, t.cause, pf.code, t.controlled_at
                 FROM tickets t LEFT JOIN performances pf ON pf.id = t.performance_id
                 WHERE t.organization_id = ?1 AND t.barcode = ?2
                 ORDER BY t.id DESC LIMIT 1",
            )?
            .query_row(params![organization_id, scan.barcode], |r| {
                let mut c = Cur::new(r);
                Ok(ScannedTicket {
                    ticket_id: c.get()?,
                    status: c.parsed()?,
                    cause: c.cause()?,
                    performance: c.get()?,
                    controlled_at: c.opt_time()?,
                })
            })
            .optional()?;
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
                tx.prepare_cached(
                    "UPDATE tickets SET status = ?2, controlled_at = ?3 WHERE id = ?1",
                )?
                .execute(params![t.ticket_id, status.as_str(), ts(at)])?;
            }
            if effect.history {
                tx.prepare_cached(
                    "INSERT INTO ticket_operations
                         (ticket_id, operation, at, operator, from_status, to_status, cause)
                     VALUES (?1, 'CONTROL', ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    t.ticket_id,
                    ts(at),
                    operator,
                    t.status.as_str(),
                    to.as_str(),
                    t.cause.as_ref().map(Cause::as_str)
                ])?;
            }
        }
        results.push(ScanResult {
            ticket_id: ticket.map(|t| t.ticket_id),
            outcome,
        });
    }
    Ok(results)
}
