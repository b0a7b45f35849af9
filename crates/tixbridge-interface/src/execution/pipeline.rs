//! The push pipeline every function that sends tickets to the wallet shares (tickets
//! injection today; push cancelled, push controlled and privileges injection next):
//! read candidates ahead by keyset, build calls with a bounded number in flight, mark
//! what the wallet accepted in grouped transactions, feed the killRatio judge and the
//! error sink, report progress. A function brings only its own rules: what it selects
//! and how it sends and marks ([`Push`]), how it screens and builds one candidate
//! ([`Builder`]). Memory does not grow with the batch size.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, mpsc};

use tixbridge_client::{ClientError, WalletClient};
use tixbridge_core::api::ItemResult;
use tixbridge_core::model::TicketError;

use super::counts::{Count, LiveCounts};
use super::errors::ErrorSink;
use super::kill::Judge;
use super::stop::{Stop, StopReason};
use super::{ExecutionContext, Progress, ProgressFn};

/// A function's reading, sending and marking: shared by the tasks of an execution.
pub(crate) trait Push: Send + Sync + 'static {
    /// A ticket the selection found, with what building its call needs.
    type Candidate: Send + 'static;
    /// One item of a wallet call.
    type Item: Send + 'static;
    /// What is marked in ticketing once the wallet accepted the item.
    type Mark: Send + 'static;

    /// The next page of candidates: ticket ids greater than `after_id`, in id order, at
    /// most `limit` (fewer only on the last page).
    fn page(
        &self,
        after_id: i64,
        limit: usize,
    ) -> impl Future<Output = anyhow::Result<Vec<Self::Candidate>>> + Send;
    /// The candidate's ticket id: the keyset.
    fn ticket_id(candidate: &Self::Candidate) -> i64;
    /// Sends one call; the wallet's answer per item, in the items' order.
    fn send(
        &self,
        client: &WalletClient,
        items: Vec<Self::Item>,
    ) -> impl Future<Output = Result<Vec<ItemResult>, ClientError>> + Send;
    /// Whether a wallet refusal with this code is a final answer: the ticket is
    /// counted failed with its error once, and marked processed so that it is not sent
    /// again (Push Controlled's `TICKET_DELETED`). Default: no refusal is final.
    fn settles(_code: &str) -> bool {
        false
    }
    /// What a simulation says it would send for an item, in an operator's words: the
    /// dry-run preview stored per ticket (code [`WOULD_SEND`]).
    fn preview(item: &Self::Item) -> String;
    /// Marks accepted items in one transaction, at `at`.
    fn mark(
        &self,
        at: DateTime<Utc>,
        marks: Vec<Self::Mark>,
    ) -> impl Future<Output = tixbridge_store::Result<()>> + Send;
}

/// A function's screening and building of one candidate.
pub(crate) trait Builder<P: Push> {
    fn build(&mut self, candidate: P::Candidate) -> Built<P::Item, P::Mark>;
}

/// One candidate, screened and built.
pub(crate) enum Built<I, M> {
    /// Screened out by a schedule rule: counted skipped, not taken.
    Skipped,
    /// Cannot be sent: counted failed; the error names the ticket.
    Refused(TicketError),
    /// Ready to send.
    Ready(Ready<I, M>),
}

/// A ticket ready to send: its item, and its mark once the wallet accepts it.
pub(crate) struct Ready<I, M> {
    pub ticket_id: i64,
    pub tax_number: String,
    pub item: I,
    pub mark: M,
}

/// The code of a simulation's per-ticket preview, stored with the execution's
/// per-ticket entries (`tixbridge execution show`), never counted as an error.
pub const WOULD_SEND: &str = "WOULD_SEND";

/// How the pipeline runs.
pub(crate) struct Plan {
    /// Items per wallet call (`ticketIterationSize`).
    pub iteration: usize,
    /// Tickets taken at most (the schedule's batch size).
    pub batch: u64,
    /// Nothing is sent: every ticket is built and judged as if accepted.
    pub client: Option<WalletClient>,
}

/// How the pipeline ended: what the function adds its own messages to.
pub(crate) struct PipelineEnd {
    /// A failure of the whole run (wallet down, store failure).
    pub fatal: bool,
    pub simulation: bool,
    pub messages: Vec<String>,
}

/// One ticket on its way to the wallet.
struct Outgoing<M> {
    /// Its place in the order tickets were taken, for the killRatio judge.
    seq: u64,
    ticket_id: i64,
    tax_number: String,
    mark: M,
}

/// A call's fate, sent from the call task to the marker.
struct CallDone<M> {
    items: Vec<Outgoing<M>>,
    result: Result<Vec<ItemResult>, ClientError>,
}

/// Runs the pipeline of one execution: `push` reads, sends and marks; `builder`
/// screens and builds. Counts, errors, the stop signal and the judge are the
/// execution's.
pub(crate) async fn run<P: Push, B: Builder<P>>(
    ctx: &mut ExecutionContext,
    push: Arc<P>,
    builder: &mut B,
    plan: Plan,
) -> anyhow::Result<PipelineEnd> {
    let simulation = plan.client.is_none();
    let in_flight = ctx.opts.in_flight.max(1);
    let (done_tx, done_rx) = mpsc::channel::<CallDone<P::Mark>>(in_flight * 2);
    let marker = spawn_marker(
        Marker {
            push: push.clone(),
            counts: ctx.counts.clone(),
            judge: ctx.judge.clone(),
            stop: ctx.stop.clone(),
            progress: ctx.opts.progress.clone(),
            errors: ctx.errors.detached(),
            flush_every: ctx.opts.page_size.max(plan.iteration),
        },
        done_rx,
    );
    // Pages are read ahead by a task of their own, so the store's read of the next
    // page overlaps the building and sending of this one.
    let limit = (ctx.opts.page_size as u64).min(plan.batch).max(1) as usize;
    let pages = read_ahead(push.clone(), limit);
    let mut p = Producer {
        push,
        builder,
        counts: &ctx.counts,
        judge: &ctx.judge,
        stop: &ctx.stop,
        previews: simulation.then(|| ctx.errors.detached()),
        errors: &mut ctx.errors,
        calls: Calls {
            client: plan.client,
            permits: Arc::new(Semaphore::new(in_flight)),
            done_tx,
        },
        iteration: plan.iteration,
        batch: plan.batch,
        timings: Timings::default(),
        taken: 0,
        pending: Vec::with_capacity(plan.iteration),
        would_send: 0,
    };
    let mut produced = p.produce(pages).await;
    if let Some(mut previews) = p.previews.take()
        && let Err(e) = previews.flush().await
    {
        produced = produced.and(Err(e));
    }
    // Built but never sent because the execution stopped early.
    p.counts.add(Count::Unsent, p.pending.len() as u64);
    p.pending.clear();
    let (would_send, mut timings) = (p.would_send, p.timings);
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
        "pipeline timings"
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
            "simulation: {would_send} tickets would be sent, each listed by `tixbridge \
             execution show` (code {WOULD_SEND}); nothing was sent or changed"
        ));
    }
    Ok(PipelineEnd {
        fatal: m.fatal.is_some() || m.mark_error.is_some() || read_failed,
        simulation,
        messages,
    })
}

/// Runs a push function that has no messages of its own: the batch size and call
/// size from the schedule and the interface, its outcome from the pipeline's end.
pub(crate) async fn run_step<P: Push, B: Builder<P>>(
    ctx: &mut ExecutionContext,
    push: P,
    builder: &mut B,
    client: Option<WalletClient>,
) -> anyhow::Result<super::StepOutcome> {
    let plan = Plan {
        iteration: ctx.custom.ticket_iteration_size,
        batch: ctx.schedule.batch_size.max(0) as u64,
        client,
    };
    let end = run(ctx, Arc::new(push), builder, plan).await?;
    Ok(super::StepOutcome {
        fatal: end.fatal,
        warning: false,
        simulation: end.simulation,
        messages: end.messages,
    })
}

/// What sends calls: the client (none in simulation), the in-flight bound, and the
/// channel to the marker.
struct Calls<M> {
    client: Option<WalletClient>,
    permits: Arc<Semaphore>,
    done_tx: mpsc::Sender<CallDone<M>>,
}

/// Takes candidates in ticket-id order, builds them and sends calls.
struct Producer<'a, P: Push, B> {
    push: Arc<P>,
    builder: &'a mut B,
    counts: &'a Arc<LiveCounts>,
    judge: &'a Judge,
    stop: &'a Stop,
    errors: &'a mut ErrorSink,
    /// A simulation's previews, one per ticket it would send.
    previews: Option<ErrorSink>,
    calls: Calls<P::Mark>,
    iteration: usize,
    batch: u64,
    timings: Timings,
    /// Tickets taken so far (not skipped): the next one's sequence number.
    taken: u64,
    pending: Vec<(Outgoing<P::Mark>, P::Item)>,
    would_send: u64,
}

type Page<C> = anyhow::Result<Vec<C>>;

impl<P: Push, B: Builder<P>> Producer<'_, P, B> {
    /// Takes candidates page by page until the batch is full, none is left, or the
    /// execution stops; sends the last partial call.
    async fn produce(
        &mut self,
        mut pages: mpsc::Receiver<Page<P::Candidate>>,
    ) -> anyhow::Result<()> {
        while self.taken < self.batch && !self.stop.is_stopped() {
            let t_read = Instant::now();
            let page = tokio::select! {
                page = pages.recv() => page,
                _ = self.stop.stopped() => None,
            };
            let Some(page) = page else { break };
            let page = page?;
            self.timings.read += t_read.elapsed();
            let t_build = Instant::now();
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

    /// Builds one candidate and queues it for a call.
    async fn take(&mut self, cand: P::Candidate) -> anyhow::Result<()> {
        self.counts.add(Count::Selected, 1);
        let ready = match self.builder.build(cand) {
            Built::Skipped => {
                self.counts.add(Count::Skipped, 1);
                return Ok(());
            }
            Built::Refused(error) => {
                self.taken += 1;
                self.counts.add(Count::Failed, 1);
                self.judge.fates([(self.taken - 1, true)]);
                self.errors.push(error).await?;
                return Ok(());
            }
            Built::Ready(ready) => ready,
        };
        let seq = self.taken;
        self.taken += 1;
        if let Some(previews) = &mut self.previews {
            self.judge.fates([(seq, false)]);
            self.would_send += 1;
            previews
                .push(TicketError {
                    ticket_id: Some(ready.ticket_id),
                    tax_number: Some(ready.tax_number),
                    code: WOULD_SEND.into(),
                    message: P::preview(&ready.item),
                })
                .await?;
            return Ok(());
        }
        let out = Outgoing {
            seq,
            ticket_id: ready.ticket_id,
            tax_number: ready.tax_number,
            mark: ready.mark,
        };
        self.pending.push((out, ready.item));
        if self.pending.len() >= self.iteration {
            let t_wait = Instant::now();
            self.dispatch().await;
            self.timings.wait_for_calls += t_wait.elapsed();
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
        let (items, tickets): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending).into_iter().unzip();
        self.counts.add(Count::Sent, items.len() as u64);
        let client = client.clone();
        let push = self.push.clone();
        let done_tx = self.calls.done_tx.clone();
        tokio::spawn(async move {
            let result = push.send(&client, tickets).await;
            drop(permit);
            // The marker only goes away after every sender is dropped.
            let _ = done_tx.send(CallDone { items, result }).await;
        });
    }
}

/// Reads pages of candidates by ticket id, ahead of their use, until none is left or
/// the receiver goes away.
fn read_ahead<P: Push>(push: Arc<P>, limit: usize) -> mpsc::Receiver<Page<P::Candidate>> {
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        let mut after_id = 0;
        loop {
            let page = match push.page(after_id, limit).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let Some(last) = page.last() else { return };
            after_id = P::ticket_id(last);
            let full = page.len() == limit;
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
    read: Duration,
    build: Duration,
    wait_for_calls: Duration,
}

/// The marker's setup: where it marks, what it counts and reports to.
struct Marker<P> {
    push: Arc<P>,
    counts: Arc<LiveCounts>,
    judge: Judge,
    stop: Stop,
    progress: Option<ProgressFn>,
    errors: ErrorSink,
    flush_every: usize,
}

/// The marker: applies call results as they arrive, grouping marks into few
/// transactions, until every call's sender is gone.
fn spawn_marker<P: Push>(
    mut mk: Marker<P>,
    mut done_rx: mpsc::Receiver<CallDone<P::Mark>>,
) -> tokio::task::JoinHandle<(MarkerState, ErrorSink)> {
    tokio::spawn(async move {
        let mut m = MarkerState {
            counts: mk.counts.clone(),
            ..MarkerState::default()
        };
        let mut marks: Vec<P::Mark> = Vec::new();
        // At most one mark transaction runs while results keep arriving.
        let mut marking: Option<tokio::task::JoinHandle<FlushDone>> = None;
        loop {
            let msg = match tokio::time::timeout(MARK_IDLE, done_rx.recv()).await {
                Ok(msg) => msg,
                Err(_) => {
                    // No result for a while: commit what we have.
                    if !marks.is_empty() {
                        finish_flush(&mut marking, &mut m).await;
                        marking = Some(start_flush(&mk.push, &mut marks, &mut m));
                    }
                    continue;
                }
            };
            let Some(done) = msg else { break };
            let fates = m.apply::<P>(done, &mut marks);
            mk.judge.fates(fates);
            // Refusals go to the store as they come, not all at the end.
            for e in m.errors.drain(..) {
                if let Err(err) = mk.errors.push(e).await {
                    tracing::error!(error = %err, "recording ticket errors failed");
                }
            }
            if marks.len() >= mk.flush_every {
                finish_flush(&mut marking, &mut m).await;
                marking = Some(start_flush(&mk.push, &mut marks, &mut m));
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
            marking = Some(start_flush(&mk.push, &mut marks, &mut m));
            finish_flush(&mut marking, &mut m).await;
        }
        if let Err(err) = mk.errors.flush().await {
            tracing::error!(error = %err, "recording ticket errors failed");
        }
        (m, mk.errors)
    })
}

#[derive(Default)]
struct MarkerState {
    mark_time: Duration,
    mark_calls: u64,
    /// The execution's counts: succeeded once marked, failed as refused.
    counts: Arc<LiveCounts>,
    /// A call-wide failure (wallet down, authentication): the message of the first.
    fatal: Option<String>,
    mark_error: Option<String>,
    errors: Vec<TicketError>,
    /// Marks waiting to be flushed that settle a final refusal (already counted failed).
    settled: u64,
}

impl MarkerState {
    /// Applies one call's results: accepted tickets join `marks`, refusals are counted
    /// failed with an error naming the ticket. Returns each ticket's fate (sequence
    /// number, failed) for the killRatio judge.
    fn apply<P: Push>(
        &mut self,
        done: CallDone<P::Mark>,
        marks: &mut Vec<P::Mark>,
    ) -> Vec<(u64, bool)> {
        let mut fates = Vec::with_capacity(done.items.len());
        match done.result {
            Ok(results) => {
                for (item, r) in done.items.into_iter().zip(results) {
                    let ok = r.is_ok() && r.ticket_id == item.ticket_id.to_string();
                    fates.push((item.seq, !ok));
                    if ok {
                        marks.push(item.mark);
                        continue;
                    }
                    self.counts.add(Count::Failed, 1);
                    let code = r.error_code.unwrap_or_else(|| "KO".into());
                    let msg = r.message.unwrap_or_default();
                    let settled = P::settles(&code);
                    let note = if settled {
                        " (a final answer: marked processed, not sent again)"
                    } else {
                        ""
                    };
                    self.errors.push(TicketError {
                        ticket_id: Some(item.ticket_id),
                        tax_number: Some(item.tax_number.clone()),
                        message: format!(
                            "ticket {} (tax number {}): the wallet refused it: {code}: {msg}{note}",
                            item.ticket_id, item.tax_number
                        ),
                        code,
                    });
                    if settled {
                        marks.push(item.mark);
                        self.settled += 1;
                    }
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
const MARK_IDLE: Duration = Duration::from_millis(50);

struct FlushDone {
    /// The accepted tickets of the batch (its final refusals are counted already).
    tickets: u64,
    took: Duration,
    result: tixbridge_store::Result<()>,
}

fn start_flush<P: Push>(
    push: &Arc<P>,
    marks: &mut Vec<P::Mark>,
    m: &mut MarkerState,
) -> tokio::task::JoinHandle<FlushDone> {
    let batch = std::mem::take(marks);
    let settled = std::mem::take(&mut m.settled);
    let push = push.clone();
    tokio::spawn(async move {
        let tickets = batch.len() as u64 - settled;
        let t = Instant::now();
        let result = push.mark(Utc::now(), batch).await;
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
            // The wallet has them; ticketing does not. They stay unprocessed, so the
            // next execution sends them again (the functions are idempotent).
            m.counts.add(Count::Failed, n);
            if m.mark_error.is_none() {
                m.mark_error = Some(e.to_string());
            }
            tracing::error!(error = %e, tickets = n, "marking accepted tickets failed");
        }
    }
}
