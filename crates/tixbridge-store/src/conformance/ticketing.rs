//! Conformance checks of the ticketing store. Each check takes a freshly opened, empty
//! store and panics with a message naming what differs. `tests/conformance_ticketing.rs`
//! runs every check on every backend.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};

use tixbridge_core::api::Person;
use tixbridge_core::cause::Cause;
use tixbridge_core::model::{
    ComfortVariables, Counts, DetailSection, FunctionKind, Holder, InjectionFilters, InterfaceKind,
    MobileProjection, Organization, Outcome, ProductKind, TicketDetail, TicketError,
    WALLET_SHIPMENT_MODE,
};
use tixbridge_core::selection::TicketRefs;
use tixbridge_core::status::{TicketingStatus, WalletStatus};
use tixbridge_core::text::LocalizedText;

use crate::{
    ImportContact, ImportPerformance, ImportProduct, ImportRow, ImportSeason, ImportSite,
    InjectedMark, InjectionQuery, LaunchMode, MarkedBy, NewInterface, NewSchedule, Schedule,
    StoreError, TicketingStore,
};

type Store = Arc<dyn TicketingStore>;

/// Every check, by name, for harnesses that want to loop.
pub const CHECKS: &[&str] = &[
    "organizations",
    "import_commit_makes_rows_visible",
    "import_drop_rolls_back",
    "import_conflicts",
    "import_barcodes_are_never_reused",
    "time_zones",
    "catalog_entries",
    "contacts_are_upserted",
    "injection_filters",
    "injection_file_number_is_exclusive",
    "injection_order_and_keyset",
    "injection_force",
    "injection_exclusions",
    "injection_reprint",
    "mark_injected",
    "interfaces",
    "schedules",
    "executions",
    "projections",
    "count_by_status",
    "corrections_refuse_what_needs_an_operation",
    "corrections_resend_changed_injected_tickets",
    "causes_default_and_added",
    "operations_change_status_and_record_history",
    "operations_refused_change_nothing",
    "reprint_replaces_the_ticket_once",
    "gate_scans_control_tickets",
    "resale_posts_sells_and_withdraws",
];

pub use super::corrections::{
    corrections_refuse_what_needs_an_operation, corrections_resend_changed_injected_tickets,
};
pub use super::operations::{
    causes_default_and_added, gate_scans_control_tickets,
    operations_change_status_and_record_history, operations_refused_change_nothing,
    reprint_replaces_the_ticket_once, resale_posts_sells_and_withdraws,
};

/// A fixed time, whole seconds, so every backend stores it exactly.
pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("test time")
        .with_timezone(&Utc)
}

/// A complete ticket row of a match: season S2026, product FINAL (family FOOTBALL),
/// performance M64 at site STADE, sales channel WEB, tariff FULL, category CAT1, file
/// F1, contact `C<id>`. Tests change what they need.
pub fn sample_row(ticket_id: i64) -> ImportRow {
    ImportRow {
        ticket_id,
        tax_number: format!("TX{ticket_id}"),
        barcode: format!("BC{ticket_id}"),
        file_id: Some("F1".into()),
        status: TicketingStatus::NotPrinted,
        cause: None,
        replaces_ticket_id: None,
        shipment_mode: WALLET_SHIPMENT_MODE.into(),
        sales_channel: Some("WEB".into()),
        season: Some(ImportSeason {
            code: "S2026".into(),
            name: "Season 2026".into(),
            start: at("2026-01-01T00:00:00Z"),
            end: at("2026-12-31T23:00:00Z"),
        }),
        product: ImportProduct {
            code: "FINAL".into(),
            kind: ProductKind::Match,
            family: Some("FOOTBALL".into()),
            name: LocalizedText::new("en", "Final").with("fr", "Finale"),
            comfort: ComfortVariables::default(),
        },
        performance: Some(ImportPerformance {
            code: "M64".into(),
            name: LocalizedText::new("en", "Final match").with("fr", "Match final"),
            group_name: LocalizedText::new("en", "Finals"),
            start: at("2026-07-19T19:00:00Z"),
            end: Some(at("2026-07-19T21:00:00Z")),
        }),
        site: Some(stade()),
        tariff: Some("FULL".into()),
        category: Some("CAT1".into()),
        price_cents: Some(4550),
        currency: Some("EUR".into()),
        purchase_date: Some(at("2026-03-01T10:30:00Z")),
        validity_start: None,
        validity_end: None,
        details: vec![
            TicketDetail {
                section: DetailSection::Main,
                key: LocalizedText::new("en", "Gate"),
                value: LocalizedText::new("en", "A"),
            },
            TicketDetail {
                section: DetailSection::Main,
                key: LocalizedText::new("en", "Seat"),
                value: LocalizedText::new("en", "12"),
            },
        ],
        contact: ImportContact {
            number: format!("C{ticket_id}"),
            email: Some(format!("c{ticket_id}@example.org")),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            gender: Some("F".into()),
            title: Some("Dr".into()),
            ..Default::default()
        },
        holder: Holder {
            first_name: Some("Grace".into()),
            last_name: Some("Hopper".into()),
            birth_date: Some("1906-12-09".into()),
            id_number: Some("ID42".into()),
            country_code: Some("US".into()),
            birth_region: None,
            birth_place: Some("New York".into()),
        },
        main_applicant: true,
        linked_ticket_ids: Vec::new(),
    }
}

fn stade() -> ImportSite {
    ImportSite {
        code: "STADE".into(),
        name: LocalizedText::new("en", "National Stadium").with("fr", "Stade national"),
        city: LocalizedText::new("en", "Paris"),
        zip: "93200".into(),
        country_code: "FR".into(),
        line1: LocalizedText::new("en", "1 Stadium Road"),
        line2: LocalizedText::default(),
        time_zone: None,
    }
}

/// An open pass: no performance; its site is attached to the product.
pub fn open_pass_row(ticket_id: i64) -> ImportRow {
    let mut r = sample_row(ticket_id);
    r.product = ImportProduct {
        code: "MUSEUM".into(),
        kind: ProductKind::OpenPass,
        family: Some("CULTURE".into()),
        name: LocalizedText::new("en", "Museum pass"),
        comfort: ComfortVariables {
            tix_start: Some("start_of_season".into()),
            tix_exp: Some("+1w".into()),
            tix_act: Some("-3h".into()),
            tix_rgrp: Some("G1".into()),
        },
    };
    r.performance = None;
    r.site = Some(ImportSite {
        code: "MUSEUM_SITE".into(),
        name: LocalizedText::new("en", "Museum"),
        city: LocalizedText::new("en", "Lyon"),
        zip: "69001".into(),
        country_code: "FR".into(),
        line1: LocalizedText::new("en", "2 Art Street"),
        line2: LocalizedText::new("en", "Wing B"),
        time_zone: None,
    });
    r
}

pub(crate) async fn org(store: &Store, code: &str) -> Organization {
    store
        .ensure_organization(code, &format!("Organization {code}"), "en")
        .await
        .expect("ensure_organization")
}

pub(crate) async fn import(store: &Store, organization_id: i64, rows: Vec<ImportRow>) {
    let mut s = store
        .begin_import(organization_id)
        .await
        .expect("begin_import");
    s.add(rows).await.expect("add");
    s.commit().await.expect("commit");
}

pub(crate) async fn injection_schedule(store: &Store, organization_id: i64) -> Schedule {
    let iface = store
        .create_interface(new_interface(
            organization_id,
            &format!("iface-{organization_id}"),
        ))
        .await
        .expect("create_interface");
    store
        .create_schedule(NewSchedule {
            interface_id: iface.id,
            name: format!("inject-{organization_id}"),
            function: FunctionKind::Injection,
            launch_mode: LaunchMode::Manual,
            frequency_secs: None,
            starts_at: None,
            ends_at: None,
            batch_size: 1000,
            params: serde_json::json!({"point_of_sales": {"sales_channel": "WEB", "pos": "POS1"}}),
        })
        .await
        .expect("create_schedule")
}

pub(crate) fn new_interface(organization_id: i64, name: &str) -> NewInterface {
    NewInterface {
        organization_id,
        name: name.into(),
        kind: InterfaceKind::Tixngo,
        url: "https://wallet.example/api/organizer/tickets".into(),
        login: "admin@example.org".into(),
        api_key: SecretString::from("s3cr3t-api-key-value"),
        notification_emails: vec!["ops@example.org".into(), "dev@example.org".into()],
        custom_params: "ticketIterationSize=25\nexcludeTicketResale=true".into(),
    }
}

pub(crate) fn person(email: &str) -> Person {
    Person {
        email: Some(email.into()),
        first_name: Some("Bob".into()),
        last_name: Some("Builder".into()),
        ..Person::default()
    }
}

async fn candidate_ids(store: &Store, organization_id: i64, q: InjectionQuery) -> Vec<i64> {
    store
        .injection_candidates(organization_id, &q)
        .await
        .expect("injection_candidates")
        .into_iter()
        .map(|c| c.ticket.id)
        .collect()
}

fn query(filters: InjectionFilters) -> InjectionQuery {
    InjectionQuery {
        filters,
        cards: false,
        force: TicketRefs::default(),
        after_id: 0,
        limit: 1000,
    }
}

fn conflict_message(r: crate::Result<()>, what: &str) -> String {
    match r {
        Err(StoreError::Conflict(m)) => m,
        other => panic!("{what}: expected a conflict, got {other:?}"),
    }
}

// ---- checks ---------------------------------------------------------------------------

/// Organizations are created once per code; lookups by code and id; the list by code.
pub async fn organizations(store: Store) {
    assert_eq!(store.organizations().await.unwrap(), vec![]);
    let a = store
        .ensure_organization("ACME", "Acme Events", "fr")
        .await
        .unwrap();
    assert_eq!(a.code, "ACME");
    assert_eq!(a.name, "Acme Events");
    assert_eq!(a.default_language, "fr");
    let again = store
        .ensure_organization("ACME", "Another name", "en")
        .await
        .unwrap();
    assert_eq!(again, a, "ensure_organization must return the existing one");
    assert_eq!(store.organization(a.id).await.unwrap(), a);
    assert_eq!(
        store.organization_by_code("ACME").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.organization_by_code("NOPE").await.unwrap(), None);
    assert!(matches!(
        store.organization(a.id + 1000).await,
        Err(StoreError::NotFound(_))
    ));
    let b = org(&store, "OTHER").await;
    assert_ne!(a.id, b.id);
    let first = org(&store, "ABC").await;
    assert_eq!(
        store.organizations().await.unwrap(),
        vec![first, a.clone(), b.clone()],
        "every organization, by code"
    );
    assert!(matches!(
        store.ensure_organization("BAD", "Bad", "english").await,
        Err(StoreError::Invalid(_))
    ));
    store.ping().await.unwrap();
}

/// Rows added to an import are invisible until commit, then all visible, every field
/// as given.
pub async fn import_commit_makes_rows_visible(store: Store) {
    let o = org(&store, "ACME").await;
    assert!(matches!(
        store.begin_import(o.id + 1000).await.map(|_| ()),
        Err(StoreError::NotFound(_))
    ));
    let mut row = sample_row(1001);
    row.file_id = Some("ORDER-7".into());
    row.cause = Cause::parse("reprint");
    row.replaces_ticket_id = Some(999);
    row.validity_start = Some(at("2026-07-01T00:00:00Z"));
    row.validity_end = Some(at("2026-07-31T00:00:00Z"));
    let mut s = store.begin_import(o.id).await.unwrap();
    s.add(vec![row.clone(), sample_row(1002)]).await.unwrap();
    s.add(vec![open_pass_row(1003)]).await.unwrap();
    assert_eq!(
        store.ticket(1001).await.unwrap(),
        None,
        "an uncommitted import must not be visible"
    );
    assert_eq!(s.commit().await.unwrap(), 3);

    let t = store.ticket(1001).await.unwrap().expect("ticket 1001");
    let cat = store.catalog(o.id).await.unwrap();
    let final_ = cat.products.iter().find(|p| p.code == "FINAL").unwrap();
    let m64 = cat.performances.iter().find(|p| p.code == "M64").unwrap();
    assert_eq!(t.id, 1001);
    assert_eq!(t.organization_id, o.id);
    assert_eq!(t.tax_number, "TX1001");
    assert_eq!(t.barcode, "BC1001");
    assert_eq!(t.file_id.as_deref(), Some("ORDER-7"));
    assert_eq!(t.status, TicketingStatus::NotPrinted);
    assert_eq!(t.cause, Cause::parse("REPRINT"));
    assert_eq!(t.replaces_ticket_id, Some(999));
    assert_eq!(t.shipment_mode, WALLET_SHIPMENT_MODE);
    assert_eq!(t.sales_channel.as_deref(), Some("WEB"));
    assert_eq!(t.season_code.as_deref(), Some("S2026"));
    assert_eq!(t.product_id, final_.id);
    assert_eq!(t.performance_id, Some(m64.id));
    assert_eq!(t.tariff.as_deref(), Some("FULL"));
    assert_eq!(t.category.as_deref(), Some("CAT1"));
    assert_eq!(t.price_cents, Some(4550));
    assert_eq!(t.currency.as_deref(), Some("EUR"));
    assert_eq!(t.purchase_date, row.purchase_date);
    assert_eq!(t.validity_start, row.validity_start);
    assert_eq!(t.validity_end, row.validity_end);
    assert_eq!(t.details, row.details);
    assert_eq!(t.holder, row.holder);
    assert!(t.main_applicant);
    assert_eq!(t.printed_by, None);
    assert_eq!(t.printed_at, None);
    let c = store.contact(t.contact_id).await.unwrap().expect("contact");
    assert_eq!(c.email.as_deref(), Some("c1001@example.org"));
    assert_eq!(c.first_name.as_deref(), Some("Ada"));
    assert_eq!(c.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(c.gender.as_deref(), Some("F"));
    assert_eq!(c.title.as_deref(), Some("Dr"));
    assert!(!c.temporary);
    assert_eq!(store.contact(t.contact_id + 1000).await.unwrap(), None);

    let pass = store.ticket(1003).await.unwrap().expect("ticket 1003");
    assert_eq!(pass.performance_id, None);
    assert_eq!(store.ticket(1004).await.unwrap(), None);
}

/// Dropping a session without commit leaves the store as it was, and the store stays
/// usable (the writer is released).
pub async fn import_drop_rolls_back(store: Store) {
    let o = org(&store, "ACME").await;
    import(&store, o.id, vec![sample_row(1)]).await;
    {
        let mut s = store.begin_import(o.id).await.unwrap();
        let mut row = sample_row(2);
        row.product.code = "NEWPROD".into();
        row.performance.as_mut().unwrap().code = "NEWPERF".into();
        row.contact.number = "NEWC".into();
        s.add(vec![row]).await.unwrap();
        s.add(vec![sample_row(3)]).await.unwrap();
        drop(s);
    }
    // A write after the drop must wait for the rollback, not fail.
    org(&store, "AFTER").await;
    assert_eq!(store.ticket(2).await.unwrap(), None);
    assert_eq!(store.ticket(3).await.unwrap(), None);
    let cat = store.catalog(o.id).await.unwrap();
    assert!(
        cat.products.iter().all(|p| p.code != "NEWPROD"),
        "catalog entries of a dropped import must be rolled back"
    );
    assert!(cat.performances.iter().all(|p| p.code != "NEWPERF"));
    assert_eq!(
        store.count_by_status(o.id).await.unwrap(),
        vec![(TicketingStatus::NotPrinted, 1)]
    );
    // A new import works after the rollback.
    import(&store, o.id, vec![sample_row(2)]).await;
    assert!(store.ticket(2).await.unwrap().is_some());
}

/// A ticket id or tax number already present — in the store, earlier in the import, or
/// twice in one chunk — is refused with a conflict naming it; a refused chunk leaves
/// no trace.
pub async fn import_conflicts(store: Store) {
    let o = org(&store, "ACME").await;
    import(&store, o.id, vec![sample_row(1)]).await;

    let mut s = store.begin_import(o.id).await.unwrap();
    let m = conflict_message(s.add(vec![sample_row(1)]).await, "id already stored");
    assert!(m.contains("ticket id 1 "), "{m}");
    drop(s);

    let mut s = store.begin_import(o.id).await.unwrap();
    let mut row = sample_row(2);
    row.tax_number = "TX1".into();
    let m = conflict_message(s.add(vec![row]).await, "tax number already stored");
    assert!(m.contains("\"TX1\""), "{m}");
    drop(s);

    let mut s = store.begin_import(o.id).await.unwrap();
    let m = conflict_message(
        s.add(vec![sample_row(3), sample_row(3)]).await,
        "id twice in one chunk",
    );
    assert!(m.contains("ticket id 3 "), "{m}");
    drop(s);

    let mut s = store.begin_import(o.id).await.unwrap();
    s.add(vec![sample_row(4)]).await.unwrap();
    let mut row = sample_row(5);
    row.tax_number = "TX4".into();
    let m = conflict_message(s.add(vec![row]).await, "tax number earlier in the import");
    assert!(m.contains("\"TX4\""), "{m}");
    let m = conflict_message(s.add(vec![sample_row(4)]).await, "id earlier in the import");
    assert!(m.contains("ticket id 4 "), "{m}");
    drop(s);
    assert_eq!(store.ticket(4).await.unwrap(), None);

    // A refused chunk is undone as a whole; the rest of the import may still commit.
    let mut s = store.begin_import(o.id).await.unwrap();
    s.add(vec![sample_row(6)]).await.unwrap();
    let r = s.add(vec![sample_row(7), sample_row(1)]).await;
    conflict_message(r, "chunk with a stored id");
    assert_eq!(s.commit().await.unwrap(), 1);
    assert!(store.ticket(6).await.unwrap().is_some());
    assert_eq!(
        store.ticket(7).await.unwrap(),
        None,
        "a refused chunk must leave no row behind"
    );

    // Tax numbers are unique per organization, not across organizations.
    let other = org(&store, "OTHER").await;
    let mut row = sample_row(8);
    row.tax_number = "TX1".into();
    import(&store, other.id, vec![row]).await;
}

/// Issue 7 item 9: a barcode held by any ticket of the organization (whatever its
/// status), earlier in the import or earlier in the chunk is refused naming that
/// ticket; other organizations may use it.
pub async fn import_barcodes_are_never_reused(store: Store) {
    let o = org(&store, "ACME").await;
    let mut cancelled = sample_row(1);
    cancelled.status = TicketingStatus::Cancelled;
    import(&store, o.id, vec![cancelled]).await;

    let mut s = store.begin_import(o.id).await.unwrap();
    let mut row = sample_row(2);
    row.barcode = "BC1".into();
    let m = conflict_message(s.add(vec![row]).await, "barcode of a cancelled ticket");
    assert!(
        m.contains("barcode \"BC1\" is already held by ticket 1"),
        "{m}"
    );
    drop(s);

    let mut s = store.begin_import(o.id).await.unwrap();
    s.add(vec![sample_row(3)]).await.unwrap();
    let mut row = sample_row(4);
    row.barcode = "BC3".into();
    let m = conflict_message(s.add(vec![row]).await, "barcode earlier in the import");
    assert!(m.contains("held by ticket 3"), "{m}");
    let mut row = sample_row(6);
    row.barcode = "BC5".into();
    let m = conflict_message(
        s.add(vec![sample_row(5), row]).await,
        "barcode earlier in the chunk",
    );
    assert!(
        m.contains("barcode \"BC5\" is already held by ticket 5"),
        "{m}"
    );
    drop(s);
    assert_eq!(store.ticket(3).await.unwrap(), None);

    let other = org(&store, "OTHER").await;
    let mut row = sample_row(7);
    row.barcode = "BC1".into();
    import(&store, other.id, vec![row]).await;
}

/// Issue 7 item 3: organizations start in UTC and take a zone; a site keeps the zone
/// an import gave it until another import gives another (an import naming none keeps
/// it).
pub async fn time_zones(store: Store) {
    use tixbridge_core::local_time::{DEFAULT_ZONE, parse_zone};
    let o = org(&store, "ACME").await;
    assert_eq!(o.time_zone, DEFAULT_ZONE);
    let paris = parse_zone("Europe/Paris").unwrap();
    let o2 = store.set_organization_time_zone(o.id, paris).await.unwrap();
    assert_eq!(o2.time_zone, paris);
    assert_eq!(store.organization(o.id).await.unwrap(), o2);
    assert!(matches!(
        store.set_organization_time_zone(o.id + 1000, paris).await,
        Err(StoreError::NotFound(_))
    ));

    let lisbon = parse_zone("Europe/Lisbon").unwrap();
    let mut row = sample_row(1);
    row.site.as_mut().unwrap().time_zone = Some(lisbon);
    import(&store, o.id, vec![row]).await;
    let site_zone = |cat: crate::Catalog| {
        cat.sites
            .iter()
            .find(|s| s.code == "STADE")
            .map(|s| s.time_zone)
    };
    assert_eq!(
        site_zone(store.catalog(o.id).await.unwrap()),
        Some(Some(lisbon))
    );
    import(&store, o.id, vec![sample_row(2)]).await;
    assert_eq!(
        site_zone(store.catalog(o.id).await.unwrap()),
        Some(Some(lisbon)),
        "an import naming no zone keeps the site's"
    );
}

/// Imports create catalog entries by code, and a later import updates them.
pub async fn catalog_entries(store: Store) {
    let o = org(&store, "ACME").await;
    import(&store, o.id, vec![sample_row(1), open_pass_row(2)]).await;
    let cat = store.catalog(o.id).await.unwrap();
    assert_eq!(cat.seasons.len(), 1);
    let season = &cat.seasons[0];
    assert_eq!(season.code, "S2026");
    assert_eq!(season.name, "Season 2026");
    assert_eq!(season.start, at("2026-01-01T00:00:00Z"));
    assert_eq!(season.end, at("2026-12-31T23:00:00Z"));

    assert_eq!(cat.sites.len(), 2);
    let st = cat.sites.iter().find(|s| s.code == "STADE").unwrap();
    let want = stade();
    assert_eq!(st.name, want.name);
    assert_eq!(st.city, want.city);
    assert_eq!(st.zip, want.zip);
    assert_eq!(st.country_code, want.country_code);
    assert_eq!(st.line1, want.line1);
    assert_eq!(st.line2, want.line2);
    let museum_site = cat.sites.iter().find(|s| s.code == "MUSEUM_SITE").unwrap();
    assert_eq!(museum_site.line2, LocalizedText::new("en", "Wing B"));

    assert_eq!(cat.products.len(), 2);
    let final_ = cat.products.iter().find(|p| p.code == "FINAL").unwrap();
    assert_eq!(final_.kind, ProductKind::Match);
    assert_eq!(final_.family.as_deref(), Some("FOOTBALL"));
    assert_eq!(final_.name.get("fr"), Some("Finale"));
    assert_eq!(final_.season_code.as_deref(), Some("S2026"));
    assert_eq!(
        final_.site_id, None,
        "a product with performances has no site"
    );
    let museum = cat.products.iter().find(|p| p.code == "MUSEUM").unwrap();
    assert_eq!(museum.kind, ProductKind::OpenPass);
    assert_eq!(
        museum.site_id,
        Some(museum_site.id),
        "a product without performance carries its site"
    );
    assert_eq!(museum.comfort, open_pass_row(2).product.comfort);

    assert_eq!(cat.performances.len(), 1);
    let m64 = &cat.performances[0];
    assert_eq!(m64.code, "M64");
    assert_eq!(m64.product_id, final_.id);
    assert_eq!(m64.site_id, st.id);
    assert_eq!(m64.name.get("fr"), Some("Match final"));
    assert_eq!(m64.group_name, LocalizedText::new("en", "Finals"));
    assert_eq!(m64.start, at("2026-07-19T19:00:00Z"));
    assert_eq!(m64.end, Some(at("2026-07-19T21:00:00Z")));

    // A later import naming the same codes updates the entries in place.
    let mut row = sample_row(3);
    row.product.name = LocalizedText::new("en", "Grand final");
    row.performance.as_mut().unwrap().start = at("2026-07-19T20:00:00Z");
    import(&store, o.id, vec![row]).await;
    let cat2 = store.catalog(o.id).await.unwrap();
    assert_eq!(cat2.products.len(), 2);
    let final2 = cat2.products.iter().find(|p| p.code == "FINAL").unwrap();
    assert_eq!(final2.id, final_.id);
    assert_eq!(final2.name, LocalizedText::new("en", "Grand final"));
    assert_eq!(cat2.performances[0].id, m64.id);
    assert_eq!(cat2.performances[0].start, at("2026-07-19T20:00:00Z"));

    // Catalogs are per organization.
    let other = org(&store, "OTHER").await;
    let cat3 = store.catalog(other.id).await.unwrap();
    assert!(cat3.products.is_empty() && cat3.sites.is_empty() && cat3.performances.is_empty());
}

/// A contact is keyed by its number: a later row updates it instead of duplicating it.
pub async fn contacts_are_upserted(store: Store) {
    let o = org(&store, "ACME").await;
    let mut a = sample_row(1);
    a.contact.number = "K1".into();
    let mut b = sample_row(2);
    b.contact.number = "K1".into();
    import(&store, o.id, vec![a, b]).await;
    let t1 = store.ticket(1).await.unwrap().unwrap();
    let t2 = store.ticket(2).await.unwrap().unwrap();
    assert_eq!(t1.contact_id, t2.contact_id, "one contact per number");

    let mut c = sample_row(3);
    c.contact.number = "K1".into();
    c.contact.email = Some("new@example.org".into());
    import(&store, o.id, vec![c]).await;
    let t3 = store.ticket(3).await.unwrap().unwrap();
    assert_eq!(t3.contact_id, t1.contact_id);
    let contact = store.contact(t1.contact_id).await.unwrap().unwrap();
    assert_eq!(contact.email.as_deref(), Some("new@example.org"));
}

/// Tickets that differ from the base ticket (1) in exactly one filtered attribute.
async fn filter_fixture(store: &Store) -> Organization {
    let o = org(store, "ACME").await;
    let mut rows = vec![sample_row(1)];
    let mut r = sample_row(2);
    r.sales_channel = Some("BOX".into());
    rows.push(r);
    let mut r = sample_row(3);
    r.season.as_mut().unwrap().code = "S2027".into();
    rows.push(r);
    let mut r = sample_row(4);
    r.product.code = "TENNIS_DAY".into();
    r.product.family = Some("TENNIS".into());
    r.performance.as_mut().unwrap().code = "T1".into();
    rows.push(r);
    let mut r = sample_row(5);
    r.product.code = "SEMI".into();
    r.performance.as_mut().unwrap().code = "M63".into();
    rows.push(r);
    let mut r = sample_row(6);
    r.performance.as_mut().unwrap().code = "M62".into();
    rows.push(r);
    let mut r = sample_row(7);
    r.tariff = Some("REDUCED".into());
    rows.push(r);
    let mut r = sample_row(8);
    r.category = Some("CAT2".into());
    rows.push(r);
    let mut r = sample_row(9);
    r.file_id = Some("F9".into());
    rows.push(r);
    import(store, o.id, rows).await;
    o
}

/// Each filter selects on its attribute; filters are ANDed.
pub async fn injection_filters(store: Store) {
    let o = filter_fixture(&store).await;
    let all = candidate_ids(&store, o.id, query(InjectionFilters::default())).await;
    assert_eq!(all, (1..=9).collect::<Vec<_>>());
    let cases: Vec<(InjectionFilters, Vec<i64>)> = vec![
        (
            InjectionFilters {
                sales_channel: Some("BOX".into()),
                ..Default::default()
            },
            vec![2],
        ),
        (
            InjectionFilters {
                season: Some("S2027".into()),
                ..Default::default()
            },
            vec![3],
        ),
        (
            InjectionFilters {
                product_family: Some("TENNIS".into()),
                ..Default::default()
            },
            vec![4],
        ),
        (
            InjectionFilters {
                product: Some("SEMI".into()),
                ..Default::default()
            },
            vec![5],
        ),
        (
            InjectionFilters {
                performance: Some("M62".into()),
                ..Default::default()
            },
            vec![6],
        ),
        (
            InjectionFilters {
                tariff: Some("REDUCED".into()),
                ..Default::default()
            },
            vec![7],
        ),
        (
            InjectionFilters {
                category: Some("CAT2".into()),
                ..Default::default()
            },
            vec![8],
        ),
        (
            InjectionFilters {
                sales_channel: Some("WEB".into()),
                tariff: Some("FULL".into()),
                category: Some("CAT1".into()),
                ..Default::default()
            },
            vec![1, 3, 4, 5, 6, 9],
        ),
        (
            InjectionFilters {
                product_family: Some("FOOTBALL".into()),
                performance: Some("M64".into()),
                season: Some("S2026".into()),
                product: Some("FINAL".into()),
                ..Default::default()
            },
            vec![1, 2, 7, 8, 9],
        ),
        (
            InjectionFilters {
                sales_channel: Some("BOX".into()),
                tariff: Some("REDUCED".into()),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (f, want) in cases {
        let got = candidate_ids(&store, o.id, query(f.clone())).await;
        assert_eq!(got, want, "filters {f:?}");
    }
}

/// A file number selects its tickets and ignores every other filter.
pub async fn injection_file_number_is_exclusive(store: Store) {
    let o = filter_fixture(&store).await;
    let f9 = InjectionFilters {
        file_number: Some("F9".into()),
        sales_channel: Some("BOX".into()),
        tariff: Some("NOPE".into()),
        ..Default::default()
    };
    assert_eq!(candidate_ids(&store, o.id, query(f9)).await, vec![9]);
    let f1 = InjectionFilters {
        file_number: Some("F1".into()),
        category: Some("CAT2".into()),
        ..Default::default()
    };
    assert_eq!(
        candidate_ids(&store, o.id, query(f1)).await,
        vec![1, 2, 3, 4, 5, 6, 7, 8]
    );
    let none = InjectionFilters {
        file_number: Some("NO-SUCH-FILE".into()),
        ..Default::default()
    };
    assert!(candidate_ids(&store, o.id, query(none)).await.is_empty());
}

/// Candidates come ordered by ticket id, whatever the import order, and pages follow
/// `after_id` without gaps or repeats.
pub async fn injection_order_and_keyset(store: Store) {
    let o = org(&store, "ACME").await;
    let ids = [50_i64, 10, 40, 20, 30, 70, 60];
    import(&store, o.id, ids.iter().map(|i| sample_row(*i)).collect()).await;
    let mut sorted = ids.to_vec();
    sorted.sort();
    assert_eq!(
        candidate_ids(&store, o.id, query(InjectionFilters::default())).await,
        sorted
    );
    let mut pages = Vec::new();
    let mut after_id = 0;
    loop {
        let page = candidate_ids(
            &store,
            o.id,
            InjectionQuery {
                after_id,
                limit: 3,
                ..Default::default()
            },
        )
        .await;
        assert!(page.len() <= 3);
        let Some(last) = page.last().copied() else {
            break;
        };
        after_id = last;
        pages.push(page);
    }
    assert_eq!(pages, vec![vec![10, 20, 30], vec![40, 50, 60], vec![70]]);
    assert!(
        candidate_ids(
            &store,
            o.id,
            InjectionQuery {
                limit: 0,
                ..Default::default()
            }
        )
        .await
        .is_empty()
    );
    // Another organization's tickets are never candidates.
    let other = org(&store, "OTHER").await;
    assert!(
        candidate_ids(&store, other.id, query(InjectionFilters::default()))
            .await
            .is_empty()
    );
}

/// A force list takes only its tickets, by id or by tax number, printed or not,
/// processed or not, whatever the filters — but never cancelled tickets, cards or other
/// shipment modes.
pub async fn injection_force(store: Store) {
    let o = org(&store, "ACME").await;
    let sched = injection_schedule(&store, o.id).await;
    let mut rows = vec![sample_row(1)];
    let mut r = sample_row(2);
    r.status = TicketingStatus::Printed;
    rows.push(r);
    let mut r = sample_row(3);
    r.status = TicketingStatus::Cancelled;
    rows.push(r);
    rows.push(sample_row(4));
    let mut r = sample_row(5);
    r.product.code = "MEMBER".into();
    r.product.kind = ProductKind::MembershipCard;
    r.performance = None;
    rows.push(r);
    let mut r = sample_row(6);
    r.shipment_mode = "PRINT_AT_HOME".into();
    rows.push(r);
    rows.push(sample_row(7));
    rows.push(sample_row(8));
    import(&store, o.id, rows).await;
    store
        .mark_injected(
            MarkedBy::schedule(sched.id),
            "WEB;POS1",
            at("2026-05-01T12:00:00Z"),
            vec![InjectedMark {
                ticket_id: 4,
                recipient: person("a@example.org"),
            }],
        )
        .await
        .unwrap();

    let force = TicketRefs::parse("id:1, id:2, id:3, id:4, id:5, id:6, TX7, id:999").unwrap();
    let q = InjectionQuery {
        filters: InjectionFilters {
            sales_channel: Some("NO-SUCH-CHANNEL".into()),
            file_number: Some("NO-SUCH-FILE".into()),
            ..Default::default()
        },
        cards: false,
        force,
        after_id: 0,
        limit: 100,
    };
    assert_eq!(
        candidate_ids(&store, o.id, q.clone()).await,
        vec![1, 2, 4, 7]
    );
    assert_eq!(
        candidate_ids(
            &store,
            o.id,
            InjectionQuery {
                after_id: 2,
                limit: 1,
                ..q.clone()
            }
        )
        .await,
        vec![4]
    );
    let by_tax = InjectionQuery {
        force: TicketRefs::parse("TX8, TX2, NOPE").unwrap(),
        ..query(InjectionFilters::default())
    };
    assert_eq!(candidate_ids(&store, o.id, by_tax).await, vec![2, 8]);
    // Forcing another organization's ticket finds nothing.
    let other = org(&store, "OTHER").await;
    let q_other = InjectionQuery {
        force: TicketRefs::parse("id:1, TX1").unwrap(),
        ..query(InjectionFilters::default())
    };
    assert!(candidate_ids(&store, other.id, q_other).await.is_empty());
}

/// Without force: only NOT_PRINTED tickets of the wallet shipment mode and of ticket
/// products, not yet processed by injection.
pub async fn injection_exclusions(store: Store) {
    let o = org(&store, "ACME").await;
    let sched = injection_schedule(&store, o.id).await;
    let mut rows = Vec::new();
    for (id, status) in [
        (2, TicketingStatus::Printed),
        (3, TicketingStatus::Controlled),
        (4, TicketingStatus::Invalidated),
        (5, TicketingStatus::Cancelled),
    ] {
        let mut r = sample_row(id);
        r.status = status;
        rows.push(r);
    }
    rows.push(sample_row(1));
    let mut r = sample_row(6);
    r.shipment_mode = "PRINT_AT_HOME".into();
    rows.push(r);
    let mut r = sample_row(7);
    r.product.code = "MEMBER".into();
    r.product.kind = ProductKind::MembershipCard;
    r.performance = None;
    rows.push(r);
    let mut r = sample_row(8);
    r.product.code = "SEASONCARD".into();
    r.product.kind = ProductKind::SeasonCard;
    r.performance = None;
    rows.push(r);
    rows.push(open_pass_row(9));
    let mut r = open_pass_row(10);
    r.product.code = "PARKING".into();
    r.product.kind = ProductKind::Service;
    rows.push(r);
    rows.push(sample_row(11));
    import(&store, o.id, rows).await;
    assert_eq!(
        candidate_ids(&store, o.id, query(InjectionFilters::default())).await,
        vec![1, 9, 10, 11]
    );
    store
        .mark_injected(
            MarkedBy::schedule(sched.id),
            "WEB;POS1",
            at("2026-05-01T12:00:00Z"),
            vec![InjectedMark {
                ticket_id: 11,
                recipient: person("a@example.org"),
            }],
        )
        .await
        .unwrap();
    assert_eq!(
        candidate_ids(&store, o.id, query(InjectionFilters::default())).await,
        vec![1, 9, 10],
        "a processed ticket is not selected again"
    );
}

/// A reprint carries the replaced ticket's cause and its last wallet owner; the
/// candidate carries its cultural contact.
pub async fn injection_reprint(store: Store) {
    let o = org(&store, "ACME").await;
    let mut old = sample_row(100);
    old.status = TicketingStatus::Invalidated;
    old.cause = Cause::parse("Theft");
    let mut new = sample_row(101);
    new.replaces_ticket_id = Some(100);
    new.contact = old.contact.clone();
    let mut no_projection = sample_row(102);
    no_projection.replaces_ticket_id = Some(100_000);
    let mut plain = sample_row(103);
    plain.contact.email = Some("plain@example.org".into());
    import(&store, o.id, vec![old, new, no_projection, plain]).await;
    let owner = person("b@example.org");
    store
        .put_projection(MobileProjection {
            ticket_id: 100,
            wallet_status: WalletStatus::Transferred,
            owner: Some(owner.clone()),
            holder: None,
            transfer_level: 1,
            updated_at: at("2026-04-01T08:00:00Z"),
            status_changed_at: None,
            initial_owner: None,
            previous_owner: None,
            deletion: None,
        })
        .await
        .unwrap();
    let cands = store
        .injection_candidates(o.id, &query(InjectionFilters::default()))
        .await
        .unwrap();
    assert_eq!(
        cands.iter().map(|c| c.ticket.id).collect::<Vec<_>>(),
        vec![101, 102, 103]
    );
    let c101 = &cands[0];
    let replaced = c101.replaced.as_ref().expect("replaced ticket");
    assert_eq!(replaced.ticket_id, 100);
    assert_eq!(replaced.cause, Cause::parse("THEFT"));
    assert_eq!(replaced.last_owner, Some(owner));
    assert_eq!(c101.contact.email.as_deref(), Some("c100@example.org"));
    assert_eq!(c101.contact.id, c101.ticket.contact_id);
    let r102 = cands[1].replaced.as_ref().expect("replaced ticket");
    assert_eq!(r102.ticket_id, 100_000);
    assert_eq!(r102.cause, None);
    assert_eq!(r102.last_owner, None);
    assert_eq!(cands[2].replaced, None);
    assert_eq!(cands[2].contact.email.as_deref(), Some("plain@example.org"));
    assert_eq!(cands[2].ticket, store.ticket(103).await.unwrap().unwrap());
}

/// Marking prints the ticket, records the processed marker and the projection, in one
/// go; tickets no longer printable are left alone.
pub async fn mark_injected(store: Store) {
    let o = org(&store, "ACME").await;
    let sched = injection_schedule(&store, o.id).await;
    let mut printed = sample_row(2);
    printed.status = TicketingStatus::Printed;
    let mut cancelled = sample_row(3);
    cancelled.status = TicketingStatus::Cancelled;
    import(&store, o.id, vec![sample_row(1), printed, cancelled]).await;
    let when = at("2026-05-01T12:00:00Z");
    let marks = vec![
        InjectedMark {
            ticket_id: 1,
            recipient: person("one@example.org"),
        },
        InjectedMark {
            ticket_id: 2,
            recipient: person("two@example.org"),
        },
        InjectedMark {
            ticket_id: 3,
            recipient: person("three@example.org"),
        },
    ];
    assert!(matches!(
        store
            .mark_injected(
                MarkedBy::schedule(sched.id + 1000),
                "WEB;POS1",
                when,
                marks.clone()
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.ticket(1).await.unwrap().unwrap().status,
        TicketingStatus::NotPrinted,
        "a refused mark changes nothing"
    );
    store
        .mark_injected(MarkedBy::schedule(sched.id), "WEB;POS1", when, marks)
        .await
        .unwrap();
    for (id, email) in [(1, "one@example.org"), (2, "two@example.org")] {
        let t = store.ticket(id).await.unwrap().unwrap();
        assert_eq!(t.status, TicketingStatus::Printed, "ticket {id}");
        assert_eq!(t.printed_by.as_deref(), Some("WEB;POS1"), "ticket {id}");
        assert_eq!(t.printed_at, Some(when), "ticket {id}");
        assert_eq!(
            store
                .processed_at(id, FunctionKind::Injection)
                .await
                .unwrap(),
            Some(when),
            "ticket {id}"
        );
        let p = store.projection(id).await.unwrap().expect("projection");
        assert_eq!(p.wallet_status, WalletStatus::Injected);
        assert_eq!(p.owner, Some(person(email)));
        assert_eq!(p.holder, None);
        assert_eq!(p.transfer_level, 0);
        assert_eq!(p.updated_at, when);
    }
    assert_eq!(
        store
            .processed_at(1, FunctionKind::PushControlled)
            .await
            .unwrap(),
        None
    );
    let t3 = store.ticket(3).await.unwrap().unwrap();
    assert_eq!(
        t3.status,
        TicketingStatus::Cancelled,
        "a cancelled ticket stays so"
    );
    assert_eq!(t3.printed_by, None);
    assert_eq!(
        store
            .processed_at(3, FunctionKind::Injection)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.projection(3).await.unwrap(), None);

    // A forced re-injection marks again (new time, new point of sales). The wallet
    // keeps the owner of a ticket that is already on a phone, and so does the
    // projection; a ticket still INJECTED takes the new recipient.
    store
        .put_projection(MobileProjection {
            ticket_id: 1,
            wallet_status: WalletStatus::Transferred,
            owner: Some(person("x@example.org")),
            holder: Some(person("h@example.org")),
            transfer_level: 2,
            updated_at: when,
            status_changed_at: None,
            initial_owner: None,
            previous_owner: None,
            deletion: None,
        })
        .await
        .unwrap();
    let later = when + Duration::hours(1);
    store
        .mark_injected(
            MarkedBy::schedule(sched.id),
            "BOX;POS9",
            later,
            vec![
                InjectedMark {
                    ticket_id: 1,
                    recipient: person("again@example.org"),
                },
                InjectedMark {
                    ticket_id: 2,
                    recipient: person("new@example.org"),
                },
            ],
        )
        .await
        .unwrap();
    let t1 = store.ticket(1).await.unwrap().unwrap();
    assert_eq!(t1.printed_by.as_deref(), Some("BOX;POS9"));
    assert_eq!(t1.printed_at, Some(later));
    assert_eq!(
        store
            .processed_at(1, FunctionKind::Injection)
            .await
            .unwrap(),
        Some(later)
    );
    let p = store.projection(1).await.unwrap().unwrap();
    assert_eq!(p.owner, Some(person("x@example.org")));
    assert_eq!(p.holder, Some(person("h@example.org")));
    assert_eq!(p.transfer_level, 2);
    assert_eq!(p.wallet_status, WalletStatus::Transferred);
    let p2 = store.projection(2).await.unwrap().unwrap();
    assert_eq!(p2.owner, Some(person("new@example.org")));
    assert_eq!(p2.wallet_status, WalletStatus::Injected);
    store
        .mark_injected(MarkedBy::schedule(sched.id), "WEB;POS1", later, Vec::new())
        .await
        .unwrap();
}

/// One interface per organization; the API key is kept and never shown by Debug.
pub async fn interfaces(store: Store) {
    let a = org(&store, "ACME").await;
    let b = org(&store, "OTHER").await;
    let c = org(&store, "THIRD").await;
    let created = store
        .create_interface(new_interface(a.id, "acme-wallet"))
        .await
        .unwrap();
    assert_eq!(created.organization_id, a.id);
    assert_eq!(created.name, "acme-wallet");
    assert_eq!(created.kind, InterfaceKind::Tixngo);
    assert_eq!(created.url, "https://wallet.example/api/organizer/tickets");
    assert_eq!(created.login, "admin@example.org");
    assert_eq!(created.api_key.expose_secret(), "s3cr3t-api-key-value");
    assert_eq!(
        created.notification_emails,
        vec!["ops@example.org", "dev@example.org"]
    );
    assert_eq!(
        created.custom_params,
        "ticketIterationSize=25\nexcludeTicketResale=true"
    );
    let debug = format!("{created:?}");
    assert!(
        !debug.contains("s3cr3t-api-key-value"),
        "Debug must not show the API key: {debug}"
    );

    let got = store.interface(created.id).await.unwrap();
    assert_eq!(got.api_key.expose_secret(), "s3cr3t-api-key-value");
    assert_eq!(got.name, created.name);
    let by_name = store
        .interface_by_name("acme-wallet")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_name.id, created.id);
    assert!(store.interface_by_name("nope").await.unwrap().is_none());
    assert!(matches!(
        store.interface(created.id + 1000).await,
        Err(StoreError::NotFound(_))
    ));

    match store.create_interface(new_interface(a.id, "second")).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("organization"), "{m}"),
        other => panic!("a second interface for one organization: {other:?}"),
    }
    let mut with_template = new_interface(b.id, "other-wallet");
    with_template.kind = InterfaceKind::TixngoWithTemplate;
    with_template.notification_emails = Vec::new();
    let other = store.create_interface(with_template).await.unwrap();
    assert_eq!(other.kind, InterfaceKind::TixngoWithTemplate);
    assert!(other.notification_emails.is_empty());
    assert!(matches!(
        store
            .create_interface(new_interface(c.id, "acme-wallet"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let mut bad_url = new_interface(c.id, "bad-url");
    bad_url.url = "https://wallet.example/api".into();
    assert!(matches!(
        store.create_interface(bad_url).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .create_interface(new_interface(c.id + 1000, "no-org"))
            .await,
        Err(StoreError::NotFound(_))
    ));
    let all = store.interfaces().await.unwrap();
    assert_eq!(
        all.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        vec!["acme-wallet", "other-wallet"]
    );
}

/// Schedules round-trip every field; names are unique.
pub async fn schedules(store: Store) {
    let a = org(&store, "ACME").await;
    let iface = store
        .create_interface(new_interface(a.id, "acme-wallet"))
        .await
        .unwrap();
    let params = serde_json::json!({
        "point_of_sales": {"sales_channel": "WEB", "pos": "POS1"},
        "filters": {"performance": "M64"},
        "simulation": true
    });
    let new = NewSchedule {
        interface_id: iface.id,
        name: "inject-final".into(),
        function: FunctionKind::Injection,
        launch_mode: LaunchMode::Automatic,
        frequency_secs: Some(300),
        starts_at: Some(at("2026-06-01T00:00:00Z")),
        ends_at: Some(at("2026-08-01T00:00:00Z")),
        batch_size: 1000,
        params: params.clone(),
    };
    let s = store.create_schedule(new.clone()).await.unwrap();
    assert_eq!(s.interface_id, iface.id);
    assert_eq!(s.name, "inject-final");
    assert_eq!(s.function, FunctionKind::Injection);
    assert_eq!(s.launch_mode, LaunchMode::Automatic);
    assert_eq!(s.frequency_secs, Some(300));
    assert_eq!(s.starts_at, new.starts_at);
    assert_eq!(s.ends_at, new.ends_at);
    assert_eq!(s.batch_size, 1000);
    assert_eq!(s.params, params);

    let feedback = store
        .create_schedule(NewSchedule {
            name: "feedback".into(),
            function: FunctionKind::Feedback,
            launch_mode: LaunchMode::Manual,
            frequency_secs: None,
            starts_at: None,
            ends_at: None,
            params: serde_json::json!({}),
            ..new.clone()
        })
        .await
        .unwrap();
    assert_eq!(feedback.function, FunctionKind::Feedback);
    assert_eq!(feedback.starts_at, None);

    match store.create_schedule(new.clone()).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("inject-final"), "{m}"),
        other => panic!("a duplicate schedule name: {other:?}"),
    }
    assert!(matches!(
        store
            .create_schedule(NewSchedule {
                interface_id: iface.id + 1000,
                name: "orphan".into(),
                ..new.clone()
            })
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.schedule_by_name("inject-final").await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(store.schedule_by_name("nope").await.unwrap(), None);
    assert_eq!(store.schedules(iface.id).await.unwrap(), vec![s, feedback]);
    assert!(store.schedules(iface.id + 1000).await.unwrap().is_empty());
}

/// Executions start running, finish with an outcome and counts, keep their errors in
/// order, and list most recent first.
pub async fn executions(store: Store) {
    let a = org(&store, "ACME").await;
    let sched = injection_schedule(&store, a.id).await;
    let t0 = at("2026-05-01T12:00:00Z");
    let e1 = store
        .start_execution(super::executions::start(sched.id, t0))
        .await
        .unwrap();
    assert_eq!(e1.schedule_id, sched.id);
    assert_eq!(e1.started_at, t0);
    assert_eq!(e1.ended_at, None);
    assert_eq!(e1.outcome, None);
    assert_eq!(e1.counts, Counts::default());
    assert_eq!(store.execution(e1.id).await.unwrap(), Some(e1.clone()));
    assert!(matches!(
        store
            .start_execution(super::executions::start(sched.id + 1000, t0))
            .await,
        Err(StoreError::NotFound(_))
    ));

    let counts = Counts {
        selected: 10,
        sent: 9,
        succeeded: 7,
        failed: 2,
        skipped: 1,
        unsent: 0,
    };
    store
        .finish_execution(
            e1.id,
            t0 + Duration::seconds(5),
            Outcome::Error,
            counts,
            Some("2 tickets failed".into()),
        )
        .await
        .unwrap();
    let done = store.execution(e1.id).await.unwrap().unwrap();
    assert_eq!(done.ended_at, Some(t0 + Duration::seconds(5)));
    assert_eq!(done.outcome, Some(Outcome::Error));
    assert_eq!(done.counts, counts);
    assert_eq!(done.message.as_deref(), Some("2 tickets failed"));
    assert!(matches!(
        store
            .finish_execution(e1.id + 1000, t0, Outcome::Ok, counts, None)
            .await,
        Err(StoreError::NotFound(_))
    ));

    let errors = vec![
        TicketError {
            ticket_id: Some(1),
            tax_number: Some("TX1".into()),
            code: "MISSING_FIELD".into(),
            message: "event.name is missing".into(),
        },
        TicketError {
            ticket_id: None,
            tax_number: None,
            code: "WALLET_DOWN".into(),
            message: "the wallet answered 503".into(),
        },
    ];
    store
        .add_execution_errors(e1.id, errors.clone())
        .await
        .unwrap();
    let third = TicketError {
        ticket_id: Some(3),
        tax_number: Some("TX3".into()),
        code: "REFUSED".into(),
        message: "refused".into(),
    };
    store
        .add_execution_errors(e1.id, vec![third.clone()])
        .await
        .unwrap();
    store.add_execution_errors(e1.id, Vec::new()).await.unwrap();
    let mut want = errors;
    want.push(third);
    assert_eq!(store.execution_errors(e1.id).await.unwrap(), want);

    let e2 = store
        .start_execution(super::executions::start(
            sched.id,
            t0 + Duration::minutes(5),
        ))
        .await
        .unwrap();
    let e2_end = t0 + Duration::minutes(6);
    store
        .finish_execution(e2.id, e2_end, Outcome::Ok, Counts::default(), None)
        .await
        .unwrap();
    let e3 = store
        .start_execution(super::executions::start(
            sched.id,
            t0 + Duration::minutes(10),
        ))
        .await
        .unwrap();
    assert!(store.execution_errors(e2.id).await.unwrap().is_empty());
    let recent: Vec<i64> = store
        .executions(sched.id, 2)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(recent, vec![e3.id, e2.id]);
    assert_eq!(store.executions(sched.id, 10).await.unwrap().len(), 3);
    assert_eq!(store.execution(e3.id + 1000).await.unwrap(), None);
}

/// Projections are created, replaced and read back whole.
pub async fn projections(store: Store) {
    let a = org(&store, "ACME").await;
    import(&store, a.id, vec![sample_row(1)]).await;
    assert_eq!(store.projection(1).await.unwrap(), None);
    let p = MobileProjection {
        ticket_id: 1,
        wallet_status: WalletStatus::Downloaded,
        owner: Some(person("o@example.org")),
        holder: None,
        transfer_level: 0,
        updated_at: at("2026-05-01T12:00:00Z"),
        status_changed_at: None,
        initial_owner: None,
        previous_owner: None,
        deletion: None,
    };
    store.put_projection(p.clone()).await.unwrap();
    assert_eq!(store.projection(1).await.unwrap(), Some(p));
    let p2 = MobileProjection {
        ticket_id: 1,
        wallet_status: WalletStatus::Assigned,
        owner: Some(person("o2@example.org")),
        holder: Some(Person {
            main_applicant: Some(true),
            ..person("h@example.org")
        }),
        transfer_level: 3,
        updated_at: at("2026-05-02T12:00:00Z"),
        // What Feedback brings: every column round-trips.
        status_changed_at: Some(at("2026-05-02T11:59:00Z")),
        initial_owner: Some(person("i@example.org")),
        previous_owner: Some(person("p@example.org")),
        deletion: Some(tixbridge_core::api::Deletion {
            reason: "THEFT".into(),
            show_deleted_ticket: true,
            requested_at: "2026-05-02T11:00:00.000Z".into(),
            confirmed_at: None,
        }),
    };
    store.put_projection(p2.clone()).await.unwrap();
    assert_eq!(store.projection(1).await.unwrap(), Some(p2.clone()));
    assert!(matches!(
        store
            .put_projection(MobileProjection {
                ticket_id: 999,
                ..p2
            })
            .await,
        Err(StoreError::NotFound(_))
    ));
}

/// Counts per status, per organization, in the order of the statuses.
pub async fn count_by_status(store: Store) {
    let a = org(&store, "ACME").await;
    let b = org(&store, "OTHER").await;
    assert!(store.count_by_status(a.id).await.unwrap().is_empty());
    let mut rows = Vec::new();
    for (id, status) in [
        (1, TicketingStatus::Cancelled),
        (2, TicketingStatus::NotPrinted),
        (3, TicketingStatus::NotPrinted),
        (4, TicketingStatus::Printed),
    ] {
        let mut r = sample_row(id);
        r.status = status;
        rows.push(r);
    }
    import(&store, a.id, rows).await;
    import(&store, b.id, vec![sample_row(5)]).await;
    assert_eq!(
        store.count_by_status(a.id).await.unwrap(),
        vec![
            (TicketingStatus::NotPrinted, 2),
            (TicketingStatus::Printed, 1),
            (TicketingStatus::Cancelled, 1),
        ]
    );
    assert_eq!(
        store.count_by_status(b.id).await.unwrap(),
        vec![(TicketingStatus::NotPrinted, 1)]
    );
}
