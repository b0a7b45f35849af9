//! Helpers for the test suites of every crate that runs against PostgreSQL: one place
//! for the rule that the PostgreSQL suite is optional on a workstation and mandatory
//! in CI, and for throw-away schemas.

/// The PostgreSQL server tests run against (`TIXBRIDGE_TEST_PG`), or `None` to skip
/// the PostgreSQL half. Under `CI=true` a missing URL panics: CI must never silently
/// test one backend only.
pub fn pg_test_url() -> Option<String> {
    match std::env::var("TIXBRIDGE_TEST_PG") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but TIXBRIDGE_TEST_PG is not set: the PostgreSQL suite is mandatory \
                 in CI (e.g. TIXBRIDGE_TEST_PG=postgres://postgres@127.0.0.1:5432/test)"
            );
            None
        }
    }
}

/// A fresh schema name with `prefix`, and the store URL that selects it.
pub fn fresh_schema(base: &str, prefix: &str) -> (String, String) {
    let suffix: String = (0..12)
        .map(|_| (b'a' + rand::random_range(0..26u8)) as char)
        .collect();
    let schema = format!("{prefix}_{suffix}");
    let sep = if base.contains('?') { '&' } else { '?' };
    (format!("{base}{sep}schema={schema}"), schema)
}

/// Drops a schema made by [`fresh_schema`], with everything in it.
pub async fn drop_schema(base: &str, schema: &str) {
    use sqlx::Executor;
    let pool = sqlx::PgPool::connect(base)
        .await
        .expect("connect to drop the test schema");
    pool.execute(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE").as_str())
        .await
        .expect("drop the test schema");
    pool.close().await;
}
