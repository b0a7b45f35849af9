//! PostgreSQL backend of the wallet store.
//!
//! An injection call is one transaction: lock the organizer row (`FOR UPDATE`), which
//! serialises that organizer's hash chain across connections and processes; read the
//! call's tickets with one `= ANY($2)` query; plan with [`ledger::plan_inject`]; write
//! events, tickets and log entries with one multi-row `UNNEST` statement each.
//!
//! As on SQLite, a ticket's history is found through the seqs its row lists
//! (`log_seqs`) rather than an index on the log by ticket id. Every change to a ticket
//! must append one log entry, set `change_seq` to its seq and append the seq to
//! `log_seqs`. Searching by tax number, barcode or owner email (`q`) scans the
//! organizer's tickets: a rare back-office lookup does not justify three indexes paid
//! on every write.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{QueryBuilder, Row};

use tixbridge_core::api::{
    EventStatistics, EventSummary, ItemResult, LogEntry, Ticket, TicketList, TicketRecord,
};
use tixbridge_core::hash::GENESIS_HASH;
use tixbridge_core::ledger::{self, ChainHead, CurrentTicket, StoredTicket};
use tixbridge_core::status::WalletStatus;

use crate::{Actor, Organizer, Result, StoreError, TicketQuery, WalletStore};

/// Append-only: never edit a migration that has landed. Tables carry a `wallet_`
/// prefix so that a wallet and a ticketing store may share one schema. Times of the
/// track record are text: the hash covers their exact spelling.
const MIGRATIONS: &[(&str, &str)] = &[(
    "wallet-0001-initial",
    "
    CREATE TABLE wallet_organizers (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL,
        api_key_sha256 TEXT NOT NULL UNIQUE,
        created_at TIMESTAMPTZ NOT NULL,
        last_seq BIGINT NOT NULL DEFAULT 0,
        last_hash TEXT NOT NULL
    );
    CREATE TABLE wallet_events (
        organizer_id BIGINT NOT NULL REFERENCES wallet_organizers (id),
        event_id TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (organizer_id, event_id)
    );
    CREATE TABLE wallet_tickets (
        organizer_id BIGINT NOT NULL REFERENCES wallet_organizers (id),
        ticket_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        tax_number TEXT,
        barcode TEXT,
        status TEXT NOT NULL,
        content TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        owner JSONB,
        initial_owner JSONB,
        previous_owner JSONB,
        holder JSONB,
        transfer_level BIGINT NOT NULL DEFAULT 0,
        deletion JSONB,
        status_changed_at TEXT NOT NULL,
        change_seq BIGINT NOT NULL,
        log_seqs TEXT NOT NULL,
        PRIMARY KEY (organizer_id, ticket_id)
    );
    CREATE INDEX wallet_tickets_change ON wallet_tickets (organizer_id, change_seq);
    CREATE INDEX wallet_tickets_event ON wallet_tickets (organizer_id, event_id, status);
    CREATE TABLE wallet_status_log (
        organizer_id BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        at TEXT NOT NULL,
        ticket_id TEXT NOT NULL,
        action TEXT NOT NULL,
        from_status TEXT,
        to_status TEXT NOT NULL,
        from_owner TEXT,
        to_owner TEXT,
        actor TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (organizer_id, seq)
    );
    ",
)];

/// Opens (creating or migrating) the wallet store at `url` (`?schema=NAME` allowed).
pub async fn open_wallet(url: &str) -> Result<Arc<dyn WalletStore>> {
    let pool = super::connect(url, MIGRATIONS).await?;
    Ok(Arc::new(PgWallet { pool }))
}

struct PgWallet {
    pool: PgPool,
}

const TICKET_COLUMNS: &str = "ticket_id, event_id, tax_number, status, status_changed_at, \
     owner::text, initial_owner::text, previous_owner::text, holder::text, transfer_level, \
     deletion::text";

const LOG_COLUMNS: &str = "seq, at, ticket_id, action, from_status, to_status, from_owner, \
     to_owner, actor, prev_hash, hash";

fn stored_ticket(r: &PgRow) -> Result<StoredTicket> {
    Ok(StoredTicket {
        ticket_id: r.try_get(0)?,
        event_id: r.try_get(1)?,
        tax_number: r.try_get(2)?,
        status: r.try_get(3)?,
        status_changed_at: r.try_get(4)?,
        owner: r.try_get(5)?,
        initial_owner: r.try_get(6)?,
        previous_owner: r.try_get(7)?,
        holder: r.try_get(8)?,
        transfer_level: r.try_get(9)?,
        deletion: r.try_get(10)?,
    })
}

fn log_entry(r: &PgRow) -> Result<LogEntry> {
    Ok(LogEntry {
        seq: r.try_get(0)?,
        at: r.try_get(1)?,
        ticket_id: r.try_get(2)?,
        action: r.try_get(3)?,
        from_status: r.try_get(4)?,
        to_status: r.try_get(5)?,
        from_owner: r.try_get(6)?,
        to_owner: r.try_get(7)?,
        actor: r.try_get(8)?,
        prev_hash: r.try_get(9)?,
        hash: r.try_get(10)?,
    })
}

fn parse_status(s: &str) -> Result<WalletStatus> {
    s.parse().map_err(StoreError::Backend)
}

/// Adds the WHERE clause of a ticket query, with only the filters present.
fn push_filter(b: &mut QueryBuilder<'_, sqlx::Postgres>, organizer_id: i64, q: &TicketQuery) {
    b.push(" WHERE organizer_id = ").push_bind(organizer_id);
    if let Some(e) = &q.event_id {
        b.push(" AND event_id = ").push_bind(e.clone());
    }
    if let Some(s) = q.status {
        b.push(" AND status = ").push_bind(s.as_str());
    }
    if let Some(text) = &q.q {
        b.push(" AND (ticket_id = ")
            .push_bind(text.clone())
            .push(" OR tax_number = ")
            .push_bind(text.clone())
            .push(" OR barcode = ")
            .push_bind(text.clone())
            .push(" OR owner->>'email' = ")
            .push_bind(text.clone())
            .push(")");
    }
}

#[async_trait]
impl WalletStore for PgWallet {
    async fn create_organizer(&self, name: &str, api_key_sha256: &str) -> Result<Organizer> {
        // Millisecond precision, like the SQLite store, so both answer the same value.
        let created_at = DateTime::parse_from_rfc3339(&ledger::format_at(Utc::now()))
            .map_err(|e| StoreError::Backend(e.to_string()))?
            .with_timezone(&Utc);
        let r = sqlx::query(
            "INSERT INTO wallet_organizers (name, api_key_sha256, created_at, last_seq, last_hash) \
             VALUES ($1, $2, $3, 0, $4) RETURNING id",
        )
        .bind(name)
        .bind(api_key_sha256)
        .bind(created_at)
        .bind(GENESIS_HASH)
        .fetch_one(&self.pool)
        .await;
        match r {
            Ok(row) => Ok(Organizer {
                id: row.try_get(0)?,
                name: name.to_owned(),
                created_at,
            }),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
                "an organizer with this API key already exists; generate another key".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    async fn organizer_by_key(&self, api_key_sha256: &str) -> Result<Option<Organizer>> {
        let row = sqlx::query(
            "SELECT id, name, created_at FROM wallet_organizers WHERE api_key_sha256 = $1",
        )
        .bind(api_key_sha256)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Organizer {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                created_at: r.try_get(2)?,
            })
        })
        .transpose()
    }

    async fn inject(
        &self,
        organizer_id: i64,
        tickets: Vec<Ticket>,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> Result<Vec<ItemResult>> {
        let at = ledger::format_at(at);
        // Serialise and hash before taking the organizer's lock, to hold it shorter.
        let prepared = ledger::prepare(tickets);
        let mut tx = self.pool.begin().await?;
        let head = sqlx::query(
            "SELECT last_seq, last_hash FROM wallet_organizers WHERE id = $1 FOR UPDATE",
        )
        .bind(organizer_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("organizer {organizer_id} does not exist")))?;
        let head = ChainHead {
            seq: head.try_get(0)?,
            hash: head.try_get(1)?,
        };

        let ids: Vec<&str> = prepared
            .iter()
            .filter_map(|p| p.ticket.ticket_id.as_deref())
            .collect();
        let rows = sqlx::query(
            "SELECT ticket_id, status, content_hash, owner::text FROM wallet_tickets \
             WHERE organizer_id = $1 AND ticket_id = ANY($2)",
        )
        .bind(organizer_id)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let mut current = HashMap::with_capacity(rows.len());
        for r in rows {
            let status: String = r.try_get(1)?;
            current.insert(
                r.try_get::<String, _>(0)?,
                CurrentTicket {
                    status: parse_status(&status)?,
                    content_hash: r.try_get(2)?,
                    owner: ledger::json_column("owner", r.try_get(3)?)
                        .map_err(StoreError::Backend)?,
                },
            );
        }

        let plan = ledger::plan_inject(prepared, current, head, actor.as_str(), &at);
        if plan.is_empty() {
            tx.rollback().await?;
            return Ok(plan.results);
        }

        let (ev_ids, ev_data): (Vec<&str>, Vec<&str>) = plan
            .events
            .iter()
            .map(|e| (e.event_id.as_str(), e.data.as_str()))
            .unzip();
        sqlx::query(
            "INSERT INTO wallet_events (organizer_id, event_id, data) \
             SELECT $1, u.event_id, u.data FROM UNNEST($2::text[], $3::text[]) AS u (event_id, data) \
             ON CONFLICT (organizer_id, event_id) DO UPDATE SET data = EXCLUDED.data \
             WHERE wallet_events.data IS DISTINCT FROM EXCLUDED.data",
        )
        .bind(organizer_id)
        .bind(&ev_ids)
        .bind(&ev_data)
        .execute(&mut *tx)
        .await?;

        let t = &plan.tickets;
        sqlx::query(
            "INSERT INTO wallet_tickets (organizer_id, ticket_id, event_id, tax_number, barcode, \
             status, content, content_hash, owner, initial_owner, transfer_level, \
             status_changed_at, change_seq, log_seqs) \
             SELECT $1, u.ticket_id, u.event_id, u.tax_number, u.barcode, 'INJECTED', u.content, \
             u.content_hash, u.owner::jsonb, u.owner::jsonb, 0, $2, u.change_seq, u.log_seqs \
             FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
             $9::text[], $10::bigint[], $11::text[]) \
             AS u (ticket_id, event_id, tax_number, barcode, content, content_hash, owner, \
             change_seq, log_seqs) \
             ON CONFLICT (organizer_id, ticket_id) DO UPDATE SET \
             event_id = EXCLUDED.event_id, tax_number = EXCLUDED.tax_number, \
             barcode = EXCLUDED.barcode, content = EXCLUDED.content, \
             content_hash = EXCLUDED.content_hash, owner = EXCLUDED.owner, \
             change_seq = EXCLUDED.change_seq, \
             log_seqs = wallet_tickets.log_seqs || ',' || EXCLUDED.log_seqs",
        )
        .bind(organizer_id)
        .bind(&at)
        .bind(t.iter().map(|t| t.ticket_id.as_str()).collect::<Vec<_>>())
        .bind(t.iter().map(|t| t.event_id.as_str()).collect::<Vec<_>>())
        .bind(
            t.iter()
                .map(|t| t.tax_number.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(t.iter().map(|t| t.barcode.as_deref()).collect::<Vec<_>>())
        .bind(t.iter().map(|t| t.content.as_str()).collect::<Vec<_>>())
        .bind(
            t.iter()
                .map(|t| t.content_hash.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(t.iter().map(|t| t.owner.as_str()).collect::<Vec<_>>())
        .bind(t.iter().map(|t| t.change_seq).collect::<Vec<_>>())
        .bind(t.iter().map(|t| t.log_seqs.as_str()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;

        let e = &plan.entries;
        sqlx::query(
            "INSERT INTO wallet_status_log (organizer_id, seq, at, ticket_id, action, from_status, \
             to_status, from_owner, to_owner, actor, prev_hash, hash) \
             SELECT $1, u.* FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[]) \
             AS u (seq, at, ticket_id, action, from_status, to_status, from_owner, to_owner, \
             actor, prev_hash, hash)",
        )
        .bind(organizer_id)
        .bind(e.iter().map(|e| e.seq).collect::<Vec<_>>())
        .bind(e.iter().map(|e| e.at.as_str()).collect::<Vec<_>>())
        .bind(e.iter().map(|e| e.ticket_id.as_str()).collect::<Vec<_>>())
        .bind(e.iter().map(|e| e.action.as_str()).collect::<Vec<_>>())
        .bind(e.iter().map(|e| e.from_status.as_deref()).collect::<Vec<_>>())
        .bind(e.iter().map(|e| e.to_status.as_str()).collect::<Vec<_>>())
        .bind(e.iter().map(|e| e.from_owner.as_deref()).collect::<Vec<_>>())
        .bind(e.iter().map(|e| e.to_owner.as_deref()).collect::<Vec<_>>())
        .bind(e.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>())
        .bind(e.iter().map(|e| e.prev_hash.as_str()).collect::<Vec<_>>())
        .bind(e.iter().map(|e| e.hash.as_str()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;

        sqlx::query("UPDATE wallet_organizers SET last_seq = $2, last_hash = $3 WHERE id = $1")
            .bind(organizer_id)
            .bind(plan.head.seq)
            .bind(&plan.head.hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(plan.results)
    }

    async fn ticket(&self, organizer_id: i64, ticket_id: &str) -> Result<Option<TicketRecord>> {
        // Repeatable read: the row and its history from one snapshot.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS}, content, log_seqs FROM wallet_tickets \
             WHERE organizer_id = $1 AND ticket_id = $2"
        ))
        .bind(organizer_id)
        .bind(ticket_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let content: String = row.try_get(11)?;
        let seqs =
            ledger::parse_log_seqs(&row.try_get::<String, _>(12)?).map_err(StoreError::Backend)?;
        let mut state = stored_ticket(&row)?
            .into_state()
            .map_err(StoreError::Backend)?;
        let history = sqlx::query(&format!(
            "SELECT {LOG_COLUMNS} FROM wallet_status_log \
             WHERE organizer_id = $1 AND seq = ANY($2) ORDER BY seq"
        ))
        .bind(organizer_id)
        .bind(&seqs)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        state.history = history.iter().map(log_entry).collect::<Result<_>>()?;
        let ticket: Ticket = serde_json::from_str(&content)
            .map_err(|e| StoreError::Backend(format!("stored ticket {ticket_id}: {e}")))?;
        Ok(Some(TicketRecord { ticket, state }))
    }

    async fn tickets(&self, organizer_id: i64, query: &TicketQuery) -> Result<TicketList> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let mut count = QueryBuilder::new("SELECT COUNT(*) FROM wallet_tickets");
        push_filter(&mut count, organizer_id, query);
        let total: i64 = count.build().fetch_one(&mut *tx).await?.try_get(0)?;

        let mut list = QueryBuilder::new(format!("SELECT {TICKET_COLUMNS} FROM wallet_tickets"));
        push_filter(&mut list, organizer_id, query);
        list.push(" ORDER BY ticket_id LIMIT ")
            .push_bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
            .push(" OFFSET ")
            .push_bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
        let rows = list.build().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let tickets = rows
            .iter()
            .map(|r| stored_ticket(r)?.into_state().map_err(StoreError::Backend))
            .collect::<Result<Vec<_>>>()?;
        Ok(TicketList { total, tickets })
    }

    async fn events(&self, organizer_id: i64) -> Result<Vec<EventSummary>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT data FROM wallet_events WHERE organizer_id = $1 ORDER BY event_id",
        )
        .bind(organizer_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|d| {
                serde_json::from_str(d)
                    .map_err(|e| StoreError::Backend(format!("stored event: {e}")))
            })
            .collect()
    }

    async fn event_statistics(
        &self,
        organizer_id: i64,
        event_id: &str,
    ) -> Result<Option<EventStatistics>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS(SELECT 1 FROM wallet_events WHERE organizer_id = $1 AND event_id = $2)",
        )
        .bind(organizer_id)
        .bind(event_id)
        .fetch_one(&mut *tx)
        .await?;
        if !exists {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT status, COUNT(*) FROM wallet_tickets \
             WHERE organizer_id = $1 AND event_id = $2 GROUP BY status",
        )
        .bind(organizer_id)
        .bind(event_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let counts = rows
            .iter()
            .map(|r| {
                let s: String = r.try_get(0)?;
                Ok((parse_status(&s)?, r.try_get::<i64, _>(1)?))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(ledger::event_statistics(&counts)))
    }

    async fn status_log(
        &self,
        organizer_id: i64,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<LogEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {LOG_COLUMNS} FROM wallet_status_log \
             WHERE organizer_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(organizer_id)
        .bind(after_seq)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(log_entry).collect()
    }

    async fn count_by_status(&self, organizer_id: i64) -> Result<Vec<(WalletStatus, u64)>> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) FROM wallet_tickets WHERE organizer_id = $1 \
             GROUP BY status ORDER BY status",
        )
        .bind(organizer_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let s: String = r.try_get(0)?;
                let n: i64 = r.try_get(1)?;
                Ok((parse_status(&s)?, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
