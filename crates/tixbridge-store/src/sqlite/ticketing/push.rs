//! SQLite: the selection and marking of Push Cancelled (DOMAIN.md §5.3) and Push
//! Controlled (§5.4).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, params};

use tixbridge_core::cause::Cause;
use tixbridge_core::model::WALLET_SHIPMENT_MODE;

use super::{Cur, to_json, ts};
use crate::{
    MarkedBy, PushCancelledCandidate, PushControlledCandidate, PushQuery, PushedCancelled, Result,
};

/// The selection: `:force` (a JSON list of ids, `:taxes` of tax numbers) replaces the
/// "not pushed yet" condition when given.
fn selection_sql(force: bool) -> String {
    let pending = if force {
        "(t.id IN (SELECT value FROM json_each(:ids))
          OR t.tax_number IN (SELECT value FROM json_each(:taxes)))"
            .to_owned()
    } else {
        "(m.ticket_id IS NULL OR m.processed_at >= :date_from
          OR (m.cause IS NOT t.cause
              AND NOT (:exclude_resale = 0
                       AND m.cause IN ('RESALE_PENDING', 'RESOLD', 'RESALE_CANCELLED')
                       AND t.cause IN ('RESALE_PENDING', 'RESOLD', 'RESALE_CANCELLED'))))"
            .to_owned()
    };
    format!(
        "SELECT t.id, t.tax_number, t.status, t.cause, m.cause,
                EXISTS (SELECT 1 FROM processed_markers v
                        WHERE v.ticket_id = t.id AND v.function = 'PRIVILEGES_INJECTION')
         FROM tickets t INDEXED BY tickets_cancelled
         LEFT JOIN processed_markers m
             ON m.ticket_id = t.id AND m.function = 'PUSH_CANCELLED'
         WHERE t.organization_id = :org AND t.id > :after
           AND t.status IN ('CANCELLED', 'INVALIDATED')
           AND t.shipment_mode = '{WALLET_SHIPMENT_MODE}'
           AND EXISTS (SELECT 1 FROM processed_markers i
                       WHERE i.ticket_id = t.id
                         AND i.function IN ('INJECTION', 'PRIVILEGES_INJECTION'))
           AND {pending}
         ORDER BY t.id
         LIMIT :limit"
    )
}

/// A page of candidates (see `TicketingStore::push_cancelled_candidates`).
pub(super) fn candidates(
    conn: &Connection,
    organization_id: i64,
    q: &PushQuery,
) -> Result<Vec<PushCancelledCandidate>> {
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    let ids = to_json(&q.force.ids)?;
    let taxes = to_json(&q.force.tax_numbers)?;
    // No date: nothing counts as pushed "at or after" it.
    let date_from = q.date_from.map(ts).unwrap_or_else(|| "9999".into());
    let force = !q.force.is_empty();
    let mut params: Vec<(&str, &dyn rusqlite::ToSql)> = vec![
        (":org", &organization_id),
        (":after", &q.after_id),
        (":limit", &limit),
    ];
    if force {
        params.extend([(":ids", &ids as &dyn rusqlite::ToSql), (":taxes", &taxes)]);
    } else {
        params.extend([
            (":date_from", &date_from as &dyn rusqlite::ToSql),
            (":exclude_resale", &q.exclude_ticket_resale),
        ]);
    }
    let mut st = conn.prepare_cached(&selection_sql(force))?;
    let rows = st.query_map(&*params, |r| {
        let mut c = Cur::new(r);
        Ok(PushCancelledCandidate {
            ticket_id: c.get()?,
            tax_number: c.get()?,
            status: c.parsed()?,
            cause: c.cause()?,
            pushed_cause: c.cause()?,
            privilege: c.get()?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Marks accepted deletions in the caller's transaction.
pub(super) fn mark(
    tx: &Transaction<'_>,
    by: MarkedBy,
    at: DateTime<Utc>,
    marks: &[PushedCancelled],
) -> Result<()> {
    let at = ts(at);
    let mut mark = tx.prepare_cached(
        "INSERT INTO processed_markers
             (ticket_id, function, schedule_id, processed_at, cause, execution_id)
         VALUES (?1, 'PUSH_CANCELLED', ?2, ?3, ?4, ?5)
         ON CONFLICT (ticket_id, function) DO UPDATE SET
             schedule_id = excluded.schedule_id,
             processed_at = excluded.processed_at,
             cause = excluded.cause,
             execution_id = excluded.execution_id",
    )?;
    let mut project = tx.prepare_cached(
        "UPDATE mobile_projections SET wallet_status = 'DELETION_PENDING', updated_at = ?2
         WHERE ticket_id = ?1 AND wallet_status <> 'DELETED'",
    )?;
    for m in marks {
        let cause = m.cause.as_ref().map(Cause::as_str);
        mark.execute(params![
            m.ticket_id,
            by.schedule_id,
            at,
            cause,
            by.execution_id
        ])?;
        project.execute(params![m.ticket_id, at])?;
    }
    Ok(())
}

/// A page of Push Controlled's candidates (see `TicketingStore::push_controlled_candidates`).
pub(super) fn controlled_candidates(
    conn: &Connection,
    organization_id: i64,
    q: &PushQuery,
) -> Result<Vec<PushControlledCandidate>> {
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    let ids = to_json(&q.force.ids)?;
    let taxes = to_json(&q.force.tax_numbers)?;
    let date_from = q.date_from.map(ts).unwrap_or_else(|| "9999".into());
    let force = !q.force.is_empty();
    let pending = if force {
        "(t.id IN (SELECT value FROM json_each(:ids))
          OR t.tax_number IN (SELECT value FROM json_each(:taxes)))"
    } else {
        "(m.ticket_id IS NULL OR m.processed_at >= :date_from)"
    };
    let sql = format!(
        "SELECT t.id, t.tax_number, t.controlled_at
         FROM tickets t INDEXED BY tickets_controlled
         LEFT JOIN processed_markers m
             ON m.ticket_id = t.id AND m.function = 'PUSH_CONTROLLED'
         WHERE t.organization_id = :org AND t.id > :after AND t.status = 'CONTROLLED'
           AND t.shipment_mode = '{WALLET_SHIPMENT_MODE}'
           AND EXISTS (SELECT 1 FROM processed_markers i
                       WHERE i.ticket_id = t.id AND i.function = 'INJECTION')
           AND {pending}
         ORDER BY t.id
         LIMIT :limit"
    );
    let mut params: Vec<(&str, &dyn rusqlite::ToSql)> = vec![
        (":org", &organization_id),
        (":after", &q.after_id),
        (":limit", &limit),
    ];
    if force {
        params.extend([(":ids", &ids as &dyn rusqlite::ToSql), (":taxes", &taxes)]);
    } else {
        params.push((":date_from", &date_from));
    }
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(&*params, |r| {
        let mut c = Cur::new(r);
        Ok(PushControlledCandidate {
            ticket_id: c.get()?,
            tax_number: c.get()?,
            controlled_at: c.opt_time()?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Marks pushed controls in the caller's transaction.
pub(super) fn mark_controlled(
    tx: &Transaction<'_>,
    by: MarkedBy,
    at: DateTime<Utc>,
    ticket_ids: &[i64],
) -> Result<()> {
    let at = ts(at);
    let mut mark = tx.prepare_cached(
        "INSERT INTO processed_markers
             (ticket_id, function, schedule_id, processed_at, cause, execution_id)
         VALUES (?1, 'PUSH_CONTROLLED', ?2, ?3, NULL, ?4)
         ON CONFLICT (ticket_id, function) DO UPDATE SET
             schedule_id = excluded.schedule_id,
             processed_at = excluded.processed_at,
             execution_id = excluded.execution_id",
    )?;
    let mut project = tx.prepare_cached(
        "UPDATE mobile_projections SET wallet_status = 'CONTROLLED', updated_at = ?2
         WHERE ticket_id = ?1 AND wallet_status NOT IN ('DELETION_PENDING', 'DELETED')",
    )?;
    for id in ticket_ids {
        mark.execute(params![id, by.schedule_id, at, by.execution_id])?;
        project.execute(params![id, at])?;
    }
    Ok(())
}
