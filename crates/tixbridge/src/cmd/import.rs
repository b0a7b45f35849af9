//! `tixbridge import tickets FILE.csv`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::{OrgArg, OrgChoice, TicketingDb};
use crate::progress::Meter;

#[derive(Subcommand)]
pub enum ImportCmd {
    /// Import tickets from a CSV file (columns in the README). All or nothing: a file
    /// with a bad row imports nothing and names every bad row.
    Tickets {
        file: PathBuf,
        #[command(flatten)]
        db: TicketingDb,
        #[command(flatten)]
        org: OrgArg,
        /// Name of the organization when the import creates it.
        #[arg(long)]
        org_name: Option<String>,
        /// Default language of the organization when the import creates it (default
        /// en): the language of the plain (unsuffixed) text columns. Refused when it
        /// differs from an existing organization's.
        #[arg(long)]
        language: Option<String>,
    },
}

pub async fn exec(cmd: ImportCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ImportCmd::Tickets {
            file,
            db,
            org,
            org_name,
            language,
        } => {
            let store = db.open().await?;
            let org = match org.choose_for_import(&*store, language.as_deref()).await? {
                OrgChoice::Existing(org) => org,
                OrgChoice::New(code) => {
                    let language = language.as_deref().unwrap_or("en");
                    // A refused file must leave the store as it was: check it before the
                    // organization it would create exists.
                    tixbridge_interface::import::check_file(language, &file, &|_| {}).await?;
                    let name = org_name.as_deref().unwrap_or(&code);
                    store.ensure_organization(&code, name, language).await?
                }
            };
            let meter = Meter::new("rows", None);
            let m = meter.clone();
            let started = std::time::Instant::now();
            let report = tixbridge_interface::import::import_tickets(
                &*store,
                org.id,
                &org.default_language,
                &file,
                move |n| m.set(n),
            )
            .await;
            meter.finish();
            let report = report?;
            let secs = started.elapsed().as_secs_f64();
            println!(
                "imported {} tickets from {} into organization {} in {:.1} s",
                report.imported,
                file.display(),
                org.code,
                secs
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
