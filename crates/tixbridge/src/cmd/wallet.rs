//! `tixbridge wallet serve` and `tixbridge wallet organizer create`.

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
    },
    /// Manage organizers.
    #[command(subcommand)]
    Organizer(OrganizerCmd),
}

#[derive(Subcommand)]
pub enum OrganizerCmd {
    /// Create an organizer; its API key is printed once, as the last line.
    Create {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        db: WalletDb,
    },
}

pub async fn exec(cmd: WalletCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        WalletCmd::Serve { listen, db } => {
            let store = db.open().await?;
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr()?;
            tracing::info!(%addr, "wallet service listening");
            println!("wallet service listening on http://{addr}/organizer/tickets");
            tixbridge_wallet::serve(listener, store, shutdown_signal()).await?;
            tracing::info!("wallet service stopped");
            Ok(ExitCode::SUCCESS)
        }
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
