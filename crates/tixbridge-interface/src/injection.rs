//! Tickets injection ("Tickets external printing", DOMAIN.md §5.1).
//!
//! The execution streams: it reads candidates by pages of ticket ids, builds wallet
//! tickets (pure, in `tixbridge_core::inject`), sends calls of `ticketIterationSize`
//! with a bounded number in flight, and marks what the wallet accepted in grouped
//! transactions. Memory does not grow with the batch size.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::{Semaphore, mpsc};

use tixbridge_client::{ClientError, WalletClient};
use tixbridge_core::api::{self, Person};
use tixbridge_core::inject::{
    BuildContext, CatalogIndex, FileTracker, SkipReason, build_ticket, choose_recipient, screen,
};
use tixbridge_core::model::{InjectionParams, TicketError};
use tixbridge_core::params::CustomParams;
use tixbridge_store::{Catalog, InjectedMark, InjectionQuery, MarkedBy, TicketingStore};

use crate::execution::counts::{Count, LiveCounts};
use crate::execution::errors::ErrorSink;
use crate::execution::kill::Judge;
use crate::execution::stop::{Stop, StopReason};
use crate::execution::{ExecutionContext, Progress, StepOutcome};

/// One ticket on its way to the wallet.
struct Outgoing {
    /// Its place in the order tickets were taken, for the killRatio judge.
    seq: u64,
    ticket_id: i64,
    tax_number: String,
    recipient: Person,
}

/// A call's fate, sent from the call task to the marker.
struct CallDone {
    items: Vec<Outgoing>,
    result: Result<Vec<api::ItemResult>, ClientError>,
}

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
    let iteration = ctx.custom.ticket_iteration_size;
    let simulation = inj.simulation || client.is_none();
    // In simulation every ticket is checked against the contract, whatever
    // enforceMandatoryParameters says: that is the point of a dry run.
    let build_params = CustomParams {
        enforce_mandatory_parameters: simulation || ctx.custom.enforce_mandatory_parameters,
        ..ctx.custom.clone()
    };
    let in_flight = ctx.opts.in_flight.max(1);
    let (done_tx, done_rx) = mpsc::channel::<CallDone>(in_flight * 2);
    let marker = spawn_marker(
        Marker {
            store: store.clone(),
            by: MarkedBy::execution(ctx.schedule.id, ctx.execution_id),
            pos: inj.point_of_sales.to_string(),
            counts: ctx.counts.clone(),
            judge: ctx.judge.clone(),
            stop: ctx.stop.clone(),
            progress: ctx.opts.progress.clone(),
            errors: ctx.errors.detached(),
            flush_every: ctx.opts.page_size.max(iteration),
        },
        done_rx,
    );
    // Pages are read ahead by a task of their own, so the store's read of the next
    // page overlaps the building and sending of this one.
    let batch = ctx.schedule.batch_size.max(0) as u64;
    let pages = read_ahead(
        store,
        org.id,
        InjectionQuery {
            filters: inj.filters.clone(),
            force: inj.force.clone(),
            after_id: 0,
            limit: (ctx.opts.page_size as u64).min(batch).max(1) as usize,
        },
    );
    let mut p = Producer {
        build: BuildContext {
            default_language: &org.default_language,
            time_zone: org.time_zone,
            params: &build_params,
            injection: &inj,
            catalog: &catalog,
        },
        custom: &ctx.custom,
        counts: &ctx.counts,
        judge: &ctx.judge,
        stop: &ctx.stop,
        errors: &mut ctx.errors,
        calls: Calls {
            client,
            permits: Arc::new(Semaphore::new(in_flight)),
            done_tx,
        },
        iteration,
        batch,
        tracker: FileTracker::default(),
        timings: Timings::default(),
        taken: 0,
        pending: Vec::with_capacity(iteration),
        would_send: 0,
        missing_data: 0,
    };
    let produced = p.produce(pages).await;
    // Built but never sent because the execution stopped early.
    p.counts.add(Count::Unsent, p.pending.len() as u64);
    p.pending.clear();
    let (would_send, missing_data, mut timings) = (p.would_send, p.missing_data, p.timings);
    // Whatever happened above, the calls in flight finish and what the wallet
    // accepted is marked before the execution ends.
    drop(p.calls);
    let (m, marker_errors) = marker.await?;
    ctx.errors.absorb(marker_errors);
    timings.build = timings.build.saturating_sub(timings.wait_for_calls);
    tracing::debug!(
        read_ms = timings.read.as_millis() as u64,
        build_ms = timings.build.as_millis() as u64,
        wait_for_calls_ms = timings.wait_for_calls.as_millis() as u64,
        mark_ms = m.mark_time.as_millis() as u64,
        marks = m.mark_calls,
        "injection timings"
    );
    let mut messages = Vec::new();
    let read_failed = produced.is_err();
    if let Err(e) = produced {
        ctx.errors
            .push(TicketError {
                ticket_id: None,
                tax_number: None,
                code: "EXECUTION_FAILED".into(),
                message: format!("{e:#}"),
            })
            .await?;
        messages.push(format!(
            "the execution stopped: {e:#}; what the wallet had accepted is marked"
        ));
    }
    if let Some(f) = &m.fatal {
        messages.push(format!(
            "the wallet could not be reached or refused the calls ({f}); nothing of the failed calls was marked and those tickets will be sent again next execution"
        ));
    }
    if let Some(e) = &m.mark_error {
        messages.push(format!(
            "marking accepted tickets failed ({e}); they will be sent again next execution and the wallet will accept them again"
        ));
    }
    if simulation {
        messages.push(format!(
            "simulation: {would_send} tickets would be sent; nothing was sent or changed"
        ));
    }
    if missing_data > 0 {
        messages.push(format!(
            "{missing_data} tickets skipped because their holder lacks a mandatory field"
        ));
    }
    Ok(StepOutcome {
        fatal: m.fatal.is_some() || m.mark_error.is_some() || read_failed,
        warning: missing_data > 0,
        simulation,
        messages,
    })
}

/// What sends calls: the client (none in simulation), the in-flight bound, and the
/// channel to the marker.
struct Calls {
    client: Option<WalletClient>,
    permits: Arc<Semaphore>,
    done_tx: mpsc::Sender<CallDone>,
}

/// The task that reads candidates, screens them, builds wallet tickets and sends
/// calls, in ticket-id order.
struct Producer<'a> {
    build: BuildContext<'a>,
    custom: &'a CustomParams,
    counts: &'a Arc<LiveCounts>,
    judge: &'a Judge,
    stop: &'a Stop,
    errors: &'a mut ErrorSink,
    calls: Calls,
    iteration: usize,
    batch: u64,
    tracker: FileTracker,
    timings: Timings,
    /// Tickets taken so far (not skipped): the next one's sequence number.
    taken: u64,
    pending: Vec<(Outgoing, api::Ticket)>,
    would_send: u64,
    missing_data: u64,
}

type Page = anyhow::Result<Vec<tixbridge_store::InjectionCandidate>>;

impl Producer<'_> {
    /// Takes candidates page by page until the batch is full, none is left, or the
    /// execution stops; sends the last partial call.
    async fn produce(&mut self, mut pages: mpsc::Receiver<Page>) -> anyhow::Result<()> {
        while self.taken < self.batch && !self.stop.is_stopped() {
            let t_read = std::time::Instant::now();
            let page = tokio::select! {
                page = pages.recv() => page,
                _ = self.stop.stopped() => None,
            };
            let Some(page) = page else { break };
            let page = page?;
            self.timings.read += t_read.elapsed();
            let t_build = std::time::Instant::now();
            for cand in page {
                if self.taken >= self.batch || self.stop.is_stopped() {
                    break;
                }
                self.take(cand).await?;
            }
            self.timings.build += t_build.elapsed();
        }
        if !self.pending.is_empty() && !self.stop.is_stopped() {
            self.dispatch().await;
        }
        Ok(())
    }

    /// Screens one candidate, builds its wallet ticket and queues it for a call.
    async fn take(&mut self, cand: tixbridge_store::InjectionCandidate) -> anyhow::Result<()> {
        self.counts.add(Count::Selected, 1);
        let t = &cand.ticket;
        let inj = self.build.injection;
        if let Some(reason) = screen(t, inj) {
            self.counts.add(Count::Skipped, 1);
            if matches!(reason, SkipReason::MissingHolderField(_)) {
                self.missing_data += 1;
            }
            return Ok(());
        }
        let replaced = cand
            .replaced
            .as_ref()
            .map(|r| (r.cause.as_ref(), r.last_owner.as_ref()));
        let (recipient, _) = choose_recipient(self.custom, &cand.contact, replaced);
        let main = self.tracker.main_applicant(inj.main_applicant_rule, t);
        let seq = self.taken;
        self.taken += 1;
        match build_ticket(&self.build, t, recipient.clone(), main) {
            Err(e) => {
                self.counts.add(Count::Failed, 1);
                self.judge.fates([(seq, true)]);
                let message = format!(
                    "ticket {} (tax number {}): {}",
                    t.id, t.tax_number, e.message
                );
                self.errors
                    .push(TicketError {
                        ticket_id: Some(t.id),
                        tax_number: Some(t.tax_number.clone()),
                        code: e.code.to_owned(),
                        message,
                    })
                    .await?;
            }
            Ok(_) if self.calls.client.is_none() => {
                self.judge.fates([(seq, false)]);
                self.would_send += 1;
            }
            Ok(wt) => {
                let out = Outgoing {
                    seq,
                    ticket_id: t.id,
                    tax_number: t.tax_number.clone(),
                    recipient,
                };
                self.pending.push((out, wt));
                if self.pending.len() >= self.iteration {
                    let t_wait = std::time::Instant::now();
                    self.dispatch().await;
                    self.timings.wait_for_calls += t_wait.elapsed();
                }
            }
        }
        Ok(())
    }

    /// Sends the pending tickets as one call once a slot is free. If the execution
    /// stops while waiting for a slot, nothing is sent and they count as unsent.
    async fn dispatch(&mut self) {
        let Some(client) = &self.calls.client else {
            return;
        };
        let permit = tokio::select! {
            p = self.calls.permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = self.stop.stopped() => return,
        };
        let (items, tickets): (Vec<Outgoing>, Vec<api::Ticket>) =
            std::mem::take(&mut self.pending).into_iter().unzip();
        self.counts.add(Count::Sent, items.len() as u64);
        let client = client.clone();
        let done_tx = self.calls.done_tx.clone();
        tokio::spawn(async move {
            let result = client.inject(&tickets).await;
            drop(permit);
            // The marker only goes away after every sender is dropped.
            let _ = done_tx.send(CallDone { items, result }).await;
        });
    }
}

/// The marker's setup: where it marks, what it counts and reports to.
struct Marker {
    store: Arc<dyn TicketingStore>,
    by: MarkedBy,
    pos: String,
    counts: Arc<LiveCounts>,
    judge: Judge,
    stop: Stop,
    progress: Option<crate::execution::ProgressFn>,
    errors: ErrorSink,
    flush_every: usize,
}

/// The marker: applies call results as they arrive, grouping marks into few
/// transactions, until every call's sender is gone.
fn spawn_marker(
    mut mk: Marker,
    mut done_rx: mpsc::Receiver<CallDone>,
) -> tokio::task::JoinHandle<(MarkerState, ErrorSink)> {
    tokio::spawn(async move {
        let mut m = MarkerState {
            counts: mk.counts.clone(),
            ..MarkerState::default()
        };
        let mut marks: Vec<InjectedMark> = Vec::new();
        // At most one mark transaction runs while results keep arriving.
        let mut marking: Option<tokio::task::JoinHandle<FlushDone>> = None;
        loop {
            let msg = match tokio::time::timeout(MARK_IDLE, done_rx.recv()).await {
                Ok(msg) => msg,
                Err(_) => {
                    // No result for a while: commit what we have.
                    if !marks.is_empty() {
                        finish_flush(&mut marking, &mut m).await;
                        marking = Some(start_flush(&mk, &mut marks));
                    }
                    continue;
                }
            };
            let Some(done) = msg else { break };
            let fates = m.apply(done, &mut marks);
            mk.judge.fates(fates);
            // Refusals go to the store as they come, not all at the end.
            for e in m.errors.drain(..) {
                if let Err(err) = mk.errors.push(e).await {
                    tracing::error!(error = %err, "recording ticket errors failed");
                }
            }
            if marks.len() >= mk.flush_every {
                finish_flush(&mut marking, &mut m).await;
                marking = Some(start_flush(&mk, &mut marks));
            }
            if m.fatal.is_some() {
                mk.stop.stop(StopReason::Fatal);
            }
            if let Some(p) = &mk.progress {
                let c = mk.counts.snapshot();
                p(Progress {
                    succeeded: c.succeeded + marks.len() as u64,
                    failed: c.failed,
                });
            }
        }
        finish_flush(&mut marking, &mut m).await;
        if !marks.is_empty() {
            marking = Some(start_flush(&mk, &mut marks));
            finish_flush(&mut marking, &mut m).await;
        }
        if let Err(err) = mk.errors.flush().await {
            tracing::error!(error = %err, "recording ticket errors failed");
        }
        (m, mk.errors)
    })
}

/// Reads pages of candidates by ticket id, ahead of their use, until none is left or
/// the receiver goes away.
fn read_ahead(
    store: Arc<dyn TicketingStore>,
    org: i64,
    mut query: InjectionQuery,
) -> mpsc::Receiver<anyhow::Result<Vec<tixbridge_store::InjectionCandidate>>> {
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        loop {
            let page = match store.injection_candidates(org, &query).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            };
            let Some(last) = page.last() else { return };
            query.after_id = last.ticket.id;
            let full = page.len() == query.limit;
            if tx.send(Ok(page)).await.is_err() || !full {
                return;
            }
        }
    });
    rx
}

/// Where the producer's time went, for the debug log.
#[derive(Default)]
struct Timings {
    read: std::time::Duration,
    build: std::time::Duration,
    wait_for_calls: std::time::Duration,
}

#[derive(Default)]
struct MarkerState {
    mark_time: std::time::Duration,
    mark_calls: u64,
    /// The execution's counts: succeeded once marked, failed as refused.
    counts: Arc<LiveCounts>,
    /// A call-wide failure (wallet down, authentication): the message of the first.
    fatal: Option<String>,
    mark_error: Option<String>,
    errors: Vec<TicketError>,
}

impl MarkerState {
    /// Applies one call's results: accepted tickets join `marks`, refusals are counted
    /// failed with an error naming the ticket. Returns each ticket's fate (sequence
    /// number, failed) for the killRatio judge.
    fn apply(&mut self, done: CallDone, marks: &mut Vec<InjectedMark>) -> Vec<(u64, bool)> {
        let mut fates = Vec::with_capacity(done.items.len());
        match done.result {
            Ok(results) => {
                for (item, r) in done.items.into_iter().zip(results) {
                    let ok = r.is_ok() && r.ticket_id == item.ticket_id.to_string();
                    fates.push((item.seq, !ok));
                    if ok {
                        marks.push(InjectedMark {
                            ticket_id: item.ticket_id,
                            recipient: item.recipient,
                        });
                        continue;
                    }
                    self.counts.add(Count::Failed, 1);
                    let code = r.error_code.unwrap_or_else(|| "KO".into());
                    let msg = r.message.unwrap_or_default();
                    self.errors.push(TicketError {
                        ticket_id: Some(item.ticket_id),
                        tax_number: Some(item.tax_number.clone()),
                        message: format!(
                            "ticket {} (tax number {}): the wallet refused it: {code}: {msg}",
                            item.ticket_id, item.tax_number
                        ),
                        code,
                    });
                }
            }
            Err(e) => {
                self.counts.add(Count::Failed, done.items.len() as u64);
                fates.extend(done.items.iter().map(|i| (i.seq, true)));
                if self.fatal.is_none() {
                    self.fatal = Some(e.to_string());
                    self.errors.push(TicketError {
                        ticket_id: None,
                        tax_number: None,
                        code: e.code().to_owned(),
                        message: e.to_string(),
                    });
                }
            }
        }
        fates
    }
}

/// How long the marker waits for more results before committing what it holds.
const MARK_IDLE: std::time::Duration = std::time::Duration::from_millis(50);

struct FlushDone {
    tickets: u64,
    took: std::time::Duration,
    result: tixbridge_store::Result<()>,
}

fn start_flush(mk: &Marker, marks: &mut Vec<InjectedMark>) -> tokio::task::JoinHandle<FlushDone> {
    let batch = std::mem::take(marks);
    let store = mk.store.clone();
    let pos = mk.pos.clone();
    let by = mk.by;
    tokio::spawn(async move {
        let tickets = batch.len() as u64;
        let t = std::time::Instant::now();
        let result = store.mark_injected(by, &pos, Utc::now(), batch).await;
        FlushDone {
            tickets,
            took: t.elapsed(),
            result,
        }
    })
}

async fn finish_flush(
    marking: &mut Option<tokio::task::JoinHandle<FlushDone>>,
    m: &mut MarkerState,
) {
    let Some(task) = marking.take() else { return };
    let done = match task.await {
        Ok(d) => d,
        Err(e) => FlushDone {
            tickets: 0,
            took: Default::default(),
            result: Err(tixbridge_store::StoreError::Backend(format!(
                "marking task failed: {e}"
            ))),
        },
    };
    m.mark_time += done.took;
    m.mark_calls += 1;
    let n = done.tickets;
    match done.result {
        Ok(()) => m.counts.add(Count::Succeeded, n),
        Err(e) => {
            // The wallet has them; ticketing does not. They stay NOT_PRINTED and
            // unprocessed, so the next execution sends them again (idempotent).
            m.counts.add(Count::Failed, n);
            if m.mark_error.is_none() {
                m.mark_error = Some(e.to_string());
            }
            tracing::error!(error = %e, tickets = n, "marking injected tickets failed");
        }
    }
}
