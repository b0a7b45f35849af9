//! sqlite backend of the ticketing store (in progress).

use std::sync::Arc;

use crate::{Result, StoreError, TicketingStore};

/// Opens the ticketing store.
pub async fn open_ticketing(path: &std::path::Path) -> Result<Arc<dyn TicketingStore>> {
    let _ = path;
    Err(StoreError::Backend(
        "the sqlite ticketing store is not built yet".into(),
    ))
}
