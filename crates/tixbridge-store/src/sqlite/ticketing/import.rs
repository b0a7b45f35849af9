//! SQLite: the import session — new tickets, or corrections of existing ones
//! (`import tickets --update`).
//!
//! An import holds one transaction across its `add` calls: a dedicated thread owns the
//! writer connection for the whole import (through [`Db::with_writer_blocking`]) and
//! takes commands from a channel. Dropping the session closes the channel; the thread
//! then drops the transaction, which rolls it back.

use std::sync::mpsc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, ToSql, Transaction, TransactionBehavior, params};
use tokio::sync::oneshot;

use tixbridge_core::cause::Cause;

use super::{Cur, constraint_code, opt_ts, organization_exists, text_json, to_json, ts};
use crate::sqlite::Db;
use crate::ticketing::{
    CONTACT_CACHE_MAX, CatalogIds, CorrectedIds, IMPORT_OPERATOR, ImportMode as Mode,
    ImportedReprint, TicketIdentity, check_correction, contact_email_key, plan_imported_reprints,
    replaced_twice,
};
use crate::{CorrectionCounts, ImportRow, ImportSession, Result, StoreError, barcode_taken};

/// A chunk for the import thread: the rows and their details already encoded as JSON.
/// The reply hands the chunk back, so its memory is freed by the thread that allocated
/// it and the writer thread spends its time writing.
struct Chunk {
    rows: Vec<ImportRow>,
    details: Vec<String>,
}

enum Cmd {
    Add(Chunk, oneshot::Sender<(Result<CorrectionCounts>, Chunk)>),
    Commit(oneshot::Sender<Result<u64>>),
}

/// The async face of an import: commands go to the thread that owns the transaction.
pub(super) struct SqliteImport {
    commands: mpsc::Sender<Cmd>,
    counts: CorrectionCounts,
}

fn import_thread_gone() -> StoreError {
    StoreError::Backend("the import thread stopped; nothing was imported".into())
}

impl SqliteImport {
    pub(super) async fn start(
        db: Db,
        organization_id: i64,
        mode: Mode,
    ) -> Result<Box<dyn ImportSession>> {
        let (commands, inbox) = mpsc::channel::<Cmd>();
        let (ready_tx, ready_rx) = oneshot::channel::<Result<()>>();
        std::thread::Builder::new()
            .name("tixbridge-import".into())
            .spawn(move || {
                let mut ready = Some(ready_tx);
                let state = ImportState::new(organization_id, mode);
                let r =
                    db.with_writer_blocking(|conn| import_loop(conn, state, &inbox, &mut ready));
                // Only a failure before the session was handed out is reported here;
                // later ones went back through the command's own reply.
                if let (Err(e), Some(ready)) = (r, ready.take()) {
                    let _ = ready.send(Err(e));
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the import thread: {e}")))?;
        ready_rx.await.map_err(|_| import_thread_gone())??;
        Ok(Box::new(SqliteImport {
            commands,
            counts: CorrectionCounts::default(),
        }))
    }
}

#[async_trait]
impl ImportSession for SqliteImport {
    async fn add(&mut self, rows: Vec<ImportRow>) -> Result<()> {
        let details = rows
            .iter()
            .map(|r| to_json(&r.details))
            .collect::<Result<Vec<_>>>()?;
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Cmd::Add(Chunk { rows, details }, reply))
            .map_err(|_| import_thread_gone())?;
        let (result, spent) = answer.await.map_err(|_| import_thread_gone())?;
        drop(spent);
        self.counts = result?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<u64> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Cmd::Commit(reply))
            .map_err(|_| import_thread_gone())?;
        answer.await.map_err(|_| import_thread_gone())?
    }

    fn corrections(&self) -> CorrectionCounts {
        self.counts
    }
}

/// Runs on the import thread with the writer connection: one transaction for the whole
/// import, committed on `Commit`, rolled back when the channel closes (session dropped).
fn import_loop(
    conn: &mut Connection,
    mut state: ImportState,
    inbox: &mpsc::Receiver<Cmd>,
    ready: &mut Option<oneshot::Sender<Result<()>>>,
) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    organization_exists(&tx, state.organization_id)?;
    if let Some(ready) = ready.take() {
        let _ = ready.send(Ok(()));
    }
    let commit_reply = loop {
        match inbox.recv() {
            Ok(Cmd::Add(chunk, reply)) => {
                let r = state.add_chunk(&tx, &chunk).map(|()| state.counts);
                let _ = reply.send((r, chunk));
            }
            Ok(Cmd::Commit(reply)) => break reply,
            // The session was dropped without commit: dropping `tx` rolls back.
            Err(mpsc::RecvError) => return Ok(()),
        }
    };
    let imported = state.imported;
    let r = tx.commit().map(|()| imported).map_err(StoreError::from);
    let _ = commit_reply.send(r);
    Ok(())
}

/// The catalog rows a ticket row points to.
struct RowIds {
    product: i64,
    performance: Option<i64>,
    contact: i64,
}

struct ImportState {
    organization_id: i64,
    mode: Mode,
    catalog: CatalogIds,
    seen: CorrectedIds,
    counts: CorrectionCounts,
    imported: u64,
}

impl ImportState {
    fn new(organization_id: i64, mode: Mode) -> Self {
        ImportState {
            organization_id,
            mode,
            catalog: CatalogIds::default(),
            seen: CorrectedIds::default(),
            counts: CorrectionCounts::default(),
            imported: 0,
        }
    }

    /// Adds a chunk atomically: on any error the chunk leaves no trace (savepoint), so a
    /// caller that goes on after a conflict never commits half a chunk.
    fn add_chunk(&mut self, tx: &Transaction<'_>, chunk: &Chunk) -> Result<()> {
        tx.execute_batch("SAVEPOINT import_chunk")?;
        let before = self.counts;
        match self.write_rows(tx, &chunk.rows, &chunk.details) {
            Ok(()) => {
                tx.execute_batch("RELEASE import_chunk")?;
                self.imported += chunk.rows.len() as u64;
                Ok(())
            }
            Err(e) => {
                tx.execute_batch("ROLLBACK TO import_chunk; RELEASE import_chunk")?;
                // Ids cached during this chunk may name rows that were just undone.
                self.catalog = CatalogIds::default();
                self.counts = before;
                Err(e)
            }
        }
    }

    fn write_rows(
        &mut self,
        tx: &Transaction<'_>,
        rows: &[ImportRow],
        details: &[String],
    ) -> Result<()> {
        let org = self.organization_id;
        if self.catalog.contacts.len() > CONTACT_CACHE_MAX {
            self.catalog.contacts.clear();
        }
        for (row, details) in rows.iter().zip(details) {
            match self.mode {
                Mode::Import => {
                    let ids = self.catalog.ids(tx, org, row)?;
                    insert_ticket(tx, org, row, details, &ids)?;
                }
                Mode::Correct { at } => {
                    self.seen.first(row.ticket_id)?;
                    check_correction(identity(tx, org, row.ticket_id)?.as_ref(), row)?;
                    let ids = self.catalog.ids(tx, org, row)?;
                    if correct_ticket(tx, org, row, details, &ids)? {
                        self.counts.changed += 1;
                        if mark_corrected(tx, row.ticket_id, at)? {
                            self.counts.resend += 1;
                        }
                    }
                }
            }
        }
        if matches!(self.mode, Mode::Import) {
            invalidate_replaced(tx, org, rows)?;
        }
        Ok(())
    }
}

/// Invalidates the live tickets that rows of the chunk replace, or that replace rows of
/// the chunk (a replaced ticket imported after its replacement), with a history row
/// each (see `ticketing::plan_imported_reprints`).
fn invalidate_replaced(tx: &Transaction<'_>, org: i64, rows: &[ImportRow]) -> Result<()> {
    let news: Vec<i64> = rows
        .iter()
        .filter(|r| r.replaces_ticket_id.is_some())
        .map(|r| r.ticket_id)
        .collect();
    let olds: Vec<i64> = rows.iter().map(|r| r.ticket_id).collect();
    let mut found = Vec::new();
    for (ids, side) in [(news, "n.id"), (olds, "o.id")] {
        if ids.is_empty() {
            continue;
        }
        let mut st = tx.prepare_cached(&format!(
            "SELECT n.id, o.id, o.status FROM tickets n JOIN tickets o ON o.id = n.replaces_ticket_id
             WHERE o.organization_id = ?1 AND {side} IN (SELECT value FROM json_each(?2))"
        ))?;
        let rows = st.query_map(params![org, to_json(&ids)?], |r| {
            let mut c = Cur::new(r);
            Ok(ImportedReprint {
                new_id: c.get()?,
                old_id: c.get()?,
                old_status: c.parsed()?,
            })
        })?;
        for r in rows {
            found.push(r?);
        }
    }
    found.sort_by_key(|r| r.new_id);
    found.dedup();
    let at = ts(chrono::Utc::now());
    for r in plan_imported_reprints(found)? {
        tx.prepare_cached(
            "UPDATE tickets SET status = 'INVALIDATED', cause = 'REPRINT' WHERE id = ?1",
        )?
        .execute([r.old_id])?;
        tx.prepare_cached(
            "INSERT INTO ticket_operations (ticket_id, operation, at, operator, from_status,
                 to_status, cause, related_ticket_id)
             VALUES (?1, 'REPRINT', ?2, ?3, ?4, 'INVALIDATED', 'REPRINT', ?5)",
        )?
        .execute(params![
            r.old_id,
            at,
            IMPORT_OPERATOR,
            r.old_status.as_str(),
            r.new_id
        ])?;
    }
    Ok(())
}

impl CatalogIds {
    /// Creates or updates the season, site, product, performance and contact a row
    /// names (once per code and import), and returns the ids the ticket points to.
    fn ids(&mut self, tx: &Transaction<'_>, org: i64, row: &ImportRow) -> Result<RowIds> {
        if let Some(s) = &row.season
            && !self.seasons.contains(&s.code)
        {
            tx.prepare_cached(
                "INSERT INTO seasons (organization_id, code, name, starts_at, ends_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (organization_id, code) DO UPDATE SET
                     name = excluded.name, starts_at = excluded.starts_at,
                     ends_at = excluded.ends_at",
            )?
            .execute(params![org, s.code, s.name, ts(s.start), ts(s.end)])?;
            self.seasons.insert(s.code.clone());
        }
        let site = match &row.site {
            None => None,
            Some(s) => Some(match self.sites.get(&s.code) {
                Some(id) => *id,
                None => {
                    let id: i64 = tx
                        .prepare_cached(
                            "INSERT INTO sites (organization_id, code, name, city, zip,
                                 country_code, line1, line2, time_zone)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                             ON CONFLICT (organization_id, code) DO UPDATE SET
                                 name = excluded.name, city = excluded.city,
                                 zip = excluded.zip, country_code = excluded.country_code,
                                 line1 = excluded.line1, line2 = excluded.line2,
                                 time_zone = COALESCE(excluded.time_zone, sites.time_zone)
                             RETURNING id",
                        )?
                        .query_row(
                            params![
                                org,
                                s.code,
                                text_json(&s.name),
                                text_json(&s.city),
                                s.zip,
                                s.country_code,
                                text_json(&s.line1),
                                text_json(&s.line2),
                                s.time_zone.map(|z| z.name())
                            ],
                            |r| r.get(0),
                        )?;
                    self.sites.insert(s.code.clone(), id);
                    id
                }
            }),
        };
        let product = self.product(tx, org, row, site)?;
        let performance = self.performance(tx, org, row, product, site)?;
        let contact = self.contact(tx, org, row)?;
        Ok(RowIds {
            product,
            performance,
            contact,
        })
    }

    fn product(
        &mut self,
        tx: &Transaction<'_>,
        org: i64,
        row: &ImportRow,
        site: Option<i64>,
    ) -> Result<i64> {
        let p = &row.product;
        if let Some(id) = self.products.get(&p.code) {
            return Ok(*id);
        }
        // A product without performances takes place at the row's site.
        let product_site = if row.performance.is_none() {
            site
        } else {
            None
        };
        let id: i64 = tx
            .prepare_cached(
                "INSERT INTO products (organization_id, code, kind, family, name,
                     season_code, site_id, tix_start, tix_exp, tix_act, tix_rgrp)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (organization_id, code) DO UPDATE SET
                     kind = excluded.kind, family = excluded.family,
                     name = excluded.name,
                     season_code = COALESCE(excluded.season_code, products.season_code),
                     site_id = COALESCE(excluded.site_id, products.site_id),
                     tix_start = excluded.tix_start, tix_exp = excluded.tix_exp,
                     tix_act = excluded.tix_act, tix_rgrp = excluded.tix_rgrp
                 RETURNING id",
            )?
            .query_row(
                params![
                    org,
                    p.code,
                    p.kind.as_str(),
                    p.family,
                    text_json(&p.name),
                    row.season.as_ref().map(|s| &s.code),
                    product_site,
                    p.comfort.tix_start,
                    p.comfort.tix_exp,
                    p.comfort.tix_act,
                    p.comfort.tix_rgrp
                ],
                |r| r.get(0),
            )?;
        self.products.insert(p.code.clone(), id);
        Ok(id)
    }

    fn performance(
        &mut self,
        tx: &Transaction<'_>,
        org: i64,
        row: &ImportRow,
        product: i64,
        site: Option<i64>,
    ) -> Result<Option<i64>> {
        let Some(pf) = &row.performance else {
            return Ok(None);
        };
        if let Some(id) = self.performances.get(&pf.code) {
            return Ok(Some(*id));
        }
        let site = site.ok_or_else(|| {
            StoreError::Invalid(format!(
                "ticket {}: performance {} needs a site",
                row.ticket_id, pf.code
            ))
        })?;
        let id: i64 = tx
            .prepare_cached(
                "INSERT INTO performances (organization_id, code, product_id,
                     site_id, name, group_name, starts_at, ends_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (organization_id, code) DO UPDATE SET
                     product_id = excluded.product_id,
                     site_id = excluded.site_id, name = excluded.name,
                     group_name = excluded.group_name,
                     starts_at = excluded.starts_at, ends_at = excluded.ends_at
                 RETURNING id",
            )?
            .query_row(
                params![
                    org,
                    pf.code,
                    product,
                    site,
                    text_json(&pf.name),
                    text_json(&pf.group_name),
                    ts(pf.start),
                    opt_ts(pf.end)
                ],
                |r| r.get(0),
            )?;
        self.performances.insert(pf.code.clone(), id);
        Ok(Some(id))
    }

    fn contact(&mut self, tx: &Transaction<'_>, org: i64, row: &ImportRow) -> Result<i64> {
        let ct = &row.contact;
        if let Some(id) = self.contacts.get(&ct.number) {
            return Ok(*id);
        }
        self.adopt_temporary(tx, org, ct)?;
        let id: i64 = tx
            .prepare_cached(
                "INSERT INTO contacts (organization_id, number, email, first_name,
                     last_name, gender, title, temporary, email_key, internet_account, kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9, ?10)
                 ON CONFLICT (organization_id, number) DO UPDATE SET
                     email = excluded.email, first_name = excluded.first_name,
                     last_name = excluded.last_name, gender = excluded.gender,
                     title = excluded.title, temporary = 0, email_key = excluded.email_key,
                     internet_account = excluded.internet_account, kind = excluded.kind
                 RETURNING id",
            )?
            .query_row(
                params![
                    org,
                    ct.number,
                    ct.email,
                    ct.first_name,
                    ct.last_name,
                    ct.gender,
                    ct.title,
                    contact_email_key(ct.email.as_deref()),
                    ct.internet_account.unwrap_or(false),
                    ct.kind.as_deref().unwrap_or("INDIVIDUAL")
                ],
                |r| r.get(0),
            )?;
        self.contacts.insert(ct.number.clone(), id);
        Ok(id)
    }

    /// Contacts are never duplicated (DOMAIN.md §6): a new contact number whose email
    /// is a temporary contact's (created by Feedback from an email only) gives that
    /// contact its number; the upsert by number then completes it. Costs one query per
    /// session when the organization has no temporary contact.
    fn adopt_temporary(
        &mut self,
        tx: &Transaction<'_>,
        org: i64,
        ct: &crate::ImportContact,
    ) -> Result<()> {
        let Some(key) = contact_email_key(ct.email.as_deref()) else {
            return Ok(());
        };
        let any = match self.temporary_contacts {
            Some(any) => any,
            None => {
                let any: bool = tx
                    .prepare_cached(
                        "SELECT EXISTS(SELECT 1 FROM contacts WHERE organization_id = ?1
                             AND temporary = 1 AND number IS NULL)",
                    )?
                    .query_row([org], |r| r.get(0))?;
                self.temporary_contacts = Some(any);
                any
            }
        };
        if any {
            tx.prepare_cached(
                "UPDATE contacts SET number = ?3
                 WHERE id = (SELECT id FROM contacts WHERE organization_id = ?1
                                 AND email_key = ?2 AND temporary = 1 AND number IS NULL
                             ORDER BY id LIMIT 1)
                   AND NOT EXISTS (SELECT 1 FROM contacts
                                   WHERE organization_id = ?1 AND number = ?3)",
            )?
            .execute(params![org, key, ct.number])?;
        }
        Ok(())
    }
}

fn insert_ticket(
    tx: &Transaction<'_>,
    org: i64,
    row: &ImportRow,
    details: &str,
    ids: &RowIds,
) -> Result<()> {
    let derived = derived(row, details);
    let mut values: Vec<&dyn ToSql> = vec![
        &row.ticket_id,
        &org,
        &row.tax_number,
        &row.barcode,
        &row.file_id,
    ];
    let status = row.status.as_str();
    let cause = row.cause.as_ref().map(Cause::as_str);
    values.extend([&status as &dyn ToSql, &cause, &row.replaces_ticket_id]);
    values.extend(correctable_values(row, ids, &derived));
    let r = tx
        .prepare_cached(&format!(
            "INSERT INTO tickets (id, organization_id, tax_number, barcode, file_id, status,
                 cause, replaces_ticket_id, {CORRECTABLE})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30,
                     ?31)"
        ))?
        .execute(&*values);
    if let Err(e) = r {
        return Err(match constraint_code(&e) {
            Some(rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => StoreError::Conflict(format!(
                "ticket id {} is already in the store (or earlier in this import)",
                row.ticket_id
            )),
            Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
                if e.to_string().contains("replaces_ticket_id") =>
            {
                replaced_twice(row.ticket_id, row.replaces_ticket_id)
            }
            Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE) => StoreError::Conflict(format!(
                "tax number {:?} is already in the store (or earlier in this import)",
                row.tax_number
            )),
            _ => e.into(),
        });
    }
    // After the insert, so a ticket id or tax number conflict is named first.
    let taken: Option<i64> = tx
        .prepare_cached(
            "SELECT id FROM tickets
             WHERE organization_id = ?1 AND barcode = ?2 AND id <> ?3 LIMIT 1",
        )?
        .query_row(params![org, row.barcode, row.ticket_id], |r| r.get(0))
        .optional()?;
    match taken {
        Some(other) => Err(StoreError::Conflict(barcode_taken(&row.barcode, other))),
        None => Ok(()),
    }
}

/// The stored identity of a ticket of the organization, `None` when there is none.
fn identity(tx: &Transaction<'_>, org: i64, ticket_id: i64) -> Result<Option<TicketIdentity>> {
    Ok(tx
        .prepare_cached(
            "SELECT t.tax_number, t.barcode, t.file_id, t.status, t.cause,
                    t.replaces_ticket_id, t.shipment_mode, p.code, pf.code
             FROM tickets t
             JOIN products p ON p.id = t.product_id
             LEFT JOIN performances pf ON pf.id = t.performance_id
             WHERE t.id = ?1 AND t.organization_id = ?2",
        )?
        .query_row(params![ticket_id, org], |r| {
            let mut c = Cur::new(r);
            Ok(TicketIdentity {
                tax_number: c.get()?,
                barcode: c.get()?,
                file_id: c.get()?,
                status: c.parsed()?,
                cause: c.get()?,
                replaces_ticket_id: c.get()?,
                shipment_mode: c.get()?,
                product_code: c.get()?,
                performance_code: c.get()?,
            })
        })
        .optional()?)
}

/// The columns a correction replaces (the others are the ticket's identity), in the
/// order of [`correctable_values`].
const CORRECTABLE: &str = "shipment_mode, sales_channel, season_code, product_id,
    performance_id, tariff, category, price_cents, currency, purchase_date, validity_start,
    validity_end, details, contact_id, holder_first_name, holder_last_name,
    holder_birth_date, holder_id_number, holder_country_code, holder_birth_region,
    holder_birth_place, main_applicant, linked_ticket_ids";

/// Replaces the ticket's correctable columns when one of them differs; `true` when the
/// ticket changed.
fn correct_ticket(
    tx: &Transaction<'_>,
    org: i64,
    row: &ImportRow,
    details: &str,
    ids: &RowIds,
) -> Result<bool> {
    let placeholders = "(?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
                  ?19, ?20, ?21, ?22, ?23, ?24, ?25)";
    let derived = derived(row, details);
    let mut values: Vec<&dyn ToSql> = vec![&row.ticket_id, &org];
    values.extend(correctable_values(row, ids, &derived));
    let changed = tx
        .prepare_cached(&format!(
            "UPDATE tickets SET ({CORRECTABLE}) = {placeholders}
             WHERE id = ?1 AND organization_id = ?2
               AND ({CORRECTABLE}) IS NOT {placeholders}"
        ))?
        .execute(&*values)?;
    Ok(changed == 1)
}

/// A row's values as stored that are not fields of the row: the season code, the
/// details as JSON, and the purchase and validity times as text.
struct Derived<'a> {
    season: Option<&'a str>,
    details: &'a str,
    times: [Option<String>; 3],
    linked: Option<String>,
}

fn derived<'a>(row: &'a ImportRow, details: &'a str) -> Derived<'a> {
    Derived {
        season: row.season.as_ref().map(|s| s.code.as_str()),
        details,
        times: [
            opt_ts(row.purchase_date),
            opt_ts(row.validity_start),
            opt_ts(row.validity_end),
        ],
        linked: crate::ticketing::linked_ids_text(&row.linked_ticket_ids),
    }
}

/// The values of [`CORRECTABLE`] for a row.
fn correctable_values<'a>(
    row: &'a ImportRow,
    ids: &'a RowIds,
    derived: &'a Derived<'a>,
) -> [&'a dyn ToSql; 23] {
    let h = &row.holder;
    let times = &derived.times;
    [
        &row.shipment_mode,
        &row.sales_channel,
        &derived.season,
        &ids.product,
        &ids.performance,
        &row.tariff,
        &row.category,
        &row.price_cents,
        &row.currency,
        &times[0],
        &times[1],
        &times[2],
        &derived.details,
        &ids.contact,
        &h.first_name,
        &h.last_name,
        &h.birth_date,
        &h.id_number,
        &h.country_code,
        &h.birth_region,
        &h.birth_place,
        &row.main_applicant,
        &derived.linked,
    ]
}

/// Marks a changed, injected, printed ticket corrected at `at`, so injection sends it
/// again; `true` when it was marked.
fn mark_corrected(tx: &Transaction<'_>, ticket_id: i64, at: DateTime<Utc>) -> Result<bool> {
    let marked = tx
        .prepare_cached(
            "UPDATE processed_markers SET corrected_at = ?2
             WHERE ticket_id = ?1 AND function = 'INJECTION'
               AND EXISTS (SELECT 1 FROM tickets t WHERE t.id = ?1 AND t.status = 'PRINTED')",
        )?
        .execute(params![ticket_id, ts(at)])?;
    Ok(marked == 1)
}
