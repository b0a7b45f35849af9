//! `tixbridge reconcile [--org CODE] [--fix]`: every ticket of the organization
//! compared on both sides, ticketing and the wallet, and the differences reported by
//! class with their first ticket ids (issue 9). Exit code: 0 when both sides agree, 1
//! when a class is not empty (after the repair with `--fix`), 2 when the comparison
//! could not run.

use std::process::ExitCode;
use std::sync::Arc;

use tixbridge_interface::RunOptions;
use tixbridge_interface::reconcile::{
    ReconcileOptions, Reconciliation, reconcile, reconcile_and_fix,
};

use super::{OrgArg, TicketingDb};
use crate::progress::Meter;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: TicketingDb,
    #[command(flatten)]
    org: OrgArg,
    /// Repair what differs: run the function that repairs each class over its tickets
    /// (Injection, Push Cancelled, Push Controlled, then Feedback), then compare again.
    #[arg(long)]
    fix: bool,
    /// Ticket ids shown per class.
    #[arg(long, default_value_t = 10)]
    first: usize,
    /// Print the result as JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn exec(a: Args) -> anyhow::Result<ExitCode> {
    match execute(a).await {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(super::run::COULD_NOT_RUN))
        }
    }
}

async fn execute(a: Args) -> anyhow::Result<ExitCode> {
    let store = a.db.open().await?;
    let org = a.org.get(&*store).await?;
    let meter = Meter::new("tickets compared", None);
    let m = meter.clone();
    let opts = ReconcileOptions {
        first: a.first,
        progress: Some(Arc::new(move |n| m.set(n))),
        ..Default::default()
    };
    let result = if a.fix {
        reconcile_and_fix(store, &org, &opts, RunOptions::default())
            .await
            .map(|(before, lines, after)| (Some((before, lines)), after))
    } else {
        reconcile(store, &org, &opts).await.map(|r| (None, r))
    };
    meter.finish();
    let (fixed, after) = result?;
    if a.json {
        let before = fixed
            .as_ref()
            .map(|(b, l)| serde_json::json!({"before": b, "repairs": l}));
        let out = serde_json::json!({"organization": org.code, "fix": before, "result": after});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        match &fixed {
            Some((before, lines)) if !lines.is_empty() => {
                print(&org.code, before);
                for l in lines {
                    println!("repair: {l}");
                }
                println!("after the repair:");
                print(&org.code, &after);
            }
            Some(_) => {
                print(&org.code, &after);
                if !after.agrees() {
                    println!("nothing the functions can repair: the rest needs an operator");
                }
            }
            None => print(&org.code, &after),
        }
    }
    Ok(if after.agrees() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The report: one line per class, then the verdict.
pub fn print(org: &str, r: &Reconciliation) {
    println!(
        "reconcile {org}: {} tickets in ticketing, {} in the wallet, compared in {:.2} s",
        r.ticketing_tickets,
        r.wallet_tickets,
        r.elapsed.as_secs_f64()
    );
    for c in &r.classes {
        let first = if c.first.is_empty() {
            String::new()
        } else {
            format!(
                " (first: {}{})",
                c.first.join(", "),
                if c.count > c.first.len() as u64 {
                    ", …"
                } else {
                    ""
                }
            )
        };
        println!("  {:<62} {}{first}", c.class.describe(), c.count);
    }
    if r.agrees() {
        println!("both sides agree: 0 mismatches");
    } else {
        println!("{} mismatches", r.mismatches());
    }
}
