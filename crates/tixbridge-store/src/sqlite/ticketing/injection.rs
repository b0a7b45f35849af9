//! SQLite: the injection function's part of the ticketing store — selecting
//! candidates (the backlog by keyset on the not-printed index, the corrected printed
//! tickets on theirs, or a force list) and marking what the wallet accepted.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, params};

use tixbridge_core::api::Person;
use tixbridge_core::model::{InjectionFilters, WALLET_SHIPMENT_MODE};

use super::{CONTACT_COLUMNS, Cur, TICKET_COLUMNS, read_contact, read_ticket, to_json, ts};
use crate::{
    InjectedMark, InjectionCandidate, InjectionQuery, MarkedBy, PushedDefinition, ReplacedTicket,
    Result, merge_by_id,
};

/// Everything injection needs in one row: the ticket, its cultural contact, and for a
/// reprint the replaced ticket's cause and its last wallet owner.
///
/// `from` pins the plan: without statistics SQLite prefers walking the table by id,
/// which reads every printed ticket of the organization on each call; the not-printed
/// index reads only the backlog. `CROSS JOIN` keeps the tickets as the outer loop, so
/// the walk is in id order and stops at the limit.
fn candidate_sql(from: &str, selection: &str, cards: bool) -> String {
    let kind = if cards { "IN" } else { "NOT IN" };
    format!(
        "SELECT {TICKET_COLUMNS}, {CONTACT_COLUMNS}, r.cause, mp.owner
         FROM {from}
         CROSS JOIN products p
         CROSS JOIN contacts c
         LEFT JOIN tickets r ON r.id = t.replaces_ticket_id
         LEFT JOIN mobile_projections mp ON mp.ticket_id = t.replaces_ticket_id
         WHERE p.id = t.product_id AND c.id = t.contact_id
           AND t.organization_id = :org AND t.id > :after
           AND t.shipment_mode = '{WALLET_SHIPMENT_MODE}'
           AND p.kind {kind} ('MEMBERSHIP_CARD', 'SEASON_CARD')
           AND {selection}
         ORDER BY t.id
         LIMIT :limit"
    )
}

/// Not processed by the function (injection, or Privileges injection for cards).
fn not_processed(cards: bool) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM processed_markers m
         WHERE m.ticket_id = t.id AND m.function = '{}')",
        marker_function(cards)
    )
}

/// The processed marker's function: `INJECTION`, or `PRIVILEGES_INJECTION` for cards.
fn marker_function(cards: bool) -> &'static str {
    if cards {
        "PRIVILEGES_INJECTION"
    } else {
        "INJECTION"
    }
}

/// The backlog: tickets not printed yet, walked on the not-printed index.
const BACKLOG: (&str, &str) = (
    "tickets t INDEXED BY tickets_not_printed",
    "t.status = 'NOT_PRINTED'",
);
/// The backlog of one file (order), found on its own index.
const FILE_BACKLOG: (&str, &str) = (
    "tickets t INDEXED BY tickets_not_printed_file",
    "t.status = 'NOT_PRINTED'",
);
/// Printed tickets corrected since their injection (`import tickets --update`): the
/// wallet's copy is out of date, so injection sends them again. Few, on their own
/// partial index.
const CORRECTED: (&str, &str) = (
    "processed_markers m INDEXED BY processed_markers_corrected CROSS JOIN tickets t",
    "m.function = 'INJECTION' AND m.corrected_at IS NOT NULL AND m.ticket_id > :after
     AND t.id = m.ticket_id AND t.status = 'PRINTED'",
);

/// The selection of `source` narrowed by the schedule's filters, all ANDed; only the
/// filters set appear, so each combination is its own cached statement with a plain
/// plan. Product and performance codes become ids once per call.
fn filter_selection(source: (&str, &str), f: &InjectionFilters, cards: bool) -> String {
    let mut sel = source.1.to_owned();
    if source != CORRECTED {
        sel.push_str(" AND ");
        sel.push_str(&not_processed(cards));
    }
    if f.file_number.is_some() {
        // A file number is exclusive: every other filter is ignored.
        sel.push_str(" AND t.file_id = :file");
        return sel;
    }
    let terms = [
        (&f.sales_channel, "t.sales_channel = :sales_channel"),
        (&f.season, "t.season_code = :season"),
        (&f.product_family, "p.family = :family"),
        (
            &f.product,
            "t.product_id = (SELECT id FROM products
                             WHERE organization_id = :org AND code = :product)",
        ),
        (
            &f.performance,
            "t.performance_id = (SELECT id FROM performances
                                 WHERE organization_id = :org AND code = :performance)",
        ),
        (&f.tariff, "t.tariff = :tariff"),
        (&f.category, "t.category = :category"),
    ];
    for (value, term) in terms {
        if value.is_some() {
            sel.push_str(" AND ");
            sel.push_str(term);
        }
    }
    sel
}

/// A force list: only those tickets, processed or not, printed or not.
const FORCE_SELECTION: &str = "t.status IN ('NOT_PRINTED', 'PRINTED')
    AND t.id IN (SELECT value FROM json_each(:ids)
                 UNION
                 SELECT x.id FROM tickets x
                 WHERE x.organization_id = :org
                   AND x.tax_number IN (SELECT value FROM json_each(:taxes)))";

fn read_candidate(r: &rusqlite::Row<'_>) -> rusqlite::Result<InjectionCandidate> {
    let mut c = Cur::new(r);
    let ticket = read_ticket(&mut c)?;
    let contact = read_contact(&mut c)?;
    let cause = c.cause()?;
    let last_owner: Option<Person> = c.opt_json()?;
    let replaced = ticket.replaces_ticket_id.map(|id| ReplacedTicket {
        ticket_id: id,
        cause,
        last_owner,
    });
    Ok(InjectionCandidate {
        ticket,
        contact,
        replaced,
    })
}

pub(super) fn candidates(
    conn: &Connection,
    organization_id: i64,
    q: &InjectionQuery,
) -> Result<Vec<InjectionCandidate>> {
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    let f = &q.filters;
    let ids;
    let taxes;
    let mut params: Vec<(&str, &dyn rusqlite::ToSql)> = vec![
        (":org", &organization_id),
        (":after", &q.after_id),
        (":limit", &limit),
    ];
    if !q.force.is_empty() {
        ids = to_json(&q.force.ids)?;
        taxes = to_json(&q.force.tax_numbers)?;
        params.push((":ids", &ids));
        params.push((":taxes", &taxes));
        let sql = candidate_sql("tickets t", FORCE_SELECTION, q.cards);
        return page(conn, &sql, &params, q.limit);
    }
    let backlog = if let Some(file) = &f.file_number {
        params.push((":file", file));
        FILE_BACKLOG
    } else {
        let named = [
            (":sales_channel", &f.sales_channel),
            (":season", &f.season),
            (":family", &f.product_family),
            (":product", &f.product),
            (":performance", &f.performance),
            (":tariff", &f.tariff),
            (":category", &f.category),
        ];
        for (name, value) in named {
            if let Some(v) = value {
                params.push((name, v));
            }
        }
        BACKLOG
    };
    let sql = candidate_sql(backlog.0, &filter_selection(backlog, f, q.cards), q.cards);
    let new = page(conn, &sql, &params, q.limit)?;
    if q.cards {
        return Ok(new);
    }
    let sql = candidate_sql(CORRECTED.0, &filter_selection(CORRECTED, f, false), false);
    let corrected = page(conn, &sql, &params, q.limit)?;
    Ok(merge_by_id(new, corrected, q.limit))
}

fn page(
    conn: &Connection,
    sql: &str,
    params: &[(&str, &dyn rusqlite::ToSql)],
    limit: usize,
) -> Result<Vec<InjectionCandidate>> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map(params, read_candidate)?;
    let mut out = Vec::with_capacity(limit.min(10_000));
    for r in rows {
        out.push(r?);
    }
    Ok(out)
}

/// Marks injected tickets in the caller's transaction (see
/// `TicketingStore::mark_injected`); `owners` are the recipients as JSON, in order.
pub(super) fn mark(
    tx: &Transaction<'_>,
    by: MarkedBy,
    cards: bool,
    pos: &str,
    at: DateTime<Utc>,
    marks: &[InjectedMark],
    owners: &[String],
) -> Result<()> {
    let MarkedBy {
        schedule_id,
        execution_id,
    } = by;
    super::schedule_exists(tx, schedule_id)?;
    let at = ts(at);
    let mut print = tx.prepare_cached(
        "UPDATE tickets SET status = 'PRINTED', printed_by = ?2, printed_at = ?3
         WHERE id = ?1 AND status IN ('NOT_PRINTED', 'PRINTED')",
    )?;
    let mut mark = tx.prepare_cached(&format!(
        "INSERT INTO processed_markers
             (ticket_id, function, schedule_id, processed_at, cause, execution_id)
         VALUES (?1, '{}', ?2, ?3, NULL, ?4)
         ON CONFLICT (ticket_id, function) DO UPDATE SET
             schedule_id = excluded.schedule_id,
             processed_at = excluded.processed_at,
             cause = NULL,
             execution_id = excluded.execution_id,
             -- Sent again: up to date, unless corrected after the execution
             -- started (the content sent may predate the correction).
             corrected_at = CASE
                 WHEN processed_markers.corrected_at
                      > (SELECT started_at FROM executions WHERE id = ?4)
                 THEN processed_markers.corrected_at END",
        marker_function(cards)
    ))?;
    let mut project = tx.prepare_cached(
        "INSERT INTO mobile_projections
             (ticket_id, wallet_status, owner, holder, transfer_level, updated_at)
         VALUES (?1, 'INJECTED', ?2, NULL, 0, ?3)
         ON CONFLICT (ticket_id) DO UPDATE SET
             wallet_status = excluded.wallet_status,
             owner = excluded.owner,
             holder = NULL,
             transfer_level = 0,
             updated_at = excluded.updated_at
         -- A re-sent ticket already on a phone keeps its owner in the
         -- wallet, so its projection stays as Feedback left it.
         WHERE mobile_projections.wallet_status = 'INJECTED'",
    )?;
    for (m, owner) in marks.iter().zip(owners) {
        if print.execute(params![m.ticket_id, pos, at])? == 1 {
            mark.execute(params![m.ticket_id, schedule_id, at, execution_id])?;
            project.execute(params![m.ticket_id, owner, at])?;
        }
    }
    Ok(())
}

/// Records the definitions sent with accepted cards, in the caller's transaction.
pub(super) fn record_definitions(
    tx: &Transaction<'_>,
    at: DateTime<Utc>,
    definitions: &[PushedDefinition],
) -> Result<()> {
    let mut put = tx.prepare_cached(
        "INSERT INTO privilege_definitions (product_id, definition_hash, pushed_at)
         VALUES (?1, ?2, ?3)
         ON CONFLICT (product_id) DO UPDATE SET
             definition_hash = excluded.definition_hash,
             pushed_at = excluded.pushed_at",
    )?;
    let at = ts(at);
    for d in definitions {
        put.execute(params![d.product_id, d.definition_hash, at])?;
    }
    Ok(())
}

/// The definitions last sent for the organization's products.
pub(super) fn pushed_definitions(conn: &Connection, org: i64) -> Result<Vec<PushedDefinition>> {
    let mut st = conn.prepare_cached(
        "SELECT d.product_id, d.definition_hash FROM privilege_definitions d
         JOIN products p ON p.id = d.product_id
         WHERE p.organization_id = ?1 ORDER BY d.product_id",
    )?;
    let rows = st.query_map([org], |r| {
        Ok(PushedDefinition {
            product_id: r.get(0)?,
            definition_hash: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The lowest-id printed card of each product injected as a privilege (see
/// `TicketingStore::definition_carriers`).
pub(super) fn definition_carriers(
    conn: &Connection,
    org: i64,
    product_ids: &[i64],
) -> Result<Vec<InjectionCandidate>> {
    let sql = candidate_sql(
        "tickets t",
        "t.status = 'PRINTED' AND t.product_id = :product
         AND EXISTS (SELECT 1 FROM processed_markers m
                     WHERE m.ticket_id = t.id AND m.function = 'PRIVILEGES_INJECTION')",
        true,
    );
    let mut out = Vec::new();
    for product in product_ids {
        let params: [(&str, &dyn rusqlite::ToSql); 4] = [
            (":org", &org),
            (":after", &0i64),
            (":limit", &1i64),
            (":product", product),
        ];
        out.extend(page(conn, &sql, &params, 1)?);
    }
    out.sort_by_key(|c| c.ticket.id);
    Ok(out)
}
