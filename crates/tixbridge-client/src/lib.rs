//! tixbridge-client: a typed client of the wallet's organizer API
//! (`shared/spec/WALLET-API.md`). One method per endpoint the interface uses; every
//! failure becomes a [`ClientError`] whose message says what happened without ever
//! including the API key.

pub mod app;
mod organizer;

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use tixbridge_core::api::{
    ErrorBody, ItemResult, MAX_TICKETS_PER_CALL, ResultsResponse, Ticket, TicketRecord,
};

/// Why a call failed. Every variant means no result is known for any ticket of the
/// call: the caller must treat the whole call as not done (and retry it later).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the wallet refused the API key (401): check the interface's password")]
    Unauthorized,
    #[error("cannot reach the wallet at {url}: {reason}")]
    Unreachable { url: String, reason: String },
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
            ClientError::Unreachable { .. } | ClientError::Timeout(_) => true,
            ClientError::Refused { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// A short stable code for execution records.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::Unauthorized => "WALLET_UNAUTHORIZED",
            ClientError::Unreachable { .. } => "WALLET_UNREACHABLE",
            ClientError::Timeout(_) => "WALLET_TIMEOUT",
            ClientError::Refused { .. } => "WALLET_REFUSED",
            ClientError::BadResponse(_) => "WALLET_BAD_RESPONSE",
            ClientError::Usage(_) => "CLIENT_USAGE",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Whole-request time limit.
    pub timeout: Duration,
    /// Extra attempts for transient failures (connection refused, time-out, 429, 5xx).
    /// Injection is idempotent on the wallet, so retrying a write is safe.
    pub retries: u32,
    /// Wait before the first retry; doubles each time. A `Retry-After` header wins.
    pub backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            retries: 2,
            backoff: Duration::from_millis(200),
        }
    }
}

/// A client for one interface: its URL (ending with `organizer/tickets`), login and
/// API key. Cheap to clone; calls may run concurrently.
#[derive(Clone)]
pub struct WalletClient {
    http: reqwest::Client,
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
            http,
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
    /// wallet answered exactly `expected` results.
    pub async fn post_results(
        &self,
        url: &str,
        body: Vec<u8>,
        expected: usize,
    ) -> Result<Vec<ItemResult>, ClientError> {
        let resp: ResultsResponse = self.send_json(url, body).await?;
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
        let resp = self.send_with_retry(|| self.http.get(&url)).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        parse_answer(resp).await.map(Some)
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        url: &str,
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        let resp = self
            .send_with_retry(|| {
                self.http
                    .post(url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
            .await?;
        parse_answer(resp).await
    }

    async fn send_with_retry(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let mut attempt = 0;
        let mut wait = self.opts.backoff;
        loop {
            let req = make().basic_auth(&self.login, Some(self.api_key.expose_secret()));
            let (err, retry_after): (ClientError, Option<Duration>) = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                        let retry_after = resp
                            .headers()
                            .get(RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(Duration::from_secs);
                        let err = match parse_answer::<serde_json::Value>(resp).await {
                            Err(e) => e,
                            Ok(_) => ClientError::BadResponse(format!("status {status}")),
                        };
                        (err, retry_after)
                    } else {
                        return Ok(resp);
                    }
                }
                Err(e) => (self.transport_error(e), None),
            };
            if attempt >= self.opts.retries || !err.is_transient() {
                return Err(err);
            }
            attempt += 1;
            let pause = retry_after.unwrap_or(wait).min(Duration::from_secs(30));
            tracing::warn!(error = %err, attempt, pause_ms = pause.as_millis() as u64, "wallet call failed; retrying");
            tokio::time::sleep(pause).await;
            wait *= 2;
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> ClientError {
        if e.is_timeout() {
            ClientError::Timeout(self.opts.timeout)
        } else {
            // reqwest's message can include the URL but never the credentials.
            let mut reason = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                reason = format!("{reason}: {s}");
                src = s.source();
            }
            ClientError::Unreachable {
                url: self.tickets_url.clone(),
                reason,
            }
        }
    }
}

async fn parse_answer<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| ClientError::BadResponse(format!("the body could not be read: {e}")))?;
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
