//! `privilege.rs`: digital privileges — validation, injection, deletion and its
//! confirmation (WALLET-API.md "Digital privileges", DOMAIN.md §5.5).

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tixbridge_core::api::{PurchaseDetails, Security, SpectatorDetails};
use tixbridge_core::ledger::{ChainHead, format_at, verify_chain};
use tixbridge_core::lifecycle::Settings;
use tixbridge_core::privilege::{
    CurrentPrivilege, Privilege, PrivilegeDefinition, PrivilegeDeletion, StoredPrivilege,
    content_of, owner_email, plan_confirm, plan_delete, plan_inject, prepare, record,
    validate_privilege,
};
use tixbridge_core::status::WalletStatus::{self, *};

fn privilege(id: &str, def: &str, email: &str) -> Privilege {
    Privilege {
        privilege_id: Some(id.into()),
        definition: Some(PrivilegeDefinition {
            id: Some(def.into()),
            name: Some("Season 2026/27".into()),
            kind: Some("MEMBERSHIP".into()),
            valid_from: Some("2026-08-01T00:00:00Z".into()),
            valid_to: Some("2027-06-30T00:00:00Z".into()),
            image_url: None,
        }),
        purchase_details: Some(PurchaseDetails {
            taxation_number: Some(format!("TAX-{id}")),
            ..Default::default()
        }),
        security: Some(Security {
            barcode: Some(format!("BC-{id}")),
        }),
        spectator_details: Some(SpectatorDetails {
            email: Some(email.into()),
            ..Default::default()
        }),
        linked_ticket_ids: vec![],
        details: None,
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap()
}

fn current(status: WalletStatus, due_at: Option<DateTime<Utc>>) -> CurrentPrivilege {
    CurrentPrivilege {
        status,
        status_changed_at: "2026-11-01T00:00:00.000Z".into(),
        content_hash: content_of(&privilege("P1", "D1", "a@example.org")).1,
        owner: privilege("P1", "D1", "a@example.org").spectator_details,
        deletion: None,
        due_at: due_at.map(format_at),
    }
}

fn one(id: &str, c: CurrentPrivilege) -> HashMap<String, CurrentPrivilege> {
    HashMap::from([(id.to_owned(), c)])
}

/// A privilege valid for a single instant (validTo = validFrom) is accepted.
#[test]
fn a_validity_of_one_instant_is_accepted() {
    let mut p = privilege("P1", "D1", "a@example.org");
    let d = p.definition.as_mut().unwrap();
    d.valid_to = d.valid_from.clone();
    assert_eq!(validate_privilege(&p), Ok(()));
}

/// A deletion due exactly now is confirmed; one without a due time too; one due later,
/// one not pending and an unknown id are left alone.
#[test]
fn confirmation_takes_what_is_due() {
    let plan = plan_confirm(
        vec!["P1".into()],
        one("P1", current(DeletionPending, Some(now()))),
        ChainHead::genesis(),
        now(),
    );
    assert_eq!(plan.results.len(), 1);
    assert_eq!(plan.writes[0].status, Deleted);
    assert_eq!(plan.writes[0].status_changed_at, format_at(now()));
    assert_eq!(plan.writes[0].due_at, None);
    assert_eq!(plan.entries[0].actor, "SYSTEM");
    assert!(!plan.is_empty());
    let plan = plan_confirm(
        vec!["P1".into()],
        one("P1", current(DeletionPending, None)),
        ChainHead::genesis(),
        now(),
    );
    assert_eq!(plan.writes.len(), 1);
    for (status, due) in [
        (DeletionPending, Some(now() + Duration::milliseconds(1))),
        (Injected, None),
        (Deleted, None),
    ] {
        let plan = plan_confirm(
            vec!["P1".into(), "P9".into()],
            one("P1", current(status, due)),
            ChainHead::genesis(),
            now(),
        );
        assert!(plan.is_empty(), "{status} {due:?}");
        assert!(plan.results.is_empty());
    }
}

fn del(id: &str, reason: &str, show: bool) -> PrivilegeDeletion {
    PrivilegeDeletion {
        privilege_id: Some(id.into()),
        reason: Some(reason.into()),
        show_deleted_ticket: show,
    }
}

/// A deletion is due after the service's delay; a second request with a new reason
/// on the same privilege keeps the status, its time and its due time, and both
/// entries land in one write.
#[test]
fn deletion_then_a_new_reason_in_one_call() {
    let settings = Settings {
        deletion_delay: Duration::seconds(30),
        ..Settings::default()
    };
    let plan = plan_delete(
        vec![del("P1", " RESOLD ", false), del("P1", "THEFT", true)],
        one("P1", current(Injected, None)),
        ChainHead::genesis(),
        now(),
        &settings,
    );
    let actions: Vec<_> = plan.entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["PRIVILEGE_DELETE", "PRIVILEGE_DELETE_REASON"]);
    assert_eq!(plan.entries[0].detail.as_deref(), Some("reason=RESOLD"));
    assert_eq!(plan.entries[0].from_owner.as_deref(), Some("a@example.org"));
    assert_eq!(plan.writes.len(), 1);
    let w = &plan.writes[0];
    assert_eq!(w.status, DeletionPending);
    assert_eq!(w.status_changed_at, format_at(now()));
    assert_eq!(w.due_at, Some(format_at(now() + Duration::seconds(30))));
    assert_eq!(w.log_seqs, "1,2");
    assert!(w.deletion.as_deref().unwrap().contains("THEFT"));
    assert_eq!(verify_chain(&plan.entries), Ok(2));
    // Deleting a pending privilege with no recorded deletion keeps its status time.
    let plan = plan_delete(
        vec![del("P1", "X", false)],
        one("P1", current(DeletionPending, None)),
        ChainHead::genesis(),
        now(),
        &settings,
    );
    assert_eq!(plan.writes[0].status_changed_at, "2026-11-01T00:00:00.000Z");
    // A blank reason and an unknown privilege are refused by id; nothing is written.
    let plan = plan_delete(
        vec![del("P1", "  ", false), del("P9", "X", false)],
        one("P1", current(Injected, None)),
        ChainHead::genesis(),
        now(),
        &settings,
    );
    let codes: Vec<_> = plan
        .results
        .iter()
        .map(|r| (r.ticket_id.as_str(), r.error_code.as_deref()))
        .collect();
    assert_eq!(
        codes,
        [
            ("P1", Some("MISSING_FIELD")),
            ("P9", Some("PRIVILEGE_NOT_FOUND"))
        ]
    );
    assert!(plan.is_empty());
}

/// Injection: the owner's email as sessions match it; an unchanged retry writes
/// nothing; a privilege without an id or email is refused.
#[test]
fn injection_rows_and_refusals() {
    let p = privilege("P1", "D1", " A@Example.org");
    let plan = plan_inject(
        prepare(vec![p.clone()]),
        HashMap::new(),
        ChainHead::genesis(),
        "T",
    );
    assert_eq!(
        plan.privileges[0].owner_email.as_deref(),
        Some("a@example.org")
    );
    assert_eq!(plan.definitions[0].definition_id, "D1");
    assert!(!plan.is_empty());
    let cur = CurrentPrivilege {
        content_hash: content_of(&p).1,
        ..current(Injected, None)
    };
    let plan = plan_inject(prepare(vec![p]), one("P1", cur), ChainHead::genesis(), "T");
    assert!(plan.is_empty());
    let mut no_id = privilege("", "D1", "a@example.org");
    no_id.privilege_id = None;
    let mut no_email = privilege("P2", "D1", "a@example.org");
    no_email.spectator_details.as_mut().unwrap().email = None;
    let plan = plan_inject(
        prepare(vec![no_id, no_email]),
        HashMap::new(),
        ChainHead::genesis(),
        "T",
    );
    assert!(
        plan.results
            .iter()
            .all(|r| r.error_code.as_deref() == Some("MISSING_FIELD"))
    );
    assert!(plan.is_empty());
    assert_eq!(owner_email(None), None);
}

/// A stored privilege reads back with its current definition; a broken column is
/// named.
#[test]
fn stored_privileges_read_back() {
    let p = privilege("P1", "D1", "a@example.org");
    let row = StoredPrivilege {
        privilege_id: "P1".into(),
        status: "DELETION_PENDING".into(),
        status_changed_at: "t".into(),
        content_hash: "h".into(),
        owner: Some(r#"{"email":"a@example.org"}"#.into()),
        deletion: None,
        due_at: Some("d".into()),
    };
    let cur = row.clone().into_current().unwrap();
    assert_eq!(
        (cur.status, cur.due_at.as_deref()),
        (DeletionPending, Some("d"))
    );
    let renamed = r#"{"id":"D1","name":"Renamed","type":"MEMBERSHIP"}"#;
    let content = serde_json::to_string(&p).unwrap();
    let r = record(&content, Some(renamed), cur.clone(), vec![]).unwrap();
    assert_eq!(r.privilege.definition.unwrap().name, Some("Renamed".into()));
    assert_eq!(r.status, "DELETION_PENDING");
    assert!(
        record("{", None, cur.clone(), vec![])
            .unwrap_err()
            .contains("content")
    );
    assert!(
        record(&content, Some("{"), cur, vec![])
            .unwrap_err()
            .contains("definition")
    );
    let bad = StoredPrivilege {
        owner: Some("{".into()),
        ..row
    };
    assert!(bad.into_current().unwrap_err().contains("owner"));
}
