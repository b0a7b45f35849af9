//! The pure half of Privileges injection (DOMAIN.md §5.5): a membership or season card
//! of ticketing becomes a wallet privilege (WALLET-API.md "Digital privileges").
//!
//! - One **privilege definition** per card product: its id is the product code, its
//!   name the product's name, its type `MEMBERSHIP` or `SEASON_CARD` by the product
//!   kind, its validity the product's season (none without a season). Its hash
//!   ([`definition_hash`]) tells whether the wallet holds the product as it is now.
//! - One **privilege instance** per card: the privilege id is the card's ticket id; the
//!   purchase details, barcode and recipient (the cultural contact) as for a ticket;
//!   the linked tickets; the card's seat details (`main`, `extra`; hidden details stay
//!   in ticketing) and its own validity, when it has one, as two `extra` entries
//!   (`Valid from`, `Valid until`, dates in the venue's zone).

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use crate::api::{DetailEntry, Person, PurchaseDetails, Security};
use crate::inject::{BuildError, CatalogIndex};
use crate::local_time::{Tz, rfc3339_in};
use crate::model::{DetailSection, Product, ProductKind, TicketRow};
use crate::privilege::{Privilege, PrivilegeDefinition, PrivilegeDetails, validate_privilege};
use crate::text::Text;

/// What building a privilege needs besides the card.
pub struct CardContext<'a> {
    pub default_language: &'a str,
    /// `sendMultilingualAsJsonObject`: names as language-keyed objects.
    pub multilingual: bool,
    /// The organization's zone: the venue's when the product's site names none.
    pub time_zone: Tz,
    pub catalog: &'a CatalogIndex,
}

/// The definition type of a card product: `MEMBERSHIP` or `SEASON_CARD`; `None` for a
/// product that is not a card.
pub fn definition_type(kind: ProductKind) -> Option<&'static str> {
    match kind {
        ProductKind::MembershipCard => Some("MEMBERSHIP"),
        ProductKind::SeasonCard => Some("SEASON_CARD"),
        _ => None,
    }
}

/// The privilege definition of a card product, as the wallet should hold it now.
/// `None` for a product that is not a card.
pub fn definition_of(ctx: &CardContext<'_>, product: &Product) -> Option<PrivilegeDefinition> {
    let kind = definition_type(product.kind)?;
    let name = if product.name.is_empty() {
        Text::Plain(product.code.clone())
    } else {
        product.name.to_wire(ctx.default_language, ctx.multilingual)
    };
    let season = product
        .season_code
        .as_ref()
        .and_then(|c| ctx.catalog.seasons.get(c));
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    Some(PrivilegeDefinition {
        id: Some(product.code.clone()),
        name: Some(name),
        kind: Some(kind.to_owned()),
        valid_from: season.map(|s| time(s.start)),
        valid_to: season.map(|s| time(s.end)),
        image_url: None,
    })
}

/// The SHA-256 (hex) of a definition's JSON: equal hashes, equal definitions.
pub fn definition_hash(definition: &PrivilegeDefinition) -> String {
    let json = serde_json::to_vec(definition).unwrap_or_default();
    hex::encode(Sha256::digest(&json))
}

/// Builds the privilege of `card` for `recipient`, with its product's `definition`,
/// checked against the contract ([`validate_privilege`]): an error names the field by
/// its JSON path, or the missing catalog record.
pub fn build_privilege(
    ctx: &CardContext<'_>,
    card: &TicketRow,
    definition: PrivilegeDefinition,
    recipient: Person,
) -> Result<Privilege, BuildError> {
    let product = ctx
        .catalog
        .products
        .get(&card.product_id)
        .ok_or_else(|| BuildError {
            code: "MISSING_RECORD",
            message: format!("product {} of the card is unknown", card.product_id),
        })?;
    let zone = product
        .site_id
        .and_then(|id| ctx.catalog.sites.get(&id))
        .and_then(|s| s.time_zone)
        .unwrap_or(ctx.time_zone);
    let p = Privilege {
        privilege_id: Some(card.id.to_string()),
        definition: Some(definition),
        purchase_details: Some(PurchaseDetails {
            taxation_number: Some(card.tax_number.clone()),
            file_id: card.file_id.clone(),
            price: card.price_cents.map(|c| c as f64 / 100.0),
            currency: card.currency.clone(),
            category: card.category.clone(),
            purchase_date: card.purchase_date.map(|t| rfc3339_in(t, zone)),
        }),
        security: Some(Security {
            barcode: Some(card.barcode.clone()),
        }),
        spectator_details: Some(recipient),
        linked_ticket_ids: card.linked_ticket_ids.iter().map(i64::to_string).collect(),
        details: details(ctx, card, zone),
    };
    validate_privilege(&p)?;
    Ok(p)
}

/// The card's `main` and `extra` details, then its validity as `extra` entries.
fn details(ctx: &CardContext<'_>, card: &TicketRow, zone: Tz) -> Option<PrivilegeDetails> {
    let text = |t: &crate::text::LocalizedText| t.to_wire(ctx.default_language, ctx.multilingual);
    let mut d = PrivilegeDetails::default();
    for entry in &card.details {
        let e = DetailEntry {
            key: text(&entry.key),
            value: text(&entry.value),
        };
        match entry.section {
            DetailSection::Main => d.main.push(e),
            DetailSection::Extra => d.extra.push(e),
            DetailSection::Hidden => {}
        }
    }
    let day = |t: DateTime<Utc>| t.with_timezone(&zone).format("%Y-%m-%d").to_string();
    for (key, at) in [
        ("Valid from", card.validity_start),
        ("Valid until", card.validity_end),
    ] {
        if let Some(at) = at {
            d.extra.push(DetailEntry {
                key: Text::Plain(key.into()),
                value: Text::Plain(day(at)),
            });
        }
    }
    (!d.main.is_empty() || !d.extra.is_empty()).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ComfortVariables, Season};
    use crate::text::LocalizedText;

    fn product(kind: ProductKind, season: Option<&str>) -> Product {
        Product {
            id: 1,
            code: "SEASON-26".into(),
            kind,
            family: None,
            name: LocalizedText::new("en", "Season card 2026"),
            season_code: season.map(str::to_owned),
            site_id: None,
            comfort: ComfortVariables::default(),
        }
    }

    fn catalog() -> CatalogIndex {
        let mut c = CatalogIndex::default();
        let season = Season {
            code: "S26".into(),
            name: "2026".into(),
            start: "2026-08-01T00:00:00Z".parse().unwrap(),
            end: "2027-05-31T00:00:00Z".parse().unwrap(),
        };
        c.seasons.insert(season.code.clone(), season);
        c
    }

    fn ctx(catalog: &CatalogIndex) -> CardContext<'_> {
        CardContext {
            default_language: "en",
            multilingual: false,
            time_zone: chrono_tz::Europe::Paris,
            catalog,
        }
    }

    #[test]
    fn a_season_card_product_is_a_season_card_definition_valid_for_its_season() {
        let c = catalog();
        let d = definition_of(&ctx(&c), &product(ProductKind::SeasonCard, Some("S26"))).unwrap();
        assert_eq!(d.id.as_deref(), Some("SEASON-26"));
        assert_eq!(d.kind.as_deref(), Some("SEASON_CARD"));
        assert_eq!(d.valid_from.as_deref(), Some("2026-08-01T00:00:00Z"));
        assert_eq!(d.valid_to.as_deref(), Some("2027-05-31T00:00:00Z"));
        let m = definition_of(&ctx(&c), &product(ProductKind::MembershipCard, None)).unwrap();
        assert_eq!(m.kind.as_deref(), Some("MEMBERSHIP"));
        assert_eq!(m.valid_from, None);
        assert!(definition_of(&ctx(&c), &product(ProductKind::Match, None)).is_none());
    }

    #[test]
    fn the_hash_changes_with_the_product_and_only_then() {
        let c = catalog();
        let p = product(ProductKind::SeasonCard, Some("S26"));
        let h = definition_hash(&definition_of(&ctx(&c), &p).unwrap());
        assert_eq!(h, definition_hash(&definition_of(&ctx(&c), &p).unwrap()));
        let renamed = Product {
            name: LocalizedText::new("en", "Season ticket 2026"),
            ..p
        };
        assert_ne!(
            h,
            definition_hash(&definition_of(&ctx(&c), &renamed).unwrap())
        );
    }
}
