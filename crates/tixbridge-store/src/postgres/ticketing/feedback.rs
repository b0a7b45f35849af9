//! PostgreSQL: Feedback's part of the ticketing store (DOMAIN.md §5.2) — a page of the
//! wallet's change feed applied to the mobile projections and histories with its key,
//! in one transaction.

use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use tixbridge_core::model::MobileProjection;

use super::Cur;
use crate::ticketing::{feed_ticket_id, history_of, key_moved, projection_of};
use crate::{AppliedPage, FeedbackPage, MobileHistoryEntry, Result};

/// The stored key of the interface's feedback.
pub(super) async fn key<'e, E: sqlx::PgExecutor<'e>>(
    exec: E,
    interface_id: i64,
) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT pagination_key FROM feedback_keys WHERE interface_id = $1")
            .bind(interface_id)
            .fetch_optional(exec)
            .await?,
    )
}

/// Writes a projection, every column; `false` when the ticket does not exist (nothing
/// written).
pub(super) async fn upsert_projection(
    conn: &mut PgConnection,
    p: &MobileProjection,
) -> Result<bool> {
    let n = sqlx::query(
        "INSERT INTO mobile_projections
             (ticket_id, wallet_status, owner, holder, transfer_level, updated_at,
              status_changed_at, initial_owner, previous_owner, deletion)
         SELECT id, $2, $3, $4, $5, $6, $7, $8, $9, $10 FROM tickets WHERE id = $1
         ON CONFLICT (ticket_id) DO UPDATE SET
             wallet_status = EXCLUDED.wallet_status,
             owner = EXCLUDED.owner,
             holder = EXCLUDED.holder,
             transfer_level = EXCLUDED.transfer_level,
             updated_at = EXCLUDED.updated_at,
             status_changed_at = EXCLUDED.status_changed_at,
             initial_owner = EXCLUDED.initial_owner,
             previous_owner = EXCLUDED.previous_owner,
             deletion = EXCLUDED.deletion",
    )
    .bind(p.ticket_id)
    .bind(p.wallet_status.as_str())
    .bind(p.owner.as_ref().map(Json))
    .bind(p.holder.as_ref().map(Json))
    .bind(p.transfer_level)
    .bind(p.updated_at)
    .bind(p.status_changed_at)
    .bind(p.initial_owner.as_ref().map(Json))
    .bind(p.previous_owner.as_ref().map(Json))
    .bind(p.deletion.as_ref().map(Json))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Applies a page in one transaction (see `TicketingStore::apply_feedback_page`). The
/// key row is locked first, so two executions applying the same page wait for each
/// other and the second finds the key moved.
pub(super) async fn apply(pool: &PgPool, page: &FeedbackPage) -> Result<AppliedPage> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO feedback_keys (interface_id, pagination_key, updated_at)
         VALUES ($1, '', $2) ON CONFLICT (interface_id) DO NOTHING",
    )
    .bind(page.interface_id)
    .bind(page.at)
    .execute(&mut *tx)
    .await?;
    let stored: String = sqlx::query_scalar(
        "SELECT pagination_key FROM feedback_keys WHERE interface_id = $1 FOR UPDATE",
    )
    .bind(page.interface_id)
    .fetch_one(&mut *tx)
    .await?;
    if stored != page.after_key {
        return Err(key_moved(page.interface_id, &stored, &page.after_key));
    }
    let ids: Vec<i64> = page.states.iter().filter_map(feed_ticket_id).collect();
    let known: std::collections::HashSet<i64> =
        sqlx::query_scalar("SELECT id FROM tickets WHERE id = ANY($1) AND organization_id = $2")
            .bind(&ids)
            .bind(page.organization_id)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    let mut done = AppliedPage::default();
    let mut apply = Vec::with_capacity(page.states.len());
    for s in &page.states {
        match feed_ticket_id(s).filter(|id| known.contains(id)) {
            Some(id) => apply.push((id, s)),
            None => done.unknown.push(s.ticket_id.clone()),
        }
    }
    if page.block_on_unknown && !done.unknown.is_empty() {
        done.blocked = true;
        return Ok(done);
    }
    for (id, s) in apply {
        upsert_projection(&mut tx, &projection_of(id, s, page.at)?).await?;
        done.applied += 1;
        for e in history_of(s)? {
            done.entries_added += sqlx::query(
                "INSERT INTO mobile_history
                     (ticket_id, seq, at, action, from_status, to_status, actor, detail)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (ticket_id, seq) DO NOTHING",
            )
            .bind(id)
            .bind(e.seq)
            .bind(e.at)
            .bind(&e.action)
            .bind(&e.from_status)
            .bind(&e.to_status)
            .bind(&e.actor)
            .bind(&e.detail)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
    }
    sqlx::query(
        "UPDATE feedback_keys SET pagination_key = $2, updated_at = $3 WHERE interface_id = $1",
    )
    .bind(page.interface_id)
    .bind(&page.next_key)
    .bind(page.at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done)
}

/// A ticket's wallet status log, by seq.
pub(super) async fn history(pool: &PgPool, ticket_id: i64) -> Result<Vec<MobileHistoryEntry>> {
    let rows = sqlx::query(
        "SELECT seq, at, action, from_status, to_status, actor, detail
         FROM mobile_history WHERE ticket_id = $1 ORDER BY seq",
    )
    .bind(ticket_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let mut c = Cur::new(r);
            Ok(MobileHistoryEntry {
                seq: c.get()?,
                at: c.get()?,
                action: c.get()?,
                from_status: c.get()?,
                to_status: c.get()?,
                actor: c.get()?,
                detail: c.get()?,
            })
        })
        .collect()
}
