//! tixbridge-client: a typed client of the wallet's organizer API
//! (`shared/spec/WALLET-API.md`). One method per endpoint the interface uses; every
//! failure becomes a [`ClientError`] whose message says what happened without ever
//! including the API key.
//!
//! Retries: see [`transport`] — backoff with jitter over a bounded total time,
//! `Retry-After` in both forms, a `429` holding back every call of the client. Every
//! organizer call is idempotent on the wallet and retried after any transient failure
//! except the back-office transfer ([`WalletClient::transfer`]), which is resent only
//! when the wallet certainly did not act on it.

pub mod app;
mod organizer;
mod privileges;
mod transport;

pub use transport::RetryPolicy;

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use transport::{Answer, Failure, Repeat, Sender};

use tixbridge_core::api::{
    ErrorBody, ItemResult, MAX_TICKETS_PER_CALL, ResultsResponse, Ticket, TicketRecord,
};

/// Why a call failed. Every variant means no result is known for any ticket of the
/// call: the caller must treat the whole call as not done (and retry it later).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the wallet refused the API key (401): check the interface's password")]
    Unauthorized,
    /// No connection could be opened: the wallet never saw the call.
    #[error("cannot reach the wallet at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The connection broke after the call was sent (reset, answer cut short): the
    /// wallet may have applied the call.
    #[error(
        "the connection to the wallet at {url} dropped before its answer was complete (the wallet may have applied the call): {reason}"
    )]
    Dropped { url: String, reason: String },
    #[error("the wallet did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the wallet answered {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the wallet's answer is not understood: {0}")]
    BadResponse(String),
    #[error("{0}")]
    Usage(String),
}

impl ClientError {
    /// Worth trying again later in the same execution (the wallet may be back).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable { .. }
            | ClientError::Dropped { .. }
            | ClientError::Timeout(_) => true,
            ClientError::Refused { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// A short stable code for execution records.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::Unauthorized => "WALLET_UNAUTHORIZED",
            ClientError::Unreachable { .. } => "WALLET_UNREACHABLE",
            ClientError::Dropped { .. } => "WALLET_CONNECTION_DROPPED",
            ClientError::Timeout(_) => "WALLET_TIMEOUT",
            ClientError::Refused { .. } => "WALLET_REFUSED",
            ClientError::BadResponse(_) => "WALLET_BAD_RESPONSE",
            ClientError::Usage(_) => "CLIENT_USAGE",
        }
    }
}

/// How a [`WalletClient`] sends its calls.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Time limit of one attempt, from sending to the last byte of the answer.
    pub timeout: Duration,
    /// Most extra attempts of one call after transient failures (no connection,
    /// dropped connection, time-out, 429, 5xx). Default 12; 0 disables retries.
    pub retries: u32,
    /// Bound on the time one call spends retrying (default 30 s): long enough that a
    /// wallet restart of a few seconds does not fail the execution.
    pub retry_for: Duration,
    /// Wait before the first retry (default 100 ms); doubles each time up to 5 s, with
    /// jitter. A `Retry-After` header wins.
    pub backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            retries: 12,
            retry_for: Duration::from_secs(30),
            backoff: Duration::from_millis(100),
        }
    }
}

impl ClientOptions {
    fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            retries: self.retries,
            retry_for: self.retry_for,
            backoff: self.backoff,
        }
    }
}

/// A client for one interface: its URL (ending with `organizer/tickets`), login and
/// API key. Cheap to clone; calls may run concurrently.
#[derive(Clone)]
pub struct WalletClient {
    sender: Sender,
    tickets_url: String,
    login: String,
    api_key: SecretString,
    opts: ClientOptions,
}

impl std::fmt::Debug for WalletClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletClient")
            .field("tickets_url", &self.tickets_url)
            .field("login", &self.login)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

impl WalletClient {
    pub fn new(
        url: &str,
        login: &str,
        api_key: SecretString,
        opts: ClientOptions,
    ) -> Result<WalletClient, ClientError> {
        tixbridge_core::model::validate_interface_url(url).map_err(ClientError::Usage)?;
        let http = reqwest::Client::builder()
            .timeout(opts.timeout)
            .pool_max_idle_per_host(16)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ClientError::Usage(format!("cannot build the HTTP client: {e}")))?;
        Ok(WalletClient {
            sender: Sender::new(http, opts.policy()),
            tickets_url: url.trim().trim_end_matches('/').to_owned(),
            login: login.to_owned(),
            api_key,
            opts,
        })
    }

    pub fn tickets_url(&self) -> &str {
        &self.tickets_url
    }

    /// `POST /organizer/tickets` with 1 to 50 tickets; one result per ticket, in order.
    pub async fn inject(&self, tickets: &[Ticket]) -> Result<Vec<ItemResult>, ClientError> {
        if tickets.is_empty() || tickets.len() > MAX_TICKETS_PER_CALL {
            return Err(ClientError::Usage(format!(
                "an injection call carries 1 to {MAX_TICKETS_PER_CALL} tickets, not {}",
                tickets.len()
            )));
        }
        // Serialised from the borrowed slice: no copy of the tickets.
        #[derive(serde::Serialize)]
        struct Body<'a> {
            tickets: &'a [Ticket],
        }
        let mut body = Vec::with_capacity(tickets.len() * 1280);
        serde_json::to_writer(&mut body, &Body { tickets })
            .map_err(|e| ClientError::Usage(format!("cannot encode tickets: {e}")))?;
        self.post_results(&self.tickets_url, body, tickets.len())
            .await
    }

    /// Posts an already-encoded body that answers per-item results, checking that the
    /// wallet answered exactly `expected` results. Only for idempotent calls: it is
    /// resent after any transient failure.
    pub async fn post_results(
        &self,
        url: &str,
        body: Vec<u8>,
        expected: usize,
    ) -> Result<Vec<ItemResult>, ClientError> {
        let resp: ResultsResponse = self.send_json(Repeat::Always, url, body).await?;
        if resp.results.len() != expected {
            return Err(ClientError::BadResponse(format!(
                "{} results for {expected} tickets",
                resp.results.len()
            )));
        }
        Ok(resp.results)
    }

    /// `GET /organizer/tickets/{id}`; `None` when the wallet does not know it.
    pub async fn ticket(&self, ticket_id: &str) -> Result<Option<TicketRecord>, ClientError> {
        let url = format!("{}/{}", self.tickets_url, encode_path(ticket_id));
        let answer = self.send(Repeat::Always, || self.http().get(&url)).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        parse_answer(answer).map(Some)
    }

    fn http(&self) -> &reqwest::Client {
        &self.sender.http
    }

    /// Posts a JSON body, retried as `repeat` allows, and parses the answer.
    async fn send_json<T: DeserializeOwned>(
        &self,
        repeat: Repeat,
        url: &str,
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        let answer = self
            .send(repeat, || {
                self.http()
                    .post(url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
            .await?;
        parse_answer(answer)
    }

    /// Sends with the interface's credentials, retried as `repeat` allows.
    async fn send(
        &self,
        repeat: Repeat,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, ClientError> {
        self.sender
            .send(repeat, || {
                make().basic_auth(&self.login, Some(self.api_key.expose_secret()))
            })
            .await
            .map_err(|f| self.failure(f))
    }

    fn failure(&self, f: Failure) -> ClientError {
        let url = self.tickets_url.clone();
        match f {
            Failure::Connect(reason) => ClientError::Unreachable { url, reason },
            Failure::Dropped(reason) => ClientError::Dropped { url, reason },
            Failure::Timeout => ClientError::Timeout(self.opts.timeout),
            Failure::Busy { answer, .. } => match parse_answer::<serde_json::Value>(answer) {
                Err(e) => e,
                Ok(_) => ClientError::BadResponse("a success body with an error status".into()),
            },
        }
    }
}

/// The wallet's answer as `T`, or the error it says: 401, a refusal with the
/// contract's error body, or a body that is not `T`.
fn parse_answer<T: DeserializeOwned>(answer: Answer) -> Result<T, ClientError> {
    let Answer {
        status,
        body: bytes,
    } = answer;
    if status == StatusCode::UNAUTHORIZED {
        return Err(ClientError::Unauthorized);
    }
    if !status.is_success() {
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(b) => (b.error.code, b.error.message),
            Err(_) => ("UNKNOWN".to_owned(), snippet(&bytes)),
        };
        return Err(ClientError::Refused {
            status: status.as_u16(),
            code,
            message,
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ClientError::BadResponse(format!("{e}; the body starts with {}", snippet(&bytes)))
    })
}

fn snippet(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    format!("{s:?}")
}

/// Percent-encodes a ticket id for a URL path segment (ids may hold spaces, `/`, `+`).
fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*' | b'(' | b')') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_shows_in_debug() {
        let c = WalletClient::new(
            "http://127.0.0.1:1/organizer/tickets",
            "admin@example.org",
            SecretString::from("tnk_supersecret"),
            ClientOptions::default(),
        )
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("supersecret"), "{dbg}");
    }

    #[test]
    fn url_is_checked() {
        let e = WalletClient::new(
            "http://127.0.0.1:1/organizer",
            "x",
            SecretString::from("k"),
            ClientOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("organizer/tickets"));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_path("A B/1+2"), "A%20B%2F1%2B2");
    }

    #[tokio::test]
    async fn an_unreachable_wallet_is_named() {
        // Port 1 on loopback refuses connections.
        let c = WalletClient::new(
            "http://127.0.0.1:1/organizer/tickets",
            "x",
            SecretString::from("k"),
            ClientOptions {
                retries: 0,
                ..Default::default()
            },
        )
        .unwrap();
        let e = c.inject(&[Ticket::default()]).await.unwrap_err();
        assert!(matches!(e, ClientError::Unreachable { .. }), "{e}");
        assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
    }
}
