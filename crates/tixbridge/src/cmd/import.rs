//! `tixbridge import tickets FILE.csv` (or `-` for standard input).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use tixbridge_core::local_time::{self, DEFAULT_ZONE, Tz};
use tixbridge_interface::import::{Delimiter, ImportOptions};

use super::{OrgArg, OrgChoice, TicketingDb};
use crate::progress::Meter;

#[derive(Subcommand)]
pub enum ImportCmd {
    /// Import tickets from a CSV file (columns in docs/import.md). All or nothing: a file
    /// with a bad row imports nothing and names every bad row.
    Tickets {
        /// The CSV file; `-` reads standard input (kept in a temporary file while the
        /// import reads it twice).
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
        /// The cell separator: `comma` (`,`), `semicolon` (`;`) or `tab`. Default:
        /// detected from the header line.
        #[arg(long, value_parser = parse_delimiter)]
        delimiter: Option<Delimiter>,
        /// The organization's IANA time zone (`Europe/Paris`): the zone of times
        /// written without offset at sites that name none. Once the file is imported
        /// the organization keeps it (for later imports and for injection); an
        /// organization starts in UTC.
        #[arg(long, value_parser = parse_zone)]
        time_zone: Option<Tz>,
        /// Correct tickets already imported instead of adding new ones: each row names
        /// an existing ticket by ticket_id and gives its whole row again (holder, seat,
        /// contact, prices, texts, catalog fields). Status, cause, tax number, barcode,
        /// file and replaced ticket never change this way. Changed tickets already in
        /// the wallet are sent again by the next injection.
        #[arg(long)]
        update: bool,
    },
}

fn parse_delimiter(s: &str) -> Result<Delimiter, String> {
    s.parse()
}

fn parse_zone(s: &str) -> Result<Tz, String> {
    local_time::parse_zone(s)
}

pub async fn exec(cmd: ImportCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ImportCmd::Tickets {
            file,
            db,
            org,
            org_name,
            language,
            delimiter,
            time_zone,
            update,
        } => {
            if let Some(language) = &language
                && !tixbridge_core::text::is_language_code(language)
            {
                anyhow::bail!("--language {language:?}: expected a two-letter code such as en");
            }
            let options = ImportOptions {
                delimiter,
                time_zone,
                update,
            };
            // Standard input is read once into a temporary file: the import reads its
            // file twice (check, then write) and never holds it in memory.
            let spooled = if file == Path::new("-") {
                Some(spool_stdin()?)
            } else {
                None
            };
            let path = spooled.as_ref().map_or(file.as_path(), |t| t.path());
            let shown = if spooled.is_some() {
                "standard input".to_owned()
            } else {
                file.display().to_string()
            };
            let store = db.open().await?;
            let org = match org.choose_for_import(&*store, language.as_deref()).await? {
                OrgChoice::Existing(org) => org,
                OrgChoice::New(code) if update => {
                    anyhow::bail!(
                        "organization {code} does not exist: --update corrects tickets \
                         already imported; import them first without --update"
                    )
                }
                OrgChoice::New(code) => {
                    let language = language.as_deref().unwrap_or("en");
                    // A refused file must leave the store as it was: check it before the
                    // organization it would create exists.
                    tixbridge_interface::import::check_file_with(
                        language,
                        DEFAULT_ZONE,
                        path,
                        &options,
                        &|_| {},
                    )
                    .await?;
                    let name = org_name.as_deref().unwrap_or(&code);
                    store.ensure_organization(&code, name, language).await?
                }
            };
            let meter = Meter::new("rows", None);
            let m = meter.clone();
            let started = std::time::Instant::now();
            let report = tixbridge_interface::import::import_tickets_with(
                &*store,
                org.id,
                &org.default_language,
                path,
                &options,
                move |p| {
                    if p.phase == tixbridge_interface::import::ImportPhase::Importing {
                        m.set(p.rows)
                    }
                },
            )
            .await;
            meter.finish();
            let report = report?;
            // Only a file that was imported changes the organization's zone.
            if let Some(zone) = time_zone.filter(|z| *z != org.time_zone) {
                store.set_organization_time_zone(org.id, zone).await?;
            }
            let secs = started.elapsed().as_secs_f64();
            if update {
                let c = report.corrections;
                println!(
                    "corrected organization {} from {shown} in {secs:.1} s: {} read, {} \
                     changed, {} already in the wallet (the next injection sends them again)",
                    org.code,
                    count(report.imported, "row"),
                    count(c.changed, "ticket"),
                    c.resend
                );
            } else {
                println!(
                    "imported {} tickets from {shown} into organization {} in {:.1} s",
                    report.imported, org.code, secs
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `1 row`, `2 rows`.
fn count(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Copies standard input into a temporary file, streaming.
fn spool_stdin() -> anyhow::Result<tempfile::NamedTempFile> {
    let mut tmp = tempfile::NamedTempFile::new()
        .context("cannot create a temporary file for standard input")?;
    std::io::copy(&mut std::io::stdin().lock(), &mut tmp).context("cannot read standard input")?;
    tmp.flush().context("cannot write the temporary file")?;
    Ok(tmp)
}
