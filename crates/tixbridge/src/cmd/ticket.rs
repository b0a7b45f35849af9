//! `tixbridge ticket cancel|invalidate|reprint|control|resale|show|history` and
//! `tixbridge causes list|add`:
//! ticketing operations on issued tickets (issue 8), each command one transaction.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use tixbridge_core::cause::Cause;
use tixbridge_core::operation::{Operation, RESALE_PENDING, ScanOutcome, TicketRef};
use tixbridge_core::{csv_dialect, local_time, text};
use tixbridge_store::{
    Distribution, DistributionsOf, GateScan, OperationRecord, OperationRequest, ReprintRequest,
    ScanResult, TicketingStore,
};

use super::{OrgArg, TicketingDb};

#[derive(Subcommand)]
pub enum TicketCmd {
    /// Cancel tickets (a refund, for instance): status CANCELLED with a cause. All the
    /// tickets named change, or none does. A ticket already cancelled takes the new
    /// cause (a correction; Push Cancelled pushes it again).
    Cancel(OperationArgs),
    /// Invalidate tickets (stolen, reseated…): status INVALIDATED with a cause. All the
    /// tickets named change, or none does. A ticket already invalidated takes the new
    /// cause.
    Invalidate(OperationArgs),
    /// Reprint a ticket: the old one becomes INVALIDATED (cause REPRINT unless another
    /// is given) and a new NOT_PRINTED ticket replaces it, same seat, contact and
    /// catalog entries, with a new ticket id, tax number and barcode. Injection sends
    /// the new one; Push Cancelled deletes the old one from the wallet.
    Reprint(ReprintArgs),
    /// Record gate scans. A barcode alone is a gate scanning now (or at --at): the
    /// ticket becomes CONTROLLED, or entry is refused with the reason (unknown,
    /// cancelled, already scanned, another performance; exit 1). --file takes the scans
    /// an access-control system exported (barcode,scanned_at[,performance], any order,
    /// duplicates included): each line is answered, the earliest scan of a ticket wins,
    /// and a scan of a ticket cancelled meanwhile is reported as admitted while
    /// cancelled without controlling it.
    Control(ControlArgs),
    /// Resale: post a ticket on the resale platform, then sold to a buyer or withdrawn.
    #[command(subcommand)]
    Resale(ResaleCmd),
    /// One ticket, both sides: its ticketing record and operations, then the wallet's
    /// state and status log as Feedback last brought them back.
    Show {
        /// The ticket: `id:<ticketId>`, its tax number or its barcode.
        ticket: String,
        #[command(flatten)]
        db: TicketingDb,
        #[command(flatten)]
        org: OrgArg,
    },
    /// A ticket's ticketing history: every operation on it, oldest first.
    History {
        /// The ticket: `id:<ticketId>`, its tax number or its barcode.
        ticket: String,
        #[command(flatten)]
        db: TicketingDb,
        #[command(flatten)]
        org: OrgArg,
    },
}

#[derive(clap::Args)]
pub struct OperationArgs {
    #[command(flatten)]
    targets: Targets,
    /// The cause, one of the organization's (`tixbridge causes list`); normalised
    /// (spaces removed, upper case).
    #[arg(long)]
    cause: String,
}

/// The tickets an operation changes, and who does it.
#[derive(clap::Args)]
pub struct Targets {
    /// The tickets: `id:<ticketId>`, a tax number or a barcode, one or many.
    tickets: Vec<String>,
    /// A file of tickets, one reference a line (blank lines and lines starting with
    /// `#` are ignored); `-` reads standard input.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Who does it, for the history. Default: `cli:` and the login name.
    #[arg(long)]
    operator: Option<String>,
    #[command(flatten)]
    db: TicketingDb,
    #[command(flatten)]
    org: OrgArg,
}

#[derive(clap::Args)]
pub struct ReprintArgs {
    /// The ticket: `id:<ticketId>`, its tax number or its barcode.
    ticket: String,
    /// The old ticket's cause (default REPRINT), one of the organization's.
    #[arg(long, default_value = "REPRINT")]
    cause: String,
    #[command(flatten)]
    new: NewTicket,
}

/// The new ticket of a reprint (or of a resale sold or withdrawn), and who does it.
#[derive(clap::Args)]
pub struct NewTicket {
    /// The new ticket's id (default: one above the highest ticket id).
    #[arg(long)]
    new_ticket_id: Option<i64>,
    /// The new ticket's tax number (default: its ticket id).
    #[arg(long)]
    new_tax_number: Option<String>,
    /// The new ticket's barcode (default: 16 random digits no ticket ever held).
    #[arg(long)]
    new_barcode: Option<String>,
    /// Who does it, for the history. Default: `cli:` and the login name.
    #[arg(long)]
    operator: Option<String>,
    #[command(flatten)]
    db: TicketingDb,
    #[command(flatten)]
    org: OrgArg,
}

/// The resale steps (DOMAIN.md §2).
#[derive(Subcommand)]
pub enum ResaleCmd {
    /// Post tickets on the resale platform: INVALIDATED, cause RESALE_PENDING (Push
    /// Cancelled deletes them from the wallet). All the tickets named change, or none
    /// does.
    Post(Targets),
    /// A posted ticket is sold: its cause becomes RESOLD and a new NOT_PRINTED ticket
    /// (same seat, new identifiers) is issued to the buyer, its cultural contact;
    /// injection sends it to the buyer.
    Sold(SoldArgs),
    /// A posting is withdrawn: its cause becomes RESALE_CANCELLED and a new ticket gives
    /// the seat back to the seller (injected to the seller's last wallet owner, by the
    /// reprint rule).
    Withdraw(WithdrawArgs),
}

#[derive(clap::Args)]
pub struct SoldArgs {
    /// The posted ticket: `id:<ticketId>`, its tax number or its barcode.
    ticket: String,
    /// The buyer's contact number (a contact of the organization).
    #[arg(long)]
    to: String,
    #[command(flatten)]
    new: NewTicket,
}

#[derive(clap::Args)]
pub struct WithdrawArgs {
    /// The posted ticket: `id:<ticketId>`, its tax number or its barcode.
    ticket: String,
    #[command(flatten)]
    new: NewTicket,
}

#[derive(clap::Args)]
pub struct ControlArgs {
    /// The barcode scanned (or --file).
    barcode: Option<String>,
    /// When it was scanned: RFC 3339, or a local time in the organization's zone.
    /// Default: now.
    #[arg(long)]
    at: Option<String>,
    /// The gate's performance code: a ticket of another performance is refused.
    #[arg(long)]
    performance: Option<String>,
    /// A CSV file of scans: barcode,scanned_at[,performance] (a header line naming
    /// barcode is skipped; separator detected); `-` reads standard input.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Who scanned, for the history. Default: `cli:` and the login name.
    #[arg(long)]
    operator: Option<String>,
    #[command(flatten)]
    db: TicketingDb,
    #[command(flatten)]
    org: OrgArg,
}

#[derive(Subcommand)]
pub enum CausesCmd {
    /// The organization's invalidation and cancellation causes: the defaults, then the
    /// ones added.
    List {
        #[command(flatten)]
        db: TicketingDb,
        #[command(flatten)]
        org: OrgArg,
    },
    /// Add a cause to the organization's list (normalised: spaces removed, upper case).
    Add {
        /// The cause (`lost ticket` is stored as `LOSTTICKET`).
        cause: String,
        #[command(flatten)]
        db: TicketingDb,
        #[command(flatten)]
        org: OrgArg,
    },
}

pub async fn exec(cmd: TicketCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        TicketCmd::Cancel(a) => operate(Operation::Cancel, &a.cause, a.targets).await,
        TicketCmd::Invalidate(a) => operate(Operation::Invalidate, &a.cause, a.targets).await,
        TicketCmd::Reprint(a) => {
            reissue(Operation::Reprint, &a.ticket, &a.cause, None, a.new).await
        }
        TicketCmd::Resale(ResaleCmd::Post(t)) => {
            operate(Operation::ResalePost, RESALE_PENDING, t).await
        }
        TicketCmd::Resale(ResaleCmd::Sold(a)) => {
            let op = Operation::ResaleSold;
            reissue(op, &a.ticket, resale_cause(op), Some(a.to), a.new).await
        }
        TicketCmd::Resale(ResaleCmd::Withdraw(a)) => {
            let op = Operation::ResaleWithdraw;
            reissue(op, &a.ticket, resale_cause(op), None, a.new).await
        }
        TicketCmd::Control(a) => control(a).await,
        TicketCmd::History { ticket, db, org } => history(&ticket, db, org).await,
        TicketCmd::Show { ticket, db, org } => show(&ticket, db, org).await,
    }
}

fn resale_cause(op: Operation) -> &'static str {
    op.resale_cause().unwrap_or_default()
}

async fn operate(op: Operation, cause: &str, a: Targets) -> anyhow::Result<ExitCode> {
    let cause = Cause::parse(cause).context("--cause is empty")?;
    let mut entries = a.tickets;
    if let Some(file) = &a.file {
        entries.extend(read_refs(file, |l| TicketRef::parse(l).map(drop))?);
    }
    if entries.is_empty() {
        anyhow::bail!("name at least one ticket (id:<ticketId>, tax number or barcode) or --file");
    }
    let tickets = entries
        .iter()
        .map(|e| TicketRef::parse(e))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("ticket reference {e}"))?;
    let store = a.db.open().await?;
    let org = a.org.get(&*store).await?;
    let operator = a.operator.unwrap_or_else(default_operator);
    let records = store
        .apply_operation(OperationRequest {
            organization_id: org.id,
            operation: op,
            tickets,
            cause,
            operator,
            at: chrono::Utc::now(),
        })
        .await?;
    for r in &records {
        println!("{}", line(&*store, r).await?);
    }
    println!(
        "{}: {} ticket{} changed in organization {}",
        op,
        records.len(),
        if records.len() == 1 { "" } else { "s" },
        org.code
    );
    Ok(ExitCode::SUCCESS)
}

/// A reprint, or a resale step that issues a new ticket (to `buyer` for a sale).
async fn reissue(
    operation: Operation,
    ticket: &str,
    cause: &str,
    buyer: Option<String>,
    a: NewTicket,
) -> anyhow::Result<ExitCode> {
    let ticket = TicketRef::parse(ticket).map_err(|e| anyhow::anyhow!("ticket reference {e}"))?;
    let cause = Cause::parse(cause).context("--cause is empty")?;
    let store = a.db.open().await?;
    let org = a.org.get(&*store).await?;
    let done = store
        .reprint(ReprintRequest {
            organization_id: org.id,
            operation,
            ticket,
            buyer,
            cause,
            operator: a.operator.unwrap_or_else(default_operator),
            at: chrono::Utc::now(),
            new_ticket_id: a.new_ticket_id,
            new_tax_number: a.new_tax_number,
            new_barcode: a.new_barcode,
        })
        .await?;
    println!("{}", line(&*store, &done.record).await?);
    let t = &done.new_ticket;
    println!(
        "new ticket {} (tax number {}, barcode {}): {}, replaces ticket {}",
        t.id, t.tax_number, t.barcode, t.status, done.record.ticket_id
    );
    Ok(ExitCode::SUCCESS)
}

async fn control(a: ControlArgs) -> anyhow::Result<ExitCode> {
    let store = a.db.open().await?;
    let org = a.org.get(&*store).await?;
    let operator = a.operator.unwrap_or_else(default_operator);
    let (scans, live) = match (&a.file, &a.barcode) {
        (Some(file), None) => {
            let text = read_text(file)?;
            let zone = org.time_zone;
            (read_scans(&text, zone, a.performance.as_deref())?, false)
        }
        (None, Some(barcode)) => {
            let scanned_at = match &a.at {
                Some(t) => local_time::parse_time(t, org.time_zone)
                    .map_err(|e| anyhow::anyhow!("--at {t:?}: {e}"))?,
                None => chrono::Utc::now(),
            };
            let scan = GateScan {
                barcode: barcode.clone(),
                scanned_at,
                performance: a.performance.clone(),
            };
            (vec![(1, scan)], true)
        }
        _ => anyhow::bail!("give either one barcode or --file"),
    };
    // The earliest scan of a ticket wins: the store sees them in time order.
    let mut ordered = scans;
    ordered.sort_by_key(|(line, s)| (s.scanned_at, *line));
    let sent = ordered.iter().map(|(_, s)| s.clone()).collect();
    let results = store.record_scans(org.id, sent, live, &operator).await?;
    let mut answered: Vec<(usize, GateScan, ScanResult)> = ordered
        .into_iter()
        .zip(results)
        .map(|((line, scan), r)| (line, scan, r))
        .collect();
    answered.sort_by_key(|(line, _, _)| *line);
    let mut refused = 0;
    for (line, scan, r) in &answered {
        refused += usize::from(matches!(r.outcome, ScanOutcome::Refused { .. }));
        let at = scan
            .scanned_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let prefix = if live {
            String::new()
        } else {
            format!("line {line}: ")
        };
        println!("{prefix}{} at {at}: {}", scan.barcode, outcome_text(r));
    }
    if live {
        return Ok(if refused == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    println!("{} scans, {refused} refused", answered.len());
    Ok(ExitCode::SUCCESS)
}

/// What a gate operator reads for one scan.
fn outcome_text(r: &ScanResult) -> String {
    let t = r
        .ticket_id
        .map_or(String::new(), |id| format!("ticket {id} "));
    let time =
        |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match &r.outcome {
        ScanOutcome::Controlled => format!("{t}CONTROLLED"),
        ScanOutcome::AlreadyControlled { first_scan } => {
            format!("duplicate: {t}was first scanned at {}", time(first_scan))
        }
        ScanOutcome::EarlierScan { replaced } => {
            format!(
                "{t}CONTROLLED at this earlier time (was {})",
                time(replaced)
            )
        }
        ScanOutcome::AdmittedWhileCancelled { status, cause } => format!(
            "ADMITTED WHILE CANCELLED: {t}is {status}{}; not controlled",
            cause.as_ref().map_or(String::new(), |c| format!(" ({c})"))
        ),
        ScanOutcome::Refused { reason } => format!("REFUSED: {reason}"),
    }
}

/// The scans of a file, numbered by line (1 = the first line of the file). A bad line
/// refuses the whole file, naming it: nothing is recorded.
fn read_scans(
    text: &str,
    zone: local_time::Tz,
    gate: Option<&str>,
) -> anyhow::Result<Vec<(usize, GateScan)>> {
    let delimiter = csv_dialect::resolve(text.as_bytes(), None);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .delimiter(delimiter.byte())
        .from_reader(csv_dialect::strip_bom(text.as_bytes()));
    let mut scans = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 1;
        let record = record.map_err(|e| anyhow::anyhow!("line {line}: {e}"))?;
        let cell = |k: usize| record.get(k).filter(|v| !v.is_empty());
        let Some(barcode) = cell(0) else { continue };
        if line == 1 && barcode.eq_ignore_ascii_case("barcode") {
            continue;
        }
        text::check_plain_text("barcode", barcode, false)
            .map_err(|e| anyhow::anyhow!("line {line}: {}", e.message))?;
        let at = cell(1).ok_or_else(|| anyhow::anyhow!("line {line}: scanned_at is missing"))?;
        let scanned_at = local_time::parse_time(at, zone)
            .map_err(|e| anyhow::anyhow!("line {line}, scanned_at {at:?}: {e}"))?;
        let performance = cell(2).or(gate).map(str::to_owned);
        scans.push((
            line,
            GateScan {
                barcode: barcode.to_owned(),
                scanned_at,
                performance,
            },
        ));
    }
    if scans.is_empty() {
        anyhow::bail!("the file holds no scan (barcode,scanned_at[,performance])");
    }
    Ok(scans)
}

/// `ticket ID (tax number TX): FROM -> TO, cause C` for one history row.
async fn line(store: &dyn TicketingStore, r: &OperationRecord) -> anyhow::Result<String> {
    let tax = store
        .ticket(r.ticket_id)
        .await?
        .map(|t| t.tax_number)
        .unwrap_or_default();
    Ok(format!(
        "ticket {} (tax number {tax}): {} -> {}, cause {}",
        r.ticket_id,
        r.from_status,
        r.to_status,
        r.cause.as_ref().map_or("-", Cause::as_str)
    ))
}

/// The ticket of the organization a reference names, with the opened store.
async fn named(
    ticket: &str,
    db: TicketingDb,
    org: OrgArg,
) -> anyhow::Result<(std::sync::Arc<dyn TicketingStore>, i64)> {
    let r = TicketRef::parse(ticket).map_err(|e| anyhow::anyhow!("ticket reference {e}"))?;
    let store = db.open().await?;
    let org = org.get(&*store).await?;
    let Some(id) = store.find_ticket(org.id, &r).await? else {
        anyhow::bail!("no ticket {r} in organization {}", org.code);
    };
    Ok((store, id))
}

async fn history(ticket: &str, db: TicketingDb, org: OrgArg) -> anyhow::Result<ExitCode> {
    let (store, id) = named(ticket, db, org).await?;
    let rows = store.ticket_operations(id).await?;
    if rows.is_empty() {
        println!("ticket {id}: no operation since it was imported");
    }
    print_operations(&rows, "");
    Ok(ExitCode::SUCCESS)
}

fn print_operations(rows: &[OperationRecord], indent: &str) {
    for h in rows {
        let replaced_by = h
            .related_ticket_id
            .map(|id| format!("\treplaced by ticket {id}"))
            .unwrap_or_default();
        println!(
            "{indent}{}\t{}\t{}\t{} -> {}\tcause {}{replaced_by}",
            time(h.at),
            h.operation,
            h.operator,
            h.from_status,
            h.to_status,
            h.cause.as_ref().map_or("-", Cause::as_str)
        );
    }
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A wallet person as `ticket show` prints it: the email, else the name (a holder
/// assigned in the app often has no email), else `-`.
fn email(p: Option<&tixbridge_core::api::Person>) -> String {
    let Some(p) = p else {
        return "-".into();
    };
    if let Some(e) = p.email.as_deref().filter(|e| !e.trim().is_empty()) {
        return e.to_owned();
    }
    let name = [p.first_name.as_deref(), p.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if name.trim().is_empty() {
        "-".into()
    } else {
        name
    }
}

/// `ticket show`: both sides of one ticket.
async fn show(ticket: &str, db: TicketingDb, org: OrgArg) -> anyhow::Result<ExitCode> {
    let (store, id) = named(ticket, db, org).await?;
    let t = store
        .ticket(id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("ticket {id} disappeared"))?;
    let contact = store.contact(t.contact_id).await?;
    println!(
        "ticket {} (tax number {}, barcode {}, file {})",
        t.id,
        t.tax_number,
        t.barcode,
        t.file_id.as_deref().unwrap_or("-")
    );
    println!(
        "  ticketing: {}{}, contact {}{}",
        t.status,
        t.cause
            .as_ref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default(),
        contact
            .as_ref()
            .and_then(|c| c.email.as_deref())
            .unwrap_or("-"),
        t.replaces_ticket_id
            .map(|r| format!(", replaces ticket {r}"))
            .unwrap_or_default()
    );
    if let (Some(by), Some(at)) = (&t.printed_by, t.printed_at) {
        println!("  printed by {by} at {}", time(at));
    }
    let ops = store.ticket_operations(id).await?;
    if !ops.is_empty() {
        println!("  operations:");
        print_operations(&ops, "    ");
    }
    let Some(p) = store.projection(id).await? else {
        println!("  wallet: never injected");
        return Ok(ExitCode::SUCCESS);
    };
    let since = p.status_changed_at.map(time).unwrap_or_else(|| "-".into());
    println!(
        "  wallet: {} since {since}; owner {}, initial owner {}, previous owner {}, holder {}, transfer level {}",
        p.wallet_status,
        email(p.owner.as_ref()),
        email(p.initial_owner.as_ref()),
        email(p.previous_owner.as_ref()),
        email(p.holder.as_ref()),
        p.transfer_level
    );
    if let Some(d) = &p.deletion {
        println!(
            "  deletion: reason {}, shown {}, requested {}, confirmed {}",
            d.reason,
            d.show_deleted_ticket,
            d.requested_at,
            d.confirmed_at.as_deref().unwrap_or("-")
        );
    }
    let log = store.mobile_history(id).await?;
    if log.is_empty() {
        println!("  wallet history: none yet (Feedback brings it back)");
    } else {
        println!("  wallet history:");
    }
    for e in log {
        println!(
            "    #{}\t{}\t{}\t{} -> {}\tby {}{}",
            e.seq,
            time(e.at),
            e.action,
            e.from_status.as_deref().unwrap_or("-"),
            e.to_status,
            e.actor,
            e.detail.map(|d| format!("\t{d}")).unwrap_or_default()
        );
    }
    println!(
        "  (the wallet's side as of the last Feedback, updated {})",
        time(p.updated_at)
    );
    let rows = store.distributions(DistributionsOf::Ticket(id)).await?;
    if !rows.is_empty() {
        println!("  cultural-contact distribution:");
        print_distributions(&*store, &rows, "    ").await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per distribution row: when, sender -> recipient (contacts by email), status.
pub(super) async fn print_distributions(
    store: &dyn TicketingStore,
    rows: &[Distribution],
    indent: &str,
) -> anyhow::Result<()> {
    let who = |id: Option<i64>| async move {
        let c = match id {
            Some(id) => store.contact(id).await?,
            None => None,
        };
        anyhow::Ok(c.map_or("-".to_owned(), |c| {
            let email = c.email.unwrap_or_else(|| format!("contact {}", c.id));
            if c.temporary {
                format!("{email} (temporary)")
            } else {
                email
            }
        }))
    };
    for d in rows {
        println!(
            "{indent}ticket {}\t{}\t{} -> {}\t{}{}",
            d.ticket_id,
            time(d.created_at),
            who(d.sender_contact_id).await?,
            who(Some(d.recipient_contact_id)).await?,
            d.status,
            d.closed_at
                .map(|t| format!(" at {}", time(t)))
                .unwrap_or_default()
        );
    }
    Ok(())
}

pub async fn exec_causes(cmd: CausesCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        CausesCmd::List { db, org } => {
            let store = db.open().await?;
            let org = org.get(&*store).await?;
            for c in store.causes(org.id).await? {
                println!("{c}");
            }
        }
        CausesCmd::Add { cause, db, org } => {
            let cause = Cause::parse(&cause).context("the cause is empty")?;
            let store = db.open().await?;
            let org = org.get(&*store).await?;
            if store.add_cause(org.id, cause.clone()).await? {
                println!("cause {cause} added to organization {}", org.code);
            } else {
                println!("organization {} already has cause {cause}", org.code);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A file's text, or standard input's for `-`.
pub(super) fn read_text(path: &PathBuf) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

/// The ticket references of a file, one a line (blank lines and `#` comments
/// skipped); `-` reads standard input. Each is checked by `check`; the first bad one
/// refuses the file naming its line.
pub(super) fn read_refs(
    path: &PathBuf,
    check: impl Fn(&str) -> Result<(), String>,
) -> anyhow::Result<Vec<String>> {
    let text = read_text(path)?;
    let mut refs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        check(line).map_err(|e| anyhow::anyhow!("{} line {}: {e}", path.display(), i + 1))?;
        refs.push(line.to_owned());
    }
    Ok(refs)
}

fn default_operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}
