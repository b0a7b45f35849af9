//! The OpenAPI 3.1 document of the wallet service, served at `GET /openapi.json`.
//!
//! The document is written by hand (`docs/openapi.json` at the root of the repository, beside the contract it states, `docs/wallet-api.md`) rather than
//! derived from the handlers: the contract (`docs/wallet-api.md`) comes first and the code
//! follows it, so the document states the contract and the tests below keep it
//! well-formed. [`documented_operations`] lets a router test check that every route
//! the service answers is documented, and the other way round.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as served.
pub const DOCUMENT: &str = include_str!("../../../docs/openapi.json");

/// HTTP methods an OpenAPI path item may hold, as they appear in the document.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `(METHOD, path)` for every operation the document describes: the method in upper
/// case, the path as written there (`/organizer/tickets/{ticketId}`), ordered by path
/// then method.
pub fn documented_operations() -> Vec<(String, String)> {
    let doc: serde_json::Value =
        serde_json::from_str(DOCUMENT).expect("openapi.json is checked by the unit tests");
    let mut ops = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
        for (path, item) in paths {
            for method in METHODS {
                if item.get(method).is_some() {
                    ops.push((method.to_ascii_uppercase(), path.clone()));
                }
            }
        }
    }
    ops.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    ops
}

/// `GET /openapi.json`.
pub async fn handler() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    fn doc() -> Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is valid JSON")
    }

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths is an object") {
            for method in METHODS {
                if let Some(op) = item.get(method) {
                    out.push((method.to_owned(), path.clone(), op));
                }
            }
        }
        out
    }

    #[test]
    fn the_document_is_openapi_3_1() {
        let doc = doc();
        let version = doc["openapi"].as_str().expect("openapi is a string");
        assert!(version.starts_with("3.1."), "openapi is {version}");
        assert!(doc["info"]["title"].is_string());
        assert!(doc["info"]["version"].is_string());
    }

    #[test]
    fn every_operation_has_a_unique_id_and_responses() {
        let doc = doc();
        let mut ids = BTreeSet::new();
        for (method, path, op) in operations(&doc) {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            let responses = op["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path} has no responses"));
            assert!(!responses.is_empty(), "{method} {path} has no responses");
            assert!(
                responses.keys().any(|k| k.starts_with('2')),
                "{method} {path} documents no success answer"
            );
        }
    }

    /// Every `{name}` of a path template is declared as a path parameter.
    #[test]
    fn path_parameters_are_declared() {
        let doc = doc();
        for (method, path, op) in operations(&doc) {
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            let in_template: BTreeSet<&str> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            assert_eq!(declared, in_template, "{method} {path}");
        }
    }

    fn collect_refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => collect_refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_ref_resolves_inside_the_document() {
        let doc = doc();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{r} points outside the document"));
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    #[test]
    fn every_security_requirement_names_a_scheme() {
        let doc = doc();
        let schemes = doc["components"]["securitySchemes"]
            .as_object()
            .expect("security schemes");
        for (method, path, op) in operations(&doc) {
            let reqs = op["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path} states no security"));
            for req in reqs {
                for name in req.as_object().expect("requirement object").keys() {
                    assert!(schemes.contains_key(name), "{method} {path}: {name}");
                }
            }
        }
    }

    #[test]
    fn the_contract_routes_are_documented() {
        let ops: BTreeSet<(String, String)> = documented_operations().into_iter().collect();
        let mut expected = vec![
            ("GET", "/organizer/tickets"),
            ("POST", "/organizer/tickets"),
            ("GET", "/organizer/tickets/diff"),
            ("GET", "/organizer/tickets/{ticketId}"),
            ("POST", "/organizer/tickets/delete"),
            ("POST", "/organizer/tickets/controlled"),
            ("POST", "/organizer/tickets/csv"),
            ("POST", "/organizer/tickets/{ticketId}/transfer"),
            ("GET", "/organizer/events"),
            ("GET", "/organizer/events/{eventId}/statistics"),
            ("POST", "/organizer/privileges"),
            ("POST", "/organizer/privileges/delete"),
            ("GET", "/organizer/privileges/{privilegeId}"),
            ("GET", "/organizer/report/ticket-status-logs"),
            ("GET", "/organizer/report/verify"),
            ("POST", "/app/session"),
            ("GET", "/app/tickets"),
            ("GET", "/health"),
            ("GET", "/ready"),
            ("GET", "/metrics"),
            ("GET", "/openapi.json"),
        ];
        let app_actions = [
            "/app/tickets/{ticketId}/download",
            "/app/tickets/{ticketId}/assign",
            "/app/tickets/{ticketId}/transfer",
            "/app/tickets/{ticketId}/accept",
            "/app/tickets/{ticketId}/reject",
            "/app/tickets/{ticketId}/cancel-transfer",
            "/app/tickets/{ticketId}/activate",
            "/app/tickets/{ticketId}/deactivate",
        ];
        expected.extend(app_actions.iter().map(|p| ("POST", *p)));
        let expected: BTreeSet<(String, String)> = expected
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        assert_eq!(ops, expected);
    }

    #[test]
    fn the_wire_schemas_are_present_with_contract_names() {
        let doc = doc();
        let schemas = &doc["components"]["schemas"];
        for name in [
            "Ticket",
            "Event",
            "Address",
            "PurchaseDetails",
            "Security",
            "Person",
            "ActivationParameters",
            "TicketDetails",
            "TransferRules",
            "Text",
            "ItemResult",
            "ResultsResponse",
            "Error",
            "WalletStatus",
            "TicketState",
            "Deletion",
            "PendingTransfer",
            "LogEntry",
            "DiffPage",
            "TicketRecord",
            "TicketList",
            "EventSummary",
            "EventStatistics",
            "Privilege",
            "PrivilegeDefinition",
            "AppTickets",
            "Session",
        ] {
            assert!(schemas.get(name).is_some(), "schema {name} is missing");
        }
        let statuses = schemas["WalletStatus"]["enum"].as_array().expect("enum");
        assert_eq!(statuses.len(), 15);
        // A state as the service serializes it carries exactly the documented fields.
        let state: BTreeSet<&str> = schemas["TicketState"]["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        for field in [
            "ticketId",
            "taxationNumber",
            "eventId",
            "status",
            "statusChangedAt",
            "owner",
            "initialOwner",
            "previousOwner",
            "holder",
            "transferLevel",
            "deletion",
            "transfer",
            "history",
        ] {
            assert!(state.contains(field), "TicketState.{field}");
        }
    }

    /// Checks a value the service's wire types produced against a schema of the
    /// document: no undocumented field, no documented required field missing.
    fn assert_fields_match(doc: &Value, schema: &str, value: &Value) {
        let s = &doc["components"]["schemas"][schema];
        let props = s["properties"].as_object().expect("properties");
        let obj = value.as_object().expect("an object");
        for k in obj.keys() {
            assert!(
                props.contains_key(k),
                "{schema}: field {k} is not documented"
            );
        }
        for r in s["required"].as_array().into_iter().flatten() {
            let r = r.as_str().expect("a field name");
            assert!(obj.contains_key(r), "{schema}: required field {r} not sent");
        }
    }

    /// Round-trips documented examples through the wire types of `tixbridge-core`: a
    /// field renamed or added there without the document following fails here.
    #[test]
    fn the_wire_types_serialize_as_documented() {
        use tixbridge_core::api;

        let doc = doc();
        let person = serde_json::json!({"email": "a@example.org", "firstName": "Ada"});
        let entry = serde_json::json!({
            "seq": 1, "at": "2026-07-12T21:00:00+02:00", "ticketId": "T1",
            "action": "TRANSFER", "fromStatus": "DOWNLOADED", "toStatus": "PENDING_TRANSFER",
            "fromOwner": "a@example.org", "toOwner": "a@example.org", "actor": "APP",
            "detail": "to b@example.org",
            "prevHash": "0".repeat(64), "hash": "1".repeat(64),
        });
        let state = serde_json::json!({
            "ticketId": "T1", "taxationNumber": "100", "eventId": "E1",
            "status": "PENDING_TRANSFER", "statusChangedAt": "2026-07-12T21:00:00+02:00",
            "owner": person, "initialOwner": person, "previousOwner": null, "holder": null,
            "transferLevel": 0,
            "deletion": {"reason": "resold", "showDeletedTicket": true,
                         "requestedAt": "2026-07-12T21:00:00+02:00", "confirmedAt": null},
            "transfer": {"to": {"email": "b@example.org"}, "from": person,
                         "requestedAt": "2026-07-12T21:00:00+02:00",
                         "expiresAt": "2026-07-12T22:00:00+02:00", "backOffice": false},
            "history": [entry],
        });
        let parsed: api::TicketState = serde_json::from_value(state.clone()).expect("TicketState");
        let state_out = serde_json::to_value(parsed).expect("serializes");
        assert_fields_match(&doc, "TicketState", &state_out);
        assert_fields_match(&doc, "LogEntry", &state_out["history"][0]);
        assert_fields_match(&doc, "Deletion", &state_out["deletion"]);
        assert_fields_match(&doc, "PendingTransfer", &state_out["transfer"]);
        assert_fields_match(&doc, "Person", &state_out["owner"]);

        let page = serde_json::json!({"tickets": [state], "nextPageKey": "k"});
        let page: api::DiffPage = serde_json::from_value(page).expect("DiffPage");
        assert_fields_match(&doc, "DiffPage", &serde_json::to_value(page).unwrap());

        let result =
            api::ItemResult::ko("T2", "MISSING_FIELD", "spectatorDetails.email is required");
        assert_fields_match(&doc, "ItemResult", &serde_json::to_value(result).unwrap());
        let error = api::ErrorBody::new("TICKET_NOT_FOUND", "no ticket T1");
        assert_fields_match(&doc, "Error", &serde_json::to_value(error).unwrap());
        let stats = api::EventStatistics::default();
        assert_fields_match(
            &doc,
            "EventStatistics",
            &serde_json::to_value(stats).unwrap(),
        );
        let app = serde_json::to_value(api::AppTickets::default()).unwrap();
        assert_fields_match(&doc, "AppTickets", &app);
        let event = serde_json::json!({"id": "E1", "name": {"en": "Final"}, "startTime": null,
            "expirationDate": null, "address": null, "group": null, "metadata": {}});
        let event: api::EventSummary = serde_json::from_value(event).expect("EventSummary");
        assert_fields_match(&doc, "EventSummary", &serde_json::to_value(event).unwrap());
    }

    #[tokio::test]
    async fn the_handler_serves_the_document_as_json() {
        let resp = handler().await.into_response();
        assert_eq!(resp.status(), axum::http::StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        assert_eq!(body, DOCUMENT.as_bytes());
    }

    /// The schemas a request may reach: request bodies and parameters, and every
    /// schema they refer to.
    fn request_schemas(doc: &Value) -> BTreeSet<String> {
        fn walk(doc: &Value, v: &Value, seen: &mut BTreeSet<String>) {
            match v {
                Value::Object(map) => {
                    if let Some(name) = map
                        .get("$ref")
                        .and_then(Value::as_str)
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                        && seen.insert(name.to_owned())
                    {
                        walk(doc, &doc["components"]["schemas"][name], seen);
                    }
                    map.values().for_each(|v| walk(doc, v, seen));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(doc, v, seen)),
                _ => {}
            }
        }
        let mut seen = BTreeSet::new();
        for (_, _, op) in operations(doc) {
            walk(doc, &op["requestBody"], &mut seen);
            walk(doc, &op["parameters"], &mut seen);
        }
        seen
    }

    /// The input gate (`body.rs`) as the document states it: every string a request
    /// carries excludes control characters (a pattern, a format, an enumeration or
    /// one of the shared string schemas), and every request object says what it does
    /// with the members it does not name.
    #[test]
    fn the_document_states_the_input_gate() {
        fn check(v: &Value, at: &str) {
            match v {
                Value::Object(map) => {
                    let is_string = map.get("type").is_some_and(|t| {
                        t == "string" || t.as_array().is_some_and(|a| a.contains(&"string".into()))
                    });
                    if is_string && map.get("const").is_none() {
                        assert!(
                            ["pattern", "format", "enum"]
                                .iter()
                                .any(|k| map.contains_key(*k)),
                            "{at}: a string without a pattern"
                        );
                    }
                    if map.get("type") == Some(&"object".into()) {
                        assert!(
                            map.contains_key("additionalProperties"),
                            "{at}: an object silent about unnamed members"
                        );
                    }
                    for (k, v) in map {
                        check(v, &format!("{at}/{k}"));
                    }
                }
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .for_each(|(i, v)| check(v, &format!("{at}/{i}"))),
                _ => {}
            }
        }
        let doc = doc();
        let schemas = request_schemas(&doc);
        assert!(schemas.contains("Ticket") && schemas.contains("Unnamed"));
        for name in &schemas {
            // An item's wire form (`TicketWire`, …) takes any string: what breaks the
            // rules refuses the item alone (`KO`), not the call; its strict form
            // (`Ticket`) states the rules and is checked here.
            if !name.ends_with("Wire") {
                check(&doc["components"]["schemas"][name], name);
            }
        }
        assert!(schemas.contains("TicketWire") && schemas.contains("UnnamedWire"));
        for (method, path, op) in operations(&doc) {
            check(&op["parameters"], &format!("{method} {path}"));
        }
        // The patterns say what check_plain_text refuses.
        let s = &doc["components"]["schemas"];
        assert_eq!(
            s["OneLineString"]["pattern"],
            "^[^\\u0000-\\u001F\\u007F]*$"
        );
        assert_eq!(
            s["MultiLineString"]["pattern"],
            "^(?:[^\\u0000-\\u0008\\u000B-\\u001F\\u007F]|\\r\\n)*$"
        );
        // Unnamed members: the arrays the gate accepts are the ones it names.
        let unnamed = s["Unnamed"]["description"].as_str().expect("description");
        for field in crate::body::ARRAY_FIELDS {
            let field = std::str::from_utf8(field).expect("ASCII");
            assert!(unnamed.contains(&format!("`{field}`")), "{field}");
        }
    }

    /// `docs/wallet-api.md` names every operation of the document in its table "Every
    /// operation", and names no operation the document lacks: the prose reference and
    /// the machine-readable one cannot drift apart.
    #[test]
    fn the_reference_page_lists_exactly_the_documented_operations() {
        let page = include_str!("../../../docs/wallet-api.md");
        let table = page
            .split("## Every operation")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("docs/wallet-api.md has a section \"Every operation\"");
        let listed: BTreeSet<(String, String)> = table
            .lines()
            .filter_map(|line| line.strip_prefix("| `")?.split_once('`'))
            .filter_map(|(op, _)| op.split_once(' '))
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        let documented: BTreeSet<(String, String)> = documented_operations().into_iter().collect();
        assert_eq!(
            listed, documented,
            "docs/wallet-api.md against docs/openapi.json"
        );
    }
}
