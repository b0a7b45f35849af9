//! The privilege half of the wallet store (digital privileges, WALLET-API.md):
//! definitions and privilege instances, whose every change is an entry of the
//! organizer's one hash-chained status log, interleaved with the tickets' entries.
//! The rules are [`tixbridge_core::privilege`]'s planning functions; the backends
//! only read the state under the organizer's chain lock and write the plan.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use tixbridge_core::api::{ItemResult, PrivilegeState, Verification};
use tixbridge_core::lifecycle::Settings;
use tixbridge_core::privilege::{Privilege, PrivilegeDeletion, PrivilegeRecord};

use crate::{Result, TicketHead, VERIFY_PAGE};

/// The columns of a privilege's feed state, as both backends read them: the JSON
/// columns as text, the log seqs as the row keeps them.
pub(crate) struct FeedRow {
    pub privilege_id: String,
    pub definition_id: String,
    pub status: String,
    pub status_changed_at: String,
    pub owner: Option<String>,
    pub deletion: Option<String>,
    pub log_seqs: String,
}

impl FeedRow {
    /// The state without history, and the seqs of its entries after `history_after`.
    pub(crate) fn into_state(self, history_after: i64) -> Result<(PrivilegeState, Vec<i64>)> {
        let bad =
            |e: String| crate::StoreError::Backend(format!("privilege {}: {e}", self.privilege_id));
        let seqs = tixbridge_core::ledger::parse_log_seqs(&self.log_seqs).map_err(bad)?;
        let seqs = seqs.into_iter().filter(|s| *s > history_after).collect();
        let state = PrivilegeState {
            owner: tixbridge_core::ledger::json_column("owner", self.owner.clone()).map_err(bad)?,
            deletion: tixbridge_core::ledger::json_column("deletion", self.deletion.clone())
                .map_err(bad)?,
            privilege_id: self.privilege_id,
            definition_id: self.definition_id,
            status: self.status,
            status_changed_at: self.status_changed_at,
            history: Vec::new(),
        };
        Ok((state, seqs))
    }
}

/// A privilege whose deletion is due for confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePrivilege {
    pub organizer_id: i64,
    pub privilege_id: String,
}

/// Digital privileges: definitions and instances. Every wallet store implements it.
/// Organizers are isolated as for tickets; an unknown organizer is
/// [`crate::StoreError::NotFound`] on writes.
#[async_trait]
pub trait PrivilegeStore: Send + Sync {
    /// Injects already-validated privileges in one transaction under the organizer's
    /// chain lock; one result per privilege, in order (rules:
    /// [`tixbridge_core::privilege::plan_inject`]). Actor `ORGANIZER_API`.
    async fn inject_privileges(
        &self,
        organizer_id: i64,
        privileges: Vec<Privilege>,
        at: DateTime<Utc>,
    ) -> Result<Vec<ItemResult>>;

    /// Asks for deletions (rules: [`tixbridge_core::privilege::plan_delete`]): one
    /// result per request, in order; a deletion becomes due for confirmation
    /// `settings.deletion_delay` after `at`.
    async fn delete_privileges(
        &self,
        organizer_id: i64,
        deletions: Vec<PrivilegeDeletion>,
        at: DateTime<Utc>,
        settings: Settings,
    ) -> Result<Vec<ItemResult>>;

    /// The privilege as injected (with its current definition), its state and whole
    /// history; `None` when unknown to this organizer.
    async fn privilege(
        &self,
        organizer_id: i64,
        privilege_id: &str,
    ) -> Result<Option<PrivilegeRecord>>;

    /// The privileges changed after `after_seq` (tixbridge's change-feed extension,
    /// `privileges=include`), oldest change first, at most `limit`, each with its
    /// status-log entries after `history_after` (0: its whole history). By an index on
    /// the change sequence, from one snapshot.
    async fn privilege_diff_since(
        &self,
        organizer_id: i64,
        after_seq: i64,
        limit: usize,
        history_after: i64,
    ) -> Result<Vec<PrivilegeState>>;

    /// Privileges of every organizer whose deletion is due (`due_at <= now`),
    /// earliest first, at most `limit`.
    async fn due_privileges(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<DuePrivilege>>;

    /// Confirms the listed privileges' deletions that are due at `at` (→ `DELETED`,
    /// actor `SYSTEM`); the others are left alone. Answers how many were confirmed.
    async fn confirm_privilege_deletions(
        &self,
        organizer_id: i64,
        privilege_ids: Vec<String>,
        at: DateTime<Utc>,
    ) -> Result<usize>;

    /// Privilege rows by privilege id after `after_privilege_id`, with their last
    /// entry (as [`TicketHead`]s: the id is the privilege id).
    async fn privilege_heads(
        &self,
        organizer_id: i64,
        after_privilege_id: &str,
        limit: usize,
    ) -> Result<Vec<TicketHead>>;

    /// One sweep of the service's background work for privileges: confirms every
    /// deletion due at `now`, up to `limit`, organizer by organizer. Answers how many
    /// were confirmed. Safe to run from several workers: a privilege confirmed by
    /// another is skipped.
    async fn confirm_due_privileges(&self, now: DateTime<Utc>, limit: usize) -> Result<usize> {
        let due = self.due_privileges(now, limit).await?;
        let mut by_org: Vec<(i64, Vec<String>)> = Vec::new();
        for d in due {
            match by_org.iter_mut().find(|(o, _)| *o == d.organizer_id) {
                Some((_, ids)) => ids.push(d.privilege_id),
                None => by_org.push((d.organizer_id, vec![d.privilege_id])),
            }
        }
        let mut confirmed = 0;
        for (org, ids) in by_org {
            confirmed += self.confirm_privilege_deletions(org, ids, now).await?;
        }
        Ok(confirmed)
    }

    /// Checks every privilege row against the log entry at its `change_seq` (same
    /// id, status and owner), page by page: `None` when all agree, else the failed
    /// verification naming the privilege. The chain itself is checked by
    /// [`crate::WalletStore::verify`]; this completes it for privilege rows.
    async fn verify_privileges(
        &self,
        organizer_id: i64,
        entries: i64,
    ) -> Result<Option<Verification>> {
        let mut after = String::new();
        loop {
            let page = self
                .privilege_heads(organizer_id, &after, VERIFY_PAGE)
                .await?;
            for t in &page {
                let agrees = t.entry.as_ref().is_some_and(|(id, status, owner)| {
                    *id == t.ticket_id
                        && *status == t.status
                        && owner.as_deref().map(str::to_ascii_lowercase)
                            == t.owner_email.as_deref().map(str::to_ascii_lowercase)
                });
                if !agrees {
                    return Ok(Some(Verification {
                        entries,
                        valid: false,
                        broken_seq: Some(t.change_seq),
                        ticket_id: Some(t.ticket_id.clone()),
                        message: Some(format!(
                            "privilege {} ({}, owner {}) disagrees with its last log entry {}",
                            t.ticket_id,
                            t.status,
                            t.owner_email.as_deref().unwrap_or("none"),
                            t.change_seq
                        )),
                    }));
                }
            }
            match page.last() {
                Some(t) if page.len() == VERIFY_PAGE => after.clone_from(&t.ticket_id),
                _ => return Ok(None),
            }
        }
    }
}
