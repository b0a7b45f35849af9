//! Feedback end to end (DOMAIN.md §5.2; issue 9): the wallet's change feed brought
//! back into ticketing through the real wallet service, on both ticketing backends.

mod common;
use common::*;

use tixbridge_client::WalletClient;
use tixbridge_core::api::DeleteTicket;
use tixbridge_interface::setup::{FeedbackScheduleInput, create_feedback_schedule};
use tixbridge_store::{FeedbackPage, InterfaceUpdate, StoreError};

fn client(wallet: &Wallet) -> WalletClient {
    wallet.client()
}

fn person(email: &str) -> Person {
    Person {
        email: Some(email.into()),
        first_name: Some("Bob".into()),
        ..Person::default()
    }
}

/// Tickets 1..=n of fan<i>@example.org for a match to come (an expired event refuses
/// transfers).
fn fans(n: i64) -> Vec<ImportRow> {
    (1..=n)
        .map(|i| match_to_come(i, &format!("fan{i}@example.org")))
        .collect()
}

/// A ticket injected straight into the wallet, unknown to ticketing.
async fn stranger(wallet: &Wallet, id: &str) {
    let t: tixbridge_core::api::Ticket = serde_json::from_value(serde_json::json!({
        "ticketId": id,
        "event": {"id": "P1", "name": "Match", "startTime": "2030-06-14T19:00:00Z",
                  "expirationDate": "2030-06-15T19:00:00Z",
                  "address": {"site": "Stadium", "city": "Paris", "zip": "75000",
                              "countryCode": "FR"}},
        "purchaseDetails": {"taxationNumber": format!("X{id}")},
        "security": {"barcode": format!("XB{id}")},
        "spectatorDetails": {"email": "x@example.org"}
    }))
    .unwrap();
    let r = client(wallet).inject(&[t]).await.unwrap();
    assert!(r[0].is_ok(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_comes_back_into_the_projection_once() {
    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let rows = fans(4);
        let org = seed(&*store, rows).await;
        configure_on(&*store, org, &wallet, "").await;
        create_feedback_schedule(
            &*store,
            FeedbackScheduleInput {
                interface: "tixngo".into(),
                name: "fb".into(),
                batch_size: 1000,
                skip: "TX4".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(succeeded(&store, "inj").await, 4);
        let second = create_feedback_schedule(
            &*store,
            FeedbackScheduleInput {
                interface: "tixngo".into(),
                name: "fb2".into(),
                batch_size: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            second.contains("has a Feedback schedule already, fb"),
            "{second}"
        );

        // The wallet moves: a back-office transfer, a deletion, a control.
        let c = client(&wallet);
        c.transfer("1", &person("bob@example.org")).await.unwrap();
        let delete = DeleteTicket {
            ticket_id: "2".into(),
            reason: "THEFT".into(),
            show_deleted_ticket: true,
        };
        c.delete(&[delete]).await.unwrap();
        let control = tixbridge_core::api::ControlledTicket {
            ticket_id: "3".into(),
            controlled_at: None,
        };
        c.controlled(&[control]).await.unwrap();

        let r = run_schedule(store.clone(), "fb", fast()).await.unwrap();
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        assert_eq!(
            (r.counts.selected, r.counts.succeeded, r.counts.skipped),
            (4, 3, 1),
            "{r:?}"
        );
        let p = store.projection(1).await.unwrap().unwrap();
        // A back-office transfer waits for its recipient: the owner is still the fan.
        assert_eq!(p.wallet_status, WalletStatus::PendingTransfer);
        let email = |p: &Option<Person>| p.as_ref().and_then(|p| p.email.clone());
        assert_eq!(email(&p.owner).as_deref(), Some("fan1@example.org"));
        assert_eq!(email(&p.initial_owner).as_deref(), Some("fan1@example.org"));
        assert!(p.status_changed_at.is_some());
        let p = store.projection(2).await.unwrap().unwrap();
        assert_eq!(p.wallet_status, WalletStatus::DeletionPending);
        let d = p.deletion.unwrap();
        assert_eq!((d.reason.as_str(), d.show_deleted_ticket), ("THEFT", true));
        assert_eq!(
            store.projection(3).await.unwrap().unwrap().wallet_status,
            WalletStatus::Controlled
        );
        // Feedback changes no ticketing status.
        for id in 1..=3 {
            assert_eq!(status(&*store, id).await, TicketingStatus::Printed);
        }
        let history = store.mobile_history(1).await.unwrap();
        let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions.first(), Some(&"INJECT"), "{actions:?}");
        assert!(history.len() >= 2, "{history:?}");

        // Nothing new: nothing applied, and the lag says so.
        let r = run_schedule(store.clone(), "fb", fast()).await.unwrap();
        assert_eq!(r.counts.selected, 0, "{r:?}");
        let m = r.message.unwrap_or_default();
        assert!(m.contains("ticketing is up to date with the wallet"), "{m}");

        // A page applied again appends nothing twice.
        let iface = store.interface_by_name("tixngo").await.unwrap().unwrap();
        let key = store.feedback_key(iface.id).await.unwrap().unwrap();
        let page = c.diff("", 1000).await.unwrap();
        let again = |after_key: String| FeedbackPage {
            organization_id: org,
            interface_id: iface.id,
            after_key,
            next_key: key.clone(),
            // Ticket 4 is on the skip list: the execution never applied it.
            states: page
                .tickets
                .iter()
                .filter(|t| t.ticket_id != "4")
                .cloned()
                .collect(),
            block_on_unknown: false,
            distribute: false,
            at: Utc::now(),
        };
        let done = store.apply_feedback_page(again(key.clone())).await.unwrap();
        assert_eq!((done.applied, done.entries_added), (3, 0), "{done:?}");
        assert_eq!(store.mobile_history(1).await.unwrap(), history);
        // A page read after a key that is no longer the stored one is refused.
        let moved = store.apply_feedback_page(again(String::new())).await;
        assert!(matches!(moved, Err(StoreError::Conflict(_))), "{moved:?}");

        // A file to upload: a page applied as if the wallet had sent it; the key stays.
        let mut state = page
            .tickets
            .iter()
            .find(|t| t.ticket_id == "3")
            .unwrap()
            .clone();
        state.status = "DOWNLOADED".into();
        let mut entry = state.history.last().unwrap().clone();
        entry.seq = 99_999;
        entry.action = "DOWNLOAD".into();
        state.history = vec![entry];
        let upload = RunOptions {
            feed_upload: Some(tixbridge_core::api::DiffPage {
                head_key: None,
                tickets: vec![state],
                privileges: vec![],
                next_page_key: "ignored".into(),
            }),
            ..fast()
        };
        let r = run_schedule(store.clone(), "fb", upload).await.unwrap();
        assert_eq!((r.outcome, r.counts.succeeded), (Outcome::Ok, 1), "{r:?}");
        let p = store.projection(3).await.unwrap().unwrap();
        assert_eq!(p.wallet_status, WalletStatus::Downloaded);
        let seqs: Vec<i64> = store
            .mobile_history(3)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs.last(), Some(&99_999), "{seqs:?}");
        assert_eq!(
            store.feedback_key(iface.id).await.unwrap(),
            Some(key.clone())
        );

        // A ticket ticketing does not know: skipped and named by default…
        stranger(&wallet, "999").await;
        let r = run_schedule(store.clone(), "fb", fast()).await.unwrap();
        assert_eq!(r.outcome, Outcome::Error, "{r:?}");
        assert_eq!(r.counts.failed, 1);
        assert_eq!(r.first_errors[0].code, "UNKNOWN_TICKET");
        assert!(r.first_errors[0].message.contains("ticket 999"), "{r:?}");
        let after_skip = store.feedback_key(iface.id).await.unwrap();
        assert_ne!(
            after_skip.as_deref(),
            Some(key.as_str()),
            "the key moved on"
        );

        // …or blocking with doContinueInCaseOfSyncError=false: the key stays.
        store
            .update_interface(
                iface.id,
                InterfaceUpdate {
                    custom_params: Some("doContinueInCaseOfSyncError=false".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        stranger(&wallet, "998").await;
        for _ in 0..2 {
            let r = run_schedule(store.clone(), "fb", fast()).await.unwrap();
            assert_eq!(
                (r.outcome, r.counts.succeeded),
                (Outcome::Error, 0),
                "{r:?}"
            );
            assert!(r.first_errors[0].message.contains("not applied"), "{r:?}");
            assert_eq!(store.feedback_key(iface.id).await.unwrap(), after_skip);
        }
        wallet.stop().await;
    })
    .await;
}

/// The reprint recipient rule (DOMAIN.md §5.1) end to end: a ticket transferred in the
/// app is reprinted to the owner Feedback brought back, unless the replaced ticket's
/// cause is in `resetInjectionInvalidationReasons`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reprint_goes_to_the_owner_feedback_brought_back() {
    use tixbridge_client::app::AppClient;
    use tixbridge_core::operation::{Operation, TicketRef};
    use tixbridge_store::ReprintRequest;

    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let rows = fans(2);
        let org = seed(&*store, rows).await;
        let params = "resetInjectionInvalidationReasons=THEFT";
        configure_on(&*store, org, &wallet, params).await;
        feedback_schedule(&*store, "fb").await;
        assert_eq!(succeeded(&store, "inj").await, 2);

        // Both fans pass their ticket on in the app; the recipients accept.
        let base = wallet.url.trim_end_matches("/organizer/tickets").to_owned();
        let app = AppClient::new(&base, std::time::Duration::from_secs(10)).unwrap();
        for i in 1..=2 {
            let id = i.to_string();
            let fan = app
                .session(&format!("fan{i}@example.org"), None)
                .await
                .unwrap();
            fan.download(&id).await.unwrap();
            fan.transfer(&id, &format!("friend{i}@example.org"))
                .await
                .unwrap();
            let friend = app
                .session(&format!("friend{i}@example.org"), None)
                .await
                .unwrap();
            friend.accept(&id).await.unwrap();
        }
        // One ticket per execution: the lag names what is left and its age.
        let one = tixbridge_interface::setup::ScheduleChange {
            batch_size: Some(1),
            ..Default::default()
        };
        tixbridge_interface::setup::update_schedule(&*store, "fb", one)
            .await
            .unwrap();
        let r = run_schedule(store.clone(), "fb", fast()).await.unwrap();
        assert_eq!(r.counts.succeeded, 1, "{r:?}");
        let m = r.message.unwrap_or_default();
        assert!(
            m.contains("ticketing is behind the wallet: ") && m.contains("status-log changes"),
            "{m}"
        );
        let all = tixbridge_interface::setup::ScheduleChange {
            batch_size: Some(1000),
            ..Default::default()
        };
        tixbridge_interface::setup::update_schedule(&*store, "fb", all)
            .await
            .unwrap();
        assert_eq!(succeeded(&store, "fb").await, 1);
        let owner = store.projection(1).await.unwrap().unwrap().owner.unwrap();
        assert_eq!(owner.email.as_deref(), Some("friend1@example.org"));

        let mut new_ids = Vec::new();
        for (ticket, cause) in [("TX1", "REPRINT"), ("TX2", "THEFT")] {
            let done = store
                .reprint(ReprintRequest {
                    organization_id: org,
                    operation: Operation::Reprint,
                    ticket: TicketRef::parse(ticket).unwrap(),
                    buyer: None,
                    cause: Cause::parse(cause).unwrap(),
                    operator: "test".into(),
                    at: Utc::now(),
                    new_ticket_id: None,
                    new_tax_number: None,
                    new_barcode: None,
                })
                .await
                .unwrap();
            new_ids.push(done.new_ticket.id);
        }
        assert_eq!(succeeded(&store, "inj").await, 2);
        let recipient = |id: i64| {
            let w = wallet.store.clone();
            let organizer = wallet.organizer;
            async move {
                let t = w.ticket(organizer, &id.to_string()).await.unwrap().unwrap();
                t.ticket.spectator_details.unwrap().email.unwrap()
            }
        };
        assert_eq!(
            recipient(new_ids[0]).await,
            "friend1@example.org",
            "the last owner"
        );
        assert_eq!(
            recipient(new_ids[1]).await,
            "fan2@example.org",
            "THEFT resets to the cultural contact"
        );
        wallet.stop().await;
    })
    .await;
}

/// A feedback killed mid-run (its runtime thrown away where it stands, as a `kill -9`
/// would) and run again until it completes: every projection equals the wallet's
/// state, and every ticket's history holds each wallet entry exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feedback_killed_midway_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (url, schema) in ticketing_urls(dir.path()) {
        let mut wallet = Wallet::start(&dir.path().join(schema.as_deref().unwrap_or("w"))).await;
        let store = tixbridge_store::open_ticketing(&url).await.unwrap();
        let n = 300;
        let rows = (1..=n)
            .map(|i| row(i, "P1", Some("a@example.org")))
            .collect();
        let org = seed(&*store, rows).await;
        let params = "retrieveIterationSize=10";
        configure_on(&*store, org, &wallet, params).await;
        assert_eq!(succeeded(&store, "inj").await, n as u64);
        // Each ticket changes once more: its history has two entries.
        let c = client(&wallet);
        for chunk in (1..=n).collect::<Vec<_>>().chunks(50) {
            let controls: Vec<_> = chunk
                .iter()
                .map(|id| tixbridge_core::api::ControlledTicket {
                    ticket_id: id.to_string(),
                    controlled_at: None,
                })
                .collect();
            c.controlled(&controls).await.unwrap();
        }
        feedback_schedule(&*store, "fb").await;

        for kill_after in [40, 120] {
            let u = url.clone();
            tokio::task::spawn_blocking(move || run_and_die(u, "fb", kill_after))
                .await
                .unwrap();
            // The dead run's lease lapses (2 s in run_and_die).
            tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
        }
        let r = run_schedule(store.clone(), "fb", fast()).await.unwrap();
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        assert!(
            r.counts.succeeded < n as u64,
            "the dead runs applied pages: {r:?}"
        );

        for id in 1..=n {
            let w = wallet
                .store
                .ticket(wallet.organizer, &id.to_string())
                .await
                .unwrap()
                .unwrap()
                .state;
            let p = store.projection(id).await.unwrap().unwrap();
            assert_eq!(p.wallet_status.as_str(), w.status, "ticket {id}");
            // Every entry of the wallet, once (Feedback reads whole histories: a ticket
            // paged late keeps its earlier entries).
            let seqs: Vec<i64> = store
                .mobile_history(id)
                .await
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect();
            let wallet_seqs: Vec<i64> = w.history.iter().map(|e| e.seq).collect();
            assert_eq!(seqs, wallet_seqs, "ticket {id}: each entry once");
        }
        wallet.stop().await;
        drop_schema(schema).await;
    }
}

/// One feedback at a time per wallet organizer (DOMAIN.md §5.2; one interface per
/// organization, one Feedback schedule per interface): while another process holds
/// the execution's lease, a second execution is refused naming the running one; once
/// that lease lapses, the next execution resumes from the stored key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_feedback_is_refused_and_a_lapsed_one_resumed() {
    use tixbridge_store::ExecutionStart;
    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let org = seed(&*store, fans(3)).await;
        configure_on(&*store, org, &wallet, "").await;
        let schedule = feedback_schedule(&*store, "fb").await;
        assert_eq!(succeeded(&store, "inj").await, 3);
        // Another process's execution, alive for a minute.
        let other = store
            .start_execution(ExecutionStart {
                schedule_id: schedule.id,
                at: Utc::now(),
                owner: "other-host:4242:x".into(),
                lease: chrono::Duration::minutes(1),
            })
            .await
            .unwrap();
        let refused = run_schedule(store.clone(), "fb", fast()).await.unwrap_err();
        let says = refused.to_string();
        assert!(
            says.contains(&format!("execution #{} is running", other.id))
                && says.contains("other-host:4242:x"),
            "{says}"
        );
        let iface = store.interface_by_name("tixngo").await.unwrap().unwrap();
        assert_eq!(store.feedback_key(iface.id).await.unwrap(), None);

        // That process ends its execution; another one crashes, its lease lapses: the
        // next run records it interrupted and applies the feed from the stored key.
        let counts = tixbridge_core::model::Counts::default();
        store
            .finish_execution(other.id, Utc::now(), Outcome::Ok, counts, None)
            .await
            .unwrap();
        let crashed = store
            .start_execution(ExecutionStart {
                schedule_id: schedule.id,
                at: Utc::now() - chrono::Duration::minutes(5),
                owner: "dead-host:1:y".into(),
                lease: chrono::Duration::seconds(1),
            })
            .await
            .unwrap();
        let r = run_schedule(store.clone(), "fb", fast()).await.unwrap();
        assert_eq!((r.outcome, r.counts.succeeded), (Outcome::Ok, 3), "{r:?}");
        let runs = store.executions(schedule.id, 10).await.unwrap();
        let dead = runs.iter().find(|e| e.id == crashed.id).unwrap();
        assert!(
            dead.message
                .as_deref()
                .unwrap_or("")
                .contains("interrupted"),
            "{dead:?}"
        );
        assert!(store.feedback_key(iface.id).await.unwrap().is_some());
        wallet.stop().await;
    })
    .await;
}

/// Every kind of wallet change reaches the projection (issue 9): download, assign,
/// transfer accepted, rejected and timed out, activation, control, deletion pending
/// and confirmed — each projection field equal to the wallet's, read over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_wallet_change_reaches_the_projection() {
    use tixbridge_client::app::AppClient;
    use tixbridge_core::lifecycle::ActivationMethod;
    each_backend(|store, dir| async move {
        // Transfers time out after a second; deletions are confirmed at once.
        let settings = tixbridge_core::lifecycle::Settings {
            transfer_timeout: chrono::Duration::seconds(1),
            deletion_delay: chrono::Duration::zero(),
        };
        let mut wallet = Wallet::start_with(dir.path(), settings).await;
        let org = seed(&*store, fans(9)).await;
        configure_on(&*store, org, &wallet, "").await;
        feedback_schedule(&*store, "fb").await;
        assert_eq!(succeeded(&store, "inj").await, 9);
        let base = wallet.url.trim_end_matches("/organizer/tickets").to_owned();
        let app = AppClient::new(&base, std::time::Duration::from_secs(10)).unwrap();
        let fan = |i: i64| {
            let app = app.clone();
            async move {
                let s = app
                    .session(&format!("fan{i}@example.org"), None)
                    .await
                    .unwrap();
                s.download(&i.to_string()).await.unwrap();
                s
            }
        };
        let friend = || app.session("friend@example.org", None);
        // 1 downloaded; 2 assigned to a holder.
        fan(1).await;
        let holder = Person {
            first_name: Some("Hana".into()),
            last_name: Some("Holder".into()),
            ..Person::default()
        };
        fan(2).await.assign("2", &holder).await.unwrap();
        // 3 accepted, 4 rejected, 5 left to time out.
        for i in 3..=5 {
            fan(i)
                .await
                .transfer(&i.to_string(), "friend@example.org")
                .await
                .unwrap();
        }
        friend().await.unwrap().accept("3").await.unwrap();
        friend().await.unwrap().reject("4").await.unwrap();
        // 6 activated; 7 controlled; 8 deleted (confirmed at once); 9 untouched.
        fan(6)
            .await
            .activate("6", ActivationMethod::Online, None)
            .await
            .unwrap();
        let c = client(&wallet);
        let control = tixbridge_core::api::ControlledTicket {
            ticket_id: "7".into(),
            controlled_at: None,
        };
        c.controlled(&[control]).await.unwrap();
        let delete = DeleteTicket {
            ticket_id: "8".into(),
            reason: "REFUND".into(),
            show_deleted_ticket: false,
        };
        c.delete(&[delete]).await.unwrap();
        // The sweeper times 5 out and confirms 8's deletion.
        let waited = std::time::Instant::now();
        while wallet.status_of(5).await.as_deref() != Some("FAILURE")
            || wallet.status_of(8).await.as_deref() != Some("DELETED")
        {
            assert!(waited.elapsed().as_secs() < 15, "the sweeper never came");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }

        let r = run_schedule(store.clone(), "fb", fast()).await.unwrap();
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        let expected = [
            "DOWNLOADED",
            "ASSIGNED",
            "TRANSFERRED",
            "FAILURE_TRANSFER",
            "FAILURE",
            "ONLINE_ACTIVATED",
            "CONTROLLED",
            "DELETED",
            "INJECTED",
        ];
        for (i, status) in (1..=9).zip(expected) {
            let w = c.ticket(&i.to_string()).await.unwrap().unwrap().state;
            assert_eq!(w.status, status, "ticket {i}");
            let p = store.projection(i).await.unwrap().unwrap();
            assert_eq!(p.wallet_status.as_str(), w.status, "ticket {i}");
            assert_eq!(p.owner, w.owner, "ticket {i}");
            assert_eq!(p.initial_owner, w.initial_owner, "ticket {i}");
            assert_eq!(p.previous_owner, w.previous_owner, "ticket {i}");
            assert_eq!(p.holder, w.holder, "ticket {i}");
            assert_eq!(p.transfer_level, w.transfer_level, "ticket {i}");
            assert_eq!(p.deletion, w.deletion, "ticket {i}");
            let at = tixbridge_core::api::parse_time(&w.status_changed_at).unwrap();
            assert_eq!(
                p.status_changed_at,
                Some(at.with_timezone(&Utc)),
                "ticket {i}"
            );
            let seqs: Vec<i64> = w.history.iter().map(|e| e.seq).collect();
            let ours: Vec<i64> = store
                .mobile_history(i)
                .await
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect();
            assert_eq!(ours, seqs, "ticket {i}");
        }
        let p3 = store.projection(3).await.unwrap().unwrap();
        let email = |p: &Option<Person>| p.as_ref().and_then(|p| p.email.clone());
        assert_eq!(
            (
                email(&p3.owner),
                email(&p3.previous_owner),
                p3.transfer_level
            ),
            (
                Some("friend@example.org".into()),
                Some("fan3@example.org".into()),
                1
            )
        );
        let held = store.projection(2).await.unwrap().unwrap().holder.unwrap();
        assert_eq!(held.last_name.as_deref(), Some("Holder"));
        let gone = store
            .projection(8)
            .await
            .unwrap()
            .unwrap()
            .deletion
            .unwrap();
        assert!(gone.confirmed_at.is_some(), "{gone:?}");
        wallet.stop().await;
    })
    .await;
}
