//! Privileges injection ("Inject digital privileges", DOMAIN.md §5.5): one
//! implementation of the push pipeline ([`crate::execution::pipeline`]).
//!
//! Its own rules: the selection (`NOT_PRINTED` membership and season cards of the
//! wallet shipment mode matching the schedule's filters, or the force list), the
//! building of a privilege (pure, in `tixbridge_core::card`: one definition per card
//! product, the card as a privilege instance for its cultural contact), and the
//! marking (`PRINTED` by the point of sales, processed, mobile projection `INJECTED`,
//! the definition recorded as pushed).
//!
//! A definition travels with its cards: a new product's definition is created by its
//! first card. When a product changes after its cards were injected (a new name, a new
//! season), the execution sends one injected card of that product again — its
//! lowest-id printed card, the *carrier* — with the new definition, which the wallet
//! applies to the definition every card of the product shares.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use tixbridge_client::{ClientError, WalletClient};
use tixbridge_core::api::ItemResult;
use tixbridge_core::card::{CardContext, build_privilege, definition_hash, definition_of};
use tixbridge_core::model::{InjectionFilters, PrivilegesParams, Product, TicketError};
use tixbridge_core::privilege::{Privilege, PrivilegeDefinition};
use tixbridge_store::{
    InjectedMark, InjectionCandidate, InjectionQuery, MarkedBy, PushedDefinition, TicketingStore,
    merge_by_id,
};

use crate::execution::pipeline::{self, Builder, Built, Plan, Push, Ready};
use crate::execution::{ExecutionContext, StepOutcome};
use crate::injection::index_catalog;

/// Runs one Privileges injection execution's work (see [`crate::injection::run`]).
pub(crate) async fn run(
    ctx: &mut ExecutionContext,
    params: PrivilegesParams,
    client: Option<WalletClient>,
) -> anyhow::Result<StepOutcome> {
    let store = ctx.store.clone();
    let org = store.organization(ctx.interface.organization_id).await?;
    let catalog = index_catalog(store.catalog(org.id).await?);
    let client = if params.simulation { None } else { client };
    let card_ctx = CardContext {
        default_language: &org.default_language,
        multilingual: ctx.custom.send_multilingual_as_json_object,
        time_zone: org.time_zone,
        catalog: &catalog,
    };
    let definitions = current_definitions(&card_ctx, &params.filters);
    let carriers = if params.force.is_empty() {
        let changed = changed_products(store.as_ref(), org.id, &definitions).await?;
        store.definition_carriers(org.id, changed).await?
    } else {
        Vec::new()
    };
    let carried = carriers.len();
    let push = Arc::new(Privileges {
        store,
        organization_id: org.id,
        query: InjectionQuery {
            filters: params.filters.clone(),
            cards: true,
            force: params.force.clone(),
            ..InjectionQuery::default()
        },
        carriers,
        by: MarkedBy::execution(ctx.schedule.id, ctx.execution_id),
        point_of_sales: params.point_of_sales.to_string(),
    });
    let mut builder = CardBuilder {
        ctx: card_ctx,
        definitions: &definitions,
        params: &params,
    };
    let plan = Plan {
        iteration: ctx.custom.ticket_iteration_size,
        batch: ctx.schedule.batch_size.max(0) as u64,
        client,
    };
    let end = pipeline::run(ctx, push, &mut builder, plan).await?;
    let mut messages = end.messages;
    if carried > 0 {
        messages.push(format!(
            "{carried} changed privilege definitions sent again, each with one card of its \
             product"
        ));
    }
    Ok(StepOutcome {
        fatal: end.fatal,
        warning: false,
        simulation: end.simulation,
        messages,
    })
}

/// The definition of every card product the schedule's filters admit, with its hash,
/// by product id.
fn current_definitions(
    ctx: &CardContext<'_>,
    filters: &InjectionFilters,
) -> HashMap<i64, (PrivilegeDefinition, String)> {
    ctx.catalog
        .products
        .values()
        .filter(|p| admits(filters, p))
        .filter_map(|p| {
            let d = definition_of(ctx, p)?;
            let hash = definition_hash(&d);
            Some((p.id, (d, hash)))
        })
        .collect()
}

/// Whether the schedule's product filters admit the product.
fn admits(f: &InjectionFilters, p: &Product) -> bool {
    f.product.as_ref().is_none_or(|c| *c == p.code)
        && f.product_family
            .as_ref()
            .is_none_or(|c| p.family.as_ref() == Some(c))
        && f.season
            .as_ref()
            .is_none_or(|c| p.season_code.as_ref() == Some(c))
}

/// The products whose definition was sent once and has changed since.
async fn changed_products(
    store: &dyn TicketingStore,
    organization_id: i64,
    definitions: &HashMap<i64, (PrivilegeDefinition, String)>,
) -> anyhow::Result<Vec<i64>> {
    Ok(store
        .pushed_definitions(organization_id)
        .await?
        .into_iter()
        .filter(|d| {
            definitions
                .get(&d.product_id)
                .is_some_and(|(_, hash)| *hash != d.definition_hash)
        })
        .map(|d| d.product_id)
        .collect())
}

/// Privileges injection's reading, sending and marking.
struct Privileges {
    store: Arc<dyn TicketingStore>,
    organization_id: i64,
    /// The selection; its keyset and limit are set per page.
    query: InjectionQuery,
    /// The cards that carry a changed definition, in id order: merged into the pages.
    carriers: Vec<InjectionCandidate>,
    by: MarkedBy,
    point_of_sales: String,
}

/// A card the wallet accepted, and the definition it carried.
struct CardMark {
    mark: InjectedMark,
    definition: PushedDefinition,
}

impl Push for Privileges {
    type Candidate = InjectionCandidate;
    type Item = Privilege;
    type Mark = CardMark;

    async fn page(&self, after_id: i64, limit: usize) -> anyhow::Result<Vec<InjectionCandidate>> {
        let query = InjectionQuery {
            after_id,
            limit,
            ..self.query.clone()
        };
        let backlog = self
            .store
            .injection_candidates(self.organization_id, &query)
            .await?;
        let carriers = self
            .carriers
            .iter()
            .filter(|c| c.ticket.id > after_id)
            .take(limit)
            .cloned()
            .collect();
        Ok(merge_by_id(backlog, carriers, limit))
    }

    fn ticket_id(candidate: &InjectionCandidate) -> i64 {
        candidate.ticket.id
    }

    async fn send(
        &self,
        client: &WalletClient,
        items: Vec<Privilege>,
    ) -> Result<Vec<ItemResult>, ClientError> {
        client.inject_privileges(&items).await
    }

    fn preview(p: &Privilege) -> String {
        let definition = p.definition.as_ref();
        format!(
            "would inject privilege {} ({} {}) for {}",
            p.privilege_id.as_deref().unwrap_or_default(),
            definition
                .and_then(|d| d.kind.as_deref())
                .unwrap_or_default(),
            definition.and_then(|d| d.id.as_deref()).unwrap_or_default(),
            recipient(p.spectator_details.as_ref()),
        )
    }

    async fn mark(&self, at: DateTime<Utc>, marks: Vec<CardMark>) -> tixbridge_store::Result<()> {
        let (marks, definitions) = marks.into_iter().map(|m| (m.mark, m.definition)).unzip();
        self.store
            .mark_privileges_injected(self.by, &self.point_of_sales, at, marks, definitions)
            .await
    }
}

/// Privileges injection's screening (the skip list) and building of one privilege.
struct CardBuilder<'a> {
    ctx: CardContext<'a>,
    definitions: &'a HashMap<i64, (PrivilegeDefinition, String)>,
    params: &'a PrivilegesParams,
}

impl Builder<Privileges> for CardBuilder<'_> {
    fn build(&mut self, cand: InjectionCandidate) -> Built<Privilege, CardMark> {
        let t = &cand.ticket;
        if self.params.skip.contains(t.id, &t.tax_number) {
            return Built::Skipped;
        }
        let refused = |code: &str, message: String| {
            Built::Refused(TicketError {
                ticket_id: Some(t.id),
                tax_number: Some(t.tax_number.clone()),
                code: code.to_owned(),
                message: format!("card {} (tax number {}): {message}", t.id, t.tax_number),
            })
        };
        // A forced card of a product outside the filters still gets its definition.
        let found = self.definitions.get(&t.product_id).cloned().or_else(|| {
            let p = self.ctx.catalog.products.get(&t.product_id)?;
            let d = definition_of(&self.ctx, p)?;
            let hash = definition_hash(&d);
            Some((d, hash))
        });
        let Some((definition, hash)) = found else {
            return refused(
                "MISSING_RECORD",
                format!("product {} is not a card product", t.product_id),
            );
        };
        let recipient = cand.contact.to_person();
        match build_privilege(&self.ctx, t, definition, recipient.clone()) {
            Err(e) => refused(e.code, e.message),
            Ok(item) => Built::Ready(Ready {
                ticket_id: t.id,
                tax_number: t.tax_number.clone(),
                item,
                mark: CardMark {
                    mark: InjectedMark {
                        ticket_id: t.id,
                        recipient,
                    },
                    definition: PushedDefinition {
                        product_id: t.product_id,
                        definition_hash: hash,
                    },
                },
            }),
        }
    }
}

/// A recipient as a preview names it: the email, else "no email".
pub(crate) fn recipient(p: Option<&tixbridge_core::api::Person>) -> &str {
    p.and_then(|p| p.email.as_deref()).unwrap_or("no email")
}
