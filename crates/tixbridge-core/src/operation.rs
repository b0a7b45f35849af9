//! Ticketing operations (DOMAIN.md §2; issue 8): what an operator does to tickets
//! already issued, which statuses allow it, and the causes it is given.
//!
//! Cancel, invalidate and reprint are built; control and resale follow the same shape
//! (one transaction per command, a history row per ticket).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cause::Cause;
use crate::status::TicketingStatus;

/// The causes every organization knows (DOMAIN.md §2); an organization adds its own
/// (`tixbridge causes add`).
pub const DEFAULT_CAUSES: [&str; 7] = [
    "REFUND",
    "REPRINT",
    "THEFT",
    "RESEATING",
    "RESALE_PENDING",
    "RESOLD",
    "RESALE_CANCELLED",
];

/// An operation on issued tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operation {
    /// Cancels the sale (a refund, for instance): `CANCELLED` with a cause.
    Cancel,
    /// Invalidates the ticket (stolen, reseated…): `INVALIDATED` with a cause.
    Invalidate,
    /// Reprints the ticket (DOMAIN.md §2): the old one becomes `INVALIDATED` (cause
    /// `REPRINT` unless another is given) and a new `NOT_PRINTED` ticket replaces it,
    /// same seat, contact and catalog entries, with a new ticket id, tax number and
    /// barcode.
    Reprint,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Cancel => "CANCEL",
            Operation::Invalidate => "INVALIDATE",
            Operation::Reprint => "REPRINT",
        }
    }

    /// The status a ticket ends in.
    pub fn target(self) -> TicketingStatus {
        match self {
            Operation::Cancel => TicketingStatus::Cancelled,
            Operation::Invalidate | Operation::Reprint => TicketingStatus::Invalidated,
        }
    }

    /// Whether a ticket in `status` allows the operation: only a live ticket
    /// (`NOT_PRINTED` or `PRINTED`) is cancelled, invalidated or reprinted. The refusal
    /// says why, in the words a box-office operator needs.
    pub fn check(self, status: TicketingStatus) -> Result<(), String> {
        let verb = match self {
            Operation::Cancel => "cancelled",
            Operation::Invalidate => "invalidated",
            Operation::Reprint => "reprinted",
        };
        match status {
            TicketingStatus::NotPrinted | TicketingStatus::Printed => Ok(()),
            TicketingStatus::Controlled => Err(format!(
                "it is CONTROLLED: it was scanned at the gate and cannot be {verb}"
            )),
            TicketingStatus::Cancelled if self == Operation::Reprint => {
                Err("it is CANCELLED: a cancelled ticket cannot be reprinted".into())
            }
            TicketingStatus::Cancelled | TicketingStatus::Invalidated => {
                Err(format!("it is already {status}"))
            }
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Operation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "CANCEL" => Ok(Operation::Cancel),
            "INVALIDATE" => Ok(Operation::Invalidate),
            "REPRINT" => Ok(Operation::Reprint),
            other => Err(format!("unknown operation {other:?}")),
        }
    }
}

/// A ticket as an operator names it: `id:<ticketId>`, or a tax number or a barcode
/// (the tax number is tried first).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TicketRef {
    Id(i64),
    Number(String),
}

impl TicketRef {
    /// Parses one entry; the error names it.
    pub fn parse(entry: &str) -> Result<TicketRef, String> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err("an empty ticket reference".into());
        }
        match entry
            .strip_prefix("id:")
            .or_else(|| entry.strip_prefix("ID:"))
        {
            Some(id) => id.trim().parse().map(TicketRef::Id).map_err(|_| {
                format!("{entry:?}: a ticket id after \"id:\" must be a whole number")
            }),
            None => Ok(TicketRef::Number(entry.to_owned())),
        }
    }
}

impl fmt::Display for TicketRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TicketRef::Id(id) => write!(f, "id:{id}"),
            TicketRef::Number(n) => f.write_str(n),
        }
    }
}

/// Checks a cause against the organization's list (`known`, normalised): an unknown
/// cause is refused listing the known ones.
pub fn check_cause(cause: &Cause, known: &[Cause]) -> Result<(), String> {
    if known.contains(cause) {
        return Ok(());
    }
    let list: Vec<&str> = known.iter().map(Cause::as_str).collect();
    Err(format!(
        "unknown cause {cause}: the organization's causes are {} (`tixbridge causes add` adds one)",
        list.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_live_tickets_are_cancelled_or_invalidated() {
        for op in [Operation::Cancel, Operation::Invalidate] {
            assert!(op.check(TicketingStatus::NotPrinted).is_ok());
            assert!(op.check(TicketingStatus::Printed).is_ok());
            let e = op.check(TicketingStatus::Controlled).unwrap_err();
            assert!(e.contains("CONTROLLED"), "{e}");
            let e = op.check(TicketingStatus::Cancelled).unwrap_err();
            assert_eq!(e, "it is already CANCELLED");
            assert_eq!(op.as_str().parse::<Operation>(), Ok(op));
        }
        assert_eq!(Operation::Cancel.target(), TicketingStatus::Cancelled);
        assert_eq!(Operation::Invalidate.target(), TicketingStatus::Invalidated);
        assert_eq!(Operation::Reprint.target(), TicketingStatus::Invalidated);
        let e = Operation::Reprint
            .check(TicketingStatus::Cancelled)
            .unwrap_err();
        assert_eq!(e, "it is CANCELLED: a cancelled ticket cannot be reprinted");
        assert_eq!("REPRINT".parse::<Operation>(), Ok(Operation::Reprint));
    }

    #[test]
    fn references_and_causes() {
        assert_eq!(TicketRef::parse(" id:42 "), Ok(TicketRef::Id(42)));
        assert_eq!(TicketRef::parse("TX1"), Ok(TicketRef::Number("TX1".into())));
        assert!(TicketRef::parse("id:x").unwrap_err().contains("\"id:x\""));
        assert!(TicketRef::parse(" ").is_err());
        let known: Vec<Cause> = DEFAULT_CAUSES
            .iter()
            .filter_map(|c| Cause::parse(c))
            .collect();
        assert!(check_cause(&Cause::parse("refund").unwrap(), &known).is_ok());
        let e = check_cause(&Cause::parse("lost").unwrap(), &known).unwrap_err();
        assert!(
            e.starts_with("unknown cause LOST: the organization's causes are REFUND, REPRINT"),
            "{e}"
        );
    }
}
