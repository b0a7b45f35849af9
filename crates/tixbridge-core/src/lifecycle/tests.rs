use std::collections::HashMap;

use proptest::prelude::*;

use super::*;
use crate::ledger::verify_chain;
use WalletStatus::*;

const OWNER: &str = "owner@example.org";
const FRIEND: &str = "friend@example.org";
const OTHER: &str = "other@example.org";

fn person(email: &str) -> Person {
    Person {
        email: Some(email.into()),
        first_name: Some("Ann".into()),
        last_name: Some("Lee".into()),
        ..Default::default()
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn settings() -> Settings {
    Settings {
        transfer_timeout: Duration::hours(1),
        deletion_delay: Duration::seconds(5),
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

fn fresh() -> Lifecycle {
    Lifecycle::injected(person(OWNER), &format_at(t0()))
}

fn spectator(e: &str) -> Caller {
    Caller::Spectator(e.into())
}

fn run(cur: &Lifecycle, f: &Facts, caller: &Caller, a: &Action, now: DateTime<Utc>) -> Outcome {
    apply("T1", cur, f, caller, a, now, &settings())
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

/// Drives one ticket through a list of (caller, action), each of which must succeed.
fn walk(steps: &[(Caller, Action)]) -> Lifecycle {
    let f = facts(TransferRules::default());
    let mut cur = fresh();
    for (c, a) in steps {
        cur = changed(run(&cur, &f, c, a, t0())).state;
    }
    cur
}

#[test]
fn the_happy_path_download_assign_transfer_accept_activate_control() {
    let f = facts(TransferRules::default());
    let mut cur = fresh();
    let c = changed(run(&cur, &f, &spectator(OWNER), &Action::Download, t0()));
    assert_eq!((c.from_status, c.state.status), (Injected, Downloaded));
    cur = c.state;
    let c = changed(run(
        &cur,
        &f,
        &spectator(OWNER),
        &Action::Assign {
            holder: person("kid@example.org"),
        },
        t0(),
    ));
    assert_eq!(c.state.status, Assigned);
    assert_eq!(c.state.holder, Some(person("kid@example.org")));
    cur = c.state;
    let c = changed(run(
        &cur,
        &f,
        &spectator(OWNER),
        &Action::Transfer { to: person(FRIEND) },
        t0(),
    ));
    assert_eq!(c.state.status, PendingTransfer);
    assert_eq!(c.detail.as_deref(), Some("to=friend@example.org"));
    let t = c.state.transfer.clone().unwrap();
    assert_eq!(t.expires_at, format_at(t0() + Duration::hours(1)));
    assert_eq!(c.state.due_at.as_deref(), Some(t.expires_at.as_str()));
    cur = c.state;
    // The sender cannot accept; a stranger does not see the ticket.
    assert_eq!(
        refused(run(&cur, &f, &spectator(OWNER), &Action::Accept, t0())).code,
        ILLEGAL_TRANSITION
    );
    assert_eq!(
        refused(run(&cur, &f, &spectator(OTHER), &Action::Accept, t0())).code,
        TICKET_NOT_FOUND
    );
    let c = changed(run(&cur, &f, &spectator(FRIEND), &Action::Accept, t0()));
    assert_eq!(c.state.status, Transferred);
    assert_eq!(c.state.owner_email().as_deref(), Some(FRIEND));
    assert_eq!(
        c.state
            .previous_owner
            .as_ref()
            .and_then(|p| p.email.as_deref()),
        Some(OWNER)
    );
    assert_eq!(c.state.initial_owner, Some(person(OWNER)));
    assert_eq!(c.state.holder, None);
    assert_eq!(c.state.transfer_level, 1);
    assert_eq!(
        (c.state.transfer.clone(), c.state.due_at.clone()),
        (None, None)
    );
    cur = c.state;
    // The old owner lost it.
    assert_eq!(
        refused(run(&cur, &f, &spectator(OWNER), &Action::Download, t0())).code,
        TICKET_NOT_FOUND
    );
    let act = Action::Activate {
        method: ActivationMethod::Bt,
        code: None,
    };
    let c = changed(run(&cur, &f, &spectator(FRIEND), &act, t0()));
    assert_eq!(c.state.status, BtActivated);
    cur = c.state;
    assert_eq!(
        run(&cur, &f, &spectator(FRIEND), &act, t0()),
        Outcome::Unchanged
    );
    let c = changed(run(
        &cur,
        &f,
        &Caller::Organizer,
        &Action::Control {
            controlled_at: Some("2026-06-01T20:00:00Z".into()),
        },
        t0(),
    ));
    assert_eq!(c.state.status, Controlled);
    cur = c.state;
    let again = Action::Control {
        controlled_at: None,
    };
    assert_eq!(
        run(&cur, &f, &Caller::Organizer, &again, t0()),
        Outcome::Unchanged
    );
    assert_eq!(
        refused(run(&cur, &f, &spectator(FRIEND), &act, t0())).code,
        ILLEGAL_TRANSITION
    );
}

#[test]
fn reject_cancel_and_time_out_leave_the_owner() {
    let f = facts(TransferRules::default());
    let pending = walk(&[
        (spectator(OWNER), Action::Download),
        (spectator(OWNER), Action::Transfer { to: person(FRIEND) }),
    ]);
    let c = changed(run(&pending, &f, &spectator(FRIEND), &Action::Reject, t0()));
    assert_eq!(c.state.status, FailureTransfer);
    assert_eq!(c.state.owner_email().as_deref(), Some(OWNER));
    let c = changed(run(
        &pending,
        &f,
        &spectator(OWNER),
        &Action::CancelTransfer,
        t0(),
    ));
    assert_eq!(c.state.status, FailureTransfer);
    // The recipient cannot cancel (they see the ticket but do not own it).
    assert_eq!(
        refused(run(
            &pending,
            &f,
            &spectator(FRIEND),
            &Action::CancelTransfer,
            t0()
        ))
        .code,
        TICKET_NOT_FOUND
    );
    // Not yet due, then due.
    let early = run(&pending, &f, &Caller::System, &Action::TimeOut, t0());
    assert_eq!(refused(early).code, ILLEGAL_TRANSITION);
    let late = t0() + Duration::hours(1);
    // Expired but not yet swept: too late to accept.
    let r = refused(run(&pending, &f, &spectator(FRIEND), &Action::Accept, late));
    assert!(r.message.contains("timed out"), "{}", r.message);
    let c = changed(run(&pending, &f, &Caller::System, &Action::TimeOut, late));
    assert_eq!(c.state.status, Failure);
    assert_eq!(c.state.owner_email().as_deref(), Some(OWNER));
    assert_eq!(c.state.transfer_level, 0);
    assert_eq!(c.state.due_at, None);
    // A failed transfer can be tried again.
    let c = changed(run(
        &c.state,
        &f,
        &spectator(OWNER),
        &Action::Transfer { to: person(OTHER) },
        late,
    ));
    assert_eq!(c.state.status, PendingTransfer);
}

#[test]
fn transfer_rules_refuse_with_transfer_not_allowed() {
    let downloaded = walk(&[(spectator(OWNER), Action::Download)]);
    let transfer = Action::Transfer { to: person(FRIEND) };
    let me = spectator(OWNER);

    let no = facts(TransferRules {
        allow_transfer: false,
        ..Default::default()
    });
    let r = refused(run(&downloaded, &no, &me, &transfer, t0()));
    assert_eq!(r.code, TRANSFER_NOT_ALLOWED);
    assert!(
        r.message.contains("do not allow transfers"),
        "{}",
        r.message
    );
    // The back office ignores the rules.
    let c = changed(run(&downloaded, &no, &Caller::BackOffice, &transfer, t0()));
    assert!(c.state.transfer.as_ref().unwrap().back_office);

    let once = facts(TransferRules {
        max_number_of_transfer_per_ticket_in_group_id: 1,
        ..Default::default()
    });
    let mut moved = downloaded.clone();
    moved.transfer_level = 1;
    assert_eq!(
        refused(run(&moved, &once, &me, &transfer, t0())).code,
        TRANSFER_NOT_ALLOWED
    );
    assert!(matches!(
        run(&downloaded, &once, &me, &transfer, t0()),
        Outcome::Changed(_)
    ));

    let activated = walk(&[
        (spectator(OWNER), Action::Download),
        (
            spectator(OWNER),
            Action::Activate {
                method: ActivationMethod::Online,
                code: None,
            },
        ),
    ]);
    let after_act = facts(TransferRules {
        allow_transfer_after_activation: false,
        ..Default::default()
    });
    assert_eq!(
        refused(run(&activated, &after_act, &me, &transfer, t0())).code,
        TRANSFER_NOT_ALLOWED
    );
    assert!(matches!(
        run(
            &activated,
            &facts(TransferRules::default()),
            &me,
            &transfer,
            t0()
        ),
        Outcome::Changed(_)
    ));

    let mut main = facts(TransferRules {
        allow_transfer_main_applicant: false,
        ..Default::default()
    });
    main.main_applicant = true;
    assert_eq!(
        refused(run(&downloaded, &main, &me, &transfer, t0())).code,
        TRANSFER_NOT_ALLOWED
    );
    // A recipient corrected before download is the main applicant, though the initial
    // owner (which never changes) is the first one.
    let mut corrected = downloaded.clone();
    corrected.owner = Some(person(FRIEND));
    main.recipient_email = Some(FRIEND.into());
    assert_eq!(
        refused(run(
            &corrected,
            &main,
            &spectator(FRIEND),
            &Action::Transfer { to: person(OTHER) },
            t0()
        ))
        .code,
        TRANSFER_NOT_ALLOWED
    );
    // Once someone else owns it, the rule no longer applies.
    let mut passed_on = downloaded.clone();
    passed_on.owner = Some(person(OTHER));
    let c = changed(run(&passed_on, &main, &spectator(OTHER), &transfer, t0()));
    assert_eq!(c.state.status, PendingTransfer);
    assert_eq!(c.state.transfer.unwrap().to.email.as_deref(), Some(FRIEND));

    let controlled = changed(run(
        &downloaded,
        &facts(TransferRules::default()),
        &Caller::Organizer,
        &Action::Control {
            controlled_at: None,
        },
        t0(),
    ))
    .state;
    assert_eq!(
        refused(run(
            &controlled,
            &facts(TransferRules::default()),
            &me,
            &transfer,
            t0()
        ))
        .code,
        TRANSFER_NOT_ALLOWED
    );
    let after_control = facts(TransferRules {
        allow_transfer_after_control: true,
        ..Default::default()
    });
    assert!(matches!(
        run(&controlled, &after_control, &me, &transfer, t0()),
        Outcome::Changed(_)
    ));
    // The back office never moves a controlled ticket.
    assert_eq!(
        refused(run(
            &controlled,
            &after_control,
            &Caller::BackOffice,
            &transfer,
            t0()
        ))
        .code,
        ILLEGAL_TRANSITION
    );
}

#[test]
fn expired_events_and_bad_recipients_are_refused() {
    let downloaded = walk(&[(spectator(OWNER), Action::Download)]);
    let mut f = facts(TransferRules::default());
    f.event_expires = Some(t0() - Duration::minutes(1));
    for caller in [spectator(OWNER), Caller::BackOffice] {
        let r = refused(run(
            &downloaded,
            &f,
            &caller,
            &Action::Transfer { to: person(FRIEND) },
            t0(),
        ));
        assert!(r.message.contains("expired"), "{}", r.message);
    }
    let f = facts(TransferRules::default());
    for (to, code) in [
        (person(OWNER), ILLEGAL_TRANSITION),
        (Person::default(), INVALID_ACTION),
        (person("not-an-email"), INVALID_ACTION),
    ] {
        let r = refused(run(
            &downloaded,
            &f,
            &spectator(OWNER),
            &Action::Transfer { to },
            t0(),
        ));
        assert_eq!(r.code, code);
    }
    // A spectator transfer needs the ticket on the phone; the back office does not.
    let injected = fresh();
    let to = Action::Transfer { to: person(FRIEND) };
    assert_eq!(
        refused(run(&injected, &f, &spectator(OWNER), &to, t0())).code,
        ILLEGAL_TRANSITION
    );
    assert!(matches!(
        run(&injected, &f, &Caller::BackOffice, &to, t0()),
        Outcome::Changed(_)
    ));
}

#[test]
fn deletion_is_pending_then_confirmed_and_a_new_reason_is_recorded() {
    let f = facts(TransferRules::default());
    let del = Action::Delete {
        reason: "CANCELLED".into(),
        show_deleted_ticket: false,
    };
    let c = changed(run(&fresh(), &f, &Caller::Organizer, &del, t0()));
    assert_eq!(c.state.status, DeletionPending);
    assert_eq!(c.state.due_at, Some(format_at(t0() + Duration::seconds(5))));
    let pending = c.state;
    assert_eq!(
        run(&pending, &f, &Caller::Organizer, &del, t0()),
        Outcome::Unchanged
    );
    let resold = Action::Delete {
        reason: "RESOLD".into(),
        show_deleted_ticket: true,
    };
    let c = changed(run(&pending, &f, &Caller::Organizer, &resold, t0()));
    assert_eq!(c.action, "DELETE_REASON");
    assert_eq!(c.state.status, DeletionPending);
    assert_eq!(c.state.deletion.as_ref().unwrap().reason, "RESOLD");
    assert_eq!(c.state.due_at, pending.due_at, "the confirmation stays due");
    assert_eq!(
        refused(run(
            &pending,
            &f,
            &Caller::System,
            &Action::ConfirmDeletion,
            t0()
        ))
        .code,
        ILLEGAL_TRANSITION
    );
    let later = t0() + Duration::seconds(5);
    let c = changed(run(
        &pending,
        &f,
        &Caller::System,
        &Action::ConfirmDeletion,
        later,
    ));
    assert_eq!(c.state.status, Deleted);
    assert_eq!(
        c.state.deletion.as_ref().unwrap().confirmed_at,
        Some(format_at(later))
    );
    let deleted = c.state;
    let c = changed(run(&deleted, &f, &Caller::Organizer, &resold, later));
    assert_eq!((c.action, c.state.status), ("DELETE_REASON", Deleted));
    let control = Action::Control {
        controlled_at: None,
    };
    assert_eq!(
        refused(run(&deleted, &f, &Caller::Organizer, &control, later)).code,
        TICKET_DELETED
    );
}

#[test]
fn callers_are_limited_to_their_actions() {
    let f = facts(TransferRules::default());
    let cur = fresh();
    let del = Action::Delete {
        reason: "X".into(),
        show_deleted_ticket: false,
    };
    assert_eq!(
        refused(run(&cur, &f, &spectator(OWNER), &del, t0())).code,
        ILLEGAL_TRANSITION
    );
    assert_eq!(
        refused(run(&cur, &f, &Caller::Organizer, &Action::Download, t0())).code,
        ILLEGAL_TRANSITION
    );
    assert_eq!(
        refused(run(&cur, &f, &Caller::System, &del, t0())).code,
        ILLEGAL_TRANSITION
    );
    // Emails match whatever their case.
    assert!(matches!(
        run(
            &cur,
            &f,
            &spectator("OWNER@Example.org"),
            &Action::Download,
            t0()
        ),
        Outcome::Changed(_)
    ));
    let manual = Action::Activate {
        method: ActivationMethod::Manual,
        code: None,
    };
    assert_eq!(
        refused(run(&cur, &f, &spectator(OWNER), &manual, t0())).code,
        INVALID_ACTION
    );
    assert_eq!(ActivationMethod::parse("BT"), Ok(ActivationMethod::Bt));
    assert!(ActivationMethod::parse("nfc").is_err());
}

// ---- the property: any sequence of actions keeps the machine legal ----

/// The transitions DOMAIN.md §3 allows, written independently of `apply`.
fn legal(action: &str, from: WalletStatus, to: WalletStatus) -> bool {
    let rest = matches!(
        from,
        Downloaded | Assigned | Transferred | FailureTransfer | Failure
    );
    let activated = from.is_activated();
    match action {
        "DOWNLOAD" => from == Injected && to == Downloaded,
        "ASSIGN" => rest && to == Assigned,
        // A controlled ticket travels and stays controlled (issue 7, item 14).
        "TRANSFER" => {
            ((rest || activated || matches!(from, Deactivated | Injected)) && to == PendingTransfer)
                || (from == Controlled && to == Controlled)
        }
        "ACCEPT_TRANSFER" => {
            (from == PendingTransfer && to == Transferred)
                || (from == Controlled && to == Controlled)
        }
        "REJECT_TRANSFER" | "CANCEL_TRANSFER" => {
            (from == PendingTransfer && to == FailureTransfer)
                || (from == Controlled && to == Controlled)
        }
        "TRANSFER_TIMEOUT" => {
            (from == PendingTransfer && to == Failure) || (from == Controlled && to == Controlled)
        }
        "ACTIVATE" => from.is_live() && from != PendingTransfer && to.is_activated() && to != from,
        "DEACTIVATE" => activated && to == Deactivated,
        "CONTROL" => from.is_live() && to == Controlled,
        "DELETE" => !from.is_deleted() && to == DeletionPending,
        "DELETE_REASON" => from.is_deleted() && to == from,
        "CONFIRM_DELETION" => from == DeletionPending && to == Deleted,
        _ => false,
    }
}

#[derive(Debug, Clone)]
enum Step {
    Op(u8, u8, u8),
    /// Let this many minutes pass.
    Wait(u16),
}

fn op_of(who: u8, what: u8, arg: u8) -> Op {
    let emails = [OWNER, FRIEND, OTHER];
    let caller = match who % 6 {
        0..=2 => spectator(emails[usize::from(who % 3)]),
        3 => Caller::Organizer,
        4 => Caller::BackOffice,
        _ => Caller::System,
    };
    let email = emails[usize::from(arg % 3)];
    let action = match what % 12 {
        0 => Action::Download,
        1 => Action::Assign {
            holder: person(email),
        },
        2 => Action::Transfer { to: person(email) },
        3 => Action::Accept,
        4 => Action::Reject,
        5 => Action::CancelTransfer,
        6 => Action::TimeOut,
        7 => Action::Activate {
            method: ActivationMethod::ALL[usize::from(arg % 4)],
            code: Some("1234".into()),
        },
        8 => Action::Deactivate,
        9 => Action::Control {
            controlled_at: None,
        },
        10 => Action::Delete {
            reason: ["CANCELLED", "RESOLD"][usize::from(arg % 2)].into(),
            show_deleted_ticket: arg.is_multiple_of(2),
        },
        _ => Action::ConfirmDeletion,
    };
    Op {
        ticket_id: "T1".into(),
        caller,
        action,
    }
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(a, b, c)| Step::Op(a, b, c)),
        1 => (0u16..120).prop_map(Step::Wait),
    ]
}

fn rules() -> impl Strategy<Value = Facts> {
    (
        any::<bool>(),
        -1i64..3,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(allow, max, act, ctl, main_ok, main)| Facts {
            rules: TransferRules {
                allow_transfer: allow,
                max_number_of_transfer_per_ticket_in_group_id: max,
                allow_transfer_after_activation: act,
                allow_transfer_after_control: ctl,
                allow_transfer_main_applicant: main_ok,
                group_id: None,
            },
            main_applicant: main,
            recipient_email: Some(OWNER.into()),
            event_expires: Some(t0() + Duration::hours(20)),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// From any reachable state, any sequence of actions yields either a legal state
    /// or a refusal that changes nothing, and every accepted change yields exactly one
    /// status-log entry, chained.
    #[test]
    fn any_sequence_keeps_the_machine_legal(
        facts in rules(),
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let mut now = t0();
        let mut current = HashMap::new();
        current.insert("T1".to_owned(), LoadedTicket {
            ticket_id: "T1".into(),
            event_id: "E1".into(),
            taxation_number: None,
            life: fresh(),
            facts: facts.clone(),
        });
        let mut head = ChainHead::genesis();
        let mut all_entries = Vec::new();
        let mut accepts = 0;
        let mut was_controlled = false;
        for s in steps {
            let (who, what, arg) = match s {
                Step::Wait(m) => { now += Duration::minutes(i64::from(m)); continue; }
                Step::Op(a, b, c) => (a, b, c),
            };
            let before = current["T1"].life.clone();
            let op = op_of(who, what, arg);
            let plan = plan_actions(vec![op.clone()], current.clone(), head.clone(), now, &settings());
            prop_assert_eq!(plan.results.len(), 1);
            match &plan.results[0] {
                Err(_) => {
                    prop_assert!(plan.entries.is_empty() && plan.writes.is_empty());
                    prop_assert_eq!(&plan.head, &head);
                }
                Ok(state) if plan.entries.is_empty() => {
                    // An unchanged repeat: the answer is the current state.
                    prop_assert!(plan.writes.is_empty());
                    prop_assert_eq!(state.status.as_str(), before.status.as_str());
                }
                Ok(_) => {
                    prop_assert_eq!(plan.entries.len(), 1);
                    prop_assert_eq!(plan.writes.len(), 1);
                    let e = &plan.entries[0];
                    let after = plan.writes[0].life.clone();
                    prop_assert_eq!(e.seq, head.seq + 1);
                    prop_assert_eq!(e.from_status.as_deref(), Some(before.status.as_str()));
                    prop_assert_eq!(e.to_status.as_str(), after.status.as_str());
                    prop_assert!(legal(&e.action, before.status, after.status),
                        "{} {} -> {}", e.action, before.status, after.status);
                    prop_assert_eq!(e.actor.as_str(), op.caller.actor());
                    if e.action == "ACCEPT_TRANSFER" { accepts += 1; }
                    // A deleted ticket only ever changes its reason or confirmation.
                    if before.status == Deleted { prop_assert_eq!(e.action.as_str(), "DELETE_REASON"); }
                    current.get_mut("T1").unwrap().life = after;
                    head = plan.head.clone();
                    all_entries.extend(plan.entries);
                }
            }
            let life = &current["T1"].life;
            // A transfer is under way while PENDING_TRANSFER, or on a controlled ticket.
            prop_assert_eq!(life.transfer.is_some(), life.in_transit());
            if life.status == PendingTransfer { prop_assert!(life.transfer.is_some()); }
            prop_assert_eq!(life.deletion.is_some(), life.status.is_deleted());
            prop_assert_eq!(
                life.due_at.is_some(),
                matches!(life.status, PendingTransfer | DeletionPending) || life.in_transit()
            );
            // Once controlled, always controlled: never live nor activated again.
            if was_controlled {
                prop_assert!(matches!(life.status, Controlled | DeletionPending | Deleted),
                    "a controlled ticket became {}", life.status);
            }
            was_controlled |= life.status == Controlled;
            prop_assert_eq!(life.transfer_level, accepts);
            prop_assert_eq!(&life.initial_owner, &Some(person(OWNER)));
            if life.status == Transferred { prop_assert!(life.previous_owner.is_some()); }
            if facts.rules.max_number_of_transfer_per_ticket_in_group_id >= 0 && !all_entries.iter().any(|e| e.actor == "BACK_OFFICE") {
                prop_assert!(life.transfer_level <= facts.rules.max_number_of_transfer_per_ticket_in_group_id);
            }
        }
        prop_assert_eq!(verify_chain(&all_entries), Ok(all_entries.len()));
    }
}

#[test]
fn a_batch_chains_entries_and_merges_writes_per_ticket() {
    let mut current = HashMap::new();
    for id in ["A", "B"] {
        current.insert(
            id.to_owned(),
            LoadedTicket {
                ticket_id: id.into(),
                event_id: "E1".into(),
                taxation_number: Some(format!("TAX-{id}")),
                life: fresh(),
                facts: facts(TransferRules::default()),
            },
        );
    }
    let op = |id: &str, a: Action| Op {
        ticket_id: id.into(),
        caller: spectator(OWNER),
        action: a,
    };
    let plan = plan_actions(
        vec![
            op("A", Action::Download),
            op("B", Action::Download),
            op("A", Action::Download),
            op(
                "A",
                Action::Assign {
                    holder: person(FRIEND),
                },
            ),
            op("missing", Action::Download),
        ],
        current,
        ChainHead::genesis(),
        t0(),
        &settings(),
    );
    assert_eq!(plan.entries.len(), 3);
    assert_eq!(verify_chain(&plan.entries), Ok(3));
    assert_eq!(plan.writes.len(), 2);
    assert_eq!(plan.writes[0].log_seqs, "1,3");
    assert_eq!(plan.writes[0].change_seq, 3);
    assert_eq!(plan.writes[0].life.status, Assigned);
    assert_eq!(plan.results[2].as_ref().unwrap().status, "DOWNLOADED");
    assert!(plan.results[2].as_ref().unwrap().history.is_empty());
    assert_eq!(plan.results[3].as_ref().unwrap().history.len(), 1);
    assert_eq!(plan.results[4].as_ref().unwrap_err().code, TICKET_NOT_FOUND);
    assert_eq!(plan.head.seq, 3);
}

#[test]
fn a_controlled_ticket_travels_and_stays_controlled() {
    let rules = facts(TransferRules {
        allow_transfer_after_control: true,
        ..Default::default()
    });
    let controlled = walk(&[
        (spectator(OWNER), Action::Download),
        (
            Caller::Organizer,
            Action::Control {
                controlled_at: None,
            },
        ),
    ]);
    let transfer = Action::Transfer { to: person(FRIEND) };
    let sent = changed(run(&controlled, &rules, &spectator(OWNER), &transfer, t0())).state;
    assert_eq!(sent.status, Controlled);
    assert!(sent.in_transit() && sent.due_at.is_some());
    assert_eq!(sent.recipient_email().as_deref(), Some(FRIEND));
    // A second transfer waits for the first to end.
    assert_eq!(
        refused(run(&sent, &rules, &spectator(OWNER), &transfer, t0())).code,
        ILLEGAL_TRANSITION
    );
    // Every end of the transfer leaves it controlled; only accept moves the owner.
    let accepted = changed(run(
        &sent,
        &rules,
        &spectator(FRIEND),
        &Action::Accept,
        t0(),
    ))
    .state;
    assert_eq!(accepted.status, Controlled);
    assert_eq!(accepted.owner_email().as_deref(), Some(FRIEND));
    assert_eq!(accepted.transfer_level, 1);
    assert!(!accepted.in_transit() && accepted.due_at.is_none());
    for (caller, action, at) in [
        (spectator(FRIEND), Action::Reject, t0()),
        (spectator(OWNER), Action::CancelTransfer, t0()),
        (Caller::System, Action::TimeOut, t0() + Duration::hours(2)),
    ] {
        let after = changed(run(&sent, &rules, &caller, &action, at)).state;
        assert_eq!(after.status, Controlled, "{action:?}");
        assert_eq!(after.owner_email().as_deref(), Some(OWNER));
        assert!(after.transfer.is_none() && after.due_at.is_none());
    }
    // The new holder cannot activate it: it is not live.
    let activate = Action::Activate {
        method: ActivationMethod::Online,
        code: None,
    };
    assert_eq!(
        refused(run(&accepted, &rules, &spectator(FRIEND), &activate, t0())).code,
        ILLEGAL_TRANSITION
    );
}
