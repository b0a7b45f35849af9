//! A client of the wallet's spectator app API (WALLET-API.md, "App API"; sandbox
//! sessions), and the organizer-side reads a simulator or a benchmark needs: the
//! ticket listing by pages, and change-feed pages as raw bodies for pipelined reading.
//!
//! [`AppClient`] takes the wallet service's root URL (`http://127.0.0.1:8080`);
//! [`AppClient::session`] opens a sandbox session for one email and answers an
//! [`AppSession`] whose methods are the phone's actions, each answering the new
//! [`TicketState`] or an [`AppError`] carrying the wallet's code (`ILLEGAL_TRANSITION`,
//! `TRANSFER_NOT_ALLOWED`, `TICKET_NOT_FOUND`, …) and message.
//!
//! Ticket ids go into paths one segment each, percent-encoded (`/` as `%2F`, space as
//! `%20`, `%`, `?`, `#` …). The two ids that are nothing but dots, `.` and `..`, cannot
//! be carried by any URL (every URL parser removes dot segments) and are refused
//! before sending.

use std::time::Duration;

use reqwest::Url;
use serde::Serialize;
use serde::de::DeserializeOwned;

use tixbridge_core::api::{AppTickets, ErrorBody, Person, TicketList, TicketState};
use tixbridge_core::lifecycle::ActivationMethod;

use crate::transport::{Answer, Failure, Repeat, RetryPolicy, Sender};
use crate::{ClientError, WalletClient};

/// Why an app call failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The wallet answered an error: its HTTP status, code and sentence. A `4xx`
    /// other than 401 and 429 is a refusal of this action ([`AppError::is_refusal`]).
    #[error("the wallet answered {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot reach the wallet at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The connection broke after the action was sent: the wallet may have applied it.
    #[error(
        "the connection to the wallet at {url} dropped before its answer was complete (the wallet may have applied the action): {reason}"
    )]
    Dropped { url: String, reason: String },
    #[error("the wallet did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the wallet's answer is not understood: {0}")]
    BadResponse(String),
    #[error("{0}")]
    Usage(String),
}

impl AppError {
    /// The wallet's error code for an answered error; a local code otherwise.
    pub fn code(&self) -> &str {
        match self {
            AppError::Refused { code, .. } => code,
            AppError::Unreachable { .. } => "WALLET_UNREACHABLE",
            AppError::Dropped { .. } => "WALLET_CONNECTION_DROPPED",
            AppError::Timeout(_) => "WALLET_TIMEOUT",
            AppError::BadResponse(_) => "WALLET_BAD_RESPONSE",
            AppError::Usage(_) => "CLIENT_USAGE",
        }
    }

    /// The wallet refused this action on its merits (illegal transition, transfer
    /// rule, unknown ticket, invalid data): a normal outcome for a spectator, unlike
    /// a lost connection, a lost session (401), overload (429) or a server error.
    pub fn is_refusal(&self) -> bool {
        matches!(self, AppError::Refused { status, .. }
            if (400..500).contains(status) && *status != 401 && *status != 429)
    }
}

/// Client of one wallet service's app API. Cheap to clone; calls may run concurrently.
#[derive(Clone, Debug)]
pub struct AppClient {
    sender: Sender,
    base: Url,
    timeout: Duration,
}

/// The app client's retries: the spectator's actions are not idempotent, so only
/// what the wallet did not act on is resent (no connection, `429`, `503`).
const APP_RETRY: RetryPolicy = RetryPolicy {
    retries: 8,
    retry_for: Duration::from_secs(30),
    backoff: Duration::from_millis(100),
};

impl AppClient {
    /// `base_url` is the service root, e.g. `http://127.0.0.1:8080`.
    pub fn new(base_url: &str, timeout: Duration) -> Result<AppClient, AppError> {
        let base = Url::parse(base_url.trim())
            .map_err(|e| AppError::Usage(format!("{base_url:?} is not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(AppError::Usage(format!(
                "{base_url:?} is not an http(s) URL of the wallet service"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| AppError::Usage(format!("cannot build the HTTP client: {e}")))?;
        Ok(AppClient {
            sender: Sender::new(http, APP_RETRY),
            base,
            timeout,
        })
    }

    /// The same client with another retry policy (`retries: 0` sends each call once).
    pub fn with_retry(mut self, policy: RetryPolicy) -> AppClient {
        self.sender = Sender::new(self.sender.http.clone(), policy);
        self
    }

    fn http(&self) -> &reqwest::Client {
        &self.sender.http
    }

    /// The service root this client talks to.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The URL of `segments` under the service root, each one percent-encoded as a
    /// single path segment.
    pub fn url<S: AsRef<str>>(&self, segments: &[S]) -> Result<Url, AppError> {
        if let Some(s) = segments
            .iter()
            .find(|s| matches!(s.as_ref(), "." | ".." | ""))
        {
            return Err(AppError::Usage(format!(
                "the path segment {:?} cannot be sent in a URL",
                s.as_ref()
            )));
        }
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .map_err(|()| AppError::Usage(format!("{} cannot be a base URL", self.base)))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// `POST /app/session {email, organizerId?}`: a sandbox session for `email`.
    /// `organizer_id` may be left out when the service holds exactly one organizer.
    pub async fn session(
        &self,
        email: &str,
        organizer_id: Option<i64>,
    ) -> Result<AppSession, AppError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Req<'a> {
            email: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            organizer_id: Option<i64>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            token: String,
            email: String,
            organizer_id: i64,
        }
        let url = self.url(&["app", "session"])?;
        let a: Answer = self
            .call(Repeat::IfNotApplied, || {
                self.http().post(url.clone()).json(&Req {
                    email,
                    organizer_id,
                })
            })
            .await?;
        Ok(AppSession {
            client: self.clone(),
            token: a.token,
            email: a.email,
            organizer_id: a.organizer_id,
        })
    }

    /// Sends, retried as `repeat` allows, and parses the answer.
    async fn call<T: DeserializeOwned>(
        &self,
        repeat: Repeat,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T, AppError> {
        let url = || self.base.to_string();
        match self.sender.send(repeat, make).await {
            Ok(a) => answer(a),
            Err(Failure::Connect(reason)) => Err(AppError::Unreachable { url: url(), reason }),
            Err(Failure::Dropped(reason)) => Err(AppError::Dropped { url: url(), reason }),
            Err(Failure::Timeout) => Err(AppError::Timeout(self.timeout)),
            Err(Failure::Busy { answer: a, .. }) => answer(a),
        }
    }
}

fn answer<T: DeserializeOwned>(answer: Answer) -> Result<T, AppError> {
    let Answer {
        status,
        body: bytes,
    } = answer;
    if !status.is_success() {
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(b) => (b.error.code, b.error.message),
            Err(_) => ("UNKNOWN".to_owned(), crate::snippet(&bytes)),
        };
        return Err(AppError::Refused {
            status: status.as_u16(),
            code,
            message,
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        AppError::BadResponse(format!(
            "{e}; the body starts with {}",
            crate::snippet(&bytes)
        ))
    })
}

/// A spectator's app session: one email at one organizer.
#[derive(Clone)]
pub struct AppSession {
    client: AppClient,
    token: String,
    email: String,
    organizer_id: i64,
}

impl std::fmt::Debug for AppSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSession")
            .field("email", &self.email)
            .field("organizer_id", &self.organizer_id)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl AppSession {
    /// The session's email as the wallet normalised it (trimmed, lower case).
    pub fn email(&self) -> &str {
        &self.email
    }

    pub fn organizer_id(&self) -> i64 {
        self.organizer_id
    }

    /// `GET /app/tickets`: owned tickets, visible deleted ones, incoming transfers.
    pub async fn tickets(&self) -> Result<AppTickets, AppError> {
        let url = self.client.url(&["app", "tickets"])?;
        self.client
            .call(Repeat::Always, || {
                self.client.http().get(url.clone()).bearer_auth(&self.token)
            })
            .await
    }

    async fn act<B: Serialize + ?Sized>(
        &self,
        ticket_id: &str,
        verb: &str,
        body: Option<&B>,
    ) -> Result<TicketState, AppError> {
        let url = self.client.url(&["app", "tickets", ticket_id, verb])?;
        self.client
            .call(Repeat::IfNotApplied, || {
                let req = self
                    .client
                    .http()
                    .post(url.clone())
                    .bearer_auth(&self.token);
                match body {
                    Some(b) => req.json(b),
                    None => req,
                }
            })
            .await
    }

    /// `POST /app/tickets/{id}/download`.
    pub async fn download(&self, ticket_id: &str) -> Result<TicketState, AppError> {
        self.act::<()>(ticket_id, "download", None).await
    }

    /// `POST /app/tickets/{id}/assign {holder}`.
    pub async fn assign(&self, ticket_id: &str, holder: &Person) -> Result<TicketState, AppError> {
        #[derive(Serialize)]
        struct Body<'a> {
            holder: &'a Person,
        }
        self.act(ticket_id, "assign", Some(&Body { holder })).await
    }

    /// `POST /app/tickets/{id}/transfer {to}`: to the recipient's email.
    pub async fn transfer(&self, ticket_id: &str, to_email: &str) -> Result<TicketState, AppError> {
        #[derive(Serialize)]
        struct Body<'a> {
            to: &'a str,
        }
        self.act(ticket_id, "transfer", Some(&Body { to: to_email }))
            .await
    }

    /// `POST /app/tickets/{id}/accept`: by the transfer's recipient.
    pub async fn accept(&self, ticket_id: &str) -> Result<TicketState, AppError> {
        self.act::<()>(ticket_id, "accept", None).await
    }

    /// `POST /app/tickets/{id}/reject`: by the transfer's recipient.
    pub async fn reject(&self, ticket_id: &str) -> Result<TicketState, AppError> {
        self.act::<()>(ticket_id, "reject", None).await
    }

    /// `POST /app/tickets/{id}/cancel-transfer`: by the owner.
    pub async fn cancel_transfer(&self, ticket_id: &str) -> Result<TicketState, AppError> {
        self.act::<()>(ticket_id, "cancel-transfer", None).await
    }

    /// `POST /app/tickets/{id}/activate {method, code?}`; `manual` needs a code.
    pub async fn activate(
        &self,
        ticket_id: &str,
        method: ActivationMethod,
        code: Option<&str>,
    ) -> Result<TicketState, AppError> {
        #[derive(Serialize)]
        struct Body<'a> {
            method: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            code: Option<&'a str>,
        }
        self.act(
            ticket_id,
            "activate",
            Some(&Body {
                method: method.as_str(),
                code,
            }),
        )
        .await
    }

    /// `POST /app/tickets/{id}/deactivate`.
    pub async fn deactivate(&self, ticket_id: &str) -> Result<TicketState, AppError> {
        self.act::<()>(ticket_id, "deactivate", None).await
    }
}

/// Organizer-side reads over the interface's client.
impl WalletClient {
    /// `GET /organizer/tickets?limit=&offset=`: one page of the organizer's tickets
    /// (states without history), ordered by ticket id. The wallet caps `limit` at 1,000.
    pub async fn list_tickets(
        &self,
        limit: usize,
        offset: usize,
    ) -> Result<TicketList, ClientError> {
        let url = format!("{}?limit={limit}&offset={offset}", self.tickets_url);
        let answer = self.send(Repeat::Always, || self.http().get(&url)).await?;
        crate::parse_answer(answer)
    }

    /// [`WalletClient::diff`]'s page as its JSON body, unparsed: a reader may take the
    /// next key from it ([`peek_next_page_key`]) and ask for the next page before
    /// parsing this one.
    pub async fn diff_raw(&self, key: &str, limit: usize) -> Result<Vec<u8>, ClientError> {
        let url = format!("{}/diff", self.tickets_url);
        let limit = limit.to_string();
        let answer = self
            .send(Repeat::Always, || {
                self.http()
                    .get(&url)
                    .query(&[("paginationKey", key), ("limit", limit.as_str())])
            })
            .await?;
        if !answer.status.is_success() {
            let status = answer.status;
            return Err(crate::parse_answer::<serde_json::Value>(answer)
                .err()
                .unwrap_or_else(|| ClientError::BadResponse(format!("status {status}"))));
        }
        Ok(Vec::from(answer.body))
    }
}

/// The `nextPageKey` of a change-feed page's JSON body, read from its end without
/// parsing the tickets (the service writes it last). `None` when it is not found
/// there; the full parse must then be used. A reader that pipelines with it must check
/// it against the parsed page.
pub fn peek_next_page_key(body: &[u8]) -> Option<String> {
    const NAME: &[u8] = b"\"nextPageKey\"";
    let tail_start = body.len().saturating_sub(4096);
    let tail = &body[tail_start..];
    let at = tail.windows(NAME.len()).rposition(|w| w == NAME)?;
    let rest = &tail[at + NAME.len()..];
    let colon = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    if rest[colon] != b':' {
        return None;
    }
    let mut de = serde_json::Deserializer::from_slice(&rest[colon + 1..]);
    <String as serde::Deserialize>::deserialize(&mut de).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tixbridge_core::api::DiffPage;

    fn client() -> AppClient {
        AppClient::new("http://127.0.0.1:1", Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn ticket_ids_are_one_encoded_segment() {
        let c = client();
        let u = c
            .url(&["app", "tickets", "A B/1+2%?#(x)*.y", "download"])
            .unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:1/app/tickets/A%20B%2F1+2%25%3F%23(x)*.y/download"
        );
        // A base with a path keeps it; a trailing slash does not double.
        let c = AppClient::new("http://h:8/wallet/", Duration::from_secs(1)).unwrap();
        assert_eq!(
            c.url(&["app", "session"]).unwrap().as_str(),
            "http://h:8/wallet/app/session"
        );
    }

    #[test]
    fn dot_ids_and_bad_urls_are_refused_before_sending() {
        let c = client();
        for id in [".", "..", ""] {
            let e = c.url(&["app", "tickets", id, "download"]).unwrap_err();
            assert_eq!(e.code(), "CLIENT_USAGE", "{id:?}");
        }
        assert!(c.url(&["app", "tickets", "...", "x"]).is_ok());
        assert!(AppClient::new("ftp://h", Duration::from_secs(1)).is_err());
        assert!(AppClient::new("not a url", Duration::from_secs(1)).is_err());
    }

    #[test]
    fn refusals_are_told_from_failures() {
        let r = |status: u16| AppError::Refused {
            status,
            code: "X".into(),
            message: String::new(),
        };
        assert!(r(409).is_refusal() && r(403).is_refusal() && r(404).is_refusal());
        assert!(!r(401).is_refusal() && !r(429).is_refusal() && !r(500).is_refusal());
        assert_eq!(r(409).code(), "X");
        assert!(!AppError::Timeout(Duration::from_secs(1)).is_refusal());
    }

    #[test]
    fn the_next_key_is_read_from_the_end() {
        let page = DiffPage {
            head_key: Some("99".into()),
            tickets: vec![],
            privileges: vec![],
            next_page_key: "12\"3".into(),
        };
        let body = serde_json::to_vec(&page).unwrap();
        assert_eq!(peek_next_page_key(&body).as_deref(), Some("12\"3"));
        let spaced = br#"{"tickets": [{"x": "\"nextPageKey\": \"9\""}], "nextPageKey" : "41"}"#;
        assert_eq!(peek_next_page_key(spaced).as_deref(), Some("41"));
        assert_eq!(peek_next_page_key(br#"{"tickets": []}"#), None);
    }

    #[tokio::test]
    async fn an_unreachable_wallet_is_named() {
        let no_retry = RetryPolicy {
            retries: 0,
            ..APP_RETRY
        };
        let e = client()
            .with_retry(no_retry)
            .session("a@example.org", None)
            .await
            .unwrap_err();
        assert!(matches!(e, AppError::Unreachable { .. }), "{e}");
        assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
    }
}
