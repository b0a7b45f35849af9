//! `tixbridge bench feedback --tickets N [--activity K]`: end-to-end throughput of
//! Feedback — wallet SQLite → HTTP → ticketing SQLite, both durable, the wallet service
//! in its own process — against the same-run limit of reading the same feed alone over
//! HTTP, the same way (pages of 10,000, whole histories). The N tickets are seeded and
//! injected first (and K of them used by simulated spectators, `wallet simulate`); none
//! of that is timed.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use secrecy::SecretString;

use tixbridge_client::{ClientOptions, WalletClient};
use tixbridge_core::model::Outcome;
use tixbridge_store::InterfaceUpdate;

use super::bench::{cpu_secs, peak_rss_kb, reset_peak_rss};
use super::bench_push::{Bench, run, set_up};

/// Changes per diff page, for Feedback and for the limit alike.
const PAGE: usize = 10_000;

#[derive(clap::Args)]
pub struct FeedbackArgs {
    /// Tickets to inject; each is one changed ticket of the feed.
    #[arg(long, default_value_t = 100_000)]
    tickets: u64,
    /// Tickets spectators use in the app first (downloads, transfers, activations…).
    #[arg(long, default_value_t = 0)]
    activity: u64,
    /// Wallet calls in flight for the injection before the measure.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Working directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Only prepare `--dir` (required): the tickets seeded and injected, spectators'
    /// activity done, the wallet stopped; no measure. `scripts/feedback-crash.sh` runs
    /// its crash test on what this leaves.
    #[arg(long, requires = "dir")]
    prepare_only: bool,
}

pub async fn exec(a: FeedbackArgs) -> anyhow::Result<ExitCode> {
    let n = a.tickets;
    if n == 0 {
        anyhow::bail!("--tickets must be at least 1");
    }
    println!(
        "bench feedback: {n} tickets, {} used by spectators, pages of {PAGE}",
        a.activity.min(n)
    );
    let Bench {
        tmp,
        dir,
        store,
        mut child,
        api_key,
        ..
    } = injected(a.dir, n, a.activity, a.in_flight).await?;
    if a.prepare_only {
        child.stop();
        println!(
            "prepared in {}: ticketing.db (organization BENCH, interface bench, schedule \
             bench-feedback) and wallet.db ({n} changed tickets)",
            dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }

    reset_peak_rss();
    let cpu_before = cpu_secs(None);
    let report = run(&store, "bench-feedback", 1, n, "applied").await?;
    let own_cpu = cpu_secs(None) - cpu_before;
    let wallet_peak = child.peak_rss_kb();
    if report.outcome != Outcome::Ok {
        super::run::print_report(&report);
        anyhow::bail!("the feedback did not apply the whole feed");
    }
    let states = report.counts.succeeded;
    let secs = report.elapsed.as_secs_f64();
    let rate = states as f64 / secs;
    println!("  end to end: {states} ticket states applied in {secs:.2} s = {rate:.0} states/s");
    println!(
        "  CPU of the interface process: {own_cpu:.1} s ({:.1} µs per state)",
        own_cpu * 1e6 / states.max(1) as f64
    );
    let own_peak = peak_rss_kb(None);
    let (read, took) = read_feed(&child.addr, &api_key).await?;
    let limit = read as f64 / took.as_secs_f64();
    println!(
        "  the same feed read alone over HTTP: {read} states in {:.2} s = {limit:.0} states/s",
        took.as_secs_f64()
    );
    println!(
        "  peak RSS during the feedback: interface process {} MB, wallet process {} MB",
        own_peak / 1024,
        wallet_peak / 1024
    );
    child.stop();
    println!(
        "feedback states_per_s={rate:.0} feed_states_per_s={limit:.0} ratio={:.2} peak_rss_mb={}",
        rate / limit,
        own_peak.max(wallet_peak) / 1024
    );
    drop(tmp);
    Ok(ExitCode::SUCCESS)
}

/// The N tickets seeded and injected, the feed read in pages of [`PAGE`], and `activity`
/// tickets used by spectators: the wallet holds N changed tickets.
pub(super) async fn injected(
    dir: Option<std::path::PathBuf>,
    n: u64,
    activity: u64,
    in_flight: usize,
) -> anyhow::Result<Bench> {
    let tickets = crate::seed::tournament(n, 2026);
    let bench = set_up(dir, n, tickets, &["--sandbox"]).await?;
    let injected = run(
        &bench.store,
        "bench-injection",
        in_flight.max(1),
        n,
        "injected",
    )
    .await?;
    if injected.counts.succeeded != n {
        anyhow::bail!("the injection before the measure did not inject every ticket");
    }
    let store = &bench.store;
    let iface = store
        .interface_by_name("bench")
        .await?
        .ok_or_else(|| anyhow::anyhow!("the bench interface is missing"))?;
    let update = InterfaceUpdate {
        custom_params: Some(format!("retrieveIterationSize={PAGE}")),
        ..Default::default()
    };
    store.update_interface(iface.id, update).await?;
    if activity > 0 {
        spectators(
            &bench.child.addr,
            &bench.wallet_url,
            &bench.api_key,
            activity,
        )
        .await?;
    }
    Ok(bench)
}

/// Spectators use `k` tickets in the app (`wallet simulate`, seed 1).
async fn spectators(addr: &str, wallet_url: &str, api_key: &str, k: u64) -> anyhow::Result<()> {
    let organizer = {
        let wallet = tixbridge_store::open_wallet(wallet_url).await?;
        wallet.organizers().await?.remove(0).id
    };
    let keys = tempfile::Builder::new()
        .prefix("tixbridge-bench-key-")
        .tempdir()?;
    let key_file = keys.path().join("key");
    std::fs::write(&key_file, api_key)?;
    super::simulate::exec(
        super::simulate::SimulateArgs::for_demo(&format!("http://{addr}"), key_file, organizer, 1)
            .limited_to(k),
    )
    .await?;
    Ok(())
}

/// Reads the whole feed from the start in pages of [`PAGE`]: how many states, how long.
async fn read_feed(addr: &str, api_key: &str) -> anyhow::Result<(u64, Duration)> {
    let client = WalletClient::new(
        &format!("http://{addr}/organizer/tickets"),
        "bench",
        SecretString::from(api_key.to_owned()),
        ClientOptions {
            timeout: Duration::from_secs(300),
            ..Default::default()
        },
    )?;
    let t = Instant::now();
    let (mut key, mut states) = (String::new(), 0u64);
    loop {
        // As Feedback reads it: each ticket with its whole history.
        let page = client.diff_whole_history(&key, PAGE).await?;
        if page.tickets.is_empty() {
            return Ok((states, t.elapsed()));
        }
        states += page.tickets.len() as u64;
        key = page.next_page_key;
    }
}
