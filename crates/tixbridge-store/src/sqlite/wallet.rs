//! SQLite backend of the wallet store.
//!
//! An injection call is one [`Db::write`] hop: read the organizer's chain head and the
//! current state of the call's tickets, plan with [`ledger::plan_inject`], write the
//! plan with cached prepared statements, commit. Indexes are kept to what reads need
//! (the change feed by `change_seq`, an event's tickets), because every index is paid
//! on each of the many thousands of rows written per second. A ticket's history is
//! found through the seqs its row lists (`log_seqs`), not through an index on the log
//! by ticket id: that index alone cost about 15 % of the injection rate.
//!
//! Searching by tax number, barcode or owner email (`q`) scans the organizer's
//! tickets: a rare back-office lookup does not justify three indexes paid on every write.
//!
//! Every change to a ticket must append one log entry, set `change_seq` to its seq and
//! append the seq to `log_seqs`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use tixbridge_core::api::{
    EventStatistics, EventSummary, ItemResult, LogEntry, Ticket, TicketList, TicketRecord,
};
use tixbridge_core::ledger::{self, ChainHead, CurrentTicket, StoredTicket};
use tixbridge_core::status::WalletStatus;

use super::Db;
use crate::{Actor, Organizer, Result, StoreError, TicketQuery, WalletStore};

/// Append-only: never edit a migration that has landed. Tables carry a `wallet_`
/// prefix so that a wallet and a ticketing store may share one database file.
const MIGRATIONS: &[(&str, &str)] = &[(
    "wallet-0001-initial",
    "
    CREATE TABLE wallet_organizers (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        api_key_sha256 TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        last_hash TEXT NOT NULL
    );
    CREATE TABLE wallet_events (
        organizer_id INTEGER NOT NULL REFERENCES wallet_organizers (id),
        event_id TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (organizer_id, event_id)
    ) WITHOUT ROWID;
    CREATE TABLE wallet_tickets (
        organizer_id INTEGER NOT NULL REFERENCES wallet_organizers (id),
        ticket_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        tax_number TEXT,
        barcode TEXT,
        status TEXT NOT NULL,
        content TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        owner TEXT,
        initial_owner TEXT,
        previous_owner TEXT,
        holder TEXT,
        transfer_level INTEGER NOT NULL DEFAULT 0,
        deletion TEXT,
        status_changed_at TEXT NOT NULL,
        change_seq INTEGER NOT NULL,
        log_seqs TEXT NOT NULL,
        PRIMARY KEY (organizer_id, ticket_id)
    );
    CREATE INDEX wallet_tickets_change ON wallet_tickets (organizer_id, change_seq);
    CREATE INDEX wallet_tickets_event ON wallet_tickets (organizer_id, event_id, status);
    CREATE TABLE wallet_status_log (
        organizer_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
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
    ) WITHOUT ROWID;
    ",
)];

/// Opens (creating or migrating) the wallet store in the SQLite file at `path`.
pub async fn open_wallet(path: &Path) -> Result<Arc<dyn WalletStore>> {
    open_wallet_with(path, super::Durability::Normal).await
}

/// Opens the wallet store with the given commit durability.
pub async fn open_wallet_with(
    path: &Path,
    durability: super::Durability,
) -> Result<Arc<dyn WalletStore>> {
    let db = Db::open(path, MIGRATIONS, durability).await?;
    Ok(Arc::new(SqliteWallet { db }))
}

struct SqliteWallet {
    db: Db,
}

const TICKET_COLUMNS: &str = "ticket_id, event_id, tax_number, status, status_changed_at, \
     owner, initial_owner, previous_owner, holder, transfer_level, deletion";

const LOG_COLUMNS: &str = "seq, at, ticket_id, action, from_status, to_status, from_owner, \
     to_owner, actor, prev_hash, hash";

fn stored_ticket(r: &Row<'_>) -> rusqlite::Result<StoredTicket> {
    Ok(StoredTicket {
        ticket_id: r.get(0)?,
        event_id: r.get(1)?,
        tax_number: r.get(2)?,
        status: r.get(3)?,
        status_changed_at: r.get(4)?,
        owner: r.get(5)?,
        initial_owner: r.get(6)?,
        previous_owner: r.get(7)?,
        holder: r.get(8)?,
        transfer_level: r.get(9)?,
        deletion: r.get(10)?,
    })
}

fn log_entry(r: &Row<'_>) -> rusqlite::Result<LogEntry> {
    Ok(LogEntry {
        seq: r.get(0)?,
        at: r.get(1)?,
        ticket_id: r.get(2)?,
        action: r.get(3)?,
        from_status: r.get(4)?,
        to_status: r.get(5)?,
        from_owner: r.get(6)?,
        to_owner: r.get(7)?,
        actor: r.get(8)?,
        prev_hash: r.get(9)?,
        hash: r.get(10)?,
    })
}

fn organizer(r: &Row<'_>) -> rusqlite::Result<(i64, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn to_organizer((id, name, created_at): (i64, String, String)) -> Result<Organizer> {
    let created_at = DateTime::parse_from_rfc3339(&created_at)
        .map_err(|e| StoreError::Backend(format!("organizer {id}: bad created_at: {e}")))?
        .with_timezone(&Utc);
    Ok(Organizer {
        id,
        name,
        created_at,
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// The statement's WHERE clause and parameters for a ticket query. Built from the
/// filters present, so that SQLite plans each shape with the right index instead of
/// one plan full of `? IS NULL OR …`.
fn ticket_filter(organizer_id: i64, q: &TicketQuery) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut sql = String::from("organizer_id = ?");
    let mut args = vec![Value::Integer(organizer_id)];
    if let Some(e) = &q.event_id {
        sql.push_str(" AND event_id = ?");
        args.push(Value::Text(e.clone()));
    }
    if let Some(s) = q.status {
        sql.push_str(" AND status = ?");
        args.push(Value::Text(s.as_str().to_owned()));
    }
    if let Some(text) = &q.q {
        sql.push_str(
            " AND (ticket_id = ? OR tax_number = ? OR barcode = ? \
             OR json_extract(owner, '$.email') = ?)",
        );
        for _ in 0..4 {
            args.push(Value::Text(text.clone()));
        }
    }
    (sql, args)
}

/// The log entries with these seqs, by primary key.
fn log_entries(conn: &Connection, organizer_id: i64, seqs: &[i64]) -> Result<Vec<LogEntry>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {LOG_COLUMNS} FROM wallet_status_log WHERE organizer_id = ?1 AND seq = ?2"
    ))?;
    let mut out = Vec::with_capacity(seqs.len());
    for seq in seqs {
        out.push(st.query_row(params![organizer_id, seq], log_entry)?);
    }
    Ok(out)
}

fn parse_status(s: &str) -> Result<WalletStatus> {
    s.parse().map_err(StoreError::Backend)
}

#[async_trait]
impl WalletStore for SqliteWallet {
    async fn create_organizer(&self, name: &str, api_key_sha256: &str) -> Result<Organizer> {
        let name = name.to_owned();
        let key = api_key_sha256.to_owned();
        let stored_name = name.clone();
        // Stored at millisecond precision; the answer carries the stored value so that
        // it equals what `organizer_by_key` reads back.
        let at = ledger::format_at(Utc::now());
        let created = at.clone();
        let id = self
            .db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO wallet_organizers (name, api_key_sha256, created_at, last_seq, last_hash) \
                     VALUES (?1, ?2, ?3, 0, ?4)",
                    params![name, key, created, tixbridge_core::hash::GENESIS_HASH],
                )
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Conflict(
                            "an organizer with this API key already exists; generate another key"
                                .into(),
                        )
                    } else {
                        e.into()
                    }
                })?;
                Ok(tx.last_insert_rowid())
            })
            .await?;
        to_organizer((id, stored_name, at))
    }

    async fn organizer_by_key(&self, api_key_sha256: &str) -> Result<Option<Organizer>> {
        let key = api_key_sha256.to_owned();
        let row = self
            .db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT id, name, created_at FROM wallet_organizers WHERE api_key_sha256 = ?1",
                    )?
                    .query_row([key], organizer)
                    .optional()?)
            })
            .await?;
        row.map(to_organizer).transpose()
    }

    async fn inject(
        &self,
        organizer_id: i64,
        tickets: Vec<Ticket>,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> Result<Vec<ItemResult>> {
        let at = ledger::format_at(at);
        // Serialising and hashing happen here, on the async side, so the single
        // writer thread spends its time on SQLite only.
        let prepared = ledger::prepare(tickets);
        self.db
            .write(move |tx| {
                let head = tx
                    .prepare_cached(
                        "SELECT last_seq, last_hash FROM wallet_organizers WHERE id = ?1",
                    )?
                    .query_row([organizer_id], |r| {
                        Ok(ChainHead {
                            seq: r.get(0)?,
                            hash: r.get(1)?,
                        })
                    })
                    .optional()?
                    .ok_or_else(|| {
                        StoreError::NotFound(format!("organizer {organizer_id} does not exist"))
                    })?;

                let mut current = HashMap::new();
                {
                    let mut st = tx.prepare_cached(
                        "SELECT status, content_hash, owner FROM wallet_tickets \
                         WHERE organizer_id = ?1 AND ticket_id = ?2",
                    )?;
                    for id in prepared.iter().filter_map(|p| p.ticket.ticket_id.as_deref()) {
                        if current.contains_key(id) {
                            continue;
                        }
                        let row = st
                            .query_row(params![organizer_id, id], |r| {
                                Ok((
                                    r.get::<_, String>(0)?,
                                    r.get::<_, String>(1)?,
                                    r.get::<_, Option<String>>(2)?,
                                ))
                            })
                            .optional()?;
                        if let Some((status, content_hash, owner)) = row {
                            current.insert(
                                id.to_owned(),
                                CurrentTicket {
                                    status: parse_status(&status)?,
                                    content_hash,
                                    owner: ledger::json_column("owner", owner)
                                        .map_err(StoreError::Backend)?,
                                },
                            );
                        }
                    }
                }

                let plan = ledger::plan_inject(prepared, current, head, actor.as_str(), &at);
                if plan.is_empty() {
                    return Ok(plan.results);
                }

                {
                    // Rewriting an unchanged event would dirty its page for nothing.
                    let mut st = tx.prepare_cached(
                        "INSERT INTO wallet_events (organizer_id, event_id, data) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (organizer_id, event_id) DO UPDATE SET data = excluded.data \
                         WHERE data IS NOT excluded.data",
                    )?;
                    for e in &plan.events {
                        st.execute(params![organizer_id, e.event_id, e.data])?;
                    }
                }
                {
                    let mut st = tx.prepare_cached(
                        "INSERT INTO wallet_tickets (organizer_id, ticket_id, event_id, tax_number, \
                         barcode, status, content, content_hash, owner, initial_owner, transfer_level, \
                         status_changed_at, change_seq, log_seqs) \
                         VALUES (?1, ?2, ?3, ?4, ?5, 'INJECTED', ?6, ?7, ?8, ?8, 0, ?9, ?10, ?11) \
                         ON CONFLICT (organizer_id, ticket_id) DO UPDATE SET \
                         event_id = excluded.event_id, tax_number = excluded.tax_number, \
                         barcode = excluded.barcode, content = excluded.content, \
                         content_hash = excluded.content_hash, owner = excluded.owner, \
                         change_seq = excluded.change_seq, \
                         log_seqs = log_seqs || ',' || excluded.log_seqs",
                    )?;
                    for t in &plan.tickets {
                        st.execute(params![
                            organizer_id,
                            t.ticket_id,
                            t.event_id,
                            t.tax_number,
                            t.barcode,
                            t.content,
                            t.content_hash,
                            t.owner,
                            at,
                            t.change_seq,
                            t.log_seqs,
                        ])?;
                    }
                }
                {
                    let mut st = tx.prepare_cached(
                        "INSERT INTO wallet_status_log (organizer_id, seq, at, ticket_id, action, \
                         from_status, to_status, from_owner, to_owner, actor, prev_hash, hash) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    )?;
                    for e in &plan.entries {
                        st.execute(params![
                            organizer_id,
                            e.seq,
                            e.at,
                            e.ticket_id,
                            e.action,
                            e.from_status,
                            e.to_status,
                            e.from_owner,
                            e.to_owner,
                            e.actor,
                            e.prev_hash,
                            e.hash,
                        ])?;
                    }
                }
                tx.prepare_cached(
                    "UPDATE wallet_organizers SET last_seq = ?2, last_hash = ?3 WHERE id = ?1",
                )?
                .execute(params![organizer_id, plan.head.seq, plan.head.hash])?;
                Ok(plan.results)
            })
            .await
    }

    async fn ticket(&self, organizer_id: i64, ticket_id: &str) -> Result<Option<TicketRecord>> {
        let ticket_id = ticket_id.to_owned();
        self.db
            .read(move |conn| {
                // One snapshot for the row and its history.
                conn.execute_batch("BEGIN")?;
                let r = (|| {
                    let row = conn
                        .prepare_cached(&format!(
                            "SELECT {TICKET_COLUMNS}, content, log_seqs FROM wallet_tickets \
                             WHERE organizer_id = ?1 AND ticket_id = ?2"
                        ))?
                        .query_row(params![organizer_id, ticket_id], |r| {
                            Ok((
                                stored_ticket(r)?,
                                r.get::<_, String>(11)?,
                                r.get::<_, String>(12)?,
                            ))
                        })
                        .optional()?;
                    let Some((row, content, seqs)) = row else {
                        return Ok(None);
                    };
                    let mut state = row.into_state().map_err(StoreError::Backend)?;
                    let seqs = ledger::parse_log_seqs(&seqs).map_err(StoreError::Backend)?;
                    state.history = log_entries(conn, organizer_id, &seqs)?;
                    let ticket: Ticket = serde_json::from_str(&content).map_err(|e| {
                        StoreError::Backend(format!("stored ticket {ticket_id}: {e}"))
                    })?;
                    Ok(Some(TicketRecord { ticket, state }))
                })();
                conn.execute_batch("COMMIT")?;
                r
            })
            .await
    }

    async fn tickets(&self, organizer_id: i64, query: &TicketQuery) -> Result<TicketList> {
        let query = query.clone();
        self.db
            .read(move |conn| {
                let (filter, args) = ticket_filter(organizer_id, &query);
                conn.execute_batch("BEGIN")?;
                let r = (|| {
                    let total: i64 = conn
                        .prepare_cached(&format!(
                            "SELECT COUNT(*) FROM wallet_tickets WHERE {filter}"
                        ))?
                        .query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?;
                    let mut args = args;
                    args.push(rusqlite::types::Value::Integer(
                        i64::try_from(query.limit).unwrap_or(i64::MAX),
                    ));
                    args.push(rusqlite::types::Value::Integer(
                        i64::try_from(query.offset).unwrap_or(i64::MAX),
                    ));
                    let mut st = conn.prepare_cached(&format!(
                        "SELECT {TICKET_COLUMNS} FROM wallet_tickets WHERE {filter} \
                         ORDER BY ticket_id LIMIT ? OFFSET ?"
                    ))?;
                    let rows = st
                        .query_map(rusqlite::params_from_iter(args.iter()), stored_ticket)?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    let tickets = rows
                        .into_iter()
                        .map(|r| r.into_state().map_err(StoreError::Backend))
                        .collect::<Result<Vec<_>>>()?;
                    Ok(TicketList { total, tickets })
                })();
                conn.execute_batch("COMMIT")?;
                r
            })
            .await
    }

    async fn events(&self, organizer_id: i64) -> Result<Vec<EventSummary>> {
        self.db
            .read(move |conn| {
                let mut st = conn.prepare_cached(
                    "SELECT data FROM wallet_events WHERE organizer_id = ?1 ORDER BY event_id",
                )?;
                let rows = st
                    .query_map([organizer_id], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                rows.iter()
                    .map(|d| {
                        serde_json::from_str(d)
                            .map_err(|e| StoreError::Backend(format!("stored event: {e}")))
                    })
                    .collect()
            })
            .await
    }

    async fn event_statistics(
        &self,
        organizer_id: i64,
        event_id: &str,
    ) -> Result<Option<EventStatistics>> {
        let event_id = event_id.to_owned();
        self.db
            .read(move |conn| {
                conn.execute_batch("BEGIN")?;
                let r = (|| {
                    let exists: bool = conn
                        .prepare_cached(
                            "SELECT EXISTS(SELECT 1 FROM wallet_events \
                             WHERE organizer_id = ?1 AND event_id = ?2)",
                        )?
                        .query_row(params![organizer_id, event_id], |r| r.get(0))?;
                    if !exists {
                        return Ok(None);
                    }
                    let mut st = conn.prepare_cached(
                        "SELECT status, COUNT(*) FROM wallet_tickets \
                         WHERE organizer_id = ?1 AND event_id = ?2 GROUP BY status",
                    )?;
                    let rows = st
                        .query_map(params![organizer_id, event_id], |r| {
                            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                        })?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    let counts = rows
                        .iter()
                        .map(|(s, n)| Ok((parse_status(s)?, *n)))
                        .collect::<Result<Vec<_>>>()?;
                    Ok(Some(ledger::event_statistics(&counts)))
                })();
                conn.execute_batch("COMMIT")?;
                r
            })
            .await
    }

    async fn status_log(
        &self,
        organizer_id: i64,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<LogEntry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .read(move |conn| {
                let mut st = conn.prepare_cached(&format!(
                    "SELECT {LOG_COLUMNS} FROM wallet_status_log \
                     WHERE organizer_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
                ))?;
                let rows = st.query_map(params![organizer_id, after_seq, limit], log_entry)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn count_by_status(&self, organizer_id: i64) -> Result<Vec<(WalletStatus, u64)>> {
        self.db
            .read(move |conn| {
                let mut st = conn.prepare_cached(
                    "SELECT status, COUNT(*) FROM wallet_tickets WHERE organizer_id = ?1 \
                     GROUP BY status ORDER BY status",
                )?;
                let rows = st
                    .query_map([organizer_id], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                rows.iter()
                    .map(|(s, n)| Ok((parse_status(s)?, u64::try_from(*n).unwrap_or(0))))
                    .collect()
            })
            .await
    }

    async fn ping(&self) -> Result<()> {
        self.db
            .read(|conn| {
                conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
                Ok(())
            })
            .await
    }
}
