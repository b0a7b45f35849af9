//! `cause.rs`: normalised causes (DOMAIN.md §2, §5.3).

use tixbridge_core::cause::Cause;

fn cause(raw: &str) -> Cause {
    Cause::parse(raw).unwrap()
}

/// Exactly the three resale steps are resale causes, in any spelling that normalises
/// to them.
#[test]
fn the_resale_steps_are_recognised() {
    for raw in ["RESALE_PENDING", "resold", " Resale_Cancelled "] {
        assert!(cause(raw).is_resale(), "{raw}");
    }
    for raw in ["THEFT", "REPRINT", "resale pending", "RESALE"] {
        assert!(!cause(raw).is_resale(), "{raw}");
    }
}

#[test]
fn a_cause_displays_as_normalised() {
    assert_eq!(cause(" re print ").to_string(), "REPRINT");
    assert_eq!(format!("{}", cause("Theft")), "THEFT");
    assert!(Cause::parse("").is_none());
}
