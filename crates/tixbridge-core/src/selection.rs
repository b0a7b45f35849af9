//! Force and skip lists (DOMAIN.md §5): `id:<ticketId>` names a ticket by id, a bare
//! entry names it by tax number; both may be mixed.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRefs {
    pub ids: BTreeSet<i64>,
    pub tax_numbers: BTreeSet<String>,
}

impl TicketRefs {
    /// Parses a comma-separated list. An `id:` entry must be a whole number; the error
    /// names the entry.
    pub fn parse(list: &str) -> Result<TicketRefs, String> {
        let mut refs = TicketRefs::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if let Some(id) = entry
                .strip_prefix("id:")
                .or_else(|| entry.strip_prefix("ID:"))
            {
                let id = id.trim();
                let n = id.parse::<i64>().map_err(|_| {
                    format!("entry {entry:?}: a ticket id after \"id:\" must be a whole number")
                })?;
                refs.ids.insert(n);
            } else {
                refs.tax_numbers.insert(entry.to_owned());
            }
        }
        Ok(refs)
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.tax_numbers.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ids.len() + self.tax_numbers.len()
    }

    pub fn contains(&self, id: i64, tax_number: &str) -> bool {
        self.ids.contains(&id) || self.tax_numbers.contains(tax_number)
    }

    /// Back to the list form, ids first.
    pub fn to_list(&self) -> String {
        self.ids
            .iter()
            .map(|i| format!("id:{i}"))
            .chain(self.tax_numbers.iter().cloned())
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_and_tax_numbers_mix() {
        let r = TicketRefs::parse("id:123456789, 12300123 ,,id: 7").unwrap();
        assert!(r.contains(123456789, "x"));
        assert!(r.contains(7, "x"));
        assert!(r.contains(1, "12300123"));
        assert!(!r.contains(1, "123456789"));
        assert_eq!(r.len(), 3);
        assert!(TicketRefs::parse("").unwrap().is_empty());
    }

    #[test]
    fn a_bad_id_is_named() {
        let e = TicketRefs::parse("1, id:abc").unwrap_err();
        assert!(e.contains("\"id:abc\""), "{e}");
    }

    proptest! {
        #[test]
        fn list_form_round_trips(ids in proptest::collection::btree_set(0i64..1_000_000_000, 0..10),
                                 taxes in proptest::collection::btree_set("[A-Z0-9]{1,12}", 0..10)) {
            let refs = TicketRefs { ids, tax_numbers: taxes };
            prop_assert_eq!(TicketRefs::parse(&refs.to_list()).unwrap(), refs);
        }
    }
}
