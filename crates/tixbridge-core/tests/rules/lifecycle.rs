//! `lifecycle.rs`: the wallet ticket's state machine (DOMAIN.md §3).

use chrono::{DateTime, Duration, Utc};
use tixbridge_core::api::{Person, TransferRules};
use tixbridge_core::ledger::format_at;
use tixbridge_core::lifecycle::{
    Action, ActivationMethod, Caller, Change, Facts, ILLEGAL_TRANSITION, INVALID_ACTION, Lifecycle,
    Outcome, Refusal, Settings, TICKET_NOT_FOUND, TRANSFER_NOT_ALLOWED, apply,
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
/// never downloaded; a controlled ticket travels and stays controlled.
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
    assert_eq!(c.state.status, Controlled);
    assert!(c.state.in_transit(), "the controlled ticket is in transit");
}

/// Only a transfer reads the ticket's facts; each action has its track-record name.
#[test]
fn action_names_and_facts() {
    let all = [
        (Action::Download, "DOWNLOAD"),
        (assign(named(Some("Z"), None)), "ASSIGN"),
        (Action::Transfer { to: person(FRIEND) }, "TRANSFER"),
        (Action::Accept, "ACCEPT_TRANSFER"),
        (Action::Reject, "REJECT_TRANSFER"),
        (Action::CancelTransfer, "CANCEL_TRANSFER"),
        (Action::TimeOut, "TRANSFER_TIMEOUT"),
        (
            Action::Activate {
                method: ActivationMethod::Offline,
                code: None,
            },
            "ACTIVATE",
        ),
        (Action::Deactivate, "DEACTIVATE"),
        (
            Action::Control {
                controlled_at: None,
            },
            "CONTROL",
        ),
        (
            Action::Delete {
                reason: "X".into(),
                show_deleted_ticket: false,
            },
            "DELETE",
        ),
        (Action::ConfirmDeletion, "CONFIRM_DELETION"),
    ];
    for (a, name) in all {
        assert_eq!(a.name(), name);
        assert_eq!(a.needs_facts(), name == "TRANSFER", "{name}");
    }
    let actors: Vec<_> = [
        Caller::Spectator(OWNER.into()),
        Caller::Organizer,
        Caller::BackOffice,
        Caller::System,
    ]
    .iter()
    .map(Caller::actor)
    .collect();
    assert_eq!(actors, ["APP", "ORGANIZER_API", "BACK_OFFICE", "SYSTEM"]);
}

#[test]
fn activation_methods_map_to_statuses() {
    for (m, s, status) in [
        (ActivationMethod::Online, "online", OnlineActivated),
        (ActivationMethod::Offline, "offline", OfflineActivated),
        (ActivationMethod::Bt, "bt", BtActivated),
        (ActivationMethod::Manual, "manual", ManualActivated),
    ] {
        assert_eq!((m.as_str(), m.status()), (s, status));
        assert_eq!(
            ActivationMethod::parse(&format!(" {} ", s.to_uppercase())),
            Ok(m)
        );
    }
    let e = ActivationMethod::parse("nfc").unwrap_err();
    assert!(e.contains("\"nfc\""), "{e}");
}

/// Activation: a manual one needs a non-blank code; the method is recorded; another
/// method on an activated ticket is a change; a pending transfer blocks it.
#[test]
fn activation_rules() {
    let act = |method, code: Option<&str>| Action::Activate {
        method,
        code: code.map(Into::into),
    };
    let r = refused(owner_does(
        &at(Downloaded),
        act(ActivationMethod::Manual, Some("  ")),
    ));
    assert_eq!(r.code, INVALID_ACTION);
    let c = changed(owner_does(
        &at(Downloaded),
        act(ActivationMethod::Manual, Some("1234")),
    ));
    assert_eq!(c.state.status, ManualActivated);
    assert_eq!(c.detail.as_deref(), Some("method=manual"));
    let c = changed(owner_does(
        &at(OnlineActivated),
        act(ActivationMethod::Bt, None),
    ));
    assert_eq!(
        (c.from_status, c.state.status),
        (OnlineActivated, BtActivated)
    );
    let r = refused(owner_does(
        &at(PendingTransfer),
        act(ActivationMethod::Online, None),
    ));
    assert!(r.message.contains("transfer is pending"), "{}", r.message);
    let r = refused(owner_does(
        &at(Controlled),
        act(ActivationMethod::Online, None),
    ));
    assert_eq!(r.code, ILLEGAL_TRANSITION);
    // Deactivation only from an activated status.
    let c = changed(owner_does(&at(BtActivated), Action::Deactivate));
    assert_eq!(c.state.status, Deactivated);
    let r = refused(owner_does(&at(Deactivated), Action::Deactivate));
    assert_eq!(r.code, ILLEGAL_TRANSITION);
}

/// The status time moves only when the status does.
#[test]
fn the_status_time_moves_with_the_status_only() {
    let mut cur = at(Assigned);
    cur.holder = Some(named(Some("Zoe"), None));
    let later = t0() + Duration::minutes(5);
    let me = Caller::Spectator(OWNER.into());
    let f = facts(TransferRules::default());
    let c = apply(
        "T1",
        &cur,
        &f,
        &me,
        &assign(named(Some("Max"), None)),
        later,
        &Settings::default(),
    );
    let c = changed(c);
    assert_eq!(c.state.status_changed_at, format_at(t0()));
    let c = changed(apply(
        "T1",
        &cur,
        &f,
        &me,
        &Action::Transfer { to: person(FRIEND) },
        later,
        &Settings::default(),
    ));
    assert_eq!(c.state.status_changed_at, format_at(later));
}

/// A transfer records its recipient (email kept as typed, trimmed: it compares
/// without case), sender, times, and whether the back office started it.
#[test]
fn a_pending_transfer_records_who_and_when() {
    let settings = Settings {
        transfer_timeout: Duration::minutes(10),
        ..Settings::default()
    };
    let to = Person {
        email: Some(" Friend@Example.ORG ".into()),
        first_name: Some("Fay".into()),
        ..Default::default()
    };
    let f = facts(TransferRules::default());
    for (caller, back_office) in [
        (Caller::Spectator(OWNER.into()), false),
        (Caller::BackOffice, true),
    ] {
        let c = changed(apply(
            "T1",
            &at(Downloaded),
            &f,
            &caller,
            &Action::Transfer { to: to.clone() },
            t0(),
            &settings,
        ));
        let t = c.state.transfer.unwrap();
        assert_eq!(t.to.email.as_deref(), Some("Friend@Example.ORG"));
        assert_eq!(t.to.first_name.as_deref(), Some("Fay"));
        assert_eq!(t.from, Some(person(OWNER)));
        assert_eq!(t.requested_at, format_at(t0()));
        assert_eq!(t.expires_at, format_at(t0() + Duration::minutes(10)));
        assert_eq!(t.back_office, back_office);
        assert_eq!(c.detail.as_deref(), Some("to=Friend@Example.ORG"));
        assert_eq!(c.from_owner.as_deref(), Some(OWNER));
    }
}

/// Transfer limits: the level reaching the maximum refuses, below it allows, −1 is
/// no limit; an event expiring right now is expired; the owner cannot be the
/// recipient whatever the case of the email.
#[test]
fn transfer_limits_at_their_bounds() {
    let me = Caller::Spectator(OWNER.into());
    let to = Action::Transfer { to: person(FRIEND) };
    let rules = |max| TransferRules {
        max_number_of_transfer_per_ticket_in_group_id: max,
        group_id: Some("G1".into()),
        ..TransferRules::default()
    };
    let mut cur = at(Transferred);
    cur.transfer_level = 2;
    let r = refused(run(&cur, &facts(rules(2)), &me, &to));
    assert_eq!(r.code, TRANSFER_NOT_ALLOWED);
    assert!(
        r.message.contains("2 time(s)") && r.message.contains("G1"),
        "{}",
        r.message
    );
    assert!(matches!(
        run(&cur, &facts(rules(3)), &me, &to),
        Outcome::Changed(_)
    ));
    assert!(matches!(
        run(&cur, &facts(rules(-1)), &me, &to),
        Outcome::Changed(_)
    ));
    let r = refused(run(&at(Downloaded), &facts(rules(0)), &me, &to));
    assert_eq!(r.code, TRANSFER_NOT_ALLOWED);
    let mut f = facts(TransferRules::default());
    f.event_expires = Some(t0());
    let r = refused(run(&at(Downloaded), &f, &me, &to));
    assert!(r.message.contains("expired"), "{}", r.message);
    f.event_expires = Some(t0() + Duration::seconds(1));
    assert!(matches!(
        run(&at(Downloaded), &f, &me, &to),
        Outcome::Changed(_)
    ));
    let r = refused(run(
        &at(Downloaded),
        &facts(TransferRules::default()),
        &me,
        &Action::Transfer {
            to: person("OWNER@example.org"),
        },
    ));
    assert_eq!(r.code, ILLEGAL_TRANSITION);
    // A second transfer while one is pending, and a deleted ticket, are refused.
    for s in [PendingTransfer, DeletionPending, Deleted] {
        let r = refused(run(
            &at(s),
            &facts(TransferRules::default()),
            &Caller::BackOffice,
            &to,
        ));
        assert_eq!(r.code, ILLEGAL_TRANSITION, "{s}");
    }
}

/// `allowTransferMainApplicant = false` binds the main applicant only: not a ticket
/// whose recipient was not flagged, and not an owner other than the recipient. With
/// no recipient email known, the initial owner is the main applicant.
#[test]
fn the_main_applicant_rule_binds_the_main_applicant_only() {
    let me = Caller::Spectator(OWNER.into());
    let to = Action::Transfer { to: person(FRIEND) };
    let mut f = facts(TransferRules {
        allow_transfer_main_applicant: false,
        ..TransferRules::default()
    });
    // Not flagged main applicant: allowed.
    assert!(matches!(
        run(&at(Downloaded), &f, &me, &to),
        Outcome::Changed(_)
    ));
    f.main_applicant = true;
    let r = refused(run(&at(Downloaded), &f, &me, &to));
    assert!(r.message.contains("main applicant"), "{}", r.message);
    f.recipient_email = None;
    assert_eq!(
        refused(run(&at(Downloaded), &f, &me, &to)).code,
        TRANSFER_NOT_ALLOWED
    );
    // The recipient is someone else than the owner: allowed.
    f.recipient_email = Some("someone@example.org".into());
    assert!(matches!(
        run(&at(Downloaded), &f, &me, &to),
        Outcome::Changed(_)
    ));
    // Unknown recipient and an owner other than the initial one: allowed.
    f.recipient_email = None;
    let mut cur = at(Transferred);
    cur.owner = Some(person("new@example.org"));
    let c = run(&cur, &f, &Caller::Spectator("new@example.org".into()), &to);
    assert!(matches!(c, Outcome::Changed(_)), "{c:?}");
}

/// Accepting: exactly at the expiry it is too late, and the time-out is due.
#[test]
fn transfer_expiry_is_inclusive() {
    let f = facts(TransferRules::default());
    let pending = changed(owner_does(
        &at(Downloaded),
        Action::Transfer { to: person(FRIEND) },
    ))
    .state;
    let exp = t0() + Duration::hours(1);
    let friend = Caller::Spectator(FRIEND.into());
    let r = refused(apply(
        "T1",
        &pending,
        &f,
        &friend,
        &Action::Accept,
        exp,
        &Settings::default(),
    ));
    assert!(r.message.contains("timed out"), "{}", r.message);
    let just_before = exp - Duration::milliseconds(1);
    let c = changed(apply(
        "T1",
        &pending,
        &f,
        &friend,
        &Action::Accept,
        just_before,
        &Settings::default(),
    ));
    assert_eq!(c.state.status, Transferred);
    assert_eq!(c.detail.as_deref(), Some("to=friend@example.org"));
    let c = changed(apply(
        "T1",
        &pending,
        &f,
        &Caller::System,
        &Action::TimeOut,
        exp,
        &Settings::default(),
    ));
    assert_eq!(c.state.status, Failure);
    // The owner asking to accept is told only the recipient may; reject likewise.
    let me = Caller::Spectator(OWNER.into());
    let r = refused(run(&pending, &f, &me, &Action::Reject));
    assert!(r.message.contains("may reject"), "{}", r.message);
    let r = refused(run(&pending, &f, &me, &Action::Accept));
    assert!(r.message.contains("may accept"), "{}", r.message);
    // Nothing pending: refused.
    let r = refused(run(&at(Downloaded), &f, &friend, &Action::Accept));
    assert_eq!(r.code, TICKET_NOT_FOUND);
    let r = refused(owner_does(&at(Downloaded), Action::CancelTransfer));
    assert!(
        r.message.contains("no transfer is pending"),
        "{}",
        r.message
    );
}

/// Control ends a pending transfer; it records when the gate saw the ticket.
#[test]
fn control_ends_a_pending_transfer() {
    let f = facts(TransferRules::default());
    let pending = changed(owner_does(
        &at(Downloaded),
        Action::Transfer { to: person(FRIEND) },
    ))
    .state;
    let c = changed(run(
        &pending,
        &f,
        &Caller::Organizer,
        &Action::Control {
            controlled_at: Some("2026-06-01T20:00:00Z".into()),
        },
    ));
    assert_eq!(c.state.status, Controlled);
    assert_eq!((c.state.transfer, c.state.due_at), (None, None));
    assert_eq!(
        c.detail.as_deref(),
        Some("controlledAt=2026-06-01T20:00:00Z")
    );
}

/// Deletion: records its reason and ends a pending transfer; a deleted ticket without
/// its deletion data is refused; confirmation is due exactly at its due time.
#[test]
fn deletion_rules() {
    let f = facts(TransferRules::default());
    let pending = changed(owner_does(
        &at(Downloaded),
        Action::Transfer { to: person(FRIEND) },
    ))
    .state;
    let del = Action::Delete {
        reason: "RESOLD".into(),
        show_deleted_ticket: true,
    };
    let c = changed(run(&pending, &f, &Caller::Organizer, &del));
    assert_eq!(c.state.status, DeletionPending);
    assert_eq!(c.state.transfer, None);
    assert_eq!(c.detail.as_deref(), Some("reason=RESOLD"));
    let d = c.state.deletion.clone().unwrap();
    assert!(d.show_deleted_ticket);
    assert_eq!(d.requested_at, format_at(t0()));
    let due = t0() + Settings::default().deletion_delay;
    let confirm = |now| {
        apply(
            "T1",
            &c.state,
            &f,
            &Caller::System,
            &Action::ConfirmDeletion,
            now,
            &Settings::default(),
        )
    };
    assert_eq!(
        refused(confirm(due - Duration::milliseconds(1))).code,
        ILLEGAL_TRANSITION
    );
    assert_eq!(changed(confirm(due)).state.status, Deleted);
    // A visibility change alone is a new deletion fact.
    let c2 = changed(run(
        &c.state,
        &f,
        &Caller::Organizer,
        &Action::Delete {
            reason: "RESOLD".into(),
            show_deleted_ticket: false,
        },
    ));
    assert_eq!(c2.action, "DELETE_REASON");
    assert!(!c2.state.deletion.unwrap().show_deleted_ticket);
    let r = refused(run(&at(Deleted), &f, &Caller::Organizer, &del));
    assert!(r.message.contains("carries no data"), "{}", r.message);
    // Confirming what is not pending, and downloading a deleted ticket, are refused.
    let r = refused(run(
        &at(Downloaded),
        &f,
        &Caller::System,
        &Action::ConfirmDeletion,
    ));
    assert!(
        r.message.contains("no deletion is pending"),
        "{}",
        r.message
    );
    let r = refused(owner_does(&at(Deleted), Action::Download));
    assert_eq!(r.code, ILLEGAL_TRANSITION);
    assert_eq!(
        owner_does(&at(Assigned), Action::Download),
        Outcome::Unchanged
    );
}

/// The facts of an injected ticket; the stored event's expiry wins over the
/// injected one.
#[test]
fn facts_are_read_from_the_content_and_the_stored_event() {
    let content = r#"{"ticketId":"T1","event":{"id":"E1","expirationDate":"2026-07-01T00:00:00+02:00"},
        "spectatorDetails":{"email":" Ann@Example.org","mainApplicant":true},
        "transferRules":{"allowTransfer":false}}"#;
    let f = Facts::from_stored(content, None).unwrap();
    assert!(f.main_applicant);
    assert!(!f.rules.allow_transfer);
    assert_eq!(f.recipient_email.as_deref(), Some("ann@example.org"));
    assert_eq!(
        f.event_expires,
        Some(
            DateTime::parse_from_rfc3339("2026-06-30T22:00:00Z")
                .unwrap()
                .with_timezone(&Utc)
        )
    );
    let moved = r#"{"id":"E1","expirationDate":"2026-08-01T00:00:00Z"}"#;
    let f = Facts::from_stored(content, Some(moved)).unwrap();
    assert_eq!(
        f.event_expires,
        Some(
            DateTime::parse_from_rfc3339("2026-08-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc)
        )
    );
    assert!(
        Facts::from_stored("{", None)
            .unwrap_err()
            .contains("content")
    );
    assert!(
        Facts::from_stored(content, Some("{"))
            .unwrap_err()
            .contains("event")
    );
    let plain = Facts::from_stored(r#"{"ticketId":"T1"}"#, None).unwrap();
    assert_eq!(plain, Facts::default());
}

/// The API view of a state, and the emails sessions match on.
#[test]
fn the_state_view_and_emails() {
    let pending = changed(owner_does(
        &at(Downloaded),
        Action::Transfer { to: person(FRIEND) },
    ))
    .state;
    assert_eq!(pending.recipient_email().as_deref(), Some(FRIEND));
    let mut cur = pending.clone();
    cur.owner = Some(person(" Owner@Example.org "));
    assert_eq!(cur.owner_email().as_deref(), Some(OWNER));
    let s = pending.to_state("T1", "E1", Some("TAX"));
    assert_eq!(
        (
            s.ticket_id.as_str(),
            s.event_id.as_str(),
            s.taxation_number.as_deref(),
            s.status.as_str()
        ),
        ("T1", "E1", Some("TAX"), "PENDING_TRANSFER")
    );
    assert_eq!(s.transfer, pending.transfer);
    assert_eq!(s.owner, Some(person(OWNER)));
    assert!(s.history.is_empty());
    assert_eq!(Refusal::not_found("T9").message, "no ticket T9");
}
