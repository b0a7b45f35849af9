//! Shared by the end-to-end tests of the functions: a real wallet service on a
//! loopback port, real ticketing stores (SQLite always; PostgreSQL when
//! `TIXBRIDGE_TEST_PG` is set, mandatory under `CI=true`), rows, schedules.
#![allow(dead_code, unused_imports)] // each test file uses its own part

pub use std::sync::Arc;

pub use chrono::{TimeZone, Utc};
pub use secrecy::SecretString;

pub use tixbridge_core::api::Person;
pub use tixbridge_core::cause::Cause;
pub use tixbridge_core::model::{
    ComfortVariables, FunctionKind, Holder, InjectionFilters, MobileProjection, Outcome,
    ProductKind,
};
pub use tixbridge_core::status::{TicketingStatus, WalletStatus};
pub use tixbridge_core::text::LocalizedText;
pub use tixbridge_interface::setup::{
    InjectionScheduleInput, InterfaceInput, create_injection_schedule, create_interface,
};
pub use tixbridge_interface::{RunOptions, run_schedule};
pub use tixbridge_store::{
    ImportContact, ImportPerformance, ImportProduct, ImportRow, ImportSite, TicketingStore,
    WalletStore,
};

pub struct Wallet {
    pub url: String,
    pub key: String,
    pub store: Arc<dyn WalletStore>,
    pub organizer: i64,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub settings: tixbridge_core::lifecycle::Settings,
}

impl Wallet {
    pub async fn start(dir: &std::path::Path) -> Wallet {
        Wallet::start_with(dir, tixbridge_core::lifecycle::Settings::default()).await
    }

    /// [`Wallet::start`] with other transfer time-out and deletion delay.
    pub async fn start_with(
        dir: &std::path::Path,
        settings: tixbridge_core::lifecycle::Settings,
    ) -> Wallet {
        let store =
            tixbridge_store::open_wallet(&format!("sqlite:{}", dir.join("wallet.db").display()))
                .await
                .unwrap();
        let (org, key) = tixbridge_wallet::create_organizer(&*store, "org")
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut w = Wallet {
            url: format!("http://{addr}/organizer/tickets"),
            key,
            store,
            organizer: org.id,
            stop: None,
            task: None,
            settings,
        };
        w.serve(listener);
        w
    }

    pub fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(tx);
        // Sandbox mode: spectators' app sessions are open, for tests that need them.
        let config = tixbridge_wallet::ServiceConfig {
            sandbox: true,
            settings: self.settings,
            ..Default::default()
        };
        self.task = Some(tokio::spawn(tixbridge_wallet::serve_with(
            listener,
            self.store.clone(),
            config,
            async move {
                let _ = rx.await;
            },
        )));
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }

    /// An organizer API client of this wallet, with default options.
    pub fn client(&self) -> tixbridge_client::WalletClient {
        tixbridge_client::WalletClient::new(
            &self.url,
            "admin",
            SecretString::from(self.key.clone()),
            tixbridge_client::ClientOptions::default(),
        )
        .unwrap()
    }

    pub async fn status_of(&self, ticket_id: i64) -> Option<String> {
        self.store
            .ticket(self.organizer, &ticket_id.to_string())
            .await
            .unwrap()
            .map(|r| r.state.status)
    }
}

/// A fresh ticketing store: SQLite in `dir`, or a fresh PostgreSQL schema.
pub async fn ticketing(
    dir: &std::path::Path,
    pg: bool,
) -> (Arc<dyn TicketingStore>, Option<String>) {
    if pg {
        let base = pg_url().expect("PostgreSQL URL");
        let (url, schema) = tixbridge_store::testing::fresh_schema(&base, "t_inj");
        let store = tixbridge_store::open_ticketing(&url).await.unwrap();
        (store, Some(schema))
    } else {
        let store = tixbridge_store::open_ticketing(&format!(
            "sqlite:{}",
            dir.join("ticketing.db").display()
        ))
        .await
        .unwrap();
        (store, None)
    }
}

pub use tixbridge_store::testing::pg_test_url as pg_url;

pub async fn drop_schema(schema: Option<String>) {
    if let (Some(schema), Some(url)) = (schema, pg_url()) {
        tixbridge_store::testing::drop_schema(&url, &schema).await;
    }
}

pub fn row(id: i64, perf: &str, email: Option<&str>) -> ImportRow {
    let start = Utc.with_ymd_and_hms(2026, 6, 14, 19, 0, 0).unwrap();
    ImportRow {
        ticket_id: id,
        tax_number: format!("TX{id}"),
        barcode: format!("BC{id}"),
        file_id: Some(format!("F{}", id / 10)),
        status: TicketingStatus::NotPrinted,
        cause: None,
        replaces_ticket_id: None,
        shipment_mode: "BLOCKCHAIN".into(),
        sales_channel: Some("WEB".into()),
        season: None,
        product: ImportProduct {
            code: "MATCH".into(),
            kind: ProductKind::Match,
            family: Some("FOOT".into()),
            name: LocalizedText::new("en", "Match"),
            comfort: ComfortVariables::default(),
        },
        performance: Some(ImportPerformance {
            code: perf.into(),
            name: LocalizedText::new("en", format!("Match {perf}"))
                .with("fr", format!("Match {perf} (fr)")),
            group_name: LocalizedText::default(),
            start,
            end: None,
        }),
        site: Some(ImportSite {
            code: "STADE".into(),
            name: LocalizedText::new("en", "Stadium"),
            city: LocalizedText::new("en", "Paris"),
            zip: "75000".into(),
            country_code: "FR".into(),
            line1: LocalizedText::default(),
            line2: LocalizedText::default(),
            time_zone: None,
        }),
        tariff: Some("FULL".into()),
        category: Some("CAT1".into()),
        price_cents: Some(5000),
        currency: Some("EUR".into()),
        purchase_date: Some(start - chrono::Duration::days(10)),
        validity_start: None,
        validity_end: None,
        details: vec![],
        contact: ImportContact {
            number: format!("C{id}"),
            email: email.map(str::to_owned),
            first_name: Some("Ann".into()),
            last_name: Some("Able".into()),
            gender: None,
            title: None,
            ..Default::default()
        },
        holder: Holder::default(),
        main_applicant: false,
        linked_ticket_ids: Vec::new(),
    }
}

pub async fn seed(store: &dyn TicketingStore, rows: Vec<ImportRow>) -> i64 {
    let org = store.ensure_organization("ORG", "Org", "en").await.unwrap();
    let mut s = store.begin_import(org.id).await.unwrap();
    s.add(rows).await.unwrap();
    s.commit().await.unwrap();
    org.id
}

pub async fn configure(
    store: &dyn TicketingStore,
    org: i64,
    wallet_url: &str,
    key: &str,
    params: &str,
    schedule: InjectionScheduleInput,
) {
    create_interface(
        store,
        InterfaceInput {
            organization_id: org,
            name: "tixngo".into(),
            kind: "TIXNGO".into(),
            url: wallet_url.into(),
            login: "admin".into(),
            api_key: SecretString::from(key.to_owned()),
            notification_emails: String::new(),
            custom_params: params.into(),
        },
    )
    .await
    .unwrap();
    create_injection_schedule(
        store,
        InjectionScheduleInput {
            interface: "tixngo".into(),
            point_of_sales: "WEB;WALLET".into(),
            ..schedule
        },
    )
    .await
    .unwrap();
}

pub fn sched(name: &str, batch: i64) -> InjectionScheduleInput {
    InjectionScheduleInput {
        name: name.into(),
        batch_size: batch,
        ..Default::default()
    }
}

pub fn fast() -> RunOptions {
    let mut o = RunOptions::default();
    o.client.retries = 0;
    o.page_size = 7; // several pages even in small tests
    o
}

pub async fn status(store: &dyn TicketingStore, id: i64) -> TicketingStatus {
    store.ticket(id).await.unwrap().unwrap().status
}

pub async fn each_backend<F, Fut>(f: F)
where
    F: Fn(Arc<dyn TicketingStore>, tempfile::TempDir) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = ticketing(dir.path(), false).await;
    f(store, dir).await;
    if pg_url().is_some() {
        let dir = tempfile::tempdir().unwrap();
        let (store, schema) = ticketing(dir.path(), true).await;
        f(store, dir).await;
        drop_schema(schema).await;
    }
}

/// Creates a Push Controlled schedule `name` on the interface "tixngo", batch 10,000.
pub async fn push_controlled_schedule(store: &dyn TicketingStore, name: &str) {
    tixbridge_interface::setup::create_push_controlled_schedule(
        store,
        tixbridge_interface::setup::PushControlledScheduleInput {
            interface: "tixngo".into(),
            name: name.into(),
            batch_size: 10_000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

/// Runs the schedule once ([`fast`]) and answers how many tickets succeeded.
pub async fn succeeded(store: &Arc<dyn TicketingStore>, name: &str) -> u64 {
    run_schedule(store.clone(), name, fast())
        .await
        .unwrap()
        .counts
        .succeeded
}

/// Ticketing store URLs for a crash test: SQLite in `dir`, and a fresh PostgreSQL
/// schema when the suite has one (its name, to drop).
pub fn ticketing_urls(dir: &std::path::Path) -> Vec<(String, Option<String>)> {
    let mut urls = vec![(
        format!("sqlite:{}", dir.join("ticketing.db").display()),
        None,
    )];
    if let Some(base) = pg_url() {
        let (url, schema) = tixbridge_store::testing::fresh_schema(&base, "t_crash");
        urls.push((url, Some(schema)));
    }
    urls
}

/// Runs `name` on a runtime of its own and throws the runtime away (every task
/// dropped where it stands, as if the process died) once `kill_after` tickets
/// were accepted. Returns when the runtime is gone.
pub fn run_and_die(url: String, name: &str, kill_after: u64) {
    let name = name.to_owned();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<u64>();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.spawn(async move {
        let store = tixbridge_store::open_ticketing(&url).await.unwrap();
        let mut o = fast();
        o.in_flight = 1;
        o.lease = std::time::Duration::from_secs(2);
        o.progress = Some(Arc::new(move |p| {
            let _ = seen_tx.send(p.succeeded);
        }));
        let _ = run_schedule(store, &name, o).await;
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match seen_rx.recv_timeout(left) {
            Ok(n) if n >= kill_after => break,
            Ok(_) => {}
            Err(e) => panic!("the run never reached {kill_after} tickets: {e}"),
        }
    }
    rt.shutdown_background();
}

/// Ticket `id` of `email` for a match in 2030: an event to come, which transfers need
/// (an expired event refuses them).
pub fn match_to_come(id: i64, email: &str) -> ImportRow {
    let mut r = row(id, "P1", Some(email));
    if let Some(p) = r.performance.as_mut() {
        p.start = Utc.with_ymd_and_hms(2030, 6, 14, 19, 0, 0).unwrap();
    }
    r
}

/// Creates the Feedback schedule `name` of the interface "tixngo", batch 1,000.
pub async fn feedback_schedule(
    store: &dyn TicketingStore,
    name: &str,
) -> tixbridge_store::Schedule {
    let input = tixbridge_interface::setup::FeedbackScheduleInput {
        interface: "tixngo".into(),
        name: name.into(),
        batch_size: 1000,
        ..Default::default()
    };
    tixbridge_interface::setup::create_feedback_schedule(store, input)
        .await
        .unwrap()
}

/// [`configure`] on `wallet` with the injection schedule "inj" taking 1,000 tickets.
pub async fn configure_on(store: &dyn TicketingStore, org: i64, wallet: &Wallet, params: &str) {
    configure(
        store,
        org,
        &wallet.url,
        &wallet.key,
        params,
        sched("inj", 1000),
    )
    .await;
}
