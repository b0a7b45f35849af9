//! The wallet's input rules through HTTP (issue 7): prices (item 2), control
//! characters and NFC lengths on every route (item 5), ids repeated in one call (item
//! 6), arrays where objects are wanted (item 10), semantics the wallet refuses (item
//! 12), and "once controlled, always controlled" (item 14). Each check runs against the
//! real service on SQLite and on PostgreSQL.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::lifecycle::{act, body, code, log_len, my_tickets, post_as, record, session};
use crate::privileges::privilege;
use crate::support::{TestApp, ticket};

/// One `#[tokio::test]` per check and backend: `input_sqlite::NAME` and
/// `input_postgres::NAME`.
macro_rules! input_tests {
    ($($name:ident),* $(,)?) => {
        mod input_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::support::on_sqlite(|app| async move {
                        super::$name(&app).await
                    })
                    .await;
                }
            )*
        }
        mod input_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::support::on_postgres(|app| async move {
                        super::$name(&app).await
                    })
                    .await;
                }
            )*
        }
    };
}

input_tests!(
    prices_follow_one_rule_in_json_and_csv,
    control_characters_are_refused_per_ticket_and_field,
    no_route_answers_5xx_to_control_characters,
    lengths_are_counted_after_nfc,
    ids_repeated_in_one_call_are_refused_after_the_first,
    arrays_where_objects_are_wanted_are_400,
    semantics_the_wallet_refuses,
    a_controlled_ticket_stays_controlled_through_transfers,
);

/// Controlled tickets in transit time out like pending transfers, on both backends.
mod timeouts {
    use crate::support::{on_postgres_with, on_sqlite_with, test_config};

    fn quick_transfers() -> tixbridge_wallet::ServiceConfig {
        let mut c = test_config();
        c.settings.transfer_timeout = chrono::Duration::seconds(1);
        c
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_a_controlled_transfer_times_out_controlled() {
        on_sqlite_with(quick_transfers(), |app| async move {
            super::a_controlled_transfer_times_out_controlled(&app).await
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_a_controlled_transfer_times_out_controlled() {
        on_postgres_with(quick_transfers(), |app| async move {
            super::a_controlled_transfer_times_out_controlled(&app).await
        })
        .await;
    }
}

// ---- helpers ----

/// Results of a write call that must answer 200.
async fn results(app: &TestApp, path: &str, payload: Value) -> Vec<Value> {
    let (s, v) = post_as(app, &app.key_a, path, payload).await;
    assert_eq!(s, StatusCode::OK, "{path}: {v}");
    v["results"].as_array().expect("results").clone()
}

fn with(mut t: Value, pointer: &str, value: Value) -> Value {
    *t.pointer_mut(pointer).expect(pointer) = value;
    t
}

fn ko(r: &Value, code: &str, field: &str) {
    assert_eq!(r["result"], "KO", "{r}");
    assert_eq!(r["errorCode"], code, "{r}");
    let message = r["message"].as_str().unwrap_or("");
    assert!(message.contains(field), "{field} not named: {r}");
}

async fn csv(app: &TestApp, file: String) -> Value {
    let (s, v) = body(
        app.client
            .post(app.url("/organizer/tickets/csv"))
            .header("X-Api-Key", &app.key_a)
            .header("content-type", "text/csv")
            .body(file)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

const CSV_HEADER: &str = "ticketId,event.id,event.name,event.startTime,event.expirationDate,\
event.address.site,event.address.city,event.address.zip,event.address.countryCode,\
purchaseDetails.taxationNumber,security.barcode,spectatorDetails.email";

fn csv_row(id: &str) -> String {
    format!(
        "{id},E9,Final,2030-07-12T21:00:00+02:00,2030-07-13T21:00:00+02:00,Stade,Paris,75000,FR,TX-{id},BC-{id},ann@example.org"
    )
}

async fn statistics(app: &TestApp, event: &str) -> Value {
    let (s, v) = body(
        app.get(&format!("/organizer/events/{event}/statistics"))
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

/// The track record's length once the sweeper has nothing left to do: unchanged over
/// several of its rounds.
async fn settled_log_len(app: &TestApp) -> usize {
    let mut last = log_len(app).await;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = log_len(app).await;
        if now == last {
            return now;
        }
        last = now;
    }
}

// ---- item 2: money ----

pub async fn prices_follow_one_rule_in_json_and_csv(app: &TestApp) {
    let priced = |id: &str, price: Value, currency: &str| {
        let t = with(
            ticket(id, "E1", "ann@example.org"),
            "/purchaseDetails/price",
            price,
        );
        with(t, "/purchaseDetails/currency", json!(currency))
    };
    let r = results(
        app,
        "/organizer/tickets",
        json!({"tickets": [
            priced("M1", json!(4.2), "USD"),
            priced("M2", json!(4.205), "USD"),
            priced("M3", json!(-4.2), "USD"),
            priced("M4", json!(4500), "JPY"),
            priced("M5", json!(45.5), "JPY"),
            priced("M6", json!(4), "EURO"),
            priced("M7", json!(4.205), "BHD"),
        ]}),
    )
    .await;
    assert_eq!(r[0]["result"], "OK", "{}", r[0]);
    ko(&r[1], "INVALID_FIELD", "purchaseDetails.price");
    ko(&r[2], "INVALID_FIELD", "never negative");
    assert_eq!(r[3]["result"], "OK", "{}", r[3]);
    ko(&r[4], "INVALID_FIELD", "purchaseDetails.price");
    ko(&r[5], "INVALID_FIELD", "purchaseDetails.currency");
    assert_eq!(r[6]["result"], "OK", "{}", r[6]);
    for refused in ["M2", "M3", "M5", "M6"] {
        let (s, _) = body(app.get(&format!("/organizer/tickets/{refused}")).await).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{refused} was stored");
    }
    // The contract's price is a JSON number: a string is a wrong type, the call's 400.
    let (s, v) = post_as(
        app,
        &app.key_a,
        "/organizer/tickets",
        json!({"tickets": [priced("M8", json!("4.20"), "USD")]}),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_JSON"),
        "{v}"
    );

    // CSV: the same rule, and a refused row still names its ticket.
    let semicolons = format!(
        "{};purchaseDetails.currency;purchaseDetails.price\n{};USD;1,234\n{};USD;12.50\n",
        CSV_HEADER.replace(',', ";"),
        csv_row("MC1").replace(',', ";"),
        csv_row("MC2").replace(',', ";"),
    );
    let v = csv(app, semicolons).await;
    let rows = v["results"].as_array().unwrap();
    ko(&rows[0], "INVALID_VALUE", "purchaseDetails.price");
    assert_eq!(rows[0]["ticketId"], "MC1");
    assert_eq!(rows[1]["result"], "OK", "{v}");
    assert_eq!(
        record(app, "MC2").await["ticket"]["purchaseDetails"]["price"],
        json!(12.5)
    );
    let commas = format!(
        "{CSV_HEADER},purchaseDetails.currency,purchaseDetails.price\n{},USD,4.205\n{},USD,-4.20\n",
        csv_row("MC3"),
        csv_row("MC4"),
    );
    let v = csv(app, commas).await;
    for (r, id) in v["results"].as_array().unwrap().iter().zip(["MC3", "MC4"]) {
        ko(r, "INVALID_VALUE", "purchaseDetails.price");
        assert_eq!(r["ticketId"], id);
    }
}

// ---- item 5: text ----

pub async fn control_characters_are_refused_per_ticket_and_field(app: &TestApp) {
    let detail = json!({"main": [{"key": "Gate", "value": "A\n\tleft"}]});
    let r = results(
        app,
        "/organizer/tickets",
        json!({"tickets": [
            with(ticket("X1", "E1", "ann@example.org"), "/event/name", json!({"en": "Fi\u{0}nal"})),
            with(ticket("X2", "E1", "ann@example.org"), "/ticketDetails", detail),
            with(ticket("X3", "E1", "ann@example.org"), "/spectatorDetails/lastName", json!("Love\u{7f}lace")),
            with(ticket("X4", "E1", "ann@example.org"), "/event/metadata", json!({"K": "a\nb"})),
        ]}),
    )
    .await;
    ko(&r[0], "INVALID_CHARACTER", "event.name.en");
    assert_eq!(
        r[1]["result"], "OK",
        "a multi-line detail is accepted: {}",
        r[1]
    );
    ko(&r[2], "INVALID_CHARACTER", "spectatorDetails.lastName");
    ko(&r[3], "INVALID_CHARACTER", "event.metadata.K");

    let r = results(
        app,
        "/organizer/tickets/delete",
        json!({"tickets": [
            {"ticketId": "X2", "reason": "CANCEL\u{0}LED", "showDeletedTicket": false},
            {"ticketId": "X\u{0}2", "reason": "CANCELLED", "showDeletedTicket": false},
        ]}),
    )
    .await;
    ko(&r[0], "INVALID_CHARACTER", "reason");
    ko(&r[1], "INVALID_CHARACTER", "ticketId");
    let r = results(
        app,
        "/organizer/tickets/controlled",
        json!({"tickets": [{"ticketId": "X2\u{1}"}]}),
    )
    .await;
    ko(&r[0], "INVALID_CHARACTER", "ticketId");
    assert_eq!(record(app, "X2").await["status"], "INJECTED");

    let p = with(
        privilege("PX1", "D1", "ann@example.org"),
        "/definition/name",
        json!("Sea\u{0}son"),
    );
    let r = results(app, "/organizer/privileges", json!({"privileges": [p]})).await;
    ko(&r[0], "INVALID_CHARACTER", "definition.name");

    // A single body (the app, the back office) is the call's 400, naming the field.
    let (s, v) = post_as(
        app,
        &app.key_a,
        "/organizer/tickets/X2/transfer",
        json!({"to": {"email": "bob@example.org", "firstName": "B\u{0}b"}}),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_CHARACTER"),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("to.firstName"),
        "{v}"
    );

    // CSV cells: per row, naming the column; ticket details are multi-line.
    let file = format!(
        "{CSV_HEADER},ticketDetails.main.Gate,spectatorDetails.firstName\n{},\"A\nB\",Ann\n{},B,\"A\u{7}nn\"\n",
        csv_row("XC1"),
        csv_row("XC2"),
    );
    let v = csv(app, file).await;
    let rows = v["results"].as_array().unwrap();
    assert_eq!(rows[0]["result"], "OK", "{v}");
    ko(&rows[1], "INVALID_CHARACTER", "spectatorDetails.firstName");
    assert_eq!(rows[1]["ticketId"], "XC2");

    // Paths and queries: 400, naming the segment or the parameter.
    let (s, v) = body(app.get("/organizer/tickets/X%002").await).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_CHARACTER"),
        "{v}"
    );
    let (s, v) = body(app.get("/organizer/tickets?q=X%002").await).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_CHARACTER"),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("query parameter q"),
        "{v}"
    );
}

/// Every route of `operations()`, with a NUL and other control characters in its path
/// parameters, in its query and in a body carrying every field name the routes read:
/// never a 5xx. The PostgreSQL run is the one that used to answer 500.
pub async fn no_route_answers_5xx_to_control_characters(app: &TestApp) {
    crate::lifecycle::inject_ok(app, vec![ticket("R1", "E1", "ann@example.org")]).await;
    let token = session(app, "ann@example.org").await;
    let nul = "N\u{0}\u{1b}\u{7f}";
    let mut tainted_ticket = ticket("R\u{0}2", "E1", "ann@example.org");
    tainted_ticket["event"]["name"] = json!(nul);
    let body_with_nul = json!({
        "tickets": [tainted_ticket, {"ticketId": nul, "reason": nul, "controlledAt": nul}],
        "privileges": [{"privilegeId": nul, "reason": nul}],
        "email": format!("{nul}@example.org"),
        "organizerId": app.org_a.id,
        "to": nul,
        "holder": {"firstName": nul, "lastName": nul},
        "method": nul,
        "code": nul,
    });
    let csv_with_nul = format!("{CSV_HEADER}\n{}\u{0}\n", csv_row("RC1"));
    let mut checked = 0;
    for (method, path, _) in tixbridge_wallet::operations() {
        for (param, query) in [
            ("R%001", "?q=%00&paginationKey=%00&from=%00&eventId=%00"),
            ("R1", ""),
        ] {
            let path = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { param } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let mut req = app
                .client
                .request(method.clone(), app.url(&format!("{path}{query}")))
                .header("X-Api-Key", &app.key_a)
                .bearer_auth(&token);
            if method == Method::POST {
                req = if path.ends_with("/csv") {
                    req.header("content-type", "text/csv")
                        .body(csv_with_nul.clone())
                } else {
                    req.json(&body_with_nul)
                };
            }
            let resp = req.send().await.expect("send");
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            assert!(
                !status.is_server_error(),
                "{method} {path}{query}: {status} {text}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 2 * 25, "only {checked} requests");
    // Nothing with a control character was stored.
    let (_, v) = body(app.get("/organizer/tickets?limit=1000").await).await;
    assert_eq!(v["total"], 1, "{v}");
    let (_, v) = body(app.get("/organizer/report/verify").await).await;
    assert_eq!(v["valid"], true, "{v}");
}

pub async fn lengths_are_counted_after_nfc(app: &TestApp) {
    let combining = "e\u{301}".repeat(30);
    let r = results(
        app,
        "/organizer/tickets",
        json!({"tickets": [
            with(ticket("L1", "E1", "ann@example.org"), "/spectatorDetails/firstName", json!(combining)),
            with(ticket("L2", "E1", "ann@example.org"), "/spectatorDetails/firstName", json!("e\u{301}".repeat(51))),
        ]}),
    )
    .await;
    assert_eq!(
        r[0]["result"], "OK",
        "30 accented letters are 30 characters: {}",
        r[0]
    );
    ko(&r[1], "FIELD_TOO_LONG", "spectatorDetails.firstName");
}

// ---- item 6: repeated ids ----

pub async fn ids_repeated_in_one_call_are_refused_after_the_first(app: &TestApp) {
    let seat = |n: &str| {
        with(
            ticket("D1", "E1", "ann@example.org"),
            "/ticketDetails",
            json!({"main": [{"key": "Seat", "value": n}]}),
        )
    };
    let call = json!({"tickets": [seat("12"), seat("13")]});
    for _ in 0..2 {
        let r = results(app, "/organizer/tickets", call.clone()).await;
        assert_eq!(r[0]["result"], "OK", "{}", r[0]);
        ko(&r[1], "DUPLICATE_IN_REQUEST", "tickets[0]");
        assert_eq!(r[1]["ticketId"], "D1");
    }
    let d1 = record(app, "D1").await;
    assert_eq!(d1["ticket"]["ticketDetails"]["main"][0]["value"], "12");
    let (_, log) = body(
        app.get("/organizer/report/ticket-status-logs?limit=100")
            .await,
    )
    .await;
    let entries: Vec<(String, String)> = log["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["ticketId"].as_str().unwrap().into(),
                e["action"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(entries, vec![("D1".to_owned(), "INJECT".to_owned())]);

    // Every write call: the repeat is refused, and an identical retry appends nothing.
    crate::lifecycle::inject_ok(app, vec![ticket("D2", "E1", "ann@example.org")]).await;
    let calls = [
        (
            "/organizer/tickets/controlled",
            json!({"tickets": [{"ticketId": "D2"}, {"ticketId": "D2"}]}),
            "tickets[0]",
        ),
        (
            "/organizer/tickets/delete",
            json!({"tickets": [
            {"ticketId": "D1", "reason": "CANCELLED", "showDeletedTicket": false},
            {"ticketId": "D1", "reason": "RESOLD", "showDeletedTicket": true}]}),
            "tickets[0]",
        ),
        (
            "/organizer/privileges",
            json!({"privileges": [
            privilege("DP1", "DEF", "ann@example.org"),
            with(privilege("DP1", "DEF", "ann@example.org"), "/security/barcode", json!("OTHER"))]}),
            "privileges[0]",
        ),
        (
            "/organizer/privileges/delete",
            json!({"privileges": [
            {"privilegeId": "DP1", "reason": "CANCELLED"}, {"privilegeId": "DP1", "reason": "RESOLD"}]}),
            "privileges[0]",
        ),
    ];
    for (path, payload, first) in calls {
        let r = results(app, path, payload.clone()).await;
        assert_eq!(r[0]["result"], "OK", "{path}: {}", r[0]);
        ko(&r[1], "DUPLICATE_IN_REQUEST", first);
        // A deletion is confirmed by the sweeper (delay 0 in tests): let it land first.
        let before = settled_log_len(app).await;
        let r = results(app, path, payload).await;
        assert_eq!(r[0]["result"], "OK", "{path} retried: {}", r[0]);
        assert_eq!(
            log_len(app).await,
            before,
            "{path}: a retry appended to the track record"
        );
    }
    assert_eq!(record(app, "D1").await["deletion"]["reason"], "CANCELLED");

    // CSV: the later row names the first one.
    let file = format!("{CSV_HEADER}\n{}\n{}\n", csv_row("DC1"), csv_row("DC1"));
    let v = csv(app, file).await;
    let rows = v["results"].as_array().unwrap();
    assert_eq!(rows[0]["result"], "OK", "{v}");
    ko(&rows[1], "DUPLICATE_IN_REQUEST", "row 1");
}

// ---- item 10: wrong JSON types ----

pub async fn arrays_where_objects_are_wanted_are_400(app: &TestApp) {
    crate::lifecycle::inject_ok(app, vec![ticket("ARR1", "E1", "ann@example.org")]).await;
    let token = session(app, "ann@example.org").await;
    let bodies = [
        (
            "/organizer/tickets/delete",
            json!({"tickets": [["ARR1", "CANCELLED", false]]}),
        ),
        (
            "/organizer/tickets/controlled",
            json!({"tickets": [["ARR1"]]}),
        ),
        ("/organizer/tickets", json!({"tickets": [["ARR1"]]})),
        (
            "/organizer/tickets",
            json!({"tickets": [with(ticket("ARR2", "E1", "a@example.org"), "/event", json!(["E1"]))]}),
        ),
        (
            "/organizer/tickets",
            json!([ticket("ARR3", "E1", "a@example.org")]),
        ),
        ("/organizer/privileges", json!({"privileges": [["P1"]]})),
        (
            "/organizer/privileges/delete",
            json!({"privileges": [["P1", "CANCELLED"]]}),
        ),
        (
            "/organizer/tickets/ARR1/transfer",
            json!({"to": ["bob@example.org"]}),
        ),
    ];
    for (path, payload) in bodies {
        let (s, v) = post_as(app, &app.key_a, path, payload).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::BAD_REQUEST, "INVALID_JSON"),
            "{path}: {v}"
        );
    }
    let (s, v) = act(
        app,
        &token,
        "ARR1",
        "assign",
        Some(json!({"holder": ["Ann", "Lee"]})),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_JSON"),
        "{v}"
    );
    let r = record(app, "ARR1").await;
    assert_eq!(r["status"], "INJECTED", "{r}");
    assert_eq!(log_len(app).await, 1);
}

// ---- item 12: semantics ----

pub async fn semantics_the_wallet_refuses(app: &TestApp) {
    let early = with(
        ticket("S1", "E1", "ann@example.org"),
        "/event/expirationDate",
        json!("2030-07-12T20:00:00+02:00"),
    );
    let r = results(
        app,
        "/organizer/tickets",
        json!({"tickets": [early, ticket("S2", "E1", "ann@example.org")]}),
    )
    .await;
    ko(&r[0], "INVALID_FIELD", "event.expirationDate");
    assert_eq!(r[1]["result"], "OK");

    let far = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let r = results(
        app,
        "/organizer/tickets/controlled",
        json!({"tickets": [{"ticketId": "S2", "controlledAt": far}]}),
    )
    .await;
    ko(&r[0], "INVALID_FIELD", "controlledAt");
    assert_eq!(record(app, "S2").await["status"], "INJECTED");
    let r = results(
        app,
        "/organizer/tickets/controlled",
        json!({"tickets": [{"ticketId": "S2", "controlledAt": soon}]}),
    )
    .await;
    assert_eq!(r[0]["status"], "CONTROLLED", "{}", r[0]);

    let p = with(
        privilege("SP1", "SD", "ann@example.org"),
        "/definition/validTo",
        json!("2026-07-01T00:00:00+02:00"),
    );
    let r = results(app, "/organizer/privileges", json!({"privileges": [p]})).await;
    ko(&r[0], "INVALID_FIELD", "definition.validTo");
}

// ---- item 14: once controlled, always controlled ----

/// Injects `id` allowing transfers after control, downloads it as ann and controls it.
async fn controlled_ticket(app: &TestApp, id: &str, ann: &str) {
    let mut t = ticket(id, "EC", "ann@example.org");
    t["transferRules"] = json!({"allowTransfer": true, "allowTransferAfterControl": true});
    crate::lifecycle::inject_ok(app, vec![t]).await;
    let (s, v) = act(app, ann, id, "download", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let r = results(
        app,
        "/organizer/tickets/controlled",
        json!({"tickets": [{"ticketId": id}]}),
    )
    .await;
    assert_eq!(r[0]["status"], "CONTROLLED", "{}", r[0]);
}

async fn send_to_bob(app: &TestApp, ann: &str, id: &str) {
    let (s, v) = act(
        app,
        ann,
        id,
        "transfer",
        Some(json!({"to": "bob@example.org"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["status"], "CONTROLLED",
        "in transit, still controlled: {v}"
    );
    assert_eq!(v["transfer"]["to"]["email"], "bob@example.org", "{v}");
}

pub async fn a_controlled_ticket_stays_controlled_through_transfers(app: &TestApp) {
    let ann = session(app, "ann@example.org").await;
    let bob = session(app, "bob@example.org").await;
    for id in ["K1", "K2", "K3"] {
        controlled_ticket(app, id, &ann).await;
        send_to_bob(app, &ann, id).await;
    }
    let stats = statistics(app, "EC").await;
    assert_eq!(
        (
            stats["controlled"].as_i64(),
            stats["pendingTransfer"].as_i64()
        ),
        (Some(3), Some(0)),
        "{stats}"
    );
    let incoming = my_tickets(app, &bob).await["incomingTransfers"].clone();
    assert_eq!(incoming.as_array().map(Vec::len), Some(3), "{incoming}");

    // Accepted: bob owns it, still controlled, and cannot activate it.
    let (s, v) = act(app, &bob, "K1", "accept", None).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("CONTROLLED")),
        "{v}"
    );
    assert_eq!(v["owner"]["email"], "bob@example.org");
    let (s, v) = act(
        app,
        &bob,
        "K1",
        "activate",
        Some(json!({"method": "online"})),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "ILLEGAL_TRANSITION"),
        "{v}"
    );
    // Rejected and cancelled: back to ann, still controlled.
    let (s, v) = act(app, &bob, "K2", "reject", None).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("CONTROLLED")),
        "{v}"
    );
    let (s, v) = act(app, &ann, "K3", "cancel-transfer", None).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("CONTROLLED")),
        "{v}"
    );
    assert_eq!(v["owner"]["email"], "ann@example.org");
    let (s, v) = act(
        app,
        &ann,
        "K3",
        "activate",
        Some(json!({"method": "online"})),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "ILLEGAL_TRANSITION"),
        "{v}"
    );

    let stats = statistics(app, "EC").await;
    assert_eq!(
        (
            stats["controlled"].as_i64(),
            stats["pendingTransfer"].as_i64()
        ),
        (Some(3), Some(0)),
        "{stats}"
    );
    let (_, v) = body(app.get("/organizer/report/verify").await).await;
    assert_eq!(v["valid"], true, "{v}");
}

pub async fn a_controlled_transfer_times_out_controlled(app: &TestApp) {
    let ann = session(app, "ann@example.org").await;
    controlled_ticket(app, "KT1", &ann).await;
    send_to_bob(app, &ann, "KT1").await;
    let start = std::time::Instant::now();
    loop {
        let r = record(app, "KT1").await;
        if r["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "TRANSFER_TIMEOUT")
        {
            assert_eq!(r["status"], "CONTROLLED", "{r}");
            assert!(r["transfer"].is_null(), "{r}");
            assert_eq!(r["owner"]["email"], "ann@example.org");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no time-out: {r}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
