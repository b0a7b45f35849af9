//! `ledger.rs`: the wallet's injection rules, event statistics and the hash chain
//! (WALLET-API.md "Inject tickets", DOMAIN.md §3 track record).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tixbridge_core::api::{Event, EventSummary, Person, Security, SpectatorDetails, Ticket};
use tixbridge_core::ledger::{
    ChainHead, ChainVerifier, CurrentTicket, PreparedTicket, StoredTicket, content_of,
    event_statistics, json_column, not_before, plan_inject, prepare, verify_chain,
};
use tixbridge_core::status::WalletStatus;

const AT: &str = "2026-11-27T10:00:00.000Z";

fn ticket(id: &str, event: &str, email: &str) -> Ticket {
    Ticket {
        ticket_id: Some(id.into()),
        event: Some(Event {
            id: Some(event.into()),
            name: Some(format!("Event {event}").as_str().into()),
            ..Default::default()
        }),
        security: Some(Security {
            barcode: Some(format!("BC-{id}")),
        }),
        spectator_details: Some(SpectatorDetails {
            email: Some(email.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn inject(
    tickets: Vec<Ticket>,
    current: HashMap<String, CurrentTicket>,
) -> tixbridge_core::ledger::InjectPlan {
    plan_inject(
        prepare(tickets),
        current,
        Default::default(),
        ChainHead::genesis(),
        "ORGANIZER_API",
        AT,
    )
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Entries never go back in time along the chain: a later last entry wins, an earlier
/// or unreadable one is ignored.
#[test]
fn entry_times_never_go_back() {
    let now = t("2026-11-27T10:00:00Z");
    let later = "2026-11-27T10:00:01.000Z";
    assert_eq!(not_before(now, Some(later)), t(later));
    assert_eq!(not_before(now, Some("2026-11-27T09:59:59.000Z")), now);
    assert_eq!(not_before(now, Some("garbage")), now);
    assert_eq!(not_before(now, None), now);
}

/// Consecutive tickets of different events each carry their own event.
#[test]
fn each_ticket_carries_its_own_event() {
    let p = prepare(vec![
        ticket("T1", "E1", "a@example.org"),
        ticket("T2", "E2", "a@example.org"),
        ticket("T3", "E2", "a@example.org"),
        ticket("T4", "E1", "a@example.org"),
    ]);
    let ids: Vec<String> = p
        .iter()
        .map(|p| {
            let ev: EventSummary = serde_json::from_str(p.event_data.as_deref().unwrap()).unwrap();
            ev.id
        })
        .collect();
    assert_eq!(ids, ["E1", "E2", "E2", "E1"]);
    let mut no_event = ticket("T5", "E1", "a@example.org");
    no_event.event.as_mut().unwrap().id = None;
    assert_eq!(prepare(vec![no_event])[0].event_data, None);
}

/// A plan that writes a ticket is not empty, even when its event is not rewritten.
#[test]
fn a_plan_with_a_ticket_but_no_event_is_not_empty() {
    let tk = ticket("T1", "E1", "a@example.org");
    let (content, content_hash) = content_of(&tk);
    let prepared = PreparedTicket {
        ticket: tk,
        content,
        content_hash,
        event_data: None,
    };
    let plan = plan_inject(
        vec![prepared],
        HashMap::new(),
        Default::default(),
        ChainHead::genesis(),
        "X",
        AT,
    );
    assert!(plan.events.is_empty());
    assert_eq!(plan.tickets.len(), 1);
    assert!(!plan.is_empty());
    // The same ticket again, unchanged: nothing to write.
    let cur = CurrentTicket {
        status: WalletStatus::Injected,
        content_hash: content_of(&ticket("T1", "E1", "a@example.org")).1,
        owner: None,
    };
    let plan = inject(
        vec![ticket("T1", "E1", "a@example.org")],
        HashMap::from([("T1".to_owned(), cur)]),
    );
    assert!(plan.is_empty());
    assert_eq!(plan.results[0].status.as_deref(), Some("INJECTED"));
}

/// The written row carries the tax number, barcode and the owner's email as app
/// sessions match it (trimmed, lower case); the actor is recorded.
#[test]
fn the_written_row_is_what_reads_need() {
    let mut tk = ticket("T1", "E1", " Ann@Example.ORG ");
    tk.purchase_details = Some(tixbridge_core::api::PurchaseDetails {
        taxation_number: Some("TAX1".into()),
        ..Default::default()
    });
    let plan = inject(vec![tk], HashMap::new());
    let w = &plan.tickets[0];
    assert_eq!(w.owner_email.as_deref(), Some("ann@example.org"));
    assert_eq!(w.tax_number.as_deref(), Some("TAX1"));
    assert_eq!(w.barcode.as_deref(), Some("BC-T1"));
    assert_eq!(w.event_id, "E1");
    assert_eq!(w.log_seqs, "1");
    assert_eq!(plan.entries[0].actor, "ORGANIZER_API");
    assert_eq!(plan.entries[0].at, AT);
    let owner: Person = serde_json::from_str(&w.owner).unwrap();
    assert_eq!(owner.email.as_deref(), Some(" Ann@Example.ORG "));
}

/// An unusable ticket (no id, no event id, no recipient email) is refused by id and
/// not written; the others of the call are.
#[test]
fn unusable_tickets_are_named_and_skipped() {
    let mut no_email = ticket("T2", "E1", "b@example.org");
    no_email.spectator_details.as_mut().unwrap().email = None;
    let mut no_event = ticket("T3", "", "c@example.org");
    no_event.event.as_mut().unwrap().id = Some(String::new());
    let mut no_id = ticket("", "E1", "d@example.org");
    no_id.ticket_id = Some(String::new());
    let plan = inject(
        vec![
            ticket("T1", "E1", "a@example.org"),
            no_email,
            no_event,
            no_id,
        ],
        HashMap::new(),
    );
    let codes: Vec<_> = plan
        .results
        .iter()
        .map(|r| (r.ticket_id.as_str(), r.error_code.as_deref()))
        .collect();
    assert_eq!(
        codes,
        [
            ("T1", None),
            ("T2", Some("MISSING_FIELD")),
            ("T3", Some("MISSING_FIELD")),
            ("", Some("MISSING_FIELD"))
        ]
    );
    assert_eq!(plan.tickets.len(), 1);
    assert_eq!(plan.head.seq, 1);
}

/// Statistics: every status is counted once in total, as valid or deleted, and every
/// valid ticket as never downloaded or downloaded.
#[test]
fn statistics_classify_every_status() {
    for s in WalletStatus::ALL {
        let st = event_statistics(&[(s, 2)]);
        assert_eq!(st.total, 2, "{s}");
        assert_eq!(st.valid + st.deleted, 2, "{s}");
        assert_eq!(st.deleted, if s.is_deleted() { 2 } else { 0 }, "{s}");
        assert_eq!(
            st.never_downloaded,
            if s == WalletStatus::Injected { 2 } else { 0 },
            "{s}"
        );
        assert_eq!(st.never_downloaded + st.downloaded, st.valid, "{s}");
        assert_eq!(
            st.pending_transfer,
            if s == WalletStatus::PendingTransfer {
                2
            } else {
                0
            }
        );
        assert_eq!(
            st.controlled,
            if s == WalletStatus::Controlled { 2 } else { 0 }
        );
    }
}

/// Undecodable stored columns are named.
#[test]
fn stored_columns_that_do_not_decode_are_named() {
    let e = json_column::<Person>("holder", Some("{".into())).unwrap_err();
    assert!(e.contains("stored holder"), "{e}");
    assert_eq!(json_column::<Person>("holder", None), Ok(None));
    let row = StoredTicket {
        ticket_id: "T1".into(),
        event_id: "E1".into(),
        tax_number: Some("TAX".into()),
        status: "TRANSFERRED".into(),
        status_changed_at: AT.into(),
        transfer_level: 2,
        deletion: Some("[1]".into()),
        ..Default::default()
    };
    assert!(row.clone().into_state().unwrap_err().contains("deletion"));
    let s = StoredTicket {
        deletion: None,
        ..row
    }
    .into_state()
    .unwrap();
    assert_eq!(
        (
            s.status.as_str(),
            s.transfer_level,
            s.taxation_number.as_deref()
        ),
        ("TRANSFERRED", 2, Some("TAX"))
    );
}

/// The verifier names the seq where the chain breaks — a missing entry where it is
/// missing — and reports the head it reached.
#[test]
fn the_verifier_names_where_the_chain_breaks() {
    let plan = inject(
        vec![
            ticket("T1", "E1", "a@example.org"),
            ticket("T2", "E1", "a@example.org"),
            ticket("T3", "E1", "a@example.org"),
        ],
        HashMap::new(),
    );
    let e = plan.entries;
    let mut v = ChainVerifier::default();
    assert_eq!(v.entries(), 0);
    assert_eq!(v.head(), ChainHead::genesis());
    v.push(&e[0]).unwrap();
    assert_eq!(v.entries(), 1);
    assert_eq!(v.head().hash, e[0].hash);
    // Entry 2 missing: reported at 2, not at 3.
    assert_eq!(v.clone().push(&e[2]), Err(2));
    // Entry 1 repeated: reported at 1.
    assert_eq!(v.clone().push(&e[0]), Err(1));
    let mut relinked = e[1].clone();
    relinked.prev_hash = "0".repeat(64);
    assert_eq!(v.push(&relinked), Err(2));
    assert_eq!(verify_chain(&e), Ok(3));
    assert_eq!(verify_chain(&e[1..]), Err(1));
}
