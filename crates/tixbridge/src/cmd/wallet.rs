//! `tixbridge wallet serve` and `tixbridge wallet organizer create | list | rotate-key`.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

#[derive(clap::Args, Clone)]
pub struct WalletDb {
    /// Wallet database: sqlite:PATH or postgres://user@host/db[?schema=NAME].
    #[arg(
        id = "db",
        long = "db",
        env = "TIXBRIDGE_WALLET_DB",
        default_value = "sqlite:tixbridge-data/wallet.db"
    )]
    pub url: String,
}

impl WalletDb {
    pub async fn open(&self) -> anyhow::Result<std::sync::Arc<dyn tixbridge_store::WalletStore>> {
        tixbridge_store::open_wallet(&self.url)
            .await
            .with_context(|| {
                format!(
                    "opening the wallet database {}",
                    super::redact_url(&self.url)
                )
            })
    }
}

#[derive(Subcommand)]
pub enum WalletCmd {
    /// Serve the wallet API until interrupted (Ctrl-C or SIGTERM).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        #[command(flatten)]
        db: WalletDb,
        #[command(flatten)]
        service: ServiceArgs,
    },
    /// Manage organizers.
    #[command(subcommand)]
    Organizer(OrganizerCmd),
    /// Simulate spectators using their app against a running wallet (sandbox), seeded.
    Simulate(Box<super::simulate::SimulateArgs>),
}

/// How the wallet service behaves.
#[derive(clap::Args, Clone, Debug)]
pub struct ServiceArgs {
    /// Sandbox mode: hand out spectator app sessions to any email (POST /app/session).
    /// Never in production, where a real identity provider stands there.
    #[arg(long, env = "TIXBRIDGE_WALLET_SANDBOX")]
    pub sandbox: bool,
    /// How long a transfer waits for its recipient before it fails (e.g. 1h, 90s).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub transfer_timeout: std::time::Duration,
    /// How long a deletion stays DELETION_PENDING before it is confirmed (device sync).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub deletion_delay: std::time::Duration,
    /// How often the service looks for due time-outs and confirmations.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub sweep_interval: std::time::Duration,
}

impl ServiceArgs {
    pub fn config(&self) -> anyhow::Result<tixbridge_wallet::ServiceConfig> {
        let d = |v: std::time::Duration, name: &str| {
            chrono::Duration::from_std(v).with_context(|| format!("--{name} is too long"))
        };
        Ok(tixbridge_wallet::ServiceConfig {
            sandbox: self.sandbox,
            settings: tixbridge_core::lifecycle::Settings {
                transfer_timeout: d(self.transfer_timeout, "transfer-timeout")?,
                deletion_delay: d(self.deletion_delay, "deletion-delay")?,
            },
            sweep_interval: self
                .sweep_interval
                .max(std::time::Duration::from_millis(10)),
        })
    }
}

/// Longest duration accepted: a year.
const MAX_DURATION_SECS: u64 = 366 * 86_400;

/// `90`, `90s`, `500ms`, `15m`, `1h`, `2d`; at most a year.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 15m, 1h"))?;
    let per = match unit.trim() {
        "ms" => {
            return Ok(std::time::Duration::from_millis(
                n.min(MAX_DURATION_SECS * 1000),
            ));
        }
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        u => return Err(format!("unknown unit {u:?} in {s:?}; use ms, s, m, h or d")),
    };
    match n.checked_mul(per) {
        Some(secs) if secs <= MAX_DURATION_SECS => Ok(std::time::Duration::from_secs(secs)),
        _ => Err(format!("{s:?} is longer than a year")),
    }
}

#[derive(Subcommand)]
pub enum OrganizerCmd {
    /// Create an organizer; its API key is printed once, as the last line.
    Create {
        /// The organizer's name (an organization issuing tickets, e.g. "European Cup").
        #[arg(long)]
        name: String,
        #[command(flatten)]
        db: WalletDb,
    },
    /// List the organizers: id, name and creation time, one a line (never a key).
    List {
        #[command(flatten)]
        db: WalletDb,
    },
    /// Give an organizer a new API key: the old one stops working at once, even on a
    /// running service; the new one is printed once, as the last line.
    RotateKey {
        /// The organizer's id (see `wallet organizer list`).
        #[arg(long)]
        id: i64,
        #[command(flatten)]
        db: WalletDb,
    },
}

pub async fn exec(cmd: WalletCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        WalletCmd::Serve {
            listen,
            db,
            service,
        } => {
            let config = service.config()?;
            let store = db.open().await?;
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr()?;
            // The service logs its own "listening" line; this one is for the operator.
            println!("wallet service listening on http://{addr}/organizer/tickets");
            if config.sandbox {
                println!("sandbox mode: app sessions at http://{addr}/app/session");
            }
            let stopping = async {
                shutdown_signal().await;
                tracing::info!("stopping: no new connection; requests in flight finish first");
            };
            // The service logs "wallet service stopped" once it has.
            tixbridge_wallet::serve_with(listener, store, config, stopping).await?;
            Ok(ExitCode::SUCCESS)
        }
        WalletCmd::Simulate(a) => super::simulate::exec(*a).await,
        WalletCmd::Organizer(OrganizerCmd::Create { name, db }) => {
            if name.trim().is_empty() {
                anyhow::bail!("--name is empty");
            }
            let store = db.open().await?;
            let (org, key) = tixbridge_wallet::create_organizer(&*store, name.trim()).await?;
            println!("organizer {} created (id {})", org.name, org.id);
            println!("API key (shown once; store it in the interface's password):");
            println!("{key}");
            Ok(ExitCode::SUCCESS)
        }
        WalletCmd::Organizer(OrganizerCmd::List { db }) => {
            let store = db.open().await?;
            println!("ID\tNAME\tCREATED");
            for o in store.organizers().await? {
                println!(
                    "{}\t{}\t{}",
                    o.id,
                    o.name,
                    tixbridge_core::ledger::format_at(o.created_at)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        WalletCmd::Organizer(OrganizerCmd::RotateKey { id, db }) => {
            let store = db.open().await?;
            let (org, key) = tixbridge_wallet::rotate_organizer_key(&*store, id)
                .await
                .with_context(|| format!("rotating the API key of organizer {id}"))?;
            println!(
                "organizer {} (id {}): new API key; the old one no longer works",
                org.name, org.id
            );
            println!("API key (shown once; store it in the interface's password):");
            println!("{key}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
