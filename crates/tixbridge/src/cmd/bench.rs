//! `tixbridge bench inject`: end-to-end injection throughput, measured against the two
//! raw limits it cannot beat — writing the same tickets into the wallet store without
//! HTTP, and 50-ticket HTTP round trips without storage.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use clap::Subcommand;
use null_wallet::NullWallet;
use secrecy::SecretString;

use tixbridge_client::{ClientOptions, WalletClient};
use tixbridge_core::api;
use tixbridge_core::inject::{BuildContext, build_ticket, choose_recipient};
use tixbridge_core::model::{InjectionParams, MainApplicantRule, Outcome, PointOfSales};
use tixbridge_core::params::CustomParams;
use tixbridge_interface::injection::index_catalog;
use tixbridge_interface::setup::{
    InjectionScheduleInput, InterfaceInput, create_injection_schedule, create_interface,
};
use tixbridge_interface::{RunOptions, run_schedule};
use tixbridge_store::{Actor, InjectionQuery, TicketingStore, WalletStore};

use crate::progress::Meter;

#[derive(Subcommand)]
pub enum BenchCmd {
    /// End-to-end injection: ticketing SQLite → HTTP → wallet SQLite (separate process).
    Inject {
        /// Tickets to inject.
        #[arg(long, default_value_t = 100_000)]
        tickets: u64,
        /// Wallet calls in flight.
        #[arg(long, default_value_t = 4)]
        in_flight: usize,
        /// Working directory (default: a temporary one, removed afterwards).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Reading the whole change feed over HTTP (GET /organizer/tickets/diff).
    Feed(super::bench_feed::FeedArgs),
    /// End-to-end Push Cancelled or Push Controlled: ticketing SQLite → HTTP → wallet
    /// SQLite (separate process), the tickets injected and cancelled or scanned first.
    Push(super::bench_push::PushArgs),
    /// End-to-end Feedback: wallet SQLite (separate process) → HTTP → ticketing
    /// SQLite, the tickets injected (and used by spectators) first.
    Feedback(super::bench_feedback::FeedbackArgs),
    /// Reconciliation: every ticket compared on both sides, ticketing SQLite and the
    /// wallet (separate process) over HTTP, after injection and Feedback.
    Reconcile(super::bench_reconcile::ReconcileArgs),
}

pub async fn exec(cmd: BenchCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCmd::Inject {
            tickets,
            in_flight,
            dir,
        } => bench_inject(tickets, in_flight.max(1), dir).await,
        BenchCmd::Feed(a) => super::bench_feed::exec(a).await,
        BenchCmd::Push(a) => super::bench_push::exec(a).await,
        BenchCmd::Feedback(a) => super::bench_feedback::exec(a).await,
        BenchCmd::Reconcile(a) => super::bench_reconcile::exec(a).await,
    }
}

/// Tickets kept in memory for the HTTP-only measurement; sent again and again.
const HTTP_SAMPLE: usize = 10_000;

async fn bench_inject(n: u64, in_flight: usize, dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    if n == 0 {
        anyhow::bail!("--tickets must be at least 1");
    }
    let _tmp;
    let dir = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            d
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("tixbridge-bench-")
                .tempdir()?;
            let p = t.path().to_path_buf();
            _tmp = t;
            p
        }
    };
    for f in ["ticketing.db", "wallet.db", "raw-wallet.db"] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.join(format!("{f}{suffix}")));
        }
    }
    println!(
        "bench inject: {n} tickets, {in_flight} calls in flight, data in {}",
        dir.display()
    );

    // Seed ticketing.
    let store = tixbridge_store::open_ticketing(&sqlite_url(&dir.join("ticketing.db"))).await?;
    let org = store.ensure_organization("BENCH", "Bench", "en").await?;
    let t = Instant::now();
    super::demo::seed_tickets(&*store, org.id, n).await?;
    let seed_secs = t.elapsed().as_secs_f64();
    println!(
        "  seeded ticketing: {n} tickets in {seed_secs:.1} s ({:.0} rows/s)",
        n as f64 / seed_secs
    );

    // Limit 1: the wallet store alone.
    let (store_rate, sample) =
        raw_store_rate(&*store, org.id, &dir.join("raw-wallet.db"), n, in_flight).await?;
    println!("  wallet store only (no HTTP): {store_rate:.0} tickets/s");
    let _ = std::fs::remove_file(dir.join("raw-wallet.db"));

    // Limit 2: HTTP alone.
    let http_rate = raw_http_rate(&sample, n, in_flight).await?;
    println!("  HTTP only (no storage), 50-ticket calls: {http_rate:.0} tickets/s");
    drop(sample);

    // End to end, with the wallet in its own process.
    let wallet_url = sqlite_url(&dir.join("wallet.db"));
    let api_key = {
        let wallet = tixbridge_store::open_wallet(&wallet_url).await?;
        tixbridge_wallet::create_organizer(&*wallet, "bench")
            .await?
            .1
    };
    let mut child = WalletProcess::spawn(&wallet_url, &[])?;
    create_interface(
        &*store,
        InterfaceInput {
            organization_id: org.id,
            name: "bench".into(),
            kind: "TIXNGO".into(),
            url: format!("http://{}/organizer/tickets", child.addr),
            login: "bench".into(),
            api_key: SecretString::from(api_key),
            notification_emails: String::new(),
            custom_params: String::new(),
        },
    )
    .await?;
    create_injection_schedule(
        &*store,
        InjectionScheduleInput {
            interface: "bench".into(),
            name: "bench-injection".into(),
            batch_size: n as i64,
            point_of_sales: "WEB;BENCH".into(),
            ..Default::default()
        },
    )
    .await?;
    let meter = Meter::new("injected", Some(n));
    let m = meter.clone();
    let cpu_before = cpu_secs(None);
    let report = run_schedule(
        store.clone(),
        "bench-injection",
        RunOptions {
            in_flight,
            progress: Some(Arc::new(move |p| m.set(p.succeeded + p.failed))),
            ..Default::default()
        },
    )
    .await;
    meter.finish();
    let report = report?;
    let wallet_peak = child.peak_rss_kb();
    let wallet_cpu = cpu_secs(Some(child.child.id()));
    let own_cpu = cpu_secs(None) - cpu_before;
    child.stop();
    let secs = report.elapsed.as_secs_f64();
    let e2e = report.counts.succeeded as f64 / secs;
    println!(
        "  end to end: {} tickets in {secs:.2} s = {e2e:.0} tickets/s ({})",
        report.counts.succeeded, report.outcome
    );
    println!(
        "  CPU during the run: interface process {own_cpu:.1} s, wallet process {wallet_cpu:.1} s ({:.0} µs per ticket in all)",
        (own_cpu + wallet_cpu) * 1e6 / report.counts.succeeded.max(1) as f64
    );
    let own_peak = peak_rss_kb(None);
    println!(
        "  peak RSS: interface process {} MB, wallet process {} MB",
        own_peak / 1024,
        wallet_peak / 1024
    );
    if report.outcome != Outcome::Ok || report.counts.succeeded != n {
        super::run::print_report(&report);
        anyhow::bail!("the end-to-end run did not inject every ticket");
    }
    let limit = store_rate.min(http_rate);
    println!(
        "inject tickets_per_s={:.0} limit_tickets_per_s={:.0} ratio={:.2} peak_rss_mb={}",
        e2e,
        limit,
        e2e / limit,
        own_peak.max(wallet_peak) / 1024
    );
    Ok(ExitCode::SUCCESS)
}

fn sqlite_url(p: &Path) -> String {
    format!("sqlite:{}", p.display())
}

/// Reads every candidate, builds its wallet ticket and writes it into a fresh wallet
/// store in 50-ticket calls, `in_flight` at a time; only the store calls are timed. Returns the rate
/// and the first tickets, kept for the HTTP measurement.
async fn raw_store_rate(
    store: &dyn TicketingStore,
    org: i64,
    path: &Path,
    n: u64,
    in_flight: usize,
) -> anyhow::Result<(f64, Vec<api::Ticket>)> {
    let wallet = tixbridge_store::open_wallet(&sqlite_url(path)).await?;
    let organizer = wallet.create_organizer("raw", "00").await?;
    let organization = store.organization(org).await?;
    let catalog = index_catalog(store.catalog(org).await?);
    let custom = CustomParams::default();
    let inj = InjectionParams {
        point_of_sales: PointOfSales::parse("WEB;BENCH").map_err(anyhow::Error::msg)?,
        filters: Default::default(),
        barcode_prefix: String::new(),
        barcode_suffix: String::new(),
        mandatory_holder_fields: vec![],
        main_applicant_rule: MainApplicantRule::All,
        force: Default::default(),
        skip: Default::default(),
        simulation: false,
    };
    let ctx = BuildContext {
        default_language: &organization.default_language,
        time_zone: organization.time_zone,
        params: &custom,
        injection: &inj,
        catalog: &catalog,
    };
    let meter = Meter::new("store only", Some(n));
    let mut sample = Vec::new();
    let mut after_id = 0;
    let mut in_store = Duration::ZERO;
    let mut written = 0u64;
    loop {
        let page = store
            .injection_candidates(
                org,
                &InjectionQuery {
                    after_id,
                    limit: 1000,
                    ..Default::default()
                },
            )
            .await?;
        let Some(last) = page.last() else { break };
        after_id = last.ticket.id;
        let mut built = Vec::with_capacity(page.len());
        for c in &page {
            let (to, _) = choose_recipient(&custom, &c.contact, None);
            let t = build_ticket(&ctx, &c.ticket, to, c.ticket.main_applicant)
                .map_err(|e| anyhow::anyhow!("ticket {}: {}", c.ticket.id, e.message))?;
            if sample.len() < HTTP_SAMPLE {
                sample.push(t.clone());
            }
            built.push(t);
        }
        // The page's calls go in `in_flight` at a time, as the wallet service would
        // receive them; only this part is timed.
        let t = Instant::now();
        let mut calls = tokio::task::JoinSet::new();
        let sem = Arc::new(tokio::sync::Semaphore::new(in_flight));
        for call in tixbridge_core::inject::split_calls(built, 50) {
            let permit = sem.clone().acquire_owned().await?;
            let wallet = wallet.clone();
            let org = organizer.id;
            calls.spawn(async move {
                let r = wallet
                    .inject(org, call, Actor::OrganizerApi, Utc::now())
                    .await;
                drop(permit);
                r
            });
        }
        while let Some(done) = calls.join_next().await {
            let results = done??;
            if let Some(ko) = results.iter().find(|r| !r.is_ok()) {
                anyhow::bail!(
                    "the wallet store refused ticket {}: {:?}",
                    ko.ticket_id,
                    ko.message
                );
            }
            written += results.len() as u64;
        }
        in_store += t.elapsed();
        meter.set(written);
    }
    meter.finish();
    Ok((written as f64 / in_store.as_secs_f64(), sample))
}

/// Sends `n` tickets in 50-ticket calls, `in_flight` at a time, to the wallet service
/// running on a store that keeps nothing.
async fn raw_http_rate(sample: &[api::Ticket], n: u64, in_flight: usize) -> anyhow::Result<f64> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tixbridge_wallet::serve(
        listener,
        Arc::new(NullWallet) as Arc<dyn WalletStore>,
        async move {
            let _ = stop_rx.await;
        },
    ));
    let client = WalletClient::new(
        &format!("http://{addr}/organizer/tickets"),
        "bench",
        SecretString::from("any"),
        ClientOptions::default(),
    )?;
    let calls: Vec<Vec<api::Ticket>> = sample.chunks(50).map(|c| c.to_vec()).collect();
    let total_calls = n.div_ceil(50) as usize;
    let meter = Meter::new("HTTP only", Some(n));
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut tasks = tokio::task::JoinSet::new();
    let calls = Arc::new(calls);
    for i in 0..total_calls {
        let permit = sem.clone().acquire_owned().await?;
        let client = client.clone();
        let calls = calls.clone();
        tasks.spawn(async move {
            let r = client.inject(&calls[i % calls.len()]).await;
            drop(permit);
            r.map(|v| v.len())
        });
        while let Some(done) = tasks.try_join_next() {
            done??;
        }
        if i % 200 == 0 {
            meter.set((i * 50) as u64);
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let secs = started.elapsed().as_secs_f64();
    meter.finish();
    let _ = stop_tx.send(());
    server.await??;
    Ok((total_calls * 50) as f64 / secs)
}

/// The wallet service as a child process (`tixbridge wallet serve`); the database URL
/// goes through the environment so that a password never shows in the process list.
pub(super) struct WalletProcess {
    pub(super) child: Child,
    pub(super) addr: String,
}

impl WalletProcess {
    /// Starts `tixbridge wallet serve` on a free loopback port with `extra` options.
    pub(super) fn spawn(db_url: &str, extra: &[&str]) -> anyhow::Result<WalletProcess> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(["wallet", "serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("TIXBRIDGE_WALLET_DB", db_url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the wallet service process")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        // Keep reading what the service prints, so that it never writes to a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .map(str::to_owned)
            .with_context(|| {
                format!("the wallet service did not say where it listens: {line:?}")
            })?;
        Ok(WalletProcess { child, addr })
    }

    pub(super) fn peak_rss_kb(&self) -> u64 {
        peak_rss_kb(Some(self.child.id()))
    }

    pub(super) fn stop(&mut self) {
        #[cfg(unix)]
        {
            // SIGTERM lets the service finish its requests and close the database.
            let _ = Command::new("kill")
                .arg(self.child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WalletProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// User + system CPU seconds a process has used; 0 where /proc is absent.
pub(super) fn cpu_secs(pid: Option<u32>) -> f64 {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // Fields after the parenthesised command name: utime and stime are the 12th and
    // 13th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Resets this process's peak resident set to its current one (Linux `clear_refs`
/// 5), so that a later [`peak_rss_kb`] measures only what follows; a no-op elsewhere.
pub(super) fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set (VmHWM) of a process, in KiB; 0 where /proc is absent.
pub(super) fn peak_rss_kb(pid: Option<u32>) -> u64 {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_owned(),
    };
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

mod null_wallet {
    //! A wallet store that keeps nothing: isolates the HTTP path for the benchmark.
    use async_trait::async_trait;
    use chrono::{DateTime, Utc};
    use tixbridge_core::api::{
        AppTickets, EventStatistics, EventSummary, ItemResult, LogEntry, Ticket, TicketList,
        TicketRecord, TicketState,
    };
    use tixbridge_core::ledger::ChainHead;
    use tixbridge_core::lifecycle::{Op, OpResult, Refusal, Settings};
    use tixbridge_core::privilege::{Privilege, PrivilegeDeletion, PrivilegeRecord};
    use tixbridge_core::status::WalletStatus;
    use tixbridge_store::{
        Actor, DuePrivilege, DueTicket, LogQuery, Organizer, PrivilegeStore, Result, TicketHead,
        TicketQuery, WalletStore,
    };

    pub struct NullWallet;

    /// Keeps no privilege either.
    #[async_trait]
    impl PrivilegeStore for NullWallet {
        async fn inject_privileges(
            &self,
            _: i64,
            privileges: Vec<Privilege>,
            _: DateTime<Utc>,
        ) -> Result<Vec<ItemResult>> {
            Ok(privileges
                .iter()
                .map(|p| ItemResult::ok(p.privilege_id.clone().unwrap_or_default(), "INJECTED"))
                .collect())
        }
        async fn delete_privileges(
            &self,
            _: i64,
            deletions: Vec<PrivilegeDeletion>,
            _: DateTime<Utc>,
            _: Settings,
        ) -> Result<Vec<ItemResult>> {
            Ok(deletions
                .iter()
                .map(|d| {
                    let id = d.privilege_id.clone().unwrap_or_default();
                    ItemResult::ko(id, "PRIVILEGE_NOT_FOUND", "this store keeps nothing")
                })
                .collect())
        }
        async fn privilege_diff_since(
            &self,
            _: i64,
            _: i64,
            _: usize,
            _: i64,
        ) -> Result<Vec<tixbridge_core::api::PrivilegeState>> {
            Ok(vec![])
        }
        async fn privilege(&self, _: i64, _: &str) -> Result<Option<PrivilegeRecord>> {
            Ok(None)
        }
        async fn due_privileges(&self, _: DateTime<Utc>, _: usize) -> Result<Vec<DuePrivilege>> {
            Ok(vec![])
        }
        async fn confirm_privilege_deletions(
            &self,
            _: i64,
            _: Vec<String>,
            _: DateTime<Utc>,
        ) -> Result<usize> {
            Ok(0)
        }
        async fn privilege_heads(&self, _: i64, _: &str, _: usize) -> Result<Vec<TicketHead>> {
            Ok(vec![])
        }
    }

    #[async_trait]
    impl WalletStore for NullWallet {
        async fn create_organizer(&self, name: &str, _: &str) -> Result<Organizer> {
            Ok(Organizer {
                id: 1,
                name: name.to_owned(),
                created_at: Utc::now(),
            })
        }
        async fn organizer_by_key(&self, _: &str) -> Result<Option<Organizer>> {
            self.create_organizer("null", "").await.map(Some)
        }
        async fn rotate_key(&self, _: i64, _: &str) -> Result<Organizer> {
            self.create_organizer("null", "").await
        }
        async fn inject(
            &self,
            _: i64,
            tickets: Vec<Ticket>,
            _: Actor,
            _: DateTime<Utc>,
        ) -> Result<Vec<ItemResult>> {
            Ok(tickets
                .iter()
                .map(|t| ItemResult::ok(t.ticket_id.clone().unwrap_or_default(), "INJECTED"))
                .collect())
        }
        async fn ticket(&self, _: i64, _: &str) -> Result<Option<TicketRecord>> {
            Ok(None)
        }
        async fn tickets(&self, _: i64, _: &TicketQuery) -> Result<TicketList> {
            Ok(TicketList {
                total: 0,
                tickets: vec![],
                next_page_key: None,
            })
        }
        async fn events(&self, _: i64) -> Result<Vec<EventSummary>> {
            Ok(vec![])
        }
        async fn event_statistics(&self, _: i64, _: &str) -> Result<Option<EventStatistics>> {
            Ok(None)
        }
        async fn status_log(&self, _: i64, _: i64, _: usize) -> Result<Vec<LogEntry>> {
            Ok(vec![])
        }
        async fn count_by_status(&self, _: i64) -> Result<Vec<(WalletStatus, u64)>> {
            Ok(vec![])
        }
        async fn ping(&self) -> Result<()> {
            Ok(())
        }
        async fn apply(
            &self,
            _: i64,
            ops: Vec<Op>,
            _: DateTime<Utc>,
            _: Settings,
        ) -> Result<Vec<OpResult>> {
            Ok(ops
                .iter()
                .map(|o| Err(Refusal::not_found(&o.ticket_id)))
                .collect())
        }
        async fn diff_since(&self, _: i64, _: i64, _: usize, _: i64) -> Result<Vec<TicketState>> {
            Ok(vec![])
        }
        async fn app_tickets(&self, _: i64, _: &str) -> Result<AppTickets> {
            Ok(AppTickets::default())
        }
        async fn due(&self, _: DateTime<Utc>, _: usize) -> Result<Vec<DueTicket>> {
            Ok(vec![])
        }
        async fn report(&self, _: i64, _: &LogQuery) -> Result<Vec<LogEntry>> {
            Ok(vec![])
        }
        async fn chain_head(&self, _: i64) -> Result<ChainHead> {
            Ok(ChainHead::genesis())
        }
        async fn ticket_heads(&self, _: i64, _: &str, _: usize) -> Result<Vec<TicketHead>> {
            Ok(vec![])
        }
        async fn organizers(&self) -> Result<Vec<Organizer>> {
            Ok(vec![self.create_organizer("null", "").await?])
        }
    }
}
