//! The wallet's contract rules at the HTTP boundary: emails without case, pagination
//! keys beyond the head, barcodes held by one ticket for good, conflicting
//! credentials, and the document's own examples.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, ticket};

async fn body(r: reqwest::Response) -> (StatusCode, Value) {
    let s = r.status();
    let v = r.json().await.unwrap_or(Value::Null);
    (s, v)
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

async fn session(app: &TestApp, email: &str) -> (StatusCode, Value) {
    body(
        app.client
            .post(app.url("/app/session"))
            .json(&json!({"email": email, "organizerId": app.org_a.id}))
            .send()
            .await
            .expect("send"),
    )
    .await
}

async fn app_post(app: &TestApp, token: &str, path: &str, b: Value) -> (StatusCode, Value) {
    body(
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .json(&b)
            .send()
            .await
            .expect("send"),
    )
    .await
}

/// Item 7: an owner typed `Lea.Martin@Example.ORG` is found by `q` and by an app
/// session in any case; the download keeps the owner as stored; an email with a
/// control character is refused wherever one is given.
pub async fn emails_compare_without_case(app: &TestApp) {
    let typed = "Lea.Martin@Example.ORG";
    let (s, v) = body(app.inject(vec![ticket("M1", "E1", typed)]).await).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for q in ["lea.martin@example.org", "LEA.MARTIN@EXAMPLE.ORG", typed] {
        let (s, v) = body(
            app.get(&format!("/organizer/tickets?q={}", q.replace('@', "%40")))
                .await,
        )
        .await;
        assert_eq!(
            (s, v["total"].as_i64()),
            (StatusCode::OK, Some(1)),
            "{q}: {v}"
        );
    }

    let (s, v) = session(app, "lea.martin@EXAMPLE.org").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["email"], "lea.martin@EXAMPLE.org", "kept as typed");
    let token = v["token"].as_str().expect("token").to_owned();
    let (s, v) = body(
        app.client
            .get(app.url("/app/tickets"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["tickets"].as_array().map(Vec::len), Some(1), "{v}");
    let (s, v) = app_post(app, &token, "/app/tickets/M1/download", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, rec) = body(app.get("/organizer/tickets/M1").await).await;
    let last = rec["history"]
        .as_array()
        .and_then(|h| h.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["action"], "DOWNLOAD", "{rec}");
    assert_eq!(last["fromOwner"], typed, "{last}");
    assert_eq!(
        last["toOwner"], typed,
        "a download is no owner change: {last}"
    );
    assert_eq!(rec["owner"]["email"], typed, "{rec}");

    for bad in ["lea\u{1}@example.org", "lea@exa\u{7f}mple.org"] {
        // The input gate refuses the control character before any email rule runs.
        let (s, v) = session(app, bad).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::BAD_REQUEST, "INVALID_CHARACTER"),
            "{v}"
        );
        let (s, v) = app_post(app, &token, "/app/tickets/M1/transfer", json!({"to": bad})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad:?}: {v}");
        let (s, v) = body(
            app.client
                .post(app.url("/organizer/tickets/M1/transfer"))
                .header("X-Api-Key", &app.key_a)
                .json(&json!({"to": {"email": bad}}))
                .send()
                .await
                .expect("send"),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad:?}: {v}");
    }
    let (_, rec) = body(app.get("/organizer/tickets/M1").await).await;
    assert_eq!(
        rec["status"], "DOWNLOADED",
        "refusals change nothing: {rec}"
    );
}

/// Item 8: a key beyond the head (a wallet restored from an older backup) is a 409
/// naming the head, on the change feed and on the report; the head itself is fine.
pub async fn pagination_keys_beyond_the_head_are_refused(app: &TestApp) {
    let (s, _) = body(
        app.inject(vec![
            ticket("P1", "E1", "a@example.org"),
            ticket("P2", "E1", "a@example.org"),
        ])
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    for path in [
        "/organizer/tickets/diff",
        "/organizer/report/ticket-status-logs",
    ] {
        let (s, v) = body(app.get(&format!("{path}?paginationKey=2")).await).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        assert_eq!(v["nextPageKey"], "2", "{path}: {v}");
        let (s, v) = body(app.get(&format!("{path}?paginationKey=3")).await).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::CONFLICT, "INVALID_PAGINATION_KEY"),
            "{path}: {v}"
        );
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("(2)"), "the message gives the head: {msg}");
        // Organizer B's chain is empty: any key but none is beyond it.
        let (s, v) = body(
            app.get_as(&app.key_b, &format!("{path}?paginationKey=1"))
                .await,
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT, "{path}: {v}");
        let (s, _) = body(
            app.get_as(&app.key_b, &format!("{path}?paginationKey=0"))
                .await,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{path}");
    }
    // The restore itself: the head goes back behind a key handed out before.
    let (_, v) = body(app.get("/organizer/tickets/diff").await).await;
    assert_eq!(v["nextPageKey"], "2");
    app.raw_sql(&format!(
        "UPDATE wallet_organizers SET last_seq = 1 WHERE id = {}",
        app.org_a.id
    ))
    .await;
    let (s, v) = body(app.get("/organizer/tickets/diff?paginationKey=2").await).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "INVALID_PAGINATION_KEY"),
        "{v}"
    );
}

fn with_barcode(id: &str, barcode: &str) -> Value {
    let mut t = ticket(id, "E1", "a@example.org");
    t["security"]["barcode"] = json!(barcode);
    t
}

fn result_codes(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            r["errorCode"]
                .as_str()
                .or(r["result"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// Item 9 (wallet half): in one call, against a live ticket, a deleted one, or a
/// barcode a re-injection replaced, a barcode goes to one ticket id only; the `KO`
/// names the holder. JSON and CSV injection alike.
pub async fn barcodes_belong_to_one_ticket(app: &TestApp) {
    let (s, v) = body(
        app.inject(vec![with_barcode("K1", "G1"), with_barcode("K2", "G1")])
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(result_codes(&v), ["OK", "DUPLICATE_BARCODE"], "{v}");
    let msg = v["results"][1]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("K1"), "{msg}");

    let (_, v) = body(app.inject(vec![with_barcode("K1", "G2")]).await).await;
    assert_eq!(result_codes(&v), ["OK"], "re-barcoded: {v}");
    let (_, v) = body(app.inject(vec![with_barcode("K3", "G1")]).await).await;
    assert_eq!(
        result_codes(&v),
        ["DUPLICATE_BARCODE"],
        "G1 stays K1's: {v}"
    );

    let (s, v) = body(
        app.client
            .post(app.url("/organizer/tickets/delete"))
            .header("X-Api-Key", &app.key_a)
            .json(&json!({"tickets": [{"ticketId": "K1", "reason": "cancelled"}]}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (s, result_codes(&v)),
        (StatusCode::OK, vec!["OK".into()]),
        "{v}"
    );
    let (_, v) = body(app.inject(vec![with_barcode("K4", "G2")]).await).await;
    assert_eq!(
        result_codes(&v),
        ["DUPLICATE_BARCODE"],
        "a deleted credential: {v}"
    );

    let csv = "ticketId,event.id,event.name,event.startTime,event.expirationDate,\
               event.address.site,event.address.city,event.address.zip,\
               event.address.countryCode,purchaseDetails.taxationNumber,security.barcode,\
               spectatorDetails.email\n\
               K5,E1,Final,2030-07-12T21:00:00+02:00,2030-07-13T21:00:00+02:00,\
               Stade,Paris,75000,FR,TAX-K5,G2,a@example.org\n";
    let (s, v) = body(
        app.client
            .post(app.url("/organizer/tickets/csv"))
            .header("X-Api-Key", &app.key_a)
            .header("Content-Type", "text/csv")
            .body(csv)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(result_codes(&v), ["DUPLICATE_BARCODE"], "{v}");
    let (_, v) = body(app.get("/organizer/tickets?q=G2").await).await;
    assert_eq!(v["total"], 1, "{v}");
}

/// Item 26: a valid `X-Api-Key` next to a different `Authorization` is refused on
/// every organizer operation; the same key in both is fine.
pub async fn conflicting_credentials_are_refused(app: &TestApp) {
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if !path.starts_with("/organizer/") {
            continue;
        }
        let concrete = path
            .replace("{ticketId}", "T1")
            .replace("{eventId}", "E1")
            .replace("{privilegeId}", "P1");
        for (method, _) in item.as_object().expect("item") {
            let m: reqwest::Method = method.to_uppercase().parse().expect("method");
            for auth in [
                "Basic YWRtaW46dG5rX3dyb25n".to_owned(), // admin:tnk_wrong
                "Bearer tnk_other".to_owned(),
            ] {
                let r = app
                    .client
                    .request(m.clone(), app.url(&concrete))
                    .header("X-Api-Key", &app.key_a)
                    .header("Authorization", auth)
                    .json(&json!({}))
                    .send()
                    .await
                    .expect("send");
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked} organizer operations");
    let r = app
        .client
        .get(app.url("/organizer/events"))
        .header("X-Api-Key", &app.key_a)
        .basic_auth("admin", Some(&app.key_a))
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the same key twice is no conflict"
    );
}

/// Item 26: `organizerId: null` is refused (the document says integer); the
/// document's own CSV example is accepted as it stands.
pub async fn the_document_is_what_the_service_accepts(app: &TestApp) {
    let (s, v) = body(
        app.client
            .post(app.url("/app/session"))
            .json(&json!({"email": "ann@example.org", "organizerId": null}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("organizerId"),
        "{v}"
    );

    let doc: Value = serde_json::from_str(tixbridge_wallet::openapi::DOCUMENT).expect("doc");
    let example = doc["paths"]["/organizer/tickets/csv"]["post"]["requestBody"]["content"]
        ["text/csv"]["example"]
        .as_str()
        .expect("the CSV example");
    let (s, v) = body(
        app.client
            .post(app.url("/organizer/tickets/csv"))
            .header("X-Api-Key", &app.key_a)
            .header("Content-Type", "text/csv")
            .body(example.to_owned())
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["refused"], 0, "{v}");
    assert!(v["accepted"].as_u64().unwrap_or(0) >= 1, "{v}");
}
