//! Executions: one run of a schedule, the skeleton every function shares.
//!
//! [`run`] loads the schedule and its interface, starts the execution holding a lease
//! (refused while another execution of the schedule runs, in any process), renews the
//! lease while the function runs ([`lease`]), hands the function an
//! [`ExecutionContext`] — counts ([`counts`]), stop signal ([`stop`]: the caller's
//! shutdown, a lost lease, killRatio, a fatal failure), the killRatio judge ([`kill`])
//! and the error sink ([`errors`]) — and records the end: outcome, counts, message.
//! An execution that starts always ends recorded; one whose process died is recorded
//! as interrupted by the next start once its lease lapses.

pub mod counts;
pub mod errors;
pub mod kill;
pub mod lease;
pub(crate) mod pipeline;
pub use pipeline::WOULD_SEND;
pub mod stop;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use tixbridge_client::{ClientOptions, WalletClient};
use tixbridge_core::model::{
    Counts, FeedbackParams, FunctionKind, InjectionParams, Outcome, PrivilegesParams,
    PushCancelledParams, PushControlledParams, TicketError,
};
use tixbridge_core::params::CustomParams;
use tixbridge_core::selection::TicketRefs;
use tixbridge_store::{ExecutionStart, InterfaceConfig, Schedule, StoreError, TicketingStore};

use counts::LiveCounts;
use errors::ErrorSink;
use kill::Judge;
use stop::{Stop, StopReason};

/// Counts of sent tickets, as the marker applies them (for a progress display).
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub succeeded: u64,
    pub failed: u64,
}

/// Called with the progress of sent tickets.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// How an execution runs.
#[derive(Clone)]
pub struct RunOptions {
    /// Wallet calls in flight at once.
    pub in_flight: usize,
    /// Candidates read per store call.
    pub page_size: usize,
    pub client: ClientOptions,
    pub progress: Option<ProgressFn>,
    /// Per-ticket errors kept in the returned report (all are stored).
    pub report_errors: usize,
    /// How long the execution's lease lasts unless renewed (renewed every third of
    /// it): a process that dies blocks its schedule at most this long.
    pub lease: Duration,
    /// Cancelled to stop the execution early (Ctrl-C, SIGTERM): sending stops, the
    /// calls in flight finish, what the wallet accepted is marked, and the execution
    /// is recorded as ended.
    pub shutdown: CancellationToken,
    /// The file to upload (DOMAIN.md §5.3, §5.4): this execution processes only these
    /// tickets, as a force list does (processed already or not), whatever the
    /// schedule's own force list; nothing is stored in the schedule.
    pub upload: Option<TicketRefs>,
    /// Feedback's file to upload (DOMAIN.md §5.2): this page of the change feed is
    /// applied as if the wallet had sent it, instead of reading the wallet; the stored
    /// key does not move.
    pub feed_upload: Option<tixbridge_core::api::DiffPage>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            in_flight: 4,
            page_size: 1000,
            client: ClientOptions::default(),
            progress: None,
            report_errors: 20,
            lease: Duration::from_secs(30),
            shutdown: CancellationToken::new(),
            upload: None,
            feed_upload: None,
        }
    }
}

/// What a function's run hands back to the execution (its counts are in the
/// context's [`LiveCounts`]).
#[derive(Default)]
pub(crate) struct StepOutcome {
    /// A failure that concerned the whole run (wallet down, store failure).
    pub fatal: bool,
    pub warning: bool,
    /// Nothing was sent: the messages say what would have happened.
    pub simulation: bool,
    /// The function's own messages, in order.
    pub messages: Vec<String>,
}

/// What every function of an execution shares: the records it reads, the counts, the
/// stop signal, the killRatio judge and the error sink. The execution layer makes it,
/// holds the lease while the function runs, and records the end.
pub(crate) struct ExecutionContext {
    pub store: Arc<dyn TicketingStore>,
    pub execution_id: i64,
    pub schedule: Schedule,
    pub interface: InterfaceConfig,
    pub custom: CustomParams,
    pub opts: RunOptions,
    pub counts: Arc<LiveCounts>,
    pub stop: Stop,
    pub judge: Judge,
    pub errors: ErrorSink,
}

/// The result of one execution, as printed by `tixbridge run`.
#[derive(Debug, Clone)]
pub struct ExecutionReport {
    pub execution_id: i64,
    pub schedule: String,
    pub function: FunctionKind,
    pub outcome: Outcome,
    pub counts: Counts,
    pub message: Option<String>,
    pub first_errors: Vec<TicketError>,
    pub error_count: u64,
    pub elapsed: Duration,
}

/// Why an execution could not even start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no schedule is named {0:?}")]
    UnknownSchedule(String),
    #[error("{0}")]
    Config(String),
    /// Another execution of the schedule runs (the message names it).
    #[error("{0}")]
    AlreadyRunning(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Runs one execution of the schedule named `name` and records it. An execution that
/// starts always ends recorded, even when the wallet is down (outcome `ERROR`).
pub async fn run_schedule(
    store: Arc<dyn TicketingStore>,
    name: &str,
    opts: RunOptions,
) -> Result<ExecutionReport, RunError> {
    let schedule = store
        .schedule_by_name(name)
        .await
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| RunError::UnknownSchedule(name.to_owned()))?;
    run(store, schedule, opts).await
}

/// Runs one execution of `schedule` (see the module's documentation).
pub async fn run(
    store: Arc<dyn TicketingStore>,
    schedule: Schedule,
    opts: RunOptions,
) -> Result<ExecutionReport, RunError> {
    let interface = store
        .interface(schedule.interface_id)
        .await
        .map_err(anyhow::Error::from)?;
    let custom = CustomParams::parse(&interface.custom_params)
        .map_err(|e| RunError::Config(format!("interface {}: {e}", interface.name)))?;
    let started = Instant::now();
    let owner = lease::owner_id();
    let exec = store
        .start_execution(ExecutionStart {
            schedule_id: schedule.id,
            at: Utc::now(),
            owner: owner.clone(),
            lease: chrono::Duration::from_std(opts.lease).unwrap_or(chrono::Duration::MAX),
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => RunError::AlreadyRunning(m),
            e => RunError::Other(e.into()),
        })?;
    let counts = Arc::new(LiveCounts::default());
    let stop = Stop::new(&opts.shutdown);
    let heartbeat = lease::spawn(
        lease::Lease {
            store: store.clone(),
            execution_id: exec.id,
            owner,
            duration: opts.lease,
        },
        counts.clone(),
        stop.clone(),
    );
    let min_sample = custom.ticket_iteration_size as u64;
    let mut ctx = ExecutionContext {
        store: store.clone(),
        execution_id: exec.id,
        errors: ErrorSink::new(store.clone(), exec.id, opts.report_errors),
        judge: Judge::new(custom.kill_ratio, min_sample, stop.clone()),
        schedule,
        interface,
        custom,
        opts,
        counts,
        stop,
    };
    let result = run_function(&mut ctx).await;
    let (outcome, message) = conclude(&mut ctx, result).await;
    // The execution is recorded as finished even if its errors could not be stored.
    if let Err(e) = ctx.errors.flush().await {
        tracing::error!(error = %e, "recording ticket errors failed");
    }
    let counts = ctx.counts.snapshot();
    drop(heartbeat);
    store
        .finish_execution(exec.id, Utc::now(), outcome, counts, message.clone())
        .await
        .map_err(anyhow::Error::from)?;
    tracing::info!(
        execution = exec.id,
        schedule = %ctx.schedule.name,
        outcome = %outcome,
        selected = counts.selected,
        sent = counts.sent,
        succeeded = counts.succeeded,
        failed = counts.failed,
        skipped = counts.skipped,
        unsent = counts.unsent,
        "execution finished"
    );
    Ok(ExecutionReport {
        execution_id: exec.id,
        schedule: ctx.schedule.name,
        function: ctx.schedule.function,
        outcome,
        counts,
        message,
        first_errors: ctx.errors.first,
        error_count: ctx.errors.total,
        elapsed: started.elapsed(),
    })
}

/// Runs the schedule's function.
async fn run_function(ctx: &mut ExecutionContext) -> anyhow::Result<StepOutcome> {
    match ctx.schedule.function {
        FunctionKind::Injection => {
            let mut params: InjectionParams = schedule_params(ctx)?;
            upload(ctx, &mut params.force);
            let client = wallet_client(ctx, params.simulation)?;
            crate::injection::run(ctx, params, client).await
        }
        FunctionKind::PushCancelled => {
            let mut params: PushCancelledParams = schedule_params(ctx)?;
            upload(ctx, &mut params.force);
            let client = wallet_client(ctx, params.simulation)?;
            crate::push_cancelled::run(ctx, params, client).await
        }
        FunctionKind::PushControlled => {
            let mut params: PushControlledParams = schedule_params(ctx)?;
            upload(ctx, &mut params.force);
            let client = wallet_client(ctx, params.simulation)?;
            crate::push_controlled::run(ctx, params, client).await
        }
        FunctionKind::PrivilegesInjection => {
            let mut params: PrivilegesParams = schedule_params(ctx)?;
            upload(ctx, &mut params.force);
            let client = wallet_client(ctx, params.simulation)?;
            crate::privileges::run(ctx, params, client).await
        }
        FunctionKind::Feedback => {
            let params: FeedbackParams = schedule_params(ctx)?;
            let client = wallet_client(ctx, false)?.expect("a client outside simulation");
            crate::feedback::run(ctx, params, client).await
        }
    }
}

/// The file to upload of this execution, if any, replaces the schedule's force list
/// (DOMAIN.md §5.3, §5.4).
fn upload(ctx: &ExecutionContext, force: &mut TicketRefs) {
    if let Some(refs) = &ctx.opts.upload {
        force.clone_from(refs);
    }
}

/// The schedule's parameters, as its function reads them.
fn schedule_params<T: serde::de::DeserializeOwned>(ctx: &ExecutionContext) -> anyhow::Result<T> {
    serde_json::from_value(ctx.schedule.params.clone()).map_err(|e| {
        anyhow::anyhow!(
            "schedule {}: its {} parameters are not valid: {e}",
            ctx.schedule.name,
            ctx.schedule.function.label()
        )
    })
}

/// The wallet client of the interface; none in simulation.
fn wallet_client(ctx: &ExecutionContext, simulation: bool) -> anyhow::Result<Option<WalletClient>> {
    if simulation {
        return Ok(None);
    }
    let i = &ctx.interface;
    let c = WalletClient::new(&i.url, &i.login, i.api_key.clone(), ctx.opts.client.clone())
        .map_err(|e| anyhow::anyhow!("interface {}: {e}", i.name))?;
    Ok(Some(c))
}

/// The outcome and message of an execution: the function's result, why it stopped,
/// and its counts. `OK`, or `WARNING` when the function says so or the operator
/// stopped it, or `ERROR` for any failed ticket, a failure of the whole run or a lost
/// lease.
async fn conclude(
    ctx: &mut ExecutionContext,
    result: anyhow::Result<StepOutcome>,
) -> (Outcome, Option<String>) {
    let step = match result {
        Ok(step) => step,
        Err(e) => {
            let msg = format!("{e:#}");
            let err = TicketError {
                ticket_id: None,
                tax_number: None,
                code: "EXECUTION_FAILED".into(),
                message: msg.clone(),
            };
            if let Err(e) = ctx.errors.push(err).await {
                tracing::error!(error = %e, "recording the error failed");
            }
            return (Outcome::Error, Some(msg));
        }
    };
    let counts = ctx.counts.snapshot();
    let reason = ctx.stop.reason();
    let mut messages = step.messages;
    messages.extend(stop_message(
        reason.as_ref(),
        step.simulation,
        ctx.custom.kill_ratio,
    ));
    if counts.unsent > 0 {
        messages.push(format!(
            "{} tickets were built but not sent because the execution stopped early \
             (counted as unsent; the next execution sends them)",
            counts.unsent
        ));
    }
    let lost = matches!(reason, Some(StopReason::LeaseLost(_)));
    let outcome = if step.fatal || counts.failed > 0 || lost {
        Outcome::Error
    } else if step.warning || reason == Some(StopReason::Shutdown) {
        Outcome::Warning
    } else {
        Outcome::Ok
    };
    (outcome, (!messages.is_empty()).then(|| messages.join("; ")))
}

/// What the execution says about why it stopped early.
fn stop_message(reason: Option<&StopReason>, simulation: bool, ratio: f64) -> Option<String> {
    Some(match reason? {
        StopReason::Shutdown => "stopped by the operator (Ctrl-C or SIGTERM): sending \
            stopped, the calls in flight finished and what the wallet accepted is marked"
            .to_owned(),
        StopReason::LeaseLost(m) => format!("stopped: {m}"),
        StopReason::KillRatio(v) if simulation => format!(
            "simulation: killRatio={ratio} would stop the run after {} tickets ({} failed of \
             the {} whose fate is known)",
            v.after, v.failed, v.after
        ),
        StopReason::KillRatio(v) => format!(
            "stopped early by killRatio={ratio} after {} tickets: {} failed of the {} whose \
             fate is known",
            v.after, v.failed, v.after
        ),
        StopReason::Fatal => return None,
    })
}
