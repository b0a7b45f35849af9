//! postgres backend of the wallet store (in progress).

use std::sync::Arc;

use crate::{Result, StoreError, WalletStore};

/// Opens the wallet store.
pub async fn open_wallet(url: &str) -> Result<Arc<dyn WalletStore>> {
    let _ = url;
    Err(StoreError::Backend(
        "the postgres wallet store is not built yet".into(),
    ))
}
