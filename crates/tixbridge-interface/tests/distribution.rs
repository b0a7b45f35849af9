//! Cultural-contact distribution end to end (DOMAIN.md §6; issue 9): transfers made
//! in the real wallet service come back through Feedback as distribution rows and
//! cultural-contact changes, on both ticketing backends.

mod common;
use common::*;

use tixbridge_client::app::AppClient;
use tixbridge_core::api::DeleteTicket;
use tixbridge_store::{Distribution, DistributionsOf, FeedbackPage};

/// Ticket `id` of the contact numbered `number`, for a match to come.
fn ticket_of(id: i64, number: &str, email: &str, account: bool, kind: &str) -> ImportRow {
    let mut r = match_to_come(id, email);
    r.contact = ImportContact {
        number: number.into(),
        email: Some(email.into()),
        first_name: Some(format!("First{id}")),
        last_name: Some(format!("Last{id}")),
        internet_account: Some(account),
        kind: Some(kind.into()),
        ..Default::default()
    };
    r
}

fn named(email: &str, first: Option<&str>, last: Option<&str>) -> Person {
    Person {
        email: Some(email.into()),
        first_name: first.map(str::to_owned),
        last_name: last.map(str::to_owned),
        ..Person::default()
    }
}

async fn contact_id(store: &dyn TicketingStore, org: i64, text: &str) -> i64 {
    store.find_contacts(org, text).await.unwrap()[0].id
}

async fn rows_of(store: &dyn TicketingStore, ticket: i64) -> Vec<(Option<i64>, i64, String)> {
    store
        .distributions(DistributionsOf::Ticket(ticket))
        .await
        .unwrap()
        .into_iter()
        .map(|d: Distribution| (d.sender_contact_id, d.recipient_contact_id, d.status))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_become_distribution_rows_and_cultural_contacts() {
    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let mut rows: Vec<ImportRow> = (1..=6)
            .map(|i| {
                ticket_of(
                    i,
                    &format!("C{i}"),
                    &format!("fan{i}@example.org"),
                    true,
                    "INDIVIDUAL",
                )
            })
            .collect();
        rows.push(ticket_of(7, "C7", "known@example.org", false, "INDIVIDUAL"));
        // Three contacts share an email: an internet account first, then an
        // individual over a relay.
        rows.push(ticket_of(8, "C8", "shared@example.org", true, "RELAY"));
        rows.push(ticket_of(9, "C9", "Shared@Example.org", true, "INDIVIDUAL"));
        rows.push(ticket_of(
            10,
            "C10",
            "shared@example.org",
            false,
            "INDIVIDUAL",
        ));
        rows.push(ticket_of(
            11,
            "C11",
            "fan11@example.org",
            true,
            "INDIVIDUAL",
        ));
        let org = seed(&*store, rows).await;
        let params = "enableTicketDistributionToCulturalContact=true";
        configure_on(&*store, org, &wallet, params).await;
        feedback_schedule(&*store, "fb").await;
        assert_eq!(succeeded(&store, "inj").await, 11);
        let c = wallet.client();
        let base = wallet.url.trim_end_matches("/organizer/tickets").to_owned();
        let app = AppClient::new(&base, std::time::Duration::from_secs(10)).unwrap();
        let accept = |email: &'static str, id: &'static str| {
            let app = app.clone();
            async move {
                app.session(email, None)
                    .await
                    .unwrap()
                    .accept(id)
                    .await
                    .unwrap()
            }
        };

        // 1: to an existing contact, typed in another case with spaces: accepted.
        c.transfer(
            "1",
            &named(" KNOWN@Example.org ", Some("Mallory"), Some("Other")),
        )
        .await
        .unwrap();
        accept("known@example.org", "1").await;
        // 2: to someone ticketing does not know: pending at the first feedback.
        c.transfer("2", &named("newbie@example.org", Some("Nina"), Some("New")))
            .await
            .unwrap();
        // 3: to an email three contacts share: accepted.
        c.transfer("3", &named("shared@example.org", None, None))
            .await
            .unwrap();
        accept("shared@example.org", "3").await;
        // 4: rejected by its recipient.
        c.transfer("4", &named("nobody@example.org", None, None))
            .await
            .unwrap();
        app.session("nobody@example.org", None)
            .await
            .unwrap()
            .reject("4")
            .await
            .unwrap();
        // 5: pending, then the organizer deletes the ticket.
        c.transfer("5", &named("late@example.org", None, None))
            .await
            .unwrap();
        let delete = DeleteTicket {
            ticket_id: "5".into(),
            reason: "REFUND".into(),
            show_deleted_ticket: false,
        };
        c.delete(&[delete]).await.unwrap();
        // 11: pending, then scanned at the gate: the control ends the transfer.
        c.transfer("11", &named("gate@example.org", None, None))
            .await
            .unwrap();
        let control = tixbridge_core::api::ControlledTicket {
            ticket_id: "11".into(),
            controlled_at: None,
        };
        c.controlled(&[control]).await.unwrap();
        // 6: to its own owner, in another case: the same person, refused by the
        // wallet; nothing reaches ticketing.
        let same = c
            .transfer("6", &named(" FAN6@EXAMPLE.ORG", None, None))
            .await;
        assert!(format!("{same:?}").contains("already belongs"), "{same:?}");

        let r = run_schedule(store.clone(), "fb", fast()).await.unwrap();
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        let m = r.message.clone().unwrap_or_default();
        assert!(m.contains("cultural-contact distribution rows"), "{m}");

        let id = |t: &'static str| {
            let store = store.clone();
            async move { contact_id(&*store, org, t).await }
        };
        let (c1, c3, c4, c5, c6, c7, c9) = (
            id("C1").await,
            id("C3").await,
            id("C4").await,
            id("C5").await,
            id("C6").await,
            id("C7").await,
            id("C9").await,
        );
        let contact_of = |t: i64| {
            let store = store.clone();
            async move { store.ticket(t).await.unwrap().unwrap().contact_id }
        };
        // 1: confirmed to the existing contact, found without regard to case; a
        // normal contact keeps its names, and no contact was created for it.
        assert_eq!(
            rows_of(&*store, 1).await,
            [(Some(c1), c7, "CONFIRMED".into())]
        );
        assert_eq!(contact_of(1).await, c7);
        let known = store.contact(c7).await.unwrap().unwrap();
        assert_eq!(
            (known.first_name.as_deref(), known.temporary),
            (Some("First7"), false)
        );
        assert_eq!(
            store
                .find_contacts(org, "known@example.org")
                .await
                .unwrap()
                .len(),
            1
        );
        // 2: pending, to a temporary contact created from the email only.
        let newbie = store
            .find_contacts(org, "NEWBIE@example.org")
            .await
            .unwrap();
        assert_eq!(newbie.len(), 1, "{newbie:?}");
        let n = &newbie[0];
        assert!(n.temporary, "{n:?}");
        assert_eq!(n.last_name.as_deref(), Some("Pending CREATION"));
        assert_eq!(n.number, None);
        assert_eq!(
            rows_of(&*store, 2).await,
            [(Some(id("C2").await), n.id, "PENDING".into())]
        );
        assert_eq!(
            contact_of(2).await,
            id("C2").await,
            "unchanged while pending"
        );
        // 3: the contact with an internet account, an individual rather than a relay.
        assert_eq!(
            rows_of(&*store, 3).await,
            [(Some(c3), c9, "CONFIRMED".into())]
        );
        assert_eq!(contact_of(3).await, c9);
        // 4: rejected: cancelled, the cultural contact unchanged.
        let nobody = contact_id(&*store, org, "nobody@example.org").await;
        assert_eq!(
            rows_of(&*store, 4).await,
            [(Some(c4), nobody, "CANCELLED".into())]
        );
        assert_eq!(contact_of(4).await, c4);
        // 5: a deletion ended the pending transfer: cancelled.
        let late = contact_id(&*store, org, "late@example.org").await;
        assert_eq!(
            rows_of(&*store, 5).await,
            [(Some(c5), late, "CANCELLED".into())]
        );
        assert_eq!(contact_of(5).await, c5);
        // 11: a control that ended the pending transfer: cancelled (the entry's
        // previous status tells).
        let gate = contact_id(&*store, org, "gate@example.org").await;
        let c11 = id("C11").await;
        assert_eq!(
            rows_of(&*store, 11).await,
            [(Some(c11), gate, "CANCELLED".into())]
        );
        assert_eq!(contact_of(11).await, c11);
        // 6: the owner's own email in another case is not an owner change.
        assert!(rows_of(&*store, 6).await.is_empty());
        assert_eq!(contact_of(6).await, c6);

        // 2 accepted: confirmed, the recipient becomes the cultural contact, and the
        // temporary contact is completed with the names the wallet now has.
        accept("newbie@example.org", "2").await;
        let r = run_schedule(store.clone(), "fb", fast()).await.unwrap();
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        assert_eq!(
            rows_of(&*store, 2).await,
            [(Some(id("C2").await), n.id, "CONFIRMED".into())]
        );
        assert_eq!(contact_of(2).await, n.id);
        let done = store.contact(n.id).await.unwrap().unwrap();
        assert_eq!(
            (
                done.first_name.as_deref(),
                done.last_name.as_deref(),
                done.temporary
            ),
            (Some("Nina"), Some("New"), false)
        );
        let held = store.contact_tickets(n.id).await.unwrap();
        assert_eq!(held.iter().map(|t| t.ticket_id).collect::<Vec<_>>(), [2]);
        let counts = store.distribution_counts(org).await.unwrap();
        assert_eq!(
            counts,
            [("CANCELLED".to_owned(), 3), ("CONFIRMED".to_owned(), 3)]
        );

        // The whole feed applied again (a crash between applying and saving the key):
        // nothing distributes twice.
        let iface = store.interface_by_name("tixngo").await.unwrap().unwrap();
        let key = store.feedback_key(iface.id).await.unwrap().unwrap();
        let page = c.diff_whole_history("", 1000).await.unwrap();
        let again = store
            .apply_feedback_page(FeedbackPage {
                organization_id: org,
                interface_id: iface.id,
                after_key: key.clone(),
                next_key: key,
                states: page.tickets,
                block_on_unknown: false,
                distribute: true,
                at: Utc::now(),
            })
            .await
            .unwrap();
        assert_eq!(
            (again.entries_added, again.distribution_changes),
            (0, 0),
            "{again:?}"
        );
        assert_eq!(store.distribution_counts(org).await.unwrap(), counts);

        // Contacts are never duplicated: an imported contact with the email of a
        // temporary one (in another case) adopts it, number and names.
        seed(
            &*store,
            vec![ticket_of(
                99,
                "C99",
                "NOBODY@Example.org",
                true,
                "INDIVIDUAL",
            )],
        )
        .await;
        let adopted = store
            .find_contacts(org, "nobody@example.org")
            .await
            .unwrap();
        assert_eq!(adopted.len(), 1, "{adopted:?}");
        let a = &adopted[0];
        assert_eq!(
            (
                a.id,
                a.number.as_deref(),
                a.temporary,
                a.first_name.as_deref()
            ),
            (nobody, Some("C99"), false, Some("First99"))
        );
        assert_eq!(store.ticket(99).await.unwrap().unwrap().contact_id, nobody);
        wallet.stop().await;
    })
    .await;
}
