//! A realistic tournament for the demo and the benchmark: several matches in three
//! stadiums named in English and French, categories and tariffs, orders of one to four
//! tickets per contact, a parking service and a fan-zone pass dated by comfort
//! variables. Deterministic for a given seed.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use tixbridge_core::model::{ComfortVariables, DetailSection, Holder, ProductKind, TicketDetail};
use tixbridge_core::status::TicketingStatus;
use tixbridge_core::text::LocalizedText;
use tixbridge_store::{
    ImportContact, ImportPerformance, ImportProduct, ImportRow, ImportSeason, ImportSite,
};

pub const FIRST_TICKET_ID: i64 = 100_000_001;

struct Stadium {
    code: &'static str,
    en: &'static str,
    fr: &'static str,
    city_en: &'static str,
    city_fr: &'static str,
    zip: &'static str,
    country: &'static str,
}

const STADIUMS: [Stadium; 3] = [
    Stadium {
        code: "PAR",
        en: "Paris National Stadium",
        fr: "Stade national de Paris",
        city_en: "Paris",
        city_fr: "Paris",
        zip: "93200",
        country: "FR",
    },
    Stadium {
        code: "GVA",
        en: "Geneva Lake Arena",
        fr: "Arène du Lac de Genève",
        city_en: "Geneva",
        city_fr: "Genève",
        zip: "1227",
        country: "CH",
    },
    Stadium {
        code: "BRU",
        en: "Brussels King's Park",
        fr: "Parc du Roi de Bruxelles",
        city_en: "Brussels",
        city_fr: "Bruxelles",
        zip: "1020",
        country: "BE",
    },
];

/// (product, stage en, stage fr, home, away, home fr, away fr)
const MATCHES: [(&str, &str, &str, &str, &str, &str, &str); 8] = [
    (
        "GROUP",
        "Group A",
        "Groupe A",
        "France",
        "Switzerland",
        "France",
        "Suisse",
    ),
    (
        "GROUP", "Group A", "Groupe A", "Belgium", "Spain", "Belgique", "Espagne",
    ),
    (
        "GROUP",
        "Group B",
        "Groupe B",
        "Italy",
        "Germany",
        "Italie",
        "Allemagne",
    ),
    (
        "GROUP",
        "Group B",
        "Groupe B",
        "Portugal",
        "Netherlands",
        "Portugal",
        "Pays-Bas",
    ),
    (
        "SEMI",
        "Semi-final",
        "Demi-finale",
        "Winner A",
        "Runner-up B",
        "Vainqueur A",
        "Deuxième B",
    ),
    (
        "SEMI",
        "Semi-final",
        "Demi-finale",
        "Winner B",
        "Runner-up A",
        "Vainqueur B",
        "Deuxième A",
    ),
    (
        "FINAL",
        "Third place",
        "Petite finale",
        "Loser SF1",
        "Loser SF2",
        "Perdant DF1",
        "Perdant DF2",
    ),
    (
        "FINAL",
        "Final",
        "Finale",
        "Winner SF1",
        "Winner SF2",
        "Vainqueur DF1",
        "Vainqueur DF2",
    ),
];

const CATEGORIES: [(&str, i64); 4] = [
    ("CAT1", 18000),
    ("CAT2", 12000),
    ("CAT3", 7500),
    ("CAT4", 4000),
];
const FIRST_NAMES: [&str; 12] = [
    "Léa", "Hugo", "Emma", "Louis", "Chloé", "Noah", "Inès", "Jules", "Mila", "Arthur", "Zoé",
    "Adam",
];
const LAST_NAMES: [&str; 12] = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent",
];

fn season() -> ImportSeason {
    ImportSeason {
        code: "EC2028".into(),
        name: "European Cup 2028".into(),
        start: Utc.with_ymd_and_hms(2028, 6, 1, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2028, 7, 31, 23, 59, 0).unwrap(),
    }
}

fn site(s: &Stadium) -> ImportSite {
    ImportSite {
        code: s.code.into(),
        name: LocalizedText::new("en", s.en).with("fr", s.fr),
        city: LocalizedText::new("en", s.city_en).with("fr", s.city_fr),
        zip: s.zip.into(),
        country_code: s.country.into(),
        line1: LocalizedText::default(),
        line2: LocalizedText::default(),
        time_zone: None,
    }
}

fn match_start(i: usize) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2028, 6, 12, 19, 0, 0).unwrap() + Duration::days(4 * i as i64)
}

/// Streams `n` ticket rows; ticket ids start at [`FIRST_TICKET_ID`].
pub fn tournament(n: u64, seed: u64) -> impl Iterator<Item = ImportRow> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut contact_no = 0u64;
    let mut left_in_file = 0u32;
    let mut file_no = 0u64;
    let mut file_match = 0usize;
    let mut file_cat = 0usize;
    let mut contact = None::<ImportContact>;
    (0..n).map(move |i| {
        if left_in_file == 0 {
            left_in_file = rng.random_range(1..=4);
            file_no += 1;
            contact_no += 1;
            file_match = rng.random_range(0..MATCHES.len() + 1);
            file_cat = rng.random_range(0..CATEGORIES.len());
            let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
            let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
            contact = Some(ImportContact {
                number: format!("C{contact_no:08}"),
                email: Some(format!(
                    "{}.{}{}@example.org",
                    ascii(first),
                    ascii(last),
                    contact_no
                )),
                first_name: Some(first.into()),
                last_name: Some(last.into()),
                gender: Some(["M", "F", "U"][rng.random_range(0..3)].into()),
                title: None,
                // Two buyers in three bought online.
                internet_account: Some(!contact_no.is_multiple_of(3)),
                kind: None,
            });
        }
        left_in_file -= 1;
        let id = FIRST_TICKET_ID + i as i64;
        let contact = contact.clone().expect("set at the start of each file");
        let purchase = Utc.with_ymd_and_hms(2028, 3, 1, 10, 0, 0).unwrap()
            + Duration::minutes((file_no % 100_000) as i64);
        let (cat, price) = CATEGORIES[file_cat];
        let holder = if rng.random_bool(0.7) {
            Holder {
                first_name: contact.first_name.clone(),
                last_name: contact.last_name.clone(),
                birth_date: Some(format!(
                    "19{:02}-0{}-1{}",
                    rng.random_range(50..99),
                    rng.random_range(1..10),
                    rng.random_range(0..10)
                )),
                id_number: Some(format!("ID{:09}", rng.random_range(0..1_000_000_000u64))),
                country_code: Some("FR".into()),
                birth_region: None,
                birth_place: None,
            }
        } else {
            Holder::default()
        };
        let base = ImportRow {
            ticket_id: id,
            tax_number: format!("26{:010}", id - FIRST_TICKET_ID + 1),
            barcode: format!(
                "{:016}",
                rng.random_range(1_000_000_000_000_000u64..9_999_999_999_999_999)
            ),
            file_id: Some(format!("F{file_no:08}")),
            status: TicketingStatus::NotPrinted,
            cause: None,
            replaces_ticket_id: None,
            shipment_mode: tixbridge_core::model::WALLET_SHIPMENT_MODE.into(),
            sales_channel: Some(
                if file_no.is_multiple_of(5) {
                    "BOX"
                } else {
                    "WEB"
                }
                .into(),
            ),
            season: Some(season()),
            product: ImportProduct {
                code: String::new(),
                kind: ProductKind::Match,
                family: None,
                name: LocalizedText::default(),
                comfort: ComfortVariables::default(),
            },
            performance: None,
            site: None,
            tariff: Some(
                if rng.random_bool(0.15) {
                    "CHILD"
                } else {
                    "FULL"
                }
                .into(),
            ),
            category: Some(cat.into()),
            price_cents: Some(price),
            currency: Some("EUR".into()),
            purchase_date: Some(purchase),
            validity_start: None,
            validity_end: None,
            details: Vec::new(),
            contact,
            holder,
            main_applicant: left_in_file == 0,
            linked_ticket_ids: Vec::new(),
        };
        if file_match < MATCHES.len() {
            let (prod, stage_en, stage_fr, home, away, home_fr, away_fr) = MATCHES[file_match];
            let stadium = &STADIUMS[file_match % STADIUMS.len()];
            let start = match_start(file_match);
            let gate = ["A", "B", "C", "D", "E", "F"][rng.random_range(0..6)];
            ImportRow {
                product: ImportProduct {
                    code: prod.into(),
                    kind: ProductKind::Match,
                    family: Some("FOOTBALL".into()),
                    name: LocalizedText::new("en", format!("European Cup 2028 – {prod}"))
                        .with("fr", format!("Coupe d'Europe 2028 – {prod}")),
                    comfort: ComfortVariables::default(),
                },
                performance: Some(ImportPerformance {
                    code: format!("M{:02}", file_match + 1),
                    name: LocalizedText::new("en", format!("{home} – {away}"))
                        .with("fr", format!("{home_fr} – {away_fr}")),
                    group_name: LocalizedText::new("en", stage_en).with("fr", stage_fr),
                    start,
                    end: Some(start + Duration::hours(2)),
                }),
                site: Some(site(stadium)),
                details: vec![
                    detail("Gate", "Porte", gate),
                    detail(
                        "Block",
                        "Bloc",
                        &format!("{}{}", gate, rng.random_range(1..30)),
                    ),
                    detail("Row", "Rang", &rng.random_range(1..40).to_string()),
                    detail("Seat", "Place", &rng.random_range(1..60).to_string()),
                ],
                ..base
            }
        } else if file_no.is_multiple_of(2) {
            ImportRow {
                product: ImportProduct {
                    code: "PARKING".into(),
                    kind: ProductKind::Service,
                    family: Some("SERVICES".into()),
                    name: LocalizedText::new("en", "Tournament parking pass")
                        .with("fr", "Pass parking du tournoi"),
                    comfort: ComfortVariables {
                        tix_start: Some("start_of_season".into()),
                        tix_exp: Some("end_of_season".into()),
                        tix_act: Some("-3h".into()),
                        tix_rgrp: Some("PARKING".into()),
                    },
                },
                site: Some(site(&STADIUMS[0])),
                category: None,
                price_cents: Some(2500),
                ..base
            }
        } else {
            let vs = Utc.with_ymd_and_hms(2028, 6, 10, 12, 0, 0).unwrap();
            ImportRow {
                product: ImportProduct {
                    code: "FANZONE".into(),
                    kind: ProductKind::OpenPass,
                    family: Some("SERVICES".into()),
                    name: LocalizedText::new("en", "Fan zone pass").with("fr", "Pass fan zone"),
                    comfort: ComfortVariables {
                        tix_start: None,
                        tix_exp: Some("+4w".into()),
                        tix_act: None,
                        tix_rgrp: None,
                    },
                },
                site: Some(site(&STADIUMS[1])),
                validity_start: Some(vs),
                validity_end: Some(vs + Duration::weeks(4)),
                category: None,
                price_cents: Some(1000),
                ..base
            }
        }
    })
}

fn detail(en: &str, fr: &str, value: &str) -> TicketDetail {
    TicketDetail {
        section: DetailSection::Main,
        key: LocalizedText::new("en", en).with("fr", fr),
        value: LocalizedText::new("en", value),
    }
}

fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'é' | 'è' => 'e',
            'ï' => 'i',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The tax number prefix of seeded cards (tickets use `26`).
const CARD_TAX_PREFIX: &str = "27";

/// Streams `n` membership and season cards (DOMAIN.md §5.5) for the contacts of
/// [`tournament`] with the same seed: three in four are a tournament pass (a season
/// card of the season, valid until its end), the others a supporters' club membership.
/// Contacts are those of the tickets seeded with the same seed, in order. Card ids
/// start at `first_id`; a tournament pass links `linked_per_card` of the
/// tickets with ids from [`FIRST_TICKET_ID`] (the holder's matches).
pub fn cards(
    n: u64,
    seed: u64,
    first_id: i64,
    linked_per_card: u64,
) -> impl Iterator<Item = ImportRow> {
    tournament(n, seed).map(move |t| {
        let n = t.ticket_id - FIRST_TICKET_ID;
        let pass = n % 4 != 3;
        let product = if pass {
            ImportProduct {
                code: "CUP-PASS".into(),
                kind: ProductKind::SeasonCard,
                family: Some("CARDS".into()),
                name: LocalizedText::new("en", "European Cup 2028 tournament pass")
                    .with("fr", "Pass tournoi Coupe d'Europe 2028"),
                comfort: ComfortVariables::default(),
            }
        } else {
            ImportProduct {
                code: "SUPPORTERS".into(),
                kind: ProductKind::MembershipCard,
                family: Some("CARDS".into()),
                name: LocalizedText::new("en", "Supporters' club membership")
                    .with("fr", "Adhésion au club des supporters"),
                comfort: ComfortVariables::default(),
            }
        };
        let linked = if pass {
            let from = FIRST_TICKET_ID + n * linked_per_card as i64;
            (from..from + linked_per_card as i64).collect()
        } else {
            Vec::new()
        };
        ImportRow {
            ticket_id: first_id + n,
            tax_number: format!("{CARD_TAX_PREFIX}{:010}", n + 1),
            // Never a ticket's barcode (those are 16 digits).
            barcode: format!("CARD{:012}", n + 1),
            product,
            season: pass.then(season),
            performance: None,
            site: None,
            validity_end: pass.then(|| season().end),
            category: None,
            price_cents: Some(if pass { 39_000 } else { 4_500 }),
            linked_ticket_ids: linked,
            ..t
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_deterministic_and_well_formed() {
        let a: Vec<_> = tournament(200, 7).collect();
        let b: Vec<_> = tournament(200, 7).collect();
        assert_eq!(a, b);
        assert_eq!(a[0].ticket_id, FIRST_TICKET_ID);
        assert!(a.iter().any(|r| r.product.kind == ProductKind::Service));
        assert!(a.iter().any(|r| r.product.kind == ProductKind::OpenPass));
        for r in &a {
            assert_eq!(r.performance.is_some(), r.product.kind.has_performance());
            assert!(r.site.is_some());
        }
    }
}
