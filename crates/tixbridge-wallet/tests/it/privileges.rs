//! Digital privileges through HTTP (WALLET-API.md "Digital privileges"): injection,
//! idempotent retries, updates, per-privilege validation, deletion and its
//! confirmation, spent ids, the shared track record, organizer isolation, call sizes
//! and authentication. Each check runs on SQLite and on PostgreSQL.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, ticket};

/// One `#[tokio::test]` per check and backend: `privileges_sqlite::NAME` and
/// `privileges_postgres::NAME`.
macro_rules! privilege_tests {
    ($($name:ident),* $(,)?) => {
        mod privileges_sqlite {
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
        mod privileges_postgres {
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

privilege_tests!(
    privileges_are_injected_read_and_retried,
    invalid_privileges_are_refused_naming_the_field,
    privileges_are_deleted_then_confirmed_and_their_ids_spent,
    privileges_share_the_track_record_with_tickets,
    another_organizers_privilege_is_not_found,
    privilege_calls_are_limited_in_size,
    privilege_calls_need_a_key,
);

// ---- helpers ----

/// A complete privilege as JSON.
pub(crate) fn privilege(id: &str, def: &str, email: &str) -> Value {
    json!({
        "privilegeId": id,
        "definition": {
            "id": def,
            "name": {"en": "Season card 2026/27", "fr": "Abonnement 2026/27"},
            "type": "SEASON_CARD",
            "validFrom": "2026-08-01T00:00:00+02:00",
            "validTo": "2027-06-30T23:59:59+02:00",
            "imageUrl": "https://cdn.example.org/season.png"
        },
        "purchaseDetails": {"taxationNumber": format!("TAX-{id}"), "price": 480.0, "currency": "EUR"},
        "security": {"barcode": format!("BC-{id}")},
        "spectatorDetails": {"email": email, "firstName": "Ada", "lastName": "Lovelace"},
        "linkedTicketIds": ["M01", "M02"],
        "details": {"main": [{"key": "Block", "value": "112"}]}
    })
}

async fn body(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let v = resp.json().await.unwrap_or(Value::Null);
    (status, v)
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

async fn post_as(app: &TestApp, key: &str, path: &str, payload: Value) -> (StatusCode, Value) {
    body(
        app.client
            .post(app.url(path))
            .header("X-Api-Key", key)
            .json(&payload)
            .send()
            .await
            .expect("send"),
    )
    .await
}

/// `POST /organizer/privileges` as organizer A; asserts 200 and answers the results.
async fn inject(app: &TestApp, privileges: Vec<Value>) -> Vec<Value> {
    inject_as(app, &app.key_a, privileges).await
}

async fn inject_as(app: &TestApp, key: &str, privileges: Vec<Value>) -> Vec<Value> {
    let (s, v) = post_as(
        app,
        key,
        "/organizer/privileges",
        json!({ "privileges": privileges }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["results"].as_array().expect("results").clone()
}

/// `POST /organizer/privileges/delete` as the organizer with `key`.
async fn delete_as(app: &TestApp, key: &str, deletions: Value) -> Vec<Value> {
    let (s, v) = post_as(
        app,
        key,
        "/organizer/privileges/delete",
        json!({ "privileges": deletions }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["results"].as_array().expect("results").clone()
}

/// `GET /organizer/privileges/{id}` as organizer A.
async fn read(app: &TestApp, id: &str) -> (StatusCode, Value) {
    body(app.get(&format!("/organizer/privileges/{id}")).await).await
}

/// Waits for organizer A's privilege `id` to be `DELETED`. The service's sweeper may
/// confirm it; the store's own sweep step is run too, so the check does not depend
/// on whether the service sweeps privileges.
async fn wait_deleted(app: &TestApp, id: &str) -> Value {
    for _ in 0..100 {
        let (s, v) = read(app, id).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if v["status"] == "DELETED" {
            return v;
        }
        app.store
            .confirm_due_privileges(chrono::Utc::now(), 100)
            .await
            .expect("confirm due privileges");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("privilege {id} was never confirmed DELETED");
}

// ---- checks ----

pub async fn privileges_are_injected_read_and_retried(app: &TestApp) {
    let r = inject(
        app,
        vec![
            privilege("P1", "SEASON-26", "ada@example.org"),
            privilege("P2", "SEASON-26", "bob@example.org"),
        ],
    )
    .await;
    assert_eq!(
        r,
        [
            json!({"ticketId": "P1", "result": "OK", "status": "INJECTED"}),
            json!({"ticketId": "P2", "result": "OK", "status": "INJECTED"}),
        ]
    );

    let (s, v) = read(app, "P1").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["privilege"],
        privilege("P1", "SEASON-26", "ada@example.org")
    );
    assert_eq!(v["status"], "INJECTED");
    assert!(v["statusChangedAt"].is_string());
    assert_eq!(v["owner"]["email"], "ada@example.org");
    assert_eq!(v["deletion"], Value::Null);
    let history = v["history"].as_array().expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["action"], "PRIVILEGE_INJECT");
    assert_eq!(history[0]["ticketId"], "P1");
    assert_eq!(history[0]["toStatus"], "INJECTED");
    assert_eq!(history[0]["actor"], "ORGANIZER_API");

    // The same privilege again (a retry): OK, nothing recorded.
    let r = inject(app, vec![privilege("P1", "SEASON-26", "ada@example.org")]).await;
    assert_eq!(r[0]["result"], "OK");
    assert_eq!(r[0]["status"], "INJECTED");
    let (_, v) = read(app, "P1").await;
    assert_eq!(v["history"].as_array().expect("history").len(), 1);

    // Different content: updated, owner follows the recipient, one entry.
    let mut changed = privilege("P1", "SEASON-26", "carol@example.org");
    changed["linkedTicketIds"] = json!(["M01", "M02", "M03"]);
    let r = inject(app, vec![changed.clone()]).await;
    assert_eq!(r[0]["status"], "INJECTED");
    let (_, v) = read(app, "P1").await;
    assert_eq!(v["privilege"], changed);
    assert_eq!(v["owner"]["email"], "carol@example.org");
    let history = v["history"].as_array().expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["action"], "PRIVILEGE_UPDATE");
    assert_eq!(history[1]["fromOwner"], "ada@example.org");
    assert_eq!(history[1]["toOwner"], "carol@example.org");

    // A changed definition updates it for every privilege of that definition.
    let mut renamed = privilege("P3", "SEASON-26", "dan@example.org");
    renamed["definition"]["name"] = json!("Season card 2026/27 — Gold");
    inject(app, vec![renamed.clone()]).await;
    let (_, v) = read(app, "P2").await;
    assert_eq!(v["privilege"]["definition"], renamed["definition"]);
}

pub async fn invalid_privileges_are_refused_naming_the_field(app: &TestApp) {
    let mut no_type = privilege("V2", "D1", "a@example.org");
    no_type["definition"]
        .as_object_mut()
        .expect("definition")
        .remove("type");
    let mut bad_type = privilege("V3", "D1", "a@example.org");
    bad_type["definition"]["type"] = json!("TICKET");
    let mut no_email = privilege("V4", "D1", "a@example.org");
    no_email["spectatorDetails"]
        .as_object_mut()
        .expect("spectator")
        .remove("email");
    let mut bad_date = privilege("V5", "D1", "a@example.org");
    bad_date["definition"]["validTo"] = json!("next summer");
    let r = inject(
        app,
        vec![
            privilege("V1", "D1", "a@example.org"),
            no_type,
            bad_type,
            no_email,
            bad_date,
            privilege("bad#id", "D1", "a@example.org"),
            json!({"definition": {"id": "D1"}}),
        ],
    )
    .await;
    assert_eq!(r.len(), 7);
    assert_eq!(r[0]["result"], "OK");
    let refusals: Vec<(&str, &str, &str)> = r[1..]
        .iter()
        .map(|x| {
            assert_eq!(x["result"], "KO", "{x}");
            (
                x["ticketId"].as_str().expect("id"),
                x["errorCode"].as_str().expect("code"),
                x["message"].as_str().expect("message"),
            )
        })
        .collect();
    assert_eq!(
        refusals,
        [
            ("V2", "MISSING_FIELD", "definition.type is required"),
            (
                "V3",
                "INVALID_FIELD",
                "definition.type must be MEMBERSHIP or SEASON_CARD"
            ),
            ("V4", "MISSING_FIELD", "spectatorDetails.email is required"),
            (
                "V5",
                "INVALID_FIELD",
                "definition.validTo must be an RFC 3339 time with offset"
            ),
            (
                "bad#id",
                "INVALID_FIELD",
                "privilegeId may contain only letters, digits, space and *.-_+/()"
            ),
            ("", "MISSING_FIELD", "privilegeId is required"),
        ]
    );
    // Refused privileges were not stored.
    for id in ["V2", "V3", "V4", "V5"] {
        let (s, v) = read(app, id).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    }
    // Wrong types are the whole call's error.
    let (s, v) = post_as(
        app,
        &app.key_a,
        "/organizer/privileges",
        json!({"privileges": [{"privilegeId": 12}]}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(code(&v), "INVALID_JSON");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("privileges[0].privilegeId")),
        "{v}"
    );
}

pub async fn privileges_are_deleted_then_confirmed_and_their_ids_spent(app: &TestApp) {
    inject(
        app,
        vec![
            privilege("P1", "D1", "ada@example.org"),
            privilege("P2", "D1", "bob@example.org"),
        ],
    )
    .await;
    let r = delete_as(
        app,
        &app.key_a,
        json!([
            {"privilegeId": "P1", "reason": "RESOLD", "showDeletedTicket": true},
            {"privilegeId": "NOPE", "reason": "RESOLD", "showDeletedTicket": false},
            {"privilegeId": "P2"},
        ]),
    )
    .await;
    assert_eq!(
        r[0],
        json!({"ticketId": "P1", "result": "OK", "status": "DELETION_PENDING"})
    );
    assert_eq!(r[1]["errorCode"], "PRIVILEGE_NOT_FOUND");
    assert_eq!(r[2]["errorCode"], "MISSING_FIELD");
    assert_eq!(r[2]["message"], "reason is required");

    let v = wait_deleted(app, "P1").await;
    let d = &v["deletion"];
    assert_eq!(d["reason"], "RESOLD");
    assert_eq!(d["showDeletedTicket"], true);
    assert!(
        d["requestedAt"].is_string() && d["confirmedAt"].is_string(),
        "{v}"
    );
    let actions: Vec<&str> = v["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "PRIVILEGE_INJECT",
            "PRIVILEGE_DELETE",
            "PRIVILEGE_CONFIRM_DELETION"
        ]
    );
    let history = v["history"].as_array().expect("history");
    assert_eq!(history[1]["detail"], "reason=RESOLD");
    assert_eq!(history[2]["actor"], "SYSTEM");

    // The same delete again: OK, nothing new. A new reason: recorded.
    let r = delete_as(
        app,
        &app.key_a,
        json!([{"privilegeId": "P1", "reason": "RESOLD", "showDeletedTicket": true}]),
    )
    .await;
    assert_eq!(r[0]["status"], "DELETED");
    let r = delete_as(
        app,
        &app.key_a,
        json!([{"privilegeId": "P1", "reason": "FRAUD", "showDeletedTicket": false}]),
    )
    .await;
    assert_eq!(r[0]["status"], "DELETED");
    let (_, v) = read(app, "P1").await;
    assert_eq!(v["deletion"]["reason"], "FRAUD");
    let history = v["history"].as_array().expect("history");
    assert_eq!(history.len(), 4);
    assert_eq!(history[3]["action"], "PRIVILEGE_DELETE_REASON");
    assert_eq!(history[3]["detail"], "reason=FRAUD");

    // A deleted id is spent.
    let r = inject(app, vec![privilege("P1", "D1", "ada@example.org")]).await;
    assert_eq!(r[0]["result"], "KO");
    assert_eq!(r[0]["errorCode"], "TICKET_DELETED");
    let (_, v) = read(app, "P2").await;
    assert_eq!(v["status"], "INJECTED");
}

pub async fn privileges_share_the_track_record_with_tickets(app: &TestApp) {
    let (s, v) = body(
        app.client
            .post(app.url("/organizer/tickets"))
            .header("X-Api-Key", &app.key_a)
            .json(&json!({"tickets": [ticket("T1", "E1", "ada@example.org")]}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    inject(app, vec![privilege("P1", "D1", "ada@example.org")]).await;
    delete_as(
        app,
        &app.key_a,
        json!([{"privilegeId": "P1", "reason": "THEFT", "showDeletedTicket": false}]),
    )
    .await;
    wait_deleted(app, "P1").await;

    let (s, v) = body(
        app.get("/organizer/report/ticket-status-logs?limit=100")
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let entries: Vec<(&str, &str)> = v["result"]
        .as_array()
        .expect("result")
        .iter()
        .map(|e| {
            (
                e["ticketId"].as_str().expect("id"),
                e["action"].as_str().expect("action"),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("T1", "INJECT"),
            ("P1", "PRIVILEGE_INJECT"),
            ("P1", "PRIVILEGE_DELETE"),
            ("P1", "PRIVILEGE_CONFIRM_DELETION"),
        ]
    );
    let (_, v) = body(app.get("/organizer/report/verify").await).await;
    assert_eq!(v, json!({"entries": 4, "valid": true}));
    // Privileges are not tickets, and the other way round.
    let (s, _) = body(app.get("/organizer/tickets/P1").await).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = read(app, "T1").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

pub async fn another_organizers_privilege_is_not_found(app: &TestApp) {
    inject(app, vec![privilege("P1", "D1", "ada@example.org")]).await;
    let (s, theirs) = body(app.get_as(&app.key_b, "/organizer/privileges/P1").await).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, unknown) = body(app.get_as(&app.key_b, "/organizer/privileges/P9").await).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(code(&theirs), "PRIVILEGE_NOT_FOUND");
    assert_eq!(
        theirs["error"]["message"]
            .as_str()
            .map(|m| m.replace("P1", "P9")),
        unknown["error"]["message"].as_str().map(str::to_owned),
        "another organizer's privilege answers exactly like an unknown one"
    );
    let r = delete_as(
        app,
        &app.key_b,
        json!([{"privilegeId": "P1", "reason": "THEFT", "showDeletedTicket": false}]),
    )
    .await;
    assert_eq!(r[0]["errorCode"], "PRIVILEGE_NOT_FOUND");
    // B's own P1 is another privilege.
    let r = inject_as(
        app,
        &app.key_b,
        vec![privilege("P1", "D1", "zoe@example.org")],
    )
    .await;
    assert_eq!(r[0]["status"], "INJECTED");
    let (_, v) = read(app, "P1").await;
    assert_eq!(v["status"], "INJECTED");
    assert_eq!(v["owner"]["email"], "ada@example.org");
    assert_eq!(v["history"].as_array().expect("history").len(), 1);
}

pub async fn privilege_calls_are_limited_in_size(app: &TestApp) {
    let many: Vec<Value> = (0..51)
        .map(|i| privilege(&format!("M{i}"), "D1", "a@example.org"))
        .collect();
    let (s, v) = post_as(
        app,
        &app.key_a,
        "/organizer/privileges",
        json!({ "privileges": many }),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(code(&v), "TOO_MANY_PRIVILEGES");
    let deletions: Vec<Value> = (0..51)
        .map(|i| json!({"privilegeId": format!("M{i}"), "reason": "THEFT"}))
        .collect();
    let (s, v) = post_as(
        app,
        &app.key_a,
        "/organizer/privileges/delete",
        json!({ "privileges": deletions }),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(code(&v), "TOO_MANY_PRIVILEGES");
    for path in ["/organizer/privileges", "/organizer/privileges/delete"] {
        let (s, v) = post_as(app, &app.key_a, path, json!({"privileges": []})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert_eq!(code(&v), "NO_PRIVILEGES");
    }
    // Exactly 50 is accepted.
    let fifty: Vec<Value> = (0..50)
        .map(|i| privilege(&format!("M{i}"), "D1", "a@example.org"))
        .collect();
    let r = inject(app, fifty).await;
    assert_eq!(r.len(), 50);
    assert!(r.iter().all(|x| x["result"] == "OK"));
}

pub async fn privilege_calls_need_a_key(app: &TestApp) {
    let payload = json!({"privileges": [privilege("P1", "D1", "a@example.org")]});
    for path in ["/organizer/privileges", "/organizer/privileges/delete"] {
        let r = app
            .client
            .post(app.url(path))
            .json(&payload)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let (s, v) = post_as(app, "tnk_wrong", path, payload.clone()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(code(&v), "UNAUTHORIZED");
    }
    let r = app
        .client
        .get(app.url("/organizer/privileges/P1"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (s, _) = body(app.get_as("tnk_wrong", "/organizer/privileges/P1").await).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Nothing was written by the refused calls.
    assert!(
        app.store
            .privilege(app.org_a.id, "P1")
            .await
            .expect("read")
            .is_none()
    );
}
