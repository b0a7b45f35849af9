//! The privilege store's conformance suite on SQLite (always) and PostgreSQL (when
//! `TIXBRIDGE_TEST_PG` names a server; mandatory under `CI=true`). Each PostgreSQL run
//! gets a fresh random schema, dropped at the end even when a check fails.

use std::sync::Arc;

use futures::FutureExt;
use tixbridge_store::conformance::privileges::{self as conformance, SetPrivilegeStatus};
use tixbridge_store::testing::pg_test_url;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_privileges_conform() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wallet.db");
    let store = tixbridge_store::sqlite::open_wallet(&path)
        .await
        .expect("open");
    conformance::run_all(store.clone()).await;

    let set: SetPrivilegeStatus = Arc::new(move |org, id, status| {
        let path = path.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let conn = rusqlite::Connection::open(&path).expect("open");
                conn.busy_timeout(std::time::Duration::from_secs(10))
                    .expect("busy timeout");
                let n = conn
                    .execute(
                        "UPDATE wallet_privileges SET status = ?3 \
                         WHERE organizer_id = ?1 AND privilege_id = ?2",
                        rusqlite::params![org, id, status],
                    )
                    .expect("update");
                assert_eq!(n, 1);
            })
            .await
            .expect("task");
        }
        .boxed()
    });
    conformance::check_altered_rows_are_caught(store, set).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_privileges_conform() {
    let Some(base) = pg_test_url() else { return };
    let (schema_url, schema) = tixbridge_store::testing::fresh_schema(&base, "t");
    let store = tixbridge_store::postgres::open_wallet(&schema_url)
        .await
        .expect("open PostgreSQL wallet store");
    let admin = sqlx::PgPool::connect(&base)
        .await
        .expect("admin connection");
    let set: SetPrivilegeStatus = {
        let admin = admin.clone();
        let schema = schema.clone();
        Arc::new(move |org, id, status| {
            let admin = admin.clone();
            let schema = schema.clone();
            async move {
                let r = sqlx::query(&format!(
                    "UPDATE \"{schema}\".wallet_privileges SET status = $3 \
                     WHERE organizer_id = $1 AND privilege_id = $2"
                ))
                .bind(org)
                .bind(id)
                .bind(status)
                .execute(&admin)
                .await
                .expect("update");
                assert_eq!(r.rows_affected(), 1);
            }
            .boxed()
        })
    };
    let outcome = tokio::spawn(async move {
        conformance::run_all(store.clone()).await;
        conformance::check_altered_rows_are_caught(store, set).await;
    })
    .await;
    admin.close().await;
    tixbridge_store::testing::drop_schema(&base, &schema).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
