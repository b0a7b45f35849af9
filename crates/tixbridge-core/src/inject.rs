//! The pure half of the injection function (DOMAIN.md §5.1, §7, §9): which tickets are
//! sent, to whom, and what the wallet ticket looks like. The interface crate feeds it
//! rows read from the store and sends what it builds.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDateTime, SecondsFormat, Utc};

use crate::api::{
    self, ActivationParameters, Address, DetailEntry, EventGroup, FieldError, Person,
    PurchaseDetails, Security, TicketDetails, TransferRules,
};
use crate::cause::Cause;
use crate::local_time::{self, Tz, rfc3339_in};
use crate::model::{
    ComfortVariables, Contact, DetailSection, HolderField, InjectionParams, MainApplicantRule,
    Performance, Product, Season, Site, TicketRow,
};
use crate::params::CustomParams;
use crate::text::LocalizedText;

/// Why a selected ticket is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// On the schedule's skip list.
    SkipList,
    /// The holder lacks a field the schedule requires.
    MissingHolderField(HolderField),
    /// The schedule sends main applicants only.
    NotMainApplicant,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::SkipList => f.write_str("on the skip list"),
            SkipReason::MissingHolderField(h) => {
                write!(f, "holder field {} is missing", h.as_str())
            }
            SkipReason::NotMainApplicant => f.write_str("not the main applicant"),
        }
    }
}

/// Screens one selected ticket against the schedule: `Some(reason)` when it must not be
/// sent.
pub fn screen(ticket: &TicketRow, params: &InjectionParams) -> Option<SkipReason> {
    if params.skip.contains(ticket.id, &ticket.tax_number) {
        return Some(SkipReason::SkipList);
    }
    if let Some(f) = params
        .mandatory_holder_fields
        .iter()
        .find(|f| !ticket.holder.has(**f))
    {
        return Some(SkipReason::MissingHolderField(*f));
    }
    if params.main_applicant_rule == MainApplicantRule::OnlyMainApplicant && !ticket.main_applicant
    {
        return Some(SkipReason::NotMainApplicant);
    }
    None
}

/// Where a ticket's recipient came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientSource {
    CulturalContact,
    LastWalletOwner,
}

/// The cause of a ticket sold on the resale platform.
const RESOLD: &str = "RESOLD";

/// The recipient rule for injection (DOMAIN.md §5.1). `replaced` is, for a reprint, the
/// cause of the ticket it replaces and that ticket's last wallet owner (from Feedback).
///
/// A ticket issued by a resale sale (the replaced ticket's cause is `RESOLD`) always
/// goes to its cultural contact, the buyer: the last owner of the old ticket is the
/// seller, who sold it (our decision; the public material only says the seller's ticket
/// is invalidated).
pub fn choose_recipient(
    params: &CustomParams,
    cultural: &Contact,
    replaced: Option<(Option<&Cause>, Option<&Person>)>,
) -> (Person, RecipientSource) {
    let cultural_person = || (cultural.to_person(), RecipientSource::CulturalContact);
    let Some((cause, last_owner)) = replaced else {
        return cultural_person();
    };
    if !params.overlay_spectator_details_with_last_owner
        || cause.is_some_and(|c| c.as_str() == RESOLD)
    {
        return cultural_person();
    }
    if cause.is_some_and(|c| params.reset_injection_invalidation_reasons.contains(c)) {
        return cultural_person();
    }
    match last_owner {
        Some(owner) if owner.email.as_deref().is_some_and(|e| !e.is_empty()) => {
            (owner.clone(), RecipientSource::LastWalletOwner)
        }
        _ => cultural_person(),
    }
}

/// The catalog an execution works with, indexed.
#[derive(Debug, Clone, Default)]
pub struct CatalogIndex {
    pub products: HashMap<i64, Product>,
    pub performances: HashMap<i64, Performance>,
    pub sites: HashMap<i64, Site>,
    pub seasons: HashMap<String, Season>,
}

/// What building a wallet ticket needs besides the ticket itself.
pub struct BuildContext<'a> {
    pub default_language: &'a str,
    /// The organization's zone: the venue's when its site names none
    /// ([`crate::local_time`]).
    pub time_zone: Tz,
    pub params: &'a CustomParams,
    pub injection: &'a InjectionParams,
    pub catalog: &'a CatalogIndex,
}

/// A ticket that cannot be built: the message names the field or the missing record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    pub code: &'static str,
    pub message: String,
}

impl From<FieldError> for BuildError {
    fn from(e: FieldError) -> Self {
        BuildError {
            code: e.code,
            message: e.message,
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn non_empty(t: &LocalizedText) -> Option<&LocalizedText> {
    (!t.is_empty()).then_some(t)
}

/// Builds the wallet ticket for `ticket` sent to `recipient` (DOMAIN.md §7). With
/// `enforceMandatoryParameters` the result is checked against the wallet's contract
/// before anything is sent, and a missing field is reported by its JSON path.
pub fn build_ticket(
    ctx: &BuildContext<'_>,
    ticket: &TicketRow,
    recipient: Person,
    main_applicant: bool,
) -> Result<api::Ticket, BuildError> {
    let lang = ctx.default_language;
    let multi = ctx.params.send_multilingual_as_json_object;
    let text = |t: &LocalizedText| t.to_wire(lang, multi);
    let product = ctx
        .catalog
        .products
        .get(&ticket.product_id)
        .ok_or_else(|| BuildError {
            code: "MISSING_RECORD",
            message: format!("product {} of the ticket is unknown", ticket.product_id),
        })?;
    let season = product
        .season_code
        .as_ref()
        .or(ticket.season_code.as_ref())
        .and_then(|c| ctx.catalog.seasons.get(c));

    let performance = match ticket.performance_id {
        Some(pid) => Some(
            ctx.catalog
                .performances
                .get(&pid)
                .ok_or_else(|| BuildError {
                    code: "MISSING_RECORD",
                    message: format!("performance {pid} of the ticket is unknown"),
                })?,
        ),
        None => None,
    };
    let site_id = performance.map(|p| p.site_id).or(product.site_id);
    let zone = venue_zone(ctx, site_id);
    let mut activation: Option<ActivationParameters> = None;
    let (event_id, name, group, start, expiration) = match performance {
        Some(perf) => {
            let name = non_empty(&perf.name).unwrap_or(&product.name);
            let exp = perf.end.unwrap_or(perf.start + Duration::hours(24));
            (
                perf.code.clone(),
                name,
                non_empty(&perf.group_name),
                perf.start,
                exp,
            )
        }
        None => {
            // Services and open passes: dates from the product's comfort variables.
            let c = &product.comfort;
            let base = ticket.validity_start.or(ticket.purchase_date);
            let dates =
                comfort_dates(c, base, ticket.validity_end, season, zone).map_err(|e| e.error)?;
            if c.tix_act.is_some() || c.tix_rgrp.is_some() {
                activation = Some(ActivationParameters {
                    method: Some("online".into()),
                    time: dates.activation.map(|t| rfc3339_in(t, zone)),
                    group_id: c.tix_rgrp.clone(),
                    instance_id: None,
                });
            }
            (
                product.code.clone(),
                &product.name,
                None,
                dates.start,
                dates.expiration,
            )
        }
    };

    let address = site_id
        .and_then(|id| ctx.catalog.sites.get(&id))
        .map(|s| Address {
            site: non_empty(&s.name).map(text),
            city: non_empty(&s.city).map(text),
            zip: Some(s.zip.clone()).filter(|z| !z.is_empty()),
            country_code: Some(s.country_code.clone()).filter(|z| !z.is_empty()),
            line1: non_empty(&s.line1).map(text),
            line2: non_empty(&s.line2).map(text),
            line3: None,
        });

    let mut details = TicketDetails::default();
    for d in &ticket.details {
        let entry = DetailEntry {
            key: text(&d.key),
            value: text(&d.value),
        };
        match d.section {
            DetailSection::Main => details.main.push(entry),
            DetailSection::Extra => details.extra.push(entry),
            DetailSection::Hidden => details.hidden.push(entry),
        }
    }

    let inj = ctx.injection;
    let mut spectator = recipient;
    spectator.main_applicant = Some(main_applicant);
    let t = api::Ticket {
        ticket_id: Some(ticket.id.to_string()),
        event: Some(api::Event {
            id: Some(event_id.clone()),
            name: non_empty(name).map(text),
            start_time: Some(rfc3339_in(start, zone)),
            expiration_date: Some(rfc3339_in(expiration, zone)),
            address,
            group: group.map(|g| EventGroup {
                name: Some(text(g)),
            }),
            metadata: Default::default(),
        }),
        purchase_details: Some(PurchaseDetails {
            taxation_number: Some(ticket.tax_number.clone()),
            file_id: ticket.file_id.clone(),
            price: ticket.price_cents.map(|c| c as f64 / 100.0),
            currency: ticket.currency.clone(),
            category: ticket.category.clone(),
            purchase_date: ticket.purchase_date.map(|t| rfc3339_in(t, zone)),
        }),
        security: Some(Security {
            barcode: Some(format!(
                "{}{}{}",
                inj.barcode_prefix, ticket.barcode, inj.barcode_suffix
            )),
        }),
        spectator_details: Some(spectator),
        activation_parameters: activation,
        ticket_details: (!details.main.is_empty()
            || !details.extra.is_empty()
            || !details.hidden.is_empty())
        .then_some(details),
        transfer_rules: Some(TransferRules {
            group_id: Some(event_id),
            ..TransferRules::default()
        }),
        sorting_key: Some(format!("{}-{:020}", rfc3339(start), ticket.id)),
        image_url: None,
    };
    if ctx.params.enforce_mandatory_parameters {
        api::validate_ticket(&t)?;
    }
    Ok(t)
}

/// The zone of a venue: its site's, else the organization's ([`crate::local_time`]).
fn venue_zone(ctx: &BuildContext<'_>, site_id: Option<i64>) -> Tz {
    site_id
        .and_then(|id| ctx.catalog.sites.get(&id))
        .and_then(|s| s.time_zone)
        .unwrap_or(ctx.time_zone)
}

/// The event dates of a ticket without performance, from its product's comfort
/// variables (DOMAIN.md §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComfortDates {
    pub start: DateTime<Utc>,
    pub expiration: DateTime<Utc>,
    /// `TIXAct`, when set.
    pub activation: Option<DateTime<Utc>>,
}

/// Which value a comfort error is about, for the import to name its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComfortField {
    /// The base date: the ticket's validity start, else its purchase date.
    Base,
    TixStart,
    TixExp,
    TixAct,
}

/// A ticket whose comfort dates cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComfortError {
    pub field: ComfortField,
    pub error: BuildError,
}

/// Computes the dates of a ticket without performance, as injection does (and the
/// import, to refuse a row injection could never accept). `base` is the ticket's
/// validity start, else its purchase date. `TIXStart` counts from it, which an absolute
/// value or `start_of_season` does not need; without `TIXStart` the start is the base
/// date. `TIXExp` and `TIXAct` count from the start; without `TIXExp` the expiry is
/// `validity_end`, else the start + 24 hours.
pub fn comfort_dates(
    c: &ComfortVariables,
    base: Option<DateTime<Utc>>,
    validity_end: Option<DateTime<Utc>>,
    season: Option<&Season>,
    zone: Tz,
) -> Result<ComfortDates, ComfortError> {
    let at = |field| move |error| ComfortError { field, error };
    let start = match (&c.tix_start, base) {
        (Some(v), _) => {
            eval_comfort("TIXStart", v, base, season, zone).map_err(at(ComfortField::TixStart))?
        }
        (None, Some(base)) => base,
        (None, None) => {
            return Err(ComfortError {
                field: ComfortField::Base,
                error: BuildError {
                    code: "MISSING_FIELD",
                    message: "event.startTime is required: the ticket has no performance, no \
                              validity start, no purchase date and no absolute TIXStart"
                        .into(),
                },
            });
        }
    };
    let expiration = match &c.tix_exp {
        Some(v) => eval_comfort("TIXExp", v, Some(start), season, zone)
            .map_err(at(ComfortField::TixExp))?,
        None => validity_end.unwrap_or(start + Duration::hours(24)),
    };
    let activation = match &c.tix_act {
        Some(v) => Some(
            eval_comfort("TIXAct", v, Some(start), season, zone)
                .map_err(at(ComfortField::TixAct))?,
        ),
        None => None,
    };
    Ok(ComfortDates {
        start,
        expiration,
        activation,
    })
}

/// Evaluates a comfort variable (DOMAIN.md §9): `start_of_season`, `end_of_season`,
/// a relative offset from `base` (`+1d`, `-1w`: calendar days and weeks of the venue's
/// `zone`, across daylight-saving changes; `+3h`, `+30m`: exact hours and minutes), or
/// an absolute `dd/mm/yy hh:mm` read in `zone`. A relative value without a base is
/// refused. The error names the variable.
pub fn eval_comfort(
    name: &str,
    value: &str,
    base: Option<DateTime<Utc>>,
    season: Option<&Season>,
    zone: Tz,
) -> Result<DateTime<Utc>, BuildError> {
    let bad = |why: String| BuildError {
        code: "INVALID_COMFORT_VARIABLE",
        message: format!("comfort variable {name}={value:?}: {why}"),
    };
    let v = value.trim();
    match v.to_ascii_lowercase().as_str() {
        "start_of_season" => {
            return season
                .map(|s| s.start)
                .ok_or_else(|| bad("the product has no season".into()));
        }
        "end_of_season" => {
            return season
                .map(|s| s.end)
                .ok_or_else(|| bad("the product has no season".into()));
        }
        _ => {}
    }
    if let Some(sign) = v.chars().next().filter(|c| *c == '+' || *c == '-') {
        let body = &v[1..];
        let (num, unit) = body.split_at(body.len().saturating_sub(1));
        let n: i64 = num
            .parse()
            .map_err(|_| bad("expected a number and a unit such as +1d".into()))?;
        let n = if sign == '-' { -n } else { n };
        let base = base.ok_or_else(|| {
            bad("a relative value counts from the ticket's validity start, else its purchase date, and the ticket has neither".into())
        })?;
        let moved = match unit {
            "m" => base.checked_add_signed(Duration::minutes(n)),
            "h" => base.checked_add_signed(Duration::hours(n)),
            "d" => local_time::add_days(base, n, zone),
            "w" => n
                .checked_mul(7)
                .and_then(|d| local_time::add_days(base, d, zone)),
            _ => return Err(bad("unit must be m, h, d or w".into())),
        };
        return moved.ok_or_else(|| bad("the result is out of range".into()));
    }
    let local = NaiveDateTime::parse_from_str(v, "%d/%m/%y %H:%M").map_err(|_| {
        bad(
            "expected start_of_season, end_of_season, +1d / -1w / +3h / +30m, or dd/mm/yy hh:mm"
                .into(),
        )
    })?;
    local_time::from_local(local, zone).map_err(bad)
}

/// Splits `items` into calls of at most `size` (≥ 1), keeping their order.
pub fn split_calls<T>(items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let size = size.max(1);
    let mut out = Vec::with_capacity(items.len().div_ceil(size));
    let mut it = items.into_iter().peekable();
    while it.peek().is_some() {
        out.push(it.by_ref().take(size).collect());
    }
    out
}

/// `killRatio`: stop the execution early once the share of failed tickets among those
/// processed so far exceeds the ratio.
pub fn should_kill(kill_ratio: f64, failed: u64, processed: u64) -> bool {
    processed > 0 && (failed as f64 / processed as f64) > kill_ratio
}

/// Tracks which ticket is the first of its file (order) as tickets stream by id.
#[derive(Debug, Default)]
pub struct FileTracker {
    last_file: Option<String>,
}

impl FileTracker {
    /// The `mainApplicant` flag to send under `rule`.
    pub fn main_applicant(&mut self, rule: MainApplicantRule, ticket: &TicketRow) -> bool {
        match rule {
            MainApplicantRule::All | MainApplicantRule::OnlyMainApplicant => ticket.main_applicant,
            MainApplicantRule::FirstOfFile => {
                let first = ticket.file_id.is_none() || self.last_file != ticket.file_id;
                self.last_file = ticket.file_id.clone();
                first
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ComfortVariables, Holder, PointOfSales, ProductKind, TicketDetail};
    use crate::selection::TicketRefs;
    use crate::status::TicketingStatus;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 14, 19, 0, 0).unwrap()
    }

    fn injection() -> InjectionParams {
        InjectionParams {
            point_of_sales: PointOfSales::parse("WEB;P1").unwrap(),
            filters: Default::default(),
            barcode_prefix: "PRE-".into(),
            barcode_suffix: "-SUF".into(),
            mandatory_holder_fields: vec![],
            main_applicant_rule: MainApplicantRule::All,
            force: TicketRefs::default(),
            skip: TicketRefs::default(),
            simulation: false,
        }
    }

    fn catalog() -> CatalogIndex {
        let mut c = CatalogIndex::default();
        c.sites.insert(
            1,
            Site {
                id: 1,
                code: "STADE".into(),
                name: LocalizedText::new("en", "Grand Stadium").with("fr", "Grand Stade"),
                city: LocalizedText::new("en", "Paris"),
                zip: "75000".into(),
                country_code: "FR".into(),
                line1: LocalizedText::default(),
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
        c.products.insert(
            11,
            Product {
                id: 11,
                code: "PARK".into(),
                kind: ProductKind::Service,
                family: None,
                name: LocalizedText::new("en", "Parking"),
                season_code: Some("S26".into()),
                site_id: Some(1),
                comfort: ComfortVariables {
                    tix_start: Some("start_of_season".into()),
                    tix_exp: Some("+1w".into()),
                    tix_act: Some("-3h".into()),
                    tix_rgrp: Some("PARKING".into()),
                },
            },
        );
        c.performances.insert(
            100,
            Performance {
                id: 100,
                code: "P100".into(),
                product_id: 10,
                site_id: 1,
                name: LocalizedText::new("en", "France - Brazil").with("fr", "France - Brésil"),
                group_name: LocalizedText::default(),
                start: t0(),
                end: None,
            },
        );
        c.seasons.insert(
            "S26".into(),
            Season {
                code: "S26".into(),
                name: "Season 2026".into(),
                start: Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap(),
                end: Utc.with_ymd_and_hms(2026, 7, 31, 0, 0, 0).unwrap(),
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
            price_cents: Some(4550),
            currency: Some("EUR".into()),
            purchase_date: Some(t0() - Duration::days(30)),
            validity_start: None,
            validity_end: None,
            details: vec![TicketDetail {
                section: DetailSection::Main,
                key: LocalizedText::new("en", "Gate").with("fr", "Porte"),
                value: LocalizedText::new("en", "A"),
            }],
            contact_id: 7,
            holder: Holder::default(),
            main_applicant: false,
            printed_by: None,
            printed_at: None,
            linked_ticket_ids: Vec::new(),
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

    #[test]
    fn a_match_ticket_is_built_with_prefix_suffix_and_default_language() {
        let params = CustomParams::default();
        let inj = injection();
        let cat = catalog();
        let ctx = BuildContext {
            default_language: "en",
            time_zone: Tz::UTC,
            params: &params,
            injection: &inj,
            catalog: &cat,
        };
        let t = build_ticket(&ctx, &ticket(5), contact().to_person(), true).unwrap();
        assert_eq!(t.ticket_id.as_deref(), Some("5"));
        assert_eq!(t.security.unwrap().barcode.as_deref(), Some("PRE-BC5-SUF"));
        let ev = t.event.unwrap();
        assert_eq!(ev.id.as_deref(), Some("P100"));
        assert_eq!(ev.name.unwrap().default_value(), "France - Brazil");
        assert_eq!(ev.start_time.as_deref(), Some("2026-06-14T19:00:00Z"));
        // No end: start + 24 h.
        assert_eq!(ev.expiration_date.as_deref(), Some("2026-06-15T19:00:00Z"));
        assert_eq!(t.purchase_details.unwrap().price, Some(45.5));
        assert_eq!(t.spectator_details.unwrap().main_applicant, Some(true));
        assert_eq!(t.transfer_rules.unwrap().group_id.as_deref(), Some("P100"));
    }

    #[test]
    fn multilingual_texts_go_as_objects_when_asked() {
        let params = CustomParams {
            send_multilingual_as_json_object: true,
            ..Default::default()
        };
        let inj = injection();
        let cat = catalog();
        let ctx = BuildContext {
            default_language: "en",
            time_zone: Tz::UTC,
            params: &params,
            injection: &inj,
            catalog: &cat,
        };
        let t = build_ticket(&ctx, &ticket(5), contact().to_person(), false).unwrap();
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["event"]["name"]["fr"], "France - Brésil");
        assert_eq!(json["ticketDetails"]["main"][0]["key"]["fr"], "Porte");
    }

    #[test]
    fn a_service_takes_its_dates_from_comfort_variables() {
        let params = CustomParams::default();
        let inj = injection();
        let cat = catalog();
        let ctx = BuildContext {
            default_language: "en",
            time_zone: Tz::UTC,
            params: &params,
            injection: &inj,
            catalog: &cat,
        };
        let mut tk = ticket(6);
        tk.product_id = 11;
        tk.performance_id = None;
        let t = build_ticket(&ctx, &tk, contact().to_person(), false).unwrap();
        let ev = t.event.unwrap();
        assert_eq!(ev.id.as_deref(), Some("PARK"));
        assert_eq!(ev.start_time.as_deref(), Some("2026-06-01T00:00:00Z"));
        assert_eq!(ev.expiration_date.as_deref(), Some("2026-06-08T00:00:00Z"));
        let act = t.activation_parameters.unwrap();
        assert_eq!(act.time.as_deref(), Some("2026-05-31T21:00:00Z"));
        assert_eq!(act.group_id.as_deref(), Some("PARKING"));
    }

    #[test]
    fn enforcement_names_the_missing_field() {
        let params = CustomParams::default();
        let inj = injection();
        let cat = catalog();
        let ctx = BuildContext {
            default_language: "en",
            time_zone: Tz::UTC,
            params: &params,
            injection: &inj,
            catalog: &cat,
        };
        let mut p = contact().to_person();
        p.email = None;
        let e = build_ticket(&ctx, &ticket(5), p.clone(), false).unwrap_err();
        assert_eq!(e.message, "spectatorDetails.email is required");
        let lax = CustomParams {
            enforce_mandatory_parameters: false,
            ..Default::default()
        };
        let ctx = BuildContext {
            params: &lax,
            ..ctx
        };
        assert!(build_ticket(&ctx, &ticket(5), p, false).is_ok());
    }

    #[test]
    fn venue_times_carry_the_venue_offset_and_days_follow_its_calendar() {
        let paris = local_time::parse_zone("Europe/Paris").unwrap();
        let params = CustomParams::default();
        let inj = injection();
        let mut cat = catalog();
        cat.sites.get_mut(&1).unwrap().time_zone = Some(paris);
        fn ctx<'a>(
            cat: &'a CatalogIndex,
            params: &'a CustomParams,
            inj: &'a InjectionParams,
        ) -> BuildContext<'a> {
            BuildContext {
                default_language: "en",
                time_zone: Tz::UTC,
                params,
                injection: inj,
                catalog: cat,
            }
        }
        let t = build_ticket(
            &ctx(&cat, &params, &inj),
            &ticket(1),
            contact().to_person(),
            false,
        )
        .unwrap();
        let ev = t.event.unwrap();
        assert_eq!(ev.start_time.as_deref(), Some("2026-06-14T21:00:00+02:00"));
        assert_eq!(
            t.purchase_details.unwrap().purchase_date.as_deref(),
            Some("2026-05-15T21:00:00+02:00")
        );
        // A parking pass: start_of_season needs no other base date.
        let mut tk = ticket(6);
        tk.product_id = 11;
        tk.performance_id = None;
        tk.purchase_date = None;
        let t = build_ticket(&ctx(&cat, &params, &inj), &tk, contact().to_person(), false).unwrap();
        assert_eq!(
            t.event.unwrap().start_time.as_deref(),
            Some("2026-06-01T02:00:00+02:00")
        );
        // An absolute start needs none either; +1d crosses the October change.
        let c = &mut cat.products.get_mut(&11).unwrap().comfort;
        c.tix_start = Some("24/10/26 20:00".into());
        c.tix_exp = Some("+1d".into());
        let t = build_ticket(&ctx(&cat, &params, &inj), &tk, contact().to_person(), false).unwrap();
        let ev = t.event.unwrap();
        assert_eq!(ev.start_time.as_deref(), Some("2026-10-24T20:00:00+02:00"));
        assert_eq!(
            ev.expiration_date.as_deref(),
            Some("2026-10-25T20:00:00+01:00")
        );
        // A relative start with no base date is named.
        cat.products.get_mut(&11).unwrap().comfort.tix_start = Some("+1d".into());
        let e =
            build_ticket(&ctx(&cat, &params, &inj), &tk, contact().to_person(), false).unwrap_err();
        assert!(e.message.contains("TIXStart"), "{}", e.message);
        assert!(e.message.contains("validity start"), "{}", e.message);
    }

    #[test]
    fn comfort_values() {
        let b = t0();
        assert_eq!(
            eval_comfort("X", "+1d", Some(b), None, Tz::UTC).unwrap(),
            b + Duration::days(1)
        );
        assert_eq!(
            eval_comfort("X", "-1w", Some(b), None, Tz::UTC).unwrap(),
            b - Duration::weeks(1)
        );
        assert_eq!(
            eval_comfort("X", "+3h", Some(b), None, Tz::UTC).unwrap(),
            b + Duration::hours(3)
        );
        assert_eq!(
            eval_comfort("X", "24/12/26 20:30", Some(b), None, Tz::UTC).unwrap(),
            Utc.with_ymd_and_hms(2026, 12, 24, 20, 30, 0).unwrap()
        );
        let e = eval_comfort("TIXExp", "+1y", Some(b), None, Tz::UTC).unwrap_err();
        assert!(e.message.contains("TIXExp"), "{}", e.message);
        assert!(eval_comfort("TIXStart", "start_of_season", Some(b), None, Tz::UTC).is_err());
    }

    #[test]
    fn recipient_rule_follows_the_domain_example() {
        // Injected to A; A transferred to B in the app; reprint.
        let a = contact();
        let b = Person {
            email: Some("b@example.org".into()),
            ..Default::default()
        };
        let theft = Cause::parse("Theft").unwrap();
        let reprint = Cause::parse("REPRINT").unwrap();
        let mut params = CustomParams::parse("resetInjectionInvalidationReasons=THEFT").unwrap();
        let (p, src) = choose_recipient(&params, &a, Some((Some(&theft), Some(&b))));
        assert_eq!(
            (p.email.as_deref(), src),
            (Some("a@example.org"), RecipientSource::CulturalContact)
        );
        let (p, src) = choose_recipient(&params, &a, Some((Some(&reprint), Some(&b))));
        assert_eq!(
            (p.email.as_deref(), src),
            (Some("b@example.org"), RecipientSource::LastWalletOwner)
        );
        // Not a reprint, or nothing known of the last owner: the cultural contact.
        assert_eq!(
            choose_recipient(&params, &a, None).1,
            RecipientSource::CulturalContact
        );
        assert_eq!(
            choose_recipient(&params, &a, Some((Some(&reprint), None))).1,
            RecipientSource::CulturalContact
        );
        params.overlay_spectator_details_with_last_owner = false;
        assert_eq!(
            choose_recipient(&params, &a, Some((Some(&reprint), Some(&b)))).1,
            RecipientSource::CulturalContact
        );
    }

    #[test]
    fn screening() {
        let mut inj = injection();
        let mut t = ticket(9);
        assert_eq!(screen(&t, &inj), None);
        inj.skip = TicketRefs::parse("TX9").unwrap();
        assert_eq!(screen(&t, &inj), Some(SkipReason::SkipList));
        inj.skip = TicketRefs::default();
        inj.mandatory_holder_fields = vec![HolderField::Firstname, HolderField::Birthdate];
        t.holder.first_name = Some("Zoe".into());
        assert_eq!(
            screen(&t, &inj),
            Some(SkipReason::MissingHolderField(HolderField::Birthdate))
        );
        t.holder.birth_date = Some("1990-01-01".into());
        assert_eq!(screen(&t, &inj), None);
        inj.main_applicant_rule = MainApplicantRule::OnlyMainApplicant;
        assert_eq!(screen(&t, &inj), Some(SkipReason::NotMainApplicant));
    }

    #[test]
    fn first_of_file_is_main_applicant() {
        let mut tr = FileTracker::default();
        let mut a = ticket(1);
        let b = ticket(2);
        let mut c = ticket(3);
        c.file_id = Some("F2".into());
        assert!(tr.main_applicant(MainApplicantRule::FirstOfFile, &a));
        assert!(!tr.main_applicant(MainApplicantRule::FirstOfFile, &b));
        assert!(tr.main_applicant(MainApplicantRule::FirstOfFile, &c));
        a.main_applicant = true;
        assert!(tr.main_applicant(MainApplicantRule::All, &a));
    }

    #[test]
    fn kill_ratio() {
        assert!(!should_kill(1.0, 50, 50));
        assert!(should_kill(0.5, 26, 50));
        assert!(!should_kill(0.5, 25, 50));
        assert!(!should_kill(0.0, 0, 0));
    }

    proptest! {
        #[test]
        fn splitting_keeps_order_and_bounds(n in 0usize..500, size in 1usize..=50) {
            let items: Vec<usize> = (0..n).collect();
            let calls = split_calls(items.clone(), size);
            prop_assert_eq!(calls.len(), n.div_ceil(size));
            for (i, c) in calls.iter().enumerate() {
                prop_assert!(!c.is_empty() && c.len() <= size);
                if i + 1 < calls.len() { prop_assert_eq!(c.len(), size); }
            }
            prop_assert_eq!(calls.concat(), items);
        }
    }
}
