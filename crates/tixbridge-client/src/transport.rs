//! Sending one call to the wallet, with retries: exponential backoff with jitter
//! ([`backon`]) over a bounded total time, `Retry-After` honoured in both of its forms
//! (seconds and HTTP date), and a pause shared by every call of one client when the
//! wallet says it is overloaded (`429`, or `503` with `Retry-After`).
//!
//! Which failures are retried depends on the call ([`Repeat`]): an idempotent call
//! (injection, deletion, control, privileges, reads — the contract makes repeating
//! them harmless) is retried after any transient failure, including a connection that
//! drops after the wallet applied it; a call that is not idempotent (the back-office
//! transfer, the app's actions) only when the wallet certainly did not act on it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use backon::{ExponentialBuilder, Retryable};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::time::Instant;

/// Longest pause the backoff itself grows to between two attempts. A `Retry-After`
/// may ask for longer, within the retry budget.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How a client retries transient failures. Part of [`crate::ClientOptions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most extra attempts of one call.
    pub retries: u32,
    /// Bound on the time one call spends retrying, from its first attempt: no pause
    /// that would end after it is started (so a `Retry-After` longer than what is left
    /// ends the call with the wallet's answer).
    pub retry_for: Duration,
    /// First pause; each next one doubles (at most 5 s), plus a random jitter of up to
    /// as much again, so that calls failing together do not come back together.
    pub backoff: Duration,
}

/// Whether a call may be sent again when the wallet may already have applied it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Repeat {
    /// Idempotent on the wallet (WALLET-API.md: injection, deletion, control,
    /// privileges; reads): every transient failure is retried.
    Always,
    /// Not idempotent (the back-office transfer, the app's actions): retried only
    /// when the wallet did not act on it — no connection was made, or it answered
    /// `429` / `503`.
    IfNotApplied,
}

/// A wallet answer read in full: its status and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: bytes::Bytes,
}

/// Why one attempt failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No connection could be opened (refused, unknown host): the wallet never saw
    /// the call. The text is the transport's reason.
    Connect(String),
    /// The connection broke after the call was sent, or in the middle of the answer:
    /// the wallet may have applied the call.
    Dropped(String),
    /// No complete answer within the client's time limit.
    Timeout,
    /// The wallet answered `429` or a `5xx`, with the pause its `Retry-After` asks for.
    Busy {
        answer: Answer,
        retry_after: Option<Duration>,
    },
}

impl Failure {
    fn from_transport(e: reqwest::Error) -> Failure {
        if e.is_timeout() {
            return Failure::Timeout;
        }
        // reqwest's message can include the URL but never the credentials.
        let mut reason = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            reason = format!("{reason}: {s}");
            src = s.source();
        }
        if e.is_connect() {
            Failure::Connect(reason)
        } else {
            Failure::Dropped(reason)
        }
    }

    /// The wallet may have applied the call (so only an idempotent one is resent).
    fn may_be_applied(&self) -> bool {
        match self {
            Failure::Connect(_) => false,
            Failure::Busy { answer, .. } => !is_overload(answer.status),
            Failure::Dropped(_) | Failure::Timeout => true,
        }
    }

    /// The wallet says it is overloaded: `429`, or `503` with a `Retry-After`. The
    /// pause then holds back every call of the client.
    fn is_overload_signal(&self) -> bool {
        match self {
            Failure::Busy {
                answer,
                retry_after,
            } => {
                answer.status == StatusCode::TOO_MANY_REQUESTS
                    || (answer.status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some())
            }
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Failure::Connect(r) => format!("cannot connect: {r}"),
            Failure::Dropped(r) => format!("the connection dropped: {r}"),
            Failure::Timeout => "no answer in time".to_owned(),
            Failure::Busy { answer, .. } => format!("the wallet answered {}", answer.status),
        }
    }
}

/// `429 Too Many Requests` and `503 Service Unavailable`: the wallet did not act.
fn is_overload(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
}

/// The pause a `Retry-After` header asks for (RFC 9110 §10.2.3): a number of seconds,
/// or an HTTP date (a date already past asks for none).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A pause shared by every call of one client: when the wallet answers `429` (or
/// `503` with `Retry-After`), no call of the client starts an attempt before the time
/// it asked for — not only the call that got the answer.
#[derive(Debug, Default)]
struct Gate {
    until: Mutex<Option<Instant>>,
}

impl Gate {
    fn hold_until(&self, t: Instant) {
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        if until.is_none_or(|u| u < t) {
            *until = Some(t);
        }
    }

    async fn pass(&self) {
        let until = *self.until.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = until {
            tokio::time::sleep_until(t).await;
        }
    }
}

/// Sends calls for one client: its HTTP connection pool, retry policy and shared
/// overload pause. Cheap to clone; clones share the pool and the pause.
#[derive(Debug, Clone)]
pub(crate) struct Sender {
    pub http: reqwest::Client,
    policy: RetryPolicy,
    gate: Arc<Gate>,
}

impl Sender {
    pub fn new(http: reqwest::Client, policy: RetryPolicy) -> Sender {
        Sender {
            http,
            policy,
            gate: Arc::default(),
        }
    }

    /// Sends the request `make` builds, again after each failure `repeat` allows, and
    /// answers the first answer that is neither `429` nor `5xx`, read in full; or the
    /// last failure.
    pub async fn send(
        &self,
        repeat: Repeat,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, Failure> {
        let deadline = Instant::now() + self.policy.retry_for;
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.policy.backoff)
            .with_max_delay(MAX_BACKOFF.max(self.policy.backoff))
            .with_max_times(self.policy.retries as usize);
        let attempt = || async {
            self.gate.pass().await;
            attempt(make()).await
        };
        attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|f: &Failure| repeat == Repeat::Always || !f.may_be_applied())
            .adjust(|f, next| self.pause(f, next?, deadline))
            .notify(|f, pause| {
                tracing::warn!(
                    error = %f.describe(),
                    pause_ms = pause.as_millis() as u64,
                    "wallet call failed; retrying"
                );
            })
            .await
    }

    /// The pause before the next attempt, `None` to give up: the wallet's
    /// `Retry-After` wins over the backoff's `next`; a 429 holds back every call.
    fn pause(&self, f: &Failure, next: Duration, deadline: Instant) -> Option<Duration> {
        let asked = match f {
            Failure::Busy { retry_after, .. } => *retry_after,
            _ => None,
        };
        let pause = asked.unwrap_or(next);
        let resume = Instant::now() + pause;
        if resume > deadline {
            return None;
        }
        if f.is_overload_signal() {
            self.gate.hold_until(resume);
        }
        Some(pause)
    }
}

/// One attempt: send, then read the whole answer (a body cut short is a dropped
/// connection, like a reset before the answer).
async fn attempt(req: reqwest::RequestBuilder) -> Result<Answer, Failure> {
    let resp = req.send().await.map_err(Failure::from_transport)?;
    let status = resp.status();
    let asked = retry_after(resp.headers());
    let body = resp.bytes().await.map_err(Failure::from_transport)?;
    let answer = Answer { status, body };
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Err(Failure::Busy {
            answer,
            retry_after: asked,
        });
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(retry_after(&headers("3")), Some(Duration::from_secs(3)));
        let later = SystemTime::now() + Duration::from_secs(10);
        let d = retry_after(&headers(&httpdate::fmt_http_date(later))).unwrap();
        assert!(
            d > Duration::from_secs(8) && d <= Duration::from_secs(10),
            "{d:?}"
        );
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
