//! One module per subcommand: `Args` (clap) and `exec`.

pub mod backup;
pub mod bench;
pub mod bench_feed;
pub mod bench_feedback;
pub mod bench_push;
pub mod bench_reconcile;
pub mod contact;
pub mod demo;
pub mod executions;
pub mod import;
pub mod interface;
pub mod organizations;
pub mod reconcile;
pub mod run;
pub mod schedule;
pub mod simulate;
pub mod status;
pub mod ticket;
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

/// The organization a command works on (`--org`). There is no default code: it may
/// be left out only when ticketing holds exactly one organization.
#[derive(clap::Args, Clone)]
pub struct OrgArg {
    /// Organization code in ticketing; required unless ticketing holds exactly one
    /// organization (`tixbridge organizations` lists them).
    #[arg(id = "org", long = "org", env = "TIXBRIDGE_ORG")]
    pub code: Option<String>,
}

/// What `--org` names for a command that creates the organization when it is missing
/// (the import).
pub enum OrgChoice {
    /// An organization of the store.
    Existing(Organization),
    /// A code no organization has yet.
    New(String),
}

impl OrgArg {
    /// The organization `--org` names, or the store's only one when it is left out.
    pub async fn get(&self, store: &dyn TicketingStore) -> anyhow::Result<Organization> {
        match self.choose(store).await? {
            OrgChoice::Existing(org) => Ok(org),
            OrgChoice::New(code) => anyhow::bail!(
                "no organization {code:?} in ticketing; `tixbridge organizations` lists them and `tixbridge import tickets --org {code}` creates it"
            ),
        }
    }

    /// Like [`OrgArg::get`], but a code that no organization has is answered as
    /// [`OrgChoice::New`]. `language` (`--language`) must be a language code, and is
    /// refused when it differs from an existing organization's default language: an
    /// import does not change it.
    pub async fn choose_for_import(
        &self,
        store: &dyn TicketingStore,
        language: Option<&str>,
    ) -> anyhow::Result<OrgChoice> {
        if let Some(l) = language
            && !tixbridge_core::text::is_language_code(l)
        {
            anyhow::bail!("--language {l:?}: expected a two-letter code such as en");
        }
        let choice = self.choose(store).await?;
        if let (OrgChoice::Existing(org), Some(l)) = (&choice, language)
            && org.default_language != l
        {
            anyhow::bail!(
                "--language {l}: organization {} exists with default language {}; an import does not change it (leave --language out, or give {})",
                org.code,
                org.default_language,
                org.default_language
            );
        }
        Ok(choice)
    }

    async fn choose(&self, store: &dyn TicketingStore) -> anyhow::Result<OrgChoice> {
        if let Some(code) = &self.code {
            let code = code.trim();
            if code.is_empty() {
                anyhow::bail!("--org is empty");
            }
            return Ok(match store.organization_by_code(code).await? {
                Some(org) => OrgChoice::Existing(org),
                None => OrgChoice::New(code.to_owned()),
            });
        }
        let mut orgs = store.organizations().await?;
        match orgs.len() {
            1 => Ok(OrgChoice::Existing(orgs.remove(0))),
            0 => anyhow::bail!("--org is required: ticketing holds no organization yet"),
            _ => anyhow::bail!(
                "--org is required: ticketing holds {} organizations ({})",
                orgs.len(),
                orgs.iter()
                    .map(|o| o.code.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
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
