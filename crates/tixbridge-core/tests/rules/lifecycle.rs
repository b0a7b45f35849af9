//! `lifecycle.rs`: the wallet ticket's state machine (DOMAIN.md §3).

use chrono::{DateTime, Duration, Utc};
use tixbridge_core::api::{Person, TransferRules};
use tixbridge_core::ledger::format_at;
use tixbridge_core::lifecycle::{
    Action, Caller, Change, Facts, ILLEGAL_TRANSITION, INVALID_ACTION, Lifecycle, Outcome, Refusal,
    Settings, apply,
};
use tixbridge_core::status::WalletStatus::{self, *};

const OWNER: &str = "owner@example.org";
const FRIEND: &str = "friend@example.org";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn person(email: &str) -> Person {
    Person {
        email: Some(email.into()),
        ..Default::default()
    }
}

fn named(first: Option<&str>, last: Option<&str>) -> Person {
    Person {
        first_name: first.map(Into::into),
        last_name: last.map(Into::into),
        ..Default::default()
    }
}

fn facts(rules: TransferRules) -> Facts {
    Facts {
        rules,
        main_applicant: false,
        recipient_email: Some(OWNER.into()),
        event_expires: Some(t0() + Duration::days(30)),
    }
}

/// A ticket of OWNER in `status`.
fn at(status: WalletStatus) -> Lifecycle {
    Lifecycle {
        status,
        ..Lifecycle::injected(person(OWNER), &format_at(t0()))
    }
}

fn run(cur: &Lifecycle, f: &Facts, caller: &Caller, a: &Action) -> Outcome {
    apply("T1", cur, f, caller, a, t0(), &Settings::default())
}

fn owner_does(cur: &Lifecycle, a: Action) -> Outcome {
    run(
        cur,
        &facts(TransferRules::default()),
        &Caller::Spectator(OWNER.into()),
        &a,
    )
}

fn changed(o: Outcome) -> Change {
    match o {
        Outcome::Changed(c) => *c,
        o => panic!("expected a change, got {o:?}"),
    }
}

fn refused(o: Outcome) -> Refusal {
    match o {
        Outcome::Refused(r) => r,
        o => panic!("expected a refusal, got {o:?}"),
    }
}

fn assign(holder: Person) -> Action {
    Action::Assign { holder }
}

/// A holder needs a first or a last name; either one alone is enough.
#[test]
fn a_holder_with_only_a_first_or_only_a_last_name_is_assigned() {
    let cur = at(Downloaded);
    for holder in [named(Some("Zoe"), None), named(None, Some("Lee"))] {
        let c = changed(owner_does(&cur, assign(holder.clone())));
        assert_eq!(c.state.status, Assigned);
        assert_eq!(c.state.holder, Some(holder));
    }
    for holder in [named(None, None), named(Some(" "), Some(""))] {
        let r = refused(owner_does(&cur, assign(holder)));
        assert_eq!(r.code, INVALID_ACTION);
        assert!(
            r.message.contains("firstName or a lastName"),
            "{}",
            r.message
        );
    }
}

/// Assigning an assigned ticket to someone else changes its holder and is recorded;
/// assigning the same holder again changes nothing and records nothing.
#[test]
fn reassigning_changes_the_holder_and_a_repeat_records_nothing() {
    let first = changed(owner_does(
        &at(Downloaded),
        assign(named(Some("Zoe"), None)),
    ))
    .state;
    let again = owner_does(&first, assign(named(Some("Zoe"), None)));
    assert_eq!(again, Outcome::Unchanged);
    let c = changed(owner_does(&first, assign(named(Some("Max"), None))));
    assert_eq!((c.from_status, c.state.status), (Assigned, Assigned));
    assert_eq!(c.state.holder, Some(named(Some("Max"), None)));
    assert_eq!(c.action, "ASSIGN");
    // The same holder as a ticket not yet assigned (e.g. after a transfer back) is a
    // change: the status moves to ASSIGNED.
    let mut back = first.clone();
    back.status = Transferred;
    let c = changed(owner_does(&back, assign(named(Some("Zoe"), None))));
    assert_eq!((c.from_status, c.state.status), (Transferred, Assigned));
}

/// Only a ticket at rest on the owner's phone is assigned.
#[test]
fn assignment_needs_a_ticket_at_rest() {
    for s in [Downloaded, Assigned, Transferred, FailureTransfer, Failure] {
        let c = changed(owner_does(&at(s), assign(named(Some("Zoe"), None))));
        assert_eq!(c.state.status, Assigned, "{s}");
    }
    for s in [
        Injected,
        PendingTransfer,
        OnlineActivated,
        Deactivated,
        Controlled,
    ] {
        let r = refused(owner_does(&at(s), assign(named(Some("Zoe"), None))));
        assert_eq!(r.code, ILLEGAL_TRANSITION, "{s}");
    }
}

/// `allowTransferAfterControl` opens transfers of controlled tickets, not of tickets
/// never downloaded.
#[test]
fn allow_transfer_after_control_does_not_open_injected_tickets() {
    let rules = TransferRules {
        allow_transfer_after_control: true,
        ..TransferRules::default()
    };
    let f = facts(rules);
    let me = Caller::Spectator(OWNER.into());
    let to = Action::Transfer { to: person(FRIEND) };
    let r = refused(run(&at(Injected), &f, &me, &to));
    assert_eq!(r.code, ILLEGAL_TRANSITION);
    assert!(r.message.contains("download it first"), "{}", r.message);
    let c = changed(run(&at(Controlled), &f, &me, &to));
    assert_eq!(c.state.status, PendingTransfer);
}
