//! SQLite backend of the privilege store. Every write is one [`super::Db::write`]
//! hop: the single writer connection is the organizer's chain lock (as for tickets),
//! so privilege and ticket entries interleave in one chain without a gap. Like ticket
//! rows, a privilege row lists the seqs of its log entries (`log_seqs`) instead of the
//! log being indexed by id, and keeps `change_seq` = its latest entry.
//!
//! The chain head, the log insert and the head update are `wallet.rs`'s, shared with
//! ticket writes; they write the `detail` column that migration `wallet-0002-lifecycle`
//! adds, which runs before this file's migration.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use tixbridge_core::api::{ItemResult, PrivilegeState};
use tixbridge_core::ledger::{self, format_at};
use tixbridge_core::lifecycle::Settings;
use tixbridge_core::privilege::{
    self as rules, CurrentPrivilege, Privilege, PrivilegeDeletion, PrivilegeRecord,
    PrivilegeStatePlan, StoredPrivilege,
};

use super::wallet::{
    SqliteWallet, append_entries, in_snapshot, log_entries, not_before, read_head, ticket_head,
};
use crate::privileges::FeedRow;
use crate::{DuePrivilege, Result, StoreError, TicketHead};

/// Privilege tables. Append-only once landed. Times are text (RFC 3339 UTC millis)
/// as in the rest of the wallet store; `due_at` sorts as text. The `due_at` index is
/// partial: only privileges waiting for their deletion's confirmation pay for it.
pub(super) const MIGRATION: &str = "
    CREATE TABLE wallet_privilege_definitions (
        organizer_id INTEGER NOT NULL REFERENCES wallet_organizers (id),
        definition_id TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (organizer_id, definition_id)
    ) WITHOUT ROWID;
    CREATE TABLE wallet_privileges (
        organizer_id INTEGER NOT NULL REFERENCES wallet_organizers (id),
        privilege_id TEXT NOT NULL,
        definition_id TEXT NOT NULL,
        status TEXT NOT NULL,
        content TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        owner TEXT,
        owner_email TEXT,
        deletion TEXT,
        status_changed_at TEXT NOT NULL,
        change_seq INTEGER NOT NULL,
        log_seqs TEXT NOT NULL,
        due_at TEXT,
        PRIMARY KEY (organizer_id, privilege_id)
    );
    CREATE INDEX wallet_privileges_due ON wallet_privileges (due_at) WHERE due_at IS NOT NULL;
    ";

/// The privileges' change feed (`privileges=include`) reads by the change sequence,
/// as the tickets' does.
pub(super) const CHANGE_INDEX: &str = "
    CREATE INDEX wallet_privileges_change ON wallet_privileges (organizer_id, change_seq);
    ";

const STATE_COLUMNS: &str =
    "privilege_id, status, status_changed_at, content_hash, owner, deletion, due_at";

fn stored(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredPrivilege> {
    Ok(StoredPrivilege {
        privilege_id: r.get(0)?,
        status: r.get(1)?,
        status_changed_at: r.get(2)?,
        content_hash: r.get(3)?,
        owner: r.get(4)?,
        deletion: r.get(5)?,
        due_at: r.get(6)?,
    })
}

/// The stored state of each listed privilege that exists.
fn current<'a>(
    tx: &Transaction<'_>,
    organizer_id: i64,
    ids: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, CurrentPrivilege>> {
    let mut st = tx.prepare_cached(&format!(
        "SELECT {STATE_COLUMNS} FROM wallet_privileges WHERE organizer_id = ?1 AND privilege_id = ?2"
    ))?;
    let mut out = HashMap::new();
    for id in ids {
        if out.contains_key(id) {
            continue;
        }
        if let Some(row) = st.query_row(params![organizer_id, id], stored).optional()? {
            out.insert(
                id.to_owned(),
                row.into_current().map_err(StoreError::Backend)?,
            );
        }
    }
    Ok(out)
}

/// Writes a deletion or confirmation plan.
fn write_states(tx: &Transaction<'_>, organizer_id: i64, plan: &PrivilegeStatePlan) -> Result<()> {
    if plan.is_empty() {
        return Ok(());
    }
    {
        let mut st = tx.prepare_cached(
            "UPDATE wallet_privileges SET status = ?3, status_changed_at = ?4, deletion = ?5, \
             due_at = ?6, change_seq = ?7, log_seqs = log_seqs || ',' || ?8 \
             WHERE organizer_id = ?1 AND privilege_id = ?2",
        )?;
        for w in &plan.writes {
            let n = st.execute(params![
                organizer_id,
                w.privilege_id,
                w.status.as_str(),
                w.status_changed_at,
                w.deletion,
                w.due_at,
                w.change_seq,
                w.log_seqs,
            ])?;
            if n != 1 {
                return Err(StoreError::Backend(format!(
                    "privilege {} vanished during its update",
                    w.privilege_id
                )));
            }
        }
    }
    append_entries(tx, organizer_id, &plan.entries, &plan.head)
}

#[async_trait]
impl crate::PrivilegeStore for SqliteWallet {
    async fn inject_privileges(
        &self,
        organizer_id: i64,
        privileges: Vec<Privilege>,
        at: DateTime<Utc>,
    ) -> Result<Vec<ItemResult>> {
        // Serialise and hash on the async side: the writer thread only does SQLite.
        let prepared = rules::prepare(privileges);
        self.db
            .write(move |tx| {
                let head = read_head(tx, organizer_id)?;
                let at = format_at(not_before(tx, organizer_id, &head, at)?);
                let cur = current(
                    tx,
                    organizer_id,
                    prepared
                        .iter()
                        .filter_map(|p| p.privilege.privilege_id.as_deref()),
                )?;
                let plan = rules::plan_inject(prepared, cur, head, &at);
                if plan.is_empty() {
                    return Ok(plan.results);
                }
                {
                    // An unchanged definition is not rewritten.
                    let mut st = tx.prepare_cached(
                        "INSERT INTO wallet_privilege_definitions (organizer_id, definition_id, data) \
                         VALUES (?1, ?2, ?3) \
                         ON CONFLICT (organizer_id, definition_id) DO UPDATE SET data = excluded.data \
                         WHERE data IS NOT excluded.data",
                    )?;
                    for d in &plan.definitions {
                        st.execute(params![organizer_id, d.definition_id, d.data])?;
                    }
                }
                {
                    let mut st = tx.prepare_cached(
                        "INSERT INTO wallet_privileges (organizer_id, privilege_id, definition_id, \
                         status, content, content_hash, owner, owner_email, status_changed_at, \
                         change_seq, log_seqs) \
                         VALUES (?1, ?2, ?3, 'INJECTED', ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                         ON CONFLICT (organizer_id, privilege_id) DO UPDATE SET \
                         definition_id = excluded.definition_id, content = excluded.content, \
                         content_hash = excluded.content_hash, owner = excluded.owner, \
                         owner_email = excluded.owner_email, change_seq = excluded.change_seq, \
                         log_seqs = log_seqs || ',' || excluded.log_seqs",
                    )?;
                    for p in &plan.privileges {
                        st.execute(params![
                            organizer_id,
                            p.privilege_id,
                            p.definition_id,
                            p.content,
                            p.content_hash,
                            p.owner,
                            p.owner_email,
                            at,
                            p.change_seq,
                            p.log_seqs,
                        ])?;
                    }
                }
                append_entries(tx, organizer_id, &plan.entries, &plan.head)?;
                Ok(plan.results)
            })
            .await
    }

    async fn delete_privileges(
        &self,
        organizer_id: i64,
        deletions: Vec<PrivilegeDeletion>,
        at: DateTime<Utc>,
        settings: Settings,
    ) -> Result<Vec<ItemResult>> {
        self.db
            .write(move |tx| {
                let head = read_head(tx, organizer_id)?;
                let at = not_before(tx, organizer_id, &head, at)?;
                let cur = current(
                    tx,
                    organizer_id,
                    deletions.iter().filter_map(|d| d.privilege_id.as_deref()),
                )?;
                let plan = rules::plan_delete(deletions, cur, head, at, &settings);
                write_states(tx, organizer_id, &plan)?;
                Ok(plan.results)
            })
            .await
    }

    async fn privilege(
        &self,
        organizer_id: i64,
        privilege_id: &str,
    ) -> Result<Option<PrivilegeRecord>> {
        let privilege_id = privilege_id.to_owned();
        self.db
            .read(move |conn| {
                // One snapshot for the row, its definition and its history.
                in_snapshot(conn, || {
                    let row = conn
                        .prepare_cached(&format!(
                            "SELECT {STATE_COLUMNS}, p.content, p.log_seqs, d.data \
                             FROM wallet_privileges p LEFT JOIN wallet_privilege_definitions d \
                             ON d.organizer_id = p.organizer_id AND d.definition_id = p.definition_id \
                             WHERE p.organizer_id = ?1 AND p.privilege_id = ?2"
                        ))?
                        .query_row(params![organizer_id, privilege_id], |r| {
                            Ok((
                                stored(r)?,
                                r.get::<_, String>(7)?,
                                r.get::<_, String>(8)?,
                                r.get::<_, Option<String>>(9)?,
                            ))
                        })
                        .optional()?;
                    let Some((row, content, seqs, definition)) = row else {
                        return Ok(None);
                    };
                    let cur = row.into_current().map_err(StoreError::Backend)?;
                    let seqs = ledger::parse_log_seqs(&seqs).map_err(StoreError::Backend)?;
                    let history = log_entries(conn, organizer_id, &seqs)?;
                    rules::record(&content, definition.as_deref(), cur, history)
                        .map(Some)
                        .map_err(|e| {
                            StoreError::Backend(format!("privilege {privilege_id}: {e}"))
                        })
                })
            })
            .await
    }

    async fn privilege_diff_since(
        &self,
        organizer_id: i64,
        after_seq: i64,
        limit: usize,
        history_after: i64,
    ) -> Result<Vec<PrivilegeState>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .read(move |conn| {
                in_snapshot(conn, || {
                    let mut st = conn.prepare_cached(
                        "SELECT privilege_id, definition_id, status, status_changed_at, owner, \
                         deletion, log_seqs FROM wallet_privileges \
                         WHERE organizer_id = ?1 AND change_seq > ?2 ORDER BY change_seq LIMIT ?3",
                    )?;
                    let rows = st
                        .query_map(params![organizer_id, after_seq, limit], |r| {
                            Ok(FeedRow {
                                privilege_id: r.get(0)?,
                                definition_id: r.get(1)?,
                                status: r.get(2)?,
                                status_changed_at: r.get(3)?,
                                owner: r.get(4)?,
                                deletion: r.get(5)?,
                                log_seqs: r.get(6)?,
                            })
                        })?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    let mut out = Vec::with_capacity(rows.len());
                    for row in rows {
                        let (mut state, seqs) = row.into_state(history_after)?;
                        state.history = log_entries(conn, organizer_id, &seqs)?;
                        out.push(state);
                    }
                    Ok(out)
                })
            })
            .await
    }

    async fn due_privileges(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<DuePrivilege>> {
        let now = format_at(now);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .read(move |conn| {
                let mut st = conn.prepare_cached(
                    "SELECT organizer_id, privilege_id FROM wallet_privileges \
                     WHERE due_at IS NOT NULL AND due_at <= ?1 ORDER BY due_at LIMIT ?2",
                )?;
                let rows = st.query_map(params![now, limit], |r| {
                    Ok(DuePrivilege {
                        organizer_id: r.get(0)?,
                        privilege_id: r.get(1)?,
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn confirm_privilege_deletions(
        &self,
        organizer_id: i64,
        privilege_ids: Vec<String>,
        at: DateTime<Utc>,
    ) -> Result<usize> {
        self.db
            .write(move |tx| {
                let head = read_head(tx, organizer_id)?;
                let at = not_before(tx, organizer_id, &head, at)?;
                let cur = current(tx, organizer_id, privilege_ids.iter().map(String::as_str))?;
                let plan = rules::plan_confirm(privilege_ids, cur, head, at);
                write_states(tx, organizer_id, &plan)?;
                Ok(plan.results.len())
            })
            .await
    }

    async fn privilege_heads(
        &self,
        organizer_id: i64,
        after_privilege_id: &str,
        limit: usize,
    ) -> Result<Vec<TicketHead>> {
        let after = after_privilege_id.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .read(move |conn| {
                let mut st = conn.prepare_cached(
                    "SELECT p.privilege_id, p.status, p.owner_email, p.change_seq, \
                     l.ticket_id, l.to_status, l.to_owner, NULL \
                     FROM wallet_privileges p LEFT JOIN wallet_status_log l \
                     ON l.organizer_id = p.organizer_id AND l.seq = p.change_seq \
                     WHERE p.organizer_id = ?1 AND p.privilege_id > ?2 \
                     ORDER BY p.privilege_id LIMIT ?3",
                )?;
                let rows = st.query_map(params![organizer_id, after, limit], ticket_head)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }
}
