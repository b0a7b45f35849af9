//! Tickets injection ("Tickets external printing", DOMAIN.md §5.1).
//!
//! The execution streams: it reads candidates by pages of ticket ids, builds wallet
//! tickets (pure, in `tixbridge_core::inject`), sends calls of `ticketIterationSize`
//! with a bounded number in flight, and marks what the wallet accepted in grouped
//! transactions. Memory does not grow with the batch size.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use tokio::sync::{Semaphore, mpsc};

use tixbridge_client::{ClientError, WalletClient};
use tixbridge_core::api::{self, Person};
use tixbridge_core::inject::{
    BuildContext, CatalogIndex, FileTracker, SkipReason, build_ticket, choose_recipient, screen,
    should_kill,
};
use tixbridge_core::model::{Counts, InjectionParams, TicketError};
use tixbridge_core::params::CustomParams;
use tixbridge_store::{
    Catalog, InjectedMark, InjectionQuery, InterfaceConfig, Schedule, TicketingStore,
};

use crate::execution::{ErrorSink, Progress, RunOptions, StepOutcome};

/// One ticket on its way to the wallet.
struct Outgoing {
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

/// Runs one injection execution's work. Counts and errors go to `errors` and the
/// returned outcome; the caller records the execution.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    store: Arc<dyn TicketingStore>,
    interface: &InterfaceConfig,
    schedule: &Schedule,
    custom: &CustomParams,
    inj: InjectionParams,
    client: Option<WalletClient>,
    opts: &RunOptions,
    errors: &mut ErrorSink,
) -> anyhow::Result<StepOutcome> {
    let org = store.organization(interface.organization_id).await?;
    let catalog = index_catalog(store.catalog(org.id).await?);
    let batch = schedule.batch_size.max(0) as u64;
    let iteration = custom.ticket_iteration_size;
    let simulation = inj.simulation || client.is_none();
    // In simulation every ticket is checked against the contract, whatever
    // enforceMandatoryParameters says: that is the point of a dry run.
    let build_params = if simulation {
        CustomParams {
            enforce_mandatory_parameters: true,
            ..custom.clone()
        }
    } else {
        custom.clone()
    };

    let mut counts = Counts::default();
    let mut missing_data = 0u64;
    let stop = Arc::new(AtomicBool::new(false));
    // killRatio looks at every ticket of the execution: refused here before sending,
    // or refused by the wallet.
    let kill = Arc::new(KillCounter::default());
    let (done_tx, mut done_rx) = mpsc::channel::<CallDone>(opts.in_flight.max(1) * 2);
    let permits = Arc::new(Semaphore::new(opts.in_flight.max(1)));

    // The marker: applies call results as they arrive, grouping marks into few
    // transactions. It owns the success/failure counts of sent tickets.
    let marker = {
        let store = store.clone();
        let schedule_id = schedule.id;
        let pos = inj.point_of_sales.to_string();
        let kill_ratio = custom.kill_ratio;
        let stop = stop.clone();
        let kill = kill.clone();
        let progress = opts.progress.clone();
        let mut error_sink = errors.detached();
        let flush_every = opts.page_size.max(iteration);
        tokio::spawn(async move {
            let mut m = MarkerState::default();
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
                            marking = Some(start_flush(&store, schedule_id, &pos, &mut marks));
                        }
                        continue;
                    }
                };
                let Some(done) = msg else { break };
                let (ok, ko) = m.apply(done, &mut marks);
                kill.add(ok, ko);
                // Refusals go to the store as they come, not all at the end.
                for e in m.errors.drain(..) {
                    if let Err(err) = error_sink.push(e).await {
                        tracing::error!(error = %err, "recording ticket errors failed");
                    }
                }
                if marks.len() >= flush_every {
                    finish_flush(&mut marking, &mut m).await;
                    marking = Some(start_flush(&store, schedule_id, &pos, &mut marks));
                }
                if kill.exceeds(kill_ratio) {
                    m.killed = true;
                    stop.store(true, Ordering::Relaxed);
                }
                if m.fatal.is_some() {
                    stop.store(true, Ordering::Relaxed);
                }
                if let Some(p) = &progress {
                    p(Progress {
                        succeeded: m.succeeded + marks.len() as u64,
                        failed: m.failed,
                    });
                }
            }
            finish_flush(&mut marking, &mut m).await;
            if !marks.is_empty() {
                marking = Some(start_flush(&store, schedule_id, &pos, &mut marks));
                finish_flush(&mut marking, &mut m).await;
            }
            if let Err(err) = error_sink.flush().await {
                tracing::error!(error = %err, "recording ticket errors failed");
            }
            (m, error_sink)
        })
    };

    let ctx = BuildContext {
        default_language: &org.default_language,
        time_zone: org.time_zone,
        params: &build_params,
        injection: &inj,
        catalog: &catalog,
    };
    let mut tracker = FileTracker::default();
    let mut timings = Timings::default();
    let mut taken = 0u64;
    let mut pending: Vec<(Outgoing, api::Ticket)> = Vec::with_capacity(iteration);
    let mut would_send = 0u64;
    // Pages are read ahead by a task of their own, so the store's read of the next
    // page overlaps the building and sending of this one.
    let mut pages = read_ahead(
        store.clone(),
        org.id,
        InjectionQuery {
            filters: inj.filters.clone(),
            force: inj.force.clone(),
            after_id: 0,
            limit: (opts.page_size as u64).min(batch).max(1) as usize,
        },
    );
    let mut killed_here = false;
    let produced: anyhow::Result<()> = async {
        'pages: while taken < batch && !stop.load(Ordering::Relaxed) {
            let t_read = std::time::Instant::now();
            let Some(page) = pages.recv().await else {
                break;
            };
            let page = page?;
            timings.read += t_read.elapsed();
            let t_build = std::time::Instant::now();
            for cand in page {
                if taken >= batch || stop.load(Ordering::Relaxed) {
                    break 'pages;
                }
                counts.selected += 1;
                let t = &cand.ticket;
                if let Some(reason) = screen(t, &inj) {
                    counts.skipped += 1;
                    if matches!(reason, SkipReason::MissingHolderField(_)) {
                        missing_data += 1;
                    }
                    continue;
                }
                let replaced = cand
                    .replaced
                    .as_ref()
                    .map(|r| (r.cause.as_ref(), r.last_owner.as_ref()));
                let (recipient, _) = choose_recipient(custom, &cand.contact, replaced);
                let main = tracker.main_applicant(inj.main_applicant_rule, t);
                taken += 1;
                match build_ticket(&ctx, t, recipient.clone(), main) {
                    Err(e) => {
                        counts.failed += 1;
                        kill.add(0, 1);
                        if kill.exceeds(custom.kill_ratio) {
                            killed_here = true;
                            stop.store(true, Ordering::Relaxed);
                        }
                        errors
                            .push(TicketError {
                                ticket_id: Some(t.id),
                                tax_number: Some(t.tax_number.clone()),
                                code: e.code.to_owned(),
                                message: format!(
                                    "ticket {} (tax number {}): {}",
                                    t.id, t.tax_number, e.message
                                ),
                            })
                            .await?;
                    }
                    Ok(_) if simulation => {
                        kill.add(1, 0);
                        would_send += 1;
                    }
                    Ok(wt) => {
                        pending.push((
                            Outgoing {
                                ticket_id: t.id,
                                tax_number: t.tax_number.clone(),
                                recipient,
                            },
                            wt,
                        ));
                        if pending.len() >= iteration {
                            let t_wait = std::time::Instant::now();
                            dispatch(
                                &mut pending,
                                client.as_ref(),
                                &permits,
                                &done_tx,
                                &mut counts,
                            )
                            .await;
                            timings.wait_for_calls += t_wait.elapsed();
                        }
                    }
                }
            }
            timings.build += t_build.elapsed();
        }
        if !pending.is_empty() && !stop.load(Ordering::Relaxed) {
            dispatch(
                &mut pending,
                client.as_ref(),
                &permits,
                &done_tx,
                &mut counts,
            )
            .await;
        }
        Ok(())
    }
    .await;
    drop(pages);
    // Built but never sent because the execution stopped early.
    let unsent = pending.len() as u64;
    counts.skipped += unsent;
    drop(pending);
    // Whatever happened above, the calls in flight finish and what the wallet
    // accepted is marked before the execution ends.
    drop(done_tx);
    let (m, marker_errors) = marker.await?;
    errors.absorb(marker_errors);
    timings.build = timings.build.saturating_sub(timings.wait_for_calls);
    tracing::debug!(
        read_ms = timings.read.as_millis() as u64,
        build_ms = timings.build.as_millis() as u64,
        wait_for_calls_ms = timings.wait_for_calls.as_millis() as u64,
        mark_ms = m.mark_time.as_millis() as u64,
        marks = m.mark_calls,
        "injection timings"
    );

    counts.succeeded += m.succeeded;
    counts.failed += m.failed;
    let mut message = Vec::new();
    let read_failed = produced.is_err();
    if let Err(e) = produced {
        errors
            .push(TicketError {
                ticket_id: None,
                tax_number: None,
                code: "EXECUTION_FAILED".into(),
                message: format!("{e:#}"),
            })
            .await?;
        message.push(format!(
            "the execution stopped: {e:#}; what the wallet had accepted is marked"
        ));
    }
    if unsent > 0 {
        message.push(format!(
            "{unsent} tickets were built but not sent because the execution stopped early (counted as skipped)"
        ));
    }
    if let Some(f) = &m.fatal {
        message.push(format!(
            "the wallet could not be reached or refused the calls ({f}); nothing of the failed calls was marked and those tickets will be sent again next execution"
        ));
    }
    if let Some(e) = &m.mark_error {
        message.push(format!(
            "marking accepted tickets failed ({e}); they will be sent again next execution and the wallet will accept them again"
        ));
    }
    if m.killed || killed_here {
        message.push(format!(
            "stopped early: the share of failed tickets exceeded killRatio={}",
            custom.kill_ratio
        ));
    }
    if simulation {
        message.push(format!(
            "simulation: {would_send} tickets would be sent; nothing was sent or changed"
        ));
    }
    if missing_data > 0 {
        message.push(format!(
            "{missing_data} tickets skipped because their holder lacks a mandatory field"
        ));
    }
    Ok(StepOutcome {
        counts,
        fatal: m.fatal.is_some() || m.mark_error.is_some() || read_failed,
        warning: missing_data > 0,
        message: (!message.is_empty()).then(|| message.join("; ")),
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

async fn dispatch(
    pending: &mut Vec<(Outgoing, api::Ticket)>,
    client: Option<&WalletClient>,
    permits: &Arc<Semaphore>,
    done_tx: &mpsc::Sender<CallDone>,
    counts: &mut Counts,
) {
    let Some(client) = client else { return };
    let (items, tickets): (Vec<Outgoing>, Vec<api::Ticket>) =
        std::mem::take(pending).into_iter().unzip();
    counts.sent += items.len() as u64;
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    let client = client.clone();
    let done_tx = done_tx.clone();
    tokio::spawn(async move {
        let result = client.inject(&tickets).await;
        drop(permit);
        // The marker only goes away after every sender is dropped.
        let _ = done_tx.send(CallDone { items, result }).await;
    });
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
    succeeded: u64,
    failed: u64,
    killed: bool,
    /// A call-wide failure (wallet down, authentication): the message of the first.
    fatal: Option<String>,
    mark_error: Option<String>,
    errors: Vec<TicketError>,
}

impl MarkerState {
    /// Applies one call's results; returns how many tickets the wallet accepted and
    /// how many failed.
    fn apply(&mut self, done: CallDone, marks: &mut Vec<InjectedMark>) -> (u64, u64) {
        let (ok_before, failed_before) = (marks.len() as u64, self.failed);
        match done.result {
            Ok(results) => {
                for (item, r) in done.items.into_iter().zip(results) {
                    if r.is_ok() && r.ticket_id == item.ticket_id.to_string() {
                        marks.push(InjectedMark {
                            ticket_id: item.ticket_id,
                            recipient: item.recipient,
                        });
                    } else {
                        self.failed += 1;
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
            }
            Err(e) => {
                self.failed += done.items.len() as u64;
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
        (marks.len() as u64 - ok_before, self.failed - failed_before)
    }
}

/// Tickets of the execution so far, for `killRatio`: shared by the task that builds
/// (refusals before sending) and the one that applies the wallet's answers.
#[derive(Default)]
struct KillCounter {
    processed: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
}

impl KillCounter {
    fn add(&self, ok: u64, failed: u64) {
        self.processed.fetch_add(ok + failed, Ordering::Relaxed);
        self.failed.fetch_add(failed, Ordering::Relaxed);
    }

    fn exceeds(&self, kill_ratio: f64) -> bool {
        should_kill(
            kill_ratio,
            self.failed.load(Ordering::Relaxed),
            self.processed.load(Ordering::Relaxed),
        )
    }
}

/// How long the marker waits for more results before committing what it holds.
const MARK_IDLE: std::time::Duration = std::time::Duration::from_millis(50);

struct FlushDone {
    tickets: u64,
    took: std::time::Duration,
    result: tixbridge_store::Result<()>,
}

fn start_flush(
    store: &Arc<dyn TicketingStore>,
    schedule_id: i64,
    pos: &str,
    marks: &mut Vec<InjectedMark>,
) -> tokio::task::JoinHandle<FlushDone> {
    let batch = std::mem::take(marks);
    let store = store.clone();
    let pos = pos.to_owned();
    tokio::spawn(async move {
        let tickets = batch.len() as u64;
        let t = std::time::Instant::now();
        let result = store
            .mark_injected(schedule_id, &pos, Utc::now(), batch)
            .await;
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
        Ok(()) => m.succeeded += n,
        Err(e) => {
            // The wallet has them; ticketing does not. They stay NOT_PRINTED and
            // unprocessed, so the next execution sends them again (idempotent).
            m.failed += n;
            if m.mark_error.is_none() {
                m.mark_error = Some(e.to_string());
            }
            tracing::error!(error = %e, tickets = n, "marking injected tickets failed");
        }
    }
}
