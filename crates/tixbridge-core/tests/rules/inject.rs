//! `inject.rs`: building the wallet ticket, the recipient rule, comfort variables
//! (DOMAIN.md §5.1, §7, §9).

use chrono::{DateTime, Duration, TimeZone, Utc};
use tixbridge_core::api::{self, Person};
use tixbridge_core::cause::Cause;
use tixbridge_core::inject::{
    BuildContext, CatalogIndex, FileTracker, RecipientSource, SkipReason, build_ticket,
    choose_recipient, eval_comfort, screen, should_kill, split_calls,
};
use tixbridge_core::model::{
    ComfortVariables, Contact, DetailSection, Holder, HolderField, InjectionParams,
    MainApplicantRule, Performance, PointOfSales, Product, ProductKind, Season, Site, TicketDetail,
    TicketRow,
};
use tixbridge_core::params::CustomParams;
use tixbridge_core::selection::TicketRefs;
use tixbridge_core::status::TicketingStatus;
use tixbridge_core::text::LocalizedText;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 14, 19, 0, 0).unwrap()
}

fn season_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
}

fn season_end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 7, 31, 0, 0, 0).unwrap()
}

fn injection() -> InjectionParams {
    InjectionParams {
        point_of_sales: PointOfSales::parse("WEB;P1").unwrap(),
        filters: Default::default(),
        barcode_prefix: String::new(),
        barcode_suffix: String::new(),
        mandatory_holder_fields: vec![],
        main_applicant_rule: MainApplicantRule::All,
        force: TicketRefs::default(),
        skip: TicketRefs::default(),
        simulation: false,
    }
}

/// A service product (no performance) with the given comfort variables.
fn service(comfort: ComfortVariables) -> Product {
    Product {
        id: 11,
        code: "PARK".into(),
        kind: ProductKind::Service,
        family: None,
        name: LocalizedText::new("en", "Parking"),
        season_code: Some("S26".into()),
        site_id: Some(1),
        comfort,
    }
}

fn catalog(comfort: ComfortVariables) -> CatalogIndex {
    let mut c = CatalogIndex::default();
    c.sites.insert(
        1,
        Site {
            id: 1,
            code: "STADE".into(),
            name: LocalizedText::new("en", "Grand Stadium"),
            city: LocalizedText::new("en", "Paris"),
            zip: "75000".into(),
            country_code: "FR".into(),
            line1: LocalizedText::new("en", "1 Stadium Road"),
            line2: LocalizedText::default(),
            time_zone: None,
        },
    );
    c.products.insert(
        10,
        Product {
            id: 10,
            code: "M1".into(),
            kind: ProductKind::Match,
            family: None,
            name: LocalizedText::new("en", "Match 1"),
            season_code: Some("S26".into()),
            site_id: None,
            comfort: ComfortVariables::default(),
        },
    );
    c.products.insert(11, service(comfort));
    c.performances.insert(
        100,
        Performance {
            id: 100,
            code: "P100".into(),
            product_id: 10,
            site_id: 1,
            name: LocalizedText::default(),
            group_name: LocalizedText::new("en", "Group A"),
            start: t0(),
            end: Some(t0() + Duration::hours(3)),
        },
    );
    c.seasons.insert(
        "S26".into(),
        Season {
            code: "S26".into(),
            name: "Season 2026".into(),
            start: season_start(),
            end: season_end(),
        },
    );
    c
}

fn ticket(id: i64) -> TicketRow {
    TicketRow {
        id,
        organization_id: 1,
        tax_number: format!("TX{id}"),
        barcode: format!("BC{id}"),
        file_id: Some("F1".into()),
        status: TicketingStatus::NotPrinted,
        cause: None,
        replaces_ticket_id: None,
        shipment_mode: "BLOCKCHAIN".into(),
        sales_channel: Some("WEB".into()),
        season_code: Some("S26".into()),
        product_id: 10,
        performance_id: Some(100),
        tariff: None,
        category: Some("CAT1".into()),
        price_cents: Some(1999),
        currency: Some("EUR".into()),
        purchase_date: Some(t0() - Duration::days(30)),
        validity_start: None,
        validity_end: None,
        details: vec![],
        contact_id: 7,
        holder: Holder::default(),
        main_applicant: false,
        printed_by: None,
        printed_at: None,
        linked_ticket_ids: Vec::new(),
    }
}

/// A service ticket: no performance, valid from `validity_start`.
fn service_ticket(validity_start: DateTime<Utc>) -> TicketRow {
    TicketRow {
        product_id: 11,
        performance_id: None,
        validity_start: Some(validity_start),
        ..ticket(6)
    }
}

fn contact() -> Contact {
    Contact {
        id: 7,
        email: Some("a@example.org".into()),
        first_name: Some("Ann".into()),
        last_name: Some("Able".into()),
        ..Default::default()
    }
}

fn build(cat: &CatalogIndex, t: &TicketRow) -> Result<api::Ticket, String> {
    let params = CustomParams::default();
    let inj = injection();
    let ctx = BuildContext {
        default_language: "en",
        params: &params,
        injection: &inj,
        catalog: cat,
        time_zone: chrono_tz::UTC,
    };
    build_ticket(&ctx, t, contact().to_person(), false).map_err(|e| e.message)
}

fn dates(t: &api::Ticket) -> (String, String) {
    let ev = t.event.as_ref().unwrap();
    (
        ev.start_time.clone().unwrap(),
        ev.expiration_date.clone().unwrap(),
    )
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A service without `TIXExp` nor a validity end expires 24 h after its start — not
/// before it (DOMAIN.md §9).
#[test]
fn a_service_default_expiry_is_a_day_after_its_start() {
    let start = Utc.with_ymd_and_hms(2026, 6, 20, 8, 0, 0).unwrap();
    let t = build(
        &catalog(ComfortVariables::default()),
        &service_ticket(start),
    )
    .unwrap();
    assert_eq!(dates(&t), (rfc(start), rfc(start + Duration::hours(24))));
    assert!(t.activation_parameters.is_none());
}

/// Without `TIXExp`, a ticket's validity end is its expiration; the start defaults to
/// the validity start, before the purchase date.
#[test]
fn a_service_uses_its_validity_window() {
    let start = Utc.with_ymd_and_hms(2026, 6, 20, 8, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2026, 6, 22, 8, 0, 0).unwrap();
    let mut tk = service_ticket(start);
    tk.validity_end = Some(end);
    let t = build(&catalog(ComfortVariables::default()), &tk).unwrap();
    assert_eq!(dates(&t), (rfc(start), rfc(end)));
    // No validity start: the purchase date.
    tk.validity_start = None;
    let t = build(&catalog(ComfortVariables::default()), &tk).unwrap();
    assert_eq!(dates(&t).0, rfc(t0() - Duration::days(30)));
    // Neither: refused, naming the field.
    tk.purchase_date = None;
    let e = build(&catalog(ComfortVariables::default()), &tk).unwrap_err();
    assert!(e.contains("event.startTime"), "{e}");
}

/// `TIXExp` counts from the (possibly moved) start, not from the base date.
#[test]
fn tix_exp_counts_from_tix_start() {
    let cat = catalog(ComfortVariables {
        tix_start: Some("+2d".into()),
        tix_exp: Some("+3h".into()),
        ..Default::default()
    });
    let base = Utc.with_ymd_and_hms(2026, 6, 20, 8, 0, 0).unwrap();
    let t = build(&cat, &service_ticket(base)).unwrap();
    let start = base + Duration::days(2);
    assert_eq!(dates(&t), (rfc(start), rfc(start + Duration::hours(3))));
    let cat = catalog(ComfortVariables {
        tix_exp: Some("end_of_season".into()),
        ..Default::default()
    });
    assert_eq!(
        dates(&build(&cat, &service_ticket(base)).unwrap()).1,
        rfc(season_end())
    );
}

/// `TIXAct` alone: online activation at its time, no group.
#[test]
fn tix_act_alone_gives_activation_parameters() {
    let cat = catalog(ComfortVariables {
        tix_act: Some("-30m".into()),
        ..Default::default()
    });
    let start = Utc.with_ymd_and_hms(2026, 6, 20, 8, 0, 0).unwrap();
    let act = build(&cat, &service_ticket(start))
        .unwrap()
        .activation_parameters
        .expect("TIXAct alone must give activation parameters");
    assert_eq!(act.method.as_deref(), Some("online"));
    assert_eq!(
        act.time.as_deref(),
        Some(rfc(start - Duration::minutes(30)).as_str())
    );
    assert_eq!(act.group_id, None);
}

/// `TIXRGrp` alone: online activation in that group, no time.
#[test]
fn tix_rgrp_alone_gives_activation_parameters() {
    let cat = catalog(ComfortVariables {
        tix_rgrp: Some("PARKING".into()),
        ..Default::default()
    });
    let start = Utc.with_ymd_and_hms(2026, 6, 20, 8, 0, 0).unwrap();
    let act = build(&cat, &service_ticket(start))
        .unwrap()
        .activation_parameters
        .expect("TIXRGrp alone must give activation parameters");
    assert_eq!(act.method.as_deref(), Some("online"));
    assert_eq!(act.time, None);
    assert_eq!(act.group_id.as_deref(), Some("PARKING"));
}

fn detail(section: DetailSection, key: &str) -> TicketDetail {
    TicketDetail {
        section,
        key: LocalizedText::new("en", key),
        value: LocalizedText::new("en", "1"),
    }
}

/// Details kept only in `extra` or only in `hidden` are sent, each in its own list.
#[test]
fn extra_or_hidden_details_alone_are_sent() {
    let cat = catalog(ComfortVariables::default());
    for section in [DetailSection::Extra, DetailSection::Hidden] {
        let mut tk = ticket(5);
        tk.details = vec![detail(section, "Row")];
        let d = build(&cat, &tk)
            .unwrap()
            .ticket_details
            .unwrap_or_else(|| panic!("{section:?} details dropped"));
        let (main, extra, hidden) = (d.main.len(), d.extra.len(), d.hidden.len());
        match section {
            DetailSection::Extra => assert_eq!((main, extra, hidden), (0, 1, 0)),
            _ => assert_eq!((main, extra, hidden), (0, 0, 1)),
        }
    }
    let mut tk = ticket(5);
    tk.details = vec![
        detail(DetailSection::Main, "Gate"),
        detail(DetailSection::Hidden, "Seat"),
        detail(DetailSection::Extra, "Block"),
    ];
    let d = build(&cat, &tk).unwrap().ticket_details.unwrap();
    assert_eq!(d.main[0].key.default_value(), "Gate");
    assert_eq!(d.extra[0].key.default_value(), "Block");
    assert_eq!(d.hidden[0].key.default_value(), "Seat");
    assert!(build(&cat, &ticket(5)).unwrap().ticket_details.is_none());
}

/// A performance's end, group, site address and the purchase details reach the ticket;
/// an unnamed performance takes its product's name.
#[test]
fn a_performance_ticket_carries_its_event_and_purchase() {
    let t = build(&catalog(ComfortVariables::default()), &ticket(5)).unwrap();
    assert_eq!(dates(&t), (rfc(t0()), rfc(t0() + Duration::hours(3))));
    let ev = t.event.as_ref().unwrap();
    assert_eq!(ev.name.as_ref().unwrap().default_value(), "Match 1");
    assert_eq!(
        ev.group
            .as_ref()
            .unwrap()
            .name
            .as_ref()
            .unwrap()
            .default_value(),
        "Group A"
    );
    let a = ev.address.as_ref().unwrap();
    assert_eq!(a.site.as_ref().unwrap().default_value(), "Grand Stadium");
    assert_eq!(a.city.as_ref().unwrap().default_value(), "Paris");
    assert_eq!(a.zip.as_deref(), Some("75000"));
    assert_eq!(a.country_code.as_deref(), Some("FR"));
    assert_eq!(a.line1.as_ref().unwrap().default_value(), "1 Stadium Road");
    assert!(a.line2.is_none());
    let p = t.purchase_details.as_ref().unwrap();
    assert_eq!(p.taxation_number.as_deref(), Some("TX5"));
    assert_eq!(p.price, Some(19.99));
    assert_eq!(
        p.purchase_date.as_deref(),
        Some(rfc(t0() - Duration::days(30)).as_str())
    );
    assert_eq!(
        t.sorting_key.as_deref(),
        Some("2026-06-14T19:00:00Z-00000000000000000005")
    );
}

#[test]
fn an_unknown_product_or_performance_is_named() {
    let cat = catalog(ComfortVariables::default());
    let mut tk = ticket(5);
    tk.performance_id = Some(999);
    let e = build(&cat, &tk).unwrap_err();
    assert!(e.contains("performance 999"), "{e}");
    tk.product_id = 998;
    let e = build(&cat, &tk).unwrap_err();
    assert!(e.contains("product 998"), "{e}");
}

/// Relative offsets in minutes, hours, days and weeks, both signs (DOMAIN.md §9).
#[test]
fn comfort_offsets_in_every_unit() {
    let b = t0();
    for (v, want) in [
        ("+30m", b + Duration::minutes(30)),
        ("-30m", b - Duration::minutes(30)),
        ("+3h", b + Duration::hours(3)),
        ("-3h", b - Duration::hours(3)),
        ("+2d", b + Duration::days(2)),
        ("-2d", b - Duration::days(2)),
        ("+1w", b + Duration::weeks(1)),
        (" -1w ", b - Duration::weeks(1)),
    ] {
        assert_eq!(
            eval_comfort("TIXAct", v, Some(b), None, chrono_tz::UTC).unwrap(),
            want,
            "{v}"
        );
    }
    let s = Season {
        code: "S".into(),
        name: "S".into(),
        start: season_start(),
        end: season_end(),
    };
    assert_eq!(
        eval_comfort(
            "TIXStart",
            "START_OF_SEASON",
            Some(b),
            Some(&s),
            chrono_tz::UTC
        )
        .unwrap(),
        season_start()
    );
    assert_eq!(
        eval_comfort("TIXExp", "end_of_season", Some(b), Some(&s), chrono_tz::UTC).unwrap(),
        season_end()
    );
    let e = eval_comfort("TIXExp", "end_of_season", Some(b), None, chrono_tz::UTC).unwrap_err();
    assert!(
        e.message.contains("TIXExp") && e.message.contains("no season"),
        "{}",
        e.message
    );
    for bad in ["+d", "+1", "tomorrow", "+1x"] {
        let e = eval_comfort("TIXStart", bad, Some(b), None, chrono_tz::UTC).unwrap_err();
        assert_eq!(e.code, "INVALID_COMFORT_VARIABLE", "{bad}");
        assert!(e.message.contains("TIXStart"), "{}", e.message);
    }
}

/// A reprint whose last wallet owner has no (or an empty) email goes back to the
/// cultural contact (DOMAIN.md §5.1).
#[test]
fn a_reprint_without_the_last_owner_email_goes_to_the_cultural_contact() {
    let params = CustomParams::default();
    let reprint = Cause::parse("REPRINT").unwrap();
    for email in [None, Some(String::new())] {
        let owner = Person {
            email: email.clone(),
            first_name: Some("Bob".into()),
            ..Default::default()
        };
        let (p, src) = choose_recipient(&params, &contact(), Some((Some(&reprint), Some(&owner))));
        assert_eq!(src, RecipientSource::CulturalContact, "{email:?}");
        assert_eq!(p.email.as_deref(), Some("a@example.org"));
    }
    // No cause known: still the last owner when they have an email.
    let owner = Person {
        email: Some("b@example.org".into()),
        ..Default::default()
    };
    let (p, src) = choose_recipient(&params, &contact(), Some((None, Some(&owner))));
    assert_eq!(
        (p.email.as_deref(), src),
        (Some("b@example.org"), RecipientSource::LastWalletOwner)
    );
}

#[test]
fn screening_reasons_are_named() {
    let mut inj = injection();
    let mut t = ticket(9);
    inj.skip = TicketRefs::parse("id:9").unwrap();
    assert_eq!(screen(&t, &inj), Some(SkipReason::SkipList));
    inj.skip = TicketRefs::default();
    inj.mandatory_holder_fields = vec![HolderField::Lastname];
    assert_eq!(
        screen(&t, &inj),
        Some(SkipReason::MissingHolderField(HolderField::Lastname))
    );
    t.holder.last_name = Some("Lee".into());
    inj.main_applicant_rule = MainApplicantRule::OnlyMainApplicant;
    assert_eq!(screen(&t, &inj), Some(SkipReason::NotMainApplicant));
    t.main_applicant = true;
    assert_eq!(screen(&t, &inj), None);
    assert_eq!(SkipReason::SkipList.to_string(), "on the skip list");
    assert_eq!(
        SkipReason::MissingHolderField(HolderField::Birthdate).to_string(),
        "holder field BIRTHDATE is missing"
    );
    assert_eq!(
        SkipReason::NotMainApplicant.to_string(),
        "not the main applicant"
    );
}

#[test]
fn main_applicant_flags() {
    let mut tr = FileTracker::default();
    let mut a = ticket(1);
    a.file_id = None;
    let mut b = ticket(2);
    b.file_id = None;
    // Without a file, each ticket is its own first.
    assert!(tr.main_applicant(MainApplicantRule::FirstOfFile, &a));
    assert!(tr.main_applicant(MainApplicantRule::FirstOfFile, &b));
    b.main_applicant = true;
    assert!(tr.main_applicant(MainApplicantRule::OnlyMainApplicant, &b));
    assert!(!tr.main_applicant(MainApplicantRule::All, &a));
}

#[test]
fn kill_ratio_and_call_splitting_bounds() {
    assert!(should_kill(0.0, 1, 10));
    assert!(!should_kill(0.0, 0, 10));
    assert!(should_kill(0.99, 10, 10));
    assert!(!should_kill(0.5, 1, 2));
    assert_eq!(
        split_calls(vec![1, 2, 3], 0),
        vec![vec![1], vec![2], vec![3]]
    );
    assert_eq!(split_calls(vec![1, 2, 3], 2), vec![vec![1, 2], vec![3]]);
    assert!(split_calls(Vec::<u8>::new(), 5).is_empty());
}
