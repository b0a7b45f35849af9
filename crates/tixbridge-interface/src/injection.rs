//! Tickets injection ("Tickets external printing", DOMAIN.md §5.1): one
//! implementation of the push pipeline ([`crate::execution::pipeline`]).
//!
//! Its own rules: the selection (`NOT_PRINTED` tickets of the wallet shipment mode
//! matching the schedule's filters or file number, or the force list, and printed
//! tickets corrected since their injection), the screening and building of a wallet
//! ticket (pure, in `tixbridge_core::inject`: holder fields, main applicant, the
//! recipient of a reprint), and the marking (`PRINTED` by the point of sales,
//! processed, mobile projection `INJECTED`).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use tixbridge_client::{ClientError, WalletClient};
use tixbridge_core::api::{self, ItemResult};
use tixbridge_core::inject::{
    BuildContext, CatalogIndex, FileTracker, SkipReason, build_ticket, choose_recipient, screen,
};
use tixbridge_core::model::{InjectionParams, TicketError};
use tixbridge_core::params::CustomParams;
use tixbridge_store::{
    Catalog, InjectedMark, InjectionCandidate, InjectionQuery, MarkedBy, TicketingStore,
};

use crate::execution::pipeline::{self, Builder, Built, Plan, Push, Ready};
use crate::execution::{ExecutionContext, StepOutcome};

pub fn index_catalog(c: Catalog) -> CatalogIndex {
    CatalogIndex {
        products: c.products.into_iter().map(|p| (p.id, p)).collect(),
        performances: c.performances.into_iter().map(|p| (p.id, p)).collect(),
        sites: c.sites.into_iter().map(|s| (s.id, s)).collect(),
        seasons: c.seasons.into_iter().map(|s| (s.code.clone(), s)).collect(),
    }
}

/// Runs one injection execution's work. Counts, errors, the stop signal and the
/// killRatio judge are the execution's ([`ExecutionContext`]); the caller records it.
pub(crate) async fn run(
    ctx: &mut ExecutionContext,
    inj: InjectionParams,
    client: Option<WalletClient>,
) -> anyhow::Result<StepOutcome> {
    let store = ctx.store.clone();
    let org = store.organization(ctx.interface.organization_id).await?;
    let catalog = index_catalog(store.catalog(org.id).await?);
    let client = if inj.simulation { None } else { client };
    // In simulation every ticket is checked against the contract, whatever
    // enforceMandatoryParameters says: that is the point of a dry run.
    let build_params = CustomParams {
        enforce_mandatory_parameters: client.is_none() || ctx.custom.enforce_mandatory_parameters,
        ..ctx.custom.clone()
    };
    let push = Arc::new(Injection {
        store,
        organization_id: org.id,
        filters: InjectionQuery {
            filters: inj.filters.clone(),
            force: inj.force.clone(),
            ..InjectionQuery::default()
        },
        by: MarkedBy::execution(ctx.schedule.id, ctx.execution_id),
        point_of_sales: inj.point_of_sales.to_string(),
    });
    let custom = ctx.custom.clone();
    let mut builder = TicketBuilder {
        build: BuildContext {
            default_language: &org.default_language,
            time_zone: org.time_zone,
            params: &build_params,
            injection: &inj,
            catalog: &catalog,
        },
        custom: &custom,
        tracker: FileTracker::default(),
        missing_data: 0,
    };
    let plan = Plan {
        iteration: ctx.custom.ticket_iteration_size,
        batch: ctx.schedule.batch_size.max(0) as u64,
        client,
    };
    let end = pipeline::run(ctx, push, &mut builder, plan).await?;
    let mut messages = end.messages;
    let missing_data = builder.missing_data;
    if missing_data > 0 {
        messages.push(format!(
            "{missing_data} tickets skipped because their holder lacks a mandatory field"
        ));
    }
    Ok(StepOutcome {
        fatal: end.fatal,
        warning: missing_data > 0,
        simulation: end.simulation,
        messages,
    })
}

/// Injection's reading, sending and marking.
struct Injection {
    store: Arc<dyn TicketingStore>,
    organization_id: i64,
    /// The selection; its keyset and limit are set per page.
    filters: InjectionQuery,
    by: MarkedBy,
    point_of_sales: String,
}

impl Push for Injection {
    type Candidate = InjectionCandidate;
    type Item = api::Ticket;
    type Mark = InjectedMark;

    async fn page(&self, after_id: i64, limit: usize) -> anyhow::Result<Vec<InjectionCandidate>> {
        let query = InjectionQuery {
            after_id,
            limit,
            ..self.filters.clone()
        };
        Ok(self
            .store
            .injection_candidates(self.organization_id, &query)
            .await?)
    }

    fn ticket_id(candidate: &InjectionCandidate) -> i64 {
        candidate.ticket.id
    }

    async fn send(
        &self,
        client: &WalletClient,
        items: Vec<api::Ticket>,
    ) -> Result<Vec<ItemResult>, ClientError> {
        client.inject(&items).await
    }

    fn preview(t: &api::Ticket) -> String {
        let event = t.event.as_ref();
        format!(
            "would inject ticket {} (event {}, barcode {}) for {}",
            t.ticket_id.as_deref().unwrap_or_default(),
            event.and_then(|e| e.id.as_deref()).unwrap_or_default(),
            t.security
                .as_ref()
                .and_then(|s| s.barcode.as_deref())
                .unwrap_or_default(),
            crate::privileges::recipient(t.spectator_details.as_ref()),
        )
    }

    async fn mark(
        &self,
        at: DateTime<Utc>,
        marks: Vec<InjectedMark>,
    ) -> tixbridge_store::Result<()> {
        self.store
            .mark_injected(self.by, &self.point_of_sales, at, marks)
            .await
    }
}

/// Injection's screening and building of one ticket.
struct TicketBuilder<'a> {
    build: BuildContext<'a>,
    custom: &'a CustomParams,
    tracker: FileTracker,
    /// Tickets skipped because their holder lacks a mandatory field.
    missing_data: u64,
}

impl Builder<Injection> for TicketBuilder<'_> {
    fn build(&mut self, cand: InjectionCandidate) -> Built<api::Ticket, InjectedMark> {
        let t = &cand.ticket;
        let inj = self.build.injection;
        if let Some(reason) = screen(t, inj) {
            if matches!(reason, SkipReason::MissingHolderField(_)) {
                self.missing_data += 1;
            }
            return Built::Skipped;
        }
        let replaced = cand
            .replaced
            .as_ref()
            .map(|r| (r.cause.as_ref(), r.last_owner.as_ref()));
        let (recipient, _) = choose_recipient(self.custom, &cand.contact, replaced);
        let main = self.tracker.main_applicant(inj.main_applicant_rule, t);
        match build_ticket(&self.build, t, recipient.clone(), main) {
            Err(e) => Built::Refused(TicketError {
                ticket_id: Some(t.id),
                tax_number: Some(t.tax_number.clone()),
                code: e.code.to_owned(),
                message: format!(
                    "ticket {} (tax number {}): {}",
                    t.id, t.tax_number, e.message
                ),
            }),
            Ok(item) => Built::Ready(Ready {
                ticket_id: t.id,
                tax_number: t.tax_number.clone(),
                item,
                mark: InjectedMark {
                    ticket_id: t.id,
                    recipient,
                },
            }),
        }
    }
}
