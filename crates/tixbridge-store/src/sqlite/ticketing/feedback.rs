//! SQLite: Feedback's part of the ticketing store (DOMAIN.md §5.2) — a page of the
//! wallet's change feed applied to the mobile projections and histories with its key,
//! in one transaction.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use tixbridge_core::model::MobileProjection;

use super::{Cur, to_json, ts};
use crate::ticketing::{feed_ticket_id, history_of, key_moved, projection_of};
use crate::{AppliedPage, FeedbackPage, MobileHistoryEntry, Result};

/// The stored key of the interface's feedback.
pub(super) fn key(conn: &Connection, interface_id: i64) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT pagination_key FROM feedback_keys WHERE interface_id = ?1")?
        .query_row([interface_id], |r| r.get(0))
        .optional()?)
}

/// Writes a projection, every column (see `TicketingStore::put_projection`).
pub(super) fn upsert_projection(tx: &Transaction<'_>, p: &MobileProjection) -> Result<()> {
    let owner = p.owner.as_ref().map(to_json).transpose()?;
    let holder = p.holder.as_ref().map(to_json).transpose()?;
    let initial = p.initial_owner.as_ref().map(to_json).transpose()?;
    let previous = p.previous_owner.as_ref().map(to_json).transpose()?;
    let deletion = p.deletion.as_ref().map(to_json).transpose()?;
    tx.prepare_cached(
        "INSERT INTO mobile_projections
             (ticket_id, wallet_status, owner, holder, transfer_level, updated_at,
              status_changed_at, initial_owner, previous_owner, deletion)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (ticket_id) DO UPDATE SET
             wallet_status = excluded.wallet_status,
             owner = excluded.owner,
             holder = excluded.holder,
             transfer_level = excluded.transfer_level,
             updated_at = excluded.updated_at,
             status_changed_at = excluded.status_changed_at,
             initial_owner = excluded.initial_owner,
             previous_owner = excluded.previous_owner,
             deletion = excluded.deletion",
    )?
    .execute(params![
        p.ticket_id,
        p.wallet_status.as_str(),
        owner,
        holder,
        p.transfer_level,
        ts(p.updated_at),
        p.status_changed_at.map(ts),
        initial,
        previous,
        deletion
    ])?;
    Ok(())
}

/// Applies a page in the caller's transaction (see `TicketingStore::apply_feedback_page`).
pub(super) fn apply(tx: &Transaction<'_>, page: &FeedbackPage) -> Result<AppliedPage> {
    let stored = key(tx, page.interface_id)?.unwrap_or_default();
    if stored != page.after_key {
        return Err(key_moved(page.interface_id, &stored, &page.after_key));
    }
    let mut known = Vec::with_capacity(page.states.len());
    let mut done = AppliedPage::default();
    let mut find = tx.prepare_cached(
        "SELECT EXISTS(SELECT 1 FROM tickets WHERE id = ?1 AND organization_id = ?2)",
    )?;
    for s in &page.states {
        match feed_ticket_id(s) {
            Some(id) if find.query_row(params![id, page.organization_id], |r| r.get(0))? => {
                known.push((id, s));
            }
            _ => done.unknown.push(s.ticket_id.clone()),
        }
    }
    if page.block_on_unknown && !done.unknown.is_empty() {
        done.blocked = true;
        return Ok(done);
    }
    let mut append = tx.prepare_cached(
        "INSERT INTO mobile_history
             (ticket_id, seq, at, action, from_status, to_status, actor, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (ticket_id, seq) DO NOTHING",
    )?;
    for (id, s) in known {
        upsert_projection(tx, &projection_of(id, s, page.at)?)?;
        done.applied += 1;
        for e in history_of(s)? {
            done.entries_added += append.execute(params![
                id,
                e.seq,
                ts(e.at),
                e.action,
                e.from_status,
                e.to_status,
                e.actor,
                e.detail
            ])? as u64;
        }
    }
    save_key(tx, page.interface_id, &page.next_key, page.at)?;
    Ok(done)
}

fn save_key(tx: &Transaction<'_>, interface_id: i64, key: &str, at: DateTime<Utc>) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO feedback_keys (interface_id, pagination_key, updated_at)
         VALUES (?1, ?2, ?3)
         ON CONFLICT (interface_id) DO UPDATE SET
             pagination_key = excluded.pagination_key,
             updated_at = excluded.updated_at",
    )?
    .execute(params![interface_id, key, ts(at)])?;
    Ok(())
}

/// A ticket's wallet status log, by seq.
pub(super) fn history(conn: &Connection, ticket_id: i64) -> Result<Vec<MobileHistoryEntry>> {
    let mut st = conn.prepare_cached(
        "SELECT seq, at, action, from_status, to_status, actor, detail
         FROM mobile_history WHERE ticket_id = ?1 ORDER BY seq",
    )?;
    let rows = st.query_map([ticket_id], |r| {
        let mut c = Cur::new(r);
        Ok(MobileHistoryEntry {
            seq: c.get()?,
            at: c.time()?,
            action: c.get()?,
            from_status: c.get()?,
            to_status: c.get()?,
            actor: c.get()?,
            detail: c.get()?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}
