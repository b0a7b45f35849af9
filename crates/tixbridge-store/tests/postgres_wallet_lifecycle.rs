//! PostgreSQL-specific checks of the wallet store's lifecycle half, beyond the shared
//! conformance suite (`conformance_wallet.rs`): the migration of a database made before
//! it (backfilled `owner_email`), the byte order of ticket ids whatever the collation,
//! a tampered `owner_email` that `verify` must catch, sweeper-sized batches, and
//! (ignored) the rate of the change feed. Each test runs in a fresh schema, dropped at
//! the end; they are skipped without `TIXBRIDGE_TEST_PG`.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tixbridge_core::lifecycle::{Action, Caller, Op, Settings};
use tixbridge_store::conformance::wallet::sample_ticket;
use tixbridge_store::testing::{drop_schema, fresh_schema, pg_test_url};
use tixbridge_store::{Actor, WalletStore};

/// Runs `body` with a fresh schema's URL and an admin pool whose search path is that
/// schema; drops the schema afterwards, whether `body` passed or panicked.
async fn with_schema<F, Fut>(body: F)
where
    F: FnOnce(String, sqlx::PgPool) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(base) = pg_test_url() else { return };
    let (url, schema) = fresh_schema(&base, "lc");
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(
            base.parse::<sqlx::postgres::PgConnectOptions>()
                .expect("url")
                .options([("search_path", schema.as_str())]),
        )
        .await
        .expect("admin connection");
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
        .execute(&admin)
        .await
        .expect("schema");
    let outcome = tokio::spawn(body(url, admin.clone())).await;
    admin.close().await;
    drop_schema(&base, &schema).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

fn t(sec: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0)
        .single()
        .expect("valid time")
        + Duration::seconds(sec)
}

fn settings() -> Settings {
    Settings {
        transfer_timeout: Duration::hours(1),
        deletion_delay: Duration::seconds(0),
    }
}

fn op(id: &str, caller: Caller, action: Action) -> Op {
    Op {
        ticket_id: id.into(),
        caller,
        action,
    }
}

async fn organizer(store: &dyn WalletStore) -> i64 {
    store
        .create_organizer("pg", &hex::encode(rand::random::<[u8; 32]>()))
        .await
        .expect("organizer")
        .id
}

/// A database made before the lifecycle migration: the migration backfills the
/// lower-cased owner email, so the app finds the tickets injected before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_backfills_owner_emails() {
    with_schema(|url, admin| async move {
        // wallet-0001 as it landed, with one ticket in it.
        sqlx::raw_sql(
            "CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, \
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
             INSERT INTO schema_migrations (version) VALUES ('wallet-0001-initial');
             CREATE TABLE wallet_organizers (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL,
                 api_key_sha256 TEXT NOT NULL UNIQUE, created_at TIMESTAMPTZ NOT NULL,
                 last_seq BIGINT NOT NULL DEFAULT 0, last_hash TEXT NOT NULL);
             CREATE TABLE wallet_events (organizer_id BIGINT NOT NULL REFERENCES wallet_organizers (id),
                 event_id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (organizer_id, event_id));
             CREATE TABLE wallet_tickets (organizer_id BIGINT NOT NULL REFERENCES wallet_organizers (id),
                 ticket_id TEXT NOT NULL, event_id TEXT NOT NULL, tax_number TEXT, barcode TEXT,
                 status TEXT NOT NULL, content TEXT NOT NULL, content_hash TEXT NOT NULL,
                 owner JSONB, initial_owner JSONB, previous_owner JSONB, holder JSONB,
                 transfer_level BIGINT NOT NULL DEFAULT 0, deletion JSONB,
                 status_changed_at TEXT NOT NULL, change_seq BIGINT NOT NULL,
                 log_seqs TEXT NOT NULL, PRIMARY KEY (organizer_id, ticket_id));
             CREATE INDEX wallet_tickets_change ON wallet_tickets (organizer_id, change_seq);
             CREATE INDEX wallet_tickets_event ON wallet_tickets (organizer_id, event_id, status);
             CREATE TABLE wallet_status_log (organizer_id BIGINT NOT NULL, seq BIGINT NOT NULL,
                 at TEXT NOT NULL, ticket_id TEXT NOT NULL, action TEXT NOT NULL,
                 from_status TEXT, to_status TEXT NOT NULL, from_owner TEXT, to_owner TEXT,
                 actor TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
                 PRIMARY KEY (organizer_id, seq));",
        )
        .execute(&admin)
        .await
        .expect("old schema");
        // The rows as the old code wrote them: one ticket, one chained entry.
        let ticket = sample_ticket("OLD1", "E1", "Old.Owner@Example.org");
        let (content, content_hash) = tixbridge_core::ledger::content_of(&ticket);
        let owner = serde_json::to_string(&ticket.spectator_details).expect("json");
        let at = tixbridge_core::ledger::format_at(t(0));
        let fields = tixbridge_core::hash::ChainedFields {
            seq: 1,
            at: &at,
            ticket_id: "OLD1",
            action: "INJECT",
            from_status: None,
            to_status: "INJECTED",
            from_owner: None,
            to_owner: Some("Old.Owner@Example.org"),
            actor: "ORGANIZER_API",
            detail: None,
        };
        let hash =
            tixbridge_core::hash::entry_hash(tixbridge_core::hash::GENESIS_HASH, &fields);
        let org: i64 = sqlx::query_scalar(
            "INSERT INTO wallet_organizers (name, api_key_sha256, created_at, last_seq, last_hash) \
             VALUES ('old', 'k-old', now(), 1, $1) RETURNING id",
        )
        .bind(&hash)
        .fetch_one(&admin)
        .await
        .expect("organizer");
        sqlx::query(
            "INSERT INTO wallet_tickets (organizer_id, ticket_id, event_id, status, content, \
             content_hash, owner, initial_owner, status_changed_at, change_seq, log_seqs) \
             VALUES ($1, 'OLD1', 'E1', 'INJECTED', $2, $3, $4::jsonb, $4::jsonb, $5, 1, '1')",
        )
        .bind(org)
        .bind(&content)
        .bind(&content_hash)
        .bind(&owner)
        .bind(&at)
        .execute(&admin)
        .await
        .expect("ticket");
        sqlx::query(
            "INSERT INTO wallet_status_log (organizer_id, seq, at, ticket_id, action, \
             from_status, to_status, from_owner, to_owner, actor, prev_hash, hash) \
             VALUES ($1, 1, $2, 'OLD1', 'INJECT', NULL, 'INJECTED', NULL, \
             'Old.Owner@Example.org', 'ORGANIZER_API', $3, $4)",
        )
        .bind(org)
        .bind(&at)
        .bind(tixbridge_core::hash::GENESIS_HASH)
        .bind(&hash)
        .execute(&admin)
        .await
        .expect("entry");

        let store = tixbridge_store::postgres::open_wallet(&url)
            .await
            .expect("migrate");
        let app = store
            .app_tickets(org, "old.owner@example.org")
            .await
            .expect("app");
        assert_eq!(app.tickets.len(), 1, "{app:?}");
        assert_eq!(app.tickets[0].ticket_id, "OLD1");
        let v = store.verify(org).await.expect("verify");
        assert!(v.valid, "{v:?}");
        // The old ticket goes on through the lifecycle.
        let res = store
            .apply(
                org,
                vec![op(
                    "OLD1",
                    Caller::Spectator("OLD.owner@example.org".into()),
                    Action::Download,
                )],
                t(1),
                settings(),
            )
            .await
            .expect("apply");
        assert_eq!(res[0].as_ref().expect("downloaded").status, "DOWNLOADED");
        assert!(store.verify(org).await.expect("verify").valid);
        // Reopening applies nothing twice.
        drop(store);
        let store = tixbridge_store::postgres::open_wallet(&url)
            .await
            .expect("reopen");
        assert_eq!(store.diff(org, 0, 10).await.expect("diff")[0].history.len(), 2);
    })
    .await;
}

/// Ticket ids page in byte order (as on SQLite) whatever the database's collation,
/// and `verify` pages through more tickets than one page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_ids_page_in_byte_order() {
    with_schema(|url, _admin| async move {
        let store = tixbridge_store::postgres::open_wallet(&url)
            .await
            .expect("open");
        let org = organizer(store.as_ref()).await;
        let ids = ["b", "B", "a-1", "a 2", "A", "_x", "(y)", "a+", "Z9", "z.1"];
        let res = store
            .inject(
                org,
                ids.iter()
                    .map(|id| sample_ticket(id, "E1", "a@example.org"))
                    .collect(),
                Actor::OrganizerApi,
                t(0),
            )
            .await
            .expect("inject");
        assert!(res.iter().all(|r| r.is_ok()));
        let mut sorted: Vec<&str> = ids.to_vec();
        sorted.sort_unstable();
        let mut paged = Vec::new();
        let mut after = String::new();
        loop {
            let page = store.ticket_heads(org, &after, 3).await.expect("heads");
            let Some(last) = page.last() else { break };
            after.clone_from(&last.ticket_id);
            paged.extend(page.into_iter().map(|h| h.ticket_id));
        }
        assert_eq!(paged, sorted);
        let app = store.app_tickets(org, "a@example.org").await.expect("app");
        assert_eq!(
            app.tickets
                .iter()
                .map(|s| s.ticket_id.as_str())
                .collect::<Vec<_>>(),
            sorted
        );
        assert!(store.verify(org).await.expect("verify").valid);
    })
    .await;
}

/// The owner's email column is what the app finds tickets by: changing it behind the
/// log's back is caught as well as a changed owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_catches_a_moved_owner_email() {
    with_schema(|url, admin| async move {
        let store = tixbridge_store::postgres::open_wallet(&url)
            .await
            .expect("open");
        let org = organizer(store.as_ref()).await;
        store
            .inject(
                org,
                vec![
                    sample_ticket("M1", "E1", "a@example.org"),
                    sample_ticket("M2", "E1", "a@example.org"),
                ],
                Actor::OrganizerApi,
                t(0),
            )
            .await
            .expect("inject");
        assert!(store.verify(org).await.expect("verify").valid);
        sqlx::query(
            "UPDATE wallet_tickets SET owner_email = 'mallory@example.org' \
             WHERE organizer_id = $1 AND ticket_id = 'M2'",
        )
        .bind(org)
        .execute(&admin)
        .await
        .expect("tamper");
        let v = store.verify(org).await.expect("verify");
        assert!(!v.valid);
        assert_eq!(v.ticket_id.as_deref(), Some("M2"));
        assert!(
            v.message.as_deref().unwrap_or("").contains("mallory"),
            "{v:?}"
        );
    })
    .await;
}

/// Batches as large as the sweeper sends, with several ops per ticket: one statement
/// per table, and the rows, entries and head agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_batches_write_once_per_table() {
    with_schema(|url, _admin| async move {
        let store = tixbridge_store::postgres::open_wallet(&url)
            .await
            .expect("open");
        let org = organizer(store.as_ref()).await;
        let n = 250;
        for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
            let res = store
                .inject(
                    org,
                    chunk
                        .iter()
                        .map(|i| sample_ticket(&format!("L{i:04}"), "E1", &format!("u{i}@x.org")))
                        .collect(),
                    Actor::OrganizerApi,
                    t(0),
                )
                .await
                .expect("inject");
            assert!(res.iter().all(|r| r.is_ok()));
        }
        // 500 ops: download and delete each of 250 tickets in one call.
        let mut ops = Vec::new();
        for i in 0..n {
            let id = format!("L{i:04}");
            ops.push(op(
                &id,
                Caller::Spectator(format!("U{i}@X.org")),
                Action::Download,
            ));
            ops.push(op(
                &id,
                Caller::Organizer,
                Action::Delete {
                    reason: "RESALE".into(),
                    show_deleted_ticket: i % 2 == 0,
                },
            ));
        }
        let res = store
            .apply(org, ops, t(1), settings())
            .await
            .expect("apply");
        assert_eq!(res.len(), 500);
        assert!(
            res.iter().all(|r| r.is_ok()),
            "{:?}",
            res.iter().find(|r| r.is_err())
        );
        let due: Vec<_> = store
            .due(t(1), 1000)
            .await
            .expect("due")
            .into_iter()
            .filter(|d| d.organizer_id == org)
            .collect();
        assert_eq!(due.len(), n);
        let ops = due
            .iter()
            .map(|d| op(&d.ticket_id, Caller::System, Action::ConfirmDeletion))
            .collect();
        let res = store
            .apply(org, ops, t(2), settings())
            .await
            .expect("confirm");
        assert!(res.iter().all(|r| r.is_ok()));
        assert!(
            store
                .due(t(100), 1000)
                .await
                .expect("due")
                .iter()
                .all(|d| d.organizer_id != org)
        );
        let page = store.diff(org, n as i64, 10_000).await.expect("diff");
        assert_eq!(page.len(), n);
        for s in &page {
            assert_eq!(s.status, "DELETED");
            let actions: Vec<_> = s.history.iter().map(|e| e.action.as_str()).collect();
            assert_eq!(actions, ["DOWNLOAD", "DELETE", "CONFIRM_DELETION"]);
            assert_eq!(s.history[1].detail.as_deref(), Some("reason=RESALE"));
        }
        let app = store.app_tickets(org, "u0@x.org").await.expect("app");
        assert_eq!(app.deleted_tickets.len(), 1);
        let app = store.app_tickets(org, "u1@x.org").await.expect("app");
        assert!(app.deleted_tickets.is_empty() && app.tickets.is_empty());
        let v = store.verify(org).await.expect("verify");
        assert!(v.valid, "{v:?}");
        assert_eq!(v.entries, n as i64 * 4);
    })
    .await;
}

/// The change feed's rate: `TIXBRIDGE_DIFF_N` tickets (default 200,000), each
/// injected then downloaded (two entries), read back in pages of 10,000. Run with
/// `cargo test --release -p tixbridge-store --test postgres_wallet_lifecycle postgres_diff_rate -- --exact --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check; run in release"]
async fn postgres_diff_rate() {
    with_schema(|url, _admin| async move {
        let n: usize = std::env::var("TIXBRIDGE_DIFF_N")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(200_000);
        let store: Arc<dyn WalletStore> = tixbridge_store::postgres::open_wallet(&url)
            .await
            .expect("open");
        let org = organizer(store.as_ref()).await;
        let email = |i: usize| format!("spectator{i}@example.org");

        let started = Instant::now();
        let queue = Arc::new(std::sync::Mutex::new(
            (0..n).collect::<Vec<_>>().chunks(50).map(<[usize]>::to_vec).collect::<Vec<_>>(),
        ));
        let mut workers = Vec::new();
        for _ in 0..4 {
            let (store, queue) = (store.clone(), queue.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    let next = queue.lock().expect("queue").pop();
                    let Some(batch) = next else { break };
                    let tickets = batch
                        .iter()
                        .map(|i| {
                            let mut t = sample_ticket(
                                &format!("TCK-{i:09}"),
                                &format!("EVT-{}", i / 20_000),
                                &email(*i),
                            );
                            t.sorting_key = Some(format!("{i:012}"));
                            t
                        })
                        .collect();
                    let res = store
                        .inject(org, tickets, Actor::OrganizerApi, t(0))
                        .await
                        .expect("inject");
                    assert!(res.iter().all(|r| r.is_ok()));
                }
            }));
        }
        for w in workers {
            w.await.expect("worker");
        }
        let inject_secs = started.elapsed().as_secs_f64();

        // Downloads in 500-op batches (the sweeper's size), one call at a time: the
        // organizer's lock serialises them anyway.
        let started = Instant::now();
        for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
            let ops = chunk
                .iter()
                .map(|i| {
                    op(
                        &format!("TCK-{i:09}"),
                        Caller::Spectator(email(*i)),
                        Action::Download,
                    )
                })
                .collect();
            let res = store.apply(org, ops, t(1), settings()).await.expect("apply");
            assert!(res.iter().all(|r| r.is_ok()));
        }
        let apply_secs = started.elapsed().as_secs_f64();
        sqlx::query("ANALYZE")
            .execute(&_admin)
            .await
            .expect("analyze");

        for round in 0..2 {
            let started = Instant::now();
            let (mut key, mut states, mut entries) = (0, 0, 0);
            loop {
                let page = store.diff(org, key, 10_000).await.expect("diff");
                if page.is_empty() {
                    break;
                }
                states += page.len();
                entries += page.iter().map(|s| s.history.len()).sum::<usize>();
                key = page
                    .iter()
                    .flat_map(|s| s.history.iter().map(|e| e.seq))
                    .max()
                    .expect("history");
            }
            let secs = started.elapsed().as_secs_f64();
            assert_eq!(states, n);
            // The first page carries both entries of its tickets; later pages only
            // the downloads after their key.
            assert!(entries > n && entries <= 2 * n);
            println!(
                "diff round {round}: {states} ticket states ({entries} entries) in pages of 10,000: \
                 {secs:.2} s, {:.0} states/s",
                states as f64 / secs
            );
        }
        println!(
            "setup: inject {n} in {inject_secs:.1} s ({:.0}/s, 4 in flight); \
             apply {n} downloads in 500-op calls in {apply_secs:.1} s ({:.0}/s)",
            n as f64 / inject_secs,
            n as f64 / apply_secs
        );
        let started = Instant::now();
        let v = store.verify(org).await.expect("verify");
        assert!(v.valid, "{v:?}");
        println!(
            "verify {} entries and {n} tickets: {:.2} s",
            v.entries,
            started.elapsed().as_secs_f64()
        );
    })
    .await;
}

/// The change feed's rate at 1,000,000 tickets (`TIXBRIDGE_DIFF_N`), rows made
/// directly in SQL (an injection and a download entry per ticket, hashes not chained:
/// no `verify`), read in pages of 10,000 from the start and from after the injections.
/// Run with `cargo test --release -p tixbridge-store --test postgres_wallet_lifecycle
/// postgres_diff_rate_1m -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check; run in release"]
async fn postgres_diff_rate_1m() {
    with_schema(|url, admin| async move {
        let n: i64 = std::env::var("TIXBRIDGE_DIFF_N")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        let store = tixbridge_store::postgres::open_wallet(&url)
            .await
            .expect("open");
        let org = organizer(store.as_ref()).await;
        let started = Instant::now();
        sqlx::query(
            "INSERT INTO wallet_tickets (organizer_id, ticket_id, event_id, tax_number, barcode, \
             status, content, content_hash, owner, initial_owner, owner_email, transfer_level, \
             status_changed_at, change_seq, log_seqs) \
             SELECT $1, 'TCK-' || lpad(i::text, 9, '0'), 'EVT-' || (i / 20000), 'TAX-' || i, \
             'BC-' || i, 'DOWNLOADED', '{\"ticketId\":\"TCK-' || i || '\",\"pad\":\"' || \
             repeat('x', 900) || '\"}', md5(i::text) || md5(i::text), \
             jsonb_build_object('email', 'spectator' || i || '@example.org', 'firstName', 'Ada'), \
             jsonb_build_object('email', 'spectator' || i || '@example.org', 'firstName', 'Ada'), \
             'spectator' || i || '@example.org', 0, '2026-06-01T12:00:01.000Z', $2 + i, \
             i || ',' || ($2 + i) FROM generate_series(1, $2) AS i",
        )
        .bind(org)
        .bind(n)
        .execute(&admin)
        .await
        .expect("tickets");
        sqlx::query(
            "INSERT INTO wallet_status_log (organizer_id, seq, at, ticket_id, action, \
             from_status, to_status, from_owner, to_owner, actor, prev_hash, hash) \
             SELECT $1, s, '2026-06-01T12:00:00.000Z', 'TCK-' || lpad(k::text, 9, '0'), \
             CASE WHEN s > $2 THEN 'DOWNLOAD' ELSE 'INJECT' END, \
             CASE WHEN s > $2 THEN 'INJECTED' END, \
             CASE WHEN s > $2 THEN 'DOWNLOADED' ELSE 'INJECTED' END, \
             CASE WHEN s > $2 THEN 'spectator' || k || '@example.org' END, \
             'spectator' || k || '@example.org', 'APP', md5(s::text) || md5((s + 1)::text), \
             md5((s + 2)::text) || md5((s + 3)::text) \
             FROM generate_series(1, 2 * $2) AS s, \
             LATERAL (SELECT CASE WHEN s > $2 THEN s - $2 ELSE s END AS k) AS k",
        )
        .bind(org)
        .bind(n)
        .execute(&admin)
        .await
        .expect("entries");
        for table in ["wallet_tickets", "wallet_status_log"] {
            sqlx::raw_sql(&format!("VACUUM ANALYZE {table}"))
                .execute(&admin)
                .await
                .expect("vacuum");
        }
        println!(
            "{n} tickets and {} entries made in SQL in {:.1} s",
            2 * n,
            started.elapsed().as_secs_f64()
        );
        for from in [0, n] {
            let started = Instant::now();
            let (mut key, mut states, mut entries, mut slowest) = (from, 0, 0, 0f64);
            loop {
                let t0 = Instant::now();
                let page = store.diff(org, key, 10_000).await.expect("diff");
                slowest = slowest.max(t0.elapsed().as_secs_f64());
                if page.is_empty() {
                    break;
                }
                states += page.len();
                entries += page.iter().map(|s| s.history.len()).sum::<usize>();
                key = page
                    .iter()
                    .flat_map(|s| s.history.iter().map(|e| e.seq))
                    .max()
                    .expect("history");
            }
            let secs = started.elapsed().as_secs_f64();
            assert_eq!(states as i64, n);
            println!(
                "diff after {from}: {states} ticket states ({entries} entries) in pages of \
                 10,000: {secs:.2} s, {:.0} states/s, slowest page {:.0} ms",
                states as f64 / secs,
                slowest * 1000.0
            );
        }
    })
    .await;
}
