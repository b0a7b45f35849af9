//! The execution's lease: a task renews it every third of its duration, storing the
//! counts so far with each renewal. If the store answers that the execution is no
//! longer this process's (it lapsed and another process recorded it as
//! interrupted), the execution stops. A process that dies stops renewing; its
//! execution is recovered by the next start of the schedule once the lease lapses.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::{CancellationToken, DropGuard};

use tixbridge_store::{StoreError, TicketingStore};

use super::counts::LiveCounts;
use super::stop::{Stop, StopReason};

/// The renewing task; dropping this (or the future holding it) ends it.
pub struct Heartbeat {
    _guard: DropGuard,
}

/// This process's identity as a lease owner: `host:pid:nanos`, unique per execution.
pub fn owner_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{host}:{}:{nanos:09}", std::process::id())
}

/// The lease of a running execution, as [`spawn`] needs it.
pub struct Lease {
    pub store: Arc<dyn TicketingStore>,
    pub execution_id: i64,
    pub owner: String,
    pub duration: Duration,
}

/// Starts renewing `lease` until the returned [`Heartbeat`] is dropped.
pub fn spawn(lease: Lease, counts: Arc<LiveCounts>, stop: Stop) -> Heartbeat {
    let done = CancellationToken::new();
    let ended = done.clone();
    tokio::spawn(async move {
        let every = lease.duration / 3;
        let length = chrono::Duration::from_std(lease.duration).unwrap_or(chrono::Duration::MAX);
        loop {
            tokio::select! {
                _ = ended.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let until = Utc::now() + length;
            let r = lease
                .store
                .renew_lease(lease.execution_id, &lease.owner, until, counts.snapshot())
                .await;
            match r {
                Ok(()) => {}
                // Ended meanwhile: the execution was recorded, nothing was lost.
                Err(_) if ended.is_cancelled() => return,
                Err(StoreError::Conflict(m)) => {
                    tracing::error!(execution = lease.execution_id, "{m}");
                    stop.stop(StopReason::LeaseLost(m));
                    return;
                }
                // A passing store failure: the next renewal may succeed before the lease
                // lapses (it is three renewals long).
                Err(e) => {
                    tracing::warn!(execution = lease.execution_id, error = %e, "renewing the lease failed")
                }
            }
        }
    });
    Heartbeat {
        _guard: done.drop_guard(),
    }
}
