//! Per-ticket errors of an execution: stored in chunks as they come (so a million
//! failures do not sit in memory), the first few kept for the report.

use std::sync::Arc;

use tixbridge_core::model::TicketError;
use tixbridge_store::TicketingStore;

/// Errors stored per write.
const CHUNK: usize = 500;

/// Collects an execution's per-ticket errors.
pub struct ErrorSink {
    store: Arc<dyn TicketingStore>,
    execution_id: i64,
    buffer: Vec<TicketError>,
    /// The first errors, for the report.
    pub first: Vec<TicketError>,
    keep: usize,
    /// Every error pushed so far.
    pub total: u64,
}

impl ErrorSink {
    /// A sink for the execution, keeping the first `keep` errors for the report.
    pub fn new(store: Arc<dyn TicketingStore>, execution_id: i64, keep: usize) -> Self {
        Self {
            store,
            execution_id,
            buffer: Vec::new(),
            first: Vec::new(),
            keep,
            total: 0,
        }
    }

    /// Adds an error; stores the buffer when a chunk is full.
    pub async fn push(&mut self, e: TicketError) -> anyhow::Result<()> {
        self.total += 1;
        if self.first.len() < self.keep {
            self.first.push(e.clone());
        }
        self.buffer.push(e);
        if self.buffer.len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    /// A sink writing to the same execution, with its own buffer and counts, for a
    /// task that runs beside the owner's; merge it back with [`ErrorSink::absorb`].
    pub fn detached(&self) -> ErrorSink {
        ErrorSink::new(self.store.clone(), self.execution_id, self.keep)
    }

    /// Takes in the counts and first errors of a detached sink (already stored).
    pub fn absorb(&mut self, other: ErrorSink) {
        self.total += other.total;
        for e in other.first {
            if self.first.len() < self.keep {
                self.first.push(e);
            }
        }
        if !other.buffer.is_empty() {
            tracing::warn!(lost = other.buffer.len(), "ticket errors were not stored");
        }
    }

    /// Stores what is buffered.
    pub async fn flush(&mut self) -> anyhow::Result<()> {
        if !self.buffer.is_empty() {
            let b = std::mem::take(&mut self.buffer);
            self.store
                .add_execution_errors(self.execution_id, b)
                .await?;
        }
        Ok(())
    }
}
