//! postgres backend of the ticketing store (in progress).

use std::sync::Arc;

use crate::{Result, StoreError, TicketingStore};

/// Opens the ticketing store.
pub async fn open_ticketing(url: &str) -> Result<Arc<dyn TicketingStore>> {
    let _ = url;
    Err(StoreError::Backend(
        "the postgres ticketing store is not built yet".into(),
    ))
}
