//! The counts of a running execution (DOMAIN.md §5: selected, sent, succeeded,
//! failed, skipped; plus unsent), shared by the function's tasks, the lease heartbeat
//! (which stores them with each renewal) and the progress display.

use std::sync::atomic::{AtomicU64, Ordering};

use tixbridge_core::model::Counts;

/// Counters updated by every task of an execution; [`LiveCounts::snapshot`] reads them.
#[derive(Debug, Default)]
pub struct LiveCounts {
    selected: AtomicU64,
    sent: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
    unsent: AtomicU64,
}

/// Which count to add to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Selected,
    Sent,
    Succeeded,
    Failed,
    Skipped,
    Unsent,
}

impl LiveCounts {
    /// Adds `n` tickets to one count.
    pub fn add(&self, which: Count, n: u64) {
        let c = match which {
            Count::Selected => &self.selected,
            Count::Sent => &self.sent,
            Count::Succeeded => &self.succeeded,
            Count::Failed => &self.failed,
            Count::Skipped => &self.skipped,
            Count::Unsent => &self.unsent,
        };
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> Counts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            selected: get(&self.selected),
            sent: get(&self.sent),
            succeeded: get(&self.succeeded),
            failed: get(&self.failed),
            skipped: get(&self.skipped),
            unsent: get(&self.unsent),
        }
    }
}
