//! Conformance checks of ticketing operations (issue 8): cancel and invalidate with a
//! cause from the organization's list, one transaction per command, a history row per
//! ticket, refusals naming every ticket. Part of the ticketing suite
//! ([`super::ticketing::CHECKS`]).

use std::sync::Arc;

use tixbridge_core::cause::Cause;
use tixbridge_core::operation::{DEFAULT_CAUSES, Operation, TicketRef};
use tixbridge_core::status::TicketingStatus;

use super::ticketing::{at, import, org, sample_row};
use crate::{OperationRequest, StoreError, TicketingStore};

type Store = Arc<dyn TicketingStore>;

fn cause(c: &str) -> Cause {
    Cause::parse(c).expect("a cause")
}

fn request(organization_id: i64, op: Operation, tickets: &[&str], c: &str) -> OperationRequest {
    OperationRequest {
        organization_id,
        operation: op,
        tickets: tickets
            .iter()
            .map(|t| TicketRef::parse(t).expect("a reference"))
            .collect(),
        cause: cause(c),
        operator: "cli:ops".into(),
        at: at("2026-06-01T10:00:00Z"),
    }
}

/// The defaults come first; an added cause is normalised and listed once, per
/// organization.
pub async fn causes_default_and_added(store: Store) {
    let o = org(&store, "ACME").await;
    let other = org(&store, "OTHER").await;
    let defaults: Vec<Cause> = DEFAULT_CAUSES.iter().map(|c| cause(c)).collect();
    assert_eq!(store.causes(o.id).await.unwrap(), defaults);
    assert!(store.add_cause(o.id, cause("lost ticket")).await.unwrap());
    assert!(!store.add_cause(o.id, cause("LOSTTICKET")).await.unwrap());
    assert!(!store.add_cause(o.id, cause("refund")).await.unwrap());
    let mut expected = defaults.clone();
    expected.push(cause("LOSTTICKET"));
    assert_eq!(store.causes(o.id).await.unwrap(), expected);
    assert_eq!(store.causes(other.id).await.unwrap(), defaults);
    assert!(matches!(
        store.causes(o.id + other.id + 100).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Cancel and invalidate change status and cause and append history; tickets are named
/// by id, tax number or barcode; a ticket named twice changes once.
pub async fn operations_change_status_and_record_history(store: Store) {
    let o = org(&store, "ACME").await;
    let mut printed = sample_row(2);
    printed.status = TicketingStatus::Printed;
    import(&store, o.id, vec![sample_row(1), printed, sample_row(3)]).await;

    let req = request(o.id, Operation::Cancel, &["id:1", "TX2", "BC1"], "refund");
    let records = store.apply_operation(req).await.expect("cancel");
    assert_eq!(records.len(), 2, "ticket 1 named twice changes once");
    assert_eq!(
        records.iter().map(|r| r.ticket_id).collect::<Vec<_>>(),
        vec![1, 2]
    );
    for (id, from) in [
        (1, TicketingStatus::NotPrinted),
        (2, TicketingStatus::Printed),
    ] {
        let t = store.ticket(id).await.unwrap().unwrap();
        assert_eq!(t.status, TicketingStatus::Cancelled, "ticket {id}");
        assert_eq!(t.cause, Some(cause("REFUND")), "ticket {id}");
        let h = store.ticket_operations(id).await.unwrap();
        assert_eq!(h.len(), 1, "ticket {id}");
        assert_eq!(h[0].operation, Operation::Cancel);
        assert_eq!(h[0].from_status, from);
        assert_eq!(h[0].to_status, TicketingStatus::Cancelled);
        assert_eq!(h[0].cause, Some(cause("REFUND")));
        assert_eq!(h[0].operator, "cli:ops");
        assert_eq!(h[0].at, at("2026-06-01T10:00:00Z"));
        assert_eq!(
            h[0],
            records.iter().find(|r| r.ticket_id == id).unwrap().clone()
        );
    }

    let req = request(o.id, Operation::Invalidate, &["BC3"], "Theft");
    store.apply_operation(req).await.expect("invalidate");
    let t = store.ticket(3).await.unwrap().unwrap();
    assert_eq!(t.status, TicketingStatus::Invalidated);
    assert_eq!(t.cause, Some(cause("THEFT")));
    assert!(store.ticket_operations(99).await.unwrap().is_empty());
}

/// A command with an unknown cause, an unknown ticket or a ticket whose status forbids
/// the operation changes nothing, and the refusal names every ticket and status.
pub async fn operations_refused_change_nothing(store: Store) {
    let o = org(&store, "ACME").await;
    let mut controlled = sample_row(2);
    controlled.status = TicketingStatus::Controlled;
    let mut cancelled = sample_row(3);
    cancelled.status = TicketingStatus::Cancelled;
    cancelled.cause = Some(cause("REFUND"));
    import(&store, o.id, vec![sample_row(1), controlled, cancelled]).await;
    let before = store.ticket(1).await.unwrap();

    let r = store
        .apply_operation(request(o.id, Operation::Cancel, &["id:1"], "lost"))
        .await;
    match r {
        Err(StoreError::Invalid(m)) => {
            assert!(m.contains("unknown cause LOST"), "{m}");
            assert!(m.contains("REFUND, REPRINT, THEFT"), "{m}");
        }
        other => panic!("an unknown cause: {other:?}"),
    }
    let r = store
        .apply_operation(request(
            o.id,
            Operation::Cancel,
            &["id:1", "id:2", "TX3"],
            "refund",
        ))
        .await;
    match r {
        Err(StoreError::Conflict(m)) => {
            assert!(m.contains("ticket id:2 (2): it is CONTROLLED"), "{m}");
            assert!(m.contains("ticket TX3 (3): it is already CANCELLED"), "{m}");
        }
        other => panic!("forbidden statuses: {other:?}"),
    }
    let r = store
        .apply_operation(request(
            o.id,
            Operation::Invalidate,
            &["id:1", "NOPE", "id:77"],
            "theft",
        ))
        .await;
    match r {
        Err(StoreError::NotFound(m)) => assert!(m.contains("no ticket NOPE, id:77"), "{m}"),
        other => panic!("unknown tickets: {other:?}"),
    }
    let other_org = org(&store, "OTHER").await;
    let r = store
        .apply_operation(request(
            other_org.id,
            Operation::Cancel,
            &["id:1"],
            "refund",
        ))
        .await;
    assert!(
        matches!(r, Err(StoreError::NotFound(_))),
        "another organization's ticket: {r:?}"
    );
    assert_eq!(store.ticket(1).await.unwrap(), before, "nothing changed");
    assert!(store.ticket_operations(1).await.unwrap().is_empty());
}

fn reprint_request(organization_id: i64, ticket: &str) -> crate::ReprintRequest {
    crate::ReprintRequest {
        organization_id,
        operation: Operation::Reprint,
        ticket: TicketRef::parse(ticket).expect("a reference"),
        buyer: None,
        cause: cause("REPRINT"),
        operator: "box:anna".into(),
        at: at("2026-06-02T09:00:00Z"),
        new_ticket_id: None,
        new_tax_number: None,
        new_barcode: None,
    }
}

/// A reprint invalidates the old ticket and issues the new one in one transaction:
/// same seat, contact and catalog entries, new identifiers, `replaces_ticket_id`; a
/// ticket is reprinted once; a cancelled one is not; a taken identifier is refused and
/// nothing changes.
pub async fn reprint_replaces_the_ticket_once(store: Store) {
    let o = org(&store, "ACME").await;
    let mut printed = sample_row(2);
    printed.status = TicketingStatus::Printed;
    let mut cancelled = sample_row(3);
    cancelled.status = TicketingStatus::Cancelled;
    import(&store, o.id, vec![sample_row(1), printed, cancelled]).await;
    let old = store.ticket(2).await.unwrap().unwrap();

    // A taken tax number or barcode: refused, nothing changed.
    let mut req = reprint_request(o.id, "TX2");
    req.new_tax_number = Some("TX1".into());
    assert!(
        matches!(store.reprint(req).await, Err(StoreError::Conflict(m)) if m.contains("tax number TX1"))
    );
    let mut req = reprint_request(o.id, "TX2");
    req.new_barcode = Some("BC1".into());
    assert!(
        matches!(store.reprint(req).await, Err(StoreError::Conflict(m)) if m.contains("barcode BC1"))
    );
    assert_eq!(
        store.ticket(2).await.unwrap().unwrap(),
        old,
        "nothing changed"
    );

    let done = store
        .reprint(reprint_request(o.id, "BC2"))
        .await
        .expect("reprint");
    let new = &done.new_ticket;
    assert_eq!(new.id, 4, "one above the highest ticket id");
    assert_eq!(new.tax_number, "4");
    assert_eq!(new.barcode.len(), 16, "{}", new.barcode);
    assert_ne!(new.barcode, old.barcode);
    assert_eq!(new.status, TicketingStatus::NotPrinted);
    assert_eq!(new.replaces_ticket_id, Some(2));
    assert_eq!(
        (
            new.performance_id,
            new.contact_id,
            &new.details,
            &new.holder,
            new.price_cents
        ),
        (
            old.performance_id,
            old.contact_id,
            &old.details,
            &old.holder,
            old.price_cents
        ),
        "same seat, contact and catalog entries"
    );
    let replaced = store.ticket(2).await.unwrap().unwrap();
    assert_eq!(replaced.status, TicketingStatus::Invalidated);
    assert_eq!(replaced.cause, Some(cause("REPRINT")));
    assert_eq!(done.record.related_ticket_id, Some(4));
    assert_eq!(
        store.ticket_operations(2).await.unwrap(),
        vec![done.record.clone()]
    );

    // Once only; never a cancelled ticket; the chosen identifiers are used.
    let again = store.reprint(reprint_request(o.id, "id:2")).await;
    assert!(matches!(again, Err(StoreError::Conflict(m)) if m.contains("already INVALIDATED")));
    let r = store.reprint(reprint_request(o.id, "TX3")).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(m)) if m.contains("a cancelled ticket cannot be reprinted"))
    );
    let mut req = reprint_request(o.id, "TX1");
    req.cause = cause("theft");
    req.new_ticket_id = Some(50);
    req.new_tax_number = Some("TX50".into());
    req.new_barcode = Some("BC50".into());
    let done = store
        .reprint(req)
        .await
        .expect("reprint with chosen identifiers");
    assert_eq!(
        (
            done.new_ticket.id,
            done.new_ticket.tax_number.as_str(),
            done.new_ticket.barcode.as_str()
        ),
        (50, "TX50", "BC50")
    );
    assert_eq!(
        store.ticket(1).await.unwrap().unwrap().cause,
        Some(cause("THEFT"))
    );
    let mut req = reprint_request(o.id, "id:4");
    req.new_ticket_id = Some(50);
    assert!(
        matches!(store.reprint(req).await, Err(StoreError::Conflict(m)) if m.contains("ticket id 50"))
    );
}

fn scan(barcode: &str, at_: &str, performance: Option<&str>) -> crate::GateScan {
    crate::GateScan {
        barcode: barcode.into(),
        scanned_at: at(at_),
        performance: performance.map(str::to_owned),
    }
}

/// Gate scans: a live scan controls a live ticket and refuses a second entry, another
/// performance, an unknown or cancelled barcode; a file's scans keep the earliest time
/// and report a ticket admitted while cancelled without controlling it.
pub async fn gate_scans_control_tickets(store: Store) {
    use tixbridge_core::operation::ScanOutcome;
    let o = org(&store, "ACME").await;
    let mut cancelled = sample_row(3);
    cancelled.status = TicketingStatus::Cancelled;
    cancelled.cause = Some(cause("REFUND"));
    import(
        &store,
        o.id,
        vec![sample_row(1), sample_row(2), cancelled, sample_row(4)],
    )
    .await;

    let live = store
        .record_scans(
            o.id,
            vec![
                scan("BC1", "2026-07-19T18:30:00Z", Some("M64")),
                scan("BC1", "2026-07-19T18:31:00Z", Some("M64")),
                scan("BC2", "2026-07-19T18:32:00Z", Some("M63")),
                scan("BC3", "2026-07-19T18:33:00Z", None),
                scan("NOPE", "2026-07-19T18:34:00Z", None),
            ],
            true,
            "gate:north",
        )
        .await
        .unwrap();
    assert_eq!(live[0].outcome, ScanOutcome::Controlled);
    assert_eq!(live[0].ticket_id, Some(1));
    let reasons: Vec<String> = live[1..]
        .iter()
        .map(|r| match &r.outcome {
            ScanOutcome::Refused { reason } => reason.clone(),
            other => panic!("expected a refusal: {other:?}"),
        })
        .collect();
    assert!(
        reasons[0].contains("already scanned at 2026-07-19T18:30:00Z"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("not for this gate's performance M63"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].contains("CANCELLED (REFUND): no entry"),
        "{reasons:?}"
    );
    assert!(
        reasons[3].starts_with("unknown barcode NOPE"),
        "{reasons:?}"
    );
    assert_eq!(
        store.ticket(1).await.unwrap().unwrap().status,
        TicketingStatus::Controlled
    );
    assert_eq!(
        store.ticket(2).await.unwrap().unwrap().status,
        TicketingStatus::NotPrinted
    );

    // A file uploaded late, out of order, with duplicates.
    let file = store
        .record_scans(
            o.id,
            vec![
                scan("BC1", "2026-07-19T18:10:00Z", None),
                scan("BC4", "2026-07-19T18:40:00Z", None),
                scan("BC4", "2026-07-19T18:45:00Z", None),
                scan("BC3", "2026-07-19T18:20:00Z", None),
            ],
            false,
            "upload",
        )
        .await
        .unwrap();
    assert_eq!(
        file[0].outcome,
        ScanOutcome::EarlierScan {
            replaced: at("2026-07-19T18:30:00Z")
        }
    );
    assert_eq!(file[1].outcome, ScanOutcome::Controlled);
    assert_eq!(
        file[2].outcome,
        ScanOutcome::AlreadyControlled {
            first_scan: at("2026-07-19T18:40:00Z")
        }
    );
    assert!(matches!(
        file[3].outcome,
        ScanOutcome::AdmittedWhileCancelled { .. }
    ));
    assert_eq!(
        store.ticket(3).await.unwrap().unwrap().status,
        TicketingStatus::Cancelled
    );
    let h1 = store.ticket_operations(1).await.unwrap();
    assert_eq!(
        h1.iter().map(|h| (h.operation, h.at)).collect::<Vec<_>>(),
        vec![
            (Operation::Control, at("2026-07-19T18:30:00Z")),
            (Operation::Control, at("2026-07-19T18:10:00Z"))
        ],
        "each scan that counts, at its scan time"
    );
    let h3 = store.ticket_operations(3).await.unwrap();
    assert_eq!(h3.len(), 1, "admitted while cancelled is recorded");
    assert_eq!(h3[0].to_status, TicketingStatus::Cancelled);
}

/// Resale (DOMAIN.md §2): posting invalidates with `RESALE_PENDING`; a sale makes the
/// cause `RESOLD` and issues a new ticket to the buyer (the buyer's contact, without
/// the seller's holder data); a withdrawal makes it `RESALE_CANCELLED` and gives a new
/// ticket back to the seller. Only a posted ticket is sold or withdrawn, once; a step's
/// cause is its own; an unknown buyer changes nothing.
pub async fn resale_posts_sells_and_withdraws(store: Store) {
    let o = org(&store, "ACME").await;
    import(&store, o.id, (1..=4).map(sample_row).collect()).await;
    let post = |tickets: &[&str], c: &str| OperationRequest {
        organization_id: o.id,
        operation: Operation::ResalePost,
        tickets: tickets
            .iter()
            .map(|t| TicketRef::parse(t).unwrap())
            .collect(),
        cause: cause(c),
        operator: "resale".into(),
        at: at("2026-06-03T10:00:00Z"),
    };
    let wrong = store.apply_operation(post(&["TX1"], "THEFT")).await;
    assert!(
        matches!(&wrong, Err(StoreError::Invalid(m)) if m.contains("gives the cause RESALE_PENDING")),
        "{wrong:?}"
    );
    store
        .apply_operation(post(&["TX1", "TX2"], "RESALE_PENDING"))
        .await
        .expect("posted");
    let posted = store.ticket(1).await.unwrap().unwrap();
    assert_eq!(
        (posted.status, posted.cause.clone()),
        (TicketingStatus::Invalidated, Some(cause("RESALE_PENDING")))
    );

    let step = |op: Operation, ticket: &str, buyer: Option<&str>| crate::ReprintRequest {
        operation: op,
        buyer: buyer.map(str::to_owned),
        cause: cause(op.resale_cause().unwrap()),
        ..reprint_request(o.id, ticket)
    };
    // Refusals change nothing.
    let r = store
        .reprint(step(Operation::ResaleSold, "TX3", Some("C4")))
        .await;
    assert!(
        matches!(&r, Err(StoreError::Conflict(m)) if m.contains("only a ticket posted for resale")),
        "{r:?}"
    );
    let r = store
        .reprint(step(Operation::ResaleSold, "TX1", Some("NOBODY")))
        .await;
    assert!(
        matches!(&r, Err(StoreError::NotFound(m)) if m.contains("no contact numbered NOBODY")),
        "{r:?}"
    );
    let r = store
        .reprint(step(Operation::ResaleSold, "TX1", None))
        .await;
    assert!(matches!(&r, Err(StoreError::Invalid(m)) if m.contains("names its buyer")));
    assert_eq!(store.ticket(1).await.unwrap().unwrap(), posted);

    let sold = store
        .reprint(step(Operation::ResaleSold, "TX1", Some("C4")))
        .await
        .expect("sold");
    let buyer_ticket = &sold.new_ticket;
    let buyer = store.ticket(4).await.unwrap().unwrap().contact_id;
    assert_eq!(buyer_ticket.contact_id, buyer, "the buyer's ticket");
    assert_eq!(
        buyer_ticket.holder,
        Default::default(),
        "no seller holder data"
    );
    assert_eq!(buyer_ticket.replaces_ticket_id, Some(1));
    assert_eq!(buyer_ticket.performance_id, posted.performance_id);
    assert_eq!(
        store.ticket(1).await.unwrap().unwrap().cause,
        Some(cause("RESOLD"))
    );
    assert_eq!(sold.record.operation, Operation::ResaleSold);
    let again = store
        .reprint(step(Operation::ResaleWithdraw, "TX1", None))
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");

    let back = store
        .reprint(step(Operation::ResaleWithdraw, "TX2", None))
        .await
        .expect("withdrawn");
    let seller = store.ticket(2).await.unwrap().unwrap();
    assert_eq!(seller.cause, Some(cause("RESALE_CANCELLED")));
    assert_eq!(
        back.new_ticket.contact_id, seller.contact_id,
        "back to the seller"
    );
    assert_eq!(back.new_ticket.holder, seller.holder);
    let history = store.ticket_operations(2).await.unwrap();
    let ops: Vec<Operation> = history.iter().map(|r| r.operation).collect();
    assert_eq!(ops, [Operation::ResalePost, Operation::ResaleWithdraw]);
}
