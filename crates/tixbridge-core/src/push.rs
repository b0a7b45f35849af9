//! Push Cancelled's own rules (DOMAIN.md §5.3): which cause a deletion carries and
//! whether the deleted ticket stays visible on the phone.

use crate::cause::Cause;
use crate::params::CustomParams;
use crate::status::TicketingStatus;

/// The causes of the resale steps: a change from one to another is not pushed again
/// unless `excludeTicketResale=true` (DOMAIN.md §5.3).
pub const RESALE_CAUSES: [&str; 3] = ["RESALE_PENDING", "RESOLD", "RESALE_CANCELLED"];

/// The reason a deletion carries: the ticket's normalised cause, else its status
/// (`CANCELLED`, `INVALIDATED`) for a ticket imported without a cause.
pub fn deletion_reason(cause: Option<&Cause>, status: TicketingStatus) -> String {
    cause.map_or_else(|| status.as_str().to_owned(), |c| c.as_str().to_owned())
}

/// The visibility flag by the three-step rule (DOMAIN.md §5.3): a cause listed in
/// `overrideVisibilityFlagForInvalidationReasons` shows the deleted ticket; else the
/// schedule's notify-spectator box; else `visibilityFlagDefaultValue`.
pub fn show_deleted_ticket(
    cause: Option<&Cause>,
    notify_spectator: bool,
    params: &CustomParams,
) -> bool {
    if cause.is_some_and(|c| {
        params
            .override_visibility_flag_for_invalidation_reasons
            .contains(c)
    }) {
        return true;
    }
    notify_spectator || params.visibility_flag_default_value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cause(c: &str) -> Cause {
        Cause::parse(c).unwrap()
    }

    #[test]
    fn visibility_follows_the_three_steps() {
        let mut p = CustomParams::default();
        p.override_visibility_flag_for_invalidation_reasons
            .insert(cause("RESOLD"));
        // 1. a listed cause shows the ticket, whatever the rest says.
        assert!(show_deleted_ticket(Some(&cause("RESOLD")), false, &p));
        // 2. else the schedule's box.
        assert!(show_deleted_ticket(Some(&cause("REFUND")), true, &p));
        // 3. else the interface's default.
        assert!(!show_deleted_ticket(Some(&cause("REFUND")), false, &p));
        assert!(!show_deleted_ticket(None, false, &p));
        p.visibility_flag_default_value = true;
        assert!(show_deleted_ticket(Some(&cause("REFUND")), false, &p));
    }

    #[test]
    fn the_reason_is_the_cause_else_the_status() {
        let c = cause("theft");
        assert_eq!(
            deletion_reason(Some(&c), TicketingStatus::Invalidated),
            "THEFT"
        );
        assert_eq!(
            deletion_reason(None, TicketingStatus::Cancelled),
            "CANCELLED"
        );
    }
}
