//! Stopping an execution early, for whatever reason: the operator's signal (the
//! shutdown token given to [`super::run`]), a lost lease, `killRatio`, or a failure
//! that concerns the whole run. Every task of the execution watches one [`Stop`]:
//! sending stops, calls in flight finish, and what the wallet accepted is marked.

use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

use super::kill::KillVerdict;

/// Why an execution stopped before its end.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    /// Ctrl-C, SIGTERM, or the caller's shutdown token.
    Shutdown,
    /// The lease could not be renewed: the execution is no longer this process's.
    LeaseLost(String),
    /// The share of failed tickets exceeded `killRatio`.
    KillRatio(KillVerdict),
    /// A failure of the whole run (wallet down, store failure): the function says why.
    Fatal,
}

/// The stop signal of one execution: a child of the caller's shutdown token, so that
/// stopping one execution never stops the caller.
#[derive(Debug, Clone)]
pub struct Stop {
    token: CancellationToken,
    reason: Arc<OnceLock<StopReason>>,
}

impl Stop {
    /// A stop signal that also fires when `shutdown` is cancelled.
    pub fn new(shutdown: &CancellationToken) -> Self {
        Self {
            token: shutdown.child_token(),
            reason: Arc::default(),
        }
    }

    /// Stops the execution; the first reason given is the one kept.
    pub fn stop(&self, reason: StopReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    /// Whether the execution must stop sending (cheap: one atomic load).
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once the execution must stop.
    pub async fn stopped(&self) {
        self.token.cancelled().await
    }

    /// Why it stopped, if it did: a cancelled token without a reason is the caller's
    /// shutdown.
    pub fn reason(&self) -> Option<StopReason> {
        match self.reason.get() {
            Some(r) => Some(r.clone()),
            None => self.is_stopped().then_some(StopReason::Shutdown),
        }
    }
}
