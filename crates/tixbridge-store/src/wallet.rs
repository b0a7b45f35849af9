//! The wallet store's trait and the records it exchanges.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use tixbridge_core::api::{
    EventStatistics, EventSummary, ItemResult, LogEntry, Ticket, TicketList, TicketRecord,
};
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
    /// Matches ticket id, tax number, barcode or owner email exactly.
    pub q: Option<String>,
    pub limit: usize,
    pub offset: usize,
}

/// The wallet service's storage. Organizers are isolated: every read and write takes
/// the organizer id and never sees another organizer's rows.
#[async_trait]
pub trait WalletStore: Send + Sync {
    /// Stores a new organizer with the SHA-256 (hex) of its API key; the key itself is
    /// never stored.
    async fn create_organizer(&self, name: &str, api_key_sha256: &str) -> Result<Organizer>;
    async fn organizer_by_key(&self, api_key_sha256: &str) -> Result<Option<Organizer>>;

    /// Injects already-validated tickets in one transaction and answers one result per
    /// ticket in order: new → `INJECTED` (event created or updated, one log entry);
    /// identical re-injection → `OK`, nothing changes; different content → updated
    /// (the owner only while not yet downloaded), one log entry; a `DELETION_PENDING` or
    /// `DELETED` ticket id → `KO` `TICKET_DELETED`.
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
    /// Number of tickets per wallet status.
    async fn count_by_status(&self, organizer_id: i64) -> Result<Vec<(WalletStatus, u64)>>;
    /// Database reachable.
    async fn ping(&self) -> Result<()>;
}
