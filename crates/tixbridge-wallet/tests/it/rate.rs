//! A rough end-to-end rate of the wallet service on SQLite: HTTP + JSON + validation +
//! store, 50-ticket calls, four in flight, client in the same process. Run with
//! `cargo test --release -p tixbridge-wallet --test it -- --ignored --nocapture`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};

use crate::support::{on_sqlite, ticket};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check; run in release"]
async fn http_inject_rate_on_sqlite() {
    on_sqlite(|app| async move {
        let n = 100_000usize;
        let bodies: Vec<Vec<u8>> = (0..n)
            .collect::<Vec<_>>()
            .chunks(50)
            .map(|c| {
                let tickets: Vec<Value> = c
                    .iter()
                    .map(|i| {
                        ticket(
                            &format!("TCK-{i:09}"),
                            &format!("EVT-{}", i / 20_000),
                            &format!("spectator{i}@example.org"),
                        )
                    })
                    .collect();
                serde_json::to_vec(&json!({ "tickets": tickets })).expect("json")
            })
            .collect();
        let queue = Arc::new(Mutex::new(bodies));
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..4 {
            let app = app.clone();
            let queue = queue.clone();
            workers.push(tokio::spawn(async move {
                loop {
                    let next = queue.lock().expect("queue").pop();
                    let Some(body) = next else { break };
                    let r = app
                        .client
                        .post(app.url("/organizer/tickets"))
                        .header("X-Api-Key", &app.key_a)
                        .header("Content-Type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .expect("send");
                    assert_eq!(r.status(), reqwest::StatusCode::OK);
                    r.bytes().await.expect("body");
                }
            }));
        }
        for w in workers {
            w.await.expect("worker");
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "HTTP inject on SQLite: {n} tickets in {secs:.2} s, {:.0} tickets/s",
            n as f64 / secs
        );
    })
    .await;
}
