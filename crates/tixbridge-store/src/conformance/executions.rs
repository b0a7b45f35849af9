//! Conformance checks of executions with leases, execution history, and the changes of
//! interfaces and schedules. Single-store checks take a freshly opened, empty store;
//! [`starts_never_overlap`] takes two handles on one database (as two processes
//! would have). `tests/conformance_executions.rs` runs them on every backend.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};

use tixbridge_core::model::{Counts, Outcome, TicketError};

use super::ticketing::{at, import, injection_schedule, new_interface, org, person, sample_row};
use crate::{ExecutionStart, InjectedMark, InterfaceUpdate, MarkedBy, StoreError, TicketingStore};

type Store = Arc<dyn TicketingStore>;

/// Every single-store check, by name, for harnesses that want to loop.
pub const CHECKS: &[&str] = &[
    "leases_refuse_overlap_and_recover_lapsed",
    "lease_renewal_is_the_owners",
    "execution_errors_page_in_order",
    "interface_update",
    "schedule_update_and_delete",
];

/// An execution start with a one-minute lease held by `conformance`.
pub fn start(schedule_id: i64, at: DateTime<Utc>) -> ExecutionStart {
    start_by(schedule_id, at, "conformance", Duration::minutes(1))
}

/// An execution start held by `owner` for `lease`.
pub fn start_by(
    schedule_id: i64,
    at: DateTime<Utc>,
    owner: &str,
    lease: Duration,
) -> ExecutionStart {
    ExecutionStart {
        schedule_id,
        at,
        owner: owner.into(),
        lease,
    }
}

fn conflict<T: std::fmt::Debug>(r: crate::Result<T>, what: &str) -> String {
    match r {
        Err(StoreError::Conflict(m)) => m,
        other => panic!("{what}: expected a conflict, got {other:?}"),
    }
}

fn ticket_error(ticket_id: Option<i64>, code: &str) -> TicketError {
    TicketError {
        ticket_id,
        tax_number: ticket_id.map(|t| format!("TX{t}")),
        code: code.into(),
        message: format!("{code} for {ticket_id:?}"),
    }
}

/// A running execution refuses a second start of its schedule, naming itself; once
/// its lease lapses the next start records it as `ERROR` "interrupted" with the
/// counts its markers and errors show, and starts.
pub async fn leases_refuse_overlap_and_recover_lapsed(store: Store) {
    let o = org(&store, "ACME").await;
    let sched = injection_schedule(&store, o.id).await;
    import(&store, o.id, (1..=4).map(sample_row).collect()).await;
    let t0 = at("2026-05-01T12:00:00Z");
    let lease = Duration::seconds(30);
    let e1 = store
        .start_execution(start_by(sched.id, t0, "host-a:1:x", lease))
        .await
        .unwrap();
    assert_eq!(e1.lease_owner.as_deref(), Some("host-a:1:x"));
    assert_eq!(e1.lease_expires_at, Some(t0 + lease));
    let msg = conflict(
        store
            .start_execution(start_by(sched.id, t0 + Duration::seconds(29), "b", lease))
            .await,
        "a second start while the lease is live",
    );
    assert!(
        msg.contains(&format!("#{}", e1.id)) && msg.contains("host-a:1:x"),
        "{msg}"
    );
    // What the interrupted execution had done: two tickets marked, one refused.
    let marks = [1, 2]
        .map(|t| InjectedMark {
            ticket_id: t,
            recipient: person("a@example.org"),
        })
        .to_vec();
    let by = MarkedBy::execution(sched.id, e1.id);
    store
        .mark_injected(by, "WEB;POS1", t0, marks)
        .await
        .unwrap();
    let errors = vec![ticket_error(Some(3), "KO"), ticket_error(None, "DOWN")];
    store.add_execution_errors(e1.id, errors).await.unwrap();
    let snapshot = Counts {
        selected: 4,
        sent: 3,
        skipped: 1,
        ..Counts::default()
    };
    store
        .renew_lease(e1.id, "host-a:1:x", t0 + Duration::seconds(40), snapshot)
        .await
        .unwrap();
    conflict(
        store
            .start_execution(start_by(sched.id, t0 + Duration::seconds(39), "b", lease))
            .await,
        "a start before the renewed lease lapses",
    );
    let t1 = t0 + Duration::seconds(41);
    let e2 = store
        .start_execution(start_by(sched.id, t1, "b", lease))
        .await
        .unwrap();
    let e1 = store.execution(e1.id).await.unwrap().unwrap();
    assert_eq!(e1.outcome, Some(Outcome::Error));
    assert_eq!(e1.ended_at, Some(t0 + Duration::seconds(40)));
    assert!(
        e1.message.as_deref().unwrap().starts_with("interrupted"),
        "{e1:?}"
    );
    let want = Counts {
        succeeded: 2,
        failed: 1,
        ..snapshot
    };
    assert_eq!(e1.counts, want);
    assert_eq!((e1.lease_owner, e1.lease_expires_at), (None, None));
    assert_eq!(e2.started_at, t1);
    // Deleting the schedule is refused while e2 runs, then allowed.
    let msg = conflict(
        store.delete_schedule(sched.id, t1).await,
        "delete while running",
    );
    assert!(msg.contains(&format!("#{}", e2.id)), "{msg}");
    store
        .finish_execution(e2.id, t1, Outcome::Ok, Counts::default(), None)
        .await
        .unwrap();
    store.delete_schedule(sched.id, t1).await.unwrap();
    assert_eq!(store.schedule(sched.id).await.unwrap(), None);
    assert_eq!(store.execution(e2.id).await.unwrap(), None);
    assert!(store.execution_errors(e1.id).await.unwrap().is_empty());
    assert!(matches!(
        store.delete_schedule(sched.id, t1).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Only the owner renews its lease, and only while the execution runs; finishing
/// releases the lease.
pub async fn lease_renewal_is_the_owners(store: Store) {
    let o = org(&store, "ACME").await;
    let sched = injection_schedule(&store, o.id).await;
    let t0 = at("2026-05-01T12:00:00Z");
    let e = store.start_execution(start(sched.id, t0)).await.unwrap();
    let later = t0 + Duration::minutes(5);
    conflict(
        store
            .renew_lease(e.id, "someone-else", later, Counts::default())
            .await,
        "a renewal by another owner",
    );
    let c = Counts {
        selected: 7,
        unsent: 2,
        ..Counts::default()
    };
    store
        .renew_lease(e.id, "conformance", later, c)
        .await
        .unwrap();
    let read = store.execution(e.id).await.unwrap().unwrap();
    assert_eq!((read.lease_expires_at, read.counts), (Some(later), c));
    store
        .finish_execution(e.id, later, Outcome::Warning, c, Some("stopped".into()))
        .await
        .unwrap();
    let read = store.execution(e.id).await.unwrap().unwrap();
    assert_eq!((read.lease_owner, read.lease_expires_at), (None, None));
    assert_eq!(read.counts.unsent, 2);
    conflict(
        store
            .renew_lease(e.id, "conformance", later, Counts::default())
            .await,
        "a renewal after the end",
    );
    // The next execution starts at once: an ended one holds nothing.
    store.start_execution(start(sched.id, later)).await.unwrap();
}

/// Errors come back by pages in the order stored, keyed for the next page.
pub async fn execution_errors_page_in_order(store: Store) {
    let o = org(&store, "ACME").await;
    let sched = injection_schedule(&store, o.id).await;
    let e = store
        .start_execution(start(sched.id, at("2026-05-01T12:00:00Z")))
        .await
        .unwrap();
    let errors: Vec<TicketError> = (1..=5).map(|t| ticket_error(Some(t), "KO")).collect();
    store
        .add_execution_errors(e.id, errors.clone())
        .await
        .unwrap();
    let mut after = 0;
    let mut read = Vec::new();
    loop {
        let page = store.execution_errors_page(e.id, after, 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        assert!(page.iter().all(|p| p.key > after));
        after = page.last().unwrap().key;
        read.extend(page.into_iter().map(|p| p.error));
    }
    assert_eq!(read, errors);
    assert!(
        store
            .execution_errors_page(e.id + 1000, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// An update changes what it names and keeps the rest; the URL is checked as at
/// creation; an unknown interface is `NotFound`.
pub async fn interface_update(store: Store) {
    let o = org(&store, "ACME").await;
    let created = store
        .create_interface(new_interface(o.id, "w"))
        .await
        .unwrap();
    let bad = InterfaceUpdate {
        url: Some("https://wallet.example/api".into()),
        ..Default::default()
    };
    assert!(matches!(
        store.update_interface(created.id, bad).await,
        Err(StoreError::Invalid(_))
    ));
    let u = InterfaceUpdate {
        url: Some("https://other.example/organizer/tickets".into()),
        api_key: Some(SecretString::from("new-key")),
        notification_emails: Some(vec!["night@example.org".into()]),
        custom_params: Some("killRatio=0.2".into()),
        ..Default::default()
    };
    let updated = store.update_interface(created.id, u).await.unwrap();
    let read = store.interface(created.id).await.unwrap();
    for i in [&updated, &read] {
        assert_eq!(i.url, "https://other.example/organizer/tickets");
        assert_eq!(i.login, created.login, "the login was not named: kept");
        assert_eq!(i.api_key.expose_secret(), "new-key");
        assert_eq!(i.notification_emails, vec!["night@example.org".to_owned()]);
        assert_eq!(i.custom_params, "killRatio=0.2");
        assert_eq!(
            (i.name.as_str(), i.kind),
            (created.name.as_str(), created.kind)
        );
    }
    let kept = store
        .update_interface(created.id, InterfaceUpdate::default())
        .await
        .unwrap();
    assert_eq!(kept.api_key.expose_secret(), "new-key");
    assert!(matches!(
        store
            .update_interface(created.id + 1000, InterfaceUpdate::default())
            .await,
        Err(StoreError::NotFound(_))
    ));
}

/// An update replaces the settings; names stay unique; unknown ids are `NotFound`.
pub async fn schedule_update_and_delete(store: Store) {
    let o = org(&store, "ACME").await;
    let sched = injection_schedule(&store, o.id).await;
    let mut other = store.schedule(sched.id).await.unwrap().unwrap();
    assert_eq!(other, sched);
    let new = crate::NewSchedule {
        interface_id: sched.interface_id,
        name: sched.name.clone(),
        function: sched.function,
        launch_mode: crate::LaunchMode::Automatic,
        frequency_secs: Some(300),
        starts_at: None,
        ends_at: None,
        batch_size: 77,
        params: serde_json::json!({"simulation": true}),
    };
    let updated = store.update_schedule(sched.id, new.clone()).await.unwrap();
    other = store.schedule_by_name(&sched.name).await.unwrap().unwrap();
    assert_eq!(updated, other);
    assert_eq!(
        (updated.batch_size, updated.frequency_secs, &updated.params),
        (77, Some(300), &new.params)
    );
    let second = store
        .create_schedule(crate::NewSchedule {
            name: "second".into(),
            ..new.clone()
        })
        .await
        .unwrap();
    conflict(
        store
            .update_schedule(
                second.id,
                crate::NewSchedule {
                    name: sched.name.clone(),
                    ..new.clone()
                },
            )
            .await,
        "a rename onto an existing name",
    );
    assert!(matches!(
        store.update_schedule(second.id + 1000, new.clone()).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .update_schedule(
                sched.id,
                crate::NewSchedule {
                    batch_size: 0,
                    ..new
                }
            )
            .await,
        Err(StoreError::Invalid(_))
    ));
    store
        .delete_schedule(second.id, at("2026-05-01T12:00:00Z"))
        .await
        .unwrap();
    assert_eq!(store.schedules(sched.interface_id).await.unwrap().len(), 1);
}

/// Two handles on one database (two processes) start the same schedule at once, many
/// times: exactly one start wins each round, the other is refused naming it.
pub async fn starts_never_overlap(a: Store, b: Store) {
    let o = org(&a, "ACME").await;
    let sched = injection_schedule(&a, o.id).await;
    let mut t = at("2026-05-01T12:00:00Z");
    for round in 0..20 {
        let (ra, rb) = tokio::join!(
            a.start_execution(start_by(sched.id, t, "a", Duration::minutes(1))),
            b.start_execution(start_by(sched.id, t, "b", Duration::minutes(1))),
        );
        let (won, lost) = match (ra, rb) {
            (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
            other => panic!("round {round}: expected one start and one refusal, got {other:?}"),
        };
        let msg = conflict::<()>(Err(lost), "the losing start");
        assert!(
            msg.contains(&format!("#{}", won.id)) || msg.contains("another execution"),
            "{msg}"
        );
        let running: Vec<_> = a
            .executions(sched.id, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.ended_at.is_none())
            .collect();
        assert_eq!(running.len(), 1, "round {round}: {running:?}");
        t += Duration::seconds(1);
        let finisher = if round % 2 == 0 { &a } else { &b };
        finisher
            .finish_execution(won.id, t, Outcome::Ok, Counts::default(), None)
            .await
            .unwrap();
    }
}
