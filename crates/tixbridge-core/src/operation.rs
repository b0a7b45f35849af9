//! Ticketing operations (DOMAIN.md §2; issue 8): what an operator does to tickets
//! already issued, which statuses allow it, and the causes it is given.
//!
//! Each is one transaction per command with a history row per ticket: cancel,
//! invalidate, reprint, control (a gate scan) and the three resale steps.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
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

/// The cause of a ticket posted for resale.
pub const RESALE_PENDING: &str = "RESALE_PENDING";

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
    /// A gate scan: `CONTROLLED` at the scan time (see [`judge_scan`]).
    Control,
    /// Posting a ticket on the resale platform (DOMAIN.md §2): `INVALIDATED`, cause
    /// `RESALE_PENDING`.
    ResalePost,
    /// The posted ticket is sold: its cause becomes `RESOLD`, and a new ticket is
    /// issued for the buyer (a reprint to the buyer, who becomes its cultural contact).
    ResaleSold,
    /// The posting is withdrawn: its cause becomes `RESALE_CANCELLED`, and the ticket is
    /// given back (a reprint to the seller).
    ResaleWithdraw,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Cancel => "CANCEL",
            Operation::Invalidate => "INVALIDATE",
            Operation::Reprint => "REPRINT",
            Operation::Control => "CONTROL",
            Operation::ResalePost => "RESALE_POST",
            Operation::ResaleSold => "RESALE_SOLD",
            Operation::ResaleWithdraw => "RESALE_WITHDRAW",
        }
    }

    /// The status a ticket ends in.
    pub fn target(self) -> TicketingStatus {
        match self {
            Operation::Cancel => TicketingStatus::Cancelled,
            Operation::Control => TicketingStatus::Controlled,
            Operation::Invalidate
            | Operation::Reprint
            | Operation::ResalePost
            | Operation::ResaleSold
            | Operation::ResaleWithdraw => TicketingStatus::Invalidated,
        }
    }

    /// The cause a resale step always gives (DOMAIN.md §2); `None` for the operations
    /// whose cause the operator chooses.
    pub fn resale_cause(self) -> Option<&'static str> {
        match self {
            Operation::ResalePost => Some(RESALE_PENDING),
            Operation::ResaleSold => Some("RESOLD"),
            Operation::ResaleWithdraw => Some("RESALE_CANCELLED"),
            _ => None,
        }
    }

    /// Whether the operation issues a new ticket in place of the old one (a reprint,
    /// to the buyer or back to the seller for the resale steps that end a posting).
    pub fn issues_new_ticket(self) -> bool {
        matches!(
            self,
            Operation::Reprint | Operation::ResaleSold | Operation::ResaleWithdraw
        )
    }

    /// Whether a ticket in `status` with cause `current` allows the operation given
    /// cause `requested`: [`Operation::check`], except that a ticket already cancelled
    /// (or invalidated) is cancelled (invalidated) again with another cause — the way an
    /// operator corrects a cause (`REFUND` → `THEFT`), which Push Cancelled then pushes
    /// again (DOMAIN.md §5.3).
    pub fn allows(
        self,
        status: TicketingStatus,
        current: Option<&Cause>,
        requested: &Cause,
    ) -> Result<(), String> {
        let corrects_cause =
            matches!(self, Operation::Cancel | Operation::Invalidate) && status == self.target();
        match (corrects_cause, current) {
            (true, Some(c)) if c == requested => {
                Err(format!("it is already {status} with cause {c}"))
            }
            (true, _) => Ok(()),
            (false, _) => self.check(status, current),
        }
    }

    /// Whether a ticket in `status` with `cause` allows the operation: only a live
    /// ticket (`NOT_PRINTED` or `PRINTED`) is cancelled, invalidated, reprinted or
    /// posted for resale; only a ticket posted for resale (`INVALIDATED`,
    /// `RESALE_PENDING`) is sold or withdrawn. The refusal says why, in the words a
    /// box-office operator needs.
    pub fn check(self, status: TicketingStatus, cause: Option<&Cause>) -> Result<(), String> {
        if matches!(self, Operation::ResaleSold | Operation::ResaleWithdraw) {
            let posted = status == TicketingStatus::Invalidated
                && cause.is_some_and(|c| c.as_str() == RESALE_PENDING);
            return if posted {
                Ok(())
            } else {
                let cause = cause.map(|c| format!(", cause {c}")).unwrap_or_default();
                Err(format!(
                    "it is {status}{cause}: only a ticket posted for resale \
                     (INVALIDATED, cause {RESALE_PENDING}) is sold or withdrawn"
                ))
            };
        }
        let verb = match self {
            Operation::Cancel => "cancelled",
            Operation::Invalidate => "invalidated",
            Operation::Reprint => "reprinted",
            Operation::Control => "controlled again",
            _ => "posted for resale",
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
            "CONTROL" => Ok(Operation::Control),
            "RESALE_POST" => Ok(Operation::ResalePost),
            "RESALE_SOLD" => Ok(Operation::ResaleSold),
            "RESALE_WITHDRAW" => Ok(Operation::ResaleWithdraw),
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

/// A ticket as a gate scan finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedTicket {
    pub ticket_id: i64,
    pub status: TicketingStatus,
    pub cause: Option<Cause>,
    /// The code of its performance, if it has one.
    pub performance: Option<String>,
    /// Its recorded scan time, when controlled.
    pub controlled_at: Option<DateTime<Utc>>,
}

/// What a gate scan does (issue 8): the answer a gate operator, or the report of an
/// uploaded scan file, gives for one scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScanOutcome {
    /// The ticket becomes `CONTROLLED`, scanned at the scan time.
    Controlled,
    /// A later scan of a controlled ticket: the first scan's time stays.
    AlreadyControlled { first_scan: DateTime<Utc> },
    /// An earlier scan than the recorded one (a file uploaded late, out of order): the
    /// earliest scan wins.
    EarlierScan { replaced: DateTime<Utc> },
    /// A file's scan of a ticket cancelled or invalidated meanwhile (an offline gate
    /// admitted it): recorded and reported, the ticket not made controlled.
    AdmittedWhileCancelled {
        status: TicketingStatus,
        cause: Option<Cause>,
    },
    /// No entry: the reason, as a gate operator needs it.
    Refused { reason: String },
}

/// Judges one scan of `barcode` at `at`, at a gate of `gate_performance` when known.
/// `live` is a scan at a gate now (refuse entry to a cancelled ticket or a second
/// entry); a scan from a file (`live` false) reports what the gate did instead.
pub fn judge_scan(
    barcode: &str,
    at: DateTime<Utc>,
    gate_performance: Option<&str>,
    ticket: Option<&ScannedTicket>,
    live: bool,
) -> ScanOutcome {
    let refused = |reason: String| ScanOutcome::Refused { reason };
    let Some(t) = ticket else {
        return refused(format!("unknown barcode {barcode}: no ticket holds it"));
    };
    if let Some(gate) = gate_performance
        && t.performance.as_deref() != Some(gate)
    {
        let of = t.performance.as_deref().unwrap_or("no performance");
        return refused(format!(
            "ticket {} is for {of}, not for this gate's performance {gate}",
            t.ticket_id
        ));
    }
    match t.status {
        TicketingStatus::NotPrinted | TicketingStatus::Printed => ScanOutcome::Controlled,
        TicketingStatus::Controlled => match t.controlled_at {
            Some(first) if at < first && !live => ScanOutcome::EarlierScan { replaced: first },
            Some(first) if live => refused(format!(
                "ticket {} was already scanned at {}: no second entry",
                t.ticket_id,
                first.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
            Some(first) => ScanOutcome::AlreadyControlled { first_scan: first },
            // Controlled by an import, without a scan time: this scan gives it one.
            None => ScanOutcome::EarlierScan { replaced: at },
        },
        TicketingStatus::Cancelled | TicketingStatus::Invalidated if live => {
            let cause = t
                .cause
                .as_ref()
                .map_or(String::new(), |c| format!(" ({c})"));
            refused(format!(
                "ticket {} is {}{cause}: no entry",
                t.ticket_id, t.status
            ))
        }
        TicketingStatus::Cancelled | TicketingStatus::Invalidated => {
            ScanOutcome::AdmittedWhileCancelled {
                status: t.status,
                cause: t.cause.clone(),
            }
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
            assert!(op.check(TicketingStatus::NotPrinted, None).is_ok());
            assert!(op.check(TicketingStatus::Printed, None).is_ok());
            let e = op.check(TicketingStatus::Controlled, None).unwrap_err();
            assert!(e.contains("CONTROLLED"), "{e}");
            let e = op.check(TicketingStatus::Cancelled, None).unwrap_err();
            assert_eq!(e, "it is already CANCELLED");
            assert_eq!(op.as_str().parse::<Operation>(), Ok(op));
        }
        assert_eq!(Operation::Cancel.target(), TicketingStatus::Cancelled);
        assert_eq!(Operation::Invalidate.target(), TicketingStatus::Invalidated);
        assert_eq!(Operation::Reprint.target(), TicketingStatus::Invalidated);
        let e = Operation::Reprint
            .check(TicketingStatus::Cancelled, None)
            .unwrap_err();
        assert_eq!(e, "it is CANCELLED: a cancelled ticket cannot be reprinted");
        assert_eq!("REPRINT".parse::<Operation>(), Ok(Operation::Reprint));
    }

    #[test]
    fn a_cause_is_corrected_by_the_same_operation_with_another_cause() {
        let refund = Cause::parse("REFUND").unwrap();
        let theft = Cause::parse("THEFT").unwrap();
        let cancelled = TicketingStatus::Cancelled;
        assert!(
            Operation::Cancel
                .allows(cancelled, Some(&refund), &theft)
                .is_ok()
        );
        let e = Operation::Cancel.allows(cancelled, Some(&refund), &refund);
        assert_eq!(e.unwrap_err(), "it is already CANCELLED with cause REFUND");
        let e = Operation::Invalidate.allows(cancelled, Some(&refund), &theft);
        assert_eq!(e.unwrap_err(), "it is already CANCELLED");
        let invalid = TicketingStatus::Invalidated;
        assert!(
            Operation::Invalidate
                .allows(invalid, Some(&refund), &theft)
                .is_ok()
        );
        let e = Operation::Reprint.allows(invalid, Some(&refund), &theft);
        assert_eq!(e.unwrap_err(), "it is already INVALIDATED");
    }

    #[test]
    fn only_a_posted_ticket_is_sold_or_withdrawn() {
        let pending = Cause::parse(RESALE_PENDING).unwrap();
        let theft = Cause::parse("THEFT").unwrap();
        let post = Operation::ResalePost;
        assert!(post.check(TicketingStatus::Printed, None).is_ok());
        let e = post.check(TicketingStatus::Invalidated, Some(&pending));
        assert_eq!(e.unwrap_err(), "it is already INVALIDATED");
        for op in [Operation::ResaleSold, Operation::ResaleWithdraw] {
            assert!(
                op.check(TicketingStatus::Invalidated, Some(&pending))
                    .is_ok()
            );
            let e = op
                .check(TicketingStatus::Invalidated, Some(&theft))
                .unwrap_err();
            assert!(
                e.starts_with("it is INVALIDATED, cause THEFT: only a ticket posted"),
                "{e}"
            );
            let e = op.check(TicketingStatus::Printed, None).unwrap_err();
            assert!(e.starts_with("it is PRINTED: only"), "{e}");
            assert!(op.issues_new_ticket());
            assert_eq!(op.as_str().parse::<Operation>(), Ok(op));
        }
        assert!(!post.issues_new_ticket());
        let causes = [post, Operation::ResaleSold, Operation::ResaleWithdraw]
            .map(|op| op.resale_cause().unwrap());
        assert_eq!(causes, ["RESALE_PENDING", "RESOLD", "RESALE_CANCELLED"]);
    }

    #[test]
    fn scans_are_judged_as_a_gate_needs() {
        let t0 = DateTime::parse_from_rfc3339("2026-07-19T19:00:00Z")
            .unwrap()
            .to_utc();
        let t1 = t0 + chrono::Duration::minutes(5);
        let mut t = ScannedTicket {
            ticket_id: 7,
            status: TicketingStatus::Printed,
            cause: None,
            performance: Some("M64".into()),
            controlled_at: None,
        };
        let judge = |t: &ScannedTicket, at, gate, live| judge_scan("BC7", at, gate, Some(t), live);
        assert_eq!(judge(&t, t1, Some("M64"), true), ScanOutcome::Controlled);
        let other = judge(&t, t1, Some("M63"), true);
        assert!(
            matches!(other, ScanOutcome::Refused { reason } if reason.contains("is for M64, not for this gate's performance M63"))
        );
        t.status = TicketingStatus::Controlled;
        t.controlled_at = Some(t1);
        let again = judge(&t, t1, None, true);
        assert!(
            matches!(again, ScanOutcome::Refused { reason } if reason.contains("already scanned at 2026-07-19T19:05:00Z"))
        );
        assert_eq!(
            judge(&t, t0, None, false),
            ScanOutcome::EarlierScan { replaced: t1 }
        );
        assert_eq!(
            judge(&t, t1, None, false),
            ScanOutcome::AlreadyControlled { first_scan: t1 }
        );
        t.status = TicketingStatus::Cancelled;
        t.cause = Cause::parse("REFUND");
        let no = judge(&t, t1, None, true);
        assert!(
            matches!(no, ScanOutcome::Refused { reason } if reason == "ticket 7 is CANCELLED (REFUND): no entry")
        );
        assert!(matches!(
            judge(&t, t1, None, false),
            ScanOutcome::AdmittedWhileCancelled { .. }
        ));
        let unknown = judge_scan("NOPE", t1, None, None, true);
        assert!(
            matches!(unknown, ScanOutcome::Refused { reason } if reason.starts_with("unknown barcode NOPE"))
        );
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
