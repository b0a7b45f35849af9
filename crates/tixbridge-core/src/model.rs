//! The ticketing side's data (DOMAIN.md §2, §5, §6): what the ticketing store keeps
//! and the interface reads.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::Person;
use crate::cause::Cause;
use crate::local_time::Tz;
use crate::selection::TicketRefs;
use crate::status::{TicketingStatus, WalletStatus};
use crate::text::LocalizedText;

/// The shipment mode handled by the interface: delivery on the mobile wallet app.
pub const WALLET_SHIPMENT_MODE: &str = "BLOCKCHAIN";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProductKind {
    Event,
    Match,
    OpenPass,
    Service,
    MembershipCard,
    SeasonCard,
}

impl ProductKind {
    pub const ALL: [ProductKind; 6] = [
        Self::Event,
        Self::Match,
        Self::OpenPass,
        Self::Service,
        Self::MembershipCard,
        Self::SeasonCard,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Event => "EVENT",
            Self::Match => "MATCH",
            Self::OpenPass => "OPEN_PASS",
            Self::Service => "SERVICE",
            Self::MembershipCard => "MEMBERSHIP_CARD",
            Self::SeasonCard => "SEASON_CARD",
        }
    }

    /// Delivered as wallet tickets (the others become digital privileges).
    pub fn is_ticket(self) -> bool {
        !self.is_card()
    }

    pub fn is_card(self) -> bool {
        matches!(self, Self::MembershipCard | Self::SeasonCard)
    }

    /// Products whose tickets have a performance date; the others take their dates
    /// from comfort variables (DOMAIN.md §9).
    pub fn has_performance(self) -> bool {
        matches!(self, Self::Event | Self::Match)
    }
}

impl fmt::Display for ProductKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for ProductKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown product kind {s:?}; expected one of EVENT, MATCH, OPEN_PASS, SERVICE, MEMBERSHIP_CARD, SEASON_CARD"
                )
            })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    pub id: i64,
    pub code: String,
    pub name: String,
    /// The language whose values are sent when multilingual text goes as one string.
    pub default_language: String,
    /// The IANA zone of its venues when a site names none (`UTC` for stores from
    /// before zones existed; `crate::local_time`).
    pub time_zone: Tz,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Season {
    pub code: String,
    pub name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    pub id: i64,
    pub code: String,
    pub name: LocalizedText,
    pub city: LocalizedText,
    pub zip: String,
    pub country_code: String,
    pub line1: LocalizedText,
    pub line2: LocalizedText,
    /// The venue's IANA zone; `None`: the organization's (`crate::local_time`).
    pub time_zone: Option<Tz>,
}

/// Product-level settings for products without a performance date (DOMAIN.md §9).
/// Values are kept as entered and evaluated at injection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComfortVariables {
    pub tix_start: Option<String>,
    pub tix_exp: Option<String>,
    pub tix_act: Option<String>,
    pub tix_rgrp: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: i64,
    pub code: String,
    pub kind: ProductKind,
    pub family: Option<String>,
    pub name: LocalizedText,
    pub season_code: Option<String>,
    /// Where a product without performances takes place.
    pub site_id: Option<i64>,
    pub comfort: ComfortVariables,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Performance {
    pub id: i64,
    /// The performance (event) code; the wallet event id.
    pub code: String,
    pub product_id: i64,
    pub site_id: i64,
    pub name: LocalizedText,
    pub group_name: LocalizedText,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

/// A contact of ticketing: a person or body tickets are sold to. The cultural contact
/// of a ticket is the contact who owns it in ticketing (DOMAIN.md §2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: i64,
    /// The contact number ticketing shows and imports key contacts by; `None` for a
    /// temporary contact Feedback created.
    #[serde(default)]
    pub number: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// M, F, U or X.
    pub gender: Option<String>,
    pub title: Option<String>,
    /// Created from an email only ("Pending CREATION", DOMAIN.md §6); completed when
    /// data arrives.
    pub temporary: bool,
    /// Whether the contact has an internet account: preferred when several contacts
    /// share an email (DOMAIN.md §6).
    #[serde(default)]
    pub internet_account: bool,
    /// `INDIVIDUAL`, `STRUCTURE` or `RELAY` ([`CONTACT_KINDS`]); an individual is
    /// preferred over a relay when several contacts share an email.
    #[serde(default)]
    pub kind: String,
}

/// The kinds of contact ticketing knows (`contact_kind` of the import).
pub const CONTACT_KINDS: [&str; 3] = ["INDIVIDUAL", "STRUCTURE", "RELAY"];

/// The last name of a temporary contact, created from an email only (DOMAIN.md §6).
pub const PENDING_CREATION: &str = "Pending CREATION";

impl Contact {
    /// The contact as the wallet's spectator details: a temporary contact gives its
    /// email only (its "Pending CREATION" name is no one's).
    pub fn to_person(&self) -> Person {
        if self.temporary {
            return Person {
                email: self.email.clone(),
                ..Person::default()
            };
        }
        Person {
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            gender: self.gender.clone(),
            title: self.title.clone(),
            main_applicant: None,
        }
    }
}

/// The ticket holder's named-ticket data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birth_date: Option<String>,
    pub id_number: Option<String>,
    pub country_code: Option<String>,
    pub birth_region: Option<String>,
    pub birth_place: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HolderField {
    Firstname,
    Lastname,
    Birthdate,
    IdNumber,
    CountryCode,
    BirthRegion,
    BirthPlace,
}

impl HolderField {
    pub const ALL: [HolderField; 7] = [
        Self::Firstname,
        Self::Lastname,
        Self::Birthdate,
        Self::IdNumber,
        Self::CountryCode,
        Self::BirthRegion,
        Self::BirthPlace,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firstname => "FIRSTNAME",
            Self::Lastname => "LASTNAME",
            Self::Birthdate => "BIRTHDATE",
            Self::IdNumber => "ID_NUMBER",
            Self::CountryCode => "COUNTRY_CODE",
            Self::BirthRegion => "BIRTH_REGION",
            Self::BirthPlace => "BIRTH_PLACE",
        }
    }

    pub fn parse_list(v: &str) -> Result<Vec<HolderField>, String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                Self::ALL
                    .into_iter()
                    .find(|f| f.as_str().eq_ignore_ascii_case(s))
                    .ok_or_else(|| {
                        format!(
                            "unknown holder field {s:?}; expected FIRSTNAME, LASTNAME, BIRTHDATE, ID_NUMBER, COUNTRY_CODE, BIRTH_REGION, BIRTH_PLACE"
                        )
                    })
            })
            .collect()
    }
}

impl Holder {
    pub fn has(&self, field: HolderField) -> bool {
        let v = match field {
            HolderField::Firstname => &self.first_name,
            HolderField::Lastname => &self.last_name,
            HolderField::Birthdate => &self.birth_date,
            HolderField::IdNumber => &self.id_number,
            HolderField::CountryCode => &self.country_code,
            HolderField::BirthRegion => &self.birth_region,
            HolderField::BirthPlace => &self.birth_place,
        };
        v.as_deref().is_some_and(|s| !s.trim().is_empty())
    }
}

/// Which of the three lists of the wallet's ticket details an entry goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetailSection {
    Main,
    Extra,
    Hidden,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketDetail {
    pub section: DetailSection,
    pub key: LocalizedText,
    pub value: LocalizedText,
}

/// A ticket (or card) in ticketing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketRow {
    pub id: i64,
    pub organization_id: i64,
    pub tax_number: String,
    pub barcode: String,
    pub file_id: Option<String>,
    pub status: TicketingStatus,
    pub cause: Option<Cause>,
    /// For a reprint: the ticket this one replaces.
    pub replaces_ticket_id: Option<i64>,
    pub shipment_mode: String,
    pub sales_channel: Option<String>,
    pub season_code: Option<String>,
    pub product_id: i64,
    pub performance_id: Option<i64>,
    pub tariff: Option<String>,
    pub category: Option<String>,
    /// In minor units (cents).
    pub price_cents: Option<i64>,
    pub currency: Option<String>,
    pub purchase_date: Option<DateTime<Utc>>,
    pub validity_start: Option<DateTime<Utc>>,
    pub validity_end: Option<DateTime<Utc>>,
    pub details: Vec<TicketDetail>,
    /// The cultural contact: who owns the ticket in ticketing.
    pub contact_id: i64,
    pub holder: Holder,
    pub main_applicant: bool,
    /// Set when the ticket is printed: the point of sales and when.
    pub printed_by: Option<String>,
    pub printed_at: Option<DateTime<Utc>>,
    /// A membership or season card's linked tickets (the season's match tickets), by
    /// ticket id: sent as the privilege's `linkedTicketIds` (DOMAIN.md §5.5). Empty for
    /// tickets.
    pub linked_ticket_ids: Vec<i64>,
}

/// What Feedback brought back for a printed ticket (DOMAIN.md §2, §5.2): the wallet's
/// state of the ticket as of its latest applied change. Injection and the push
/// functions set what they know (status, owner) until Feedback brings the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MobileProjection {
    pub ticket_id: i64,
    pub wallet_status: WalletStatus,
    /// The wallet owner (who holds the ticket on a phone).
    pub owner: Option<Person>,
    /// The ticket holder (named-ticket data).
    pub holder: Option<Person>,
    pub transfer_level: i64,
    /// When ticketing last wrote the projection (UTC).
    pub updated_at: DateTime<Utc>,
    /// When the wallet status last changed (UTC), as the wallet says; set by Feedback.
    #[serde(default)]
    pub status_changed_at: Option<DateTime<Utc>>,
    /// The first owner (the recipient of the injection); set by Feedback.
    #[serde(default)]
    pub initial_owner: Option<Person>,
    /// The owner before the last transfer; set by Feedback.
    #[serde(default)]
    pub previous_owner: Option<Person>,
    /// The deletion (reason, visibility, requested and confirmed times); set by Feedback.
    #[serde(default)]
    pub deletion: Option<crate::api::Deletion>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FunctionKind {
    Injection,
    Feedback,
    PushCancelled,
    PushControlled,
    PrivilegesInjection,
}

impl FunctionKind {
    pub const ALL: [FunctionKind; 5] = [
        Self::Injection,
        Self::Feedback,
        Self::PushCancelled,
        Self::PushControlled,
        Self::PrivilegesInjection,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Injection => "INJECTION",
            Self::Feedback => "FEEDBACK",
            Self::PushCancelled => "PUSH_CANCELLED",
            Self::PushControlled => "PUSH_CONTROLLED",
            Self::PrivilegesInjection => "PRIVILEGES_INJECTION",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Injection => "Tickets injection",
            Self::Feedback => "Retrieve ticket status",
            Self::PushCancelled => "Push cancelled",
            Self::PushControlled => "Push controlled",
            Self::PrivilegesInjection => "Privileges injection",
        }
    }
}

impl fmt::Display for FunctionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for FunctionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(&norm))
            .ok_or_else(|| {
                format!(
                    "unknown function {s:?}; expected one of injection, feedback, push_cancelled, push_controlled, privileges_injection"
                )
            })
    }
}

/// A processed marker: the function processed the ticket successfully.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessedMarker {
    pub ticket_id: i64,
    pub function: FunctionKind,
    pub schedule_id: i64,
    pub processed_at: DateTime<Utc>,
    /// Push Cancelled records the cause it pushed.
    pub cause: Option<Cause>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MainApplicantRule {
    /// Send every ticket; `mainApplicant` is the ticket's own flag.
    All,
    /// Send only tickets whose holder is flagged main applicant.
    OnlyMainApplicant,
    /// Send every ticket; the first ticket of each file (order) is the main applicant.
    FirstOfFile,
}

/// Filters of an injection schedule, all ANDed. A file number, when set, is exclusive:
/// every other filter is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectionFilters {
    pub sales_channel: Option<String>,
    pub season: Option<String>,
    pub product_family: Option<String>,
    pub product: Option<String>,
    pub performance: Option<String>,
    pub tariff: Option<String>,
    pub category: Option<String>,
    pub file_number: Option<String>,
}

/// `salesChannelCode;posCode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointOfSales {
    pub sales_channel: String,
    pub pos: String,
}

impl PointOfSales {
    pub fn parse(v: &str) -> Result<PointOfSales, String> {
        match v.split_once(';') {
            Some((c, p)) if !c.trim().is_empty() && !p.trim().is_empty() => Ok(PointOfSales {
                sales_channel: c.trim().to_owned(),
                pos: p.trim().to_owned(),
            }),
            _ => Err(format!(
                "point of sales {v:?} must be given as salesChannelCode;posCode"
            )),
        }
    }
}

impl fmt::Display for PointOfSales {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{};{}", self.sales_channel, self.pos)
    }
}

/// Parameters of an injection schedule (DOMAIN.md §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectionParams {
    pub point_of_sales: PointOfSales,
    #[serde(default)]
    pub filters: InjectionFilters,
    #[serde(default)]
    pub barcode_prefix: String,
    #[serde(default)]
    pub barcode_suffix: String,
    #[serde(default)]
    pub mandatory_holder_fields: Vec<HolderField>,
    #[serde(default = "default_main_applicant_rule")]
    pub main_applicant_rule: MainApplicantRule,
    #[serde(default)]
    pub force: TicketRefs,
    #[serde(default)]
    pub skip: TicketRefs,
    #[serde(default)]
    pub simulation: bool,
}

/// A Push Cancelled schedule's parameters (DOMAIN.md §5.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PushCancelledParams {
    /// The schedule's "Notify spectator" box: step 2 of the visibility rule.
    #[serde(default)]
    pub notify_spectator: bool,
    /// Push only these tickets, even if pushed already (still cancelled or
    /// invalidated, and injected).
    #[serde(default)]
    pub force: TicketRefs,
    /// Never push these tickets.
    #[serde(default)]
    pub skip: TicketRefs,
    /// Push again what was pushed at or after this time, as if the last success were
    /// then (dangerous with an automatic launch: every run re-pushes).
    #[serde(default)]
    pub date_from: Option<DateTime<Utc>>,
    /// Build and validate everything, send nothing, change nothing.
    #[serde(default)]
    pub simulation: bool,
}

/// A Push Controlled schedule's parameters (DOMAIN.md §5.4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PushControlledParams {
    /// Push only these tickets, even if pushed already (still controlled, and
    /// injected).
    #[serde(default)]
    pub force: TicketRefs,
    /// Never push these tickets.
    #[serde(default)]
    pub skip: TicketRefs,
    /// Push again what was pushed at or after this time.
    #[serde(default)]
    pub date_from: Option<DateTime<Utc>>,
    /// Build and validate everything, send nothing, change nothing.
    #[serde(default)]
    pub simulation: bool,
}

/// A Feedback schedule's parameters (DOMAIN.md §5.2); the page size and the handling of
/// unknown tickets are the interface's custom parameters (`retrieveIterationSize`,
/// `doContinueInCaseOfSyncError`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackParams {
    /// Tickets of the feed never applied (by ticket id or tax number).
    #[serde(default)]
    pub skip: TicketRefs,
}

/// A Privileges injection schedule's parameters (DOMAIN.md §5.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivilegesParams {
    /// The point of sales that prints the cards (`salesChannelCode;posCode`).
    pub point_of_sales: PointOfSales,
    /// The product filter (and the other filters of injection that apply to cards:
    /// sales channel, season, product family); performance, tariff, category and file
    /// number are not used.
    #[serde(default)]
    pub filters: InjectionFilters,
    /// Inject only these cards, even if injected already (still `NOT_PRINTED` or
    /// `PRINTED`).
    #[serde(default)]
    pub force: TicketRefs,
    /// Never inject these cards.
    #[serde(default)]
    pub skip: TicketRefs,
    /// Build and validate everything, send nothing, change nothing.
    #[serde(default)]
    pub simulation: bool,
}

fn default_main_applicant_rule() -> MainApplicantRule {
    MainApplicantRule::All
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InterfaceKind {
    Tixngo,
    TixngoWithTemplate,
}

impl InterfaceKind {
    /// The type as the configuration writes it: `TIXNGO` or `TIXNGO_WITH_TEMPLATE`
    /// (`DOMAIN.md §6`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tixngo => "TIXNGO",
            Self::TixngoWithTemplate => "TIXNGO_WITH_TEMPLATE",
        }
    }
}

impl std::fmt::Display for InterfaceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InterfaceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "TIXNGO" => Ok(Self::Tixngo),
            "TIXNGO_WITH_TEMPLATE" => Ok(Self::TixngoWithTemplate),
            _ => Err(format!(
                "unknown interface type {s:?}; expected TIXNGO or TIXNGO_WITH_TEMPLATE"
            )),
        }
    }
}

/// Checks the interface URL: an http(s) URL whose path ends with `organizer/tickets`.
pub fn validate_interface_url(url: &str) -> Result<(), String> {
    let u = url.trim();
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        return Err(format!(
            "interface URL {u:?} must start with http:// or https://"
        ));
    }
    let rest = u.split_once("://").map(|(_, r)| r).unwrap_or("");
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        // A password in the URL would be printed wherever the URL is shown.
        return Err(
            "interface URL must not carry credentials (user:password@); the API key goes in the interface's password"
                .to_owned(),
        );
    }
    if u.contains('?') || u.contains('#') {
        return Err(format!(
            "interface URL {u:?} must not have a query or a fragment"
        ));
    }
    if authority.is_empty() {
        return Err(format!("interface URL {u:?} names no host"));
    }
    if !u.trim_end_matches('/').ends_with("organizer/tickets") {
        return Err(format!(
            "interface URL {u:?} must end with organizer/tickets (the wallet's organizer API)"
        ));
    }
    Ok(())
}

/// Splits and checks a comma list of notification addresses; the error names the bad one.
pub fn parse_email_list(v: &str) -> Result<Vec<String>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if crate::api::looks_like_email(s) {
                Ok(s.to_owned())
            } else {
                Err(format!("notification email {s:?} is not an email address"))
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Ok,
    Warning,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Warning => "WARNING",
            Self::Error => "ERROR",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "OK" => Ok(Self::Ok),
            "WARNING" => Ok(Self::Warning),
            "ERROR" => Ok(Self::Error),
            _ => Err(format!("unknown outcome {s:?}")),
        }
    }
}

/// An execution's ticket counts (DOMAIN.md §5): `selected` read from ticketing,
/// `sent` to the wallet, `succeeded` (accepted and marked), `failed` (refused before
/// or by the wallet, or a failed call), `skipped` (screened out: mandatory holder
/// field, main-applicant rule, skip list) and `unsent` (built but not sent because the
/// execution stopped early: signal, killRatio, a fatal error). Skipped and unsent
/// tickets are both looked at again by the next execution, but they are counted apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub selected: u64,
    pub sent: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
    #[serde(default)]
    pub unsent: u64,
}

/// A per-ticket error of an execution, or an execution-wide one (no ticket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketError {
    pub ticket_id: Option<i64>,
    pub tax_number: Option<String>,
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_url_must_end_with_organizer_tickets() {
        assert!(validate_interface_url("https://w.example/api/organizer/tickets").is_ok());
        assert!(validate_interface_url("http://127.0.0.1:8080/organizer/tickets/").is_ok());
        let e = validate_interface_url("https://w.example/api/organizer").unwrap_err();
        assert!(e.contains("organizer/tickets"), "{e}");
        assert!(validate_interface_url("ftp://x/organizer/tickets").is_err());
        let e = validate_interface_url("https://admin:tnk_secret@w.example/organizer/tickets")
            .unwrap_err();
        assert!(!e.contains("tnk_secret"), "{e}");
        assert!(validate_interface_url("https://w.example/organizer/tickets?x=1").is_err());
        assert!(validate_interface_url("https:///organizer/tickets").is_err());
    }

    #[test]
    fn point_of_sales_and_lists() {
        let p = PointOfSales::parse("WEB;POS1").unwrap();
        assert_eq!(p.to_string(), "WEB;POS1");
        assert!(PointOfSales::parse("WEB").is_err());
        assert_eq!(
            HolderField::parse_list("firstname, LASTNAME").unwrap(),
            [HolderField::Firstname, HolderField::Lastname]
        );
        assert!(HolderField::parse_list("NAME").is_err());
        assert!(parse_email_list("a@x.org, b@y.org").unwrap().len() == 2);
        assert!(
            parse_email_list("a@x.org, nope")
                .unwrap_err()
                .contains("nope")
        );
    }
}
