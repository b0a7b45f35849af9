//! The sweeper yields to the API's writes without being starved (`sweeper` module):
//! while `POST`s keep coming it confirms one batch per pause; once the API is quiet
//! it confirms the rest at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;

use tixbridge_core::lifecycle::{Action, Caller, Op, Settings};
use tixbridge_core::status::WalletStatus;
use tixbridge_store::Actor;
use tixbridge_wallet::metrics::Metrics;
use tixbridge_wallet::sweeper::{self, SWEEP_BATCH};

const TICKETS: usize = 1200;

fn ticket(n: usize) -> tixbridge_core::api::Ticket {
    serde_json::from_value(json!({
        "ticketId": format!("T{n}"),
        "event": {"id": "E1", "name": "Final", "startTime": "2030-07-12T21:00:00+02:00",
                  "expirationDate": "2030-07-13T21:00:00+02:00"},
        "purchaseDetails": {"taxationNumber": format!("TAX-{n}")},
        "security": {"barcode": format!("BC-{n}")},
        "spectatorDetails": {"email": format!("fan{n}@example.org")}
    }))
    .unwrap()
}

async fn deleted(store: &dyn tixbridge_store::WalletStore, org: i64) -> u64 {
    store
        .count_by_status(org)
        .await
        .unwrap()
        .into_iter()
        .filter(|(s, _)| *s == WalletStatus::Deleted)
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_yields_to_api_writes_but_is_never_starved() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("w.db").display());
    let store = tixbridge_store::open_wallet(&url).await.unwrap();
    let (org, _) = tixbridge_wallet::create_organizer(&*store, "org")
        .await
        .unwrap();
    let settings = Settings {
        deletion_delay: chrono::Duration::zero(),
        ..Settings::default()
    };
    for chunk in (0..TICKETS).collect::<Vec<_>>().chunks(50) {
        let tickets = chunk.iter().map(|n| ticket(*n)).collect();
        store
            .inject(org.id, tickets, Actor::OrganizerApi, Utc::now())
            .await
            .unwrap();
        let ops = chunk
            .iter()
            .map(|n| Op {
                ticket_id: format!("T{n}"),
                caller: Caller::Organizer,
                action: Action::Delete {
                    reason: "REFUND".into(),
                    show_deleted_ticket: false,
                },
            })
            .collect();
        store
            .apply(org.id, ops, Utc::now(), settings)
            .await
            .unwrap();
    }

    // The API writes all along.
    let metrics = Arc::new(Metrics::new());
    let busy = Arc::new(AtomicBool::new(true));
    let writer = {
        let (metrics, busy) = (metrics.clone(), busy.clone());
        tokio::spawn(async move {
            while busy.load(Ordering::Relaxed) {
                metrics.observe_request(
                    &axum::http::Method::POST,
                    "/organizer/tickets/delete",
                    200,
                    0.001,
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sweeper = tokio::spawn(sweeper::run(
        store.clone(),
        settings,
        Duration::from_millis(20),
        metrics,
        stop_rx,
    ));

    // While the API writes: a first batch (one transaction), then a pause of a second.
    let t = Instant::now();
    while deleted(&*store, org.id).await == 0 && t.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = deleted(&*store, org.id).await;
    assert_eq!(during, SWEEP_BATCH as u64, "one batch, then a pause");
    // Never starved: the batches go on, one per pause.
    let t = Instant::now();
    while deleted(&*store, org.id).await <= during && t.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(deleted(&*store, org.id).await > during, "starved");

    // Quiet: the rest at once.
    busy.store(false, Ordering::Relaxed);
    writer.await.unwrap();
    let t = Instant::now();
    while deleted(&*store, org.id).await < TICKETS as u64 && t.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(deleted(&*store, org.id).await, TICKETS as u64);
    stop_tx.send(true).unwrap();
    sweeper.await.unwrap();
}
