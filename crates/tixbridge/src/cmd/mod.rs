//! One module per subcommand: `Args` (clap) and `exec`.

pub mod bench;
pub mod bench_feed;
pub mod demo;
pub mod executions;
pub mod import;
pub mod interface;
pub mod run;
pub mod schedule;
pub mod simulate;
pub mod status;
pub mod wallet;

use std::sync::Arc;

use anyhow::Context;
use tixbridge_core::model::Organization;
use tixbridge_store::TicketingStore;

/// The ticketing database.
#[derive(clap::Args, Clone)]
pub struct TicketingDb {
    /// Ticketing database: sqlite:PATH or postgres://user@host/db[?schema=NAME].
    #[arg(
        id = "db",
        long = "db",
        env = "TIXBRIDGE_DB",
        default_value = "sqlite:tixbridge-data/ticketing.db"
    )]
    pub url: String,
}

impl TicketingDb {
    pub async fn open(&self) -> anyhow::Result<Arc<dyn TicketingStore>> {
        tixbridge_store::open_ticketing(&self.url)
            .await
            .with_context(|| format!("opening the ticketing database {}", redact_url(&self.url)))
    }
}

/// The organization owning the inventory.
#[derive(clap::Args, Clone)]
pub struct OrgArg {
    /// Organization code in ticketing.
    #[arg(
        id = "org",
        long = "org",
        env = "TIXBRIDGE_ORG",
        default_value = "DEMO"
    )]
    pub code: String,
}

impl OrgArg {
    pub async fn get(&self, store: &dyn TicketingStore) -> anyhow::Result<Organization> {
        store
            .organization_by_code(&self.code)
            .await?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no organization {:?} in ticketing; `tixbridge import tickets` creates it",
                    self.code
                )
            })
    }
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact_url("sqlite:a.db"), "sqlite:a.db");
    }
}
