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
            custom_params: "ticketIterationSize=50\nsendMultilingualAsJsonObject=true".into(),
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
    let (deleted, controlled) = organizer_actions(&client, a.tickets).await?;
    println!(
        "6. organizer: {deleted} tickets deleted (cancelled or resold), {controlled} controlled at the gate"
    );
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

    // 8. Both sides.
    println!("8. tickets per status");
    println!("   ticketing (organization {}):", org.code);
    for (s, n) in store.count_by_status(org.id).await? {
        println!("     {s:<18} {n}");
    }
    println!("   wallet (organizer {:?}):", organizer.name);
    for (s, n) in wallet.count_by_status(organizer.id).await? {
        println!("     {s:<18} {n}");
    }
    let secs = report.elapsed.as_secs_f64();
    println!(
        "   injected {} tickets in {:.2} s: {:.0} tickets/s (whole demo {:.1} s)",
        report.counts.succeeded,
        secs,
        report.counts.succeeded as f64 / secs.max(1e-9),
        started.elapsed().as_secs_f64()
    );
    println!("9. data:");
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
    Ok(if report.outcome == Outcome::Error || !verified.valid {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Seeds the tournament through one all-or-nothing import session.
/// Deletes about 2 % of the wallet's tickets (every 50th: cancelled, or resold and
/// kept visible) and controls about 5 % (every 20th), through the organizer API —
/// what the push functions will do. Answers how many of each the wallet accepted.
async fn organizer_actions(
    client: &tixbridge_client::WalletClient,
    tickets: u64,
) -> anyhow::Result<(usize, usize)> {
    use tixbridge_core::api::{ControlledTicket, DeleteTicket};
    let (mut deletions, mut controls) = (Vec::new(), Vec::new());
    let mut offset = 0;
    loop {
        let page = client.list_tickets(1000, offset).await?;
        let n = page.tickets.len();
        for (i, t) in page.tickets.into_iter().enumerate() {
            let i = offset + i;
            if i % 50 == 7 {
                let resold = i % 100 == 7;
                deletions.push(DeleteTicket {
                    ticket_id: t.ticket_id,
                    reason: if resold { "RESOLD" } else { "CANCELLED" }.into(),
                    show_deleted_ticket: resold,
                });
            } else if i % 20 == 3 {
                controls.push(ControlledTicket {
                    ticket_id: t.ticket_id,
                    controlled_at: Some(chrono::Utc::now().to_rfc3339()),
                });
            }
        }
        offset += n;
        if n < 1000 || offset as u64 >= tickets {
            break;
        }
    }
    let mut deleted = 0;
    for chunk in deletions.chunks(50) {
        deleted += client
            .delete(chunk)
            .await?
            .iter()
            .filter(|r| r.is_ok())
            .count();
    }
    let mut controlled = 0;
    for chunk in controls.chunks(50) {
        controlled += client
            .controlled(chunk)
            .await?
            .iter()
            .filter(|r| r.is_ok())
            .count();
    }
    Ok((deleted, controlled))
}

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
