//! The SQLite store's files: a backup taken while a writer writes is a consistent
//! store, and a clean shutdown leaves every commit in the main file.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chrono::Utc;
use tixbridge_store::conformance::wallet::sample_ticket;
use tixbridge_store::{Actor, WalletStore};

async fn wallet(path: &std::path::Path) -> Arc<dyn WalletStore> {
    tixbridge_store::open_wallet(&format!("sqlite:{}", path.display()))
        .await
        .unwrap()
}

async fn inject_batch(store: &dyn WalletStore, org: i64, batch: usize) {
    let tickets = (0..20)
        .map(|i| sample_ticket(&format!("T{batch}-{i}"), "E1", "a@example.org"))
        .collect();
    let r = store
        .inject(org, tickets, Actor::OrganizerApi, Utc::now())
        .await
        .unwrap();
    assert!(r.iter().all(|r| r.is_ok()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_a_writer_writes_is_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let store = wallet(&dir.path().join("wallet.db")).await;
    let org = store.create_organizer("org", "hash").await.unwrap().id;
    for b in 0..5 {
        inject_batch(&*store, org, b).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    // `started` counts batches begun, `committed` batches whose transaction ended: a
    // batch is in flight between the two.
    let started = Arc::new(AtomicUsize::new(5));
    let committed = Arc::new(AtomicUsize::new(5));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        let (started, committed) = (started.clone(), committed.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let b = started.fetch_add(1, Ordering::Relaxed);
                inject_batch(&*store, org, b).await;
                committed.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Let the writer run, then copy while it goes on.
    while committed.load(Ordering::Relaxed) < 15 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let before = committed.load(Ordering::Relaxed);
    let copy = dir.path().join("backup.db");
    tixbridge_store::backup(
        &format!("sqlite:{}", dir.path().join("wallet.db").display()),
        &copy,
    )
    .await
    .unwrap();
    let during = started.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    assert!(
        committed.load(Ordering::Relaxed) > 15,
        "the writer wrote during the backup"
    );

    let copied = wallet(&copy).await;
    let v = copied.verify(org).await.unwrap();
    assert!(v.valid, "{v:?}");
    let n: u64 = copied
        .count_by_status(org)
        .await
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum();
    // Whole batches only (each inject is one transaction): at least those committed
    // before the copy began, at most those begun when it ended.
    assert_eq!(n % 20, 0, "{n}");
    assert!(
        n >= before as u64 * 20 && n <= during as u64 * 20,
        "{n} tickets: {before} batches committed before, {during} begun after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_postgres_points_to_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let e = tixbridge_store::backup("postgres://u@h/db", &dir.path().join("x"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("pg_dump"), "{e}");
    assert!(!dir.path().join("x").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_shutdown_leaves_the_data_in_the_main_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wallet.db");
    let store = wallet(&path).await;
    let org = store.create_organizer("org", "hash").await.unwrap().id;
    for b in 0..3 {
        inject_batch(&*store, org, b).await;
    }
    let wal = dir.path().join("wallet.db-wal");
    drop(store);
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "the WAL is checkpointed and truncated");
    // The main file alone, copied elsewhere, holds every commit.
    let alone = tempfile::tempdir().unwrap();
    std::fs::copy(&path, alone.path().join("wallet.db")).unwrap();
    let copied = wallet(&alone.path().join("wallet.db")).await;
    let n: u64 = copied
        .count_by_status(org)
        .await
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum();
    assert_eq!(n, 60);
}
