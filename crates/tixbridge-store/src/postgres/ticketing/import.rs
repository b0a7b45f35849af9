//! PostgreSQL: the import session — new tickets, or corrections of existing ones
//! (`import tickets --update`).
//!
//! An import holds one transaction for its whole life; a chunk is one multi-row
//! statement per table (`UNNEST` of column arrays). Dropping the session without commit
//! hands the connection back to the pool with a rollback queued.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgPool, Postgres, Row, Transaction};

use tixbridge_core::cause::Cause;

use super::{Cur, organization_exists, text_json, to_json, unique_violation};
use crate::ticketing::{
    CONTACT_CACHE_MAX, CatalogIds, CorrectedIds, IMPORT_OPERATOR, ImportMode as Mode,
    ImportedReprint, TicketIdentity, check_correction, contact_email_key, plan_imported_reprints,
    replaced_twice,
};
use crate::{CorrectionCounts, ImportRow, ImportSession, Result, StoreError, barcode_taken};

pub(super) struct PgImport {
    tx: Transaction<'static, Postgres>,
    organization_id: i64,
    mode: Mode,
    catalog: CatalogIds,
    seen: CorrectedIds,
    counts: CorrectionCounts,
    imported: u64,
}

fn id_conflict(id: i64) -> StoreError {
    StoreError::Conflict(format!(
        "ticket id {id} is already in the store (or earlier in this import)"
    ))
}

fn tax_conflict(tax: &str) -> StoreError {
    StoreError::Conflict(format!(
        "tax number {tax:?} is already in the store (or earlier in this import)"
    ))
}

#[async_trait]
impl ImportSession for PgImport {
    async fn add(&mut self, rows: Vec<ImportRow>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // Conflicts are found before anything is written, so a refused chunk leaves no
        // trace; the savepoint covers the other failures.
        check_sites(&rows)?;
        match self.mode {
            Mode::Import => self.check_conflicts(&rows).await?,
            Mode::Correct { .. } => self.check_corrections(&rows).await?,
        }
        sqlx::query("SAVEPOINT import_chunk")
            .execute(&mut *self.tx)
            .await?;
        let before = self.counts;
        match self.write_rows(&rows).await {
            Ok(()) => {
                sqlx::query("RELEASE SAVEPOINT import_chunk")
                    .execute(&mut *self.tx)
                    .await?;
                self.imported += rows.len() as u64;
                Ok(())
            }
            Err(e) => {
                sqlx::query("ROLLBACK TO SAVEPOINT import_chunk")
                    .execute(&mut *self.tx)
                    .await?;
                // Ids cached during this chunk may name rows that were just undone.
                self.catalog = CatalogIds::default();
                self.counts = before;
                Err(e)
            }
        }
    }

    async fn commit(self: Box<Self>) -> Result<u64> {
        let imported = self.imported;
        self.tx.commit().await?;
        Ok(imported)
    }

    fn corrections(&self) -> CorrectionCounts {
        self.counts
    }
}

/// A row with a performance names its site.
fn check_sites(rows: &[ImportRow]) -> Result<()> {
    match rows
        .iter()
        .find(|r| r.site.is_none() && r.performance.is_some())
    {
        Some(r) => Err(StoreError::Invalid(format!(
            "ticket {}: performance {} needs a site",
            r.ticket_id,
            r.performance.as_ref().map_or("", |p| p.code.as_str())
        ))),
        None => Ok(()),
    }
}

impl PgImport {
    pub(super) async fn begin(
        pool: &PgPool,
        organization_id: i64,
        mode: Mode,
    ) -> Result<Box<dyn ImportSession>> {
        let mut tx = pool.begin().await?;
        organization_exists(&mut tx, organization_id).await?;
        Ok(Box::new(PgImport {
            tx,
            organization_id,
            mode,
            catalog: CatalogIds::default(),
            seen: CorrectedIds::default(),
            counts: CorrectionCounts::default(),
            imported: 0,
        }))
    }

    /// The first row, in order, whose ticket id or tax number is already taken — in the
    /// store, earlier in the import, or earlier in this chunk.
    async fn check_conflicts(&mut self, rows: &[ImportRow]) -> Result<()> {
        let ids: Vec<i64> = rows.iter().map(|r| r.ticket_id).collect();
        let taxes: Vec<&str> = rows.iter().map(|r| r.tax_number.as_str()).collect();
        let taken = sqlx::query(
            "SELECT id, CASE WHEN organization_id = $3 THEN tax_number END FROM tickets
             WHERE id = ANY($1) OR (organization_id = $3 AND tax_number = ANY($2))",
        )
        .bind(&ids)
        .bind(&taxes)
        .bind(self.organization_id)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut taken_ids = HashSet::new();
        let mut taken_taxes = HashSet::new();
        for r in &taken {
            taken_ids.insert(r.try_get::<i64, _>(0)?);
            if let Some(t) = r.try_get::<Option<String>, _>(1)? {
                taken_taxes.insert(t);
            }
        }
        let mut seen_ids = HashSet::with_capacity(rows.len());
        let mut seen_taxes = HashSet::with_capacity(rows.len());
        for r in rows {
            if taken_ids.contains(&r.ticket_id) || !seen_ids.insert(r.ticket_id) {
                return Err(id_conflict(r.ticket_id));
            }
            if taken_taxes.contains(&r.tax_number) || !seen_taxes.insert(r.tax_number.as_str()) {
                return Err(tax_conflict(&r.tax_number));
            }
        }
        // After the ids and tax numbers, so those conflicts are named first.
        self.check_barcodes(rows).await?;
        self.check_replaced(rows).await
    }

    /// A ticket already replaced (in the store, earlier chunks included, or by an
    /// earlier row of the chunk) is not replaced again.
    async fn check_replaced(&mut self, rows: &[ImportRow]) -> Result<()> {
        let olds: Vec<i64> = rows.iter().filter_map(|r| r.replaces_ticket_id).collect();
        if olds.is_empty() {
            return Ok(());
        }
        let taken: Vec<i64> = sqlx::query_scalar(
            "SELECT replaces_ticket_id FROM tickets WHERE replaces_ticket_id = ANY($1)",
        )
        .bind(&olds)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut replaced: HashSet<i64> = taken.into_iter().collect();
        for r in rows {
            if let Some(old) = r.replaces_ticket_id
                && !replaced.insert(old)
            {
                return Err(replaced_twice(r.ticket_id, Some(old)));
            }
        }
        Ok(())
    }

    /// Invalidates the live tickets that rows of the chunk replace, or that replace
    /// rows of the chunk (a replaced ticket imported after its replacement), with a
    /// history row each (see `ticketing::plan_imported_reprints`).
    async fn invalidate_replaced(&mut self, rows: &[ImportRow]) -> Result<()> {
        let news: Vec<i64> = rows
            .iter()
            .filter(|r| r.replaces_ticket_id.is_some())
            .map(|r| r.ticket_id)
            .collect();
        let olds: Vec<i64> = rows.iter().map(|r| r.ticket_id).collect();
        let found: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT n.id, o.id, o.status FROM tickets n JOIN tickets o ON o.id = n.replaces_ticket_id
             WHERE o.organization_id = $1 AND (n.id = ANY($2) OR o.id = ANY($3))
             ORDER BY n.id",
        )
        .bind(self.organization_id)
        .bind(&news)
        .bind(&olds)
        .fetch_all(&mut *self.tx)
        .await?;
        let found = found
            .into_iter()
            .map(|(new_id, old_id, status)| {
                Ok(ImportedReprint {
                    new_id,
                    old_id,
                    old_status: status.parse().map_err(StoreError::Backend)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let live = plan_imported_reprints(found)?;
        if live.is_empty() {
            return Ok(());
        }
        let old_ids: Vec<i64> = live.iter().map(|r| r.old_id).collect();
        let new_ids: Vec<i64> = live.iter().map(|r| r.new_id).collect();
        let froms: Vec<&str> = live.iter().map(|r| r.old_status.as_str()).collect();
        sqlx::query(
            "WITH u AS (
                 UPDATE tickets SET status = 'INVALIDATED', cause = 'REPRINT'
                 WHERE id = ANY($1)
             )
             INSERT INTO ticket_operations (ticket_id, operation, at, operator, from_status,
                 to_status, cause, related_ticket_id)
             SELECT o, 'REPRINT', $4, $5, f, 'INVALIDATED', 'REPRINT', n
             FROM UNNEST($1::bigint[], $2::bigint[], $3::text[]) AS x(o, n, f)",
        )
        .bind(&old_ids)
        .bind(&new_ids)
        .bind(&froms)
        .bind(Utc::now())
        .bind(IMPORT_OPERATOR)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// A barcode held by a ticket of the organization (earlier chunks of this import
    /// included) or by an earlier row of the chunk is refused naming that ticket.
    async fn check_barcodes(&mut self, rows: &[ImportRow]) -> Result<()> {
        let barcodes: Vec<&str> = rows.iter().map(|r| r.barcode.as_str()).collect();
        let taken = sqlx::query(
            "SELECT barcode, id FROM tickets WHERE organization_id = $1 AND barcode = ANY($2)",
        )
        .bind(self.organization_id)
        .bind(&barcodes)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut holders: HashMap<String, i64> = HashMap::with_capacity(rows.len());
        for r in &taken {
            holders.insert(r.try_get(0)?, r.try_get(1)?);
        }
        for r in rows {
            if let Some(other) = holders.get(&r.barcode) {
                return Err(StoreError::Conflict(barcode_taken(&r.barcode, *other)));
            }
            holders.insert(r.barcode.clone(), r.ticket_id);
        }
        Ok(())
    }

    /// Each row corrects a ticket of the organization, once, changing nothing a
    /// correction may not change ([`check_correction`]).
    async fn check_corrections(&mut self, rows: &[ImportRow]) -> Result<()> {
        let ids: Vec<i64> = rows.iter().map(|r| r.ticket_id).collect();
        let found = sqlx::query(
            "SELECT t.id, t.tax_number, t.barcode, t.file_id, t.status, t.cause,
                    t.replaces_ticket_id, t.shipment_mode, p.code, pf.code
             FROM tickets t
             JOIN products p ON p.id = t.product_id
             LEFT JOIN performances pf ON pf.id = t.performance_id
             WHERE t.organization_id = $1 AND t.id = ANY($2)",
        )
        .bind(self.organization_id)
        .bind(&ids)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut stored = HashMap::with_capacity(found.len());
        for r in &found {
            let mut c = Cur::new(r);
            let id: i64 = c.get()?;
            stored.insert(
                id,
                TicketIdentity {
                    tax_number: c.get()?,
                    barcode: c.get()?,
                    file_id: c.get()?,
                    status: c.parsed()?,
                    cause: c.get()?,
                    replaces_ticket_id: c.get()?,
                    shipment_mode: c.get()?,
                    product_code: c.get()?,
                    performance_code: c.get()?,
                },
            );
        }
        for r in rows {
            self.seen.first(r.ticket_id)?;
            check_correction(stored.get(&r.ticket_id), r)?;
        }
        Ok(())
    }

    async fn write_rows(&mut self, rows: &[ImportRow]) -> Result<()> {
        if self.catalog.contacts.len() > CONTACT_CACHE_MAX {
            self.catalog.contacts.clear();
        }
        let (products, performances) = self.upsert_catalog(rows).await?;
        self.upsert_contacts(rows).await?;
        let columns = TicketColumns::new(rows, products, performances, &self.catalog.contacts)?;
        match self.mode {
            Mode::Import => {
                self.insert_tickets(&columns).await?;
                self.invalidate_replaced(rows).await
            }
            Mode::Correct { at } => self.correct_tickets(&columns, at).await,
        }
    }

    /// Seasons, sites, products and performances: few per file, so one statement per
    /// new code is fine. Returns each row's product and performance ids.
    async fn upsert_catalog(&mut self, rows: &[ImportRow]) -> Result<(Vec<i64>, Vec<Option<i64>>)> {
        let mut product_ids = Vec::with_capacity(rows.len());
        let mut performance_ids = Vec::with_capacity(rows.len());
        for row in rows {
            self.upsert_season(row).await?;
            let site = self.upsert_site(row).await?;
            let product = self.upsert_product(row, site).await?;
            let performance = self.upsert_performance(row, product, site).await?;
            product_ids.push(product);
            performance_ids.push(performance);
        }
        Ok((product_ids, performance_ids))
    }

    async fn upsert_season(&mut self, row: &ImportRow) -> Result<()> {
        let Some(s) = &row.season else {
            return Ok(());
        };
        if self.catalog.seasons.contains(&s.code) {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO seasons (organization_id, code, name, starts_at, ends_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (organization_id, code) DO UPDATE SET
                 name = EXCLUDED.name, starts_at = EXCLUDED.starts_at,
                 ends_at = EXCLUDED.ends_at",
        )
        .bind(self.organization_id)
        .bind(&s.code)
        .bind(&s.name)
        .bind(s.start)
        .bind(s.end)
        .execute(&mut *self.tx)
        .await?;
        self.catalog.seasons.insert(s.code.clone());
        Ok(())
    }

    async fn upsert_site(&mut self, row: &ImportRow) -> Result<Option<i64>> {
        let Some(s) = &row.site else {
            return Ok(None);
        };
        if let Some(id) = self.catalog.sites.get(&s.code) {
            return Ok(Some(*id));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sites (organization_id, code, name, city, zip,
                 country_code, line1, line2, time_zone)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (organization_id, code) DO UPDATE SET
                 name = EXCLUDED.name, city = EXCLUDED.city,
                 zip = EXCLUDED.zip, country_code = EXCLUDED.country_code,
                 line1 = EXCLUDED.line1, line2 = EXCLUDED.line2,
                 time_zone = COALESCE(EXCLUDED.time_zone, sites.time_zone)
             RETURNING id",
        )
        .bind(self.organization_id)
        .bind(&s.code)
        .bind(text_json(&s.name))
        .bind(text_json(&s.city))
        .bind(&s.zip)
        .bind(&s.country_code)
        .bind(text_json(&s.line1))
        .bind(text_json(&s.line2))
        .bind(s.time_zone.map(|z| z.name()))
        .fetch_one(&mut *self.tx)
        .await?;
        self.catalog.sites.insert(s.code.clone(), id);
        Ok(Some(id))
    }

    async fn upsert_product(&mut self, row: &ImportRow, site: Option<i64>) -> Result<i64> {
        let p = &row.product;
        if let Some(id) = self.catalog.products.get(&p.code) {
            return Ok(*id);
        }
        // A product without performances takes place at the row's site.
        let product_site = if row.performance.is_none() {
            site
        } else {
            None
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO products (organization_id, code, kind, family, name,
                 season_code, site_id, tix_start, tix_exp, tix_act, tix_rgrp)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (organization_id, code) DO UPDATE SET
                 kind = EXCLUDED.kind, family = EXCLUDED.family,
                 name = EXCLUDED.name,
                 season_code = COALESCE(EXCLUDED.season_code, products.season_code),
                 site_id = COALESCE(EXCLUDED.site_id, products.site_id),
                 tix_start = EXCLUDED.tix_start, tix_exp = EXCLUDED.tix_exp,
                 tix_act = EXCLUDED.tix_act, tix_rgrp = EXCLUDED.tix_rgrp
             RETURNING id",
        )
        .bind(self.organization_id)
        .bind(&p.code)
        .bind(p.kind.as_str())
        .bind(&p.family)
        .bind(text_json(&p.name))
        .bind(row.season.as_ref().map(|s| &s.code))
        .bind(product_site)
        .bind(&p.comfort.tix_start)
        .bind(&p.comfort.tix_exp)
        .bind(&p.comfort.tix_act)
        .bind(&p.comfort.tix_rgrp)
        .fetch_one(&mut *self.tx)
        .await?;
        self.catalog.products.insert(p.code.clone(), id);
        Ok(id)
    }

    async fn upsert_performance(
        &mut self,
        row: &ImportRow,
        product: i64,
        site: Option<i64>,
    ) -> Result<Option<i64>> {
        let Some(pf) = &row.performance else {
            return Ok(None);
        };
        if let Some(id) = self.catalog.performances.get(&pf.code) {
            return Ok(Some(*id));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO performances (organization_id, code, product_id,
                 site_id, name, group_name, starts_at, ends_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (organization_id, code) DO UPDATE SET
                 product_id = EXCLUDED.product_id,
                 site_id = EXCLUDED.site_id, name = EXCLUDED.name,
                 group_name = EXCLUDED.group_name,
                 starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at
             RETURNING id",
        )
        .bind(self.organization_id)
        .bind(&pf.code)
        .bind(product)
        // Checked in check_sites: a performance row has a site.
        .bind(site)
        .bind(text_json(&pf.name))
        .bind(text_json(&pf.group_name))
        .bind(pf.start)
        .bind(pf.end)
        .fetch_one(&mut *self.tx)
        .await?;
        self.catalog.performances.insert(pf.code.clone(), id);
        Ok(Some(id))
    }

    /// Contacts: one multi-row upsert for the numbers not cached yet (first row of a
    /// number wins within the chunk: an upsert may not touch a row twice).
    async fn upsert_contacts(&mut self, rows: &[ImportRow]) -> Result<()> {
        let mut seen = HashSet::new();
        let new: Vec<&ImportRow> = rows
            .iter()
            .filter(|r| !self.catalog.contacts.contains_key(&r.contact.number))
            .filter(|r| seen.insert(r.contact.number.as_str()))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let column = |f: fn(&ImportRow) -> Option<&str>| new.iter().map(|r| f(r)).collect();
        let numbers: Vec<Option<&str>> = column(|r| Some(r.contact.number.as_str()));
        let emails: Vec<Option<&str>> = column(|r| r.contact.email.as_deref());
        let firsts: Vec<Option<&str>> = column(|r| r.contact.first_name.as_deref());
        let lasts: Vec<Option<&str>> = column(|r| r.contact.last_name.as_deref());
        let genders: Vec<Option<&str>> = column(|r| r.contact.gender.as_deref());
        let titles: Vec<Option<&str>> = column(|r| r.contact.title.as_deref());
        let kinds: Vec<Option<&str>> = column(|r| r.contact.kind.as_deref());
        let keys: Vec<Option<String>> = new
            .iter()
            .map(|r| contact_email_key(r.contact.email.as_deref()))
            .collect();
        let accounts: Vec<Option<bool>> = new.iter().map(|r| r.contact.internet_account).collect();
        self.adopt_temporary(&numbers, &keys).await?;
        let got = sqlx::query(
            "INSERT INTO contacts (organization_id, number, email, first_name, last_name,
                 gender, title, temporary, email_key, internet_account, kind)
             SELECT $1, u.number, u.email, u.first_name, u.last_name, u.gender, u.title, FALSE,
                 u.email_key, COALESCE(u.internet_account, FALSE),
                 COALESCE(u.kind, 'INDIVIDUAL')
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::bool[], $10::text[])
                  AS u(number, email, first_name, last_name, gender, title, email_key,
                       internet_account, kind)
             ON CONFLICT (organization_id, number) DO UPDATE SET
                 email = EXCLUDED.email, first_name = EXCLUDED.first_name,
                 last_name = EXCLUDED.last_name, gender = EXCLUDED.gender,
                 title = EXCLUDED.title, temporary = FALSE, email_key = EXCLUDED.email_key,
                 internet_account = EXCLUDED.internet_account, kind = EXCLUDED.kind
             RETURNING id, number",
        )
        .bind(self.organization_id)
        .bind(&numbers)
        .bind(&emails)
        .bind(&firsts)
        .bind(&lasts)
        .bind(&genders)
        .bind(&titles)
        .bind(&keys)
        .bind(&accounts)
        .bind(&kinds)
        .fetch_all(&mut *self.tx)
        .await?;
        for r in &got {
            self.catalog.contacts.insert(r.try_get(1)?, r.try_get(0)?);
        }
        Ok(())
    }

    /// Contacts are never duplicated (DOMAIN.md §6): each new contact number whose
    /// email is a temporary contact's (created by Feedback from an email only) gives
    /// that contact its number, one number per temporary contact; the upsert by number
    /// then completes it. Costs one query per session when the organization has no
    /// temporary contact.
    async fn adopt_temporary(
        &mut self,
        numbers: &[Option<&str>],
        keys: &[Option<String>],
    ) -> Result<()> {
        if self.catalog.temporary_contacts.is_none() {
            let any: bool = sqlx::query_scalar(
                "SELECT EXISTS(SELECT 1 FROM contacts WHERE organization_id = $1
                     AND temporary AND number IS NULL)",
            )
            .bind(self.organization_id)
            .fetch_one(&mut *self.tx)
            .await?;
            self.catalog.temporary_contacts = Some(any);
        }
        if self.catalog.temporary_contacts != Some(true) {
            return Ok(());
        }
        sqlx::query(
            "UPDATE contacts c SET number = u.number
             FROM (SELECT DISTINCT ON (email_key) number, email_key
                   FROM UNNEST($2::text[], $3::text[]) AS u(number, email_key)
                   WHERE email_key IS NOT NULL ORDER BY email_key, number) u
             WHERE c.id = (SELECT min(t.id) FROM contacts t
                           WHERE t.organization_id = $1 AND t.temporary
                             AND t.number IS NULL AND t.email_key = u.email_key)
               AND NOT EXISTS (SELECT 1 FROM contacts d
                               WHERE d.organization_id = $1 AND d.number = u.number)",
        )
        .bind(self.organization_id)
        .bind(numbers)
        .bind(keys)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Tickets: one multi-row INSERT for the chunk.
    async fn insert_tickets(&mut self, columns: &TicketColumns<'_>) -> Result<()> {
        let sql = format!(
            "INSERT INTO tickets (id, organization_id, tax_number, barcode, file_id, status,
                 cause, replaces_ticket_id, {CORRECTABLE})
             SELECT u.id, $1, u.tax, u.barcode, u.file, u.status, u.cause, u.replaces,
                 {CORRECTED_VALUES}
             FROM {TICKET_UNNEST}"
        );
        let query = columns.bind(sqlx::query(&sql).bind(self.organization_id));
        match query.execute(&mut *self.tx).await {
            Ok(_) => Ok(()),
            // Only a concurrent import of the same tickets gets here: the rows were
            // checked above.
            Err(e) => Err(match unique_violation(&e).as_deref() {
                Some("tickets_pkey") => StoreError::Conflict(format!(
                    "a ticket id of this chunk was imported meanwhile by someone else: {e}"
                )),
                Some(_) => StoreError::Conflict(format!(
                    "a tax number of this chunk was imported meanwhile by someone else: {e}"
                )),
                None => e.into(),
            }),
        }
    }

    /// Replaces the correctable columns of the tickets that differ, and marks the
    /// changed printed ones corrected so injection sends them again.
    async fn correct_tickets(
        &mut self,
        columns: &TicketColumns<'_>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE tickets t SET ({CORRECTABLE}) = ({CORRECTED_VALUES})
             FROM {TICKET_UNNEST}
             WHERE t.id = u.id AND t.organization_id = $1
               AND ({CORRECTABLE_OF_T}) IS DISTINCT FROM ({CORRECTED_VALUES})
             RETURNING t.id, t.status = 'PRINTED'"
        );
        let changed = columns
            .bind(sqlx::query(&sql).bind(self.organization_id))
            .fetch_all(&mut *self.tx)
            .await?;
        let mut printed = Vec::new();
        for r in &changed {
            if r.try_get::<bool, _>(1)? {
                printed.push(r.try_get::<i64, _>(0)?);
            }
        }
        let marked = sqlx::query(
            "UPDATE processed_markers SET corrected_at = $2
             WHERE function = 'INJECTION' AND ticket_id = ANY($1)",
        )
        .bind(&printed)
        .bind(at)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        self.counts.changed += changed.len() as u64;
        self.counts.resend += marked;
        Ok(())
    }
}

/// The columns a correction replaces (the others are the ticket's identity).
const CORRECTABLE: &str = "shipment_mode, sales_channel, season_code, product_id,
    performance_id, tariff, category, price_cents, currency, purchase_date, validity_start,
    validity_end, details, contact_id, holder_first_name, holder_last_name,
    holder_birth_date, holder_id_number, holder_country_code, holder_birth_region,
    holder_birth_place, main_applicant, linked_ticket_ids";

/// [`CORRECTABLE`] of the stored ticket `t`.
const CORRECTABLE_OF_T: &str = "t.shipment_mode, t.sales_channel, t.season_code,
    t.product_id, t.performance_id, t.tariff, t.category, t.price_cents, t.currency,
    t.purchase_date, t.validity_start, t.validity_end, t.details, t.contact_id,
    t.holder_first_name, t.holder_last_name, t.holder_birth_date, t.holder_id_number,
    t.holder_country_code, t.holder_birth_region, t.holder_birth_place, t.main_applicant,
    t.linked_ticket_ids";

/// [`CORRECTABLE`]'s values in the row of [`TICKET_UNNEST`].
const CORRECTED_VALUES: &str = "u.shipment, u.channel, u.season, u.product, u.performance,
    u.tariff, u.category, u.price, u.currency, u.purchase, u.vstart, u.vend,
    u.details::jsonb, u.contact, u.h_first, u.h_last, u.h_birth, u.h_idnum, u.h_country,
    u.h_region, u.h_place, u.main, string_to_array(u.linked, ' ')::bigint[]";

/// A chunk's tickets as one row per ticket, from the arrays `$2`…`$31` (the linked
/// ticket ids as text separated by spaces: arrays of arrays do not unnest by row)
/// ([`TicketColumns::bind`]).
const TICKET_UNNEST: &str = "UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[],
        $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], $11::text[],
        $12::bigint[], $13::bigint[], $14::text[], $15::text[], $16::bigint[], $17::text[],
        $18::timestamptz[], $19::timestamptz[], $20::timestamptz[], $21::text[],
        $22::bigint[], $23::text[], $24::text[], $25::text[], $26::text[], $27::text[],
        $28::text[], $29::text[], $30::boolean[], $31::text[])
    AS u(id, tax, barcode, file, status, cause, replaces, shipment, channel, season,
         product, performance, tariff, category, price, currency, purchase, vstart, vend,
         details, contact, h_first, h_last, h_birth, h_idnum, h_country, h_region, h_place,
         main, linked)";

/// A chunk's tickets as column arrays, in [`TICKET_UNNEST`]'s order.
struct TicketColumns<'a> {
    ids: Vec<i64>,
    taxes: Vec<&'a str>,
    barcodes: Vec<&'a str>,
    files: Vec<Option<&'a str>>,
    statuses: Vec<&'static str>,
    causes: Vec<Option<&'a str>>,
    replaces: Vec<Option<i64>>,
    shipments: Vec<&'a str>,
    channels: Vec<Option<&'a str>>,
    seasons: Vec<Option<&'a str>>,
    products: Vec<i64>,
    performances: Vec<Option<i64>>,
    tariffs: Vec<Option<&'a str>>,
    categories: Vec<Option<&'a str>>,
    prices: Vec<Option<i64>>,
    currencies: Vec<Option<&'a str>>,
    purchases: Vec<Option<DateTime<Utc>>>,
    vstarts: Vec<Option<DateTime<Utc>>>,
    vends: Vec<Option<DateTime<Utc>>>,
    details: Vec<String>,
    contacts: Vec<i64>,
    holder: [Vec<Option<&'a str>>; 7],
    mains: Vec<bool>,
    linked: Vec<Option<String>>,
}

impl<'a> TicketColumns<'a> {
    fn new(
        rows: &'a [ImportRow],
        products: Vec<i64>,
        performances: Vec<Option<i64>>,
        contact_ids: &HashMap<String, i64>,
    ) -> Result<Self> {
        let text = |f: fn(&'a ImportRow) -> Option<&'a str>| rows.iter().map(f).collect();
        let contacts = rows
            .iter()
            .map(|r| {
                contact_ids.get(&r.contact.number).copied().ok_or_else(|| {
                    StoreError::Backend(format!(
                        "contact {} of ticket {} was not created",
                        r.contact.number, r.ticket_id
                    ))
                })
            })
            .collect::<Result<_>>()?;
        Ok(TicketColumns {
            ids: rows.iter().map(|r| r.ticket_id).collect(),
            taxes: rows.iter().map(|r| r.tax_number.as_str()).collect(),
            barcodes: rows.iter().map(|r| r.barcode.as_str()).collect(),
            files: text(|r| r.file_id.as_deref()),
            statuses: rows.iter().map(|r| r.status.as_str()).collect(),
            causes: text(|r| r.cause.as_ref().map(Cause::as_str)),
            replaces: rows.iter().map(|r| r.replaces_ticket_id).collect(),
            shipments: rows.iter().map(|r| r.shipment_mode.as_str()).collect(),
            channels: text(|r| r.sales_channel.as_deref()),
            seasons: text(|r| r.season.as_ref().map(|s| s.code.as_str())),
            products,
            performances,
            tariffs: text(|r| r.tariff.as_deref()),
            categories: text(|r| r.category.as_deref()),
            prices: rows.iter().map(|r| r.price_cents).collect(),
            currencies: text(|r| r.currency.as_deref()),
            purchases: rows.iter().map(|r| r.purchase_date).collect(),
            vstarts: rows.iter().map(|r| r.validity_start).collect(),
            vends: rows.iter().map(|r| r.validity_end).collect(),
            details: rows
                .iter()
                .map(|r| to_json(&r.details))
                .collect::<Result<_>>()?,
            contacts,
            holder: [
                text(|r| r.holder.first_name.as_deref()),
                text(|r| r.holder.last_name.as_deref()),
                text(|r| r.holder.birth_date.as_deref()),
                text(|r| r.holder.id_number.as_deref()),
                text(|r| r.holder.country_code.as_deref()),
                text(|r| r.holder.birth_region.as_deref()),
                text(|r| r.holder.birth_place.as_deref()),
            ],
            mains: rows.iter().map(|r| r.main_applicant).collect(),
            linked: rows
                .iter()
                .map(|r| crate::ticketing::linked_ids_text(&r.linked_ticket_ids))
                .collect(),
        })
    }

    /// Binds `$2`…`$31` after the organization (`$1`).
    fn bind<'q>(
        &'q self,
        query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments> {
        let mut q = query
            .bind(&self.ids)
            .bind(&self.taxes)
            .bind(&self.barcodes)
            .bind(&self.files)
            .bind(&self.statuses)
            .bind(&self.causes)
            .bind(&self.replaces)
            .bind(&self.shipments)
            .bind(&self.channels)
            .bind(&self.seasons)
            .bind(&self.products)
            .bind(&self.performances)
            .bind(&self.tariffs)
            .bind(&self.categories)
            .bind(&self.prices)
            .bind(&self.currencies)
            .bind(&self.purchases)
            .bind(&self.vstarts)
            .bind(&self.vends)
            .bind(&self.details)
            .bind(&self.contacts);
        for column in &self.holder {
            q = q.bind(column);
        }
        q.bind(&self.mains).bind(&self.linked)
    }
}
