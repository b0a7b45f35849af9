//! `tixbridge run SCHEDULE`: one execution now. Ctrl-C or SIGTERM stops sending, lets
//! the calls in flight finish, marks what the wallet accepted and records the end.
//! Exit code: 0 for `OK` or `WARNING`, 1 for `ERROR`, 2 when the execution could not
//! run (unknown schedule, another execution running, bad configuration, database).

use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::TicketingDb;
use crate::progress::Meter;
use tixbridge_core::model::{FunctionKind, Outcome};
use tixbridge_core::selection::TicketRefs;
use tixbridge_interface::{ExecutionReport, RunOptions, run_schedule};

/// Exit code of `run` when the execution could not run at all.
pub const COULD_NOT_RUN: u8 = 2;

#[derive(clap::Args)]
pub struct Args {
    /// The schedule to run.
    schedule: String,
    #[command(flatten)]
    db: TicketingDb,
    /// Wallet calls in flight at once.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// How long the execution's lease lasts unless renewed (renewed every third of
    /// it): if this process dies, its schedule is blocked at most this long, then the
    /// next run records the execution as interrupted. Written 500ms, 30s, 5m.
    #[arg(long, env = "TIXBRIDGE_LEASE", default_value = "30s", value_parser = super::wallet::parse_duration)]
    lease: std::time::Duration,
    /// A file to upload: this execution processes only the tickets it names, one per
    /// line (`id:<ticketId>` or a tax number; blank lines and lines starting with `#`
    /// are ignored; `-` reads standard input), as a force list would. The schedule is
    /// not changed. For a Feedback schedule, a page of the change feed in its JSON
    /// format (`{"tickets": [...], "nextPageKey": "..."}`), applied as if the wallet
    /// had sent it; the stored key does not move.
    #[arg(long)]
    file: Option<std::path::PathBuf>,
}

pub async fn exec(a: Args) -> anyhow::Result<ExitCode> {
    match execute(a).await {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(COULD_NOT_RUN))
        }
    }
}

async fn execute(a: Args) -> anyhow::Result<ExitCode> {
    if a.lease < std::time::Duration::from_millis(300) {
        anyhow::bail!("--lease {:?}: must be at least 300ms", a.lease);
    }
    let store = a.db.open().await?;
    let feedback = store
        .schedule_by_name(&a.schedule)
        .await?
        .is_some_and(|s| s.function == FunctionKind::Feedback);
    let (upload, feed_upload) = match &a.file {
        None => (None, None),
        Some(path) if feedback => (None, Some(read_feed_page(path)?)),
        Some(path) => (Some(read_ticket_refs(path)?), None),
    };
    let meter = Meter::new("tickets", None);
    let m = meter.clone();
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        super::wallet::shutdown_signal().await;
        tracing::warn!("stopping: no more calls are sent; the calls in flight finish");
        on_signal.cancel();
    });
    let opts = RunOptions {
        in_flight: a.in_flight.max(1),
        progress: Some(Arc::new(move |p| m.set(p.succeeded + p.failed))),
        lease: a.lease,
        shutdown,
        upload,
        feed_upload,
        ..Default::default()
    };
    let report = run_schedule(store, &a.schedule, opts).await;
    meter.finish();
    let report = report?;
    print_report(&report);
    Ok(if report.outcome == Outcome::Error {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub fn print_report(r: &ExecutionReport) {
    let c = r.counts;
    let secs = r.elapsed.as_secs_f64();
    println!(
        "execution #{} of {} ({}): {}",
        r.execution_id,
        r.schedule,
        r.function.label(),
        r.outcome
    );
    println!(
        "  selected {}  sent {}  succeeded {}  failed {}  skipped {}  unsent {}  in {:.2} s ({:.0} tickets/s)",
        c.selected,
        c.sent,
        c.succeeded,
        c.failed,
        c.skipped,
        c.unsent,
        secs,
        if secs > 0.0 {
            c.succeeded as f64 / secs
        } else {
            0.0
        }
    );
    if let Some(m) = &r.message {
        println!("  {m}");
    }
    for e in &r.first_errors {
        println!("  error {}: {}", e.code, e.message);
    }
    if r.error_count > r.first_errors.len() as u64 {
        println!(
            "  … and {} more errors recorded with the execution",
            r.error_count - r.first_errors.len() as u64
        );
    }
}

/// The tickets a file to upload names (see `--file`).
fn read_ticket_refs(path: &std::path::PathBuf) -> anyhow::Result<TicketRefs> {
    let lines = super::ticket::read_refs(path, |l| TicketRefs::parse(l).map(drop))?;
    if lines.is_empty() {
        anyhow::bail!("{}: the file names no ticket", path.display());
    }
    TicketRefs::parse(&lines.join(",")).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// A page of the change feed to apply (see `--file`); a malformed one is refused
/// naming the line and column, or the missing field.
fn read_feed_page(path: &std::path::PathBuf) -> anyhow::Result<tixbridge_core::api::DiffPage> {
    let text = super::ticket::read_text(path)?;
    serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: not a page of the change feed ({{\"tickets\": [...], \"nextPageKey\": ...}}): {e}",
            path.display()
        )
    })
}
