//! `tixbridge status`.

use std::process::ExitCode;

use super::{OrgArg, TicketingDb};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: TicketingDb,
    #[command(flatten)]
    org: OrgArg,
}

pub async fn exec(a: Args) -> anyhow::Result<ExitCode> {
    let store = a.db.open().await?;
    let org = a.org.get(&*store).await?;
    println!("tickets of {} per ticketing status:", org.code);
    for (s, n) in store.count_by_status(org.id).await? {
        println!("  {s:<12} {n}");
    }
    Ok(ExitCode::SUCCESS)
}
