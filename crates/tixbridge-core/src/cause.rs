//! Invalidation and cancellation causes, normalised (DOMAIN.md §2).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A normalised cause: spaces removed, upper case. `"resale pending"` → `RESALEPENDING`
/// (normalisation removes spaces; it does not insert underscores).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cause(String);

impl Cause {
    /// Normalises `raw`; `None` when nothing is left.
    pub fn parse(raw: &str) -> Option<Cause> {
        let s: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect();
        (!s.is_empty()).then_some(Cause(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The three causes of the resale steps (DOMAIN.md §5.3).
    pub fn is_resale(&self) -> bool {
        matches!(
            self.0.as_str(),
            "RESALE_PENDING" | "RESOLD" | "RESALE_CANCELLED"
        )
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples_of_the_domain() {
        assert_eq!(Cause::parse("Theft").unwrap().as_str(), "THEFT");
        assert_eq!(Cause::parse("rESEATING").unwrap().as_str(), "RESEATING");
        assert_eq!(
            Cause::parse("resale pending").unwrap().as_str(),
            "RESALEPENDING"
        );
        assert_eq!(
            Cause::parse("RESALE_PENDING").unwrap().as_str(),
            "RESALE_PENDING"
        );
        assert!(Cause::parse("   ").is_none());
    }

    proptest! {
        #[test]
        fn normalisation_is_idempotent(raw in "\\PC{0,30}") {
            if let Some(c) = Cause::parse(&raw) {
                prop_assert_eq!(Cause::parse(c.as_str()), Some(c.clone()));
                prop_assert!(!c.as_str().contains(char::is_whitespace));
            }
        }
    }
}
