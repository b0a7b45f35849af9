//! Resale and cause corrections reaching the wallet through Push Cancelled and
//! injection (DOMAIN.md §2, §5.3), through the real wallet service, on both ticketing
//! backends.

mod common;
use common::*;

use tixbridge_core::operation::{Operation, TicketRef};
use tixbridge_interface::setup::{PushCancelledScheduleInput, create_push_cancelled_schedule};
use tixbridge_store::{OperationRequest, ReprintRequest};

/// What the wallet shows of a deleted ticket: its reason and visibility flag.
async fn deletion(wallet: &Wallet, id: i64) -> (String, bool) {
    let t = wallet
        .store
        .ticket(wallet.organizer, &id.to_string())
        .await
        .unwrap()
        .expect("in the wallet");
    let d = t.state.deletion.expect("a deletion");
    (d.reason, d.show_deleted_ticket)
}

async fn operate(store: &dyn TicketingStore, org: i64, op: Operation, ticket: &str, cause: &str) {
    store
        .apply_operation(OperationRequest {
            organization_id: org,
            operation: op,
            tickets: vec![TicketRef::parse(ticket).unwrap()],
            cause: Cause::parse(cause).unwrap(),
            operator: "test".into(),
            at: Utc::now(),
        })
        .await
        .unwrap();
}

/// The resale sequence `RESALE_PENDING` → `RESOLD` with `excludeTicketResale` false
/// (the wallet keeps the first resale cause) and true (every step is pushed as a new
/// reason), with the seed's visibility override; the buyer's new ticket reaches the
/// buyer; a corrected cause (`REFUND` → `THEFT`) is pushed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resale_steps_and_corrected_causes_reach_the_wallet() {
    for exclude in [false, true] {
        each_backend(|store, dir| async move {
            let mut wallet = Wallet::start(dir.path()).await;
            let rows = (1..=3)
                .map(|i| row(i, "P1", Some(&format!("fan{i}@example.org"))))
                .collect();
            let org = seed(&*store, rows).await;
            let params = format!(
                "excludeTicketResale={exclude}\n\
                 overrideVisibilityFlagForInvalidationReasons=RESALE_PENDING, RESOLD"
            );
            configure_on(&*store, org, &wallet, &params).await;
            create_push_cancelled_schedule(
                &*store,
                PushCancelledScheduleInput {
                    interface: "tixngo".into(),
                    name: "pc".into(),
                    batch_size: 1000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            let run = |name: &'static str| {
                let store = store.clone();
                async move { run_schedule(store, name, fast()).await.unwrap() }
            };
            assert_eq!(run("inj").await.counts.succeeded, 3);

            operate(&*store, org, Operation::ResalePost, "TX1", "RESALE_PENDING").await;
            assert_eq!(run("pc").await.counts.succeeded, 1);
            assert_eq!(deletion(&wallet, 1).await, ("RESALE_PENDING".into(), true));

            let sold = store
                .reprint(ReprintRequest {
                    organization_id: org,
                    operation: Operation::ResaleSold,
                    ticket: TicketRef::parse("TX1").unwrap(),
                    buyer: Some("C2".into()),
                    cause: Cause::parse("RESOLD").unwrap(),
                    operator: "resale".into(),
                    at: Utc::now(),
                    new_ticket_id: None,
                    new_tax_number: None,
                    new_barcode: None,
                })
                .await
                .unwrap();
            let r = run("pc").await;
            if exclude {
                assert_eq!(r.counts.succeeded, 1, "every resale step is pushed");
                assert_eq!(deletion(&wallet, 1).await, ("RESOLD".into(), true));
            } else {
                assert_eq!(r.counts.selected, 0, "the first resale cause stays");
                assert_eq!(deletion(&wallet, 1).await, ("RESALE_PENDING".into(), true));
            }
            // The buyer's ticket goes to the buyer, not to the seller (the last owner).
            assert_eq!(run("inj").await.counts.succeeded, 1);
            let new = sold.new_ticket.id.to_string();
            let record = wallet
                .store
                .ticket(wallet.organizer, &new)
                .await
                .unwrap()
                .unwrap();
            let recipient = record.ticket.spectator_details.unwrap().email;
            assert_eq!(recipient.as_deref(), Some("fan2@example.org"));

            // A corrected cause is pushed again, with its own visibility.
            operate(&*store, org, Operation::Cancel, "TX3", "REFUND").await;
            assert_eq!(run("pc").await.counts.succeeded, 1);
            assert_eq!(deletion(&wallet, 3).await, ("REFUND".into(), false));
            operate(&*store, org, Operation::Cancel, "TX3", "THEFT").await;
            assert_eq!(run("pc").await.counts.succeeded, 1);
            assert_eq!(deletion(&wallet, 3).await, ("THEFT".into(), false));
            assert_eq!(run("pc").await.counts.selected, 0);
            wallet.stop().await;
        })
        .await;
    }
}
