//! `tixbridge demo`: the whole chain on embedded SQLite in one command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use secrecy::SecretString;

use tixbridge_core::model::{InjectionFilters, Outcome};
use tixbridge_core::status::WalletStatus;
use tixbridge_interface::setup::{
    InjectionScheduleInput, InterfaceInput, create_injection_schedule, create_interface,
};
use tixbridge_interface::{RunOptions, run_schedule};
use tixbridge_store::TicketingStore;

use crate::progress::Meter;
use crate::seed;

#[derive(clap::Args)]
pub struct Args {
    /// Where the databases go (must be empty or absent). Default: a new temporary
    /// directory, kept after the demo so you can look at the data.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Tickets in the tournament.
    #[arg(long, default_value_t = 4000)]
    tickets: u64,
}

pub async fn exec(a: Args) -> anyhow::Result<ExitCode> {
    if a.tickets == 0 {
        anyhow::bail!("--tickets must be at least 1");
    }
    let dir = match a.dir {
        Some(d) => {
            if d.exists() && d.read_dir()?.next().is_some() {
                anyhow::bail!(
                    "{} is not empty; give an empty or new directory to --dir",
                    d.display()
                );
            }
            // Readable by its owner only: the stores hold API keys.
            tixbridge_store::sqlite::private_dir(&d)?;
            d
        }
        None => tempfile::Builder::new()
            .prefix("tixbridge-demo-")
            .tempdir()?
            .keep(),
    };
    let started = Instant::now();
    println!("tixbridge demo — data in {}", dir.display());

    // 1. The wallet service, on a free loopback port.
    let wallet_db = dir.join("wallet.db");
    let wallet = tixbridge_store::open_wallet(&format!("sqlite:{}", wallet_db.display())).await?;
    let (organizer, api_key) =
        tixbridge_wallet::create_organizer(&*wallet, "European Cup 2028").await?;
    let key_file = dir.join("wallet-api-key.txt");
    write_secret(&key_file, &api_key)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // Sandbox mode, with time-outs short enough to watch: transfers left pending fail
    // after 3 s, deletions are confirmed after 1 s.
    let config = tixbridge_wallet::ServiceConfig {
        sandbox: true,
        settings: tixbridge_core::lifecycle::Settings {
            transfer_timeout: chrono::Duration::seconds(3),
            deletion_delay: chrono::Duration::seconds(1),
        },
        sweep_interval: std::time::Duration::from_millis(200),
    };
    let server = tokio::spawn(tixbridge_wallet::serve_with(
        listener,
        wallet.clone(),
        config,
        async move {
            let _ = stop_rx.await;
        },
    ));
    let url = format!("http://{addr}/organizer/tickets");
    println!(
        "1. wallet service on {url} (organizer {:?}, sandbox mode)",
        organizer.name
    );

    // 2. Ticketing: the tournament.
    let ticketing_db = dir.join("ticketing.db");
    let store =
        tixbridge_store::open_ticketing(&format!("sqlite:{}", ticketing_db.display())).await?;
    let org = store
        .ensure_organization("EC2028", "European Cup 2028", "en")
        .await?;
    let seeded = seed_tickets(&*store, org.id, a.tickets).await?;
    println!(
        "2. ticketing: {seeded} tickets over 8 matches in 3 stadiums, a parking service and a fan-zone pass (English and French names)"
    );

    // 3. The interface and an injection schedule.
    create_interface(
        &*store,
        InterfaceInput {
            organization_id: org.id,
            name: "tixngo".into(),
            kind: "TIXNGO".into(),
            url: url.clone(),
            login: "admin@ec2028.example.org".into(),
            api_key: SecretString::from(api_key.clone()),
            notification_emails: "ops@ec2028.example.org".into(),
            custom_params: "ticketIterationSize=50\nsendMultilingualAsJsonObject=true\n\
                            enableTicketDistributionToCulturalContact=true"
                .into(),
        },
    )
    .await?;
    create_injection_schedule(
        &*store,
        InjectionScheduleInput {
            interface: "tixngo".into(),
            name: "injection".into(),
            batch_size: a.tickets as i64,
            point_of_sales: "WEB;WALLET".into(),
            filters: InjectionFilters::default(),
            ..Default::default()
        },
    )
    .await?;
    println!("3. interface \"tixngo\" and schedule \"injection\" configured");

    // 4. Run it.
    let meter = Meter::new("injected", Some(a.tickets));
    let m = meter.clone();
    let report = run_schedule(
        store.clone(),
        "injection",
        RunOptions {
            progress: Some(Arc::new(move |p| m.set(p.succeeded + p.failed))),
            ..Default::default()
        },
    )
    .await;
    meter.finish();
    let report = report?;
    println!("4. injection:");
    super::run::print_report(&report);

    // 5. Spectators use their app; the organizer deletes and controls some tickets.
    println!("5. spectators (tixbridge wallet simulate, seed 2028):");
    super::simulate::exec(super::simulate::SimulateArgs::for_demo(
        &format!("http://{addr}"),
        key_file.clone(),
        organizer.id,
        2028,
    ))
    .await?;
    let client = tixbridge_client::WalletClient::new(
        &url,
        "admin@ec2028.example.org",
        SecretString::from(api_key),
        tixbridge_client::ClientOptions::default(),
    )?;
    // Feedback brings the spectators' moves back: last owners, and transfers as
    // cultural-contact distribution.
    tixbridge_interface::setup::create_feedback_schedule(
        &*store,
        tixbridge_interface::setup::FeedbackScheduleInput {
            interface: "tixngo".into(),
            name: "feedback".into(),
            batch_size: (a.tickets as i64).saturating_mul(2),
            ..Default::default()
        },
    )
    .await?;
    let mut failed = report.outcome == Outcome::Error;
    failed |= feedback(&store, "after the spectators").await?;

    // 6. Ticketing acts; the three push functions carry it to the wallet.
    let cards = (a.tickets / 50).max(4);
    seed_rows(
        &*store,
        org.id,
        cards,
        seed::cards(cards, 2026, CARD_IDS, 2),
    )
    .await?;
    let done = ticketing_operations(&*store, org.id, a.tickets).await?;
    let moved = reprint_a_transferred_ticket(&*store, &*wallet, organizer.id).await?;
    println!(
        "6. ticketing: {} cancelled (REFUND), {} invalidated (THEFT), {} reprinted, {} posted \
         for resale ({} sold, {} withdrawn), {} gate scans; {cards} season and membership \
         cards imported",
        done.cancelled,
        done.invalidated,
        done.reprinted,
        done.posted,
        done.sold,
        done.withdrawn,
        done.scanned
    );
    if let Some(m) = &moved {
        println!(
            "   reprinted ticket {} that {} holds after a transfer in the app: new ticket {}",
            m.old, m.last_owner, m.new
        );
    }
    create_push_schedules(&*store, "tixngo", "", a.tickets as i64, "WEB;WALLET").await?;
    for schedule in [
        "privileges",
        "push-cancelled",
        "push-controlled",
        "injection",
    ] {
        let r = run_schedule(store.clone(), schedule, RunOptions::default()).await?;
        println!("   {schedule}:");
        super::run::print_report(&r);
        failed |= r.outcome == Outcome::Error;
    }
    failed |= feedback(&store, "before the time-outs and deletion confirmations").await?;
    // Let the wallet time out the transfers left pending and confirm the deletions.
    let settle = Instant::now();
    while settle.elapsed() < std::time::Duration::from_secs(10) {
        let counts = wallet.count_by_status(organizer.id).await?;
        if !counts.iter().any(|(s, n)| {
            *n > 0
                && matches!(
                    s,
                    WalletStatus::PendingTransfer | WalletStatus::DeletionPending
                )
        }) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    failed |= feedback(&store, "after them").await?;
    if let Some(m) = &moved {
        let sent = wallet
            .ticket(organizer.id, &m.new.to_string())
            .await?
            .and_then(|t| t.ticket.spectator_details)
            .and_then(|p| p.email);
        println!(
            "   new ticket {} went to {} ({})",
            m.new,
            sent.as_deref().unwrap_or("-"),
            if sent.as_deref() == Some(m.last_owner.as_str()) {
                "the last owner, as Feedback brought it back"
            } else {
                "NOT the last owner"
            }
        );
        failed |= sent.as_deref() != Some(m.last_owner.as_str());
    }

    // 7. The change feed and the track record.
    let feed_started = Instant::now();
    let (mut key, mut states, mut entries) = (String::new(), 0usize, 0usize);
    loop {
        let page = client.diff(&key, 10_000).await?;
        if page.tickets.is_empty() {
            break;
        }
        states += page.tickets.len();
        entries += page.tickets.iter().map(|t| t.history.len()).sum::<usize>();
        key = page.next_page_key;
    }
    let verified = client.verify().await?;
    println!(
        "7. change feed: {states} ticket states with {entries} log entries in {:.2} s; track record: {} entries, {}",
        feed_started.elapsed().as_secs_f64(),
        verified.entries,
        if verified.valid {
            "chain valid"
        } else {
            "CHAIN BROKEN"
        }
    );

    // 8. Both sides compared ticket by ticket.
    let r = tixbridge_interface::reconcile::reconcile(
        store.clone(),
        &org,
        &tixbridge_interface::reconcile::ReconcileOptions::default(),
    )
    .await?;
    print!("8. ");
    super::reconcile::print(&org.code, &r);
    failed |= !r.agrees();

    // 9. Both sides per status.
    println!("9. tickets per status");
    println!("   ticketing (organization {}):", org.code);
    for (s, n) in store.count_by_status(org.id).await? {
        println!("     {s:<18} {n}");
    }
    println!("   wallet (organizer {:?}):", organizer.name);
    for (s, n) in wallet.count_by_status(organizer.id).await? {
        println!("     {s:<18} {n}");
    }
    side_by_side(&*store, org.id).await?;
    let secs = report.elapsed.as_secs_f64();
    println!(
        "   injected {} tickets in {:.2} s: {:.0} tickets/s (whole demo {:.1} s)",
        report.counts.succeeded,
        secs,
        report.counts.succeeded as f64 / secs.max(1e-9),
        started.elapsed().as_secs_f64()
    );
    println!("10. data:");
    println!("     ticketing  {}", ticketing_db.display());
    println!("     wallet     {}", wallet_db.display());
    println!(
        "     API key    {} (readable by you only)",
        key_file.display()
    );
    println!(
        "   inspect: tixbridge status --db sqlite:{} --org {}",
        ticketing_db.display(),
        org.code
    );

    let _ = stop_tx.send(());
    server.await??;
    Ok(if failed || !verified.valid {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs the Feedback schedule and prints its report; true when it failed.
async fn feedback(store: &Arc<dyn TicketingStore>, when: &str) -> anyhow::Result<bool> {
    let r = run_schedule(store.clone(), "feedback", RunOptions::default()).await?;
    println!("   feedback, {when}:");
    super::run::print_report(&r);
    Ok(r.outcome == Outcome::Error)
}

/// A reprint of a ticket transferred in the app.
struct Moved {
    old: i64,
    new: i64,
    last_owner: String,
}

/// Reprints the first ticket the wallet shows `TRANSFERRED` that ticketing still has
/// `PRINTED` and whose last owner Feedback brought back: the new ticket must go to
/// that owner (DOMAIN.md §5.1).
async fn reprint_a_transferred_ticket(
    store: &dyn TicketingStore,
    wallet: &dyn tixbridge_store::WalletStore,
    organizer: i64,
) -> anyhow::Result<Option<Moved>> {
    use tixbridge_core::operation::{Operation, TicketRef};
    let query = tixbridge_store::TicketQuery {
        status: Some(WalletStatus::Transferred),
        limit: 200,
        ..Default::default()
    };
    for t in wallet.tickets(organizer, &query).await?.tickets {
        let Ok(id) = t.ticket_id.parse::<i64>() else {
            continue;
        };
        let printed = store
            .ticket(id)
            .await?
            .is_some_and(|t| t.status == tixbridge_core::status::TicketingStatus::Printed);
        let owner = store.projection(id).await?.and_then(|p| p.owner?.email);
        let (true, Some(last_owner)) = (printed, owner) else {
            continue;
        };
        let org = store
            .ticket(id)
            .await?
            .map(|t| t.organization_id)
            .unwrap_or_default();
        let done = store
            .reprint(tixbridge_store::ReprintRequest {
                organization_id: org,
                operation: Operation::Reprint,
                ticket: TicketRef::Id(id),
                buyer: None,
                cause: tixbridge_core::cause::Cause::parse("REPRINT").context("a cause")?,
                operator: "demo:box-office".into(),
                at: chrono::Utc::now(),
                new_ticket_id: None,
                new_tax_number: None,
                new_barcode: None,
            })
            .await?;
        return Ok(Some(Moved {
            old: id,
            new: done.new_ticket.id,
            last_owner,
        }));
    }
    Ok(None)
}

/// Both sides per status next to the mapping of docs/domain.md §4, from the mobile
/// projection the last Feedback wrote (reconcile checked it against the wallet), and
/// the cultural-contact distribution rows Feedback created.
async fn side_by_side(store: &dyn TicketingStore, org: i64) -> anyhow::Result<()> {
    use tixbridge_core::status::TicketingStatus as T;
    println!("   side by side (tickets; cards aside), next to the mapping of docs/domain.md §4:");
    let pairs = store.status_pairs(org).await?;
    for status in [
        T::NotPrinted,
        T::Printed,
        T::Controlled,
        T::Invalidated,
        T::Cancelled,
    ] {
        let cells: Vec<String> = pairs
            .iter()
            .filter(|(t, _, _)| *t == status)
            .map(|(_, w, n)| {
                let w = w.as_deref().unwrap_or("not in the wallet");
                let flag = if mapped(status, w) {
                    ""
                } else {
                    " (outside the mapping)"
                };
                format!("{w} {n}{flag}")
            })
            .collect();
        let total: u64 = pairs
            .iter()
            .filter(|(t, _, _)| *t == status)
            .map(|p| p.2)
            .sum();
        println!(
            "     {status:<12} {total:>6} -> {}   [§4: {}]",
            if cells.is_empty() {
                "-".to_owned()
            } else {
                cells.join(", ")
            },
            expected(status)
        );
    }
    let rows = store.distribution_counts(org).await?;
    let rows: Vec<String> = rows.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!(
        "   cultural-contact distribution rows: {}",
        if rows.is_empty() {
            "none".to_owned()
        } else {
            rows.join(", ")
        }
    );
    Ok(())
}

/// The wallet statuses docs/domain.md §4 maps a ticketing status to.
fn expected(status: tixbridge_core::status::TicketingStatus) -> &'static str {
    use tixbridge_core::status::TicketingStatus as T;
    match status {
        T::NotPrinted => "not in the wallet",
        T::Printed => "a live status",
        T::Controlled => "CONTROLLED once Push Controlled ran",
        T::Invalidated | T::Cancelled => {
            "not in the wallet, or DELETION_PENDING then DELETED once pushed"
        }
    }
}

/// Whether a pair of statuses follows docs/domain.md §4 once every function ran.
fn mapped(status: tixbridge_core::status::TicketingStatus, wallet: &str) -> bool {
    use tixbridge_core::status::TicketingStatus as T;
    let live = wallet.parse::<WalletStatus>().is_ok_and(|w| w.is_live());
    match status {
        T::NotPrinted => wallet == "not in the wallet",
        T::Printed => live,
        T::Controlled => wallet == "CONTROLLED",
        T::Invalidated | T::Cancelled => {
            matches!(wallet, "not in the wallet" | "DELETION_PENDING" | "DELETED")
        }
    }
}

/// The first card id of the demo (tickets start at `seed::FIRST_TICKET_ID`).
const CARD_IDS: i64 = 900_000_001;

/// What the demo did in ticketing.
#[derive(Default)]
struct Done {
    cancelled: usize,
    invalidated: usize,
    reprinted: usize,
    posted: usize,
    sold: usize,
    withdrawn: usize,
    scanned: usize,
}

/// Ticketing operations on the injected tickets, picked by their rank `i` from the
/// first ticket: cancel every 50th (REFUND), invalidate every 100th (THEFT), reprint
/// every 200th, post every 100th for resale (half sold to another contact, half
/// withdrawn), and scan every 20th at the gate — disjoint sets.
async fn ticketing_operations(
    store: &dyn TicketingStore,
    org: i64,
    tickets: u64,
) -> anyhow::Result<Done> {
    use tixbridge_core::cause::Cause;
    use tixbridge_core::operation::{Operation, TicketRef};
    use tixbridge_store::{GateScan, OperationRequest, ReprintRequest};

    let id = |i: u64| seed::FIRST_TICKET_ID + i as i64;
    let pick = |m: u64, r: u64| (0..tickets).filter(move |i| i % m == r).map(id);
    let now = chrono::Utc::now();
    let operator = "demo:box-office".to_owned();
    let mut done = Done::default();
    for (op, cause, ids) in [
        (Operation::Cancel, "REFUND", pick(50, 7).collect::<Vec<_>>()),
        (Operation::Invalidate, "THEFT", pick(100, 41).collect()),
        (
            Operation::ResalePost,
            "RESALE_PENDING",
            pick(100, 31).collect(),
        ),
    ] {
        if ids.is_empty() {
            continue;
        }
        let n = store
            .apply_operation(OperationRequest {
                organization_id: org,
                operation: op,
                tickets: ids.into_iter().map(TicketRef::Id).collect(),
                cause: Cause::parse(cause).context("a cause")?,
                operator: operator.clone(),
                at: now,
            })
            .await?
            .len();
        match op {
            Operation::Cancel => done.cancelled = n,
            Operation::Invalidate => done.invalidated = n,
            _ => done.posted = n,
        }
    }
    let reissue =
        |operation: Operation, ticket: i64, cause: &str, buyer: Option<String>| ReprintRequest {
            organization_id: org,
            operation,
            ticket: TicketRef::Id(ticket),
            buyer,
            cause: Cause::parse(cause).expect("a cause"),
            operator: operator.clone(),
            at: now,
            new_ticket_id: None,
            new_tax_number: None,
            new_barcode: None,
        };
    for ticket in pick(200, 13) {
        store
            .reprint(reissue(Operation::Reprint, ticket, "REPRINT", None))
            .await?;
        done.reprinted += 1;
    }
    // Contacts are numbered from C00000001, one per order of one to four tickets.
    let contacts = (tickets / 4).max(1);
    for (k, ticket) in pick(100, 31).enumerate() {
        let req = if k % 2 == 0 {
            let buyer = format!("C{:08}", (k as u64 * 7) % contacts + 1);
            done.sold += 1;
            reissue(Operation::ResaleSold, ticket, "RESOLD", Some(buyer))
        } else {
            done.withdrawn += 1;
            reissue(Operation::ResaleWithdraw, ticket, "RESALE_CANCELLED", None)
        };
        store.reprint(req).await?;
    }
    let mut scans = Vec::new();
    for ticket in pick(20, 3) {
        if let Some(t) = store.ticket(ticket).await? {
            scans.push(GateScan {
                barcode: t.barcode,
                scanned_at: now,
                performance: None,
            });
        }
    }
    done.scanned = store
        .record_scans(org, scans, false, "demo:gate")
        .await?
        .iter()
        .filter(|r| r.outcome == tixbridge_core::operation::ScanOutcome::Controlled)
        .count();
    Ok(done)
}

/// The three push functions' schedules of `interface`, named `{prefix}privileges`,
/// `{prefix}push-cancelled` and `{prefix}push-controlled`, each taking `batch_size`
/// tickets (at least 10,000 for Push Controlled); cards are printed by `pos`.
pub(super) async fn create_push_schedules(
    store: &dyn TicketingStore,
    interface: &str,
    prefix: &str,
    batch_size: i64,
    pos: &str,
) -> anyhow::Result<()> {
    use tixbridge_interface::setup::{
        PrivilegesScheduleInput, PushCancelledScheduleInput, PushControlledScheduleInput,
        create_privileges_schedule, create_push_cancelled_schedule,
        create_push_controlled_schedule,
    };
    let interface = interface.to_owned();
    let name = |n: &str| format!("{prefix}{n}");
    create_privileges_schedule(
        store,
        PrivilegesScheduleInput {
            interface: interface.clone(),
            name: name("privileges"),
            batch_size,
            point_of_sales: pos.into(),
            ..Default::default()
        },
    )
    .await?;
    create_push_cancelled_schedule(
        store,
        PushCancelledScheduleInput {
            interface: interface.clone(),
            name: name("push-cancelled"),
            batch_size,
            ..Default::default()
        },
    )
    .await?;
    create_push_controlled_schedule(
        store,
        PushControlledScheduleInput {
            interface,
            name: name("push-controlled"),
            batch_size: batch_size.max(10_000),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// Seeds the tournament through one all-or-nothing import session.
pub async fn seed_tickets(store: &dyn TicketingStore, org: i64, n: u64) -> anyhow::Result<u64> {
    seed_rows(store, org, n, seed::tournament(n, 2026)).await
}

/// Imports `n` seeded rows in one import session, with a progress bar.
pub async fn seed_rows(
    store: &dyn TicketingStore,
    org: i64,
    n: u64,
    rows: impl Iterator<Item = tixbridge_store::ImportRow>,
) -> anyhow::Result<u64> {
    let meter = Meter::new("seeded", Some(n));
    let mut session = store.begin_import(org).await?;
    let mut chunk = Vec::with_capacity(1000);
    let mut done = 0u64;
    for row in rows {
        chunk.push(row);
        if chunk.len() == 1000 {
            done += chunk.len() as u64;
            session.add(std::mem::take(&mut chunk)).await?;
            meter.set(done);
        }
    }
    if !chunk.is_empty() {
        session.add(chunk).await?;
    }
    let imported = session.commit().await?;
    meter.finish();
    Ok(imported)
}

fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(f, "{secret}")?;
    Ok(())
}
