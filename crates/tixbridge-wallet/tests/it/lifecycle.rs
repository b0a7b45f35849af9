//! The ticket lifecycle through HTTP (DOMAIN.md §3, WALLET-API.md): the app API,
//! transfers and their rules, time-outs, back-office transfer, deletion, control, the
//! change feed, the track record, organizer isolation, CSV injection, the OpenAPI
//! document and metrics. Each check runs on SQLite and on PostgreSQL.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, ticket};

// ---- helpers ----

pub(crate) async fn body(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let v = resp.json().await.unwrap_or(Value::Null);
    (status, v)
}

pub(crate) fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// Opens an app session for `email` with organizer A.
pub(crate) async fn session(app: &TestApp, email: &str) -> String {
    session_for(app, email, app.org_a.id).await
}

pub(crate) async fn session_for(app: &TestApp, email: &str, org: i64) -> String {
    let (s, v) = body(
        app.client
            .post(app.url("/app/session"))
            .json(&json!({"email": email, "organizerId": org}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["token"].as_str().expect("token").to_owned()
}

/// POST /app/tickets/{id}/{action} with an optional JSON body.
pub(crate) async fn act(
    app: &TestApp,
    token: &str,
    id: &str,
    action: &str,
    payload: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .post(app.url(&format!("/app/tickets/{id}/{action}")))
        .bearer_auth(token);
    if let Some(p) = payload {
        req = req.json(&p);
    }
    body(req.send().await.expect("send")).await
}

pub(crate) async fn ok_status(
    app: &TestApp,
    token: &str,
    id: &str,
    action: &str,
    p: Option<Value>,
) -> String {
    let (s, v) = act(app, token, id, action, p).await;
    assert_eq!(s, StatusCode::OK, "{action} {id}: {v}");
    v["status"].as_str().expect("status").to_owned()
}

pub(crate) async fn my_tickets(app: &TestApp, token: &str) -> Value {
    let (s, v) = body(
        app.client
            .get(app.url("/app/tickets"))
            .bearer_auth(token)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

pub(crate) fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|t| t["ticketId"].as_str().expect("ticketId").to_owned())
        .collect()
}

pub(crate) async fn inject_ok(app: &TestApp, tickets: Vec<Value>) {
    let (s, v) = body(app.inject(tickets).await).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for r in v["results"].as_array().expect("results") {
        assert_eq!(r["result"], "OK", "{r}");
    }
}

pub(crate) async fn post_as(
    app: &TestApp,
    key: &str,
    path: &str,
    payload: Value,
) -> (StatusCode, Value) {
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

pub(crate) async fn record(app: &TestApp, id: &str) -> Value {
    let (s, v) = body(app.get(&format!("/organizer/tickets/{id}")).await).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

pub(crate) fn actions(record: &Value) -> Vec<(String, String)> {
    record["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_owned(),
                e["actor"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

pub(crate) async fn log_len(app: &TestApp) -> usize {
    let (s, v) = body(
        app.get("/organizer/report/ticket-status-logs?limit=10000")
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["result"].as_array().expect("result").len()
}

/// Polls the ticket until it reaches `status` (the sweeper works in the background).
async fn wait_for(app: &TestApp, id: &str, status: &str, within: Duration) -> Value {
    let start = std::time::Instant::now();
    loop {
        let r = record(app, id).await;
        if r["status"] == status {
            return r;
        }
        assert!(
            start.elapsed() < within,
            "ticket {id} is still {} after {within:?}, expected {status}",
            r["status"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- checks ----

pub async fn a_ticket_lives_its_whole_life_through_the_app(app: &TestApp) {
    inject_ok(app, vec![ticket("T1", "E1", "Ann@Example.org")]).await;
    let ann = session(app, "ann@example.org").await;
    let bob = session(app, "bob@example.org").await;
    assert_eq!(ids(&my_tickets(app, &ann).await["tickets"]), ["T1"]);
    assert!(ids(&my_tickets(app, &bob).await["tickets"]).is_empty());

    assert_eq!(
        ok_status(app, &ann, "T1", "download", None).await,
        "DOWNLOADED"
    );
    // Downloading again (a second phone) changes nothing.
    assert_eq!(
        ok_status(app, &ann, "T1", "download", None).await,
        "DOWNLOADED"
    );
    let holder = json!({"holder": {"firstName": "Kid", "lastName": "Lee"}});
    assert_eq!(
        ok_status(app, &ann, "T1", "assign", Some(holder)).await,
        "ASSIGNED"
    );
    let to_bob = json!({"to": "bob@example.org"});
    let (s, v) = act(app, &ann, "T1", "transfer", Some(to_bob)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "PENDING_TRANSFER");
    assert_eq!(v["transfer"]["to"]["email"], "bob@example.org");
    assert!(v["transfer"]["expiresAt"].is_string());
    assert_eq!(
        ids(&my_tickets(app, &bob).await["incomingTransfers"]),
        ["T1"]
    );
    let (s, v) = act(app, &bob, "T1", "accept", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "TRANSFERRED");
    assert_eq!(v["owner"]["email"], "bob@example.org");
    assert_eq!(v["previousOwner"]["email"], "Ann@Example.org");
    assert_eq!(v["initialOwner"]["email"], "Ann@Example.org");
    assert_eq!(v["transferLevel"], 1);
    assert!(v["holder"].is_null());
    assert!(ids(&my_tickets(app, &ann).await["tickets"]).is_empty());
    assert_eq!(ids(&my_tickets(app, &bob).await["tickets"]), ["T1"]);

    let online = json!({"method": "online"});
    assert_eq!(
        ok_status(app, &bob, "T1", "activate", Some(online)).await,
        "ONLINE_ACTIVATED"
    );
    assert_eq!(
        ok_status(app, &bob, "T1", "deactivate", None).await,
        "DEACTIVATED"
    );
    for (m, s) in [("offline", "OFFLINE_ACTIVATED"), ("bt", "BT_ACTIVATED")] {
        assert_eq!(
            ok_status(app, &bob, "T1", "activate", Some(json!({"method": m}))).await,
            s
        );
    }
    let manual = json!({"method": "manual", "code": "4711"});
    assert_eq!(
        ok_status(app, &bob, "T1", "activate", Some(manual)).await,
        "MANUAL_ACTIVATED"
    );

    let (s, v) = post_as(
        app,
        &app.key_a,
        "/organizer/tickets/controlled",
        json!({"tickets": [{"ticketId": "T1", "controlledAt": "2026-07-12T20:15:00+02:00"}]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["results"][0]["status"], "CONTROLLED");
    // Repeating is OK and records nothing.
    let before = log_len(app).await;
    let (_, v) = post_as(
        app,
        &app.key_a,
        "/organizer/tickets/controlled",
        json!({"tickets": [{"ticketId": "T1"}]}),
    )
    .await;
    assert_eq!(v["results"][0]["result"], "OK");
    assert_eq!(log_len(app).await, before);

    let r = record(app, "T1").await;
    let got: Vec<(String, String)> = actions(&r);
    let want = [
        ("INJECT", "ORGANIZER_API"),
        ("DOWNLOAD", "APP"),
        ("ASSIGN", "APP"),
        ("TRANSFER", "APP"),
        ("ACCEPT_TRANSFER", "APP"),
        ("ACTIVATE", "APP"),
        ("DEACTIVATE", "APP"),
        ("ACTIVATE", "APP"),
        ("ACTIVATE", "APP"),
        ("ACTIVATE", "APP"),
        ("CONTROL", "ORGANIZER_API"),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    let control = r["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(control["detail"], "controlledAt=2026-07-12T18:15:00.000Z");
    let (s, v) = body(app.get("/organizer/report/verify").await).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["entries"], 11);
}

pub async fn the_stored_event_decides_expiry_for_every_ticket(app: &TestApp) {
    inject_ok(app, vec![ticket("X1", "EX", "ann@example.org")]).await;
    let ann = session(app, "ann@example.org").await;
    ok_status(app, &ann, "X1", "download", None).await;
    // Another ticket of the event brings an earlier, past expiration date: the event
    // is overwritten, and X1 (injected with the later date) follows it.
    let mut other = ticket("X2", "EX", "bob@example.org");
    other["event"]["startTime"] = json!("2020-07-12T21:00:00+02:00");
    other["event"]["expirationDate"] = json!("2020-07-13T21:00:00+02:00");
    inject_ok(app, vec![other]).await;
    let (s, v) = act(
        app,
        &ann,
        "X1",
        "transfer",
        Some(json!({"to": "cy@example.org"})),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "ILLEGAL_TRANSITION"),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("expired"),
        "{v}"
    );
}

pub async fn refusals_name_their_reason_and_change_nothing(app: &TestApp) {
    let mut strict = ticket("S1", "E1", "ann@example.org");
    strict["transferRules"] = json!({"allowTransfer": false});
    let mut once = ticket("S2", "E1", "ann@example.org");
    once["transferRules"] = json!({"maxNumberOfTransferPerTicketInGroupId": 0});
    inject_ok(
        app,
        vec![strict, once, ticket("S3", "E1", "ann@example.org")],
    )
    .await;
    let ann = session(app, "ann@example.org").await;
    let eve = session(app, "eve@example.org").await;
    let before = log_len(app).await;

    // Transfer before download: illegal.
    let to_bob = json!({"to": "bob@example.org"});
    let (s, v) = act(app, &ann, "S3", "transfer", Some(to_bob.clone())).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "ILLEGAL_TRANSITION"),
        "{v}"
    );
    assert!(v["error"]["message"].as_str().unwrap().contains("S3"));
    // Deactivating a ticket never activated: illegal.
    let (s, v) = act(app, &ann, "S3", "deactivate", None).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "ILLEGAL_TRANSITION"));
    // Someone else's ticket does not exist for them.
    let (s, v) = act(app, &eve, "S3", "download", None).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "TICKET_NOT_FOUND"));
    let (s, v) = act(app, &ann, "NOPE", "download", None).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "TICKET_NOT_FOUND"));
    // Bad input.
    let (s, v) = act(app, &ann, "S3", "activate", Some(json!({"method": "nfc"}))).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_FIELD"),
        "{v}"
    );
    let (s, v) = act(app, &ann, "S3", "assign", Some(json!({"holder": {}}))).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_ACTION"),
        "{v}"
    );
    let (s, _) = body(
        app.client
            .post(app.url("/app/tickets/S3/transfer"))
            .bearer_auth(&ann)
            .header("content-type", "application/json")
            .body("{\"to\": ")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(log_len(app).await, before, "refusals record nothing");

    // Transfer rules.
    for id in ["S1", "S2", "S3"] {
        ok_status(app, &ann, id, "download", None).await;
    }
    let (s, v) = act(app, &ann, "S1", "transfer", Some(to_bob.clone())).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "TRANSFER_NOT_ALLOWED"),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("do not allow transfers")
    );
    let (s, v) = act(app, &ann, "S2", "transfer", Some(to_bob.clone())).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "TRANSFER_NOT_ALLOWED"),
        "{v}"
    );
    // Activation while a transfer is pending: illegal.
    ok_status(app, &ann, "S3", "transfer", Some(to_bob)).await;
    let (s, v) = act(
        app,
        &ann,
        "S3",
        "activate",
        Some(json!({"method": "online"})),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "ILLEGAL_TRANSITION"),
        "{v}"
    );
    // Only the recipient accepts.
    let (s, v) = act(app, &ann, "S3", "accept", None).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "ILLEGAL_TRANSITION"),
        "{v}"
    );
    let (s, v) = act(app, &eve, "S3", "accept", None).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::NOT_FOUND, "TICKET_NOT_FOUND"),
        "{v}"
    );
    assert_eq!(log_len(app).await, before + 4, "3 downloads and 1 transfer");

    // No session, or a made-up one.
    let r = app
        .client
        .get(app.url("/app/tickets"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .client
        .get(app.url("/app/tickets"))
        .bearer_auth("tns_made_up")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

pub async fn rejected_and_cancelled_transfers_fail_back_to_the_sender(app: &TestApp) {
    inject_ok(
        app,
        vec![
            ticket("R1", "E1", "ann@example.org"),
            ticket("R2", "E1", "ann@example.org"),
        ],
    )
    .await;
    let ann = session(app, "ann@example.org").await;
    let bob = session(app, "bob@example.org").await;
    for id in ["R1", "R2"] {
        ok_status(app, &ann, id, "download", None).await;
        ok_status(
            app,
            &ann,
            id,
            "transfer",
            Some(json!({"to": "bob@example.org"})),
        )
        .await;
    }
    let (s, v) = act(app, &bob, "R1", "reject", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "FAILURE_TRANSFER");
    assert_eq!(v["owner"]["email"], "ann@example.org");
    assert_eq!(
        ok_status(app, &ann, "R2", "cancel-transfer", None).await,
        "FAILURE_TRANSFER"
    );
    assert!(ids(&my_tickets(app, &bob).await["incomingTransfers"]).is_empty());
    assert_eq!(ids(&my_tickets(app, &ann).await["tickets"]), ["R1", "R2"]);
    // It can be sent again.
    assert_eq!(
        ok_status(
            app,
            &ann,
            "R1",
            "transfer",
            Some(json!({"to": "cy@example.org"}))
        )
        .await,
        "PENDING_TRANSFER"
    );
}

pub async fn back_office_transfers_ignore_rules_but_not_control(app: &TestApp) {
    let mut strict = ticket("B1", "E1", "ann@example.org");
    strict["transferRules"] = json!({"allowTransfer": false});
    inject_ok(app, vec![strict, ticket("B2", "E1", "ann@example.org")]).await;
    // From INJECTED, despite the rules.
    let (s, v) = post_as(
        app,
        &app.key_a,
        "/organizer/tickets/B1/transfer",
        json!({"to": {"email": "bob@example.org", "firstName": "Bob"}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "PENDING_TRANSFER");
    assert_eq!(v["transfer"]["backOffice"], true);
    let bob = session(app, "bob@example.org").await;
    assert_eq!(
        ok_status(app, &bob, "B1", "accept", None).await,
        "TRANSFERRED"
    );
    let r = record(app, "B1").await;
    assert_eq!(actions(&r)[1], ("TRANSFER".into(), "BACK_OFFICE".into()));

    post_as(
        app,
        &app.key_a,
        "/organizer/tickets/controlled",
        json!({"tickets": [{"ticketId": "B2"}]}),
    )
    .await;
    let (s, v) = post_as(
        app,
        &app.key_a,
        "/organizer/tickets/B2/transfer",
        json!({"to": {"email": "bob@example.org"}}),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "ILLEGAL_TRANSITION"),
        "{v}"
    );
    let (s, v) = post_as(app, &app.key_a, "/organizer/tickets/B2/transfer", json!({})).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "MISSING_FIELD"),
        "{v}"
    );
    let (s, v) = post_as(
        app,
        &app.key_b,
        "/organizer/tickets/B2/transfer",
        json!({"to": {"email": "bob@example.org"}}),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::NOT_FOUND, "TICKET_NOT_FOUND"),
        "{v}"
    );
}

pub async fn deletion_is_pending_then_confirmed_and_listed_apart(app: &TestApp) {
    inject_ok(
        app,
        vec![
            ticket("D1", "E1", "ann@example.org"),
            ticket("D2", "E1", "ann@example.org"),
            ticket("D3", "E1", "ann@example.org"),
        ],
    )
    .await;
    let (s, v) = post_as(
        app,
        &app.key_a,
        "/organizer/tickets/delete",
        json!({"tickets": [
            {"ticketId": "D1", "reason": "RESALE_PENDING", "showDeletedTicket": true},
            {"ticketId": "D2", "reason": "CANCELLED", "showDeletedTicket": false},
            {"ticketId": "NOPE", "reason": "CANCELLED"},
            {"ticketId": "D3"},
            {"ticketId": "D3 ", "reason": "CANCELLED"},
        ]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let r = v["results"].as_array().unwrap();
    assert_eq!(r[0]["status"], "DELETION_PENDING");
    assert_eq!(r[1]["status"], "DELETION_PENDING");
    assert_eq!(
        (r[2]["result"].as_str(), r[2]["errorCode"].as_str()),
        (Some("KO"), Some("TICKET_NOT_FOUND"))
    );
    assert_eq!(r[3]["result"], "KO");
    assert!(r[3]["message"].as_str().unwrap().contains("reason"));
    // Ids are taken as sent: "D3 " is another (unknown) ticket, not D3.
    assert_eq!(r[4]["errorCode"], "TICKET_NOT_FOUND", "{v}");
    // The sweeper confirms (the test service's delay is zero).
    let d1 = wait_for(app, "D1", "DELETED", Duration::from_secs(10)).await;
    assert!(d1["deletion"]["confirmedAt"].is_string());
    wait_for(app, "D2", "DELETED", Duration::from_secs(10)).await;
    let ann = session(app, "ann@example.org").await;
    let mine = my_tickets(app, &ann).await;
    assert_eq!(ids(&mine["tickets"]), ["D3"]);
    assert_eq!(ids(&mine["deletedTickets"]), ["D1"]);
    assert_eq!(
        mine["deletedTickets"][0]["deletion"]["reason"],
        "RESALE_PENDING"
    );

    // Repeating is OK; a new reason is recorded.
    let (_, v) = post_as(
        app,
        &app.key_a,
        "/organizer/tickets/delete",
        json!({"tickets": [{"ticketId": "D1", "reason": "RESOLD", "showDeletedTicket": true}]}),
    )
    .await;
    assert_eq!(v["results"][0]["status"], "DELETED");
    let r = record(app, "D1").await;
    assert_eq!(r["deletion"]["reason"], "RESOLD");
    let last = r["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "DELETE_REASON");
    assert_eq!(last["detail"], "reason=RESOLD");
    let got = actions(&r);
    assert_eq!(got[1], ("DELETE".into(), "ORGANIZER_API".into()));
    assert_eq!(got[2], ("CONFIRM_DELETION".into(), "SYSTEM".into()));

    // A deleted id is spent: no re-injection, no control, no app action.
    let (_, v) = body(
        app.inject(vec![ticket("D1", "E1", "ann@example.org")])
            .await,
    )
    .await;
    assert_eq!(v["results"][0]["errorCode"], "TICKET_DELETED");
    let (_, v) = post_as(
        app,
        &app.key_a,
        "/organizer/tickets/controlled",
        json!({"tickets": [{"ticketId": "D2"}, {"ticketId": "D3", "controlledAt": "yesterday"}]}),
    )
    .await;
    assert_eq!(v["results"][0]["errorCode"], "TICKET_DELETED");
    assert_eq!(v["results"][1]["result"], "KO");
    assert!(
        v["results"][1]["message"]
            .as_str()
            .unwrap()
            .contains("controlledAt")
    );
    let (s, v) = act(app, &ann, "D1", "download", None).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "ILLEGAL_TRANSITION"),
        "{v}"
    );

    // Call sizes.
    let many: Vec<Value> = (0..51)
        .map(|i| json!({"ticketId": format!("X{i}"), "reason": "R"}))
        .collect();
    let (s, v) = post_as(
        app,
        &app.key_a,
        "/organizer/tickets/delete",
        json!({"tickets": many}),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "TOO_MANY_TICKETS")
    );
    let (s, v) = post_as(
        app,
        &app.key_a,
        "/organizer/tickets/controlled",
        json!({"tickets": []}),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "NO_TICKETS"));
    let (s, v) = post_as(
        app,
        &app.key_a,
        "/organizer/tickets/delete",
        json!({"tickets": "D1"}),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "INVALID_JSON"));
}

pub async fn the_feed_pages_by_change(app: &TestApp) {
    let tickets: Vec<Value> = (0..25)
        .map(|i| ticket(&format!("F{i:02}"), "E1", "ann@example.org"))
        .collect();
    inject_ok(app, tickets[..20].to_vec()).await;
    inject_ok(app, tickets[20..].to_vec()).await;

    let page = |key: String, limit: usize| async move {
        let (s, v) = body(
            app.get(&format!(
                "/organizer/tickets/diff?paginationKey={key}&limit={limit}"
            ))
            .await,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    };
    let first = page(String::new(), 10).await;
    assert_eq!(ids(&first["tickets"]).len(), 10);
    assert_eq!(ids(&first["tickets"])[0], "F00");
    // The same key gives the same page.
    assert_eq!(page(String::new(), 10).await, first);
    let key1 = first["nextPageKey"].as_str().unwrap().to_owned();
    let second = page(key1.clone(), 10).await;
    assert_eq!(page(key1.clone(), 10).await, second);
    let key2 = second["nextPageKey"].as_str().unwrap().to_owned();
    let third = page(key2.clone(), 10).await;
    assert_eq!(ids(&third["tickets"]).len(), 5);
    let key3 = third["nextPageKey"].as_str().unwrap().to_owned();
    let mut all = ids(&first["tickets"]);
    all.extend(ids(&second["tickets"]));
    all.extend(ids(&third["tickets"]));
    let mut want: Vec<String> = (0..25).map(|i| format!("F{i:02}")).collect();
    assert_eq!(all, want);
    // Nothing changed: an empty page that keeps the key.
    let empty = page(key3.clone(), 10).await;
    assert_eq!(empty["tickets"], json!([]));
    assert_eq!(empty["nextPageKey"], key3.as_str());

    // Changes after the key: each ticket once, latest state, history after the key.
    let ann = session(app, "ann@example.org").await;
    ok_status(app, &ann, "F03", "download", None).await;
    ok_status(app, &ann, "F07", "download", None).await;
    ok_status(
        app,
        &ann,
        "F03",
        "activate",
        Some(json!({"method": "online"})),
    )
    .await;
    let next = page(key3.clone(), 10).await;
    assert_eq!(ids(&next["tickets"]), ["F07", "F03"], "oldest change first");
    let f03 = &next["tickets"][1];
    assert_eq!(f03["status"], "ONLINE_ACTIVATED");
    let hist: Vec<&str> = f03["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(hist, ["DOWNLOAD", "ACTIVATE"]);
    // A small page still holds whole tickets, and paging goes on from it.
    let small = page(key3.clone(), 1).await;
    assert_eq!(ids(&small["tickets"]), ["F07"]);
    let rest = page(small["nextPageKey"].as_str().unwrap().to_owned(), 1).await;
    assert_eq!(ids(&rest["tickets"]), ["F03"]);

    // Bad keys and limits.
    let (s, v) = body(app.get("/organizer/tickets/diff?paginationKey=abc").await).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_PAGINATION_KEY")
    );
    let (s, _) = body(app.get("/organizer/tickets/diff?limit=0").await).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = body(app.get("/organizer/tickets/diff?limit=50000").await).await;
    assert_eq!(s, StatusCode::OK);
    want.sort();
    let mut got = ids(&v["tickets"]);
    got.sort();
    assert_eq!(got, want, "a limit above 10,000 is lowered to it");
    // Another organizer's feed is its own.
    let (s, v) = body(app.get_as(&app.key_b, "/organizer/tickets/diff").await).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["tickets"], json!([]));
    assert_eq!(v["nextPageKey"], "0");
}

pub async fn the_track_record_reports_and_verifies(app: &TestApp) {
    inject_ok(
        app,
        (0..5)
            .map(|i| ticket(&format!("L{i}"), "E1", "ann@example.org"))
            .collect(),
    )
    .await;
    let ann = session(app, "ann@example.org").await;
    ok_status(app, &ann, "L1", "download", None).await;
    let (s, v) = body(
        app.get("/organizer/report/ticket-status-logs?limit=2")
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let page = v["result"].as_array().unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["seq"], 1);
    assert_eq!(page[1]["prevHash"], page[0]["hash"]);
    assert_eq!(v["nextPageKey"], "2");
    let (_, v) = body(
        app.get("/organizer/report/ticket-status-logs?paginationKey=2&limit=100")
            .await,
    )
    .await;
    let rest = v["result"].as_array().unwrap();
    assert_eq!(rest.len(), 4);
    assert_eq!(rest[3]["action"], "DOWNLOAD");
    assert_eq!(rest[3]["actor"], "APP");
    // Time filters.
    let (_, v) = body(
        app.get("/organizer/report/ticket-status-logs?from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z")
            .await,
    )
    .await;
    assert_eq!(v["result"], json!([]));
    assert_eq!(v["nextPageKey"], "0");
    let (_, v) = body(
        app.get("/organizer/report/ticket-status-logs?from=2000-01-01T00:00:00%2B01:00")
            .await,
    )
    .await;
    assert_eq!(v["result"].as_array().unwrap().len(), 6);
    let (s, v) = body(
        app.get("/organizer/report/ticket-status-logs?from=monday")
            .await,
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "INVALID_QUERY"));

    let (_, v) = body(app.get("/organizer/report/verify").await).await;
    assert_eq!(v, json!({"entries": 6, "valid": true}));
    let (_, v) = body(app.get_as(&app.key_b, "/organizer/report/verify").await).await;
    assert_eq!(v, json!({"entries": 0, "valid": true}));

    // Tampering behind the service's back is caught.
    app.raw_sql(&format!(
        "UPDATE wallet_status_log SET to_owner = 'mallory@example.org' WHERE organizer_id = {} AND seq = 3",
        app.org_a.id
    ))
    .await;
    let (_, v) = body(app.get("/organizer/report/verify").await).await;
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["brokenSeq"], 3, "{v}");
    assert_eq!(v["entries"], 2, "{v}");
}

pub async fn a_ticket_row_altered_behind_the_log_is_caught(app: &TestApp) {
    inject_ok(app, vec![ticket("A1", "E1", "ann@example.org")]).await;
    app.raw_sql(&format!(
        "UPDATE wallet_tickets SET status = 'CONTROLLED' WHERE organizer_id = {} AND ticket_id = 'A1'",
        app.org_a.id
    ))
    .await;
    let (_, v) = body(app.get("/organizer/report/verify").await).await;
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["ticketId"], "A1", "{v}");
    // A removed last entry too.
    inject_ok(app, vec![ticket("A2", "E1", "ann@example.org")]).await;
    app.raw_sql(&format!(
        "UPDATE wallet_tickets SET status = 'INJECTED' WHERE organizer_id = {} AND ticket_id = 'A1'",
        app.org_a.id
    ))
    .await;
    let (_, v) = body(app.get("/organizer/report/verify").await).await;
    assert_eq!(v["valid"], true, "{v}");
    // A ticket row removed behind the log.
    app.raw_sql(&format!(
        "DELETE FROM wallet_tickets WHERE organizer_id = {} AND ticket_id = 'A2'",
        app.org_a.id
    ))
    .await;
    let (_, v) = body(app.get("/organizer/report/verify").await).await;
    assert_eq!(v["valid"], false, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("ticket rows"),
        "{v}"
    );
    app.raw_sql(&format!(
        "DELETE FROM wallet_status_log WHERE organizer_id = {} AND seq = 2",
        app.org_a.id
    ))
    .await;
    let (_, v) = body(app.get("/organizer/report/verify").await).await;
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["brokenSeq"], 2, "{v}");
}

pub async fn organizers_are_isolated_on_every_endpoint(app: &TestApp) {
    inject_ok(app, vec![ticket("I1", "E1", "ann@example.org")]).await;
    let kb = &app.key_b;
    let (s, _) = body(app.get_as(kb, "/organizer/tickets/I1").await).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for (path, payload) in [
        (
            "/organizer/tickets/delete",
            json!({"tickets": [{"ticketId": "I1", "reason": "X"}]}),
        ),
        (
            "/organizer/tickets/controlled",
            json!({"tickets": [{"ticketId": "I1"}]}),
        ),
    ] {
        let (s, v) = post_as(app, kb, path, payload).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            v["results"][0]["errorCode"], "TICKET_NOT_FOUND",
            "{path}: {v}"
        );
    }
    let (s, _) = post_as(
        app,
        kb,
        "/organizer/tickets/I1/transfer",
        json!({"to": {"email": "bob@example.org"}}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, v) = body(app.get_as(kb, "/organizer/report/ticket-status-logs").await).await;
    assert_eq!(v["result"], json!([]));
    // Ann's session with organizer B sees nothing of organizer A.
    let ann_b = session_for(app, "ann@example.org", app.org_b.id).await;
    let mine = my_tickets(app, &ann_b).await;
    assert!(ids(&mine["tickets"]).is_empty());
    let (s, _) = act(app, &ann_b, "I1", "download", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Nothing of A changed.
    assert_eq!(record(app, "I1").await["status"], "INJECTED");
    // Without a key: 401 everywhere on the organizer side.
    for path in [
        "/organizer/tickets/diff",
        "/organizer/report/verify",
        "/organizer/report/ticket-status-logs",
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    // Several organizers: a session must name its organizer.
    let (s, v) = body(
        app.client
            .post(app.url("/app/session"))
            .json(&json!({"email": "ann@example.org"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "MISSING_FIELD"),
        "{v}"
    );
    let (s, v) = body(
        app.client
            .post(app.url("/app/session"))
            .json(&json!({"email": "not an email", "organizerId": app.org_a.id}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_FIELD"),
        "{v}"
    );
}

pub async fn csv_injection_answers_per_row(app: &TestApp) {
    let csv = "ticketId,event.id,event.name[en],event.name[fr],event.startTime,event.expirationDate,\
event.address.site,event.address.city,event.address.zip,event.address.countryCode,\
purchaseDetails.taxationNumber,security.barcode,spectatorDetails.email\n\
C1,E9,Final,Finale,2026-07-12T21:00:00+02:00,2026-07-13T21:00:00+02:00,Stade,Paris,75000,FR,TX1,BC1,ann@example.org\n\
C2,E9,Final,Finale,2026-07-12T21:00:00+02:00,2026-07-13T21:00:00+02:00,Stade,Paris,75000,FR,TX2,BC2,\n\
C3,E9,Final,Finale,2026-07-12T21:00:00+02:00,2026-07-13T21:00:00+02:00,Stade,Paris,75000,FR,TX3,BC3,bob@example.org\n";
    let send = |body: String, ct: &'static str| async move {
        self::body(
            app.client
                .post(app.url("/organizer/tickets/csv"))
                .header("X-Api-Key", &app.key_a)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    let (s, v) = send(csv.to_owned(), "text/csv").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["rows"].as_u64(),
            v["accepted"].as_u64(),
            v["refused"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    let r = v["results"].as_array().unwrap();
    assert_eq!(r[0]["row"], 1);
    assert_eq!(r[0]["status"], "INJECTED");
    assert_eq!(r[1]["row"], 2);
    assert_eq!(r[1]["result"], "KO");
    assert!(
        r[1]["message"]
            .as_str()
            .unwrap()
            .contains("spectatorDetails.email"),
        "{v}"
    );
    assert_eq!(r[2]["row"], 3);
    let c1 = record(app, "C1").await;
    assert_eq!(
        c1["ticket"]["event"]["name"],
        json!({"en": "Final", "fr": "Finale"})
    );
    assert_eq!(actions(&c1)[0], ("INJECT".into(), "BACK_OFFICE".into()));
    let (s, _) = body(app.get("/organizer/tickets/C2").await).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Whole-file refusals change nothing.
    let (s, v) = send("ticketId,colour\nX1,red\n".into(), "text/csv").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_CSV"),
        "{v}"
    );
    assert!(v["error"]["message"].as_str().unwrap().contains("colour"));
    let (s, _) = send(csv.to_owned(), "application/json").await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut big = String::from("ticketId,event.id\n");
    for i in 0..20_001 {
        big.push_str(&format!("Z{i},E9\n"));
    }
    let (s, v) = send(big, "text/csv").await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    let (_, v) = body(app.get("/organizer/tickets?q=Z1").await).await;
    assert_eq!(v["total"], 0);
}

/// Issue 7 item 1: a `;` file (as saved by a spreadsheet in a European locale, with a
/// byte-order mark) is read by detection, a tab file with `?delimiter=tab`, and a
/// wrong `delimiter` names the separator the file seems to use.
pub async fn csv_injection_reads_spreadsheet_dialects(app: &TestApp) {
    let comma = "ticketId,event.id,event.name,event.startTime,event.expirationDate,\
event.address.site,event.address.city,event.address.zip,event.address.countryCode,\
purchaseDetails.taxationNumber,security.barcode,spectatorDetails.email,purchaseDetails.price\n\
D1,E9,Final,2026-07-12T21:00:00+02:00,2026-07-13T21:00:00+02:00,Stade,Paris,75000,FR,TXD1,BCD1,ann@example.org,12.50\n";
    // A price keeps its dot in every dialect (the one money rule, item 2).
    let semicolon = format!("\u{FEFF}{}", comma.replace(',', ";"));
    let tab = comma.replace(',', "\t").replace("D1", "D2");
    let send = |body: String, query: &'static str| async move {
        self::body(
            app.client
                .post(app.url(&format!("/organizer/tickets/csv{query}")))
                .header("X-Api-Key", &app.key_a)
                .header("content-type", "text/csv")
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    let (s, v) = send(semicolon.clone(), "?delimiter=comma").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_CSV"),
        "{v}"
    );
    let m = v["error"]["message"].as_str().unwrap();
    assert!(m.contains("seems to be separated by semicolon (;)"), "{v}");
    assert!(!m.contains("unknown column"), "{v}");
    let (s, v) = send(semicolon, "").await;
    assert_eq!(
        (s, v["accepted"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );
    let (s, v) = send(tab, "?delimiter=tab").await;
    assert_eq!(
        (s, v["accepted"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );
    let d1 = record(app, "D1").await;
    assert_eq!(d1["ticket"]["purchaseDetails"]["price"], json!(12.5));
    assert_eq!(d1["ticket"]["event"]["id"], "E9");
    record(app, "D2").await;
    let (s, v) = send(comma.to_owned(), "?delimiter=pipe").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "INVALID_QUERY"),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("delimiter"),
        "{v}"
    );
}

pub async fn openapi_documents_every_route(app: &TestApp) {
    let norm = |p: &str| {
        let mut out = String::new();
        let mut inside = false;
        for c in p.chars() {
            match c {
                '{' => {
                    inside = true;
                    out.push('{');
                }
                '}' => {
                    inside = false;
                    out.push('}');
                }
                _ if inside => {}
                c => out.push(c),
            }
        }
        out
    };
    let mut served: Vec<(String, String)> = tixbridge_wallet::operations()
        .into_iter()
        .map(|(m, p, _)| (m.to_string(), norm(p)))
        .collect();
    served.sort();
    let mut documented: Vec<(String, String)> = tixbridge_wallet::openapi::documented_operations()
        .into_iter()
        .map(|(m, p)| (m, norm(&p)))
        .collect();
    documented.sort();
    assert_eq!(
        served, documented,
        "every route served is documented, and only those"
    );

    // Every documented operation is really answered (not by the fallback).
    for (method, path) in &documented {
        let url = app.url(&path.replace("{}", "x"));
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = app
            .client
            .request(m, url)
            .header("X-Api-Key", &app.key_a)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let (_, v) = body(r).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(code(&v), "NOT_FOUND", "{method} {path} fell through: {v}");
    }
    let (s, v) = body(
        app.client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["openapi"].as_str().unwrap().starts_with("3.1"));
}

pub async fn metrics_are_prometheus_text(app: &TestApp) {
    inject_ok(app, vec![ticket("M1", "E1", "ann@example.org")]).await;
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("# TYPE tixbridge_wallet_http_requests_total counter"),
        "{text}"
    );
    assert!(
        text.contains(r#"tixbridge_wallet_http_requests_total{method="POST",route="/organizer/tickets",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("tixbridge_wallet_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

// ---- checks with their own service configuration ----

pub async fn pending_transfers_time_out(app: &TestApp) {
    inject_ok(app, vec![ticket("O1", "E1", "ann@example.org")]).await;
    let ann = session(app, "ann@example.org").await;
    ok_status(app, &ann, "O1", "download", None).await;
    ok_status(
        app,
        &ann,
        "O1",
        "transfer",
        Some(json!({"to": "bob@example.org"})),
    )
    .await;
    let r = wait_for(app, "O1", "FAILURE", Duration::from_secs(15)).await;
    assert_eq!(r["owner"]["email"], "ann@example.org");
    assert!(r["transfer"].is_null());
    let last = r["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["action"].as_str(), last["actor"].as_str()),
        (Some("TRANSFER_TIMEOUT"), Some("SYSTEM"))
    );
    // Too late to accept.
    let bob = session(app, "bob@example.org").await;
    let (s, _) = act(app, &bob, "O1", "accept", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

pub async fn sessions_need_sandbox_mode(app: &TestApp) {
    let (s, v) = body(
        app.client
            .post(app.url("/app/session"))
            .json(&json!({"email": "ann@example.org", "organizerId": app.org_a.id}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::NOT_FOUND, "SANDBOX_DISABLED"),
        "{v}"
    );
}

/// Deletion confirmed after a restart: the service stops while a deletion is pending
/// and a new one, on the same database, confirms it.
pub async fn deletion_survives_a_restart(app: TestApp) {
    inject_ok(&app, vec![ticket("P1", "E1", "ann@example.org")]).await;
    let (s, v) = post_as(
        &app,
        &app.key_a,
        "/organizer/tickets/delete",
        json!({"tickets": [{"ticketId": "P1", "reason": "CANCELLED"}]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["results"][0]["status"], "DELETION_PENDING");
    assert_eq!(record(&app, "P1").await["status"], "DELETION_PENDING");
    // Stopped before the confirmation was due; the due time is in the database.
    let config = app.config.clone();
    let app = app.restart_reopened(config).await;
    wait_for(&app, "P1", "DELETED", Duration::from_secs(15)).await;
    app.stop().await;
}
