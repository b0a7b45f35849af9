//! Conformance checks of a [`WalletStore`]. Every check creates its own organizers (with
//! random keys), so the checks can share one store and run in any order.
//!
//! Two rules need a ticket in a state the trait cannot reach yet (downloaded,
//! deleted); [`check_states_set_outside_the_trait`] takes a backend-specific
//! function that sets a ticket's status directly.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

use tixbridge_core::api::{
    Address, Event, EventStatistics, PurchaseDetails, Security, SpectatorDetails, Ticket,
};
use tixbridge_core::hash::{ChainedFields, GENESIS_HASH, entry_hash};
use tixbridge_core::status::WalletStatus;

use tixbridge_core::lifecycle::{Action, Caller, Op, Settings};

use crate::{Actor, Organizer, StoreError, TicketQuery, WalletStore};

/// Sets a ticket's status directly in the backend: `(organizer_id, ticket_id, status)`.
pub type SetStatus = Arc<dyn Fn(i64, String, WalletStatus) -> BoxFuture<'static, ()> + Send + Sync>;

/// Runs every check that needs nothing but the trait.
pub async fn run_all(store: Arc<dyn WalletStore>) {
    check_organizers(store.clone()).await;
    check_new_tickets(store.clone()).await;
    check_idempotent_reinjection(store.clone()).await;
    check_update(store.clone()).await;
    check_repeated_ids_in_one_call(store.clone()).await;
    check_events_overwritten(store.clone()).await;
    check_isolation(store.clone()).await;
    check_queries(store.clone()).await;
    check_statistics(store.clone()).await;
    check_hash_chain(store.clone()).await;
    check_concurrent_calls_keep_one_chain(store.clone()).await;
    check_unknown_organizer(store.clone()).await;
    check_key_rotation(store.clone()).await;
    check_barcodes_belong_to_one_ticket(store.clone()).await;
    check_concurrent_calls_never_share_a_barcode(store.clone()).await;
    check_emails_compare_without_case(store.clone()).await;
    check_ping(store).await;
}

/// A complete ticket of event `event` for `email`.
pub fn sample_ticket(id: &str, event: &str, email: &str) -> Ticket {
    Ticket {
        ticket_id: Some(id.into()),
        event: Some(Event {
            id: Some(event.into()),
            name: Some("Final".into()),
            start_time: Some("2026-07-12T21:00:00+02:00".into()),
            expiration_date: Some("2026-07-13T21:00:00+02:00".into()),
            address: Some(Address {
                site: Some("Stade".into()),
                city: Some("Paris".into()),
                zip: Some("75000".into()),
                country_code: Some("FR".into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        purchase_details: Some(PurchaseDetails {
            taxation_number: Some(format!("TAX-{id}")),
            file_id: Some("F1".into()),
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
        ..Default::default()
    }
}

fn at(sec: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, sec)
        .single()
        .expect("valid time")
}

async fn new_organizer(store: &Arc<dyn WalletStore>, name: &str) -> Organizer {
    let key: [u8; 32] = rand::random();
    store
        .create_organizer(name, &hex::encode(Sha256::digest(key)))
        .await
        .expect("create organizer")
}

async fn log_len(store: &Arc<dyn WalletStore>, org: i64) -> usize {
    store.status_log(org, 0, 100_000).await.expect("log").len()
}

/// Recomputes the organizer's whole chain from `status_log`.
pub async fn assert_chain_valid(store: &Arc<dyn WalletStore>, org: i64) -> usize {
    let log = store.status_log(org, 0, 1_000_000).await.expect("log");
    let mut prev = GENESIS_HASH.to_owned();
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1, "seqs run from 1 without gaps");
        assert_eq!(
            e.prev_hash, prev,
            "entry {} links to the previous hash",
            e.seq
        );
        let fields = ChainedFields {
            seq: e.seq,
            at: &e.at,
            ticket_id: &e.ticket_id,
            action: &e.action,
            from_status: e.from_status.as_deref(),
            to_status: &e.to_status,
            from_owner: e.from_owner.as_deref(),
            to_owner: e.to_owner.as_deref(),
            actor: &e.actor,
            detail: e.detail.as_deref(),
        };
        assert_eq!(
            entry_hash(&prev, &fields),
            e.hash,
            "hash of entry {}",
            e.seq
        );
        prev.clone_from(&e.hash);
    }
    log.len()
}

pub async fn check_organizers(store: Arc<dyn WalletStore>) {
    let key = hex::encode(rand::random::<[u8; 32]>());
    let org = store
        .create_organizer("Club A", &key)
        .await
        .expect("create");
    assert_eq!(org.name, "Club A");
    let found = store.organizer_by_key(&key).await.expect("lookup");
    assert_eq!(found.as_ref(), Some(&org), "found by its key hash");
    let unknown = hex::encode(rand::random::<[u8; 32]>());
    assert_eq!(
        store.organizer_by_key(&unknown).await.expect("lookup"),
        None
    );
    match store.create_organizer("Club B", &key).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a reused key hash must be a conflict, got {other:?}"),
    }
    let other = new_organizer(&store, "Club C").await;
    assert_ne!(other.id, org.id);
}

pub async fn check_new_tickets(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "new").await.id;
    let t1 = sample_ticket("T1", "E1", "a@example.org");
    let t2 = sample_ticket("T2", "E1", "b@example.org");
    let res = store
        .inject(org, vec![t1.clone(), t2], Actor::OrganizerApi, at(0))
        .await
        .expect("inject");
    assert_eq!(res.len(), 2);
    assert!(res.iter().all(|r| r.is_ok()));
    assert_eq!(res[0].ticket_id, "T1");
    assert_eq!(res[1].ticket_id, "T2");
    assert!(res.iter().all(|r| r.status.as_deref() == Some("INJECTED")));

    let rec = store.ticket(org, "T1").await.expect("read").expect("T1");
    assert_eq!(rec.ticket, t1, "the injected data is kept as sent");
    let s = &rec.state;
    assert_eq!(s.ticket_id, "T1");
    assert_eq!(s.event_id, "E1");
    assert_eq!(s.taxation_number.as_deref(), Some("TAX-T1"));
    assert_eq!(s.status, "INJECTED");
    assert_eq!(s.owner, t1.spectator_details);
    assert_eq!(s.initial_owner, t1.spectator_details);
    assert_eq!(s.previous_owner, None);
    assert_eq!(s.holder, None);
    assert_eq!(s.transfer_level, 0);
    assert_eq!(s.deletion, None);
    assert_eq!(s.status_changed_at, "2026-11-27T10:00:00.000Z");
    assert_eq!(s.history.len(), 1);
    let e = &s.history[0];
    assert_eq!(e.action, "INJECT");
    assert_eq!(e.actor, "ORGANIZER_API");
    assert_eq!(e.from_status, None);
    assert_eq!(e.to_status, "INJECTED");
    assert_eq!(e.from_owner, None);
    assert_eq!(e.to_owner.as_deref(), Some("a@example.org"));
    assert_eq!(e.at, "2026-11-27T10:00:00.000Z");

    let back_office = store
        .inject(
            org,
            vec![sample_ticket("T3", "E1", "c@example.org")],
            Actor::BackOffice,
            at(1),
        )
        .await
        .expect("inject");
    assert!(back_office[0].is_ok());
    let h = store.ticket(org, "T3").await.expect("read").expect("T3");
    assert_eq!(
        h.state.history[0].actor, "BACK_OFFICE",
        "the actor is recorded"
    );
    assert_eq!(store.ticket(org, "nope").await.expect("read"), None);
}

pub async fn check_idempotent_reinjection(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "idem").await.id;
    let batch: Vec<Ticket> = (0..5)
        .map(|i| sample_ticket(&format!("I{i}"), "E1", "a@example.org"))
        .collect();
    store
        .inject(org, batch.clone(), Actor::OrganizerApi, at(0))
        .await
        .expect("inject");
    let before = store.ticket(org, "I0").await.expect("read");
    let log = log_len(&store, org).await;
    let again = store
        .inject(org, batch, Actor::OrganizerApi, at(5))
        .await
        .expect("re-inject");
    assert!(again.iter().all(|r| r.is_ok()));
    assert!(
        again
            .iter()
            .all(|r| r.status.as_deref() == Some("INJECTED"))
    );
    assert_eq!(log_len(&store, org).await, log, "no log entry for a retry");
    assert_eq!(
        store.ticket(org, "I0").await.expect("read"),
        before,
        "nothing changes"
    );
}

pub async fn check_update(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "update").await.id;
    let t = sample_ticket("U1", "E1", "a@example.org");
    store
        .inject(org, vec![t.clone()], Actor::OrganizerApi, at(0))
        .await
        .expect("inject");

    // A new barcode and a corrected recipient, before any download.
    let mut changed = t.clone();
    changed.security = Some(Security {
        barcode: Some("NEW".into()),
    });
    changed.spectator_details = Some(SpectatorDetails {
        email: Some("b@example.org".into()),
        ..Default::default()
    });
    let res = store
        .inject(org, vec![changed.clone()], Actor::OrganizerApi, at(1))
        .await
        .expect("update");
    assert!(res[0].is_ok());
    assert_eq!(res[0].status.as_deref(), Some("INJECTED"));
    let rec = store.ticket(org, "U1").await.expect("read").expect("U1");
    assert_eq!(rec.ticket, changed);
    assert_eq!(rec.state.status, "INJECTED");
    assert_eq!(rec.state.owner, changed.spectator_details, "owner follows");
    assert_eq!(
        rec.state.initial_owner, t.spectator_details,
        "the initial owner never changes"
    );
    assert_eq!(
        rec.state.status_changed_at, "2026-11-27T10:00:00.000Z",
        "an update does not change the status"
    );
    assert_eq!(rec.state.history.len(), 2);
    let e = &rec.state.history[1];
    assert_eq!(e.action, "UPDATE");
    assert_eq!(e.from_status.as_deref(), Some("INJECTED"));
    assert_eq!(e.to_status, "INJECTED");
    assert_eq!(e.from_owner.as_deref(), Some("a@example.org"));
    assert_eq!(e.to_owner.as_deref(), Some("b@example.org"));
    assert_eq!(e.at, "2026-11-27T10:00:01.000Z");

    // The barcode search follows the update.
    let q = TicketQuery {
        q: Some("NEW".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(store.tickets(org, &q).await.expect("list").total, 1);
    let q = TicketQuery {
        q: Some("BC-U1".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(store.tickets(org, &q).await.expect("list").total, 0);
    assert_chain_valid(&store, org).await;
}

pub async fn check_repeated_ids_in_one_call(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "repeat").await.id;
    let t = sample_ticket("R1", "E1", "a@example.org");
    let mut changed = t.clone();
    changed.sorting_key = Some("z".into());
    let res = store
        .inject(
            org,
            vec![t.clone(), t, changed.clone()],
            Actor::OrganizerApi,
            at(0),
        )
        .await
        .expect("inject");
    assert!(res.iter().all(|r| r.is_ok()));
    let rec = store.ticket(org, "R1").await.expect("read").expect("R1");
    assert_eq!(rec.ticket, changed, "the last occurrence wins");
    let actions: Vec<_> = rec
        .state
        .history
        .iter()
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(actions, ["INJECT", "UPDATE"]);
    assert_chain_valid(&store, org).await;
}

pub async fn check_events_overwritten(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "events").await.id;
    store
        .inject(
            org,
            vec![
                sample_ticket("V1", "E1", "a@example.org"),
                sample_ticket("V2", "E2", "a@example.org"),
            ],
            Actor::OrganizerApi,
            at(0),
        )
        .await
        .expect("inject");
    let evs = store.events(org).await.expect("events");
    assert_eq!(
        evs.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["E1", "E2"]
    );
    assert_eq!(evs[0].name, Some("Final".into()));
    assert_eq!(
        evs[0].address.as_ref().and_then(|a| a.zip.as_deref()),
        Some("75000")
    );

    let mut t = sample_ticket("V3", "E1", "a@example.org");
    let ev = t.event.as_mut().expect("event");
    ev.name = Some("Grand Final".into());
    ev.metadata
        .insert("RESALE_TICKETSHOP_URL".into(), "https://x.example".into());
    store
        .inject(org, vec![t], Actor::OrganizerApi, at(1))
        .await
        .expect("inject");
    let evs = store.events(org).await.expect("events");
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0].id, "E1");
    assert_eq!(evs[0].name, Some("Grand Final".into()), "latest fields win");
    assert_eq!(
        evs[0]
            .metadata
            .get("RESALE_TICKETSHOP_URL")
            .map(String::as_str),
        Some("https://x.example")
    );
    assert_eq!(evs[1].name, Some("Final".into()));
}

pub async fn check_isolation(store: Arc<dyn WalletStore>) {
    let a = new_organizer(&store, "A").await.id;
    let b = new_organizer(&store, "B").await.id;
    store
        .inject(
            a,
            vec![sample_ticket("S1", "E1", "a@example.org")],
            Actor::OrganizerApi,
            at(0),
        )
        .await
        .expect("inject");
    assert_eq!(store.ticket(b, "S1").await.expect("read"), None);
    let all = TicketQuery {
        limit: 100,
        ..Default::default()
    };
    let list = store.tickets(b, &all).await.expect("list");
    assert_eq!((list.total, list.tickets.len()), (0, 0));
    let by_id = TicketQuery {
        q: Some("S1".into()),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(store.tickets(b, &by_id).await.expect("list").total, 0);
    assert!(store.events(b).await.expect("events").is_empty());
    assert_eq!(store.event_statistics(b, "E1").await.expect("stats"), None);
    assert!(store.status_log(b, 0, 100).await.expect("log").is_empty());
    assert!(store.count_by_status(b).await.expect("counts").is_empty());

    // The same ids under B are B's own ticket and B's own chain.
    let mut other = sample_ticket("S1", "E1", "z@example.org");
    other.event.as_mut().expect("event").name = Some("Other".into());
    let res = store
        .inject(b, vec![other], Actor::OrganizerApi, at(1))
        .await
        .expect("inject");
    assert_eq!(res[0].status.as_deref(), Some("INJECTED"));
    let log = store.status_log(b, 0, 100).await.expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].seq, log[0].action.as_str()), (1, "INJECT"));
    assert_eq!(log[0].prev_hash, GENESIS_HASH);
    let a_rec = store.ticket(a, "S1").await.expect("read").expect("S1");
    assert_eq!(
        a_rec.state.owner.and_then(|p| p.email).as_deref(),
        Some("a@example.org")
    );
    assert_eq!(a_rec.state.history.len(), 1);
    assert_eq!(
        store.events(a).await.expect("events")[0].name,
        Some("Final".into())
    );
    assert_chain_valid(&store, a).await;
    assert_chain_valid(&store, b).await;
}

pub async fn check_queries(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "queries").await.id;
    let mut batch = Vec::new();
    for i in 0..6 {
        let event = if i < 4 { "E1" } else { "E2" };
        batch.push(sample_ticket(
            &format!("Q{i}"),
            event,
            &format!("q{i}@example.org"),
        ));
    }
    store
        .inject(org, batch, Actor::OrganizerApi, at(0))
        .await
        .expect("inject");
    let ids = |l: &tixbridge_core::api::TicketList| {
        l.tickets
            .iter()
            .map(|t| t.ticket_id.clone())
            .collect::<Vec<_>>()
    };

    let all = store
        .tickets(
            org,
            &TicketQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(all.total, 6);
    assert_eq!(ids(&all), ["Q0", "Q1", "Q2", "Q3", "Q4", "Q5"]);
    assert_eq!(
        all.tickets[0].owner,
        Some(SpectatorDetails {
            email: Some("q0@example.org".into()),
            first_name: Some("Ada".into()),
            ..Default::default()
        })
    );

    let page = store
        .tickets(
            org,
            &TicketQuery {
                limit: 2,
                offset: 2,
                ..Default::default()
            },
        )
        .await
        .expect("page");
    assert_eq!(page.total, 6, "total ignores limit and offset");
    assert_eq!(ids(&page), ["Q2", "Q3"]);

    let e2 = store
        .tickets(
            org,
            &TicketQuery {
                event_id: Some("E2".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("event");
    assert_eq!((e2.total, ids(&e2)), (2, vec!["Q4".into(), "Q5".into()]));

    let injected = TicketQuery {
        status: Some(WalletStatus::Injected),
        event_id: Some("E1".into()),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        store.tickets(org, &injected).await.expect("status").total,
        4
    );
    let downloaded = TicketQuery {
        status: Some(WalletStatus::Downloaded),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        store.tickets(org, &downloaded).await.expect("status").total,
        0
    );

    for (q, expect) in [
        ("Q3", "Q3"),
        ("TAX-Q1", "Q1"),
        ("BC-Q5", "Q5"),
        ("q2@example.org", "Q2"),
    ] {
        let l = store
            .tickets(
                org,
                &TicketQuery {
                    q: Some(q.into()),
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .expect("search");
        assert_eq!(ids(&l), [expect], "q={q}");
    }
    let none = store
        .tickets(
            org,
            &TicketQuery {
                q: Some("Q".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("search");
    assert_eq!(none.total, 0, "q matches exactly, not by prefix");

    let counts = store.count_by_status(org).await.expect("counts");
    assert_eq!(counts, vec![(WalletStatus::Injected, 6)]);
}

pub async fn check_statistics(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "stats").await.id;
    store
        .inject(
            org,
            vec![
                sample_ticket("X1", "E1", "a@example.org"),
                sample_ticket("X2", "E1", "a@example.org"),
                sample_ticket("X3", "E2", "a@example.org"),
            ],
            Actor::OrganizerApi,
            at(0),
        )
        .await
        .expect("inject");
    let s = store
        .event_statistics(org, "E1")
        .await
        .expect("stats")
        .expect("E1 exists");
    assert_eq!(
        s,
        EventStatistics {
            total: 2,
            valid: 2,
            never_downloaded: 2,
            ..Default::default()
        }
    );
    assert_eq!(
        store.event_statistics(org, "E9").await.expect("stats"),
        None
    );
}

pub async fn check_hash_chain(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "chain").await.id;
    for call in 0..3u32 {
        let batch: Vec<Ticket> = (0..50)
            .map(|i| sample_ticket(&format!("H{call}-{i}"), "E1", "a@example.org"))
            .collect();
        let res = store
            .inject(org, batch, Actor::OrganizerApi, at(call))
            .await
            .expect("inject");
        assert!(res.iter().all(|r| r.is_ok()));
    }
    let mut t = sample_ticket("H0-0", "E1", "a@example.org");
    t.sorting_key = Some("changed".into());
    store
        .inject(org, vec![t], Actor::OrganizerApi, at(9))
        .await
        .expect("update");
    assert_eq!(assert_chain_valid(&store, org).await, 151);

    let page = store.status_log(org, 148, 2).await.expect("page");
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [149, 150],
        "after_seq and limit"
    );
    let last = store.status_log(org, 150, 10).await.expect("tail");
    assert_eq!(last.len(), 1);
    assert_eq!(
        (last[0].ticket_id.as_str(), last[0].action.as_str()),
        ("H0-0", "UPDATE")
    );
}

pub async fn check_concurrent_calls_keep_one_chain(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "concurrent").await.id;
    let mut tasks = Vec::new();
    for call in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let batch: Vec<Ticket> = (0..10)
                .map(|i| sample_ticket(&format!("C{call}-{i}"), "E1", "a@example.org"))
                .collect();
            store
                .inject(org, batch, Actor::OrganizerApi, at(call))
                .await
        }));
    }
    for t in tasks {
        let res = t.await.expect("task").expect("inject");
        assert!(res.iter().all(|r| r.is_ok()));
    }
    assert_eq!(assert_chain_valid(&store, org).await, 80);
    let log = store.status_log(org, 0, 1000).await.expect("log");
    let distinct: HashSet<_> = log.iter().map(|e| e.ticket_id.as_str()).collect();
    assert_eq!(distinct.len(), 80);
}

pub async fn check_unknown_organizer(store: Arc<dyn WalletStore>) {
    let r = store
        .inject(
            i64::MAX - 7,
            vec![sample_ticket("N1", "E1", "a@example.org")],
            Actor::OrganizerApi,
            at(0),
        )
        .await;
    assert!(
        matches!(r, Err(StoreError::NotFound(_))),
        "injecting for an unknown organizer is refused, got {r:?}"
    );
}

pub async fn check_ping(store: Arc<dyn WalletStore>) {
    store.ping().await.expect("ping");
}

/// Rules that need a ticket downloaded or deleted, a state the trait cannot set yet.
pub async fn check_states_set_outside_the_trait(store: Arc<dyn WalletStore>, set: SetStatus) {
    let org = new_organizer(&store, "states").await.id;
    let t = sample_ticket("D1", "E1", "a@example.org");
    let gone = sample_ticket("D2", "E1", "a@example.org");
    let pending = sample_ticket("D3", "E1", "a@example.org");
    store
        .inject(
            org,
            vec![t.clone(), gone.clone(), pending.clone()],
            Actor::OrganizerApi,
            at(0),
        )
        .await
        .expect("inject");
    set(org, "D1".into(), WalletStatus::Downloaded).await;
    set(org, "D2".into(), WalletStatus::Deleted).await;
    set(org, "D3".into(), WalletStatus::DeletionPending).await;

    // A downloaded ticket: re-injection answers its status; an update keeps the owner.
    let res = store
        .inject(org, vec![t.clone()], Actor::OrganizerApi, at(1))
        .await
        .expect("retry");
    assert_eq!(res[0].status.as_deref(), Some("DOWNLOADED"));
    let mut changed = t.clone();
    changed.spectator_details = Some(SpectatorDetails {
        email: Some("b@example.org".into()),
        ..Default::default()
    });
    let res = store
        .inject(org, vec![changed.clone()], Actor::OrganizerApi, at(2))
        .await
        .expect("update");
    assert_eq!(res[0].status.as_deref(), Some("DOWNLOADED"));
    let rec = store.ticket(org, "D1").await.expect("read").expect("D1");
    assert_eq!(rec.ticket, changed, "everything else is updated");
    assert_eq!(rec.state.status, "DOWNLOADED");
    assert_eq!(rec.state.owner, t.spectator_details, "the owner stays");
    let e = rec.state.history.last().expect("entry");
    assert_eq!(e.action, "UPDATE");
    assert_eq!(e.from_status.as_deref(), Some("DOWNLOADED"));
    assert_eq!(e.to_status, "DOWNLOADED");
    assert_eq!(e.to_owner.as_deref(), Some("a@example.org"));

    // Deleted ids are spent, identical content or not; nothing is written.
    let log = log_len(&store, org).await;
    let mut other = pending.clone();
    other.sorting_key = Some("new".into());
    let res = store
        .inject(
            org,
            vec![gone, other, sample_ticket("D4", "E1", "a@example.org")],
            Actor::OrganizerApi,
            at(3),
        )
        .await
        .expect("inject");
    for r in &res[..2] {
        assert!(!r.is_ok());
        assert_eq!(r.error_code.as_deref(), Some("TICKET_DELETED"));
    }
    assert!(res[2].is_ok(), "other tickets of the call still go in");
    assert_eq!(log_len(&store, org).await, log + 1);
    let rec = store.ticket(org, "D3").await.expect("read").expect("D3");
    assert_eq!(rec.ticket, pending);

    let s = store
        .event_statistics(org, "E1")
        .await
        .expect("stats")
        .expect("E1");
    assert_eq!(
        s,
        EventStatistics {
            total: 4,
            valid: 2,
            deleted: 2,
            never_downloaded: 1,
            downloaded: 1,
            pending_transfer: 0,
            controlled: 0,
        }
    );
    let mut counts = store.count_by_status(org).await.expect("counts");
    counts.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(
        counts,
        vec![
            (WalletStatus::Deleted, 1),
            (WalletStatus::DeletionPending, 1),
            (WalletStatus::Downloaded, 1),
            (WalletStatus::Injected, 1),
        ]
    );
    assert_chain_valid(&store, org).await;
}

/// A rotated key stops matching at once; the new one finds the same organizer; an
/// unknown organizer or a key hash another organizer holds is refused.
pub async fn check_key_rotation(store: Arc<dyn WalletStore>) {
    let old = hex::encode(rand::random::<[u8; 32]>());
    let org = store.create_organizer("rotating", &old).await.expect("org");
    let new = hex::encode(rand::random::<[u8; 32]>());
    let rotated = store.rotate_key(org.id, &new).await.expect("rotate");
    assert_eq!(
        rotated, org,
        "same organizer, same id, name and creation time"
    );
    assert_eq!(store.organizer_by_key(&old).await.expect("old"), None);
    assert_eq!(
        store.organizer_by_key(&new).await.expect("new"),
        Some(org.clone())
    );
    let r = store.rotate_key(i64::MAX - 3, &old).await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    let other = new_organizer(&store, "other").await;
    let r = store.rotate_key(other.id, &new).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
}

fn with_barcode(id: &str, barcode: &str) -> Ticket {
    let mut t = sample_ticket(id, "E1", "a@example.org");
    t.security = Some(Security {
        barcode: Some(barcode.into()),
    });
    t
}

fn codes(res: &[tixbridge_core::api::ItemResult]) -> Vec<&str> {
    res.iter()
        .map(|r| r.error_code.as_deref().unwrap_or("OK"))
        .collect()
}

/// Two tickets of one organizer never share a barcode: inside one call, against a
/// live ticket, against a deleted one, against a barcode a re-injection replaced.
/// Another organizer may use the same barcode.
pub async fn check_barcodes_belong_to_one_ticket(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "barcodes").await.id;
    let res = store
        .inject(
            org,
            vec![with_barcode("B1", "X1"), with_barcode("B2", "X1")],
            Actor::OrganizerApi,
            at(0),
        )
        .await
        .expect("inject");
    assert_eq!(codes(&res), ["OK", "DUPLICATE_BARCODE"]);
    let msg = res[1].message.as_deref().unwrap_or_default();
    assert!(msg.contains("B1"), "the KO names the holder: {msg}");
    assert!(store.ticket(org, "B2").await.expect("read").is_none());

    // B1 moves to X2: X1 stays B1's; B1 may come back to X1.
    let res = store
        .inject(
            org,
            vec![with_barcode("B1", "X2")],
            Actor::OrganizerApi,
            at(1),
        )
        .await
        .expect("re-barcode");
    assert_eq!(codes(&res), ["OK"]);
    let res = store
        .inject(
            org,
            vec![with_barcode("B3", "X1"), with_barcode("B4", "X2")],
            Actor::OrganizerApi,
            at(2),
        )
        .await
        .expect("inject");
    assert_eq!(codes(&res), ["DUPLICATE_BARCODE", "DUPLICATE_BARCODE"]);
    let res = store
        .inject(
            org,
            vec![with_barcode("B1", "X1")],
            Actor::OrganizerApi,
            at(3),
        )
        .await
        .expect("back");
    assert_eq!(codes(&res), ["OK"]);

    // A deleted ticket's barcode never comes back under a new id.
    store
        .inject(
            org,
            vec![with_barcode("B5", "X5")],
            Actor::OrganizerApi,
            at(4),
        )
        .await
        .expect("inject");
    let del = store
        .apply(
            org,
            vec![Op {
                ticket_id: "B5".into(),
                caller: Caller::Organizer,
                action: Action::Delete {
                    reason: "cancelled".into(),
                    show_deleted_ticket: false,
                },
            }],
            at(5),
            Settings::default(),
        )
        .await
        .expect("delete");
    assert!(del[0].is_ok(), "{del:?}");
    let res = store
        .inject(
            org,
            vec![with_barcode("B6", "X5")],
            Actor::OrganizerApi,
            at(6),
        )
        .await
        .expect("inject");
    assert_eq!(codes(&res), ["DUPLICATE_BARCODE"]);
    assert!(res[0].message.as_deref().unwrap_or_default().contains("B5"));

    // Refusals write nothing: the chain holds B1 (3 entries: inject, 2 updates) and B5.
    assert_eq!(assert_chain_valid(&store, org).await, 5);
    let other = new_organizer(&store, "barcodes elsewhere").await.id;
    let res = store
        .inject(
            other,
            vec![with_barcode("B2", "X1")],
            Actor::OrganizerApi,
            at(7),
        )
        .await
        .expect("other organizer");
    assert_eq!(codes(&res), ["OK"]);
}

/// Concurrent calls (across the store's connections) carrying one barcode under
/// different ticket ids: exactly one ticket gets it, whatever the interleaving.
pub async fn check_concurrent_calls_never_share_a_barcode(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "barcode race").await.id;
    let mut tasks = Vec::new();
    for call in 0..8u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let t = with_barcode(&format!("R{call}"), "SHARED");
            store
                .inject(org, vec![t], Actor::OrganizerApi, at(call))
                .await
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(res) if res[0].is_ok() => accepted += 1,
            Ok(res) => assert_eq!(codes(&res), ["DUPLICATE_BARCODE"]),
            // The registry's unique key stopped a race the check missed.
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("inject: {e}"),
        }
    }
    assert_eq!(accepted, 1, "one ticket holds the barcode");
    let found = store
        .tickets(
            org,
            &TicketQuery {
                q: Some("SHARED".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("search");
    assert_eq!(found.total, 1);
}

/// Emails are stored as given and compared without regard to case: the search `q`
/// finds an owner in any case, an app session in another case sees and downloads the
/// ticket, and the track record keeps the owner as stored (a download is no owner
/// change).
pub async fn check_emails_compare_without_case(store: Arc<dyn WalletStore>) {
    let org = new_organizer(&store, "emails").await.id;
    let typed = "Lea.Martin@Example.ORG";
    store
        .inject(
            org,
            vec![sample_ticket("M1", "E1", typed)],
            Actor::OrganizerApi,
            at(0),
        )
        .await
        .expect("inject");
    for q in [typed, "lea.martin@example.org", " LEA.MARTIN@EXAMPLE.ORG "] {
        let l = store
            .tickets(
                org,
                &TicketQuery {
                    q: Some(q.trim().into()),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .expect("search");
        assert_eq!(l.total, 1, "q={q}");
    }
    let mine = store
        .app_tickets(org, "lea.martin@example.org")
        .await
        .expect("app");
    assert_eq!(mine.tickets.len(), 1);
    let done = store
        .apply(
            org,
            vec![Op {
                ticket_id: "M1".into(),
                caller: Caller::Spectator("lea.martin@EXAMPLE.org".into()),
                action: Action::Download,
            }],
            at(1),
            Settings::default(),
        )
        .await
        .expect("download");
    let state = done[0].as_ref().expect("downloaded");
    assert_eq!(state.status, "DOWNLOADED");
    let e = state.history.last().expect("entry");
    assert_eq!(e.action, "DOWNLOAD");
    assert_eq!(e.from_owner.as_deref(), Some(typed), "owner as stored");
    assert_eq!(e.to_owner.as_deref(), Some(typed), "no owner change");
    let rec = store.ticket(org, "M1").await.expect("read").expect("M1");
    assert_eq!(
        rec.state.owner.and_then(|o| o.email).as_deref(),
        Some(typed)
    );
    assert!(store.verify(org).await.expect("verify").valid);
}
