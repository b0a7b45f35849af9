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
//! organizer's tickets: a rare back-office lookup does not justify an index on the tax
//! number paid on every write. The email is matched on the `owner_email` column (the
//! key of [`lifecycle::email_key`]), never inside the JSON. Accepted barcodes are
//! registered in `wallet_barcodes`, whose primary key makes a barcode one ticket id's
//! for good; an injection reads its call's barcodes with one `= ANY` query.
//!
//! Lifecycle actions ([`WalletStore::apply`]) take the same organizer lock, read their
//! tickets with one `= ANY` query, plan with [`lifecycle::plan_actions`] and write
//! rows, log entries and head with one multi-row statement each. The change feed
//! ([`WalletStore::diff`]) reads one page by the `(organizer_id, change_seq)` index and
//! then the page's new log entries with one query — as a few primary-key ranges when
//! their seqs are dense (the usual case), else by `seq = ANY` — in one repeatable-read
//! snapshot, decoding rows as they arrive.
//!
//! `ticket_id` is collated `"C"` (byte order, like SQLite): the listings order by it
//! and `verify` pages through the tickets by `ticket_id > last`, which must agree with
//! that order whatever the database's default collation, and still use the primary
//! key.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{QueryBuilder, Row};

use tixbridge_core::api::{
    EventStatistics, EventSummary, ItemResult, LogEntry, Ticket, TicketList, TicketRecord,
};
use tixbridge_core::hash::GENESIS_HASH;
use tixbridge_core::ledger::{self, ChainHead, CurrentTicket, StoredTicket};
use tixbridge_core::status::WalletStatus;

use crate::{Actor, Organizer, Result, StoreError, TicketQuery, WalletStore};
use crate::{DueTicket, LogQuery, TicketHead};
use tixbridge_core::api::{AppTickets, TicketState};
use tixbridge_core::lifecycle::{
    self, Facts, Lifecycle, LoadedTicket, Op, OpResult, Settings, email_key,
};

/// Append-only: never edit a migration that has landed. Tables carry a `wallet_`
/// prefix so that a wallet and a ticketing store may share one schema. Times of the
/// track record are text: the hash covers their exact spelling.
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
    ";

/// Lifecycle columns: the pending transfer (JSON of `PendingTransfer`, JSONB like the
/// other JSON columns), the owner's and the pending recipient's lower-cased email (what
/// app sessions look tickets up by) and when the service must act on its own (`due_at`,
/// RFC 3339 UTC millis, collated "C" so that it sorts as text). The indexes on
/// `pending_to` and `due_at` are partial: only the few rows in transit or waiting pay
/// for them. Log entries gain their `detail`.
///
/// `ticket_id` becomes collated "C" (only its indexes are rebuilt, not the table): the
/// ticket listings and `verify`'s paging by `ticket_id > last` then follow byte order,
/// as on SQLite, through the primary key, whatever the database's default collation.
/// Lower-casing is ASCII only, like `to_ascii_lowercase` in the state machine.
const LIFECYCLE: &str = r#"
    ALTER TABLE wallet_tickets ALTER COLUMN ticket_id TYPE TEXT COLLATE "C";
    ALTER TABLE wallet_tickets
        ADD COLUMN transfer JSONB,
        ADD COLUMN owner_email TEXT,
        ADD COLUMN pending_to TEXT,
        ADD COLUMN due_at TEXT COLLATE "C";
    UPDATE wallet_tickets
        SET owner_email = translate(btrim(owner->>'email', E' \t\r\n'),
            'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
        WHERE owner->>'email' IS NOT NULL;
    CREATE INDEX wallet_tickets_owner ON wallet_tickets (organizer_id, owner_email);
    CREATE INDEX wallet_tickets_pending ON wallet_tickets (organizer_id, pending_to)
        WHERE pending_to IS NOT NULL;
    CREATE INDEX wallet_tickets_due ON wallet_tickets (due_at) WHERE due_at IS NOT NULL;
    ALTER TABLE wallet_status_log ADD COLUMN detail TEXT;
    "#;

/// The barcode registry (a barcode belongs to one ticket id of the organizer for
/// good): one row per barcode ever held, never removed, so a deleted ticket's or a
/// replaced barcode stays reserved. Its primary key is the uniqueness the rule rests
/// on, across connections and processes. Filled from the tickets held today (a
/// barcode two legacy tickets share goes to the smaller ticket id). `barcode` and
/// `ticket_id` are collated "C": compared byte for byte, as on SQLite.
const CONTRACT: &str = r#"
    CREATE TABLE wallet_barcodes (
        organizer_id BIGINT NOT NULL REFERENCES wallet_organizers (id),
        barcode TEXT COLLATE "C" NOT NULL,
        ticket_id TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (organizer_id, barcode)
    );
    INSERT INTO wallet_barcodes (organizer_id, barcode, ticket_id)
        SELECT organizer_id, barcode, MIN(ticket_id) FROM wallet_tickets
        WHERE barcode IS NOT NULL AND btrim(barcode) <> ''
        GROUP BY organizer_id, barcode;
    "#;

/// Opens (creating or migrating) the wallet store at `url` (`?schema=NAME` allowed).
pub async fn open_wallet(url: &str) -> Result<Arc<dyn WalletStore>> {
    let pool = super::connect(url, MIGRATIONS).await?;
    Ok(Arc::new(PgWallet { pool }))
}

pub(super) struct PgWallet {
    pub(super) pool: PgPool,
}

/// The columns [`stored_ticket`] reads, in its order (12 columns).
const TICKET_COLUMNS: &str = "ticket_id, event_id, tax_number, status, status_changed_at, \
     owner::text, initial_owner::text, previous_owner::text, holder::text, transfer_level, \
     deletion::text, transfer::text";

/// The columns [`log_entry`] reads, in its order (12 columns).
pub(super) const LOG_COLUMNS: &str = "seq, at, ticket_id, action, from_status, to_status, from_owner, \
     to_owner, actor, prev_hash, hash, detail";

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
        transfer: r.try_get(11)?,
        barcode: None,
    })
}

pub(super) fn log_entry(r: &PgRow) -> Result<LogEntry> {
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
        detail: r.try_get(11)?,
    })
}

/// The entry at a row's `change_seq` as [`TicketHead::entry`]: its ticket id, to-status
/// and to-owner from columns `first..first + 3` of a `LEFT JOIN` on the log (NULL id: no
/// entry).
pub(super) fn head_entry(
    r: &PgRow,
    first: usize,
) -> Result<Option<(String, String, Option<String>)>> {
    Ok(match r.try_get::<Option<String>, _>(first)? {
        Some(id) => Some((id, r.try_get(first + 1)?, r.try_get(first + 2)?)),
        None => None,
    })
}

pub(super) type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// Locks the organizer's row for the rest of the transaction and reads its chain head:
/// the lock serialises the organizer's chain across connections and processes. An
/// unknown organizer is `NotFound`.
pub(super) async fn lock_head(tx: &mut Tx, organizer_id: i64) -> Result<ChainHead> {
    let row =
        sqlx::query("SELECT last_seq, last_hash FROM wallet_organizers WHERE id = $1 FOR UPDATE")
            .bind(organizer_id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!("organizer {organizer_id} does not exist"))
            })?;
    Ok(ChainHead {
        seq: row.try_get(0)?,
        hash: row.try_get(1)?,
    })
}

/// The time of the entries about to follow `head`: `at`, or the head entry's time if
/// the clock reads earlier — entries never go back in time along the chain (the time
/// is taken before the organizer's lock, so two calls may reach it in the other order).
pub(super) async fn not_before(
    tx: &mut Tx,
    organizer_id: i64,
    head: &ChainHead,
    at: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    if head.seq == 0 {
        return Ok(at);
    }
    let last: Option<String> =
        sqlx::query_scalar("SELECT at FROM wallet_status_log WHERE organizer_id = $1 AND seq = $2")
            .bind(organizer_id)
            .bind(head.seq)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(ledger::not_before(at, last.as_deref()))
}

/// Appends the entries and moves the organizer's head to `head` (the head after them).
pub(super) async fn append_entries(
    tx: &mut Tx,
    organizer_id: i64,
    entries: &[LogEntry],
    head: &ChainHead,
) -> Result<()> {
    insert_entries(tx, organizer_id, entries).await?;
    set_head(tx, organizer_id, head).await
}

/// The log entries with these seqs, in seq order, read in the transaction's snapshot.
pub(super) async fn history(tx: &mut Tx, organizer_id: i64, seqs: &[i64]) -> Result<Vec<LogEntry>> {
    let rows = sqlx::query(&format!(
        "SELECT {LOG_COLUMNS} FROM wallet_status_log \
         WHERE organizer_id = $1 AND seq = ANY($2) ORDER BY seq"
    ))
    .bind(organizer_id)
    .bind(seqs)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter().map(log_entry).collect()
}

/// Moves the organizer's head to the last entry written.
async fn set_head(tx: &mut Tx, organizer_id: i64, head: &ChainHead) -> Result<()> {
    sqlx::query("UPDATE wallet_organizers SET last_seq = $2, last_hash = $3 WHERE id = $1")
        .bind(organizer_id)
        .bind(head.seq)
        .bind(&head.hash)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Appends log entries with one multi-row statement.
async fn insert_entries(tx: &mut Tx, organizer_id: i64, entries: &[LogEntry]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let e = entries;
    sqlx::query(
        "INSERT INTO wallet_status_log (organizer_id, seq, at, ticket_id, action, from_status, \
         to_status, from_owner, to_owner, actor, prev_hash, hash, detail) \
         SELECT $1, u.* FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
         $13::text[]) \
         AS u (seq, at, ticket_id, action, from_status, to_status, from_owner, to_owner, \
         actor, prev_hash, hash, detail)",
    )
    .bind(organizer_id)
    .bind(e.iter().map(|e| e.seq).collect::<Vec<_>>())
    .bind(e.iter().map(|e| e.at.as_str()).collect::<Vec<_>>())
    .bind(e.iter().map(|e| e.ticket_id.as_str()).collect::<Vec<_>>())
    .bind(e.iter().map(|e| e.action.as_str()).collect::<Vec<_>>())
    .bind(
        e.iter()
            .map(|e| e.from_status.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(e.iter().map(|e| e.to_status.as_str()).collect::<Vec<_>>())
    .bind(
        e.iter()
            .map(|e| e.from_owner.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(e.iter().map(|e| e.to_owner.as_deref()).collect::<Vec<_>>())
    .bind(e.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>())
    .bind(e.iter().map(|e| e.prev_hash.as_str()).collect::<Vec<_>>())
    .bind(e.iter().map(|e| e.hash.as_str()).collect::<Vec<_>>())
    .bind(e.iter().map(|e| e.detail.as_deref()).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// JSON text of an optional value; `None` is SQL NULL.
fn json_text<T: serde::Serialize>(name: &str, v: Option<&T>) -> Result<Option<String>> {
    v.map(|v| {
        serde_json::to_string(v)
            .map_err(|e| StoreError::Backend(format!("cannot serialise {name}: {e}")))
    })
    .transpose()
}

/// Reads the organizer's tickets `ids` as the state machine needs them, with one
/// query; ids that do not exist are left out.
/// Reads the stored tickets `ids` of the organizer as the state machine needs them;
/// their facts are decoded only `with_facts`.
async fn load_tickets(
    tx: &mut Tx,
    organizer_id: i64,
    ids: &[&str],
    with_facts: bool,
) -> Result<HashMap<String, LoadedTicket>> {
    let rows = sqlx::query(&format!(
        "SELECT {TICKET_COLUMNS}, due_at, content, \
         (SELECT e.data::text FROM wallet_events e WHERE e.organizer_id = \
         wallet_tickets.organizer_id AND e.event_id = wallet_tickets.event_id) \
         FROM wallet_tickets WHERE organizer_id = $1 AND ticket_id = ANY($2)"
    ))
    .bind(organizer_id)
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        let st = stored_ticket(r)?;
        let due_at: Option<String> = r.try_get(12)?;
        let content: &str = r.try_get(13)?;
        let ticket_id = st.ticket_id.clone();
        let bad = |e: String| StoreError::Backend(format!("stored ticket {ticket_id}: {e}"));
        let facts = if with_facts {
            Facts::from_stored(content, r.try_get::<Option<&str>, _>(14)?).map_err(bad)?
        } else {
            Facts::default()
        };
        let life = Lifecycle {
            status: st.status.parse().map_err(bad)?,
            status_changed_at: st.status_changed_at,
            owner: ledger::json_column("owner", st.owner).map_err(bad)?,
            initial_owner: ledger::json_column("initial_owner", st.initial_owner).map_err(bad)?,
            previous_owner: ledger::json_column("previous_owner", st.previous_owner)
                .map_err(bad)?,
            holder: ledger::json_column("holder", st.holder).map_err(bad)?,
            transfer_level: st.transfer_level,
            transfer: ledger::json_column("transfer", st.transfer).map_err(bad)?,
            deletion: ledger::json_column("deletion", st.deletion).map_err(bad)?,
            due_at,
        };
        out.insert(
            st.ticket_id.clone(),
            LoadedTicket {
                ticket_id: st.ticket_id,
                event_id: st.event_id,
                taxation_number: st.tax_number,
                life,
                facts,
            },
        );
    }
    Ok(out)
}

/// Writes the tickets' lifecycles after a batch of actions, with the columns derived
/// from them and their new log seqs, in one multi-row statement.
async fn write_lifecycles(
    tx: &mut Tx,
    organizer_id: i64,
    writes: &[lifecycle::LifecycleWrite],
) -> Result<()> {
    if writes.is_empty() {
        return Ok(());
    }
    let n = writes.len();
    let mut ids = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut changed_at = Vec::with_capacity(n);
    let mut owner = Vec::with_capacity(n);
    let mut initial_owner = Vec::with_capacity(n);
    let mut previous_owner = Vec::with_capacity(n);
    let mut holder = Vec::with_capacity(n);
    let mut level = Vec::with_capacity(n);
    let mut transfer = Vec::with_capacity(n);
    let mut deletion = Vec::with_capacity(n);
    let mut due_at = Vec::with_capacity(n);
    let mut owner_email = Vec::with_capacity(n);
    let mut pending_to = Vec::with_capacity(n);
    let mut change_seq = Vec::with_capacity(n);
    let mut log_seqs = Vec::with_capacity(n);
    for w in writes {
        let life = &w.life;
        ids.push(w.ticket_id.as_str());
        status.push(life.status.as_str());
        changed_at.push(life.status_changed_at.as_str());
        owner.push(json_text("owner", life.owner.as_ref())?);
        initial_owner.push(json_text("initial_owner", life.initial_owner.as_ref())?);
        previous_owner.push(json_text("previous_owner", life.previous_owner.as_ref())?);
        holder.push(json_text("holder", life.holder.as_ref())?);
        level.push(life.transfer_level);
        transfer.push(json_text("transfer", life.transfer.as_ref())?);
        deletion.push(json_text("deletion", life.deletion.as_ref())?);
        due_at.push(life.due_at.as_deref());
        owner_email.push(life.owner_email());
        pending_to.push(life.recipient_email());
        change_seq.push(w.change_seq);
        log_seqs.push(w.log_seqs.as_str());
    }
    let done = sqlx::query(
        "UPDATE wallet_tickets AS t SET status = u.status, status_changed_at = u.changed_at, \
         owner = u.owner::jsonb, initial_owner = u.initial_owner::jsonb, \
         previous_owner = u.previous_owner::jsonb, holder = u.holder::jsonb, \
         transfer_level = u.level, transfer = u.transfer::jsonb, deletion = u.deletion::jsonb, \
         due_at = u.due_at, owner_email = u.owner_email, pending_to = u.pending_to, \
         change_seq = u.change_seq, log_seqs = t.log_seqs || ',' || u.log_seqs \
         FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
         $8::text[], $9::bigint[], $10::text[], $11::text[], $12::text[], $13::text[], \
         $14::text[], $15::bigint[], $16::text[]) \
         AS u (ticket_id, status, changed_at, owner, initial_owner, previous_owner, holder, \
         level, transfer, deletion, due_at, owner_email, pending_to, change_seq, log_seqs) \
         WHERE t.organizer_id = $1 AND t.ticket_id = u.ticket_id",
    )
    .bind(organizer_id)
    .bind(&ids)
    .bind(&status)
    .bind(&changed_at)
    .bind(&owner)
    .bind(&initial_owner)
    .bind(&previous_owner)
    .bind(&holder)
    .bind(&level)
    .bind(&transfer)
    .bind(&deletion)
    .bind(&due_at)
    .bind(&owner_email)
    .bind(&pending_to)
    .bind(&change_seq)
    .bind(&log_seqs)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != n as u64 {
        return Err(StoreError::Backend(format!(
            "{} of {n} tickets vanished while their actions were written",
            n as u64 - done.rows_affected().min(n as u64)
        )));
    }
    Ok(())
}

/// The registry's holder of each barcode the call's tickets carry, with one query.
async fn barcode_holders(
    tx: &mut Tx,
    organizer_id: i64,
    tickets: &[ledger::PreparedTicket],
) -> Result<ledger::BarcodeHolders> {
    let wanted: Vec<&str> = tickets
        .iter()
        .filter_map(|p| ledger::barcode_of(&p.ticket))
        .collect();
    if wanted.is_empty() {
        return Ok(ledger::BarcodeHolders::new());
    }
    let rows = sqlx::query(
        "SELECT barcode, ticket_id FROM wallet_barcodes \
         WHERE organizer_id = $1 AND barcode = ANY($2)",
    )
    .bind(organizer_id)
    .bind(&wanted)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Registers the barcodes the plan's tickets hold for the first time, with one
/// statement. The primary key refuses a barcode registered to anyone already (another
/// process's call included): a conflict, never a second holder.
async fn register_barcodes(
    tx: &mut Tx,
    organizer_id: i64,
    claims: &[ledger::BarcodeClaim],
) -> Result<()> {
    if claims.is_empty() {
        return Ok(());
    }
    let r = sqlx::query(
        "INSERT INTO wallet_barcodes (organizer_id, barcode, ticket_id) \
         SELECT $1, u.barcode, u.ticket_id FROM UNNEST($2::text[], $3::text[]) \
         AS u (barcode, ticket_id)",
    )
    .bind(organizer_id)
    .bind(
        claims
            .iter()
            .map(|c| c.barcode.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        claims
            .iter()
            .map(|c| c.ticket_id.as_str())
            .collect::<Vec<_>>(),
    )
    .execute(&mut **tx)
    .await;
    match r {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
            "a barcode of the call was registered to another ticket meanwhile; send the call again"
                .into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The seqs greater than `after_seq` of a row's `log_seqs` (oldest first), appended to
/// `out`. The list is read from its end, so a long history costs only its new tail.
fn seqs_after(log_seqs: &str, after_seq: i64, out: &mut Vec<i64>) -> Result<()> {
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
        out.push(seq);
    }
    out[start..].reverse();
    Ok(())
}

/// The seqs as ranges `lo[i]..=hi[i]` of the primary key, merging seqs at most
/// [`RANGE_GAP`] apart: reading a few entries too many costs less than another index
/// descent.
fn seq_ranges(seqs: &[i64]) -> (Vec<i64>, Vec<i64>) {
    let mut sorted = seqs.to_vec();
    sorted.sort_unstable();
    let (mut lo, mut hi): (Vec<i64>, Vec<i64>) = (Vec::new(), Vec::new());
    for seq in sorted {
        match hi.last_mut() {
            Some(h) if seq - *h <= RANGE_GAP => *h = (*h).max(seq),
            _ => {
                lo.push(seq);
                hi.push(seq);
            }
        }
    }
    (lo, hi)
}

/// See [`seq_ranges`].
const RANGE_GAP: i64 = 16;

/// The change feed's transaction: one snapshot for a page and its histories; no JIT
/// compilation (the planner's estimates of the range reads are large enough to
/// trigger it, and compiling costs far more than the reads); and no sort or bitmap
/// scan, so the page is always read in order along the `(organizer_id, change_seq)`
/// index. Without that, a table just filled and not yet analysed was planned as a
/// bitmap scan of every later row and a sort of them all — 2 s a page at 1M tickets
/// instead of 5 ms (measured).
const SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL jit = off; \
     SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off";

fn organizer_row(r: &PgRow) -> Result<Organizer> {
    Ok(Organizer {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        created_at: r.try_get(2)?,
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
            .push(" OR owner_email = ")
            .push_bind(email_key(text))
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
        row.as_ref().map(organizer_row).transpose()
    }

    async fn rotate_key(&self, organizer_id: i64, api_key_sha256: &str) -> Result<Organizer> {
        let r = sqlx::query(
            "UPDATE wallet_organizers SET api_key_sha256 = $2 WHERE id = $1 \
             RETURNING id, name, created_at",
        )
        .bind(organizer_id)
        .bind(api_key_sha256)
        .fetch_optional(&self.pool)
        .await;
        match r {
            Ok(Some(row)) => organizer_row(&row),
            Ok(None) => Err(StoreError::NotFound(format!(
                "organizer {organizer_id} does not exist"
            ))),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
                "another organizer holds this API key".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    async fn inject(
        &self,
        organizer_id: i64,
        tickets: Vec<Ticket>,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> Result<Vec<ItemResult>> {
        // Serialise and hash before taking the organizer's lock, to hold it shorter.
        let prepared = ledger::prepare(tickets);
        let mut tx = self.pool.begin().await?;
        let head = lock_head(&mut tx, organizer_id).await?;
        let at = ledger::format_at(not_before(&mut tx, organizer_id, &head, at).await?);

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

        let barcodes = barcode_holders(&mut tx, organizer_id, &prepared).await?;
        let plan = ledger::plan_inject(prepared, current, barcodes, head, actor.as_str(), &at);
        if plan.is_empty() {
            tx.rollback().await?;
            return Ok(plan.results);
        }
        register_barcodes(&mut tx, organizer_id, &plan.barcodes).await?;

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
             status, content, content_hash, owner, initial_owner, owner_email, transfer_level, \
             status_changed_at, change_seq, log_seqs) \
             SELECT $1, u.ticket_id, u.event_id, u.tax_number, u.barcode, 'INJECTED', u.content, \
             u.content_hash, u.owner::jsonb, u.owner::jsonb, u.owner_email, 0, $2, u.change_seq, \
             u.log_seqs \
             FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
             $9::text[], $10::bigint[], $11::text[], $12::text[]) \
             AS u (ticket_id, event_id, tax_number, barcode, content, content_hash, owner, \
             change_seq, log_seqs, owner_email) \
             ON CONFLICT (organizer_id, ticket_id) DO UPDATE SET \
             event_id = EXCLUDED.event_id, tax_number = EXCLUDED.tax_number, \
             barcode = EXCLUDED.barcode, content = EXCLUDED.content, \
             content_hash = EXCLUDED.content_hash, owner = EXCLUDED.owner, \
             owner_email = EXCLUDED.owner_email, change_seq = EXCLUDED.change_seq, \
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
        .bind(
            t.iter()
                .map(|t| t.owner_email.as_deref())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;

        append_entries(&mut tx, organizer_id, &plan.entries, &plan.head).await?;
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
        let content: String = row.try_get(12)?;
        let seqs =
            ledger::parse_log_seqs(&row.try_get::<String, _>(13)?).map_err(StoreError::Backend)?;
        let mut state = stored_ticket(&row)?
            .into_state()
            .map_err(StoreError::Backend)?;
        state.history = history(&mut tx, organizer_id, &seqs).await?;
        tx.commit().await?;
        let ticket: Ticket = serde_json::from_str(&content)
            .map_err(|e| StoreError::Backend(format!("stored ticket {ticket_id}: {e}")))?;
        Ok(Some(TicketRecord { ticket, state }))
    }

    async fn tickets(&self, organizer_id: i64, query: &TicketQuery) -> Result<TicketList> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let mut total = -1;
        if query.counts_total() {
            let mut count = QueryBuilder::new("SELECT COUNT(*) FROM wallet_tickets");
            push_filter(&mut count, organizer_id, query);
            total = count.build().fetch_one(&mut *tx).await?.try_get(0)?;
        }

        let mut list = QueryBuilder::new(format!(
            "SELECT {TICKET_COLUMNS}, barcode FROM wallet_tickets"
        ));
        push_filter(&mut list, organizer_id, query);
        if let Some(after) = &query.after {
            list.push(" AND ticket_id > ").push_bind(after.clone());
        }
        list.push(" ORDER BY ticket_id LIMIT ")
            .push_bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
            .push(" OFFSET ")
            .push_bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
        let rows = list.build().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let tickets = rows
            .iter()
            .map(|r| {
                let row = StoredTicket {
                    barcode: r.try_get(12)?,
                    ..stored_ticket(r)?
                };
                row.into_state().map_err(StoreError::Backend)
            })
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

    async fn apply(
        &self,
        organizer_id: i64,
        ops: Vec<Op>,
        at: DateTime<Utc>,
        settings: Settings,
    ) -> Result<Vec<OpResult>> {
        let mut tx = self.pool.begin().await?;
        let head = lock_head(&mut tx, organizer_id).await?;
        let at = not_before(&mut tx, organizer_id, &head, at).await?;
        let current = {
            let mut ids: Vec<&str> = ops.iter().map(|o| o.ticket_id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            let with_facts = ops.iter().any(|o| o.action.needs_facts());
            load_tickets(&mut tx, organizer_id, &ids, with_facts).await?
        };
        let plan = lifecycle::plan_actions(ops, current, head, at, &settings);
        if plan.entries.is_empty() {
            tx.rollback().await?;
            return Ok(plan.results);
        }
        write_lifecycles(&mut tx, organizer_id, &plan.writes).await?;
        append_entries(&mut tx, organizer_id, &plan.entries, &plan.head).await?;
        tx.commit().await?;
        Ok(plan.results)
    }

    async fn diff_since(
        &self,
        organizer_id: i64,
        after_seq: i64,
        limit: usize,
        history_after: i64,
    ) -> Result<Vec<TicketState>> {
        let mut tx = self.pool.begin_with(SNAPSHOT).await?;
        let mut page = Vec::with_capacity(limit.min(10_000));
        // The seqs of every ticket's new entries, ticket after ticket, and where each
        // ticket's run ends. Rows are decoded as they arrive, while the server is
        // still producing the next ones.
        let mut wanted = Vec::with_capacity(limit.min(10_000));
        let mut ends = Vec::with_capacity(limit.min(10_000));
        {
            let sql = format!(
                "SELECT {TICKET_COLUMNS}, log_seqs FROM wallet_tickets \
                 WHERE organizer_id = $1 AND change_seq > $2 ORDER BY change_seq LIMIT $3"
            );
            let mut rows = sqlx::query(&sql)
                .bind(organizer_id)
                .bind(after_seq)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch(&mut *tx);
            while let Some(r) = rows.try_next().await? {
                page.push(
                    stored_ticket(&r)?
                        .into_state()
                        .map_err(StoreError::Backend)?,
                );
                seqs_after(r.try_get::<&str, _>(12)?, history_after, &mut wanted)?;
                ends.push(wanted.len());
            }
        }
        if !wanted.is_empty() {
            // The entries by seq; moved out into the histories once each.
            let mut entries: Vec<Option<LogEntry>> = Vec::with_capacity(wanted.len());
            let mut seqs: Vec<i64> = Vec::with_capacity(wanted.len());
            {
                let (lo, hi) = seq_ranges(&wanted);
                // Dense seqs (the usual page: recent changes) are read as a few
                // ranges of the primary key; scattered ones one by one.
                let by_ranges = lo.len() * 4 <= wanted.len();
                let sql = if by_ranges {
                    format!(
                        "SELECT l.* FROM UNNEST($2::bigint[], $3::bigint[]) AS r (lo, hi) \
                         CROSS JOIN LATERAL (SELECT {LOG_COLUMNS} FROM wallet_status_log \
                         WHERE organizer_id = $1 AND seq BETWEEN r.lo AND r.hi OFFSET 0) AS l"
                    )
                } else {
                    format!(
                        "SELECT {LOG_COLUMNS} FROM wallet_status_log \
                         WHERE organizer_id = $1 AND seq = ANY($2)"
                    )
                };
                let query = sqlx::query(&sql).bind(organizer_id);
                let query = if by_ranges {
                    query.bind(lo).bind(hi)
                } else {
                    query.bind(&wanted)
                };
                let mut rows = query.fetch(&mut *tx);
                while let Some(r) = rows.try_next().await? {
                    let e = log_entry(&r)?;
                    seqs.push(e.seq);
                    entries.push(Some(e));
                }
            }
            // Both queries answer in seq order; sort only if that ever changes.
            if !seqs.is_sorted() {
                let mut both: Vec<_> = seqs.into_iter().zip(entries).collect();
                both.sort_unstable_by_key(|(seq, _)| *seq);
                (seqs, entries) = both.into_iter().unzip();
            }
            let mut start = 0;
            for (state, end) in page.iter_mut().zip(ends) {
                state.history.reserve(end - start);
                for seq in &wanted[start..end] {
                    let e = seqs
                        .binary_search(seq)
                        .ok()
                        .and_then(|i| entries[i].take())
                        .ok_or_else(|| {
                            StoreError::Backend(format!(
                                "log entry {seq} of ticket {} is missing",
                                state.ticket_id
                            ))
                        })?;
                    state.history.push(e);
                }
                start = end;
            }
        }
        tx.commit().await?;
        Ok(page)
    }

    async fn app_tickets(&self, organizer_id: i64, email: &str) -> Result<AppTickets> {
        let email = email_key(email);
        let mut out = AppTickets::default();
        if email.is_empty() {
            return Ok(out);
        }
        // Both indexes, one statement: one snapshot for the three lists.
        let rows = sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS}, owner_email, pending_to FROM wallet_tickets \
             WHERE organizer_id = $1 AND (owner_email = $2 OR pending_to = $2) \
             ORDER BY ticket_id"
        ))
        .bind(organizer_id)
        .bind(&email)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let owned = r.try_get::<Option<&str>, _>(12)? == Some(email.as_str());
            let incoming = r.try_get::<Option<&str>, _>(13)? == Some(email.as_str());
            let state = stored_ticket(r)?
                .into_state()
                .map_err(StoreError::Backend)?;
            let deleted = parse_status(&state.status)?.is_deleted();
            let shown = state
                .deletion
                .as_ref()
                .is_some_and(|d| d.show_deleted_ticket);
            match (owned, incoming) {
                (true, true) => {
                    // Cannot happen (a transfer to its own owner is refused); listed
                    // under both rather than lost.
                    out.incoming_transfers.push(state.clone());
                    if !deleted {
                        out.tickets.push(state);
                    } else if shown {
                        out.deleted_tickets.push(state);
                    }
                }
                (false, true) => out.incoming_transfers.push(state),
                (true, false) if !deleted => out.tickets.push(state),
                (true, false) if shown => out.deleted_tickets.push(state),
                _ => {}
            }
        }
        Ok(out)
    }

    async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<DueTicket>> {
        let rows = sqlx::query(
            "SELECT organizer_id, ticket_id, status FROM wallet_tickets \
             WHERE due_at IS NOT NULL AND due_at <= $1 \
             ORDER BY due_at, organizer_id, ticket_id LIMIT $2",
        )
        .bind(ledger::format_at(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueTicket {
                    organizer_id: r.try_get(0)?,
                    ticket_id: r.try_get(1)?,
                    status: parse_status(r.try_get(2)?)?,
                })
            })
            .collect()
    }

    async fn report(&self, organizer_id: i64, query: &LogQuery) -> Result<Vec<LogEntry>> {
        // Times compare as text (RFC 3339 UTC millis), in byte order whatever the
        // database's collation.
        let rows = sqlx::query(&format!(
            "SELECT {LOG_COLUMNS} FROM wallet_status_log \
             WHERE organizer_id = $1 AND seq > $2 \
             AND ($3::text IS NULL OR at COLLATE \"C\" >= $3) \
             AND ($4::text IS NULL OR at COLLATE \"C\" < $4) \
             ORDER BY seq LIMIT $5"
        ))
        .bind(organizer_id)
        .bind(query.after_seq)
        .bind(query.from.as_deref())
        .bind(query.to.as_deref())
        .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(log_entry).collect()
    }

    async fn chain_head(&self, organizer_id: i64) -> Result<ChainHead> {
        let row = sqlx::query("SELECT last_seq, last_hash FROM wallet_organizers WHERE id = $1")
            .bind(organizer_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!("organizer {organizer_id} does not exist"))
            })?;
        Ok(ChainHead {
            seq: row.try_get(0)?,
            hash: row.try_get(1)?,
        })
    }

    async fn ticket_heads(
        &self,
        organizer_id: i64,
        after_ticket_id: &str,
        limit: usize,
    ) -> Result<Vec<TicketHead>> {
        // `ticket_id` is collated "C": the order and `>` agree, by the primary key.
        let rows = sqlx::query(
            "SELECT t.ticket_id, t.status, t.owner->>'email', t.owner_email, t.change_seq, \
             l.ticket_id, l.to_status, l.to_owner, \
             NULLIF(split_part(t.log_seqs, ',', 1), '')::bigint \
             FROM wallet_tickets t LEFT JOIN wallet_status_log l \
             ON l.organizer_id = t.organizer_id AND l.seq = t.change_seq \
             WHERE t.organizer_id = $1 AND t.ticket_id > $2 ORDER BY t.ticket_id LIMIT $3",
        )
        .bind(organizer_id)
        .bind(after_ticket_id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let shown: Option<String> = r.try_get(2)?;
                let column: Option<String> = r.try_get(3)?;
                // The owner shown (JSON) and the one app sessions find the ticket by
                // (the lower-cased column) must agree; when they do not, the owner
                // reported cannot match the entry's, and verify names the ticket.
                let owner_email = if shown.as_deref().map(email_key) == column {
                    column
                } else {
                    Some(format!(
                        "{} (owner_email column: {})",
                        shown.as_deref().unwrap_or("none"),
                        column.as_deref().unwrap_or("none")
                    ))
                };
                Ok(TicketHead {
                    ticket_id: r.try_get(0)?,
                    status: r.try_get(1)?,
                    owner_email,
                    change_seq: r.try_get(4)?,
                    entry: head_entry(r, 5)?,
                    first_seq: r.try_get(8)?,
                })
            })
            .collect()
    }

    async fn organizers(&self) -> Result<Vec<Organizer>> {
        let rows = sqlx::query("SELECT id, name, created_at FROM wallet_organizers ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(organizer_row).collect()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
