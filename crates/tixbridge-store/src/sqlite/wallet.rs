//! sqlite backend of the wallet store (in progress).

use std::sync::Arc;

use crate::{Result, StoreError, WalletStore};

/// Opens the wallet store.
pub async fn open_wallet(path: &std::path::Path) -> Result<Arc<dyn WalletStore>> {
    let _ = path;
    Err(StoreError::Backend(
        "the sqlite wallet store is not built yet".into(),
    ))
}
