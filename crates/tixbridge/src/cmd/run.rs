//! `tixbridge run SCHEDULE`.

use std::process::ExitCode;
use std::sync::Arc;

use super::TicketingDb;
use crate::progress::Meter;
use tixbridge_core::model::Outcome;
use tixbridge_interface::{ExecutionReport, RunOptions, run_schedule};

#[derive(clap::Args)]
pub struct Args {
    /// The schedule to run.
    schedule: String,
    #[command(flatten)]
    db: TicketingDb,
    /// Wallet calls in flight at once.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
}

pub async fn exec(a: Args) -> anyhow::Result<ExitCode> {
    let store = a.db.open().await?;
    let meter = Meter::new("tickets", None);
    let m = meter.clone();
    let opts = RunOptions {
        in_flight: a.in_flight.max(1),
        progress: Some(Arc::new(move |p| m.set(p.succeeded + p.failed))),
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
        "  selected {}  sent {}  succeeded {}  failed {}  skipped {}  in {:.2} s ({:.0} tickets/s)",
        c.selected,
        c.sent,
        c.succeeded,
        c.failed,
        c.skipped,
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
