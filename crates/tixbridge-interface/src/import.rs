//! CSV import of ticketing tickets (`tixbridge import tickets FILE.csv`).
//!
//! # The file
//!
//! UTF-8 (a byte-order mark is ignored). Cells are separated by `,`, `;` or a tab: the
//! one given (`--delimiter`, [`ImportOptions::delimiter`]), else the one found most
//! often in the header line (`tixbridge_core::csv_dialect`, the rule the wallet's CSV
//! injection follows too). The first row names the
//! columns, in any order (names are matched without regard to case). Values are
//! trimmed; an empty value is the same as an absent column. Rows are counted from the header: the header is row 1, the first ticket is
//! row 2 (a quoted value spanning lines still counts as one row).
//!
//! No value may hold a control character (U+0000–U+001F, U+007F; no column is
//! multi-line, so tabs and line breaks inside a value are refused too): the row is
//! refused naming the column.
//!
//! Times are RFC 3339 (`2026-07-19T21:00:00+02:00`, `2026-07-19T19:00:00Z`), or
//! written without an offset (`2026-07-19 21:00`) and then read in the venue's time
//! zone: the row's `site_time_zone`, else the zone an earlier row of the file gave
//! that site, else the site's stored zone, else (also for a row without site, unless
//! its product's stored site has a zone) the organization's (`--time-zone`, default
//! UTC). A local time skipped or repeated by a daylight-saving change is refused
//! naming the row and column (`tixbridge_core::local_time`).
//!
//! Multilingual columns (marked *ml* below) take one column per language: the plain
//! column (`product_name`) holds the organization's default language, and
//! `product_name[fr]`, `product_name[de]`… hold the others (two-letter lower-case
//! codes). When a translation is given, the default-language value is required.
//!
//! | Column | Required | Meaning |
//! |---|---|---|
//! | `ticket_id` | yes | Ticketing's ticket id, a whole number above 0; unique in the store |
//! | `tax_number` | yes | The ticket number printed on the ticket; unique in the organization |
//! | `barcode` | yes | The barcode; never reused in the organization: a barcode held by any ticket (cancelled and invalidated ones too) or by another row of the file is refused naming that ticket or row |
//! | `file_id` | | The order (file) number; injection's file-number filter |
//! | `status` | | `NOT_PRINTED` (default), `PRINTED`, `CONTROLLED`, `INVALIDATED`, `CANCELLED` |
//! | `cause` | | Invalidation / cancellation cause; normalised (spaces removed, upper case) |
//! | `replaces_ticket_id` | | For a reprint: the id of the ticket this one replaces. A live replaced ticket becomes `INVALIDATED` (cause `REPRINT`) in the same import; a ticket is replaced once; a controlled one cannot be |
//! | `shipment_mode` | | Default `BLOCKCHAIN` (the wallet); tickets of other modes are imported but never injected |
//! | `sales_channel` | | Sales channel code |
//! | `season_code` | | The season; with it `season_start` and `season_end` are required |
//! | `season_name` | | Default: the season code |
//! | `season_start`, `season_end` | with a season | Times; the end after the start |
//! | `product_code` | yes | The product |
//! | `product_kind` | yes | `EVENT`, `MATCH`, `OPEN_PASS`, `SERVICE`, `MEMBERSHIP_CARD`, `SEASON_CARD` |
//! | `product_family` | | Product family code (an injection filter) |
//! | `product_name` | | *ml* Product name |
//! | `tix_start`, `tix_exp`, `tix_act` | | Comfort variables (start, expiry, activation) for products without performance: `start_of_season`, `end_of_season` (both need a season), a relative time `+1d`, `-1w`, `+3h`, `+30m` (units m = minutes, h = hours: exact durations; d = days, w = weeks: calendar days of the venue's zone, so `+1d` keeps the wall-clock time across a daylight-saving change), or `dd/mm/yy hh:mm` in the venue's zone. `tix_start` counts from the validity start, else the purchase date (an absolute value or `start_of_season` needs neither; without `tix_start` the event starts at that date); `tix_exp` and `tix_act` count from the start. The import computes these dates as injection will and refuses a row where that fails, naming the column |
//! | `tix_rgrp` | | Comfort variable: activation group |
//! | `performance_code` | `EVENT`, `MATCH` | The performance (the wallet event id); must be empty for the other kinds |
//! | `performance_name`, `group_name` | | *ml* Event name and group name |
//! | `performance_start` | with a performance | Time |
//! | `performance_end` | | Time, after the start |
//! | `site_code` | with a performance | The site of the performance; for a product without performance, the site is attached to the product |
//! | `site_name`, `site_city`, `site_line1`, `site_line2` | | *ml* Site name, city and address lines |
//! | `site_zip` | | Postal code |
//! | `site_country` | | Two-letter country code (`FR`) |
//! | `site_time_zone` | | The site's IANA time zone (`Europe/Paris`); kept when absent. Every row naming the site must agree |
//! | `tariff`, `category` | | Tariff and seat category codes |
//! | `price` | | Decimal with a dot and at most two decimals: `45.50` is 4550 cents |
//! | `currency` | | Three-letter code (`EUR`) |
//! | `purchase_date`, `validity_start`, `validity_end` | | Times; the validity end after its start |
//! | `gate`, `block`, `row`, `seat` | | Ticket details, section main, keys `Gate`, `Block`, `Row`, `Seat` |
//! | `contact_number` | yes | The cultural contact's number: one contact per number, created or updated |
//! | `contact_email` | | An email address |
//! | `contact_first_name`, `contact_last_name`, `contact_title` | | |
//! | `contact_gender` | | `M`, `F`, `U` or `X` |
//! | `contact_internet_account` | | `true` or `false` (also `yes`/`no`, `1`/`0`): the contact has an internet account; preferred when Feedback looks a contact up by email |
//! | `contact_kind` | | `INDIVIDUAL` (default), `STRUCTURE` or `RELAY`; an individual is preferred over a relay when Feedback looks a contact up by email |
//! | `holder_first_name`, `holder_last_name`, `holder_id_number`, `holder_birth_region`, `holder_birth_place` | | The ticket holder (named ticket) |
//! | `holder_birth_date` | | `YYYY-MM-DD` |
//! | `holder_country_code` | | Two-letter country code |
//! | `main_applicant` | | `true` / `false` (also `yes` / `no`, `1` / `0`); default `false` |
//! | `linked_ticket_ids` | | `MEMBERSHIP_CARD`, `SEASON_CARD` only: the ticket ids the card is linked to (the season's match tickets), separated by spaces or `\|` (`100000001 100000002`); sent to the wallet as the privilege's `linkedTicketIds`. Not checked against the store: a season card is often sold before the season's tickets are issued |
//!
//! An unknown column, a column given twice, or a `[xx]` suffix that is not a two-letter
//! language code (or on a column that is not multilingual) stops the import before any
//! row is read.
//!
//! Catalog entries (seasons, sites, products, performances) are keyed by their code in
//! the organization: the first row of the file naming a code creates or updates the
//! entry, and a product's kind or a performance's product and site must be the same on
//! every row.
//!
//! # Corrections (`--update`)
//!
//! With [`ImportOptions::update`] the same file format corrects tickets already in the
//! store instead of adding new ones, all or nothing as well. Every row names an
//! existing ticket of the organization by its `ticket_id` and gives the whole row
//! again; the columns may change the holder, the seat details, the contact, prices,
//! tariff, category, dates, texts and the catalog entries. A row is refused, naming the
//! row and the column, when it would change what only a ticketing operation changes:
//! `status`, `cause`, `tax_number`, `barcode` (a new one is a reprint), `file_id`,
//! `replaces_ticket_id`, and — for a ticket no longer `NOT_PRINTED` — `shipment_mode`,
//! `product_code` and `performance_code` (moving a printed ticket is an exchange). A
//! ticket named twice, or unknown, is refused too. A row equal to the stored ticket
//! changes nothing. A changed ticket already injected (`PRINTED`) is sent again by the
//! next injection, whatever its filters' backlog; the wallet updates it in place and
//! keeps its owner.
//!
//! # All or nothing, in flat memory
//!
//! Pass 1 reads the whole file and checks every row, collecting errors (the first
//! [`MAX_REPORTED_ERRORS`] and a count); if any row is bad, nothing is written. Pass 2
//! reads the file again and adds the rows to one import session in chunks of
//! [`CHUNK_ROWS`], parsing the next chunk while the store writes the previous one; a
//! conflict (a ticket id or tax number already in the store, or twice in the file)
//! drops the session, which rolls everything back, and the error names the row. Only
//! one chunk is ever in memory, whatever the size of the file.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use csv::StringRecord;

use tixbridge_core::api::looks_like_email;
use tixbridge_core::cause::Cause;
use tixbridge_core::csv_dialect;
pub use tixbridge_core::csv_dialect::Delimiter;
use tixbridge_core::inject::{ComfortField, comfort_dates};
use tixbridge_core::local_time::{self, DEFAULT_ZONE, Tz};
use tixbridge_core::model::{
    CONTACT_KINDS, ComfortVariables, DetailSection, Holder, ProductKind, Season, TicketDetail,
    WALLET_SHIPMENT_MODE,
};
use tixbridge_core::status::TicketingStatus;
use tixbridge_core::text::{LocalizedText, check_plain_text, is_language_code};
use tixbridge_store::{
    Catalog, CorrectionCounts, ImportContact, ImportPerformance, ImportProduct, ImportRow,
    ImportSeason, ImportSite, StoreError, TicketingStore, refused_correction_column,
};

/// Rows per `ImportSession::add` call.
pub const CHUNK_ROWS: usize = 1000;

/// Row errors kept for the report; the others are counted.
pub const MAX_REPORTED_ERRORS: usize = 100;

/// Catalog codes remembered for the consistency checks of pass 1; beyond this (a file
/// with that many products is not a real one) the checks stop, to keep memory flat.
const MAX_TRACKED_CODES: usize = 100_000;

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    /// Tickets imported (the data rows of the file); for a correction, the rows read.
    pub imported: u64,
    /// For a correction (`ImportOptions::update`): what it changed.
    pub corrections: CorrectionCounts,
}

/// Which pass a progress report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportPhase {
    /// Pass 1: reading and checking every row; nothing is written.
    Checking,
    /// Pass 2: writing the rows.
    Importing,
}

/// A progress report, sent every [`CHUNK_ROWS`] rows and at the end of each pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportProgress {
    pub phase: ImportPhase,
    /// Rows done in this phase.
    pub rows: u64,
    /// The number of rows of the file, known once pass 1 is over.
    pub total: Option<u64>,
}

/// One problem with one row (or one value of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based; the header is row 1.
    pub row: u64,
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "row {}, column {c}: {}", self.row, self.message),
            None => write!(f, "row {}: {}", self.row, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}: {message}; nothing was imported", path.display())]
    Read { path: PathBuf, message: String },
    /// The header row is wrong: unknown, duplicated or missing columns, bad language
    /// suffixes.
    #[error("the header row of the file is wrong: {}; nothing was imported", .0.join("; "))]
    Header(Vec<String>),
    /// Pass 1 found bad rows: nothing was written.
    #[error("{}", bad_rows_text(*bad_rows, *total_errors, errors))]
    BadRows {
        /// How many rows are bad.
        bad_rows: u64,
        /// How many errors were found in all (a row may have several).
        total_errors: u64,
        /// The first errors, in file order.
        errors: Vec<RowError>,
    },
    /// Pass 2 met a ticket id or tax number already taken: everything was rolled back.
    #[error("{0}; nothing was imported")]
    Conflict(RowError),
    #[error("{0}; nothing was imported")]
    Store(#[from] StoreError),
    /// A bad argument (the default language).
    #[error("{0}; nothing was imported")]
    Invalid(String),
}

fn bad_rows_text(bad_rows: u64, total_errors: u64, errors: &[RowError]) -> String {
    let mut s = format!(
        "{bad_rows} bad row{}; nothing was imported:",
        if bad_rows == 1 { "" } else { "s" }
    );
    for e in errors {
        s.push_str("\n  ");
        s.push_str(&e.to_string());
    }
    let more = total_errors.saturating_sub(errors.len() as u64);
    if more > 0 {
        s.push_str(&format!("\n  … and {more} more errors"));
    }
    s
}

/// How a file is read: the command line's options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// The cell separator; `None`: detected from the header line
    /// (`tixbridge_core::csv_dialect`).
    pub delimiter: Option<Delimiter>,
    /// The organization's zone for this file instead of the stored one (the command
    /// line's `--time-zone`, which the command then stores); `None`: the stored one.
    pub time_zone: Option<Tz>,
    /// Corrects existing tickets instead of importing new ones (`--update`, issue 7
    /// item 20): every row names a ticket of the organization, and may change its
    /// holder, seat details, contact, prices, texts and catalog fields, never its
    /// identity or status (see `TicketingStore::begin_correction`).
    pub update: bool,
}

/// Imports the tickets of a CSV file into the organization, all or nothing. `progress`
/// receives the number of rows imported so far during the writing pass. See the module
/// documentation for the columns.
pub async fn import_tickets(
    store: &dyn TicketingStore,
    organization_id: i64,
    default_language: &str,
    path: &Path,
    progress: impl Fn(u64) + Send,
) -> Result<ImportReport, ImportError> {
    import_tickets_with_progress(store, organization_id, default_language, path, move |p| {
        if p.phase == ImportPhase::Importing {
            progress(p.rows)
        }
    })
    .await
}

/// [`import_tickets`] with progress reports of both passes, and the row count once
/// known (for a progress bar).
pub async fn import_tickets_with_progress(
    store: &dyn TicketingStore,
    organization_id: i64,
    default_language: &str,
    path: &Path,
    progress: impl Fn(ImportProgress) + Send,
) -> Result<ImportReport, ImportError> {
    let options = ImportOptions::default();
    import_tickets_with(
        store,
        organization_id,
        default_language,
        path,
        &options,
        progress,
    )
    .await
}

/// [`import_tickets_with_progress`] with the file's reading options.
pub async fn import_tickets_with(
    store: &dyn TicketingStore,
    organization_id: i64,
    default_language: &str,
    path: &Path,
    options: &ImportOptions,
    progress: impl Fn(ImportProgress) + Send,
) -> Result<ImportReport, ImportError> {
    check_language(default_language)?;
    // Fail before reading a million rows when the organization is wrong.
    let org = store.organization(organization_id).await?;
    let zone = options.time_zone.unwrap_or(org.time_zone);
    let target = Target::new(zone, store.catalog(organization_id).await?);

    // Pass 1: check everything, write nothing.
    let rows = check_rows(&target, default_language, path, options, &progress).await?;

    // Pass 2: read again and write, in one session.
    let (mut reader, columns) = open(path, default_language, options)?;
    let mut session = if options.update {
        store.begin_correction(organization_id, Utc::now()).await?
    } else {
        store.begin_import(organization_id).await?
    };
    let mut pass = Pass2 {
        reader: &mut reader,
        parser: Parser::new(&columns, &target),
        path,
        record: StringRecord::new(),
        row_no: 1,
    };
    let mut chunk = pass.next_chunk()?;
    let mut imported: u64 = 0;
    progress(ImportProgress {
        phase: ImportPhase::Importing,
        rows: 0,
        total: Some(rows),
    });
    while !chunk.rows.is_empty() {
        chunk.check_duplicates()?;
        let Chunk { rows: batch, keys } = chunk;
        let n = batch.len() as u64;
        // Parse the next chunk while the store writes this one.
        let (added, next) = futures::join!(session.add(batch), async { pass.next_chunk() });
        added.map_err(|e| conflict_at(e, &keys))?;
        chunk = next?;
        imported += n;
        progress(ImportProgress {
            phase: ImportPhase::Importing,
            rows: imported,
            total: Some(rows),
        });
    }
    if imported != rows {
        return Err(ImportError::Read {
            path: path.to_path_buf(),
            message: format!(
                "the file changed during the import ({rows} rows when checked, {imported} when imported)"
            ),
        });
    }
    let corrections = session.corrections();
    let committed = session.commit().await?;
    Ok(ImportReport {
        imported: committed,
        corrections,
    })
}

fn check_language(default_language: &str) -> Result<(), ImportError> {
    if is_language_code(default_language) {
        Ok(())
    } else {
        Err(ImportError::Invalid(format!(
            "the default language {default_language:?} is not a two-letter lower-case code such as en"
        )))
    }
}

/// Pass 1 alone, for an organization not created yet (no stored catalog, times read
/// in UTC): reads the whole file and checks every row, writing nothing. Returns the
/// number of rows, or every bad row (the first [`MAX_REPORTED_ERRORS`]).
pub async fn check_file(
    default_language: &str,
    path: &Path,
    progress: &(impl Fn(ImportProgress) + Send),
) -> Result<u64, ImportError> {
    let options = ImportOptions::default();
    check_file_with(default_language, DEFAULT_ZONE, path, &options, progress).await
}

/// [`check_file`] with the organization's time zone and the file's reading options.
pub async fn check_file_with(
    default_language: &str,
    time_zone: Tz,
    path: &Path,
    options: &ImportOptions,
    progress: &(impl Fn(ImportProgress) + Send),
) -> Result<u64, ImportError> {
    check_language(default_language)?;
    let target = Target::new(options.time_zone.unwrap_or(time_zone), Catalog::default());
    check_rows(&target, default_language, path, options, progress).await
}

/// Pass 1: reads the whole file and checks every row against `target`.
async fn check_rows(
    target: &Target,
    default_language: &str,
    path: &Path,
    options: &ImportOptions,
    progress: &(impl Fn(ImportProgress) + Send),
) -> Result<u64, ImportError> {
    let (mut reader, columns) = open(path, default_language, options)?;
    let mut parser = Parser::new(&columns, target);
    let mut check = CatalogCheck::default();
    let mut record = StringRecord::new();
    let mut rows: u64 = 0;
    let mut bad_rows: u64 = 0;
    let mut total_errors: u64 = 0;
    let mut errors = Vec::new();
    loop {
        let row_no = rows + 2;
        match read_record(&mut reader, &mut record, path)? {
            None => break,
            Some(Err(message)) => {
                bad_rows += 1;
                total_errors += 1;
                if errors.len() < MAX_REPORTED_ERRORS {
                    errors.push(RowError {
                        row: row_no,
                        column: None,
                        message,
                    });
                }
            }
            Some(Ok(())) => {
                let mut row_errors = match parser.parse(row_no, &record) {
                    Ok(row) => check.check(row_no, &row),
                    Err(e) => e,
                };
                if !row_errors.is_empty() {
                    bad_rows += 1;
                    total_errors += row_errors.len() as u64;
                    for (column, message) in row_errors.drain(..) {
                        if errors.len() < MAX_REPORTED_ERRORS {
                            errors.push(RowError {
                                row: row_no,
                                column: column.map(str::to_owned),
                                message,
                            });
                        }
                    }
                }
            }
        }
        rows += 1;
        if rows.is_multiple_of(CHUNK_ROWS as u64) {
            progress(ImportProgress {
                phase: ImportPhase::Checking,
                rows,
                total: None,
            });
            // Checking is CPU work: let the other tasks of the runtime breathe.
            tokio::task::yield_now().await;
        }
    }
    progress(ImportProgress {
        phase: ImportPhase::Checking,
        rows,
        total: Some(rows),
    });
    if bad_rows > 0 {
        return Err(ImportError::BadRows {
            bad_rows,
            total_errors,
            errors,
        });
    }
    drop(check);
    Ok(rows)
}

/// Names the row of a conflict the store reported. The store names the ticket id, tax
/// number or barcode; rows of a chunk are unique in all three (checked before), so the
/// match is the row.
fn conflict_at(e: StoreError, keys: &[RowKeys]) -> ImportError {
    let StoreError::Conflict(message) = &e else {
        return ImportError::Store(e);
    };
    for k in keys {
        if let Some((column, why)) = refused_correction_column(message, k.ticket_id) {
            return ImportError::Conflict(RowError {
                row: k.row,
                column: Some(column.into()),
                message: format!("ticket {}: {why}", k.ticket_id),
            });
        }
    }
    for k in keys {
        let (row, id, tax) = (&k.row, k.ticket_id, &k.tax_number);
        let column = if message.starts_with(&format!("ticket id {id} replaces ")) {
            "replaces_ticket_id"
        } else if message.contains(&format!("ticket id {id} ")) {
            "ticket_id"
        } else if message.contains(&format!("tax number {tax:?} ")) {
            "tax_number"
        } else if message.starts_with(&format!("barcode {:?} ", k.barcode)) {
            "barcode"
        } else {
            continue;
        };
        return ImportError::Conflict(RowError {
            row: *row,
            column: Some(column.into()),
            message: message.clone(),
        });
    }
    ImportError::Store(e)
}

// ---- reading ---------------------------------------------------------------------------

type Reader = csv::Reader<BufReader<File>>;

/// Bytes read to detect the separator: the header line is in them.
const SNIFF_BYTES: u64 = 64 * 1024;

fn open(
    path: &Path,
    default_language: &str,
    options: &ImportOptions,
) -> Result<(Reader, Columns), ImportError> {
    let read_err = |message: String| ImportError::Read {
        path: path.to_path_buf(),
        message,
    };
    let mut file = File::open(path).map_err(|e| read_err(e.to_string()))?;
    let mut prefix = Vec::new();
    let read = (&mut file).take(SNIFF_BYTES).read_to_end(&mut prefix);
    read.and_then(|_| file.rewind())
        .map_err(|e| read_err(e.to_string()))?;
    let delimiter = csv_dialect::resolve(&prefix, options.delimiter);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter.byte())
        .has_headers(false)
        // Field counts are checked per row, so a short row is an error naming it.
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(BufReader::with_capacity(1 << 16, file));
    let mut header = StringRecord::new();
    match reader.read_record(&mut header) {
        Ok(true) => {}
        Ok(false) => {
            return Err(ImportError::Header(vec![
                "the file is empty; its first row must name the columns".into(),
            ]));
        }
        Err(e) => return Err(read_err(format!("row 1: {e}"))),
    }
    let cells: Vec<&str> = header.iter().collect();
    if let Some(hint) = csv_dialect::single_cell_hint(&cells, delimiter) {
        return Err(ImportError::Header(vec![hint]));
    }
    let columns = Columns::from_header(&header, default_language).map_err(ImportError::Header)?;
    Ok((reader, columns))
}

/// Reads one record: `None` at the end, `Some(Err)` for a row that cannot be read
/// (the reader goes on with the next one), an error for a failure of the file itself.
fn read_record(
    reader: &mut Reader,
    record: &mut StringRecord,
    path: &Path,
) -> Result<Option<Result<(), String>>, ImportError> {
    match reader.read_record(record) {
        Ok(true) => Ok(Some(Ok(()))),
        Ok(false) => Ok(None),
        Err(e) => match e.kind() {
            csv::ErrorKind::Utf8 { err, .. } => Ok(Some(Err(format!(
                "field {} is not valid UTF-8; save the file as UTF-8",
                err.field() + 1
            )))),
            _ => Err(ImportError::Read {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        },
    }
}

/// Row number and unique keys of a row, to name a conflicting row.
struct RowKeys {
    row: u64,
    ticket_id: i64,
    tax_number: String,
    barcode: String,
}

struct Chunk {
    rows: Vec<ImportRow>,
    keys: Vec<RowKeys>,
}

impl Chunk {
    /// Duplicates inside a chunk are found here, so a conflict reported by the store is
    /// always about an earlier chunk or the store, and names exactly one row here.
    fn check_duplicates(&self) -> Result<(), ImportError> {
        let mut ids: HashMap<i64, u64> = HashMap::with_capacity(self.keys.len());
        let mut taxes: HashMap<&str, u64> = HashMap::with_capacity(self.keys.len());
        let mut barcodes: HashMap<&str, u64> = HashMap::with_capacity(self.keys.len());
        for k in &self.keys {
            let (row, id, tax) = (&k.row, &k.ticket_id, &k.tax_number);
            if let Some(first) = ids.insert(*id, *row) {
                return Err(ImportError::Conflict(RowError {
                    row: *row,
                    column: Some("ticket_id".into()),
                    message: format!("ticket id {id} is also on row {first}"),
                }));
            }
            if let Some(first) = taxes.insert(tax, *row) {
                return Err(ImportError::Conflict(RowError {
                    row: *row,
                    column: Some("tax_number".into()),
                    message: format!("tax number {tax:?} is also on row {first}"),
                }));
            }
            if let Some(first) = barcodes.insert(&k.barcode, *row) {
                return Err(ImportError::Conflict(RowError {
                    row: *row,
                    column: Some("barcode".into()),
                    message: format!("barcode {:?} is also on row {first}", k.barcode),
                }));
            }
        }
        Ok(())
    }
}

/// The reading side of pass 2.
struct Pass2<'a> {
    reader: &'a mut Reader,
    parser: Parser<'a>,
    path: &'a Path,
    record: StringRecord,
    row_no: u64,
}

impl Pass2<'_> {
    fn next_chunk(&mut self) -> Result<Chunk, ImportError> {
        let mut chunk = Chunk {
            rows: Vec::with_capacity(CHUNK_ROWS),
            keys: Vec::with_capacity(CHUNK_ROWS),
        };
        while chunk.rows.len() < CHUNK_ROWS {
            let Some(read) = read_record(self.reader, &mut self.record, self.path)? else {
                break;
            };
            self.row_no += 1;
            let changed = |message: String| ImportError::Read {
                path: self.path.to_path_buf(),
                message: format!(
                    "the file changed during the import: row {}: {message}",
                    self.row_no
                ),
            };
            read.map_err(changed)?;
            let row = self
                .parser
                .parse(self.row_no, &self.record)
                .map_err(|errors| {
                    changed(
                        errors
                            .into_iter()
                            .map(|(c, m)| match c {
                                Some(c) => format!("column {c}: {m}"),
                                None => m,
                            })
                            .collect::<Vec<_>>()
                            .join("; "),
                    )
                })?;
            chunk.keys.push(RowKeys {
                row: self.row_no,
                ticket_id: row.ticket_id,
                tax_number: row.tax_number.clone(),
                barcode: row.barcode.clone(),
            });
            chunk.rows.push(row);
        }
        Ok(chunk)
    }
}

// ---- columns ---------------------------------------------------------------------------

macro_rules! columns {
    ($($var:ident => $name:literal),* $(,)?) => {
        /// The known columns.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Col { $($var),* }

        impl Col {
            const ALL: &'static [Col] = &[$(Col::$var),*];

            fn name(self) -> &'static str {
                match self { $(Col::$var => $name),* }
            }
        }
    };
}

columns! {
    TicketId => "ticket_id",
    TaxNumber => "tax_number",
    Barcode => "barcode",
    FileId => "file_id",
    Status => "status",
    Cause => "cause",
    ReplacesTicketId => "replaces_ticket_id",
    ShipmentMode => "shipment_mode",
    SalesChannel => "sales_channel",
    SeasonCode => "season_code",
    SeasonName => "season_name",
    SeasonStart => "season_start",
    SeasonEnd => "season_end",
    ProductCode => "product_code",
    ProductKind => "product_kind",
    ProductFamily => "product_family",
    ProductName => "product_name",
    TixStart => "tix_start",
    TixExp => "tix_exp",
    TixAct => "tix_act",
    TixRgrp => "tix_rgrp",
    PerformanceCode => "performance_code",
    PerformanceName => "performance_name",
    GroupName => "group_name",
    PerformanceStart => "performance_start",
    PerformanceEnd => "performance_end",
    SiteCode => "site_code",
    SiteName => "site_name",
    SiteCity => "site_city",
    SiteZip => "site_zip",
    SiteCountry => "site_country",
    SiteTimeZone => "site_time_zone",
    SiteLine1 => "site_line1",
    SiteLine2 => "site_line2",
    Tariff => "tariff",
    Category => "category",
    Price => "price",
    Currency => "currency",
    PurchaseDate => "purchase_date",
    ValidityStart => "validity_start",
    ValidityEnd => "validity_end",
    Gate => "gate",
    Block => "block",
    SeatRow => "row",
    Seat => "seat",
    ContactNumber => "contact_number",
    ContactEmail => "contact_email",
    ContactFirstName => "contact_first_name",
    ContactLastName => "contact_last_name",
    ContactGender => "contact_gender",
    ContactTitle => "contact_title",
    ContactInternetAccount => "contact_internet_account",
    ContactKind => "contact_kind",
    HolderFirstName => "holder_first_name",
    HolderLastName => "holder_last_name",
    HolderBirthDate => "holder_birth_date",
    HolderIdNumber => "holder_id_number",
    HolderCountryCode => "holder_country_code",
    HolderBirthRegion => "holder_birth_region",
    HolderBirthPlace => "holder_birth_place",
    MainApplicant => "main_applicant",
    LinkedTicketIds => "linked_ticket_ids",
}

impl Col {
    fn multilingual(self) -> bool {
        matches!(
            self,
            Col::ProductName
                | Col::PerformanceName
                | Col::GroupName
                | Col::SiteName
                | Col::SiteCity
                | Col::SiteLine1
                | Col::SiteLine2
        )
    }
}

const REQUIRED: &[Col] = &[
    Col::TicketId,
    Col::TaxNumber,
    Col::Barcode,
    Col::ProductCode,
    Col::ProductKind,
    Col::ContactNumber,
];

/// Where each known column is in the file.
struct Columns {
    default_language: String,
    width: usize,
    /// By position: the column there (every position is known once the header passed).
    at: Vec<Option<Col>>,
    /// By `Col as usize`: the position of a plain column.
    plain: Vec<Option<usize>>,
    /// By `Col as usize`, multilingual columns only: (language, position), the plain
    /// column counting as the default language.
    langs: Vec<Vec<(String, usize)>>,
}

impl Columns {
    fn from_header(header: &StringRecord, default_language: &str) -> Result<Columns, Vec<String>> {
        let mut cols = Columns {
            default_language: default_language.to_owned(),
            width: header.len(),
            at: vec![None; header.len()],
            plain: vec![None; Col::ALL.len()],
            langs: vec![Vec::new(); Col::ALL.len()],
        };
        let mut problems = Vec::new();
        let mut unknown = Vec::new();
        for (pos, raw) in header.iter().enumerate() {
            let name = raw.trim();
            let (base, lang) = match name.strip_suffix(']').and_then(|n| n.split_once('[')) {
                Some((base, lang)) => (base.trim(), Some(lang.trim())),
                None => (name, None),
            };
            let Some(col) = Col::ALL
                .iter()
                .copied()
                .find(|c| c.name().eq_ignore_ascii_case(base))
            else {
                unknown.push(format!("{name:?}"));
                continue;
            };
            let i = col as usize;
            cols.at[pos] = Some(col);
            match lang {
                Some(_) if !col.multilingual() => problems.push(format!(
                    "column {name:?}: {} is not multilingual; only {} take a [xx] language suffix",
                    col.name(),
                    multilingual_names()
                )),
                Some(lang) if !is_language_code(lang) => problems.push(format!(
                    "column {name:?}: {lang:?} is not a two-letter lower-case language code such as fr"
                )),
                Some(lang) => {
                    if cols.langs[i].iter().any(|(l, _)| l == lang) {
                        problems.push(format!(
                            "column {name:?}: the {lang} value of {} is given twice{}",
                            col.name(),
                            if lang == default_language {
                                format!(" ({} holds the default language, {lang})", col.name())
                            } else {
                                String::new()
                            }
                        ));
                    } else {
                        cols.langs[i].push((lang.to_owned(), pos));
                    }
                }
                None if col.multilingual() => {
                    if cols.langs[i].iter().any(|(l, _)| l == default_language) {
                        problems.push(format!(
                            "column {name:?}: the {default_language} value of {} is given twice ({} holds the default language, {default_language})",
                            col.name(),
                            col.name()
                        ));
                    } else {
                        cols.langs[i].push((default_language.to_owned(), pos));
                    }
                }
                None => {
                    if cols.plain[i].is_some() {
                        problems.push(format!("column {name:?} is given twice"));
                    } else {
                        cols.plain[i] = Some(pos);
                    }
                }
            }
        }
        if !unknown.is_empty() {
            problems.insert(
                0,
                format!(
                    "unknown column{} {} (the known columns are {})",
                    if unknown.len() == 1 { "" } else { "s" },
                    unknown.join(", "),
                    Col::ALL
                        .iter()
                        .map(|c| if c.multilingual() {
                            format!("{}[xx]", c.name())
                        } else {
                            c.name().to_owned()
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        let missing: Vec<&str> = REQUIRED
            .iter()
            .filter(|c| cols.plain[**c as usize].is_none())
            .map(|c| c.name())
            .collect();
        if !missing.is_empty() {
            problems.push(format!("missing required columns: {}", missing.join(", ")));
        }
        if problems.is_empty() {
            Ok(cols)
        } else {
            Err(problems)
        }
    }
}

fn multilingual_names() -> String {
    Col::ALL
        .iter()
        .filter(|c| c.multilingual())
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- what rows are read against --------------------------------------------------------

/// What the rows of a file are read against besides the header: the organization's
/// time zone and the facts of its stored catalog that a row may lean on.
struct Target {
    zone: Tz,
    /// Stored site code → its zone.
    site_zones: HashMap<String, Option<Tz>>,
    /// Stored product code → its season code and the zone of its site.
    products: HashMap<String, (Option<String>, Option<Tz>)>,
    seasons: HashMap<String, Season>,
}

impl Target {
    fn new(zone: Tz, catalog: Catalog) -> Target {
        let by_id: HashMap<i64, Option<Tz>> =
            catalog.sites.iter().map(|s| (s.id, s.time_zone)).collect();
        Target {
            zone,
            products: catalog
                .products
                .into_iter()
                .map(|p| {
                    let zone = p.site_id.and_then(|id| by_id.get(&id).copied().flatten());
                    (p.code, (p.season_code, zone))
                })
                .collect(),
            site_zones: catalog
                .sites
                .into_iter()
                .map(|s| (s.code, s.time_zone))
                .collect(),
            seasons: catalog
                .seasons
                .into_iter()
                .map(|s| (s.code.clone(), s))
                .collect(),
        }
    }
}

/// The zone each site of the file is read in, decided as the rows go (both passes
/// read the same rows in the same order, so they decide alike): the row's
/// `site_time_zone`, else the zone of the site's first row in the file. A row giving
/// another zone than the one the site was read in is refused.
#[derive(Default)]
struct SiteZones {
    /// Site code → zone, first row, whether that row gave it.
    seen: HashMap<String, (Tz, u64, bool)>,
}

impl SiteZones {
    fn resolve(
        &mut self,
        row_no: u64,
        code: &str,
        given: Option<Tz>,
        fallback: Tz,
    ) -> Result<Tz, String> {
        match (self.seen.get(code), given) {
            (Some(&(zone, _, _)), None) => Ok(zone),
            (Some(&(zone, _, _)), Some(g)) if g == zone => Ok(zone),
            (Some(&(zone, first, true)), Some(g)) => Err(format!(
                "site {code} is in {zone} on row {first}, {g} here; a site has one time zone"
            )),
            (Some(&(zone, first, false)), Some(g)) => Err(format!(
                "site {code} was read in {zone} from row {first}, which gives no \
                 site_time_zone; give {g} on the site's first row"
            )),
            (None, given) => {
                let zone = given.unwrap_or(fallback);
                if self.seen.len() < MAX_TRACKED_CODES {
                    self.seen
                        .insert(code.to_owned(), (zone, row_no, given.is_some()));
                }
                Ok(zone)
            }
        }
    }
}

/// Reads rows into [`ImportRow`]s: the header's columns, the target, and the zones
/// decided so far.
struct Parser<'a> {
    cols: &'a Columns,
    target: &'a Target,
    sites: SiteZones,
}

impl<'a> Parser<'a> {
    fn new(cols: &'a Columns, target: &'a Target) -> Self {
        Parser {
            cols,
            target,
            sites: SiteZones::default(),
        }
    }

    /// Parses and checks one row (`row_no` as counted in the file); the errors name
    /// their column.
    fn parse(&mut self, row_no: u64, rec: &StringRecord) -> Result<ImportRow, RowErrors> {
        if rec.len() != self.cols.width {
            return Err(vec![(
                None,
                format!(
                    "the row has {} values but the header names {} columns",
                    rec.len(),
                    self.cols.width
                ),
            )]);
        }
        // A value with a control character is refused for that alone: reading it
        // further would only add a second, misleading error for the same cell.
        let control = control_characters(self.cols, rec);
        if !control.is_empty() {
            return Err(control);
        }
        let mut r = RowReader {
            cols: self.cols,
            rec,
            zone: self.target.zone,
            errors: Vec::new(),
        };
        r.zone = self.zone(&mut r, row_no);
        let row = parse_row(&mut r)?;
        // Cards become privileges, which carry no event dates (DOMAIN.md §5.5).
        if row.performance.is_none() && !row.product.kind.is_card() {
            self.check_comfort(&row, r.zone).map_err(|e| vec![e])?;
        }
        Ok(row)
    }

    /// The zone the row's times are read in (module documentation).
    fn zone(&mut self, r: &mut RowReader<'_>, row_no: u64) -> Tz {
        let given = r.parse(Col::SiteTimeZone, local_time::parse_zone);
        let Some(code) = r.get(Col::SiteCode) else {
            return r
                .get(Col::ProductCode)
                .and_then(|p| self.target.products.get(p))
                .and_then(|(_, zone)| *zone)
                .unwrap_or(self.target.zone);
        };
        let stored = self.target.site_zones.get(code).copied().flatten();
        let fallback = stored.unwrap_or(self.target.zone);
        self.sites
            .resolve(row_no, code, given, fallback)
            .unwrap_or_else(|e| {
                r.bad(Col::SiteTimeZone, e);
                fallback
            })
    }

    /// Computes the dates of a ticket without performance as injection will
    /// (`inject::comfort_dates`), so a row it could never send is refused now.
    fn check_comfort(
        &self,
        row: &ImportRow,
        zone: Tz,
    ) -> Result<(), (Option<&'static str>, String)> {
        let p = &row.product;
        let season = match &row.season {
            Some(s) => Some(Season {
                code: s.code.clone(),
                name: s.name.clone(),
                start: s.start,
                end: s.end,
            }),
            None => self
                .target
                .products
                .get(&p.code)
                .and_then(|(season, _)| season.as_ref())
                .and_then(|code| self.target.seasons.get(code))
                .cloned(),
        };
        let base = row.validity_start.or(row.purchase_date);
        comfort_dates(&p.comfort, base, row.validity_end, season.as_ref(), zone)
            .map(|_| ())
            .map_err(|e| {
                let column = match e.field {
                    ComfortField::Base => Col::ValidityStart,
                    ComfortField::TixStart => Col::TixStart,
                    ComfortField::TixExp => Col::TixExp,
                    ComfortField::TixAct => Col::TixAct,
                };
                let message = match e.field {
                    ComfortField::Base => "a ticket without performance needs a validity_start, a purchase_date or an absolute tix_start (injection could never send it)".to_owned(),
                    _ => format!("{} (injection could never send this ticket)", e.error.message),
                };
                (Some(column.name()), message)
            })
    }
}

/// The errors of one row, each naming its column when it has one.
type RowErrors = Vec<(Option<&'static str>, String)>;

/// Every value of the row holding a control character (no column is multi-line).
fn control_characters(cols: &Columns, rec: &StringRecord) -> RowErrors {
    // The fast path: one scan over the whole row.
    if !rec.as_slice().bytes().any(|b| b.is_ascii_control()) {
        return Vec::new();
    }
    rec.iter()
        .enumerate()
        .filter_map(|(pos, v)| {
            let col = cols.at.get(pos).copied().flatten()?;
            check_plain_text(col.name(), v, false)
                .err()
                .map(|e| (Some(col.name()), e.message))
        })
        .collect()
}

// ---- parsing one row -------------------------------------------------------------------

/// One row being parsed: the values by column, and the problems found so far.
struct RowReader<'a> {
    cols: &'a Columns,
    rec: &'a StringRecord,
    /// The zone times without offset are read in.
    zone: Tz,
    errors: RowErrors,
}

impl<'a> RowReader<'a> {
    fn get(&self, c: Col) -> Option<&'a str> {
        self.cols.plain[c as usize]
            .and_then(|i| self.rec.get(i))
            .filter(|v| !v.is_empty())
    }

    fn bad(&mut self, c: Col, message: String) {
        self.errors.push((Some(c.name()), message));
    }

    fn string(&self, c: Col) -> Option<String> {
        self.get(c).map(str::to_owned)
    }

    fn required(&mut self, c: Col) -> Option<&'a str> {
        let v = self.get(c);
        if v.is_none() {
            self.bad(c, "a value is required".into());
        }
        v
    }

    fn parse<T>(&mut self, c: Col, f: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let v = self.get(c)?;
        match f(v) {
            Ok(t) => Some(t),
            Err(e) => {
                self.bad(c, e);
                None
            }
        }
    }

    fn id(&mut self, c: Col) -> Option<i64> {
        self.parse(c, parse_id)
    }

    fn time(&mut self, c: Col) -> Option<DateTime<Utc>> {
        let zone = self.zone;
        self.parse(c, |v| local_time::parse_time(v, zone))
    }

    fn is_set(&self, c: Col) -> bool {
        if c.multilingual() {
            self.cols.langs[c as usize]
                .iter()
                .any(|(_, i)| self.rec.get(*i).is_some_and(|v| !v.is_empty()))
        } else {
            self.get(c).is_some()
        }
    }

    fn text(&mut self, c: Col) -> LocalizedText {
        let mut t = LocalizedText::default();
        for (lang, i) in &self.cols.langs[c as usize] {
            if let Some(v) = self.rec.get(*i).filter(|v| !v.is_empty()) {
                t.values.insert(lang.clone(), v.to_owned());
            }
        }
        let default = &self.cols.default_language;
        if !t.values.is_empty() && !t.values.contains_key(default) {
            let given: Vec<String> = t.values.keys().map(|l| format!("[{l}]")).collect();
            self.bad(
                c,
                format!(
                    "a value in the default language ({default}) is required when {} {} given",
                    given.join(", "),
                    if given.len() == 1 { "is" } else { "are" }
                ),
            );
        }
        t
    }
}

/// Parses and checks one row's values (`r` has its zone); the errors name their
/// column.
fn parse_row(r: &mut RowReader<'_>) -> Result<ImportRow, RowErrors> {
    let cols = r.cols;

    let ticket_id = r.required(Col::TicketId).and_then(|_| r.id(Col::TicketId));
    let tax_number = r.required(Col::TaxNumber).map(str::to_owned);
    let barcode = r.required(Col::Barcode).map(str::to_owned);
    let status = r
        .parse(Col::Status, |v| v.parse::<TicketingStatus>())
        .unwrap_or(TicketingStatus::NotPrinted);
    let cause = r.get(Col::Cause).and_then(Cause::parse);
    let replaces_ticket_id = r.id(Col::ReplacesTicketId);
    if replaces_ticket_id.is_some() && replaces_ticket_id == ticket_id {
        r.bad(
            Col::ReplacesTicketId,
            "a ticket cannot replace itself".into(),
        );
    }
    let shipment_mode = r
        .get(Col::ShipmentMode)
        .map(str::to_ascii_uppercase)
        .unwrap_or_else(|| WALLET_SHIPMENT_MODE.to_owned());

    // Season.
    let season = match r.string(Col::SeasonCode) {
        Some(code) => {
            let start = r
                .required(Col::SeasonStart)
                .and_then(|_| r.time(Col::SeasonStart));
            let end = r
                .required(Col::SeasonEnd)
                .and_then(|_| r.time(Col::SeasonEnd));
            if let (Some(s), Some(e)) = (start, end)
                && e <= s
            {
                r.bad(Col::SeasonEnd, "the season must end after it starts".into());
            }
            let name = r.string(Col::SeasonName).unwrap_or_else(|| code.clone());
            start.zip(end).map(|(start, end)| ImportSeason {
                code,
                name,
                start,
                end,
            })
        }
        None => {
            for c in [Col::SeasonName, Col::SeasonStart, Col::SeasonEnd] {
                if r.is_set(c) {
                    r.bad(c, "needs a season_code".into());
                }
            }
            None
        }
    };
    let has_season = r.get(Col::SeasonCode).is_some();

    // Product.
    let product_code = r.required(Col::ProductCode).map(str::to_owned);
    let kind = r
        .required(Col::ProductKind)
        .and_then(|_| r.parse(Col::ProductKind, |v| v.parse::<ProductKind>()));
    let family = r.string(Col::ProductFamily);
    let product_name = r.text(Col::ProductName);
    let linked_ticket_ids = match r.parse(Col::LinkedTicketIds, |v| parse_linked(v, ticket_id)) {
        Some(_) if kind.is_some_and(|k| !k.is_card()) => {
            r.bad(
                Col::LinkedTicketIds,
                "only a membership or season card links tickets".into(),
            );
            Vec::new()
        }
        linked => linked.unwrap_or_default(),
    };
    let mut comfort = ComfortVariables::default();
    for (c, slot) in [
        (Col::TixStart, &mut comfort.tix_start),
        (Col::TixExp, &mut comfort.tix_exp),
        (Col::TixAct, &mut comfort.tix_act),
    ] {
        *slot = r.parse(c, parse_comfort);
        if slot.as_deref().is_some_and(|v| v.ends_with("_of_season")) && !has_season {
            r.bad(
                c,
                format!(
                    "{} needs a season (season_code)",
                    slot.as_deref().unwrap_or("")
                ),
            );
        }
    }
    comfort.tix_rgrp = r.string(Col::TixRgrp);

    // Site.
    let site = match r.string(Col::SiteCode) {
        Some(code) => {
            let country_code = r
                .parse(Col::SiteCountry, |v| two_letters(v, "country code"))
                .unwrap_or_default();
            Some(ImportSite {
                code,
                name: r.text(Col::SiteName),
                city: r.text(Col::SiteCity),
                zip: r.string(Col::SiteZip).unwrap_or_default(),
                country_code,
                line1: r.text(Col::SiteLine1),
                line2: r.text(Col::SiteLine2),
                time_zone: r
                    .get(Col::SiteTimeZone)
                    .and_then(|v| local_time::parse_zone(v).ok()),
            })
        }
        None => {
            for c in [
                Col::SiteName,
                Col::SiteCity,
                Col::SiteZip,
                Col::SiteCountry,
                Col::SiteLine1,
                Col::SiteLine2,
                Col::SiteTimeZone,
            ] {
                if r.is_set(c) {
                    r.bad(c, "needs a site_code".into());
                }
            }
            None
        }
    };

    // Performance: required for events and matches, refused for the others.
    let performance = match kind {
        Some(k) if k.has_performance() => {
            let code = r.required(Col::PerformanceCode).map(str::to_owned);
            let start = r
                .required(Col::PerformanceStart)
                .and_then(|_| r.time(Col::PerformanceStart));
            let end = r.time(Col::PerformanceEnd);
            if let (Some(s), Some(e)) = (start, end)
                && e <= s
            {
                r.bad(
                    Col::PerformanceEnd,
                    "the performance must end after it starts".into(),
                );
            }
            if site.is_none() {
                r.bad(
                    Col::SiteCode,
                    format!("a value is required: a {k} performance takes place at a site"),
                );
            }
            let name = r.text(Col::PerformanceName);
            let group_name = r.text(Col::GroupName);
            code.zip(start).map(|(code, start)| ImportPerformance {
                code,
                name,
                group_name,
                start,
                end,
            })
        }
        Some(k) => {
            for c in [
                Col::PerformanceCode,
                Col::PerformanceName,
                Col::GroupName,
                Col::PerformanceStart,
                Col::PerformanceEnd,
            ] {
                if r.is_set(c) {
                    r.bad(
                        c,
                        format!("a {k} product has no performance; leave the column empty"),
                    );
                }
            }
            None
        }
        None => None,
    };

    let currency = r.parse(Col::Currency, |v| {
        if v.len() == 3 && v.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(v.to_ascii_uppercase())
        } else {
            Err(format!(
                "{v:?} is not a three-letter currency code such as EUR"
            ))
        }
    });
    let price_cents = r.parse(Col::Price, |v| parse_price(v, currency.as_deref()));
    let purchase_date = r.time(Col::PurchaseDate);
    let validity_start = r.time(Col::ValidityStart);
    let validity_end = r.time(Col::ValidityEnd);
    if let (Some(s), Some(e)) = (validity_start, validity_end)
        && e <= s
    {
        r.bad(
            Col::ValidityEnd,
            "the validity must end after it starts".into(),
        );
    }

    let lang = &cols.default_language;
    let details = [
        (Col::Gate, "Gate"),
        (Col::Block, "Block"),
        (Col::SeatRow, "Row"),
        (Col::Seat, "Seat"),
    ]
    .into_iter()
    .filter_map(|(c, key)| {
        r.get(c).map(|v| TicketDetail {
            section: DetailSection::Main,
            key: LocalizedText::new(lang, key),
            value: LocalizedText::new(lang, v),
        })
    })
    .collect();

    let contact_number = r.required(Col::ContactNumber).map(str::to_owned);
    let email = r.parse(Col::ContactEmail, |v| {
        if looks_like_email(v) {
            Ok(v.to_owned())
        } else {
            Err(format!("{v:?} is not an email address"))
        }
    });
    let gender = r.parse(Col::ContactGender, |v| {
        let g = v.to_ascii_uppercase();
        if matches!(g.as_str(), "M" | "F" | "U" | "X") {
            Ok(g)
        } else {
            Err(format!("{v:?} is not a gender; use M, F, U or X"))
        }
    });
    let holder = Holder {
        first_name: r.string(Col::HolderFirstName),
        last_name: r.string(Col::HolderLastName),
        birth_date: r.parse(Col::HolderBirthDate, |v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map(|d| d.format("%Y-%m-%d").to_string())
                .map_err(|_| format!("{v:?} is not a date written YYYY-MM-DD"))
        }),
        id_number: r.string(Col::HolderIdNumber),
        country_code: r.parse(Col::HolderCountryCode, |v| two_letters(v, "country code")),
        birth_region: r.string(Col::HolderBirthRegion),
        birth_place: r.string(Col::HolderBirthPlace),
    };
    let main_applicant = r.parse(Col::MainApplicant, true_or_false).unwrap_or(false);

    let internet_account = r.parse(Col::ContactInternetAccount, true_or_false);
    let contact_kind = r.parse(Col::ContactKind, |v| {
        let k = v.to_ascii_uppercase();
        if CONTACT_KINDS.contains(&k.as_str()) {
            Ok(k)
        } else {
            Err(format!(
                "{v:?} is not a kind of contact; use {}",
                CONTACT_KINDS.join(", ")
            ))
        }
    });
    let contact = contact_number.map(|number| ImportContact {
        number,
        email,
        first_name: r.string(Col::ContactFirstName),
        last_name: r.string(Col::ContactLastName),
        gender,
        title: r.string(Col::ContactTitle),
        internet_account,
        kind: contact_kind,
    });

    if !r.errors.is_empty() {
        return Err(std::mem::take(&mut r.errors));
    }
    // Every required value was present, or an error was recorded above.
    match (ticket_id, tax_number, barcode, product_code, kind, contact) {
        (
            Some(ticket_id),
            Some(tax_number),
            Some(barcode),
            Some(code),
            Some(kind),
            Some(contact),
        ) => Ok(ImportRow {
            ticket_id,
            tax_number,
            barcode,
            file_id: r.string(Col::FileId),
            status,
            cause,
            replaces_ticket_id,
            shipment_mode,
            sales_channel: r.string(Col::SalesChannel),
            season,
            product: ImportProduct {
                code,
                kind,
                family,
                name: product_name,
                comfort,
            },
            performance,
            site,
            tariff: r.string(Col::Tariff),
            category: r.string(Col::Category),
            price_cents,
            currency,
            purchase_date,
            validity_start,
            validity_end,
            details,
            contact,
            holder,
            main_applicant,
            linked_ticket_ids,
        }),
        _ => Err(vec![(None, "the row is incomplete".into())]),
    }
}

/// A card's linked ticket ids: whole numbers above 0 separated by spaces or `|`, each
/// once, never the card itself.
fn parse_linked(v: &str, card: Option<i64>) -> Result<Vec<i64>, String> {
    let mut ids: Vec<i64> = Vec::new();
    for word in v.split(|c: char| c == '|' || c.is_whitespace()) {
        if word.is_empty() {
            continue;
        }
        let id = parse_id(word)?;
        if Some(id) == card {
            return Err(format!("{id} is the card itself"));
        }
        if ids.contains(&id) {
            return Err(format!("ticket {id} is listed twice"));
        }
        ids.push(id);
    }
    Ok(ids)
}

fn parse_id(v: &str) -> Result<i64, String> {
    match v.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{v:?} is not a whole number above 0")),
    }
}

/// `45.50` → 4550 cents, by the one price rule (`tixbridge_core::money`): a plain
/// decimal with a dot, at most the currency's minor units, never negative.
fn parse_price(v: &str, currency: Option<&str>) -> Result<i64, String> {
    let price = tixbridge_core::money::parse_price(v, currency).map_err(|e| e.to_string())?;
    price.hundredths().ok_or_else(|| {
        format!("{v:?} is not a price ticketing can keep: it keeps prices in hundredths")
    })
}

fn two_letters(v: &str, what: &str) -> Result<String, String> {
    if v.len() == 2 && v.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(v.to_ascii_uppercase())
    } else {
        Err(format!("{v:?} is not a two-letter {what} such as FR"))
    }
}

/// A comfort variable's value (DOMAIN.md §9), kept as entered (keywords lower-cased).
fn parse_comfort(v: &str) -> Result<String, String> {
    let lower = v.to_ascii_lowercase();
    if lower == "start_of_season" || lower == "end_of_season" {
        return Ok(lower);
    }
    if let Some(rest) = v.strip_prefix(['+', '-'])
        && let Some(n) = rest.strip_suffix(['h', 'd', 'w'])
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        return Ok(v.to_owned());
    }
    if NaiveDateTime::parse_from_str(v, "%d/%m/%y %H:%M").is_ok() {
        return Ok(v.to_owned());
    }
    Err(format!(
        "{v:?} is not a comfort value; use start_of_season, end_of_season, a relative time such as +1d, -1w or +3h, or dd/mm/yy hh:mm"
    ))
}

/// Pass 1's cross-row checks: a code names one thing throughout the file.
#[derive(Default)]
struct CatalogCheck {
    /// Product code → kind and first row.
    products: HashMap<String, (ProductKind, u64)>,
    /// Performance code → product code, site code and first row.
    performances: HashMap<String, (String, Option<String>, u64)>,
}

impl CatalogCheck {
    fn check(&mut self, row_no: u64, row: &ImportRow) -> Vec<(Option<&'static str>, String)> {
        let mut errors = Vec::new();
        let p = &row.product;
        match self.products.get(&p.code) {
            Some((kind, first)) if *kind != p.kind => errors.push((
                Some(Col::ProductKind.name()),
                format!(
                    "product {} is {kind} on row {first}, {} here; a product has one kind",
                    p.code, p.kind
                ),
            )),
            Some(_) => {}
            None if self.products.len() < MAX_TRACKED_CODES => {
                self.products.insert(p.code.clone(), (p.kind, row_no));
            }
            None => {}
        }
        if let Some(pf) = &row.performance {
            let site = row.site.as_ref().map(|s| s.code.clone());
            match self.performances.get(&pf.code) {
                Some((product, _, first)) if *product != p.code => errors.push((
                    Some(Col::PerformanceCode.name()),
                    format!(
                        "performance {} belongs to product {product} on row {first}, {} here",
                        pf.code, p.code
                    ),
                )),
                Some((_, first_site, first)) if *first_site != site => errors.push((
                    Some(Col::SiteCode.name()),
                    format!(
                        "performance {} is at site {} on row {first}, {} here",
                        pf.code,
                        first_site.as_deref().unwrap_or("(none)"),
                        site.as_deref().unwrap_or("(none)")
                    ),
                )),
                Some(_) => {}
                None if self.performances.len() < MAX_TRACKED_CODES => {
                    self.performances
                        .insert(pf.code.clone(), (p.code.clone(), site, row_no));
                }
                None => {}
            }
        }
        errors
    }
}

/// A yes/no column: `true`, `yes`, `1`, `false`, `no` or `0`, in any case.
fn true_or_false(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(format!("{v:?} is not true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_cents() {
        assert_eq!(parse_price("45.50", None), Ok(4550));
        assert_eq!(parse_price("45.5", Some("EUR")), Ok(4550));
        assert_eq!(parse_price("45", None), Ok(4500));
        assert_eq!(parse_price("0.07", None), Ok(7));
        assert_eq!(parse_price("4500", Some("JPY")), Ok(450000));
        assert!(parse_price("45.5", Some("JPY")).is_err());
        assert!(parse_price("4.205", Some("BHD")).is_err());
        for bad in [
            "45,50",
            "45.505",
            "-1",
            ".5",
            "4 5",
            "1e3",
            "99999999999999999999",
        ] {
            assert!(parse_price(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn comfort_values() {
        for ok in [
            "start_of_season",
            "END_OF_SEASON",
            "+1d",
            "-1w",
            "+3h",
            "01/07/26 18:00",
        ] {
            assert!(parse_comfort(ok).is_ok(), "{ok}");
        }
        for bad in ["+1", "1d", "+1y", "tomorrow", "2026-07-01 18:00"] {
            assert!(parse_comfort(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_comfort("END_OF_SEASON").unwrap(), "end_of_season");
    }

    #[test]
    fn header_problems_are_all_named() {
        let h = StringRecord::from(vec![
            "ticket_id",
            "tax_number",
            "barcode",
            "product_code",
            "product_kind",
            "contact_number",
            "colour",
            "gate[fr]",
            "product_name[french]",
            "product_name",
            "product_name[en]",
            "barcode",
        ]);
        let e = Columns::from_header(&h, "en").err().unwrap().join("\n");
        assert!(e.contains("unknown column \"colour\""), "{e}");
        assert!(e.contains("\"gate[fr]\": gate is not multilingual"), "{e}");
        assert!(e.contains("\"french\" is not a two-letter"), "{e}");
        assert!(
            e.contains("the en value of product_name is given twice"),
            "{e}"
        );
        assert!(e.contains("\"barcode\" is given twice"), "{e}");
        let missing = Columns::from_header(&StringRecord::from(vec!["ticket_id"]), "en")
            .err()
            .unwrap()
            .join("\n");
        assert!(
            missing.contains("missing required columns: tax_number, barcode, product_code"),
            "{missing}"
        );
    }
}
