//! The HTTP layer's own rejections, at the boundary: raw bytes on a real loopback
//! connection, so nothing of a client library smooths the request or the answer.
//! Every rejection carries the contract's error body.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use tixbridge_wallet::connection::{MAX_HEAD_BYTES, MAX_HEADERS, MAX_URI_BYTES};

use crate::support::{RawDb, TestApp, on_sqlite, test_config};

const WAIT: Duration = Duration::from_secs(10);

/// One answer as read off the wire.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as the contract's error: its code (the message must be a sentence).
    fn error_code(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "status {}",
            self.status
        );
        let v: Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)));
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{v}");
        v["error"]["code"].as_str().expect("error.code").to_owned()
    }
}

/// A client connection; bytes read past one answer are kept for the next.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

async fn connect(app: &TestApp) -> Conn {
    let addr = app.base.strip_prefix("http://").expect("http base");
    Conn {
        stream: TcpStream::connect(addr).await.expect("connect"),
        buf: Vec::new(),
    }
}

impl Conn {
    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    async fn fill(&mut self, what: &str) {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(WAIT, self.stream.read(&mut chunk))
            .await
            .unwrap_or_else(|_| panic!("{what} in time"))
            .expect("read");
        assert!(
            n > 0,
            "closed before {what}: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// Reads one answer: its head, then a body of `Content-Length` bytes.
    async fn answer(&mut self) -> Answer {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill("an answer").await;
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).expect("ASCII head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("status line");
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("status line {status_line:?}"));
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().expect("content-length"));
        while self.buf.len() < head_end + length {
            self.fill("the body").await;
        }
        let body = self.buf[head_end..head_end + length].to_vec();
        self.buf.drain(..head_end + length);
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Whether the server closed the connection (without sending more).
    async fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 64];
        let n = tokio::time::timeout(WAIT, self.stream.read(&mut chunk))
            .await
            .expect("closed in time")
            .unwrap_or(0);
        n == 0
    }
}

/// Sends `request` on a new connection and reads the one answer.
async fn exchange(app: &TestApp, request: &[u8]) -> Answer {
    let mut conn = connect(app).await;
    conn.send(request).await;
    conn.answer().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_too_long_uri_is_414_with_the_error_body() {
    on_sqlite(|app| async move {
        // On a new connection: the listener's gate, whatever the length (hyper's own
        // limit, 65,534 bytes, would answer a bare 414 beyond it).
        for len in [MAX_URI_BYTES + 1, 70_000] {
            let req = format!(
                "GET /organizer/tickets/{} HTTP/1.1\r\nHost: x\r\n\r\n",
                "A".repeat(len)
            );
            let a = exchange(&app, req.as_bytes()).await;
            assert_eq!(a.status, 414, "{len}");
            assert_eq!(a.error_code(), "URI_TOO_LONG");
            assert_eq!(a.header("connection"), Some("close"));
        }
        // At the limit it is an ordinary request (an unknown ticket, no key).
        let path = format!("/organizer/tickets/{}", "A".repeat(MAX_URI_BYTES - 19));
        assert_eq!(path.len(), MAX_URI_BYTES);
        let a = exchange(
            &app,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!((a.status, a.error_code().as_str()), (401, "UNAUTHORIZED"));

        // On a connection kept alive after a first request: the middleware.
        let mut conn = connect(&app).await;
        conn.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(conn.answer().await.status, 200);
        let req = format!(
            "GET /health?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
            "b".repeat(MAX_URI_BYTES)
        );
        conn.send(req.as_bytes()).await;
        let a = conn.answer().await;
        assert_eq!((a.status, a.error_code().as_str()), (414, "URI_TOO_LONG"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_request_head_is_400_with_the_error_body() {
    on_sqlite(|app| async move {
        for req in [
            &b"GET /health HTTP/1.1 extra\r\nHost: x\r\n\r\n"[..],
            b"GET\r\n\r\n",
            b"hello there\r\n\r\n",
            b"G(T /health HTTP/1.1\r\n\r\n",
            b"GET /health HTTP/2.5\r\n\r\n",
            b"GET /health HTTP/1.1\r\nBad Header: x\r\n\r\n",
            b"POST /organizer/tickets HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            b"POST /organizer/tickets HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        ] {
            let a = exchange(&app, req).await;
            assert_eq!(a.status, 400, "{:?}", String::from_utf8_lossy(req));
            assert_eq!(a.error_code(), "MALFORMED_REQUEST");
            assert_eq!(a.header("connection"), Some("close"));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_or_too_large_header_fields_are_431_with_the_error_body() {
    on_sqlite(|app| async move {
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
        let a = exchange(
            &app,
            format!("GET /health HTTP/1.1\r\n{many}\r\n").as_bytes(),
        )
        .await;
        assert_eq!(
            (a.status, a.error_code().as_str()),
            (431, "HEADERS_TOO_LARGE")
        );
        let big = format!(
            "GET /health HTTP/1.1\r\nX-Big: {}\r\n\r\n",
            "v".repeat(MAX_HEAD_BYTES)
        );
        let a = exchange(&app, big.as_bytes()).await;
        assert_eq!(
            (a.status, a.error_code().as_str()),
            (431, "HEADERS_TOO_LARGE")
        );
    })
    .await;
}

/// The bytes the gate read are served as sent: requests pipelined in one write, and a
/// head that arrives in pieces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checked_connections_are_served_as_sent() {
    on_sqlite(|app| async move {
        let mut conn = connect(&app).await;
        conn.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        assert_eq!(conn.answer().await.status, 200);
        let a = conn.answer().await;
        assert_eq!((a.status, a.error_code().as_str()), (404, "NOT_FOUND"));

        let mut conn = connect(&app).await;
        for piece in [
            &b"GET /hea"[..],
            b"lth HTTP/1.1\r\nHo",
            b"st: x\r\n",
            b"\r\n",
        ] {
            conn.send(piece).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(conn.answer().await.status, 200);
    })
    .await;
}

/// A connection that never sends a request does not keep the service from stopping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_does_not_hold_up_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = TestApp::start(RawDb::Sqlite(dir.path().join("wallet.db")), test_config()).await;
    let mut silent = connect(&app).await;
    let mut half = connect(&app).await;
    half.send(b"GET /health HT").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    tokio::time::timeout(WAIT, app.stop())
        .await
        .expect("the service stops with silent connections open");
    // Both were closed without an answer.
    assert!(silent.closed().await);
    assert!(half.closed().await);
}
