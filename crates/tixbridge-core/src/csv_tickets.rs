//! The back office's CSV injection (`POST /organizer/tickets/csv`): a pure parser from
//! the file's bytes to one [`Ticket`] — or one [`FieldError`] — per data row.
//!
//! # The file
//!
//! - UTF-8 text; a byte-order mark at the start is ignored. Line ends may be LF or CRLF.
//! - Cells are separated by `,`, `;` or a tab: the caller's choice, else detected from
//!   the header line by the one rule of [`crate::csv_dialect`] (the separator found
//!   most often outside quotes). A header that is one cell holding another separator
//!   is refused naming that separator. A price is written with a dot in every file
//!   (`12,50` is refused, see below).
//! - Cells may be quoted as in RFC 4180: `"Paris, France"`, `"say ""hi"""`, and line
//!   breaks inside quotes belong to the cell.
//! - The first non-blank line is the header: one column per field path (below). Every
//!   following record is a data row. Data rows are numbered from 1 (the header is row
//!   0); a row whose quoted cells span several lines is still one row. Completely empty
//!   lines are ignored and not numbered; a row whose cells are all empty (`,,,`) is
//!   skipped but keeps its number.
//! - Every data row has exactly as many cells as the header.
//! - At most [`MAX_CSV_ROWS`] data rows (skipped empty rows do not count).
//! - Header names and cells are trimmed. An empty cell means the field is absent.
//!
//! # Columns
//!
//! One column per field of the JSON contract (`WALLET-API.md`), named by its camelCase
//! path joined with dots. Paths match case-insensitively (`TicketID` is `ticketId`); the
//! `<KEY>` part of the keyed columns is kept exactly as written (case-sensitive). Columns
//! may come in any order, and any of them may be left out except `ticketId`: a required
//! field without a column (or with an empty cell) is that row's error.
//!
//! | Column | Cell |
//! |---|---|
//! | `ticketId` | string |
//! | `event.id` | string |
//! | `event.name` | text |
//! | `event.startTime`, `event.expirationDate` | RFC 3339 time with offset |
//! | `event.address.site`, `event.address.city` | text |
//! | `event.address.zip`, `event.address.countryCode` | string |
//! | `event.address.line1`, `event.address.line2`, `event.address.line3` | text |
//! | `event.group.name` | text |
//! | `event.metadata.<KEY>` | string: metadata entry `<KEY>` |
//! | `purchaseDetails.taxationNumber`, `purchaseDetails.fileId` | string |
//! | `purchaseDetails.price` | price: a plain decimal with a dot, at most the currency's minor units (`12.50`; `12` for `JPY`) — the rule of [`crate::money`] |
//! | `purchaseDetails.currency`, `purchaseDetails.category` | string |
//! | `purchaseDetails.purchaseDate` | RFC 3339 time with offset |
//! | `security.barcode` | string |
//! | `spectatorDetails.email`, `spectatorDetails.firstName`, `spectatorDetails.lastName` | string |
//! | `spectatorDetails.gender` | `M`, `F`, `U` or `X` |
//! | `spectatorDetails.title` | string |
//! | `spectatorDetails.mainApplicant` | boolean |
//! | `activationParameters.method` | `online` or `offline` |
//! | `activationParameters.time` | RFC 3339 time with offset |
//! | `activationParameters.groupId`, `activationParameters.instanceId` | string |
//! | `ticketDetails.main.<KEY>`, `ticketDetails.extra.<KEY>`, `ticketDetails.hidden.<KEY>` | text: entry `{key: <KEY>, value: cell}` |
//! | `transferRules.allowTransfer`, `transferRules.allowTransferAfterActivation`, `transferRules.allowTransferAfterControl`, `transferRules.allowTransferMainApplicant` | boolean |
//! | `transferRules.maxNumberOfTransferPerTicketInGroupId` | whole number ≥ 0, or `-1` for no limit |
//! | `transferRules.groupId` | string |
//! | `sortingKey`, `imageUrl` | string |
//!
//! - **Booleans**: `true`/`false`, `yes`/`no`, `1`/`0`, in any case.
//! - **Objects**: the required objects (`event`, `event.address`, `purchaseDetails`,
//!   `security`, `spectatorDetails`) are always built, so that a row lacking a required
//!   field is told that field's path (`spectatorDetails.email is required`). The
//!   optional ones (`event.group`, `activationParameters`, `ticketDetails`,
//!   `transferRules`) are present only when at least one of their cells in the row is
//!   non-empty, as if that JSON object had been sent with those fields. `transferRules`,
//!   once present, takes the contract's defaults for the rules without a cell
//!   (transfers allowed, no limit, allowed after activation, not after control,
//!   allowed for the main applicant).
//! - **Ticket details**: each `ticketDetails.<list>.<KEY>` column adds the entry
//!   `{key: "<KEY>", value: cell}` to that list, in column order; an empty cell adds no
//!   entry.
//! - **Multilingual text**: a text column may instead come as one column per language,
//!   `event.name[en]`, `event.name[fr]`, … (two ASCII letters, lower-cased: `[FR]` is
//!   `fr`). The row's non-empty language cells build the language-keyed object
//!   `{"en": …, "fr": …}`; when they are all empty the field is absent. A field takes
//!   either the plain column or language columns, never both: mixing them is a header
//!   error naming both columns. A trailing `[…]` is always read as a language suffix
//!   (so a `<KEY>` cannot end with `]`), and on a column that is not text it is a
//!   header error.
//!
//! # Errors
//!
//! The whole file is refused ([`CsvError`]) when it is not UTF-8, has no header, names an
//! unknown column, names one field twice (also `ticketId` and `TICKETID`, or `x[fr]` and
//! `x[FR]`), mixes plain and language columns of one field, puts a language suffix on a
//! non-text column or an invalid one anywhere, lacks the `ticketId` column, has a row
//! whose number of cells differs from the header's, or has more than [`MAX_CSV_ROWS`]
//! data rows (reading stops at the first row past the limit).
//!
//! Otherwise every non-empty row gets a result, which carries the row's `ticketId` cell
//! whenever it was readable (even when the row is refused). A cell with a control
//! character (U+0000–U+001F, U+007F; tab and line breaks are accepted in the
//! `ticketDetails.*` cells, which are multi-line) makes that row's result
//! `INVALID_CHARACTER` naming the column. A ticket id already given by an earlier row
//! makes the later row's result `DUPLICATE_IN_REQUEST`, naming the first row; only
//! the first is injected. A cell that does not parse (a number, a
//! boolean, a price against its row's currency) makes that row's result `INVALID_VALUE`
//! naming the column as written in the header and the cell's value; a ticket that
//! parses then goes through
//! [`validate_ticket`], whose error (`MISSING_FIELD`, `FIELD_TOO_LONG`,
//! `INVALID_FIELD`, naming the JSON path) becomes the row's result. Other rows proceed.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use crate::api::{
    ActivationParameters, Address, DetailEntry, Event, EventGroup, FieldError, PurchaseDetails,
    Security, SeenIds, SpectatorDetails, Ticket, TransferRules, validate_ticket,
};
use crate::csv_dialect;
pub use crate::csv_dialect::Delimiter;
use crate::money;
use crate::text::{Text, check_plain_text};

/// Most data rows one file may carry.
pub const MAX_CSV_ROWS: usize = 20_000;

/// The result of one data row.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvRow {
    /// The data row's number: the first record after the header is 1. A row spanning
    /// several lines (quoted line breaks) is one row.
    pub row: usize,
    /// The row's `ticketId` cell as written (trimmed); empty when the cell is.
    pub ticket_id: String,
    /// The ticket, validated, or the row's first problem.
    pub ticket: Result<Ticket, FieldError>,
}

/// A refusal of the whole file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// Row 0 is the header.
    #[error("row {row} is not UTF-8 text; the file must be encoded in UTF-8")]
    NotUtf8 { row: usize },
    #[error("the file is empty; its first line must name the columns")]
    Empty,
    /// `position` is 1-based.
    #[error("column {position} of the header has no name")]
    EmptyColumnName { position: usize },
    #[error("unknown column {column:?}; the known columns are: {}", known_columns().join(", "))]
    UnknownColumn { column: String },
    #[error("columns {first:?} and {second:?} name the same field")]
    DuplicateColumn { first: String, second: String },
    #[error("column {column:?}: the language in brackets must be a two-letter code such as [en]")]
    InvalidLanguage { column: String },
    #[error("column {column:?} is not a text field, so it takes no [language] suffix")]
    NotMultilingual { column: String },
    #[error(
        "columns {plain:?} and {language:?} give the same field both as one text and per \
         language; use one form"
    )]
    MixedLanguageColumns { plain: String, language: String },
    #[error("the header has no {column:?} column")]
    MissingColumn { column: &'static str },
    #[error("row {row} has {found} cells but the header has {expected}")]
    WrongCellCount {
        row: usize,
        expected: usize,
        found: usize,
    },
    /// `rows` is the limit, [`MAX_CSV_ROWS`]: reading stops at the first row past it.
    #[error("the file has more than {rows} data rows")]
    TooManyRows { rows: usize },
    #[error("row {row} is not valid CSV: {message}")]
    Malformed { row: usize, message: String },
    /// The header is one cell holding another separator ([`csv_dialect::single_cell_hint`]).
    #[error("{hint}")]
    WrongDelimiter { hint: String },
}

impl CsvError {
    /// The `SNAKE_CASE` code of the error body.
    pub fn code(&self) -> &'static str {
        match self {
            CsvError::TooManyRows { .. } => "TOO_MANY_ROWS",
            CsvError::NotUtf8 { .. } => "NOT_UTF8",
            _ => "INVALID_CSV",
        }
    }
}

/// The documented column names, in the order of the module's table; keyed columns
/// appear with a literal `<KEY>`.
pub fn known_columns() -> Vec<&'static str> {
    COLUMNS.iter().map(|(path, _)| *path).collect()
}

/// Parses a whole file: one [`CsvRow`] per non-empty data row, in file order. The
/// separator is detected from the header line ([`crate::csv_dialect`]).
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<CsvRow>, CsvError> {
    parse_csv_with(bytes, None)
}

/// [`parse_csv`] with the separator chosen by the caller (`None`: detected).
pub fn parse_csv_with(bytes: &[u8], delimiter: Option<Delimiter>) -> Result<Vec<CsvRow>, CsvError> {
    let body = csv_dialect::strip_bom(bytes);
    let delimiter = csv_dialect::resolve(body, delimiter);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter.byte())
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut record = csv::ByteRecord::new();
    let mut next = |record: &mut csv::ByteRecord, row: usize| {
        reader
            .read_byte_record(record)
            .map_err(|e| CsvError::Malformed {
                row,
                message: e.to_string(),
            })
    };

    let header: Vec<String> = loop {
        if !next(&mut record, 0)? {
            return Err(CsvError::Empty);
        }
        let cells = cells(&record, 0)?;
        if !is_blank(&cells) {
            if let Some(hint) = csv_dialect::single_cell_hint(&cells, delimiter) {
                return Err(CsvError::WrongDelimiter { hint });
            }
            break cells.into_iter().map(str::to_owned).collect();
        }
    };
    let plan = parse_header(&header)?;

    let ticket_id_col = plan.columns.iter().position(|c| c.is_ticket_id);
    let mut seen = SeenIds::new(|row| format!("row {row}"));
    let mut out = Vec::new();
    let mut row = 0;
    while next(&mut record, row + 1)? {
        row += 1;
        let cells = cells(&record, row)?;
        if is_blank(&cells) {
            continue;
        }
        if out.len() == MAX_CSV_ROWS {
            return Err(CsvError::TooManyRows { rows: MAX_CSV_ROWS });
        }
        if cells.len() != plan.columns.len() {
            return Err(CsvError::WrongCellCount {
                row,
                expected: plan.columns.len(),
                found: cells.len(),
            });
        }
        let ticket_id = ticket_id_col.map_or("", |i| cells[i]).to_owned();
        let ticket = seen
            .check("ticketId", &ticket_id, row)
            .and_then(|()| build(&plan, &cells))
            .and_then(|t| validate_ticket(&t).map(|()| t));
        out.push(CsvRow {
            row,
            ticket_id,
            ticket,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Columns

/// Where a plain value goes, reached from the ticket (creating parent objects).
#[derive(Clone, Copy)]
enum Slot {
    Str(fn(&mut Ticket) -> &mut Option<String>),
    Text(fn(&mut Ticket) -> &mut Option<Text>),
    /// `purchaseDetails.price`, read against the row's currency.
    Price,
    Flag(fn(&mut Ticket) -> &mut Option<bool>),
    RuleFlag(fn(&mut TransferRules) -> &mut bool),
    RuleLimit(fn(&mut TransferRules) -> &mut i64),
    RuleStr(fn(&mut TransferRules) -> &mut Option<String>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum List {
    Main,
    Extra,
    Hidden,
}

#[derive(Clone, Copy)]
enum Kind {
    Value(Slot),
    /// `event.metadata.<KEY>`.
    Metadata,
    /// `ticketDetails.<list>.<KEY>`.
    Detail(List),
}

fn event(t: &mut Ticket) -> &mut Event {
    t.event.get_or_insert_default()
}
fn address(t: &mut Ticket) -> &mut Address {
    event(t).address.get_or_insert_default()
}
fn group(t: &mut Ticket) -> &mut EventGroup {
    event(t).group.get_or_insert_default()
}
fn purchase(t: &mut Ticket) -> &mut PurchaseDetails {
    t.purchase_details.get_or_insert_default()
}
fn security(t: &mut Ticket) -> &mut Security {
    t.security.get_or_insert_default()
}
fn spectator(t: &mut Ticket) -> &mut SpectatorDetails {
    t.spectator_details.get_or_insert_default()
}
fn activation(t: &mut Ticket) -> &mut ActivationParameters {
    t.activation_parameters.get_or_insert_default()
}
fn rules(t: &mut Ticket) -> &mut TransferRules {
    t.transfer_rules.get_or_insert_default()
}

/// Every column, in documentation order. Keyed columns end with `<KEY>`.
const COLUMNS: &[(&str, Kind)] = &[
    ("ticketId", Kind::Value(Slot::Str(|t| &mut t.ticket_id))),
    ("event.id", Kind::Value(Slot::Str(|t| &mut event(t).id))),
    (
        "event.name",
        Kind::Value(Slot::Text(|t| &mut event(t).name)),
    ),
    (
        "event.startTime",
        Kind::Value(Slot::Str(|t| &mut event(t).start_time)),
    ),
    (
        "event.expirationDate",
        Kind::Value(Slot::Str(|t| &mut event(t).expiration_date)),
    ),
    (
        "event.address.site",
        Kind::Value(Slot::Text(|t| &mut address(t).site)),
    ),
    (
        "event.address.city",
        Kind::Value(Slot::Text(|t| &mut address(t).city)),
    ),
    (
        "event.address.zip",
        Kind::Value(Slot::Str(|t| &mut address(t).zip)),
    ),
    (
        "event.address.countryCode",
        Kind::Value(Slot::Str(|t| &mut address(t).country_code)),
    ),
    (
        "event.address.line1",
        Kind::Value(Slot::Text(|t| &mut address(t).line1)),
    ),
    (
        "event.address.line2",
        Kind::Value(Slot::Text(|t| &mut address(t).line2)),
    ),
    (
        "event.address.line3",
        Kind::Value(Slot::Text(|t| &mut address(t).line3)),
    ),
    (
        "event.group.name",
        Kind::Value(Slot::Text(|t| &mut group(t).name)),
    ),
    ("event.metadata.<KEY>", Kind::Metadata),
    (
        "purchaseDetails.taxationNumber",
        Kind::Value(Slot::Str(|t| &mut purchase(t).taxation_number)),
    ),
    (
        "purchaseDetails.fileId",
        Kind::Value(Slot::Str(|t| &mut purchase(t).file_id)),
    ),
    ("purchaseDetails.price", Kind::Value(Slot::Price)),
    (
        "purchaseDetails.currency",
        Kind::Value(Slot::Str(|t| &mut purchase(t).currency)),
    ),
    (
        "purchaseDetails.category",
        Kind::Value(Slot::Str(|t| &mut purchase(t).category)),
    ),
    (
        "purchaseDetails.purchaseDate",
        Kind::Value(Slot::Str(|t| &mut purchase(t).purchase_date)),
    ),
    (
        "security.barcode",
        Kind::Value(Slot::Str(|t| &mut security(t).barcode)),
    ),
    (
        "spectatorDetails.email",
        Kind::Value(Slot::Str(|t| &mut spectator(t).email)),
    ),
    (
        "spectatorDetails.firstName",
        Kind::Value(Slot::Str(|t| &mut spectator(t).first_name)),
    ),
    (
        "spectatorDetails.lastName",
        Kind::Value(Slot::Str(|t| &mut spectator(t).last_name)),
    ),
    (
        "spectatorDetails.gender",
        Kind::Value(Slot::Str(|t| &mut spectator(t).gender)),
    ),
    (
        "spectatorDetails.title",
        Kind::Value(Slot::Str(|t| &mut spectator(t).title)),
    ),
    (
        "spectatorDetails.mainApplicant",
        Kind::Value(Slot::Flag(|t| &mut spectator(t).main_applicant)),
    ),
    (
        "activationParameters.method",
        Kind::Value(Slot::Str(|t| &mut activation(t).method)),
    ),
    (
        "activationParameters.time",
        Kind::Value(Slot::Str(|t| &mut activation(t).time)),
    ),
    (
        "activationParameters.groupId",
        Kind::Value(Slot::Str(|t| &mut activation(t).group_id)),
    ),
    (
        "activationParameters.instanceId",
        Kind::Value(Slot::Str(|t| &mut activation(t).instance_id)),
    ),
    ("ticketDetails.main.<KEY>", Kind::Detail(List::Main)),
    ("ticketDetails.extra.<KEY>", Kind::Detail(List::Extra)),
    ("ticketDetails.hidden.<KEY>", Kind::Detail(List::Hidden)),
    (
        "transferRules.allowTransfer",
        Kind::Value(Slot::RuleFlag(|r| &mut r.allow_transfer)),
    ),
    (
        "transferRules.maxNumberOfTransferPerTicketInGroupId",
        Kind::Value(Slot::RuleLimit(|r| {
            &mut r.max_number_of_transfer_per_ticket_in_group_id
        })),
    ),
    (
        "transferRules.allowTransferAfterActivation",
        Kind::Value(Slot::RuleFlag(|r| &mut r.allow_transfer_after_activation)),
    ),
    (
        "transferRules.allowTransferAfterControl",
        Kind::Value(Slot::RuleFlag(|r| &mut r.allow_transfer_after_control)),
    ),
    (
        "transferRules.allowTransferMainApplicant",
        Kind::Value(Slot::RuleFlag(|r| &mut r.allow_transfer_main_applicant)),
    ),
    (
        "transferRules.groupId",
        Kind::Value(Slot::RuleStr(|r| &mut r.group_id)),
    ),
    ("sortingKey", Kind::Value(Slot::Str(|t| &mut t.sorting_key))),
    ("imageUrl", Kind::Value(Slot::Str(|t| &mut t.image_url))),
];

/// The field a column fills, for spotting two columns naming one field.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum FieldKey {
    Fixed(usize),
    Metadata(String),
    Detail(List, String),
}

enum Target {
    Value(Slot),
    Metadata(String),
    /// Index into [`Plan::details`].
    Detail(usize),
}

struct Column {
    /// The header name as written (trimmed), for row errors.
    header: String,
    /// The `ticketId` column, whose cell every row's result reports.
    is_ticket_id: bool,
    lang: Option<String>,
    target: Target,
}

struct Plan {
    columns: Vec<Column>,
    /// The distinct ticket-detail entries, in order of their first column.
    details: Vec<(List, String)>,
}

fn parse_header(names: &[String]) -> Result<Plan, CsvError> {
    // (field, language) → first column naming it.
    let mut seen: BTreeMap<(FieldKey, Option<String>), &str> = BTreeMap::new();
    // field → (its plain column, its first language column).
    let mut forms: BTreeMap<FieldKey, (Option<&str>, Option<&str>)> = BTreeMap::new();
    let mut columns = Vec::with_capacity(names.len());
    let mut details: Vec<(List, String)> = Vec::new();
    let mut has_ticket_id = false;
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(CsvError::EmptyColumnName { position: i + 1 });
        }
        let (base, lang) = split_language(name)?;
        let (key, kind) = resolve(base).ok_or_else(|| CsvError::UnknownColumn {
            column: name.clone(),
        })?;
        let is_text = matches!(kind, Kind::Value(Slot::Text(_)) | Kind::Detail(_));
        if lang.is_some() && !is_text {
            return Err(CsvError::NotMultilingual {
                column: name.clone(),
            });
        }
        match seen.entry((key.clone(), lang.clone())) {
            Entry::Occupied(first) => {
                return Err(CsvError::DuplicateColumn {
                    first: (*first.get()).to_owned(),
                    second: name.clone(),
                });
            }
            Entry::Vacant(v) => {
                v.insert(name);
            }
        }
        let (plain, language) = forms.entry(key.clone()).or_default();
        let clash = if lang.is_some() {
            language.get_or_insert(name);
            plain.map(|p| (p, name.as_str()))
        } else {
            // A second plain column was refused above as a duplicate.
            *plain = Some(name);
            language.map(|l| (name.as_str(), l))
        };
        if let Some((plain, language)) = clash {
            return Err(CsvError::MixedLanguageColumns {
                plain: plain.to_owned(),
                language: language.to_owned(),
            });
        }
        let is_ticket_id = matches!(key, FieldKey::Fixed(i) if COLUMNS[i].0 == "ticketId");
        let target = match (kind, key) {
            (_, FieldKey::Metadata(k)) => Target::Metadata(k),
            (_, FieldKey::Detail(list, k)) => {
                let entry = (list, k);
                let index = match details.iter().position(|d| *d == entry) {
                    Some(index) => index,
                    None => {
                        details.push(entry);
                        details.len() - 1
                    }
                };
                Target::Detail(index)
            }
            (Kind::Value(slot), FieldKey::Fixed(_)) => {
                has_ticket_id |= is_ticket_id;
                Target::Value(slot)
            }
            // `resolve` pairs fixed keys with value kinds only.
            (Kind::Metadata | Kind::Detail(_), FieldKey::Fixed(_)) => {
                return Err(CsvError::UnknownColumn {
                    column: name.clone(),
                });
            }
        };
        columns.push(Column {
            header: name.clone(),
            is_ticket_id,
            lang,
            target,
        });
    }
    if !has_ticket_id {
        return Err(CsvError::MissingColumn { column: "ticketId" });
    }
    Ok(Plan { columns, details })
}

/// `event.name[FR]` → (`event.name`, `fr`).
fn split_language(name: &str) -> Result<(&str, Option<String>), CsvError> {
    let Some(open) = name.rfind('[').filter(|_| name.ends_with(']')) else {
        return Ok((name, None));
    };
    let code = name[open + 1..name.len() - 1].trim();
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok((name[..open].trim_end(), Some(code.to_ascii_lowercase())))
    } else {
        Err(CsvError::InvalidLanguage {
            column: name.to_owned(),
        })
    }
}

/// The field a header name (without language suffix) designates.
fn resolve(base: &str) -> Option<(FieldKey, Kind)> {
    for (index, (path, kind)) in COLUMNS.iter().enumerate() {
        match path.strip_suffix("<KEY>") {
            Some(prefix) => {
                let Some(head) = base.get(..prefix.len()) else {
                    continue;
                };
                if !head.eq_ignore_ascii_case(prefix) {
                    continue;
                }
                let key = base[prefix.len()..].to_owned();
                if key.is_empty() {
                    return None;
                }
                return match kind {
                    Kind::Metadata => Some((FieldKey::Metadata(key), *kind)),
                    Kind::Detail(list) => Some((FieldKey::Detail(*list, key), *kind)),
                    Kind::Value(_) => None,
                };
            }
            None if path.eq_ignore_ascii_case(base) => {
                return Some((FieldKey::Fixed(index), *kind));
            }
            None => {}
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Rows

fn cells(record: &csv::ByteRecord, row: usize) -> Result<Vec<&str>, CsvError> {
    record
        .iter()
        .map(|cell| {
            std::str::from_utf8(cell)
                .map(str::trim)
                .map_err(|_| CsvError::NotUtf8 { row })
        })
        .collect()
}

fn is_blank(cells: &[&str]) -> bool {
    cells.iter().all(|c| c.is_empty())
}

fn build(plan: &Plan, cells: &[&str]) -> Result<Ticket, FieldError> {
    // The required objects are always there, so that a row lacking one names the
    // missing field itself ("event.id is required"), not its object.
    let mut t = Ticket {
        event: Some(Event {
            address: Some(Address::default()),
            ..Event::default()
        }),
        purchase_details: Some(PurchaseDetails::default()),
        security: Some(Security::default()),
        spectator_details: Some(SpectatorDetails::default()),
        ..Ticket::default()
    };
    let mut details: Vec<Option<Text>> = vec![None; plan.details.len()];
    // The price is read once the row's currency is known, wherever its column is.
    let mut price: Option<(&Column, &str)> = None;
    for (col, &cell) in plan.columns.iter().zip(cells) {
        if cell.is_empty() {
            continue;
        }
        check_plain_text(
            &format!("column {:?}", col.header),
            cell,
            matches!(col.target, Target::Detail(_)),
        )?;
        let lang = col.lang.as_deref();
        match &col.target {
            Target::Metadata(key) => {
                event(&mut t).metadata.insert(key.clone(), cell.to_owned());
            }
            Target::Detail(index) => put_text(&mut details[*index], lang, cell),
            Target::Value(slot) => match *slot {
                Slot::Str(f) => *f(&mut t) = Some(cell.to_owned()),
                Slot::Text(f) => put_text(f(&mut t), lang, cell),
                Slot::Price => price = Some((col, cell)),
                Slot::Flag(f) => *f(&mut t) = Some(parse_bool(col, cell)?),
                Slot::RuleFlag(f) => {
                    let v = parse_bool(col, cell)?;
                    *f(rules(&mut t)) = v;
                }
                Slot::RuleLimit(f) => {
                    let v = cell
                        .parse::<i64>()
                        .ok()
                        .filter(|&n| n >= -1)
                        .ok_or_else(|| {
                            invalid(col, cell, "must be a whole number ≥ 0, or -1 for no limit")
                        })?;
                    *f(rules(&mut t)) = v;
                }
                Slot::RuleStr(f) => *f(rules(&mut t)) = Some(cell.to_owned()),
            },
        }
    }
    if let Some((col, cell)) = price {
        let pd = purchase(&mut t);
        let p = money::parse_price(cell, pd.currency.as_deref())
            .map_err(|e| invalid(col, cell, &format!("must be a price: {e}")))?;
        pd.price = Some(p.to_f64());
    }
    for ((list, key), value) in plan.details.iter().zip(details) {
        let Some(value) = value else { continue };
        let td = t.ticket_details.get_or_insert_default();
        let entries = match list {
            List::Main => &mut td.main,
            List::Extra => &mut td.extra,
            List::Hidden => &mut td.hidden,
        };
        entries.push(DetailEntry {
            key: Text::Plain(key.clone()),
            value,
        });
    }
    Ok(t)
}

/// Sets a text from a plain column, or adds one language to it.
fn put_text(slot: &mut Option<Text>, lang: Option<&str>, value: &str) {
    match lang {
        None => *slot = Some(Text::Plain(value.to_owned())),
        Some(lang) => {
            if let Some(Text::Multi(m)) = slot {
                m.insert(lang.to_owned(), value.to_owned());
            } else {
                *slot = Some(Text::Multi(BTreeMap::from([(
                    lang.to_owned(),
                    value.to_owned(),
                )])));
            }
        }
    }
}

fn parse_bool(col: &Column, cell: &str) -> Result<bool, FieldError> {
    match cell.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(invalid(
            col,
            cell,
            "must be true or false (also yes/no, 1/0)",
        )),
    }
}

fn invalid(col: &Column, cell: &str, why: &str) -> FieldError {
    const SHOWN: usize = 64;
    let shown: String = if cell.chars().count() > SHOWN {
        cell.chars().take(SHOWN).chain(['…']).collect()
    } else {
        cell.to_owned()
    };
    FieldError {
        code: "INVALID_VALUE",
        message: format!("column {:?} {why}; got {shown:?}", col.header),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TicketDetails;

    const BASE_HEADER: &str = "ticketId,event.id,event.name,event.startTime,event.expirationDate,\
        event.address.site,event.address.city,event.address.zip,event.address.countryCode,\
        purchaseDetails.taxationNumber,security.barcode,spectatorDetails.email";

    fn base_row(id: &str, email: &str) -> String {
        format!(
            "{id},E1,Final,2026-07-12T21:00:00+02:00,2026-07-13T21:00:00+02:00,\
             Stade,Paris,75000,FR,100-{id},B-{id},{email}"
        )
    }

    fn ok_tickets(rows: &[CsvRow]) -> Vec<&Ticket> {
        rows.iter()
            .map(|r| r.ticket.as_ref().expect("row should be valid"))
            .collect()
    }

    fn multi(pairs: &[(&str, &str)]) -> Text {
        Text::Multi(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    fn entry(key: &str, value: Text) -> DetailEntry {
        DetailEntry {
            key: Text::Plain(key.to_owned()),
            value,
        }
    }

    #[test]
    fn a_full_row_with_every_column_builds_the_expected_ticket() {
        let header = [
            "ticketId",
            "event.id",
            "event.name",
            "event.startTime",
            "event.expirationDate",
            "event.address.site",
            "event.address.city",
            "event.address.zip",
            "event.address.countryCode",
            "event.address.line1",
            "event.address.line2",
            "event.address.line3",
            "event.group.name",
            "event.metadata.RESALE_TICKETSHOP_URL",
            "purchaseDetails.taxationNumber",
            "purchaseDetails.fileId",
            "purchaseDetails.price",
            "purchaseDetails.currency",
            "purchaseDetails.category",
            "purchaseDetails.purchaseDate",
            "security.barcode",
            "spectatorDetails.email",
            "spectatorDetails.firstName",
            "spectatorDetails.lastName",
            "spectatorDetails.gender",
            "spectatorDetails.title",
            "spectatorDetails.mainApplicant",
            "activationParameters.method",
            "activationParameters.time",
            "activationParameters.groupId",
            "activationParameters.instanceId",
            "ticketDetails.main.Seat",
            "ticketDetails.main.Row",
            "ticketDetails.extra.Gate",
            "ticketDetails.hidden.Internal",
            "transferRules.allowTransfer",
            "transferRules.maxNumberOfTransferPerTicketInGroupId",
            "transferRules.allowTransferAfterActivation",
            "transferRules.allowTransferAfterControl",
            "transferRules.allowTransferMainApplicant",
            "transferRules.groupId",
            "sortingKey",
            "imageUrl",
        ];
        let row = [
            "T-1",
            "E1",
            "Final",
            "2026-07-12T21:00:00+02:00",
            "2026-07-13T21:00:00+02:00",
            "Stade de France",
            "Saint-Denis",
            "93200",
            "FR",
            "Rue A",
            "Porte B",
            "Niveau 2",
            "Finals",
            "https://resale.example.org",
            "TAX-1",
            "F-9",
            "49.90",
            "EUR",
            "Category 1",
            "2026-01-02T10:00:00+01:00",
            "BC-1",
            "ann@example.org",
            "Ann",
            "Lee",
            "F",
            "Dr",
            "yes",
            "online",
            "2026-07-12T18:00:00+02:00",
            "G1",
            "I1",
            "12",
            "",
            "North",
            "x-1",
            "TRUE",
            "2",
            "0",
            "no",
            "1",
            "TG",
            "S1",
            "https://img.example.org/1.png",
        ];
        assert_eq!(header.len(), row.len());
        let file = format!("{}\n{}\n", header.join(","), row.join(","));
        let rows = parse_csv(file.as_bytes()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].row, 1);

        let expected = Ticket {
            ticket_id: Some("T-1".into()),
            event: Some(Event {
                id: Some("E1".into()),
                name: Some("Final".into()),
                start_time: Some("2026-07-12T21:00:00+02:00".into()),
                expiration_date: Some("2026-07-13T21:00:00+02:00".into()),
                address: Some(Address {
                    site: Some("Stade de France".into()),
                    city: Some("Saint-Denis".into()),
                    zip: Some("93200".into()),
                    country_code: Some("FR".into()),
                    line1: Some("Rue A".into()),
                    line2: Some("Porte B".into()),
                    line3: Some("Niveau 2".into()),
                }),
                group: Some(EventGroup {
                    name: Some("Finals".into()),
                }),
                metadata: BTreeMap::from([(
                    "RESALE_TICKETSHOP_URL".to_owned(),
                    "https://resale.example.org".to_owned(),
                )]),
            }),
            purchase_details: Some(PurchaseDetails {
                taxation_number: Some("TAX-1".into()),
                file_id: Some("F-9".into()),
                price: Some(49.9),
                currency: Some("EUR".into()),
                category: Some("Category 1".into()),
                purchase_date: Some("2026-01-02T10:00:00+01:00".into()),
            }),
            security: Some(Security {
                barcode: Some("BC-1".into()),
            }),
            spectator_details: Some(SpectatorDetails {
                email: Some("ann@example.org".into()),
                first_name: Some("Ann".into()),
                last_name: Some("Lee".into()),
                gender: Some("F".into()),
                title: Some("Dr".into()),
                main_applicant: Some(true),
            }),
            activation_parameters: Some(ActivationParameters {
                method: Some("online".into()),
                time: Some("2026-07-12T18:00:00+02:00".into()),
                group_id: Some("G1".into()),
                instance_id: Some("I1".into()),
            }),
            ticket_details: Some(TicketDetails {
                main: vec![entry("Seat", "12".into())],
                extra: vec![entry("Gate", "North".into())],
                hidden: vec![entry("Internal", "x-1".into())],
            }),
            transfer_rules: Some(TransferRules {
                allow_transfer: true,
                max_number_of_transfer_per_ticket_in_group_id: 2,
                allow_transfer_after_activation: false,
                allow_transfer_after_control: false,
                allow_transfer_main_applicant: true,
                group_id: Some("TG".into()),
            }),
            sorting_key: Some("S1".into()),
            image_url: Some("https://img.example.org/1.png".into()),
        };
        assert_eq!(rows[0].ticket.as_ref(), Ok(&expected));
        assert_eq!(validate_ticket(&expected), Ok(()));
    }

    #[test]
    fn every_known_column_is_accepted_in_the_header() {
        let names: Vec<String> = known_columns()
            .iter()
            .map(|c| c.replace("<KEY>", "K"))
            .collect();
        let plan = parse_header(&names).unwrap();
        assert_eq!(plan.columns.len(), names.len());
        assert_eq!(plan.details.len(), 3);
        assert!(known_columns().contains(&"event.metadata.<KEY>"));
    }

    #[test]
    fn language_columns_build_a_language_object() {
        let file = format!(
            "{},event.name[fr],EVENT.NAME[EN],ticketDetails.main.Seat[en],ticketDetails.main.Seat[fr]\n\
             {},Finale,Final,Seat 3,Place 3\n\
             {},,Final,,\n",
            BASE_HEADER.replace(",event.name,", ","),
            base_row("T1", "a@example.org").replace(",Final,", ","),
            base_row("T2", "b@example.org").replace(",Final,", ","),
        );
        let rows = parse_csv(file.as_bytes()).unwrap();
        let t = ok_tickets(&rows);
        let ev = t[0].event.as_ref().unwrap();
        assert_eq!(ev.name, Some(multi(&[("en", "Final"), ("fr", "Finale")])));
        assert_eq!(
            t[0].ticket_details.as_ref().unwrap().main,
            vec![entry("Seat", multi(&[("en", "Seat 3"), ("fr", "Place 3")]))]
        );
        // An empty language cell is no language; no cell at all is no entry.
        assert_eq!(
            t[1].event.as_ref().unwrap().name,
            Some(multi(&[("en", "Final")]))
        );
        assert_eq!(t[1].ticket_details, None);
    }

    #[test]
    fn plain_and_language_columns_of_one_field_are_refused() {
        let err = parse_header(&[
            "ticketId".into(),
            "event.name".into(),
            "event.name[fr]".into(),
        ])
        .err()
        .unwrap();
        assert_eq!(
            err,
            CsvError::MixedLanguageColumns {
                plain: "event.name".into(),
                language: "event.name[fr]".into()
            }
        );
        let err = parse_header(&[
            "ticketId".into(),
            "ticketDetails.extra.Gate[en]".into(),
            "ticketDetails.extra.Gate".into(),
        ])
        .err()
        .unwrap();
        assert_eq!(
            err,
            CsvError::MixedLanguageColumns {
                plain: "ticketDetails.extra.Gate".into(),
                language: "ticketDetails.extra.Gate[en]".into()
            }
        );
    }

    #[test]
    fn header_mistakes_are_refused_and_named() {
        let header = |names: &[&str]| {
            parse_header(&names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .err()
                .unwrap()
        };
        assert_eq!(
            header(&["ticketId", "security.barcode[fr]"]),
            CsvError::NotMultilingual {
                column: "security.barcode[fr]".into()
            }
        );
        assert_eq!(
            header(&["ticketId", "event.name[fra]"]),
            CsvError::InvalidLanguage {
                column: "event.name[fra]".into()
            }
        );
        assert_eq!(
            header(&["ticketId", "TICKETID"]),
            CsvError::DuplicateColumn {
                first: "ticketId".into(),
                second: "TICKETID".into()
            }
        );
        assert_eq!(
            header(&["ticketId", "event.name[fr]", "event.name[FR]"]),
            CsvError::DuplicateColumn {
                first: "event.name[fr]".into(),
                second: "event.name[FR]".into()
            }
        );
        assert_eq!(
            header(&["event.id"]),
            CsvError::MissingColumn { column: "ticketId" }
        );
        assert_eq!(
            header(&["ticketId", ""]),
            CsvError::EmptyColumnName { position: 2 }
        );
        assert_eq!(
            header(&["ticketId", "event.metadata."]),
            CsvError::UnknownColumn {
                column: "event.metadata.".into()
            }
        );
        // Keys keep their case: these are two entries, not a duplicate.
        let plan = parse_header(&[
            "ticketId".into(),
            "Event.Metadata.A".into(),
            "event.metadata.a".into(),
        ])
        .unwrap();
        assert!(matches!(&plan.columns[1].target, Target::Metadata(k) if k == "A"));
    }

    #[test]
    fn an_unknown_column_is_refused_naming_it() {
        let err = parse_csv(b"ticketId,event.venue\nT1,x\n").unwrap_err();
        assert_eq!(
            err,
            CsvError::UnknownColumn {
                column: "event.venue".into()
            }
        );
        let message = err.to_string();
        assert!(message.contains("\"event.venue\""), "{message}");
        assert!(message.contains("spectatorDetails.email"), "{message}");
        assert!(message.contains("ticketDetails.main.<KEY>"), "{message}");
        assert_eq!(err.code(), "INVALID_CSV");
    }

    #[test]
    fn row_errors_carry_their_row_numbers_while_other_rows_succeed() {
        let file = format!(
            "{BASE_HEADER},purchaseDetails.price,spectatorDetails.mainApplicant\n\
             {},12.5,\n\
             {},12a,\n\
             {},,\n\
             {},,maybe\n\
             {},0,1\n",
            base_row("T1", "a@example.org"),
            base_row("T2", "b@example.org"),
            base_row("T3", ""),
            base_row("T4", "d@example.org"),
            base_row("T5", "e@example.org"),
        );
        let rows = parse_csv(file.as_bytes()).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.row).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        assert_eq!(
            rows[0]
                .ticket
                .as_ref()
                .unwrap()
                .purchase_details
                .as_ref()
                .unwrap()
                .price,
            Some(12.5)
        );
        let e = rows[1].ticket.as_ref().unwrap_err();
        assert_eq!(e.code, "INVALID_VALUE");
        assert!(e.message.contains("purchaseDetails.price"), "{}", e.message);
        assert!(e.message.contains("\"12a\""), "{}", e.message);
        let e = rows[2].ticket.as_ref().unwrap_err();
        assert_eq!(e.code, "MISSING_FIELD");
        assert_eq!(e.message, "spectatorDetails.email is required");
        let e = rows[3].ticket.as_ref().unwrap_err();
        assert_eq!(e.code, "INVALID_VALUE");
        assert!(e.message.contains("spectatorDetails.mainApplicant"));
        assert!(e.message.contains("\"maybe\""));
        let t5 = rows[4].ticket.as_ref().unwrap();
        assert_eq!(t5.purchase_details.as_ref().unwrap().price, Some(0.0));
        assert_eq!(
            t5.spectator_details.as_ref().unwrap().main_applicant,
            Some(true)
        );
    }

    #[test]
    fn numbers_and_flags_parse_strictly() {
        let header = format!("{BASE_HEADER},purchaseDetails.price,purchaseDetails.currency");
        let price = |cell: &str, cur: &str| {
            let file = format!(
                "{header}\n{},\"{cell}\",{cur}\n",
                base_row("T1", "a@example.org")
            );
            let rows = parse_csv(file.as_bytes()).unwrap();
            rows[0]
                .ticket
                .clone()
                .map(|t| t.purchase_details.unwrap().price.unwrap())
        };
        assert_eq!(price("12", ""), Ok(12.0));
        assert_eq!(price("12.50", "EUR"), Ok(12.5));
        assert_eq!(price("4500", "JPY"), Ok(4500.0));
        for bad in [
            "12,50", "1,000", "1e3", "inf", "NaN", ".5", "5.", "1.2.3", "€5", "-3.25",
        ] {
            assert!(price(bad, "").is_err(), "{bad}");
        }

        let file = format!(
            "{BASE_HEADER},transferRules.maxNumberOfTransferPerTicketInGroupId\n{},-2\n{},-1\n",
            base_row("T1", "a@example.org"),
            base_row("T2", "b@example.org"),
        );
        let rows = parse_csv(file.as_bytes()).unwrap();
        assert_eq!(rows[0].ticket.as_ref().unwrap_err().code, "INVALID_VALUE");
        assert_eq!(
            rows[1].ticket.as_ref().unwrap().transfer_rules,
            Some(TransferRules::default())
        );
    }

    #[test]
    fn validation_errors_pass_through() {
        let file = format!(
            "{BASE_HEADER},spectatorDetails.gender\n{},m\n",
            base_row("T1", "a@example.org")
        );
        let rows = parse_csv(file.as_bytes()).unwrap();
        let e = rows[0].ticket.as_ref().unwrap_err();
        assert_eq!(e.code, "INVALID_FIELD");
        assert!(e.message.starts_with("spectatorDetails.gender"));
        // No event column at all: the first missing field is named.
        let rows = parse_csv(b"ticketId\nT1\n").unwrap();
        assert_eq!(
            rows[0].ticket.as_ref().unwrap_err().message,
            "event.id is required"
        );
    }

    #[test]
    fn optional_objects_are_absent_without_a_cell() {
        let file = format!(
            "{BASE_HEADER},event.group.name,activationParameters.method,\
             transferRules.allowTransfer,ticketDetails.main.Seat,event.metadata.K\n{},,,,,\n",
            base_row("T1", "a@example.org"),
        );
        let rows = parse_csv(file.as_bytes()).unwrap();
        let t = ok_tickets(&rows)[0];
        let ev = t.event.as_ref().unwrap();
        assert_eq!(ev.group, None);
        assert!(ev.metadata.is_empty());
        assert_eq!(t.activation_parameters, None);
        assert_eq!(t.transfer_rules, None);
        assert_eq!(t.ticket_details, None);
        assert!(!serde_json::to_string(t).unwrap().contains("transferRules"));
    }

    #[test]
    fn more_than_the_maximum_number_of_rows_is_refused() {
        let row = base_row("T1", "a@example.org");
        let mut file = String::with_capacity((row.len() + 1) * (MAX_CSV_ROWS + 2));
        file.push_str(BASE_HEADER);
        file.push('\n');
        for _ in 0..MAX_CSV_ROWS {
            file.push_str(&row);
            file.push('\n');
        }
        assert_eq!(parse_csv(file.as_bytes()).unwrap().len(), MAX_CSV_ROWS);
        file.push_str(&row);
        file.push('\n');
        let err = parse_csv(file.as_bytes()).unwrap_err();
        assert_eq!(err, CsvError::TooManyRows { rows: MAX_CSV_ROWS });
        assert_eq!(err.code(), "TOO_MANY_ROWS");
    }

    #[test]
    fn a_semicolon_file_is_read() {
        let file = format!(
            "{};purchaseDetails.price\n{};12.50\n",
            BASE_HEADER.replace(',', ";"),
            base_row("T1", "a@example.org").replace(',', ";"),
        );
        let rows = parse_csv(file.as_bytes()).unwrap();
        let t = ok_tickets(&rows)[0];
        assert_eq!(t.ticket_id.as_deref(), Some("T1"));
        assert_eq!(t.purchase_details.as_ref().unwrap().price, Some(12.5));
    }

    #[test]
    fn a_price_follows_the_money_rule_and_the_row_keeps_its_ticket_id() {
        let file = format!(
            "{};purchaseDetails.currency;purchaseDetails.price\n{};USD;1,234\n{};USD;4.205\n{};USD;-4.20\n",
            BASE_HEADER.replace(',', ";"),
            base_row("P1", "a@example.org").replace(',', ";"),
            base_row("P2", "a@example.org").replace(',', ";"),
            base_row("P3", "a@example.org").replace(',', ";"),
        );
        let rows = parse_csv(file.as_bytes()).unwrap();
        for (r, id) in rows.iter().zip(["P1", "P2", "P3"]) {
            let e = r.ticket.as_ref().unwrap_err();
            assert_eq!(e.code, "INVALID_VALUE", "{}", e.message);
            assert!(e.message.contains("purchaseDetails.price"), "{}", e.message);
            assert_eq!(r.ticket_id, id);
        }
    }

    #[test]
    fn control_characters_and_repeated_ids_are_row_errors() {
        let file = format!(
            "{BASE_HEADER},ticketDetails.main.Gate,spectatorDetails.firstName\n\
             {},\"A\nleft\",Ann\n{},B,\"Bo\u{7}b\"\n{},C,Cy\n",
            base_row("C1", "a@example.org"),
            base_row("C2", "a@example.org"),
            base_row("C1", "a@example.org"),
        );
        let rows = parse_csv(file.as_bytes()).unwrap();
        assert!(rows[0].ticket.is_ok(), "{:?}", rows[0].ticket);
        let e = rows[1].ticket.as_ref().unwrap_err();
        assert_eq!(e.code, "INVALID_CHARACTER");
        assert!(
            e.message.contains("spectatorDetails.firstName"),
            "{}",
            e.message
        );
        assert_eq!(rows[1].ticket_id, "C2");
        let e = rows[2].ticket.as_ref().unwrap_err();
        assert_eq!(e.code, "DUPLICATE_IN_REQUEST");
        assert!(e.message.contains("row 1"), "{}", e.message);
        assert_eq!(rows[2].ticket_id, "C1");
    }

    #[test]
    fn a_tab_file_is_read_and_a_wrong_separator_is_named() {
        let file = format!(
            "{}\tpurchaseDetails.price\n{}\t12.50\n",
            BASE_HEADER.replace(',', "\t"),
            base_row("T1", "a@example.org").replace(',', "\t"),
        );
        let rows = parse_csv(file.as_bytes()).unwrap();
        let t = ok_tickets(&rows)[0];
        assert_eq!(t.purchase_details.as_ref().unwrap().price, Some(12.5));
        let semi = file.replace('\t', ";");
        let err = parse_csv_with(semi.as_bytes(), Some(Delimiter::Comma)).unwrap_err();
        assert!(
            matches!(&err, CsvError::WrongDelimiter { hint } if hint.contains("semicolon (;)")),
            "{err}"
        );
        assert_eq!(
            parse_csv_with(semi.as_bytes(), Some(Delimiter::Semicolon)).unwrap(),
            rows
        );
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let file = format!(
            "\u{FEFF}{BASE_HEADER}\r\n{}\r\n",
            base_row("T1", "a@example.org")
        );
        let rows = parse_csv(file.as_bytes()).unwrap();
        assert_eq!(ok_tickets(&rows)[0].ticket_id.as_deref(), Some("T1"));
    }

    #[test]
    fn quoted_cells_may_hold_separators_quotes_and_line_breaks() {
        let file = format!(
            "{BASE_HEADER},event.address.line1,ticketDetails.extra.Note\n\
             {},\"12, rue de la Paix\",\"first line\nsecond \"\"quoted\"\" line\"\n\
             {},,  padded  \n",
            base_row("T1", "a@example.org"),
            base_row("T2", "b@example.org"),
        );
        let rows = parse_csv(file.as_bytes()).unwrap();
        assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), vec![1, 2]);
        let t = ok_tickets(&rows);
        let addr = t[0].event.as_ref().unwrap().address.as_ref().unwrap();
        assert_eq!(addr.line1, Some("12, rue de la Paix".into()));
        assert_eq!(
            t[0].ticket_details.as_ref().unwrap().extra,
            vec![entry("Note", "first line\nsecond \"quoted\" line".into())]
        );
        assert_eq!(
            t[1].ticket_details.as_ref().unwrap().extra,
            vec![entry("Note", "padded".into())]
        );
    }

    #[test]
    fn empty_rows_are_skipped_but_keep_their_numbers() {
        let file = format!(
            "\n{BASE_HEADER}\n{}\n\n,,,,,,,,,,,\n{}\n",
            base_row("T1", "a@example.org"),
            base_row("T2", "b@example.org"),
        );
        let rows = parse_csv(file.as_bytes()).unwrap();
        assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(parse_csv(b"").unwrap_err(), CsvError::Empty);
        assert_eq!(
            parse_csv(b"\xEF\xBB\xBF\r\n \n").unwrap_err(),
            CsvError::Empty
        );
        assert_eq!(parse_csv(b"ticketId\n").unwrap(), vec![]);
    }

    #[test]
    fn structural_problems_refuse_the_file() {
        let file = format!(
            "{BASE_HEADER}\n{}\nT2,E1\n",
            base_row("T1", "a@example.org")
        );
        assert_eq!(
            parse_csv(file.as_bytes()).unwrap_err(),
            CsvError::WrongCellCount {
                row: 2,
                expected: 12,
                found: 2
            }
        );
        let mut file = format!("{BASE_HEADER}\n{}\n", base_row("T1", "a@example.org")).into_bytes();
        file.extend_from_slice(&base_row("T2", "b@example.org").into_bytes()[..3]);
        file.extend_from_slice(b"\xff\xfe");
        file.extend_from_slice(&base_row("T2", "b@example.org").into_bytes()[3..]);
        assert_eq!(parse_csv(&file).unwrap_err(), CsvError::NotUtf8 { row: 2 });
        assert_eq!(
            parse_csv(b"ticket\xffId\nT1\n").unwrap_err(),
            CsvError::NotUtf8 { row: 0 }
        );
    }
}
