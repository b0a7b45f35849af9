//! SQLite: Feedback's part of the ticketing store (DOMAIN.md §5.2) — a page of the
//! wallet's change feed applied to the mobile projections and histories with its key,
//! in one transaction.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use tixbridge_core::model::MobileProjection;

use super::{Cur, to_json, ts};
use crate::ticketing::{
    DistributionStep, distribution_step, feed_ticket_id, history_of, key_moved, owner_with_name,
    projection_of,
};
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
            let added = append.execute(params![
                id,
                e.seq,
                ts(e.at),
                e.action,
                e.from_status,
                e.to_status,
                e.actor,
                e.detail
            ])? as u64;
            done.entries_added += added;
            // Only a new entry distributes: a page applied again changes nothing twice.
            if let Some(step) = distribution_step(&e).filter(|_| page.distribute && added == 1) {
                done.distribution_changes += distribute(tx, page.organization_id, id, &e, step)?;
            }
        }
        if page.distribute {
            complete_temporary_contact(tx, page.organization_id, s)?;
        }
    }
    save_key(tx, page.interface_id, &page.next_key, page.at)?;
    Ok(done)
}

/// Applies one distribution step of ticket `ticket_id` (DOMAIN.md §6); returns the
/// distribution rows it opened or closed.
fn distribute(
    tx: &Transaction<'_>,
    org: i64,
    ticket_id: i64,
    e: &MobileHistoryEntry,
    step: DistributionStep,
) -> Result<u64> {
    let sender: i64 = tx
        .prepare_cached("SELECT contact_id FROM tickets WHERE id = ?1")?
        .query_row([ticket_id], |r| r.get(0))?;
    let close = |status: &str| -> Result<u64> {
        Ok(tx
            .prepare_cached(
                "UPDATE ticket_distributions SET status = ?2, closed_seq = ?3, closed_at = ?4
                 WHERE ticket_id = ?1 AND status = 'PENDING'",
            )?
            .execute(params![ticket_id, status, e.seq, ts(e.at)])? as u64)
    };
    let open = |recipient: i64, status: &str| -> Result<u64> {
        if recipient == sender {
            // The same person (an email differing only in case or spaces): no change.
            return Ok(0);
        }
        let closed = (status != "PENDING").then_some(e.seq);
        Ok(tx
            .prepare_cached(
                "INSERT INTO ticket_distributions (ticket_id, seq, sender_contact_id,
                     recipient_contact_id, status, created_at, closed_seq, closed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (ticket_id, seq) DO NOTHING",
            )?
            .execute(params![
                ticket_id,
                e.seq,
                sender,
                recipient,
                status,
                ts(e.at),
                closed,
                closed.map(|_| ts(e.at))
            ])? as u64)
    };
    match step {
        DistributionStep::Open { recipient } => {
            let recipient = contact_for(tx, org, &recipient)?;
            // A transfer whose end the feed never told is over once another begins.
            let cancelled = close("CANCELLED")?;
            Ok(cancelled + open(recipient, "PENDING")?)
        }
        DistributionStep::Cancel => close("CANCELLED"),
        DistributionStep::Confirm { recipient } => {
            let recipient = contact_for(tx, org, &recipient)?;
            let mut n = close("CONFIRMED")?;
            if n == 0 {
                // The transfer began before Feedback read the feed: its row now.
                n = open(recipient, "CONFIRMED")?;
            }
            tx.prepare_cached("UPDATE tickets SET contact_id = ?2 WHERE id = ?1")?
                .execute(params![ticket_id, recipient])?;
            Ok(n)
        }
    }
}

/// The contact an email names (DOMAIN.md §6): looked up without regard to case or
/// surrounding spaces, one with an internet account first, then an individual over a
/// relay, a normal contact over a temporary one; created as a temporary "Pending
/// CREATION" contact when there is none.
fn contact_for(tx: &Transaction<'_>, org: i64, email: &str) -> Result<i64> {
    let key = tixbridge_core::lifecycle::email_key(email);
    let found: Option<i64> = tx
        .prepare_cached(
            "SELECT id FROM contacts WHERE organization_id = ?1 AND email_key = ?2
             ORDER BY internet_account DESC, kind = 'INDIVIDUAL' DESC, kind = 'RELAY',
                      temporary, id
             LIMIT 1",
        )?
        .query_row(params![org, key], |r| r.get(0))
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    Ok(tx
        .prepare_cached(
            "INSERT INTO contacts (organization_id, email, email_key, last_name, temporary)
             VALUES (?1, ?2, ?3, ?4, 1) RETURNING id",
        )?
        .query_row(
            params![
                org,
                email.trim(),
                key,
                tixbridge_core::model::PENDING_CREATION
            ],
            |r| r.get(0),
        )?)
}

/// Completes the temporary contact of the wallet owner's email with the owner's names
/// (DOMAIN.md §6); a normal contact is never overwritten.
fn complete_temporary_contact(
    tx: &Transaction<'_>,
    org: i64,
    s: &tixbridge_core::api::TicketState,
) -> Result<()> {
    let Some((key, owner)) = owner_with_name(s) else {
        return Ok(());
    };
    tx.prepare_cached(
        "UPDATE contacts SET first_name = ?3, last_name = ?4, gender = ?5, title = ?6,
             temporary = 0
         WHERE organization_id = ?1 AND email_key = ?2 AND temporary = 1",
    )?
    .execute(params![
        org,
        key,
        owner.first_name,
        owner.last_name,
        owner.gender,
        owner.title
    ])?;
    Ok(())
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
