//! PostgreSQL backends (sqlx). A pool of connections; every store call is one
//! transaction. Tables live in the schema named by the URL's `schema` query parameter
//! (default `public`), so tests and several installations can share a database.

mod privileges;
mod ticketing;
mod wallet;

pub use ticketing::open_ticketing;
pub use wallet::open_wallet;

use std::str::FromStr;

use sqlx::Executor;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::{Result, StoreError};

/// Connections per pool: PostgreSQL needs several calls in flight to reach its rate
/// (LIMITS.md: pool of 4 ≈ 3.6× pool of 1).
const POOL_SIZE: u32 = 8;

/// Connects to `url` and applies the migrations not yet applied. A `schema=NAME` query
/// parameter selects (and creates) the schema the tables live in.
pub async fn connect(
    url: &str,
    migrations: &'static [(&'static str, &'static str)],
) -> Result<PgPool> {
    let (base, schema) = split_schema(url)?;
    let opts = PgConnectOptions::from_str(&base)
        .map_err(|e| StoreError::Invalid(format!("bad PostgreSQL URL: {e}")))?;
    if let Some(s) = &schema {
        // Create the schema first, with a connection that does not need it.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await
            .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        pool.execute(format!("CREATE SCHEMA IF NOT EXISTS \"{s}\"").as_str())
            .await?;
        pool.close().await;
    }
    // Custom plans only: a generic plan cached while a table was small (a seq scan is
    // cheapest over a few rows) stays in use as the table grows until an ANALYZE,
    // which may never come (autovacuum can be off). Measured on such a server: the
    // injection's lookup of 50 tickets by primary key took 0.4 s at 340k tickets, and
    // the fill rate fell from 8,400 to 300 tickets/s. Planning each statement costs
    // well under a millisecond and uses the table's current size.
    let opts = opts.options([("plan_cache_mode", "force_custom_plan")]);
    let opts = match &schema {
        Some(s) => opts.options([("search_path", s.as_str())]),
        None => opts,
    };
    let pool = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .connect_with(opts)
        .await
        .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
    migrate(&pool, migrations).await?;
    Ok(pool)
}

/// Splits a `schema=NAME` parameter off the URL; the name must be a plain identifier.
fn split_schema(url: &str) -> Result<(String, Option<String>)> {
    let Some((head, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut schema = None;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("schema", v)) => {
                if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(StoreError::Invalid(format!(
                        "schema {v:?}: use letters, digits and underscores only"
                    )));
                }
                schema = Some(v.to_owned());
            }
            _ => rest.push(pair),
        }
    }
    let base = if rest.is_empty() {
        head.to_owned()
    } else {
        format!("{head}?{}", rest.join("&"))
    };
    Ok((base, schema))
}

async fn migrate(pool: &PgPool, migrations: &[(&str, &str)]) -> Result<()> {
    let mut tx = pool.begin().await?;
    // One migrator at a time, whatever the number of processes starting together.
    sqlx::query("SELECT pg_advisory_xact_lock(727274)")
        .execute(&mut *tx)
        .await?;
    tx.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version TEXT PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .await?;
    for (version, sql) in migrations {
        let done: bool =
            sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = $1)")
                .bind(version)
                .fetch_one(&mut *tx)
                .await?;
        if !done {
            tx.execute(*sql)
                .await
                .map_err(|e| StoreError::Backend(format!("migration {version} failed: {e}")))?;
            sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
                .bind(version)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_parameter_is_split_off() {
        assert_eq!(
            split_schema("postgres://h/db?schema=t1&sslmode=disable").unwrap(),
            ("postgres://h/db?sslmode=disable".into(), Some("t1".into()))
        );
        assert_eq!(
            split_schema("postgres://h/db").unwrap(),
            ("postgres://h/db".into(), None)
        );
        assert!(split_schema("postgres://h/db?schema=a;drop").is_err());
    }
}
