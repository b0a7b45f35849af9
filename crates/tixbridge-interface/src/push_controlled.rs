//! Push Controlled ("Push controlled tickets", DOMAIN.md §5.4): one implementation of
//! the push pipeline ([`crate::execution::pipeline`]).
//!
//! Its own rules: the selection (controlled tickets that were injected and not pushed
//! yet, or pushed since Date from, or the force list), the skip list, `controlledAt` =
//! the gate scan's time, and the marking (processed, mobile projection `CONTROLLED`).
//! The wallet's `KO TICKET_DELETED` (the ticket was deleted meanwhile) is a final
//! answer: recorded once, marked, never sent again.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

use tixbridge_client::{ClientError, WalletClient};
use tixbridge_core::api::{ControlledTicket, ItemResult};
use tixbridge_core::ledger::TICKET_DELETED;
use tixbridge_core::model::PushControlledParams;
use tixbridge_store::{MarkedBy, PushControlledCandidate, PushQuery, TicketingStore};

use crate::execution::pipeline::{self, Builder, Built, Push, Ready};
use crate::execution::{ExecutionContext, StepOutcome};

/// Runs one Push Controlled execution's work (see [`crate::injection::run`]).
pub(crate) async fn run(
    ctx: &mut ExecutionContext,
    params: PushControlledParams,
    client: Option<WalletClient>,
) -> anyhow::Result<StepOutcome> {
    let client = if params.simulation { None } else { client };
    let push = PushControlled {
        store: ctx.store.clone(),
        organization_id: ctx.interface.organization_id,
        query: PushQuery {
            force: params.force.clone(),
            date_from: params.date_from,
            ..PushQuery::default()
        },
        by: MarkedBy::execution(ctx.schedule.id, ctx.execution_id),
    };
    let mut builder = ControlBuilder { params: &params };
    pipeline::run_step(ctx, push, &mut builder, client).await
}

/// Push Controlled's reading, sending and marking.
struct PushControlled {
    store: Arc<dyn TicketingStore>,
    organization_id: i64,
    query: PushQuery,
    by: MarkedBy,
}

impl Push for PushControlled {
    type Candidate = PushControlledCandidate;
    type Item = ControlledTicket;
    type Mark = i64;

    async fn page(
        &self,
        after_id: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<PushControlledCandidate>> {
        let query = PushQuery {
            after_id,
            limit,
            ..self.query.clone()
        };
        Ok(self
            .store
            .push_controlled_candidates(self.organization_id, &query)
            .await?)
    }

    fn ticket_id(candidate: &PushControlledCandidate) -> i64 {
        candidate.ticket_id
    }

    async fn send(
        &self,
        client: &WalletClient,
        items: Vec<ControlledTicket>,
    ) -> Result<Vec<ItemResult>, ClientError> {
        client.controlled(&items).await
    }

    fn preview(item: &ControlledTicket) -> String {
        format!(
            "would mark ticket {} controlled at {}",
            item.ticket_id,
            item.controlled_at.as_deref().unwrap_or("(no scan time)")
        )
    }

    fn settles(code: &str) -> bool {
        code == TICKET_DELETED
    }

    async fn mark(&self, at: DateTime<Utc>, marks: Vec<i64>) -> tixbridge_store::Result<()> {
        self.store.mark_pushed_controlled(self.by, at, marks).await
    }
}

/// Push Controlled's screening (the skip list) and building of one control.
struct ControlBuilder<'a> {
    params: &'a PushControlledParams,
}

impl Builder<PushControlled> for ControlBuilder<'_> {
    fn build(&mut self, c: PushControlledCandidate) -> Built<ControlledTicket, i64> {
        if self.params.skip.contains(c.ticket_id, &c.tax_number) {
            return Built::Skipped;
        }
        Built::Ready(Ready {
            ticket_id: c.ticket_id,
            tax_number: c.tax_number,
            item: ControlledTicket {
                ticket_id: c.ticket_id.to_string(),
                controlled_at: c
                    .controlled_at
                    .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            },
            mark: c.ticket_id,
        })
    }
}
