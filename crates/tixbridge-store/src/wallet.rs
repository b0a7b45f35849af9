//! The wallet store's trait and the records it exchanges.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use tixbridge_core::api::{
    AppTickets, EventStatistics, EventSummary, ItemResult, LogEntry, Ticket, TicketList,
    TicketRecord, TicketState, Verification,
};
use tixbridge_core::ledger::{ChainHead, ChainVerifier};
use tixbridge_core::lifecycle::{Op, OpResult, Settings};
use tixbridge_core::status::WalletStatus;

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organizer {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// Who caused a change, as the track record names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Actor {
    OrganizerApi,
    App,
    BackOffice,
    System,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::OrganizerApi => "ORGANIZER_API",
            Actor::App => "APP",
            Actor::BackOffice => "BACK_OFFICE",
            Actor::System => "SYSTEM",
        }
    }
}

/// Filters of `GET /organizer/tickets`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketQuery {
    pub event_id: Option<String>,
    pub status: Option<WalletStatus>,
    /// Matches ticket id, tax number or barcode exactly, or the owner's email without
    /// regard to ASCII case (`lifecycle::email_key`).
    pub q: Option<String>,
    pub limit: usize,
    pub offset: usize,
    /// Keyset paging (tixbridge's extension, the contract's `paginationKey`): only
    /// tickets whose id sorts after this one, byte by byte. `total` counts every
    /// ticket the filters match on the first page (an empty key) and is `-1` (not
    /// counted) on the others, so that every page costs the same at any depth.
    pub after: Option<String>,
}

impl TicketQuery {
    /// Whether `total` is counted: always, but on keyset pages after the first.
    pub fn counts_total(&self) -> bool {
        self.after.as_deref().is_none_or(str::is_empty)
    }
}

/// A ticket whose service action is due: a transfer to time out, a deletion to
/// confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTicket {
    pub organizer_id: i64,
    pub ticket_id: String,
    pub status: WalletStatus,
}

/// Filters of the track-record report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Entries with a greater seq (the pagination key).
    pub after_seq: i64,
    /// Entries at or after this time (RFC 3339 UTC millis, compared as text).
    pub from: Option<String>,
    /// Entries strictly before this time.
    pub to: Option<String>,
    pub limit: usize,
}

/// A ticket row's current status and owner next to what its last log entry says;
/// `verify` compares them to catch a row altered behind the log's back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketHead {
    pub ticket_id: String,
    pub status: String,
    pub owner_email: Option<String>,
    pub change_seq: i64,
    /// The entry at `change_seq`, if there is one: its ticket id, to-status and
    /// to-owner.
    pub entry: Option<(String, String, Option<String>)>,
    /// The seq of the row's first entry (its creation), as its `log_seqs` lists it.
    pub first_seq: Option<i64>,
}

/// Size of the pages `verify` reads the chain by.
pub const VERIFY_PAGE: usize = 10_000;

/// The wallet service's storage. Organizers are isolated: every read and write takes
/// the organizer id and never sees another organizer's rows.
#[async_trait]
pub trait WalletStore: crate::PrivilegeStore + Send + Sync {
    /// Stores a new organizer with the SHA-256 (hex) of its API key; the key itself is
    /// never stored.
    async fn create_organizer(&self, name: &str, api_key_sha256: &str) -> Result<Organizer>;
    /// The organizer whose API key has this SHA-256 (hex), if any.
    async fn organizer_by_key(&self, api_key_sha256: &str) -> Result<Option<Organizer>>;
    /// Replaces the organizer's API key by the one with this SHA-256: the old key stops
    /// matching with this call's commit. An unknown organizer is `NotFound`; a hash
    /// another organizer holds is `Conflict`.
    async fn rotate_key(&self, organizer_id: i64, api_key_sha256: &str) -> Result<Organizer>;

    /// Injects already-validated tickets in one transaction and answers one result per
    /// ticket in order: new → `INJECTED` (event created or updated, one log entry);
    /// identical re-injection → `OK`, nothing changes; different content → updated
    /// (the owner only while not yet downloaded), one log entry; a `DELETION_PENDING` or
    /// `DELETED` ticket id → `KO` `TICKET_DELETED`; a barcode the organizer's registry
    /// gives to another ticket id → `KO` `DUPLICATE_BARCODE` naming it. Every accepted
    /// barcode is registered to its ticket id for good (`ledger::plan_inject`).
    async fn inject(
        &self,
        organizer_id: i64,
        tickets: Vec<Ticket>,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> Result<Vec<ItemResult>>;

    async fn ticket(&self, organizer_id: i64, ticket_id: &str) -> Result<Option<TicketRecord>>;
    async fn tickets(&self, organizer_id: i64, query: &TicketQuery) -> Result<TicketList>;
    async fn events(&self, organizer_id: i64) -> Result<Vec<EventSummary>>;
    async fn event_statistics(
        &self,
        organizer_id: i64,
        event_id: &str,
    ) -> Result<Option<EventStatistics>>;
    /// Status-log entries with `seq > after_seq`, oldest first.
    async fn status_log(
        &self,
        organizer_id: i64,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<LogEntry>>;
    /// Applies lifecycle actions (app, organizer, back office, service) in one
    /// transaction under the organizer's chain lock, with
    /// [`tixbridge_core::lifecycle::plan_actions`]: one result per op, in order; every
    /// change one chained log entry; refusals change nothing. Also keeps the row's
    /// `owner_email`, pending recipient and `due_at` that the app listing and the
    /// service's background work read by.
    async fn apply(
        &self,
        organizer_id: i64,
        ops: Vec<Op>,
        at: DateTime<Utc>,
        settings: Settings,
    ) -> Result<Vec<OpResult>>;

    /// The change feed: tickets whose `change_seq > after_seq`, by `change_seq`, at
    /// most `limit`, each with its latest state and its log entries with seq >
    /// `after_seq` as history. Reads by the `(organizer_id, change_seq)` index only.
    async fn diff(
        &self,
        organizer_id: i64,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<TicketState>> {
        self.diff_since(organizer_id, after_seq, limit, after_seq)
            .await
    }

    /// [`WalletStore::diff`], each ticket with its status-log entries after
    /// `history_after` instead of after the key (0: its whole history) — tixbridge's
    /// `history=all` extension, for a reader that must not miss the entries of a ticket
    /// paged late.
    async fn diff_since(
        &self,
        organizer_id: i64,
        after_seq: i64,
        limit: usize,
        history_after: i64,
    ) -> Result<Vec<TicketState>>;

    /// A spectator's tickets by (lower-cased) email: owned and not deleted; deleted
    /// with `showDeletedTicket`; pending transfers to them. Ordered by ticket id;
    /// histories empty.
    async fn app_tickets(&self, organizer_id: i64, email: &str) -> Result<AppTickets>;

    /// Tickets of every organizer whose `due_at <= now`, earliest first.
    async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<DueTicket>>;

    /// The track-record report: entries by seq with the filters of `query`.
    async fn report(&self, organizer_id: i64, query: &LogQuery) -> Result<Vec<LogEntry>>;

    /// The organizer's chain head as the organizer row keeps it.
    async fn chain_head(&self, organizer_id: i64) -> Result<ChainHead>;

    /// Ticket rows by ticket id after `after_ticket_id`, with their last entry.
    async fn ticket_heads(
        &self,
        organizer_id: i64,
        after_ticket_id: &str,
        limit: usize,
    ) -> Result<Vec<TicketHead>>;

    /// Every organizer, by id.
    async fn organizers(&self) -> Result<Vec<Organizer>>;

    /// Recomputes the organizer's whole chain page by page (constant memory), checks
    /// it ends at the head the organizer row keeps (nothing removed at the end), then
    /// checks every ticket row against its last entry (nothing altered behind the
    /// log). The first break is reported.
    async fn verify(&self, organizer_id: i64) -> Result<Verification> {
        let broken =
            |v: &ChainVerifier, seq: i64, ticket: Option<String>, msg: String| Verification {
                entries: v.entries(),
                valid: false,
                broken_seq: Some(seq),
                ticket_id: ticket,
                message: Some(msg),
            };
        // The chain is checked up to the head read now: entries written while the
        // check runs are not part of it (nor a sign of tampering).
        let head = self.chain_head(organizer_id).await?;
        let mut v = ChainVerifier::default();
        // Tickets the chain says were created; compared with the rows found below.
        let mut created: i64 = 0;
        while v.entries() < head.seq {
            let want = usize::try_from(head.seq - v.entries())
                .unwrap_or(VERIFY_PAGE)
                .min(VERIFY_PAGE);
            let page = self.status_log(organizer_id, v.entries(), want).await?;
            for e in &page {
                if e.action == tixbridge_core::ledger::ACTION_INJECT {
                    created += 1;
                }
                if let Err(seq) = v.push(e) {
                    return Ok(broken(
                        &v,
                        seq,
                        None,
                        format!(
                            "entry {seq} does not continue the chain: it was altered, removed or inserted"
                        ),
                    ));
                }
            }
            if page.len() < want {
                break;
            }
        }
        if v.head() != head {
            let seq = v.entries() + 1;
            return Ok(broken(
                &v,
                seq.min(head.seq.max(1)),
                None,
                format!(
                    "the chain ends at entry {} but the organizer's head is entry {}: entries were removed",
                    v.entries(),
                    head.seq
                ),
            ));
        }
        let mut after = String::new();
        let mut rows: i64 = 0;
        loop {
            let page = self.ticket_heads(organizer_id, &after, VERIFY_PAGE).await?;
            for t in &page {
                // Rows created after the head read are not part of this check.
                if t.first_seq.is_none_or(|s| s <= head.seq) {
                    rows += 1;
                }
                let agrees = t.entry.as_ref().is_some_and(|(id, status, owner)| {
                    *id == t.ticket_id
                        && *status == t.status
                        && owner.as_deref().map(str::to_ascii_lowercase)
                            == t.owner_email.as_deref().map(str::to_ascii_lowercase)
                });
                if !agrees {
                    return Ok(broken(
                        &v,
                        t.change_seq,
                        Some(t.ticket_id.clone()),
                        format!(
                            "ticket {} ({}, owner {}) disagrees with its last log entry {}",
                            t.ticket_id,
                            t.status,
                            t.owner_email.as_deref().unwrap_or("none"),
                            t.change_seq
                        ),
                    ));
                }
            }
            match page.last() {
                Some(t) if page.len() == VERIFY_PAGE => after.clone_from(&t.ticket_id),
                _ => break,
            }
        }
        if rows != created {
            return Ok(Verification {
                entries: v.entries(),
                valid: false,
                message: Some(format!(
                    "the track record created {created} tickets but {rows} ticket rows exist: \
                     a ticket row was deleted or added behind the log"
                )),
                ..Default::default()
            });
        }
        if let Some(broken) = self.verify_privileges(organizer_id, v.entries()).await? {
            return Ok(broken);
        }
        Ok(Verification {
            entries: v.entries(),
            valid: true,
            ..Default::default()
        })
    }

    /// Number of tickets per wallet status.
    async fn count_by_status(&self, organizer_id: i64) -> Result<Vec<(WalletStatus, u64)>>;
    /// Database reachable.
    async fn ping(&self) -> Result<()>;
}
