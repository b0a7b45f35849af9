//! `tixbridge bench push --function cancelled|controlled|privileges --tickets N`:
//! end-to-end throughput of a push function — ticketing SQLite → HTTP → wallet SQLite,
//! both durable, the wallet service in its own process — against the same-run limit of
//! applying the same deletions, controls or privileges to a copy of the wallet store
//! without HTTP. The tickets are injected, then cancelled or gate-scanned, before
//! anything is timed; for privileges, N membership and season cards are imported.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use secrecy::SecretString;

use tixbridge_core::api::{DetailEntry, Person, PurchaseDetails, Security};
use tixbridge_core::cause::Cause;
use tixbridge_core::lifecycle::{Action, Caller, Op, Settings};
use tixbridge_core::model::Outcome;
use tixbridge_core::operation::{Operation, TicketRef};
use tixbridge_core::privilege::{Privilege, PrivilegeDefinition, PrivilegeDetails};
use tixbridge_core::text::Text;
use tixbridge_interface::setup::{
    InjectionScheduleInput, InterfaceInput, create_injection_schedule, create_interface,
};
use tixbridge_interface::{RunOptions, run_schedule};
use tixbridge_store::{GateScan, OperationRequest, TicketingStore};

use super::bench::{WalletProcess, cpu_secs, peak_rss_kb, reset_peak_rss};
use crate::progress::Meter;

/// The push function measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PushFunction {
    Cancelled,
    Controlled,
    Privileges,
}

#[derive(clap::Args)]
pub struct PushArgs {
    /// The function: cancelled (Push Cancelled), controlled (Push Controlled) or
    /// privileges (Privileges injection).
    #[arg(long, value_enum)]
    function: PushFunction,
    /// Tickets to inject, then push (cards to inject, for privileges).
    #[arg(long, default_value_t = 100_000)]
    tickets: u64,
    /// Wallet calls in flight.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Working directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The wallet service's deletion delay (`wallet serve --deletion-delay`, e.g. 1h):
    /// a long one keeps its confirmations of deletions out of the measured push.
    #[arg(long)]
    deletion_delay: Option<String>,
}

/// The first card id of the privileges benchmark.
const CARD_IDS: i64 = 900_000_001;

/// Tickets per operation or scan command while preparing (not timed).
const PREPARE_CHUNK: usize = 10_000;

pub async fn exec(a: PushArgs) -> anyhow::Result<ExitCode> {
    let n = a.tickets;
    if n == 0 {
        anyhow::bail!("--tickets must be at least 1");
    }
    let in_flight = a.in_flight.max(1);
    let name = match a.function {
        PushFunction::Cancelled => "cancelled",
        PushFunction::Controlled => "controlled",
        PushFunction::Privileges => "privileges",
    };
    println!("bench push: function {name}, {n} tickets, {in_flight} calls in flight");

    let cards = a.function == PushFunction::Privileges;
    let extra: Vec<&str> = match &a.deletion_delay {
        Some(d) => vec!["--deletion-delay", d],
        None => vec![],
    };
    let rows: Box<dyn Iterator<Item = tixbridge_store::ImportRow>> = if cards {
        Box::new(crate::seed::cards(n, 2026, CARD_IDS, 0))
    } else {
        Box::new(crate::seed::tournament(n, 2026))
    };
    let Bench {
        tmp,
        dir,
        store,
        org,
        wallet_url,
        mut child,
        ..
    } = set_up(a.dir, n, rows, &extra).await?;
    let ids = if cards {
        (CARD_IDS..CARD_IDS + n as i64).collect()
    } else {
        let injected = run(&store, "bench-injection", in_flight, n, "injected").await?;
        if injected.counts.succeeded != n {
            anyhow::bail!("the injection before the push did not inject every ticket");
        }
        prepare(&*store, org, a.function, n).await?
    };
    // The same-run limit works on a copy of the wallet store as the push will find it.
    tixbridge_store::backup(&wallet_url, &dir.join("raw-wallet.db")).await?;

    // The peak of this process counts from here: the push, not the seeding, the
    // preparation or the copy.
    reset_peak_rss();
    let cpu_before = cpu_secs(None);
    let wallet_cpu_before = cpu_secs(Some(child.child.id()));
    let schedule = match a.function {
        PushFunction::Privileges => "bench-privileges".to_owned(),
        _ => format!("bench-push-{name}"),
    };
    let report = run(&store, &schedule, in_flight, n, "pushed").await?;
    let wallet_peak = child.peak_rss_kb();
    let wallet_cpu = cpu_secs(Some(child.child.id())) - wallet_cpu_before;
    let own_cpu = cpu_secs(None) - cpu_before;
    if a.function == PushFunction::Cancelled {
        let waited = confirmations_left(&wallet_url).await?;
        println!(
            "  every deletion confirmed {:.1} s after the push ended (the wallet's background work)",
            waited.as_secs_f64()
        );
    }
    child.stop();
    if report.outcome != Outcome::Ok || report.counts.succeeded != n {
        super::run::print_report(&report);
        anyhow::bail!("the push did not push every ticket");
    }
    let secs = report.elapsed.as_secs_f64();
    let e2e = n as f64 / secs;
    println!("  end to end: {n} tickets in {secs:.2} s = {e2e:.0} tickets/s");
    println!(
        "  CPU during the run: interface process {own_cpu:.1} s, wallet process {wallet_cpu:.1} s ({:.0} µs per ticket in all)",
        (own_cpu + wallet_cpu) * 1e6 / n as f64
    );
    let own_peak = peak_rss_kb(None);
    let limit = store_rate(&dir.join("raw-wallet.db"), a.function, &ids, in_flight).await?;
    println!("  wallet store only (no HTTP): {limit:.0} tickets/s");
    println!(
        "  peak RSS during the push: interface process {} MB, wallet process {} MB",
        own_peak / 1024,
        wallet_peak / 1024
    );
    println!(
        "push function={name} tickets_per_s={e2e:.0} limit_tickets_per_s={limit:.0} ratio={:.2} peak_rss_mb={}",
        e2e / limit,
        own_peak.max(wallet_peak) / 1024
    );
    drop(tmp);
    Ok(ExitCode::SUCCESS)
}

/// A benchmark's working set: a directory, ticketing (SQLite) with N seeded rows, the
/// wallet service (SQLite) in its own process with one organizer, the interface and
/// the schedules of every function configured, each taking the whole batch.
pub(super) struct Bench {
    /// The temporary directory, removed when dropped (unless `--dir` was given).
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub store: Arc<dyn TicketingStore>,
    pub org: i64,
    pub wallet_url: String,
    pub child: WalletProcess,
    pub api_key: String,
}

/// Sets a benchmark up in `dir` (default: a temporary directory), emptied of earlier
/// stores; `wallet_args` go to `wallet serve`.
pub(super) async fn set_up(
    dir: Option<PathBuf>,
    n: u64,
    rows: impl Iterator<Item = tixbridge_store::ImportRow>,
    wallet_args: &[&str],
) -> anyhow::Result<Bench> {
    let tmp = tempfile::Builder::new()
        .prefix("tixbridge-bench-")
        .tempdir()?;
    let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    for f in ["ticketing.db", "wallet.db", "raw-wallet.db"] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.join(format!("{f}{suffix}")));
        }
    }
    let store = tixbridge_store::open_ticketing(&url(&dir.join("ticketing.db"))).await?;
    let org = store.ensure_organization("BENCH", "Bench", "en").await?.id;
    super::demo::seed_rows(&*store, org, n, rows).await?;
    let wallet_url = url(&dir.join("wallet.db"));
    let api_key = {
        let wallet = tixbridge_store::open_wallet(&wallet_url).await?;
        tixbridge_wallet::create_organizer(&*wallet, "bench")
            .await?
            .1
    };
    let child = WalletProcess::spawn(&wallet_url, wallet_args)?;
    configure(&*store, org, &child.addr, api_key.clone(), n).await?;
    Ok(Bench {
        tmp,
        dir,
        store,
        org,
        wallet_url,
        child,
        api_key,
    })
}

pub(super) fn url(p: &Path) -> String {
    format!("sqlite:{}", p.display())
}

/// The interface and the four schedules, each taking the whole batch.
async fn configure(
    store: &dyn TicketingStore,
    org: i64,
    addr: &str,
    api_key: String,
    n: u64,
) -> anyhow::Result<()> {
    create_interface(
        store,
        InterfaceInput {
            organization_id: org,
            name: "bench".into(),
            kind: "TIXNGO".into(),
            url: format!("http://{addr}/organizer/tickets"),
            login: "bench".into(),
            api_key: SecretString::from(api_key),
            notification_emails: String::new(),
            custom_params: String::new(),
        },
    )
    .await?;
    let batch_size = n as i64;
    create_injection_schedule(
        store,
        InjectionScheduleInput {
            interface: "bench".into(),
            name: "bench-injection".into(),
            batch_size,
            point_of_sales: "WEB;BENCH".into(),
            ..Default::default()
        },
    )
    .await?;
    tixbridge_interface::setup::create_feedback_schedule(
        store,
        tixbridge_interface::setup::FeedbackScheduleInput {
            interface: "bench".into(),
            name: "bench-feedback".into(),
            batch_size: batch_size.saturating_mul(2),
            ..Default::default()
        },
    )
    .await?;
    super::demo::create_push_schedules(store, "bench", "bench-", batch_size, "WEB;BENCH").await?;
    Ok(())
}

/// Runs a schedule with a progress bar.
pub(super) async fn run(
    store: &Arc<dyn TicketingStore>,
    schedule: &str,
    in_flight: usize,
    n: u64,
    label: &'static str,
) -> anyhow::Result<tixbridge_interface::ExecutionReport> {
    let meter = Meter::new(label, Some(n));
    let m = meter.clone();
    let report = run_schedule(
        store.clone(),
        schedule,
        RunOptions {
            in_flight,
            progress: Some(Arc::new(move |p| m.set(p.succeeded + p.failed))),
            ..Default::default()
        },
    )
    .await;
    meter.finish();
    Ok(report?)
}

/// Cancels every ticket (cause REFUND) or scans each at the gate, in commands of
/// [`PREPARE_CHUNK`] tickets. Returns the ticket ids.
async fn prepare(
    store: &dyn TicketingStore,
    org: i64,
    function: PushFunction,
    n: u64,
) -> anyhow::Result<Vec<i64>> {
    let first = crate::seed::FIRST_TICKET_ID;
    let ids: Vec<i64> = (first..first + n as i64).collect();
    let meter = Meter::new("prepared", Some(n));
    let at = Utc::now();
    for (i, chunk) in ids.chunks(PREPARE_CHUNK).enumerate() {
        match function {
            PushFunction::Cancelled => {
                store
                    .apply_operation(OperationRequest {
                        organization_id: org,
                        operation: Operation::Cancel,
                        tickets: chunk.iter().map(|id| TicketRef::Id(*id)).collect(),
                        cause: Cause::parse("REFUND").expect("a cause"),
                        operator: "bench".into(),
                        at,
                    })
                    .await?;
            }
            PushFunction::Privileges => {}
            PushFunction::Controlled => {
                let mut scans = Vec::with_capacity(chunk.len());
                for id in chunk {
                    let t = store.ticket(*id).await?.expect("a seeded ticket");
                    scans.push(GateScan {
                        barcode: t.barcode,
                        scanned_at: at,
                        performance: None,
                    });
                }
                store.record_scans(org, scans, false, "bench").await?;
            }
        }
        meter.set(((i + 1) * PREPARE_CHUNK).min(ids.len()) as u64);
    }
    meter.finish();
    Ok(ids)
}

/// Applies the same deletions or controls to the copy of the wallet store, in calls of
/// 50, `in_flight` at once; only the store calls are timed.
async fn store_rate(
    path: &Path,
    function: PushFunction,
    ids: &[i64],
    in_flight: usize,
) -> anyhow::Result<f64> {
    let wallet = tixbridge_store::open_wallet(&url(path)).await?;
    let organizer = wallet.organizers().await?.remove(0).id;
    if function == PushFunction::Privileges {
        return privileges_rate(wallet, organizer, ids, in_flight).await;
    }
    let action = || match function {
        PushFunction::Cancelled => Action::Delete {
            reason: "REFUND".into(),
            show_deleted_ticket: false,
        },
        PushFunction::Controlled | PushFunction::Privileges => Action::Control {
            controlled_at: Some(Utc::now().to_rfc3339()),
        },
    };
    let sem = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut calls = tokio::task::JoinSet::new();
    let t = Instant::now();
    for call in ids.chunks(50) {
        let ops: Vec<Op> = call
            .iter()
            .map(|id| Op {
                ticket_id: id.to_string(),
                caller: Caller::Organizer,
                action: action(),
            })
            .collect();
        let permit = sem.clone().acquire_owned().await?;
        let wallet = wallet.clone();
        calls.spawn(async move {
            let r = wallet
                .apply(organizer, ops, Utc::now(), Settings::default())
                .await;
            drop(permit);
            r
        });
    }
    while let Some(done) = calls.join_next().await {
        done??;
    }
    let took: Duration = t.elapsed();
    Ok(ids.len() as f64 / took.as_secs_f64())
}

/// Injects privileges of the benchmark's shape (definition, purchase details, barcode,
/// recipient, validity) straight into the copy of the wallet store, in calls of 50,
/// `in_flight` at once. Building them is timed too: a few microseconds each.
async fn privileges_rate(
    wallet: Arc<dyn tixbridge_store::WalletStore>,
    organizer: i64,
    ids: &[i64],
    in_flight: usize,
) -> anyhow::Result<f64> {
    let sem = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut calls = tokio::task::JoinSet::new();
    let t = Instant::now();
    for call in ids.chunks(50) {
        let privileges: Vec<Privilege> = call.iter().map(|id| bench_privilege(*id)).collect();
        let permit = sem.clone().acquire_owned().await?;
        let wallet = wallet.clone();
        calls.spawn(async move {
            let r = wallet
                .inject_privileges(organizer, privileges, Utc::now())
                .await;
            drop(permit);
            r
        });
    }
    while let Some(done) = calls.join_next().await {
        done??;
    }
    Ok(ids.len() as f64 / t.elapsed().as_secs_f64())
}

fn bench_privilege(id: i64) -> Privilege {
    Privilege {
        privilege_id: Some(id.to_string()),
        definition: Some(PrivilegeDefinition {
            id: Some("CUP-PASS".into()),
            name: Some(Text::Plain("European Cup 2028 tournament pass".into())),
            kind: Some("SEASON_CARD".into()),
            valid_from: Some("2028-06-01T00:00:00Z".into()),
            valid_to: Some("2028-07-31T23:59:00Z".into()),
            image_url: None,
        }),
        purchase_details: Some(PurchaseDetails {
            taxation_number: Some(format!("27{id:010}")),
            file_id: Some(format!("F{:08}", id % 1_000_000)),
            price: Some(390.0),
            currency: Some("EUR".into()),
            category: None,
            purchase_date: Some("2028-03-01T11:00:00+01:00".into()),
        }),
        security: Some(Security {
            barcode: Some(format!("CARD{id:012}")),
        }),
        spectator_details: Some(Person {
            email: Some(format!("fan{id}@example.org")),
            first_name: Some("Léa".into()),
            last_name: Some("Martin".into()),
            ..Person::default()
        }),
        linked_ticket_ids: Vec::new(),
        details: Some(PrivilegeDetails {
            main: Vec::new(),
            extra: vec![DetailEntry {
                key: Text::Plain("Valid until".into()),
                value: Text::Plain("2028-08-01".into()),
            }],
        }),
    }
}

/// Waits until the wallet has confirmed every deletion (no ticket `DELETION_PENDING`)
/// and answers how long that took.
async fn confirmations_left(wallet_url: &str) -> anyhow::Result<Duration> {
    let wallet = tixbridge_store::open_wallet(wallet_url).await?;
    let t = Instant::now();
    loop {
        // On the due-time index: any deletion still to confirm, due or not.
        let horizon = Utc::now() + chrono::Duration::days(1);
        if wallet.due(horizon, 1).await?.is_empty() {
            return Ok(t.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
