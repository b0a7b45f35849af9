//! The injection function end to end: a real wallet service on a loopback port, real
//! stores (SQLite always; PostgreSQL for the ticketing side when `TIXBRIDGE_TEST_PG` is
//! set, mandatory under `CI=true`).

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injects_prints_and_marks_with_a_partial_failure() {
    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let mut rows: Vec<ImportRow> = (1..=120)
            .map(|i| row(i, "P1", Some("a@example.org")))
            .collect();
        // Two tickets the wallet refuses: no email.
        rows[10].contact.email = None;
        rows[77].contact.email = None;
        let org = seed(&*store, rows).await;
        // Sent as they are, so the wallet itself answers KO for those two.
        configure_on(
            &*store,
            org,
            &wallet,
            "enforceMandatoryParameters=false\nticketIterationSize=20",
        )
        .await;
        let r = run_schedule(store.clone(), "inj", fast()).await.unwrap();
        assert_eq!(r.outcome, Outcome::Error);
        assert_eq!(r.counts.selected, 120);
        assert_eq!(r.counts.sent, 120);
        assert_eq!(r.counts.succeeded, 118);
        assert_eq!(r.counts.failed, 2);
        let msgs: Vec<_> = r.first_errors.iter().map(|e| e.message.clone()).collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("ticket 11") && m.contains("spectatorDetails.email")),
            "{msgs:?}"
        );
        assert!(msgs.iter().any(|m| m.contains("ticket 78")), "{msgs:?}");
        assert_eq!(status(&*store, 1).await, TicketingStatus::Printed);
        assert_eq!(status(&*store, 11).await, TicketingStatus::NotPrinted);
        assert_eq!(wallet.status_of(1).await.as_deref(), Some("INJECTED"));
        assert_eq!(wallet.status_of(11).await, None);
        let t1 = store.ticket(1).await.unwrap().unwrap();
        assert_eq!(t1.printed_by.as_deref(), Some("WEB;WALLET"));
        assert!(
            store
                .processed_at(1, FunctionKind::Injection)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .processed_at(11, FunctionKind::Injection)
                .await
                .unwrap()
                .is_none()
        );
        let p = store.projection(1).await.unwrap().unwrap();
        assert_eq!(p.wallet_status, WalletStatus::Injected);
        // The execution is recorded with its errors.
        let e = store.execution(r.execution_id).await.unwrap().unwrap();
        assert_eq!(e.outcome, Some(Outcome::Error));
        assert_eq!(
            store.execution_errors(r.execution_id).await.unwrap().len(),
            2
        );
        // The next run only retries the two failures.
        let r2 = run_schedule(store.clone(), "inj", fast()).await.unwrap();
        assert_eq!(r2.counts.selected, 2);
        assert_eq!(r2.counts.failed, 2);
        wallet.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforcement_refuses_before_calling_the_wallet() {
    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let mut rows: Vec<ImportRow> = (1..=5)
            .map(|i| row(i, "P1", Some("a@example.org")))
            .collect();
        rows[2].contact.email = None;
        let org = seed(&*store, rows).await;
        configure(
            &*store,
            org,
            &wallet.url,
            &wallet.key,
            "",
            sched("inj", 100),
        )
        .await;
        let r = run_schedule(store.clone(), "inj", fast()).await.unwrap();
        assert_eq!(r.outcome, Outcome::Error);
        assert_eq!(
            (r.counts.sent, r.counts.succeeded, r.counts.failed),
            (4, 4, 1)
        );
        assert_eq!(r.first_errors[0].code, "MISSING_FIELD");
        assert!(
            r.first_errors[0].message.contains("ticket 3"),
            "{:?}",
            r.first_errors
        );
        assert!(
            r.first_errors[0]
                .message
                .contains("spectatorDetails.email is required")
        );
        wallet.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_down_marks_nothing_and_the_next_run_succeeds() {
    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let org = seed(
            &*store,
            (1..=30)
                .map(|i| row(i, "P1", Some("a@example.org")))
                .collect(),
        )
        .await;
        configure(
            &*store,
            org,
            &wallet.url,
            &wallet.key,
            "",
            sched("inj", 100),
        )
        .await;
        let addr = wallet
            .url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        wallet.stop().await;
        let r = run_schedule(store.clone(), "inj", fast()).await.unwrap();
        assert_eq!(r.outcome, Outcome::Error);
        assert_eq!(r.counts.succeeded, 0);
        assert!(
            r.message
                .as_deref()
                .unwrap_or("")
                .contains("could not be reached"),
            "{:?}",
            r.message
        );
        assert_eq!(r.first_errors[0].code, "WALLET_UNREACHABLE");
        for id in 1..=30 {
            assert_eq!(status(&*store, id).await, TicketingStatus::NotPrinted);
        }
        // The wallet comes back on the same address.
        let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
        wallet.serve(listener);
        let r = run_schedule(store.clone(), "inj", fast()).await.unwrap();
        assert_eq!(r.outcome, Outcome::Ok, "{:?}", r.first_errors);
        assert_eq!(r.counts.succeeded, 30);
        assert_eq!(status(&*store, 30).await, TicketingStatus::Printed);
        wallet.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_api_key_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = ticketing(dir.path(), false).await;
    let mut wallet = Wallet::start(dir.path()).await;
    let org = seed(
        &*store,
        (1..=3)
            .map(|i| row(i, "P1", Some("a@example.org")))
            .collect(),
    )
    .await;
    configure(
        &*store,
        org,
        &wallet.url,
        "tnk_wrong",
        "",
        sched("inj", 100),
    )
    .await;
    let r = run_schedule(store.clone(), "inj", fast()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Error);
    assert_eq!(r.first_errors[0].code, "WALLET_UNAUTHORIZED");
    assert!(!r.first_errors[0].message.contains("tnk_wrong"));
    assert_eq!(status(&*store, 1).await, TicketingStatus::NotPrinted);
    wallet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_batch_size_file_number_force_and_skip() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = ticketing(dir.path(), false).await;
    let mut wallet = Wallet::start(dir.path()).await;
    let mut rows: Vec<ImportRow> = (1..=40)
        .map(|i| row(i, if i <= 20 { "P1" } else { "P2" }, Some("a@example.org")))
        .collect();
    rows[25].category = Some("CAT2".into());
    let org = seed(&*store, rows).await;
    configure(
        &*store,
        org,
        &wallet.url,
        &wallet.key,
        "",
        InjectionScheduleInput {
            filters: InjectionFilters {
                performance: Some("P2".into()),
                category: Some("CAT1".into()),
                ..Default::default()
            },
            skip: "TX30, id:31".into(),
            ..sched("p2", 5)
        },
    )
    .await;
    // Batch of 5 in ticket id order, skipping 30 and 31, never 26 (CAT2).
    let r = run_schedule(store.clone(), "p2", fast()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Ok, "{:?}", r.first_errors);
    assert_eq!(r.counts.succeeded, 5);
    for id in [21, 22, 23, 24, 25] {
        assert_eq!(
            status(&*store, id).await,
            TicketingStatus::Printed,
            "ticket {id}"
        );
    }
    assert_eq!(status(&*store, 26).await, TicketingStatus::NotPrinted);
    let r = run_schedule(store.clone(), "p2", fast()).await.unwrap();
    assert_eq!(r.counts.skipped, 2);
    for id in [27, 28, 29, 32, 33] {
        assert_eq!(
            status(&*store, id).await,
            TicketingStatus::Printed,
            "ticket {id}"
        );
    }
    assert_eq!(status(&*store, 30).await, TicketingStatus::NotPrinted);
    assert_eq!(status(&*store, 31).await, TicketingStatus::NotPrinted);

    // A file number ignores every other filter.
    create_injection_schedule(
        &*store,
        InjectionScheduleInput {
            interface: "tixngo".into(),
            point_of_sales: "BOX;B1".into(),
            filters: InjectionFilters {
                performance: Some("P2".into()),
                file_number: Some("F0".into()),
                ..Default::default()
            },
            ..sched("file", 100)
        },
    )
    .await
    .unwrap();
    let r = run_schedule(store.clone(), "file", fast()).await.unwrap();
    assert_eq!(r.counts.succeeded, 9); // tickets 1..=9 are file F0
    assert_eq!(
        store
            .ticket(9)
            .await
            .unwrap()
            .unwrap()
            .printed_by
            .as_deref(),
        Some("BOX;B1")
    );
    assert_eq!(status(&*store, 10).await, TicketingStatus::NotPrinted);

    // A force list resends printed tickets.
    create_injection_schedule(
        &*store,
        InjectionScheduleInput {
            interface: "tixngo".into(),
            point_of_sales: "WEB;WALLET".into(),
            force: "id:1, TX2".into(),
            barcode_prefix: "X-".into(),
            ..sched("force", 100)
        },
    )
    .await
    .unwrap();
    let r = run_schedule(store.clone(), "force", fast()).await.unwrap();
    assert_eq!((r.counts.selected, r.counts.succeeded), (2, 2));
    let rec = wallet
        .store
        .ticket(wallet.organizer, "1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rec.ticket.security.unwrap().barcode.as_deref(),
        Some("X-BC1")
    );
    // Resending a ticket that Feedback saw transferred keeps the projection's owner.
    store
        .put_projection(MobileProjection {
            ticket_id: 1,
            wallet_status: WalletStatus::Transferred,
            owner: Some(Person {
                email: Some("b@example.org".into()),
                ..Default::default()
            }),
            holder: None,
            transfer_level: 1,
            updated_at: Utc::now(),
            status_changed_at: None,
            initial_owner: None,
            previous_owner: None,
            deletion: None,
        })
        .await
        .unwrap();
    let r = run_schedule(store.clone(), "force", fast()).await.unwrap();
    assert_eq!(r.counts.succeeded, 2);
    let p = store.projection(1).await.unwrap().unwrap();
    assert_eq!(p.wallet_status, WalletStatus::Transferred);
    assert_eq!(p.owner.unwrap().email.as_deref(), Some("b@example.org"));
    assert_eq!(p.transfer_level, 1);
    wallet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulation_sends_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = ticketing(dir.path(), false).await;
    let mut wallet = Wallet::start(dir.path()).await;
    let mut rows: Vec<ImportRow> = (1..=10)
        .map(|i| row(i, "P1", Some("a@example.org")))
        .collect();
    rows[4].contact.email = Some("not-an-email".into());
    let org = seed(&*store, rows).await;
    configure(
        &*store,
        org,
        &wallet.url,
        &wallet.key,
        "enforceMandatoryParameters=false",
        InjectionScheduleInput {
            simulation: true,
            ..sched("sim", 100)
        },
    )
    .await;
    let r = run_schedule(store.clone(), "sim", fast()).await.unwrap();
    assert_eq!(r.counts.sent, 0);
    assert_eq!(r.counts.failed, 1);
    assert!(r.message.unwrap().contains("9 tickets would be sent"));
    assert!(r.first_errors[0].message.contains("spectatorDetails.email"));
    for id in 1..=10 {
        assert_eq!(status(&*store, id).await, TicketingStatus::NotPrinted);
        assert_eq!(wallet.status_of(id).await, None);
    }
    wallet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandatory_holder_fields_and_kill_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = ticketing(dir.path(), false).await;
    let mut wallet = Wallet::start(dir.path()).await;
    let mut rows: Vec<ImportRow> = (1..=100).map(|i| row(i, "P1", None)).collect();
    for r in rows.iter_mut().take(4) {
        r.holder.first_name = Some("Zoe".into());
        r.contact.email = Some("z@example.org".into());
    }
    let org = seed(&*store, rows).await;
    configure(
        &*store,
        org,
        &wallet.url,
        &wallet.key,
        "killRatio=0.5\nenforceMandatoryParameters=false\nticketIterationSize=10",
        InjectionScheduleInput {
            mandatory_holder_fields: "FIRSTNAME".into(),
            ..sched("holder", 1000)
        },
    )
    .await;
    let r = run_schedule(store.clone(), "holder", fast()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Warning, "{:?}", r.message);
    assert_eq!((r.counts.succeeded, r.counts.skipped), (4, 96));

    // Everything fails (no email): killRatio stops the run long before the end.
    create_injection_schedule(
        &*store,
        InjectionScheduleInput {
            interface: "tixngo".into(),
            point_of_sales: "WEB;WALLET".into(),
            ..sched("all", 1000)
        },
    )
    .await
    .unwrap();
    let mut o = fast();
    o.in_flight = 1;
    let r = run_schedule(store.clone(), "all", o).await.unwrap();
    assert_eq!(r.outcome, Outcome::Error);
    assert!(r.counts.sent < 96, "{:?}", r.counts);
    assert!(r.message.unwrap().contains("killRatio"));
    wallet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reprints_go_to_the_last_owner_unless_the_cause_resets() {
    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let mut rows = vec![
            row(1, "P1", Some("a@example.org")),
            row(2, "P1", Some("a@example.org")),
            row(3, "P1", Some("a@example.org")),
            row(4, "P1", Some("a@example.org")),
        ];
        // 1 and 2 were injected then reprinted: 3 replaces 1 (THEFT), 4 replaces 2 (REPRINT).
        rows[0].status = TicketingStatus::Invalidated;
        rows[0].cause = Cause::parse("Theft");
        rows[1].status = TicketingStatus::Invalidated;
        rows[1].cause = Cause::parse("reprint");
        rows[2].replaces_ticket_id = Some(1);
        rows[3].replaces_ticket_id = Some(2);
        let org = seed(&*store, rows).await;
        // Feedback would have learnt that A transferred both to B.
        for id in [1, 2] {
            store
                .put_projection(MobileProjection {
                    ticket_id: id,
                    wallet_status: WalletStatus::Transferred,
                    owner: Some(Person {
                        email: Some("b@example.org".into()),
                        first_name: Some("Bob".into()),
                        ..Default::default()
                    }),
                    holder: None,
                    transfer_level: 1,
                    updated_at: Utc::now(),
                    status_changed_at: None,
                    initial_owner: None,
                    previous_owner: None,
                    deletion: None,
                })
                .await
                .unwrap();
        }
        configure(
            &*store,
            org,
            &wallet.url,
            &wallet.key,
            "resetInjectionInvalidationReasons=THEFT",
            sched("inj", 100),
        )
        .await;
        let r = run_schedule(store.clone(), "inj", fast()).await.unwrap();
        assert_eq!(r.counts.succeeded, 2, "{:?}", r.first_errors);
        let owner = |id: &'static str| {
            let w = wallet.store.clone();
            let o = wallet.organizer;
            async move {
                w.ticket(o, id)
                    .await
                    .unwrap()
                    .unwrap()
                    .state
                    .owner
                    .unwrap()
                    .email
                    .unwrap()
            }
        };
        assert_eq!(owner("3").await, "a@example.org");
        assert_eq!(owner("4").await, "b@example.org");
        assert_eq!(
            store
                .projection(4)
                .await
                .unwrap()
                .unwrap()
                .owner
                .unwrap()
                .email
                .as_deref(),
            Some("b@example.org")
        );
        wallet.stop().await;
    })
    .await;
}

/// A "wallet" that answers every request with `response` after `delay`.
async fn fake_wallet(response: &'static str, delay: std::time::Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 1 << 20];
                // Read the request head and body (whatever arrives first is enough).
                let _ = sock.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}/organizer/tickets")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_answering_garbage_or_too_late_marks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = ticketing(dir.path(), false).await;
    let org = seed(
        &*store,
        (1..=3)
            .map(|i| row(i, "P1", Some("a@example.org")))
            .collect(),
    )
    .await;
    let garbage = fake_wallet(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\nconnection: close\r\n\r\n<html>oops",
        std::time::Duration::ZERO,
    )
    .await;
    configure(&*store, org, &garbage, "k", "", sched("garbage", 100)).await;
    let r = run_schedule(store.clone(), "garbage", fast())
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Error);
    assert_eq!(
        r.first_errors[0].code, "WALLET_BAD_RESPONSE",
        "{:?}",
        r.first_errors
    );
    assert!(
        r.first_errors[0].message.contains("not understood"),
        "{:?}",
        r.first_errors
    );
    assert_eq!(status(&*store, 1).await, TicketingStatus::NotPrinted);

    // Another organization's interface, pointing at a wallet that never answers in time.
    let slow = fake_wallet(
        "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        std::time::Duration::from_secs(5),
    )
    .await;
    let org2 = store
        .ensure_organization("ORG2", "Org 2", "en")
        .await
        .unwrap()
        .id;
    create_interface(
        &*store,
        InterfaceInput {
            organization_id: org2,
            name: "slow".into(),
            kind: "TIXNGO".into(),
            url: slow,
            login: "admin".into(),
            api_key: SecretString::from("k".to_owned()),
            notification_emails: String::new(),
            custom_params: String::new(),
        },
    )
    .await
    .unwrap();
    let mut s = store.begin_import(org2).await.unwrap();
    s.add(
        (101..=102)
            .map(|i| row(i, "P9", Some("a@example.org")))
            .collect(),
    )
    .await
    .unwrap();
    s.commit().await.unwrap();
    create_injection_schedule(
        &*store,
        InjectionScheduleInput {
            interface: "slow".into(),
            point_of_sales: "WEB;WALLET".into(),
            ..sched("slow", 100)
        },
    )
    .await
    .unwrap();
    let mut o = fast();
    o.client.timeout = std::time::Duration::from_millis(300);
    let r = run_schedule(store.clone(), "slow", o).await.unwrap();
    assert_eq!(r.outcome, Outcome::Error);
    assert_eq!(
        r.first_errors[0].code, "WALLET_TIMEOUT",
        "{:?}",
        r.first_errors
    );
    assert_eq!(status(&*store, 101).await, TicketingStatus::NotPrinted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_ratio_counts_tickets_refused_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = ticketing(dir.path(), false).await;
    let mut wallet = Wallet::start(dir.path()).await;
    // No email anywhere: enforceMandatoryParameters refuses each ticket locally.
    let org = seed(&*store, (1..=200).map(|i| row(i, "P1", None)).collect()).await;
    configure(
        &*store,
        org,
        &wallet.url,
        &wallet.key,
        "killRatio=0.5",
        sched("kill", 1000),
    )
    .await;
    let r = run_schedule(store.clone(), "kill", fast()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Error);
    // Judged once a full call of fates is known (ticketIterationSize, 50), not before.
    assert_eq!(r.counts.failed, 50, "{:?}", r.counts);
    assert!(
        r.message
            .as_deref()
            .unwrap()
            .contains("killRatio=0.5 after 50 tickets: 50 failed"),
        "{:?}",
        r.message
    );
    assert_eq!(
        store.execution_errors(r.execution_id).await.unwrap().len() as u64,
        r.error_count
    );
    wallet.stop().await;
}

/// Issue 7 items 3 and 4, end to end: a CSV (`;`-separated) time without offset at a
/// Paris site reaches the wallet with the venue's offset, and a service with an
/// absolute `tix_start` and no other date expires `+1d` later at the same wall-clock
/// time across the October daylight-saving change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn venue_times_reach_the_wallet_with_the_venue_offset() {
    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let org = store.ensure_organization("ORG", "Org", "en").await.unwrap();
        let csv = dir.path().join("tickets.csv");
        std::fs::write(
            &csv,
            "ticket_id;tax_number;barcode;product_code;product_kind;product_name;\
performance_code;performance_name;performance_start;site_code;site_name;site_city;\
site_zip;site_country;site_time_zone;tix_start;tix_exp;contact_number;contact_email\n\
1;TX1;BC1;FINAL;MATCH;Final;M64;Final;2026-07-19 21:00;STADE;Stade;Paris;75000;FR;\
Europe/Paris;;;C1;a@example.org\n\
2;TX2;BC2;PARK;SERVICE;Parking;;;;STADE;Stade;Paris;75000;FR;;24/10/26 20:00;+1d;C2;\
b@example.org\n",
        )
        .unwrap();
        tixbridge_interface::import::import_tickets(&*store, org.id, "en", &csv, |_| {})
            .await
            .unwrap();
        configure(
            &*store,
            org.id,
            &wallet.url,
            &wallet.key,
            "",
            sched("inj", 100),
        )
        .await;
        let r = run_schedule(store.clone(), "inj", fast()).await.unwrap();
        assert_eq!(r.counts.succeeded, 2, "{:?}", r.first_errors);
        let event = |id: &'static str| {
            let store = wallet.store.clone();
            let organizer = wallet.organizer;
            async move {
                let rec = store.ticket(organizer, id).await.unwrap().unwrap();
                rec.ticket.event.unwrap()
            }
        };
        let m = event("1").await;
        assert_eq!(m.start_time.as_deref(), Some("2026-07-19T21:00:00+02:00"));
        let p = event("2").await;
        assert_eq!(p.start_time.as_deref(), Some("2026-10-24T20:00:00+02:00"));
        assert_eq!(
            p.expiration_date.as_deref(),
            Some("2026-10-25T20:00:00+01:00")
        );
        wallet.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refused_ticket_among_three_does_not_stop_a_run() {
    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let mut rows: Vec<ImportRow> = (1..=3)
            .map(|i| row(i, "P1", Some("a@example.org")))
            .collect();
        rows[0].contact.email = None;
        let org = seed(&*store, rows).await;
        configure(
            &*store,
            org,
            &wallet.url,
            &wallet.key,
            "killRatio=0.1",
            sched("three", 100),
        )
        .await;
        let r = run_schedule(store.clone(), "three", fast()).await.unwrap();
        assert_eq!((r.counts.succeeded, r.counts.failed), (2, 1), "{:?}", r);
        assert!(!r.message.unwrap_or_default().contains("killRatio"));
        assert_eq!(status(&*store, 3).await, TicketingStatus::Printed);
        wallet.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulation_reports_the_kill_decision_the_real_run_makes() {
    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        // 30 good tickets, then only tickets the wallet refuses (no email): with
        // killRatio=0.3 the share passes 0.3 at the 43rd ticket (13 failed of 43).
        let rows: Vec<ImportRow> = (1..=200)
            .map(|i| row(i, "P1", (i <= 30).then_some("a@example.org")))
            .collect();
        let org = seed(&*store, rows).await;
        // Sent as they are, so the real run learns the failures from the wallet, in
        // whatever order its answers come; the simulation refuses them at once.
        configure(
            &*store,
            org,
            &wallet.url,
            &wallet.key,
            "killRatio=0.3\nticketIterationSize=10\nenforceMandatoryParameters=false",
            InjectionScheduleInput {
                simulation: true,
                ..sched("sim", 1000)
            },
        )
        .await;
        create_injection_schedule(
            &*store,
            InjectionScheduleInput {
                interface: "tixngo".into(),
                point_of_sales: "WEB;WALLET".into(),
                ..sched("real", 1000)
            },
        )
        .await
        .unwrap();
        let sim = run_schedule(store.clone(), "sim", fast()).await.unwrap();
        let sim_msg = sim.message.unwrap();
        assert!(
            sim_msg.contains("would stop the run after 43 tickets (13 failed of the 43"),
            "{sim_msg}"
        );
        assert_eq!(
            wallet.status_of(1).await,
            None,
            "a simulation sends nothing"
        );
        let real = run_schedule(store.clone(), "real", fast()).await.unwrap();
        let real_msg = real.message.unwrap();
        assert!(
            real_msg.contains("killRatio=0.3 after 43 tickets: 13 failed of the 43"),
            "{real_msg}"
        );
        assert_eq!(real.counts.succeeded, 30);
        assert!(real.counts.sent < 200, "{:?}", real.counts);
        wallet.stop().await;
    })
    .await;
}

/// The ticketing URL of a fresh database on each backend (SQLite in `dir`, a fresh
/// PostgreSQL schema), for tests that open several handles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_midway_is_recovered_and_nothing_is_lost_or_doubled() {
    let dir = tempfile::tempdir().unwrap();
    for (url, schema) in ticketing_urls(dir.path()) {
        let mut wallet = Wallet::start(&dir.path().join(schema.as_deref().unwrap_or("w"))).await;
        let store = tixbridge_store::open_ticketing(&url).await.unwrap();
        let n = 400;
        let org = seed(
            &*store,
            (1..=n)
                .map(|i| row(i, "P1", Some("a@example.org")))
                .collect(),
        )
        .await;
        configure(
            &*store,
            org,
            &wallet.url,
            &wallet.key,
            "ticketIterationSize=10",
            sched("crash", 1000),
        )
        .await;
        let (u, name) = (url.clone(), "crash");
        tokio::task::spawn_blocking(move || run_and_die(u, name, 100))
            .await
            .unwrap();
        // A write the dead runtime had handed to the database settles.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let sched_id = store.schedule_by_name("crash").await.unwrap().unwrap().id;
        let died = store.executions(sched_id, 1).await.unwrap().remove(0);
        assert_eq!(died.ended_at, None, "{died:?}");
        assert!(died.lease_owner.is_some());
        let printed = |counts: Vec<(TicketingStatus, u64)>| {
            counts
                .into_iter()
                .find(|(s, _)| *s == TicketingStatus::Printed)
                .map_or(0, |(_, n)| n)
        };
        let marked = printed(store.count_by_status(org).await.unwrap());
        assert!(marked > 0 && marked < n as u64, "{marked} marked");
        // While its lease is live, the schedule refuses a second execution.
        let e = run_schedule(store.clone(), "crash", fast())
            .await
            .unwrap_err();
        assert!(e.to_string().contains(&format!("#{}", died.id)), "{e}");
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let r = run_schedule(store.clone(), "crash", fast()).await.unwrap();
        assert_eq!(r.outcome, Outcome::Ok, "{:?}", r.message);
        let died = store.execution(died.id).await.unwrap().unwrap();
        assert_eq!(died.outcome, Some(Outcome::Error));
        assert!(died.message.as_deref().unwrap().starts_with("interrupted"));
        assert_eq!(died.counts.succeeded, marked, "{died:?}");
        // Nothing lost: every ticket printed, once in the wallet; nothing doubled: the
        // resent ones were accepted as unchanged repeats, one log entry per ticket.
        assert_eq!(printed(store.count_by_status(org).await.unwrap()), n as u64);
        assert_eq!(r.counts.succeeded, n as u64 - marked, "{:?}", r.counts);
        let in_wallet: u64 = wallet
            .store
            .count_by_status(wallet.organizer)
            .await
            .unwrap()
            .iter()
            .map(|(_, c)| c)
            .sum();
        assert_eq!(in_wallet, n as u64);
        let head = wallet.store.chain_head(wallet.organizer).await.unwrap();
        assert_eq!(head.seq, n, "one status-log entry per ticket");
        wallet.stop().await;
        drop(store);
        drop_schema(schema).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_restart_of_a_few_seconds_does_not_fail_the_execution() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = ticketing(dir.path(), false).await;
    let mut wallet = Wallet::start(dir.path()).await;
    let org = seed(
        &*store,
        (1..=300)
            .map(|i| row(i, "P1", Some("a@example.org")))
            .collect(),
    )
    .await;
    configure_on(&*store, org, &wallet, "").await;
    let addr = wallet
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    // The wallet stops; it is back on the same port 3 s later, while the execution
    // runs with the default client options.
    wallet.stop().await;
    let restarted = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
        wallet.serve(listener);
        wallet
    });
    let started = std::time::Instant::now();
    let r = run_schedule(store.clone(), "inj", RunOptions::default())
        .await
        .unwrap();
    let mut wallet = restarted.await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_secs(3));
    assert_eq!(
        r.outcome,
        Outcome::Ok,
        "{:?} {:?}",
        r.message,
        r.first_errors
    );
    assert_eq!(r.counts.succeeded, 300);
    assert_eq!(status(&*store, 300).await, TicketingStatus::Printed);
    assert_eq!(wallet.status_of(300).await.as_deref(), Some("INJECTED"));
    wallet.stop().await;
}

/// Push Cancelled (issue 8, DOMAIN.md §5.3) through the real wallet, on both backends:
/// cancelled and invalidated tickets that were injected are deleted with their cause as
/// reason and the visibility flag of the three-step rule; a ticket cancelled before it
/// was ever injected is never pushed; the skip list holds; a pushed ticket is not
/// pushed again, but a force list pushes it again with the schedule's visibility.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_cancelled_deletes_with_the_cause_and_the_visibility_rule() {
    use tixbridge_core::operation::{Operation, TicketRef};
    use tixbridge_interface::setup::{PushCancelledScheduleInput, create_push_cancelled_schedule};
    use tixbridge_store::OperationRequest;

    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let org = seed(
            &*store,
            (1..=7)
                .map(|i| row(i, "P1", Some("a@example.org")))
                .collect(),
        )
        .await;
        configure_on(
            &*store,
            org,
            &wallet,
            "ticketIterationSize=2\noverrideVisibilityFlagForInvalidationReasons=THEFT",
        )
        .await;
        let operate = |op: Operation, refs: &[&str], cause: &str| {
            let store = store.clone();
            let request = OperationRequest {
                organization_id: org,
                operation: op,
                tickets: refs.iter().map(|r| TicketRef::parse(r).unwrap()).collect(),
                cause: Cause::parse(cause).unwrap(),
                operator: "test".into(),
                at: Utc::now(),
            };
            async move { store.apply_operation(request).await.unwrap() }
        };
        // Cancelled before injection: never injected, never pushed.
        operate(Operation::Cancel, &["id:7"], "refund").await;
        let r = run_schedule(store.clone(), "inj", fast()).await.unwrap();
        assert_eq!(r.counts.succeeded, 6);
        operate(Operation::Cancel, &["TX1", "TX2", "TX4"], "refund").await;
        operate(Operation::Invalidate, &["TX3"], "theft").await;
        let pc = |name: &str, notify: bool, force: &str, skip: &str| PushCancelledScheduleInput {
            interface: "tixngo".into(),
            name: name.into(),
            batch_size: 1000,
            notify_spectator: notify,
            force: force.into(),
            skip: skip.into(),
            ..Default::default()
        };
        create_push_cancelled_schedule(&*store, pc("pc", false, "", "TX4"))
            .await
            .unwrap();

        let r = run_schedule(store.clone(), "pc", fast()).await.unwrap();
        assert_eq!(r.outcome, Outcome::Ok, "{:?}", r.message);
        assert_eq!(
            (r.counts.selected, r.counts.skipped),
            (4, 1),
            "1, 2, 3 and the skipped 4"
        );
        assert_eq!((r.counts.sent, r.counts.succeeded), (3, 3));
        let deletion = |id: i64| {
            let w = wallet.store.clone();
            let organizer = wallet.organizer;
            async move {
                let t = w.ticket(organizer, &id.to_string()).await.unwrap().unwrap();
                let d = t.state.deletion.clone();
                (t.state.status, d.map(|d| (d.reason, d.show_deleted_ticket)))
            }
        };
        for (id, reason, shown) in [
            (1, "REFUND", false),
            (2, "REFUND", false),
            (3, "THEFT", true),
        ] {
            let (status, d) = deletion(id).await;
            assert!(
                status.starts_with("DELETION_PENDING") || status == "DELETED",
                "{id}: {status}"
            );
            assert_eq!(d, Some((reason.to_owned(), shown)), "ticket {id}");
            let p = store.projection(id).await.unwrap().unwrap();
            assert_eq!(
                p.wallet_status,
                WalletStatus::DeletionPending,
                "ticket {id}"
            );
            assert!(
                store
                    .processed_at(id, FunctionKind::PushCancelled)
                    .await
                    .unwrap()
                    .is_some()
            );
            assert_eq!(
                status_of_ticketing(&*store, id).await.1,
                Some(reason.to_owned())
            );
        }
        assert_eq!(
            wallet.status_of(4).await.as_deref(),
            Some("INJECTED"),
            "skipped"
        );
        assert_eq!(
            wallet.status_of(7).await,
            None,
            "never injected, never pushed"
        );

        // Pushed once: nothing new (only the skipped ticket is selected again).
        let r = run_schedule(store.clone(), "pc", fast()).await.unwrap();
        assert_eq!((r.counts.selected, r.counts.sent), (1, 0));

        // A force list pushes again, here with the schedule's notify-spectator box.
        create_push_cancelled_schedule(&*store, pc("pc-force", true, "TX1", ""))
            .await
            .unwrap();
        let r = run_schedule(store.clone(), "pc-force", fast())
            .await
            .unwrap();
        assert_eq!((r.counts.selected, r.counts.succeeded), (1, 1));
        assert_eq!(deletion(1).await.1, Some(("REFUND".to_owned(), true)));
        wallet.stop().await;
    })
    .await;
}

/// The ticketing status and cause of a ticket.
async fn status_of_ticketing(
    store: &dyn TicketingStore,
    id: i64,
) -> (TicketingStatus, Option<String>) {
    let t = store.ticket(id).await.unwrap().unwrap();
    (t.status, t.cause.map(|c| c.as_str().to_owned()))
}

/// A reprint reaches the wallet through the two functions (issue 8): Push Cancelled
/// deletes the old ticket with the reason `REPRINT`, and injection sends the new one,
/// same seat, to the old one's owner; both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reprint_deletes_the_old_ticket_and_injects_the_new_one() {
    use tixbridge_core::operation::{Operation, TicketRef};
    use tixbridge_interface::setup::{PushCancelledScheduleInput, create_push_cancelled_schedule};
    use tixbridge_store::ReprintRequest;

    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let org = seed(
            &*store,
            (1..=2)
                .map(|i| row(i, "P1", Some("a@example.org")))
                .collect(),
        )
        .await;
        configure_on(&*store, org, &wallet, "").await;
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
        assert_eq!(
            run_schedule(store.clone(), "inj", fast())
                .await
                .unwrap()
                .counts
                .succeeded,
            2
        );
        let done = store
            .reprint(ReprintRequest {
                organization_id: org,
                operation: Operation::Reprint,
                ticket: TicketRef::parse("TX1").unwrap(),
                buyer: None,
                cause: Cause::parse("REPRINT").unwrap(),
                operator: "test".into(),
                at: Utc::now(),
                new_ticket_id: None,
                new_tax_number: None,
                new_barcode: None,
            })
            .await
            .unwrap();
        let new_id = done.new_ticket.id;
        assert_eq!(new_id, 3);
        let r = run_schedule(store.clone(), "pc", fast()).await.unwrap();
        assert_eq!((r.counts.selected, r.counts.succeeded), (1, 1));
        let old = wallet
            .store
            .ticket(wallet.organizer, "1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            old.state.deletion.map(|d| d.reason).as_deref(),
            Some("REPRINT")
        );
        let r = run_schedule(store.clone(), "inj", fast()).await.unwrap();
        assert_eq!(
            (r.counts.selected, r.counts.succeeded),
            (1, 1),
            "only the new ticket"
        );
        let new = wallet
            .store
            .ticket(wallet.organizer, "3")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(new.state.status, "INJECTED");
        assert_eq!(
            new.state.owner.and_then(|o| o.email).as_deref(),
            Some("a@example.org")
        );
        assert_eq!(status(&*store, 3).await, TicketingStatus::Printed);
        wallet.stop().await;
    })
    .await;
}

/// Push Controlled (issue 8, DOMAIN.md §5.4) through the real wallet, on both backends:
/// tickets scanned at the gate in ticketing become `CONTROLLED` in the wallet; a ticket
/// the wallet deleted meanwhile answers `TICKET_DELETED`, a final answer recorded once
/// and never sent again; a second run sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_controlled_sends_gate_scans_and_settles_deleted_tickets() {
    use tixbridge_client::{ClientOptions, WalletClient};
    use tixbridge_core::api::DeleteTicket;
    use tixbridge_store::GateScan;

    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let org = seed(
            &*store,
            (1..=4)
                .map(|i| row(i, "P1", Some("a@example.org")))
                .collect(),
        )
        .await;
        configure_on(&*store, org, &wallet, "").await;
        push_controlled_schedule(&*store, "ctl").await;
        assert_eq!(succeeded(&store, "inj").await, 4);
        let scanned = Utc.with_ymd_and_hms(2026, 6, 14, 18, 30, 0).unwrap();
        let scans = ["BC1", "BC2", "BC4"]
            .map(|b| GateScan {
                barcode: b.into(),
                scanned_at: scanned,
                performance: None,
            })
            .to_vec();
        store.record_scans(org, scans, true, "gate").await.unwrap();
        // The wallet deleted ticket 4 meanwhile.
        let client = WalletClient::new(
            &wallet.url,
            "admin",
            SecretString::from(wallet.key.clone()),
            ClientOptions::default(),
        )
        .unwrap();
        let delete = DeleteTicket {
            ticket_id: "4".into(),
            reason: "THEFT".into(),
            show_deleted_ticket: false,
        };
        client.delete(&[delete]).await.unwrap();

        let r = run_schedule(store.clone(), "ctl", fast()).await.unwrap();
        assert_eq!(
            (r.counts.selected, r.counts.succeeded, r.counts.failed),
            (3, 2, 1)
        );
        assert!(
            r.first_errors.iter().any(|e| e.ticket_id == Some(4)
                && e.code == "TICKET_DELETED"
                && e.message.contains("final answer")),
            "{:?}",
            r.first_errors
        );
        for id in [1, 2] {
            assert_eq!(
                wallet.status_of(id).await.as_deref(),
                Some("CONTROLLED"),
                "ticket {id}"
            );
            let p = store.projection(id).await.unwrap().unwrap();
            assert_eq!(p.wallet_status, WalletStatus::Controlled);
        }
        assert_eq!(
            wallet.status_of(3).await.as_deref(),
            Some("INJECTED"),
            "not scanned"
        );
        let r = run_schedule(store.clone(), "ctl", fast()).await.unwrap();
        assert_eq!(
            (r.counts.selected, r.outcome),
            (0, Outcome::Ok),
            "nothing again"
        );
        wallet.stop().await;
    })
    .await;
}
