//! Runs the ticketing conformance suite on SQLite (always) and on PostgreSQL when
//! `TIXBRIDGE_TEST_PG` names a database (e.g. `postgres://postgres@127.0.0.1:5432/test`).
//! Under `CI=true` a missing `TIXBRIDGE_TEST_PG` fails the PostgreSQL tests instead of
//! skipping them, so CI cannot silently test one backend only.
//!
//! Each PostgreSQL test works in a fresh schema `t_<random>` and drops it at the end,
//! even when the check fails.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tixbridge_store::TicketingStore;
use tixbridge_store::conformance::ticketing as checks;

async fn sqlite_store() -> (tempfile::TempDir, Arc<dyn TicketingStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = tixbridge_store::sqlite::open_ticketing(&dir.path().join("ticketing.db"))
        .await
        .expect("open SQLite ticketing store");
    (dir, store)
}

use tixbridge_store::testing::pg_test_url as pg_url;

/// Runs `check` on a PostgreSQL store in a fresh schema, then drops the schema.
async fn on_postgres<F, Fut>(check: F)
where
    F: FnOnce(Arc<dyn TicketingStore>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(url) = pg_url() else {
        eprintln!("TIXBRIDGE_TEST_PG is not set: skipping the PostgreSQL check");
        return;
    };
    let (schema_url, schema) = tixbridge_store::testing::fresh_schema(&url, "t");
    let outcome = AssertUnwindSafe(async {
        let store = tixbridge_store::postgres::open_ticketing(&schema_url)
            .await
            .expect("open PostgreSQL ticketing store");
        check(store).await;
    })
    .catch_unwind()
    .await;
    tixbridge_store::testing::drop_schema(&url, &schema).await;
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
                    let (_dir, store) = super::sqlite_store().await;
                    super::checks::$name(store).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::on_postgres(super::checks::$name).await;
                }
            )*
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
    organizations,
    import_commit_makes_rows_visible,
    import_drop_rolls_back,
    import_conflicts,
    import_barcodes_are_never_reused,
    time_zones,
    catalog_entries,
    contacts_are_upserted,
    injection_filters,
    injection_file_number_is_exclusive,
    injection_order_and_keyset,
    injection_force,
    injection_exclusions,
    injection_reprint,
    mark_injected,
    interfaces,
    schedules,
    executions,
    projections,
    count_by_status,
    corrections_refuse_what_needs_an_operation,
    corrections_resend_changed_injected_tickets,
    causes_default_and_added,
    operations_change_status_and_record_history,
    operations_refused_change_nothing,
    reprint_replaces_the_ticket_once,
    gate_scans_control_tickets,
    resale_posts_sells_and_withdraws,
);

// ---- rates -------------------------------------------------------------------------

/// Imports `PERF_TICKETS` tickets (default 200,000), marks the first half injected by
/// batches of 50 (one call in flight), times pages of 1,000 candidates over the
/// half-printed backlog, then marks the second half with 4 calls in flight.
/// `cargo test --release -p tixbridge-store --test conformance_ticketing perf -- --ignored --nocapture --test-threads=1`
async fn perf(store: Arc<dyn TicketingStore>, label: &str) {
    use std::time::Instant;
    use tixbridge_core::model::InjectionFilters;
    use tixbridge_store::{InjectedMark, InjectionQuery, LaunchMode, NewInterface, NewSchedule};

    let n: i64 = std::env::var("PERF_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let org = store
        .ensure_organization("PERF", "Perf", "en")
        .await
        .unwrap();
    let rows = |from: i64| -> Vec<tixbridge_store::ImportRow> {
        (from..(from + 1000).min(n + 1))
            .map(|i| {
                let mut r = checks::sample_row(i);
                r.performance.as_mut().unwrap().code = format!("M{}", i % 64);
                r.contact.number = format!("C{}", i / 3);
                r.file_id = Some(format!("F{}", i / 4));
                r
            })
            .collect()
    };

    // Rows are built while the store writes the previous chunk, as the CSV import does.
    let t0 = Instant::now();
    let mut session = store.begin_import(org.id).await.unwrap();
    let mut next = rows(1);
    let mut from = 1;
    while !next.is_empty() {
        from += next.len() as i64;
        let (added, following) = futures::join!(session.add(next), async { rows(from) });
        added.unwrap();
        next = following;
    }
    session.commit().await.unwrap();
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "[{label}] import session: {n} tickets in {secs:.2} s = {:.0}/s",
        n as f64 / secs
    );

    let iface = store
        .create_interface(NewInterface {
            organization_id: org.id,
            name: "perf".into(),
            kind: tixbridge_core::model::InterfaceKind::Tixngo,
            url: "http://127.0.0.1/organizer/tickets".into(),
            login: "a@b.c".into(),
            api_key: "k".to_string().into(),
            notification_emails: vec![],
            custom_params: String::new(),
        })
        .await
        .unwrap();
    let sched = store
        .create_schedule(NewSchedule {
            interface_id: iface.id,
            name: "perf-inject".into(),
            function: tixbridge_core::model::FunctionKind::Injection,
            launch_mode: LaunchMode::Manual,
            frequency_secs: None,
            starts_at: None,
            ends_at: None,
            batch_size: 1000,
            params: serde_json::json!({}),
        })
        .await
        .unwrap();
    let mark = |range: std::ops::Range<i64>| {
        let store = store.clone();
        async move {
            let ids: Vec<i64> = range.collect();
            for batch in ids.chunks(50) {
                let marks = batch
                    .iter()
                    .map(|&ticket_id| InjectedMark {
                        ticket_id,
                        recipient: tixbridge_core::api::Person {
                            email: Some(format!("c{ticket_id}@example.org")),
                            first_name: Some("Ada".into()),
                            last_name: Some("Lovelace".into()),
                            ..Default::default()
                        },
                    })
                    .collect();
                store
                    .mark_injected(
                        tixbridge_store::MarkedBy::schedule(sched.id),
                        "WEB;POS1",
                        chrono::Utc::now(),
                        marks,
                    )
                    .await
                    .unwrap();
            }
        }
    };
    let half = n / 2 + 1;
    let t = Instant::now();
    mark(1..half).await;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "[{label}] mark_injected, 50 per call, 1 in flight: {:.0}/s",
        (half - 1) as f64 / secs
    );

    let page = |q: InjectionQuery| {
        let store = store.clone();
        async move {
            let mut best = f64::MAX;
            let mut len = 0;
            for _ in 0..5 {
                let t = Instant::now();
                len = store.injection_candidates(org.id, &q).await.unwrap().len();
                best = best.min(t.elapsed().as_secs_f64() * 1000.0);
            }
            (len, best)
        }
    };
    let (len, ms) = page(InjectionQuery {
        limit: 1000,
        ..Default::default()
    })
    .await;
    println!(
        "[{label}] page of {len} candidates, half the tickets printed, no filter: {ms:.1} ms (best of 5)"
    );
    let (len, ms) = page(InjectionQuery {
        limit: 1000,
        filters: InjectionFilters {
            performance: Some("M7".into()),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    println!("[{label}] page of {len} candidates, one performance of 64: {ms:.1} ms");
    let (len, ms) = page(InjectionQuery {
        limit: 1000,
        filters: InjectionFilters {
            tariff: Some("FULL".into()),
            category: Some("CAT1".into()),
            sales_channel: Some("WEB".into()),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    println!("[{label}] page of {len} candidates, three filters matching all: {ms:.1} ms");
    let (len, ms) = page(InjectionQuery {
        limit: 1000,
        filters: InjectionFilters {
            file_number: Some(format!("F{}", n * 3 / 16)),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    println!("[{label}] file-number page ({len} tickets): {ms:.1} ms");

    let t = Instant::now();
    let quarter = (n + 1 - half) / 4;
    futures::future::join_all((0..4).map(|k| {
        let end = if k == 3 {
            n + 1
        } else {
            half + (k + 1) * quarter
        };
        mark(half + k * quarter..end)
    }))
    .await;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "[{label}] mark_injected, 50 per call, 4 in flight: {:.0}/s",
        (n + 1 - half) as f64 / secs
    );
    let counts = store.count_by_status(org.id).await.unwrap();
    assert_eq!(
        counts,
        vec![(tixbridge_core::status::TicketingStatus::Printed, n as u64)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a rate measurement; run in release"]
async fn perf_sqlite() {
    let (_dir, store) = sqlite_store().await;
    perf(store, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a rate measurement; run in release"]
async fn perf_postgres() {
    on_postgres(|store| async move { perf(store, "postgres").await }).await;
}
