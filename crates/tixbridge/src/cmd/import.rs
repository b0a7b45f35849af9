//! `tixbridge import tickets FILE.csv`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::{OrgArg, TicketingDb};
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
        /// Default language of the organization when the import creates it: the
        /// language of the plain (unsuffixed) text columns.
        #[arg(long, default_value = "en")]
        language: String,
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
            if !tixbridge_core::text::is_language_code(&language) {
                anyhow::bail!("--language {language:?}: expected a two-letter code such as en");
            }
            let store = db.open().await?;
            if store.organization_by_code(&org.code).await?.is_none() {
                // A refused file must leave the store as it was: check it before the
                // organization it would create exists.
                tixbridge_interface::import::check_file(&language, &file, &|_| {}).await?;
            }
            let org = store
                .ensure_organization(
                    &org.code,
                    org_name.as_deref().unwrap_or(&org.code),
                    &language,
                )
                .await?;
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
