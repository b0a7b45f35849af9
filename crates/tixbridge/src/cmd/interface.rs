//! `tixbridge interface create|list|show|update`. The API key is read from the
//! environment or a file, never from the command line, and never shown.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use secrecy::SecretString;

use super::{OrgArg, TicketingDb};
use tixbridge_interface::setup::{
    InterfaceChange, InterfaceInput, create_interface, update_interface,
};
use tixbridge_store::InterfaceConfig;

#[derive(Subcommand)]
pub enum InterfaceCmd {
    /// Create the organization's interface (one per organization).
    Create(Box<CreateArgs>),
    /// List interfaces (the API key is never shown).
    List {
        #[command(flatten)]
        db: TicketingDb,
    },
    /// Every field of an interface; the API key only as set or not set.
    Show {
        #[command(flatten)]
        db: TicketingDb,
        /// The interface's name.
        name: String,
    },
    /// Change an interface; each value is checked exactly as at creation.
    Update(Box<UpdateArgs>),
}

#[derive(clap::Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    db: TicketingDb,
    /// The interface's name.
    name: String,
    /// New wallet API URL; must end with organizer/tickets.
    #[arg(long)]
    url: Option<String>,
    /// New wallet admin login.
    #[arg(long)]
    login: Option<String>,
    /// Read a new API key from this environment variable.
    #[arg(long = "api-key-env")]
    api_key_env: Option<String>,
    /// Or read a new API key from this file (first line).
    #[arg(long, conflicts_with = "api_key_env")]
    api_key_file: Option<PathBuf>,
    /// New comma-separated notification addresses ("" for none).
    #[arg(long)]
    emails: Option<String>,
    /// A custom parameter, key=value, replacing that key's value; repeat for several.
    #[arg(long = "param")]
    params: Vec<String>,
    /// A file of custom parameters, one key=value per line, applied like --param.
    #[arg(long)]
    params_file: Option<PathBuf>,
    /// The parameters given replace all the stored ones instead of only their keys.
    #[arg(long)]
    replace_params: bool,
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

/// The API key from a file (its first line) or an environment variable.
fn read_key(env: &str, file: Option<&Path>) -> anyhow::Result<SecretString> {
    let key = match file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("reading the API key file {}", f.display()))?
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned(),
        None => std::env::var(env).map_err(|_| {
            anyhow::anyhow!("no API key: set the environment variable {env} or give --api-key-file")
        })?,
    };
    Ok(SecretString::from(key))
}

/// The custom parameters given as `--param` lines and a `--params-file`, the file
/// first (the lines given on the command line win).
fn read_params(params: &[String], file: Option<&Path>) -> anyhow::Result<String> {
    let mut custom = params.join("\n");
    if let Some(f) = file {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        custom = format!("{text}\n{custom}");
    }
    Ok(custom)
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
            let key = read_key(&api_key_env, api_key_file.as_deref())?;
            let custom = read_params(&params, params_file.as_deref())?;
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
                    api_key: key,
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
                    "{}\torganization {}\t{}\t{}\tlogin {}\tapi key: set\tnotify: {}",
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
        InterfaceCmd::Show { db, name } => {
            let store = db.open().await?;
            let i = store
                .interface_by_name(&name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no interface is named {name:?}"))?;
            let org = store.organization(i.organization_id).await?;
            print_interface(&i, &org.code);
            Ok(ExitCode::SUCCESS)
        }
        InterfaceCmd::Update(a) => {
            let a = *a;
            let api_key = match (&a.api_key_env, &a.api_key_file) {
                (None, None) => None,
                (env, file) => Some(read_key(
                    env.as_deref().unwrap_or_default(),
                    file.as_deref(),
                )?),
            };
            let given = !a.params.is_empty() || a.params_file.is_some();
            let custom = read_params(&a.params, a.params_file.as_deref())?;
            let store = a.db.open().await?;
            let i = update_interface(
                &*store,
                &a.name,
                InterfaceChange {
                    url: a.url,
                    login: a.login,
                    api_key,
                    notification_emails: a.emails,
                    custom_params: given.then_some(custom),
                    replace_params: a.replace_params,
                },
            )
            .await?;
            let org = store.organization(i.organization_id).await?;
            println!("interface {} updated", i.name);
            print_interface(&i, &org.code);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Every field of an interface; the key only as set or not set.
fn print_interface(i: &InterfaceConfig, org: &str) {
    use secrecy::ExposeSecret;
    let key = if i.api_key.expose_secret().trim().is_empty() {
        "not set"
    } else {
        "set"
    };
    println!("interface {}", i.name);
    println!("  organization: {org}");
    println!("  kind: {}", i.kind);
    println!("  url: {}", i.url);
    println!("  login: {}", i.login);
    println!("  api key: {key}");
    let emails = if i.notification_emails.is_empty() {
        "none".to_owned()
    } else {
        i.notification_emails.join(", ")
    };
    println!("  notification emails: {emails}");
    let params: Vec<&str> = i
        .custom_params
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if params.is_empty() {
        println!("  custom parameters: none (every parameter at its default)");
    } else {
        println!("  custom parameters:");
        for p in params {
            println!("    {p}");
        }
    }
}
