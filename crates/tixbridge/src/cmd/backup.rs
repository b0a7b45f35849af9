//! `tixbridge backup --db URL FILE`: a consistent copy of a SQLite store while the
//! services run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::redact_url;

#[derive(clap::Args)]
pub struct Args {
    /// The store to copy: sqlite:PATH (ticketing or wallet). A postgres:// URL is
    /// answered with how to back it up (pg_dump).
    #[arg(long)]
    db: String,
    /// The backup file to create (it must not exist); readable by its owner only.
    file: PathBuf,
}

pub async fn exec(a: Args) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    tixbridge_store::backup(&a.db, &a.file)
        .await
        .with_context(|| format!("backing up {}", redact_url(&a.db)))?;
    let size = std::fs::metadata(&a.file).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up {} into {} ({size} bytes) in {:.1} s",
        redact_url(&a.db),
        a.file.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
