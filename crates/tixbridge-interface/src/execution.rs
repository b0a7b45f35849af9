//! Executions: one run of a schedule. Loads the schedule and its interface, runs the
//! function, records start, end, outcome, counts and per-ticket errors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use tixbridge_client::{ClientOptions, WalletClient};
use tixbridge_core::model::{Counts, FunctionKind, InjectionParams, Outcome, TicketError};
use tixbridge_core::params::CustomParams;
use tixbridge_store::{Schedule, TicketingStore};

/// Counts of sent tickets, as the marker applies them.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub succeeded: u64,
    pub failed: u64,
}

pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

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
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            in_flight: 4,
            page_size: 1000,
            client: ClientOptions::default(),
            progress: None,
            report_errors: 20,
        }
    }
}

/// What a function's run hands back to the execution.
pub(crate) struct StepOutcome {
    pub counts: Counts,
    /// A failure that concerned the whole run (wallet down, store failure).
    pub fatal: bool,
    pub warning: bool,
    pub message: Option<String>,
}

/// Collects per-ticket errors: stores them in chunks (so a million failures do not
/// sit in memory) and keeps the first few for the report.
pub(crate) struct ErrorSink {
    store: Arc<dyn TicketingStore>,
    execution_id: i64,
    buffer: Vec<TicketError>,
    pub first: Vec<TicketError>,
    keep: usize,
    pub total: u64,
}

impl ErrorSink {
    pub async fn push(&mut self, e: TicketError) -> anyhow::Result<()> {
        self.total += 1;
        if self.first.len() < self.keep {
            self.first.push(e.clone());
        }
        self.buffer.push(e);
        if self.buffer.len() >= 500 {
            self.flush().await?;
        }
        Ok(())
    }

    /// A sink writing to the same execution, with its own buffer and counts, for a
    /// task that runs beside the owner's; merge it back with [`ErrorSink::absorb`].
    pub fn detached(&self) -> ErrorSink {
        ErrorSink {
            store: self.store.clone(),
            execution_id: self.execution_id,
            buffer: Vec::new(),
            first: Vec::new(),
            keep: self.keep,
            total: 0,
        }
    }

    /// Takes in the counts and first errors of a detached sink (already stored).
    pub fn absorb(&mut self, other: ErrorSink) {
        self.total += other.total;
        for e in other.first {
            if self.first.len() < self.keep {
                self.first.push(e);
            }
        }
        if !other.buffer.is_empty() {
            tracing::warn!(lost = other.buffer.len(), "ticket errors were not stored");
        }
    }

    pub async fn flush(&mut self) -> anyhow::Result<()> {
        if !self.buffer.is_empty() {
            let b = std::mem::take(&mut self.buffer);
            self.store
                .add_execution_errors(self.execution_id, b)
                .await?;
        }
        Ok(())
    }
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
    let exec = store
        .start_execution(schedule.id, Utc::now())
        .await
        .map_err(anyhow::Error::from)?;
    let mut errors = ErrorSink {
        store: store.clone(),
        execution_id: exec.id,
        buffer: Vec::new(),
        first: Vec::new(),
        keep: opts.report_errors,
        total: 0,
    };

    let result = match schedule.function {
        FunctionKind::Injection => {
            match serde_json::from_value::<InjectionParams>(schedule.params.clone()) {
                Err(e) => Err(anyhow::anyhow!(
                    "schedule {}: its injection parameters are not valid: {e}",
                    schedule.name
                )),
                Ok(inj) => {
                    let client = if inj.simulation {
                        Ok(None)
                    } else {
                        WalletClient::new(
                            &interface.url,
                            &interface.login,
                            interface.api_key.clone(),
                            opts.client.clone(),
                        )
                        .map(Some)
                    };
                    match client {
                        Err(e) => Err(anyhow::anyhow!("interface {}: {e}", interface.name)),
                        Ok(client) => {
                            crate::injection::run(
                                store.clone(),
                                &interface,
                                &schedule,
                                &custom,
                                inj,
                                client,
                                &opts,
                                &mut errors,
                            )
                            .await
                        }
                    }
                }
            }
        }
        other => Err(anyhow::anyhow!(
            "the {} function is not available in this version",
            other.label()
        )),
    };

    let (outcome, counts, message) = match result {
        Ok(step) => {
            let outcome = if step.fatal || step.counts.failed > 0 {
                Outcome::Error
            } else if step.warning {
                Outcome::Warning
            } else {
                Outcome::Ok
            };
            (outcome, step.counts, step.message)
        }
        Err(e) => {
            let msg = format!("{e:#}");
            errors
                .push(TicketError {
                    ticket_id: None,
                    tax_number: None,
                    code: "EXECUTION_FAILED".into(),
                    message: msg.clone(),
                })
                .await
                .unwrap_or_else(|e| tracing::error!(error = %e, "recording the error failed"));
            (Outcome::Error, Counts::default(), Some(msg))
        }
    };
    // The execution is recorded as finished even if its errors could not be stored.
    if let Err(e) = errors.flush().await {
        tracing::error!(error = %e, "recording ticket errors failed");
    }
    store
        .finish_execution(exec.id, Utc::now(), outcome, counts, message.clone())
        .await
        .map_err(anyhow::Error::from)?;
    tracing::info!(
        execution = exec.id,
        schedule = %schedule.name,
        outcome = %outcome,
        selected = counts.selected,
        sent = counts.sent,
        succeeded = counts.succeeded,
        failed = counts.failed,
        skipped = counts.skipped,
        "execution finished"
    );
    Ok(ExecutionReport {
        execution_id: exec.id,
        schedule: schedule.name,
        function: schedule.function,
        outcome,
        counts,
        message,
        first_errors: errors.first,
        error_count: errors.total,
        elapsed: started.elapsed(),
    })
}
