//! PostgreSQL backend of the privilege store. Every write is one transaction that
//! first locks the organizer row (`SELECT … FOR UPDATE`), the same lock ticket writes
//! take, so privilege and ticket entries interleave in one gap-free chain across
//! connections and processes. Rows are read with one `= ANY($2)` query and written
//! with one multi-row `UNNEST` statement per table. As for tickets, a privilege row
//! lists the seqs of its log entries (`log_seqs`) and keeps `change_seq`.
//!
//! The head lock, the log insert, the head update and the history read are
//! `wallet.rs`'s, shared with ticket writes; they write the `detail` column that
//! migration `wallet-0002-lifecycle` adds, which runs before this file's migration.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;

use tixbridge_core::api::{ItemResult, PrivilegeState};
use tixbridge_core::ledger::{self, format_at};
use tixbridge_core::lifecycle::Settings;
use tixbridge_core::privilege::{
    self as rules, CurrentPrivilege, Privilege, PrivilegeDeletion, PrivilegeRecord,
    PrivilegeStatePlan, StoredPrivilege,
};

use super::wallet::{PgWallet, Tx, append_entries, head_entry, history, lock_head, not_before};
use crate::privileges::FeedRow;
use crate::{DuePrivilege, Result, StoreError, TicketHead};

/// Privilege tables. Append-only once landed. Times are text (RFC 3339 UTC millis)
/// as in the rest of the wallet store; `due_at` and `privilege_id` are collated "C"
/// so that they sort as bytes, as on SQLite (`due_at` in time order, paging by
/// `privilege_id > last` through the primary key). The `due_at` index is partial:
/// only privileges waiting for their deletion's confirmation pay for it.
pub(super) const MIGRATION: &str = r#"
    CREATE TABLE wallet_privilege_definitions (
        organizer_id BIGINT NOT NULL REFERENCES wallet_organizers (id),
        definition_id TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (organizer_id, definition_id)
    );
    CREATE TABLE wallet_privileges (
        organizer_id BIGINT NOT NULL REFERENCES wallet_organizers (id),
        privilege_id TEXT COLLATE "C" NOT NULL,
        definition_id TEXT NOT NULL,
        status TEXT NOT NULL,
        content TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        owner JSONB,
        owner_email TEXT,
        deletion JSONB,
        status_changed_at TEXT NOT NULL,
        change_seq BIGINT NOT NULL,
        log_seqs TEXT NOT NULL,
        due_at TEXT COLLATE "C",
        PRIMARY KEY (organizer_id, privilege_id)
    );
    CREATE INDEX wallet_privileges_due ON wallet_privileges (due_at) WHERE due_at IS NOT NULL;
    "#;

/// The privileges' change feed (`privileges=include`) reads by the change sequence,
/// as the tickets' does.
pub(super) const CHANGE_INDEX: &str = "
    CREATE INDEX wallet_privileges_change ON wallet_privileges (organizer_id, change_seq);
    ";

const STATE_COLUMNS: &str = "p.privilege_id, p.status, p.status_changed_at, p.content_hash, \
     p.owner::text, p.deletion::text, p.due_at";

fn stored(r: &PgRow) -> Result<StoredPrivilege> {
    Ok(StoredPrivilege {
        privilege_id: r.try_get(0)?,
        status: r.try_get(1)?,
        status_changed_at: r.try_get(2)?,
        content_hash: r.try_get(3)?,
        owner: r.try_get(4)?,
        deletion: r.try_get(5)?,
        due_at: r.try_get(6)?,
    })
}

/// The stored state of each listed privilege that exists.
async fn current(
    tx: &mut Tx,
    organizer_id: i64,
    ids: &[&str],
) -> Result<HashMap<String, CurrentPrivilege>> {
    let rows = sqlx::query(&format!(
        "SELECT {STATE_COLUMNS} FROM wallet_privileges p \
         WHERE p.organizer_id = $1 AND p.privilege_id = ANY($2)"
    ))
    .bind(organizer_id)
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        let row = stored(r)?;
        out.insert(
            row.privilege_id.clone(),
            row.into_current().map_err(StoreError::Backend)?,
        );
    }
    Ok(out)
}

/// Writes a deletion or confirmation plan.
async fn write_states(tx: &mut Tx, organizer_id: i64, plan: &PrivilegeStatePlan) -> Result<()> {
    if plan.is_empty() {
        return Ok(());
    }
    let w = &plan.writes;
    let n = sqlx::query(
        "UPDATE wallet_privileges p SET status = u.status, \
         status_changed_at = u.status_changed_at, deletion = u.deletion::jsonb, \
         due_at = u.due_at, change_seq = u.change_seq, \
         log_seqs = p.log_seqs || ',' || u.log_seqs \
         FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
         $7::bigint[], $8::text[]) \
         AS u (privilege_id, status, status_changed_at, deletion, due_at, change_seq, log_seqs) \
         WHERE p.organizer_id = $1 AND p.privilege_id = u.privilege_id",
    )
    .bind(organizer_id)
    .bind(
        w.iter()
            .map(|w| w.privilege_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(w.iter().map(|w| w.status.as_str()).collect::<Vec<_>>())
    .bind(
        w.iter()
            .map(|w| w.status_changed_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(w.iter().map(|w| w.deletion.as_deref()).collect::<Vec<_>>())
    .bind(w.iter().map(|w| w.due_at.as_deref()).collect::<Vec<_>>())
    .bind(w.iter().map(|w| w.change_seq).collect::<Vec<_>>())
    .bind(w.iter().map(|w| w.log_seqs.as_str()).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n != w.len() as u64 {
        return Err(StoreError::Backend(format!(
            "{} of {} privileges vanished during their update",
            w.len() as u64 - n.min(w.len() as u64),
            w.len()
        )));
    }
    append_entries(tx, organizer_id, &plan.entries, &plan.head).await
}

#[async_trait]
impl crate::PrivilegeStore for PgWallet {
    async fn inject_privileges(
        &self,
        organizer_id: i64,
        privileges: Vec<Privilege>,
        at: DateTime<Utc>,
    ) -> Result<Vec<ItemResult>> {
        // Serialise and hash before taking the organizer's lock, to hold it shorter.
        let prepared = rules::prepare(privileges);
        let mut tx = self.pool.begin().await?;
        let head = lock_head(&mut tx, organizer_id).await?;
        let at = format_at(not_before(&mut tx, organizer_id, &head, at).await?);
        let ids: Vec<&str> = prepared
            .iter()
            .filter_map(|p| p.privilege.privilege_id.as_deref())
            .collect();
        let cur = current(&mut tx, organizer_id, &ids).await?;
        let plan = rules::plan_inject(prepared, cur, head, &at);
        if plan.is_empty() {
            tx.rollback().await?;
            return Ok(plan.results);
        }

        let (def_ids, def_data): (Vec<&str>, Vec<&str>) = plan
            .definitions
            .iter()
            .map(|d| (d.definition_id.as_str(), d.data.as_str()))
            .unzip();
        sqlx::query(
            "INSERT INTO wallet_privilege_definitions (organizer_id, definition_id, data) \
             SELECT $1, u.definition_id, u.data \
             FROM UNNEST($2::text[], $3::text[]) AS u (definition_id, data) \
             ON CONFLICT (organizer_id, definition_id) DO UPDATE SET data = EXCLUDED.data \
             WHERE wallet_privilege_definitions.data IS DISTINCT FROM EXCLUDED.data",
        )
        .bind(organizer_id)
        .bind(&def_ids)
        .bind(&def_data)
        .execute(&mut *tx)
        .await?;

        let p = &plan.privileges;
        sqlx::query(
            "INSERT INTO wallet_privileges (organizer_id, privilege_id, definition_id, status, \
             content, content_hash, owner, owner_email, status_changed_at, change_seq, log_seqs) \
             SELECT $1, u.privilege_id, u.definition_id, 'INJECTED', u.content, u.content_hash, \
             u.owner::jsonb, u.owner_email, $2, u.change_seq, u.log_seqs \
             FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
             $9::bigint[], $10::text[]) \
             AS u (privilege_id, definition_id, content, content_hash, owner, owner_email, \
             change_seq, log_seqs) \
             ON CONFLICT (organizer_id, privilege_id) DO UPDATE SET \
             definition_id = EXCLUDED.definition_id, content = EXCLUDED.content, \
             content_hash = EXCLUDED.content_hash, owner = EXCLUDED.owner, \
             owner_email = EXCLUDED.owner_email, change_seq = EXCLUDED.change_seq, \
             log_seqs = wallet_privileges.log_seqs || ',' || EXCLUDED.log_seqs",
        )
        .bind(organizer_id)
        .bind(&at)
        .bind(
            p.iter()
                .map(|p| p.privilege_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            p.iter()
                .map(|p| p.definition_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(p.iter().map(|p| p.content.as_str()).collect::<Vec<_>>())
        .bind(
            p.iter()
                .map(|p| p.content_hash.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(p.iter().map(|p| p.owner.as_str()).collect::<Vec<_>>())
        .bind(
            p.iter()
                .map(|p| p.owner_email.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(p.iter().map(|p| p.change_seq).collect::<Vec<_>>())
        .bind(p.iter().map(|p| p.log_seqs.as_str()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;

        append_entries(&mut tx, organizer_id, &plan.entries, &plan.head).await?;
        tx.commit().await?;
        Ok(plan.results)
    }

    async fn delete_privileges(
        &self,
        organizer_id: i64,
        deletions: Vec<PrivilegeDeletion>,
        at: DateTime<Utc>,
        settings: Settings,
    ) -> Result<Vec<ItemResult>> {
        let mut tx = self.pool.begin().await?;
        let head = lock_head(&mut tx, organizer_id).await?;
        let at = not_before(&mut tx, organizer_id, &head, at).await?;
        let ids: Vec<&str> = deletions
            .iter()
            .filter_map(|d| d.privilege_id.as_deref())
            .collect();
        let cur = current(&mut tx, organizer_id, &ids).await?;
        let plan = rules::plan_delete(deletions, cur, head, at, &settings);
        write_states(&mut tx, organizer_id, &plan).await?;
        tx.commit().await?;
        Ok(plan.results)
    }

    async fn privilege(
        &self,
        organizer_id: i64,
        privilege_id: &str,
    ) -> Result<Option<PrivilegeRecord>> {
        // Repeatable read: the row, its definition and its history from one snapshot.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(&format!(
            "SELECT {STATE_COLUMNS}, p.content, p.log_seqs, d.data \
             FROM wallet_privileges p LEFT JOIN wallet_privilege_definitions d \
             ON d.organizer_id = p.organizer_id AND d.definition_id = p.definition_id \
             WHERE p.organizer_id = $1 AND p.privilege_id = $2"
        ))
        .bind(organizer_id)
        .bind(privilege_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let content: String = row.try_get(7)?;
        let seqs =
            ledger::parse_log_seqs(&row.try_get::<String, _>(8)?).map_err(StoreError::Backend)?;
        let definition: Option<String> = row.try_get(9)?;
        let cur = stored(&row)?.into_current().map_err(StoreError::Backend)?;
        let history = history(&mut tx, organizer_id, &seqs).await?;
        tx.commit().await?;
        rules::record(&content, definition.as_deref(), cur, history)
            .map(Some)
            .map_err(|e| StoreError::Backend(format!("privilege {privilege_id}: {e}")))
    }

    async fn privilege_diff_since(
        &self,
        organizer_id: i64,
        after_seq: i64,
        limit: usize,
        history_after: i64,
    ) -> Result<Vec<PrivilegeState>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(
            "SELECT privilege_id, definition_id, status, status_changed_at, owner::text, \
             deletion::text, log_seqs FROM wallet_privileges \
             WHERE organizer_id = $1 AND change_seq > $2 ORDER BY change_seq LIMIT $3",
        )
        .bind(organizer_id)
        .bind(after_seq)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let row = FeedRow {
                privilege_id: r.try_get(0)?,
                definition_id: r.try_get(1)?,
                status: r.try_get(2)?,
                status_changed_at: r.try_get(3)?,
                owner: r.try_get(4)?,
                deletion: r.try_get(5)?,
                log_seqs: r.try_get(6)?,
            };
            let (mut state, seqs) = row.into_state(history_after)?;
            state.history = history(&mut tx, organizer_id, &seqs).await?;
            out.push(state);
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn due_privileges(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<DuePrivilege>> {
        let rows = sqlx::query(
            "SELECT organizer_id, privilege_id FROM wallet_privileges \
             WHERE due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at LIMIT $2",
        )
        .bind(format_at(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DuePrivilege {
                    organizer_id: r.try_get(0)?,
                    privilege_id: r.try_get(1)?,
                })
            })
            .collect()
    }

    async fn confirm_privilege_deletions(
        &self,
        organizer_id: i64,
        privilege_ids: Vec<String>,
        at: DateTime<Utc>,
    ) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        let head = lock_head(&mut tx, organizer_id).await?;
        let at = not_before(&mut tx, organizer_id, &head, at).await?;
        let ids: Vec<&str> = privilege_ids.iter().map(String::as_str).collect();
        let cur = current(&mut tx, organizer_id, &ids).await?;
        let plan = rules::plan_confirm(privilege_ids, cur, head, at);
        if plan.is_empty() {
            tx.rollback().await?;
            return Ok(0);
        }
        write_states(&mut tx, organizer_id, &plan).await?;
        tx.commit().await?;
        Ok(plan.results.len())
    }

    async fn privilege_heads(
        &self,
        organizer_id: i64,
        after_privilege_id: &str,
        limit: usize,
    ) -> Result<Vec<TicketHead>> {
        let rows = sqlx::query(
            "SELECT p.privilege_id, p.status, p.owner_email, p.change_seq, \
             l.ticket_id, l.to_status, l.to_owner \
             FROM wallet_privileges p LEFT JOIN wallet_status_log l \
             ON l.organizer_id = p.organizer_id AND l.seq = p.change_seq \
             WHERE p.organizer_id = $1 AND p.privilege_id > $2 \
             ORDER BY p.privilege_id LIMIT $3",
        )
        .bind(organizer_id)
        .bind(after_privilege_id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TicketHead {
                    ticket_id: r.try_get(0)?,
                    status: r.try_get(1)?,
                    owner_email: r.try_get(2)?,
                    change_seq: r.try_get(3)?,
                    entry: head_entry(r, 4)?,
                    first_seq: None,
                })
            })
            .collect()
    }
}
