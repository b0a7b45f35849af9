//! Conformance checks of the [`crate::PrivilegeStore`] half of a wallet store. Every
//! check creates its own organizers (random keys), so the checks share one store.
//!
//! One check needs a privilege row altered behind the store's back;
//! [`check_altered_rows_are_caught`] takes a backend-specific function for it.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

use tixbridge_core::api::{PurchaseDetails, Security, SpectatorDetails};
use tixbridge_core::ledger::verify_chain;
use tixbridge_core::lifecycle::Settings;
use tixbridge_core::privilege::{Privilege, PrivilegeDefinition, PrivilegeDeletion};

use super::wallet::{assert_chain_valid, sample_ticket};
use crate::{Actor, StoreError, WalletStore};

/// Sets a privilege's status column directly in the backend:
/// `(organizer_id, privilege_id, status)`.
pub type SetPrivilegeStatus =
    Arc<dyn Fn(i64, String, String) -> BoxFuture<'static, ()> + Send + Sync>;

/// Runs every check that needs nothing but the trait.
pub async fn run_all(store: Arc<dyn WalletStore>) {
    check_inject_and_read(store.clone()).await;
    check_idempotent_retry_and_update(store.clone()).await;
    check_definitions_are_shared(store.clone()).await;
    check_delete_confirm_and_spent_ids(store.clone()).await;
    check_new_reason_is_recorded(store.clone()).await;
    check_sweep_confirms_due_deletions(store.clone()).await;
    check_chain_interleaves_tickets_and_privileges(store.clone()).await;
    check_concurrent_writes_keep_one_chain(store.clone()).await;
    check_isolation(store.clone()).await;
    check_unknown_organizer(store).await;
}

/// A complete privilege of definition `def` for `email`.
pub fn sample_privilege(id: &str, def: &str, email: &str) -> Privilege {
    Privilege {
        privilege_id: Some(id.into()),
        definition: Some(PrivilegeDefinition {
            id: Some(def.into()),
            name: Some("Season card 2026/27".into()),
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
            first_name: Some("Ada".into()),
            ..Default::default()
        }),
        linked_ticket_ids: vec!["T1".into()],
        details: None,
    }
}

fn deletion(id: &str, reason: &str, show: bool) -> PrivilegeDeletion {
    PrivilegeDeletion {
        privilege_id: Some(id.into()),
        reason: Some(reason.into()),
        show_deleted_ticket: show,
    }
}

fn at(sec: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, sec)
        .single()
        .expect("valid time")
}

fn delay(secs: i64) -> Settings {
    Settings {
        deletion_delay: Duration::seconds(secs),
        ..Settings::default()
    }
}

async fn new_organizer(store: &Arc<dyn WalletStore>, name: &str) -> i64 {
    let key: [u8; 32] = rand::random();
    store
        .create_organizer(name, &hex::encode(Sha256::digest(key)))
        .await
        .expect("create organizer")
        .id
}

async fn log_len(store: &Arc<dyn WalletStore>, org: i64) -> usize {
    store.status_log(org, 0, 100_000).await.expect("log").len()
}

async fn status_of(store: &Arc<dyn WalletStore>, org: i64, id: &str) -> String {
    store
        .privilege(org, id)
        .await
        .expect("read")
        .unwrap_or_else(|| panic!("privilege {id} exists"))
        .status
}

/// The whole chain verifies (from the log alone, and by the store's `verify`), and
/// every privilege row agrees with its last entry.
async fn assert_all_verified(store: &Arc<dyn WalletStore>, org: i64) -> usize {
    let n = assert_chain_valid(store, org).await;
    let log = store.status_log(org, 0, 100_000).await.expect("log");
    assert_eq!(verify_chain(&log), Ok(n));
    let v = store.verify(org).await.expect("verify");
    assert!(v.valid, "the chain verifies: {v:?}");
    assert_eq!(v.entries, n as i64);
    assert_eq!(
        store
            .verify_privileges(org, v.entries)
            .await
            .expect("verify privileges"),
        None,
        "every privilege row agrees with its last entry"
    );
    n
}

pub async fn check_inject_and_read(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "privileges").await;
    let res = store
        .inject_privileges(
            org,
            vec![
                sample_privilege("P1", "D1", "Ada@Example.org"),
                sample_privilege("P2", "D2", "b@example.org"),
            ],
            at(0),
        )
        .await
        .expect("inject");
    assert!(res.iter().all(|r| r.is_ok()), "{res:?}");
    assert_eq!(
        res.iter().map(|r| r.ticket_id.as_str()).collect::<Vec<_>>(),
        ["P1", "P2"]
    );
    assert!(res.iter().all(|r| r.status.as_deref() == Some("INJECTED")));

    let rec = store
        .privilege(org, "P1")
        .await
        .expect("read")
        .expect("P1 exists");
    assert_eq!(
        rec.privilege,
        sample_privilege("P1", "D1", "Ada@Example.org")
    );
    assert_eq!(rec.status, "INJECTED");
    assert_eq!(rec.status_changed_at, "2026-11-27T10:00:00.000Z");
    assert_eq!(
        rec.owner.and_then(|o| o.email).as_deref(),
        Some("Ada@Example.org")
    );
    assert_eq!(rec.deletion, None);
    assert_eq!(rec.history.len(), 1);
    let e = &rec.history[0];
    assert_eq!(
        (
            e.seq,
            e.ticket_id.as_str(),
            e.action.as_str(),
            e.from_status.as_deref(),
            e.to_status.as_str(),
            e.actor.as_str(),
        ),
        (
            1,
            "P1",
            "PRIVILEGE_INJECT",
            None,
            "INJECTED",
            "ORGANIZER_API"
        )
    );
    assert!(store.privilege(org, "P9").await.expect("read").is_none());
    // Privileges are not tickets.
    assert!(store.ticket(org, "P1").await.expect("read").is_none());
    assert_eq!(assert_all_verified(&store, org).await, 2);
}

pub async fn check_idempotent_retry_and_update(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "retry").await;
    let p = sample_privilege("P1", "D1", "a@example.org");
    store
        .inject_privileges(org, vec![p.clone()], at(0))
        .await
        .expect("inject");
    let again = store
        .inject_privileges(org, vec![p.clone()], at(1))
        .await
        .expect("retry");
    assert!(again[0].is_ok());
    assert_eq!(again[0].status.as_deref(), Some("INJECTED"));
    assert_eq!(
        log_len(&store, org).await,
        1,
        "an identical retry records nothing"
    );

    let mut changed = p.clone();
    changed.spectator_details = Some(SpectatorDetails {
        email: Some("b@example.org".into()),
        ..Default::default()
    });
    changed.linked_ticket_ids.push("T2".into());
    let res = store
        .inject_privileges(org, vec![changed.clone()], at(2))
        .await
        .expect("update");
    assert!(res[0].is_ok());
    let rec = store.privilege(org, "P1").await.expect("read").expect("P1");
    assert_eq!(rec.privilege, changed);
    assert_eq!(
        rec.owner.and_then(|o| o.email).as_deref(),
        Some("b@example.org"),
        "the owner follows the recipient"
    );
    assert_eq!(
        rec.status_changed_at, "2026-11-27T10:00:00.000Z",
        "an update keeps the status and its time"
    );
    let actions: Vec<_> = rec.history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["PRIVILEGE_INJECT", "PRIVILEGE_UPDATE"]);
    let e = &rec.history[1];
    assert_eq!(e.from_owner.as_deref(), Some("a@example.org"));
    assert_eq!(e.to_owner.as_deref(), Some("b@example.org"));

    // The same id twice in one call: the second sees the first.
    let mut third = changed.clone();
    third.security = Some(Security {
        barcode: Some("NEW".into()),
    });
    let res = store
        .inject_privileges(org, vec![changed, third.clone(), third.clone()], at(3))
        .await
        .expect("repeat in a call");
    assert!(res.iter().all(|r| r.is_ok()));
    let rec = store.privilege(org, "P1").await.expect("read").expect("P1");
    assert_eq!(rec.privilege, third);
    assert_eq!(rec.history.len(), 3);
    assert_eq!(assert_all_verified(&store, org).await, 3);
}

pub async fn check_definitions_are_shared(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "definitions").await;
    store
        .inject_privileges(
            org,
            vec![
                sample_privilege("P1", "GOLD", "a@example.org"),
                sample_privilege("P2", "SILVER", "b@example.org"),
            ],
            at(0),
        )
        .await
        .expect("inject");
    // A later privilege changes the GOLD definition: every GOLD privilege shows it.
    let mut p3 = sample_privilege("P3", "GOLD", "c@example.org");
    let def = p3.definition.as_mut().expect("definition");
    def.name = Some("Gold membership".into());
    def.kind = Some("MEMBERSHIP".into());
    let gold = def.clone();
    store
        .inject_privileges(org, vec![p3], at(1))
        .await
        .expect("inject");
    let p1 = store.privilege(org, "P1").await.expect("read").expect("P1");
    assert_eq!(p1.privilege.definition, Some(gold));
    assert_eq!(
        p1.history.len(),
        1,
        "a definition change is not a change of the privilege"
    );
    let p2 = store.privilege(org, "P2").await.expect("read").expect("P2");
    assert_eq!(
        p2.privilege
            .definition
            .and_then(|d| d.name)
            .map(|n| n.default_value().to_owned())
            .as_deref(),
        Some("Season card 2026/27")
    );
}

pub async fn check_delete_confirm_and_spent_ids(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "deletion").await;
    store
        .inject_privileges(
            org,
            vec![
                sample_privilege("P1", "D1", "a@example.org"),
                sample_privilege("P2", "D1", "b@example.org"),
            ],
            at(0),
        )
        .await
        .expect("inject");
    let res = store
        .delete_privileges(
            org,
            vec![
                deletion("P1", "RESOLD", true),
                deletion("P1", "RESOLD", true),
                deletion("NOPE", "RESOLD", false),
            ],
            at(10),
            delay(5),
        )
        .await
        .expect("delete");
    assert!(res[0].is_ok() && res[1].is_ok());
    assert_eq!(res[0].status.as_deref(), Some("DELETION_PENDING"));
    assert_eq!(res[1].status.as_deref(), Some("DELETION_PENDING"));
    assert_eq!(res[2].error_code.as_deref(), Some("PRIVILEGE_NOT_FOUND"));
    assert_eq!(log_len(&store, org).await, 3, "the repeat records nothing");

    let rec = store.privilege(org, "P1").await.expect("read").expect("P1");
    assert_eq!(rec.status, "DELETION_PENDING");
    assert_eq!(rec.status_changed_at, "2026-11-27T10:00:10.000Z");
    let d = rec.deletion.expect("deletion data");
    assert_eq!(
        (
            d.reason.as_str(),
            d.show_deleted_ticket,
            d.requested_at.as_str()
        ),
        ("RESOLD", true, "2026-11-27T10:00:10.000Z")
    );
    assert_eq!(d.confirmed_at, None);
    let e = rec.history.last().expect("entry");
    assert_eq!(
        (e.action.as_str(), e.to_status.as_str(), e.detail.as_deref()),
        (
            "PRIVILEGE_DELETE",
            "DELETION_PENDING",
            Some("reason=RESOLD")
        )
    );

    // A pending (or deleted) id is spent, even with identical content.
    let res = store
        .inject_privileges(
            org,
            vec![sample_privilege("P1", "D1", "a@example.org")],
            at(11),
        )
        .await
        .expect("re-inject");
    assert_eq!(res[0].error_code.as_deref(), Some("TICKET_DELETED"));

    // Not due before the delay.
    let mine = |due: Vec<crate::DuePrivilege>| -> Vec<String> {
        due.into_iter()
            .filter(|d| d.organizer_id == org)
            .map(|d| d.privilege_id)
            .collect()
    };
    assert!(
        mine(store.due_privileges(at(14), 100).await.expect("due")).is_empty(),
        "not due before the delay"
    );
    assert_eq!(
        store
            .confirm_privilege_deletions(org, vec!["P1".into()], at(14))
            .await
            .expect("early confirm"),
        0,
        "an early confirmation changes nothing"
    );
    assert_eq!(
        mine(store.due_privileges(at(15), 100).await.expect("due")),
        ["P1"]
    );
    assert_eq!(
        store
            .confirm_privilege_deletions(org, vec!["P1".into(), "P2".into()], at(16))
            .await
            .expect("confirm"),
        1,
        "only the pending deletion is confirmed"
    );
    let rec = store.privilege(org, "P1").await.expect("read").expect("P1");
    assert_eq!(rec.status, "DELETED");
    assert_eq!(rec.status_changed_at, "2026-11-27T10:00:16.000Z");
    assert_eq!(
        rec.deletion.and_then(|d| d.confirmed_at).as_deref(),
        Some("2026-11-27T10:00:16.000Z")
    );
    let e = rec.history.last().expect("entry");
    assert_eq!(
        (
            e.action.as_str(),
            e.actor.as_str(),
            e.from_status.as_deref(),
            e.to_status.as_str()
        ),
        (
            "PRIVILEGE_CONFIRM_DELETION",
            "SYSTEM",
            Some("DELETION_PENDING"),
            "DELETED"
        )
    );
    assert!(mine(store.due_privileges(at(59), 100).await.expect("due")).is_empty());
    assert_eq!(
        store
            .confirm_privilege_deletions(org, vec!["P1".into()], at(17))
            .await
            .expect("again"),
        0,
        "a second confirmation changes nothing"
    );
    assert_eq!(status_of(&store, org, "P2").await, "INJECTED");

    let res = store
        .inject_privileges(
            org,
            vec![sample_privilege("P1", "D1", "a@example.org")],
            at(18),
        )
        .await
        .expect("re-inject");
    assert_eq!(res[0].error_code.as_deref(), Some("TICKET_DELETED"));
    let res = store
        .delete_privileges(org, vec![deletion("P1", "RESOLD", true)], at(19), delay(5))
        .await
        .expect("delete again");
    assert_eq!(res[0].status.as_deref(), Some("DELETED"));
    assert_eq!(assert_all_verified(&store, org).await, 4);
}

pub async fn check_new_reason_is_recorded(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "reason").await;
    store
        .inject_privileges(
            org,
            vec![sample_privilege("P1", "D1", "a@example.org")],
            at(0),
        )
        .await
        .expect("inject");
    store
        .delete_privileges(
            org,
            vec![deletion("P1", "RESALE_PENDING", true)],
            at(1),
            delay(60),
        )
        .await
        .expect("delete");
    let res = store
        .delete_privileges(org, vec![deletion("P1", "RESOLD", true)], at(2), delay(60))
        .await
        .expect("new reason");
    assert_eq!(res[0].status.as_deref(), Some("DELETION_PENDING"));
    let rec = store.privilege(org, "P1").await.expect("read").expect("P1");
    let d = rec.deletion.expect("deletion");
    assert_eq!(d.reason, "RESOLD");
    assert_eq!(
        d.requested_at, "2026-11-27T10:00:01.000Z",
        "the request time stays"
    );
    assert_eq!(rec.status_changed_at, "2026-11-27T10:00:01.000Z");
    let e = rec.history.last().expect("entry");
    assert_eq!(
        (e.action.as_str(), e.detail.as_deref()),
        ("PRIVILEGE_DELETE_REASON", Some("reason=RESOLD"))
    );
    // The confirmation stays due at the first request's time + delay.
    assert_eq!(
        store
            .confirm_privilege_deletions(org, vec!["P1".into()], at(59))
            .await
            .expect("early"),
        0
    );
    assert_eq!(
        store
            .confirm_privilege_deletions(org, vec!["P1".into()], at(1) + Duration::seconds(60))
            .await
            .expect("due"),
        1
    );
    assert_eq!(assert_all_verified(&store, org).await, 4);
}

pub async fn check_sweep_confirms_due_deletions(store: Arc<dyn WalletStore>) {
    let a = new_organizer(&store, "sweep A").await;
    let b = new_organizer(&store, "sweep B").await;
    for org in [a, b] {
        store
            .inject_privileges(
                org,
                vec![
                    sample_privilege("S1", "D1", "a@example.org"),
                    sample_privilege("S2", "D1", "a@example.org"),
                ],
                at(0),
            )
            .await
            .expect("inject");
        store
            .delete_privileges(
                org,
                vec![
                    deletion("S1", "THEFT", false),
                    deletion("S2", "THEFT", false),
                ],
                at(1),
                delay(0),
            )
            .await
            .expect("delete");
    }
    // Other checks' deletions are long confirmed; at least these four are due.
    let n = store
        .confirm_due_privileges(at(2), 1000)
        .await
        .expect("sweep");
    assert!(n >= 4, "the sweep confirmed {n}");
    for org in [a, b] {
        for id in ["S1", "S2"] {
            assert_eq!(status_of(&store, org, id).await, "DELETED");
        }
        assert_eq!(assert_all_verified(&store, org).await, 6);
    }
    assert_eq!(
        store
            .confirm_due_privileges(at(3), 1000)
            .await
            .expect("sweep"),
        0,
        "nothing is left to confirm"
    );
}

pub async fn check_chain_interleaves_tickets_and_privileges(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "interleaved").await;
    let ticket = |id: &str| sample_ticket(id, "E1", "a@example.org");
    store
        .inject(org, vec![ticket("T1")], Actor::OrganizerApi, at(0))
        .await
        .expect("ticket");
    store
        .inject_privileges(
            org,
            vec![sample_privilege("P1", "D1", "a@example.org")],
            at(1),
        )
        .await
        .expect("privilege");
    store
        .inject(org, vec![ticket("T2")], Actor::OrganizerApi, at(2))
        .await
        .expect("ticket");
    store
        .delete_privileges(org, vec![deletion("P1", "THEFT", false)], at(3), delay(0))
        .await
        .expect("delete");
    // A ticket and a privilege may share an id: they stay apart.
    store
        .inject(org, vec![ticket("P1")], Actor::OrganizerApi, at(4))
        .await
        .expect("ticket named like the privilege");
    store
        .confirm_privilege_deletions(org, vec!["P1".into()], at(5))
        .await
        .expect("confirm");
    let log = store.status_log(org, 0, 100).await.expect("log");
    let actions: Vec<_> = log
        .iter()
        .map(|e| (e.ticket_id.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("T1", "INJECT"),
            ("P1", "PRIVILEGE_INJECT"),
            ("T2", "INJECT"),
            ("P1", "PRIVILEGE_DELETE"),
            ("P1", "INJECT"),
            ("P1", "PRIVILEGE_CONFIRM_DELETION"),
        ]
    );
    let t = store
        .ticket(org, "P1")
        .await
        .expect("read")
        .expect("ticket");
    assert_eq!(t.state.status, "INJECTED");
    assert_eq!(t.state.history.len(), 1, "the ticket's history is its own");
    let p = store.privilege(org, "P1").await.expect("read").expect("P1");
    assert_eq!(p.status, "DELETED");
    assert_eq!(
        p.history.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [2, 4, 6]
    );
    assert_eq!(assert_all_verified(&store, org).await, 6);
}

pub async fn check_concurrent_writes_keep_one_chain(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "concurrent privileges").await;
    let mut tasks = Vec::new();
    for call in 0..6u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            if call % 2 == 0 {
                let batch = (0..10)
                    .map(|i| sample_ticket(&format!("T{call}-{i}"), "E1", "a@example.org"))
                    .collect();
                store
                    .inject(org, batch, Actor::OrganizerApi, at(call))
                    .await
            } else {
                let batch = (0..10)
                    .map(|i| sample_privilege(&format!("P{call}-{i}"), "D1", "a@example.org"))
                    .collect();
                store.inject_privileges(org, batch, at(call)).await
            }
        }));
    }
    for t in tasks {
        let res = t.await.expect("task").expect("write");
        assert!(res.iter().all(|r| r.is_ok()));
    }
    assert_eq!(assert_all_verified(&store, org).await, 60);
}

pub async fn check_isolation(store: Arc<dyn WalletStore>) {
    let a = new_organizer(&store, "isolation A").await;
    let b = new_organizer(&store, "isolation B").await;
    store
        .inject_privileges(
            a,
            vec![sample_privilege("P1", "D1", "a@example.org")],
            at(0),
        )
        .await
        .expect("inject");
    assert!(store.privilege(b, "P1").await.expect("read").is_none());
    let res = store
        .delete_privileges(b, vec![deletion("P1", "THEFT", false)], at(1), delay(0))
        .await
        .expect("delete");
    assert_eq!(res[0].error_code.as_deref(), Some("PRIVILEGE_NOT_FOUND"));
    assert_eq!(
        store
            .confirm_privilege_deletions(b, vec!["P1".into()], at(2))
            .await
            .expect("confirm"),
        0
    );
    // B may use the same id for its own privilege.
    let res = store
        .inject_privileges(
            b,
            vec![sample_privilege("P1", "D1", "z@example.org")],
            at(3),
        )
        .await
        .expect("inject");
    assert!(res[0].is_ok());
    let pa = store.privilege(a, "P1").await.expect("read").expect("A's");
    assert_eq!(
        pa.owner.and_then(|o| o.email).as_deref(),
        Some("a@example.org")
    );
    assert_eq!(pa.status, "INJECTED");
    assert_eq!(log_len(&store, a).await, 1);
    assert_eq!(log_len(&store, b).await, 1);
    assert_all_verified(&store, a).await;
    assert_all_verified(&store, b).await;
}

pub async fn check_unknown_organizer(store: Arc<dyn WalletStore>) {
    let ghost = i64::MAX - 11;
    let r = store
        .inject_privileges(
            ghost,
            vec![sample_privilege("P1", "D1", "a@example.org")],
            at(0),
        )
        .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "got {r:?}");
    let r = store
        .delete_privileges(ghost, vec![deletion("P1", "THEFT", false)], at(0), delay(0))
        .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "got {r:?}");
    let r = store
        .confirm_privilege_deletions(ghost, vec!["P1".into()], at(0))
        .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "got {r:?}");
    assert!(store.privilege(ghost, "P1").await.expect("read").is_none());
}

/// A privilege row whose status is changed behind the log's back is named by
/// `verify_privileges`.
pub async fn check_altered_rows_are_caught(store: Arc<dyn WalletStore>, set: SetPrivilegeStatus) {
    let org = new_organizer(&store, "tamper").await;
    store
        .inject_privileges(
            org,
            vec![
                sample_privilege("P1", "D1", "a@example.org"),
                sample_privilege("P2", "D1", "a@example.org"),
            ],
            at(0),
        )
        .await
        .expect("inject");
    assert_eq!(assert_all_verified(&store, org).await, 2);
    set(org, "P2".into(), "DELETED".into()).await;
    let broken = store
        .verify_privileges(org, 2)
        .await
        .expect("verify")
        .expect("the altered row is caught");
    assert!(!broken.valid);
    assert_eq!(broken.ticket_id.as_deref(), Some("P2"));
    assert_eq!(broken.broken_seq, Some(2));
}
