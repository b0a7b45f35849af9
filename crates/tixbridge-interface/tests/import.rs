//! The CSV import against a real (SQLite) ticketing store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use tixbridge_core::model::{DetailSection, ProductKind};
use tixbridge_core::status::TicketingStatus;
use tixbridge_core::text::LocalizedText;
use tixbridge_interface::import::{
    Delimiter, ImportError, ImportOptions, ImportPhase, RowError, import_tickets,
    import_tickets_with, import_tickets_with_progress,
};
use tixbridge_store::TicketingStore;

struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<dyn TicketingStore>,
    org: i64,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = tixbridge_store::sqlite::open_ticketing(&dir.path().join("t.db"))
        .await
        .unwrap();
    with_org(dir, store).await
}

async fn with_org(dir: tempfile::TempDir, store: Arc<dyn TicketingStore>) -> Fixture {
    let org = store
        .ensure_organization("ACME", "Acme", "en")
        .await
        .unwrap()
        .id;
    Fixture { dir, store, org }
}

/// Runs `check` on a fresh SQLite fixture, then on a fresh PostgreSQL schema when
/// `TIXBRIDGE_TEST_PG` is set (mandatory under `CI=true`, see `testing.rs`).
async fn each_backend<F, Fut>(check: F)
where
    F: Fn(Fixture) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    check(fixture().await).await;
    let Some(base) = tixbridge_store::testing::pg_test_url() else {
        return;
    };
    let (url, schema) = tixbridge_store::testing::fresh_schema(&base, "t_imp");
    let store = tixbridge_store::postgres::open_ticketing(&url)
        .await
        .unwrap();
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
        check(with_org(tempfile::tempdir().unwrap(), store).await).await
    }))
    .await;
    tixbridge_store::testing::drop_schema(&base, &schema).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn bad_rows(e: ImportError) -> Vec<RowError> {
    match e {
        ImportError::BadRows { errors, .. } => errors,
        other => panic!("expected bad rows, got {other}"),
    }
}

impl Fixture {
    fn write(&self, name: &str, header: &[&str], rows: &[Vec<String>]) -> PathBuf {
        let path = self.dir.path().join(name);
        // Flexible, so a test can write a row of the wrong length.
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .from_path(&path)
            .unwrap();
        w.write_record(header).unwrap();
        for r in rows {
            w.write_record(r).unwrap();
        }
        w.flush().unwrap();
        path
    }

    async fn import(&self, path: &Path) -> Result<u64, ImportError> {
        import_tickets(self.store.as_ref(), self.org, "en", path, |_| {})
            .await
            .map(|r| r.imported)
    }

    async fn ticket_count(&self) -> u64 {
        self.store
            .count_by_status(self.org)
            .await
            .unwrap()
            .iter()
            .map(|(_, n)| n)
            .sum()
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const MATCH_HEADER: &[&str] = &[
    "ticket_id",
    "tax_number",
    "barcode",
    "file_id",
    "product_code",
    "product_kind",
    "performance_code",
    "performance_start",
    "site_code",
    "price",
    "contact_number",
];

/// A valid match ticket for [`MATCH_HEADER`].
fn match_row(id: i64) -> Vec<String> {
    vec![
        id.to_string(),
        format!("TX{id}"),
        format!("BC{id}"),
        format!("F{}", id / 4),
        "FINAL".into(),
        "MATCH".into(),
        "M64".into(),
        "2026-07-19T21:00:00+02:00".into(),
        "STADE".into(),
        "45.50".into(),
        format!("C{id}"),
    ]
}

#[tokio::test]
async fn a_good_file_imports_every_column() {
    let f = fixture().await;
    let header = [
        "ticket_id",
        "tax_number",
        "barcode",
        "file_id",
        "status",
        "cause",
        "replaces_ticket_id",
        "shipment_mode",
        "sales_channel",
        "season_code",
        "season_name",
        "season_start",
        "season_end",
        "product_code",
        "product_kind",
        "product_family",
        "product_name",
        "product_name[fr]",
        "tix_start",
        "tix_exp",
        "tix_act",
        "tix_rgrp",
        "performance_code",
        "performance_name",
        "performance_name[fr]",
        "group_name",
        "performance_start",
        "performance_end",
        "site_code",
        "site_name",
        "site_name[de]",
        "site_city",
        "site_zip",
        "site_country",
        "site_line1",
        "site_line2",
        "tariff",
        "category",
        "price",
        "currency",
        "purchase_date",
        "validity_start",
        "validity_end",
        "gate",
        "block",
        "row",
        "seat",
        "contact_number",
        "contact_email",
        "contact_first_name",
        "contact_last_name",
        "contact_gender",
        "contact_title",
        "holder_first_name",
        "holder_last_name",
        "holder_birth_date",
        "holder_id_number",
        "holder_country_code",
        "holder_birth_region",
        "holder_birth_place",
        "main_applicant",
    ];
    let row = |cells: &[&str]| cells.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let rows = vec![
        row(&[
            "1001",
            "TX1001",
            "BC1001",
            "ORDER-1",
            "",
            "",
            "",
            "",
            "WEB",
            "S2026",
            "Season 2026",
            "2026-01-01T00:00:00Z",
            "2026-12-31 23:00",
            "FINAL",
            "match",
            "FOOTBALL",
            "Final",
            "Finale",
            "",
            "",
            "",
            "",
            "M64",
            "Final match",
            "Match final",
            "Finals",
            "2026-07-19T21:00:00+02:00",
            "2026-07-19 21:00",
            "STADE",
            "National Stadium",
            "Nationalstadion",
            "Paris",
            "93200",
            "fr",
            "1 Stadium Road",
            "",
            "FULL",
            "CAT1",
            "45.50",
            "eur",
            "2026-03-01 10:30",
            "",
            "",
            "A",
            "12",
            "F",
            "7",
            "K1",
            "ada@example.org",
            "Ada",
            "Lovelace",
            "f",
            "Dr",
            "Grace",
            "Hopper",
            "1906-12-09",
            "ID42",
            "us",
            "",
            "New York",
            "true",
        ]),
        row(&[
            "1002",
            "TX1002",
            "BC1002",
            "ORDER-1",
            "CANCELLED",
            "resale pending",
            "",
            "",
            "WEB",
            "S2026",
            "Season 2026",
            "2026-01-01T00:00:00Z",
            "2026-12-31 23:00",
            "FINAL",
            "MATCH",
            "FOOTBALL",
            "Final",
            "Finale",
            "",
            "",
            "",
            "",
            "M64",
            "Final match",
            "Match final",
            "Finals",
            "2026-07-19T21:00:00+02:00",
            "",
            "STADE",
            "National Stadium",
            "",
            "Paris",
            "93200",
            "FR",
            "1 Stadium Road",
            "",
            "FULL",
            "CAT1",
            "45",
            "EUR",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "K1",
            "ada@example.org",
            "Ada",
            "Lovelace",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "no",
        ]),
        row(&[
            "1003",
            "TX1003",
            "BC1003",
            "",
            "",
            "",
            "1002",
            "print_at_home",
            "BOX",
            "S2026",
            "",
            "2026-01-01T00:00:00Z",
            "2026-12-31 23:00",
            "MUSEUM",
            "OPEN_PASS",
            "",
            "",
            "",
            "start_of_season",
            "+1w",
            "-3h",
            "G1",
            "",
            "",
            "",
            "",
            "",
            "",
            "MUSEUM_SITE",
            "Museum",
            "",
            "Lyon",
            "69001",
            "FR",
            "2 Art Street",
            "Wing B",
            "",
            "",
            "",
            "",
            "",
            "2026-05-01T00:00:00Z",
            "2026-06-01T00:00:00Z",
            "",
            "",
            "",
            "",
            "K2",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ]),
    ];
    let path = f.write("good.csv", &header, &rows);
    let seen = AtomicU64::new(0);
    let checked = AtomicU64::new(0);
    let report =
        import_tickets_with_progress(f.store.as_ref(), f.org, "en", &path, |p| match p.phase {
            ImportPhase::Checking => checked.store(p.rows, Ordering::Relaxed),
            ImportPhase::Importing => {
                assert_eq!(p.total, Some(3));
                seen.store(p.rows, Ordering::Relaxed)
            }
        })
        .await
        .unwrap();
    assert_eq!(report.imported, 3);
    assert_eq!(checked.load(Ordering::Relaxed), 3);
    assert_eq!(seen.load(Ordering::Relaxed), 3);

    let t = f.store.ticket(1001).await.unwrap().unwrap();
    assert_eq!(t.tax_number, "TX1001");
    assert_eq!(t.file_id.as_deref(), Some("ORDER-1"));
    assert_eq!(t.status, TicketingStatus::NotPrinted);
    assert_eq!(t.shipment_mode, "BLOCKCHAIN");
    assert_eq!(t.sales_channel.as_deref(), Some("WEB"));
    assert_eq!(t.season_code.as_deref(), Some("S2026"));
    assert_eq!(t.price_cents, Some(4550));
    assert_eq!(t.currency.as_deref(), Some("EUR"));
    assert_eq!(t.purchase_date, Some(at("2026-03-01T10:30:00Z")));
    assert_eq!(t.tariff.as_deref(), Some("FULL"));
    assert_eq!(t.category.as_deref(), Some("CAT1"));
    let details: Vec<(String, String)> = t
        .details
        .iter()
        .map(|d| {
            assert_eq!(d.section, DetailSection::Main);
            (
                d.key.get("en").unwrap().to_owned(),
                d.value.get("en").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        details,
        [("Gate", "A"), ("Block", "12"), ("Row", "F"), ("Seat", "7")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    assert_eq!(t.holder.first_name.as_deref(), Some("Grace"));
    assert_eq!(t.holder.birth_date.as_deref(), Some("1906-12-09"));
    assert_eq!(t.holder.country_code.as_deref(), Some("US"));
    assert_eq!(t.holder.birth_place.as_deref(), Some("New York"));
    assert!(t.main_applicant);
    let contact = f.store.contact(t.contact_id).await.unwrap().unwrap();
    assert_eq!(contact.email.as_deref(), Some("ada@example.org"));
    assert_eq!(contact.gender.as_deref(), Some("F"));
    assert_eq!(contact.title.as_deref(), Some("Dr"));

    let t2 = f.store.ticket(1002).await.unwrap().unwrap();
    assert_eq!(t2.status, TicketingStatus::Cancelled);
    assert_eq!(t2.cause.as_ref().map(|c| c.as_str()), Some("RESALEPENDING"));
    assert_eq!(t2.price_cents, Some(4500));
    assert!(!t2.main_applicant);
    assert_eq!(t2.contact_id, t.contact_id, "one contact per number");
    assert!(t2.details.is_empty());

    let t3 = f.store.ticket(1003).await.unwrap().unwrap();
    assert_eq!(t3.replaces_ticket_id, Some(1002));
    assert_eq!(t3.shipment_mode, "PRINT_AT_HOME");
    assert_eq!(t3.performance_id, None);
    assert_eq!(t3.validity_start, Some(at("2026-05-01T00:00:00Z")));

    let cat = f.store.catalog(f.org).await.unwrap();
    let final_ = cat.products.iter().find(|p| p.code == "FINAL").unwrap();
    assert_eq!(final_.kind, ProductKind::Match);
    assert_eq!(
        final_.name,
        LocalizedText::new("en", "Final").with("fr", "Finale")
    );
    let perf = &cat.performances[0];
    assert_eq!(perf.start, at("2026-07-19T19:00:00Z"));
    assert_eq!(perf.end, Some(at("2026-07-19T21:00:00Z")));
    assert_eq!(
        perf.name,
        LocalizedText::new("en", "Final match").with("fr", "Match final")
    );
    let stade = cat.sites.iter().find(|s| s.code == "STADE").unwrap();
    assert_eq!(
        stade.name,
        LocalizedText::new("en", "National Stadium").with("de", "Nationalstadion")
    );
    assert_eq!(stade.country_code, "FR");
    let museum = cat.products.iter().find(|p| p.code == "MUSEUM").unwrap();
    let museum_site = cat.sites.iter().find(|s| s.code == "MUSEUM_SITE").unwrap();
    assert_eq!(museum.site_id, Some(museum_site.id));
    assert_eq!(museum.comfort.tix_start.as_deref(), Some("start_of_season"));
    assert_eq!(museum.comfort.tix_exp.as_deref(), Some("+1w"));
    assert_eq!(museum.comfort.tix_act.as_deref(), Some("-3h"));
    assert_eq!(museum.comfort.tix_rgrp.as_deref(), Some("G1"));
    assert_eq!(cat.seasons[0].end, at("2026-12-31T23:00:00Z"));
}

#[tokio::test]
async fn bad_rows_import_nothing_and_are_named() {
    let f = fixture().await;
    let mut rows: Vec<Vec<String>> = (1..=5).map(match_row).collect();
    rows[1][7] = "tomorrow".into(); // row 3, performance_start
    rows[3][9] = "45,50".into(); // row 5, price
    rows[3][0] = "x".into(); // row 5, ticket_id
    rows[4][6] = String::new(); // row 6, performance_code of a MATCH
    let path = f.write("bad.csv", MATCH_HEADER, &rows);
    let e = f.import(&path).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("3 bad rows; nothing was imported"),
        "{text}"
    );
    assert!(
        text.contains("row 3, column performance_start: \"tomorrow\" is not an RFC 3339 time"),
        "{text}"
    );
    assert!(
        text.contains("row 5, column price: \"45,50\" is not a price"),
        "{text}"
    );
    assert!(text.contains("row 5, column ticket_id:"), "{text}");
    assert!(
        text.contains("row 6, column performance_code: a value is required"),
        "{text}"
    );
    match e {
        ImportError::BadRows {
            bad_rows,
            total_errors,
            errors,
        } => {
            assert_eq!(bad_rows, 3);
            assert_eq!(total_errors, 4);
            assert_eq!(errors[0].row, 3);
            assert_eq!(errors[0].column.as_deref(), Some("performance_start"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        f.ticket_count().await,
        0,
        "a bad row must stop the whole file"
    );
    assert!(f.store.catalog(f.org).await.unwrap().products.is_empty());
}

#[tokio::test]
async fn many_bad_rows_are_counted_and_the_first_listed() {
    let f = fixture().await;
    let rows: Vec<Vec<String>> = (1..=250)
        .map(|i| {
            let mut r = match_row(i);
            r[5] = "CONCERT".into();
            r
        })
        .collect();
    let path = f.write("many.csv", MATCH_HEADER, &rows);
    match f.import(&path).await.unwrap_err() {
        ImportError::BadRows {
            bad_rows, errors, ..
        } => {
            assert_eq!(bad_rows, 250);
            assert_eq!(errors.len(), 100);
            assert_eq!(errors[0].row, 2);
            assert!(errors[0].message.contains("unknown product kind"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unknown_columns_and_bad_language_suffixes_are_refused() {
    let f = fixture().await;
    let mut header = MATCH_HEADER.to_vec();
    header.push("colour");
    header.push("product_name[french]");
    header.push("seat[fr]");
    let rows: Vec<Vec<String>> = (1..=2)
        .map(|i| {
            let mut r = match_row(i);
            r.extend(["red".to_string(), "x".into(), "y".into()]);
            r
        })
        .collect();
    let path = f.write("unknown.csv", &header, &rows);
    let e = f.import(&path).await.unwrap_err();
    assert!(matches!(e, ImportError::Header(_)), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("unknown column \"colour\""), "{text}");
    assert!(
        text.contains("\"french\" is not a two-letter lower-case language code"),
        "{text}"
    );
    assert!(text.contains("seat is not multilingual"), "{text}");
    assert!(text.ends_with("nothing was imported"), "{text}");
    assert_eq!(f.ticket_count().await, 0);

    let path = f.write("missing.csv", &["ticket_id", "barcode"], &[]);
    let text = f.import(&path).await.unwrap_err().to_string();
    assert!(
        text.contains(
            "missing required columns: tax_number, product_code, product_kind, contact_number"
        ),
        "{text}"
    );
    let empty = f.dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let text = f.import(&empty).await.unwrap_err().to_string();
    assert!(text.contains("the file is empty"), "{text}");
    let text = f
        .import(&f.dir.path().join("nope.csv"))
        .await
        .unwrap_err()
        .to_string();
    assert!(text.starts_with("cannot read"), "{text}");
}

#[tokio::test]
async fn multilingual_columns_land_in_localized_text() {
    let f = fixture().await;
    let mut header = MATCH_HEADER.to_vec();
    header.extend([
        "performance_name",
        "performance_name[fr]",
        "performance_name[de]",
        "group_name[fr]",
        "group_name",
        "site_city",
        "site_city[it]",
    ]);
    let mut r = match_row(1);
    r.extend(
        [
            "Final",
            "Finale",
            "Endspiel",
            "Phase finale",
            "Finals",
            "Paris",
            "Parigi",
        ]
        .map(String::from),
    );
    let path = f.write("ml.csv", &header, &[r]);
    f.import(&path).await.unwrap();
    let cat = f.store.catalog(f.org).await.unwrap();
    let p = &cat.performances[0];
    assert_eq!(
        p.name,
        LocalizedText::new("en", "Final")
            .with("fr", "Finale")
            .with("de", "Endspiel")
    );
    assert_eq!(
        p.group_name,
        LocalizedText::new("en", "Finals").with("fr", "Phase finale")
    );
    assert_eq!(
        cat.sites[0].city,
        LocalizedText::new("en", "Paris").with("it", "Parigi")
    );

    // A translation without the default language's value is a row error.
    let mut r = match_row(2);
    r.extend(["", "Finale", "", "", "", "", ""].map(String::from));
    let path = f.write("ml-bad.csv", &header, &[r]);
    let text = f.import(&path).await.unwrap_err().to_string();
    assert!(
        text.contains("row 2, column performance_name: a value in the default language (en) is required when [fr] is given"),
        "{text}"
    );
}

#[tokio::test]
async fn a_duplicate_ticket_id_rolls_everything_back() {
    let f = fixture().await;
    // Twice in the file, far apart: the second is in a later chunk than the first, so
    // the store finds it after the first chunk was already written.
    let mut rows: Vec<Vec<String>> = (1..=2500).map(match_row).collect();
    rows[2100] = match_row(5);
    rows[2100][1] = "OTHER-TAX".into();
    let path = f.write("dup.csv", MATCH_HEADER, &rows);
    let e = f.import(&path).await.unwrap_err();
    let text = e.to_string();
    match &e {
        ImportError::Conflict(r) => {
            assert_eq!(r.row, 2102);
            assert_eq!(r.column.as_deref(), Some("ticket_id"));
        }
        other => panic!("{other:?}"),
    }
    assert!(text.contains("ticket id 5 "), "{text}");
    assert!(text.ends_with("nothing was imported"), "{text}");
    assert_eq!(
        f.ticket_count().await,
        0,
        "the first chunks must be rolled back"
    );
    assert!(f.store.catalog(f.org).await.unwrap().products.is_empty());

    // Twice within one chunk, by tax number.
    let mut rows: Vec<Vec<String>> = (1..=10).map(match_row).collect();
    rows[6][1] = "TX3".into();
    let path = f.write("dup-tax.csv", MATCH_HEADER, &rows);
    let text = f.import(&path).await.unwrap_err().to_string();
    assert!(
        text.contains("row 8, column tax_number: tax number \"TX3\" is also on row 4"),
        "{text}"
    );
    assert_eq!(f.ticket_count().await, 0);

    // Already in the store from an earlier import.
    let path = f.write("first.csv", MATCH_HEADER, &[match_row(7)]);
    assert_eq!(f.import(&path).await.unwrap(), 1);
    let rows: Vec<Vec<String>> = (1..=10).map(match_row).collect();
    let path = f.write("again.csv", MATCH_HEADER, &rows);
    let text = f.import(&path).await.unwrap_err().to_string();
    assert!(
        text.contains("row 8, column ticket_id: ticket id 7 is already in the store"),
        "{text}"
    );
    assert_eq!(f.ticket_count().await, 1);
}

#[tokio::test]
async fn rows_that_contradict_each_other_or_the_header_are_named() {
    let f = fixture().await;
    let mut rows: Vec<Vec<String>> = (1..=4).map(match_row).collect();
    rows[1][5] = "EVENT".into(); // FINAL is a MATCH on row 2
    rows[2][8] = "ARENA".into(); // M64 is at STADE on row 2
    rows[3].pop(); // one value short
    let path = f.write("contradict.csv", MATCH_HEADER, &rows);
    let text = f.import(&path).await.unwrap_err().to_string();
    assert!(
        text.contains("row 3, column product_kind: product FINAL is MATCH on row 2, EVENT here"),
        "{text}"
    );
    assert!(
        text.contains(
            "row 4, column site_code: performance M64 is at site STADE on row 2, ARENA here"
        ),
        "{text}"
    );
    assert!(
        text.contains("row 5: the row has 10 values but the header names 11 columns"),
        "{text}"
    );
}

/// Writes `text` as the file `name` of the fixture's folder, bytes as given.
fn raw(f: &Fixture, name: &str, text: &str) -> PathBuf {
    let path = f.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Issue 7 item 1: `;` (with a byte-order mark), tab and comma files are read alike;
/// a wrong `--delimiter` names the separator the header holds instead of answering
/// "unknown column" and "missing ticket_id" at once.
#[tokio::test]
async fn spreadsheet_dialects_are_read() {
    let f = fixture().await;
    let comma = |ids: [i64; 2]| {
        let mut t = MATCH_HEADER.join(",");
        for id in ids {
            t.push('\n');
            t.push_str(&match_row(id).join(","));
        }
        t.push('\n');
        t
    };
    let semicolon = format!("\u{FEFF}{}", comma([1, 2]).replace(',', ";"));
    let tab = comma([3, 4]).replace(',', "\t");
    assert_eq!(f.import(&raw(&f, "semi.csv", &semicolon)).await.unwrap(), 2);
    assert_eq!(f.import(&raw(&f, "tab.csv", &tab)).await.unwrap(), 2);
    let t = f.store.ticket(1).await.unwrap().unwrap();
    assert_eq!(t.price_cents, Some(4550));
    assert_eq!(t.tax_number, "TX1");

    let wrong = raw(&f, "wrong.csv", &comma([5, 6]).replace(',', ";"));
    let options = ImportOptions {
        delimiter: Some(Delimiter::Comma),
        ..ImportOptions::default()
    };
    let e = import_tickets_with(f.store.as_ref(), f.org, "en", &wrong, &options, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("seems to be separated by semicolon (;)"), "{e}");
    assert!(
        !e.contains("unknown column") && !e.contains("missing"),
        "{e}"
    );
    let options = ImportOptions {
        delimiter: Some(Delimiter::Semicolon),
        ..ImportOptions::default()
    };
    let n = import_tickets_with(f.store.as_ref(), f.org, "en", &wrong, &options, |_| {})
        .await
        .unwrap();
    assert_eq!(n.imported, 2);
}

const ZONE_HEADER: &[&str] = &[
    "ticket_id",
    "tax_number",
    "barcode",
    "product_code",
    "product_kind",
    "performance_code",
    "performance_start",
    "site_code",
    "site_time_zone",
    "contact_number",
    "contact_email",
];

fn zone_row(id: i64, perf: &str, start: &str, site: &str, zone: &str) -> Vec<String> {
    vec![
        id.to_string(),
        format!("TX{id}"),
        format!("BC{id}"),
        "FINAL".into(),
        "MATCH".into(),
        perf.into(),
        start.into(),
        site.into(),
        zone.into(),
        format!("C{id}"),
        format!("c{id}@example.org"),
    ]
}

/// Issue 7 item 3 on both backends: a time without offset is read in the site's zone
/// (given on an earlier row, or stored); skipped hours, unknown zones and a site given
/// two zones are refused naming row and column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_without_offset_are_read_in_the_venue_zone() {
    each_backend(|f| async move {
        let bad = f.write(
            "bad.csv",
            ZONE_HEADER,
            &[
                zone_row(1, "M1", "2026-03-29 02:30", "STADE", "Europe/Paris"),
                zone_row(2, "M2", "2026-07-19 21:00", "ARENA", "Europe/Pariss"),
                zone_row(3, "M3", "2026-07-19 21:00", "STADE", "Europe/Lisbon"),
            ],
        );
        let errors = bad_rows(f.import(&bad).await.unwrap_err());
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let has = |want: &str| text.iter().any(|t| t.contains(want));
        assert!(
            has("row 2, column performance_start: 2026-03-29 02:30 does not exist in Europe/Paris"),
            "{text:?}"
        );
        assert!(
            has("row 3, column site_time_zone: \"Europe/Pariss\" is not an IANA time zone"),
            "{text:?}"
        );
        assert!(
            has("row 4, column site_time_zone: site STADE is in Europe/Paris on row 2, Europe/Lisbon here"),
            "{text:?}"
        );
        assert_eq!(f.ticket_count().await, 0);

        let good = f.write(
            "good.csv",
            ZONE_HEADER,
            &[
                zone_row(1, "M1", "2026-07-19 21:00", "STADE", "Europe/Paris"),
                zone_row(2, "M2", "2026-12-19 21:00", "STADE", ""),
                zone_row(3, "M3", "2026-07-19 21:00", "ARENA", ""),
                zone_row(4, "M4", "2026-07-19T21:00:00+02:00", "ARENA", ""),
            ],
        );
        assert_eq!(f.import(&good).await.unwrap(), 4);
        let cat = f.store.catalog(f.org).await.unwrap();
        let start = |code: &str| cat.performances.iter().find(|p| p.code == code).unwrap().start;
        assert_eq!(start("M1"), at("2026-07-19T19:00:00Z"));
        assert_eq!(start("M2"), at("2026-12-19T20:00:00Z"), "winter time: +01:00");
        assert_eq!(start("M3"), at("2026-07-19T21:00:00Z"), "the organization's UTC");
        assert_eq!(start("M4"), at("2026-07-19T19:00:00Z"), "an offset wins");
        let stade = cat.sites.iter().find(|s| s.code == "STADE").unwrap();
        assert_eq!(stade.time_zone.map(|z| z.name()), Some("Europe/Paris"));

        // A later file without the column reads STADE in its stored zone.
        let later = f.write(
            "later.csv",
            ZONE_HEADER,
            &[zone_row(5, "M5", "2026-08-01 20:00", "STADE", "")],
        );
        assert_eq!(f.import(&later).await.unwrap(), 1);
        let cat = f.store.catalog(f.org).await.unwrap();
        let m5 = cat.performances.iter().find(|p| p.code == "M5").unwrap();
        assert_eq!(m5.start, at("2026-08-01T18:00:00Z"));
    })
    .await;
}

/// Issue 7 item 5 (import half) on both backends: a control character in any value
/// (a contact email, a holder name with a NUL byte that PostgreSQL cannot store) is
/// refused naming row and column, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_are_refused_naming_row_and_column() {
    each_backend(|f| async move {
        let mut header = MATCH_HEADER.to_vec();
        header.extend(["contact_email", "holder_last_name"]);
        let mut rows: Vec<Vec<String>> = (1..=3)
            .map(|i| {
                let mut r = match_row(i);
                r.extend([format!("c{i}@example.org"), "Hopper".into()]);
                r
            })
            .collect();
        rows[0][11] = "c1@exa\u{7}mple.org".into();
        rows[2][12] = "Hop\u{0}per".into();
        let path = f.write("ctl.csv", &header, &rows);
        let errors = bad_rows(f.import(&path).await.unwrap_err());
        let named: Vec<(u64, Option<&str>)> = errors
            .iter()
            .map(|e| (e.row, e.column.as_deref()))
            .collect();
        assert_eq!(
            named,
            vec![(2, Some("contact_email")), (4, Some("holder_last_name"))],
            "{errors:?}"
        );
        assert!(errors[0].message.contains("U+0007"), "{errors:?}");
        assert_eq!(f.ticket_count().await, 0);
    })
    .await;
}

/// Issue 7 item 9 on both backends: a barcode twice in one file, or already held by a
/// (even cancelled) ticket of the organization, is refused naming the other row or
/// ticket; nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_barcodes_are_refused_naming_the_other_ticket() {
    each_backend(|f| async move {
        let mut rows: Vec<Vec<String>> = (1..=5).map(match_row).collect();
        rows[3][2] = "BC2".into();
        let path = f.write("dup.csv", MATCH_HEADER, &rows);
        let text = f.import(&path).await.unwrap_err().to_string();
        assert!(
            text.contains("row 5, column barcode: barcode \"BC2\" is also on row 3"),
            "{text}"
        );
        assert_eq!(f.ticket_count().await, 0);

        // Against the store, a chunk later (the store finds it).
        let mut header = MATCH_HEADER.to_vec();
        header.push("status");
        let mut first = match_row(1);
        first.push("CANCELLED".into());
        assert_eq!(
            f.import(&f.write("c.csv", &header, &[first]))
                .await
                .unwrap(),
            1
        );
        let mut rows: Vec<Vec<String>> = (10..=1300).map(match_row).collect();
        rows[1200][2] = "BC1".into();
        let path = f.write("again.csv", MATCH_HEADER, &rows);
        let text = f.import(&path).await.unwrap_err().to_string();
        assert!(
            text.contains("row 1202, column barcode: barcode \"BC1\" is already held by ticket 1"),
            "{text}"
        );
        assert_eq!(f.ticket_count().await, 1);
    })
    .await;
}

/// Issue 7 item 4: a ticket without performance whose dates injection could never
/// compute is refused at import naming the column; an absolute `tix_start` or
/// `start_of_season` needs no other date.
#[tokio::test]
async fn rows_injection_could_never_send_are_refused() {
    let f = fixture().await;
    let header = [
        "ticket_id",
        "tax_number",
        "barcode",
        "product_code",
        "product_kind",
        "season_code",
        "season_start",
        "season_end",
        "tix_start",
        "tix_exp",
        "purchase_date",
        "contact_number",
    ];
    let row = |id: i64, product: &str, season: bool, start: &str, exp: &str, bought: &str| {
        let (code, s, e) = if season {
            ("S26", "2026-06-01 00:00", "2026-09-01 00:00")
        } else {
            ("", "", "")
        };
        [
            &id.to_string(),
            &format!("TX{id}"),
            &format!("BC{id}"),
            product,
            "SERVICE",
            code,
            s,
            e,
            start,
            exp,
            bought,
            &format!("C{id}"),
        ]
        .map(|v| v.to_string())
        .to_vec()
    };
    let bad = f.write(
        "bad.csv",
        &header,
        &[
            row(1, "P1", false, "+1d", "", ""),
            row(2, "P2", false, "", "+1w", ""),
            row(3, "P3", false, "19/07/26 10:00", "", ""),
        ],
    );
    let errors = bad_rows(f.import(&bad).await.unwrap_err());
    let named: Vec<(u64, Option<&str>)> = errors
        .iter()
        .map(|e| (e.row, e.column.as_deref()))
        .collect();
    assert_eq!(
        named,
        vec![(2, Some("tix_start")), (3, Some("validity_start"))],
        "{errors:?}"
    );
    assert!(errors[0].message.contains("TIXStart"), "{errors:?}");

    let good = f.write(
        "good.csv",
        &header,
        &[
            row(1, "PARK", true, "start_of_season", "end_of_season", ""),
            row(2, "P3", false, "19/07/26 10:00", "+1d", ""),
            row(3, "P4", false, "+1d", "", "2026-07-01 10:00"),
        ],
    );
    assert_eq!(f.import(&good).await.unwrap(), 3);
}

/// Compiles only if the import's future may move between runtime threads (the CLI may
/// spawn it).
#[allow(dead_code)]
fn the_import_future_is_send(store: &dyn TicketingStore, path: &Path) {
    fn is_send<T: Send>(_: T) {}
    is_send(import_tickets(store, 1, "en", path, |_| {}));
}

#[tokio::test]
async fn an_unknown_organization_is_refused_before_reading() {
    let f = fixture().await;
    let path = f.write("x.csv", MATCH_HEADER, &[match_row(1)]);
    let e = import_tickets(f.store.as_ref(), f.org + 100, "en", &path, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ImportError::Store(tixbridge_store::StoreError::NotFound(_))
        ),
        "{e:?}"
    );
}

/// `cargo test --release -p tixbridge-interface --test import -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a rate measurement; run in release"]
async fn import_rate() {
    let f = fixture().await;
    let n: i64 = std::env::var("IMPORT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let mut header = MATCH_HEADER.to_vec();
    header.extend([
        "holder_first_name",
        "holder_last_name",
        "gate",
        "seat",
        "contact_email",
    ]);
    // Written row by row, so the process's peak memory is the import's.
    let path = f.dir.path().join("big.csv");
    let mut w = csv::Writer::from_path(&path).unwrap();
    w.write_record(&header).unwrap();
    for i in 1..=n {
        let mut r = match_row(i);
        // A few performances, and contacts shared by a few tickets, like real orders.
        r[6] = format!("M{}", i % 64);
        r[10] = format!("C{}", i / 3);
        r.extend([
            "Grace".into(),
            "Hopper".into(),
            format!("G{}", i % 12),
            (i % 500).to_string(),
            format!("c{}@example.org", i / 3),
        ]);
        w.write_record(&r).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let t0 = std::time::Instant::now();
    let checked = std::sync::Mutex::new(None);
    let report = import_tickets_with_progress(f.store.as_ref(), f.org, "en", &path, |p| {
        if p.phase == ImportPhase::Importing && p.rows == 0 {
            *checked.lock().unwrap() = Some(t0.elapsed().as_secs_f64());
        }
    })
    .await
    .unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let check_secs = checked.lock().unwrap().unwrap_or_default();
    assert_eq!(report.imported, n as u64);
    println!(
        "imported {n} rows in {secs:.2} s: {:.0} rows/s end to end \
         (pass 1, checking: {check_secs:.2} s; pass 2, writing: {:.2} s = {:.0} rows/s)",
        n as f64 / secs,
        secs - check_secs,
        n as f64 / (secs - check_secs)
    );
}

/// Issue 8 (privileges): a card's `linked_ticket_ids` (spaces or `|`) reach the store
/// on both backends, and are corrected like the other columns; on a ticket product, a
/// bad id, a repeated one or the card itself, the row is refused naming the column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_link_tickets_and_bad_links_are_refused() {
    each_backend(|f| async move {
        let header = [
            "ticket_id",
            "tax_number",
            "barcode",
            "product_code",
            "product_kind",
            "contact_number",
            "linked_ticket_ids",
        ];
        let card = |id: i64, kind: &str, linked: &str| {
            vec![
                id.to_string(),
                format!("TX{id}"),
                format!("BC{id}"),
                match kind {
                    "OPEN_PASS" => "MUSEUM",
                    "SEASON_CARD" => "SEASON",
                    _ => "MEMBERS",
                }
                .into(),
                kind.to_owned(),
                format!("C{id}"),
                linked.to_owned(),
            ]
        };
        let bad = vec![
            card(1, "OPEN_PASS", "7"),
            card(2, "SEASON_CARD", "7 x"),
            card(3, "SEASON_CARD", "7|7"),
            card(4, "SEASON_CARD", "4"),
        ];
        let path = f.write("bad-links.csv", &header, &bad);
        let errors = bad_rows(f.import(&path).await.unwrap_err());
        let named: Vec<(u64, Option<&str>)> = errors
            .iter()
            .map(|e| (e.row, e.column.as_deref()))
            .collect();
        let column = Some("linked_ticket_ids");
        assert_eq!(
            named,
            vec![(2, column), (3, column), (4, column), (5, column)],
            "{errors:?}"
        );
        assert!(
            errors[0]
                .message
                .contains("only a membership or season card")
        );
        assert!(errors[2].message.contains("listed twice"), "{errors:?}");
        assert!(errors[3].message.contains("the card itself"), "{errors:?}");
        assert_eq!(f.ticket_count().await, 0);

        let path = f.write(
            "cards.csv",
            &header,
            &[
                card(10, "SEASON_CARD", "100 101|102"),
                card(11, "MEMBERSHIP_CARD", ""),
            ],
        );
        assert_eq!(f.import(&path).await.unwrap(), 2);
        for (id, want) in [(10, vec![100, 101, 102]), (11, vec![])] {
            let t = f.store.ticket(id).await.unwrap().unwrap();
            assert_eq!(t.linked_ticket_ids, want, "card {id}");
        }
    })
    .await;
}

/// Issue 8: a row with `replaces_ticket_id` reprints the ticket it replaces, in the same
/// import: a live one becomes INVALIDATED (cause REPRINT) with a history row naming the
/// new ticket, also when it comes later in the file; a cancelled or unknown one stays as
/// it is; a controlled one, or one already replaced, refuses the import naming the row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_reprints_invalidate_the_ticket_they_replace() {
    each_backend(|f| async move {
        let mut header = MATCH_HEADER.to_vec();
        header.extend(["status", "replaces_ticket_id"]);
        let r = |id: i64, status: &str, replaces: &str| {
            let mut row = match_row(id);
            row.extend([status.to_owned(), replaces.to_owned()]);
            row
        };
        let rows = vec![
            r(1, "PRINTED", ""),
            r(2, "", "1"),
            r(3, "CANCELLED", ""),
            r(4, "", "3"),
            r(5, "", "99"),
            r(10, "", "11"),
            r(11, "PRINTED", ""),
            r(12, "CONTROLLED", ""),
        ];
        let path = f.write("reprints.csv", &header, &rows);
        assert_eq!(f.import(&path).await.unwrap(), 8);
        let t = |id| {
            let store = f.store.clone();
            async move { store.ticket(id).await.unwrap().unwrap() }
        };
        for old in [1, 11] {
            let ticket = t(old).await;
            assert_eq!(ticket.status, TicketingStatus::Invalidated, "ticket {old}");
            assert_eq!(ticket.cause.unwrap().as_str(), "REPRINT");
            let history = f.store.ticket_operations(old).await.unwrap();
            assert_eq!(history.len(), 1, "{history:?}");
            assert_eq!(history[0].operator, "import");
            assert_eq!(history[0].from_status, TicketingStatus::Printed);
            assert_eq!(
                history[0].related_ticket_id,
                Some(if old == 1 { 2 } else { 10 })
            );
        }
        assert_eq!(t(3).await.status, TicketingStatus::Cancelled);
        assert!(f.store.ticket_operations(3).await.unwrap().is_empty());

        for (id, replaces, why) in [
            (20, "1", "another ticket already replaces"),
            (21, "12", "CONTROLLED"),
        ] {
            let path = f.write("again.csv", &header, &[r(id, "", replaces)]);
            let e = f.import(&path).await.unwrap_err();
            let ImportError::Conflict(e) = e else {
                panic!("expected a conflict, got {e}");
            };
            assert_eq!(
                (e.row, e.column.as_deref()),
                (2, Some("replaces_ticket_id")),
                "{e:?}"
            );
            assert!(e.message.contains(why), "{e:?}");
            assert!(
                f.store.ticket(id).await.unwrap().is_none(),
                "nothing imported"
            );
        }
        assert_eq!(t(12).await.status, TicketingStatus::Controlled);
    })
    .await;
}
