//! PostgreSQL: Feedback's part of the ticketing store (DOMAIN.md §5.2) — a page of the
//! wallet's change feed applied to the mobile projections and histories with its key,
//! in one transaction.

use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use tixbridge_core::model::MobileProjection;

use super::Cur;
use crate::ticketing::{
    DistributionStep, distribution_step, feed_ticket_id, history_of, key_moved, owner_with_name,
    projection_of,
};
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
            let added = sqlx::query(
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
            done.entries_added += added;
            // Only a new entry distributes: a page applied again changes nothing twice.
            if let Some(step) = distribution_step(&e).filter(|_| page.distribute && added == 1) {
                done.distribution_changes +=
                    distribute(&mut tx, page.organization_id, id, &e, step).await?;
            }
        }
        if page.distribute {
            complete_temporary_contact(&mut tx, page.organization_id, s).await?;
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

/// Closes the ticket's pending distribution row with `status` at entry `e`.
async fn close_pending(
    conn: &mut PgConnection,
    ticket_id: i64,
    e: &MobileHistoryEntry,
    status: &str,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE ticket_distributions SET status = $2, closed_seq = $3, closed_at = $4
         WHERE ticket_id = $1 AND status = 'PENDING'",
    )
    .bind(ticket_id)
    .bind(status)
    .bind(e.seq)
    .bind(e.at)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// Opens a distribution row at entry `e` (closed at once unless `PENDING`); nothing
/// when the recipient is the sender (an email differing only in case or spaces).
async fn open_row(
    conn: &mut PgConnection,
    ticket_id: i64,
    sender: i64,
    recipient: i64,
    e: &MobileHistoryEntry,
    status: &str,
) -> Result<u64> {
    if recipient == sender {
        return Ok(0);
    }
    let closed = (status != "PENDING").then_some(e.seq);
    Ok(sqlx::query(
        "INSERT INTO ticket_distributions (ticket_id, seq, sender_contact_id,
             recipient_contact_id, status, created_at, closed_seq, closed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (ticket_id, seq) DO NOTHING",
    )
    .bind(ticket_id)
    .bind(e.seq)
    .bind(sender)
    .bind(recipient)
    .bind(status)
    .bind(e.at)
    .bind(closed)
    .bind(closed.map(|_| e.at))
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// Applies one distribution step of ticket `ticket_id` (DOMAIN.md §6; the SQLite
/// backend's `distribute` is the same rule); returns the rows opened or closed.
async fn distribute(
    conn: &mut PgConnection,
    org: i64,
    ticket_id: i64,
    e: &MobileHistoryEntry,
    step: DistributionStep,
) -> Result<u64> {
    let sender: i64 = sqlx::query_scalar("SELECT contact_id FROM tickets WHERE id = $1")
        .bind(ticket_id)
        .fetch_one(&mut *conn)
        .await?;
    match step {
        DistributionStep::Open { recipient } => {
            let recipient = contact_for(conn, org, &recipient).await?;
            let cancelled = close_pending(conn, ticket_id, e, "CANCELLED").await?;
            Ok(cancelled + open_row(conn, ticket_id, sender, recipient, e, "PENDING").await?)
        }
        DistributionStep::Cancel => close_pending(conn, ticket_id, e, "CANCELLED").await,
        DistributionStep::Confirm { recipient } => {
            let recipient = contact_for(conn, org, &recipient).await?;
            let mut n = close_pending(conn, ticket_id, e, "CONFIRMED").await?;
            if n == 0 {
                n = open_row(conn, ticket_id, sender, recipient, e, "CONFIRMED").await?;
            }
            sqlx::query("UPDATE tickets SET contact_id = $2 WHERE id = $1")
                .bind(ticket_id)
                .bind(recipient)
                .execute(&mut *conn)
                .await?;
            Ok(n)
        }
    }
}

/// The contact an email names, created temporary when there is none (DOMAIN.md §6;
/// the order of preference of the SQLite backend's `contact_for`).
async fn contact_for(conn: &mut PgConnection, org: i64, email: &str) -> Result<i64> {
    let key = tixbridge_core::lifecycle::email_key(email);
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM contacts WHERE organization_id = $1 AND email_key = $2
         ORDER BY internet_account DESC, kind = 'INDIVIDUAL' DESC, kind = 'RELAY',
                  temporary, id
         LIMIT 1",
    )
    .bind(org)
    .bind(&key)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = found {
        return Ok(id);
    }
    Ok(sqlx::query_scalar(
        "INSERT INTO contacts (organization_id, email, email_key, last_name, temporary)
         VALUES ($1, $2, $3, $4, TRUE) RETURNING id",
    )
    .bind(org)
    .bind(email.trim())
    .bind(&key)
    .bind(tixbridge_core::model::PENDING_CREATION)
    .fetch_one(&mut *conn)
    .await?)
}

/// Completes the temporary contact of the wallet owner's email with the owner's names
/// (DOMAIN.md §6); a normal contact is never overwritten.
async fn complete_temporary_contact(
    conn: &mut PgConnection,
    org: i64,
    s: &tixbridge_core::api::TicketState,
) -> Result<()> {
    let Some((key, owner)) = owner_with_name(s) else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE contacts SET first_name = $3, last_name = $4, gender = $5, title = $6,
             temporary = FALSE
         WHERE organization_id = $1 AND email_key = $2 AND temporary",
    )
    .bind(org)
    .bind(&key)
    .bind(&owner.first_name)
    .bind(&owner.last_name)
    .bind(&owner.gender)
    .bind(&owner.title)
    .execute(&mut *conn)
    .await?;
    Ok(())
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
