//! The HTTP layer's own rejections, with the contract's error body.
//!
//! hyper answers a request head it cannot take — a malformed request line, a URI longer
//! than 65,534 bytes, too many or too large header fields — with a bare status line
//! (`400`, `414`, `431`) and no body, before any route or middleware exists for it. So
//! that every answer carries `{"error": {"code", "message"}}`, two gates stand in front:
//!
//! - [`GatedListener`], the listener `axum::serve` accepts from: each new connection's
//!   first request head is read and checked here, in a task of its own (a slow client
//!   holds up no other), with the rules hyper applies and the service's own, lower
//!   limits ([`MAX_URI_BYTES`], [`MAX_HEAD_BYTES`], [`MAX_HEADERS`]). A head that
//!   breaks one is answered here — `400 MALFORMED_REQUEST`, `414 URI_TOO_LONG`, `431
//!   HEADERS_TOO_LARGE`, JSON, `Connection: close` — and never reaches hyper; a good
//!   one is handed to `axum::serve` with the bytes already read put back in front of
//!   the stream ([`Prefixed`]). Graceful shutdown is `axum::serve`'s own, unchanged:
//!   when it stops accepting it drops the listener, which stops the accept loop and
//!   closes the connections still waiting for their first head.
//! - [`check_limits`], a middleware on every route, for the later requests of a
//!   connection kept alive: a URI longer than [`MAX_URI_BYTES`] is `414`, header fields
//!   larger than [`MAX_HEAD_BYTES`] in all are `431`, both JSON.
//!
//! What neither gate sees: a later request of a kept-alive connection whose head hyper
//! itself refuses (malformed, a URI beyond 65,534 bytes, more than 100 header fields,
//! a head beyond hyper's ~400 KiB buffer) still gets hyper's bare answer — hyper
//! parses those heads and offers no hook for its automatic answers.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::error::ApiError;

/// Longest request target accepted (path and query, as sent): 8 KiB.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest request head accepted (request line and header fields): 64 KiB.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields accepted in one request (hyper's own limit).
pub const MAX_HEADERS: usize = 100;

/// How long a refused connection is drained after its answer, so that closing it with
/// unread bytes does not reset it before the client has read the answer.
const DRAIN: Duration = Duration::from_secs(1);

/// A TCP listener whose connections come out with their first request head checked.
pub(crate) struct GatedListener {
    ready: mpsc::Receiver<(Prefixed, SocketAddr)>,
    addr: SocketAddr,
    acceptor: tokio::task::JoinHandle<()>,
}

impl GatedListener {
    /// Starts accepting on `listener` (in a task of its own).
    pub(crate) fn new(listener: TcpListener) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept_loop(listener, tx));
        Ok(Self {
            ready,
            addr,
            acceptor,
        })
    }
}

impl Drop for GatedListener {
    fn drop(&mut self) {
        // Stops listening: the socket is the accept loop's.
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for GatedListener {
    type Io = Prefixed;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop ends only when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

async fn accept_loop(listener: TcpListener, ready: mpsc::Sender<(Prefixed, SocketAddr)>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = ready.closed() => return,
        };
        let (stream, addr) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                accept_error(e).await;
                continue;
            }
        };
        let ready = ready.clone();
        tokio::spawn(async move {
            tokio::select! {
                checked = first_head(stream) => {
                    if let Some(io) = checked {
                        let _ = ready.send((io, addr)).await;
                    }
                }
                // The service stopped accepting: a connection still without a
                // request is closed, as axum closes an idle one.
                () = ready.closed() => {}
            }
        });
    }
}

/// As `axum::serve` does: errors of one connection are ignored; others (out of file
/// descriptors, …) are logged and accepting pauses a second.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept error");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Reads the connection's first request head: the connection to serve, or `None` when
/// it was answered here (or closed before sending a whole head).
async fn first_head(mut stream: TcpStream) -> Option<Prefixed> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        match check_head(&buf) {
            Verdict::Pass => return Some(Prefixed::new(buf, stream)),
            Verdict::Refuse(e) => {
                refuse(stream, &e).await;
                return None;
            }
            Verdict::More => {}
        }
        buf.reserve(8192);
        match (&mut stream)
            .take((MAX_HEAD_BYTES + 1 - buf.len()) as u64)
            .read_buf(&mut buf)
            .await
        {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Writes the JSON answer, then reads what the client still sends for a moment before
/// closing, so the answer is not lost to a reset.
async fn refuse(mut stream: TcpStream, e: &ApiError) {
    tracing::debug!(error = %e, "request head refused");
    if stream.write_all(&e.to_http1_bytes()).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 8192];
    let _ = tokio::time::timeout(DRAIN, async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

#[derive(Debug)]
enum Verdict {
    Pass,
    More,
    Refuse(ApiError),
}

/// The first request head in `buf` (perhaps not whole yet), checked as hyper would
/// parse it, with the service's limits.
fn check_head(buf: &[u8]) -> Verdict {
    if buf.is_empty() {
        return Verdict::More;
    }
    let malformed = |what: &str| {
        Verdict::Refuse(ApiError::MalformedRequest(format!(
            "the request head cannot be read as HTTP/1.1: {what}"
        )))
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let target = req.path.unwrap_or_default();
            if target.len() > MAX_URI_BYTES {
                return Verdict::Refuse(ApiError::UriTooLong {
                    length: target.len(),
                });
            }
            if len > MAX_HEAD_BYTES {
                return Verdict::Refuse(head_too_large());
            }
            if Method::from_bytes(req.method.unwrap_or_default().as_bytes()).is_err() {
                return malformed("invalid method");
            }
            if Uri::try_from(target).is_err() {
                return malformed("the request target is not a URI");
            }
            match body_framing(req.version == Some(1), req.headers) {
                Ok(()) => Verdict::Pass,
                Err(what) => malformed(what),
            }
        }
        Ok(httparse::Status::Partial) => {
            // The request line is not over yet and already longer than any accepted
            // target with its method and version.
            if req.path.is_none() && buf.len() > MAX_URI_BYTES + 32 {
                let length = buf.len() - buf.iter().position(|&b| b == b' ').unwrap_or(0);
                return Verdict::Refuse(ApiError::UriTooLong { length });
            }
            if buf.len() > MAX_HEAD_BYTES {
                return Verdict::Refuse(head_too_large());
            }
            Verdict::More
        }
        Err(httparse::Error::TooManyHeaders) => Verdict::Refuse(ApiError::HeadersTooLarge(
            format!("the request has more than {MAX_HEADERS} header fields"),
        )),
        Err(httparse::Error::Token) if req.method.is_none() => malformed("invalid method"),
        Err(httparse::Error::Token) => malformed("invalid request target"),
        Err(e) => malformed(&e.to_string()),
    }
}

fn head_too_large() -> ApiError {
    ApiError::HeadersTooLarge(format!(
        "the request head is larger than {MAX_HEAD_BYTES} bytes"
    ))
}

/// hyper's rules on the body's framing (RFC 9112 §6.3): `Transfer-Encoding` only in
/// HTTP/1.1 and ending with `chunked`; every `Content-Length` a number, all the same.
fn body_framing(http11: bool, headers: &[httparse::Header<'_>]) -> Result<(), &'static str> {
    let mut transfer_encoding: Option<&[u8]> = None;
    let mut length: Option<u64> = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !http11 {
                return Err("Transfer-Encoding in an HTTP/1.0 request");
            }
            transfer_encoding = Some(h.value);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            for part in h.value.split(|&b| b == b',') {
                let part = part.trim_ascii();
                let n = std::str::from_utf8(part)
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or("an invalid Content-Length")?;
                if length.is_some_and(|l| l != n) {
                    return Err("Content-Length fields that disagree");
                }
                length = Some(n);
            }
        }
    }
    if let Some(te) = transfer_encoding {
        let last = te.rsplit(|&b| b == b',').next().unwrap_or_default();
        if !last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Err("a Transfer-Encoding that does not end with chunked");
        }
    }
    Ok(())
}

/// Middleware of every route, for the requests the listener's gate does not see (the
/// later ones of a kept-alive connection): the same URI and head limits, answered
/// `414` and `431` with the JSON body.
pub(crate) async fn check_limits(req: Request, next: Next) -> Response {
    let uri = req.uri();
    let length = uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    if length > MAX_URI_BYTES {
        return ApiError::UriTooLong { length }.into_response();
    }
    let head: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if head > MAX_HEAD_BYTES {
        return head_too_large().into_response();
    }
    next.run(req).await
}

/// A connection whose first bytes were already read: they are read again first.
pub struct Prefixed {
    prefix: Vec<u8>,
    at: usize,
    stream: TcpStream,
}

impl Prefixed {
    fn new(prefix: Vec<u8>, stream: TcpStream) -> Self {
        Self {
            prefix,
            at: 0,
            stream,
        }
    }
}

impl AsyncRead for Prefixed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.prefix.len() {
            let n = (this.prefix.len() - this.at).min(buf.remaining());
            buf.put_slice(&this.prefix[this.at..this.at + n]);
            this.at += n;
            if this.at == this.prefix.len() {
                this.prefix = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(head: &[u8]) -> Verdict {
        check_head(head)
    }

    fn status(head: &[u8]) -> Option<u16> {
        match verdict(head) {
            Verdict::Refuse(e) => Some(
                e.to_http1_bytes()[9..12]
                    .iter()
                    .fold(0, |n, b| n * 10 + u16::from(b - b'0')),
            ),
            _ => None,
        }
    }

    #[test]
    fn good_heads_pass_and_partial_ones_wait() {
        assert!(matches!(
            verdict(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"),
            Verdict::Pass
        ));
        assert!(matches!(
            verdict(b"\r\nPOST /organizer/tickets HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n{}"),
            Verdict::Pass
        ));
        assert!(matches!(verdict(b"GET /hea"), Verdict::More));
        assert!(matches!(
            verdict(b"GET /health HTTP/1.1\r\nHost: x\r\n"),
            Verdict::More
        ));
    }

    #[test]
    fn heads_hyper_would_refuse_bare_are_answered_here() {
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_URI_BYTES));
        assert_eq!(status(long.as_bytes()), Some(414));
        // Still arriving, already too long.
        let start = format!("GET /{}", "a".repeat(MAX_URI_BYTES + 40));
        assert_eq!(status(start.as_bytes()), Some(414));
        assert_eq!(status(b"GET /health HTTP/1.1 x\r\n\r\n"), Some(400));
        assert_eq!(status(b"GE(T /health HTTP/1.1\r\n\r\n"), Some(400));
        assert_eq!(status(b"GET /health HTTP/9.9\r\n\r\n"), Some(400));
        assert_eq!(status(b"hello\r\n\r\n"), Some(400));
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            Some(400)
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
        assert_eq!(
            status(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            Some(431)
        );
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD_BYTES));
        assert_eq!(status(big.as_bytes()), Some(431));
    }
}
