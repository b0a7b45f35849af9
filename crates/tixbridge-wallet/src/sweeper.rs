//! The service's own work: pending transfers that time out (`FAILURE`) and pending
//! deletions to confirm (`DELETED`). Both are rows with a `due_at`; the sweeper reads
//! the due ones by that index, applies the action as `SYSTEM` through the same state
//! machine as every other change (so each is one chained log entry), and sleeps when
//! nothing is due. Because the due time is stored, work left pending when the service
//! stopped is done as soon as it starts again.
//!
//! Several service processes on one PostgreSQL database may sweep at once: the state
//! machine re-checks each action under the organizer's lock, so the second attempt is
//! refused and changes nothing.
//!
//! The sweeper's work is background work: a confirmation stands for a phone syncing, a
//! time-out for a transfer nobody answered, and neither is late by a second. While the
//! API is writing (a `POST` was answered since the previous round), the sweeper does
//! one batch per [`BUSY_PAUSE`] instead of batches back to back, so that a mass
//! deletion is not slowed by confirming its own first deletions; it is never starved
//! (at least [`SWEEP_BATCH`] tickets per pause), and catches up at full speed once the
//! API is quiet.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tixbridge_core::lifecycle::{Action, Caller, Op, Refusal, Settings};
use tixbridge_core::status::WalletStatus;
use tixbridge_store::{DueTicket, WalletStore};

use crate::metrics::Metrics;

/// Due tickets taken per round.
pub const SWEEP_BATCH: usize = 500;

/// The wait between two rounds while the API is writing.
pub const BUSY_PAUSE: Duration = Duration::from_secs(1);

/// One round: applies every due action found (at most [`SWEEP_BATCH`]) and answers
/// how many tickets changed.
pub async fn sweep_once(
    store: &dyn WalletStore,
    settings: Settings,
) -> tixbridge_store::Result<SweepRound> {
    let now = chrono::Utc::now();
    let due = store.due(now, SWEEP_BATCH).await?;
    let mut round = SweepRound {
        found: due.len(),
        ..Default::default()
    };
    let mut by_org: BTreeMap<i64, Vec<Op>> = BTreeMap::new();
    for DueTicket {
        organizer_id,
        ticket_id,
        status,
    } in due
    {
        let action = match status {
            // A controlled ticket in transit times out like a pending transfer.
            WalletStatus::PendingTransfer | WalletStatus::Controlled => Action::TimeOut,
            WalletStatus::DeletionPending => Action::ConfirmDeletion,
            _ => continue,
        };
        by_org.entry(organizer_id).or_default().push(Op {
            ticket_id,
            caller: Caller::System,
            action,
        });
    }
    for (org, ops) in by_org {
        let kinds: Vec<bool> = ops.iter().map(|o| o.action == Action::TimeOut).collect();
        let results = match store.apply(org, ops.clone(), now, settings).await {
            Ok(r) => r,
            Err(e) => {
                // One unreadable row must not stop the service's work for everyone:
                // retry one ticket at a time, and leave the failing ones (logged) for
                // an operator.
                tracing::warn!(organizer = org, error = %e, "sweeper batch failed; retrying ticket by ticket");
                let mut one_by_one = Vec::with_capacity(ops.len());
                for op in ops {
                    let id = op.ticket_id.clone();
                    match store.apply(org, vec![op], now, settings).await {
                        Ok(mut r) if r.len() == 1 => one_by_one.push(r.remove(0)),
                        Ok(_) => one_by_one.push(Err(Refusal::not_found(&id))),
                        Err(e) => {
                            tracing::error!(organizer = org, ticket = %id, error = %e, "sweeper cannot apply a due action");
                            one_by_one.push(Err(Refusal::not_found(&id)));
                        }
                    }
                }
                one_by_one
            }
        };
        for (timeout, r) in kinds.into_iter().zip(results) {
            match (timeout, r) {
                (true, Ok(_)) => round.timed_out += 1,
                (false, Ok(_)) => round.confirmed += 1,
                // Changed meanwhile (accepted, already confirmed by another process).
                (_, Err(_)) => round.skipped += 1,
            }
        }
    }
    // Privileges: deletions only (they are never transferred).
    let privileges = match store.confirm_due_privileges(now, SWEEP_BATCH).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "sweeper could not confirm privilege deletions");
            0
        }
    };
    round.found += privileges;
    round.confirmed += privileges;
    Ok(round)
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepRound {
    pub found: usize,
    pub timed_out: usize,
    pub confirmed: usize,
    pub skipped: usize,
}

/// Sweeps until `stop` turns true: at once after a full batch while the API is quiet,
/// after [`BUSY_PAUSE`] while it writes, else every `interval`.
pub async fn run(
    store: Arc<dyn WalletStore>,
    settings: Settings,
    interval: Duration,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut writes = metrics.write_requests();
    loop {
        if *stop.borrow() {
            return;
        }
        let full = match sweep_once(&*store, settings).await {
            Ok(r) => {
                if r.timed_out > 0 {
                    metrics.add(
                        "sweeper_transfers_timed_out_total",
                        "Pending transfers that timed out to FAILURE.",
                        &[],
                        r.timed_out as u64,
                    );
                }
                if r.confirmed > 0 {
                    metrics.add(
                        "sweeper_deletions_confirmed_total",
                        "Deletions confirmed to DELETED.",
                        &[],
                        r.confirmed as u64,
                    );
                }
                if r.found > 0 {
                    tracing::info!(
                        timed_out = r.timed_out,
                        confirmed = r.confirmed,
                        skipped = r.skipped,
                        "sweeper round"
                    );
                }
                r.found >= SWEEP_BATCH
            }
            Err(e) => {
                tracing::warn!(error = %e, "sweeper round failed; retrying");
                false
            }
        };
        let now_writes = metrics.write_requests();
        let busy = now_writes != writes;
        writes = now_writes;
        let pause = match (full, busy) {
            (true, false) => continue,
            (true, true) => BUSY_PAUSE.max(interval),
            (false, _) => interval,
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => {}
        }
    }
}
