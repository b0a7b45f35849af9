//! tixbridge-store: storage behind traits, so every function can run on embedded
//! SQLite (the default; `rusqlite`, one blocking hop per batch) or on PostgreSQL
//! (`sqlx`, for production and several workers).
//!
//! - [`TicketingStore`]: the ticketing side (catalog, tickets, contacts, interface
//!   configuration, schedules, executions, processed markers, mobile projection).
//! - [`WalletStore`]: the wallet service's data (organizers, events, tickets, the
//!   hash-chained status log).
//! - [`sqlite`] and [`postgres`]: the two backends of each trait.
//! - [`conformance`]: one suite of behaviour checks, run against every backend.
//!
//! A store is opened from a URL: `sqlite:PATH` (or a plain path) or `postgres://…`.

/// The columns an organization is read from, in the order both backends' row readers
/// take them: written once, so that no query can read fewer than the reader expects.
macro_rules! organization_columns {
    () => {
        "id, code, name, default_language, time_zone"
    };
}

pub mod conformance;
pub mod postgres;
mod privileges;
pub mod sqlite;
pub mod testing;
mod ticketing;
mod wallet;

pub use privileges::*;
pub use ticketing::*;
pub use wallet::*;

/// Errors of the stores. `Conflict` and `NotFound` carry a sentence for the user;
/// `Backend` wraps what the database said.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Backend(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which backend a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    Sqlite(std::path::PathBuf, sqlite::Durability),
    Postgres(String),
}

impl DbUrl {
    /// `postgres://…` / `postgresql://…` → PostgreSQL; `sqlite:PATH`, `sqlite://PATH` or a
    /// bare path → SQLite; `?sync=full` after a SQLite path makes every commit reach the
    /// disk before it returns (see [`sqlite::Durability`]).
    pub fn parse(url: &str) -> Result<DbUrl> {
        let u = url.trim();
        if u.starts_with("postgres://") || u.starts_with("postgresql://") {
            Ok(DbUrl::Postgres(u.to_owned()))
        } else if let Some(p) = u
            .strip_prefix("sqlite://")
            .or_else(|| u.strip_prefix("sqlite:"))
        {
            let (p, durability) = match p.split_once('?') {
                None => (p, sqlite::Durability::Normal),
                Some((p, "sync=normal")) => (p, sqlite::Durability::Normal),
                Some((p, "sync=full")) => (p, sqlite::Durability::Full),
                Some((_, q)) => {
                    return Err(StoreError::Invalid(format!(
                        "database URL {u:?}: unknown option {q:?}; the only one is sync=full or sync=normal"
                    )));
                }
            };
            if p.is_empty() {
                return Err(StoreError::Invalid(format!(
                    "database URL {u:?} names no file"
                )));
            }
            Ok(DbUrl::Sqlite(p.into(), durability))
        } else if u.is_empty() {
            Err(StoreError::Invalid("the database URL is empty".into()))
        } else if u.contains("://") {
            Err(StoreError::Invalid(format!(
                "database URL {u:?}: only sqlite:PATH and postgres:// URLs are supported"
            )))
        } else {
            Ok(DbUrl::Sqlite(u.into(), sqlite::Durability::Normal))
        }
    }
}

/// Opens the ticketing store the URL names, creating or migrating its schema.
pub async fn open_ticketing(url: &str) -> Result<std::sync::Arc<dyn TicketingStore>> {
    match DbUrl::parse(url)? {
        DbUrl::Sqlite(p, d) => sqlite::open_ticketing_with(&p, d).await,
        DbUrl::Postgres(u) => postgres::open_ticketing(&u).await,
    }
}

/// Opens the wallet store the URL names, creating or migrating its schema.
pub async fn open_wallet(url: &str) -> Result<std::sync::Arc<dyn WalletStore>> {
    match DbUrl::parse(url)? {
        DbUrl::Sqlite(p, d) => sqlite::open_wallet_with(&p, d).await,
        DbUrl::Postgres(u) => postgres::open_wallet(&u).await,
    }
}

/// What to say when a backup of a PostgreSQL store is asked for: PostgreSQL is
/// backed up with its own tools.
pub const PG_BACKUP_HINT: &str = "a PostgreSQL store is backed up with PostgreSQL's own tools, not with `tixbridge backup`: `pg_dump --format=custom --file=FILE URL` (add `--schema=NAME` when the URL has ?schema=NAME) while the services run, and `pg_restore` to restore";

/// Copies the store the URL names into the new file `dest` (mode 0600), consistently,
/// while services go on using it. SQLite only ([`sqlite::backup`]); a PostgreSQL URL is
/// refused with [`PG_BACKUP_HINT`].
pub async fn backup(url: &str, dest: &std::path::Path) -> Result<()> {
    match DbUrl::parse(url)? {
        DbUrl::Sqlite(p, _) => sqlite::backup(&p, dest).await,
        DbUrl::Postgres(_) => Err(StoreError::Invalid(PG_BACKUP_HINT.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert!(matches!(
            DbUrl::parse("postgres://u@h/db").unwrap(),
            DbUrl::Postgres(_)
        ));
        use sqlite::Durability::{Full, Normal};
        assert_eq!(
            DbUrl::parse("sqlite:a.db").unwrap(),
            DbUrl::Sqlite("a.db".into(), Normal)
        );
        assert_eq!(
            DbUrl::parse("sqlite:a.db?sync=full").unwrap(),
            DbUrl::Sqlite("a.db".into(), Full)
        );
        assert!(DbUrl::parse("sqlite:a.db?fast=yes").is_err());
        assert_eq!(
            DbUrl::parse("sqlite:///tmp/a.db").unwrap(),
            DbUrl::Sqlite("/tmp/a.db".into(), sqlite::Durability::Normal)
        );
        assert_eq!(
            DbUrl::parse("data/t.db").unwrap(),
            DbUrl::Sqlite("data/t.db".into(), sqlite::Durability::Normal)
        );
        assert!(DbUrl::parse("mysql://x").is_err());
        assert!(DbUrl::parse("").is_err());
    }
}
