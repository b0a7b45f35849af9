//! `spawn_app`: the real service on 127.0.0.1:0 over a fresh store (SQLite in a temp
//! dir, or PostgreSQL in a throwaway schema), with two organizers and a client.

use std::future::Future;
use std::sync::Arc;

use serde_json::{Value, json};
use tixbridge_store::{Organizer, WalletStore};
use tokio::sync::oneshot;

/// Where the test's database is, to reopen it or to reach behind the service's back.
#[derive(Clone)]
pub enum RawDb {
    Sqlite(std::path::PathBuf),
    Postgres {
        base: String,
        schema: String,
        url: String,
    },
}

impl RawDb {
    async fn open(&self) -> Arc<dyn WalletStore> {
        match self {
            RawDb::Sqlite(path) => tixbridge_store::sqlite::open_wallet(path)
                .await
                .expect("open SQLite wallet store"),
            RawDb::Postgres { url, .. } => tixbridge_store::postgres::open_wallet(url)
                .await
                .expect("open PostgreSQL wallet store"),
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub raw: RawDb,
    pub config: tixbridge_wallet::ServiceConfig,
    pub client: reqwest::Client,
    pub store: Arc<dyn WalletStore>,
    pub org_a: Organizer,
    pub key_a: String,
    pub org_b: Organizer,
    pub key_b: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// The configuration tests run with: sandbox sessions on, deletions confirmed at
/// once, transfers waiting an hour, a quick sweeper.
pub fn test_config() -> tixbridge_wallet::ServiceConfig {
    tixbridge_wallet::ServiceConfig {
        sandbox: true,
        settings: tixbridge_core::lifecycle::Settings {
            transfer_timeout: chrono::Duration::hours(1),
            deletion_delay: chrono::Duration::zero(),
        },
        sweep_interval: std::time::Duration::from_millis(50),
    }
}

impl TestApp {
    pub async fn start(raw: RawDb, config: tixbridge_wallet::ServiceConfig) -> TestApp {
        let store = raw.open().await;
        let (org_a, key_a) = tixbridge_wallet::create_organizer(store.as_ref(), "Club A")
            .await
            .expect("organizer A");
        let (org_b, key_b) = tixbridge_wallet::create_organizer(store.as_ref(), "Club B")
            .await
            .expect("organizer B");
        Self::serve(raw, store, config, (org_a, key_a), (org_b, key_b)).await
    }

    pub async fn serve(
        raw: RawDb,
        store: Arc<dyn WalletStore>,
        config: tixbridge_wallet::ServiceConfig,
        (org_a, key_a): (Organizer, String),
        (org_b, key_b): (Organizer, String),
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(tixbridge_wallet::serve_with(
            listener,
            store.clone(),
            config.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        TestApp {
            base,
            raw,
            config,
            client: reqwest::Client::new(),
            store,
            org_a,
            key_a,
            org_b,
            key_b,
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST /organizer/tickets as organizer A (X-Api-Key).
    pub async fn inject(&self, tickets: Vec<Value>) -> reqwest::Response {
        self.inject_as(&self.key_a, tickets).await
    }

    pub async fn inject_as(&self, key: &str, tickets: Vec<Value>) -> reqwest::Response {
        self.client
            .post(self.url("/organizer/tickets"))
            .header("X-Api-Key", key)
            .json(&json!({ "tickets": tickets }))
            .send()
            .await
            .expect("send")
    }

    /// GET `path` as the organizer with `key`.
    pub async fn get_as(&self, key: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .basic_auth("admin@example.org", Some(key))
            .send()
            .await
            .expect("send")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_as(&self.key_a, path).await
    }

    /// Stops the service and starts a new one on the same database, organizers and
    /// keys, with `config` (on another port); the new one opens the database afresh, as
    /// a new process would.
    pub async fn restart_reopened(mut self, config: tixbridge_wallet::ServiceConfig) -> TestApp {
        self.halt().await;
        let store = self.raw.open().await;
        let a = (self.org_a.clone(), self.key_a.clone());
        let b = (self.org_b.clone(), self.key_b.clone());
        Self::serve(self.raw.clone(), store, config, a, b).await
    }

    /// Runs SQL on the database directly, behind the service's back (tamper tests).
    pub async fn raw_sql(&self, sql: &str) {
        match &self.raw {
            RawDb::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("open SQLite directly");
                conn.busy_timeout(std::time::Duration::from_secs(5))
                    .expect("busy timeout");
                conn.execute_batch(sql).expect("raw SQL");
            }
            RawDb::Postgres { base, schema, .. } => {
                use sqlx::{Connection, Executor};
                let mut conn = sqlx::PgConnection::connect(base).await.expect("connect");
                conn.execute(format!("SET search_path TO \"{schema}\"").as_str())
                    .await
                    .expect("search_path");
                conn.execute(sql).await.expect("raw SQL");
                let _ = conn.close().await;
            }
        }
    }

    async fn halt(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.expect("server task").expect("server ended cleanly");
        }
    }

    /// Stops the server and waits for it to end cleanly.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.expect("server task").expect("server ended cleanly");
        }
    }
}

/// A complete ticket as JSON.
pub fn ticket(id: &str, event: &str, email: &str) -> Value {
    json!({
        "ticketId": id,
        "event": {
            "id": event,
            "name": {"en": "Final", "fr": "Finale"},
            "startTime": "2030-07-12T21:00:00+02:00",
            "expirationDate": "2030-07-13T21:00:00+02:00",
            "address": {"site": "Stade", "city": "Paris", "zip": "75000", "countryCode": "FR"},
            "metadata": {"RESALE_TICKETSHOP_URL": "https://shop.example.org"}
        },
        "purchaseDetails": {"taxationNumber": format!("TAX-{id}"), "fileId": "F1", "price": 120.0,
                            "currency": "EUR"},
        "security": {"barcode": format!("BC-{id}")},
        "spectatorDetails": {"email": email, "firstName": "Ada", "lastName": "Lovelace"},
        "ticketDetails": {"main": [{"key": "Gate", "value": "A"}]}
    })
}

/// Runs `check` against the service on SQLite.
pub async fn on_sqlite<F, Fut>(check: F)
where
    F: FnOnce(Arc<TestApp>) -> Fut,
    Fut: Future<Output = ()>,
{
    on_sqlite_with(test_config(), check).await
}

/// Runs `check` against the service on SQLite, configured with `config`.
pub async fn on_sqlite_with<F, Fut>(config: tixbridge_wallet::ServiceConfig, check: F)
where
    F: FnOnce(Arc<TestApp>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = RawDb::Sqlite(dir.path().join("wallet.db"));
    let app = Arc::new(TestApp::start(raw, config).await);
    check(app.clone()).await;
    if let Ok(app) = Arc::try_unwrap(app) {
        app.stop().await;
    }
}

use tixbridge_store::testing::pg_test_url as pg_url;

/// Runs `check` against the service on PostgreSQL in a fresh schema, dropped at the
/// end whether the check passed or not. Skips without `TIXBRIDGE_TEST_PG`.
pub async fn on_postgres<F, Fut>(check: F)
where
    F: FnOnce(Arc<TestApp>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    on_postgres_with(test_config(), check).await
}

/// Runs `check` against the service on PostgreSQL, configured with `config`.
pub async fn on_postgres_with<F, Fut>(config: tixbridge_wallet::ServiceConfig, check: F)
where
    F: FnOnce(Arc<TestApp>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(base) = pg_url() else {
        eprintln!("TIXBRIDGE_TEST_PG not set: skipping the PostgreSQL run");
        return;
    };
    let (schema_url, schema) = tixbridge_store::testing::fresh_schema(&base, "t");
    let raw = RawDb::Postgres {
        base: base.clone(),
        schema: schema.clone(),
        url: schema_url,
    };
    let app = Arc::new(TestApp::start(raw, config).await);
    let outcome = tokio::spawn(check(app.clone())).await;
    if let Ok(app) = Arc::try_unwrap(app) {
        app.stop().await;
    }
    tixbridge_store::testing::drop_schema(&base, &schema).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Runs `check` with a service it owns (it may restart it), on SQLite.
pub async fn owned_on_sqlite<F, Fut>(config: tixbridge_wallet::ServiceConfig, check: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = RawDb::Sqlite(dir.path().join("wallet.db"));
    check(TestApp::start(raw, config).await).await;
}

/// Runs `check` with a service it owns (it may restart it), on PostgreSQL.
pub async fn owned_on_postgres<F, Fut>(config: tixbridge_wallet::ServiceConfig, check: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(base) = pg_url() else {
        eprintln!("TIXBRIDGE_TEST_PG not set: skipping the PostgreSQL run");
        return;
    };
    let (url, schema) = tixbridge_store::testing::fresh_schema(&base, "t");
    let raw = RawDb::Postgres {
        base: base.clone(),
        schema: schema.clone(),
        url,
    };
    let app = TestApp::start(raw, config).await;
    let outcome = tokio::spawn(check(app)).await;
    tixbridge_store::testing::drop_schema(&base, &schema).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
