//! `tixbridge interface create|list`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use secrecy::SecretString;

use super::{OrgArg, TicketingDb};
use tixbridge_interface::setup::{InterfaceInput, create_interface};

#[derive(Subcommand)]
pub enum InterfaceCmd {
    /// Create the organization's interface (one per organization).
    Create(Box<CreateArgs>),
    /// List interfaces (the API key is never shown).
    List {
        #[command(flatten)]
        db: TicketingDb,
    },
}

#[derive(clap::Args)]
pub struct CreateArgs {
    #[command(flatten)]
    db: TicketingDb,
    #[command(flatten)]
    org: OrgArg,
    /// Internal name.
    #[arg(long)]
    name: String,
    /// TIXNGO or TIXNGO_WITH_TEMPLATE.
    #[arg(long, default_value = "TIXNGO")]
    kind: String,
    /// Wallet API URL; must end with organizer/tickets.
    #[arg(long)]
    url: String,
    /// Wallet admin login (recorded, not checked by the wallet).
    #[arg(long, default_value = "admin")]
    login: String,
    /// The wallet API key (the interface's password). Read from the environment so
    /// it never shows in the process list or shell history.
    #[arg(long = "api-key-env", default_value = "TIXBRIDGE_API_KEY")]
    api_key_env: String,
    /// Or read the API key from this file (first line).
    #[arg(long)]
    api_key_file: Option<PathBuf>,
    /// Comma-separated addresses notified when an execution ends in error.
    #[arg(long, default_value = "")]
    emails: String,
    /// A custom parameter, key=value; repeat for several.
    #[arg(long = "param")]
    params: Vec<String>,
    /// A file of custom parameters, one key=value per line.
    #[arg(long)]
    params_file: Option<PathBuf>,
}

pub async fn exec(cmd: InterfaceCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        InterfaceCmd::Create(a) => {
            let CreateArgs {
                db,
                org,
                name,
                kind,
                url,
                login,
                api_key_env,
                api_key_file,
                emails,
                params,
                params_file,
            } = *a;
            let key = match api_key_file {
                Some(f) => std::fs::read_to_string(&f)
                    .with_context(|| format!("reading the API key file {}", f.display()))?
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_owned(),
                None => std::env::var(&api_key_env).map_err(|_| {
                    anyhow::anyhow!(
                        "no API key: set the environment variable {api_key_env} or give --api-key-file"
                    )
                })?,
            };
            let mut custom = params.join("\n");
            if let Some(f) = params_file {
                let text = std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?;
                custom = format!("{text}\n{custom}");
            }
            let store = db.open().await?;
            let org = org.get(&*store).await?;
            let iface = create_interface(
                &*store,
                InterfaceInput {
                    organization_id: org.id,
                    name,
                    kind,
                    url,
                    login,
                    api_key: SecretString::from(key),
                    notification_emails: emails,
                    custom_params: custom,
                },
            )
            .await?;
            println!(
                "interface {} created for organization {} (wallet {})",
                iface.name, org.code, iface.url
            );
            Ok(ExitCode::SUCCESS)
        }
        InterfaceCmd::List { db } => {
            let store = db.open().await?;
            for i in store.interfaces().await? {
                println!(
                    "{}\torganization {}\t{:?}\t{}\tlogin {}\tapi key: set\tnotify: {}",
                    i.name,
                    i.organization_id,
                    i.kind,
                    i.url,
                    i.login,
                    i.notification_emails.join(",")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
