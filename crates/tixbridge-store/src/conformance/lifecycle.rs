//! Conformance checks of the lifecycle half of a [`WalletStore`]: actions through
//! `apply`, the change feed (`diff`), the app's listing, due work, the track-record
//! report and `verify`. Every check creates its own organizers (random keys), so the
//! checks share one store and run in any order; `due` is global, so its checks only
//! look at their own organizer's rows.
//!
//! Tampering with stored rows is backend-specific: [`check_verify_detects_tampering`]
//! takes a function that alters the database directly (see [`Tamper`]).

use std::future::Future;

use chrono::{DateTime, Duration, TimeZone, Utc};
use sha2::{Digest, Sha256};

use tixbridge_core::api::{AppTickets, LogEntry, Person, Ticket, TicketState, TransferRules};
use tixbridge_core::hash::GENESIS_HASH;
use tixbridge_core::ledger::{ChainHead, format_at};
use tixbridge_core::lifecycle::{
    Action, ActivationMethod, Caller, ILLEGAL_TRANSITION, INVALID_ACTION, Op, OpResult, Refusal,
    Settings, TICKET_DELETED, TICKET_NOT_FOUND, TRANSFER_NOT_ALLOWED,
};
use tixbridge_core::status::WalletStatus;

use super::wallet::sample_ticket;
use crate::{Actor, DueTicket, LogQuery, StoreError, WalletStore};

/// A change made to the database behind the store's back, for `verify` to catch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tamper {
    /// `UPDATE wallet_status_log SET to_owner = … WHERE organizer_id = … AND seq = …`
    LogToOwner {
        organizer_id: i64,
        seq: i64,
        to_owner: String,
    },
    /// `DELETE FROM wallet_status_log WHERE organizer_id = … AND seq = …`
    DeleteEntry { organizer_id: i64, seq: i64 },
    /// `UPDATE wallet_tickets SET status = … WHERE organizer_id = … AND ticket_id = …`,
    /// with no log entry.
    RowStatus {
        organizer_id: i64,
        ticket_id: String,
        status: WalletStatus,
    },
}

/// Runs every check that needs nothing but the trait.
pub async fn run_all(store: &dyn WalletStore) {
    check_every_transition(store).await;
    check_transfer_endings(store).await;
    check_refusals_write_nothing(store).await;
    check_batches(store).await;
    check_rules_come_from_the_stored_ticket(store).await;
    check_isolation(store).await;
    check_diff_paging(store).await;
    check_app_tickets(store).await;
    check_due(store).await;
    check_report(store).await;
    check_chain_heads_and_organizers(store).await;
    check_times_never_go_back(store).await;
}

/// A call whose clock reads earlier than the chain's last entry (its time is taken
/// before the write lock) records the last entry's time: the log's times follow its
/// seqs, which the report's time filters rely on.
pub async fn check_times_never_go_back(store: &dyn WalletStore) {
    let a = "ann@example.org";
    let org = new_organizer(store, "clock").await;
    inject(store, org, [sample_ticket("K1", "E1", a)], t(100)).await;
    changes(store, org, "K1", spectator(a), Action::Download, t(50)).await;
    inject(store, org, [sample_ticket("K2", "E1", a)], t(20)).await;
    let entries = log(store, org).await;
    assert_eq!(entries.len(), 3);
    let want = tixbridge_core::ledger::format_at(t(100));
    for e in &entries {
        assert_eq!(e.at, want, "entry {} went back in time", e.seq);
    }
    changes(store, org, "K2", spectator(a), Action::Download, t(200)).await;
    let last = log(store, org).await.pop().expect("an entry");
    assert_eq!(last.at, tixbridge_core::ledger::format_at(t(200)));
}

/// Times of these checks: before the sample tickets' events expire (2026-07-13).
fn t(sec: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0)
        .single()
        .expect("valid time")
        + Duration::seconds(sec)
}

fn settings() -> Settings {
    Settings {
        transfer_timeout: Duration::hours(1),
        deletion_delay: Duration::seconds(5),
    }
}

fn person(email: &str) -> Person {
    Person {
        email: Some(email.into()),
        first_name: Some("Ann".into()),
        last_name: Some("Lee".into()),
        ..Default::default()
    }
}

fn spectator(email: &str) -> Caller {
    Caller::Spectator(email.into())
}

fn op(ticket_id: &str, caller: Caller, action: Action) -> Op {
    Op {
        ticket_id: ticket_id.into(),
        caller,
        action,
    }
}

fn delete(reason: &str, show: bool) -> Action {
    Action::Delete {
        reason: reason.into(),
        show_deleted_ticket: show,
    }
}

fn transfer(to: &str) -> Action {
    Action::Transfer { to: person(to) }
}

fn without_history(mut s: TicketState) -> TicketState {
    s.history.clear();
    s
}

fn ids(states: &[TicketState]) -> Vec<&str> {
    states.iter().map(|s| s.ticket_id.as_str()).collect()
}

fn email(p: Option<&Person>) -> Option<&str> {
    p.and_then(|p| p.email.as_deref())
}

async fn new_organizer(store: &dyn WalletStore, name: &str) -> i64 {
    let key: [u8; 32] = rand::random();
    store
        .create_organizer(name, &hex::encode(Sha256::digest(key)))
        .await
        .expect("create organizer")
        .id
}

/// A new organizer with these tickets `(id, owner email)` injected at `t(0)`.
async fn organizer_with(store: &dyn WalletStore, name: &str, tickets: &[(&str, &str)]) -> i64 {
    let org = new_organizer(store, name).await;
    inject(
        store,
        org,
        tickets.iter().map(|(id, e)| sample_ticket(id, "E1", e)),
        t(0),
    )
    .await;
    org
}

async fn inject(
    store: &dyn WalletStore,
    org: i64,
    tickets: impl IntoIterator<Item = Ticket>,
    at: DateTime<Utc>,
) {
    let res = store
        .inject(org, tickets.into_iter().collect(), Actor::OrganizerApi, at)
        .await
        .expect("inject");
    assert!(res.iter().all(|r| r.is_ok()), "injected: {res:?}");
}

async fn apply(
    store: &dyn WalletStore,
    org: i64,
    ops: Vec<Op>,
    at: DateTime<Utc>,
) -> Vec<OpResult> {
    let n = ops.len();
    let res = store.apply(org, ops, at, settings()).await.expect("apply");
    assert_eq!(res.len(), n, "one result per op");
    res
}

async fn log(store: &dyn WalletStore, org: i64) -> Vec<LogEntry> {
    store.status_log(org, 0, 1_000_000).await.expect("log")
}

async fn head(store: &dyn WalletStore, org: i64) -> ChainHead {
    store.chain_head(org).await.expect("chain head")
}

async fn stored(store: &dyn WalletStore, org: i64, id: &str) -> TicketState {
    store
        .ticket(org, id)
        .await
        .expect("read")
        .unwrap_or_else(|| panic!("ticket {id} exists"))
        .state
}

/// Applies one op that must change the ticket, and checks what was written: exactly
/// one log entry continuing the chain, the head moved to it, the stored state equal
/// to the answered one. Answers the new state (its history: the entry).
async fn changes(
    store: &dyn WalletStore,
    org: i64,
    id: &str,
    caller: Caller,
    action: Action,
    at: DateTime<Utc>,
) -> TicketState {
    let before = head(store, org).await;
    // The entry's time: the call's, or the last entry's when that is later.
    let last_at = log(store, org).await.pop().map(|e| e.at);
    let want_at = last_at
        .filter(|last| *last > format_at(at))
        .unwrap_or_else(|| format_at(at));
    let what = format!("{} {id} by {caller:?}", action.name());
    let res = apply(store, org, vec![op(id, caller, action)], at)
        .await
        .remove(0);
    let state = res.unwrap_or_else(|r| panic!("{what}: refused {r:?}"));
    assert_eq!(
        state.history.len(),
        1,
        "{what}: the change's entry is answered"
    );
    let e = &state.history[0];
    assert_eq!(
        e.seq,
        before.seq + 1,
        "{what}: the entry continues the chain"
    );
    assert_eq!(e.prev_hash, before.hash, "{what}: links to the head");
    assert_eq!(e.ticket_id, id);
    assert_eq!(e.at, want_at, "{what}: the entry's time");
    assert_eq!(e.to_status, state.status);
    assert_eq!(
        e.to_owner.as_deref(),
        email(state.owner.as_ref()),
        "{what}: the entry names the owner after the change, as stored"
    );
    assert_eq!(
        head(store, org).await,
        ChainHead {
            seq: e.seq,
            hash: e.hash.clone()
        },
        "{what}: the head moved to the entry"
    );
    let written = store.status_log(org, before.seq, 10).await.expect("log");
    assert_eq!(written, state.history, "{what}: exactly one entry written");
    let s = stored(store, org, id).await;
    assert_eq!(
        s.history.last(),
        Some(e),
        "{what}: the ticket's history ends with it"
    );
    assert_eq!(
        without_history(s),
        without_history(state.clone()),
        "{what}: the stored state is the answered one"
    );
    state
}

/// Applies one op that must be refused, and checks that nothing was written.
async fn refused(
    store: &dyn WalletStore,
    org: i64,
    id: &str,
    caller: Caller,
    action: Action,
    at: DateTime<Utc>,
) -> Refusal {
    let what = format!("{} {id} by {caller:?}", action.name());
    let head_before = head(store, org).await;
    let log_before = log(store, org).await.len();
    let ticket_before = store.ticket(org, id).await.expect("read");
    let res = apply(store, org, vec![op(id, caller, action)], at)
        .await
        .remove(0);
    let r = match res {
        Err(r) => r,
        Ok(s) => panic!("{what}: expected a refusal, got {s:?}"),
    };
    assert!(!r.message.is_empty(), "{what}: the refusal says why");
    assert_eq!(
        head(store, org).await,
        head_before,
        "{what}: head unchanged"
    );
    assert_eq!(log(store, org).await.len(), log_before, "{what}: no entry");
    assert_eq!(
        store.ticket(org, id).await.expect("read"),
        ticket_before,
        "{what}: ticket unchanged"
    );
    r
}

/// Applies one op that must answer `OK` without changing anything.
async fn unchanged(
    store: &dyn WalletStore,
    org: i64,
    id: &str,
    caller: Caller,
    action: Action,
    at: DateTime<Utc>,
) -> TicketState {
    let head_before = head(store, org).await;
    let before = stored(store, org, id).await;
    let state = apply(store, org, vec![op(id, caller, action)], at)
        .await
        .remove(0)
        .expect("an unchanged repeat is OK");
    assert!(state.history.is_empty(), "nothing recorded");
    assert_eq!(head(store, org).await, head_before);
    assert_eq!(stored(store, org, id).await, before);
    assert_eq!(state, without_history(before));
    state
}

async fn due_of(store: &dyn WalletStore, org: i64, now: DateTime<Utc>) -> Vec<DueTicket> {
    store
        .due(now, 100_000)
        .await
        .expect("due")
        .into_iter()
        .filter(|d| d.organizer_id == org)
        .collect()
}

async fn assert_verifies(store: &dyn WalletStore, org: i64) -> i64 {
    let v = store.verify(org).await.expect("verify");
    assert!(v.valid, "the chain verifies: {v:?}");
    assert_eq!(v.broken_seq, None);
    let h = head(store, org).await;
    assert_eq!(v.entries, h.seq, "every entry checked");
    assert_eq!(log(store, org).await.len() as i64, h.seq);
    v.entries
}

/// Every transition of DOMAIN.md §3 through `apply`, one entry each, and the chain
/// still verifies.
pub async fn check_every_transition(store: &dyn WalletStore) {
    let a = "ann@example.org";
    let b = "bob@example.org";
    let org = organizer_with(store, "transitions", &[("L1", a)]).await;

    let s = changes(store, org, "L1", spectator(a), Action::Download, t(1)).await;
    assert_eq!(s.status, "DOWNLOADED");
    assert_eq!(s.status_changed_at, format_at(t(1)));
    let e = &s.history[0];
    assert_eq!(
        (
            e.action.as_str(),
            e.actor.as_str(),
            e.from_status.as_deref()
        ),
        ("DOWNLOAD", "APP", Some("INJECTED"))
    );
    assert_eq!(
        (
            e.from_owner.as_deref(),
            e.to_owner.as_deref(),
            e.detail.as_deref()
        ),
        (Some(a), Some(a), None)
    );
    unchanged(store, org, "L1", spectator(a), Action::Download, t(2)).await;

    let holder = Person {
        first_name: Some("Bea".into()),
        last_name: Some("Holder".into()),
        ..Default::default()
    };
    let s = changes(
        store,
        org,
        "L1",
        spectator(a),
        Action::Assign {
            holder: holder.clone(),
        },
        t(2),
    )
    .await;
    assert_eq!(s.status, "ASSIGNED");
    assert_eq!(s.holder, Some(holder));
    assert_eq!(s.history[0].action, "ASSIGN");

    // The recipient's email is matched without regard to case, and kept as typed.
    let typed_b = "Bob@Example.ORG";
    let s = changes(store, org, "L1", spectator(a), transfer(typed_b), t(3)).await;
    assert_eq!(s.status, "PENDING_TRANSFER");
    assert_eq!(
        email(s.owner.as_ref()),
        Some(a),
        "the owner stays until accepted"
    );
    let tr = s.transfer.as_ref().expect("the pending transfer");
    assert_eq!(email(Some(&tr.to)), Some(typed_b));
    assert_eq!(email(tr.from.as_ref()), Some(a));
    assert_eq!(tr.requested_at, format_at(t(3)));
    assert_eq!(tr.expires_at, format_at(t(3) + Duration::hours(1)));
    assert!(!tr.back_office);
    let e = &s.history[0];
    assert_eq!(e.action, "TRANSFER");
    assert_eq!(e.detail.as_deref(), Some("to=Bob@Example.ORG"));
    let incoming = store
        .app_tickets(org, b)
        .await
        .expect("app")
        .incoming_transfers;
    assert_eq!(ids(&incoming), ["L1"]);

    let s = changes(
        store,
        org,
        "L1",
        spectator("BOB@example.org"),
        Action::Accept,
        t(4),
    )
    .await;
    assert_eq!(s.status, "TRANSFERRED");
    assert_eq!(email(s.owner.as_ref()), Some(typed_b));
    assert_eq!(email(s.previous_owner.as_ref()), Some(a));
    assert_eq!(email(s.initial_owner.as_ref()), Some(a), "never changes");
    assert_eq!(s.transfer_level, 1);
    assert_eq!((s.holder.as_ref(), s.transfer.as_ref()), (None, None));
    let e = &s.history[0];
    assert_eq!(e.action, "ACCEPT_TRANSFER");
    assert_eq!(
        (e.from_owner.as_deref(), e.to_owner.as_deref()),
        (Some(a), Some(typed_b)),
        "the track record keeps owners as stored"
    );
    let app_b = store.app_tickets(org, b).await.expect("app");
    assert_eq!(ids(&app_b.tickets), ["L1"]);
    assert!(app_b.incoming_transfers.is_empty());
    assert!(
        store
            .app_tickets(org, a)
            .await
            .expect("app")
            .tickets
            .is_empty()
    );

    for (i, method) in ActivationMethod::ALL.into_iter().enumerate() {
        let code = (method == ActivationMethod::Manual).then(|| "1234".to_owned());
        let s = changes(
            store,
            org,
            "L1",
            spectator(b),
            Action::Activate { method, code },
            t(5 + i as i64),
        )
        .await;
        assert_eq!(s.status, method.status().as_str());
        assert_eq!(s.history[0].action, "ACTIVATE");
        assert_eq!(
            s.history[0].detail.as_deref(),
            Some(format!("method={}", method.as_str()).as_str())
        );
    }
    let s = changes(store, org, "L1", spectator(b), Action::Deactivate, t(9)).await;
    assert_eq!(s.status, "DEACTIVATED");

    let s = changes(
        store,
        org,
        "L1",
        Caller::Organizer,
        Action::Control {
            controlled_at: Some("2026-06-01T12:00:10Z".into()),
        },
        t(10),
    )
    .await;
    assert_eq!(s.status, "CONTROLLED");
    let e = &s.history[0];
    assert_eq!(
        (e.action.as_str(), e.actor.as_str()),
        ("CONTROL", "ORGANIZER_API")
    );
    assert_eq!(
        e.detail.as_deref(),
        Some("controlledAt=2026-06-01T12:00:10Z")
    );

    let s = changes(
        store,
        org,
        "L1",
        Caller::Organizer,
        delete("RESOLD", true),
        t(11),
    )
    .await;
    assert_eq!(s.status, "DELETION_PENDING");
    let d = s.deletion.clone().expect("deletion");
    assert_eq!((d.reason.as_str(), d.show_deleted_ticket), ("RESOLD", true));
    assert_eq!((d.requested_at, d.confirmed_at), (format_at(t(11)), None));
    assert_eq!(s.history[0].detail.as_deref(), Some("reason=RESOLD"));

    // Confirmation is due after the deletion delay, not before.
    assert!(due_of(store, org, t(15)).await.is_empty());
    assert_eq!(
        due_of(store, org, t(16)).await,
        [DueTicket {
            organizer_id: org,
            ticket_id: "L1".into(),
            status: WalletStatus::DeletionPending,
        }]
    );
    let r = refused(
        store,
        org,
        "L1",
        Caller::System,
        Action::ConfirmDeletion,
        t(15),
    )
    .await;
    assert_eq!(r.code, ILLEGAL_TRANSITION, "not due yet");
    let s = changes(
        store,
        org,
        "L1",
        Caller::System,
        Action::ConfirmDeletion,
        t(16),
    )
    .await;
    assert_eq!(s.status, "DELETED");
    assert_eq!(s.history[0].actor, "SYSTEM");
    let d = s.deletion.clone().expect("deletion");
    assert_eq!(d.confirmed_at, Some(format_at(t(16))));
    assert!(
        due_of(store, org, t(1000)).await.is_empty(),
        "nothing left to do"
    );

    // A new reason on a deleted ticket is recorded; the status stays.
    let s = changes(
        store,
        org,
        "L1",
        Caller::Organizer,
        delete("REFUNDED", false),
        t(17),
    )
    .await;
    assert_eq!(s.status, "DELETED");
    assert_eq!(s.status_changed_at, format_at(t(16)));
    let e = &s.history[0];
    assert_eq!(
        (
            e.action.as_str(),
            e.from_status.as_deref(),
            e.to_status.as_str()
        ),
        ("DELETE_REASON", Some("DELETED"), "DELETED")
    );
    assert_eq!(e.detail.as_deref(), Some("reason=REFUNDED"));
    let d = s.deletion.clone().expect("deletion");
    assert_eq!(
        (d.reason.as_str(), d.show_deleted_ticket),
        ("REFUNDED", false)
    );
    assert_eq!(d.requested_at, format_at(t(11)), "the request time stays");
    assert_eq!(d.confirmed_at, Some(format_at(t(16))));
    unchanged(
        store,
        org,
        "L1",
        Caller::Organizer,
        delete("REFUNDED", false),
        t(18),
    )
    .await;

    // The whole story, in the ticket's history, the log and the verification.
    let actions: Vec<String> = stored(store, org, "L1")
        .await
        .history
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "INJECT",
            "DOWNLOAD",
            "ASSIGN",
            "TRANSFER",
            "ACCEPT_TRANSFER",
            "ACTIVATE",
            "ACTIVATE",
            "ACTIVATE",
            "ACTIVATE",
            "DEACTIVATE",
            "CONTROL",
            "DELETE",
            "CONFIRM_DELETION",
            "DELETE_REASON"
        ]
    );
    assert_eq!(
        stored(store, org, "L1").await.history,
        log(store, org).await
    );
    assert_eq!(assert_verifies(store, org).await, 14);
}

/// A pending transfer ends by acceptance (above), rejection, cancellation or
/// time-out; the back office may start one from `INJECTED`.
pub async fn check_transfer_endings(store: &dyn WalletStore) {
    let a = "ann@example.org";
    let b = "bob@example.org";
    let org = organizer_with(
        store,
        "transfer endings",
        &[("R", a), ("C", a), ("O", a), ("B", a)],
    )
    .await;
    let res = apply(
        store,
        org,
        ["R", "C", "O"]
            .into_iter()
            .map(|id| op(id, spectator(a), Action::Download))
            .collect(),
        t(1),
    )
    .await;
    assert!(
        res.iter()
            .all(|r| r.as_ref().is_ok_and(|s| s.status == "DOWNLOADED"))
    );

    changes(store, org, "R", spectator(a), transfer(b), t(2)).await;
    let r = refused(store, org, "R", spectator(a), Action::Reject, t(3)).await;
    assert_eq!(r.code, ILLEGAL_TRANSITION, "only the recipient rejects");
    let r = refused(
        store,
        org,
        "R",
        spectator("carl@example.org"),
        Action::Reject,
        t(3),
    )
    .await;
    assert_eq!(
        r.code, TICKET_NOT_FOUND,
        "a stranger does not see the ticket"
    );
    let s = changes(store, org, "R", spectator(b), Action::Reject, t(3)).await;
    assert_eq!(s.status, "FAILURE_TRANSFER");
    assert_eq!(email(s.owner.as_ref()), Some(a));
    assert_eq!((s.transfer.as_ref(), s.transfer_level), (None, 0));
    assert_eq!(s.history[0].action, "REJECT_TRANSFER");
    assert_eq!(s.history[0].detail.as_deref(), Some("to=bob@example.org"));

    changes(store, org, "C", spectator(a), transfer(b), t(4)).await;
    let r = refused(store, org, "C", spectator(b), Action::CancelTransfer, t(5)).await;
    assert_eq!(r.code, TICKET_NOT_FOUND, "only the owner cancels");
    let s = changes(store, org, "C", spectator(a), Action::CancelTransfer, t(5)).await;
    assert_eq!(s.status, "FAILURE_TRANSFER");
    assert_eq!(s.history[0].action, "CANCEL_TRANSFER");
    assert_eq!(email(s.owner.as_ref()), Some(a));

    let sent = t(6);
    let expires = sent + Duration::hours(1);
    changes(store, org, "O", spectator(a), transfer(b), sent).await;
    assert!(
        due_of(store, org, expires - Duration::seconds(1))
            .await
            .is_empty()
    );
    let r = refused(
        store,
        org,
        "O",
        Caller::System,
        Action::TimeOut,
        expires - Duration::seconds(1),
    )
    .await;
    assert_eq!(r.code, ILLEGAL_TRANSITION, "not timed out yet");
    assert_eq!(
        due_of(store, org, expires).await,
        [DueTicket {
            organizer_id: org,
            ticket_id: "O".into(),
            status: WalletStatus::PendingTransfer,
        }]
    );
    let s = changes(store, org, "O", Caller::System, Action::TimeOut, expires).await;
    assert_eq!(s.status, "FAILURE");
    assert_eq!(s.history[0].action, "TRANSFER_TIMEOUT");
    assert_eq!(s.history[0].actor, "SYSTEM");
    assert_eq!(email(s.owner.as_ref()), Some(a));
    assert!(
        due_of(store, org, expires + Duration::days(1))
            .await
            .is_empty()
    );
    assert!(
        store
            .app_tickets(org, b)
            .await
            .expect("app")
            .incoming_transfers
            .is_empty()
    );

    // Back to rest, every ended transfer can be tried again.
    for id in ["R", "C", "O"] {
        let s = changes(
            store,
            org,
            id,
            spectator(a),
            transfer("carl@example.org"),
            t(4000),
        )
        .await;
        assert_eq!(s.status, "PENDING_TRANSFER");
    }
    let incoming = store
        .app_tickets(org, "carl@example.org")
        .await
        .expect("app")
        .incoming_transfers;
    assert_eq!(ids(&incoming), ["C", "O", "R"], "by ticket id");

    // The back office transfers a ticket not yet downloaded.
    let r = refused(store, org, "B", spectator(a), transfer(b), t(7)).await;
    assert_eq!(
        r.code, ILLEGAL_TRANSITION,
        "a spectator must download first"
    );
    let s = changes(store, org, "B", Caller::BackOffice, transfer(b), t(7)).await;
    assert_eq!(s.status, "PENDING_TRANSFER");
    assert!(s.transfer.as_ref().is_some_and(|t| t.back_office));
    let e = &s.history[0];
    assert_eq!(
        (e.from_status.as_deref(), e.actor.as_str()),
        (Some("INJECTED"), "BACK_OFFICE")
    );
    let s = changes(store, org, "B", spectator(b), Action::Accept, t(8)).await;
    assert_eq!(email(s.owner.as_ref()), Some(b));
    assert_verifies(store, org).await;
}

/// Refused actions answer why and write nothing: no entry, same head, same ticket.
pub async fn check_refusals_write_nothing(store: &dyn WalletStore) {
    let a = "ann@example.org";
    let org = organizer_with(store, "refusals", &[("F1", a), ("F2", a), ("F3", a)]).await;
    changes(store, org, "F2", spectator(a), Action::Download, t(1)).await;
    changes(
        store,
        org,
        "F3",
        Caller::Organizer,
        delete("CANCELLED", false),
        t(1),
    )
    .await;

    let cases: Vec<(&str, Caller, Action, &str)> = vec![
        ("F1", spectator(a), Action::Accept, ILLEGAL_TRANSITION),
        (
            "F1",
            spectator("eve@example.org"),
            Action::Download,
            TICKET_NOT_FOUND,
        ),
        ("F1", spectator(a), Action::Deactivate, ILLEGAL_TRANSITION),
        (
            "F1",
            spectator(a),
            transfer("bob@example.org"),
            ILLEGAL_TRANSITION,
        ),
        (
            "F1",
            Caller::System,
            Action::ConfirmDeletion,
            ILLEGAL_TRANSITION,
        ),
        (
            "F1",
            spectator(a),
            Action::Control {
                controlled_at: None,
            },
            ILLEGAL_TRANSITION,
        ),
        (
            "F1",
            Caller::Organizer,
            Action::Download,
            ILLEGAL_TRANSITION,
        ),
        ("F2", spectator(a), transfer(a), ILLEGAL_TRANSITION),
        ("F2", spectator(a), transfer("not an email"), INVALID_ACTION),
        ("F2", Caller::System, Action::TimeOut, ILLEGAL_TRANSITION),
        (
            "F2",
            spectator(a),
            Action::Activate {
                method: ActivationMethod::Manual,
                code: None,
            },
            INVALID_ACTION,
        ),
        (
            "F2",
            spectator(a),
            Action::Assign {
                holder: Person::default(),
            },
            INVALID_ACTION,
        ),
        (
            "F3",
            Caller::Organizer,
            Action::Control {
                controlled_at: None,
            },
            TICKET_DELETED,
        ),
        ("F3", spectator(a), Action::Download, ILLEGAL_TRANSITION),
        (
            "F3",
            Caller::BackOffice,
            transfer("bob@example.org"),
            ILLEGAL_TRANSITION,
        ),
        (
            "NOPE",
            Caller::Organizer,
            delete("X", false),
            TICKET_NOT_FOUND,
        ),
    ];
    for (id, caller, action, code) in cases {
        let what = format!("{} {id} by {caller:?}", action.name());
        let r = refused(store, org, id, caller, action, t(2)).await;
        assert_eq!(r.code, code, "{what}: {}", r.message);
    }
    assert_verifies(store, org).await;
}

/// Several ops in one call: results in order, ops on one ticket see each other, one
/// entry per change; an empty call and an unknown organizer.
pub async fn check_batches(store: &dyn WalletStore) {
    let a = "ann@example.org";
    let org = organizer_with(store, "batches", &[("M1", a), ("M2", a)]).await;
    let before = head(store, org).await;
    let res = apply(
        store,
        org,
        vec![
            op("M1", spectator(a), Action::Download),
            op("M1", spectator(a), Action::Deactivate),
            op("M1", spectator(a), Action::Download),
            op("M2", spectator(a), Action::Download),
            op("GONE", spectator(a), Action::Download),
            op(
                "M1",
                spectator(a),
                Action::Activate {
                    method: ActivationMethod::Online,
                    code: None,
                },
            ),
        ],
        t(1),
    )
    .await;
    let status = |r: &OpResult| {
        r.as_ref()
            .map(|s| (s.status.clone(), s.history.len()))
            .map_err(|r| r.code)
    };
    assert_eq!(status(&res[0]), Ok(("DOWNLOADED".into(), 1)));
    assert_eq!(res[1].as_ref().map_err(|r| r.code), Err(ILLEGAL_TRANSITION));
    assert_eq!(
        status(&res[2]),
        Ok(("DOWNLOADED".into(), 0)),
        "unchanged repeat"
    );
    assert_eq!(status(&res[3]), Ok(("DOWNLOADED".into(), 1)));
    assert_eq!(res[4].as_ref().map_err(|r| r.code), Err(TICKET_NOT_FOUND));
    assert_eq!(status(&res[5]), Ok(("ONLINE_ACTIVATED".into(), 1)));
    let written = store.status_log(org, before.seq, 100).await.expect("log");
    assert_eq!(
        written
            .iter()
            .map(|e| (e.ticket_id.as_str(), e.action.as_str()))
            .collect::<Vec<_>>(),
        [("M1", "DOWNLOAD"), ("M2", "DOWNLOAD"), ("M1", "ACTIVATE")]
    );
    assert_eq!(head(store, org).await.seq, before.seq + 3);
    let m1 = stored(store, org, "M1").await;
    assert_eq!(m1.status, "ONLINE_ACTIVATED");
    assert_eq!(
        m1.history
            .iter()
            .map(|e| e.action.as_str())
            .collect::<Vec<_>>(),
        ["INJECT", "DOWNLOAD", "ACTIVATE"]
    );

    let h = head(store, org).await;
    assert!(apply(store, org, Vec::new(), t(2)).await.is_empty());
    assert_eq!(head(store, org).await, h);
    let r = store
        .apply(
            i64::MAX - 11,
            vec![op("M1", Caller::Organizer, delete("X", false))],
            t(2),
            settings(),
        )
        .await;
    assert!(
        matches!(r, Err(StoreError::NotFound(_))),
        "an unknown organizer is NotFound, got {r:?}"
    );
    assert_verifies(store, org).await;
}

/// The transfer rules and the event's expiry are read from the stored ticket.
pub async fn check_rules_come_from_the_stored_ticket(store: &dyn WalletStore) {
    let a = "ann@example.org";
    let org = new_organizer(store, "rules").await;
    let mut locked = sample_ticket("K1", "E1", a);
    locked.transfer_rules = Some(TransferRules {
        allow_transfer: false,
        ..Default::default()
    });
    let mut once = sample_ticket("K2", "E1", a);
    once.transfer_rules = Some(TransferRules {
        max_number_of_transfer_per_ticket_in_group_id: 1,
        ..Default::default()
    });
    let mut past = sample_ticket("K3", "E2", a);
    past.event.as_mut().expect("event").expiration_date = Some("2026-05-01T00:00:00Z".into());
    inject(store, org, [locked, once, past], t(0)).await;
    for id in ["K1", "K2", "K3"] {
        changes(store, org, id, spectator(a), Action::Download, t(1)).await;
    }
    let b = "bob@example.org";
    let r = refused(store, org, "K1", spectator(a), transfer(b), t(2)).await;
    assert_eq!(r.code, TRANSFER_NOT_ALLOWED);
    let r = refused(store, org, "K3", spectator(a), transfer(b), t(2)).await;
    assert_eq!(r.code, ILLEGAL_TRANSITION, "expired event: {}", r.message);
    let r = refused(store, org, "K3", Caller::BackOffice, transfer(b), t(2)).await;
    assert_eq!(r.code, ILLEGAL_TRANSITION, "not even by the back office");
    changes(store, org, "K2", spectator(a), transfer(b), t(2)).await;
    changes(store, org, "K2", spectator(b), Action::Accept, t(3)).await;
    let r = refused(store, org, "K2", spectator(b), transfer(a), t(4)).await;
    assert_eq!(r.code, TRANSFER_NOT_ALLOWED, "one transfer allowed");
    assert_verifies(store, org).await;
}

/// Another organizer's tickets do not exist for an organizer: actions are refused as
/// unknown tickets, and no read shows them.
pub async fn check_isolation(store: &dyn WalletStore) {
    let a = "ann@example.org";
    let b = "bob@example.org";
    let org_a = organizer_with(store, "iso A", &[("I1", a), ("I2", a)]).await;
    let org_b = new_organizer(store, "iso B").await;
    changes(store, org_a, "I1", spectator(a), Action::Download, t(1)).await;
    changes(store, org_a, "I1", spectator(a), transfer(b), t(2)).await;
    changes(
        store,
        org_a,
        "I2",
        Caller::Organizer,
        delete("X", true),
        t(2),
    )
    .await;
    let a_head = head(store, org_a).await;
    let a_log = log(store, org_a).await;

    let res = apply(
        store,
        org_b,
        vec![
            op("I1", spectator(b), Action::Accept),
            op("I1", Caller::Organizer, delete("X", false)),
            op("I2", Caller::System, Action::ConfirmDeletion),
        ],
        t(100),
    )
    .await;
    for r in &res {
        assert_eq!(r.as_ref().map_err(|r| r.code), Err(TICKET_NOT_FOUND));
    }
    assert_eq!(head(store, org_a).await, a_head, "A's chain untouched");
    assert_eq!(log(store, org_a).await, a_log);
    assert_eq!(stored(store, org_a, "I1").await.status, "PENDING_TRANSFER");

    for email in [a, b] {
        assert_eq!(
            store.app_tickets(org_b, email).await.expect("app"),
            AppTickets::default()
        );
    }
    assert!(store.diff(org_b, 0, 100).await.expect("diff").is_empty());
    let all = LogQuery {
        limit: 100,
        ..Default::default()
    };
    assert!(store.report(org_b, &all).await.expect("report").is_empty());
    assert!(
        store
            .ticket_heads(org_b, "", 100)
            .await
            .expect("heads")
            .is_empty()
    );
    assert!(due_of(store, org_b, t(10_000)).await.is_empty());
    assert_eq!(due_of(store, org_a, t(10_000)).await.len(), 2);
    assert_eq!(head(store, org_b).await, ChainHead::genesis());
    let v = store.verify(org_b).await.expect("verify");
    assert!(v.valid && v.entries == 0, "{v:?}");
    assert_verifies(store, org_a).await;
}

/// The key of the page after `page`: the seq of its last ticket's last change.
fn next_key(key: i64, page: &[TicketState]) -> i64 {
    page.last()
        .and_then(|s| s.history.last())
        .map_or(key, |e| e.seq)
}

fn seqs(s: &TicketState) -> Vec<i64> {
    s.history.iter().map(|e| e.seq).collect()
}

/// The change feed's laws (WALLET-API.md, "Change feed").
pub async fn check_diff_paging(store: &dyn WalletStore) {
    let a = "ann@example.org";
    let org = organizer_with(
        store,
        "diff",
        &[("P1", a), ("P2", a), ("P3", a), ("P4", a), ("P5", a)],
    )
    .await;
    let diff = |after: i64, limit: usize| async move {
        store.diff(org, after, limit).await.expect("diff")
    };

    // From the start: every ticket once, oldest change first, with its history.
    let first = diff(0, 100).await;
    assert_eq!(ids(&first), ["P1", "P2", "P3", "P4", "P5"]);
    for (i, s) in first.iter().enumerate() {
        assert_eq!(seqs(s), [i as i64 + 1]);
        assert_eq!(s.history[0].action, "INJECT");
        assert_eq!(
            without_history(s.clone()),
            without_history(stored(store, org, &s.ticket_id).await),
            "the feed shows the stored state"
        );
    }
    assert_eq!(diff(0, 100).await, first, "same key, same page");
    assert_eq!(next_key(0, &first), 5);
    assert!(diff(5, 100).await.is_empty(), "nothing changed after 5");
    assert!(diff(5, 100).await.is_empty());

    // The limit is respected and pages add up to the whole feed.
    let mut paged = Vec::new();
    let mut key = 0;
    loop {
        let page = diff(key, 2).await;
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        key = next_key(key, &page);
        paged.extend(page);
    }
    assert_eq!(paged, first);
    assert_eq!(key, 5);

    // Changes after the key: each changed ticket once, its latest state, only its
    // entries after the key.
    changes(store, org, "P2", spectator(a), Action::Download, t(1)).await; // 6
    changes(
        store,
        org,
        "P2",
        spectator(a),
        Action::Activate {
            method: ActivationMethod::Online,
            code: None,
        },
        t(2),
    )
    .await; // 7
    changes(store, org, "P4", spectator(a), Action::Download, t(3)).await; // 8
    let page = diff(5, 100).await;
    assert_eq!(ids(&page), ["P2", "P4"]);
    assert_eq!(page[0].status, "ONLINE_ACTIVATED");
    assert_eq!(seqs(&page[0]), [6, 7]);
    assert_eq!(seqs(&page[1]), [8]);
    let page = diff(6, 100).await;
    assert_eq!(ids(&page), ["P2", "P4"]);
    assert_eq!(seqs(&page[0]), [7], "only the entries after the key");
    let all = diff(0, 100).await;
    assert_eq!(
        ids(&all),
        ["P1", "P3", "P5", "P2", "P4"],
        "a changed ticket moves on"
    );
    assert_eq!(seqs(&all[3]), [2, 6, 7]);
    assert!(diff(8, 100).await.is_empty());

    // A client that read up to P2's change sees P1 again once it changes.
    let page = diff(5, 1).await;
    assert_eq!(ids(&page), ["P2"]);
    let key = next_key(5, &page);
    assert_eq!(key, 7);
    changes(store, org, "P1", spectator(a), Action::Download, t(4)).await; // 9
    let mut re = inject_changed(store, org, "P3").await; // 10
    assert_eq!(re.history.pop().map(|e| e.action), Some("UPDATE".into()));
    let page = diff(key, 100).await;
    assert_eq!(ids(&page), ["P4", "P1", "P3"]);
    assert_eq!(seqs(&page[1]), [9]);
    assert_eq!(
        page[2].history[0].action, "UPDATE",
        "injections are changes too"
    );
    assert_eq!(diff(key, 2).await, page[..2].to_vec());
    assert_verifies(store, org).await;
}

/// Re-injects `id` with a different sorting key; answers the stored state.
async fn inject_changed(store: &dyn WalletStore, org: i64, id: &str) -> TicketState {
    let rec = store.ticket(org, id).await.expect("read").expect("ticket");
    let mut ticket = rec.ticket;
    ticket.sorting_key = Some(format!(
        "{}-changed",
        ticket.sorting_key.unwrap_or_default()
    ));
    inject(store, org, [ticket], t(50)).await;
    stored(store, org, id).await
}

/// What a spectator's app lists, by email in any case.
pub async fn check_app_tickets(store: &dyn WalletStore) {
    let ann = "Ann@Example.org";
    let bob = "bob@example.org";
    let org = organizer_with(
        store,
        "app",
        &[
            ("A5", ann),
            ("A1", ann),
            ("A2", ann),
            ("A3", ann),
            ("A4", ann),
            ("Z0", "zed@example.org"),
        ],
    )
    .await;
    let app =
        |email: &'static str| async move { store.app_tickets(org, email).await.expect("app") };
    let listed = app("ann@example.org").await;
    assert_eq!(
        ids(&listed.tickets),
        ["A1", "A2", "A3", "A4", "A5"],
        "by ticket id"
    );
    assert!(listed.deleted_tickets.is_empty() && listed.incoming_transfers.is_empty());
    assert!(listed.tickets.iter().all(|s| s.history.is_empty()));
    assert_eq!(app("  ANN@EXAMPLE.ORG ").await, listed, "any case");
    for s in &listed.tickets {
        assert_eq!(*s, without_history(stored(store, org, &s.ticket_id).await));
    }

    let a = "ann@example.org";
    changes(store, org, "A2", spectator(a), Action::Download, t(1)).await;
    changes(
        store,
        org,
        "A3",
        Caller::Organizer,
        delete("RESALE", true),
        t(1),
    )
    .await;
    changes(
        store,
        org,
        "A4",
        Caller::Organizer,
        delete("CANCELLED", false),
        t(1),
    )
    .await;
    changes(store, org, "A5", spectator(a), Action::Download, t(1)).await;
    changes(store, org, "A5", spectator(a), transfer(bob), t(2)).await;

    let listed = app(a).await;
    assert_eq!(
        ids(&listed.tickets),
        ["A1", "A2", "A5"],
        "pending: still the owner's"
    );
    assert_eq!(
        ids(&listed.deleted_tickets),
        ["A3"],
        "only visible deletions"
    );
    assert!(listed.incoming_transfers.is_empty());
    assert_eq!(listed.tickets[1].status, "DOWNLOADED");
    assert_eq!(listed.deleted_tickets[0].status, "DELETION_PENDING");
    let b = app(bob).await;
    assert!(b.tickets.is_empty() && b.deleted_tickets.is_empty());
    assert_eq!(ids(&b.incoming_transfers), ["A5"]);
    assert_eq!(
        b.incoming_transfers[0],
        without_history(stored(store, org, "A5").await)
    );
    assert!(b.incoming_transfers[0].transfer.is_some());

    changes(
        store,
        org,
        "A3",
        Caller::System,
        Action::ConfirmDeletion,
        t(10),
    )
    .await;
    changes(store, org, "A5", spectator(bob), Action::Accept, t(10)).await;
    let listed = app(a).await;
    assert_eq!(ids(&listed.tickets), ["A1", "A2"]);
    assert_eq!(ids(&listed.deleted_tickets), ["A3"]);
    assert_eq!(listed.deleted_tickets[0].status, "DELETED");
    let b = app(bob).await;
    assert_eq!(ids(&b.tickets), ["A5"]);
    assert!(b.incoming_transfers.is_empty());

    // A corrected recipient before download moves the ticket to the new owner's app.
    let mut t1 = sample_ticket("A1", "E1", "Carl@Example.org");
    t1.sorting_key = Some("fix".into());
    inject(store, org, [t1], t(20)).await;
    assert_eq!(ids(&app(a).await.tickets), ["A2"]);
    assert_eq!(ids(&app("carl@example.org").await.tickets), ["A1"]);
    // After download an update keeps the owner.
    let mut t2 = sample_ticket("A2", "E1", "dan@example.org");
    t2.sorting_key = Some("fix".into());
    inject(store, org, [t2], t(21)).await;
    assert_eq!(ids(&app(a).await.tickets), ["A2"]);
    assert!(app("dan@example.org").await.tickets.is_empty());
    assert!(app("nobody@example.org").await == AppTickets::default());
    assert_verifies(store, org).await;
}

/// Due work: earliest first, within the limit, only what is due.
pub async fn check_due(store: &dyn WalletStore) {
    // Long before any other check's times, so that the limit sees these rows first.
    let base = Utc
        .with_ymd_and_hms(2020, 1, 1, 0, 0, 0)
        .single()
        .expect("valid time");
    let at = |s: i64| base + Duration::seconds(s);
    // Injected at the base time too: an entry never goes back in time along a chain.
    let org = new_organizer(store, "due").await;
    inject(
        store,
        org,
        ["D1", "D2", "D3"].map(|id| sample_ticket(id, "E1", "a@example.org")),
        at(-1),
    )
    .await;
    for (id, sec) in [("D2", 0), ("D1", 2), ("D3", 4)] {
        changes(
            store,
            org,
            id,
            Caller::Organizer,
            delete("X", false),
            at(sec),
        )
        .await;
    }
    let due_ids = |v: Vec<DueTicket>| -> Vec<String> {
        v.into_iter()
            .filter(|d| d.organizer_id == org)
            .map(|d| d.ticket_id)
            .collect()
    };
    assert!(due_ids(store.due(at(4), 100).await.expect("due")).is_empty());
    assert_eq!(due_ids(store.due(at(5), 100).await.expect("due")), ["D2"]);
    assert_eq!(
        due_ids(store.due(at(7), 100).await.expect("due")),
        ["D2", "D1"]
    );
    assert_eq!(
        due_ids(store.due(at(100), 100).await.expect("due")),
        ["D2", "D1", "D3"],
        "earliest first"
    );
    assert_eq!(
        due_ids(store.due(at(100), 2).await.expect("due")),
        ["D2", "D1"]
    );
    assert!(store.due(at(100), 0).await.expect("due").is_empty());
    for d in due_of(store, org, at(100)).await {
        changes(
            store,
            org,
            &d.ticket_id,
            Caller::System,
            Action::ConfirmDeletion,
            at(100),
        )
        .await;
    }
    assert!(due_of(store, org, at(100)).await.is_empty());
    assert_verifies(store, org).await;
}

/// The track-record report: by seq, `from` inclusive, `to` exclusive, paged.
pub async fn check_report(store: &dyn WalletStore) {
    let a = "ann@example.org";
    let org = new_organizer(store, "report").await;
    for (i, id) in ["G1", "G2", "G3"].into_iter().enumerate() {
        inject(store, org, [sample_ticket(id, "E1", a)], t(10 * i as i64)).await;
    }
    changes(store, org, "G1", spectator(a), Action::Download, t(30)).await;
    changes(
        store,
        org,
        "G1",
        spectator(a),
        transfer("bob@example.org"),
        t(40),
    )
    .await;
    let report = |after_seq: i64, from: Option<i64>, to: Option<i64>, limit: usize| async move {
        let q = LogQuery {
            after_seq,
            from: from.map(|s| format_at(t(s))),
            to: to.map(|s| format_at(t(s))),
            limit,
        };
        store
            .report(org, &q)
            .await
            .expect("report")
            .into_iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };
    let all = store
        .report(
            org,
            &LogQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("report");
    assert_eq!(
        all,
        log(store, org).await,
        "the entries as the log keeps them"
    );
    assert_eq!(all.len(), 5);
    assert_eq!(all[4].detail.as_deref(), Some("to=bob@example.org"));
    assert_eq!(
        report(0, Some(10), None, 100).await,
        [2, 3, 4, 5],
        "from inclusive"
    );
    assert_eq!(report(0, None, Some(20), 100).await, [1, 2], "to exclusive");
    assert_eq!(report(0, Some(10), Some(30), 100).await, [2, 3]);
    assert_eq!(report(0, Some(41), None, 100).await, Vec::<i64>::new());
    assert_eq!(report(0, None, None, 2).await, [1, 2]);
    assert_eq!(report(2, None, None, 2).await, [3, 4]);
    assert_eq!(report(4, None, None, 2).await, [5]);
    assert_eq!(report(5, None, None, 2).await, Vec::<i64>::new());
    assert_eq!(report(0, Some(10), None, 1).await, [2]);
    assert_eq!(report(2, Some(10), Some(40), 1).await, [3]);
    assert_eq!(report(3, Some(10), Some(40), 1).await, [4]);
    assert_eq!(report(4, Some(10), Some(40), 1).await, Vec::<i64>::new());
}

/// The chain head, the ticket heads `verify` reads, and the list of organizers.
pub async fn check_chain_heads_and_organizers(store: &dyn WalletStore) {
    let a = "Ann@Example.org";
    let org = organizer_with(store, "heads", &[("H2", a), ("H1", a), ("H3", a)]).await;
    changes(store, org, "H2", spectator(a), Action::Download, t(1)).await;
    let last = log(store, org).await.pop().expect("entry");
    assert_eq!(
        head(store, org).await,
        ChainHead {
            seq: 4,
            hash: last.hash
        }
    );
    let heads = store.ticket_heads(org, "", 100).await.expect("heads");
    assert_eq!(
        heads
            .iter()
            .map(|h| (h.ticket_id.as_str(), h.status.as_str(), h.change_seq))
            .collect::<Vec<_>>(),
        [
            ("H1", "INJECTED", 2),
            ("H2", "DOWNLOADED", 4),
            ("H3", "INJECTED", 3)
        ]
    );
    for h in &heads {
        assert_eq!(
            h.owner_email.as_deref(),
            Some("ann@example.org"),
            "lower-cased"
        );
        let (id, status, owner) = h.entry.clone().expect("its last entry");
        assert_eq!(
            (id.as_str(), status.as_str()),
            (h.ticket_id.as_str(), h.status.as_str())
        );
        assert_eq!(
            owner.map(|o| o.to_ascii_lowercase()).as_deref(),
            Some("ann@example.org")
        );
    }
    let after = store.ticket_heads(org, "H1", 1).await.expect("heads");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].ticket_id, "H2");
    assert!(
        store
            .ticket_heads(org, "H3", 10)
            .await
            .expect("heads")
            .is_empty()
    );

    let fresh = new_organizer(store, "heads fresh").await;
    assert_eq!(head(store, fresh).await, ChainHead::genesis());
    assert_eq!(ChainHead::genesis().hash, GENESIS_HASH);
    let orgs = store.organizers().await.expect("organizers");
    assert!(orgs.windows(2).all(|w| w[0].id < w[1].id), "by id");
    let found: Vec<_> = orgs
        .iter()
        .filter(|o| o.id == org || o.id == fresh)
        .collect();
    assert_eq!(
        found.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ["heads", "heads fresh"]
    );
    assert_verifies(store, org).await;
}

/// `verify` catches an altered entry, a removed last entry and a ticket row changed
/// without an entry. `tamper` alters the backend's tables directly.
pub async fn check_verify_detects_tampering<F, Fut>(store: &dyn WalletStore, tamper: F)
where
    F: Fn(Tamper) -> Fut,
    Fut: Future<Output = ()>,
{
    let a = "ann@example.org";
    let setup = |name: &'static str| async move {
        let org = organizer_with(store, name, &[("V1", a), ("V2", a)]).await;
        changes(store, org, "V1", spectator(a), Action::Download, t(1)).await;
        changes(
            store,
            org,
            "V1",
            spectator(a),
            transfer("bob@example.org"),
            t(2),
        )
        .await;
        assert_eq!(assert_verifies(store, org).await, 4);
        org
    };

    // (a) An entry's content rewritten: the chain breaks at that entry.
    let org = setup("tamper entry").await;
    tamper(Tamper::LogToOwner {
        organizer_id: org,
        seq: 3,
        to_owner: "mallory@example.org".into(),
    })
    .await;
    let v = store.verify(org).await.expect("verify");
    assert!(!v.valid, "{v:?}");
    assert_eq!(v.broken_seq, Some(3));
    assert_eq!(v.entries, 2, "entries checked before the break");
    assert!(v.message.is_some());

    // (b) The last entry removed: the chain is shorter than the organizer's head.
    let org = setup("tamper tail").await;
    tamper(Tamper::DeleteEntry {
        organizer_id: org,
        seq: 4,
    })
    .await;
    let v = store.verify(org).await.expect("verify");
    assert!(!v.valid, "{v:?}");
    assert_eq!(v.broken_seq, Some(4));
    assert!(v.message.is_some());

    // (c) A ticket row changed behind the log's back: that ticket is named.
    let org = setup("tamper row").await;
    tamper(Tamper::RowStatus {
        organizer_id: org,
        ticket_id: "V2".into(),
        status: WalletStatus::Controlled,
    })
    .await;
    let v = store.verify(org).await.expect("verify");
    assert!(!v.valid, "{v:?}");
    assert_eq!(v.ticket_id.as_deref(), Some("V2"));
    assert_eq!(v.broken_seq, Some(2), "the ticket's last entry");
    assert_eq!(v.entries, 4, "the chain itself is intact");
}
