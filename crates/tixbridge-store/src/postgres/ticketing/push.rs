//! PostgreSQL: the selection and marking of Push Cancelled (DOMAIN.md §5.3) and Push
//! Controlled (§5.4).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use tixbridge_core::cause::Cause;
use tixbridge_core::model::WALLET_SHIPMENT_MODE;

use super::Cur;
use crate::{
    MarkedBy, PushCancelledCandidate, PushControlledCandidate, PushQuery, PushedCancelled, Result,
};

/// `$1` organization, `$2` after id, `$3` limit, `$4` force ids, `$5` force tax
/// numbers, `$6` whether the force list is given, `$7` date from, `$8` exclude resale.
fn selection_sql() -> String {
    format!(
        "SELECT t.id, t.tax_number, t.status, t.cause, m.cause,
                EXISTS (SELECT 1 FROM processed_markers v
                        WHERE v.ticket_id = t.id AND v.function = 'PRIVILEGES_INJECTION')
         FROM tickets t
         LEFT JOIN processed_markers m
             ON m.ticket_id = t.id AND m.function = 'PUSH_CANCELLED'
         WHERE t.organization_id = $1 AND t.id > $2
           AND t.status IN ('CANCELLED', 'INVALIDATED')
           AND t.shipment_mode = '{WALLET_SHIPMENT_MODE}'
           AND EXISTS (SELECT 1 FROM processed_markers i
                       WHERE i.ticket_id = t.id
                         AND i.function IN ('INJECTION', 'PRIVILEGES_INJECTION'))
           AND CASE WHEN $6 THEN t.id = ANY($4) OR t.tax_number = ANY($5)
               ELSE m.ticket_id IS NULL OR m.processed_at >= $7
                    OR (m.cause IS DISTINCT FROM t.cause
                        AND NOT (NOT $8
                                 AND m.cause IN ('RESALE_PENDING', 'RESOLD', 'RESALE_CANCELLED')
                                 AND t.cause IN ('RESALE_PENDING', 'RESOLD', 'RESALE_CANCELLED')))
               END
         ORDER BY t.id
         LIMIT $3"
    )
}

/// A page of candidates (see `TicketingStore::push_cancelled_candidates`).
pub(super) async fn candidates(
    pool: &PgPool,
    organization_id: i64,
    q: &PushQuery,
) -> Result<Vec<PushCancelledCandidate>> {
    let ids: Vec<i64> = q.force.ids.iter().copied().collect();
    let taxes: Vec<&str> = q.force.tax_numbers.iter().map(String::as_str).collect();
    let rows = sqlx::query(&selection_sql())
        .bind(organization_id)
        .bind(q.after_id)
        .bind(i64::try_from(q.limit).unwrap_or(i64::MAX))
        .bind(ids)
        .bind(taxes)
        .bind(!q.force.is_empty())
        .bind(q.date_from)
        .bind(q.exclude_ticket_resale)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            let mut c = Cur::new(r);
            Ok(PushCancelledCandidate {
                ticket_id: c.get()?,
                tax_number: c.get()?,
                status: c.parsed()?,
                cause: c.cause()?,
                pushed_cause: c.cause()?,
                privilege: c.get()?,
            })
        })
        .collect()
}

/// Marks accepted deletions in one statement (see
/// `TicketingStore::mark_pushed_cancelled`).
pub(super) async fn mark(
    pool: &PgPool,
    by: MarkedBy,
    at: DateTime<Utc>,
    marks: Vec<PushedCancelled>,
) -> Result<()> {
    let mut by_id = std::collections::BTreeMap::new();
    for m in &marks {
        by_id.insert(m.ticket_id, m.cause.as_ref().map(Cause::as_str));
    }
    let ids: Vec<i64> = by_id.keys().copied().collect();
    let causes: Vec<Option<&str>> = by_id.values().copied().collect();
    let found: bool = sqlx::query_scalar(
        "WITH s AS (SELECT id FROM schedules WHERE id = $3),
         marked AS (
             INSERT INTO processed_markers
                 (ticket_id, function, schedule_id, processed_at, cause, execution_id)
             SELECT u.id, 'PUSH_CANCELLED', $3, $4, u.cause, $5
             FROM UNNEST($1::bigint[], $2::text[]) AS u(id, cause)
             WHERE EXISTS (SELECT 1 FROM s)
             ON CONFLICT (ticket_id, function) DO UPDATE SET
                 schedule_id = EXCLUDED.schedule_id,
                 processed_at = EXCLUDED.processed_at,
                 cause = EXCLUDED.cause,
                 execution_id = EXCLUDED.execution_id
             RETURNING ticket_id
         ),
         projected AS (
             UPDATE mobile_projections p
             SET wallet_status = 'DELETION_PENDING', updated_at = $4
             FROM marked
             WHERE p.ticket_id = marked.ticket_id AND p.wallet_status <> 'DELETED'
         )
         SELECT EXISTS (SELECT 1 FROM s)",
    )
    .bind(&ids)
    .bind(&causes)
    .bind(by.schedule_id)
    .bind(at)
    .bind(by.execution_id)
    .fetch_one(pool)
    .await?;
    if found {
        Ok(())
    } else {
        Err(crate::StoreError::NotFound(format!(
            "schedule {} does not exist",
            by.schedule_id
        )))
    }
}

/// A page of Push Controlled's candidates (see `TicketingStore::push_controlled_candidates`).
pub(super) async fn controlled_candidates(
    pool: &PgPool,
    organization_id: i64,
    q: &PushQuery,
) -> Result<Vec<PushControlledCandidate>> {
    let ids: Vec<i64> = q.force.ids.iter().copied().collect();
    let taxes: Vec<&str> = q.force.tax_numbers.iter().map(String::as_str).collect();
    let sql = format!(
        "SELECT t.id, t.tax_number, t.controlled_at
         FROM tickets t
         LEFT JOIN processed_markers m
             ON m.ticket_id = t.id AND m.function = 'PUSH_CONTROLLED'
         WHERE t.organization_id = $1 AND t.id > $2 AND t.status = 'CONTROLLED'
           AND t.shipment_mode = '{WALLET_SHIPMENT_MODE}'
           AND EXISTS (SELECT 1 FROM processed_markers i
                       WHERE i.ticket_id = t.id AND i.function = 'INJECTION')
           AND CASE WHEN $6 THEN t.id = ANY($4) OR t.tax_number = ANY($5)
               ELSE m.ticket_id IS NULL OR m.processed_at >= $7 END
         ORDER BY t.id
         LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(organization_id)
        .bind(q.after_id)
        .bind(i64::try_from(q.limit).unwrap_or(i64::MAX))
        .bind(ids)
        .bind(taxes)
        .bind(!q.force.is_empty())
        .bind(q.date_from)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            let mut c = Cur::new(r);
            Ok(PushControlledCandidate {
                ticket_id: c.get()?,
                tax_number: c.get()?,
                controlled_at: c.get()?,
            })
        })
        .collect()
}

/// Marks pushed controls in one statement (see `TicketingStore::mark_pushed_controlled`).
pub(super) async fn mark_controlled(
    pool: &PgPool,
    by: MarkedBy,
    at: DateTime<Utc>,
    ticket_ids: Vec<i64>,
) -> Result<()> {
    let ids: Vec<i64> = ticket_ids
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let found: bool = sqlx::query_scalar(
        "WITH s AS (SELECT id FROM schedules WHERE id = $2),
         marked AS (
             INSERT INTO processed_markers
                 (ticket_id, function, schedule_id, processed_at, cause, execution_id)
             SELECT u.id, 'PUSH_CONTROLLED', $2, $3, NULL, $4
             FROM UNNEST($1::bigint[]) AS u(id)
             WHERE EXISTS (SELECT 1 FROM s)
             ON CONFLICT (ticket_id, function) DO UPDATE SET
                 schedule_id = EXCLUDED.schedule_id,
                 processed_at = EXCLUDED.processed_at,
                 execution_id = EXCLUDED.execution_id
             RETURNING ticket_id
         ),
         projected AS (
             UPDATE mobile_projections p
             SET wallet_status = 'CONTROLLED', updated_at = $3
             FROM marked
             WHERE p.ticket_id = marked.ticket_id
               AND p.wallet_status NOT IN ('DELETION_PENDING', 'DELETED')
         )
         SELECT EXISTS (SELECT 1 FROM s)",
    )
    .bind(&ids)
    .bind(by.schedule_id)
    .bind(at)
    .bind(by.execution_id)
    .fetch_one(pool)
    .await?;
    if found {
        Ok(())
    } else {
        Err(crate::StoreError::NotFound(format!(
            "schedule {} does not exist",
            by.schedule_id
        )))
    }
}
