//! `tixbridge bench reconcile --tickets N [--activity K]`: how fast a reconciliation
//! compares every ticket of an organization on both sides — ticketing SQLite and the
//! wallet service (SQLite, its own process) over HTTP. The N tickets are seeded,
//! injected (K of them used by spectators) and brought back by Feedback first, none
//! of it timed; the reconciliation must then find both sides in agreement.

use std::process::ExitCode;

use tixbridge_interface::reconcile::{ReconcileOptions, reconcile};

use super::bench::{cpu_secs, peak_rss_kb, reset_peak_rss};
use super::bench_feedback::injected;
use super::bench_push::{Bench, run};

#[derive(clap::Args)]
pub struct ReconcileArgs {
    /// Tickets on both sides.
    #[arg(long, default_value_t = 100_000)]
    tickets: u64,
    /// Tickets spectators use in the app first (downloads, transfers, activations…).
    #[arg(long, default_value_t = 0)]
    activity: u64,
    /// Tickets per wallet page (at most 10,000).
    #[arg(long, default_value_t = 5_000)]
    page: usize,
    /// Working directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

pub async fn exec(a: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let n = a.tickets;
    if n == 0 {
        anyhow::bail!("--tickets must be at least 1");
    }
    println!(
        "bench reconcile: {n} tickets, {} used by spectators, wallet pages of {}",
        a.activity.min(n),
        a.page
    );
    let Bench {
        tmp,
        store,
        org,
        mut child,
        ..
    } = injected(a.dir, n, a.activity, 4).await?;
    let fed = run(&store, "bench-feedback", 1, n, "applied").await?;
    if fed.counts.succeeded != n {
        anyhow::bail!("the feedback before the measure did not apply the whole feed");
    }
    let org = store.organization(org).await?;

    reset_peak_rss();
    let cpu_before = cpu_secs(None);
    let opts = ReconcileOptions {
        wallet_page: a.page.clamp(1, 10_000),
        ..Default::default()
    };
    let r = reconcile(store.clone(), &org, &opts).await?;
    let own_cpu = cpu_secs(None) - cpu_before;
    let wallet_peak = child.peak_rss_kb();
    let own_peak = peak_rss_kb(None);
    let compared = r.ticketing_tickets.max(r.wallet_tickets);
    let secs = r.elapsed.as_secs_f64();
    let rate = compared as f64 / secs;
    println!(
        "  compared {} tickets in ticketing and {} in the wallet in {secs:.2} s = {rate:.0} tickets/s",
        r.ticketing_tickets, r.wallet_tickets
    );
    println!(
        "  CPU of the interface process: {own_cpu:.1} s ({:.1} µs per ticket)",
        own_cpu * 1e6 / compared.max(1) as f64
    );
    println!(
        "  peak RSS during the reconciliation: interface process {} MB, wallet process {} MB",
        own_peak / 1024,
        wallet_peak / 1024
    );
    child.stop();
    if !r.agrees() {
        for c in r.classes.iter().filter(|c| c.count > 0) {
            println!(
                "  {}: {} (first: {})",
                c.class.describe(),
                c.count,
                c.first.join(", ")
            );
        }
        anyhow::bail!(
            "the reconciliation found {} mismatches after Feedback",
            r.mismatches()
        );
    }
    println!("  both sides agree");
    println!(
        "reconcile tickets_per_s={rate:.0} peak_rss_mb={}",
        own_peak.max(wallet_peak) / 1024
    );
    drop(tmp);
    Ok(ExitCode::SUCCESS)
}
