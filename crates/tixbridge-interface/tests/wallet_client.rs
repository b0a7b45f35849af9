//! The typed client against the real wallet service: deletion, control, back-office
//! transfer, the change feed and verification — what the push and feedback functions
//! build on.

use std::time::Duration;

use secrecy::SecretString;

use tixbridge_client::{ClientError, ClientOptions, WalletClient};
use tixbridge_core::api::{
    Address, ControlledTicket, DeleteTicket, Event, Person, PurchaseDetails, Security, Ticket,
};

fn ticket(id: &str) -> Ticket {
    Ticket {
        ticket_id: Some(id.into()),
        event: Some(Event {
            id: Some("E1".into()),
            name: Some("Final".into()),
            start_time: Some("2030-07-12T21:00:00+02:00".into()),
            expiration_date: Some("2030-07-13T21:00:00+02:00".into()),
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
            ..Default::default()
        }),
        security: Some(Security {
            barcode: Some(format!("BC-{id}")),
        }),
        spectator_details: Some(Person {
            email: Some("ann@example.org".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_speaks_the_whole_organizer_api() {
    let dir = tempfile::tempdir().unwrap();
    let store = tixbridge_store::open_wallet(&format!(
        "sqlite:{}",
        dir.path().join("wallet.db").display()
    ))
    .await
    .unwrap();
    let (_, key) = tixbridge_wallet::create_organizer(&*store, "org")
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/organizer/tickets",
        listener.local_addr().unwrap()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = tixbridge_wallet::ServiceConfig {
        sweep_interval: Duration::from_millis(20),
        settings: tixbridge_core::lifecycle::Settings {
            deletion_delay: chrono::Duration::zero(),
            ..Default::default()
        },
        ..Default::default()
    };
    let server = tokio::spawn(tixbridge_wallet::serve_with(
        listener,
        store,
        config,
        async move {
            let _ = stopped.await;
        },
    ));
    let client = WalletClient::new(
        &url,
        "admin",
        SecretString::from(key),
        ClientOptions::default(),
    )
    .unwrap();

    let tickets: Vec<Ticket> = ["A", "B", "C"].iter().map(|id| ticket(id)).collect();
    assert!(
        client
            .inject(&tickets)
            .await
            .unwrap()
            .iter()
            .all(|r| r.is_ok())
    );

    let r = client
        .controlled(&[ControlledTicket {
            ticket_id: "A".into(),
            // At the gate, now: a time more than a day ahead is refused (issue 7, item 12).
            controlled_at: Some(chrono::Utc::now().to_rfc3339()),
        }])
        .await
        .unwrap();
    assert_eq!(r[0].status.as_deref(), Some("CONTROLLED"));
    let r = client
        .delete(&[
            DeleteTicket {
                ticket_id: "B".into(),
                reason: "CANCELLED".into(),
                show_deleted_ticket: false,
            },
            DeleteTicket {
                ticket_id: "NOPE".into(),
                reason: "CANCELLED".into(),
                show_deleted_ticket: false,
            },
        ])
        .await
        .unwrap();
    assert_eq!(r[0].status.as_deref(), Some("DELETION_PENDING"));
    assert_eq!(r[1].error_code.as_deref(), Some("TICKET_NOT_FOUND"));
    let to = Person {
        email: Some("bob@example.org".into()),
        ..Default::default()
    };
    assert_eq!(
        client.transfer("C", &to).await.unwrap().status,
        "PENDING_TRANSFER"
    );
    match client.transfer("A", &to).await {
        Err(ClientError::Refused { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (409, "ILLEGAL_TRANSITION"));
        }
        other => panic!("a controlled ticket is not transferred: {other:?}"),
    }
    assert!(matches!(
        client.delete(&[]).await,
        Err(ClientError::Usage(_))
    ));

    // Wait for the deletion's confirmation, then read the whole feed.
    let mut confirmed = false;
    for _ in 0..200 {
        if client.ticket("B").await.unwrap().unwrap().state.status == "DELETED" {
            confirmed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(confirmed, "the deletion was confirmed");
    let mut key = String::new();
    let mut seen = Vec::new();
    loop {
        let page = client.diff(&key, 2).await.unwrap();
        if page.tickets.is_empty() {
            assert_eq!(page.next_page_key, key, "an empty page keeps the key");
            break;
        }
        seen.extend(page.tickets.into_iter().map(|t| (t.ticket_id, t.status)));
        key = page.next_page_key;
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            ("A".to_owned(), "CONTROLLED".to_owned()),
            ("B".to_owned(), "DELETED".to_owned()),
            ("C".to_owned(), "PENDING_TRANSFER".to_owned()),
        ]
    );
    let v = client.verify().await.unwrap();
    assert!(v.valid, "{v:?}");
    assert_eq!(v.entries, 3 + 1 + 2 + 1);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
