//! Runs the executions conformance checks (leases, history, interface and schedule
//! changes) on SQLite always and on PostgreSQL when `TIXBRIDGE_TEST_PG` is set
//! (mandatory under `CI=true`). The overlap check opens two handles on one database,
//! as two processes would.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tixbridge_store::TicketingStore;
use tixbridge_store::conformance::executions as checks;
use tixbridge_store::testing::pg_test_url as pg_url;

/// Runs `check` with `handles` stores on one fresh database of `backend`.
async fn on<F, Fut>(postgres: bool, check: F)
where
    F: FnOnce(Arc<dyn TicketingStore>, Arc<dyn TicketingStore>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if !postgres {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite:{}", dir.path().join("ticketing.db").display());
        let a = tixbridge_store::open_ticketing(&url).await.expect("open a");
        let b = tixbridge_store::open_ticketing(&url).await.expect("open b");
        check(a, b).await;
        return;
    }
    let Some(base) = pg_url() else {
        eprintln!("TIXBRIDGE_TEST_PG is not set: skipping the PostgreSQL check");
        return;
    };
    let (url, schema) = tixbridge_store::testing::fresh_schema(&base, "t_exec");
    let outcome = AssertUnwindSafe(async {
        let a = tixbridge_store::open_ticketing(&url).await.expect("open a");
        let b = tixbridge_store::open_ticketing(&url).await.expect("open b");
        check(a, b).await;
    })
    .catch_unwind()
    .await;
    tixbridge_store::testing::drop_schema(&base, &schema).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::on(false, |a, _| super::checks::$name(a)).await;
                }
            )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn starts_never_overlap() {
                super::on(false, super::checks::starts_never_overlap).await;
            }
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::on(true, |a, _| super::checks::$name(a)).await;
                }
            )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn starts_never_overlap() {
                super::on(true, super::checks::starts_never_overlap).await;
            }
        }

        /// Every check of the suite runs here: none is forgotten when one is added.
        #[test]
        fn every_check_is_run() {
            let mut run = vec![$(stringify!($name)),*];
            let mut all = checks::CHECKS.to_vec();
            run.sort_unstable();
            all.sort_unstable();
            assert_eq!(run, all);
        }
    };
}

conformance!(
    leases_refuse_overlap_and_recover_lapsed,
    lease_renewal_is_the_owners,
    execution_errors_page_in_order,
    interface_update,
    schedule_update_and_delete,
);
