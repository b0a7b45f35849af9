//! `spawn_app`: the real service on 127.0.0.1:0 over a fresh store (SQLite in a temp
//! dir, or PostgreSQL in a throwaway schema), with two organizers and a client.

use std::future::Future;
use std::sync::Arc;

use serde_json::{Value, json};
use tixbridge_store::{Organizer, WalletStore};
use tokio::sync::oneshot;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn WalletStore>,
    pub org_a: Organizer,
    pub key_a: String,
    pub org_b: Organizer,
    pub key_b: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    async fn start(store: Arc<dyn WalletStore>) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (org_a, key_a) = tixbridge_wallet::create_organizer(store.as_ref(), "Club A")
            .await
            .expect("organizer A");
        let (org_b, key_b) = tixbridge_wallet::create_organizer(store.as_ref(), "Club B")
            .await
            .expect("organizer B");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(tixbridge_wallet::serve(listener, store.clone(), async {
            let _ = stopped.await;
        }));
        TestApp {
            base,
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
            "startTime": "2026-07-12T21:00:00+02:00",
            "expirationDate": "2026-07-13T21:00:00+02:00",
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
    let dir = tempfile::tempdir().expect("temp dir");
    let store = tixbridge_store::sqlite::open_wallet(&dir.path().join("wallet.db"))
        .await
        .expect("open SQLite wallet store");
    let app = Arc::new(TestApp::start(store).await);
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
    let Some(base) = pg_url() else {
        eprintln!("TIXBRIDGE_TEST_PG not set: skipping the PostgreSQL run");
        return;
    };
    let (schema_url, schema) = tixbridge_store::testing::fresh_schema(&base, "t");
    let store = tixbridge_store::postgres::open_wallet(&schema_url)
        .await
        .expect("open PostgreSQL wallet store");
    let app = Arc::new(TestApp::start(store).await);
    let outcome = tokio::spawn(check(app.clone())).await;
    if let Ok(app) = Arc::try_unwrap(app) {
        app.stop().await;
    }
    tixbridge_store::testing::drop_schema(&base, &schema).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
