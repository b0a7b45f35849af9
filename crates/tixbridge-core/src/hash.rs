//! The track record's hash chain: `hash = SHA-256(prevHash ‖ canonical JSON of the entry)`.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// `prevHash` of the first entry of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed fields of one status-log entry. The canonical JSON is this struct
/// serialised with its fields in declaration order, no whitespace.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainedFields<'a> {
    pub seq: i64,
    pub at: &'a str,
    pub ticket_id: &'a str,
    pub action: &'a str,
    pub from_status: Option<&'a str>,
    pub to_status: &'a str,
    pub from_owner: Option<&'a str>,
    pub to_owner: Option<&'a str>,
    pub actor: &'a str,
    /// Absent from the JSON when `None`, so entries without detail hash as before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
}

/// Hex SHA-256 of `prev_hash` followed by the canonical JSON of `fields`.
pub fn entry_hash(prev_hash: &str, fields: &ChainedFields<'_>) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(serde_json::to_vec(fields).expect("entry fields serialise"));
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(seq: i64) -> ChainedFields<'static> {
        ChainedFields {
            seq,
            at: "2026-11-27T10:00:00Z",
            ticket_id: "T1",
            action: "INJECT",
            from_status: None,
            to_status: "INJECTED",
            from_owner: None,
            to_owner: Some("a@example.org"),
            actor: "ORGANIZER_API",
            detail: None,
        }
    }

    #[test]
    fn chain_depends_on_previous_hash_and_content() {
        let a = entry_hash(GENESIS_HASH, &fields(1));
        assert_eq!(a.len(), 64);
        assert_eq!(a, entry_hash(GENESIS_HASH, &fields(1)));
        assert_ne!(a, entry_hash(&a, &fields(1)));
        assert_ne!(a, entry_hash(GENESIS_HASH, &fields(2)));
    }
}
