//! Push Cancelled ("Push cancelled and invalidated tickets", DOMAIN.md §5.3): one
//! implementation of the push pipeline ([`crate::execution::pipeline`]).
//!
//! Its own rules: the selection (cancelled and invalidated tickets that were injected
//! and not pushed yet, or pushed with another cause — see
//! `tixbridge_store::PushQuery` —, or the force list), the skip list, the
//! deletion's reason (the normalised cause) and visibility flag (the three-step rule,
//! `tixbridge_core::push`), and the marking (processed with the cause pushed, mobile
//! projection `DELETION_PENDING`). No ticketing status changes.
//!
//! A cancelled membership or season card that was injected as a privilege leaves the
//! wallet the same way, through the privileges' deletion endpoint: a call's tickets and
//! cards go as two wallet calls, their answers put back in the call's order.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use tixbridge_client::{ClientError, WalletClient};
use tixbridge_core::api::{DeleteTicket, ItemResult};
use tixbridge_core::model::PushCancelledParams;
use tixbridge_core::params::CustomParams;
use tixbridge_core::privilege::PrivilegeDeletion;
use tixbridge_core::push::{deletion_reason, show_deleted_ticket};
use tixbridge_store::{
    MarkedBy, PushCancelledCandidate, PushQuery, PushedCancelled, TicketingStore,
};

use crate::execution::pipeline::{self, Builder, Built, Push, Ready};
use crate::execution::{ExecutionContext, StepOutcome};

/// Runs one Push Cancelled execution's work (see [`crate::injection::run`]).
pub(crate) async fn run(
    ctx: &mut ExecutionContext,
    params: PushCancelledParams,
    client: Option<WalletClient>,
) -> anyhow::Result<StepOutcome> {
    let client = if params.simulation { None } else { client };
    let push = PushCancelled {
        store: ctx.store.clone(),
        organization_id: ctx.interface.organization_id,
        query: PushQuery {
            force: params.force.clone(),
            date_from: params.date_from,
            exclude_ticket_resale: ctx.custom.exclude_ticket_resale,
            ..PushQuery::default()
        },
        by: MarkedBy::execution(ctx.schedule.id, ctx.execution_id),
    };
    let custom = ctx.custom.clone();
    let mut builder = DeletionBuilder {
        params: &params,
        custom: &custom,
    };
    pipeline::run_step(ctx, push, &mut builder, client).await
}

/// Push Cancelled's reading, sending and marking.
struct PushCancelled {
    store: Arc<dyn TicketingStore>,
    organization_id: i64,
    /// The selection; its keyset and limit are set per page.
    query: PushQuery,
    by: MarkedBy,
}

impl Push for PushCancelled {
    type Candidate = PushCancelledCandidate;
    type Item = Deletion;
    type Mark = PushedCancelled;

    async fn page(
        &self,
        after_id: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<PushCancelledCandidate>> {
        let query = PushQuery {
            after_id,
            limit,
            ..self.query.clone()
        };
        Ok(self
            .store
            .push_cancelled_candidates(self.organization_id, &query)
            .await?)
    }

    fn ticket_id(candidate: &PushCancelledCandidate) -> i64 {
        candidate.ticket_id
    }

    async fn send(
        &self,
        client: &WalletClient,
        items: Vec<Deletion>,
    ) -> Result<Vec<ItemResult>, ClientError> {
        let mut tickets = Vec::new();
        let mut cards = Vec::new();
        let mut is_card = Vec::with_capacity(items.len());
        for item in items {
            is_card.push(matches!(item, Deletion::Card(_)));
            match item {
                Deletion::Ticket(t) => tickets.push(t),
                Deletion::Card(c) => cards.push(c),
            }
        }
        let tickets = if tickets.is_empty() {
            Vec::new()
        } else {
            client.delete(&tickets).await?
        };
        let cards = if cards.is_empty() {
            Vec::new()
        } else {
            client.delete_privileges(&cards).await?
        };
        let (mut tickets, mut cards) = (tickets.into_iter(), cards.into_iter());
        Ok(is_card
            .into_iter()
            .filter_map(|card| if card { cards.next() } else { tickets.next() })
            .collect())
    }

    fn preview(item: &Deletion) -> String {
        let (what, id, reason, show) = match item {
            Deletion::Ticket(t) => (
                "ticket",
                t.ticket_id.as_str(),
                t.reason.as_str(),
                t.show_deleted_ticket,
            ),
            Deletion::Card(c) => (
                "privilege",
                c.privilege_id.as_deref().unwrap_or_default(),
                c.reason.as_deref().unwrap_or_default(),
                c.show_deleted_ticket,
            ),
        };
        format!("would delete {what} {id}: reason {reason}, showDeletedTicket {show}")
    }

    async fn mark(
        &self,
        at: DateTime<Utc>,
        marks: Vec<PushedCancelled>,
    ) -> tixbridge_store::Result<()> {
        self.store.mark_pushed_cancelled(self.by, at, marks).await
    }
}

/// One deletion: of a ticket, or of a card injected as a privilege.
enum Deletion {
    Ticket(DeleteTicket),
    Card(PrivilegeDeletion),
}

/// Push Cancelled's screening (the skip list) and building of one deletion.
struct DeletionBuilder<'a> {
    params: &'a PushCancelledParams,
    custom: &'a CustomParams,
}

impl Builder<PushCancelled> for DeletionBuilder<'_> {
    fn build(&mut self, c: PushCancelledCandidate) -> Built<Deletion, PushedCancelled> {
        if self.params.skip.contains(c.ticket_id, &c.tax_number) {
            return Built::Skipped;
        }
        let cause = c.cause.as_ref();
        let reason = deletion_reason(cause, c.status);
        let show = show_deleted_ticket(cause, self.params.notify_spectator, self.custom);
        let item = if c.privilege {
            Deletion::Card(PrivilegeDeletion {
                privilege_id: Some(c.ticket_id.to_string()),
                reason: Some(reason),
                show_deleted_ticket: show,
            })
        } else {
            Deletion::Ticket(DeleteTicket {
                ticket_id: c.ticket_id.to_string(),
                reason,
                show_deleted_ticket: show,
            })
        };
        Built::Ready(Ready {
            ticket_id: c.ticket_id,
            tax_number: c.tax_number.clone(),
            item,
            mark: PushedCancelled {
                ticket_id: c.ticket_id,
                cause: c.cause,
            },
        })
    }
}
