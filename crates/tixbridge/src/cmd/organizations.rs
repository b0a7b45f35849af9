//! `tixbridge organizations`: the organizations of ticketing, one a line.

use std::process::ExitCode;

use super::TicketingDb;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: TicketingDb,
}

/// Prints `CODE<TAB>name<TAB>language xx` for each organization, by code; says so when
/// there is none.
pub async fn exec(a: Args) -> anyhow::Result<ExitCode> {
    let store = a.db.open().await?;
    let orgs = store.organizations().await?;
    if orgs.is_empty() {
        println!(
            "no organization in ticketing; `tixbridge import tickets --org CODE FILE` creates one"
        );
    }
    for o in orgs {
        println!("{}\t{}\tlanguage {}", o.code, o.name, o.default_language);
    }
    Ok(ExitCode::SUCCESS)
}
