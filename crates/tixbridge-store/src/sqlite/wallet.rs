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
//! tickets: a rare back-office lookup does not justify an index on the tax number paid
//! on every write. The email is matched on the `owner_email` column (the lookup key of
//! [`lifecycle::email_key`], which the app's index serves), never inside the JSON.
//!
//! Barcodes: every accepted ticket's barcode is registered in `wallet_barcodes`, whose
//! primary key `(organizer_id, barcode)` makes a barcode one ticket id's for good; an
//! injection reads its call's barcodes from it by primary key before planning.
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
use crate::{DueTicket, LogQuery, TicketHead};
use tixbridge_core::api::{AppTickets, TicketState};
use tixbridge_core::lifecycle::{
    self, Facts, Lifecycle, LifecycleWrite, LoadedTicket, Op, OpResult, Settings,
};

/// Append-only: never edit a migration that has landed. Tables carry a `wallet_`
/// prefix so that a wallet and a ticketing store may share one database file.
const MIGRATIONS: &[(&str, &str)] = &[
    ("wallet-0001-initial", INITIAL),
    ("wallet-0002-lifecycle", LIFECYCLE),
    ("wallet-0003-privileges", super::privileges::MIGRATION),
    ("wallet-0004-contract", CONTRACT),
    (
        "wallet-0005-privilege-changes",
        super::privileges::CHANGE_INDEX,
    ),
];

const INITIAL: &str = "
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
    ";

/// Lifecycle columns: the pending transfer (JSON of `PendingTransfer`), the owner's
/// and the pending recipient's lower-cased email (what app sessions look tickets up
/// by) and when the service must act on its own (`due_at`, RFC 3339 UTC millis, which
/// sorts as text). The indexes on `pending_to` and `due_at` are partial: only the few
/// rows in transit or waiting pay for them. The app's indexes end with `ticket_id`, the
/// order the app lists by: without it SQLite (no statistics) prefers walking the
/// primary key for that order, which scans all the organizer's tickets. Log entries
/// gain their `detail`.
const LIFECYCLE: &str = "
    ALTER TABLE wallet_tickets ADD COLUMN transfer TEXT;
    ALTER TABLE wallet_tickets ADD COLUMN owner_email TEXT;
    ALTER TABLE wallet_tickets ADD COLUMN pending_to TEXT;
    ALTER TABLE wallet_tickets ADD COLUMN due_at TEXT;
    UPDATE wallet_tickets SET owner_email = lower(trim(json_extract(owner, '$.email')))
        WHERE owner IS NOT NULL;
    CREATE INDEX wallet_tickets_owner ON wallet_tickets (organizer_id, owner_email, ticket_id);
    CREATE INDEX wallet_tickets_pending ON wallet_tickets (organizer_id, pending_to, ticket_id)
        WHERE pending_to IS NOT NULL;
    CREATE INDEX wallet_tickets_due ON wallet_tickets (due_at) WHERE due_at IS NOT NULL;
    ALTER TABLE wallet_status_log ADD COLUMN detail TEXT;
    ";

/// The barcode registry (`DOMAIN` rule: a barcode belongs to one ticket id of the
/// organizer for good): one row per barcode ever held, never removed, so a deleted
/// ticket's or a replaced barcode stays reserved. Its primary key is the uniqueness
/// the rule rests on, whatever the code above it checks. Filled from the tickets held
/// today (a barcode two legacy tickets share goes to the smaller ticket id).
const CONTRACT: &str = "
    CREATE TABLE wallet_barcodes (
        organizer_id INTEGER NOT NULL REFERENCES wallet_organizers (id),
        barcode TEXT NOT NULL,
        ticket_id TEXT NOT NULL,
        PRIMARY KEY (organizer_id, barcode)
    ) WITHOUT ROWID;
    INSERT INTO wallet_barcodes (organizer_id, barcode, ticket_id)
        SELECT organizer_id, barcode, MIN(ticket_id) FROM wallet_tickets
        WHERE barcode IS NOT NULL AND trim(barcode) <> ''
        GROUP BY organizer_id, barcode;
    ";

/// The change feed's page: by the `(organizer_id, change_seq)` index, whose order is
/// the answer's, so SQLite stops after `limit` rows without sorting.
const DIFF_SQL: &str = "SELECT ticket_id, event_id, tax_number, status, status_changed_at, \
     owner, initial_owner, previous_owner, holder, transfer_level, deletion, transfer, log_seqs \
     FROM wallet_tickets WHERE organizer_id = ?1 AND change_seq > ?2 \
     ORDER BY change_seq LIMIT ?3";

/// A spectator's own tickets, by the `(organizer_id, owner_email)` index.
const APP_OWNED_SQL: &str = "SELECT ticket_id, event_id, tax_number, status, \
     status_changed_at, owner, initial_owner, previous_owner, holder, transfer_level, \
     deletion, transfer FROM wallet_tickets WHERE organizer_id = ?1 AND owner_email = ?2 \
     ORDER BY ticket_id";

/// Transfers waiting for a spectator, by the partial `pending_to` index.
const APP_INCOMING_SQL: &str = "SELECT ticket_id, event_id, tax_number, status, \
     status_changed_at, owner, initial_owner, previous_owner, holder, transfer_level, \
     deletion, transfer FROM wallet_tickets WHERE organizer_id = ?1 AND pending_to = ?2 \
     ORDER BY ticket_id";

/// Work due, every organizer, by the partial `due_at` index in its order.
const DUE_SQL: &str = "SELECT organizer_id, ticket_id, status FROM wallet_tickets \
     WHERE due_at IS NOT NULL AND due_at <= ?1 ORDER BY due_at LIMIT ?2";

/// The track-record report: by the log's primary key from `after_seq`, the time
/// filters applied to the rows read (`at` is text in one format, so it compares as
/// text; NULL means no bound).
const REPORT_SQL: &str = "SELECT seq, at, ticket_id, action, from_status, to_status, \
     from_owner, to_owner, actor, prev_hash, hash, detail FROM wallet_status_log \
     WHERE organizer_id = ?1 AND seq > ?2 \
     AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR at < ?4) \
     ORDER BY seq LIMIT ?5";

/// Ticket rows by id next to their last entry, for `verify`.
const TICKET_HEADS_SQL: &str = "SELECT t.ticket_id, t.status, t.owner_email, t.change_seq, \
     l.ticket_id, l.to_status, l.to_owner, \
     CAST(NULLIF(substr(t.log_seqs, 1, instr(t.log_seqs || ',', ',') - 1), '') AS INTEGER) \
     FROM wallet_tickets t LEFT JOIN wallet_status_log l \
     ON l.organizer_id = t.organizer_id AND l.seq = t.change_seq \
     WHERE t.organizer_id = ?1 AND t.ticket_id > ?2 \
     ORDER BY t.ticket_id LIMIT ?3";

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

pub(super) struct SqliteWallet {
    pub(super) db: Db,
}

/// The columns [`stored_ticket`] reads, in its order (12 columns).
const TICKET_COLUMNS: &str = "ticket_id, event_id, tax_number, status, status_changed_at, \
     owner, initial_owner, previous_owner, holder, transfer_level, deletion, transfer";

/// The columns [`log_entry`] reads, in its order.
const LOG_COLUMNS: &str = "seq, at, ticket_id, action, from_status, to_status, from_owner, \
     to_owner, actor, prev_hash, hash, detail";

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
        transfer: r.get(11)?,
        barcode: None,
    })
}

pub(super) fn log_entry(r: &Row<'_>) -> rusqlite::Result<LogEntry> {
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
        detail: r.get(11)?,
    })
}

/// A row of id, status, owner email, change seq, and the last entry's id, status and
/// owner (NULL when the entry is missing), as `verify` compares them.
pub(super) fn ticket_head(r: &Row<'_>) -> rusqlite::Result<TicketHead> {
    let entry = match r.get::<_, Option<String>>(4)? {
        Some(id) => Some((id, r.get(5)?, r.get(6)?)),
        None => None,
    };
    Ok(TicketHead {
        ticket_id: r.get(0)?,
        status: r.get(1)?,
        owner_email: r.get(2)?,
        change_seq: r.get(3)?,
        entry,
        first_seq: r.get(7)?,
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
        sql.push_str(" AND (ticket_id = ? OR tax_number = ? OR barcode = ? OR owner_email = ?)");
        for _ in 0..3 {
            args.push(Value::Text(text.clone()));
        }
        args.push(Value::Text(lifecycle::email_key(text)));
    }
    (sql, args)
}

/// The keyset condition of a ticket query, appended to its filter and arguments.
fn after_filter(q: &TicketQuery, sql: &mut String, args: &mut Vec<rusqlite::types::Value>) {
    if let Some(after) = &q.after {
        sql.push_str(" AND ticket_id > ?");
        args.push(rusqlite::types::Value::Text(after.clone()));
    }
}

/// The log entries with these seqs, by primary key.
pub(super) fn log_entries(
    conn: &Connection,
    organizer_id: i64,
    seqs: &[i64],
) -> Result<Vec<LogEntry>> {
    let mut st = conn.prepare_cached(LOG_ENTRY_SQL)?;
    let mut out = Vec::with_capacity(seqs.len());
    for seq in seqs {
        out.push(st.query_row(params![organizer_id, seq], log_entry)?);
    }
    Ok(out)
}

fn parse_status(s: &str) -> Result<WalletStatus> {
    s.parse().map_err(StoreError::Backend)
}

/// Runs `f` in one read transaction, so that its reads see one snapshot; the
/// transaction is committed whatever `f` answers, and `f`'s answer returned.
pub(super) fn in_snapshot<T>(conn: &Connection, f: impl FnOnce() -> Result<T>) -> Result<T> {
    conn.execute_batch("BEGIN")?;
    let r = f();
    conn.execute_batch("COMMIT")?;
    r
}

/// The organizer's chain head as its row keeps it; an unknown organizer is `NotFound`.
/// Read inside the write transaction, it is the head the writes continue.
pub(super) fn read_head(conn: &Connection, organizer_id: i64) -> Result<ChainHead> {
    conn.prepare_cached("SELECT last_seq, last_hash FROM wallet_organizers WHERE id = ?1")?
        .query_row([organizer_id], |r| {
            Ok(ChainHead {
                seq: r.get(0)?,
                hash: r.get(1)?,
            })
        })
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("organizer {organizer_id} does not exist")))
}

/// The time of the entries about to follow `head`: `at`, or the head entry's time if
/// the clock reads earlier — entries never go back in time along the chain (the time
/// is taken before the write lock, so two calls may reach it in the other order).
pub(super) fn not_before(
    conn: &Connection,
    organizer_id: i64,
    head: &ChainHead,
    at: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    if head.seq == 0 {
        return Ok(at);
    }
    let last: Option<String> = conn
        .prepare_cached("SELECT at FROM wallet_status_log WHERE organizer_id = ?1 AND seq = ?2")?
        .query_row(params![organizer_id, head.seq], |r| r.get(0))
        .optional()?;
    Ok(ledger::not_before(at, last.as_deref()))
}

/// Appends the entries and moves the organizer's head to `head` (the head after them).
pub(super) fn append_entries(
    conn: &Connection,
    organizer_id: i64,
    entries: &[LogEntry],
    head: &ChainHead,
) -> Result<()> {
    insert_entries(conn, organizer_id, entries)?;
    set_head(conn, organizer_id, head)
}

/// Moves the organizer's head to the last entry written; nothing when none was.
fn set_head(conn: &Connection, organizer_id: i64, head: &ChainHead) -> Result<()> {
    conn.prepare_cached(
        "UPDATE wallet_organizers SET last_seq = ?2, last_hash = ?3 WHERE id = ?1",
    )?
    .execute(params![organizer_id, head.seq, head.hash])?;
    Ok(())
}

fn insert_entries(conn: &Connection, organizer_id: i64, entries: &[LogEntry]) -> Result<()> {
    let mut st = conn.prepare_cached(
        "INSERT INTO wallet_status_log (organizer_id, seq, at, ticket_id, action, \
         from_status, to_status, from_owner, to_owner, actor, prev_hash, hash, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for e in entries {
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
            e.detail,
        ])?;
    }
    Ok(())
}

/// A text column borrowed from the row, without copying it.
fn text_ref<'r>(r: &'r Row<'_>, i: usize) -> Result<&'r str> {
    r.get_ref(i)?
        .as_str()
        .map_err(|e| StoreError::Backend(format!("column {i}: {e}")))
}

/// JSON text of an optional value; `None` is SQL NULL.
fn json_text<T: serde::Serialize>(name: &str, v: Option<&T>) -> Result<Option<String>> {
    v.map(|v| {
        serde_json::to_string(v)
            .map_err(|e| StoreError::Backend(format!("cannot serialise {name}: {e}")))
    })
    .transpose()
}

/// Reads the stored tickets `ids` of the organizer as the state machine needs them;
/// ids that do not exist are left out. Their facts are decoded only `with_facts`.
fn load_tickets<'a>(
    conn: &Connection,
    organizer_id: i64,
    ids: impl IntoIterator<Item = &'a str>,
    with_facts: bool,
) -> Result<HashMap<String, LoadedTicket>> {
    let mut st = conn.prepare_cached(
        "SELECT ticket_id, event_id, tax_number, status, status_changed_at, owner, \
         initial_owner, previous_owner, holder, transfer_level, transfer, deletion, due_at, \
         content, (SELECT e.data FROM wallet_events e WHERE e.organizer_id = \
         wallet_tickets.organizer_id AND e.event_id = wallet_tickets.event_id) \
         FROM wallet_tickets WHERE organizer_id = ?1 AND ticket_id = ?2",
    )?;
    let mut out = HashMap::new();
    for id in ids {
        if out.contains_key(id) {
            continue;
        }
        let mut rows = st.query(params![organizer_id, id])?;
        let Some(r) = rows.next()? else { continue };
        let ticket_id: String = r.get(0)?;
        let bad = |e: String| StoreError::Backend(format!("stored ticket {ticket_id}: {e}"));
        let status: String = r.get(3)?;
        let life = Lifecycle {
            status: status.parse().map_err(bad)?,
            status_changed_at: r.get(4)?,
            owner: ledger::json_column("owner", r.get(5)?).map_err(bad)?,
            initial_owner: ledger::json_column("initial_owner", r.get(6)?).map_err(bad)?,
            previous_owner: ledger::json_column("previous_owner", r.get(7)?).map_err(bad)?,
            holder: ledger::json_column("holder", r.get(8)?).map_err(bad)?,
            transfer_level: r.get(9)?,
            transfer: ledger::json_column("transfer", r.get(10)?).map_err(bad)?,
            deletion: ledger::json_column("deletion", r.get(11)?).map_err(bad)?,
            due_at: r.get(12)?,
        };
        let facts = if with_facts {
            // Parsed from the borrowed text: the content is the largest column.
            let event: Option<String> = r.get(14)?;
            Facts::from_stored(text_ref(r, 13)?, event.as_deref()).map_err(bad)?
        } else {
            Facts::default()
        };
        let loaded = LoadedTicket {
            event_id: r.get(1)?,
            taxation_number: r.get(2)?,
            life,
            facts,
            ticket_id,
        };
        out.insert(loaded.ticket_id.clone(), loaded);
    }
    Ok(out)
}

/// The holder of one barcode, by the registry's primary key.
const BARCODE_HOLDER_SQL: &str =
    "SELECT ticket_id FROM wallet_barcodes WHERE organizer_id = ?1 AND barcode = ?2";

/// The registry's holder of each barcode the call's tickets carry, by primary key.
fn barcode_holders(
    conn: &Connection,
    organizer_id: i64,
    tickets: &[ledger::PreparedTicket],
) -> Result<ledger::BarcodeHolders> {
    let mut st = conn.prepare_cached(BARCODE_HOLDER_SQL)?;
    let mut out = ledger::BarcodeHolders::new();
    for b in tickets.iter().filter_map(|p| ledger::barcode_of(&p.ticket)) {
        if out.contains_key(b) {
            continue;
        }
        if let Some(holder) = st
            .query_row(params![organizer_id, b], |r| r.get::<_, String>(0))
            .optional()?
        {
            out.insert(b.to_owned(), holder);
        }
    }
    Ok(out)
}

/// Registers the barcodes the plan's tickets hold for the first time. The primary key
/// refuses a barcode registered to anyone already: a conflict, never a second holder.
fn register_barcodes(
    conn: &Connection,
    organizer_id: i64,
    claims: &[ledger::BarcodeClaim],
) -> Result<()> {
    let mut st = conn.prepare_cached(
        "INSERT INTO wallet_barcodes (organizer_id, barcode, ticket_id) VALUES (?1, ?2, ?3)",
    )?;
    for c in claims {
        st.execute(params![organizer_id, c.barcode, c.ticket_id])
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict(format!(
                        "barcode {:?} was registered to another ticket meanwhile; send the call again",
                        c.barcode
                    ))
                } else {
                    e.into()
                }
            })?;
    }
    Ok(())
}

/// Writes a ticket's lifecycle after a batch of actions, with the columns derived from
/// it and its new log seqs.
fn write_lifecycle(conn: &Connection, organizer_id: i64, w: &LifecycleWrite) -> Result<()> {
    let life = &w.life;
    let n = conn
        .prepare_cached(
            "UPDATE wallet_tickets SET status = ?3, status_changed_at = ?4, owner = ?5, \
             initial_owner = ?6, previous_owner = ?7, holder = ?8, transfer_level = ?9, \
             transfer = ?10, deletion = ?11, due_at = ?12, owner_email = ?13, \
             pending_to = ?14, change_seq = ?15, log_seqs = log_seqs || ',' || ?16 \
             WHERE organizer_id = ?1 AND ticket_id = ?2",
        )?
        .execute(params![
            organizer_id,
            w.ticket_id,
            life.status.as_str(),
            life.status_changed_at,
            json_text("owner", life.owner.as_ref())?,
            json_text("initial_owner", life.initial_owner.as_ref())?,
            json_text("previous_owner", life.previous_owner.as_ref())?,
            json_text("holder", life.holder.as_ref())?,
            life.transfer_level,
            json_text("transfer", life.transfer.as_ref())?,
            json_text("deletion", life.deletion.as_ref())?,
            life.due_at,
            life.owner_email(),
            life.recipient_email(),
            w.change_seq,
            w.log_seqs,
        ])?;
    if n != 1 {
        return Err(StoreError::Backend(format!(
            "ticket {} vanished while its actions were written",
            w.ticket_id
        )));
    }
    Ok(())
}

/// Reads one log entry by primary key: `(organizer_id, seq)`.
const LOG_ENTRY_SQL: &str = "SELECT seq, at, ticket_id, action, from_status, to_status, \
     from_owner, to_owner, actor, prev_hash, hash, detail FROM wallet_status_log \
     WHERE organizer_id = ?1 AND seq = ?2";

/// Appends to `out` the log entries of a ticket (its row's `log_seqs`, oldest first)
/// with a seq greater than `after_seq`, each read by primary key with `by_seq`
/// ([`LOG_ENTRY_SQL`]). The list is read from its end, so a long history costs only
/// its new tail.
fn history_after(
    by_seq: &mut rusqlite::Statement<'_>,
    organizer_id: i64,
    log_seqs: &str,
    after_seq: i64,
    out: &mut Vec<LogEntry>,
) -> Result<()> {
    let start = out.len();
    for part in log_seqs.rsplit(',') {
        if part.is_empty() {
            continue;
        }
        let seq: i64 = part.trim().parse().map_err(|_| {
            StoreError::Backend(format!(
                "stored log seqs {log_seqs:?} are not a list of numbers"
            ))
        })?;
        if seq <= after_seq {
            break;
        }
        out.push(by_seq.query_row(params![organizer_id, seq], log_entry)?);
    }
    out[start..].reverse();
    Ok(())
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

    async fn rotate_key(&self, organizer_id: i64, api_key_sha256: &str) -> Result<Organizer> {
        let key = api_key_sha256.to_owned();
        let row = self
            .db
            .write(move |tx| {
                tx.execute(
                    "UPDATE wallet_organizers SET api_key_sha256 = ?2 WHERE id = ?1",
                    params![organizer_id, key],
                )
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Conflict("another organizer holds this API key".into())
                    } else {
                        e.into()
                    }
                })?;
                Ok(tx
                    .prepare_cached(
                        "SELECT id, name, created_at FROM wallet_organizers WHERE id = ?1",
                    )?
                    .query_row([organizer_id], organizer)
                    .optional()?)
            })
            .await?;
        let row = row.ok_or_else(|| {
            StoreError::NotFound(format!("organizer {organizer_id} does not exist"))
        })?;
        to_organizer(row)
    }

    async fn inject(
        &self,
        organizer_id: i64,
        tickets: Vec<Ticket>,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> Result<Vec<ItemResult>> {
        // Serialising and hashing happen here, on the async side, so the single
        // writer thread spends its time on SQLite only.
        let prepared = ledger::prepare(tickets);
        self.db
            .write(move |tx| {
                let head = read_head(tx, organizer_id)?;
                let at = ledger::format_at(not_before(tx, organizer_id, &head, at)?);

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

                let barcodes = barcode_holders(tx, organizer_id, &prepared)?;
                let plan =
                    ledger::plan_inject(prepared, current, barcodes, head, actor.as_str(), &at);
                if plan.is_empty() {
                    return Ok(plan.results);
                }
                register_barcodes(tx, organizer_id, &plan.barcodes)?;

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
                         status_changed_at, change_seq, log_seqs, owner_email) \
                         VALUES (?1, ?2, ?3, ?4, ?5, 'INJECTED', ?6, ?7, ?8, ?8, 0, ?9, ?10, ?11, ?12) \
                         ON CONFLICT (organizer_id, ticket_id) DO UPDATE SET \
                         event_id = excluded.event_id, tax_number = excluded.tax_number, \
                         barcode = excluded.barcode, content = excluded.content, \
                         content_hash = excluded.content_hash, owner = excluded.owner, \
                         owner_email = excluded.owner_email, change_seq = excluded.change_seq, \
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
                            t.owner_email,
                        ])?;
                    }
                }
                append_entries(tx, organizer_id, &plan.entries, &plan.head)?;
                Ok(plan.results)
            })
            .await
    }

    async fn ticket(&self, organizer_id: i64, ticket_id: &str) -> Result<Option<TicketRecord>> {
        let ticket_id = ticket_id.to_owned();
        self.db
            .read(move |conn| {
                // One snapshot for the row and its history.
                in_snapshot(conn, || {
                    let row = conn
                        .prepare_cached(&format!(
                            "SELECT {TICKET_COLUMNS}, content, log_seqs FROM wallet_tickets \
                             WHERE organizer_id = ?1 AND ticket_id = ?2"
                        ))?
                        .query_row(params![organizer_id, ticket_id], |r| {
                            Ok((
                                stored_ticket(r)?,
                                r.get::<_, String>(12)?,
                                r.get::<_, String>(13)?,
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
                })
            })
            .await
    }

    async fn tickets(&self, organizer_id: i64, query: &TicketQuery) -> Result<TicketList> {
        let query = query.clone();
        self.db
            .read(move |conn| {
                let (filter, args) = ticket_filter(organizer_id, &query);
                in_snapshot(conn, || {
                    let total: i64 = if query.counts_total() {
                        conn.prepare_cached(&format!(
                            "SELECT COUNT(*) FROM wallet_tickets WHERE {filter}"
                        ))?
                        .query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?
                    } else {
                        -1
                    };
                    let (mut filter, mut args) = (filter, args);
                    after_filter(&query, &mut filter, &mut args);
                    args.push(rusqlite::types::Value::Integer(
                        i64::try_from(query.limit).unwrap_or(i64::MAX),
                    ));
                    args.push(rusqlite::types::Value::Integer(
                        i64::try_from(query.offset).unwrap_or(i64::MAX),
                    ));
                    let mut st = conn.prepare_cached(&format!(
                        "SELECT {TICKET_COLUMNS}, barcode FROM wallet_tickets WHERE {filter} \
                         ORDER BY ticket_id LIMIT ? OFFSET ?"
                    ))?;
                    let rows = st
                        .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                            Ok(StoredTicket {
                                barcode: r.get(12)?,
                                ..stored_ticket(r)?
                            })
                        })?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    let tickets = rows
                        .into_iter()
                        .map(|r| r.into_state().map_err(StoreError::Backend))
                        .collect::<Result<Vec<_>>>()?;
                    let next_page_key = query.after.as_ref().map(|after| {
                        tickets
                            .last()
                            .map_or_else(|| after.clone(), |t| t.ticket_id.clone())
                    });
                    Ok(TicketList {
                        total,
                        tickets,
                        next_page_key,
                    })
                })
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
                in_snapshot(conn, || {
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
                })
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

    async fn apply(
        &self,
        organizer_id: i64,
        ops: Vec<Op>,
        at: DateTime<Utc>,
        settings: Settings,
    ) -> Result<Vec<OpResult>> {
        self.db
            .write(move |tx| {
                let head = read_head(tx, organizer_id)?;
                let at = not_before(tx, organizer_id, &head, at)?;
                let current = load_tickets(
                    tx,
                    organizer_id,
                    ops.iter().map(|o| o.ticket_id.as_str()),
                    ops.iter().any(|o| o.action.needs_facts()),
                )?;
                let plan = lifecycle::plan_actions(ops, current, head, at, &settings);
                if plan.entries.is_empty() {
                    return Ok(plan.results);
                }
                for w in &plan.writes {
                    write_lifecycle(tx, organizer_id, w)?;
                }
                append_entries(tx, organizer_id, &plan.entries, &plan.head)?;
                Ok(plan.results)
            })
            .await
    }

    async fn diff_since(
        &self,
        organizer_id: i64,
        after_seq: i64,
        limit: usize,
        since: i64,
    ) -> Result<Vec<TicketState>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .read(move |conn| {
                // No mmap of the file: it would make the process's resident memory
                // grow with the database (measured: +1 GB at 1M tickets), for ~15 %.
                // One snapshot for the page's rows and their histories.
                in_snapshot(conn, || {
                    // By the (organizer_id, change_seq) index, in its order: no sort.
                    let mut st = conn.prepare_cached(DIFF_SQL)?;
                    let mut by_seq = conn.prepare_cached(LOG_ENTRY_SQL)?;
                    let mut rows = st.query(params![organizer_id, after_seq, limit])?;
                    // A state is about 1 KB: growing the page by doubling would copy
                    // megabytes.
                    let mut out =
                        Vec::with_capacity(usize::try_from(limit).unwrap_or(0).min(10_000));
                    while let Some(r) = rows.next()? {
                        let mut state = stored_ticket(r)?
                            .into_state()
                            .map_err(StoreError::Backend)?;
                        let seqs = text_ref(r, 12)?;
                        history_after(&mut by_seq, organizer_id, seqs, since, &mut state.history)?;
                        out.push(state);
                    }
                    Ok(out)
                })
            })
            .await
    }

    async fn app_tickets(&self, organizer_id: i64, email: &str) -> Result<AppTickets> {
        let email = lifecycle::email_key(email);
        self.db
            .read(move |conn| {
                in_snapshot(conn, || {
                    let states = |sql: &str| -> Result<Vec<TicketState>> {
                        let mut st = conn.prepare_cached(sql)?;
                        let rows = st
                            .query_map(params![organizer_id, email], stored_ticket)?
                            .collect::<rusqlite::Result<Vec<_>>>()?;
                        rows.into_iter()
                            .map(|r| r.into_state().map_err(StoreError::Backend))
                            .collect()
                    };
                    let mut out = AppTickets::default();
                    for t in states(APP_OWNED_SQL)? {
                        if !parse_status(&t.status)?.is_deleted() {
                            out.tickets.push(t);
                        } else if t.deletion.as_ref().is_some_and(|d| d.show_deleted_ticket) {
                            out.deleted_tickets.push(t);
                        }
                    }
                    out.incoming_transfers = states(APP_INCOMING_SQL)?;
                    Ok(out)
                })
            })
            .await
    }

    async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<DueTicket>> {
        let now = ledger::format_at(now);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .read(move |conn| {
                let mut st = conn.prepare_cached(DUE_SQL)?;
                let rows = st
                    .query_map(params![now, limit], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                rows.into_iter()
                    .map(|(organizer_id, ticket_id, status)| {
                        Ok(DueTicket {
                            organizer_id,
                            status: parse_status(&status)?,
                            ticket_id,
                        })
                    })
                    .collect()
            })
            .await
    }

    async fn report(&self, organizer_id: i64, query: &LogQuery) -> Result<Vec<LogEntry>> {
        let LogQuery {
            after_seq,
            from,
            to,
            limit,
        } = query.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .read(move |conn| {
                let mut st = conn.prepare_cached(REPORT_SQL)?;
                let rows =
                    st.query_map(params![organizer_id, after_seq, from, to, limit], log_entry)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn chain_head(&self, organizer_id: i64) -> Result<ChainHead> {
        self.db
            .read(move |conn| read_head(conn, organizer_id))
            .await
    }

    async fn ticket_heads(
        &self,
        organizer_id: i64,
        after_ticket_id: &str,
        limit: usize,
    ) -> Result<Vec<TicketHead>> {
        let after = after_ticket_id.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .read(move |conn| {
                let mut st = conn.prepare_cached(TICKET_HEADS_SQL)?;
                let rows = st.query_map(params![organizer_id, after, limit], ticket_head)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn organizers(&self) -> Result<Vec<Organizer>> {
        let rows = self
            .db
            .read(|conn| {
                let mut st = conn.prepare_cached(
                    "SELECT id, name, created_at FROM wallet_organizers ORDER BY id",
                )?;
                let rows = st.query_map([], organizer)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        rows.into_iter().map(to_organizer).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn query_plan(conn: &Connection, sql: &str) -> String {
        let mut st = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let nulls = vec![rusqlite::types::Value::Null; st.parameter_count()];
        let rows = st
            .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("plan rows");
        rows.join("\n")
    }

    /// Each read is served by its index, in the index's order where it pages.
    #[test]
    fn reads_use_their_indexes() {
        let mut conn = Connection::open_in_memory().expect("open");
        super::super::migrate(&mut conn, MIGRATIONS).expect("migrate");
        for (name, sql, index, sorted) in [
            (
                "diff",
                DIFF_SQL,
                "USING INDEX wallet_tickets_change (organizer_id=? AND change_seq>?)",
                true,
            ),
            (
                "owned",
                APP_OWNED_SQL,
                "USING INDEX wallet_tickets_owner (organizer_id=? AND owner_email=?)",
                true,
            ),
            (
                "incoming",
                APP_INCOMING_SQL,
                "USING INDEX wallet_tickets_pending (organizer_id=? AND pending_to=?)",
                true,
            ),
            (
                "due",
                DUE_SQL,
                "USING INDEX wallet_tickets_due (due_at>? AND due_at<?)",
                true,
            ),
            (
                "report",
                REPORT_SQL,
                "USING PRIMARY KEY (organizer_id=? AND seq>?)",
                true,
            ),
            (
                "barcode",
                BARCODE_HOLDER_SQL,
                "USING PRIMARY KEY (organizer_id=? AND barcode=?)",
                false,
            ),
            (
                "heads",
                TICKET_HEADS_SQL,
                "(organizer_id=? AND ticket_id>?)",
                true,
            ),
        ] {
            let plan = query_plan(&conn, sql);
            assert!(plan.contains(index), "{name}: {plan}");
            if sorted {
                assert!(
                    !plan.contains("TEMP B-TREE"),
                    "{name} needs no sort: {plan}"
                );
            }
        }
        let heads = query_plan(&conn, TICKET_HEADS_SQL);
        assert!(
            heads.contains("SEARCH l USING PRIMARY KEY (organizer_id=? AND seq=?)"),
            "{heads}"
        );
    }

    #[test]
    fn the_migration_backfills_owner_emails() {
        let mut conn = Connection::open_in_memory().expect("open");
        super::super::migrate(&mut conn, &MIGRATIONS[..1]).expect("initial");
        conn.execute_batch(
            "INSERT INTO wallet_organizers (id, name, api_key_sha256, created_at, last_hash) \
             VALUES (1, 'A', 'k', '2026-01-01T00:00:00.000Z', '0');
             INSERT INTO wallet_tickets (organizer_id, ticket_id, event_id, status, content, \
             content_hash, owner, status_changed_at, change_seq, log_seqs) VALUES \
             (1, 'T1', 'E1', 'INJECTED', '{}', 'h', '{\"email\":\"Ann@Example.ORG\"}', 'x', 1, '1'), \
             (1, 'T2', 'E1', 'INJECTED', '{}', 'h', 'null', 'x', 2, '2'), \
             (1, 'T3', 'E1', 'INJECTED', '{}', 'h', NULL, 'x', 3, '3');",
        )
        .expect("old rows");
        super::super::migrate(&mut conn, MIGRATIONS).expect("lifecycle");
        let emails = conn
            .prepare("SELECT owner_email FROM wallet_tickets ORDER BY ticket_id")
            .expect("select")
            .query_map([], |r| r.get::<_, Option<String>>(0))
            .expect("rows")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("emails");
        assert_eq!(emails, [Some("ann@example.org".into()), None, None]);
    }

    #[test]
    fn the_migration_fills_the_barcode_registry() {
        let mut conn = Connection::open_in_memory().expect("open");
        super::super::migrate(&mut conn, &MIGRATIONS[..3]).expect("before");
        conn.execute_batch(
            "INSERT INTO wallet_organizers (id, name, api_key_sha256, created_at, last_hash) \
             VALUES (1, 'A', 'k', '2026-01-01T00:00:00.000Z', '0');
             INSERT INTO wallet_tickets (organizer_id, ticket_id, event_id, barcode, status, \
             content, content_hash, status_changed_at, change_seq, log_seqs) VALUES \
             (1, 'T2', 'E1', 'B1', 'INJECTED', '{}', 'h', 'x', 1, '1'), \
             (1, 'T1', 'E1', 'B1', 'DELETED', '{}', 'h', 'x', 2, '2'), \
             (1, 'T3', 'E1', 'B3', 'INJECTED', '{}', 'h', 'x', 3, '3'), \
             (1, 'T4', 'E1', ' ', 'INJECTED', '{}', 'h', 'x', 4, '4'), \
             (1, 'T5', 'E1', NULL, 'INJECTED', '{}', 'h', 'x', 5, '5');",
        )
        .expect("old rows");
        super::super::migrate(&mut conn, MIGRATIONS).expect("contract");
        let rows = conn
            .prepare("SELECT barcode, ticket_id FROM wallet_barcodes ORDER BY barcode")
            .expect("select")
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .expect("rows")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("registry");
        assert_eq!(
            rows,
            [("B1".into(), "T1".into()), ("B3".into(), "T3".into())]
        );
    }
}
