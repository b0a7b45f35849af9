//! Reconciliation end to end (issue 9): each class of difference made on purpose
//! between ticketing and the real wallet service, found, and repaired by `--fix`, on
//! both ticketing backends.

mod common;
use common::*;

use tixbridge_client::WalletClient;
use tixbridge_core::operation::{Operation, TicketRef};
use tixbridge_interface::reconcile::{
    Mismatch, ReconcileOptions, Reconciliation, reconcile, reconcile_and_fix,
};
use tixbridge_interface::setup::{PushCancelledScheduleInput, create_push_cancelled_schedule};
use tixbridge_store::{GateScan, InjectedMark, MarkedBy, OperationRequest};

fn client(wallet: &Wallet) -> WalletClient {
    wallet.client()
}

/// Ticket `id` injected straight into the wallet with this barcode, behind
/// ticketing's back.
async fn inject_behind(wallet: &Wallet, id: &str, barcode: &str) {
    let t: tixbridge_core::api::Ticket = serde_json::from_value(serde_json::json!({
        "ticketId": id,
        "event": {"id": "P1", "name": "Match", "startTime": "2030-06-14T19:00:00Z",
                  "expirationDate": "2030-06-15T19:00:00Z",
                  "address": {"site": "Stadium", "city": "Paris", "zip": "75000",
                              "countryCode": "FR"}},
        "purchaseDetails": {"taxationNumber": format!("TX{id}")},
        "security": {"barcode": barcode},
        "spectatorDetails": {"email": format!("fan{id}@example.org")}
    }))
    .unwrap();
    let r = client(wallet).inject(&[t]).await.unwrap();
    assert!(r[0].is_ok(), "{r:?}");
}

/// Each class with its ticket ids, the empty ones left out.
fn found(r: &Reconciliation) -> Vec<(Mismatch, Vec<String>)> {
    r.classes
        .iter()
        .filter(|c| c.count > 0)
        .map(|c| {
            assert_eq!(c.count, c.first.len() as u64, "{c:?}");
            (c.class, c.first.clone())
        })
        .collect()
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_class_is_found_and_fix_clears_what_the_functions_repair() {
    each_backend(|store, dir| async move {
        // Deletions are confirmed an hour later: the states compared do not move.
        let settings = tixbridge_core::lifecycle::Settings {
            deletion_delay: chrono::Duration::hours(1),
            ..Default::default()
        };
        let mut wallet = Wallet::start_with(dir.path(), settings).await;
        let rows = (1..=12)
            .map(|i| match_to_come(i, &format!("fan{i}@example.org")))
            .collect();
        let org = seed(&*store, rows).await;
        configure(&*store, org, &wallet.url, &wallet.key, "", sched("inj", 9)).await;
        push_controlled_schedule(&*store, "pctl").await;
        let pc = PushCancelledScheduleInput {
            interface: "tixngo".into(),
            name: "pc".into(),
            batch_size: 1000,
            ..Default::default()
        };
        create_push_cancelled_schedule(&*store, pc).await.unwrap();
        feedback_schedule(&*store, "fb").await;
        // Tickets 1..=9 injected; 10 and 11 never; 12 printed by ticketing alone.
        assert_eq!(succeeded(&store, "inj").await, 9);
        assert_eq!(succeeded(&store, "fb").await, 9);
        let organization = store.organization(org).await.unwrap();
        let opts = ReconcileOptions {
            wallet_page: 3,
            ticketing_batch: 4,
            ..Default::default()
        };
        let r = reconcile(store.clone(), &organization, &opts)
            .await
            .unwrap();
        assert!(r.agrees(), "{:?}", found(&r));
        assert_eq!((r.ticketing_tickets, r.wallet_tickets), (12, 9));

        // Make one difference of each class.
        let inj = store.schedule_by_name("inj").await.unwrap().unwrap();
        let mark = InjectedMark {
            ticket_id: 12,
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
        inject_behind(&wallet, "10", "BC10").await;
        inject_behind(&wallet, "999", "X999").await;
        let cancel = OperationRequest {
            organization_id: org,
            operation: Operation::Cancel,
            tickets: vec![TicketRef::Id(2)],
            cause: Cause::parse("REFUND").unwrap(),
            operator: "test".into(),
            at: Utc::now(),
        };
        store.apply_operation(cancel).await.unwrap();
        let scan = GateScan {
            barcode: "BC3".into(),
            scanned_at: Utc::now(),
            performance: None,
        };
        store
            .record_scans(org, vec![scan], true, "gate")
            .await
            .unwrap();
        let friend = Person {
            email: Some("friend@example.org".into()),
            ..Person::default()
        };
        client(&wallet).transfer("4", &friend).await.unwrap();
        inject_behind(&wallet, "5", "OTHER5").await;
        let delete = tixbridge_core::api::DeleteTicket {
            ticket_id: "6".into(),
            reason: "FRAUD".into(),
            show_deleted_ticket: false,
        };
        client(&wallet).delete(&[delete]).await.unwrap();

        let r = reconcile(store.clone(), &organization, &opts)
            .await
            .unwrap();
        assert_eq!(
            found(&r),
            [
                (Mismatch::AbsentFromWallet, ids(&["12"])),
                (Mismatch::DeletedInWallet, ids(&["6"])),
                (Mismatch::NotPrintedInTicketing, ids(&["10", "999"])),
                (Mismatch::CancelledButLive, ids(&["2"])),
                (Mismatch::ControlledNotInWallet, ids(&["3"])),
                // 4 moved in the wallet, 6 was deleted there; 5 and 10 were injected
                // with another owner or content behind ticketing's back.
                (Mismatch::ProjectionBehind, ids(&["10", "4", "5", "6"])),
                (Mismatch::ContentDiffers, ids(&["5"])),
            ]
        );
        assert_eq!((r.ticketing_tickets, r.wallet_tickets), (12, 11));

        // --fix: every class repaired but the ticket ticketing does not know and the
        // one the wallet deleted (an operator reprints it).
        let (before, lines, after) = reconcile_and_fix(store.clone(), &organization, &opts, fast())
            .await
            .unwrap();
        assert_eq!(found(&before), found(&r));
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(
            lines[0].starts_with("Tickets injection (schedule inj")
                && lines[0].contains("3 tickets as the file to upload"),
            "{lines:?}"
        );
        assert!(lines[3].starts_with("Retrieve ticket status"), "{lines:?}");
        assert_eq!(
            found(&after),
            [
                (Mismatch::DeletedInWallet, ids(&["6"])),
                (Mismatch::NotPrintedInTicketing, ids(&["999"]))
            ],
            "{lines:?}"
        );
        assert_eq!(status(&*store, 10).await, TicketingStatus::Printed);
        wallet.stop().await;
    })
    .await;
}
