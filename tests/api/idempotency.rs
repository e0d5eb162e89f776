//! Retries that do not duplicate: `Idempotency-Key` on the creates that
//! give what they make an address (issue 34, item 3). The same key with the
//! same request answers as the first time and makes nothing new, on any
//! replica; another request with it is a 422; a failed first request
//! releases it; a key is kept per caller for 24 hours; a replay reads with
//! the caller's rights of the moment, so an erased record stays erased; and
//! neither the key nor the body is stored.

use crate::common;

use casedesk::{accounts::model::Role, clock::Clock};
use common::{problem, Account, TestApp};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

struct World {
    app: TestApp,
    officer: Account,
    body: Value,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let officer = app.account(&[Role::ExchangeCoordinator]).await;
    let t = officer.token.as_str();
    let home = app
        .create_id(
            "/institutions",
            t,
            json!({"name": "ROC Retry", "kind": "mbo_college", "country": "NL", "city": "Delft", "sisterCity": false}),
        )
        .await;
    let partner = app
        .create_id(
            "/institutions",
            t,
            json!({"name": "Escola Retry", "kind": "mbo_college", "country": "PT", "city": "Porto", "sisterCity": true}),
        )
        .await;
    let learner = app
        .create_id(
            "/participants",
            t,
            json!({"givenName": "Ana", "familyName": "Retry", "dateOfBirth": "2007-05-01", "email": "ana@student.example.nl",
                   "educationLevel": "mbo_4", "homeInstitutionId": home, "fieldOfStudy": "Care", "nationality": "NL", "fewerOpportunities": false}),
        )
        .await;
    let body = json!({"participantId": learner, "direction": "outgoing", "sendingInstitutionId": home, "receivingInstitutionId": partner,
                      "kind": "traineeship", "plannedStart": "2027-02-01", "plannedEnd": "2027-04-30"});
    World { app, officer, body }
}

async fn send(app: &TestApp, token: &str, path: &str, key: &str, body: &Value) -> Response {
    app.request(Method::POST, path, Some(token))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn placements(app: &TestApp, token: &str) -> usize {
    let page: Value = app.get("/placements", token).await.json().await.unwrap();
    page["items"].as_array().unwrap().len()
}

/// The defect: the same key twice made two placements.
#[tokio::test]
async fn the_same_key_and_request_twice_make_one_placement() {
    let w = world().await;
    let t = w.officer.token.as_str();
    let first = send(&w.app, t, "/placements", "retry-1", &w.body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let made: Value = first.json().await.unwrap();
    // quoted as a structured-field string, as the draft writes it: the same key
    let again = send(&w.app, t, "/placements", "\"retry-1\"", &w.body).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["location"], location.as_str());
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert!(again.headers().get("etag").is_some());
    let replayed: Value = again.json().await.unwrap();
    assert_eq!(replayed, made, "answered as the first time");
    assert_eq!(placements(&w.app, t).await, 1, "nothing made twice");
}

#[tokio::test]
async fn another_request_with_a_used_key_is_a_422_and_writes_nothing() {
    let w = world().await;
    let t = w.officer.token.as_str();
    assert_eq!(
        send(&w.app, t, "/placements", "retry-2", &w.body)
            .await
            .status(),
        StatusCode::CREATED
    );
    let mut other = w.body.clone();
    other["plannedEnd"] = json!("2027-05-31");
    let body = problem(send(&w.app, t, "/placements", "retry-2", &other).await, 422).await;
    assert_eq!(body["type"], "urn:casedesk:problem:idempotency-key-reused");
    // the key on another create is another request too
    let institution = json!({"name": "ROC Ander", "kind": "mbo_college", "country": "NL", "city": "Ede", "sisterCity": false});
    problem(
        send(&w.app, t, "/institutions", "retry-2", &institution).await,
        422,
    )
    .await;
    assert_eq!(placements(&w.app, t).await, 1);
}

#[tokio::test]
async fn a_failed_first_request_releases_its_key() {
    let w = world().await;
    let t = w.officer.token.as_str();
    let mut wrong = w.body.clone();
    wrong["plannedEnd"] = json!("2027-01-01");
    problem(send(&w.app, t, "/placements", "retry-3", &wrong).await, 400).await;
    let resp = send(&w.app, t, "/placements", "retry-3", &w.body).await;
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "the corrected retry runs"
    );
    assert!(resp.headers().get("idempotent-replayed").is_none());
    assert_eq!(placements(&w.app, t).await, 1);
}

#[tokio::test]
async fn a_key_is_kept_per_caller_across_replicas_for_24_hours() {
    let w = world().await;
    let t = w.officer.token.as_str();
    assert_eq!(
        send(&w.app, t, "/placements", "retry-4", &w.body)
            .await
            .status(),
        StatusCode::CREATED
    );
    // another replica remembers it
    let replica = w.app.replica().await;
    let resp = send(&replica, t, "/placements", "retry-4", &w.body).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["idempotent-replayed"], "true");
    // another caller's key of the same text is their own
    let colleague = w.app.account(&[Role::ExchangeCoordinator]).await;
    let resp = send(&w.app, &colleague.token, "/placements", "retry-4", &w.body).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(resp.headers().get("idempotent-replayed").is_none());
    assert_eq!(placements(&w.app, t).await, 2);
    // still a replay at 23 hours; after 24 the key is forgotten (and swept)
    w.app.clock.advance(chrono::TimeDelta::hours(23));
    let t = w.app.sign_in(&w.officer).await;
    let resp = send(&w.app, &t, "/placements", "retry-4", &w.body).await;
    assert_eq!(resp.headers()["idempotent-replayed"], "true");
    w.app.clock.advance(chrono::TimeDelta::hours(2));
    let swept =
        casedesk::housekeeping::sweep(&w.app.state.db, w.app.clock.now(), &w.app.state.config)
            .await
            .unwrap();
    assert_eq!(swept.idempotency_keys, 2, "the two expired keys are swept");
    let t = w.app.sign_in(&w.officer).await;
    let resp = send(&w.app, &t, "/placements", "retry-4", &w.body).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(resp.headers().get("idempotent-replayed").is_none());
    assert_eq!(placements(&w.app, &t).await, 3);
}

/// Concurrent retries of one request: one runs, every other answer is its
/// replay or a 409 with `Retry-After`; never two placements.
#[tokio::test]
async fn concurrent_retries_with_one_key_make_one_placement() {
    let w = world().await;
    let t = w.officer.token.as_str();
    let answers = futures_util::future::join_all(
        (0..8).map(|_| send(&w.app, t, "/placements", "retry-5", &w.body)),
    )
    .await;
    let mut made = 0;
    for resp in answers {
        match resp.status() {
            StatusCode::CREATED if resp.headers().get("idempotent-replayed").is_none() => made += 1,
            StatusCode::CREATED => {}
            StatusCode::CONFLICT => {
                assert!(resp.headers().get("retry-after").is_some());
                let body = problem(resp, 409).await;
                assert_eq!(body["type"], "urn:casedesk:problem:idempotency-key-in-use");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(made, 1);
    assert_eq!(placements(&w.app, t).await, 1);
}

/// Where idempotency meets erasure: the replay of a create whose record
/// was erased since finds nothing and makes nothing.
#[tokio::test]
async fn the_replay_of_an_erased_defenders_create_finds_nothing_and_makes_nothing() {
    let app = TestApp::spawn().await;
    let coordinator = app.account(&[Role::ShelterCoordinator]).await;
    let t = coordinator.token.as_str();
    let body = json!({"codename": "Heron", "countryOfWork": "UG", "fieldOfWork": "environment_and_land", "languages": ["English"],
                      "riskLevel": "high", "identity": {"legalName": "Agnes Nakato Retry", "passportNumber": "B1234567", "dateOfBirth": "1990-02-03"}});
    let first = send(&app, t, "/defenders", "retry-6", &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let made: Value = first.json().await.unwrap();
    let id = made["id"].as_str().unwrap().to_owned();
    // a replay reads the defender with the caller's rights, audited as a read
    let again = send(&app, t, "/defenders", "retry-6", &body).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let replayed: Value = again.json().await.unwrap();
    assert_eq!(replayed["identity"]["legalName"], "Agnes Nakato Retry");
    assert!(app.audit_rows().await.iter().any(|e| e.action == "read"
        && e.resource_id.as_deref() == Some(id.as_str())
        && e.actor_id == Some(coordinator.id)));
    let resp = app
        .request(Method::DELETE, &format!("/defenders/{id}"), Some(t))
        .header("If-Match", "\"1\"")
        .header("X-Audit-Reason", "request of the defender")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let again = send(&app, t, "/defenders", "retry-6", &body).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND, "erased stays erased");
    let list: Value = app.get("/defenders", t).await.json().await.unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        0,
        "and nothing is made again"
    );
    // neither the key a client chose nor what it sent is stored
    let raw = common::raw_database_text(&app.db);
    assert!(!raw.contains("retry-6"));
    assert!(!raw.contains("Agnes Nakato Retry"));
}

#[tokio::test]
async fn a_key_is_refused_where_it_would_not_hold_or_is_malformed() {
    let w = world().await;
    let t = w.officer.token.as_str();
    // a create without an address of its own does not take one: said, not ignored
    let placement = w.app.create("/placements", t, &w.body).await;
    let path = format!(
        "/placements/{}/status-changes",
        placement["id"].as_str().unwrap()
    );
    let body = problem(
        send(&w.app, t, &path, "retry-7", &json!({"to": "nominated"})).await,
        400,
    )
    .await;
    assert_eq!(
        body["invalidParams"][0]["name"], "Idempotency-Key",
        "{body}"
    );
    assert_eq!(body["invalidParams"][0]["code"], "not_supported");
    for bad in ["two words", "\"open", "\"\""] {
        let body = problem(send(&w.app, t, "/placements", bad, &w.body).await, 400).await;
        assert_eq!(
            body["invalidParams"][0]["name"], "Idempotency-Key",
            "{bad}: {body}"
        );
    }
    assert_eq!(placements(&w.app, t).await, 1);
}
