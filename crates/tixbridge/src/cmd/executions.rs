//! `tixbridge executions --schedule NAME` (the history of a schedule) and
//! `tixbridge execution show ID` (one execution: outcome, counts, times, message and
//! its per-ticket errors by pages), as text, CSV or JSON for export.

use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Subcommand;
use serde::Serialize;

use super::TicketingDb;
use tixbridge_interface::execution::WOULD_SEND;
use tixbridge_store::{Execution, StoredTicketError};

/// How a listing is printed.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned for reading.
    Text,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// One JSON document.
    Json,
}

/// `executions`: a schedule's executions, most recent first.
#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    db: TicketingDb,
    /// The schedule.
    #[arg(long)]
    schedule: String,
    /// How many executions, most recent first.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Text for reading; csv or json to export the list.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Subcommand)]
pub enum ExecutionCmd {
    /// One execution: outcome, counts, times, message and a page of its errors.
    Show(ShowArgs),
}

#[derive(clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    db: TicketingDb,
    /// The execution id (as `run` and `executions` print it).
    id: i64,
    /// Errors after this pagination key (0: from the first); each page ends with the
    /// key of the next.
    #[arg(long, default_value_t = 0)]
    after: i64,
    /// Errors per page.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Text; csv prints the page of errors as rows; json the execution and the page.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// An execution as exported: every stored field, the state spelled out.
#[derive(Serialize)]
struct ExecutionView<'a> {
    id: i64,
    schedule: &'a str,
    /// `OK`, `WARNING`, `ERROR`, or `RUNNING`.
    state: String,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    selected: u64,
    sent: u64,
    succeeded: u64,
    failed: u64,
    skipped: u64,
    unsent: u64,
    message: Option<&'a str>,
    lease_owner: Option<&'a str>,
    lease_expires_at: Option<DateTime<Utc>>,
}

impl<'a> ExecutionView<'a> {
    fn new(e: &'a Execution, schedule: &'a str) -> Self {
        let c = e.counts;
        Self {
            id: e.id,
            schedule,
            state: state(e),
            started_at: e.started_at,
            ended_at: e.ended_at,
            selected: c.selected,
            sent: c.sent,
            succeeded: c.succeeded,
            failed: c.failed,
            skipped: c.skipped,
            unsent: c.unsent,
            message: e.message.as_deref(),
            lease_owner: e.lease_owner.as_deref(),
            lease_expires_at: e.lease_expires_at,
        }
    }
}

fn state(e: &Execution) -> String {
    e.outcome
        .map(|o| o.as_str().to_owned())
        .unwrap_or_else(|| "RUNNING".into())
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "-".into())
}

pub async fn list(a: ListArgs) -> anyhow::Result<ExitCode> {
    let store = a.db.open().await?;
    let schedule = store
        .schedule_by_name(&a.schedule)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no schedule is named {:?}", a.schedule))?;
    let execs = store.executions(schedule.id, a.limit).await?;
    let views: Vec<ExecutionView<'_>> = execs
        .iter()
        .map(|e| ExecutionView::new(e, &schedule.name))
        .collect();
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&views)?),
        Format::Csv => print_csv(&views)?,
        Format::Text => {
            if views.is_empty() {
                println!("schedule {} has never run", schedule.name);
            }
            for v in &views {
                println!(
                    "#{}\t{}\tstarted {}\tended {}\tselected {}  sent {}  succeeded {}  failed {}  skipped {}  unsent {}",
                    v.id,
                    v.state,
                    time(Some(v.started_at)),
                    time(v.ended_at),
                    v.selected,
                    v.sent,
                    v.succeeded,
                    v.failed,
                    v.skipped,
                    v.unsent
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_csv<T: Serialize>(rows: &[T]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(std::io::stdout().lock());
    for r in rows {
        w.serialize(r)?;
    }
    w.flush()?;
    Ok(())
}

/// One error row of the CSV export.
#[derive(Serialize)]
struct ErrorRow<'a> {
    execution_id: i64,
    key: i64,
    ticket_id: Option<i64>,
    tax_number: Option<&'a str>,
    code: &'a str,
    message: &'a str,
}

pub async fn exec(cmd: ExecutionCmd) -> anyhow::Result<ExitCode> {
    let ExecutionCmd::Show(a) = cmd;
    let store = a.db.open().await?;
    let e = store
        .execution(a.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no execution has id {}", a.id))?;
    let schedule = store
        .schedule(e.schedule_id)
        .await?
        .map(|s| s.name)
        .unwrap_or_else(|| format!("(schedule {})", e.schedule_id));
    let page = store
        .execution_errors_page(e.id, a.after, a.limit.max(1))
        .await?;
    let next = (page.len() >= a.limit.max(1))
        .then(|| page.last().map(|p| p.key))
        .flatten();
    let view = ExecutionView::new(&e, &schedule);
    match a.format {
        Format::Json => {
            #[derive(Serialize)]
            struct Doc<'a> {
                execution: ExecutionView<'a>,
                errors: &'a [StoredTicketError],
                /// Give it as `--after` for the next page; absent on the last page.
                next_after: Option<i64>,
            }
            let doc = Doc {
                execution: view,
                errors: &page,
                next_after: next,
            };
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Csv => {
            let rows: Vec<ErrorRow<'_>> = page
                .iter()
                .map(|p| ErrorRow {
                    execution_id: e.id,
                    key: p.key,
                    ticket_id: p.error.ticket_id,
                    tax_number: p.error.tax_number.as_deref(),
                    code: &p.error.code,
                    message: &p.error.message,
                })
                .collect();
            print_csv(&rows)?;
            if let Some(k) = next {
                eprintln!("more errors: --after {k}");
            }
        }
        Format::Text => print_text(&view, &page, a.after, next),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(v: &ExecutionView<'_>, page: &[StoredTicketError], after: i64, next: Option<i64>) {
    println!("execution #{} of {}: {}", v.id, v.schedule, v.state);
    println!(
        "  started {}  ended {}",
        time(Some(v.started_at)),
        time(v.ended_at)
    );
    if let (Some(owner), Some(until)) = (v.lease_owner, v.lease_expires_at) {
        let lapsed = if until < Utc::now() {
            " (lapsed: its process seems gone; the next run records it as interrupted)"
        } else {
            ""
        };
        println!(
            "  lease held by {owner} until {}{lapsed}",
            time(Some(until))
        );
    }
    println!(
        "  selected {}  sent {}  succeeded {}  failed {}  skipped {}  unsent {}",
        v.selected, v.sent, v.succeeded, v.failed, v.skipped, v.unsent
    );
    if let Some(m) = v.message {
        println!("  {m}");
    }
    if page.is_empty() {
        println!(
            "  {}",
            if after == 0 {
                "no errors"
            } else {
                "no more errors"
            }
        );
    }
    for p in page {
        // A simulation's previews are not errors.
        let kind = if p.error.code == WOULD_SEND {
            "preview"
        } else {
            "error"
        };
        println!("  [{}] {kind} {}: {}", p.key, p.error.code, p.error.message);
    }
    if let Some(k) = next {
        println!("  more errors: --after {k}");
    }
}
