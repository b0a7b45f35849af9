//! The wallet store's conformance suite on SQLite (always) and PostgreSQL (when
//! `TIXBRIDGE_TEST_PG` names a server; mandatory under `CI=true`). Each PostgreSQL run
//! gets a fresh random schema, dropped at the end even when a check fails.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use tixbridge_core::lifecycle::{Action, Caller, Op, Settings};
use tixbridge_core::status::WalletStatus;
use tixbridge_store::WalletStore;
use tixbridge_store::conformance::lifecycle::{self, Tamper};
use tixbridge_store::conformance::wallet::{self as conformance, SetStatus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wallet_conforms() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wallet.db");
    let store = tixbridge_store::sqlite::open_wallet(&path)
        .await
        .expect("open");
    conformance::run_all(store.clone()).await;

    let set: SetStatus = Arc::new(move |org, ticket, status: WalletStatus| {
        let path = path.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let conn = rusqlite::Connection::open(&path).expect("open");
                conn.busy_timeout(std::time::Duration::from_secs(10))
                    .expect("busy timeout");
                let n = conn
                    .execute(
                        "UPDATE wallet_tickets SET status = ?3 \
                         WHERE organizer_id = ?1 AND ticket_id = ?2",
                        rusqlite::params![org, ticket, status.as_str()],
                    )
                    .expect("update");
                assert_eq!(n, 1);
            })
            .await
            .expect("task");
        }
        .boxed()
    });
    conformance::check_states_set_outside_the_trait(store, set).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wallet_reopens_with_its_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wallet.db");
    let store = tixbridge_store::sqlite::open_wallet(&path)
        .await
        .expect("open");
    let org = store.create_organizer("A", "k1").await.expect("org");
    store
        .inject(
            org.id,
            vec![conformance::sample_ticket("T1", "E1", "a@example.org")],
            tixbridge_store::Actor::OrganizerApi,
            chrono::Utc::now(),
        )
        .await
        .expect("inject");
    drop(store);
    // Migrations already applied are skipped; the data is there.
    let store = tixbridge_store::sqlite::open_wallet(&path)
        .await
        .expect("reopen");
    assert!(store.ticket(org.id, "T1").await.expect("read").is_some());
    assert_eq!(conformance::assert_chain_valid(&store, org.id).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_lifecycle_conforms() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = tixbridge_store::sqlite::open_wallet(&dir.path().join("wallet.db"))
        .await
        .expect("open");
    lifecycle::run_all(&*store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_verify_detects_tampering() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wallet.db");
    let store = tixbridge_store::sqlite::open_wallet(&path)
        .await
        .expect("open");
    lifecycle::check_verify_detects_tampering(&*store, |t| sqlite_tamper(path.clone(), t)).await;
}

/// Alters the SQLite file directly, on a connection of its own.
async fn sqlite_tamper(path: std::path::PathBuf, t: Tamper) {
    tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .expect("busy timeout");
        let n = match &t {
            Tamper::LogToOwner {
                organizer_id,
                seq,
                to_owner,
            } => conn.execute(
                "UPDATE wallet_status_log SET to_owner = ?3 WHERE organizer_id = ?1 AND seq = ?2",
                rusqlite::params![organizer_id, seq, to_owner],
            ),
            Tamper::DeleteEntry { organizer_id, seq } => conn.execute(
                "DELETE FROM wallet_status_log WHERE organizer_id = ?1 AND seq = ?2",
                rusqlite::params![organizer_id, seq],
            ),
            Tamper::RowStatus {
                organizer_id,
                ticket_id,
                status,
            } => conn.execute(
                "UPDATE wallet_tickets SET status = ?3 WHERE organizer_id = ?1 AND ticket_id = ?2",
                rusqlite::params![organizer_id, ticket_id, status.as_str()],
            ),
        }
        .expect("tamper");
        assert_eq!(n, 1, "{t:?} changed one row");
    })
    .await
    .expect("task");
}

use tixbridge_store::testing::pg_test_url as pg_url;

/// Runs `body` against a store in a fresh schema and drops the schema afterwards,
/// whether `body` passed or panicked.
async fn with_pg_schema<F, Fut>(base: &str, body: F)
where
    F: FnOnce(Arc<dyn WalletStore>, sqlx::PgPool, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (schema_url, schema) = tixbridge_store::testing::fresh_schema(base, "t");
    let store = tixbridge_store::postgres::open_wallet(&schema_url)
        .await
        .expect("open PostgreSQL wallet store");
    let admin = sqlx::PgPool::connect(base).await.expect("admin connection");
    let outcome = tokio::spawn(body(store, admin.clone(), schema.clone())).await;
    admin.close().await;
    tixbridge_store::testing::drop_schema(base, &schema).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_wallet_conforms() {
    let Some(base) = pg_url() else { return };
    with_pg_schema(&base, |store, admin, schema| async move {
        conformance::run_all(store.clone()).await;
        let set: SetStatus = Arc::new(move |org, ticket, status: WalletStatus| {
            let admin = admin.clone();
            let schema = schema.clone();
            async move {
                let r = sqlx::query(&format!(
                    "UPDATE \"{schema}\".wallet_tickets SET status = $3 \
                     WHERE organizer_id = $1 AND ticket_id = $2"
                ))
                .bind(org)
                .bind(ticket)
                .bind(status.as_str())
                .execute(&admin)
                .await
                .expect("update");
                assert_eq!(r.rows_affected(), 1);
            }
            .boxed()
        });
        conformance::check_states_set_outside_the_trait(store, set).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lifecycle_conforms() {
    let Some(base) = pg_url() else { return };
    with_pg_schema(&base, |store, admin, schema| async move {
        lifecycle::run_all(&*store).await;
        lifecycle::check_verify_detects_tampering(&*store, |t| {
            pg_tamper(admin.clone(), schema.clone(), t)
        })
        .await;
    })
    .await;
}

/// Alters the PostgreSQL schema directly, on the admin connection.
async fn pg_tamper(admin: sqlx::PgPool, schema: String, t: Tamper) {
    let r =
        match &t {
            Tamper::LogToOwner {
                organizer_id,
                seq,
                to_owner,
            } => {
                sqlx::query(&format!(
                    "UPDATE \"{schema}\".wallet_status_log SET to_owner = $3 \
                 WHERE organizer_id = $1 AND seq = $2"
                ))
                .bind(organizer_id)
                .bind(seq)
                .bind(to_owner)
                .execute(&admin)
                .await
            }
            Tamper::DeleteEntry { organizer_id, seq } => sqlx::query(&format!(
                "DELETE FROM \"{schema}\".wallet_status_log WHERE organizer_id = $1 AND seq = $2"
            ))
            .bind(organizer_id)
            .bind(seq)
            .execute(&admin)
            .await,
            Tamper::RowStatus {
                organizer_id,
                ticket_id,
                status,
            } => {
                sqlx::query(&format!(
                    "UPDATE \"{schema}\".wallet_tickets SET status = $3 \
                 WHERE organizer_id = $1 AND ticket_id = $2"
                ))
                .bind(organizer_id)
                .bind(ticket_id)
                .bind(status.as_str())
                .execute(&admin)
                .await
            }
        }
        .expect("tamper");
    assert_eq!(r.rows_affected(), 1, "{t:?} changed one row");
}

/// A rough rate of the SQLite inject path: 50-ticket calls of realistic tickets, four
/// calls in flight. Run with
/// `cargo test --release -p tixbridge-store --test conformance_wallet -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check; run in release"]
async fn sqlite_inject_rate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = tixbridge_store::sqlite::open_wallet(&dir.path().join("w.db"))
        .await
        .expect("open");
    rate(store, 100_000).await;
}

/// The same measurement on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check; run in release"]
async fn postgres_inject_rate() {
    let Some(base) = pg_url() else { return };
    with_pg_schema(&base, |store, _, _| rate(store, 50_000)).await;
}

async fn rate(store: Arc<dyn WalletStore>, n: usize) {
    let org = store
        .create_organizer("bench", &hex::encode(rand::random::<[u8; 32]>()))
        .await
        .expect("org")
        .id;
    let calls: Vec<Vec<_>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(50)
        .map(|c| c.iter().map(|i| realistic_ticket(*i)).collect())
        .collect();
    let bytes = serde_json::to_vec(&calls[0][0]).expect("json").len();
    let in_flight = 4;
    let started = Instant::now();
    let queue = Arc::new(std::sync::Mutex::new(calls));
    let mut workers = Vec::new();
    for _ in 0..in_flight {
        let store = store.clone();
        let queue = queue.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().expect("queue").pop();
                let Some(batch) = next else { break };
                let res = store
                    .inject(
                        org,
                        batch,
                        tixbridge_store::Actor::OrganizerApi,
                        chrono::Utc::now(),
                    )
                    .await
                    .expect("inject");
                assert!(res.iter().all(|r| r.is_ok()));
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "injected {n} tickets of {bytes} bytes in 50-ticket calls, {in_flight} in flight: \
         {secs:.2} s, {:.0} tickets/s",
        n as f64 / secs
    );
    assert_eq!(conformance::assert_chain_valid(&store, org).await, n);
}

fn realistic_ticket(i: usize) -> tixbridge_core::api::Ticket {
    let mut t = conformance::sample_ticket(
        &format!("TCK-{i:09}"),
        &format!("EVT-{}", i / 20_000),
        &format!("spectator{i}@example.org"),
    );
    let json = serde_json::json!({
        "activationParameters": {"method": "online", "time": "2026-07-12T19:00:00+02:00",
                                 "groupId": "G1"},
        "ticketDetails": {
            "main": [{"key": "Gate", "value": "A"}, {"key": "Block", "value": "112"},
                     {"key": "Row", "value": "14"}, {"key": "Seat", "value": format!("{}", i % 40)}],
            "extra": [{"key": "Category", "value": "Category 1"},
                      {"key": "Price", "value": "120.00 EUR"}],
            "hidden": [{"key": "Internal", "value": format!("{i:012}")}]
        },
        "transferRules": {"allowTransfer": true, "maxNumberOfTransferPerTicketInGroupId": 2,
                          "allowTransferAfterActivation": false,
                          "allowTransferAfterControl": false,
                          "allowTransferMainApplicant": true},
        "sortingKey": format!("{i:012}")
    });
    let extra: tixbridge_core::api::Ticket = serde_json::from_value(json).expect("ticket");
    t.activation_parameters = extra.activation_parameters;
    t.ticket_details = extra.ticket_details;
    t.transfer_rules = extra.transfer_rules;
    t.sorting_key = extra.sorting_key;
    if let Some(ev) = t.event.as_mut() {
        ev.name = Some("Final — Stade de France vs. Somewhere United".into());
    }
    if let Some(pd) = t.purchase_details.as_mut() {
        pd.price = Some(120.0);
        pd.currency = Some("EUR".into());
        pd.category = Some("Category 1".into());
        pd.purchase_date = Some("2026-05-01T10:00:00+02:00".into());
    }
    t
}

/// The rate of the SQLite change feed: injects `TIXBRIDGE_DIFF_N` (default 200,000)
/// realistic tickets, downloads one in ten (a second history entry), then reads the
/// whole feed from the start in 10,000-ticket pages, alone and with the JSON of each
/// page as the HTTP answer would carry it. `TIXBRIDGE_DIFF_DB=PATH` keeps the database
/// there and reuses it on the next run (to profile the feed alone). Run with
/// `cargo test --release -p tixbridge-store --test conformance_wallet sqlite_diff_rate -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check; run in release"]
async fn sqlite_diff_rate() {
    let n: usize = std::env::var("TIXBRIDGE_DIFF_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = std::env::var("TIXBRIDGE_DIFF_DB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("w.db"));
    let reuse = path.exists();
    let store = tixbridge_store::sqlite::open_wallet(&path)
        .await
        .expect("open");
    let org = if reuse {
        store.organizers().await.expect("organizers")[0].id
    } else {
        diff_bench_setup(&store, n).await
    };
    let counts = store.count_by_status(org).await.expect("counts");
    let n: usize = counts.iter().map(|(_, c)| *c as usize).sum();
    let changed: usize = counts
        .iter()
        .filter(|(s, _)| *s != WalletStatus::Injected)
        .map(|(_, c)| *c as usize)
        .sum();
    for with_json in [false, true, false, true] {
        let started = Instant::now();
        let cpu_started = process_cpu_seconds();
        let (mut key, mut states, mut entries, mut bytes) = (0i64, 0usize, 0usize, 0usize);
        loop {
            let page = store.diff(org, key, 10_000).await.expect("diff");
            let Some(last) = page.last() else { break };
            key = last.history.last().expect("the last change").seq;
            states += page.len();
            entries += page.iter().map(|s| s.history.len()).sum::<usize>();
            if with_json {
                bytes += serde_json::to_vec(&page).expect("json").len();
            }
        }
        let secs = started.elapsed().as_secs_f64();
        let cpu = process_cpu_seconds().zip(cpu_started).map(|(b, a)| b - a);
        assert_eq!(states, n, "every ticket once");
        // A ticket changed again after later tickets comes once, late, with only the
        // entries after the key it comes at: its injection is not repeated.
        assert!(entries >= n && entries <= n + changed, "{entries} entries");
        println!(
            "diff{}: {states} ticket states ({entries} entries{}) in 10,000-ticket pages: \
             {secs:.2} s, {:.0} states/s{}",
            if with_json { " + JSON" } else { "" },
            if with_json {
                format!(", {} MB of JSON", bytes / 1_000_000)
            } else {
                String::new()
            },
            states as f64 / secs,
            cpu.map(|c| format!(
                "; {c:.2} CPU s, {:.0} states per CPU second",
                states as f64 / c
            ))
            .unwrap_or_default()
        );
    }
}

/// Injects `n` realistic tickets and downloads one in ten; answers the organizer.
async fn diff_bench_setup(store: &Arc<dyn WalletStore>, n: usize) -> i64 {
    let org = store
        .create_organizer("bench", &hex::encode(rand::random::<[u8; 32]>()))
        .await
        .expect("org")
        .id;
    let started = Instant::now();
    for start in (0..n).step_by(1000) {
        let batch = (start..(start + 1000).min(n))
            .map(realistic_ticket)
            .collect();
        let res = store
            .inject(
                org,
                batch,
                tixbridge_store::Actor::OrganizerApi,
                chrono::Utc::now(),
            )
            .await
            .expect("inject");
        assert!(res.iter().all(|r| r.is_ok()));
    }
    let downloads: Vec<Op> = (0..n)
        .step_by(10)
        .map(|i| Op {
            ticket_id: format!("TCK-{i:09}"),
            caller: Caller::Spectator(format!("spectator{i}@example.org")),
            action: Action::Download,
        })
        .collect();
    for batch in downloads.chunks(1000) {
        let res = store
            .apply(org, batch.to_vec(), chrono::Utc::now(), Settings::default())
            .await
            .expect("apply");
        assert!(res.iter().all(|r| r.is_ok()));
    }
    println!(
        "set up {n} tickets, {} downloaded, in {:.1} s",
        downloads.len(),
        started.elapsed().as_secs_f64()
    );
    org
}

/// CPU time used by this process so far (user + system), where Linux tells it: a
/// measure that other work on a shared machine does not disturb as it does wall time.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at state (3rd).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
