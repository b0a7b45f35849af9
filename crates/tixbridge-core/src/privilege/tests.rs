use chrono::{Duration, TimeZone};

use super::*;
use crate::ledger::verify_chain;

fn privilege(id: &str, def: &str, email: &str) -> Privilege {
    Privilege {
        privilege_id: Some(id.into()),
        definition: Some(PrivilegeDefinition {
            id: Some(def.into()),
            name: Some("Season 2026/27".into()),
            kind: Some("SEASON_CARD".into()),
            valid_from: Some("2026-08-01T00:00:00+02:00".into()),
            valid_to: Some("2027-06-30T23:59:59+02:00".into()),
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
        linked_ticket_ids: vec!["T1".into(), "T2".into()],
        details: None,
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0)
        .single()
        .unwrap()
}

const AT: &str = "2026-11-27T10:00:00.000Z";

fn current(status: WalletStatus, p: &Privilege) -> CurrentPrivilege {
    CurrentPrivilege {
        status,
        status_changed_at: AT.into(),
        content_hash: content_of(p).1,
        owner: p.spectator_details.clone(),
        deletion: None,
        due_at: None,
    }
}

fn deletion(id: &str, reason: &str, show: bool) -> PrivilegeDeletion {
    PrivilegeDeletion {
        privilege_id: Some(id.into()),
        reason: Some(reason.into()),
        show_deleted_ticket: show,
    }
}

#[test]
fn a_complete_privilege_is_valid_and_wire_names_are_the_contracts() {
    let p = privilege("P1", "D1", "a@example.org");
    assert_eq!(validate_privilege(&p), Ok(()));
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["privilegeId"], "P1");
    assert_eq!(json["definition"]["type"], "SEASON_CARD");
    assert_eq!(json["definition"]["validFrom"], "2026-08-01T00:00:00+02:00");
    assert_eq!(json["linkedTicketIds"][1], "T2");
    let back: Privilege = serde_json::from_value(json).unwrap();
    assert_eq!(back, p);
    let d: DeletePrivilegesRequest = serde_json::from_str(
        r#"{"privileges":[{"privilegeId":"P1","reason":"RESOLD","showDeletedTicket":true}]}"#,
    )
    .unwrap();
    assert_eq!(d.privileges[0], deletion("P1", "RESOLD", true));
}

/// A change that makes a privilege invalid, the code and the message expected.
type Case = (Box<dyn Fn(&mut Privilege)>, &'static str, &'static str);

#[test]
fn validation_names_the_field() {
    let cases: Vec<Case> = vec![
        (
            Box::new(|p| p.privilege_id = None),
            "MISSING_FIELD",
            "privilegeId is required",
        ),
        (
            Box::new(|p| p.privilege_id = Some("bad#id".into())),
            "INVALID_FIELD",
            "privilegeId may contain only letters, digits, space and *.-_+/()",
        ),
        (
            Box::new(|p| p.privilege_id = Some("x".repeat(257))),
            "FIELD_TOO_LONG",
            "privilegeId is longer than 256 characters",
        ),
        (
            Box::new(|p| p.definition = None),
            "MISSING_FIELD",
            "definition is required",
        ),
        (
            Box::new(|p| p.definition.as_mut().unwrap().id = None),
            "MISSING_FIELD",
            "definition.id is required",
        ),
        (
            Box::new(|p| p.definition.as_mut().unwrap().name = Some("  ".into())),
            "MISSING_FIELD",
            "definition.name is required",
        ),
        (
            Box::new(|p| p.definition.as_mut().unwrap().kind = None),
            "MISSING_FIELD",
            "definition.type is required",
        ),
        (
            Box::new(|p| p.definition.as_mut().unwrap().kind = Some("TICKET".into())),
            "INVALID_FIELD",
            "definition.type must be MEMBERSHIP or SEASON_CARD",
        ),
        (
            Box::new(|p| p.definition.as_mut().unwrap().valid_from = Some("2026-08-01".into())),
            "INVALID_FIELD",
            "definition.validFrom must be an RFC 3339 time with offset",
        ),
        (
            Box::new(|p| {
                p.definition.as_mut().unwrap().valid_to = Some("2026-07-01T00:00:00Z".into())
            }),
            "INVALID_FIELD",
            "definition.validTo is before definition.validFrom",
        ),
        (
            Box::new(|p| p.purchase_details = None),
            "MISSING_FIELD",
            "purchaseDetails is required",
        ),
        (
            Box::new(|p| p.security.as_mut().unwrap().barcode = None),
            "MISSING_FIELD",
            "security.barcode is required",
        ),
        (
            Box::new(|p| p.spectator_details.as_mut().unwrap().email = None),
            "MISSING_FIELD",
            "spectatorDetails.email is required",
        ),
        (
            Box::new(|p| p.spectator_details.as_mut().unwrap().email = Some("nobody".into())),
            "INVALID_FIELD",
            "spectatorDetails.email is not an email address",
        ),
        (
            Box::new(|p| p.linked_ticket_ids.push("no#pe".into())),
            "INVALID_FIELD",
            "linkedTicketIds[2] may contain only letters, digits, space and *.-_+/()",
        ),
        (
            Box::new(|p| {
                let mut m = std::collections::BTreeMap::new();
                m.insert("english".to_owned(), "Gate".to_owned());
                p.details = Some(PrivilegeDetails {
                    main: vec![DetailEntry {
                        key: Text::Multi(m),
                        value: "A".into(),
                    }],
                    extra: vec![],
                });
            }),
            "INVALID_FIELD",
            "details.main[0].key has language key \"english\"; keys must be two-letter language codes",
        ),
    ];
    for (change, code, message) in cases {
        let mut p = privilege("P1", "D1", "a@example.org");
        change(&mut p);
        let e = validate_privilege(&p).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (code, message));
    }
    assert_eq!(
        validate_deletion(&PrivilegeDeletion {
            privilege_id: Some("P1".into()),
            ..Default::default()
        })
        .unwrap_err()
        .message,
        "reason is required"
    );
    assert_eq!(validate_deletion(&deletion("P1", "RESOLD", false)), Ok(()));
}

#[test]
fn injection_creates_then_is_idempotent_updates_or_refuses() {
    let p1 = privilege("P1", "D1", "a@example.org");
    let p2 = privilege("P2", "D1", "b@example.org");
    let plan = plan_inject(
        prepare(vec![p1.clone(), p2.clone()]),
        HashMap::new(),
        ChainHead::genesis(),
        AT,
    );
    assert_eq!(
        plan.results,
        [
            ItemResult::ok("P1", "INJECTED"),
            ItemResult::ok("P2", "INJECTED")
        ]
    );
    assert_eq!(plan.definitions.len(), 1, "one definition shared by both");
    assert_eq!(plan.definitions[0].definition_id, "D1");
    assert_eq!(plan.privileges.len(), 2);
    assert_eq!(verify_chain(&plan.entries), Ok(2));
    let e = &plan.entries[0];
    assert_eq!(
        (
            e.action.as_str(),
            e.from_status.as_deref(),
            e.to_status.as_str()
        ),
        ("PRIVILEGE_INJECT", None, "INJECTED")
    );
    assert_eq!(e.ticket_id, "P1");
    assert_eq!(e.to_owner.as_deref(), Some("a@example.org"));
    assert_eq!(e.actor, "ORGANIZER_API");

    // Against stored state: P1 identical, P2 changed recipient, P3 deleted.
    let p3 = privilege("P3", "D2", "c@example.org");
    let mut cur = HashMap::new();
    cur.insert("P1".to_owned(), current(WalletStatus::Injected, &p1));
    cur.insert("P2".to_owned(), current(WalletStatus::Injected, &p2));
    cur.insert("P3".to_owned(), current(WalletStatus::DeletionPending, &p3));
    let mut p2b = p2.clone();
    p2b.spectator_details = Some(SpectatorDetails {
        email: Some("B2@example.org".into()),
        ..Default::default()
    });
    let head = ChainHead {
        seq: 9,
        hash: "h".repeat(64),
    };
    let plan = plan_inject(prepare(vec![p1, p2b, p3]), cur, head, AT);
    assert_eq!(plan.results[0], ItemResult::ok("P1", "INJECTED"));
    assert_eq!(plan.results[1], ItemResult::ok("P2", "INJECTED"));
    assert_eq!(plan.results[2].error_code.as_deref(), Some(TICKET_DELETED));
    assert!(plan.results[2].message.as_deref().unwrap().contains("P3"));
    assert_eq!(plan.entries.len(), 1);
    let e = &plan.entries[0];
    assert_eq!(e.seq, 10);
    assert_eq!(e.prev_hash, "h".repeat(64));
    assert_eq!(e.action, "PRIVILEGE_UPDATE");
    assert_eq!(e.from_owner.as_deref(), Some("b@example.org"));
    assert_eq!(e.to_owner.as_deref(), Some("B2@example.org"));
    assert_eq!(plan.privileges.len(), 1);
    assert_eq!(
        plan.privileges[0].owner_email.as_deref(),
        Some("b2@example.org")
    );
    // Only written privileges write their definition.
    assert_eq!(plan.definitions.len(), 1);
    assert_eq!(plan.definitions[0].definition_id, "D1");
}

#[test]
fn an_identical_retry_writes_nothing() {
    let p = privilege("P1", "D1", "a@example.org");
    let mut cur = HashMap::new();
    cur.insert("P1".to_owned(), current(WalletStatus::Injected, &p));
    // Formatting differences do not matter: the parsed value is hashed.
    let reparsed: Privilege =
        serde_json::from_str(&serde_json::to_string_pretty(&p).unwrap()).unwrap();
    let plan = plan_inject(prepare(vec![reparsed]), cur, ChainHead::genesis(), AT);
    assert_eq!(plan.results, [ItemResult::ok("P1", "INJECTED")]);
    assert!(plan.is_empty());
}

#[test]
fn repeated_ids_in_one_call_see_each_other_and_the_last_definition_wins() {
    let p = privilege("P1", "D1", "a@example.org");
    let mut renamed = p.clone();
    renamed.definition.as_mut().unwrap().name = Some("Season 2026/27 — Gold".into());
    let plan = plan_inject(
        prepare(vec![p.clone(), p, renamed]),
        HashMap::new(),
        ChainHead::genesis(),
        AT,
    );
    assert!(plan.results.iter().all(ItemResult::is_ok));
    let actions: Vec<_> = plan.entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["PRIVILEGE_INJECT", "PRIVILEGE_UPDATE"]);
    assert_eq!(plan.privileges.len(), 1);
    assert_eq!(plan.privileges[0].log_seqs, "1,2");
    assert_eq!(plan.privileges[0].change_seq, 2);
    assert!(plan.privileges[0].content.contains("Gold"));
    assert_eq!(plan.definitions.len(), 1);
    let def: PrivilegeDefinition = serde_json::from_str(&plan.definitions[0].data).unwrap();
    assert_eq!(def.name, Some("Season 2026/27 — Gold".into()));
}

#[test]
fn unusable_privileges_are_refused_not_written() {
    let mut p = privilege("P1", "D1", "a@example.org");
    p.definition = None;
    let mut q = privilege("P2", "D1", "a@example.org");
    q.spectator_details.as_mut().unwrap().email = None;
    let plan = plan_inject(
        prepare(vec![p, q]),
        HashMap::new(),
        ChainHead::genesis(),
        AT,
    );
    assert!(plan.results.iter().all(|r| !r.is_ok()));
    assert!(plan.is_empty());
}

#[test]
fn deletion_is_pending_then_confirmed_when_due() {
    let p = privilege("P1", "D1", "a@example.org");
    let mut cur = HashMap::new();
    cur.insert("P1".to_owned(), current(WalletStatus::Injected, &p));
    let settings = Settings {
        deletion_delay: Duration::seconds(5),
        ..Settings::default()
    };
    let plan = plan_delete(
        vec![
            deletion("P1", "RESOLD", true),
            deletion("P1", "RESOLD", true),
            deletion("P9", "RESOLD", true),
        ],
        cur.clone(),
        ChainHead::genesis(),
        now(),
        &settings,
    );
    assert_eq!(plan.results[0], ItemResult::ok("P1", "DELETION_PENDING"));
    assert_eq!(plan.results[1], ItemResult::ok("P1", "DELETION_PENDING"));
    assert_eq!(
        plan.results[2].error_code.as_deref(),
        Some(PRIVILEGE_NOT_FOUND)
    );
    assert_eq!(plan.entries.len(), 1, "the repeat records nothing");
    let e = &plan.entries[0];
    assert_eq!(e.action, "PRIVILEGE_DELETE");
    assert_eq!(e.from_status.as_deref(), Some("INJECTED"));
    assert_eq!(e.to_status, "DELETION_PENDING");
    assert_eq!(e.detail.as_deref(), Some("reason=RESOLD"));
    assert_eq!(verify_chain(&plan.entries), Ok(1));
    let w = &plan.writes[0];
    assert_eq!(w.status, WalletStatus::DeletionPending);
    assert_eq!(w.due_at.as_deref(), Some("2026-11-27T10:00:05.000Z"));
    assert_eq!(w.status_changed_at, AT);
    let d: Deletion = serde_json::from_str(w.deletion.as_deref().unwrap()).unwrap();
    assert_eq!(
        d,
        Deletion {
            reason: "RESOLD".into(),
            show_deleted_ticket: true,
            requested_at: AT.into(),
            confirmed_at: None,
        }
    );

    // The stored state after the deletion.
    let pending = CurrentPrivilege {
        status: WalletStatus::DeletionPending,
        deletion: Some(d),
        due_at: w.due_at.clone(),
        ..current(WalletStatus::Injected, &p)
    };
    let mut cur = HashMap::new();
    cur.insert("P1".to_owned(), pending.clone());
    // Not due yet: nothing.
    let early = plan_confirm(
        vec!["P1".into(), "P9".into()],
        cur.clone(),
        plan.head.clone(),
        now() + Duration::seconds(4),
    );
    assert!(early.is_empty() && early.results.is_empty());
    let late = now() + Duration::seconds(5);
    let confirm = plan_confirm(vec!["P1".into()], cur, plan.head.clone(), late);
    assert_eq!(confirm.results, [ItemResult::ok("P1", "DELETED")]);
    let e = &confirm.entries[0];
    assert_eq!(
        (e.action.as_str(), e.actor.as_str(), e.to_status.as_str()),
        ("PRIVILEGE_CONFIRM_DELETION", "SYSTEM", "DELETED")
    );
    assert_eq!(e.seq, 2);
    let w = &confirm.writes[0];
    assert_eq!(w.status, WalletStatus::Deleted);
    assert_eq!(w.due_at, None);
    assert_eq!(w.status_changed_at, "2026-11-27T10:00:05.000Z");
    let d: Deletion = serde_json::from_str(w.deletion.as_deref().unwrap()).unwrap();
    assert_eq!(d.confirmed_at.as_deref(), Some("2026-11-27T10:00:05.000Z"));
    let all: Vec<_> = plan.entries.into_iter().chain(confirm.entries).collect();
    assert_eq!(verify_chain(&all), Ok(2));
}

#[test]
fn a_new_reason_is_recorded_without_changing_the_status() {
    let p = privilege("P1", "D1", "a@example.org");
    for status in [WalletStatus::DeletionPending, WalletStatus::Deleted] {
        let mut cur = HashMap::new();
        cur.insert(
            "P1".to_owned(),
            CurrentPrivilege {
                status,
                deletion: Some(Deletion {
                    reason: "RESALE_PENDING".into(),
                    show_deleted_ticket: true,
                    requested_at: AT.into(),
                    confirmed_at: None,
                }),
                due_at: Some(AT.into()),
                ..current(status, &p)
            },
        );
        let plan = plan_delete(
            vec![deletion("P1", "RESOLD", true)],
            cur,
            ChainHead::genesis(),
            now() + Duration::seconds(30),
            &Settings::default(),
        );
        assert_eq!(plan.results, [ItemResult::ok("P1", status.as_str())]);
        let e = &plan.entries[0];
        assert_eq!(e.action, "PRIVILEGE_DELETE_REASON");
        assert_eq!(e.from_status.as_deref(), Some(status.as_str()));
        assert_eq!(e.to_status, status.as_str());
        assert_eq!(e.detail.as_deref(), Some("reason=RESOLD"));
        let w = &plan.writes[0];
        assert_eq!(w.status_changed_at, AT, "the status did not change");
        assert_eq!(w.due_at.as_deref(), Some(AT), "the confirmation stays due");
        let d: Deletion = serde_json::from_str(w.deletion.as_deref().unwrap()).unwrap();
        assert_eq!((d.reason.as_str(), d.requested_at.as_str()), ("RESOLD", AT));
    }
}

#[test]
fn stored_rows_decode_into_records() {
    let p = privilege("P1", "D1", "a@example.org");
    let (content, hash) = content_of(&p);
    let row = StoredPrivilege {
        privilege_id: "P1".into(),
        status: "INJECTED".into(),
        status_changed_at: AT.into(),
        content_hash: hash,
        owner: Some(r#"{"email":"a@example.org"}"#.into()),
        deletion: Some("null".into()),
        due_at: None,
    };
    let cur = row.into_current().unwrap();
    assert_eq!(cur.deletion, None);
    let newer = PrivilegeDefinition {
        name: Some("Renamed".into()),
        ..p.definition.clone().unwrap()
    };
    let rec = record(
        &content,
        Some(&serde_json::to_string(&newer).unwrap()),
        cur,
        vec![],
    )
    .unwrap();
    assert_eq!(rec.privilege.definition, Some(newer));
    assert_eq!(rec.status, "INJECTED");
    let json = serde_json::to_value(&rec).unwrap();
    for key in [
        "privilege",
        "status",
        "statusChangedAt",
        "owner",
        "deletion",
        "history",
    ] {
        assert!(json.get(key).is_some(), "{key} is missing from {json}");
    }
    let bad = StoredPrivilege {
        status: "NOPE".into(),
        ..Default::default()
    };
    assert!(bad.into_current().is_err());
}
