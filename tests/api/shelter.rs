//! Shelter City through HTTP: lifecycle, need to know, encryption at rest,
//! blind-index search, erasure, key rotation and audited reads.

use crate::common;

use std::sync::Arc;

use casedesk::{accounts::model::Role, clock::Clock};
use common::{problem, Account, TestApp};
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};

const LEGAL_NAME: &str = "Amara Okonkwo-Nyambura";
const PASSPORT: &str = "PX9917734";
const ADDRESS: &str = "Lindengracht 77-3, 1015 KD Amsterdam";
const NOTE: &str = "Was followed near the hotel on Tuesday";
const THREATS: &str = "Surveillance by state security services";
const MEASURES: &str = "Change routes daily and use Signal only";

struct World {
    app: TestApp,
    coordinator: Account,
    assigned: Account,
    unassigned: Account,
    defender: String,
    stay: String,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let coordinator = app.account(&[Role::ShelterCoordinator]).await;
    let assigned = app.account(&[Role::ShelterCaseworker]).await;
    let unassigned = app.account(&[Role::ShelterCaseworker]).await;
    let resp = app
        .post(
            "/defenders",
            Some(&coordinator.token),
            json!({
                "codename": "Kestrel",
                "countryOfWork": "ug",
                "fieldOfWork": "environment_and_land",
                "languages": ["English", "Luganda"],
                "riskLevel": "high",
                "identity": {"legalName": LEGAL_NAME, "passportNumber": PASSPORT, "dateOfBirth": "1988-04-12", "phone": "+256 700 123456"}
            }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let defender: Value = resp.json().await.unwrap();
    assert_eq!(defender["countryOfWork"], "UG");
    assert_eq!(defender["identity"]["legalName"], LEGAL_NAME);
    let defender_id = defender["id"].as_str().unwrap().to_owned();
    let resp = app
        .post(
            "/stays",
            Some(&coordinator.token),
            json!({
                "defenderId": defender_id, "intakeRound": "2026-autumn", "referringOrganisation": "Justice & Peace",
                "plannedArrival": "2026-09-01", "plannedDeparture": "2026-12-01", "visaStatus": "to_apply",
                "insuranceArranged": true, "confidentiality": "restricted", "accommodationAddress": ADDRESS
            }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let stay: Value = resp.json().await.unwrap();
    assert!(
        stay["reference"].as_str().unwrap().starts_with("SC-"),
        "{stay}"
    );
    assert_eq!(stay["status"], "referred");
    let stay_id = stay["id"].as_str().unwrap().to_owned();
    let resp = app
        .request(
            Method::PUT,
            &format!("/stays/{stay_id}/assignments/{}", assigned.id),
            Some(&coordinator.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    World {
        app,
        coordinator,
        assigned,
        unassigned,
        defender: defender_id,
        stay: stay_id,
    }
}

async fn change(
    app: &TestApp,
    token: &str,
    stay: &str,
    to: &str,
    reason: Option<&str>,
) -> reqwest::Response {
    let mut body = json!({"to": to});
    if let Some(r) = reason {
        body["reason"] = json!(r);
    }
    app.post(&format!("/stays/{stay}/status-changes"), Some(token), body)
        .await
}

#[tokio::test]
async fn the_whole_lifecycle_with_its_rules() {
    let w = world().await;
    let (app, t) = (&w.app, w.coordinator.token.as_str());
    for to in ["intake", "pre_arrival"] {
        assert_eq!(
            change(app, t, &w.stay, to, None).await.status(),
            StatusCode::CREATED,
            "{to}"
        );
    }
    // illegal: names the allowed targets
    let body = problem(change(app, t, &w.stay, "returned", None).await, 409).await;
    let detail = body["detail"].as_str().unwrap();
    for allowed in ["in_residence", "visa_refused", "postponed", "withdrawn"] {
        assert!(detail.contains(allowed), "{detail}");
    }
    assert_eq!(
        change(app, t, &w.stay, "in_residence", None).await.status(),
        StatusCode::CREATED
    );
    let stay: Value = app
        .get(&format!("/stays/{}", w.stay), t)
        .await
        .json()
        .await
        .unwrap();
    let today = app.clock.now().date_naive().to_string();
    assert_eq!(
        stay["actualArrival"], today,
        "entering in_residence sets actualArrival"
    );
    // an early return needs a reason
    let body = problem(change(app, t, &w.stay, "returned", None).await, 400).await;
    assert_eq!(body["invalidParams"][0]["name"], "reason");
    assert_eq!(
        change(
            app,
            &w.assigned.token,
            &w.stay,
            "returned",
            Some("Threat at home subsided")
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    let stay: Value = app
        .get(&format!("/stays/{}", w.stay), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stay["actualDeparture"], today);
    // after-care check-ins at 1, 3 and 6 months
    let check_ins: Value = app
        .get(&format!("/stays/{}/check-ins", w.stay), t)
        .await
        .json()
        .await
        .unwrap();
    let mut due: Vec<String> = check_ins["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["dueOn"].as_str().unwrap().to_owned())
        .collect();
    due.sort();
    let d = app.clock.now().date_naive();
    let expected: Vec<String> = [1, 3, 6]
        .iter()
        .map(|m| (d + chrono::Months::new(*m)).to_string())
        .collect();
    assert_eq!(due, expected);
    for to in ["aftercare", "closed"] {
        assert_eq!(
            change(app, t, &w.stay, to, None).await.status(),
            StatusCode::CREATED,
            "{to}"
        );
    }
    // reopening: coordinators only, with a reason
    let body = problem(
        change(
            app,
            &w.assigned.token,
            &w.stay,
            "aftercare",
            Some("New threats"),
        )
        .await,
        403,
    )
    .await;
    assert_eq!(body["type"], "urn:casedesk:problem:coordinator-only");
    problem(change(app, t, &w.stay, "aftercare", None).await, 400).await;
    assert_eq!(
        change(
            app,
            t,
            &w.stay,
            "aftercare",
            Some("New threats after return")
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    // the history, newest first, with who and why
    let history: Value = app
        .get(&format!("/stays/{}/status-changes", w.stay), t)
        .await
        .json()
        .await
        .unwrap();
    let items = history["items"].as_array().unwrap();
    let path: Vec<&str> = items
        .iter()
        .rev()
        .map(|c| c["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        path,
        [
            "referred",
            "intake",
            "pre_arrival",
            "in_residence",
            "returned",
            "aftercare",
            "closed",
            "aftercare"
        ]
    );
    assert_eq!(items[0]["reason"], "New threats after return");
    assert_eq!(items[0]["from"], "closed");
    assert_eq!(items[0]["changedBy"], w.coordinator.id.to_string());
    assert_eq!(items[3]["changedBy"], w.assigned.id.to_string());
    // an unknown target is a 400
    problem(change(app, t, &w.stay, "teleported", None).await, 400).await;
}

#[tokio::test]
async fn every_state_refuses_every_target_outside_the_graph() {
    let w = world().await;
    let (app, t) = (&w.app, w.coordinator.token.as_str());
    // from referred, everything but intake and withdrawn is a 409
    for to in [
        "referred",
        "postponed",
        "pre_arrival",
        "visa_refused",
        "in_residence",
        "return_preparation",
        "returned",
        "cannot_return",
        "aftercare",
        "closed",
    ] {
        let body = problem(change(app, t, &w.stay, to, Some("x")).await, 409).await;
        assert_eq!(
            body["type"], "urn:casedesk:problem:illegal-transition",
            "{to}"
        );
    }
}

#[tokio::test]
async fn need_to_know_coordinator_assigned_and_unassigned_caseworkers() {
    let w = world().await;
    let app = &w.app;
    let stay_path = format!("/stays/{}", w.stay);
    let defender_path = format!("/defenders/{}", w.defender);
    let note = app
        .post(
            &format!("{stay_path}/notes"),
            Some(&w.assigned.token),
            json!({"category": "safety", "body": NOTE}),
        )
        .await;
    assert_eq!(note.status(), StatusCode::CREATED);
    let risk = app
        .post(&format!("{stay_path}/risk-assessments"), Some(&w.coordinator.token), json!({"level": "high", "threats": THREATS, "measures": MEASURES, "nextReviewOn": "2026-01-01"}))
        .await;
    assert_eq!(risk.status(), StatusCode::CREATED);

    for who in [&w.coordinator, &w.assigned] {
        let stay: Value = app.get(&stay_path, &who.token).await.json().await.unwrap();
        assert_eq!(stay["accommodationAddress"], ADDRESS);
        let defender: Value = app
            .get(&defender_path, &who.token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(defender["identity"]["passportNumber"], PASSPORT);
        let notes: Value = app
            .get(&format!("{stay_path}/notes"), &who.token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(notes["items"][0]["body"], NOTE);
        let risks: Value = app
            .get(&format!("{stay_path}/risk-assessments"), &who.token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(risks["items"][0]["threats"], THREATS);
    }
    // unassigned: summaries only, no identity key at all, records hidden
    let u = &w.unassigned.token;
    let stay: Value = app.get(&stay_path, u).await.json().await.unwrap();
    assert_eq!(stay["codename"], "Kestrel");
    assert!(stay.get("accommodationAddress").is_none(), "{stay}");
    let defender: Value = app.get(&defender_path, u).await.json().await.unwrap();
    assert!(defender.get("identity").is_none(), "{defender}");
    for sub in ["notes", "risk-assessments", "check-ins", "status-changes"] {
        problem(app.get(&format!("{stay_path}/{sub}"), u).await, 404).await;
    }
    problem(
        app.post(
            &format!("{stay_path}/notes"),
            Some(u),
            json!({"category": "other", "body": "x"}),
        )
        .await,
        404,
    )
    .await;
    let list: Value = app.get("/stays", u).await.json().await.unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "every stay's summary"
    );
    assert!(list["items"][0].get("accommodationAddress").is_none());
    let mine: Value = app
        .get("/stays?assignedToMe=true", u)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 0);
    let mine: Value = app
        .get("/stays?assignedToMe=true", &w.assigned.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    // overdue reviews: coordinator and the assigned caseworker, not the other
    let overdue: Value = app
        .get("/overdue-risk-reviews", &w.coordinator.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overdue["items"][0]["stayId"], w.stay.as_str());
    let overdue: Value = app
        .get("/overdue-risk-reviews", u)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overdue["items"].as_array().unwrap().len(), 0);

    // unassigning takes the sight away at once
    let resp = app
        .request(
            Method::DELETE,
            &format!("/stays/{}/assignments/{}", w.stay, w.assigned.id),
            Some(&w.coordinator.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    problem(
        app.get(&format!("{stay_path}/notes"), &w.assigned.token)
            .await,
        404,
    )
    .await;
    // only shelter staff can be assigned
    let analyst = app.account(&[Role::Analyst]).await;
    let resp = app
        .request(
            Method::PUT,
            &format!("/stays/{}/assignments/{}", w.stay, analyst.id),
            Some(&w.coordinator.token),
        )
        .send()
        .await
        .unwrap();
    problem(resp, 400).await;
}

#[tokio::test]
async fn two_updates_with_the_same_if_match_one_wins() {
    let w = world().await;
    let app = &w.app;
    let path = format!("/stays/{}", w.stay);
    let etag = app
        .get(&path, &w.coordinator.token)
        .await
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let send = |partner: &'static str| {
        app.request(Method::PATCH, &path, Some(&w.coordinator.token))
            .header("if-match", etag.clone())
            .json(&json!({"localPartner": partner}))
            .send()
    };
    let (a, b) = tokio::join!(send("Partner A"), send("Partner B"));
    let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412]);
    problem(
        app.request(Method::PATCH, &path, Some(&w.coordinator.token))
            .json(&json!({"localPartner": "C"}))
            .send()
            .await
            .unwrap(),
        428,
    )
    .await;
    let stay: Value = app
        .get(&path, &w.coordinator.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stay["version"], 2);
    // defenders too
    let dpath = format!("/defenders/{}", w.defender);
    let resp = app
        .request(Method::PATCH, &dpath, Some(&w.coordinator.token))
        .header("if-match", "\"1\"")
        .json(&json!({"riskLevel": "critical", "identity": {"legalName": LEGAL_NAME, "phone": "+31 6 1234 5678"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let d: Value = resp.json().await.unwrap();
    assert_eq!(d["riskLevel"], "critical");
    assert_eq!(d["identity"]["phone"], "+31 6 1234 5678");
    assert!(
        d["identity"].get("passportNumber").is_none() || d["identity"]["passportNumber"].is_null(),
        "identity replaced whole"
    );
    let resp = app
        .request(Method::PATCH, &dpath, Some(&w.coordinator.token))
        .header("if-match", "\"1\"")
        .json(&json!({"riskLevel": "low"}))
        .send()
        .await
        .unwrap();
    problem(resp, 412).await;
}

async fn raw_database_text(app: &TestApp) -> String {
    common::raw_database_text(&app.db)
}

#[tokio::test]
async fn protected_values_are_not_in_the_database_in_plaintext() {
    let w = world().await;
    let app = &w.app;
    let stay_path = format!("/stays/{}", w.stay);
    app.post(
        &format!("{stay_path}/notes"),
        Some(&w.coordinator.token),
        json!({"category": "safety", "body": NOTE}),
    )
    .await;
    app.post(&format!("{stay_path}/risk-assessments"), Some(&w.coordinator.token), json!({"level": "high", "threats": THREATS, "measures": MEASURES, "nextReviewOn": "2027-01-01"})).await;
    let dump = raw_database_text(app).await;
    assert!(
        dump.contains("Kestrel"),
        "the dump is readable (codename is not protected)"
    );
    for secret in [
        LEGAL_NAME,
        "Okonkwo",
        PASSPORT,
        ADDRESS,
        "Lindengracht",
        NOTE,
        THREATS,
        MEASURES,
        "+256 700 123456",
        "1988-04-12",
    ] {
        assert!(
            !dump.contains(secret),
            "plaintext {secret:?} found in the database"
        );
    }
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_decrypt() {
    let w = world().await;
    let app = &w.app;
    let other: Value = app
        .post(
            "/stays",
            Some(&w.coordinator.token),
            json!({"defenderId": w.defender, "intakeRound": "2027-spring", "plannedArrival": "2027-03-01", "plannedDeparture": "2027-06-01", "visaStatus": "not_needed", "insuranceArranged": false, "confidentiality": "restricted", "accommodationAddress": "Elsewhere 1"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let other_id = other["id"].as_str().unwrap();
    // same defender, same data key: only the associated data tells the rows apart
    let db = &app.state.db;
    let uuid_literal = |id: &str| {
        if app.db.is_postgres() {
            format!("'{id}'")
        } else {
            format!("X'{}'", id.replace('-', ""))
        }
    };
    let sql = format!(
        "UPDATE stays SET accommodation_address_enc = (SELECT accommodation_address_enc FROM stays WHERE id = {}) WHERE id = {}",
        uuid_literal(&w.stay),
        uuid_literal(other_id)
    );
    let result = db.execute_unprepared(&sql).await.unwrap();
    assert_eq!(result.rows_affected(), 1);
    let resp = app
        .get(&format!("/stays/{other_id}"), &w.coordinator.token)
        .await;
    let body = problem(resp, 500).await;
    assert!(!body.to_string().contains(ADDRESS));
    // the original row still reads
    let stay: Value = app
        .get(&format!("/stays/{}", w.stay), &w.coordinator.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stay["accommodationAddress"], ADDRESS);
}

#[tokio::test]
async fn search_by_legal_name_through_the_blind_index() {
    let w = world().await;
    let app = &w.app;
    for query in [
        LEGAL_NAME,
        "amara okonkwo-nyambura",
        "  AMARA   Okonkwo-Nyambura ",
        "Ａｍａｒａ Okonkwo-Nyambura",
    ] {
        let found: Value = app
            .post(
                "/defenders/searches",
                Some(&w.coordinator.token),
                json!({"legalName": query}),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(found["items"].as_array().unwrap().len(), 1, "{query}");
        assert_eq!(found["items"][0]["id"], w.defender.as_str());
        assert!(found["items"][0].get("identity").is_none());
    }
    let found: Value = app
        .post(
            "/defenders/searches",
            Some(&w.coordinator.token),
            json!({"legalName": "Amara"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        found["items"].as_array().unwrap().len(),
        0,
        "exact, not partial"
    );
    // caseworkers may not search names
    problem(
        app.post(
            "/defenders/searches",
            Some(&w.assigned.token),
            json!({"legalName": LEGAL_NAME}),
        )
        .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn erasure_destroys_the_key_and_every_protected_value() {
    let w = world().await;
    let app = &w.app;
    let t = &w.coordinator.token;
    let stay_path = format!("/stays/{}", w.stay);
    app.post(
        &format!("{stay_path}/notes"),
        Some(t),
        json!({"category": "safety", "body": NOTE}),
    )
    .await;
    app.post(&format!("{stay_path}/risk-assessments"), Some(t), json!({"level": "high", "threats": THREATS, "measures": MEASURES, "nextReviewOn": "2027-01-01"})).await;
    let dpath = format!("/defenders/{}", w.defender);
    // needs If-Match and a reason
    let resp = app
        .request(Method::DELETE, &dpath, Some(t))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    let body = problem(resp, 400).await;
    assert_eq!(body["invalidParams"][0]["name"], "X-Audit-Reason");
    let resp = app
        .request(Method::DELETE, &dpath, Some(t))
        .header("x-audit-reason", "Request of the defender, ticket 7")
        .send()
        .await
        .unwrap();
    problem(resp, 428).await;
    let resp = app
        .request(Method::DELETE, &dpath, Some(t))
        .header("if-match", "\"1\"")
        .header("x-audit-reason", "Request of the defender, ticket 7")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    for path in [
        dpath.clone(),
        stay_path.clone(),
        format!("{stay_path}/notes"),
        format!("{stay_path}/risk-assessments"),
        format!("{stay_path}/check-ins"),
    ] {
        problem(app.get(&path, t).await, 404).await;
    }
    let found: Value = app
        .post(
            "/defenders/searches",
            Some(t),
            json!({"legalName": LEGAL_NAME}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 0);
    let list: Value = app.get("/defenders", t).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);

    // nothing readable is left: no data key, no ciphertext, no codename
    use sea_orm::EntityTrait;
    let keys = casedesk::entities::data_keys::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(keys.is_empty());
    let d = casedesk::entities::defenders::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(d.len(), 1, "what statistics need stays");
    assert!(
        d[0].identity_enc.is_none()
            && d[0].legal_name_index.is_none()
            && d[0].data_key_id.is_none()
    );
    assert!(d[0].codename.starts_with("erased-"));
    assert_eq!(d[0].field_of_work, "environment_and_land");
    let s = casedesk::entities::stays::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(s.iter().all(|s| s.accommodation_address_enc.is_none()));
    let notes = casedesk::entities::stay_notes::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(notes.iter().all(|n| n.body_enc.is_none()));
    let dump = raw_database_text(app).await;
    assert!(!dump.contains("Kestrel"));
    // the audit trail keeps its events, naming only ids
    let events = app.audit_rows().await;
    let erased = events
        .iter()
        .find(|e| e.action == "defender.erased")
        .unwrap();
    assert_eq!(erased.resource_id.as_deref(), Some(w.defender.as_str()));
    // the reason is stored sealed (not under the destroyed key: the erasure's
    // own reason must stay readable), and the auditor reads it
    let stored = erased.reason.as_deref().unwrap();
    assert!(stored.starts_with("sealed:v1:k:"), "{stored}");
    assert!(!raw_database_text(app).await.contains("ticket 7"));
    let auditor = app.account(&[Role::Auditor]).await;
    let seen = app.audit_as(&auditor.token).await;
    let erased = seen
        .iter()
        .find(|e| e["action"] == "defender.erased")
        .unwrap();
    assert_eq!(erased["reasonGiven"], true);
    assert_eq!(erased["reason"], "Request of the defender, ticket 7");
    assert!(events.iter().any(|e| e.action == "defender.created"));
}

#[tokio::test]
async fn key_rotation_keeps_every_record_readable_and_a_wrong_key_is_refused() {
    let w = world().await;
    let stay_path = format!("/stays/{}", w.stay);
    w.app
        .post(
            &format!("{stay_path}/notes"),
            Some(&w.coordinator.token),
            json!({"category": "safety", "body": NOTE}),
        )
        .await;
    let old = w.app.state.keys.master.clone();
    let new = casedesk::crypto::MasterKey::generate();
    let done = casedesk::keyring::rotate(&w.app.state.db, &old, &new, &w.app.clock)
        .await
        .unwrap();
    assert_eq!(done.data_keys, 1);
    assert!(
        done.totp_secrets >= 2,
        "the coordinator's and caseworkers' TOTP secrets"
    );

    // a service started with the old key refuses; with the new one everything reads
    let mut config = (*w.app.state.config).clone();
    config.master_key = Some(old);
    let refused = casedesk::prepare(config.clone(), Arc::new(w.app.clock.clone())).await;
    assert!(matches!(refused, Err(casedesk::StartError::Keyring(_))));
    config.master_key = Some(new);
    let state = casedesk::prepare(config, Arc::new(w.app.clock.clone()))
        .await
        .unwrap();
    let clock = w.app.clock.clone();
    let restarted = TestApp::serve(
        state,
        clock,
        common::TestDb::Sqlite(std::env::temp_dir().join("casedesk-none")),
    )
    .await;
    let t = &w.coordinator.token;
    let stay: Value = restarted.get(&stay_path, t).await.json().await.unwrap();
    assert_eq!(stay["accommodationAddress"], ADDRESS);
    let d: Value = restarted
        .get(&format!("/defenders/{}", w.defender), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["identity"]["legalName"], LEGAL_NAME);
    let notes: Value = restarted
        .get(&format!("{stay_path}/notes"), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(notes["items"][0]["body"], NOTE);
    // TOTP secrets were re-encrypted too: a sign-in with a code still works
    restarted.clock.advance(chrono::TimeDelta::seconds(30));
    let code = restarted.totp_code(w.coordinator.totp_secret.as_ref().unwrap());
    let resp = restarted
        .login_response(&w.coordinator.email, common::PASSWORD, Some(&code))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn every_read_of_protected_data_is_audited_and_changes_name_fields_only() {
    let w = world().await;
    let app = &w.app;
    let stay_path = format!("/stays/{}", w.stay);
    app.post(
        &format!("{stay_path}/notes"),
        Some(&w.assigned.token),
        json!({"category": "wellbeing", "body": NOTE}),
    )
    .await;
    let resp = app
        .request(
            Method::GET,
            &format!("/defenders/{}", w.defender),
            Some(&w.assigned.token),
        )
        .header("x-audit-reason", "preparing the visa letter")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    app.get(&stay_path, &w.coordinator.token).await;
    app.get(&format!("{stay_path}/notes"), &w.assigned.token)
        .await;
    app.get(&format!("{stay_path}/risk-assessments"), &w.assigned.token)
        .await;
    app.get(&format!("{stay_path}/check-ins"), &w.coordinator.token)
        .await;
    // summaries are not protected reads
    app.get(&stay_path, &w.unassigned.token).await;

    let events = app.audit_rows().await;
    let reads: Vec<_> = events.iter().filter(|e| e.action == "read").collect();
    let has = |actor: uuid::Uuid, rtype: &str, field: &str| {
        reads.iter().any(|e| {
            e.actor_id == Some(actor)
                && e.resource_type.as_deref() == Some(rtype)
                && e.changed_fields
                    .as_deref()
                    .is_some_and(|f| f.contains(field))
        })
    };
    assert!(has(w.assigned.id, "defender", "identity"));
    assert!(has(w.coordinator.id, "stay", "accommodationAddress"));
    assert!(has(w.assigned.id, "stay", "notes"));
    assert!(has(w.assigned.id, "stay", "riskAssessments"));
    assert!(has(w.coordinator.id, "stay", "checkIns"));
    assert!(
        !reads.iter().any(|e| e.actor_id == Some(w.unassigned.id)),
        "summaries are not audited as protected reads"
    );
    // the reason is stored sealed, and the auditor reads it
    assert!(reads.iter().all(|e| e
        .reason
        .as_deref()
        .is_none_or(|r| r.starts_with("sealed:v1:"))));
    let auditor = app.account(&[Role::Auditor]).await;
    assert!(app
        .audit_as(&auditor.token)
        .await
        .iter()
        .any(|e| e["action"] == "read" && e["reason"] == "preparing the visa letter"));
    // the unassigned caseworker's refused look at the notes is on record
    app.get(&format!("{stay_path}/notes"), &w.unassigned.token)
        .await;
    let events = app.audit_rows().await;
    assert!(events.iter().any(|e| e.action == "access.denied"
        && e.actor_id == Some(w.unassigned.id)
        && e.resource_type.as_deref() == Some("stay")));
    // no protected value in any event
    let dump = format!("{events:?}");
    for secret in [LEGAL_NAME, PASSPORT, ADDRESS, NOTE] {
        assert!(!dump.contains(secret), "{secret}");
    }
}

/// Activities are recorded by the stay's staff; their titles are protected
/// free text, kept from a caseworker who is not assigned.
#[tokio::test]
async fn activities_are_need_to_know() {
    let w = world().await;
    let app = &w.app;
    let stay_path = format!("/stays/{}", w.stay);
    let resp = app.post(&format!("{stay_path}/activities"), Some(&w.assigned.token), json!({"kind": "public_event", "title": "Panel on land rights", "date": "2026-10-10", "public": false})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    // titles are protected free text: the assigned and coordinators see
    // them, a caseworker who is not assigned gets 404, as for notes
    let list: Value = app
        .get(&format!("{stay_path}/activities"), &w.assigned.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["title"], "Panel on land rights");
    problem(
        app.get(&format!("{stay_path}/activities"), &w.unassigned.token)
            .await,
        404,
    )
    .await;
    problem(
        app.post(
            &format!("{stay_path}/activities"),
            Some(&w.unassigned.token),
            json!({"kind": "rest", "title": "x", "date": "2026-10-11", "public": false}),
        )
        .await,
        404,
    )
    .await;
}

/// A check-in is recorded at the version the caller saw (428 without,
/// 412 on an older one); recording it again keeps the note not sent again.
#[tokio::test]
async fn check_ins_are_recorded_at_the_version_seen() {
    let w = world().await;
    let app = &w.app;
    let t = &w.coordinator.token;
    let stay_path = format!("/stays/{}", w.stay);
    for to in [
        "intake",
        "pre_arrival",
        "in_residence",
        "return_preparation",
        "returned",
    ] {
        assert_eq!(
            change(app, t, &w.stay, to, None).await.status(),
            StatusCode::CREATED
        );
    }
    let list: Value = app
        .get(&format!("{stay_path}/check-ins"), t)
        .await
        .json()
        .await
        .unwrap();
    let first = list["items"].as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let check_in = format!("{stay_path}/check-ins/{first}");
    let record = |token: &str, if_match: Option<&str>, body: Value| {
        let mut req = app.request(Method::PUT, &check_in, Some(token)).json(&body);
        if let Some(tag) = if_match {
            req = req.header("if-match", tag);
        }
        req.send()
    };
    // a check-in is recorded at the version the caller saw
    let b = problem(
        record(&w.assigned.token, None, json!({"outcome": "done"}))
            .await
            .unwrap(),
        428,
    )
    .await;
    assert!(
        b["type"].as_str().unwrap().ends_with("if-match-required"),
        "{b}"
    );
    let resp = record(
        &w.assigned.token,
        Some("\"1\""),
        json!({"outcome": "done", "note": "Raid on the office; referred to emergency fund"}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["etag"], "\"2\"");
    // a second caseworker who saw version 1 cannot overwrite it
    problem(
        record(t, Some("\"1\""), json!({"outcome": "missed"}))
            .await
            .unwrap(),
        412,
    )
    .await;
    // escalating it later keeps the note that is not sent again
    let resp = record(
        &w.assigned.token,
        Some("\"2\""),
        json!({"outcome": "escalated"}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let answered: Value = resp.json().await.unwrap();
    assert_eq!(
        answered["note"],
        "Raid on the office; referred to emergency fund"
    );
    assert_eq!(answered["version"], 3);
    let list: Value = app
        .get(&format!("{stay_path}/check-ins"), t)
        .await
        .json()
        .await
        .unwrap();
    let recorded = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == first.as_str())
        .unwrap()
        .clone();
    assert_eq!(recorded["outcome"], "escalated");
    assert_eq!(
        recorded["note"],
        "Raid on the office; referred to emergency fund"
    );
    assert_eq!(recorded["version"], 3);
    let resp = record(t, Some("\"3\""), json!({"outcome": "maybe"}))
        .await
        .unwrap();
    problem(resp, 400).await;
}

/// A consent is given, refused when it ends before it starts, revoked once
/// (409 the second time), and seen only by the staff in the case.
#[tokio::test]
async fn consents_are_given_revoked_once_and_need_to_know() {
    let w = world().await;
    let app = &w.app;
    let t = &w.coordinator.token;
    let dpath = format!("/defenders/{}", w.defender);
    let resp = app
        .post(
            &format!("{dpath}/consents"),
            Some(t),
            json!({"item": "photo", "grantedOn": "2026-01-01", "expiresOn": "2030-01-01"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let consent: Value = resp.json().await.unwrap();
    assert_eq!(consent["live"], true);
    problem(
        app.post(
            &format!("{dpath}/consents"),
            Some(t),
            json!({"item": "story", "grantedOn": "2026-01-01", "expiresOn": "2025-01-01"}),
        )
        .await,
        400,
    )
    .await;
    let resp = app
        .post(
            &format!(
                "{dpath}/consents/{}/revocation",
                consent["id"].as_str().unwrap()
            ),
            Some(t),
            json!({"revokedOn": "2026-02-01"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let revoked: Value = resp.json().await.unwrap();
    assert_eq!(revoked["live"], false);
    problem(
        app.post(
            &format!(
                "{dpath}/consents/{}/revocation",
                consent["id"].as_str().unwrap()
            ),
            Some(t),
            json!({"revokedOn": "2026-03-01"}),
        )
        .await,
        409,
    )
    .await;
    // the staff in the case see the consents; a caseworker who is not does not
    let list: Value = app
        .get(&format!("{dpath}/consents"), &w.assigned.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    problem(
        app.get(&format!("{dpath}/consents"), &w.unassigned.token)
            .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn two_racing_revocations_of_one_consent_one_wins() {
    // A revocation is one conditional write (`revoked_on IS NULL`): two at
    // once give one 200 and one 409, and the consent keeps the winner's
    // date. Before, both read "live" and both wrote (on PostgreSQL).
    let w = world().await;
    let app = &w.app;
    let t = &w.coordinator.token;
    let dpath = format!("/defenders/{}", w.defender);
    for round in 0..5 {
        let resp = app
            .post(
                &format!("{dpath}/consents"),
                Some(t),
                json!({"item": "photo", "grantedOn": "2026-01-01", "expiresOn": "2030-01-01"}),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let consent: Value = resp.json().await.unwrap();
        let path = format!(
            "{dpath}/consents/{}/revocation",
            consent["id"].as_str().unwrap()
        );
        let send = |day: &'static str| {
            app.request(Method::POST, &path, Some(t))
                .json(&json!({ "revokedOn": day }))
                .send()
        };
        let (a, b) = tokio::join!(send("2026-02-01"), send("2026-03-01"));
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}");
        let (winner, loser) = if a.status() == StatusCode::OK {
            (a, b)
        } else {
            (b, a)
        };
        problem(loser, 409).await;
        let won: Value = winner.json().await.unwrap();
        let list: Value = app
            .get(&format!("{dpath}/consents"), t)
            .await
            .json()
            .await
            .unwrap();
        let stored = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == consent["id"])
            .unwrap()
            .clone();
        assert_eq!(stored["revokedOn"], won["revokedOn"], "round {round}");
        assert_eq!(stored["live"], false);
    }
}

#[tokio::test]
async fn defender_and_stay_validation_lists_every_problem() {
    let w = world().await;
    let app = &w.app;
    let t = &w.coordinator.token;
    let body = problem(
        app.post("/defenders", Some(t), json!({"codename": "K", "countryOfWork": "XX", "fieldOfWork": "astrology", "languages": [], "riskLevel": "extreme", "identity": {"legalName": ""}})).await,
        400,
    )
    .await;
    let names: Vec<&str> = body["invalidParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for expected in ["fieldOfWork", "riskLevel", "identity.legalName"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    let body = problem(app.post("/defenders", Some(t), json!({"codename": "K", "countryOfWork": "XX", "fieldOfWork": "labour", "languages": [], "riskLevel": "low"})).await, 400).await;
    assert_eq!(body["invalidParams"].as_array().unwrap().len(), 2, "{body}");
    // codename unique case-insensitively
    problem(app.post("/defenders", Some(t), json!({"codename": "KESTREL", "countryOfWork": "KE", "fieldOfWork": "labour", "languages": [], "riskLevel": "low"})).await, 409).await;
    // departure before arrival, unknown defender
    let body = problem(
        app.post("/stays", Some(t), json!({"defenderId": w.defender, "intakeRound": "r", "plannedArrival": "2026-09-01", "plannedDeparture": "2026-08-01", "visaStatus": "granted", "insuranceArranged": true, "confidentiality": "secret"})).await,
        400,
    )
    .await;
    assert_eq!(body["invalidParams"][0]["code"], "before_arrival");
    let body = problem(
        app.post("/stays", Some(t), json!({"defenderId": uuid::Uuid::now_v7(), "intakeRound": "r", "plannedArrival": "2026-09-01", "plannedDeparture": "2026-10-01", "visaStatus": "granted", "insuranceArranged": true, "confidentiality": "secret"})).await,
        400,
    )
    .await;
    assert_eq!(body["invalidParams"][0]["name"], "defenderId");
}

#[tokio::test]
async fn stay_lists_filter_sort_and_page_by_planned_arrival() {
    let w = world().await;
    let app = &w.app;
    let t = &w.coordinator.token;
    for (i, month) in ["03", "01", "02", "01"].iter().enumerate() {
        let resp = app
            .post("/stays", Some(t), json!({"defenderId": w.defender, "intakeRound": "2027-spring", "plannedArrival": format!("2027-{month}-1{i}"), "plannedDeparture": "2027-09-01", "visaStatus": "applied", "insuranceArranged": false, "confidentiality": "standard"}))
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut path = "/stays?intakeRound=2027-spring&limit=3".to_owned();
    loop {
        let resp = app.get(&path, t).await;
        let link = resp
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let page: Value = resp.json().await.unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["plannedArrival"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => {
                assert!(link.unwrap().contains("intakeRound=2027-spring"));
                path = format!("/stays?intakeRound=2027-spring&limit=3&cursor={next}");
            }
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["2027-01-11", "2027-01-13", "2027-02-12", "2027-03-10"]
    );
    let desc: Value = app
        .get("/stays?intakeRound=2027-spring&sort=-plannedArrival", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(desc["items"][0]["plannedArrival"], "2027-03-10");
    let referred: Value = app
        .get("/stays?status=referred", t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(referred["items"].as_array().unwrap().len(), 5);
    let mine: Value = app
        .get(&format!("/stays?defenderId={}", w.defender), t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 5);

    // the list reads its rows by column position, the detail by column name:
    // each item is its detail without the address, with every optional column
    // set (the first stay, after this update) and NULL (the others)
    let resp = app
        .request(Method::PATCH, &format!("/stays/{}", w.stay), Some(t))
        .header("if-match", "\"1\"")
        .json(&json!({"actualArrival": "2026-09-02", "actualDeparture": "2026-11-30", "localPartner": "Amnesty NL 'Den Haag' \u{1F54A}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mine: Value = app
        .get(&format!("/stays?defenderId={}", w.defender), t)
        .await
        .json()
        .await
        .unwrap();
    let items = mine["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    for item in items {
        let id = item["id"].as_str().unwrap();
        let mut detail: Value = app
            .get(&format!("/stays/{id}"), t)
            .await
            .json()
            .await
            .unwrap();
        // the list shows the summary: the detail less what only the detail shows
        let detail_only: Vec<Option<Value>> = [
            "accommodationAddress",
            "referringOrganisation",
            "localPartner",
            "visaStatus",
            "insuranceArranged",
        ]
        .iter()
        .map(|f| detail.as_object_mut().unwrap().remove(*f))
        .collect();
        assert_eq!(item, &detail);
        for f in [
            "referringOrganisation",
            "localPartner",
            "visaStatus",
            "insuranceArranged",
        ] {
            assert!(item.get(f).is_none(), "{f} in a list item: {item}");
        }
        if id == w.stay {
            assert_eq!(detail_only[0], Some(json!(ADDRESS)));
            assert!(detail_only[1].is_some() && detail_only[3].is_some());
            for field in ["actualArrival", "actualDeparture"] {
                assert!(!item[field].is_null(), "{field} is set: {item}");
            }
        } else {
            assert!(item["actualArrival"].is_null(), "{item}");
        }
    }
}

/// The outside review's need-to-know gaps: an unassigned caseworker saw
/// activities and consents of stays it is not assigned to, and stay
/// summaries with referring organisation, local partner, visa and
/// insurance; `secret` was stored but never enforced.
#[tokio::test]
async fn unassigned_caseworkers_see_summaries_and_secret_stays_exist_only_for_those_in_them() {
    let w = world().await;
    let app = &w.app;
    let t = &w.coordinator.token;
    // the unassigned caseworker: a summary of the stay, nothing else
    let stay: Value = app
        .get(&format!("/stays/{}", w.stay), &w.unassigned.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stay["codename"], "Kestrel");
    assert_eq!(stay["status"], "referred");
    for hidden in [
        "referringOrganisation",
        "localPartner",
        "visaStatus",
        "insuranceArranged",
        "accommodationAddress",
    ] {
        assert!(stay.get(hidden).is_none(), "{hidden}: {stay}");
    }
    let assigned: Value = app
        .get(&format!("/stays/{}", w.stay), &w.assigned.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(assigned["visaStatus"], "to_apply");
    assert_eq!(assigned["referringOrganisation"], "Justice & Peace");
    let consent = app
        .post(
            &format!("/defenders/{}/consents", w.defender),
            Some(t),
            json!({"item": "photo", "grantedOn": "2026-09-02"}),
        )
        .await;
    assert_eq!(consent.status(), StatusCode::CREATED);
    for path in [
        format!("/stays/{}/activities", w.stay),
        format!("/defenders/{}/consents", w.defender),
    ] {
        problem(app.get(&path, &w.unassigned.token).await, 404).await;
        assert_eq!(
            app.get(&path, &w.assigned.token).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }

    // a secret stay of another defender, with the assigned caseworker in it
    let secret_defender: Value = app
        .post(
            "/defenders",
            Some(t),
            json!({"codename": "Osprey", "countryOfWork": "SY", "fieldOfWork": "journalism", "languages": [], "riskLevel": "critical"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let secret_defender = secret_defender["id"].as_str().unwrap().to_owned();
    let secret: Value = app
        .post(
            "/stays",
            Some(t),
            json!({"defenderId": secret_defender, "intakeRound": "2026-autumn", "plannedArrival": "2026-10-01", "plannedDeparture": "2026-12-20", "visaStatus": "not_needed", "insuranceArranged": true, "confidentiality": "secret"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let secret_stay = secret["id"].as_str().unwrap().to_owned();
    let resp = app
        .request(
            Method::PUT,
            &format!("/stays/{secret_stay}/assignments/{}", w.assigned.id),
            Some(t),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let admin = app.account(&[Role::Admin]).await;
    let (_, client_key) = app.api_client(&admin.token, &["stays.read"]).await;

    let lists = |token: &str| {
        let token = token.to_owned();
        async move {
            let mut found = Vec::new();
            for path in [
                "/stays?limit=200",
                "/stay-summaries?limit=200",
                "/defenders?limit=200",
            ] {
                let resp = app.get(path, &token).await;
                if resp.status() == StatusCode::NOT_FOUND {
                    continue; // not a list this caller has (an API client's scope)
                }
                let page: Value = resp.json().await.unwrap();
                for item in page["items"].as_array().unwrap() {
                    found.push(item["id"].as_str().unwrap().to_owned());
                }
            }
            found
        }
    };
    let singles = [
        format!("/stays/{secret_stay}"),
        format!("/stay-summaries/{secret_stay}"),
        format!("/stays/{secret_stay}/assignments"),
        format!("/defenders/{secret_defender}"),
    ];
    // those not in it: nothing, anywhere
    for token in [w.unassigned.token.as_str(), client_key.as_str()] {
        let seen = lists(token).await;
        assert!(
            !seen.contains(&secret_stay) && !seen.contains(&secret_defender),
            "{seen:?}"
        );
        assert!(
            seen.contains(&w.stay),
            "the ordinary stay is listed: {seen:?}"
        );
        for path in &singles {
            let status = app.get(path, token).await.status();
            assert!(matches!(status, StatusCode::NOT_FOUND), "{path}: {status}");
        }
    }
    // the unassigned caseworker's look is on record
    assert!(app
        .audit_rows()
        .await
        .iter()
        .any(|e| e.action == "access.denied"
            && e.actor_id == Some(w.unassigned.id)
            && e.resource_id.as_deref() == Some(secret_stay.as_str())));
    // the coordinator and the assigned caseworker: all of it
    for token in [t.as_str(), w.assigned.token.as_str()] {
        let seen = lists(token).await;
        assert!(seen.contains(&secret_stay) && seen.contains(&secret_defender));
        for path in &singles {
            assert_eq!(
                app.get(path, token).await.status(),
                StatusCode::OK,
                "{path}"
            );
        }
    }
}

/// `keys rotate` re-wrapped the data keys but kept them, so an old master key
/// with an old dump still read today's data. `--reencrypt` gives every
/// defender a new data key and re-encrypts its values; plain rotation still
/// keeps them (documented).
#[tokio::test]
async fn rotation_with_reencrypt_leaves_an_old_key_and_dump_nothing_of_today() {
    use casedesk::{
        crypto::MasterKey,
        entities::{data_keys, defenders},
    };
    use sea_orm::EntityTrait;
    let mut w = world().await;
    let stay_path = format!("/stays/{}", w.stay);
    let resp = w
        .app
        .request(Method::GET, &stay_path, Some(&w.coordinator.token))
        .header("x-audit-reason", "REASON-BEFORE-ROTATION")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    w.app
        .post(
            &format!("{stay_path}/notes"),
            Some(&w.coordinator.token),
            json!({"category": "safety", "body": NOTE}),
        )
        .await;
    let db = w.app.state.db.clone();
    let config = (*w.app.state.config).clone();
    let old_master = config.master_key.clone().unwrap();
    // the old dump: the data keys as they were wrapped, and today's ciphertext
    let old_dump: Vec<data_keys::Model> = data_keys::Entity::find().all(&db).await.unwrap();
    let defender_id: uuid::Uuid = w.defender.parse().unwrap();
    let identity_before = defenders::Entity::find_by_id(defender_id)
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .identity_enc
        .unwrap();
    w.app.stop().await;

    let rotate = |from: &MasterKey, to: &MasterKey, reencrypt: bool| {
        let url = config.database_url.clone();
        let (from, to) = (from.to_base64().to_string(), to.to_base64().to_string());
        async move {
            let file = std::env::temp_dir().join(format!(
                "casedesk-new-{}.key",
                uuid::Uuid::now_v7().simple()
            ));
            std::fs::write(&file, to).unwrap();
            let mut cmd = common::process::command(&url, &[]);
            cmd.env("CASEDESK_MASTER_KEY", from).args([
                "keys",
                "rotate",
                "--new-key-file",
                file.to_str().unwrap(),
            ]);
            if reencrypt {
                cmd.arg("--reencrypt");
            }
            let out = cmd.output().await.unwrap();
            std::fs::remove_file(file).ok();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    let new_master = MasterKey::generate();
    let out = rotate(&old_master, &new_master, true).await;
    assert!(out.contains("gave 1 defenders new data keys"), "{out}");

    // with the old master key and the old dump, today's value does not open
    let identity_now = defenders::Entity::find_by_id(defender_id)
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .identity_enc
        .unwrap();
    assert_ne!(identity_now, identity_before);
    let aad = format!("defenders.identity:{defender_id}");
    let opens_with_old = |sealed: &str| {
        old_dump.iter().any(|k| {
            old_master
                .unwrap_key(&k.wrapped, &format!("data_keys:{}", k.id))
                .is_ok_and(|key| key.decrypt(sealed, &aad).is_ok())
        })
    };
    assert!(
        opens_with_old(&identity_before),
        "the old dump opens its own data"
    );
    assert!(
        !opens_with_old(&identity_now),
        "the old dump does not open today's"
    );

    // the service on the new key reads everything, old audit reasons too
    let mut config = config.clone();
    config.master_key = Some(new_master.clone());
    let app = TestApp::start(config.clone(), common::TestDb::Shared).await;
    let defender: Value = app
        .get(&format!("/defenders/{}", w.defender), &w.coordinator.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(defender["identity"]["legalName"], LEGAL_NAME);
    let notes: Value = app
        .get(&format!("{stay_path}/notes"), &w.coordinator.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(notes["items"][0]["body"], NOTE);
    let auditor = app.account(&[Role::Auditor]).await;
    assert!(app
        .audit_as(&auditor.token)
        .await
        .iter()
        .any(|e| e["reason"] == "REASON-BEFORE-ROTATION"));

    // plain rotation, for contrast, keeps the data keys and the ciphertexts
    let mut app = app;
    app.stop().await;
    let newer = MasterKey::generate();
    rotate(&new_master, &newer, false).await;
    let identity_after_plain = defenders::Entity::find_by_id(defender_id)
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .identity_enc
        .unwrap();
    assert_eq!(identity_after_plain, identity_now);

    // erasure destroys the retired key as well as the current one
    config.master_key = Some(newer);
    let app = TestApp::start(config, common::TestDb::Shared).await;
    let etag = app
        .get(&format!("/defenders/{}", w.defender), &w.coordinator.token)
        .await
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let resp = app
        .request(
            Method::DELETE,
            &format!("/defenders/{}", w.defender),
            Some(&w.coordinator.token),
        )
        .header("if-match", etag)
        .header("x-audit-reason", "erasure after rotation")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let left: Vec<uuid::Uuid> = data_keys::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert!(
        old_dump.iter().all(|k| !left.contains(&k.id)),
        "a retired key survived erasure"
    );
    assert!(casedesk::entities::retired_data_keys::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .is_empty());
}

/// A stay's PATCH: every field the spec lists is applied, shown and named
/// in the audit event (a field added to the body but not to the handler's
/// ladder fails), the sealed free text included.
#[tokio::test]
async fn every_stay_patch_field_is_applied_and_audited() {
    let w = world().await;
    let samples = json!({
        "intakeRound": "2027-spring",
        "referringOrganisation": "Front Line Defenders",
        "plannedArrival": "2026-09-15",
        "plannedDeparture": "2026-12-15",
        "actualArrival": "2026-09-16",
        "actualDeparture": "2026-12-14",
        "visaStatus": "granted",
        "insuranceArranged": false,
        "localPartner": "Amnesty NL",
        "confidentiality": "secret",
        "accommodationAddress": "Safe house 2, Utrecht",
    });
    common::patch_every_field(
        &w.app,
        &w.coordinator.token,
        &format!("/stays/{}", w.stay),
        "StayUpdate",
        &samples,
        "stay.updated",
    )
    .await;
}

/// A defender's PATCH: every field the spec lists is applied, shown and
/// named in the audit event, the sealed identity included.
#[tokio::test]
async fn every_defender_patch_field_is_applied_and_audited() {
    let w = world().await;
    let samples = json!({
        "codename": "Heron",
        "countryOfWork": "KE",
        "fieldOfWork": "womens_rights",
        "languages": ["English", "Swahili"],
        "gender": "female",
        "riskLevel": "medium",
        "identity": {"legalName": "Amina W. Otieno", "passportNumber": "KE7654321", "passportExpiry": "2031-05-06", "dateOfBirth": "1990-01-02",
                     "phone": "+254 700 000111", "email": "amina@example.org", "messenger": "Signal +254 700 000111", "emergencyContact": "Her sister, +254 700 000222"},
    });
    common::patch_every_field(
        &w.app,
        &w.coordinator.token,
        &format!("/defenders/{}", w.defender),
        "DefenderUpdate",
        &samples,
        "defender.updated",
    )
    .await;
}

/// Issue 32.3: an assigned caseworker's `PATCH {"confidentiality":"standard"}`
/// was a 200 and another caseworker then read the secret stay. Only a
/// coordinator changes confidentiality, and only with a reason.
#[tokio::test]
async fn only_a_coordinator_changes_confidentiality_and_with_a_reason() {
    let w = world().await;
    let app = &w.app;
    let stay_path = format!("/stays/{}", w.stay);
    let patch = |token: &str, reason: Option<&str>, to: &str| {
        let token = token.to_owned();
        let reason = reason.map(str::to_owned);
        let to = to.to_owned();
        let path = stay_path.clone();
        async move {
            let mut rb = app
                .request(Method::PATCH, &path, Some(&token))
                .header("if-match", "*")
                .json(&json!({"confidentiality": to}));
            if let Some(r) = reason {
                rb = rb.header("x-audit-reason", r);
            }
            rb.send().await.unwrap()
        }
    };
    let resp = patch(&w.coordinator.token, Some("Threat assessment 12"), "secret").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        app.get(&format!("/stays/{}", w.stay), &w.unassigned.token)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // the assigned caseworker may not lower it, with or without a reason
    for reason in [None, Some("defender asked")] {
        let body = problem(patch(&w.assigned.token, reason, "standard").await, 403).await;
        assert_eq!(body["type"], "urn:casedesk:problem:coordinator-only");
    }
    // nor raise or change it otherwise
    let body = problem(patch(&w.assigned.token, Some("r"), "restricted").await, 403).await;
    assert_eq!(body["type"], "urn:casedesk:problem:coordinator-only");
    assert_eq!(
        app.get(&format!("/stays/{}", w.stay), &w.unassigned.token)
            .await
            .status(),
        StatusCode::NOT_FOUND,
        "still secret"
    );
    // the same value is no change; other fields stay the caseworker's
    let resp = app
        .request(
            Method::PATCH,
            &format!("/stays/{}", w.stay),
            Some(&w.assigned.token),
        )
        .header("if-match", "*")
        .json(&json!({"confidentiality": "secret", "intakeRound": "2027-spring"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // a coordinator needs a reason
    let body = problem(patch(&w.coordinator.token, None, "standard").await, 400).await;
    assert_eq!(body["invalidParams"][0]["name"], "X-Audit-Reason");
    let resp = patch(&w.coordinator.token, Some("Threat over"), "standard").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        app.get(&format!("/stays/{}", w.stay), &w.unassigned.token)
            .await
            .status(),
        StatusCode::OK
    );
    // the change is on record with its reason, sealed
    assert!(app
        .audit_rows()
        .await
        .iter()
        .any(|e| e.action == "stay.updated"
            && e.actor_id == Some(w.coordinator.id)
            && e.reason.is_some()));
}

/// Issue 32.8: look-alike codenames (a Cyrillic letter among Latin ones, a
/// zero-width character, a direction override) were accepted beside the
/// real one. They are refused as a confusables check would.
#[tokio::test]
async fn look_alike_codenames_are_refused() {
    let w = world().await;
    let app = &w.app;
    for fake in [
        "K\u{0435}strel",
        "Kes\u{200b}trel",
        "Kestrel\u{202e}",
        "\u{2066}Kestrel",
    ] {
        let resp = app
            .post(
                "/defenders",
                Some(&w.coordinator.token),
                json!({"codename": fake, "countryOfWork": "UG", "fieldOfWork": "journalism", "languages": [], "riskLevel": "high"}),
            )
            .await;
        let body = problem(resp, 400).await;
        assert_eq!(body["invalidParams"][0]["name"], "codename", "{fake:?}");
    }
    // nor through a change
    let resp = app
        .request(
            Method::PATCH,
            &format!("/defenders/{}", w.defender),
            Some(&w.coordinator.token),
        )
        .header("if-match", "*")
        .json(&json!({"codename": "Kestr\u{0435}l"}))
        .send()
        .await
        .unwrap();
    let body = problem(resp, 400).await;
    assert_eq!(body["invalidParams"][0]["name"], "codename");
}

/// Issue 32.8: after `keys rotate`, a replica still on the old key wrapped a
/// new defender's data key under it, unreadable after the restart with the
/// new key. Writes that seal under the master key are fenced: the replica
/// answers 503 until it restarts with the new key, and writes nothing.
#[tokio::test]
async fn a_replica_on_a_rotated_master_key_seals_nothing() {
    let w = world().await;
    let app = &w.app;
    let old = app.state.keys.master.clone();
    let new = casedesk::crypto::MasterKey::generate();
    casedesk::keyring::rotate(&app.state.db, &old, &new, &app.clock)
        .await
        .unwrap();
    let defenders_before = defender_count(app).await;
    let resp = app
        .post(
            "/defenders",
            Some(&w.coordinator.token),
            json!({"codename": "Plover", "countryOfWork": "KE", "fieldOfWork": "journalism", "languages": [], "riskLevel": "high",
                   "identity": {"legalName": "Someone New", "passportNumber": "X1", "dateOfBirth": "1990-01-01", "phone": "+254 700 000000"}}),
        )
        .await;
    let body = problem(resp, 503).await;
    assert_eq!(body["type"], "urn:casedesk:problem:unavailable");
    assert_eq!(defender_count(app).await, defenders_before);
    // nor a second factor's secret
    let analyst = app.account(&[Role::Analyst]).await;
    let resp = app
        .post("/staff/me/totp", Some(&analyst.token), json!({}))
        .await;
    problem(resp, 503).await;
    // what is not sealed is still read
    assert_eq!(
        app.get("/stays", &w.coordinator.token).await.status(),
        StatusCode::OK
    );
}

async fn defender_count(app: &TestApp) -> u64 {
    use sea_orm::{EntityTrait, PaginatorTrait};
    casedesk::entities::defenders::Entity::find()
        .count(&app.state.db)
        .await
        .unwrap()
}

/// PATCH is a JSON Merge Patch: `null` clears a field that may be empty
/// (sealed free text and actual days alike), a field left out stays, and
/// `null` for a field that cannot be empty is a 400 naming it; an actual
/// day the status recorded is corrected, never removed.
#[tokio::test]
async fn a_merge_patch_null_clears_what_may_be_empty_and_nothing_else() {
    let w = world().await;
    let (app, t) = (&w.app, w.coordinator.token.as_str());
    let path = format!("/stays/{}", w.stay);
    let patch = |version: &Value, body: Value| {
        app.request(Method::PATCH, &path, Some(t))
            .header("if-match", format!("\"{version}\""))
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
            .send()
    };
    let stay: Value = app.get(&path, t).await.json().await.unwrap();
    let resp = patch(
        &stay["version"],
        json!({"localPartner": "Amnesty NL", "actualArrival": "2026-09-02"}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let stay: Value = resp.json().await.unwrap();
    assert_eq!(stay["localPartner"], "Amnesty NL");
    // not clearable: both named, nothing written
    let body = problem(
        patch(
            &stay["version"],
            json!({"intakeRound": null, "visaStatus": null, "localPartner": null}),
        )
        .await
        .unwrap(),
        400,
    )
    .await;
    let mut named: Vec<(&str, &str)> = body["invalidParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["code"].as_str().unwrap()))
        .collect();
    named.sort();
    assert_eq!(
        named,
        [
            ("intakeRound", "not_clearable"),
            ("visaStatus", "not_clearable")
        ]
    );
    // cleared: sealed texts and a day set by hand before the stay began
    let resp = patch(
        &stay["version"],
        json!({"localPartner": null, "referringOrganisation": null, "accommodationAddress": null, "actualArrival": null}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let stay: Value = app.get(&path, t).await.json().await.unwrap();
    for f in [
        "localPartner",
        "referringOrganisation",
        "accommodationAddress",
        "actualArrival",
    ] {
        assert!(stay[f].is_null(), "{f} cleared: {stay}");
    }
    assert_eq!(stay["intakeRound"], "2026-autumn", "left out, kept");
    assert_eq!(stay["visaStatus"], "to_apply", "left out, kept");
    // once the status recorded the arrival it is corrected, not removed
    for to in ["intake", "pre_arrival", "in_residence"] {
        assert_eq!(
            change(app, t, &w.stay, to, None).await.status(),
            StatusCode::CREATED
        );
    }
    let stay: Value = app.get(&path, t).await.json().await.unwrap();
    let body = problem(
        patch(&stay["version"], json!({"actualArrival": null}))
            .await
            .unwrap(),
        400,
    )
    .await;
    assert_eq!(body["invalidParams"][0]["name"], "actualArrival", "{body}");
    assert_eq!(body["invalidParams"][0]["code"], "recorded_by_status");
    let resp = patch(&stay["version"], json!({"actualArrival": "2026-09-03"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "a correction is fine");
}
