//! PostgreSQL: the injection function's part of the ticketing store — selecting
//! candidates (the backlog, the corrected printed tickets, or a force list) and
//! marking what the wallet accepted in one statement.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgRow;

use tixbridge_core::api::Person;
use tixbridge_core::model::{InjectionFilters, WALLET_SHIPMENT_MODE};

use super::{CONTACT_COLUMNS, Cur, TICKET_COLUMNS, read_contact, read_ticket, to_json};
use crate::{
    InjectedMark, InjectionCandidate, InjectionQuery, MarkedBy, PushedDefinition, ReplacedTicket,
    Result, StoreError, merge_by_id,
};

/// Everything injection needs in one row: the ticket, its cultural contact, and for a
/// reprint the replaced ticket's cause and its last wallet owner. `$1` organization,
/// `$2` after id, `$3` limit; the selection's own parameters follow.
fn candidate_sql(from: &str, selection: &str, cards: bool) -> String {
    let kind = if cards { "IN" } else { "NOT IN" };
    format!(
        "SELECT {TICKET_COLUMNS}, {CONTACT_COLUMNS}, r.cause, mp.owner
         FROM {from}
         JOIN products p ON p.id = t.product_id
         JOIN contacts c ON c.id = t.contact_id
         LEFT JOIN tickets r ON r.id = t.replaces_ticket_id
         LEFT JOIN mobile_projections mp ON mp.ticket_id = t.replaces_ticket_id
         WHERE t.organization_id = $1 AND t.id > $2
           AND t.shipment_mode = '{WALLET_SHIPMENT_MODE}'
           AND p.kind {kind} ('MEMBERSHIP_CARD', 'SEASON_CARD')
           AND {selection}
         ORDER BY t.id
         LIMIT $3"
    )
}

/// The backlog: tickets not printed yet and not processed by injection.
const BACKLOG: (&str, &str) = (
    "tickets t",
    "t.status = 'NOT_PRINTED' AND NOT EXISTS (SELECT 1 FROM processed_markers m
         WHERE m.ticket_id = t.id AND m.function = 'INJECTION')",
);
/// The cards' backlog: cards not printed yet and not processed by Privileges
/// injection.
const CARD_BACKLOG: (&str, &str) = (
    "tickets t",
    "t.status = 'NOT_PRINTED' AND NOT EXISTS (SELECT 1 FROM processed_markers m
         WHERE m.ticket_id = t.id AND m.function = 'PRIVILEGES_INJECTION')",
);
/// Printed tickets corrected since their injection (`import tickets --update`): the
/// wallet's copy is out of date, so injection sends them again. Few, found from their
/// partial index.
const CORRECTED: (&str, &str) = (
    "processed_markers m JOIN tickets t ON t.id = m.ticket_id",
    "m.function = 'INJECTION' AND m.corrected_at IS NOT NULL AND m.ticket_id > $2
     AND t.status = 'PRINTED'",
);

/// The selection of `source` narrowed by the schedule's filters, all ANDed, with the
/// values to bind from `$4` on. A file number is exclusive: every other filter is
/// ignored. Only the filters set appear, so each combination has a plain plan; product
/// and performance codes become ids once (an init plan).
fn filter_selection<'f>(source: (&str, &str), f: &'f InjectionFilters) -> (String, Vec<&'f str>) {
    let mut sel = source.1.to_owned();
    if let Some(file) = &f.file_number {
        sel.push_str(" AND t.file_id = $4");
        return (sel, vec![file.as_str()]);
    }
    let mut values = Vec::new();
    // (value, SQL before the parameter number, SQL after it)
    let terms: [(&Option<String>, &str, &str); 7] = [
        (&f.sales_channel, "t.sales_channel = $", ""),
        (&f.season, "t.season_code = $", ""),
        (&f.product_family, "p.family = $", ""),
        (
            &f.product,
            "t.product_id = (SELECT id FROM products WHERE organization_id = $1 AND code = $",
            ")",
        ),
        (
            &f.performance,
            "t.performance_id = (SELECT id FROM performances WHERE organization_id = $1 AND code = $",
            ")",
        ),
        (&f.tariff, "t.tariff = $", ""),
        (&f.category, "t.category = $", ""),
    ];
    for (value, before, after) in terms {
        if let Some(v) = value {
            values.push(v.as_str());
            sel.push_str(&format!(" AND {before}{}{after}", 3 + values.len()));
        }
    }
    (sel, values)
}

/// A force list: only those tickets, processed or not, printed or not.
const FORCE_SELECTION: &str = "t.status IN ('NOT_PRINTED', 'PRINTED')
    AND (t.id = ANY($4::bigint[]) OR t.tax_number = ANY($5::text[]))";

fn read_candidate(r: &PgRow) -> Result<InjectionCandidate> {
    let mut c = Cur::new(r);
    let ticket = read_ticket(&mut c)?;
    let contact = read_contact(&mut c)?;
    let cause = c.cause()?;
    let last_owner = c.person()?;
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

/// The candidates of a page (see `TicketingStore::injection_candidates`).
pub(super) async fn candidates(
    pool: &PgPool,
    organization_id: i64,
    q: &InjectionQuery,
) -> Result<Vec<InjectionCandidate>> {
    if q.limit == 0 {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    if !q.force.is_empty() {
        let ids: Vec<i64> = q.force.ids.iter().copied().collect();
        let taxes: Vec<&str> = q.force.tax_numbers.iter().map(String::as_str).collect();
        return sqlx::query(&candidate_sql("tickets t", FORCE_SELECTION, q.cards))
            .bind(organization_id)
            .bind(q.after_id)
            .bind(limit)
            .bind(ids)
            .bind(taxes)
            .fetch_all(pool)
            .await?
            .iter()
            .map(read_candidate)
            .collect();
    }
    let sources: &[(&str, &str)] = if q.cards {
        &[CARD_BACKLOG]
    } else {
        &[BACKLOG, CORRECTED]
    };
    let mut found = Vec::with_capacity(2);
    for &source in sources {
        let (selection, values) = filter_selection(source, &q.filters);
        let sql = candidate_sql(source.0, &selection, q.cards);
        let mut query = sqlx::query(&sql)
            .bind(organization_id)
            .bind(q.after_id)
            .bind(limit);
        for v in values {
            query = query.bind(v);
        }
        let rows = query.fetch_all(pool).await?;
        found.push(
            rows.iter()
                .map(read_candidate)
                .collect::<Result<Vec<_>>>()?,
        );
    }
    let corrected = if q.cards {
        Vec::new()
    } else {
        found.pop().unwrap_or_default()
    };
    let backlog = found.pop().unwrap_or_default();
    Ok(merge_by_id(backlog, corrected, q.limit))
}

/// Marks injected tickets (see `TicketingStore::mark_injected`), or cards injected as
/// privileges (`cards`: the marker of Privileges injection).
pub(super) async fn mark<'e, E: sqlx::PgExecutor<'e>>(
    exec: E,
    by: MarkedBy,
    cards: bool,
    point_of_sales: &str,
    at: DateTime<Utc>,
    marks: Vec<InjectedMark>,
) -> Result<()> {
    if marks.is_empty() {
        return Ok(());
    }
    let MarkedBy {
        schedule_id,
        execution_id,
    } = by;
    // One row per ticket (the last mark wins): an upsert may not touch a row twice
    // in one statement.
    let mut by_id: BTreeMap<i64, &Person> = BTreeMap::new();
    for m in &marks {
        by_id.insert(m.ticket_id, &m.recipient);
    }
    let ids: Vec<i64> = by_id.keys().copied().collect();
    let owners = by_id.values().map(to_json).collect::<Result<Vec<_>>>()?;
    // One statement, hence one transaction: print, mark processed, project. The
    // schedule check guards the UPDATE, so an unknown schedule changes nothing.
    let function = if cards {
        "PRIVILEGES_INJECTION"
    } else {
        "INJECTION"
    };
    let sql = format!(
        "WITH s AS (SELECT id FROM schedules WHERE id = $4),
         printed AS (
             UPDATE tickets t SET status = 'PRINTED', printed_by = $2, printed_at = $3
             FROM UNNEST($1::bigint[]) AS u(id)
             WHERE t.id = u.id AND t.status IN ('NOT_PRINTED', 'PRINTED')
               AND EXISTS (SELECT 1 FROM s)
             RETURNING t.id
         ),
         marked AS (
             INSERT INTO processed_markers
                 (ticket_id, function, schedule_id, processed_at, cause, execution_id)
             SELECT id, '{function}', $4, $3, NULL, $6 FROM printed
             ON CONFLICT (ticket_id, function) DO UPDATE SET
                 schedule_id = EXCLUDED.schedule_id,
                 processed_at = EXCLUDED.processed_at,
                 cause = NULL,
                 execution_id = EXCLUDED.execution_id,
                 -- Sent again: up to date, unless corrected after the execution
                 -- started (the content sent may predate the correction).
                 corrected_at = CASE
                     WHEN processed_markers.corrected_at
                          > (SELECT started_at FROM executions WHERE id = $6)
                     THEN processed_markers.corrected_at END
         ),
         projected AS (
             INSERT INTO mobile_projections
                 (ticket_id, wallet_status, owner, holder, transfer_level, updated_at)
             SELECT u.id, 'INJECTED', u.owner::jsonb, NULL, 0, $3
             FROM UNNEST($1::bigint[], $5::text[]) AS u(id, owner)
             JOIN printed ON printed.id = u.id
             ON CONFLICT (ticket_id) DO UPDATE SET
                 wallet_status = EXCLUDED.wallet_status,
                 owner = EXCLUDED.owner,
                 holder = NULL,
                 transfer_level = 0,
                 updated_at = EXCLUDED.updated_at
             -- A re-sent ticket already on a phone keeps its owner in the wallet,
             -- so its projection stays as Feedback left it.
             WHERE mobile_projections.wallet_status = 'INJECTED'
         )
         SELECT EXISTS (SELECT 1 FROM s)"
    );
    let schedule_found: bool = sqlx::query_scalar(&sql)
        .bind(&ids)
        .bind(point_of_sales)
        .bind(at)
        .bind(schedule_id)
        .bind(&owners)
        .bind(execution_id)
        .fetch_one(exec)
        .await?;
    if !schedule_found {
        return Err(StoreError::NotFound(format!(
            "schedule {schedule_id} does not exist"
        )));
    }
    Ok(())
}

/// Marks cards injected as privileges and records the definitions sent with them, in
/// one transaction (see `TicketingStore::mark_privileges_injected`).
pub(super) async fn mark_privileges(
    pool: &PgPool,
    by: MarkedBy,
    point_of_sales: &str,
    at: DateTime<Utc>,
    marks: Vec<InjectedMark>,
    definitions: Vec<PushedDefinition>,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    mark(&mut *tx, by, true, point_of_sales, at, marks).await?;
    // One row per product (the last wins): an upsert may not touch a row twice.
    let mut by_product: BTreeMap<i64, &str> = BTreeMap::new();
    for d in &definitions {
        by_product.insert(d.product_id, &d.definition_hash);
    }
    let products: Vec<i64> = by_product.keys().copied().collect();
    let hashes: Vec<&str> = by_product.values().copied().collect();
    sqlx::query(
        "INSERT INTO privilege_definitions (product_id, definition_hash, pushed_at)
         SELECT u.product, u.hash, $3 FROM UNNEST($1::bigint[], $2::text[]) AS u(product, hash)
         ON CONFLICT (product_id) DO UPDATE SET
             definition_hash = EXCLUDED.definition_hash,
             pushed_at = EXCLUDED.pushed_at",
    )
    .bind(&products)
    .bind(&hashes)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The definitions last sent for the organization's products.
pub(super) async fn pushed_definitions(pool: &PgPool, org: i64) -> Result<Vec<PushedDefinition>> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT d.product_id, d.definition_hash FROM privilege_definitions d
         JOIN products p ON p.id = d.product_id
         WHERE p.organization_id = $1 ORDER BY d.product_id",
    )
    .bind(org)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(product_id, definition_hash)| PushedDefinition {
            product_id,
            definition_hash,
        })
        .collect())
}

/// The lowest-id printed card of each product injected as a privilege (see
/// `TicketingStore::definition_carriers`).
pub(super) async fn definition_carriers(
    pool: &PgPool,
    org: i64,
    product_ids: &[i64],
) -> Result<Vec<InjectionCandidate>> {
    let sql = candidate_sql(
        "tickets t",
        "t.status = 'PRINTED' AND t.product_id = $4
         AND EXISTS (SELECT 1 FROM processed_markers m
                     WHERE m.ticket_id = t.id AND m.function = 'PRIVILEGES_INJECTION')",
        true,
    );
    let mut out = Vec::new();
    for product in product_ids {
        let rows = sqlx::query(&sql)
            .bind(org)
            .bind(0i64)
            .bind(1i64)
            .bind(product)
            .fetch_all(pool)
            .await?;
        for r in &rows {
            out.push(read_candidate(r)?);
        }
    }
    out.sort_by_key(|c| c.ticket.id);
    Ok(out)
}
