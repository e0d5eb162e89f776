//! Hostile input: SQL metacharacters and Unicode edge cases in every string
//! field of the create operations, over-long strings, huge numbers, deep
//! JSON, duplicate keys, wrong content types, slow and oversized bodies.
//! None may yield a 500 or a panic, and whatever is accepted is stored and
//! read back exactly as accepted.

use crate::common;

use std::time::Duration;

use futures_util::StreamExt;
use unicode_normalization::UnicodeNormalization;

use casedesk::accounts::model::Role;
use common::{
    bodies::{NewDefender, NewStay},
    problem, TestApp,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Strings an attacker, a careless import or a broken keyboard sends.
fn hostile_strings() -> Vec<String> {
    let mut v: Vec<String> = [
        "'; DROP TABLE staff; --",
        "\" OR \"1\"=\"1",
        "Robert'); DELETE FROM audit_events;--",
        "%' OR 1=1 --",
        "'; SELECT pg_sleep(5); --",
        "\\x27\\x00\\",
        "$1 $$ ?; \\N",
        "<script>alert(1)</script>",
        "=HYPERLINK(\"http://evil.example\")",
        "\u{202E}evil\u{202C}",
        "a\u{200B}b\u{200D}c",
        "e\u{0301} and é",
        "👨‍👩‍👧‍👦 family",
        "𝕏𝔂𝔃 astral",
        "\u{FEFF}bom",
        "\u{FFFF}\u{FFFE} nonchars",
        "line\u{2028}separator",
        "名前 İı ß ﬁ",
        "\u{0000}nul",
        "tab\there",
        "bell\u{0007}",
        "  padded  ",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    v.push("x".repeat(10_001));
    v.push("é".repeat(300));
    v
}

/// `base` with `é`, `€` and `😀` inserted at each character boundary.
fn multibyte_at_every_position(base: &str) -> Vec<String> {
    let mut positions: Vec<usize> = base.char_indices().map(|(i, _)| i).collect();
    positions.push(base.len());
    let mut out = Vec::new();
    for at in positions {
        for c in ["é", "€", "😀"] {
            out.push(format!("{}{c}{}", &base[..at], &base[at..]));
        }
    }
    out
}

struct Case {
    name: &'static str,
    path: String,
    body: Value,
    /// JSON pointers of the string fields to attack.
    fields: Vec<&'static str>,
    token: String,
    /// Where the created resource is read back (`{id}` is replaced).
    read: Option<String>,
}

fn set(body: &mut Value, pointer: &str, value: Value) {
    *body.pointer_mut(pointer).unwrap() = value;
}

#[tokio::test]
async fn hostile_strings_in_every_field_are_refused_or_stored_exactly() {
    let app = TestApp::spawn().await;
    let admin = app.account(&[Role::Admin]).await;
    let exchange = app.account(&[Role::ExchangeCoordinator]).await;
    let shelter = app.account(&[Role::ShelterCoordinator]).await;
    let inst: Value = app
        .post("/institutions", Some(&exchange.token), json!({"name": "Home", "kind": "mbo_college", "country": "NL", "city": "Delft", "sisterCity": false}))
        .await
        .json()
        .await
        .unwrap();
    let home = inst["id"].as_str().unwrap().to_owned();
    let person: Value = app
        .post("/participants", Some(&exchange.token), json!({"givenName": "Base", "familyName": "Learner", "dateOfBirth": "2007-01-01", "email": "base@student.example.nl", "educationLevel": "mbo_4", "homeInstitutionId": home, "fieldOfStudy": "Care", "nationality": "NL", "fewerOpportunities": false}))
        .await
        .json()
        .await
        .unwrap();
    let t = shelter.token.as_str();
    let defender = app
        .create("/defenders", t, NewDefender::named("Base"))
        .await;
    let defender_id = defender["id"].as_str().unwrap();
    let stay_id = app.create_id("/stays", t, NewStay::of(defender_id)).await;

    let cases = vec![
        Case {
            name: "institution",
            path: "/institutions".into(),
            body: json!({"name": "N", "kind": "employer", "country": "PT", "city": "C", "sisterCity": false, "contactEmail": "a@b.example", "erasmusCode": "P PORTO01"}),
            fields: vec![
                "/name",
                "/city",
                "/contactEmail",
                "/erasmusCode",
                "/country",
            ],
            token: exchange.token.clone(),
            read: Some("/institutions/{id}".into()),
        },
        Case {
            name: "participant",
            path: "/participants".into(),
            body: json!({"givenName": "G", "familyName": "F", "dateOfBirth": "2007-01-01", "email": "g@student.example.nl", "educationLevel": "hbo", "homeInstitutionId": home, "fieldOfStudy": "S", "nationality": "NL", "fewerOpportunities": false}),
            fields: vec![
                "/givenName",
                "/familyName",
                "/email",
                "/fieldOfStudy",
                "/nationality",
            ],
            token: exchange.token.clone(),
            read: Some("/participants/{id}".into()),
        },
        Case {
            name: "placement",
            path: "/placements".into(),
            body: json!({"participantId": person["id"], "direction": "outgoing", "sendingInstitutionId": home, "receivingInstitutionId": home, "kind": "study", "plannedStart": "2027-02-01", "plannedEnd": "2027-03-01", "fundingProgramme": "F"}),
            fields: vec!["/fundingProgramme"],
            token: exchange.token.clone(),
            read: Some("/placements/{id}".into()),
        },
        Case {
            name: "defender",
            path: "/defenders".into(),
            body: json!({"codename": "K", "countryOfWork": "UG", "fieldOfWork": "labour", "languages": ["L"], "riskLevel": "low",
                         "identity": {"legalName": "L", "passportNumber": "P1", "phone": "+1 555"}}),
            fields: vec![
                "/codename",
                "/languages/0",
                "/identity/legalName",
                "/identity/passportNumber",
                "/identity/phone",
                "/countryOfWork",
            ],
            token: shelter.token.clone(),
            read: Some("/defenders/{id}".into()),
        },
        Case {
            name: "stay",
            path: "/stays".into(),
            body: json!({"defenderId": defender["id"], "intakeRound": "R", "referringOrganisation": "O", "localPartner": "P", "plannedArrival": "2027-03-01", "plannedDeparture": "2027-06-01", "visaStatus": "to_apply", "insuranceArranged": true, "confidentiality": "restricted", "accommodationAddress": "A"}),
            fields: vec![
                "/intakeRound",
                "/referringOrganisation",
                "/localPartner",
                "/accommodationAddress",
            ],
            token: shelter.token.clone(),
            read: Some("/stays/{id}".into()),
        },
        Case {
            name: "note",
            path: format!("/stays/{stay_id}/notes"),
            body: json!({"category": "safety", "body": "B"}),
            fields: vec!["/body"],
            token: shelter.token.clone(),
            read: None,
        },
        Case {
            name: "staff",
            path: "/staff".into(),
            body: json!({"email": "s@casedesk.test", "displayName": "D", "roles": ["analyst"]}),
            fields: vec!["/email", "/displayName"],
            token: admin.token.clone(),
            read: None,
        },
        Case {
            name: "api client",
            path: "/api-clients".into(),
            body: json!({"name": "N", "scopes": ["exchange.read"], "expiresAt": (chrono::Utc::now() + chrono::TimeDelta::days(10)).to_rfc3339()}),
            fields: vec!["/name"],
            token: admin.token.clone(),
            read: None,
        },
        Case {
            name: "subscription",
            path: "/subscriptions".into(),
            body: json!({"callbackUrl": "https://r.example.org/hook", "channels": [{"kanaal": "stays", "filters": {"status": "intake"}}]}),
            fields: vec!["/callbackUrl", "/channels/0/filters/status"],
            token: admin.token.clone(),
            read: None,
        },
        Case {
            name: "participant search",
            path: "/participants/searches".into(),
            body: json!({"familyName": "F"}),
            fields: vec!["/familyName"],
            token: exchange.token.clone(),
            read: None,
        },
    ];

    let mut failures = Vec::new();
    let mut accepted = 0;
    let mut refused = 0;
    for case in &cases {
        for field in &case.fields {
            // and the field's own valid value with a multi-byte character
            // (2, 3 and 4 bytes in UTF-8) at every position: code that cuts
            // text at a byte index panics on these
            let base = case
                .body
                .pointer(field)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let hostile = hostile_strings().len();
            let values: Vec<String> = hostile_strings()
                .into_iter()
                .chain(multibyte_at_every_position(&base))
                .collect();
            for (i, value) in values.iter().enumerate() {
                let mut body = case.body.clone();
                // unique values where uniqueness is enforced
                let value = match (case.name, *field) {
                    ("staff", "/email") => format!("{value}{i}"),
                    // a suffix would move a multi-byte character away from the end
                    ("institution", "/erasmusCode") if i < hostile => format!("{value}{i}"),
                    _ => value.clone(),
                };
                set(&mut body, field, json!(value));
                if case.name == "staff" && *field != "/email" {
                    set(
                        &mut body,
                        "/email",
                        json!(format!("s{i}{}@casedesk.test", field.len())),
                    );
                }
                if case.name == "institution" && *field != "/erasmusCode" {
                    set(&mut body, "/erasmusCode", Value::Null);
                }
                let resp = app.post(&case.path, Some(&case.token), body).await;
                let status = resp.status();
                let text = resp.text().await.unwrap();
                if status.is_server_error() {
                    failures.push(format!(
                        "{} {field} = {value:?}: {status} {text}",
                        case.name
                    ));
                    continue;
                }
                if !status.is_success() {
                    refused += 1;
                    if status != StatusCode::BAD_REQUEST {
                        failures.push(format!(
                            "{} {field} = {value:?}: {status}, expected 2xx or 400",
                            case.name
                        ));
                    }
                    continue;
                }
                accepted += 1;
                let created: Value = serde_json::from_str(&text).unwrap();
                let created = if created.get("client").is_some() {
                    created["client"].clone()
                } else if created.get("subscription").is_some() {
                    created["subscription"].clone()
                } else {
                    created
                };
                let Some(stored) = created.pointer(field) else {
                    continue; // searches and write-only fields answer otherwise
                };
                // accepted as sent (apart from surrounding white space, which is trimmed)
                // (codenames are kept in Unicode normal form C; filter values exactly as sent)
                let trimmed = value.trim();
                let normal: String = trimmed.nfc().collect();
                let as_sent = stored.as_str() == Some(trimmed)
                    || stored.as_str() == Some(value.as_str())
                    || (*field == "/codename" && stored.as_str() == Some(normal.as_str()));
                let normalised_url = case.name == "subscription" && *field == "/callbackUrl";
                if !(as_sent || normalised_url) {
                    failures.push(format!(
                        "{} {field}: sent {value:?}, answered {stored}",
                        case.name
                    ));
                }
                if let Some(read) = &case.read {
                    let path = read.replace("{id}", created["id"].as_str().unwrap());
                    let again: Value = app.get(&path, &case.token).await.json().await.unwrap();
                    if again.pointer(field) != Some(stored) {
                        failures.push(format!(
                            "{} {field}: stored {stored}, read back {:?}",
                            case.name,
                            again.pointer(field)
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        accepted > 50 && refused > 50,
        "accepted {accepted}, refused {refused}"
    );

    // the audit chain still verifies after all of it
    let auditor = app.account(&[Role::Auditor]).await;
    let v: Value = app
        .get("/audit-events/verification", &auditor.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["ok"], true);
}

#[tokio::test]
async fn malformed_bodies_numbers_and_headers_are_client_errors() {
    let app = TestApp::spawn().await;
    let exchange = app.account(&[Role::ExchangeCoordinator]).await;
    let t = exchange.token.as_str();
    let inst =
        json!({"name": "N", "kind": "employer", "country": "PT", "city": "C", "sisterCity": false});

    // deep JSON, at every depth up to far beyond any limit
    for depth in [40, 200, 5_000, 100_000] {
        let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let resp = app
            .request(Method::POST, "/institutions", Some(t))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "depth {depth}");
    }
    let mut nested = json!("x");
    for _ in 0..60 {
        nested = json!({"a": nested});
    }
    let mut deep = inst.clone();
    deep["name"] = nested;
    problem(app.post("/institutions", Some(t), deep).await, 400).await;

    // duplicate keys: refused, not silently resolved
    let resp = app
        .request(Method::POST, "/institutions", Some(t))
        .header("content-type", "application/json")
        .body(r#"{"name": "First", "name": "Second", "kind": "employer", "country": "PT", "city": "C", "sisterCity": false}"#)
        .send()
        .await
        .unwrap();
    let b = problem(resp, 400).await;
    assert_eq!(b["invalidParams"][0]["code"], "duplicate_key", "{b}");

    // huge and odd numbers
    let home: Value = app
        .post("/institutions", Some(t), inst.clone())
        .await
        .json()
        .await
        .unwrap();
    let person: Value = app
        .post("/participants", Some(t), json!({"givenName": "G", "familyName": "F", "dateOfBirth": "2007-01-01", "email": "g@student.example.nl", "educationLevel": "hbo", "homeInstitutionId": home["id"], "fieldOfStudy": "S", "nationality": "NL", "fewerOpportunities": false}))
        .await
        .json()
        .await
        .unwrap();
    for number in [
        "1e309",
        "99999999999999999999999",
        "-1",
        "2147483648",
        "1.5",
        "-0",
        "NaN",
        "Infinity",
        "0x10",
        "\"12\"",
    ] {
        let body = format!(
            r#"{{"participantId": {}, "direction": "outgoing", "sendingInstitutionId": "{id}", "receivingInstitutionId": "{id}", "kind": "study", "plannedStart": "2027-02-01", "plannedEnd": "2027-03-01", "travelDistanceKm": {number}}}"#,
            person
                .get("id")
                .map_or("null".to_owned(), |v| v.to_string()),
            id = uuid::Uuid::now_v7()
        );
        let resp = app
            .request(Method::POST, "/placements", Some(t))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_client_error(),
            "travelDistanceKm {number}: {}",
            resp.status()
        );
    }
    for query in [
        "limit=1e100",
        "limit=-1",
        "limit=99999999999999999999",
        "limit=0",
        "cursor=%00",
        "year=99999999999",
        "limit=1&limit=2",
    ] {
        let resp = app.get(&format!("/placements?{query}"), t).await;
        assert!(
            resp.status().is_client_error() || resp.status() == StatusCode::OK,
            "{query}: {}",
            resp.status()
        );
        assert!(!resp.status().is_server_error());
    }

    // wrong and missing content types
    for ct in [
        Some("text/plain"),
        Some("application/xml"),
        Some("multipart/form-data; boundary=x"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut rb = app
            .request(Method::POST, "/institutions", Some(t))
            .body(inst.to_string());
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        let resp = rb.send().await.unwrap();
        problem(resp, 415).await;
    }
    // not UTF-8, truncated, empty, a bare value
    for body in [
        vec![0xff, 0xfe, 0x7b],
        b"{\"name\": \"N".to_vec(),
        Vec::new(),
        b"null".to_vec(),
        b"42".to_vec(),
    ] {
        let resp = app
            .request(Method::POST, "/institutions", Some(t))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        problem(resp, 400).await;
    }
    // hostile header values
    for (name, value) in [
        ("x-audit-reason", "r".repeat(501)),
        ("if-match", "\"abc\"".to_owned()),
        ("x-request-id", "'; DROP TABLE x; --".to_owned()),
    ] {
        let resp = app
            .request(
                Method::PATCH,
                &format!("/participants/{}", person["id"].as_str().unwrap()),
                Some(t),
            )
            .header(name, value.as_str())
            .json(&json!({"fieldOfStudy": "Law"}))
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_client_error() || resp.status().is_success(),
            "{name}: {}",
            resp.status()
        );
        assert!(!resp.status().is_server_error());
    }
}

#[tokio::test]
async fn slow_bodies_are_waited_for_stalled_ones_cut_off_and_oversized_ones_refused() {
    let app = TestApp::spawn_with(|c| c.body_timeout = Duration::from_secs(2)).await;
    let exchange = app.account(&[Role::ExchangeCoordinator]).await;
    let body = json!({"name": "Slow", "kind": "employer", "country": "PT", "city": "C", "sisterCity": false}).to_string();

    // slow but steady: arrives within the limit, so it is served
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body
        .bytes()
        .collect::<Vec<u8>>()
        .chunks(10)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let stream = futures_util::stream::iter(chunks).then(|c| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        c
    });
    let resp = app
        .request(Method::POST, "/institutions", Some(&exchange.token))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    // stalled half-way: cut off with 408, and nothing written
    let half = body[..body.len() / 2].to_owned();
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(half.into_bytes())])
        .chain(futures_util::stream::pending());
    let resp = app
        .request(Method::POST, "/institutions", Some(&exchange.token))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    problem(resp, 408).await;

    // oversized, with and without a declared length
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(1_100_000));
    let resp = app
        .request(Method::POST, "/institutions", Some(&exchange.token))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    problem(resp, 413).await;
    let stream = futures_util::stream::iter(
        big.into_bytes()
            .chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let resp = app
        .request(Method::POST, "/institutions", Some(&exchange.token))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    problem(resp, 413).await;

    let list: Value = app
        .get("/institutions", &exchange.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "only the slow one was written"
    );
}
