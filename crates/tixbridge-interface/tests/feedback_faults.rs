//! Feedback against a wallet that misbehaves (issue 9, bad input): a garbled page, a
//! page whose key goes backwards, a wallet that stops answering mid-run. Each is a
//! clear error; the key is never advanced past a page not applied, nothing is lost,
//! and once the real wallet answers again the next execution completes the feed.
//!
//! The misbehaving wallet is a few lines of HTTP on a loopback port serving the real
//! wallet's own pages, altered: no real wallet sends a broken page on demand.

mod common;
use common::*;

use std::sync::Mutex;
use std::time::Duration;

use tixbridge_client::ClientOptions;
use tixbridge_core::api::DiffPage;
use tixbridge_interface::setup::{FeedbackScheduleInput, create_feedback_schedule};
use tixbridge_store::InterfaceUpdate;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    Garbled,
    Backwards,
    Silent,
}

/// Serves `first` for the key "", the fault for `first`'s next key, an empty page for
/// any other key.
async fn faulty_wallet(first: DiffPage, second: DiffPage, fault: Arc<Mutex<Fault>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (first, second, fault) = (first.clone(), second.clone(), *fault.lock().unwrap());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let key = head
                    .split("paginationKey=")
                    .nth(1)
                    .map(|k| k.split(['&', ' ']).next().unwrap_or("").to_owned())
                    .unwrap_or_default();
                let body = if key.is_empty() {
                    serde_json::to_string(&first).unwrap()
                } else if key == first.next_page_key {
                    match fault {
                        Fault::Garbled => {
                            let full = serde_json::to_string(&second).unwrap();
                            full[..full.len() / 2].to_owned()
                        }
                        Fault::Backwards => {
                            let mut back = second.clone();
                            back.next_page_key = "1".into();
                            serde_json::to_string(&back).unwrap()
                        }
                        Fault::Silent => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            return;
                        }
                    }
                } else {
                    format!(r#"{{"tickets":[],"nextPageKey":"{key}"}}"#)
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/organizer/tickets")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_wallet_never_moves_the_key_past_what_was_applied() {
    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let rows = (1..=6)
            .map(|i| row(i, "P1", Some(&format!("fan{i}@example.org"))))
            .collect();
        let org = seed(&*store, rows).await;
        let params = "retrieveIterationSize=3";
        configure(
            &*store,
            org,
            &wallet.url,
            &wallet.key,
            params,
            sched("inj", 100),
        )
        .await;
        let fb = FeedbackScheduleInput {
            interface: "tixngo".into(),
            name: "fb".into(),
            batch_size: 100,
            ..Default::default()
        };
        create_feedback_schedule(&*store, fb).await.unwrap();
        assert_eq!(succeeded(&store, "inj").await, 6);
        let real = wallet.client();
        let first = real.diff_whole_history("", 3).await.unwrap();
        let second = real
            .diff_whole_history(&first.next_page_key, 3)
            .await
            .unwrap();
        assert_eq!((first.tickets.len(), second.tickets.len()), (3, 3));
        let fault = Arc::new(Mutex::new(Fault::Garbled));
        let fake = faulty_wallet(first.clone(), second.clone(), fault.clone()).await;
        let iface = store.interface_by_name("tixngo").await.unwrap().unwrap();
        let point_at = |url: String| {
            let store = store.clone();
            async move {
                let update = InterfaceUpdate {
                    url: Some(url),
                    ..Default::default()
                };
                store.update_interface(iface.id, update).await.unwrap();
            }
        };
        point_at(fake).await;
        let quick = RunOptions {
            client: ClientOptions {
                timeout: Duration::from_millis(500),
                retries: 1,
                retry_for: Duration::from_secs(1),
                backoff: Duration::from_millis(10),
            },
            ..fast()
        };
        let fed = |id: &str| {
            let store = store.clone();
            let id: i64 = id.parse().unwrap();
            async move { !store.mobile_history(id).await.unwrap().is_empty() }
        };

        for (f, says) in [
            (Fault::Garbled, "not understood"),
            (Fault::Backwards, "goes backwards"),
            (Fault::Silent, "did not answer"),
        ] {
            *fault.lock().unwrap() = f;
            // A fresh start each time: the key back before the first page.
            let r = run_schedule(store.clone(), "fb", quick.clone())
                .await
                .unwrap();
            assert_eq!(r.outcome, Outcome::Error, "{f:?}: {r:?}");
            let m = r.message.clone().unwrap_or_default();
            assert!(m.contains(says), "{f:?}: {m}");
            // The first page was applied (now or before) and its key kept; nothing of
            // the second.
            let key = store.feedback_key(iface.id).await.unwrap();
            assert_eq!(key.as_deref(), Some(first.next_page_key.as_str()), "{f:?}");
            for t in &first.tickets {
                assert!(fed(&t.ticket_id).await, "{f:?}: ticket {}", t.ticket_id);
            }
            for t in &second.tickets {
                assert!(!fed(&t.ticket_id).await, "{f:?}: ticket {}", t.ticket_id);
            }
        }

        // The real wallet again: the feed completes from the stored key.
        point_at(wallet.url.clone()).await;
        let r = run_schedule(store.clone(), "fb", fast()).await.unwrap();
        assert_eq!((r.outcome, r.counts.succeeded), (Outcome::Ok, 3), "{r:?}");
        for t in first.tickets.iter().chain(&second.tickets) {
            assert!(fed(&t.ticket_id).await, "ticket {}", t.ticket_id);
        }
        wallet.stop().await;
    })
    .await;
}
