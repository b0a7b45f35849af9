//! The client's retries against real servers on 127.0.0.1: a raw TCP server that cuts
//! its answer mid-body or resets the connection after reading the call, `429` with a
//! `Retry-After` HTTP date, a `429` that holds back the other calls in flight, and the
//! real wallet service answering after each of them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use tixbridge_client::{ClientError, ClientOptions, WalletClient};
use tixbridge_core::api::{ItemResult, Person, ResultsResponse, Ticket};

/// What the raw server does with the `n`-th call it reads (from 0).
type Respond =
    Arc<dyn Fn(usize, TcpStream) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

/// A server on a loopback port that reads each call in full (head and body), records
/// when it arrived, then hands the connection to `respond`. Answers its URL and the
/// arrival times.
async fn raw_server(respond: Respond) -> (String, Arc<Mutex<Vec<Instant>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/organizer/tickets",
        listener.local_addr().unwrap()
    );
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let seen = arrivals.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (seen, respond) = (seen.clone(), respond.clone());
            tokio::spawn(async move {
                if !read_request(&mut sock).await {
                    return;
                }
                let n = {
                    let mut s = seen.lock().unwrap();
                    s.push(Instant::now());
                    s.len() - 1
                };
                respond(n, sock).await;
            });
        }
    });
    (url, arrivals)
}

/// Reads one HTTP/1.1 request with a `content-length` body; false at end of stream.
async fn read_request(sock: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                return true;
            }
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn ok_body(ids: &[&str]) -> String {
    serde_json::to_string(&ResultsResponse {
        results: ids
            .iter()
            .map(|id| ItemResult::ok(*id, "INJECTED"))
            .collect(),
    })
    .unwrap()
}

async fn answer(mut sock: TcpStream, status: &str, headers: &str, body: &str) {
    let msg = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{headers}connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = sock.write_all(msg.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// Announces a long body, sends part of it, closes.
async fn cut_mid_body(mut sock: TcpStream) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n";
    let _ = sock
        .write_all(format!("{head}{{\"results\":[").as_bytes())
        .await;
    let _ = sock.flush().await;
    drop(sock);
}

/// Closes with a TCP reset (linger 0) right after reading the call.
#[allow(deprecated)]
async fn reset(sock: TcpStream) {
    let _ = sock.set_linger(Some(Duration::ZERO));
    drop(sock);
}

fn client(url: &str, retries: u32) -> WalletClient {
    WalletClient::new(
        url,
        "admin",
        SecretString::from("k"),
        ClientOptions {
            retries,
            timeout: Duration::from_secs(10),
            ..Default::default()
        },
    )
    .unwrap()
}

fn ticket(id: &str) -> Ticket {
    Ticket {
        ticket_id: Some(id.into()),
        ..Default::default()
    }
}

/// The first call gets `first`; every later one the injection's answer for `T1`.
fn first_then_ok(first: fn(TcpStream) -> futures::future::BoxFuture<'static, ()>) -> Respond {
    Arc::new(move |n, sock| {
        if n == 0 {
            first(sock)
        } else {
            let body = ok_body(&["T1"]);
            Box::pin(async move { answer(sock, "200 OK", "", &body).await })
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_cut_mid_body_is_a_dropped_connection_and_is_retried() {
    let (url, arrivals) = raw_server(first_then_ok(|s| Box::pin(cut_mid_body(s)))).await;
    let r = client(&url, 5).inject(&[ticket("T1")]).await.unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    assert_eq!(
        arrivals.lock().unwrap().len(),
        2,
        "sent again after the cut"
    );

    let (url, _) = raw_server(first_then_ok(|s| Box::pin(cut_mid_body(s)))).await;
    let e = client(&url, 0).inject(&[ticket("T1")]).await.unwrap_err();
    assert!(matches!(e, ClientError::Dropped { .. }), "{e:?}");
    assert_eq!(e.code(), "WALLET_CONNECTION_DROPPED");
    assert!(e.to_string().contains("dropped"), "{e}");
    assert!(!e.to_string().contains("cannot reach"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_after_the_call_was_read_is_retried_for_idempotent_calls_only() {
    let (url, arrivals) = raw_server(first_then_ok(|s| Box::pin(reset(s)))).await;
    let r = client(&url, 5).inject(&[ticket("T1")]).await.unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    assert_eq!(arrivals.lock().unwrap().len(), 2);

    let (url, _) = raw_server(first_then_ok(|s| Box::pin(reset(s)))).await;
    let e = client(&url, 0).inject(&[ticket("T1")]).await.unwrap_err();
    assert!(matches!(e, ClientError::Dropped { .. }), "{e:?}");
    assert!(e.to_string().contains("may have applied"), "{e}");

    // The back-office transfer is not idempotent: a reset after the wallet read it is
    // reported, never resent.
    let (url, arrivals) = raw_server(first_then_ok(|s| Box::pin(reset(s)))).await;
    let to = Person {
        email: Some("bob@example.org".into()),
        ..Default::default()
    };
    let e = client(&url, 5).transfer("T1", &to).await.unwrap_err();
    assert!(matches!(e, ClientError::Dropped { .. }), "{e:?}");
    assert_eq!(
        arrivals.lock().unwrap().len(),
        1,
        "a transfer is not resent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_an_http_date_is_waited_for() {
    let (url, arrivals) = raw_server(first_then_ok(|s| {
        Box::pin(async move {
            let at = chrono::Utc::now() + chrono::Duration::seconds(3);
            let header = format!(
                "retry-after: {}\r\n",
                at.format("%a, %d %b %Y %H:%M:%S GMT")
            );
            answer(s, "429 Too Many Requests", &header, "").await
        })
    }))
    .await;
    let started = Instant::now();
    let r = client(&url, 5).inject(&[ticket("T1")]).await.unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    let arrivals = arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 2);
    // The date has a one-second resolution: 3 s ahead is at least 2 s of waiting.
    let waited = arrivals[1] - arrivals[0];
    assert!(waited >= Duration::from_millis(1900), "{waited:?}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_holds_back_the_other_calls_in_flight() {
    let (got_429_tx, got_429) = tokio::sync::oneshot::channel::<()>();
    let got_429_tx = Arc::new(Mutex::new(Some(got_429_tx)));
    let respond: Respond = Arc::new(move |n, sock| {
        let tx = got_429_tx.clone();
        Box::pin(async move {
            if n == 0 {
                answer(sock, "429 Too Many Requests", "retry-after: 2\r\n", "").await;
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
            } else {
                answer(sock, "200 OK", "", &ok_body(&["T1"])).await;
            }
        })
    });
    let (url, arrivals) = raw_server(respond).await;
    let c = client(&url, 5);
    let first = tokio::spawn({
        let c = c.clone();
        async move { c.inject(&[ticket("T1")]).await }
    });
    got_429.await.unwrap();
    // Another call of the same client, started while the first waits.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = c.inject(&[ticket("T1")]).await.unwrap();
    assert!(second[0].is_ok());
    assert!(first.await.unwrap().unwrap()[0].is_ok());
    let arrivals = arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 3, "the 429, then both calls");
    for later in &arrivals[1..] {
        let held = *later - arrivals[0];
        assert!(held >= Duration::from_millis(1900), "{held:?}");
    }
}
