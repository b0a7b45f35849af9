//! The checks, each against a fresh service (see `support`).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, ticket};

/// The error body's code, asserting the contract's shape.
async fn error_code(resp: reqwest::Response) -> String {
    let body: Value = resp.json().await.expect("a JSON error body");
    let err = &body["error"];
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error bodies carry a message: {body}"
    );
    err["code"].as_str().expect("an error code").to_owned()
}

async fn results(resp: reqwest::Response) -> Vec<Value> {
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("JSON");
    body["results"].as_array().expect("results").clone()
}

async fn json_ok(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("JSON")
}

pub async fn service_endpoints_answer(app: &TestApp) {
    let r = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .client
        .get(app.url("/ready"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.get("/no/such/path").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "NOT_FOUND");
    let r = app
        .client
        .delete(app.url("/organizer/tickets"))
        .header("X-Api-Key", &app.key_a)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(r).await, "METHOD_NOT_ALLOWED");
}

pub async fn organizer_calls_need_a_key(app: &TestApp) {
    let body = json!({"tickets": [ticket("T1", "E1", "a@example.org")]});
    let none = app
        .client
        .post(app.url("/organizer/tickets"))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert!(none.headers().contains_key("www-authenticate"));
    assert_eq!(error_code(none).await, "UNAUTHORIZED");

    let wrong = app
        .inject_as("tnk_wrong", vec![ticket("T1", "E1", "a@example.org")])
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(wrong).await, "UNAUTHORIZED");

    let wrong_basic = app
        .client
        .post(app.url("/organizer/tickets"))
        .basic_auth("admin@example.org", Some("tnk_wrong"))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(wrong_basic.status(), StatusCode::UNAUTHORIZED);

    for path in [
        "/organizer/tickets",
        "/organizer/tickets/T1",
        "/organizer/events",
        "/organizer/events/E1/statistics",
    ] {
        let r = app.client.get(app.url(path)).send().await.expect("send");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(error_code(r).await, "UNAUTHORIZED");
        let r = app.get_as("tnk_wrong", path).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    // Nothing was written by the refused calls.
    assert!(
        app.store
            .ticket(app.org_a.id, "T1")
            .await
            .expect("read")
            .is_none()
    );
}

pub async fn basic_auth_and_header_are_both_accepted(app: &TestApp) {
    let basic = app
        .client
        .post(app.url("/organizer/tickets"))
        .basic_auth("admin@example.org", Some(&app.key_a))
        .json(&json!({"tickets": [ticket("B1", "E1", "a@example.org")]}))
        .send()
        .await
        .expect("send");
    let r = results(basic).await;
    assert_eq!(r[0]["result"], "OK");
    let header = app.inject(vec![ticket("B2", "E1", "a@example.org")]).await;
    let r = results(header).await;
    assert_eq!(
        r[0],
        json!({"ticketId": "B2", "result": "OK", "status": "INJECTED"})
    );
    // Both landed with organizer A; reads accept both forms too.
    json_ok(app.get("/organizer/tickets/B1").await).await;
    let r = app
        .client
        .get(app.url("/organizer/tickets/B2"))
        .header("X-Api-Key", &app.key_a)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
}

pub async fn too_many_tickets_is_413(app: &TestApp) {
    let many: Vec<Value> = (0..51)
        .map(|i| ticket(&format!("M{i}"), "E1", "a@example.org"))
        .collect();
    let r = app.inject(many.clone()).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(r).await, "TOO_MANY_TICKETS");
    let list = json_ok(app.get("/organizer/tickets").await).await;
    assert_eq!(list["total"], 0, "a refused call writes nothing");

    let fifty = many[..50].to_vec();
    let r = results(app.inject(fifty).await).await;
    assert_eq!(r.len(), 50);
    assert!(r.iter().all(|x| x["result"] == "OK"));
}

pub async fn an_oversized_body_is_413(app: &TestApp) {
    let mut t = ticket("BIG", "E1", "a@example.org");
    t["padding"] = json!("x".repeat(3 * 1024 * 1024));
    let r = app.inject(vec![t]).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(r).await, "PAYLOAD_TOO_LARGE");
}

pub async fn empty_and_malformed_bodies_are_400(app: &TestApp) {
    let post = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/organizer/tickets"))
            .header("X-Api-Key", &app.key_a)
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let r = post(r#"{"tickets": []}"#, "application/json")
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "NO_TICKETS");

    let r = post(r#"{"tickets": [{"ticketId": "T1",}"#, "application/json")
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "INVALID_JSON");

    // Wrong types are 400 too (not axum's 422).
    let r = post(r#"{"tickets": [{"ticketId": 17}]}"#, "application/json")
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.expect("a JSON error body");
    assert_eq!(body["error"]["code"], "INVALID_JSON");
    // The message names the field by its path.
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("tickets[0].ticketId"), "{msg}");
    let r = post(r#"{"tickets": "all of them"}"#, "application/json")
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let r = post(r#"{"tickets": []}"#, "text/plain")
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(r).await, "UNSUPPORTED_MEDIA_TYPE");

    let r = app.get("/organizer/tickets?limit=many").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "INVALID_QUERY");
    let r = app.get("/organizer/tickets?status=PRINTED").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "INVALID_QUERY");
}

pub async fn a_missing_field_is_named_while_others_succeed(app: &TestApp) {
    let mut bad = ticket("K2", "E1", "a@example.org");
    bad["spectatorDetails"]
        .as_object_mut()
        .expect("object")
        .remove("email");
    let mut long = ticket("K4", "E1", "a@example.org");
    long["event"]["name"] = json!("x".repeat(129));
    let r = results(
        app.inject(vec![
            ticket("K1", "E1", "a@example.org"),
            bad,
            ticket("K3", "E1", "b@example.org"),
            long,
        ])
        .await,
    )
    .await;
    assert_eq!(r.len(), 4);
    let ids: Vec<_> = r.iter().map(|x| x["ticketId"].as_str()).collect();
    assert_eq!(
        ids,
        [Some("K1"), Some("K2"), Some("K3"), Some("K4")],
        "request order"
    );
    assert_eq!(r[0]["result"], "OK");
    assert_eq!(
        r[1],
        json!({"ticketId": "K2", "result": "KO", "errorCode": "MISSING_FIELD",
               "message": "spectatorDetails.email is required"})
    );
    assert_eq!(r[2]["result"], "OK");
    assert_eq!(r[3]["result"], "KO");
    assert_eq!(r[3]["errorCode"], "FIELD_TOO_LONG");
    assert!(
        r[3]["message"]
            .as_str()
            .expect("message")
            .contains("event.name")
    );

    assert_eq!(
        app.get("/organizer/tickets/K1").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/organizer/tickets/K3").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/organizer/tickets/K2").await.status(),
        StatusCode::NOT_FOUND
    );

    // A call where every ticket is refused answers 200 with the results.
    let mut no_id = ticket("x", "E1", "a@example.org");
    no_id.as_object_mut().expect("object").remove("ticketId");
    let r = results(app.inject(vec![no_id]).await).await;
    assert_eq!(
        r[0],
        json!({"ticketId": "", "result": "KO", "errorCode": "MISSING_FIELD",
               "message": "ticketId is required"})
    );
}

pub async fn re_injection_is_idempotent(app: &TestApp) {
    let batch = vec![
        ticket("I1", "E1", "a@example.org"),
        ticket("I2", "E1", "a@example.org"),
    ];
    results(app.inject(batch.clone()).await).await;
    let before = json_ok(app.get("/organizer/tickets/I1").await).await;
    let again = results(app.inject(batch).await).await;
    assert!(
        again
            .iter()
            .all(|x| x["result"] == "OK" && x["status"] == "INJECTED")
    );
    let after = json_ok(app.get("/organizer/tickets/I1").await).await;
    assert_eq!(before, after, "nothing changes");
    assert_eq!(after["history"].as_array().expect("history").len(), 1);
    let log = app
        .store
        .status_log(app.org_a.id, 0, 100)
        .await
        .expect("log");
    assert_eq!(log.len(), 2, "no new log entry");
}

pub async fn different_content_updates_the_ticket(app: &TestApp) {
    results(app.inject(vec![ticket("U1", "E1", "a@example.org")]).await).await;
    let mut changed = ticket("U1", "E1", "b@example.org");
    changed["security"]["barcode"] = json!("NEW-BARCODE");
    let r = results(app.inject(vec![changed]).await).await;
    assert_eq!(
        r[0],
        json!({"ticketId": "U1", "result": "OK", "status": "INJECTED"})
    );

    let rec = json_ok(app.get("/organizer/tickets/U1").await).await;
    assert_eq!(rec["ticket"]["security"]["barcode"], "NEW-BARCODE");
    assert_eq!(rec["status"], "INJECTED");
    assert_eq!(
        rec["owner"]["email"], "b@example.org",
        "not downloaded: owner follows"
    );
    assert_eq!(rec["initialOwner"]["email"], "a@example.org");
    let history = rec["history"].as_array().expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["action"], "INJECT");
    assert_eq!(history[1]["action"], "UPDATE");
    assert_eq!(history[1]["fromOwner"], "a@example.org");
    assert_eq!(history[1]["toOwner"], "b@example.org");
    assert_eq!(history[1]["actor"], "ORGANIZER_API");
    assert_eq!(history[1]["prevHash"], history[0]["hash"]);
}

pub async fn another_organizers_ticket_is_not_found(app: &TestApp) {
    results(app.inject(vec![ticket("P1", "E1", "a@example.org")]).await).await;
    let theirs = app.get_as(&app.key_b, "/organizer/tickets/P1").await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let theirs: Value = theirs.json().await.expect("JSON");
    let unknown = app.get_as(&app.key_b, "/organizer/tickets/NOPE").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let unknown: Value = unknown.json().await.expect("JSON");
    assert_eq!(theirs["error"]["code"], "TICKET_NOT_FOUND");
    assert_eq!(unknown["error"]["code"], "TICKET_NOT_FOUND");

    let list = json_ok(app.get_as(&app.key_b, "/organizer/tickets?q=P1").await).await;
    assert_eq!(list["total"], 0);
    let events = json_ok(app.get_as(&app.key_b, "/organizer/events").await).await;
    assert_eq!(events["events"], json!([]));
    let stats = app
        .get_as(&app.key_b, "/organizer/events/E1/statistics")
        .await;
    assert_eq!(stats.status(), StatusCode::NOT_FOUND);

    // B may use the same ticket id: a ticket of its own.
    let r = results(
        app.inject_as(&app.key_b, vec![ticket("P1", "E1", "z@example.org")])
            .await,
    )
    .await;
    assert_eq!(r[0]["status"], "INJECTED");
    let a = json_ok(app.get("/organizer/tickets/P1").await).await;
    assert_eq!(a["owner"]["email"], "a@example.org");
    let b_log = app
        .store
        .status_log(app.org_b.id, 0, 100)
        .await
        .expect("log");
    assert_eq!(b_log.len(), 1, "B's chain holds only B's entry");
    assert_eq!(b_log[0].to_owner.as_deref(), Some("z@example.org"));
}

pub async fn events_and_statistics(app: &TestApp) {
    results(
        app.inject(vec![
            ticket("S1", "E1", "a@example.org"),
            ticket("S2", "E1", "a@example.org"),
            ticket("S3", "E2", "a@example.org"),
        ])
        .await,
    )
    .await;
    let mut renamed = ticket("S4", "E2", "a@example.org");
    renamed["event"]["name"] = json!("Semi-final");
    results(app.inject(vec![renamed]).await).await;

    let events = json_ok(app.get("/organizer/events").await).await;
    let events = events["events"].as_array().expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["id"], "E1");
    assert_eq!(events[0]["name"], json!({"en": "Final", "fr": "Finale"}));
    assert_eq!(events[0]["address"]["countryCode"], "FR");
    assert_eq!(
        events[0]["metadata"]["RESALE_TICKETSHOP_URL"],
        "https://shop.example.org"
    );
    assert_eq!(events[1]["id"], "E2");
    assert_eq!(events[1]["name"], "Semi-final", "the latest fields win");

    let stats = json_ok(app.get("/organizer/events/E1/statistics").await).await;
    assert_eq!(
        stats,
        json!({"total": 2, "valid": 2, "deleted": 0, "neverDownloaded": 2, "downloaded": 0,
               "pendingTransfer": 0, "controlled": 0})
    );
    let unknown = app.get("/organizer/events/E9/statistics").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(unknown).await, "EVENT_NOT_FOUND");
}

pub async fn list_filters(app: &TestApp) {
    let batch: Vec<Value> = (0..7)
        .map(|i| {
            let event = if i < 5 { "E1" } else { "E2" };
            ticket(&format!("L{i}"), event, &format!("l{i}@example.org"))
        })
        .collect();
    results(app.inject(batch).await).await;
    let ids = |v: &Value| -> Vec<String> {
        v["tickets"]
            .as_array()
            .expect("tickets")
            .iter()
            .map(|t| t["ticketId"].as_str().expect("id").to_owned())
            .collect()
    };

    let all = json_ok(app.get("/organizer/tickets?eventId=&status=&q=").await).await;
    assert_eq!(all["total"], 7);
    assert_eq!(ids(&all), ["L0", "L1", "L2", "L3", "L4", "L5", "L6"]);
    let first = &all["tickets"][0];
    assert_eq!(first["status"], "INJECTED");
    assert_eq!(first["eventId"], "E1");
    assert_eq!(first["taxationNumber"], "TAX-L0");
    assert_eq!(first["owner"]["email"], "l0@example.org");

    let page = json_ok(app.get("/organizer/tickets?limit=2&offset=3").await).await;
    assert_eq!(page["total"], 7);
    assert_eq!(ids(&page), ["L3", "L4"]);
    assert!(page.get("nextPageKey").is_none(), "offset paging: {page}");

    // tixbridge's keyset extension: pages by key, with the barcode, to the end.
    let mut key = String::new();
    let mut seen = Vec::new();
    loop {
        let url = format!("/organizer/tickets?paginationKey={key}&limit=3&eventId=E1");
        let page = json_ok(app.get(&url).await).await;
        // Counted on the first page only; -1 (not counted) on the others.
        let total = if key.is_empty() { 5 } else { -1 };
        assert_eq!(page["total"], total, "key {key:?}");
        let next = page["nextPageKey"]
            .as_str()
            .expect("nextPageKey")
            .to_owned();
        if ids(&page).is_empty() {
            assert_eq!(next, key, "an empty page keeps the key");
            break;
        }
        assert_eq!(
            page["tickets"][0]["barcode"],
            format!("BC-{}", ids(&page)[0])
        );
        seen.extend(ids(&page));
        key = next;
    }
    assert_eq!(seen, ["L0", "L1", "L2", "L3", "L4"]);
    // With a key, an offset skips that many tickets after it.
    let both = json_ok(
        app.get("/organizer/tickets?paginationKey=L0&offset=2&limit=2")
            .await,
    )
    .await;
    assert_eq!(ids(&both), ["L3", "L4"]);

    let e2 = json_ok(app.get("/organizer/tickets?eventId=E2").await).await;
    assert_eq!(
        (e2["total"].clone(), ids(&e2)),
        (json!(2), vec!["L5".to_owned(), "L6".into()])
    );

    let injected = json_ok(
        app.get("/organizer/tickets?status=INJECTED&eventId=E1")
            .await,
    )
    .await;
    assert_eq!(injected["total"], 5);
    let downloaded = json_ok(app.get("/organizer/tickets?status=DOWNLOADED").await).await;
    assert_eq!(downloaded["total"], 0);

    for (q, expect) in [
        ("L2", "L2"),
        ("TAX-L3", "L3"),
        ("BC-L4", "L4"),
        ("l6%40example.org", "L6"),
    ] {
        let found = json_ok(app.get(&format!("/organizer/tickets?q={q}")).await).await;
        assert_eq!(ids(&found), [expect], "q={q}");
    }
}
