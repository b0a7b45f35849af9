//! The file to upload (DOMAIN.md §5.3, §5.4): one execution of a push function
//! processes only the tickets a file names, through the real wallet service, on both
//! ticketing backends.

mod common;
use common::*;

use tixbridge_core::selection::TicketRefs;
use tixbridge_store::GateScan;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_to_upload_pushes_only_its_tickets_once() {
    each_backend(|store, dir| async move {
        let mut wallet = Wallet::start(dir.path()).await;
        let rows = (1..=3)
            .map(|i| row(i, "P1", Some("a@example.org")))
            .collect();
        let org = seed(&*store, rows).await;
        configure_on(&*store, org, &wallet, "").await;
        push_controlled_schedule(&*store, "ctl").await;
        assert_eq!(succeeded(&store, "inj").await, 3);
        let scans = ["BC1", "BC2", "BC3"]
            .map(|b| GateScan {
                barcode: b.into(),
                scanned_at: Utc::now(),
                performance: None,
            })
            .to_vec();
        store.record_scans(org, scans, true, "gate").await.unwrap();

        let upload = |refs: &str| RunOptions {
            upload: Some(TicketRefs::parse(refs).unwrap()),
            ..fast()
        };
        let r = run_schedule(store.clone(), "ctl", upload("TX2"))
            .await
            .unwrap();
        assert_eq!((r.counts.selected, r.counts.succeeded), (1, 1), "{r:?}");
        assert_eq!(wallet.status_of(2).await.as_deref(), Some("CONTROLLED"));
        assert_eq!(wallet.status_of(1).await.as_deref(), Some("INJECTED"));
        // The schedule is unchanged: the next run takes the others.
        let r = run_schedule(store.clone(), "ctl", fast()).await.unwrap();
        assert_eq!(r.counts.selected, 2, "{r:?}");
        // A file names tickets pushed already: sent again, as a force list.
        let r = run_schedule(store.clone(), "ctl", upload("id:1"))
            .await
            .unwrap();
        assert_eq!(r.counts.succeeded, 1, "{r:?}");
        wallet.stop().await;
    })
    .await;
}
