//! Privileges injection end to end (DOMAIN.md §5.5): membership and season cards of
//! ticketing become wallet privileges, through the real wallet service on a loopback
//! port, on both ticketing backends.

mod common;
use common::*;

use tixbridge_client::WalletClient;
use tixbridge_core::operation::{Operation, TicketRef};
use tixbridge_core::privilege::PrivilegeRecord;
use tixbridge_interface::setup::{
    PrivilegesScheduleInput, PushCancelledScheduleInput, create_privileges_schedule,
    create_push_cancelled_schedule,
};
use tixbridge_store::{ImportSeason, OperationRequest};

/// A card of `product` (a season card of season S26, or a membership card).
fn card(id: i64, product: &str, kind: ProductKind, linked: Vec<i64>) -> ImportRow {
    let season = (kind == ProductKind::SeasonCard).then(|| ImportSeason {
        code: "S26".into(),
        name: "Season 2026".into(),
        start: Utc.with_ymd_and_hms(2026, 8, 1, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2027, 5, 31, 0, 0, 0).unwrap(),
    });
    ImportRow {
        season,
        product: ImportProduct {
            code: product.into(),
            kind,
            family: None,
            name: LocalizedText::new("en", format!("{product} card")),
            comfort: ComfortVariables::default(),
        },
        performance: None,
        site: None,
        validity_end: Some(Utc.with_ymd_and_hms(2027, 5, 31, 0, 0, 0).unwrap()),
        linked_ticket_ids: linked,
        ..row(id, "", Some(&format!("fan{id}@example.org")))
    }
}

fn client(wallet: &Wallet) -> WalletClient {
    wallet.client()
}

async fn privilege(wallet: &Wallet, id: i64) -> PrivilegeRecord {
    client(wallet)
        .privilege(&id.to_string())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("privilege {id} is not in the wallet"))
}

fn privileges_schedule(name: &str, simulation: bool) -> PrivilegesScheduleInput {
    PrivilegesScheduleInput {
        interface: "tixngo".into(),
        name: name.into(),
        batch_size: 1000,
        point_of_sales: "WEB;CARDS".into(),
        simulation,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_become_privileges_with_one_definition_per_product() {
    each_backend(|store, dir| async move {
        // Deletions are confirmed at the sweeper's next round.
        let settings = tixbridge_core::lifecycle::Settings {
            deletion_delay: chrono::Duration::zero(),
            ..Default::default()
        };
        let mut wallet = Wallet::start_with(dir.path(), settings).await;
        let mut rows: Vec<ImportRow> = (1..=3)
            .map(|i| row(i, "P1", Some("a@example.org")))
            .collect();
        rows.push(card(11, "SEASON", ProductKind::SeasonCard, vec![1, 2]));
        rows.push(card(12, "SEASON", ProductKind::SeasonCard, vec![]));
        rows.push(card(13, "MEMBER", ProductKind::MembershipCard, vec![]));
        let org = seed(&*store, rows).await;
        configure_on(&*store, org, &wallet, "").await;
        for (name, simulation) in [("cards-dry", true), ("cards", false)] {
            create_privileges_schedule(&*store, privileges_schedule(name, simulation))
                .await
                .unwrap();
        }

        // Injection takes the tickets, never the cards.
        let r = run_schedule(store.clone(), "inj", fast()).await.unwrap();
        assert_eq!((r.counts.selected, r.counts.succeeded), (3, 3));

        // A dry run builds the three cards and changes nothing.
        let r = run_schedule(store.clone(), "cards-dry", fast())
            .await
            .unwrap();
        assert_eq!((r.counts.selected, r.counts.failed), (3, 0), "{r:?}");
        assert!(r.first_errors.is_empty(), "{r:?}");
        let previews = store.execution_errors(r.execution_id).await.unwrap();
        let lines: Vec<&str> = previews.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            lines,
            [
                "would inject privilege 11 (SEASON_CARD SEASON) for fan11@example.org",
                "would inject privilege 12 (SEASON_CARD SEASON) for fan12@example.org",
                "would inject privilege 13 (MEMBERSHIP MEMBER) for fan13@example.org",
            ]
        );
        assert!(previews.iter().all(|e| e.code == "WOULD_SEND"));
        assert_eq!(status(&*store, 11).await, TicketingStatus::NotPrinted);
        assert!(client(&wallet).privilege("11").await.unwrap().is_none());

        let r = run_schedule(store.clone(), "cards", fast()).await.unwrap();
        assert_eq!((r.counts.selected, r.counts.succeeded), (3, 3), "{r:?}");
        assert_eq!(r.outcome, Outcome::Ok);
        for id in [11, 12, 13] {
            assert_eq!(status(&*store, id).await, TicketingStatus::Printed);
            let p = store.projection(id).await.unwrap().unwrap();
            assert_eq!(p.wallet_status, WalletStatus::Injected);
            assert_eq!(
                p.owner.and_then(|o| o.email),
                Some(format!("fan{id}@example.org"))
            );
        }
        let p = privilege(&wallet, 11).await;
        assert_eq!(p.status, "INJECTED");
        assert_eq!(p.privilege.linked_ticket_ids, ["1", "2"]);
        let def = p.privilege.definition.unwrap();
        assert_eq!(def.id.as_deref(), Some("SEASON"));
        assert_eq!(def.kind.as_deref(), Some("SEASON_CARD"));
        assert_eq!(def.valid_from.as_deref(), Some("2026-08-01T00:00:00Z"));
        let m = privilege(&wallet, 13).await.privilege.definition.unwrap();
        assert_eq!(
            (m.id.as_deref(), m.kind.as_deref()),
            (Some("MEMBER"), Some("MEMBERSHIP"))
        );

        // Nothing again: the cards are processed, the definitions recorded.
        let r = run_schedule(store.clone(), "cards", fast()).await.unwrap();
        assert_eq!(r.counts.selected, 0);

        // The product is renamed: one card carries the new definition, once.
        let mut renamed = card(12, "SEASON", ProductKind::SeasonCard, vec![]);
        renamed.product.name = LocalizedText::new("en", "Season ticket 2026");
        let mut s = store.begin_correction(org, Utc::now()).await.unwrap();
        s.add(vec![renamed]).await.unwrap();
        s.commit().await.unwrap();
        let r = run_schedule(store.clone(), "cards", fast()).await.unwrap();
        assert_eq!((r.counts.selected, r.counts.succeeded), (1, 1), "{r:?}");
        let name = privilege(&wallet, 12)
            .await
            .privilege
            .definition
            .unwrap()
            .name;
        assert_eq!(
            serde_json::to_value(name).unwrap(),
            serde_json::json!("Season ticket 2026"),
            "every card of the product shows the new definition"
        );
        let r = run_schedule(store.clone(), "cards", fast()).await.unwrap();
        assert_eq!(r.counts.selected, 0, "the definition is sent once");

        // A cancelled card leaves the wallet through Push Cancelled.
        store
            .apply_operation(OperationRequest {
                organization_id: org,
                operation: Operation::Cancel,
                tickets: vec![TicketRef::Id(13)],
                cause: Cause::parse("refund").unwrap(),
                operator: "test".into(),
                at: Utc::now(),
            })
            .await
            .unwrap();
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
        let r = run_schedule(store.clone(), "pc", fast()).await.unwrap();
        assert_eq!((r.counts.selected, r.counts.succeeded), (1, 1), "{r:?}");
        let p = privilege(&wallet, 13).await;
        assert!(
            p.status == "DELETION_PENDING" || p.status == "DELETED",
            "{}",
            p.status
        );
        assert_eq!(p.deletion.unwrap().reason, "REFUND");
        assert_eq!(
            store.projection(13).await.unwrap().unwrap().wallet_status,
            WalletStatus::DeletionPending
        );

        // Cards come back through Feedback too (the feed's privileges): the deletion
        // once the wallet confirmed it, with the card's whole status log.
        let confirmed = std::time::Instant::now();
        while privilege(&wallet, 13).await.status != "DELETED" {
            assert!(confirmed.elapsed().as_secs() < 15, "never confirmed");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        tixbridge_interface::setup::create_feedback_schedule(
            &*store,
            tixbridge_interface::setup::FeedbackScheduleInput {
                interface: "tixngo".into(),
                name: "fb".into(),
                batch_size: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let r = run_schedule(store.clone(), "fb", fast()).await.unwrap();
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        let p = store.projection(13).await.unwrap().unwrap();
        assert_eq!(p.wallet_status, WalletStatus::Deleted);
        assert_eq!(p.deletion.unwrap().reason, "REFUND");
        let actions: Vec<String> = store
            .mobile_history(13)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions.first().map(String::as_str),
            Some("PRIVILEGE_INJECT"),
            "{actions:?}"
        );
        assert_eq!(
            actions.last().map(String::as_str),
            Some("PRIVILEGE_CONFIRM_DELETION"),
            "{actions:?}"
        );
        assert!(
            actions.iter().any(|a| a == "PRIVILEGE_DELETE"),
            "{actions:?}"
        );
        // A card still in the wallet: injected.
        assert!(!store.mobile_history(12).await.unwrap().is_empty());
        wallet.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_product_filter_force_and_skip_lists_and_filters_that_do_not_apply() {
    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let rows = vec![
            card(21, "SEASON", ProductKind::SeasonCard, vec![]),
            card(22, "SEASON", ProductKind::SeasonCard, vec![]),
            card(23, "MEMBER", ProductKind::MembershipCard, vec![]),
        ];
        let org = seed(&*store, rows).await;
        configure_on(&*store, org, &wallet, "").await;
        let refused = create_privileges_schedule(
            &*store,
            PrivilegesScheduleInput {
                filters: InjectionFilters {
                    performance: Some("P1".into()),
                    ..Default::default()
                },
                ..privileges_schedule("bad", false)
            },
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(refused.contains("performance filter"), "{refused}");

        create_privileges_schedule(
            &*store,
            PrivilegesScheduleInput {
                filters: InjectionFilters {
                    product: Some("SEASON".into()),
                    ..Default::default()
                },
                skip: "id:22".into(),
                ..privileges_schedule("season", false)
            },
        )
        .await
        .unwrap();
        let r = run_schedule(store.clone(), "season", fast()).await.unwrap();
        assert_eq!(
            (r.counts.selected, r.counts.succeeded, r.counts.skipped),
            (2, 1, 1),
            "{r:?}"
        );
        assert_eq!(status(&*store, 21).await, TicketingStatus::Printed);
        assert_eq!(status(&*store, 22).await, TicketingStatus::NotPrinted);
        assert_eq!(status(&*store, 23).await, TicketingStatus::NotPrinted);

        create_privileges_schedule(
            &*store,
            PrivilegesScheduleInput {
                force: "id:21".into(),
                ..privileges_schedule("again", false)
            },
        )
        .await
        .unwrap();
        let r = run_schedule(store.clone(), "again", fast()).await.unwrap();
        assert_eq!((r.counts.selected, r.counts.succeeded), (1, 1), "{r:?}");
        assert_eq!(privilege(&wallet, 21).await.status, "INJECTED");
        wallet.stop().await;
    })
    .await;
}
