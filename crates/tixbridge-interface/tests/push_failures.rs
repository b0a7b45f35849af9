//! Push Cancelled when things go wrong (issue 8, "Bad input"): the wallet down (nothing
//! marked, the next run succeeds), a ticket the wallet does not know (an error naming
//! it, the others marked, never marked itself), and Date from — through the real
//! wallet service, on both ticketing backends.

mod common;
use common::*;

use tixbridge_core::operation::{Operation, TicketRef};
use tixbridge_interface::setup::{PushCancelledScheduleInput, create_push_cancelled_schedule};
use tixbridge_store::{InjectedMark, MarkedBy, OperationRequest};

fn push_cancelled(
    name: &str,
    date_from: Option<chrono::DateTime<Utc>>,
) -> PushCancelledScheduleInput {
    PushCancelledScheduleInput {
        interface: "tixngo".into(),
        name: name.into(),
        batch_size: 1000,
        date_from,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_down_unknown_ticket_and_date_from() {
    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let rows = (1..=3)
            .map(|i| row(i, "P1", Some("a@example.org")))
            .collect();
        let org = seed(&*store, rows).await;
        configure(&*store, org, &wallet.url, &wallet.key, "", sched("inj", 2)).await;
        assert_eq!(succeeded(&store, "inj").await, 2);
        // Ticketing believes ticket 3 injected; the wallet never saw it.
        let inj = store.schedule_by_name("inj").await.unwrap().unwrap();
        let mark = InjectedMark {
            ticket_id: 3,
            recipient: Person::default(),
        };
        store
            .mark_injected(
                MarkedBy::schedule(inj.id),
                "WEB;WALLET",
                Utc::now(),
                vec![mark],
            )
            .await
            .unwrap();
        store
            .apply_operation(OperationRequest {
                organization_id: org,
                operation: Operation::Cancel,
                tickets: (1..=3).map(TicketRef::Id).collect(),
                cause: Cause::parse("REFUND").unwrap(),
                operator: "test".into(),
                at: Utc::now(),
            })
            .await
            .unwrap();
        create_push_cancelled_schedule(&*store, push_cancelled("pc", None))
            .await
            .unwrap();
        let pushed = |id: i64| {
            let store = store.clone();
            async move {
                store
                    .processed_at(id, FunctionKind::PushCancelled)
                    .await
                    .unwrap()
                    .is_some()
            }
        };

        // The wallet is down: an error, nothing marked.
        let addr = wallet
            .url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        wallet.stop().await;
        let r = run_schedule(store.clone(), "pc", fast()).await.unwrap();
        assert_eq!(
            (r.outcome, r.counts.succeeded),
            (Outcome::Error, 0),
            "{r:?}"
        );
        for id in 1..=3 {
            assert!(
                !pushed(id).await,
                "ticket {id} marked while the wallet was down"
            );
        }

        // Back: 1 and 2 deleted and marked; 3 is an error naming it, never marked.
        wallet.serve(tokio::net::TcpListener::bind(&addr).await.unwrap());
        let r = run_schedule(store.clone(), "pc", fast()).await.unwrap();
        assert_eq!(r.outcome, Outcome::Error, "{r:?}");
        assert_eq!((r.counts.succeeded, r.counts.failed), (2, 1), "{r:?}");
        let e = &r.first_errors[0];
        assert_eq!(
            (e.ticket_id, e.code.as_str()),
            (Some(3), "TICKET_NOT_FOUND"),
            "{e:?}"
        );
        assert!(pushed(1).await && pushed(2).await && !pushed(3).await);
        // The next run tries ticket 3 again, and only it.
        let r = run_schedule(store.clone(), "pc", fast()).await.unwrap();
        assert_eq!((r.counts.selected, r.counts.failed), (1, 1), "{r:?}");

        // Date from: what was pushed at or after it is pushed again.
        let since = Utc::now() - chrono::Duration::hours(1);
        create_push_cancelled_schedule(&*store, push_cancelled("pc-again", Some(since)))
            .await
            .unwrap();
        let r = run_schedule(store.clone(), "pc-again", fast())
            .await
            .unwrap();
        assert_eq!((r.counts.selected, r.counts.succeeded), (3, 2), "{r:?}");
        let later = Utc::now() + chrono::Duration::hours(1);
        create_push_cancelled_schedule(&*store, push_cancelled("pc-later", Some(later)))
            .await
            .unwrap();
        let r = run_schedule(store.clone(), "pc-later", fast())
            .await
            .unwrap();
        assert_eq!(
            r.counts.selected, 1,
            "only the never-pushed ticket 3: {r:?}"
        );
        wallet.stop().await;
    })
    .await;
}
