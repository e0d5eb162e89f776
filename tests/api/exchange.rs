//! The exchange programme through HTTP: institutions, agreements and quotas,
//! participants, placements and their lifecycle, and the quota race.

use crate::common;

use casedesk::accounts::model::Role;
use common::{problem, Account, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct World {
    app: TestApp,
    coordinator: Account,
    officer: Account,
    home: String,
    partner: String,
    agreement: String,
}

async fn body(resp: reqwest::Response, status: StatusCode) -> Value {
    let actual = resp.status();
    let url = resp.url().clone();
    let value: Value = resp.json().await.unwrap();
    assert_eq!(actual, status, "{url}: {value}");
    value
}

async fn world(places: i32) -> World {
    let app = TestApp::spawn().await;
    let coordinator = app.account(&[Role::ExchangeCoordinator]).await;
    let officer = app.account(&[Role::ExchangeOfficer]).await;
    let t = coordinator.token.as_str();
    let home = body(
        app.post("/institutions", Some(t), json!({"name": "ROC Amsterdam", "kind": "mbo_college", "country": "nl", "city": "Amsterdam", "erasmusCode": "nl amsterd07", "sisterCity": false})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(home["erasmusCode"], "NL AMSTERD07");
    let partner = body(
        app.post("/institutions", Some(t), json!({"name": "Escola Profissional", "kind": "mbo_college", "country": "PT", "city": "Porto", "sisterCity": true, "contactEmail": "intl@escola.example.pt"})).await,
        StatusCode::CREATED,
    )
    .await;
    let agreement = body(
        app.post(
            "/agreements",
            Some(t),
            json!({"partnerInstitutionId": partner["id"], "programme": "erasmus_plus", "validFrom": "2026-01-01", "validUntil": "2028-12-31", "status": "active",
                   "quotas": [{"direction": "outgoing", "educationLevel": "mbo_4", "places": places, "totalMonths": places * 3},
                              {"direction": "incoming", "educationLevel": "hbo", "places": 2, "totalMonths": 10}]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(agreement["quotas"].as_array().unwrap().len(), 2);
    World {
        home: home["id"].as_str().unwrap().to_owned(),
        partner: partner["id"].as_str().unwrap().to_owned(),
        agreement: agreement["id"].as_str().unwrap().to_owned(),
        app,
        coordinator,
        officer,
    }
}

async fn participant(w: &World, given: &str, level: &str) -> String {
    let p = body(
        w.app
            .post(
                "/participants",
                Some(&w.officer.token),
                json!({"givenName": given, "familyName": "de Vries", "dateOfBirth": "2007-05-01", "email": format!("{given}@student.example.nl"),
                       "educationLevel": level, "homeInstitutionId": w.home, "fieldOfStudy": "Hospitality", "nationality": "NL", "fewerOpportunities": given.starts_with('F')}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    p["id"].as_str().unwrap().to_owned()
}

async fn placement(w: &World, participant: &str, agreement: bool) -> Value {
    let mut b = json!({"participantId": participant, "direction": "outgoing", "sendingInstitutionId": w.home, "receivingInstitutionId": w.partner,
                       "kind": "traineeship", "plannedStart": "2027-02-01", "plannedEnd": "2027-04-30", "fundingProgramme": "Erasmus+ KA121"});
    if agreement {
        b["agreementId"] = json!(w.agreement);
    }
    body(
        w.app.post("/placements", Some(&w.officer.token), b).await,
        StatusCode::CREATED,
    )
    .await
}

async fn to(w: &World, token: &str, id: &str, status: &str, extra: Value) -> reqwest::Response {
    let mut b = json!({"to": status});
    if let (Some(b), Some(e)) = (b.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    w.app
        .post(&format!("/placements/{id}/status-changes"), Some(token), b)
        .await
}

#[tokio::test]
async fn institutions_are_unique_by_erasmus_code_and_validated() {
    let w = world(2).await;
    let t = &w.coordinator.token;
    let resp = w.app.post("/institutions", Some(t), json!({"name": "Other", "kind": "hbo", "country": "NL", "city": "Delft", "erasmusCode": "NL AMSTERD07", "sisterCity": false})).await;
    problem(resp, 409).await;
    let b = problem(
        w.app.post("/institutions", Some(t), json!({"name": "  ", "kind": "hbo", "country": "XX", "city": "Delft", "erasmusCode": "AMSTERDAM", "sisterCity": false, "contactEmail": "nope"})).await,
        400,
    )
    .await;
    let names: Vec<&str> = b["invalidParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for n in ["name", "country", "erasmusCode", "contactEmail"] {
        assert!(names.contains(&n), "{names:?}");
    }
    // officers read but do not write the catalogue
    let list = body(
        w.app
            .get("/institutions?country=PT", &w.officer.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    problem(w.app.post("/institutions", Some(&w.officer.token), json!({"name": "X", "kind": "hbo", "country": "NL", "city": "X", "sisterCity": false})).await, 404).await;
    // update with If-Match
    let path = format!("/institutions/{}", w.partner);
    let resp = w
        .app
        .request(Method::PATCH, &path, Some(t))
        .header("if-match", "\"1\"")
        .json(&json!({"city": "Porto (Norte)"}))
        .send()
        .await
        .unwrap();
    assert_eq!(body(resp, StatusCode::OK).await["city"], "Porto (Norte)");
    let resp = w
        .app
        .request(Method::PATCH, &path, Some(t))
        .header("if-match", "\"1\"")
        .json(&json!({"city": "Lost"}))
        .send()
        .await
        .unwrap();
    problem(resp, 412).await;
}

#[tokio::test]
async fn agreements_carry_quotas() {
    let w = world(2).await;
    let t = &w.coordinator.token;
    let dup = json!({"partnerInstitutionId": w.partner, "programme": "bilateral", "validFrom": "2026-01-01", "validUntil": "2025-01-01", "status": "draft",
                     "quotas": [{"direction": "outgoing", "educationLevel": "mbo_2", "places": 1, "totalMonths": 1}, {"direction": "outgoing", "educationLevel": "mbo_2", "places": 2, "totalMonths": 2}]});
    let b = problem(w.app.post("/agreements", Some(t), dup).await, 400).await;
    assert_eq!(b["invalidParams"].as_array().unwrap().len(), 2, "{b}");
    let path = format!("/agreements/{}", w.agreement);
    let resp = w.app
        .request(Method::PATCH, &path, Some(t))
        .header("if-match", "\"1\"")
        .json(&json!({"quotas": [{"direction": "outgoing", "educationLevel": "mbo_3", "places": 4, "totalMonths": 12}]}))
        .send()
        .await
        .unwrap();
    let a = body(resp, StatusCode::OK).await;
    assert_eq!(
        a["quotas"],
        json!([{"direction": "outgoing", "educationLevel": "mbo_3", "places": 4, "totalMonths": 12}])
    );
    let list = body(
        w.app
            .get("/agreements?programme=erasmus_plus", &w.officer.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn participants_are_read_with_an_audit_trail_and_searched_by_body() {
    let w = world(2).await;
    let id = participant(&w, "Fenna", "mbo_4").await;
    let p = body(
        w.app
            .get(&format!("/participants/{id}"), &w.officer.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(p["givenName"], "Fenna");
    assert_eq!(p["fewerOpportunities"], true);
    let found = body(
        w.app
            .post(
                "/participants/searches",
                Some(&w.officer.token),
                json!({"givenName": " FENNA", "familyName": "DE  VRIES"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(found["items"][0]["id"], id.as_str());
    let none = body(
        w.app
            .post(
                "/participants/searches",
                Some(&w.officer.token),
                json!({"givenName": "Fen", "familyName": "de Vries"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    let list = body(
        w.app
            .get(
                "/participants?educationLevel=mbo_4&fewerOpportunities=true",
                &w.officer.token,
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // no other role learns that the learner exists
    let shelter = w.app.account(&[Role::ShelterCoordinator]).await;
    problem(
        w.app
            .get(&format!("/participants/{id}"), &shelter.token)
            .await,
        404,
    )
    .await;
    let rows = w.app.audit_rows().await;
    assert!(rows.iter().any(|e| e.action == "read"
        && e.resource_id.as_deref() == Some(id.as_str())
        && e.actor_id == Some(w.officer.id)));
    assert!(
        rows.iter().any(|e| e.action == "read"
            && e.resource_id.is_none()
            && e.changed_fields.as_deref() == Some("participant")),
        "list reads audited"
    );
    assert!(rows.iter().any(|e| e.action == "participant.searched"));
    let dump = format!("{rows:?}");
    assert!(
        !dump.contains("Fenna")
            && !dump.contains("de Vries")
            && !dump.contains("student.example.nl")
    );
    // updates need If-Match and keep the search key current
    let resp = w
        .app
        .request(
            Method::PATCH,
            &format!("/participants/{id}"),
            Some(&w.officer.token),
        )
        .header("if-match", "\"1\"")
        .json(&json!({"familyName": "Jansen"}))
        .send()
        .await
        .unwrap();
    assert_eq!(body(resp, StatusCode::OK).await["familyName"], "Jansen");
    let found = body(
        w.app
            .post(
                "/participants/searches",
                Some(&w.officer.token),
                json!({"givenName": "Fenna", "familyName": "Jansen"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_placement_goes_through_its_lifecycle() {
    let w = world(2).await;
    let pid = participant(&w, "Sem", "mbo_4").await;
    let p = placement(&w, &pid, true).await;
    let id = p["id"].as_str().unwrap();
    assert!(p["reference"].as_str().unwrap().starts_with("EX-"), "{p}");
    assert_eq!(p["status"], "applied");
    assert_eq!(p["country"], "PT");
    assert_eq!(p["educationLevel"], "mbo_4");
    let t = &w.officer.token;
    let b = problem(to(&w, t, id, "in_progress", json!({})).await, 409).await;
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("nominated, rejected, withdrawn"),
        "{b}"
    );
    for s in [
        "nominated",
        "accepted",
        "agreement_signed",
        "in_progress",
        "completed",
        "reported",
    ] {
        // the placement starts months before its planned start: said, not guessed
        let extra = if s == "in_progress" {
            json!({"actualStart": "2026-11-02"})
        } else {
            json!({})
        };
        assert_eq!(
            to(&w, t, id, s, extra).await.status(),
            StatusCode::CREATED,
            "{s}"
        );
    }
    let b = problem(to(&w, t, id, "cancelled", json!({})).await, 409).await;
    assert!(b["detail"].as_str().unwrap().contains("final"), "{b}");
    let p = body(
        w.app.get(&format!("/placements/{id}"), t).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(p["status"], "reported");
    assert_eq!(p["actualStart"], "2026-11-02");
    assert!(p["actualEnd"].is_string());
    let history = body(
        w.app
            .get(&format!("/placements/{id}/status-changes"), t)
            .await,
        StatusCode::OK,
    )
    .await;
    let path: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|c| c["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        path,
        [
            "applied",
            "nominated",
            "accepted",
            "agreement_signed",
            "in_progress",
            "completed",
            "reported"
        ]
    );
    // filters
    for (query, n) in [
        ("status=reported", 1),
        ("status=applied", 0),
        ("direction=outgoing", 1),
        ("educationLevel=mbo_4", 1),
        ("country=PT", 1),
        ("country=NL", 0),
        ("year=2027", 1),
        ("year=2026", 0),
    ] {
        let list = body(
            w.app.get(&format!("/placements?{query}"), t).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(list["items"].as_array().unwrap().len(), n, "{query}");
    }
    let list = body(
        w.app
            .get(
                &format!(
                    "/placements?institutionId={}&agreementId={}",
                    w.partner, w.agreement
                ),
                t,
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn over_quota_is_refused_unless_a_coordinator_overrides_with_a_reason() {
    let w = world(1).await;
    let first = placement(&w, &participant(&w, "Ana", "mbo_4").await, true).await;
    let second = placement(&w, &participant(&w, "Bo", "mbo_4").await, true).await;
    let (a, b) = (
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    );
    let t = &w.officer.token;
    for id in [a, b] {
        to(&w, t, id, "nominated", json!({})).await;
    }
    assert_eq!(
        to(&w, t, a, "accepted", json!({})).await.status(),
        StatusCode::CREATED
    );
    let body409 = problem(to(&w, t, b, "accepted", json!({})).await, 409).await;
    assert_eq!(body409["type"], "urn:casedesk:problem:over-quota");
    problem(
        to(
            &w,
            t,
            b,
            "accepted",
            json!({"overrideQuota": true, "reason": "extra funding"}),
        )
        .await,
        403,
    )
    .await;
    problem(
        to(
            &w,
            &w.coordinator.token,
            b,
            "accepted",
            json!({"overrideQuota": true}),
        )
        .await,
        400,
    )
    .await;
    let change = body(
        to(
            &w,
            &w.coordinator.token,
            b,
            "accepted",
            json!({"overrideQuota": true, "reason": "Extra places funded by the city"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(change["quotaOverridden"], true);
    assert!(w
        .app
        .audit_rows()
        .await
        .iter()
        .any(|e| e.action == "placement.status_changed.quota_overridden"
            && e.resource_id.as_deref() == Some(b)));
    // a placement without an agreement has no quota
    let free = placement(&w, &participant(&w, "Cas", "mbo_4").await, false).await;
    let f = free["id"].as_str().unwrap();
    to(&w, t, f, "nominated", json!({})).await;
    assert_eq!(
        to(&w, t, f, "accepted", json!({})).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn concurrent_acceptances_never_overshoot_a_quota() {
    let w = world(3).await;
    let mut ids = Vec::new();
    for i in 0..8 {
        let p = placement(
            &w,
            &participant(&w, &format!("Race{i}"), "mbo_4").await,
            true,
        )
        .await;
        let id = p["id"].as_str().unwrap().to_owned();
        assert_eq!(
            to(&w, &w.officer.token, &id, "nominated", json!({}))
                .await
                .status(),
            StatusCode::CREATED
        );
        ids.push(id);
    }
    let mut tasks = Vec::new();
    for id in ids {
        let client = w.app.client.clone();
        let url = w.app.api(&format!("/placements/{id}/status-changes"));
        let token = w.officer.token.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"to": "accepted"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [201, 201, 201, 409, 409, 409, 409, 409],
        "exactly the quota is accepted"
    );
    let accepted = body(
        w.app
            .get(
                &format!("/placements?agreementId={}&status=accepted", w.agreement),
                &w.officer.token,
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(accepted["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn placement_input_is_validated_all_at_once() {
    let w = world(1).await;
    let b = problem(
        w.app
            .post("/placements", Some(&w.officer.token), json!({"participantId": uuid::Uuid::now_v7(), "direction": "sideways", "sendingInstitutionId": w.home, "receivingInstitutionId": w.home, "kind": "study", "plannedStart": "2027-05-01", "plannedEnd": "2027-04-01"}))
            .await,
        400,
    )
    .await;
    assert!(
        b["invalidParams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "direction"),
        "{b}"
    );
    let b = problem(
        w.app
            .post("/placements", Some(&w.officer.token), json!({"participantId": uuid::Uuid::now_v7(), "direction": "incoming", "sendingInstitutionId": w.home, "receivingInstitutionId": w.home, "kind": "study", "plannedStart": "2027-05-01", "plannedEnd": "2027-04-01"}))
            .await,
        400,
    )
    .await;
    assert_eq!(b["invalidParams"].as_array().unwrap().len(), 2, "{b}");
    let b = problem(
        w.app
            .post("/placements", Some(&w.officer.token), json!({"participantId": uuid::Uuid::now_v7(), "direction": "incoming", "sendingInstitutionId": w.home, "receivingInstitutionId": w.partner, "agreementId": uuid::Uuid::now_v7(), "kind": "study", "plannedStart": "2027-03-01", "plannedEnd": "2027-04-01"}))
            .await,
        400,
    )
    .await;
    let names: Vec<&str> = b["invalidParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["participantId", "agreementId"]);
}

/// A PATCH reports every problem of its body at once, as a create does
/// (issue 33: placements and agreements answered only the first).
#[tokio::test]
async fn a_patch_reports_every_problem_at_once() {
    let w = world(1).await;
    let pid = participant(&w, "Noor", "mbo_4").await;
    let p = placement(&w, &pid, false).await;
    let names = |b: &Value| -> Vec<String> {
        b["invalidParams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let resp = w
        .app
        .request(
            Method::PATCH,
            &format!("/placements/{}", p["id"].as_str().unwrap()),
            Some(&w.officer.token),
        )
        .header("If-Match", format!("\"{}\"", p["version"]))
        .json(&json!({"plannedEnd": "2027-01-01", "fundingProgramme": "KA\u{7}121"}))
        .send()
        .await
        .unwrap();
    let b = problem(resp, 400).await;
    assert_eq!(names(&b), ["plannedEnd", "fundingProgramme"], "{b}");
    let agreement = body(
        w.app
            .get(
                &format!("/agreements/{}", w.agreement),
                &w.coordinator.token,
            )
            .await,
        StatusCode::OK,
    )
    .await;
    let resp = w
        .app
        .request(
            Method::PATCH,
            &format!("/agreements/{}", w.agreement),
            Some(&w.coordinator.token),
        )
        .header("If-Match", format!("\"{}\"", agreement["version"]))
        .json(&json!({"validUntil": "2025-01-01",
                      "quotas": [{"direction": "outgoing", "educationLevel": "mbo_4", "places": 1, "totalMonths": 3},
                                 {"direction": "outgoing", "educationLevel": "mbo_4", "places": 2, "totalMonths": 6}]}))
        .send()
        .await
        .unwrap();
    let b = problem(resp, 400).await;
    assert_eq!(names(&b), ["quotas[1]", "validUntil"], "{b}");
    // and nothing of either was written
    let after = body(
        w.app
            .get(
                &format!("/agreements/{}", w.agreement),
                &w.coordinator.token,
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after["version"], agreement["version"]);
}

fn rates(valid_from: &str, daily_pt: i64) -> Value {
    json!({
        "validFrom": valid_from,
        "countryGroups": [{"group": "2", "countries": ["PT", "es"], "dailyRateCents": daily_pt}, {"group": "1", "countries": ["NO"], "dailyRateCents": 6000}],
        "travelBands": [
            {"fromKm": 0, "toKm": 99, "amountCents": 2800, "greenAmountCents": 5600},
            {"fromKm": 100, "toKm": 499, "amountCents": 21100, "greenAmountCents": 28500},
            {"fromKm": 500, "toKm": 1999, "amountCents": 27500, "greenAmountCents": 41700}
        ],
        "inclusionTopUpMonthlyCents": 10000
    })
}

#[tokio::test]
async fn grants_follow_the_rate_table_and_freeze_once_under_way() {
    let w = world(5).await;
    let c = &w.coordinator.token;
    let t1 = body(
        w.app
            .post("/grant-rates", Some(c), rates("2026-01-01", 4800))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(t1["tableVersion"], 1);
    assert_eq!(t1["countryGroups"][0]["countries"], json!(["PT", "ES"]));
    let t2 = body(
        w.app
            .post("/grant-rates", Some(c), rates("2027-06-01", 5000))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(t2["tableVersion"], 2);
    problem(
        w.app
            .post("/grant-rates", Some(c), rates("2027-06-01", 1))
            .await,
        409,
    )
    .await;
    let mut bad = rates("2030-01-01", 1);
    bad["countryGroups"][1]["countries"] = json!(["PT", "QQ"]);
    bad["travelBands"][1]["fromKm"] = json!(50);
    let b = problem(w.app.post("/grant-rates", Some(c), bad).await, 400).await;
    assert_eq!(b["invalidParams"].as_array().unwrap().len(), 3, "{b}");
    problem(
        w.app
            .post(
                "/grant-rates",
                Some(&w.officer.token),
                rates("2031-01-01", 1),
            )
            .await,
        404,
    )
    .await;

    // Fenna has fewer opportunities: 89 days in Portugal, 1,850 km by train
    let fenna = participant(&w, "Fenna", "mbo_4").await;
    let p = body(
        w.app
            .post(
                "/placements",
                Some(&w.officer.token),
                json!({"participantId": fenna, "direction": "outgoing", "agreementId": w.agreement, "sendingInstitutionId": w.home, "receivingInstitutionId": w.partner,
                       "kind": "traineeship", "plannedStart": "2027-02-01", "plannedEnd": "2027-04-30", "travelDistanceKm": 1850, "greenTravel": true}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let g = &p["grant"];
    // by hand: 89 x 48.00 = 4,272.00; green 500-1999 km = 417.00; 100.00 x 89 / 30 = 296.66
    assert_eq!(g["days"], 89);
    assert_eq!(g["subsistenceCents"], 427_200);
    assert_eq!(g["travelCents"], 41_700);
    assert_eq!(g["inclusionCents"], 29_666);
    assert_eq!(g["amountCents"], 498_566);
    assert_eq!(g["currency"], "EUR");
    assert_eq!(g["rateTableVersion"], 1);
    assert_eq!(g["frozen"], false);

    // the used table can no longer change; the unused one can
    let resp = w
        .app
        .request(
            Method::PUT,
            &format!("/grant-rates/{}", t1["id"].as_str().unwrap()),
            Some(c),
        )
        .header("if-match", "\"1\"")
        .json(&rates("2026-01-01", 9999))
        .send()
        .await
        .unwrap();
    problem(resp, 409).await;
    let resp = w
        .app
        .request(
            Method::PUT,
            &format!("/grant-rates/{}", t2["id"].as_str().unwrap()),
            Some(c),
        )
        .header("if-match", "\"1\"")
        .json(&rates("2027-06-01", 5200))
        .send()
        .await
        .unwrap();
    assert_eq!(
        body(resp, StatusCode::OK).await["countryGroups"][0]["dailyRateCents"],
        5200
    );

    // new dates: recomputed, under the table valid on the new start date
    let id = p["id"].as_str().unwrap();
    let resp = w.app
        .request(Method::PATCH, &format!("/placements/{id}"), Some(&w.officer.token))
        .header("if-match", "\"1\"")
        .json(&json!({"plannedStart": "2027-07-01", "plannedEnd": "2027-07-30", "greenTravel": false}))
        .send()
        .await
        .unwrap();
    let g = body(resp, StatusCode::OK).await["grant"].clone();
    assert_eq!(g["rateTableVersion"], 2);
    assert_eq!(g["days"], 30);
    assert_eq!(g["amountCents"], 30 * 5200 + 27_500 + 10_000);

    // under way: frozen, even when dates change
    for s in ["nominated", "accepted", "agreement_signed", "in_progress"] {
        let extra = if s == "in_progress" {
            json!({"actualStart": "2026-11-02"})
        } else {
            json!({})
        };
        assert_eq!(
            to(&w, &w.officer.token, id, s, extra).await.status(),
            StatusCode::CREATED,
            "{s}"
        );
    }
    let current = body(
        w.app
            .get(&format!("/placements/{id}"), &w.officer.token)
            .await,
        StatusCode::OK,
    )
    .await;
    let version = current["version"].as_i64().unwrap();
    let resp = w
        .app
        .request(
            Method::PATCH,
            &format!("/placements/{id}"),
            Some(&w.officer.token),
        )
        .header("if-match", format!("\"{version}\""))
        .json(&json!({"plannedEnd": "2027-08-30"}))
        .send()
        .await
        .unwrap();
    let after = body(resp, StatusCode::OK).await;
    assert_eq!(after["grant"]["amountCents"], g["amountCents"]);
    assert_eq!(after["grant"]["frozen"], true);

    // no table for the date or no rate for the country: no grant
    let early = body(
        w.app
            .post("/placements", Some(&w.officer.token), json!({"participantId": fenna, "direction": "outgoing", "sendingInstitutionId": w.home, "receivingInstitutionId": w.partner, "kind": "study", "plannedStart": "2025-02-01", "plannedEnd": "2025-03-01"}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert!(early["grant"].is_null());

    // the list reads its rows by column position, the detail by column name:
    // every item equals its detail, with each optional column set (the full
    // placement) and with each one NULL (the early one)
    let resp = w
        .app
        .request(
            Method::PATCH,
            &format!("/placements/{id}"),
            Some(&w.officer.token),
        )
        .header("if-match", format!("\"{}\"", after["version"]))
        .json(&json!({"actualStart": "2027-07-02", "actualEnd": "2027-08-29", "fundingProgramme": "Erasmus+ KA1 'VET' \u{1F600}"}))
        .send()
        .await
        .unwrap();
    let full = body(resp, StatusCode::OK).await;
    for field in [
        "agreementId",
        "actualStart",
        "actualEnd",
        "fundingProgramme",
        "travelDistanceKm",
        "grant",
    ] {
        assert!(!full[field].is_null(), "{field} is set: {full}");
    }
    for field in [
        "agreementId",
        "actualStart",
        "fundingProgramme",
        "travelDistanceKm",
    ] {
        assert!(early[field].is_null(), "{field} is NULL: {early}");
    }
    let page = body(
        w.app.get("/placements?limit=200", &w.officer.token).await,
        StatusCode::OK,
    )
    .await;
    let items = page["items"].as_array().unwrap();
    for one in [&full, &early] {
        assert!(items.iter().any(|i| i["id"] == one["id"]), "{one} listed");
    }
    for item in items {
        let detail = body(
            w.app
                .get(
                    &format!("/placements/{}", item["id"].as_str().unwrap()),
                    &w.officer.token,
                )
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(item, &detail);
    }
}

#[tokio::test]
async fn the_placement_list_exports_as_streamed_csv_with_the_same_filters() {
    let w = world(5).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let p = placement(
            &w,
            &participant(&w, &format!("Csv{i}"), "mbo_4").await,
            i % 2 == 0,
        )
        .await;
        ids.push(p["id"].as_str().unwrap().to_owned());
    }
    // a value a spreadsheet would execute is neutralised
    let resp = w
        .app
        .request(
            Method::PATCH,
            &format!("/placements/{}", ids[0]),
            Some(&w.officer.token),
        )
        .header("if-match", "\"1\"")
        .json(&json!({"fundingProgramme": "=HYPERLINK(\"http://x\")"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = w
        .app
        .request(Method::GET, "/placement-exports", Some(&w.officer.token))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(resp.headers().get("link").is_none());
    let text = resp.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("reference,id,participantId,direction"),
        "{text}"
    );
    assert_eq!(
        lines.len(),
        4,
        "every matching placement, not a page: {text}"
    );
    assert!(text.contains("'=HYPERLINK"), "{text}");
    let resp = w
        .app
        .request(
            Method::GET,
            &format!("/placement-exports?agreementId={}", w.agreement),
            Some(&w.officer.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.text().await.unwrap().lines().count(),
        3,
        "filters apply"
    );
    // the same access rules, and the export is on record
    let resp = w
        .app
        .request(
            Method::GET,
            "/placement-exports",
            Some(&w.app.account(&[Role::Analyst]).await.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(w
        .app
        .audit_rows()
        .await
        .iter()
        .any(|e| e.action == "placements.exported" && e.actor_id == Some(w.officer.id)));
}

#[tokio::test]
async fn the_cohort_list_reads_its_page_over_the_cohort_index() {
    use casedesk::entities::placements;
    use sea_orm::{
        ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
        QueryTrait, Statement,
    };
    let w = world(5).await;
    let learner = participant(&w, "Cohort", "mbo_4").await;
    placement(&w, &learner, false).await;
    let db = &w.app.state.db;
    let backend = db.get_database_backend();
    // 20,000 more placements in every cohort, copied from that one
    let (series, new_id) = if backend == DbBackend::Postgres {
        ("generate_series(1, 20000) AS s(n)", "gen_random_uuid()")
    } else {
        (
            "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 20000) SELECT n FROM s) AS s",
            "randomblob(16)",
        )
    };
    db.execute_unprepared(&format!(
        "INSERT INTO placements (id, reference, participant_id, direction, sending_institution_id, receiving_institution_id, kind,
             planned_start, planned_end, status, education_level, country, year, green_travel, version, created_at, updated_at)
         SELECT {new_id}, 'BULK-' || s.n, p.participant_id, CASE WHEN s.n % 3 = 0 THEN 'incoming' ELSE 'outgoing' END,
             p.sending_institution_id, p.receiving_institution_id, p.kind, p.planned_start, p.planned_end, p.status,
             CASE s.n % 7 WHEN 0 THEN 'mbo_4' WHEN 1 THEN 'mbo_3' WHEN 2 THEN 'mbo_2' WHEN 3 THEN 'mbo_1' WHEN 4 THEN 'hbo' WHEN 5 THEN 'wo' ELSE 'secondary' END,
             p.country, p.year, p.green_travel, 1, p.created_at, p.updated_at
         FROM placements AS p, {series}"
    ))
    .await
    .unwrap();
    db.execute_unprepared("ANALYZE").await.unwrap();
    if backend == DbBackend::Postgres {
        // the service's sessions plan with a random page cost for data in memory
        let row = db
            .query_one_raw(Statement::from_string(backend, "SHOW random_page_cost"))
            .await
            .unwrap()
            .unwrap();
        let cost: String = row.try_get_by_index(0).unwrap();
        assert_eq!(cost, casedesk::db::PLANNER_RANDOM_PAGE_COST);
        // unless the operator's URL chooses one
        let (url, _other) = common::fresh_database().await;
        let chosen = casedesk::db::connect(&format!("{url}?options=-c%20random_page_cost%3D2"), 1)
            .await
            .unwrap();
        let row = chosen
            .query_one_raw(Statement::from_string(backend, "SHOW random_page_cost"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "2");
        chosen.close().await.ok();
    }
    // the query of GET /placements?direction=outgoing&educationLevel=mbo_4&year=2027
    let list = placements::Entity::find()
        .filter(placements::Column::Direction.eq("outgoing"))
        .filter(placements::Column::EducationLevel.eq("mbo_4"))
        .filter(placements::Column::Year.eq(2027))
        .order_by_desc(placements::Column::Id)
        .limit(51)
        .build(backend);
    let explain = if backend == DbBackend::Postgres {
        "EXPLAIN"
    } else {
        "EXPLAIN QUERY PLAN"
    };
    let plan: Vec<String> = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!("{explain} {}", list.sql),
            list.values.unwrap(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let column = if backend == DbBackend::Postgres { 0 } else { 3 };
            r.try_get_by_index::<String>(column).unwrap()
        })
        .collect();
    assert!(
        plan.iter().any(|l| l.contains("ix_placements_cohort_list")),
        "{plan:#?}"
    );
    // and the page is the cohort's, newest first
    let page = body(
        w.app
            .get(
                "/placements?limit=50&direction=outgoing&educationLevel=mbo_4&year=2027",
                &w.officer.token,
            )
            .await,
        StatusCode::OK,
    )
    .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 50);
    for i in items {
        assert_eq!(
            (
                &i["direction"],
                &i["educationLevel"],
                &i["plannedStart"].as_str().unwrap()[..4]
            ),
            (&json!("outgoing"), &json!("mbo_4"), "2027"),
        );
    }
}

/// A stored value the service never writes (a status, a kind, a role) was
/// read as a default: a corrupt status became `applied` and could be moved
/// on from there. It is now an internal error, on every read and write that
/// meets it, and nothing is changed.
#[tokio::test]
async fn a_corrupt_stored_value_is_an_error_not_a_default() {
    use casedesk::entities::{placements, staff_roles};
    use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, QueryFilter};
    let w = world(2).await;
    let pid = participant(&w, "Corrupt", "mbo_4").await;
    let p = placement(&w, &pid, false).await;
    let id = p["id"].as_str().unwrap();
    let t = &w.coordinator.token;
    let written = placements::Entity::update_many()
        .col_expr(placements::Column::Status, Expr::value("bogus"))
        .filter(placements::Column::Id.eq(uuid::Uuid::parse_str(id).unwrap()))
        .exec(&w.app.state.db)
        .await
        .unwrap();
    assert_eq!(written.rows_affected, 1);
    problem(w.app.get(&format!("/placements/{id}"), t).await, 500).await;
    let resp = w.app.get("/placements", t).await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{text}");
    problem(to(&w, t, id, "nominated", json!({})).await, 500).await;
    let history = body(
        w.app
            .get(&format!("/placements/{id}/status-changes"), t)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        history["items"].as_array().unwrap().len(),
        1,
        "nothing moved"
    );
    // nor is the row left out of a count (the statistics dropped it: a 200
    // whose totals were short by one)
    problem(w.app.get("/statistics/placements", t).await, 500).await;

    // a corrupt role is not dropped (nor a default): the session cannot be used
    let written = staff_roles::Entity::update_many()
        .col_expr(staff_roles::Column::Role, Expr::value("overlord"))
        .filter(staff_roles::Column::StaffId.eq(w.officer.id))
        .exec(&w.app.state.db)
        .await
        .unwrap();
    assert_eq!(written.rows_affected, 1);
    let resp = w.app.get("/institutions", &w.officer.token).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

/// Two creates with one Erasmus code at the same moment: the unique
/// constraint decides, one is created and the other is a 409 (never a 500).
/// On SQLite the write lock orders them; on PostgreSQL they really race.
#[tokio::test]
async fn two_creates_with_one_code_one_wins_one_is_a_409() {
    let w = world(2).await;
    let t = &w.coordinator.token;
    for round in 0..8 {
        let code = format!("NL RACE{round:02}");
        let create = |name: &'static str| {
            w.app.post(
                "/institutions",
                Some(t),
                json!({"name": name, "kind": "hbo", "country": "NL", "city": "Delft", "erasmusCode": code, "sisterCity": false}),
            )
        };
        let (a, b) = tokio::join!(create("One"), create("Other"));
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "round {round}");
        let refused = if a.status() == StatusCode::CONFLICT {
            a
        } else {
            b
        };
        let p = problem(refused, 409).await;
        assert_eq!(p["detail"], "Another institution has this Erasmus code.");
    }
}

/// A placement's fields are declared in one view and checked here against
/// the others, so that a field added to one and forgotten in another fails:
/// every field of the PATCH body (as the spec lists it) is applied, named in
/// the audit event and shown in the view; every field of the view is a CSV
/// column with the same value; every `kenmerk` of its events is a field of
/// the view. (The CSV lacked `travelDistanceKm` and `greenTravel`.)
#[tokio::test]
async fn a_placement_field_is_in_its_view_patch_csv_and_events_alike() {
    use casedesk::integration::outbox::Kanaal;
    let view = common::spec_properties("Placement");
    let view: Vec<&str> = view.iter().map(String::as_str).collect();
    for body in ["NewPlacement", "PlacementUpdate"] {
        for f in common::spec_properties(body) {
            assert!(
                view.contains(&f.as_str()),
                "{body}.{f} is not a field of Placement"
            );
        }
    }
    // a kenmerk is a view field, under its own name or one of these; `year`
    // is derived from the planned start (and is a CSV column too)
    for k in Kanaal::Placements.kenmerken() {
        let field = match *k {
            "programme" => "fundingProgramme",
            "year" => "plannedStart",
            k => k,
        };
        assert!(
            view.contains(&field),
            "kenmerk {k} is not a Placement field"
        );
    }

    let w = world(2).await;
    let pid = participant(&w, "Fields", "mbo_4").await;
    let p = placement(&w, &pid, true).await;
    let id = p["id"].as_str().unwrap();
    let samples = json!({
        "kind": "study",
        "plannedStart": "2027-03-01",
        "plannedEnd": "2027-05-31",
        "actualStart": "2027-03-02",
        "actualEnd": "2027-05-30",
        "fundingProgramme": "Erasmus+ KA122",
        "travelDistanceKm": 1850,
        "greenTravel": true,
    });
    let updated = common::patch_every_field(
        &w.app,
        &w.coordinator.token,
        &format!("/placements/{id}"),
        "PlacementUpdate",
        &samples,
        "placement.updated",
    )
    .await;

    let text = w
        .app
        .request(Method::GET, "/placement-exports", Some(&w.officer.token))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let row: Vec<String> = reader
        .records()
        .next()
        .unwrap()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    // bookkeeping of the record itself is not exported; the grant is its amount
    let not_exported = ["createdAt", "updatedAt", "version", "grant"];
    for f in &view {
        if not_exported.contains(f) {
            continue;
        }
        let i = header
            .iter()
            .position(|h| h == f)
            .unwrap_or_else(|| panic!("Placement.{f} is not a column of the CSV export"));
        let expected = match &updated[*f] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(row[i], expected, "CSV {f}");
    }
    // and the two derived columns
    let cell = |name: &str| &row[header.iter().position(|h| h == name).unwrap()];
    let amount = match &updated["grant"] {
        Value::Null => String::new(),
        g => g["amountCents"].to_string(),
    };
    assert_eq!(cell("grantAmountCents"), &amount);
    assert_eq!(
        cell("year"),
        &updated["plannedStart"].as_str().unwrap()[..4]
    );
    for h in &header {
        assert!(
            view.contains(&h.as_str()) || ["grantAmountCents", "year"].contains(&h.as_str()),
            "CSV column {h} is no Placement field"
        );
    }
}

/// A participant's PATCH: every field the spec lists is applied, shown and
/// named in the audit event (a field added to the body but not to the
/// handler's ladder fails).
#[tokio::test]
async fn every_participant_patch_field_is_applied_and_audited() {
    let w = world(2).await;
    let pid = participant(&w, "Ladder", "mbo_4").await;
    let samples = json!({
        "givenName": "Lotte",
        "familyName": "Jansen",
        "dateOfBirth": "2006-03-04",
        "email": "lotte.jansen@student.example.nl",
        "educationLevel": "mbo_3",
        "homeInstitutionId": w.partner,
        "fieldOfStudy": "Care",
        "nationality": "BE",
        "fewerOpportunities": true,
    });
    common::patch_every_field(
        &w.app,
        &w.officer.token,
        &format!("/participants/{pid}"),
        "ParticipantUpdate",
        &samples,
        "participant.updated",
    )
    .await;
}

/// An institution's and an agreement's PATCH: every field the spec lists is
/// applied, shown and named in the audit event.
#[tokio::test]
async fn every_institution_and_agreement_patch_field_is_applied_and_audited() {
    let w = world(2).await;
    let t = &w.coordinator.token;
    let samples = json!({
        "name": "Escola Profissional do Porto",
        "kind": "employer",
        "country": "ES",
        "city": "Vigo",
        "erasmusCode": "E  VIGO01",
        "sisterCity": false,
        "contactEmail": "mobility@escola.example.es",
    });
    common::patch_every_field(
        &w.app,
        t,
        &format!("/institutions/{}", w.partner),
        "InstitutionUpdate",
        &samples,
        "institution.updated",
    )
    .await;
    let samples = json!({
        "programme": "sister_city",
        "validFrom": "2026-02-01",
        "validUntil": "2029-12-31",
        "status": "terminated",
        "quotas": [{"direction": "incoming", "educationLevel": "mbo_2", "places": 3, "totalMonths": 9}],
    });
    common::patch_every_field(
        &w.app,
        t,
        &format!("/agreements/{}", w.agreement),
        "AgreementUpdate",
        &samples,
        "agreement.updated",
    )
    .await;
}

/// Placement references count up within a year and start again at 1 in
/// the next (`EX-<year>-<nnnn>`), from one counter per year.
#[tokio::test]
async fn placement_references_count_up_within_a_year_and_start_again_in_the_next() {
    use casedesk::clock::Clock;
    use chrono::Datelike;
    use common::bodies::{NewInstitution, NewParticipant, NewPlacement};
    let app = TestApp::spawn().await;
    let mut coordinator = app.account(&[Role::ExchangeCoordinator]).await;
    let home = app
        .create_id("/institutions", &coordinator.token, NewInstitution::home())
        .await;
    let partner = app
        .create_id(
            "/institutions",
            &coordinator.token,
            NewInstitution::partner(),
        )
        .await;
    let learner = app
        .create_id(
            "/participants",
            &coordinator.token,
            NewParticipant::named("Jesse", &home),
        )
        .await;
    let placement = NewPlacement::outgoing(&learner, &home, &partner);
    let mut references = Vec::new();
    for _ in 0..2 {
        let p = app
            .create("/placements", &coordinator.token, placement.clone())
            .await;
        references.push(p["reference"].as_str().unwrap().to_owned());
    }
    let year = app.clock.now().year();
    assert_eq!(
        references,
        [format!("EX-{year}-0001"), format!("EX-{year}-0002")]
    );
    app.clock.advance(chrono::TimeDelta::days(366));
    coordinator.token = app.sign_in(&coordinator).await;
    let next_year = app.clock.now().year();
    assert_eq!(next_year, year + 1);
    let p = app
        .create("/placements", &coordinator.token, placement)
        .await;
    assert_eq!(p["reference"], format!("EX-{next_year}-0001"));
}

/// PATCH is a JSON Merge Patch on the exchange side too: `null` clears an
/// institution's Erasmus code and contact address and a placement's
/// funding programme and distance, a field left out stays, and `null` for
/// a field that cannot be empty is a 400 naming every such field.
#[tokio::test]
async fn a_merge_patch_null_clears_an_institutions_code_and_a_placements_figures() {
    let w = world(4).await;
    let t = w.coordinator.token.as_str();
    let patch = |path: String, version: &Value, b: Value| {
        w.app
            .request(Method::PATCH, &path, Some(t))
            .header("if-match", format!("\"{version}\""))
            .json(&b)
            .send()
    };
    let path = format!("/institutions/{}", w.home);
    let home = body(w.app.get(&path, t).await, StatusCode::OK).await;
    let b = problem(
        patch(
            path.clone(),
            &home["version"],
            json!({"name": null, "sisterCity": null, "erasmusCode": null}),
        )
        .await
        .unwrap(),
        400,
    )
    .await;
    let named: Vec<&str> = b["invalidParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["name", "sisterCity"], "{b}");
    let home = body(
        patch(
            path.clone(),
            &home["version"],
            json!({"erasmusCode": null, "city": "Amstelveen"}),
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(home["erasmusCode"].is_null(), "{home}");
    assert_eq!(home["city"], "Amstelveen");
    assert_eq!(home["name"], "ROC Amsterdam", "left out, kept");
    let path = format!("/institutions/{}", w.partner);
    let partner = body(w.app.get(&path, t).await, StatusCode::OK).await;
    let partner = body(
        patch(path, &partner["version"], json!({"contactEmail": null}))
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(partner["contactEmail"].is_null(), "{partner}");

    let p = participant(&w, "Sanne", "mbo_4").await;
    let placement = placement(&w, &p, true).await;
    let path = format!("/placements/{}", placement["id"].as_str().unwrap());
    let placement = body(
        patch(
            path.clone(),
            &placement["version"],
            json!({"travelDistanceKm": 1850, "actualStart": "2026-11-02"}),
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(placement["travelDistanceKm"], 1850);
    let cleared = body(
        patch(
            path.clone(),
            &placement["version"],
            json!({"fundingProgramme": null, "travelDistanceKm": null, "actualStart": null}),
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    for f in ["fundingProgramme", "travelDistanceKm", "actualStart"] {
        assert!(cleared[f].is_null(), "{f} cleared: {cleared}");
    }
    assert_eq!(cleared["plannedStart"], "2027-02-01", "left out, kept");
    let stored = body(w.app.get(&path, t).await, StatusCode::OK).await;
    assert_eq!(stored, cleared, "the answer is what was stored");
}
