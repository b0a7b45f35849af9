//! Conformance checks of corrections (`import tickets --update`, issue 7 item 20):
//! what a correction may change, what it refuses naming the column, and that a changed
//! ticket already in the wallet is selected by injection again. Part of the ticketing
//! suite ([`super::ticketing::CHECKS`]).

use std::sync::Arc;

use tixbridge_core::model::{Counts, DetailSection, InjectionFilters, Outcome, TicketDetail};
use tixbridge_core::status::TicketingStatus;
use tixbridge_core::text::LocalizedText;

use super::executions::start;
use super::ticketing::{at, import, injection_schedule, org, person, sample_row};
use crate::{
    CorrectionCounts, ImportRow, InjectedMark, InjectionQuery, MarkedBy, StoreError,
    TicketingStore, refused_correction_column,
};

type Store = Arc<dyn TicketingStore>;

/// Corrects `rows` in one session; the counts, or the error of `add`.
async fn correct(
    store: &Store,
    organization_id: i64,
    rows: Vec<ImportRow>,
) -> crate::Result<CorrectionCounts> {
    let mut s = store
        .begin_correction(organization_id, at("2026-05-02T09:00:00Z"))
        .await
        .expect("begin_correction");
    s.add(rows).await?;
    let counts = s.corrections();
    s.commit().await.expect("commit");
    Ok(counts)
}

/// The column a refused correction names.
fn refused_column(r: crate::Result<CorrectionCounts>, ticket_id: i64, what: &str) -> String {
    match r {
        Err(StoreError::Conflict(m)) => match refused_correction_column(&m, ticket_id) {
            Some((column, _)) => column.to_owned(),
            None => panic!("{what}: the refusal does not name a column of {ticket_id}: {m}"),
        },
        other => panic!("{what}: expected a refused correction, got {other:?}"),
    }
}

fn seat(row: &mut ImportRow, value: &str) {
    row.details.retain(|d| d.key.get("en") != Some("Seat"));
    row.details.push(TicketDetail {
        section: DetailSection::Main,
        key: LocalizedText::new("en", "Seat"),
        value: LocalizedText::new("en", value),
    });
}

/// A correction refuses, naming the column, every change that needs a ticketing
/// operation, an unknown ticket and a ticket named twice; a refused session changes
/// nothing. A ticket not printed yet may move to another product; a printed one may not.
pub async fn corrections_refuse_what_needs_an_operation(store: Store) {
    let o = org(&store, "ACME").await;
    let mut printed = sample_row(2);
    printed.status = TicketingStatus::Printed;
    import(&store, o.id, vec![sample_row(1), printed.clone()]).await;
    let before = store.ticket(1).await.unwrap();

    type Change = Box<dyn Fn(&mut ImportRow)>;
    let cases: Vec<(&str, i64, Change)> = vec![
        (
            "status",
            1,
            Box::new(|r| r.status = TicketingStatus::Cancelled),
        ),
        ("tax_number", 1, Box::new(|r| r.tax_number = "TX999".into())),
        ("barcode", 1, Box::new(|r| r.barcode = "BC999".into())),
        ("file_id", 1, Box::new(|r| r.file_id = Some("F9".into()))),
        (
            "replaces_ticket_id",
            1,
            Box::new(|r| r.replaces_ticket_id = Some(2)),
        ),
        ("ticket_id", 99, Box::new(|_| {})),
        (
            "performance_code",
            2,
            Box::new(|r| r.performance.as_mut().unwrap().code = "M63".into()),
        ),
        (
            "shipment_mode",
            2,
            Box::new(|r| r.shipment_mode = "PRINT_AT_HOME".into()),
        ),
    ];
    for (column, id, change) in cases {
        let mut row = if id == 2 {
            printed.clone()
        } else {
            sample_row(id)
        };
        seat(&mut row, "13");
        change(&mut row);
        let r = correct(&store, o.id, vec![row]).await;
        assert_eq!(
            refused_column(r, id, column),
            column,
            "a change of {column}"
        );
    }
    assert_eq!(
        store.ticket(1).await.unwrap(),
        before,
        "refused corrections change nothing"
    );

    let r = correct(&store, o.id, vec![sample_row(1), sample_row(1)]).await;
    assert_eq!(
        refused_column(r, 1, "twice"),
        "ticket_id",
        "a ticket named twice"
    );

    let other_org = org(&store, "OTHER").await;
    let r = correct(&store, other_org.id, vec![sample_row(1)]).await;
    assert_eq!(
        refused_column(r, 1, "another organization"),
        "ticket_id",
        "another organization's ticket is unknown"
    );

    let mut moved = sample_row(1);
    moved.product.code = "FINAL2".into();
    moved.performance.as_mut().unwrap().code = "M65".into();
    let counts = correct(&store, o.id, vec![moved])
        .await
        .expect("a not-printed ticket moves");
    assert_eq!(counts.changed, 1);
    let t = store.ticket(1).await.unwrap().unwrap();
    let cat = store.catalog(o.id).await.unwrap();
    assert_eq!(
        cat.performances
            .iter()
            .find(|p| p.code == "M65")
            .map(|p| p.id),
        t.performance_id,
        "the corrected ticket points to the new performance"
    );
}

/// Changed content replaces the stored one; an equal row changes nothing; a changed
/// ticket already injected is selected again by injection (in id order with the
/// backlog, through the filters and the keyset) until an execution that started after
/// the correction sends it.
pub async fn corrections_resend_changed_injected_tickets(store: Store) {
    let o = org(&store, "ACME").await;
    let sched = injection_schedule(&store, o.id).await;
    import(&store, o.id, (1..=3).map(sample_row).collect()).await;
    let mark = |ids: &[i64]| {
        ids.iter()
            .map(|&ticket_id| InjectedMark {
                ticket_id,
                recipient: person(&format!("c{ticket_id}@example.org")),
            })
            .collect::<Vec<_>>()
    };
    let e1 = store
        .start_execution(start(sched.id, at("2026-05-01T10:00:00Z")))
        .await
        .unwrap();
    let marked_at = at("2026-05-01T10:01:00Z");
    let by = MarkedBy::execution(sched.id, e1.id);
    store
        .mark_injected(by, "WEB;POS1", marked_at, mark(&[1, 2]))
        .await
        .unwrap();
    let end = at("2026-05-01T10:02:00Z");
    store
        .finish_execution(e1.id, end, Outcome::Ok, Counts::default(), None)
        .await
        .unwrap();
    let ids = |after_id: i64, limit: usize, filters: InjectionFilters| {
        let store = store.clone();
        async move {
            let q = InjectionQuery {
                filters,
                after_id,
                limit,
                ..InjectionQuery::default()
            };
            let found = store.injection_candidates(o.id, &q).await.unwrap();
            found.into_iter().map(|c| c.ticket.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(0, 100, InjectionFilters::default()).await, vec![3]);

    // 1: seat changed (injected); 2: unchanged (injected); 3: holder changed (backlog).
    let mut one = sample_row(1);
    seat(&mut one, "13");
    let mut three = sample_row(3);
    three.holder.last_name = Some("Murray Hopper".into());
    let counts = correct(&store, o.id, vec![one, sample_row(2), three])
        .await
        .expect("correction");
    assert_eq!(
        counts,
        CorrectionCounts {
            changed: 2,
            resend: 1
        }
    );
    let t1 = store.ticket(1).await.unwrap().unwrap();
    assert!(
        t1.details.iter().any(|d| d.value.get("en") == Some("13")),
        "the seat is corrected: {:?}",
        t1.details
    );
    assert_eq!(
        t1.status,
        TicketingStatus::Printed,
        "a correction keeps the status"
    );
    assert_eq!(
        store
            .ticket(3)
            .await
            .unwrap()
            .unwrap()
            .holder
            .last_name
            .as_deref(),
        Some("Murray Hopper")
    );
    assert_eq!(ids(0, 100, InjectionFilters::default()).await, vec![1, 3]);
    assert_eq!(ids(0, 1, InjectionFilters::default()).await, vec![1]);
    assert_eq!(ids(1, 100, InjectionFilters::default()).await, vec![3]);
    let other_tariff = InjectionFilters {
        tariff: Some("REDUCED".into()),
        ..InjectionFilters::default()
    };
    assert_eq!(ids(0, 100, other_tariff).await, Vec::<i64>::new());
    let file = InjectionFilters {
        file_number: Some("F1".into()),
        ..InjectionFilters::default()
    };
    assert_eq!(ids(0, 100, file).await, vec![1, 3]);

    // An execution that started before a correction may have read the old content:
    // its mark leaves the ticket selected.
    let e2 = store
        .start_execution(start(sched.id, at("2026-05-02T08:00:00Z")))
        .await
        .unwrap();
    let by = MarkedBy::execution(sched.id, e2.id);
    let when = at("2026-05-02T09:30:00Z");
    store
        .mark_injected(by, "WEB;POS1", when, mark(&[1]))
        .await
        .unwrap();
    assert_eq!(ids(0, 100, InjectionFilters::default()).await, vec![1, 3]);
    store
        .finish_execution(e2.id, when, Outcome::Ok, Counts::default(), None)
        .await
        .unwrap();
    // One started after it sends the corrected content: the ticket is up to date.
    let e3 = store
        .start_execution(start(sched.id, at("2026-05-02T10:00:00Z")))
        .await
        .unwrap();
    let by = MarkedBy::execution(sched.id, e3.id);
    let when = at("2026-05-02T10:01:00Z");
    store
        .mark_injected(by, "WEB;POS1", when, mark(&[1]))
        .await
        .unwrap();
    assert_eq!(ids(0, 100, InjectionFilters::default()).await, vec![3]);

    let counts = correct(&store, o.id, vec![sample_row(2)]).await.unwrap();
    assert_eq!(
        counts,
        CorrectionCounts::default(),
        "an equal row changes nothing"
    );
}
